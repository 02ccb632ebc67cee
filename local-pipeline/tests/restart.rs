//! Executions survive restarts (issue 11, defect 6): the history is kept in the data
//! directory, names continue, task logs are kept per execution, and stopping the pipeline
//! during a Fargate task stops the task with SIGTERM, records its outcome, and the execution
//! goes on after the restart as the state machine's retry of an `Interrupted` task does.

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use infra::statemachine::state;
use local_pipeline::data_dir::DataDir;
use local_pipeline::demo::Route;
use local_pipeline::execution::{ExecutionRecord, ExecutionStatus};
use local_pipeline::pipeline::{PipelineOptions, RunningPipeline};
use local_s3::{Fault, FaultRule, Operation};
use serde_json::Value;

use crate::pipeline::{ended, options, upload};

/// The test options, keeping everything in `data` (task logs included).
fn options_in(data: &Path) -> PipelineOptions {
    let mut options = options();
    options.data_dir = Some(data.to_owned());
    options.log_dir = None;
    options
}

fn sfn_client(pipeline: &RunningPipeline) -> aws_sdk_sfn::Client {
    let (access_key, secret_key) = pipeline.s3().credentials();
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(pipeline.endpoint())
        .region(Region::new(pipeline.options().region.clone()))
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .build();
    aws_sdk_sfn::Client::from_conf(config)
}

fn kinds(record: &ExecutionRecord) -> Vec<&str> {
    record.history.iter().map(|e| e.kind.as_str()).collect()
}

fn entered(record: &ExecutionRecord) -> Vec<String> {
    record
        .history
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .filter_map(|e| e.details.as_ref()?.1["name"].as_str().map(str::to_owned))
        .collect()
}

/// The task log files under `dir`, as `<execution>/<file>`.
fn task_logs(dir: &Path) -> Vec<String> {
    let mut logs = Vec::new();
    for execution in std::fs::read_dir(dir).unwrap() {
        let execution = execution.unwrap().path();
        for log in std::fs::read_dir(&execution).unwrap() {
            let log = log.unwrap().path();
            logs.push(format!(
                "{}/{}",
                execution.file_name().unwrap().to_string_lossy(),
                log.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    logs.sort();
    logs
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_the_history_names_and_task_logs() {
    let data = tempfile::tempdir().unwrap();
    let large = local_pipeline::demo::generated_csv(crate::pipeline::THRESHOLD + 1);
    let pipeline = RunningPipeline::start(options_in(data.path()))
        .await
        .unwrap();
    upload(&pipeline, "incoming/first.csv", b"id,name\n1,a\n".to_vec()).await;
    upload(&pipeline, "incoming/large.csv", large.clone()).await;
    let before = ended(&pipeline, 2).await;
    let names: Vec<&str> = before.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["local-00000001", "local-00000002"]);
    let logs_before = task_logs(pipeline.log_dir());
    assert_eq!(logs_before.len(), 1, "{logs_before:?}");
    assert!(logs_before[0].starts_with("local-00000002/"));
    pipeline.shutdown().await;

    let started = Instant::now();
    let pipeline = RunningPipeline::start(options_in(data.path()))
        .await
        .unwrap();
    eprintln!("restarted on 2 executions in {:?}", started.elapsed());
    // The executions are back, as they were.
    let after: Vec<ExecutionRecord> = pipeline
        .executions()
        .iter()
        .map(local_pipeline::execution::Execution::snapshot)
        .collect();
    assert_eq!(after.len(), 2);
    for (before, after) in before.iter().zip(&after) {
        assert_eq!(
            (&after.name, after.status, &after.input, &after.output),
            (&before.name, before.status, &before.input, &before.output)
        );
        assert_eq!(after.history, before.history);
        assert_eq!(after.start_date, before.start_date);
        assert_eq!(after.stop_date, before.stop_date);
    }
    // The API answers about them as before.
    let sfn = sfn_client(&pipeline);
    let listed = sfn
        .list_executions()
        .state_machine_arn(pipeline.state_machine_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.executions().len(), 2);
    let history = sfn
        .get_execution_history()
        .execution_arn(&before[1].execution_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(history.events().len(), before[1].history.len());
    let described = sfn
        .describe_execution()
        .execution_arn(&before[0].execution_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.status(),
        &aws_sdk_sfn::types::ExecutionStatus::Succeeded
    );
    // Names continue; the new Fargate task's log is beside the first one's.
    upload(&pipeline, "incoming/large.csv", large).await;
    let records = ended(&pipeline, 3).await;
    assert_eq!(records[2].name, "local-00000003");
    assert_eq!(records[2].status, ExecutionStatus::Succeeded);
    let logs = task_logs(pipeline.log_dir());
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert_eq!(logs[0], logs_before[0], "the first log is kept");
    assert!(logs[1].starts_with("local-00000003/"), "{logs:?}");
    pipeline.shutdown().await;
}

/// Waits until `check` holds for the only execution.
async fn until(pipeline: &RunningPipeline, what: &str, check: impl Fn(&ExecutionRecord) -> bool) {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        if let Some(record) = pipeline
            .executions()
            .first()
            .map(local_pipeline::execution::Execution::snapshot)
            && check(&record)
        {
            return;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_during_a_fargate_task_interrupts_it_and_the_restart_retries_it() {
    let data = tempfile::tempdir().unwrap();
    let key = "incoming/slow/orders.csv";
    let large = local_pipeline::demo::generated_csv(crate::pipeline::THRESHOLD * 2);
    let pipeline = RunningPipeline::start(options_in(data.path()))
        .await
        .unwrap();
    // The processor's reads of this object stall, so its task is running when we stop.
    pipeline.s3().faults().inject(
        FaultRule::new(Operation::GetObject, Fault::Delay(Duration::from_secs(3)))
            .key_prefix("incoming/slow/")
            .always(),
    );
    upload(&pipeline, key, large).await;
    until(&pipeline, "the Fargate task started", |r| {
        entered(r).last().map(String::as_str) == Some(state::FARGATE)
            && kinds(r).last() == Some(&"TaskStarted")
    })
    .await;
    // Let the processor start and reach its stalled read.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let log_dir = pipeline.log_dir().to_owned();
    let stopping = Instant::now();
    pipeline.shutdown().await;
    let took = stopping.elapsed();
    eprintln!("stopped with a running Fargate task in {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");

    // The task was stopped with SIGTERM: it exited Interrupted (16), and said so.
    let logs = task_logs(&log_dir);
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = std::fs::read_to_string(log_dir.join(&logs[0])).unwrap();
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("Interrupted"), "{log}");
    // Its outcome is recorded, on disk: still RUNNING, the task's failure (exit code 16) in the
    // history, caught, and the execution stopped before its next state.
    let saved = DataDir::open(data.path())
        .unwrap()
        .load_executions()
        .unwrap();
    assert_eq!(saved.len(), 1);
    let record = &saved[0].1;
    assert_eq!(record.status, ExecutionStatus::Running);
    let failed = record
        .history
        .iter()
        .find(|e| e.kind == "TaskFailed")
        .expect("the task's failure is recorded");
    let cause: Value = serde_json::from_str(
        failed.details.as_ref().unwrap().1["cause"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(cause["Containers"][0]["ExitCode"], 16, "{cause}");
    assert_eq!(kinds(record).last(), Some(&"TaskStateExited"));
    let position = record.position.as_ref().unwrap();
    assert_eq!(position.state, state::CHECK_FARGATE_FAILURE);
    assert_eq!(position.entered, None);

    // After the restart the definition's retry of an Interrupted task goes on: the count
    // goes up, the wait, the task again, which succeeds (the stall is gone).
    let pipeline = RunningPipeline::start(options_in(data.path()))
        .await
        .unwrap();
    let records = ended(&pipeline, 1).await;
    let record = &records[0];
    assert_eq!(
        record.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        record.error,
        record.cause
    );
    assert_eq!(Route::of(record), Route::Fargate);
    assert_eq!(record.redrive_count, 1);
    let redriven = kinds(record)
        .iter()
        .position(|k| *k == "ExecutionRedriven")
        .expect("an ExecutionRedriven event");
    let after: Vec<String> = record.history[redriven..]
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .filter_map(|e| e.details.as_ref()?.1["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        after,
        [
            state::CHECK_FARGATE_FAILURE,
            state::READ_FARGATE_EXIT,
            state::CLASSIFY_FARGATE_EXIT,
            state::COUNT_FARGATE_RETRY,
            state::WAIT_FARGATE_RETRY,
            state::FARGATE,
            state::PROCESSED,
        ]
    );
    assert_eq!(
        record.output.as_ref().unwrap()["pipeline"]["fargateRetries"]["count"],
        1
    );
    // Two task logs for the execution: the interrupted one, kept, and the retry's.
    assert_eq!(task_logs(pipeline.log_dir()).len(), 2);
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_execution_aborts_it_and_stops_its_fargate_task_with_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let pipeline = RunningPipeline::start(options_in(data.path()))
        .await
        .unwrap();
    pipeline.s3().faults().inject(
        FaultRule::new(Operation::GetObject, Fault::Delay(Duration::from_secs(3)))
            .key_prefix("incoming/slow/")
            .always(),
    );
    let large = local_pipeline::demo::generated_csv(crate::pipeline::THRESHOLD * 2);
    upload(&pipeline, "incoming/slow/stop-me.csv", large).await;
    until(&pipeline, "the Fargate task started", |r| {
        kinds(r).last() == Some(&"TaskStarted")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let arn = pipeline.executions()[0].snapshot().execution_arn;
    let sfn = sfn_client(&pipeline);
    let stopped = sfn
        .stop_execution()
        .execution_arn(&arn)
        .cause("no longer needed")
        .send()
        .await
        .unwrap();
    // ABORTED at once, with the Task state aborted.
    let described = sfn
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.status(),
        &aws_sdk_sfn::types::ExecutionStatus::Aborted
    );
    assert_eq!(described.stop_date(), Some(stopped.stop_date()));
    assert_eq!(described.cause(), Some("no longer needed"));
    let record = pipeline.executions()[0].snapshot();
    assert_eq!(
        kinds(&record)[kinds(&record).len() - 3..],
        ["TaskStarted", "TaskStateAborted", "ExecutionAborted"]
    );
    // The task got SIGTERM and exited Interrupted; nothing more was recorded, nothing retried.
    let log_dir = pipeline.log_dir().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = loop {
        let logs = task_logs(&log_dir);
        assert_eq!(logs.len(), 1, "{logs:?}");
        let log = std::fs::read_to_string(log_dir.join(&logs[0])).unwrap();
        if log.contains("Interrupted") {
            break log;
        }
        assert!(Instant::now() < deadline, "the task did not stop: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(log.contains("SIGTERM"), "{log}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pipeline.executions()[0].snapshot().history, record.history);
    pipeline.shutdown().await;
    // And it stays aborted after a restart.
    let pipeline = RunningPipeline::start(options_in(data.path()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = pipeline.executions()[0].snapshot();
    assert_eq!(again.status, ExecutionStatus::Aborted);
    assert_eq!(again.history, record.history);
    assert_eq!(task_logs(pipeline.log_dir()).len(), 1);
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_accepted_while_stopping_runs_after_the_restart_and_later_ones_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let pipeline = RunningPipeline::start(options_in(data.path()))
        .await
        .unwrap();
    // This upload is slow to be stored: it is accepted before the stop, stored during it.
    pipeline.s3().faults().inject(
        FaultRule::new(Operation::PutObject, Fault::Delay(Duration::from_secs(1)))
            .key_prefix("incoming/late")
            .times(1),
    );
    let client = pipeline.s3().client();
    let no_retries = aws_sdk_s3::Client::from_conf(
        pipeline
            .s3()
            .client_config()
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build(),
    );
    let put = |client: aws_sdk_s3::Client, key: &'static str| async move {
        client
            .put_object()
            .bucket("uploads")
            .key(key)
            .body(b"id,name\n1,a\n".to_vec().into())
            .send()
            .await
    };
    let late = tokio::spawn(put(client, "incoming/late.csv"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = tokio::spawn(async move {
        // Once the stop has begun.
        tokio::time::sleep(Duration::from_millis(200)).await;
        put(no_retries, "incoming/refused.csv").await
    });
    pipeline.shutdown().await;
    late.await.unwrap().expect("the slow upload was accepted");
    // Refused (503 while tasks are being stopped, then no endpoint): never half taken.
    refused
        .await
        .unwrap()
        .expect_err("uploads are refused while stopping");
    // Its execution was recorded, not started: it starts after the restart.
    let saved = DataDir::open(data.path())
        .unwrap()
        .load_executions()
        .unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].1.status, ExecutionStatus::Running);
    assert!(saved[0].1.history.is_empty());
    let pipeline = RunningPipeline::start(options_in(data.path()))
        .await
        .unwrap();
    let records = ended(&pipeline, 1).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].name, "local-00000001");
    assert_eq!(records[0].status, ExecutionStatus::Succeeded);
    assert_eq!(
        local_pipeline::demo::execution_key(&records[0]).as_deref(),
        Some("incoming/late.csv")
    );
    let missing = pipeline
        .s3()
        .client()
        .head_object()
        .bucket("uploads")
        .key("incoming/refused.csv")
        .send()
        .await;
    assert!(
        missing.is_err(),
        "the refused upload was stored: {missing:?}"
    );
    pipeline.shutdown().await;
}
