//! Converts a local file under a data contract, as the pipeline does an upload.
//!
//! ```text
//! cargo run --release -p shared --example convert -- --contract CONTRACT [--key KEY] [--threads N] [--range-bytes B] INPUT OUT_DIR
//! ```
//!
//! `--threads N` parses and types the file on N threads (default: the CPUs the
//! process may use, `shared::Parallelism::available`, which reads the cgroup CPU quota): the
//! report, the Parquet and the rejects are the same bytes whatever N. `--range-bytes B` sets
//! the size of the ranges the threads take (default `shared::Parallelism::DEFAULT_RANGE_BYTES`).
//!
//! Writes `OUT_DIR/<name>.parquet` (the records that meet the contract) and, when some are
//! rejected, `OUT_DIR/<name>.rejects.jsonl`, where `<name>` is the input's file name; prints the
//! report JSON (with its `contract` section) on stdout. `--key` is the S3 key the file stands
//! for (default: the contract's prefix and the file name); the contract's partition folders
//! are read from it. On failure prints the error's name and message on stderr, exits with the
//! name's exit code and leaves no output: files are written under temporary names and renamed
//! only when the whole input met the contract.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use shared::{
    Config, Contract, Conversion, ConversionOutputs, ErrorName, OutputObject, ParallelProcessor,
    Parallelism, Processing, Report, Source,
};

struct Args {
    contract: PathBuf,
    key: Option<String>,
    input: PathBuf,
    out_dir: PathBuf,
    parallelism: Parallelism,
}

fn parse_args() -> Option<Args> {
    let mut contract = None;
    let mut key = None;
    let mut parallelism = Parallelism::available();
    let mut range_bytes = None;
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--contract" => contract = Some(PathBuf::from(args.next()?)),
            "--key" => key = Some(args.next()?),
            "--threads" => {
                let threads: usize = args.next()?.parse().ok()?;
                parallelism = Parallelism::with_threads(threads.max(1));
            }
            "--range-bytes" => range_bytes = Some(args.next()?.parse::<usize>().ok()?),
            _ if arg.starts_with("--") => return None,
            _ => positional.push(PathBuf::from(arg)),
        }
    }
    let [input, out_dir] = <[PathBuf; 2]>::try_from(positional).ok()?;
    if let Some(range_bytes) = range_bytes {
        parallelism = parallelism.with_range_bytes(range_bytes);
    }
    Some(Args {
        contract: contract?,
        key,
        input,
        out_dir,
        parallelism,
    })
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        eprintln!(
            "usage: convert --contract CONTRACT [--key KEY] [--threads N] [--range-bytes B] \
             INPUT OUT_DIR"
        );
        return ExitCode::from(2);
    };
    let contract = match std::fs::read_to_string(&args.contract)
        .map_err(|e| format!("{}: {e}", args.contract.display()))
        .and_then(|text| Contract::parse(&args.contract, &text).map_err(|e| e.to_string()))
    {
        Ok(contract) => contract,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let name = args
        .input
        .file_name()
        .map_or_else(|| "input".into(), |n| n.to_string_lossy().into_owned());
    let key = args
        .key
        .unwrap_or_else(|| format!("{}{name}", contract.prefix));
    match convert(
        &contract,
        &key,
        (&args.input, &args.out_dir, &name),
        args.parallelism,
    ) {
        Ok(report) => {
            print!("{}", String::from_utf8_lossy(&report.to_json()));
            ExitCode::SUCCESS
        }
        Err((name, message)) => {
            eprintln!("{name}: {message}");
            ExitCode::from(u8::try_from(name.exit_code()).unwrap_or(1))
        }
    }
}

/// Removes a temporary output unless it was renamed into place.
struct Staged {
    temporary: PathBuf,
    target: PathBuf,
}

impl Staged {
    fn new(out_dir: &Path, file_name: &str) -> Staged {
        Staged {
            temporary: out_dir.join(format!(".{file_name}.partial")),
            target: out_dir.join(file_name),
        }
    }

    fn commit(&self) -> std::io::Result<u64> {
        std::fs::rename(&self.temporary, &self.target)?;
        Ok(std::fs::metadata(&self.target)?.len())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Gone already when it was committed.
        let _ = std::fs::remove_file(&self.temporary);
    }
}

fn convert(
    contract: &Contract,
    key: &str,
    (input, out_dir, name): (&Path, &Path, &str),
    parallelism: Parallelism,
) -> Result<Report, (ErrorName, String)> {
    let started = Instant::now();
    let storage = |e: std::io::Error| (ErrorName::Storage, e.to_string());
    let file = File::open(input).map_err(|e| {
        (
            ErrorName::SourceMissing,
            format!("{}: {e}", input.display()),
        )
    })?;
    let size = file.metadata().ok().map(|m| m.len());
    std::fs::create_dir_all(out_dir).map_err(storage)?;
    let parquet = Staged::new(out_dir, &format!("{name}.parquet"));
    let rejects = Staged::new(out_dir, &format!("{name}.rejects.jsonl"));
    let outputs = ConversionOutputs {
        parquet: Box::new(BufWriter::new(
            File::create(&parquet.temporary).map_err(storage)?,
        )),
        rejects: Box::new(BufWriter::new(
            File::create(&rejects.temporary).map_err(storage)?,
        )),
    };
    let failed = |e: shared::Error| (e.name(), e.to_string());
    let conversion = Conversion::new(contract, key, outputs).map_err(failed)?;
    let mut processor =
        ParallelProcessor::with_conversion(Config::default(), Some(key), conversion, parallelism);
    if let Some(size) = size {
        processor = processor.with_input_size(size);
    }
    let analysis = read_through(file, processor).map_err(failed)?;
    let mut report = Report::new(
        Source {
            key: key.to_owned(),
            size,
            ..Source::default()
        },
        &analysis,
        Processing::measure("cli", started.elapsed(), &analysis),
    );
    let mut written = vec![OutputObject {
        key: parquet.target.display().to_string(),
        size: parquet.commit().map_err(storage)?,
        etag: None,
    }];
    let any_rejects = analysis
        .contract
        .as_ref()
        .is_some_and(|c| c.records_rejected > 0);
    if any_rejects {
        written.push(OutputObject {
            key: rejects.target.display().to_string(),
            size: rejects.commit().map_err(storage)?,
            etag: None,
        });
    } else if rejects.target.exists() {
        // A previous run's rejects no longer describe this input.
        std::fs::remove_file(&rejects.target).map_err(storage)?;
    }
    if let Some(section) = &mut report.contract {
        section.outputs = written;
    }
    Ok(report)
}

/// Reads `file` through `processor` and finishes (plain text is read straight into the
/// processor's range buffers: see `ParallelProcessor::feed_reader`).
fn read_through(
    file: File,
    mut processor: ParallelProcessor,
) -> Result<shared::Analysis, shared::Error> {
    processor.feed_reader(file)?;
    processor.finish()
}
