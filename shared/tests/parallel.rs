//! Parallel parsing (issue 13): for every input, thread count and range size, the report
//! and the error are exactly the one-thread ones.

use std::fs;
use std::io::Read;
use std::num::NonZeroUsize;
use std::time::Duration;

use proptest::prelude::*;
use shared::{
    Analysis, Config, Error, Format, MalformedLimits, ParallelProcessor, Parallelism, Processing,
    Report, Source, profile_parallel,
};

use crate::support::{
    analyze, analyze_pieces, bgzf, bgzf_member, corpora, gzip, lenient, outcome, zstd,
};

/// The thread counts the issue names.
const THREADS: [usize; 4] = [1, 2, 3, 8];

/// The report's JSON (with fixed timing) or the error's name and message.
fn rendered(result: Result<Analysis, Error>) -> Result<String, String> {
    result
        .map(|analysis| {
            let processing = Processing::measure("test", Duration::from_secs(1), &analysis);
            let report = Report::new(Source::default(), &analysis, processing);
            String::from_utf8(report.to_json()).expect("the report is UTF-8")
        })
        .map_err(|error| format!("{}: {error}", error.name()))
}

/// How the tests feed an input: whole, or in chunks of 1, 7 and 4,096 bytes.
const CHUNKS: [usize; 4] = [usize::MAX, 1, 7, 4_096];

/// How the tests hand an input to a [`ParallelProcessor`]: fed in chunks of the sizes in
/// [`CHUNKS`], or read by [`ParallelProcessor::feed_reader`] from a [`Trickle`] of reads of
/// 1, 7 and 4,096 bytes (compressed text is fed each read as a chunk, so that a corrupt
/// stream's error names the offset the same chunks give one thread).
#[derive(Debug, Clone, Copy)]
enum Handover {
    Fed(usize),
    Read(usize),
}

const HANDOVERS: [Handover; 7] = [
    Handover::Fed(CHUNKS[0]),
    Handover::Fed(CHUNKS[1]),
    Handover::Fed(CHUNKS[2]),
    Handover::Fed(CHUNKS[3]),
    Handover::Read(CHUNKS[1]),
    Handover::Read(CHUNKS[2]),
    Handover::Read(CHUNKS[3]),
];

impl Handover {
    /// The size of the pieces the input comes in.
    fn chunk(self) -> usize {
        match self {
            Handover::Fed(chunk) | Handover::Read(chunk) => chunk,
        }
    }
}

/// A reader of `rest` whose reads return at most `most` bytes, and that is interrupted
/// before every other read (as a signal can interrupt a read; the reader retries).
struct Trickle<'a> {
    rest: &'a [u8],
    most: usize,
    interrupt: bool,
}

impl<'a> Trickle<'a> {
    fn new(input: &'a [u8], most: usize) -> Trickle<'a> {
        Trickle {
            rest: input,
            most,
            interrupt: false,
        }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let read = self.most.min(buffer.len()).min(self.rest.len());
        let (now, later) = self.rest.split_at(read);
        buffer[..read].copy_from_slice(now);
        self.rest = later;
        Ok(read)
    }
}

fn parallelism(threads: usize, range_bytes: usize) -> Parallelism {
    Parallelism {
        threads: NonZeroUsize::new(threads).unwrap(),
        range_bytes: NonZeroUsize::new(range_bytes).unwrap(),
    }
}

/// `input` through a [`ParallelProcessor`], fed in chunks of `chunk` bytes; told a wrong
/// input size, which changes where the ranges are cut and nothing else.
fn parallel_chunked(
    input: &[u8],
    config: &Config,
    key: Option<&str>,
    parallelism: Parallelism,
    chunk: usize,
) -> Result<Analysis, Error> {
    let mut processor = ParallelProcessor::new(config.clone(), key, parallelism)
        .with_input_size(input.len() as u64 / 2);
    for piece in input.chunks(chunk.clamp(1, input.len().max(1))) {
        processor.feed(piece)?;
    }
    processor.finish()
}

/// `input` through a [`ParallelProcessor`], handed over as `handover` says.
fn parallel_handed(
    input: &[u8],
    config: &Config,
    key: Option<&str>,
    parallelism: Parallelism,
    handover: Handover,
) -> Result<Analysis, Error> {
    match handover {
        Handover::Fed(chunk) => parallel_chunked(input, config, key, parallelism, chunk),
        Handover::Read(most) => {
            // Told the size, as the callers that read a file or an object are.
            let mut processor = ParallelProcessor::new(config.clone(), key, parallelism)
                .with_input_size(input.len() as u64);
            processor.feed_reader(Trickle::new(input, most))?;
            processor.finish()
        }
    }
}

/// `input` through one thread's [`Processor`](shared::Processor), fed in chunks of `chunk`
/// bytes (a corrupt stream's error names the offset where the decoder stopped, which depends
/// on the chunks).
fn one_thread_chunked(
    input: &[u8],
    config: &Config,
    key: Option<&str>,
    chunk: usize,
) -> Result<Analysis, Error> {
    let pieces: Vec<&[u8]> = input.chunks(chunk.clamp(1, input.len().max(1))).collect();
    analyze_pieces(&pieces, config, key)
}

/// Range sizes from one byte up to past the input's length.
fn range_sizes(len: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = (1..=8).collect();
    sizes.extend([13, 29, 64, 200, 1_000, 4_096, 65_536]);
    sizes.push(len / 2 + 1);
    sizes.push(len + 1);
    sizes.retain(|&size| size <= len + 1);
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// Asserts that every thread count and every range size in `sizes` gives the one-thread
/// report (or error), the input fed whole or in chunks, or read (each [`Handover`] in turn,
/// so that every thread count and every range size meets each).
pub fn assert_agrees_with_sizes(
    name: &str,
    input: &[u8],
    key: Option<&str>,
    config: &Config,
    sizes: &[usize],
) {
    let expected: Vec<_> = CHUNKS
        .iter()
        .map(|&chunk| rendered(one_thread_chunked(input, config, key, chunk)))
        .collect();
    for (t, threads) in THREADS.into_iter().enumerate() {
        for (s, &range) in sizes.iter().enumerate() {
            let handover = HANDOVERS[(t + s) % HANDOVERS.len()];
            let chunk = handover.chunk();
            let expected = &expected[CHUNKS.iter().position(|&c| c == chunk).unwrap()];
            let parallelism = parallelism(threads, range);
            let got = rendered(parallel_handed(input, config, key, parallelism, handover));
            if got != *expected {
                // The full analysis compares too: show where it differs.
                assert_eq!(
                    outcome(parallel_handed(input, config, key, parallelism, handover)),
                    outcome(one_thread_chunked(input, config, key, chunk)),
                    "{name}: {threads} threads, ranges of {range} bytes, {handover:?}"
                );
                assert_eq!(
                    got, *expected,
                    "{name}: {threads} threads, ranges of {range} bytes, {handover:?}"
                );
            }
        }
    }
}

/// Asserts that every thread count and range size gives the one-thread result.
pub fn assert_agrees(name: &str, input: &[u8], key: Option<&str>, config: &Config) {
    assert_agrees_with_sizes(name, input, key, config, &range_sizes(input.len()));
}

/// A small xorshift generator: seeded, so failures reproduce.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn csv_spectrum_cases_agree_with_one_thread() {
    let dir = corpora().join("csv-spectrum").join("csvs");
    let mut cases = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let input = fs::read(&path).unwrap();
        for config in [Config::default(), lenient()] {
            assert_agrees(&name, &input, Some(&name), &config);
        }
        cases += 1;
    }
    assert!(cases >= 10, "{cases} csv-spectrum cases");
}

#[test]
fn json_test_suite_cases_agree_with_one_thread() {
    let dir = corpora().join("json-test-suite").join("test_parsing");
    let config = Config {
        format: Some(Format::JsonLines),
        ..lenient()
    };
    let mut cases = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let input = fs::read(&path).unwrap();
        assert_agrees_with_sizes(&name, &input, Some(&name), &config, &[1, 2, 7, 64]);
        // Detected rather than forced: some are not JSON Lines at all.
        assert_agrees_with_sizes(&name, &input, Some(&name), &lenient(), &[3]);
        cases += 1;
    }
    assert!(cases >= 300, "{cases} JSONTestSuite cases");
}

/// A CSV whose fields hold quoted line breaks, quotes, delimiters and multi-byte text, with
/// a few malformed rows.
fn quoted_csv(random: &mut Random, rows: usize) -> Vec<u8> {
    const FIELDS: [&str; 12] = [
        "1",
        "-2.5",
        "2024-02-29",
        "x",
        "\"a\nb\"",
        "\"line\r\nbreak, and \"\"quotes\"\"\"",
        "\"\n\"",
        "\"\n\n\n\"",
        "\"é\n日本\"",
        "",
        "\"\"",
        "\"1,2\n3,4\"",
    ];
    let mut csv = b"id,a,b\n".to_vec();
    for row in 0..rows {
        csv.extend_from_slice(row.to_string().as_bytes());
        let width = if random.below(40) == 0 { 2 } else { 3 };
        for _ in 1..width {
            csv.push(b',');
            csv.extend_from_slice(FIELDS[random.below(FIELDS.len())].as_bytes());
        }
        match random.below(30) {
            0 => csv.extend_from_slice(b"\r\n"),
            1 => csv.extend_from_slice(b"\n\n"),
            2 => csv.extend_from_slice(b"\"oops\n"),
            _ => csv.push(b'\n'),
        }
    }
    csv
}

#[test]
fn random_csvs_with_quoted_line_breaks_at_every_range_boundary_agree() {
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    for case in 0..6 {
        let input = quoted_csv(&mut random, 30);
        // Every range size up to 32 bytes puts a boundary at every offset of a quoted
        // field somewhere in the input.
        let sizes: Vec<usize> = (1..=32).chain([97, 500, input.len()]).collect();
        assert_agrees_with_sizes(
            &format!("case {case}"),
            &input,
            Some("x.csv"),
            &lenient(),
            &sizes,
        );
    }
}

#[test]
fn inputs_built_to_defeat_the_guess_agree() {
    // Every line but the header's is inside quotes, and looks like a record of the same
    // width.
    let mut inside = b"a,b\n".to_vec();
    for i in 0..50 {
        inside.extend_from_slice(format!("\"{i},{i}\n{i},{i}\n{i},{i}\",{i}\n").as_bytes());
    }
    assert_agrees(
        "every line inside quotes",
        &inside,
        Some("x.csv"),
        &lenient(),
    );
    // One field spanning the whole input.
    let mut one = b"a\n\"".to_vec();
    for i in 0..200 {
        one.extend_from_slice(format!("{i}\n").as_bytes());
    }
    one.extend_from_slice(b"\"\n");
    assert_agrees("one quoted field", &one, Some("x.csv"), &lenient());
    // A quote at the end of each range, for ranges of 16 bytes.
    for range in [8, 16, 32] {
        let mut quotes = b"a,b\n".to_vec();
        while quotes.len() < 2_000 {
            let pad = range - quotes.len() % range - 1;
            quotes.extend(std::iter::repeat_n(b'x', pad));
            quotes.push(b'"');
            quotes.extend_from_slice(b",\"\n\"\n");
        }
        assert_agrees_with_sizes(
            &format!("quote at the end of each {range}-byte range"),
            &quotes,
            Some("x.csv"),
            &lenient(),
            &[range, range - 1, range + 1, 3, 1],
        );
    }
}

#[test]
fn json_lines_agree() {
    const LINES: [&str; 10] = [
        "{\"a\":1,\"b\":\"x\"}",
        "{\"b\":2.5,\"c\":[1,{\"d\":null}]}",
        "{\"a\":\"2024-01-01\",\"a\":3}",
        "\"scalar\"",
        "{not json}",
        "",
        "  \r",
        "{\"e\":true,\"f\":\"日本\"}",
        "\u{ff}",
        "{\"g\":-0.0}",
    ];
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    for case in 0..8 {
        let mut input = Vec::new();
        for _ in 0..60 {
            input.extend_from_slice(LINES[random.below(LINES.len())].as_bytes());
            input.extend_from_slice(if random.below(5) == 0 { b"\r\n" } else { b"\n" });
        }
        if case % 2 == 1 {
            input.extend_from_slice(b"{\"last\":\"no line break\"}");
        }
        let name = format!("case {case}");
        assert_agrees(&name, &input, Some("x.jsonl"), &lenient());
        // Few columns: parts meet more than they may profile.
        let narrow = Config {
            max_columns: 3,
            ..lenient()
        };
        assert_agrees(&name, &input, Some("x.jsonl"), &narrow);
    }
}

#[test]
fn errors_are_the_one_thread_errors() {
    let mut random = Random(7);
    let mut input = b"id,a,b\n".to_vec();
    for _ in 0..6 {
        // Text after a closing quote: malformed, unless an open quote before swallows it.
        input.extend_from_slice(b"1,\"x\"y,2\n3,4\n");
        input.extend_from_slice(&quoted_csv(&mut random, 20)[b"id,a,b\n".len()..]);
        input.extend_from_slice(b"\"\"\n");
    }
    for max_count in [0, 1, 2, 3] {
        let config = Config {
            malformed_examples: 3,
            malformed_limits: MalformedLimits {
                max_count: Some(max_count),
                max_share: None,
            },
            ..Config::default()
        };
        let expected = rendered(analyze(&input, &config, Some("x.csv")));
        assert!(
            expected.is_err(),
            "the input has more than {max_count} malformed rows"
        );
        assert_agrees_with_sizes("count limit", &input, Some("x.csv"), &config, &[5, 64, 700]);
    }
    let share = Config {
        malformed_limits: MalformedLimits {
            max_count: None,
            max_share: Some(0.001),
        },
        ..Config::default()
    };
    assert_agrees_with_sizes("share limit", &input, Some("x.csv"), &share, &[5, 64, 700]);
    // A large header, ragged first rows, nothing but blank lines first, a BOM.
    let mut blank_first = b"\n\n\r\n\n".to_vec();
    blank_first.extend_from_slice(&input);
    assert_agrees_with_sizes(
        "blank lines first",
        &blank_first,
        Some("x.csv"),
        &lenient(),
        &[1, 2, 3, 50],
    );
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(&input);
    assert_agrees_with_sizes(
        "byte-order mark",
        &bom,
        Some("x.csv"),
        &lenient(),
        &[1, 2, 3, 50],
    );
    let tight = Config {
        max_record_bytes: 20,
        max_columns: 2,
        malformed_examples: 0,
        ..lenient()
    };
    assert_agrees_with_sizes("tight limits", &input, Some("x.csv"), &tight, &[1, 7, 50]);
}

/// Text made of the bytes that matter to the parsers (as in the chunking tests).
fn text_like() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        &b"a"[..],
        b"7",
        b"-1.5",
        b"2024-01-31",
        b"true",
        b",",
        b";",
        b"\t",
        b"\"",
        b"\"\"",
        b"\n",
        b"\n",
        b"\r\n",
        b"\r",
        b" ",
        b"{\"k\":1}",
        b"[",
        b"\xc3\xa9",
        b"\xff",
        b"\0",
    ]);
    prop::collection::vec(pieces, 0..160).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_threads_and_ranges_agree(
        input in text_like(),
        threads in 1usize..5,
        range in 1usize..48,
        sniff in 1usize..64,
        max_count in prop::option::of(0u64..4),
        key in prop::sample::select(vec![None, Some("x.csv"), Some("x.jsonl"), Some("x.tsv")]),
        chunk in prop::sample::select(vec![1usize, 3, 7, 4_096, usize::MAX]),
    ) {
        let config = Config {
            sniff_bytes: sniff,
            max_record_bytes: 48,
            malformed_examples: 2,
            malformed_limits: MalformedLimits { max_count, max_share: None },
            ..Config::default()
        };
        let expected = rendered(one_thread_chunked(&input, &config, key, chunk));
        let parallelism = parallelism(threads, range);
        prop_assert_eq!(
            rendered(parallel_chunked(&input, &config, key, parallelism, chunk)),
            expected
        );
    }
}

#[test]
fn compressed_inputs_agree() {
    let mut random = Random(0x1234_5678);
    let csv = quoted_csv(&mut random, 40);
    let mut jsonl = Vec::new();
    for i in 0..50 {
        jsonl.extend_from_slice(format!("{{\"i\":{i},\"s\":\"x{}\"}}\n", i % 7).as_bytes());
    }
    // Two gzip members, as `cat a.gz b.gz` makes; three zstd frames, cut inside rows.
    let mut members = gzip(&csv[..csv.len() / 2]);
    members.extend(gzip(&csv[csv.len() / 2..]));
    let mut frames = zstd(&csv[..csv.len() / 3]);
    frames.extend(zstd(&csv[csv.len() / 3..csv.len() / 2]));
    frames.extend(zstd(&csv[csv.len() / 2..]));
    let mut truncated = gzip(&csv);
    truncated.truncate(truncated.len() - 5);
    // A corrupt block in the middle: the text before it is parsed first.
    let mut corrupt = gzip(&csv);
    let middle = corrupt.len() / 2;
    corrupt[middle..middle + 8].copy_from_slice(b"\xff\x00\xff\x00\xff\x00\xff\x00");
    for (name, input, key) in [
        ("csv.gz", gzip(&csv), "x.csv.gz"),
        ("csv.zst", zstd(&csv), "x.csv.zst"),
        ("jsonl.gz", gzip(&jsonl), "x.jsonl.gz"),
        (
            "jsonl.zst, two frames",
            [zstd(&jsonl[..100]), zstd(&jsonl[100..])].concat(),
            "x.jsonl.zst",
        ),
        ("two members", members, "x.csv.gz"),
        ("three frames", frames, "x.csv.zst"),
        ("truncated", truncated, "x.csv.gz"),
        ("corrupt in the middle", corrupt, "x.csv.gz"),
    ] {
        assert_agrees_with_sizes(name, &input, Some(key), &lenient(), &[1, 7, 64, 4_096]);
        // The whole-object wrapper too.
        assert_eq!(
            rendered(profile_parallel(
                &input,
                &lenient(),
                Some(key),
                parallelism(2, 64)
            )),
            rendered(analyze(&input, &lenient(), Some(key))),
            "{name}: profile_parallel"
        );
        // Every chunking with every thread count.
        for chunk in CHUNKS {
            let expected = rendered(one_thread_chunked(&input, &lenient(), Some(key), chunk));
            for threads in THREADS {
                let parallelism = parallelism(threads, 97);
                let got = parallel_chunked(&input, &lenient(), Some(key), parallelism, chunk);
                assert_eq!(
                    rendered(got),
                    expected,
                    "{name}: {threads} threads, chunks of {chunk}"
                );
            }
        }
    }
}

/// `text` cut into zstd frames of `frame` bytes (cut inside rows and quoted fields), each
/// behind a skippable frame holding its size as `pzstd` writes them; every third frame with a
/// content checksum.
fn pzstd_like(text: &[u8], frame: usize) -> Vec<u8> {
    use std::io::Write;
    let mut stream = Vec::new();
    for (i, part) in text.chunks(frame).enumerate() {
        let mut encoder = zstd::Encoder::new(Vec::new(), 1).unwrap();
        encoder.include_checksum(i % 3 == 0).unwrap();
        encoder.write_all(part).unwrap();
        let frame = encoder.finish().unwrap();
        stream.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]);
        stream.extend_from_slice(&u32::try_from(frame.len()).unwrap().to_le_bytes());
        stream.extend(frame);
    }
    stream
}

/// The configurations of the tests of streams cut for several threads: small samples, so
/// that most frames or members come after the workers start; and the same with a limit of
/// malformed rows that the first ones pass, before any corruption.
fn cut_stream_configs() -> (Config, Config) {
    let config = Config {
        sniff_bytes: 256,
        ..lenient()
    };
    let strict = Config {
        malformed_limits: MalformedLimits {
            max_count: Some(2),
            max_share: None,
        },
        ..config.clone()
    };
    (config, strict)
}

/// One thread's result for `input` fed in chunks of 1,000 bytes.
fn rendered_in_kb(input: &[u8], config: &Config, key: &str) -> Result<String, String> {
    rendered(one_thread_chunked(input, config, Some(key), 1_000))
}

/// Where frame `index` of a [`pzstd_like`] stream starts.
fn frame_start(stream: &[u8], index: usize) -> usize {
    let mut at = 0;
    for _ in 0..=index {
        at += 12;
        if at > 12 {
            let size = u32::from_le_bytes(stream[at - 16..at - 12].try_into().unwrap());
            at += usize::try_from(size).unwrap();
        }
    }
    at
}

#[test]
fn zstd_frames_decompressed_on_every_thread_agree() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let csv = quoted_csv(&mut random, 400);
    // 20 frames.
    let stream = pzstd_like(&csv, csv.len().div_ceil(20));
    assert!(frame_start(&stream, 19) < stream.len());
    // A corrupt block in frame 9: the frames before it, and its blocks before the corrupt
    // one, are parsed first.
    let mut corrupt = stream.clone();
    let at = frame_start(&stream, 9) + 12;
    corrupt[at..at + 6].copy_from_slice(b"\xff\x00\xff\x00\xff\x00");
    // A wrong content checksum in frame 6 (one of the checksummed frames).
    let mut bad_checksum = stream.clone();
    bad_checksum[frame_start(&stream, 7) - 13] ^= 1;
    // The last frame cut short; something that is not a frame after frame 12.
    let truncated = stream[..stream.len() - 3].to_vec();
    let mut garbage = stream[..frame_start(&stream, 12)].to_vec();
    garbage.extend_from_slice(b"this is not a zstd frame\n");
    let (config, strict) = cut_stream_configs();
    for (name, input, config) in [
        ("frames", &stream, &config),
        ("a corrupt frame", &corrupt, &config),
        ("a wrong checksum", &bad_checksum, &config),
        ("the last frame truncated", &truncated, &config),
        ("not a frame after frame 12", &garbage, &config),
        ("a limit before the corruption", &corrupt, &strict),
    ] {
        assert_agrees_with_sizes(name, input, Some("x.csv.zst"), config, &[5, 64, 333, 4_096]);
    }
    let rendered_one = |input: &[u8], config: &Config| rendered_in_kb(input, config, "x.csv.zst");
    assert!(rendered_one(&stream, &config).is_ok());
    for (input, config, error) in [
        (&corrupt, &config, "InvalidInput: corrupt zstd"),
        (&bad_checksum, &config, "InvalidInput: corrupt zstd"),
        (&truncated, &config, "InvalidInput: truncated zstd"),
        (&garbage, &config, "InvalidInput: corrupt zstd"),
        (&corrupt, &strict, "TooManyMalformedRecords"),
    ] {
        let got = rendered_one(input, config).unwrap_err();
        assert!(got.starts_with(error), "{got}");
    }
}

/// Where member `index` of a BGZF stream starts (by the members' own sizes).
fn member_start(stream: &[u8], index: usize) -> usize {
    let mut at = 0;
    for _ in 0..index {
        at += usize::from(u16::from_le_bytes([stream[at + 16], stream[at + 17]])) + 1;
    }
    at
}

/// Sets the size member `index` of a BGZF stream says it has to its size plus `by`.
fn misstate_size(stream: &mut [u8], index: usize, by: i32) {
    let at = member_start(stream, index);
    let size = i32::from(u16::from_le_bytes([stream[at + 16], stream[at + 17]])) + by;
    stream[at + 16..at + 18].copy_from_slice(&u16::try_from(size).unwrap().to_le_bytes());
}

#[test]
fn bgzf_members_decompressed_on_every_thread_agree() {
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let csv = quoted_csv(&mut random, 1_000);
    // Members of 200 bytes of text.
    let stream = bgzf(&csv, 200);
    assert!(member_start(&stream, 40) < stream.len());
    // A corrupt deflate block in member 9: the members before it, and its output before
    // the corruption, are parsed first.
    let mut corrupt = stream.clone();
    let at = member_start(&stream, 9) + 18;
    corrupt[at..at + 4].copy_from_slice(b"\xff\xff\xff\xff");
    // A wrong CRC-32 in member 6.
    let mut bad_crc = stream.clone();
    bad_crc[member_start(&stream, 7) - 8] ^= 1;
    // The last members cut short; something that is not gzip after member 12.
    let truncated = stream[..member_start(&stream, 30) + 20].to_vec();
    let mut garbage = stream[..member_start(&stream, 12)].to_vec();
    garbage.extend_from_slice(b"this is not a gzip member\n");
    // A plain gzip member (no size in its header) after member 20: the rest is decoded as
    // one stream, BGZF members after it included.
    let mut plain_after = stream[..member_start(&stream, 20)].to_vec();
    plain_after.extend(gzip(b"a,b\n"));
    plain_after.extend_from_slice(&stream[member_start(&stream, 20)..]);
    // Sizes that lie: member 15 says it is 7 bytes longer, or 9 shorter, than it is (a
    // batch then ends inside a member, and one decoder takes over from there).
    let mut longer = stream.clone();
    misstate_size(&mut longer, 15, 7);
    let mut shorter = stream.clone();
    misstate_size(&mut shorter, 15, -9);
    // Member 3 says nothing of its size; member 25's header is not BGZF's (it names a file).
    let mut sizeless = stream[..member_start(&stream, 3)].to_vec();
    let mut unsized_member = flate2::GzBuilder::new()
        .filename("x.csv")
        .write(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut unsized_member, b"1,2\n").unwrap();
    sizeless.extend(unsized_member.finish().unwrap());
    sizeless.extend_from_slice(&stream[member_start(&stream, 3)..]);
    // Only the empty member that ends a BGZF file.
    let empty = bgzf_member(&[]);
    let (config, strict) = cut_stream_configs();
    for (name, input, config) in [
        ("members", &stream, &config),
        ("a corrupt member", &corrupt, &config),
        ("a wrong CRC", &bad_crc, &config),
        ("the last members truncated", &truncated, &config),
        ("not gzip after member 12", &garbage, &config),
        ("a plain member after member 20", &plain_after, &config),
        ("a size too long", &longer, &config),
        ("a size too short", &shorter, &config),
        ("a member without a size", &sizeless, &config),
        ("the end member alone", &empty, &config),
        ("a limit before the corruption", &corrupt, &strict),
    ] {
        assert_agrees_with_sizes(name, input, Some("x.csv.gz"), config, &[5, 64, 333, 4_096]);
    }
    let rendered_one = |input: &[u8], config: &Config| rendered_in_kb(input, config, "x.csv.gz");
    for input in [&stream, &plain_after, &sizeless] {
        assert!(rendered_one(input, &config).is_ok());
    }
    // One decoder reads no size: the same text, the same report.
    for input in [&longer, &shorter] {
        assert_eq!(rendered_one(input, &config), rendered_one(&stream, &config));
    }
    for (input, config, error) in [
        (&corrupt, &config, "InvalidInput: corrupt gzip"),
        (&bad_crc, &config, "InvalidInput: corrupt gzip"),
        (&truncated, &config, "InvalidInput: truncated gzip"),
        (&garbage, &config, "InvalidInput: corrupt gzip"),
        (&corrupt, &strict, "TooManyMalformedRecords"),
    ] {
        let got = rendered_one(input, config).unwrap_err();
        assert!(got.starts_with(error), "{got}");
    }
}

/// Rows of a few kilobytes' worth of clean CSV, with quoted line breaks.
fn clean_rows(rows: usize) -> Vec<u8> {
    let mut csv = b"id,name,amount,day\n".to_vec();
    for i in 0..rows {
        let name = if i % 5 == 0 {
            "\"two\nlines\""
        } else {
            "plain"
        };
        csv.extend_from_slice(
            format!(
                "{i},{name},{}.{:02},2024-01-{:02}\n",
                i * 7 % 1000,
                i % 100,
                i % 28 + 1
            )
            .as_bytes(),
        );
    }
    csv
}

#[test]
fn large_inputs_in_many_ranges_agree() {
    let csv = clean_rows(20_000);
    let mut jsonl = Vec::new();
    for i in 0..20_000 {
        jsonl.extend_from_slice(
            format!("{{\"id\":{i},\"k{}\":\"v\",\"n\":{}.5}}\n", i % 9, i % 13).as_bytes(),
        );
    }
    for (name, input, key) in [
        ("csv", csv.clone(), "x.csv"),
        ("csv.gz", gzip(&csv), "x.csv.gz"),
        ("csv.zst", zstd(&csv), "x.csv.zst"),
        ("jsonl", jsonl.clone(), "x.jsonl"),
        ("jsonl.gz", gzip(&jsonl), "x.jsonl.gz"),
    ] {
        // 1 MiB: the first ranges are smaller (they ramp up from 256 KiB).
        let sizes = [1_000, 4_096, 65_536, 1 << 20];
        assert_agrees_with_sizes(name, &input, Some(key), &lenient(), &sizes);
    }
}

#[test]
fn an_error_in_a_middle_range_is_the_one_thread_error() {
    // Clean rows, then a burst of malformed ones, then clean rows again: with small ranges
    // the burst lands in a range in the middle, parsed by a worker while others go on.
    let mut input = clean_rows(3_000);
    for i in 0..10 {
        input.extend_from_slice(format!("{i},\"x\"y,1.0,2024-01-01\n").as_bytes());
    }
    input.extend_from_slice(&clean_rows(3_000)[b"id,name,amount,day\n".len()..]);
    let limited = Config {
        malformed_limits: MalformedLimits {
            max_count: Some(3),
            max_share: None,
        },
        ..Config::default()
    };
    let expected = rendered(analyze(&input, &limited, Some("x.csv")));
    assert!(
        expected
            .as_ref()
            .is_err_and(|e| e.starts_with("TooManyMalformedRecords")),
        "{expected:?}"
    );
    assert_agrees_with_sizes(
        "burst",
        &input,
        Some("x.csv"),
        &limited,
        &[512, 4_096, 30_000],
    );
    // The same in JSON Lines.
    let mut lines = Vec::new();
    for i in 0..6_000 {
        if (3_000..3_010).contains(&i) {
            lines.extend_from_slice(b"{broken\n");
        } else {
            lines.extend_from_slice(format!("{{\"i\":{i}}}\n").as_bytes());
        }
    }
    assert_agrees_with_sizes(
        "burst",
        &lines,
        Some("x.jsonl"),
        &limited,
        &[512, 4_096, 30_000],
    );
    // A worker that hits the error leaves no range behind: the processor is done, and
    // feeding it more fails at once.
    let mut processor = ParallelProcessor::new(limited.clone(), Some("x.csv"), parallelism(3, 512));
    let fed = input
        .chunks(4_096)
        .try_for_each(|chunk| processor.feed(chunk));
    let error = fed
        .and_then(|()| processor.finish().map(|_| ()))
        .unwrap_err();
    assert_eq!(Err(format!("{}: {error}", error.name())), expected);
}

#[test]
fn feeding_after_an_error_fails_and_dropping_midway_stops_the_workers() {
    let mut input = clean_rows(2_000);
    input.extend_from_slice(b"1,\"x\"y,1,2\n".repeat(50).as_slice());
    let strict = Config {
        malformed_limits: MalformedLimits {
            max_count: Some(0),
            max_share: None,
        },
        ..Config::default()
    };
    let mut processor = ParallelProcessor::new(strict, Some("x.csv"), parallelism(2, 256));
    let mut failed = false;
    for chunk in input.chunks(1_024) {
        if processor.feed(chunk).is_err() {
            failed = true;
            break;
        }
    }
    if failed {
        let again = processor.feed(b"1,2,3,4\n").unwrap_err();
        assert_eq!(again.name(), shared::ErrorName::Internal);
    } else {
        assert!(processor.finish().is_err());
    }
    // Dropped with ranges in flight: the workers stop and are joined, nothing hangs.
    for threads in [2, 8] {
        let mut processor =
            ParallelProcessor::new(lenient(), Some("x.csv"), parallelism(threads, 128));
        processor.feed(&input[..input.len() / 2]).unwrap();
        drop(processor);
    }
}

#[test]
fn a_read_error_fails_with_the_read_error_on_every_thread_count() {
    /// The input, then an error.
    struct Failing<'a>(&'a [u8]);
    impl Read for Failing<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("the connection was reset"));
            }
            let read = self.0.len().min(buffer.len()).min(1_000);
            buffer[..read].copy_from_slice(&self.0[..read]);
            self.0 = &self.0[read..];
            Ok(read)
        }
    }
    // Past the sniffed bytes: plain text is read straight into the ranges by then.
    let csv = clean_rows(20_000);
    for (input, key) in [(csv.clone(), "x.csv"), (gzip(&csv), "x.csv.gz")] {
        for threads in THREADS {
            let mut processor =
                ParallelProcessor::new(lenient(), Some(key), parallelism(threads, 4_096));
            let error = processor.feed_reader(Failing(&input)).unwrap_err();
            assert_eq!(error.name(), shared::ErrorName::Storage, "{key}, {threads}");
            assert_eq!(
                error.to_string(),
                "reading the input failed: the connection was reset"
            );
            // The parallel processor abandons the input, as after any error.
            if threads > 1 {
                assert!(processor.feed(b"1,2,3,4\n").is_err(), "{key}, {threads}");
            }
        }
    }
}
