//! Running an execution: the walk through the compiled states, each state's input and output
//! processing, Task attempts (their Retry and Catch in [`super::retry`]), the history events
//! Step Functions records, and stopping and taking up again (see [`Interpreter::run`]).

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::choice::Rule;
use super::load::{Cause, Step, TaskStep, Transition};
use super::paths::ReferencePath;
use super::retry::{Handling, Jitter};
use super::template::PayloadTemplate;
use super::{
    Interpreter, RunEnd, STATES_NO_CHOICE_MATCHED, STATES_RESULT_PATH_MATCH_FAILURE,
    STATES_RUNTIME, STATES_TIMEOUT, TaskContext, TaskError, TaskRunner,
};
use crate::execution::{Execution, ExecutionRecord, ExecutionStatus, Position, StopRequest};

/// How a walk through the states stopped.
#[derive(Debug)]
enum Ending {
    Succeeded(Value),
    Failed {
        error: String,
        cause: Option<String>,
    },
    /// Stopped for a shutdown, to be taken up again.
    Suspended,
    /// Stopped by `StopExecution` (already recorded as such).
    Aborted,
}

/// Where a walk through the states begins.
struct Resume {
    state: String,
    input: Value,
    /// The state's `…StateEntered` event, when it was recorded before the runner stopped.
    entered: Option<u64>,
    retries: Vec<u32>,
}

/// What a state did.
enum Outcome {
    /// Go to the next state (or end, with `None`) with this output.
    Continue(Option<String>, Value),
    /// The execution ends here, unsuccessfully.
    Stop(Ending),
}

impl Interpreter {
    /// Runs one execution to its end, writing status/output/error/cause/stop_date and the
    /// history into `execution` as it goes.
    ///
    /// An execution that has a history already (the runner stopped while it ran) is taken up
    /// where its [`Position`] says, with an `ExecutionRedriven` event: a state it had not
    /// entered yet is entered, a Task state it was in is attempted again with the retries it
    /// had used. The machine's `TimeoutSeconds` counts from the execution's start.
    ///
    /// On [`StopRequest::Shutdown`] the execution stops at its next state (a running task is
    /// stopped by its runner and its outcome recorded first, a Wait or a retry interval is cut
    /// short) and [`RunEnd::Suspended`] is returned; on [`StopRequest::Abort`]
    /// ([`Execution::abort`]) it stops as soon as its task returns.
    pub async fn run(&self, execution: &Execution, tasks: &dyn TaskRunner) -> RunEnd {
        let record = execution.snapshot();
        if record.status != ExecutionStatus::Running {
            return RunEnd::Ended;
        }
        let resume = self.begin(execution, &record);
        let stop = execution.stop_watch();
        let context = Context {
            execution,
            identity: ExecutionIdentity {
                arn: record.execution_arn.clone(),
                name: record.name.clone(),
                start: record.start_date,
                state_machine_arn: record.state_machine_arn.clone(),
            },
            tasks,
            region: region_of(&record.execution_arn),
            jitter: std::sync::Mutex::new(Jitter::seeded(&record.execution_arn)),
            task: TaskContext {
                execution_name: record.name.clone(),
                stop: stop.clone(),
            },
        };
        let walk = self.run_states(&context, resume);
        let ending = match self.timeout_seconds {
            Some(seconds) => {
                let elapsed = SystemTime::now()
                    .duration_since(record.start_date)
                    .unwrap_or_default();
                let left = Duration::from_secs(seconds).saturating_sub(elapsed);
                tokio::time::timeout(left, walk).await.ok()
            }
            None => Some(walk.await),
        };
        self.finish(execution, ending)
    }

    /// Records the execution's start (or its taking up again); where its walk begins.
    fn begin(&self, execution: &Execution, record: &ExecutionRecord) -> Resume {
        let resume = if record.history.is_empty() {
            execution.record(
                "ExecutionStarted",
                Some((
                    "executionStartedEventDetails",
                    json!({ "input": text(&record.input), "inputDetails": { "truncated": false } }),
                )),
            );
            None
        } else {
            let count = record.redrive_count + 1;
            execution.update(|record| record.redrive_count = count);
            execution.record(
                "ExecutionRedriven",
                Some((
                    "executionRedrivenEventDetails",
                    json!({ "redriveCount": count }),
                )),
            );
            record.position.clone().map(|position| Resume {
                state: position.state,
                input: position.input,
                entered: position.entered,
                retries: position.retries,
            })
        };
        resume.unwrap_or_else(|| Resume {
            state: self.start_at.clone(),
            input: record.input.clone(),
            entered: None,
            retries: Vec::new(),
        })
    }

    /// Records how the walk ended (`None`: the machine's timeout).
    fn finish(&self, execution: &Execution, ending: Option<Ending>) -> RunEnd {
        let (status, output, error, cause) = match ending {
            Some(Ending::Suspended) => {
                execution.flush();
                return RunEnd::Suspended;
            }
            Some(Ending::Aborted) => return RunEnd::Ended,
            Some(Ending::Succeeded(output)) => {
                execution.record(
                    "ExecutionSucceeded",
                    Some((
                        "executionSucceededEventDetails",
                        json!({ "output": text(&output), "outputDetails": { "truncated": false } }),
                    )),
                );
                (ExecutionStatus::Succeeded, Some(output), None, None)
            }
            Some(Ending::Failed { error, cause }) => {
                let mut details = json!({ "error": error });
                if let Some(cause) = &cause {
                    details["cause"] = json!(cause);
                }
                execution.record(
                    "ExecutionFailed",
                    Some(("executionFailedEventDetails", details)),
                );
                (ExecutionStatus::Failed, None, Some(error), cause)
            }
            None => {
                let cause = format!(
                    "The execution ran longer than the state machine's TimeoutSeconds ({}).",
                    self.timeout_seconds.unwrap_or_default()
                );
                execution.record(
                    "ExecutionTimedOut",
                    Some((
                        "executionTimedOutEventDetails",
                        json!({ "error": STATES_TIMEOUT, "cause": cause }),
                    )),
                );
                (
                    ExecutionStatus::TimedOut,
                    None,
                    Some(STATES_TIMEOUT.to_owned()),
                    Some(cause),
                )
            }
        };
        execution.update(|record| {
            // A StopExecution that came first stands.
            if record.status == ExecutionStatus::Running {
                record.status = status;
                record.output = output;
                record.error = error;
                record.cause = cause;
                record.stop_date = Some(SystemTime::now());
                record.position = None;
            }
        });
        RunEnd::Ended
    }

    async fn run_states(&self, context: &Context<'_>, resume: Resume) -> Ending {
        let mut name = resume.state;
        let mut input = resume.input;
        let mut carried = Some((resume.entered, resume.retries));
        loop {
            let Some(step) = self.states.get(&name) else {
                return Ending::Failed {
                    error: STATES_RUNTIME.to_owned(),
                    cause: Some(format!(
                        "The execution was taken up at the state '{name}', which the state machine no longer has."
                    )),
                };
            };
            let kind = step.type_name();
            let (entered_before, retries) = carried.take().unwrap_or_default();
            let entered = match entered_before {
                Some(id) => id,
                None => match enter(context, &name, kind, &input) {
                    Ok(id) => id,
                    Err(stopped) => return stopped,
                },
            };
            let failure = StateFailure {
                name: &name,
                entered,
            };
            let outcome = match step {
                Step::Pass {
                    parameters,
                    result_path,
                    then,
                } => pass(parameters.as_ref(), result_path, then, input, &failure),
                Step::Task(task) => self.task(task, input, context, &failure, retries).await,
                Step::Choice { rules, default } => choose(rules, default.as_ref(), input, &failure),
                Step::Wait { seconds, next } => {
                    if let Some(stopped) = self.pause(context, self.scaled(*seconds as f64)).await {
                        return stopped;
                    }
                    Outcome::Continue(Some(next.clone()), input)
                }
                Step::Succeed => Outcome::Continue(None, input),
                Step::Fail { error, cause } => Outcome::Stop(fail(error, cause, &input, &failure)),
            };
            match outcome {
                Outcome::Continue(next, output) => {
                    context.execution.record(
                        &format!("{kind}StateExited"),
                        Some((
                            "stateExitedEventDetails",
                            json!({
                                "name": name,
                                "output": text(&output),
                                "outputDetails": { "truncated": false },
                            }),
                        )),
                    );
                    match next {
                        Some(next) => {
                            name = next;
                            input = output;
                        }
                        None => return Ending::Succeeded(output),
                    }
                }
                Outcome::Stop(ending) => return ending,
            }
        }
    }

    /// Sleeps `duration`, unless the execution is asked to stop first: then how it stops.
    async fn pause(&self, context: &Context<'_>, duration: Duration) -> Option<Ending> {
        let mut stop = context.task.stop.clone();
        tokio::select! {
            () = tokio::time::sleep(duration) => None,
            request = stop.requested() => Some(match request {
                StopRequest::Abort => Ending::Aborted,
                StopRequest::Shutdown => Ending::Suspended,
            }),
        }
    }

    /// Runs a Task state: attempts, retries (`used` of each retrier so far), catchers.
    async fn task(
        &self,
        task: &TaskStep,
        input: Value,
        context: &Context<'_>,
        failure: &StateFailure<'_>,
        mut used: Vec<u32>,
    ) -> Outcome {
        used.resize(task.retry.len(), 0);
        let entered_at = SystemTime::now();
        loop {
            match context.task.stop.get() {
                Some(StopRequest::Abort) => return Outcome::Stop(Ending::Aborted),
                Some(StopRequest::Shutdown) => return Outcome::Stop(Ending::Suspended),
                None => {}
            }
            let state = context_object(
                &context.identity,
                failure.name,
                entered_at,
                used.iter().sum(),
            );
            let attempted = self.attempt(task, &input, context, &state).await;
            if context.task.stop.get() == Some(StopRequest::Abort) {
                return Outcome::Stop(Ending::Aborted);
            }
            let error = match attempted {
                Ok(output) => return Outcome::Continue(next_of(&task.then), output),
                Err(Attempt::Runtime(detail)) => return Outcome::Stop(failure.runtime(&detail)),
                Err(Attempt::Failed(error)) => error,
            };
            match super::retry::handle(task, &mut used, error, &input, &context.jitter) {
                Handling::Retry(delay) => {
                    context.execution.update(|record| {
                        if let Some(position) = &mut record.position {
                            position.retries.clone_from(&used);
                        }
                    });
                    if let Some(stopped) = self.pause(context, self.scaled(delay)).await {
                        return Outcome::Stop(stopped);
                    }
                }
                Handling::Caught { next, output } => return Outcome::Continue(Some(next), output),
                Handling::Uncaught { error, cause } => {
                    return Outcome::Stop(Ending::Failed {
                        error,
                        cause: Some(cause),
                    });
                }
            }
        }
    }

    /// One attempt of a Task state: parameters, the runner (within the timeout), the
    /// result selector and path; the state's output, or why the attempt failed.
    async fn attempt(
        &self,
        task: &TaskStep,
        input: &Value,
        context: &Context<'_>,
        context_object: &Value,
    ) -> Result<Value, Attempt> {
        let (resource_type, resource) = split_resource(&task.resource);
        let details = |extra: Value| {
            let mut details = json!({ "resourceType": resource_type, "resource": resource });
            if let (Value::Object(details), Value::Object(extra)) = (&mut details, extra) {
                details.extend(extra);
            }
            details
        };
        let parameters = match &task.parameters {
            Some(template) => template
                .evaluate_in(input, Some(context_object))
                .map_err(Attempt::Runtime)?,
            None => input.clone(),
        };
        let mut scheduled = details(json!({ "parameters": text(&parameters) }));
        if let Some(region) = &context.region {
            scheduled["region"] = json!(region);
        }
        if let Some(seconds) = task.timeout_seconds {
            scheduled["timeoutInSeconds"] = json!(seconds);
        }
        let events = context.execution;
        events.record(
            "TaskScheduled",
            Some(("taskScheduledEventDetails", scheduled)),
        );
        events.record(
            "TaskStarted",
            Some(("taskStartedEventDetails", details(json!({})))),
        );
        let run = context.tasks.run(&task.resource, parameters, &context.task);
        let result = match task.timeout_seconds {
            Some(seconds) => tokio::time::timeout(Duration::from_secs(seconds), run)
                .await
                .unwrap_or_else(|_| {
                    Err(TaskError::new(
                        STATES_TIMEOUT,
                        format!("The task did not finish within its TimeoutSeconds ({seconds})."),
                    ))
                }),
            None => run.await,
        };
        let raw = result.map_err(|error| {
            let (kind, detail_name) = if error.error == STATES_TIMEOUT {
                ("TaskTimedOut", "taskTimedOutEventDetails")
            } else {
                ("TaskFailed", "taskFailedEventDetails")
            };
            let failed = details(json!({ "error": error.error, "cause": error.cause }));
            events.record(kind, Some((detail_name, failed)));
            Attempt::Failed(error)
        })?;
        events.record(
            "TaskSucceeded",
            Some((
                "taskSucceededEventDetails",
                details(json!({ "output": text(&raw), "outputDetails": { "truncated": false } })),
            )),
        );
        let selected = match &task.result_selector {
            Some(selector) => selector.evaluate(&raw).map_err(Attempt::Runtime)?,
            None => raw,
        };
        task.result_path
            .place(input.clone(), selected)
            .map_err(|placement| {
                Attempt::Failed(TaskError::new(
                    STATES_RESULT_PATH_MATCH_FAILURE,
                    placement.0,
                ))
            })
    }
}

/// Enters the state `name` (unless the execution is asked to stop: then how it stops):
/// records its `…StateEntered` event and moves the execution's position there.
fn enter(context: &Context<'_>, name: &str, kind: &str, input: &Value) -> Result<u64, Ending> {
    let position = |entered| Position {
        state: name.to_owned(),
        kind: kind.to_owned(),
        input: input.clone(),
        entered,
        retries: Vec::new(),
    };
    match context.task.stop.get() {
        Some(StopRequest::Abort) => return Err(Ending::Aborted),
        Some(StopRequest::Shutdown) => {
            context
                .execution
                .update(|record| record.position = Some(position(None)));
            return Err(Ending::Suspended);
        }
        None => {}
    }
    Ok(context.execution.record_at(
        &format!("{kind}StateEntered"),
        Some((
            "stateEnteredEventDetails",
            json!({
                "name": name,
                "input": text(input),
                "inputDetails": { "truncated": false },
            }),
        )),
        |id| Some(position(Some(id))),
    ))
}

/// Why one attempt of a Task state failed.
enum Attempt {
    /// `States.Runtime` in the state's own processing: fails the execution.
    Runtime(String),
    /// An error `Retry` and `Catch` may match.
    Failed(TaskError),
}

/// What a run shares with its states.
struct Context<'r> {
    execution: &'r Execution,
    /// The execution's ARN, name, start and state machine, for the context object.
    identity: ExecutionIdentity,
    tasks: &'r dyn TaskRunner,
    region: Option<String>,
    jitter: std::sync::Mutex<Jitter>,
    task: TaskContext,
}

/// What the context object says of the execution.
struct ExecutionIdentity {
    arn: String,
    name: String,
    start: SystemTime,
    state_machine_arn: String,
}

/// The context object a Task's `Parameters` see (`$$`): the fields of AWS's "Accessing
/// execution data from the Context object in Step Functions"
/// (<https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html>)
/// that the local runner knows: the execution's id (ARN), name and start time, the state's
/// name, entered time and retry count, the state machine's id.
fn context_object(
    identity: &ExecutionIdentity,
    state: &str,
    entered: SystemTime,
    retry_count: u32,
) -> Value {
    json!({
        "Execution": {
            "Id": identity.arn,
            "Name": identity.name,
            "StartTime": iso8601_millis(identity.start),
        },
        "State": {
            "Name": state,
            "EnteredTime": iso8601_millis(entered),
            "RetryCount": retry_count,
        },
        "StateMachine": {
            "Id": identity.state_machine_arn,
            "Name": identity.state_machine_arn.rsplit(':').next().unwrap_or_default(),
        },
    })
}

/// `2019-03-26T20:14:13.192Z`: the context object's times, to the millisecond.
fn iso8601_millis(time: SystemTime) -> String {
    let moment = time::OffsetDateTime::from(time);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    moment.format(&format).unwrap_or_default()
}

/// The state being executed, to word its runtime errors as Step Functions does.
struct StateFailure<'s> {
    name: &'s str,
    entered: u64,
}

impl StateFailure<'_> {
    fn runtime(&self, detail: &str) -> Ending {
        self.error(STATES_RUNTIME, detail)
    }

    fn error(&self, error: &str, detail: &str) -> Ending {
        Ending::Failed {
            error: error.to_owned(),
            cause: Some(format!(
                "An error occurred while executing the state '{}' (entered at the event id #{}). {detail}",
                self.name, self.entered
            )),
        }
    }
}

fn pass(
    parameters: Option<&PayloadTemplate>,
    result_path: &ReferencePath,
    then: &Transition,
    input: Value,
    failure: &StateFailure<'_>,
) -> Outcome {
    let result = match parameters {
        Some(template) => match template.evaluate(&input) {
            Ok(result) => result,
            Err(detail) => return Outcome::Stop(failure.runtime(&detail)),
        },
        None => input.clone(),
    };
    match result_path.place(input, result) {
        Ok(output) => Outcome::Continue(next_of(then), output),
        Err(placement) => {
            Outcome::Stop(failure.error(STATES_RESULT_PATH_MATCH_FAILURE, &placement.0))
        }
    }
}

fn choose(
    rules: &[(Rule, String)],
    default: Option<&String>,
    input: Value,
    failure: &StateFailure<'_>,
) -> Outcome {
    for (rule, next) in rules {
        match rule.holds(&input) {
            Ok(true) => return Outcome::Continue(Some(next.clone()), input),
            Ok(false) => {}
            Err(detail) => return Outcome::Stop(failure.runtime(&detail)),
        }
    }
    match default {
        Some(next) => Outcome::Continue(Some(next.clone()), input),
        None => Outcome::Stop(failure.error(
            STATES_NO_CHOICE_MATCHED,
            "No choice rule matched, and the state has no Default.",
        )),
    }
}

fn fail(error: &str, cause: &Cause, input: &Value, failure: &StateFailure<'_>) -> Ending {
    let cause = match cause {
        Cause::None => None,
        Cause::Fixed(cause) => Some(cause.clone()),
        Cause::Intrinsic(call) => match call.evaluate(input) {
            Ok(Value::String(cause)) => Some(cause),
            Ok(other) => {
                return failure.runtime(&format!(
                    "The CausePath function gave {other}, which is not a string."
                ));
            }
            Err(e) => return failure.runtime(&format!("The CausePath function failed: {e}")),
        },
        Cause::Path(path) => match path.get(input) {
            Some(Value::String(cause)) => Some(cause.clone()),
            Some(other) => {
                return failure.runtime(&format!(
                    "The CausePath {:?} names {other}, which is not a string.",
                    path.as_str()
                ));
            }
            None => {
                return failure.runtime(&format!(
                    "The CausePath {:?} could not be found in the input {input}",
                    path.as_str()
                ));
            }
        },
    };
    Ending::Failed {
        error: error.to_owned(),
        cause,
    }
}

fn next_of(then: &Transition) -> Option<String> {
    match then {
        Transition::Next(next) => Some(next.clone()),
        Transition::End => None,
    }
}

/// A value as the JSON text Step Functions puts in event details.
fn text(value: &Value) -> String {
    value.to_string()
}

/// `arn:aws:states:::lambda:invoke` → (`lambda`, `invoke`).
fn split_resource(resource: &str) -> (&str, &str) {
    let service = resource
        .strip_prefix("arn:aws:states:::")
        .unwrap_or(resource);
    // `aws-sdk:s3:putObject` is the type `aws-sdk:s3` and the resource `putObject`.
    service.rsplit_once(':').unwrap_or((service, ""))
}

/// The region of `arn:aws:states:<region>:<account>:execution:…`.
fn region_of(execution_arn: &str) -> Option<String> {
    execution_arn
        .split(':')
        .nth(3)
        .filter(|region| !region.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interpreter::SUPPORTED_RESOURCES;

    #[test]
    fn resources_split_into_type_and_name() {
        assert_eq!(split_resource(SUPPORTED_RESOURCES[0]), ("lambda", "invoke"));
        assert_eq!(
            split_resource(SUPPORTED_RESOURCES[1]),
            ("ecs", "runTask.sync")
        );
        assert_eq!(
            split_resource(SUPPORTED_RESOURCES[2]),
            ("aws-sdk:s3", "putObject")
        );
        assert_eq!(
            region_of("arn:aws:states:eu-west-1:123:execution:m:n").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("arn:aws:states::123:execution:m:n"), None);
    }
}
