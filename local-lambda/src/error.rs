//! What can go wrong running a function locally.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::logs::{LogLine, tail_suffix};

/// An error of the local Lambda service itself. What the function does wrong (an error it
/// returns, a timeout, a crash during an invocation) is not one of these but an
/// [`InvocationResult::Error`](crate::InvocationResult::Error), as Lambda reports it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalLambdaError {
    /// No loopback port for the Runtime API.
    #[error("cannot listen on 127.0.0.1 for the Lambda Runtime API: {0}")]
    Bind(#[source] std::io::Error),
    /// The binary could not be started (missing, not executable, ...).
    #[error("cannot start {}: {source}", binary.display())]
    Spawn {
        /// The binary given to the builder.
        binary: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The function did not reach its first poll of `/runtime/invocation/next`
    /// ([`LocalFunction::start`](crate::LocalFunctionBuilder::start) only; during an
    /// invocation the same failure is an invocation error, as in Lambda).
    #[error("function {function} failed to initialize: {cause}{}", tail_suffix(.log_tail))]
    Init {
        /// The function's name.
        function: String,
        /// What happened.
        cause: InitFailure,
        /// The last lines the process printed (stdout and stderr).
        log_tail: Vec<LogLine>,
    },
    /// The payload does not serialize to JSON.
    #[error("cannot serialize the invocation payload: {0}")]
    Payload(#[source] serde_json::Error),
    /// The payload is larger than a synchronous invocation accepts
    /// ([`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES)); Lambda's `RequestTooLargeException`.
    #[error("the invocation payload has {size} bytes, more than Lambda's limit of {limit}")]
    PayloadTooLarge {
        /// The serialized payload's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The function answered with a body that is not JSON (a streaming response, for one).
    #[error(
        "function {function} answered request {request_id} with a body that is not JSON: {source}"
    )]
    ResponseNotJson {
        /// The function's name.
        function: String,
        /// The invocation.
        request_id: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// Every execution environment the function's concurrency limit allows is busy
    /// ([`LocalFunctionBuilder::concurrency_limit`](crate::LocalFunctionBuilder::concurrency_limit)):
    /// Lambda's throttling, `TooManyRequestsException` (HTTP 429, reason
    /// `ReservedFunctionConcurrentInvocationLimitExceeded`, message "Rate Exceeded."). The
    /// function did not see the invocation.
    #[error(
        "function {function} throttled its invocation {request_id} (TooManyRequestsException: Rate Exceeded.): all {limit} concurrent executions its limit allows are busy"
    )]
    TooManyRequests {
        /// The function's name.
        function: String,
        /// Its concurrency limit.
        limit: usize,
        /// The request id Lambda gives the refused invocation.
        request_id: String,
    },
    /// [`LocalFunction::shutdown`](crate::LocalFunction::shutdown) was called.
    #[error("function {function} is shut down")]
    ShutDown {
        /// The function's name.
        function: String,
    },
}

/// Why a function failed to initialize.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitFailure {
    /// The runtime posted `/runtime/init/error`.
    Reported {
        /// The `errorType` it reported.
        error_type: String,
        /// The `errorMessage` it reported.
        error_message: String,
    },
    /// The process ended before its first poll; `status` reads like Lambda's
    /// (`exit status 3`, `signal: killed`).
    Exited {
        /// The exit status.
        status: String,
    },
    /// No poll within the init timeout; the process was killed.
    TimedOut {
        /// The init timeout.
        after: Duration,
    },
}

impl fmt::Display for InitFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reported {
                error_type,
                error_message,
            } => write!(
                f,
                "the runtime reported an init error: {error_type}: {error_message}"
            ),
            Self::Exited { status } => write!(
                f,
                "the process ended ({status}) before polling for an invocation"
            ),
            Self::TimedOut { after } => write!(
                f,
                "no poll for an invocation within {:.2} seconds",
                after.as_secs_f64()
            ),
        }
    }
}
