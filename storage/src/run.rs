//! One job, end to end: resolve the object, skip it if done, stream it through the core
//! (staging the outputs of the contract and of the other stages), commit the outputs, then
//! the report.

use std::cmp::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use shared::{
    Analysis, Contract, Contracts, Conversion, ConversionOutputs, ErrorName, Job, KeyLayout,
    OutputDeclaration, OutputObject, ParallelProcessor, Parallelism, Processing, Processor,
    RecordCounts, Report, Source, StageFactory,
};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::error::JobError;
use crate::stage::{
    self, Committed, OUTPUT_PART_SIZE, PARQUET_CONTENT_TYPE, REJECTS_CONTENT_TYPE, StagedOutputs,
    Staging, WhenEmpty,
};
use crate::stages::registered_stages;
use crate::store::{ObjectHead, ObjectStore, Pin, PutOptions, WriteCondition, Written};

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
    /// Four parts in flight: more than one parsing thread needs to never wait on one
    /// connection.
    pub const DEFAULT_CONCURRENCY: usize = 4;

    /// The parts in flight for `threads` parsing threads: two per thread, at least
    /// [`Self::DEFAULT_CONCURRENCY`], so that the downloads keep up as threads are added
    /// (each thread parses one range while the next parts download).
    pub fn concurrency_for(threads: usize) -> usize {
        threads.saturating_mul(2).max(Self::DEFAULT_CONCURRENCY)
    }
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
    /// The data contracts: an object under a contract's prefix also gets its Parquet and
    /// rejects outputs ([`Contracts::none`]: every object is profiled only).
    pub contracts: Contracts,
    /// The threads that parse an object, and the size of their ranges
    /// ([`shared::ParallelProcessor`]): the report, and a contract's Parquet and rejects, are
    /// the same whatever they are. An object that other stages run on is parsed on one
    /// thread (they see records one at a time, in order).
    pub parallelism: Parallelism,
}

impl RunSettings {
    /// Settings from the environment the infra gives both processors: the prefixes
    /// (`PIPELINE_INPUT_PREFIX`, `PIPELINE_OUTPUT_PREFIX`), checked to be disjoint, the
    /// contracts of the folder `PIPELINE_CONTRACTS_DIR` names ([`load_contracts`]), and the
    /// parsing threads and range size (`PIPELINE_THREADS`, `PIPELINE_RANGE_BYTES`, see
    /// [`parallelism_from_environment`]; ranges of [`LAMBDA_RANGE_BYTES`] when `read` is
    /// [`ReadPlan::Whole`]).
    pub fn from_environment(processor: &str, read: ReadPlan) -> Result<RunSettings, JobError> {
        use shared::{DEFAULT_INPUT_PREFIX, DEFAULT_OUTPUT_PREFIX, env};
        let input =
            std::env::var(env::INPUT_PREFIX).unwrap_or_else(|_| DEFAULT_INPUT_PREFIX.into());
        let output =
            std::env::var(env::OUTPUT_PREFIX).unwrap_or_else(|_| DEFAULT_OUTPUT_PREFIX.into());
        let layout = KeyLayout::new(&input, &output)
            .map_err(|e| JobError::new(ErrorName::Internal, format!("configuration: {e}")))?;
        let contracts = load_contracts(
            std::env::var_os(env::CONTRACTS_DIR)
                .map(std::path::PathBuf::from)
                .as_deref(),
            &input,
        )?;
        let range_bytes = match read {
            ReadPlan::Whole => LAMBDA_RANGE_BYTES,
            ReadPlan::Ranged { .. } => Parallelism::DEFAULT_RANGE_BYTES.get(),
        };
        let parallelism = parallelism_from_environment(range_bytes)?;
        Ok(RunSettings {
            layout,
            core: shared::Config::default(),
            processor: processor.to_owned(),
            read,
            contracts,
            parallelism,
        })
    }
}

/// The range size on the Lambda route: its objects are at most the routing threshold
/// (6 MiB by default), so ranges of 1 MiB give every vCPU of a large function a share.
pub const LAMBDA_RANGE_BYTES: usize = 1024 * 1024;

/// The parsing threads and range size from `PIPELINE_THREADS` (default: the CPUs the
/// container may use, [`Parallelism::available`], which reads the cgroup CPU quota) and
/// `PIPELINE_RANGE_BYTES` (default: `range_bytes`). A value that is not a positive integer
/// fails the start, `Internal`, naming the variable.
pub fn parallelism_from_environment(range_bytes: usize) -> Result<Parallelism, JobError> {
    use shared::env;
    let positive = |name: &str| -> Result<Option<usize>, JobError> {
        match std::env::var(name) {
            Err(_) => Ok(None),
            Ok(value) => match value.trim().parse::<usize>() {
                Ok(number) if number > 0 => Ok(Some(number)),
                _ => Err(JobError::new(
                    ErrorName::Internal,
                    format!("configuration: {name}={value:?} is not a positive integer"),
                )),
            },
        }
    };
    let parallelism = match positive(env::THREADS)? {
        Some(threads) => Parallelism::with_threads(threads),
        None => Parallelism::available(),
    };
    Ok(parallelism.with_range_bytes(positive(env::RANGE_BYTES)?.unwrap_or(range_bytes)))
}

/// The contracts of `dir` (`*.toml`), read once at a processor's start. No folder (or none
/// given) is no contracts; a bad contract fails the start, `Internal`, with the file and line.
pub fn load_contracts(
    dir: Option<&std::path::Path>,
    input_prefix: &str,
) -> Result<Contracts, JobError> {
    let Some(dir) = dir else {
        return Ok(Contracts::none());
    };
    Contracts::load_dir(dir, input_prefix)
        .map_err(|e| JobError::new(ErrorName::Internal, format!("contract {e}")))
}

/// What became of the report (and of a contract's outputs, committed just before it).
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
    /// What became of the report (and of a contract's outputs, committed just before it).
    pub status: ReportStatus,
    /// Record counts, when this run processed the object.
    pub records: Option<RecordCounts>,
    /// The contract's outputs this run committed (Parquet, then rejects if any).
    pub outputs: Vec<String>,
    /// Bytes of the object this run read (0 when it read nothing); for metrics only.
    #[serde(skip)]
    pub bytes_read: u64,
    /// Records the contract rejected, when this run processed an object under one; for
    /// metrics only.
    #[serde(skip)]
    pub records_rejected: Option<u64>,
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
    pub(crate) async fn raised(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

pub(crate) fn interrupted() -> JobError {
    JobError::new(
        ErrorName::Interrupted,
        "stopped by a signal before the end: nothing was written",
    )
}

/// Runs `job`: see the [crate docs](crate) for what it guarantees.
pub async fn run_job<S: ObjectStore>(
    store: &S,
    job: &Job,
    settings: &RunSettings,
    stop: &StopSignal,
) -> Result<RunOutcome, JobError> {
    run_job_with_stages(store, job, settings, &registered_stages(), stop).await
}

/// [`run_job`] with these processing stages instead of the
/// [registered ones](crate::registered_stages): each that runs on the object has its outputs
/// staged and committed with the contract's, before the report, and its section in the
/// report's `stages`.
pub async fn run_job_with_stages<S: ObjectStore>(
    store: &S,
    job: &Job,
    settings: &RunSettings,
    factories: &[Box<dyn StageFactory>],
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
        outputs: Vec::new(),
        bytes_read: 0,
        records_rejected: None,
    };
    if let Decision::Skip(status) = decide(
        store.head_output(bucket, &report_key).await?.as_ref(),
        &head,
        sequencer,
    ) {
        info!(%report_key, ?status, "report already there");
        return Ok(skipped(status));
    }

    let contract = settings.contracts.owner(&key);
    let running: Vec<(&dyn StageFactory, Vec<OutputDeclaration>)> = factories
        .iter()
        .filter_map(|factory| Some((factory.as_ref(), factory.outputs(&key)?)))
        .collect();
    check_distinct(contract.map(|c| c.output_keys(&key)), &running)?;
    let mut stop = stop.clone();
    let (analysis, staged) = process(
        store,
        (bucket, &key, &pin, head.size),
        (contract, &running),
        settings,
        &mut stop,
    )
    .await?;

    let source = Source {
        bucket: Some(bucket.to_owned()),
        key: key.clone(),
        size: Some(head.size),
        etag: head.etag.clone(),
        version_id: head.version_id.clone(),
    };
    let processing = Processing::measure(&settings.processor, started.elapsed(), &analysis);
    let mut report = Report::new(source, &analysis, processing);
    let commit = Commit {
        bucket,
        report_key: &report_key,
        head: &head,
        sequencer,
    };
    let mut outputs = Vec::new();
    if let Some(staged) = staged {
        match commit.outputs(store, staged, &stop).await? {
            Ok(committed) => {
                name_outputs(&mut report, &committed, contract, &key, &running);
                outputs = committed.into_iter().map(|c| c.key).collect();
            }
            Err(status) => return Ok(skipped(status)),
        }
    }
    match commit.write(store, report.to_json(), &stop).await? {
        ReportStatus::Written => {
            info!(%report_key, records = analysis.records.total, ?outputs, "report written");
            Ok(RunOutcome {
                records: Some(analysis.records),
                outputs,
                bytes_read: head.size,
                records_rejected: analysis.contract.as_ref().map(|c| c.records_rejected),
                ..skipped(ReportStatus::Written)
            })
        }
        status => {
            if !outputs.is_empty() {
                // A run for a newer event committed its report between our last check and
                // our report: its outputs may now hold our bytes (see the crate docs).
                warn!(%report_key, ?status, ?outputs, "outputs written, then a newer report came first");
            }
            Ok(skipped(status))
        }
    }
}

/// Names the committed outputs in the report: the contract's in its section, each stage's in
/// its own.
fn name_outputs(
    report: &mut Report,
    committed: &[Committed],
    contract: Option<&Contract>,
    key: &str,
    running: &RunningStages<'_>,
) {
    let objects = |keys: &[&str]| -> Vec<OutputObject> {
        committed
            .iter()
            .filter(|c| keys.contains(&c.key.as_str()))
            .map(|c| OutputObject {
                key: c.key.clone(),
                size: c.size,
                etag: Some(c.etag.clone()),
            })
            .collect()
    };
    if let (Some(section), Some(contract)) = (&mut report.contract, contract) {
        let keys = contract.output_keys(key);
        section.outputs = objects(&[&keys.parquet, &keys.rejects]);
    }
    for (factory, declared) in running {
        if let Some(section) = report.stages.get_mut(factory.name()) {
            let keys: Vec<&str> = declared.iter().map(|d| d.key.as_str()).collect();
            section.outputs = objects(&keys);
        }
    }
}

/// Fails (`Internal`: a registration mistake) when two running stages share a name, or two
/// outputs a key: one would hide the other in the report, or overwrite it in the bucket.
fn check_distinct(
    contract: Option<shared::OutputKeys>,
    running: &RunningStages<'_>,
) -> Result<(), JobError> {
    let mut names = std::collections::BTreeSet::new();
    let mut keys = std::collections::BTreeSet::new();
    if let Some(contract) = contract {
        keys.extend([contract.parquet, contract.rejects]);
    }
    for (factory, declared) in running {
        if !names.insert(factory.name()) {
            return Err(JobError::new(
                ErrorName::Internal,
                format!("two stages are named {:?}", factory.name()),
            ));
        }
        for output in declared {
            if !keys.insert(output.key.clone()) {
                return Err(JobError::new(
                    ErrorName::Internal,
                    format!(
                        "stage {:?} declares {:?}, another output's key",
                        factory.name(),
                        output.key
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The stages that run on an object, beside its contract: each with the outputs it declared.
type RunningStages<'a> = [(&'a dyn StageFactory, Vec<OutputDeclaration>)];

/// Reads the object through the core, staging the outputs of the contract that owns it and
/// of the stages that run on it. On any failure nothing is left staged.
async fn process<S: ObjectStore>(
    store: &S,
    object: (&str, &str, &Pin, u64),
    (contract, running): (Option<&Contract>, &RunningStages<'_>),
    settings: &RunSettings,
    stop: &mut StopSignal,
) -> Result<(Analysis, Option<StagedOutputs>), JobError> {
    let (_, key, _, size) = object;
    let core = settings.core.clone();
    let (analysis, staged) = if contract.is_none() && running.is_empty() {
        // Profile only: on the configured threads. (A contract: on them too, below; other
        // stages: one thread.)
        let processor =
            ParallelProcessor::new(core, Some(key), settings.parallelism).with_input_size(size);
        (
            read(store, object, settings.read, processor, stop).await?,
            None,
        )
    } else {
        let (analysis, staged) = convert(
            store,
            object,
            settings.read,
            (contract, running),
            (core, settings.parallelism),
            stop,
        )
        .await?;
        (analysis, Some(staged))
    };
    if analysis.bytes_in != size {
        if let Some(staged) = staged {
            staged.abandon(store).await;
        }
        return Err(JobError::new(
            ErrorName::Storage,
            format!("read {} bytes of an object of {size}", analysis.bytes_in),
        ));
    }
    Ok((analysis, staged))
}

/// Reads the object through the core with its contract's conversion (if a contract owns it)
/// and its other stages, staging their outputs (the contract's Parquet and rejects, then
/// each stage's in the order it declared them) the same way on both routes: each holds up
/// to a part in memory, and streams into a multipart upload while parsing goes on once it
/// outgrows one.
async fn convert<S: ObjectStore>(
    store: &S,
    object: (&str, &str, &Pin, u64),
    plan: ReadPlan,
    (contract, running): (Option<&Contract>, &RunningStages<'_>),
    (core, parallelism): (shared::Config, Parallelism),
    stop: &mut StopSignal,
) -> Result<(Analysis, StagedOutputs), JobError> {
    let (bucket, key, _, size) = object;
    // Checked before any read or upload starts.
    if let Some(contract) = contract {
        contract.partition_values(key).map_err(|detail| {
            JobError::new(
                ErrorName::ContractViolation,
                format!("contract {}: {detail}", contract.dataset),
            )
        })?;
    }
    let mut staging = Staging::new(store, bucket, output_part_size(plan), stop);
    let built = (|| {
        let mut processor = match contract {
            Some(contract) => {
                let keys = contract.output_keys(key);
                let outputs = ConversionOutputs {
                    parquet: Box::new(staging.output(
                        &keys.parquet,
                        PARQUET_CONTENT_TYPE,
                        WhenEmpty::Write,
                    )),
                    rejects: Box::new(staging.output(
                        &keys.rejects,
                        REJECTS_CONTENT_TYPE,
                        WhenEmpty::RemovePrevious,
                    )),
                };
                let conversion = Conversion::new(contract, key, outputs)?;
                if running.is_empty() {
                    // The contract alone: on the configured threads.
                    return Ok(Converting::Parallel(
                        ParallelProcessor::with_conversion(
                            core,
                            Some(key),
                            conversion,
                            parallelism,
                        )
                        .with_input_size(size),
                    ));
                }
                Processor::with_conversion(core, Some(key), conversion)
            }
            None => Processor::new(core, Some(key)),
        };
        // Other stages see the records one at a time, in order: one thread.
        for (factory, declared) in running {
            let sinks = declared
                .iter()
                .map(|output| {
                    let sink = staging.output(&output.key, output.content_type, WhenEmpty::Write);
                    Box::new(sink) as Box<dyn std::io::Write + Send>
                })
                .collect();
            processor = processor.with_stage(factory.name(), factory.build(key, sinks)?);
        }
        Ok::<_, shared::Error>(Converting::One(processor))
    })();
    let processor = match built {
        Ok(processor) => processor,
        Err(error) => {
            let error = JobError::from(error);
            staging.finish(Some(error.clone())).await?;
            return Err(error);
        }
    };
    let parsed = read(store, object, plan, processor, stop).await;
    let staged = staging.finish(parsed.as_ref().err().cloned()).await?;
    Ok((parsed?, staged))
}

/// The bytes of each output part: on the Lambda route [`OUTPUT_PART_SIZE`]; on the Fargate
/// route those of the read parts. Within what S3 takes for a part ([`stage::MIN_PART_SIZE`]
/// to 5 GiB); the unit tests go below, against the in-memory store, so that outputs of a
/// few kilobytes take several parts.
fn output_part_size(plan: ReadPlan) -> usize {
    let (floor, whole) = if cfg!(test) {
        (16, TEST_WHOLE_OUTPUT_PART_SIZE)
    } else {
        (stage::MIN_PART_SIZE, OUTPUT_PART_SIZE)
    };
    match plan {
        ReadPlan::Whole => whole,
        ReadPlan::Ranged { part_size, .. } => usize::try_from(part_size)
            .unwrap_or(usize::MAX)
            .clamp(floor, 5 * 1024 * 1024 * 1024),
    }
}

/// The Lambda route's output parts in the unit tests: larger than the outputs of most tests
/// (one PUT each), smaller than those of the tests of streamed outputs.
#[cfg(test)]
pub(crate) const TEST_WHOLE_OUTPUT_PART_SIZE: usize = 32 * 1024;
#[cfg(not(test))]
const TEST_WHOLE_OUTPUT_PART_SIZE: usize = OUTPUT_PART_SIZE;

/// The core an object's bytes go through: the one-thread [`Processor`] (with a contract or
/// stages) or the [`ParallelProcessor`].
trait Core: Send + 'static {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), shared::Error>;
    fn finish(self) -> Result<Analysis, shared::Error>;
}

impl Core for Processor {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), shared::Error> {
        Processor::feed(self, chunk)
    }

    fn finish(self) -> Result<Analysis, shared::Error> {
        Processor::finish(self)
    }
}

/// The core of an object with outputs: the contract alone on the configured threads, or
/// other stages on one thread.
enum Converting {
    One(Processor),
    Parallel(ParallelProcessor),
}

impl Core for Converting {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), shared::Error> {
        match self {
            Converting::One(processor) => processor.feed(chunk),
            Converting::Parallel(processor) => processor.feed(chunk),
        }
    }

    fn finish(self) -> Result<Analysis, shared::Error> {
        match self {
            Converting::One(processor) => processor.finish(),
            Converting::Parallel(processor) => processor.finish(),
        }
    }
}

impl Core for ParallelProcessor {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), shared::Error> {
        ParallelProcessor::feed(self, chunk)
    }

    fn finish(self) -> Result<Analysis, shared::Error> {
        ParallelProcessor::finish(self)
    }
}

/// Reads the object as `plan` says, through `processor`.
async fn read<S: ObjectStore, C: Core>(
    store: &S,
    object: (&str, &str, &Pin, u64),
    plan: ReadPlan,
    processor: C,
    stop: &mut StopSignal,
) -> Result<Analysis, JobError> {
    let (bucket, key, pin, size) = object;
    match plan {
        ReadPlan::Whole => {
            // One GET, its chunks fed to the core as they arrive.
            let body = store.get(bucket, key, pin, None).await?;
            let chunks = body.map(|chunk| chunk.map(Part::Chunk));
            feed_in_order(chunks, size, processor, stop, SpareParts::default()).await
        }
        ReadPlan::Ranged {
            part_size,
            concurrency,
        } => {
            let plan = (part_size.max(1), concurrency.max(1));
            read_ranged(store, object, plan, processor, stop).await
        }
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
    /// Commits the staged outputs in their order (a contract's: Parquet, then the rejects or,
    /// with none, the removal of a previous version's): the last check of the report decides first, so an
    /// event already done, or older than the report's, writes nothing. `Err(status)` is that
    /// decision; nothing was written.
    async fn outputs<S: ObjectStore>(
        &self,
        store: &S,
        staged: StagedOutputs,
        stop: &StopSignal,
    ) -> Result<Result<Vec<Committed>, ReportStatus>, JobError> {
        let checked = async {
            if *stop.0.borrow() {
                return Err(interrupted());
            }
            let existing = store.head_output(self.bucket, self.report_key).await?;
            Ok(decide(existing.as_ref(), self.head, self.sequencer))
        }
        .await;
        match checked {
            Ok(Decision::Write(_)) => {}
            Ok(Decision::Skip(status)) => {
                info!(report_key = %self.report_key, ?status, "report there by now: outputs not committed");
                staged.abandon(store).await;
                return Ok(Err(status));
            }
            Err(error) => {
                staged.abandon(store).await;
                return Err(error);
            }
        }
        staged.commit(store).await.map(Ok)
    }

    /// Writes the report with a conditional request against what is there now; a
    /// concurrent writer makes it fail, and the decision is taken again on what that writer
    /// left.
    async fn write<S: ObjectStore>(
        &self,
        store: &S,
        report: Vec<u8>,
        stop: &StopSignal,
    ) -> Result<ReportStatus, JobError> {
        let Commit {
            bucket,
            report_key,
            head,
            sequencer,
        } = *self;
        let mut metadata = vec![(
            META_SOURCE_ETAG.to_owned(),
            head.etag.clone().unwrap_or_default(),
        )];
        if let Some(version) = &head.version_id {
            metadata.push((META_SOURCE_VERSION.to_owned(), version.clone()));
        }
        if let Some(sequencer) = sequencer {
            metadata.push((META_SOURCE_SEQUENCER.to_owned(), sequencer.to_owned()));
        }
        let report = Bytes::from(report);
        for _ in 0..3 {
            if *stop.0.borrow() {
                return Err(interrupted());
            }
            let existing = store.head_output(bucket, report_key).await?;
            let condition = match decide(existing.as_ref(), head, sequencer) {
                Decision::Skip(status) => return Ok(status),
                Decision::Write(condition) => condition,
            };
            let options = PutOptions {
                content_type: "application/json".to_owned(),
                metadata: metadata.clone(),
                condition,
            };
            match store
                .put(bucket, report_key, report.clone(), &options)
                .await?
            {
                Written::Yes(_) => return Ok(ReportStatus::Written),
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
async fn resolve_source<S: ObjectStore>(
    store: &S,
    bucket: &str,
    decoded: &str,
    raw: &str,
    pin: &Pin,
) -> Result<(String, ObjectHead), JobError> {
    match store.head(bucket, decoded, pin).await {
        Ok(head) => Ok((decoded.to_owned(), head)),
        Err(error) if error.name() == ErrorName::SourceMissing && raw != decoded => {
            match store.head(bucket, raw, pin).await {
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

async fn read_ranged<S: ObjectStore, C: Core>(
    store: &S,
    (bucket, key, pin, size): (&str, &str, &Pin, u64),
    (part_size, concurrency): (u64, usize),
    processor: C,
    stop: &mut StopSignal,
) -> Result<Analysis, JobError> {
    // Every part alive at once: those downloading, the one waiting in the channel to the
    // core, and the one the core reads.
    let spare = SpareParts::new(concurrency + 2);
    let returned = spare.clone();
    let downloads = futures::stream::iter(part_ranges(size, part_size))
        .map(|(first, last)| {
            let (store, bucket, key, pin, spare) = (
                store.clone(),
                bucket.to_owned(),
                key.to_owned(),
                pin.clone(),
                spare.clone(),
            );
            let task = tokio::spawn(async move {
                let body = store.get(&bucket, &key, &pin, Some((first, last))).await?;
                let buffer = spare.take(usize::try_from(last - first + 1).unwrap_or(0));
                read_part(body, (first, last), buffer).await
            });
            let mut task = AbortOnDrop(task);
            async move {
                (&mut task.0).await.map_err(|e| {
                    JobError::new(ErrorName::Internal, format!("download task: {e}"))
                })?
            }
        })
        .buffered(concurrency);
    feed_in_order(downloads, size, processor, stop, returned).await
}

/// A piece of the object on its way to the core: a chunk of a whole GET's body, as the HTTP
/// client gave it, or a ranged part, in a buffer that goes back to the [`SpareParts`] once
/// the core has it.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    Chunk(Bytes),
    Buffer(Vec<u8>),
}

/// The buffers of ranged parts the core is done with, for the next parts to be read into. A
/// new buffer for each part had its pages faulted in anew, since the image's allocator gives
/// freed memory back to the system at once (the Dockerfile's `MIMALLOC_PURGE_DELAY=0`): a
/// page fault for each 4 KiB read, about a tenth of the Fargate program's CPU on one thread.
/// It keeps at most as many buffers as parts can be alive at once, so memory stays what the
/// window of parts takes.
#[derive(Debug, Clone, Default)]
struct SpareParts {
    buffers: Arc<Mutex<Vec<Vec<u8>>>>,
    keep: usize,
}

impl SpareParts {
    fn new(keep: usize) -> SpareParts {
        SpareParts {
            buffers: Arc::default(),
            keep,
        }
    }

    fn buffers(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.buffers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An empty buffer with room for `bytes`: a spare one when it has the room.
    fn take(&self, bytes: usize) -> Vec<u8> {
        match self.buffers().pop() {
            Some(mut buffer) if buffer.capacity() >= bytes => {
                buffer.clear();
                buffer
            }
            _ => Vec::with_capacity(bytes),
        }
    }

    /// Keeps `buffer` for a later part, unless enough are kept.
    fn give(&self, buffer: Vec<u8>) {
        let mut buffers = self.buffers();
        if buffers.len() < self.keep {
            buffers.push(buffer);
        }
    }
}

/// The bytes `first..=last` of a ranged GET's `body`, copied into `part` (emptied first; it
/// has room for them, so it never grows): a chunk is a view of the HTTP client's read buffer
/// and would keep all of it alive while the part waits its turn (measured: the download window
/// took 66 MiB instead of its 48 at the peak of a 4 GiB object). A body shorter or longer than
/// the range is `Storage`; a longer one fails as soon as it is.
async fn read_part(
    mut body: crate::store::ByteChunks,
    (first, last): (u64, u64),
    mut part: Vec<u8>,
) -> Result<Part, JobError> {
    let expected = last - first + 1;
    part.clear();
    let mut len = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        len += chunk.len() as u64;
        if len > expected {
            break;
        }
        part.extend_from_slice(&chunk);
    }
    if len == expected {
        Ok(Part::Buffer(part))
    } else {
        Err(JobError::new(
            ErrorName::Storage,
            format!("bytes {first}-{last}: got {len} bytes"),
        ))
    }
}

/// Feeds the object's `size` bytes, arriving in order from `parts`, to the core. The core
/// runs on a thread of its own: its output sinks may wait there for their uploads, never on
/// the runtime; the next parts arrive meanwhile. The buffers of ranged parts go back to
/// `spare` once fed.
async fn feed_in_order<C: Core>(
    parts: impl futures::Stream<Item = Result<Part, JobError>>,
    size: u64,
    mut processor: C,
    stop: &mut StopSignal,
    spare: SpareParts,
) -> Result<Analysis, JobError> {
    let (parts_in, mut parts_out) = tokio::sync::mpsc::channel::<Part>(1);
    let parser = tokio::task::spawn_blocking(move || {
        let mut fed = 0;
        while let Some(part) = parts_out.blocking_recv() {
            let bytes = match &part {
                Part::Chunk(chunk) => &chunk[..],
                Part::Buffer(buffer) => &buffer[..],
            };
            processor.feed(bytes)?;
            fed += bytes.len() as u64;
            if let Part::Buffer(buffer) = part {
                spare.give(buffer);
            }
        }
        if fed < size {
            // Cut short (a stop, a failed read): the outcome says why. Not finishing writes no
            // more output.
            return Err(shared::Error::from(shared::ErrorKind::Internal(
                "the read stopped early".into(),
            )));
        }
        processor.finish()
    });
    // Boxed, so that it can be dropped (its downloads stopped) before waiting for the core.
    let mut parts = Box::pin(parts);
    let mut failure = None;
    loop {
        tokio::select! {
            biased;
            () = stop.raised() => {
                failure = Some(interrupted());
                break;
            }
            next = parts.next() => match next {
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
    drop(parts);
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

    /// A ranged GET returns exactly the bytes of its range: S3's GetObject `Range` is the HTTP
    /// Range header of RFC 9110, one range per request
    /// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>, "Range";
    /// <https://www.rfc-editor.org/rfc/rfc9110.html#name-range>). Anything else is a storage
    /// failure, never bytes fed to the core.
    #[test]
    fn a_part_is_exactly_its_range_in_one_buffer() {
        let body = |chunks: &[&'static [u8]]| -> crate::store::ByteChunks {
            let chunks: Vec<Result<Bytes, JobError>> =
                chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
            futures::stream::iter(chunks).boxed()
        };
        let part = futures::executor::block_on(read_part(
            body(&[b"abc", b"de"]),
            (10, 14),
            b"an earlier part".to_vec(),
        ));
        assert_eq!(part.ok(), Some(Part::Buffer(b"abcde".to_vec())));
        for chunks in [&[b"abc".as_slice()][..], &[b"abc", b"def"]] {
            let failed = futures::executor::block_on(read_part(body(chunks), (10, 14), Vec::new()));
            assert_eq!(failed.err().map(|e| e.name()), Some(ErrorName::Storage));
        }
    }

    /// A part's buffer, once fed, is the next part's (its pages stay faulted in), and no more
    /// buffers are kept than parts can be alive at once.
    #[test]
    fn part_buffers_are_reused_and_bounded() {
        let spare = SpareParts::new(2);
        let first = spare.take(16);
        let address = first.as_ptr();
        spare.give(first);
        let again = spare.take(16);
        assert_eq!(again.as_ptr(), address);
        assert!(again.is_empty() && again.capacity() >= 16);
        // A spare buffer too small for the part is not used.
        spare.give(again);
        assert!(spare.take(17).capacity() >= 17);
        for _ in 0..3 {
            spare.give(Vec::with_capacity(16));
        }
        assert_eq!(spare.buffers().len(), 2);
    }

    #[test]
    fn parts_cover_the_object_exactly() {
        assert_eq!(part_ranges(0, 8), []);
        assert_eq!(part_ranges(8, 8), [(0, 7)]);
        assert_eq!(part_ranges(17, 8), [(0, 7), (8, 15), (16, 16)]);
    }
}
