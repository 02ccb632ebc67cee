//! `local-pipeline`: the S3 upload pipeline on one machine (`demo`, `serve`), and a smoke
//! test for any running pipeline, local or on AWS (`smoke`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use local_pipeline::pipeline::{PipelineOptions, RunningPipeline};
use local_pipeline::tasks::ContainerLauncher;

/// The S3 upload pipeline on one machine: an S3 endpoint on loopback whose uploads produce
/// S3's EventBridge events, the generated rule and state machine, and the real processor
/// binaries. The same endpoint answers the Step Functions API (ListExecutions,
/// DescribeExecution, GetExecutionHistory, ...), so `aws s3 ...` and `aws stepfunctions ...`
/// with `--endpoint-url` both work against it.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    after_help = "Each subcommand's --help lists its flags: `local-pipeline demo --help`, \
                  `local-pipeline serve --help`, `local-pipeline smoke --help`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the pipeline, upload the bundled samples (CSV, JSON Lines, gzip, a malformed
    /// file, one above the threshold, a folder marker, sales orders under the contract of
    /// `contracts/sales.toml`), wait, print what happened; exit 0 when every outcome is the
    /// expected one. The contract outputs are downloaded (`--download-dir`) for DuckDB.
    Demo(PipelineArgs),
    /// Start the pipeline and keep it up, logging each execution as files arrive.
    ///
    /// It prints the endpoint (`http://127.0.0.1:<--port>`, S3 and Step Functions), the
    /// bucket (`--bucket`, default `uploads`), the prefixes and the credentials to use
    /// (access key `local`, secret `localsecret`, region `--region`), then logs each execution
    /// on stderr. Upload under `incoming/` with any S3 client; reports appear under
    /// `processed/`, and for a key a data contract owns, its Parquet under `curated/` and
    /// its rejected records under `rejected/`. The endpoint's `/ui` is a web page of the
    /// recent uploads, each execution's path through the state machine and its report. Ctrl-C or SIGTERM stops it: uploads are refused, running ECS tasks get
    /// SIGTERM, and with `--data-dir` the executions and their history are kept there, to go
    /// on after the next start.
    Serve(PipelineArgs),
    /// Upload one small and one large sample to a running pipeline (this one or a deployed
    /// stack), wait for both executions and check their routes and reports.
    Smoke(local_pipeline::smoke::SmokeArgs),
}

#[derive(Debug, Args)]
struct PipelineArgs {
    /// Where the processor binaries are (default: beside this program).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Run the ECS task from the image's exported root filesystem (`make image`, then
    /// `podman export`), chrooted as the image's user (needs root).
    #[arg(long)]
    image_rootfs: Option<PathBuf>,
    /// The data directory: the S3 objects, the executions and their histories, the task
    /// logs, kept across restarts (default: a temporary folder for the objects, removed at
    /// the end, and executions in memory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The endpoint's port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The upload bucket.
    #[arg(long, default_value = "uploads")]
    bucket: String,
    /// The region of the endpoint and the ARNs.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Objects up to this many bytes go to Lambda.
    #[arg(long, default_value_t = shared::DEFAULT_THRESHOLD_BYTES)]
    threshold_bytes: u64,
    /// Waits and retry intervals are multiplied by this; timeouts (`TimeoutSeconds` of a task
    /// or of the state machine) are real time.
    #[arg(long, default_value_t = 0.01)]
    time_scale: f64,
    /// The Lambda function's concurrency limit (its reserved concurrency): up to N
    /// invocations at once, each in its own warm environment; one more is throttled
    /// (`Lambda.TooManyRequestsException`, retried by the state machine), never queued.
    /// Default: no limit, one environment serving invocations in turn.
    #[arg(long, value_name = "N")]
    lambda_concurrency: Option<std::num::NonZeroUsize>,
    /// How long `demo` waits for its executions, in seconds.
    #[arg(long, default_value_t = 300)]
    wait_seconds: u64,
    /// The data contracts (`*.toml`, see docs/contracts.md): checked at start (a bad one stops
    /// it, naming its file and line), applied by both processors: an upload under a
    /// contract's prefix also gets its Parquet under `curated/` and its rejected records
    /// under `rejected/`. Default: `contracts` when the current folder has one (`make demo`
    /// and `make serve` run from the repository's root), else none.
    #[arg(long, value_name = "DIR")]
    contracts_dir: Option<PathBuf>,
    /// Where `demo` downloads the contract outputs (`curated/…`, `rejected/…`) for DuckDB to
    /// read. Default: `local-pipeline` in the folder above this program's, i.e.
    /// `target/local-pipeline` for `make demo`.
    #[arg(long, value_name = "DIR")]
    download_dir: Option<PathBuf>,
}

/// The folder of contracts `--contracts-dir` defaults to, when the current folder has it.
const DEFAULT_CONTRACTS_DIR: &str = "contracts";

impl PipelineArgs {
    fn options(&self) -> anyhow::Result<PipelineOptions> {
        let bin_dir = match &self.bin_dir {
            Some(dir) => dir.clone(),
            None => std::env::current_exe()?
                .parent()
                .map(PathBuf::from)
                .unwrap_or_default(),
        };
        let mut options = PipelineOptions::new(&bin_dir);
        if let Some(root) = &self.image_rootfs {
            options.container = ContainerLauncher::ImageRootfs(root.clone());
        }
        options.data_dir.clone_from(&self.data_dir);
        options.port = self.port;
        options.bucket.clone_from(&self.bucket);
        options.region.clone_from(&self.region);
        options.threshold_bytes = self.threshold_bytes;
        options.time_scale = self.time_scale;
        options.lambda_concurrency = self.lambda_concurrency;
        options.contracts_dir = match &self.contracts_dir {
            Some(dir) => Some(dir.clone()),
            None => Some(PathBuf::from(DEFAULT_CONTRACTS_DIR)).filter(|dir| dir.is_dir()),
        };
        Ok(options)
    }

    /// The demo's download folder.
    fn download_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.download_dir {
            return Ok(dir.clone());
        }
        let exe = std::env::current_exe()?;
        let target = exe
            .parent()
            .and_then(std::path::Path::parent)
            .ok_or_else(|| anyhow::anyhow!("{} has no parent folder", exe.display()))?;
        Ok(target.join("local-pipeline"))
    }
}

fn describe(pipeline: &RunningPipeline) {
    let options = pipeline.options();
    let (access_key, secret_key) = pipeline.s3().credentials();
    println!("local pipeline up:");
    println!(
        "  endpoint        {}  (S3 and Step Functions)",
        pipeline.endpoint()
    );
    println!("  bucket          {}", options.bucket);
    println!(
        "  prefixes        in: {}  out: {}",
        options.input_prefix, options.output_prefix
    );
    println!("  threshold       {} bytes", options.threshold_bytes);
    match options.lambda_concurrency {
        Some(limit) => println!("  lambda          at most {limit} at once, more are throttled"),
        None => println!("  lambda          no concurrency limit, one environment in turn"),
    }
    match pipeline.contracts_dir() {
        Some(dir) if !pipeline.contracts().is_empty() => {
            let datasets: Vec<String> = pipeline
                .contracts()
                .iter()
                .map(|c| format!("{} ({})", c.dataset, c.prefix))
                .collect();
            println!(
                "  contracts       {}: {}",
                dir.display(),
                datasets.join(", ")
            );
        }
        Some(dir) => println!("  contracts       {}: none", dir.display()),
        None => println!("  contracts       none (no --contracts-dir, no ./contracts)"),
    }
    println!("  state machine   {}", pipeline.state_machine_arn());
    // AWS_DEFAULT_REGION too: the AWS CLI v1 reads only that one.
    println!(
        "  credentials     AWS_ACCESS_KEY_ID={access_key} AWS_SECRET_ACCESS_KEY={secret_key} AWS_REGION={region} AWS_DEFAULT_REGION={region}",
        region = options.region
    );
    println!(
        "  web page        {}{}  (recent uploads, executions, reports)",
        pipeline.endpoint(),
        local_pipeline::ui::PATH
    );
    println!("  task logs       {}", pipeline.log_dir().display());
    if let Some(data) = pipeline.data_dir() {
        println!("  data            {}", data.display());
    }
}

async fn run(command: Command) -> anyhow::Result<bool> {
    match command {
        Command::Demo(args) => {
            let pipeline = RunningPipeline::start(args.options()?).await?;
            describe(&pipeline);
            let outcomes =
                local_pipeline::demo::run(&pipeline, Duration::from_secs(args.wait_seconds)).await;
            let downloaded = match &outcomes {
                Ok(outcomes) => {
                    local_pipeline::demo::download_outputs(
                        &pipeline,
                        outcomes,
                        &args.download_dir()?,
                    )
                    .await
                }
                Err(_) => Ok(Vec::new()),
            };
            let bucket = pipeline.options().bucket.clone();
            let limited = pipeline.options().lambda_concurrency.is_some();
            let throttles = pipeline.lambda_throttles();
            pipeline.shutdown().await;
            let outcomes = outcomes?;
            let downloaded = downloaded?;
            println!();
            print!("{}", local_pipeline::demo::table(&outcomes, &bucket));
            if limited {
                println!("lambda invocations throttled (and retried): {throttles}");
            }
            let all = outcomes.iter().all(|o| o.expected);
            println!(
                "{}",
                if all {
                    "every outcome is the expected one"
                } else {
                    "some outcomes are not the expected ones (marked above)"
                }
            );
            print!("{}", local_pipeline::demo::duckdb_hint(&downloaded));
            Ok(all)
        }
        Command::Serve(args) => {
            let pipeline = RunningPipeline::start(args.options()?).await?;
            describe(&pipeline);
            println!(
                "try: aws s3 cp FILE s3://{}/{}FILE --endpoint-url {}",
                pipeline.options().bucket,
                pipeline.options().input_prefix,
                pipeline.endpoint()
            );
            println!(
                "     aws stepfunctions list-executions --state-machine-arn {} --endpoint-url {}",
                pipeline.state_machine_arn(),
                pipeline.endpoint()
            );
            println!(
                "Ctrl-C (or SIGTERM) stops it; executions and history are kept in --data-dir."
            );
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            let signal = tokio::select! {
                result = tokio::signal::ctrl_c() => { result?; "SIGINT" }
                _ = terminate.recv() => "SIGTERM",
            };
            tracing::info!(
                signal,
                "stopping: uploads refused, running tasks get SIGTERM"
            );
            pipeline.shutdown().await;
            tracing::info!("stopped");
            Ok(true)
        }
        Command::Smoke(args) => local_pipeline::smoke::run(&args).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` logs each execution; `demo` and `smoke` print their own progress.
    let default_filter = match cli.command {
        Command::Serve(_) => "local_pipeline=info",
        Command::Demo(_) | Command::Smoke(_) => "local_pipeline=warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    match run(cli.command).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("local-pipeline: {error:#}");
            ExitCode::from(2)
        }
    }
}
