//! A zstd stream of several frames, decompressed on several threads.
//!
//! A zstd frame is decoded without the frames before it (RFC 8878, section 3.1.1), and where
//! it ends is told by its block headers alone, without decompressing it (3 bytes before each
//! block give its size and whether it is the frame's last). So the feeding thread walks the
//! compressed stream ([`FrameCutter`]) and cuts out each whole frame ([`FrameJob`]): a
//! worker that waits for work decompresses it into pieces of the range size, which become
//! ranges as they are; a frame no worker took, the feeding thread decompresses itself,
//! streaming, when its turn comes. The outputs are fed in input order. Tools that write
//! large inputs for parallel reading write such streams: `pzstd` (a frame for each 4 to
//! 32 MiB of input, each behind a skippable frame that gives its size) and the zstd seekable
//! format. (The parallel processor cuts frames from 4 threads on: see `FRAME_THREADS`.)
//!
//! The output and the errors are those of one decoder fed the whole stream
//! ([`ZstdDecoder`]): a frame's decoder starts with the stream's offset of its first byte, so
//! a corrupt block is reported at the same offset, after the same output; whatever the
//! walk cannot follow (something that is not a frame, a reserved block type), and a frame
//! whose output could pass [`MAX_FRAME_OUTPUT`], goes to the feeding thread's own decoder,
//! in order. A stream of one frame (what `zstd` writes) is decoded as before: its frame is
//! too large to hold, or it is the first, decoded by the feeding thread to sniff the text.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::decompress::{
    Boundary, GzipDecoder, Unit, ZSTD_MAX_BLOCK_OUTPUT, ZstdDecoder, ZstdLayout, is_skippable,
};
use crate::error::{Error, ErrorKind};
use crate::parallel::RangeBuffers;

/// The most a frame handed to another thread may decompress to (its blocks' bound,
/// [`ZSTD_MAX_BLOCK_OUTPUT`] each). A frame is held whole, compressed and decompressed, until
/// its turn: `pzstd` writes frames of at most 32 MiB of input.
pub(crate) const MAX_FRAME_OUTPUT: u64 = 32 << 20;

/// Frame buffers [`FrameCutter::recycle`] keeps at most.
const SPARE_FRAMES: usize = 4;

/// A piece of the stream, in input order ([`FrameCutter::cut`]).
#[derive(Debug)]
pub(crate) enum Piece<'a> {
    /// A whole frame, whose output is at most [`MAX_FRAME_OUTPUT`].
    Frame(CutFrame),
    /// Bytes of a skippable frame: they give neither output nor error.
    Skippable(Bytes<'a>),
    /// Bytes for the feeding thread's decoder, after every frame before them.
    Stream(Bytes<'a>),
}

/// A whole frame cut out of the stream: a zstd frame, or a batch of whole gzip members
/// ([`crate::gzip_members`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CutFrame {
    pub(crate) bytes: Vec<u8>,
    /// The offset of its first byte in the stream.
    pub(crate) offset: u64,
    /// The most it decompresses to: [`ZSTD_MAX_BLOCK_OUTPUT`] for each block of a zstd
    /// frame; what the members' trailers say for gzip (their word: decoding stops past
    /// [`MAX_FRAME_OUTPUT`] whatever they say).
    pub(crate) output_bound: usize,
    pub(crate) codec: Codec,
}

/// What a [`CutFrame`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Zstd,
    Gzip,
}

/// Bytes of a [`Piece`]: borrowed from the chunk being cut, or gathered from earlier chunks.
#[derive(Debug)]
pub(crate) enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Gathered(Vec<u8>),
}

impl std::ops::Deref for Bytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(bytes) => bytes,
            Bytes::Gathered(bytes) => bytes,
        }
    }
}

/// How the bytes of the frame being walked are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taking {
    /// Gathered, to hand the frame out whole.
    Gather,
    /// A skippable frame's, passed on as they come.
    Skippable,
    /// Passed on to the feeding thread's decoder as they come.
    Stream,
}

/// Cuts a zstd stream, fed in chunks of any size, into [`Piece`]s.
#[derive(Debug)]
pub(crate) struct FrameCutter {
    layout: ZstdLayout,
    taking: Taking,
    /// The frame gathered so far, from its first byte.
    frame: Vec<u8>,
    /// The offset of the frame being walked.
    frame_offset: u64,
    /// The bytes walked so far.
    offset: u64,
    /// Blocks ended in the frame gathered.
    blocks: u64,
    /// Buffers of frames decompressed, to gather frames into again ([`FrameCutter::recycle`]).
    spare: SpareFrames,
    /// The most bytes a frame gathered so far took.
    largest: usize,
}

impl Default for FrameCutter {
    fn default() -> FrameCutter {
        FrameCutter::new()
    }
}

impl FrameCutter {
    pub(crate) fn new() -> FrameCutter {
        FrameCutter {
            layout: ZstdLayout::new(),
            taking: Taking::Gather,
            frame: Vec::new(),
            frame_offset: 0,
            offset: 0,
            blocks: 0,
            spare: SpareFrames::default(),
            largest: 0,
        }
    }

    /// Walks `chunk`, the stream's next bytes, handing each piece to `take` in order. When
    /// `gather` is false, a frame that starts in `chunk` is passed on as it comes, not
    /// gathered (no thread could take it: the first frame, decoded to sniff the text).
    pub(crate) fn cut<'a>(
        &mut self,
        chunk: &'a [u8],
        gather: bool,
        take: &mut dyn FnMut(Piece<'a>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.taking == Taking::Gather && self.frame.is_empty() && !gather {
                self.taking = Taking::Stream;
            }
            let (len, boundary) = self.layout.step(rest);
            let (walked, after) = rest.split_at(len);
            rest = after;
            self.offset += len as u64;
            match self.taking {
                Taking::Skippable => take(Piece::Skippable(Bytes::Borrowed(walked)))?,
                Taking::Stream => take(Piece::Stream(Bytes::Borrowed(walked)))?,
                Taking::Gather => {
                    self.frame.extend_from_slice(walked);
                    if let Some(piece) = self.gathered(boundary) {
                        take(piece)?;
                    }
                }
            }
            if boundary == Boundary::Frame {
                self.taking = Taking::Gather;
                self.frame_offset = self.offset;
                self.blocks = 0;
            }
        }
        Ok(())
    }

    /// What the frame gathered so far gives, once `boundary` was walked: the whole frame at
    /// its end; its bytes to pass on, once it proves to be a skippable frame, something the
    /// walk cannot follow, or a frame too large to hold.
    fn gathered(&mut self, boundary: Boundary) -> Option<Piece<'static>> {
        let gathered = |frame: &mut Vec<u8>| Bytes::Gathered(std::mem::take(frame));
        if self.layout.unit() == Unit::Skippable
            || (boundary == Boundary::Frame && is_skippable(&self.frame))
        {
            self.taking = Taking::Skippable;
            return Some(Piece::Skippable(gathered(&mut self.frame)));
        }
        if self.layout.unit() == Unit::Opaque {
            self.taking = Taking::Stream;
            return Some(Piece::Stream(gathered(&mut self.frame)));
        }
        match boundary {
            Boundary::Nothing => None,
            Boundary::Block => {
                // One more block after this one could pass the bound.
                self.blocks += 1;
                (self.blocks * ZSTD_MAX_BLOCK_OUTPUT >= MAX_FRAME_OUTPUT).then(|| {
                    self.taking = Taking::Stream;
                    Piece::Stream(gathered(&mut self.frame))
                })
            }
            Boundary::Frame => {
                // The last block, unless the frame ended with a checksum (counted then).
                let bound = (self.blocks + 1).saturating_mul(ZSTD_MAX_BLOCK_OUTPUT);
                self.largest = self.largest.max(self.frame.len());
                let next = self.next_buffer();
                Some(Piece::Frame(CutFrame {
                    bytes: std::mem::replace(&mut self.frame, next),
                    offset: self.frame_offset,
                    output_bound: usize::try_from(bound).unwrap_or(usize::MAX),
                    codec: Codec::Zstd,
                }))
            }
        }
    }

    /// A buffer to gather the next frame into: with room for the largest frame so far and
    /// an eighth more.
    fn next_buffer(&mut self) -> Vec<u8> {
        self.spare.take(self.largest + self.largest / 8)
    }

    /// Takes back the buffer of a frame handed out, once decompressed, to gather another
    /// frame into.
    pub(crate) fn recycle(&mut self, bytes: Vec<u8>) {
        self.spare.keep(bytes);
    }

    /// The bytes of a frame the stream ended inside, for the feeding thread's decoder (which
    /// reports it truncated).
    pub(crate) fn finish(&mut self) -> Option<Bytes<'static>> {
        (!self.frame.is_empty()).then(|| Bytes::Gathered(std::mem::take(&mut self.frame)))
    }
}

/// Buffers of frames handed out and decompressed, to gather frames into again: a new buffer
/// for each frame would be grown, and faulted in, each time.
#[derive(Debug, Default)]
pub(crate) struct SpareFrames(Vec<Vec<u8>>);

impl SpareFrames {
    /// A spare buffer with `room`, or a new one. A spare too small is dropped for a new one:
    /// growing it would copy what it held into memory faulted in anew (frames of about one
    /// size, each a little larger than the last, kept doubling the buffers one by one).
    pub(crate) fn take(&mut self, room: usize) -> Vec<u8> {
        match self.0.pop() {
            Some(buffer) if buffer.capacity() >= room => buffer,
            _ => Vec::with_capacity(room),
        }
    }

    /// Keeps `bytes`, emptied, unless [`SPARE_FRAMES`] are kept already.
    pub(crate) fn keep(&mut self, mut bytes: Vec<u8>) {
        if self.0.len() < SPARE_FRAMES {
            bytes.clear();
            self.0.push(bytes);
        }
    }
}

/// A frame for whichever thread comes to it first: a worker that takes it from the queue
/// ([`FrameJob::run`]), or the feeding thread when its turn comes ([`FrameJob::take`]).
#[derive(Debug)]
pub(crate) struct FrameJob {
    state: Mutex<FrameState>,
    /// The size of the pieces a worker decompresses the frame into.
    piece_bytes: usize,
    /// Buffers to decompress the pieces into, when the pipeline has some to spare.
    buffers: Option<Arc<RangeBuffers>>,
    /// Signalled when a worker is done with the frame.
    decoded: Condvar,
}

#[derive(Debug)]
enum FrameState {
    /// No thread has started it.
    Waiting(CutFrame),
    /// A worker is decompressing it.
    Decoding,
    /// Its output, in pieces, and its error; and the frame.
    Done(Decoded, CutFrame),
    /// The feeding thread took the output.
    Taken,
}

/// A frame decompressed by a worker.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// Its output, in pieces of the size asked for.
    pub(crate) pieces: Vec<Vec<u8>>,
    /// The error met after them.
    pub(crate) result: Result<(), Error>,
    /// Whether the pieces are the frame's output as one decoder of the stream gives it: false
    /// for a batch of gzip members that did not end where their headers said, or whose output
    /// passed [`MAX_FRAME_OUTPUT`] (the feeding thread's decoder then decodes its bytes).
    pub(crate) whole: bool,
}

/// `frame` decompressed into pieces of `piece_bytes` (the last one shorter), each in a buffer
/// from `buffers` when it has one with the room, and the error met after them.
fn decode(
    frame: &CutFrame,
    piece_bytes: usize,
    buffers: Option<&RangeBuffers>,
    decoder: &mut FrameDecoder,
) -> Decoded {
    let piece_bytes = piece_bytes.max(1);
    let new_piece = |room: usize| {
        buffers
            .and_then(RangeBuffers::take)
            .filter(|buffer| buffer.capacity() >= room)
            .unwrap_or_else(|| Vec::with_capacity(room))
    };
    let mut pieces = Vec::new();
    let mut piece = new_piece(piece_bytes.min(frame.output_bound.max(1)));
    let mut output = 0u64;
    let mut too_large = false;
    let result = frame.decode(decoder, &mut |mut bytes| {
        output += bytes.len() as u64;
        if output > MAX_FRAME_OUTPUT {
            too_large = true;
            return Err(ErrorKind::Internal("a frame's output passed its bound".into()).into());
        }
        while !bytes.is_empty() {
            let take = (piece_bytes - piece.len()).min(bytes.len());
            piece.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if piece.len() == piece_bytes {
                pieces.push(std::mem::replace(&mut piece, new_piece(piece_bytes)));
            }
        }
        Ok(())
    });
    if !piece.is_empty() {
        pieces.push(piece);
    }
    let (result, whole) = match result {
        _ if too_large => (Ok(()), false),
        Ok(ended) => (Ok(()), ended),
        Err(error) => (Err(error), true),
    };
    Decoded {
        pieces,
        result,
        whole,
    }
}

/// What the feeding thread gets of a frame when its turn comes ([`FrameJob::take`]).
#[derive(Debug)]
pub(crate) enum Taken {
    /// No worker started it: the frame, for the feeding thread to decompress streaming (as
    /// fast as one decoder: its output stays in the cache).
    Frame(CutFrame),
    /// A worker decompressed it: its output, and the frame.
    Decoded(Decoded, Option<CutFrame>),
}

impl CutFrame {
    /// Decompresses the frame, handing its output to `sink` (see
    /// [`ZstdDecoder::decode_frame`] and [`GzipDecoder::resume_at`]); whether it ended where a
    /// frame or member ends (always, for zstd: its walk found the end).
    pub(crate) fn decode(
        &self,
        decoder: &mut FrameDecoder,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        match self.codec {
            Codec::Zstd => {
                let zstd = match &mut decoder.zstd {
                    Some(zstd) => zstd,
                    None => decoder.zstd.insert(ZstdDecoder::new()?),
                };
                zstd.decode_frame(&self.bytes, self.offset, sink)?;
                Ok(true)
            }
            Codec::Gzip => {
                let gzip = decoder.gzip.get_or_insert_with(GzipDecoder::new);
                gzip.resume_at(self.offset);
                gzip.decode(&self.bytes, sink)?;
                Ok(gzip.at_member_boundary())
            }
        }
    }

    /// The offset of the byte after it in the stream.
    pub(crate) fn end(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }
}

/// A thread's decoders for whole frames, each made at its first frame and kept for the next
/// (a new one for each frame would allocate, and fault in, its window each time).
#[derive(Debug, Default)]
pub(crate) struct FrameDecoder {
    zstd: Option<ZstdDecoder>,
    gzip: Option<GzipDecoder>,
}

impl FrameJob {
    /// The frame `frame`, to decompress into pieces of `piece_bytes` (the pieces are the
    /// feeding thread's next ranges, as they are: no copy), taken from `buffers` while it
    /// has some.
    pub(crate) fn new(
        frame: CutFrame,
        piece_bytes: usize,
        buffers: Option<Arc<RangeBuffers>>,
    ) -> FrameJob {
        FrameJob {
            state: Mutex::new(FrameState::Waiting(frame)),
            piece_bytes,
            buffers,
            decoded: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, FrameState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A worker's part (or the feeding thread's, ahead of its turn): decompresses the frame,
    /// unless a thread has started it; whether it did. A panic while decompressing leaves it
    /// to the feeding thread, which meets the same panic as one thread would.
    pub(crate) fn run(&self, decoder: &mut FrameDecoder) -> bool {
        let frame = {
            let mut state = self.state();
            match std::mem::replace(&mut *state, FrameState::Decoding) {
                FrameState::Waiting(frame) => frame,
                other => {
                    *state = other;
                    return false;
                }
            }
        };
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            decode(&frame, self.piece_bytes, self.buffers.as_deref(), decoder)
        }));
        *self.state() = match outcome {
            Ok(output) => FrameState::Done(output, frame),
            Err(_) => {
                // The decoder may be anywhere: a new one for the next frame.
                *decoder = FrameDecoder::default();
                FrameState::Waiting(frame)
            }
        };
        self.decoded.notify_all();
        true
    }

    /// The feeding thread's part, when the frame's turn comes: the frame, if no worker has
    /// started it; else its output once the worker is done, `help` called meanwhile (it
    /// returns false when it found nothing to do).
    pub(crate) fn take(&self, help: &mut dyn FnMut() -> bool) -> Taken {
        loop {
            let mut state = self.state();
            match std::mem::replace(&mut *state, FrameState::Taken) {
                FrameState::Waiting(frame) => return Taken::Frame(frame),
                FrameState::Done(decoded, frame) => {
                    return Taken::Decoded(decoded, Some(frame));
                }
                FrameState::Decoding => {
                    *state = FrameState::Decoding;
                    drop(state);
                    if help() {
                        continue;
                    }
                    let mut state = self.state();
                    while matches!(*state, FrameState::Decoding) {
                        state = self
                            .decoded
                            .wait(state)
                            .unwrap_or_else(PoisonError::into_inner);
                    }
                }
                FrameState::Taken => {
                    let error = ErrorKind::Internal("a frame was taken twice".into());
                    let decoded = Decoded {
                        pieces: Vec::new(),
                        result: Err(error.into()),
                        whole: true,
                    };
                    return Taken::Decoded(decoded, None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn text(rows: u32) -> Vec<u8> {
        (0..rows)
            .flat_map(|i| format!("{i},{},\"note {}\"\n", i % 7, i % 3).into_bytes())
            .collect()
    }

    /// A frame with a content checksum.
    fn checksummed(data: &[u8]) -> Vec<u8> {
        let mut encoder = zstd::Encoder::new(Vec::new(), 3).unwrap();
        encoder.include_checksum(true).unwrap();
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// A frame of raw blocks of at most `block` bytes each (window 1 KiB, no checksum).
    fn raw_blocks(data: &[u8], block: usize) -> Vec<u8> {
        let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00];
        let blocks: Vec<&[u8]> = data.chunks(block).collect();
        for (i, bytes) in blocks.iter().enumerate() {
            let last = u32::from(i + 1 == blocks.len());
            let header = (u32::try_from(bytes.len()).unwrap() << 3) | last;
            frame.extend_from_slice(&header.to_le_bytes()[..3]);
            frame.extend_from_slice(bytes);
        }
        frame
    }

    const SKIPPABLE: [u8; 8] = [0x5e, 0x2a, 0x4d, 0x18, 3, 0, 0, 0];

    /// A frame's bytes and offset.
    type Frame = (Vec<u8>, u64);

    /// What `cut` made of `stream` fed in chunks of `chunk`: the frames, and the bytes of
    /// each other kind, concatenated; all of it adds up to the stream.
    fn cut_in_chunks(stream: &[u8], chunk: usize, gather: bool) -> (Vec<Frame>, Vec<u8>, Vec<u8>) {
        let (mut frames, mut skipped, mut streamed, mut all) = (vec![], vec![], vec![], vec![]);
        let mut cutter = FrameCutter::new();
        for piece in stream.chunks(chunk) {
            cutter
                .cut(piece, gather, &mut |piece| {
                    match piece {
                        Piece::Frame(frame) => {
                            assert_eq!(frame.offset, all.len() as u64);
                            assert!(frame.output_bound >= 128 << 10);
                            all.extend_from_slice(&frame.bytes);
                            frames.push((frame.bytes, frame.offset));
                        }
                        Piece::Skippable(bytes) => {
                            all.extend_from_slice(&bytes);
                            skipped.extend_from_slice(&bytes);
                        }
                        Piece::Stream(bytes) => {
                            all.extend_from_slice(&bytes);
                            streamed.extend_from_slice(&bytes);
                        }
                    }
                    Ok(())
                })
                .unwrap();
        }
        if let Some(rest) = cutter.finish() {
            all.extend_from_slice(&rest);
            streamed.extend_from_slice(&rest);
        }
        assert_eq!(all, stream, "chunks of {chunk}");
        (frames, skipped, streamed)
    }

    #[test]
    fn whole_frames_are_cut_out_whatever_the_chunking() {
        let data = text(5000);
        let parts = [
            zstd::encode_all(&data[..20_000], 3).unwrap(),
            checksummed(&data[20_000..50_000]),
            zstd::bulk::compress(&data[50_000..60_000], 19).unwrap(),
            raw_blocks(&data[60_000..61_000], 100),
            zstd::encode_all(&b""[..], 1).unwrap(),
        ];
        let mut stream = Vec::new();
        let mut offsets = Vec::new();
        for part in &parts {
            stream.extend_from_slice(&SKIPPABLE);
            stream.extend_from_slice(b"abc");
            offsets.push(stream.len() as u64);
            stream.extend_from_slice(part);
        }
        for chunk in [1, 2, 3, 5, 4096, usize::MAX] {
            let (frames, skipped, streamed) = cut_in_chunks(&stream, chunk, true);
            let expected: Vec<_> = parts.iter().cloned().zip(offsets.iter().copied()).collect();
            assert_eq!(frames, expected, "chunks of {chunk}");
            assert_eq!(
                skipped,
                [&SKIPPABLE[..], b"abc"].concat().repeat(parts.len())
            );
            assert!(streamed.is_empty(), "chunks of {chunk}");
        }
    }

    /// One frame cut three times by one cutter, `buffer` given back after the first: the
    /// frame, and the buffer the third was gathered into (the second was being gathered
    /// already when `buffer` came back).
    fn third_frame_after_giving_back(buffer: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
        let frame = zstd::encode_all(&text(100)[..], 3).unwrap();
        let mut cutter = FrameCutter::new();
        let cut = |cutter: &mut FrameCutter| {
            let mut frames = Vec::new();
            cutter
                .cut(&frame, true, &mut |piece| {
                    if let Piece::Frame(frame) = piece {
                        frames.push(frame.bytes);
                    }
                    Ok(())
                })
                .unwrap();
            frames
        };
        assert_eq!(cut(&mut cutter), vec![frame.clone()]);
        cutter.recycle(buffer);
        assert_eq!(cut(&mut cutter), vec![frame.clone()]);
        let mut third = cut(&mut cutter);
        assert_eq!(third, vec![frame.clone()]);
        (frame, third.remove(0))
    }

    #[test]
    fn frames_are_gathered_into_the_buffers_given_back() {
        let (_, third) = third_frame_after_giving_back(Vec::with_capacity(1 << 20));
        assert_eq!(third.capacity(), 1 << 20);
    }

    #[test]
    fn a_buffer_given_back_too_small_for_the_frames_is_replaced_not_grown() {
        // A new buffer, with room for the largest frame and an eighth more (grown from 16
        // bytes, it would have been copied at each doubling).
        let (frame, third) = third_frame_after_giving_back(Vec::with_capacity(16));
        assert_eq!(third.capacity(), frame.len() + frame.len() / 8);
    }

    #[test]
    fn what_cannot_be_handed_out_goes_to_the_stream() {
        let data = text(500);
        let small = zstd::encode_all(&data[..1000], 3).unwrap();
        // More blocks than MAX_FRAME_OUTPUT allows for: passed on, even though tiny.
        let blocks = usize::try_from(MAX_FRAME_OUTPUT / ZSTD_MAX_BLOCK_OUTPUT).unwrap() + 1;
        let many_blocks = raw_blocks(&data[..blocks * 3], 3);
        let mut stream = [small.clone(), many_blocks.clone(), small.clone()].concat();
        for chunk in [1, 7, usize::MAX] {
            let (frames, _, streamed) = cut_in_chunks(&stream, chunk, true);
            assert_eq!(frames.len(), 2, "chunks of {chunk}");
            assert_eq!(streamed, many_blocks, "chunks of {chunk}");
            // Not gathering: every frame starting in the chunk is passed on.
            let (frames, _, streamed) = cut_in_chunks(&stream, chunk, false);
            assert!(frames.is_empty());
            assert_eq!(streamed, stream);
        }
        // Past something that is not a frame, nothing is cut any more.
        let garbage = b"not a frame at all".to_vec();
        stream = [small.clone(), garbage.clone(), small.clone()].concat();
        let (frames, _, streamed) = cut_in_chunks(&stream, 4, true);
        assert_eq!(frames, vec![(small.clone(), 0)]);
        assert_eq!(streamed, [garbage, small.clone()].concat());
        // A block of the reserved type: the frame so far goes to the stream, which names it.
        let mut reserved = raw_blocks(b"a,b\n", 2);
        let last_header = reserved.len() - 5;
        reserved[last_header] |= 0b110;
        reserved.extend_from_slice(&[1, 2, 3]);
        let (frames, _, streamed) = cut_in_chunks(&reserved, 5, true);
        assert!(frames.is_empty());
        assert_eq!(streamed, reserved);
        // A stream that ends inside a frame: the frame's bytes come out at the finish.
        let truncated = [&small[..], &small[..small.len() - 1]].concat();
        let (frames, _, streamed) = cut_in_chunks(&truncated, 64, true);
        assert_eq!(frames.len(), 1);
        assert_eq!(streamed, small[..small.len() - 1]);
    }

    /// `frame`, at `offset`, as the cutter hands it out (a bound of 2 MiB: more than the
    /// tests' frames decompress to).
    fn cut(frame: &[u8], offset: usize) -> CutFrame {
        CutFrame {
            bytes: frame.to_vec(),
            offset: offset as u64,
            output_bound: 2 << 20,
            codec: Codec::Zstd,
        }
    }

    /// The size of the pieces the tests' frames are decompressed into.
    const PIECE: usize = 1000;

    /// What the feeding thread makes of `job` when its turn comes: the output and error.
    fn output_of(job: &FrameJob, help: &mut dyn FnMut() -> bool) -> (Vec<u8>, Result<(), Error>) {
        match job.take(help) {
            Taken::Frame(frame) => {
                let mut output = Vec::new();
                let result = frame.decode(&mut FrameDecoder::default(), &mut |bytes| {
                    output.extend_from_slice(bytes);
                    Ok(())
                });
                (output, result.map(|ended| assert!(ended)))
            }
            Taken::Decoded(decoded, _) => {
                assert!(decoded.whole);
                assert!(decoded.pieces.iter().all(|piece| piece.len() <= PIECE));
                (decoded.pieces.concat(), decoded.result)
            }
        }
    }

    /// The output and error one decoder gives for `stream`, fed whole.
    fn one_decoder(stream: &[u8]) -> (Vec<u8>, Result<(), String>) {
        let mut decoder = crate::decompress::Decoder::new(crate::Compression::Zstd).unwrap();
        let mut output = Vec::new();
        let result = decoder
            .decode(stream, &mut |bytes| {
                output.extend_from_slice(bytes);
                Ok(())
            })
            .and_then(|()| decoder.finish());
        (output, result.map_err(|e| e.to_string()))
    }

    #[test]
    fn a_frame_decodes_as_in_the_whole_stream_on_any_thread() {
        let data = text(2000);
        let first = zstd::encode_all(&data[..9000], 3).unwrap();
        let mut second = checksummed(&data[9000..]);
        // A frame decoded by a job (a worker, or the feeding thread) gives the stream's
        // output for it.
        for run_on_a_worker in [false, true] {
            let job = FrameJob::new(cut(&second, first.len()), PIECE, None);
            if run_on_a_worker {
                std::thread::scope(|scope| {
                    scope.spawn(|| job.run(&mut FrameDecoder::default()));
                });
            }
            let (output, result) = output_of(&job, &mut || false);
            assert_eq!(output, &data[9000..]);
            result.unwrap();
            // Taken once only.
            assert!(output_of(&job, &mut || false).1.is_err());
        }
        // A corrupt checksum: the same output first, the same error at the same offset.
        *second.last_mut().unwrap() ^= 1;
        let (whole_output, whole_error) = one_decoder(&[&first[..], &second[..]].concat());
        let job = FrameJob::new(cut(&second, first.len()), PIECE, None);
        assert!(job.run(&mut FrameDecoder::default()));
        assert!(!job.run(&mut FrameDecoder::default()));
        let (output, result) = output_of(&job, &mut || false);
        assert_eq!([&data[..9000], &output[..]].concat(), whole_output);
        assert_eq!(result.map_err(|e| e.to_string()), whole_error);
        assert!(whole_error.unwrap_err().contains("corrupt"));
    }

    /// A batch of gzip members at `offset`.
    fn members(bytes: &[u8], offset: usize) -> CutFrame {
        CutFrame {
            bytes: bytes.to_vec(),
            offset: offset as u64,
            output_bound: 2 << 20,
            codec: Codec::Gzip,
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_batch_of_members_is_whole_only_when_it_ends_a_member_within_the_bound() {
        let data = text(2000);
        let first = gzip(&data[..5000]);
        let second = gzip(&data[5000..]);
        let batch = [&first[..], &second[..]].concat();
        let decoded = decode(
            &members(&batch, 100),
            PIECE,
            None,
            &mut FrameDecoder::default(),
        );
        assert!(decoded.whole);
        decoded.result.unwrap();
        assert_eq!(decoded.pieces.concat(), data);
        // Cut inside the second member (its size misstated): not one decoder's output.
        let cut = members(&batch[..batch.len() - 5], 100);
        let decoded = decode(&cut, PIECE, None, &mut FrameDecoder::default());
        assert!(!decoded.whole);
        // More output than a frame may hold, whatever its trailer says.
        let large = gzip(&vec![b'a'; usize::try_from(MAX_FRAME_OUTPUT).unwrap() + 1]);
        let decoded = decode(
            &members(&large, 0),
            1 << 20,
            None,
            &mut FrameDecoder::default(),
        );
        assert!(!decoded.whole);
        assert!(decoded.result.is_ok());
        // A corrupt CRC: the error one decoder gives, at the stream's offset.
        let mut corrupt = batch.clone();
        corrupt[first.len() - 8] ^= 1;
        let decoded = decode(
            &members(&corrupt, 100),
            PIECE,
            None,
            &mut FrameDecoder::default(),
        );
        let error = decoded.result.unwrap_err().to_string();
        assert!(
            error.contains(&format!("at compressed byte {}:", 100 + first.len())),
            "{error}"
        );
    }

    #[test]
    fn pieces_are_decompressed_into_the_range_buffers_done_with() {
        let data = text(20_000);
        let frame = cut(&zstd::encode_all(&data[..], 3).unwrap(), 0);
        // Two buffers of a room no new piece gets, and one too small for a piece, taken last
        // (and dropped).
        let buffers = RangeBuffers::new(8);
        for room in [PIECE - 1, PIECE + 7, PIECE + 7] {
            buffers.give(Vec::with_capacity(room));
        }
        let Decoded { pieces, result, .. } =
            decode(&frame, PIECE, Some(&buffers), &mut FrameDecoder::default());
        result.unwrap();
        assert_eq!(pieces.concat(), data);
        let rooms: Vec<usize> = pieces.iter().map(Vec::capacity).collect();
        assert_eq!(rooms[..2], [PIECE + 7, PIECE + 7], "{rooms:?}");
        assert!(rooms[2..].iter().all(|&room| room == PIECE), "{rooms:?}");
        assert!(buffers.take().is_none());
        // Without buffers, each piece is a new one.
        let pieces = decode(&frame, PIECE, None, &mut FrameDecoder::default()).pieces;
        assert!(pieces.iter().all(|piece| piece.capacity() == PIECE));
    }

    #[test]
    fn the_feeding_thread_helps_while_a_worker_decodes() {
        let data = text(20_000);
        let frame = zstd::encode_all(&data[..], 3).unwrap();
        let job = FrameJob::new(cut(&frame, 0), PIECE, None);
        let mut helped = 0;
        std::thread::scope(|scope| {
            // Started by the worker before the feeding thread asks.
            let (started_in, started) = std::sync::mpsc::channel();
            let job = &job;
            scope.spawn(move || {
                let mut state = job.state();
                let FrameState::Waiting(frame) =
                    std::mem::replace(&mut *state, FrameState::Decoding)
                else {
                    panic!("not waiting");
                };
                drop(state);
                started_in.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(50));
                let decoded = decode(&frame, PIECE, None, &mut FrameDecoder::default());
                *job.state() = FrameState::Done(decoded, frame);
                job.decoded.notify_all();
            });
            started.recv().unwrap();
            let (output, result) = output_of(job, &mut || {
                helped += 1;
                helped < 3
            });
            assert_eq!(output, data);
            result.unwrap();
        });
        // Asked for help until it had nothing to do, then waited.
        assert_eq!(helped, 3);
    }
}
