//! The built `lambda-processor` binary, driven through the Lambda Runtime API (local-lambda)
//! against a real S3 protocol server on loopback (local-s3).

use std::time::Duration;

use local_lambda::{InvocationResult, LocalFunction};
use local_s3::{LocalS3, RunningS3};
use serde_json::{Value, json};

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
    let function = LocalFunction::builder(env!("CARGO_BIN_EXE_lambda-processor"))
        .name("lambda-processor")
        .envs(s3.env_vars())
        .env("PIPELINE_S3_PATH_STYLE", "true")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .timeout(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    Pipeline { s3, function }
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
    for (payload, expected) in cases {
        match p.invoke(&payload).await {
            InvocationResult::Error {
                error_type,
                error_message,
            } => {
                assert_eq!(error_type, expected, "{error_message}");
            }
            InvocationResult::Success(value) => panic!("{expected}: succeeded with {value}"),
        }
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
