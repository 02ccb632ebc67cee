//! Parallel profiling of one object, streaming: [`ParallelProcessor`] is fed the object in
//! chunks like [`Processor`], cuts the decompressed text into ranges that worker threads
//! parse at the same time, and merges their partial results, in order, into exactly the
//! [`Analysis`] one thread gives (the same report bytes, the same error).
//!
//! ```text
//! chunks ─▶ compression ─▶ decoder ─▶ sniff (once, first window) ─▶ ranges ─┬─▶ worker ─┐
//!           (feeding thread: decompresses, cuts, merges)                    ├─▶ worker ─┤
//!                                                                           └─▶ worker ─┤
//!   merger, in range order: is the guess where one thread's state is a row start? ◀────┘
//!        yes: merge the partial, take over its tokenizer   no: parse the range itself
//! ```
//!
//! - **Splitting** (CSV): a newline inside a quoted field is data, so a range cannot know
//!   where its first record starts. Each worker guesses, speculatively (Ge et al.,
//!   "Speculative Distributed CSV Data Parsing for Big Data Analytics", SIGMOD 2019; DuckDB's
//!   parallel CSV scanner also starts a range at a guessed line start and checks it later):
//!   the first line start in the range, taken as outside quotes. It tokenizes from there to
//!   the range's end and keeps its tokenizer, which holds the last row, unfinished.
//! - **Validation**: the merger holds one thread's state (the row profiler and the tokenizer)
//!   after the ranges merged so far. For the next range it tokenizes the bytes before the
//!   guess (usually the end of one row); when the tokenizer is then between rows, as a new
//!   one is, and the profile's context holds (the header is read, the row width is the one
//!   the worker met), the worker's parse is exactly one thread's: its profile merges and
//!   its tokenizer, lines renumbered, becomes the merger's. Otherwise the merger tokenizes
//!   the rest of the range itself. A wrong guess costs time, never correctness.
//! - **Merging**: counts add; minima, maxima and type joins combine; HyperLogLog registers
//!   take the register-wise maximum; malformed records get global record numbers and lines
//!   (byte offsets are global already). A range whose malformed records would pass the
//!   count limit is parsed by the merger itself, and the records the contract stage met
//!   before any error are written before the error is reported: the limit fails at the
//!   same record as one thread, and an output that fails to be written before it fails
//!   first, as on one thread.
//! - **JSON Lines** needs no guess: records end at every `\n`. A worker profiles the whole
//!   lines of its range; the merger the line that crosses into the next. A part that meets
//!   more columns than the limit profiles cannot be merged exactly: the merger then
//!   profiles that range itself.
//! - **Compression**: gzip is not splittable: the feeding thread decompresses, streaming,
//!   and hands the decompressed ranges to the workers. A zstd object of several frames
//!   (`pzstd` writes them) is cut into its frames on 4 threads or more
//!   ([`FRAME_THREADS`]): a worker with no range to parse decompresses the next ones, and
//!   the feeding thread feeds their output in order, decompressing any no worker took
//!   (see [`crate::zstd_frames`]).
//! - **Threads**: `threads` threads parse: `threads − 1` workers and the feeding thread,
//!   which, rather than wait for the oldest range, parses a range no worker has taken yet
//!   (its result merges like a worker's).
//! - **Memory** is bounded: at most [`Parallelism::window`] ranges are parsed or waiting to
//!   be merged, plus the one being filled; each worker holds one range's partial profile.
//!   Nothing grows with the object's size. The first ranges are smaller (from 256 KiB,
//!   doubling up to the range size), so that every worker starts as soon as the input does.
//! - **Errors**: a worker that fails (or panics) on a range hands back nothing for it, and
//!   the merger parses that range itself, so the error is the one one thread meets first,
//!   at the same record. Any error stops the other workers (they check a flag while
//!   parsing) and abandons the input. Text the decoder produced before a corrupt stream is
//!   merged before the corruption is reported, as one thread would have parsed it first.
//!
//! - **Contracts** ([`ParallelProcessor::with_conversion`]): each worker's range goes through
//!   a recording conversion (the contract's checks and typing, rows kept in column buffers,
//!   rejected records kept with positions counted from the range's start). The merger moves
//!   the rows into the Parquet file in input order, its row groups cut where one thread cuts
//!   them and their column chunks encoded by the merger and the workers (a row group is put
//!   ahead of the ranges in the workers' queue; each chunk is its column's alone: the same
//!   bytes), and writes the rejected records with global record
//!   numbers and lines. The workers
//!   of later ranges wait until the first range has read the header (the binding). A range
//!   whose rejected records would pass the contract's `max_count` is parsed by the merger
//!   itself, so the object fails at the same record with the same error as one thread.
//!
//! Other stages are not run here: a processor with any runs on one thread.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Compression;
use crate::config::{Config, Format};
use crate::conversion::{Conversion, ConversionTemplate};
use crate::decompress::Decoder;
use crate::delimited::{RowProfiler, Tokenizer};
use crate::detect::{FormatHint, Layout, detect};
use crate::error::{Error, ErrorKind};
use crate::json_lines::JsonLinesProfiler;
use crate::malformed::MalformedLog;
use crate::parquet_output::{EncodeHelpers, RowGroupEncoding};
use crate::processor::{Analysis, Processor, RecordCounts, read_some};
use crate::profile::Columns;
use crate::stage::{CONTRACT_STAGE, StageColumns, StageList};
use crate::zstd_frames::{FrameCutter, FrameDecoder, FrameJob, Piece, Taken};

const BOM: &[u8] = b"\xef\xbb\xbf";

/// From this many threads, the frames of a zstd stream are decompressed by any thread
/// ([`crate::zstd_frames`]); below, by the feeding thread alone. Here (2 cores, `profile`
/// with two threads, 9–11 interleaved runs, medians): on 300 MB of lines of 90 words, which
/// parse faster than they decompress, cut into frames by `pzstd -p 2`, 0.278–0.305 s
/// against 0.351–0.362 s (16–21 % faster); on the bench rows, which parse slower than they
/// decompress, 0.362–0.374 s against 0.340–0.357 s (3–7 % slower: the frames are still
/// gathered, and a worker that runs out of ranges for a moment takes one). One thread
/// decompresses zstd text at about 1.4 GB/s here and parses the bench rows at about
/// 0.45 GB/s, so from about 4 threads the feeding thread alone cannot keep the others busy
/// on any text: not measured, the machine has 2 cores.
const FRAME_THREADS: usize = 4;

/// Bytes a worker parses between two looks at the stop flag.
const STOP_CHECK_BYTES: usize = 1 << 20;

/// Bytes read at a time by [`ParallelProcessor::feed_reader`] where it cannot read into a
/// range (one thread, compressed input, the first bytes until the layout is decided).
const READ_CHUNK_BYTES: usize = 1 << 20;

/// The least bytes of a piece of the last range (see [`Pipeline::send_last`]), unless
/// the range size over the threads is less.
const LAST_PIECE_BYTES: usize = 64 << 10;

/// The first range's size: each range after it is twice the one before, up to the range
/// size ([`Parallelism::range_bytes`]). The workers start as soon as the input's first
/// bytes are read, instead of after a whole range each (read into memory the process has
/// not touched yet: on this project's test machine, page faults made that a few
/// milliseconds a range of 4 MiB while the workers waited).
const FIRST_RANGE_BYTES: usize = 256 << 10;

/// Bytes of the first range read at a time until its header is read (the workers of the
/// next ranges wait for it under a contract).
const HEADER_PIECE_BYTES: usize = 16 << 10;

/// How an input is cut and parsed in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Threads that parse: the calling thread, which also feeds and merges, and
    /// `threads − 1` workers. One parses on the calling thread alone, as [`Processor`] does.
    pub threads: NonZeroUsize,
    /// Bytes per range (the last one may be shorter). Memory grows with it: see
    /// [`Parallelism::buffered_bytes`].
    pub range_bytes: NonZeroUsize,
}

impl Parallelism {
    /// The default range size: 1 MiB, large enough that a range's fixed costs (a guess, a
    /// merge: about 50 µs of CPU on the bench rows) are noise, small enough that a few
    /// hundred MB keep every worker busy and that a range stays in the cache of the core that
    /// reads it and the one that parses it: the Graviton2 and Graviton3 cores the Fargate
    /// task and the Lambda function run on have 1 MB of L2 cache each (AWS Graviton Technical
    /// Guide). Under a contract a range in flight holds its typed rows too (about 1.6 times
    /// its text, in growing buffers): with 8 MiB, two threads converting on the Fargate
    /// route peaked over 256 MiB. Against 2 MiB (on this project's x86 test machine, 4 MiB of
    /// L2 a core; two threads, 15 interleaved runs each), 1 MiB converted the bench rows in
    /// 0.478 s instead of 0.486 (1.5 % less CPU, peak RSS 71 MiB instead of 83) and
    /// profiled them as fast; end to end on 1 GiB (`bench_ranged`, four alternating runs)
    /// it converted at 270–275 MB/s against 268–272, peaking at 139 MiB instead of 152.
    /// (Against 4 MiB, 2 MiB had taken 2–3 % less CPU.)
    pub const DEFAULT_RANGE_BYTES: NonZeroUsize = NonZeroUsize::new(1 << 20).unwrap();

    /// `threads` threads (at least one) with ranges of [`Self::DEFAULT_RANGE_BYTES`].
    pub fn with_threads(threads: usize) -> Parallelism {
        Parallelism {
            threads: NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN),
            range_bytes: Self::DEFAULT_RANGE_BYTES,
        }
    }

    /// As many threads as the process may run at once: on Linux,
    /// [`std::thread::available_parallelism`] takes the CPU affinity mask and the cgroup CPU
    /// quota (a container's CPU limit, as ECS and Lambda set it) into account, not only the
    /// host's CPU count. One when it cannot tell.
    pub fn available() -> Parallelism {
        Parallelism::with_threads(std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
    }

    /// The same threads, with ranges of `range_bytes` (at least one).
    #[must_use]
    pub fn with_range_bytes(self, range_bytes: usize) -> Parallelism {
        Parallelism {
            range_bytes: NonZeroUsize::new(range_bytes).unwrap_or(NonZeroUsize::MIN),
            ..self
        }
    }

    /// Ranges parsed or waiting to be merged at most: two per thread, so that a thread that
    /// finishes before the one ahead of it finds the next range ready.
    pub fn window(self) -> usize {
        self.threads.get().saturating_mul(2)
    }

    /// The decompressed text a [`ParallelProcessor`] holds at most: the window's ranges and
    /// the one being filled (the partial profiles come on top, bounded by the [`Config`]).
    /// A zstd object of several frames, on 4 threads or more, adds the frames handed out:
    /// one per thread and the one being fed, each at most 32 MiB decompressed, with its
    /// compressed bytes.
    pub fn buffered_bytes(self) -> usize {
        if self.threads.get() == 1 {
            return 0;
        }
        (self.window() + 1).saturating_mul(self.range_bytes.get())
    }
}

/// Profiles `input`, a whole object, as [`Processor`] does (fed it in any chunks), with
/// `parallelism` threads. The result, or the error, is the one the processor gives.
pub fn profile_parallel(
    input: &[u8],
    config: &Config,
    key: Option<&str>,
    parallelism: Parallelism,
) -> Result<Analysis, Error> {
    let mut processor = ParallelProcessor::new(config.clone(), key, parallelism);
    processor.feed(input)?;
    processor.finish()
}

/// The streaming parallel processor: [`Processor`]'s shape (feed chunks of any size, then
/// finish), its results byte for byte, with the parsing spread over threads: each
/// range's first record is guessed, the guesses are checked in order, and a range whose guess
/// was wrong is parsed again from its true start.
///
/// [`feed`](Self::feed) blocks while the window of ranges is full, until the oldest is
/// merged: memory stays bounded by [`Parallelism::buffered_bytes`], whatever the object's
/// size. Dropping it stops and joins its workers.
#[derive(Debug)]
pub struct ParallelProcessor {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// One thread: the plain processor.
    One(Box<Processor>),
    Parallel(Box<Streaming>),
}

impl ParallelProcessor {
    /// A processor for the object stored under `key` (its extension is a format hint only).
    pub fn new(config: Config, key: Option<&str>, parallelism: Parallelism) -> ParallelProcessor {
        let inner = if parallelism.threads.get() == 1 {
            Inner::One(Box::new(Processor::new(config, key)))
        } else {
            Inner::Parallel(Box::new(Streaming {
                hint: key.map(FormatHint::from_key).unwrap_or_default(),
                config: Arc::new(config),
                parallelism,
                bytes_in: 0,
                input_size: None,
                head: Some(Vec::with_capacity(Compression::MAGIC_LEN)),
                body: None,
                failed: false,
                conversion: None,
            }))
        };
        ParallelProcessor { inner }
    }

    /// A processor that also runs `conversion`, the contract stage, as
    /// [`Processor::with_conversion`] does: the same report, the same Parquet and rejects
    /// bytes, the same error. Each worker checks and types the records of its range into
    /// buffers; the merger moves them, in input order, into the Parquet file (its row groups
    /// cut where one thread cuts them, their column chunks encoded on `parallelism`'s threads)
    /// and writes the rejected records with their global record numbers, lines and offsets.
    pub fn with_conversion(
        mut config: Config,
        key: Option<&str>,
        conversion: Conversion,
        parallelism: Parallelism,
    ) -> ParallelProcessor {
        if parallelism.threads.get() == 1 {
            return ParallelProcessor {
                inner: Inner::One(Box::new(Processor::with_conversion(
                    config, key, conversion,
                ))),
            };
        }
        let format = conversion.contract().format;
        config.format = format.format.or(config.format);
        config.delimiter = format.delimiter.or(config.delimiter);
        config.header = format.header.or(config.header);
        let mut processor = ParallelProcessor::new(config, key, parallelism);
        if let Inner::Parallel(streaming) = &mut processor.inner {
            streaming.conversion = Some(Box::new(conversion));
        }
        processor
    }

    /// The processor, told the input's size (the object's stored bytes) in advance: plain
    /// text is then cut into smaller ranges towards its end, so that the workers finish
    /// together instead of one parsing the last whole range while the others wait. The
    /// results are the same with it or without it, and with a wrong size.
    #[must_use]
    pub fn with_input_size(mut self, bytes: u64) -> ParallelProcessor {
        if let Inner::Parallel(streaming) = &mut self.inner {
            streaming.input_size = Some(bytes);
        }
        self
    }

    /// Processes the next chunk of the input.
    ///
    /// After an error the input is abandoned: later calls fail with an internal error.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Error> {
        match &mut self.inner {
            Inner::One(processor) => processor.feed(chunk),
            Inner::Parallel(streaming) => streaming.feed(chunk),
        }
    }

    /// Reads `reader` to its end and processes what it reads, as [`feed`](Self::feed) does
    /// the chunks it is given (the same results, the same errors); then call
    /// [`finish`](Self::finish). A read error is [`ErrorKind::Read`].
    ///
    /// Plain text, once its layout is decided, is read straight into the range buffers, with
    /// no copy on the way: for a file, the only copy is the kernel's. Compressed text, the
    /// first bytes and one thread read through a buffer of 1 MiB, each read fed as a chunk.
    pub fn feed_reader(&mut self, mut reader: impl Read) -> Result<(), Error> {
        match &mut self.inner {
            Inner::One(processor) => {
                let mut buffer = vec![0; READ_CHUNK_BYTES];
                while let Some(read) = read_some(&mut reader, &mut buffer)? {
                    processor.feed(&buffer[..read])?;
                }
                Ok(())
            }
            Inner::Parallel(streaming) => streaming.feed_reader(&mut reader),
        }
    }

    /// Ends the input and returns what was learnt, or the error that makes it unusable.
    pub fn finish(self) -> Result<Analysis, Error> {
        match self.inner {
            Inner::One(processor) => processor.finish(),
            Inner::Parallel(streaming) => streaming.finish(),
        }
    }
}

fn used_after_error() -> Error {
    ErrorKind::Internal("processor used after an error".into()).into()
}

/// The parallel processor's state: [`Processor`]'s stages, with the text cut into ranges.
#[derive(Debug)]
struct Streaming {
    config: Arc<Config>,
    hint: FormatHint,
    parallelism: Parallelism,
    bytes_in: u64,
    /// The input's size, when told ([`ParallelProcessor::with_input_size`]).
    input_size: Option<u64>,
    /// The first bytes, until the compression is told.
    head: Option<Vec<u8>>,
    body: Option<Body>,
    failed: bool,
    /// The contract stage, handed to the text once it starts.
    conversion: Option<Box<Conversion>>,
}

#[derive(Debug)]
struct Body {
    compression: Compression,
    decoder: Decoder,
    text: Text,
    /// zstd on several threads: its frames, decompressed by any thread.
    frames: Option<ZstdFrames>,
}

impl Streaming {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if self.failed {
            return Err(used_after_error());
        }
        let result = self.feed_inner(chunk);
        self.failed = result.is_err();
        result
    }

    fn feed_reader(&mut self, reader: &mut impl Read) -> Result<(), Error> {
        if self.failed {
            return Err(used_after_error());
        }
        let result = self.feed_reader_inner(reader);
        self.failed = result.is_err();
        result
    }

    fn feed_reader_inner(&mut self, reader: &mut impl Read) -> Result<(), Error> {
        let mut buffer = Vec::new();
        loop {
            if let Some(Body {
                compression: Compression::None,
                text:
                    Text {
                        parsing: Some(parsing),
                        decoded,
                        ..
                    },
                ..
            }) = &mut self.body
            {
                // Plain text: the decoder would pass it through, and the text to the
                // pipeline; the reader fills the ranges itself.
                let read = parsing.pipeline.fill_from(reader)?;
                self.bytes_in += read as u64;
                *decoded += read as u64;
                if read == 0 {
                    return Ok(());
                }
                continue;
            }
            if buffer.is_empty() {
                buffer.resize(READ_CHUNK_BYTES, 0);
            }
            let Some(read) = read_some(reader, &mut buffer)? else {
                return Ok(());
            };
            self.feed_inner(&buffer[..read])?;
        }
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.bytes_in += chunk.len() as u64;
        if let Some(head) = &mut self.head {
            head.extend_from_slice(chunk);
            if head.len() >= Compression::MAGIC_LEN {
                let head = self.head.take().unwrap_or_default();
                self.start_body(&head)?;
            }
            return Ok(());
        }
        let Some(body) = &mut self.body else {
            return Err(ErrorKind::Internal("no body stage after the head".into()).into());
        };
        decode(body, chunk)
    }

    fn start_body(&mut self, head: &[u8]) -> Result<(), Error> {
        let compression = Compression::detect(head);
        let decoder = Decoder::new(compression)?;
        let text = Text {
            config: Arc::clone(&self.config),
            hint: self.hint,
            parallelism: self.parallelism,
            // Plain text ends where the input does.
            end: self.input_size.filter(|_| compression == Compression::None),
            decoded: 0,
            sniff: Vec::new(),
            parsing: None,
            conversion: self.conversion.take(),
        };
        let frames = (compression == Compression::Zstd
            && self.parallelism.threads.get() >= FRAME_THREADS)
            .then(ZstdFrames::default);
        let body = self.body.insert(Body {
            compression,
            decoder,
            text,
            frames,
        });
        decode(body, head)
    }

    fn finish(mut self) -> Result<Analysis, Error> {
        if self.failed {
            return Err(used_after_error());
        }
        if let Some(head) = self.head.take() {
            self.start_body(&head)?;
        }
        let Some(body) = self.body.take() else {
            return Err(ErrorKind::Internal("no body stage after the head".into()).into());
        };
        let Body {
            compression,
            mut decoder,
            mut text,
            frames,
        } = body;
        if let Some(mut frames) = frames {
            let result = frames.finish(&mut decoder, &mut text);
            merged_before_corruption(&mut text, result)?;
        }
        // The text fed so far first: one thread met its errors while it was fed.
        text.merge_all()?;
        decoder.finish()?;
        text.finish(compression, self.bytes_in)
    }
}

/// Decodes `chunk` into the text; on a corrupt stream, the text decoded before the
/// corruption is merged first, and its error, if any, is the one returned (one thread
/// parses that text before it reads on).
fn decode(body: &mut Body, chunk: &[u8]) -> Result<(), Error> {
    let Body {
        decoder,
        text,
        frames,
        ..
    } = body;
    let result = match frames {
        Some(frames) => frames.decode(chunk, decoder, text),
        None => decoder.decode(chunk, &mut |bytes| text.feed(bytes)),
    };
    merged_before_corruption(text, result)
}

/// `result`, once the text decoded before a corruption it reports is merged.
fn merged_before_corruption(text: &mut Text, result: Result<(), Error>) -> Result<(), Error> {
    match result {
        Err(error) if matches!(error.kind(), ErrorKind::CorruptCompression { .. }) => {
            text.merge_all()?;
            Err(error)
        }
        result => result,
    }
}

/// The frames of a zstd stream on their way: cut on the feeding thread, decompressed by
/// whichever thread comes first (see [`crate::zstd_frames`]), their output fed to the text in
/// input order.
#[derive(Debug, Default)]
struct ZstdFrames {
    cutter: FrameCutter,
    /// Frames handed out, oldest first: at most one for each thread.
    pending: VecDeque<Arc<FrameJob>>,
    /// Frames cut out whole so far, for any thread to decompress.
    cut: usize,
    /// The feeding thread's decoder for frames no worker took.
    decoder: FrameDecoder,
    /// The buffers of the frames fed, for the cutter to gather frames into again.
    returned: Vec<Vec<u8>>,
}

impl ZstdFrames {
    /// Cuts `chunk` into frames and hands them out; what is not a whole frame to hand out
    /// goes through `decoder`, after the frames before it.
    fn decode(
        &mut self,
        chunk: &[u8],
        decoder: &mut Decoder,
        text: &mut Text,
    ) -> Result<(), Error> {
        let ZstdFrames {
            cutter,
            pending,
            cut,
            decoder: frame_decoder,
            returned,
        } = self;
        let gather = text.jobs().is_some();
        cutter.cut(chunk, gather, &mut |piece| match piece {
            Piece::Frame(frame) => {
                decoder.skip_frame(frame.bytes.len());
                let piece_bytes = text.parallelism.range_bytes.get();
                let job = Arc::new(FrameJob::new(frame, piece_bytes, text.range_buffers()));
                *cut += 1;
                // Queued only while a worker waits for work: while the workers have ranges to
                // parse, the feeding thread decompresses the frame itself when its turn comes
                // (streaming: cheaper than a worker's output that it would feed from memory).
                if let Some(jobs) = text.jobs().filter(|jobs| jobs.idle() > 0) {
                    jobs.push_frame(Arc::clone(&job));
                }
                pending.push_back(job);
                while pending.len() > text.parallelism.threads.get() {
                    Self::feed_oldest(pending, frame_decoder, returned, text)?;
                }
                Ok(())
            }
            // No output: nothing to wait for.
            Piece::Skippable(bytes) => decoder.decode(&bytes, &mut |out| text.feed(out)),
            Piece::Stream(bytes) => {
                while !pending.is_empty() {
                    Self::feed_oldest(pending, frame_decoder, returned, text)?;
                }
                decoder.decode(&bytes, &mut |out| text.feed(out))
            }
        })?;
        for bytes in returned.drain(..) {
            cutter.recycle(bytes);
        }
        Ok(())
    }

    /// Feeds the text every frame handed out, then the bytes of a frame the input ended
    /// inside (to `decoder`, which reports it truncated at its finish).
    fn finish(&mut self, decoder: &mut Decoder, text: &mut Text) -> Result<(), Error> {
        while !self.pending.is_empty() {
            Self::feed_oldest(
                &mut self.pending,
                &mut self.decoder,
                &mut self.returned,
                text,
            )?;
        }
        match self.cutter.finish() {
            Some(bytes) => decoder.decode(&bytes, &mut |out| text.feed(out)),
            None => Ok(()),
        }
    }

    /// Feeds the text the oldest frame's output, then returns its error, if any: the
    /// feeding thread decompresses it, streaming, if no worker has started it (the workers
    /// had ranges to parse: the frames go behind them in the queue); while a worker
    /// decompresses it, the feeding thread parses ranges no worker has taken, or
    /// decompresses the next frames.
    fn feed_oldest(
        pending: &mut VecDeque<Arc<FrameJob>>,
        decoder: &mut FrameDecoder,
        returned: &mut Vec<Vec<u8>>,
        text: &mut Text,
    ) -> Result<(), Error> {
        let Some(job) = pending.pop_front() else {
            return Ok(());
        };
        // Waiting for a worker: a range no worker has taken, else a later frame.
        let mut help = || text.parse_waiting() || pending.iter().any(|next| next.run(decoder));
        let (frame, result) = match job.take(&mut help) {
            Taken::Frame(frame) => {
                let result = frame.decode(decoder, &mut |out| text.feed(out));
                (Some(frame), result)
            }
            Taken::Decoded(pieces, result, frame) => {
                for piece in pieces {
                    text.feed_range(piece)?;
                }
                (frame, result)
            }
        };
        returned.extend(frame.map(|frame| frame.bytes));
        result
    }
}

/// The decompressed text: sniffed, then cut into ranges.
#[derive(Debug)]
struct Text {
    config: Arc<Config>,
    hint: FormatHint,
    parallelism: Parallelism,
    /// Where the text is expected to end, when known: its ranges shrink towards it.
    end: Option<u64>,
    decoded: u64,
    /// The first bytes, kept until the layout is decided.
    sniff: Vec<u8>,
    /// Set once the layout is decided.
    parsing: Option<Parsing>,
    /// The contract stage, handed to the pipeline once the layout is decided.
    conversion: Option<Box<Conversion>>,
}

/// The decided text: its layout, and the pipeline of its format.
#[derive(Debug)]
struct Parsing {
    layout: Layout,
    bom: bool,
    pipeline: FormatPipeline,
}

#[derive(Debug)]
enum FormatPipeline {
    Delimited(Pipeline<Delimited>),
    JsonLines(Pipeline<JsonLines>),
}

impl Text {
    fn feed(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.decoded += bytes.len() as u64;
        match &mut self.parsing {
            Some(parsing) => parsing.pipeline.feed(bytes),
            None => {
                self.sniff.extend_from_slice(bytes);
                // Enough for a full sample after a byte-order mark, if there is one.
                if self.sniff.len() >= self.config.sniff_bytes.max(1) + BOM.len() {
                    self.decide(false)?;
                }
                Ok(())
            }
        }
    }

    /// [`Text::feed`] with bytes that may become a range as they are, with no copy.
    fn feed_range(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        match &mut self.parsing {
            Some(parsing) => {
                self.decoded += bytes.len() as u64;
                parsing.pipeline.feed_range(bytes)
            }
            None => self.feed(&bytes),
        }
    }

    /// Decides the layout on the sample, exactly as [`Processor`] does, and starts the
    /// pipeline with the bytes kept so far.
    fn decide(&mut self, at_end: bool) -> Result<(), Error> {
        let sniff = std::mem::take(&mut self.sniff);
        let config = &self.config;
        let bom = sniff.starts_with(BOM);
        let body = if bom { &sniff[BOM.len()..] } else { &sniff[..] };
        let sample = &body[..body.len().min(config.sniff_bytes.max(1))];
        let base = if bom { BOM.len() as u64 } else { 0 };
        let layout = detect(
            sample,
            at_end && sample.len() == body.len(),
            base,
            self.hint,
            config,
        )?;
        let mut conversion = self.conversion.take();
        let header = layout.header.unwrap_or(false);
        let mut pipeline = match (layout.format, layout.delimiter) {
            (Format::Csv, Some(delimiter)) => FormatPipeline::Delimited(
                Pipeline::new(
                    Delimited {
                        delimiter,
                        header,
                        config: Arc::clone(config),
                        contract: conversion.as_deref_mut().map(|conversion| {
                            conversion.set_delimiter(delimiter);
                            ContractRanges::new(conversion.template(), header)
                        }),
                    },
                    self.parallelism,
                    base,
                )
                .ending_at(self.end)
                .with_conversion(conversion),
            ),
            (Format::Csv, None) => {
                return Err(
                    ErrorKind::Internal("delimited layout without delimiter".into()).into(),
                );
            }
            (Format::JsonLines, _) => FormatPipeline::JsonLines(
                Pipeline::new(
                    JsonLines {
                        config: Arc::clone(config),
                        contract: conversion.as_deref_mut().map(|conversion| {
                            conversion.bind_json();
                            ContractRanges::new(conversion.template(), false)
                        }),
                    },
                    self.parallelism,
                    base,
                )
                .ending_at(self.end)
                .with_conversion(conversion),
            ),
        };
        pipeline.feed(body)?;
        self.parsing = Some(Parsing {
            layout,
            bom,
            pipeline,
        });
        Ok(())
    }

    /// Parses and merges every range fed so far (the last one possibly short).
    fn merge_all(&mut self) -> Result<(), Error> {
        match &mut self.parsing {
            Some(parsing) => parsing.pipeline.merge_all(),
            None => Ok(()),
        }
    }

    /// The workers' queue, once the pipeline has a worker.
    fn jobs(&self) -> Option<&JobQueue> {
        self.parsing.as_ref()?.pipeline.jobs()
    }

    /// The pipeline's range buffers done with, once it parses.
    fn range_buffers(&self) -> Option<Arc<RangeBuffers>> {
        Some(Arc::clone(self.parsing.as_ref()?.pipeline.range_buffers()))
    }

    /// Parses a range no worker has taken yet, if there is one (see
    /// [`Pipeline::parse_waiting`]).
    fn parse_waiting(&mut self) -> bool {
        self.parsing
            .as_mut()
            .is_some_and(|parsing| parsing.pipeline.parse_waiting())
    }

    fn finish(mut self, compression: Compression, bytes_in: u64) -> Result<Analysis, Error> {
        if self.parsing.is_none() {
            self.decide(true)?;
        }
        let Some(Parsing {
            layout,
            bom,
            pipeline,
        }) = self.parsing
        else {
            return Err(ErrorKind::Internal("no parser after deciding".into()).into());
        };
        let merged = match pipeline {
            FormatPipeline::Delimited(pipeline) => pipeline.finish()?,
            FormatPipeline::JsonLines(pipeline) => pipeline.finish()?,
        };
        let contract = match merged.conversion {
            Some(conversion) => Some(conversion.finish_outcome()?),
            None => None,
        };
        Ok(Analysis {
            compression,
            layout,
            bom,
            bytes_in,
            bytes_decoded: self.decoded,
            records: RecordCounts {
                total: merged.total,
                valid: merged.valid,
                malformed: merged.malformed.count(),
            },
            columns: merged.columns.summaries(merged.valid),
            columns_not_profiled: merged.columns.not_profiled(),
            malformed: merged.malformed.examples().to_vec(),
            contract,
            stages: Vec::new(),
        })
    }
}

impl FormatPipeline {
    fn feed(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match self {
            FormatPipeline::Delimited(pipeline) => pipeline.feed(bytes),
            FormatPipeline::JsonLines(pipeline) => pipeline.feed(bytes),
        }
    }

    fn fill_from(&mut self, reader: &mut impl Read) -> Result<usize, Error> {
        match self {
            FormatPipeline::Delimited(pipeline) => pipeline.fill_from(reader),
            FormatPipeline::JsonLines(pipeline) => pipeline.fill_from(reader),
        }
    }

    fn feed_range(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        match self {
            FormatPipeline::Delimited(pipeline) => pipeline.feed_range(bytes),
            FormatPipeline::JsonLines(pipeline) => pipeline.feed_range(bytes),
        }
    }

    fn jobs(&self) -> Option<&JobQueue> {
        match self {
            FormatPipeline::Delimited(pipeline) => pipeline.jobs(),
            FormatPipeline::JsonLines(pipeline) => pipeline.jobs(),
        }
    }

    fn range_buffers(&self) -> &Arc<RangeBuffers> {
        match self {
            FormatPipeline::Delimited(pipeline) => pipeline.range_buffers(),
            FormatPipeline::JsonLines(pipeline) => pipeline.range_buffers(),
        }
    }

    fn parse_waiting(&mut self) -> bool {
        match self {
            FormatPipeline::Delimited(pipeline) => pipeline.parse_waiting(),
            FormatPipeline::JsonLines(pipeline) => pipeline.parse_waiting(),
        }
    }

    fn merge_all(&mut self) -> Result<(), Error> {
        match self {
            FormatPipeline::Delimited(pipeline) => pipeline.merge_all(),
            FormatPipeline::JsonLines(pipeline) => pipeline.merge_all(),
        }
    }
}

/// One range of the decompressed text.
#[derive(Debug)]
struct Range {
    /// Offset of its first byte in the decompressed text.
    start: u64,
    /// The byte before it (`None` for the first range).
    before: Option<u8>,
    bytes: Vec<u8>,
}

/// What the merger holds at the end: one thread's profile.
struct Merged {
    columns: Columns,
    malformed: MalformedLog,
    total: u64,
    valid: u64,
    /// The contract stage, with every record taken.
    conversion: Option<Box<Conversion>>,
}

/// A format's parallel parsing: what a worker makes of a range and how the merger takes it.
trait RangeFormat: Send + Sync + 'static {
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
struct FirstFailed<S> {
    error: Error,
    state: Option<S>,
}

impl<S> From<Error> for FirstFailed<S> {
    fn from(error: Error) -> FirstFailed<S> {
        FirstFailed { error, state: None }
    }
}

/// Moves the records the merger's contract stage (`stages`) met while parsing to
/// `conversion`, then gives `parsed`, that parse's result. Taken even when the parse failed:
/// one thread writes each record's outputs as it meets the record, so a failure to write
/// them is met before an error further on (a record past the malformed limit, say).
fn taken_after(
    parsed: Result<(), Error>,
    stages: &mut StageList,
    conversion: Option<&mut Conversion>,
) -> Result<(), Error> {
    take_recorded(stages, conversion, 0, 0)?;
    parsed
}

/// The contract stage of parallel parsing: the workers' recording conversions are made from
/// a template of the file's one, bound to the file's columns.
struct ContractRanges {
    /// The template before any record: the first range's recorder binds itself.
    start: ConversionTemplate,
    /// The template once bound, which the workers of later ranges wait for (delimited text
    /// with a header: the first range reads the header); `None` when the first range could
    /// not tell (an error, or a header longer than the range): its workers give up, and the
    /// merger parses their ranges.
    bound: Mutex<Bound>,
    ready: Condvar,
    /// Recorders of merged ranges, emptied, for later ranges: their column buffers keep
    /// their capacity, so a range does not fault in fresh memory for its rows.
    spare: Mutex<Vec<Conversion>>,
}

/// What the workers know of the binding.
enum Bound {
    /// The first range has not read the header yet.
    Pending,
    Known(Box<ConversionTemplate>),
    /// The first range could not tell.
    Unknown,
}

/// How long a worker waits for the binding between two looks at the stop flag.
const BINDING_WAIT: Duration = Duration::from_millis(20);

impl ContractRanges {
    fn new(template: ConversionTemplate, header: bool) -> ContractRanges {
        let bound = if header {
            Bound::Pending
        } else {
            Bound::Known(Box::new(template.clone()))
        };
        ContractRanges {
            start: template,
            bound: Mutex::new(bound),
            ready: Condvar::new(),
            spare: Mutex::new(Vec::new()),
        }
    }

    /// Tells the waiting workers the binding (first call only).
    fn publish(&self, template: Option<ConversionTemplate>) {
        let mut bound = self.bound.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*bound, Bound::Pending) {
            *bound = template.map_or(Bound::Unknown, |template| Bound::Known(Box::new(template)));
            self.ready.notify_all();
        }
    }

    /// A recording conversion bound to the file's columns, waiting for the binding;
    /// `None` when there is none or the merger stopped.
    fn recorder(&self, stop: &AtomicBool) -> Option<Box<Conversion>> {
        let mut bound = self.bound.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match &*bound {
                Bound::Known(template) => {
                    let spare = self
                        .spare
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pop();
                    return spare.or_else(|| template.recorder(0).ok()).map(Box::new);
                }
                Bound::Unknown => return None,
                Bound::Pending => {}
            }
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            bound = self
                .ready
                .wait_timeout(bound, BINDING_WAIT)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Keeps the recorder in `stages`, whose records the merger took, for a later range.
    fn recycle(&self, stages: &mut StageList) {
        if let Some(mut recorder) = std::mem::take(stages).into_conversion()
            && recorder.restart_recording()
        {
            let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
            spare.push(*recorder);
        }
    }
}

/// Publishes "no binding" when dropped before the binding was published (an error or a
/// panic in the first range), so that no worker waits for it forever.
struct PublishOnDrop<'a>(Option<&'a ContractRanges>);

impl Drop for PublishOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(contract) = self.0 {
            contract.publish(None);
        }
    }
}

/// A stage list holding only `recorder`.
fn recorder_stages(recorder: Box<Conversion>) -> StageList {
    let mut stages = StageList::default();
    stages.push(CONTRACT_STAGE.to_owned(), recorder);
    stages
}

/// Moves the records of the recorder in `stages` to `conversion`, with records and lines
/// moved on by the shifts.
fn take_recorded(
    stages: &mut StageList,
    conversion: Option<&mut Conversion>,
    record_shift: u64,
    line_shift: u64,
) -> Result<(), Error> {
    match (conversion, stages.conversion_mut()) {
        (Some(conversion), Some(recorder)) => {
            conversion.take_recorded(recorder, record_shift, line_shift)
        }
        (None, None) => Ok(()),
        _ => Err(ErrorKind::Internal("a contract stage without its recorder".into()).into()),
    }
}

/// Whether the rejected records of the recorder in `stages` keep `conversion` within the
/// contract's `max_count` (otherwise the merger parses the range itself, to fail where one
/// thread fails).
fn rejects_fit(stages: &mut StageList, conversion: Option<&Conversion>) -> bool {
    match (conversion, stages.conversion_mut()) {
        (Some(conversion), Some(recorder)) => conversion.rejects_fit(recorder.rejected_count()),
        _ => true,
    }
}

/// Range buffers done with, to fill again: the ranges the feeding thread fills, and the
/// pieces the threads decompressing zstd frames fill (which become ranges as they are). A
/// new buffer would be faulted in, page by page, as it is filled.
#[derive(Debug)]
pub(crate) struct RangeBuffers {
    kept: Mutex<Vec<Vec<u8>>>,
    /// The most buffers kept: as many as the window holds, and two: a buffer is in use
    /// while the window is full, so this keeps no more memory than its peak.
    keep: usize,
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
enum Done<F: RangeFormat> {
    First(Result<F::State, FirstFailed<F::State>>),
    Partial(Option<F::Partial>),
}

type Outcome<F> = (usize, Done<F>);

/// Work for the pipeline's threads.
enum Job {
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
struct JobQueue {
    queued: Mutex<Queued>,
    /// Signalled for each job, and when the queue closes.
    ready: Condvar,
}

#[derive(Default)]
struct Queued {
    jobs: VecDeque<Job>,
    /// Workers started.
    workers: usize,
    /// Workers waiting for a job.
    idle: usize,
    /// No more jobs: the workers return.
    closed: bool,
}

impl JobQueue {
    fn queued(&self) -> MutexGuard<'_, Queued> {
        self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues range `index` behind the others; false once the queue is closed.
    fn push(&self, index: usize, range: Arc<Range>) -> bool {
        let mut queued = self.queued();
        if queued.closed {
            return false;
        }
        queued.jobs.push_back(Job::Parse(index, range));
        self.ready.notify_one();
        true
    }

    /// A worker's next job, waiting for one; `None` once the queue is closed.
    fn next(&self) -> Option<Job> {
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
    fn idle(&self) -> usize {
        self.queued().idle
    }

    /// Queues a zstd frame behind the others.
    fn push_frame(&self, frame: Arc<FrameJob>) {
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
    fn take_waiting(&self) -> Option<(usize, Arc<Range>)> {
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

    fn add_worker(&self) {
        self.queued().workers += 1;
    }

    /// Closes the queue: the workers return once done with their jobs.
    fn close(&self) {
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
struct Pipeline<F: RangeFormat> {
    format: Arc<F>,
    parallelism: Parallelism,
    /// The range being filled, and its start.
    filling: Vec<u8>,
    filling_start: u64,
    /// Where the text is expected to end, when known.
    end: Option<u64>,
    /// The last byte of the last range sent.
    before: Option<u8>,
    /// Ranges sent and not merged yet, oldest first.
    in_flight: VecDeque<Arc<Range>>,
    /// Ranges sent so far; the next to merge is `sent - in_flight.len()`.
    sent: usize,
    /// Results that came before the ones ahead of them.
    arrived: BTreeMap<usize, Done<F>>,
    state: Option<F::State>,
    jobs: Arc<JobQueue>,
    /// Kept until every worker is started, for the next one.
    results_in: Option<mpsc::Sender<Outcome<F>>>,
    results: mpsc::Receiver<Outcome<F>>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// Range buffers the workers are done with, to fill again (shared with the threads
    /// decompressing zstd frames into pieces).
    spare: Arc<RangeBuffers>,
    /// Ranges after the first whose partial could not be taken: parsed by the merger.
    reparsed: usize,
    /// The contract stage, which takes the records of every range in order.
    conversion: Option<Box<Conversion>>,
    /// Ranges the merger parsed itself, in place of a worker ([`Pipeline::merge_next`]).
    merger_parsed: usize,
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
    fn ending_at(mut self, end: Option<u64>) -> Pipeline<F> {
        self.end = end;
        self
    }

    fn new(format: F, parallelism: Parallelism, base: u64) -> Pipeline<F> {
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

    /// The pipeline with the contract stage (the format's [`ContractRanges`] made from it),
    /// which shares the encoding of its Parquet row groups with the workers.
    fn with_conversion(mut self, mut conversion: Option<Box<Conversion>>) -> Pipeline<F> {
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
    fn range_bytes(&self) -> usize {
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
    fn start_filling(&mut self) {
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
    fn fill_from(&mut self, reader: &mut impl Read) -> Result<usize, Error> {
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

    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Error> {
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
    fn feed_range(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
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
    fn send(&mut self) -> Result<(), Error> {
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
    fn send_last(&mut self) -> Result<(), Error> {
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
    fn start_worker(&mut self) {
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
    fn merge_next(&mut self) -> Result<(), Error> {
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
    fn jobs(&self) -> Option<&JobQueue> {
        (!self.workers.is_empty()).then_some(&*self.jobs)
    }

    /// The range buffers done with, for pieces of zstd frames to be decompressed into.
    fn range_buffers(&self) -> &Arc<RangeBuffers> {
        &self.spare
    }

    /// Parses the oldest range no worker has taken yet, as a worker would, if there is
    /// more than the waiting workers are about to take: false when there is none.
    fn parse_waiting(&mut self) -> bool {
        let Some((at, range)) = self.jobs.take_waiting() else {
            return false;
        };
        let done = parse(&*self.format, at, &range, &self.stop);
        self.arrived.insert(at, done);
        self.merger_parsed += 1;
        true
    }

    /// Sends the range being filled, even short, and merges every range.
    fn merge_all(&mut self) -> Result<(), Error> {
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
    fn finish(mut self) -> Result<Merged, Error> {
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
fn work<F: RangeFormat>(
    format: &F,
    queue: &JobQueue,
    results: &mpsc::Sender<Outcome<F>>,
    stop: &AtomicBool,
) {
    yield_to_the_feeding_thread();
    let mut encoder = None;
    let mut frame_decoder = None;
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
fn parse<F: RangeFormat>(format: &F, index: usize, range: &Range, stop: &AtomicBool) -> Done<F> {
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
const WORKER_NICENESS: i32 = 5;

/// Lowers the calling worker's scheduling priority by [`WORKER_NICENESS`], so that when the
/// threads outnumber the CPUs, the feeding thread (which reads, decompresses and merges,
/// one range at a time, for all of them) runs first, and the workers take the time it
/// leaves. On Linux the nice value is a thread's own (setpriority(2), "Linux/NPTL"), and
/// raising it needs no privilege. Elsewhere, or if the call fails, nothing changes.
fn yield_to_the_feeding_thread() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let thread = Some(rustix::thread::gettid());
        if let Ok(nice) = getpriority_process(thread) {
            let _ = setpriority_process(thread, nice.saturating_add(WORKER_NICENESS).min(19));
        }
    }
}

/// Feeds `bytes` to `feed` in pieces, giving up (`None`) once `stop` is raised.
fn feed_until_stopped(
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
struct Delimited {
    delimiter: u8,
    /// The first record is a header.
    header: bool,
    config: Arc<Config>,
    /// The contract stage, when there is one.
    contract: Option<ContractRanges>,
}

/// The merger's state for delimited text: one thread's row profiler and tokenizer.
struct DelimitedState {
    rows: RowProfiler,
    tokenizer: Box<Tokenizer>,
}

/// A range of delimited text, parsed from a guessed row start: its rows numbered from 1 and
/// with lines from 1 at the guess, and the tokenizer at the range's end.
struct DelimitedPartial {
    /// The guessed start, in the range.
    guess: usize,
    rows: RowProfiler,
    tokenizer: Box<Tokenizer>,
}

impl Delimited {
    fn tokenizer(&self, start: u64) -> Box<Tokenizer> {
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
fn guess_record_start(range: &Range) -> Option<usize> {
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
struct JsonLines {
    config: Arc<Config>,
    /// The contract stage, when there is one.
    contract: Option<ContractRanges>,
}

/// The whole lines of a range, profiled with records and lines counted from 1 at their
/// start.
struct JsonLinesPartial {
    /// Where the first line starts and the last one ends (after its `\n`), in the range.
    start: usize,
    end: usize,
    lines: JsonLinesProfiler,
    line_breaks: u64,
}

impl JsonLines {
    fn profiler(&self, malformed: MalformedLog, start: u64) -> JsonLinesProfiler {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_buffers_keep_a_bounded_number_of_emptied_buffers_with_room() {
        let buffers = RangeBuffers::new(2);
        buffers.give(Vec::new());
        assert!(buffers.take().is_none(), "a buffer of no room is not kept");
        for _ in 0..3 {
            buffers.give(vec![7; 10]);
        }
        let kept: Vec<Vec<u8>> = std::iter::from_fn(|| buffers.take()).collect();
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|b| b.is_empty() && b.capacity() == 10));
    }

    fn parallelism(threads: usize, range_bytes: usize) -> Parallelism {
        Parallelism::with_threads(threads).with_range_bytes(range_bytes)
    }

    /// Runs a pipeline over `text` and returns the ranges the merger parsed itself.
    fn reparsed<F: RangeFormat>(format: F, text: &[u8], range_bytes: usize) -> (usize, usize) {
        let mut pipeline = Pipeline::new(format, parallelism(2, range_bytes), 0);
        pipeline.feed(text).unwrap();
        pipeline.merge_all().unwrap();
        (pipeline.reparsed, pipeline.sent)
    }

    /// Comma-separated text with a header, no contract.
    fn delimited() -> Delimited {
        Delimited {
            delimiter: b',',
            header: true,
            config: Arc::new(Config::default()),
            contract: None,
        }
    }

    fn csv(rows: usize, quoted_break_every: usize) -> Vec<u8> {
        let mut text = b"id,name\n".to_vec();
        for i in 0..rows {
            if i % quoted_break_every == 0 {
                text.extend_from_slice(format!("{i},\"a\nb\"\n").as_bytes());
            } else {
                text.extend_from_slice(format!("{i},plain\n").as_bytes());
            }
        }
        text
    }

    #[test]
    fn right_guesses_are_taken_and_wrong_ones_reparsed() {
        // No quoted line break: every guess is right.
        assert_eq!(reparsed(delimited(), &csv(5_000, usize::MAX), 4_096).0, 0);
        // A few: most guesses are still right.
        let (wrong, ranges) = reparsed(delimited(), &csv(5_000, 50), 4_096);
        assert!(wrong * 4 < ranges, "{wrong} of {ranges}");
        // JSON Lines never guesses.
        let mut lines = Vec::new();
        for i in 0..5_000 {
            lines.extend_from_slice(format!("{{\"i\":{i}}}\n").as_bytes());
        }
        let json_lines = JsonLines {
            config: Arc::new(Config::default()),
            contract: None,
        };
        assert_eq!(reparsed(json_lines, &lines, 4_096).0, 0);
    }

    #[test]
    fn the_merger_is_one_of_the_threads_that_parse() {
        // Hundreds of small ranges fed at once: the window fills, and the merger parses
        // the ranges waiting for a worker.
        let text = csv(20_000, 7);
        for threads in [1, 2, 3] {
            let mut pipeline = csv_pipeline(parallelism(threads, 1_024));
            pipeline.feed(&text).unwrap();
            pipeline.merge_all().unwrap();
            assert_eq!(pipeline.workers.len(), threads - 1);
            if threads == 1 {
                assert_eq!(pipeline.merger_parsed, pipeline.sent);
            } else {
                assert!(pipeline.merger_parsed > 0, "{threads} threads");
            }
            let merged = pipeline.finish().unwrap();
            assert_eq!((merged.total, merged.valid), (20_000, 20_000));
        }
    }

    #[test]
    fn a_row_group_to_encode_goes_ahead_of_the_ranges() {
        use crate::contract::{ColumnSpec, ColumnType, Constraints, Value};
        use crate::parquet_output::{ParquetOptions, ParquetWriter};
        let jobs = Arc::new(JobQueue::default());
        jobs.add_worker();
        let range = |start| {
            Arc::new(Range {
                start,
                before: None,
                bytes: b"1,2\n".to_vec(),
            })
        };
        assert!(jobs.push(0, range(0)));
        let columns = ["a", "b"].map(|name| ColumnSpec {
            name: name.into(),
            column_type: ColumnType::Int64,
            nullable: false,
            constraints: Constraints::default(),
        });
        let options = ParquetOptions {
            max_row_group_rows: 1,
            ..ParquetOptions::default()
        };
        let mut writer = ParquetWriter::new(&columns, Vec::new(), options).unwrap();
        writer.encode_with(Arc::clone(&jobs) as Arc<dyn EncodeHelpers>);
        let row = [Some(Value::Int64(1)), Some(Value::Int64(2))];
        // A full row group: offered to the one worker (and encoded by the writer's thread,
        // as no worker runs here).
        writer.push(&row).unwrap();
        assert!(matches!(jobs.next(), Some(Job::Encode(_))));
        assert!(matches!(jobs.next(), Some(Job::Parse(0, _))));
        // The merger takes the ranges only, dropping row groups left queued.
        assert!(jobs.push(1, range(4)));
        writer.push(&row).unwrap();
        assert!(matches!(jobs.take_waiting(), Some((1, _))));
        assert!(jobs.take_waiting().is_none());
        // Once closed: no job in, none out, and the writer encodes alone.
        jobs.close();
        assert!(!jobs.push(2, range(8)));
        writer.push(&row).unwrap();
        assert!(jobs.next().is_none());
        assert_eq!(writer.finish().unwrap().1.row_groups, 3);
    }

    #[test]
    fn the_last_range_is_shared_by_the_workers() {
        let text = csv(5_000, usize::MAX);
        assert!((40_000..65_536).contains(&text.len()), "{}", text.len());
        // Shorter than a range: one piece per worker, each guessed right.
        assert_eq!(reparsed(delimited(), &text, 65_536), (0, 2));
        // Pieces are never shorter than the range size over the threads: a short text
        // stays whole.
        assert_eq!(reparsed(delimited(), &text[..1_000], 65_536), (0, 1));
        // The full ranges, then the short last one: in two when longer than half a range.
        for range in [4_096, 3_000, 1_000] {
            let (full, last) = (text.len() / range, text.len() % range);
            let pieces = if last > range / 2 { 2 } else { 1 };
            assert_eq!(
                reparsed(delimited(), &text, range).1,
                full + pieces,
                "{range}"
            );
        }
    }

    #[test]
    fn a_zstd_stream_is_cut_into_frames_for_any_thread() {
        let text = csv(20_000, 7);
        // As `pzstd` writes: each frame behind a skippable frame that holds its size.
        let mut stream = Vec::new();
        let parts = text.chunks(10_000);
        let frames = parts.len();
        for part in parts {
            let frame = zstd::encode_all(part, 1).unwrap();
            stream.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]);
            stream.extend_from_slice(&u32::try_from(frame.len()).unwrap().to_le_bytes());
            stream.extend(frame);
        }
        let config = Config::default();
        let mut one = Processor::new(config.clone(), Some("x.csv.zst"));
        one.feed(&stream).unwrap();
        let expected = one.finish().unwrap();
        for threads in [FRAME_THREADS, 8] {
            let mut processor = ParallelProcessor::new(
                config.clone(),
                Some("x.csv.zst"),
                parallelism(threads, 4096),
            );
            for chunk in stream.chunks(5_000) {
                processor.feed(chunk).unwrap();
            }
            let Inner::Parallel(streaming) = &processor.inner else {
                panic!("{threads} threads on one");
            };
            let frames_cut = streaming
                .body
                .as_ref()
                .and_then(|body| body.frames.as_ref());
            // All but the frames decoded to sniff the text (64 KiB: the first 7) and those in
            // the chunk being fed when the first worker started. (Which threads decompress
            // them depends on the timing.)
            let cut = frames_cut.map_or(0, |frames| frames.cut);
            assert!(
                cut + 9 >= frames,
                "{threads} threads: {cut} of {frames} cut out"
            );
            assert_eq!(processor.finish().unwrap(), expected, "{threads} threads");
        }
    }

    /// A pipeline of comma-separated text with a header, profiled only.
    fn csv_pipeline(parallelism: Parallelism) -> Pipeline<Delimited> {
        Pipeline::new(delimited(), parallelism, 0)
    }

    /// Feeds `text` to `pipeline` and returns the size of each range it sent.
    fn sent_sizes(pipeline: &mut Pipeline<Delimited>, text: &[u8]) -> Vec<usize> {
        let mut sizes = Vec::new();
        for chunk in text.chunks(4_096) {
            pipeline.feed(chunk).unwrap();
            if pipeline.sent > sizes.len() {
                sizes.extend(pipeline.in_flight.back().map(|range| range.bytes.len()));
            }
        }
        sizes
    }

    #[test]
    fn memory_is_bounded_by_the_window() {
        let parallelism = parallelism(3, 1 << 20);
        assert_eq!(parallelism.window(), 6);
        assert_eq!(parallelism.buffered_bytes(), 7 << 20);
        assert_eq!(Parallelism::with_threads(1).buffered_bytes(), 0);
        // The window is never passed while feeding.
        let mut pipeline = csv_pipeline(Parallelism::with_threads(2).with_range_bytes(1_000));
        for chunk in csv(20_000, 7).chunks(333) {
            pipeline.feed(chunk).unwrap();
            assert!(pipeline.in_flight.len() <= 4);
            assert!(pipeline.filling.len() < 1_000);
        }
        pipeline.finish().unwrap();
    }

    #[test]
    fn pieces_fed_as_ranges_are_sent_as_they_are() {
        let text = csv(20_000, 7);
        let mut pipeline = csv_pipeline(parallelism(2, 4_096));
        // The first ranges, copied in.
        pipeline.feed(&text[..10_000]).unwrap();
        let sent = pipeline.sent;
        assert!(sent > 0 && !pipeline.filling.is_empty());
        // A whole range: the short one being filled goes first, then the piece itself.
        let piece = text[10_000..14_096].to_vec();
        let piece_at = piece.as_ptr();
        pipeline.feed_range(piece).unwrap();
        assert_eq!(pipeline.sent, sent + 2);
        let last = pipeline.in_flight.back().unwrap();
        assert_eq!((last.bytes.as_ptr(), last.bytes.len()), (piece_at, 4_096));
        // A shorter one is filled on.
        pipeline.feed_range(text[14_096..15_000].to_vec()).unwrap();
        assert_eq!(pipeline.sent, sent + 2);
        pipeline.feed(&text[15_000..]).unwrap();
        let merged = pipeline.finish().unwrap();
        assert_eq!(merged.total, 20_000);
        assert_eq!(merged.malformed.count(), 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_worker_runs_at_a_lower_priority_than_the_thread_that_feeds_it() {
        use rustix::process::getpriority_process;
        let feeding = getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let worker = std::thread::spawn(|| {
            yield_to_the_feeding_thread();
            getpriority_process(Some(rustix::thread::gettid())).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(worker, (feeding + WORKER_NICENESS).min(19));
        // The feeding thread keeps its own.
        assert_eq!(
            getpriority_process(Some(rustix::thread::gettid())).unwrap(),
            feeding
        );
    }

    #[test]
    fn the_first_ranges_grow_to_the_range_size() {
        let text = csv(400_000, 7);
        let range_bytes = 4 * FIRST_RANGE_BYTES + 1;
        assert!(text.len() > 3 * range_bytes, "{}", text.len());
        let mut pipeline = csv_pipeline(Parallelism::with_threads(8).with_range_bytes(range_bytes));
        let sizes = sent_sizes(&mut pipeline, &text);
        let first = FIRST_RANGE_BYTES;
        assert_eq!(
            sizes[..5],
            [first, 2 * first, 4 * first, range_bytes, range_bytes]
        );
        pipeline.finish().unwrap();
    }

    #[test]
    fn the_last_ranges_shrink_towards_the_expected_end() {
        let text = csv(400_000, 7);
        let threads = 2;
        let range_bytes = 1 << 20;
        let mut pipeline =
            csv_pipeline(Parallelism::with_threads(threads).with_range_bytes(range_bytes))
                .ending_at(Some(text.len() as u64));
        let sizes = sent_sizes(&mut pipeline, &text);
        pipeline.finish().unwrap();
        // Full ranges while more than a range per share is left, then a share of what is
        // left, down to the smallest piece.
        let full = sizes.iter().position(|&size| size == range_bytes).unwrap();
        let last_full = sizes.iter().rposition(|&size| size == range_bytes).unwrap();
        assert!(
            sizes[full..=last_full]
                .iter()
                .all(|&size| size == range_bytes)
        );
        let mut start: usize = sizes[..=last_full].iter().sum();
        for &size in &sizes[last_full + 1..] {
            let share = (text.len() - start) / (2 * threads);
            assert_eq!(size, share.max(LAST_PIECE_BYTES), "{sizes:?}");
            start += size;
        }
        assert!(sizes.len() > last_full + 5, "{sizes:?}");
    }
}
