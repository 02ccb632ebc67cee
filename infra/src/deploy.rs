//! `infra deploy`, `infra destroy` and `infra outputs`: the stack through CloudFormation change
//! sets. Every input is checked before the first AWS call ([`crate::request`]), the account
//! before anything is written ([`crate::preflight`]); progress goes to a callback as
//! [`Progress`] events, failures come back as a [`DeployError`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter as StackParameter, StackStatus,
    Tag as StackTag,
};

use crate::clients::{Clients, aws_error};
use crate::preflight::{self, BucketProbe, Check, PreflightRequest};
use crate::request::{
    DeployRequest, ImageSource, InvalidInput, StackSettings, check_prefixes, check_request,
    check_stack_name, check_task_size, default_artifact_bucket, parse_image_uri,
};
use crate::template::{self, Settings, param};
use shared::Contracts;

/// Why a deploy, destroy or outputs call failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The request itself is wrong; nothing was sent.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// No region in the arguments or the environment.
    #[error("no region: pass --region or set AWS_REGION")]
    NoRegion,
    /// The preflight found blockers; nothing was created.
    #[error("preflight: {} blocker(s): {}", .0.len(), .0.iter().map(|c| c.name).collect::<Vec<_>>().join(", "))]
    Blocked(Vec<Check>),
    /// An AWS call failed.
    #[error("{what}: {detail}")]
    Aws {
        /// What was being done.
        what: String,
        /// The service's error code and message, or the failure.
        detail: String,
    },
    /// A local file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The deployment bucket cannot be used; nothing was written to it.
    #[error("the deployment bucket {bucket}: {problem}")]
    DeploymentBucket {
        /// Its name.
        bucket: String,
        /// What is wrong.
        problem: String,
    },
    /// The stack is in a state no change set can start from.
    #[error("stack {stack} is {status}: {advice}")]
    StackBusy {
        /// The stack.
        stack: String,
        /// Its status.
        status: String,
        /// What to do.
        advice: String,
    },
    /// CloudFormation refused the change set.
    #[error("the change set failed: {0}")]
    ChangeSet(String),
    /// The stack's create, update or delete ended in failure.
    #[error("stack {stack} ended {status}:\n{failures}")]
    StackFailed {
        /// The stack.
        stack: String,
        /// Its final status.
        status: String,
        /// The failed resources, one per line, with their reasons.
        failures: String,
    },
    /// The stack has no such output.
    #[error("stack {stack} has no output {name}")]
    NoOutput {
        /// The stack.
        stack: String,
        /// The output asked for.
        name: String,
    },
}

/// What a deploy or destroy is doing, for the caller to show.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The preflight's checks (before anything is created).
    Preflight(Vec<Check>),
    /// The deployment bucket is being created.
    CreatingBucket(String),
    /// A file was uploaded to `s3://bucket/key`.
    Uploaded(String),
    /// A file was at `s3://bucket/key` already (content-addressed).
    AlreadyUploaded(String),
    /// The change set is ready: whether it creates the stack, and its changes, one per line.
    Changes {
        /// A create, not an update.
        create: bool,
        /// `action type logical-id (replacement)`.
        changes: Vec<String>,
    },
    /// The change set holds nothing: the stack is up to date.
    NoChanges,
    /// A stack event.
    StackEvent {
        /// Seconds since the change began.
        elapsed: Duration,
        /// Resources done so far.
        done: usize,
        /// Resources expected (0 when unknown).
        expected: usize,
        /// The resource's status.
        status: String,
        /// Its type.
        resource_type: String,
        /// Its logical id.
        logical_id: String,
        /// CloudFormation's reason, if any.
        reason: Option<String>,
    },
    /// The stack's outputs.
    Outputs(Vec<(String, String)>),
    /// There was no stack to delete.
    NothingToDelete,
    /// The stack is deleted (the bucket and key are kept).
    Deleted,
}

/// What `deploy` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployOutcome {
    /// The stack was created.
    Created,
    /// The stack was updated.
    Updated,
    /// The stack already matched.
    NoChanges,
}

/// A stack's status and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackState {
    /// Its status, e.g. `UPDATE_COMPLETE`.
    pub status: String,
    /// Its parameters' current values.
    pub parameters: BTreeMap<String, String>,
}

/// The stack's state, or `None` when there is no such stack.
pub async fn stack_state(
    clients: &Clients,
    stack: &str,
) -> Result<Option<StackState>, DeployError> {
    match clients
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
    {
        Ok(out) => Ok(out.stacks().first().map(|s| StackState {
            status: s
                .stack_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            parameters: s
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_owned(),
                        p.parameter_value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
        })),
        Err(e) if e.message().is_some_and(|m| m.contains("does not exist")) => Ok(None),
        Err(e) => Err(aws_error("describing the stack", &e)),
    }
}

/// The value a parameter will have after the deploy: the one asked for, else the stack's
/// current one, else the template's default.
pub fn effective(
    settings: &StackSettings,
    stack: Option<&StackState>,
    name: &str,
) -> Option<String> {
    settings
        .parameters()
        .into_iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .or_else(|| stack.and_then(|s| s.parameters.get(name).cloned()))
        .or_else(|| template::parameter_default(name))
}

/// Hex SHA-256 of `bytes`: content-addressed keys.
fn content_hash(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The deployment bucket, ready for uploads: ours, in the stack's region, created if
/// missing. Every call on it names our account as the expected owner.
async fn ensure_bucket(
    clients: &Clients,
    bucket: &str,
    account: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), DeployError> {
    let refuse = |problem: String| DeployError::DeploymentBucket {
        bucket: bucket.to_owned(),
        problem,
    };
    match preflight::probe_bucket(clients, bucket, account).await {
        BucketProbe::Ours { region } if region == clients.region => return Ok(()),
        BucketProbe::Ours { region } => {
            return Err(refuse(format!(
                "it is in {region}, and the Lambda code must be in the stack's region, {}; \
                 pass --artifact-bucket",
                clients.region
            )));
        }
        BucketProbe::NotOurs { evidence } => {
            return Err(refuse(format!(
                "it belongs to another account ({evidence}); pass --artifact-bucket with one \
                 of yours"
            )));
        }
        BucketProbe::Unknown(e) => return Err(refuse(format!("could not check it: {e}"))),
        BucketProbe::Missing => {}
    }
    progress(Progress::CreatingBucket(bucket.to_owned()));
    let mut create = clients.s3.create_bucket().bucket(bucket);
    if clients.region != "us-east-1" {
        create = create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(clients.region.as_str().into())
                .build(),
        );
    }
    if let Err(e) = create.send().await {
        return Err(match e.code() {
            // Taken between the probe and now, by someone else.
            Some("BucketAlreadyExists") => refuse("another account owns that name".into()),
            _ => aws_error("creating the deployment bucket", &e),
        });
    }
    clients
        .s3
        .put_public_access_block()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(true)
                .ignore_public_acls(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_error("blocking public access to the deployment bucket", &e))?;
    Ok(())
}

/// Uploads `bytes` under a content-addressed key unless it is there already.
async fn upload(
    clients: &Clients,
    bucket: &str,
    account: &str,
    key: &str,
    bytes: Vec<u8>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), DeployError> {
    let url = format!("s3://{bucket}/{key}");
    if clients
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .expected_bucket_owner(account)
        .send()
        .await
        .is_ok()
    {
        progress(Progress::AlreadyUploaded(url));
        return Ok(());
    }
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .expected_bucket_owner(account)
        .body(bytes.into())
        .send()
        .await
        .map_err(|e| aws_error(format!("uploading {url}"), &e))?;
    progress(Progress::Uploaded(url));
    Ok(())
}

/// The template to deploy: the generated one (with `contracts`), or the file given.
fn template_text(request: &DeployRequest, contracts: &Contracts) -> Result<String, DeployError> {
    match &request.template_file {
        Some(path) => std::fs::read_to_string(path).map_err(|source| DeployError::Read {
            path: path.clone(),
            source,
        }),
        None => Ok(template::template(&Settings {
            contracts: contracts.clone(),
            ..Settings::default()
        })
        .to_json()),
    }
}

/// The preflight a deploy runs first.
fn preflight_request(request: &DeployRequest) -> PreflightRequest {
    PreflightRequest {
        stack_name: request.stack_name.clone(),
        settings: request.settings.clone(),
        image_uri: request.image_uri.clone(),
        artifact_bucket: request.artifact_bucket.clone(),
    }
}

/// Checks what the stack's settings will be after the deploy (the ones asked for over the
/// stack's current ones over the template's defaults): disjoint prefixes, a task size
/// Fargate runs, data contracts under the input prefix. Returns the contracts.
fn check_effective(
    request: &DeployRequest,
    current: Option<&StackState>,
) -> Result<Contracts, InvalidInput> {
    let value = |name: &str| effective(&request.settings, current, name).unwrap_or_default();
    let input_prefix = value(param::INPUT_PREFIX);
    check_prefixes(&input_prefix, &value(param::OUTPUT_PREFIX))?;
    let number = |name: &str| value(name).parse::<u32>().unwrap_or(0);
    check_task_size(number(param::TASK_CPU), number(param::TASK_MEMORY))?;
    template::load_contracts(&request.contracts_dir, &input_prefix).map_err(|e| InvalidInput {
        what: "a data contract".into(),
        problem: e.to_string(),
    })
}

/// The stack's parameters for a change set: the code and image always; each setting asked
/// for; on an update, every other parameter the stack has keeps its value
/// (`UsePreviousValue`), and a parameter it lacks (new in this template) takes its default.
fn stack_parameters(
    request: &DeployRequest,
    current: Option<&StackState>,
    bucket: &str,
    zip_key: &str,
) -> Vec<StackParameter> {
    let image_repository = match request.image_uri.as_deref().map(parse_image_uri) {
        Some(Ok(ImageSource::Ecr {
            account,
            region,
            repository,
            ..
        })) => format!("arn:aws:ecr:{region}:{account}:repository/{repository}"),
        _ => String::new(),
    };
    let mut given: BTreeMap<&str, String> = request.settings.parameters().into_iter().collect();
    given.insert(param::LAMBDA_CODE_BUCKET, bucket.to_owned());
    given.insert(param::LAMBDA_CODE_KEY, zip_key.to_owned());
    given.insert(param::IMAGE_TAG, request.image_tag.clone());
    given.insert(
        param::IMAGE_URI,
        request.image_uri.clone().unwrap_or_default(),
    );
    given.insert(param::IMAGE_REPOSITORY_ARN, image_repository);
    let mut parameters: Vec<StackParameter> = given
        .into_iter()
        .map(|(key, value)| {
            StackParameter::builder()
                .parameter_key(key)
                .parameter_value(value)
                .build()
        })
        .collect();
    if let Some(current) = current {
        for key in current.parameters.keys() {
            if !parameters
                .iter()
                .any(|p| p.parameter_key() == Some(key.as_str()))
            {
                parameters.push(
                    StackParameter::builder()
                        .parameter_key(key)
                        .use_previous_value(true)
                        .build(),
                );
            }
        }
    }
    parameters.sort_by(|a, b| a.parameter_key().cmp(&b.parameter_key()));
    parameters
}

/// Where `stage` put the deploy's files.
struct Staged {
    bucket: String,
    zip_key: String,
    template_url: String,
}

/// Uploads the Lambda zip and the template to the deployment bucket (ours, created if
/// missing), under content-addressed keys.
async fn stage(
    clients: &Clients,
    request: &DeployRequest,
    contracts: &Contracts,
    account: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<Staged, DeployError> {
    let bucket = match &request.artifact_bucket {
        Some(bucket) => bucket.clone(),
        None => default_artifact_bucket(&request.stack_name, account, &clients.region),
    };
    ensure_bucket(clients, &bucket, account, progress).await?;
    let zip = std::fs::read(&request.lambda_zip).map_err(|source| DeployError::Read {
        path: request.lambda_zip.clone(),
        source,
    })?;
    let zip_key = format!("lambda/{}.zip", content_hash(&zip));
    upload(clients, &bucket, account, &zip_key, zip, progress).await?;
    let template_text = template_text(request, contracts)?;
    let template_key = format!("templates/{}.json", content_hash(template_text.as_bytes()));
    upload(
        clients,
        &bucket,
        account,
        &template_key,
        template_text.into_bytes(),
        progress,
    )
    .await?;
    let template_url = format!(
        "https://{bucket}.s3.{}.amazonaws.com/{template_key}",
        clients.region
    );
    Ok(Staged {
        bucket,
        zip_key,
        template_url,
    })
}

/// A create or an update, from the stack's state; a state no change set starts from is an
/// error (the preflight says what to do about it).
fn change_set_type(
    stack: &str,
    current: Option<&StackState>,
) -> Result<ChangeSetType, DeployError> {
    match current.map(|s| s.status.as_str()) {
        None | Some("REVIEW_IN_PROGRESS") => Ok(ChangeSetType::Create),
        Some(status)
            if status.ends_with("_IN_PROGRESS")
                || status.ends_with("_FAILED")
                || status == "ROLLBACK_COMPLETE" =>
        {
            Err(DeployError::StackBusy {
                stack: stack.to_owned(),
                status: status.to_owned(),
                advice: "see `infra preflight` for what to do".into(),
            })
        }
        Some(_) => Ok(ChangeSetType::Update),
    }
}

/// Creates or updates the stack through a change set: checks the request, runs the
/// preflight (stopping at a blocker), uploads the Lambda zip and the template
/// (content-addressed), shows the changes, follows the stack's events to the end.
pub async fn deploy(
    clients: &Clients,
    request: &DeployRequest,
    progress: &mut dyn FnMut(Progress),
) -> Result<DeployOutcome, DeployError> {
    check_request(request)?;
    let stack = request.stack_name.as_str();
    let preflight_request = preflight_request(request);
    let facts = preflight::gather(clients, &preflight_request).await;
    let checks = preflight::evaluate(&preflight_request, &facts);
    progress(Progress::Preflight(checks.clone()));
    preflight::blockers(&checks)?;
    let account = facts.account.clone().map_err(|detail| DeployError::Aws {
        what: "finding the account (sts:GetCallerIdentity)".into(),
        detail,
    })?;
    let current = stack_state(clients, stack).await?;
    let contracts = check_effective(request, current.as_ref())?;
    let change_set_type = change_set_type(stack, current.as_ref())?;
    let staged = stage(clients, request, &contracts, &account, progress).await?;
    let previous = if change_set_type == ChangeSetType::Update {
        current.as_ref()
    } else {
        None
    };
    let parameters = stack_parameters(request, previous, &staged.bucket, &staged.zip_key);
    let change_set = format!(
        "deploy-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    );
    // Without --tag an update keeps the stack's tags; with it, they are replaced.
    let tags = (!request.tags.is_empty()).then(|| {
        request
            .tags
            .iter()
            .map(|t| StackTag::builder().key(&t.key).value(&t.value).build())
            .collect()
    });
    clients
        .cloudformation
        .create_change_set()
        .stack_name(stack)
        .change_set_name(&change_set)
        .change_set_type(change_set_type.clone())
        .template_url(&staged.template_url)
        .set_parameters(Some(parameters))
        .set_tags(tags)
        .capabilities(Capability::CapabilityIam)
        .description("infra deploy")
        .send()
        .await
        .map_err(|e| aws_error("creating the change set", &e))?;

    let Some(changes) = wait_for_change_set(clients, stack, &change_set).await? else {
        progress(Progress::NoChanges);
        progress(Progress::Outputs(outputs(clients, stack).await?));
        return Ok(DeployOutcome::NoChanges);
    };
    let expected = changes.len();
    progress(Progress::Changes {
        create: change_set_type == ChangeSetType::Create,
        changes,
    });

    let started = Instant::now();
    let since = aws_sdk_cloudformation::primitives::DateTime::from(std::time::SystemTime::now());
    clients
        .cloudformation
        .execute_change_set()
        .stack_name(stack)
        .change_set_name(&change_set)
        .send()
        .await
        .map_err(|e| aws_error("executing the change set", &e))?;
    let status = follow_stack(clients, stack, since, started, expected, progress).await?;
    let outcome = match status {
        Some(StackStatus::CreateComplete) => DeployOutcome::Created,
        Some(StackStatus::UpdateComplete) => DeployOutcome::Updated,
        other => {
            return Err(DeployError::StackFailed {
                stack: stack.to_owned(),
                status: other
                    .as_ref()
                    .map_or("deleted", StackStatus::as_str)
                    .to_owned(),
                failures: failures(clients, stack, since).await,
            });
        }
    };
    progress(Progress::Outputs(outputs(clients, stack).await?));
    Ok(outcome)
}

/// Waits for the change set; its changes as lines, or `None` when it holds none.
async fn wait_for_change_set(
    clients: &Clients,
    stack: &str,
    change_set: &str,
) -> Result<Option<Vec<String>>, DeployError> {
    loop {
        let out = clients
            .cloudformation
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(change_set)
            .send()
            .await
            .map_err(|e| aws_error("describing the change set", &e))?;
        match out.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                let lines = out
                    .changes()
                    .iter()
                    .filter_map(|c| c.resource_change())
                    .map(|r| {
                        let action = r.action().map_or("?", |a| a.as_str());
                        let replacement = r
                            .replacement()
                            .filter(|r| r.as_str() != "False")
                            .map(|r| format!(" (replacement: {})", r.as_str()))
                            .unwrap_or_default();
                        format!(
                            "{action:<7} {:<36} {}{replacement}",
                            r.resource_type().unwrap_or("?"),
                            r.logical_resource_id().unwrap_or("?")
                        )
                    })
                    .collect();
                return Ok(Some(lines));
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = out.status_reason().unwrap_or("no reason given");
                if reason.contains("didn't contain changes") || reason.contains("No updates") {
                    delete_change_set(clients, stack, change_set).await;
                    return Ok(None);
                }
                return Err(DeployError::ChangeSet(reason.to_owned()));
            }
            _ => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
}

/// Deletes a change set that holds nothing (best effort: it would only clutter the stack).
async fn delete_change_set(clients: &Clients, stack: &str, change_set: &str) {
    let _ = clients
        .cloudformation
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(change_set)
        .send()
        .await;
}

/// Every stack event since `since`, oldest first, reading every page.
async fn events_since(
    clients: &Clients,
    stack: &str,
    since: aws_sdk_cloudformation::primitives::DateTime,
) -> Result<Vec<aws_sdk_cloudformation::types::StackEvent>, DeployError> {
    let mut pages = clients
        .cloudformation
        .describe_stack_events()
        .stack_name(stack)
        .into_paginator()
        .send();
    let mut events = Vec::new();
    'pages: while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("reading the stack's events", &e))?;
        // Newest first: past `since`, the older pages hold nothing of this change.
        for event in page.stack_events() {
            if event.timestamp().is_some_and(|t| t.secs() < since.secs()) {
                break 'pages;
            }
            events.push(event.clone());
        }
    }
    events.reverse();
    Ok(events)
}

/// Reports the stack's events since `since` until it settles; its final status (`None`:
/// it no longer exists).
async fn follow_stack(
    clients: &Clients,
    stack: &str,
    since: aws_sdk_cloudformation::primitives::DateTime,
    started: Instant,
    expected: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<Option<StackStatus>, DeployError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut done = 0;
    loop {
        let status = stack_state(clients, stack)
            .await?
            .map(|s| StackStatus::from(s.status.as_str()));
        if let Ok(events) = events_since(clients, stack, since).await {
            for event in events {
                if !seen.insert(event.event_id().unwrap_or_default().to_owned()) {
                    continue;
                }
                let state = event.resource_status().map_or("?", |s| s.as_str());
                if state.ends_with("_COMPLETE") && event.logical_resource_id() != Some(stack) {
                    done += 1;
                }
                progress(Progress::StackEvent {
                    elapsed: started.elapsed(),
                    done,
                    expected,
                    status: state.to_owned(),
                    resource_type: event.resource_type().unwrap_or_default().to_owned(),
                    logical_id: event.logical_resource_id().unwrap_or_default().to_owned(),
                    reason: event.resource_status_reason().map(str::to_owned),
                });
            }
        }
        match &status {
            Some(s) if s.as_str().ends_with("_IN_PROGRESS") => {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            _ => return Ok(status),
        }
    }
}

/// The failed resources since `since`, one per line with their reasons.
async fn failures(
    clients: &Clients,
    stack: &str,
    since: aws_sdk_cloudformation::primitives::DateTime,
) -> String {
    let Ok(events) = events_since(clients, stack, since).await else {
        return "  (no events: the stack is gone)".into();
    };
    let mut lines = String::new();
    for event in events {
        if event
            .resource_status()
            .is_some_and(|s| s.as_str().ends_with("_FAILED"))
        {
            let _ = writeln!(
                lines,
                "  {} ({}): {}",
                event.logical_resource_id().unwrap_or("?"),
                event.resource_type().unwrap_or("?"),
                event.resource_status_reason().unwrap_or("no reason given")
            );
        }
    }
    if lines.is_empty() {
        lines.push_str("  (no resource reported a failure)");
    }
    lines
}

/// The stack's outputs, by name.
pub async fn outputs(clients: &Clients, stack: &str) -> Result<Vec<(String, String)>, DeployError> {
    check_stack_name(stack)?;
    let out = clients
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| aws_error(format!("describing stack {stack}"), &e))?;
    Ok(out
        .stacks()
        .first()
        .map(|s| {
            s.outputs()
                .iter()
                .map(|o| {
                    (
                        o.output_key().unwrap_or_default().to_owned(),
                        o.output_value().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// One output's value.
pub async fn output(clients: &Clients, stack: &str, name: &str) -> Result<String, DeployError> {
    outputs(clients, stack)
        .await?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
        .ok_or_else(|| DeployError::NoOutput {
            stack: stack.to_owned(),
            name: name.to_owned(),
        })
}

/// Deletes the stack and follows it to the end; `false` when there was none.
pub async fn destroy(
    clients: &Clients,
    stack: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<bool, DeployError> {
    check_stack_name(stack)?;
    if stack_state(clients, stack).await?.is_none() {
        progress(Progress::NothingToDelete);
        return Ok(false);
    }
    let started = Instant::now();
    let since = aws_sdk_cloudformation::primitives::DateTime::from(std::time::SystemTime::now());
    clients
        .cloudformation
        .delete_stack()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| aws_error(format!("deleting stack {stack}"), &e))?;
    match follow_stack(clients, stack, since, started, 0, progress).await? {
        None | Some(StackStatus::DeleteComplete) => {
            progress(Progress::Deleted);
            Ok(true)
        }
        Some(status) => Err(DeployError::StackFailed {
            stack: stack.to_owned(),
            status: status.as_str().to_owned(),
            failures: failures(clients, stack, since).await,
        }),
    }
}
