//! Why a local S3 could not start.

use std::io;
use std::path::PathBuf;

/// Why a local S3 could not start (requests never fail with this type: clients see S3 errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data folder could not be created or resolved.
    #[error("cannot use {} as the data folder: {source}", path.display())]
    Root {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// s3s-fs refused the data folder.
    #[error("s3s-fs cannot use {} as the data folder: {message}", path.display())]
    Store {
        /// The folder.
        path: PathBuf,
        /// s3s-fs's error, as text (its error type has no `Display`).
        message: String,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for (0: any).
        port: u16,
        /// The cause.
        source: io::Error,
    },
    /// A bucket to create at start has a name S3 would refuse.
    #[error("invalid bucket name {0:?}")]
    InvalidBucketName(String),
    /// A bucket to create at start could not be created.
    #[error("cannot create bucket {bucket:?}: {message}")]
    CreateBucket {
        /// The bucket.
        bucket: String,
        /// The S3 error, as text.
        message: String,
    },
}
