//! S3 for the processors: read exactly the object a job describes, stream it through the
//! parsing core, and commit its outputs and the report.
//!
//! The requests go through [`ObjectStore`] (pinned HEAD, ranged GET stream, conditional PUT,
//! DELETE, multipart create/upload-part/complete/abort): [`S3Store`] against S3; the unit
//! tests drive the same [`run_job`] with an in-memory model that fails any call on demand.
//!
//! Both processors are thin adapters around [`run_job`]: the Lambda function reads the
//! object in one request ([`ReadPlan::Whole`]), the Fargate program in concurrent ranged
//! requests reassembled in order ([`ReadPlan::Ranged`]). Everything else is the same, so the
//! report is the same whichever route produced it, but for its `processing` object.
//!
//! An object that is profiled, or converted under its contract, is parsed on
//! [`RunSettings::parallelism`]'s threads ([`shared::ParallelProcessor`]: the same
//! report, Parquet and rejects as one thread, in memory bounded by threads × range size);
//! the Fargate program keeps about two ranged GETs in flight per thread
//! ([`ReadPlan::concurrency_for`]), so that downloads and parsing stay overlapped. An object
//! that other stages run on is parsed on one thread.
//!
//! Guarantees:
//! - The object read is the one of the event: its version id when the event has one,
//!   otherwise `If-Match` on its etag on every request. A changed object is `SourceChanged`,
//!   a vanished one `SourceMissing`, never a silent read of other bytes.
//! - Writes go only under the output prefix, and, for an object a data contract owns, to its
//!   two outputs (`curated/<dataset>/….parquet`, `rejected/<dataset>/….rejects.jsonl`). The
//!   outputs are staged the same way on both routes, in bounded memory: each holds up to a
//!   part (8 MiB on the Lambda route, the read part size on the Fargate route); one that
//!   stays smaller is PUT in one request at commit, a larger one streams into a multipart
//!   upload while parsing goes on. They are committed only once the whole
//!   object was read and every check passed (the rejection policy included): the Parquet
//!   object, then the rejects (or, with none, a DELETE of a previous version's), then the
//!   report, last, in one request: it is the commit marker. A failure before that aborts the
//!   uploads and leaves the previous outputs as they were; one between the commits fails the
//!   job (`Storage`, retried), and the rerun writes the same bytes again, then the report.
//!   Both routes write byte-identical outputs.
//! - The processing stages registered in one place ([`registered_stages`]; see
//!   [`shared::Stage`]) run in the same pass on both routes; their declared outputs are staged
//!   and committed with the contract's, in the order declared, before the report; a stage's
//!   failure fails the job under the name it chose, and nothing of it is written.
//! - A job whose report already exists for the same etag and version is done: nothing is
//!   read or written again, so a duplicate event leaves the report byte-identical. A report
//!   for a newer event (a later sequencer) is never overwritten by an older one; the decision
//!   is taken again just before the outputs are committed, so an older event that lost the
//!   race writes nothing. (Two runs for different versions at the very same moment can still
//!   interleave their output writes; the report names the sizes and etags of the outputs its
//!   run wrote, and the state machine runs one execution per event.) S3's conditional writes
//!   do not close this: `If-Match` / `If-None-Match` on `PutObject`,
//!   `CompleteMultipartUpload` and `DeleteObject` guard one key each
//!   (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html>,
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html>), and a
//!   job commits two or three keys before its report. Conditioned on fresh HEADs of the
//!   outputs, a run can still overwrite the Parquet of a run that is between its commits and
//!   then stop at the rejects, leaving one run's Parquet under the other's report;
//!   conditioned on the etags the current report names, a concurrent run stops at its first
//!   output, but a run that failed between two commits can then never commit again (its own
//!   Parquet no longer has the report's etag). Closing it takes a lease object or outputs
//!   under per-version keys, which the one-object-per-source layout rules out.

mod error;
#[cfg(test)]
mod lifecycle;
#[cfg(test)]
mod memory;
mod metrics;
mod run;
mod stage;
mod stages;
mod store;
mod tls;

pub use error::JobError;
pub use metrics::{metrics_namespace_from_environment, now_ms, object_metrics};
pub use run::{
    LAMBDA_RANGE_BYTES, ReadPlan, ReportStatus, RunOutcome, RunSettings, StopSignal,
    load_contracts, parallelism_from_environment, run_job, run_job_with_stages,
};

pub use stage::{MIN_PART_SIZE, OUTPUT_PART_SIZE, PARQUET_CONTENT_TYPE, REJECTS_CONTENT_TYPE};
pub use stages::{ValueCounts, registered_stages};
pub use store::{
    ByteChunks, CompletedPart, ObjectHead, ObjectStore, Pin, PutOptions, S3Store, Upload,
    WriteCondition, Written,
};
pub use tls::https_client;
