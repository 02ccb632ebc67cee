//! Streaming decompression, sans-IO: compressed bytes in, decompressed bytes out to a callback.
//!
//! The compression is told by the first bytes (magic numbers), never by the key's extension.
//! gzip may hold several members and zstd several frames, one after the other, as `cat`
//! makes them. A stream that stops inside a member or frame is truncated: an error, never a
//! silently short result.

use flate2::{Crc, Decompress, FlushDecompress, Status};
use zstd::stream::raw::{InBuffer, Operation, OutBuffer};

use crate::compression::{Compression, GZIP_MAGIC, ZSTD_MAGIC};
use crate::error::{Error, ErrorKind};

const OUTPUT_BUFFER: usize = 128 * 1024;
/// A gzip header longer than this (file name and comment fields) is taken for corruption.
const MAX_GZIP_HEADER: usize = 64 * 1024;
/// The detail of a corrupt deflate stream. Not the inflater's own words: they depend on how
/// much input each call had (given a few bytes past a bad distance, zlib-rs names it "invalid
/// distance too far back"; given a few hundred, "repeated call with bad state"), so they would
/// change with the input's chunking, which never changes a result.
const INVALID_DEFLATE: &str = "the deflate data is invalid";

/// A streaming decoder for one [`Compression`].
#[derive(Debug)]
pub(crate) enum Decoder {
    Plain,
    Gzip(Box<GzipDecoder>),
    Zstd(Box<ZstdDecoder>),
}

impl Decoder {
    pub(crate) fn new(compression: Compression) -> Result<Decoder, Error> {
        Ok(match compression {
            Compression::None => Decoder::Plain,
            Compression::Gzip => Decoder::Gzip(Box::new(GzipDecoder::new())),
            Compression::Zstd => Decoder::Zstd(Box::new(ZstdDecoder::new()?)),
        })
    }

    /// Decodes `input`, handing every piece of output to `sink`.
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match self {
            Decoder::Plain => sink(input),
            Decoder::Gzip(gzip) => gzip.decode(input, sink),
            Decoder::Zstd(zstd) => zstd.decode(input, sink),
        }
    }

    /// Counts a whole zstd frame, decompressed elsewhere, as consumed (see
    /// [`ZstdDecoder::skip_frame`]); for another decoder, nothing.
    pub(crate) fn skip_frame(&mut self, len: usize) {
        if let Decoder::Zstd(zstd) = self {
            zstd.skip_frame(len);
        }
    }

    /// The gzip decoder, when the stream is gzip.
    pub(crate) fn gzip_mut(&mut self) -> Option<&mut GzipDecoder> {
        match self {
            Decoder::Gzip(gzip) => Some(gzip),
            Decoder::Plain | Decoder::Zstd(_) => None,
        }
    }

    /// Checks that the input ended at a member or frame boundary.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        match self {
            Decoder::Plain => Ok(()),
            Decoder::Gzip(gzip) => gzip.finish(),
            Decoder::Zstd(zstd) => zstd.finish(),
        }
    }
}

#[derive(Debug)]
enum GzipState {
    /// Collecting a member header (10 bytes and the optional fields).
    Header,
    /// Inflating a member's deflate stream.
    Body,
    /// Collecting the 8-byte trailer (CRC-32, size modulo 2^32).
    Trailer,
    /// Between members: a new member or the end of the input may follow.
    Between,
}

#[derive(Debug)]
pub(crate) struct GzipDecoder {
    state: GzipState,
    /// Header or trailer bytes collected so far.
    pending: Vec<u8>,
    inflate: Decompress,
    crc: Crc,
    /// Compressed bytes consumed so far, for error offsets.
    consumed: u64,
    out: Vec<u8>,
}

impl GzipDecoder {
    pub(crate) fn new() -> GzipDecoder {
        GzipDecoder {
            state: GzipState::Header,
            pending: Vec::new(),
            inflate: Decompress::new(false),
            crc: Crc::new(),
            consumed: 0,
            out: vec![0; OUTPUT_BUFFER],
        }
    }

    fn corrupt(&self, detail: impl Into<String>) -> Error {
        Self::corrupt_at(self.consumed, detail)
    }

    fn corrupt_at(offset: u64, detail: impl Into<String>) -> Error {
        ErrorKind::CorruptCompression {
            compression: Compression::Gzip,
            offset,
            detail: detail.into(),
        }
        .into()
    }

    pub(crate) fn decode(
        &mut self,
        mut input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        while !input.is_empty() {
            match self.state {
                GzipState::Between => {
                    self.state = GzipState::Header;
                }
                GzipState::Header => {
                    let before = self.pending.len();
                    // A header's errors name its first byte, however its bytes came.
                    let header_start = self.consumed - before as u64;
                    self.pending.extend_from_slice(input);
                    match gzip_header_len(&self.pending) {
                        HeaderParse::Incomplete => {
                            if self.pending.len() > MAX_GZIP_HEADER {
                                return Err(Self::corrupt_at(
                                    header_start,
                                    "gzip header longer than 64 KiB",
                                ));
                            }
                            self.consumed += input.len() as u64;
                            input = &[];
                        }
                        HeaderParse::Invalid(why) => {
                            return Err(Self::corrupt_at(header_start, why));
                        }
                        HeaderParse::Complete(len) => {
                            let used = len - before;
                            self.consumed += used as u64;
                            input = &input[used..];
                            self.pending.clear();
                            self.inflate.reset(false);
                            self.crc.reset();
                            self.state = GzipState::Body;
                        }
                    }
                }
                GzipState::Body => {
                    let in_before = self.inflate.total_in();
                    let out_before = self.inflate.total_out();
                    let status =
                        self.inflate
                            .decompress(input, &mut self.out, FlushDecompress::None);
                    let used = usize::try_from(self.inflate.total_in() - in_before)
                        .map_err(|_| self.corrupt("decoder overran its input"))?;
                    let produced = usize::try_from(self.inflate.total_out() - out_before)
                        .map_err(|_| self.corrupt("decoder overran its output"))?;
                    self.consumed += used as u64;
                    input = &input[used..];
                    // What was inflated before a corrupt code goes out first, as it would have
                    // had the input stopped just before that code: the outcome never depends
                    // on how the input is split.
                    if produced > 0 {
                        self.crc.update(&self.out[..produced]);
                        sink(&self.out[..produced])?;
                    }
                    match status.map_err(|_| self.corrupt(INVALID_DEFLATE))? {
                        Status::StreamEnd => self.state = GzipState::Trailer,
                        Status::Ok => {}
                        Status::BufError => {
                            if used == 0 && produced == 0 {
                                return Err(self.corrupt("deflate stream made no progress"));
                            }
                        }
                    }
                }
                GzipState::Trailer => {
                    let take = (8 - self.pending.len()).min(input.len());
                    self.pending.extend_from_slice(&input[..take]);
                    self.consumed += take as u64;
                    input = &input[take..];
                    if self.pending.len() == 8 {
                        let crc = u32::from_le_bytes([
                            self.pending[0],
                            self.pending[1],
                            self.pending[2],
                            self.pending[3],
                        ]);
                        let size = u32::from_le_bytes([
                            self.pending[4],
                            self.pending[5],
                            self.pending[6],
                            self.pending[7],
                        ]);
                        if crc != self.crc.sum() {
                            return Err(self.corrupt("CRC-32 of the member does not match"));
                        }
                        if size != self.crc.amount() {
                            return Err(self.corrupt("size of the member does not match"));
                        }
                        self.pending.clear();
                        self.state = GzipState::Between;
                    }
                }
            }
        }
        // Output can still be pending inside the inflater when the input ran out exactly.
        if matches!(self.state, GzipState::Body) {
            self.drain(sink)?;
        }
        Ok(())
    }

    /// Pulls output the inflater holds without more input.
    fn drain(&mut self, sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>) -> Result<(), Error> {
        loop {
            let out_before = self.inflate.total_out();
            let status = self
                .inflate
                .decompress(&[], &mut self.out, FlushDecompress::None);
            let produced = usize::try_from(self.inflate.total_out() - out_before)
                .map_err(|_| self.corrupt("decoder overran its output"))?;
            if produced > 0 {
                self.crc.update(&self.out[..produced]);
                sink(&self.out[..produced])?;
            }
            let status = status.map_err(|_| self.corrupt(INVALID_DEFLATE))?;
            if status == Status::StreamEnd {
                self.state = GzipState::Trailer;
                return Ok(());
            }
            if produced == 0 {
                return Ok(());
            }
        }
    }

    /// Puts the decoder between two members, at `offset` of the stream: the bytes from there
    /// on are decoded as one decoder fed the whole stream decodes them when a member ends
    /// there (their error offsets are the stream's). Whole members before `offset` were
    /// decoded elsewhere ([`crate::gzip_members`]); the decoder keeps its buffers.
    pub(crate) fn resume_at(&mut self, offset: u64) {
        self.state = GzipState::Between;
        self.pending.clear();
        self.consumed = offset;
    }

    /// Whether the bytes decoded so far end where a member ends (or before any member).
    pub(crate) fn at_member_boundary(&self) -> bool {
        match self.state {
            GzipState::Between => true,
            GzipState::Header => self.pending.is_empty(),
            GzipState::Body | GzipState::Trailer => false,
        }
    }

    /// The offset in the stream of the next byte to decode.
    pub(crate) fn offset(&self) -> u64 {
        self.consumed
    }

    pub(crate) fn finish(&self) -> Result<(), Error> {
        match self.state {
            GzipState::Between => Ok(()),
            GzipState::Header | GzipState::Body | GzipState::Trailer => {
                Err(ErrorKind::TruncatedCompression {
                    compression: Compression::Gzip,
                    offset: self.consumed,
                    unit: "member",
                }
                .into())
            }
        }
    }
}

enum HeaderParse {
    Incomplete,
    Invalid(&'static str),
    Complete(usize),
}

/// Length of the gzip member header at the start of `bytes` (RFC 1952, section 2.3).
fn gzip_header_len(bytes: &[u8]) -> HeaderParse {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    const RESERVED: u8 = 0xe0;
    if bytes.len() >= 2 && bytes[..2] != GZIP_MAGIC {
        return HeaderParse::Invalid("data after a gzip member is not another gzip member");
    }
    if bytes.len() < 10 {
        return HeaderParse::Incomplete;
    }
    if bytes[2] != 8 {
        return HeaderParse::Invalid("gzip compression method is not deflate");
    }
    let flags = bytes[3];
    if flags & RESERVED != 0 {
        return HeaderParse::Invalid("reserved gzip header flags are set");
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(len) = bytes.get(at..at + 2) else {
            return HeaderParse::Incomplete;
        };
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let Some(rest) = bytes.get(at..) else {
                return HeaderParse::Incomplete;
            };
            match memchr::memchr(0, rest) {
                Some(nul) => at += nul + 1,
                None => return HeaderParse::Incomplete,
            }
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if bytes.len() < at {
        HeaderParse::Incomplete
    } else {
        HeaderParse::Complete(at)
    }
}

/// Where the input stands in the zstd stream's layout (RFC 8878, section 3.1), tracked so that
/// no call to the decoder reaches past the end of a block.
///
/// zstd's streaming decoder drops the output of a call that fails (it updates the output
/// position only on success): given a valid block and a corrupt one in one call it returns the
/// error alone, given them in two calls it returns the block first. Ending every call at a block's
/// end makes the output independent of how the input is split: every block's bytes reach the
/// caller before the next block is looked at, whatever the chunking. The layout is followed
/// only as far as it makes sense; past anything unexpected the bytes go to the decoder as they
/// come, and it names the corruption. The same walk finds where frames end, to cut a stream of
/// several frames for several threads ([`crate::zstd_frames`]).
#[derive(Debug)]
pub(crate) enum ZstdLayout {
    /// Collecting a frame's first bytes: the magic number (4) and, for a zstd frame, the frame
    /// header descriptor (1), or for a skippable frame its size (4).
    FrameStart(Vec<u8>),
    /// Inside a frame header, after its descriptor: this many bytes to the first block.
    HeaderRest { left: u64, checksum: FrameChecksum },
    /// Inside a skippable frame's content: this many bytes to the next frame.
    Skippable { left: u64 },
    /// Inside a frame's content checksum: this many bytes to the next frame.
    Checksum { left: u64 },
    /// Collecting a 3-byte block header.
    BlockHeader(Vec<u8>, FrameChecksum),
    /// Inside a block's content: this many bytes to its end.
    Block {
        left: u64,
        last: bool,
        checksum: FrameChecksum,
    },
    /// Something unexpected: no more cuts.
    Opaque,
}

/// Whether a zstd frame ends with a 4-byte content checksum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameChecksum(bool);

/// Where a step of the walk ([`ZstdLayout::step`]) stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Boundary {
    /// The input ran out first.
    Nothing,
    /// A block's last byte, inside its frame.
    Block,
    /// A frame's last byte (a zstd frame's, after its last block or its checksum, or a
    /// skippable frame's).
    Frame,
}

/// What the stream holds where the walk stands ([`ZstdLayout::unit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// At a frame's first bytes, not yet told what it is.
    Start,
    /// Inside a zstd frame.
    Frame,
    /// Inside a skippable frame.
    Skippable,
    /// Past something unexpected.
    Opaque,
}

const ZSTD_SKIPPABLE_MAGIC: u32 = 0x184D_2A50;

/// The most a block decompresses to (RFC 8878, section 3.1.1.2.4: `Block_Maximum_Size`, at
/// most 128 KiB, raw and RLE blocks included).
pub(crate) const ZSTD_MAX_BLOCK_OUTPUT: u64 = 128 << 10;

impl ZstdLayout {
    pub(crate) fn new() -> ZstdLayout {
        ZstdLayout::FrameStart(Vec::with_capacity(8))
    }

    /// How many of `input`'s first bytes the decoder may take in one call: up to the end of the
    /// current block (or frame), or all of them when none ends within them; and whether one
    /// ends there.
    fn next_call_len(&mut self, input: &[u8]) -> (usize, bool) {
        let mut at = 0;
        while at < input.len() {
            let (taken, boundary) = self.step(&input[at..]);
            at += taken;
            if boundary != Boundary::Nothing {
                return (at, true);
            }
        }
        (input.len(), false)
    }

    /// What the walk stands in.
    pub(crate) fn unit(&self) -> Unit {
        match self {
            ZstdLayout::FrameStart(_) => Unit::Start,
            ZstdLayout::HeaderRest { .. }
            | ZstdLayout::Checksum { .. }
            | ZstdLayout::BlockHeader(..)
            | ZstdLayout::Block { .. } => Unit::Frame,
            ZstdLayout::Skippable { .. } => Unit::Skippable,
            ZstdLayout::Opaque => Unit::Opaque,
        }
    }

    /// Walks `input` up to the next block's or frame's end, or through all of it: the bytes
    /// taken and what ended there. (A frame's first bytes, or a frame header, end nothing.)
    pub(crate) fn step(&mut self, input: &[u8]) -> (usize, Boundary) {
        let mut at = 0;
        while at < input.len() {
            let rest = &input[at..];
            match self {
                ZstdLayout::Opaque => return (input.len(), Boundary::Nothing),
                ZstdLayout::FrameStart(start) => {
                    // The magic number first; then it tells how many bytes to collect.
                    let need = match start.len() {
                        0..4 => 4,
                        _ if is_skippable(start) => 8,
                        _ => 5,
                    };
                    let take = (need - start.len()).min(rest.len());
                    start.extend_from_slice(&rest[..take]);
                    at += take;
                    if start.len() == need && need > 4 {
                        *self = ZstdLayout::after_frame_start(start);
                        if matches!(self, ZstdLayout::Skippable { left: 0 }) {
                            *self = ZstdLayout::new();
                            return (at, Boundary::Frame);
                        }
                    }
                }
                ZstdLayout::HeaderRest { left, checksum } => {
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                    *left -= take as u64;
                    at += take;
                    if *left == 0 {
                        *self = ZstdLayout::BlockHeader(Vec::with_capacity(3), *checksum);
                    }
                }
                ZstdLayout::Skippable { left } | ZstdLayout::Checksum { left } => {
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                    *left -= take as u64;
                    at += take;
                    if *left == 0 {
                        *self = ZstdLayout::new();
                        return (at, Boundary::Frame);
                    }
                }
                ZstdLayout::BlockHeader(header, checksum) => {
                    let take = (3 - header.len()).min(rest.len());
                    header.extend_from_slice(&rest[..take]);
                    at += take;
                    if header.len() == 3 {
                        let bits = u32::from(header[0])
                            | u32::from(header[1]) << 8
                            | u32::from(header[2]) << 16;
                        let last = bits & 1 == 1;
                        let size = match (bits >> 1) & 0b11 {
                            0 | 2 => u64::from(bits >> 3), // raw, compressed
                            1 => 1,                        // RLE: one byte repeated
                            _ => {
                                *self = ZstdLayout::Opaque; // reserved: the decoder refuses it
                                continue;
                            }
                        };
                        *self = ZstdLayout::Block {
                            left: size,
                            last,
                            checksum: *checksum,
                        };
                        if size == 0 {
                            return (at, self.end_block());
                        }
                    }
                }
                ZstdLayout::Block { left, .. } => {
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                    *left -= take as u64;
                    at += take;
                    if *left == 0 {
                        return (at, self.end_block());
                    }
                }
            }
        }
        (input.len(), Boundary::Nothing)
    }

    /// The state after a frame's first bytes (magic number and descriptor, or skippable size).
    fn after_frame_start(start: &[u8]) -> ZstdLayout {
        if is_skippable(start) {
            let size = u32::from_le_bytes([start[4], start[5], start[6], start[7]]);
            return ZstdLayout::Skippable {
                left: u64::from(size),
            };
        }
        if start[..4] != ZSTD_MAGIC {
            return ZstdLayout::Opaque;
        }
        let descriptor = start[4];
        let content_size_flag = descriptor >> 6;
        let single_segment = descriptor & 0b10_0000 != 0;
        let checksum = FrameChecksum(descriptor & 0b100 != 0);
        let window = u64::from(!single_segment);
        let dictionary = [0, 1, 2, 4][usize::from(descriptor & 0b11)];
        let content_size = match content_size_flag {
            0 => u64::from(single_segment),
            1 => 2,
            2 => 4,
            _ => 8,
        };
        match window + dictionary + content_size {
            0 => ZstdLayout::BlockHeader(Vec::with_capacity(3), checksum),
            left => ZstdLayout::HeaderRest { left, checksum },
        }
    }

    /// After a block's last byte: the next block's header, the frame's checksum, or a new
    /// frame; what ended there.
    fn end_block(&mut self) -> Boundary {
        let ZstdLayout::Block { last, checksum, .. } = *self else {
            return Boundary::Nothing;
        };
        let (next, boundary) = match (last, checksum) {
            (false, _) => (
                ZstdLayout::BlockHeader(Vec::with_capacity(3), checksum),
                Boundary::Block,
            ),
            (true, FrameChecksum(true)) => (ZstdLayout::Checksum { left: 4 }, Boundary::Block),
            (true, FrameChecksum(false)) => (ZstdLayout::new(), Boundary::Frame),
        };
        *self = next;
        boundary
    }
}

/// Whether `start` begins with a skippable frame's magic number.
pub(crate) fn is_skippable(start: &[u8]) -> bool {
    start.first_chunk().is_some_and(|magic: &[u8; 4]| {
        u32::from_le_bytes(*magic) & 0xFFFF_FFF0 == ZSTD_SKIPPABLE_MAGIC
    })
}

/// The text of a zstd decoding error. zstd names the same corrupt block "Destination
/// buffer is too small" or "Data corruption detected" depending on how its input came (in
/// one call or in pieces, which decides where the block is decoded to): the first is given
/// as the second. The decoder always has room for its output, so only a block whose output
/// passes what its frame allows can meet a buffer too small: that is data corruption.
fn zstd_corruption(error: &std::io::Error) -> String {
    use zstd::zstd_safe::{get_error_name, zstd_sys::ZSTD_ErrorCode};
    // zstd's error codes are the negated enum values, as a size_t.
    let name = |code: ZSTD_ErrorCode| get_error_name((code as usize).wrapping_neg());
    let text = error.to_string();
    if text == name(ZSTD_ErrorCode::ZSTD_error_dstSize_tooSmall) {
        name(ZSTD_ErrorCode::ZSTD_error_corruption_detected).to_owned()
    } else {
        text
    }
}

pub(crate) struct ZstdDecoder {
    context: zstd::stream::raw::Decoder<'static>,
    layout: ZstdLayout,
    /// The decoder's last hint: 0 when the last frame is complete and flushed.
    hint: usize,
    consumed: u64,
    /// Where the part of the layout being decoded starts (a block with the frame header or
    /// the block end before it, a checksum, or the rest of the stream past anything
    /// unexpected): the offset a corruption is reported at. zstd decodes a block once it has
    /// all of it, so this offset does not depend on how the input is split, as the number of
    /// bytes consumed when the error came does.
    part_start: u64,
    out: Vec<u8>,
}

impl std::fmt::Debug for ZstdDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZstdDecoder")
            .field("hint", &self.hint)
            .field("consumed", &self.consumed)
            .finish_non_exhaustive()
    }
}

impl ZstdDecoder {
    pub(crate) fn new() -> Result<ZstdDecoder, Error> {
        let context = zstd::stream::raw::Decoder::new()
            .map_err(|e| ErrorKind::Internal(format!("cannot create a zstd decoder: {e}")))?;
        Ok(ZstdDecoder {
            context,
            layout: ZstdLayout::new(),
            hint: 0,
            consumed: 0,
            part_start: 0,
            out: vec![0; OUTPUT_BUFFER],
        })
    }

    fn decode(
        &mut self,
        mut input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        while !input.is_empty() {
            let (call, part_ends) = self.layout.next_call_len(input);
            self.decode_call(&input[..call], sink)?;
            input = &input[call..];
            if part_ends {
                self.part_start = self.consumed;
            }
        }
        Ok(())
    }

    /// Decodes `input`, which reaches past no block's end, handing all its output to `sink`.
    fn decode_call(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut source = InBuffer::around(input);
        loop {
            let before = source.pos();
            let mut target = OutBuffer::around(&mut self.out[..]);
            let result = self.context.run(&mut source, &mut target);
            let produced = target.pos();
            self.consumed += (source.pos() - before) as u64;
            match result {
                // A call that moves nothing only hints at the next frame's header: it says
                // nothing about whether the last frame is complete.
                Ok(hint) if produced > 0 || source.pos() > before => self.hint = hint,
                Ok(_) => {}
                Err(e) => {
                    return Err(ErrorKind::CorruptCompression {
                        compression: Compression::Zstd,
                        offset: self.part_start,
                        detail: zstd_corruption(&e),
                    }
                    .into());
                }
            }
            if produced > 0 {
                sink(&self.out[..produced])?;
            }
            // Done when all input is used and the output buffer was not filled up (a full
            // buffer means the decoder may hold more).
            if source.pos() == input.len() && produced < self.out.len() {
                return Ok(());
            }
        }
    }

    /// Counts `len` bytes as consumed without decoding them: a whole frame, at a frame
    /// boundary, that another decoder decompresses ([`crate::zstd_frames`]). The error offsets
    /// of the bytes after it stay those of the whole stream.
    pub(crate) fn skip_frame(&mut self, len: usize) {
        self.consumed += len as u64;
        self.part_start = self.consumed;
    }

    /// Decompresses one whole frame, `frame`, found at `offset` in the stream, handing its
    /// output to `sink`: the output and the error one decoder fed the whole stream gives for
    /// it. The decoder is reset first, and keeps its buffers from one frame to the next.
    pub(crate) fn decode_frame(
        &mut self,
        frame: &[u8],
        offset: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.context
            .reinit()
            .map_err(|e| ErrorKind::Internal(format!("cannot reset a zstd decoder: {e}")))?;
        self.layout = ZstdLayout::new();
        self.hint = 0;
        (self.consumed, self.part_start) = (offset, offset);
        self.decode(frame, sink)?;
        if self.hint == 0 {
            Ok(())
        } else {
            // The walk that cut the frame and zstd disagree on where it ends.
            Err(ErrorKind::Internal(format!(
                "the zstd frame at byte {offset} did not end where its blocks do"
            ))
            .into())
        }
    }

    fn finish(&self) -> Result<(), Error> {
        if self.hint == 0 {
            Ok(())
        } else {
            Err(ErrorKind::TruncatedCompression {
                compression: Compression::Zstd,
                offset: self.consumed,
                unit: "frame",
            }
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn decode_in_chunks(compressed: &[u8], chunk: usize) -> Result<Vec<u8>, Error> {
        let mut decoder = Decoder::new(Compression::detect(compressed))?;
        let mut out = Vec::new();
        for piece in compressed.chunks(chunk.max(1)) {
            decoder.decode(piece, &mut |bytes| {
                out.extend_from_slice(bytes);
                Ok(())
            })?;
        }
        decoder.finish()?;
        Ok(out)
    }

    /// The output handed out before the first error, and that error's text.
    fn decode_until_error(compressed: &[u8], chunk: usize) -> (Vec<u8>, String) {
        let mut decoder = Decoder::new(Compression::detect(compressed)).unwrap();
        let mut out = Vec::new();
        for piece in compressed.chunks(chunk.max(1)) {
            let result = decoder.decode(piece, &mut |bytes| {
                out.extend_from_slice(bytes);
                Ok(())
            });
            if let Err(e) = result {
                return (out, e.kind().to_string());
            }
        }
        let error = decoder.finish().expect_err("the input is corrupt");
        (out, error.kind().to_string())
    }

    #[test]
    fn what_precedes_corruption_comes_out_whatever_the_chunking() {
        let content = b"valid content before a corrupt block";
        let len = u16::try_from(content.len()).unwrap();
        // zstd: a raw block, then a block header of the reserved type.
        let mut zstd_frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00];
        zstd_frame.extend_from_slice(&(u32::from(len) << 3).to_le_bytes()[..3]);
        zstd_frame.extend_from_slice(content);
        zstd_frame.extend_from_slice(&[0xff, 0xff, 0xff]);
        // gzip: a stored block, then a block of the reserved type.
        let mut gzip_member = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0];
        gzip_member.extend_from_slice(&len.to_le_bytes());
        gzip_member.extend_from_slice(&(!len).to_le_bytes());
        gzip_member.extend_from_slice(content);
        gzip_member.extend_from_slice(&[0b111, 0, 0, 0, 0, 0, 0, 0, 0]);
        for input in [zstd_frame.clone(), gzip_member] {
            for chunk in [1, 2, 5, 64, usize::MAX] {
                let (out, error) = decode_until_error(&input, chunk);
                assert_eq!(out, content, "chunks of {chunk}: {error}");
                assert!(error.contains("corrupt"), "chunks of {chunk}: {error}");
            }
        }
        // zstd names the offset of the block it refuses, whatever the chunking: there, the
        // reserved block's header, after the frame header (6) and the raw block.
        let reserved_block = 6 + 3 + content.len();
        for chunk in [1, 2, 5, 64, usize::MAX] {
            let (_, error) = decode_until_error(&zstd_frame, chunk);
            assert!(
                error.contains(&format!("at compressed byte {reserved_block}:")),
                "chunks of {chunk}: {error}"
            );
        }
        // A corrupt compressed block: named at its start, whatever the chunking.
        let data = sample();
        let frames = [
            zstd::encode_all(&data[..50_000], 3).unwrap(),
            zstd::encode_all(&data[50_000..], 3).unwrap(),
        ];
        let mut corrupt = frames.concat();
        let second = frames[0].len();
        // Past the second frame's header (4 + 1 + window + content size: at most 14) and its
        // first block's header.
        corrupt[second + 20..second + 26].copy_from_slice(&[0xff, 0, 0xff, 0, 0xff, 0]);
        let errors: Vec<String> = [1, 3, 100, 4096, usize::MAX]
            .into_iter()
            .map(|chunk| decode_until_error(&corrupt, chunk).1)
            .collect();
        assert!(
            errors[0].contains(&format!("at compressed byte {second}:")),
            "{errors:?}"
        );
        assert!(errors.iter().all(|error| *error == errors[0]), "{errors:?}");
    }

    #[test]
    fn a_corrupt_zstd_block_gets_one_text_whatever_the_chunking() {
        // A frame that declares its size (one segment, as `zstd::bulk` writes it): zstd names
        // some corruptions of it "Destination buffer is too small" when a block comes in
        // pieces, "Data corruption detected" when it comes whole. Each of its first bytes
        // flipped in turn (the fuzz target found one: 8 threads, ranges of 16, chunks of 50).
        let data: Vec<u8> = (0..3000_u32)
            .flat_map(|i| format!("{i},x\n").into_bytes())
            .collect();
        let frame = zstd::bulk::compress(&data, 3).unwrap();
        let outcome = |corrupt: &[u8], chunk: usize| {
            let mut decoder = Decoder::new(Compression::Zstd).unwrap();
            corrupt
                .chunks(chunk)
                .try_for_each(|piece| decoder.decode(piece, &mut |_| Ok(())))
                .and_then(|()| decoder.finish())
                .map_err(|error| error.to_string())
        };
        for at in 0..frame.len().min(64) {
            let mut corrupt = frame.clone();
            corrupt[at] ^= 0x10;
            let outcomes: Vec<_> = [usize::MAX, 1, 7, 50]
                .into_iter()
                .map(|chunk| outcome(&corrupt, chunk))
                .collect();
            assert!(
                outcomes.iter().all(|o| *o == outcomes[0]),
                "byte {at}: {outcomes:?}"
            );
        }
        // The byte that gave the two texts.
        let mut corrupt = frame;
        corrupt[5] ^= 0x10;
        let error = outcome(&corrupt, 7).unwrap_err();
        assert!(error.ends_with("Data corruption detected"), "{error}");
    }

    #[test]
    fn zstd_checksums_and_skippable_frames_decode_whatever_the_chunking() {
        let data = sample();
        let mut encoder = zstd::Encoder::new(Vec::new(), 3).unwrap();
        encoder.include_checksum(true).unwrap();
        encoder.write_all(&data[..70_000]).unwrap();
        let mut stream = encoder.finish().unwrap();
        // A skippable frame (magic 0x184D2A5?, size, content) between two frames.
        stream.extend_from_slice(&[0x53, 0x2a, 0x4d, 0x18, 5, 0, 0, 0, 1, 2, 3, 4, 5]);
        let mut encoder = zstd::Encoder::new(Vec::new(), 19).unwrap();
        encoder.set_pledged_src_size(Some(130_000)).unwrap();
        encoder.write_all(&data[70_000..200_000]).unwrap();
        stream.extend(encoder.finish().unwrap());
        stream.extend(zstd::encode_all(&data[200_000..], 1).unwrap());
        for chunk in [1, 3, 4096, usize::MAX] {
            assert_eq!(
                decode_in_chunks(&stream, chunk).unwrap(),
                data,
                "chunks of {chunk}"
            );
        }
        // A flipped bit in the checksum fails at the end of its frame, after its content.
        let mut bad_checksum = zstd::Encoder::new(Vec::new(), 3).unwrap();
        bad_checksum.include_checksum(true).unwrap();
        bad_checksum.write_all(&data[..1000]).unwrap();
        let mut bad_checksum = bad_checksum.finish().unwrap();
        *bad_checksum.last_mut().unwrap() ^= 1;
        for chunk in [1, 7, usize::MAX] {
            let (out, error) = decode_until_error(&bad_checksum, chunk);
            assert_eq!(out, &data[..1000], "chunks of {chunk}");
            assert!(error.contains("corrupt"), "{error}");
        }
    }

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| format!("{i},{}\n", i % 7).into_bytes())
            .collect()
    }

    #[test]
    fn gzip_members_decode_whatever_the_chunking() {
        let data = sample();
        let mut two_members = gzip(&data[..1000]);
        two_members.extend(gzip(&data[1000..]));
        for chunk in [1, 7, 4096, usize::MAX] {
            assert_eq!(decode_in_chunks(&two_members, chunk).unwrap(), data);
        }
    }

    #[test]
    fn a_bad_gzip_header_is_named_at_its_first_byte_whatever_the_chunking() {
        let first = gzip(b"a,b\n1,2\n");
        let mut not_gzip = first.clone();
        not_gzip.extend_from_slice(b"this is not gzip");
        let mut not_deflate = first.clone();
        not_deflate.extend_from_slice(&[0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 0xff]);
        for stream in [not_gzip, not_deflate] {
            for chunk in [1, 2, 3, 7, first.len() + 1, usize::MAX] {
                let (_, error) = decode_until_error(&stream, chunk);
                let at = format!("at compressed byte {}:", first.len());
                assert!(error.contains(&at), "chunks of {chunk}: {error}");
            }
        }
    }

    /// The inflater names a corruption in other words depending on how much input a call
    /// had; the error is the same whatever the chunking (a fuzz finding: a bad distance).
    #[test]
    fn a_corrupt_deflate_stream_is_the_same_error_whatever_the_chunking() {
        let mut stream = vec![0x1f, 0x8b, 8, 0, 0x32, 0xbe, 0x33, 0x33, 0x33, 0x55];
        stream.extend_from_slice(&[0x1b, 0x80, 0x33, 0x30, 0x03, 0xff, 0x8b, 0x0b, 0x2d, 0]);
        stream.extend(std::iter::repeat_n(b'x', 300));
        let errors: Vec<String> = [1, 12, 255, usize::MAX]
            .into_iter()
            .map(|chunk| decode_until_error(&stream, chunk).1)
            .collect();
        assert!(
            errors[0].contains("at compressed byte 15: the deflate data is invalid"),
            "{errors:?}"
        );
        assert!(errors.iter().all(|error| *error == errors[0]), "{errors:?}");
    }

    /// A decoder resumed between two members decodes the rest of the stream as one decoder
    /// fed the whole stream does, and tells whether it stopped where a member ends.
    #[test]
    fn a_gzip_decoder_resumes_between_members() {
        let data = sample();
        let first = gzip(&data[..1000]);
        let second = gzip(&data[1000..]);
        let mut resumed = GzipDecoder::new();
        resumed.resume_at(first.len() as u64);
        assert!(resumed.at_member_boundary());
        let mut out = Vec::new();
        resumed
            .decode(&second[..second.len() - 3], &mut |bytes| {
                out.extend_from_slice(bytes);
                Ok(())
            })
            .unwrap();
        assert!(!resumed.at_member_boundary());
        resumed
            .decode(&second[second.len() - 3..], &mut |bytes| {
                out.extend_from_slice(bytes);
                Ok(())
            })
            .unwrap();
        assert!(resumed.at_member_boundary());
        assert_eq!(resumed.offset(), (first.len() + second.len()) as u64);
        assert_eq!(out, data[1000..]);
        resumed.finish().unwrap();
        // A corrupt CRC in the second member: the error one decoder gives, at its offset.
        let mut corrupt = second.clone();
        let crc_at = corrupt.len() - 8;
        corrupt[crc_at] ^= 1;
        let (_, whole_error) = decode_until_error(&[&first[..], &corrupt[..]].concat(), 4096);
        resumed.resume_at(first.len() as u64);
        let error = resumed.decode(&corrupt, &mut |_| Ok(())).unwrap_err();
        assert_eq!(error.to_string(), whole_error);
    }

    #[test]
    fn gzip_header_with_name_and_comment_fields() {
        let mut encoder = flate2::GzBuilder::new()
            .filename("data.csv")
            .comment("a comment")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), flate2::Compression::default());
        encoder.write_all(b"a,b\n1,2\n").unwrap();
        let compressed = encoder.finish().unwrap();
        for chunk in [1, 3, 1000] {
            assert_eq!(decode_in_chunks(&compressed, chunk).unwrap(), b"a,b\n1,2\n");
        }
    }

    #[test]
    fn truncated_gzip_is_an_error_at_every_cut() {
        let compressed = gzip(b"a,b\n1,2\n3,4\n");
        for cut in 2..compressed.len() {
            let err = decode_in_chunks(&compressed[..cut], 5).unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::TruncatedCompression { .. } | ErrorKind::CorruptCompression { .. }
                ),
                "cut at {cut}: {err}"
            );
        }
    }

    #[test]
    fn gzip_with_a_wrong_crc_is_corrupt() {
        let mut compressed = gzip(b"hello,world\n");
        let crc_at = compressed.len() - 8;
        compressed[crc_at] ^= 0xff;
        let err = decode_in_chunks(&compressed, 3).unwrap_err();
        assert!(err.to_string().contains("CRC-32"), "{err}");
    }

    #[test]
    fn trailing_garbage_after_gzip_is_corrupt() {
        let mut compressed = gzip(b"a\n");
        compressed.extend_from_slice(b"garbage");
        let err = decode_in_chunks(&compressed, 4).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::CorruptCompression { .. }));
    }

    #[test]
    fn zstd_frames_decode_whatever_the_chunking() {
        let data = sample();
        let mut frames = zstd::encode_all(&data[..5000], 3).unwrap();
        frames.extend(zstd::encode_all(&data[5000..], 3).unwrap());
        for chunk in [1, 13, 65536, usize::MAX] {
            assert_eq!(decode_in_chunks(&frames, chunk).unwrap(), data);
        }
    }

    #[test]
    fn zstd_truncated_or_garbage_is_an_error() {
        let frame = zstd::encode_all(&sample()[..100_000], 3).unwrap();
        let err = decode_in_chunks(&frame[..frame.len() / 2], 4096).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::TruncatedCompression { .. }),
            "{err}"
        );
        let mut garbage = ZSTD_MAGIC.to_vec();
        garbage.extend((0..1000u32).map(|i| (i * 31 % 251) as u8));
        let err = decode_in_chunks(&garbage, 100).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::CorruptCompression { .. }),
            "{err}"
        );
    }
}
