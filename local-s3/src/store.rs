//! [`LocalStore`]: the `s3s::S3` implementation served by the local endpoint, over the crate's
//! own [`ObjectStore`] (see the crate docs), with fault injection, read preconditions,
//! object-created notifications, and a log line for every failed request.

use std::io::{Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, HeaderValue};
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, Bucket, BucketLocationConstraint,
    BucketVersioningStatus, CommonPrefix, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CopyObjectInput, CopyObjectOutput, CopyObjectResult,
    CopyPartResult, CopySource, CreateBucketInput, CreateBucketOutput, CreateMultipartUploadInput,
    CreateMultipartUploadOutput, DeleteBucketInput, DeleteBucketOutput, DeleteMarkerEntry,
    DeleteObjectInput, DeleteObjectOutput, DeleteObjectsInput, DeleteObjectsOutput, DeletedObject,
    ETag, ETagCondition, GetBucketLocationInput, GetBucketLocationOutput, GetBucketVersioningInput,
    GetBucketVersioningOutput, GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput,
    HeadObjectInput, HeadObjectOutput, ListBucketsInput, ListBucketsOutput,
    ListObjectVersionsInput, ListObjectVersionsOutput, ListObjectsInput, ListObjectsOutput,
    ListObjectsV2Input, ListObjectsV2Output, ListPartsInput, ListPartsOutput, MetadataDirective,
    Object, ObjectStorageClass, ObjectVersion, ObjectVersionStorageClass, Part,
    PutBucketVersioningInput, PutBucketVersioningOutput, PutObjectInput, PutObjectOutput, Range,
    StreamingBlob, Timestamp, UploadPartCopyInput, UploadPartCopyOutput, UploadPartInput,
    UploadPartOutput,
};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use tokio::sync::broadcast;

use crate::conditions::ReadConditions;
use crate::error::Error;
use crate::events::{CreationReason, Notifier, ObjectCreated};
use crate::faults::{Fault, Faults, Operation};
use crate::file_body;
use crate::listing;
use crate::objects::{
    Attributes, BucketRecord, Checksums, ListEntry, ListQuery, MAX_KEY_BYTES, MAX_PUT_BYTES,
    NewObject, ObjectStore, StoreError, Version, VersionEntry, Versioning, WriteCondition,
    position_of, token_of,
};
use crate::receive::{Expected, receive};

/// The region S3 reports as no location constraint.
const UNCONSTRAINED_REGION: &str = "us-east-1";
/// Listings return at most this many entries a page (S3's 1,000).
const MAX_LIST: usize = 1000;
/// The largest part number.
const MAX_PART_NUMBER: i32 = 10_000;

/// The S3 implementation behind [`RunningS3`](crate::RunningS3): the crate's object store, plus
/// fault injection, read preconditions and object-created notifications.
///
/// Use it directly to serve it your own way (`s3s::service::S3ServiceBuilder::new(store)`);
/// take the [`faults`](Self::faults) handle and a [`subscribe`](Self::subscribe) receiver
/// before handing it over.
#[derive(Debug)]
pub struct LocalStore {
    objects: Arc<ObjectStore>,
    region: String,
    faults: Faults,
    notifier: Arc<Notifier>,
}

impl LocalStore {
    /// A store keeping its data in `root` (created if missing; see the crate docs for the
    /// layout), reporting `region` as the buckets' location. Refuses a folder of another
    /// format, or one an older local-s3 (s3s-fs) filled.
    pub fn new(root: impl AsRef<Path>, region: impl Into<String>) -> Result<Self, Error> {
        let root = root.as_ref();
        std::fs::create_dir_all(root).map_err(|source| Error::Root {
            path: root.to_owned(),
            source,
        })?;
        let root = root.canonicalize().map_err(|source| Error::Root {
            path: root.to_owned(),
            source,
        })?;
        let objects = Arc::new(ObjectStore::open(&root)?);
        if objects.recovered_from_crash() {
            // In the background: the server answers at once; the blobs it removes are
            // unreferenced ones of earlier runs only.
            let collector = Arc::clone(&objects);
            std::thread::spawn(move || match collector.collect_garbage() {
                Ok(removed) => tracing::info!(
                    removed,
                    "the last server did not stop cleanly: removed the blobs its interrupted writes left"
                ),
                Err(error) => tracing::warn!(%error, "cannot collect stray blobs"),
            });
        }
        Ok(Self {
            objects,
            region: region.into(),
            faults: Faults::default(),
            notifier: Arc::new(Notifier::new()),
        })
    }

    /// The data folder (absolute).
    pub fn root(&self) -> &Path {
        self.objects.root()
    }

    /// The region the buckets report.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The fault-injection handle (shared: rules added through any clone apply).
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// A receiver of the [`ObjectCreated`] notifications published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ObjectCreated> {
        self.notifier.subscribe()
    }

    pub(crate) fn notifier(&self) -> Arc<Notifier> {
        Arc::clone(&self.notifier)
    }

    /// Creates the bucket unless it exists (no fault injection, not counted); with
    /// `versioned`, versioning is enabled on it (also if it existed).
    pub async fn ensure_bucket(&self, bucket: &str, versioned: bool) -> Result<(), Error> {
        if !s3s::path::check_bucket_name(bucket) {
            return Err(Error::InvalidBucketName(bucket.to_owned()));
        }
        let versioning = if versioned {
            Versioning::Enabled
        } else {
            Versioning::Disabled
        };
        let objects = Arc::clone(&self.objects);
        let name = bucket.to_owned();
        blocking(move || objects.create_bucket(&name, versioning))
            .await
            .map(drop)
            .map_err(|error| Error::CreateBucket {
                bucket: bucket.to_owned(),
                message: error.to_string(),
            })
    }

    /// Counts the request and applies the fault injected for it, if any.
    async fn admit(
        &self,
        operation: Operation,
        bucket: Option<&str>,
        key: Option<&str>,
    ) -> S3Result<()> {
        let Some(fault) = self.faults.on_request(operation, bucket, key) else {
            return Ok(());
        };
        tracing::debug!(%operation, ?fault, bucket, key, "injecting a fault");
        match fault.to_s3_error(operation) {
            Some(error) => Err(error),
            None => {
                if let Fault::Delay(delay) = fault {
                    tokio::time::sleep(delay).await;
                }
                Ok(())
            }
        }
    }

    /// Publishes an [`ObjectCreated`] for a version just committed.
    fn announce(&self, bucket: &str, key: &str, version: &Version, reason: CreationReason) {
        let time = SystemTime::now();
        let sequencer = self.notifier.next_sequencer(time);
        self.notifier.publish(ObjectCreated {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: version.size,
            etag: version.etag.clone(),
            version_id: version.version_id.clone(),
            sequencer,
            reason,
            time,
        });
    }

    /// Looks up the version a read names, then opens its bytes; a concurrent overwrite may
    /// release a blob between the two, so the lookup is tried again then.
    fn open(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> S3Result<(BucketRecord, Version, Option<std::fs::File>)> {
        for _ in 0..5 {
            let (record, found) = self
                .objects
                .head(bucket, key, version)
                .map_err(store_error)?;
            match self.objects.open_blob(&found) {
                Ok(file) => return Ok((record, found, file)),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(internal("cannot open the object", &error)),
            }
        }
        Err(S3Error::with_message(
            S3ErrorCode::SlowDown,
            "the object keeps changing under the read; try again",
        ))
    }
}

/// Runs a store call that fsyncs on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) => Err(StoreError::Io {
            context: "the store's worker thread failed".to_owned(),
            source: std::io::Error::other(error.to_string()),
        }),
    }
}

fn internal(context: &str, error: &dyn std::fmt::Display) -> S3Error {
    S3Error::with_message(S3ErrorCode::InternalError, format!("{context}: {error}"))
}

/// The S3 error a store error answers with.
#[allow(
    clippy::needless_pass_by_value,
    reason = "used as `map_err(store_error)`"
)]
fn store_error(error: StoreError) -> S3Error {
    let message = error.to_string();
    let code = match &error {
        StoreError::NoSuchBucket(_) => S3ErrorCode::NoSuchBucket,
        StoreError::BucketNotEmpty(_) => S3ErrorCode::BucketNotEmpty,
        StoreError::NoSuchKey(_) => S3ErrorCode::NoSuchKey,
        StoreError::NoSuchVersion { .. } => S3ErrorCode::NoSuchVersion,
        StoreError::DeleteMarker(_) => {
            let mut error = S3Error::with_message(S3ErrorCode::MethodNotAllowed, message);
            let mut headers = HeaderMap::new();
            headers.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
            error.set_headers(headers);
            return error;
        }
        StoreError::PreconditionFailed(_) => S3ErrorCode::PreconditionFailed,
        StoreError::NoSuchUpload(_) => S3ErrorCode::NoSuchUpload,
        StoreError::InvalidPart(_) => S3ErrorCode::InvalidPart,
        StoreError::InvalidPartOrder => S3ErrorCode::InvalidPartOrder,
        StoreError::EntityTooSmall { .. } => S3ErrorCode::EntityTooSmall,
        StoreError::Io { .. } | StoreError::Db(_) | StoreError::Record(_) => {
            S3ErrorCode::InternalError
        }
    };
    S3Error::with_message(code, message)
}

/// Logs a failed request: 5xx as errors, refusals a client should notice (digests,
/// preconditions, sizes...) as warnings, and the everyday 404/304 at debug level.
fn logged<T>(
    operation: Operation,
    bucket: Option<&str>,
    key: Option<&str>,
    result: S3Result<T>,
) -> S3Result<T> {
    if let Err(error) = &result {
        let status = error.status_code().map_or(500, |s| s.as_u16());
        let code = error.code().as_str();
        let message = error.message().unwrap_or("");
        if status >= 500 {
            tracing::error!(%operation, bucket, key, status, code, message, "request failed");
        } else if matches!(status, 304 | 404) {
            tracing::debug!(%operation, bucket, key, status, code, message, "request failed");
        } else {
            tracing::warn!(%operation, bucket, key, status, code, message, "request refused");
        }
    }
    result
}

fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "An object key must not be empty.",
        ));
    }
    if key.contains('\0') {
        // XML cannot carry it: no listing could name such a key.
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "An object key must not contain U+0000.",
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::with_message(
            S3ErrorCode::KeyTooLongError,
            "Your key is too long (at most 1,024 bytes of UTF-8).",
        ));
    }
    Ok(())
}

fn version_arg(version_id: Option<&String>) -> Option<&str> {
    version_id.map(String::as_str).filter(|v| !v.is_empty())
}

/// The version id a response carries: none for a bucket that never had versioning.
fn shown_version(record: &BucketRecord, version: &Version) -> Option<String> {
    (record.versioning != Versioning::Disabled).then(|| version.id().to_owned())
}

fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<WriteCondition> {
    match (if_match, if_none_match) {
        (Some(ETagCondition::Any), _) => Ok(WriteCondition::Exists),
        (Some(ETagCondition::ETag(etag)), _) => Ok(WriteCondition::ETag(etag.value().to_owned())),
        (None, Some(ETagCondition::Any)) => Ok(WriteCondition::Absent),
        (None, Some(ETagCondition::ETag(_))) => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "If-None-Match on a write supports only '*'.",
        )),
        (None, None) => Ok(WriteCondition::None),
    }
}

fn check_read(conditions: &ReadConditions, version: &Version) -> S3Result<()> {
    let etag = ETag::Strong(version.etag.clone());
    let modified = Timestamp::from(version.last_modified);
    match conditions
        .evaluate(&etag, &modified)
        .into_error(&etag, &modified)
    {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn timestamp(time: SystemTime) -> Timestamp {
    Timestamp::from(time)
}

fn attributes_of(
    content_type: Option<&s3s::dto::ContentType>,
    content_encoding: Option<&String>,
    content_disposition: Option<&String>,
    content_language: Option<&String>,
    cache_control: Option<&String>,
    metadata: Option<&s3s::dto::Metadata>,
) -> Attributes {
    Attributes {
        content_type: content_type.map(ToString::to_string),
        content_encoding: content_encoding.cloned(),
        content_disposition: content_disposition.cloned(),
        content_language: content_language.cloned(),
        cache_control: cache_control.cloned(),
        metadata: metadata
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    }
}

fn metadata_of(attributes: &Attributes) -> Option<s3s::dto::Metadata> {
    (!attributes.metadata.is_empty()).then(|| {
        attributes
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

fn content_type_of(attributes: &Attributes) -> Option<s3s::dto::ContentType> {
    attributes
        .content_type
        .as_deref()
        .and_then(|t| t.parse().ok())
}

fn checksums_wanted(mode: Option<&s3s::dto::ChecksumMode>, version: &Version) -> Checksums {
    if mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED")) {
        version.checksums.clone()
    } else {
        Checksums::default()
    }
}

/// The byte range `first..end` a Range header selects, or 416.
fn select(range: Option<&Range>, size: u64) -> S3Result<Option<std::ops::Range<u64>>> {
    let Some(range) = range else {
        return Ok(None);
    };
    range.check(size).map(Some).map_err(|_| {
        S3Error::with_message(
            S3ErrorCode::InvalidRange,
            "The requested range is not satisfiable",
        )
    })
}

fn max_keys(max: Option<i32>) -> S3Result<usize> {
    match max {
        None => Ok(MAX_LIST),
        Some(n) if n < 0 => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "max-keys must be at least 0",
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(MAX_LIST).min(MAX_LIST)),
    }
}

fn listed(entries: Vec<ListEntry>) -> (Vec<Object>, Vec<CommonPrefix>) {
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    for entry in entries {
        match entry {
            ListEntry::Object(key, version) => objects.push(Object {
                key: Some(key),
                size: Some(i64::try_from(version.size).unwrap_or(i64::MAX)),
                e_tag: Some(ETag::Strong(version.etag)),
                last_modified: Some(timestamp(version.last_modified)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Object::default()
            }),
            ListEntry::Prefix(prefix) => prefixes.push(CommonPrefix {
                prefix: Some(prefix),
            }),
        }
    }
    (objects, prefixes)
}

#[async_trait::async_trait]
impl S3 for LocalStore {
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = &req.input;
        let (bucket, key) = (input.bucket.as_str(), input.key.as_str());
        let op = Operation::AbortMultipartUpload;
        let result = async {
            self.admit(op, Some(bucket), Some(key)).await?;
            let objects = Arc::clone(&self.objects);
            let (b, k, u) = (bucket.to_owned(), key.to_owned(), input.upload_id.clone());
            blocking(move || objects.abort_upload(&u, &b, &k))
                .await
                .map_err(store_error)?;
            Ok(S3Response::new(AbortMultipartUploadOutput::default()))
        }
        .await;
        logged(op, Some(bucket), Some(key), result)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = &req.input;
        let (bucket, key) = (input.bucket.as_str(), input.key.as_str());
        let op = Operation::CompleteMultipartUpload;
        let result = async {
            self.admit(op, Some(bucket), Some(key)).await?;
            let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
            let mut requested = Vec::new();
            for part in input
                .multipart_upload
                .as_ref()
                .and_then(|m| m.parts.as_ref())
                .into_iter()
                .flatten()
            {
                let number = part
                    .part_number
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        S3Error::with_message(S3ErrorCode::InvalidPart, "a part has no number")
                    })?;
                requested.push((number, part.e_tag.as_ref().map(|e| e.value().to_owned())));
            }
            let objects = Arc::clone(&self.objects);
            let (b, k, u) = (bucket.to_owned(), key.to_owned(), input.upload_id.clone());
            let (record, version) =
                blocking(move || objects.complete_upload(&u, &b, &k, &requested, &condition))
                    .await
                    .map_err(store_error)?;
            self.announce(
                bucket,
                key,
                &version,
                CreationReason::CompleteMultipartUpload,
            );
            Ok(S3Response::new(CompleteMultipartUploadOutput {
                bucket: Some(bucket.to_owned()),
                key: Some(key.to_owned()),
                e_tag: Some(ETag::Strong(version.etag.clone())),
                version_id: shown_version(&record, &version),
                ..CompleteMultipartUploadOutput::default()
            }))
        }
        .await;
        logged(op, Some(bucket), Some(key), result)
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = &req.input;
        let (bucket, key) = (input.bucket.as_str(), input.key.as_str());
        let op = Operation::CopyObject;
        let result = async {
            self.admit(op, Some(bucket), Some(key)).await?;
            check_key(key)?;
            let CopySource::Bucket {
                bucket: source_bucket,
                key: source_key,
                version_id: source_version,
            } = &input.copy_source
            else {
                return Err(S3Error::with_message(
                    S3ErrorCode::NotImplemented,
                    "only bucket/key copy sources are supported",
                ));
            };
            let (source_record, source, file) =
                self.open(source_bucket, source_key, source_version.as_deref())?;
            let conditions = ReadConditions {
                if_match: input.copy_source_if_match.clone(),
                if_none_match: input.copy_source_if_none_match.clone(),
                if_modified_since: input.copy_source_if_modified_since.clone(),
                if_unmodified_since: input.copy_source_if_unmodified_since.clone(),
            };
            if !conditions.is_empty() {
                // Every copy-source condition that fails answers 412, 304 included.
                check_read(&conditions, &source).map_err(|_| {
                    S3Error::with_message(
                        S3ErrorCode::PreconditionFailed,
                        "At least one of the pre-conditions you specified did not hold",
                    )
                })?;
            }
            let replace = input
                .metadata_directive
                .as_ref()
                .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
            let attributes = if replace {
                attributes_of(
                    input.content_type.as_ref(),
                    input.content_encoding.as_ref(),
                    input.content_disposition.as_ref(),
                    input.content_language.as_ref(),
                    input.cache_control.as_ref(),
                    input.metadata.as_ref(),
                )
            } else {
                source.attributes.clone()
            };
            let object = NewObject {
                size: source.size,
                etag: source.etag.clone(),
                attributes,
                checksums: source.checksums.clone(),
            };
            let objects = Arc::clone(&self.objects);
            let (b, k) = (bucket.to_owned(), key.to_owned());
            let (record, version) = blocking(move || {
                let staged = match file {
                    Some(mut file) => {
                        let (staged, mut target) = objects.stage()?;
                        std::io::copy(&mut file, &mut target).map_err(|source| StoreError::Io {
                            context: "copying an object".to_owned(),
                            source,
                        })?;
                        Some(staged)
                    }
                    None => None,
                };
                objects.commit_object(&b, &k, staged, object, &WriteCondition::None)
            })
            .await
            .map_err(store_error)?;
            self.announce(bucket, key, &version, CreationReason::CopyObject);
            Ok(S3Response::new(CopyObjectOutput {
                copy_object_result: Some(CopyObjectResult {
                    e_tag: Some(ETag::Strong(version.etag.clone())),
                    last_modified: Some(timestamp(version.last_modified)),
                    ..CopyObjectResult::default()
                }),
                version_id: shown_version(&record, &version),
                copy_source_version_id: shown_version(&source_record, &source),
                ..CopyObjectOutput::default()
            }))
        }
        .await;
        logged(op, Some(bucket), Some(key), result)
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = req.input.bucket.as_str();
        let op = Operation::CreateBucket;
        let result = async {
            self.admit(op, Some(bucket), None).await?;
            if !s3s::path::check_bucket_name(bucket) {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidBucketName,
                    "The specified bucket is not valid.",
                ));
            }
            let objects = Arc::clone(&self.objects);
            let name = bucket.to_owned();
            let created = blocking(move || objects.create_bucket(&name, Versioning::Disabled))
                .await
                .map_err(store_error)?;
            if !created {
                // Every bucket here belongs to the one user.
                return Err(S3Error::with_message(
                    S3ErrorCode::BucketAlreadyOwnedByYou,
                    "Your previous request to create the named bucket succeeded and you already own it.",
                ));
            }
            Ok(S3Response::new(CreateBucketOutput {
                location: Some(format!("/{bucket}")),
            }))
        }
        .await;
        logged(op, Some(bucket), None, result)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = &req.input;
        let (bucket, key) = (input.bucket.as_str(), input.key.as_str());
        let op = Operation::CreateMultipartUpload;
        let result = async {
            self.admit(op, Some(bucket), Some(key)).await?;
            check_key(key)?;
            let attributes = attributes_of(
                input.content_type.as_ref(),
                input.content_encoding.as_ref(),
                input.content_disposition.as_ref(),
                input.content_language.as_ref(),
                input.cache_control.as_ref(),
                input.metadata.as_ref(),
            );
            let objects = Arc::clone(&self.objects);
            let (b, k) = (bucket.to_owned(), key.to_owned());
            let upload_id = blocking(move || objects.create_upload(&b, &k, attributes))
                .await
                .map_err(store_error)?;
            Ok(S3Response::new(CreateMultipartUploadOutput {
                bucket: Some(bucket.to_owned()),
                key: Some(key.to_owned()),
                upload_id: Some(upload_id),
                ..CreateMultipartUploadOutput::default()
            }))
        }
        .await;
        logged(op, Some(bucket), Some(key), result)
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let bucket = req.input.bucket.as_str();
        let op = Operation::DeleteBucket;
        let result = async {
            self.admit(op, Some(bucket), None).await?;
            let objects = Arc::clone(&self.objects);
            let name = bucket.to_owned();
            blocking(move || objects.delete_bucket(&name))
                .await
                .map_err(store_error)?;
            Ok(S3Response::new(DeleteBucketOutput::default()))
        }
        .await;
        logged(op, Some(bucket), None, result)
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = &req.input;
        let (bucket, key) = (input.bucket.as_str(), input.key.as_str());
        let op = Operation::DeleteObject;
        let result = async {
            self.admit(op, Some(bucket), Some(key)).await?;
            let objects = Arc::clone(&self.objects);
            let (b, k) = (bucket.to_owned(), key.to_owned());
            let version = version_arg(input.version_id.as_ref()).map(str::to_owned);
            let (_, deleted) = blocking(move || objects.delete_object(&b, &k, version.as_deref()))
                .await
                .map_err(store_error)?;
            Ok(S3Response::new(DeleteObjectOutput {
                delete_marker: deleted.delete_marker.then_some(true),
                version_id: deleted.version_id,
                ..DeleteObjectOutput::default()
            }))
        }
        .await;
        logged(op, Some(bucket), Some(key), result)
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = &req.input;
        let bucket = input.bucket.as_str();
        let op = Operation::DeleteObjects;
        let result = async {
            self.admit(op, Some(bucket), None).await?;
            let mut deleted = Vec::new();
            let mut errors = Vec::new();
            for object in &input.delete.objects {
                let objects = Arc::clone(&self.objects);
                let (b, k) = (bucket.to_owned(), object.key.clone());
                let version = version_arg(object.version_id.as_ref()).map(str::to_owned);
                match blocking(move || objects.delete_object(&b, &k, version.as_deref())).await {
                    Ok((_, gone)) => deleted.push(DeletedObject {
                        key: Some(object.key.clone()),
                        version_id: object.version_id.clone(),
                        delete_marker: gone.delete_marker.then_some(true),
                        delete_marker_version_id: gone
                            .delete_marker
                            .then_some(gone.version_id)
                            .flatten(),
                    }),
                    Err(StoreError::NoSuchBucket(name)) => {
                        return Err(store_error(StoreError::NoSuchBucket(name)));
                    }
                    Err(error) => {
                        let error = store_error(error);
                        errors.push(s3s::dto::Error {
                            key: Some(object.key.clone()),
                            version_id: object.version_id.clone(),
                            code: Some(error.code().as_str().to_owned()),
                            message: error.message().map(str::to_owned),
                        });
                    }
                }
            }
            let quiet = input.delete.quiet.unwrap_or(false);
            Ok(S3Response::new(DeleteObjectsOutput {
                deleted: (!quiet).then_some(deleted),
                errors: (!errors.is_empty()).then_some(errors),
                ..DeleteObjectsOutput::default()
            }))
        }
        .await;
        logged(op, Some(bucket), None, result)
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let bucket = req.input.bucket.as_str();
        let op = Operation::GetBucketLocation;
        let result = async {
            self.admit(op, Some(bucket), None).await?;
            if self.objects.bucket(bucket).map_err(store_error)?.is_none() {
                return Err(store_error(StoreError::NoSuchBucket(bucket.to_owned())));
            }
            // S3 reports us-east-1 as no constraint.
            let location_constraint = (self.region != UNCONSTRAINED_REGION)
                .then(|| BucketLocationConstraint::from(self.region.clone()));
            Ok(S3Response::new(GetBucketLocationOutput {
                location_constraint,
            }))
        }
        .await;
        logged(op, Some(bucket), None, result)
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let bucket = req.input.bucket.as_str();
        let op = Operation::GetBucketVersioning;
        let result = async {
            self.admit(op, Some(bucket), None).await?;
            let record = self
                .objects
                .bucket(bucket)
                .map_err(store_error)?
                .ok_or_else(|| store_error(StoreError::NoSuchBucket(bucket.to_owned())))?;
            let status = match record.versioning {
                Versioning::Disabled => None,
                Versioning::Enabled => Some(BucketVersioningStatus::ENABLED),
                Versioning::Suspended => Some(BucketVersioningStatus::SUSPENDED),
            };
            Ok(S3Response::new(GetBucketVersioningOutput {
                status: status.map(BucketVersioningStatus::from_static),
                ..GetBucketVersioningOutput::default()
            }))
        }
        .await;
        logged(op, Some(bucket), None, result)
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = &req.input;
        let (bucket, key) = (input.bucket.as_str(), input.key.as_str());
        let op = Operation::GetObject;
        let result = async {
            self.admit(op, Some(bucket), Some(key)).await?;
            let (record, version, file) =
                self.open(bucket, key, version_arg(input.version_id.as_ref()))?;
            // S3's order: the preconditions (412, 304), then the range (416).
            let conditions = ReadConditions {
                if_match: input.if_match.clone(),
                if_none_match: input.if_none_match.clone(),
                if_modified_since: input.if_modified_since.clone(),
                if_unmodified_since: input.if_unmodified_since.clone(),
            };
            check_read(&conditions, &version)?;
            let selected = select(input.range.as_ref(), version.size)?;
            let (first, length) = selected
                .as_ref()
                .map_or((0, version.size), |r| (r.start, r.end - r.start));
            let body = match file {
                Some(mut file) if length > 0 => {
                    file.seek(SeekFrom::Start(first))
                        .map_err(|e| internal("cannot read the object", &e))?;
                    StreamingBlob::wrap(file_body::chunks(file, length))
                }
                _ => StreamingBlob::from(s3s::Body::empty()),
            };
            let checksums = if selected.is_none() {
                checksums_wanted(input.checksum_mode.as_ref(), &version)
            } else {
                Checksums::default()
            };
            let attributes = &version.attributes;
            Ok(S3Response::new(GetObjectOutput {
                body: Some(body),
                content_length: Some(i64::try_from(length).unwrap_or(i64::MAX)),
                content_range: selected
                    .map(|r| format!("bytes {}-{}/{}", r.start, r.end - 1, version.size)),
                accept_ranges: Some("bytes".to_owned()),
                e_tag: Some(ETag::Strong(version.etag.clone())),
                last_modified: Some(timestamp(version.last_modified)),
                version_id: shown_version(&record, &version),
                metadata: metadata_of(attributes),
                content_type: content_type_of(attributes),
                content_encoding: attributes.content_encoding.clone(),
                content_disposition: attributes.content_disposition.clone(),
                content_language: attributes.content_language.clone(),
                cache_control: attributes.cache_control.clone(),
                checksum_crc32: checksums.crc32,
                checksum_crc32c: checksums.crc32c,
                checksum_sha1: checksums.sha1,
                checksum_sha256: checksums.sha256,
                checksum_crc64nvme: checksums.crc64nvme,
                ..GetObjectOutput::default()
            }))
        }
        .await;
        logged(op, Some(bucket), Some(key), result)
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let bucket = req.input.bucket.as_str();
        let op = Operation::HeadBucket;
        let result = async {
            self.admit(op, Some(bucket), None).await?;
            if self.objects.bucket(bucket).map_err(store_error)?.is_none() {
                return Err(store_error(StoreError::NoSuchBucket(bucket.to_owned())));
            }
            Ok(S3Response::new(HeadBucketOutput {
                bucket_region: Some(self.region.clone()),
                ..HeadBucketOutput::default()
            }))
        }
        .await;
        logged(op, Some(bucket), None, result)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = &req.input;
        let (bucket, key) = (input.bucket.as_str(), input.key.as_str());
        let op = Operation::HeadObject;
        let result = async {
            self.admit(op, Some(bucket), Some(key)).await?;
            let (record, version) = self
                .objects
                .head(bucket, key, version_arg(input.version_id.as_ref()))
                .map_err(store_error)?;
            let conditions = ReadConditions {
                if_match: input.if_match.clone(),
                if_none_match: input.if_none_match.clone(),
                if_modified_since: input.if_modified_since.clone(),
                if_unmodified_since: input.if_unmodified_since.clone(),
            };
            check_read(&conditions, &version)?;
            let selected = select(input.range.as_ref(), version.size)?;
            let length = selected.as_ref().map_or(version.size, |r| r.end - r.start);
            let checksums = checksums_wanted(input.checksum_mode.as_ref(), &version);
            let attributes = &version.attributes;
            Ok(S3Response::new(HeadObjectOutput {
                content_length: Some(i64::try_from(length).unwrap_or(i64::MAX)),
                content_range: selected
                    .map(|r| format!("bytes {}-{}/{}", r.start, r.end - 1, version.size)),
                accept_ranges: Some("bytes".to_owned()),
                e_tag: Some(ETag::Strong(version.etag.clone())),
                last_modified: Some(timestamp(version.last_modified)),
                version_id: shown_version(&record, &version),
                metadata: metadata_of(attributes),
                content_type: content_type_of(attributes),
                content_encoding: attributes.content_encoding.clone(),
                content_disposition: attributes.content_disposition.clone(),
                content_language: attributes.content_language.clone(),
                cache_control: attributes.cache_control.clone(),
                checksum_crc32: checksums.crc32,
                checksum_crc32c: checksums.crc32c,
                checksum_sha1: checksums.sha1,
                checksum_sha256: checksums.sha256,
                checksum_crc64nvme: checksums.crc64nvme,
                ..HeadObjectOutput::default()
            }))
        }
        .await;
        logged(op, Some(bucket), Some(key), result)
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let op = Operation::ListBuckets;
        let result = async {
            self.admit(op, None, None).await?;
            let buckets = self
                .objects
                .buckets()
                .map_err(store_error)?
                .into_iter()
                .map(|(name, record)| Bucket {
                    name: Some(name),
                    creation_date: Some(timestamp(record.created)),
                    bucket_region: Some(self.region.clone()),
                })
                .collect();
            Ok(S3Response::new(ListBucketsOutput {
                buckets: Some(buckets),
                ..ListBucketsOutput::default()
            }))
        }
        .await;
        logged(op, None, None, result)
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = &req.input;
        let bucket = input.bucket.as_str();
        let op = Operation::ListObjects;
        let result = async {
            self.admit(op, Some(bucket), None).await?;
            let query = ListQuery {
                prefix: input.prefix.clone().unwrap_or_default(),
                delimiter: input.delimiter.clone(),
                after: input
                    .marker
                    .as_ref()
                    .filter(|m| !m.is_empty())
                    .map(|m| m.as_bytes().to_vec()),
                max: max_keys(input.max_keys)?,
            };
            let page = self.objects.list(bucket, &query).map_err(store_error)?;
            // S3 gives NextMarker only with a delimiter; clients use the last key otherwise.
            let next_marker = (page.truncated && input.delimiter.is_some())
                .then(|| match page.entries.last() {
                    Some(ListEntry::Object(key, _)) => Some(key.clone()),
                    Some(ListEntry::Prefix(prefix)) => Some(prefix.clone()),
                    None => None,
                })
                .flatten();
            let (contents, prefixes) = listed(page.entries);
            let mut output = ListObjectsOutput {
                name: Some(bucket.to_owned()),
                prefix: input.prefix.clone(),
                marker: input.marker.clone(),
                max_keys: input.max_keys.or(Some(1000)),
                is_truncated: Some(page.truncated),
                contents: Some(contents),
                common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
                delimiter: input.delimiter.clone(),
                next_marker,
                encoding_type: input.encoding_type.clone(),
                ..ListObjectsOutput::default()
            };
            listing::encode_v1(&mut output);
            Ok(S3Response::new(output))
        }
        .await;
        logged(op, Some(bucket), None, result)
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = &req.input;
        let bucket = input.bucket.as_str();
        let op = Operation::ListObjectVersions;
        let result = async {
            self.admit(op, Some(bucket), None).await?;
            let query = ListQuery {
                prefix: input.prefix.clone().unwrap_or_default(),
                delimiter: input.delimiter.clone(),
                after: None,
                max: max_keys(input.max_keys)?,
            };
            let page = self
                .objects
                .list_versions(
                    bucket,
                    &query,
                    input.key_marker.as_deref(),
                    input.version_id_marker.as_deref(),
                )
                .map_err(|error| match error {
                    StoreError::NoSuchVersion { .. } => S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        "Invalid version id specified",
                    ),
                    other => store_error(other),
                })?;
            let url = input
                .encoding_type
                .as_ref()
                .is_some_and(|e| e.as_str() == s3s::dto::EncodingType::URL);
            let encode = |value: String| {
                if url {
                    listing::url_encode(&value)
                } else {
                    value
                }
            };
            let (versions, markers, prefixes) = versions_listed(page.entries, url);
            Ok(S3Response::new(ListObjectVersionsOutput {
                name: Some(bucket.to_owned()),
                prefix: input.prefix.clone().map(encode),
                delimiter: input.delimiter.clone().map(encode),
                key_marker: input.key_marker.clone().map(encode),
                version_id_marker: input.version_id_marker.clone(),
                max_keys: input.max_keys.or(Some(1000)),
                is_truncated: Some(page.truncated),
                next_key_marker: page.next_key_marker.map(encode),
                next_version_id_marker: page.next_version_marker,
                versions: Some(versions),
                delete_markers: (!markers.is_empty()).then_some(markers),
                common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
                encoding_type: input.encoding_type.clone(),
                ..ListObjectVersionsOutput::default()
            }))
        }
        .await;
        logged(op, Some(bucket), None, result)
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = &req.input;
        let bucket = input.bucket.as_str();
        let op = Operation::ListObjectsV2;
        let result = async {
            self.admit(op, Some(bucket), None).await?;
            let after = match &input.continuation_token {
                Some(token) => Some(position_of(token).ok_or_else(|| {
                    S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        "The continuation token provided is incorrect",
                    )
                })?),
                None => input
                    .start_after
                    .as_ref()
                    .filter(|s| !s.is_empty())
                    .map(|s| s.as_bytes().to_vec()),
            };
            let query = ListQuery {
                prefix: input.prefix.clone().unwrap_or_default(),
                delimiter: input.delimiter.clone(),
                after,
                max: max_keys(input.max_keys)?,
            };
            let page = self.objects.list(bucket, &query).map_err(store_error)?;
            let count = page.entries.len();
            let next = page.resume_after.as_deref().map(token_of);
            let (contents, prefixes) = listed(page.entries);
            let mut output = ListObjectsV2Output {
                name: Some(bucket.to_owned()),
                prefix: input.prefix.clone(),
                max_keys: input.max_keys.or(Some(1000)),
                key_count: Some(i32::try_from(count).unwrap_or(i32::MAX)),
                continuation_token: input.continuation_token.clone(),
                is_truncated: Some(page.truncated),
                next_continuation_token: next,
                contents: Some(contents),
                common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
                delimiter: input.delimiter.clone(),
                encoding_type: input.encoding_type.clone(),
                start_after: input.start_after.clone(),
                ..ListObjectsV2Output::default()
            };
            listing::encode_v2(&mut output);
            Ok(S3Response::new(output))
        }
        .await;
        logged(op, Some(bucket), None, result)
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = &req.input;
        let (bucket, key) = (input.bucket.as_str(), input.key.as_str());
        let op = Operation::ListParts;
        let result = async {
            self.admit(op, Some(bucket), Some(key)).await?;
            let after = input
                .part_number_marker
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(0);
            let max = input
                .max_parts
                .and_then(|m| usize::try_from(m).ok())
                .unwrap_or(MAX_LIST)
                .min(MAX_LIST);
            let all = self
                .objects
                .parts(&input.upload_id, bucket, key)
                .map_err(store_error)?;
            let mut remaining = all.into_iter().filter(|p| p.number > after).peekable();
            let mut parts = Vec::new();
            while parts.len() < max
                && let Some(part) = remaining.next()
            {
                parts.push(part);
            }
            let truncated = remaining.peek().is_some();
            let next = parts.last().map(|p| i32::try_from(p.number).unwrap_or(0));
            Ok(S3Response::new(ListPartsOutput {
                bucket: Some(bucket.to_owned()),
                key: Some(key.to_owned()),
                upload_id: Some(input.upload_id.clone()),
                is_truncated: Some(truncated),
                next_part_number_marker: truncated.then_some(next).flatten(),
                part_number_marker: input.part_number_marker,
                max_parts: input.max_parts,
                parts: Some(
                    parts
                        .into_iter()
                        .map(|p| Part {
                            part_number: i32::try_from(p.number).ok(),
                            e_tag: Some(ETag::Strong(p.etag)),
                            size: i64::try_from(p.size).ok(),
                            last_modified: Some(timestamp(p.last_modified)),
                            ..Part::default()
                        })
                        .collect(),
                ),
                ..ListPartsOutput::default()
            }))
        }
        .await;
        logged(op, Some(bucket), Some(key), result)
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = &req.input;
        let bucket = input.bucket.as_str();
        let op = Operation::PutBucketVersioning;
        let result = async {
            self.admit(op, Some(bucket), None).await?;
            let versioning = match input
                .versioning_configuration
                .status
                .as_ref()
                .map(BucketVersioningStatus::as_str)
            {
                Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
                Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
                _ => {
                    return Err(S3Error::with_message(
                        S3ErrorCode::MalformedXML,
                        "The versioning status must be Enabled or Suspended.",
                    ));
                }
            };
            let objects = Arc::clone(&self.objects);
            let name = bucket.to_owned();
            blocking(move || objects.set_versioning(&name, versioning))
                .await
                .map_err(store_error)?;
            Ok(S3Response::new(PutBucketVersioningOutput::default()))
        }
        .await;
        logged(op, Some(bucket), None, result)
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let S3Request {
            input,
            trailing_headers,
            ..
        } = req;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let op = Operation::PutObject;
        let result = async {
            self.admit(op, Some(&bucket), Some(&key)).await?;
            check_key(&key)?;
            let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
            // Refuse early, before reading the body, what the commit would refuse anyway.
            match self.objects.head(&bucket, &key, None) {
                Ok((_, current)) => condition.check(Some(&current)).map_err(store_error)?,
                Err(StoreError::NoSuchKey(_) | StoreError::DeleteMarker(_)) => {
                    condition.check(None).map_err(store_error)?;
                }
                Err(error) => return Err(store_error(error)),
            }
            let attributes = attributes_of(
                input.content_type.as_ref(),
                input.content_encoding.as_ref(),
                input.content_disposition.as_ref(),
                input.content_language.as_ref(),
                input.cache_control.as_ref(),
                input.metadata.as_ref(),
            );
            let expected = Expected {
                content_md5: input.content_md5.clone(),
                algorithm: input.checksum_algorithm.clone(),
                checksums: Checksums {
                    crc32: input.checksum_crc32.clone(),
                    crc32c: input.checksum_crc32c.clone(),
                    sha1: input.checksum_sha1.clone(),
                    sha256: input.checksum_sha256.clone(),
                    crc64nvme: input.checksum_crc64nvme.clone(),
                },
            };
            let received = receive(
                &self.objects,
                input.body,
                MAX_PUT_BYTES,
                expected,
                trailing_headers,
            )
            .await?;
            let checksums = received.checksums.clone();
            let object = NewObject {
                size: received.size,
                etag: received.md5.clone(),
                attributes,
                checksums: received.checksums,
            };
            let objects = Arc::clone(&self.objects);
            let (b, k) = (bucket.clone(), key.clone());
            let staged = received.staged;
            let (record, version) =
                blocking(move || objects.commit_object(&b, &k, staged, object, &condition))
                    .await
                    .map_err(store_error)?;
            self.announce(&bucket, &key, &version, CreationReason::PutObject);
            Ok(S3Response::new(PutObjectOutput {
                e_tag: Some(ETag::Strong(version.etag.clone())),
                version_id: shown_version(&record, &version),
                checksum_crc32: checksums.crc32,
                checksum_crc32c: checksums.crc32c,
                checksum_sha1: checksums.sha1,
                checksum_sha256: checksums.sha256,
                checksum_crc64nvme: checksums.crc64nvme,
                ..PutObjectOutput::default()
            }))
        }
        .await;
        logged(op, Some(&bucket), Some(&key), result)
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let S3Request {
            input,
            trailing_headers,
            ..
        } = req;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let op = Operation::UploadPart;
        let result = async {
            self.admit(op, Some(&bucket), Some(&key)).await?;
            let number = part_number(input.part_number)?;
            self.objects
                .upload(&input.upload_id, &bucket, &key)
                .map_err(store_error)?;
            let expected = Expected {
                content_md5: input.content_md5.clone(),
                algorithm: input.checksum_algorithm.clone(),
                checksums: Checksums {
                    crc32: input.checksum_crc32.clone(),
                    crc32c: input.checksum_crc32c.clone(),
                    sha1: input.checksum_sha1.clone(),
                    sha256: input.checksum_sha256.clone(),
                    crc64nvme: input.checksum_crc64nvme.clone(),
                },
            };
            let received = receive(
                &self.objects,
                input.body,
                MAX_PUT_BYTES,
                expected,
                trailing_headers,
            )
            .await?;
            let checksums = received.checksums.clone();
            let objects = Arc::clone(&self.objects);
            let (b, k, u) = (bucket.clone(), key.clone(), input.upload_id.clone());
            let part = blocking(move || {
                objects.commit_part(
                    &u,
                    &b,
                    &k,
                    number,
                    received.staged,
                    received.md5,
                    received.size,
                )
            })
            .await
            .map_err(store_error)?;
            Ok(S3Response::new(UploadPartOutput {
                e_tag: Some(ETag::Strong(part.etag)),
                checksum_crc32: checksums.crc32,
                checksum_crc32c: checksums.crc32c,
                checksum_sha1: checksums.sha1,
                checksum_sha256: checksums.sha256,
                checksum_crc64nvme: checksums.crc64nvme,
                ..UploadPartOutput::default()
            }))
        }
        .await;
        logged(op, Some(&bucket), Some(&key), result)
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = &req.input;
        let (bucket, key) = (input.bucket.as_str(), input.key.as_str());
        let op = Operation::UploadPartCopy;
        let result = async {
            self.admit(op, Some(bucket), Some(key)).await?;
            let number = part_number(input.part_number)?;
            let CopySource::Bucket {
                bucket: source_bucket,
                key: source_key,
                version_id: source_version,
            } = &input.copy_source
            else {
                return Err(S3Error::with_message(
                    S3ErrorCode::NotImplemented,
                    "only bucket/key copy sources are supported",
                ));
            };
            self.objects
                .upload(&input.upload_id, bucket, key)
                .map_err(store_error)?;
            let (_, source, file) =
                self.open(source_bucket, source_key, source_version.as_deref())?;
            let range = input
                .copy_source_range
                .as_deref()
                .map(Range::parse)
                .transpose()
                .map_err(|_| {
                    S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        "The x-amz-copy-source-range value must be of the form bytes=first-last",
                    )
                })?;
            let selected = select(range.as_ref(), source.size)?.unwrap_or(0..source.size);
            let objects = Arc::clone(&self.objects);
            let (b, k, u) = (bucket.to_owned(), key.to_owned(), input.upload_id.clone());
            let part = blocking(move || {
                let (staged, mut target) = objects.stage()?;
                let mut md5 = <md5::Md5 as md5::Digest>::new();
                if let Some(mut file) = file {
                    use std::io::Read as _;
                    let io = |source| StoreError::Io {
                        context: "copying a part".to_owned(),
                        source,
                    };
                    file.seek(SeekFrom::Start(selected.start)).map_err(io)?;
                    let mut limited = file.take(selected.end - selected.start);
                    let mut buffer = vec![0; 1 << 20];
                    loop {
                        let n = limited.read(&mut buffer).map_err(io)?;
                        if n == 0 {
                            break;
                        }
                        md5::Digest::update(&mut md5, &buffer[..n]);
                        std::io::Write::write_all(&mut target, &buffer[..n]).map_err(io)?;
                    }
                }
                let size = selected.end - selected.start;
                let etag = crate::objects::hex(&md5::Digest::finalize(md5));
                objects.commit_part(&u, &b, &k, number, (size > 0).then_some(staged), etag, size)
            })
            .await
            .map_err(store_error)?;
            Ok(S3Response::new(UploadPartCopyOutput {
                copy_part_result: Some(CopyPartResult {
                    e_tag: Some(ETag::Strong(part.etag)),
                    last_modified: Some(timestamp(part.last_modified)),
                    ..CopyPartResult::default()
                }),
                ..UploadPartCopyOutput::default()
            }))
        }
        .await;
        logged(op, Some(bucket), Some(key), result)
    }
}

/// A version listing's entries as S3 answers them (keys URL-encoded with `url`).
fn versions_listed(
    entries: Vec<VersionEntry>,
    url: bool,
) -> (
    Vec<ObjectVersion>,
    Vec<DeleteMarkerEntry>,
    Vec<CommonPrefix>,
) {
    let mut versions = Vec::new();
    let mut markers = Vec::new();
    let mut prefixes = Vec::new();
    for entry in entries {
        match entry {
            VersionEntry::Version {
                key,
                version,
                latest,
            } if version.delete_marker => markers.push(DeleteMarkerEntry {
                key: Some(key),
                version_id: Some(version.id().to_owned()),
                is_latest: Some(latest),
                last_modified: Some(timestamp(version.last_modified)),
                ..DeleteMarkerEntry::default()
            }),
            VersionEntry::Version {
                key,
                version,
                latest,
            } => versions.push(ObjectVersion {
                key: Some(key),
                version_id: Some(version.id().to_owned()),
                is_latest: Some(latest),
                e_tag: Some(ETag::Strong(version.etag.clone())),
                size: Some(i64::try_from(version.size).unwrap_or(i64::MAX)),
                last_modified: Some(timestamp(version.last_modified)),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                ..ObjectVersion::default()
            }),
            VersionEntry::Prefix(prefix) => prefixes.push(CommonPrefix {
                prefix: Some(prefix),
            }),
        }
    }
    let encode = |value: String| {
        if url {
            listing::url_encode(&value)
        } else {
            value
        }
    };
    for version in &mut versions {
        version.key = version.key.take().map(encode);
    }
    for marker in &mut markers {
        marker.key = marker.key.take().map(encode);
    }
    for prefix in &mut prefixes {
        prefix.prefix = prefix.prefix.take().map(encode);
    }
    (versions, markers, prefixes)
}

fn part_number(number: i32) -> S3Result<u32> {
    if (1..=MAX_PART_NUMBER).contains(&number) {
        Ok(u32::try_from(number).unwrap_or(1))
    } else {
        Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive",
        ))
    }
}
