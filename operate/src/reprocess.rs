//! `reprocess`: start an execution per object under a prefix (or per key of a list), with the
//! event EventBridge delivers ([`crate::event`]), pinned to the object's current version.
//!
//! - An object whose report already matches its current version (version id and etag, the
//!   processors' own test) is skipped, unless forced; folder markers are skipped.
//! - Resumable: each execution is named after the run's label and the object version
//!   (`<run>-<hash>`). Step Functions keeps a Standard workflow's execution name for 90 days:
//!   a second StartExecution with that name starts nothing; it answers with the existing
//!   execution while that one is open and the input is the same, and with
//!   `ExecutionAlreadyExists` when the input differs or the execution has closed. So running
//!   the same command again after an interruption starts only the objects it had not
//!   started; a new run (another label) starts the failed ones again. (AWS:
//!   <https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html>,
//!   the `name` parameter;
//!   <https://docs.aws.amazon.com/step-functions/latest/dg/express-at-least-once-execution.html>:
//!   Standard workflows return "an idempotent response on starting an execution with the
//!   same name as a currently-running workflow", names reusable after 90 days;
//!   <https://docs.aws.amazon.com/botocore/latest/reference/services/stepfunctions/client/exceptions/ExecutionAlreadyExists.html>:
//!   "same name as another execution (but a different input)".) The event's `time` is the
//!   run's start, so a resumed run's input differs and every earlier start answers
//!   `ExecutionAlreadyExists`, counted as already started, open or closed.
//! - At most `executions_per_second` starts a second, one at a time, to stay under the
//!   account's StartExecution and Lambda limits.

use std::time::Duration;

use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata};
use sha2::{Digest, Sha256};

use crate::OperateError;
use futures::{StreamExt, TryStreamExt};

use crate::bucket::{Bucket, ObjectVersion, ReportHead};
use crate::event::{EventOrigin, object_created};

/// Which objects to reprocess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every object under this prefix.
    Prefix(String),
    /// These keys (a missing one counts as failed to start).
    Keys(Vec<String>),
}

/// How to reprocess.
#[derive(Debug, Clone, PartialEq)]
pub struct ReprocessOptions {
    /// Start even when the report matches the current version.
    pub force: bool,
    /// List what would start, start nothing.
    pub dry_run: bool,
    /// Starts a second at most.
    pub executions_per_second: f64,
    /// The run's label, the first part of every execution name: the same label resumes, a
    /// new one starts again.
    pub run: String,
    /// Stop after starting this many (the rest is left for the next run).
    pub max_starts: Option<usize>,
    /// Draw a progress bar on standard error (the binary sets it on a terminal).
    pub progress: bool,
}

impl Default for ReprocessOptions {
    fn default() -> Self {
        ReprocessOptions {
            force: false,
            dry_run: false,
            executions_per_second: 10.0,
            run: "reprocess".into(),
            max_starts: None,
            progress: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Objects looked at.
    pub objects: usize,
    /// Executions started (with `dry_run`: that would start), by key.
    pub started: Vec<String>,
    /// Skipped: their report matches their current version.
    pub skipped: usize,
    /// Skipped: folder markers, keys outside the input prefix.
    pub ignored: usize,
    /// Started before under this run's label (an interrupted run taken up again).
    pub already_started: usize,
    /// Left for a later run ([`ReprocessOptions::max_starts`]).
    pub left: usize,
    /// Could not start: key and why.
    pub failed_to_start: Vec<(String, String)>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} objects: {} started, {} skipped (report matches the version), {} already started by this run, {} ignored (folders, outside the input prefix), {} failed to start",
            self.objects,
            self.started.len(),
            self.skipped,
            self.already_started,
            self.ignored,
            self.failed_to_start.len()
        )?;
        if self.left > 0 {
            write!(f, ", {} left for the next run", self.left)?;
        }
        Ok(())
    }
}

/// The execution name of `object` in the run `run`: the label (only the characters
/// Step Functions allows in a name, at most 40) and a hash of bucket, key, version and etag.
pub fn execution_name(run: &str, bucket: &str, object: &ObjectVersion) -> String {
    let label: String = run
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    let mut hash = Sha256::new();
    for part in [
        bucket,
        &object.key,
        object.version_id.as_deref().unwrap_or(""),
        object.etag.as_deref().unwrap_or(""),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize()[..16]
        .iter()
        .fold(String::with_capacity(32), |mut hex, b| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{b:02x}");
            hex
        });
    format!("{label}-{digest}")
}

/// The rate limit: the `n`-th start (from 0) of a run is not sent before `n / rate` seconds
/// after the first. A schedule, not a sleep between starts: time spent in the requests
/// themselves counts toward the interval, and a slow request does not let a burst follow
/// (each start waits for its own slot).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    period: Duration,
}

impl Pace {
    /// At most `executions_per_second` starts a second (at least one every 1,000 seconds).
    pub fn new(executions_per_second: f64) -> Pace {
        Pace {
            period: Duration::from_secs_f64(1.0 / executions_per_second.max(0.001)),
        }
    }

    /// How long after the first start the `n`-th may be sent.
    pub fn offset(&self, n: u32) -> Duration {
        self.period * n
    }
}

/// How many reports `reprocess` and `status` read at once.
pub(crate) const CONCURRENT_READS: usize = 16;

/// Whether `object` is an input to reprocess (not a folder marker, under the input prefix).
fn is_candidate(bucket: &Bucket, object: &ObjectVersion) -> bool {
    !object.key.ends_with('/') && bucket.layout().is_input(&object.key)
}

/// A bar on standard error when `shown`, else a hidden one.
fn progress_bar(len: usize, shown: bool) -> indicatif::ProgressBar {
    if shown {
        let bar = indicatif::ProgressBar::new(len as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} {per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    }
}

/// Reprocesses `selection` of `bucket` with the state machine `state_machine_arn`.
pub async fn reprocess(
    bucket: &Bucket,
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    selection: &Selection,
    options: &ReprocessOptions,
) -> Result<Summary, OperateError> {
    let origin = EventOrigin::of_state_machine(state_machine_arn)
        .ok_or_else(|| OperateError::BadStateMachineArn(state_machine_arn.to_owned()))?;
    let mut summary = Summary::default();
    let objects = match selection {
        Selection::Prefix(prefix) => bucket.objects(prefix).await?,
        Selection::Keys(keys) => {
            let mut objects = Vec::with_capacity(keys.len());
            for key in keys {
                match bucket.object(key).await? {
                    Some(object) => objects.push(object),
                    None => summary
                        .failed_to_start
                        .push((key.clone(), "no such object".into())),
                }
            }
            objects
        }
    };
    summary.objects = objects.len() + summary.failed_to_start.len();
    let bar = progress_bar(objects.len(), options.progress);
    let pace = Pace::new(options.executions_per_second);
    let mut first_start: Option<tokio::time::Instant> = None;
    let mut sent: u32 = 0;
    let started_at = time::OffsetDateTime::now_utc();
    // The reports, read a few at a time (one GET each; the starts stay one at a time).
    let reports: Vec<Option<ReportHead>> = if options.force {
        vec![None; objects.len()]
    } else {
        futures::stream::iter(objects.iter().map(|object| async move {
            if is_candidate(bucket, object) {
                bucket.report(&object.key).await
            } else {
                Ok(None)
            }
        }))
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await?
    };
    for (object, report) in objects.into_iter().zip(reports) {
        bar.inc(1);
        if !is_candidate(bucket, &object) {
            summary.ignored += 1;
            continue;
        }
        if report.is_some_and(|report| report.matches(&object)) {
            summary.skipped += 1;
            continue;
        }
        if options
            .max_starts
            .is_some_and(|max| summary.started.len() >= max)
        {
            summary.left += 1;
            continue;
        }
        if options.dry_run {
            summary.started.push(object.key.clone());
            continue;
        }
        let first = *first_start.get_or_insert_with(tokio::time::Instant::now);
        tokio::time::sleep_until(first + pace.offset(sent)).await;
        sent = sent.saturating_add(1);
        let name = execution_name(&options.run, bucket.name(), &object);
        let time = started_at
            .format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .unwrap_or_default();
        let event = object_created(bucket.name(), &object, &origin, &name, &time);
        let started = sfn
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(&name)
            .input(event.to_string())
            .send()
            .await;
        match started {
            Ok(_) => {
                bar.set_message(object.key.clone());
                summary.started.push(object.key);
            }
            Err(error) if error.code() == Some("ExecutionAlreadyExists") => {
                summary.already_started += 1;
            }
            Err(error) => summary
                .failed_to_start
                .push((object.key, DisplayErrorContext(error).to_string())),
        }
    }
    bar.finish_and_clear();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_spreads_starts_evenly_at_the_rate() {
        let pace = Pace::new(4.0);
        assert_eq!(pace.offset(0), Duration::ZERO);
        assert_eq!(pace.offset(1), Duration::from_millis(250));
        assert_eq!(pace.offset(4), Duration::from_secs(1));
        assert_eq!(pace.offset(40), Duration::from_secs(10));
        // 1,000 starts at 200 a second take 5 seconds, whatever the requests cost.
        assert_eq!(Pace::new(200.0).offset(1000), Duration::from_secs(5));
        // A rate of zero or below is one start every 1,000 seconds, never a division by 0.
        assert_eq!(Pace::new(0.0).offset(1), Duration::from_secs(1000));
    }

    #[test]
    fn execution_names_are_valid_and_one_per_version_and_run() {
        let object = ObjectVersion {
            key: "incoming/a.csv".into(),
            version_id: Some("v1".into()),
            etag: Some("e".into()),
            size: 1,
        };
        let name = execution_name("fix contract #2!", "b", &object);
        assert!(name.starts_with("fixcontract2-"), "{name}");
        assert!(name.len() <= 80);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(name, execution_name("fix contract #2!", "b", &object));
        let newer = ObjectVersion {
            version_id: Some("v2".into()),
            ..object.clone()
        };
        assert_ne!(name, execution_name("fix contract #2!", "b", &newer));
        assert_ne!(name, execution_name("again", "b", &object));
        assert!(execution_name(&"x".repeat(200), "b", &object).len() <= 80);
    }
}
