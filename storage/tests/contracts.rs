//! Objects a data contract owns, through the real client against the local S3: the Parquet
//! and rejects outputs, committed before the report, the same from both routes.

use std::path::Path;

use local_s3::{LocalS3, Operation, RunningS3};
use serde_json::Value;
use shared::{Contract, Contracts, ErrorName, Job, KeyLayout};
use storage::{
    JobError, ReadPlan, ReportStatus, RunOutcome, RunSettings, S3Store, StopSignal, run_job,
};

const BUCKET: &str = "uploads";

/// A dataset with a partition, failing past 30 % of records rejected.
const CONTRACTS: [(&str, &str); 1] =
    [("contracts/sales.toml", include_str!("fixtures/sales.toml"))];

/// Settings with the contracts above, on the default layout.
pub(crate) fn settings(read: ReadPlan) -> RunSettings {
    let contracts = CONTRACTS
        .iter()
        .map(|(path, text)| Contract::parse(Path::new(path), text).unwrap())
        .collect();
    RunSettings {
        layout: KeyLayout::default(),
        core: shared::Config::default(),
        processor: "test".into(),
        read,
        contracts: Contracts::new(contracts, "incoming/").unwrap(),
        parallelism: shared::Parallelism::with_threads(1),
    }
}

pub(crate) const RANGED: ReadPlan = ReadPlan::Ranged {
    part_size: 1000,
    concurrency: 3,
};

/// `rows` records with a `note` of `note_len` characters (random, so that the Parquet output
/// is about as large as the notes); every `bad_every`th record has an id that is no integer.
pub(crate) fn csv(rows: usize, note_len: usize, bad_every: Option<usize>) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut csv = b"id,amount,note\n".to_vec();
    for i in 1..=rows {
        match bad_every {
            Some(every) if i % every == 0 => csv.extend_from_slice(format!("x{i}").as_bytes()),
            _ => csv.extend_from_slice(i.to_string().as_bytes()),
        }
        csv.extend_from_slice(format!(",{}.{:02},", i * 3, i % 100).as_bytes());
        for _ in 0..note_len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            csv.push(ALPHABET[usize::try_from(state % 62).unwrap()]);
        }
        csv.push(b'\n');
    }
    csv
}

/// A versioned bucket on the local S3 and the store over it (shared with the stage tests).
pub(crate) struct Fixture {
    pub(crate) s3: RunningS3,
    pub(crate) store: S3Store,
}

pub(crate) async fn fixture() -> Fixture {
    let s3 = LocalS3::builder()
        .versioned_bucket(BUCKET)
        .start()
        .await
        .unwrap();
    let store = S3Store::new(s3.client());
    Fixture { s3, store }
}

impl Fixture {
    pub(crate) async fn upload(&self, key: &str, body: &[u8], sequencer: &str) -> Job {
        let mut job = self.s3.upload_job(BUCKET, key, body).await.unwrap();
        job.object.sequencer = Some(sequencer.to_owned());
        job
    }

    async fn run(&self, job: &Job, read: ReadPlan) -> Result<RunOutcome, JobError> {
        run_job(&self.store, job, &settings(read), &StopSignal::never()).await
    }

    pub(crate) async fn object(&self, key: &str) -> Option<Vec<u8>> {
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

    async fn etag(&self, key: &str) -> String {
        let head = self
            .s3
            .client()
            .head_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        head.e_tag().unwrap().trim_matches('"').to_owned()
    }

    async fn content_type(&self, key: &str) -> String {
        let head = self
            .s3
            .client()
            .head_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        head.content_type().unwrap_or_default().to_owned()
    }

    /// Every current key but the inputs.
    pub(crate) async fn outputs(&self) -> Vec<String> {
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
    pub(crate) fn open_uploads(&self) -> u64 {
        let seen = |operation| self.s3.requests_seen(operation);
        seen(Operation::CreateMultipartUpload)
            - seen(Operation::CompleteMultipartUpload)
            - seen(Operation::AbortMultipartUpload)
    }
}

#[tokio::test]
async fn contract_outputs_are_committed_named_in_the_report_and_the_same_from_both_routes() {
    let f = fixture().await;
    let body = csv(400, 12, Some(16));
    let whole = f
        .upload("incoming/sales/region=eu/whole.csv", &body, "01")
        .await;
    let ranged = f
        .upload("incoming/sales/region=eu/ranged.csv", &body, "01")
        .await;
    let outcome = f.run(&whole, ReadPlan::Whole).await.unwrap();
    assert_eq!(outcome.status, ReportStatus::Written);
    assert_eq!(
        outcome.outputs,
        [
            "curated/sales/region=eu/whole.csv.parquet",
            "rejected/sales/region=eu/whole.csv.rejects.jsonl"
        ]
    );
    f.run(&ranged, RANGED).await.unwrap();

    let mut bytes = Vec::new();
    for name in ["whole", "ranged"] {
        let parquet = format!("curated/sales/region=eu/{name}.csv.parquet");
        let rejects = format!("rejected/sales/region=eu/{name}.csv.rejects.jsonl");
        let report: Value = serde_json::from_slice(
            &f.object(&format!("processed/sales/region=eu/{name}.csv.report.json"))
                .await
                .unwrap(),
        )
        .unwrap();
        let contract = &report["contract"];
        assert_eq!(contract["dataset"], "sales");
        assert_eq!(contract["records_written"], 375);
        assert_eq!(contract["records_rejected"], 25);
        let outputs = contract["outputs"].as_array().unwrap();
        assert_eq!(outputs.len(), 2);
        let mut objects = Vec::new();
        for (output, key) in outputs.iter().zip([&parquet, &rejects]) {
            let object = f.object(key).await.unwrap();
            assert_eq!(output["key"], key.as_str());
            assert_eq!(output["size"], object.len());
            assert_eq!(output["etag"], f.etag(key).await);
            objects.push(object);
        }
        assert_eq!(
            f.content_type(&parquet).await,
            storage::PARQUET_CONTENT_TYPE
        );
        assert_eq!(
            f.content_type(&rejects).await,
            storage::REJECTS_CONTENT_TYPE
        );
        let rejected = String::from_utf8(objects[1].clone()).unwrap();
        assert_eq!(rejected.lines().count(), 25);
        let first: Value = serde_json::from_str(rejected.lines().next().unwrap()).unwrap();
        assert_eq!(first["column"], "id", "{first}");
        bytes.push(objects);
    }
    assert!(
        bytes[0] == bytes[1],
        "the two routes' outputs are byte-identical"
    );
    f.s3.shutdown().await;
}

#[tokio::test]
async fn a_large_output_streams_into_a_multipart_upload_and_matches_the_lambda_route() {
    let f = fixture().await;
    // About 9 MiB of random notes: a Parquet output past one 5 MiB part.
    let body = csv(90_000, 100, Some(1000));
    let whole = f
        .upload("incoming/sales/region=eu/big-whole.csv", &body, "01")
        .await;
    let ranged = f
        .upload("incoming/sales/region=eu/big-ranged.csv", &body, "01")
        .await;
    f.run(&whole, ReadPlan::Whole).await.unwrap();
    assert_eq!(f.s3.requests_seen(Operation::CreateMultipartUpload), 0);
    let read = ReadPlan::Ranged {
        part_size: 1 << 20,
        concurrency: 3,
    };
    f.run(&ranged, read).await.unwrap();
    assert_eq!(f.s3.requests_seen(Operation::CreateMultipartUpload), 1);
    assert!(f.s3.requests_seen(Operation::UploadPart) >= 2);
    assert_eq!(f.s3.requests_seen(Operation::CompleteMultipartUpload), 1);
    let by_lambda = f
        .object("curated/sales/region=eu/big-whole.csv.parquet")
        .await
        .unwrap();
    let by_fargate = f
        .object("curated/sales/region=eu/big-ranged.csv.parquet")
        .await
        .unwrap();
    assert!(
        by_fargate.len() > storage::MIN_PART_SIZE,
        "{}",
        by_fargate.len()
    );
    assert!(by_lambda == by_fargate, "byte-identical Parquet");
    let etag = f
        .etag("curated/sales/region=eu/big-ranged.csv.parquet")
        .await;
    assert!(etag.contains('-'), "a multipart object's etag: {etag}");
    assert_eq!(
        f.object("rejected/sales/region=eu/big-whole.csv.rejects.jsonl")
            .await,
        f.object("rejected/sales/region=eu/big-ranged.csv.rejects.jsonl")
            .await,
    );
    f.s3.shutdown().await;
}

#[tokio::test]
async fn past_the_rejection_policy_nothing_is_written_and_the_upload_is_aborted() {
    let f = fixture().await;
    // Rejects streaming into a multipart upload before the end, where the share (6,000 of
    // 16,000, past the contract's 30 %) fails the object.
    let body = rejects_heavy(16_000);
    let job = f
        .upload("incoming/sales/region=eu/too-many.csv", &body, "01")
        .await;
    for read in [
        ReadPlan::Whole,
        ReadPlan::Ranged {
            part_size: 1 << 20,
            concurrency: 3,
        },
    ] {
        let error = f.run(&job, read).await.unwrap_err();
        assert_eq!(error.name(), ErrorName::ContractViolation, "{error}");
        assert!(!error.name().retryable());
    }
    assert_eq!(f.outputs().await, Vec::<String>::new());
    let created = f.s3.requests_seen(Operation::CreateMultipartUpload);
    assert_eq!(created, 1, "the rejects had started streaming");
    assert!(f.s3.requests_seen(Operation::UploadPart) >= 1);
    assert_eq!(f.s3.requests_seen(Operation::AbortMultipartUpload), created);
    assert_eq!(f.s3.requests_seen(Operation::CompleteMultipartUpload), 0);
    f.s3.shutdown().await;
}

/// ~950-byte records of which 3 in 8 are rejected: their rejects stream into a multipart
/// upload (past one 5 MiB part) long before the end.
fn rejects_heavy(rows: usize) -> Vec<u8> {
    let mut body = b"id,amount,note\n".to_vec();
    for i in 0..rows {
        if i % 8 < 3 {
            body.extend_from_slice(format!("bad{i},1.00,{}\n", "n".repeat(940)).as_bytes());
        } else {
            body.extend_from_slice(format!("{i},1.00,fine\n").as_bytes());
        }
    }
    body
}

#[tokio::test]
async fn a_stop_while_an_output_streams_aborts_its_upload_and_writes_nothing() {
    let f = fixture().await;
    let job = f
        .upload(
            "incoming/sales/region=eu/stopped.csv",
            &rejects_heavy(24_000),
            "01",
        )
        .await;
    let (stop, signal) = StopSignal::new();
    let read = ReadPlan::Ranged {
        part_size: 1 << 20,
        concurrency: 2,
    };
    let settings = settings(read);
    let run = run_job(&f.store, &job, &settings, &signal);
    let raise = async {
        // Once the first part of the rejects is uploaded.
        while f.s3.requests_seen(Operation::UploadPart) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        stop.send(true).unwrap();
    };
    let (result, ()) = tokio::join!(run, raise);
    assert_eq!(result.unwrap_err().name(), ErrorName::Interrupted);
    assert_eq!(f.outputs().await, Vec::<String>::new());
    assert_eq!(f.s3.requests_seen(Operation::CreateMultipartUpload), 1);
    assert_eq!(f.s3.requests_seen(Operation::AbortMultipartUpload), 1);
    assert_eq!(f.s3.requests_seen(Operation::CompleteMultipartUpload), 0);
    f.s3.shutdown().await;
}

#[tokio::test]
async fn a_new_version_without_rejects_removes_the_old_rejects_object() {
    // Only a DELETE of a key that has an object: in a versioned bucket a simple DELETE (no
    // version id) does not remove anything, it adds a delete marker as the key's current
    // version (AWS, "Working with delete markers",
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeleteMarker.html), so deleting
    // a key with no rejects would leave a marker behind at every clean run.
    let f = fixture().await;
    let key = "incoming/sales/region=us/daily.csv";
    let rejects = "rejected/sales/region=us/daily.csv.rejects.jsonl";
    let parquet = "curated/sales/region=us/daily.csv.parquet";
    for (round, read) in [ReadPlan::Whole, RANGED].into_iter().enumerate() {
        let first = f
            .upload(key, &csv(100, 8, Some(10)), &format!("0{}", 2 * round + 1))
            .await;
        f.run(&first, read).await.unwrap();
        assert!(f.object(rejects).await.is_some());
        let old_parquet = f.object(parquet).await.unwrap();

        let second = f
            .upload(key, &csv(120, 8, None), &format!("0{}", 2 * round + 2))
            .await;
        let outcome = f.run(&second, read).await.unwrap();
        assert_eq!(outcome.outputs, [parquet]);
        assert_eq!(f.object(rejects).await, None, "{read:?}");
        assert_ne!(f.object(parquet).await.unwrap(), old_parquet);
        let report: Value = serde_json::from_slice(
            &f.object("processed/sales/region=us/daily.csv.report.json")
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(report["contract"]["records_written"], 120);
        assert_eq!(report["contract"]["outputs"].as_array().unwrap().len(), 1);

        // The same event again: nothing is read or written.
        let puts = f.s3.requests_seen(Operation::PutObject);
        let again = f.run(&second, read).await.unwrap();
        assert_eq!(again.status, ReportStatus::AlreadyDone);
        assert_eq!(f.s3.requests_seen(Operation::PutObject), puts);
    }
    f.s3.shutdown().await;
}

/// Issue 13: an object under a contract is parsed and converted on
/// `RunSettings::parallelism`'s threads too; two threads (ranges of 100 bytes, so many
/// ranges) give the Parquet, the rejects and the report of one, byte for byte but for the
/// report's `processing`, on both routes.
#[tokio::test]
async fn a_contract_object_on_two_threads_gives_the_objects_of_one() {
    let f = fixture().await;
    let body = csv(400, 12, Some(16));
    for (route, read) in [("whole", ReadPlan::Whole), ("ranged", RANGED)] {
        let mut results = Vec::new();
        for threads in [1, 2] {
            let name = format!("{route}-{threads}.csv");
            let job = f
                .upload(&format!("incoming/sales/region=eu/{name}"), &body, "01")
                .await;
            let mut settings = settings(read);
            settings.parallelism = shared::Parallelism::with_threads(threads).with_range_bytes(100);
            run_job(&f.store, &job, &settings, &StopSignal::never())
                .await
                .unwrap();
            let parquet = f
                .object(&format!("curated/sales/region=eu/{name}.parquet"))
                .await
                .unwrap();
            let rejects = f
                .object(&format!("rejected/sales/region=eu/{name}.rejects.jsonl"))
                .await
                .unwrap();
            let report = f
                .object(&format!("processed/sales/region=eu/{name}.report.json"))
                .await
                .unwrap();
            let mut report: Value = serde_json::from_slice(&report).unwrap();
            report["processing"] = Value::Null;
            report["source"] = Value::Null;
            report["contract"]["outputs"] = Value::Null;
            results.push((parquet, rejects, report));
        }
        assert!(!results[0].1.is_empty(), "some records are rejected");
        assert!(
            results[0] == results[1],
            "{route}: two threads give one's objects"
        );
    }
    f.s3.shutdown().await;
}
