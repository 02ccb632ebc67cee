//! `status`: what happened to each object under a key or prefix.
//!
//! The last outcome is the newer of the object's report and its failure record, by S3's
//! `LastModified` (one clock for both): a failure record is never deleted, a later report
//! supersedes it ([`shared::FailureRecord`]). The execution ARN of a failure is in its record;
//! that of a success is found, when a state machine is given, among its most recent
//! executions (their input names the object and version).

use std::collections::HashMap;
use std::fmt;

use aws_sdk_sfn::error::DisplayErrorContext;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use crate::OperateError;
use crate::bucket::{Bucket, FailureRecordHead, ObjectVersion, ReportHead};

/// One object's state.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectStatus {
    /// The object's current version.
    pub object: ObjectVersion,
    /// Its last outcome.
    pub outcome: Outcome,
}

/// An object's last outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Neither a report nor a failure record (not processed yet, or still running).
    NoneYet {
        /// A running execution for it, when one was found.
        running: Option<String>,
    },
    /// The report is the newer.
    Processed {
        /// The report.
        report: ReportHead,
        /// Whether it is about the object's current version.
        current: bool,
        /// The execution that wrote it, when one was found.
        execution_arn: Option<String>,
    },
    /// The failure record is the newer.
    Failed {
        /// The record.
        record: Box<FailureRecordHead>,
        /// Whether it is about the object's current version.
        current: bool,
    },
}

impl Outcome {
    /// `processed`, `failed` or `none yet` (with `(older version)` when the outcome is not
    /// about the current version).
    pub fn label(&self) -> String {
        let older = |current: bool| if current { "" } else { " (older version)" };
        match self {
            Outcome::NoneYet { running: None } => "none yet".to_owned(),
            Outcome::NoneYet { running: Some(_) } => "running".to_owned(),
            Outcome::Processed { current, .. } => format!("processed{}", older(*current)),
            Outcome::Failed { record, current } => {
                format!("failed: {}{}", record.record.error, older(*current))
            }
        }
    }

    /// The execution this outcome comes from, when known.
    pub fn execution_arn(&self) -> Option<&str> {
        match self {
            Outcome::NoneYet { running } => running.as_deref(),
            Outcome::Processed { execution_arn, .. } => execution_arn.as_deref(),
            Outcome::Failed { record, .. } => Some(&record.record.execution_arn),
        }
    }
}

impl fmt::Display for ObjectStatus {
    /// One block per object:
    ///
    /// ```text
    /// incoming/a.csv
    ///   version    3HL4kqtJ (etag b1946ac9, 5 bytes)
    ///   outcome    processed
    ///   route      lambda
    ///   outputs    processed/a.csv.report.json
    ///   execution  arn:aws:states:…
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let object = &self.object;
        writeln!(f, "{}", object.key)?;
        writeln!(
            f,
            "  version    {} (etag {}, {} bytes)",
            object.version_id.as_deref().unwrap_or("null"),
            object.etag.as_deref().unwrap_or("-"),
            object.size
        )?;
        writeln!(f, "  outcome    {}", self.outcome.label())?;
        match &self.outcome {
            Outcome::Processed { report, .. } => {
                writeln!(f, "  route      {}", report.route.as_deref().unwrap_or("-"))?;
                let mut outputs = vec![report.key.clone()];
                outputs.extend(report.outputs.iter().cloned());
                writeln!(f, "  outputs    {}", outputs.join(", "))?;
            }
            Outcome::Failed { record, .. } => {
                writeln!(f, "  record     {}", record.key)?;
                if let Some(cause) = &record.record.cause {
                    let short: String = cause.chars().take(200).collect();
                    writeln!(f, "  cause      {short}")?;
                }
                writeln!(f, "  failed at  {}", record.record.failed_at)?;
            }
            Outcome::NoneYet { .. } => {}
        }
        writeln!(
            f,
            "  execution  {}",
            self.outcome.execution_arn().unwrap_or("-")
        )
    }
}

/// Recent executions of the state machine, by the object and version their input names.
#[derive(Debug, Default)]
pub struct ExecutionIndex {
    by_object: HashMap<(String, Option<String>), (String, String)>,
}

impl ExecutionIndex {
    /// The `limit` most recent executions of `state_machine_arn` (one `ListExecutions` page
    /// per 100 and a `DescribeExecution` each, to read the input).
    pub async fn recent(
        client: &aws_sdk_sfn::Client,
        state_machine_arn: &str,
        limit: usize,
    ) -> Result<ExecutionIndex, OperateError> {
        let mut index = ExecutionIndex::default();
        let mut token = None;
        let mut seen = 0;
        let failed =
            |operation, message: String| OperateError::StepFunctions { operation, message };
        while seen < limit {
            let page = client
                .list_executions()
                .state_machine_arn(state_machine_arn)
                .max_results(i32::try_from((limit - seen).min(100)).unwrap_or(100))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| failed("ListExecutions", DisplayErrorContext(e).to_string()))?;
            for execution in page.executions() {
                seen += 1;
                let described = client
                    .describe_execution()
                    .execution_arn(execution.execution_arn())
                    .send()
                    .await
                    .map_err(|e| failed("DescribeExecution", DisplayErrorContext(e).to_string()))?;
                let Some(input) = described
                    .input()
                    .and_then(|text| serde_json::from_str::<Value>(text).ok())
                else {
                    continue;
                };
                let object = &input["detail"]["object"];
                let Some(key) = object["key"]
                    .as_str()
                    .and_then(|k| shared::decode_event_key(k).ok())
                else {
                    continue;
                };
                let version = object["version-id"].as_str().map(str::to_owned);
                // Newest first: the first seen of an object is its latest execution.
                index.by_object.entry((key, version)).or_insert((
                    execution.execution_arn().to_owned(),
                    execution.status().as_str().to_owned(),
                ));
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(index)
    }

    /// The latest execution for this object version, and its status (`RUNNING`, …).
    pub fn latest(&self, object: &ObjectVersion) -> Option<(&str, &str)> {
        self.by_object
            .get(&(object.key.clone(), object.version_id.clone()))
            .map(|(arn, status)| (arn.as_str(), status.as_str()))
    }
}

/// The status of every object under `prefix` (a whole key is a prefix too), in key order.
/// `executions` (see [`ExecutionIndex::recent`]) finds the executions of successes and
/// running ones.
pub async fn status(
    bucket: &Bucket,
    prefix: &str,
    executions: Option<&ExecutionIndex>,
) -> Result<Vec<ObjectStatus>, OperateError> {
    let objects = bucket.objects(prefix).await?;
    let records: HashMap<String, String> =
        bucket.failure_records(prefix).await?.into_iter().collect();
    let inputs = objects
        .into_iter()
        .filter(|object| bucket.layout().is_input(&object.key));
    // A few objects at a time: a report GET each, a record GET for those that have one.
    futures::stream::iter(inputs.map(|object| {
        let records = &records;
        async move {
            let report = bucket.report(&object.key).await?;
            let record = match records.get(&object.key) {
                Some(record_key) => bucket.failure_record(record_key).await?,
                None => None,
            };
            let latest = executions.and_then(|index| index.latest(&object));
            let outcome = last_outcome(&object, report, record, latest);
            Ok(ObjectStatus { object, outcome })
        }
    }))
    .buffered(crate::reprocess::CONCURRENT_READS)
    .try_collect()
    .await
}

/// The newer of the report and the failure record (a tie goes to the report: it is the
/// commit marker of a success).
fn last_outcome(
    object: &ObjectVersion,
    report: Option<ReportHead>,
    record: Option<FailureRecordHead>,
    latest: Option<(&str, &str)>,
) -> Outcome {
    let record_is_newer = match (&report, &record) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(report), Some(record)) => record.last_modified > report.last_modified,
    };
    if let (Some((arn, "RUNNING")), false) =
        (latest, report.as_ref().is_some_and(|r| r.matches(object)))
    {
        return Outcome::NoneYet {
            running: Some(arn.to_owned()),
        };
    }
    match (report, record) {
        (_, Some(record)) if record_is_newer => {
            let current = record.record.object.version_id == object.version_id;
            Outcome::Failed {
                record: Box::new(record),
                current,
            }
        }
        (Some(report), _) => {
            let current = report.matches(object);
            let execution_arn = latest
                .filter(|(_, status)| *status == "SUCCEEDED" && current)
                .map(|(arn, _)| arn.to_owned());
            Outcome::Processed {
                report,
                current,
                execution_arn,
            }
        }
        (None, _) => Outcome::NoneYet { running: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::primitives::DateTime;
    use shared::{FailureRecord, JobObject};

    fn object(version: &str) -> ObjectVersion {
        ObjectVersion {
            key: "incoming/a.csv".into(),
            version_id: Some(version.into()),
            etag: Some("e".into()),
            size: 3,
        }
    }

    fn report(version: &str, at: i64) -> ReportHead {
        ReportHead {
            key: "processed/a.csv.report.json".into(),
            last_modified: Some(DateTime::from_secs(at)),
            version_id: Some(version.into()),
            etag: Some("e".into()),
            route: Some("lambda".into()),
            outputs: vec![],
        }
    }

    fn record(version: &str, at: i64) -> FailureRecordHead {
        FailureRecordHead {
            key: "failed/incoming/a.csv.json".into(),
            last_modified: Some(DateTime::from_secs(at)),
            record: FailureRecord {
                schema_version: 1,
                error: "InvalidInput".into(),
                cause: None,
                execution_arn: "arn:x".into(),
                failed_at: "t".into(),
                bucket: "b".into(),
                object: JobObject {
                    key: "incoming/a.csv".into(),
                    size: 3,
                    etag: None,
                    version_id: Some(version.into()),
                    sequencer: None,
                },
            },
        }
    }

    #[test]
    fn the_newer_of_report_and_record_is_the_last_outcome() {
        let v2 = object("v2");
        // A failure, then a success of the same version: the report supersedes the record.
        let later_success = last_outcome(&v2, Some(report("v2", 20)), Some(record("v2", 10)), None);
        assert_eq!(later_success.label(), "processed");
        // A success, then a failure (a forced reprocess under a stricter contract).
        let later_failure = last_outcome(&v2, Some(report("v2", 10)), Some(record("v2", 20)), None);
        assert_eq!(later_failure.label(), "failed: InvalidInput");
        assert_eq!(later_failure.execution_arn(), Some("arn:x"));
        // A record of an older version, no report yet of the new one.
        let old_failure = last_outcome(&v2, None, Some(record("v1", 20)), None);
        assert_eq!(old_failure.label(), "failed: InvalidInput (older version)");
        let old_report = last_outcome(&v2, Some(report("v1", 10)), None, None);
        assert_eq!(old_report.label(), "processed (older version)");
        assert_eq!(last_outcome(&v2, None, None, None).label(), "none yet");
        let running = last_outcome(
            &v2,
            Some(report("v1", 10)),
            None,
            Some(("arn:r", "RUNNING")),
        );
        assert_eq!(running.label(), "running");
        assert_eq!(running.execution_arn(), Some("arn:r"));
        let found = last_outcome(
            &v2,
            Some(report("v2", 10)),
            None,
            Some(("arn:s", "SUCCEEDED")),
        );
        assert_eq!(found.execution_arn(), Some("arn:s"));
    }
}
