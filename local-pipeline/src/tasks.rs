//! The state machine's integrations, run locally: the AWS SDK integration
//! `aws-sdk:s3:putObject` (the failure records) against the local S3, `lambda:invoke` with the real
//! `lambda-processor` binary behind the Lambda Runtime API, kept warm as Lambda keeps it, and
//! `ecs:runTask.sync` with the real `fargate-processor` binary, started with the environment
//! the task definition and the container overrides give it (or from the image's root
//! filesystem, chrooted as the image's user).
//!
//! An ECS task's output goes to `<log dir>/<execution name>/<task id>.log`, kept: task ids are
//! unique across runs of the pipeline. When its execution is asked to stop (the runner
//! stopping, or `StopExecution`), the container gets SIGTERM, as ECS sends it, and SIGKILL
//! [`STOP_TIMEOUT`] later if it is still running; `fargate-processor` exits `Interrupted`
//! (16) on SIGTERM. A Lambda invocation is waited for when the runner stops, and abandoned
//! (its process killed) when its execution is aborted.
//!
//! Their results and errors have the shapes Step Functions gives: the Lambda's error type is
//! the task's error; an invocation the function's concurrency limit throttles is
//! `Lambda.TooManyRequestsException` with the cause the service's answer gives; a container
//! that exits non-zero is `States.TaskFailed` with the stopped task, exit code included, as
//! the cause.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use local_lambda::{InvocationResult, LocalFunction, LocalLambdaError};
use serde_json::{Value, json};

use crate::interpreter::{TaskContext, TaskError, TaskRunner};

/// The `lambda:invoke` integration's resource.
pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
/// The AWS SDK integration's S3 `PutObject` (the failure records).
pub const S3_PUT_OBJECT: &str = "arn:aws:states:::aws-sdk:s3:putObject";
/// The `ecs:runTask.sync` integration's resource.
pub const ECS_RUN_TASK_SYNC: &str = "arn:aws:states:::ecs:runTask.sync";
/// The task error of a Lambda invocation that Lambda throttled.
pub const LAMBDA_TOO_MANY_REQUESTS: &str = "Lambda.TooManyRequestsException";
/// How long a container has between SIGTERM and SIGKILL: ECS's default `stopTimeout`.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How the ECS task's container is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerLauncher {
    /// The host build of `fargate-processor`.
    Binary(PathBuf),
    /// The image's exported root filesystem (`make image`), entered with `chroot --userspec`
    /// as the image's user, running its `/fargate-processor` (needs root).
    ImageRootfs(PathBuf),
}

/// The cluster and task definition the state machine may run, and how.
#[derive(Debug, Clone)]
pub struct EcsSettings {
    /// The cluster's ARN, as the state machine names it.
    pub cluster_arn: String,
    /// The task definition's ARN, as the state machine names it.
    pub task_definition_arn: String,
    /// The container's name in the task definition.
    pub container_name: String,
    /// The task definition's own environment (before overrides).
    pub environment: Vec<(String, String)>,
    /// What the local machine adds so that the task reaches the local S3 (endpoint,
    /// credentials, region): in AWS, the task role and the VPC provide these.
    pub local_environment: Vec<(String, String)>,
    /// How the container starts.
    pub launcher: ContainerLauncher,
    /// Where each task's output goes (`<execution name>/<task id>.log`).
    pub log_dir: PathBuf,
}

/// The local integrations: one warm Lambda function and the ECS task launcher.
pub struct LocalTasks {
    function: LocalFunction,
    ecs: EcsSettings,
    next_task: AtomicU64,
    s3: Option<aws_sdk_s3::Client>,
}

impl LocalTasks {
    /// Integrations over a started function and the ECS settings.
    pub fn new(function: LocalFunction, ecs: EcsSettings) -> LocalTasks {
        LocalTasks {
            function,
            ecs,
            next_task: AtomicU64::new(1),
            s3: None,
        }
    }

    /// The S3 client the `aws-sdk:s3:*` integrations call (the local S3's; without one they
    /// fail as a service error would).
    #[must_use]
    pub fn with_s3(mut self, client: aws_sdk_s3::Client) -> LocalTasks {
        self.s3 = Some(client);
        self
    }

    /// S3 `PutObject` as the AWS SDK integration calls it: `Bucket`, `Key`, `Body` (a string
    /// as it is, any other JSON serialised), `ContentType`; its output has the SDK's field
    /// names in PascalCase (`ETag`, `VersionId`), and an S3 error `X` is the task error
    /// `S3.XException` (AWS: "Learning to use AWS service SDK integrations in Step
    /// Functions", <https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html>).
    async fn put_object(&self, parameters: &Value) -> Result<Value, TaskError> {
        let Some(client) = &self.s3 else {
            return Err(TaskError {
                error: "S3.SdkClientException".into(),
                cause: "the local pipeline has no S3 client for the AWS SDK integration".into(),
            });
        };
        let field = |name: &str| {
            parameters[name].as_str().ok_or_else(|| TaskError {
                error: "States.Runtime".into(),
                cause: format!("the putObject parameters have no {name} string"),
            })
        };
        let body = match &parameters["Body"] {
            Value::String(text) => text.clone().into_bytes(),
            Value::Null => Vec::new(),
            other => other.to_string().into_bytes(),
        };
        let mut request = client
            .put_object()
            .bucket(field("Bucket")?)
            .key(field("Key")?)
            .body(body.into());
        if let Some(content_type) = parameters["ContentType"].as_str() {
            request = request.content_type(content_type);
        }
        let output = request.send().await.map_err(|error| {
            use aws_sdk_s3::error::ProvideErrorMetadata;
            let code = error.code().unwrap_or("S3").to_owned();
            let message = error.message().map(str::to_owned);
            TaskError {
                error: if code.ends_with("Exception") {
                    format!("S3.{code}")
                } else {
                    format!("S3.{code}Exception")
                },
                cause: message
                    .unwrap_or_else(|| aws_sdk_s3::error::DisplayErrorContext(&error).to_string()),
            }
        })?;
        let mut answer = serde_json::Map::new();
        if let Some(etag) = output.e_tag() {
            answer.insert("ETag".into(), etag.into());
        }
        if let Some(version) = output.version_id() {
            answer.insert("VersionId".into(), version.into());
        }
        Ok(Value::Object(answer))
    }

    /// The function (to shut it down).
    pub fn function(&self) -> &LocalFunction {
        &self.function
    }

    async fn invoke_lambda(
        &self,
        parameters: &Value,
        task: &TaskContext,
    ) -> Result<Value, TaskError> {
        let name = parameters["FunctionName"].as_str().unwrap_or_default();
        if name != self.function.function_arn() && name != self.function.name() {
            return Err(TaskError {
                error: "Lambda.ResourceNotFoundException".into(),
                cause: format!("Function not found: {name}"),
            });
        }
        let payload = parameters.get("Payload").cloned().unwrap_or(Value::Null);
        // Aborted: the invocation is abandoned (dropping it kills the function's process).
        let mut stop = task.stop.clone();
        let invocation = tokio::select! {
            invocation = self.function.invoke(&payload) => invocation,
            () = stop.aborted() => {
                return Err(TaskError {
                    error: "States.Aborted".into(),
                    cause: "the execution was stopped".into(),
                });
            }
        };
        let invocation = invocation.map_err(|e| match e {
            LocalLambdaError::TooManyRequests { request_id, .. } => throttled(&request_id),
            other => TaskError {
                error: "Lambda.ServiceException".into(),
                cause: format!("the local Lambda failed: {other}"),
            },
        })?;
        match invocation.result {
            InvocationResult::Success(payload) => Ok(json!({
                "ExecutedVersion": "$LATEST",
                "Payload": payload,
                "StatusCode": 200,
            })),
            InvocationResult::Error {
                error_type,
                error_message,
            } => Err(TaskError {
                cause: json!({ "errorType": error_type, "errorMessage": error_message })
                    .to_string(),
                error: error_type,
            }),
        }
    }

    async fn run_ecs_task(
        &self,
        parameters: &Value,
        task: &TaskContext,
    ) -> Result<Value, TaskError> {
        let refuse = |what: &str| TaskError {
            error: "ECS.InvalidParameterException".into(),
            cause: what.to_owned(),
        };
        if parameters["Cluster"] != self.ecs.cluster_arn.as_str() {
            return Err(refuse(&format!(
                "unknown cluster {}",
                parameters["Cluster"]
            )));
        }
        if parameters["TaskDefinition"] != self.ecs.task_definition_arn.as_str() {
            return Err(refuse(&format!(
                "unknown task definition {}",
                parameters["TaskDefinition"]
            )));
        }
        let mut environment = self.ecs.environment.clone();
        for container in parameters["Overrides"]["ContainerOverrides"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
        {
            if container["Name"] != self.ecs.container_name.as_str() {
                return Err(refuse(&format!("no container named {}", container["Name"])));
            }
            for variable in container["Environment"]
                .as_array()
                .map_or(&[][..], Vec::as_slice)
            {
                let (Some(name), Some(value)) =
                    (variable["Name"].as_str(), variable["Value"].as_str())
                else {
                    return Err(refuse("an environment override without Name and Value"));
                };
                environment.retain(|(n, _)| n != name);
                environment.push((name.to_owned(), value.to_owned()));
            }
        }
        let task_id = self.task_id();
        let cluster = self
            .ecs
            .cluster_arn
            .rsplit('/')
            .next()
            .unwrap_or("local")
            .to_owned();
        let task_arn = self
            .ecs
            .cluster_arn
            .replace(":cluster/", ":task/")
            .replace(&format!("/{cluster}"), &format!("/{cluster}/{task_id}"));
        let exit = self.start_container(&task_id, &environment, task).await?;
        let mut container = json!({
            "Name": self.ecs.container_name,
            "LastStatus": "STOPPED",
            "TaskArn": task_arn,
        });
        match exit {
            Some(code) => container["ExitCode"] = code.into(),
            None => container["Reason"] = "the process was killed by a signal".into(),
        }
        let task = json!({
            "TaskArn": task_arn,
            "ClusterArn": self.ecs.cluster_arn,
            "TaskDefinitionArn": self.ecs.task_definition_arn,
            "LaunchType": "FARGATE",
            "LastStatus": "STOPPED",
            "DesiredStatus": "STOPPED",
            "StopCode": "EssentialContainerExited",
            "StoppedReason": "Essential container in task exited",
            "Containers": [container],
        });
        if exit == Some(0) {
            Ok(task)
        } else {
            Err(TaskError {
                error: "States.TaskFailed".into(),
                cause: task.to_string(),
            })
        }
    }

    /// A task id unique across runs, 32 hex digits as ECS gives: the time, this process, and
    /// a counter.
    fn task_id(&self) -> String {
        let number = self.next_task.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let stamp = u64::try_from(nanos & u128::from(u64::MAX)).unwrap_or_default();
        format!(
            "{stamp:016x}{:08x}{:08x}",
            std::process::id(),
            number & 0xffff_ffff
        )
    }

    /// Where the task `task_id` of the execution `execution` logs.
    pub fn log_path(&self, execution: &str, task_id: &str) -> PathBuf {
        self.ecs
            .log_dir
            .join(log_folder(execution))
            .join(format!("{task_id}.log"))
    }

    /// Runs the container to its end; its exit code (`None`: killed by a signal). When the
    /// execution is asked to stop, the container gets SIGTERM, then SIGKILL after
    /// [`STOP_TIMEOUT`].
    async fn start_container(
        &self,
        task_id: &str,
        environment: &[(String, String)],
        task: &TaskContext,
    ) -> Result<Option<i32>, TaskError> {
        let mut command = match &self.ecs.launcher {
            ContainerLauncher::Binary(binary) => tokio::process::Command::new(binary),
            ContainerLauncher::ImageRootfs(root) => {
                // Found on this process's PATH: the container's environment has none.
                let chroot = std::env::var_os("PATH")
                    .and_then(|path| {
                        std::env::split_paths(&path)
                            .map(|dir| dir.join("chroot"))
                            .find(|candidate| candidate.is_file())
                    })
                    .unwrap_or_else(|| PathBuf::from("/usr/sbin/chroot"));
                let mut command = tokio::process::Command::new(chroot);
                command
                    .arg(format!("--userspec={}", infra::template::CONTAINER_USER))
                    .arg(root)
                    .arg("/fargate-processor");
                command
            }
        };
        let log_path = self.log_path(&task.execution_name, task_id);
        if let Some(folder) = log_path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| start_failure(&e))?;
        }
        let log = std::fs::File::create(&log_path).map_err(|e| start_failure(&e))?;
        let log_err = log.try_clone().map_err(|e| start_failure(&e))?;
        command
            .env_clear()
            .envs(environment.iter().map(|(k, v)| (k, v)))
            .envs(self.ecs.local_environment.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| start_failure(&e))?;
        tracing::info!(execution = %task.execution_name, task = task_id, log = %log_path.display(), "ECS task started");
        let mut stop = task.stop.clone();
        let status = tokio::select! {
            status = child.wait() => status,
            request = stop.requested() => {
                tracing::info!(execution = %task.execution_name, task = task_id, ?request, "stopping the ECS task: SIGTERM");
                terminate(&mut child).await
            }
        }
        .map_err(|e| start_failure(&e))?;
        Ok(status.code())
    }
}

/// Stops a container as ECS does: SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]; its status.
async fn terminate(child: &mut tokio::process::Child) -> std::io::Result<std::process::ExitStatus> {
    if let Some(pid) = child.id() {
        // `kill(1)`: this crate forbids the unsafe a direct kill(2) needs.
        let sent = tokio::process::Command::new("kill")
            .args(["-s", "TERM", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if !sent.is_ok_and(|status| status.success()) {
            tracing::warn!(pid, "cannot send SIGTERM: SIGKILL instead");
            child.start_kill()?;
        }
    }
    match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracing::warn!("the ECS task ignored SIGTERM for {STOP_TIMEOUT:?}: SIGKILL");
            child.start_kill()?;
            child.wait().await
        }
    }
}

/// The folder of an execution's task logs: its name (`.` and `..`, valid execution names,
/// are kept inside the log folder).
fn log_folder(execution: &str) -> &Path {
    match execution {
        "." => Path::new("_."),
        ".." => Path::new("_.."),
        name => Path::new(name),
    }
}

/// A throttled invocation, as the `lambda:invoke` integration reports Lambda's HTTP 429
/// answer: the exception's name prefixed with `Lambda.`, its message and the SDK's summary of
/// the call as the cause.
fn throttled(request_id: &str) -> TaskError {
    TaskError {
        error: LAMBDA_TOO_MANY_REQUESTS.into(),
        cause: format!(
            "{} (Service: AWSLambda; Status Code: 429; Error Code: TooManyRequestsException; Request ID: {request_id}; Proxy: null)",
            local_lambda::TOO_MANY_REQUESTS_MESSAGE
        ),
    }
}

/// A container that could not start: ECS reports it as a failed task without an exit code.
fn start_failure(error: &std::io::Error) -> TaskError {
    TaskError {
        error: "States.TaskFailed".into(),
        cause: json!({
            "StopCode": "TaskFailedToStart",
            "StoppedReason": format!("CannotStartContainerError: {error}"),
            "Containers": [],
        })
        .to_string(),
    }
}

#[async_trait]
impl TaskRunner for LocalTasks {
    async fn run(
        &self,
        resource: &str,
        parameters: Value,
        task: &TaskContext,
    ) -> Result<Value, TaskError> {
        match resource {
            LAMBDA_INVOKE => self.invoke_lambda(&parameters, task).await,
            ECS_RUN_TASK_SYNC => self.run_ecs_task(&parameters, task).await,
            S3_PUT_OBJECT => self.put_object(&parameters).await,
            other => Err(TaskError {
                error: "States.Runtime".into(),
                cause: format!("the local pipeline has no integration {other}"),
            }),
        }
    }
}
