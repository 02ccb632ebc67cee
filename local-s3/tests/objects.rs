//! Basic object operations through the SDK: put/get/head, ranges, listings, buckets.

use aws_sdk_s3::types::EncodingType;

use crate::support::{BUCKET, code_and_status, collect, get, hex, md5, put, start};

#[tokio::test]
async fn put_get_head_round_trip_with_md5_etags() {
    let s3 = start().await;
    let client = s3.client();
    let body = b"id,name\n1,ada\n2,grace\n";
    let etag = put(&client, "incoming/people.csv", body).await;
    assert_eq!(etag, format!("\"{}\"", hex(&md5(body))));

    assert_eq!(get(&client, "incoming/people.csv").await, body);
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("incoming/people.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.content_length,
        Some(i64::try_from(body.len()).unwrap())
    );
    assert_eq!(head.e_tag.as_deref(), Some(etag.as_str()));
    assert!(head.last_modified.is_some());
    assert_eq!(head.version_id, None);

    // The key is no path of the data folder: the bytes are in a blob named by an id.
    assert!(!s3.root().join(BUCKET).exists());
    assert!(s3.root().join(local_s3::FORMAT_FILE).is_file());
    s3.shutdown().await;
}

#[tokio::test]
async fn ranged_get_returns_the_inclusive_byte_range() {
    let s3 = start().await;
    let client = s3.client();
    let body: Vec<u8> = (0..100u8).collect();
    put(&client, "r.bin", &body).await;
    let output = client
        .get_object()
        .bucket(BUCKET)
        .key("r.bin")
        .range("bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(output.content_range.as_deref(), Some("bytes 10-19/100"));
    assert_eq!(output.content_length, Some(10));
    assert_eq!(collect(output.body).await, &body[10..20]);

    let suffix = client
        .get_object()
        .bucket(BUCKET)
        .key("r.bin")
        .range("bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(collect(suffix.body).await, &body[95..]);

    let error = client
        .get_object()
        .bucket(BUCKET)
        .key("r.bin")
        .range("bytes=200-300")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_status(&error),
        (Some("InvalidRange".to_owned()), 416)
    );
    s3.shutdown().await;
}

/// Bodies are read from the file 1 MiB at a time: objects and ranges across those reads come
/// back exact, and a GET answered before an overwrite streams the bytes it announced.
#[tokio::test]
async fn large_bodies_and_ranges_across_reads_are_exact_and_survive_overwrites() {
    let s3 = start().await;
    let client = s3.client();
    let body: Vec<u8> = (0..=250u8).cycle().take((3 << 20) + 7).collect();
    let etag = put(&client, "big.bin", &body).await;
    assert_eq!(get(&client, "big.bin").await, body);
    let first = (1 << 20) - 3;
    let last = (2 << 20) + 5;
    let ranged = client
        .get_object()
        .bucket(BUCKET)
        .key("big.bin")
        .range(format!("bytes={first}-{last}"))
        .send()
        .await
        .unwrap();
    assert_eq!(collect(ranged.body).await, &body[first..=last]);

    let before = client
        .get_object()
        .bucket(BUCKET)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(before.e_tag.as_deref(), Some(etag.as_str()));
    put(&client, "big.bin", b"replaced").await;
    assert_eq!(collect(before.body).await, body);
    assert_eq!(get(&client, "big.bin").await, b"replaced");
    s3.shutdown().await;
}

#[tokio::test]
async fn list_objects_v2_filters_by_prefix_and_groups_by_delimiter() {
    let s3 = start().await;
    let client = s3.client();
    for key in [
        "incoming/a.csv",
        "incoming/b.csv",
        "incoming/deep/c.csv",
        "processed/a.csv.report.json",
    ] {
        put(&client, key, b"x").await;
    }
    let listed = client
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("incoming/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(
        keys,
        ["incoming/a.csv", "incoming/b.csv", "incoming/deep/c.csv"]
    );
    assert_eq!(listed.contents()[0].size, Some(1));

    let grouped = client
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("incoming/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = grouped.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<_> = grouped
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(keys, ["incoming/a.csv", "incoming/b.csv"]);
    assert_eq!(prefixes, ["incoming/deep/"]);

    let paged = client
        .list_objects_v2()
        .bucket(BUCKET)
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(paged.is_truncated, Some(true));
    let rest = client
        .list_objects_v2()
        .bucket(BUCKET)
        .continuation_token(paged.next_continuation_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.contents().len(), 2);
    s3.shutdown().await;
}

#[tokio::test]
async fn keys_with_spaces_plus_percent_and_unicode_survive_and_list_url_encoded_on_request() {
    let s3 = start().await;
    let client = s3.client();
    let key = "incoming/2024 q1/a+b%20c é.csv";
    put(&client, key, b"x").await;
    assert_eq!(get(&client, key).await, b"x");

    let raw = client
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.contents()[0].key(), Some(key));
    let encoded = client
        .list_objects_v2()
        .bucket(BUCKET)
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(
        encoded.contents()[0].key(),
        Some("incoming/2024+q1/a%2Bb%2520c+%C3%A9.csv")
    );
    s3.shutdown().await;
}

#[tokio::test]
async fn buckets_are_created_listed_and_required() {
    let s3 = start().await;
    let client = s3.client();
    client
        .create_bucket()
        .bucket("second")
        .send()
        .await
        .unwrap();
    let listed = client.list_buckets().send().await.unwrap();
    let mut names: Vec<_> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["data", "second"]);
    client.head_bucket().bucket("second").send().await.unwrap();

    let again = client
        .create_bucket()
        .bucket("second")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_status(&again),
        (Some("BucketAlreadyOwnedByYou".to_owned()), 409)
    );

    // s3s-fs alone would create the missing bucket's folder here.
    let missing = client
        .put_object()
        .bucket("missing")
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_status(&missing),
        (Some("NoSuchBucket".to_owned()), 404)
    );
    assert!(!s3.root().join("missing").exists());
    let head = client
        .head_bucket()
        .bucket("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&head).1, 404);
    s3.shutdown().await;
}

#[tokio::test]
async fn missing_keys_folders_and_versions_are_not_found() {
    let s3 = start().await;
    let client = s3.client();
    put(&client, "incoming/a.csv", b"x").await;

    let missing = client
        .get_object()
        .bucket(BUCKET)
        .key("incoming/b.csv")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_status(&missing),
        (Some("NoSuchKey".to_owned()), 404)
    );
    // `incoming` is a folder of the store, not an object (s3s-fs alone: 500, retried).
    let folder = client
        .get_object()
        .bucket(BUCKET)
        .key("incoming")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_status(&folder),
        (Some("NoSuchKey".to_owned()), 404)
    );
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("incoming")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&head).1, 404);

    // No versioning: "null" is the current object, any other version does not exist.
    let null = client
        .get_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .version_id("null")
        .send()
        .await
        .unwrap();
    assert_eq!(collect(null.body).await, b"x");
    let other = client
        .get_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .version_id("3sL4kqtJlcpXroDTDmJ")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_and_status(&other),
        (Some("NoSuchVersion".to_owned()), 404)
    );
    let deleted = client
        .delete_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .version_id("3sL4kqtJlcpXroDTDmJ")
        .send()
        .await;
    assert!(deleted.is_err());
    assert_eq!(get(&client, "incoming/a.csv").await, b"x");

    client
        .delete_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .send()
        .await
        .unwrap();
    let gone = client
        .head_object()
        .bucket(BUCKET)
        .key("incoming/a.csv")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&gone).1, 404);
    s3.shutdown().await;
}
