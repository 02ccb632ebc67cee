//! The whole pipeline end to end: uploads to the local S3 start executions of the generated
//! state machine through the generated rule, and the real processor binaries (host builds in
//! this target folder: `cargo test --workspace` builds them) write the reports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use local_pipeline::demo::Route;
use local_pipeline::execution::{ExecutionRecord, ExecutionStatus};
use local_pipeline::pipeline::{PipelineOptions, RunningPipeline};

/// Small enough that both routes are quick.
pub const THRESHOLD: u64 = 64 * 1024;

/// The folder holding this test's binaries and the processors': `target/<profile>`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    for binary in ["lambda-processor", "fargate-processor"] {
        assert!(
            dir.join(binary).exists(),
            "{} is missing: run `cargo build -p lambda-processor -p fargate-processor` \
             (cargo test --workspace builds them)",
            dir.join(binary).display()
        );
    }
    dir
}

/// The tests' options: the binaries of this target folder, a small threshold, fast waits.
pub fn options() -> PipelineOptions {
    let mut options = PipelineOptions::new(&bin_dir());
    options.threshold_bytes = THRESHOLD;
    options.time_scale = 0.001;
    options.log_dir =
        Some(std::env::temp_dir().join(format!("local-pipeline-test-{}", std::process::id())));
    options
}

pub async fn start() -> RunningPipeline {
    RunningPipeline::start(options()).await.unwrap()
}

pub async fn upload(pipeline: &RunningPipeline, key: &str, body: Vec<u8>) {
    pipeline
        .s3()
        .client()
        .put_object()
        .bucket(&pipeline.options().bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

/// Waits until `count` executions exist and all have ended.
pub async fn ended(pipeline: &RunningPipeline, count: usize) -> Vec<ExecutionRecord> {
    let deadline = std::time::Instant::now() + Duration::from_mins(2);
    loop {
        let records: Vec<ExecutionRecord> = pipeline
            .executions()
            .iter()
            .map(local_pipeline::execution::Execution::snapshot)
            .collect();
        if records.len() >= count && records.iter().all(|r| r.status != ExecutionStatus::Running) {
            return records;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "executions did not end: {:?}",
            records
                .iter()
                .map(|r| (&r.name, r.status))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn record_for<'a>(records: &'a [ExecutionRecord], key: &str) -> &'a ExecutionRecord {
    records
        .iter()
        .find(|r| local_pipeline::demo::execution_key(r).as_deref() == Some(key))
        .unwrap_or_else(|| panic!("no execution for {key}"))
}

async fn report(pipeline: &RunningPipeline, key: &str) -> Vec<u8> {
    let report_key = shared::KeyLayout::new("incoming/", "processed/")
        .unwrap()
        .report_key(key);
    let object = pipeline
        .s3()
        .client()
        .get_object()
        .bucket(&pipeline.options().bucket)
        .key(&report_key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("no report at {report_key}: {e:?}"));
    object.body.collect().await.unwrap().to_vec()
}

fn entered(record: &ExecutionRecord) -> Vec<String> {
    record
        .history
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .filter_map(|e| e.details.as_ref()?.1["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_threshold_splits_the_routes() {
    let pipeline = start().await;
    let exactly = local_pipeline::demo::generated_csv(THRESHOLD);
    let exactly = exactly[..usize::try_from(THRESHOLD).unwrap()].to_vec();
    let mut one_more = exactly.clone();
    one_more.push(b'\n');
    upload(&pipeline, "incoming/at-threshold.csv", exactly).await;
    upload(&pipeline, "incoming/above-threshold.csv", one_more).await;
    let records = ended(&pipeline, 2).await;
    let at = record_for(&records, "incoming/at-threshold.csv");
    let above = record_for(&records, "incoming/above-threshold.csv");
    assert_eq!(
        (at.status, Route::of(at)),
        (ExecutionStatus::Succeeded, Route::Lambda)
    );
    assert_eq!(
        (above.status, Route::of(above)),
        (ExecutionStatus::Succeeded, Route::Fargate)
    );
    pipeline.shutdown().await;
}

/// Issue 14: a Fargate task's log (what CloudWatch Logs would get from its `awslogs` driver)
/// has exactly one Embedded Metric Format line for its object, which parses as the
/// specification documents it
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>,
/// checked by `shared::parse_emf`) and gives the object's bytes and records.
#[tokio::test(flavor = "multi_thread")]
async fn a_fargate_task_log_has_one_emf_line_with_its_objects_figures() {
    let pipeline = start().await;
    let body = local_pipeline::demo::generated_csv(THRESHOLD + 1);
    // Every line but the header is a record.
    let line_count = std::str::from_utf8(&body).unwrap().lines().count();
    let records = u64::try_from(line_count - 1).unwrap();
    let size = u64::try_from(body.len()).unwrap();
    upload(&pipeline, "incoming/metrics/large.csv", body).await;
    let ended = ended(&pipeline, 1).await;
    let record = record_for(&ended, "incoming/metrics/large.csv");
    assert_eq!(
        (record.status, Route::of(record)),
        (ExecutionStatus::Succeeded, Route::Fargate)
    );
    let folder = pipeline.log_dir().join(&record.name);
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let log = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        lines.extend(
            log.lines()
                .filter(|line| line.contains("\"_aws\""))
                .map(str::to_owned),
        );
    }
    assert_eq!(lines.len(), 1, "one EMF line in {}", folder.display());
    let values = shared::parse_emf(&lines[0]).unwrap_or_else(|e| panic!("{e}: {}", lines[0]));
    let value = |name: &str, dimensions: &[(&str, &str)]| -> u64 {
        let found = shared::EmfValue::find(&values, name, dimensions)
            .unwrap_or_else(|e| panic!("{e}: {values:?}"));
        found.whole().unwrap()
    };
    let route = [("Route", "fargate")];
    assert_eq!(value("Objects", &route), 1);
    assert_eq!(value("Bytes", &route), size);
    assert_eq!(value("Records", &route), records);
    assert_eq!(value("Failures", &[]), 0);
    assert_eq!(value("Objects", &[("Dataset", shared::NO_DATASET)]), 1);
    pipeline.shutdown().await;
}

/// The bucket is versioned, as the deployed one is: each event carries the version id S3
/// gave the upload, and both processors read that version and name it in the report.
#[tokio::test(flavor = "multi_thread")]
async fn events_carry_the_uploads_version_and_both_routes_report_it() {
    let pipeline = start().await;
    let mut versions = Vec::new();
    for (key, size) in [
        ("incoming/versioned-small.csv", THRESHOLD / 2),
        ("incoming/versioned-large.csv", THRESHOLD * 2),
    ] {
        let body = local_pipeline::demo::generated_csv(size);
        let put = pipeline
            .s3()
            .client()
            .put_object()
            .bucket(&pipeline.options().bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
        let version = put
            .version_id()
            .expect("a versioned bucket gives a version id");
        versions.push((key, version.to_owned()));
    }
    let records = ended(&pipeline, 2).await;
    for (key, version) in versions {
        let record = record_for(&records, key);
        assert_eq!(record.status, ExecutionStatus::Succeeded, "{key}");
        assert_eq!(
            record.input["detail"]["object"]["version-id"], version,
            "{key}: the event"
        );
        let report: Value = serde_json::from_slice(&report(&pipeline, key).await).unwrap();
        assert_eq!(report["source"]["version_id"], version, "{key}: the report");
    }
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_with_spaces_plus_unicode_and_deep_paths_are_processed() {
    let pipeline = start().await;
    let keys = [
        "incoming/with space.csv",
        "incoming/with+plus.csv",
        "incoming/ünïcødé/データ.csv",
        "incoming/a/b/c/d/e/f/deep file+1.csv",
    ];
    for key in keys {
        upload(
            &pipeline,
            key,
            include_bytes!("../samples/people.csv").to_vec(),
        )
        .await;
    }
    let records = ended(&pipeline, keys.len()).await;
    for key in keys {
        let record = record_for(&records, key);
        assert_eq!(
            record.status,
            ExecutionStatus::Succeeded,
            "{key}: {:?}",
            record.cause
        );
        let report: serde_json::Value =
            serde_json::from_slice(&report(&pipeline, key).await).unwrap();
        assert_eq!(report["source"]["key"], key);
    }
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_above_the_lambda_concurrency_is_throttled_and_every_execution_succeeds() {
    const OBJECTS: usize = 50;
    let mut options = options();
    options.lambda_concurrency = std::num::NonZeroUsize::new(2);
    // The definition's retry intervals as `serve` and `demo` scale them: the throttling
    // retrier's ~15 minutes (on average, with full jitter) take ~9 s.
    options.time_scale = 0.01;
    let pipeline = RunningPipeline::start(options).await.unwrap();
    let keys: Vec<String> = (0..OBJECTS)
        .map(|n| format!("incoming/burst/object-{n:02}.csv"))
        .collect();
    // All at once, as a burst of uploads arrives: 50 executions reach the Lambda task
    // together, and all but 2 of their first invocations are throttled.
    let started = std::time::Instant::now();
    let mut uploads = tokio::task::JoinSet::new();
    let s3 = pipeline.s3().client();
    for (n, key) in keys.iter().enumerate() {
        let client = s3.clone();
        let bucket = pipeline.options().bucket.clone();
        let (key, body) = (key.clone(), format!("id,name\n{n},item {n}\n").into_bytes());
        uploads.spawn(async move {
            client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(body.into())
                .send()
                .await
        });
    }
    while let Some(upload) = uploads.join_next().await {
        upload.unwrap().unwrap();
    }
    let records = ended(&pipeline, OBJECTS).await;
    eprintln!(
        "{OBJECTS} objects at a Lambda concurrency of 2: {:?}, {} invocations throttled",
        started.elapsed(),
        pipeline.lambda_throttles()
    );
    assert_eq!(records.len(), OBJECTS);
    let mut throttled = 0;
    for key in &keys {
        let record = record_for(&records, key);
        assert_eq!(
            (record.status, Route::of(record)),
            (ExecutionStatus::Succeeded, Route::Lambda),
            "{key}: {:?} {:?}",
            record.error,
            record.cause
        );
        for event in &record.history {
            let Some((_, details)) = event
                .details
                .as_ref()
                .filter(|_| event.kind == "TaskFailed")
            else {
                continue;
            };
            assert_eq!(
                details["error"], "Lambda.TooManyRequestsException",
                "{key}: the only failures are throttles"
            );
            let cause = details["cause"].as_str().unwrap();
            assert!(
                cause.starts_with("Rate Exceeded. (Service: AWSLambda; Status Code: 429;"),
                "{cause}"
            );
            throttled += 1;
        }
        let report: serde_json::Value =
            serde_json::from_slice(&report(&pipeline, key).await).unwrap();
        assert_eq!(report["source"]["key"], key.as_str());
    }
    // Throttling happened, and each throttle was a failed attempt the state machine retried.
    assert!(throttled > 0, "no invocation was throttled");
    assert_eq!(throttled, pipeline.lambda_throttles());
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_file_ends_in_its_named_fail_state_on_both_routes() {
    let pipeline = start().await;
    let broken = include_bytes!("../samples/broken.csv").to_vec();
    let mut big_broken = b"a,b,c\n".to_vec();
    while (big_broken.len() as u64) <= THRESHOLD {
        big_broken.extend_from_slice(b"1,2\n");
    }
    upload(&pipeline, "incoming/broken.csv", broken).await;
    upload(&pipeline, "incoming/big-broken.csv", big_broken).await;
    upload(
        &pipeline,
        "incoming/binary.bin",
        vec![0, 159, 146, 150, 0, 1, 2],
    )
    .await;
    let records = ended(&pipeline, 3).await;
    for (key, route, error) in [
        (
            "incoming/broken.csv",
            Route::Lambda,
            "TooManyMalformedRecords",
        ),
        (
            "incoming/big-broken.csv",
            Route::Fargate,
            "TooManyMalformedRecords",
        ),
        ("incoming/binary.bin", Route::Lambda, "UnsupportedFormat"),
    ] {
        let record = record_for(&records, key);
        assert_eq!(record.status, ExecutionStatus::Failed, "{key}");
        assert_eq!(
            record.error.as_deref(),
            Some(error),
            "{key}: {:?}",
            record.cause
        );
        assert_eq!(Route::of(record), route, "{key}");
        let last = entered(record).pop().unwrap();
        assert_eq!(last, format!("Failed: {error}"), "{key}");
        assert!(
            !record.cause.clone().unwrap_or_default().is_empty(),
            "{key} has no cause"
        );
    }
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_event_gives_a_byte_identical_report_and_outputs_start_nothing() {
    let pipeline = start().await;
    upload(
        &pipeline,
        "incoming/twice.csv",
        include_bytes!("../samples/people.csv").to_vec(),
    )
    .await;
    let records = ended(&pipeline, 1).await;
    let first = report(&pipeline, "incoming/twice.csv").await;
    // The same event again, as EventBridge may deliver it twice.
    let event = records[0].input.clone();
    let api = pipeline
        .start_execution(Some("duplicate".into()), event)
        .unwrap();
    let records = ended(&pipeline, 2).await;
    assert!(
        records
            .iter()
            .all(|r| r.status == ExecutionStatus::Succeeded)
    );
    assert_eq!(api.snapshot().status, ExecutionStatus::Succeeded);
    assert_eq!(report(&pipeline, "incoming/twice.csv").await, first);
    // The reports written under processed/ produced events, none of which matched the rule.
    let (seen, matched) = pipeline.event_counts();
    assert_eq!(matched, 1, "only the upload matched");
    assert!(
        seen > matched,
        "the report's write produced an event too ({seen})"
    );
    assert_eq!(pipeline.executions().len(), 2);
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_folder_marker_is_skipped_without_a_task() {
    let pipeline = start().await;
    upload(&pipeline, "incoming/new folder/", Vec::new()).await;
    let records = ended(&pipeline, 1).await;
    let record = &records[0];
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(Route::of(record), Route::Skipped);
    assert!(!record.history.iter().any(|e| e.kind == "TaskScheduled"));
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smoke_passes_against_the_local_pipeline() {
    let pipeline = start().await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-pipeline"));
    command
        .args([
            "smoke",
            "--endpoint",
            &pipeline.endpoint(),
            "--threshold-bytes",
        ])
        .arg(THRESHOLD.to_string())
        .args(["--wait-seconds", "120"])
        .env_remove("AWS_PROFILE")
        .envs(pipeline.s3().env_vars());
    let output = command.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("ok   small.csv") && stdout.contains("ok   large.csv"),
        "{stdout}"
    );
    assert!(stdout.contains(pipeline.state_machine_arn()), "{stdout}");
    let records = ended(&pipeline, 2).await;
    let routes: Vec<Route> = records.iter().map(Route::of).collect();
    assert_eq!(routes, [Route::Lambda, Route::Fargate]);
    pipeline.shutdown().await;
}

/// `make demo` as it runs: from the repository's root, whose `contracts/` it picks up without
/// a flag; the sales orders' outcome is shown, and the downloaded Parquet answers the DuckDB
/// query the demo prints.
#[test]
fn the_demo_command_runs_and_every_outcome_is_expected() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let download = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_local-pipeline"))
        .current_dir(&root)
        .args(["demo", "--bin-dir"])
        .arg(bin_dir())
        .arg("--download-dir")
        .arg(download.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("every outcome is the expected one"),
        "{stdout}"
    );
    let parquet = download.path().join("curated/sales/orders.csv.parquet");
    let query = format!(
        "select * from '{}'",
        download.path().join("curated/sales/*.parquet").display()
    );
    for line in [
        "incoming/samples/broken.csv",
        "TooManyMalformedRecords",
        "fargate",
        "skipped",
        "contracts       ",
        "sales (incoming/sales/)",
        "incoming/sales/orders.csv",
        "contract sales: 30 records written, 3 rejected (below_min 1, not_allowed 1, type 1); \
         parquet s3://uploads/curated/sales/orders.csv.parquet",
        &format!("duckdb -c \"{query}\""),
    ] {
        assert!(stdout.contains(line), "{line} missing from:\n{stdout}");
    }
    let bytes = std::fs::read(&parquet).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    let rejects = download
        .path()
        .join("rejected/sales/orders.csv.rejects.jsonl");
    assert_eq!(std::fs::read_to_string(rejects).unwrap().lines().count(), 3);
    // The printed query, run by DuckDB (the pinned one of scripts/setup-tools).
    assert_eq!(
        duckdb(&format!(
            "select count(*), sum(amount), min(ordered_at)::varchar from ({query})"
        )),
        "[(30, Decimal('5848.64'), '2026-12-01 08:15:00+00')]"
    );
}

/// `PIPELINE_PYTHON`, else the venv `scripts/setup-tools` creates at the workspace root.
fn python() -> PathBuf {
    std::env::var_os("PIPELINE_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python"),
        PathBuf::from,
    )
}

/// What DuckDB's Python API answers `query` (its rows, as Python prints them); panics with
/// what to do when there is no DuckDB.
fn duckdb(query: &str) -> String {
    let python = python();
    let output = std::process::Command::new(&python)
        .args([
            "-c",
            "import sys, duckdb; print(duckdb.sql(sys.argv[1]).fetchall())",
        ])
        .arg(query)
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `scripts/setup-tools` or set PIPELINE_PYTHON to a Python that \
                 has duckdb",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "{query}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A `local-pipeline serve` child on `data`, once it has printed its endpoint: the child,
/// its stderr lines, the endpoint, the printed `NAME=value` settings, and what it printed.
async fn spawn_serve(
    data: &std::path::Path,
    extra: &[&str],
) -> (
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    String,
    std::collections::HashMap<String, String>,
    Vec<String>,
) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-pipeline"))
        .args(["serve", "--lambda-concurrency", "2", "--bin-dir"])
        .arg(bin_dir())
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .env("RUST_LOG", "local_pipeline=info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let (endpoint, credentials) = loop {
        let line = tokio::time::timeout(Duration::from_mins(1), stdout.next_line())
            .await
            .expect("serve prints its endpoint")
            .unwrap()
            .expect("serve keeps running");
        printed.push(line.clone());
        if let Some(rest) = line.trim().strip_prefix("credentials") {
            let endpoint = printed
                .iter()
                .find_map(|l| l.trim().strip_prefix("endpoint"))
                .and_then(|l| l.split_whitespace().next())
                .unwrap()
                .to_owned();
            break (endpoint, rest.trim().to_owned());
        }
    };
    let settings = credentials
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    // Keep reading stdout so that serve never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    (child, stderr, endpoint, settings, printed)
}

/// Waits for serve to log an execution's successful end.
async fn logged_success(
    stderr: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
) -> String {
    tokio::time::timeout(Duration::from_mins(1), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.contains("execution ended") && line.contains("SUCCEEDED") {
                return line;
            }
        }
        panic!("serve ended without logging the execution");
    })
    .await
    .expect("the execution is logged")
}

#[test]
fn the_demo_runs_again_on_its_data_directory_and_reports_the_new_executions() {
    let data = tempfile::tempdir().unwrap();
    for run in 1..=2 {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_local-pipeline"))
            .args(["demo", "--bin-dir"])
            .arg(bin_dir())
            .arg("--data-dir")
            .arg(data.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("every outcome is the expected one"),
            "run {run}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("[7/7]"), "run {run}: {stdout}");
        assert!(!stdout.contains("[8/7]"), "run {run}: {stdout}");
    }
    let saved = local_pipeline::data_dir::DataDir::open(data.path())
        .unwrap()
        .load_executions()
        .unwrap();
    let names: Vec<&str> = saved.iter().map(|(_, r)| r.name.as_str()).collect();
    assert_eq!(names.len(), 14);
    assert_eq!(names[7], "local-00000008");
    // The second run waited for its own executions, not the first run's.
    assert!(
        saved
            .iter()
            .all(|(_, r)| r.status != ExecutionStatus::Running),
        "{:?}",
        saved
            .iter()
            .map(|(_, r)| (&r.name, r.status))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_keeps_the_endpoint_up_and_logs_each_execution() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, mut stderr, endpoint, settings, printed) = spawn_serve(data.path(), &[]).await;
    assert!(
        printed
            .iter()
            .any(|line| line.trim() == "lambda          at most 2 at once, more are throttled"),
        "{printed:?}"
    );
    // Both region variables: the AWS CLI v1 the project pins reads only AWS_DEFAULT_REGION.
    assert_eq!(settings["AWS_DEFAULT_REGION"], settings["AWS_REGION"]);
    let client = s3_client(&endpoint, &settings);
    client
        .put_object()
        .bucket("uploads")
        .key("incoming/dropped in.csv")
        .body(include_bytes!("../samples/people.csv").to_vec().into())
        .send()
        .await
        .unwrap();
    let logged = logged_success(&mut stderr).await;
    assert!(logged.contains("execution ended"), "{logged}");
    let report = client
        .get_object()
        .bucket("uploads")
        .key("processed/dropped in.csv.report.json")
        .send()
        .await;
    assert!(report.is_ok(), "no report: {report:?}");

    // SIGTERM stops it promptly and cleanly.
    let stopping = std::time::Instant::now();
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-s", "TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("serve stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    eprintln!("serve stopped on SIGTERM in {:?}", stopping.elapsed());
    // The data stays in the folder it was given.
    assert!(std::fs::read_dir(data.path()).unwrap().next().is_some());

    // Started again on it, it knows the execution, and the next one's name follows it.
    let started = std::time::Instant::now();
    let (_child, mut stderr, endpoint, settings, _) = spawn_serve(data.path(), &[]).await;
    eprintln!("serve started again in {:?}", started.elapsed());
    let sfn = sfn_client(&endpoint, &settings);
    let machine = sfn
        .list_state_machines()
        .send()
        .await
        .unwrap()
        .state_machines()[0]
        .state_machine_arn()
        .to_owned();
    let names = |listed: &aws_sdk_sfn::operation::list_executions::ListExecutionsOutput| {
        listed
            .executions()
            .iter()
            .map(|e| (e.name().to_owned(), e.status().as_str().to_owned()))
            .collect::<Vec<_>>()
    };
    let listed = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(
        names(&listed),
        [("local-00000001".to_owned(), "SUCCEEDED".to_owned())]
    );
    s3_client(&endpoint, &settings)
        .put_object()
        .bucket("uploads")
        .key("incoming/again.csv")
        .body(include_bytes!("../samples/people.csv").to_vec().into())
        .send()
        .await
        .unwrap();
    logged_success(&mut stderr).await;
    let listed = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(
        names(&listed),
        [
            ("local-00000002".to_owned(), "SUCCEEDED".to_owned()),
            ("local-00000001".to_owned(), "SUCCEEDED".to_owned())
        ]
    );

    check_with_the_aws_cli(&endpoint, &settings, &machine);
}

/// The pinned AWS CLI (v1), with only the variables serve printed (issue 11, item 8): its
/// everyday `aws stepfunctions` calls.
fn check_with_the_aws_cli(
    endpoint: &str,
    settings: &std::collections::HashMap<String, String>,
    machine: &str,
) {
    let aws = |args: &[&str]| -> Value {
        let cli = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/aws");
        assert!(
            cli.exists(),
            "{} is missing: run `make tools`",
            cli.display()
        );
        let output = std::process::Command::new(cli)
            .args(["stepfunctions"])
            .args(args)
            .args(["--endpoint-url", endpoint, "--output", "json"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .envs(
                settings
                    .iter()
                    .filter(|(name, _)| name.as_str() != "AWS_REGION"),
            )
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "aws stepfunctions {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    };
    let listed = aws(&[
        "list-executions",
        "--state-machine-arn",
        machine,
        "--status-filter",
        "SUCCEEDED",
    ]);
    assert_eq!(
        listed["executions"].as_array().unwrap().len(),
        2,
        "{listed}"
    );
    let arn = listed["executions"][1]["executionArn"].as_str().unwrap();
    let described = aws(&["describe-execution", "--execution-arn", arn]);
    assert_eq!(described["name"], "local-00000001");
    let stopped = aws(&["stop-execution", "--execution-arn", arn]);
    assert!(stopped["stopDate"].is_number(), "{stopped}");
    let history = aws(&["get-execution-history", "--execution-arn", arn]);
    assert_eq!(history["events"][0]["type"], "ExecutionStarted");
}

#[test]
fn the_top_level_help_says_where_the_flags_are() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_local-pipeline"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        help.contains("Each subcommand's --help lists its flags")
            && help.contains("local-pipeline serve --help"),
        "{help}"
    );
}

/// An S3 client with the settings serve printed.
fn s3_client(
    endpoint: &str,
    settings: &std::collections::HashMap<String, String>,
) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .region(aws_sdk_s3::config::Region::new(
            settings["AWS_REGION"].clone(),
        ))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            settings["AWS_ACCESS_KEY_ID"].clone(),
            settings["AWS_SECRET_ACCESS_KEY"].clone(),
            None,
            None,
            "serve",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A Step Functions client with the settings serve printed.
fn sfn_client(
    endpoint: &str,
    settings: &std::collections::HashMap<String, String>,
) -> aws_sdk_sfn::Client {
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_sfn::config::Region::new(
            settings["AWS_REGION"].clone(),
        ))
        .credentials_provider(aws_sdk_sfn::config::Credentials::new(
            settings["AWS_ACCESS_KEY_ID"].clone(),
            settings["AWS_SECRET_ACCESS_KEY"].clone(),
            None,
            None,
            "serve",
        ))
        .build();
    aws_sdk_sfn::Client::from_conf(config)
}

/// Crash safety: `serve` killed with SIGKILL while its Fargate task runs loses nothing that
/// was saved; started again, it takes the execution up at the task, which runs again.
#[tokio::test(flavor = "multi_thread")]
async fn serve_killed_during_a_fargate_task_takes_it_up_again_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    // A small threshold and a large object: a Fargate task that runs for a while.
    let args = ["--threshold-bytes", "65536"];
    let (mut child, _stderr, endpoint, settings, _) = spawn_serve(data.path(), &args).await;
    let large = local_pipeline::demo::generated_csv(40 * 1024 * 1024);
    s3_client(&endpoint, &settings)
        .put_object()
        .bucket("uploads")
        .key("incoming/crash.csv")
        .body(large.into())
        .send()
        .await
        .unwrap();
    let saved = || {
        local_pipeline::data_dir::DataDir::open(data.path())
            .unwrap()
            .load_executions()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_mins(1);
    loop {
        let executions = saved();
        if executions.first().is_some_and(|(_, record)| {
            record
                .history
                .last()
                .is_some_and(|e| e.kind == "TaskStarted")
                && record.position.as_ref().map(|p| p.state.as_str())
                    == Some(infra::statemachine::state::FARGATE)
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the task never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().await.unwrap();
    let crashed = saved().remove(0).1;
    assert_eq!(crashed.status, ExecutionStatus::Running);

    let (_child, _stderr, endpoint, settings, _) = spawn_serve(data.path(), &args).await;
    let sfn = sfn_client(&endpoint, &settings);
    let deadline = std::time::Instant::now() + Duration::from_mins(2);
    let described = loop {
        let described = sfn
            .describe_execution()
            .execution_arn(&crashed.execution_arn)
            .send()
            .await
            .unwrap();
        if described.status() != &aws_sdk_sfn::types::ExecutionStatus::Running {
            break described;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the execution never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        described.status(),
        &aws_sdk_sfn::types::ExecutionStatus::Succeeded,
        "{:?} {:?}",
        described.error(),
        described.cause()
    );
    assert_eq!(described.redrive_count(), Some(1));
    let record = saved().remove(0).1;
    let kinds: Vec<&str> = record.history.iter().map(|e| e.kind.as_str()).collect();
    let redriven = kinds
        .iter()
        .position(|k| *k == "ExecutionRedriven")
        .unwrap();
    assert_eq!(
        kinds[redriven..],
        [
            "ExecutionRedriven",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert_eq!(record.history[..redriven], crashed.history[..]);
}

/// Issue 11: the README's own `make serve DEMO_ARGS="--port 9000 --data-dir …"` failed, since
/// the Makefile passed `--data-dir` too and clap refuses the flag twice. `make -n` prints the
/// command it would run.
#[test]
fn make_serve_passes_one_data_dir() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let serve_line = |demo_args: &str| {
        let output = std::process::Command::new("make")
            .current_dir(&root)
            .args(["-n", "--no-print-directory", "serve"])
            .arg(format!("DEMO_ARGS={demo_args}"))
            .output()
            .expect("make runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .find(|line| line.contains("local-pipeline serve"))
            .expect("make serve runs local-pipeline serve")
            .to_owned()
    };
    let given = serve_line("--port 9000 --data-dir /tmp/pipeline");
    assert_eq!(given.matches("--data-dir").count(), 1, "{given}");
    assert!(given.contains("--data-dir /tmp/pipeline"), "{given}");
    let default = serve_line("");
    assert_eq!(default.matches("--data-dir").count(), 1, "{default}");
    assert!(default.contains("local-pipeline/data"), "{default}");
}
