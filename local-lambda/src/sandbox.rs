//! One execution environment: the runtime process and its own Runtime API server.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::api::{InitState, Outcome, Queued, RuntimeApiServer};
use crate::error::{InitFailure, LocalLambdaError};
use crate::ids;
use crate::logs::{LogStream, LogTail};

/// How long to wait for the last lines of a process that ended (its pipes may be held open
/// by processes it started).
const LOG_DRAIN: Duration = Duration::from_millis(500);

/// A function's settings, shared by its successive sandboxes.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) binary: PathBuf,
    pub(crate) name: Arc<str>,
    pub(crate) function_arn: Arc<str>,
    pub(crate) region: String,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) inherited: Vec<OsString>,
    pub(crate) timeout: Duration,
    pub(crate) memory_mb: u32,
    pub(crate) init_timeout: Duration,
}

/// How an invocation ended, seen from the sandbox.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The runtime posted a response or an error.
    Answered(Outcome),
    /// The process ended first (status as Lambda words it).
    Exited(String),
    /// The timeout passed; the process was killed.
    TimedOut,
}

/// A running runtime process that has polled for its first invocation.
pub(crate) struct Sandbox {
    child: Child,
    pid: u32,
    api: RuntimeApiServer,
    init_duration: Duration,
    invocations: u64,
    readers: Vec<JoinHandle<()>>,
}

impl Sandbox {
    /// Starts the binary against a fresh Runtime API and waits for its first poll.
    pub(crate) async fn start(config: &Config, logs: &LogTail) -> Result<Self, LocalLambdaError> {
        let spawn_error = |source| LocalLambdaError::Spawn {
            binary: config.binary.clone(),
            source,
        };
        let binary = std::fs::canonicalize(&config.binary).map_err(spawn_error)?;
        let task_root = binary
            .parent()
            .map_or_else(|| PathBuf::from("/"), std::path::Path::to_path_buf);
        let api = RuntimeApiServer::bind(Arc::clone(&config.name))
            .await
            .map_err(LocalLambdaError::Bind)?;

        let mut command = Command::new(&binary);
        command.env_clear();
        for name in std::iter::once(OsString::from("PATH")).chain(config.inherited.iter().cloned())
        {
            if let Some(value) = std::env::var_os(&name) {
                command.env(name, value);
            }
        }
        command
            .envs(lambda_environment(config, api.addr(), &task_root))
            .envs(config.env.iter().map(|(name, value)| (name, value)))
            .env("AWS_LAMBDA_RUNTIME_API", api.addr().to_string())
            .current_dir(&task_root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);

        let mut init = api.init_state();
        let spawned_at = Instant::now();
        let mut child = command.spawn().map_err(spawn_error)?;
        let pid = child.id().unwrap_or_default();
        let mut readers = Vec::with_capacity(2);
        if let Some(stdout) = child.stdout.take() {
            readers.push(logs.capture(stdout, LogStream::Stdout, Arc::clone(&config.name)));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(logs.capture(stderr, LogStream::Stderr, Arc::clone(&config.name)));
        }
        tracing::debug!(function = %config.name, pid, runtime_api = %api.addr(), "function process started");

        let state = tokio::select! {
            biased;
            state = async {
                let state = init.wait_for(|state| !matches!(state, InitState::Initializing)).await;
                state.map(|state| state.clone()).ok()
            } => state,
            status = child.wait() => {
                // An init error posted just before exiting says more than the exit status.
                let state = init.borrow().clone();
                match state {
                    failed @ InitState::Failed { .. } => Some(failed),
                    _ => {
                        let status = describe_exit(status);
                        return Err(init_failed(config, logs, readers, InitFailure::Exited { status }).await);
                    }
                }
            }
            () = tokio::time::sleep(config.init_timeout) => None,
        };
        let cause = match state {
            Some(InitState::Ready(at)) => {
                let init_duration = at.saturating_duration_since(spawned_at);
                tracing::info!(function = %config.name, pid, ?init_duration, "function initialized");
                return Ok(Self {
                    child,
                    pid,
                    api,
                    init_duration,
                    invocations: 0,
                    readers,
                });
            }
            Some(InitState::Failed {
                error_type,
                error_message,
            }) => InitFailure::Reported {
                error_type,
                error_message,
            },
            Some(InitState::Initializing) | None => InitFailure::TimedOut {
                after: config.init_timeout,
            },
        };
        // Lambda stops an environment whose init failed.
        let _ = child.start_kill();
        let _ = child.wait().await;
        Err(init_failed(config, logs, readers, cause).await)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    pub(crate) fn runtime_api(&self) -> SocketAddr {
        self.api.addr()
    }

    pub(crate) fn init_duration(&self) -> Duration {
        self.init_duration
    }

    /// How many invocations this sandbox has answered.
    pub(crate) fn invocations(&self) -> u64 {
        self.invocations
    }

    /// Whether the process has ended (while idle, say).
    pub(crate) fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Runs one invocation: queues it for the runtime's poll and waits for its answer, the
    /// end of the process, or the timeout (which kills the process).
    pub(crate) async fn invoke(&mut self, queued: Queued, timeout: Duration) -> Ended {
        let request_id = queued.request_id.clone();
        let mut answer = self.api.submit(queued);
        let ended = tokio::select! {
            biased;
            answer = &mut answer => match answer {
                Ok(outcome) => Ended::Answered(outcome),
                // Cannot happen while the server lives; say so rather than hang.
                Err(_) => Ended::Answered(Outcome::Error {
                    error_type: "Runtime.Unknown".to_owned(),
                    error_message: format!("RequestId: {request_id} Error: the Runtime API lost the invocation"),
                }),
            },
            status = self.child.wait() => Ended::Exited(describe_exit(status)),
            () = tokio::time::sleep(timeout) => Ended::TimedOut,
        };
        match &ended {
            Ended::Answered(_) => self.invocations += 1,
            Ended::Exited(_) => self.drain_logs().await,
            Ended::TimedOut => {
                self.api.forget(&request_id);
                self.kill().await;
            }
        }
        ended
    }

    /// Kills the process, reaps it and collects its last output.
    pub(crate) async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.drain_logs().await;
    }

    async fn drain_logs(&mut self) {
        drain(&mut self.readers).await;
    }
}

async fn drain(readers: &mut Vec<JoinHandle<()>>) {
    let deadline = tokio::time::Instant::now() + LOG_DRAIN;
    for reader in readers.drain(..) {
        if tokio::time::timeout_at(deadline, reader).await.is_err() {
            tracing::debug!("the function's output stays open after it ended");
        }
    }
}

async fn init_failed(
    config: &Config,
    logs: &LogTail,
    mut readers: Vec<JoinHandle<()>>,
    cause: InitFailure,
) -> LocalLambdaError {
    drain(&mut readers).await;
    tracing::warn!(function = %config.name, %cause, "function failed to initialize");
    LocalLambdaError::Init {
        function: config.name.to_string(),
        cause,
        log_tail: logs.snapshot(),
    }
}

/// The environment Lambda gives a function on `provided.al2023` (without the credentials and
/// the X-Ray daemon, which the caller provides through [`Config::env`] when it wants them).
fn lambda_environment(
    config: &Config,
    runtime_api: SocketAddr,
    task_root: &std::path::Path,
) -> Vec<(OsString, OsString)> {
    let now = SystemTime::now();
    let mut env: Vec<(OsString, OsString)> = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", config.name.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", config.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", ids::log_stream_name(now)),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_REGION", config.region.clone()),
        ("AWS_DEFAULT_REGION", config.region.clone()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (OsString::from(name), OsString::from(value)))
    .collect();
    for name in ["LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"] {
        env.push((name.into(), task_root.as_os_str().to_owned()));
    }
    env
}

/// An exit status in the words of Lambda's `Runtime.ExitError` messages.
fn describe_exit(status: std::io::Result<ExitStatus>) -> String {
    let status = match status {
        Ok(status) => status,
        Err(error) => return format!("unknown exit status ({error})"),
    };
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            let name = match signal {
                6 => "aborted",
                9 => "killed",
                11 => "segmentation fault",
                15 => "terminated",
                _ => return format!("signal: {signal}"),
            };
            return format!("signal: {name}");
        }
    }
    status.to_string()
}
