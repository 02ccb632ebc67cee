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
//!   (see [`crate::zstd_frames`]). So is a gzip object of BGZF members (`bgzip` writes
//!   them), cut into batches of whole members, from 2 threads ([`MEMBER_THREADS`]; see
//!   [`crate::gzip_members`]).
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
//!   bytes), and writes the rejected records with global record numbers and lines. The
//!   workers of later ranges wait until the first range has read the header (the binding). A range
//!   whose rejected records would pass the contract's `max_count` is parsed by the merger
//!   itself, so the object fails at the same record with the same error as one thread.
//!
//! Other stages are not run here: a processor with any runs on one thread.
//!
//! Here: the parallelism and the processor, which takes the input, decompresses it and
//! decides its layout. Beside it: `pipeline` (the ranges, the workers and the merge in
//! order), `formats` (what a range of delimited text or JSON Lines gives and how it merges)
//! and `contract_ranges` (the contract stage across ranges).

mod contract_ranges;
mod formats;
mod pipeline;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io::Read;
use std::num::NonZeroUsize;
use std::sync::Arc;

use crate::Compression;
use crate::config::{Config, Format};
use crate::conversion::Conversion;
use crate::decompress::Decoder;
use crate::detect::{FormatHint, Layout, Sniffed, enough_to_sniff, sniff_layout};
use crate::error::{Error, ErrorKind};
use crate::gzip_members::MemberCutter;
use crate::processor::{Analysis, Processor, RecordCounts, read_some};
use crate::zstd_frames::{Codec, CutFrame, FrameCutter, FrameDecoder, FrameJob, Piece, Taken};

use contract_ranges::ContractRanges;
use formats::{Delimited, JsonLines};
pub(crate) use pipeline::RangeBuffers;
use pipeline::{JobQueue, Pipeline};

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

/// From this many threads, the members of a BGZF stream are inflated by any thread
/// ([`crate::gzip_members`]). gzip inflates slower than zstd decompresses (about 1 GB/s of
/// text here), so on 2 threads it gains on any text: `profile --threads 2`, 7 interleaved
/// runs each, members of 65,280 bytes of text at zlib's level 6 as `bgzip` writes them: the
/// bench rows (200 MB) 0.365 -> 0.348 s, and 150 MB of lines of 90 words, which parse faster
/// than they inflate, 0.451 -> 0.287 s.
const MEMBER_THREADS: usize = 2;

/// Bytes read at a time by [`ParallelProcessor::feed_reader`] where it cannot read into a
/// range (one thread, compressed input, the first bytes until the layout is decided).
const READ_CHUNK_BYTES: usize = 1 << 20;
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
    /// compressed bytes; a BGZF object, on 2 threads or more, its batches of members likewise
    /// (a quarter of the range size of compressed members each, or one member).
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
    /// zstd or gzip on several threads: its frames or members, decompressed by any thread.
    frames: Option<Frames>,
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
        let from = match compression {
            Compression::Gzip => MEMBER_THREADS,
            Compression::Zstd | Compression::None => FRAME_THREADS,
        };
        let frames = (self.parallelism.threads.get() >= from)
            .then(|| Frames::new(compression, self.parallelism))
            .flatten();
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

/// The frames of a zstd stream, or the members of a BGZF stream, on their way: cut on the
/// feeding thread, decompressed by whichever thread comes first (see [`crate::zstd_frames`]
/// and [`crate::gzip_members`]), their output fed to the text in input order.
#[derive(Debug)]
struct Frames {
    cutter: Cutter,
    /// Frames handed out, oldest first: at most one for each thread.
    pending: VecDeque<Arc<FrameJob>>,
    /// Frames cut out whole so far, for any thread to decompress.
    cut: usize,
    /// The feeding thread's decoder for zstd frames no worker took.
    decoder: FrameDecoder,
    /// The buffers of the frames fed, for the cutter to gather frames into again.
    returned: Vec<Vec<u8>>,
    /// gzip: a batch did not end where its members' sizes said, so the feeding thread's
    /// decoder decodes every byte from there on, as one decoder does.
    streaming: bool,
}

/// The walk of the stream's frames or members.
#[derive(Debug)]
enum Cutter {
    Zstd(FrameCutter),
    Gzip(MemberCutter),
}

impl Frames {
    /// For a stream of `compression`; `None` for text. A batch of gzip members holds a
    /// quarter of the range size (text compresses 3 to 10 times: its output is a range or
    /// so), or one member.
    fn new(compression: Compression, parallelism: Parallelism) -> Option<Frames> {
        let cutter = match compression {
            Compression::Zstd => Cutter::Zstd(FrameCutter::new()),
            Compression::Gzip => Cutter::Gzip(MemberCutter::new(parallelism.range_bytes.get() / 4)),
            Compression::None => return None,
        };
        Some(Frames {
            cutter,
            pending: VecDeque::new(),
            cut: 0,
            decoder: FrameDecoder::default(),
            returned: Vec::new(),
            streaming: false,
        })
    }

    /// Cuts `chunk` into frames and hands them out; what is not a whole frame to hand out
    /// goes through `decoder`, after the frames before it.
    fn decode(
        &mut self,
        chunk: &[u8],
        decoder: &mut Decoder,
        text: &mut Text,
    ) -> Result<(), Error> {
        let Frames {
            cutter,
            pending,
            cut,
            decoder: frame_decoder,
            returned,
            streaming,
        } = self;
        let gather = text.jobs().is_some();
        let mut take = |piece: Piece<'_>| {
            let mut out = Out {
                pending: &mut *pending,
                frame_decoder: &mut *frame_decoder,
                returned: &mut *returned,
                streaming: &mut *streaming,
                decoder: &mut *decoder,
                text: &mut *text,
            };
            out.take(piece, cut)
        };
        match cutter {
            Cutter::Zstd(cutter) => cutter.cut(chunk, gather, &mut take)?,
            Cutter::Gzip(cutter) => cutter.cut(chunk, gather, &mut take)?,
        }
        for bytes in returned.drain(..) {
            match cutter {
                Cutter::Zstd(cutter) => cutter.recycle(bytes),
                Cutter::Gzip(cutter) => cutter.recycle(bytes),
            }
        }
        Ok(())
    }

    /// Feeds the text every frame handed out, then the bytes of a frame the input ended
    /// inside (to `decoder`, which reports it truncated at its finish).
    fn finish(&mut self, decoder: &mut Decoder, text: &mut Text) -> Result<(), Error> {
        let mut out = Out {
            pending: &mut self.pending,
            frame_decoder: &mut self.decoder,
            returned: &mut self.returned,
            streaming: &mut self.streaming,
            decoder,
            text,
        };
        while !out.pending.is_empty() {
            out.feed_oldest()?;
        }
        let mut cut = 0;
        match &mut self.cutter {
            Cutter::Zstd(cutter) => match cutter.finish() {
                Some(bytes) => out.take(Piece::Stream(bytes), &mut cut),
                None => Ok(()),
            },
            // The last members: decoded here, nothing is left to overlap with.
            Cutter::Gzip(cutter) => {
                *out.streaming = true;
                cutter.finish(&mut |piece| out.take(piece, &mut cut))
            }
        }
    }
}

/// Where the pieces of the stream go: the frames handed out, the feeding thread's decoders,
/// the text.
struct Out<'f> {
    pending: &'f mut VecDeque<Arc<FrameJob>>,
    frame_decoder: &'f mut FrameDecoder,
    returned: &'f mut Vec<Vec<u8>>,
    streaming: &'f mut bool,
    decoder: &'f mut Decoder,
    text: &'f mut Text,
}

impl Out<'_> {
    /// Takes the stream's next piece: a frame is handed out (`cut` counts them), other
    /// bytes are decoded by the feeding thread's decoder once every frame before them is fed.
    fn take(&mut self, piece: Piece<'_>, cut: &mut usize) -> Result<(), Error> {
        match piece {
            Piece::Frame(frame) => {
                if frame.codec == Codec::Gzip {
                    // After bytes decoded by the feeding thread that did not end a member
                    // where the header said (its decoder is inside a member), or once a
                    // batch did not: the rest of the stream is that decoder's.
                    let aligned = self.decoder.gzip_mut().is_some_and(|gzip| {
                        gzip.at_member_boundary()
                            && (gzip.offset() == frame.offset || !self.pending.is_empty())
                    });
                    if *self.streaming || !aligned {
                        *self.streaming = true;
                        return self.stream(&frame.bytes);
                    }
                } else {
                    self.decoder.skip_frame(frame.bytes.len());
                }
                let piece_bytes = self.text.parallelism.range_bytes.get();
                let job = Arc::new(FrameJob::new(frame, piece_bytes, self.text.range_buffers()));
                *cut += 1;
                // Queued only while a worker waits for work: while the workers have ranges to
                // parse, the feeding thread decompresses the frame itself when its turn comes
                // (streaming: cheaper than a worker's output that it would feed from memory).
                if let Some(jobs) = self.text.jobs().filter(|jobs| jobs.idle() > 0) {
                    jobs.push_frame(Arc::clone(&job));
                }
                self.pending.push_back(job);
                while self.pending.len() > self.text.parallelism.threads.get() {
                    self.feed_oldest()?;
                }
                Ok(())
            }
            // No output: nothing to wait for.
            Piece::Skippable(bytes) => {
                let text = &mut *self.text;
                self.decoder.decode(&bytes, &mut |out| text.feed(out))
            }
            Piece::Stream(bytes) => self.stream(&bytes),
        }
    }

    /// Decodes `bytes` on the feeding thread's decoder, after every frame handed out.
    fn stream(&mut self, bytes: &[u8]) -> Result<(), Error> {
        while !self.pending.is_empty() {
            self.feed_oldest()?;
        }
        let text = &mut *self.text;
        self.decoder.decode(bytes, &mut |out| text.feed(out))
    }

    /// Feeds the text the oldest frame's output, then returns its error, if any: the
    /// feeding thread decompresses it, streaming, if no worker has started it (the workers
    /// had ranges to parse: the frames go behind them in the queue); while a worker
    /// decompresses it, the feeding thread parses ranges no worker has taken, or
    /// decompresses the next frames.
    fn feed_oldest(&mut self) -> Result<(), Error> {
        let Some(job) = self.pending.pop_front() else {
            return Ok(());
        };
        let text = &mut *self.text;
        let pending = &*self.pending;
        let frame_decoder = &mut *self.frame_decoder;
        // Waiting for a worker: a range no worker has taken, else a later frame.
        let mut help =
            || text.parse_waiting() || pending.iter().any(|next| next.run(frame_decoder));
        let taken = job.take(&mut help);
        let (frame, result) = match taken {
            Taken::Frame(frame) if frame.codec == Codec::Gzip => {
                let result = self.decode_members(&frame);
                (Some(frame), result)
            }
            Taken::Frame(frame) => {
                let result = frame
                    .decode(self.frame_decoder, &mut |out| self.text.feed(out))
                    .map(drop);
                (Some(frame), result)
            }
            Taken::Decoded(decoded, Some(frame))
                if frame.codec == Codec::Gzip && (!decoded.whole || *self.streaming) =>
            {
                // Not one decoder's output for these bytes: the feeding thread decodes them.
                if let Some(buffers) = self.text.range_buffers() {
                    decoded
                        .pieces
                        .into_iter()
                        .for_each(|piece| buffers.give(piece));
                }
                let result = self.decode_members(&frame);
                (Some(frame), result)
            }
            Taken::Decoded(decoded, frame) => {
                for piece in decoded.pieces {
                    self.text.feed_range(piece)?;
                }
                if let (Some(frame), Some(gzip)) = (&frame, self.decoder.gzip_mut())
                    && decoded.result.is_ok()
                {
                    gzip.resume_at(frame.end());
                }
                (frame, decoded.result)
            }
        };
        self.returned.extend(frame.map(|frame| frame.bytes));
        result
    }

    /// Decodes a batch of gzip members on the feeding thread's decoder, from the batch's
    /// start (unless the decoder is inside a member already: it goes on from there); if the
    /// batch does not end where a member ends, that decoder takes every byte after it.
    fn decode_members(&mut self, frame: &CutFrame) -> Result<(), Error> {
        let Some(gzip) = self.decoder.gzip_mut() else {
            return Err(ErrorKind::Internal("gzip members without a gzip decoder".into()).into());
        };
        if !*self.streaming {
            gzip.resume_at(frame.offset);
        }
        let text = &mut *self.text;
        gzip.decode(&frame.bytes, &mut |out| text.feed(out))?;
        if !gzip.at_member_boundary() {
            *self.streaming = true;
        }
        Ok(())
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
                if enough_to_sniff(self.sniff.len(), &self.config) {
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
        let Sniffed {
            layout,
            bom,
            body,
            base,
        } = sniff_layout(&sniff, at_end, self.hint, config)?;
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
