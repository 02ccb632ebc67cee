//! An in-memory [`ObjectStore`] for the unit tests: a model of the S3 behaviour `run_job`
//! relies on (pinned reads, conditional writes, versions, multipart uploads that are
//! invisible until completed), which can be told to fail any call by kind and ordinal.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use futures::StreamExt;
use shared::{ErrorName, Job, JobObject};

use crate::error::JobError;
use crate::store::{
    ByteChunks, CompletedPart, ObjectHead, ObjectStore, Pin, PutOptions, Upload, WriteCondition,
    Written,
};

/// The kinds of call a store takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Call {
    Head,
    Get,
    Put,
    Delete,
    CreateMultipart,
    UploadPart,
    CompleteMultipart,
    AbortMultipart,
}

impl Call {
    pub const ALL: [Call; 8] = [
        Call::Head,
        Call::Get,
        Call::Put,
        Call::Delete,
        Call::CreateMultipart,
        Call::UploadPart,
        Call::CompleteMultipart,
        Call::AbortMultipart,
    ];
}

#[derive(Debug, Clone)]
struct Version {
    id: String,
    /// `None`: a delete marker.
    object: Option<Stored>,
}

#[derive(Debug, Clone)]
struct Stored {
    body: Bytes,
    etag: String,
    content_type: String,
    metadata: HashMap<String, String>,
}

#[derive(Debug)]
struct OpenUpload {
    bucket: String,
    key: String,
    content_type: String,
    parts: BTreeMap<u32, (Bytes, String)>,
}

#[derive(Debug, Default)]
struct State {
    versioned: bool,
    /// Every key's versions, oldest first (one, in an unversioned store).
    objects: BTreeMap<(String, String), Vec<Version>>,
    uploads: BTreeMap<String, OpenUpload>,
    next_id: u64,
    calls: Vec<(Call, String)>,
    counts: HashMap<Call, u32>,
    failures: BTreeSet<(Call, u32)>,
    /// The smallest part but the last `CompleteMultipartUpload` takes (S3: 5 MiB); 0 until
    /// a test sets it.
    min_part_size: usize,
}

/// The in-memory store; clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemoryStore(Arc<Mutex<State>>);

fn etag_of(bytes: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

impl MemoryStore {
    /// A store whose bucket keeps versions (as the deployed one does).
    pub fn versioned() -> MemoryStore {
        let store = MemoryStore::default();
        store.state().versioned = true;
        store
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the `ordinal`th call (from 1) of `call` fail with a `Storage` error, counting
    /// from the store's creation.
    pub fn fail(&self, call: Call, ordinal: u32) {
        self.state().failures.insert((call, ordinal));
    }

    /// Makes `CompleteMultipartUpload` refuse an upload with a part but the last smaller than
    /// `bytes` (`EntityTooSmall`), as S3 does below 5 MiB.
    pub fn set_min_part_size(&self, bytes: usize) {
        self.state().min_part_size = bytes;
    }

    /// How many calls of `call` were made.
    pub fn count(&self, call: Call) -> u32 {
        self.state().counts.get(&call).copied().unwrap_or(0)
    }

    /// Every call so far and its key, in order.
    pub fn calls(&self) -> Vec<(Call, String)> {
        self.state().calls.clone()
    }

    /// Multipart uploads neither completed nor aborted.
    pub fn open_uploads(&self) -> usize {
        self.state().uploads.len()
    }

    /// The visible objects (current versions), by key.
    pub fn objects(&self) -> BTreeMap<String, Bytes> {
        self.state()
            .objects
            .iter()
            .filter_map(|((_, key), versions)| {
                let current = versions.last()?.object.as_ref()?;
                Some((key.clone(), current.body.clone()))
            })
            .collect()
    }

    /// The `Content-Type` of the current object under `key`.
    pub fn content_type(&self, key: &str) -> Option<String> {
        let state = self.state();
        let versions = state.objects.iter().find(|((_, k), _)| k == key)?.1;
        Some(versions.last()?.object.as_ref()?.content_type.clone())
    }

    /// The current bytes under `key`.
    pub fn object(&self, key: &str) -> Option<Bytes> {
        self.objects().remove(key)
    }

    /// Stores `body` under `key` (not counted as a call) and returns the job its event carries.
    pub fn upload(&self, bucket: &str, key: &str, body: &[u8], sequencer: &str) -> Job {
        let mut state = self.state();
        let (version_id, etag) = state.store(
            bucket,
            key,
            Stored {
                body: Bytes::copy_from_slice(body),
                etag: etag_of(body),
                content_type: "text/csv".into(),
                metadata: HashMap::new(),
            },
        );
        Job {
            bucket: bucket.to_owned(),
            object: JobObject {
                key: shared::encode_event_key(key),
                size: body.len() as u64,
                etag: Some(etag),
                version_id,
                sequencer: Some(sequencer.to_owned()),
            },
        }
    }

    /// Counts a call, and fails it if told to.
    fn call(&self, call: Call, key: &str) -> Result<MutexGuard<'_, State>, JobError> {
        let mut state = self.state();
        state.calls.push((call, key.to_owned()));
        let count = state.counts.entry(call).or_insert(0);
        *count += 1;
        let ordinal = *count;
        if state.failures.contains(&(call, ordinal)) {
            return Err(JobError::new(
                ErrorName::Storage,
                format!("{call:?} {key}: injected failure (#{ordinal})"),
            ));
        }
        Ok(state)
    }
}

impl State {
    /// Stores a new current version; its id (in a versioned store) and etag.
    fn store(&mut self, bucket: &str, key: &str, stored: Stored) -> (Option<String>, String) {
        self.next_id += 1;
        let id = format!("v{:06}", self.next_id);
        let etag = stored.etag.clone();
        let versioned = self.versioned;
        let versions = self
            .objects
            .entry((bucket.to_owned(), key.to_owned()))
            .or_default();
        if !versioned {
            versions.clear();
        }
        versions.push(Version {
            id: id.clone(),
            object: Some(stored),
        });
        (versioned.then_some(id), etag)
    }

    fn current(&self, bucket: &str, key: &str) -> Option<&Stored> {
        self.objects
            .get(&(bucket.to_owned(), key.to_owned()))?
            .last()?
            .object
            .as_ref()
    }

    fn pinned(
        &self,
        bucket: &str,
        key: &str,
        pin: &Pin,
    ) -> Result<(&Stored, Option<String>), JobError> {
        let missing = || {
            JobError::new(
                ErrorName::SourceMissing,
                format!("s3://{bucket}/{key}: no such key"),
            )
        };
        let versions = self
            .objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .ok_or_else(missing)?;
        let version = match pin {
            Pin::Version(id) => versions.iter().find(|v| &v.id == id).ok_or_else(missing)?,
            Pin::ETag(_) | Pin::Latest => versions.last().ok_or_else(missing)?,
        };
        let stored = version.object.as_ref().ok_or_else(missing)?;
        if let Pin::ETag(etag) = pin
            && &stored.etag != etag
        {
            return Err(JobError::new(
                ErrorName::SourceChanged,
                format!("s3://{bucket}/{key}: the etag is no longer {etag}"),
            ));
        }
        Ok((stored, self.versioned.then(|| version.id.clone())))
    }
}

impl ObjectStore for MemoryStore {
    async fn head(&self, bucket: &str, key: &str, pin: &Pin) -> Result<ObjectHead, JobError> {
        let state = self.call(Call::Head, key)?;
        let (stored, version_id) = state.pinned(bucket, key, pin)?;
        Ok(ObjectHead {
            size: stored.body.len() as u64,
            etag: Some(stored.etag.clone()),
            version_id,
            metadata: stored.metadata.clone(),
        })
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        pin: &Pin,
        range: Option<(u64, u64)>,
    ) -> Result<ByteChunks, JobError> {
        let state = self.call(Call::Get, key)?;
        let (stored, _) = state.pinned(bucket, key, pin)?;
        let body = match range {
            None => stored.body.clone(),
            Some((first, last)) => {
                let len = stored.body.len() as u64;
                let end = (last + 1).min(len);
                stored.body.slice(
                    usize::try_from(first.min(end)).unwrap_or(0)..usize::try_from(end).unwrap_or(0),
                )
            }
        };
        // In chunks, as a body arrives.
        let chunks: Vec<Result<Bytes, JobError>> = (0..body.len())
            .step_by(1000)
            .map(|at| Ok(body.slice(at..(at + 1000).min(body.len()))))
            .collect();
        Ok(futures::stream::iter(chunks).boxed())
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        options: &PutOptions,
    ) -> Result<Written, JobError> {
        let mut state = self.call(Call::Put, key)?;
        let current = state.current(bucket, key).map(|s| s.etag.clone());
        let holds = match &options.condition {
            WriteCondition::Always => true,
            WriteCondition::Absent => current.is_none(),
            WriteCondition::Unchanged(etag) => current.as_ref() == Some(etag),
        };
        if !holds {
            return Ok(Written::ConditionFailed);
        }
        let stored = Stored {
            etag: etag_of(&body),
            body,
            content_type: options.content_type.clone(),
            metadata: options.metadata.iter().cloned().collect(),
        };
        let (_, etag) = state.store(bucket, key, stored);
        Ok(Written::Yes(etag))
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), JobError> {
        let mut state = self.call(Call::Delete, key)?;
        state.next_id += 1;
        let id = format!("v{:06}", state.next_id);
        let versioned = state.versioned;
        let entry = (bucket.to_owned(), key.to_owned());
        if versioned {
            if state.objects.contains_key(&entry) {
                state
                    .objects
                    .entry(entry)
                    .or_default()
                    .push(Version { id, object: None });
            }
        } else {
            state.objects.remove(&entry);
        }
        Ok(())
    }

    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> Result<String, JobError> {
        let mut state = self.call(Call::CreateMultipart, key)?;
        state.next_id += 1;
        let id = format!("upload-{}", state.next_id);
        state.uploads.insert(
            id.clone(),
            OpenUpload {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                content_type: content_type.to_owned(),
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    async fn upload_part(
        &self,
        upload: &Upload,
        number: u32,
        body: Bytes,
    ) -> Result<String, JobError> {
        let mut state = self.call(Call::UploadPart, &upload.key)?;
        let open = state
            .uploads
            .get_mut(&upload.id)
            .filter(|open| open.bucket == upload.bucket && open.key == upload.key)
            .ok_or_else(|| {
                JobError::new(ErrorName::Storage, format!("NoSuchUpload {}", upload.id))
            })?;
        let etag = etag_of(&body);
        open.parts.insert(number, (body, etag.clone()));
        Ok(etag)
    }

    async fn complete_multipart(
        &self,
        upload: &Upload,
        parts: &[CompletedPart],
    ) -> Result<String, JobError> {
        let mut state = self.call(Call::CompleteMultipart, &upload.key)?;
        let no_upload = || JobError::new(ErrorName::Storage, format!("NoSuchUpload {}", upload.id));
        let open = state.uploads.get(&upload.id).ok_or_else(no_upload)?;
        let mut body = Vec::new();
        let mut etags = String::new();
        for (i, part) in parts.iter().enumerate() {
            let Some((bytes, etag)) = open.parts.get(&part.number) else {
                return Err(JobError::new(
                    ErrorName::Storage,
                    format!("InvalidPart {}", part.number),
                ));
            };
            if etag != &part.etag || (i > 0 && parts[i - 1].number >= part.number) {
                return Err(JobError::new(
                    ErrorName::Storage,
                    format!("InvalidPart {}", part.number),
                ));
            }
            if i + 1 < parts.len() && bytes.len() < state.min_part_size {
                return Err(JobError::new(
                    ErrorName::Storage,
                    format!(
                        "EntityTooSmall: part {} of {} bytes",
                        part.number,
                        bytes.len()
                    ),
                ));
            }
            body.extend_from_slice(bytes);
            etags.push_str(etag);
        }
        let open = state.uploads.remove(&upload.id).ok_or_else(no_upload)?;
        let stored = Stored {
            body: Bytes::from(body),
            etag: format!("{}-{}", etag_of(etags.as_bytes()), parts.len()),
            content_type: open.content_type,
            metadata: HashMap::new(),
        };
        let (_, etag) = state.store(&open.bucket, &open.key, stored);
        Ok(etag)
    }

    async fn abort_multipart(&self, upload: &Upload) -> Result<(), JobError> {
        let mut state = self.call(Call::AbortMultipart, &upload.key)?;
        state
            .uploads
            .remove(&upload.id)
            .map(|_| ())
            .ok_or_else(|| JobError::new(ErrorName::Storage, format!("NoSuchUpload {}", upload.id)))
    }
}
