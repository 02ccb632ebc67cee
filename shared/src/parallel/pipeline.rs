//! The pipeline of ranges ([`Pipeline`]): the feeding thread fills ranges of the text and
//! queues them ([`JobQueue`]) for the workers, parses one itself when no worker has taken it,
//! and merges the results in range order through the format's [`RangeFormat`]. Also here:
//! the pool of range buffers ([`RangeBuffers`]) and the workers' loop ([`work`]).

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;

use crate::conversion::Conversion;
use crate::error::{Error, ErrorKind};
use crate::malformed::MalformedLog;
use crate::parquet_output::{EncodeHelpers, RowGroupEncoding};
use crate::profile::Columns;
use crate::zstd_frames::FrameJob;

use super::Parallelism;

/// The least bytes of a piece of the last range (see [`Pipeline::send_last`]), unless
/// the range size over the threads is less.
pub(super) const LAST_PIECE_BYTES: usize = 64 << 10;

/// The first range's size: each range after it is twice the one before, up to the range
/// size ([`Parallelism::range_bytes`]). The workers start as soon as the input's first
/// bytes are read, instead of after a whole range each (read into memory the process has
/// not touched yet: on this project's test machine, page faults made that a few
/// milliseconds a range of 4 MiB while the workers waited).
pub(super) const FIRST_RANGE_BYTES: usize = 256 << 10;

/// One range of the decompressed text.
#[derive(Debug)]
pub(super) struct Range {
    /// Offset of its first byte in the decompressed text.
    pub(super) start: u64,
    /// The byte before it (`None` for the first range).
    pub(super) before: Option<u8>,
    pub(super) bytes: Vec<u8>,
}

/// What the merger holds at the end: one thread's profile.
pub(super) struct Merged {
    pub(super) columns: Columns,
    pub(super) malformed: MalformedLog,
    pub(super) total: u64,
    pub(super) valid: u64,
    /// The contract stage, with every record taken.
    pub(super) conversion: Option<Box<Conversion>>,
}

/// A format's parallel parsing: what a worker makes of a range and how the merger takes it.
pub(super) trait RangeFormat: Send + Sync + 'static {
    /// A range's partial result.
    type Partial: Send + 'static;
    /// The merger's state: one thread's, after the ranges merged so far.
    type State: Send + 'static;

    /// Parses the first range as one thread would: the merger's first state; on an error,
    /// the state up to it too when there is one (its contract stage's records are taken
    /// before the error is reported, as one thread writes them before it meets the error).
    fn first(&self, range: &Range) -> Result<Self::State, FirstFailed<Self::State>>;
    /// Parses a later range from a guessed start; `None` when there is nothing to guess
    /// from, or the parse failed or was stopped.
    fn partial(&self, range: &Range, stop: &AtomicBool) -> Option<Self::Partial>;
    /// Takes the next range into `state`: its partial, when it is exactly one thread's
    /// parse (`Ok(true)`), or the range parsed on this thread (`Ok(false)`); the records
    /// the contract stage met go to `conversion`.
    fn merge(
        &self,
        state: &mut Self::State,
        range: &Range,
        partial: Option<Self::Partial>,
        conversion: Option<&mut Conversion>,
    ) -> Result<bool, Error>;
    /// Moves the records `state`'s own contract stage met to `conversion`.
    fn settle(
        &self,
        state: &mut Self::State,
        conversion: Option<&mut Conversion>,
    ) -> Result<(), Error>;
    /// Ends the input.
    fn finish(
        &self,
        state: Self::State,
        conversion: Option<Box<Conversion>>,
    ) -> Result<Merged, Error>;
}

/// The first range's parse failed: the error, and the merger's state up to it when the
/// parse began.
pub(super) struct FirstFailed<S> {
    pub(super) error: Error,
    pub(super) state: Option<S>,
}

impl<S> From<Error> for FirstFailed<S> {
    fn from(error: Error) -> FirstFailed<S> {
        FirstFailed { error, state: None }
    }
}

/// Range buffers done with, to fill again: the ranges the feeding thread fills, and the
/// pieces the threads decompressing zstd frames fill (which become ranges as they are). A
/// new buffer would be faulted in, page by page, as it is filled.
#[derive(Debug)]
pub(crate) struct RangeBuffers {
    pub(super) kept: Mutex<Vec<Vec<u8>>>,
    /// The most buffers kept: as many as the window holds, and two: a buffer is in use
    /// while the window is full, so this keeps no more memory than its peak.
    pub(super) keep: usize,
}

impl RangeBuffers {
    /// Keeps at most `keep` buffers.
    pub(crate) fn new(keep: usize) -> RangeBuffers {
        RangeBuffers {
            kept: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// A buffer kept, empty, if there is one.
    pub(crate) fn take(&self) -> Option<Vec<u8>> {
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    /// Keeps `buffer`, emptied, unless it has no room or enough are kept.
    pub(crate) fn give(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() == 0 {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < self.keep {
            buffer.clear();
            kept.push(buffer);
        }
    }
}

/// A worker's result for one range.
pub(super) enum Done<F: RangeFormat> {
    First(Result<F::State, FirstFailed<F::State>>),
    Partial(Option<F::Partial>),
}

pub(super) type Outcome<F> = (usize, Done<F>);

/// Work for the pipeline's threads.
pub(super) enum Job {
    /// Range `index`, to parse.
    Parse(usize, Arc<Range>),
    /// A Parquet row group's column chunks, to take a share of (the merger encodes too).
    Encode(Arc<RowGroupEncoding>),
    /// A zstd frame, to decompress unless the feeding thread came to it first.
    Inflate(Arc<FrameJob>),
}

/// The jobs the workers take, oldest first, but row groups to encode ahead of every range:
/// the merger, which merges nothing while it encodes, is waiting for them.
#[derive(Default)]
pub(super) struct JobQueue {
    pub(super) queued: Mutex<Queued>,
    /// Signalled for each job, and when the queue closes.
    pub(super) ready: Condvar,
}

#[derive(Default)]
pub(super) struct Queued {
    pub(super) jobs: VecDeque<Job>,
    /// Workers started.
    pub(super) workers: usize,
    /// Workers waiting for a job.
    pub(super) idle: usize,
    /// No more jobs: the workers return.
    pub(super) closed: bool,
}

impl JobQueue {
    pub(super) fn queued(&self) -> MutexGuard<'_, Queued> {
        self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues range `index` behind the others; false once the queue is closed.
    pub(super) fn push(&self, index: usize, range: Arc<Range>) -> bool {
        let mut queued = self.queued();
        if queued.closed {
            return false;
        }
        queued.jobs.push_back(Job::Parse(index, range));
        self.ready.notify_one();
        true
    }

    /// A worker's next job, waiting for one; `None` once the queue is closed.
    pub(super) fn next(&self) -> Option<Job> {
        let mut queued = self.queued();
        loop {
            if queued.closed {
                return None;
            }
            if let Some(job) = queued.jobs.pop_front() {
                return Some(job);
            }
            queued.idle += 1;
            queued = self
                .ready
                .wait(queued)
                .unwrap_or_else(PoisonError::into_inner);
            queued.idle -= 1;
        }
    }

    /// Workers waiting for a job.
    pub(super) fn idle(&self) -> usize {
        self.queued().idle
    }

    /// Queues a zstd frame behind the others.
    pub(super) fn push_frame(&self, frame: Arc<FrameJob>) {
        let mut queued = self.queued();
        if !queued.closed {
            queued.jobs.push_back(Job::Inflate(frame));
            self.ready.notify_one();
        }
    }

    /// The oldest range no worker has taken, for the merger to parse, if there is more than
    /// the waiting workers are about to take. (Row groups left queued were encoded when the
    /// merger flushed them: dropped. Frames stay for the workers: the feeding thread
    /// decompresses a frame when its turn comes.)
    pub(super) fn take_waiting(&self) -> Option<(usize, Arc<Range>)> {
        let mut queued = self.queued();
        while matches!(queued.jobs.front(), Some(Job::Encode(_))) {
            queued.jobs.pop_front();
        }
        let idle = queued.idle;
        let at = idle
            + queued
                .jobs
                .iter()
                .skip(idle)
                .position(|job| matches!(job, Job::Parse(..)))?;
        match queued.jobs.remove(at) {
            Some(Job::Parse(index, range)) => Some((index, range)),
            _ => None,
        }
    }

    pub(super) fn add_worker(&self) {
        self.queued().workers += 1;
    }

    /// Closes the queue: the workers return once done with their jobs.
    pub(super) fn close(&self) {
        self.queued().closed = true;
        self.ready.notify_all();
    }
}

impl EncodeHelpers for JobQueue {
    /// Puts the row group ahead of the ranges, once for each worker.
    fn offer(&self, encoding: &Arc<RowGroupEncoding>) {
        let mut queued = self.queued();
        if queued.closed {
            return;
        }
        for _ in 0..queued.workers {
            queued.jobs.push_front(Job::Encode(Arc::clone(encoding)));
        }
        self.ready.notify_all();
    }
}

/// The ranges of one format: cut on the feeding thread, parsed by the workers and by the
/// feeding thread while it waits for them, merged in order on the feeding thread.
pub(super) struct Pipeline<F: RangeFormat> {
    pub(super) format: Arc<F>,
    pub(super) parallelism: Parallelism,
    /// The range being filled, and its start.
    pub(super) filling: Vec<u8>,
    pub(super) filling_start: u64,
    /// Where the text is expected to end, when known.
    pub(super) end: Option<u64>,
    /// The last byte of the last range sent.
    pub(super) before: Option<u8>,
    /// Ranges sent and not merged yet, oldest first.
    pub(super) in_flight: VecDeque<Arc<Range>>,
    /// Ranges sent so far; the next to merge is `sent - in_flight.len()`.
    pub(super) sent: usize,
    /// Results that came before the ones ahead of them.
    pub(super) arrived: BTreeMap<usize, Done<F>>,
    pub(super) state: Option<F::State>,
    pub(super) jobs: Arc<JobQueue>,
    /// Kept until every worker is started, for the next one.
    pub(super) results_in: Option<mpsc::Sender<Outcome<F>>>,
    pub(super) results: mpsc::Receiver<Outcome<F>>,
    pub(super) workers: Vec<JoinHandle<()>>,
    pub(super) stop: Arc<AtomicBool>,
    /// Range buffers the workers are done with, to fill again (shared with the threads
    /// decompressing zstd frames into pieces).
    pub(super) spare: Arc<RangeBuffers>,
    /// Ranges after the first whose partial could not be taken: parsed by the merger.
    pub(super) reparsed: usize,
    /// The contract stage, which takes the records of every range in order.
    pub(super) conversion: Option<Box<Conversion>>,
    /// Ranges the merger parsed itself, in place of a worker ([`Pipeline::merge_next`]).
    pub(super) merger_parsed: usize,
}

impl<F: RangeFormat> std::fmt::Debug for Pipeline<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("parallelism", &self.parallelism)
            .field("sent", &self.sent)
            .field("in_flight", &self.in_flight.len())
            .field("workers", &self.workers.len())
            .field("reparsed", &self.reparsed)
            .field("merger_parsed", &self.merger_parsed)
            .finish_non_exhaustive()
    }
}

impl<F: RangeFormat> Pipeline<F> {
    /// The pipeline of text expected to end at `end` (see [`Pipeline::range_bytes`]).
    pub(super) fn ending_at(mut self, end: Option<u64>) -> Pipeline<F> {
        self.end = end;
        self
    }

    pub(super) fn new(format: F, parallelism: Parallelism, base: u64) -> Pipeline<F> {
        let (results_in, results) = mpsc::channel();
        Pipeline {
            format: Arc::new(format),
            parallelism,
            filling: Vec::new(),
            filling_start: base,
            end: None,
            before: None,
            in_flight: VecDeque::new(),
            sent: 0,
            arrived: BTreeMap::new(),
            state: None,
            jobs: Arc::new(JobQueue::default()),
            results_in: Some(results_in),
            results,
            workers: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            spare: Arc::new(RangeBuffers::new(parallelism.window() + 2)),
            reparsed: 0,
            conversion: None,
            merger_parsed: 0,
        }
    }

    /// The pipeline with the contract stage (the format's
    /// [`ContractRanges`](super::contract_ranges::ContractRanges) made from it), which shares
    /// the encoding of its Parquet row groups with the workers.
    pub(super) fn with_conversion(
        mut self,
        mut conversion: Option<Box<Conversion>>,
    ) -> Pipeline<F> {
        if let Some(conversion) = &mut conversion {
            conversion.encode_with(Arc::clone(&self.jobs) as Arc<dyn EncodeHelpers>);
        }
        self.conversion = conversion;
        self
    }

    /// The size of the range being filled: [`FIRST_RANGE_BYTES`], doubled for each range
    /// sent, up to the configured size; towards the expected end of the text, a share of
    /// what is left (half of it over the threads, at least [`LAST_PIECE_BYTES`]), so that
    /// the last ranges are small and the workers finish together.
    pub(super) fn range_bytes(&self) -> usize {
        let full = self.parallelism.range_bytes.get();
        let ramp = u32::try_from(self.sent)
            .ok()
            .and_then(|sent| FIRST_RANGE_BYTES.checked_mul(1 << sent.min(32)))
            .map_or(full, |ramp| ramp.min(full));
        let Some(end) = self.end else {
            return ramp;
        };
        let shares = 2 * self.parallelism.threads.get() as u64;
        let share = end.saturating_sub(self.filling_start) / shares;
        usize::try_from(share).map_or(ramp, |share| share.max(LAST_PIECE_BYTES).min(ramp))
    }

    /// A buffer to fill, once the last one was sent: a spare one when there is one.
    pub(super) fn start_filling(&mut self) {
        if self.filling.capacity() == 0 {
            self.filling = self
                .spare
                .take()
                // The full size, so that it holds any later range: memory is touched only
                // where it is filled.
                .unwrap_or_else(|| Vec::with_capacity(self.parallelism.range_bytes.get()));
        }
    }

    /// Reads from `reader` straight into the range being filled, until it is full (then
    /// sends it) or the reader ends: the bytes read, 0 at the end.
    pub(super) fn fill_from(&mut self, reader: &mut impl Read) -> Result<usize, Error> {
        self.start_filling();
        let room = self.range_bytes() - self.filling.len();
        // Reads into the buffer's spare capacity, retrying when interrupted, and stops at
        // `room` bytes: the buffer never grows.
        let read = Read::take(&mut *reader, room as u64)
            .read_to_end(&mut self.filling)
            .map_err(ErrorKind::Read)?;
        if self.filling.len() == self.range_bytes() {
            self.send()?;
        }
        Ok(read)
    }

    pub(super) fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Error> {
        while !bytes.is_empty() {
            self.start_filling();
            let take = (self.range_bytes() - self.filling.len()).min(bytes.len());
            self.filling.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.filling.len() == self.range_bytes() {
                self.send()?;
            }
        }
        Ok(())
    }

    /// Takes `bytes` as the next range, as it is (a range may start and end anywhere): the
    /// range being filled is sent first, short; `bytes` is sent once it holds a range,
    /// else filled on.
    pub(super) fn feed_range(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        if bytes.is_empty() {
            return Ok(());
        }
        if !self.filling.is_empty() {
            self.send()?;
        }
        self.spare.give(std::mem::replace(&mut self.filling, bytes));
        if self.filling.len() >= self.range_bytes() {
            self.send()?;
        }
        Ok(())
    }

    /// Sends the range being filled to the workers, once the window has room.
    pub(super) fn send(&mut self) -> Result<(), Error> {
        while self.in_flight.len() >= self.parallelism.window() {
            self.merge_next()?;
        }
        let bytes = std::mem::take(&mut self.filling);
        let range = Arc::new(Range {
            start: self.filling_start,
            before: self.before,
            bytes,
        });
        self.filling_start += range.bytes.len() as u64;
        self.before = range.bytes.last().copied().or(self.before);
        self.start_worker();
        if !self.jobs.push(self.sent, Arc::clone(&range)) {
            return Err(ErrorKind::Internal("the workers are gone".into()).into());
        }
        self.sent += 1;
        self.in_flight.push_back(range);
        Ok(())
    }

    /// Sends the range being filled at the end of the input, short, cut into one piece per
    /// thread (of at least [`LAST_PIECE_BYTES`], or the range size over the threads when
    /// that is less): the threads share the end of the input instead of one parsing it while
    /// the others wait, and an object smaller than a range is parsed on every thread. (Any
    /// cut gives the same result: ranges may start anywhere.) Each piece is copied into a
    /// buffer of its own once the window has room for it, so the buffers stay within
    /// [`Parallelism::buffered_bytes`].
    pub(super) fn send_last(&mut self) -> Result<(), Error> {
        let threads = self.parallelism.threads.get();
        let smallest = LAST_PIECE_BYTES.min(self.range_bytes().div_ceil(threads));
        let piece = self.filling.len().div_ceil(threads).max(smallest);
        if self.filling.len() <= piece {
            return self.send();
        }
        let last = std::mem::take(&mut self.filling);
        for bytes in last.chunks(piece) {
            while self.in_flight.len() >= self.parallelism.window() {
                self.merge_next()?;
            }
            self.start_filling();
            self.filling.extend_from_slice(bytes);
            self.send()?;
        }
        self.spare.give(last);
        Ok(())
    }

    /// Starts one more worker, up to one less than the thread count (the merger parses
    /// too), while ranges are sent.
    pub(super) fn start_worker(&mut self) {
        let workers = self.parallelism.threads.get() - 1;
        if self.workers.len() >= workers.min(self.sent + 1) {
            return;
        }
        let Some(results) = &self.results_in else {
            return;
        };
        let results = results.clone();
        let (format, queue, stop) = (
            Arc::clone(&self.format),
            Arc::clone(&self.jobs),
            Arc::clone(&self.stop),
        );
        let spawned = std::thread::Builder::new()
            .name("parse-worker".into())
            .spawn(move || work(&*format, &queue, &results, &stop));
        // No thread to be had: the ones running, and the merger, take the ranges.
        if let Ok(handle) = spawned {
            self.workers.push(handle);
            self.jobs.add_worker();
        }
        if self.workers.len() >= workers {
            self.results_in = None;
        }
    }

    /// Merges the oldest range sent. Until a worker hands it back, the merger parses the
    /// ranges no worker has taken yet, instead of waiting: so it is one of the threads
    /// that parse, and `threads` threads run, not `threads` workers and a merger that
    /// wakes up for each range. On the bench rows with two threads (9 interleaved runs,
    /// median), that took converting from 0.488 to 0.472 s and profiling rows.csv from
    /// 0.242 to 0.236 s (one thread: 0.834 and 0.427). Before, each time the merger slept,
    /// the scheduler often ran both workers on one core for 5–20 ms, leaving the other
    /// idle. (A merger that parsed next to `threads` workers was slower on plain text: while
    /// it parsed, it held back the next ranges and the merges.)
    pub(super) fn merge_next(&mut self) -> Result<(), Error> {
        let index = self.sent - self.in_flight.len();
        let done = loop {
            if let Some(done) = self.arrived.remove(&index) {
                break done;
            }
            if let Ok((at, done)) = self.results.try_recv() {
                self.arrived.insert(at, done);
                continue;
            }
            if self.parse_waiting() {
                continue;
            }
            if self.workers.is_empty() {
                return Err(ErrorKind::Internal(format!("range {index} was never parsed")).into());
            }
            let Ok((at, done)) = self.results.recv() else {
                return Err(ErrorKind::Internal(format!("range {index} was never parsed")).into());
            };
            self.arrived.insert(at, done);
        };
        let Some(range) = self.in_flight.pop_front() else {
            return Err(ErrorKind::Internal(format!("range {index} was never sent")).into());
        };
        let conversion = self.conversion.as_deref_mut();
        let merged = match (done, &mut self.state) {
            (Done::First(Ok(state)), None) => {
                let state = self.state.insert(state);
                self.format.settle(state, conversion)
            }
            (Done::First(Err(FirstFailed { error, state })), None) => match state {
                Some(mut state) => self.format.settle(&mut state, conversion).and(Err(error)),
                None => Err(error),
            },
            (Done::Partial(partial), Some(state)) => self
                .format
                .merge(state, &range, partial, conversion)
                .map(|taken| {
                    if !taken {
                        self.reparsed += 1;
                    }
                }),
            _ => Err(ErrorKind::Internal(format!("range {index} out of order")).into()),
        };
        if let Ok(range) = Arc::try_unwrap(range) {
            self.spare.give(range.bytes);
        }
        if merged.is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
        merged
    }

    /// The workers' queue, once there is a worker.
    pub(super) fn jobs(&self) -> Option<&JobQueue> {
        (!self.workers.is_empty()).then_some(&*self.jobs)
    }

    /// The range buffers done with, for pieces of zstd frames to be decompressed into.
    pub(super) fn range_buffers(&self) -> &Arc<RangeBuffers> {
        &self.spare
    }

    /// Parses the oldest range no worker has taken yet, as a worker would, if there is
    /// more than the waiting workers are about to take: false when there is none.
    pub(super) fn parse_waiting(&mut self) -> bool {
        let Some((at, range)) = self.jobs.take_waiting() else {
            return false;
        };
        let done = parse(&*self.format, at, &range, &self.stop);
        self.arrived.insert(at, done);
        self.merger_parsed += 1;
        true
    }

    /// Sends the range being filled, even short, and merges every range.
    pub(super) fn merge_all(&mut self) -> Result<(), Error> {
        if !self.filling.is_empty() {
            self.send_last()?;
        }
        while !self.in_flight.is_empty() {
            self.merge_next()?;
        }
        Ok(())
    }

    /// Merges every range and finishes the format's result, checked as one thread checks
    /// it, its last Parquet row group written.
    pub(super) fn finish(mut self) -> Result<Merged, Error> {
        self.merge_all()?;
        if self.state.is_none() {
            // Nothing after the byte-order mark: the first range is empty.
            self.send()?;
            self.merge_next()?;
        }
        let Some(state) = self.state.take() else {
            return Err(ErrorKind::Internal("no range was parsed".into()).into());
        };
        let mut merged = self.format.finish(state, self.conversion.take())?;
        // The checks in one thread's order: the malformed records' share, then the contract's
        // (in `write_buffered_rows`), then the last row group, written while the workers are
        // there to share its encoding.
        merged.malformed.check_share(merged.total)?;
        if let Some(conversion) = &mut merged.conversion {
            conversion.write_buffered_rows()?;
        }
        Ok(merged)
    }
}

impl<F: RangeFormat> Drop for Pipeline<F> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.jobs.close();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// A worker's loop: takes the next job, until the queue closes or the merger is gone. A
/// range is parsed and its result handed back; a panic while parsing hands back nothing for
/// it, so that the merger parses it itself, or, for the first, an internal error: never a
/// range the merger waits for forever. A row group is encoded with the merger, with an
/// encoder the worker keeps for the next.
pub(super) fn work<F: RangeFormat>(
    format: &F,
    queue: &JobQueue,
    results: &mpsc::Sender<Outcome<F>>,
    stop: &AtomicBool,
) {
    yield_to_the_feeding_thread();
    let mut encoder = None;
    let mut frame_decoder = crate::zstd_frames::FrameDecoder::default();
    while let Some(job) = queue.next() {
        match job {
            Job::Parse(index, range) => {
                let done = parse(format, index, &range, stop);
                drop(range);
                if results.send((index, done)).is_err() {
                    return;
                }
            }
            Job::Encode(encoding) => encoding.help(&mut encoder),
            Job::Inflate(frame) => {
                frame.run(&mut frame_decoder);
            }
        }
    }
}

/// Range `index` parsed: the first one from the start, a later one from its guessed row
/// start, unless the merger stopped. A panic while parsing gives nothing for the range, so
/// that the merger parses it itself, or, for the first, an internal error.
pub(super) fn parse<F: RangeFormat>(
    format: &F,
    index: usize,
    range: &Range,
    stop: &AtomicBool,
) -> Done<F> {
    if index == 0 {
        let first = std::panic::catch_unwind(AssertUnwindSafe(|| format.first(range)));
        Done::First(first.unwrap_or_else(|_| {
            Err(Error::from(ErrorKind::Internal(
                "parsing the first range panicked".into(),
            ))
            .into())
        }))
    } else if stop.load(Ordering::Relaxed) {
        Done::Partial(None)
    } else {
        let partial = std::panic::catch_unwind(AssertUnwindSafe(|| format.partial(range, stop)));
        Done::Partial(partial.ok().flatten())
    }
}

/// How much lower the workers' scheduling priority is than the thread that feeds them (a
/// nice value, added to the thread's own).
pub(super) const WORKER_NICENESS: i32 = 5;

/// Lowers the calling worker's scheduling priority by [`WORKER_NICENESS`], so that when the
/// threads outnumber the CPUs, the feeding thread (which reads, decompresses and merges,
/// one range at a time, for all of them) runs first, and the workers take the time it
/// leaves. On Linux the nice value is a thread's own (setpriority(2), "Linux/NPTL"), and
/// raising it needs no privilege. Elsewhere, or if the call fails, nothing changes.
pub(super) fn yield_to_the_feeding_thread() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let thread = Some(rustix::thread::gettid());
        if let Ok(nice) = getpriority_process(thread) {
            let _ = setpriority_process(thread, nice.saturating_add(WORKER_NICENESS).min(19));
        }
    }
}
