//! The pipeline's state machine, built from the contracts in [`shared`].
//!
//! ```text
//! PrepareJob ─► Route ─┬─ key ends in "/" ──────────────► SkipFolder (Succeed)
//!                      ├─ size ≤ threshold ─► ProcessInLambda ─► Processed (Succeed)
//!                      └─ otherwise ────────► ProcessInFargate ─► Processed
//!                                               │ task failed
//!                                               ▼
//!                          ReadFargateExitCode ─► ClassifyFargateExit ─┬─ retryable, tries left ─► CountFargateRetry ─► WaitBeforeFargateRetry ─► ProcessInFargate
//!                                                                      └─ the exit code's name ─► Failed: <name>
//! ```
//!
//! Every way to a `Fail` state goes through a task that writes the failure record first
//! (`Record failure: <name>`, an S3 `PutObject` of a [`shared::FailureRecord`] at
//! [`shared::failure_record_key`]); if that write fails after its retries, the execution
//! fails all the same, with its own error.
//!
//! Every error name of [`ErrorName::ALL`] has its own `Fail` state, `Failed: <name>`, so a
//! failed execution's error is the processor's own name: the Lambda's error type as it is,
//! the Fargate container's exit code mapped back through [`ErrorName::from_exit_code`].
//! Retryable names are retried (the Lambda's by `Retry`, the container's by a counted loop,
//! since ECS reports every non-zero exit as `States.TaskFailed`); the others fail at once.
//!
//! Values only known at deploy time are `${Name}` placeholders, replaced by the template's
//! `DefinitionSubstitutions` (and by the local runner): see [`Placeholder`].

use serde_json::{Value, json};
use shared::ErrorName;
use shared::env;

use crate::asl::{
    Catcher, Choice, ChoiceRule, Fail, JitterStrategy, Pass, Retrier, State, StateMachine, States,
    Succeed, Task, Wait,
};

/// A value the state machine takes from the deployed stack, written `${Name}` in the
/// definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Placeholder {
    /// Objects up to this many bytes go to the Lambda function.
    ThresholdBytes,
    /// The Lambda function's ARN.
    ProcessorFunctionArn,
    /// The ECS cluster's ARN.
    ClusterArn,
    /// The Fargate task definition's ARN.
    TaskDefinitionArn,
    /// `FARGATE` or `FARGATE_SPOT`.
    CapacityProvider,
    /// The first subnet the task may run in.
    SubnetA,
    /// The second subnet, in another availability zone.
    SubnetB,
    /// The task's security group.
    SecurityGroupId,
    /// `ENABLED` in public subnets (to reach S3 and ECR), `DISABLED` with VPC endpoints.
    AssignPublicIp,
}

impl Placeholder {
    /// Every placeholder.
    pub const ALL: [Placeholder; 9] = [
        Placeholder::ThresholdBytes,
        Placeholder::ProcessorFunctionArn,
        Placeholder::ClusterArn,
        Placeholder::TaskDefinitionArn,
        Placeholder::CapacityProvider,
        Placeholder::SubnetA,
        Placeholder::SubnetB,
        Placeholder::SecurityGroupId,
        Placeholder::AssignPublicIp,
    ];

    /// Its name, as `DefinitionSubstitutions` keys it.
    pub const fn name(self) -> &'static str {
        match self {
            Placeholder::ThresholdBytes => "ThresholdBytes",
            Placeholder::ProcessorFunctionArn => "ProcessorFunctionArn",
            Placeholder::ClusterArn => "ClusterArn",
            Placeholder::TaskDefinitionArn => "TaskDefinitionArn",
            Placeholder::CapacityProvider => "CapacityProvider",
            Placeholder::SubnetA => "SubnetA",
            Placeholder::SubnetB => "SubnetB",
            Placeholder::SecurityGroupId => "SecurityGroupId",
            Placeholder::AssignPublicIp => "AssignPublicIp",
        }
    }

    /// How it appears in the definition: `${Name}`.
    pub fn reference(self) -> String {
        format!("${{{}}}", self.name())
    }
}

/// Replaces every `${Name}` of `definition` by its value, as CloudFormation's
/// `DefinitionSubstitutions` does; an unknown or missing name is an error.
pub fn substitute(
    definition: &str,
    value_of: impl Fn(Placeholder) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(definition.len());
    let mut rest = definition;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated placeholder at {:?}", &rest[start..]))?;
        let name = &after[..end];
        let placeholder = Placeholder::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("unknown placeholder ${{{name}}}"))?;
        let value = value_of(placeholder).ok_or_else(|| format!("no value for ${{{name}}}"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The name of the Fargate task definition's one container (the container override names it).
pub const CONTAINER_NAME: &str = "processor";

/// State names other code refers to (tests, the local runner's expectations).
pub mod state {
    /// Builds the job document from the event.
    pub const PREPARE_JOB: &str = "PrepareJob";
    /// Routes by key and size.
    pub const ROUTE: &str = "Route";
    /// Folder markers end here.
    pub const SKIP_FOLDER: &str = "SkipFolder";
    /// The Lambda task.
    pub const LAMBDA: &str = "ProcessInLambda";
    /// The ECS task.
    pub const FARGATE: &str = "ProcessInFargate";
    /// Tells a stopped container (`States.TaskFailed` itself) from the ECS API's own errors,
    /// which `States.TaskFailed` also matches as a wildcard.
    pub const CHECK_FARGATE_FAILURE: &str = "CheckFargateFailure";
    /// Parses the stopped task out of the failure's cause.
    pub const READ_FARGATE_EXIT: &str = "ReadFargateExitCode";
    /// Maps the container's exit code to an error name.
    pub const CLASSIFY_FARGATE_EXIT: &str = "ClassifyFargateExit";
    /// Counts a retry of the ECS task.
    pub const COUNT_FARGATE_RETRY: &str = "CountFargateRetry";
    /// Waits before retrying the ECS task.
    pub const WAIT_FARGATE_RETRY: &str = "WaitBeforeFargateRetry";
    /// Success.
    pub const PROCESSED: &str = "Processed";
    /// A failure that is none of the processors' names (timeouts, service errors).
    pub const FAILED_UNEXPECTEDLY: &str = "Failed: unexpected error";

    /// The `Fail` state of an error name.
    pub fn failed(name: shared::ErrorName) -> String {
        format!("Failed: {name}")
    }

    /// The task that writes the failure record before the `Fail` state `fail_state`
    /// ("Failed: X" is recorded by "Record failure: X").
    pub fn record_failure(fail_state: &str) -> String {
        format!(
            "Record failure: {}",
            fail_state.strip_prefix("Failed: ").unwrap_or(fail_state)
        )
    }
}

/// The AWS SDK integration that writes a failure record: S3 `PutObject` (AWS: "Learning to
/// use AWS service SDK integrations in Step Functions",
/// <https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html>).
pub const S3_PUT_OBJECT: &str = "arn:aws:states:::aws-sdk:s3:putObject";

/// Where a failure record task puts S3's answer (the record's ETag and version id), beside
/// the caught error, which the `Fail` state after it still reads.
pub const FAILURE_RECORD_RESULT_PATH: &str = "$.failureRecord";

/// The Lambda integration's throttling: more invocations than the function's (or the
/// account's) concurrency allows. Retried for long enough to ride out a burst of uploads
/// ([`THROTTLING_RETRY`]), apart from the other transient errors.
pub const LAMBDA_THROTTLING_ERRORS: [&str; 1] = ["Lambda.TooManyRequestsException"];

/// The Lambda integration's other transient errors, retried a few times with backoff (AWS:
/// "Handle Lambda service exceptions").
pub const LAMBDA_TRANSIENT_ERRORS: [&str; 4] = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
];

/// The ECS integration's errors for a task that could not be started: RunTask's `failures`
/// (no capacity, e.g. Fargate Spot) are `AmazonECS.Unknown` (AWS: "Run Amazon ECS or Fargate
/// tasks with Step Functions"); capacity refusals and throttling of the ECS API are
/// `ECS.AmazonECSException` (AWS Knowledge Center: "ecs-fargate-runtask-capacity"). Neither
/// name tells a passing shortage from a lasting fault, so both get [`THROTTLING_RETRY`].
pub const ECS_CAPACITY_ERRORS: [&str; 2] = ["ECS.AmazonECSException", "AmazonECS.Unknown"];

/// How throttling and capacity errors are retried: exponential backoff from 2 s, capped at
/// 2 minutes, with full jitter so that a burst of throttled executions does not come back in
/// step. 20 retries wait up to 2+4+...+64 s and then 14 × 120 s: about 30 minutes at most,
/// about 15 on average with full jitter.
pub const THROTTLING_RETRY: RetryPolicy = RetryPolicy {
    interval_seconds: 2,
    max_attempts: 20,
    backoff_rate: 2,
    max_delay_seconds: 120,
};

/// A backoff policy, turned into a [`Retrier`] for some error names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Seconds before the first retry.
    pub interval_seconds: u64,
    /// Retries at most.
    pub max_attempts: u32,
    /// The factor the interval grows by per retry.
    pub backoff_rate: u32,
    /// The longest interval.
    pub max_delay_seconds: u64,
}

impl RetryPolicy {
    /// The longest the retries can wait in all (every interval at its full, unjittered
    /// length).
    pub fn longest_total_wait_seconds(&self) -> u64 {
        let mut interval = self.interval_seconds;
        let mut total = 0;
        for _ in 0..self.max_attempts {
            total += interval.min(self.max_delay_seconds);
            interval = interval.saturating_mul(u64::from(self.backoff_rate));
        }
        total
    }

    /// The retrier for `errors`, with full jitter.
    pub fn retrier(&self, errors: &[&str]) -> Retrier {
        Retrier {
            error_equals: errors.iter().map(|e| (*e).to_owned()).collect(),
            interval_seconds: self.interval_seconds,
            max_attempts: self.max_attempts,
            backoff_rate: f64::from(self.backoff_rate),
            max_delay_seconds: Some(self.max_delay_seconds),
            jitter_strategy: Some(JitterStrategy::Full),
        }
    }
}

/// What shapes the state machine, beyond the placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The Lambda function's own timeout; the task waits a little longer.
    pub lambda_timeout_seconds: u64,
    /// The longest one Fargate task may run.
    pub fargate_timeout_seconds: u64,
    /// Retries of a job that failed with a retryable name.
    pub retries: u32,
    /// Seconds before a retry of a retryable name. The Lambda task's `Retry` doubles it per
    /// retry; the Fargate loop waits this long each time.
    pub retry_interval_seconds: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            lambda_timeout_seconds: 300,
            fargate_timeout_seconds: 4 * 3600,
            retries: 2,
            retry_interval_seconds: 10,
        }
    }
}

impl Settings {
    /// The Lambda task's `TimeoutSeconds`: the function's timeout and a margin for the
    /// invocation itself.
    pub fn lambda_task_timeout_seconds(&self) -> u64 {
        self.lambda_timeout_seconds + 30
    }

    /// The execution's `TimeoutSeconds`: every attempt of the longer route, with its waits,
    /// and a margin.
    pub fn execution_timeout_seconds(&self) -> u64 {
        let attempts = u64::from(self.retries) + 1;
        let waits: u64 = (0..self.retries)
            .map(|n| self.retry_interval_seconds << n)
            .sum();
        attempts
            * self
                .fargate_timeout_seconds
                .max(self.lambda_task_timeout_seconds())
            + waits
            + attempts * THROTTLING_RETRY.longest_total_wait_seconds()
            + 600
    }
}

/// Where the state machine keeps its own data in the execution's state: the event stays
/// as it came, under `$`, and this object sits beside it.
pub const WORK_PATH: &str = "$.pipeline";

/// Where a caught error (`{"Error", "Cause"}`) goes in the state's input.
const ERROR_PATH: &str = "$.error";

/// The pipeline's state machine.
pub fn definition(settings: &Settings) -> StateMachine {
    let mut states = States::new();
    routing_states(&mut states);
    states.add(state::LAMBDA, lambda_task(settings));
    states.add(state::FARGATE, fargate_task(settings));
    fargate_failure_states(&mut states, settings);
    end_states(&mut states);
    StateMachine {
        comment: Some(
            "S3 upload pipeline: routes each uploaded object by size to the Lambda or the \
             Fargate processor (generated by the infra crate; do not edit)."
                .into(),
        ),
        start_at: state::PREPARE_JOB.into(),
        timeout_seconds: Some(settings.execution_timeout_seconds()),
        states,
    }
}

fn routing_states(states: &mut States) {
    states.add(
        state::PREPARE_JOB,
        State::Pass(Pass {
            comment: Some(
                "The job document both processors take (shared::Job): the event's bucket name \
                 and object, which already has the job's field names. The threshold arrives \
                 as text through DefinitionSubstitutions and becomes a number here."
                    .into(),
            ),
            parameters: Some(json!({
                "job": {
                    "bucket.$": "$.detail.bucket.name",
                    "object.$": "$.detail.object",
                },
                "thresholdBytes.$": format!(
                    "States.StringToJson('{}')",
                    Placeholder::ThresholdBytes.reference()
                ),
                "fargateRetries": { "count": 0 },
            })),
            result_path: Some(WORK_PATH.into()),
            next: Some(state::ROUTE.into()),
            end: false,
        }),
    );

    states.add(
        state::ROUTE,
        State::Choice(Choice {
            comment: Some(
                "Folder markers (keys ending in /) are skipped; objects up to the threshold \
                 go to Lambda, larger ones to Fargate."
                    .into(),
            ),
            choices: vec![
                ChoiceRule::string_matches("$.detail.object.key", "*/").then(state::SKIP_FOLDER),
                ChoiceRule::numeric_less_than_equals_path(
                    "$.detail.object.size",
                    &format!("{WORK_PATH}.thresholdBytes"),
                )
                .then(state::LAMBDA),
            ],
            default: Some(state::FARGATE.into()),
        }),
    );

    states.add(
        state::SKIP_FOLDER,
        State::Succeed(Succeed {
            comment: Some("A folder marker has nothing to process.".into()),
        }),
    );
}

/// Each error name to its `Fail` state, and anything else to [`state::FAILED_UNEXPECTEDLY`].
fn catch_names() -> Vec<Catcher> {
    let mut catchers: Vec<Catcher> = ErrorName::ALL
        .into_iter()
        .map(|name| Catcher {
            error_equals: vec![name.as_str().to_owned()],
            result_path: Some(ERROR_PATH.into()),
            next: state::record_failure(&state::failed(name)),
        })
        .collect();
    catchers.push(Catcher {
        error_equals: vec!["States.ALL".into()],
        result_path: Some(ERROR_PATH.into()),
        next: state::record_failure(state::FAILED_UNEXPECTEDLY),
    });
    catchers
}

fn lambda_task(settings: &Settings) -> State {
    let retryable: Vec<String> = ErrorName::ALL
        .into_iter()
        .filter(|name| name.retryable())
        .map(|name| name.as_str().to_owned())
        .collect();
    State::Task(Task {
        comment: Some(
            "The Lambda function returns the job's outcome, or fails with the error name \
                 as its error type."
                .into(),
        ),
        resource: "arn:aws:states:::lambda:invoke".into(),
        parameters: Some(json!({
            "FunctionName": Placeholder::ProcessorFunctionArn.reference(),
            "Payload.$": format!("{WORK_PATH}.job"),
        })),
        result_selector: Some(json!({ "outcome.$": "$.Payload" })),
        result_path: Some("$.result".into()),
        timeout_seconds: Some(settings.lambda_task_timeout_seconds()),
        retry: vec![
            THROTTLING_RETRY.retrier(&LAMBDA_THROTTLING_ERRORS),
            Retrier {
                error_equals: LAMBDA_TRANSIENT_ERRORS.map(str::to_owned).to_vec(),
                interval_seconds: 2,
                max_attempts: 6,
                backoff_rate: 2.0,
                max_delay_seconds: Some(60),
                jitter_strategy: Some(JitterStrategy::Full),
            },
            Retrier {
                error_equals: retryable.clone(),
                interval_seconds: settings.retry_interval_seconds,
                max_attempts: settings.retries,
                backoff_rate: 2.0,
                max_delay_seconds: None,
                jitter_strategy: Some(JitterStrategy::Full),
            },
        ],
        catch: catch_names(),
        next: Some(state::PROCESSED.into()),
        end: false,
    })
}

fn fargate_task(settings: &Settings) -> State {
    let job_environment = json!([
        {
            "Name": env::JOB,
            "Value.$": format!("States.JsonToString({WORK_PATH}.job)"),
        }
    ]);
    State::Task(Task {
        comment: Some(
            "Runs the Fargate task to completion. The job goes in PIPELINE_JOB (container \
                 overrides are capped at 8 KiB, so never the whole event). A non-zero exit is \
                 States.TaskFailed with the stopped task in the cause."
                .into(),
        ),
        resource: "arn:aws:states:::ecs:runTask.sync".into(),
        parameters: Some(json!({
            "Cluster": Placeholder::ClusterArn.reference(),
            "TaskDefinition": Placeholder::TaskDefinitionArn.reference(),
            "CapacityProviderStrategy": [
                { "CapacityProvider": Placeholder::CapacityProvider.reference(), "Weight": 1 }
            ],
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "Subnets": [Placeholder::SubnetA.reference(), Placeholder::SubnetB.reference()],
                    "SecurityGroups": [Placeholder::SecurityGroupId.reference()],
                    "AssignPublicIp": Placeholder::AssignPublicIp.reference(),
                }
            },
            "Overrides": {
                "ContainerOverrides": [
                    { "Name": CONTAINER_NAME, "Environment": job_environment }
                ]
            },
        })),
        result_selector: Some(json!({ "taskArn.$": "$.TaskArn" })),
        result_path: Some("$.result".into()),
        timeout_seconds: Some(settings.fargate_timeout_seconds),
        retry: vec![THROTTLING_RETRY.retrier(&ECS_CAPACITY_ERRORS)],
        catch: vec![
            Catcher {
                error_equals: vec!["States.TaskFailed".into()],
                result_path: Some(ERROR_PATH.into()),
                next: state::CHECK_FARGATE_FAILURE.into(),
            },
            Catcher {
                error_equals: vec!["States.ALL".into()],
                result_path: Some(ERROR_PATH.into()),
                next: state::record_failure(state::FAILED_UNEXPECTEDLY),
            },
        ],
        next: Some(state::PROCESSED.into()),
        end: false,
    })
}

fn fargate_failure_states(states: &mut States, settings: &Settings) {
    states.add(
        state::CHECK_FARGATE_FAILURE,
        State::Choice(Choice {
            comment: Some(
                "In a Catch, States.TaskFailed matches every error but a timeout; only the \
                 error named exactly so is a stopped container whose cause is the task."
                    .into(),
            ),
            choices: vec![
                ChoiceRule::string_matches(&format!("{ERROR_PATH}.Error"), "States.TaskFailed")
                    .then(state::READ_FARGATE_EXIT),
            ],
            default: Some(state::record_failure(state::FAILED_UNEXPECTEDLY)),
        }),
    );
    states.add(
        state::READ_FARGATE_EXIT,
        State::Pass(Pass {
            comment: Some("The failure's cause is the stopped ECS task, as JSON text.".into()),
            parameters: Some(json!({ "task.$": "States.StringToJson($.error.Cause)" })),
            result_path: Some("$.stopped".into()),
            next: Some(state::CLASSIFY_FARGATE_EXIT.into()),
            end: false,
        }),
    );

    let exit_code = "$.stopped.task.Containers[0].ExitCode";
    // A container that never started has no exit code; a comparison on a missing path would
    // be a runtime error, so that case goes first.
    let mut classify = vec![
        ChoiceRule::negate(ChoiceRule::is_present(exit_code))
            .then(&state::record_failure(state::FAILED_UNEXPECTEDLY)),
    ];
    for name in ErrorName::ALL.into_iter().filter(|name| name.retryable()) {
        classify.push(
            ChoiceRule::and(vec![
                ChoiceRule::is_numeric(exit_code),
                ChoiceRule::numeric_equals(exit_code, name.exit_code()),
                ChoiceRule::numeric_less_than(
                    &format!("{WORK_PATH}.fargateRetries.count"),
                    settings.retries,
                ),
            ])
            .then(state::COUNT_FARGATE_RETRY),
        );
    }
    for name in ErrorName::ALL {
        classify.push(
            ChoiceRule::and(vec![
                ChoiceRule::is_numeric(exit_code),
                ChoiceRule::numeric_equals(exit_code, name.exit_code()),
            ])
            .then(&state::record_failure(&state::failed(name))),
        );
    }
    states.add(
        state::CLASSIFY_FARGATE_EXIT,
        State::Choice(Choice {
            comment: Some(
                "The container's exit code names the error (shared::ErrorName::exit_code). \
                 Retryable names go round again while tries are left; a task that stopped \
                 without an exit code of ours failed unexpectedly."
                    .into(),
            ),
            choices: classify,
            default: Some(state::record_failure(state::FAILED_UNEXPECTEDLY)),
        }),
    );

    states.add(
        state::COUNT_FARGATE_RETRY,
        State::Pass(Pass {
            comment: None,
            parameters: Some(json!({
                "count.$": format!("States.MathAdd({WORK_PATH}.fargateRetries.count, 1)"),
            })),
            result_path: Some(format!("{WORK_PATH}.fargateRetries")),
            next: Some(state::WAIT_FARGATE_RETRY.into()),
            end: false,
        }),
    );
    states.add(
        state::WAIT_FARGATE_RETRY,
        State::Wait(Wait {
            comment: Some("Backs off before the next try.".into()),
            seconds: settings.retry_interval_seconds,
            next: state::FARGATE.into(),
        }),
    );
}

fn end_states(states: &mut States) {
    states.add(
        state::PROCESSED,
        State::Succeed(Succeed {
            comment: Some("The report is written.".into()),
        }),
    );

    for name in ErrorName::ALL {
        let fail = state::failed(name);
        let cause_path = "$.error.Cause";
        states.add(
            state::record_failure(&fail),
            record_failure_task(name, cause_path, &fail),
        );
        states.add(
            fail,
            State::Fail(Fail {
                comment: Some(fail_comment(name).into()),
                error: name.as_str().into(),
                cause: None,
                cause_path: Some(cause_path.into()),
            }),
        );
    }
    // The whole caught error: its name says what happened, and a timeout may come without a
    // Cause.
    let unexpected_cause = format!("States.JsonToString({ERROR_PATH})");
    states.add(
        state::record_failure(state::FAILED_UNEXPECTEDLY),
        record_failure_task(
            ErrorName::Internal,
            &unexpected_cause,
            state::FAILED_UNEXPECTEDLY,
        ),
    );
    states.add(
        state::FAILED_UNEXPECTEDLY,
        State::Fail(Fail {
            comment: Some(
                "A task failed with none of the processors' names: a timeout, a service error, \
                 or a container that stopped without one of our exit codes. The cause says \
                 what happened."
                    .into(),
            ),
            error: ErrorName::Internal.as_str().into(),
            cause: None,
            cause_path: Some(unexpected_cause),
        }),
    );
}

/// The task before the `Fail` state `fail`: writes the [`shared::FailureRecord`] of the
/// execution's error `name` and cause (the `Fail` state's own `CausePath`, a path or an
/// intrinsic) at [`shared::failure_record_key`] of the event's key, then goes on to `fail`.
/// A write that still fails after its retries goes on to `fail` too: the record is a
/// convenience, the execution's own failure is the truth.
fn record_failure_task(name: ErrorName, cause: &str, fail: &str) -> State {
    let job = format!("{WORK_PATH}.job");
    State::Task(Task {
        comment: Some(
            "Leaves a record of this failure beside the reports (shared::FailureRecord), then \
             fails; the record is written even when the object is gone."
                .into(),
        ),
        resource: S3_PUT_OBJECT.into(),
        parameters: Some(json!({
            "Bucket.$": format!("{job}.bucket"),
            "Key.$": format!(
                "States.Format('{}{{}}{}', {job}.object.key)",
                shared::FAILURE_PREFIX,
                shared::FAILURE_SUFFIX
            ),
            "ContentType": "application/json",
            "Body": {
                "schema_version": shared::FAILURE_RECORD_SCHEMA_VERSION,
                "error": name.as_str(),
                "cause.$": cause,
                "execution_arn.$": "$$.Execution.Id",
                "failed_at.$": "$$.State.EnteredTime",
                "bucket.$": format!("{job}.bucket"),
                "object.$": format!("{job}.object"),
            },
        })),
        result_selector: None,
        result_path: Some(FAILURE_RECORD_RESULT_PATH.into()),
        timeout_seconds: Some(60),
        retry: vec![Retrier {
            error_equals: vec!["States.ALL".into()],
            interval_seconds: 1,
            max_attempts: 3,
            backoff_rate: 2.0,
            max_delay_seconds: Some(10),
            jitter_strategy: Some(JitterStrategy::Full),
        }],
        catch: vec![Catcher {
            error_equals: vec!["States.ALL".into()],
            result_path: Some(FAILURE_RECORD_RESULT_PATH.into()),
            next: fail.into(),
        }],
        next: Some(fail.into()),
        end: false,
    })
}

fn fail_comment(name: ErrorName) -> &'static str {
    if name.retryable() {
        "The processor failed with this name on every try."
    } else {
        "The processor failed with this name; trying again would not help."
    }
}

/// The definition as committed: pretty JSON with a trailing newline.
pub fn to_json(machine: &StateMachine) -> String {
    let mut text = serde_json::to_string_pretty(machine).expect("a state machine serialises");
    text.push('\n');
    text
}

/// The definition as a JSON value, for the template's `Definition` property.
pub fn to_value(machine: &StateMachine) -> Value {
    serde_json::to_value(machine).expect("a state machine serialises")
}
