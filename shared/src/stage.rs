//! The seam of the processing: stages that see every record and write outputs. See [`Stage`].

use std::any::Any;
use std::borrow::Cow;
use std::io::Write;

use serde_json::value::RawValue;

use crate::conversion::{ContractOutcome, Conversion};
use crate::delimited;
use crate::error::{Error, ErrorKind, ErrorName};
use crate::malformed::MalformedKind;
use crate::malformed::Position;
use crate::processor::RecordCounts;
use crate::profile::ColumnProfile;

/// One processing step over an object's records.
///
/// One pass over an object feeds its records to a list of [`Stage`]s. The profile is the
/// driver, not a stage: it decompresses, sniffs the layout, tokenizes the text and profiles
/// the columns, and hands each stage the records it cut. The contract stage
/// ([`Conversion`]: Parquet and rejected records) is one stage; a team adds
/// its own the same way.
///
/// A stage sees, in this order:
/// 1. [`Stage::start`], once, before any record: how the fields are named ([`StageColumns`]).
/// 2. [`Stage::record`] for every record in input order, malformed ones included (they carry
///    their [`MalformedKind`]), with its position and its fields ([`StageRecord`]); under a
///    contract, with the contract's [`ContractVerdict`] on it too (written or rejected).
/// 3. [`Stage::finish`], once the whole object was read and profiled without error: it
///    flushes its outputs and returns its section of the report (any JSON value).
///
/// Any of them can fail the object with a named error ([`stage_failure`]): nothing any stage
/// wrote is committed, and the error's [`ErrorName`] decides retries and exit codes like any
/// other failure.
///
/// A stage writes only to the sinks it was built with. The caller gets them from a
/// [`StageFactory`], registered once, which says on which objects the stage runs and which
/// outputs (name, key, content type) it writes: the caller stages every output (buffers, or
/// multipart uploads) and commits them all, then the report, only after
/// [`Processor::finish`](crate::Processor::finish) succeeded. So a stage never sees a
/// bucket, a client or an async runtime.
///
/// The hot path costs one dynamic call per record and stage; [`StageRecord`] borrows the parser's
/// buffers, so a stage that keeps nothing allocates nothing.
///
/// ```
/// use shared::{Config, Error, Processor, RecordCounts, Stage, StageColumns, StageRecord};
///
/// /// Counts the records whose first field is empty.
/// #[derive(Debug, Default)]
/// struct EmptyFirstField(u64);
///
/// impl Stage for EmptyFirstField {
///     fn start(&mut self, _columns: StageColumns<'_>) -> Result<(), Error> {
///         Ok(())
///     }
///     fn record(&mut self, record: &StageRecord<'_>) -> Result<(), Error> {
///         if record.field(0) == Some("") {
///             self.0 += 1;
///         }
///         Ok(())
///     }
///     fn finish(self: Box<Self>, _records: RecordCounts) -> Result<serde_json::Value, Error> {
///         Ok(serde_json::json!({ "empty": self.0 }))
///     }
/// }
///
/// let processor = Processor::new(Config::default(), Some("people.csv"))
///     .with_stage("empty_names", Box::new(EmptyFirstField::default()));
/// let analysis = processor.read_to_end(&b"name,age\n,36\nAlan,41\n"[..], 4096).unwrap();
/// assert_eq!(analysis.stages[0].section, serde_json::json!({ "empty": 1 }));
/// ```
pub trait Stage: Send + Any {
    /// Called once, before the first record (and before [`finish`](Stage::finish) when there
    /// is none): how the records' fields are named.
    fn start(&mut self, columns: StageColumns<'_>) -> Result<(), Error>;

    /// Called for every record, in input order, malformed ones included.
    fn record(&mut self, record: &StageRecord<'_>) -> Result<(), Error>;

    /// Called once the whole object was read and every check passed so far: flushes the
    /// outputs and returns the stage's report section. An error fails the object, and none of
    /// the outputs is committed. `records` are the object's counts.
    fn finish(self: Box<Self>, records: RecordCounts) -> Result<serde_json::Value, Error>;
}

/// How the fields of the records are named, given to [`Stage::start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StageColumns<'a> {
    /// Delimited text with a header: its names, in field order (empty names become
    /// `column_N`, repeated ones get `_2`, `_3`…).
    Header(&'a [String]),
    /// Delimited text with a header row the tokenizer could not read (a quote left open…):
    /// the records are positional. The contract stage fails here; most stages need not.
    BrokenHeader {
        /// The header's line, from 1.
        line: u64,
        /// What is wrong with it.
        problem: MalformedKind,
    },
    /// Delimited text without header: fields by position.
    Positional,
    /// JSON Lines: every record names its members.
    JsonLines,
}

/// Where a record starts in the (decompressed) input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct RecordPosition {
    /// Record number, from 1 (a CSV header is not a record).
    pub record: u64,
    /// Line on which it starts, from 1.
    pub line: u64,
    /// Offset of its first byte.
    pub byte_offset: u64,
}

impl From<Position> for RecordPosition {
    fn from(at: Position) -> RecordPosition {
        RecordPosition {
            record: at.record,
            line: at.line,
            byte_offset: at.byte_offset,
        }
    }
}

impl From<RecordPosition> for Position {
    fn from(at: RecordPosition) -> Position {
        Position {
            record: at.record,
            line: at.line,
            byte_offset: at.byte_offset,
        }
    }
}

/// One record as a stage sees it: borrowed from the parser, valid during the call only.
#[derive(Debug, Clone, Copy)]
pub struct StageRecord<'r> {
    /// Where it starts.
    pub position: RecordPosition,
    /// Why it is malformed, when it is (the report lists it); its fields may then be partial
    /// (a ragged row is not malformed here: [`StageRecord::len`] tells its width).
    pub problem: Option<MalformedKind>,
    /// Its fields.
    pub fields: StageFields<'r>,
    /// What the object's contract made of it, for the stages registered after the contract's
    /// (a stage forwarding only the valid rows reads it); `None` when no contract owns the
    /// object.
    pub contract: Option<ContractVerdict>,
}

/// What the contract stage made of one record, as the stages after it see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractVerdict {
    /// It met the contract: its row is in the Parquet output.
    Written,
    /// It did not (or it is malformed): it is in the rejected records.
    Rejected,
}

/// A record's fields, as its format gives them.
#[derive(Debug, Clone, Copy)]
pub enum StageFields<'r> {
    /// A row of delimited text: unescaped fields by position, named by [`StageColumns::Header`].
    Delimited(&'r delimited::Record<'r>),
    /// A line of JSON Lines.
    JsonLines {
        /// The line's text (empty for a line too long to keep or not UTF-8).
        line: &'r str,
        /// Its members in order (keys unescaped, values as raw JSON), when the line is one
        /// JSON object; a repeated key appears twice, the last one counts.
        members: Option<&'r [(Cow<'r, str>, &'r RawValue)]>,
    },
}

impl<'r> StageRecord<'r> {
    /// Whether the record broke a rule of its format.
    pub fn is_malformed(&self) -> bool {
        self.problem.is_some()
    }

    /// Number of fields (CSV) or members (JSON Lines).
    pub fn len(&self) -> usize {
        match self.fields {
            StageFields::Delimited(row) => row.len(),
            StageFields::JsonLines { members, .. } => members.map_or(0, <[_]>::len),
        }
    }

    /// Whether the record has no field.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether field `index` of a delimited row was quoted in the input (a quoted `""` is an
    /// empty string, an unquoted empty field has no value); false for JSON Lines.
    pub fn is_quoted(&self, index: usize) -> bool {
        match self.fields {
            StageFields::Delimited(row) => row.is_quoted(index),
            StageFields::JsonLines { .. } => false,
        }
    }

    /// Field `index` of a delimited row; `None` past its end or for JSON Lines.
    pub fn field(&self, index: usize) -> Option<&'r str> {
        match self.fields {
            StageFields::Delimited(row) if index < row.len() => Some(row.field(index)),
            _ => None,
        }
    }

    /// The raw JSON value of member `name` of a JSON Lines object (the last one when the key
    /// repeats); `None` when absent or for delimited text.
    pub fn member(&self, name: &str) -> Option<&'r RawValue> {
        match self.fields {
            StageFields::JsonLines {
                members: Some(members),
                ..
            } => members
                .iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, value)| *value),
            _ => None,
        }
    }
}

/// A failure of a stage under one of the error table's names: the name decides whether the
/// state machine retries (`Storage`, `Interrupted`) and the Fargate program's exit code.
pub fn stage_failure(name: ErrorName, stage: &str, detail: impl Into<String>) -> Error {
    ErrorKind::Stage {
        stage: stage.to_owned(),
        name,
        detail: detail.into(),
    }
    .into()
}

/// One output a stage writes for an object, declared before the object is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputDeclaration {
    /// A short name, unique within the stage (`counts`, `parquet`).
    pub name: String,
    /// The key it is committed under: derived from the source key only (never the clock),
    /// so a new version of the source replaces it and a re-run writes the same key.
    pub key: String,
    /// Its `Content-Type` (`application/jsonl`, `application/vnd.apache.parquet`…).
    pub content_type: &'static str,
}

/// A stage as a team registers it, once: where it runs, what it writes, and how to build it
/// for one object.
pub trait StageFactory: Send + Sync {
    /// Its name: the key of its section in the report's `stages`. Unique among the stages.
    fn name(&self) -> &str;

    /// The outputs it writes for the object stored under `key`, in order, or `None` when it
    /// does not run on that object.
    fn outputs(&self, key: &str) -> Option<Vec<OutputDeclaration>>;

    /// The stage for the object stored under `key`, writing output `i` of
    /// [`outputs`](StageFactory::outputs) to `sinks[i]`.
    fn build(&self, key: &str, sinks: Vec<Box<dyn Write + Send>>) -> Result<Box<dyn Stage>, Error>;
}

/// What a stage other than the contract's returned, in [`Analysis::stages`](crate::Analysis).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StageSection {
    /// The stage's name.
    pub name: String,
    /// What [`Stage::finish`] returned.
    pub section: serde_json::Value,
}

/// The stages of one pass, driven by the parsers.
#[derive(Default)]
pub(crate) struct StageList {
    stages: Vec<(String, Box<dyn Stage>)>,
    started: bool,
}

impl std::fmt::Debug for StageList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.stages.iter().map(|(name, _)| name))
            .finish()
    }
}

/// The name of the contract stage in a [`StageList`] (its section is the report's `contract`).
pub(crate) const CONTRACT_STAGE: &str = "contract";

impl StageList {
    pub(crate) fn push(&mut self, name: String, stage: Box<dyn Stage>) {
        self.stages.push((name, stage));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// The contract stage, if there is one.
    pub(crate) fn conversion_mut(&mut self) -> Option<&mut Conversion> {
        self.stages
            .iter_mut()
            .find_map(|(_, stage)| (&mut **stage as &mut dyn Any).downcast_mut::<Conversion>())
    }

    /// The contract stage, taken out of the list.
    pub(crate) fn into_conversion(self) -> Option<Box<Conversion>> {
        self.stages
            .into_iter()
            .find_map(|(_, stage)| (stage as Box<dyn Any>).downcast::<Conversion>().ok())
    }

    /// Starts every stage, once; later calls do nothing.
    pub(crate) fn start(&mut self, columns: StageColumns<'_>) -> Result<(), Error> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        for (_, stage) in &mut self.stages {
            stage.start(columns)?;
        }
        Ok(())
    }

    /// Hands `record` to every stage (`fallback` starts them if nothing did yet).
    #[inline]
    pub(crate) fn record(
        &mut self,
        fallback: StageColumns<'_>,
        record: &StageRecord<'_>,
    ) -> Result<(), Error> {
        if self.stages.is_empty() {
            return Ok(());
        }
        if !self.started {
            self.start(fallback)?;
        }
        // The stages after the contract's see its verdict, in a copy of the record (made for
        // them only: see `record_profiled`).
        let mut contract = None;
        for (_, stage) in &mut self.stages {
            let copy;
            let seen = match contract {
                None => record,
                Some(_) => {
                    copy = StageRecord {
                        contract,
                        ..*record
                    };
                    &copy
                }
            };
            match (&mut **stage as &mut dyn Any).downcast_mut::<Conversion>() {
                Some(conversion) => {
                    let written = conversion.records_written();
                    conversion.record(seen)?;
                    contract = Some(verdict(written, conversion));
                }
                None => stage.record(seen)?,
            }
        }
        Ok(())
    }

    /// [`StageList::record`] of a well-formed delimited `row` whose fields go to the column
    /// `profiles` too: when the contract stage comes first, it profiles the fields as it
    /// checks them and this returns true; otherwise the caller profiles them.
    #[inline]
    pub(crate) fn record_profiled(
        &mut self,
        fallback: StageColumns<'_>,
        record: &StageRecord<'_>,
        row: &delimited::Record<'_>,
        profiles: &mut [ColumnProfile],
    ) -> Result<bool, Error> {
        if !self.started {
            self.start(fallback)?;
        }
        let mut stages = self.stages.iter_mut();
        let Some((_, first)) = stages.next() else {
            return Ok(false);
        };
        let (fused, contract) = match (&mut **first as &mut dyn Any).downcast_mut::<Conversion>() {
            Some(conversion) => {
                let written = conversion.records_written();
                conversion.profiled_record(record.position.into(), row, profiles)?;
                (true, Some(verdict(written, conversion)))
            }
            None => {
                first.record(record)?;
                (false, record.contract)
            }
        };
        // The record is copied for the stages after the first only: most lists have one (a
        // copy on every row took 2 % of the bench rows' conversion on one thread, `perf`
        // samples, most of it stalled on loading the stores that had just built the record).
        for (_, stage) in stages {
            stage.record(&StageRecord {
                contract,
                ..*record
            })?;
        }
        Ok(fused)
    }

    /// Finishes every stage in order: the contract's outcome, and the others' sections.
    pub(crate) fn finish(
        mut self,
        fallback: StageColumns<'_>,
        records: RecordCounts,
    ) -> Result<(Option<ContractOutcome>, Vec<StageSection>), Error> {
        self.start(fallback)?;
        let mut contract = None;
        let mut sections = Vec::new();
        for (name, stage) in self.stages {
            if (&*stage as &dyn Any).is::<Conversion>() {
                let stage: Box<dyn Any> = stage;
                if let Ok(conversion) = stage.downcast::<Conversion>() {
                    contract = Some(conversion.finish_outcome()?);
                }
            } else {
                sections.push(StageSection {
                    section: stage.finish(records)?,
                    name,
                });
            }
        }
        Ok((contract, sections))
    }
}

/// The verdict on the record the contract stage just took, from its count of written records
/// before (`written`) and after.
fn verdict(written: u64, conversion: &Conversion) -> ContractVerdict {
    if conversion.records_written() > written {
        ContractVerdict::Written
    } else {
        ContractVerdict::Rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Processor};

    /// Writes down what it is shown.
    #[derive(Debug, Default)]
    struct Recorder {
        seen: Vec<String>,
        fail_at: Option<u64>,
    }

    impl Stage for Recorder {
        fn start(&mut self, columns: StageColumns<'_>) -> Result<(), Error> {
            self.seen.push(format!("start {columns:?}"));
            Ok(())
        }

        fn record(&mut self, record: &StageRecord<'_>) -> Result<(), Error> {
            let at = record.position;
            if self.fail_at == Some(at.record) {
                return Err(stage_failure(
                    ErrorName::Storage,
                    "recorder",
                    "the loader is down",
                ));
            }
            let fields = match record.fields {
                StageFields::Delimited(_) => (0..record.len())
                    .filter_map(|i| record.field(i))
                    .collect::<Vec<_>>()
                    .join("|"),
                StageFields::JsonLines { .. } => record
                    .member("id")
                    .map_or_else(|| "-".to_owned(), |v| v.get().to_owned()),
            };
            let quoted: Vec<_> = (0..record.len())
                .filter(|&i| record.is_quoted(i))
                .map(|i| format!(" quoted {i}"))
                .collect();
            let quoted = quoted.concat();
            let verdict = record
                .contract
                .map_or_else(String::new, |v| format!(" {v:?}"));
            self.seen.push(format!(
                "{} line {} at {} {:?} {fields}{quoted}{verdict}",
                at.record, at.line, at.byte_offset, record.problem
            ));
            Ok(())
        }

        fn finish(self: Box<Self>, records: RecordCounts) -> Result<serde_json::Value, Error> {
            Ok(serde_json::json!({ "seen": self.seen, "total": records.total }))
        }
    }

    fn run(key: &str, input: &[u8], stage: Recorder) -> Result<serde_json::Value, Error> {
        let analysis = Processor::new(Config::default(), Some(key))
            .with_stage("recorder", Box::new(stage))
            .read_to_end(input, 3)?;
        assert_eq!(analysis.stages.len(), 1);
        assert_eq!(analysis.stages[0].name, "recorder");
        Ok(analysis.stages[0].section.clone())
    }

    #[test]
    fn a_stage_sees_the_header_then_every_record_with_its_position() {
        let section = run(
            "a.csv",
            b"id,name\n1,Ada\n2,\"Al\nan\"\n3\n",
            Recorder::default(),
        );
        assert_eq!(
            section.unwrap(),
            serde_json::json!({
                "seen": [
                    r#"start Header(["id", "name"])"#,
                    "1 line 2 at 8 None 1|Ada",
                    "2 line 3 at 14 None 2|Al\nan quoted 1",
                    // Ragged, not malformed to the tokenizer: the stage sees its width.
                    "3 line 5 at 24 None 3",
                ],
                "total": 3,
            })
        );
    }

    /// Runs `input` under a contract owning `key`, with the recorder after the contract stage;
    /// gives the recorder's section and the rejected records' numbers.
    fn run_under_contract(
        key: &str,
        contract: &str,
        input: &[u8],
    ) -> (serde_json::Value, Vec<u64>) {
        let contract =
            crate::Contract::parse(std::path::Path::new("contracts/t.toml"), contract).unwrap();
        let rejects = crate::SharedBuffer::default();
        let conversion = Conversion::new(
            &contract,
            key,
            crate::ConversionOutputs {
                parquet: Box::new(crate::SharedBuffer::default()),
                rejects: Box::new(rejects.clone()),
            },
        )
        .unwrap();
        let analysis = Processor::with_conversion(Config::default(), Some(key), conversion)
            .with_stage("recorder", Box::new(Recorder::default()))
            .read_to_end(input, 5)
            .unwrap();
        let rejected = String::from_utf8(rejects.take())
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["record"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        (analysis.stages[0].section["seen"].clone(), rejected)
    }

    #[test]
    fn a_stage_after_the_contract_sees_its_verdict_on_every_record() {
        const CONTRACT: &str = r#"
dataset = "t"
prefix = "incoming/t/"
[format]
type = "csv"
[rejects]
max_share = 1.0
[[columns]]
name = "id"
type = "int32"
nullable = false
[[columns]]
name = "name"
type = "string"
"#;
        let input = b"id,name\n1,Ada\nx,Bob\n2,\"\"\n3\n4,\"Al\nan\"\n5,\"open\n";
        let (seen, rejected) = run_under_contract("incoming/t/a.csv", CONTRACT, input);
        assert_eq!(
            seen,
            serde_json::json!([
                r#"start Header(["id", "name"])"#,
                "1 line 2 at 8 None 1|Ada Written",
                "2 line 3 at 14 None x|Bob Rejected",
                "3 line 4 at 20 None 2| quoted 1 Written",
                "4 line 5 at 25 None 3 Rejected",
                "5 line 6 at 27 None 4|Al\nan quoted 1 Written",
                "6 line 8 at 37 Some(UnterminatedQuote) 5|open\n quoted 1 Rejected",
            ])
        );
        // The verdicts are the contract's own: Rejected exactly where it wrote a reject.
        assert_eq!(rejected, [2, 4, 6]);
        // JSON Lines: the same verdicts.
        let json = b"{\"id\":1,\"name\":\"a\"}\n{\"id\":\"x\"}\nnot json\n";
        let (seen, rejected) = run_under_contract(
            "incoming/t/a.jsonl",
            &CONTRACT.replace("\"csv\"", "\"json_lines\""),
            json,
        );
        let verdicts: Vec<_> = seen
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .map(|line| {
                line.as_str()
                    .unwrap()
                    .rsplit(' ')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(verdicts, ["Written", "Rejected", "Rejected"]);
        assert_eq!(rejected, [2, 3]);
    }

    #[test]
    fn without_a_contract_a_stage_sees_no_verdict() {
        let section = run("a.csv", b"id\n1\n", Recorder::default()).unwrap();
        assert_eq!(section["seen"][1], "1 line 2 at 3 None 1");
    }

    #[test]
    fn a_stage_sees_json_lines_members_and_malformed_lines() {
        let input = b"{\"id\":1}\n{\"id\":2,\"id\":7}\nnot json\n";
        let section = run("a.jsonl", input, Recorder::default()).unwrap();
        assert_eq!(
            section["seen"],
            serde_json::json!([
                "start JsonLines",
                "1 line 1 at 0 None 1",
                "2 line 2 at 9 None 7",
                "3 line 3 at 25 Some(InvalidJson) -",
            ])
        );
    }

    #[test]
    fn a_stage_without_header_is_started_positional_even_with_no_record() {
        let section = run("a.csv", b"1,2\n", Recorder::default()).unwrap();
        assert_eq!(section["seen"][0], "start Positional");
        let section = run("a.csv", b"id,name\n", Recorder::default()).unwrap();
        assert_eq!(
            section["seen"],
            serde_json::json!([r#"start Header(["id", "name"])"#])
        );
    }

    #[test]
    fn a_stage_fails_the_object_with_the_name_it_chose() {
        let stage = Recorder {
            fail_at: Some(2),
            ..Recorder::default()
        };
        let error = run("a.csv", b"id\n1\n2\n3\n", stage).unwrap_err();
        assert_eq!(error.name(), ErrorName::Storage);
        assert_eq!(error.to_string(), "stage `recorder`: the loader is down");
    }
}
