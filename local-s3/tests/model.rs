//! The store against an in-memory model, under proptest: random sequences of PUT, multipart
//! upload, DELETE, GET and LIST (both versions, paginated, with and without a delimiter) with
//! awkward keys (`//`, `.`, `..`, unicode, 1,024 bytes), through aws-sdk-s3. The server must
//! answer as the model does, before and after a restart on the same data folder.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use local_s3::{LocalS3, RunningS3};
use proptest::prelude::*;

use crate::support::{BUCKET, code_and_status, collect, hex, md5};

#[derive(Debug, Clone)]
enum Op {
    Put(usize, Vec<u8>),
    /// A multipart upload of these parts (more than one small part: `EntityTooSmall`).
    Multipart(usize, Vec<Vec<u8>>),
    Delete(usize),
    Get(usize),
    /// A whole listing, page by page.
    List {
        prefix: usize,
        delimiter: bool,
        page: i32,
        v1: bool,
    },
    /// Stop the server and start it again on the same folder.
    Restart,
}

/// What the bucket holds: key -> (bytes, ETag without quotes).
type Model = BTreeMap<String, (Vec<u8>, String)>;

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just(String::new()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("é".to_owned()),
        Just("日本".to_owned()),
        Just("x y+z%".to_owned()),
        Just("a.b".to_owned()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(segment(), 1..4)
            .prop_map(|segments| segments.join("/"))
            .prop_filter("keys are not empty", |k| !k.is_empty()),
        1 => Just(format!("long/{}", "k".repeat(1019))),
        1 => Just(format!("long/{}", "é".repeat(509))),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..64)
}

fn op(keys: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..keys, body()).prop_map(|(k, b)| Op::Put(k, b)),
        2 => (0..keys, prop::collection::vec(body(), 1..3)).prop_map(|(k, p)| Op::Multipart(k, p)),
        3 => (0..keys).prop_map(Op::Delete),
        3 => (0..keys).prop_map(Op::Get),
        3 => (0..keys + 3, any::<bool>(), 1..4i32, any::<bool>())
            .prop_map(|(prefix, delimiter, page, v1)| Op::List { prefix, delimiter, page, v1 }),
        1 => Just(Op::Restart),
    ]
}

fn case() -> impl Strategy<Value = (Vec<String>, Vec<Op>)> {
    prop::collection::vec(key(), 2..7).prop_flat_map(|keys| {
        let n = keys.len();
        (Just(keys), prop::collection::vec(op(n), 1..30))
    })
}

/// The prefix a listing uses: a key's leading part, or one of a few fixed ones.
fn prefix_of(keys: &[String], index: usize) -> String {
    match keys.get(index) {
        Some(key) => {
            let cut = key
                .char_indices()
                .nth(key.chars().count() / 2)
                .map_or(0, |(i, _)| i);
            key[..cut].to_owned()
        }
        None => ["", "a/", "long/"][index - keys.len()].to_owned(),
    }
}

/// What S3 lists for `prefix` and `delimiter`: keys, and common prefixes in their place.
fn model_listing(model: &Model, prefix: &str, delimiter: Option<&str>) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    for key in model.keys().filter(|k| k.starts_with(prefix)) {
        let rest = &key[prefix.len()..];
        let entry = match delimiter.and_then(|d| rest.find(d).map(|i| (i, d))) {
            Some((i, d)) => format!("P:{}", &key[..prefix.len() + i + d.len()]),
            None => format!("K:{key}"),
        };
        if entries.last() != Some(&entry) {
            entries.push(entry);
        }
    }
    entries
}

struct Harness {
    root: tempfile::TempDir,
    s3: Option<RunningS3>,
    client: Client,
}

impl Harness {
    async fn start() -> Harness {
        let root = tempfile::tempdir().unwrap();
        let s3 = LocalS3::builder()
            .root(root.path())
            .bucket(BUCKET)
            .start()
            .await
            .unwrap();
        let client = s3.client();
        Harness {
            root,
            s3: Some(s3),
            client,
        }
    }

    async fn restart(&mut self) {
        if let Some(s3) = self.s3.take() {
            s3.shutdown().await;
        }
        let s3 = LocalS3::builder()
            .root(self.root.path())
            .bucket(BUCKET)
            .start()
            .await
            .unwrap();
        self.client = s3.client();
        self.s3 = Some(s3);
    }

    async fn get(&self, key: &str) -> Option<(Vec<u8>, String)> {
        match self
            .client
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
        {
            Ok(output) => {
                let etag = output.e_tag.clone().unwrap().trim_matches('"').to_owned();
                Some((collect(output.body).await, etag))
            }
            Err(error) => {
                assert_eq!(
                    code_and_status(&error),
                    (Some("NoSuchKey".to_owned()), 404),
                    "GET {key:?}"
                );
                None
            }
        }
    }

    /// Every page of a listing, as entries `K:key` / `P:prefix`, checking page sizes.
    async fn list(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        page: i32,
        v1: bool,
    ) -> Vec<String> {
        let mut entries = Vec::new();
        let mut token: Option<String> = None;
        let mut marker: Option<String> = None;
        for _ in 0..1000 {
            let (keys, prefixes, truncated, next) = if v1 {
                let output = self
                    .client
                    .list_objects()
                    .bucket(BUCKET)
                    .prefix(prefix)
                    .set_delimiter(delimiter.map(str::to_owned))
                    .max_keys(page)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .unwrap();
                let keys: Vec<String> = output
                    .contents()
                    .iter()
                    .map(|o| o.key().unwrap().to_owned())
                    .collect();
                let prefixes: Vec<String> = output
                    .common_prefixes()
                    .iter()
                    .map(|p| p.prefix().unwrap().to_owned())
                    .collect();
                // Without a delimiter there is no NextMarker: the last key is the marker.
                let next = output
                    .next_marker()
                    .map(str::to_owned)
                    .or_else(|| keys.last().cloned());
                (keys, prefixes, output.is_truncated().unwrap_or(false), next)
            } else {
                let output = self
                    .client
                    .list_objects_v2()
                    .bucket(BUCKET)
                    .prefix(prefix)
                    .set_delimiter(delimiter.map(str::to_owned))
                    .max_keys(page)
                    .set_continuation_token(token.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    output.key_count(),
                    Some(
                        i32::try_from(output.contents().len() + output.common_prefixes().len())
                            .unwrap()
                    )
                );
                let keys: Vec<String> = output
                    .contents()
                    .iter()
                    .map(|o| o.key().unwrap().to_owned())
                    .collect();
                let prefixes: Vec<String> = output
                    .common_prefixes()
                    .iter()
                    .map(|p| p.prefix().unwrap().to_owned())
                    .collect();
                let next = output.next_continuation_token().map(str::to_owned);
                (keys, prefixes, output.is_truncated().unwrap_or(false), next)
            };
            // Within a page, keys and prefixes interleave in key order.
            let mut merged: Vec<String> = keys
                .iter()
                .map(|k| format!("K:{k}"))
                .chain(prefixes.iter().map(|p| format!("P:{p}")))
                .collect();
            merged.sort_by(|a, b| a[2..].cmp(&b[2..]));
            let count = merged.len();
            entries.extend(merged);
            if truncated {
                assert_eq!(
                    count,
                    usize::try_from(page).unwrap(),
                    "a truncated page is full"
                );
                if v1 {
                    marker = next;
                } else {
                    token = next;
                }
                assert!(marker.is_some() || token.is_some());
            } else {
                assert!(count <= usize::try_from(page).unwrap());
                return entries;
            }
        }
        panic!("the listing never ended");
    }

    async fn multipart(&self, key: &str, parts: &[Vec<u8>]) -> Result<String, String> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        let upload_id = created.upload_id().unwrap();
        let mut completed = Vec::new();
        for (number, part) in (1..).zip(parts) {
            let uploaded = self
                .client
                .upload_part()
                .bucket(BUCKET)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(part.clone()))
                .send()
                .await
                .unwrap();
            completed.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(uploaded.e_tag)
                    .build(),
            );
        }
        let result = self
            .client
            .complete_multipart_upload()
            .bucket(BUCKET)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.e_tag.unwrap().trim_matches('"').to_owned()),
            Err(error) => {
                let code = code_and_status(&error).0.unwrap_or_default();
                self.client
                    .abort_multipart_upload()
                    .bucket(BUCKET)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await
                    .unwrap();
                Err(code)
            }
        }
    }

    /// Every key's object and a few listings agree with the model.
    async fn check_all(&self, keys: &[String], model: &Model) {
        for key in keys {
            assert_eq!(self.get(key).await, model.get(key).cloned(), "GET {key:?}");
        }
        let all: Vec<String> = model.keys().map(|k| format!("K:{k}")).collect();
        assert_eq!(self.list("", None, 1000, false).await, all);
        assert_eq!(
            self.list("", Some("/"), 2, false).await,
            model_listing(model, "", Some("/"))
        );
    }
}

async fn run_case(keys: Vec<String>, ops: Vec<Op>) {
    let mut harness = Harness::start().await;
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Put(k, body) => {
                let key = &keys[k];
                let output = harness
                    .client
                    .put_object()
                    .bucket(BUCKET)
                    .key(key)
                    .body(ByteStream::from(body.clone()))
                    .send()
                    .await
                    .unwrap();
                let etag = hex(&md5(&body));
                assert_eq!(
                    output.e_tag.as_deref(),
                    Some(format!("\"{etag}\"").as_str())
                );
                model.insert(key.clone(), (body, etag));
            }
            Op::Multipart(k, parts) => {
                let key = &keys[k];
                let result = harness.multipart(key, &parts).await;
                if parts.len() > 1 {
                    // Every part but the last below 5 MiB: refused, nothing changes.
                    assert_eq!(result, Err("EntityTooSmall".to_owned()));
                } else {
                    let digests: Vec<u8> = parts.iter().flat_map(|p| md5(p)).collect();
                    let etag = format!("{}-{}", hex(&md5(&digests)), parts.len());
                    assert_eq!(result, Ok(etag.clone()));
                    model.insert(key.clone(), (parts.concat(), etag));
                }
            }
            Op::Delete(k) => {
                harness
                    .client
                    .delete_object()
                    .bucket(BUCKET)
                    .key(&keys[k])
                    .send()
                    .await
                    .unwrap();
                model.remove(&keys[k]);
            }
            Op::Get(k) => {
                assert_eq!(
                    harness.get(&keys[k]).await,
                    model.get(&keys[k]).cloned(),
                    "GET {:?}",
                    keys[k]
                );
            }
            Op::List {
                prefix,
                delimiter,
                page,
                v1,
            } => {
                let prefix = prefix_of(&keys, prefix);
                let delimiter = delimiter.then_some("/");
                assert_eq!(
                    harness.list(&prefix, delimiter, page, v1).await,
                    model_listing(&model, &prefix, delimiter),
                    "LIST prefix {prefix:?} delimiter {delimiter:?} page {page} v1 {v1}"
                );
            }
            Op::Restart => harness.restart().await,
        }
    }
    harness.check_all(&keys, &model).await;
    harness.restart().await;
    harness.check_all(&keys, &model).await;
    if let Some(s3) = harness.s3.take() {
        s3.shutdown().await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_store_answers_as_the_model_before_and_after_restarts((keys, ops) in case()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run_case(keys, ops));
    }
}
