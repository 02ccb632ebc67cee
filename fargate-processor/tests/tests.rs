//! The built `fargate-processor` binary with the environment ECS gives it, against a real S3
//! protocol server on loopback (local-s3).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use local_lambda::{InvocationResult, LocalFunction};
use local_s3::{Fault, FaultRule, LocalS3, Operation, RunningS3};
use serde_json::{Value, json};
use shared::{EmfValue, ErrorName, parse_emf};

const BUCKET: &str = "uploads";

struct Fixture {
    s3: RunningS3,
}

async fn fixture() -> Fixture {
    Fixture {
        s3: LocalS3::builder().bucket(BUCKET).start().await.unwrap(),
    }
}

impl Fixture {
    /// Uploads `body` under `key`; the job document its event carries.
    async fn upload(&self, key: &str, body: &[u8]) -> Value {
        let job = self.s3.upload_job(BUCKET, key, body).await.unwrap();
        serde_json::to_value(job).unwrap()
    }

    /// The processor with the environment a task's container overrides give it.
    fn command(&self, job: &Value) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_fargate-processor"));
        command
            .env_clear()
            .envs(self.s3.env_vars())
            .env("PIPELINE_S3_PATH_STYLE", "true")
            .env("PIPELINE_JOB", job.to_string())
            .env("PIPELINE_PART_SIZE_BYTES", "1000")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    async fn run(&self, job: &Value) -> Output {
        self.command(job).output().await.unwrap()
    }

    async fn object(&self, key: &str) -> Option<Vec<u8>> {
        let output = self
            .s3
            .client()
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(output.body.collect().await.unwrap().into_bytes().to_vec())
    }

    /// A report without its key and `processing` object, and the processor that wrote it.
    async fn report_without_processing(&self, key: &str) -> (Value, Value) {
        let mut report: Value = serde_json::from_slice(&self.object(key).await.unwrap()).unwrap();
        let processing = report
            .as_object_mut()
            .unwrap()
            .remove("processing")
            .unwrap();
        report["source"]["key"] = Value::Null;
        (report, processing["processor"].clone())
    }

    async fn outputs(&self) -> i32 {
        let listing = self
            .s3
            .client()
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("processed/")
            .send()
            .await
            .unwrap();
        listing.key_count().unwrap_or(0)
    }
}

/// The last JSON log line the program printed on stdout, its metrics line aside.
fn last_log(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rfind(|line| !line.contains("\"_aws\""))
        .unwrap_or_else(|| {
            panic!(
                "no log line; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"))
}

/// The Embedded Metric Format lines among `lines` (those with an `_aws` member), each parsed
/// and checked against the structure AWS's specification documents
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>:
/// a root object whose `_aws` has a numeric `Timestamp` and `CloudWatchMetrics` directives of
/// `Namespace`, `Dimensions` and `Metrics`, each dimension and metric a member of the root) by
/// `shared::parse_emf`.
fn emf_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<Vec<EmfValue>> {
    lines
        .into_iter()
        .filter(|line| line.contains("\"_aws\""))
        .map(|line| parse_emf(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .inspect(|values| assert_timestamp_is_now_in_ms(values))
        .collect()
}

/// The line's `_aws.Timestamp` is now in milliseconds after the epoch, as the specification
/// requires (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>:
/// "Values MUST be expressed as the number of milliseconds after Jan 1, 1970 00:00:00 UTC"),
/// not seconds: within the ten minutes before the check.
fn assert_timestamp_is_now_in_ms(values: &[EmfValue]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let now = u64::try_from(now).unwrap();
    assert!(!values.is_empty());
    for value in values {
        let age = now.checked_sub(value.timestamp_ms);
        assert!(age.is_some_and(|age| age < 600_000), "{value:?} at {now}");
    }
}

/// The one value of `name` under exactly `dimensions` on an EMF line, in our namespace.
fn metric(values: &[EmfValue], name: &str, dimensions: &[(&str, &str)]) -> u64 {
    let found =
        EmfValue::find(values, name, dimensions).unwrap_or_else(|e| panic!("{e}: {values:?}"));
    assert_eq!(found.namespace, shared::NAMESPACE_PREFIX);
    found
        .whole()
        .unwrap_or_else(|| panic!("{name}: not a whole number: {found:?}"))
}

fn sample_csv() -> Vec<u8> {
    let mut csv = b"id,city,amount,when\n".to_vec();
    for i in 0..500 {
        csv.extend_from_slice(
            format!(
                "{i},\"Zürich, CH\",{}.25,2024-03-{:02}T10:00:00Z\n",
                i * 7,
                i % 28 + 1
            )
            .as_bytes(),
        );
    }
    csv
}

#[tokio::test]
async fn a_job_from_the_environment_writes_its_report_and_logs_json() {
    let f = fixture().await;
    let job = f
        .upload("incoming/deep/path/file name.csv", &sample_csv())
        .await;
    let output = f.run(&job).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let log = last_log(&output);
    assert_eq!(log["fields"]["message"], "done");
    assert_eq!(log["span"]["route"], "fargate");
    let report: Value = serde_json::from_slice(
        &f.object("processed/deep/path/file name.csv.report.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(report["records"]["valid"], 500);
    assert_eq!(report["processing"]["processor"], "fargate");
    f.s3.shutdown().await;
}

#[tokio::test]
async fn failures_exit_with_the_code_of_their_name_and_leave_no_output() {
    let f = fixture().await;
    let mut ragged = b"a,b,c\n".to_vec();
    ragged.extend(b"1,2\n".repeat(10));
    let malformed = f.upload("incoming/ragged.csv", &ragged).await;
    let unsupported = f.upload("incoming/doc.json", b"{\n \"a\": 1\n}\n").await;
    let mut missing = f.upload("incoming/x.csv", b"a\n1\n").await;
    missing["object"]["key"] = "incoming/nothing-here.csv".into();
    let mut changed = f.upload("incoming/y.csv", b"a\n1\n").await;
    changed["object"]["etag"] = "0123456789abcdef0123456789abcdef".into();
    let cases = [
        (malformed, ErrorName::TooManyMalformedRecords),
        (unsupported, ErrorName::UnsupportedFormat),
        (missing, ErrorName::SourceMissing),
        (changed, ErrorName::SourceChanged),
        (json!({"bucket": BUCKET}), ErrorName::InvalidInput),
    ];
    for (job, name) in cases {
        let output = f.run(&job).await;
        assert_eq!(output.status.code(), Some(name.exit_code()), "{name}");
        let log = last_log(&output);
        assert_eq!(log["level"], "ERROR");
        assert_eq!(log["fields"]["error"], name.as_str());
        // Issue 14: the failure's metrics line counts it by its error name.
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let lines = emf_lines(stdout.lines());
        assert_eq!(lines.len(), 1, "{name}: one metrics line");
        let by_name = [("ErrorName", name.as_str())];
        assert_eq!(metric(&lines[0], "Failures", &by_name), 1, "{name}");
        let by_route = [("Route", "fargate"), ("ErrorName", name.as_str())];
        assert_eq!(metric(&lines[0], "Failures", &by_route), 1);
        assert_eq!(
            metric(&lines[0], "Records", &[("Dataset", shared::NO_DATASET)]),
            0
        );
    }
    // S3 failing for good: Storage, after the SDK's retries.
    let job = f.upload("incoming/z.csv", b"a\n1\n").await;
    f.s3.faults()
        .inject(FaultRule::new(Operation::GetObject, Fault::InternalError).always());
    let output = f.run(&job).await;
    assert_eq!(output.status.code(), Some(ErrorName::Storage.exit_code()));
    f.s3.faults().clear();
    assert_eq!(f.outputs().await, 0);
    f.s3.shutdown().await;
}

#[tokio::test]
async fn sigterm_stops_the_read_writes_nothing_and_exits_interrupted() {
    let f = fixture().await;
    let job = f.upload("incoming/slow.csv", &sample_csv()).await;
    f.s3.faults().inject(
        FaultRule::new(Operation::GetObject, Fault::Delay(Duration::from_secs(5))).always(),
    );
    let child = f.command(&job).spawn().unwrap();
    let pid = child.id().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(
        output.status.code(),
        Some(ErrorName::Interrupted.exit_code())
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "it did not wait for the reads"
    );
    assert_eq!(last_log(&output)["fields"]["error"], "Interrupted");
    f.s3.faults().clear();
    assert_eq!(f.outputs().await, 0);
    f.s3.shutdown().await;
}

#[tokio::test]
async fn a_manual_run_takes_the_job_on_the_command_line() {
    let f = fixture().await;
    f.upload("incoming/manual run.csv", &sample_csv()).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_fargate-processor"))
        .env_clear()
        .envs(f.s3.env_vars())
        .env("PIPELINE_S3_PATH_STYLE", "true")
        .args([
            "--bucket",
            BUCKET,
            "--key",
            "incoming/manual run.csv",
            "--concurrency",
            "2",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        f.object("processed/manual run.csv.report.json")
            .await
            .is_some()
    );
    f.s3.shutdown().await;
}

#[test]
fn help_lists_every_setting_and_its_environment_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_fargate-processor"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "PIPELINE_JOB",
        "PIPELINE_INPUT_PREFIX",
        "PIPELINE_OUTPUT_PREFIX",
        "PIPELINE_PART_SIZE_BYTES",
        "PIPELINE_CONCURRENCY",
        "PIPELINE_THREADS",
        "PIPELINE_RANGE_BYTES",
        "PIPELINE_CONTRACTS_DIR",
        "AWS_ENDPOINT_URL",
        "PIPELINE_S3_PATH_STYLE",
    ] {
        assert!(help.contains(variable), "{variable} missing from --help");
    }
    for name in ErrorName::ALL {
        assert!(
            help.contains(&format!("{} {name}", name.exit_code())),
            "exit code of {name} missing"
        );
    }
}

/// The lambda-processor binary beside this package's binary (the workspace builds both).
fn lambda_binary() -> PathBuf {
    let fargate = PathBuf::from(env!("CARGO_BIN_EXE_fargate-processor"));
    let lambda =
        fargate.with_file_name(format!("lambda-processor{}", std::env::consts::EXE_SUFFIX));
    if !lambda.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile_dir = fargate.parent().unwrap();
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "lambda-processor"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        build.env("CARGO_TARGET_DIR", profile_dir.parent().unwrap());
        assert!(build.status().unwrap().success());
    }
    lambda
}

/// Issue 13: the parsing threads come from `PIPELINE_THREADS` (a task with more vCPUs gets
/// more by default: the cgroup quota); two threads on ranges of 100 bytes give the report of
/// one, byte for byte but for `processing`.
#[tokio::test]
async fn two_parsing_threads_give_the_report_of_one() {
    let f = fixture().await;
    let csv = sample_csv();
    let mut reports = Vec::new();
    for threads in ["1", "2"] {
        let key = format!("incoming/threads-{threads}/same.csv");
        let job = f.upload(&key, &csv).await;
        let output = f
            .command(&job)
            .env("PIPELINE_THREADS", threads)
            .env("PIPELINE_RANGE_BYTES", "100")
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        let (report, processor) = f
            .report_without_processing(&format!("processed/threads-{threads}/same.csv.report.json"))
            .await;
        assert_eq!(processor, "fargate");
        reports.push(report);
    }
    assert_eq!(reports[0], reports[1]);
    assert_eq!(reports[0]["records"]["valid"], 500);
    // A value that is not a positive count is a bad argument (exit code 2), named.
    let job = f.upload("incoming/threads-0/same.csv", &csv).await;
    let output = f
        .command(&job)
        .env("PIPELINE_THREADS", "0")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--threads"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    f.s3.shutdown().await;
}

#[tokio::test]
async fn both_routes_give_the_same_report_but_for_processing() {
    let f = fixture().await;
    let csv = sample_csv();
    let lambda_job = f.upload("incoming/lambda/same.csv", &csv).await;
    let fargate_job = f.upload("incoming/fargate/same.csv", &csv).await;

    let function = LocalFunction::builder(lambda_binary())
        .name("lambda-processor")
        .envs(f.s3.env_vars())
        .env("PIPELINE_S3_PATH_STYLE", "true")
        .start()
        .await
        .unwrap();
    let result = function.invoke(&lambda_job).await.unwrap().result;
    assert!(matches!(result, InvocationResult::Success(_)), "{result:?}");
    function.shutdown().await;
    assert!(f.run(&fargate_job).await.status.success());

    let (by_lambda, lambda) = f
        .report_without_processing("processed/lambda/same.csv.report.json")
        .await;
    let (by_fargate, fargate) = f
        .report_without_processing("processed/fargate/same.csv.report.json")
        .await;
    assert_eq!(
        (lambda.as_str(), fargate.as_str()),
        (Some("lambda"), Some("fargate"))
    );
    assert_eq!(by_lambda, by_fargate);
    f.s3.shutdown().await;
}

/// The sales contract the storage and processor tests share: `id` (int64), `amount`
/// (decimal), `note` (string), the partition `region`, at most 30 % of records rejected.
const SALES: &str = include_str!("../../storage/tests/fixtures/sales.toml");

/// The folder holding that contract alone, as `PIPELINE_CONTRACTS_DIR`.
fn sales_contracts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../storage/tests/fixtures")
}

/// A fresh folder holding one contract file, `name.toml`.
fn contracts_dir(folder: &str, name: &str, contract: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fargate-processor-contracts")
        .join(folder);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.toml")), contract).unwrap();
    dir
}

/// `rows` sales records; every `bad_every`th has an id that is no integer.
fn sales_csv(rows: usize, bad_every: usize) -> Vec<u8> {
    let mut csv = b"id,amount,note\n".to_vec();
    for i in 1..=rows {
        let id = if i % bad_every == 0 {
            format!("x{i}")
        } else {
            i.to_string()
        };
        csv.extend_from_slice(format!("{id},{}.25,\"Zürich, CH {i}\"\n", i * 7).as_bytes());
    }
    csv
}

impl Fixture {
    /// Every current key under `prefix`.
    async fn keys(&self, prefix: &str) -> Vec<String> {
        let listing = self
            .s3
            .client()
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        listing
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }
}

#[tokio::test]
async fn both_routes_write_byte_identical_parquet_and_rejects_under_a_contract() {
    let f = fixture().await;
    let dir = sales_contracts();
    let csv = sales_csv(500, 25);
    let lambda_job = f
        .upload("incoming/sales/region=eu/by lambda.csv", &csv)
        .await;
    let fargate_job = f
        .upload("incoming/sales/region=eu/by fargate.csv", &csv)
        .await;

    let function = LocalFunction::builder(lambda_binary())
        .name("lambda-processor")
        .envs(f.s3.env_vars())
        .env("PIPELINE_S3_PATH_STYLE", "true")
        .env("PIPELINE_CONTRACTS_DIR", &dir)
        .start()
        .await
        .unwrap();
    let result = function.invoke(&lambda_job).await.unwrap().result;
    assert!(matches!(result, InvocationResult::Success(_)), "{result:?}");
    let lambda_logs: Vec<String> = function
        .recent_logs()
        .into_iter()
        .filter(|l| l.stream == local_lambda::LogStream::Stdout)
        .map(|l| l.line)
        .collect();
    function.shutdown().await;
    let output = f
        .command(&fargate_job)
        .env("PIPELINE_CONTRACTS_DIR", &dir)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    let mut outputs = Vec::new();
    for route in ["lambda", "fargate"] {
        let parquet = format!("curated/sales/region=eu/by {route}.csv.parquet");
        let rejects = format!("rejected/sales/region=eu/by {route}.csv.rejects.jsonl");
        let report: Value = serde_json::from_slice(
            &f.object(&format!(
                "processed/sales/region=eu/by {route}.csv.report.json"
            ))
            .await
            .unwrap(),
        )
        .unwrap();
        let contract = &report["contract"];
        assert_eq!(contract["records_written"], 480, "{route}");
        assert_eq!(contract["records_rejected"], 20, "{route}");
        let parquet_bytes = f.object(&parquet).await.unwrap();
        let rejects_bytes = f.object(&rejects).await.unwrap();
        assert_eq!(contract["outputs"][0]["key"], parquet.as_str());
        assert_eq!(contract["outputs"][0]["size"], parquet_bytes.len());
        assert_eq!(contract["outputs"][1]["key"], rejects.as_str());
        assert_eq!(contract["outputs"][1]["size"], rejects_bytes.len());
        outputs.push((parquet_bytes, rejects_bytes));
    }
    assert!(outputs[0] == outputs[1], "byte-identical outputs");

    // Issue 14: each route printed exactly one EMF line for the object, with its figures:
    // 500 records of which 20 rejected, under the dataset's and the route's dimensions.
    let fargate_stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    for (route, lines) in [
        ("lambda", emf_lines(lambda_logs.iter().map(String::as_str))),
        ("fargate", emf_lines(fargate_stdout.lines())),
    ] {
        assert_eq!(lines.len(), 1, "{route}: one line per object");
        let values = &lines[0];
        let both = [("Route", route), ("Dataset", "sales")];
        assert_eq!(metric(values, "Objects", &both), 1);
        let size = u64::try_from(csv.len()).unwrap();
        assert_eq!(metric(values, "Bytes", &both), size, "{route}");
        assert_eq!(metric(values, "Records", &both), 500, "{route}");
        assert_eq!(
            metric(values, "RejectedRecords", &[("Dataset", "sales")]),
            20
        );
        assert_eq!(metric(values, "MalformedRecords", &[("Route", route)]), 0);
        assert_eq!(metric(values, "Failures", &[]), 0);
        assert!(
            metric(values, "Duration", &both) < 600_000,
            "{route}: milliseconds"
        );
        let by_error_name = values
            .iter()
            .filter(|v| v.dimensions.iter().any(|(d, _)| d == "ErrorName"))
            .count();
        assert_eq!(by_error_name, 0, "{route}: no ErrorName without a failure");
    }
    f.s3.shutdown().await;
}

#[tokio::test]
async fn past_the_rejection_policy_the_program_exits_contract_violation_and_writes_nothing() {
    let f = fixture().await;
    let dir = sales_contracts();
    let csv = sales_csv(200, 2);
    let job = f
        .upload("incoming/sales/region=eu/half bad.csv", &csv)
        .await;
    let output = f
        .command(&job)
        .env("PIPELINE_CONTRACTS_DIR", &dir)
        .output()
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(ErrorName::ContractViolation.exit_code())
    );
    assert_eq!(last_log(&output)["fields"]["error"], "ContractViolation");
    for prefix in ["curated/", "rejected/", "processed/"] {
        assert_eq!(f.keys(prefix).await, Vec::<String>::new(), "{prefix}");
    }
    assert_eq!(
        f.s3.requests_seen(Operation::AbortMultipartUpload),
        f.s3.requests_seen(Operation::CreateMultipartUpload)
    );
    f.s3.shutdown().await;
}

#[tokio::test]
async fn a_bad_contract_fails_the_start_as_internal_naming_its_file_and_line() {
    let f = fixture().await;
    let dir = contracts_dir(
        "bad",
        "broken",
        &SALES.replace("type = \"int64\"", "type = \"int65\""),
    );
    let job = f.upload("incoming/other.csv", b"a\n1\n").await;
    let output = f
        .command(&job)
        .env("PIPELINE_CONTRACTS_DIR", &dir)
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(ErrorName::Internal.exit_code()));
    let log = last_log(&output);
    assert_eq!(log["fields"]["error"], "Internal");
    let detail = log["fields"]["detail"].as_str().unwrap();
    assert!(detail.contains("broken.toml:"), "{detail}");
    assert!(detail.contains("int65"), "{detail}");
    assert_eq!(f.outputs().await, 0, "nothing processed");
    f.s3.shutdown().await;
}

#[tokio::test]
async fn sigterm_under_a_contract_writes_no_output_and_leaves_no_upload() {
    let f = fixture().await;
    let dir = sales_contracts();
    let job = f
        .upload("incoming/sales/region=eu/slow.csv", &sales_csv(500, 25))
        .await;
    f.s3.faults().inject(
        FaultRule::new(Operation::GetObject, Fault::Delay(Duration::from_secs(5))).always(),
    );
    let child = f
        .command(&job)
        .env("PIPELINE_CONTRACTS_DIR", &dir)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(
        output.status.code(),
        Some(ErrorName::Interrupted.exit_code())
    );
    f.s3.faults().clear();
    for prefix in ["curated/", "rejected/", "processed/"] {
        assert_eq!(f.keys(prefix).await, Vec::<String>::new(), "{prefix}");
    }
    assert_eq!(
        f.s3.requests_seen(Operation::AbortMultipartUpload),
        f.s3.requests_seen(Operation::CreateMultipartUpload)
    );
    f.s3.shutdown().await;
}
