//! Parallel parsing (issue 13): any input, any thread count, any range size gives the
//! analysis, or the error, of one thread.
//!
//! Input layout: byte 0 chooses the configuration (as in the `chunked` target: format and
//! delimiter overrides, the key hint, small limits; and bit 5: the object is the rest
//! gzipped, so that the feeding thread decompresses and parses while it waits), byte 1 the
//! thread count (1 to 8, its low three bits; with bit 3 set, a gzipped object is written in
//! BGZF members of 1 to 241 bytes of the rest, by its high four bits: from 2 threads, the
//! threads inflate batches of them), byte 2 the range size (1 to 256 bytes) and byte 3 the
//! chunks both processors are fed (1 to 255 bytes, or 0: the whole input at once); the rest
//! is the object's bytes.

#![no_main]

use std::io::Write;
use std::num::NonZeroUsize;

use flate2::Compression;
use flate2::write::GzEncoder;

use libfuzzer_sys::fuzz_target;
use shared::{Config, Format, MalformedLimits, ParallelProcessor, Parallelism, Processor};

/// Key hints, as the pipeline passes the object key's name.
const HINTS: [Option<&str>; 4] = [None, Some("data.csv"), Some("data.tsv"), Some("data.jsonl")];

fn config(control: u8) -> Config {
    let mut config = Config {
        format: match control & 0b11 {
            1 => Some(Format::Csv),
            2 => Some(Format::JsonLines),
            _ => None,
        },
        delimiter: match (control >> 2) & 0b11 {
            1 => Some(b','),
            2 => Some(b'\t'),
            3 => Some(b';'),
            _ => None,
        },
        ..Config::default()
    };
    if control & 0b1_0000 != 0 {
        // Tiny limits: records cross the sniff window, the record-size limit, the column
        // limit and the malformed count limit often.
        config.sniff_bytes = 32;
        config.max_record_bytes = 64;
        config.max_columns = 3;
        config.malformed_examples = 2;
        config.malformed_limits = MalformedLimits {
            max_count: Some(3),
            max_share: Some(0.5),
        };
    }
    config
}

/// The outcome in a comparable form: the analysis' `Debug` text, or the error's name and
/// message.
fn render(result: Result<shared::Analysis, shared::Error>) -> String {
    match result {
        Ok(analysis) => format!("{analysis:?}"),
        Err(error) => format!("{}: {error}", error.name()),
    }
}

/// `data` in BGZF members of `block` bytes of it each, and BGZF's empty end member: gzip
/// members whose extra subfield `BC` holds the member's size less one.
fn bgzf(data: &[u8], block: usize) -> Vec<u8> {
    let mut stream = Vec::new();
    for piece in data.chunks(block).chain([&[][..]]) {
        let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), Compression::fast());
        deflate.write_all(piece).expect("deflate to memory");
        let deflated = deflate.finish().expect("deflate to memory");
        let bsize = u16::try_from(18 + deflated.len() + 8 - 1).expect("a small member");
        stream.extend_from_slice(&[
            0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, b'B', b'C', 2, 0,
        ]);
        stream.extend_from_slice(&bsize.to_le_bytes());
        stream.extend_from_slice(&deflated);
        let mut crc = flate2::Crc::new();
        crc.update(piece);
        stream.extend_from_slice(&crc.sum().to_le_bytes());
        stream.extend_from_slice(
            &u32::try_from(piece.len())
                .expect("a small member")
                .to_le_bytes(),
        );
    }
    stream
}

fuzz_target!(|input: &[u8]| {
    let [control, threads, range, chunk, data @ ..] = input else {
        return;
    };
    let config = config(*control);
    let gzipped;
    let data = if control & 0b10_0000 == 0 {
        data
    } else if threads & 0b1000 != 0 {
        gzipped = bgzf(data, usize::from(threads >> 4) * 16 + 1);
        &gzipped[..]
    } else {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).expect("gzip to memory");
        gzipped = encoder.finish().expect("gzip to memory");
        &gzipped[..]
    };
    let hint = HINTS[usize::from(control >> 6)];
    let parallelism = Parallelism {
        threads: NonZeroUsize::new(usize::from(threads % 8) + 1).expect("at least one"),
        range_bytes: NonZeroUsize::new(usize::from(*range) + 1).expect("at least one"),
    };
    let chunk = match chunk {
        0 => data.len().max(1),
        size => usize::from(*size),
    };
    let mut processor = Processor::new(config.clone(), hint);
    let one = data
        .chunks(chunk)
        .try_for_each(|piece| processor.feed(piece))
        .and_then(|()| processor.finish());
    let mut parallel = ParallelProcessor::new(config, hint, parallelism);
    let many = data
        .chunks(chunk)
        .try_for_each(|piece| parallel.feed(piece))
        .and_then(|()| parallel.finish());
    assert_eq!(
        render(many),
        render(one),
        "{parallelism:?}, chunks of {chunk}"
    );
});
