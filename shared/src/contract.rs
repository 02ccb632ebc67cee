//! Data contracts: what a dataset's files must hold, read from `contracts/*.toml`.
//!
//! A [`Contract`] owns the input keys under its prefix. It names the dataset, the format
//! (or leaves it to detection), the columns with their [`ColumnType`], nullability and
//! [`Constraints`], what to do with a header that differs from the columns
//! ([`HeaderPolicy`]), and how many rejected records a file may have ([`RejectionPolicy`]).
//! [`Contracts`] is the set of them, checked together (one owner per key).
//!
//! Each record is checked on its own: a [`Binding`] (the contract matched to a file's header)
//! turns a record's fields into typed [`Value`]s, or says why the record is rejected
//! ([`Rejection`]). The file format is documented in `docs/contracts.md`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::config::Format;
use crate::infer::{self, Value as Inferred};
use crate::job::{CURATED_PREFIX, REJECTED_PREFIX};

/// The longest dataset name: it names a Glue table (at most 255) and an S3 prefix segment;
/// kept short so that derived names fit everywhere.
pub const MAX_DATASET_NAME: usize = 64;
/// The largest decimal precision (Parquet's and Athena's limit for DECIMAL is 38 digits).
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// The type of a contract's column, as it lands in Parquet and Athena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// `true` or `false` (any letter case).
    Boolean,
    /// A 32-bit signed integer.
    Int32,
    /// A 64-bit signed integer.
    Int64,
    /// A 64-bit IEEE 754 float (finite).
    Float64,
    /// A decimal number with `precision` digits, `scale` of them after the point.
    Decimal {
        /// Total digits, 1 to 38.
        precision: u8,
        /// Digits after the point, at most `precision`.
        scale: u8,
    },
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An instant, microseconds in UTC; text without a zone is read as UTC.
    Timestamp,
    /// UTF-8 text.
    String,
}

impl ColumnType {
    /// Every type name as a contract spells it (`decimal` takes `(precision, scale)`).
    pub const NAMES: [&'static str; 8] = [
        "boolean",
        "int32",
        "int64",
        "float64",
        "decimal(p, s)",
        "date",
        "timestamp",
        "string",
    ];

    /// The type's name in the Glue Data Catalog (Hive DDL), as Athena shows it.
    pub fn glue_name(self) -> String {
        match self {
            ColumnType::Boolean => "boolean".into(),
            ColumnType::Int32 => "int".into(),
            ColumnType::Int64 => "bigint".into(),
            ColumnType::Float64 => "double".into(),
            ColumnType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            ColumnType::Date => "date".into(),
            ColumnType::Timestamp => "timestamp".into(),
            ColumnType::String => "string".into(),
        }
    }

    /// Reads `text` as a value of this type.
    ///
    /// The common shape of each type is read by a parser of that type alone (an integer of
    /// up to 18 digits, `true`/`false`, `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ`); any other text,
    /// and every rejection, takes the general reading, type inference then a check of the
    /// inferred type. The fast paths only ever accept what the general reading accepts, with
    /// the same value, so the two cannot disagree.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn parse(self, text: &str) -> Result<Value<'_>, RejectReason> {
        let bytes = text.as_bytes();
        let fast = match self {
            ColumnType::String => return Ok(Value::String(text)),
            ColumnType::Decimal { precision, scale } => {
                return parse_decimal(text, precision, scale);
            }
            ColumnType::Int64 => short_integer(bytes).map(Value::Int64),
            ColumnType::Int32 => short_integer(bytes)
                .and_then(|v| i32::try_from(v).ok())
                .map(Value::Int32),
            ColumnType::Boolean => match bytes.len() {
                4 if bytes.eq_ignore_ascii_case(b"true") => Some(Value::Boolean(true)),
                5 if bytes.eq_ignore_ascii_case(b"false") => Some(Value::Boolean(false)),
                _ => None,
            },
            ColumnType::Date => match infer::common_temporal(bytes) {
                Some(Inferred::Date(days)) => i32::try_from(days).ok().map(Value::Date),
                _ => None,
            },
            ColumnType::Timestamp => match infer::common_temporal(bytes) {
                Some(Inferred::Timestamp(micros)) => Some(Value::Timestamp(micros)),
                Some(Inferred::Date(days)) => Some(Value::Timestamp(days * 86_400_000_000)),
                _ => None,
            },
            ColumnType::Float64 => None,
        };
        match fast {
            Some(value) => Ok(value),
            None => self.parse_inferred(text),
        }
    }

    /// [`ColumnType::parse`] by type inference: the general reading, for every text.
    #[inline(never)]
    fn parse_inferred(self, text: &str) -> Result<Value<'_>, RejectReason> {
        match self {
            ColumnType::String => Ok(Value::String(text)),
            ColumnType::Decimal { precision, scale } => parse_decimal(text, precision, scale),
            _ => self.read_inferred(infer::infer_text(text), text),
        }
    }

    /// [`ColumnType::parse`] of `text` given `inferred`, what type inference made of it
    /// (`infer_text(text)`): the general reading without inferring again. The profile infers
    /// every field's type anyway; the contract stage types the field from that. (A decimal is
    /// read from its text, whatever it was inferred as.)
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn read_inferred(
        self,
        inferred: Inferred,
        text: &str,
    ) -> Result<Value<'_>, RejectReason> {
        let mismatch = || RejectReason::Type;
        match self {
            ColumnType::String => Ok(Value::String(text)),
            ColumnType::Boolean => match inferred {
                Inferred::Boolean(b) => Ok(Value::Boolean(b)),
                _ => Err(mismatch()),
            },
            ColumnType::Int32 => match inferred {
                Inferred::Integer(i) => i32::try_from(i)
                    .map(Value::Int32)
                    .map_err(|_| RejectReason::Range),
                Inferred::Float(_) if is_integer_text(text) => Err(RejectReason::Range),
                _ => Err(mismatch()),
            },
            ColumnType::Int64 => match inferred {
                Inferred::Integer(i) => Ok(Value::Int64(i)),
                // An integer too large for 64 bits is inferred as a float.
                Inferred::Float(_) if is_integer_text(text) => Err(RejectReason::Range),
                _ => Err(mismatch()),
            },
            ColumnType::Float64 => match inferred {
                #[allow(clippy::cast_precision_loss)]
                Inferred::Integer(i) => Ok(Value::Float64(i as f64)),
                Inferred::Float(f) if f.is_finite() => Ok(Value::Float64(f)),
                Inferred::Float(_) => Err(RejectReason::Range),
                _ => Err(mismatch()),
            },
            ColumnType::Decimal { precision, scale } => parse_decimal(text, precision, scale),
            ColumnType::Date => match inferred {
                Inferred::Date(days) => i32::try_from(days)
                    .map(Value::Date)
                    .map_err(|_| RejectReason::Range),
                _ => Err(mismatch()),
            },
            ColumnType::Timestamp => match inferred {
                Inferred::Timestamp(micros) => Ok(Value::Timestamp(micros)),
                Inferred::Date(days) => Ok(Value::Timestamp(days * 86_400_000_000)),
                _ => Err(mismatch()),
            },
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Boolean => f.write_str("boolean"),
            ColumnType::Int32 => f.write_str("int32"),
            ColumnType::Int64 => f.write_str("int64"),
            ColumnType::Float64 => f.write_str("float64"),
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision}, {scale})"),
            ColumnType::Date => f.write_str("date"),
            ColumnType::Timestamp => f.write_str("timestamp"),
            ColumnType::String => f.write_str("string"),
        }
    }
}

impl std::str::FromStr for ColumnType {
    type Err = String;

    fn from_str(text: &str) -> Result<ColumnType, String> {
        let text = text.trim();
        Ok(match text {
            "boolean" => ColumnType::Boolean,
            "int32" => ColumnType::Int32,
            "int64" => ColumnType::Int64,
            "float64" => ColumnType::Float64,
            "date" => ColumnType::Date,
            "timestamp" => ColumnType::Timestamp,
            "string" => ColumnType::String,
            _ => {
                let Some(arguments) = text
                    .strip_prefix("decimal")
                    .map(str::trim_start)
                    .and_then(|rest| rest.strip_prefix('('))
                    .and_then(|rest| rest.strip_suffix(')'))
                else {
                    return Err(format!(
                        "unknown type `{text}`: expected one of {}",
                        ColumnType::NAMES.join(", ")
                    ));
                };
                let numbers: Vec<Option<u8>> = arguments
                    .split(',')
                    .map(|n| n.trim().parse().ok())
                    .collect();
                let [Some(precision), Some(scale)] = numbers[..] else {
                    return Err(format!(
                        "`{text}`: a decimal is `decimal(precision, scale)`, e.g. decimal(12, 2)"
                    ));
                };
                if !(1..=MAX_DECIMAL_PRECISION).contains(&precision) || scale > precision {
                    return Err(format!(
                        "`{text}`: the precision must be 1 to {MAX_DECIMAL_PRECISION} and the \
                         scale at most the precision"
                    ));
                }
                ColumnType::Decimal { precision, scale }
            }
        })
    }
}

/// Whether `text` is an optionally signed run of digits (an integer, whatever its size).
fn is_integer_text(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `[+-]?digits` with at most 18 digits (so no overflow), the common shape of an integer
/// field, as its value; `None` for any other text, which the general reading then decides.
#[inline]
fn short_integer(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut value: i64 = 0;
    for &byte in digits {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + i64::from(digit);
    }
    Some(if negative { -value } else { value })
}

/// The common shape of a decimal(p ≤ 18) field, `[+-]digits[.digits]` that fits the
/// precision and scale, as its unscaled value, in one pass with no wider integer than u64;
/// `None` for any other text (rejections included), which [`parse_decimal`]'s general reading
/// then decides.
#[inline]
fn short_decimal(bytes: &[u8], precision: u8, scale: u8) -> Option<i128> {
    let (negative, digits) = match bytes.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, bytes),
    };
    let precision = usize::from(precision);
    let mut value: u64 = 0;
    // Whole digits from the first that is not zero; with the fraction's digits, at most the
    // precision (at most 18), so `value` stays below 10^18.
    let mut significant = 0;
    let mut at = 0;
    while let Some(digit) = digits.get(at).map(|b| b.wrapping_sub(b'0')) {
        if digit > 9 {
            break;
        }
        value = value * 10 + u64::from(digit);
        significant += usize::from(value != 0);
        if significant > precision {
            return None;
        }
        at += 1;
    }
    let whole_len = at;
    let mut fraction_len = 0;
    if digits.get(at) == Some(&b'.') {
        at += 1;
        while let Some(digit) = digits.get(at).map(|b| b.wrapping_sub(b'0')) {
            if digit > 9 {
                break;
            }
            value = value * 10 + u64::from(digit);
            fraction_len += 1;
            if significant + fraction_len > precision {
                return None;
            }
            at += 1;
        }
    }
    let scale = usize::from(scale);
    if at != digits.len()
        || whole_len + fraction_len == 0
        || fraction_len > scale
        || significant + scale > precision
    {
        return None;
    }
    // `scale - fraction_len` is at most the scale, itself at most 18.
    #[allow(clippy::cast_possible_truncation)]
    let unscaled = i128::from(value * 10u64.pow((scale - fraction_len) as u32));
    Some(if negative { -unscaled } else { unscaled })
}

/// `[+-]digits[.digits]` as an unscaled integer of `scale` fraction digits. More fraction
/// digits than the scale is a rejection, never a silent rounding.
#[inline]
fn parse_decimal(text: &str, precision: u8, scale: u8) -> Result<Value<'_>, RejectReason> {
    let bytes = text.as_bytes();
    if precision <= 18
        && let Some(unscaled) = short_decimal(bytes, precision, scale)
    {
        return Ok(Value::Decimal(unscaled));
    }
    let (negative, unsigned) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    // The whole part runs to the first non-digit, which must be the point or the end.
    let whole_len = unsigned.iter().take_while(|b| b.is_ascii_digit()).count();
    let (whole, fraction) = match unsigned.get(whole_len) {
        None => (unsigned, &[][..]),
        Some(b'.') => (&unsigned[..whole_len], &unsigned[whole_len + 1..]),
        Some(_) => return Err(RejectReason::Type),
    };
    if (whole.is_empty() && fraction.is_empty()) || !fraction.iter().all(u8::is_ascii_digit) {
        return Err(RejectReason::Type);
    }
    let scale = usize::from(scale);
    if fraction.len() > scale {
        return Err(RejectReason::Range);
    }
    let zeros = whole.iter().take_while(|&&b| b == b'0').count();
    let whole = &whole[zeros..];
    if whole.len() + scale > usize::from(precision) {
        return Err(RejectReason::Range);
    }
    let padding = scale - fraction.len();
    let unscaled = if precision <= 18 {
        // At most 18 digits: below 10^18, no overflow of u64.
        let mut unscaled: u64 = 0;
        for &b in whole.iter().chain(fraction) {
            unscaled = unscaled * 10 + u64::from(b - b'0');
        }
        // `padding` is at most the scale, itself at most 18.
        #[allow(clippy::cast_possible_truncation)]
        let padding = padding as u32;
        i128::from(unscaled * 10u64.pow(padding))
    } else {
        let mut unscaled: i128 = 0;
        for &b in whole
            .iter()
            .chain(fraction)
            .chain(std::iter::repeat_n(&b'0', padding))
        {
            // At most 38 digits: no overflow of i128 (up to about 1.7e38).
            unscaled = unscaled * 10 + i128::from(b - b'0');
        }
        unscaled
    };
    Ok(Value::Decimal(if negative { -unscaled } else { unscaled }))
}

/// Type inference of `bytes` ([`infer::infer_bytes`]) for an integer column's field: its
/// common shape, `[+-]digits` of at most 18 digits ([`short_integer`]), is the integer it
/// reads, without the dispatch of inference; any other text is inferred as it is.
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn infer_integer_first(bytes: &[u8]) -> Inferred {
    match short_integer(bytes) {
        Some(integer) => Inferred::Integer(integer),
        None => infer::infer_bytes(bytes),
    }
}

/// Type inference of `bytes` ([`infer::infer_bytes`]) for a date or timestamp column's
/// field: its common shapes ([`infer::common_temporal`]) first, without the dispatch of
/// inference; any other text is inferred as it is.
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn infer_temporal_first(bytes: &[u8]) -> Inferred {
    match infer::common_temporal(bytes) {
        Some(temporal) => temporal,
        None => infer::infer_bytes(bytes),
    }
}

/// Type inference of `bytes` ([`infer::infer_bytes`]) for a boolean column's field:
/// `true` and `false` first, without the dispatch of inference; any other text is inferred
/// as it is.
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn infer_boolean_first(bytes: &[u8]) -> Inferred {
    match bytes {
        b"true" => Inferred::Boolean(true),
        b"false" => Inferred::Boolean(false),
        _ => infer::infer_bytes(bytes),
    }
}

/// Type inference of `bytes` ([`infer::infer_bytes`]) and, when [`short_decimal`] reads it
/// as a decimal(`precision` ≤ 18, `scale`), its unscaled value, in one pass over the common
/// shape of such a field, `-?digits[.digits]` of at most 15 digits (the shape whose float
/// inference is exact in one division, as there). Any other text gives
/// `(infer_bytes(bytes), None)`, and `None` leaves the decimal to [`parse_decimal`], which
/// names the rejection.
#[inline]
pub(crate) fn infer_with_decimal(
    bytes: &[u8],
    precision: u8,
    scale: u8,
) -> (Inferred, Option<i64>) {
    const POWERS_OF_TEN: [u64; 19] = {
        let mut powers = [1; 19];
        let mut i = 1;
        while i < 19 {
            powers[i] = powers[i - 1] * 10;
            i += 1;
        }
        powers
    };
    use infer::{EXACT_POWERS_OF_TEN as POWERS, leading_digits};
    let negative = bytes.first() == Some(&b'-');
    let digits = &bytes[usize::from(negative)..];
    let (whole_len, whole) = leading_digits(digits);
    let (point, fraction_len, fraction) = match digits.get(whole_len) {
        Some(b'.') => {
            let (len, value) = leading_digits(&digits[whole_len + 1..]);
            (true, len, value)
        }
        _ => (false, 0, 0),
    };
    if whole_len + usize::from(point) + fraction_len != digits.len()
        || whole_len == 0
        || (point && fraction_len == 0)
        || whole_len + fraction_len > 15
        || precision > 18
    {
        return (infer::infer_bytes(bytes), None);
    }
    // At most 15 digits: below 2^53, exact as an i64 and as an f64.
    let value = whole * POWERS_OF_TEN[fraction_len] + fraction;
    #[allow(clippy::cast_possible_wrap, clippy::cast_precision_loss)]
    let inferred = if point {
        // Converted from an i64: one instruction (from a u64, six).
        let float = value as i64 as f64 / POWERS[fraction_len];
        Inferred::Float(if negative { -float } else { float })
    } else {
        let integer = value as i64;
        Inferred::Integer(if negative { -integer } else { integer })
    };
    let scale = usize::from(scale);
    // The whole part's significant digits and the scale fit the precision: the whole part is
    // below 10^(precision - scale).
    let fits = usize::from(precision)
        .checked_sub(scale)
        .is_some_and(|whole_digits| whole < POWERS_OF_TEN[whole_digits]);
    if fraction_len > scale || !fits {
        return (inferred, None);
    }
    // Below 10^precision ≤ 10^18: no overflow.
    #[allow(clippy::cast_possible_wrap)]
    let unscaled = (value * POWERS_OF_TEN[scale - fraction_len]) as i64;
    (inferred, Some(if negative { -unscaled } else { unscaled }))
}

/// One typed value of a record that meets its contract.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A boolean.
    Boolean(bool),
    /// A 32-bit integer.
    Int32(i32),
    /// A 64-bit integer.
    Int64(i64),
    /// A finite float.
    Float64(f64),
    /// A decimal's unscaled value (the column's type gives the scale).
    Decimal(i128),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    /// Text, borrowed from the record.
    String(&'a str),
}

impl Value<'_> {
    /// Orders two values of the same column type; `None` for values of different types.
    fn compare(&self, other: &Value<'_>) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Value::Boolean(a), Value::Boolean(b)) => Some(a.cmp(b)),
            (Value::Int32(a), Value::Int32(b)) | (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
            (Value::Int64(a), Value::Int64(b)) | (Value::Timestamp(a), Value::Timestamp(b)) => {
                Some(a.cmp(b))
            }
            (Value::Float64(a), Value::Float64(b)) => a.partial_cmp(b),
            (Value::Decimal(a), Value::Decimal(b)) => Some(a.cmp(b)),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

/// Optional checks on a column's values, beyond its type.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Constraints {
    /// The smallest allowed value (as text in the contract, read with the column's type).
    pub min: Option<String>,
    /// The largest allowed value.
    pub max: Option<String>,
    /// The only values allowed, compared as text.
    pub allowed: Option<Vec<String>>,
    /// The longest allowed text, in characters.
    pub max_length: Option<usize>,
}

/// One column of a contract.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// The column's name: the header field it matches, and its name in Parquet and Athena.
    pub name: String,
    /// Its type.
    pub column_type: ColumnType,
    /// Whether an empty field (CSV) or a null or absent key (JSON Lines) is allowed.
    pub nullable: bool,
    /// Further checks.
    pub constraints: Constraints,
}

impl ColumnSpec {
    /// Checks one field's text against this column. `None` is no value: an unquoted empty
    /// CSV field, a JSON `null` or absent key. `Some("")` is an empty string (a quoted `""`
    /// in CSV, `""` in JSON): a value in a `string` column, no value in any other.
    // Forced: the hot loop of a record's check calls it once per field; as a call it spends
    // more on moving its result than on its work.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn check<'a>(&self, text: Option<&'a str>) -> Result<Option<Value<'a>>, RejectReason> {
        let text = match text {
            Some(text) if !text.is_empty() || self.column_type == ColumnType::String => text,
            _ => {
                return if self.nullable {
                    Ok(None)
                } else {
                    Err(RejectReason::Null)
                };
            }
        };
        let value = self.column_type.parse(text)?;
        if self.constrained() {
            self.check_constraints(text, &value)?;
        }
        Ok(Some(value))
    }

    /// Whether the column has [`Constraints`] beyond its type and nullability.
    #[inline]
    pub(crate) fn constrained(&self) -> bool {
        let c = &self.constraints;
        c.allowed.is_some() || c.max_length.is_some() || c.min.is_some() || c.max.is_some()
    }

    /// The [`Constraints`] on a value of this column's type read from `text`.
    #[inline(never)]
    pub(crate) fn check_constraints(
        &self,
        text: &str,
        value: &Value<'_>,
    ) -> Result<(), RejectReason> {
        let c = &self.constraints;
        if let Some(allowed) = &c.allowed
            && !allowed.iter().any(|a| a == text)
        {
            return Err(RejectReason::NotAllowed);
        }
        if let Some(max_length) = c.max_length
            && text.chars().count() > max_length
        {
            return Err(RejectReason::TooLong);
        }
        for (bound, failing, reason) in [
            (&c.min, std::cmp::Ordering::Less, RejectReason::BelowMin),
            (&c.max, std::cmp::Ordering::Greater, RejectReason::AboveMax),
        ] {
            if let Some(bound) = bound
                && let Ok(bound) = self.column_type.parse(bound)
                && value.compare(&bound) == Some(failing)
            {
                return Err(reason);
            }
        }
        Ok(())
    }
}

/// What to do with a file's header when it differs from the contract's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderPolicy {
    /// A contract column the header lacks: fail the file, or (for a nullable column) read it
    /// as null in every record.
    pub missing_columns: MissingColumns,
    /// A header column the contract lacks: ignore it, or fail the file.
    pub extra_columns: ExtraColumns,
    /// Columns in another order than the contract's: match them by name, or fail the file.
    pub order: ColumnOrder,
}

impl Default for HeaderPolicy {
    fn default() -> Self {
        HeaderPolicy {
            missing_columns: MissingColumns::Fail,
            extra_columns: ExtraColumns::Ignore,
            order: ColumnOrder::ByName,
        }
    }
}

/// See [`HeaderPolicy::missing_columns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingColumns {
    /// The file fails with `ContractViolation`.
    Fail,
    /// A missing nullable column is null; a missing required column still fails the file.
    Null,
}

/// See [`HeaderPolicy::extra_columns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtraColumns {
    /// Extra columns are not written.
    Ignore,
    /// The file fails with `ContractViolation`.
    Fail,
}

/// See [`HeaderPolicy::order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnOrder {
    /// Columns are matched by name, in any order.
    ByName,
    /// The header must list the contract's columns in the contract's order.
    Exact,
}

/// How many rejected records a file may have before the whole file fails.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectionPolicy {
    /// More rejected records than this fails the file (none: no count limit).
    #[serde(default)]
    pub max_count: Option<u64>,
    /// A larger share (0.0–1.0) of rejected records fails the file (judged at the end); 0.1
    /// unless the contract says otherwise (1.0: no share limit).
    #[serde(default = "default_max_share")]
    pub max_share: Option<f64>,
}

fn default_max_share() -> Option<f64> {
    RejectionPolicy::default().max_share
}

impl Default for RejectionPolicy {
    /// No count limit; at most 10 % of a file's records rejected.
    fn default() -> Self {
        RejectionPolicy {
            max_count: None,
            max_share: Some(0.1),
        }
    }
}

/// A partition column, taken from a `name=value/` segment of the key's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSpec {
    /// The column's name, as the key's segment spells it (`region` in `region=eu/`).
    pub name: String,
    /// Its type: `string`, `int32`, `int64` or `date`.
    pub column_type: ColumnType,
}

/// The format a contract fixes; `None` fields are detected as for any file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FormatSpec {
    /// CSV or JSON Lines.
    pub format: Option<Format>,
    /// The delimiter of delimited text.
    pub delimiter: Option<u8>,
    /// Whether delimited text has a header row.
    pub header: Option<bool>,
}

/// One dataset's contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    /// The dataset's name: `[a-z][a-z0-9_]*`, the Glue table's name and the output folder's.
    pub dataset: String,
    /// The input keys this contract owns (ends with `/`).
    pub prefix: String,
    /// The format, where the contract fixes it.
    pub format: FormatSpec,
    /// The columns, in output order.
    pub columns: Vec<ColumnSpec>,
    /// Partition columns from the key's path, outermost first.
    pub partitions: Vec<PartitionSpec>,
    /// What to do with a header that differs from the columns.
    pub header: HeaderPolicy,
    /// When rejected records fail the whole file.
    pub rejects: RejectionPolicy,
    /// The file it was read from, for messages.
    pub source: PathBuf,
}

/// A contract file that cannot be used: the file, the line, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct ContractError {
    /// The contract file.
    pub path: PathBuf,
    /// The line (from 1) the problem is on; 0 when it concerns the whole file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The TOML document, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractFile {
    dataset: Spanned<String>,
    prefix: Spanned<String>,
    #[serde(default)]
    format: Option<FormatFile>,
    #[serde(default)]
    header: Option<HeaderFile>,
    #[serde(default)]
    rejects: Option<RejectionPolicy>,
    #[serde(default)]
    partitions: Vec<PartitionFile>,
    columns: Spanned<Vec<ColumnFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatFile {
    #[serde(rename = "type")]
    format: Option<Spanned<String>>,
    delimiter: Option<Spanned<String>>,
    header: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderFile {
    missing_columns: Option<MissingColumns>,
    extra_columns: Option<ExtraColumns>,
    order: Option<ColumnOrder>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitionFile {
    name: Spanned<String>,
    #[serde(rename = "type")]
    column_type: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnFile {
    name: Spanned<String>,
    #[serde(rename = "type")]
    column_type: Spanned<String>,
    #[serde(default = "yes")]
    nullable: bool,
    min: Option<Spanned<toml::Value>>,
    max: Option<Spanned<toml::Value>>,
    allowed: Option<Vec<String>>,
    max_length: Option<usize>,
}

fn yes() -> bool {
    true
}

/// Reads contract files, turning byte spans into line numbers.
struct ContractReader<'a> {
    path: &'a Path,
    text: &'a str,
}

impl ContractReader<'_> {
    fn error_at(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ContractError {
        let line = self.text[..span.start.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1;
        ContractError {
            path: self.path.to_owned(),
            line,
            message: message.into(),
        }
    }

    fn read(&self) -> Result<Contract, ContractError> {
        let file: ContractFile = toml::from_str(self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            self.error_at(span, e.message().to_owned())
        })?;
        let dataset = file.dataset.get_ref();
        if !is_identifier(dataset) || dataset.len() > MAX_DATASET_NAME {
            return Err(self.error_at(
                file.dataset.span(),
                format!(
                    "dataset `{dataset}`: a name of lowercase letters, digits and `_`, starting \
                     with a letter, at most {MAX_DATASET_NAME} characters (it names the Athena table)"
                ),
            ));
        }
        let prefix = file.prefix.get_ref();
        if !prefix.ends_with('/') || prefix.starts_with('/') || prefix.contains("//") {
            return Err(self.error_at(
                file.prefix.span(),
                format!("prefix `{prefix}`: a key prefix ending with `/`, e.g. `incoming/sales/`"),
            ));
        }
        let format = match file.format {
            None => FormatSpec::default(),
            Some(f) => self.format(&f)?,
        };
        let header = file.header.map_or_else(HeaderPolicy::default, |h| {
            let default = HeaderPolicy::default();
            HeaderPolicy {
                missing_columns: h.missing_columns.unwrap_or(default.missing_columns),
                extra_columns: h.extra_columns.unwrap_or(default.extra_columns),
                order: h.order.unwrap_or(default.order),
            }
        });
        let rejects = file.rejects.unwrap_or_default();
        if let Some(share) = rejects.max_share
            && !(0.0..=1.0).contains(&share)
        {
            return Err(self.error_at(0..0, "rejects.max_share must be between 0.0 and 1.0"));
        }
        let columns_span = file.columns.span();
        let mut columns: Vec<ColumnSpec> = Vec::new();
        for column in file.columns.into_inner() {
            let spec = self.column(column)?;
            columns.push(spec);
        }
        if columns.is_empty() {
            return Err(self.error_at(columns_span, "a contract needs at least one column"));
        }
        let partitions = self.partitions(file.partitions)?;
        let mut names: Vec<&str> = columns
            .iter()
            .map(|c| c.name.as_str())
            .chain(partitions.iter().map(|p| p.name.as_str()))
            .collect();
        names.sort_unstable();
        if let Some([name, _]) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(self.error_at(
                columns_span,
                format!("column `{name}` is named twice (columns and partitions share names)"),
            ));
        }
        Ok(Contract {
            dataset: dataset.clone(),
            prefix: prefix.clone(),
            format,
            columns,
            partitions,
            header,
            rejects,
            source: self.path.to_owned(),
        })
    }

    fn partitions(
        &self,
        partitions: Vec<PartitionFile>,
    ) -> Result<Vec<PartitionSpec>, ContractError> {
        let mut specs = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let name = partition.name.get_ref();
            if !is_identifier(name) {
                return Err(self.error_at(
                    partition.name.span(),
                    format!("partition `{name}`: lowercase letters, digits and `_`"),
                ));
            }
            let column_type = match &partition.column_type {
                None => ColumnType::String,
                Some(t) => match t.get_ref().parse() {
                    Ok(
                        ty @ (ColumnType::String
                        | ColumnType::Int32
                        | ColumnType::Int64
                        | ColumnType::Date),
                    ) => ty,
                    _ => {
                        return Err(self.error_at(
                            t.span(),
                            format!(
                                "partition `{name}`: type `{}`: expected string, int32, int64 or date",
                                t.get_ref()
                            ),
                        ));
                    }
                },
            };
            specs.push(PartitionSpec {
                name: name.clone(),
                column_type,
            });
        }
        Ok(specs)
    }

    fn format(&self, f: &FormatFile) -> Result<FormatSpec, ContractError> {
        let format = match &f.format {
            None => None,
            Some(name) => Some(match name.get_ref().as_str() {
                "csv" => Format::Csv,
                "json_lines" => Format::JsonLines,
                other => {
                    return Err(self.error_at(
                        name.span(),
                        format!("format type `{other}`: expected `csv` or `json_lines`"),
                    ));
                }
            }),
        };
        let delimiter = match &f.delimiter {
            None => None,
            Some(d) => match d.get_ref().as_bytes() {
                [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Some(*b),
                _ if d.get_ref() == "\\t" => Some(b'\t'),
                _ => {
                    return Err(self.error_at(
                        d.span(),
                        format!(
                            "delimiter `{}`: one ASCII character other than a quote or line break",
                            d.get_ref()
                        ),
                    ));
                }
            },
        };
        if format == Some(Format::JsonLines) && (delimiter.is_some() || f.header.is_some()) {
            return Err(self.error_at(
                f.format.as_ref().map_or(0..0, Spanned::span),
                "JSON Lines has no delimiter or header",
            ));
        }
        Ok(FormatSpec {
            format,
            delimiter,
            header: f.header,
        })
    }

    fn column(&self, column: ColumnFile) -> Result<ColumnSpec, ContractError> {
        let name = column.name.get_ref();
        if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
            return Err(self.error_at(
                column.name.span(),
                format!("column name `{name}`: 1 to 255 characters, no control characters"),
            ));
        }
        let column_type: ColumnType =
            column
                .column_type
                .get_ref()
                .parse()
                .map_err(|message: String| {
                    self.error_at(
                        column.column_type.span(),
                        format!("column `{name}`: {message}"),
                    )
                })?;
        let mut constraints = Constraints {
            allowed: column.allowed,
            max_length: column.max_length,
            ..Constraints::default()
        };
        for (bound, slot) in [
            (column.min, &mut constraints.min),
            (column.max, &mut constraints.max),
        ] {
            let Some(bound) = bound else { continue };
            let text = match bound.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Datetime(d) => d.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(_) | toml::Value::Table(_) => String::new(),
            };
            if column_type == ColumnType::String || column_type.parse(&text).is_err() {
                return Err(self.error_at(
                    bound.span(),
                    format!(
                        "column `{name}`: bound `{text}` is not a {column_type} value \
                         (min and max apply to numbers, dates and timestamps)"
                    ),
                ));
            }
            *slot = Some(text);
        }
        Ok(ColumnSpec {
            name: name.clone(),
            column_type,
            nullable: column.nullable,
            constraints,
        })
    }
}

fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

impl Contract {
    /// Reads one contract from `text`, the content of the file `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Contract, ContractError> {
        ContractReader { path, text }.read()
    }

    /// Where the outputs of the object stored under `key` go: the key relative to the
    /// contract's prefix, under `curated/<dataset>/` with `.parquet` added, and under
    /// `rejected/<dataset>/` with `.rejects.jsonl` added. One source key, one output key each:
    /// a new version of the source replaces its outputs.
    pub fn output_keys(&self, key: &str) -> OutputKeys {
        let relative = key.strip_prefix(&self.prefix).unwrap_or(key);
        OutputKeys {
            parquet: format!("{CURATED_PREFIX}{}/{relative}.parquet", self.dataset),
            rejects: format!("{REJECTED_PREFIX}{}/{relative}.rejects.jsonl", self.dataset),
        }
    }

    /// The partition values in `key` (relative to nothing: the whole key), in the contract's
    /// order, or the name of the partition the key lacks or spells wrongly.
    pub fn partition_values<'k>(&self, key: &'k str) -> Result<Vec<&'k str>, String> {
        let relative = key.strip_prefix(&self.prefix).unwrap_or(key);
        let segments: Vec<&str> = relative.split('/').collect();
        let folders = &segments[..segments.len().saturating_sub(1)];
        self.partitions
            .iter()
            .map(|p| {
                let value = folders
                    .iter()
                    .find_map(|s| s.strip_prefix(p.name.as_str())?.strip_prefix('='))
                    .ok_or_else(|| format!("the key has no `{}=` folder", p.name))?;
                if value.is_empty() || p.column_type.parse(value).is_err() {
                    return Err(format!(
                        "partition `{}={value}` is not a {} value",
                        p.name, p.column_type
                    ));
                }
                Ok(value)
            })
            .collect()
    }

    /// Matches the contract to a file's header (`None`: no header, columns by position).
    pub fn bind(&self, header: Option<&[String]>) -> Result<Binding, String> {
        let Some(header) = header else {
            return Ok(Binding {
                sources: (0..self.columns.len()).map(Some).collect(),
                fields: Some(self.columns.len()),
            });
        };
        let policy = self.header;
        let mut sources = Vec::with_capacity(self.columns.len());
        let mut missing = Vec::new();
        for column in &self.columns {
            let found = header.iter().position(|h| h == &column.name);
            if found.is_none()
                && (policy.missing_columns == MissingColumns::Fail || !column.nullable)
            {
                missing.push(column.name.as_str());
            }
            sources.push(found);
        }
        if !missing.is_empty() {
            return Err(format!(
                "the header lacks the column(s) {}",
                quoted_list(missing.iter().copied())
            ));
        }
        let extra: Vec<&str> = header
            .iter()
            .filter(|h| !self.columns.iter().any(|c| &c.name == *h))
            .map(String::as_str)
            .collect();
        if policy.extra_columns == ExtraColumns::Fail && !extra.is_empty() {
            return Err(format!(
                "the header has column(s) the contract lacks: {}",
                quoted_list(extra.iter().copied())
            ));
        }
        if policy.order == ColumnOrder::Exact {
            let found: Vec<usize> = sources.iter().flatten().copied().collect();
            if found.windows(2).any(|w| w[0] > w[1]) {
                return Err(format!(
                    "the header's columns are not in the contract's order ({})",
                    quoted_list(self.columns.iter().map(|c| c.name.as_str()))
                ));
            }
        }
        Ok(Binding {
            sources,
            fields: Some(header.len()),
        })
    }
}

fn quoted_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The keys of one object's outputs under a contract ([`Contract::output_keys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputKeys {
    /// The Parquet file of the records that meet the contract.
    pub parquet: String,
    /// The rejected records, JSON Lines.
    pub rejects: String,
}

/// A contract matched to one file's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// For each contract column, the index of the file's field that holds it (`None`: a
    /// missing nullable column, always null).
    pub sources: Vec<Option<usize>>,
    /// How many fields each record must have (`None`: any, as for JSON Lines).
    pub fields: Option<usize>,
}

/// Why a record does not meet its contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The record is malformed (bad quoting, not UTF-8, too long): it has no fields to check.
    Malformed,
    /// The record has another number of fields than the header.
    FieldCount,
    /// An empty or absent value in a column that is not nullable.
    Null,
    /// A value that is not of the column's type.
    Type,
    /// A value of the type but outside what it can hold (an int32 overflow, too many digits
    /// for a decimal).
    Range,
    /// A value below the column's `min`.
    BelowMin,
    /// A value above the column's `max`.
    AboveMax,
    /// A value not in the column's `allowed` list.
    NotAllowed,
    /// Text longer than the column's `max_length`.
    TooLong,
}

impl RejectReason {
    /// The reason as reports and rejects files spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::FieldCount => "field_count",
            RejectReason::Null => "null",
            RejectReason::Type => "type",
            RejectReason::Range => "range",
            RejectReason::BelowMin => "below_min",
            RejectReason::AboveMax => "above_max",
            RejectReason::NotAllowed => "not_allowed",
            RejectReason::TooLong => "too_long",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected record's first problem: the column (by contract index, `None` for the whole
/// record) and the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// The contract column at fault, if one is.
    pub column: Option<usize>,
    /// Why.
    pub reason: RejectReason,
}

impl Binding {
    /// Checks one delimited record's `fields` against `contract`, filling `out` with one value
    /// per contract column (`None`: null). The fields are read as unquoted CSV gives them: an
    /// empty one has no value. [`Binding::check_values`] tells empty strings apart.
    pub fn check_fields<'r>(
        &self,
        contract: &Contract,
        fields: &[&'r str],
        out: &mut Vec<Option<Value<'r>>>,
    ) -> Result<(), Rejection> {
        let field = |index: usize| fields.get(index).copied().filter(|f| !f.is_empty());
        self.check_record(contract, fields.len(), field, out)
    }

    /// [`Binding::check_fields`] for fields that may be empty strings: `None` has no value
    /// (an unquoted empty field), `Some("")` is an empty string (a quoted `""`); see
    /// [`ColumnSpec::check`].
    pub fn check_values<'r>(
        &self,
        contract: &Contract,
        fields: &[Option<&'r str>],
        out: &mut Vec<Option<Value<'r>>>,
    ) -> Result<(), Rejection> {
        let field = |index: usize| fields.get(index).copied().flatten();
        self.check_record(contract, fields.len(), field, out)
    }

    fn check_record<'r>(
        &self,
        contract: &Contract,
        count: usize,
        field: impl Fn(usize) -> Option<&'r str>,
        out: &mut Vec<Option<Value<'r>>>,
    ) -> Result<(), Rejection> {
        out.clear();
        if self.fields.is_some_and(|n| n != count) {
            return Err(Rejection {
                column: None,
                reason: RejectReason::FieldCount,
            });
        }
        for (index, (column, source)) in contract.columns.iter().zip(&self.sources).enumerate() {
            match column.check(source.and_then(&field)) {
                Ok(value) => out.push(value),
                Err(reason) => {
                    return Err(Rejection {
                        column: Some(index),
                        reason,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Every contract of a deployment: at most one owns a key.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Contracts {
    contracts: Vec<Contract>,
}

impl Contracts {
    /// No contracts: every object is profiled only.
    pub fn none() -> Contracts {
        Contracts::default()
    }

    /// Checks `contracts` together: distinct datasets, prefixes under `input_prefix` that do
    /// not overlap.
    pub fn new(contracts: Vec<Contract>, input_prefix: &str) -> Result<Contracts, ContractError> {
        for (i, contract) in contracts.iter().enumerate() {
            let at = |message: String| ContractError {
                path: contract.source.clone(),
                line: 0,
                message,
            };
            if !contract.prefix.starts_with(input_prefix) || contract.prefix == input_prefix {
                return Err(at(format!(
                    "prefix `{}` is not inside the input prefix `{input_prefix}`: no upload there \
                     would reach the pipeline",
                    contract.prefix
                )));
            }
            for other in &contracts[..i] {
                if other.dataset == contract.dataset {
                    return Err(at(format!(
                        "dataset `{}` is also defined in {}",
                        contract.dataset,
                        other.source.display()
                    )));
                }
                if other.prefix.starts_with(&contract.prefix)
                    || contract.prefix.starts_with(&other.prefix)
                {
                    return Err(at(format!(
                        "prefix `{}` overlaps `{}` of {}: a key would have two contracts",
                        contract.prefix,
                        other.prefix,
                        other.source.display()
                    )));
                }
            }
        }
        Ok(Contracts { contracts })
    }

    /// Reads every `*.toml` file of `dir` (sorted by name) and checks them together. A missing
    /// folder is no contracts.
    pub fn load_dir(dir: &Path, input_prefix: &str) -> Result<Contracts, ContractError> {
        let io_error = |path: &Path, e: std::io::Error| ContractError {
            path: path.to_owned(),
            line: 0,
            message: e.to_string(),
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contracts::none()),
            Err(e) => return Err(io_error(dir, e)),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| io_error(dir, e))?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                paths.push(path);
            }
        }
        paths.sort();
        let mut contracts = Vec::with_capacity(paths.len());
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
            contracts.push(Contract::parse(&path, &text)?);
        }
        Contracts::new(contracts, input_prefix)
    }

    /// The contract that owns `key`, if any.
    pub fn owner(&self, key: &str) -> Option<&Contract> {
        self.contracts.iter().find(|c| key.starts_with(&c.prefix))
    }

    /// Every contract, in the order they were given (by file name for [`Self::load_dir`]).
    pub fn iter(&self) -> impl Iterator<Item = &Contract> {
        self.contracts.iter()
    }

    /// Whether there is no contract.
    pub fn is_empty(&self) -> bool {
        self.contracts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALES: &str = r#"
dataset = "sales"
prefix = "incoming/sales/"

[format]
type = "csv"
header = true

[rejects]
max_share = 0.25

[[partitions]]
name = "region"

[[partitions]]
name = "day"
type = "date"

[[columns]]
name = "order_id"
type = "int64"
nullable = false
min = 1

[[columns]]
name = "amount"
type = "decimal(12, 2)"
min = "0"

[[columns]]
name = "status"
type = "string"
allowed = ["new", "paid"]

[[columns]]
name = "ordered_at"
type = "timestamp"
"#;

    fn sales() -> Contract {
        Contract::parse(Path::new("contracts/sales.toml"), SALES).unwrap()
    }

    fn parse_error(text: &str) -> ContractError {
        Contract::parse(Path::new("c.toml"), text).unwrap_err()
    }

    #[test]
    fn a_contract_reads_with_its_defaults() {
        let c = sales();
        assert_eq!(c.dataset, "sales");
        assert_eq!(c.format.format, Some(Format::Csv));
        assert_eq!(c.columns.len(), 4);
        assert_eq!(
            c.columns[1].column_type,
            ColumnType::Decimal {
                precision: 12,
                scale: 2
            }
        );
        assert!(!c.columns[0].nullable && c.columns[1].nullable);
        assert_eq!(c.header, HeaderPolicy::default());
        assert_eq!(c.rejects.max_share, Some(0.25));
        assert_eq!(c.partitions[1].column_type, ColumnType::Date);
        // A [rejects] table that sets only the count keeps the default share.
        let count_only = SALES.replace("max_share = 0.25", "max_count = 5");
        let rejects = Contract::parse(Path::new("c.toml"), &count_only)
            .unwrap()
            .rejects;
        assert_eq!((rejects.max_count, rejects.max_share), (Some(5), Some(0.1)));
    }

    #[test]
    fn bad_contracts_name_the_file_and_line() {
        let unknown_type = SALES.replace("\"int64\"", "\"int\"");
        let e = parse_error(&unknown_type);
        assert_eq!(e.line, 21, "{e}");
        assert!(
            e.to_string()
                .starts_with("c.toml:21: column `order_id`: unknown type `int`")
        );

        let e = parse_error(&SALES.replace("nullable = false", "nullable = false\ncolour = 1"));
        assert_eq!(e.line, 23, "{e}");
        assert!(e.to_string().contains("colour"), "{e}");

        let e = parse_error(&SALES.replace("decimal(12, 2)", "decimal(40, 2)"));
        assert!(e.to_string().contains("precision must be 1 to 38"), "{e}");
        assert_eq!(e.line, 27);

        let e = parse_error(&SALES.replace("min = 1", "min = \"one\""));
        assert!(
            e.to_string().contains("bound `one` is not a int64 value"),
            "{e}"
        );

        let e = parse_error(&SALES.replace("\"sales\"", "\"Sales Data\""));
        assert_eq!(e.line, 2);
        let e = parse_error(&SALES.replace("\"incoming/sales/\"", "\"incoming/sales\""));
        assert_eq!(e.line, 3);
    }

    #[test]
    fn contracts_own_disjoint_prefixes_inside_the_input_prefix() {
        let other = |dataset: &str, prefix: &str| {
            let text = SALES
                .replace("\"sales\"", &format!("\"{dataset}\""))
                .replace("incoming/sales/", prefix);
            Contract::parse(Path::new(&format!("contracts/{dataset}.toml")), &text).unwrap()
        };
        let ok = Contracts::new(
            vec![sales(), other("refunds", "incoming/refunds/")],
            "incoming/",
        )
        .unwrap();
        assert_eq!(
            ok.owner("incoming/refunds/a.csv").unwrap().dataset,
            "refunds"
        );
        assert!(ok.owner("incoming/salesman/a.csv").is_none());

        let e = Contracts::new(
            vec![sales(), other("eu", "incoming/sales/eu/")],
            "incoming/",
        )
        .unwrap_err();
        assert!(e.to_string().contains("overlaps"), "{e}");
        let e = Contracts::new(vec![other("x", "elsewhere/x/")], "incoming/").unwrap_err();
        assert!(e.to_string().contains("not inside the input prefix"), "{e}");
        let e =
            Contracts::new(vec![sales(), other("sales", "incoming/s2/")], "incoming/").unwrap_err();
        assert!(e.to_string().contains("also defined"), "{e}");
    }

    #[test]
    fn values_are_typed_or_rejected_with_a_reason() {
        fn t<'a>(ty: &str, text: &'a str) -> Result<Value<'a>, RejectReason> {
            ty.parse::<ColumnType>().unwrap().parse(text)
        }
        assert_eq!(t("int32", "2147483647"), Ok(Value::Int32(i32::MAX)));
        assert_eq!(t("int32", "2147483648"), Err(RejectReason::Range));
        assert_eq!(t("int64", "99999999999999999999"), Err(RejectReason::Range));
        assert_eq!(t("int64", "1.5"), Err(RejectReason::Type));
        assert_eq!(t("decimal(5, 2)", "-123.4"), Ok(Value::Decimal(-12340)));
        assert_eq!(t("decimal(5, 2)", "1234.5"), Err(RejectReason::Range));
        assert_eq!(t("decimal(5, 2)", "1.234"), Err(RejectReason::Range));
        assert_eq!(t("decimal(5, 2)", "1.2.3"), Err(RejectReason::Type));
        assert_eq!(
            t("decimal(38, 0)", &"9".repeat(38)),
            Ok(Value::Decimal(10i128.pow(38) - 1))
        );
        assert_eq!(t("date", "0001-01-01"), Ok(Value::Date(-719_162)));
        assert_eq!(t("date", "9999-12-31"), Ok(Value::Date(2_932_896)));
        assert_eq!(
            t("timestamp", "2026-12-02T10:00:00+01:00"),
            Ok(Value::Timestamp(1_796_202_000_000_000))
        );
        assert_eq!(
            t("timestamp", "2026-12-02"),
            Ok(Value::Timestamp(1_796_169_600_000_000))
        );
        assert_eq!(t("boolean", "TRUE"), Ok(Value::Boolean(true)));
        assert_eq!(t("boolean", "yes"), Err(RejectReason::Type));
        assert_eq!(t("float64", "1e3"), Ok(Value::Float64(1000.0)));
    }

    #[test]
    fn an_empty_string_is_a_value_in_a_string_column_only() {
        let column = |column_type: &str, nullable: bool| ColumnSpec {
            name: "c".into(),
            column_type: column_type.parse().unwrap(),
            nullable,
            constraints: Constraints::default(),
        };
        // A quoted "" (or JSON ""): an empty string, accepted by a non-nullable string column.
        assert_eq!(
            column("string", false).check(Some("")),
            Ok(Some(Value::String("")))
        );
        assert_eq!(column("string", false).check(None), Err(RejectReason::Null));
        assert_eq!(column("string", true).check(None), Ok(None));
        // In any other column it is no value, as DuckDB and Polars read it.
        assert_eq!(column("int64", true).check(Some("")), Ok(None));
        assert_eq!(
            column("date", false).check(Some("")),
            Err(RejectReason::Null)
        );
        let mut limited = column("string", false);
        limited.constraints.allowed = Some(vec!["a".into()]);
        assert_eq!(limited.check(Some("")), Err(RejectReason::NotAllowed));
    }

    #[test]
    fn records_check_against_the_bound_header() {
        let c = sales();
        let header: Vec<String> = ["status", "order_id", "amount", "ordered_at", "note"]
            .map(String::from)
            .to_vec();
        let binding = c.bind(Some(&header)).unwrap();
        assert_eq!(binding.sources, [Some(1), Some(2), Some(0), Some(3)]);
        let mut out = Vec::new();
        binding
            .check_fields(
                &c,
                &["paid", "7", "10.50", "2026-12-02 10:00", "x"],
                &mut out,
            )
            .unwrap();
        assert_eq!(out[0], Some(Value::Int64(7)));
        assert_eq!(out[1], Some(Value::Decimal(1050)));
        // A quoted "" in the (non-nullable) int64 column is no value either.
        assert_eq!(
            binding.check_values(
                &c,
                &[Some("paid"), Some(""), Some("1"), None, None],
                &mut Vec::new()
            ),
            Err(Rejection {
                column: Some(0),
                reason: RejectReason::Null
            })
        );
        let reject = |fields: &[&str]| binding.check_fields(&c, fields, &mut Vec::new());
        assert_eq!(
            reject(&["paid", "", "1", "", ""]),
            Err(Rejection {
                column: Some(0),
                reason: RejectReason::Null
            })
        );
        assert_eq!(
            reject(&["paid", "0", "1", "", ""]),
            Err(Rejection {
                column: Some(0),
                reason: RejectReason::BelowMin
            })
        );
        assert_eq!(
            reject(&["lost", "1", "1", "", ""]),
            Err(Rejection {
                column: Some(2),
                reason: RejectReason::NotAllowed
            })
        );
        assert_eq!(
            reject(&["paid", "1"]),
            Err(Rejection {
                column: None,
                reason: RejectReason::FieldCount
            })
        );

        let missing: Vec<String> = ["order_id", "status"].map(String::from).to_vec();
        assert!(
            c.bind(Some(&missing))
                .unwrap_err()
                .contains("`amount`, `ordered_at`")
        );
        let mut lenient = c.clone();
        lenient.header.missing_columns = MissingColumns::Null;
        let binding = lenient.bind(Some(&missing)).unwrap();
        assert_eq!(binding.sources, [Some(0), None, Some(1), None]);
        lenient.header.order = ColumnOrder::Exact;
        let reordered: Vec<String> = ["status", "order_id"].map(String::from).to_vec();
        assert!(
            lenient
                .bind(Some(&reordered))
                .unwrap_err()
                .contains("order")
        );
        lenient.header.extra_columns = ExtraColumns::Fail;
        let extra: Vec<String> = ["order_id", "status", "x"].map(String::from).to_vec();
        assert!(lenient.bind(Some(&extra)).unwrap_err().contains("`x`"));
    }

    #[test]
    fn partitions_come_from_the_keys_folders() {
        let c = sales();
        let keys = c.output_keys("incoming/sales/region=eu/day=2026-12-02/x.csv");
        assert_eq!(
            keys.parquet,
            "curated/sales/region=eu/day=2026-12-02/x.csv.parquet"
        );
        assert_eq!(
            keys.rejects,
            "rejected/sales/region=eu/day=2026-12-02/x.csv.rejects.jsonl"
        );
        assert_eq!(
            c.partition_values("incoming/sales/region=eu/day=2026-12-02/x.csv"),
            Ok(vec!["eu", "2026-12-02"])
        );
        assert!(
            c.partition_values("incoming/sales/region=eu/x.csv")
                .unwrap_err()
                .contains("`day=`")
        );
        assert!(
            c.partition_values("incoming/sales/region=eu/day=tuesday/x.csv")
                .unwrap_err()
                .contains("not a date")
        );
    }

    /// The decimal reading as it was before its one-pass rewrite: the reference the new one
    /// must agree with.
    fn parse_decimal_reference(text: &str, precision: u8, scale: u8) -> Result<i128, RejectReason> {
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty())
            || !digits_only(whole)
            || !digits_only(fraction)
        {
            return Err(RejectReason::Type);
        }
        if fraction.len() > usize::from(scale) {
            return Err(RejectReason::Range);
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() + usize::from(scale) > usize::from(precision) {
            return Err(RejectReason::Range);
        }
        let padding = usize::from(scale) - fraction.len();
        let mut unscaled: i128 = 0;
        for b in whole
            .bytes()
            .chain(fraction.bytes())
            .chain(std::iter::repeat_n(b'0', padding))
        {
            unscaled = unscaled * 10 + i128::from(b - b'0');
        }
        Ok(if negative { -unscaled } else { unscaled })
    }

    /// Texts for the fast-path test: edge cases, date and timestamp shapes with a byte now
    /// and then gone wrong, and random strings of digits, signs, points and letters.
    #[allow(clippy::cast_possible_truncation)]
    fn random_texts() -> Vec<String> {
        const ALPHABET: &[u8] = b"0123456789000999-+.:TZ tTrRuUeEfFaAlLsSx";
        let mut state = 0x3c6e_f372_fe94_f82bu64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut texts: Vec<String> = [
            "true",
            "FALSE",
            "True",
            "truex",
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "999999999999999999",
            "9999999999999999999",
            "-9223372036854775808",
            "9223372036854775808",
            "+7",
            "-0",
            "007",
            "1970-01-01",
            "9999-12-31",
            "0001-01-01T00:00:00Z",
            "2024-02-30",
            "2024-01-01T24:00:00Z",
            "2024-01-01 10:00",
            "12.",
            ".5",
            "-.5",
            "1.2.3",
            "+",
            "-",
            ".",
            "0.000",
            "00012.50",
        ]
        .map(String::from)
        .to_vec();
        for _ in 0..200_000 {
            let r = next();
            let text: String = if r % 3 == 0 {
                // A date or timestamp shape, now and then with a byte gone wrong.
                let mut shaped = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                    (r >> 2) % 10_000,
                    (r >> 16) % 14,
                    (r >> 20) % 33,
                    (r >> 26) % 26,
                    (r >> 32) % 62,
                    (r >> 38) % 62
                )
                .into_bytes();
                if r >> 44 & 1 == 1 {
                    shaped.truncate(10);
                }
                if (r >> 45) % 3 == 0 {
                    let at = (r >> 47) as usize % shaped.len();
                    shaped[at] = ALPHABET[(r >> 55) as usize % ALPHABET.len()];
                }
                String::from_utf8(shaped).unwrap()
            } else {
                let len = (r >> 2) as usize % 24;
                let mut bits = next();
                (0..len)
                    .map(|i| {
                        if i % 10 == 9 {
                            bits = next();
                        }
                        let pick = (bits >> ((i % 10) * 6)) as usize % ALPHABET.len();
                        char::from(ALPHABET[pick])
                    })
                    .collect()
            };
            texts.push(text);
        }
        texts
    }

    #[test]
    fn typing_a_value_from_its_inferred_type_reads_like_parsing_it() {
        let mut texts = random_texts();
        texts.extend(
            [
                " 1",
                "1 ",
                "+1",
                "-0",
                "+0",
                "00",
                "0007",
                "1e5",
                "1E5",
                "-1e-3",
                "1.5e3",
                "1.",
                ".5",
                "-.5",
                "+.5",
                "-0.00",
                "+0.01",
                "1e309",
                "-1e309",
                "inf",
                "NaN",
                "0x10",
                "1_000",
                "1,5",
                "123456789012345678901234567890",
                "9223372036854775807",
                "-9223372036854775809",
                "18446744073709551616",
                "2147483648",
                "tRuE",
                "yes",
                "2024-02-29",
                "2023-02-29",
                "2024-1-1",
                "20240101",
                "2026-12-02 10:00:00Z",
                "2026-12-02T10:00:00+01:00",
                "2026-12-02T10:00:00-0530",
                "2026-12-02T10:00:00+01",
                "2026-12-02T10:00",
                "2026-12-02T10:00:60Z",
                "2026-12-02T10:00:00.123456Z",
                "2026-12-02T10:00:00.1234567891Z",
                "2026-12-02T10:00:00.Z",
                "2026-12-02t10:00:00z",
                "0001-01-01T00:00:00+14:00",
                "9999-12-31T23:59:59-14:00",
                "1969-12-31T23:59:59Z",
                "",
            ]
            .map(String::from),
        );
        texts.push("9".repeat(400));
        texts.push(format!("0.{}", "1".repeat(400)));
        let types = [
            ColumnType::Boolean,
            ColumnType::Int32,
            ColumnType::Int64,
            ColumnType::Float64,
            ColumnType::Date,
            ColumnType::Timestamp,
            ColumnType::String,
            ColumnType::Decimal {
                precision: 12,
                scale: 2,
            },
            ColumnType::Decimal {
                precision: 38,
                scale: 10,
            },
        ];
        for text in &texts {
            let inferred = infer::infer_text(text);
            for column_type in types {
                let parsed = column_type.parse(text);
                let from_inference = column_type.read_inferred(inferred, text);
                let same = match (&parsed, &from_inference) {
                    (Ok(Value::Float64(a)), Ok(Value::Float64(b))) => a.to_bits() == b.to_bits(),
                    _ => parsed == from_inference,
                };
                assert!(
                    same,
                    "{column_type} {text:?}: {parsed:?} != {from_inference:?}"
                );
            }
        }
    }

    #[test]
    fn the_typed_fast_paths_read_like_the_general_reading() {
        let types = [
            ColumnType::Boolean,
            ColumnType::Int32,
            ColumnType::Int64,
            ColumnType::Float64,
            ColumnType::Date,
            ColumnType::Timestamp,
            ColumnType::String,
        ];
        let decimals = [
            (12, 2),
            (9, 0),
            (18, 18),
            (18, 4),
            (19, 2),
            (38, 10),
            (5, 5),
            (1, 0),
        ];
        let texts = random_texts();
        let same =
            |a: &Result<Value<'_>, RejectReason>, b: &Result<Value<'_>, RejectReason>| match (a, b)
            {
                (Ok(Value::Float64(x)), Ok(Value::Float64(y))) => x.to_bits() == y.to_bits(),
                _ => a == b,
            };
        for text in &texts {
            for column_type in types {
                let fast = column_type.parse(text);
                let general = column_type.parse_inferred(text);
                assert!(
                    same(&fast, &general),
                    "{column_type} {text:?}: {fast:?} != {general:?}"
                );
            }
            for (precision, scale) in decimals {
                let found = ColumnType::Decimal { precision, scale }.parse(text);
                let expected = parse_decimal_reference(text, precision, scale).map(Value::Decimal);
                assert_eq!(found, expected, "decimal({precision}, {scale}) {text:?}");
            }
        }
    }

    #[test]
    fn inferring_a_columns_type_first_answers_as_inference() {
        let mut texts = random_texts();
        texts.extend(
            [
                "0",
                "-0",
                "+0",
                "+7",
                "-7",
                "007",
                "999999999999999999",
                "x",
            ]
            .map(String::from),
        );
        texts.extend(
            [
                "true",
                "false",
                "True",
                "FALSE",
                "1970-01-01",
                "2026-12-02T10:00:00Z",
            ]
            .map(String::from),
        );
        for text in &texts {
            let inferred = infer::infer_text(text);
            for first in [
                infer_integer_first,
                infer_temporal_first,
                infer_boolean_first,
            ] {
                let first = first(text.as_bytes());
                let same = match (first, inferred) {
                    (Inferred::Float(a), Inferred::Float(b)) => a.to_bits() == b.to_bits(),
                    _ => first == inferred,
                };
                assert!(same, "{text:?}: {first:?} != {inferred:?}");
            }
        }
        assert_eq!(infer_integer_first(b"-42"), Inferred::Integer(-42));
        assert_eq!(infer_temporal_first(b"1970-01-02"), Inferred::Date(1));
        assert_eq!(infer_boolean_first(b"true"), Inferred::Boolean(true));
    }

    #[test]
    fn inferring_and_reading_a_decimal_in_one_pass_answers_as_each_alone() {
        let mut texts = random_texts();
        texts.extend(
            [
                "5144.76",
                "-500.00",
                "19499.99",
                "0",
                "-0",
                "-0.0",
                "0.5",
                "00012.50",
                "12.",
                ".5",
                "-.5",
                "+1.5",
                "1.5e3",
                "999999999999999",
                "9999999999999999",
                "99999999999.9999",
                "1234567890.12345",
                "-1234567890123.45",
                "123456789012345678901234567890",
                "1.234",
                "10000000000.00",
                "9999999999.99",
                "12345678",
                "123456789",
                "1234567.8",
                "-9999999.9",
                "99999.99",
                "100000.00",
                "99999.999",
                "0000.0001",
                "-1.",
                "-",
                "",
                "1.2.3",
                "12a4",
            ]
            .map(String::from),
        );
        let decimals = [
            (12, 2),
            (9, 0),
            (18, 18),
            (18, 4),
            (5, 5),
            (1, 0),
            (15, 3),
            (7, 2),
            (6, 2),
        ];
        for text in &texts {
            let inferred = infer::infer_text(text);
            // `-?digits[.digits]`, at most 15 digits: the shape read in the same pass.
            let body = text.strip_prefix('-').unwrap_or(text);
            let (whole, fraction) = body
                .split_once('.')
                .map_or((body, None), |(w, f)| (w, Some(f)));
            let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            let common_shape = digits(whole)
                && fraction.is_none_or(digits)
                && whole.len() + fraction.map_or(0, str::len) <= 15;
            for (precision, scale) in decimals {
                let (fused, unscaled) = infer_with_decimal(text.as_bytes(), precision, scale);
                let same_inference = match (fused, inferred) {
                    (Inferred::Float(a), Inferred::Float(b)) => a.to_bits() == b.to_bits(),
                    _ => fused == inferred,
                };
                assert!(same_inference, "{text:?}: {fused:?} != {inferred:?}");
                // `None` leaves the field to `parse_decimal`: only a value read here must agree.
                let parsed = parse_decimal(text, precision, scale);
                if let Some(unscaled) = unscaled {
                    assert_eq!(
                        Ok(Value::Decimal(i128::from(unscaled))),
                        parsed,
                        "decimal({precision}, {scale}) {text:?}"
                    );
                }
                // And every field of that shape that fits the decimal is read here.
                let fraction_fits = fraction.map_or(0, str::len) <= usize::from(scale);
                if common_shape && fraction_fits && parsed.is_ok() {
                    assert!(unscaled.is_some(), "decimal({precision}, {scale}) {text:?}");
                }
            }
        }
        // The common shape is read in one pass.
        assert_eq!(
            infer_with_decimal(b"-5144.7", 12, 2),
            (Inferred::Float(-5144.7), Some(-514_470))
        );
        assert_eq!(
            infer_with_decimal(b"42", 12, 2),
            (Inferred::Integer(42), Some(4200))
        );
    }
}
