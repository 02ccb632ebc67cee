//! Profiles a local file and prints its report: the quickest way to try the parsing core.
//!
//! ```text
//! cargo run --release -p shared --example profile -- [--threads N] [--range-bytes B] FILE
//! ```
//!
//! `--threads N` parses the file on N threads (the report is the same whatever N);
//! the default is the CPUs the process may use, which on Linux
//! [`std::thread::available_parallelism`] reads from the affinity mask and the cgroup CPU
//! quota, a container's CPU limit
//! (<https://doc.rust-lang.org/std/thread/fn.available_parallelism.html>,
//! <https://github.com/rust-lang/rust/pull/92697>). The file is streamed in chunks whatever
//! N: memory stays bounded (see `shared::Parallelism::buffered_bytes`). `--range-bytes B`
//! sets the size of the ranges the threads take (see `shared::Parallelism::range_bytes`).
//!
//! Prints the report JSON on stdout and exits 0; when the file cannot be processed, prints
//! the error's name and message on stderr and exits with the name's exit code.

use std::fs::File;
use std::process::ExitCode;
use std::time::Instant;

use shared::{Config, ErrorName, ParallelProcessor, Parallelism, Processing, Report, Source};

fn main() -> ExitCode {
    let Some((threads, path)) = arguments(std::env::args().skip(1)) else {
        eprintln!("usage: profile [--threads N] [--range-bytes B] FILE");
        return ExitCode::from(2);
    };
    let started = Instant::now();
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("SourceMissing: cannot open {path}: {e}");
            return exit(ErrorName::SourceMissing);
        }
    };
    let size = file.metadata().ok().map(|m| m.len());
    // Streamed in chunks: memory stays bounded whatever the file's size.
    let mut processor = ParallelProcessor::new(Config::default(), Some(&path), threads);
    if let Some(size) = size {
        processor = processor.with_input_size(size);
    }
    let result = read_through(file, processor);
    match result {
        Ok(analysis) => {
            let source = Source {
                key: path,
                size,
                ..Source::default()
            };
            let processing = Processing::measure("cli", started.elapsed(), &analysis);
            let report = Report::new(source, &analysis, processing);
            print!("{}", String::from_utf8_lossy(&report.to_json()));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{}: {error}", error.name());
            exit(error.name())
        }
    }
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

fn exit(name: ErrorName) -> ExitCode {
    ExitCode::from(u8::try_from(name.exit_code()).unwrap_or(1))
}

/// `[--threads N] [--range-bytes B] FILE`: the parallelism (by default, the CPUs available,
/// with ranges of `Parallelism::DEFAULT_RANGE_BYTES`) and the path.
fn arguments(mut args: impl Iterator<Item = String>) -> Option<(Parallelism, String)> {
    let mut parallelism = Parallelism::available();
    let mut range_bytes = None;
    let mut path = None;
    while let Some(arg) = args.next() {
        if arg == "--threads" {
            let threads: usize = args.next()?.parse().ok()?;
            parallelism = Parallelism::with_threads(threads.max(1));
        } else if arg == "--range-bytes" {
            range_bytes = Some(args.next()?.parse::<usize>().ok()?);
        } else if path.is_none() {
            path = Some(arg);
        } else {
            return None;
        }
    }
    if let Some(range_bytes) = range_bytes {
        parallelism = parallelism.with_range_bytes(range_bytes);
    }
    Some((parallelism, path?))
}
