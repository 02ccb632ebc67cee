//! The generated definition (`infra::statemachine`), on real EventBridge events.

use super::*;

pub(super) const THRESHOLD: u64 = shared::DEFAULT_THRESHOLD_BYTES;
pub(super) const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:processor";

pub(super) fn generated_definition() -> Value {
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
pub(super) fn object_created(key: &str, size: u64) -> Value {
    let mut event: Value = serde_json::from_str(include_str!(
        "../../../lambda-processor/tests/fixtures/object-created.json"
    ))
    .unwrap();
    event["detail"]["object"]["key"] = json!(key);
    event["detail"]["object"]["size"] = json!(size);
    event
}

/// The job document both processors get: the bucket name and the event's object.
pub(super) fn job_of(event: &Value) -> Value {
    json!({"bucket": event["detail"]["bucket"]["name"], "object": event["detail"]["object"]})
}

pub(super) fn lambda_output(payload: &Value) -> Value {
    json!({"ExecutedVersion": "$LATEST", "Payload": payload, "StatusCode": 200})
}

pub(super) const TASK_ARN: &str =
    "arn:aws:ecs:eu-west-1:123456789012:task/pipeline/0123456789abcdef";

/// A stopped ECS task as the integration reports it (`DescribeTasks`' shape).
pub(super) fn stopped_task(exit_code: Option<i32>) -> Value {
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

pub(super) fn ecs_failure(exit_code: Option<i32>) -> Result<Value, TaskError> {
    task_error("States.TaskFailed", &stopped_task(exit_code).to_string())
}

pub(super) fn failed(name: ErrorName) -> String {
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
    assert_eq!(variable["Name"], shared::env::JOB);
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

/// Before its Fail state, a failed execution writes its failure record with the AWS SDK
/// integration's S3 PutObject (AWS: "Learning to use AWS service SDK integrations in Step
/// Functions", https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html:
/// `arn:aws:states:::aws-sdk:s3:putObject`, parameters in PascalCase, errors `S3.<Name>`),
/// with the execution's ARN and the state's entered time from the context object (AWS:
/// https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html).
#[tokio::test]
async fn a_failure_writes_its_record_before_its_fail_state() {
    let definition = generated_definition();
    let event = object_created("incoming/a+b%2B.csv", 10);
    let tasks = Scripted::new(
        LAMBDA,
        vec![task_error(ErrorName::InvalidInput.as_str(), "bad header")],
    );
    let record = execute(&definition, event.clone(), &tasks).await;
    assert_failed(&record, "InvalidInput");
    let entered = path(&record);
    let fail = failed(ErrorName::InvalidInput);
    assert_eq!(
        entered[entered.len() - 2..],
        [state::record_failure(&fail), fail.clone()]
    );
    let records = tasks.records();
    assert_eq!(records.len(), 1);
    let put = &records[0];
    assert_eq!(put["Bucket"], event["detail"]["bucket"]["name"]);
    assert_eq!(put["Key"], "failed/incoming/a+b%2B.csv.json");
    assert_eq!(put["ContentType"], "application/json");
    let body: shared::FailureRecord = serde_json::from_value(put["Body"].clone()).unwrap();
    assert_eq!(body.error, "InvalidInput");
    assert_eq!(body.cause.as_deref(), Some("bad header"));
    assert_eq!(body.execution_arn, record.execution_arn);
    assert_eq!(body.bucket, put["Bucket"]);
    assert_eq!(
        serde_json::to_value(&body.object).unwrap(),
        event["detail"]["object"]
    );
    assert!(body.failed_at.ends_with('Z'), "{}", body.failed_at);
    // The execution's output is not where the record's result goes: the Fail state still
    // reads the caught error.
    assert_eq!(record.cause.as_deref(), Some("bad header"));

    // An unexpected failure records the whole caught error, as its Fail state's cause.
    let tasks = Scripted::new(LAMBDA, vec![task_error("Lambda.Unknown", "boom")]);
    let record = execute(&definition, event.clone(), &tasks).await;
    assert_failed(&record, "Internal");
    let body = &tasks.records()[0]["Body"];
    assert_eq!(body["error"], "Internal");
    assert_eq!(body["cause"].as_str(), record.cause.as_deref());

    // A record that cannot be written (after its retries) does not change the failure.
    let tasks = Scripted::new(
        LAMBDA,
        vec![task_error(ErrorName::InvalidInput.as_str(), "bad header")],
    )
    .and(
        statemachine::S3_PUT_OBJECT,
        (0..4)
            .map(|_| task_error("S3.AccessDeniedException", "denied"))
            .collect(),
    );
    let record = execute(&definition, event, &tasks).await;
    assert_failed(&record, "InvalidInput");
    assert_eq!(record.cause.as_deref(), Some("bad header"));
    assert_eq!(tasks.left(), 0, "the write was tried 4 times");
    assert_eq!(path(&record).last(), Some(&failed(ErrorName::InvalidInput)));
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
    assert_eq!(path[path.len() - 3], state::CHECK_FARGATE_FAILURE);
    assert_eq!(
        path[path.len() - 2],
        state::record_failure(state::FAILED_UNEXPECTEDLY)
    );
    assert_eq!(path.last().unwrap(), state::FAILED_UNEXPECTEDLY);
    assert!(record.cause.unwrap().contains("Rate exceeded"));

    let tasks = Scripted::new(ECS, vec![ecs_failure(None)]);
    let record = execute(&definition, object_created("k", THRESHOLD + 1), &tasks).await;
    assert_failed(&record, "Internal");
    let path = self::path(&record);
    assert_eq!(path[path.len() - 3], state::CLASSIFY_FARGATE_EXIT);
    assert_eq!(path.last().unwrap(), state::FAILED_UNEXPECTEDLY);
}
