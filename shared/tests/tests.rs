//! Integration tests of the parsing core: third-party corpora, documented edge cases,
//! chunking invariance, and DuckDB as an independent oracle.

// Tables of cases read best long; test data needs no portability casts.
#![allow(
    clippy::too_many_lines,
    clippy::similar_names,
    clippy::cast_possible_truncation
)]

mod chunking;
mod cli;
mod contracts;
mod corpora;
mod edge_cases;
mod oracle;
mod parallel;
mod parallel_contracts;
mod parquet_oracle;
mod suggest_contract;
mod support;
