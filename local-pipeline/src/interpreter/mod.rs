//! A local interpreter of the Amazon States Language: the subset the pipeline's generated
//! state machine uses ([`infra::asl`]), executed as Step Functions does, with the history
//! Step Functions keeps.
//!
//! [`Interpreter::load`] refuses anything outside that subset (a state type, a field, a
//! JSONPath feature, an intrinsic function, a task integration) with a [`LoadError`] naming
//! the state and the feature, so a definition never runs differently here than in AWS
//! without saying so. Tasks are delegated to a [`TaskRunner`].
//!
//! Semantics, per the States Language specification and the Step Functions documentation:
//! - input and output processing: `Parameters` (payload template over the state's input),
//!   the task's result, `ResultSelector` (payload template over the result), `ResultPath`
//!   (absent or `$` replaces the input, `$.a.b` sets or creates that member);
//! - a path that names nothing, an intrinsic function that fails on its values, a choice
//!   comparison on a missing path: `States.Runtime`, which no `Retry` or `Catch` matches and
//!   which fails the execution;
//! - `Retry`: the first retrier whose `ErrorEquals` matches decides (when its `MaxAttempts`
//!   are used up, the error goes to `Catch`); the n-th retry waits `IntervalSeconds *
//!   BackoffRate^n`, capped by `MaxDelaySeconds`, and with `JitterStrategy: FULL` a
//!   uniformly random part of that (seeded by the execution's ARN, so reproducible);
//! - `Catch`: the first catcher that matches places `{"Error", "Cause"}` at its
//!   `ResultPath` in the state's input and goes to its `Next`;
//! - `States.ALL` matches every error but `States.Runtime`; `States.TaskFailed` every error
//!   but `States.Runtime` and `States.Timeout`;
//! - a Task's `TimeoutSeconds` fails an attempt that runs longer with `States.Timeout`; the
//!   machine's `TimeoutSeconds` ends the execution as `TIMED_OUT`.
//!
//! Waits (`Wait` states and retry intervals) are multiplied by the time scale
//! ([`Interpreter::with_time_scale`]), so tests and the local pipeline run the real
//! definition quickly. Timeouts (a Task's and the machine's `TimeoutSeconds`) are never
//! scaled: they bound real work (a processor's run), which a time scale does not speed up.

pub mod choice;
pub mod intrinsics;
pub mod paths;
pub mod template;

use std::collections::HashMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, SystemTime};

use infra::asl::{Catcher, JitterStrategy, Retrier, State, StateMachine};
use serde_json::{Value, json};

use crate::execution::{
    Execution, ExecutionRecord, ExecutionStatus, Position, StopRequest, StopWatch,
};
use choice::Rule;
use intrinsics::Intrinsic;
use paths::ReferencePath;
use template::PayloadTemplate;

/// The task integrations this interpreter runs (through a [`TaskRunner`]).
pub const SUPPORTED_RESOURCES: [&str; 2] = [
    "arn:aws:states:::lambda:invoke",
    "arn:aws:states:::ecs:runTask.sync",
];

/// The error no `Retry` or `Catch` matches.
pub const STATES_RUNTIME: &str = "States.Runtime";
/// A task (or the execution) ran past its `TimeoutSeconds`.
pub const STATES_TIMEOUT: &str = "States.Timeout";
/// Matches every error but [`STATES_RUNTIME`].
pub const STATES_ALL: &str = "States.ALL";
/// Matches every error but [`STATES_RUNTIME`] and [`STATES_TIMEOUT`].
pub const STATES_TASK_FAILED: &str = "States.TaskFailed";
/// A Choice state with no matching rule and no `Default`.
pub const STATES_NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
/// A `ResultPath` that cannot be applied to the state's input.
pub const STATES_RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";

/// What a Task state's integration does; the runner implements it for Lambda and ECS.
#[async_trait::async_trait]
pub trait TaskRunner: Send + Sync {
    /// Runs the integration `resource` (e.g. "arn:aws:states:::lambda:invoke") with the
    /// task's effective parameters (paths and intrinsics already resolved), for the execution
    /// `task` describes; returns the integration's raw output, or the task's error.
    ///
    /// When `task.stop` fires, the work should stop as its service stops it (an ECS task gets
    /// SIGTERM, then SIGKILL) and its outcome be returned as usual.
    async fn run(
        &self,
        resource: &str,
        parameters: Value,
        task: &TaskContext,
    ) -> Result<Value, TaskError>;
}

/// What a task knows of the execution it runs for.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// The execution's name (task logs are kept per execution).
    pub execution_name: String,
    /// The execution's stop requests.
    pub stop: StopWatch,
}

impl TaskContext {
    /// A context for running a task outside an execution: named `name`, never stopped.
    pub fn detached(name: &str) -> TaskContext {
        TaskContext {
            execution_name: name.to_owned(),
            stop: StopWatch::never(),
        }
    }
}

/// How [`Interpreter::run`] left an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// It ended (succeeded, failed, timed out, or was aborted).
    Ended,
    /// The runner is stopping ([`StopRequest::Shutdown`]): the execution stopped at a state
    /// boundary, still `RUNNING`, its [`Position`] saved, to be taken up by a later `run`.
    Suspended,
}

/// A task's failure: Step Functions' error name and cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    /// The error name `Retry` and `Catch` match, such as `Lambda.ServiceException`,
    /// `States.TaskFailed`, or the Lambda function's error type.
    pub error: String,
    /// The explanation (for ECS, the stopped task as JSON text).
    pub cause: String,
}

impl TaskError {
    /// A task error named `error`, explained by `cause`.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> TaskError {
        TaskError {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

impl std::error::Error for TaskError {}

/// Why a definition cannot be run here: the state (when the problem is in one) and the
/// feature or mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The state the problem is in, if it is in one.
    pub state: Option<String>,
    /// What is wrong or unsupported.
    pub problem: String,
}

impl LoadError {
    fn machine(problem: impl Into<String>) -> LoadError {
        LoadError {
            state: None,
            problem: problem.into(),
        }
    }

    fn in_state(state: &str, problem: impl Into<String>) -> LoadError {
        LoadError {
            state: Some(state.to_owned()),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            Some(state) => write!(f, "state {state:?}: {}", self.problem),
            None => write!(f, "state machine: {}", self.problem),
        }
    }
}

impl std::error::Error for LoadError {}

/// A loaded state machine, ready to run executions.
#[derive(Debug, Clone)]
pub struct Interpreter {
    start_at: String,
    timeout_seconds: Option<u64>,
    states: HashMap<String, Step>,
    scale: f64,
}

/// Where a state goes after it succeeds.
#[derive(Debug, Clone, PartialEq)]
enum Transition {
    Next(String),
    End,
}

/// A compiled state.
#[derive(Debug, Clone)]
enum Step {
    Pass {
        parameters: Option<PayloadTemplate>,
        result_path: ReferencePath,
        then: Transition,
    },
    Task(Box<TaskStep>),
    Choice {
        rules: Vec<(Rule, String)>,
        default: Option<String>,
    },
    Wait {
        seconds: u64,
        next: String,
    },
    Succeed,
    Fail {
        error: String,
        cause: Cause,
    },
}

#[derive(Debug, Clone)]
enum Cause {
    None,
    Fixed(String),
    Path(ReferencePath),
    Intrinsic(Intrinsic),
}

#[derive(Debug, Clone)]
struct TaskStep {
    resource: String,
    parameters: Option<PayloadTemplate>,
    result_selector: Option<PayloadTemplate>,
    result_path: ReferencePath,
    timeout_seconds: Option<u64>,
    retry: Vec<Retrier>,
    catch: Vec<(Catcher, ReferencePath)>,
    then: Transition,
}

impl Step {
    /// The state's `Type`, as history event names use it.
    fn type_name(&self) -> &'static str {
        match self {
            Step::Pass { .. } => "Pass",
            Step::Task(_) => "Task",
            Step::Choice { .. } => "Choice",
            Step::Wait { .. } => "Wait",
            Step::Succeed => "Succeed",
            Step::Fail { .. } => "Fail",
        }
    }
}

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
    /// Loads a definition (already substituted JSON text): parse into
    /// [`infra::asl::StateMachine`], validate, and check everything this interpreter must
    /// support (every path parses, every intrinsic is one it implements with the right
    /// arity, every Task `Resource` is one of the [`SUPPORTED_RESOURCES`]); anything else is
    /// a [`LoadError`] naming the state and the feature.
    pub fn load(definition: &str) -> Result<Interpreter, LoadError> {
        let raw: Value = serde_json::from_str(definition)
            .map_err(|e| LoadError::machine(format!("the definition is not JSON: {e}")))?;
        // Each state on its own first, so the error names the state.
        if let Some(states) = raw.get("States").and_then(Value::as_object) {
            for (name, state) in states {
                serde_json::from_value::<State>(state.clone())
                    .map_err(|e| LoadError::in_state(name, e.to_string()))?;
                refuse_null_result_paths(name, state)?;
            }
        }
        let machine: StateMachine =
            serde_json::from_str(definition).map_err(|e| LoadError::machine(e.to_string()))?;
        machine.validate().map_err(LoadError::machine)?;
        let mut states = HashMap::new();
        for (name, state) in machine.states.iter() {
            let step = compile(state).map_err(|problem| LoadError::in_state(name, problem))?;
            states.insert(name.to_owned(), step);
        }
        Ok(Interpreter {
            start_at: machine.start_at,
            timeout_seconds: machine.timeout_seconds,
            states,
            scale: 1.0,
        })
    }

    /// Waits (Retry intervals and Wait states) are multiplied by `scale` (1.0 real time; tests
    /// use e.g. 0.001). `TimeoutSeconds` (of a Task or of the machine) stays real time.
    #[must_use]
    pub fn with_time_scale(self, scale: f64) -> Interpreter {
        assert!(
            scale.is_finite() && scale >= 0.0,
            "the time scale must be a finite number >= 0, not {scale}"
        );
        Interpreter { scale, ..self }
    }

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

    fn scaled(&self, seconds: f64) -> Duration {
        Duration::try_from_secs_f64(seconds * self.scale).unwrap_or(Duration::MAX)
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
        loop {
            match context.task.stop.get() {
                Some(StopRequest::Abort) => return Outcome::Stop(Ending::Aborted),
                Some(StopRequest::Shutdown) => return Outcome::Stop(Ending::Suspended),
                None => {}
            }
            let attempted = self.attempt(task, &input, context).await;
            if context.task.stop.get() == Some(StopRequest::Abort) {
                return Outcome::Stop(Ending::Aborted);
            }
            let error = match attempted {
                Ok(output) => return Outcome::Continue(next_of(&task.then), output),
                Err(Attempt::Runtime(detail)) => return Outcome::Stop(failure.runtime(&detail)),
                Err(Attempt::Failed(error)) => error,
            };
            if error.error == STATES_RUNTIME {
                return Outcome::Stop(Ending::Failed {
                    error: error.error,
                    cause: Some(error.cause),
                });
            }
            if let Some(index) = task
                .retry
                .iter()
                .position(|r| matches_error(&r.error_equals, &error.error))
            {
                let retrier = &task.retry[index];
                if used[index] < retrier.max_attempts {
                    let delay = retry_delay(retrier, used[index], &context.jitter);
                    used[index] += 1;
                    context.execution.update(|record| {
                        if let Some(position) = &mut record.position {
                            position.retries.clone_from(&used);
                        }
                    });
                    if let Some(stopped) = self.pause(context, self.scaled(delay)).await {
                        return Outcome::Stop(stopped);
                    }
                    continue;
                }
            }
            if let Some((catcher, result_path)) = task
                .catch
                .iter()
                .find(|(catcher, _)| matches_error(&catcher.error_equals, &error.error))
            {
                let caught = json!({ "Error": error.error, "Cause": error.cause });
                return match result_path.place(input, caught) {
                    Ok(output) => Outcome::Continue(Some(catcher.next.clone()), output),
                    Err(placement) => Outcome::Stop(Ending::Failed {
                        error: STATES_RESULT_PATH_MATCH_FAILURE.to_owned(),
                        cause: Some(placement.0),
                    }),
                };
            }
            return Outcome::Stop(Ending::Failed {
                error: error.error,
                cause: Some(error.cause),
            });
        }
    }

    /// One attempt of a Task state: parameters, the runner (within the timeout), the
    /// result selector and path; the state's output, or why the attempt failed.
    async fn attempt(
        &self,
        task: &TaskStep,
        input: &Value,
        context: &Context<'_>,
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
            Some(template) => template.evaluate(input).map_err(Attempt::Runtime)?,
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
    tasks: &'r dyn TaskRunner,
    region: Option<String>,
    jitter: std::sync::Mutex<Jitter>,
    task: TaskContext,
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

/// Whether an `ErrorEquals` list matches `error`.
fn matches_error(error_equals: &[String], error: &str) -> bool {
    if error == STATES_RUNTIME {
        return false;
    }
    error_equals.iter().any(|name| {
        name == error
            || name == STATES_ALL
            || (name == STATES_TASK_FAILED && error != STATES_TIMEOUT)
    })
}

/// The largest `MaxDelaySeconds` Step Functions accepts (it must be less than 31622401).
const MAX_DELAY_SECONDS_LIMIT: u64 = 31_622_400;

/// Seconds before the next retry of `retrier`, which has retried `done` times.
fn retry_delay(retrier: &Retrier, done: u32, jitter: &std::sync::Mutex<Jitter>) -> f64 {
    let exponent = i32::try_from(done).unwrap_or(i32::MAX);
    let mut delay = retrier.interval_seconds as f64 * retrier.backoff_rate.powi(exponent);
    if let Some(max) = retrier.max_delay_seconds {
        delay = delay.min(max as f64);
    }
    if retrier.jitter_strategy == Some(JitterStrategy::Full) {
        delay *= jitter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .next_fraction();
    }
    delay
}

/// A small seeded generator (SplitMix64) for `JitterStrategy: FULL`.
#[derive(Debug)]
struct Jitter(u64);

impl Jitter {
    fn seeded(seed: &str) -> Jitter {
        let mut hasher = DefaultHasher::new();
        seed.hash(&mut hasher);
        Jitter(hasher.finish())
    }

    /// A number in [0, 1].
    fn next_fraction(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
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
    service.split_once(':').unwrap_or((service, ""))
}

/// The region of `arn:aws:states:<region>:<account>:execution:…`.
fn region_of(execution_arn: &str) -> Option<String> {
    execution_arn
        .split(':')
        .nth(3)
        .filter(|region| !region.is_empty())
        .map(str::to_owned)
}

/// `ResultPath: null` (discard the result) parses as an absent `ResultPath` (`$`) in the
/// model; refuse it rather than run it differently.
fn refuse_null_result_paths(name: &str, state: &Value) -> Result<(), LoadError> {
    let null_result_path = |object: &Value| object.get("ResultPath").is_some_and(Value::is_null);
    let catchers = state.get("Catch").and_then(Value::as_array);
    if null_result_path(state) || catchers.is_some_and(|c| c.iter().any(null_result_path)) {
        return Err(LoadError::in_state(
            name,
            "ResultPath null (discarding the result) is not supported",
        ));
    }
    Ok(())
}

fn result_path(path: Option<&String>) -> Result<ReferencePath, String> {
    let path = ReferencePath::parse(path.map_or("$", String::as_str))
        .map_err(|e| format!("ResultPath: {e}"))?;
    if !path.is_members_only() {
        return Err(format!(
            "ResultPath {:?}: an array index in a ResultPath is not supported",
            path.as_str()
        ));
    }
    Ok(path)
}

fn transition(next: Option<&String>) -> Transition {
    next.map_or(Transition::End, |next| Transition::Next(next.clone()))
}

fn template(field: &str, value: Option<&Value>) -> Result<Option<PayloadTemplate>, String> {
    value
        .map(|value| PayloadTemplate::compile(value).map_err(|e| format!("{field}: {e}")))
        .transpose()
}

fn check_error_equals(field: &str, rules: &[&[String]]) -> Result<(), String> {
    for (index, names) in rules.iter().enumerate() {
        if names.is_empty() {
            return Err(format!("{field}: an ErrorEquals is empty"));
        }
        if names.iter().any(|n| n == STATES_ALL) && (names.len() > 1 || index + 1 != rules.len()) {
            return Err(format!(
                "{field}: States.ALL must be alone in its ErrorEquals, in the last rule"
            ));
        }
    }
    Ok(())
}

fn compile(state: &State) -> Result<Step, String> {
    Ok(match state {
        State::Pass(pass) => Step::Pass {
            parameters: template("Parameters", pass.parameters.as_ref())?,
            result_path: result_path(pass.result_path.as_ref())?,
            then: transition(pass.next.as_ref()),
        },
        State::Task(task) => {
            if !SUPPORTED_RESOURCES.contains(&task.resource.as_str()) {
                return Err(format!(
                    "the Task Resource {:?} is not supported (only {})",
                    task.resource,
                    SUPPORTED_RESOURCES.join(", ")
                ));
            }
            if task.timeout_seconds == Some(0) {
                return Err("TimeoutSeconds must be at least 1".to_owned());
            }
            for retrier in &task.retry {
                if retrier.backoff_rate < 1.0 {
                    return Err(format!(
                        "Retry: BackoffRate {} is less than 1.0",
                        retrier.backoff_rate
                    ));
                }
                if retrier.interval_seconds == 0 {
                    return Err("Retry: IntervalSeconds must be at least 1".to_owned());
                }
                if let Some(max) = retrier.max_delay_seconds
                    && !(1..=MAX_DELAY_SECONDS_LIMIT).contains(&max)
                {
                    return Err(format!(
                        "Retry: MaxDelaySeconds {max} is not between 1 and {MAX_DELAY_SECONDS_LIMIT}"
                    ));
                }
            }
            let retry_rules: Vec<&[String]> = task
                .retry
                .iter()
                .map(|r| r.error_equals.as_slice())
                .collect();
            check_error_equals("Retry", &retry_rules)?;
            let catch_rules: Vec<&[String]> = task
                .catch
                .iter()
                .map(|c| c.error_equals.as_slice())
                .collect();
            check_error_equals("Catch", &catch_rules)?;
            let catch = task
                .catch
                .iter()
                .map(|catcher| {
                    result_path(catcher.result_path.as_ref())
                        .map(|path| (catcher.clone(), path))
                        .map_err(|e| format!("Catch: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Step::Task(Box::new(TaskStep {
                resource: task.resource.clone(),
                parameters: template("Parameters", task.parameters.as_ref())?,
                result_selector: template("ResultSelector", task.result_selector.as_ref())?,
                result_path: result_path(task.result_path.as_ref())?,
                timeout_seconds: task.timeout_seconds,
                retry: task.retry.clone(),
                catch,
                then: transition(task.next.as_ref()),
            }))
        }
        State::Choice(choice) => Step::Choice {
            rules: choice
                .choices
                .iter()
                .map(|rule| {
                    let next = rule.next.clone().ok_or("a choice rule has no Next")?;
                    Rule::compile(rule).map(|rule| (rule, next))
                })
                .collect::<Result<Vec<_>, String>>()?,
            default: choice.default.clone(),
        },
        State::Wait(wait) => Step::Wait {
            seconds: wait.seconds,
            next: wait.next.clone(),
        },
        State::Succeed(_) => Step::Succeed,
        State::Fail(fail) => Step::Fail {
            error: fail.error.clone(),
            cause: match (&fail.cause, &fail.cause_path) {
                (Some(_), Some(_)) => {
                    return Err("a Fail state takes Cause or CausePath, not both".to_owned());
                }
                (Some(cause), None) => Cause::Fixed(cause.clone()),
                (None, Some(call)) if call.starts_with("States.") => {
                    Cause::Intrinsic(Intrinsic::parse(call).map_err(|e| format!("CausePath: {e}"))?)
                }
                (None, Some(path)) => {
                    Cause::Path(ReferencePath::parse(path).map_err(|e| format!("CausePath: {e}"))?)
                }
                (None, None) => Cause::None,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_matching_follows_the_wildcards() {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(matches_error(&names(&["A", "B"]), "B"));
        assert!(!matches_error(&names(&["A"]), "B"));
        assert!(matches_error(&names(&[STATES_ALL]), STATES_TIMEOUT));
        assert!(!matches_error(&names(&[STATES_ALL]), STATES_RUNTIME));
        assert!(matches_error(
            &names(&[STATES_TASK_FAILED]),
            "Lambda.ServiceException"
        ));
        assert!(!matches_error(
            &names(&[STATES_TASK_FAILED]),
            STATES_TIMEOUT
        ));
        assert!(!matches_error(&names(&[STATES_RUNTIME]), STATES_RUNTIME));
    }

    #[test]
    fn retry_delays_back_off_and_cap() {
        let retrier = Retrier {
            error_equals: vec!["E".into()],
            interval_seconds: 2,
            max_attempts: 6,
            backoff_rate: 2.0,
            max_delay_seconds: Some(60),
            jitter_strategy: None,
        };
        let jitter = std::sync::Mutex::new(Jitter::seeded("x"));
        let delays: Vec<f64> = (0..6).map(|n| retry_delay(&retrier, n, &jitter)).collect();
        assert_eq!(delays, [2.0, 4.0, 8.0, 16.0, 32.0, 60.0]);
        let full = Retrier {
            jitter_strategy: Some(JitterStrategy::Full),
            ..retrier
        };
        let jittered: Vec<f64> = (0..6).map(|n| retry_delay(&full, n, &jitter)).collect();
        for (jittered, cap) in jittered.iter().zip(delays) {
            assert!((0.0..=cap).contains(jittered), "{jittered} > {cap}");
        }
        assert!(
            jittered
                .windows(2)
                .any(|w| (w[0] - w[1]).abs() > f64::EPSILON)
        );
        let again = std::sync::Mutex::new(Jitter::seeded("x"));
        let first = retry_delay(&full, 0, &again);
        let replay = std::sync::Mutex::new(Jitter::seeded("x"));
        assert!((first - retry_delay(&full, 0, &replay)).abs() < f64::EPSILON);
    }

    #[test]
    fn full_jitter_spreads_the_capped_delay_over_all_of_it() {
        // The 10th retry: 1 * 2^9 = 512 s uncapped, 120 s with the cap; full jitter draws
        // uniformly below the capped delay, not below the uncapped one, nor near it only.
        let retrier = Retrier {
            error_equals: vec!["E".into()],
            interval_seconds: 1,
            max_attempts: 20,
            backoff_rate: 2.0,
            max_delay_seconds: Some(120),
            jitter_strategy: Some(JitterStrategy::Full),
        };
        let jitter = std::sync::Mutex::new(Jitter::seeded("arn:aws:states:r:1:execution:m:n"));
        let draws: Vec<f64> = (0..2_000)
            .map(|_| retry_delay(&retrier, 9, &jitter))
            .collect();
        assert!(draws.iter().all(|d| (0.0..=120.0).contains(d)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((55.0..65.0).contains(&mean), "mean {mean}");
        for quarter in 0..4 {
            let low = f64::from(quarter) * 30.0;
            let share = draws
                .iter()
                .filter(|d| (low..low + 30.0).contains(*d))
                .count();
            assert!(
                (400..600).contains(&share),
                "{share} in [{low}, {})",
                low + 30.0
            );
        }
        // Executions draw apart: two ARNs, two sequences.
        let other = std::sync::Mutex::new(Jitter::seeded("arn:aws:states:r:1:execution:m:o"));
        let first: Vec<f64> = (0..5).map(|_| retry_delay(&retrier, 0, &other)).collect();
        let again = std::sync::Mutex::new(Jitter::seeded("arn:aws:states:r:1:execution:m:n"));
        let second: Vec<f64> = (0..5).map(|_| retry_delay(&retrier, 0, &again)).collect();
        assert_ne!(first, second);
    }

    #[test]
    fn resources_split_into_type_and_name() {
        assert_eq!(split_resource(SUPPORTED_RESOURCES[0]), ("lambda", "invoke"));
        assert_eq!(
            split_resource(SUPPORTED_RESOURCES[1]),
            ("ecs", "runTask.sync")
        );
        assert_eq!(
            region_of("arn:aws:states:eu-west-1:123:execution:m:n").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("arn:aws:states::123:execution:m:n"), None);
    }
}
