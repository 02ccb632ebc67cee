//! The error-name table: the single source of truth for every failure the outside world sees.
//!
//! Every error of the pipeline, whichever crate raises it, ends as one [`ErrorName`]. The name
//! is what a Lambda returns as its error type, what the Fargate program turns into its exit
//! code, and what the state machine's `Retry` and `Catch` rules match on. Adding a name forces a
//! decision everywhere: every `match` on it is exhaustive.

use std::fmt;

use crate::compression::Compression;

/// A stable, public name for a class of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorName {
    /// The object's bytes cannot be processed: empty, not UTF-8, corrupt or truncated
    /// compression. Retrying gives the same answer.
    InvalidInput,
    /// The object is not one of the supported formats (binary data, a JSON document that is
    /// not JSON Lines, text with no delimiter).
    UnsupportedFormat,
    /// More records were malformed than the configured limits allow.
    TooManyMalformedRecords,
    /// The object is under a data contract's prefix and does not meet it: a header that does
    /// not match, or more rejected records than the contract allows.
    ContractViolation,
    /// The object changed since the event described it (other etag or version).
    SourceChanged,
    /// The object described by the event no longer exists.
    SourceMissing,
    /// The storage service failed (5xx, throttling, timeouts) after the client's own retries.
    Storage,
    /// The processor was asked to stop (SIGTERM, Spot interruption) before it finished.
    Interrupted,
    /// A bug or an unexpected state: the processor could not tell what went wrong.
    Internal,
}

impl ErrorName {
    /// Every name, in a stable order: for generators and tests that must cover them all.
    pub const ALL: [ErrorName; 9] = [
        ErrorName::InvalidInput,
        ErrorName::UnsupportedFormat,
        ErrorName::TooManyMalformedRecords,
        ErrorName::ContractViolation,
        ErrorName::SourceChanged,
        ErrorName::SourceMissing,
        ErrorName::Storage,
        ErrorName::Interrupted,
        ErrorName::Internal,
    ];

    /// The name as the outside world sees it (Lambda error type, state machine error).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorName::InvalidInput => "InvalidInput",
            ErrorName::UnsupportedFormat => "UnsupportedFormat",
            ErrorName::TooManyMalformedRecords => "TooManyMalformedRecords",
            ErrorName::ContractViolation => "ContractViolation",
            ErrorName::SourceChanged => "SourceChanged",
            ErrorName::SourceMissing => "SourceMissing",
            ErrorName::Storage => "Storage",
            ErrorName::Interrupted => "Interrupted",
            ErrorName::Internal => "Internal",
        }
    }

    /// Whether trying the same job again can succeed.
    pub const fn retryable(self) -> bool {
        match self {
            ErrorName::Storage | ErrorName::Interrupted => true,
            ErrorName::InvalidInput
            | ErrorName::UnsupportedFormat
            | ErrorName::TooManyMalformedRecords
            | ErrorName::ContractViolation
            | ErrorName::SourceChanged
            | ErrorName::SourceMissing
            | ErrorName::Internal => false,
        }
    }

    /// The process exit code a batch program (the Fargate processor) uses for this name.
    ///
    /// `0` is success; `1` and `2` stay free for the runtime's own failures (a panic exits
    /// with 101 in Rust, argument errors with 2), so every name gets its own code from 10.
    pub const fn exit_code(self) -> i32 {
        match self {
            ErrorName::InvalidInput => 10,
            ErrorName::UnsupportedFormat => 11,
            ErrorName::TooManyMalformedRecords => 12,
            ErrorName::SourceChanged => 13,
            ErrorName::SourceMissing => 14,
            ErrorName::Storage => 15,
            ErrorName::Interrupted => 16,
            ErrorName::Internal => 17,
            ErrorName::ContractViolation => 18,
        }
    }

    /// The name whose [`exit_code`](Self::exit_code) is `code`, if any.
    pub fn from_exit_code(code: i32) -> Option<ErrorName> {
        ErrorName::ALL
            .into_iter()
            .find(|name| name.exit_code() == code)
    }

    /// The name spelled `name`, if it is one of ours.
    pub fn from_name(name: &str) -> Option<ErrorName> {
        ErrorName::ALL.into_iter().find(|n| n.as_str() == name)
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure of the parsing core. Cheap to move: the details live behind one box.
#[derive(Debug)]
pub struct Error(Box<ErrorKind>);

/// What went wrong in the parsing core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input holds no data at all (no bytes, or only a byte-order mark and whitespace).
    #[error("the input is empty: there is no record to profile")]
    Empty,
    /// The input is text but not UTF-8.
    #[error("the input is not UTF-8 text: invalid byte sequence at byte {offset}")]
    NotUtf8 {
        /// Offset of the first invalid byte in the decompressed stream.
        offset: u64,
    },
    /// The input holds NUL bytes in its first bytes: binary data, not text.
    #[error("the input is binary data, not text: NUL byte at byte {offset}")]
    Binary {
        /// Offset of the first NUL byte in the decompressed stream.
        offset: u64,
    },
    /// The input is a JSON document spanning several lines, not JSON Lines.
    #[error("the input is a JSON document, not JSON Lines (one JSON value per line)")]
    JsonDocument,
    /// Text in which no delimiter separates fields consistently.
    #[error(
        "the input is text with no consistent delimiter among ',', tab, ';' and '|': not CSV or TSV"
    )]
    NoDelimiter,
    /// Corrupt compressed data.
    #[error("corrupt {compression} data at compressed byte {offset}: {detail}")]
    CorruptCompression {
        /// Which compression.
        compression: Compression,
        /// Offset in the compressed input: for gzip, where the decoder stopped (for a
        /// member's header, where the header starts, whatever the input's chunking); for
        /// zstd, where the part it refused starts (the block, with the frame header for a
        /// frame's first, or the content checksum), whatever the input's chunking.
        offset: u64,
        /// The decoder's own words.
        detail: String,
    },
    /// The compressed stream ended before its end marker.
    #[error("truncated {compression} data: the stream ends after {offset} bytes, inside a {unit}")]
    TruncatedCompression {
        /// Which compression.
        compression: Compression,
        /// Total compressed bytes seen.
        offset: u64,
        /// What was cut short ("member", "frame").
        unit: &'static str,
    },
    /// Too many malformed records, counted while streaming.
    #[error("{count} malformed records, more than the limit of {limit}; first: {first}")]
    TooManyMalformed {
        /// Malformed records seen when processing stopped.
        count: u64,
        /// The configured limit.
        limit: u64,
        /// Description of the first malformed record.
        first: String,
    },
    /// Too large a share of the records was malformed, judged at the end.
    #[error(
        "{malformed} of {total} records are malformed, more than the allowed share of {ratio}; first: {first}"
    )]
    MalformedShare {
        /// Malformed records.
        malformed: u64,
        /// All records.
        total: u64,
        /// The configured share.
        ratio: f64,
        /// Description of the first malformed record.
        first: String,
    },
    /// The input does not meet the data contract that owns its key.
    #[error("the object does not meet the contract of dataset `{dataset}`: {detail}")]
    ContractViolation {
        /// The contract's dataset.
        dataset: String,
        /// What does not meet it.
        detail: String,
    },
    /// Reading the input failed.
    #[error("reading the input failed: {0}")]
    Read(#[source] std::io::Error),
    /// Writing an output (Parquet, rejected records) to its sink failed.
    #[error("writing an output failed: {0}")]
    Write(#[source] std::io::Error),
    /// A processing stage ([`crate::stage::Stage`]) failed the object, under the name it chose.
    #[error("stage `{stage}`: {detail}")]
    Stage {
        /// The stage's name.
        stage: String,
        /// The name of the failure in the error table.
        name: ErrorName,
        /// What went wrong.
        detail: String,
    },
    /// An invariant of the core did not hold: a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// The public name of this error: one exhaustive match, no wildcard.
    pub fn name(&self) -> ErrorName {
        match &*self.0 {
            ErrorKind::Empty
            | ErrorKind::NotUtf8 { .. }
            | ErrorKind::CorruptCompression { .. }
            | ErrorKind::TruncatedCompression { .. } => ErrorName::InvalidInput,
            ErrorKind::Binary { .. } | ErrorKind::JsonDocument | ErrorKind::NoDelimiter => {
                ErrorName::UnsupportedFormat
            }
            ErrorKind::TooManyMalformed { .. } | ErrorKind::MalformedShare { .. } => {
                ErrorName::TooManyMalformedRecords
            }
            ErrorKind::ContractViolation { .. } => ErrorName::ContractViolation,
            ErrorKind::Read(_) | ErrorKind::Write(_) => ErrorName::Storage,
            ErrorKind::Internal(_) => ErrorName::Internal,
            ErrorKind::Stage { name, .. } => *name,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_exit_codes_and_spellings_are_unique_and_round_trip() {
        for name in ErrorName::ALL {
            assert_eq!(ErrorName::from_name(name.as_str()), Some(name));
            assert_eq!(ErrorName::from_exit_code(name.exit_code()), Some(name));
            assert!(
                name.exit_code() >= 10,
                "{name} collides with runtime exit codes"
            );
        }
        let mut codes: Vec<_> = ErrorName::ALL.iter().map(|n| n.exit_code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorName::ALL.len());
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let retryable: Vec<_> = ErrorName::ALL
            .into_iter()
            .filter(|n| n.retryable())
            .collect();
        assert_eq!(retryable, [ErrorName::Storage, ErrorName::Interrupted]);
    }
}
