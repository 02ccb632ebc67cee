//! Semantics: each feature on small definitions, and what the interpreter refuses to load.

use super::*;
use local_pipeline::execution::StopRequest;
use local_pipeline::interpreter::RunEnd;

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

/// An execution of `definition` on `input`, not yet run.
fn new_execution(input: Value) -> Execution {
    Execution::new(
        EXECUTION_ARN.into(),
        "arn:aws:states:eu-west-1:123456789012:stateMachine:pipeline".into(),
        "run-1".into(),
        input,
    )
}

#[tokio::test]
async fn a_shutdown_in_a_retry_interval_suspends_and_the_next_run_goes_on_with_the_retries_used() {
    let definition = one_task(json!({
        "Resource": LAMBDA,
        "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 100, "MaxAttempts": 2, "BackoffRate": 1.0}],
        "Next": "Done"
    }));
    let interpreter = Interpreter::load(&definition.to_string())
        .unwrap()
        .with_time_scale(1.0);
    let execution = new_execution(json!({"n": 1}));
    let tasks = Scripted::new(LAMBDA, vec![task_error("Flaky", "first")]);
    // The first attempt fails; the run waits 100 s to retry, and is stopped meanwhile.
    let stopper = execution.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stopper.request_stop(StopRequest::Shutdown);
    });
    let started = Instant::now();
    assert_eq!(interpreter.run(&execution, &tasks).await, RunEnd::Suspended);
    assert!(started.elapsed() < Duration::from_secs(2));
    let record = execution.snapshot();
    assert_eq!(record.status, ExecutionStatus::Running);
    let position = record.position.clone().unwrap();
    assert_eq!(
        (position.state.as_str(), position.retries),
        ("Work", vec![1])
    );
    assert!(position.entered.is_some());

    // Taken up (as after a restart): one retry left, used; then the retrier is spent.
    let restored = Execution::with_record(record, None);
    let tasks = Scripted::new(
        LAMBDA,
        vec![task_error("Flaky", "second"), task_error("Flaky", "third")],
    );
    let interpreter = interpreter.with_time_scale(0.001);
    assert_eq!(interpreter.run(&restored, &tasks).await, RunEnd::Ended);
    let record = restored.snapshot();
    assert_eq!(tasks.calls().len(), 2, "one retry was left");
    assert_failed(&record, "Flaky");
    assert_eq!(record.cause.as_deref(), Some("third"));
    assert_eq!(record.redrive_count, 1);
    let redriven = details(
        &record,
        "ExecutionRedriven",
        "executionRedrivenEventDetails",
    );
    assert_eq!(redriven, [json!({"redriveCount": 1})]);
    // The state was not entered twice.
    assert_eq!(path(&record), ["Work"]);
}

#[tokio::test]
async fn an_aborted_execution_stops_in_its_wait_and_its_history_is_closed() {
    let definition = json!({
        "StartAt": "Hold",
        "States": {"Hold": {"Type": "Wait", "Seconds": 100, "Next": "Done"}, "Done": {"Type": "Succeed"}}
    });
    let interpreter = Interpreter::load(&definition.to_string()).unwrap();
    let execution = new_execution(json!({}));
    let aborter = execution.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        aborter
            .abort(Some("Manual".into()), None)
            .expect("it is running");
    });
    let started = Instant::now();
    assert_eq!(
        interpreter.run(&execution, &Scripted::default()).await,
        RunEnd::Ended
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let record = execution.snapshot();
    assert_eq!(record.status, ExecutionStatus::Aborted);
    assert_eq!(record.error.as_deref(), Some("Manual"));
    assert_eq!(
        kinds(&record),
        [
            "ExecutionStarted",
            "WaitStateEntered",
            "WaitStateAborted",
            "ExecutionAborted"
        ]
    );
    // Nothing more is recorded, and it cannot be aborted twice.
    execution.record("PassStateEntered", None);
    assert_eq!(execution.snapshot().history.len(), 4);
    let again = execution.abort(None, None).unwrap_err();
    assert_eq!(again.status, ExecutionStatus::Aborted);
    assert_eq!(again.stop_date, record.stop_date);
}
