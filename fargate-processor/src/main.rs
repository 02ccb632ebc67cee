//! The Fargate program's entry point: parse the environment, run the job, exit with the
//! code of its outcome.

use std::process::ExitCode;

use clap::Parser;
use fargate_processor::{Args, ROUTE};
use shared::ObjectMetrics;
use storage::{JobError, S3Store, StopSignal, metrics_namespace_from_environment, now_ms};
use storage::{object_metrics, run_job};
use tokio::signal::unix::{SignalKind, signal};
use tracing::Instrument;

/// mimalloc, not the C library's allocator: the image runs a static musl binary, whose
/// allocator takes one lock for every thread and hands large blocks straight back to the
/// kernel, to fault them in again on the next range. Measured on 1 GiB from a loopback S3
/// against the binary before it (`bench_ranged`, README): profiling took 31–40 % less CPU
/// time, converting 15–18 % less. The image sets mimalloc's options (the Dockerfile's `ENV`):
/// freed memory goes back at once and arenas are committed as used, which keeps the peak
/// within 20 % of musl's allocator's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    // JSON lines on stdout for CloudWatch (awslogs); RUST_LOG sets the level (info by default).
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return fail(&JobError::new(
                shared::ErrorName::Internal,
                format!("runtime: {e}"),
            ));
        }
    };
    let started = std::time::Instant::now();
    let namespace = metrics_namespace_from_environment();
    let (result, metrics) = runtime.block_on(run(&args, &namespace));
    // One Embedded Metric Format line per object, as it is: CloudWatch Logs extracts the
    // metrics from the task's awslogs group.
    let metrics = metrics.unwrap_or_else(|| ObjectMetrics {
        failure: result.as_ref().err().map(JobError::name),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        ..ObjectMetrics::new(&namespace, ROUTE)
    });
    println!("{}", metrics.emf_line(now_ms()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// Runs the job; its metrics once there was a job to measure.
async fn run(args: &Args, namespace: &str) -> (Result<(), JobError>, Option<ObjectMetrics>) {
    // The contracts first: a bad one fails the start, whatever the job.
    let (settings, job) = match args.settings().and_then(|s| Ok((s, args.job()?))) {
        Ok(both) => both,
        Err(error) => return (Err(error), None),
    };
    let started = std::time::Instant::now();
    let result = run_settled(&settings, &job).await;
    let metrics = object_metrics(namespace, &settings, &job, &result, started.elapsed());
    (result.map(drop), Some(metrics))
}

async fn run_settled(
    settings: &storage::RunSettings,
    job: &shared::Job,
) -> Result<storage::RunOutcome, JobError> {
    let store = S3Store::from_environment().await;
    let (stop_sender, stop) = StopSignal::new();
    // SIGTERM: a Fargate stop or a Spot interruption, with 30 s to go. SIGINT: Ctrl-C.
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|e| JobError::new(shared::ErrorName::Internal, format!("signal handler: {e}")))?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::warn!("SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => tracing::warn!("SIGINT: stopping"),
        }
        let _ = stop_sender.send(true);
    });
    let span =
        tracing::info_span!("job", bucket = %job.bucket, key = %job.object.key, route = ROUTE);
    let outcome = run_job(&store, job, settings, &stop)
        .instrument(span.clone())
        .await?;
    span.in_scope(|| {
        tracing::info!(
            status = ?outcome.status,
            report = %outcome.report_key,
            records = outcome.records.map(|r| r.total),
            "done"
        );
    });
    Ok(outcome)
}

/// Logs the failure as JSON and turns its name into the exit code.
fn fail(error: &JobError) -> ExitCode {
    let name = error.name();
    tracing::error!(error = name.as_str(), detail = error.message(), "failed");
    ExitCode::from(u8::try_from(name.exit_code()).unwrap_or(1))
}
