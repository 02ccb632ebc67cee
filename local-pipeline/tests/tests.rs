//! The local pipeline's tests, in one binary.
mod sfn_api;
