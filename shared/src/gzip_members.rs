//! A gzip stream of BGZF members, cut into batches of whole members for several threads.
//!
//! A gzip member is decoded without the members before it (RFC 1952, section 2.2), but where
//! a member ends is known only by inflating it, unless its header says so. BGZF's does: each
//! member carries an extra subfield `BC` whose value is the member's size less one (`BSIZE`;
//! the SAM/BAM format specification, section 4.1, "The BGZF compression format"), so no
//! member is longer than 64 KiB. `bgzip` (htslib) writes such streams, and any gzip reader
//! reads them as a gzip of several members. So the feeding thread walks the headers
//! ([`MemberCutter`]) and cuts out batches of whole members, which go out like zstd frames
//! ([`crate::zstd_frames`]: the same [`Piece`]s and jobs): a worker that waits for work
//! inflates a batch into pieces of the range size, and a batch no worker took is inflated by
//! the feeding thread, streaming, when its turn comes. (The parallel processor cuts batches
//! from 2 threads on: see `MEMBER_THREADS` in [`crate::parallel`].)
//!
//! The output and the errors are those of one decoder fed the whole stream: a batch's decoder
//! starts at the stream's offset of its first byte
//! ([`GzipDecoder::resume_at`](crate::decompress::GzipDecoder::resume_at)). Whatever the walk
//! cannot follow (a member whose header gives no size: plain gzip, `cat` of gzip files) goes
//! to the feeding thread's decoder, and so does the rest of the stream after it. `BSIZE` is
//! the header's word, not a fact: a batch whose last member does not end where the sizes said
//! (its decoder stops inside a member), or whose output would pass
//! [`MAX_FRAME_OUTPUT`](crate::zstd_frames::MAX_FRAME_OUTPUT), is decoded again by the
//! feeding thread's own decoder, which then goes on through the rest of the stream as one
//! decoder would.

use crate::compression::GZIP_MAGIC;
use crate::error::Error;
use crate::zstd_frames::{Bytes, Codec, CutFrame, Piece, SpareFrames};

/// The fixed part of a gzip header with the extra field's length: ID1, ID2, CM, FLG, MTIME,
/// XFL, OS, XLEN.
const FIXED_HEADER: usize = 12;

/// FLG's FEXTRA bit.
const FEXTRA: u8 = 0x04;

/// Where the walk stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taking {
    /// At a member's start, or in its header, until its size is known.
    Header,
    /// `remaining` more bytes of a member gathered into the batch.
    Gather,
    /// `remaining` more bytes of a member passed on to the feeding thread's decoder.
    Stream,
    /// Every byte from here on passed on: the walk cannot follow.
    Rest,
}

/// Cuts a gzip stream, fed in chunks of any size, into [`Piece`]s: batches of whole BGZF
/// members, and bytes for the feeding thread's decoder.
#[derive(Debug)]
pub(crate) struct MemberCutter {
    taking: Taking,
    /// The header of the member being walked, while its size is not known.
    header: Vec<u8>,
    /// Bytes of the member being walked still to come, once its size is known.
    remaining: usize,
    /// Whole members gathered (then the member being gathered), from `batch_offset`.
    batch: Vec<u8>,
    batch_offset: u64,
    /// The length of the batch's whole members.
    batch_whole: usize,
    /// What the batch's whole members decompress to, by their trailers (ISIZE).
    batch_output: u64,
    /// The bytes walked so far.
    offset: u64,
    /// Buffers of batches decompressed, to gather batches into again.
    spare: SpareFrames,
    /// A batch ends with the member that brings it to this many bytes.
    batch_bytes: usize,
}

impl MemberCutter {
    /// A cutter of batches of at least `batch_bytes` of whole members (or the last members).
    pub(crate) fn new(batch_bytes: usize) -> MemberCutter {
        MemberCutter {
            taking: Taking::Header,
            header: Vec::new(),
            remaining: 0,
            batch: Vec::new(),
            batch_offset: 0,
            batch_whole: 0,
            batch_output: 0,
            offset: 0,
            spare: SpareFrames::default(),
            batch_bytes: batch_bytes.max(1),
        }
    }

    /// Walks `chunk`, the stream's next bytes, handing each piece to `take` in order. When
    /// `gather` is false, a member that starts in `chunk` is passed on, not gathered (no
    /// thread could take it: the first members, decoded to sniff the text).
    pub(crate) fn cut<'a>(
        &mut self,
        chunk: &'a [u8],
        gather: bool,
        take: &mut dyn FnMut(Piece<'a>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut rest = chunk;
        while !rest.is_empty() {
            match self.taking {
                Taking::Rest => {
                    self.offset += rest.len() as u64;
                    take(Piece::Stream(Bytes::Borrowed(rest)))?;
                    rest = &[];
                }
                Taking::Header => {
                    let used = self.walk_header(rest);
                    rest = &rest[used..];
                    self.offset += used as u64;
                    match member_size(&self.header) {
                        HeaderSize::Incomplete => {}
                        HeaderSize::Unknown => {
                            self.taking = Taking::Rest;
                            self.flush_batch(take)?;
                            let header = std::mem::take(&mut self.header);
                            take(Piece::Stream(Bytes::Gathered(header)))?;
                        }
                        HeaderSize::Member(size) => {
                            self.remaining = size - self.header.len();
                            if gather {
                                self.taking = Taking::Gather;
                                self.batch.extend_from_slice(&self.header);
                                self.header.clear();
                            } else {
                                self.taking = Taking::Stream;
                                self.flush_batch(take)?;
                                let header = std::mem::take(&mut self.header);
                                take(Piece::Stream(Bytes::Gathered(header)))?;
                            }
                            if self.remaining == 0 {
                                self.member_ended(take)?;
                            }
                        }
                    }
                }
                Taking::Gather | Taking::Stream => {
                    let len = self.remaining.min(rest.len());
                    let (member, after) = rest.split_at(len);
                    rest = after;
                    self.offset += len as u64;
                    self.remaining -= len;
                    if self.taking == Taking::Gather {
                        self.batch.extend_from_slice(member);
                    } else {
                        take(Piece::Stream(Bytes::Borrowed(member)))?;
                    }
                    if self.remaining == 0 {
                        self.member_ended(take)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds to the header the bytes of `input` it needs, as far as they go; how many.
    fn walk_header(&mut self, input: &[u8]) -> usize {
        if self.header.is_empty() && self.batch.is_empty() {
            self.batch_offset = self.offset;
        }
        let wanted = header_len(&self.header).unwrap_or(FIXED_HEADER);
        let used = wanted.saturating_sub(self.header.len()).min(input.len());
        self.header.extend_from_slice(&input[..used]);
        used
    }

    /// The member walked has ended: the batch, once large enough, goes out.
    fn member_ended<'a>(
        &mut self,
        take: &mut dyn FnMut(Piece<'a>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.taking == Taking::Gather {
            self.batch_whole = self.batch.len();
            let trailer = self.batch.len().saturating_sub(4);
            if let Some(&[a, b, c, d]) = self.batch.get(trailer..) {
                self.batch_output += u64::from(u32::from_le_bytes([a, b, c, d]));
            }
            if self.batch.len() >= self.batch_bytes {
                self.flush_batch(take)?;
            }
        } else {
            self.batch_offset = self.offset;
        }
        self.taking = Taking::Header;
        Ok(())
    }

    /// Hands out the batch's whole members, if any.
    fn flush_batch<'a>(
        &mut self,
        take: &mut dyn FnMut(Piece<'a>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.batch_whole == 0 {
            return Ok(());
        }
        let next = self.next_buffer();
        let mut bytes = std::mem::replace(&mut self.batch, next);
        // Bytes of a member not ended go on in the new batch (only at the end of input).
        self.batch.extend_from_slice(&bytes[self.batch_whole..]);
        bytes.truncate(self.batch_whole);
        let frame = CutFrame {
            offset: self.batch_offset,
            output_bound: usize::try_from(self.batch_output).unwrap_or(usize::MAX),
            codec: Codec::Gzip,
            bytes,
        };
        self.batch_offset += frame.bytes.len() as u64;
        self.batch_whole = 0;
        self.batch_output = 0;
        take(Piece::Frame(frame))
    }

    /// A buffer to gather the next batch into: with room for a batch's bytes and a member
    /// (at most 64 KiB in BGZF).
    fn next_buffer(&mut self) -> Vec<u8> {
        self.spare.take(self.batch_bytes.saturating_add(64 << 10))
    }

    /// Takes back the buffer of a batch handed out, once decompressed, to gather another
    /// batch into.
    pub(crate) fn recycle(&mut self, bytes: Vec<u8>) {
        self.spare.keep(bytes);
    }

    /// The input has ended: the batch's whole members, then the bytes of a member the input
    /// ended inside, for the feeding thread's decoder (which reports it truncated).
    pub(crate) fn finish<'a>(
        &mut self,
        take: &mut dyn FnMut(Piece<'a>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.flush_batch(take)?;
        let mut left = std::mem::take(&mut self.batch);
        left.extend_from_slice(&self.header);
        self.header.clear();
        if left.is_empty() {
            return Ok(());
        }
        take(Piece::Stream(Bytes::Gathered(left)))
    }
}

/// What a member's header says of the member's size.
#[derive(Debug, PartialEq, Eq)]
enum HeaderSize {
    /// More bytes are needed to tell.
    Incomplete,
    /// It does not say (not a BGZF header, or not gzip at all).
    Unknown,
    /// The whole member's size, header and trailer included.
    Member(usize),
}

/// The length of the header up to the end of its extra field, once `header` holds its fixed
/// part; `None` before.
fn header_len(header: &[u8]) -> Option<usize> {
    let xlen = header.get(10..12)?;
    let extra = if header[3] & FEXTRA != 0 {
        usize::from(u16::from_le_bytes([xlen[0], xlen[1]]))
    } else {
        0
    };
    Some(FIXED_HEADER + extra)
}

/// The size a BGZF member's header gives, from its first bytes (the fixed part and the extra
/// field: [`header_len`]).
fn member_size(header: &[u8]) -> HeaderSize {
    if header.len() >= 2 && header[..2] != GZIP_MAGIC {
        return HeaderSize::Unknown;
    }
    if header.len() >= 4 && (header[2] != 8 || header[3] & FEXTRA == 0) {
        // Not deflate, or no extra field: no size to read.
        return HeaderSize::Unknown;
    }
    let Some(len) = header_len(header) else {
        return HeaderSize::Incomplete;
    };
    if header.len() < len {
        return HeaderSize::Incomplete;
    }
    // BGZF's flags are FEXTRA alone: a name, comment or header CRC would come after the
    // extra field, and BSIZE counts them, but this walk does not look for them.
    if header[3] != FEXTRA {
        return HeaderSize::Unknown;
    }
    let mut fields = &header[FIXED_HEADER..len];
    while let [si1, si2, l1, l2, rest @ ..] = fields {
        let field_len = usize::from(u16::from_le_bytes([*l1, *l2]));
        let Some(data) = rest.get(..field_len) else {
            return HeaderSize::Unknown;
        };
        if (*si1, *si2, field_len) == (b'B', b'C', 2) {
            let size = usize::from(u16::from_le_bytes([data[0], data[1]])) + 1;
            // Room for the header, an empty deflate block (2 bytes) and the trailer.
            return if size >= len + 2 + 8 {
                HeaderSize::Member(size)
            } else {
                HeaderSize::Unknown
            };
        }
        fields = &rest[field_len..];
    }
    HeaderSize::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `data` as BGZF members of at most `block` bytes of input each (the format `bgzip`
    /// writes), and the empty member that ends a BGZF file.
    pub(crate) fn bgzf(data: &[u8], block: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in data.chunks(block.max(1)) {
            out.extend(bgzf_member(piece));
        }
        out.extend(bgzf_member(&[]));
        out
    }

    fn bgzf_member(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflate.write_all(data).unwrap();
        let deflated = deflate.finish().unwrap();
        let size = 18 + deflated.len() + 8;
        let mut member = vec![
            0x1f, 0x8b, 8, FEXTRA, 0, 0, 0, 0, 0, 0xff, 6, 0, b'B', b'C', 2, 0,
        ];
        member.extend_from_slice(&u16::try_from(size - 1).unwrap().to_le_bytes());
        member.extend_from_slice(&deflated);
        let mut crc = flate2::Crc::new();
        crc.update(data);
        member.extend_from_slice(&crc.sum().to_le_bytes());
        member.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        member
    }

    /// What the cutter makes of `stream` fed in chunks of `chunk`: the batches (offset,
    /// bytes) and everything passed on, as one byte string.
    fn cut_in_chunks(stream: &[u8], chunk: usize, gather: bool) -> (Vec<(u64, Vec<u8>)>, Vec<u8>) {
        let mut cutter = MemberCutter::new(100_000);
        let mut batches = Vec::new();
        let mut passed = Vec::new();
        let mut take = |piece: Piece<'_>| {
            match piece {
                Piece::Frame(frame) => batches.push((frame.offset, frame.bytes)),
                Piece::Stream(bytes) | Piece::Skippable(bytes) => passed.extend_from_slice(&bytes),
            }
            Ok(())
        };
        for piece in stream.chunks(chunk.max(1)) {
            cutter.cut(piece, gather, &mut take).unwrap();
        }
        cutter.finish(&mut take).unwrap();
        (batches, passed)
    }

    fn text(rows: u32) -> Vec<u8> {
        (0..rows)
            .flat_map(|i| format!("{i},row {i},{}\n", i * 7).into_bytes())
            .collect()
    }

    #[test]
    fn whole_members_are_batched_whatever_the_chunking() {
        let stream = bgzf(&text(200_000), 65_280);
        for chunk in [1, 7, 4096, 100_000, stream.len()] {
            let (batches, passed) = cut_in_chunks(&stream, chunk, true);
            assert!(passed.is_empty(), "chunk {chunk}");
            assert!(batches.len() > 1, "chunk {chunk}");
            let mut at = 0;
            for (offset, bytes) in &batches {
                assert_eq!(*offset, at as u64);
                assert_eq!(&stream[at..at + bytes.len()], &bytes[..]);
                at += bytes.len();
            }
            assert_eq!(at, stream.len());
        }
    }

    #[test]
    fn members_not_gathered_are_passed_on_in_order() {
        let stream = bgzf(&text(20_000), 10_000);
        let (batches, passed) = cut_in_chunks(&stream, 999, false);
        assert!(batches.is_empty());
        assert_eq!(passed, stream);
    }

    #[test]
    fn what_gives_no_size_goes_on_to_the_decoder_with_everything_after() {
        let bgzf_part = bgzf(&text(50_000), 65_280);
        let mut plain = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut plain, &text(100)).unwrap();
        let plain = plain.finish().unwrap();
        let mut stream = bgzf_part.clone();
        stream.extend_from_slice(&plain);
        stream.extend_from_slice(&bgzf(&text(100), 1000));
        let (batches, passed) = cut_in_chunks(&stream, 5000, true);
        let in_batches: usize = batches.iter().map(|(_, b)| b.len()).sum();
        assert_eq!(in_batches, bgzf_part.len());
        assert_eq!(passed, stream[bgzf_part.len()..]);
    }

    #[test]
    fn a_stream_ending_inside_a_member_passes_that_member_on() {
        let stream = bgzf(&text(50_000), 65_280);
        let cut_at = stream.len() - 40;
        let (batches, passed) = cut_in_chunks(&stream[..cut_at], 3000, true);
        let in_batches: usize = batches.iter().map(|(_, b)| b.len()).sum();
        assert_eq!(&stream[in_batches..cut_at], &passed[..]);
        assert!(in_batches > 0 && in_batches < cut_at);
    }

    #[test]
    fn header_sizes() {
        let member = bgzf_member(b"abc");
        assert_eq!(member_size(&member[..11]), HeaderSize::Incomplete);
        assert_eq!(member_size(&member[..18]), HeaderSize::Member(member.len()));
        let mut named = member.clone();
        named[3] |= 0x08;
        assert_eq!(member_size(&named[..18]), HeaderSize::Unknown);
        let mut tiny = member.clone();
        tiny[16..18].copy_from_slice(&10u16.to_le_bytes());
        assert_eq!(member_size(&tiny[..18]), HeaderSize::Unknown);
        assert_eq!(member_size(b"PK"), HeaderSize::Unknown);
    }
}
