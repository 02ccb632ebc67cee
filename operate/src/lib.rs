//! The operator's commands, as a library the thin `operate` binary calls:
//!
//! - [`status()`]: per object under a key or prefix, its current version and its last
//!   outcome (a report, a failure record, or none yet), the route, the output keys and the
//!   execution ARN.
//! - [`reprocess()`]: start an execution per object (the event EventBridge would deliver,
//!   pinned to the object's current version), skipping those whose report already matches,
//!   at a limited rate, resumable.
//!
//! Both speak to S3 and Step Functions through the AWS SDK, so they work against AWS and
//! against the local pipeline's endpoint (`make serve`: S3 and Step Functions on one port).
//! The key layout (input and output prefixes, [`shared::FAILURE_PREFIX`]) is `shared`'s.

pub mod bucket;
pub mod event;
pub mod reprocess;
pub mod status;

pub use bucket::{Bucket, ObjectVersion, ReportHead};
pub use reprocess::{ReprocessOptions, Summary, reprocess};
pub use status::{ObjectStatus, Outcome, status};

/// What went wrong talking to S3 or Step Functions.
#[derive(Debug, thiserror::Error)]
pub enum OperateError {
    /// An S3 request failed.
    #[error("S3 {operation} s3://{bucket}/{key}: {message}")]
    S3 {
        /// The operation (`ListObjectVersions`, `GetObject`, …).
        operation: &'static str,
        /// The bucket.
        bucket: String,
        /// The key or prefix.
        key: String,
        /// The SDK's error, with its context.
        message: String,
    },
    /// A Step Functions request failed.
    #[error("Step Functions {operation}: {message}")]
    StepFunctions {
        /// The operation.
        operation: &'static str,
        /// The SDK's error, with its context.
        message: String,
    },
    /// A report or failure record that is not the JSON the pipeline writes.
    #[error("s3://{bucket}/{key} is not a {what}: {message}")]
    BadDocument {
        /// What it should be.
        what: &'static str,
        /// The bucket.
        bucket: String,
        /// Its key.
        key: String,
        /// Why it does not read.
        message: String,
    },
    /// A state machine ARN that is not one.
    #[error(
        "{0:?} is not a state machine ARN (arn:<partition>:states:<region>:<account>:stateMachine:<name>)"
    )]
    BadStateMachineArn(String),
}
