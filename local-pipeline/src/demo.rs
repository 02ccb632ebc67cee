//! `local-pipeline demo`: uploads the bundled samples to a fresh local pipeline, waits for
//! their executions, prints what happened to each, and says whether it was what we expect.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::execution::{ExecutionRecord, ExecutionStatus};
use crate::pipeline::RunningPipeline;

/// Which way an execution went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The Lambda task.
    Lambda,
    /// The ECS task.
    Fargate,
    /// Skipped (a folder marker).
    Skipped,
    /// Neither task was reached.
    None,
}

impl Route {
    /// The route an execution took, from its history.
    pub fn of(record: &ExecutionRecord) -> Route {
        let entered = |state: &str| {
            record.history.iter().any(|event| {
                event.kind.ends_with("StateEntered")
                    && event
                        .details
                        .as_ref()
                        .is_some_and(|(_, d)| d["name"] == state)
            })
        };
        if entered(infra::statemachine::state::FARGATE) {
            Route::Fargate
        } else if entered(infra::statemachine::state::LAMBDA) {
            Route::Lambda
        } else if entered(infra::statemachine::state::SKIP_FOLDER) {
            Route::Skipped
        } else {
            Route::None
        }
    }

    /// Its name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Lambda => "lambda",
            Route::Fargate => "fargate",
            Route::Skipped => "skipped",
            Route::None => "-",
        }
    }
}

/// A sample to upload and what should become of it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Its key.
    pub key: String,
    /// Its bytes.
    pub body: Vec<u8>,
    /// The route it should take.
    pub route: Route,
    /// `None` for success, or the error name the execution should fail with.
    pub error: Option<&'static str>,
}

/// The bundled samples, plus a generated CSV one MiB above `threshold_bytes` (the Fargate
/// route) and a folder marker.
pub fn samples(input_prefix: &str, threshold_bytes: u64) -> Vec<Sample> {
    let sample = |name: &str, body: &[u8], route: Route, error: Option<&'static str>| Sample {
        key: format!("{input_prefix}samples/{name}"),
        body: body.to_vec(),
        route,
        error,
    };
    vec![
        sample("", b"", Route::Skipped, None),
        sample(
            "people.csv",
            include_bytes!("../samples/people.csv"),
            Route::Lambda,
            None,
        ),
        sample(
            "events.jsonl",
            include_bytes!("../samples/events.jsonl"),
            Route::Lambda,
            None,
        ),
        sample(
            "sales.csv.gz",
            include_bytes!("../samples/sales.csv.gz"),
            Route::Lambda,
            None,
        ),
        sample(
            "broken.csv",
            include_bytes!("../samples/broken.csv"),
            Route::Lambda,
            Some("TooManyMalformedRecords"),
        ),
        sample(
            "large/orders.csv",
            &generated_csv(threshold_bytes + 1024 * 1024),
            Route::Fargate,
            None,
        ),
    ]
}

/// A deterministic CSV of at least `size` bytes.
pub fn generated_csv(size: u64) -> Vec<u8> {
    let mut out = String::from("order_id,customer,amount,placed_on,priority\n");
    let mut n: u64 = 0;
    while (out.len() as u64) < size {
        n += 1;
        let _ = writeln!(
            out,
            "{n},customer-{:05},{}.{:02},2026-{:02}-{:02},{}",
            n * 7919 % 100_000,
            n * 31 % 10_000,
            n % 100,
            n % 12 + 1,
            n % 28 + 1,
            ["low", "normal", "high"][usize::try_from(n % 3).unwrap_or(0)]
        );
    }
    out.into_bytes()
}

/// The key an execution was started for (decoded).
pub fn execution_key(record: &ExecutionRecord) -> Option<String> {
    let key = record.input["detail"]["object"]["key"].as_str()?;
    shared::job::decode_event_key(key).ok()
}

/// One line of the result table.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The key.
    pub key: String,
    /// The size.
    pub size: u64,
    /// The route taken.
    pub route: Route,
    /// `SUCCEEDED`, or the error name.
    pub status: String,
    /// How long the execution ran.
    pub duration: Duration,
    /// Where the report is (when one was written).
    pub report: String,
    /// Whether this is what the sample expects.
    pub expected: bool,
}

/// Uploads the samples in order.
async fn upload_samples(pipeline: &RunningPipeline, samples: &[Sample]) -> anyhow::Result<()> {
    let options = pipeline.options();
    let client = pipeline.s3().client();
    for sample in samples {
        client
            .put_object()
            .bucket(&options.bucket)
            .key(&sample.key)
            .body(sample.body.clone().into())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("uploading {}: {e}", sample.key))?;
        println!(
            "uploaded s3://{}/{} ({} bytes)",
            options.bucket,
            sample.key,
            sample.body.len()
        );
    }
    Ok(())
}

/// Waits until `count` executions after the first `skip` (those of an earlier run kept in the
/// data directory) have ended, printing each as it ends; their records.
async fn wait_for_executions(
    pipeline: &RunningPipeline,
    skip: usize,
    count: usize,
    wait: Duration,
) -> anyhow::Result<Vec<ExecutionRecord>> {
    let started = Instant::now();
    let mut reported = Vec::new();
    loop {
        let records: Vec<ExecutionRecord> = pipeline
            .executions()
            .iter()
            .skip(skip)
            .map(crate::execution::Execution::snapshot)
            .collect();
        for record in &records {
            if record.status != ExecutionStatus::Running && !reported.contains(&record.name) {
                reported.push(record.name.clone());
                println!(
                    "  [{}/{}] {} {} ({})",
                    reported.len(),
                    count,
                    execution_key(record).unwrap_or_default(),
                    record.error.as_deref().unwrap_or(record.status.as_str()),
                    Route::of(record).as_str()
                );
            }
        }
        let done = records
            .iter()
            .filter(|r| r.status != ExecutionStatus::Running)
            .count();
        if done >= count {
            return Ok(records);
        }
        if started.elapsed() > wait {
            anyhow::bail!("only {done} of {count} executions ended within {wait:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Uploads the samples, waits for their executions (printing progress), and returns the
/// outcomes in upload order.
pub async fn run(pipeline: &RunningPipeline, wait: Duration) -> anyhow::Result<Vec<Outcome>> {
    let options = pipeline.options();
    let samples = samples(&options.input_prefix, options.threshold_bytes);
    let earlier = pipeline.executions().len();
    upload_samples(pipeline, &samples).await?;
    let client = pipeline.s3().client();
    let records = wait_for_executions(pipeline, earlier, samples.len(), wait).await?;
    let layout = shared::job::KeyLayout::new(&options.input_prefix, &options.output_prefix)
        .map_err(|e| anyhow::anyhow!("prefixes: {e}"))?;
    let mut outcomes = Vec::new();
    for sample in &samples {
        let record = records
            .iter()
            .find(|r| execution_key(r).as_deref() == Some(sample.key.as_str()));
        let Some(record) = record else {
            outcomes.push(Outcome {
                key: sample.key.clone(),
                size: sample.body.len() as u64,
                route: Route::None,
                status: "no execution".into(),
                duration: Duration::ZERO,
                report: String::new(),
                expected: false,
            });
            continue;
        };
        let route = Route::of(record);
        let status = record
            .error
            .clone()
            .unwrap_or_else(|| record.status.as_str().to_owned());
        let duration = record
            .stop_date
            .and_then(|stop| stop.duration_since(record.start_date).ok())
            .unwrap_or_default();
        let report = if route != Route::Skipped && record.status == ExecutionStatus::Succeeded {
            let key = layout.report_key(&sample.key);
            let written = client
                .head_object()
                .bucket(&options.bucket)
                .key(&key)
                .send()
                .await
                .is_ok();
            if written {
                key
            } else {
                format!("{key} (missing!)")
            }
        } else {
            String::new()
        };
        let expected = !report.ends_with("(missing!)")
            && route == sample.route
            && match sample.error {
                None => record.status == ExecutionStatus::Succeeded,
                Some(name) => record.error.as_deref() == Some(name),
            };
        outcomes.push(Outcome {
            key: sample.key.clone(),
            size: sample.body.len() as u64,
            route,
            status,
            duration,
            report,
            expected,
        });
    }
    Ok(outcomes)
}

/// The outcomes as a table.
pub fn table(outcomes: &[Outcome], bucket: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<36} {:>10}  {:<8} {:<24} {:>8}  report",
        "key", "size", "route", "status", "duration"
    );
    for o in outcomes {
        let report = if o.report.is_empty() {
            "-".to_owned()
        } else {
            format!("s3://{bucket}/{}", o.report)
        };
        let _ = writeln!(
            out,
            "{:<36} {:>10}  {:<8} {:<24} {:>7.2}s  {report}{}",
            o.key,
            o.size,
            o.route.as_str(),
            o.status,
            o.duration.as_secs_f64(),
            if o.expected { "" } else { "   <- unexpected" }
        );
    }
    out
}
