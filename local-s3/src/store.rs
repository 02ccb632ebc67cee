//! [`LocalStore`]: the `s3s::S3` implementation served by the local endpoint. It delegates to
//! `s3s_fs::FileSystem` and adds fault injection, read preconditions, per-key atomicity,
//! object-created notifications and a few fidelity fixes (see the crate docs).

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use http::{Extensions, HeaderMap, Method, Uri};
use s3s::dto::StreamingBlob;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, BucketLocationConstraint,
    CompleteMultipartUploadInput, CompleteMultipartUploadOutput, CopyObjectInput, CopyObjectOutput,
    CreateBucketInput, CreateBucketOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput,
    DeleteBucketInput, DeleteBucketOutput, DeleteObjectInput, DeleteObjectOutput,
    DeleteObjectsInput, DeleteObjectsOutput, ETag, GetBucketLocationInput, GetBucketLocationOutput,
    GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput,
    HeadObjectOutput, ListBucketsInput, ListBucketsOutput, ListObjectsInput, ListObjectsOutput,
    ListObjectsV2Input, ListObjectsV2Output, ListPartsInput, ListPartsOutput, PutObjectInput,
    PutObjectOutput, Timestamp, UploadPartCopyInput, UploadPartCopyOutput, UploadPartInput,
    UploadPartOutput,
};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use s3s_fs::FileSystem;
use tokio::sync::broadcast;

use crate::conditions::ReadConditions;
use crate::error::Error;
use crate::events::{CreationReason, Notifier, ObjectCreated};
use crate::faults::{Fault, Faults, Operation};
use crate::file_body;
use crate::listing;
use crate::locks::KeyLocks;

/// The ETag of empty content (MD5 of nothing), which S3 gives to folder markers (`key/`).
const EMPTY_ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// The region S3 reports as no location constraint.
const UNCONSTRAINED_REGION: &str = "us-east-1";

/// The S3 implementation behind [`RunningS3`](crate::RunningS3): s3s-fs on a folder, plus fault
/// injection, read preconditions, per-key atomicity and object-created notifications.
///
/// Use it directly to serve it your own way (`s3s::service::S3ServiceBuilder::new(store)`);
/// take the [`faults`](Self::faults) handle and a [`subscribe`](Self::subscribe) receiver
/// before handing it over.
#[derive(Debug)]
pub struct LocalStore {
    fs: FileSystem,
    root: PathBuf,
    region: String,
    faults: Faults,
    notifier: Arc<Notifier>,
    locks: KeyLocks,
}

impl LocalStore {
    /// A store keeping buckets as sub-folders of `root` (created if missing), reporting
    /// `region` as the buckets' location.
    pub fn new(root: impl AsRef<Path>, region: impl Into<String>) -> Result<Self, Error> {
        let root = root.as_ref();
        let root_error = |source| Error::Root {
            path: root.to_owned(),
            source,
        };
        std::fs::create_dir_all(root).map_err(root_error)?;
        let root = root.canonicalize().map_err(root_error)?;
        let fs = FileSystem::new(&root).map_err(|error| Error::Store {
            path: root.clone(),
            message: format!("{error:?}"),
        })?;
        Ok(Self {
            fs,
            root,
            region: region.into(),
            faults: Faults::default(),
            notifier: Arc::new(Notifier::new()),
            locks: KeyLocks::default(),
        })
    }

    /// The data folder (absolute).
    pub fn root(&self) -> &Path {
        &self.root
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

    /// Creates the bucket unless it exists (no fault injection, not counted).
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<(), Error> {
        if !s3s::path::check_bucket_name(bucket) {
            return Err(Error::InvalidBucketName(bucket.to_owned()));
        }
        let input = CreateBucketInput {
            bucket: bucket.to_owned(),
            ..CreateBucketInput::default()
        };
        match self
            .fs
            .create_bucket(internal_request(input, Method::PUT))
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if *error.code() == S3ErrorCode::BucketAlreadyExists => Ok(()),
            Err(error) => Err(Error::CreateBucket {
                bucket: bucket.to_owned(),
                message: error.to_string(),
            }),
        }
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

    /// s3s-fs creates a missing bucket's folder on the first write; S3 answers NoSuchBucket.
    async fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        let input = HeadBucketInput {
            bucket: bucket.to_owned(),
            ..HeadBucketInput::default()
        };
        self.fs
            .head_bucket(internal_request(input, Method::HEAD))
            .await
            .map(drop)
    }

    /// A key naming a folder of the store (`a` while `a/b` exists) is no object: s3s-fs would
    /// answer 500 (a retryable error) where S3 answers NoSuchKey.
    fn reject_folder(&self, bucket: &str, key: &str) -> S3Result<()> {
        let relative = Path::new(key);
        let plain = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if plain && !key.ends_with('/') && self.root.join(bucket).join(relative).is_dir() {
            return Err(S3Error::with_message(
                S3ErrorCode::NoSuchKey,
                "The specified key does not exist.",
            ));
        }
        Ok(())
    }

    /// Publishes an [`ObjectCreated`] for an object just written (the caller holds its write
    /// lock, so the size and ETag read here are those of this write).
    async fn announce(
        &self,
        bucket: String,
        key: String,
        etag: Option<String>,
        reason: CreationReason,
    ) {
        if !self.notifier.has_subscribers() {
            return;
        }
        let time = SystemTime::now();
        let (size, etag) = if key.ends_with('/') {
            (0, EMPTY_ETAG.to_owned())
        } else {
            let input = HeadObjectInput {
                bucket: bucket.clone(),
                key: key.clone(),
                ..HeadObjectInput::default()
            };
            match self
                .fs
                .head_object(internal_request(input, Method::HEAD))
                .await
            {
                Ok(head) => {
                    let size = head
                        .output
                        .content_length
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(0);
                    let etag = etag
                        .or_else(|| head.output.e_tag.map(ETag::into_value))
                        .unwrap_or_default();
                    (size, etag)
                }
                Err(error) => {
                    tracing::warn!(%bucket, %key, %error, "object written but not found: no notification");
                    return;
                }
            }
        };
        let sequencer = self.notifier.next_sequencer(time);
        self.notifier.publish(ObjectCreated {
            bucket,
            key,
            size,
            etag,
            version_id: None,
            sequencer,
            reason,
            time,
        });
    }
}

/// A request made by the store itself, to s3s-fs.
fn internal_request<T>(input: T, method: Method) -> S3Request<T> {
    S3Request {
        input,
        method,
        uri: Uri::from_static("/"),
        headers: HeaderMap::new(),
        extensions: Extensions::new(),
        credentials: None,
        region: None,
        service: None,
        trailing_headers: None,
    }
}

/// Objects are not versioned: the only version is `null`, the current object. Any other version
/// id is a version that does not exist (never the current object under another name).
fn check_version(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        None | Some("null") => Ok(()),
        Some(_) => Err(S3Error::with_message(
            S3ErrorCode::NoSuchVersion,
            "local-s3 does not version objects: the only version id is \"null\"",
        )),
    }
}

/// Applies the read preconditions to an answer: the answer is served only if they hold.
fn check_read(
    conditions: &ReadConditions,
    etag: Option<&ETag>,
    last_modified: Option<&Timestamp>,
) -> S3Result<()> {
    match (etag, last_modified) {
        (Some(etag), Some(last_modified)) => match conditions
            .evaluate(etag, last_modified)
            .into_error(etag, last_modified)
        {
            Some(error) => Err(error),
            None => Ok(()),
        },
        // s3s-fs always gives both; without them there is nothing to compare.
        _ if conditions.is_empty() => Ok(()),
        _ => Err(S3Error::with_message(
            S3ErrorCode::InternalError,
            "the object has no ETag or Last-Modified to evaluate the preconditions",
        )),
    }
}

#[async_trait::async_trait]
impl S3 for LocalStore {
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = &req.input;
        self.admit(
            Operation::AbortMultipartUpload,
            Some(&input.bucket),
            Some(&input.key),
        )
        .await?;
        self.fs.abort_multipart_upload(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.admit(
            Operation::CompleteMultipartUpload,
            Some(&bucket),
            Some(&key),
        )
        .await?;
        let _lock = self.locks.write(&bucket, &key).await;
        let response = self.fs.complete_multipart_upload(req).await?;
        // s3s-fs puts the output (ETag included) in a future; the object is complete already.
        self.announce(bucket, key, None, CreationReason::CompleteMultipartUpload)
            .await;
        Ok(response)
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.admit(Operation::CopyObject, Some(&bucket), Some(&key))
            .await?;
        let _lock = self.locks.write(&bucket, &key).await;
        let response = self.fs.copy_object(req).await?;
        let etag = response
            .output
            .copy_object_result
            .as_ref()
            .and_then(|result| result.e_tag.as_ref())
            .map(|etag| etag.value().to_owned());
        self.announce(bucket, key, etag, CreationReason::CopyObject)
            .await;
        Ok(response)
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.admit(Operation::CreateBucket, Some(&req.input.bucket), None)
            .await?;
        self.fs.create_bucket(req).await.map_err(|error| {
            // Every bucket here belongs to the one user.
            if *error.code() == S3ErrorCode::BucketAlreadyExists {
                S3Error::with_message(
                    S3ErrorCode::BucketAlreadyOwnedByYou,
                    "Your previous request to create the named bucket succeeded and you already own it.",
                )
            } else {
                error
            }
        })
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = &req.input;
        self.admit(
            Operation::CreateMultipartUpload,
            Some(&input.bucket),
            Some(&input.key),
        )
        .await?;
        self.require_bucket(&input.bucket).await?;
        self.fs.create_multipart_upload(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.admit(Operation::DeleteBucket, Some(&req.input.bucket), None)
            .await?;
        self.fs.delete_bucket(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = &req.input;
        self.admit(
            Operation::DeleteObject,
            Some(&input.bucket),
            Some(&input.key),
        )
        .await?;
        check_version(input.version_id.as_deref())?;
        let _lock = self.locks.write(&input.bucket, &input.key).await;
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.admit(Operation::DeleteObjects, Some(&req.input.bucket), None)
            .await?;
        self.fs.delete_objects(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.admit(Operation::GetBucketLocation, Some(&req.input.bucket), None)
            .await?;
        let mut response = self.fs.get_bucket_location(req).await?;
        // S3 reports us-east-1 as no constraint.
        if self.region != UNCONSTRAINED_REGION {
            response.output.location_constraint =
                Some(BucketLocationConstraint::from(self.region.clone()));
        }
        Ok(response)
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = &req.input;
        self.admit(Operation::GetObject, Some(&input.bucket), Some(&input.key))
            .await?;
        check_version(input.version_id.as_deref())?;
        self.reject_folder(&input.bucket, &input.key)?;
        let conditions = ReadConditions {
            if_match: input.if_match.clone(),
            if_none_match: input.if_none_match.clone(),
            if_modified_since: input.if_modified_since.clone(),
            if_unmodified_since: input.if_unmodified_since.clone(),
        };
        // Held while s3s-fs opens the file and reads its ETag, so both are of the same write;
        // the body then streams from the open file, unaffected by later writes.
        let lock = self.locks.read(&input.bucket, &input.key).await;
        let path = self.root.join(&input.bucket).join(&input.key);
        let mut response = self.fs.get_object(req).await?;
        // The same file, opened under the same lock, read in large chunks instead.
        if let Some(body) = large_chunk_body(&path, &response.output) {
            response.output.body = Some(body);
        }
        drop(lock);
        let output = &response.output;
        check_read(
            &conditions,
            output.e_tag.as_ref(),
            output.last_modified.as_ref(),
        )?;
        Ok(response)
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.admit(Operation::HeadBucket, Some(&req.input.bucket), None)
            .await?;
        self.fs.head_bucket(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = &req.input;
        self.admit(Operation::HeadObject, Some(&input.bucket), Some(&input.key))
            .await?;
        check_version(input.version_id.as_deref())?;
        self.reject_folder(&input.bucket, &input.key)?;
        let conditions = ReadConditions {
            if_match: input.if_match.clone(),
            if_none_match: input.if_none_match.clone(),
            if_modified_since: input.if_modified_since.clone(),
            if_unmodified_since: input.if_unmodified_since.clone(),
        };
        let lock = self.locks.read(&input.bucket, &input.key).await;
        let response = self.fs.head_object(req).await?;
        drop(lock);
        let output = &response.output;
        check_read(
            &conditions,
            output.e_tag.as_ref(),
            output.last_modified.as_ref(),
        )?;
        Ok(response)
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.admit(Operation::ListBuckets, None, None).await?;
        self.fs.list_buckets(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.admit(Operation::ListObjects, Some(&req.input.bucket), None)
            .await?;
        let mut response = self.fs.list_objects(req).await?;
        listing::encode_v1(&mut response.output);
        Ok(response)
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.admit(Operation::ListObjectsV2, Some(&req.input.bucket), None)
            .await?;
        let mut response = self.fs.list_objects_v2(req).await?;
        listing::encode_v2(&mut response.output);
        Ok(response)
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = &req.input;
        self.admit(Operation::ListParts, Some(&input.bucket), Some(&input.key))
            .await?;
        self.fs.list_parts(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.admit(Operation::PutObject, Some(&bucket), Some(&key))
            .await?;
        self.require_bucket(&bucket).await?;
        // Held for the whole upload: s3s-fs checks If-None-Match / If-Match before it reads the
        // body, so two conditional writes must not overlap.
        let _lock = self.locks.write(&bucket, &key).await;
        let response = self.fs.put_object(req).await?;
        let etag = response
            .output
            .e_tag
            .as_ref()
            .map(|etag| etag.value().to_owned());
        self.announce(bucket, key, etag, CreationReason::PutObject)
            .await;
        Ok(response)
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = &req.input;
        self.admit(Operation::UploadPart, Some(&input.bucket), Some(&input.key))
            .await?;
        self.fs.upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = &req.input;
        self.admit(
            Operation::UploadPartCopy,
            Some(&input.bucket),
            Some(&input.key),
        )
        .await?;
        self.fs.upload_part_copy(req).await
    }
}

/// The body of a GetObject response s3s-fs answered, read from `path` in large chunks
/// ([`file_body`]); `None` (keep s3s-fs's body) if the file cannot be opened again.
fn large_chunk_body(path: &Path, output: &GetObjectOutput) -> Option<StreamingBlob> {
    let length = u64::try_from(output.content_length?).ok()?;
    // `bytes FIRST-LAST/SIZE` for a range, else the whole object.
    let first = match &output.content_range {
        Some(range) => range
            .strip_prefix("bytes ")?
            .split_once('-')?
            .0
            .parse()
            .ok()?,
        None => 0,
    };
    match file_body::open_range(path, first) {
        Ok(file) => Some(StreamingBlob::wrap(file_body::chunks(file, length))),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot reopen the object; 4 KiB reads");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_null_version_exists() {
        assert!(check_version(None).is_ok());
        assert!(check_version(Some("null")).is_ok());
        let error = check_version(Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")).unwrap_err();
        assert_eq!(error.code(), &S3ErrorCode::NoSuchVersion);
    }
}
