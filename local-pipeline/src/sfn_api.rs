//! The Step Functions API over the local runner, so that the AWS CLI and the SDKs reach its
//! executions as they would on AWS.
//!
//! [`StepFunctionsApi`] is a [`JsonService`] (target prefix `AWSStepFunctions`), served on the
//! local S3 endpoint ([`local_s3::LocalS3::json_service`]): an `aws-sdk-sfn` client pointed
//! at that endpoint works as is. It knows one state machine ([`StateMachineInfo`]) and
//! answers:
//!
//! - `ListStateMachines` (`maxResults`, `nextToken`), `DescribeStateMachine`;
//! - `StartExecution` (`name`, `input`), through the runner's [`ExecutionStarter`];
//! - `ListExecutions` (`stateMachineArn`, `statusFilter`, `maxResults`, `nextToken`), most
//!   recent first, as on AWS;
//! - `DescribeExecution`;
//! - `GetExecutionHistory` (`maxResults`, `reverseOrder`, `nextToken`,
//!   `includeExecutionData`);
//! - `StopExecution` (`error`, `cause`): a running execution ends `ABORTED` at once and its
//!   running task is stopped (an ECS task gets SIGTERM); an execution that had already ended
//!   is left as it is, and its stop date returned, as AWS answers.
//!
//! These are the calls `aws stepfunctions list-state-machines`, `describe-state-machine`,
//! `start-execution`, `list-executions` (with `--status-filter`), `describe-execution`,
//! `get-execution-history` and `stop-execution` make.
//!
//! Field names and shapes are those of the Step Functions API reference: timestamps are epoch
//! seconds (with milliseconds) as JSON numbers, `input`, `output` and `definition` are JSON
//! text. Errors are AWS JSON errors with status 400: `InvalidArn`, `StateMachineDoesNotExist`,
//! `ExecutionDoesNotExist`, `ExecutionAlreadyExists`, `InvalidName`, `InvalidExecutionInput`,
//! `ExecutionLimitExceeded`, `ServiceUnavailable` (503, while the runner stops),
//! `InvalidToken`, `ValidationException`, `SerializationException`,
//! `UnknownOperationException`. Other parameters (`traceHeader`, `includedData`,
//! `mapRunArn`, `redriveFilter`) are accepted and ignored. Requests are not authenticated.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;
use local_s3::JsonService;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::execution::{
    Execution, ExecutionRecord, ExecutionStatus, Executions, HistoryEvent, NotRunning,
};

/// The `X-Amz-Target` prefix of Step Functions.
pub const TARGET_PREFIX: &str = "AWSStepFunctions";

/// The page size when a request gives no `maxResults` (or 0), as on AWS.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// The largest `maxResults` accepted, as on AWS.
pub const MAX_PAGE_SIZE: usize = 1000;

/// The longest execution input accepted, in bytes (256 KiB), as on AWS.
pub const MAX_INPUT_LEN: usize = 256 * 1024;

/// The longest `error` of `StopExecution`, in characters, as on AWS.
pub const MAX_ERROR_LEN: usize = 256;

/// The longest `cause` of `StopExecution`, in characters, as on AWS.
pub const MAX_CAUSE_LEN: usize = 32_768;

/// The state machine the API describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMachineInfo {
    /// `arn:aws:states:<region>:<account>:stateMachine:<name>`.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Its definition (Amazon States Language), as text.
    pub definition: String,
    /// The IAM role it would run as on AWS.
    pub role_arn: String,
}

/// Why an execution could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// An execution with this name exists (`ExecutionAlreadyExists`); its ARN.
    #[error("Execution Already Exists: '{0}'")]
    AlreadyExists(String),
    /// Too many executions run (`ExecutionLimitExceeded`).
    #[error("{0}")]
    LimitExceeded(String),
    /// The runner cannot start executions now, e.g. while it stops (503 `ServiceUnavailable`).
    #[error("{0}")]
    Unavailable(String),
}

/// Starts an execution for `StartExecution`. The runner provides it: it creates the
/// [`Execution`], pushes it to the [`Executions`] the API was given (before returning, so that
/// the API finds it at once) and spawns the interpreter.
pub trait ExecutionStarter: Send + Sync + 'static {
    /// Starts an execution named `name` (if `None`, the starter picks a unique one, as AWS
    /// picks a UUID) with this input. The API has already checked the name (syntax, and that
    /// no execution has it) and the input.
    fn start(&self, name: Option<String>, input: Value) -> Result<Execution, StartError>;

    /// Stops a running execution for `StopExecution` ([`Execution::abort`], which this does
    /// by default); the stop date, or why nothing changed.
    fn stop(
        &self,
        execution: &Execution,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<SystemTime, NotRunning> {
        execution.abort(error, cause)
    }
}

/// The Step Functions API of the local runner: see the [module](self) documentation.
pub struct StepFunctionsApi {
    machine: StateMachineInfo,
    creation_date: SystemTime,
    executions: Executions,
    starter: Arc<dyn ExecutionStarter>,
    /// Held from the name check of a `StartExecution` to its start, so that two starts with
    /// one name cannot both pass the check.
    starting: Mutex<()>,
}

impl std::fmt::Debug for StepFunctionsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepFunctionsApi")
            .field("machine", &self.machine.arn)
            .finish_non_exhaustive()
    }
}

/// The execution ARN of the execution `name` of a state machine:
/// `arn:aws:states:REGION:ACCOUNT:stateMachine:MACHINE` →
/// `arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME`.
///
/// # Panics
///
/// If `state_machine_arn` is not a state machine ARN.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    let arn = Arn::parse(state_machine_arn)
        .filter(|arn| arn.state_machine().is_some())
        .unwrap_or_else(|| panic!("not a state machine ARN: {state_machine_arn}"));
    let machine = arn.state_machine().unwrap_or_default();
    format!(
        "arn:{}:states:{}:{}:execution:{machine}:{name}",
        arn.partition, arn.region, arn.account
    )
}

impl StepFunctionsApi {
    /// The API of this state machine (created now, for `creationDate`), whose executions are
    /// `executions`, started by `starter`.
    ///
    /// # Panics
    ///
    /// If `machine.arn` is not a state machine ARN.
    pub fn new(
        machine: StateMachineInfo,
        executions: Executions,
        starter: Arc<dyn ExecutionStarter>,
    ) -> Self {
        assert!(
            is_state_machine_arn(&machine.arn),
            "not a state machine ARN: {}",
            machine.arn
        );
        Self {
            machine,
            creation_date: SystemTime::now(),
            executions,
            starter,
            starting: Mutex::new(()),
        }
    }

    /// The state machine it describes.
    pub fn machine(&self) -> &StateMachineInfo {
        &self.machine
    }

    /// Answers one operation: the HTTP status and the JSON body.
    pub fn handle(&self, operation: &str, body: &[u8]) -> (StatusCode, Bytes) {
        let result = match operation {
            "ListStateMachines" => parse(body).and_then(|r| self.list_state_machines(&r)),
            "DescribeStateMachine" => parse(body).and_then(|r| self.describe_state_machine(&r)),
            "StartExecution" => parse(body).and_then(|r| self.start_execution(r)),
            "ListExecutions" => parse(body).and_then(|r| self.list_executions(&r)),
            "DescribeExecution" => parse(body).and_then(|r| self.describe_execution(&r)),
            "GetExecutionHistory" => parse(body).and_then(|r| self.get_execution_history(&r)),
            "StopExecution" => parse(body).and_then(|r| self.stop_execution(r)),
            _ => Err(ApiError::new(
                "UnknownOperationException",
                format!("unknown operation: {operation}"),
            )),
        };
        match result {
            Ok(answer) => (StatusCode::OK, Bytes::from(answer.to_string())),
            Err(error) => {
                let body = json!({ "__type": error.kind, "message": error.message });
                (error.status, Bytes::from(body.to_string()))
            }
        }
    }

    fn list_state_machines(&self, request: &ListStateMachinesRequest) -> Result<Value, ApiError> {
        page_size(request.max_results)?;
        if let Some(token) = &request.next_token {
            // One state machine: the first page holds it, no token is ever issued.
            return Err(invalid_token(token));
        }
        Ok(json!({
            "stateMachines": [{
                "stateMachineArn": self.machine.arn,
                "name": self.machine.name,
                "type": "STANDARD",
                "creationDate": epoch_seconds(self.creation_date),
            }],
        }))
    }

    fn describe_state_machine(&self, request: &MachineRequest) -> Result<Value, ApiError> {
        self.check_machine(required(
            request.state_machine_arn.as_deref(),
            "stateMachineArn",
        )?)?;
        Ok(json!({
            "stateMachineArn": self.machine.arn,
            "name": self.machine.name,
            "status": "ACTIVE",
            "definition": self.machine.definition,
            "roleArn": self.machine.role_arn,
            "type": "STANDARD",
            "creationDate": epoch_seconds(self.creation_date),
            "loggingConfiguration": { "level": "OFF", "includeExecutionData": false },
            "tracingConfiguration": { "enabled": false },
        }))
    }

    fn start_execution(&self, request: StartExecutionRequest) -> Result<Value, ApiError> {
        self.check_machine(required(
            request.state_machine_arn.as_deref(),
            "stateMachineArn",
        )?)?;
        if let Some(name) = &request.name {
            check_name(name)?;
        }
        let input_text = request.input.unwrap_or_else(|| "{}".to_owned());
        if input_text.len() > MAX_INPUT_LEN {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value at 'input' failed to satisfy constraint: \
                 Member must have length less than or equal to {MAX_INPUT_LEN}"
            )));
        }
        let input: Value = serde_json::from_str(&input_text).map_err(|error| {
            ApiError::new(
                "InvalidExecutionInput",
                format!("Invalid State Machine Execution Input: '{error}'"),
            )
        })?;

        let _starting = self.starting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(name) = &request.name {
            let arn = execution_arn(&self.machine.arn, name);
            if let Some(existing) = self.executions.find(&arn) {
                // As on AWS: the same name and input as a running execution is the same start.
                let existing = existing.snapshot();
                if existing.status == ExecutionStatus::Running && existing.input == input {
                    return Ok(started(&existing));
                }
                return Err(ApiError::new(
                    "ExecutionAlreadyExists",
                    format!("Execution Already Exists: '{arn}'"),
                ));
            }
        }
        match self.starter.start(request.name, input) {
            Ok(execution) => Ok(started(&execution.snapshot())),
            Err(error) => {
                let (status, kind) = match error {
                    StartError::AlreadyExists(_) => {
                        (StatusCode::BAD_REQUEST, "ExecutionAlreadyExists")
                    }
                    StartError::LimitExceeded(_) => {
                        (StatusCode::BAD_REQUEST, "ExecutionLimitExceeded")
                    }
                    StartError::Unavailable(_) => {
                        (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable")
                    }
                };
                Err(ApiError {
                    status,
                    kind,
                    message: error.to_string(),
                })
            }
        }
    }

    fn list_executions(&self, request: &ListExecutionsRequest) -> Result<Value, ApiError> {
        self.check_machine(required(
            request.state_machine_arn.as_deref(),
            "stateMachineArn",
        )?)?;
        let size = page_size(request.max_results)?;
        let status = match request.status_filter.as_deref() {
            None => None,
            Some(status) => Some(parse_status_filter(status)?),
        };
        let all = self.executions.all();
        // Most recent first: walk down from the token's position (an index in start order).
        let mut below = all.len();
        if let Some(token) = &request.next_token {
            below = parse_token(token, "executions", all.len())?;
        }
        let matching = |record: &ExecutionRecord| {
            record.state_machine_arn == self.machine.arn
                && status.is_none_or(|status| record.status.as_str() == status)
        };
        let mut items = Vec::new();
        let mut next_token = None;
        for index in (0..below).rev() {
            let Some(item) =
                all[index].read(|record| matching(record).then(|| execution_list_item(record)))
            else {
                continue;
            };
            if items.len() == size {
                next_token = Some(format!("executions:{}", index + 1));
                break;
            }
            items.push(item);
        }
        let mut answer = json!({ "executions": items });
        if let Some(token) = next_token {
            answer["nextToken"] = Value::String(token);
        }
        Ok(answer)
    }

    fn describe_execution(&self, request: &ExecutionRequest) -> Result<Value, ApiError> {
        let record = self.find_execution(request.execution_arn.as_deref())?;
        let mut answer = Map::new();
        answer.insert("executionArn".into(), record.execution_arn.clone().into());
        answer.insert(
            "stateMachineArn".into(),
            record.state_machine_arn.clone().into(),
        );
        answer.insert("name".into(), record.name.clone().into());
        answer.insert("status".into(), record.status.as_str().into());
        answer.insert("startDate".into(), epoch_seconds(record.start_date));
        if let Some(stop) = record.stop_date {
            answer.insert("stopDate".into(), epoch_seconds(stop));
        }
        answer.insert("input".into(), record.input.to_string().into());
        answer.insert("inputDetails".into(), json!({ "included": true }));
        if let Some(output) = &record.output {
            answer.insert("output".into(), output.to_string().into());
            answer.insert("outputDetails".into(), json!({ "included": true }));
        }
        if let Some(error) = &record.error {
            answer.insert("error".into(), error.clone().into());
        }
        if let Some(cause) = &record.cause {
            answer.insert("cause".into(), cause.clone().into());
        }
        answer.insert("redriveCount".into(), record.redrive_count.into());
        answer.insert("redriveStatus".into(), "NOT_REDRIVABLE".into());
        Ok(Value::Object(answer))
    }

    fn stop_execution(&self, request: StopExecutionRequest) -> Result<Value, ApiError> {
        let arn = required(request.execution_arn.as_deref(), "executionArn")?;
        if !is_execution_arn(arn) {
            return Err(invalid_arn(arn));
        }
        for (member, value, limit) in [
            ("error", &request.error, MAX_ERROR_LEN),
            ("cause", &request.cause, MAX_CAUSE_LEN),
        ] {
            if let Some(value) = value
                && value.chars().count() > limit
            {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value at '{member}' failed to satisfy \
                     constraint: Member must have length less than or equal to {limit}"
                )));
            }
        }
        let execution = self
            .executions
            .find(arn)
            .ok_or_else(|| execution_does_not_exist(arn))?;
        let stop_date = match self.starter.stop(&execution, request.error, request.cause) {
            Ok(stopped) => stopped,
            Err(NotRunning { stop_date, .. }) => stop_date.unwrap_or_else(SystemTime::now),
        };
        Ok(json!({ "stopDate": epoch_seconds(stop_date) }))
    }

    fn get_execution_history(&self, request: &HistoryRequest) -> Result<Value, ApiError> {
        let record = self.find_execution(request.execution_arn.as_deref())?;
        let size = page_size(request.max_results)?;
        let reverse = request.reverse_order.unwrap_or(false);
        let with_data = request.include_execution_data.unwrap_or(true);
        let events = &record.history;
        // Forward, the token is the index of the next event; reversed, the index just past it.
        let (kind, indexes): (&str, Vec<usize>) = if reverse {
            let below = match &request.next_token {
                Some(token) => parse_token(token, "history-reversed", events.len())?,
                None => events.len(),
            };
            ("history-reversed", (0..below).rev().collect())
        } else {
            let from = match &request.next_token {
                Some(token) => parse_token(token, "history", events.len())?,
                None => 0,
            };
            ("history", (from..events.len()).collect())
        };
        let page: Vec<Value> = indexes
            .iter()
            .take(size)
            .map(|&index| history_event(&events[index], with_data))
            .collect();
        let mut answer = json!({ "events": page });
        if let Some(&next) = indexes.get(size) {
            let position = if reverse { next + 1 } else { next };
            answer["nextToken"] = Value::String(format!("{kind}:{position}"));
        }
        Ok(answer)
    }

    /// Checks that `arn` is a state machine ARN, and this API's.
    fn check_machine(&self, arn: &str) -> Result<(), ApiError> {
        if !is_state_machine_arn(arn) {
            return Err(invalid_arn(arn));
        }
        if arn != self.machine.arn {
            return Err(ApiError::new(
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{arn}'"),
            ));
        }
        Ok(())
    }

    /// The record of the execution with this ARN.
    fn find_execution(&self, arn: Option<&str>) -> Result<ExecutionRecord, ApiError> {
        let arn = required(arn, "executionArn")?;
        if !is_execution_arn(arn) {
            return Err(invalid_arn(arn));
        }
        self.executions
            .find(arn)
            .map(|execution| execution.snapshot())
            .ok_or_else(|| execution_does_not_exist(arn))
    }
}

#[async_trait::async_trait]
impl JsonService for StepFunctionsApi {
    fn target_prefix(&self) -> &str {
        TARGET_PREFIX
    }

    async fn call(&self, operation: &str, body: Bytes) -> (StatusCode, Bytes) {
        self.handle(operation, &body)
    }
}

/// An AWS JSON error: status, `__type`, `message`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    /// A client error (400).
    fn new(kind: &'static str, message: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind,
            message,
        }
    }

    fn validation(message: String) -> Self {
        Self::new("ValidationException", message)
    }
}

fn invalid_arn(arn: &str) -> ApiError {
    ApiError::new("InvalidArn", format!("Invalid Arn: '{arn}'"))
}

fn execution_does_not_exist(arn: &str) -> ApiError {
    ApiError::new(
        "ExecutionDoesNotExist",
        format!("Execution Does Not Exist: '{arn}'"),
    )
}

fn invalid_token(token: &str) -> ApiError {
    ApiError::new("InvalidToken", format!("Invalid Token: '{token}'"))
}

/// The request body as `T` (an empty body is `{}`).
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|error| ApiError::new("SerializationException", error.to_string()))
}

/// A required member, or `ValidationException`.
fn required<'a>(value: Option<&'a str>, member: &str) -> Result<&'a str, ApiError> {
    value.ok_or_else(|| {
        ApiError::validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy \
             constraint: Member must not be null"
        ))
    })
}

/// The page size for `maxResults`: 0 or absent is [`DEFAULT_PAGE_SIZE`], at most
/// [`MAX_PAGE_SIZE`].
fn page_size(max_results: Option<i64>) -> Result<usize, ApiError> {
    match max_results {
        None | Some(0) => Ok(DEFAULT_PAGE_SIZE),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|&n| n <= MAX_PAGE_SIZE)
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'maxResults' failed to \
                     satisfy constraint: Member must have value between 0 and {MAX_PAGE_SIZE}"
                ))
            }),
    }
}

/// The position in a token `<kind>:<position>` this API issued, at most `len`.
fn parse_token(token: &str, kind: &str, len: usize) -> Result<usize, ApiError> {
    token
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|position| position.parse::<usize>().ok())
        .filter(|&position| position <= len)
        .ok_or_else(|| invalid_token(token))
}

/// A `statusFilter` value, checked against Step Functions' list.
fn parse_status_filter(status: &str) -> Result<&str, ApiError> {
    const STATUSES: [&str; 6] = [
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
        "TIMED_OUT",
        "ABORTED",
        "PENDING_REDRIVE",
    ];
    if STATUSES.contains(&status) {
        Ok(status)
    } else {
        Err(ApiError::validation(format!(
            "1 validation error detected: Value '{status}' at 'statusFilter' failed to satisfy \
             constraint: Member must satisfy enum value set: [{}]",
            STATUSES.join(", ")
        )))
    }
}

/// Step Functions' rules for execution names: 1 to 80 characters, none of whitespace,
/// `<>{}[]?*"#%\^|~`$&,;:/` or control characters.
fn check_name(name: &str) -> Result<(), ApiError> {
    let length = name.chars().count();
    let bad = name.chars().find(|&c| {
        c.is_whitespace()
            || c.is_control()
            || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
    });
    if (1..=80).contains(&length) && bad.is_none() {
        return Ok(());
    }
    Err(ApiError::new(
        "InvalidName",
        format!("Invalid Name: '{name}'"),
    ))
}

/// Epoch seconds, to the millisecond, as AWS JSON writes timestamps.
fn epoch_seconds(time: SystemTime) -> Value {
    let millis = match time.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_millis() as f64,
        Err(before) => -(before.duration().as_millis() as f64),
    };
    json!(millis / 1000.0)
}

/// `StartExecution`'s answer.
fn started(record: &ExecutionRecord) -> Value {
    json!({
        "executionArn": record.execution_arn,
        "startDate": epoch_seconds(record.start_date),
    })
}

fn execution_list_item(record: &ExecutionRecord) -> Value {
    let mut item = json!({
        "executionArn": record.execution_arn,
        "stateMachineArn": record.state_machine_arn,
        "name": record.name,
        "status": record.status.as_str(),
        "startDate": epoch_seconds(record.start_date),
    });
    if let Some(stop) = record.stop_date {
        item["stopDate"] = epoch_seconds(stop);
    }
    item
}

/// One history event; without `input` and `output` in its details unless `with_data`.
fn history_event(event: &HistoryEvent, with_data: bool) -> Value {
    let mut answer = json!({
        "timestamp": epoch_seconds(event.timestamp),
        "type": event.kind,
        "id": event.id,
        "previousEventId": event.previous_event_id,
    });
    if let Some((name, details)) = &event.details {
        let mut details = details.clone();
        if !with_data && let Some(fields) = details.as_object_mut() {
            fields.remove("input");
            fields.remove("output");
        }
        answer[name.as_str()] = details;
    }
    answer
}

/// Whether `arn` is `arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME`.
fn is_state_machine_arn(arn: &str) -> bool {
    Arn::parse(arn).is_some_and(|arn| arn.state_machine().is_some())
}

/// Whether `arn` is `arn:PARTITION:states:REGION:ACCOUNT:execution:MACHINE:NAME`.
fn is_execution_arn(arn: &str) -> bool {
    Arn::parse(arn).is_some_and(|arn| arn.is_execution())
}

/// The parts of an ARN of Step Functions: `arn:PARTITION:states:REGION:ACCOUNT:RESOURCE`.
struct Arn<'a> {
    partition: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

impl<'a> Arn<'a> {
    fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (prefix, partition, service) = (parts.next()?, parts.next()?, parts.next()?);
        let (region, account, resource) = (parts.next()?, parts.next()?, parts.next()?);
        let filled = [partition, region, account, resource]
            .iter()
            .all(|part| !part.is_empty());
        (prefix == "arn" && service == "states" && filled).then_some(Arn {
            partition,
            region,
            account,
            resource,
        })
    }

    /// The machine's name, for `stateMachine:NAME`.
    fn state_machine(&self) -> Option<&'a str> {
        self.resource
            .strip_prefix("stateMachine:")
            .filter(|name| !name.is_empty() && !name.contains(':'))
    }

    /// Whether it is `execution:MACHINE:NAME`.
    fn is_execution(&self) -> bool {
        self.resource
            .strip_prefix("execution:")
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(machine, name)| {
                !machine.is_empty() && !name.is_empty() && !name.contains(':')
            })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListStateMachinesRequest {
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MachineRequest {
    state_machine_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartExecutionRequest {
    state_machine_arn: Option<String>,
    name: Option<String>,
    input: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListExecutionsRequest {
    state_machine_arn: Option<String>,
    status_filter: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionRequest {
    execution_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopExecutionRequest {
    execution_arn: Option<String>,
    error: Option<String>,
    cause: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryRequest {
    execution_arn: Option<String>,
    max_results: Option<i64>,
    reverse_order: Option<bool>,
    next_token: Option<String>,
    include_execution_data: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arns_follow_the_state_machine_arn() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:eu-west-3:123456789012:stateMachine:pipeline",
                "run-1"
            ),
            "arn:aws:states:eu-west-3:123456789012:execution:pipeline:run-1"
        );
        assert_eq!(
            execution_arn("arn:aws-cn:states:cn-north-1:1:stateMachine:m", "e"),
            "arn:aws-cn:states:cn-north-1:1:execution:m:e"
        );
    }

    #[test]
    #[should_panic(expected = "not a state machine ARN")]
    fn execution_arn_refuses_other_arns() {
        execution_arn("arn:aws:states:us-east-1:1:execution:m:e", "x");
    }

    #[test]
    fn arns_are_checked_by_kind() {
        let machine = is_state_machine_arn;
        let execution = is_execution_arn;
        assert!(machine("arn:aws:states:us-east-1:1:stateMachine:m"));
        assert!(!machine("arn:aws:states:us-east-1:1:stateMachine:"));
        assert!(!machine("arn:aws:lambda:us-east-1:1:stateMachine:m"));
        assert!(!machine("arn:aws:states::1:stateMachine:m"));
        assert!(!machine("arn:aws:states:us-east-1:1:execution:m:e"));
        assert!(execution("arn:aws:states:us-east-1:1:execution:m:e"));
        assert!(!execution("arn:aws:states:us-east-1:1:execution:m"));
        assert!(!execution("arn:aws:states:us-east-1:1:execution:m:"));
        assert!(!execution("not-an-arn"));
    }

    #[test]
    fn names_follow_step_functions_rules() {
        assert!(check_name("upload-2024_01.csv").is_ok());
        assert!(check_name(&"a".repeat(80)).is_ok());
        assert!(check_name(&"a".repeat(81)).is_err());
        assert!(check_name("").is_err());
        for bad in ["a b", "a/b", "a:b", "a*", "a\u{1}", "a\u{85}", "{x}"] {
            assert_eq!(check_name(bad).unwrap_err().kind, "InvalidName", "{bad:?}");
        }
    }

    #[test]
    fn timestamps_are_epoch_seconds_with_milliseconds() {
        let time = UNIX_EPOCH + std::time::Duration::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(epoch_seconds(time), json!(1_700_000_000.123));
        assert_eq!(epoch_seconds(UNIX_EPOCH), json!(0.0));
    }

    #[test]
    fn page_sizes_and_tokens_are_checked() {
        assert_eq!(page_size(None).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(Some(0)).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(Some(1000)).unwrap(), 1000);
        assert!(page_size(Some(1001)).is_err());
        assert!(page_size(Some(-1)).is_err());
        assert_eq!(parse_token("history:3", "history", 5).unwrap(), 3);
        assert!(parse_token("history:6", "history", 5).is_err());
        assert!(parse_token("history:3", "history-reversed", 5).is_err());
        assert!(parse_token("garbage", "history", 5).is_err());
    }
}
