//! A smaller cross-check against a second, independent S3 implementation: moto's server.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use shared::ErrorName;
use shared::encode_event_key;
use shared::{Job, JobObject};
use storage::{ReadPlan, ReportStatus, S3Store, StopSignal, run_job};

use crate::settings;

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .build();
    Client::from_conf(config)
}

#[tokio::test]
async fn jobs_run_the_same_against_moto() {
    let moto = local_s3::MotoServer::start();
    let client = client(moto.endpoint());
    client.create_bucket().bucket("cross").send().await.unwrap();
    let store = S3Store::new(client.clone());
    let body = crate::sample_csv();
    let key = "incoming/moto check/é+1.csv";
    let put = client
        .put_object()
        .bucket("cross")
        .key(key)
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    let job = Job {
        bucket: "cross".into(),
        object: JobObject {
            key: encode_event_key(key),
            size: body.len() as u64,
            etag: put.e_tag().map(|e| e.trim_matches('"').to_owned()),
            version_id: None,
            sequencer: Some("01".into()),
        },
    };
    let ranged = ReadPlan::Ranged {
        part_size: 1000,
        concurrency: 3,
    };
    let outcome = run_job(&store, &job, &settings(ranged), &StopSignal::never())
        .await
        .unwrap();
    assert_eq!(outcome.status, ReportStatus::Written);
    assert_eq!(outcome.records.unwrap().valid, 300);
    let again = run_job(
        &store,
        &job,
        &settings(ReadPlan::Whole),
        &StopSignal::never(),
    )
    .await
    .unwrap();
    assert_eq!(again.status, ReportStatus::AlreadyDone);

    // moto answers the same preconditions: a changed object is SourceChanged.
    client
        .put_object()
        .bucket("cross")
        .key(key)
        .body(b"a\n1\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let error = run_job(
        &store,
        &job,
        &settings(ReadPlan::Whole),
        &StopSignal::never(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.name(), ErrorName::SourceChanged, "{error}");
    // And a vanished one SourceMissing.
    client
        .delete_object()
        .bucket("cross")
        .key(key)
        .send()
        .await
        .unwrap();
    let error = run_job(&store, &job, &settings(ranged), &StopSignal::never())
        .await
        .unwrap_err();
    assert_eq!(error.name(), ErrorName::SourceMissing, "{error}");
}
