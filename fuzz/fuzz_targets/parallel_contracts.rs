//! Parallel conversion under a contract (issues 12 and 13): any input, any thread count, any
//! range size gives one thread's report, Parquet bytes and rejected records, or its error.
//!
//! Input layout: byte 0 chooses the contract (bits 0-1: one of [`CONTRACTS`]), whether
//! the processors get tiny limits (bit 2) and whether the Parquet row groups hold 3 rows
//! (bit 3: several row groups, written while the workers parse), byte 1 the thread count (2 to 9), byte 2 the range
//! size (1 to 256 bytes) and byte 3 the chunks both processors are fed (1 to 255 bytes, or 0:
//! the whole input at once); the rest is the object's bytes.

#![no_main]

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use shared::{
    Config, Contract, Conversion, ConversionOutputs, MalformedLimits, ParallelProcessor,
    Parallelism, ParquetOptions, Processor, SharedBuffer,
};

/// Columns of every kind of check: a required bounded integer, a decimal, a date, a
/// timestamp, a string of bounded length from a list, a boolean.
const COLUMNS: &str = r#"
[[columns]]
name = "id"
type = "int64"
nullable = false
min = 1
[[columns]]
name = "amount"
type = "decimal(8, 2)"
[[columns]]
name = "day"
type = "date"
[[columns]]
name = "at"
type = "timestamp"
[[columns]]
name = "tag"
type = "string"
max_length = 4
allowed = ["a", "b", "", "x,y"]
[[columns]]
name = "ok"
type = "boolean"
"#;

/// CSV with a header by name (missing columns null), CSV with the exact header and a
/// rejection count limit, CSV without header, JSON Lines.
static CONTRACTS: LazyLock<[Contract; 4]> = LazyLock::new(|| {
    let heads = [
        "[format]\ntype = \"csv\"\nheader = true\n[header]\nmissing_columns = \"null\"\n\
         [rejects]\nmax_share = 0.9\n",
        "[format]\ntype = \"csv\"\nheader = true\n[header]\norder = \"exact\"\n\
         extra_columns = \"fail\"\n[rejects]\nmax_count = 3\nmax_share = 1.0\n",
        "[format]\ntype = \"csv\"\nheader = false\n[rejects]\nmax_share = 0.5\n",
        "[format]\ntype = \"json_lines\"\n[rejects]\nmax_share = 0.9\n",
    ];
    heads.map(|head| {
        let text = format!("dataset = \"fuzz\"\nprefix = \"incoming/fuzz/\"\n{head}{COLUMNS}");
        Contract::parse(Path::new("contracts/fuzz.toml"), &text).expect("a valid contract")
    })
});

const KEY: &str = "incoming/fuzz/data";

fn config(tiny: bool) -> Config {
    let mut config = Config::default();
    if tiny {
        // Records cross the sniff window, the record-size limit and the malformed limits.
        config.sniff_bytes = 32;
        config.max_record_bytes = 64;
        config.malformed_examples = 2;
        config.malformed_limits = MalformedLimits {
            max_count: Some(3),
            max_share: Some(0.5),
        };
    }
    config
}

/// Converts `data` fed in chunks of `chunk` bytes; the outcome in a comparable form: the
/// analysis' `Debug` text with the Parquet and rejects bytes, or the error's name and
/// message.
fn convert(
    contract: &Contract,
    (config, options): (Config, ParquetOptions),
    threads: Option<Parallelism>,
    data: &[u8],
    chunk: usize,
) -> Result<(String, Vec<u8>, Vec<u8>), String> {
    let (parquet, rejects) = (SharedBuffer::new(), SharedBuffer::new());
    let outputs = ConversionOutputs {
        parquet: Box::new(parquet.clone()),
        rejects: Box::new(rejects.clone()),
    };
    let name = |error: shared::Error| format!("{}: {error}", error.name());
    let conversion =
        Conversion::with_parquet_options(contract, KEY, outputs, options).map_err(name)?;
    let analysis = match threads {
        None => {
            let mut processor = Processor::with_conversion(config, Some(KEY), conversion);
            data.chunks(chunk)
                .try_for_each(|piece| processor.feed(piece))
                .and_then(|()| processor.finish())
        }
        Some(parallelism) => {
            let mut processor =
                ParallelProcessor::with_conversion(config, Some(KEY), conversion, parallelism);
            data.chunks(chunk)
                .try_for_each(|piece| processor.feed(piece))
                .and_then(|()| processor.finish())
        }
    }
    .map_err(name)?;
    Ok((format!("{analysis:?}"), parquet.take(), rejects.take()))
}

fuzz_target!(|input: &[u8]| {
    let [control, threads, range, chunk, data @ ..] = input else {
        return;
    };
    let contract = &CONTRACTS[usize::from(control & 0b11)];
    let config = config(control & 0b100 != 0);
    let options = ParquetOptions {
        max_row_group_rows: if control & 0b1000 != 0 {
            3
        } else {
            ParquetOptions::DEFAULT_MAX_ROW_GROUP_ROWS
        },
        ..ParquetOptions::default()
    };
    let parallelism = Parallelism {
        threads: NonZeroUsize::new(usize::from(threads % 8) + 2).expect("at least two"),
        range_bytes: NonZeroUsize::new(usize::from(*range) + 1).expect("at least one"),
    };
    let chunk = match chunk {
        0 => data.len().max(1),
        size => usize::from(*size),
    };
    let one = convert(contract, (config.clone(), options), None, data, chunk);
    let many = convert(contract, (config, options), Some(parallelism), data, chunk);
    assert!(
        many == one,
        "{parallelism:?}, chunks of {chunk}:\n{many:?}\n!=\n{one:?}"
    );
});
