//! Executions as Step Functions keeps them: status, input and output, and a history of events.
//!
//! The interpreter ([`crate::interpreter`]) writes them while it runs; the Step Functions API
//! ([`crate::sfn_api`]) and the runner's own display read them, at any time.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde_json::Value;

/// Where an execution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    /// Still running.
    Running,
    /// Reached a Succeed state or an End.
    Succeeded,
    /// Reached a Fail state, or an error nothing caught.
    Failed,
    /// Ran past the state machine's `TimeoutSeconds`.
    TimedOut,
}

impl ExecutionStatus {
    /// The name Step Functions uses: `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
        }
    }
}

/// One entry of an execution's history, as `GetExecutionHistory` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    /// 1, 2, 3, ... in order.
    pub id: u64,
    /// The event this one follows (0 for the first).
    pub previous_event_id: u64,
    /// When it happened.
    pub timestamp: SystemTime,
    /// Step Functions' event type: `ExecutionStarted`, `PassStateEntered`, `TaskScheduled`,
    /// `TaskSucceeded`, `ChoiceStateExited`, `ExecutionFailed`, ...
    pub kind: String,
    /// The details object, under the name Step Functions gives it for this type
    /// (`stateEnteredEventDetails`, `taskFailedEventDetails`, ...): `(field name, value)`.
    pub details: Option<(String, Value)>,
}

/// The state of one execution, shared between the interpreter and its readers.
#[derive(Debug, Clone)]
pub struct ExecutionRecord {
    /// `arn:aws:states:<region>:<account>:execution:<machine>:<name>`.
    pub execution_arn: String,
    /// The state machine's ARN.
    pub state_machine_arn: String,
    /// The execution's name (unique per state machine).
    pub name: String,
    /// Where it is.
    pub status: ExecutionStatus,
    /// When it started.
    pub start_date: SystemTime,
    /// When it ended.
    pub stop_date: Option<SystemTime>,
    /// Its input.
    pub input: Value,
    /// Its output, once succeeded.
    pub output: Option<Value>,
    /// The error name, once failed.
    pub error: Option<String>,
    /// The error's cause, once failed.
    pub cause: Option<String>,
    /// What happened, in order.
    pub history: Vec<HistoryEvent>,
}

/// A handle on an execution's record: cheap to clone, safe to read while it runs.
#[derive(Debug, Clone)]
pub struct Execution(Arc<Mutex<ExecutionRecord>>);

impl Execution {
    /// A new running execution with an empty history.
    pub fn new(
        execution_arn: String,
        state_machine_arn: String,
        name: String,
        input: Value,
    ) -> Execution {
        Execution(Arc::new(Mutex::new(ExecutionRecord {
            execution_arn,
            state_machine_arn,
            name,
            status: ExecutionStatus::Running,
            start_date: SystemTime::now(),
            stop_date: None,
            input,
            output: None,
            error: None,
            cause: None,
            history: Vec::new(),
        })))
    }

    /// A copy of the record as it is now.
    pub fn snapshot(&self) -> ExecutionRecord {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes the record under its lock.
    pub fn update<T>(&self, change: impl FnOnce(&mut ExecutionRecord) -> T) -> T {
        change(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Appends a history event (`previous_event_id` is the last event's id); returns its id.
    pub fn record(&self, kind: &str, details: Option<(&str, Value)>) -> u64 {
        self.update(|record| {
            let previous = record.history.last().map_or(0, |e| e.id);
            let id = previous + 1;
            record.history.push(HistoryEvent {
                id,
                previous_event_id: previous,
                timestamp: SystemTime::now(),
                kind: kind.to_owned(),
                details: details.map(|(name, value)| (name.to_owned(), value)),
            });
            id
        })
    }
}

/// Every execution of the runner, in start order.
#[derive(Debug, Clone, Default)]
pub struct Executions(Arc<Mutex<Vec<Execution>>>);

impl Executions {
    /// Adds an execution.
    pub fn push(&self, execution: Execution) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(execution);
    }

    /// All of them, in start order.
    pub fn all(&self) -> Vec<Execution> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The one with this ARN.
    pub fn find(&self, execution_arn: &str) -> Option<Execution> {
        self.all()
            .into_iter()
            .find(|e| e.snapshot().execution_arn == execution_arn)
    }
}
