//! The state machine's two integrations, run locally: `lambda:invoke` with the real
//! `lambda-processor` binary behind the Lambda Runtime API, kept warm as Lambda keeps it, and
//! `ecs:runTask.sync` with the real `fargate-processor` binary, started with the environment
//! the task definition and the container overrides give it (or from the image's root
//! filesystem, chrooted as the image's user).
//!
//! Their results and errors have the shapes Step Functions gives: the Lambda's error type is
//! the task's error; an invocation the function's concurrency limit throttles is
//! `Lambda.TooManyRequestsException` with the cause the service's answer gives; a container
//! that exits non-zero is `States.TaskFailed` with the stopped task, exit code included, as
//! the cause.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use local_lambda::{InvocationResult, LocalFunction, LocalLambdaError};
use serde_json::{Value, json};

use crate::interpreter::{TaskError, TaskRunner};

/// The `lambda:invoke` integration's resource.
pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
/// The `ecs:runTask.sync` integration's resource.
pub const ECS_RUN_TASK_SYNC: &str = "arn:aws:states:::ecs:runTask.sync";
/// The task error of a Lambda invocation that Lambda throttled.
pub const LAMBDA_TOO_MANY_REQUESTS: &str = "Lambda.TooManyRequestsException";

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
    /// Where each task's output goes (`<task id>.log`).
    pub log_dir: PathBuf,
}

/// The local integrations: one warm Lambda function and the ECS task launcher.
pub struct LocalTasks {
    function: LocalFunction,
    ecs: EcsSettings,
    next_task: AtomicU64,
}

impl LocalTasks {
    /// Integrations over a started function and the ECS settings.
    pub fn new(function: LocalFunction, ecs: EcsSettings) -> LocalTasks {
        LocalTasks {
            function,
            ecs,
            next_task: AtomicU64::new(1),
        }
    }

    /// The function (to shut it down).
    pub fn function(&self) -> &LocalFunction {
        &self.function
    }

    async fn invoke_lambda(&self, parameters: &Value) -> Result<Value, TaskError> {
        let name = parameters["FunctionName"].as_str().unwrap_or_default();
        if name != self.function.function_arn() && name != self.function.name() {
            return Err(TaskError {
                error: "Lambda.ResourceNotFoundException".into(),
                cause: format!("Function not found: {name}"),
            });
        }
        let payload = parameters.get("Payload").cloned().unwrap_or(Value::Null);
        let invocation = self.function.invoke(&payload).await.map_err(|e| match e {
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

    async fn run_ecs_task(&self, parameters: &Value) -> Result<Value, TaskError> {
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
        let number = self.next_task.fetch_add(1, Ordering::Relaxed);
        let task_id = format!("{number:032x}");
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
        let exit = self.start_container(&task_id, &environment).await?;
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

    /// Runs the container to its end; its exit code (`None`: killed by a signal).
    async fn start_container(
        &self,
        task_id: &str,
        environment: &[(String, String)],
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
        std::fs::create_dir_all(&self.ecs.log_dir).map_err(|e| start_failure(&e))?;
        let log = std::fs::File::create(self.ecs.log_dir.join(format!("{task_id}.log")))
            .map_err(|e| start_failure(&e))?;
        let log_err = log.try_clone().map_err(|e| start_failure(&e))?;
        command
            .env_clear()
            .envs(environment.iter().map(|(k, v)| (k, v)))
            .envs(self.ecs.local_environment.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true);
        let status = command
            .spawn()
            .map_err(|e| start_failure(&e))?
            .wait()
            .await
            .map_err(|e| start_failure(&e))?;
        Ok(status.code())
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
    async fn run(&self, resource: &str, parameters: Value) -> Result<Value, TaskError> {
        match resource {
            LAMBDA_INVOKE => self.invoke_lambda(&parameters).await,
            ECS_RUN_TASK_SYNC => self.run_ecs_task(&parameters).await,
            other => Err(TaskError {
                error: "States.Runtime".into(),
                cause: format!("the local pipeline has no integration {other}"),
            }),
        }
    }
}
