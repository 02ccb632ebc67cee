//! The Step Functions API through the real `aws-sdk-sfn` client, on the local S3 endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::primitives::DateTime;
use aws_sdk_sfn::types::{
    CloudWatchEventsExecutionDataDetails, ExecutionListItem, ExecutionStatus, HistoryEvent,
    HistoryEventType, StateMachineStatus, StateMachineType,
};
use local_pipeline::execution::{Execution, ExecutionStatus as Status, Executions};
use local_pipeline::sfn_api::{
    ExecutionStarter, StartError, StateMachineInfo, StepFunctionsApi, execution_arn,
};
use local_s3::{LocalS3, RunningS3};
use serde_json::{Value, json};

const MACHINE_ARN: &str = "arn:aws:states:us-east-1:000000000000:stateMachine:pipeline";
const ROLE_ARN: &str = "arn:aws:iam::000000000000:role/pipeline";
const DEFINITION: &str = r#"{"StartAt":"Check","States":{"Check":{"Type":"Pass","End":true}}}"#;

/// Runs every execution to its end at once: `{"fail": true}` fails, `{"hold": true}` stays
/// running, anything else succeeds with `{"done": <input>}`.
struct InstantStarter {
    executions: Executions,
    generated: AtomicU64,
}

impl ExecutionStarter for InstantStarter {
    fn start(&self, name: Option<String>, input: Value) -> Result<Execution, StartError> {
        let name = name.unwrap_or_else(|| {
            format!(
                "generated-{}",
                self.generated.fetch_add(1, Ordering::Relaxed)
            )
        });
        let arn = execution_arn(MACHINE_ARN, &name);
        let execution = Execution::new(arn, MACHINE_ARN.to_owned(), name, input.clone());
        let text = input.to_string();
        execution.record(
            "ExecutionStarted",
            Some((
                "executionStartedEventDetails",
                json!({"input": text, "inputDetails": {"truncated": false}, "roleArn": ROLE_ARN}),
            )),
        );
        execution.record(
            "PassStateEntered",
            Some((
                "stateEnteredEventDetails",
                json!({"name": "Check", "input": text}),
            )),
        );
        if input["hold"] == true {
            self.executions.push(execution.clone());
            return Ok(execution);
        }
        if input["fail"] == true {
            execution.record(
                "ExecutionFailed",
                Some((
                    "executionFailedEventDetails",
                    json!({"error": "Broken", "cause": "asked to fail"}),
                )),
            );
            execution.update(|record| {
                record.status = Status::Failed;
                record.error = Some("Broken".to_owned());
                record.cause = Some("asked to fail".to_owned());
                record.stop_date = Some(SystemTime::now());
            });
        } else {
            let output = json!({ "done": input });
            execution.record(
                "PassStateExited",
                Some((
                    "stateExitedEventDetails",
                    json!({"name": "Check", "output": output.to_string()}),
                )),
            );
            execution.record(
                "ExecutionSucceeded",
                Some((
                    "executionSucceededEventDetails",
                    json!({"output": output.to_string()}),
                )),
            );
            execution.update(|record| {
                record.status = Status::Succeeded;
                record.output = Some(output);
                record.stop_date = Some(SystemTime::now());
            });
        }
        self.executions.push(execution.clone());
        Ok(execution)
    }
}

/// A local S3 endpoint that also answers the Step Functions API, and an SDK client for it.
struct Fixture {
    s3: RunningS3,
    sfn: Client,
    /// What the API serves.
    executions: Executions,
}

async fn start() -> Fixture {
    let executions = Executions::default();
    let starter = Arc::new(InstantStarter {
        executions: executions.clone(),
        generated: AtomicU64::new(0),
    });
    let machine = StateMachineInfo {
        arn: MACHINE_ARN.to_owned(),
        name: "pipeline".to_owned(),
        definition: DEFINITION.to_owned(),
        role_arn: ROLE_ARN.to_owned(),
    };
    let api = Arc::new(StepFunctionsApi::new(machine, executions.clone(), starter));
    let s3 = LocalS3::builder()
        .bucket("data")
        .json_service(api)
        .start()
        .await
        .expect("local S3 starts");
    let (access_key, secret_key) = s3.credentials();
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(s3.endpoint())
        .region(Region::new(s3.region().to_owned()))
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .build();
    Fixture {
        sfn: Client::from_conf(config),
        s3,
        executions,
    }
}

impl Fixture {
    /// Starts an execution through the API; its ARN.
    async fn run(&self, name: Option<&str>, input: &Value) -> String {
        self.sfn
            .start_execution()
            .state_machine_arn(MACHINE_ARN)
            .set_name(name.map(str::to_owned))
            .input(input.to_string())
            .send()
            .await
            .expect("the execution starts")
            .execution_arn
    }
}

/// The error code of a failed SDK call.
fn code<E, R>(error: &aws_sdk_sfn::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match error {
        aws_sdk_sfn::error::SdkError::ServiceError(service) => service
            .err()
            .code()
            .unwrap_or_else(|| panic!("no code in {error:?}"))
            .to_owned(),
        other => panic!("not a service error: {other:?}"),
    }
}

/// The error code of an SDK call that must have failed.
fn failure_code<T, E, R>(result: Result<T, aws_sdk_sfn::error::SdkError<E, R>>) -> String
where
    T: std::fmt::Debug,
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    code(&result.expect_err("the call must fail"))
}

/// Whether an SDK timestamp is `time` to the millisecond. The API writes epoch seconds with
/// three decimals; the SDK reads them as an `f64`, so allow its rounding (a few hundred ns).
fn same_instant(date: &DateTime, time: SystemTime) -> bool {
    let sent = time.duration_since(UNIX_EPOCH).unwrap().as_millis() * 1_000_000;
    let read = i128::from(date.secs()) * 1_000_000_000 + i128::from(date.subsec_nanos());
    (read - i128::try_from(sent).unwrap()).abs() < 1_000
}

#[tokio::test]
async fn the_state_machine_is_listed_and_described() {
    let fixture = start().await;
    let before = SystemTime::now() - Duration::from_mins(1);
    let listed = fixture.sfn.list_state_machines().send().await.unwrap();
    let [machine] = listed.state_machines() else {
        panic!("one machine: {listed:?}");
    };
    assert_eq!(machine.state_machine_arn(), MACHINE_ARN);
    assert_eq!(machine.name(), "pipeline");
    assert_eq!(machine.r#type(), &StateMachineType::Standard);
    let created = SystemTime::try_from(*machine.creation_date()).unwrap();
    assert!(created > before && created <= SystemTime::now());
    assert_eq!(listed.next_token(), None);

    let described = fixture
        .sfn
        .describe_state_machine()
        .state_machine_arn(MACHINE_ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(described.state_machine_arn(), MACHINE_ARN);
    assert_eq!(described.name(), "pipeline");
    assert_eq!(described.definition(), DEFINITION);
    assert_eq!(described.role_arn(), ROLE_ARN);
    assert_eq!(described.r#type(), &StateMachineType::Standard);
    assert_eq!(
        described.status().map(StateMachineStatus::as_str),
        Some("ACTIVE")
    );
    assert_eq!(described.creation_date(), machine.creation_date());
    fixture.s3.shutdown().await;
}

#[tokio::test]
async fn executions_start_with_and_without_a_name() {
    let fixture = start().await;
    let named = fixture
        .sfn
        .start_execution()
        .state_machine_arn(MACHINE_ARN)
        .name("upload-1")
        .input(r#"{"key": "incoming/a.csv"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        named.execution_arn(),
        "arn:aws:states:us-east-1:000000000000:execution:pipeline:upload-1"
    );
    let execution = fixture
        .sfn
        .describe_execution()
        .execution_arn(named.execution_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(execution.start_date(), named.start_date());
    assert_eq!(execution.name(), Some("upload-1"));
    let input: Value = serde_json::from_str(execution.input().unwrap()).unwrap();
    assert_eq!(input, json!({"key": "incoming/a.csv"}));

    // No name: the runner picks one. No input: `{}`.
    let unnamed = fixture
        .sfn
        .start_execution()
        .state_machine_arn(MACHINE_ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        unnamed.execution_arn(),
        execution_arn(MACHINE_ARN, "generated-0")
    );
    let execution = fixture
        .sfn
        .describe_execution()
        .execution_arn(unnamed.execution_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(execution.input(), Some("{}"));
    fixture.s3.shutdown().await;
}

#[tokio::test]
async fn a_duplicate_name_is_refused_unless_it_repeats_a_running_start() {
    let fixture = start().await;
    let first = fixture.run(Some("once"), &json!({"n": 1})).await;
    let again = fixture
        .sfn
        .start_execution()
        .state_machine_arn(MACHINE_ARN)
        .name("once")
        .input(json!({"n": 1}).to_string())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&again), "ExecutionAlreadyExists");
    assert!(again.into_service_error().is_execution_already_exists());

    // A running execution started again with the same name and input: the same start.
    let held = json!({"hold": true});
    let running = fixture.run(Some("held"), &held).await;
    assert_eq!(fixture.run(Some("held"), &held).await, running);
    let different = fixture
        .sfn
        .start_execution()
        .state_machine_arn(MACHINE_ARN)
        .name("held")
        .input(r#"{"hold": true, "other": 1}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&different), "ExecutionAlreadyExists");

    let listed = fixture
        .sfn
        .list_executions()
        .state_machine_arn(MACHINE_ARN)
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = listed
        .executions()
        .iter()
        .map(ExecutionListItem::execution_arn)
        .collect();
    assert_eq!(arns, [running.as_str(), first.as_str()]);
    fixture.s3.shutdown().await;
}

#[tokio::test]
async fn bad_names_and_inputs_are_refused() {
    let fixture = start().await;
    for (name, input, expected) in [
        ("has space", "{}", "InvalidName"),
        ("a:b", "{}", "InvalidName"),
        ("ok", "{not json", "InvalidExecutionInput"),
    ] {
        let error = fixture
            .sfn
            .start_execution()
            .state_machine_arn(MACHINE_ARN)
            .name(name)
            .input(input)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&error), expected, "{name} {input}");
    }
    assert!(
        fixture
            .sfn
            .list_executions()
            .state_machine_arn(MACHINE_ARN)
            .send()
            .await
            .unwrap()
            .executions()
            .is_empty()
    );
    fixture.s3.shutdown().await;
}

#[tokio::test]
async fn executions_are_listed_most_recent_first_by_status_and_in_pages() {
    let fixture = start().await;
    let ok1 = fixture.run(Some("ok-1"), &json!({})).await;
    let bad = fixture.run(Some("bad"), &json!({"fail": true})).await;
    let ok2 = fixture.run(Some("ok-2"), &json!({})).await;
    let held = fixture.run(Some("held"), &json!({"hold": true})).await;

    let list = |status: Option<ExecutionStatus>| {
        fixture
            .sfn
            .list_executions()
            .state_machine_arn(MACHINE_ARN)
            .set_status_filter(status)
            .send()
    };
    let arns = |output: &aws_sdk_sfn::operation::list_executions::ListExecutionsOutput| {
        output
            .executions()
            .iter()
            .map(|e| e.execution_arn().to_owned())
            .collect::<Vec<_>>()
    };
    let all = list(None).await.unwrap();
    assert_eq!(arns(&all), [held.as_str(), &ok2, &bad, &ok1]);
    assert_eq!(all.next_token(), None);
    assert_eq!(
        arns(&list(Some(ExecutionStatus::Succeeded)).await.unwrap()),
        [ok2.as_str(), &ok1]
    );
    assert_eq!(
        arns(&list(Some(ExecutionStatus::Failed)).await.unwrap()),
        [bad.as_str()]
    );
    assert_eq!(
        arns(&list(Some(ExecutionStatus::Running)).await.unwrap()),
        [held.as_str()]
    );
    assert!(
        list(Some(ExecutionStatus::TimedOut))
            .await
            .unwrap()
            .executions()
            .is_empty()
    );

    let item = &all.executions()[2];
    assert_eq!(item.state_machine_arn(), MACHINE_ARN);
    assert_eq!(item.name(), "bad");
    assert_eq!(item.status(), &ExecutionStatus::Failed);
    assert!(item.stop_date().is_some());
    assert!(all.executions()[0].stop_date().is_none());

    // Pages of one succeeded execution.
    let mut token = None;
    let mut pages = Vec::new();
    loop {
        let page = fixture
            .sfn
            .list_executions()
            .state_machine_arn(MACHINE_ARN)
            .status_filter(ExecutionStatus::Succeeded)
            .max_results(1)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        pages.push(arns(&page));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, [vec![ok2], vec![ok1]]);

    let error = fixture
        .sfn
        .list_executions()
        .state_machine_arn(MACHINE_ARN)
        .next_token("made-up")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidToken");
    fixture.s3.shutdown().await;
}

#[tokio::test]
async fn succeeded_and_failed_executions_are_described() {
    let fixture = start().await;
    let ok = fixture.run(Some("ok"), &json!({"key": "a"})).await;
    let described = fixture
        .sfn
        .describe_execution()
        .execution_arn(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(described.execution_arn(), ok);
    assert_eq!(described.state_machine_arn(), MACHINE_ARN);
    assert_eq!(described.status(), &ExecutionStatus::Succeeded);
    let output: Value = serde_json::from_str(described.output().unwrap()).unwrap();
    assert_eq!(output, json!({"done": {"key": "a"}}));
    assert_eq!(
        described
            .input_details()
            .map(CloudWatchEventsExecutionDataDetails::included),
        Some(true)
    );
    assert!(described.error().is_none() && described.cause().is_none());
    // The dates, to the millisecond, as recorded.
    let record = fixture.executions.find(&ok).unwrap().snapshot();
    assert!(same_instant(described.start_date(), record.start_date));
    assert!(same_instant(
        described.stop_date().unwrap(),
        record.stop_date.unwrap()
    ));

    let bad = fixture.run(Some("bad"), &json!({"fail": true})).await;
    let described = fixture
        .sfn
        .describe_execution()
        .execution_arn(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(described.status(), &ExecutionStatus::Failed);
    assert_eq!(described.error(), Some("Broken"));
    assert_eq!(described.cause(), Some("asked to fail"));
    assert_eq!(described.output(), None);

    let held = fixture.run(Some("held"), &json!({"hold": true})).await;
    let described = fixture
        .sfn
        .describe_execution()
        .execution_arn(&held)
        .send()
        .await
        .unwrap();
    assert_eq!(described.status(), &ExecutionStatus::Running);
    assert!(described.stop_date().is_none());
    fixture.s3.shutdown().await;
}

#[tokio::test]
async fn stop_execution_aborts_a_running_execution_and_leaves_ended_ones() {
    let fixture = start().await;
    let sfn = &fixture.sfn;
    let held = fixture.run(Some("held"), &json!({"hold": true})).await;
    let before = SystemTime::now();
    let stopped = sfn
        .stop_execution()
        .execution_arn(&held)
        .error("Manual")
        .cause("stopped by the test")
        .send()
        .await
        .unwrap();
    let described = sfn
        .describe_execution()
        .execution_arn(&held)
        .send()
        .await
        .unwrap();
    assert_eq!(described.status(), &ExecutionStatus::Aborted);
    assert_eq!(described.error(), Some("Manual"));
    assert_eq!(described.cause(), Some("stopped by the test"));
    assert_eq!(described.stop_date(), Some(stopped.stop_date()));
    let record = fixture.executions.find(&held).unwrap().snapshot();
    assert!(same_instant(stopped.stop_date(), record.stop_date.unwrap()));
    assert!(record.stop_date.unwrap() >= before - Duration::from_millis(1));
    // Its history ends with ExecutionAborted, carrying the error and cause.
    let history = sfn
        .get_execution_history()
        .execution_arn(&held)
        .reverse_order(true)
        .send()
        .await
        .unwrap();
    let last = &history.events()[0];
    assert_eq!(last.r#type(), &HistoryEventType::ExecutionAborted);
    let details = last.execution_aborted_event_details().unwrap();
    assert_eq!(
        (details.error(), details.cause()),
        (Some("Manual"), Some("stopped by the test"))
    );
    // Listed under ABORTED.
    let aborted = sfn
        .list_executions()
        .state_machine_arn(MACHINE_ARN)
        .status_filter(ExecutionStatus::Aborted)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = aborted
        .executions()
        .iter()
        .map(ExecutionListItem::name)
        .collect();
    assert_eq!(names, ["held"]);
    assert!(aborted.executions()[0].stop_date().is_some());

    // Stopping it again, or stopping one that ended, changes nothing and answers its stop date.
    let again = sfn
        .stop_execution()
        .execution_arn(&held)
        .error("Other")
        .send()
        .await
        .unwrap();
    assert_eq!(again.stop_date(), stopped.stop_date());
    let ok = fixture.run(Some("ok"), &json!({"key": "a"})).await;
    let ended = fixture.executions.find(&ok).unwrap().snapshot();
    let answer = sfn
        .stop_execution()
        .execution_arn(&ok)
        .send()
        .await
        .unwrap();
    assert!(same_instant(answer.stop_date(), ended.stop_date.unwrap()));
    let described = sfn
        .describe_execution()
        .execution_arn(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(described.status(), &ExecutionStatus::Succeeded);
    assert_eq!(
        fixture
            .executions
            .find(&held)
            .unwrap()
            .snapshot()
            .error
            .as_deref(),
        Some("Manual")
    );
    fixture.s3.shutdown().await;
}

#[tokio::test]
async fn stop_execution_errors_are_named_as_aws_names_them() {
    let fixture = start().await;
    let sfn = &fixture.sfn;
    let stop = |arn: &str| sfn.stop_execution().execution_arn(arn).send();
    let error = stop(&execution_arn(MACHINE_ARN, "never-started"))
        .await
        .unwrap_err();
    assert!(error.into_service_error().is_execution_does_not_exist());
    assert_eq!(failure_code(stop(MACHINE_ARN).await), "InvalidArn");
    assert_eq!(failure_code(stop("not-an-arn").await), "InvalidArn");
    let running = fixture.run(Some("running"), &json!({"hold": true})).await;
    let too_long = sfn
        .stop_execution()
        .execution_arn(&running)
        .error("e".repeat(257))
        .send()
        .await;
    assert_eq!(failure_code(too_long), "ValidationException");
    let described = sfn
        .describe_execution()
        .execution_arn(&running)
        .send()
        .await
        .unwrap();
    assert_eq!(described.status(), &ExecutionStatus::Running);
    fixture.s3.shutdown().await;
}

#[tokio::test]
async fn history_is_given_in_order_reversed_and_in_pages() {
    let fixture = start().await;
    let ok = fixture.run(Some("ok"), &json!({"key": "a"})).await;
    let history = |reverse: bool| {
        fixture
            .sfn
            .get_execution_history()
            .execution_arn(&ok)
            .reverse_order(reverse)
            .send()
    };
    let forward = history(false).await.unwrap();
    let types: Vec<&HistoryEventType> = forward.events().iter().map(HistoryEvent::r#type).collect();
    assert_eq!(
        types,
        [
            &HistoryEventType::ExecutionStarted,
            &HistoryEventType::PassStateEntered,
            &HistoryEventType::PassStateExited,
            &HistoryEventType::ExecutionSucceeded,
        ]
    );
    let ids: Vec<(i64, i64)> = forward
        .events()
        .iter()
        .map(|e| (e.id(), e.previous_event_id()))
        .collect();
    assert_eq!(ids, [(1, 0), (2, 1), (3, 2), (4, 3)]);
    assert_eq!(forward.next_token(), None);

    // The details, under their names, and the timestamps, as recorded.
    let record = fixture.executions.find(&ok).unwrap().snapshot();
    for (event, recorded) in forward.events().iter().zip(&record.history) {
        assert!(same_instant(event.timestamp(), recorded.timestamp));
    }
    let started = forward.events()[0]
        .execution_started_event_details()
        .unwrap();
    assert_eq!(started.input(), Some(r#"{"key":"a"}"#));
    assert_eq!(started.role_arn(), Some(ROLE_ARN));
    let entered = forward.events()[1].state_entered_event_details().unwrap();
    assert_eq!(entered.name(), "Check");
    let succeeded = forward.events()[3]
        .execution_succeeded_event_details()
        .unwrap();
    assert_eq!(succeeded.output(), Some(r#"{"done":{"key":"a"}}"#));

    let reversed = history(true).await.unwrap();
    let reversed_ids: Vec<i64> = reversed.events().iter().map(HistoryEvent::id).collect();
    assert_eq!(reversed_ids, [4, 3, 2, 1]);

    // Pages of three, both ways.
    for (reverse, expected) in [
        (false, [vec![1, 2, 3], vec![4]]),
        (true, [vec![4, 3, 2], vec![1]]),
    ] {
        let first = fixture
            .sfn
            .get_execution_history()
            .execution_arn(&ok)
            .reverse_order(reverse)
            .max_results(3)
            .send()
            .await
            .unwrap();
        let token = first.next_token().expect("a second page").to_owned();
        let second = fixture
            .sfn
            .get_execution_history()
            .execution_arn(&ok)
            .reverse_order(reverse)
            .max_results(3)
            .next_token(token)
            .send()
            .await
            .unwrap();
        assert_eq!(second.next_token(), None);
        let ids =
            |page: &aws_sdk_sfn::operation::get_execution_history::GetExecutionHistoryOutput| {
                page.events()
                    .iter()
                    .map(HistoryEvent::id)
                    .collect::<Vec<_>>()
            };
        assert_eq!([ids(&first), ids(&second)], expected, "reverse: {reverse}");
    }

    // Without execution data: no input or output in the details.
    let bare = fixture
        .sfn
        .get_execution_history()
        .execution_arn(&ok)
        .include_execution_data(false)
        .send()
        .await
        .unwrap();
    let started = bare.events()[0].execution_started_event_details().unwrap();
    assert_eq!(started.input(), None);
    assert_eq!(started.role_arn(), Some(ROLE_ARN));
    fixture.s3.shutdown().await;
}

#[tokio::test]
async fn unknown_and_malformed_arns_are_errors() {
    let fixture = start().await;
    let sfn = &fixture.sfn;
    let other_machine = "arn:aws:states:us-east-1:000000000000:stateMachine:other";
    let unknown_execution = execution_arn(MACHINE_ARN, "never-started");

    // The typed errors the SDK gives for the two "does not exist" codes.
    let error = sfn
        .describe_execution()
        .execution_arn(&unknown_execution)
        .send()
        .await
        .unwrap_err();
    assert!(error.into_service_error().is_execution_does_not_exist());
    let error = sfn
        .describe_state_machine()
        .state_machine_arn(other_machine)
        .send()
        .await
        .unwrap_err();
    assert!(error.into_service_error().is_state_machine_does_not_exist());

    let describe_execution = |arn: &str| sfn.describe_execution().execution_arn(arn).send();
    let history = |arn: &str| sfn.get_execution_history().execution_arn(arn).send();
    let describe_machine = |arn: &str| sfn.describe_state_machine().state_machine_arn(arn).send();
    let start_execution = |arn: &str| sfn.start_execution().state_machine_arn(arn).send();
    let list_executions = |arn: &str| sfn.list_executions().state_machine_arn(arn).send();
    let codes = [
        failure_code(describe_execution(&unknown_execution).await),
        failure_code(history(&unknown_execution).await),
        failure_code(describe_execution(MACHINE_ARN).await),
        failure_code(history("not-an-arn").await),
        failure_code(describe_machine(other_machine).await),
        failure_code(describe_machine(&unknown_execution).await),
        failure_code(start_execution(other_machine).await),
        failure_code(list_executions(other_machine).await),
        failure_code(list_executions("arn:aws:s3:::data").await),
    ];
    assert_eq!(
        codes,
        [
            "ExecutionDoesNotExist",
            "ExecutionDoesNotExist",
            "InvalidArn",
            "InvalidArn",
            "StateMachineDoesNotExist",
            "InvalidArn",
            "StateMachineDoesNotExist",
            "StateMachineDoesNotExist",
            "InvalidArn",
        ]
    );
    fixture.s3.shutdown().await;
}

#[test]
fn unknown_operations_and_bad_bodies_are_errors() {
    let executions = Executions::default();
    let starter = Arc::new(InstantStarter {
        executions: executions.clone(),
        generated: AtomicU64::new(0),
    });
    let machine = StateMachineInfo {
        arn: MACHINE_ARN.to_owned(),
        name: "pipeline".to_owned(),
        definition: DEFINITION.to_owned(),
        role_arn: ROLE_ARN.to_owned(),
    };
    let api = StepFunctionsApi::new(machine, executions, starter);
    let error_type = |operation: &str, body: &str| {
        let (status, body) = api.handle(operation, body.as_bytes());
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert!(body["message"].is_string(), "{body}");
        (status.as_u16(), body["__type"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        error_type("DeleteStateMachine", "{}"),
        (400, "UnknownOperationException".to_owned())
    );
    assert_eq!(
        error_type("DescribeExecution", "{"),
        (400, "SerializationException".to_owned())
    );
    assert_eq!(
        error_type("DescribeExecution", r#"{"executionArn": 3}"#),
        (400, "SerializationException".to_owned())
    );
    assert_eq!(
        error_type("DescribeExecution", ""),
        (400, "ValidationException".to_owned())
    );
    assert_eq!(
        error_type(
            "ListExecutions",
            &json!({"stateMachineArn": MACHINE_ARN, "statusFilter": "DONE"}).to_string()
        ),
        (400, "ValidationException".to_owned())
    );
    assert_eq!(
        error_type(
            "ListExecutions",
            &json!({"stateMachineArn": MACHINE_ARN, "maxResults": 1001}).to_string()
        ),
        (400, "ValidationException".to_owned())
    );
}

#[tokio::test]
async fn s3_still_works_on_the_same_endpoint() {
    let fixture = start().await;
    let s3 = fixture.s3.client();
    s3.put_object()
        .bucket("data")
        .key("incoming/a.csv")
        .body(b"a,b\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let arn = fixture.run(None, &json!({"key": "incoming/a.csv"})).await;
    let object = s3
        .get_object()
        .bucket("data")
        .key("incoming/a.csv")
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"a,b\n");
    let listed = s3.list_objects_v2().bucket("data").send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);
    let described = fixture
        .sfn
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.status(), &ExecutionStatus::Succeeded);
    // Only the S3 requests reached the store.
    assert_eq!(fixture.s3.requests_seen(local_s3::Operation::Any), 3);
    fixture.s3.shutdown().await;
}
