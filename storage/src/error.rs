//! Every failure of a job as one of the core's named errors.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use shared::ErrorName;

/// A job failure: a public name (the state machine's error) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct JobError {
    name: ErrorName,
    message: String,
}

impl JobError {
    /// A failure named `name`.
    pub fn new(name: ErrorName, message: impl Into<String>) -> JobError {
        JobError {
            name,
            message: message.into(),
        }
    }

    /// The public name.
    pub fn name(&self) -> ErrorName {
        self.name
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<shared::Error> for JobError {
    fn from(error: shared::Error) -> Self {
        JobError::new(error.name(), error.to_string())
    }
}

/// What a request was about, to name its failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    /// Reading the job's object: 404 means it vanished, 412 that it changed.
    Source,
    /// Reading or writing an output.
    Output,
}

/// Names an S3 SDK failure. Transient failures (5xx, throttling, timeouts, connection
/// errors) were already retried by the SDK with backoff; what is left is `Storage`.
pub(crate) fn classify<E>(
    error: &SdkError<E, HttpResponse>,
    request: Request,
    what: &str,
) -> JobError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = error
        .raw_response()
        .map(|response| response.status().as_u16());
    let code = error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code);
    let detail = match error {
        SdkError::ServiceError(service) => {
            let message = service.err().message().unwrap_or("");
            format!("{} {message}", code.unwrap_or("error"))
                .trim()
                .to_owned()
        }
        other => format!("{other}: {}", source_chain(other)),
    };
    let status_text = status.map(|s| format!("HTTP {s} ")).unwrap_or_default();
    let name = match (request, status, code) {
        (Request::Source, Some(404), _)
        | (Request::Source, _, Some("NoSuchKey" | "NoSuchVersion")) => ErrorName::SourceMissing,
        (Request::Source, Some(412), _) | (Request::Source, _, Some("PreconditionFailed")) => {
            ErrorName::SourceChanged
        }
        _ => ErrorName::Storage,
    };
    JobError::new(name, format!("{what}: {status_text}{detail}"))
}

/// The causes of an error, joined: SDK dispatch errors say little at the top.
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut causes = Vec::new();
    let mut next = error.source();
    while let Some(cause) = next {
        causes.push(cause.to_string());
        next = cause.source();
    }
    causes.join(": ")
}
