//! What the people running the pipeline look at: a CloudWatch dashboard and the alarms on the
//! processors' metrics, both naming the metrics from [`shared::Metric`] (the one line per
//! object the processors print in the Embedded Metric Format) and AWS's own.
//!
//! The dashboard's body is built from the typed [`Dashboard`] model and handed to
//! CloudFormation as `Fn::Sub` text, which fills in the region, the stack's resources and the
//! metrics' namespace.
//!
//! Widgets (two a row, top to bottom): executions started / succeeded / failed / timed out, failures by
//! error name, bytes and records per hour by route, Lambda duration, Lambda errors and
//! throttles, Fargate tasks running, the dead-letter queue's depth, and the rejected-record
//! share of each data contract's dataset. Alarms, to the stack's alarm topic: a dataset's
//! rejected share above [`param::REJECTED_SHARE_PERCENT`](crate::template::param) over five
//! minutes, and Lambda throttling in each of five consecutive minutes.

use serde::Serialize;
use serde_json::{Value, json};
use shared::{Contracts, Dimension, ErrorName, FARGATE_ROUTE, LAMBDA_ROUTE, Metric};

use crate::cfn::{Parameter, Resource, Template, reference, sub};
use crate::template::{id, metrics_namespace, param};

/// The dashboard's logical id.
pub const DASHBOARD: &str = "OperationsDashboard";

/// The Lambda throttling alarm's logical id.
pub const THROTTLE_ALARM: &str = "FunctionThrottledAlarm";

/// Minutes of throttling, each with at least one throttled invocation, before the alarm.
pub const THROTTLE_MINUTES: u32 = 5;

/// The rejected-share alarms' period (seconds).
pub const REJECTED_SHARE_PERIOD: u32 = 300;

/// A CloudWatch dashboard body (the subset of the documented structure used here:
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html>).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dashboard {
    /// The widgets, laid out in a 24-column grid.
    pub widgets: Vec<Widget>,
}

/// One graph of the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Widget {
    /// Always `metric`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Column of the left edge (0-23).
    pub x: u32,
    /// Row of the top edge.
    pub y: u32,
    /// Columns wide.
    pub width: u32,
    /// Rows high.
    pub height: u32,
    /// What it draws.
    pub properties: MetricWidget,
}

/// A metric widget's properties.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricWidget {
    /// The widget's title.
    pub title: String,
    /// `timeSeries`.
    pub view: &'static str,
    /// Whether the lines are stacked.
    pub stacked: bool,
    /// The region (`${AWS::Region}`, filled in by `Fn::Sub`).
    pub region: &'static str,
    /// The default statistic.
    pub stat: &'static str,
    /// The period, seconds.
    pub period: u32,
    /// The lines: metric arrays (`[namespace, name, dimension, value, …, options]`) or
    /// math expressions (`[{ "expression": … }]`).
    pub metrics: Vec<Vec<Value>>,
}

/// A metric line: `namespace`, `name`, then each dimension's name and value, and the
/// rendering options if any.
fn line(
    namespace: &str,
    name: &str,
    dimensions: &[(&str, &str)],
    options: Option<Value>,
) -> Vec<Value> {
    let mut line = vec![json!(namespace), json!(name)];
    for (dimension, value) in dimensions {
        line.push(json!(dimension));
        line.push(json!(value));
    }
    line.extend(options);
    line
}

/// A line of the processors' metrics.
fn ours(metric: Metric, dimensions: &[(Dimension, &str)], options: Option<Value>) -> Vec<Value> {
    let dimensions: Vec<(&str, &str)> = dimensions.iter().map(|(d, v)| (d.name(), *v)).collect();
    line(&metrics_namespace(), metric.name(), &dimensions, options)
}

fn widget(title: &str, stat: &'static str, period: u32, metrics: Vec<Vec<Value>>) -> MetricWidget {
    MetricWidget {
        title: title.to_owned(),
        view: "timeSeries",
        stacked: false,
        region: "${AWS::Region}",
        stat,
        period,
        metrics,
    }
}

/// The dashboard of a stack whose contracts are `contracts`.
pub fn dashboard(contracts: &Contracts) -> Dashboard {
    let mut graphs = graphs();
    graphs.extend(rejected_share_graph(contracts));
    let widgets = graphs
        .into_iter()
        .enumerate()
        .map(|(i, properties)| {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            Widget {
                kind: "metric",
                x: (i % 2) * 12,
                y: (i / 2) * 6,
                width: 12,
                height: 6,
                properties,
            }
        })
        .collect();
    Dashboard { widgets }
}

/// The graphs every stack has, whatever its contracts: the executions and the processors'
/// metrics, then the AWS services'.
fn graphs() -> Vec<MetricWidget> {
    let state_machine = [("StateMachineArn", "${StateMachine}")];
    let routes = [LAMBDA_ROUTE, FARGATE_ROUTE];
    let per_route = |metric: Metric| -> Vec<Vec<Value>> {
        routes
            .iter()
            .map(|route| ours(metric, &[(Dimension::Route, route)], None))
            .collect()
    };
    let mut graphs = vec![
        widget(
            "Executions",
            "Sum",
            300,
            [
                "ExecutionsStarted",
                "ExecutionsSucceeded",
                "ExecutionsFailed",
                "ExecutionsTimedOut",
            ]
            .iter()
            .map(|name| line("AWS/States", name, &state_machine, None))
            .collect(),
        ),
        widget(
            "Failures by error name",
            "Sum",
            300,
            ErrorName::ALL
                .iter()
                .map(|name| {
                    ours(
                        Metric::Failures,
                        &[(Dimension::ErrorName, name.as_str())],
                        None,
                    )
                })
                .collect(),
        ),
        widget("Bytes per hour", "Sum", 3600, per_route(Metric::Bytes)),
        widget(
            "Records per hour",
            "Sum",
            3600,
            [
                Metric::Records,
                Metric::MalformedRecords,
                Metric::RejectedRecords,
            ]
            .iter()
            .flat_map(|&metric| per_route(metric))
            .collect(),
        ),
    ];
    graphs.extend(service_graphs());
    graphs
}

/// The graphs of the AWS services the pipeline runs on: Lambda, Fargate, the dead-letter queue.
fn service_graphs() -> Vec<MetricWidget> {
    let function = [("FunctionName", "${ProcessorFunction}")];
    vec![
        widget(
            "Lambda duration (ms)",
            "Average",
            300,
            vec![
                line("AWS/Lambda", "Duration", &function, None),
                line(
                    "AWS/Lambda",
                    "Duration",
                    &function,
                    Some(json!({ "stat": "p99" })),
                ),
                line(
                    "AWS/Lambda",
                    "Duration",
                    &function,
                    Some(json!({ "stat": "Maximum" })),
                ),
            ],
        ),
        widget(
            "Lambda errors and throttles",
            "Sum",
            60,
            vec![
                line("AWS/Lambda", "Errors", &function, None),
                line("AWS/Lambda", "Throttles", &function, None),
            ],
        ),
        widget(
            "Fargate tasks running",
            "Maximum",
            60,
            // `RunningTaskCount` is by service only; the state machine's tasks are in none.
            vec![line(
                "ECS/ContainerInsights",
                "TaskCount",
                &[("ClusterName", "${Cluster}")],
                None,
            )],
        ),
        widget(
            "Dead-letter queue depth",
            "Maximum",
            300,
            vec![line(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                &[("QueueName", &format!("${{{}.QueueName}}", id::DLQ))],
                None,
            )],
        ),
    ]
}

/// The rejected-record share of each contract's dataset, if the stack has contracts.
fn rejected_share_graph(contracts: &Contracts) -> Option<MetricWidget> {
    let mut metrics = Vec::new();
    for (i, contract) in contracts.iter().enumerate() {
        let by = [(Dimension::Dataset, contract.dataset.as_str())];
        metrics.push(ours(
            Metric::RejectedRecords,
            &by,
            Some(json!({ "id": format!("r{i}"), "visible": false })),
        ));
        metrics.push(ours(
            Metric::Records,
            &by,
            Some(json!({ "id": format!("n{i}"), "visible": false })),
        ));
        metrics.push(vec![json!({
            "expression": format!("100 * r{i} / n{i}"),
            "label": contract.dataset,
            "id": format!("share{i}"),
        })]);
    }
    (!metrics.is_empty()).then(|| {
        widget(
            "Rejected records (% of records) per dataset",
            "Sum",
            300,
            metrics,
        )
    })
}

/// The logical id part of a dataset name: `web_events` → `WebEvents`.
fn pascal_case(dataset: &str) -> String {
    dataset
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// The rejected-share alarm's logical id of `dataset`.
pub fn rejected_share_alarm(dataset: &str) -> String {
    format!("RejectedShare{}Alarm", pascal_case(dataset))
}

/// Adds the threshold parameter, the dashboard and the alarms.
pub fn resources(t: &mut Template, contracts: &Contracts) {
    t.parameter(
        param::REJECTED_SHARE_PERCENT,
        Parameter::number(
            "Alarm when a dataset's rejected records exceed this share (%) of its records over five minutes.",
            5,
            0,
            100,
        ),
    );
    let body = serde_json::to_string(&dashboard(contracts)).expect("the dashboard serializes");
    t.resource(
        DASHBOARD,
        Resource::new(
            "AWS::CloudWatch::Dashboard",
            json!({
                "DashboardName": sub("${AWS::StackName}"),
                "DashboardBody": sub(&body),
            }),
        ),
    );
    let namespace = sub(&metrics_namespace());
    for contract in contracts.iter() {
        let stat = |id: &str, metric: Metric| {
            json!({
                "Id": id,
                "ReturnData": false,
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric.name(),
                        "Dimensions": [{ "Name": Dimension::Dataset.name(), "Value": contract.dataset }],
                    },
                    "Period": REJECTED_SHARE_PERIOD,
                    "Stat": "Sum",
                },
            })
        };
        t.resource(
            &rejected_share_alarm(&contract.dataset),
            Resource::new(
                "AWS::CloudWatch::Alarm",
                json!({
                    "AlarmDescription": format!(
                        "Dataset {}: rejected records above the threshold's share of its records (rejected/{}/...).",
                        contract.dataset, contract.dataset
                    ),
                    "Metrics": [
                        stat("rejected", Metric::RejectedRecords),
                        stat("records", Metric::Records),
                        {
                            "Id": "share",
                            "Expression": "100 * rejected / records",
                            "Label": format!("{} rejected %", contract.dataset),
                            "ReturnData": true,
                        },
                    ],
                    "EvaluationPeriods": 1,
                    "Threshold": reference(param::REJECTED_SHARE_PERCENT),
                    "ComparisonOperator": "GreaterThanThreshold",
                    "TreatMissingData": "notBreaching",
                    "AlarmActions": [reference("AlarmTopic")],
                }),
            ),
        );
    }
    t.resource(
        THROTTLE_ALARM,
        Resource::new(
            "AWS::CloudWatch::Alarm",
            json!({
                "AlarmDescription": format!(
                    "The Lambda processor was throttled in each of {THROTTLE_MINUTES} minutes: raise its reserved concurrency or the account's limit."
                ),
                "Namespace": "AWS/Lambda",
                "MetricName": "Throttles",
                "Dimensions": [{ "Name": "FunctionName", "Value": reference(id::FUNCTION) }],
                "Statistic": "Sum",
                "Period": 60,
                "EvaluationPeriods": THROTTLE_MINUTES,
                "DatapointsToAlarm": THROTTLE_MINUTES,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [reference("AlarmTopic")],
            }),
        ),
    );
}
