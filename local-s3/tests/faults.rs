//! Fault injection seen through the SDK's retries.

use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use local_s3::{Fault, FaultRule, Operation};

use crate::support::{BUCKET, code_and_status, collect, put, start};

#[tokio::test]
async fn two_injected_500s_are_retried_through() {
    let s3 = start().await;
    let client = s3.client(); // 3 attempts
    put(&client, "incoming/a.csv", b"payload").await;
    s3.faults()
        .inject(FaultRule::new(Operation::GetObject, Fault::InternalError).times(2));

    let output = client
        .get_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(collect(output.body).await, b"payload");
    assert_eq!(s3.requests_seen(Operation::GetObject), 3);
    assert_eq!(s3.faults().fired(), 2);
    assert_eq!(s3.faults().pending(), 0);
    s3.shutdown().await;
}

#[tokio::test]
async fn persistent_500s_exhaust_the_attempts() {
    let s3 = start().await;
    put(&s3.client(), "incoming/a.csv", b"payload").await;
    s3.faults()
        .inject(FaultRule::new(Operation::GetObject, Fault::InternalError).times(5));
    let client = Client::from_conf(
        s3.client_config()
            .retry_config(local_s3::test_retry_config().with_max_attempts(3))
            .build(),
    );

    let error = client
        .get_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_status(&error),
        (Some("InternalError".to_owned()), 500)
    );
    assert_eq!(s3.requests_seen(Operation::GetObject), 3);
    assert_eq!(s3.faults().fired(), 3);
    s3.shutdown().await;
}

#[tokio::test]
async fn slow_down_is_retried_and_access_denied_is_not() {
    let s3 = start().await;
    let client = s3.client();
    s3.faults()
        .inject(FaultRule::new(Operation::PutObject, Fault::SlowDown).times(2));
    put(&client, "a", b"x").await;
    assert_eq!(s3.requests_seen(Operation::PutObject), 3);

    s3.faults().inject(
        FaultRule::new(Operation::Any, Fault::AccessDenied)
            .key_prefix("secret/")
            .always(),
    );
    let denied = client
        .get_object()
        .bucket(BUCKET)
        .key("secret/b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_status(&denied),
        (Some("AccessDenied".to_owned()), 403)
    );
    assert_eq!(s3.requests_seen(Operation::GetObject), 1);
    // Other keys are untouched; clear() lifts the rule.
    client
        .get_object()
        .bucket(BUCKET)
        .key("a")
        .send()
        .await
        .unwrap();
    s3.faults().clear();
    let missing = client
        .get_object()
        .bucket(BUCKET)
        .key("secret/b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&missing).1, 404);
    s3.shutdown().await;
}

#[tokio::test]
async fn a_delay_stalls_then_serves() {
    let s3 = start().await;
    let client = s3.client();
    s3.faults().inject(FaultRule::new(
        Operation::HeadBucket,
        Fault::Delay(Duration::from_millis(300)),
    ));
    let started = Instant::now();
    client.head_bucket().bucket(BUCKET).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    s3.shutdown().await;
}
