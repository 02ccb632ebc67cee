//! An S3 endpoint on `127.0.0.1`, backed by a folder, for running the pipeline on one machine
//! and for tests: any S3 client reaches it (aws-sdk-s3 with path-style addressing and a custom
//! endpoint, `aws s3 --endpoint-url`).
//!
//! It serves [`s3s_fs::FileSystem`] through [`s3s`], wrapped in [`LocalStore`], which adds what
//! the pipeline and its tests need:
//!
//! - **Fault injection** ([`Faults`], [`FaultRule`]): make the next `n` (or all) requests of an
//!   operation, bucket or key prefix fail with 500, 503 or 403, or stall; count the requests
//!   the server saw ([`RunningS3::requests_seen`]).
//! - **Notifications** ([`ObjectCreated`], [`RunningS3::subscribe`]): one per successful
//!   `PutObject`, `CompleteMultipartUpload` and `CopyObject`, with size, ETag and a monotonic
//!   sequencer, published before the client gets its response.
//! - **Read preconditions**: s3s-fs ignores `If-Match`, `If-None-Match`, `If-Modified-Since`
//!   and `If-Unmodified-Since` on GetObject and HeadObject; here they answer 412
//!   `PreconditionFailed` and 304 `NotModified` as on S3 (RFC 9110 order, dates to the second).
//!   s3s-fs already honours `If-None-Match: *` and `If-Match` on PutObject and
//!   CompleteMultipartUpload (412 `PreconditionFailed`), and the `x-amz-copy-source-if-*`
//!   conditions on CopyObject.
//! - **Atomic writes per key**: writes and reads of one key are serialised (a write holds the
//!   key's lock for its whole upload), so two `If-None-Match: *` uploads of one key never both
//!   succeed, and a GetObject's ETag is always that of the bytes it returns.
//! - **Fidelity fixes**: PutObject and CreateMultipartUpload into a missing bucket answer
//!   `NoSuchBucket` (s3s-fs would create the bucket); GetObject/HeadObject of a key that is a
//!   folder of the store (`a` while `a/b` exists) answer `NoSuchKey` (s3s-fs: 500);
//!   `encoding-type=url` listings encode the keys (s3s-fs returns them raw, so the AWS CLI
//!   would turn `+` into a space); CreateBucket of an existing bucket answers
//!   `BucketAlreadyOwnedByYou`; GetBucketLocation reports the configured region.
//!
//! # ETags
//!
//! As S3's: a single PutObject's ETag is the hex MD5 of the content; a multipart object's is
//! the MD5 of the concatenated binary part MD5s, then `-` and the part count
//! (`"<hex>-3"`); UploadPart answers the part's MD5; CopyObject keeps the source's ETag.
//! s3s-fs stores the ETag beside the object; for a file copied into the data folder by hand it
//! computes the MD5 on every read. ETags are strong and quoted on the wire; [`ObjectCreated`]
//! carries them without quotes.
//!
//! # Versions
//!
//! Objects are not versioned: no response carries a version id, [`ObjectCreated::version_id`]
//! is `None`, and a GetObject, HeadObject or DeleteObject naming a version id other than
//! `null` answers 404 `NoSuchVersion`, so a reader asking for an exact version never gets
//! other bytes. Readers pin an object with `If-Match` on its ETag instead.
//!
//! # Limits (those of s3s-fs 0.14)
//!
//! - Keys map to paths: `a` and `a/b` cannot both exist, `..` components are refused, and a
//!   key ending in `/` is a folder (a zero-byte folder marker).
//! - Multipart: parts other than the last must be at least 5 MiB (`EntityTooSmall`), and
//!   their numbers must run 1, 2, 3… without gaps; part ETags in the completion request are
//!   not checked.
//! - Listings carry no ETag or storage class per object.
//! - A PutObject whose `Content-MD5` or checksum does not match answers `BadDigest`, but
//!   s3s-fs has already replaced the object's bytes by then.
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
mod locks;
mod moto;
mod server;
mod store;

pub use error::Error;
pub use events::{CreationReason, NOTIFICATION_BUFFER, ObjectCreated};
pub use faults::{Fault, FaultRule, Faults, Operation};
pub use json::{AMZ_JSON_1_0, JSON_BODY_LIMIT, JsonService};
pub use moto::MotoServer;
pub use server::{
    DEFAULT_ACCESS_KEY, DEFAULT_REGION, DEFAULT_SECRET_KEY, LocalS3, RunningS3, SHUTDOWN_GRACE,
    test_retry_config,
};
pub use store::LocalStore;
