//! Approximate distinct counts: a HyperLogLog sketch.
//!
//! Precision 11: 2,048 one-byte registers (2 KiB per column). The relative standard error is
//! 1.04 / √2048 ≈ 2.3 %; below about 5,000 distinct values linear counting takes over and the
//! estimate is within a few values of the truth (exact for tiny cardinalities in practice).
//! Values are hashed with fixed functions (folded multiplications, XXH3-64 past 16 bytes): the same values always give the same
//! estimate, whatever the order or the machine.

const PRECISION: u32 = 11;
const REGISTERS: usize = 1 << PRECISION;

/// A HyperLogLog sketch of a set of byte strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DistinctSketch {
    /// `None` until the first value, so an all-null column costs nothing. A fixed-size array:
    /// the register index (the hash's top bits) needs no bounds check.
    registers: Option<Box<[u8; REGISTERS]>>,
}

impl DistinctSketch {
    pub(crate) fn new() -> DistinctSketch {
        DistinctSketch { registers: None }
    }

    /// Small enough to inline where values are observed: the hash of a long value is out of
    /// line.
    // Left to itself, the compiler keeps it a call, whose spills cost as much as the work.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn insert(&mut self, value: &[u8]) {
        self.insert_hash(hash_value(value));
    }

    /// Inserts a value by its [`hash_value`], for callers that needed the hash already.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn insert_hash(&mut self, hash: u64) {
        // The top PRECISION bits: always below REGISTERS.
        #[allow(clippy::cast_possible_truncation)]
        let index = (hash >> (64 - PRECISION)) as usize;
        // The remaining 53 bits; the sentinel bit bounds the rank at 54, so it fits a byte.
        let rest = (hash << PRECISION) | (1 << (PRECISION - 1));
        #[allow(clippy::cast_possible_truncation)]
        let rank = (rest.leading_zeros() + 1) as u8;
        let registers = self
            .registers
            .get_or_insert_with(|| Box::new([0; REGISTERS]));
        // Branchless: a store either way beats a mispredicted comparison.
        registers[index] = registers[index].max(rank);
    }

    /// The estimated number of distinct values inserted.
    pub(crate) fn estimate(&self) -> u64 {
        let Some(registers) = &self.registers else {
            return 0;
        };
        let m = REGISTERS as f64;
        let mut sum = 0.0;
        let mut zeros = 0u32;
        for &register in registers.iter() {
            sum += 1.0 / f64::from(1u32 << register.min(31));
            if register == 0 {
                zeros += 1;
            }
        }
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / f64::from(zeros)).ln()
        } else {
            raw
        };
        // Rounded, non-negative and far below 2^53: the cast is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rounded = estimate.round().max(1.0) as u64;
        rounded
    }
}

/// Multiplies as 128 bits and folds the halves: every input bit reaches every output bit.
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    // The two halves of the product, by design.
    #[allow(clippy::cast_possible_truncation)]
    let (low, high) = (product as u64, (product >> 64) as u64);
    low ^ high
}

/// Up to this many bytes, a value is read whole into the two words of [`short_words`].
pub(crate) const SHORT_VALUE_BYTES: usize = 16;

/// The two words a value of at most [`SHORT_VALUE_BYTES`] bytes is read as (two
/// overlapping reads, or the first, middle and last bytes of a shorter one); `None` for a
/// longer value. With the length, they are the value: the reads cover every byte, so two
/// values of one length with the same words are the same bytes.
#[inline]
pub(crate) fn short_words(value: &[u8]) -> Option<(u64, u64)> {
    let len = value.len();
    let word4 = |bytes: Option<&[u8; 4]>| u64::from(u32::from_le_bytes(*bytes.unwrap_or(&[0; 4])));
    let word8 = |bytes: Option<&[u8; 8]>| u64::from_le_bytes(*bytes.unwrap_or(&[0; 8]));
    match len {
        0 => Some((0, 0)),
        1..=3 => Some((
            u64::from(value[0]) << 16 | u64::from(value[len / 2]) << 8 | u64::from(value[len - 1]),
            0,
        )),
        4..=7 => Some((word4(value.first_chunk()), word4(value.last_chunk()))),
        8..=SHORT_VALUE_BYTES => Some((word8(value.first_chunk()), word8(value.last_chunk()))),
        _ => None,
    }
}

/// The hash of one value. Most values are short: up to 16 bytes they are read as two
/// (overlapping) words ([`short_words`]), the length mixed in, and folded twice, as wyhash
/// and foldhash do; longer ones go through XXH3-64. Fixed constants: the same value always
/// hashes the same.
#[inline]
pub(crate) fn hash_value(value: &[u8]) -> u64 {
    match short_words(value) {
        Some((a, b)) => hash_words(a, b, value.len()),
        None => hash_words(hash_long(value), 0, value.len()),
    }
}

/// The hash of a value from its [`short_words`] (or its XXH3-64 and 0, past 16 bytes) and
/// its length.
#[inline]
pub(crate) fn hash_words(a: u64, b: u64, len: usize) -> u64 {
    const K0: u64 = 0x243f_6a88_85a3_08d3;
    const K1: u64 = 0x1319_8a2e_0370_7344;
    const K2: u64 = 0xa409_3822_299f_31d0;
    folded_multiply(folded_multiply(a ^ K0, b ^ K1 ^ len as u64), K2)
}

/// XXH3-64 of a value longer than 16 bytes, out of line.
#[inline(never)]
fn hash_long(value: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(value)
}

/// Merging sketches built over parts of one input (parallel parsing).
impl DistinctSketch {
    /// Adds every value `other` saw: the register-wise maximum, so the merged sketch is the
    /// one a single pass over both parts would have built.
    pub(crate) fn merge(&mut self, other: &DistinctSketch) {
        let Some(theirs) = &other.registers else {
            return;
        };
        match &mut self.registers {
            None => self.registers = Some(theirs.clone()),
            Some(ours) => {
                for (mine, &their) in ours.iter_mut().zip(theirs.iter()) {
                    *mine = (*mine).max(their);
                }
            }
        }
    }

    /// Whether no value was inserted.
    pub(crate) fn is_empty(&self) -> bool {
        self.registers.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate_of(n: u64) -> u64 {
        let mut sketch = DistinctSketch::new();
        for i in 0..n {
            sketch.insert(format!("value-{i}").as_bytes());
            // Repeats do not count.
            sketch.insert(format!("value-{}", i / 2).as_bytes());
        }
        sketch.estimate()
    }

    #[test]
    fn small_cardinalities_are_exact_or_within_one() {
        assert_eq!(DistinctSketch::new().estimate(), 0);
        for n in [1, 2, 3, 10] {
            assert_eq!(estimate_of(n), n);
        }
        for n in [50, 100, 200] {
            assert!(estimate_of(n).abs_diff(n) <= 1 + n / 50, "n={n}");
        }
    }

    #[test]
    fn large_cardinalities_are_within_the_documented_error() {
        for n in [1_000u64, 20_000, 300_000] {
            let estimate = estimate_of(n) as f64;
            let error = (estimate - n as f64).abs() / n as f64;
            // Three standard errors.
            assert!(
                error < 3.0 * 0.023,
                "n={n} estimate={estimate} error={error}"
            );
        }
    }
}

#[cfg(test)]
mod hash_tests {
    use super::*;
    use proptest::strategy::Strategy;

    /// The hash as it was written before it was split into `short_words` and `hash_words`:
    /// the distinct estimates of every report depend on it.
    fn hash_as_before(value: &[u8]) -> u64 {
        const K0: u64 = 0x243f_6a88_85a3_08d3;
        const K1: u64 = 0x1319_8a2e_0370_7344;
        const K2: u64 = 0xa409_3822_299f_31d0;
        let len = value.len();
        let word4 =
            |bytes: Option<&[u8; 4]>| u64::from(u32::from_le_bytes(*bytes.unwrap_or(&[0; 4])));
        let word8 = |bytes: Option<&[u8; 8]>| u64::from_le_bytes(*bytes.unwrap_or(&[0; 8]));
        let (a, b) = match len {
            0 => (0, 0),
            1..=3 => (
                u64::from(value[0]) << 16
                    | u64::from(value[len / 2]) << 8
                    | u64::from(value[len - 1]),
                0,
            ),
            4..=7 => (word4(value.first_chunk()), word4(value.last_chunk())),
            8..=16 => (word8(value.first_chunk()), word8(value.last_chunk())),
            _ => (xxhash_rust::xxh3::xxh3_64(value), 0),
        };
        folded_multiply(folded_multiply(a ^ K0, b ^ K1 ^ len as u64), K2)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5_000))]
        #[test]
        fn the_hash_is_the_same_as_before(value in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            proptest::prop_assert_eq!(hash_value(&value), hash_as_before(&value));
        }

        /// Two values of one length have the same words only when they are the same bytes
        /// (a small alphabet, so that near-equal pairs are common).
        #[test]
        fn short_words_and_length_are_the_value(
            (a, b) in (0..=SHORT_VALUE_BYTES).prop_flat_map(|len| {
                let byte = proptest::sample::select(vec![b'a', b'b', 0u8, 0xff]);
                (
                    proptest::collection::vec(byte.clone(), len),
                    proptest::collection::vec(byte, len),
                )
            })
        ) {
            let (a, b): (Vec<u8>, Vec<u8>) = (a, b);
            proptest::prop_assert_eq!(short_words(&a) == short_words(&b), a == b);
        }
    }

    #[test]
    fn only_values_up_to_sixteen_bytes_are_short() {
        assert!(short_words(&[7; SHORT_VALUE_BYTES]).is_some());
        assert!(short_words(&[7; SHORT_VALUE_BYTES + 1]).is_none());
        assert_eq!(short_words(b""), Some((0, 0)));
    }
}

#[cfg(test)]
mod merge_tests {
    use super::DistinctSketch;

    #[test]
    fn merging_two_halves_gives_the_sketch_of_the_whole() {
        let mut whole = DistinctSketch::new();
        let mut first = DistinctSketch::new();
        let mut second = DistinctSketch::new();
        for i in 0..5_000 {
            let value = format!("v{}", i % 3_000);
            whole.insert(value.as_bytes());
            if i < 2_000 {
                first.insert(value.as_bytes());
            } else {
                second.insert(value.as_bytes());
            }
        }
        let mut empty = DistinctSketch::new();
        empty.merge(&first);
        empty.merge(&second);
        first.merge(&second);
        assert_eq!(first, whole);
        assert_eq!(empty, whole);
        assert!(!whole.is_empty() && DistinctSketch::new().is_empty());
    }
}
