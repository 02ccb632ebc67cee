//! Every error name of the core is retried or caught as its retryable flag says, on both
//! routes, and every failure path ends in a `Fail` state carrying the name.

use infra::asl::{Condition, State, StateMachine};
use infra::statemachine::{self, Settings, state};
use serde_json::{Value, json};
use shared::ErrorName;

fn machine() -> StateMachine {
    let machine = statemachine::definition(&Settings::default());
    machine.validate().expect("the definition is consistent");
    machine
}

fn task<'a>(machine: &'a StateMachine, name: &str) -> &'a infra::asl::Task {
    match machine.states.get(name) {
        Some(State::Task(task)) => task,
        other => panic!("{name} is not a task: {other:?}"),
    }
}

fn matches(error_equals: &[String], error: &str) -> bool {
    error_equals
        .iter()
        .any(|e| e == error || (e == "States.ALL" && !error.starts_with("States.Runtime")))
}

fn fail_error<'a>(machine: &'a StateMachine, name: &str) -> &'a str {
    match machine.states.get(name) {
        Some(State::Fail(fail)) => &fail.error,
        other => panic!("{name} is not a Fail state: {other:?}"),
    }
}

#[test]
fn the_lambda_task_retries_exactly_the_retryable_names_and_catches_each_by_name() {
    let machine = machine();
    let lambda = task(&machine, state::LAMBDA);
    for name in ErrorName::ALL {
        let retrier = lambda
            .retry
            .iter()
            .find(|r| matches(&r.error_equals, name.as_str()));
        assert_eq!(
            retrier.is_some(),
            name.retryable(),
            "{name}: retried must equal retryable"
        );
        if let Some(retrier) = retrier {
            assert!(retrier.max_attempts > 0 && retrier.backoff_rate >= 1.0);
        }
        let catcher = lambda
            .catch
            .iter()
            .find(|c| matches(&c.error_equals, name.as_str()))
            .unwrap_or_else(|| panic!("{name} is not caught"));
        assert_eq!(fail_error(&machine, &catcher.next), name.as_str());
    }
    for transient in statemachine::LAMBDA_TRANSIENT_ERRORS {
        assert!(
            lambda
                .retry
                .iter()
                .any(|r| matches(&r.error_equals, transient)),
            "{transient} is not retried"
        );
    }
}

/// Resolves a plain path like `$.a.b[0].c` in `input`.
fn resolve<'a>(input: &'a Value, path: &str) -> Option<&'a Value> {
    let mut value = input;
    for part in path.strip_prefix("$.")?.split('.') {
        let (field, index) = match part.split_once('[') {
            Some((field, rest)) => (
                field,
                Some(rest.trim_end_matches(']').parse::<usize>().ok()?),
            ),
            None => (part, None),
        };
        value = value.get(field)?;
        if let Some(index) = index {
            value = value.get(index)?;
        }
    }
    Some(value)
}

/// Evaluates the subset of choice rules the classification uses.
fn holds(rule: &infra::asl::ChoiceRule, input: &Value) -> bool {
    let number = |path: &str| resolve(input, path).and_then(Value::as_f64);
    match rule.condition().unwrap() {
        Condition::IsNumeric(path, expected) => number(path).is_some() == expected,
        Condition::IsPresent(path, expected) => resolve(input, path).is_some() == expected,
        Condition::NumericEquals(path, n) => number(path) == n.as_f64(),
        Condition::NumericLessThan(path, n) => {
            number(path).is_some_and(|v| v < n.as_f64().unwrap())
        }
        Condition::And(rules) => rules.iter().all(|r| holds(r, input)),
        Condition::Not(rule) => !holds(rule, input),
        other => panic!("the test's evaluator does not handle {other:?}"),
    }
}

fn classify(machine: &StateMachine, input: &Value) -> String {
    let Some(State::Choice(choice)) = machine.states.get(state::CLASSIFY_FARGATE_EXIT) else {
        panic!("no classification choice");
    };
    choice
        .choices
        .iter()
        .find(|rule| holds(rule, input))
        .and_then(|rule| rule.next.clone())
        .or_else(|| choice.default.clone())
        .unwrap()
}

fn stopped_with(exit_code: Option<i32>, retries_so_far: u32) -> Value {
    let container = match exit_code {
        Some(code) => json!({ "Name": statemachine::CONTAINER_NAME, "ExitCode": code }),
        None => {
            json!({ "Name": statemachine::CONTAINER_NAME, "Reason": "CannotPullContainerError" })
        }
    };
    json!({
        "pipeline": { "fargateRetries": { "count": retries_so_far } },
        "stopped": { "task": { "Containers": [container], "StopCode": "EssentialContainerExited" } },
    })
}

#[test]
fn the_fargate_route_maps_every_exit_code_to_its_name_and_retries_the_retryable_ones() {
    let settings = Settings::default();
    let machine = machine();
    let fargate = task(&machine, state::FARGATE);
    let task_failed = fargate
        .catch
        .iter()
        .find(|c| matches(&c.error_equals, "States.TaskFailed"))
        .expect("a failed task is caught");
    assert_eq!(task_failed.next, state::CHECK_FARGATE_FAILURE);
    for transient in statemachine::ECS_TRANSIENT_ERRORS {
        assert!(
            fargate
                .retry
                .iter()
                .any(|r| matches(&r.error_equals, transient))
        );
    }
    for name in ErrorName::ALL {
        let first = classify(&machine, &stopped_with(Some(name.exit_code()), 0));
        if name.retryable() {
            assert_eq!(first, state::COUNT_FARGATE_RETRY, "{name} is retried");
            let last = classify(
                &machine,
                &stopped_with(Some(name.exit_code()), settings.retries),
            );
            assert_eq!(
                fail_error(&machine, &last),
                name.as_str(),
                "{name} after retries"
            );
        } else {
            assert_eq!(
                fail_error(&machine, &first),
                name.as_str(),
                "{name} fails at once"
            );
        }
    }
    for unknown in [Some(1), Some(101), Some(137), None] {
        let next = classify(&machine, &stopped_with(unknown, 0));
        assert_eq!(next, state::FAILED_UNEXPECTEDLY, "exit {unknown:?}");
    }
    // The retry loop goes back to the task.
    let mut at = state::COUNT_FARGATE_RETRY.to_owned();
    for _ in 0..3 {
        at = machine.states.get(&at).unwrap().successors()[0].to_owned();
        if at == state::FARGATE {
            break;
        }
    }
    assert_eq!(at, state::FARGATE);
}

#[test]
fn every_failure_path_ends_in_a_fail_state() {
    let machine = machine();
    for (name, s) in machine.states.iter() {
        let State::Task(task) = s else { continue };
        for catcher in &task.catch {
            // Walk from the catcher's target through non-task states.
            let mut stack = vec![catcher.next.as_str()];
            let mut seen = Vec::new();
            while let Some(at) = stack.pop() {
                if seen.contains(&at) {
                    continue;
                }
                seen.push(at);
                match machine.states.get(at).unwrap() {
                    State::Fail(fail) => {
                        assert!(
                            ErrorName::from_name(&fail.error).is_some(),
                            "{at} fails with {:?}, not one of the core's names",
                            fail.error
                        );
                        assert!(fail.cause_path.is_some() || fail.cause.is_some());
                    }
                    State::Succeed(_) => panic!("a failure of {name} can reach Succeed via {at}"),
                    State::Task(_) => {} // a retry goes round again
                    other => stack.extend(other.successors()),
                }
            }
        }
        assert!(
            task.catch.iter().any(|c| c.error_equals == ["States.ALL"]),
            "{name} has no catch-all"
        );
        assert!(
            task.timeout_seconds.is_some(),
            "{name} has no TimeoutSeconds"
        );
    }
    assert!(machine.timeout_seconds.is_some());
}

#[test]
fn the_route_sends_folders_to_skip_and_sizes_by_the_threshold() {
    let machine = machine();
    let Some(State::Choice(route)) = machine.states.get(state::ROUTE) else {
        panic!("no route")
    };
    let first = &route.choices[0];
    assert_eq!(
        first.condition().unwrap(),
        Condition::StringMatches("$.detail.object.key", "*/")
    );
    assert_eq!(first.next.as_deref(), Some(state::SKIP_FOLDER));
    let second = &route.choices[1];
    assert_eq!(
        second.condition().unwrap(),
        Condition::NumericLessThanEqualsPath("$.detail.object.size", "$.pipeline.thresholdBytes")
    );
    assert_eq!(second.next.as_deref(), Some(state::LAMBDA));
    assert_eq!(route.default.as_deref(), Some(state::FARGATE));
}

#[test]
fn both_tasks_get_the_job_document_and_nothing_else() {
    let machine = machine();
    let lambda = task(&machine, state::LAMBDA);
    assert_eq!(
        lambda.parameters.as_ref().unwrap()["Payload.$"],
        json!("$.pipeline.job")
    );
    let fargate = task(&machine, state::FARGATE);
    let overrides = &fargate.parameters.as_ref().unwrap()["Overrides"]["ContainerOverrides"];
    assert_eq!(overrides[0]["Name"], json!(statemachine::CONTAINER_NAME));
    assert_eq!(
        overrides[0]["Environment"],
        json!([{ "Name": shared::job::env::JOB, "Value.$": "States.JsonToString($.pipeline.job)" }])
    );
    let Some(State::Pass(prepare)) = machine.states.get(state::PREPARE_JOB) else {
        panic!("no PrepareJob")
    };
    assert_eq!(
        prepare.parameters.as_ref().unwrap()["job"],
        json!({ "bucket.$": "$.detail.bucket.name", "object.$": "$.detail.object" })
    );
    // The job built from a real event's detail is the processors' job document.
    let event: Value = serde_json::from_str(include_str!(
        "../../lambda-processor/tests/fixtures/object-created.json"
    ))
    .unwrap();
    let job =
        json!({ "bucket": event["detail"]["bucket"]["name"], "object": event["detail"]["object"] });
    let job: shared::Job = serde_json::from_value(job).expect("the state machine's job parses");
    assert_eq!(
        job.bucket,
        event["detail"]["bucket"]["name"].as_str().unwrap()
    );
    assert!(
        serde_json::to_string(&job).unwrap().len() < 8 * 1024,
        "container overrides are capped at 8 KiB"
    );
}

#[test]
fn substitution_replaces_every_placeholder_and_refuses_unknown_ones() {
    let text = statemachine::to_json(&machine());
    let out = statemachine::substitute(&text, |p| Some(format!("<{}>", p.name()))).unwrap();
    assert!(!out.contains("${"), "a placeholder is left");
    for placeholder in statemachine::Placeholder::ALL {
        assert!(
            text.contains(&placeholder.reference()),
            "{placeholder:?} unused"
        );
    }
    assert!(statemachine::substitute("${Nope}", |_| Some(String::new())).is_err());
    assert!(statemachine::substitute("${ClusterArn}", |_| None).is_err());
}
