//! The ASL interpreter, with a scripted task runner: its semantics, each feature on small
//! definitions and the features it refuses to load (`semantics`); the real generated
//! definition on real EventBridge events (`generated`); and a differential run of the
//! generated definition against aws-local-stepfunctions, an independent implementation run
//! with Node from `.tools` (`differential`; `make tools` installs both).

mod differential;
mod generated;
mod semantics;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use infra::statemachine::{self, Placeholder, state};
use local_pipeline::execution::{Execution, ExecutionRecord, ExecutionStatus};
use local_pipeline::interpreter::{
    Interpreter, SUPPORTED_RESOURCES, TaskContext, TaskError, TaskRunner,
};
use serde_json::{Value, json};
use shared::ErrorName;

const LAMBDA: &str = SUPPORTED_RESOURCES[0];
const ECS: &str = SUPPORTED_RESOURCES[1];
const EXECUTION_ARN: &str = "arn:aws:states:eu-west-1:123456789012:execution:pipeline:run-1";

/// A task runner that replies from a script: per resource, one canned result per call.
/// The failure path's S3 `PutObject` (the failure record), unless scripted, succeeds and is
/// kept apart from the calls ([`Scripted::records`]).
#[derive(Default)]
struct Scripted {
    replies: Mutex<HashMap<String, VecDeque<Result<Value, TaskError>>>>,
    calls: Mutex<Vec<(String, Value)>>,
    records: Mutex<Vec<Value>>,
    delay: Duration,
}

impl Scripted {
    fn new(resource: &str, replies: Vec<Result<Value, TaskError>>) -> Scripted {
        Scripted::default().and(resource, replies)
    }

    fn and(self, resource: &str, replies: Vec<Result<Value, TaskError>>) -> Scripted {
        self.replies
            .lock()
            .unwrap()
            .insert(resource.to_owned(), replies.into());
        self
    }

    /// Every call takes this long (real time) before it replies.
    fn slow(self, delay: Duration) -> Scripted {
        Scripted { delay, ..self }
    }

    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }

    /// The parameters of each unscripted failure record write.
    fn records(&self) -> Vec<Value> {
        self.records.lock().unwrap().clone()
    }

    fn left(&self) -> usize {
        self.replies
            .lock()
            .unwrap()
            .values()
            .map(VecDeque::len)
            .sum()
    }
}

#[async_trait::async_trait]
impl TaskRunner for Scripted {
    async fn run(
        &self,
        resource: &str,
        parameters: Value,
        _task: &TaskContext,
    ) -> Result<Value, TaskError> {
        if resource == statemachine::S3_PUT_OBJECT
            && !self.replies.lock().unwrap().contains_key(resource)
        {
            self.records.lock().unwrap().push(parameters);
            return Ok(json!({"ETag": "\"0123\"", "VersionId": "v1"}));
        }
        self.calls
            .lock()
            .unwrap()
            .push((resource.to_owned(), parameters));
        let reply = self
            .replies
            .lock()
            .unwrap()
            .get_mut(resource)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| panic!("the script has no reply left for {resource}"));
        tokio::time::sleep(self.delay).await;
        reply
    }
}

fn task_error(error: &str, cause: &str) -> Result<Value, TaskError> {
    Err(TaskError::new(error, cause))
}

/// Runs `definition` on `input` at 1/1000 of real time.
async fn execute(definition: &Value, input: Value, tasks: &Scripted) -> ExecutionRecord {
    execute_scaled(definition, input, tasks, 0.001).await
}

async fn execute_scaled(
    definition: &Value,
    input: Value,
    tasks: &Scripted,
    scale: f64,
) -> ExecutionRecord {
    let interpreter = Interpreter::load(&definition.to_string())
        .unwrap_or_else(|e| panic!("{e}"))
        .with_time_scale(scale);
    let execution = Execution::new(
        EXECUTION_ARN.into(),
        "arn:aws:states:eu-west-1:123456789012:stateMachine:pipeline".into(),
        "run-1".into(),
        input,
    );
    interpreter.run(&execution, tasks).await;
    execution.snapshot()
}

/// The names of the states entered, in order.
fn path(record: &ExecutionRecord) -> Vec<String> {
    record
        .history
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .map(|e| {
            e.details.as_ref().unwrap().1["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn kinds(record: &ExecutionRecord) -> Vec<&str> {
    record.history.iter().map(|e| e.kind.as_str()).collect()
}

/// The details of the events of `kind`, in order (the details object's name checked).
fn details(record: &ExecutionRecord, kind: &str, name: &str) -> Vec<Value> {
    record
        .history
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| {
            let (field, value) = e.details.clone().unwrap();
            assert_eq!(field, name, "{kind}");
            value
        })
        .collect()
}

fn parse_text(value: &Value) -> Value {
    serde_json::from_str(value.as_str().expect("JSON text")).unwrap()
}

fn assert_failed(record: &ExecutionRecord, error: &str) {
    assert_eq!(record.status, ExecutionStatus::Failed, "{:?}", record.error);
    assert_eq!(
        record.error.as_deref(),
        Some(error),
        "cause: {:?}",
        record.cause
    );
    assert!(record.output.is_none());
    assert!(record.stop_date.is_some());
    assert_eq!(kinds(record).last(), Some(&"ExecutionFailed"));
}
