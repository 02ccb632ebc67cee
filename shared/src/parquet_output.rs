//! Parquet output: a contract's records as one typed Parquet file.
//!
//! A [`ParquetWriter`] takes rows of typed [`Value`]s (one per contract column, `None` for a
//! null) and writes them as one Parquet file: one column per [`ColumnSpec`], REQUIRED or OPTIONAL as the column is nullable, the contract's type as
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
//! Each row group's column chunks are encoded by [`ChunkEncoder`] (its module says how:
//! zstd-compressed pages, min/max/null-count statistics and a page index); the `parquet`
//! crate's low-level writer (no arrow) writes the file around them: page headers, schema,
//! footer. int64, timestamp and decimal(p ≤ 18) columns, whose values are mostly distinct
//! (ids, instants, amounts), are DELTA_BINARY_PACKED without a dictionary; every other column
//! chunk is dictionary-encoded when its dictionary stays under 1 MiB and makes it smaller,
//! PLAIN otherwise (booleans always PLAIN). Rows are buffered per column and
//! written as a row group once [`ParquetOptions::max_row_group_rows`] rows or
//! [`ParquetOptions::max_row_group_bytes`] bytes of values are buffered: memory holds at most
//! one row group. The file holds no clock or random value: the same rows give the same bytes.
//! A parallel conversion encodes a row group's column chunks on the threads that parse: the
//! writer offers the row group to them ([`EncodeHelpers`]) and encodes too, each thread taking
//! the next column not yet taken (each chunk depends on its column's values alone, so the bytes
//! are the same).

use std::fmt;
use std::io::{self, Write};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};

use bytes::Bytes;

use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as PhysicalType, ZstdLevel};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnDescPtr, Type as SchemaType};
use serde::Serialize;

use crate::contract::{ColumnSpec, ColumnType, Value};
use crate::error::{Error, ErrorKind};
use crate::infer::Value as Inferred;
use crate::parquet_pages::{ChunkEncoder, ChunkValues, defined_count};

/// What the file names as its writer (`created_by`): fixed, so the bytes do not depend on
/// anything but the rows.
pub const CREATED_BY: &str = concat!("s3-upload-pipeline ", env!("CARGO_PKG_VERSION"));

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
    /// Rows per row group by default: 512 Ki (Polars writes 512² = 256 Ki, DuckDB 122,880).
    pub const DEFAULT_MAX_ROW_GROUP_ROWS: usize = 1 << 19;
    /// Buffered bytes per row group by default: 32 MiB. The buffers' capacity runs up to
    /// about twice their values (a `Vec` doubles as it grows), and the Fargate program holds
    /// one row group next to its download window and parsing ranges: with 64 MiB, converting
    /// on two threads peaked over 256 MiB.
    pub const DEFAULT_MAX_ROW_GROUP_BYTES: usize = 32 << 20;
    /// zstd level by default.
    pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
}

impl Default for ParquetOptions {
    /// zstd level 3; row groups of at most 524,288 rows or 32 MiB of buffered values.
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
    /// Encodes the column chunks this thread takes.
    encoder: ChunkEncoder,
    /// Threads offered a share of each row group's column chunks
    /// ([`encode_with`](Self::encode_with)).
    helpers: Option<Arc<dyn EncodeHelpers>>,
    columns: Vec<ColumnBuffer>,
    /// The buffers of the chunks written, for the next row group's chunks to be encoded
    /// into: one a column when helpers encode (a row group's chunks are held together
    /// until written), else one. A chunk then finds its room already mapped instead of
    /// growing a new buffer, page fault by page fault, from nothing.
    chunk_buffers: Vec<Vec<u8>>,
    options: ParquetOptions,
    /// The sink's first failure, kept whole (the parquet crate keeps only its text).
    sink_failure: SinkFailure,
    rows: u64,
    row_groups: u64,
    group_rows: usize,
    group_bytes: usize,
    /// Bytes of the values appended to the row being built ([`ParquetWriter::append`]).
    row_bytes: usize,
    /// A row group failed to write: the file is unusable.
    failed: bool,
    /// A [`buffering`](ParquetWriter::buffering) writer's rows' bytes, in order (`None` for
    /// a writer that writes).
    row_sizes: Option<Vec<usize>>,
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
        let encoder = ChunkEncoder::new(level)
            .map_err(|e| internal(format!("zstd level {}: {e}", options.zstd_level)))?;
        // The column chunks are ours (ChunkEncoder): the properties name the writer only.
        let properties = WriterProperties::builder()
            .set_created_by(CREATED_BY.to_owned())
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
            encoder,
            helpers: None,
            columns: columns.iter().map(ColumnBuffer::new).collect(),
            chunk_buffers: Vec::new(),
            options,
            sink_failure,
            rows: 0,
            row_groups: 0,
            group_rows: 0,
            group_bytes: 0,
            row_bytes: 0,
            failed: false,
            row_sizes: None,
        })
    }

    /// Offers each row group's column chunks to `helpers` too, for a conversion parsing on
    /// several threads: the file's bytes are the same whoever encodes them.
    pub(crate) fn encode_with(&mut self, helpers: Arc<dyn EncodeHelpers>) {
        self.helpers = Some(helpers);
    }

    /// A writer that only buffers the rows it is given, writing no row group, for a
    /// parallel conversion's worker: [`append_rows`](Self::append_rows) moves them into the
    /// writer of the file, in order.
    pub(crate) fn buffering(columns: &[ColumnSpec], out: W) -> Result<Self, Error> {
        let options = ParquetOptions {
            max_row_group_rows: usize::MAX,
            max_row_group_bytes: usize::MAX,
            ..ParquetOptions::default()
        };
        let mut writer = ParquetWriter::new(columns, out, options)?;
        writer.row_sizes = Some(Vec::new());
        Ok(writer)
    }

    /// Moves every row of `buffered` (a [`buffering`](Self::buffering) writer of the same
    /// columns) to the end of this file, leaving it empty: the row groups are cut, and the
    /// bytes written, exactly as if the rows had been pushed here one by one.
    pub(crate) fn append_rows<V: Write + Send>(
        &mut self,
        buffered: &mut ParquetWriter<V>,
    ) -> Result<(), Error> {
        let Some(mut sizes) = buffered.row_sizes.take() else {
            return Err(internal("rows appended from a writer that writes".into()));
        };
        if self.failed
            || buffered.columns.len() != self.columns.len()
            || buffered.columns.iter().any(|c| c.rows() != sizes.len())
        {
            return Err(internal(
                "rows appended from another schema, or to a failed writer".into(),
            ));
        }
        // Where each column's next non-null value is in `buffered`.
        let mut next_values = vec![0; self.columns.len()];
        let max_rows = self.options.max_row_group_rows.max(1);
        let max_bytes = self.options.max_row_group_bytes;
        let mut row = 0;
        while row < sizes.len() {
            // The rows up to the one that fills the row group, as `push` counts them one by
            // one (the sums kept in locals: one addition and one comparison a row).
            let last = sizes
                .len()
                .min(row + (max_rows - self.group_rows.min(max_rows - 1)));
            let (mut end, mut bytes) = (row, self.group_bytes);
            while end < last {
                bytes += sizes[end];
                end += 1;
                if bytes >= max_bytes {
                    break;
                }
            }
            self.group_bytes = bytes;
            self.group_rows += end - row;
            self.rows += (end - row) as u64;
            let full = self.group_rows >= max_rows || bytes >= max_bytes;
            let growth = GroupGrowth::projected(self.group_rows, bytes, max_rows, max_bytes, full);
            for ((to, from), next) in self
                .columns
                .iter_mut()
                .zip(&buffered.columns)
                .zip(&mut next_values)
            {
                *next = to
                    .extend_rows(from, row..end, *next, growth)
                    .ok_or_else(|| internal("rows appended to a column of another type".into()))?;
            }
            if full {
                self.flush_row_group()?;
            }
            row = end;
        }
        for column in &mut buffered.columns {
            column.clear();
        }
        sizes.clear();
        buffered.row_sizes = Some(sizes);
        (buffered.rows, buffered.group_rows, buffered.group_bytes) = (0, 0, 0);
        Ok(())
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
        // One pass: each value is checked as it is buffered; a refused one takes back the
        // row's values buffered before it, so a refused row leaves no trace.
        let mut bytes = 0;
        for (index, (column, value)) in self.columns.iter_mut().zip(row).enumerate() {
            match column.try_append(value.as_ref()) {
                Some(taken) => bytes += taken,
                None => {
                    let refusal = column.check(value.as_ref()).err();
                    for column in &mut self.columns[..index] {
                        column.pop_last();
                    }
                    return Err(refusal.unwrap_or_else(|| internal("a refused value".into())));
                }
            }
        }
        self.group_bytes += bytes;
        if let Some(sizes) = &mut self.row_sizes {
            sizes.push(bytes);
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

    /// Appends `value` (`None`: a null) to column `column` of the row being built value by
    /// value, the contract stage's way of adding a row without building it first: one call
    /// per column, in any order, then [`commit_row`](Self::commit_row) (or
    /// [`discard_row`](Self::discard_row)). Returns false, appending nothing, for a value
    /// [`push`](Self::push) would refuse (the caller then discards the row).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn append(&mut self, column: usize, value: Option<Value<'_>>) -> bool {
        let Some(buffer) = self.columns.get_mut(column) else {
            return false;
        };
        match buffer.try_append(value.as_ref()) {
            Some(bytes) => {
                self.row_bytes += bytes;
                true
            }
            None => false,
        }
    }

    /// [`append`](Self::append) of the value the contract reads from a field that type
    /// inference made `inferred` of ([`ColumnType::read_inferred`]), for the pairs of a column
    /// type and an inferred value that read as they are (an integer in an `int64` column, a
    /// date in a `date` or `timestamp` column…): one match on the pair, no [`Value`] in
    /// between. Returns false, appending nothing, for any other pair: the caller then reads
    /// the field the general way.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn append_inferred(&mut self, column: usize, inferred: Inferred) -> bool {
        let Some(buffer) = self.columns.get_mut(column) else {
            return false;
        };
        match buffer.try_append_inferred(inferred) {
            Some(bytes) => {
                self.row_bytes += bytes;
                true
            }
            None => false,
        }
    }

    /// Ends the row built by [`append`](Self::append): like [`push`](Self::push) of its values.
    /// A column that did not get exactly one value is [`ErrorKind::Internal`], and the row is
    /// not added.
    #[inline]
    pub(crate) fn commit_row(&mut self) -> Result<(), Error> {
        let expected = self.group_rows + 1;
        if self.failed || self.columns.iter().any(|c| c.rows() != expected) {
            self.discard_row();
            return Err(internal(
                "a row appended value by value lacks a column, or the writer failed".into(),
            ));
        }
        let bytes = std::mem::take(&mut self.row_bytes);
        self.group_bytes += bytes;
        if let Some(sizes) = &mut self.row_sizes {
            sizes.push(bytes);
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

    /// Takes back the values [`append`](Self::append)ed since the last row.
    #[cold]
    pub(crate) fn discard_row(&mut self) {
        let committed = self.group_rows;
        for column in &mut self.columns {
            if column.rows() > committed {
                column.pop_last();
            }
        }
        self.row_bytes = 0;
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

    /// Writes the rows buffered since the last row group, if any, as a row group now (while
    /// the [helpers](Self::encode_with) are there to share the encoding), instead of in
    /// [`finish`](Self::finish).
    pub(crate) fn write_buffered_rows(&mut self) -> Result<(), Error> {
        if self.group_rows > 0 && !self.failed {
            self.flush_row_group()?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group.
    fn flush_row_group(&mut self) -> Result<(), Error> {
        let result = write_row_group(
            &mut self.file,
            &mut self.columns,
            &mut self.encoder,
            self.helpers.as_deref(),
            &mut self.chunk_buffers,
        );
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

/// Writes each column's buffered values as a column chunk of a new row group (encoded by
/// [`ChunkEncoder`]s, shared with `helpers` when there are some: see [`RowGroupEncoding`]),
/// and empties the buffers. The chunks are encoded into `chunk_buffers`, and their buffers
/// put back there once written.
fn write_row_group<W: Write + Send>(
    file: &mut SerializedFileWriter<W>,
    columns: &mut Vec<ColumnBuffer>,
    encoder: &mut ChunkEncoder,
    helpers: Option<&dyn EncodeHelpers>,
    chunk_buffers: &mut Vec<Vec<u8>>,
) -> Result<(), ParquetError> {
    let schema = file.schema_descr();
    if schema.num_columns() != columns.len() {
        return Err(ParquetError::General(
            "as many Parquet columns as buffers".into(),
        ));
    }
    let descriptors: Vec<_> = (0..columns.len()).map(|i| schema.column(i)).collect();
    let mut group = file.next_row_group()?;
    match helpers {
        Some(helpers) if columns.len() > 1 => {
            chunk_buffers.resize_with(columns.len(), Vec::new);
            let encoding = Arc::new(RowGroupEncoding::new(
                descriptors,
                std::mem::take(columns),
                encoder.level(),
                std::mem::take(chunk_buffers),
            ));
            helpers.offer(&encoding);
            encoding.take_columns(encoder);
            let (buffers, chunks) = encoding.wait();
            *columns = buffers;
            for chunk in chunks {
                let (bytes, close) = chunk?;
                group.append_column(&bytes, close)?;
                chunk_buffers.push(reusable(bytes));
            }
        }
        _ => {
            // Each chunk is written as soon as it is encoded, so memory holds one.
            chunk_buffers.truncate(1);
            let mut buffer = chunk_buffers.pop().unwrap_or_default();
            for (column, descriptor) in columns.iter().zip(descriptors) {
                let (bytes, close) = column.encode(encoder, descriptor, buffer)?;
                group.append_column(&bytes, close)?;
                buffer = reusable(bytes);
            }
            chunk_buffers.push(buffer);
        }
    }
    group.close()?;
    columns.iter_mut().for_each(ColumnBuffer::clear);
    Ok(())
}

/// The buffer of a chunk written, to encode another into (empty, with its capacity): a new
/// one when the chunk's bytes are still shared.
fn reusable(bytes: Bytes) -> Vec<u8> {
    let mut buffer = bytes.try_into_mut().map(Vec::from).unwrap_or_default();
    buffer.clear();
    buffer
}

/// Threads that take a share of a row group's encoding when offered one: a parallel
/// conversion's parse workers ([`ParquetWriter::encode_with`]).
pub(crate) trait EncodeHelpers: Send + Sync {
    /// Offers `encoding` to the helpers, ahead of their other work: each that takes it calls
    /// [`RowGroupEncoding::help`]. A helper may come late, or never: the writer's thread
    /// encodes every column no helper has taken.
    fn offer(&self, encoding: &Arc<RowGroupEncoding>);
}

/// An encoded column chunk, or the panic that stopped its encoding (carried to the writer's
/// thread, as if it had encoded the chunk itself).
type EncodedChunk = std::thread::Result<Result<Chunk, ParquetError>>;

/// A column chunk's bytes, and what the row group needs to place them.
type Chunk = (Bytes, ColumnCloseResult);

/// A row group's column chunks being encoded by the writer's thread and the helpers it was
/// offered to, each taking the next column not yet taken, until every column is encoded.
pub(crate) struct RowGroupEncoding {
    descriptors: Vec<ColumnDescPtr>,
    /// The row group's buffers: read by the threads encoding, given back to the writer at
    /// the end ([`RowGroupEncoding::wait`]).
    columns: RwLock<Vec<ColumnBuffer>>,
    level: ZstdLevel,
    /// The buffer each column's chunk is encoded into.
    chunk_buffers: Vec<Mutex<Vec<u8>>>,
    /// The next column no thread has taken.
    next: AtomicUsize,
    /// Each column's chunk, once encoded.
    encoded: Mutex<Vec<Option<EncodedChunk>>>,
    all_encoded: Condvar,
}

impl fmt::Debug for RowGroupEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowGroupEncoding")
            .field("columns", &self.descriptors.len())
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl RowGroupEncoding {
    fn new(
        descriptors: Vec<ColumnDescPtr>,
        columns: Vec<ColumnBuffer>,
        level: ZstdLevel,
        chunk_buffers: Vec<Vec<u8>>,
    ) -> RowGroupEncoding {
        let encoded = columns.iter().map(|_| None).collect();
        RowGroupEncoding {
            descriptors,
            columns: RwLock::new(columns),
            level,
            chunk_buffers: chunk_buffers.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
            encoded: Mutex::new(encoded),
            all_encoded: Condvar::new(),
        }
    }

    /// A helper's share: encodes the columns no thread has taken yet with `encoder` (made
    /// at the row group's zstd level, and kept for the next row group). Returns at once when
    /// every column is taken.
    pub(crate) fn help(&self, encoder: &mut Option<ChunkEncoder>) {
        if self.next.load(Ordering::Relaxed) >= self.descriptors.len() {
            return;
        }
        if encoder.as_ref().is_none_or(|e| e.level() != self.level) {
            // Without an encoder, this helper leaves its share to the others.
            *encoder = ChunkEncoder::new(self.level).ok();
        }
        if let Some(encoder) = encoder {
            self.take_columns(encoder);
        }
    }

    /// Encodes the next column not taken, until there is none.
    fn take_columns(&self, encoder: &mut ChunkEncoder) {
        let columns = self.columns.read().unwrap_or_else(PoisonError::into_inner);
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let (Some(column), Some(descriptor)) =
                (columns.get(index), self.descriptors.get(index))
            else {
                return;
            };
            let buffer = self
                .chunk_buffers
                .get(index)
                .map_or_else(Vec::new, |buffer| {
                    std::mem::take(&mut *buffer.lock().unwrap_or_else(PoisonError::into_inner))
                });
            let chunk = std::panic::catch_unwind(AssertUnwindSafe(|| {
                column.encode(encoder, descriptor.clone(), buffer)
            }));
            let mut chunks = self.encoded.lock().unwrap_or_else(PoisonError::into_inner);
            chunks[index] = Some(chunk);
            if chunks.iter().all(Option::is_some) {
                self.all_encoded.notify_all();
            }
        }
    }

    /// Waits until every column is encoded (the caller took columns too, so none is left
    /// untaken): the buffers back, and the chunks in column order. A panic while encoding
    /// is resumed here.
    fn wait(&self) -> (Vec<ColumnBuffer>, Vec<Result<Chunk, ParquetError>>) {
        let mut encoded = self.encoded.lock().unwrap_or_else(PoisonError::into_inner);
        while encoded.iter().any(Option::is_none) {
            encoded = self
                .all_encoded
                .wait(encoded)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let chunks: Vec<_> = encoded.drain(..).flatten().collect();
        drop(encoded);
        // Every helper has let go of the buffers once its last chunk is in, or soon after.
        let columns =
            std::mem::take(&mut *self.columns.write().unwrap_or_else(PoisonError::into_inner));
        let chunks = chunks
            .into_iter()
            .map(|chunk| chunk.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect();
        (columns, chunks)
    }
}

/// How far a row group's buffers grow when rows appended from another writer
/// ([`ParquetWriter::append_rows`]) outgrow them: to the size the group will reach at the
/// rate of the rows it holds, rather than by doubling. A buffer then grows about once a row
/// group instead of a dozen times, each a copy of what it holds into memory the process
/// faults in anew; the rows that end the group then find their room. Reserved room that is
/// never written costs address space, not memory.
#[derive(Debug, Clone, Copy)]
struct GroupGrowth {
    /// What a buffer's length is multiplied by to reach its size at the end of the group.
    scale: f64,
}

impl GroupGrowth {
    /// The most a buffer is grown at once, over the length it needs: enough for a group's
    /// first range of rows to size the group (ranges of 1 MiB in groups of 32 MiB), and a
    /// bound on the room a writer without row group bounds reserves.
    const MAX_SCALE: f64 = 64.0;

    /// The growth for a group holding `rows` rows in `bytes` bytes, bounded by `max_rows`
    /// and `max_bytes`; a `full` group grows no further than it needs.
    #[allow(clippy::cast_precision_loss)]
    fn projected(rows: usize, bytes: usize, max_rows: usize, max_bytes: usize, full: bool) -> Self {
        let by_rows = max_rows as f64 / rows.max(1) as f64;
        let by_bytes = max_bytes as f64 / bytes.max(1) as f64;
        let scale = if full {
            1.0
        } else {
            // A little over the projection: the rates of the rows to come vary.
            (by_rows.min(by_bytes) * 1.0625).clamp(1.0, Self::MAX_SCALE)
        };
        GroupGrowth { scale }
    }

    /// Makes room in `buffer` for `additional` more items: to the projected size when it
    /// lacks the room.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    fn reserve<T>(self, buffer: &mut Vec<T>, additional: usize) {
        let needed = buffer.len() + additional;
        if needed > buffer.capacity() {
            let projected = (needed as f64 * self.scale) as usize;
            buffer.reserve_exact(projected.max(needed) - buffer.len());
        }
    }

    /// Appends `items` to `buffer`, grown as [`GroupGrowth::reserve`] grows it.
    fn extend<T: Copy>(self, buffer: &mut Vec<T>, items: &[T]) {
        self.reserve(buffer, items.len());
        buffer.extend_from_slice(items);
    }
}

/// One column's rows of the current row group.
struct ColumnBuffer {
    name: String,
    column_type: ColumnType,
    nullable: bool,
    /// The largest unscaled magnitude of a decimal column (0 for other types).
    decimal_max: u128,
    /// Definition levels (1 a value, 0 a null); empty for a required column.
    levels: Vec<u8>,
    values: Values,
}

/// A column's non-null values, in their physical type; one variant per contract type, so that
/// appending a [`Value`] is one match on the pair.
enum Values {
    Boolean(Vec<bool>),
    Int32(Vec<i32>),
    /// Days since the epoch.
    Date(Vec<i32>),
    /// decimal(p ≤ 9), unscaled.
    Decimal32(Vec<i32>),
    Int64(Vec<i64>),
    /// Microseconds since the epoch.
    Timestamp(Vec<i64>),
    /// decimal(p ≤ 18), unscaled.
    Decimal64(Vec<i64>),
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
    /// The buffered rows as a column chunk of `descriptor`, by `encoder`, into `buffer`.
    fn encode(
        &self,
        encoder: &mut ChunkEncoder,
        descriptor: ColumnDescPtr,
        buffer: Vec<u8>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let levels = self.nullable.then_some(&self.levels[..]);
        let values = match &self.values {
            Values::Boolean(values) => ChunkValues::Boolean(values),
            Values::Int32(values) | Values::Date(values) => ChunkValues::Int32(values),
            Values::Decimal32(values) => ChunkValues::Int32Delta(values),
            Values::Int64(values) | Values::Timestamp(values) | Values::Decimal64(values) => {
                ChunkValues::Int64(values)
            }
            Values::Double(values) => ChunkValues::Double(values),
            Values::Fixed { width, bytes } => ChunkValues::Fixed {
                width: *width,
                bytes,
            },
            Values::Bytes { data, ends } => ChunkValues::Bytes { data, ends },
        };
        encoder.encode(descriptor, levels, values, buffer)
    }

    fn new(spec: &ColumnSpec) -> ColumnBuffer {
        let values = match spec.column_type {
            ColumnType::Boolean => Values::Boolean(Vec::new()),
            ColumnType::Int32 => Values::Int32(Vec::new()),
            ColumnType::Date => Values::Date(Vec::new()),
            ColumnType::Int64 => Values::Int64(Vec::new()),
            ColumnType::Timestamp => Values::Timestamp(Vec::new()),
            ColumnType::Float64 => Values::Double(Vec::new()),
            ColumnType::Decimal { precision, .. } => match decimal_physical(precision) {
                DecimalPhysical::Int32 => Values::Decimal32(Vec::new()),
                DecimalPhysical::Int64 => Values::Decimal64(Vec::new()),
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
            decimal_max: match spec.column_type {
                ColumnType::Decimal { precision, .. } => decimal_max(precision),
                _ => 0,
            },
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
            (ColumnType::Decimal { .. }, Some(Value::Decimal(unscaled))) => {
                unscaled.unsigned_abs() <= self.decimal_max
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

    /// Appends `value` when [`check`](Self::check) would accept it and returns the bytes it
    /// takes; appends nothing and returns `None` when it would not.
    // Forced: inlined where the value was made, the match on its variant folds away.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn try_append(&mut self, value: Option<&Value<'_>>) -> Option<usize> {
        let Some(value) = value else {
            if !self.nullable {
                return None;
            }
            self.levels.push(0);
            return Some(2);
        };
        let decimal_max = self.decimal_max;
        let bytes = match (&mut self.values, *value) {
            (Values::Boolean(values), Value::Boolean(b)) => {
                values.push(b);
                1
            }
            (Values::Int32(values), Value::Int32(v)) | (Values::Date(values), Value::Date(v)) => {
                values.push(v);
                4
            }
            (Values::Int64(values), Value::Int64(v))
            | (Values::Timestamp(values), Value::Timestamp(v)) => {
                values.push(v);
                8
            }
            (Values::Double(values), Value::Float64(v)) => {
                values.push(v);
                8
            }
            (Values::Bytes { data, ends }, Value::String(s)) => {
                data.extend_from_slice(s.as_bytes());
                ends.push(data.len());
                s.len() + 4
            }
            // Within the precision, the narrowing keeps the value.
            (Values::Decimal32(values), Value::Decimal(v)) if v.unsigned_abs() <= decimal_max => {
                values.push(i32::try_from(v).unwrap_or_default());
                4
            }
            (Values::Decimal64(values), Value::Decimal(v)) if v.unsigned_abs() <= decimal_max => {
                values.push(i64::try_from(v).unwrap_or_default());
                8
            }
            (Values::Fixed { width, bytes }, Value::Decimal(v))
                if v.unsigned_abs() <= decimal_max =>
            {
                bytes.extend_from_slice(&v.to_be_bytes()[16 - *width..]);
                *width
            }
            _ => return None,
        };
        if self.nullable {
            self.levels.push(1);
            return Some(bytes + 2);
        }
        Some(bytes)
    }

    /// [`try_append`](Self::try_append) of what [`ColumnType::read_inferred`] reads from a
    /// field inferred as `inferred`, for the pairs it reads without the field's text and
    /// accepts; `None`, appending nothing, for every other pair (some of which it would
    /// accept: the caller reads those the general way).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn try_append_inferred(&mut self, inferred: Inferred) -> Option<usize> {
        const DAY_MICROS: i64 = 86_400_000_000;
        let bytes = match (&mut self.values, inferred) {
            (Values::Boolean(values), Inferred::Boolean(b)) => {
                values.push(b);
                1
            }
            (Values::Int32(values), Inferred::Integer(i)) => {
                values.push(i32::try_from(i).ok()?);
                4
            }
            (Values::Date(values), Inferred::Date(days)) => {
                values.push(i32::try_from(days).ok()?);
                4
            }
            (Values::Int64(values), Inferred::Integer(i))
            | (Values::Timestamp(values), Inferred::Timestamp(i)) => {
                values.push(i);
                8
            }
            (Values::Timestamp(values), Inferred::Date(days)) => {
                values.push(days * DAY_MICROS);
                8
            }
            (Values::Double(values), Inferred::Float(f)) if f.is_finite() => {
                values.push(f);
                8
            }
            #[allow(clippy::cast_precision_loss)]
            (Values::Double(values), Inferred::Integer(i)) => {
                values.push(i as f64);
                8
            }
            _ => return None,
        };
        if self.nullable {
            self.levels.push(1);
            return Some(bytes + 2);
        }
        Some(bytes)
    }

    /// Values (nulls included) buffered.
    #[inline]
    fn rows(&self) -> usize {
        if self.nullable {
            return self.levels.len();
        }
        self.values_len()
    }

    /// Non-null values buffered.
    #[inline]
    fn values_len(&self) -> usize {
        match &self.values {
            Values::Boolean(values) => values.len(),
            Values::Int32(values) | Values::Date(values) | Values::Decimal32(values) => {
                values.len()
            }
            Values::Int64(values) | Values::Timestamp(values) | Values::Decimal64(values) => {
                values.len()
            }
            Values::Double(values) => values.len(),
            Values::Fixed { width, bytes } => bytes.len() / *width,
            Values::Bytes { ends, .. } => ends.len(),
        }
    }

    /// Appends `from`'s rows `rows`, whose first non-null value is `from`'s value
    /// `first_value`; returns the index of the value after them (`None`, appending nothing,
    /// when `from` holds another type).
    fn extend_rows(
        &mut self,
        from: &ColumnBuffer,
        rows: std::ops::Range<usize>,
        first_value: usize,
        growth: GroupGrowth,
    ) -> Option<usize> {
        let count = match (from.nullable, rows.len() == from.rows()) {
            (false, _) => rows.len(),
            // All of `from`'s rows (the usual case: a row group is cut inside one worker's
            // rows once): its values, without a pass over the levels.
            (true, true) => from.values_len(),
            (true, false) => defined_count(from.levels.get(rows.clone())?),
        };
        let (a, b) = (first_value, first_value + count);
        match (&mut self.values, &from.values) {
            (Values::Boolean(to), Values::Boolean(from)) => {
                growth.extend(to, from.get(a..b)?);
            }
            (Values::Int32(to), Values::Int32(from))
            | (Values::Date(to), Values::Date(from))
            | (Values::Decimal32(to), Values::Decimal32(from)) => {
                growth.extend(to, from.get(a..b)?);
            }
            (Values::Int64(to), Values::Int64(from))
            | (Values::Timestamp(to), Values::Timestamp(from))
            | (Values::Decimal64(to), Values::Decimal64(from)) => {
                growth.extend(to, from.get(a..b)?);
            }
            (Values::Double(to), Values::Double(from)) => growth.extend(to, from.get(a..b)?),
            (
                Values::Fixed { width, bytes: to },
                Values::Fixed {
                    width: from_width,
                    bytes: from,
                },
            ) if width == from_width => {
                growth.extend(to, from.get(a * *width..b * *width)?);
            }
            (
                Values::Bytes { data, ends },
                Values::Bytes {
                    data: from_data,
                    ends: from_ends,
                },
            ) => {
                let start = if a == 0 { 0 } else { *from_ends.get(a - 1)? };
                let end = if b == 0 { 0 } else { *from_ends.get(b - 1)? };
                let shift = data.len();
                growth.extend(data, from_data.get(start..end)?);
                let from_ends = from_ends.get(a..b)?;
                growth.reserve(ends, from_ends.len());
                ends.extend(from_ends.iter().map(|&e| e - start + shift));
            }
            _ => return None,
        }
        if from.nullable {
            growth.extend(&mut self.levels, from.levels.get(rows)?);
        }
        Some(b)
    }

    /// Empties the buffer.
    fn clear(&mut self) {
        self.levels.clear();
        match &mut self.values {
            Values::Boolean(values) => values.clear(),
            Values::Int32(values) | Values::Date(values) | Values::Decimal32(values) => {
                values.clear();
            }
            Values::Int64(values) | Values::Timestamp(values) | Values::Decimal64(values) => {
                values.clear();
            }
            Values::Double(values) => values.clear(),
            Values::Fixed { bytes, .. } => bytes.clear(),
            Values::Bytes { data, ends } => {
                data.clear();
                ends.clear();
            }
        }
    }

    /// Takes back the last value [`try_append`](Self::try_append) appended.
    #[cold]
    fn pop_last(&mut self) {
        if self.nullable && self.levels.pop() != Some(1) {
            return;
        }
        match &mut self.values {
            Values::Boolean(values) => drop(values.pop()),
            Values::Int32(values) | Values::Date(values) | Values::Decimal32(values) => {
                values.pop();
            }
            Values::Int64(values) | Values::Timestamp(values) | Values::Decimal64(values) => {
                values.pop();
            }
            Values::Double(values) => drop(values.pop()),
            Values::Fixed { width, bytes } => bytes.truncate(bytes.len().saturating_sub(*width)),
            Values::Bytes { data, ends } => {
                ends.pop();
                data.truncate(ends.last().copied().unwrap_or(0));
            }
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
        let sink = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
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

#[cfg(test)]
// Tables of expectations read best long.
#[allow(clippy::too_many_lines)]
mod tests {
    use bytes::Bytes;
    use parquet::basic::{Compression, ConvertedType, Encoding};
    use parquet::data_type::Decimal;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    use super::*;
    use crate::ErrorName;
    use crate::contract::Constraints;

    fn spec(name: &str, column_type: &str, nullable: bool) -> ColumnSpec {
        ColumnSpec {
            name: name.into(),
            column_type: column_type.parse().expect("a column type"),
            nullable,
            constraints: Constraints::default(),
        }
    }

    fn write(
        columns: &[ColumnSpec],
        rows: &[Vec<Option<Value<'_>>>],
        options: ParquetOptions,
    ) -> (Vec<u8>, ParquetSummary) {
        let mut writer = ParquetWriter::new(columns, Vec::new(), options).expect("a writer");
        for row in rows {
            writer.push(row).expect("push a row");
        }
        assert_eq!(writer.rows(), rows.len() as u64);
        writer.finish().expect("finish")
    }

    fn reader(bytes: &[u8]) -> SerializedFileReader<Bytes> {
        SerializedFileReader::new(Bytes::copy_from_slice(bytes)).expect("a Parquet file")
    }

    /// Every row as the parquet crate's own reader gives it back.
    fn read_rows(bytes: &[u8]) -> Vec<Vec<Field>> {
        reader(bytes)
            .get_row_iter(None)
            .expect("rows")
            .map(|row| {
                row.expect("a row")
                    .get_column_iter()
                    .map(|(_, field)| field.clone())
                    .collect()
            })
            .collect()
    }

    /// A decimal's unscaled value from its big-endian two's complement bytes.
    fn unscaled(decimal: &Decimal) -> i128 {
        let data = decimal.data();
        let fill = if data.first().is_some_and(|b| b & 0x80 != 0) {
            0xFF
        } else {
            0
        };
        let mut bytes = [fill; 16];
        bytes[16 - data.len()..].copy_from_slice(data);
        i128::from_be_bytes(bytes)
    }

    /// What the reader must give back for `value`.
    fn expected(value: Option<&Value<'_>>) -> Field {
        match value {
            None => Field::Null,
            Some(Value::Boolean(b)) => Field::Bool(*b),
            Some(Value::Int32(v)) => Field::Int(*v),
            Some(Value::Int64(v)) => Field::Long(*v),
            Some(Value::Float64(v)) => Field::Double(*v),
            Some(Value::Date(v)) => Field::Date(*v),
            Some(Value::Timestamp(v)) => Field::TimestampMicros(*v),
            Some(Value::String(s)) => Field::Str((*s).to_owned()),
            Some(Value::Decimal(_)) => unreachable!("decimals compare by their unscaled value"),
        }
    }

    fn assert_round_trip(bytes: &[u8], rows: &[Vec<Option<Value<'_>>>]) {
        let read = read_rows(bytes);
        assert_eq!(read.len(), rows.len(), "row count");
        for (index, (theirs, ours)) in read.iter().zip(rows).enumerate() {
            assert_eq!(theirs.len(), ours.len(), "row {index}: width");
            for (column, (field, value)) in theirs.iter().zip(ours).enumerate() {
                match (field, value) {
                    (Field::Decimal(d), Some(Value::Decimal(v))) => {
                        assert_eq!(unscaled(d), *v, "row {index} column {column}");
                    }
                    // Bit for bit: NaN, and the sign of a zero.
                    (Field::Double(d), Some(Value::Float64(v))) => {
                        assert_eq!(d.to_bits(), v.to_bits(), "row {index} column {column}");
                    }
                    _ => assert_eq!(
                        *field,
                        expected(value.as_ref()),
                        "row {index} column {column}"
                    ),
                }
            }
        }
    }

    fn date(text: &str) -> Value<'_> {
        ColumnType::Date.parse(text).expect("a date")
    }

    fn every_type() -> Vec<ColumnSpec> {
        vec![
            spec("flag", "boolean", true),
            spec("small", "int32", false),
            spec("big", "int64", true),
            spec("ratio", "float64", true),
            spec("d9", "decimal(9, 2)", true),
            spec("d18", "decimal(18, 0)", true),
            spec("d38", "decimal(38, 38)", true),
            spec("day", "date", true),
            spec("at", "timestamp", true),
            spec("name", "string", true),
            spec("code", "string", false),
        ]
    }

    fn every_type_rows() -> Vec<Vec<Option<Value<'static>>>> {
        let d9 = 999_999_999_i128;
        let d18 = 999_999_999_999_999_999_i128;
        let d38 = 10_i128.pow(38) - 1;
        vec![
            vec![
                Some(Value::Boolean(true)),
                Some(Value::Int32(i32::MIN)),
                Some(Value::Int64(i64::MIN)),
                Some(Value::Float64(-0.0)),
                Some(Value::Decimal(-d9)),
                Some(Value::Decimal(-d18)),
                Some(Value::Decimal(-d38)),
                Some(date("0001-01-01")),
                Some(Value::Timestamp(i64::MIN)),
                Some(Value::String("")),
                Some(Value::String("")),
            ],
            vec![
                Some(Value::Boolean(false)),
                Some(Value::Int32(i32::MAX)),
                Some(Value::Int64(i64::MAX)),
                Some(Value::Float64(f64::MAX)),
                Some(Value::Decimal(d9)),
                Some(Value::Decimal(d18)),
                Some(Value::Decimal(d38)),
                Some(date("9999-12-31")),
                Some(Value::Timestamp(i64::MAX)),
                Some(Value::String("Ünïcödé ✓ 日本語 🦀")),
                Some(Value::String("tab\tnew\nline \"quoted\", comma")),
            ],
            vec![
                None,
                Some(Value::Int32(0)),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                Some(Value::String("x")),
            ],
            vec![
                Some(Value::Boolean(true)),
                Some(Value::Int32(-1)),
                Some(Value::Int64(0)),
                Some(Value::Float64(f64::MIN_POSITIVE / 4.0)),
                Some(Value::Decimal(0)),
                Some(Value::Decimal(-1)),
                Some(Value::Decimal(1)),
                Some(date("1970-01-01")),
                Some(Value::Timestamp(0)),
                Some(Value::String("null")),
                Some(Value::String("NULL")),
            ],
        ]
    }

    #[test]
    fn every_type_round_trips_through_the_parquet_reader() {
        let columns = every_type();
        let rows = every_type_rows();
        assert_eq!(date("0001-01-01"), Value::Date(-719_162));
        assert_eq!(date("9999-12-31"), Value::Date(2_932_896));
        let (bytes, summary) = write(&columns, &rows, ParquetOptions::default());
        assert_eq!(
            summary,
            ParquetSummary {
                rows: 4,
                row_groups: 1,
                bytes: bytes.len() as u64
            }
        );
        assert_round_trip(&bytes, &rows);
        // An empty string is a value, not a null.
        let read = read_rows(&bytes);
        assert_eq!(read[0][9], Field::Str(String::new()));
        assert_eq!(read[2][9], Field::Null);
    }

    #[test]
    fn the_schema_carries_the_contract_types() {
        let (bytes, _) = write(&every_type(), &every_type_rows(), ParquetOptions::default());
        let reader = reader(&bytes);
        let metadata = reader.metadata().file_metadata();
        assert_eq!(metadata.created_by(), Some(CREATED_BY));
        assert!(metadata.key_value_metadata().is_none());
        let schema = metadata.schema_descr();
        let described: Vec<_> = schema
            .columns()
            .iter()
            .map(|c| {
                (
                    c.name().to_owned(),
                    c.physical_type(),
                    c.logical_type_ref().cloned(),
                    c.converted_type(),
                    c.self_type().is_optional(),
                    c.type_length(),
                )
            })
            .collect();
        let decimal = |p, s| Some(LogicalType::decimal(s, p));
        let expected = vec![
            (
                "flag",
                PhysicalType::BOOLEAN,
                None,
                ConvertedType::NONE,
                true,
                -1,
            ),
            (
                "small",
                PhysicalType::INT32,
                None,
                ConvertedType::NONE,
                false,
                -1,
            ),
            (
                "big",
                PhysicalType::INT64,
                None,
                ConvertedType::NONE,
                true,
                -1,
            ),
            (
                "ratio",
                PhysicalType::DOUBLE,
                None,
                ConvertedType::NONE,
                true,
                -1,
            ),
            (
                "d9",
                PhysicalType::INT32,
                decimal(9, 2),
                ConvertedType::DECIMAL,
                true,
                -1,
            ),
            (
                "d18",
                PhysicalType::INT64,
                decimal(18, 0),
                ConvertedType::DECIMAL,
                true,
                -1,
            ),
            (
                "d38",
                PhysicalType::FIXED_LEN_BYTE_ARRAY,
                decimal(38, 38),
                ConvertedType::DECIMAL,
                true,
                16,
            ),
            (
                "day",
                PhysicalType::INT32,
                Some(LogicalType::Date),
                ConvertedType::DATE,
                true,
                -1,
            ),
            (
                "at",
                PhysicalType::INT64,
                Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
                ConvertedType::TIMESTAMP_MICROS,
                true,
                -1,
            ),
            (
                "name",
                PhysicalType::BYTE_ARRAY,
                Some(LogicalType::String),
                ConvertedType::UTF8,
                true,
                -1,
            ),
            (
                "code",
                PhysicalType::BYTE_ARRAY,
                Some(LogicalType::String),
                ConvertedType::UTF8,
                false,
                -1,
            ),
        ];
        let expected: Vec<_> = expected
            .into_iter()
            .map(|(n, p, l, c, o, len)| (n.to_owned(), p, l, c, o, len))
            .collect();
        assert_eq!(described, expected);
        for column in schema.columns() {
            if let Some(LogicalType::Decimal(d)) = column.logical_type_ref() {
                assert_eq!(
                    (column.type_precision(), column.type_scale()),
                    (d.precision, d.scale)
                );
            }
        }
        // Every chunk is zstd with statistics.
        for chunk in reader.metadata().row_group(0).columns() {
            assert!(
                matches!(chunk.compression(), Compression::ZSTD(_)),
                "{chunk:?}"
            );
            assert!(chunk.statistics().is_some(), "{}", chunk.column_path());
        }
    }

    #[test]
    fn wide_decimals_take_the_fewest_bytes_for_their_precision() {
        let widths: Vec<_> = (19..=38).map(decimal_physical).collect();
        assert_eq!(widths[0], DecimalPhysical::Fixed(9));
        assert_eq!(widths[19], DecimalPhysical::Fixed(16));
        assert_eq!(decimal_physical(9), DecimalPhysical::Int32);
        assert_eq!(decimal_physical(10), DecimalPhysical::Int64);
        assert_eq!(decimal_physical(18), DecimalPhysical::Int64);
        for precision in 19..=38u8 {
            let DecimalPhysical::Fixed(width) = decimal_physical(precision) else {
                panic!("decimal({precision}) is not fixed-width");
            };
            let max = decimal_max(precision);
            assert!(
                max < 1u128 << (8 * width - 1),
                "decimal({precision}) fits {width} bytes"
            );
            assert!(
                max >= 1u128 << (8 * width - 9),
                "decimal({precision}) needs {width} bytes"
            );
            let columns = [spec("d", &format!("decimal({precision}, 3)"), false)];
            let max = i128::try_from(max).expect("at most 38 digits");
            let rows = [
                vec![Some(Value::Decimal(max))],
                vec![Some(Value::Decimal(-max))],
                vec![Some(Value::Decimal(-1))],
            ];
            let (bytes, _) = write(&columns, &rows, ParquetOptions::default());
            assert_round_trip(&bytes, &rows);
            let reader = reader(&bytes);
            let column = reader.metadata().file_metadata().schema_descr().column(0);
            assert_eq!(column.type_length(), i32::try_from(width).expect("small"));
        }
    }

    #[test]
    fn row_groups_split_at_the_row_bound() {
        let columns = [spec("n", "int64", true), spec("s", "string", false)];
        let texts: Vec<String> = (0..25).map(|i| format!("row {i}")).collect();
        let rows: Vec<_> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                vec![
                    (i % 3 != 0).then_some(Value::Int64(i64::try_from(i).expect("small"))),
                    Some(Value::String(text)),
                ]
            })
            .collect();
        let options = ParquetOptions {
            max_row_group_rows: 10,
            ..ParquetOptions::default()
        };
        let (bytes, summary) = write(&columns, &rows, options);
        assert_eq!((summary.rows, summary.row_groups), (25, 3));
        let reader = reader(&bytes);
        let sizes: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(parquet::file::metadata::RowGroupMetaData::num_rows)
            .collect();
        assert_eq!(sizes, [10, 10, 5]);
        assert_round_trip(&bytes, &rows);

        // Exactly full: no empty row group at the end.
        let (bytes, summary) = write(&columns, &rows[..20], options);
        assert_eq!(summary.row_groups, 2);
        assert_eq!(super::tests::reader(&bytes).metadata().num_row_groups(), 2);
    }

    #[test]
    fn row_groups_split_at_the_byte_bound() {
        // 8 bytes a required int64: a group reaches 100 bytes at its 13th row.
        let columns = [spec("n", "int64", false)];
        let rows: Vec<_> = (0..30).map(|i| vec![Some(Value::Int64(i))]).collect();
        let options = ParquetOptions {
            max_row_group_bytes: 100,
            ..ParquetOptions::default()
        };
        let (bytes, summary) = write(&columns, &rows, options);
        assert_eq!(summary.row_groups, 3);
        let sizes: Vec<i64> = reader(&bytes)
            .metadata()
            .row_groups()
            .iter()
            .map(parquet::file::metadata::RowGroupMetaData::num_rows)
            .collect();
        assert_eq!(sizes, [13, 13, 4]);
        assert_round_trip(&bytes, &rows);

        // Strings count their length (plus 4) and optional columns their levels (2).
        let columns = [spec("s", "string", true)];
        let long = "x".repeat(46);
        let rows: Vec<_> = (0..5).map(|_| vec![Some(Value::String(&long))]).collect();
        let (bytes, summary) = write(&columns, &rows, options);
        assert_eq!(summary.row_groups, 3, "52 bytes a row: groups of 2");
        assert_round_trip(&bytes, &rows);
    }

    #[test]
    fn pages_of_strings_and_wide_decimals_keep_their_nulls_in_place() {
        // More rows than a page, nulls in irregular places.
        let columns = [spec("s", "string", true), spec("d", "decimal(30, 5)", true)];
        let texts: Vec<String> = (0..3 * crate::parquet_pages::PAGE_ROWS + 17)
            .map(|i| format!("value {}", i % 1000))
            .collect();
        let rows: Vec<_> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                vec![
                    (i % 7 != 3).then_some(Value::String(text)),
                    (i % 5 != 1).then_some(Value::Decimal(i as i128 * -1_000_000_007)),
                ]
            })
            .collect();
        let (bytes, summary) = write(&columns, &rows, ParquetOptions::default());
        assert_eq!(summary.rows, rows.len() as u64);
        assert_round_trip(&bytes, &rows);
    }

    #[test]
    fn dictionaries_where_they_pay_plain_past_the_dictionary_limit() {
        let columns = [
            spec("few", "string", false),
            spec("many", "string", false),
            spec("unique", "string", true),
        ];
        // 100,000 distinct 40-byte strings: ~4 MB, past the 1 MiB dictionary page limit.
        let many: Vec<String> = (0..100_000).map(|i| format!("{i:040}")).collect();
        let rows: Vec<_> = many
            .iter()
            .enumerate()
            .map(|(i, text)| {
                vec![
                    Some(Value::String(["eu", "us", "ap"][i % 3])),
                    Some(Value::String(text)),
                    // Distinct and under the limit, but a dictionary would not be smaller.
                    (i < 1_000).then_some(Value::String(text)),
                ]
            })
            .collect();
        let (bytes, _) = write(&columns, &rows, ParquetOptions::default());
        let reader = reader(&bytes);
        let group = reader.metadata().row_group(0);
        let dictionary =
            |e: &Encoding| matches!(e, Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY);
        // The choice is made per column chunk: a dictionary for all its pages, or none.
        let few: Vec<Encoding> = group.column(0).encodings().collect();
        assert!(group.column(0).dictionary_page_offset().is_some());
        assert!(few.iter().any(dictionary), "{few:?}");
        for index in [1, 2] {
            let plain: Vec<Encoding> = group.column(index).encodings().collect();
            assert!(group.column(index).dictionary_page_offset().is_none());
            assert!(!plain.iter().any(dictionary), "{plain:?}");
            assert!(plain.contains(&Encoding::PLAIN), "{plain:?}");
        }
        // Pages of at most 1 MiB of values: 4.4 MB of strings take 5 pages.
        let pages = reader
            .get_row_group(0)
            .expect("a row group")
            .get_column_page_reader(1)
            .expect("pages")
            .map(|page| page.expect("a page").num_values())
            .collect::<Vec<_>>();
        assert_eq!(pages.len(), 5, "{pages:?}");
        assert_eq!(pages.iter().sum::<u32>(), 100_000);
        assert!(bytes.len() < 4_000_000 / 2, "zstd: {} bytes", bytes.len());
        assert_round_trip(&bytes, &rows);
    }

    /// Min and max PLAIN-encoded.
    type Bounds = Option<(Vec<u8>, Vec<u8>)>;

    fn bounds<T: PartialOrd + Copy>(v: impl Iterator<Item = T>) -> Option<(T, T)> {
        v.fold(None, |b, x| match b {
            None => Some((x, x)),
            Some((lo, hi)) => Some((if x < lo { x } else { lo }, if x > hi { x } else { hi })),
        })
    }

    /// What a column chunk's statistics must say of `values`: min and max PLAIN-encoded
    /// (the Parquet orders; NaN left out, a zero min -0.0 and a zero max +0.0), and nulls.
    fn expected_statistics(column: &ColumnSpec, values: &[Option<Value<'_>>]) -> (Bounds, u64) {
        let nulls = values.iter().filter(|v| v.is_none()).count() as u64;
        let present: Vec<Value<'_>> = values.iter().flatten().copied().collect();
        let plain = match column.column_type {
            ColumnType::Boolean => {
                bounds(present.iter().map(|v| matches!(v, Value::Boolean(true))))
                    .map(|(a, b)| (vec![u8::from(a)], vec![u8::from(b)]))
            }
            ColumnType::Int32 | ColumnType::Date => bounds(present.iter().map(|v| match v {
                Value::Int32(n) | Value::Date(n) => *n,
                _ => unreachable!(),
            }))
            .map(|(a, b)| (a.to_le_bytes().to_vec(), b.to_le_bytes().to_vec())),
            ColumnType::Int64 | ColumnType::Timestamp => bounds(present.iter().map(|v| match v {
                Value::Int64(n) | Value::Timestamp(n) => *n,
                _ => unreachable!(),
            }))
            .map(|(a, b)| (a.to_le_bytes().to_vec(), b.to_le_bytes().to_vec())),
            ColumnType::Float64 => bounds(present.iter().filter_map(|v| match v {
                Value::Float64(n) if !n.is_nan() => Some(*n),
                _ => None,
            }))
            .map(|(a, b)| {
                let a = if a == 0.0 { -0.0 } else { a };
                let b = if b == 0.0 { 0.0 } else { b };
                (a.to_le_bytes().to_vec(), b.to_le_bytes().to_vec())
            }),
            ColumnType::Decimal { precision, .. } => bounds(present.iter().map(|v| match v {
                Value::Decimal(n) => *n,
                _ => unreachable!(),
            }))
            .map(|(a, b)| match decimal_physical(precision) {
                DecimalPhysical::Int32 => (
                    i32::try_from(a).expect("9 digits").to_le_bytes().to_vec(),
                    i32::try_from(b).expect("9 digits").to_le_bytes().to_vec(),
                ),
                DecimalPhysical::Int64 => (
                    i64::try_from(a).expect("18 digits").to_le_bytes().to_vec(),
                    i64::try_from(b).expect("18 digits").to_le_bytes().to_vec(),
                ),
                DecimalPhysical::Fixed(width) => (
                    a.to_be_bytes()[16 - width..].to_vec(),
                    b.to_be_bytes()[16 - width..].to_vec(),
                ),
            }),
            ColumnType::String => bounds(present.iter().map(|v| match v {
                Value::String(s) => s.as_bytes(),
                _ => unreachable!(),
            }))
            .map(|(a, b)| (a.to_vec(), b.to_vec())),
        };
        (plain, nulls)
    }

    #[test]
    fn chunk_statistics_hold_the_min_max_and_nulls_of_every_type() {
        let mut columns = every_type();
        columns.extend([
            spec("zeros", "float64", true),
            spec("nans", "float64", true),
            spec("nothing", "int32", true),
            spec("nothing_wide", "decimal(25, 1)", true),
            spec("nothing_text", "string", true),
            spec("unique", "string", false),
            spec("unique_wide", "decimal(20, 0)", false),
            spec("falses", "boolean", false),
        ]);
        let texts: Vec<String> = (0..25_000).map(|i| format!("u{i:06}")).collect();
        let extra = |i: usize| -> Vec<Option<Value<'_>>> {
            vec![
                Some(Value::Float64([0.0, -0.0, f64::NAN][i % 3])),
                i.is_multiple_of(2).then_some(Value::Float64(f64::NAN)),
                None,
                None,
                None,
                Some(Value::String(&texts[i])),
                Some(Value::Decimal(-(i as i128) * 1_000_003)),
                Some(Value::Boolean(false)),
            ]
        };
        let base = every_type_rows();
        // Negative decimals, -0.0 and NaN, empty strings, bytes above ASCII.
        let mut more = vec![
            Some(Value::Boolean(false)),
            Some(Value::Int32(-7)),
            Some(Value::Int64(-7)),
            Some(Value::Float64(f64::NAN)),
            Some(Value::Decimal(-5)),
            Some(Value::Decimal(-5)),
            Some(Value::Decimal(-5)),
            Some(date("1969-12-31")),
            Some(Value::Timestamp(-1)),
            Some(Value::String("é")),
            Some(Value::String("zz")),
        ];
        more.truncate(every_type().len());
        // One page (a few rows) and several pages (dictionaries, PLAIN, delta blocks).
        for count in [5, 25_000] {
            let rows: Vec<Vec<Option<Value<'_>>>> = (0..count)
                .map(|i| {
                    let mut row = if i == 4 {
                        more.clone()
                    } else {
                        base[i % base.len()].clone()
                    };
                    row.extend(extra(i));
                    row
                })
                .collect();
            let (bytes, _) = write(&columns, &rows, ParquetOptions::default());
            assert_round_trip(&bytes, &rows);
            let reader = reader(&bytes);
            let group = reader.metadata().row_group(0);
            for (index, column) in columns.iter().enumerate() {
                let values: Vec<_> = rows.iter().map(|row| row[index]).collect();
                let (bounds, nulls) = expected_statistics(column, &values);
                let statistics = group.column(index).statistics().expect("statistics");
                let name = &column.name;
                assert_eq!(
                    statistics.null_count_opt(),
                    Some(nulls),
                    "{name} ({count} rows)"
                );
                let read = statistics.min_bytes_opt().map(|min| {
                    (
                        min.to_vec(),
                        statistics.max_bytes_opt().expect("a max").to_vec(),
                    )
                });
                assert_eq!(read, bounds, "{name} ({count} rows)");
            }
            // The rules, spelled out.
            let zeros = group.column(11).statistics().expect("statistics");
            assert_eq!(zeros.min_bytes_opt(), Some(&(-0.0f64).to_le_bytes()[..]));
            assert_eq!(zeros.max_bytes_opt(), Some(&0.0f64.to_le_bytes()[..]));
            assert!(
                group
                    .column(12)
                    .statistics()
                    .expect("stats")
                    .min_bytes_opt()
                    .is_none()
            );
            let d38 = group.column(6).statistics().expect("statistics");
            let most_negative = (-(10_i128.pow(38) - 1)).to_be_bytes();
            assert_eq!(d38.min_bytes_opt(), Some(&most_negative[..]));
            let name = group.column(9).statistics().expect("statistics");
            assert_eq!(name.min_bytes_opt(), Some(&b""[..]));
            // Unsigned bytes: "é" (C3 A9) after "Ünïcödé" (C3 9C).
            assert_eq!(name.max_bytes_opt(), Some("é".as_bytes()));
        }
    }

    #[test]
    fn the_page_index_locates_every_page_and_bounds_its_values() {
        use parquet::file::page_index::column_index::ColumnIndexMetaData;
        use parquet::file::serialized_reader::ReadOptionsBuilder;

        let columns = [spec("n", "int64", true), spec("s", "string", false)];
        let rows: Vec<_> = (0..50_000i64)
            .map(|i| {
                vec![
                    (i % 7 != 0).then_some(Value::Int64(i * 3 - 70_000)),
                    Some(Value::String(
                        ["b", "a", "c"][usize::try_from(i % 3).unwrap()],
                    )),
                ]
            })
            .collect();
        let (bytes, _) = write(&columns, &rows, ParquetOptions::default());
        let options = ReadOptionsBuilder::new().with_page_index().build();
        let reader =
            SerializedFileReader::new_with_options(Bytes::from(bytes.clone()), options).unwrap();
        let metadata = reader.metadata();
        let group = metadata.page_index_for_row_group(0);
        for column in 0..2 {
            let offset = group.offset_index(column).expect("an offset index");
            let firsts: Vec<i64> = offset
                .page_locations()
                .iter()
                .map(|p| p.first_row_index)
                .collect();
            assert_eq!(firsts, [0, 20_000, 40_000]);
            let chunk_end = offset
                .page_locations()
                .iter()
                .map(|p| p.offset + i64::from(p.compressed_page_size))
                .max();
            assert!(chunk_end.is_some_and(|end| end <= i64::try_from(bytes.len()).unwrap()));
        }
        let indexes = [
            group.column_index(0).expect("a column index"),
            group.column_index(1).expect("a column index"),
        ];
        let ColumnIndexMetaData::INT64(numbers) = &indexes[0] else {
            panic!("{:?}", indexes[0]);
        };
        for page in 0..3u8 {
            let rows = i64::from(page) * 20_000..(i64::from(page) * 20_000 + 20_000).min(50_000);
            let present: Vec<i64> = rows
                .clone()
                .filter(|i| i % 7 != 0)
                .map(|i| i * 3 - 70_000)
                .collect();
            assert_eq!(numbers.min_value(usize::from(page)), present.iter().min());
            assert_eq!(numbers.max_value(usize::from(page)), present.iter().max());
            assert_eq!(
                numbers.null_count(usize::from(page)),
                Some(i64::try_from(rows.clone().filter(|i| i % 7 == 0).count()).unwrap())
            );
        }
        let ColumnIndexMetaData::BYTE_ARRAY(strings) = &indexes[1] else {
            panic!("{:?}", indexes[1]);
        };
        assert_eq!(strings.min_value(1), Some(&b"a"[..]));
        assert_eq!(strings.max_value(1), Some(&b"c"[..]));
        assert_round_trip(&bytes, &rows);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Random values, extremes and nulls (deltas that wrap, one-value dictionaries, NaN
        /// bit patterns) come back from the crate's reader as they went in.
        #[test]
        fn random_rows_round_trip(
            values in proptest::collection::vec(
                (
                    proptest::option::of(proptest::num::i64::ANY),
                    proptest::option::of(-999_999_999i128..=999_999_999),
                    proptest::option::of("[ab]{0,3}|é{1,20}"),
                    proptest::option::of(proptest::num::f64::ANY),
                    proptest::bool::ANY,
                    proptest::option::of(proptest::num::i32::ANY),
                ),
                0..700,
            ),
            group in 1usize..300,
        ) {
            let columns = [
                spec("n", "int64", true),
                spec("d", "decimal(9, 3)", true),
                spec("s", "string", true),
                spec("f", "float64", true),
                spec("b", "boolean", false),
                spec("i", "int32", true),
            ];
            let rows: Vec<Vec<Option<Value<'_>>>> = values
                .iter()
                .map(|(n, d, s, f, b, i)| {
                    vec![
                        n.map(Value::Int64),
                        d.map(Value::Decimal),
                        s.as_deref().map(Value::String),
                        f.map(Value::Float64),
                        Some(Value::Boolean(*b)),
                        i.map(Value::Int32),
                    ]
                })
                .collect();
            let options = ParquetOptions {
                max_row_group_rows: group,
                ..ParquetOptions::default()
            };
            let (bytes, _) = write(&columns, &rows, options);
            assert_round_trip(&bytes, &rows);
        }
    }

    #[test]
    fn wide_numbers_are_delta_encoded_without_a_dictionary() {
        let columns = [
            spec("id", "int64", false),
            spec("at", "timestamp", true),
            spec("amount", "decimal(12, 2)", true),
            spec("small", "decimal(5, 2)", true),
            spec("wide", "decimal(30, 2)", true),
            spec("n", "int32", true),
        ];
        let rows: Vec<_> = (0..10_000i64)
            .map(|i| {
                vec![
                    Some(Value::Int64(i * 7 - 3)),
                    (i % 5 != 0).then_some(Value::Timestamp(1_700_000_000_000_000 + i * 999)),
                    Some(Value::Decimal(i128::from(i * 131 % 9_973) - 500)),
                    Some(Value::Decimal(i128::from(i % 999))),
                    Some(Value::Decimal(i128::from(i) * 1_000_000_000_000)),
                    Some(Value::Int32(i32::try_from(i % 50).unwrap())),
                ]
            })
            .collect();
        let (bytes, _) = write(&columns, &rows, ParquetOptions::default());
        let reader = reader(&bytes);
        let group = reader.metadata().row_group(0);
        for index in 0..4 {
            let encodings: Vec<Encoding> = group.column(index).encodings().collect();
            assert!(
                encodings.contains(&Encoding::DELTA_BINARY_PACKED),
                "column {index}: {encodings:?}"
            );
            assert!(group.column(index).dictionary_page_offset().is_none());
        }
        // Wide decimals, all distinct: a dictionary would not be smaller, so PLAIN.
        assert!(group.column(4).dictionary_page_offset().is_none());
        let wide: Vec<Encoding> = group.column(4).encodings().collect();
        assert!(wide.contains(&Encoding::PLAIN), "{wide:?}");
        // 50 distinct int32: a dictionary.
        assert!(group.column(5).dictionary_page_offset().is_some());
        assert_round_trip(&bytes, &rows);
    }

    #[test]
    fn rows_moved_from_buffering_writers_give_the_bytes_of_rows_pushed_one_by_one() {
        let columns = every_type();
        let mut rows = Vec::new();
        for _ in 0..7 {
            rows.extend(every_type_rows());
        }
        for options in [
            ParquetOptions {
                max_row_group_rows: 1,
                ..ParquetOptions::default()
            },
            ParquetOptions {
                max_row_group_rows: 3,
                ..ParquetOptions::default()
            },
            ParquetOptions {
                max_row_group_bytes: 100,
                ..ParquetOptions::default()
            },
            ParquetOptions::default(),
        ] {
            let (expected, _) = write(&columns, &rows, options);
            for batch in [1, 2, 5, rows.len()] {
                let mut writer = ParquetWriter::new(&columns, Vec::new(), options).unwrap();
                let mut buffering = ParquetWriter::buffering(&columns, io::sink()).unwrap();
                for part in rows.chunks(batch) {
                    for row in part {
                        buffering.push(row).unwrap();
                    }
                    writer.append_rows(&mut buffering).unwrap();
                }
                let (bytes, _) = writer.finish().unwrap();
                assert!(bytes == expected, "batches of {batch}, {options:?}");
            }
        }
    }

    /// The capacities of a writer's buffers: each column's levels, values (and string ends).
    fn capacities<W: Write + Send>(writer: &ParquetWriter<W>) -> Vec<usize> {
        let mut capacities = Vec::new();
        for column in &writer.columns {
            capacities.push(column.levels.capacity());
            match &column.values {
                Values::Int64(values) => capacities.push(values.capacity()),
                Values::Bytes { data, ends } => {
                    capacities.extend([data.capacity(), ends.capacity()]);
                }
                _ => unreachable!("int64 and string columns only"),
            }
        }
        capacities
    }

    #[test]
    #[allow(clippy::float_cmp)] // The bounds are exact: the scale is clamped to them.
    fn a_group_of_appended_rows_grows_its_buffers_once_to_the_size_it_will_reach() {
        let columns = [spec("n", "int64", false), spec("s", "string", true)];
        let options = ParquetOptions {
            max_row_group_rows: 1000,
            ..ParquetOptions::default()
        };
        let mut writer = ParquetWriter::new(&columns, Vec::new(), options).unwrap();
        let mut buffering = ParquetWriter::buffering(&columns, io::sink()).unwrap();
        let mut append = |writer: &mut ParquetWriter<Vec<u8>>, rows: std::ops::Range<i64>| {
            for n in rows {
                let s = (n % 2 == 0).then_some(Value::String("four"));
                buffering.push(&[Some(Value::Int64(n)), s]).unwrap();
            }
            writer.append_rows(&mut buffering).unwrap();
        };
        // A tenth of the group: each buffer is made room for the whole group (and a
        // sixteenth more), where doubling would have made room for 100 rows.
        append(&mut writer, 0..100);
        let grown = capacities(&writer);
        // n's levels (a required column has none), values; s's levels, bytes, ends.
        let group = [0, 1000, 1000, 2000, 500];
        for (capacity, expected) in grown.iter().zip(group) {
            assert!(
                (expected..=expected + expected / 8).contains(capacity),
                "{grown:?} for a group of {group:?}"
            );
        }
        // The rest of the group finds its room.
        for start in (100..1000).step_by(100) {
            append(&mut writer, start..start + 100);
            assert_eq!(capacities(&writer), grown, "after row {start}");
        }
        assert_eq!(writer.row_groups, 1);
        // A full group grows by no more than it needs; a writer without bounds by at most
        // GroupGrowth::MAX_SCALE times.
        assert_eq!(GroupGrowth::projected(10, 80, 10, 1 << 20, true).scale, 1.0);
        assert_eq!(
            GroupGrowth::projected(1, 8, usize::MAX, usize::MAX, false).scale,
            GroupGrowth::MAX_SCALE
        );
        let (bytes, _) = writer.finish().unwrap();
        assert_eq!(read_rows(&bytes).len(), 1000);
    }

    #[test]
    fn chunks_are_encoded_into_the_buffers_of_the_chunks_written_before() {
        let columns = every_type();
        let rows = every_type_rows();
        let options = ParquetOptions {
            max_row_group_rows: 2,
            ..ParquetOptions::default()
        };
        let (expected, _) = write(&columns, &rows, options);
        for helpers in [false, true] {
            let threads = Arc::new(ThreadHelpers {
                threads: 1,
                delay: std::time::Duration::ZERO,
                started: Mutex::new(Vec::new()),
            });
            let mut writer = ParquetWriter::new(&columns, Vec::new(), options).unwrap();
            if helpers {
                writer.encode_with(Arc::clone(&threads) as Arc<dyn EncodeHelpers>);
            }
            for (index, row) in rows.iter().enumerate() {
                writer.push(row).unwrap();
                if index % 2 == 1 {
                    // A buffer for each chunk held at once: one, or every column's with
                    // helpers; each written chunk's room kept, its bytes gone.
                    let kept = if helpers { columns.len() } else { 1 };
                    assert_eq!(writer.chunk_buffers.len(), kept, "helpers: {helpers}");
                    assert!(
                        writer
                            .chunk_buffers
                            .iter()
                            .all(|b| b.is_empty() && b.capacity() > 0)
                    );
                }
            }
            let (bytes, _) = writer.finish().unwrap();
            assert!(bytes == expected, "helpers: {helpers}");
            for helper in std::mem::take(&mut *threads.started.lock().unwrap()) {
                helper.join().unwrap();
            }
        }
    }

    #[test]
    fn the_same_rows_give_the_same_bytes() {
        let columns = every_type();
        let rows = every_type_rows();
        let options = ParquetOptions {
            max_row_group_rows: 3,
            ..ParquetOptions::default()
        };
        let (first, _) = write(&columns, &rows, options);
        let (second, _) = write(&columns, &rows, options);
        assert_eq!(first, second);
        let (other, _) = write(&columns, &rows[1..], options);
        assert_ne!(first, other);
    }

    /// Helpers that each encode on a thread of their own, started when offered a row group,
    /// `delay` later (a helper coming late finds nothing left, or part of it).
    struct ThreadHelpers {
        threads: usize,
        delay: std::time::Duration,
        started: Mutex<Vec<std::thread::JoinHandle<()>>>,
    }

    impl EncodeHelpers for ThreadHelpers {
        fn offer(&self, encoding: &Arc<RowGroupEncoding>) {
            let mut started = self.started.lock().expect("the helpers");
            for _ in 0..self.threads {
                let (encoding, delay) = (Arc::clone(encoding), self.delay);
                started.push(std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    encoding.help(&mut None);
                }));
            }
        }
    }

    #[test]
    fn encoding_with_helpers_gives_the_same_bytes() {
        let columns = every_type();
        let rows = every_type_rows();
        let options = ParquetOptions {
            max_row_group_rows: 3,
            ..ParquetOptions::default()
        };
        let (one, _) = write(&columns, &rows, options);
        for (threads, delay_ms) in [(0, 0), (1, 0), (2, 0), (columns.len() + 1, 0), (1, 5)] {
            let helpers = Arc::new(ThreadHelpers {
                threads,
                delay: std::time::Duration::from_millis(delay_ms),
                started: Mutex::new(Vec::new()),
            });
            let mut writer = ParquetWriter::new(&columns, Vec::new(), options).expect("a writer");
            writer.encode_with(Arc::clone(&helpers) as Arc<dyn EncodeHelpers>);
            for row in &rows {
                writer.push(row).expect("push a row");
            }
            let (bytes, summary) = writer.finish().expect("finish");
            assert_eq!(summary.row_groups, rows.len().div_ceil(3) as u64);
            assert!(bytes == one, "{threads} helpers, {delay_ms} ms late");
            let started = std::mem::take(&mut *helpers.started.lock().expect("the helpers"));
            assert_eq!(started.len(), threads * rows.len().div_ceil(3));
            for helper in started {
                helper.join().expect("a helper");
            }
        }
    }

    #[test]
    fn a_helpers_error_reaches_the_writer_in_column_order() {
        let specs = [
            spec("a", "int64", true),
            spec("b", "int64", true),
            spec("c", "string", true),
        ];
        let writer =
            ParquetWriter::new(&specs, Vec::new(), ParquetOptions::default()).expect("a writer");
        let mut columns: Vec<_> = specs.iter().map(ColumnBuffer::new).collect();
        for column in &mut columns {
            column.levels.push(0);
        }
        // A defined level without its value: this column's encoding fails.
        columns[1].levels.push(1);
        let schema = writer.file.schema_descr();
        let descriptors = (0..columns.len()).map(|i| schema.column(i)).collect();
        let encoding = Arc::new(RowGroupEncoding::new(
            descriptors,
            columns,
            writer.encoder.level(),
            Vec::new(),
        ));
        let helper = {
            let encoding = Arc::clone(&encoding);
            std::thread::spawn(move || encoding.help(&mut None))
        };
        let mut encoder = ChunkEncoder::new(writer.encoder.level()).expect("an encoder");
        encoding.take_columns(&mut encoder);
        let (buffers, chunks) = encoding.wait();
        helper.join().expect("the helper");
        assert_eq!(buffers.len(), 3);
        assert!(chunks[0].is_ok() && chunks[2].is_ok());
        let error = chunks[1].as_ref().expect_err("column b fails").to_string();
        assert!(error.contains("0 values for 1 defined levels"), "{error}");
        // A helper coming once every column is taken finds nothing to do.
        encoding.help(&mut None);
    }

    #[test]
    fn no_rows_is_a_valid_empty_file() {
        let (bytes, summary) = write(&every_type(), &[], ParquetOptions::default());
        assert_eq!((summary.rows, summary.row_groups), (0, 0));
        assert_eq!(summary.bytes, bytes.len() as u64);
        assert!(read_rows(&bytes).is_empty());
        assert_eq!(
            reader(&bytes)
                .metadata()
                .file_metadata()
                .schema_descr()
                .num_columns(),
            11
        );
    }

    #[test]
    fn a_bad_row_is_internal_and_leaves_no_trace() {
        let columns = [spec("n", "int32", false), spec("d", "decimal(4, 2)", true)];
        let mut writer =
            ParquetWriter::new(&columns, Vec::new(), ParquetOptions::default()).expect("a writer");
        let bad: [&[Option<Value<'_>>]; 5] = [
            &[Some(Value::Int32(1))],
            &[Some(Value::Int64(1)), None],
            &[None, None],
            &[Some(Value::Int32(1)), Some(Value::Decimal(10_000))],
            &[Some(Value::Int32(1)), Some(Value::String("1.00"))],
        ];
        for row in bad {
            let error = writer.push(row).expect_err("a bad row");
            assert!(matches!(error.kind(), ErrorKind::Internal(_)), "{error}");
            assert_eq!(error.name(), ErrorName::Internal);
        }
        let good = [Some(Value::Int32(7)), Some(Value::Decimal(-9_999))];
        writer.push(&good).expect("a good row");
        assert_eq!(writer.rows(), 1);
        let (bytes, summary) = writer.finish().expect("finish");
        assert_eq!(summary.rows, 1);
        assert_round_trip(&bytes, &[good.to_vec()]);
    }

    #[test]
    fn a_row_refused_late_takes_back_the_values_buffered_before() {
        let columns = [
            spec("s", "string", true),
            spec("n", "int32", false),
            spec("w", "decimal(20, 2)", true),
            spec("d", "decimal(4, 2)", false),
        ];
        let mut writer =
            ParquetWriter::new(&columns, Vec::new(), ParquetOptions::default()).expect("a writer");
        let first = [
            Some(Value::String("kept")),
            Some(Value::Int32(1)),
            Some(Value::Decimal(-12_345)),
            Some(Value::Decimal(1)),
        ];
        writer.push(&first).expect("a good row");
        let bad: [&[Option<Value<'_>>]; 3] = [
            &[
                Some(Value::String("gone")),
                Some(Value::Int32(2)),
                Some(Value::Decimal(5)),
                Some(Value::Decimal(10_000)),
            ],
            &[None, Some(Value::Int32(3)), None, None],
            &[
                Some(Value::String("gone too")),
                Some(Value::Int32(4)),
                Some(Value::Int32(5)),
                Some(Value::Decimal(1)),
            ],
        ];
        for row in bad {
            let error = writer.push(row).expect_err("a bad row");
            assert!(matches!(error.kind(), ErrorKind::Internal(_)), "{error}");
        }
        let last = [None, Some(Value::Int32(6)), None, Some(Value::Decimal(-2))];
        writer.push(&last).expect("a good row");
        let (bytes, summary) = writer.finish().expect("finish");
        assert_eq!(summary.rows, 2);
        assert_round_trip(&bytes, &[first.to_vec(), last.to_vec()]);
    }

    #[test]
    fn appending_from_inference_takes_what_the_contract_reads() {
        let texts = [
            "true",
            "FALSE",
            "0",
            "-7",
            "42",
            "2147483647",
            "2147483648",
            "-2147483649",
            "9223372036854775807",
            "12.5",
            "-0.0",
            "1e5",
            "1e309",
            "2024-02-29",
            "1970-01-01",
            "0001-01-01",
            "9999-12-31",
            "2026-12-02T10:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-12-02T10:00:00+01:00",
            "abc",
        ];
        let columns: Vec<ColumnSpec> = [
            "boolean",
            "int32",
            "int64",
            "float64",
            "date",
            "timestamp",
            "string",
            "decimal(12, 2)",
        ]
        .iter()
        .flat_map(|t| [spec(&format!("{t} optional"), t, true), spec(t, t, false)])
        .collect();
        let writer = || {
            ParquetWriter::new(&columns, Vec::new(), ParquetOptions::default()).expect("a writer")
        };
        // What a required column holds when the text is not one of its values.
        let filler = |column_type| match column_type {
            ColumnType::Boolean => Value::Boolean(false),
            ColumnType::Int32 => Value::Int32(0),
            ColumnType::Int64 => Value::Int64(0),
            ColumnType::Float64 => Value::Float64(0.0),
            ColumnType::Date => Value::Date(0),
            ColumnType::Timestamp => Value::Timestamp(0),
            ColumnType::String => Value::String(""),
            ColumnType::Decimal { .. } => Value::Decimal(0),
        };
        // One writer takes each field from its inference where it can, the other always from
        // the value the contract reads: the same rows, the same bytes.
        let (mut inferring, mut reading) = (writer(), writer());
        let mut taken = 0;
        for text in texts {
            let inferred = crate::infer::infer_text(text);
            for (index, column) in columns.iter().enumerate() {
                let read = column.column_type.read_inferred(inferred, text).ok();
                let value = read.or((!column.nullable).then(|| filler(column.column_type)));
                if read.is_some() && inferring.append_inferred(index, inferred) {
                    taken += 1;
                } else {
                    assert!(inferring.append(index, value), "{} {text:?}", column.name);
                }
                assert!(reading.append(index, value), "{} {text:?}", column.name);
            }
            inferring.commit_row().expect("a whole row");
            reading.commit_row().expect("a whole row");
            // Nothing the contract refuses is taken.
            let mut scratch = writer();
            for (index, column) in columns.iter().enumerate() {
                if scratch.append_inferred(index, inferred) {
                    let read = column.column_type.read_inferred(inferred, text);
                    assert!(read.is_ok(), "{} {text:?}: {read:?}", column.name);
                }
            }
        }
        assert!(
            taken > 20,
            "only {taken} fields appended from their inference"
        );
        let (inferred_bytes, _) = inferring.finish().expect("finish");
        let (read_bytes, _) = reading.finish().expect("finish");
        assert_eq!(inferred_bytes, read_bytes);
    }

    #[test]
    fn bad_schemas_and_options_are_internal() {
        let options = ParquetOptions::default();
        let cases: [(&[ColumnSpec], ParquetOptions); 3] = [
            (&[], options),
            (
                &[spec("a", "int32", false), spec("a", "string", true)],
                options,
            ),
            (
                &[spec("a", "int32", false)],
                ParquetOptions {
                    zstd_level: 99,
                    ..options
                },
            ),
        ];
        for (columns, options) in cases {
            let error = ParquetWriter::new(columns, Vec::new(), options).expect_err("refused");
            assert!(matches!(error.kind(), ErrorKind::Internal(_)), "{error}");
        }
    }

    /// A sink that takes `room` bytes, then fails.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_sink_is_a_write_error_named_storage() {
        let columns = [spec("s", "string", false)];
        let texts: Vec<String> = (0..200).map(|i| format!("payload {i}")).collect();
        let rows: Vec<_> = texts.iter().map(|t| vec![Some(Value::String(t))]).collect();
        let options = ParquetOptions {
            max_row_group_rows: 50,
            ..ParquetOptions::default()
        };
        let (whole, _) = write(&columns, &rows, options);
        // Failing on the magic bytes, inside a row group, and on the footer's last byte.
        for room in [0, 2, whole.len() / 2, whole.len() - 1] {
            let outcome = (|| {
                let mut writer = ParquetWriter::new(&columns, Full { room }, options)?;
                for row in &rows {
                    writer.push(row)?;
                }
                writer.finish().map(|(_, summary)| summary)
            })();
            let error = outcome.expect_err("the sink fills up");
            let ErrorKind::Write(io) = error.kind() else {
                panic!("room {room}: {error:?}");
            };
            assert_eq!(io.kind(), io::ErrorKind::StorageFull, "room {room}");
            assert_eq!(error.name(), ErrorName::Storage);
        }
        let (_, summary) = ParquetWriter::new(&columns, Full { room: whole.len() }, options)
            .and_then(|mut writer| {
                for row in &rows {
                    writer.push(row)?;
                }
                writer.finish()
            })
            .expect("room for the whole file");
        assert_eq!(summary.bytes, whole.len() as u64);
    }
}
