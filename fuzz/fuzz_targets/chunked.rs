//! Chunking invariance: the analysis of an input never depends on how its bytes are split
//! into `feed` calls, and no input makes the core panic.
//!
//! Input layout: byte 0 chooses the configuration (format and delimiter overrides, the key
//! hint, small limits that push records across the sniffing and record-size edges), byte 1
//! the chunking pattern; the rest is the object's bytes. The input is processed once in a
//! single `feed` and once in chunks; both results must be equal (same `Debug` rendering of
//! the analysis, or errors with the same name).

#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::{Config, Format, Processor};

/// Key hints, as the pipeline passes the object key's name.
const HINTS: [Option<&str>; 8] = [
    None,
    Some("data.csv"),
    Some("data.tsv"),
    Some("data.jsonl"),
    Some("data.csv.gz"),
    Some("data.ndjson.zst"),
    Some("data.json"),
    Some("incoming/no extension"),
];

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
        // Tiny limits: records cross the sniff window and the record-size limit often.
        config.sniff_bytes = 64;
        config.max_record_bytes = 256;
        config.max_columns = 4;
        config.malformed_examples = 2;
    }
    config
}

/// Chunk lengths for pattern `pattern`: fixed small sizes, a power of two, or a
/// pseudo-random sequence (xorshift seeded by the pattern) including empty chunks.
fn chunk_lengths(pattern: u8, total: usize) -> Vec<usize> {
    let mut lengths = Vec::new();
    let mut left = total;
    let mut state = u64::from(pattern).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while left > 0 {
        let len = match pattern % 8 {
            0 => 1,
            1 => 2,
            2 => 3,
            3 => 7,
            4 => 1 << (pattern / 8 % 13),
            _ => {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // 0..=63 with 0 meaning an empty feed, which must be harmless.
                usize::try_from(state % 64).expect("below 64")
            }
        };
        let len = len.min(left);
        lengths.push(len);
        left -= len;
    }
    lengths
}

/// The outcome in a comparable form: the analysis' `Debug` text, or the error's name.
fn run(
    config: &Config,
    hint: Option<&str>,
    data: &[u8],
    lengths: &[usize],
) -> Result<String, String> {
    let mut processor = Processor::new(config.clone(), hint);
    let mut offset = 0;
    for &len in lengths {
        if let Err(error) = processor.feed(&data[offset..offset + len]) {
            return Err(error.name().as_str().to_owned());
        }
        offset += len;
    }
    assert_eq!(offset, data.len(), "chunking must cover the input");
    processor
        .finish()
        .map(|analysis| format!("{analysis:?}"))
        .map_err(|error| error.name().as_str().to_owned())
}

fuzz_target!(|input: &[u8]| {
    let [control, pattern, data @ ..] = input else {
        return;
    };
    let config = config(*control);
    let hint = HINTS[usize::from(control >> 5)];

    let whole = run(&config, hint, data, &[data.len()]);
    let chunked = run(&config, hint, data, &chunk_lengths(*pattern, data.len()));
    match (&whole, &chunked) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "analysis differs between one feed and chunks"),
        (Err(a), Err(b)) => assert_eq!(a, b, "error name differs between one feed and chunks"),
        _ => panic!("one feed gave {whole:?}, chunks gave {chunked:?}"),
    }
});
