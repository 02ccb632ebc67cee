//! The local pipeline's tests, in one binary.

mod interpreter;
mod sfn_api;
