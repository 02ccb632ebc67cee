//! The parsing core of the S3 upload pipeline.
//!
//! Sans-IO and streaming: a [`Processor`] is fed the bytes of an object in chunks of any size
//! and finished; it detects the compression (gzip, zstd) and the format (CSV/TSV with a
//! sniffed delimiter and header, JSON Lines), profiles every column (type, nulls, min/max,
//! distinct estimate), counts and lists malformed records, and returns an [`Analysis`]. A
//! [`Report`] turns it into the JSON document the pipeline writes. Memory is bounded by the
//! [`Config`], never by the input's size.
//!
//! Under a data contract ([`Contract`], read from `contracts/*.toml`), the same pass also
//! checks every record against the contract's typed columns: a [`Conversion`] given to
//! [`Processor::with_conversion`] writes the records that meet it as Parquet
//! ([`ParquetWriter`]) and the others, with their position and reason, as JSON Lines; the
//! outcome lands in the report's `contract` section, and a file past the contract's rejection
//! policy fails with `ContractViolation`. The outputs go to sinks the caller gives, and the
//! caller commits them only once [`Processor::finish`] has succeeded.
//!
//! No AWS, no async runtime: the processors adapt their I/O to this crate.
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

pub mod config;
pub mod contract;
pub mod conversion;
pub mod decompress;
pub mod delimited;
pub mod detect;
mod distinct;
pub mod error;
pub mod infer;
pub mod job;
pub mod json_lines;
pub mod malformed;
pub mod parquet_output;
pub mod processor;
pub mod profile;
pub mod report;

pub use config::{Config, Format, MalformedLimits};
pub use contract::{Contract, ContractError, Contracts};
pub use conversion::{ContractOutcome, Conversion, ConversionOutputs, SharedBuffer};
pub use decompress::Compression;
pub use detect::{FormatHint, Layout};
pub use error::{Error, ErrorKind, ErrorName};
pub use infer::ValueType;
pub use job::{Job, JobObject, KeyLayout, ObjectCreatedDetail};
pub use malformed::{MalformedKind, MalformedRecord};
pub use parquet_output::{ParquetOptions, ParquetSummary, ParquetWriter};
pub use processor::{Analysis, Processor, RecordCounts, process_reader};
pub use profile::ColumnSummary;
pub use report::{OutputObject, Processing, Report, ReportContract, SCHEMA_VERSION, Source};
