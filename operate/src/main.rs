//! `operate`: the operator's commands (`status`, `reprocess`); the logic is in the library.
//!
//! AWS settings come from the usual places (profile, environment, role); `AWS_ENDPOINT_URL`
//! points both clients at the local pipeline (`make serve` prints it), with
//! `PIPELINE_S3_PATH_STYLE=true`.

use std::io::IsTerminal;

use anyhow::Context;
use clap::{Parser, Subcommand};
use operate::reprocess::Selection;
use operate::status::ExecutionIndex;
use operate::{Bucket, ReprocessOptions};
use shared::KeyLayout;

#[derive(Parser)]
#[command(
    version,
    about = "Operate the S3 upload pipeline: status and reprocess"
)]
struct Cli {
    /// The pipeline's bucket.
    #[arg(long, env = "PIPELINE_BUCKET", global = true)]
    bucket: Option<String>,
    /// The input prefix.
    #[arg(long, env = shared::env::INPUT_PREFIX, default_value = shared::DEFAULT_INPUT_PREFIX, global = true)]
    input_prefix: String,
    /// The output prefix.
    #[arg(long, env = shared::env::OUTPUT_PREFIX, default_value = shared::DEFAULT_OUTPUT_PREFIX, global = true)]
    output_prefix: String,
    /// The pipeline's state machine (the stack's `StateMachineArn` output).
    #[arg(long, env = "PIPELINE_STATE_MACHINE_ARN", global = true)]
    state_machine_arn: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Per object under a key or prefix: version, last outcome (report, failure record or
    /// none yet), route, outputs, execution.
    Status {
        /// A key, or a prefix (default: the input prefix).
        prefix: Option<String>,
        /// How many recent executions to search for those of successes and running ones
        /// (needs --state-machine-arn; 0: none).
        #[arg(long, default_value_t = 200)]
        executions: usize,
    },
    /// Start an execution per object under a prefix (or per key given), pinned to its
    /// current version; objects whose report matches their version are skipped.
    Reprocess {
        /// The prefix (default: the input prefix).
        #[arg(long, conflicts_with = "keys")]
        prefix: Option<String>,
        /// These keys instead of a prefix.
        #[arg(long, num_args = 1..)]
        keys: Vec<String>,
        /// Start even objects whose report matches their version.
        #[arg(long)]
        force: bool,
        /// List what would start; start nothing.
        #[arg(long)]
        dry_run: bool,
        /// Executions started per second at most.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// The run's label: running again with the same label resumes it (starts only what
        /// it had not started); a new label starts failed objects again.
        #[arg(long, default_value = "reprocess")]
        run: String,
    },
}

fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var(shared::env::S3_PATH_STYLE).is_ok_and(|v| v == "true");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style)
            .build(),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let bucket_name = cli
        .bucket
        .context("--bucket (or PIPELINE_BUCKET) is required")?;
    let layout = KeyLayout::new(&cli.input_prefix, &cli.output_prefix)?;
    let config = aws_config::load_from_env().await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let bucket = Bucket::new(s3_client(&config), &bucket_name, layout.clone());
    match cli.command {
        Command::Status { prefix, executions } => {
            let prefix = prefix.unwrap_or_else(|| layout.input_prefix().to_owned());
            let index = match (&cli.state_machine_arn, executions) {
                (Some(arn), n) if n > 0 => Some(ExecutionIndex::recent(&sfn, arn, n).await?),
                _ => None,
            };
            let statuses = operate::status(&bucket, &prefix, index.as_ref()).await?;
            for status in &statuses {
                print!("{status}");
            }
            eprintln!(
                "{} objects under s3://{bucket_name}/{prefix}",
                statuses.len()
            );
        }
        Command::Reprocess {
            prefix,
            keys,
            force,
            dry_run,
            rate,
            run,
        } => {
            let arn = cli
                .state_machine_arn
                .context("--state-machine-arn (or PIPELINE_STATE_MACHINE_ARN) is required")?;
            anyhow::ensure!(rate > 0.0, "--rate must be above 0");
            let selection = if keys.is_empty() {
                Selection::Prefix(prefix.unwrap_or_else(|| layout.input_prefix().to_owned()))
            } else {
                Selection::Keys(keys)
            };
            let options = ReprocessOptions {
                force,
                dry_run,
                executions_per_second: rate,
                run,
                max_starts: None,
                progress: std::io::stderr().is_terminal(),
            };
            let summary = operate::reprocess(&bucket, &sfn, &arn, &selection, &options).await?;
            if dry_run {
                for key in &summary.started {
                    println!("would start {key}");
                }
            }
            for (key, why) in &summary.failed_to_start {
                eprintln!("failed to start {key}: {why}");
            }
            eprintln!("{summary}");
            if !summary.failed_to_start.is_empty() {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
