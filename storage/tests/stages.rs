//! A team's processing stage (the example `ValueCounts`) through the real client against the
//! local S3: its output is staged and committed with the contract's, before the report, from
//! both routes; when it fails, nothing of the job is written.

use local_s3::Operation;
use serde_json::Value;
use shared::{ErrorName, Job, KeyLayout, StageFactory};
use storage::{
    JobError, ReadPlan, ReportStatus, RunOutcome, StopSignal, ValueCounts, run_job_with_stages,
};

use crate::contracts::{Fixture, RANGED, fixture, settings};

/// Counts the sales by their `note` (a status here), and a stage that asks for a column the
/// files do not have.
fn stages(column: &str) -> Vec<Box<dyn StageFactory>> {
    vec![Box::new(ValueCounts::new(
        "by_note",
        "incoming/sales/",
        column,
        KeyLayout::default(),
    ))]
}

/// `rows` sales whose note cycles through three statuses; every 10th id is no integer (a
/// rejected record).
fn sales(rows: usize) -> Vec<u8> {
    let mut csv = b"id,amount,note\n".to_vec();
    for i in 1..=rows {
        let id = if i % 10 == 0 {
            format!("x{i}")
        } else {
            i.to_string()
        };
        let note = ["new", "paid", "shipped"][i % 3];
        csv.extend_from_slice(format!("{id},{}.{:02},{note}\n", i * 3, i % 100).as_bytes());
    }
    csv
}

/// Runs `job` with the example stage counting `column`.
async fn run(f: &Fixture, job: &Job, read: ReadPlan, column: &str) -> Result<RunOutcome, JobError> {
    let stages = stages(column);
    run_job_with_stages(
        &f.store,
        job,
        &settings(read),
        &stages,
        &StopSignal::never(),
    )
    .await
}

#[tokio::test]
async fn a_stage_output_is_committed_with_the_contracts_and_named_in_the_report_from_both_routes() {
    let f = fixture().await;
    let body = sales(300);
    let mut counts = Vec::new();
    for (name, read) in [("whole", ReadPlan::Whole), ("ranged", RANGED)] {
        let key = format!("incoming/sales/region=eu/{name}.csv");
        let job = f.upload(&key, &body, "01").await;
        let outcome = run(&f, &job, read, "note").await.unwrap();
        assert_eq!(outcome.status, ReportStatus::Written);
        let counts_key = format!("processed/sales/region=eu/{name}.csv.value_counts.json");
        assert_eq!(
            outcome.outputs,
            [
                format!("curated/sales/region=eu/{name}.csv.parquet"),
                format!("rejected/sales/region=eu/{name}.csv.rejects.jsonl"),
                counts_key.clone(),
            ]
        );
        let report: Value = serde_json::from_slice(
            &f.object(&format!("processed/sales/region=eu/{name}.csv.report.json"))
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(report["contract"]["records_rejected"], 30);
        assert_eq!(report["contract"]["outputs"].as_array().unwrap().len(), 2);
        let section = &report["stages"]["by_note"];
        assert_eq!(section["summary"]["column"], "note");
        assert_eq!(section["summary"]["distinct_values"], 3);
        let object = f.object(&counts_key).await.unwrap();
        assert_eq!(section["outputs"][0]["key"], counts_key.as_str());
        assert_eq!(section["outputs"][0]["size"], object.len());
        let counted: Value = serde_json::from_slice(&object).unwrap();
        // Every record is counted, the rejected ones too: the stage sees every record.
        assert_eq!(
            counted,
            serde_json::json!({"new": 100, "paid": 100, "shipped": 100})
        );
        counts.push(object);
    }
    assert_eq!(counts[0], counts[1], "both routes write the same bytes");
    assert_eq!(f.open_uploads(), 0);
}

#[tokio::test]
async fn a_failing_stage_fails_the_job_under_its_name_and_nothing_is_written() {
    let f = fixture().await;
    let body = sales(ValueCounts::MAX_VALUES + 500);
    // At the header (a column the files lack), and after thousands of records (more distinct
    // values than it keeps), while the contract's outputs are being staged.
    let failures = [
        ("status", "the header has no column `status`"),
        ("id", "more than 10000 distinct values"),
    ];
    for (column, detail) in failures {
        for (name, read) in [("whole", ReadPlan::Whole), ("ranged", RANGED)] {
            let key = format!("incoming/sales/region=eu/{name}-{column}.csv");
            let job = f.upload(&key, &body, "01").await;
            let error = run(&f, &job, read, column).await.unwrap_err();
            assert_eq!(error.name(), ErrorName::InvalidInput, "{error}");
            assert!(error.to_string().contains(detail), "{error}");
        }
    }
    assert_eq!(f.outputs().await, Vec::<String>::new());
    assert_eq!(f.open_uploads(), 0);
}

#[tokio::test]
async fn two_stages_writing_the_same_key_fail_before_anything_is_read() {
    let f = fixture().await;
    let job = f
        .upload("incoming/sales/region=eu/clash.csv", &sales(10), "01")
        .await;
    let counts = |name: &str| -> Box<dyn StageFactory> {
        Box::new(ValueCounts::new(
            name,
            "incoming/sales/",
            "note",
            KeyLayout::default(),
        ))
    };
    let stages = [counts("by_note"), counts("by_note_again")];
    let error = run_job_with_stages(
        &f.store,
        &job,
        &settings(ReadPlan::Whole),
        &stages,
        &StopSignal::never(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.name(), ErrorName::Internal);
    assert!(
        error.to_string().contains("another output's key"),
        "{error}"
    );
    assert_eq!(f.s3.requests_seen(Operation::GetObject), 0);
    assert_eq!(f.outputs().await, Vec::<String>::new());
}
