//! Integration tests: the real aws-sdk-s3 client against a running local S3 on loopback, one
//! server (ephemeral port, temporary data folder) per test.

mod cli;
mod conditions;
mod crash;
mod faults;
mod json;
mod model;
mod multipart;
mod notifications;
mod objects;
mod regressions;
mod server;
mod support;
mod versions;
