//! Malformed records: counted, the first ones described, and the limits that fail an input.

use crate::config::MalformedLimits;
use crate::error::{Error, ErrorKind};

/// Why a record is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MalformedKind {
    /// A CSV row with another number of fields than the header (or the first row).
    RaggedRow,
    /// A quoted CSV field still open at the end of the input.
    UnterminatedQuote,
    /// Characters between a closing quote and the next delimiter.
    TextAfterClosingQuote,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// A NUL byte inside a text record.
    NulByte,
    /// A record longer than the configured maximum.
    RecordTooLarge,
    /// A line that is not one JSON value.
    InvalidJson,
}

/// A malformed record, located in the decompressed input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MalformedRecord {
    /// Record number, from 1; a CSV header is not a record.
    pub record: u64,
    /// Line on which the record starts, from 1.
    pub line: u64,
    /// Byte offset of the record's start in the decompressed input.
    pub byte_offset: u64,
    /// Why it is malformed.
    pub kind: MalformedKind,
    /// A sentence saying what is wrong.
    pub message: String,
}

impl std::fmt::Display for MalformedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "record {} (line {}, byte {}): {}",
            self.record, self.line, self.byte_offset, self.message
        )
    }
}

/// Where a record starts, carried by the parsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Position {
    pub(crate) record: u64,
    pub(crate) line: u64,
    pub(crate) byte_offset: u64,
}

/// The malformed records of one input: a count and the first few in full.
#[derive(Debug)]
pub(crate) struct MalformedLog {
    count: u64,
    examples: Vec<MalformedRecord>,
    max_examples: usize,
    limits: MalformedLimits,
}

impl MalformedLog {
    pub(crate) fn new(max_examples: usize, limits: MalformedLimits) -> MalformedLog {
        MalformedLog {
            count: 0,
            examples: Vec::new(),
            max_examples,
            limits,
        }
    }

    /// Records one malformed record; fails once the count limit is passed.
    pub(crate) fn push(
        &mut self,
        at: Position,
        kind: MalformedKind,
        message: impl FnOnce() -> String,
    ) -> Result<(), Error> {
        self.count += 1;
        if self.examples.len() < self.max_examples.max(1) {
            self.examples.push(MalformedRecord {
                record: at.record,
                line: at.line,
                byte_offset: at.byte_offset,
                kind,
                message: message(),
            });
        }
        match self.limits.max_count {
            Some(limit) if self.count > limit => Err(ErrorKind::TooManyMalformed {
                count: self.count,
                limit,
                first: self.first(),
            }
            .into()),
            _ => Ok(()),
        }
    }

    fn first(&self) -> String {
        self.examples
            .first()
            .map_or_else(String::new, ToString::to_string)
    }

    /// Checks the share limit once all `total` records are known.
    pub(crate) fn check_share(&self, total: u64) -> Result<(), Error> {
        match self.limits.max_share {
            Some(ratio) if total > 0 && self.count as f64 / total as f64 > ratio => {
                Err(ErrorKind::MalformedShare {
                    malformed: self.count,
                    total,
                    ratio,
                    first: self.first(),
                }
                .into())
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// The listed records; at most the configured number (stored one more only when the
    /// configuration lists none, to name the first in errors).
    pub(crate) fn examples(&self) -> &[MalformedRecord] {
        &self.examples[..self.examples.len().min(self.max_examples)]
    }
}

/// Merging the logs of consecutive parts of one input (parallel parsing).
impl MalformedLog {
    /// A log for a part parsed ahead of time: it lists examples like
    /// [`MalformedLog::new`] but never fails; the limits are checked when it is merged.
    pub(crate) fn unlimited(max_examples: usize) -> MalformedLog {
        MalformedLog::new(
            max_examples,
            MalformedLimits {
                max_count: None,
                max_share: None,
            },
        )
    }

    /// Whether appending `later` keeps this log within the count limit: when it does not,
    /// the part is parsed again on the merging thread, so that whichever of its errors one
    /// thread meets first (a record past the limit, or an output that fails to be written
    /// before it) is the one reported.
    pub(crate) fn fits(&self, later: &MalformedLog) -> bool {
        self.limits
            .max_count
            .is_none_or(|limit| self.count.saturating_add(later.count) <= limit)
    }

    /// Appends `later`, the log of the part right after this one, whose record numbers and
    /// lines count from the part's start: `record_shift` records and `line_shift` lines come
    /// before it. Fails as [`MalformedLog::push`] would have on the record that passes the
    /// count limit.
    pub(crate) fn merge(
        &mut self,
        later: &MalformedLog,
        record_shift: u64,
        line_shift: u64,
    ) -> Result<(), Error> {
        for example in &later.examples {
            if self.examples.len() >= self.max_examples.max(1) {
                break;
            }
            self.examples.push(MalformedRecord {
                record: example.record + record_shift,
                line: example.line + line_shift,
                ..example.clone()
            });
        }
        self.count += later.count;
        match self.limits.max_count {
            // One record at a time, the count stops one past the limit.
            Some(limit) if self.count > limit => Err(ErrorKind::TooManyMalformed {
                count: limit + 1,
                limit,
                first: self.first(),
            }
            .into()),
            _ => Ok(()),
        }
    }
}
