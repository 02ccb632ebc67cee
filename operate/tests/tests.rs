//! `status` and `reprocess` against the local pipeline (its S3 and Step Functions endpoint),
//! on 1,000 objects: processed, failed and new ones.
//!
//! The bucket is filled while the pipeline's input prefix is another one (so the uploads
//! start nothing), then the pipeline restarts on the same data directory with the real
//! prefixes: the 800 "processed" objects get a report of their version written by the test,
//! the 100 "failed" ones (binary content, which fails `UnsupportedFormat`) a failure record,
//! the 100 "new" ones nothing.
//!
//! What it rests on, from AWS's documentation:
//! - Resuming: StartExecution with a name already used (by a Standard workflow, within 90
//!   days) starts nothing: the existing execution is returned while it is open and the input
//!   is the same; otherwise `ExecutionAlreadyExists`
//!   (<https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html>,
//!   `name`; <https://docs.aws.amazon.com/step-functions/latest/dg/express-at-least-once-execution.html>;
//!   <https://docs.aws.amazon.com/botocore/latest/reference/services/stepfunctions/client/exceptions/ExecutionAlreadyExists.html>).
//!   The local pipeline's Step Functions API answers the same (local-pipeline/src/sfn_api.rs),
//!   which is what the interrupted-then-resumed run below checks.
//! - The event: S3's "Object Created" as EventBridge delivers it
//!   (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>), pinned in
//!   `operate::event`'s unit test against the Lambda's fixture of AWS's example.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use local_pipeline::execution::ExecutionStatus;
use local_pipeline::pipeline::{PipelineOptions, RunningPipeline};
use operate::reprocess::Selection;
use operate::status::ExecutionIndex;
use operate::{Bucket, Outcome, ReprocessOptions};
use serde_json::json;
use shared::KeyLayout;

const PROCESSED: usize = 800;
const FAILED: usize = 100;
const NEW: usize = 100;

fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        dir.join("lambda-processor").exists(),
        "run `cargo build -p lambda-processor -p fargate-processor` first"
    );
    dir
}

fn options(data: &std::path::Path, input_prefix: &str) -> PipelineOptions {
    let mut options = PipelineOptions::new(&bin_dir());
    options.data_dir = Some(data.to_owned());
    input_prefix.clone_into(&mut options.input_prefix);
    options.time_scale = 0.001;
    options
}

fn key(i: usize) -> String {
    format!("incoming/obj-{i:04}.csv")
}

fn sfn_client(pipeline: &RunningPipeline) -> aws_sdk_sfn::Client {
    let (access_key, secret_key) = pipeline.s3().credentials();
    aws_sdk_sfn::Client::from_conf(
        aws_sdk_sfn::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(pipeline.endpoint())
            .region(Region::new(pipeline.s3().region().to_owned()))
            .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
            .build(),
    )
}

/// Fills the bucket while nothing is listening under `incoming/`.
async fn fill(data: &std::path::Path) {
    let pipeline = RunningPipeline::start(options(data, "staging/"))
        .await
        .unwrap();
    let client = pipeline.s3().client();
    let bucket = pipeline.options().bucket.clone();
    for i in 0..PROCESSED + FAILED + NEW {
        let body = if (PROCESSED..PROCESSED + FAILED).contains(&i) {
            vec![0, 159, 146, 150, 0, 1, 2, u8::try_from(i % 200).unwrap()]
        } else {
            format!("id,name\n{i},n{i}\n").into_bytes()
        };
        let put = client
            .put_object()
            .bucket(&bucket)
            .key(key(i))
            .body(body.into())
            .send()
            .await
            .unwrap();
        let version = put.version_id().map(str::to_owned);
        let etag = put.e_tag().map(|e| e.trim_matches('"').to_owned());
        let (at, document) = if i < PROCESSED {
            (
                KeyLayout::default().report_key(&key(i)),
                json!({
                    "schema_version": 1,
                    "source": {"bucket": bucket, "key": key(i), "etag": etag, "version_id": version},
                    "processing": {"processor": "lambda"},
                }),
            )
        } else if i < PROCESSED + FAILED {
            (
                shared::failure_record_key(&shared::encode_event_key(&key(i))),
                json!({
                    "schema_version": 1, "error": "UnsupportedFormat", "cause": "binary",
                    "execution_arn": "arn:aws:states:us-east-1:000000000000:execution:s3-upload-pipeline:earlier",
                    "failed_at": "2026-01-01T00:00:00.000Z", "bucket": bucket,
                    "object": {"key": key(i), "size": 8, "version-id": version},
                }),
            )
        } else {
            continue;
        };
        client
            .put_object()
            .bucket(&bucket)
            .key(at)
            .body(document.to_string().into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    assert!(pipeline.executions().is_empty(), "the fill started nothing");
    pipeline.shutdown().await;
}

async fn all_ended(pipeline: &RunningPipeline, count: usize) {
    let deadline = std::time::Instant::now() + Duration::from_mins(10);
    loop {
        let executions = pipeline.executions();
        let running = executions
            .iter()
            .filter(|e| e.snapshot().status == ExecutionStatus::Running)
            .count();
        if executions.len() >= count && running == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} executions, {running} running",
            executions.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `status` before any reprocess: each kind as the fill left it.
async fn status_before(bucket: &Bucket) {
    let total = PROCESSED + FAILED + NEW;
    let before = operate::status(bucket, "incoming/", None).await.unwrap();
    assert_eq!(before.len(), total);
    let count = |statuses: &[operate::ObjectStatus], label: &str| {
        statuses
            .iter()
            .filter(|s| s.outcome.label() == label)
            .count()
    };
    assert_eq!(count(&before, "processed"), PROCESSED);
    assert_eq!(count(&before, "failed: UnsupportedFormat"), FAILED);
    assert_eq!(count(&before, "none yet"), NEW);
    let one = operate::status(bucket, &key(3), None).await.unwrap();
    assert_eq!(one.len(), 1);
    let text = one[0].to_string();
    assert!(
        text.contains("outcome    processed") && text.contains("route      lambda"),
        "{text}"
    );
    assert!(
        text.contains("processed/obj-0003.csv.report.json"),
        "{text}"
    );
}

/// A dry run lists exactly the failed and new objects and starts nothing; forced, it would
/// start every object.
async fn dry_runs(pipeline: &RunningPipeline, bucket: &Bucket, sfn: &aws_sdk_sfn::Client) {
    let arn = pipeline.state_machine_arn().to_owned();
    let total = PROCESSED + FAILED + NEW;
    let dry = ReprocessOptions {
        dry_run: true,
        executions_per_second: 1000.0,
        ..ReprocessOptions::default()
    };
    let prefix = Selection::Prefix("incoming/".into());
    let summary = operate::reprocess(bucket, sfn, &arn, &prefix, &dry)
        .await
        .unwrap();
    // Exactly the failed and new ones, in key order (the keys are numbered with zeros).
    let expected: Vec<String> = (PROCESSED..total).map(key).collect();
    assert_eq!(summary.started, expected);
    assert_eq!(summary.skipped, PROCESSED);
    let forced = ReprocessOptions {
        force: true,
        ..dry.clone()
    };
    let summary = operate::reprocess(bucket, sfn, &arn, &prefix, &forced)
        .await
        .unwrap();
    assert_eq!(summary.started.len(), total);
    assert_eq!(summary.started, (0..total).map(key).collect::<Vec<_>>());
    assert!(pipeline.executions().is_empty(), "a dry run starts nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_and_reprocess_on_a_thousand_processed_failed_and_new_objects() {
    let data = tempfile::tempdir().unwrap();
    fill(data.path()).await;
    let pipeline = RunningPipeline::start(options(data.path(), "incoming/"))
        .await
        .unwrap();
    let bucket = Bucket::new(
        pipeline.s3().client(),
        &pipeline.options().bucket,
        KeyLayout::default(),
    );
    let sfn = sfn_client(&pipeline);
    let arn = pipeline.state_machine_arn().to_owned();

    status_before(&bucket).await;
    let count = |statuses: &[operate::ObjectStatus], label: &str| {
        statuses
            .iter()
            .filter(|s| s.outcome.label() == label)
            .count()
    };

    dry_runs(&pipeline, &bucket, &sfn).await;
    let prefix = Selection::Prefix("incoming/".into());

    // Interrupted after 50 starts, then taken up again: only what is left starts.
    let run = ReprocessOptions {
        executions_per_second: 200.0,
        run: "backfill".into(),
        ..ReprocessOptions::default()
    };
    let first = operate::reprocess(
        &bucket,
        &sfn,
        &arn,
        &prefix,
        &ReprocessOptions {
            max_starts: Some(50),
            ..run.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(first.started.len(), 50);
    assert_eq!(first.left, FAILED + NEW - 50);
    assert_eq!(first.skipped, PROCESSED);
    let second = operate::reprocess(&bucket, &sfn, &arn, &prefix, &run)
        .await
        .unwrap();
    assert_eq!(second.started.len(), FAILED + NEW - 50, "{second}");
    assert!(second.failed_to_start.is_empty(), "{second}");
    // The first 50 were either done by now (skipped) or refused as already started.
    assert_eq!(
        second.skipped + second.already_started,
        PROCESSED + 50,
        "{second}"
    );
    assert!(first.started.iter().all(|k| !second.started.contains(k)));
    all_ended(&pipeline, FAILED + NEW).await;
    assert_eq!(pipeline.executions().len(), FAILED + NEW);

    // After: the new ones processed, the failed ones failed again, by this run's executions.
    let index = ExecutionIndex::recent(&sfn, &arn, 1000).await.unwrap();
    let after = operate::status(&bucket, "incoming/", Some(&index))
        .await
        .unwrap();
    assert_eq!(count(&after, "processed"), PROCESSED + NEW);
    assert_eq!(count(&after, "failed: UnsupportedFormat"), FAILED);
    for status in &after[PROCESSED..] {
        let execution = status.outcome.execution_arn().unwrap_or_default();
        assert!(execution.contains(":backfill-"), "{status}");
        if let Outcome::Failed { record, current } = &status.outcome {
            assert!(current, "{status}");
            assert_eq!(record.record.object.version_id, status.object.version_id);
        }
    }

    // Once more: nothing left to start under this run's label.
    let third = operate::reprocess(&bucket, &sfn, &arn, &prefix, &run)
        .await
        .unwrap();
    assert_eq!(
        (third.started.len(), third.skipped, third.already_started),
        (0, PROCESSED + NEW, FAILED),
        "{third}"
    );
    // A list of keys, one missing.
    let keys = Selection::Keys(vec![key(1), "incoming/missing.csv".into()]);
    let listed = operate::reprocess(&bucket, &sfn, &arn, &keys, &run)
        .await
        .unwrap();
    assert_eq!((listed.skipped, listed.failed_to_start.len()), (1, 1));
    pipeline.shutdown().await;
}
