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
//!
//! Layout: `load` parses, checks and compiles a definition into steps; `run` walks them for
//! an execution (input and output processing, Task attempts, history, stopping and taking up
//! again); `retry` holds Retry and Catch (error matching, backoff and jitter, what a failure
//! leads to); `paths`, `template`, `intrinsics` and `choice` are the JSONPath, payload
//! template, intrinsic function and Choice rule languages.

pub mod choice;
pub mod intrinsics;
mod load;
pub mod paths;
mod retry;
mod run;
pub mod template;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::execution::StopWatch;
pub use load::LoadError;
use load::Step;

/// The task integrations this interpreter runs (through a [`TaskRunner`]).
pub const SUPPORTED_RESOURCES: [&str; 3] = [
    "arn:aws:states:::lambda:invoke",
    "arn:aws:states:::ecs:runTask.sync",
    "arn:aws:states:::aws-sdk:s3:putObject",
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
    /// The runner is stopping
    /// ([`StopRequest::Shutdown`](crate::execution::StopRequest::Shutdown)): the execution
    /// stopped at a state boundary, still `RUNNING`, its
    /// [`Position`](crate::execution::Position) saved, to be taken up by a later `run`.
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

/// A loaded state machine, ready to run executions.
#[derive(Debug, Clone)]
pub struct Interpreter {
    start_at: String,
    timeout_seconds: Option<u64>,
    states: HashMap<String, Step>,
    scale: f64,
}

impl Interpreter {
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

    fn scaled(&self, seconds: f64) -> Duration {
        Duration::try_from_secs_f64(seconds * self.scale).unwrap_or(Duration::MAX)
    }
}
