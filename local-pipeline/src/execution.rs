//! Executions as Step Functions keeps them: status, input and output, and a history of events.
//!
//! The interpreter ([`crate::interpreter`]) writes them while it runs; the Step Functions API
//! ([`crate::sfn_api`]) and the runner's own display read them, at any time. An execution
//! given a [`Journal`] (the pipeline's data directory, [`crate::data_dir`]) saves itself
//! after every change, so it survives a restart; its [`Position`] says where to take it up.
//!
//! An ended execution's history is closed: events recorded after its terminal event (by an
//! interpreter that has not yet seen a `StopExecution`) are dropped, as Step Functions drops
//! them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::data_dir::Journal;

/// Where an execution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Still running (or, after a restart, waiting to be taken up again).
    Running,
    /// Reached a Succeed state or an End.
    Succeeded,
    /// Reached a Fail state, or an error nothing caught.
    Failed,
    /// Ran past the state machine's `TimeoutSeconds`.
    TimedOut,
    /// Stopped by `StopExecution`.
    Aborted,
}

impl ExecutionStatus {
    /// The name Step Functions uses: `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

/// One entry of an execution's history, as `GetExecutionHistory` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// Where a running execution is: the state it is in (or about to enter) and that state's
/// input, so that an execution the runner stopped (or lost in a crash) is taken up there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The state's name.
    pub state: String,
    /// The state's `Type` (`Task`, `Wait`, ...).
    pub kind: String,
    /// The state's input.
    pub input: Value,
    /// The id of its `…StateEntered` event, once recorded (`None`: not entered yet).
    pub entered: Option<u64>,
    /// For a Task state, how many retries each of its retriers has used.
    pub retries: Vec<u32>,
}

/// The state of one execution, shared between the interpreter and its readers.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// The error name, once failed (or aborted with one).
    pub error: Option<String>,
    /// The error's cause, once failed (or aborted with one).
    pub cause: Option<String>,
    /// What happened, in order.
    pub history: Vec<HistoryEvent>,
    /// Where a running execution is (`None` before its first state).
    #[serde(default)]
    pub position: Option<Position>,
    /// How many times it was taken up again after the runner stopped.
    #[serde(default)]
    pub redrive_count: u32,
}

/// Why an execution is asked to stop what it is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    /// The runner is stopping: running tasks get SIGTERM; the execution stops at its next
    /// state and is taken up again after a restart.
    Shutdown,
    /// `StopExecution`: the execution is already `ABORTED`; its running task gets SIGTERM.
    Abort,
}

/// The receiving end of an execution's stop requests.
#[derive(Debug, Clone)]
pub struct StopWatch(watch::Receiver<Option<StopRequest>>);

impl StopWatch {
    /// A watch that never fires (for running a task outside an execution).
    pub fn never() -> StopWatch {
        StopWatch(watch::channel(None).1)
    }

    /// The request made so far, if any.
    pub fn get(&self) -> Option<StopRequest> {
        *self.0.borrow()
    }

    /// Resolves once the execution is aborted (never, if it cannot be any more).
    pub async fn aborted(&mut self) {
        if self
            .0
            .wait_for(|request| *request == Some(StopRequest::Abort))
            .await
            .is_err()
        {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves with the request once one is made (never, if none can be made any more).
    pub async fn requested(&mut self) -> StopRequest {
        let request = match self.0.wait_for(Option::is_some).await {
            Ok(request) => *request,
            Err(_) => None,
        };
        match request {
            Some(request) => request,
            None => std::future::pending().await,
        }
    }
}

#[derive(Debug)]
struct Inner {
    record: Mutex<ExecutionRecord>,
    stop: watch::Sender<Option<StopRequest>>,
    journal: Option<Journal>,
}

/// A handle on an execution's record: cheap to clone, safe to read while it runs.
#[derive(Debug, Clone)]
pub struct Execution(Arc<Inner>);

/// Why `StopExecution` changed nothing: the execution had already ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the execution is not running ({})", .status.as_str())]
pub struct NotRunning {
    /// How it ended.
    pub status: ExecutionStatus,
    /// When.
    pub stop_date: Option<SystemTime>,
}

impl Execution {
    /// A new running execution with an empty history, kept in memory only.
    pub fn new(
        execution_arn: String,
        state_machine_arn: String,
        name: String,
        input: Value,
    ) -> Execution {
        Execution::with_record(
            ExecutionRecord {
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
                position: None,
                redrive_count: 0,
            },
            None,
        )
    }

    /// An execution of this record (new or read back), saved to `journal` after every change
    /// when there is one ([`Execution::flush`] saves it at once).
    pub fn with_record(record: ExecutionRecord, journal: Option<Journal>) -> Execution {
        Execution(Arc::new(Inner {
            record: Mutex::new(record),
            stop: watch::channel(None).0,
            journal,
        }))
    }

    /// A copy of the record as it is now.
    pub fn snapshot(&self) -> ExecutionRecord {
        self.lock().clone()
    }

    /// Reads the record under its lock (no copy).
    pub fn read<T>(&self, read: impl FnOnce(&ExecutionRecord) -> T) -> T {
        read(&self.lock())
    }

    /// Where it is.
    pub fn status(&self) -> ExecutionStatus {
        self.lock().status
    }

    /// Its name.
    pub fn name(&self) -> String {
        self.lock().name.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ExecutionRecord> {
        self.0.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Saves the record (durably when `sync`); a failure is logged: the execution goes on.
    fn save(&self, record: &ExecutionRecord, sync: bool) {
        if let Some(journal) = &self.0.journal
            && let Err(error) = journal.save(record, sync)
        {
            tracing::error!(execution = %record.name, %error, "cannot save the execution");
        }
    }

    /// Saves the record now, durably (fsync).
    pub fn flush(&self) {
        let record = self.lock();
        self.save(&record, true);
    }

    /// Changes the record under its lock, then saves it (durably once it has ended).
    pub fn update<T>(&self, change: impl FnOnce(&mut ExecutionRecord) -> T) -> T {
        let mut record = self.lock();
        let answer = change(&mut record);
        self.save(&record, record.status != ExecutionStatus::Running);
        answer
    }

    /// Appends a history event (`previous_event_id` is the last event's id); returns its id.
    /// Once the execution has ended, nothing is appended (the last event's id is returned).
    pub fn record(&self, kind: &str, details: Option<(&str, Value)>) -> u64 {
        self.update(|record| push_event(record, kind, details))
    }

    /// Appends a history event and, in the same change, moves the execution's position.
    pub fn record_at(
        &self,
        kind: &str,
        details: Option<(&str, Value)>,
        position: impl FnOnce(u64) -> Option<Position>,
    ) -> u64 {
        self.update(|record| {
            let id = push_event(record, kind, details);
            if record.status == ExecutionStatus::Running {
                record.position = position(id);
            }
            id
        })
    }

    /// Asks whoever runs the execution to stop (see [`StopRequest`]).
    pub fn request_stop(&self, request: StopRequest) {
        self.0.stop.send_replace(Some(request));
    }

    /// The execution's stop requests, for its interpreter and tasks.
    pub fn stop_watch(&self) -> StopWatch {
        StopWatch(self.0.stop.subscribe())
    }

    /// `StopExecution`: a running execution ends `ABORTED` now (with `error` and `cause`, if
    /// given), its history closed by `…StateAborted` (for the Task or Wait state it is in) and
    /// `ExecutionAborted`; whoever runs it is asked to stop (its task gets SIGTERM). Returns
    /// the stop date; an execution that had already ended is left as it is.
    pub fn abort(
        &self,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<SystemTime, NotRunning> {
        let stopped = self.update(|record| {
            if record.status != ExecutionStatus::Running {
                return Err(NotRunning {
                    status: record.status,
                    stop_date: record.stop_date,
                });
            }
            if let Some(position) = &record.position
                && position.entered.is_some()
                && matches!(position.kind.as_str(), "Task" | "Wait")
            {
                let kind = format!("{}StateAborted", position.kind);
                push_event(record, &kind, None);
            }
            let mut details = json!({});
            if let Some(error) = &error {
                details["error"] = json!(error);
            }
            if let Some(cause) = &cause {
                details["cause"] = json!(cause);
            }
            push_event(
                record,
                "ExecutionAborted",
                Some(("executionAbortedEventDetails", details)),
            );
            let now = SystemTime::now();
            record.status = ExecutionStatus::Aborted;
            record.stop_date = Some(now);
            record.error = error;
            record.cause = cause;
            record.position = None;
            Ok(now)
        })?;
        self.request_stop(StopRequest::Abort);
        Ok(stopped)
    }
}

fn push_event(record: &mut ExecutionRecord, kind: &str, details: Option<(&str, Value)>) -> u64 {
    let previous = record.history.last().map_or(0, |e| e.id);
    if record.status != ExecutionStatus::Running {
        return previous;
    }
    let id = previous + 1;
    record.history.push(HistoryEvent {
        id,
        previous_event_id: previous,
        timestamp: SystemTime::now(),
        kind: kind.to_owned(),
        details: details.map(|(name, value)| (name.to_owned(), value)),
    });
    id
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
            .find(|e| e.lock().execution_arn == execution_arn)
    }
}
