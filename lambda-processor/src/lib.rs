//! The Lambda function of the pipeline: a thin adapter from a Step Functions payload to
//! [`storage::run_job`].
//!
//! The payload is the job document the state machine builds, or, for direct invocations, a
//! whole EventBridge `Object Created` event. A failure returns the core's error name as the
//! Lambda error type, which the state machine's `Retry` and `Catch` match on.
//!
//! The data contracts (`PIPELINE_CONTRACTS_DIR`, built into the deployment) are read once, at
//! init ([`storage::RunSettings::from_environment`]); a bad one fails the init, naming its
//! file and line. An object under a contract's prefix gets its Parquet and rejects, buffered
//! in memory and committed before the report.
//!
//! Each invocation also gives its metrics ([`Handled::metrics`]): the binary prints them as
//! one CloudWatch Embedded Metric Format line ([`shared::ObjectMetrics::emf_line`]), which
//! CloudWatch Logs turns into metrics, no API called.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::Diagnostic;
use serde_json::Value;
use shared::{ErrorName, Job, ObjectCreatedDetail, ObjectMetrics};
use storage::{JobError, RunSettings, S3Store, StopSignal, object_metrics, run_job};
use tracing::Instrument;

/// The route's name, in reports and logs.
pub const ROUTE: &str = shared::LAMBDA_ROUTE;

/// The function's state, built once at init, outside the handler.
#[derive(Debug)]
pub struct Handler {
    store: S3Store,
    settings: RunSettings,
    metrics_namespace: String,
}

/// What one invocation gave: its result for the runtime, and its metrics.
#[derive(Debug)]
pub struct Handled {
    /// The job's outcome as JSON, or the named error.
    pub result: Result<Value, Diagnostic>,
    /// The job's metrics, to print as one EMF line.
    pub metrics: ObjectMetrics,
}

impl Handler {
    /// A handler over a store, with settings, emitting metrics in `metrics_namespace`.
    pub fn new(store: S3Store, settings: RunSettings, metrics_namespace: String) -> Handler {
        Handler {
            store,
            settings,
            metrics_namespace,
        }
    }

    /// Handles one invocation: its result and its metrics.
    pub async fn handle(&self, payload: Value) -> Handled {
        let started = std::time::Instant::now();
        let job = match job_from_payload(payload) {
            Ok(job) => job,
            Err(error) => {
                let metrics = ObjectMetrics {
                    failure: Some(error.name()),
                    ..ObjectMetrics::new(&self.metrics_namespace, ROUTE)
                };
                return Handled {
                    result: Err(diagnostic(&error)),
                    metrics,
                };
            }
        };
        let span = tracing::info_span!(
            "job",
            bucket = %job.bucket,
            key = %job.object.key,
            route = ROUTE
        );
        let outcome = run_job(&self.store, &job, &self.settings, &StopSignal::never())
            .instrument(span.clone())
            .await;
        span.in_scope(|| match &outcome {
            Ok(outcome) => {
                tracing::info!(status = ?outcome.status, report = %outcome.report_key, "done");
            }
            Err(error) => tracing::error!(
                error = error.name().as_str(),
                detail = error.message(),
                "failed"
            ),
        });
        let metrics = object_metrics(
            &self.metrics_namespace,
            &self.settings,
            &job,
            &outcome,
            started.elapsed(),
        );
        let result = outcome.map_err(|e| diagnostic(&e)).and_then(|outcome| {
            serde_json::to_value(&outcome).map_err(|e| {
                diagnostic(&JobError::new(
                    ErrorName::Internal,
                    format!("encoding the outcome: {e}"),
                ))
            })
        });
        Handled { result, metrics }
    }
}

/// The job in a payload: a job document, or an EventBridge `Object Created` event.
pub fn job_from_payload(payload: Value) -> Result<Job, JobError> {
    let invalid = |what: &str, e: serde_json::Error| {
        JobError::new(
            ErrorName::InvalidInput,
            format!("the payload is not {what}: {e}"),
        )
    };
    if payload.get("detail").is_some() {
        let event: EventBridgeEvent<ObjectCreatedDetail> = serde_json::from_value(payload)
            .map_err(|e| invalid("an S3 Object Created event", e))?;
        if event.source != "aws.s3" || event.detail_type != "Object Created" {
            return Err(JobError::new(
                ErrorName::InvalidInput,
                format!(
                    "the event is {:?} from {:?}, not \"Object Created\" from \"aws.s3\"",
                    event.detail_type, event.source
                ),
            ));
        }
        Ok(Job::from(event.detail))
    } else {
        serde_json::from_value(payload).map_err(|e| invalid("a job document", e))
    }
}

/// The Lambda error of a job failure: its public name as the error type.
pub fn diagnostic(error: &JobError) -> Diagnostic {
    Diagnostic {
        error_type: error.name().as_str().to_owned(),
        error_message: error.message().to_owned(),
    }
}
