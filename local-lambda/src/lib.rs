//! The AWS Lambda Runtime API on loopback, and a function manager that runs a real
//! custom-runtime binary (the `bootstrap` of a `provided.al2023` function) against it.
//!
//! [`LocalFunction`] is one function with one execution environment: it starts the binary with
//! the environment Lambda gives it, waits for its first poll of `/runtime/invocation/next`
//! (the end of init, timed as Lambda's *Init Duration*), then hands it one invocation at a time
//! and keeps the process warm between invocations. As in Lambda:
//!
//! - an error the function returns comes back with the `errorType` it reported
//!   ([`InvocationResult::Error`]), not as an error of this crate;
//! - past the timeout the process is killed and the invocation fails with
//!   [`TIMEOUT_ERROR_TYPE`] (`Sandbox.Timedout`); a process that ends during an invocation
//!   fails it with [`EXIT_ERROR_TYPE`] (`Runtime.ExitError`). Either way the next invocation
//!   starts a new process (a cold start);
//! - by default one execution environment serves every invocation: concurrent
//!   [`LocalFunction::invoke`] calls wait their turn;
//! - with a concurrency limit ([`LocalFunctionBuilder::concurrency_limit`], Lambda's reserved
//!   concurrency), up to that many execution environments serve one invocation each, started
//!   cold when first needed and kept warm; an invocation that arrives while all of them are
//!   busy is not queued but refused, as Lambda throttles it
//!   ([`LocalLambdaError::TooManyRequests`], `TooManyRequestsException`, "Rate Exceeded.").
//!
//! No AWS is involved: the function reaches other services only through the environment the
//! caller passes (`AWS_ENDPOINT_URL`, credentials).
//!
//! ```no_run
//! # async fn example() -> Result<(), local_lambda::LocalLambdaError> {
//! use std::time::Duration;
//! use local_lambda::{InvocationResult, LocalFunction};
//!
//! let function = LocalFunction::builder("target/release/lambda-processor")
//!     .name("lambda-processor")
//!     .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
//!     .timeout(Duration::from_secs(30))
//!     .memory_mb(512)
//!     .start()
//!     .await?;
//! let invocation = function.invoke(&serde_json::json!({ "bucket": "data", "key": "incoming/a.csv" })).await?;
//! match invocation.result {
//!     InvocationResult::Success(report) => println!("{report}"),
//!     InvocationResult::Error { error_type, error_message } => eprintln!("{error_type}: {error_message}"),
//! }
//! function.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod api;
mod error;
mod ids;
mod logs;
mod sandbox;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde::Serialize;

pub use crate::api::MAX_RESPONSE_BYTES;
use crate::api::{Outcome, Queued};
pub use crate::error::{InitFailure, LocalLambdaError};
use crate::logs::LogTail;
pub use crate::logs::{LogLine, LogStream};
use crate::sandbox::{Config, Ended, Sandbox};

/// The largest payload a synchronous invocation accepts (6 MB), as Lambda counts it.
pub const MAX_PAYLOAD_BYTES: usize = 6_291_456;
/// The error type of an invocation that ran past the function's timeout.
pub const TIMEOUT_ERROR_TYPE: &str = "Sandbox.Timedout";
/// The error type of an invocation during which the runtime process ended.
pub const EXIT_ERROR_TYPE: &str = "Runtime.ExitError";
/// The message Lambda's `TooManyRequestsException` carries when it throttles an invocation
/// ([`LocalLambdaError::TooManyRequests`]).
pub const TOO_MANY_REQUESTS_MESSAGE: &str = "Rate Exceeded.";
/// Lambda's default timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Lambda's default memory size, in MB.
pub const DEFAULT_MEMORY_MB: u32 = 128;
/// Lambda's limit on the init phase of an on-demand function.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many lines of the function's output are kept by default.
pub const DEFAULT_LOG_LINES: usize = 200;
/// The account id in the function ARN the runtime sees.
pub const LOCAL_ACCOUNT_ID: &str = "000000000000";
/// The region when the extra environment names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The settings of a [`LocalFunction`]; [`start`](Self::start) starts it.
#[derive(Debug, Clone)]
#[must_use]
pub struct LocalFunctionBuilder {
    binary: PathBuf,
    name: Option<String>,
    env: Vec<(OsString, OsString)>,
    inherited: Vec<OsString>,
    timeout: Duration,
    memory_mb: u32,
    init_timeout: Duration,
    log_lines: usize,
    concurrency_limit: Option<NonZeroUsize>,
}

impl LocalFunctionBuilder {
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`, the log group and the ARN); by
    /// default the binary's file name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a variable to the function's environment (the function's configured environment
    /// in Lambda: `AWS_ENDPOINT_URL`, credentials, settings). It overrides the variable Lambda
    /// would set, but for `AWS_LAMBDA_RUNTIME_API`. Setting `AWS_REGION` or
    /// `AWS_DEFAULT_REGION` sets the region of the ARN and of the other variable too.
    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Adds several variables, as [`env`](Self::env).
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.env.extend(
            vars.into_iter()
                .map(|(name, value)| (name.into(), value.into())),
        );
        self
    }

    /// Passes this variable of the current process through, when it is set (`RUST_LOG`,
    /// `RUST_BACKTRACE`). Only `PATH` is passed through otherwise.
    pub fn inherit_env(mut self, name: impl Into<OsString>) -> Self {
        self.inherited.push(name.into());
        self
    }

    /// The invocation timeout ([`DEFAULT_TIMEOUT`] unless set). It becomes the
    /// `Lambda-Runtime-Deadline-Ms` of each invocation.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The memory size ([`DEFAULT_MEMORY_MB`] unless set): only reported to the function in
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, not enforced.
    pub fn memory_mb(mut self, memory_mb: u32) -> Self {
        self.memory_mb = memory_mb;
        self
    }

    /// How long init may take, from spawn to the first poll ([`DEFAULT_INIT_TIMEOUT`]).
    pub fn init_timeout(mut self, init_timeout: Duration) -> Self {
        self.init_timeout = init_timeout;
        self
    }

    /// How many lines of output to keep for [`LocalFunction::recent_logs`] and error messages
    /// ([`DEFAULT_LOG_LINES`]).
    pub fn log_lines(mut self, lines: usize) -> Self {
        self.log_lines = lines;
        self
    }

    /// At most `limit` invocations at once, as Lambda's reserved concurrency allows: up to
    /// `limit` execution environments, each serving one invocation at a time (the first one
    /// started by [`start`](Self::start), the others cold when an invocation first needs
    /// them). An invocation that arrives while `limit` are in progress fails at once with
    /// [`LocalLambdaError::TooManyRequests`], as Lambda throttles it; it is never queued.
    ///
    /// Without a limit (the default), one environment serves every invocation and concurrent
    /// invocations wait their turn.
    pub fn concurrency_limit(mut self, limit: NonZeroUsize) -> Self {
        self.concurrency_limit = Some(limit);
        self
    }

    /// Starts the binary on the current tokio runtime and waits for the end of its init.
    ///
    /// The process gets a clean environment: the variables Lambda sets
    /// (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_VERSION`
    /// `$LATEST`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, `AWS_LAMBDA_LOG_GROUP_NAME`,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`, `AWS_LAMBDA_INITIALIZATION_TYPE` `on-demand`,
    /// `AWS_REGION` and `AWS_DEFAULT_REGION`, `_HANDLER` `bootstrap`, `TZ` `:UTC`, `LANG`,
    /// `LAMBDA_TASK_ROOT` and `LAMBDA_RUNTIME_DIR`, here the binary's folder, which is also
    /// its working directory), `PATH` and the [`inherit_env`](Self::inherit_env) variables
    /// from this process, then the [`env`](Self::env) variables. Nothing else: no `HOME`, so
    /// no `~/.aws` profile, and no credentials unless given.
    ///
    /// Fails with [`LocalLambdaError::Init`] (with the last lines of output) when the runtime
    /// posts `/runtime/init/error`, exits, or does not poll within the init timeout.
    pub async fn start(self) -> Result<LocalFunction, LocalLambdaError> {
        let name: Arc<str> = match self.name {
            Some(name) => name.into(),
            None => self
                .binary
                .file_name()
                .map_or_else(|| "function".into(), |name| name.to_string_lossy().into()),
        };
        let region = self
            .env
            .iter()
            .rev()
            .find(|(key, _)| key == "AWS_REGION" || key == "AWS_DEFAULT_REGION")
            .map_or_else(
                || DEFAULT_REGION.to_owned(),
                |(_, value)| value.to_string_lossy().into_owned(),
            );
        let function_arn = format!("arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{name}");
        let config = Arc::new(Config {
            binary: self.binary,
            name,
            function_arn: function_arn.into(),
            region,
            env: self.env,
            inherited: self.inherited,
            timeout: self.timeout,
            memory_mb: self.memory_mb,
            init_timeout: self.init_timeout,
        });
        let logs = LogTail::new(self.log_lines);
        let sandbox = Sandbox::start(&config, &logs).await?;
        let environments = self.concurrency_limit.map_or(1, NonZeroUsize::get);
        let function = LocalFunction {
            config,
            logs,
            environments: (0..environments).map(|_| Environment::default()).collect(),
            concurrency_limit: self.concurrency_limit,
            shut_down: AtomicBool::new(false),
            cold_starts: AtomicU64::new(0),
            throttles: AtomicU64::new(0),
        };
        let first = &function.environments[0];
        function.install(first, &mut *first.slot.lock().await, sandbox);
        Ok(function)
    }
}

/// A function running locally in one execution environment; see the [crate] documentation.
///
/// Dropping it kills the process and stops its Runtime API (without waiting);
/// [`shutdown`](Self::shutdown) does the same and waits for the process to end.
pub struct LocalFunction {
    config: Arc<Config>,
    logs: LogTail,
    /// One environment without a concurrency limit, `limit` with one; the first is the one
    /// `start` initialized.
    environments: Vec<Environment>,
    concurrency_limit: Option<NonZeroUsize>,
    shut_down: AtomicBool,
    cold_starts: AtomicU64,
    throttles: AtomicU64,
}

/// One execution environment's place: empty until its first invocation (but the first
/// environment's), and again after its process ended.
#[derive(Default)]
struct Environment {
    /// The sandbox, locked for the whole of an invocation: one invocation at a time.
    slot: tokio::sync::Mutex<Slot>,
    /// What [`LocalFunction::sandboxes`] reports, readable during an invocation.
    current: Mutex<Option<SandboxInfo>>,
}

impl Environment {
    fn info(&self) -> Option<SandboxInfo> {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct Slot {
    sandbox: Option<Sandbox>,
    shut_down: bool,
}

impl std::fmt::Debug for LocalFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFunction")
            .field("name", &self.config.name)
            .field("binary", &self.config.binary)
            .field("sandboxes", &self.sandboxes())
            .field("concurrency_limit", &self.concurrency_limit)
            .field("cold_starts", &self.cold_starts())
            .field("throttles", &self.throttles())
            .finish_non_exhaustive()
    }
}

/// The current execution environment of a [`LocalFunction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxInfo {
    /// The runtime process's id.
    pub pid: u32,
    /// Its Runtime API (`AWS_LAMBDA_RUNTIME_API`); each environment gets its own port.
    pub runtime_api: SocketAddr,
    /// From spawning the process to its first poll of `/runtime/invocation/next`.
    pub init_duration: Duration,
}

/// One invocation's outcome and timings.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The request id the runtime saw (`Lambda-Runtime-Aws-Request-Id`).
    pub request_id: String,
    /// What the function answered.
    pub result: InvocationResult,
    /// From handing the event to the runtime to its answer (or the timeout, or its end).
    pub duration: Duration,
    /// The init duration when this was the first invocation of an execution environment (a
    /// cold start), as Lambda reports it on that invocation only; `None` when warm.
    pub init_duration: Option<Duration>,
}

/// What a function answered, as a synchronous Lambda invocation reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum InvocationResult {
    /// The response document (`null` for an empty body).
    Success(serde_json::Value),
    /// A function error: the `errorType` and `errorMessage` the runtime posted, or
    /// [`TIMEOUT_ERROR_TYPE`], [`EXIT_ERROR_TYPE`], or the failure of a cold start's init.
    Error {
        /// The error type, as reported (for a `lambda_runtime` function, its
        /// `Diagnostic::error_type`).
        error_type: String,
        /// The error message.
        error_message: String,
    },
}

impl InvocationResult {
    /// Whether the function succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success(_))
    }

    /// The error type of a failed invocation.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            Self::Success(_) => None,
            Self::Error { error_type, .. } => Some(error_type),
        }
    }
}

impl LocalFunction {
    /// The settings of a function running `binary` (a `bootstrap`, or the host build of one,
    /// `target/<profile>/lambda-processor`).
    pub fn builder(binary: impl Into<PathBuf>) -> LocalFunctionBuilder {
        LocalFunctionBuilder {
            binary: binary.into(),
            name: None,
            env: Vec::new(),
            inherited: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            memory_mb: DEFAULT_MEMORY_MB,
            init_timeout: DEFAULT_INIT_TIMEOUT,
            log_lines: DEFAULT_LOG_LINES,
            concurrency_limit: None,
        }
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The ARN the runtime sees in `Lambda-Runtime-Invoked-Function-Arn`.
    pub fn function_arn(&self) -> &str {
        &self.config.function_arn
    }

    /// The invocation timeout.
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// The concurrency limit, if one was set.
    pub fn concurrency_limit(&self) -> Option<NonZeroUsize> {
        self.concurrency_limit
    }

    /// The current execution environment (with a concurrency limit, the first of them, the
    /// one `start` initialized); `None` between one that ended (timeout, exit) and the cold
    /// start of the next invocation it serves, and after shutdown.
    pub fn sandbox(&self) -> Option<SandboxInfo> {
        self.environments[0].info()
    }

    /// Every execution environment alive now, in the order they are offered invocations.
    pub fn sandboxes(&self) -> Vec<SandboxInfo> {
        self.environments
            .iter()
            .filter_map(Environment::info)
            .collect()
    }

    /// The init duration of the current execution environment ([`sandbox`](Self::sandbox)).
    pub fn init_duration(&self) -> Option<Duration> {
        self.sandbox().map(|sandbox| sandbox.init_duration)
    }

    /// The current runtime process's id ([`sandbox`](Self::sandbox)).
    pub fn pid(&self) -> Option<u32> {
        self.sandbox().map(|sandbox| sandbox.pid)
    }

    /// How many execution environments have initialized (the one of `start` included).
    pub fn cold_starts(&self) -> u64 {
        self.cold_starts.load(Ordering::Relaxed)
    }

    /// How many invocations were throttled ([`LocalLambdaError::TooManyRequests`]), as
    /// Lambda's `Throttles` metric counts them.
    pub fn throttles(&self) -> u64 {
        self.throttles.load(Ordering::Relaxed)
    }

    /// The last lines the function printed, oldest first, across its environments.
    pub fn recent_logs(&self) -> Vec<LogLine> {
        self.logs.snapshot()
    }

    /// Invokes the function synchronously with `payload` (serialized to JSON). Without a
    /// concurrency limit it waits for the invocation in progress first; with one it takes a
    /// free execution environment or fails at once with
    /// [`LocalLambdaError::TooManyRequests`].
    ///
    /// Starts a new execution environment first when there is none (after a timeout or an
    /// exit); if that init fails, the invocation fails as in Lambda: with the error type the
    /// runtime reported to `/runtime/init/error`, [`EXIT_ERROR_TYPE`], or
    /// [`TIMEOUT_ERROR_TYPE`].
    ///
    /// Dropping the future mid-invocation kills the process (the next invocation starts a new
    /// one), so that a stale answer can never be taken for the next invocation's.
    ///
    /// The payload is serialized before the first poll: the future does not borrow it.
    pub fn invoke<'f, T>(
        &'f self,
        payload: &T,
    ) -> impl Future<Output = Result<Invocation, LocalLambdaError>> + Send + use<'f, T>
    where
        T: Serialize + ?Sized,
    {
        let payload = serde_json::to_vec(payload);
        async move {
            let payload = payload.map_err(LocalLambdaError::Payload)?;
            self.invoke_serialized(payload).await
        }
    }

    async fn invoke_serialized(&self, payload: Vec<u8>) -> Result<Invocation, LocalLambdaError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(LocalLambdaError::PayloadTooLarge {
                size: payload.len(),
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        let (environment, mut slot) = self.environment().await?;
        if slot.shut_down {
            return Err(LocalLambdaError::ShutDown {
                function: self.config.name.to_string(),
            });
        }
        let request_id = ids::request_id();
        if slot.sandbox.as_mut().is_some_and(Sandbox::has_exited) {
            tracing::info!(function = %self.config.name, "the function's process ended while idle");
            Self::discard(environment, &mut slot);
        }
        if slot.sandbox.is_none() {
            match Sandbox::start(&self.config, &self.logs).await {
                Ok(sandbox) => self.install(environment, &mut slot, sandbox),
                Err(LocalLambdaError::Init { cause, .. }) => {
                    return Ok(Invocation {
                        result: init_failure_result(&request_id, &cause),
                        request_id,
                        duration: Duration::ZERO,
                        init_duration: None,
                    });
                }
                Err(error) => return Err(error),
            }
        }
        // Owned for the invocation: if this future is dropped, the sandbox is too (killed).
        let mut sandbox = slot.sandbox.take().expect("a sandbox was just ensured");
        let init_duration = (sandbox.invocations() == 0).then(|| sandbox.init_duration());
        let now = SystemTime::now();
        let queued = Queued {
            request_id: request_id.clone(),
            payload: Bytes::from(payload),
            deadline: now + self.config.timeout,
            function_arn: Arc::clone(&self.config.function_arn),
            trace_id: ids::trace_id(now),
        };
        let started = Instant::now();
        let forget = ForgetOnDrop(&environment.current);
        let ended = sandbox.invoke(queued, self.config.timeout).await;
        std::mem::forget(forget);
        let duration = started.elapsed();
        let result = match ended {
            Ended::Answered(outcome) => {
                slot.sandbox = Some(sandbox);
                match outcome {
                    Outcome::Response(body) => {
                        InvocationResult::Success(self.parse_response(&request_id, &body)?)
                    }
                    Outcome::Error {
                        error_type,
                        error_message,
                    } => InvocationResult::Error {
                        error_type,
                        error_message,
                    },
                }
            }
            Ended::Exited(status) => {
                tracing::warn!(function = %self.config.name, %request_id, %status, "the function's process ended during an invocation");
                drop(sandbox);
                Self::discard(environment, &mut slot);
                InvocationResult::Error {
                    error_type: EXIT_ERROR_TYPE.to_owned(),
                    error_message: format!(
                        "RequestId: {request_id} Error: Runtime exited with error: {status}"
                    ),
                }
            }
            Ended::TimedOut => {
                tracing::warn!(function = %self.config.name, %request_id, timeout = ?self.config.timeout, "invocation timed out: process killed");
                drop(sandbox);
                Self::discard(environment, &mut slot);
                InvocationResult::Error {
                    error_type: TIMEOUT_ERROR_TYPE.to_owned(),
                    error_message: timed_out_message(&request_id, self.config.timeout),
                }
            }
        };
        Ok(Invocation {
            request_id,
            result,
            duration,
            init_duration,
        })
    }

    /// An environment for one invocation, locked: the only one (once the invocation in
    /// progress ends), or with a concurrency limit a free one, warm ones first, or the
    /// throttling error.
    async fn environment(
        &self,
    ) -> Result<(&Environment, tokio::sync::MutexGuard<'_, Slot>), LocalLambdaError> {
        let Some(limit) = self.concurrency_limit else {
            let only = &self.environments[0];
            return Ok((only, only.slot.lock().await));
        };
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(LocalLambdaError::ShutDown {
                function: self.config.name.to_string(),
            });
        }
        let mut cold = None;
        for environment in &self.environments {
            if let Ok(slot) = environment.slot.try_lock() {
                if slot.sandbox.is_some() {
                    return Ok((environment, slot));
                }
                if cold.is_none() {
                    cold = Some((environment, slot));
                }
            }
        }
        cold.ok_or_else(|| {
            self.throttles.fetch_add(1, Ordering::Relaxed);
            let request_id = ids::request_id();
            tracing::debug!(function = %self.config.name, %request_id, limit = limit.get(), "invocation throttled");
            LocalLambdaError::TooManyRequests {
                function: self.config.name.to_string(),
                limit: limit.get(),
                request_id,
            }
        })
    }

    /// Kills the processes, stops their Runtime APIs and waits for the processes to end.
    /// Later invocations fail with [`LocalLambdaError::ShutDown`].
    pub async fn shutdown(&self) {
        self.shut_down.store(true, Ordering::SeqCst);
        for environment in &self.environments {
            let mut slot = environment.slot.lock().await;
            slot.shut_down = true;
            if let Some(mut sandbox) = slot.sandbox.take() {
                sandbox.kill().await;
            }
            Self::discard(environment, &mut slot);
        }
        tracing::debug!(function = %self.config.name, "function shut down");
    }

    fn parse_response(
        &self,
        request_id: &str,
        body: &[u8],
    ) -> Result<serde_json::Value, LocalLambdaError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(body).map_err(|source| LocalLambdaError::ResponseNotJson {
            function: self.config.name.to_string(),
            request_id: request_id.to_owned(),
            source,
        })
    }

    fn install(&self, environment: &Environment, slot: &mut Slot, sandbox: Sandbox) {
        *environment
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(SandboxInfo {
            pid: sandbox.pid(),
            runtime_api: sandbox.runtime_api(),
            init_duration: sandbox.init_duration(),
        });
        self.cold_starts.fetch_add(1, Ordering::Relaxed);
        slot.sandbox = Some(sandbox);
    }

    fn discard(environment: &Environment, slot: &mut Slot) {
        slot.sandbox = None;
        *environment
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Clears an environment's [`SandboxInfo`] if an invocation's future is dropped midway (its
/// sandbox, owned by the future, is dropped and killed with it).
struct ForgetOnDrop<'a>(&'a Mutex<Option<SandboxInfo>>);

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

fn timed_out_message(request_id: &str, after: Duration) -> String {
    format!(
        "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
        after.as_secs_f64()
    )
}

/// A cold start's init failure, as Lambda reports it on the invocation that needed it.
fn init_failure_result(request_id: &str, cause: &InitFailure) -> InvocationResult {
    match cause {
        InitFailure::Reported {
            error_type,
            error_message,
        } => InvocationResult::Error {
            error_type: error_type.clone(),
            error_message: error_message.clone(),
        },
        InitFailure::Exited { status } => InvocationResult::Error {
            error_type: EXIT_ERROR_TYPE.to_owned(),
            error_message: format!(
                "RequestId: {request_id} Error: Runtime exited with error: {status}"
            ),
        },
        InitFailure::TimedOut { after } => InvocationResult::Error {
            error_type: TIMEOUT_ERROR_TYPE.to_owned(),
            error_message: timed_out_message(request_id, *after),
        },
    }
}
