//! Parallel conversion under a contract (issue 13): for every thread count and range size,
//! the report, the Parquet bytes and the rejects bytes are exactly one thread's, and the
//! rejection policy fails the object with one thread's error.

use std::io::Write;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use shared::{
    Config, Contract, Conversion, ConversionOutputs, Format, MalformedLimits, ParallelProcessor,
    Parallelism, ParquetOptions, Processing, Report, SharedBuffer, Source,
};

use crate::support::{bgzf, gzip};

/// The thread counts the issue names.
const THREADS: [usize; 4] = [1, 2, 3, 8];

const CONTRACT: &str = r#"
dataset = "notes"
prefix = "incoming/notes/"

[rejects]
max_share = 0.9

[[columns]]
name = "id"
type = "int64"
nullable = false
min = 1

[[columns]]
name = "amount"
type = "decimal(8, 2)"

[[columns]]
name = "note"
type = "string"

[[columns]]
name = "day"
type = "date"
"#;

fn contract() -> Contract {
    Contract::parse(Path::new("contracts/notes.toml"), CONTRACT).unwrap()
}

/// What a conversion gave: the report (with fixed timing), the Parquet and rejects bytes;
/// or the error's name and message.
type Converted = Result<(String, Vec<u8>, Vec<u8>), String>;

/// `input` converted under `contract` with `parallelism`, fed in chunks of `chunk` bytes.
fn convert(
    contract: &Contract,
    key: &str,
    input: &[u8],
    parallelism: Parallelism,
    chunk: usize,
) -> Converted {
    convert_with(
        contract,
        key,
        input,
        (parallelism, chunk),
        (&Config::default(), ParquetOptions::default()),
        None,
    )
}

/// [`convert`] with `config` and `options` for the Parquet file, and with `rejects_sink`
/// for the rejects' sink when it is given (the Parquet is still kept).
fn convert_with(
    contract: &Contract,
    key: &str,
    input: &[u8],
    (parallelism, chunk): (Parallelism, usize),
    (config, options): (&Config, ParquetOptions),
    rejects_sink: Option<Box<dyn Write + Send>>,
) -> Converted {
    let (parquet, rejects) = (SharedBuffer::new(), SharedBuffer::new());
    let outputs = ConversionOutputs {
        parquet: Box::new(parquet.clone()),
        rejects: rejects_sink.unwrap_or_else(|| Box::new(rejects.clone())),
    };
    let name = |error: shared::Error| format!("{}: {error}", error.name());
    let conversion =
        Conversion::with_parquet_options(contract, key, outputs, options).map_err(name)?;
    let mut processor =
        ParallelProcessor::with_conversion(config.clone(), Some(key), conversion, parallelism);
    for piece in input.chunks(chunk.clamp(1, input.len().max(1))) {
        processor.feed(piece).map_err(name)?;
    }
    let analysis = processor.finish().map_err(name)?;
    let processing = Processing::measure("test", Duration::from_secs(1), &analysis);
    let report = Report::new(Source::default(), &analysis, processing);
    Ok((
        String::from_utf8(report.to_json()).unwrap(),
        parquet.take(),
        rejects.take(),
    ))
}

fn parallelism(threads: usize, range_bytes: usize) -> Parallelism {
    Parallelism {
        threads: NonZeroUsize::new(threads).unwrap(),
        range_bytes: NonZeroUsize::new(range_bytes).unwrap(),
    }
}

/// Delimited rows that meet the contract or not (types, constraints, ragged rows), with
/// quoted line breaks, delimiters and quotes in the notes; a header when `header`.
fn rows(count: usize, header: bool) -> String {
    let mut text = String::new();
    if header {
        text.push_str("id,amount,note,day\n");
    }
    for i in 1..=count {
        let row = match i % 11 {
            0 => format!("{i},1.5,\"two\nlines\",2026-12-01\n"),
            1 => format!("{i},x,plain,2026-12-02\n"),
            2 => "0,2.00,\"a, \"\"quoted\"\" note\",2026-12-03\n".to_owned(),
            3 => format!("{i},3.00,short\n"),
            4 => format!("{i},,\"\r\n\",\n"),
            5 => format!("{i},123456789.00,big,2026-12-04\n"),
            6 => format!("{i},4.25,\"\",2026-02-30\n"),
            _ => format!(
                "{i},{}.{:02},note {i},2026-12-{:02}\n",
                i * 7,
                i % 100,
                i % 28 + 1
            ),
        };
        text.push_str(&row);
    }
    text
}

/// JSON Lines records that meet the contract or not.
fn json_lines(count: usize) -> String {
    let mut text = String::new();
    for i in 1..=count {
        let line = match i % 7 {
            0 => format!("{{\"id\": {i}, \"amount\": \"1.5\", \"note\": \"a\\nb\"}}\n"),
            1 => format!("{{\"id\": \"{i}\", \"amount\": {{\"x\": 1}}}}\n"),
            2 => "[1, 2]\n".to_owned(),
            3 => format!("{{\"id\": {i}\n"),
            _ => format!("{{\"id\": {i}, \"amount\": {i}.25, \"day\": \"2026-12-01\"}}\n"),
        };
        text.push_str(&line);
    }
    text
}

/// Asserts that every thread count and range size gives one thread's outputs.
fn assert_like_one_thread(contract: &Contract, key: &str, input: &[u8]) {
    let one = convert(
        contract,
        key,
        input,
        Parallelism::with_threads(1),
        usize::MAX,
    );
    let mut sizes = vec![1, 2, 3, 5, 8, 13, 29, 64, 200, 1_000, 4_096];
    sizes.push(input.len() / 2 + 1);
    sizes.push(input.len() + 1);
    for threads in THREADS {
        for &range_bytes in &sizes {
            for chunk in [usize::MAX, 7, 4_096] {
                let parallel = convert(
                    contract,
                    key,
                    input,
                    parallelism(threads, range_bytes),
                    chunk,
                );
                assert!(
                    parallel == one,
                    "{key}: {threads} threads, ranges of {range_bytes} bytes, chunks of \
                     {chunk}: {parallel:?}\nis not one thread's\n{one:?}"
                );
            }
        }
    }
}

#[test]
fn a_contract_object_converts_to_the_same_bytes_on_every_thread_count() {
    let input = rows(600, true);
    let one = convert(
        &contract(),
        "incoming/notes/a.csv",
        input.as_bytes(),
        Parallelism::with_threads(1),
        usize::MAX,
    )
    .unwrap();
    // Rows written and rows rejected, so both outputs are compared.
    let report: serde_json::Value = serde_json::from_str(&one.0).unwrap();
    let count = |field: &str| report["contract"][field].as_u64().unwrap();
    assert!(
        count("records_written") > 200 && count("records_rejected") > 200,
        "{}",
        one.0
    );
    assert!(!one.2.is_empty());
    assert_like_one_thread(&contract(), "incoming/notes/a.csv", input.as_bytes());
}

#[test]
fn many_row_groups_convert_to_the_same_bytes_on_every_thread_count() {
    // Row groups of 97 rows: the merger writes one every few ranges, sharing each one's
    // column chunks with the workers, and the last one at the end.
    let options = ParquetOptions {
        max_row_group_rows: 97,
        ..ParquetOptions::default()
    };
    let key = "incoming/notes/g.csv";
    let input = rows(3_000, true);
    let one = convert_with(
        &contract(),
        key,
        input.as_bytes(),
        (Parallelism::with_threads(1), usize::MAX),
        (&Config::default(), options),
        None,
    )
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&one.0).unwrap();
    let row_groups = report["contract"]["row_groups"].as_u64().unwrap();
    assert!(row_groups > 10, "{}", one.0);
    for threads in THREADS {
        for range_bytes in [64, 1_000, 4_096, 20_000] {
            for chunk in [usize::MAX, 4_096] {
                let parallel = convert_with(
                    &contract(),
                    key,
                    input.as_bytes(),
                    (parallelism(threads, range_bytes), chunk),
                    (&Config::default(), options),
                    None,
                )
                .unwrap();
                assert!(
                    parallel == one,
                    "{threads} threads, ranges of {range_bytes} bytes, chunks of {chunk}"
                );
            }
        }
    }
}

#[test]
fn header_policies_json_lines_and_gzip_convert_like_one_thread() {
    // Without a header: the columns by position.
    let mut positional = contract();
    positional.format.header = Some(false);
    let input = rows(300, false);
    assert_like_one_thread(&positional, "incoming/notes/b.csv", input.as_bytes());
    // A header the contract cannot bind fails in the first range, as on one thread.
    let wrong = "id,price,note,day\n1,2.00,x,2026-12-01\n".repeat(20);
    assert_like_one_thread(&contract(), "incoming/notes/c.csv", wrong.as_bytes());
    // JSON Lines.
    let mut json = contract();
    json.format.format = Some(Format::JsonLines);
    let input = json_lines(400);
    assert_like_one_thread(&json, "incoming/notes/d.jsonl", input.as_bytes());
    // Gzip: decompressed on the feeding thread, parsed in ranges.
    let input = gzip(rows(300, true).as_bytes());
    assert_like_one_thread(&contract(), "incoming/notes/e.csv.gz", &input);
    // BGZF: batches of members inflated by any thread.
    let input = bgzf(rows(300, true).as_bytes(), 150);
    assert_like_one_thread(&contract(), "incoming/notes/f.csv.gz", &input);
}

#[test]
fn the_rejection_policy_fails_like_one_thread() {
    let input = rows(400, true);
    for max_count in [0, 1, 10, 57, 150] {
        let mut counted = contract();
        counted.rejects.max_count = Some(max_count);
        let one = convert(
            &counted,
            "incoming/notes/a.csv",
            input.as_bytes(),
            Parallelism::with_threads(1),
            usize::MAX,
        );
        let error = one.as_ref().expect_err("past the count");
        assert!(error.starts_with("ContractViolation"), "{error}");
        assert_like_one_thread(&counted, "incoming/notes/a.csv", input.as_bytes());
    }
    let mut shared = contract();
    shared.rejects.max_share = Some(0.2);
    assert_like_one_thread(&shared, "incoming/notes/a.csv", input.as_bytes());
    // A record both malformed and rejected, past both shares: the malformed records' share
    // is checked first, as on one thread (found by the parallel_contracts fuzz target).
    let mut positional = contract();
    positional.format.format = Some(Format::Csv);
    positional.format.header = Some(false);
    positional.rejects.max_share = Some(0.5);
    let one = convert(
        &positional,
        "incoming/notes/f.csv",
        b"\xda",
        Parallelism::with_threads(1),
        usize::MAX,
    );
    let error = one.expect_err("past both shares");
    assert!(error.starts_with("TooManyMalformedRecords"), "{error}");
    assert_like_one_thread(&positional, "incoming/notes/f.csv", b"\xda");
}

/// A sink that refuses every write, as an S3 upload that failed does.
struct RefusingSink;

impl Write for RefusingSink {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("the rejects' upload failed"))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_write_failure_before_the_malformed_limit_in_one_range_fails_like_one_thread() {
    // Every record is rejected (its amount is not a number): the rejects' buffer (64 KiB)
    // reaches the refusing sink after a few hundred records. Malformed records (ragged
    // rows, lines that are not JSON) come after that, and pass the malformed limit later
    // in the same range. One thread meets the write failure first; so must every thread
    // count, whether the range is the first (parsed ahead by a worker) or a later one.
    use std::fmt::Write as _;
    let mut csv = String::from("id,amount,note,day\n");
    let mut json = String::new();
    for i in 1..=1_200 {
        if i > 500 && i % 3 == 0 {
            writeln!(csv, "{i},ragged").unwrap();
            writeln!(json, "{{\"id\": {i}").unwrap();
        } else {
            writeln!(csv, "{i},not a number,a note long enough,2026-12-01").unwrap();
            let note = r#""amount": "not a number", "note": "a note""#;
            writeln!(json, "{{\"id\": {i}, {note}}}").unwrap();
        }
    }
    let mut json_contract = contract();
    json_contract.format.format = Some(Format::JsonLines);
    let config = Config {
        malformed_limits: MalformedLimits {
            max_count: Some(5),
            max_share: None,
        },
        ..Config::default()
    };
    for (contract, key, input) in [
        (contract(), "incoming/notes/f.csv", csv),
        (json_contract, "incoming/notes/f.jsonl", json),
    ] {
        let run = |parallelism| {
            convert_with(
                &contract,
                key,
                input.as_bytes(),
                (parallelism, usize::MAX),
                (&config, ParquetOptions::default()),
                Some(Box::new(RefusingSink)),
            )
        };
        let one = run(Parallelism::with_threads(1));
        let error = one.as_ref().expect_err("the sink refuses");
        assert!(error.starts_with("Storage"), "{key}: {error}");
        let sizes = [1_000, 5_000, 12_000, input.len() / 2 + 1, input.len() + 1];
        for threads in [2, 3, 8] {
            for range_bytes in sizes {
                let parallel = run(parallelism(threads, range_bytes));
                assert_eq!(
                    parallel, one,
                    "{key}: {threads} threads, ranges of {range_bytes} bytes"
                );
            }
        }
    }
}
