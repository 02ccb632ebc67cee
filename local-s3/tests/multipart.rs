//! Multipart uploads: S3's ETag, the 5 MiB minimum part size, abort.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use local_s3::CreationReason;

use crate::support::{BUCKET, code_and_status, get, hex, md5, start};

const MIB: usize = 1024 * 1024;

/// Uploads `parts` as one object; returns the completion's ETag, or the SDK error's status.
async fn upload(client: &Client, key: &str, parts: &[Vec<u8>]) -> Result<String, u16> {
    let created = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    let upload_id = created.upload_id.unwrap();
    let mut completed = Vec::new();
    for (number, part) in (1..).zip(parts) {
        let uploaded = client
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(part.clone().into())
            .send()
            .await
            .unwrap();
        assert_eq!(
            uploaded.e_tag.as_deref(),
            Some(format!("\"{}\"", hex(&md5(part))).as_str())
        );
        completed.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(uploaded.e_tag)
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .map(|output| output.e_tag.unwrap())
        .map_err(|error| code_and_status(&error).1)
}

#[tokio::test]
async fn three_parts_make_one_object_with_s3s_multipart_etag_and_one_notification() {
    let s3 = start().await;
    let client = s3.client();
    let mut created = s3.subscribe();
    let parts = vec![vec![b'a'; 5 * MIB], vec![b'b'; 5 * MIB], b"tail".to_vec()];
    let etag = upload(&client, "incoming/big.csv", &parts).await.unwrap();

    let part_md5s: Vec<u8> = parts.iter().flat_map(|part| md5(part)).collect();
    let expected = format!("{}-3", hex(&md5(&part_md5s)));
    assert_eq!(etag, format!("\"{expected}\""));
    assert_eq!(get(&client, "incoming/big.csv").await, parts.concat());

    let event = created
        .try_recv()
        .expect("a notification was published before the response");
    assert_eq!(event.reason, CreationReason::CompleteMultipartUpload);
    assert_eq!(event.key, "incoming/big.csv");
    assert_eq!(event.size, u64::try_from(10 * MIB + 4).unwrap());
    assert_eq!(event.etag, expected);
    assert!(
        created.try_recv().is_err(),
        "parts are not objects: one notification only"
    );
    s3.shutdown().await;
}

#[tokio::test]
async fn parts_below_5_mib_other_than_the_last_are_refused() {
    let s3 = start().await;
    let client = s3.client();
    let status = upload(&client, "small", &[b"one".to_vec(), b"two".to_vec()])
        .await
        .unwrap_err();
    assert_eq!(status, 400); // EntityTooSmall
    // A single small part is fine: it is the last one.
    upload(&client, "single", &[b"only".to_vec()])
        .await
        .unwrap();
    assert_eq!(get(&client, "single").await, b"only");
    s3.shutdown().await;
}

#[tokio::test]
async fn an_aborted_upload_leaves_nothing() {
    let s3 = start().await;
    let client = s3.client();
    let created = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("k")
        .send()
        .await
        .unwrap();
    let upload_id = created.upload_id.unwrap();
    client
        .upload_part()
        .bucket(BUCKET)
        .key("k")
        .upload_id(&upload_id)
        .part_number(1)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    client
        .abort_multipart_upload()
        .bucket(BUCKET)
        .key("k")
        .upload_id(&upload_id)
        .send()
        .await
        .unwrap();
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&head).1, 404);
    // Neither the part's blob nor a staging file is left.
    let leftovers = crate::support::files_under(&s3.root().join("blobs"))
        .into_iter()
        .chain(crate::support::files_under(&s3.root().join("tmp")))
        .collect::<Vec<_>>();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let missing_bucket = client
        .create_multipart_upload()
        .bucket("missing")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_status(&missing_bucket),
        (Some("NoSuchBucket".to_owned()), 404)
    );
    s3.shutdown().await;
}
