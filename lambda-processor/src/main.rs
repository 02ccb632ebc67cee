//! The Lambda function's entry point: clients built once at init, then the runtime loop.

use std::sync::Arc;

use lambda_processor::{Handler, ROUTE, diagnostic};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use storage::{ReadPlan, RunSettings, S3Store, metrics_namespace_from_environment, now_ms};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // JSON or text per AWS_LAMBDA_LOG_FORMAT, level per AWS_LAMBDA_LOG_LEVEL, no timestamps.
    lambda_runtime::tracing::init_default_subscriber();
    let settings = RunSettings::from_environment(ROUTE, ReadPlan::Whole).map_err(|e| {
        let report = diagnostic(&e);
        format!("{}: {}", report.error_type, report.error_message)
    })?;
    let handler = Arc::new(Handler::new(
        S3Store::from_environment().await,
        settings,
        metrics_namespace_from_environment(),
    ));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        async move {
            let invocation = handler.handle(event.payload).await;
            // One Embedded Metric Format line per object, as it is: Lambda sends stdout to the
            // log group and CloudWatch Logs extracts the metrics
            // (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html);
            // the JSON log format does not wrap a line that is JSON already
            // (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html).
            println!("{}", invocation.metrics.emf_line(now_ms()));
            invocation.result
        }
    }))
    .await
}
