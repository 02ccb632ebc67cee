//! A job's outputs, staged until the commit point and then made visible, or abandoned.
//!
//! Both routes stage the same way, through [`Staging`]: the core writes each output to a
//! synchronous [`Write`] sink, a [`PartSink`], which holds up to one part in memory. Every
//! full part is handed, over a bounded channel, to an asynchronous [`PartUploader`] that
//! uploads it to a multipart upload while parsing goes on, so memory stays bounded whatever
//! the output's size (a small gzip input on the Lambda can expand to hundreds of MB). The
//! upload is created lazily, at the first full part: an output smaller than a part (the
//! rejects, most often, and every output of a small input) is PUT in one request at commit,
//! with no multipart call at all. Either way the object's bytes are the same: only its etag
//! tells a multipart object from a single PUT.
//!
//! Nothing is visible before [`StagedOutputs::commit`]: parts of an upload are not an object
//! until `CompleteMultipartUpload`. A failure before the commit point aborts the uploads
//! ([`StagedOutputs::abandon`], or [`Staging::finish`] with the failure), and the bucket's
//! lifecycle rule (`AbortIncompleteMultipartUpload`, 7 days) collects what a killed process
//! left.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use shared::ErrorName;
use tokio::sync::mpsc;
use tracing::warn;

use crate::error::JobError;
use crate::run::StopSignal;
use crate::store::{CompletedPart, ObjectStore, PutOptions, Upload, WriteCondition, Written};

/// Bytes of a multipart upload's parts but the last: 8 MiB. S3 takes 5 MiB to 5 GiB, the last
/// part excepted ("Amazon S3 multipart upload limits",
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>).
pub const OUTPUT_PART_SIZE: usize = 8 * 1024 * 1024;

/// S3's smallest part but the last (same page as [`OUTPUT_PART_SIZE`]).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// S3's most parts in one upload (same page). After every [`PARTS_PER_DOUBLING`] parts the
/// part size doubles, so an output never runs out of part numbers (8 MiB parts alone would
/// stop at 78 GiB).
const MAX_PARTS: u32 = 10_000;
const PARTS_PER_DOUBLING: u32 = 1_000;
/// S3's largest part (same page).
const MAX_PART_SIZE: usize = 5 * 1024 * 1024 * 1024;

/// The `Content-Type` of the Parquet output (IANA registered, 2024).
pub const PARQUET_CONTENT_TYPE: &str = "application/vnd.apache.parquet";
/// The `Content-Type` of the rejects output (JSON Lines).
pub const REJECTS_CONTENT_TYPE: &str = "application/jsonl";

/// An output staged under its key: not visible until committed.
#[derive(Debug)]
pub(crate) struct StagedObject {
    /// The bucket.
    pub bucket: String,
    /// The key it will have.
    pub key: String,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// What its commit does if it stayed empty.
    pub when_empty: WhenEmpty,
    /// Its bytes so far.
    pub body: StagedBody,
}

/// What committing an output that stayed empty does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenEmpty {
    /// Writes the empty object (an output that always has bytes, as a Parquet file).
    Write,
    /// Writes nothing and deletes the key's object, if it has one (the rejects: a new
    /// version of the source without rejects removes the previous version's).
    RemovePrevious,
}

/// Where a staged output's bytes are.
#[derive(Debug)]
pub(crate) enum StagedBody {
    /// In memory, PUT at commit.
    Buffered(Vec<u8>),
    /// In an upload's parts, and a tail (the last part) still in memory.
    Multipart {
        /// The upload.
        upload: Upload,
        /// Its parts so far, in order.
        parts: Vec<CompletedPart>,
        /// Bytes in those parts.
        uploaded: u64,
        /// The last part, uploaded at commit.
        tail: Vec<u8>,
    },
}

/// A committed output, as the report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Committed {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its etag, without quotes.
    pub etag: String,
}

impl StagedObject {
    /// The object's size.
    pub fn size(&self) -> u64 {
        match &self.body {
            StagedBody::Buffered(bytes) => bytes.len() as u64,
            StagedBody::Multipart { uploaded, tail, .. } => uploaded + tail.len() as u64,
        }
    }

    /// Makes the object visible: PUT, or the last part and `CompleteMultipartUpload`. On a
    /// failure the upload is aborted (after a failed complete too: if it did complete, the
    /// abort finds nothing; if not, it frees the parts).
    pub async fn commit<S: ObjectStore>(self, store: &S) -> Result<Committed, JobError> {
        let size = self.size();
        let StagedObject {
            bucket,
            key,
            content_type,
            body,
            ..
        } = self;
        let etag = match body {
            StagedBody::Buffered(bytes) => {
                let options = PutOptions {
                    content_type: content_type.to_owned(),
                    metadata: Vec::new(),
                    condition: WriteCondition::Always,
                };
                match store
                    .put(&bucket, &key, Bytes::from(bytes), &options)
                    .await?
                {
                    Written::Yes(etag) => etag,
                    Written::ConditionFailed => {
                        return Err(JobError::new(
                            ErrorName::Storage,
                            format!("PUT s3://{bucket}/{key}: a precondition failed"),
                        ));
                    }
                }
            }
            StagedBody::Multipart {
                upload,
                mut parts,
                tail,
                ..
            } => {
                let completed = async {
                    if !tail.is_empty() {
                        let number = next_part_number(&parts)?;
                        let etag = store
                            .upload_part(&upload, number, Bytes::from(tail))
                            .await?;
                        parts.push(CompletedPart { number, etag });
                    }
                    store.complete_multipart(&upload, &parts).await
                }
                .await;
                match completed {
                    Ok(etag) => etag,
                    Err(error) => {
                        abort(store, &upload).await;
                        return Err(error);
                    }
                }
            }
        };
        Ok(Committed { key, size, etag })
    }

    /// Gives the object up: aborts its upload, if it has one. Never fails: a failed abort is
    /// logged, and left to the bucket's lifecycle rule.
    pub async fn abandon<S: ObjectStore>(self, store: &S) {
        if let StagedBody::Multipart { upload, .. } = &self.body {
            abort(store, upload).await;
        }
    }
}

/// A job's outputs, in the order they are committed, staged.
#[derive(Debug)]
pub(crate) struct StagedOutputs(Vec<StagedObject>);

impl StagedOutputs {
    /// Commits every output in order, each as its [`WhenEmpty`] says. A failure stops there
    /// and abandons the outputs not committed yet (the ones before are visible: the job's
    /// rerun writes them again).
    pub async fn commit<S: ObjectStore>(self, store: &S) -> Result<Vec<Committed>, JobError> {
        let mut committed = Vec::new();
        let mut outputs = self.0.into_iter();
        while let Some(output) = outputs.next() {
            let result = if output.size() == 0 && output.when_empty == WhenEmpty::RemovePrevious {
                remove_previous(store, output).await
            } else {
                output.commit(store).await.map(|c| committed.push(c))
            };
            if let Err(error) = result {
                StagedOutputs(outputs.collect()).abandon(store).await;
                return Err(error);
            }
        }
        Ok(committed)
    }

    /// Gives every output up (see [`StagedObject::abandon`]).
    pub async fn abandon<S: ObjectStore>(self, store: &S) {
        for output in self.0 {
            output.abandon(store).await;
        }
    }
}

/// Deletes the object of an empty output's key, only when there is one: a DELETE of a
/// missing key would still leave a delete marker in a versioned bucket.
async fn remove_previous<S: ObjectStore>(store: &S, output: StagedObject) -> Result<(), JobError> {
    let (bucket, key) = (output.bucket.clone(), output.key.clone());
    output.abandon(store).await;
    if store.head_output(&bucket, &key).await?.is_some() {
        store.delete(&bucket, &key).await?;
    }
    Ok(())
}

/// The outputs of one job while the core writes them: any number of named outputs, each a
/// [`PartSink`] for the core and a [`PartUploader`] here. Parts start at `part_size` bytes.
pub(crate) struct Staging<S> {
    store: S,
    bucket: String,
    part_size: usize,
    stop: StopSignal,
    uploaders: Vec<(PartUploader, WhenEmpty)>,
}

impl<S: ObjectStore> Staging<S> {
    /// No outputs yet, for objects of `bucket`, cut into parts of `part_size` bytes (at least
    /// [`MIN_PART_SIZE`] against S3; the unit tests use less). A raised `stop` makes every
    /// upload stop.
    pub fn new(store: &S, bucket: &str, part_size: usize, stop: &StopSignal) -> Staging<S> {
        Staging {
            store: store.clone(),
            bucket: bucket.to_owned(),
            part_size,
            stop: stop.clone(),
            uploaders: Vec::new(),
        }
    }

    /// Stages an output of `key`; returns the sink the core writes it to. Outputs are
    /// committed in the order they were added.
    pub fn output(
        &mut self,
        key: &str,
        content_type: &'static str,
        when_empty: WhenEmpty,
    ) -> PartSink {
        let (sink, uploader) = streamed(
            &self.store,
            &self.bucket,
            key,
            content_type,
            self.part_size,
            &self.stop,
        );
        self.uploaders.push((uploader, when_empty));
        sink
    }

    /// Once the core has dropped every sink: the staged outputs, or the failure. After a
    /// failure of the core (`failure`) the uploads are aborted; an uploader's own failure is
    /// the cause of the core's sink error, so it is the one returned (unless the core's
    /// failure says more: a stop, a failed read, a contract violation).
    pub async fn finish(self, failure: Option<JobError>) -> Result<StagedOutputs, JobError> {
        let store = &self.store;
        if failure.is_some() {
            for (uploader, _) in &self.uploaders {
                uploader.cancel();
            }
        }
        let mut staged = Vec::new();
        let mut uploader_error = None;
        let mut missing = false;
        for (uploader, when_empty) in self.uploaders {
            match uploader.finish(store).await {
                Ok(Some(mut output)) => {
                    output.when_empty = when_empty;
                    staged.push(output);
                }
                Ok(None) => missing = true,
                Err(error) => uploader_error = uploader_error.or(Some(error)),
            }
        }
        let staged = StagedOutputs(staged);
        let error = match (failure, uploader_error) {
            (None, None) if !missing => return Ok(staged),
            // A stop or a read failure says more than the uploads it cut short.
            (Some(failure), Some(uploader))
                if failure.name() == ErrorName::Storage
                    && uploader.name() != ErrorName::Interrupted =>
            {
                uploader
            }
            (Some(failure), _) => failure,
            (None, Some(uploader)) => uploader,
            (None, None) => JobError::new(ErrorName::Internal, "an output was not staged"),
        };
        staged.abandon(store).await;
        Err(error)
    }
}

/// Aborts `upload`, logging a failure.
pub(crate) async fn abort<S: ObjectStore>(store: &S, upload: &Upload) {
    if let Err(error) = store.abort_multipart(upload).await {
        warn!(key = %upload.key, upload = %upload.id, %error, "abort failed: the lifecycle rule will collect the parts");
    }
}

fn next_part_number(parts: &[CompletedPart]) -> Result<u32, JobError> {
    let number = u32::try_from(parts.len())
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    if number > MAX_PARTS {
        return Err(JobError::new(
            ErrorName::Storage,
            format!("an output needs more than {MAX_PARTS} parts"),
        ));
    }
    Ok(number)
}

/// The size of part `number` (from 1) when parts start at `base` bytes.
fn part_size(base: usize, number: u32) -> usize {
    let doublings = (number.saturating_sub(1) / PARTS_PER_DOUBLING).min(20);
    base.saturating_mul(1 << doublings).min(MAX_PART_SIZE)
}

/// The synchronous end of a streamed output, given to the core: it cuts the bytes into parts
/// and hands each full part to the [`PartUploader`], waiting while the channel is full (it
/// runs on a blocking thread, never on the async runtime). What is left when it is dropped
/// is the tail, which the uploader's [`finish`](PartUploader::finish) returns.
pub(crate) struct PartSink {
    buffer: Vec<u8>,
    base: usize,
    sent: u32,
    parts: mpsc::Sender<Bytes>,
    tail: Arc<Mutex<Vec<u8>>>,
}

impl Write for PartSink {
    fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<usize> {
        let written = bytes.len();
        while !bytes.is_empty() {
            let size = part_size(self.base, self.sent + 1);
            let take = bytes.len().min(size - self.buffer.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buffer.len() == size {
                // The first buffer grows as bytes come: an output that stays small (the
                // rejects, most often) never holds a whole part's memory. Once a part is full
                // the output is a large one, and the next buffer takes a whole part at once,
                // instead of growing into it by doubling (copying each part once more).
                let next = Vec::with_capacity(part_size(self.base, self.sent + 2));
                let part = std::mem::replace(&mut self.buffer, next);
                self.parts
                    .blocking_send(Bytes::from(part))
                    .map_err(|_| std::io::Error::other("the upload of this output stopped"))?;
                self.sent += 1;
            }
        }
        Ok(written)
    }

    /// Parts are sent when full; the rest is the tail, kept for the commit.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for PartSink {
    fn drop(&mut self) {
        *self.tail.lock().unwrap_or_else(PoisonError::into_inner) =
            std::mem::take(&mut self.buffer);
    }
}

/// The asynchronous end of a streamed output: a task that uploads the parts a [`PartSink`]
/// hands it, creating the multipart upload at the first.
pub(crate) struct PartUploader {
    task: tokio::task::JoinHandle<Uploaded>,
    tail: Arc<Mutex<Vec<u8>>>,
    cancel: Arc<AtomicBool>,
    bucket: String,
    key: String,
    content_type: &'static str,
}

#[derive(Debug, Default)]
struct Uploaded {
    upload: Option<Upload>,
    parts: Vec<CompletedPart>,
    bytes: u64,
    error: Option<JobError>,
}

/// A streamed output of `key`: the sink for the core, the uploader for the job. Parts start
/// at `base` bytes (at least [`MIN_PART_SIZE`] against S3; the unit tests use less).
fn streamed<S: ObjectStore>(
    store: &S,
    bucket: &str,
    key: &str,
    content_type: &'static str,
    base: usize,
    stop: &StopSignal,
) -> (PartSink, PartUploader) {
    let base = base.max(1);
    // One part waiting while one uploads: about three parts in memory (the sink's, the
    // waiting one, the one in flight).
    let (sender, receiver) = mpsc::channel(1);
    let tail = Arc::new(Mutex::new(Vec::new()));
    let cancel = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(upload_parts(
        store.clone(),
        (bucket.to_owned(), key.to_owned(), content_type),
        receiver,
        Arc::clone(&cancel),
        stop.clone(),
    ));
    let sink = PartSink {
        buffer: Vec::new(),
        base,
        sent: 0,
        parts: sender,
        tail: Arc::clone(&tail),
    };
    let uploader = PartUploader {
        task,
        tail,
        cancel,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        content_type,
    };
    (sink, uploader)
}

async fn upload_parts<S: ObjectStore>(
    store: S,
    (bucket, key, content_type): (String, String, &'static str),
    mut receiver: mpsc::Receiver<Bytes>,
    cancel: Arc<AtomicBool>,
    mut stop: StopSignal,
) -> Uploaded {
    let mut uploaded = Uploaded::default();
    loop {
        let part = tokio::select! {
            biased;
            () = stop.raised() => {
                uploaded.error = Some(crate::run::interrupted());
                break;
            }
            part = receiver.recv() => match part {
                Some(part) => part,
                None => break,
            },
        };
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let result = async {
            let upload = match &uploaded.upload {
                Some(upload) => upload.clone(),
                None => {
                    let id = store.create_multipart(&bucket, &key, content_type).await?;
                    let upload = Upload {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        id,
                    };
                    uploaded.upload = Some(upload.clone());
                    upload
                }
            };
            let number = next_part_number(&uploaded.parts)?;
            let len = part.len() as u64;
            let etag = store.upload_part(&upload, number, part).await?;
            uploaded.parts.push(CompletedPart { number, etag });
            uploaded.bytes += len;
            Ok::<(), JobError>(())
        }
        .await;
        if let Err(error) = result {
            uploaded.error = Some(error);
            break;
        }
    }
    // Dropping the receiver makes the sink's next part fail: the core stops with an error.
    uploaded
}

impl PartUploader {
    /// Tells the uploader to upload no more parts (the job failed).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Once the sink is dropped: the staged output, or the uploader's failure (its upload,
    /// if any, aborted). A cancelled uploader's upload is aborted and `None` returned.
    pub async fn finish<S: ObjectStore>(self, store: &S) -> Result<Option<StagedObject>, JobError> {
        let uploaded = self
            .task
            .await
            .map_err(|e| JobError::new(ErrorName::Internal, format!("part uploader: {e}")))?;
        let tail = std::mem::take(&mut *self.tail.lock().unwrap_or_else(PoisonError::into_inner));
        if uploaded.error.is_some() || self.cancel.load(Ordering::Relaxed) {
            if let Some(upload) = &uploaded.upload {
                abort(store, upload).await;
            }
            return match uploaded.error {
                Some(error) => Err(error),
                None => Ok(None),
            };
        }
        let body = match uploaded.upload {
            None => StagedBody::Buffered(tail),
            Some(upload) => StagedBody::Multipart {
                upload,
                parts: uploaded.parts,
                uploaded: uploaded.bytes,
                tail,
            },
        };
        Ok(Some(StagedObject {
            bucket: self.bucket,
            key: self.key,
            content_type: self.content_type,
            when_empty: WhenEmpty::Write,
            body,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_double_every_thousand_and_stay_within_s3_limits() {
        assert_eq!(part_size(OUTPUT_PART_SIZE, 1), OUTPUT_PART_SIZE);
        assert_eq!(part_size(OUTPUT_PART_SIZE, 1000), OUTPUT_PART_SIZE);
        assert_eq!(part_size(OUTPUT_PART_SIZE, 1001), 2 * OUTPUT_PART_SIZE);
        assert_eq!(
            part_size(OUTPUT_PART_SIZE, 10_000),
            MAX_PART_SIZE.min(OUTPUT_PART_SIZE << 9)
        );
        // 8 MiB parts, a part of S3's range (5 MiB to 5 GiB, "Amazon S3 multipart upload
        // limits", https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
        const { assert!(OUTPUT_PART_SIZE >= MIN_PART_SIZE && OUTPUT_PART_SIZE <= MAX_PART_SIZE) };
        // 10,000 parts hold far more than a job's output.
        let total: u64 = (1..=MAX_PARTS)
            .map(|n| part_size(OUTPUT_PART_SIZE, n) as u64)
            .sum();
        assert!(total > 1 << 40, "{total}");
    }
}
