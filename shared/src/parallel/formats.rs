//! How each text format's ranges are parsed and merged ([`RangeFormat`]): delimited text
//! from a guessed record start, which the merger checks ([`Delimited`]); JSON Lines from the
//! range's first line start, which needs no guess ([`JsonLines`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::conversion::Conversion;
use crate::delimited::{RowProfiler, Tokenizer};
use crate::error::Error;
use crate::json_lines::JsonLinesProfiler;
use crate::malformed::MalformedLog;
use crate::profile::Columns;
use crate::stage::StageColumns;

use super::contract_ranges::{
    ContractRanges, PublishOnDrop, recorder_stages, rejects_fit, take_recorded, taken_after,
};
use super::pipeline::{FirstFailed, Merged, Range, RangeFormat};

/// Bytes a worker parses between two looks at the stop flag.
pub(super) const STOP_CHECK_BYTES: usize = 1 << 20;

/// Bytes of the first range read at a time until its header is read (the workers of the
/// next ranges wait for it under a contract).
pub(super) const HEADER_PIECE_BYTES: usize = 16 << 10;

/// Feeds `bytes` to `feed` in pieces, giving up (`None`) once `stop` is raised.
pub(super) fn feed_until_stopped(
    bytes: &[u8],
    stop: &AtomicBool,
    mut feed: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Option<()> {
    for piece in bytes.chunks(STOP_CHECK_BYTES) {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        feed(piece).ok()?;
    }
    Some(())
}

/// Delimited text: speculative range starts.
pub(super) struct Delimited {
    pub(super) delimiter: u8,
    /// The first record is a header.
    pub(super) header: bool,
    pub(super) config: Arc<Config>,
    /// The contract stage, when there is one.
    pub(super) contract: Option<ContractRanges>,
}

/// The merger's state for delimited text: one thread's row profiler and tokenizer.
pub(super) struct DelimitedState {
    pub(super) rows: RowProfiler,
    pub(super) tokenizer: Box<Tokenizer>,
}

/// A range of delimited text, parsed from a guessed row start: its rows numbered from 1 and
/// with lines from 1 at the guess, and the tokenizer at the range's end.
pub(super) struct DelimitedPartial {
    /// The guessed start, in the range.
    pub(super) guess: usize,
    pub(super) rows: RowProfiler,
    pub(super) tokenizer: Box<Tokenizer>,
}

impl Delimited {
    pub(super) fn tokenizer(&self, start: u64) -> Box<Tokenizer> {
        Box::new(Tokenizer::new(
            self.delimiter,
            self.config.max_record_bytes,
            start,
        ))
    }
}

impl RangeFormat for Delimited {
    type Partial = DelimitedPartial;
    type State = DelimitedState;

    fn first(&self, range: &Range) -> Result<DelimitedState, FirstFailed<DelimitedState>> {
        let config = &self.config;
        let mut rows = RowProfiler::new(
            self.header,
            Columns::new(config.max_columns),
            MalformedLog::new(config.malformed_examples, config.malformed_limits),
        );
        let mut tokenizer = self.tokenizer(range.start);
        let Some(contract) = &self.contract else {
            tokenizer.feed(&range.bytes, &mut rows)?;
            return Ok(DelimitedState { rows, tokenizer });
        };
        // The workers of the next ranges wait for the binding: read up to the header's
        // end, tell them, then the rest.
        let _publish = PublishOnDrop(Some(contract));
        rows = rows.with_stages(recorder_stages(Box::new(contract.start.recorder(0)?)));
        let mut pieces = range.bytes.chunks(HEADER_PIECE_BYTES);
        let mut parsed = Ok(());
        for piece in pieces.by_ref() {
            parsed = tokenizer.feed(piece, &mut rows);
            if parsed.is_err() {
                break;
            }
            if !rows.header_pending() {
                contract.publish(rows.stages.conversion_mut().map(|c| c.template()));
                break;
            }
        }
        if parsed.is_ok() {
            parsed = pieces.try_for_each(|piece| tokenizer.feed(piece, &mut rows));
        }
        let state = DelimitedState { rows, tokenizer };
        match parsed {
            Ok(()) => Ok(state),
            Err(error) => Err(FirstFailed {
                error,
                state: Some(state),
            }),
        }
    }

    fn partial(&self, range: &Range, stop: &AtomicBool) -> Option<DelimitedPartial> {
        let guess = guess_record_start(range)?;
        let config = &self.config;
        let mut rows = RowProfiler::new(
            false,
            Columns::new(config.max_columns),
            MalformedLog::unlimited(config.malformed_examples),
        );
        if let Some(contract) = &self.contract {
            let mut stages = recorder_stages(contract.recorder(stop)?);
            stages.start(StageColumns::Positional).ok()?;
            rows = rows.with_stages(stages);
        }
        let mut tokenizer = self.tokenizer(range.start + guess as u64);
        feed_until_stopped(&range.bytes[guess..], stop, |piece| {
            tokenizer.feed(piece, &mut rows)
        })?;
        Some(DelimitedPartial {
            guess,
            rows,
            tokenizer,
        })
    }

    fn merge(
        &self,
        state: &mut DelimitedState,
        range: &Range,
        partial: Option<DelimitedPartial>,
        mut conversion: Option<&mut Conversion>,
    ) -> Result<bool, Error> {
        let mut fed = 0;
        if let Some(mut partial) = partial {
            // One thread's parse up to the guess: usually the end of the row before.
            let (head, _) = range.bytes.split_at(partial.guess);
            let parsed = state.tokenizer.feed(head, &mut state.rows);
            taken_after(parsed, &mut state.rows.stages, conversion.as_deref_mut())?;
            fed = partial.guess;
            let width = state.rows.columns.positional_width();
            if state.tokenizer.at_record_start()
                && !state.rows.header_pending()
                && width > 0
                && [0, width].contains(&partial.rows.columns.positional_width())
                && rejects_fit(&mut partial.rows.stages, conversion.as_deref())
                && state.rows.malformed.fits(&partial.rows.malformed)
            {
                let merged = &mut state.rows;
                let line_shift = state.tokenizer.line() - 1;
                let record_shift = merged.total;
                merged
                    .malformed
                    .merge(&partial.rows.malformed, record_shift, line_shift)?;
                take_recorded(
                    &mut partial.rows.stages,
                    conversion.as_deref_mut(),
                    record_shift,
                    line_shift,
                )?;
                if let Some(contract) = &self.contract {
                    contract.recycle(&mut partial.rows.stages);
                }
                merged.columns.merge_positional(&partial.rows.columns);
                merged.total += partial.rows.total;
                merged.valid += partial.rows.valid;
                let mut tokenizer = partial.tokenizer;
                tokenizer.shift_lines(line_shift);
                state.tokenizer = tokenizer;
                // The recorder counts the rejected records taken.
                return take_recorded(&mut state.rows.stages, conversion, 0, 0).map(|()| true);
            }
        }
        // A wrong guess or context, or a range that fails: the rest of the range on this
        // thread, exactly as one thread goes on.
        let parsed = state.tokenizer.feed(&range.bytes[fed..], &mut state.rows);
        taken_after(parsed, &mut state.rows.stages, conversion)?;
        Ok(false)
    }

    fn settle(
        &self,
        state: &mut DelimitedState,
        conversion: Option<&mut Conversion>,
    ) -> Result<(), Error> {
        take_recorded(&mut state.rows.stages, conversion, 0, 0)
    }

    fn finish(
        &self,
        mut state: DelimitedState,
        mut conversion: Option<Box<Conversion>>,
    ) -> Result<Merged, Error> {
        let parsed = state.tokenizer.finish(&mut state.rows);
        taken_after(parsed, &mut state.rows.stages, conversion.as_deref_mut())?;
        Ok(Merged {
            columns: state.rows.columns,
            malformed: state.rows.malformed,
            total: state.rows.total,
            valid: state.rows.valid,
            conversion,
        })
    }
}

/// The guessed start of the first record in `range` (not the first range), as an index in
/// it: the first line start, as if the line break before it were outside quotes. Records
/// start after a line break (`\n` or `\r`), on a byte that is not one.
pub(super) fn guess_record_start(range: &Range) -> Option<usize> {
    let bytes = &range.bytes;
    let is_break = |b: u8| b == b'\n' || b == b'\r';
    let after_break = if range.before.is_some_and(is_break) {
        0
    } else {
        memchr::memchr2(b'\n', b'\r', bytes)? + 1
    };
    let line = after_break
        + bytes
            .get(after_break..)?
            .iter()
            .position(|&b| !is_break(b))?;
    Some(line)
}

/// JSON Lines: records end at every `\n`, so ranges start on the first line after their
/// first byte, with no guess.
pub(super) struct JsonLines {
    pub(super) config: Arc<Config>,
    /// The contract stage, when there is one.
    pub(super) contract: Option<ContractRanges>,
}

/// The whole lines of a range, profiled with records and lines counted from 1 at their
/// start.
pub(super) struct JsonLinesPartial {
    /// Where the first line starts and the last one ends (after its `\n`), in the range.
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) lines: JsonLinesProfiler,
    pub(super) line_breaks: u64,
}

impl JsonLines {
    pub(super) fn profiler(&self, malformed: MalformedLog, start: u64) -> JsonLinesProfiler {
        JsonLinesProfiler::new(
            Columns::new(self.config.max_columns),
            malformed,
            self.config.max_record_bytes,
            start,
        )
    }
}

impl RangeFormat for JsonLines {
    type Partial = JsonLinesPartial;
    type State = JsonLinesProfiler;

    fn first(&self, range: &Range) -> Result<JsonLinesProfiler, FirstFailed<JsonLinesProfiler>> {
        let config = &self.config;
        let malformed = MalformedLog::new(config.malformed_examples, config.malformed_limits);
        let mut lines = self.profiler(malformed, range.start);
        if let Some(contract) = &self.contract {
            let mut stages = recorder_stages(Box::new(contract.start.recorder(0)?));
            stages.start(StageColumns::JsonLines)?;
            lines = lines.with_stages(stages);
        }
        match lines.feed(&range.bytes) {
            Ok(()) => Ok(lines),
            Err(error) => Err(FirstFailed {
                error,
                state: Some(lines),
            }),
        }
    }

    fn partial(&self, range: &Range, stop: &AtomicBool) -> Option<JsonLinesPartial> {
        let bytes = &range.bytes;
        let start = if range.before == Some(b'\n') {
            0
        } else {
            memchr::memchr(b'\n', bytes)? + 1
        };
        let end = start + memchr::memrchr(b'\n', &bytes[start..])? + 1;
        let malformed = MalformedLog::unlimited(self.config.malformed_examples);
        let mut lines = self.profiler(malformed, range.start + start as u64);
        if let Some(contract) = &self.contract {
            let mut stages = recorder_stages(contract.recorder(stop)?);
            stages.start(StageColumns::JsonLines).ok()?;
            lines = lines.with_stages(stages);
        }
        let whole = &bytes[start..end];
        feed_until_stopped(whole, stop, |piece| lines.feed(piece))?;
        // Each line break ended a line: the line numbers run from 1.
        let line_breaks = lines.line() - 1;
        Some(JsonLinesPartial {
            start,
            end,
            lines,
            line_breaks,
        })
    }

    fn merge(
        &self,
        state: &mut JsonLinesProfiler,
        range: &Range,
        partial: Option<JsonLinesPartial>,
        mut conversion: Option<&mut Conversion>,
    ) -> Result<bool, Error> {
        let mut fed = 0;
        if let Some(mut partial) = partial {
            // The end of the line that crosses into this range.
            let parsed = state.feed(&range.bytes[..partial.start]);
            taken_after(parsed, &mut state.stages, conversion.as_deref_mut())?;
            fed = partial.start;
            let records = state.total;
            if rejects_fit(&mut partial.lines.stages, conversion.as_deref())
                && state.malformed.fits(&partial.lines.malformed)
                && state.columns.merge_named(&partial.lines.columns, records)
            {
                let line_shift = state.line() - 1;
                state
                    .malformed
                    .merge(&partial.lines.malformed, records, line_shift)?;
                take_recorded(
                    &mut partial.lines.stages,
                    conversion.as_deref_mut(),
                    records,
                    line_shift,
                )?;
                if let Some(contract) = &self.contract {
                    contract.recycle(&mut partial.lines.stages);
                }
                state.total += partial.lines.total;
                state.valid += partial.lines.valid;
                state.skip_lines(range.start + partial.end as u64, partial.line_breaks);
                // The recorder counts the rejected records taken.
                take_recorded(&mut state.stages, conversion.as_deref_mut(), 0, 0)?;
                let parsed = state.feed(&range.bytes[partial.end..]);
                return taken_after(parsed, &mut state.stages, conversion).map(|()| true);
            }
        }
        let parsed = state.feed(&range.bytes[fed..]);
        taken_after(parsed, &mut state.stages, conversion)?;
        Ok(false)
    }

    fn settle(
        &self,
        state: &mut JsonLinesProfiler,
        conversion: Option<&mut Conversion>,
    ) -> Result<(), Error> {
        take_recorded(&mut state.stages, conversion, 0, 0)
    }

    fn finish(
        &self,
        mut state: JsonLinesProfiler,
        mut conversion: Option<Box<Conversion>>,
    ) -> Result<Merged, Error> {
        let parsed = state.finish();
        taken_after(parsed, &mut state.stages, conversion.as_deref_mut())?;
        Ok(Merged {
            columns: state.columns,
            malformed: state.malformed,
            total: state.total,
            valid: state.valid,
            conversion,
        })
    }
}
