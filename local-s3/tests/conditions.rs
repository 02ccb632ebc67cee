//! Conditional requests: read preconditions (added by local-s3) and conditional writes
//! (s3s-fs's, made atomic by local-s3).

use std::time::Duration;

use aws_sdk_s3::primitives::DateTime;

use crate::support::{BUCKET, code_and_status, collect, put, start};

#[tokio::test]
async fn get_with_if_match_serves_the_expected_version_only() {
    let s3 = start().await;
    let client = s3.client();
    let etag = put(&client, "incoming/a.csv", b"version 1").await;

    let same = client
        .get_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    assert_eq!(collect(same.body).await, b"version 1");
    // Unquoted ETags are accepted too, as by S3.
    let unquoted = etag.trim_matches('"');
    client
        .get_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .if_match(unquoted)
        .send()
        .await
        .unwrap();

    put(&client, "incoming/a.csv", b"version 2").await;
    let changed = client
        .get_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .if_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_status(&changed),
        (Some("PreconditionFailed".to_owned()), 412)
    );
    // The same with a range, as a streaming reader would ask.
    let ranged = client
        .get_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .if_match(&etag)
        .range("bytes=0-3")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&ranged).1, 412);
    // HEAD answers have no body, hence no error code: the status tells.
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .if_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&head).1, 412);
    s3.shutdown().await;
}

#[tokio::test]
async fn if_none_match_and_dates_answer_not_modified() {
    let s3 = start().await;
    let client = s3.client();
    let etag = put(&client, "a.csv", b"x").await;

    let cached = client
        .get_object()
        .bucket(BUCKET)
        .key("a.csv")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&cached).1, 304);
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("a.csv")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&head).1, 304);
    let other = client
        .get_object()
        .bucket(BUCKET)
        .key("a.csv")
        .if_none_match("\"0123\"")
        .send()
        .await
        .unwrap();
    assert_eq!(collect(other.body).await, b"x");

    let hour = Duration::from_hours(1);
    let future = DateTime::from(std::time::SystemTime::now() + hour);
    let past = DateTime::from(std::time::SystemTime::now() - hour);
    let unmodified = client
        .get_object()
        .bucket(BUCKET)
        .key("a.csv")
        .if_modified_since(future)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&unmodified).1, 304);
    client
        .get_object()
        .bucket(BUCKET)
        .key("a.csv")
        .if_modified_since(past)
        .send()
        .await
        .unwrap();
    let modified = client
        .get_object()
        .bucket(BUCKET)
        .key("a.csv")
        .if_unmodified_since(past)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_status(&modified),
        (Some("PreconditionFailed".to_owned()), 412)
    );
    s3.shutdown().await;
}

#[tokio::test]
async fn put_if_none_match_star_creates_only() {
    let s3 = start().await;
    let client = s3.client();
    let send = |body: &'static [u8]| {
        client
            .put_object()
            .bucket(BUCKET)
            .key("processed/r.json")
            .if_none_match("*")
            .body(body.to_vec().into())
            .send()
    };
    send(b"first").await.unwrap();
    let error = send(b"second").await.unwrap_err();
    assert_eq!(
        code_and_status(&error),
        (Some("PreconditionFailed".to_owned()), 412)
    );
    assert_eq!(
        crate::support::get(&client, "processed/r.json").await,
        b"first"
    );
    s3.shutdown().await;
}

#[tokio::test]
async fn put_if_match_replaces_the_expected_version_only() {
    let s3 = start().await;
    let client = s3.client();
    let etag = put(&client, "k", b"v1").await;
    let send = |if_match: &str, body: &'static [u8]| {
        client
            .put_object()
            .bucket(BUCKET)
            .key("k")
            .if_match(if_match)
            .body(body.to_vec().into())
            .send()
    };
    send(&etag, b"v2").await.unwrap();
    let stale = send(&etag, b"v3").await.unwrap_err();
    assert_eq!(
        code_and_status(&stale),
        (Some("PreconditionFailed".to_owned()), 412)
    );
    let absent = client
        .put_object()
        .bucket(BUCKET)
        .key("absent")
        .if_match(&etag)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&absent).1, 412);
    assert_eq!(crate::support::get(&client, "k").await, b"v2");
    s3.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_create_only_puts_have_exactly_one_winner() {
    let s3 = start().await;
    let client = s3.client();
    let attempts: Vec<_> = (0..16u8)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .put_object()
                    .bucket(BUCKET)
                    .key("once")
                    .if_none_match("*")
                    .body(vec![i; 64 * 1024].into())
                    .send()
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, attempt) in attempts.into_iter().enumerate() {
        match attempt.await.unwrap() {
            Ok(_) => winners.push(i),
            Err(error) => assert_eq!(code_and_status(&error).1, 412),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let stored = crate::support::get(&client, "once").await;
    assert_eq!(stored, vec![u8::try_from(winners[0]).unwrap(); 64 * 1024]);
    s3.shutdown().await;
}
