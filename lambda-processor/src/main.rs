//! The Lambda function's entry point: clients built once at init, then the runtime loop.

use std::sync::Arc;

use lambda_processor::{Handler, ROUTE, diagnostic};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use storage::{ReadPlan, RunSettings, S3Store};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // JSON or text per AWS_LAMBDA_LOG_FORMAT, level per AWS_LAMBDA_LOG_LEVEL, no timestamps.
    lambda_runtime::tracing::init_default_subscriber();
    let settings = RunSettings::from_environment(ROUTE, ReadPlan::Whole).map_err(|e| {
        let report = diagnostic(&e);
        format!("{}: {}", report.error_type, report.error_message)
    })?;
    let handler = Arc::new(Handler::new(S3Store::from_environment().await, settings));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        async move { handler.handle(event.payload).await }
    }))
    .await
}
