//! Parquet output: a contract's records as one typed Parquet file.
//!
//! A [`ParquetWriter`] takes rows of typed [`Value`]s (one per contract column, `None` for a
//! null) and writes them with the `parquet` crate's low-level writer (no arrow): one column
//! per [`ColumnSpec`], REQUIRED or OPTIONAL as the column is nullable, the contract's type as
//! the Parquet physical and logical type:
//!
//! | contract        | physical                          | logical                          |
//! |-----------------|-----------------------------------|----------------------------------|
//! | boolean         | BOOLEAN                           |                                  |
//! | int32           | INT32                             |                                  |
//! | int64           | INT64                             |                                  |
//! | float64         | DOUBLE                            |                                  |
//! | decimal(p ≤ 9)  | INT32                             | DECIMAL(p, s)                    |
//! | decimal(p ≤ 18) | INT64                             | DECIMAL(p, s)                    |
//! | decimal(p > 18) | FIXED_LEN_BYTE_ARRAY(n), n minimal for p (9 to 16 bytes), big-endian two's complement | DECIMAL(p, s) |
//! | date            | INT32 (days since 1970-01-01)     | DATE                             |
//! | timestamp       | INT64 (µs since the epoch)        | TIMESTAMP(UTC, MICROS)           |
//! | string          | BYTE_ARRAY                        | STRING                           |
//!
//! Pages are zstd-compressed, dictionary-encoded while the dictionary stays under its page
//! limit (plain after), with min/max statistics. Rows are buffered per column and written as
//! a row group once [`ParquetOptions::max_row_group_rows`] rows or
//! [`ParquetOptions::max_row_group_bytes`] bytes of values are buffered: memory holds at most
//! one row group. The file holds no clock or random value: the same rows give the same bytes.

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use parquet::basic::{
    Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType, ZstdLevel,
};
use parquet::column::writer::ColumnWriterImpl;
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DataType, DoubleType, FixedLenByteArray,
    FixedLenByteArrayType, Int32Type, Int64Type,
};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type as SchemaType;
use serde::Serialize;

use crate::contract::{ColumnSpec, ColumnType, Value};
use crate::error::{Error, ErrorKind};

/// What the file names as its writer (`created_by`): fixed, so the bytes do not depend on
/// anything but the rows.
pub const CREATED_BY: &str = concat!("s3-upload-pipeline ", env!("CARGO_PKG_VERSION"));

/// Values handed to a column writer at once (strings and wide decimals are built per batch).
const BATCH: usize = 4096;

/// How the file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetOptions {
    /// A row group is written once it holds this many rows (at least 1).
    pub max_row_group_rows: usize,
    /// A row group is written once its buffered values take this many bytes (their plain
    /// encoding: 1 byte a boolean, 4 or 8 a number, a string's length plus 4, 2 a definition
    /// level), whichever bound comes first.
    pub max_row_group_bytes: usize,
    /// zstd compression level, 1 to 22.
    pub zstd_level: i32,
}

impl ParquetOptions {
    /// Rows per row group by default: 1 Mi.
    pub const DEFAULT_MAX_ROW_GROUP_ROWS: usize = 1 << 20;
    /// Buffered bytes per row group by default: 64 MiB.
    pub const DEFAULT_MAX_ROW_GROUP_BYTES: usize = 64 << 20;
    /// zstd level by default.
    pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
}

impl Default for ParquetOptions {
    /// zstd level 3; row groups of at most 1,048,576 rows or 64 MiB of buffered values.
    fn default() -> Self {
        ParquetOptions {
            max_row_group_rows: Self::DEFAULT_MAX_ROW_GROUP_ROWS,
            max_row_group_bytes: Self::DEFAULT_MAX_ROW_GROUP_BYTES,
            zstd_level: Self::DEFAULT_ZSTD_LEVEL,
        }
    }
}

/// What a finished file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParquetSummary {
    /// Rows written.
    pub rows: u64,
    /// Row groups written.
    pub row_groups: u64,
    /// Bytes of the whole file.
    pub bytes: u64,
}

/// Writes contract rows as one Parquet file to `W`.
pub struct ParquetWriter<W: Write + Send> {
    file: SerializedFileWriter<Sink<W>>,
    columns: Vec<ColumnBuffer>,
    options: ParquetOptions,
    /// The sink's first failure, kept whole (the parquet crate keeps only its text).
    sink_failure: SinkFailure,
    rows: u64,
    row_groups: u64,
    group_rows: usize,
    group_bytes: usize,
    /// A row group failed to write: the file is unusable.
    failed: bool,
}

impl<W: Write + Send> fmt::Debug for ParquetWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParquetWriter")
            .field("columns", &self.columns.len())
            .field("options", &self.options)
            .field("rows", &self.rows)
            .field("row_groups", &self.row_groups)
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send> ParquetWriter<W> {
    /// One Parquet file with one column per contract column (names, types, nullability from
    /// the specs). Writes the file's magic bytes to `out`.
    pub fn new(columns: &[ColumnSpec], out: W, options: ParquetOptions) -> Result<Self, Error> {
        if columns.is_empty() {
            return Err(internal("a Parquet file needs at least one column".into()));
        }
        for (index, column) in columns.iter().enumerate() {
            if columns[..index].iter().any(|c| c.name == column.name) {
                return Err(internal(format!(
                    "two columns are named `{}`: Parquet column names must be unique",
                    column.name
                )));
            }
        }
        let fields = columns
            .iter()
            .map(|c| schema_field(c).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| internal(format!("the Parquet schema: {e}")))?;
        let schema = SchemaType::group_type_builder("schema")
            .with_fields(fields)
            .build()
            .map_err(|e| internal(format!("the Parquet schema: {e}")))?;
        let level = ZstdLevel::try_new(options.zstd_level)
            .map_err(|e| internal(format!("zstd level {}: {e}", options.zstd_level)))?;
        let properties = WriterProperties::builder()
            .set_created_by(CREATED_BY.to_owned())
            .set_compression(Compression::ZSTD(level))
            .set_dictionary_enabled(true)
            .set_statistics_enabled(EnabledStatistics::Page)
            .build();
        let sink_failure = SinkFailure::default();
        let sink = Sink {
            inner: out,
            bytes: 0,
            failure: sink_failure.clone(),
        };
        let file = SerializedFileWriter::new(sink, Arc::new(schema), Arc::new(properties))
            .map_err(|e| sink_failure.error(e))?;
        Ok(ParquetWriter {
            file,
            columns: columns.iter().map(ColumnBuffer::new).collect(),
            options,
            sink_failure,
            rows: 0,
            row_groups: 0,
            group_rows: 0,
            group_bytes: 0,
            failed: false,
        })
    }

    /// Appends one row (values in column order; `None` = null). A row of the wrong length, a
    /// value of the wrong variant, a null in a required column or a decimal with more digits
    /// than its precision is [`ErrorKind::Internal`], and the row is not added. Writes a row
    /// group when the buffered ones reach a bound.
    pub fn push(&mut self, row: &[Option<Value<'_>>]) -> Result<(), Error> {
        if self.failed {
            return Err(internal(
                "the Parquet writer failed earlier; its file is unusable".into(),
            ));
        }
        if row.len() != self.columns.len() {
            return Err(internal(format!(
                "a row of {} values for {} Parquet columns",
                row.len(),
                self.columns.len()
            )));
        }
        // Check the whole row before buffering any of it, so a refused row leaves no trace.
        for (column, value) in self.columns.iter().zip(row) {
            column.check(value.as_ref())?;
        }
        for (column, value) in self.columns.iter_mut().zip(row) {
            self.group_bytes += column.append(value.as_ref());
        }
        self.rows += 1;
        self.group_rows += 1;
        if self.group_rows >= self.options.max_row_group_rows.max(1)
            || self.group_bytes >= self.options.max_row_group_bytes
        {
            self.flush_row_group()?;
        }
        Ok(())
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the last row group and the footer; returns the sink and a summary.
    pub fn finish(mut self) -> Result<(W, ParquetSummary), Error> {
        if self.failed {
            return Err(internal(
                "the Parquet writer failed earlier; its file is unusable".into(),
            ));
        }
        if self.group_rows > 0 {
            self.flush_row_group()?;
        }
        let sink_failure = self.sink_failure.clone();
        let mut sink = self.file.into_inner().map_err(|e| sink_failure.error(e))?;
        sink.inner.flush().map_err(ErrorKind::Write)?;
        let summary = ParquetSummary {
            rows: self.rows,
            row_groups: self.row_groups,
            bytes: sink.bytes,
        };
        Ok((sink.inner, summary))
    }

    /// Writes the buffered rows as one row group.
    fn flush_row_group(&mut self) -> Result<(), Error> {
        let result = write_row_group(&mut self.file, &mut self.columns);
        self.group_rows = 0;
        self.group_bytes = 0;
        match result {
            Ok(()) => {
                self.row_groups += 1;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(self.sink_failure.error(e))
            }
        }
    }
}

/// Writes each column's buffered values as a column chunk of a new row group, and empties the
/// buffers.
fn write_row_group<W: Write + Send>(
    file: &mut SerializedFileWriter<W>,
    columns: &mut [ColumnBuffer],
) -> Result<(), ParquetError> {
    let mut group = file.next_row_group()?;
    for column in columns {
        let mut writer = group
            .next_column()?
            .ok_or_else(|| ParquetError::General("fewer Parquet columns than buffers".into()))?;
        let levels = column.nullable.then_some(&column.levels[..]);
        match &mut column.values {
            Values::Boolean(values) => {
                write_batches(writer.typed::<BoolType>(), levels, values.len(), |i| {
                    values[i]
                })?;
                values.clear();
            }
            Values::Int32(values) => {
                write_batches(writer.typed::<Int32Type>(), levels, values.len(), |i| {
                    values[i]
                })?;
                values.clear();
            }
            Values::Int64(values) => {
                write_batches(writer.typed::<Int64Type>(), levels, values.len(), |i| {
                    values[i]
                })?;
                values.clear();
            }
            Values::Double(values) => {
                write_batches(writer.typed::<DoubleType>(), levels, values.len(), |i| {
                    values[i]
                })?;
                values.clear();
            }
            Values::Fixed { width, bytes } => {
                let width = *width;
                let data = Bytes::from(std::mem::take(bytes));
                let count = data.len() / width;
                write_batches(
                    writer.typed::<FixedLenByteArrayType>(),
                    levels,
                    count,
                    |i| FixedLenByteArray::from(ByteArray::from(data.slice(i * width..(i + 1) * width))),
                )?;
            }
            Values::Bytes { data, ends } => {
                let data = Bytes::from(std::mem::take(data));
                write_batches(writer.typed::<ByteArrayType>(), levels, ends.len(), |i| {
                    let start = if i == 0 { 0 } else { ends[i - 1] };
                    ByteArray::from(data.slice(start..ends[i]))
                })?;
                ends.clear();
            }
        }
        column.levels.clear();
        writer.close()?;
    }
    group.close()?;
    Ok(())
}

/// Hands a column writer `count` values (`value(i)` for each) in batches of [`BATCH`] rows,
/// with their definition levels when the column is optional.
fn write_batches<T: DataType>(
    writer: &mut ColumnWriterImpl<'_, T>,
    levels: Option<&[i16]>,
    count: usize,
    mut value: impl FnMut(usize) -> T::T,
) -> Result<(), ParquetError> {
    let mut batch = Vec::with_capacity(BATCH.min(count));
    match levels {
        None => {
            for start in (0..count).step_by(BATCH) {
                batch.clear();
                batch.extend((start..count.min(start + BATCH)).map(&mut value));
                writer.write_batch(&batch, None, None)?;
            }
        }
        Some(levels) => {
            let mut next = 0;
            for chunk in levels.chunks(BATCH) {
                let defined = chunk.iter().filter(|&&level| level == 1).count();
                batch.clear();
                batch.extend((next..next + defined).map(&mut value));
                next += defined;
                writer.write_batch(&batch, Some(chunk), None)?;
            }
        }
    }
    Ok(())
}

/// One column's rows of the current row group.
struct ColumnBuffer {
    name: String,
    column_type: ColumnType,
    nullable: bool,
    /// Definition levels (1 a value, 0 a null); empty for a required column.
    levels: Vec<i16>,
    values: Values,
}

/// A column's non-null values, in their physical type.
enum Values {
    Boolean(Vec<bool>),
    /// int32, date, decimal(p ≤ 9).
    Int32(Vec<i32>),
    /// int64, timestamp, decimal(p ≤ 18).
    Int64(Vec<i64>),
    Double(Vec<f64>),
    /// decimal(p > 18): `width` big-endian bytes each.
    Fixed {
        width: usize,
        bytes: Vec<u8>,
    },
    /// Strings end to end; `ends[i]` is where the i-th ends.
    Bytes {
        data: Vec<u8>,
        ends: Vec<usize>,
    },
}

impl ColumnBuffer {
    fn new(spec: &ColumnSpec) -> ColumnBuffer {
        let values = match spec.column_type {
            ColumnType::Boolean => Values::Boolean(Vec::new()),
            ColumnType::Int32 | ColumnType::Date => Values::Int32(Vec::new()),
            ColumnType::Int64 | ColumnType::Timestamp => Values::Int64(Vec::new()),
            ColumnType::Float64 => Values::Double(Vec::new()),
            ColumnType::Decimal { precision, .. } => match decimal_physical(precision) {
                DecimalPhysical::Int32 => Values::Int32(Vec::new()),
                DecimalPhysical::Int64 => Values::Int64(Vec::new()),
                DecimalPhysical::Fixed(width) => Values::Fixed {
                    width,
                    bytes: Vec::new(),
                },
            },
            ColumnType::String => Values::Bytes {
                data: Vec::new(),
                ends: Vec::new(),
            },
        };
        ColumnBuffer {
            name: spec.name.clone(),
            column_type: spec.column_type,
            nullable: spec.nullable,
            levels: Vec::new(),
            values,
        }
    }

    /// Whether `value` may be appended to this column.
    fn check(&self, value: Option<&Value<'_>>) -> Result<(), Error> {
        let fits = match (self.column_type, value) {
            (_, None) => self.nullable,
            (ColumnType::Boolean, Some(Value::Boolean(_)))
            | (ColumnType::Int32, Some(Value::Int32(_)))
            | (ColumnType::Int64, Some(Value::Int64(_)))
            | (ColumnType::Float64, Some(Value::Float64(_)))
            | (ColumnType::Date, Some(Value::Date(_)))
            | (ColumnType::Timestamp, Some(Value::Timestamp(_)))
            | (ColumnType::String, Some(Value::String(_))) => true,
            (ColumnType::Decimal { precision, .. }, Some(Value::Decimal(unscaled))) => {
                unscaled.unsigned_abs() <= decimal_max(precision)
            }
            _ => false,
        };
        if fits {
            return Ok(());
        }
        Err(internal(match value {
            None => format!("a null in the required column `{}`", self.name),
            Some(value) => format!(
                "{value:?} does not fit the column `{}` of type {}",
                self.name, self.column_type
            ),
        }))
    }

    /// Appends a value [`check`](Self::check) accepted; returns the bytes it takes.
    fn append(&mut self, value: Option<&Value<'_>>) -> usize {
        let level_bytes = if self.nullable {
            self.levels.push(i16::from(value.is_some()));
            2
        } else {
            0
        };
        let Some(value) = value else {
            return level_bytes;
        };
        level_bytes
            + match (&mut self.values, *value) {
                (Values::Boolean(values), Value::Boolean(b)) => {
                    values.push(b);
                    1
                }
                (Values::Int32(values), Value::Int32(v) | Value::Date(v)) => {
                    values.push(v);
                    4
                }
                (Values::Int64(values), Value::Int64(v) | Value::Timestamp(v)) => {
                    values.push(v);
                    8
                }
                (Values::Double(values), Value::Float64(v)) => {
                    values.push(v);
                    8
                }
                // `check` bounded the digits, so the narrowing keeps the value.
                (Values::Int32(values), Value::Decimal(v)) => {
                    values.push(i32::try_from(v).unwrap_or_default());
                    4
                }
                (Values::Int64(values), Value::Decimal(v)) => {
                    values.push(i64::try_from(v).unwrap_or_default());
                    8
                }
                (Values::Fixed { width, bytes }, Value::Decimal(v)) => {
                    bytes.extend_from_slice(&v.to_be_bytes()[16 - *width..]);
                    *width
                }
                (Values::Bytes { data, ends }, Value::String(s)) => {
                    data.extend_from_slice(s.as_bytes());
                    ends.push(data.len());
                    s.len() + 4
                }
                // Unreachable after `check`.
                _ => 0,
            }
    }
}

/// How a decimal of a precision is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecimalPhysical {
    Int32,
    Int64,
    /// FIXED_LEN_BYTE_ARRAY of this many bytes.
    Fixed(usize),
}

fn decimal_physical(precision: u8) -> DecimalPhysical {
    match precision {
        0..=9 => DecimalPhysical::Int32,
        10..=18 => DecimalPhysical::Int64,
        _ => {
            // The fewest bytes whose two's complement holds ±(10^p − 1), as Spark and arrow
            // write it: 9 bytes for p = 19 up to 16 for p = 38.
            let max = decimal_max(precision);
            let width = (1..=16usize)
                .find(|bytes| max < 1u128 << (8 * bytes - 1))
                .unwrap_or(16);
            DecimalPhysical::Fixed(width)
        }
    }
}

/// The largest unscaled value of `precision` digits, 10^p − 1.
fn decimal_max(precision: u8) -> u128 {
    10u128.pow(u32::from(precision.min(38))) - 1
}

/// The Parquet schema field of a contract column.
fn schema_field(spec: &ColumnSpec) -> Result<SchemaType, ParquetError> {
    let (physical, logical) = match spec.column_type {
        ColumnType::Boolean => (PhysicalType::BOOLEAN, None),
        ColumnType::Int32 => (PhysicalType::INT32, None),
        ColumnType::Int64 => (PhysicalType::INT64, None),
        ColumnType::Float64 => (PhysicalType::DOUBLE, None),
        ColumnType::Date => (PhysicalType::INT32, Some(LogicalType::Date)),
        ColumnType::Timestamp => (
            PhysicalType::INT64,
            Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
        ),
        ColumnType::String => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
        ColumnType::Decimal { precision, scale } => {
            let (physical, length) = match decimal_physical(precision) {
                DecimalPhysical::Int32 => (PhysicalType::INT32, -1),
                DecimalPhysical::Int64 => (PhysicalType::INT64, -1),
                DecimalPhysical::Fixed(width) => (
                    PhysicalType::FIXED_LEN_BYTE_ARRAY,
                    i32::try_from(width).unwrap_or(16),
                ),
            };
            return SchemaType::primitive_type_builder(&spec.name, physical)
                .with_repetition(repetition(spec))
                .with_logical_type(Some(LogicalType::decimal(
                    i32::from(scale),
                    i32::from(precision),
                )))
                .with_precision(i32::from(precision))
                .with_scale(i32::from(scale))
                .with_length(length)
                .build();
        }
    };
    SchemaType::primitive_type_builder(&spec.name, physical)
        .with_repetition(repetition(spec))
        .with_logical_type(logical)
        .build()
}

fn repetition(spec: &ColumnSpec) -> Repetition {
    if spec.nullable {
        Repetition::OPTIONAL
    } else {
        Repetition::REQUIRED
    }
}

fn internal(detail: String) -> Error {
    ErrorKind::Internal(detail).into()
}

/// The sink's first I/O failure, shared between the sink (inside the parquet writer) and us.
#[derive(Clone, Default)]
struct SinkFailure(Arc<Mutex<Option<io::Error>>>);

impl SinkFailure {
    fn record(&self, error: io::Error) -> io::Error {
        let copy = io::Error::new(error.kind(), error.to_string());
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(error);
        copy
    }

    /// Our error for the parquet crate's: a failure of the sink is [`ErrorKind::Write`]
    /// (whatever the crate wrapped it in), anything else a bug.
    fn error(&self, error: ParquetError) -> Error {
        let sink = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(io) = sink {
            return ErrorKind::Write(io).into();
        }
        match error {
            ParquetError::External(external) => match external.downcast::<io::Error>() {
                Ok(io) => ErrorKind::Write(*io).into(),
                Err(other) => internal(format!("the Parquet writer: {other}")),
            },
            other => internal(format!("the Parquet writer: {other}")),
        }
    }
}

/// The caller's sink, counting the bytes it takes and keeping its first failure whole.
struct Sink<W> {
    inner: W,
    bytes: u64,
    failure: SinkFailure,
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(self.failure.record(e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.failure.record(e))
    }
}
