//! Fault injection and request counting: make chosen requests fail or stall, and see how many
//! requests the server received, so tests can check retries and persistent failures.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use s3s::{S3Error, S3ErrorCode};

/// An S3 operation served by [`LocalStore`](crate::LocalStore), named as in the S3 API.
///
/// [`Operation::Any`] stands for every operation: in a [`FaultRule`] it matches all requests,
/// in [`Faults::requests_seen`] it counts all requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Every operation.
    Any,
    /// `AbortMultipartUpload`.
    AbortMultipartUpload,
    /// `CompleteMultipartUpload`.
    CompleteMultipartUpload,
    /// `CopyObject`.
    CopyObject,
    /// `CreateBucket`.
    CreateBucket,
    /// `CreateMultipartUpload`.
    CreateMultipartUpload,
    /// `DeleteBucket`.
    DeleteBucket,
    /// `DeleteObject`.
    DeleteObject,
    /// `DeleteObjects`.
    DeleteObjects,
    /// `GetBucketLocation`.
    GetBucketLocation,
    /// `GetBucketVersioning`.
    GetBucketVersioning,
    /// `GetObject`.
    GetObject,
    /// `HeadBucket`.
    HeadBucket,
    /// `HeadObject`.
    HeadObject,
    /// `ListBuckets`.
    ListBuckets,
    /// `ListObjects` (version 1).
    ListObjects,
    /// `ListObjectsV2`.
    ListObjectsV2,
    /// `ListObjectVersions`.
    ListObjectVersions,
    /// `ListParts`.
    ListParts,
    /// `PutBucketVersioning`.
    PutBucketVersioning,
    /// `PutObject`.
    PutObject,
    /// `UploadPart`.
    UploadPart,
    /// `UploadPartCopy`.
    UploadPartCopy,
}

impl Operation {
    /// The operation's name in the S3 API (`"GetObject"`), or `"Any"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "Any",
            Self::AbortMultipartUpload => "AbortMultipartUpload",
            Self::CompleteMultipartUpload => "CompleteMultipartUpload",
            Self::CopyObject => "CopyObject",
            Self::CreateBucket => "CreateBucket",
            Self::CreateMultipartUpload => "CreateMultipartUpload",
            Self::DeleteBucket => "DeleteBucket",
            Self::DeleteObject => "DeleteObject",
            Self::DeleteObjects => "DeleteObjects",
            Self::GetBucketLocation => "GetBucketLocation",
            Self::GetBucketVersioning => "GetBucketVersioning",
            Self::GetObject => "GetObject",
            Self::HeadBucket => "HeadBucket",
            Self::HeadObject => "HeadObject",
            Self::ListBuckets => "ListBuckets",
            Self::ListObjects => "ListObjects",
            Self::ListObjectsV2 => "ListObjectsV2",
            Self::ListObjectVersions => "ListObjectVersions",
            Self::ListParts => "ListParts",
            Self::PutBucketVersioning => "PutBucketVersioning",
            Self::PutObject => "PutObject",
            Self::UploadPart => "UploadPart",
            Self::UploadPartCopy => "UploadPartCopy",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an injected fault does to the request it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer `500 InternalError` (the SDKs retry it).
    InternalError,
    /// Answer `503 SlowDown`, S3's throttling error (the SDKs retry it, as throttling).
    SlowDown,
    /// Answer `503 ServiceUnavailable` (the SDKs retry it).
    ServiceUnavailable,
    /// Answer `403 AccessDenied` (not retried: a persistent, non-transient failure).
    AccessDenied,
    /// Wait this long, then serve the request normally (for timeouts).
    Delay(Duration),
}

impl Fault {
    /// The S3 error this fault answers with; `None` for [`Fault::Delay`].
    pub(crate) fn to_s3_error(self, operation: Operation) -> Option<S3Error> {
        let code = match self {
            Self::InternalError => S3ErrorCode::InternalError,
            Self::SlowDown => S3ErrorCode::SlowDown,
            Self::ServiceUnavailable => S3ErrorCode::ServiceUnavailable,
            Self::AccessDenied => S3ErrorCode::AccessDenied,
            Self::Delay(_) => return None,
        };
        Some(S3Error::with_message(
            code,
            format!("fault injected by local-s3 into {operation}"),
        ))
    }
}

/// Which requests a fault hits, and how many times.
///
/// Built with [`FaultRule::new`] (fires once) and refined with the other methods:
///
/// ```
/// use local_s3::{Fault, FaultRule, Operation};
/// let rule = FaultRule::new(Operation::GetObject, Fault::InternalError)
///     .bucket("data")
///     .key_prefix("incoming/")
///     .times(2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    operation: Operation,
    bucket: Option<String>,
    key_prefix: Option<String>,
    fault: Fault,
    /// Uses left; `None` = unlimited.
    remaining: Option<u32>,
}

impl FaultRule {
    /// A rule that hits the next request for `operation` ([`Operation::Any`]: any request) once.
    pub fn new(operation: Operation, fault: Fault) -> Self {
        Self {
            operation,
            bucket: None,
            key_prefix: None,
            fault,
            remaining: Some(1),
        }
    }

    /// Only hit requests for this bucket (requests without a bucket, like `ListBuckets`, never
    /// match).
    #[must_use]
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = Some(bucket.into());
        self
    }

    /// Only hit requests whose object key starts with `prefix` (requests without a key, like
    /// `ListObjectsV2`, never match).
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }

    /// Hit the next `n` matching requests, then stop (`0`: never).
    #[must_use]
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Hit every matching request until [`Faults::clear`].
    #[must_use]
    pub fn always(mut self) -> Self {
        self.remaining = None;
        self
    }

    fn matches(&self, operation: Operation, bucket: Option<&str>, key: Option<&str>) -> bool {
        let operation_matches = self.operation == Operation::Any || self.operation == operation;
        let bucket_matches = self
            .bucket
            .as_deref()
            .is_none_or(|wanted| bucket == Some(wanted));
        let key_matches = self
            .key_prefix
            .as_deref()
            .is_none_or(|prefix| key.is_some_and(|key| key.starts_with(prefix)));
        operation_matches && bucket_matches && key_matches && self.remaining != Some(0)
    }
}

/// The fault-injection handle of a running server: cheap to clone, shared by all clones and by
/// the server, safe to use from any thread.
///
/// Every request that reaches the store (that is, passed authentication and parsing) is
/// counted, then checked against the rules in insertion order; the first matching rule with
/// uses left fires and consumes one use.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<FaultRule>,
    fired: u64,
    requests: HashMap<Operation, u64>,
}

impl Faults {
    /// Adds a rule after the existing ones.
    pub fn inject(&self, rule: FaultRule) {
        self.lock().rules.push(rule);
    }

    /// Removes every rule (counters are kept).
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// How many faults have fired so far.
    pub fn fired(&self) -> u64 {
        self.lock().fired
    }

    /// How many rules can still fire.
    pub fn pending(&self) -> usize {
        self.lock()
            .rules
            .iter()
            .filter(|rule| rule.remaining != Some(0))
            .count()
    }

    /// How many requests for `operation` the store received, including those a fault hit
    /// ([`Operation::Any`]: all requests). Requests rejected before reaching the store (bad
    /// signature, unparsable request) are not counted.
    pub fn requests_seen(&self, operation: Operation) -> u64 {
        let state = self.lock();
        if operation == Operation::Any {
            state.requests.values().sum()
        } else {
            state.requests.get(&operation).copied().unwrap_or(0)
        }
    }

    /// Counts one request and returns the fault to apply to it, if any.
    pub(crate) fn on_request(
        &self,
        operation: Operation,
        bucket: Option<&str>,
        key: Option<&str>,
    ) -> Option<Fault> {
        let mut state = self.lock();
        *state.requests.entry(operation).or_insert(0) += 1;
        let rule = state
            .rules
            .iter_mut()
            .find(|rule| rule.matches(operation, bucket, key))?;
        if let Some(remaining) = rule.remaining.as_mut() {
            *remaining -= 1;
        }
        let fault = rule.fault;
        state.rules.retain(|rule| rule.remaining != Some(0));
        state.fired += 1;
        Some(fault)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is a single step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_fires_the_given_number_of_times_then_disappears() {
        let faults = Faults::default();
        faults.inject(FaultRule::new(Operation::GetObject, Fault::InternalError).times(2));
        let hit = || faults.on_request(Operation::GetObject, Some("b"), Some("k"));
        assert_eq!(hit(), Some(Fault::InternalError));
        assert_eq!(hit(), Some(Fault::InternalError));
        assert_eq!(hit(), None);
        assert_eq!(faults.fired(), 2);
        assert_eq!(faults.pending(), 0);
        assert_eq!(faults.requests_seen(Operation::GetObject), 3);
        assert_eq!(faults.requests_seen(Operation::PutObject), 0);
    }

    #[test]
    fn rules_filter_on_operation_bucket_and_key_prefix() {
        let faults = Faults::default();
        faults.inject(
            FaultRule::new(Operation::Any, Fault::SlowDown)
                .bucket("data")
                .key_prefix("incoming/")
                .always(),
        );
        assert_eq!(
            faults.on_request(Operation::PutObject, Some("data"), Some("processed/x")),
            None
        );
        assert_eq!(
            faults.on_request(Operation::PutObject, Some("other"), Some("incoming/x")),
            None
        );
        assert_eq!(
            faults.on_request(Operation::ListObjectsV2, Some("data"), None),
            None
        );
        assert_eq!(faults.on_request(Operation::ListBuckets, None, None), None);
        for _ in 0..5 {
            assert_eq!(
                faults.on_request(Operation::HeadObject, Some("data"), Some("incoming/x")),
                Some(Fault::SlowDown)
            );
        }
        assert_eq!(faults.requests_seen(Operation::Any), 9);
        faults.clear();
        assert_eq!(
            faults.on_request(Operation::HeadObject, Some("data"), Some("incoming/x")),
            None
        );
    }

    #[test]
    fn the_first_matching_rule_wins_and_zero_times_never_fires() {
        let faults = Faults::default();
        faults.inject(FaultRule::new(Operation::GetObject, Fault::AccessDenied).times(0));
        faults.inject(FaultRule::new(Operation::GetObject, Fault::InternalError));
        faults.inject(FaultRule::new(Operation::Any, Fault::ServiceUnavailable));
        let hit = || faults.on_request(Operation::GetObject, Some("b"), Some("k"));
        assert_eq!(hit(), Some(Fault::InternalError));
        assert_eq!(hit(), Some(Fault::ServiceUnavailable));
        assert_eq!(hit(), None);
    }

    #[test]
    fn delays_are_not_errors() {
        assert!(
            Fault::Delay(Duration::from_millis(1))
                .to_s3_error(Operation::GetObject)
                .is_none()
        );
        let error = Fault::SlowDown.to_s3_error(Operation::GetObject).unwrap();
        assert_eq!(error.code(), &S3ErrorCode::SlowDown);
    }
}
