//! Column chunks encoded by hand: a row group's buffered values of one column as the bytes of a
//! Parquet column chunk (an optional dictionary page, then data pages) and the chunk's
//! metadata, ready for [`SerializedRowGroupWriter::append_column`]. The `parquet` crate's
//! column writer spends most of its time on per-value work (a dictionary lookup, min/max,
//! levels, a value at a time) that whole slices make cheap; the crate still writes the page
//! headers ([`SerializedPageWriter`]), the file structure and the footer.
//!
//! What a chunk holds, by physical type:
//!
//! | values                              | encoding                                          |
//! |-------------------------------------|---------------------------------------------------|
//! | BOOLEAN                             | PLAIN (bit-packed)                                 |
//! | INT64 (int64, timestamp, decimal ≤ 18) | DELTA_BINARY_PACKED, no dictionary             |
//! | INT32, DOUBLE, FIXED_LEN_BYTE_ARRAY, BYTE_ARRAY | a PLAIN dictionary page and RLE_DICTIONARY data pages when the dictionary fits [`DICTIONARY_LIMIT`] and is smaller than PLAIN; PLAIN otherwise |
//!
//! Data pages are v1, definition levels RLE/bit-packed hybrid (optional columns only), each
//! page zstd-compressed; a page ends after [`PAGE_ROWS`] rows or once its values take
//! [`PAGE_BYTES`] (PLAIN), whichever comes first. Statistics (min, max, null count; NaN count
//! for doubles) go in the chunk's metadata and, per page, in the column index; the offset
//! index locates the pages. Orders are Parquet's: signed for INT32/INT64 and decimals
//! (FIXED_LEN_BYTE_ARRAY as big-endian two's complement), unsigned bytes for strings,
//! false < true, doubles without NaN with a zero minimum written -0.0 and a zero maximum
//! +0.0. String bounds longer than [`STATISTICS_LENGTH`] bytes are cut (the maximum's last
//! character incremented), as the crate does.
//!
//! [`SerializedRowGroupWriter::append_column`]: parquet::file::writer::SerializedRowGroupWriter::append_column

// Counts, sizes and offsets here are those of one row group and one file (far inside the i32
// and i64 of Parquet's metadata; a page's size is checked where it is made); hashes, bit
// patterns and two's complement bytes are reinterpreted on purpose.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::cmp::Ordering;
use std::ops::Range;

use bytes::Bytes;
use parquet::basic::{Compression, Encoding, PageType, Type as PhysicalType, ZstdLevel};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::{ByteArray, FixedLenByteArray};
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnIndexBuilder, OffsetIndexBuilder, PageEncodingStats,
};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// A data page ends after this many rows (the crate's default too).
pub(crate) const PAGE_ROWS: usize = 20_000;
/// A data page ends once its PLAIN values take this many bytes (the crate's default page size).
pub(crate) const PAGE_BYTES: usize = 1 << 20;
/// A dictionary is used only while its page takes at most this many bytes.
pub(crate) const DICTIONARY_LIMIT: usize = 1 << 20;
/// String bounds in statistics and the column index are cut to this many bytes.
pub(crate) const STATISTICS_LENGTH: usize = 64;

/// One column chunk's non-null values, in their physical type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ChunkValues<'a> {
    Boolean(&'a [bool]),
    Int32(&'a [i32]),
    /// INT32 DELTA_BINARY_PACKED, no dictionary (decimals of at most 9 digits).
    Int32Delta(&'a [i32]),
    /// DELTA_BINARY_PACKED, no dictionary.
    Int64(&'a [i64]),
    Double(&'a [f64]),
    /// Big-endian two's complement decimals of `width` bytes each.
    Fixed {
        width: usize,
        bytes: &'a [u8],
    },
    /// Strings end to end; `ends[i]` is where the i-th ends.
    Bytes {
        data: &'a [u8],
        ends: &'a [usize],
    },
}

impl<'a> ChunkValues<'a> {
    fn len(&self) -> usize {
        match *self {
            ChunkValues::Boolean(v) => v.len(),
            ChunkValues::Int32(v) | ChunkValues::Int32Delta(v) => v.len(),
            ChunkValues::Int64(v) => v.len(),
            ChunkValues::Double(v) => v.len(),
            ChunkValues::Fixed { width, bytes } => bytes.len() / width.max(1),
            ChunkValues::Bytes { ends, .. } => ends.len(),
        }
    }

    /// Bytes of values `range` PLAIN-encoded.
    fn plain_size(&self, range: Range<usize>) -> usize {
        let count = range.len();
        match *self {
            ChunkValues::Boolean(_) => count.div_ceil(8),
            ChunkValues::Int32(_) | ChunkValues::Int32Delta(_) => count * 4,
            ChunkValues::Int64(_) | ChunkValues::Double(_) => count * 8,
            ChunkValues::Fixed { width, .. } => count * width,
            ChunkValues::Bytes { ends, .. } => {
                if count == 0 {
                    return 0;
                }
                let start = if range.start == 0 {
                    0
                } else {
                    ends[range.start - 1]
                };
                ends[range.end - 1] - start + 4 * count
            }
        }
    }

    /// The i-th string or fixed-width value.
    fn bytes_at(self, index: usize) -> &'a [u8] {
        match self {
            ChunkValues::Fixed { width, bytes } => &bytes[index * width..(index + 1) * width],
            ChunkValues::Bytes { data, ends } => {
                let start = if index == 0 { 0 } else { ends[index - 1] };
                &data[start..ends[index]]
            }
            _ => &[],
        }
    }
}

/// A bound (min or max) of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound<'a> {
    Boolean(bool),
    Int32(i32),
    Int64(i64),
    Double(f64),
    /// Compared as unsigned bytes.
    Bytes(&'a [u8]),
    /// Compared as big-endian two's complement.
    Decimal(&'a [u8]),
}

impl Bound<'_> {
    fn less(&self, other: &Self) -> bool {
        match (self, other) {
            (Bound::Boolean(a), Bound::Boolean(b)) => a < b,
            (Bound::Int32(a), Bound::Int32(b)) => a < b,
            (Bound::Int64(a), Bound::Int64(b)) => a < b,
            (Bound::Double(a), Bound::Double(b)) => a < b,
            (Bound::Bytes(a), Bound::Bytes(b)) => a < b,
            (Bound::Decimal(a), Bound::Decimal(b)) => compare_decimals(a, b) == Ordering::Less,
            _ => false,
        }
    }

    /// PLAIN bytes of the bound, as the column index holds it; strings cut to
    /// [`STATISTICS_LENGTH`] (the flag: whether the bytes are the exact value).
    fn plain(&self, is_max: bool) -> (Vec<u8>, bool) {
        match *self {
            Bound::Boolean(b) => (vec![u8::from(b)], true),
            Bound::Int32(v) => (v.to_le_bytes().to_vec(), true),
            Bound::Int64(v) => (v.to_le_bytes().to_vec(), true),
            Bound::Double(v) => (v.to_le_bytes().to_vec(), true),
            Bound::Decimal(v) => (v.to_vec(), true),
            Bound::Bytes(v) => cut_string(v, is_max),
        }
    }
}

/// A string bound cut to at most [`STATISTICS_LENGTH`] bytes (a character more for a max
/// whose last character grows), still a bound: a min is cut to a prefix, a max's last
/// character is incremented. The flag: whether the bytes are the value itself.
fn cut_string(value: &[u8], is_max: bool) -> (Vec<u8>, bool) {
    let Ok(text) = std::str::from_utf8(value) else {
        return (value.to_vec(), true);
    };
    if text.len() <= STATISTICS_LENGTH {
        return (value.to_vec(), true);
    }
    let split = (1..=STATISTICS_LENGTH)
        .rev()
        .find(|&at| text.is_char_boundary(at))
        .unwrap_or(0);
    let prefix = &text[..split];
    if !is_max {
        return (prefix.as_bytes().to_vec(), false);
    }
    for (at, c) in prefix.char_indices().rev() {
        if let Some(next) = char::from_u32(u32::from(c) + 1)
            && next.len_utf8() == c.len_utf8()
        {
            let mut cut = prefix.as_bytes()[..at + c.len_utf8()].to_vec();
            next.encode_utf8(&mut cut[at..]);
            return (cut, false);
        }
    }
    (value.to_vec(), true)
}

/// Big-endian two's complement values of the same width, compared as numbers.
fn compare_decimals(a: &[u8], b: &[u8]) -> Ordering {
    match (a.first(), b.first()) {
        (Some(&x), Some(&y)) if x != y => (x as i8).cmp(&(y as i8)),
        _ => a.cmp(b),
    }
}

/// Min, max (`None` without a value that orders) and nulls of some rows.
#[derive(Debug, Clone, Copy)]
struct Summary<'a> {
    bounds: Option<(Bound<'a>, Bound<'a>)>,
    nulls: u64,
    /// NaNs, for doubles.
    nans: Option<u64>,
}

impl<'a> Summary<'a> {
    fn merge(&mut self, page: &Summary<'a>) {
        self.nulls += page.nulls;
        self.nans = match (self.nans, page.nans) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.bounds = match (self.bounds, page.bounds) {
            (Some((min, max)), Some((page_min, page_max))) => Some((
                if page_min.less(&min) { page_min } else { min },
                if max.less(&page_max) { page_max } else { max },
            )),
            (a, b) => a.or(b),
        };
    }
}

/// Min and max of numbers, in one pass the compiler vectorizes.
fn min_max<T: Copy + PartialOrd>(values: &[T]) -> Option<(T, T)> {
    let (&first, rest) = values.split_first()?;
    Some(rest.iter().fold((first, first), |(min, max), &v| {
        (if v < min { v } else { min }, if v > max { v } else { max })
    }))
}

/// Min and max of doubles, NaN left out; a zero minimum is -0.0 and a zero maximum +0.0.
fn double_min_max(values: &[f64]) -> (Option<(f64, f64)>, u64) {
    let mut nans = 0u64;
    let mut bounds: Option<(f64, f64)> = None;
    for &v in values {
        if v.is_nan() {
            nans += 1;
            continue;
        }
        bounds = Some(match bounds {
            None => (v, v),
            Some((min, max)) => (min.min(v), max.max(v)),
        });
    }
    let bounds = bounds.map(|(min, max)| {
        (
            if min == 0.0 { -0.0 } else { min },
            if max == 0.0 { 0.0 } else { max },
        )
    });
    (bounds, nans)
}

/// Fibonacci hashing's multiplier (2^64 / φ): a key's slot is the product's top bits.
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

fn hash_number(bits: u64) -> u64 {
    (bits ^ (bits >> 29)).wrapping_mul(MULTIPLIER)
}

#[inline]
/// The bytes of a string of at most 16 as two words (overlapping, or zero-padded under 8):
/// with its length, they are the string.
fn short_words(bytes: &[u8]) -> (u64, u64) {
    // First and last chunks: reads without bounds checks.
    let word = |chunk: Option<&[u8; 8]>| u64::from_le_bytes(*chunk.unwrap_or(&[0; 8]));
    let half = |chunk: Option<&[u8; 4]>| u64::from(u32::from_le_bytes(*chunk.unwrap_or(&[0; 4])));
    match bytes.len() {
        8..=16 => (word(bytes.first_chunk()), word(bytes.last_chunk())),
        4..=7 => (half(bytes.first_chunk()), half(bytes.last_chunk())),
        1..=3 => (
            u64::from(bytes[0]) | u64::from(bytes[bytes.len() / 2]) << 8,
            u64::from(bytes[bytes.len() - 1]),
        ),
        _ => (0, 0),
    }
}

/// A hash of `bytes`, whose [`short_words`] are `words`: a short one's words, a longer one a
/// word at a time, the last one overlapping.
#[inline]
fn hash_with_words(bytes: &[u8], (first, last): (u64, u64)) -> u64 {
    let length = bytes.len() as u64;
    if bytes.len() <= 16 {
        let hash = (length ^ first).wrapping_mul(MULTIPLIER);
        return (hash.rotate_left(23) ^ last).wrapping_mul(MULTIPLIER);
    }
    let mut hash = length;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
        hash = (hash.rotate_left(23) ^ word).wrapping_mul(MULTIPLIER);
    }
    let last = u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().unwrap_or_default());
    (hash.rotate_left(23) ^ last).wrapping_mul(MULTIPLIER)
}

/// Bytes as a dictionary key, with their [`short_words`] read once: a short key (at most 16
/// bytes) compares by its length and words, a longer one by its bytes.
#[derive(Clone, Copy)]
struct BytesKey<'a> {
    bytes: &'a [u8],
    words: (u64, u64),
}

impl<'a> BytesKey<'a> {
    #[inline]
    fn new(bytes: &'a [u8]) -> BytesKey<'a> {
        BytesKey {
            bytes,
            words: short_words(bytes),
        }
    }

    /// The key's hash ([`hash_with_words`]).
    #[inline]
    fn hash(self) -> u64 {
        hash_with_words(self.bytes, self.words)
    }
}

impl PartialEq for BytesKey<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.bytes.len() == other.bytes.len()
            && if self.bytes.len() <= 16 {
                self.words == other.words
            } else {
                self.bytes == other.bytes
            }
    }
}

impl Eq for BytesKey<'_> {}

/// Probes before a key gives up looking for its slot: keys that collide that much (crafted
/// ones) make the chunk PLAIN rather than slow.
const PROBES: usize = 64;

/// A column chunk's dictionary: the distinct values (by index into the chunk's values, in
/// order of first appearance) and each value's entry.
struct Dictionary {
    /// The value index of each entry's first appearance.
    entries: Vec<u32>,
    /// Each value's entry.
    indices: Vec<u32>,
}

impl Dictionary {
    /// The dictionary of `values`, or `None` when its page would pass [`DICTIONARY_LIMIT`]
    /// or it would not be smaller than the values PLAIN.
    fn build(values: &ChunkValues<'_>) -> Option<Dictionary> {
        let count = values.len();
        let mut dictionary = Dictionary {
            entries: Vec::new(),
            indices: Vec::with_capacity(count),
        };
        let mut size = 0usize;
        match *values {
            ChunkValues::Int32(numbers) => match min_max(numbers) {
                // A narrow range (days, small counts): each value's entry in a table.
                Some((min, max)) if max.abs_diff(min) < 1 << 16 => {
                    let mut table = vec![u32::MAX; max.abs_diff(min) as usize + 1];
                    for (position, &v) in numbers.iter().enumerate() {
                        let slot = &mut table[v.abs_diff(min) as usize];
                        if *slot == u32::MAX {
                            *slot = u32::try_from(dictionary.entries.len()).ok()?;
                            dictionary.entries.push(u32::try_from(position).ok()?);
                        }
                        dictionary.indices.push(*slot);
                    }
                    size = dictionary.entries.len() * 4;
                }
                _ => {
                    let keys = numbers.iter().map(|&v| u64::from(v as u32));
                    dictionary.index(keys, hash_number, |_| 4, &mut size)?;
                }
            },
            ChunkValues::Double(numbers) => {
                let keys = numbers.iter().map(|v| v.to_bits());
                dictionary.index(keys, hash_number, |_| 8, &mut size)?;
            }
            ChunkValues::Fixed { width, bytes } => {
                let keys = bytes.chunks_exact(width.max(1)).map(BytesKey::new);
                dictionary.index(keys, BytesKey::hash, |_| width, &mut size)?;
            }
            ChunkValues::Bytes { data, ends } => {
                let keys = ends.iter().scan(0, |start, &end| {
                    let key = data.get(*start..end).map(BytesKey::new);
                    *start = end;
                    key
                });
                dictionary.index(keys, BytesKey::hash, |k| k.bytes.len() + 4, &mut size)?;
            }
            ChunkValues::Boolean(_) | ChunkValues::Int32Delta(_) | ChunkValues::Int64(_) => {
                return None;
            }
        }
        if dictionary.indices.len() != count {
            return None;
        }
        let width = index_width(dictionary.entries.len());
        let encoded = size + (count * width as usize).div_ceil(8);
        (encoded < values.plain_size(0..count)).then_some(dictionary)
    }

    /// Indexes `keys` (an open-addressing table of entries), adding `key_size` bytes to
    /// `size` for each new entry; `None` past the limit, or for keys colliding [`PROBES`]
    /// times.
    fn index<K: Copy + Eq>(
        &mut self,
        keys: impl Iterator<Item = K>,
        hash: impl Fn(K) -> u64,
        key_size: impl Fn(K) -> usize,
        size: &mut usize,
    ) -> Option<()> {
        const EMPTY: u32 = u32::MAX;
        let mut bits = 10u32;
        let mut slots = vec![EMPTY; 1 << bits];
        // Each entry's hash and key.
        let mut known: Vec<(u64, K)> = Vec::new();
        for (position, key) in keys.enumerate() {
            let hashed = hash(key);
            let mask = slots.len() - 1;
            let mut slot = (hashed >> (64 - bits)) as usize;
            let mut probes = 0;
            let entry = loop {
                let entry = slots[slot];
                if entry == EMPTY {
                    let entry = u32::try_from(known.len()).ok()?;
                    slots[slot] = entry;
                    known.push((hashed, key));
                    self.entries.push(u32::try_from(position).ok()?);
                    *size += key_size(key);
                    if *size > DICTIONARY_LIMIT {
                        return None;
                    }
                    if known.len() * 2 > slots.len() {
                        bits += 1;
                        slots = vec![EMPTY; 1 << bits];
                        let mask = slots.len() - 1;
                        for (index, &(hashed, _)) in known.iter().enumerate() {
                            let mut slot = (hashed >> (64 - bits)) as usize;
                            while slots[slot] != EMPTY {
                                slot = (slot + 1) & mask;
                            }
                            slots[slot] = index as u32;
                        }
                    }
                    break entry;
                }
                let (known_hash, known_key) = known[entry as usize];
                if known_hash == hashed && known_key == key {
                    break entry;
                }
                probes += 1;
                if probes > PROBES {
                    return None;
                }
                slot = (slot + 1) & mask;
            };
            self.indices.push(entry);
        }
        Some(())
    }
}

/// Bits of a dictionary index for `entries` entries (at least 1).
fn index_width(entries: usize) -> u32 {
    (usize::BITS - entries.saturating_sub(1).leading_zeros()).max(1)
}

/// Encodes column chunks; keeps its compressor and buffers from one chunk to the next.
pub(crate) struct ChunkEncoder {
    compressor: zstd::bulk::Compressor<'static>,
    level: ZstdLevel,
    /// A page's uncompressed bytes.
    page: Vec<u8>,
}

impl std::fmt::Debug for ChunkEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkEncoder")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl ChunkEncoder {
    /// An encoder compressing at zstd `level`.
    pub(crate) fn new(level: ZstdLevel) -> Result<ChunkEncoder, ParquetError> {
        let compressor = zstd::bulk::Compressor::new(level.compression_level())
            .map_err(|e| ParquetError::General(format!("zstd: {e}")))?;
        Ok(ChunkEncoder {
            compressor,
            level,
            page: Vec::new(),
        })
    }

    /// The zstd level it compresses at.
    pub(crate) fn level(&self) -> ZstdLevel {
        self.level
    }

    /// The chunk of `column` holding `values` (the non-null ones) and, for an optional
    /// column, the rows' definition levels (1 a value, 0 a null): its bytes, and what
    /// [`append_column`](parquet::file::writer::SerializedRowGroupWriter::append_column)
    /// needs to place them. The bytes are written into `buffer`, emptied first (the buffer
    /// of a chunk written before: its room is already in memory).
    pub(crate) fn encode(
        &mut self,
        column: ColumnDescPtr,
        levels: Option<&[u8]>,
        values: ChunkValues<'_>,
        mut buffer: Vec<u8>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let rows = levels.map_or(values.len(), <[u8]>::len);
        let defined = levels.map_or(rows, defined_count);
        if defined != values.len() {
            return Err(ParquetError::General(format!(
                "{} values for {defined} defined levels",
                values.len()
            )));
        }
        let dictionary = Dictionary::build(&values);
        let mut chunk = Chunk::new(column);
        buffer.clear();
        let mut sink = TrackedWrite::new(buffer);
        {
            let mut pages = SerializedPageWriter::new(&mut sink);
            if let Some(dictionary) = &dictionary {
                self.write_dictionary_page(&mut pages, &mut chunk, &values, dictionary)?;
            }
            let ranks = dictionary.as_ref().map(|d| Ranks::new(&values, d));
            for (rows, range) in page_ranges(levels, rows, &values, dictionary.is_some()) {
                self.page.clear();
                if let Some(levels) = levels {
                    let start = self.page.len();
                    self.page.extend_from_slice(&[0; 4]);
                    write_hybrid(
                        &levels[rows.clone()],
                        1,
                        |l| u64::from(l == 1),
                        &mut self.page,
                    );
                    let length = u32::try_from(self.page.len() - start - 4)
                        .map_err(|_| ParquetError::General("a page too large".into()))?;
                    self.page[start..start + 4].copy_from_slice(&length.to_le_bytes());
                }
                let encoding = match &dictionary {
                    Some(dictionary) => {
                        let indices = &dictionary.indices[range.clone()];
                        let width = index_width(dictionary.entries.len());
                        self.page.push(width as u8);
                        write_hybrid(indices, width, u64::from, &mut self.page);
                        Encoding::RLE_DICTIONARY
                    }
                    None => write_plain_or_delta(&values, range.clone(), &mut self.page),
                };
                let ranked = match (&dictionary, &ranks) {
                    (Some(dictionary), Some(Some(ranks))) => {
                        Some((&dictionary.indices[range.clone()], ranks))
                    }
                    _ => None,
                };
                let mut summary = summarize(values, range.clone(), ranked);
                summary.nulls = (rows.len() - range.len()) as u64;
                let page = self.compress()?;
                let page = Page::DataPage {
                    buf: page,
                    num_values: u32::try_from(rows.len())
                        .map_err(|_| ParquetError::General("a page too large".into()))?,
                    encoding,
                    def_level_encoding: Encoding::RLE,
                    rep_level_encoding: Encoding::RLE,
                    statistics: None,
                };
                let size = self.page.len();
                let spec = pages.write_page(CompressedPage::new(page, size))?;
                chunk.data_page(&spec, encoding, rows.len(), range.is_empty(), &summary);
            }
            pages.close()?;
        }
        let bytes = Bytes::from(sink.into_inner()?);
        let close = chunk.finish(values, rows, self.level)?;
        Ok((bytes, close))
    }

    fn write_dictionary_page<W: std::io::Write + Send>(
        &mut self,
        pages: &mut SerializedPageWriter<'_, W>,
        chunk: &mut Chunk,
        values: &ChunkValues<'_>,
        dictionary: &Dictionary,
    ) -> Result<(), ParquetError> {
        self.page.clear();
        for &entry in &dictionary.entries {
            let at = entry as usize;
            write_plain_or_delta(values, at..at + 1, &mut self.page);
        }
        let page = Page::DictionaryPage {
            buf: self.compress()?,
            num_values: u32::try_from(dictionary.entries.len())
                .map_err(|_| ParquetError::General("a dictionary too large".into()))?,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        let size = self.page.len();
        let spec = pages.write_page(CompressedPage::new(page, size))?;
        chunk.dictionary_page(&spec);
        Ok(())
    }

    /// The page buffer, zstd-compressed.
    fn compress(&mut self) -> Result<Bytes, ParquetError> {
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(self.page.len()));
        self.compressor
            .compress_to_buffer(&self.page, &mut out)
            .map_err(|e| ParquetError::General(format!("zstd: {e}")))?;
        Ok(Bytes::from(out))
    }
}

/// The values among rows of definition `levels`: the levels of 1. Counted in 16-bit lanes
/// (parts of at most `u16::MAX` levels), which the compiler adds many at a time; counted in
/// `usize`, 2 at a time, these passes cost 8 M instructions on 20 MB of the bench rows.
pub(crate) fn defined_count(levels: &[u8]) -> usize {
    levels
        .chunks(usize::from(u16::MAX))
        .map(|part| usize::from(part.iter().map(|&l| u16::from(l == 1)).sum::<u16>()))
        .sum()
}

/// Where each data page's rows and values are: at most [`PAGE_ROWS`] rows, and at most
/// [`PAGE_BYTES`] of PLAIN values (a value at least) unless dictionary-encoded.
fn page_ranges(
    levels: Option<&[u8]>,
    rows: usize,
    values: &ChunkValues<'_>,
    dictionary: bool,
) -> Vec<(Range<usize>, Range<usize>)> {
    let mut pages = Vec::new();
    let (mut row, mut value) = (0, 0);
    while row < rows {
        let mut end_row = rows.min(row + PAGE_ROWS);
        let defined = |rows: Range<usize>| match levels {
            Some(levels) => defined_count(&levels[rows]),
            None => rows.len(),
        };
        let mut end_value = value + defined(row..end_row);
        if !dictionary && values.plain_size(value..end_value) > PAGE_BYTES {
            // The most values that fit (one at least), then the rows up to the last of them.
            let (mut fits, mut over) = (value + 1, end_value);
            while fits + 1 < over {
                let middle = fits + (over - fits) / 2;
                if values.plain_size(value..middle) <= PAGE_BYTES {
                    fits = middle;
                } else {
                    over = middle;
                }
            }
            if values.plain_size(value..over) <= PAGE_BYTES {
                fits = over;
            }
            end_value = fits;
            end_row = match levels {
                None => row + (fits - value),
                Some(levels) => {
                    let mut seen = 0;
                    let mut at = row;
                    while seen < fits - value {
                        seen += usize::from(levels[at] == 1);
                        at += 1;
                    }
                    at
                }
            };
        }
        pages.push((row..end_row, value..end_value));
        (row, value) = (end_row, end_value);
    }
    pages
}

/// Values `range` PLAIN (DELTA_BINARY_PACKED for INT64) at the end of `out`; returns the
/// encoding.
fn write_plain_or_delta(
    values: &ChunkValues<'_>,
    range: Range<usize>,
    out: &mut Vec<u8>,
) -> Encoding {
    match *values {
        ChunkValues::Boolean(flags) => {
            let flags = &flags[range];
            out.extend(flags.chunks(8).map(|eight| {
                eight
                    .iter()
                    .enumerate()
                    .fold(0u8, |byte, (bit, &flag)| byte | (u8::from(flag) << bit))
            }));
        }
        ChunkValues::Int32(numbers) => {
            out.extend(numbers[range].iter().flat_map(|v| v.to_le_bytes()));
        }
        ChunkValues::Int32Delta(numbers) => {
            write_delta(&numbers[range], out);
            return Encoding::DELTA_BINARY_PACKED;
        }
        ChunkValues::Int64(numbers) => {
            write_delta(&numbers[range], out);
            return Encoding::DELTA_BINARY_PACKED;
        }
        ChunkValues::Double(numbers) => {
            out.extend(numbers[range].iter().flat_map(|v| v.to_le_bytes()));
        }
        ChunkValues::Fixed { width, bytes } => {
            out.extend_from_slice(&bytes[range.start * width..range.end * width]);
        }
        ChunkValues::Bytes { .. } => {
            for index in range {
                let string = values.bytes_at(index);
                out.extend_from_slice(
                    &u32::try_from(string.len())
                        .unwrap_or(u32::MAX)
                        .to_le_bytes(),
                );
                out.extend_from_slice(string);
            }
        }
    }
    Encoding::PLAIN
}

/// The order of a dictionary's entries, for a page's min and max from its indices.
struct Ranks<'a> {
    /// Each entry's place in the sorted entries.
    rank: Vec<u32>,
    /// The entries' bounds, sorted.
    sorted: Vec<Bound<'a>>,
}

impl<'a> Ranks<'a> {
    fn new(values: &ChunkValues<'a>, dictionary: &Dictionary) -> Option<Ranks<'a>> {
        let values = *values;
        let decimal = match values {
            ChunkValues::Fixed { .. } => true,
            ChunkValues::Bytes { .. } => false,
            _ => return None,
        };
        let mut sorted: Vec<Bound<'a>> = dictionary
            .entries
            .iter()
            .map(|&entry| {
                let bytes = values.bytes_at(entry as usize);
                if decimal {
                    Bound::Decimal(bytes)
                } else {
                    Bound::Bytes(bytes)
                }
            })
            .collect();
        let mut order: Vec<u32> = (0..u32::try_from(sorted.len()).ok()?).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (&sorted[a as usize], &sorted[b as usize]);
            if a.less(b) {
                Ordering::Less
            } else if b.less(a) {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        });
        let mut rank = vec![0u32; order.len()];
        for (place, &entry) in order.iter().enumerate() {
            rank[entry as usize] = u32::try_from(place).ok()?;
        }
        sorted = order.iter().map(|&e| sorted[e as usize]).collect();
        Some(Ranks { rank, sorted })
    }
}

/// Min and max of values `range` (from the dictionary's order when there is one).
fn summarize<'a>(
    values: ChunkValues<'a>,
    range: Range<usize>,
    ranked: Option<(&[u32], &Ranks<'a>)>,
) -> Summary<'a> {
    let mut summary = Summary {
        bounds: None,
        nulls: 0,
        nans: None,
    };
    summary.bounds = match values {
        ChunkValues::Boolean(flags) => {
            let flags = &flags[range];
            (!flags.is_empty()).then(|| {
                (
                    Bound::Boolean(flags.iter().all(|&f| f)),
                    Bound::Boolean(flags.iter().any(|&f| f)),
                )
            })
        }
        ChunkValues::Int32(numbers) | ChunkValues::Int32Delta(numbers) => {
            min_max(&numbers[range]).map(|(a, b)| (Bound::Int32(a), Bound::Int32(b)))
        }
        ChunkValues::Int64(numbers) => {
            min_max(&numbers[range]).map(|(a, b)| (Bound::Int64(a), Bound::Int64(b)))
        }
        ChunkValues::Double(numbers) => {
            let (bounds, nans) = double_min_max(&numbers[range]);
            summary.nans = Some(nans);
            bounds.map(|(a, b)| (Bound::Double(a), Bound::Double(b)))
        }
        ChunkValues::Fixed { .. } | ChunkValues::Bytes { .. } => match ranked {
            Some((indices, ranks)) => {
                let mut places = indices.iter().map(|&i| ranks.rank[i as usize]);
                places.next().map(|first| {
                    let (min, max) =
                        places.fold((first, first), |(min, max), p| (min.min(p), max.max(p)));
                    (ranks.sorted[min as usize], ranks.sorted[max as usize])
                })
            }
            None => {
                let decimal = matches!(values, ChunkValues::Fixed { .. });
                let mut bounds: Option<(Bound<'a>, Bound<'a>)> = None;
                for index in range {
                    let bytes = values.bytes_at(index);
                    let v = if decimal {
                        Bound::Decimal(bytes)
                    } else {
                        Bound::Bytes(bytes)
                    };
                    bounds = Some(match bounds {
                        None => (v, v),
                        Some((min, max)) => (
                            if v.less(&min) { v } else { min },
                            if max.less(&v) { v } else { max },
                        ),
                    });
                }
                bounds
            }
        },
    };
    summary
}

/// A column chunk's metadata, gathered page by page.
struct Chunk<'a> {
    column: ColumnDescPtr,
    encodings: Vec<Encoding>,
    encoding_stats: Vec<PageEncodingStats>,
    dictionary_offset: Option<i64>,
    data_offset: Option<i64>,
    compressed: u64,
    uncompressed: u64,
    offsets: OffsetIndexBuilder,
    index: ColumnIndexBuilder,
    summary: Summary<'a>,
}

impl<'a> Chunk<'a> {
    fn new(column: ColumnDescPtr) -> Chunk<'a> {
        let index = ColumnIndexBuilder::new(column.physical_type());
        Chunk {
            column,
            encodings: Vec::new(),
            encoding_stats: Vec::new(),
            dictionary_offset: None,
            data_offset: None,
            compressed: 0,
            uncompressed: 0,
            offsets: OffsetIndexBuilder::new(),
            index,
            summary: Summary {
                bounds: None,
                nulls: 0,
                nans: None,
            },
        }
    }

    fn page(&mut self, spec: &PageWriteSpec, page_type: PageType, encoding: Encoding) {
        self.compressed += spec.compressed_size as u64;
        self.uncompressed += spec.uncompressed_size as u64;
        if !self.encodings.contains(&encoding) {
            self.encodings.push(encoding);
        }
        match self.encoding_stats.last_mut() {
            Some(last) if last.page_type == page_type && last.encoding == encoding => {
                last.count += 1;
            }
            _ => self.encoding_stats.push(PageEncodingStats {
                page_type,
                encoding,
                count: 1,
            }),
        }
    }

    fn dictionary_page(&mut self, spec: &PageWriteSpec) {
        self.dictionary_offset = Some(spec.offset as i64);
        self.page(spec, PageType::DICTIONARY_PAGE, Encoding::PLAIN);
    }

    fn data_page(
        &mut self,
        spec: &PageWriteSpec,
        encoding: Encoding,
        rows: usize,
        all_null: bool,
        summary: &Summary<'a>,
    ) {
        self.data_offset.get_or_insert(spec.offset as i64);
        self.page(spec, PageType::DATA_PAGE, encoding);
        if !self.encodings.contains(&Encoding::RLE) {
            self.encodings.push(Encoding::RLE);
        }
        self.offsets
            .append_offset_and_size(spec.offset as i64, spec.compressed_size as i32);
        self.offsets.append_row_count(rows as i64);
        let nulls = summary.nulls as i64;
        let nans = summary.nans.map(|n| n as i64);
        match summary.bounds {
            Some((min, max)) => {
                self.index
                    .append(false, min.plain(false).0, max.plain(true).0, nulls, nans);
            }
            None if all_null => self.index.append(true, Vec::new(), Vec::new(), nulls, nans),
            // Values and no bound (NaNs only): no column index, as the crate does.
            None => self.index.to_invalid(),
        }
        self.summary.merge(summary);
    }

    fn finish(
        self,
        values: ChunkValues<'_>,
        rows: usize,
        level: ZstdLevel,
    ) -> Result<ColumnCloseResult, ParquetError> {
        let statistics = self.statistics();
        let unencoded = match values {
            ChunkValues::Bytes { data, .. } => Some(data.len() as i64),
            _ => None,
        };
        let metadata = ColumnChunkMetaData::builder(self.column)
            .set_compression(Compression::ZSTD(level))
            .set_encodings(self.encodings)
            .set_page_encoding_stats(self.encoding_stats)
            .set_total_compressed_size(self.compressed as i64)
            .set_total_uncompressed_size(self.uncompressed as i64)
            .set_num_values(rows as i64)
            .set_data_page_offset(self.data_offset.unwrap_or(0))
            .set_dictionary_page_offset(self.dictionary_offset)
            .set_statistics(statistics)
            .set_unencoded_byte_array_data_bytes(unencoded)
            .build()?;
        let column_index = if self.index.valid() {
            Some(self.index.build()?)
        } else {
            None
        };
        Ok(ColumnCloseResult {
            bytes_written: self.compressed,
            rows_written: rows as u64,
            metadata,
            bloom_filter: None,
            column_index,
            offset_index: Some(self.offsets.build()),
        })
    }

    /// The chunk's statistics, typed as the column.
    fn statistics(&self) -> Statistics {
        let Summary {
            bounds,
            nulls,
            nans,
        } = self.summary;
        let signed = self.column.sort_order().is_signed();
        let (min, max) = bounds.unzip();
        macro_rules! typed {
            ($min:expr, $max:expr) => {
                ValueStatistics::new($min, $max, None, Some(nulls), false)
                    .with_backwards_compatible_min_max(signed)
            };
        }
        match self.column.physical_type() {
            PhysicalType::BOOLEAN => {
                let get = |b: Option<Bound<'_>>| match b {
                    Some(Bound::Boolean(v)) => Some(v),
                    _ => None,
                };
                typed!(get(min), get(max)).into()
            }
            PhysicalType::INT32 => {
                let get = |b: Option<Bound<'_>>| match b {
                    Some(Bound::Int32(v)) => Some(v),
                    _ => None,
                };
                typed!(get(min), get(max)).into()
            }
            PhysicalType::INT64 => {
                let get = |b: Option<Bound<'_>>| match b {
                    Some(Bound::Int64(v)) => Some(v),
                    _ => None,
                };
                typed!(get(min), get(max)).into()
            }
            PhysicalType::DOUBLE => {
                let get = |b: Option<Bound<'_>>| match b {
                    Some(Bound::Double(v)) => Some(v),
                    _ => None,
                };
                typed!(get(min), get(max)).with_nan_count(nans).into()
            }
            PhysicalType::FIXED_LEN_BYTE_ARRAY => {
                let get = |b: Option<Bound<'_>>| match b {
                    Some(Bound::Decimal(v)) => Some(FixedLenByteArray::from(v.to_vec())),
                    _ => None,
                };
                typed!(get(min), get(max)).into()
            }
            _ => {
                let min = min.map(|b| b.plain(false));
                let max = max.map(|b| b.plain(true));
                let exact = |b: &Option<(Vec<u8>, bool)>| b.as_ref().is_none_or(|(_, e)| *e);
                let (min_exact, max_exact) = (exact(&min), exact(&max));
                typed!(
                    min.map(|(v, _)| ByteArray::from(v)),
                    max.map(|(v, _)| ByteArray::from(v))
                )
                .with_min_is_exact(min_exact)
                .with_max_is_exact(max_exact)
                .into()
            }
        }
    }
}

/// `value` as ULEB128.
fn write_uleb(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// `values` bit-packed `width` bits each (at most 64), least significant bit first, padded
/// with zeros to a whole number of groups of `group` values (`group` a multiple of 8).
fn pack<T: Copy>(
    values: &[T],
    width: u32,
    bits: impl Fn(T) -> u64,
    group: usize,
    out: &mut Vec<u8>,
) {
    let end = out.len() + values.len().div_ceil(group) * group * width as usize / 8;
    out.reserve(end - out.len() + 16);
    if width == 0 {
        return;
    }
    if width == 1 {
        // Definition levels (and two-entry dictionaries): a byte per 8 values, the same bytes
        // as the general loop below in a third of its instructions.
        out.extend(values.chunks(8).map(|eight| {
            eight.iter().enumerate().fold(0u8, |byte, (bit, &value)| {
                byte | ((bits(value) & 1) as u8) << bit
            })
        }));
        out.resize(end, 0);
        return;
    }
    if width <= 16 {
        // Dictionary indices, narrow deltas: 8 values are `width` bytes, packed as two words of
        // 4 values (at most 64 bits each) and written at once: the same bytes as the general
        // loop below in fewer instructions. The last group is padded with zeros.
        let width = width as usize;
        let packed = |group: [u64; 8]| {
            let word = |four: &[u64]| {
                four.iter()
                    .enumerate()
                    .fold(0, |word, (at, &value)| word | value << (at * width))
            };
            u128::from(word(&group[..4])) | u128::from(word(&group[4..])) << (4 * width)
        };
        let mut eights = values.chunks_exact(8);
        for eight in &mut eights {
            let group = std::array::from_fn(|at| bits(eight[at]));
            out.extend_from_slice(&packed(group).to_le_bytes()[..width]);
        }
        let rest = eights.remainder();
        if !rest.is_empty() {
            let group = std::array::from_fn(|at| rest.get(at).map_or(0, |&value| bits(value)));
            out.extend_from_slice(&packed(group).to_le_bytes()[..width]);
        }
        out.resize(end, 0);
        return;
    }
    if width <= 32 {
        let (mut buffer, mut filled) = (0u64, 0);
        for &value in values {
            buffer |= bits(value) << filled;
            filled += width;
            if filled >= 32 {
                out.extend_from_slice(&(buffer as u32).to_le_bytes());
                buffer >>= 32;
                filled -= 32;
            }
        }
        let tail = (end - out.len()).min(8);
        out.extend_from_slice(&buffer.to_le_bytes()[..tail]);
    } else {
        let (mut buffer, mut filled) = (0u128, 0);
        for &value in values {
            buffer |= u128::from(bits(value)) << filled;
            filled += width;
            if filled >= 64 {
                out.extend_from_slice(&(buffer as u64).to_le_bytes());
                buffer >>= 64;
                filled -= 64;
            }
        }
        let tail = (end - out.len()).min(16);
        out.extend_from_slice(&buffer.to_le_bytes()[..tail]);
    }
    out.resize(end, 0);
}

/// Literal groups of a hybrid run take at most this many groups of 8 values (a one-byte
/// header).
const LITERAL_GROUPS: usize = 63;

/// `values` as the RLE/bit-packed hybrid of `width` bits (1 to 32): a group of 8 repeats
/// and the repeats after it are one RLE run, the rest bit-packed in groups of 8 (the last
/// padded with zeros).
fn write_hybrid<T: Copy + PartialEq>(
    values: &[T],
    width: u32,
    bits: impl Fn(T) -> u64 + Copy,
    out: &mut Vec<u8>,
) {
    let literals = |values: &[T], out: &mut Vec<u8>| {
        for part in values.chunks(LITERAL_GROUPS * 8) {
            let groups = part.len().div_ceil(8);
            write_uleb(((groups as u64) << 1) | 1, out);
            pack(part, width, bits, 8, out);
        }
    };
    // Runs are looked for a group of 8 at a time (groups counted from the last run's end,
    // so that literals always fill whole groups): cheap on values that rarely repeat.
    let mut literal_start = 0;
    let mut at = 0;
    while at + 8 <= values.len() {
        let value = values[at];
        if values[at + 1..at + 8].iter().all(|&v| v == value) {
            let mut end = at + 8;
            while end < values.len() && values[end] == value {
                end += 1;
            }
            literals(&values[literal_start..at], out);
            write_uleb(((end - at) as u64) << 1, out);
            let repeated = bits(value).to_le_bytes();
            out.extend_from_slice(&repeated[..width.div_ceil(8) as usize]);
            literal_start = end;
            at = end;
        } else {
            at += 8;
        }
    }
    literals(&values[literal_start..], out);
}

/// An integer DELTA_BINARY_PACKED encodes: deltas wrap in its own width, as readers undo them.
trait DeltaInteger: Copy + Ord {
    fn minus(self, other: Self) -> Self;
    /// The value's bits as an unsigned number of its width.
    fn bits(self) -> u64;
    fn wide(self) -> i64;
}

macro_rules! delta_integer {
    ($signed:ty, $unsigned:ty) => {
        impl DeltaInteger for $signed {
            fn minus(self, other: Self) -> Self {
                self.wrapping_sub(other)
            }
            fn bits(self) -> u64 {
                u64::from(self as $unsigned)
            }
            fn wide(self) -> i64 {
                i64::from(self)
            }
        }
    };
}

delta_integer!(i32, u32);
delta_integer!(i64, u64);

/// `values` DELTA_BINARY_PACKED: blocks of 256 deltas in 4 miniblocks of 64, as the crate
/// writes them (blocks of 128 repeat their 5 header bytes twice as often: on random amounts,
/// 1 % more bytes, in which zstd then looks for matches at half the speed).
fn write_delta<T: DeltaInteger>(values: &[T], out: &mut Vec<u8>) {
    const BLOCK: usize = 256;
    const MINIBLOCK: usize = 64;
    let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    write_uleb(BLOCK as u64, out);
    write_uleb((BLOCK / MINIBLOCK) as u64, out);
    write_uleb(values.len() as u64, out);
    let Some((&first, rest)) = values.split_first() else {
        write_uleb(0, out);
        return;
    };
    write_uleb(zigzag(first.wide()), out);
    let mut previous = first;
    let mut deltas = [first; BLOCK];
    for block in rest.chunks(BLOCK) {
        let Some(&head) = block.first() else {
            break;
        };
        let mut min = head.minus(previous);
        for (delta, &value) in deltas.iter_mut().zip(block) {
            *delta = value.minus(previous);
            min = min.min(*delta);
            previous = value;
        }
        let deltas = &deltas[..block.len()];
        write_uleb(zigzag(min.wide()), out);
        let mut widths = [0u8; BLOCK / MINIBLOCK];
        for (width, mini) in widths.iter_mut().zip(deltas.chunks(MINIBLOCK)) {
            // The bits of the largest value are those of all the values' union.
            let union = mini.iter().fold(0, |union, &d| union | d.minus(min).bits());
            *width = (u64::BITS - union.leading_zeros()) as u8;
        }
        out.extend_from_slice(&widths);
        for (&width, mini) in widths.iter().zip(deltas.chunks(MINIBLOCK)) {
            pack(
                mini,
                u32::from(width),
                |d| d.minus(min).bits(),
                MINIBLOCK,
                out,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of an RLE/bit-packed hybrid run list, `count` of them.
    fn read_hybrid(mut bytes: &[u8], width: u32, count: usize) -> Vec<u64> {
        let uleb = |bytes: &mut &[u8]| {
            let (mut value, mut shift) = (0u64, 0);
            loop {
                let byte = bytes[0];
                *bytes = &bytes[1..];
                value |= u64::from(byte & 0x7F) << shift;
                shift += 7;
                if byte < 0x80 {
                    return value;
                }
            }
        };
        let mut values = Vec::new();
        while values.len() < count {
            let header = uleb(&mut bytes);
            if header & 1 == 1 {
                let n = (header >> 1) as usize * 8;
                let mut bit = 0usize;
                for _ in 0..n {
                    let mut v = 0u64;
                    for b in 0..width as usize {
                        let at = bit + b;
                        v |= u64::from((bytes[at / 8] >> (at % 8)) & 1) << b;
                    }
                    bit += width as usize;
                    values.push(v);
                }
                bytes = &bytes[(n * width as usize).div_ceil(8)..];
            } else {
                let n = (header >> 1) as usize;
                let size = width.div_ceil(8) as usize;
                let mut v = [0u8; 8];
                v[..size].copy_from_slice(&bytes[..size]);
                bytes = &bytes[size..];
                values.extend(std::iter::repeat_n(u64::from_le_bytes(v), n));
            }
        }
        assert!(bytes.is_empty(), "{} bytes left", bytes.len());
        values.truncate(count);
        values
    }

    #[test]
    fn the_hybrid_encoding_gives_back_its_values() {
        let mut cases: Vec<Vec<u32>> = vec![
            vec![],
            vec![1],
            vec![0; 7],
            vec![1; 8],
            vec![3; 1000],
            (0..1000).map(|i| i % 2).collect(),
            (0..1000).map(|i| (i / 13) % 3).collect(),
            (0..5000).map(|i| u32::from(i % 97 >= 3)).collect(),
        ];
        // Runs after literals that do not end on a group of 8.
        cases.push([vec![1, 2, 3], vec![5; 12], vec![6, 7], vec![0; 9]].concat());
        cases.push(
            (0..3000u32)
                .map(|i| i.wrapping_mul(2_654_435_761) >> 20)
                .collect(),
        );
        for values in &cases {
            for width in [1, 2, 3, 7, 8, 12, 17, 32] {
                let mask = if width == 32 {
                    u32::MAX
                } else {
                    (1 << width) - 1
                };
                let masked: Vec<u32> = values.iter().map(|v| v & mask).collect();
                let mut out = Vec::new();
                write_hybrid(&masked, width, u64::from, &mut out);
                let read = read_hybrid(&out, width, masked.len());
                let expected: Vec<u64> = masked.iter().map(|&v| u64::from(v)).collect();
                assert_eq!(read, expected, "width {width}");
            }
        }
        // Long runs are one RLE run: 1000 threes in 3 bytes.
        let mut out = Vec::new();
        write_hybrid(&[3u32; 1000], 2, u64::from, &mut out);
        assert_eq!(out, [0xD0, 0x0F, 3]);
    }

    #[test]
    fn short_and_long_keys_are_equal_only_when_their_bytes_are() {
        let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
        for length in 1..=4 {
            for n in 0..1u32 << length {
                keys.push(
                    (0..length)
                        .map(|bit| b"ab"[(n >> bit) as usize & 1])
                        .collect(),
                );
            }
        }
        for length in [7, 8, 9, 15, 16, 17, 24, 40] {
            let base = vec![b'x'; length];
            keys.push(base.clone());
            for at in 0..length {
                let mut other = base.clone();
                other[at] = b'y';
                keys.push(other);
            }
        }
        keys.push(vec![0; 3]);
        keys.push(vec![0; 2]);
        for a in &keys {
            for b in &keys {
                assert_eq!(BytesKey::new(a) == BytesKey::new(b), a == b, "{a:?} {b:?}");
                if a == b {
                    assert_eq!(BytesKey::new(a).hash(), BytesKey::new(b).hash());
                }
            }
        }
    }

    #[test]
    fn defined_values_are_counted_past_a_part_of_u16_max_levels() {
        // 1 a value, 0 a null; parts of u16::MAX levels, all values in some of them.
        let levels: Vec<u8> = (0..200_000)
            .map(|i| u8::from(i % 7 != 3 || i > 130_000))
            .collect();
        for rows in [0..0, 0..65_535, 0..65_536, 1_000..140_000, 0..200_000] {
            let expected = levels[rows.clone()]
                .iter()
                .map(|&l| usize::from(l == 1))
                .sum::<usize>();
            assert_eq!(defined_count(&levels[rows]), expected);
        }
    }

    #[test]
    fn every_width_packs_the_bits_of_each_value_in_order() {
        for width in 1..=20u32 {
            for len in [0usize, 1, 3, 7, 8, 9, 63, 64, 65, 200] {
                for group in [8usize, 64] {
                    let values: Vec<u64> = (0..len as u64)
                        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7) & ((1 << width) - 1))
                        .collect();
                    // After a byte already there, bit by bit, padded to whole groups.
                    let mut expected =
                        vec![0u8; 1 + len.div_ceil(group) * group * width as usize / 8];
                    expected[0] = 0xAA;
                    for (index, &value) in values.iter().enumerate() {
                        for bit in 0..width as usize {
                            if value >> bit & 1 == 1 {
                                let at = index * width as usize + bit;
                                expected[1 + at / 8] |= 1 << (at % 8);
                            }
                        }
                    }
                    let mut out = vec![0xAA];
                    pack(&values, width, |v| v, group, &mut out);
                    assert_eq!(
                        out, expected,
                        "width {width}, {len} values, groups of {group}"
                    );
                }
            }
        }
    }

    #[test]
    fn values_pack_least_significant_bit_first() {
        let mut out = Vec::new();
        pack(&[1u64, 0, 1, 1, 0, 0, 0, 1, 1], 1, |v| v, 8, &mut out);
        assert_eq!(out, [0b1000_1101, 0b1]);
        let mut out = Vec::new();
        pack(&[u64::MAX, 1], 64, |v| v, 8, &mut out);
        assert_eq!(
            out,
            [vec![0xFF; 8], 1u64.to_le_bytes().to_vec(), vec![0; 48]].concat()
        );
        let mut out = Vec::new();
        pack(&[5u64, 6], 3, |v| v, 8, &mut out);
        assert_eq!(out, [0b0011_0101, 0, 0]);
        // Groups of 32 values of 33 bits: 132 bytes.
        let mut out = Vec::new();
        pack(&[1u64 << 32; 3], 33, |v| v, 32, &mut out);
        assert_eq!(out.len(), 132);
        assert_eq!(&out[..9], [0, 0, 0, 0, 1, 0, 0, 0, 2]);
    }

    #[test]
    fn long_string_bounds_are_cut_and_stay_bounds() {
        let short = "a".repeat(STATISTICS_LENGTH);
        assert_eq!(
            cut_string(short.as_bytes(), true),
            (short.clone().into_bytes(), true)
        );
        let long = format!("{short}b");
        assert_eq!(
            cut_string(long.as_bytes(), false),
            (short.clone().into_bytes(), false)
        );
        let (max, exact) = cut_string(long.as_bytes(), true);
        assert!(!exact);
        assert_eq!(
            max,
            format!("{}b", "a".repeat(STATISTICS_LENGTH - 1)).into_bytes()
        );
        assert!(max.as_slice() > long.as_bytes());
        // A cut inside a character falls back to its start.
        let wide = "é".repeat(40);
        let (min, _) = cut_string(wide.as_bytes(), false);
        assert_eq!(min, "é".repeat(32).into_bytes());
        let (max, _) = cut_string(wide.as_bytes(), true);
        assert!(max.as_slice() > wide.as_bytes());
        assert!(std::str::from_utf8(&max).is_ok());
        // Nothing to increment: the whole value.
        let top = char::MAX.to_string().repeat(20);
        assert_eq!(
            cut_string(top.as_bytes(), true),
            (top.clone().into_bytes(), true)
        );
    }

    #[test]
    fn decimals_order_as_signed_big_endian_numbers() {
        let bytes = |v: i128| v.to_be_bytes()[7..].to_vec();
        let mut numbers = [
            -300_i128,
            -1,
            0,
            1,
            255,
            256,
            -256,
            i128::from(i64::MAX) * 7,
        ];
        let mut encoded: Vec<Vec<u8>> = numbers.iter().map(|&v| bytes(v)).collect();
        numbers.sort_unstable();
        encoded.sort_by(|a, b| compare_decimals(a, b));
        let sorted: Vec<Vec<u8>> = numbers.iter().map(|&v| bytes(v)).collect();
        assert_eq!(encoded, sorted);
    }

    #[test]
    fn pages_end_at_the_row_or_byte_bound() {
        let numbers = vec![7i64; 50_001];
        let ranges = page_ranges(None, numbers.len(), &ChunkValues::Int64(&numbers), false);
        let rows: Vec<_> = ranges.iter().map(|(r, _)| r.len()).collect();
        assert_eq!(rows, [20_000, 20_000, 10_001]);
        // 300 KB strings: 3 a page; nulls between them stay with the page before.
        let text = vec![b'x'; 300_000];
        let data = text.repeat(7);
        let ends: Vec<usize> = (1..=7).map(|i| i * 300_000).collect();
        let levels = [1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1];
        let values = ChunkValues::Bytes {
            data: &data,
            ends: &ends,
        };
        let ranges = page_ranges(Some(&levels), levels.len(), &values, false);
        assert_eq!(ranges, [(0..4, 0..3), (4..8, 3..6), (8..11, 6..7)],);
        // Dictionary indices: rows only.
        let ranges = page_ranges(Some(&levels), levels.len(), &values, true);
        assert_eq!(ranges, [(0..11, 0..7)]);
    }
}
