//! The local pipeline's tests, in one binary.

mod interpreter;
mod pipeline;
mod sfn_api;
