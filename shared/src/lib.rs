//! The parsing core of the S3 upload pipeline: no AWS, no async runtime; the processors adapt
//! their I/O to it.
//!
//! # A tour of the contracts
//!
//! Everything the pipeline's parts agree on is defined here once, and the processors, the
//! infra generator and the tests all read it from here:
//!
//! - **The job** ([`Job`]): what a processor is told about one uploaded object (bucket, key,
//!   size, etag, version, sequencer), shaped like the `detail` of S3's `Object Created`
//!   event, so the state machine passes it on unchanged. Keys arrive URL-encoded
//!   ([`decode_event_key`]). The route threshold is [`DEFAULT_THRESHOLD_BYTES`] (6 MiB).
//! - **The error names** ([`ErrorName`]): the one table of failures the outside world sees:
//!   a Lambda's error type, the Fargate program's exit code, the state machine's retry and
//!   catch rules. Every [`Error`] of the core has an [`ErrorKind`] that maps to one name.
//! - **The key layout** ([`KeyLayout`]): uploads under [`DEFAULT_INPUT_PREFIX`], reports
//!   under [`DEFAULT_OUTPUT_PREFIX`] (the key plus [`REPORT_SUFFIX`]); under a contract,
//!   Parquet under [`CURATED_PREFIX`] and rejected records under [`REJECTED_PREFIX`].
//! - **The processor** ([`Processor`]): sans-IO and streaming. It is fed the bytes of an
//!   object in chunks of any size and finished; it detects the compression ([`Compression`]:
//!   gzip, zstd) and the format ([`Layout`]: CSV/TSV with a sniffed delimiter and header,
//!   JSON Lines), profiles every column (type, nulls, min/max, distinct estimate), counts and
//!   lists malformed records, and returns an [`Analysis`]. A [`Report`] turns it into the
//!   JSON document the pipeline writes (see `docs/report.md`). Memory is bounded by the
//!   [`Config`], never by the input's size.
//! - **Contracts** ([`Contract`], read from `contracts/*.toml` into [`Contracts`], see
//!   `docs/contracts.md`): under a contract's prefix the same pass checks every record
//!   against typed columns. A [`Conversion`] given to [`Processor::with_conversion`] writes
//!   the records that meet it as Parquet ([`ParquetWriter`]) and the others, with their
//!   position and reason, as JSON Lines; the outcome lands in the report's `contract`
//!   section, and a file past the contract's rejection policy fails with
//!   [`ErrorName::ContractViolation`]. The outputs go to sinks the caller gives, and the
//!   caller commits them only once [`Processor::finish`] has succeeded.
//! - **Stages** ([`Stage`], [`StageFactory`]): the seam behind which the processing runs.
//!   The profile drives the pass and hands every record to each stage (the contract's
//!   [`Conversion`] is one); a team adds its own with [`Processor::with_stage`], and
//!   `storage` runs the registered ones on both routes, committing their outputs with the
//!   contract's. Each returns a section of the report and may fail with any [`ErrorName`].
//! - **Metrics** ([`Metric`], [`ObjectMetrics`]): the one line per object each processor
//!   prints in CloudWatch's Embedded Metric Format, and the names the dashboard and alarms
//!   use.
//!
//! ```
//! use shared::{Config, Processor};
//!
//! let mut processor = Processor::new(Config::default(), Some("people.csv"));
//! processor.feed(b"name,age\nAda,36\nAlan,4").unwrap();
//! processor.feed(b"1\n").unwrap();
//! let analysis = processor.finish().unwrap();
//! assert_eq!(analysis.records.valid, 2);
//! assert_eq!(analysis.columns[1].max, serde_json::json!(41));
//! ```
//!
//! The modules are private: this list of re-exports is the whole public surface.

mod compression;
mod config;
mod contract;
mod conversion;
mod decompress;
mod delimited;
mod detect;
mod distinct;
mod error;
mod gzip_members;
mod infer;
mod job;
mod json_lines;
mod malformed;
mod metrics;
mod parallel;
mod parquet_output;
mod parquet_pages;
mod processor;
mod profile;
mod report;
mod stage;
mod zstd_frames;

pub use compression::Compression;
pub use config::{Config, Format, MalformedLimits};
pub use contract::{
    Binding, ColumnOrder, ColumnSpec, ColumnType, Constraints, Contract, ContractError, Contracts,
    ExtraColumns, FormatSpec, HeaderPolicy, MAX_DATASET_NAME, MAX_DECIMAL_PRECISION,
    MissingColumns, OutputKeys, PartitionSpec, RejectReason, Rejection, RejectionPolicy, Value,
};
pub use conversion::{
    ContractOutcome, Conversion, ConversionOutputs, MAX_REJECT_RAW_BYTES, SharedBuffer,
};
pub use delimited::{Record, RecordSink, Tokenizer};
pub use detect::{DELIMITERS, FormatHint, Layout};
pub use error::{Error, ErrorKind, ErrorName};
pub use infer::ValueType;
pub use job::{
    BucketName, CURATED_PREFIX, DEFAULT_INPUT_PREFIX, DEFAULT_OUTPUT_PREFIX,
    DEFAULT_THRESHOLD_BYTES, FAILURE_PREFIX, FAILURE_RECORD_SCHEMA_VERSION, FAILURE_SUFFIX,
    FailureRecord, Job, JobObject, KeyError, KeyLayout, LayoutError, ObjectCreatedDetail,
    REJECTED_PREFIX, REPORT_SUFFIX, decode_event_key, encode_event_key, env, failure_record_key,
    failure_record_subject,
};
pub use json_lines::VALUE_COLUMN;
pub use malformed::{MalformedKind, MalformedRecord};
pub use metrics::{
    DIMENSION_SETS, Dimension, EmfError, EmfValue, FAILURE_DIMENSION_SETS, FARGATE_ROUTE,
    LAMBDA_ROUTE, Metric, NAMESPACE_PREFIX, NO_DATASET, ObjectMetrics, parse_emf,
};
pub use parallel::{ParallelProcessor, Parallelism, profile_parallel};
pub use parquet_output::{CREATED_BY, ParquetOptions, ParquetSummary, ParquetWriter};
pub use processor::{Analysis, Processor, RecordCounts, process_reader};
pub use profile::{ColumnSummary, STRING_EXTREME_BYTES};
pub use report::{
    InputSummary, MalformedSummary, OutputObject, Processing, Report, ReportContract, ReportStage,
    SCHEMA_VERSION, Source,
};
pub use stage::{
    ContractVerdict, OutputDeclaration, RecordPosition, Stage, StageColumns, StageFactory,
    StageFields, StageRecord, StageSection, stage_failure,
};
