//! `run_job` against a real S3 protocol server on loopback (local-s3: s3s + s3s-fs), through
//! the real aws-sdk-s3 client; and a cross-check against moto's server.

mod contracts;
mod moto;
mod stages;

use std::time::Duration;

use aws_sdk_s3::Client;
use local_s3::{Fault, FaultRule, LocalS3, Operation, RunningS3};
use serde_json::Value;
use shared::{ErrorName, Job, KeyLayout};
use storage::{
    JobError, ReadPlan, ReportStatus, RunOutcome, RunSettings, S3Store, StopSignal, run_job,
};

const BUCKET: &str = "uploads";

struct Fixture {
    s3: RunningS3,
    client: Client,
    store: S3Store,
}

async fn fixture() -> Fixture {
    let s3 = LocalS3::builder().bucket(BUCKET).start().await.unwrap();
    let client = s3.client();
    let store = S3Store::new(client.clone());
    Fixture { s3, client, store }
}

pub(crate) fn settings(read: ReadPlan) -> RunSettings {
    RunSettings {
        layout: KeyLayout::default(),
        core: shared::Config::default(),
        processor: "test".into(),
        read,
        contracts: shared::Contracts::none(),
        parallelism: shared::Parallelism::with_threads(2).with_range_bytes(100),
    }
}

const RANGED: ReadPlan = ReadPlan::Ranged {
    part_size: 1000,
    concurrency: 3,
};

impl Fixture {
    /// Uploads `body` under `key` and returns the job its event would carry.
    async fn upload(&self, key: &str, body: &[u8]) -> Job {
        self.s3.upload_job(BUCKET, key, body).await.unwrap()
    }

    async fn run(&self, job: &Job, read: ReadPlan) -> Result<RunOutcome, JobError> {
        run_job(&self.store, job, &settings(read), &StopSignal::never()).await
    }

    /// The object under `key`, if any.
    async fn object(&self, key: &str) -> Option<Vec<u8>> {
        let output = self
            .client
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(output.body.collect().await.unwrap().into_bytes().to_vec())
    }

    async fn report(&self, key: &str) -> Value {
        let bytes = self.object(key).await.expect("a report");
        serde_json::from_slice(&bytes).unwrap()
    }

    /// Every key under the output prefix.
    async fn outputs(&self) -> Vec<String> {
        let listing = self
            .client
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("processed/")
            .send()
            .await
            .unwrap();
        listing
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }
}

/// A CSV of a few thousand bytes, several ranged parts.
pub(crate) fn sample_csv() -> Vec<u8> {
    let mut csv = b"id,name,amount,day\n".to_vec();
    for i in 0..300 {
        csv.extend_from_slice(
            format!("{i},\"name, {i}\",{}.5,2024-01-{:02}\n", i * 3, i % 28 + 1).as_bytes(),
        );
    }
    csv
}

fn without_processing(mut report: Value) -> Value {
    report.as_object_mut().unwrap().remove("processing");
    report
}

#[tokio::test]
async fn whole_and_ranged_reads_give_the_same_report() {
    let f = fixture().await;
    let csv = sample_csv();
    let job = f.upload("incoming/a.csv", &csv).await;
    let outcome = f.run(&job, ReadPlan::Whole).await.unwrap();
    assert_eq!(outcome.status, ReportStatus::Written);
    assert_eq!(outcome.report_key, "processed/a.csv.report.json");
    let whole = f.report(&outcome.report_key).await;
    assert_eq!(whole["records"]["valid"], 300);
    assert_eq!(whole["source"]["bucket"], BUCKET);
    assert_eq!(
        whole["source"]["etag"],
        job.object.etag.clone().unwrap().as_str()
    );
    assert_eq!(whole["processing"]["processor"], "test");

    for (part_size, concurrency) in [(97, 8), (1000, 3), (1 << 20, 1)] {
        let job = f
            .upload(&format!("incoming/ranged-{part_size}.csv"), &csv)
            .await;
        let read = ReadPlan::Ranged {
            part_size,
            concurrency,
        };
        let outcome = f.run(&job, read).await.unwrap();
        let mut ranged = without_processing(f.report(&outcome.report_key).await);
        ranged["source"]["key"] = "incoming/a.csv".into();
        assert_eq!(
            ranged,
            without_processing(whole.clone()),
            "parts of {part_size}"
        );
    }
    f.s3.shutdown().await;
}

/// Issue 13: an object that is only profiled is parsed on `RunSettings::parallelism`'s
/// threads; two threads (ranges of 100 bytes, so many ranges) give the report of one, byte
/// for byte but for `processing`, on both routes, and the same named error.
#[tokio::test]
async fn two_parsing_threads_give_the_report_of_one() {
    let f = fixture().await;
    let mut jsonl = Vec::new();
    for i in 0..200 {
        jsonl.extend_from_slice(format!("{{\"i\":{i},\"s\":\"x\\ny {}\"}}\n", i % 7).as_bytes());
    }
    let mut malformed = sample_csv();
    malformed.extend_from_slice(b"1,\"x\"y,2,3\n".repeat(400).as_slice());
    let inputs = [
        ("quoted.csv", sample_csv()),
        ("lines.jsonl", jsonl),
        ("malformed.csv", malformed),
    ];
    for (route, read) in [("whole", ReadPlan::Whole), ("ranged", RANGED)] {
        for (name, body) in &inputs {
            let mut results = Vec::new();
            for threads in [1, 2] {
                let key = format!("incoming/threads-{threads}/{route}/{name}");
                let job = f.upload(&key, body).await;
                let mut settings = settings(read);
                settings.parallelism =
                    shared::Parallelism::with_threads(threads).with_range_bytes(100);
                let outcome = run_job(&f.store, &job, &settings, &StopSignal::never()).await;
                let result = match outcome {
                    Ok(outcome) => {
                        let mut report = without_processing(f.report(&outcome.report_key).await);
                        report["source"]["key"] = Value::Null;
                        report["source"]["etag"] = Value::Null;
                        Ok(serde_json::to_string(&report).unwrap())
                    }
                    Err(error) => Err((error.name(), error.message().to_owned())),
                };
                results.push(result);
            }
            assert_eq!(results[0], results[1], "{name}, {read:?}");
            if *name == "malformed.csv" {
                assert!(results[0].is_err(), "{:?}", results[0]);
            } else {
                assert!(results[0].is_ok(), "{:?}", results[0]);
            }
        }
    }
    f.s3.shutdown().await;
}

#[tokio::test]
async fn keys_with_spaces_plus_percent_unicode_and_deep_paths() {
    let f = fixture().await;
    let keys = [
        "incoming/with space.csv",
        "incoming/a+b.csv",
        "incoming/100%.csv",
        "incoming/café/日本語 データ.csv",
        &format!("incoming/{}deep.csv", "d/".repeat(40)),
    ];
    for key in keys {
        let job = f.upload(key, b"a,b\n1,2\n").await;
        let outcome = f.run(&job, RANGED).await.unwrap();
        let relative = key.strip_prefix("incoming/").unwrap();
        assert_eq!(
            outcome.report_key,
            format!("processed/{relative}.report.json")
        );
        assert_eq!(f.report(&outcome.report_key).await["source"]["key"], key);
    }
    f.s3.shutdown().await;
}

#[tokio::test]
async fn a_duplicate_event_is_cheap_and_leaves_the_report_byte_identical() {
    let f = fixture().await;
    let job = f.upload("incoming/dup.csv", &sample_csv()).await;
    let first = f.run(&job, ReadPlan::Whole).await.unwrap();
    let bytes = f.object(&first.report_key).await.unwrap();
    let gets = f.s3.requests_seen(Operation::GetObject);
    let second = f.run(&job, RANGED).await.unwrap();
    assert_eq!(second.status, ReportStatus::AlreadyDone);
    assert_eq!(second.records, None);
    assert_eq!(
        f.s3.requests_seen(Operation::GetObject),
        gets,
        "the object was not read again"
    );
    assert_eq!(f.object(&first.report_key).await.unwrap(), bytes);
    f.s3.shutdown().await;
}

#[tokio::test]
async fn a_newer_object_gets_a_new_report_and_an_older_event_never_overwrites_it() {
    let f = fixture().await;
    let old = f.upload("incoming/v.csv", b"a\n1\n").await;
    f.run(&old, ReadPlan::Whole).await.unwrap();
    let mut new = f.upload("incoming/v.csv", b"a\n1\n2\n").await;
    new.object.sequencer = Some("0000000000000002".into());
    assert_eq!(
        f.run(&new, ReadPlan::Whole).await.unwrap().status,
        ReportStatus::Written
    );
    assert_eq!(
        f.report("processed/v.csv.report.json").await["records"]["total"],
        2
    );

    // The old event again, its object now gone: the source changed, and the report stays.
    let error = f.run(&old, ReadPlan::Whole).await.unwrap_err();
    assert_eq!(error.name(), ErrorName::SourceChanged);
    assert_eq!(
        f.report("processed/v.csv.report.json").await["records"]["total"],
        2
    );
    f.s3.shutdown().await;
}

#[tokio::test]
async fn named_errors_leave_no_output() {
    let f = fixture().await;
    // A changed object: the event's etag no longer matches.
    let job = f.upload("incoming/changed.csv", b"a\n1\n").await;
    f.upload("incoming/changed.csv", b"a\n2\n").await;
    for read in [ReadPlan::Whole, RANGED] {
        assert_eq!(
            f.run(&job, read).await.unwrap_err().name(),
            ErrorName::SourceChanged
        );
    }
    // A vanished object.
    let job = f.upload("incoming/gone.csv", b"a\n1\n").await;
    f.client
        .delete_object()
        .bucket(BUCKET)
        .key("incoming/gone.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(
        f.run(&job, RANGED).await.unwrap_err().name(),
        ErrorName::SourceMissing
    );
    // Malformed beyond the limits, an unsupported format, an empty file.
    let mut ragged = b"a,b,c\n".to_vec();
    for _ in 0..20 {
        ragged.extend_from_slice(b"1,2\n");
    }
    let cases: [(&str, &[u8], ErrorName); 3] = [
        (
            "incoming/ragged.csv",
            &ragged,
            ErrorName::TooManyMalformedRecords,
        ),
        (
            "incoming/doc.json",
            b"{\n \"a\": 1\n}\n",
            ErrorName::UnsupportedFormat,
        ),
        ("incoming/empty.csv", b"", ErrorName::InvalidInput),
    ];
    for (key, body, name) in cases {
        let job = f.upload(key, body).await;
        for read in [ReadPlan::Whole, RANGED] {
            let error = f.run(&job, read).await.unwrap_err();
            assert_eq!(error.name(), name, "{key}: {error}");
        }
    }
    // A key under the output prefix is never processed.
    let job = f.upload("processed/x.csv", b"a\n1\n").await;
    assert_eq!(
        f.run(&job, ReadPlan::Whole).await.unwrap_err().name(),
        ErrorName::InvalidInput
    );
    f.client
        .delete_object()
        .bucket(BUCKET)
        .key("processed/x.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(f.outputs().await, Vec::<String>::new());
    f.s3.shutdown().await;
}

#[tokio::test]
async fn transient_s3_failures_are_retried_and_persistent_ones_are_storage_errors() {
    let f = fixture().await;
    let job = f.upload("incoming/flaky.csv", &sample_csv()).await;
    // Two 500s, then success: the SDK's retries get through.
    f.s3.faults()
        .inject(FaultRule::new(Operation::GetObject, Fault::InternalError).times(2));
    f.s3.faults()
        .inject(FaultRule::new(Operation::HeadObject, Fault::SlowDown).times(1));
    assert_eq!(
        f.run(&job, RANGED).await.unwrap().status,
        ReportStatus::Written
    );

    let job = f.upload("incoming/down.csv", &sample_csv()).await;
    f.s3.faults()
        .inject(FaultRule::new(Operation::GetObject, Fault::InternalError).always());
    for read in [ReadPlan::Whole, RANGED] {
        let error = f.run(&job, read).await.unwrap_err();
        assert_eq!(error.name(), ErrorName::Storage, "{error}");
        assert!(error.name().retryable());
        assert!(error.message().contains("500"), "{error}");
    }
    f.s3.faults().clear();
    f.s3.faults()
        .inject(FaultRule::new(Operation::PutObject, Fault::ServiceUnavailable).always());
    assert_eq!(
        f.run(&job, ReadPlan::Whole).await.unwrap_err().name(),
        ErrorName::Storage
    );
    f.s3.faults().clear();
    assert_eq!(f.outputs().await, ["processed/flaky.csv.report.json"]);
    f.s3.shutdown().await;
}

#[tokio::test]
async fn a_stop_signal_interrupts_the_read_and_writes_nothing() {
    let f = fixture().await;
    let job = f.upload("incoming/slow.csv", &sample_csv()).await;
    f.s3.faults().inject(
        FaultRule::new(Operation::GetObject, Fault::Delay(Duration::from_secs(2))).always(),
    );
    let (stop, signal) = StopSignal::new();
    let settings = settings(RANGED);
    let run = run_job(&f.store, &job, &settings, &signal);
    let raise = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.send(true).unwrap();
    };
    let started = std::time::Instant::now();
    let (result, ()) = tokio::join!(run, raise);
    assert_eq!(result.unwrap_err().name(), ErrorName::Interrupted);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stopped without waiting for the reads"
    );
    f.s3.faults().clear();
    assert_eq!(f.outputs().await, Vec::<String>::new());
    f.s3.shutdown().await;
}

#[tokio::test]
async fn a_key_stored_encoded_is_found_under_the_raw_key() {
    let f = fixture().await;
    // The object's key really holds "%2B"; an event spells it "%252B", decoded "%2B"... and a
    // producer that stored the event's spelling makes the decoded key miss.
    let stored = "incoming/a+b.csv";
    let mut job = f.upload(stored, b"a\n1\n").await;
    job.object.key = stored.to_owned(); // decodes to "incoming/a b.csv", which does not exist
    let outcome = f.run(&job, ReadPlan::Whole).await.unwrap();
    assert_eq!(outcome.key, stored);
    f.s3.shutdown().await;
}
