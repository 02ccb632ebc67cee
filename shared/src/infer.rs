//! Type inference for one value: what a text field or a JSON value is.
//!
//! A column's type is the join of its values' types on a small lattice: `boolean`,
//! `integer`, `float`, `date`, `timestamp`, `string`. An integer column that meets a float
//! becomes `float`; a date column that meets a timestamp becomes `timestamp`; any other mix
//! becomes `string`. Empty fields are nulls and have no type.

/// The inferred type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// `true` or `false`, in any letter case.
    Boolean,
    /// A decimal integer that fits in 64 bits.
    Integer,
    /// A finite decimal number with a fraction or an exponent (or an integer too big for 64
    /// bits).
    Float,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A date and time of day, `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]]`, with an optional zone
    /// (`Z`, `±HH`, `±HHMM` or `±HH:MM`).
    Timestamp,
    /// Anything else.
    String,
}

impl ValueType {
    /// The type of a column holding values of both types.
    #[must_use]
    pub fn join(self, other: ValueType) -> ValueType {
        use ValueType::{Date, Float, Integer, Timestamp};
        match (self, other) {
            (a, b) if a == b => a,
            (Integer, Float) | (Float, Integer) => Float,
            (Date, Timestamp) | (Timestamp, Date) => Timestamp,
            _ => ValueType::String,
        }
    }
}

/// One value, parsed as far as its type needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    Boolean(bool),
    Integer(i64),
    Float(f64),
    /// Days since 1970-01-01.
    Date(i64),
    /// Microseconds since 1970-01-01T00:00:00Z (a timestamp without zone is read as UTC).
    Timestamp(i64),
    String,
}

impl Value {
    pub(crate) fn value_type(self) -> ValueType {
        match self {
            Value::Boolean(_) => ValueType::Boolean,
            Value::Integer(_) => ValueType::Integer,
            Value::Float(_) => ValueType::Float,
            Value::Date(_) => ValueType::Date,
            Value::Timestamp(_) => ValueType::Timestamp,
            Value::String => ValueType::String,
        }
    }
}

/// Infers the type of a text field (CSV): numbers, booleans, dates, timestamps or string.
#[inline]
pub(crate) fn infer_text(text: &str) -> Value {
    infer_bytes(text.as_bytes())
}

/// [`infer_text`] on the bytes of a text.
#[inline]
pub(crate) fn infer_bytes(bytes: &[u8]) -> Value {
    match bytes.first() {
        // A '-' fifth is no integer: a date or a timestamp, else a string (never a float,
        // even `123e-45678`).
        Some(b'0'..=b'9') if bytes.len() >= 10 && bytes[4] == b'-' => infer_temporal(bytes),
        Some(b'0'..=b'9' | b'-' | b'+' | b'.') => parse_number_bytes(bytes),
        Some(b't' | b'T') if bytes.eq_ignore_ascii_case(b"true") => Value::Boolean(true),
        Some(b'f' | b'F') if bytes.eq_ignore_ascii_case(b"false") => Value::Boolean(false),
        _ => Value::String,
    }
}

/// Infers the type of a JSON string's content: a date, a timestamp, or a string.
pub(crate) fn infer_json_string(text: &str) -> Value {
    let bytes = text.as_bytes();
    if bytes.len() >= 10 && bytes[0].is_ascii_digit() && bytes[4] == b'-' {
        infer_temporal(bytes)
    } else {
        Value::String
    }
}

/// Infers the type of a JSON number's text (already valid JSON number syntax).
pub(crate) fn infer_json_number(text: &str) -> Value {
    parse_number(text)
}

/// `[+-]?[0-9]+` fitting in an `i64`.
#[cfg(test)]
fn parse_integer(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        magnitude = magnitude * 10 + u64::from(digit);
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// An integer (`[+-]?[0-9]+` fitting in an `i64`), else a float
/// (`[+-]?(digits[.digits?]|.digits)([eE][+-]?digits)?` with a finite value), else a
/// string: the same answer as trying `parse_integer` then `parse_float` (kept for the
/// tests), in one pass over the integer part.
#[inline]
fn parse_number(text: &str) -> Value {
    parse_number_bytes(text.as_bytes())
}

/// [`parse_number`] on the bytes of a text: the common short shape ([`short_number`]) eight
/// bytes at a time, any other text by [`general_number`].
#[inline]
fn parse_number_bytes(bytes: &[u8]) -> Value {
    match short_number(bytes) {
        Some(value) => value,
        None => general_number(bytes),
    }
}

/// [`parse_number`] of any text, one byte at a time.
#[inline]
fn general_number(bytes: &[u8]) -> Value {
    let sign_len = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let (int_digits, mantissa) = leading_digits(&bytes[sign_len..]);
    if sign_len + int_digits == bytes.len() && (1..=19).contains(&int_digits) {
        // 19 digits stay below 10^19 < 2^64: `mantissa` is exact.
        let integer = if bytes[0] == b'-' {
            0i64.checked_sub_unsigned(mantissa)
        } else {
            i64::try_from(mantissa).ok()
        };
        if let Some(v) = integer {
            return Value::Integer(v);
        }
    }
    float_after_integer_part(bytes, sign_len, int_digits, mantissa)
        .map_or(Value::String, Value::Float)
}

/// 10^0 to 10^15, every one exact as an `f64` (Clinger's fast path divides by them).
pub(crate) const EXACT_POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// How many ASCII digits `bytes` starts with, and their value (wrapping past 19 digits).
///
/// Byte by byte: numbers are short (a word-at-a-time reading, tried here, cost more than
/// this loop on values of 2 to 7 digits; [`short_number`] reads the whole of a short number,
/// sign and point included, as one word, which does pay).
#[inline]
pub(crate) fn leading_digits(bytes: &[u8]) -> (usize, u64) {
    let mut value = 0u64;
    let mut count = 0;
    for &byte in bytes {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        count += 1;
    }
    (count, value)
}

/// `[+-]?(digits[.digits?]|.digits)([eE][+-]?digits)?` with a finite value.
#[cfg(test)]
fn parse_float(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let sign_len = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let (int_digits, mantissa) = leading_digits(&bytes[sign_len..]);
    float_after_integer_part(bytes, sign_len, int_digits, mantissa)
}

/// A float from the end of its integer part: `sign_len` bytes of sign, then
/// `int_digits` digits whose (wrapping) value is `mantissa`.
#[inline]
fn float_after_integer_part(
    bytes: &[u8],
    sign_len: usize,
    int_digits: usize,
    mut mantissa: u64,
) -> Option<f64> {
    const POWERS_OF_TEN: [u64; 16] = {
        let mut powers = [1; 16];
        let mut i = 1;
        while i < 16 {
            powers[i] = powers[i - 1] * 10;
            i += 1;
        }
        powers
    };
    let mut at = sign_len + int_digits;
    let mut frac_digits = 0;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let (count, value) = leading_digits(&bytes[at..]);
        // Only used below when there are at most 15 digits in all: no overflow then.
        mantissa = mantissa
            .wrapping_mul(POWERS_OF_TEN[count.min(15)])
            .wrapping_add(value);
        frac_digits = count;
        at += count;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    let has_exponent = matches!(bytes.get(at), Some(b'e' | b'E'));
    if has_exponent {
        at += 1;
        at += usize::from(matches!(bytes.get(at), Some(b'-' | b'+')));
        let exp_digits = count_digits(&bytes[at..]);
        if exp_digits == 0 {
            return None;
        }
        at += exp_digits;
    }
    if at != bytes.len() {
        return None;
    }
    if !has_exponent && int_digits + frac_digits <= 15 {
        // Clinger's fast path: at most 15 digits make an integer below 2^53, and 10^15 is
        // exact too, so one IEEE division rounds correctly.
        #[allow(clippy::cast_precision_loss)]
        let value = mantissa as f64 / EXACT_POWERS_OF_TEN[frac_digits];
        return Some(if bytes[0] == b'-' { -value } else { value });
    }
    // The bytes matched the grammar above: ASCII, so UTF-8.
    std::str::from_utf8(bytes)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// The high bit of every byte.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
/// Every byte `0x30`, the ASCII digit zero.
const ZEROS: u64 = 0x3030_3030_3030_3030;

/// The common shape of a number in a text field, `[+-]?` then 1 to 8 bytes that are
/// digits with at most one `.` among them (and one digit at least), read as one word: the
/// same value as [`general_number`] gives, `None` for any other text (which it then reads).
///
/// The bytes are checked together ([`non_digit_bytes`]), the `.` taken out by two shifts
/// and the digits summed in three multiplications ([`eight_digits`]). Byte by byte, the
/// numbers of the bench rows (ids, amounts like `5144.76`) cost more: callgrind of the
/// profile example on their first 20 MB, 570.1 M -> 561.9 M instructions in all.
///
/// Forced inline: a call from the column profile's typed path cost 17 M more of them there.
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn short_number(bytes: &[u8]) -> Option<Value> {
    let (negative, body) = match bytes.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, bytes),
    };
    let len = body.len();
    // Bytes past the body read as `0`s: they pass the digit test, and the shift that puts
    // the digits at the top of the word (below) drops them.
    let padding = u64::MAX
        .checked_shl(8 * u32::try_from(len).ok()?)
        .unwrap_or(0);
    let word = short_word(body)? | (ZEROS & padding);
    let not_digits = non_digit_bytes(word);
    // A digit's byte XOR `0` is its value (no borrow between bytes, as subtracting had).
    let values = word ^ ZEROS;
    let (digits, count, fraction) = if not_digits == 0 {
        (values, len, None)
    } else {
        // One byte that is not a digit, a `.`, and a digit besides it.
        let dot = not_digits.trailing_zeros() as usize / 8;
        if not_digits & (not_digits - 1) != 0 || len < 2 || body.get(dot) != Some(&b'.') {
            return None;
        }
        // The bytes after the `.` move down one byte, over it.
        let below = (1u64 << (8 * dot)) - 1;
        (
            (values & below) | ((values >> 8) & !below),
            len - 1,
            Some(len - 1 - dot),
        )
    };
    // `count` is 1 to 8: the digits go to the top bytes, zeros (leading) below them.
    let mantissa = eight_digits(digits << (8 * (8 - count)));
    Some(match fraction {
        None => {
            let value = i64::from(mantissa);
            Value::Integer(if negative { -value } else { value })
        }
        // At most 8 digits: Clinger's fast path, as in `float_after_integer_part`.
        Some(fraction) => {
            let value = f64::from(mantissa) / EXACT_POWERS_OF_TEN[fraction];
            Value::Float(if negative { -value } else { value })
        }
    })
}

/// 1 to 8 bytes as a little-endian word, zero past them (two overlapping reads of four
/// bytes, or the first, middle and last bytes of a shorter text); `None` for any other
/// length.
///
/// Forced inline: left to itself, the compiler may make it a call (it did when the
/// tokenizer's field scan changed, for 4 M more instructions of the profile example on the
/// first 20 MB of the bench rows); forced, that profile took 536.7 M instructions where it
/// took 540.8 M before (callgrind).
#[allow(clippy::inline_always)]
#[inline(always)]
fn short_word(bytes: &[u8]) -> Option<u64> {
    let len = bytes.len();
    let word4 = |bytes: Option<&[u8; 4]>| u64::from(u32::from_le_bytes(*bytes.unwrap_or(&[0; 4])));
    match len {
        1..=3 => Some(
            u64::from(bytes[0])
                | u64::from(bytes[len / 2]) << (8 * (len / 2))
                | u64::from(bytes[len - 1]) << (8 * (len - 1)),
        ),
        4..=7 => Some(word4(bytes.first_chunk()) | word4(bytes.last_chunk()) << (8 * (len - 4))),
        8 => bytes.first_chunk().map(|first| u64::from_le_bytes(*first)),
        _ => None,
    }
}

/// The bytes of `word` that are not ASCII digits, each marked by its high bit. A digit's
/// high nibble is 3, and still is after adding 6. (A byte above `0xf9` carries into the
/// next one, which may then be marked too: `short_number` declines such a text, as it
/// declines a text with two marks.)
#[inline]
fn non_digit_bytes(word: u64) -> u64 {
    const HIGH_NIBBLES: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    const SIXES: u64 = 0x0606_0606_0606_0606;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let high = (word & HIGH_NIBBLES) ^ ZEROS;
    let high_plus_six = (word.wrapping_add(SIXES) & HIGH_NIBBLES) ^ ZEROS;
    // Each byte 0 to 15, 0 for a digit: adding 0x7f sets the high bit of the others.
    (((high | high_plus_six) >> 4) + LOW7) & HIGH_BITS
}

/// Eight digit values, one a byte, the first (most significant) in the low byte, as a
/// number: pairs, then fours, then the eight, each step one multiplication.
#[inline]
fn eight_digits(values: u64) -> u32 {
    let pairs = (values.wrapping_mul(10 * 256 + 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    let fours = (pairs.wrapping_mul(100 * 65_536 + 1) >> 16) & 0x0000_ffff_0000_ffff;
    // At most 99,999,999.
    #[allow(clippy::cast_possible_truncation)]
    let eight = (fours.wrapping_mul(10_000 * (1 << 32) + 1) >> 32) as u32;
    eight
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// A date or a timestamp, or a string when the text is neither.
///
/// The common shapes are read inline, in the caller ([`infer_bytes`]); only other texts call
/// the general parser. (As two calls, `infer_temporal` then `common_temporal`, their entries
/// and exits cost a fifth of the temporal columns' instructions: callgrind of the profile
/// example on the first 20 MB of the bench rows.)
#[allow(clippy::inline_always)]
#[inline(always)]
fn infer_temporal(bytes: &[u8]) -> Value {
    match common_temporal(bytes) {
        Some(value) => value,
        None => general_temporal(bytes),
    }
}

/// [`infer_temporal`] of a text [`common_temporal`] does not read.
#[cold]
#[inline(never)]
fn general_temporal(bytes: &[u8]) -> Value {
    let Some(days) = parse_date(bytes) else {
        return Value::String;
    };
    if bytes.len() == 10 {
        return Value::Date(days);
    }
    parse_time_and_zone(&bytes[10..]).map_or(Value::String, |micros| {
        Value::Timestamp(days * 86_400_000_000 + micros)
    })
}

/// Bytes that are ASCII digits: each the low nibble of `0x30..=0x39`.
const DIGIT_NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;

/// The two most common temporal shapes, `YYYY-MM-DD` and `YYYY-MM-DDTHH:MM:SSZ`, read
/// eight bytes at a time; `None` for any other text, or for a value out of range, which the
/// general parser then reads (to the same value, or to a string).
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn common_temporal(bytes: &[u8]) -> Option<Value> {
    // `YYYY-MM-` as a little-endian word: dashes in bytes 4 and 7.
    const DATE_DASHES: (u64, u64) = (0xff00_00ff_0000_0000, 0x2d00_002d_0000_0000);
    // `HH:MM:SS`: colons in bytes 2 and 5.
    const TIME_COLONS: (u64, u64) = (0x0000_ff00_00ff_0000, 0x0000_3a00_003a_0000);
    let (date_word, rest) = bytes.split_first_chunk::<8>()?;
    let date = digits_between(u64::from_le_bytes(*date_word), DATE_DASHES)?;
    let digit = |word: u64, index: usize| u32::from(word.to_le_bytes()[index]);
    // The year's four digits (bytes 0 to 3, thousands first) in two steps: each byte with the
    // next, then each pair with the next pair. Every partial sum stays within its byte or
    // half-word, so nothing carries into the part kept.
    let low = date & 0xffff_ffff;
    let pairs = (low * 10 + (low >> 8)) & 0x00ff_00ff;
    // At most 9999.
    #[allow(clippy::cast_possible_truncation)]
    let year = ((pairs * 100 + (pairs >> 16)) & 0xffff) as u32;
    let month = digit(date, 5) * 10 + digit(date, 6);
    let (day, time) = match *rest {
        [d1, d2] => (two_digits(d1, d2)?, None),
        [d1, d2, b'T', h1, h2, m1, m2, s1, s2, s3, s4, b'Z'] => {
            let word = u64::from_le_bytes([h1, h2, m1, m2, s1, s2, s3, s4]);
            (
                two_digits(d1, d2)?,
                Some(digits_between(word, TIME_COLONS)?),
            )
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let Some(time) = time else {
        return Some(Value::Date(days));
    };
    let (hour, minute) = (
        digit(time, 0) * 10 + digit(time, 1),
        digit(time, 3) * 10 + digit(time, 4),
    );
    let second = digit(time, 6) * 10 + digit(time, 7);
    // 60 admits a leap second, as in the general parser.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds = i64::from(hour * 3600 + minute * 60 + second);
    Some(Value::Timestamp(
        days * 86_400_000_000 + seconds * 1_000_000,
    ))
}

/// The eight bytes of `word` (little-endian) with the separator bytes `separators.0` equal
/// to `separators.1` and every other byte an ASCII digit: each digit's value in its byte,
/// separators zeroed. One test for all the digits: a byte is one when its high nibble is 3,
/// and still is after adding 6 (a byte above `0xf9` carries into the next one, but it has
/// failed the test already).
#[inline]
fn digits_between(word: u64, (separators, expected): (u64, u64)) -> Option<u64> {
    const HIGH_NIBBLES: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    const SIXES: u64 = 0x0606_0606_0606_0606;
    const THREES: u64 = 0x3333_3333_3333_3333;
    if word & separators != expected {
        return None;
    }
    let digits = (word & !separators) | (ZEROS & separators);
    let high = digits & HIGH_NIBBLES;
    let high_plus_six = digits.wrapping_add(SIXES) & HIGH_NIBBLES;
    (high | high_plus_six >> 4 == THREES).then_some(digits & DIGIT_NIBBLES & !separators)
}

/// Two ASCII digits as a number.
#[inline]
fn two_digits(tens: u8, units: u8) -> Option<u32> {
    let (tens, units) = (tens.wrapping_sub(b'0'), units.wrapping_sub(b'0'));
    (tens <= 9 && units <= 9).then(|| u32::from(tens) * 10 + u32::from(units))
}

fn digits_value(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u32, |acc, &b| {
        let digit = b.wrapping_sub(b'0');
        (digit <= 9).then(|| acc * 10 + u32::from(digit))
    })
}

/// `YYYY-MM-DD` at the start of `bytes`, as days since 1970-01-01.
fn parse_date(bytes: &[u8]) -> Option<i64> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2, ..] = *bytes else {
        return None;
    };
    let year = two_digits(y1, y2)? * 100 + two_digits(y3, y4)?;
    let month = two_digits(m1, m2)?;
    let day = two_digits(d1, d2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
#[inline]
fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    /// 1970-01-01 from the origin, computed once at compile time.
    const EPOCH: u32 = days_since_origin(1970, 1, 1);
    i64::from(days_since_origin(year, month, day)) - i64::from(EPOCH)
}

/// Days from a fixed origin 400 years before year 0, so every quantity stays unsigned and
/// every division is by a constant (a multiplication once compiled). Inlined: a call cost
/// as much as its work.
#[allow(clippy::inline_always)]
#[inline(always)]
const fn days_since_origin(year: u32, month: u32, day: u32) -> u32 {
    const BEFORE_MONTH: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let shifted = year + 400;
    let leap_days_before = (shifted - 1) / 4 - (shifted - 1) / 100 + (shifted - 1) / 400;
    let leap_day = (month > 2 && is_leap(year)) as u32;
    shifted * 365 + leap_days_before + BEFORE_MONTH[(month - 1) as usize] + leap_day + day - 1
}

const fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// `[T| ]HH:MM[:SS[.fraction]][zone]` as microseconds since midnight UTC.
fn parse_time_and_zone(bytes: &[u8]) -> Option<i64> {
    let [b'T' | b't' | b' ', h1, h2, b':', m1, m2, ..] = *bytes else {
        return None;
    };
    let hour = two_digits(h1, h2)?;
    let minute = two_digits(m1, m2)?;
    let mut at = 6;
    let mut second = 0;
    let mut micros = 0u32;
    if let [b':', s1, s2, ..] = bytes[at..] {
        second = two_digits(s1, s2)?;
        at += 3;
        if bytes.get(at) == Some(&b'.') {
            let fraction = count_digits(&bytes[at + 1..]);
            if fraction == 0 || fraction > 9 {
                return None;
            }
            let kept = &bytes[at + 1..at + 1 + fraction.min(6)];
            micros = digits_value(kept)? * 10u32.pow(u32::try_from(6 - kept.len()).ok()?);
            at += 1 + fraction;
        }
    }
    // 60 admits a leap second.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset_minutes = parse_zone(&bytes[at..])?;
    let seconds = i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
    Some(seconds * 1_000_000 + i64::from(micros))
}

/// ``, `Z`, `±HH`, `±HHMM` or `±HH:MM`, as minutes east of UTC.
fn parse_zone(bytes: &[u8]) -> Option<i64> {
    let sign = match bytes.first() {
        None => return Some(0),
        Some(b'Z' | b'z') if bytes.len() == 1 => return Some(0),
        Some(b'+') => 1,
        Some(b'-') => -1,
        Some(_) => return None,
    };
    let (hours, minutes) = match bytes[1..] {
        [h1, h2] => (two_digits(h1, h2)?, 0),
        [h1, h2, m1, m2] | [h1, h2, b':', m1, m2] => (two_digits(h1, h2)?, two_digits(m1, m2)?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * i64::from(hours * 60 + minutes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(infer_text("0"), Value::Integer(0));
        assert_eq!(infer_text("-42"), Value::Integer(-42));
        assert_eq!(infer_text("+7"), Value::Integer(7));
        assert_eq!(infer_text("9223372036854775807"), Value::Integer(i64::MAX));
        assert_eq!(infer_text("-9223372036854775808"), Value::Integer(i64::MIN));
        assert_eq!(
            infer_text("9223372036854775808"),
            Value::Float(9_223_372_036_854_775_808.0)
        );
        assert_eq!(infer_text("1.5"), Value::Float(1.5));
        assert_eq!(infer_text(".5"), Value::Float(0.5));
        assert_eq!(infer_text("5."), Value::Float(5.0));
        assert_eq!(infer_text("-1e3"), Value::Float(-1000.0));
        for text in [
            "1e",
            "1.2.3",
            "-",
            "+",
            ".",
            "1,000",
            "inf",
            "NaN",
            "1e999",
            "0x10",
            " 1",
            // A '-' fifth makes a would-be date: it is never read as a number.
            "123e-45678",
        ] {
            assert_eq!(infer_text(text), Value::String, "{text}");
        }
    }

    #[test]
    fn the_decimal_fast_path_rounds_like_the_standard_parser() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let digits = format!("{}", state % 1_000_000_000_000_000);
            let split = (state >> 60) as usize % digits.len();
            let text = format!("-{}.{}", &digits[..split], &digits[split..]);
            let parsed: f64 = text.parse().unwrap();
            assert_eq!(
                parse_float(&text).map(f64::to_bits),
                Some(parsed.to_bits()),
                "{text}"
            );
        }
        assert!(parse_float("-0.0").unwrap().is_sign_negative());
        assert_eq!(parse_float("0.1"), Some(0.1));
        assert_eq!(
            parse_float("123456789012345.6"),
            Some(123_456_789_012_345.6)
        );
    }

    #[test]
    fn the_one_pass_number_parser_agrees_with_integer_then_float() {
        const ALPHABET: &[u8] = b"0123456789000999+-.eE";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 23) as usize;
            let mut bits = state;
            let text: String = (0..len)
                .map(|i| {
                    if i % 12 == 11 {
                        bits = bits.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
                    }
                    let pick = usize::try_from(bits >> ((i % 12) * 5)).unwrap() % ALPHABET.len();
                    char::from(ALPHABET[pick])
                })
                .collect();
            let expected = parse_integer(text.as_bytes())
                .map(Value::Integer)
                .or_else(|| parse_float(&text).map(Value::Float))
                .unwrap_or(Value::String);
            let found = parse_number(&text);
            let same = match (found, expected) {
                (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
                (a, b) => a == b,
            };
            assert!(same, "{text:?}: {found:?} != {expected:?}");
        }
        for text in [
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
        ] {
            assert_eq!(
                parse_number(text),
                parse_integer(text.as_bytes())
                    .map_or_else(|| Value::Float(text.parse().unwrap()), Value::Integer)
            );
        }
    }

    /// Whether two values are the same, floats to the bit (`-0.0` is not `0.0`).
    fn same_value(a: Value, b: Value) -> bool {
        match (a, b) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (a, b) => a == b,
        }
    }

    #[test]
    fn the_short_number_shape_reads_like_the_general_parser() {
        const ALPHABET: &[u8] = b"0123456789.-+e/:\xfa\xff";
        let short = [
            ("0", Value::Integer(0)),
            ("-0", Value::Integer(0)),
            ("+7", Value::Integer(7)),
            ("00000042", Value::Integer(42)),
            ("99999999", Value::Integer(99_999_999)),
            ("-99999999", Value::Integer(-99_999_999)),
            ("+12345678", Value::Integer(12_345_678)),
            ("5144.76", Value::Float(5144.76)),
            ("-500.00", Value::Float(-500.0)),
            ("-0.0", Value::Float(-0.0)),
            (".5", Value::Float(0.5)),
            ("-.5", Value::Float(-0.5)),
            ("5.", Value::Float(5.0)),
            ("0.000001", Value::Float(0.000_001)),
            ("999999.9", Value::Float(999_999.9)),
            ("9999999.", Value::Float(9_999_999.0)),
            (".9999999", Value::Float(0.999_999_9)),
        ];
        for (text, expected) in short {
            let found = short_number(text.as_bytes());
            assert!(
                found.is_some_and(|found| same_value(found, expected)),
                "{text}: {found:?}"
            );
            assert!(
                same_value(general_number(text.as_bytes()), expected),
                "{text}"
            );
        }
        // Other texts are left to the general parser: longer numbers, exponents, two
        // points, no digit, signs alone, bytes around the digits.
        for text in [
            "",
            "-",
            "+",
            ".",
            "-.",
            "123456789",
            "-123456789",
            "12345.6789",
            "1e5",
            "1.2.3",
            "1..",
            "--1",
            "+-1",
            "1-",
            "1/2",
            "1:2",
            " 1",
            "1 ",
            "١٢",
        ] {
            assert_eq!(short_number(text.as_bytes()), None, "{text}");
        }
        assert_eq!(short_number(b"\xff1"), None);
        assert_eq!(short_number(b"1\xfa2"), None);
        // Texts of up to 10 bytes from digits, points, signs and neighbours of the digits
        // in ASCII, and bytes that carry when 6 is added (ALPHABET, above).
        let mut state = 0x3c6e_f372_fe94_f82bu64;
        let mut fast_hits = 0;
        for _ in 0..400_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 11) as usize;
            let text: Vec<u8> = (0..len)
                .map(|i| {
                    // Mostly digits, so that many texts have the short shape.
                    let pick = ((state >> (12 + 4 * i)) % 28) as usize;
                    ALPHABET[pick % ALPHABET.len()]
                })
                .collect();
            let expected = general_number(&text);
            if let Some(found) = short_number(&text) {
                fast_hits += 1;
                assert!(
                    same_value(found, expected),
                    "{:?}: {found:?} != {expected:?}",
                    String::from_utf8_lossy(&text)
                );
            }
            assert!(same_value(parse_number_bytes(&text), expected));
        }
        assert!(fast_hits > 50_000, "{fast_hits}");
    }

    #[test]
    fn booleans() {
        assert_eq!(infer_text("true"), Value::Boolean(true));
        assert_eq!(infer_text("FALSE"), Value::Boolean(false));
        assert_eq!(infer_text("True"), Value::Boolean(true));
        assert_eq!(infer_text("yes"), Value::String);
        assert_eq!(infer_text("truex"), Value::String);
    }

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(infer_text("1970-01-01"), Value::Date(0));
        assert_eq!(infer_text("2000-03-01"), Value::Date(11_017));
        assert_eq!(infer_text("2024-02-29"), Value::Date(19_782));
        assert_eq!(infer_text("2023-02-29"), Value::String);
        assert_eq!(infer_text("2023-13-01"), Value::String);
        assert_eq!(
            infer_text("1970-01-01T00:00:01Z"),
            Value::Timestamp(1_000_000)
        );
        assert_eq!(infer_text("1970-01-01 00:01"), Value::Timestamp(60_000_000));
        assert_eq!(
            infer_text("1970-01-01T01:00:00+01:00"),
            Value::Timestamp(0),
            "offsets are normalised to UTC"
        );
        assert_eq!(
            infer_text("1970-01-01T00:00:00.25-0030"),
            Value::Timestamp(1_800_250_000)
        );
        assert_eq!(
            infer_text("1970-01-01T00:00:00.123456789"),
            Value::Timestamp(123_456)
        );
        for text in [
            "2024-01-01T24:00",
            "2024-01-01T",
            "2024-01-01X10:00",
            "2024-01-01T10:00+25",
        ] {
            assert_eq!(infer_text(text), Value::String, "{text}");
        }
    }

    #[test]
    fn the_common_temporal_shapes_read_like_the_general_parser() {
        let mut state = 0x6a09_e667_f3bc_c908u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let general = |bytes: &[u8]| {
            let Some(days) = parse_date(bytes) else {
                return Value::String;
            };
            if bytes.len() == 10 {
                return Value::Date(days);
            }
            parse_time_and_zone(&bytes[10..]).map_or(Value::String, |micros| {
                Value::Timestamp(days * 86_400_000_000 + micros)
            })
        };
        let mut fast_hits = 0;
        for _ in 0..300_000 {
            let r = next();
            let mut text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                r % 10_000,
                (r >> 14) % 14,
                (r >> 18) % 33,
                (r >> 24) % 26,
                (r >> 30) % 62,
                (r >> 36) % 62
            )
            .into_bytes();
            if r >> 42 & 1 == 1 {
                text.truncate(10);
            }
            // Now and then a byte goes wrong: a letter, a separator, a high byte.
            if (r >> 43) % 4 == 0 {
                let at = (r >> 45) as usize % text.len();
                text[at] = [b'a', b'-', b':', b'/', 0xff, b' ', b'9', b'0'][(r >> 50) as usize % 8];
            }
            let expected = general(&text);
            if let Some(found) = common_temporal(&text) {
                fast_hits += 1;
                assert_eq!(found, expected, "{:?}", String::from_utf8_lossy(&text));
            }
            assert_eq!(infer_temporal(&text), expected);
        }
        assert!(fast_hits > 100_000, "{fast_hits}");
    }

    #[test]
    fn json_strings_are_dates_or_strings_only() {
        assert_eq!(infer_json_string("2024-05-06"), Value::Date(19_849));
        assert_eq!(infer_json_string("123"), Value::String);
        assert_eq!(infer_json_string("true"), Value::String);
        assert_eq!(infer_json_number("12"), Value::Integer(12));
        assert_eq!(infer_json_number("1.0e2"), Value::Float(100.0));
        assert_eq!(infer_json_number("1e400"), Value::String);
    }

    #[test]
    fn type_join_is_a_lattice() {
        use ValueType::*;
        let all = [Boolean, Integer, Float, Date, Timestamp, String];
        for a in all {
            assert_eq!(a.join(a), a);
            assert_eq!(a.join(String), String);
            for b in all {
                assert_eq!(a.join(b), b.join(a));
                for c in all {
                    assert_eq!(a.join(b).join(c), a.join(b.join(c)));
                }
            }
        }
        assert_eq!(Integer.join(Float), Float);
        assert_eq!(Date.join(Timestamp), Timestamp);
        assert_eq!(Boolean.join(Integer), String);
    }
}
