//! Loading a definition: parsing, checking that everything in it is supported, and compiling
//! each state into the [`Step`] the runner walks.

use std::collections::HashMap;
use std::fmt;

use infra::asl::{Catcher, Retrier, State, StateMachine};
use serde_json::Value;

use super::choice::Rule;
use super::intrinsics::Intrinsic;
use super::paths::ReferencePath;
use super::template::PayloadTemplate;
use super::{Interpreter, STATES_ALL, SUPPORTED_RESOURCES};

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

/// Where a state goes after it succeeds.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Transition {
    Next(String),
    End,
}

/// A compiled state.
#[derive(Debug, Clone)]
pub(super) enum Step {
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
pub(super) enum Cause {
    None,
    Fixed(String),
    Path(ReferencePath),
    Intrinsic(Intrinsic),
}

#[derive(Debug, Clone)]
pub(super) struct TaskStep {
    pub(super) resource: String,
    pub(super) parameters: Option<PayloadTemplate>,
    pub(super) result_selector: Option<PayloadTemplate>,
    pub(super) result_path: ReferencePath,
    pub(super) timeout_seconds: Option<u64>,
    pub(super) retry: Vec<Retrier>,
    pub(super) catch: Vec<(Catcher, ReferencePath)>,
    pub(super) then: Transition,
}

impl Step {
    /// The state's `Type`, as history event names use it.
    pub(super) fn type_name(&self) -> &'static str {
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
}

/// The largest `MaxDelaySeconds` Step Functions accepts (it must be less than 31622401).
const MAX_DELAY_SECONDS_LIMIT: u64 = 31_622_400;

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

/// Only a Task's `Parameters` are given the context object here (what the failure records
/// need); a `$$` path anywhere else is refused at load rather than failing at run time where
/// Step Functions would give a value.
fn without_context(template: Option<PayloadTemplate>) -> Result<Option<PayloadTemplate>, String> {
    match template {
        Some(template) if template.reads_context() => Err(
            "the context object ($$) is read only in a Task's Parameters by this interpreter"
                .to_owned(),
        ),
        template => Ok(template),
    }
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

/// A Task's `Retry` fields within what Step Functions accepts.
fn check_retriers(retry: &[Retrier]) -> Result<(), String> {
    for retrier in retry {
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
    Ok(())
}

fn compile(state: &State) -> Result<Step, String> {
    Ok(match state {
        State::Pass(pass) => Step::Pass {
            parameters: without_context(template("Parameters", pass.parameters.as_ref())?)?,
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
            check_retriers(&task.retry)?;
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
                result_selector: without_context(template(
                    "ResultSelector",
                    task.result_selector.as_ref(),
                )?)?,
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
