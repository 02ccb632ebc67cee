//! One job, end to end: resolve the object, skip it if done, stream it through the core,
//! commit the report.

use std::cmp::Ordering;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Buf;
use futures::StreamExt;
use shared::{
    Analysis, ErrorName, Job, KeyLayout, Processing, Processor, RecordCounts, Report, Source,
};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::error::JobError;
use crate::store::{ObjectHead, Pin, S3Store, WriteCondition, Written};

/// User metadata on a report naming the source it describes.
const META_SOURCE_ETAG: &str = "source-etag";
const META_SOURCE_VERSION: &str = "source-version-id";
const META_SOURCE_SEQUENCER: &str = "source-sequencer";

/// How a processor reads the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPlan {
    /// One GET, streamed (the Lambda function: objects up to the routing threshold).
    Whole,
    /// Ranged GETs of `part_size` bytes, `concurrency` at a time, fed to the core in order
    /// while the next parts download (the Fargate program: objects of any size, in memory
    /// bounded by about `(concurrency + 2) × part_size`).
    Ranged {
        /// Bytes per ranged GET.
        part_size: u64,
        /// GETs in flight at most.
        concurrency: usize,
    },
}

impl ReadPlan {
    /// 8 MiB parts, as AWS's guidance for byte-range fetches suggests (8–16 MiB).
    pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
    /// Four parts in flight: more than the core needs to never wait on one connection.
    pub const DEFAULT_CONCURRENCY: usize = 4;
}

/// What a processor is configured with.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Where inputs are and outputs go.
    pub layout: KeyLayout,
    /// The parsing core's configuration.
    pub core: shared::Config,
    /// The processor's name in reports (`lambda`, `fargate`).
    pub processor: String,
    /// How to read the object.
    pub read: ReadPlan,
}

impl RunSettings {
    /// Settings from the environment the infra gives both processors: the prefixes
    /// (`PIPELINE_INPUT_PREFIX`, `PIPELINE_OUTPUT_PREFIX`), checked to be disjoint.
    pub fn from_environment(processor: &str, read: ReadPlan) -> Result<RunSettings, JobError> {
        use shared::job::{DEFAULT_INPUT_PREFIX, DEFAULT_OUTPUT_PREFIX, env};
        let input =
            std::env::var(env::INPUT_PREFIX).unwrap_or_else(|_| DEFAULT_INPUT_PREFIX.into());
        let output =
            std::env::var(env::OUTPUT_PREFIX).unwrap_or_else(|_| DEFAULT_OUTPUT_PREFIX.into());
        let layout = KeyLayout::new(&input, &output)
            .map_err(|e| JobError::new(ErrorName::Internal, format!("configuration: {e}")))?;
        Ok(RunSettings {
            layout,
            core: shared::Config::default(),
            processor: processor.to_owned(),
            read,
        })
    }
}

/// What became of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Written by this run.
    Written,
    /// A report for the same etag and version was already there: nothing was done.
    AlreadyDone,
    /// A report for a newer event on the same key was there: it was kept.
    Superseded,
}

/// The result of a job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunOutcome {
    /// The bucket.
    pub bucket: String,
    /// The object key read (decoded).
    pub key: String,
    /// The report's key.
    pub report_key: String,
    /// What became of the report.
    pub status: ReportStatus,
    /// Record counts, when this run processed the object.
    pub records: Option<RecordCounts>,
}

/// Tells a job to stop (SIGTERM): it stops reading, writes nothing, and fails with
/// `Interrupted`.
#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// A signal and the sender that raises it.
    pub fn new() -> (watch::Sender<bool>, StopSignal) {
        let (sender, receiver) = watch::channel(false);
        (sender, StopSignal(receiver))
    }

    /// A signal that is never raised.
    pub fn never() -> StopSignal {
        StopSignal::new().1
    }

    /// Resolves once the signal is raised (never, if its sender is gone unraised).
    async fn raised(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn interrupted() -> JobError {
    JobError::new(
        ErrorName::Interrupted,
        "stopped by a signal before the end: nothing was written",
    )
}

/// Runs `job`: see the [crate docs](crate) for what it guarantees.
pub async fn run_job(
    store: &S3Store,
    job: &Job,
    settings: &RunSettings,
    stop: &StopSignal,
) -> Result<RunOutcome, JobError> {
    let started = Instant::now();
    let bucket = job.bucket.as_str();
    let layout = &settings.layout;
    let decoded = job
        .key()
        .map_err(|e| JobError::new(ErrorName::InvalidInput, e.to_string()))?;
    if decoded.starts_with(layout.output_prefix()) {
        return Err(JobError::new(
            ErrorName::InvalidInput,
            format!(
                "{decoded:?} is under the output prefix {:?}: outputs are never processed",
                layout.output_prefix()
            ),
        ));
    }
    let pin = Pin::of(job);
    let (key, head) = resolve_source(store, bucket, &decoded, &job.object.key, &pin).await?;
    let report_key = layout.report_key(&key);
    let sequencer = job.object.sequencer.as_deref();
    let skipped = |status| RunOutcome {
        bucket: bucket.to_owned(),
        key: key.clone(),
        report_key: report_key.clone(),
        status,
        records: None,
    };
    if let Decision::Skip(status) = decide(
        store.head_output(bucket, &report_key).await?.as_ref(),
        &head,
        sequencer,
    ) {
        info!(%report_key, ?status, "report already there");
        return Ok(skipped(status));
    }

    let mut stop = stop.clone();
    let analysis = match settings.read {
        ReadPlan::Whole => {
            let body = store.get_source(bucket, &key, &pin, None).await?;
            read_whole(body, settings.core.clone(), &key, &mut stop).await?
        }
        ReadPlan::Ranged {
            part_size,
            concurrency,
        } => {
            read_ranged(
                store,
                bucket,
                &key,
                &pin,
                head.size,
                (part_size.max(1), concurrency.max(1)),
                settings.core.clone(),
                &mut stop,
            )
            .await?
        }
    };
    if analysis.bytes_in != head.size {
        return Err(JobError::new(
            ErrorName::Storage,
            format!(
                "read {} bytes of an object of {}",
                analysis.bytes_in, head.size
            ),
        ));
    }

    let source = Source {
        bucket: Some(bucket.to_owned()),
        key: key.clone(),
        size: Some(head.size),
        etag: head.etag.clone(),
        version_id: head.version_id.clone(),
    };
    let processing = Processing::measure(&settings.processor, started.elapsed(), &analysis);
    let report = Report::new(source, &analysis, processing).to_json();
    let commit = Commit {
        bucket,
        report_key: &report_key,
        head: &head,
        sequencer,
    };
    match commit.write(store, report, &stop).await? {
        ReportStatus::Written => {
            info!(%report_key, records = analysis.records.total, "report written");
            Ok(RunOutcome {
                records: Some(analysis.records),
                ..skipped(ReportStatus::Written)
            })
        }
        status => Ok(skipped(status)),
    }
}

/// The report of one source, about to be committed.
struct Commit<'a> {
    bucket: &'a str,
    report_key: &'a str,
    head: &'a ObjectHead,
    sequencer: Option<&'a str>,
}

impl Commit<'_> {
    /// Writes the report with a conditional request against what is there now; a
    /// concurrent writer makes it fail, and the decision is taken again on what that writer
    /// left.
    async fn write(
        &self,
        store: &S3Store,
        report: Vec<u8>,
        stop: &StopSignal,
    ) -> Result<ReportStatus, JobError> {
        let Commit {
            bucket,
            report_key,
            head,
            sequencer,
        } = *self;
        let mut metadata = vec![(META_SOURCE_ETAG, head.etag.clone().unwrap_or_default())];
        if let Some(version) = &head.version_id {
            metadata.push((META_SOURCE_VERSION, version.clone()));
        }
        if let Some(sequencer) = sequencer {
            metadata.push((META_SOURCE_SEQUENCER, sequencer.to_owned()));
        }
        for _ in 0..3 {
            if *stop.0.borrow() {
                return Err(interrupted());
            }
            let existing = store.head_output(bucket, report_key).await?;
            let condition = match decide(existing.as_ref(), head, sequencer) {
                Decision::Skip(status) => return Ok(status),
                Decision::Write(condition) => condition,
            };
            match store
                .put_output(bucket, report_key, report.clone(), &metadata, condition)
                .await?
            {
                Written::Yes => return Ok(ReportStatus::Written),
                Written::ConditionFailed => {
                    warn!(%report_key, "the report changed while writing it");
                }
            }
        }
        Err(JobError::new(
            ErrorName::Storage,
            format!("s3://{bucket}/{report_key} kept changing under concurrent writers"),
        ))
    }
}

/// HEADs the object under its decoded key; when that is missing and the event's raw key
/// differs, under the raw key (some producers store keys that look encoded).
async fn resolve_source(
    store: &S3Store,
    bucket: &str,
    decoded: &str,
    raw: &str,
    pin: &Pin,
) -> Result<(String, ObjectHead), JobError> {
    match store.head_source(bucket, decoded, pin).await {
        Ok(head) => Ok((decoded.to_owned(), head)),
        Err(error) if error.name() == ErrorName::SourceMissing && raw != decoded => {
            match store.head_source(bucket, raw, pin).await {
                Ok(head) => {
                    warn!(
                        decoded,
                        raw, "no object under the decoded key; the raw key has one: using it"
                    );
                    Ok((raw.to_owned(), head))
                }
                Err(_) => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

enum Decision {
    Skip(ReportStatus),
    Write(WriteCondition),
}

/// Whether to write the report, given the one already there.
fn decide(existing: Option<&ObjectHead>, head: &ObjectHead, sequencer: Option<&str>) -> Decision {
    let Some(existing) = existing else {
        return Decision::Write(WriteCondition::Absent);
    };
    let meta = |name: &str| existing.metadata.get(name).map(String::as_str);
    let same_etag = meta(META_SOURCE_ETAG) == Some(head.etag.as_deref().unwrap_or(""));
    if same_etag && meta(META_SOURCE_VERSION) == head.version_id.as_deref() {
        return Decision::Skip(ReportStatus::AlreadyDone);
    }
    if let (Some(theirs), Some(ours)) = (meta(META_SOURCE_SEQUENCER), sequencer)
        && compare_sequencers(theirs, ours) == Ordering::Greater
    {
        return Decision::Skip(ReportStatus::Superseded);
    }
    Decision::Write(WriteCondition::Unchanged(
        existing.etag.clone().unwrap_or_default(),
    ))
}

/// Orders two S3 event sequencers of the same key: hexadecimal strings of varying length,
/// compared after left-padding the shorter with zeros (as the S3 documentation says).
pub(crate) fn compare_sequencers(a: &str, b: &str) -> Ordering {
    let width = a.len().max(b.len());
    let pad = |s: &str| format!("{:0>width$}", s.to_ascii_uppercase());
    pad(a).cmp(&pad(b))
}

async fn read_whole(
    mut body: ByteStream,
    core: shared::Config,
    key: &str,
    stop: &mut StopSignal,
) -> Result<Analysis, JobError> {
    let mut processor = Processor::new(core, Some(key));
    loop {
        tokio::select! {
            biased;
            () = stop.raised() => return Err(interrupted()),
            chunk = body.try_next() => match chunk {
                Ok(Some(bytes)) => processor.feed(&bytes)?,
                Ok(None) => break,
                Err(e) => {
                    return Err(JobError::new(ErrorName::Storage, format!("reading s3 body: {e}")));
                }
            },
        }
    }
    Ok(processor.finish()?)
}

/// Parts of `size` bytes, as inclusive ranges.
fn part_ranges(size: u64, part_size: u64) -> Vec<(u64, u64)> {
    let mut parts = Vec::new();
    let mut first = 0;
    while first < size {
        let last = (first + part_size).min(size) - 1;
        parts.push((first, last));
        first = last + 1;
    }
    parts
}

/// Aborts a spawned task when dropped, so abandoned downloads stop.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[allow(clippy::too_many_arguments)]
async fn read_ranged(
    store: &S3Store,
    bucket: &str,
    key: &str,
    pin: &Pin,
    size: u64,
    (part_size, concurrency): (u64, usize),
    core: shared::Config,
    stop: &mut StopSignal,
) -> Result<Analysis, JobError> {
    // The core runs on a thread of its own, fed in order; the parts download meanwhile.
    let (parts_in, mut parts_out) =
        tokio::sync::mpsc::channel::<aws_sdk_s3::primitives::AggregatedBytes>(1);
    let hint = key.to_owned();
    let parser = tokio::task::spawn_blocking(move || {
        let mut processor = Processor::new(core, Some(&hint));
        while let Some(mut part) = parts_out.blocking_recv() {
            while part.has_remaining() {
                let chunk = part.chunk();
                let len = chunk.len();
                processor.feed(chunk)?;
                part.advance(len);
            }
        }
        processor.finish()
    });
    let mut downloads = futures::stream::iter(part_ranges(size, part_size))
        .map(|(first, last)| {
            let (store, bucket, key, pin) = (
                store.clone(),
                bucket.to_owned(),
                key.to_owned(),
                pin.clone(),
            );
            let task = tokio::spawn(async move {
                let body = store
                    .get_source(&bucket, &key, &pin, Some((first, last)))
                    .await?;
                let part = body.collect().await.map_err(|e| {
                    JobError::new(ErrorName::Storage, format!("reading s3 body: {e}"))
                })?;
                let expected = last - first + 1;
                if part.remaining() as u64 == expected {
                    Ok(part)
                } else {
                    Err(JobError::new(
                        ErrorName::Storage,
                        format!("bytes {first}-{last}: got {} bytes", part.remaining()),
                    ))
                }
            });
            let mut task = AbortOnDrop(task);
            async move {
                (&mut task.0).await.map_err(|e| {
                    JobError::new(ErrorName::Internal, format!("download task: {e}"))
                })?
            }
        })
        .buffered(concurrency);

    let mut failure = None;
    loop {
        tokio::select! {
            biased;
            () = stop.raised() => {
                failure = Some(interrupted());
                break;
            }
            next = downloads.next() => match next {
                None => break,
                Some(Ok(part)) => {
                    if parts_in.send(part).await.is_err() {
                        // The core stopped early: its result says why.
                        break;
                    }
                }
                Some(Err(error)) => {
                    failure = Some(error);
                    break;
                }
            },
        }
    }
    drop(downloads);
    drop(parts_in);
    let parsed = parser
        .await
        .map_err(|e| JobError::new(ErrorName::Internal, format!("parser thread: {e}")))?;
    match failure {
        Some(error) => Err(error),
        None => Ok(parsed?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequencers_compare_after_left_padding() {
        assert_eq!(
            compare_sequencers("0062E99A88DC407460", "62E99A88DC407461"),
            Ordering::Less
        );
        assert_eq!(compare_sequencers("FF", "100"), Ordering::Less);
        assert_eq!(compare_sequencers("00ab", "AB"), Ordering::Equal);
    }

    #[test]
    fn parts_cover_the_object_exactly() {
        assert_eq!(part_ranges(0, 8), []);
        assert_eq!(part_ranges(8, 8), [(0, 7)]);
        assert_eq!(part_ranges(17, 8), [(0, 7), (8, 15), (16, 16)]);
    }
}
