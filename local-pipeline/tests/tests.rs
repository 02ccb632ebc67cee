//! The local pipeline's tests, in one binary.

mod contracts;
mod failure_records;
mod interpreter;
mod pipeline;
mod restart;
mod sfn_api;
mod ui;
