//! The job lifecycle against the in-memory store: the skip decision, the commit order
//! (Parquet, rejects, report), and what every failure leaves behind.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use serde_json::Value;
use shared::{Contract, Contracts, ErrorName, Job, KeyLayout};

use crate::error::JobError;
use crate::memory::{Call, MemoryStore};
use crate::run::{
    ReadPlan, ReportStatus, RunOutcome, RunSettings, StopSignal, TEST_WHOLE_OUTPUT_PART_SIZE,
    run_job,
};

const BUCKET: &str = "uploads";
const KEY: &str = "incoming/sales/region=eu/orders.csv";
const PARQUET: &str = "curated/sales/region=eu/orders.csv.parquet";
const REJECTS: &str = "rejected/sales/region=eu/orders.csv.rejects.jsonl";
const REPORT: &str = "processed/sales/region=eu/orders.csv.report.json";

/// A dataset with a partition, failing past 30 % of records rejected (shared with the
/// integration tests).
const CONTRACT: &str = include_str!("../tests/fixtures/sales.toml");

const WHOLE: ReadPlan = ReadPlan::Whole;
/// Tiny parts: many multipart parts for both outputs.
const RANGED: ReadPlan = ReadPlan::Ranged {
    part_size: 64,
    concurrency: 2,
};
/// Parts larger than the outputs: both are PUT in one request.
const RANGED_LARGE: ReadPlan = ReadPlan::Ranged {
    part_size: 1 << 20,
    concurrency: 3,
};

fn settings(read: ReadPlan) -> RunSettings {
    let contract = Contract::parse(Path::new("contracts/sales.toml"), CONTRACT).unwrap();
    RunSettings {
        layout: KeyLayout::default(),
        core: shared::Config::default(),
        processor: "test".into(),
        read,
        contracts: Contracts::new(vec![contract], "incoming/").unwrap(),
        parallelism: shared::Parallelism::with_threads(1),
    }
}

/// `rows` records; every `bad_every`th has an id that is no integer.
fn csv(rows: usize, bad_every: Option<usize>, salt: &str) -> Vec<u8> {
    let mut csv = b"id,amount,note\n".to_vec();
    for i in 1..=rows {
        let id = match bad_every {
            Some(every) if i % every == 0 => format!("x{i}"),
            _ => i.to_string(),
        };
        csv.extend_from_slice(
            format!("{id},{}.{:02},\"{salt} {i}, ok\"\n", i * 3, i % 100).as_bytes(),
        );
    }
    csv
}

async fn run(store: &MemoryStore, job: &Job, read: ReadPlan) -> Result<RunOutcome, JobError> {
    run_job(store, job, &settings(read), &StopSignal::never()).await
}

/// The objects, reports without their `processing` object (the one part that varies).
fn comparable(objects: BTreeMap<String, Bytes>) -> BTreeMap<String, Vec<u8>> {
    objects
        .into_iter()
        .map(|(key, bytes)| {
            if key.ends_with(".report.json") {
                let mut report: Value = serde_json::from_slice(&bytes).unwrap();
                report.as_object_mut().unwrap().remove("processing");
                (key, serde_json::to_vec(&report).unwrap())
            } else {
                (key, bytes.to_vec())
            }
        })
        .collect()
}

fn is_visible_write(call: Call) -> bool {
    matches!(call, Call::Put | Call::CompleteMultipart | Call::Delete)
}

#[tokio::test]
async fn both_routes_commit_the_same_parquet_then_rejects_then_the_report_last() {
    let body = csv(300, Some(20), "a");
    let mut results = Vec::new();
    for read in [WHOLE, RANGED, RANGED_LARGE] {
        let store = MemoryStore::versioned();
        let job = store.upload(BUCKET, KEY, &body, "01");
        let outcome = run(&store, &job, read).await.unwrap();
        assert_eq!(outcome.status, ReportStatus::Written);
        assert_eq!(outcome.outputs, [PARQUET, REJECTS]);
        assert_eq!(store.open_uploads(), 0);

        // The order of the visible writes: Parquet, rejects, report.
        let writes: Vec<(Call, String)> = store
            .calls()
            .into_iter()
            .filter(|(call, _)| is_visible_write(*call))
            .collect();
        let keys: Vec<&str> = writes.iter().map(|(_, key)| key.as_str()).collect();
        assert_eq!(keys, [PARQUET, REJECTS, REPORT], "{read:?}");
        if read == RANGED {
            assert!(store.count(Call::UploadPart) > 4, "streamed in parts");
            assert_eq!(writes[0].0, Call::CompleteMultipart);
            assert_eq!(writes[1].0, Call::CompleteMultipart);
        } else {
            assert_eq!(
                store.count(Call::CreateMultipart),
                0,
                "{read:?}: one PUT each"
            );
        }

        let objects = store.objects();
        let report: Value = serde_json::from_slice(&objects[REPORT]).unwrap();
        let contract = &report["contract"];
        assert_eq!(contract["dataset"], "sales");
        assert_eq!(contract["records_written"], 285);
        assert_eq!(contract["records_rejected"], 15);
        let outputs = contract["outputs"].as_array().unwrap();
        assert_eq!(outputs.len(), 2);
        for (output, key) in outputs.iter().zip([PARQUET, REJECTS]) {
            assert_eq!(output["key"], key);
            assert_eq!(output["size"], objects[key].len());
            assert!(output["etag"].as_str().is_some_and(|e| !e.is_empty()));
        }
        assert_eq!(contract["parquet_bytes"], objects[PARQUET].len());
        assert_eq!(contract["rejects_bytes"], objects[REJECTS].len());
        assert!(objects[PARQUET].starts_with(b"PAR1") && objects[PARQUET].ends_with(b"PAR1"));
        assert_eq!(
            store.content_type(PARQUET).as_deref(),
            Some(crate::PARQUET_CONTENT_TYPE)
        );
        assert_eq!(
            store.content_type(REJECTS).as_deref(),
            Some(crate::REJECTS_CONTENT_TYPE)
        );
        results.push((objects[PARQUET].clone(), objects[REJECTS].clone()));
    }
    assert!(
        results.windows(2).all(|w| w[0] == w[1]),
        "byte-identical outputs"
    );
}

/// A store holding a committed first version (with rejects) and a second version uploaded:
/// the job of the second.
async fn second_version() -> (MemoryStore, Job) {
    let store = MemoryStore::versioned();
    let first = store.upload(BUCKET, KEY, &csv(200, Some(10), "first"), "01");
    run(&store, &first, WHOLE).await.unwrap();
    let job = store.upload(BUCKET, KEY, &csv(250, Some(25), "second"), "02");
    (store, job)
}

#[tokio::test]
async fn every_failure_before_the_commit_point_leaves_no_new_object_and_no_open_upload() {
    for read in [WHOLE, RANGED, RANGED_LARGE] {
        let (store, job) = second_version().await;
        let setup = store.calls().len();
        run(&store, &job, read).await.unwrap();
        let failures = calls_before_the_commit(&store.calls(), setup);
        assert!(failures.iter().any(|(c, _)| *c == Call::Get));
        if read == RANGED {
            assert!(failures.iter().any(|(c, _)| *c == Call::UploadPart));
            assert!(failures.iter().any(|(c, _)| *c == Call::CreateMultipart));
        }
        for (call, ordinal) in failures {
            let (store, job) = second_version().await;
            let before = store.objects();
            store.fail(call, ordinal);
            let error = run(&store, &job, read).await.unwrap_err();
            assert_eq!(
                error.name(),
                ErrorName::Storage,
                "{read:?} {call:?} #{ordinal}: {error}"
            );
            assert_eq!(
                store.objects(),
                before,
                "{read:?} {call:?} #{ordinal}: no new object"
            );
            assert_eq!(
                store.open_uploads(),
                0,
                "{read:?} {call:?} #{ordinal}: uploads aborted"
            );
        }
    }
}

/// Where the run whose calls follow the first `setup` of `calls` wrote its first visible
/// object: the index of that call.
fn commit_point(calls: &[(Call, String)], setup: usize) -> usize {
    calls[setup..]
        .iter()
        .position(|(call, _)| is_visible_write(*call))
        .unwrap()
        + setup
}

/// Every call of that run before its commit point, by kind and ordinal (counted from the
/// store's creation, as [`MemoryStore::fail`] takes them).
fn calls_before_the_commit(calls: &[(Call, String)], setup: usize) -> Vec<(Call, u32)> {
    let commit_at = commit_point(calls, setup);
    let mut failures = Vec::new();
    for call in Call::ALL {
        let first = count_before(&calls[..setup], call) + 1;
        let last = count_before(&calls[..commit_at], call);
        failures.extend((first..=last).map(|ordinal| (call, ordinal)));
    }
    failures
}

fn count_before(calls: &[(Call, String)], call: Call) -> u32 {
    u32::try_from(calls.iter().filter(|(c, _)| *c == call).count()).unwrap()
}

#[tokio::test]
async fn a_failure_between_commits_is_repaired_by_running_the_job_again() {
    for read in [WHOLE, RANGED] {
        let (undisturbed, job) = second_version().await;
        let setup = undisturbed.calls().len();
        run(&undisturbed, &job, read).await.unwrap();
        let expected = comparable(undisturbed.objects());
        let calls = undisturbed.calls();
        let commit_at = commit_point(&calls, setup);
        // Each call from the Parquet's commit on (the rejects' commit, the report's HEAD and
        // PUT), failed in turn.
        for at in commit_at..calls.len() {
            let call = calls[at].0;
            let ordinal = count_before(&calls[..=at], call);
            let (store, job) = second_version().await;
            store.fail(call, ordinal);
            let error = run(&store, &job, read).await.unwrap_err();
            assert_eq!(
                error.name(),
                ErrorName::Storage,
                "{read:?} {call:?} #{ordinal}"
            );
            assert!(error.name().retryable());
            let again = run(&store, &job, read).await.unwrap();
            assert_eq!(
                again.status,
                ReportStatus::Written,
                "{read:?} {call:?} #{ordinal}"
            );
            assert_eq!(
                comparable(store.objects()),
                expected,
                "{read:?} {call:?} #{ordinal}"
            );
            assert_eq!(store.open_uploads(), 0);
        }
    }
}

#[tokio::test]
async fn a_duplicate_event_writes_nothing() {
    for read in [WHOLE, RANGED] {
        let store = MemoryStore::versioned();
        let job = store.upload(BUCKET, KEY, &csv(100, Some(10), "a"), "01");
        run(&store, &job, read).await.unwrap();
        let objects = store.objects();
        let calls = store.calls().len();
        let again = run(&store, &job, read).await.unwrap();
        assert_eq!(again.status, ReportStatus::AlreadyDone);
        assert!(again.outputs.is_empty());
        let made: Vec<Call> = store.calls()[calls..].iter().map(|(c, _)| *c).collect();
        assert!(made.iter().all(|c| *c == Call::Head), "{made:?}");
        assert_eq!(store.objects(), objects);
    }
}

#[tokio::test]
async fn a_new_version_without_rejects_removes_the_old_rejects() {
    // Only a DELETE of a key that has an object: in a versioned bucket a simple DELETE (no
    // version id) does not remove anything, it adds a delete marker as the key's current
    // version (AWS, "Working with delete markers",
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeleteMarker.html), so deleting
    // a key with no rejects would leave a marker behind at every clean run.
    for read in [WHOLE, RANGED] {
        let store = MemoryStore::versioned();
        // Without a previous rejects object there is nothing to delete.
        let clean = store.upload(BUCKET, KEY, &csv(50, None, "clean"), "01");
        run(&store, &clean, read).await.unwrap();
        assert_eq!(store.count(Call::Delete), 0);
        let first = store.upload(BUCKET, KEY, &csv(100, Some(10), "a"), "02");
        run(&store, &first, read).await.unwrap();
        assert!(store.object(REJECTS).is_some());
        let second = store.upload(BUCKET, KEY, &csv(120, None, "b"), "03");
        let outcome = run(&store, &second, read).await.unwrap();
        assert_eq!(outcome.outputs, [PARQUET]);
        assert_eq!(store.object(REJECTS), None);
        let report: Value = serde_json::from_slice(&store.object(REPORT).unwrap()).unwrap();
        assert_eq!(report["contract"]["records_rejected"], 0);
        assert_eq!(report["contract"]["outputs"].as_array().unwrap().len(), 1);
        assert_eq!(report["contract"]["outputs"][0]["key"], PARQUET);
    }
}

#[tokio::test]
async fn the_rejection_policy_fails_the_object_writes_nothing_and_aborts_its_uploads() {
    for read in [WHOLE, RANGED] {
        let (store, _) = second_version().await;
        // Every other record rejected: past the contract's 30 %.
        let job = store.upload(BUCKET, KEY, &csv(400, Some(2), "bad"), "03");
        let before = store.objects();
        let creates = store.count(Call::CreateMultipart);
        let error = run(&store, &job, read).await.unwrap_err();
        assert_eq!(error.name(), ErrorName::ContractViolation, "{error}");
        assert!(!error.name().retryable());
        assert_eq!(
            store.objects(),
            before,
            "the previous version's outputs untouched"
        );
        assert_eq!(store.open_uploads(), 0);
        if read == RANGED {
            assert!(
                store.count(Call::CreateMultipart) > creates,
                "parts were uploaded"
            );
            assert!(store.count(Call::AbortMultipart) > 0);
        }
    }
}

#[tokio::test]
async fn a_key_outside_the_partitions_is_a_contract_violation_before_any_read() {
    for read in [WHOLE, RANGED] {
        let store = MemoryStore::versioned();
        let job = store.upload(
            BUCKET,
            "incoming/sales/orders.csv",
            &csv(10, None, "a"),
            "01",
        );
        let error = run(&store, &job, read).await.unwrap_err();
        assert_eq!(error.name(), ErrorName::ContractViolation, "{error}");
        assert_eq!(store.count(Call::Get), 0);
        assert_eq!(store.count(Call::CreateMultipart), 0);
        assert_eq!(store.objects().len(), 1);
    }
}

#[tokio::test]
async fn a_stop_before_the_commit_writes_nothing() {
    for read in [WHOLE, RANGED] {
        let (store, job) = second_version().await;
        let before = store.objects();
        let (stop, signal) = StopSignal::new();
        stop.send(true).unwrap();
        let error = run_job(&store, &job, &settings(read), &signal)
            .await
            .unwrap_err();
        assert_eq!(error.name(), ErrorName::Interrupted);
        assert_eq!(store.objects(), before);
        assert_eq!(store.open_uploads(), 0);
    }
}

#[tokio::test]
async fn an_object_no_contract_owns_is_profiled_only() {
    let store = MemoryStore::versioned();
    let job = store.upload(BUCKET, "incoming/other/a.csv", &csv(10, Some(2), "a"), "01");
    let outcome = run(&store, &job, RANGED).await.unwrap();
    assert!(outcome.outputs.is_empty());
    let keys: Vec<String> = store.objects().into_keys().collect();
    assert_eq!(
        keys,
        ["incoming/other/a.csv", "processed/other/a.csv.report.json"]
    );
    let report: Value =
        serde_json::from_slice(&store.object("processed/other/a.csv.report.json").unwrap())
            .unwrap();
    assert!(report.get("contract").is_none());
}

/// A first version committed, and a second whose Parquet and rejects both outgrow a part of
/// the Lambda route (`TEST_WHOLE_OUTPUT_PART_SIZE`): the Parquet (delta-encoded integers,
/// distinct notes PLAIN, 50,436 bytes) takes two parts, the rejects (626,490 bytes, under the
/// 1 MiB part of `RANGED_LARGE`) more.
async fn large_second_version() -> (MemoryStore, Job) {
    let store = MemoryStore::versioned();
    // S3 refuses to complete an upload with a part but the last under 5 MiB; the model
    // refuses below the test part size (see the test below).
    store.set_min_part_size(TEST_WHOLE_OUTPUT_PART_SIZE);
    let first = store.upload(BUCKET, KEY, &csv(200, Some(10), "first"), "01");
    run(&store, &first, WHOLE).await.unwrap();
    let job = store.upload(BUCKET, KEY, &csv(70_000, Some(16), "second"), "02");
    (store, job)
}

#[tokio::test]
async fn a_lambda_output_larger_than_a_part_streams_into_a_multipart_upload() {
    // Parts of an upload are 5 MiB to 5 GiB but the last, which has no minimum ("Amazon S3
    // multipart upload limits", https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html):
    // the Lambda route cuts its outputs into parts of OUTPUT_PART_SIZE (8 MiB; here the
    // test size), and the model's CompleteMultipartUpload refuses a smaller part but the
    // last, as S3 does (EntityTooSmall).
    let (store, job) = large_second_version().await;
    let setup = store.calls().len();
    let outcome = run(&store, &job, WHOLE).await.unwrap();
    assert_eq!(outcome.status, ReportStatus::Written);
    assert_eq!(outcome.outputs, [PARQUET, REJECTS]);
    let objects = store.objects();
    for key in [PARQUET, REJECTS] {
        assert!(
            objects[key].len() > TEST_WHOLE_OUTPUT_PART_SIZE,
            "{key}: {} bytes, more than a part",
            objects[key].len()
        );
    }
    let calls: Vec<(Call, String)> = store.calls()[setup..].to_vec();
    let made = |call: Call, key: &str| calls.iter().filter(|(c, k)| *c == call && k == key).count();
    for key in [PARQUET, REJECTS] {
        assert_eq!(made(Call::CreateMultipart, key), 1, "{key}");
        assert!(made(Call::UploadPart, key) > 1, "{key}");
        assert_eq!(made(Call::CompleteMultipart, key), 1, "{key}");
        assert_eq!(made(Call::Put, key), 0, "{key}");
    }
    // The parts went up before the commit point: the core holds at most a part of each
    // output (the bounded channel would stall it otherwise, and this run would never end).
    let first_commit = calls
        .iter()
        .position(|(call, _)| is_visible_write(*call))
        .unwrap();
    let parts_before = calls[..first_commit]
        .iter()
        .filter(|(call, _)| *call == Call::UploadPart)
        .count();
    assert!(parts_before >= 4, "{parts_before} parts before the commit");
    assert_eq!(store.open_uploads(), 0);

    // The same bytes as the Fargate route's, and as a run whose outputs fit a part.
    let ranged = {
        let (store, job) = large_second_version().await;
        run(&store, &job, RANGED_LARGE).await.unwrap();
        assert_eq!(store.count(Call::CreateMultipart), 0, "one PUT each");
        store.objects()
    };
    assert_eq!(objects[PARQUET], ranged[PARQUET]);
    assert_eq!(objects[REJECTS], ranged[REJECTS]);
}

#[tokio::test]
async fn a_lambda_failure_before_the_commit_aborts_its_streamed_uploads_and_shows_nothing() {
    // Parts are no object until CompleteMultipartUpload; AbortMultipartUpload frees them and
    // no part can be added after ("AbortMultipartUpload",
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html). So a
    // failure at any call before the commit point leaves the previous version's outputs as
    // they were and no upload open.
    let (store, job) = large_second_version().await;
    let setup = store.calls().len();
    run(&store, &job, WHOLE).await.unwrap();
    let failures = calls_before_the_commit(&store.calls(), setup);
    for call in [Call::Get, Call::CreateMultipart, Call::UploadPart] {
        assert!(failures.iter().any(|(c, _)| *c == call), "{call:?}");
    }
    for (call, ordinal) in failures {
        let (store, job) = large_second_version().await;
        let before = store.objects();
        store.fail(call, ordinal);
        let error = run(&store, &job, WHOLE).await.unwrap_err();
        assert_eq!(
            error.name(),
            ErrorName::Storage,
            "{call:?} #{ordinal}: {error}"
        );
        assert_eq!(
            store.objects(),
            before,
            "{call:?} #{ordinal}: no new object"
        );
        assert_eq!(
            store.open_uploads(),
            0,
            "{call:?} #{ordinal}: uploads aborted"
        );
        if call == Call::UploadPart {
            assert!(store.count(Call::AbortMultipart) > 0, "#{ordinal}");
        }
    }

    // The rejection policy, found failing after parts went up, aborts them too.
    let (store, _) = large_second_version().await;
    let before = store.objects();
    let job = store.upload(BUCKET, KEY, &csv(20_000, Some(2), "bad"), "03");
    let error = run(&store, &job, WHOLE).await.unwrap_err();
    assert_eq!(error.name(), ErrorName::ContractViolation, "{error}");
    assert!(store.count(Call::UploadPart) > 0, "parts went up first");
    assert_eq!(store.objects(), {
        let mut expected = before;
        expected.insert(KEY.into(), store.object(KEY).unwrap());
        expected
    });
    assert_eq!(store.open_uploads(), 0);
}

#[tokio::test]
async fn a_lambda_output_within_a_part_is_one_put_and_no_multipart_call() {
    // One PUT per output, as before staging streamed: no CreateMultipartUpload for outputs
    // under a part (a multipart upload of one small part would cost three requests for one,
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html).
    let store = MemoryStore::versioned();
    let job = store.upload(BUCKET, KEY, &csv(300, Some(20), "a"), "01");
    run(&store, &job, WHOLE).await.unwrap();
    let objects = store.objects();
    assert!(objects[PARQUET].len() < TEST_WHOLE_OUTPUT_PART_SIZE);
    for call in [
        Call::CreateMultipart,
        Call::UploadPart,
        Call::CompleteMultipart,
        Call::AbortMultipart,
    ] {
        assert_eq!(store.count(call), 0, "{call:?}");
    }
    let puts: Vec<String> = store
        .calls()
        .into_iter()
        .filter(|(call, _)| *call == Call::Put)
        .map(|(_, key)| key)
        .collect();
    assert_eq!(puts, [PARQUET, REJECTS, REPORT]);
}
