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

/// The error of the Fail state `name` leads to: itself, or the one after its failure record
/// task (`Record failure: X` writes the record, then goes to `Failed: X`).
fn fail_error<'a>(machine: &'a StateMachine, name: &str) -> &'a str {
    match machine.states.get(name) {
        Some(State::Fail(fail)) => &fail.error,
        Some(State::Task(task)) if task.resource == infra::statemachine::S3_PUT_OBJECT => {
            fail_error(machine, task.next.as_deref().unwrap_or_default())
        }
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

/// The states a choice's rules lead to.
fn choice_targets<'a>(machine: &'a StateMachine, name: &str) -> Vec<&'a str> {
    let Some(State::Choice(choice)) = machine.states.get(name) else {
        panic!("{name} is not a choice");
    };
    choice
        .choices
        .iter()
        .filter_map(|rule| rule.next.as_deref())
        .chain(choice.default.as_deref())
        .collect()
}

// What each exit code leads to, run for real, is the local pipeline's interpreter tests'
// (`fargate_exit_codes_name_the_error`); here, the shape.
#[test]
fn the_fargate_route_can_reach_every_names_fail_state_and_retries_through_the_task() {
    let machine = machine();
    let fargate = task(&machine, state::FARGATE);
    let task_failed = fargate
        .catch
        .iter()
        .find(|c| matches(&c.error_equals, "States.TaskFailed"))
        .expect("a failed task is caught");
    assert_eq!(task_failed.next, state::CHECK_FARGATE_FAILURE);
    for error in statemachine::ECS_CAPACITY_ERRORS {
        assert!(
            fargate
                .retry
                .iter()
                .any(|r| matches(&r.error_equals, error)),
            "{error} is not retried"
        );
    }
    let targets = choice_targets(&machine, state::CLASSIFY_FARGATE_EXIT);
    for name in ErrorName::ALL {
        let fail = state::record_failure(&state::failed(name));
        assert!(targets.contains(&fail.as_str()), "no way to {fail}");
        assert_eq!(fail_error(&machine, &fail), name.as_str());
    }
    assert!(targets.contains(&state::COUNT_FARGATE_RETRY));
    assert!(targets.contains(&state::record_failure(state::FAILED_UNEXPECTEDLY).as_str()));
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
fn throttling_and_capacity_errors_are_retried_long_enough_to_ride_out_a_burst() {
    // Lambda answers a burst above the function's concurrency with
    // Lambda.TooManyRequestsException (AWS: "Handle Lambda service exceptions"); RunTask's
    // capacity failures surface as AmazonECS.Unknown ("Run Amazon ECS or Fargate tasks with
    // Step Functions") or ECS.AmazonECSException (Knowledge Center:
    // "ecs-fargate-runtask-capacity"). Minutes of retries, not seconds, and jittered.
    let machine = machine();
    let policy = statemachine::THROTTLING_RETRY;
    let longest = policy.longest_total_wait_seconds();
    assert!(
        (15 * 60..=45 * 60).contains(&longest),
        "the retries wait up to {longest} s"
    );
    for (task_name, errors) in [
        (state::LAMBDA, &statemachine::LAMBDA_THROTTLING_ERRORS[..]),
        (state::FARGATE, &statemachine::ECS_CAPACITY_ERRORS[..]),
    ] {
        let task = task(&machine, task_name);
        for error in errors {
            let retrier = task
                .retry
                .iter()
                .find(|r| matches(&r.error_equals, error))
                .unwrap_or_else(|| panic!("{task_name}: {error} is not retried"));
            assert_eq!(retrier, &policy.retrier(errors), "{task_name}: {error}");
            assert_eq!(
                retrier.jitter_strategy,
                Some(infra::asl::JitterStrategy::Full)
            );
        }
    }
    // Throttling has its own retrier, apart from the other transient errors.
    let lambda = task(&machine, state::LAMBDA);
    for transient in statemachine::LAMBDA_TRANSIENT_ERRORS {
        let retrier = lambda
            .retry
            .iter()
            .find(|r| matches(&r.error_equals, transient))
            .unwrap_or_else(|| panic!("{transient} is not retried"));
        assert!(
            !retrier
                .error_equals
                .iter()
                .any(|e| e == "Lambda.TooManyRequestsException")
        );
    }
    // The execution outlives the retries of both routes.
    assert!(
        machine.timeout_seconds.unwrap()
            > Settings::default().fargate_timeout_seconds * 3 + longest
    );
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
        json!([{ "Name": shared::env::JOB, "Value.$": "States.JsonToString($.pipeline.job)" }])
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
