//! Versioned buckets, as the deployed one: version ids, reads and deletes by version, delete
//! markers, notifications with the version id, and the processors' pinned reads.

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use local_s3::{LocalS3, RunningS3};
use shared::{ErrorName, KeyLayout};
use storage::{ReadPlan, ReportStatus, RunSettings, S3Store, StopSignal, run_job};

use crate::support::{BUCKET, code_and_status, collect, put};

async fn versioned() -> RunningS3 {
    LocalS3::builder()
        .versioned_bucket(BUCKET)
        .start()
        .await
        .expect("local S3 starts")
}

async fn get_version(client: &aws_sdk_s3::Client, key: &str, version: &str) -> Vec<u8> {
    let output = client
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .version_id(version)
        .send()
        .await
        .unwrap();
    assert_eq!(output.version_id.as_deref(), Some(version));
    collect(output.body).await
}

#[tokio::test]
async fn every_write_gets_a_version_id_and_old_versions_stay_readable() {
    let s3 = versioned().await;
    let client = s3.client();
    let mut created = s3.subscribe();
    let one = client
        .put_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .body(b"one".to_vec().into())
        .send()
        .await
        .unwrap();
    let two = client
        .put_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .body(b"two".to_vec().into())
        .send()
        .await
        .unwrap();
    let (v1, v2) = (one.version_id.unwrap(), two.version_id.unwrap());
    assert_ne!(v1, v2);
    assert_eq!(
        created.try_recv().unwrap().version_id.as_deref(),
        Some(v1.as_str())
    );
    assert_eq!(
        created.try_recv().unwrap().version_id.as_deref(),
        Some(v2.as_str())
    );

    assert_eq!(get_version(&client, "incoming/a.csv", &v1).await, b"one");
    assert_eq!(get_version(&client, "incoming/a.csv", &v2).await, b"two");
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length, Some(3));
    assert_eq!(head.version_id.as_deref(), Some(v1.as_str()));
    let current = client
        .get_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(current.version_id.as_deref(), Some(v2.as_str()));
    // An id of no version of this key: 404 NoSuchVersion, never other bytes.
    let other = client
        .get_object()
        .bucket(BUCKET)
        .key("incoming/b.csv")
        .version_id(&v1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_status(&other),
        (Some("NoSuchVersion".to_owned()), 404)
    );

    s3.shutdown().await;
}

#[tokio::test]
async fn a_multipart_upload_makes_a_version_and_its_event_says_which() {
    let s3 = versioned().await;
    let client = s3.client();
    let v1 = client
        .put_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .body(b"one".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let mut created = s3.subscribe();
    let upload = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .send()
        .await
        .unwrap();
    let part = client
        .upload_part()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .upload_id(upload.upload_id().unwrap())
        .part_number(1)
        .body(b"three".to_vec().into())
        .send()
        .await
        .unwrap();
    let completed = client
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .upload_id(upload.upload_id().unwrap())
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .set_e_tag(part.e_tag)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v3 = completed.version_id.unwrap();
    assert_eq!(
        created.try_recv().unwrap().version_id.as_deref(),
        Some(v3.as_str())
    );
    assert_eq!(get_version(&client, "incoming/a.csv", &v1).await, b"one");
    assert_eq!(get_version(&client, "incoming/a.csv", &v3).await, b"three");
    s3.shutdown().await;
}

#[tokio::test]
async fn deletes_add_markers_and_deleting_a_version_removes_only_it() {
    let s3 = versioned().await;
    let client = s3.client();
    put(&client, "k", b"one").await;
    let v2 = client
        .put_object()
        .bucket(BUCKET)
        .key("k")
        .body(b"two".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let deleted = client
        .delete_object()
        .bucket(BUCKET)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.delete_marker, Some(true));
    let marker = deleted.version_id.unwrap();
    let gone = client
        .get_object()
        .bucket(BUCKET)
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&gone), (Some("NoSuchKey".to_owned()), 404));
    let listed = client
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert!(listed.contents().is_empty());
    // The marker as a version: 405, as on S3.
    let at_marker = client
        .get_object()
        .bucket(BUCKET)
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&at_marker).1, 405);
    // The old versions are there; removing the marker brings the newest back.
    assert_eq!(get_version(&client, "k", &v2).await, b"two");
    let removed = client
        .delete_object()
        .bucket(BUCKET)
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.delete_marker, Some(true));
    assert_eq!(removed.version_id.as_deref(), Some(marker.as_str()));
    assert_eq!(crate::support::get(&client, "k").await, b"two");
    // Deleting the current version makes the previous one current.
    client
        .delete_object()
        .bucket(BUCKET)
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(crate::support::get(&client, "k").await, b"one");
    s3.shutdown().await;
}

#[tokio::test]
async fn versioning_is_set_through_the_api_and_suspended_buckets_write_null_versions() {
    let s3 = crate::support::start().await;
    let client = s3.client();
    let status = client
        .get_bucket_versioning()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status, None);
    put(&client, "k", b"before").await;
    let set = |status| {
        client
            .put_bucket_versioning()
            .bucket(BUCKET)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
    };
    set(BucketVersioningStatus::Enabled).await.unwrap();
    let after = client
        .put_object()
        .bucket(BUCKET)
        .key("k")
        .body(b"after".to_vec().into())
        .send()
        .await
        .unwrap();
    assert!(after.version_id.is_some_and(|v| v != "null"));
    // The object from before versioning is the "null" version.
    assert_eq!(get_version(&client, "k", "null").await, b"before");

    set(BucketVersioningStatus::Suspended).await.unwrap();
    let suspended = client
        .put_object()
        .bucket(BUCKET)
        .key("k")
        .body(b"suspended".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(suspended.version_id.as_deref(), Some("null"));
    assert_eq!(get_version(&client, "k", "null").await, b"suspended");
    let status = client
        .get_bucket_versioning()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status, Some(BucketVersioningStatus::Suspended));
    s3.shutdown().await;
}

fn settings() -> RunSettings {
    RunSettings {
        layout: KeyLayout::default(),
        core: shared::Config::default(),
        processor: "test".into(),
        read: ReadPlan::Ranged {
            part_size: 4,
            concurrency: 2,
        },
        contracts: shared::Contracts::none(),
        parallelism: shared::Parallelism::with_threads(2).with_range_bytes(4),
    }
}

/// The processors pin their reads by version id when the job has one (storage's `Pin`): an
/// overwritten object is still read as the version of the event, never the newer bytes; a
/// deleted version is `SourceMissing`.
#[tokio::test]
async fn the_processors_pinned_reads_follow_the_version_id() {
    let s3 = versioned().await;
    let store = S3Store::new(s3.client());
    let old = s3
        .upload_job(BUCKET, "incoming/v.csv", b"a\n1\n2\n3\n")
        .await
        .unwrap();
    let old_version = old.object.version_id.clone().expect("a version id");
    let newer = s3
        .upload_job(BUCKET, "incoming/v.csv", b"a\n1\n")
        .await
        .unwrap();
    assert_ne!(newer.object.version_id, old.object.version_id);

    // The old event after the overwrite: its own version is read, whole and ranged.
    let outcome = run_job(&store, &old, &settings(), &StopSignal::never())
        .await
        .unwrap();
    assert_eq!(outcome.status, ReportStatus::Written);
    let report = crate::support::get(&s3.client(), "processed/v.csv.report.json").await;
    let report: serde_json::Value = serde_json::from_slice(&report).unwrap();
    assert_eq!(report["records"]["total"], 3);
    assert_eq!(report["source"]["version_id"], old_version.as_str());

    // The same version again: already done.
    let again = run_job(&store, &old, &settings(), &StopSignal::never())
        .await
        .unwrap();
    assert_eq!(again.status, ReportStatus::AlreadyDone);

    // That version deleted: SourceMissing, never the newer bytes.
    s3.client()
        .delete_object()
        .bucket(BUCKET)
        .key("incoming/v.csv")
        .version_id(&old_version)
        .send()
        .await
        .unwrap();
    let error = run_job(&store, &old, &settings(), &StopSignal::never())
        .await
        .unwrap_err();
    assert_eq!(error.name(), ErrorName::SourceMissing);
    s3.shutdown().await;
}

/// ListObjectVersions: by key (bytewise: `a` before `a/b` before `ab`), newest first, delete
/// markers apart, `IsLatest` on each key's newest, pages resumed at the next markers.
#[tokio::test]
async fn versions_are_listed_by_key_then_newest_first_across_pages() {
    let s3 = versioned().await;
    let client = s3.client();
    let mut expected = Vec::new(); // (key, version id, delete marker)
    for (key, body) in [("a", "1"), ("ab", "1"), ("a/b", "1"), ("a", "2")] {
        let version = client
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap()
            .version_id
            .unwrap();
        expected.push((key.to_owned(), version, false));
    }
    let marker = client
        .delete_object()
        .bucket(BUCKET)
        .key("a")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    expected.push(("a".to_owned(), marker, true));
    // By key, then newest first.
    expected.sort_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)));

    let mut listed = Vec::new(); // (key, version id, delete marker, latest)
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    for _ in 0..10 {
        let page = client
            .list_object_versions()
            .bucket(BUCKET)
            .max_keys(2)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .unwrap();
        let mut entries: Vec<(String, String, bool, bool)> = page
            .versions()
            .iter()
            .map(|v| {
                let key = v.key().unwrap().to_owned();
                let id = v.version_id().unwrap().to_owned();
                (key, id, false, v.is_latest().unwrap())
            })
            .chain(page.delete_markers().iter().map(|m| {
                let key = m.key().unwrap().to_owned();
                let id = m.version_id().unwrap().to_owned();
                (key, id, true, m.is_latest().unwrap())
            }))
            .collect();
        entries.sort_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)));
        assert!(entries.len() <= 2);
        listed.extend(entries);
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    let keys_and_ids: Vec<_> = listed
        .iter()
        .map(|(k, id, marker, _)| (k.clone(), id.clone(), *marker))
        .collect();
    assert_eq!(keys_and_ids, expected);
    let latest: Vec<_> = listed
        .iter()
        .filter(|entry| entry.3)
        .map(|(k, _, marker, _)| (k.as_str(), *marker))
        .collect();
    assert_eq!(latest, [("a", true), ("a/b", false), ("ab", false)]);

    // With a delimiter, `a/b` rolls up into `a/`.
    let grouped = client
        .list_object_versions()
        .bucket(BUCKET)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = grouped
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["a/"]);
    assert_eq!(grouped.versions().len(), 3); // a twice, ab once
    s3.shutdown().await;
}
