//! The built `lambda-processor` binary, driven through the Lambda Runtime API (local-lambda)
//! against a real S3 protocol server on loopback (local-s3).

use std::path::{Path, PathBuf};
use std::time::Duration;

use local_lambda::{InvocationResult, LocalFunction};
use local_s3::{LocalS3, RunningS3};
use serde_json::{Value, json};
use shared::{EmfValue, parse_emf};

const BUCKET: &str = "uploads";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn payloads_are_job_documents_or_object_created_events() {
    let job = lambda_processor::job_from_payload(fixture("object-created.json")).unwrap();
    assert_eq!(job.bucket, "amzn-s3-demo-bucket1");
    assert_eq!(job.object.key, "example-key");
    assert_eq!(
        job.object.version_id.as_deref(),
        Some("IYV3p45BhZA4JpKjD3pH7ucWFNvqsRd5")
    );
    assert_eq!(job.object.sequencer.as_deref(), Some("00617F08299329D189"));
    let document = lambda_processor::job_from_payload(fixture("job.json")).unwrap();
    assert_eq!(
        document.key().unwrap(),
        "incoming/2024/sales report+final.csv"
    );

    let mut other = fixture("object-created.json");
    other["detail-type"] = "Object Deleted".into();
    let error = lambda_processor::job_from_payload(other).unwrap_err();
    assert_eq!(error.name(), shared::ErrorName::InvalidInput);
    let diagnostic = lambda_processor::diagnostic(&error);
    assert_eq!(diagnostic.error_type, "InvalidInput");
}

struct Pipeline {
    s3: RunningS3,
    function: LocalFunction,
}

async fn pipeline() -> Pipeline {
    let s3 = LocalS3::builder().bucket(BUCKET).start().await.unwrap();
    let function = function(&s3, None).start().await.unwrap();
    Pipeline { s3, function }
}

/// The function against `s3`, with the contracts of `contracts_dir` if any.
fn function(s3: &RunningS3, contracts_dir: Option<&Path>) -> local_lambda::LocalFunctionBuilder {
    let mut builder = LocalFunction::builder(env!("CARGO_BIN_EXE_lambda-processor"))
        .name("lambda-processor")
        .envs(s3.env_vars())
        .env("PIPELINE_S3_PATH_STYLE", "true")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .timeout(Duration::from_secs(30));
    if let Some(dir) = contracts_dir {
        builder = builder.env("PIPELINE_CONTRACTS_DIR", dir);
    }
    builder
}

/// A fresh folder holding one contract file, `name.toml`.
fn contracts_dir(folder: &str, name: &str, contract: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("lambda-processor-contracts")
        .join(folder);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.toml")), contract).unwrap();
    dir
}

/// The sales contract the storage and processor tests share: `id` (int64), `amount`
/// (decimal), `note` (string), the partition `region`, at most 30 % of records rejected.
const SALES: &str = include_str!("../../storage/tests/fixtures/sales.toml");

/// The folder holding that contract alone, as `PIPELINE_CONTRACTS_DIR`.
fn sales_contracts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../storage/tests/fixtures")
}

impl Pipeline {
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
}

impl Pipeline {
    /// The values of each Embedded Metric Format line the function printed on stdout (those
    /// with an `_aws` member), checked against the structure AWS's specification documents
    /// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>)
    /// by `shared::parse_emf`.
    fn emf_lines(&self) -> Vec<Vec<EmfValue>> {
        self.function
            .recent_logs()
            .into_iter()
            .filter(|l| l.stream == local_lambda::LogStream::Stdout && l.line.contains("\"_aws\""))
            .map(|l| parse_emf(&l.line).unwrap_or_else(|e| panic!("{e}: {}", l.line)))
            .inspect(|values| assert_timestamp_is_now_in_ms(values))
            .collect()
    }
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

impl Pipeline {
    /// Uploads `body` under `key`; the job document its event carries.
    async fn upload(&self, key: &str, body: &[u8]) -> Value {
        let job = self.s3.upload_job(BUCKET, key, body).await.unwrap();
        serde_json::to_value(job).unwrap()
    }

    async fn invoke(&self, payload: &Value) -> InvocationResult {
        self.function.invoke(payload).await.unwrap().result
    }
}

#[tokio::test]
async fn the_binary_processes_jobs_and_events_through_the_runtime_api() {
    let p = pipeline().await;
    eprintln!("lambda-processor init: {:?}", p.function.init_duration());
    let job = p
        .upload(
            "incoming/people and +plus.csv",
            b"name,age\nAda,36\nAlan,41\n",
        )
        .await;
    let InvocationResult::Success(outcome) = p.invoke(&job).await else {
        panic!("the job failed");
    };
    assert_eq!(outcome["status"], "written");
    assert_eq!(
        outcome["report_key"],
        "processed/people and +plus.csv.report.json"
    );
    assert_eq!(outcome["records"]["valid"], 2);

    let report =
        p.s3.client()
            .get_object()
            .bucket(BUCKET)
            .key("processed/people and +plus.csv.report.json")
            .send()
            .await
            .unwrap();
    let report: Value =
        serde_json::from_slice(&report.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(report["processing"]["processor"], "lambda");
    assert_eq!(report["columns"][1]["max"], 41);

    // The same job again, warm: done already.
    let pid = p.function.pid();
    let InvocationResult::Success(again) = p.invoke(&job).await else {
        panic!("the duplicate failed");
    };
    assert_eq!(again["status"], "already_done");
    assert_eq!(p.function.pid(), pid, "kept warm between invocations");

    // A whole EventBridge event, as a direct invocation would pass it.
    let upload = p
        .upload("incoming/events.jsonl", b"{\"a\":1}\n{\"a\":2}\n")
        .await;
    let mut event = fixture("object-created.json");
    event["detail"]["bucket"]["name"] = BUCKET.into();
    event["detail"]["object"] = upload["object"].clone();
    let InvocationResult::Success(outcome) = p.invoke(&event).await else {
        panic!("the event failed");
    };
    assert_eq!(outcome["report_key"], "processed/events.jsonl.report.json");
    p.function.shutdown().await;
    p.s3.shutdown().await;
}

/// Issue 13: a function with more memory has more vCPUs ("At 1,769 MB, a function has the
/// equivalent of one vCPU", <https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html>),
/// and parses on as many threads as its cgroup quota allows, or `PIPELINE_THREADS`. Two
/// threads on ranges of 100 bytes give the report of one, byte for byte but for
/// `processing`, and the same error.
#[tokio::test]
async fn two_parsing_threads_give_the_report_of_one() {
    let mut s3 = LocalS3::builder().bucket(BUCKET).start().await.unwrap();
    let mut csv = b"id,note,amount\n".to_vec();
    for i in 0..400 {
        csv.extend_from_slice(format!("{i},\"a\nb, {}\",{i}.5\n", i % 9).as_bytes());
    }
    let mut malformed = csv.clone();
    malformed.extend_from_slice(b"1,\"x\"y,2\n".repeat(500).as_slice());
    let mut results = Vec::new();
    for threads in ["1", "2"] {
        let function = function(&s3, None)
            .env("PIPELINE_THREADS", threads)
            .env("PIPELINE_RANGE_BYTES", "100")
            .start()
            .await
            .unwrap();
        let p = Pipeline { s3, function };
        let mut outcomes = Vec::new();
        for (name, body) in [("notes.csv", &csv), ("malformed.csv", &malformed)] {
            let key = format!("incoming/threads-{threads}/{name}");
            let job = p.upload(&key, body).await;
            outcomes.push(match p.invoke(&job).await {
                InvocationResult::Success(_) => {
                    let report_key = format!("processed/threads-{threads}/{name}.report.json");
                    let mut report: Value =
                        serde_json::from_slice(&p.object(&report_key).await.unwrap()).unwrap();
                    let processing = report.as_object_mut().unwrap().remove("processing");
                    assert_eq!(processing.unwrap()["processor"], "lambda");
                    report["source"]["key"] = Value::Null;
                    Ok(report)
                }
                other @ InvocationResult::Error { .. } => Err(format!("{other:?}")),
            });
        }
        p.function.shutdown().await;
        s3 = p.s3;
        results.push(outcomes);
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0][0].as_ref().unwrap()["records"]["valid"], 400);
    assert!(
        results[0][1]
            .as_ref()
            .is_err_and(|e| e.contains("TooManyMalformedRecords"))
    );
    s3.shutdown().await;
}

#[tokio::test]
async fn failures_come_back_with_the_core_error_names() {
    let p = pipeline().await;
    let mut ragged = b"a,b,c\n".to_vec();
    ragged.extend(b"1,2\n".repeat(10));
    let malformed = p.upload("incoming/ragged.csv", &ragged).await;
    let unsupported = p.upload("incoming/blob.bin", b"\x00\x01\x02binary").await;
    let mut missing = p.upload("incoming/gone.csv", b"a\n1\n").await;
    missing["object"]["key"] = "incoming/never-uploaded.csv".into();
    let mut changed = p.upload("incoming/changed.csv", b"a\n1\n").await;
    changed["object"]["etag"] = "0123456789abcdef0123456789abcdef".into();
    let cases = [
        (malformed, "TooManyMalformedRecords"),
        (unsupported, "UnsupportedFormat"),
        (missing, "SourceMissing"),
        (changed, "SourceChanged"),
        (json!({"bucket": BUCKET}), "InvalidInput"),
    ];
    for (payload, expected) in &cases {
        match p.invoke(payload).await {
            InvocationResult::Error {
                error_type,
                error_message,
            } => {
                assert_eq!(error_type, *expected, "{error_message}");
            }
            InvocationResult::Success(value) => panic!("{expected}: succeeded with {value}"),
        }
    }
    // Issue 14: one metrics line per invocation, counting the failure by its error name.
    let lines = p.emf_lines();
    assert_eq!(lines.len(), cases.len());
    for (values, (_, expected)) in lines.iter().zip(&cases) {
        assert_eq!(metric(values, "Failures", &[("ErrorName", expected)]), 1);
        let by_route = [("Route", "lambda"), ("ErrorName", *expected)];
        assert_eq!(metric(values, "Failures", &by_route), 1);
        assert_eq!(metric(values, "Objects", &[]), 1);
    }
    let listing =
        p.s3.client()
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("processed/")
            .send()
            .await
            .unwrap();
    assert_eq!(listing.key_count(), Some(0), "no output after a failure");
    p.function.shutdown().await;
    p.s3.shutdown().await;
}

#[tokio::test]
async fn an_object_under_a_contract_gets_its_parquet_and_rejects_before_the_report() {
    let s3 = LocalS3::builder().bucket(BUCKET).start().await.unwrap();
    let dir = sales_contracts();
    let p = Pipeline {
        function: function(&s3, Some(&dir)).start().await.unwrap(),
        s3,
    };
    let job = p
        .upload(
            "incoming/sales/region=eu/day 1.csv",
            b"id,amount,note\n1,2.50,a\n2,x,b\n3,4.00,c\n4,1.25,d\n",
        )
        .await;
    let InvocationResult::Success(outcome) = p.invoke(&job).await else {
        panic!("the job failed");
    };
    let parquet = "curated/sales/region=eu/day 1.csv.parquet";
    let rejects = "rejected/sales/region=eu/day 1.csv.rejects.jsonl";
    assert_eq!(outcome["outputs"], json!([parquet, rejects]));
    let report: Value = serde_json::from_slice(
        &p.object("processed/sales/region=eu/day 1.csv.report.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(report["contract"]["records_written"], 3);
    assert_eq!(report["contract"]["records_rejected"], 1);
    // Issue 14: its metrics line, under the dataset.
    let lines = p.emf_lines();
    assert_eq!(lines.len(), 1);
    let both = [("Route", "lambda"), ("Dataset", "sales")];
    assert_eq!(metric(&lines[0], "Records", &both), 4);
    assert_eq!(
        metric(&lines[0], "RejectedRecords", &[("Dataset", "sales")]),
        1
    );
    assert_eq!(metric(&lines[0], "Bytes", &[("Route", "lambda")]), 48);
    assert_eq!(metric(&lines[0], "Failures", &both), 0);
    let stored = p.object(parquet).await.unwrap();
    assert!(stored.starts_with(b"PAR1"));
    assert_eq!(report["contract"]["outputs"][0]["size"], stored.len());
    assert_eq!(report["contract"]["outputs"][1]["key"], rejects);
    assert_eq!(
        String::from_utf8(p.object(rejects).await.unwrap())
            .unwrap()
            .lines()
            .count(),
        1
    );

    // Past the rejection policy: ContractViolation, nothing written.
    let job = p
        .upload(
            "incoming/sales/region=eu/bad.csv",
            b"id,amount,note\nx,1,a\ny,2,b\n3,3,c\n",
        )
        .await;
    match p.invoke(&job).await {
        InvocationResult::Error { error_type, .. } => assert_eq!(error_type, "ContractViolation"),
        InvocationResult::Success(value) => panic!("succeeded with {value}"),
    }
    assert_eq!(
        p.object("curated/sales/region=eu/bad.csv.parquet").await,
        None
    );
    assert_eq!(
        p.object("processed/sales/region=eu/bad.csv.report.json")
            .await,
        None
    );
    p.function.shutdown().await;
    p.s3.shutdown().await;
}

#[tokio::test]
async fn a_bad_contract_fails_the_init_naming_its_file_and_line() {
    let s3 = LocalS3::builder().bucket(BUCKET).start().await.unwrap();
    let dir = contracts_dir(
        "bad",
        "broken",
        &SALES.replace("type = \"int64\"", "type = \"int65\""),
    );
    let error = function(&s3, Some(&dir)).start().await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("broken.toml:"), "{message}");
    assert!(message.contains("Internal"), "{message}");
    assert!(message.contains("int65"), "{message}");
    s3.shutdown().await;
}
