//! The object store under the S3 protocol layer: object bytes in files named by an id (never
//! by the key), and every key's versions, the buckets and the multipart uploads in one redb
//! database, changed only by transactions.
//!
//! # Layout of the data folder
//!
//! ```text
//! local-s3-format        "local-s3 object store, format 2": refused if another version
//! metadata.redb          buckets, objects and their versions, uploads and parts
//! blobs/<xx>/<id>        object and part bytes; <id> is "<boot>-<counter>" in hex
//! tmp/                   uploads being received; emptied at every start
//! ```
//!
//! # Commit protocol
//!
//! A write streams into `tmp/`, where nothing is visible; the caller checks its digests; then
//! [`ObjectStore::commit_object`] fsyncs the file, renames it into `blobs/`, fsyncs that folder,
//! and only then records the object in one redb transaction (fsynced at commit). A crash before
//! the commit leaves at most an unreferenced blob, which the server removes in the background
//! after the next start (a start finds the store still marked open only after a crash: a
//! clean start never scans the blobs); a crash after it leaves the object whole. Blobs an overwrite or a delete
//! releases are removed after the commit (an open reader keeps reading its file).

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

/// The data folder format this build reads and writes.
pub const FORMAT_VERSION: u32 = 2;
/// The file naming the format.
pub const FORMAT_FILE: &str = "local-s3-format";
const FORMAT_PREFIX: &str = "local-s3 object store, format ";
const DB_FILE: &str = "metadata.redb";
const BLOBS: &str = "blobs";
const TMP: &str = "tmp";

/// The largest object a single PutObject may carry (S3's limit: 5 GiB).
pub const MAX_PUT_BYTES: u64 = 5 << 30;
/// Multipart parts other than the last must be at least this large (S3's 5 MiB).
pub const MIN_PART_BYTES: u64 = 5 << 20;
/// The longest key S3 accepts, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
/// bucket-prefixed key -> the current version (absent when the newest is a delete marker).
const CURRENT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("current");
/// bucket-prefixed key, 0x00, !sequence -> a version: by key (bytewise), newest first (keys
/// never hold U+0000, so a key's versions sort before those of the keys it prefixes).
const VERSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("versions");
const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");
/// upload id, '/', part number (big-endian) -> a part.
const PARTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("parts");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_FORMAT: &str = "format";
const META_SEQUENCE: &str = "sequence";
const META_SALT: &str = "salt";
/// 1 while a server has the store open: found at 1 on opening, the last run did not stop
/// cleanly, and stray blobs are collected.
const META_OPEN: &str = "open";

/// Why the store could not answer: S3 errors the protocol layer maps to codes, or a fault of
/// the machine (disk, database) that it answers with 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The bucket does not exist.
    #[error("the bucket {0:?} does not exist")]
    NoSuchBucket(String),
    /// The bucket still has objects, versions or uploads.
    #[error("the bucket {0:?} is not empty")]
    BucketNotEmpty(String),
    /// No object has this key (or its newest version is a delete marker).
    #[error("no object has the key {0:?}")]
    NoSuchKey(String),
    /// The key has no version with this id.
    #[error("the key {key:?} has no version {version:?}")]
    NoSuchVersion {
        /// The key.
        key: String,
        /// The version id asked for.
        version: String,
    },
    /// The version asked for is a delete marker (S3: 405 MethodNotAllowed).
    #[error("version {0:?} is a delete marker")]
    DeleteMarker(String),
    /// A write's `If-Match` / `If-None-Match` did not hold.
    #[error("the precondition {0} did not hold")]
    PreconditionFailed(&'static str),
    /// No multipart upload has this id (for this bucket and key).
    #[error("no multipart upload {0:?}")]
    NoSuchUpload(String),
    /// A completion names a part that was not uploaded, or with another ETag.
    #[error("part {0} was not uploaded with the ETag given")]
    InvalidPart(u32),
    /// A completion lists its parts out of order, or none.
    #[error("the parts must be listed in ascending order, at least one")]
    InvalidPartOrder,
    /// A part other than the last is below 5 MiB (`MIN_PART_BYTES`).
    #[error("part {part} has {size} bytes; parts but the last need at least {MIN_PART_BYTES}")]
    EntityTooSmall {
        /// The part number.
        part: u32,
        /// Its size.
        size: u64,
    },
    /// A file of the store could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: io::Error,
    },
    /// The metadata database failed.
    #[error("metadata database: {0}")]
    Db(#[from] redb::Error),
    /// A record of the database does not decode (a bug, or a damaged file).
    #[error("damaged record in the metadata database: {0}")]
    Record(#[from] serde_json::Error),
}

/// Why a data folder cannot be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A file or folder of the store could not be created or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The folder holds another format of the store.
    #[error(
        "{} holds local-s3 data of format {found:?}; this build reads format {FORMAT_VERSION} only: use another folder, or the matching build",
        path.display()
    )]
    OtherFormat {
        /// The folder.
        path: PathBuf,
        /// The format file's content.
        found: String,
    },
    /// The folder holds an older local-s3's layout (s3s-fs: buckets as folders, keys as paths).
    #[error(
        "{} holds data of an older local-s3 (s3s-fs layout: keys as file paths, found {found:?}); it cannot be read as is: move it away, start on an empty folder and upload the files again",
        path.display()
    )]
    OldLayout {
        /// The folder.
        path: PathBuf,
        /// The entry that gave it away.
        found: String,
    },
    /// The folder has a metadata database but no format file: not ours to guess.
    #[error("{} has {DB_FILE} but no {FORMAT_FILE}: refusing to guess its format", path.display())]
    MissingFormat {
        /// The folder.
        path: PathBuf,
    },
    /// The metadata database cannot be opened (in use by another server, damaged...).
    #[error("cannot open {}: {source}", path.display())]
    Db {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: redb::Error,
    },
}

/// A bucket's versioning state, as S3 has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Never enabled: one version per key, id `null`, and responses carry no version id.
    Disabled,
    /// Every write makes a new version with its own id; deletes add delete markers.
    Enabled,
    /// Was enabled: writes replace the `null` version, old versions stay.
    Suspended,
}

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// When it was created.
    pub created: SystemTime,
    /// Its versioning state.
    pub versioning: Versioning,
}

/// What is kept of an object besides its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// User metadata (`x-amz-meta-*`).
    pub metadata: BTreeMap<String, String>,
}

/// The `x-amz-checksum-*` values of an object (base64, as on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    /// CRC32.
    pub crc32: Option<String>,
    /// CRC32C.
    pub crc32c: Option<String>,
    /// SHA-1.
    pub sha1: Option<String>,
    /// SHA-256.
    pub sha256: Option<String>,
    /// CRC64NVME.
    pub crc64nvme: Option<String>,
}

/// One version of a key: an object, or a delete marker.
#[allow(clippy::struct_field_names, reason = "S3's name")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The store-wide sequence number of the write that made it.
    pub seq: u64,
    /// Its id; `None` is the `null` version.
    pub version_id: Option<String>,
    /// A delete marker has no bytes.
    pub delete_marker: bool,
    /// The blob holding the bytes (`None`: empty object or delete marker).
    pub blob: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// The ETag, without quotes.
    pub etag: String,
    /// When it was written.
    pub last_modified: SystemTime,
    /// Content headers and user metadata.
    pub attributes: Attributes,
    /// The checksums given or computed at upload.
    pub checksums: Checksums,
}

impl Version {
    /// The version id as S3 spells it (`"null"` for the null version).
    pub fn id(&self) -> &str {
        self.version_id.as_deref().unwrap_or("null")
    }
}

/// What a write stores besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct NewObject {
    /// Size in bytes.
    pub size: u64,
    /// The ETag, without quotes.
    pub etag: String,
    /// Content headers and user metadata.
    pub attributes: Attributes,
    /// Checksums.
    pub checksums: Checksums,
}

/// The condition of a write, checked in the committing transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Unconditional.
    None,
    /// `If-None-Match: *`: only if the key has no current object.
    Absent,
    /// `If-Match: *`: only if the key has a current object.
    Exists,
    /// `If-Match: "etag"`: only if the current object has this ETag.
    ETag(String),
}

impl WriteCondition {
    /// Whether the condition holds given the key's current object.
    pub fn check(&self, current: Option<&Version>) -> Result<(), StoreError> {
        let holds = match self {
            Self::None => true,
            Self::Absent => current.is_none(),
            Self::Exists => current.is_some(),
            Self::ETag(etag) => current.is_some_and(|c| c.etag == *etag),
        };
        if holds {
            Ok(())
        } else {
            Err(StoreError::PreconditionFailed(match self {
                Self::Absent => "If-None-Match",
                _ => "If-Match",
            }))
        }
    }
}

/// The outcome of a DeleteObject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// The version removed, or the delete marker added (`None`: unversioned bucket).
    pub version_id: Option<String>,
    /// Whether that version is a delete marker.
    pub delete_marker: bool,
}

/// A listing request (ListObjects and ListObjectsV2 alike).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up to common prefixes at the first occurrence of this after the prefix.
    pub delimiter: Option<String>,
    /// Start strictly after this (the marker, `StartAfter`, or a continuation token's
    /// position); common prefixes at or before it are skipped too.
    pub after: Option<Vec<u8>>,
    /// At most this many keys and common prefixes together.
    pub max: usize,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    /// An object (its current version).
    Object(String, Box<Version>),
    /// A common prefix.
    Prefix(String),
}

/// A page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// Keys and common prefixes, in order.
    pub entries: Vec<ListEntry>,
    /// Whether more follow.
    pub truncated: bool,
    /// Where the next page starts (exclusive), when truncated.
    pub resume_after: Option<Vec<u8>>,
}

/// One entry of a version listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionEntry {
    /// A version or a delete marker.
    Version {
        /// Its key.
        key: String,
        /// The version.
        version: Box<Version>,
        /// Whether it is the key's newest.
        latest: bool,
    },
    /// A common prefix.
    Prefix(String),
}

/// A page of a version listing.
#[derive(Debug, Clone, Default)]
pub struct VersionPage {
    /// Versions, delete markers and common prefixes, in order.
    pub entries: Vec<VersionEntry>,
    /// Whether more follow.
    pub truncated: bool,
    /// Where the next page starts: after this key...
    pub next_key_marker: Option<String>,
    /// ...and this version of it (`None`: after all its versions).
    pub next_version_marker: Option<String>,
}

/// A multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The object's attributes.
    pub attributes: Attributes,
    /// When it was created.
    pub initiated: SystemTime,
}

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// Its number (1..=10000).
    pub number: u32,
    /// Its ETag (the hex MD5 of its bytes).
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// Its blob (`None` when empty).
    pub blob: Option<String>,
    /// When it was uploaded.
    pub last_modified: SystemTime,
}

/// A file being received in `tmp/`: invisible until committed.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
}

impl Staged {
    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Committed files were renamed away; anything left is a refused or failed upload.
        let _ = fs::remove_file(&self.path);
    }
}

/// The store. Cheap operations run on the caller's thread; those that fsync should run on a
/// blocking thread ([`tokio::task::spawn_blocking`]).
#[derive(Debug)]
pub struct ObjectStore {
    root: PathBuf,
    db: Database,
    /// The last run did not stop cleanly.
    crashed: bool,
    boot_nanos: u128,
    boot: String,
    counter: AtomicU64,
    salt: u64,
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

fn db<T, E: Into<redb::Error>>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Db(e.into()))
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, StoreError> {
    Ok(serde_json::from_slice(bytes)?)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    Ok(serde_json::to_vec(value)?)
}

/// `[len][bucket][key]`: the CURRENT table's key; keys of a bucket sort bytewise.
fn object_key(bucket: &str, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + bucket.len() + key.len());
    out.push(u8::try_from(bucket.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(bucket.as_bytes());
    out.extend_from_slice(key);
    out
}

/// Past every key of a bucket: keys are UTF-8, which never has the byte 0xFF.
fn bucket_end(bucket: &str) -> Vec<u8> {
    object_key(bucket, &[0xFF])
}

fn version_key(bucket: &str, key: &str, seq: u64) -> Vec<u8> {
    let mut out = object_key(bucket, key.as_bytes());
    out.push(0);
    out.extend_from_slice(&(!seq).to_be_bytes());
    out
}

fn versions_range(bucket: &str, key: &str) -> (Vec<u8>, Vec<u8>) {
    let mut start = object_key(bucket, key.as_bytes());
    start.push(0);
    let mut end = start.clone();
    end.extend_from_slice(&[0xFF; 9]);
    (start, end)
}

/// The key of a VERSIONS entry, and the bucket prefix's length.
fn key_of_version_entry(entry: &[u8], base: usize) -> &[u8] {
    &entry[base..entry.len().saturating_sub(9)]
}

fn part_key(upload_id: &str, number: u32) -> Vec<u8> {
    let mut out = upload_id.as_bytes().to_vec();
    out.push(b'/');
    out.extend_from_slice(&number.to_be_bytes());
    out
}

fn parts_range(upload_id: &str) -> (Vec<u8>, Vec<u8>) {
    (part_key(upload_id, 0), part_key(upload_id, u32::MAX))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Encodes a listing position as an opaque continuation token.
pub fn token_of(position: &[u8]) -> String {
    hex(position)
}

/// The position a continuation token names; `None` if it is not one of ours.
pub fn position_of(token: &str) -> Option<Vec<u8>> {
    unhex(token)
}

fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

impl ObjectStore {
    /// Opens (or creates) the store in `root`. Refuses a folder of another format, or one
    /// that an older local-s3 (s3s-fs) filled.
    #[allow(
        clippy::too_many_lines,
        reason = "the opening checks, in the order they run"
    )]
    pub fn open(root: &Path) -> Result<ObjectStore, OpenError> {
        let at = |path: &Path| {
            let path = path.to_owned();
            move |source| OpenError::Io { path, source }
        };
        fs::create_dir_all(root).map_err(at(root))?;
        let format_path = root.join(FORMAT_FILE);
        let db_path = root.join(DB_FILE);
        match fs::read_to_string(&format_path) {
            Ok(found) => {
                if found.trim_end() != format!("{FORMAT_PREFIX}{FORMAT_VERSION}") {
                    return Err(OpenError::OtherFormat {
                        path: root.to_owned(),
                        found: found.trim_end().to_owned(),
                    });
                }
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                if db_path.exists() {
                    return Err(OpenError::MissingFormat {
                        path: root.to_owned(),
                    });
                }
                for entry in fs::read_dir(root).map_err(at(root))? {
                    let name = entry.map_err(at(root))?.file_name();
                    let name = name.to_string_lossy();
                    if name.starts_with(".bucket-")
                        || name.starts_with(".upload")
                        || name.starts_with(".tmp.")
                    {
                        return Err(OpenError::OldLayout {
                            path: root.to_owned(),
                            found: name.into_owned(),
                        });
                    }
                }
                let mut file = File::create(&format_path).map_err(at(&format_path))?;
                writeln!(file, "{FORMAT_PREFIX}{FORMAT_VERSION}").map_err(at(&format_path))?;
                file.sync_all().map_err(at(&format_path))?;
                sync_dir(root).map_err(at(root))?;
            }
            Err(error) => return Err(at(&format_path)(error)),
        }
        let tmp = root.join(TMP);
        // Whatever is there was being received when the last server stopped: never committed.
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(at(&tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(at(&tmp))?;
        fs::create_dir_all(root.join(BLOBS)).map_err(at(root))?;

        let db_error = |source: redb::Error| OpenError::Db {
            path: db_path.clone(),
            source,
        };
        let db = Database::create(&db_path).map_err(|e| db_error(e.into()))?;
        let boot_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let salt;
        let crashed;
        {
            let txn = db.begin_write().map_err(|e| db_error(e.into()))?;
            {
                let mut meta = txn.open_table(META).map_err(|e| db_error(e.into()))?;
                let format = meta
                    .get(META_FORMAT)
                    .map_err(|e| db_error(e.into()))?
                    .map(|v| v.value());
                match format {
                    Some(v) if v == u64::from(FORMAT_VERSION) => {}
                    Some(v) => {
                        return Err(OpenError::OtherFormat {
                            path: root.to_owned(),
                            found: format!("database format {v}"),
                        });
                    }
                    None => {
                        meta.insert(META_FORMAT, u64::from(FORMAT_VERSION))
                            .map_err(|e| db_error(e.into()))?;
                    }
                }
                let existing = meta
                    .get(META_SALT)
                    .map_err(|e| db_error(e.into()))?
                    .map(|v| v.value());
                salt = match existing {
                    Some(salt) => salt,
                    None => {
                        #[allow(clippy::cast_possible_truncation, reason = "any bits will do")]
                        let salt = (boot_nanos as u64).rotate_left(17) ^ 0x9E37_79B9_7F4A_7C15;
                        meta.insert(META_SALT, salt)
                            .map_err(|e| db_error(e.into()))?;
                        salt
                    }
                };
                crashed = meta
                    .insert(META_OPEN, 1)
                    .map_err(|e| db_error(e.into()))?
                    .is_some_and(|previous| previous.value() == 1);
                // Create every table, so readers never meet a missing one.
                txn.open_table(BUCKETS).map_err(|e| db_error(e.into()))?;
                txn.open_table(CURRENT).map_err(|e| db_error(e.into()))?;
                txn.open_table(VERSIONS).map_err(|e| db_error(e.into()))?;
                txn.open_table(UPLOADS).map_err(|e| db_error(e.into()))?;
                txn.open_table(PARTS).map_err(|e| db_error(e.into()))?;
            }
            txn.commit().map_err(|e| db_error(e.into()))?;
        }
        let store = ObjectStore {
            root: root.to_owned(),
            db,
            crashed,
            boot_nanos,
            boot: format!("{boot_nanos:x}"),
            counter: AtomicU64::new(0),
            salt,
        };
        Ok(store)
    }

    /// The data folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the last run did not stop cleanly (the store was still marked open): its
    /// interrupted writes may have left blobs no record refers to, which
    /// [`collect_garbage`](Self::collect_garbage) removes.
    pub fn recovered_from_crash(&self) -> bool {
        self.crashed
    }

    /// Removes the blobs of earlier runs that no record refers to (left by a crash between a
    /// blob's rename and its transaction). Returns how many were removed. Needed only when
    /// [`recovered_from_crash`](Self::recovered_from_crash); safe while the store serves.
    pub fn collect_garbage(&self) -> Result<usize, StoreError> {
        let mut referenced = HashSet::new();
        {
            let txn = db(self.db.begin_read())?;
            let versions = db(txn.open_table(VERSIONS))?;
            for item in db(versions.iter())? {
                let (_, value) = db(item)?;
                if let Some(blob) = decode::<Version>(value.value())?.blob {
                    referenced.insert(blob);
                }
            }
            let parts = db(txn.open_table(PARTS))?;
            for item in db(parts.iter())? {
                let (_, value) = db(item)?;
                if let Some(blob) = decode::<PartRecord>(value.value())?.blob {
                    referenced.insert(blob);
                }
            }
        }
        let mut removed = 0;
        let blobs = self.root.join(BLOBS);
        for shard in fs::read_dir(&blobs).map_err(io_error("listing blobs"))? {
            let shard = shard.map_err(io_error("listing blobs"))?.path();
            let Ok(entries) = fs::read_dir(&shard) else {
                continue;
            };
            for entry in entries {
                let entry = entry.map_err(io_error("listing blobs"))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                // Only blobs of earlier runs: this run's may be committed any moment.
                let earlier = name
                    .split_once('-')
                    .and_then(|(boot, _)| u128::from_str_radix(boot, 16).ok())
                    .is_some_and(|boot| boot < self.boot_nanos);
                if earlier && !referenced.contains(&name) {
                    match fs::remove_file(entry.path()) {
                        Ok(()) => removed += 1,
                        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                        Err(error) => return Err(io_error("removing a stray blob")(error)),
                    }
                }
            }
        }
        Ok(removed)
    }

    fn blob_path(&self, id: &str) -> PathBuf {
        let shard = id.get(id.len().saturating_sub(2)..).unwrap_or("00");
        self.root.join(BLOBS).join(shard).join(id)
    }

    fn new_id(&self) -> String {
        format!(
            "{}-{:x}",
            self.boot,
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A new file in `tmp/` to receive an upload into.
    pub fn stage(&self) -> Result<(Staged, File), StoreError> {
        let path = self.root.join(TMP).join(self.new_id());
        let file = File::create(&path).map_err(io_error("creating a staging file"))?;
        Ok((Staged { path }, file))
    }

    /// fsyncs a staged file and moves it into `blobs/`: durable, still unreferenced.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "a promoted file is no longer staged"
    )]
    fn promote(&self, staged: Staged) -> Result<String, StoreError> {
        File::open(&staged.path)
            .and_then(|f| f.sync_all())
            .map_err(io_error("syncing an upload"))?;
        let id = self.new_id();
        let path = self.blob_path(&id);
        let shard = path.parent().unwrap_or(&self.root).to_owned();
        fs::create_dir_all(&shard).map_err(io_error("creating a blob folder"))?;
        fs::rename(&staged.path, &path).map_err(io_error("moving an upload into place"))?;
        sync_dir(&shard).map_err(io_error("syncing the blob folder"))?;
        Ok(id)
    }

    fn release(&self, blobs: impl IntoIterator<Item = String>) {
        for blob in blobs {
            let path = self.blob_path(&blob);
            if let Err(error) = fs::remove_file(&path)
                && error.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), %error, "cannot remove a released blob");
            }
        }
    }

    /// Opens an object's bytes.
    pub fn open_blob(&self, version: &Version) -> io::Result<Option<File>> {
        version
            .blob
            .as_deref()
            .map(|blob| File::open(self.blob_path(blob)))
            .transpose()
    }

    fn version_id_of(&self, seq: u64) -> String {
        format!(
            "{seq:016x}{:016x}",
            (seq ^ self.salt).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        )
    }

    // ---------------------------------------------------------------- buckets

    /// Creates a bucket; `false` if it existed (its versioning is then left as is, unless
    /// `versioning` is [`Versioning::Enabled`]).
    pub fn create_bucket(&self, name: &str, versioning: Versioning) -> Result<bool, StoreError> {
        let txn = db(self.db.begin_write())?;
        let created = {
            let mut buckets = db(txn.open_table(BUCKETS))?;
            let existing = match db(buckets.get(name))? {
                Some(v) => Some(decode::<BucketRecord>(v.value())?),
                None => None,
            };
            match existing {
                Some(mut record) => {
                    if versioning == Versioning::Enabled && record.versioning != versioning {
                        record.versioning = versioning;
                        db(buckets.insert(name, encode(&record)?.as_slice()))?;
                    }
                    false
                }
                None => {
                    let record = BucketRecord {
                        created: SystemTime::now(),
                        versioning,
                    };
                    db(buckets.insert(name, encode(&record)?.as_slice()))?;
                    true
                }
            }
        };
        db(txn.commit())?;
        Ok(created)
    }

    /// A bucket, if it exists.
    pub fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        let txn = db(self.db.begin_read())?;
        let buckets = db(txn.open_table(BUCKETS))?;
        match db(buckets.get(name))? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// Every bucket, by name.
    pub fn buckets(&self) -> Result<Vec<(String, BucketRecord)>, StoreError> {
        let txn = db(self.db.begin_read())?;
        let buckets = db(txn.open_table(BUCKETS))?;
        let mut out = Vec::new();
        for item in db(buckets.iter())? {
            let (k, v) = db(item)?;
            out.push((k.value().to_owned(), decode(v.value())?));
        }
        Ok(out)
    }

    /// Sets a bucket's versioning (`Disabled` cannot be set again once enabled: it becomes
    /// `Suspended`, as on S3).
    pub fn set_versioning(&self, name: &str, versioning: Versioning) -> Result<(), StoreError> {
        let txn = db(self.db.begin_write())?;
        {
            let mut buckets = db(txn.open_table(BUCKETS))?;
            let mut record: BucketRecord = match db(buckets.get(name))? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::NoSuchBucket(name.to_owned())),
            };
            record.versioning = match (record.versioning, versioning) {
                (Versioning::Disabled, Versioning::Suspended) => Versioning::Disabled,
                (Versioning::Enabled | Versioning::Suspended, Versioning::Disabled) => {
                    Versioning::Suspended
                }
                (_, wanted) => wanted,
            };
            db(buckets.insert(name, encode(&record)?.as_slice()))?;
        }
        db(txn.commit())
    }

    /// Deletes an empty bucket.
    pub fn delete_bucket(&self, name: &str) -> Result<(), StoreError> {
        let txn = db(self.db.begin_write())?;
        {
            let mut buckets = db(txn.open_table(BUCKETS))?;
            if db(buckets.get(name))?.is_none() {
                return Err(StoreError::NoSuchBucket(name.to_owned()));
            }
            let versions = db(txn.open_table(VERSIONS))?;
            let start = object_key(name, b"");
            let end = bucket_end(name);
            let has_versions = db(versions.range(start.as_slice()..end.as_slice()))?
                .next()
                .is_some();
            let uploads = db(txn.open_table(UPLOADS))?;
            let mut has_uploads = false;
            for item in db(uploads.iter())? {
                let (_, v) = db(item)?;
                if decode::<UploadRecord>(v.value())?.bucket == name {
                    has_uploads = true;
                    break;
                }
            }
            if has_versions || has_uploads {
                return Err(StoreError::BucketNotEmpty(name.to_owned()));
            }
            db(buckets.remove(name))?;
        }
        db(txn.commit())
    }

    fn require_bucket(
        buckets: &impl ReadableTable<&'static str, &'static [u8]>,
        name: &str,
    ) -> Result<BucketRecord, StoreError> {
        match db(buckets.get(name))? {
            Some(v) => decode(v.value()),
            None => Err(StoreError::NoSuchBucket(name.to_owned())),
        }
    }

    // ---------------------------------------------------------------- objects

    /// The bucket's record and the version a read asks for: the current one, or `version`
    /// (`"null"` for the null version).
    pub fn head(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<(BucketRecord, Version), StoreError> {
        let txn = db(self.db.begin_read())?;
        let record = Self::require_bucket(&db(txn.open_table(BUCKETS))?, bucket)?;
        let found = match version {
            None => {
                let current = db(txn.open_table(CURRENT))?;
                match db(current.get(object_key(bucket, key.as_bytes()).as_slice()))? {
                    Some(v) => decode::<Version>(v.value())?,
                    None => return Err(StoreError::NoSuchKey(key.to_owned())),
                }
            }
            Some(wanted) => {
                let versions = db(txn.open_table(VERSIONS))?;
                let found = Self::find_version(&versions, bucket, key, wanted)?;
                found.ok_or_else(|| StoreError::NoSuchVersion {
                    key: key.to_owned(),
                    version: wanted.to_owned(),
                })?
            }
        };
        if found.delete_marker {
            return Err(StoreError::DeleteMarker(found.id().to_owned()));
        }
        Ok((record, found))
    }

    fn find_version(
        versions: &impl ReadableTable<&'static [u8], &'static [u8]>,
        bucket: &str,
        key: &str,
        wanted: &str,
    ) -> Result<Option<Version>, StoreError> {
        if wanted == "null" {
            let (start, end) = versions_range(bucket, key);
            for item in db(versions.range(start.as_slice()..end.as_slice()))? {
                let (_, v) = db(item)?;
                let version: Version = decode(v.value())?;
                if version.version_id.is_none() {
                    return Ok(Some(version));
                }
            }
            return Ok(None);
        }
        let Some(seq) = wanted
            .get(..16)
            .and_then(|s| u64::from_str_radix(s, 16).ok())
        else {
            return Ok(None);
        };
        match db(versions.get(version_key(bucket, key, seq).as_slice()))? {
            Some(v) => {
                let version: Version = decode(v.value())?;
                Ok((version.version_id.as_deref() == Some(wanted)).then_some(version))
            }
            None => Ok(None),
        }
    }

    fn next_seq(txn: &redb::WriteTransaction) -> Result<u64, StoreError> {
        let mut meta = db(txn.open_table(META))?;
        let next = db(meta.get(META_SEQUENCE))?.map_or(1, |v| v.value() + 1);
        db(meta.insert(META_SEQUENCE, next))?;
        Ok(next)
    }

    /// Adds `version` as the newest of `key`, dropping the null version it replaces when it
    /// is one itself; returns the blobs released.
    fn add_version(
        txn: &redb::WriteTransaction,
        bucket: &str,
        key: &str,
        version: &Version,
    ) -> Result<Vec<String>, StoreError> {
        let mut versions = db(txn.open_table(VERSIONS))?;
        let mut current = db(txn.open_table(CURRENT))?;
        let mut released = Vec::new();
        if version.version_id.is_none() {
            let (start, end) = versions_range(bucket, key);
            let mut nulls = Vec::new();
            for item in db(versions.range(start.as_slice()..end.as_slice()))? {
                let (k, v) = db(item)?;
                let old: Version = decode(v.value())?;
                if old.version_id.is_none() {
                    nulls.push((k.value().to_vec(), old.blob));
                }
            }
            for (k, blob) in nulls {
                db(versions.remove(k.as_slice()))?;
                released.extend(blob);
            }
        }
        let encoded = encode(version)?;
        db(versions.insert(
            version_key(bucket, key, version.seq).as_slice(),
            encoded.as_slice(),
        ))?;
        let okey = object_key(bucket, key.as_bytes());
        if version.delete_marker {
            db(current.remove(okey.as_slice()))?;
        } else {
            db(current.insert(okey.as_slice(), encoded.as_slice()))?;
        }
        Ok(released)
    }

    /// Commits an object: the staged bytes (`None`: empty) become `key`'s newest version if
    /// `condition` holds at the commit. All or nothing.
    pub fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        staged: Option<Staged>,
        object: NewObject,
        condition: &WriteCondition,
    ) -> Result<(BucketRecord, Version), StoreError> {
        let blob = staged.map(|s| self.promote(s)).transpose()?;
        let result = self.commit_version(bucket, key, blob.clone(), object, condition, None);
        if result.is_err() {
            self.release(blob);
        }
        result
    }

    fn commit_version(
        &self,
        bucket: &str,
        key: &str,
        blob: Option<String>,
        object: NewObject,
        condition: &WriteCondition,
        upload: Option<&str>,
    ) -> Result<(BucketRecord, Version), StoreError> {
        let txn = db(self.db.begin_write())?;
        let (record, version, mut released) = {
            let record = Self::require_bucket(&db(txn.open_table(BUCKETS))?, bucket)?;
            let mut released = Vec::new();
            if let Some(upload_id) = upload {
                released = Self::remove_upload(&txn, upload_id, bucket, key)?;
            }
            let current = {
                let table = db(txn.open_table(CURRENT))?;
                match db(table.get(object_key(bucket, key.as_bytes()).as_slice()))? {
                    Some(v) => Some(decode::<Version>(v.value())?),
                    None => None,
                }
            };
            condition.check(current.as_ref())?;
            let seq = Self::next_seq(&txn)?;
            let version = Version {
                seq,
                version_id: (record.versioning == Versioning::Enabled)
                    .then(|| self.version_id_of(seq)),
                delete_marker: false,
                blob,
                size: object.size,
                etag: object.etag,
                last_modified: SystemTime::now(),
                attributes: object.attributes,
                checksums: object.checksums,
            };
            released.extend(Self::add_version(&txn, bucket, key, &version)?);
            (record, version, released)
        };
        db(txn.commit())?;
        released.retain(|b| Some(b) != version.blob.as_ref());
        self.release(released);
        Ok((record, version))
    }

    /// DeleteObject: as S3 does it for the bucket's versioning state.
    pub fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<(BucketRecord, Deleted), StoreError> {
        let txn = db(self.db.begin_write())?;
        let (record, deleted, released) = {
            let record = Self::require_bucket(&db(txn.open_table(BUCKETS))?, bucket)?;
            match version {
                Some(wanted) => {
                    let mut versions = db(txn.open_table(VERSIONS))?;
                    let Some(found) = Self::find_version(&versions, bucket, key, wanted)? else {
                        return Err(StoreError::NoSuchVersion {
                            key: key.to_owned(),
                            version: wanted.to_owned(),
                        });
                    };
                    db(versions.remove(version_key(bucket, key, found.seq).as_slice()))?;
                    // The newest remaining version becomes current (unless a delete marker).
                    let (start, end) = versions_range(bucket, key);
                    let newest = match db(versions.range(start.as_slice()..end.as_slice()))?
                        .next()
                        .transpose()
                    {
                        Ok(Some((_, v))) => Some(decode::<Version>(v.value())?),
                        Ok(None) => None,
                        Err(e) => return Err(StoreError::Db(e.into())),
                    };
                    let mut current = db(txn.open_table(CURRENT))?;
                    let okey = object_key(bucket, key.as_bytes());
                    match newest.filter(|v| !v.delete_marker) {
                        Some(v) => db(current.insert(okey.as_slice(), encode(&v)?.as_slice()))?,
                        None => db(current.remove(okey.as_slice()))?,
                    };
                    let deleted = Deleted {
                        version_id: Some(found.id().to_owned()),
                        delete_marker: found.delete_marker,
                    };
                    (record, deleted, found.blob.into_iter().collect())
                }
                None if record.versioning == Versioning::Disabled => {
                    let mut versions = db(txn.open_table(VERSIONS))?;
                    let (start, end) = versions_range(bucket, key);
                    let mut gone = Vec::new();
                    for item in db(versions.range(start.as_slice()..end.as_slice()))? {
                        let (k, v) = db(item)?;
                        gone.push((k.value().to_vec(), decode::<Version>(v.value())?.blob));
                    }
                    let mut released = Vec::new();
                    for (k, blob) in gone {
                        db(versions.remove(k.as_slice()))?;
                        released.extend(blob);
                    }
                    let mut current = db(txn.open_table(CURRENT))?;
                    db(current.remove(object_key(bucket, key.as_bytes()).as_slice()))?;
                    let deleted = Deleted {
                        version_id: None,
                        delete_marker: false,
                    };
                    (record, deleted, released)
                }
                None => {
                    let seq = Self::next_seq(&txn)?;
                    let marker = Version {
                        seq,
                        version_id: (record.versioning == Versioning::Enabled)
                            .then(|| self.version_id_of(seq)),
                        delete_marker: true,
                        blob: None,
                        size: 0,
                        etag: String::new(),
                        last_modified: SystemTime::now(),
                        attributes: Attributes::default(),
                        checksums: Checksums::default(),
                    };
                    let released = Self::add_version(&txn, bucket, key, &marker)?;
                    let deleted = Deleted {
                        version_id: Some(marker.id().to_owned()),
                        delete_marker: true,
                    };
                    (record, deleted, released)
                }
            }
        };
        db(txn.commit())?;
        self.release(released);
        Ok((record, deleted))
    }

    /// Every version of a key, newest first (delete markers included).
    pub fn versions(&self, bucket: &str, key: &str) -> Result<Vec<Version>, StoreError> {
        let txn = db(self.db.begin_read())?;
        Self::require_bucket(&db(txn.open_table(BUCKETS))?, bucket)?;
        let versions = db(txn.open_table(VERSIONS))?;
        let (start, end) = versions_range(bucket, key);
        let mut out = Vec::new();
        for item in db(versions.range(start.as_slice()..end.as_slice()))? {
            let (_, v) = db(item)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    /// One page of the bucket's current objects, as ListObjects(V2) lists them.
    pub fn list(&self, bucket: &str, query: &ListQuery) -> Result<ListPage, StoreError> {
        let txn = db(self.db.begin_read())?;
        Self::require_bucket(&db(txn.open_table(BUCKETS))?, bucket)?;
        let current = db(txn.open_table(CURRENT))?;
        let mut page = ListPage::default();
        if query.max == 0 {
            return Ok(page);
        }
        let base = 1 + bucket.len();
        let prefix = query.prefix.as_bytes();
        let delimiter = query
            .delimiter
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(str::as_bytes);
        let after = query.after.as_deref();
        let end = bucket_end(bucket);
        // Inclusive start, past `after`.
        let mut start = object_key(bucket, prefix);
        if let Some(after) = after
            && after >= prefix
        {
            start = object_key(bucket, after);
            start.push(0);
        }
        let mut last: Option<Vec<u8>> = None;
        'seek: loop {
            for item in db(current.range(start.as_slice()..end.as_slice()))? {
                let (k, v) = db(item)?;
                let key = &k.value()[base..];
                if !key.starts_with(prefix) {
                    break 'seek;
                }
                let rolled = delimiter.and_then(|d| {
                    let rest = &key[prefix.len()..];
                    rest.windows(d.len())
                        .position(|w| w == d)
                        .map(|i| &key[..prefix.len() + i + d.len()])
                });
                if let Some(common) = rolled {
                    let mut past = common.to_vec();
                    past.push(0xFF);
                    if after.is_none_or(|a| common > a) {
                        if page.entries.len() == query.max {
                            page.truncated = true;
                            break 'seek;
                        }
                        page.entries.push(ListEntry::Prefix(
                            String::from_utf8_lossy(common).into_owned(),
                        ));
                        last = Some(past.clone());
                    }
                    start = object_key(bucket, &past);
                    continue 'seek;
                }
                if page.entries.len() == query.max {
                    page.truncated = true;
                    break 'seek;
                }
                page.entries.push(ListEntry::Object(
                    String::from_utf8_lossy(key).into_owned(),
                    Box::new(decode(v.value())?),
                ));
                last = Some(key.to_vec());
            }
            break;
        }
        if page.truncated {
            page.resume_after = last;
        }
        Ok(page)
    }

    /// One page of ListObjectVersions: every version and delete marker, by key then newest
    /// first, keys rolled up at `delimiter`, starting after `key_marker` (all its versions,
    /// or, with `version_marker`, those up to that one).
    pub fn list_versions(
        &self,
        bucket: &str,
        query: &ListQuery,
        key_marker: Option<&str>,
        version_marker: Option<&str>,
    ) -> Result<VersionPage, StoreError> {
        let txn = db(self.db.begin_read())?;
        Self::require_bucket(&db(txn.open_table(BUCKETS))?, bucket)?;
        let versions = db(txn.open_table(VERSIONS))?;
        let mut page = VersionPage::default();
        if query.max == 0 {
            return Ok(page);
        }
        let base = 1 + bucket.len();
        let prefix = query.prefix.as_bytes();
        let delimiter = query
            .delimiter
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(str::as_bytes);
        let end = bucket_end(bucket);
        let mut start = object_key(bucket, prefix);
        // The key whose versions were partly listed already: its next one is not the latest.
        let mut previous: Option<Vec<u8>> = None;
        if let Some(marker) = key_marker.filter(|m| !m.is_empty()) {
            let resume = match version_marker.filter(|v| !v.is_empty()) {
                Some(wanted) => {
                    let found = Self::find_version(&versions, bucket, marker, wanted)?.ok_or_else(
                        || StoreError::NoSuchVersion {
                            key: marker.to_owned(),
                            version: wanted.to_owned(),
                        },
                    )?;
                    previous = Some(marker.as_bytes().to_vec());
                    let mut at = version_key(bucket, marker, found.seq);
                    at.push(0);
                    at
                }
                None => {
                    let mut at = object_key(bucket, marker.as_bytes());
                    at.push(1);
                    at
                }
            };
            start = start.max(resume);
        }
        let marker = key_marker.map(str::as_bytes);
        let mut last: Option<(String, String)> = None;
        'seek: loop {
            for item in db(versions.range(start.as_slice()..end.as_slice()))? {
                let (k, v) = db(item)?;
                let key = key_of_version_entry(k.value(), base);
                if !key.starts_with(prefix) {
                    break 'seek;
                }
                let rolled = delimiter.and_then(|d| {
                    let rest = &key[prefix.len()..];
                    rest.windows(d.len())
                        .position(|w| w == d)
                        .map(|i| &key[..prefix.len() + i + d.len()])
                });
                if let Some(common) = rolled {
                    if marker.is_none_or(|m| common > m) {
                        if page.entries.len() == query.max {
                            page.truncated = true;
                            break 'seek;
                        }
                        let common = String::from_utf8_lossy(common).into_owned();
                        page.entries.push(VersionEntry::Prefix(common.clone()));
                        last = Some((common, String::new()));
                    }
                    let mut past = common.to_vec();
                    past.push(0xFF);
                    start = object_key(bucket, &past);
                    continue 'seek;
                }
                if page.entries.len() == query.max {
                    page.truncated = true;
                    break 'seek;
                }
                let latest = previous.as_deref() != Some(key);
                previous = Some(key.to_vec());
                let version: Version = decode(v.value())?;
                let key = String::from_utf8_lossy(key).into_owned();
                last = Some((key.clone(), version.id().to_owned()));
                page.entries.push(VersionEntry::Version {
                    key,
                    version: Box::new(version),
                    latest,
                });
            }
            break;
        }
        if page.truncated
            && let Some((key, version)) = last
        {
            page.next_key_marker = Some(key);
            page.next_version_marker = (!version.is_empty()).then_some(version);
        }
        Ok(page)
    }

    // ---------------------------------------------------------------- multipart

    /// Starts a multipart upload; returns its id.
    pub fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        attributes: Attributes,
    ) -> Result<String, StoreError> {
        let txn = db(self.db.begin_write())?;
        let id = {
            Self::require_bucket(&db(txn.open_table(BUCKETS))?, bucket)?;
            let seq = Self::next_seq(&txn)?;
            let id = format!(
                "{}{:08x}",
                self.version_id_of(seq),
                self.counter.load(Ordering::Relaxed)
            );
            let record = UploadRecord {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                attributes,
                initiated: SystemTime::now(),
            };
            db(db(txn.open_table(UPLOADS))?.insert(id.as_str(), encode(&record)?.as_slice()))?;
            id
        };
        db(txn.commit())?;
        Ok(id)
    }

    fn upload_in(
        uploads: &impl ReadableTable<&'static str, &'static [u8]>,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<UploadRecord, StoreError> {
        match db(uploads.get(upload_id))? {
            Some(v) => {
                let record: UploadRecord = decode(v.value())?;
                if record.bucket == bucket && record.key == key {
                    Ok(record)
                } else {
                    Err(StoreError::NoSuchUpload(upload_id.to_owned()))
                }
            }
            None => Err(StoreError::NoSuchUpload(upload_id.to_owned())),
        }
    }

    /// The upload, if it exists for this bucket and key.
    pub fn upload(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<UploadRecord, StoreError> {
        let txn = db(self.db.begin_read())?;
        Self::require_bucket(&db(txn.open_table(BUCKETS))?, bucket)?;
        Self::upload_in(&db(txn.open_table(UPLOADS))?, upload_id, bucket, key)
    }

    /// Commits a part (replacing a part of the same number).
    #[allow(
        clippy::too_many_arguments,
        reason = "the upload's three ids and the part's four"
    )]
    pub fn commit_part(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
        number: u32,
        staged: Option<Staged>,
        etag: String,
        size: u64,
    ) -> Result<PartRecord, StoreError> {
        let blob = staged.map(|s| self.promote(s)).transpose()?;
        let result = (|| {
            let txn = db(self.db.begin_write())?;
            let (part, released) = {
                Self::upload_in(&db(txn.open_table(UPLOADS))?, upload_id, bucket, key)?;
                let mut parts = db(txn.open_table(PARTS))?;
                let part = PartRecord {
                    number,
                    etag,
                    size,
                    blob: blob.clone(),
                    last_modified: SystemTime::now(),
                };
                let pkey = part_key(upload_id, number);
                let old = match db(parts.insert(pkey.as_slice(), encode(&part)?.as_slice()))? {
                    Some(v) => decode::<PartRecord>(v.value())?.blob,
                    None => None,
                };
                (part, old)
            };
            db(txn.commit())?;
            self.release(released);
            Ok(part)
        })();
        if result.is_err() {
            self.release(blob);
        }
        result
    }

    /// The parts uploaded so far, by number.
    pub fn parts(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<PartRecord>, StoreError> {
        let txn = db(self.db.begin_read())?;
        Self::require_bucket(&db(txn.open_table(BUCKETS))?, bucket)?;
        Self::upload_in(&db(txn.open_table(UPLOADS))?, upload_id, bucket, key)?;
        let parts = db(txn.open_table(PARTS))?;
        let (start, end) = parts_range(upload_id);
        let mut out = Vec::new();
        for item in db(parts.range(start.as_slice()..=end.as_slice()))? {
            let (_, v) = db(item)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    /// Removes an upload and its parts from the tables; returns their blobs.
    fn remove_upload(
        txn: &redb::WriteTransaction,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut uploads = db(txn.open_table(UPLOADS))?;
        Self::upload_in(&uploads, upload_id, bucket, key)?;
        db(uploads.remove(upload_id))?;
        let mut parts = db(txn.open_table(PARTS))?;
        let (start, end) = parts_range(upload_id);
        let mut gone = Vec::new();
        for item in db(parts.range(start.as_slice()..=end.as_slice()))? {
            let (k, v) = db(item)?;
            gone.push((k.value().to_vec(), decode::<PartRecord>(v.value())?.blob));
        }
        let mut released = Vec::new();
        for (k, blob) in gone {
            db(parts.remove(k.as_slice()))?;
            released.extend(blob);
        }
        Ok(released)
    }

    /// AbortMultipartUpload.
    pub fn abort_upload(&self, upload_id: &str, bucket: &str, key: &str) -> Result<(), StoreError> {
        let txn = db(self.db.begin_write())?;
        Self::require_bucket(&db(txn.open_table(BUCKETS))?, bucket)?;
        let released = Self::remove_upload(&txn, upload_id, bucket, key)?;
        db(txn.commit())?;
        self.release(released);
        Ok(())
    }

    /// CompleteMultipartUpload: checks the parts named (`(number, ETag)`, ascending, each
    /// uploaded, all but the last at least 5 MiB (`MIN_PART_BYTES`)), joins them into one
    /// blob, and commits the object and the end of the upload in one transaction if `condition` holds.
    pub fn complete_upload(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
        requested: &[(u32, Option<String>)],
        condition: &WriteCondition,
    ) -> Result<(BucketRecord, Version), StoreError> {
        let upload = self.upload(upload_id, bucket, key)?;
        let uploaded: BTreeMap<u32, PartRecord> = self
            .parts(upload_id, bucket, key)?
            .into_iter()
            .map(|p| (p.number, p))
            .collect();
        if requested.is_empty() || !requested.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(StoreError::InvalidPartOrder);
        }
        let mut chosen = Vec::with_capacity(requested.len());
        for (i, (number, etag)) in requested.iter().enumerate() {
            let part = uploaded
                .get(number)
                .filter(|p| {
                    etag.as_deref()
                        .is_none_or(|e| e.trim_matches('"') == p.etag)
                })
                .ok_or(StoreError::InvalidPart(*number))?;
            if i + 1 < requested.len() && part.size < MIN_PART_BYTES {
                return Err(StoreError::EntityTooSmall {
                    part: *number,
                    size: part.size,
                });
            }
            chosen.push(part);
        }
        // Early refusal; checked again in the transaction.
        {
            let txn = db(self.db.begin_read())?;
            let table = db(txn.open_table(CURRENT))?;
            let current = match db(table.get(object_key(bucket, key.as_bytes()).as_slice()))? {
                Some(v) => Some(decode::<Version>(v.value())?),
                None => None,
            };
            condition.check(current.as_ref())?;
        }
        let (staged, mut file) = self.stage()?;
        let mut digests = Md5::new();
        let mut size = 0;
        for part in &chosen {
            if let Some(blob) = &part.blob {
                let mut source =
                    File::open(self.blob_path(blob)).map_err(io_error("opening a part"))?;
                size += io::copy(&mut source, &mut file).map_err(io_error("joining the parts"))?;
            }
            digests.update(unhex(&part.etag).unwrap_or_default());
        }
        drop(file);
        let etag = format!("{}-{}", hex(&digests.finalize()), chosen.len());
        let blob = (size > 0).then(|| self.promote(staged)).transpose()?;
        let object = NewObject {
            size,
            etag,
            attributes: upload.attributes,
            checksums: Checksums::default(),
        };
        let result = self.commit_version(
            bucket,
            key,
            blob.clone(),
            object,
            condition,
            Some(upload_id),
        );
        if result.is_err() {
            self.release(blob);
        }
        result
    }

    /// Seeds many objects in one transaction (for tests and measurements: 100,000 objects in
    /// seconds). Each `(key, bytes)` becomes an unconditional write of `bucket`.
    pub fn seed<'a>(
        &self,
        bucket: &str,
        objects: impl IntoIterator<Item = (String, &'a [u8])>,
    ) -> Result<usize, StoreError> {
        let mut staged = Vec::new();
        for (key, bytes) in objects {
            let (file_staged, mut file) = self.stage()?;
            file.write_all(bytes).map_err(io_error("writing a seed"))?;
            drop(file);
            let id = self.new_id();
            let path = self.blob_path(&id);
            fs::create_dir_all(path.parent().unwrap_or(&self.root))
                .map_err(io_error("creating a blob folder"))?;
            fs::rename(file_staged.path(), &path).map_err(io_error("moving a seed"))?;
            staged.push((key, id, bytes.len() as u64, hex(&Md5::digest(bytes))));
        }
        let count = staged.len();
        let mut released = Vec::new();
        let txn = db(self.db.begin_write())?;
        {
            let record = Self::require_bucket(&db(txn.open_table(BUCKETS))?, bucket)?;
            for (key, blob, size, etag) in staged {
                let seq = Self::next_seq(&txn)?;
                let version = Version {
                    seq,
                    version_id: (record.versioning == Versioning::Enabled)
                        .then(|| self.version_id_of(seq)),
                    delete_marker: false,
                    blob: Some(blob),
                    size,
                    etag,
                    last_modified: SystemTime::now(),
                    attributes: Attributes::default(),
                    checksums: Checksums::default(),
                };
                released.extend(Self::add_version(&txn, bucket, &key, &version)?);
            }
        }
        db(txn.commit())?;
        self.release(released);
        Ok(count)
    }
}

impl Drop for ObjectStore {
    fn drop(&mut self) {
        // A clean stop: the next start need not look for stray blobs.
        let closed = (|| -> Result<(), redb::Error> {
            let txn = self.db.begin_write()?;
            txn.open_table(META)?.insert(META_OPEN, 0)?;
            txn.commit()?;
            Ok(())
        })();
        if let Err(error) = closed {
            tracing::warn!(%error, "cannot mark the store closed");
        }
    }
}

/// Reads a whole file (tests).
#[cfg(test)]
fn read_all(mut file: File) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    file.read_to_end(&mut out).unwrap();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(store: &ObjectStore, bucket: &str, key: &str, bytes: &[u8]) -> Version {
        let (staged, mut file) = store.stage().unwrap();
        file.write_all(bytes).unwrap();
        drop(file);
        let object = NewObject {
            size: bytes.len() as u64,
            etag: hex(&Md5::digest(bytes)),
            ..NewObject::default()
        };
        store
            .commit_object(bucket, key, Some(staged), object, &WriteCondition::None)
            .unwrap()
            .1
    }

    fn body(store: &ObjectStore, version: &Version) -> Vec<u8> {
        store
            .open_blob(version)
            .unwrap()
            .map(read_all)
            .unwrap_or_default()
    }

    #[test]
    fn keys_are_never_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(dir.path()).unwrap();
        store.create_bucket("b", Versioning::Disabled).unwrap();
        let keys = ["a//b", "a/b", "../x", "a/./b", "a/../b", ".", ".."];
        for (i, key) in keys.iter().enumerate() {
            put(&store, "b", key, format!("{i}").as_bytes());
        }
        for (i, key) in keys.iter().enumerate() {
            let (_, v) = store.head("b", key, None).unwrap();
            assert_eq!(body(&store, &v), format!("{i}").as_bytes(), "{key}");
        }
        assert!(!dir.path().join("x").exists());
    }

    #[test]
    fn a_versioned_bucket_keeps_every_version_and_delete_adds_a_marker() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(dir.path()).unwrap();
        store.create_bucket("b", Versioning::Enabled).unwrap();
        let one = put(&store, "b", "k", b"one");
        let two = put(&store, "b", "k", b"two");
        assert_ne!(one.version_id, two.version_id);
        let (_, v1) = store.head("b", "k", Some(one.id())).unwrap();
        assert_eq!(body(&store, &v1), b"one");
        let (_, deleted) = store.delete_object("b", "k", None).unwrap();
        assert!(deleted.delete_marker);
        assert!(matches!(
            store.head("b", "k", None),
            Err(StoreError::NoSuchKey(_))
        ));
        assert_eq!(store.versions("b", "k").unwrap().len(), 3);
        // Removing the marker brings the newest object back.
        store
            .delete_object("b", "k", deleted.version_id.as_deref())
            .unwrap();
        let (_, back) = store.head("b", "k", None).unwrap();
        assert_eq!(body(&store, &back), b"two");
    }

    #[test]
    fn other_formats_and_old_layouts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FORMAT_FILE),
            "local-s3 object store, format 99\n",
        )
        .unwrap();
        assert!(matches!(
            ObjectStore::open(dir.path()),
            Err(OpenError::OtherFormat { .. })
        ));
        let old = tempfile::tempdir().unwrap();
        std::fs::create_dir(old.path().join("data")).unwrap();
        std::fs::write(old.path().join(".bucket-data.object-k.internal.json"), "{}").unwrap();
        assert!(matches!(
            ObjectStore::open(old.path()),
            Err(OpenError::OldLayout { .. })
        ));
    }

    #[test]
    fn stray_blobs_of_a_crashed_run_are_collected_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = ObjectStore::open(dir.path()).unwrap();
            store.create_bucket("b", Versioning::Disabled).unwrap();
            put(&store, "b", "kept", b"kept");
            let (staged, _) = store.stage().unwrap();
            store.promote(staged).unwrap();
        }
        // As if that run had crashed: still marked open.
        {
            let db = Database::create(dir.path().join(DB_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META).unwrap().insert(META_OPEN, 1).unwrap();
            txn.commit().unwrap();
        }
        let blobs = || {
            fs::read_dir(dir.path().join(BLOBS))
                .unwrap()
                .map(|shard| fs::read_dir(shard.unwrap().path()).unwrap().count())
                .sum::<usize>()
        };
        assert_eq!(blobs(), 2);
        let store = ObjectStore::open(dir.path()).unwrap();
        assert!(store.recovered_from_crash());
        put(&store, "b", "new", b"new");
        assert_eq!(store.collect_garbage().unwrap(), 1);
        assert_eq!(blobs(), 2, "the stray blob went, this run's stayed");
        let (_, v) = store.head("b", "kept", None).unwrap();
        assert_eq!(body(&store, &v), b"kept");
    }
}
