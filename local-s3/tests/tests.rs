//! Integration tests: the real aws-sdk-s3 client against a running local S3 on loopback, one
//! server (ephemeral port, temporary data folder) per test.

mod conditions;
mod faults;
mod json;
mod multipart;
mod notifications;
mod objects;
mod server;
mod support;
