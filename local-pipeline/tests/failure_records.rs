//! Failure records: a failed execution's own failure path writes `failed/<event key>.json`
//! (an S3 `PutObject` task before each `Fail` state, the AWS SDK integration run by the local
//! interpreter against the local S3), and a later success supersedes it.

use aws_sdk_s3::primitives::DateTime;
use local_pipeline::execution::ExecutionStatus;
use local_pipeline::pipeline::RunningPipeline;
use shared::{FailureRecord, failure_record_key};

use crate::pipeline::{THRESHOLD, ended, start, upload};

/// The record at `failed/<key as the event spells it>.json`, and its `LastModified`.
async fn failure_record(pipeline: &RunningPipeline, key: &str) -> (FailureRecord, DateTime) {
    let record_key = failure_record_key(&shared::encode_event_key(key));
    let object = pipeline
        .s3()
        .client()
        .get_object()
        .bucket(&pipeline.options().bucket)
        .key(&record_key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("no failure record at {record_key}: {e:?}"));
    assert_eq!(object.content_type(), Some("application/json"));
    let modified = *object.last_modified().unwrap();
    let body = object.body.collect().await.unwrap().to_vec();
    let record = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{record_key}: {e}: {}", String::from_utf8_lossy(&body)));
    (record, modified)
}

async fn version_of(pipeline: &RunningPipeline, key: &str) -> Option<String> {
    pipeline
        .s3()
        .client()
        .head_object()
        .bucket(&pipeline.options().bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .version_id()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_execution_leaves_a_record_on_both_routes_and_a_later_success_supersedes_it() {
    let pipeline = start().await;
    let broken = include_bytes!("../samples/broken.csv").to_vec();
    let mut big_broken = b"a,b,c\n".to_vec();
    while (big_broken.len() as u64) <= THRESHOLD {
        big_broken.extend_from_slice(b"1,2\n");
    }
    // A key the event spells form-URL-encoded: the record's key is the event's spelling.
    let lambda_key = "incoming/broken file+1.csv";
    let fargate_key = "incoming/big-broken.csv";
    upload(&pipeline, lambda_key, broken).await;
    upload(&pipeline, fargate_key, big_broken).await;
    let records = ended(&pipeline, 2).await;
    for key in [lambda_key, fargate_key] {
        let execution = records
            .iter()
            .find(|r| local_pipeline::demo::execution_key(r).as_deref() == Some(key))
            .unwrap();
        assert_eq!(execution.status, ExecutionStatus::Failed, "{key}");
        let (record, _) = failure_record(&pipeline, key).await;
        assert_eq!(record.schema_version, shared::FAILURE_RECORD_SCHEMA_VERSION);
        assert_eq!(Some(record.error.as_str()), execution.error.as_deref());
        assert_eq!(record.error, "TooManyMalformedRecords");
        // The record's cause is the execution's own (the Fail state's CausePath).
        assert_eq!(record.cause, execution.cause, "{key}");
        assert!(!record.cause.clone().unwrap_or_default().is_empty());
        assert_eq!(record.execution_arn, execution.execution_arn);
        assert_eq!(record.bucket, pipeline.options().bucket);
        assert_eq!(record.object.key, shared::encode_event_key(key));
        assert_eq!(record.object.version_id, version_of(&pipeline, key).await);
        assert!(record.object.version_id.is_some());
        // `$$.State.EnteredTime`: ISO 8601 to the millisecond, UTC.
        assert!(
            record.failed_at.len() == 24 && record.failed_at.ends_with('Z'),
            "{}",
            record.failed_at
        );
    }
    assert_eq!(
        failure_record_key(&shared::encode_event_key(lambda_key)),
        "failed/incoming/broken+file%2B1.csv.json"
    );

    // A new, valid version of the same key succeeds: the record stays, older than the
    // report, which supersedes it (shared::FailureRecord's documented rule).
    let (_, failed_modified) = failure_record(&pipeline, lambda_key).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    upload(&pipeline, lambda_key, b"a,b\n1,2\n".to_vec()).await;
    let records = ended(&pipeline, 3).await;
    assert_eq!(
        records
            .iter()
            .filter(|r| r.status == ExecutionStatus::Succeeded)
            .count(),
        1
    );
    let report = pipeline
        .s3()
        .client()
        .head_object()
        .bucket(&pipeline.options().bucket)
        .key(shared::KeyLayout::default().report_key(lambda_key))
        .send()
        .await
        .unwrap();
    let (record, still) = failure_record(&pipeline, lambda_key).await;
    assert_eq!(
        still, failed_modified,
        "a success leaves the record as it was"
    );
    assert!(*report.last_modified().unwrap() > still);
    assert_ne!(
        record.object.version_id,
        version_of(&pipeline, lambda_key).await
    );
    pipeline.shutdown().await;
}
