//! `infra`: generate the pipeline's template and state machine, deploy and destroy the stack.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use infra::template::Settings;

/// The S3 upload pipeline's AWS side.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write statemachine.asl.json and infra/template.json (the committed, generated files).
    Synth {
        /// The repository root to write under.
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// The routing threshold's default: objects up to this many bytes go to Lambda.
        #[arg(long, default_value_t = shared::job::DEFAULT_THRESHOLD_BYTES)]
        threshold_bytes: u64,
        /// Fail instead of writing when the files differ from the generator's output.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Synth {
            root,
            threshold_bytes,
            check,
        } => {
            let settings = Settings {
                threshold_bytes,
                ..Settings::default()
            };
            if check {
                let stale: Vec<_> = infra::synth(&settings)
                    .into_iter()
                    .filter(|(path, contents)| {
                        std::fs::read_to_string(root.join(path)).ok().as_deref()
                            != Some(contents.as_str())
                    })
                    .map(|(path, _)| path)
                    .collect();
                if stale.is_empty() {
                    return ExitCode::SUCCESS;
                }
                eprintln!(
                    "out of date: {} (run `cargo run -p infra -- synth`)",
                    stale.join(", ")
                );
                return ExitCode::FAILURE;
            }
            match infra::write_synth(&root, &settings) {
                Ok(changed) if changed.is_empty() => println!("up to date"),
                Ok(changed) => {
                    for path in changed {
                        println!("wrote {path}");
                    }
                }
                Err(e) => {
                    eprintln!("synth: {e}");
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
    }
}
