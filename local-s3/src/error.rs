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
    /// The object store refused the data folder (another format, an old s3s-fs layout, in
    /// use by another server, unreadable).
    #[error(transparent)]
    Store(#[from] crate::objects::OpenError),
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
