//! What a caller can tune: limits that bound memory, and overrides for detection.

/// A data format the core can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Delimited text: CSV, TSV and their `;` and `|` cousins (RFC 4180 quoting).
    Csv,
    /// JSON Lines: one JSON value per line.
    JsonLines,
}

impl Format {
    /// The name used in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "json_lines",
        }
    }
}

/// Limits on malformed records: past either one, processing fails with
/// `TooManyMalformedRecords`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MalformedLimits {
    /// Fail as soon as more than this many records are malformed (checked while streaming).
    pub max_count: Option<u64>,
    /// Fail at the end when more than this share (0.0–1.0) of all records is malformed.
    pub max_share: Option<f64>,
}

impl Default for MalformedLimits {
    fn default() -> Self {
        MalformedLimits {
            max_count: Some(10_000),
            max_share: Some(0.5),
        }
    }
}

/// Configuration of a [`Processor`](crate::Processor). Every field has a safe default.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// Force the delimiter of delimited text instead of sniffing it.
    pub delimiter: Option<u8>,
    /// Force whether delimited text has a header row instead of sniffing it.
    pub header: Option<bool>,
    /// How many decompressed bytes to look at before deciding the format.
    pub sniff_bytes: usize,
    /// Largest record (a CSV row, a JSON line) kept in memory; a longer one is malformed.
    pub max_record_bytes: usize,
    /// Columns profiled at most; the others are counted in the report, not profiled.
    pub max_columns: usize,
    /// How many malformed records the report lists in full.
    pub malformed_examples: usize,
    /// When malformed records make the whole input fail.
    pub malformed_limits: MalformedLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            format: None,
            delimiter: None,
            header: None,
            sniff_bytes: 64 * 1024,
            max_record_bytes: 8 * 1024 * 1024,
            max_columns: 10_000,
            malformed_examples: 10,
            malformed_limits: MalformedLimits::default(),
        }
    }
}
