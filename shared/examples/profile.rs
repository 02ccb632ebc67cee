//! Profiles a local file and prints its report: the quickest way to try the parsing core.
//!
//! ```text
//! cargo run --release -p shared --example profile -- FILE
//! ```
//!
//! Prints the report JSON on stdout and exits 0; when the file cannot be processed, prints
//! the error's name and message on stderr and exits with the name's exit code.

use std::fs::File;
use std::process::ExitCode;
use std::time::Instant;

use shared::{Config, ErrorName, Processing, Report, Source, process_reader};

/// Read size: large enough that system calls cost nothing next to parsing.
const CHUNK: usize = 1 << 20;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: profile FILE");
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
    match process_reader(file, Config::default(), Some(&path), CHUNK) {
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

fn exit(name: ErrorName) -> ExitCode {
    ExitCode::from(u8::try_from(name.exit_code()).unwrap_or(1))
}
