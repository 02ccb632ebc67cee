//! The pipeline, assembled: the local S3 (with the Step Functions API on the same endpoint),
//! its `Object Created` events matched against the generated rule, each match an execution of
//! the generated state machine, whose tasks run the real processor binaries.
//!
//! With a data directory ([`PipelineOptions::data_dir`], see [`crate::data_dir`]) the
//! executions and their histories are kept there and survive a restart: names continue where
//! they were, and an execution the runner stopped is taken up where it was.
//! [`RunningPipeline::shutdown`] (what `serve` does on SIGTERM or Ctrl-C) stops accepting
//! uploads, sends SIGTERM to the running ECS tasks (`fargate-processor` exits `Interrupted`,
//! as on Fargate), records each execution's outcome and where it is, and stops. The generated
//! definition retries an `Interrupted` ECS task (`ClassifyFargateExit` → `CountFargateRetry`
//! → `WaitBeforeFargateRetry`, twice at most), so after the restart such an execution goes on
//! exactly there: it waits, then runs the task again.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use local_lambda::LocalFunction;
use local_s3::{LocalS3, RunningS3};
use serde_json::Value;
use shared::Contracts;
use shared::env;
use tokio::sync::broadcast;

use crate::data_dir::DataDir;
use crate::events::{ACCOUNT_ID, EventPattern, object_created_event};
use crate::execution::{Execution, ExecutionStatus, Executions, StopRequest};
use crate::interpreter::{Interpreter, RunEnd};
use crate::sfn_api::{ExecutionStarter, StartError, StateMachineInfo, StepFunctionsApi};
use crate::tasks::{ContainerLauncher, EcsSettings, LocalTasks, STOP_TIMEOUT};

/// The generated definition, as committed (its placeholders are filled at start).
pub const DEFINITION: &str = include_str!("../../statemachine.asl.json");

/// What to run, and where.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// The data directory ([`crate::data_dir`]): the local S3's objects, the executions and
    /// their histories, the task logs, all kept across restarts (`None`: the objects in a
    /// temporary folder removed at the end, the executions in memory only).
    pub data_dir: Option<PathBuf>,
    /// The endpoint's port (0: any free one).
    pub port: u16,
    /// The upload bucket.
    pub bucket: String,
    /// The region the endpoint and ARNs use.
    pub region: String,
    /// Objects up to this many bytes go to Lambda.
    pub threshold_bytes: u64,
    /// Uploads under this prefix are processed.
    pub input_prefix: String,
    /// Reports go here.
    pub output_prefix: String,
    /// The host build of `lambda-processor`.
    pub lambda_binary: PathBuf,
    /// How the ECS task's container starts.
    pub container: ContainerLauncher,
    /// Waits and retry intervals are multiplied by this (1.0: real time); timeouts are never
    /// scaled.
    pub time_scale: f64,
    /// Where task logs go (`<execution>/<task id>.log`); `None`: the data directory's
    /// `task-logs`, or without one `local-pipeline-logs` in the system's temporary folder.
    pub log_dir: Option<PathBuf>,
    /// The Lambda function's concurrency limit, as its reserved concurrency sets it in AWS:
    /// up to this many invocations run at once, each in its own warm execution environment,
    /// and one more is throttled (the task fails with `Lambda.TooManyRequestsException`,
    /// which the state machine retries). `None`: no limit, one environment serving the
    /// invocations in turn.
    pub lambda_concurrency: Option<NonZeroUsize>,
    /// The data contracts' folder (`*.toml`, `docs/contracts.md`): read and checked against
    /// [`Self::input_prefix`] at start, where a bad contract stops the start with its file and
    /// line, then given to both processors as `PIPELINE_CONTRACTS_DIR` (its absolute path; the
    /// ECS task from [`ContainerLauncher::ImageRootfs`] gets the image's own copy, at
    /// [`infra::template::CONTAINER_CONTRACTS_DIR`] as its task definition says). An object under a contract's prefix then also gets its
    /// Parquet (`curated/`) and rejects (`rejected/`). `None`: no contracts, every object is
    /// profiled only.
    pub contracts_dir: Option<PathBuf>,
}

impl PipelineOptions {
    /// Defaults for binaries in `bin_dir` (a cargo target profile folder).
    pub fn new(bin_dir: &std::path::Path) -> PipelineOptions {
        PipelineOptions {
            data_dir: None,
            port: 0,
            bucket: "uploads".into(),
            region: "us-east-1".into(),
            threshold_bytes: shared::DEFAULT_THRESHOLD_BYTES,
            input_prefix: shared::DEFAULT_INPUT_PREFIX.into(),
            output_prefix: shared::DEFAULT_OUTPUT_PREFIX.into(),
            lambda_binary: bin_dir.join("lambda-processor"),
            container: ContainerLauncher::Binary(bin_dir.join("fargate-processor")),
            time_scale: 1.0,
            log_dir: None,
            lambda_concurrency: None,
            contracts_dir: None,
        }
    }
}

/// The options' contracts, checked against the input prefix, and the folder's absolute path
/// (`None`: no folder given, no contracts).
fn load_contracts(options: &PipelineOptions) -> anyhow::Result<(Contracts, Option<PathBuf>)> {
    let Some(dir) = &options.contracts_dir else {
        return Ok((Contracts::none(), None));
    };
    // `Contracts::load_dir` reads a missing folder as no contracts; a folder named on
    // purpose must be there.
    anyhow::ensure!(
        dir.is_dir(),
        "the contracts folder {} is missing (or not a folder)",
        dir.display()
    );
    let dir = std::path::absolute(dir)
        .with_context(|| format!("the contracts folder {}", dir.display()))?;
    let contracts = Contracts::load_dir(&dir, &options.input_prefix)
        .map_err(|e| anyhow::anyhow!("a data contract cannot be used: {e}"))?;
    Ok((contracts, Some(dir)))
}

/// The parts that start executions, shared by the event loop and `StartExecution`.
struct Starter {
    interpreter: Interpreter,
    tasks: Arc<LocalTasks>,
    executions: Executions,
    state_machine_arn: String,
    data: Option<DataDir>,
    /// The number of the next generated name (`local-00000001`, ...).
    next_name: AtomicU64,
    /// The ordinal of the next execution's file.
    next_ordinal: AtomicU64,
    /// Set once the pipeline stops: `StartExecution` is refused, and executions for events
    /// still arriving are recorded, to start after a restart.
    stopping: AtomicBool,
    /// Held from a name's check to its execution's creation.
    creating: Mutex<()>,
    /// The interpreters running.
    running: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// The name `local-NNNNNNNN` gives, for a generated name.
fn generated_number(name: &str) -> Option<u64> {
    name.strip_prefix("local-")
        .filter(|digits| digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
}

impl Starter {
    fn new(
        interpreter: Interpreter,
        tasks: Arc<LocalTasks>,
        executions: Executions,
        state_machine_arn: String,
        data: Option<DataDir>,
    ) -> Starter {
        Starter {
            interpreter,
            tasks,
            executions,
            state_machine_arn,
            data,
            next_name: AtomicU64::new(1),
            next_ordinal: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
            creating: Mutex::new(()),
            running: Mutex::new(Vec::new()),
        }
    }

    /// Reads back the executions of the data directory (names and ordinals continue after
    /// them); those still running are taken up once [`Starter::resume_all`] is called.
    fn restore(&self) -> anyhow::Result<()> {
        let Some(data) = &self.data else {
            return Ok(());
        };
        data.remove_leftovers()?;
        for (ordinal, record) in data.load_executions()? {
            self.next_ordinal.fetch_max(ordinal + 1, Ordering::SeqCst);
            if let Some(number) = generated_number(&record.name) {
                self.next_name.fetch_max(number + 1, Ordering::SeqCst);
            }
            self.executions
                .push(Execution::with_record(record, Some(data.journal(ordinal))));
        }
        Ok(())
    }

    /// Takes up every execution still running (after a restart).
    fn resume_all(self: &Arc<Self>) {
        for execution in self.executions.all() {
            if execution.status() == ExecutionStatus::Running {
                execution.read(|record| {
                    tracing::info!(
                        execution = %record.name,
                        state = record.position.as_ref().map_or("(start)", |p| p.state.as_str()),
                        "taking up the execution where it was"
                    );
                });
                self.drive(execution);
            }
        }
    }

    fn start(
        self: &Arc<Self>,
        name: Option<String>,
        input: Value,
        from_event: bool,
    ) -> Result<Execution, StartError> {
        let stopping = self.stopping.load(Ordering::SeqCst);
        if stopping && !from_event {
            return Err(StartError::Unavailable(
                "the local pipeline is stopping".to_owned(),
            ));
        }
        let _creating = self.creating.lock().unwrap_or_else(PoisonError::into_inner);
        let name = match name {
            Some(name) => name,
            None => loop {
                let number = self.next_name.fetch_add(1, Ordering::SeqCst);
                let name = format!("local-{number:08}");
                let arn = crate::sfn_api::execution_arn(&self.state_machine_arn, &name);
                if self.executions.find(&arn).is_none() {
                    break name;
                }
            },
        };
        let arn = crate::sfn_api::execution_arn(&self.state_machine_arn, &name);
        if self.executions.find(&arn).is_some() {
            return Err(StartError::AlreadyExists(arn));
        }
        let record = Execution::new(arn, self.state_machine_arn.clone(), name, input).snapshot();
        let ordinal = self.next_ordinal.fetch_add(1, Ordering::SeqCst);
        let journal = self.data.as_ref().map(|data| data.journal(ordinal));
        let execution = Execution::with_record(record, journal);
        execution.flush();
        self.executions.push(execution.clone());
        if !stopping {
            self.drive(execution.clone());
        }
        Ok(execution)
    }

    /// Runs (or takes up) an execution in the background.
    fn drive(self: &Arc<Self>, execution: Execution) {
        let this = Arc::clone(self);
        let handle = tokio::spawn(async move {
            let end = this.interpreter.run(&execution, this.tasks.as_ref()).await;
            let record = execution.snapshot();
            match end {
                RunEnd::Ended => tracing::info!(
                    execution = %record.name,
                    status = record.status.as_str(),
                    error = record.error.as_deref().unwrap_or(""),
                    "execution ended"
                ),
                RunEnd::Suspended => tracing::info!(
                    execution = %record.name,
                    state = record.position.as_ref().map_or("", |p| p.state.as_str()),
                    "execution stopped with the pipeline: it goes on from there after a restart"
                ),
            }
        });
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.retain(|handle| !handle.is_finished());
        running.push(handle);
    }
}

struct ApiStarter(Arc<Starter>);

impl ExecutionStarter for ApiStarter {
    fn start(&self, name: Option<String>, input: Value) -> Result<Execution, StartError> {
        self.0.start(name, input, false)
    }

    fn stop(
        &self,
        execution: &Execution,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<std::time::SystemTime, crate::execution::NotRunning> {
        abort(execution, error, cause)
    }
}

/// `StopExecution` of `execution`, logged.
fn abort(
    execution: &Execution,
    error: Option<String>,
    cause: Option<String>,
) -> Result<std::time::SystemTime, crate::execution::NotRunning> {
    let stopped = execution.abort(error, cause)?;
    tracing::info!(execution = %execution.name(), "execution aborted (StopExecution)");
    Ok(stopped)
}

/// What the processors need to reach the local S3: endpoint, credentials, region, path style.
fn s3_environment(s3: &RunningS3) -> Vec<(String, String)> {
    s3.env_vars()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain([(env::S3_PATH_STYLE.to_owned(), "true".to_owned())])
        .collect()
}

/// The data directory (opened) and the task logs' folder the options give.
fn data_and_logs(options: &PipelineOptions) -> anyhow::Result<(Option<DataDir>, PathBuf)> {
    let data = options
        .data_dir
        .as_deref()
        .map(DataDir::open)
        .transpose()
        .context("the data directory")?;
    let log_dir = match (&options.log_dir, &data) {
        (Some(dir), _) => dir.clone(),
        (None, Some(data)) => data.task_logs(),
        (None, None) => std::env::temp_dir().join("local-pipeline-logs"),
    };
    Ok((data, log_dir))
}

/// The Step Functions API's place on the endpoint: the S3 server starts before the API can
/// exist (the API starts executions, whose tasks need the S3 endpoint), so it answers
/// `ServiceUnavailable` until the API is set.
#[derive(Default)]
struct ApiSlot(std::sync::OnceLock<StepFunctionsApi>);

impl ApiSlot {
    fn set(&self, api: StepFunctionsApi) {
        let _ = self.0.set(api);
    }
}

#[async_trait::async_trait]
impl local_s3::JsonService for ApiSlot {
    fn target_prefix(&self) -> &str {
        crate::sfn_api::TARGET_PREFIX
    }

    async fn call(&self, operation: &str, body: bytes::Bytes) -> (http::StatusCode, bytes::Bytes) {
        match self.0.get() {
            Some(api) => api.handle(operation, &body),
            None => (
                http::StatusCode::SERVICE_UNAVAILABLE,
                bytes::Bytes::from_static(
                    br#"{"__type":"ServiceUnavailable","message":"the pipeline is starting"}"#,
                ),
            ),
        }
    }
}

/// Environment variables, in order.
type Environment = Vec<(String, String)>;

/// The environments the template gives the Lambda function and the ECS task's container:
/// the prefixes, and the contracts' folder when there is one. The Lambda is the host binary,
/// and so is the ECS task's unless it runs from the image's root filesystem, which has its own
/// copy of the contracts ([`infra::template::CONTAINER_CONTRACTS_DIR`]).
fn processor_environments(
    options: &PipelineOptions,
    contracts_dir: Option<&std::path::Path>,
) -> (Environment, Environment) {
    let prefixes = vec![
        (env::INPUT_PREFIX.to_owned(), options.input_prefix.clone()),
        (env::OUTPUT_PREFIX.to_owned(), options.output_prefix.clone()),
    ];
    let mut function_environment = prefixes.clone();
    let mut task_environment = prefixes;
    if let Some(dir) = contracts_dir {
        let host = dir.display().to_string();
        function_environment.push((env::CONTRACTS_DIR.to_owned(), host.clone()));
        task_environment.push((
            env::CONTRACTS_DIR.to_owned(),
            match &options.container {
                ContainerLauncher::Binary(_) => host,
                ContainerLauncher::ImageRootfs(root) => {
                    let image = infra::template::CONTAINER_CONTRACTS_DIR;
                    if !root.join(image.trim_start_matches('/')).is_dir() {
                        tracing::warn!(
                            rootfs = %root.display(),
                            "the image has no {image}: its ECS task applies no contract (an image built before contracts?)"
                        );
                    }
                    image.to_owned()
                }
            },
        ));
    }
    (function_environment, task_environment)
}

/// The Lambda function, started warm with the environment the template gives it
/// (`environment`) and the local endpoint's.
async fn start_function(
    options: &PipelineOptions,
    environment: &[(String, String)],
    s3_env: &[(String, String)],
) -> anyhow::Result<LocalFunction> {
    let mut function = LocalFunction::builder(&options.lambda_binary);
    if let Some(limit) = options.lambda_concurrency {
        function = function.concurrency_limit(limit);
    }
    function
        .name("s3-upload-pipeline-processor")
        .envs(environment.iter().cloned())
        .envs(s3_env.iter().cloned())
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .timeout(Duration::from_secs(
            infra::statemachine::Settings::default().lambda_timeout_seconds,
        ))
        .memory_mb(1024)
        .start()
        .await
        .context("starting the Lambda function")
}

/// The generated template's rule, for the options' bucket and prefixes.
fn rule_for(options: &PipelineOptions) -> anyhow::Result<EventPattern> {
    let template = serde_json::to_value(infra::template::template(&infra::template::Settings {
        threshold_bytes: options.threshold_bytes,
        input_prefix: options.input_prefix.clone(),
        output_prefix: options.output_prefix.clone(),
        ..infra::template::Settings::default()
    }))?;
    Ok(EventPattern::from_template(
        &template,
        &options.bucket,
        &options.input_prefix,
    )?)
}

/// Fails with what to build when a binary is missing.
fn check_binaries(options: &PipelineOptions) -> anyhow::Result<()> {
    let (ContainerLauncher::Binary(container) | ContainerLauncher::ImageRootfs(container)) =
        &options.container;
    for binary in [&options.lambda_binary, container] {
        anyhow::ensure!(
            binary.exists(),
            "{} is missing: build the processors with `cargo build -p lambda-processor -p fargate-processor` (or `make demo`)",
            binary.display()
        );
    }
    Ok(())
}

/// The committed definition with its placeholders filled as the template's
/// `DefinitionSubstitutions` fill them, with the local resources' names.
fn definition(
    options: &PipelineOptions,
    function_arn: &str,
    cluster_arn: &str,
    task_definition_arn: &str,
) -> anyhow::Result<String> {
    infra::statemachine::substitute(DEFINITION, |placeholder| {
        use infra::statemachine::Placeholder as P;
        Some(match placeholder {
            P::ThresholdBytes => options.threshold_bytes.to_string(),
            P::ProcessorFunctionArn => function_arn.to_owned(),
            P::ClusterArn => cluster_arn.to_owned(),
            P::TaskDefinitionArn => task_definition_arn.to_owned(),
            P::CapacityProvider => "FARGATE".into(),
            P::SubnetA => "subnet-local-a".into(),
            P::SubnetB => "subnet-local-b".into(),
            P::SecurityGroupId => "sg-local".into(),
            P::AssignPublicIp => "ENABLED".into(),
        })
    })
    .map_err(|e| anyhow::anyhow!("the definition: {e}"))
}

/// A running local pipeline.
pub struct RunningPipeline {
    s3: RunningS3,
    starter: Arc<Starter>,
    options: PipelineOptions,
    contracts: Contracts,
    contracts_dir: Option<PathBuf>,
    events: tokio::task::JoinHandle<()>,
    /// Tells the event loop to take the events left and end.
    drain: tokio::sync::oneshot::Sender<()>,
    rule_matches: Arc<AtomicU64>,
    events_seen: Arc<AtomicU64>,
    log_dir: PathBuf,
}

/// The local ECS cluster's and task definition's ARNs, which the state machine names.
fn ecs_arns(region: &str) -> (String, String) {
    (
        format!("arn:aws:ecs:{region}:{ACCOUNT_ID}:cluster/local"),
        format!("arn:aws:ecs:{region}:{ACCOUNT_ID}:task-definition/s3-upload-pipeline-processor:1"),
    )
}

impl RunningPipeline {
    /// Starts everything: S3, the Step Functions API, the warm Lambda, the event loop.
    // One sequence of starts, each needing the ones before (S3, the API and the pages, the
    // Lambda, the tasks, the starter, the event loop): split, it would only pass them around.
    #[allow(clippy::too_many_lines)]
    pub async fn start(options: PipelineOptions) -> anyhow::Result<RunningPipeline> {
        shared::KeyLayout::new(&options.input_prefix, &options.output_prefix)
            .map_err(|e| anyhow::anyhow!("prefixes: {e}"))?;
        check_binaries(&options)?;
        let (contracts, contracts_dir) = load_contracts(&options)?;
        let rule = rule_for(&options)?;

        let state_machine_name = "s3-upload-pipeline".to_owned();
        let state_machine_arn = format!(
            "arn:aws:states:{}:{ACCOUNT_ID}:stateMachine:{state_machine_name}",
            options.region
        );
        let executions = Executions::default();
        let (data, log_dir) = data_and_logs(&options)?;

        // The local S3 comes first: the processors need its endpoint. The API is attached
        // once the starter exists, through a slot the S3 server reads per request.
        let slot = Arc::new(ApiSlot::default());
        let pages = Arc::new(crate::ui::UiPages::default());
        // Versioned, as the deployed bucket is: events carry the version id, and the
        // processors pin their reads to it.
        let mut s3 = LocalS3::builder()
            .port(options.port)
            .region(options.region.clone())
            .versioned_bucket(options.bucket.clone())
            .json_service(slot.clone())
            .pages(pages.clone());
        if let Some(data) = &data {
            s3 = s3.root(data.s3_root());
        }
        let s3 = s3.start().await.context("starting the local S3")?;
        let s3_env = s3_environment(&s3);

        let (function_environment, mut task_environment) =
            processor_environments(&options, contracts_dir.as_deref());
        let function = start_function(&options, &function_environment, &s3_env).await?;
        let (cluster_arn, task_definition_arn) = ecs_arns(&options.region);
        let definition = definition(
            &options,
            function.function_arn(),
            &cluster_arn,
            &task_definition_arn,
        )?;
        let interpreter = Interpreter::load(&definition)
            .map_err(|e| anyhow::anyhow!("loading the state machine: {e}"))?
            .with_time_scale(options.time_scale);
        task_environment.push(("RUST_LOG".into(), "info".into()));
        let tasks = Arc::new(
            LocalTasks::new(
                function,
                EcsSettings {
                    cluster_arn,
                    task_definition_arn,
                    container_name: infra::statemachine::CONTAINER_NAME.into(),
                    environment: task_environment,
                    local_environment: s3_env,
                    launcher: options.container.clone(),
                    log_dir: log_dir.clone(),
                },
            )
            .with_s3(s3.client()),
        );
        let starter = Arc::new(Starter::new(
            interpreter,
            tasks,
            executions.clone(),
            state_machine_arn.clone(),
            data,
        ));
        starter.restore()?;
        pages.set(crate::ui::UiState {
            executions: executions.clone(),
            graph: serde_json::from_str(&definition)
                .map_err(|_| crate::ui::model::GraphError::NoStates)
                .and_then(|definition| crate::ui::model::StateGraph::from_definition(&definition)),
            bucket: options.bucket.clone(),
            layout: shared::KeyLayout::new(&options.input_prefix, &options.output_prefix)
                .map_err(|e| anyhow::anyhow!("prefixes: {e}"))?,
            s3: s3.client(),
        });
        slot.set(StepFunctionsApi::new(
            StateMachineInfo {
                arn: state_machine_arn,
                name: state_machine_name,
                definition,
                role_arn: format!("arn:aws:iam::{ACCOUNT_ID}:role/s3-upload-pipeline-states"),
            },
            executions,
            Arc::new(ApiStarter(Arc::clone(&starter))),
        ));

        let rule_matches = Arc::new(AtomicU64::new(0));
        let events_seen = Arc::new(AtomicU64::new(0));
        let (drain, drained) = tokio::sync::oneshot::channel();
        let events = tokio::spawn(event_loop(
            s3.subscribe(),
            drained,
            rule,
            Arc::clone(&starter),
            options.region.clone(),
            Arc::clone(&rule_matches),
            Arc::clone(&events_seen),
        ));
        starter.resume_all();
        Ok(RunningPipeline {
            s3,
            starter,
            options,
            contracts,
            contracts_dir,
            events,
            drain,
            rule_matches,
            events_seen,
            log_dir,
        })
    }

    /// The endpoint (S3 and Step Functions).
    pub fn endpoint(&self) -> String {
        self.s3.endpoint()
    }

    /// The local S3.
    pub fn s3(&self) -> &RunningS3 {
        &self.s3
    }

    /// The options it runs with.
    pub fn options(&self) -> &PipelineOptions {
        &self.options
    }

    /// The data contracts the processors apply (checked at start).
    pub fn contracts(&self) -> &Contracts {
        &self.contracts
    }

    /// The contracts' folder, absolute, when there is one.
    pub fn contracts_dir(&self) -> Option<&std::path::Path> {
        self.contracts_dir.as_deref()
    }

    /// How many Lambda invocations were throttled by the concurrency limit
    /// ([`PipelineOptions::lambda_concurrency`]), as Lambda's `Throttles` metric counts them.
    pub fn lambda_throttles(&self) -> u64 {
        self.starter.tasks.function().throttles()
    }

    /// Every execution so far.
    pub fn executions(&self) -> Vec<Execution> {
        self.starter.executions.all()
    }

    /// How many object-created events the endpoint produced, and how many matched the rule.
    pub fn event_counts(&self) -> (u64, u64) {
        (
            self.events_seen.load(Ordering::SeqCst),
            self.rule_matches.load(Ordering::SeqCst),
        )
    }

    /// Starts an execution with `input`, as `StartExecution` does.
    pub fn start_execution(
        &self,
        name: Option<String>,
        input: Value,
    ) -> Result<Execution, StartError> {
        self.starter.start(name, input, false)
    }

    /// `StopExecution` of `execution`: see [`Execution::abort`].
    pub fn stop_execution(
        &self,
        execution: &Execution,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<std::time::SystemTime, crate::execution::NotRunning> {
        abort(execution, error, cause)
    }

    /// Where the ECS tasks log (`<execution>/<task id>.log`).
    pub fn log_dir(&self) -> &std::path::Path {
        &self.log_dir
    }

    /// The data directory, when there is one.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.starter.data.as_ref().map(DataDir::root)
    }

    /// The state machine's ARN.
    pub fn state_machine_arn(&self) -> &str {
        &self.starter.state_machine_arn
    }

    /// Stops everything, losing nothing: uploads under the input prefix are refused from now
    /// on (503 `ServiceUnavailable`, which clients retry); the running executions are asked
    /// to stop (their ECS tasks get SIGTERM and their outcome is recorded; Lambda invocations
    /// finish) and stop at their next state, to go on from there after a restart; the events
    /// of uploads accepted before become executions that start after a restart; everything
    /// is saved (durably) in the data directory. Executions still running
    /// [`STOP_TIMEOUT`] (and a little) later are cut where they were last saved.
    pub async fn shutdown(self) {
        let faults = self.s3.faults();
        for operation in [
            local_s3::Operation::PutObject,
            local_s3::Operation::CreateMultipartUpload,
            local_s3::Operation::UploadPart,
            local_s3::Operation::CompleteMultipartUpload,
            local_s3::Operation::CopyObject,
        ] {
            faults.inject(
                local_s3::FaultRule::new(operation, local_s3::Fault::ServiceUnavailable)
                    .bucket(self.options.bucket.clone())
                    .key_prefix(self.options.input_prefix.clone())
                    .always(),
            );
        }
        self.starter.stopping.store(true, Ordering::SeqCst);
        for execution in self.starter.executions.all() {
            if execution.status() == ExecutionStatus::Running {
                execution.request_stop(StopRequest::Shutdown);
            }
        }
        let running = std::mem::take(
            &mut *self
                .starter
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let deadline = tokio::time::Instant::now() + STOP_TIMEOUT + Duration::from_secs(5);
        for mut handle in running {
            if tokio::time::timeout_at(deadline, &mut handle)
                .await
                .is_err()
            {
                tracing::warn!("an execution did not stop in time: cut where it was last saved");
                handle.abort();
            }
        }
        self.starter.tasks.function().shutdown().await;
        self.s3.shutdown().await;
        // Every accepted upload's event has been published: take them.
        let _ = self.drain.send(());
        if tokio::time::timeout(Duration::from_secs(5), self.events)
            .await
            .is_err()
        {
            tracing::warn!("the event loop did not end");
        }
        for execution in self.starter.executions.all() {
            if execution.status() == ExecutionStatus::Running {
                execution.flush();
            }
        }
    }
}

async fn event_loop(
    mut created: broadcast::Receiver<local_s3::ObjectCreated>,
    mut drain: tokio::sync::oneshot::Receiver<()>,
    rule: EventPattern,
    starter: Arc<Starter>,
    region: String,
    matches: Arc<AtomicU64>,
    seen: Arc<AtomicU64>,
) {
    let handle = |object: local_s3::ObjectCreated| {
        let count = seen.fetch_add(1, Ordering::SeqCst) + 1;
        let event_id = format!("{:08x}-0000-4000-8000-{}", count, &object.sequencer[6..]);
        let event = object_created_event(&object, &region, &event_id);
        if !rule.matches(&event) {
            tracing::debug!(key = %object.key, "no rule matches");
            return;
        }
        matches.fetch_add(1, Ordering::SeqCst);
        match starter.start(None, event, true) {
            Ok(execution) => {
                tracing::info!(key = %object.key, execution = %execution.name(), "execution started");
            }
            Err(error) => tracing::error!(%error, "cannot start an execution"),
        }
    };
    loop {
        let object = tokio::select! {
            received = created.recv() => match received {
                Ok(object) => object,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::error!(missed, "events were dropped: the pipeline fell behind");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = &mut drain => break,
        };
        handle(object);
    }
    // Stopping: the events already published become executions, started after a restart.
    loop {
        match created.try_recv() {
            Ok(object) => handle(object),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                tracing::error!(missed, "events were dropped: the pipeline fell behind");
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contracts_dir_of(environment: &Environment) -> Option<&str> {
        environment
            .iter()
            .find(|(name, _)| name == env::CONTRACTS_DIR)
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn both_processors_get_the_contracts_folder_and_the_image_its_own_copy() {
        let host = std::path::Path::new("/work/contracts");
        let mut options = PipelineOptions::new(std::path::Path::new("/bin-dir"));
        let (function, task) = processor_environments(&options, Some(host));
        assert_eq!(contracts_dir_of(&function), Some("/work/contracts"));
        assert_eq!(contracts_dir_of(&task), Some("/work/contracts"));

        options.container = ContainerLauncher::ImageRootfs("/no/such/rootfs".into());
        let (function, task) = processor_environments(&options, Some(host));
        assert_eq!(contracts_dir_of(&function), Some("/work/contracts"));
        assert_eq!(contracts_dir_of(&task), Some("/contracts"));

        let (function, task) = processor_environments(&options, None);
        assert_eq!(contracts_dir_of(&function), None);
        assert_eq!(contracts_dir_of(&task), None);
        assert_eq!(function, task);
    }
}
