//! The S3 requests a job makes, behind [`ObjectStore`]: reads pinned to the version of the
//! job's object, conditional writes, multipart uploads.

use std::collections::HashMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::error::{JobError, Request, classify};

/// Which bytes of a key a read must see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// This version (in a versioned bucket): other versions are never read.
    Version(String),
    /// Whatever version has this etag (`If-Match` on every request).
    ETag(String),
    /// The current version, whatever it is (only for manual runs without an etag).
    Latest,
}

impl Pin {
    /// The pin of a job: its version id if any, else its etag.
    pub fn of(job: &shared::Job) -> Pin {
        match (&job.object.version_id, &job.object.etag) {
            (Some(version), _) => Pin::Version(version.clone()),
            (None, Some(etag)) => Pin::ETag(unquote(etag).to_owned()),
            (None, None) => Pin::Latest,
        }
    }
}

/// What a HEAD request says about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    /// Size in bytes.
    pub size: u64,
    /// Entity tag, without quotes.
    pub etag: Option<String>,
    /// Version id, in a versioned bucket.
    pub version_id: Option<String>,
    /// User metadata (`x-amz-meta-*`), keys in lower case.
    pub metadata: HashMap<String, String>,
}

/// When a write may happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Always (an output whose bytes a rerun writes again identically).
    Always,
    /// Only if no object has the key (`If-None-Match: *`).
    Absent,
    /// Only if the object still has this etag (`If-Match`).
    Unchanged(String),
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// The object was written; its etag, without quotes.
    Yes(String),
    /// Someone else wrote the key since we looked.
    ConditionFailed,
}

/// A part of a multipart upload, as `CompleteMultipartUpload` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// Its number, from 1.
    pub number: u32,
    /// The etag its upload returned, without quotes.
    pub etag: String,
}

/// The body of a GET: its bytes in chunks, as they arrive.
pub type ByteChunks = BoxStream<'static, Result<Bytes, JobError>>;

/// The requests a job makes, so that [`run_job`](crate::run_job) runs against S3
/// ([`S3Store`]) or a model of it (the unit tests' in-memory store, which fails any call on
/// demand).
///
/// Failures are named as a job's are: a source that vanished is `SourceMissing`, one that
/// changed `SourceChanged`, anything else `Storage` (transient failures were retried before).
pub trait ObjectStore: Clone + Send + Sync + 'static {
    /// HEADs an object, pinned to the version or etag of `pin`.
    fn head(
        &self,
        bucket: &str,
        key: &str,
        pin: &Pin,
    ) -> impl Future<Output = Result<ObjectHead, JobError>> + Send;

    /// GETs an object, or the byte range `first..=last` of it, pinned as `pin` says.
    fn get(
        &self,
        bucket: &str,
        key: &str,
        pin: &Pin,
        range: Option<(u64, u64)>,
    ) -> impl Future<Output = Result<ByteChunks, JobError>> + Send;

    /// PUTs an object in one request, if `condition` holds.
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        options: &PutOptions,
    ) -> impl Future<Output = Result<Written, JobError>> + Send;

    /// DELETEs the current version of an object (a delete marker in a versioned bucket); a
    /// missing object is no error.
    fn delete(&self, bucket: &str, key: &str) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Starts a multipart upload; returns its id.
    fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> impl Future<Output = Result<String, JobError>> + Send;

    /// Uploads part `number` (from 1) of an upload; returns its etag.
    fn upload_part(
        &self,
        upload: &Upload,
        number: u32,
        body: Bytes,
    ) -> impl Future<Output = Result<String, JobError>> + Send;

    /// Joins the parts into the object: it becomes visible now. Returns its etag.
    fn complete_multipart(
        &self,
        upload: &Upload,
        parts: &[CompletedPart],
    ) -> impl Future<Output = Result<String, JobError>> + Send;

    /// Abandons an upload and its parts.
    fn abort_multipart(&self, upload: &Upload)
    -> impl Future<Output = Result<(), JobError>> + Send;

    /// HEADs an output; `None` when there is none.
    fn head_output(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectHead>, JobError>> + Send {
        async move {
            match self.head(bucket, key, &Pin::Latest).await {
                Ok(head) => Ok(Some(head)),
                // Read as a source, a missing output is SourceMissing: here it is just absent.
                Err(error) if error.name() == shared::ErrorName::SourceMissing => Ok(None),
                Err(error) => Err(JobError::new(shared::ErrorName::Storage, error.message())),
            }
        }
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The bucket.
    pub bucket: String,
    /// The key the object will have.
    pub key: String,
    /// The id `CreateMultipartUpload` gave.
    pub id: String,
}

/// How to PUT an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOptions {
    /// Its `Content-Type`.
    pub content_type: String,
    /// Its user metadata (`x-amz-meta-*`).
    pub metadata: Vec<(String, String)>,
    /// When the write may happen.
    pub condition: WriteCondition,
}

/// An S3 client for the processors.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
}

impl S3Store {
    /// A store over a configured client.
    pub fn new(client: Client) -> S3Store {
        S3Store { client }
    }

    /// A store configured from the environment, as AWS SDKs are: credentials, region, and
    /// `AWS_ENDPOINT_URL` for another S3 endpoint (with `PIPELINE_S3_PATH_STYLE=true` when it
    /// cannot take bucket names in the host, as an endpoint on loopback).
    ///
    /// HTTPS trusts the root certificates compiled into the binary ([`crate::https_client`]),
    /// not the system's: nothing on disk is needed, as in a `FROM scratch` image.
    pub async fn from_environment() -> S3Store {
        let shared_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::tls::https_client())
            .timeout_config(timeouts())
            .load()
            .await;
        let path_style = std::env::var(shared::env::S3_PATH_STYLE)
            .is_ok_and(|value| value.eq_ignore_ascii_case("true") || value == "1");
        let config = aws_sdk_s3::config::Builder::from(&shared_config)
            .force_path_style(path_style)
            .build();
        S3Store::new(Client::from_conf(config))
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl ObjectStore for S3Store {
    async fn head(&self, bucket: &str, key: &str, pin: &Pin) -> Result<ObjectHead, JobError> {
        let mut request = self.client.head_object().bucket(bucket).key(key);
        request = match pin {
            Pin::Version(version) => request.version_id(version),
            Pin::ETag(etag) => request.if_match(quote(etag)),
            Pin::Latest => request,
        };
        let output = request
            .send()
            .await
            .map_err(|e| classify(&e, Request::Source, &format!("HEAD s3://{bucket}/{key}")))?;
        Ok(ObjectHead {
            size: output
                .content_length()
                .and_then(|size| u64::try_from(size).ok())
                .unwrap_or(0),
            etag: output.e_tag().map(|etag| unquote(etag).to_owned()),
            version_id: output.version_id().map(str::to_owned),
            metadata: output.metadata().cloned().unwrap_or_default(),
        })
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        pin: &Pin,
        range: Option<(u64, u64)>,
    ) -> Result<ByteChunks, JobError> {
        let mut request = self.client.get_object().bucket(bucket).key(key);
        request = match pin {
            Pin::Version(version) => request.version_id(version),
            Pin::ETag(etag) => request.if_match(quote(etag)),
            Pin::Latest => request,
        };
        if let Some((first, last)) = range {
            request = request.range(format!("bytes={first}-{last}"));
        }
        let what = match range {
            Some((first, last)) => format!("GET s3://{bucket}/{key} bytes {first}-{last}"),
            None => format!("GET s3://{bucket}/{key}"),
        };
        let output = request
            .send()
            .await
            .map_err(|e| classify(&e, Request::Source, &what))?;
        let chunks = futures::stream::unfold(Some(output.body), |body| async move {
            let mut body = body?;
            match body.try_next().await {
                Ok(Some(bytes)) => Some((Ok(bytes), Some(body))),
                Ok(None) => None,
                Err(e) => Some((
                    Err(JobError::new(
                        shared::ErrorName::Storage,
                        format!("reading s3 body: {e}"),
                    )),
                    None,
                )),
            }
        });
        Ok(chunks.boxed())
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        options: &PutOptions,
    ) -> Result<Written, JobError> {
        let mut request = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(&options.content_type)
            .body(ByteStream::from(body));
        for (name, value) in &options.metadata {
            request = request.metadata(name, value);
        }
        request = match &options.condition {
            WriteCondition::Always => request,
            WriteCondition::Absent => request.if_none_match("*"),
            WriteCondition::Unchanged(etag) => request.if_match(quote(etag)),
        };
        match request.send().await {
            Ok(output) => Ok(Written::Yes(
                output.e_tag().map(unquote).unwrap_or_default().to_owned(),
            )),
            Err(error) if error.raw_response().map(|r| r.status().as_u16()) == Some(412) => {
                Ok(Written::ConditionFailed)
            }
            Err(error) => Err(classify(
                &error,
                Request::Output,
                &format!("PUT s3://{bucket}/{key}"),
            )),
        }
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), JobError> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(&e, Request::Output, &format!("DELETE s3://{bucket}/{key}")))?;
        Ok(())
    }

    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> Result<String, JobError> {
        let what = || format!("CreateMultipartUpload s3://{bucket}/{key}");
        let output = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| classify(&e, Request::Output, &what()))?;
        output.upload_id().map(str::to_owned).ok_or_else(|| {
            JobError::new(
                shared::ErrorName::Storage,
                format!("{}: no upload id", what()),
            )
        })
    }

    async fn upload_part(
        &self,
        upload: &Upload,
        number: u32,
        body: Bytes,
    ) -> Result<String, JobError> {
        let Upload { bucket, key, id } = upload;
        let what = || format!("UploadPart {number} s3://{bucket}/{key}");
        let output = self
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(i32::try_from(number).unwrap_or(i32::MAX))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify(&e, Request::Output, &what()))?;
        output
            .e_tag()
            .map(|etag| unquote(etag).to_owned())
            .ok_or_else(|| {
                JobError::new(shared::ErrorName::Storage, format!("{}: no etag", what()))
            })
    }

    async fn complete_multipart(
        &self,
        upload: &Upload,
        parts: &[CompletedPart],
    ) -> Result<String, JobError> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart as Part};
        let Upload { bucket, key, id } = upload;
        let parts = parts
            .iter()
            .map(|part| {
                Part::builder()
                    .part_number(i32::try_from(part.number).unwrap_or(i32::MAX))
                    .e_tag(quote(&part.etag))
                    .build()
            })
            .collect();
        let output = self
            .client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                classify(
                    &e,
                    Request::Output,
                    &format!("CompleteMultipartUpload s3://{bucket}/{key}"),
                )
            })?;
        Ok(output.e_tag().map(unquote).unwrap_or_default().to_owned())
    }

    async fn abort_multipart(&self, upload: &Upload) -> Result<(), JobError> {
        let Upload { bucket, key, id } = upload;
        self.client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .send()
            .await
            .map_err(|e| {
                classify(
                    &e,
                    Request::Output,
                    &format!("AbortMultipartUpload s3://{bucket}/{key}"),
                )
            })?;
        Ok(())
    }
}

/// Timeouts, so a stalled connection fails (and is retried) instead of hanging the job: the
/// SDK sets none by default. An attempt covers one request and its whole body (at most an 8 MiB
/// part, or a Lambda object up to 6 MiB): a minute is generous.
fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .read_timeout(std::time::Duration::from_secs(20))
        .operation_attempt_timeout(std::time::Duration::from_mins(1))
        .build()
}

/// An etag without its quotes.
pub(crate) fn unquote(etag: &str) -> &str {
    etag.trim_matches('"')
}

fn quote(etag: &str) -> String {
    format!("\"{}\"", unquote(etag))
}
