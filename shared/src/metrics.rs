//! The pipeline's CloudWatch metrics: their names, units, dimensions and namespace, and the
//! one log line per object that carries them in the CloudWatch Embedded Metric Format (EMF).
//!
//! Both processors print [`ObjectMetrics::emf_line`] once per object, on stdout, beside their
//! other JSON logs: CloudWatch Logs extracts the metrics from it (Lambda's log group, and the
//! Fargate task's `awslogs` group), so no API is called and nothing waits on the hot path.
//! The dashboard and the alarms that `infra` generates name the same [`Metric`]s,
//! [`Dimension`]s and namespace from here.
//!
//! Dimensions are bounded: the route (two values), the dataset (one per data contract, or
//! [`NO_DATASET`]) and, on a failure, the error name (the [`ErrorName`] table). Never the key.
//!
//! The format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.
//! [`parse_emf`] checks a line against that specification's structure.

use serde_json::{Map, Value, json};

use crate::ErrorName;

/// The namespace's first part. A deployed stack's processors are given
/// `<NAMESPACE_PREFIX>/<stack name>` ([`env::METRICS_NAMESPACE`](crate::env::METRICS_NAMESPACE)),
/// so two stacks in one account keep their metrics apart; without it this is the namespace.
pub const NAMESPACE_PREFIX: &str = "S3UploadPipeline";

/// The Lambda route's name, in reports, logs and the `Route` dimension.
pub const LAMBDA_ROUTE: &str = "lambda";

/// The Fargate route's name, in reports, logs and the `Route` dimension.
pub const FARGATE_ROUTE: &str = "fargate";

/// The `Dataset` value of an object that no data contract owns. Dataset names are
/// `[a-z][a-z0-9_]*`, so it never names one.
pub const NO_DATASET: &str = "(none)";

/// A metric the processors emit, once per object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Objects handled (1 per line, whatever the outcome).
    Objects,
    /// Bytes of the object as stored, when this run read it (0 when its report was already
    /// there); on a failure, the size the event gave.
    Bytes,
    /// Records read (malformed ones included; a CSV header is not a record).
    Records,
    /// Records that were malformed.
    MalformedRecords,
    /// Records a data contract rejected (written under `rejected/`).
    RejectedRecords,
    /// Wall-clock time of the job, in milliseconds.
    Duration,
    /// 1 when the job failed (then also by [`Dimension::ErrorName`]), 0 otherwise.
    Failures,
}

impl Metric {
    /// Every metric, in the order of the line's directive.
    pub const ALL: [Metric; 7] = [
        Metric::Objects,
        Metric::Bytes,
        Metric::Records,
        Metric::MalformedRecords,
        Metric::RejectedRecords,
        Metric::Duration,
        Metric::Failures,
    ];

    /// The metric's name in CloudWatch.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::Objects => "Objects",
            Metric::Bytes => "Bytes",
            Metric::Records => "Records",
            Metric::MalformedRecords => "MalformedRecords",
            Metric::RejectedRecords => "RejectedRecords",
            Metric::Duration => "Duration",
            Metric::Failures => "Failures",
        }
    }

    /// Its CloudWatch unit.
    pub const fn unit(self) -> &'static str {
        match self {
            Metric::Bytes => "Bytes",
            Metric::Duration => "Milliseconds",
            Metric::Objects
            | Metric::Records
            | Metric::MalformedRecords
            | Metric::RejectedRecords
            | Metric::Failures => "Count",
        }
    }
}

/// A dimension of the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// `lambda` or `fargate`.
    Route,
    /// The data contract's dataset, or [`NO_DATASET`].
    Dataset,
    /// The failure's [`ErrorName`] (failures only).
    ErrorName,
}

impl Dimension {
    /// The dimension's name in CloudWatch.
    pub const fn name(self) -> &'static str {
        match self {
            Dimension::Route => "Route",
            Dimension::Dataset => "Dataset",
            Dimension::ErrorName => "ErrorName",
        }
    }
}

/// The dimension sets every metric is emitted under: by route and dataset, by route, by
/// dataset (the rejected-share alarms), and with no dimension (the totals).
pub const DIMENSION_SETS: [&[Dimension]; 4] = [
    &[Dimension::Route, Dimension::Dataset],
    &[Dimension::Route],
    &[Dimension::Dataset],
    &[],
];

/// The dimension sets [`Metric::Failures`] is also emitted under on a failure.
pub const FAILURE_DIMENSION_SETS: [&[Dimension]; 2] = [
    &[Dimension::ErrorName],
    &[Dimension::Route, Dimension::ErrorName],
];

/// What one job did, as metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMetrics {
    /// The CloudWatch namespace (see [`NAMESPACE_PREFIX`]).
    pub namespace: String,
    /// The route: `lambda` or `fargate`.
    pub route: String,
    /// The dataset of the contract that owns the key, if one does.
    pub dataset: Option<String>,
    /// See [`Metric::Bytes`].
    pub bytes: u64,
    /// See [`Metric::Records`].
    pub records: u64,
    /// See [`Metric::MalformedRecords`].
    pub malformed_records: u64,
    /// See [`Metric::RejectedRecords`].
    pub rejected_records: u64,
    /// See [`Metric::Duration`].
    pub duration_ms: u64,
    /// The failure's name, if the job failed.
    pub failure: Option<ErrorName>,
}

impl ObjectMetrics {
    /// The metrics of a job on `route` that did nothing yet: every count 0, no dataset, no
    /// failure.
    pub fn new(namespace: &str, route: &str) -> ObjectMetrics {
        ObjectMetrics {
            namespace: namespace.to_owned(),
            route: route.to_owned(),
            dataset: None,
            bytes: 0,
            records: 0,
            malformed_records: 0,
            rejected_records: 0,
            duration_ms: 0,
            failure: None,
        }
    }

    /// The value of `metric` on this line.
    pub fn value(&self, metric: Metric) -> u64 {
        match metric {
            Metric::Objects => 1,
            Metric::Bytes => self.bytes,
            Metric::Records => self.records,
            Metric::MalformedRecords => self.malformed_records,
            Metric::RejectedRecords => self.rejected_records,
            Metric::Duration => self.duration_ms,
            Metric::Failures => u64::from(self.failure.is_some()),
        }
    }

    /// The EMF document: one JSON object, to print as one line. `timestamp_ms` is the time of
    /// the metrics in milliseconds since the Unix epoch (the spec's `Timestamp`).
    pub fn emf_document(&self, timestamp_ms: u64) -> Value {
        let definitions = |metrics: &[Metric]| -> Vec<Value> {
            metrics
                .iter()
                .map(|m| json!({"Name": m.name(), "Unit": m.unit()}))
                .collect()
        };
        let sets = |sets: &[&[Dimension]]| -> Vec<Vec<&'static str>> {
            sets.iter()
                .map(|set| set.iter().map(|d| d.name()).collect())
                .collect()
        };
        let mut directives = vec![json!({
            "Namespace": self.namespace,
            "Dimensions": sets(&DIMENSION_SETS),
            "Metrics": definitions(&Metric::ALL),
        })];
        let mut root = Map::new();
        root.insert(Dimension::Route.name().into(), self.route.clone().into());
        root.insert(
            Dimension::Dataset.name().into(),
            self.dataset.as_deref().unwrap_or(NO_DATASET).into(),
        );
        if let Some(name) = self.failure {
            root.insert(Dimension::ErrorName.name().into(), name.as_str().into());
            directives.push(json!({
                "Namespace": self.namespace,
                "Dimensions": sets(&FAILURE_DIMENSION_SETS),
                "Metrics": definitions(&[Metric::Failures]),
            }));
        }
        for metric in Metric::ALL {
            root.insert(metric.name().into(), self.value(metric).into());
        }
        root.insert(
            "_aws".into(),
            json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
        );
        Value::Object(root)
    }

    /// [`emf_document`](Self::emf_document) as one line of JSON, without its line ending.
    pub fn emf_line(&self, timestamp_ms: u64) -> String {
        self.emf_document(timestamp_ms).to_string()
    }
}

/// A line that is not an EMF document: what the specification requires and it lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an embedded metric format document: {0}")]
pub struct EmfError(String);

/// One metric value an EMF document gives: its namespace, name, unit, dimensions (name and
/// value), value and timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct EmfValue {
    /// The directive's namespace.
    pub namespace: String,
    /// The metric's name.
    pub name: String,
    /// Its unit, if the definition has one.
    pub unit: Option<String>,
    /// The dimension set, each with the root's value for it.
    pub dimensions: Vec<(String, String)>,
    /// The value (one of them, if the member is an array).
    pub value: f64,
    /// The document's `_aws.Timestamp`: milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

impl EmfValue {
    /// The one value of `values` named `name` under exactly the dimension set `dimensions`
    /// (names and values, in any order), as a dashboard widget or an alarm selects it; an
    /// error when there is none or more than one.
    pub fn find<'v>(
        values: &'v [EmfValue],
        name: &str,
        dimensions: &[(&str, &str)],
    ) -> Result<&'v EmfValue, EmfError> {
        let mut found = values.iter().filter(|v| {
            v.name == name
                && v.dimensions.len() == dimensions.len()
                && dimensions
                    .iter()
                    .all(|&(d, value)| v.dimensions.iter().any(|(n, v)| n == d && v == value))
        });
        match (found.next(), found.next()) {
            (Some(value), None) => Ok(value),
            (None, _) => Err(EmfError(format!("no value of `{name}` by {dimensions:?}"))),
            (Some(_), Some(_)) => Err(EmfError(format!(
                "more than one value of `{name}` by {dimensions:?}"
            ))),
        }
    }

    /// The value as a whole number, if it is one and below 2^53 (where every integer is an
    /// `f64`): the processors' metrics are all counts, bytes or milliseconds.
    pub fn whole(&self) -> Option<u64> {
        const EXACT_BELOW: f64 = 9_007_199_254_740_992.0;
        let value = self.value;
        if (0.0..EXACT_BELOW).contains(&value) && value.fract() == 0.0 {
            // Exact: whole, non-negative and below 2^53.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(value as u64)
        } else {
            None
        }
    }
}

/// The CloudWatch units a `MetricDefinition` may name: the specification's schema lists them
/// (the `MetricUnit` pattern), as does
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html>.
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// The specification's limits, from its prose and its JSON schema.
mod limits {
    /// A document is a CloudWatch Logs event: at most 1 MB (the page said 256 KB before
    /// CloudWatch Logs raised its event size).
    pub const DOCUMENT_BYTES: usize = 1024 * 1024;
    /// `Namespace`: 1 to 1024 characters (schema).
    pub const NAMESPACE_CHARS: usize = 1024;
    /// A DimensionSet: at most 30 dimension keys (prose and schema `maxItems`).
    pub const DIMENSIONS_PER_SET: usize = 30;
    /// A dimension reference: 1 to 250 characters (schema `DimensionReference`).
    pub const DIMENSION_NAME_CHARS: usize = 250;
    /// A dimension target's string value: at most 1024 characters (prose).
    pub const DIMENSION_VALUE_CHARS: usize = 1024;
    /// `Metrics`: at most 100 MetricDefinitions per directive (prose).
    pub const METRICS_PER_DIRECTIVE: usize = 100;
    /// A metric `Name`: 1 to 1024 characters (schema `MetricName`).
    pub const METRIC_NAME_CHARS: usize = 1024;
    /// A numeric array metric target: at most 100 members (prose).
    pub const VALUES_PER_METRIC: usize = 100;
}

/// Whether `text` has 1 to `max` characters.
fn length_within(text: &str, max: usize) -> bool {
    !text.is_empty() && text.chars().count() <= max
}

/// Parses `line` as an EMF document, checking the structure the specification documents
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>,
/// its prose and its JSON schema), and returns every metric value it defines (one per
/// directive, metric, dimension set and value):
///
/// - the line is one JSON object and nothing else, of at most 1 MB; its `_aws` member is an
///   object with exactly a `Timestamp` (an integer: milliseconds since the epoch) and a
///   `CloudWatchMetrics` array of metric directives ("objects defined by this specification
///   MUST NOT contain any additional members": no agent extension such as `LogGroupName`);
/// - a directive has exactly `Namespace` (a string of 1 to 1024 characters), `Dimensions` (a
///   non-empty array of dimension sets) and `Metrics` (an array of at most 100 metric
///   definitions);
/// - a dimension set is an array of at most 30 strings (it may be empty), each of 1 to 250
///   characters naming a member of the root whose value is a string of at most 1024
///   characters;
/// - a metric definition has a `Name` (1 to 1024 characters, naming a member of the root whose
///   value is a number or an array of at most 100 numbers), and may have a `Unit` (a
///   CloudWatch unit) and a `StorageResolution` (1 or 60), nothing else.
///
/// It is as strict as the specification is with whoever writes a document, not as lenient as
/// CloudWatch may be when it reads one: it checks the processors' own lines.
// One pass over the spec's rules, in its order; split, it would read worse.
#[allow(clippy::too_many_lines)]
pub fn parse_emf(line: &str) -> Result<Vec<EmfValue>, EmfError> {
    let fail = |what: String| Err(EmfError(what));
    if line.len() > limits::DOCUMENT_BYTES {
        return fail(format!("the line has {} bytes, over 1 MB", line.len()));
    }
    let root: Value = serde_json::from_str(line)
        .map_err(|e| EmfError(format!("the line is not one JSON value: {e}")))?;
    let Some(root) = root.as_object() else {
        return fail("the root is not a JSON object".into());
    };
    let Some(metadata) = root.get("_aws").and_then(Value::as_object) else {
        return fail("no `_aws` object at the root".into());
    };
    for member in metadata.keys() {
        if member != "Timestamp" && member != "CloudWatchMetrics" {
            return fail(format!("`_aws.{member}` is not a member the spec allows"));
        }
    }
    let Some(timestamp_ms) = metadata.get("Timestamp").and_then(Value::as_u64) else {
        return fail("`_aws.Timestamp` is not an integer number of milliseconds".into());
    };
    let Some(directives) = metadata.get("CloudWatchMetrics").and_then(Value::as_array) else {
        return fail("`_aws.CloudWatchMetrics` is not an array".into());
    };
    let mut values = Vec::new();
    for directive in directives {
        let Some(directive) = directive.as_object() else {
            return fail("a metric directive is not an object".into());
        };
        if directive.len() != 3 {
            return fail(format!(
                "a metric directive has members {:?}, not Namespace, Dimensions, Metrics",
                directive.keys().collect::<Vec<_>>()
            ));
        }
        let namespace = match directive.get("Namespace").and_then(Value::as_str) {
            Some(namespace) if length_within(namespace, limits::NAMESPACE_CHARS) => namespace,
            _ => {
                return fail(
                    "a directive's `Namespace` is not a string of 1 to 1024 characters".into(),
                );
            }
        };
        let sets = match directive.get("Dimensions").and_then(Value::as_array) {
            Some(sets) if !sets.is_empty() => sets,
            _ => return fail("a directive's `Dimensions` is not a non-empty array".into()),
        };
        let Some(metrics) = directive.get("Metrics").and_then(Value::as_array) else {
            return fail("a directive's `Metrics` is not an array".into());
        };
        if metrics.len() > limits::METRICS_PER_DIRECTIVE {
            return fail("a directive has more than 100 metrics".into());
        }
        let mut dimension_sets = Vec::new();
        for set in sets {
            let Some(set) = set.as_array() else {
                return fail("a dimension set is not an array".into());
            };
            if set.len() > limits::DIMENSIONS_PER_SET {
                return fail("a dimension set has more than 30 dimensions".into());
            }
            let mut dimensions = Vec::new();
            for dimension in set {
                let name = match dimension.as_str() {
                    Some(name) if length_within(name, limits::DIMENSION_NAME_CHARS) => name,
                    _ => {
                        return fail(format!(
                            "dimension {dimension} is not a string of 1 to 250 characters"
                        ));
                    }
                };
                let value = match root.get(name).and_then(Value::as_str) {
                    Some(value) if value.chars().count() <= limits::DIMENSION_VALUE_CHARS => value,
                    Some(_) => return fail(format!("dimension {name:?} is over 1024 characters")),
                    None => {
                        return fail(format!(
                            "dimension {name:?} has no string value at the root"
                        ));
                    }
                };
                dimensions.push((name.to_owned(), value.to_owned()));
            }
            dimension_sets.push(dimensions);
        }
        for definition in metrics {
            let Some(definition) = definition.as_object() else {
                return fail("a metric definition is not an object".into());
            };
            let mut unit = None;
            for (member, value) in definition {
                match (member.as_str(), value) {
                    ("Name", Value::String(_)) => {}
                    ("Unit", Value::String(u)) if UNITS.contains(&u.as_str()) => {
                        unit = Some(u.clone());
                    }
                    ("StorageResolution", v) if v.as_u64() == Some(1) || v.as_u64() == Some(60) => {
                    }
                    _ => return fail(format!("metric definition member {member:?} = {value}")),
                }
            }
            let name = match definition.get("Name").and_then(Value::as_str) {
                Some(name) if length_within(name, limits::METRIC_NAME_CHARS) => name,
                _ => {
                    return fail(
                        "a metric definition's `Name` is not a string of 1 to 1024 characters"
                            .into(),
                    );
                }
            };
            let numbers: Option<Vec<f64>> = match root.get(name) {
                Some(Value::Number(n)) => n.as_f64().map(|n| vec![n]),
                Some(Value::Array(items)) if items.len() <= limits::VALUES_PER_METRIC => {
                    items.iter().map(Value::as_f64).collect()
                }
                _ => None,
            };
            let Some(numbers) = numbers else {
                return fail(format!(
                    "metric {name:?} has no number or array of at most 100 numbers at the root"
                ));
            };
            for dimensions in &dimension_sets {
                for &value in &numbers {
                    values.push(EmfValue {
                        namespace: namespace.to_owned(),
                        name: name.to_owned(),
                        unit: unit.clone(),
                        dimensions: dimensions.clone(),
                        value,
                        timestamp_ms,
                    });
                }
            }
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(failure: Option<ErrorName>, dataset: Option<&str>) -> ObjectMetrics {
        ObjectMetrics {
            namespace: NAMESPACE_PREFIX.to_owned(),
            route: "lambda".to_owned(),
            dataset: dataset.map(str::to_owned),
            bytes: 1234,
            records: 10,
            malformed_records: 2,
            rejected_records: 3,
            duration_ms: 57,
            failure,
        }
    }

    fn value(values: &[EmfValue], name: &str, dimensions: &[(&str, &str)]) -> u64 {
        let found = EmfValue::find(values, name, dimensions).unwrap();
        found.whole().unwrap()
    }

    /// CloudWatch identifies a metric by its namespace, name and whole set of dimensions:
    /// "A dimension is a name/value pair that is part of the identity of a metric. Because
    /// dimensions are part of the unique identifier for a metric, whenever you add a unique
    /// name/value pair to one of your metrics, you are creating a new variation of that
    /// metric" (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html>).
    /// So a widget or alarm naming `Route` alone reads another metric than one naming `Route`
    /// and `Dataset`, and `find` matches the exact set, never a subset.
    #[test]
    fn a_value_is_found_by_its_name_and_exact_dimension_set() {
        let line = sample(None, Some("sales")).emf_line(1_700_000_000_000);
        let values = parse_emf(&line).unwrap();
        let both = [("Dataset", "sales"), ("Route", "lambda")];
        let found = EmfValue::find(&values, "Records", &both).unwrap();
        assert_eq!(found.dimensions.len(), 2);
        // A subset of a set's dimensions is another set: here, one that exists.
        let route = EmfValue::find(&values, "Records", &[("Route", "lambda")]).unwrap();
        assert_eq!(
            route.dimensions,
            [("Route".to_owned(), "lambda".to_owned())]
        );
        let missing = EmfValue::find(&values, "Records", &[("Route", "fargate")]);
        assert!(missing.unwrap_err().to_string().contains("no value"));
        let twice = [values.clone(), values].concat();
        let error = EmfValue::find(&twice, "Records", &both).unwrap_err();
        assert!(error.to_string().contains("more than one"), "{error}");
    }

    #[test]
    fn a_line_is_one_emf_document_with_every_metric_under_each_dimension_set() {
        let line = sample(None, Some("sales")).emf_line(1_700_000_000_000);
        assert!(!line.contains('\n'));
        let values = parse_emf(&line).unwrap();
        assert_eq!(values.len(), Metric::ALL.len() * DIMENSION_SETS.len());
        let both = [("Route", "lambda"), ("Dataset", "sales")];
        assert_eq!(value(&values, "Objects", &both), 1);
        assert_eq!(value(&values, "Bytes", &[("Route", "lambda")]), 1234);
        assert_eq!(
            value(&values, "RejectedRecords", &[("Dataset", "sales")]),
            3
        );
        assert_eq!(value(&values, "Duration", &[]), 57);
        assert_eq!(value(&values, "Failures", &both), 0);
        assert!(values.iter().all(|v| v.namespace == NAMESPACE_PREFIX));
        let duration = values.iter().find(|v| v.name == "Duration").unwrap();
        assert_eq!(duration.unit.as_deref(), Some("Milliseconds"));
        let document: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(document["_aws"]["Timestamp"], 1_700_000_000_000_u64);
        assert!(document.get("ErrorName").is_none());
    }

    #[test]
    fn a_failure_counts_by_its_error_name_and_an_unowned_key_has_no_dataset() {
        let line = sample(Some(ErrorName::ContractViolation), None).emf_line(1);
        let values = parse_emf(&line).unwrap();
        assert_eq!(
            value(&values, "Failures", &[("ErrorName", "ContractViolation")]),
            1
        );
        assert_eq!(
            value(
                &values,
                "Failures",
                &[("Route", "lambda"), ("ErrorName", "ContractViolation")]
            ),
            1
        );
        assert_eq!(value(&values, "Failures", &[("Dataset", NO_DATASET)]), 1);
    }

    // What the specification requires of a document, as AWS documents it:
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    // (the prose: "objects defined by this specification MUST NOT contain any additional
    // members", `Timestamp` in milliseconds after the epoch, a DimensionSet of at most 30 keys
    // whose targets are strings of at most 1024 characters, at most 100 MetricDefinitions per
    // directive, a numeric array target of at most 100 members; the JSON schema at the end of
    // the page: `Timestamp` an integer, `Dimensions` at least one set, a DimensionReference of
    // 1 to 250 characters, `Namespace` and `Name` of 1 to 1024, the `MetricUnit` pattern).
    #[test]
    fn parsing_refuses_what_the_specification_does_not_allow() {
        let good = sample(Some(ErrorName::Storage), Some("sales")).emf_document(5);
        assert!(parse_emf(&good.to_string()).is_ok());
        let broken = |change: &dyn Fn(&mut Value)| {
            let mut document = good.clone();
            change(&mut document);
            parse_emf(&document.to_string()).unwrap_err()
        };
        let metadata = |d: &mut Value| d["_aws"].as_object_mut().unwrap().clone();
        broken(&|d| {
            let mut m = metadata(d);
            m.remove("Timestamp");
            d["_aws"] = Value::Object(m);
        });
        broken(&|d| {
            let mut m = metadata(d);
            m.remove("CloudWatchMetrics");
            d["_aws"] = Value::Object(m);
        });
        broken(&|d| d["_aws"]["Timestamp"] = 1.5.into());
        broken(&|d| d["_aws"]["Timestamp"] = (-1).into());
        broken(&|d| d["_aws"]["Timestamp"] = "5".into());
        broken(&|d| d["_aws"]["Extra"] = 1.into());
        // Not in the specification (the CloudWatch agent's extension): refused like any other.
        broken(&|d| d["_aws"]["LogGroupName"] = "group".into());
        broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] = "".into());
        broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] = "n".repeat(1025).into());
        broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([]));
        broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!(["Route"]));
        broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0] = "Missing".into());
        broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0] = "".into());
        broken(&|d| d["Route"] = 3.into());
        broken(&|d| d["Route"] = "r".repeat(1025).into());
        broken(&|d| d["Bytes"] = "many".into());
        broken(&|d| d["Bytes"] = json!([1, "2"]));
        broken(&|d| d["Bytes"] = json!(vec![1; 101]));
        broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Parsecs".into());
        broken(&|d| {
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"] = 5.into();
        });
        broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] = "".into());
        broken(&|d| d["_aws"]["CloudWatchMetrics"][1]["Other"] = 1.into());
        assert!(parse_emf(&format!("x{good}")).is_err());
        assert!(parse_emf(&format!("{good}x")).is_err());
        assert!(parse_emf("[1]").is_err());
        let mut big = good.clone();
        big["Padding"] = "p".repeat(1024 * 1024).into();
        assert!(parse_emf(&big.to_string()).is_err());
    }

    #[test]
    fn parsing_accepts_what_the_specification_allows_up_to_its_limits() {
        let mut root = Map::new();
        let keys: Vec<String> = (0..30).map(|i| format!("D{i}")).collect();
        for key in &keys {
            root.insert(key.clone(), "v".repeat(1024).into());
        }
        let names: Vec<String> = (0..100).map(|i| format!("M{i}")).collect();
        for name in &names {
            root.insert(name.clone(), 1.into());
        }
        root.insert("M0".into(), json!(vec![2.5; 100]));
        root.insert("M1".into(), json!([]));
        let metrics: Vec<Value> = names
            .iter()
            .map(|n| json!({"Name": n, "Unit": "Count/Second", "StorageResolution": 1}))
            .collect();
        root.insert(
            "_aws".into(),
            json!({"Timestamp": 0, "CloudWatchMetrics": [
                {"Namespace": "n".repeat(1024), "Dimensions": [keys, []], "Metrics": metrics}
            ]}),
        );
        let values = parse_emf(&Value::Object(root).to_string()).unwrap();
        // M0: 100 values, M1: none, 98 others: one each; under each of the two sets.
        assert_eq!(values.len(), 2 * (100 + 98));
        assert!(values.iter().all(|v| v.timestamp_ms == 0));
        assert_eq!(
            values.iter().filter(|v| v.dimensions.len() == 30).count(),
            198
        );
    }

    #[test]
    fn a_line_has_the_shape_the_specification_documents() {
        let line = sample(Some(ErrorName::Storage), Some("sales")).emf_line(1_574_109_732_004);
        let document: Value = serde_json::from_str(&line).unwrap();
        let metadata = document["_aws"].as_object().unwrap();
        let mut members: Vec<&str> = metadata.keys().map(String::as_str).collect();
        members.sort_unstable();
        assert_eq!(members, ["CloudWatchMetrics", "Timestamp"]);
        assert_eq!(metadata["Timestamp"].as_u64(), Some(1_574_109_732_004));
        for directive in metadata["CloudWatchMetrics"].as_array().unwrap() {
            let directive = directive.as_object().unwrap();
            assert_eq!(directive.len(), 3);
            assert_eq!(directive["Namespace"], NAMESPACE_PREFIX);
            let sets = directive["Dimensions"].as_array().unwrap();
            assert!(!sets.is_empty());
            for set in sets {
                let set = set.as_array().unwrap();
                assert!(set.len() <= 30 && set.iter().all(Value::is_string));
            }
            for definition in directive["Metrics"].as_array().unwrap() {
                let definition = definition.as_object().unwrap();
                let mut members: Vec<&str> = definition.keys().map(String::as_str).collect();
                members.sort_unstable();
                assert_eq!(members, ["Name", "Unit"]);
            }
        }
        let values = parse_emf(&line).unwrap();
        assert!(values.iter().all(|v| v.timestamp_ms == 1_574_109_732_004));
    }

    #[test]
    fn names_are_distinct_and_units_are_cloudwatch_units() {
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.extend(["Route", "Dataset", "ErrorName", "_aws"]);
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
        assert!(Metric::ALL.iter().all(|m| UNITS.contains(&m.unit())));
    }
}
