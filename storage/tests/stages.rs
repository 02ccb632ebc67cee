//! A team's processing stage (the example `ValueCounts`) through the real client against the
//! local S3: its output is staged and committed with the contract's, before the report, from
//! both routes; when it fails, nothing of the job is written.

use std::path::Path;

use local_s3::{LocalS3, Operation, RunningS3};
use serde_json::Value;
use shared::{Contract, Contracts, ErrorName, Job, KeyLayout, StageFactory};
use storage::{
    JobError, ReadPlan, ReportStatus, RunOutcome, RunSettings, S3Store, StopSignal, ValueCounts,
    run_job_with_stages,
};

const BUCKET: &str = "uploads";

const RANGED: ReadPlan = ReadPlan::Ranged {
    part_size: 1000,
    concurrency: 3,
};

fn settings(read: ReadPlan) -> RunSettings {
    let sales = Contract::parse(
        Path::new("contracts/sales.toml"),
        include_str!("fixtures/sales.toml"),
    )
    .unwrap();
    RunSettings {
        layout: KeyLayout::default(),
        core: shared::Config::default(),
        processor: "test".into(),
        read,
        contracts: Contracts::new(vec![sales], "incoming/").unwrap(),
    }
}

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

struct Fixture {
    s3: RunningS3,
    store: S3Store,
}

impl Fixture {
    async fn new() -> Fixture {
        let s3 = LocalS3::builder()
            .versioned_bucket(BUCKET)
            .start()
            .await
            .unwrap();
        let store = S3Store::new(s3.client());
        Fixture { s3, store }
    }

    async fn upload(&self, key: &str, body: &[u8]) -> Job {
        let mut job = self.s3.upload_job(BUCKET, key, body).await.unwrap();
        job.object.sequencer = Some("01".to_owned());
        job
    }

    async fn run(&self, job: &Job, read: ReadPlan, column: &str) -> Result<RunOutcome, JobError> {
        let stages = stages(column);
        run_job_with_stages(
            &self.store,
            job,
            &settings(read),
            &stages,
            &StopSignal::never(),
        )
        .await
    }

    async fn object(&self, key: &str) -> Option<Vec<u8>> {
        let output = self
            .s3
            .client()
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(output.body.collect().await.unwrap().into_bytes().to_vec())
    }

    /// Every current key but the inputs.
    async fn outputs(&self) -> Vec<String> {
        let listing = self
            .s3
            .client()
            .list_objects_v2()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        listing
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .filter(|key| !key.starts_with("incoming/"))
            .collect()
    }

    /// Multipart uploads begun and neither completed nor aborted.
    fn open_uploads(&self) -> u64 {
        let seen = |operation| self.s3.requests_seen(operation);
        seen(Operation::CreateMultipartUpload)
            - seen(Operation::CompleteMultipartUpload)
            - seen(Operation::AbortMultipartUpload)
    }
}

#[tokio::test]
async fn a_stage_output_is_committed_with_the_contracts_and_named_in_the_report_from_both_routes() {
    let f = Fixture::new().await;
    let body = sales(300);
    let mut counts = Vec::new();
    for (name, read) in [("whole", ReadPlan::Whole), ("ranged", RANGED)] {
        let key = format!("incoming/sales/region=eu/{name}.csv");
        let job = f.upload(&key, &body).await;
        let outcome = f.run(&job, read, "note").await.unwrap();
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
    let f = Fixture::new().await;
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
            let job = f.upload(&key, &body).await;
            let error = f.run(&job, read, column).await.unwrap_err();
            assert_eq!(error.name(), ErrorName::InvalidInput, "{error}");
            assert!(error.to_string().contains(detail), "{error}");
        }
    }
    assert_eq!(f.outputs().await, Vec::<String>::new());
    assert_eq!(f.open_uploads(), 0);
}

#[tokio::test]
async fn two_stages_writing_the_same_key_fail_before_anything_is_read() {
    let f = Fixture::new().await;
    let job = f
        .upload("incoming/sales/region=eu/clash.csv", &sales(10))
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
