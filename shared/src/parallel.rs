//! Parallel profiling of one object: the text is cut into ranges that worker threads parse
//! at the same time, and their partial results merge into exactly the [`Analysis`] one
//! thread gives (the same report bytes, the same error).
//!
//! ```text
//! sniff (once, first window) ─▶ ranges ─▶ workers: guess the first record, parse ─▶ partials
//!                                                                                    │
//!            merger, in order: the guess is where the previous range really ended? ◀─┘
//!                 yes: merge the partial   no: parse the range again from the true start
//! ```
//!
//! - **Splitting** (CSV): a newline inside a quoted field is data, so a range cannot know
//!   where its first record starts. Each worker guesses, speculatively (Ge et al.,
//!   "Speculative Distributed CSV Data Parsing for Big Data Analytics", SIGMOD 2019; DuckDB's
//!   parallel CSV scanner also starts a range at a guessed line start and checks it later):
//!   the first line start at or after the range's first byte, taken as outside quotes. It
//!   tokenizes from there every record that *starts* before the range's end, reading past
//!   the end to finish the last one, and notes where the next record starts: that is where
//!   the next range really begins, when this range began right.
//! - **Validation**: the merger takes the partials in order. A partial counts only when its
//!   guess is the true start and the context it assumed holds (the header is read, the
//!   row width is the one it met); otherwise the range is parsed again, on the merger's
//!   thread, from the true start into the merged state itself, which then behaves exactly
//!   as one thread. A wrong guess costs time, never correctness.
//! - **Merging**: counts add; minima, maxima and type joins combine; HyperLogLog registers
//!   take the register-wise maximum; malformed records get global record numbers and lines
//!   (byte offsets are global already). The count limit on malformed records fails at the
//!   same record, with the same error, as one thread.
//! - **JSON Lines** needs no guess: records end at every `\n`. A part that meets more
//!   columns than the limit profiles cannot be merged exactly: the whole input is then
//!   profiled on one thread.
//!
//! An error stops the other workers (they check a flag between ranges and while reading
//! past their end) and is returned once the ranges before it are merged, so it is the error
//! one thread would have met first. Compressed inputs are decompressed whole on the calling
//! thread first (memory grows with the decompressed size: to be bounded), then parsed in
//! parallel. Contracts and stages are not run here yet.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::Compression;
use crate::config::{Config, Format};
use crate::decompress::Decoder;
use crate::delimited::{Record, RecordSink, RowProfiler, Tokenizer};
use crate::detect::{FormatHint, detect};
use crate::error::{Error, ErrorKind};
use crate::json_lines::JsonLinesProfiler;
use crate::malformed::MalformedLog;
use crate::processor::{Analysis, Processor, RecordCounts};
use crate::profile::Columns;

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Bytes a worker reads at a time past its range's end, to finish its last record.
const READ_PAST: usize = 64 * 1024;

/// How an input is cut and parsed in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Worker threads.
    pub threads: NonZeroUsize,
    /// Bytes per range (the last one may be shorter). Memory grows with it: each worker
    /// holds one range's partial profile.
    pub range_bytes: NonZeroUsize,
}

impl Parallelism {
    /// The default range size: 8 MiB, large enough that a range's fixed costs (a guess, a
    /// merge) are noise, small enough that a few hundred MB keep every worker busy.
    pub const DEFAULT_RANGE_BYTES: NonZeroUsize = NonZeroUsize::new(8 << 20).unwrap();

    /// `threads` workers (at least one) with ranges of [`Self::DEFAULT_RANGE_BYTES`].
    pub fn with_threads(threads: usize) -> Parallelism {
        Parallelism {
            threads: NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN),
            range_bytes: Self::DEFAULT_RANGE_BYTES,
        }
    }

    /// As many workers as the process may run at once: on Linux,
    /// [`std::thread::available_parallelism`] takes the CPU affinity mask and the cgroup CPU
    /// quota (a container's CPU limit) into account, not only the host's CPU count. One when
    /// it cannot tell.
    pub fn available() -> Parallelism {
        Parallelism::with_threads(std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
    }
}

/// Profiles `input`, a whole object, as [`Processor`] does (fed it in any chunks), with
/// `parallelism` worker threads. The result, or the error, is the one the processor gives.
pub fn profile_parallel(
    input: &[u8],
    config: &Config,
    key: Option<&str>,
    parallelism: Parallelism,
) -> Result<Analysis, Error> {
    let one_thread = || Processor::new(config.clone(), key).read_to_end(input, 1 << 20);
    let bytes_in = input.len() as u64;
    let head = &input[..input.len().min(Compression::MAGIC_LEN)];
    let compression = Compression::detect(head);
    let decoded;
    let input = if compression == Compression::None {
        input
    } else {
        // Not splittable: decompressed on this thread, then parsed in parallel. Corrupt
        // data goes to one thread, which meets the text's errors and the stream's in the
        // same order as always.
        match decompress(input, compression) {
            Ok(text) => {
                decoded = text;
                &decoded[..]
            }
            Err(_) => return one_thread(),
        }
    };
    // The layout is decided once, on the same window one thread reads.
    let hint = key.map(FormatHint::from_key).unwrap_or_default();
    let bom = input.starts_with(BOM);
    let base = if bom { BOM.len() } else { 0 };
    let body = &input[base..];
    let sample = &body[..body.len().min(config.sniff_bytes.max(1))];
    let complete =
        input.len() < config.sniff_bytes.max(1) + BOM.len() && sample.len() == body.len();
    let layout = detect(sample, complete, base as u64, hint, config)?;
    let text = Text {
        input,
        base,
        config,
        ranges: ranges(input.len(), base, parallelism.range_bytes.get()),
    };
    let merged = match (layout.format, layout.delimiter) {
        (Format::Csv, Some(delimiter)) => {
            let header = layout.header.unwrap_or(false);
            run(
                &text,
                parallelism.threads.get(),
                &Delimited { delimiter, header },
            )?
        }
        (Format::Csv, None) => {
            return Err(ErrorKind::Internal("delimited layout without delimiter".into()).into());
        }
        (Format::JsonLines, _) => match run(&text, parallelism.threads.get(), &JsonLines)? {
            Some(merged) => Some(merged),
            None => return one_thread(),
        },
    };
    let Some(merged) = merged else {
        return Err(ErrorKind::Internal("no range was parsed".into()).into());
    };
    merged.malformed.check_share(merged.total)?;
    Ok(Analysis {
        compression,
        layout,
        bom,
        bytes_in,
        bytes_decoded: input.len() as u64,
        records: RecordCounts {
            total: merged.total,
            valid: merged.valid,
            malformed: merged.malformed.count(),
        },
        columns: merged.columns.summaries(merged.valid),
        columns_not_profiled: merged.columns.not_profiled(),
        malformed: merged.malformed.examples().to_vec(),
        contract: None,
        stages: Vec::new(),
    })
}

/// The whole decompressed text of `input`.
fn decompress(input: &[u8], compression: Compression) -> Result<Vec<u8>, Error> {
    let mut decoder = Decoder::new(compression)?;
    let mut text = Vec::new();
    decoder.decode(input, &mut |bytes| {
        text.extend_from_slice(bytes);
        Ok(())
    })?;
    decoder.finish()?;
    Ok(text)
}

/// The starts of the ranges: `base`, then every `range_bytes`, then `len` as the last end.
fn ranges(len: usize, base: usize, range_bytes: usize) -> Vec<usize> {
    let mut starts: Vec<usize> = (base..len).step_by(range_bytes.max(1)).collect();
    if starts.is_empty() {
        starts.push(base);
    }
    starts.push(len);
    starts
}

/// The decompressed text and its ranges.
struct Text<'a> {
    input: &'a [u8],
    base: usize,
    config: &'a Config,
    /// Range `k` is `ranges[k]..ranges[k + 1]`.
    ranges: Vec<usize>,
}

impl Text<'_> {
    fn count(&self) -> usize {
        self.ranges.len() - 1
    }
}

/// What the merger holds: the one-thread state after the ranges merged so far.
struct Merged {
    columns: Columns,
    malformed: MalformedLog,
    total: u64,
    valid: u64,
}

/// A format's parallel parsing: what a worker makes of a range and how the merger takes it.
trait RangeParser: Sync {
    /// A range's partial result.
    type Partial: Send;
    /// The merger's state.
    type State;

    /// Parses range 0 from the start of the text, as one thread would.
    fn first(&self, text: &Text<'_>, stop: &AtomicBool) -> Result<Self::State, Error>;
    /// Parses range `k` (from 1) from a guessed start, into a partial result.
    fn partial(&self, text: &Text<'_>, k: usize, stop: &AtomicBool) -> Self::Partial;
    /// Takes range `k`'s partial into `state`, or parses the range again into it. `Ok(false)`
    /// when the partial cannot be merged exactly and the input needs one thread.
    fn merge(
        &self,
        text: &Text<'_>,
        k: usize,
        state: &mut Self::State,
        partial: Self::Partial,
    ) -> Result<bool, Error>;
    /// The merged profile.
    fn into_merged(state: Self::State) -> Merged;
}

/// A worker's result for one range.
enum Done<S, P> {
    /// Range 0, parsed as one thread would: the merger's first state, or the error.
    First(Result<S, Error>),
    /// A later range's partial result.
    Partial(P),
}

/// A worker's result with its range's number.
type Numbered<P> = (
    usize,
    Done<<P as RangeParser>::State, <P as RangeParser>::Partial>,
);

/// Parses every range on `threads` workers and merges them in order. `Ok(None)` when a
/// partial could not be merged exactly.
fn run<P: RangeParser>(text: &Text<'_>, threads: usize, parser: &P) -> Result<Option<Merged>, Error>
where
    P::State: Send,
{
    let count = text.count();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel::<Numbered<P>>();
        for _ in 0..threads.clamp(1, count) {
            let sender = sender.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= count {
                        break;
                    }
                    let done = if k == 0 {
                        Done::First(parser.first(text, stop))
                    } else {
                        Done::Partial(parser.partial(text, k, stop))
                    };
                    if sender.send((k, done)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let result = merge_in_order(text, parser, &receiver);
        // On an error the other workers stop at their next check; on success none is left.
        stop.store(true, Ordering::Relaxed);
        drop(receiver);
        result
    })
}

/// The merger's loop: takes the workers' results in range order.
fn merge_in_order<P: RangeParser>(
    text: &Text<'_>,
    parser: &P,
    receiver: &mpsc::Receiver<Numbered<P>>,
) -> Result<Option<Merged>, Error> {
    let mut waiting = BTreeMap::new();
    let mut state = None;
    for k in 0..text.count() {
        let done = loop {
            if let Some(done) = waiting.remove(&k) {
                break done;
            }
            let Ok((index, done)) = receiver.recv() else {
                return Err(ErrorKind::Internal(format!("range {k} was never parsed")).into());
            };
            waiting.insert(index, done);
        };
        match (done, &mut state) {
            (Done::First(first), None) => state = Some(first?),
            (Done::Partial(partial), Some(state)) => {
                if !parser.merge(text, k, state, partial)? {
                    return Ok(None);
                }
            }
            _ => return Err(ErrorKind::Internal(format!("range {k} out of order")).into()),
        }
    }
    Ok(state.map(P::into_merged))
}

/// Delimited text: speculative range starts.
struct Delimited {
    delimiter: u8,
    /// The first record is a header.
    header: bool,
}

/// The merger's state for delimited text: one thread's, after the ranges merged so far.
struct DelimitedState {
    rows: RowProfiler,
    /// Where the next record starts, and its line; `None` once the input's end is reached.
    next: Option<(u64, u64)>,
    /// Records the profiler was given, the header included.
    delivered: u64,
}

/// A range of delimited text, parsed from a guessed start.
struct DelimitedPartial {
    /// The guessed start: `None` when no line starts in the range.
    guess: Option<usize>,
    /// The profile of the records that start in the range, numbered from 1 and with lines
    /// from 1 at the guess; `None` when there was nothing to parse or the merger stopped.
    parsed: Option<(RowProfiler, RangeEnd)>,
}

impl RangeParser for Delimited {
    type Partial = DelimitedPartial;
    type State = DelimitedState;

    fn first(&self, text: &Text<'_>, stop: &AtomicBool) -> Result<DelimitedState, Error> {
        let config = text.config;
        let mut rows = RowProfiler::new(
            self.header,
            Columns::new(config.max_columns),
            MalformedLog::new(config.malformed_examples, config.malformed_limits),
        );
        let end = self.tokenize(text, text.base, text.ranges[1], &mut rows, 0, stop, false)?;
        Ok(DelimitedState {
            rows,
            next: end.next,
            delivered: end.delivered,
        })
    }

    fn partial(&self, text: &Text<'_>, k: usize, stop: &AtomicBool) -> DelimitedPartial {
        let end = text.ranges[k + 1];
        let guess = guess_record_start(text.input, text.ranges[k], end);
        let parsed = guess.and_then(|start| {
            let config = text.config;
            let mut rows = RowProfiler::new(
                false,
                Columns::new(config.max_columns),
                MalformedLog::unlimited(config.malformed_examples),
            );
            let end = self
                .tokenize(text, start, end, &mut rows, 0, stop, true)
                .ok()?;
            Some((rows, end))
        });
        DelimitedPartial { guess, parsed }
    }

    fn merge(
        &self,
        text: &Text<'_>,
        k: usize,
        state: &mut DelimitedState,
        partial: DelimitedPartial,
    ) -> Result<bool, Error> {
        let Some((start, line)) = state.next else {
            return Ok(true);
        };
        let end = text.ranges[k + 1];
        // No record starts in this range: the one before read past it.
        if start >= end as u64 {
            return Ok(true);
        }
        let line_shift = line - 1;
        let width = state.rows.columns.positional_width();
        let header_read = !self.header || state.delivered > 0;
        match partial.parsed {
            Some((rows, range_end))
                if partial.guess.is_some_and(|guess| guess as u64 == start)
                    && header_read
                    && width > 0
                    && [0, width].contains(&rows.columns.positional_width()) =>
            {
                let merged = &mut state.rows;
                merged
                    .malformed
                    .merge(&rows.malformed, merged.total, line_shift)?;
                merged.columns.merge_positional(&rows.columns);
                merged.total += rows.total;
                merged.valid += rows.valid;
                state.delivered += range_end.delivered;
                state.next = range_end.next.map(|(at, line)| (at, line + line_shift));
            }
            // A wrong guess or context: this range again, from its true start, into the
            // merged state, exactly as one thread goes on.
            _ => {
                let start = usize::try_from(start).map_err(|_| internal_offset())?;
                let never = AtomicBool::new(false);
                let range_end =
                    self.tokenize(text, start, end, &mut state.rows, line_shift, &never, false)?;
                state.delivered += range_end.delivered;
                state.next = range_end.next;
            }
        }
        Ok(true)
    }

    fn into_merged(state: DelimitedState) -> Merged {
        Merged {
            columns: state.rows.columns,
            malformed: state.rows.malformed,
            total: state.rows.total,
            valid: state.rows.valid,
        }
    }
}

fn internal_offset() -> Error {
    ErrorKind::Internal("a byte offset past the address space".into()).into()
}

/// Where a range parse stopped.
#[derive(Debug, Clone, Copy)]
struct RangeEnd {
    /// The first record that starts at or after the range's end (its offset and line), not
    /// profiled; `None` at the end of the input.
    next: Option<(u64, u64)>,
    /// Records given to the profiler.
    delivered: u64,
}

impl Delimited {
    /// Tokenizes the records that start in `start..end` (`start` being a record's start)
    /// into `rows`, reading past `end` to finish the last one; lines count from
    /// `line_shift + 1` at `start`. A speculative parse (`speculative`) gives up rather than
    /// read past `end` more than the range's length (at least [`READ_PAST`]): a wrong guess
    /// inside a long quoted field would read on to the field's end, and the merger parses the
    /// range again anyway.
    #[allow(clippy::too_many_arguments)]
    fn tokenize(
        &self,
        text: &Text<'_>,
        start: usize,
        end: usize,
        rows: &mut RowProfiler,
        line_shift: u64,
        stop: &AtomicBool,
        speculative: bool,
    ) -> Result<RangeEnd, Error> {
        let give_up = if speculative {
            end.saturating_add(end.saturating_sub(start).max(READ_PAST))
        } else {
            usize::MAX
        };
        let input = text.input;
        let mut tokenizer =
            Tokenizer::new(self.delimiter, text.config.max_record_bytes, start as u64);
        let mut sink = Bounded {
            rows,
            line_shift,
            end: end as u64,
            next: None,
            delivered: 0,
        };
        let mut at = start;
        let mut until = end.clamp(start, input.len());
        loop {
            tokenizer.feed(&input[at..until], &mut sink)?;
            at = until;
            if sink.next.is_some() {
                break;
            }
            if at == input.len() {
                tokenizer.finish(&mut sink)?;
                break;
            }
            if stop.load(Ordering::Relaxed) || at >= give_up {
                return Err(ErrorKind::Internal("parsing stopped".into()).into());
            }
            until = (at + READ_PAST).min(input.len());
        }
        Ok(RangeEnd {
            next: sink.next,
            delivered: sink.delivered,
        })
    }
}

/// Passes on the records that start before `end`, their lines shifted; notes the first
/// one that does not.
struct Bounded<'r> {
    rows: &'r mut RowProfiler,
    line_shift: u64,
    end: u64,
    next: Option<(u64, u64)>,
    delivered: u64,
}

impl RecordSink for Bounded<'_> {
    fn record(&mut self, record: &Record<'_>) -> Result<(), Error> {
        if self.next.is_some() {
            return Ok(());
        }
        if record.byte_offset >= self.end {
            self.next = Some((record.byte_offset, record.line + self.line_shift));
            return Ok(());
        }
        self.delivered += 1;
        let mut shifted = *record;
        shifted.line += self.line_shift;
        self.rows.record(&shifted)
    }
}

/// The guessed start of the first record in `start..end` (`start` > 0): the first line
/// start in it, as if the line break before it were outside quotes. Records start after a
/// line break (`\n` or `\r`), on a byte that is not one.
fn guess_record_start(input: &[u8], start: usize, end: usize) -> Option<usize> {
    let end = end.min(input.len());
    let from = start.checked_sub(1)?;
    let at = from + memchr::memchr2(b'\n', b'\r', input.get(from..end)?)?;
    let line = at
        + 1
        + input[at + 1..end]
            .iter()
            .position(|&b| b != b'\n' && b != b'\r')?;
    Some(line)
}

/// JSON Lines: records end at every `\n`, so ranges start on the first line after their
/// first byte, with no guess.
struct JsonLines;

/// The merger's state for JSON Lines.
struct JsonLinesState {
    lines: JsonLinesProfiler,
    /// `\n` bytes before the next range's start.
    line_breaks: u64,
}

/// A range of JSON Lines, profiled with records and lines counted from 1 at its start.
struct JsonLinesPartial {
    lines: Option<JsonLinesProfiler>,
    line_breaks: u64,
}

impl JsonLines {
    /// The lines that start in range `k`: from the first one's start to the start of the
    /// first line after the range (read past its end); `None` when no line starts in it.
    fn bounds(text: &Text<'_>, k: usize) -> Option<(usize, usize)> {
        let input = text.input;
        let (at, next) = (text.ranges[k], text.ranges[k + 1]);
        let start = if k == 0 {
            text.base
        } else {
            at + memchr::memchr(b'\n', &input[at - 1..next - 1])?
        };
        let end = if k + 1 == text.count() {
            input.len()
        } else {
            memchr::memchr(b'\n', &input[next - 1..]).map_or(input.len(), |i| next + i)
        };
        Some((start, end.max(start)))
    }

    /// Profiles range `k` into a fresh profiler with `malformed` as its log; returns it and
    /// the line breaks it read.
    fn profile(
        text: &Text<'_>,
        k: usize,
        malformed: MalformedLog,
    ) -> Result<(JsonLinesProfiler, u64), Error> {
        let config = text.config;
        let (start, end) = Self::bounds(text, k).unwrap_or((text.input.len(), text.input.len()));
        let mut lines = JsonLinesProfiler::new(
            Columns::new(config.max_columns),
            malformed,
            config.max_record_bytes,
            start as u64,
        );
        let range = &text.input[start..end];
        lines.feed(range)?;
        lines.finish()?;
        Ok((lines, memchr::memchr_iter(b'\n', range).count() as u64))
    }
}

impl RangeParser for JsonLines {
    type Partial = JsonLinesPartial;
    type State = JsonLinesState;

    fn first(&self, text: &Text<'_>, _stop: &AtomicBool) -> Result<JsonLinesState, Error> {
        let config = text.config;
        let malformed = MalformedLog::new(config.malformed_examples, config.malformed_limits);
        let (lines, line_breaks) = Self::profile(text, 0, malformed)?;
        Ok(JsonLinesState { lines, line_breaks })
    }

    fn partial(&self, text: &Text<'_>, k: usize, _stop: &AtomicBool) -> JsonLinesPartial {
        if Self::bounds(text, k).is_none() {
            return JsonLinesPartial {
                lines: None,
                line_breaks: 0,
            };
        }
        let malformed = MalformedLog::unlimited(text.config.malformed_examples);
        match Self::profile(text, k, malformed) {
            Ok((lines, line_breaks)) => JsonLinesPartial {
                lines: Some(lines),
                line_breaks,
            },
            Err(_) => JsonLinesPartial {
                lines: None,
                line_breaks: 0,
            },
        }
    }

    fn merge(
        &self,
        text: &Text<'_>,
        k: usize,
        state: &mut JsonLinesState,
        partial: JsonLinesPartial,
    ) -> Result<bool, Error> {
        let Some(lines) = partial.lines else {
            // No line starts in the range (the one before read it), or it failed.
            return Ok(JsonLines::bounds(text, k).is_none());
        };
        let merged = &mut state.lines;
        if !merged.columns.merge_named(&lines.columns, merged.total) {
            return Ok(false);
        }
        merged
            .malformed
            .merge(&lines.malformed, merged.total, state.line_breaks)?;
        merged.total += lines.total;
        merged.valid += lines.valid;
        state.line_breaks += partial.line_breaks;
        Ok(true)
    }

    fn into_merged(state: JsonLinesState) -> Merged {
        Merged {
            columns: state.lines.columns,
            malformed: state.lines.malformed,
            total: state.lines.total,
            valid: state.lines.valid,
        }
    }
}
