//! The report: one JSON document per input, the pipeline's commit marker.
//!
//! Field order and formatting are fixed (struct order, two-space indentation, a final
//! newline), so the same input gives byte-identical JSON. Only the `processing` object varies
//! from run to run: it says which processor ran and how fast. The schema is documented in
//! `docs/report.md`; a breaking change raises [`SCHEMA_VERSION`].

use std::collections::BTreeMap;
use std::time::Duration;

use crate::compression::Compression;
use crate::config::Format;
use crate::conversion::ContractOutcome;
use crate::malformed::MalformedRecord;
use crate::processor::{Analysis, RecordCounts};
use crate::profile::ColumnSummary;

/// Version of the report's schema.
pub const SCHEMA_VERSION: u32 = 1;

/// The object the report describes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    /// Bucket, when the object is in S3.
    pub bucket: Option<String>,
    /// Object key (or file path), decoded.
    pub key: String,
    /// Size in bytes as stored.
    pub size: Option<u64>,
    /// Entity tag, without quotes.
    pub etag: Option<String>,
    /// Version id, when the bucket is versioned.
    pub version_id: Option<String>,
}

/// What the input turned out to be.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InputSummary {
    /// `none`, `gzip` or `zstd`.
    pub compression: Compression,
    /// `csv` or `json_lines`.
    pub format: Format,
    /// The delimiter of delimited text, as a one-character string.
    pub delimiter: Option<String>,
    /// Whether delimited text has a header row.
    pub header: Option<bool>,
    /// Whether the text starts with a UTF-8 byte-order mark.
    pub bom: bool,
    /// Bytes read (compressed).
    pub bytes: u64,
    /// Bytes after decompression.
    pub bytes_decoded: u64,
}

/// The malformed records: how many, and the first ones.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MalformedSummary {
    /// How many records were malformed.
    pub count: u64,
    /// The first ones, in input order.
    pub listed: Vec<MalformedRecord>,
}

/// Who processed the input and how fast: the only fields that vary between runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Processing {
    /// Which processor produced the report (`lambda`, `fargate`, `cli`…).
    pub processor: String,
    /// Wall-clock time spent, in milliseconds.
    pub duration_ms: u64,
    /// Records per second.
    pub records_per_second: u64,
    /// Input bytes (as stored) per second.
    pub bytes_per_second: u64,
}

impl Processing {
    /// The figures of `analysis` processed by `processor` in `elapsed`.
    pub fn measure(processor: &str, elapsed: Duration, analysis: &Analysis) -> Processing {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let rate = |count: u64| {
            // Non-negative and finite: the cast saturates at worst.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let per_second = (count as f64 / seconds).round() as u64;
            per_second
        };
        Processing {
            processor: processor.to_owned(),
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            records_per_second: rate(analysis.records.total),
            bytes_per_second: rate(analysis.bytes_in),
        }
    }
}

/// The report of one input.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The object.
    pub source: Source,
    /// What it turned out to be.
    pub input: InputSummary,
    /// Record counts.
    pub records: RecordCounts,
    /// Column profiles.
    pub columns: Vec<ColumnSummary>,
    /// Columns counted but not profiled (past the configured maximum).
    pub columns_not_profiled: u64,
    /// Malformed records.
    pub malformed: MalformedSummary,
    /// Who processed it and how fast (varies between runs).
    pub processing: Processing,
    /// What the data contract that owns the key did (absent for an object no contract owns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<ReportContract>,
    /// What the other processing stages did, by name ([`crate::Stage`]; absent with none).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stages: BTreeMap<String, ReportStage>,
}

/// A processing stage's section of the report: what it returned and the outputs it committed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportStage {
    /// What the stage returned when it finished.
    pub summary: serde_json::Value,
    /// The objects it wrote, as committed, in the order it declared them.
    pub outputs: Vec<OutputObject>,
}

/// The report's `contract` section: the contract stage's outcome and the outputs it committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportContract {
    /// Records written and rejected, by reason; the outputs' sizes.
    #[serde(flatten)]
    pub outcome: ContractOutcome,
    /// The objects written (Parquet, then rejects when there were any), as committed.
    pub outputs: Vec<OutputObject>,
}

/// One output object as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutputObject {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its etag, as the store answered the write.
    pub etag: Option<String>,
}

impl Report {
    /// The report of `analysis` for `source`.
    pub fn new(source: Source, analysis: &Analysis, processing: Processing) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            source,
            input: InputSummary {
                compression: analysis.compression,
                format: analysis.layout.format,
                delimiter: analysis.layout.delimiter.map(|d| char::from(d).to_string()),
                header: analysis.layout.header,
                bom: analysis.bom,
                bytes: analysis.bytes_in,
                bytes_decoded: analysis.bytes_decoded,
            },
            records: analysis.records,
            columns: analysis.columns.clone(),
            columns_not_profiled: analysis.columns_not_profiled,
            malformed: MalformedSummary {
                count: analysis.records.malformed,
                listed: analysis.malformed.clone(),
            },
            processing,
            contract: analysis.contract.clone().map(|outcome| ReportContract {
                outcome,
                outputs: Vec::new(),
            }),
            stages: analysis
                .stages
                .iter()
                .map(|stage| {
                    let section = ReportStage {
                        summary: stage.section.clone(),
                        outputs: Vec::new(),
                    };
                    (stage.name.clone(), section)
                })
                .collect(),
        }
    }

    /// The report as pretty JSON with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing these types cannot fail: string keys, finite numbers only.
        let mut json = serde_json::to_vec_pretty(self).unwrap_or_default();
        json.push(b'\n');
        json
    }
}
