//! The S3 requests the processors make, each pinned to the version of the job's object.

use std::collections::HashMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

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
pub(crate) enum WriteCondition {
    /// Only if no object has the key (`If-None-Match: *`).
    Absent,
    /// Only if the object still has this etag (`If-Match`).
    Unchanged(String),
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Written {
    /// The object was written.
    Yes,
    /// Someone else wrote the key since we looked.
    ConditionFailed,
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
        let path_style = std::env::var(shared::job::env::S3_PATH_STYLE)
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

    /// HEADs the job's object.
    pub(crate) async fn head_source(
        &self,
        bucket: &str,
        key: &str,
        pin: &Pin,
    ) -> Result<ObjectHead, JobError> {
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

    /// GETs the job's object, or the byte range `first..=last` of it.
    pub(crate) async fn get_source(
        &self,
        bucket: &str,
        key: &str,
        pin: &Pin,
        range: Option<(u64, u64)>,
    ) -> Result<ByteStream, JobError> {
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
        Ok(output.body)
    }

    /// HEADs an output; `None` when there is none.
    pub(crate) async fn head_output(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectHead>, JobError> {
        match self.head_source(bucket, key, &Pin::Latest).await {
            Ok(head) => Ok(Some(head)),
            // Read as a source, a missing output is SourceMissing: here it is just absent.
            Err(error) if error.name() == shared::ErrorName::SourceMissing => Ok(None),
            Err(error) => Err(JobError::new(shared::ErrorName::Storage, error.message())),
        }
    }

    /// PUTs an output in one request, if `condition` holds.
    pub(crate) async fn put_output(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        metadata: &[(&str, String)],
        condition: WriteCondition,
    ) -> Result<Written, JobError> {
        let mut request = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        for (name, value) in metadata {
            request = request.metadata(*name, value);
        }
        request = match &condition {
            WriteCondition::Absent => request.if_none_match("*"),
            WriteCondition::Unchanged(etag) => request.if_match(quote(etag)),
        };
        match request.send().await {
            Ok(_) => Ok(Written::Yes),
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
