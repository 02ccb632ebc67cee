//! The metrics of one job ([`shared::ObjectMetrics`]), from its outcome: the processors print
//! them as one Embedded Metric Format line per object.

use std::time::Duration;

use shared::{Job, NAMESPACE_PREFIX, ObjectMetrics, env};

use crate::{JobError, RunOutcome, RunSettings};

/// The metrics' namespace: `PIPELINE_METRICS_NAMESPACE` (a stack sets
/// `<NAMESPACE_PREFIX>/<stack name>`), or [`NAMESPACE_PREFIX`].
pub fn metrics_namespace_from_environment() -> String {
    std::env::var(env::METRICS_NAMESPACE)
        .ok()
        .filter(|namespace| !namespace.trim().is_empty())
        .unwrap_or_else(|| NAMESPACE_PREFIX.to_owned())
}

/// What `job` did, as metrics: its route is the settings' processor, its dataset that of the
/// contract owning its key (none for a key that does not decode), its bytes those read (the
/// event's size on a failure), `elapsed` its duration.
pub fn object_metrics(
    namespace: &str,
    settings: &RunSettings,
    job: &Job,
    result: &Result<RunOutcome, JobError>,
    elapsed: Duration,
) -> ObjectMetrics {
    let dataset = job
        .key()
        .ok()
        .and_then(|key| settings.contracts.owner(&key).map(|c| c.dataset.clone()));
    let mut metrics = ObjectMetrics {
        dataset,
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        ..ObjectMetrics::new(namespace, &settings.processor)
    };
    match result {
        Ok(outcome) => {
            metrics.bytes = outcome.bytes_read;
            if let Some(records) = outcome.records {
                metrics.records = records.total;
                metrics.malformed_records = records.malformed;
            }
            metrics.rejected_records = outcome.records_rejected.unwrap_or(0);
        }
        Err(error) => {
            metrics.bytes = job.object.size;
            metrics.failure = Some(error.name());
        }
    }
    metrics
}

/// The time now in milliseconds since the Unix epoch: an EMF line's `Timestamp`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReadPlan, ReportStatus};
    use shared::{Contracts, ErrorName, JobObject, KeyLayout, RecordCounts};

    fn settings() -> RunSettings {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let contracts = Contracts::load_dir(&fixtures, "incoming/").unwrap();
        RunSettings {
            layout: KeyLayout::new("incoming/", "processed/").unwrap(),
            core: shared::Config::default(),
            processor: "lambda".to_owned(),
            read: ReadPlan::Whole,
            contracts,
            parallelism: shared::Parallelism::with_threads(1),
        }
    }

    fn job(key: &str) -> Job {
        Job {
            bucket: "b".into(),
            object: JobObject {
                key: key.into(),
                size: 99,
                etag: None,
                version_id: None,
                sequencer: None,
            },
        }
    }

    #[test]
    fn a_written_report_gives_its_counts_and_a_failure_its_name() {
        let settings = settings();
        let outcome = RunOutcome {
            bucket: "b".into(),
            key: "incoming/sales/a.csv".into(),
            report_key: "processed/sales/a.csv.report.json".into(),
            status: ReportStatus::Written,
            records: Some(RecordCounts {
                total: 7,
                valid: 6,
                malformed: 1,
            }),
            outputs: Vec::new(),
            bytes_read: 120,
            records_rejected: Some(2),
        };
        let elapsed = Duration::from_millis(42);
        let metrics = object_metrics(
            "ns",
            &settings,
            &job("incoming/sales/a.csv"),
            &Ok(outcome),
            elapsed,
        );
        assert_eq!(metrics.dataset.as_deref(), Some("sales"));
        assert_eq!(
            (metrics.bytes, metrics.records, metrics.malformed_records),
            (120, 7, 1)
        );
        assert_eq!((metrics.rejected_records, metrics.duration_ms), (2, 42));
        assert_eq!(metrics.failure, None);

        let failed = object_metrics(
            "ns",
            &settings,
            &job("incoming/other.csv"),
            &Err(JobError::new(ErrorName::SourceChanged, "x")),
            elapsed,
        );
        assert_eq!(failed.dataset, None);
        assert_eq!(failed.failure, Some(ErrorName::SourceChanged));
        assert_eq!((failed.bytes, failed.records), (99, 0));
    }
}
