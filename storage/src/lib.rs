//! S3 for the processors: read exactly the object a job describes, stream it through the
//! parsing core, and commit the report.
//!
//! Both processors are thin adapters around [`run_job`]: the Lambda function reads the
//! object in one request ([`ReadPlan::Whole`]), the Fargate program in concurrent ranged
//! requests reassembled in order ([`ReadPlan::Ranged`]). Everything else is the same, so the
//! report is the same whichever route produced it, but for its `processing` object.
//!
//! Guarantees:
//! - The object read is the one of the event: its version id when the event has one,
//!   otherwise `If-Match` on its etag on every request. A changed object is `SourceChanged`,
//!   a vanished one `SourceMissing`, never a silent read of other bytes.
//! - Writes go only under the output prefix. The report is written last, in one request: it
//!   is the commit marker, and a failed job leaves no output behind.
//! - A job whose report already exists for the same etag and version is done: nothing is
//!   read or written again, so a duplicate event leaves the report byte-identical. A report
//!   for a newer event (a later sequencer) is never overwritten by an older one.

mod error;
mod run;
mod store;
mod tls;

pub use error::JobError;
pub use run::{ReadPlan, ReportStatus, RunOutcome, RunSettings, StopSignal, run_job};
pub use store::{ObjectHead, Pin, S3Store};
pub use tls::https_client;
