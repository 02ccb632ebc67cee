//! Data contracts through the whole local pipeline: `contracts/sales.toml` given to both
//! processors (`PIPELINE_CONTRACTS_DIR`), an upload under `incoming/sales/` ends with its
//! Parquet, its rejects and a report naming both, on either route; a file over the rejection
//! policy fails `ContractViolation` and writes nothing; a bad contract stops `serve` and `demo`
//! at start with its file and line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use local_pipeline::demo::Route;
use local_pipeline::execution::{ExecutionRecord, ExecutionStatus};
use local_pipeline::pipeline::{PipelineOptions, RunningPipeline};

use super::pipeline::{THRESHOLD, bin_dir, ended, options, upload};

/// The repository's `contracts/` (the sales contract).
fn contracts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts")
}

fn with_contracts() -> PipelineOptions {
    let mut options = options();
    options.contracts_dir = Some(contracts_dir());
    options
}

/// The sample: 30 records meet the contract, 3 do not (lines 11, 16 and 23).
const ORDERS: &[u8] = include_bytes!("../samples/sales/orders.csv");

/// A sales CSV of at least `size` bytes whose records `bad(n)` are rejected (a negative
/// amount: `below_min`).
fn sales_csv(size: u64, bad: impl Fn(u64) -> bool) -> Vec<u8> {
    let mut out = String::from("order_id,customer,amount,currency,ordered_at,shipped\n");
    let mut n = 0;
    while (out.len() as u64) < size {
        n += 1;
        let _ = writeln!(
            out,
            "{n},customer {n},{}{}.{:02},{},2026-12-{:02}T10:00:00Z,{}",
            if bad(n) { "-" } else { "" },
            n % 1000 + 1,
            n % 100,
            ["EUR", "USD", "GBP"][usize::try_from(n % 3).unwrap()],
            n % 28 + 1,
            n % 2 == 0
        );
    }
    out.into_bytes()
}

fn record_for<'a>(records: &'a [ExecutionRecord], key: &str) -> &'a ExecutionRecord {
    records
        .iter()
        .find(|r| local_pipeline::demo::execution_key(r).as_deref() == Some(key))
        .unwrap_or_else(|| panic!("no execution for {key}"))
}

async fn object(pipeline: &RunningPipeline, key: &str) -> Vec<u8> {
    let object = pipeline
        .s3()
        .client()
        .get_object()
        .bucket(&pipeline.options().bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("no object at {key}: {e:?}"));
    object.body.collect().await.unwrap().to_vec()
}

/// Every key in the bucket.
async fn keys(pipeline: &RunningPipeline) -> Vec<String> {
    let listed = pipeline
        .s3()
        .client()
        .list_objects_v2()
        .bucket(&pipeline.options().bucket)
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// Checks the outputs of `key` (the dataset `sales`): the Parquet, the rejects with their
/// reasons in order, the report's contract section naming both; returns the section.
async fn check_outputs(
    pipeline: &RunningPipeline,
    key: &str,
    written: u64,
    reasons: &[&str],
) -> Value {
    let relative = key.strip_prefix("incoming/sales/").unwrap();
    let parquet_key = format!("curated/sales/{relative}.parquet");
    let rejects_key = format!("rejected/sales/{relative}.rejects.jsonl");

    let parquet = object(pipeline, &parquet_key).await;
    assert!(
        parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"),
        "{parquet_key} is no Parquet file ({} bytes)",
        parquet.len()
    );
    let rejects = object(pipeline, &rejects_key).await;
    let rejects: Vec<Value> = String::from_utf8(rejects)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let found: Vec<&str> = rejects
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(found, reasons, "{rejects_key}");

    let report_key = format!("processed/sales/{relative}.report.json");
    let report: Value = serde_json::from_slice(&object(pipeline, &report_key).await).unwrap();
    let contract = report["contract"].clone();
    assert_eq!(contract["dataset"], "sales", "{report_key}: {contract}");
    assert_eq!(contract["records_written"], written, "{contract}");
    assert_eq!(contract["records_rejected"], reasons.len(), "{contract}");
    let outputs: Vec<(&str, u64)> = contract["outputs"]
        .as_array()
        .unwrap_or_else(|| panic!("no outputs in {contract}"))
        .iter()
        .map(|o| (o["key"].as_str().unwrap(), o["size"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        outputs,
        [
            (parquet_key.as_str(), parquet.len() as u64),
            (
                rejects_key.as_str(),
                object(pipeline, &rejects_key).await.len() as u64
            )
        ],
        "{contract}"
    );
    contract
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_under_a_contracts_prefix_gets_its_parquet_its_rejects_and_a_report_naming_both_on_both_routes()
 {
    let pipeline = RunningPipeline::start(with_contracts()).await.unwrap();
    assert_eq!(
        pipeline
            .contracts()
            .iter()
            .map(|c| c.dataset.as_str())
            .collect::<Vec<_>>(),
        ["sales"]
    );
    let large = sales_csv(THRESHOLD * 2, |n| n % 100 == 0);
    let large_rows = String::from_utf8_lossy(&large).lines().count() as u64 - 1;
    upload(&pipeline, "incoming/sales/orders.csv", ORDERS.to_vec()).await;
    upload(&pipeline, "incoming/sales/big/orders.csv", large).await;
    // Not under a contract's prefix: profiled only, as before.
    upload(
        &pipeline,
        "incoming/people.csv",
        include_bytes!("../samples/people.csv").to_vec(),
    )
    .await;
    let records = ended(&pipeline, 3).await;
    for (key, route) in [
        ("incoming/sales/orders.csv", Route::Lambda),
        ("incoming/sales/big/orders.csv", Route::Fargate),
        ("incoming/people.csv", Route::Lambda),
    ] {
        let record = record_for(&records, key);
        assert_eq!(
            (record.status, Route::of(record)),
            (ExecutionStatus::Succeeded, route),
            "{key}: {:?}",
            record.cause
        );
    }

    let small = check_outputs(
        &pipeline,
        "incoming/sales/orders.csv",
        30,
        &["below_min", "not_allowed", "type"],
    )
    .await;
    assert_eq!(
        small["rejected_by_reason"],
        serde_json::json!({"below_min": 1, "not_allowed": 1, "type": 1})
    );
    let rejects = object(&pipeline, "rejected/sales/orders.csv.rejects.jsonl").await;
    let lines: Vec<Value> = String::from_utf8(rejects)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let at: Vec<(u64, &str)> = lines
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["column"].as_str().unwrap()))
        .collect();
    assert_eq!(at, [(11, "amount"), (16, "currency"), (23, "order_id")]);

    let bad = large_rows / 100;
    check_outputs(
        &pipeline,
        "incoming/sales/big/orders.csv",
        large_rows - bad,
        &vec!["below_min"; usize::try_from(bad).unwrap()],
    )
    .await;

    let people: Value =
        serde_json::from_slice(&object(&pipeline, "processed/people.csv.report.json").await)
            .unwrap();
    assert!(people.get("contract").is_none(), "{people}");
    let stored = keys(&pipeline).await;
    assert!(
        !stored.iter().any(|k| k.contains("people.csv.parquet")),
        "{stored:?}"
    );
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_over_the_rejection_policy_fails_with_contract_violation_and_writes_nothing_on_both_routes()
 {
    let pipeline = RunningPipeline::start(with_contracts()).await.unwrap();
    // Two records of three rejected: far above the default share of 10 %.
    let small = sales_csv(2 * 1024, |n| n % 3 != 0);
    let large = sales_csv(THRESHOLD * 2, |n| n % 3 != 0);
    upload(&pipeline, "incoming/sales/mostly-bad.csv", small).await;
    upload(&pipeline, "incoming/sales/big/mostly-bad.csv", large).await;
    let records = ended(&pipeline, 2).await;
    for (key, route) in [
        ("incoming/sales/mostly-bad.csv", Route::Lambda),
        ("incoming/sales/big/mostly-bad.csv", Route::Fargate),
    ] {
        let record = record_for(&records, key);
        assert_eq!(record.status, ExecutionStatus::Failed, "{key}");
        assert_eq!(
            record.error.as_deref(),
            Some("ContractViolation"),
            "{key}: {:?}",
            record.cause
        );
        assert_eq!(Route::of(record), route, "{key}");
        let last = record
            .history
            .iter()
            .filter(|e| e.kind.ends_with("StateEntered"))
            .filter_map(|e| e.details.as_ref()?.1["name"].as_str())
            .next_back();
        assert_eq!(last, Some("Failed: ContractViolation"), "{key}");
    }
    // Nothing but the uploads and each one's failure record: no Parquet, no rejects, no
    // report.
    let stored = keys(&pipeline).await;
    assert_eq!(
        stored,
        [
            "failed/incoming/sales/big/mostly-bad.csv.json",
            "failed/incoming/sales/mostly-bad.csv.json",
            "incoming/sales/big/mostly-bad.csv",
            "incoming/sales/mostly-bad.csv",
        ],
    );
    pipeline.shutdown().await;
}

/// A contract with an unknown type on line 6.
fn bad_contracts() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders.toml"),
        "dataset = \"orders\"\nprefix = \"incoming/orders/\"\n\n[[columns]]\nname = \"id\"\n\
         type = \"integer\"\n",
    )
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_contract_stops_the_start_naming_its_file_and_line() {
    let dir = bad_contracts();
    let mut options = options();
    options.contracts_dir = Some(dir.path().to_owned());
    let Err(error) = RunningPipeline::start(options).await else {
        panic!("the pipeline started with a bad contract");
    };
    let message = format!("{error:#}");
    let at = format!("{}:6: ", dir.path().join("orders.toml").display());
    assert!(
        message.contains(&at) && message.contains("unknown type `integer`"),
        "{message}"
    );

    // A folder named on purpose must exist.
    let mut options = super::pipeline::options();
    options.contracts_dir = Some(dir.path().join("missing"));
    let Err(error) = RunningPipeline::start(options).await else {
        panic!("the pipeline started without its contracts folder");
    };
    assert!(format!("{error:#}").contains("missing"), "{error:#}");
}

#[test]
fn serve_and_demo_refuse_a_bad_contract_at_start_with_its_file_and_line() {
    let dir = bad_contracts();
    for command in ["serve", "demo"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_local-pipeline"))
            .args([command, "--bin-dir"])
            .arg(bin_dir())
            .arg("--contracts-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        let at = format!("{}:6: ", dir.path().join("orders.toml").display());
        assert!(
            stderr.contains(&at) && stderr.contains("unknown type `integer`"),
            "{command}: {stderr}"
        );
        // It stopped before anything started.
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!stdout.contains("local pipeline up"), "{command}: {stdout}");
    }
}
