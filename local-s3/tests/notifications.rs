//! Object-created notifications.

use local_s3::CreationReason;

use crate::support::{BUCKET, hex, md5, put, start};

#[tokio::test]
async fn each_put_and_copy_publishes_one_notification_in_order() {
    let s3 = start().await;
    let client = s3.client();
    let mut created = s3.subscribe();
    let before = std::time::SystemTime::now();
    put(&client, "incoming/my file+1.csv", b"hello").await;
    put(&client, "incoming/my file+1.csv", b"hello, again").await;
    client
        .copy_object()
        .bucket(BUCKET)
        .key("copies/c.csv")
        .copy_source(format!("{BUCKET}/incoming/my%20file%2B1.csv"))
        .send()
        .await
        .unwrap();
    // A failed write publishes nothing.
    let refused = client
        .put_object()
        .bucket(BUCKET)
        .key("copies/c.csv")
        .if_none_match("*")
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert!(refused.is_err());

    let first = created.try_recv().unwrap();
    let second = created.try_recv().unwrap();
    let copy = created.try_recv().unwrap();
    assert!(created.try_recv().is_err());

    assert_eq!(first.bucket, BUCKET);
    assert_eq!(first.key, "incoming/my file+1.csv"); // raw, not encoded
    assert_eq!(first.size, 5);
    assert_eq!(first.etag, hex(&md5(b"hello"))); // no quotes
    assert_eq!(first.version_id, None);
    assert_eq!(first.reason, CreationReason::PutObject);
    assert_eq!(first.reason.as_str(), "PutObject");
    assert!(first.time >= before);
    assert_eq!(second.size, 12);
    assert_eq!(second.etag, hex(&md5(b"hello, again")));
    assert_eq!(copy.key, "copies/c.csv");
    assert_eq!(copy.reason, CreationReason::CopyObject);
    assert_eq!(copy.etag, second.etag);
    assert!(first.sequencer < second.sequencer && second.sequencer < copy.sequencer);
    s3.shutdown().await;
}

#[tokio::test]
async fn subscribers_see_only_later_events_and_all_see_them() {
    let s3 = start().await;
    let client = s3.client();
    put(&client, "before", b"x").await;
    let mut one = s3.subscribe();
    let mut two = s3.subscribe();
    put(&client, "after", b"x").await;
    assert_eq!(one.try_recv().unwrap().key, "after");
    assert_eq!(two.try_recv().unwrap().key, "after");
    assert!(one.try_recv().is_err());
    s3.shutdown().await;
}
