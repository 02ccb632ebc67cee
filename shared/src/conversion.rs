//! The contract stage: records in, typed Parquet and rejected records out.
//!
//! A [`Conversion`] rides along with the profiler in the same streaming pass
//! ([`Processor::with_conversion`](crate::Processor::with_conversion)). It matches the
//! contract to the file's header, checks every record, writes those that meet the contract to
//! a [`ParquetWriter`] and those that do not, with their position and reason, to a JSON Lines
//! rejects stream. The rejection policy is applied as it goes (count) and at the end (share):
//! past it the object fails with `ContractViolation`.
//!
//! The outputs go to [`Write`] sinks the caller gives ([`ConversionOutputs`]): a buffer
//! ([`SharedBuffer`]) or a multipart upload. The caller commits them only after
//! [`Processor::finish`](crate::Processor::finish) succeeded; on an error it discards them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::sync::{Arc, Mutex, PoisonError};

use crate::contract::{self, Binding, ColumnType, Contract, RejectReason, Rejection, Value};
use crate::delimited::Record;
use crate::error::{Error, ErrorKind};
use crate::json_lines::json_string;
use crate::malformed::{MalformedKind, Position};
use crate::parquet_output::{EncodeHelpers, ParquetOptions, ParquetWriter};
use crate::processor::RecordCounts;
use crate::profile::ColumnProfile;
use crate::stage::{Stage, StageColumns, StageFields, StageRecord};

/// Bytes of a rejected record kept in the rejects file; longer records are cut.
pub const MAX_REJECT_RAW_BYTES: usize = 1024;

/// Where a conversion writes.
pub struct ConversionOutputs {
    /// The Parquet file of the records that meet the contract.
    pub parquet: Box<dyn Write + Send>,
    /// The rejected records, one JSON object per line.
    pub rejects: Box<dyn Write + Send>,
}

impl std::fmt::Debug for ConversionOutputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversionOutputs").finish_non_exhaustive()
    }
}

/// An in-memory sink that can be cloned: one clone writes, another takes the bytes after.
#[derive(Debug, Clone, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// An empty buffer.
    pub fn new() -> SharedBuffer {
        SharedBuffer::default()
    }

    /// Takes the bytes written so far, leaving the buffer empty.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a conversion did, for the report's `contract` section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContractOutcome {
    /// The contract's dataset.
    pub dataset: String,
    /// Records written to Parquet.
    pub records_written: u64,
    /// Records rejected.
    pub records_rejected: u64,
    /// Rejected records by reason (`docs/contracts.md` lists the reasons).
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Row groups in the Parquet file.
    pub row_groups: u64,
    /// Size of the Parquet file.
    pub parquet_bytes: u64,
    /// Size of the rejects file (0: no rejects, no file).
    pub rejects_bytes: u64,
}

/// Counts the bytes that pass through.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One rejected record, as a line of the rejects file.
#[derive(serde::Serialize)]
struct RejectLine<'a> {
    record: u64,
    line: u64,
    byte_offset: u64,
    column: Option<&'a str>,
    reason: RejectReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    raw: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    raw_truncated: bool,
}

/// The contract stage of one object: it rides along with the profiler in the same streaming
/// pass ([`Processor::with_conversion`](crate::Processor::with_conversion)), writes the records
/// that meet the contract as Parquet and the others as rejects, and applies the rejection
/// policy. The caller commits its outputs only after
/// [`Processor::finish`](crate::Processor::finish) succeeded.
pub struct Conversion {
    contract: Contract,
    delimiter: u8,
    binding: Option<Binding>,
    parquet: ParquetWriter<Counted<Box<dyn Write + Send>>>,
    rejects: Counted<BufWriter<Box<dyn Write + Send>>>,
    total: u64,
    written: u64,
    rejected: BTreeMap<RejectReason, u64>,
    rejected_count: u64,
    /// A record's fields and typed values: allocations kept from record to record (empty
    /// between records; see [`recycle`]).
    fields: Vec<Option<&'static str>>,
    row: Vec<Option<Value<'static>>>,
    /// A JSON record's column texts (see [`recycle`]).
    texts: Vec<Option<Cow<'static, str>>>,
    /// The binding read the other way, for [`Conversion::profiled_record`]: for each field of
    /// a delimited record, the contract column it holds.
    targets: Vec<Option<FieldTarget>>,
    /// The contract columns no field holds (always null).
    missing: Vec<usize>,
    /// A recording conversion's rejected records, not written yet (`None`: they are
    /// written as they come). See [`ConversionTemplate`].
    held: Option<Vec<HeldReject>>,
}

/// A rejected record a recording conversion keeps for the conversion that takes its records:
/// the rejects line, its position still to be shifted.
#[derive(Debug)]
struct HeldReject {
    at: Position,
    column: Option<usize>,
    reason: RejectReason,
    value: Option<String>,
    raw: String,
    raw_truncated: bool,
}

/// What a recording conversion needs of the conversion of a file: its contract, the
/// delimiter and the binding (for parallel conversion: each worker checks and types the
/// records of its range into buffers, and the conversion of the file takes them in order,
/// [`Conversion::take_recorded`]).
#[derive(Debug, Clone)]
pub(crate) struct ConversionTemplate {
    contract: Contract,
    delimiter: u8,
    binding: Option<Binding>,
    targets: Vec<Option<FieldTarget>>,
    missing: Vec<usize>,
}

/// The contract column a field of a delimited record holds, with what the hot loop of
/// [`Conversion::profiled_record`] asks of it every value, worked out once at binding.
#[derive(Debug, Clone, Copy)]
struct FieldTarget {
    /// The contract column.
    column: usize,
    /// Whether the column has constraints ([`ColumnSpec::constrained`](crate::contract::ColumnSpec)).
    constrained: bool,
    /// Whether the column is a `string` one: a field is its value as it is.
    string: bool,
    /// How the profile infers the column's fields, in one pass with the column's reading.
    reading: Reading,
}

/// How [`Conversion::profiled_record`] has the profile infer a field: the type inference of
/// every field ([`crate::infer`]), tried first as the field's column reads it, so that the
/// common fields of a typed column are read once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Inference as it is.
    Inferred,
    /// An integer column's: [`contract::infer_integer_first`].
    Integer,
    /// A date or timestamp column's: [`contract::infer_temporal_first`].
    Temporal,
    /// A boolean column's: [`contract::infer_boolean_first`].
    Boolean,
    /// A decimal column of at most 18 digits, `(precision, scale)`: its values are typed in
    /// the same pass over their text as their inference ([`contract::infer_with_decimal`]).
    ShortDecimal(u8, u8),
}

impl Reading {
    /// Has `profile` observe the field `bytes` ([`ColumnProfile::observe_field_inferred`]),
    /// inferring it this way; returns the inferred value, and the unscaled decimal read in
    /// the same pass.
    // The closures are there to be inlined; and by reference, the reading is matched where
    // the binding keeps it (by value, the loop copied it out first: 1 % more instructions).
    #[allow(
        clippy::inline_always,
        clippy::redundant_closure,
        clippy::trivially_copy_pass_by_ref
    )]
    #[inline(always)]
    fn observe(
        &self,
        profile: &mut ColumnProfile,
        bytes: &[u8],
    ) -> (Option<crate::infer::Value>, Option<i64>) {
        // The readings are inlined closures: as calls (a call per field), they cost a tenth of
        // their columns' instructions.
        match *self {
            Reading::ShortDecimal(precision, scale) => {
                let mut unscaled = None;
                let inferred = profile.observe_field_inferring(
                    bytes,
                    #[inline(always)]
                    |bytes| {
                        let (inferred, decimal) =
                            contract::infer_with_decimal(bytes, precision, scale);
                        unscaled = decimal;
                        inferred
                    },
                );
                (inferred, unscaled)
            }
            Reading::Integer => (
                profile.observe_field_inferring(
                    bytes,
                    #[inline(always)]
                    |bytes| contract::infer_integer_first(bytes),
                ),
                None,
            ),
            Reading::Temporal => (
                profile.observe_field_inferring(
                    bytes,
                    #[inline(always)]
                    |bytes| contract::infer_temporal_first(bytes),
                ),
                None,
            ),
            Reading::Boolean => (
                profile.observe_field_inferring(
                    bytes,
                    #[inline(always)]
                    |bytes| contract::infer_boolean_first(bytes),
                ),
                None,
            ),
            Reading::Inferred => (profile.observe_field_inferred(bytes), None),
        }
    }
}

impl ConversionTemplate {
    /// A conversion that checks, types and counts records as the file's does, but keeps its
    /// rows ([`ParquetWriter::buffering`]) and rejected records instead of writing them.
    /// Its rejected records count from `rejected_before` for the contract's `max_count`.
    pub(crate) fn recorder(&self, rejected_before: u64) -> Result<Conversion, Error> {
        let parquet = ParquetWriter::buffering(
            &self.contract.columns,
            Counted {
                inner: Box::new(std::io::sink()) as Box<dyn Write + Send>,
                bytes: 0,
            },
        )?;
        Ok(Conversion {
            contract: self.contract.clone(),
            delimiter: self.delimiter,
            binding: self.binding.clone(),
            parquet,
            rejects: Counted {
                inner: BufWriter::with_capacity(0, Box::new(std::io::sink())),
                bytes: 0,
            },
            total: 0,
            written: 0,
            rejected: BTreeMap::new(),
            rejected_count: rejected_before,
            fields: Vec::new(),
            row: Vec::new(),
            texts: Vec::new(),
            targets: self.targets.clone(),
            missing: self.missing.clone(),
            held: Some(Vec::new()),
        })
    }
}

impl std::fmt::Debug for Conversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversion")
            .field("dataset", &self.contract.dataset)
            .field("binding", &self.binding)
            .field("written", &self.written)
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

impl Conversion {
    /// Shares the encoding of each Parquet row group with `helpers`: the bytes are the same
    /// whoever encodes them.
    pub(crate) fn encode_with(&mut self, helpers: Arc<dyn EncodeHelpers>) {
        self.parquet.encode_with(helpers);
    }

    /// Writes the records taken since the last Parquet row group as a row group now (while
    /// the helpers are there), unless [`finish_outcome`](Self::finish_outcome) is to fail for
    /// the share of rejected records: the same outcome, with the same error, as without.
    pub(crate) fn write_buffered_rows(&mut self) -> Result<(), Error> {
        self.check_rejected_share()?;
        self.parquet.write_buffered_rows()
    }

    /// Records written to Parquet so far.
    pub(crate) fn records_written(&self) -> u64 {
        self.written
    }

    /// The contract stage for the object stored under `key`, writing to `outputs`. Fails with
    /// `ContractViolation` when the key lacks the contract's partition folders.
    pub fn new(
        contract: &Contract,
        key: &str,
        outputs: ConversionOutputs,
    ) -> Result<Conversion, Error> {
        Conversion::with_parquet_options(contract, key, outputs, ParquetOptions::default())
    }

    /// [`Conversion::new`] writing the Parquet file with `options` (row group bounds, zstd
    /// level) instead of [`ParquetOptions::default`].
    pub fn with_parquet_options(
        contract: &Contract,
        key: &str,
        outputs: ConversionOutputs,
        options: ParquetOptions,
    ) -> Result<Conversion, Error> {
        contract
            .partition_values(key)
            .map_err(|detail| violation(contract, detail))?;
        let parquet = ParquetWriter::new(
            &contract.columns,
            Counted {
                inner: outputs.parquet,
                bytes: 0,
            },
            options,
        )?;
        Ok(Conversion {
            contract: contract.clone(),
            delimiter: contract.format.delimiter.unwrap_or(b','),
            binding: None,
            parquet,
            rejects: Counted {
                inner: BufWriter::with_capacity(64 * 1024, outputs.rejects),
                bytes: 0,
            },
            total: 0,
            written: 0,
            rejected: BTreeMap::new(),
            rejected_count: 0,
            fields: Vec::new(),
            row: Vec::new(),
            texts: Vec::new(),
            targets: Vec::new(),
            missing: Vec::new(),
            held: None,
        })
    }

    /// What a recording conversion needs of this one, as it is bound now.
    pub(crate) fn template(&self) -> ConversionTemplate {
        ConversionTemplate {
            contract: self.contract.clone(),
            delimiter: self.delimiter,
            binding: self.binding.clone(),
            targets: self.targets.clone(),
            missing: self.missing.clone(),
        }
    }

    /// Records rejected so far.
    pub(crate) fn rejected_count(&self) -> u64 {
        self.rejected_count
    }

    /// Whether `more` rejected records keep this conversion within the contract's
    /// `max_count`.
    pub(crate) fn rejects_fit(&self, more: u64) -> bool {
        self.contract
            .rejects
            .max_count
            .is_none_or(|limit| self.rejected_count.saturating_add(more) <= limit)
    }

    /// Takes the records of `recorder` (a [`ConversionTemplate::recorder`]): its rows go to
    /// the Parquet file, its rejected records to the rejects with their records and lines
    /// moved on by `record_shift` and `line_shift`, as if this conversion had met them; the
    /// recorder is left empty, counting its rejected records from this one's. The contract's
    /// `max_count` fails here as it would have there.
    pub(crate) fn take_recorded(
        &mut self,
        recorder: &mut Conversion,
        record_shift: u64,
        line_shift: u64,
    ) -> Result<(), Error> {
        let held = recorder
            .held
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        for reject in held {
            let at = Position {
                record: reject.at.record + record_shift,
                line: reject.at.line + line_shift,
                byte_offset: reject.at.byte_offset,
            };
            let rejection = Rejection {
                column: reject.column,
                reason: reject.reason,
            };
            self.write_reject(
                at,
                rejection,
                reject.value.as_deref(),
                &reject.raw,
                reject.raw_truncated,
            )?;
        }
        self.parquet.append_rows(&mut recorder.parquet)?;
        self.total += std::mem::take(&mut recorder.total);
        self.written += std::mem::take(&mut recorder.written);
        recorder.rejected.clear();
        recorder.rejected_count = self.rejected_count;
        Ok(())
    }

    /// Makes a recorder whose records were all taken ([`Conversion::take_recorded`]) ready
    /// for another range, as [`ConversionTemplate::recorder`] makes one (its buffers keep their
    /// capacity); false, and nothing to reuse, when it still holds anything.
    pub(crate) fn restart_recording(&mut self) -> bool {
        self.rejected_count = 0;
        self.total == 0
            && self.written == 0
            && self.rejected.is_empty()
            && self.parquet.rows() == 0
            && self.held.as_ref().is_some_and(Vec::is_empty)
    }

    /// The contract.
    pub fn contract(&self) -> &Contract {
        &self.contract
    }

    /// The delimiter of the delimited text, for the rejects' raw records.
    pub(crate) fn set_delimiter(&mut self, delimiter: u8) {
        self.delimiter = delimiter;
    }

    /// Matches the contract to the file's columns: the header's names, or `None` for a file
    /// without header (columns by position). Called once, before the first record.
    pub(crate) fn bind(&mut self, header: Option<&[String]>) -> Result<(), Error> {
        let binding = self
            .contract
            .bind(header)
            .map_err(|detail| violation(&self.contract, detail))?;
        self.targets = vec![None; binding.fields.unwrap_or(0)];
        self.missing.clear();
        for (column, source) in binding.sources.iter().enumerate() {
            match source.and_then(|source| self.targets.get_mut(source)) {
                Some(target) => {
                    let spec = &self.contract.columns[column];
                    *target = Some(FieldTarget {
                        column,
                        constrained: spec.constrained(),
                        string: spec.column_type == ColumnType::String,
                        reading: match spec.column_type {
                            ColumnType::Decimal { precision, scale } if precision <= 18 => {
                                Reading::ShortDecimal(precision, scale)
                            }
                            ColumnType::Int32 | ColumnType::Int64 => Reading::Integer,
                            ColumnType::Date | ColumnType::Timestamp => Reading::Temporal,
                            ColumnType::Boolean => Reading::Boolean,
                            _ => Reading::Inferred,
                        },
                    });
                }
                None => self.missing.push(column),
            }
        }
        self.binding = Some(binding);
        Ok(())
    }

    /// Binds by name for JSON Lines: every record is an object whose keys are looked up.
    pub(crate) fn bind_json(&mut self) {
        self.targets.clear();
        self.missing.clear();
        self.binding = Some(Binding {
            sources: (0..self.contract.columns.len()).map(Some).collect(),
            fields: None,
        });
    }

    fn binding(&mut self) -> Result<&Binding, Error> {
        if self.binding.is_none() {
            self.bind(None)?;
        }
        self.binding
            .as_ref()
            .ok_or_else(|| ErrorKind::Internal("conversion without binding".into()).into())
    }

    /// A delimited record: its fields, or the problem that makes it malformed.
    pub(crate) fn delimited_record(
        &mut self,
        at: Position,
        record: &Record<'_>,
        problem: Option<MalformedKind>,
    ) -> Result<(), Error> {
        self.total += 1;
        self.check_record(at, record, problem)
    }

    /// A well-formed delimited record whose fields the profile takes too: `profiles[i]` is
    /// field `i`'s column profile (fields past the end are not profiled). Each field is read
    /// once for both: the profile infers its type, and the contract types the field from
    /// that ([`ColumnType::read_inferred`](crate::contract::ColumnType)) and appends it
    /// straight to its Parquet column. The outputs are those of
    /// [`delimited_record`](Self::delimited_record) and the profile's own observation of the
    /// fields: a record that does not meet the contract, or another number of fields than the
    /// binding's, takes that path (after the profile saw its fields).
    #[inline]
    pub(crate) fn profiled_record(
        &mut self,
        at: Position,
        record: &Record<'_>,
        profiles: &mut [ColumnProfile],
    ) -> Result<(), Error> {
        self.total += 1;
        if self.binding.is_none() {
            self.bind(None)?;
        }
        if self.targets.len() != record.len() {
            for (field, profile) in record.fields().zip(profiles.iter_mut()) {
                if !field.is_empty() {
                    profile.observe_text(field);
                }
            }
            return self.check_record(at, record, None);
        }
        let mut met = true;
        let mut profiles = profiles.iter_mut();
        // Fields are cut as bytes, for the profile and the typed columns; as text (a cut
        // checked for character boundaries) only where a column takes it as it is. Rows are
        // UTF-8 cut at ASCII delimiters: both cuts agree.
        let (text, ends) = record.text_and_ends();
        let mut start = 0;
        for (index, (&end, target)) in ends.iter().zip(&self.targets).enumerate() {
            let range = start..end as usize;
            start = range.end + 1;
            let profile = profiles.next();
            let field_bytes = text.as_bytes().get(range.clone()).unwrap_or_default();
            let field = || text.get(range.clone()).unwrap_or_default();
            if field_bytes.is_empty() {
                let Some(target) = *target else { continue };
                if !met {
                    continue;
                }
                let column = target.column;
                let spec = &self.contract.columns[column];
                met = if spec.column_type == ColumnType::String && record.is_quoted(index) {
                    // A quoted "" in a string column: the empty string.
                    spec.check(Some(""))
                        .is_ok_and(|value| self.parquet.append(column, value))
                } else {
                    spec.nullable && self.parquet.append(column, None)
                };
                continue;
            }
            // The field is inferred as its column reads it first; a decimal column's is read
            // as a decimal in the same pass.
            let (inferred, unscaled) = match (profile, target) {
                (Some(profile), Some(target)) => target.reading.observe(profile, field_bytes),
                (Some(profile), None) => (profile.observe_field_inferred(field_bytes), None),
                (None, _) => (None, None),
            };
            let Some(target) = *target else { continue };
            if !met {
                continue;
            }
            let column = target.column;
            if !target.constrained {
                // The common pairs of a column and a field append without a `Value` in between.
                let appended = match (unscaled, inferred) {
                    (Some(unscaled), _) => {
                        met = self
                            .parquet
                            .append(column, Some(Value::Decimal(i128::from(unscaled))));
                        true
                    }
                    _ if target.string => {
                        met = self.parquet.append(column, Some(Value::String(field())));
                        true
                    }
                    (None, Some(inferred)) => self.parquet.append_inferred(column, inferred),
                    (None, None) => false,
                };
                if appended {
                    continue;
                }
            }
            let spec = &self.contract.columns[column];
            let field = field();
            let value = match (unscaled, inferred) {
                (Some(unscaled), _) => Ok(Value::Decimal(i128::from(unscaled))),
                (None, Some(inferred)) => spec.column_type.read_inferred(inferred, field),
                (None, None) => spec.column_type.parse(field),
            };
            met = match value {
                Ok(value) => {
                    (!target.constrained || spec.check_constraints(field, &value).is_ok())
                        && self.parquet.append(column, Some(value))
                }
                Err(_) => false,
            };
        }
        for &column in &self.missing {
            met = met && self.parquet.append(column, None);
        }
        if !met {
            self.parquet.discard_row();
            return self.check_record(at, record, None);
        }
        self.parquet.commit_row()?;
        self.written += 1;
        Ok(())
    }

    /// [`delimited_record`](Self::delimited_record) after the count.
    fn check_record(
        &mut self,
        at: Position,
        record: &Record<'_>,
        problem: Option<MalformedKind>,
    ) -> Result<(), Error> {
        let mut values: Vec<Option<&str>> = recycle(std::mem::take(&mut self.fields));
        // An unquoted empty field has no value; a quoted `""` is an empty string.
        values.extend(
            record.fields().enumerate().map(|(index, field)| {
                (!field.is_empty() || record.is_quoted(index)).then_some(field)
            }),
        );
        let outcome = self.check_delimited(at, &values, problem);
        self.fields = recycle(values);
        outcome
    }

    fn check_delimited(
        &mut self,
        at: Position,
        values: &[Option<&str>],
        problem: Option<MalformedKind>,
    ) -> Result<(), Error> {
        let delimiter = self.delimiter;
        let raw = || raw_delimited(values.iter().copied(), delimiter);
        if problem.is_some() {
            let rejection = Rejection {
                column: None,
                reason: RejectReason::Malformed,
            };
            return self.reject(at, rejection, None, &raw());
        }
        self.binding()?;
        let mut row = recycle(std::mem::take(&mut self.row));
        let checked = match &self.binding {
            Some(binding) => binding.check_values(&self.contract, values, &mut row),
            None => return Err(ErrorKind::Internal("conversion without binding".into()).into()),
        };
        let outcome = match checked {
            Ok(()) => self.accept(&row),
            Err(rejection) => {
                let value =
                    self.rejected_value(&rejection, |source| values.get(source).copied().flatten());
                self.reject(at, rejection, value, &raw())
            }
        };
        self.row = recycle(row);
        outcome
    }

    /// A JSON Lines record: the line's text and, when it is an object, its members (the last
    /// one wins for a repeated key); `None` for a line that is not one JSON value.
    pub(crate) fn json_record(
        &mut self,
        at: Position,
        line: &str,
        members: Option<&[(Cow<'_, str>, &serde_json::value::RawValue)]>,
    ) -> Result<(), Error> {
        self.total += 1;
        let Some(members) = members else {
            let reason = if serde_json::from_str::<&serde_json::value::RawValue>(line).is_ok() {
                RejectReason::Type
            } else {
                RejectReason::Malformed
            };
            let rejection = Rejection {
                column: None,
                reason,
            };
            return self.reject(at, rejection, None, line);
        };
        let mut texts: Vec<Option<Cow<'_, str>>> = recycle(std::mem::take(&mut self.texts));
        let mut not_scalar = None;
        for (index, column) in self.contract.columns.iter().enumerate() {
            let raw = members
                .iter()
                .rev()
                .find(|(key, _)| key == &column.name)
                .map(|(_, raw)| raw.get());
            let text = match raw {
                None | Some("null") => None,
                Some(raw) if raw.starts_with('"') => {
                    // Borrowed unless escaped (serde's `Cow` always owns).
                    match json_string(raw) {
                        Ok(text) => Some(text),
                        Err(_) => {
                            return Err(ErrorKind::Internal("unreadable JSON string".into()).into());
                        }
                    }
                }
                Some(raw) if raw.starts_with(['{', '[']) => {
                    not_scalar.get_or_insert(index);
                    None
                }
                Some(raw) => Some(Cow::Borrowed(raw)),
            };
            texts.push(text);
        }
        if let Some(column) = not_scalar {
            let rejection = Rejection {
                column: Some(column),
                reason: RejectReason::Type,
            };
            return self.reject(at, rejection, None, line);
        }
        let mut row: Vec<Option<Value<'_>>> = recycle(std::mem::take(&mut self.row));
        let mut failed = None;
        for (index, (column, text)) in self.contract.columns.iter().zip(&texts).enumerate() {
            match column.check(text.as_deref()) {
                Ok(value) => row.push(value),
                Err(reason) => {
                    failed = Some(Rejection {
                        column: Some(index),
                        reason,
                    });
                    break;
                }
            }
        }
        let result = match failed {
            None => self.accept(&row),
            Some(rejection) => {
                let value = rejection
                    .column
                    .and_then(|c| texts.get(c))
                    .and_then(|t| t.as_deref())
                    .map(str::to_owned);
                self.reject(at, rejection, value.as_deref(), line)
            }
        };
        self.row = recycle(row);
        self.texts = recycle(texts);
        result
    }

    fn rejected_value<'v>(
        &self,
        rejection: &Rejection,
        field: impl Fn(usize) -> Option<&'v str>,
    ) -> Option<&'v str> {
        let column = rejection.column?;
        let source = self
            .binding
            .as_ref()?
            .sources
            .get(column)
            .copied()
            .flatten()?;
        field(source)
    }

    fn accept(&mut self, row: &[Option<Value<'_>>]) -> Result<(), Error> {
        self.parquet.push(row)?;
        self.written += 1;
        Ok(())
    }

    fn reject(
        &mut self,
        at: Position,
        rejection: Rejection,
        value: Option<&str>,
        raw: &str,
    ) -> Result<(), Error> {
        let (raw, raw_truncated) = cut(raw, MAX_REJECT_RAW_BYTES);
        let value = value.map(|v| cut(v, MAX_REJECT_RAW_BYTES).0);
        if let Some(held) = &mut self.held {
            held.push(HeldReject {
                at,
                column: rejection.column,
                reason: rejection.reason,
                value: value.map(str::to_owned),
                raw: raw.to_owned(),
                raw_truncated,
            });
            return self.count_reject(at, rejection);
        }
        self.write_reject(at, rejection, value, raw, raw_truncated)
    }

    /// Writes a rejects line (`value` and `raw` cut already) and counts it.
    fn write_reject(
        &mut self,
        at: Position,
        rejection: Rejection,
        value: Option<&str>,
        raw: &str,
        raw_truncated: bool,
    ) -> Result<(), Error> {
        let line = RejectLine {
            record: at.record,
            line: at.line,
            byte_offset: at.byte_offset,
            column: rejection
                .column
                .and_then(|c| self.contract.columns.get(c))
                .map(|c| c.name.as_str()),
            reason: rejection.reason,
            value,
            raw,
            raw_truncated,
        };
        serde_json::to_writer(&mut self.rejects, &line).map_err(write_error)?;
        self.rejects.write_all(b"\n").map_err(ErrorKind::Write)?;
        self.count_reject(at, rejection)
    }

    /// Counts a rejected record; past the contract's `max_count`, the object fails.
    fn count_reject(&mut self, at: Position, rejection: Rejection) -> Result<(), Error> {
        *self.rejected.entry(rejection.reason).or_default() += 1;
        self.rejected_count += 1;
        if let Some(limit) = self.contract.rejects.max_count
            && self.rejected_count > limit
        {
            return Err(violation(
                &self.contract,
                format!(
                    "more than {limit} rejected records (the contract's rejects.max_count); \
                     record {} at line {}: {}",
                    at.record,
                    at.line,
                    describe(&self.contract, rejection)
                ),
            ));
        }
        Ok(())
    }

    /// A violation when more records were rejected than the contract's `rejects.max_share`.
    fn check_rejected_share(&self) -> Result<(), Error> {
        if let Some(share) = self.contract.rejects.max_share
            && self.total > 0
        {
            #[allow(clippy::cast_precision_loss)]
            let rejected_share = self.rejected_count as f64 / self.total as f64;
            if rejected_share > share {
                return Err(violation(
                    &self.contract,
                    format!(
                        "{} of {} records rejected, more than the contract's rejects.max_share of {share}",
                        self.rejected_count, self.total
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Ends the stage: applies the share limit, closes the Parquet file and flushes both
    /// sinks.
    pub(crate) fn finish_outcome(self) -> Result<ContractOutcome, Error> {
        self.check_rejected_share()?;
        let (mut parquet_sink, summary) = self.parquet.finish()?;
        parquet_sink.flush().map_err(ErrorKind::Write)?;
        let mut rejects = self.rejects;
        rejects.flush().map_err(ErrorKind::Write)?;
        Ok(ContractOutcome {
            dataset: self.contract.dataset.clone(),
            records_written: self.written,
            records_rejected: self.rejected_count,
            rejected_by_reason: self
                .rejected
                .iter()
                .map(|(reason, count)| (reason.as_str().to_owned(), *count))
                .collect(),
            row_groups: summary.row_groups,
            parquet_bytes: parquet_sink.bytes,
            rejects_bytes: rejects.bytes,
        })
    }
}

/// The contract stage behind the common seam: the processor drives it like any stage, and
/// puts its outcome in [`Analysis::contract`](crate::Analysis) (the report's `contract`).
impl Stage for Conversion {
    fn start(&mut self, columns: StageColumns<'_>) -> Result<(), Error> {
        match columns {
            StageColumns::Header(names) => self.bind(Some(names)),
            StageColumns::JsonLines => {
                self.bind_json();
                Ok(())
            }
            StageColumns::BrokenHeader { line, problem } => Err(violation(
                &self.contract,
                format!(
                    "the header row on line {line} is malformed: {}",
                    crate::delimited::describe(problem)
                ),
            )),
            // Bound by position at the first record that is not malformed.
            StageColumns::Positional => Ok(()),
        }
    }

    #[inline]
    fn record(&mut self, record: &StageRecord<'_>) -> Result<(), Error> {
        let at = Position::from(record.position);
        match record.fields {
            StageFields::Delimited(row) => self.delimited_record(at, row, record.problem),
            StageFields::JsonLines { line, members } => self.json_record(at, line, members),
        }
    }

    fn finish(self: Box<Self>, _records: RecordCounts) -> Result<serde_json::Value, Error> {
        let outcome = self.finish_outcome()?;
        serde_json::to_value(outcome).map_err(|e| ErrorKind::Internal(e.to_string()).into())
    }
}

/// `buffer` emptied and retyped for values of another lifetime, keeping its allocation (an
/// empty vector collected into one of the same layout reuses it): the stage's per-record
/// buffers outlive the records they borrow from.
pub(crate) fn recycle<T, U>(mut buffer: Vec<T>) -> Vec<U> {
    buffer.clear();
    buffer
        .into_iter()
        .map(|_| unreachable!("emptied"))
        .collect()
}

fn violation(contract: &Contract, detail: String) -> Error {
    ErrorKind::ContractViolation {
        dataset: contract.dataset.clone(),
        detail,
    }
    .into()
}

fn write_error(e: serde_json::Error) -> Error {
    ErrorKind::Write(std::io::Error::other(e)).into()
}

fn describe(contract: &Contract, rejection: Rejection) -> String {
    match rejection.column.and_then(|c| contract.columns.get(c)) {
        Some(column) => format!("column `{}`: {}", column.name, rejection.reason),
        None => rejection.reason.to_string(),
    }
}

/// `text` cut to at most `max` bytes at a character boundary, and whether it was cut.
fn cut(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// The record as a line of delimited text again: fields quoted as RFC 4180 wants, an empty
/// string as `""` and no value as nothing.
fn raw_delimited<'r>(fields: impl Iterator<Item = Option<&'r str>>, delimiter: u8) -> String {
    let delimiter = char::from(delimiter);
    let mut raw = String::new();
    for (index, field) in fields.enumerate() {
        if index > 0 {
            raw.push(delimiter);
        }
        let Some(field) = field else { continue };
        if field.is_empty() || field.contains([delimiter, '"', '\n', '\r']) {
            raw.push('"');
            raw.push_str(&field.replace('"', "\"\""));
            raw.push('"');
        } else {
            raw.push_str(field);
        }
        if raw.len() > MAX_REJECT_RAW_BYTES {
            break;
        }
    }
    raw
}
