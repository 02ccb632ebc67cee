//! The Fargate program of the pipeline: a thin adapter from the container's environment (or
//! the command line) to [`storage::run_job`], reading the object in concurrent ranged parts.
//!
//! The state machine starts the task with the job document in `PIPELINE_JOB`; every setting
//! is an environment variable or the flag of the same meaning (`--help` lists them). The
//! exit code tells the state machine what happened: 0 for success, otherwise the exit code
//! of the failure's name (see [`shared::ErrorName::exit_code`]).

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::Parser;
use shared::{DEFAULT_INPUT_PREFIX, DEFAULT_OUTPUT_PREFIX, encode_event_key, env};
use shared::{ErrorName, Job, JobObject, KeyLayout, Parallelism};
use storage::{JobError, ReadPlan, RunSettings, load_contracts};

/// The route's name, in reports and logs.
pub const ROUTE: &str = shared::FARGATE_ROUTE;

/// Processes one S3 object of the upload pipeline and writes its report.
///
/// The job comes from PIPELINE_JOB (the job document as JSON, as the state machine passes
/// it), or from --bucket and --key for a manual run. An object under a data contract's prefix
/// (contracts from PIPELINE_CONTRACTS_DIR) also gets its Parquet and rejects, streamed into
/// multipart uploads and committed before the report. Exit codes: 0 done; 10 InvalidInput,
/// 11 UnsupportedFormat, 12 TooManyMalformedRecords, 13 SourceChanged, 14 SourceMissing,
/// 15 Storage, 16 Interrupted (SIGTERM), 17 Internal, 18 ContractViolation; 2 bad arguments.
///
/// S3 is configured as AWS SDKs are (AWS_REGION, credentials, AWS_ENDPOINT_URL); set
/// PIPELINE_S3_PATH_STYLE=true for an endpoint that needs path-style addressing.
#[derive(Debug, Parser)]
#[command(version)]
pub struct Args {
    /// The job document: {"bucket": ..., "object": {"key": ..., "size": ..., "etag": ...,
    /// "version-id": ..., "sequencer": ...}} with the key form-URL-encoded as in S3 events.
    #[arg(long, env = env::JOB, conflicts_with_all = ["bucket", "key"])]
    pub job: Option<String>,
    /// For a manual run: the bucket.
    #[arg(long, requires = "key")]
    pub bucket: Option<String>,
    /// For a manual run: the object key, as stored (not encoded).
    #[arg(long, requires = "bucket")]
    pub key: Option<String>,
    /// For a manual run: read only the object with this etag.
    #[arg(long, requires = "bucket")]
    pub etag: Option<String>,
    /// For a manual run: read only this version of the object.
    #[arg(long, requires = "bucket")]
    pub version_id: Option<String>,
    /// Uploads under this prefix are inputs.
    #[arg(long, env = env::INPUT_PREFIX, default_value = DEFAULT_INPUT_PREFIX)]
    pub input_prefix: String,
    /// Reports go under this prefix.
    #[arg(long, env = env::OUTPUT_PREFIX, default_value = DEFAULT_OUTPUT_PREFIX)]
    pub output_prefix: String,
    /// Bytes per ranged GET.
    #[arg(long, env = "PIPELINE_PART_SIZE_BYTES", default_value_t = ReadPlan::DEFAULT_PART_SIZE)]
    pub part_size_bytes: u64,
    /// Ranged GETs in flight at most [default: two per parsing thread, at least 4].
    #[arg(long, env = "PIPELINE_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Worker threads parsing the object [default: the CPUs the task may use, read from
    /// its cgroup CPU quota]. The report (and a contract's Parquet and rejects) are the same
    /// whatever the number. An object that other stages run on is parsed on one thread.
    #[arg(long, env = env::THREADS)]
    pub threads: Option<NonZeroUsize>,
    /// Bytes of decompressed text each worker parses at a time; memory grows with threads
    /// times this size.
    #[arg(long, env = env::RANGE_BYTES, default_value_t = Parallelism::DEFAULT_RANGE_BYTES)]
    pub range_bytes: NonZeroUsize,
    /// The data contracts' folder (`*.toml`, read once at start; none: every object is
    /// profiled only). Objects under a contract's prefix also get Parquet and rejects.
    #[arg(long, env = env::CONTRACTS_DIR)]
    pub contracts_dir: Option<PathBuf>,
}

impl Args {
    /// The job these arguments describe.
    pub fn job(&self) -> Result<Job, JobError> {
        match (&self.job, &self.bucket, &self.key) {
            (Some(json), _, _) => serde_json::from_str(json).map_err(|e| {
                JobError::new(
                    ErrorName::InvalidInput,
                    format!("{} is not a job document: {e}", env::JOB),
                )
            }),
            (None, Some(bucket), Some(key)) => Ok(Job {
                bucket: bucket.clone(),
                object: JobObject {
                    key: encode_event_key(key),
                    size: 0,
                    etag: self.etag.clone(),
                    version_id: self.version_id.clone(),
                    sequencer: None,
                },
            }),
            _ => Err(JobError::new(
                ErrorName::InvalidInput,
                format!("no job: set {} or pass --bucket and --key", env::JOB),
            )),
        }
    }

    /// The settings these arguments describe, the contracts loaded (a bad one is an
    /// `Internal` failure naming its file and line).
    pub fn settings(&self) -> Result<RunSettings, JobError> {
        let layout = KeyLayout::new(&self.input_prefix, &self.output_prefix)
            .map_err(|e| JobError::new(ErrorName::Internal, format!("configuration: {e}")))?;
        let contracts = load_contracts(self.contracts_dir.as_deref(), &self.input_prefix)?;
        let parallelism = self
            .threads
            .map_or_else(Parallelism::available, |threads| {
                Parallelism::with_threads(threads.get())
            })
            .with_range_bytes(self.range_bytes.get());
        let concurrency = self
            .concurrency
            .unwrap_or_else(|| ReadPlan::concurrency_for(parallelism.threads.get()));
        Ok(RunSettings {
            layout,
            core: shared::Config::default(),
            processor: ROUTE.to_owned(),
            read: ReadPlan::Ranged {
                part_size: self.part_size_bytes.max(1),
                concurrency: concurrency.max(1),
            },
            contracts,
            parallelism,
        })
    }
}
