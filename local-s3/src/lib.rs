//! An S3 endpoint on `127.0.0.1`, backed by a folder, for running the pipeline on one machine
//! and for tests: any S3 client reaches it (aws-sdk-s3 with path-style addressing and a custom
//! endpoint, `aws s3 --endpoint-url`).
//!
//! It serves the crate's own object store through [`s3s`]'s protocol layer, in [`LocalStore`],
//! with what the pipeline and its tests need:
//!
//! - **Fault injection** ([`Faults`], [`FaultRule`]): make the next `n` (or all) requests of an
//!   operation, bucket or key prefix fail with 500, 503 or 403, or stall; count the requests
//!   the server saw ([`RunningS3::requests_seen`]).
//! - **Notifications** ([`ObjectCreated`], [`RunningS3::subscribe`]): one per successful
//!   `PutObject`, `CompleteMultipartUpload` and `CopyObject`, with size, ETag, version id (in a
//!   versioned bucket) and a monotonic sequencer, published after the commit and before the
//!   client gets its response.
//! - **Conditional requests in S3's order**: on GetObject and HeadObject, `If-Match` /
//!   `If-None-Match` / `If-Modified-Since` / `If-Unmodified-Since` (412 `PreconditionFailed`,
//!   304 `NotModified`, RFC 9110 order, dates to the second) come before `Range` (416): a read
//!   pinned to a stale ETag answers 412 whatever its range. `If-None-Match: *` and `If-Match`
//!   on PutObject and CompleteMultipartUpload are checked inside the committing transaction, so
//!   two create-only writes never both succeed; `x-amz-copy-source-if-*` on CopyObject.
//! - **Failed requests are logged** (`tracing`): 5xx at error level, refusals such as
//!   `BadDigest` or 412 at warn, the everyday 404 and 304 at debug.
//!
//! # The object store
//!
//! Object bytes live in files named by an id (`blobs/<xx>/<id>`), never by the key; every
//! key's versions (ETag, size, checksums, content headers, user metadata, version id, last
//! modified), the buckets and the multipart uploads live in one [redb](https://www.redb.org)
//! database, `metadata.redb`. redb is chosen for durability under crash: its copy-on-write
//! B-trees commit atomically (a crash leaves the last committed state, never a torn one), it
//! is pure Rust (no C toolchain, builds wherever the workspace builds), and one write
//! transaction at a time makes a conditional write's check and its commit one step.
//!
//! - **Keys are keys**: any valid S3 key (1 to 1,024 bytes of UTF-8, else `KeyTooLongError`),
//!   compared bytewise: `a//b`, `a/b`, `../x`, `.` and `..` are five distinct objects, and a key
//!   ending in `/` may have a body. `a` and `a/b` both exist.
//! - **A write commits or leaves nothing**: a PUT (or a part) streams into `tmp/`, its
//!   `Content-MD5` and every `x-amz-checksum-*` (header or trailer) are verified, and only then
//!   is the file fsynced, renamed into `blobs/` and recorded in one transaction. A refused
//!   (`BadDigest`, 412) or interrupted PUT leaves the old object as it was, and sends no
//!   notification. CompleteMultipartUpload joins the parts into one blob and records the
//!   object and the end of the upload in one transaction.
//! - **Crash-safe**: every acknowledged write survives `kill -9`. `tmp/` is emptied at start;
//!   after a crash (the store is still marked open), the blobs interrupted writes left
//!   unreferenced are removed in the background. A start reads no object: it opens the
//!   database.
//! - **Versioned**: buckets are created unversioned, as on S3 ([`LocalS3::bucket`]);
//!   [`LocalS3::versioned_bucket`] or PutBucketVersioning enables versioning (the deployed
//!   bucket is versioned): every write gets a version id; GetObject, HeadObject and
//!   DeleteObject take `versionId`; a delete adds a delete marker; a suspended bucket writes
//!   `null` versions. An unversioned bucket's objects have the version `null`, responses carry
//!   no version id, and any other id answers 404 `NoSuchVersion`.
//! - **Format**: the data folder carries `local-s3-format` (format 2). A folder of another
//!   format, or one an older local-s3 filled (s3s-fs: buckets as folders, keys as paths), is
//!   refused at start with a clear error, never misread.
//! - **Listings** (ListObjects, ListObjectsV2, ListObjectVersions) as S3's: bytewise key order, prefix, delimiter
//!   and common prefixes, `max-keys` (at most 1,000), markers, `StartAfter`, opaque
//!   continuation tokens, `encoding-type=url` (with the workspace's one key encoder,
//!   [`shared::encode_event_key`]).
//!
//! # ETags
//!
//! As S3's: a single PutObject's ETag is the hex MD5 of the content (an empty folder marker's
//! too); a multipart object's is the MD5 of the concatenated binary part MD5s, then `-` and the
//! part count (`"<hex>-3"`); UploadPart answers the part's MD5; CopyObject keeps the source's
//! ETag. ETags are strong and quoted on the wire; [`ObjectCreated`] carries them without
//! quotes.
//!
//! # Limits
//!
//! - PutObject and UploadPart take at most 5 GiB; multipart parts other than the last must be
//!   at least 5 MiB (`EntityTooSmall`), part numbers 1 to 10,000; the parts a completion names
//!   must have been uploaded with the ETags given (`InvalidPart`), in ascending order.
//! - Checksums of multipart objects (composite checksums) are not kept; tagging, ACLs, object
//!   lock and lifecycle are not implemented. Keys must not contain U+0000 (XML cannot carry
//!   it, so no listing could name it).
//! - Requests must be signed (SigV4 headers or presigned URL) with the configured credentials;
//!   anonymous requests are refused. Only HTTP/1.1, no TLS.
//!
//! # Other services on the same endpoint
//!
//! [`LocalS3::json_service`] adds a service in the AWS JSON protocol ([`JsonService`], e.g.
//! the local Step Functions API): a request whose `X-Amz-Target` header is
//! `<prefix>.<Operation>` goes to it instead of S3, so one endpoint URL (`AWS_ENDPOINT_URL`)
//! serves every client. Such requests are **not** authenticated: their signature is not
//! checked, whatever the credentials.
//!
//! [`LocalS3::pages`] adds web pages ([`PageService`], e.g. the local pipeline's `/ui`): `GET`
//! and `HEAD` requests under its path (a single segment shorter than any bucket name) go to
//! it, unauthenticated.
//!
//! # Example
//!
//! ```no_run
//! use local_s3::{Fault, FaultRule, LocalS3, Operation};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let s3 = LocalS3::builder().bucket("data").start().await?;
//! let mut created = s3.subscribe();
//! let client = s3.client(); // path-style, static credentials, short retries
//! client.put_object().bucket("data").key("incoming/a.csv").body(b"a,b\n".to_vec().into()).send().await?;
//! assert_eq!(created.recv().await?.key, "incoming/a.csv");
//!
//! // The next two GetObject fail with 500; the SDK's retries get through.
//! s3.faults().inject(FaultRule::new(Operation::GetObject, Fault::InternalError).times(2));
//! client.get_object().bucket("data").key("incoming/a.csv").send().await?;
//! assert_eq!(s3.requests_seen(Operation::GetObject), 3);
//! s3.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod conditions;
mod error;
mod events;
mod faults;
mod file_body;
mod json;
mod listing;
mod moto;
mod objects;
mod receive;
mod server;
mod store;

pub use error::Error;
pub use events::{CreationReason, NOTIFICATION_BUFFER, ObjectCreated};
pub use faults::{Fault, FaultRule, Faults, Operation};
pub use json::{AMZ_JSON_1_0, JSON_BODY_LIMIT, JsonService, Page, PageService};
pub use moto::MotoServer;
pub use objects::{FORMAT_FILE, FORMAT_VERSION, ObjectStore, OpenError, StoreError, Versioning};
pub use server::{
    DEFAULT_ACCESS_KEY, DEFAULT_REGION, DEFAULT_SECRET_KEY, LocalS3, RunningS3, SHUTDOWN_GRACE,
    test_retry_config,
};
pub use store::LocalStore;
