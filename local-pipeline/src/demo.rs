//! `local-pipeline demo`: uploads the bundled samples to a fresh local pipeline, waits for
//! their executions, prints what happened to each, and says whether it was what we expect.
//! One sample lies under a data contract's prefix (`incoming/sales/`, `contracts/sales.toml`):
//! its records written and rejected and its Parquet key are shown, and its outputs are
//! downloaded ([`download_outputs`]) for DuckDB to read.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
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
    /// Records written and rejected, when a contract owns the key.
    pub contract: Option<ExpectedContract>,
}

/// What a contract's outcome should be: records written to Parquet, and rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedContract {
    /// Records written.
    pub written: u64,
    /// Records rejected.
    pub rejected: u64,
}

/// The bundled samples, plus a generated CSV one MiB above `threshold_bytes` (the Fargate
/// route) and a folder marker; the sales orders go under `incoming/sales/`, the prefix of
/// `contracts/sales.toml` (30 records meet it, 3 do not).
pub fn samples(input_prefix: &str, threshold_bytes: u64) -> Vec<Sample> {
    let sample = |name: &str, body: &[u8], route: Route, error: Option<&'static str>| Sample {
        key: format!("{input_prefix}samples/{name}"),
        body: body.to_vec(),
        route,
        error,
        contract: None,
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
        Sample {
            key: format!("{input_prefix}sales/orders.csv"),
            body: include_bytes!("../samples/sales/orders.csv").to_vec(),
            route: Route::Lambda,
            error: None,
            contract: Some(ExpectedContract {
                written: 30,
                rejected: 3,
            }),
        },
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
    shared::decode_event_key(key).ok()
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
    /// The report's `contract` section, when a contract owns the key.
    pub contract: Option<ContractResult>,
    /// Whether this is what the sample expects.
    pub expected: bool,
}

/// A report's `contract` section, as the demo shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractResult {
    /// The dataset.
    pub dataset: String,
    /// Records written to Parquet.
    pub written: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Rejected records by reason (`reason count`, in the report's order).
    pub by_reason: Vec<(String, u64)>,
    /// The outputs' keys (the Parquet first, then the rejects when there are any).
    pub outputs: Vec<String>,
}

impl ContractResult {
    /// The `contract` section of a report, if it has one.
    pub fn from_report(report: &serde_json::Value) -> Option<ContractResult> {
        let section = report.get("contract")?;
        Some(ContractResult {
            dataset: section["dataset"].as_str()?.to_owned(),
            written: section["records_written"].as_u64()?,
            rejected: section["records_rejected"].as_u64()?,
            by_reason: section["rejected_by_reason"]
                .as_object()
                .map(|reasons| {
                    reasons
                        .iter()
                        .map(|(reason, n)| (reason.clone(), n.as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default(),
            outputs: section["outputs"]
                .as_array()?
                .iter()
                .filter_map(|o| o["key"].as_str().map(str::to_owned))
                .collect(),
        })
    }

    /// The Parquet output's key.
    pub fn parquet(&self) -> Option<&str> {
        self.outputs
            .iter()
            .map(String::as_str)
            .find(|k| k.ends_with(".parquet"))
    }
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
    let records = wait_for_executions(pipeline, earlier, samples.len(), wait).await?;
    let layout = shared::KeyLayout::new(&options.input_prefix, &options.output_prefix)
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
                contract: None,
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
        let mut contract = None;
        let report = if route != Route::Skipped && record.status == ExecutionStatus::Succeeded {
            let key = layout.report_key(&sample.key);
            match get_object(pipeline, &key).await {
                Ok(body) => {
                    contract = serde_json::from_slice(&body)
                        .ok()
                        .as_ref()
                        .and_then(ContractResult::from_report);
                    key
                }
                Err(_) => format!("{key} (missing!)"),
            }
        } else {
            String::new()
        };
        let expected = !report.ends_with("(missing!)")
            && route == sample.route
            && match sample.error {
                None => record.status == ExecutionStatus::Succeeded,
                Some(name) => record.error.as_deref() == Some(name),
            }
            && contract_as_expected(pipeline, sample, contract.as_ref());
        outcomes.push(Outcome {
            key: sample.key.clone(),
            size: sample.body.len() as u64,
            route,
            status,
            duration,
            report,
            contract,
            expected,
        });
    }
    Ok(outcomes)
}

/// Whether a succeeded sample's contract section is the expected one: none when no contract
/// owns its key; else the owner's dataset and output keys, and the sample's counts.
fn contract_as_expected(
    pipeline: &RunningPipeline,
    sample: &Sample,
    result: Option<&ContractResult>,
) -> bool {
    if sample.error.is_some() || sample.route == Route::Skipped {
        return result.is_none();
    }
    match (pipeline.contracts().owner(&sample.key), result) {
        (None, None) => true,
        (Some(contract), Some(result)) => {
            let keys = contract.output_keys(&sample.key);
            result.dataset == contract.dataset
                && result.parquet() == Some(keys.parquet.as_str())
                && (result.rejected == 0 || result.outputs.contains(&keys.rejects))
                && sample
                    .contract
                    .is_none_or(|e| (e.written, e.rejected) == (result.written, result.rejected))
        }
        _ => false,
    }
}

/// The bytes of `key` in the pipeline's bucket.
async fn get_object(pipeline: &RunningPipeline, key: &str) -> anyhow::Result<Vec<u8>> {
    let object = pipeline
        .s3()
        .client()
        .get_object()
        .bucket(&pipeline.options().bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("reading {key}: {e}"))?;
    Ok(object
        .body
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading {key}: {e}"))?
        .to_vec())
}

/// Downloads the contract outputs of `outcomes` from the local S3 into `dir`, each at its key
/// (`dir/curated/<dataset>/….parquet`, `dir/rejected/<dataset>/….rejects.jsonl`): the local
/// S3 stores objects under ids, not keys, so its folder is no place to point DuckDB at. Each
/// file is written beside under a temporary name, then renamed. The files written.
pub async fn download_outputs(
    pipeline: &RunningPipeline,
    outcomes: &[Outcome],
    dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for key in outcomes
        .iter()
        .filter_map(|o| o.contract.as_ref())
        .flat_map(|c| &c.outputs)
    {
        // Keys the processors wrote under their own prefixes; nothing climbs out of `dir`.
        anyhow::ensure!(
            !key.split('/')
                .any(|s| s.is_empty() || s == "." || s == ".."),
            "an output key that is no relative path: {key}"
        );
        let path = dir.join(key);
        let body = get_object(pipeline, key).await?;
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", folder.display()))?;
        }
        let mut partial = path.clone().into_os_string();
        partial.push(".partial");
        std::fs::write(&partial, &body)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// What to run to query the downloaded Parquet (`files`, from [`download_outputs`]) with
/// DuckDB: one command per dataset, on its folder's `*.parquet`, with the path relative to the
/// current folder when it is inside it.
pub fn duckdb_hint(files: &[PathBuf]) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut folders: Vec<PathBuf> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    folders.dedup();
    let mut out = String::new();
    if folders.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "the contract outputs, downloaded from the local S3; query the Parquet with DuckDB:"
    );
    for folder in folders {
        let shown = folder.strip_prefix(&cwd).unwrap_or(&folder);
        let _ = writeln!(
            out,
            "  duckdb -c \"select * from '{}'\"",
            shown.join("*.parquet").display()
        );
    }
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "jsonl"))
    {
        let shown = file.strip_prefix(&cwd).unwrap_or(file);
        let _ = writeln!(out, "  rejected records: {}", shown.display());
    }
    out
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
        if let Some(c) = &o.contract {
            let reasons: Vec<String> = c
                .by_reason
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect();
            let _ = writeln!(
                out,
                "  contract {}: {} records written, {} rejected{}; parquet s3://{bucket}/{}",
                c.dataset,
                c.written,
                c.rejected,
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", reasons.join(", "))
                },
                c.parquet().unwrap_or("-")
            );
        }
    }
    out
}
