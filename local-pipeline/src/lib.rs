//! The whole S3 upload pipeline on one machine, with no AWS account: an S3 endpoint on
//! loopback whose writes produce S3's EventBridge events, the generated rule's event pattern
//! deciding which start an execution, the generated state machine executed by a local
//! interpreter, and the real processor binaries as its tasks.

pub mod data_dir;
pub mod demo;
pub mod events;
pub mod execution;
pub mod interpreter;
pub mod pipeline;
pub mod sfn_api;
pub mod smoke;
pub mod tasks;
pub mod ui;
