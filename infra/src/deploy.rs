//! `infra deploy`, `infra destroy` and `infra outputs`: the stack through CloudFormation change
//! sets, with every input checked before the first AWS call.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter as StackParameter, StackStatus,
};
use shared::job::KeyLayout;

use crate::template::{self, MAX_THRESHOLD_BYTES, Settings, param};

/// What to deploy, as the user asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRequest {
    /// The stack's name (lowercase: the ECR repository is named after it).
    pub stack_name: String,
    /// The region, when not taken from the environment.
    pub region: Option<String>,
    /// The Lambda zip to upload.
    pub lambda_zip: PathBuf,
    /// The Fargate image's tag in the stack's repository.
    pub image_tag: String,
    /// A full image URI instead (optional).
    pub image_uri: Option<String>,
    /// Objects up to this many bytes go to Lambda.
    pub threshold_bytes: u64,
    /// Uploads under this prefix are processed.
    pub input_prefix: String,
    /// Reports go here.
    pub output_prefix: String,
    /// `public` or `private`.
    pub network_mode: String,
    /// `FARGATE` or `FARGATE_SPOT`.
    pub capacity_provider: String,
    /// Alarms go to this address (optional).
    pub alarm_email: Option<String>,
    /// An existing KMS key (optional).
    pub kms_key_arn: Option<String>,
    /// The deployment bucket; `<stack>-artifacts-<account>-<region>` when absent.
    pub artifact_bucket: Option<String>,
    /// A template file to deploy instead of the generated one.
    pub template_file: Option<PathBuf>,
}

/// Checks a stack name: what CloudFormation accepts, lowercase for the ECR repository name.
pub fn check_stack_name(name: &str) -> anyhow::Result<()> {
    let valid = (1..=100).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        bail!(
            "stack name {name:?}: use 1 to 100 lowercase letters, digits and hyphens, \
             starting with a letter (the image repository is named after the stack)"
        );
    }
    Ok(())
}

/// Checks a region name such as `eu-west-1` or `us-gov-west-1`.
pub fn check_region(region: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = region.split('-').collect();
    let valid = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok();
    if !valid {
        bail!("region {region:?} is not a region name such as eu-west-1");
    }
    Ok(())
}

/// Checks a bucket name against the S3 naming rules for general purpose buckets.
pub fn check_bucket_name(name: &str) -> anyhow::Result<()> {
    let problem = if !(3..=63).contains(&name.len()) {
        Some("must be 3 to 63 characters long")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        Some("may only hold lowercase letters, digits, dots and hyphens")
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some("must begin and end with a letter or a digit")
    } else if name.contains("..") || name.contains(".-") || name.contains("-.") {
        Some("must not hold two dots in a row or a dot next to a hyphen")
    } else if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        Some("must not look like an IP address")
    } else if ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| name.starts_with(p))
        || ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|s| name.ends_with(s))
    {
        Some("uses a prefix or suffix S3 reserves")
    } else {
        None
    };
    match problem {
        Some(problem) => bail!("bucket name {name:?} {problem}"),
        None => Ok(()),
    }
}

/// Checks a request before any AWS call.
pub fn check_request(request: &DeployRequest) -> anyhow::Result<()> {
    check_stack_name(&request.stack_name)?;
    if let Some(region) = &request.region {
        check_region(region)?;
    }
    if request.threshold_bytes > MAX_THRESHOLD_BYTES {
        bail!(
            "threshold {} bytes is above the largest the Lambda route takes ({MAX_THRESHOLD_BYTES})",
            request.threshold_bytes
        );
    }
    KeyLayout::new(&request.input_prefix, &request.output_prefix)
        .map_err(|e| anyhow::anyhow!("prefixes: {e}"))?;
    for prefix in [&request.input_prefix, &request.output_prefix] {
        if !prefix.ends_with('/') || prefix.starts_with('/') {
            bail!("prefix {prefix:?} must end with / and not start with it");
        }
    }
    if !["public", "private"].contains(&request.network_mode.as_str()) {
        bail!(
            "network mode {:?} is not public or private",
            request.network_mode
        );
    }
    if !["FARGATE", "FARGATE_SPOT"].contains(&request.capacity_provider.as_str()) {
        bail!(
            "capacity provider {:?} is not FARGATE or FARGATE_SPOT",
            request.capacity_provider
        );
    }
    let tag = &request.image_tag;
    let tag_ok = (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !tag_ok {
        bail!("image tag {tag:?} is not a valid tag");
    }
    if let Some(email) = &request.alarm_email
        && !email
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
    {
        bail!("alarm e-mail {email:?} is not an address");
    }
    if let Some(bucket) = &request.artifact_bucket {
        check_bucket_name(bucket)?;
    }
    let zip = std::fs::read(&request.lambda_zip).with_context(|| {
        format!(
            "the Lambda zip {} (build it with `make lambda`)",
            request.lambda_zip.display()
        )
    })?;
    if !zip.starts_with(b"PK") {
        bail!("{} is not a zip file", request.lambda_zip.display());
    }
    Ok(())
}

/// The AWS clients a command needs, configured from the environment (credentials, region,
/// `AWS_ENDPOINT_URL`; `PIPELINE_S3_PATH_STYLE=true` for an S3 endpoint on loopback).
pub struct Clients {
    cloudformation: aws_sdk_cloudformation::Client,
    s3: aws_sdk_s3::Client,
    sts: aws_sdk_sts::Client,
    region: String,
}

impl Clients {
    /// Clients for `region`, or the environment's region.
    pub async fn new(region: Option<&str>) -> anyhow::Result<Clients> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_owned()));
        }
        let config = loader.load().await;
        let Some(region) = config.region().map(ToString::to_string) else {
            bail!("no region: pass --region or set AWS_REGION");
        };
        check_region(&region)?;
        let path_style = std::env::var(shared::job::env::S3_PATH_STYLE)
            .is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(path_style)
                .build(),
        );
        Ok(Clients {
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            s3,
            sts: aws_sdk_sts::Client::new(&config),
            region,
        })
    }
}

/// An SDK failure as one line: the service's error code and message when it sent them,
/// the whole error chain otherwise (timeouts, connection failures).
fn sdk_error<E>(what: &str, error: E) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => anyhow::anyhow!("{what}: {code}: {message}"),
        (Some(code), None) => anyhow::anyhow!("{what}: {code}"),
        _ => anyhow::anyhow!("{what}: {}", DisplayErrorContext(error)),
    }
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

/// The stack's status, or `None` when there is no such stack.
async fn stack_status(clients: &Clients, stack: &str) -> anyhow::Result<Option<StackStatus>> {
    match clients
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
    {
        Ok(out) => Ok(out.stacks().first().and_then(|s| s.stack_status().cloned())),
        Err(e) if e.message().is_some_and(|m| m.contains("does not exist")) => Ok(None),
        Err(e) => Err(sdk_error("describing the stack", e)),
    }
}

async fn ensure_bucket(clients: &Clients, bucket: &str) -> anyhow::Result<()> {
    if clients.s3.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    println!("creating the deployment bucket {bucket}");
    let mut create = clients.s3.create_bucket().bucket(bucket);
    if clients.region != "us-east-1" {
        create = create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(clients.region.as_str().into())
                .build(),
        );
    }
    create
        .send()
        .await
        .map_err(|e| sdk_error("creating the deployment bucket", e))?;
    clients
        .s3
        .put_public_access_block()
        .bucket(bucket)
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
        .map_err(|e| sdk_error("blocking public access to the deployment bucket", e))?;
    Ok(())
}

/// Uploads `bytes` under a content-addressed key unless it is there already.
async fn upload(clients: &Clients, bucket: &str, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
    if clients
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .is_ok()
    {
        println!("s3://{bucket}/{key} is already uploaded");
        return Ok(());
    }
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .map_err(|e| sdk_error(&format!("uploading s3://{bucket}/{key}"), e))?;
    println!("uploaded s3://{bucket}/{key}");
    Ok(())
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

/// The deployment bucket: the one asked for, or one named after the stack, account and region.
async fn deployment_bucket(clients: &Clients, request: &DeployRequest) -> anyhow::Result<String> {
    if let Some(bucket) = &request.artifact_bucket {
        return Ok(bucket.clone());
    }
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| sdk_error("finding the account (sts:GetCallerIdentity)", e))?;
    let account = identity.account().unwrap_or("account");
    let name = format!(
        "{}-artifacts-{account}-{}",
        request.stack_name, clients.region
    );
    check_bucket_name(&name)
        .context("the default deployment bucket name; pass --artifact-bucket")?;
    Ok(name)
}

/// The template to deploy: the generated one for the request's settings, or the file given.
fn template_text(request: &DeployRequest) -> anyhow::Result<String> {
    match &request.template_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the template {}", path.display())),
        None => Ok(template::template(&Settings {
            threshold_bytes: request.threshold_bytes,
            input_prefix: request.input_prefix.clone(),
            output_prefix: request.output_prefix.clone(),
            ..Settings::default()
        })
        .to_json()),
    }
}

/// Creates or updates the stack through a change set; see the module docs.
pub async fn deploy(clients: &Clients, request: &DeployRequest) -> anyhow::Result<DeployOutcome> {
    let stack = request.stack_name.as_str();
    let bucket = deployment_bucket(clients, request).await?;
    ensure_bucket(clients, &bucket).await?;
    let zip = std::fs::read(&request.lambda_zip)?;
    let zip_key = format!("lambda/{}.zip", content_hash(&zip));
    upload(clients, &bucket, &zip_key, zip).await?;

    let template_text = template_text(request)?;
    let template_key = format!("templates/{}.json", content_hash(template_text.as_bytes()));
    upload(clients, &bucket, &template_key, template_text.into_bytes()).await?;
    let template_url = format!(
        "https://{bucket}.s3.{}.amazonaws.com/{template_key}",
        clients.region
    );

    let existing = stack_status(clients, stack).await?;
    let change_set_type = match &existing {
        None | Some(StackStatus::ReviewInProgress) => ChangeSetType::Create,
        Some(StackStatus::RollbackComplete) => bail!(
            "stack {stack} is ROLLBACK_COMPLETE (its first deploy failed): run `infra destroy` \
             and deploy again"
        ),
        Some(status) if status.as_str().ends_with("_IN_PROGRESS") => {
            bail!(
                "stack {stack} is busy ({}); try again when it is done",
                status.as_str()
            )
        }
        Some(_) => ChangeSetType::Update,
    };

    let parameters = stack_parameters(request, &bucket, &zip_key);
    let change_set = format!(
        "deploy-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    );
    clients
        .cloudformation
        .create_change_set()
        .stack_name(stack)
        .change_set_name(&change_set)
        .change_set_type(change_set_type.clone())
        .template_url(&template_url)
        .set_parameters(Some(parameters))
        .capabilities(Capability::CapabilityIam)
        .description("infra deploy")
        .send()
        .await
        .map_err(|e| sdk_error("creating the change set", e))?;

    let Some(changes) = wait_for_change_set(clients, stack, &change_set).await? else {
        println!("no changes: stack {stack} is up to date");
        print_outputs(clients, stack).await?;
        return Ok(DeployOutcome::NoChanges);
    };
    println!(
        "{} {stack}: {} change(s)",
        if change_set_type == ChangeSetType::Create {
            "creating"
        } else {
            "updating"
        },
        changes.len()
    );
    for line in &changes {
        println!("  {line}");
    }

    let started = Instant::now();
    let since = aws_sdk_cloudformation::primitives::DateTime::from(std::time::SystemTime::now());
    clients
        .cloudformation
        .execute_change_set()
        .stack_name(stack)
        .change_set_name(&change_set)
        .send()
        .await
        .map_err(|e| sdk_error("executing the change set", e))?;
    let status = follow_stack(clients, stack, since, started, changes.len()).await?;
    match status {
        Some(StackStatus::CreateComplete) => {
            print_outputs(clients, stack).await?;
            Ok(DeployOutcome::Created)
        }
        Some(StackStatus::UpdateComplete) => {
            print_outputs(clients, stack).await?;
            Ok(DeployOutcome::Updated)
        }
        other => {
            let failures = failures(clients, stack, since).await?;
            bail!(
                "stack {stack} ended {}:\n{failures}",
                other.as_ref().map_or("deleted", StackStatus::as_str)
            )
        }
    }
}

fn stack_parameters(request: &DeployRequest, bucket: &str, zip_key: &str) -> Vec<StackParameter> {
    let mut values = vec![
        (param::THRESHOLD_BYTES, request.threshold_bytes.to_string()),
        (param::INPUT_PREFIX, request.input_prefix.clone()),
        (param::OUTPUT_PREFIX, request.output_prefix.clone()),
        (param::LAMBDA_CODE_BUCKET, bucket.to_owned()),
        (param::LAMBDA_CODE_KEY, zip_key.to_owned()),
        (param::IMAGE_TAG, request.image_tag.clone()),
        (
            param::IMAGE_URI,
            request.image_uri.clone().unwrap_or_default(),
        ),
        (param::NETWORK_MODE, request.network_mode.clone()),
        (param::CAPACITY_PROVIDER, request.capacity_provider.clone()),
        (
            param::ALARM_EMAIL,
            request.alarm_email.clone().unwrap_or_default(),
        ),
        (
            param::KMS_KEY_ARN,
            request.kms_key_arn.clone().unwrap_or_default(),
        ),
    ];
    values.sort();
    values
        .into_iter()
        .map(|(key, value)| {
            StackParameter::builder()
                .parameter_key(key)
                .parameter_value(value)
                .build()
        })
        .collect()
}

/// Waits for the change set; its changes as lines, or `None` when it holds none.
async fn wait_for_change_set(
    clients: &Clients,
    stack: &str,
    change_set: &str,
) -> anyhow::Result<Option<Vec<String>>> {
    loop {
        let out = clients
            .cloudformation
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(change_set)
            .send()
            .await
            .map_err(|e| sdk_error("describing the change set", e))?;
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
                    let _ = clients
                        .cloudformation
                        .delete_change_set()
                        .stack_name(stack)
                        .change_set_name(change_set)
                        .send()
                        .await;
                    return Ok(None);
                }
                bail!("the change set failed: {reason}");
            }
            _ => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
}

/// Prints the stack's events since `since` until it settles; its final status (`None`:
/// it no longer exists).
async fn follow_stack(
    clients: &Clients,
    stack: &str,
    since: aws_sdk_cloudformation::primitives::DateTime,
    started: Instant,
    expected: usize,
) -> anyhow::Result<Option<StackStatus>> {
    let mut seen = BTreeSet::new();
    let mut done = 0;
    loop {
        let status = stack_status(clients, stack).await?;
        if let Ok(out) = clients
            .cloudformation
            .describe_stack_events()
            .stack_name(stack)
            .send()
            .await
        {
            let mut events: Vec<_> = out
                .stack_events()
                .iter()
                .filter(|e| e.timestamp().is_some_and(|t| t.secs() >= since.secs()))
                .filter(|e| seen.insert(e.event_id().unwrap_or_default().to_owned()))
                .collect();
            events.reverse(); // oldest first
            for event in events {
                let state = event.resource_status().map_or("?", |s| s.as_str());
                if state.ends_with("_COMPLETE") && event.logical_resource_id() != Some(stack) {
                    done += 1;
                }
                println!(
                    "  {:>5.0}s [{done}/{expected}] {state:<20} {:<36} {}{}",
                    started.elapsed().as_secs_f64(),
                    event.resource_type().unwrap_or(""),
                    event.logical_resource_id().unwrap_or(""),
                    event
                        .resource_status_reason()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
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
) -> anyhow::Result<String> {
    let Ok(out) = clients
        .cloudformation
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
    else {
        return Ok("  (no events: the stack is gone)".into());
    };
    let mut lines = String::new();
    for event in out.stack_events().iter().rev() {
        let failed = event
            .resource_status()
            .is_some_and(|s| s.as_str().ends_with("_FAILED"));
        if failed && event.timestamp().is_some_and(|t| t.secs() >= since.secs()) {
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
    Ok(lines)
}

/// The stack's outputs, by name.
pub async fn outputs(clients: &Clients, stack: &str) -> anyhow::Result<Vec<(String, String)>> {
    let out = clients
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("describing stack {stack}"), e))?;
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

async fn print_outputs(clients: &Clients, stack: &str) -> anyhow::Result<()> {
    let outputs = outputs(clients, stack).await?;
    if outputs.is_empty() {
        println!("outputs: (the stack reports none)");
    }
    for (key, value) in outputs {
        println!("  {key} = {value}");
    }
    Ok(())
}

/// Deletes the stack and follows it to the end; `false` when there was none.
pub async fn destroy(clients: &Clients, stack: &str) -> anyhow::Result<bool> {
    check_stack_name(stack)?;
    if stack_status(clients, stack).await?.is_none() {
        println!("no stack named {stack}: nothing to delete");
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
        .map_err(|e| sdk_error(&format!("deleting stack {stack}"), e))?;
    match follow_stack(clients, stack, since, started, 0).await? {
        None | Some(StackStatus::DeleteComplete) => {
            println!(
                "deleted {stack}. Kept on purpose (DeletionPolicy Retain): the upload bucket \
                 with its data and reports, and the KMS key that encrypts them."
            );
            Ok(true)
        }
        Some(status) => {
            let failures = failures(clients, stack, since).await?;
            bail!("deleting {stack} ended {}:\n{failures}", status.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> DeployRequest {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let zip = std::env::temp_dir().join(format!("infra-check-{}-{n}.zip", std::process::id()));
        std::fs::write(&zip, b"PK\x05\x06").unwrap();
        DeployRequest {
            stack_name: "s3-upload-pipeline".into(),
            region: Some("eu-west-1".into()),
            lambda_zip: zip,
            image_tag: "abc123".into(),
            image_uri: None,
            threshold_bytes: shared::job::DEFAULT_THRESHOLD_BYTES,
            input_prefix: "incoming/".into(),
            output_prefix: "processed/".into(),
            network_mode: "public".into(),
            capacity_provider: "FARGATE".into(),
            alarm_email: None,
            kms_key_arn: None,
            artifact_bucket: None,
            template_file: None,
        }
    }

    #[test]
    fn a_good_request_passes() {
        check_request(&request()).unwrap();
    }

    #[test]
    fn bad_inputs_are_refused_with_what_is_wrong() {
        let cases: Vec<(DeployRequest, &str)> = vec![
            (
                DeployRequest {
                    stack_name: "Pipeline".into(),
                    ..request()
                },
                "stack name",
            ),
            (
                DeployRequest {
                    region: Some("europe".into()),
                    ..request()
                },
                "region",
            ),
            (
                DeployRequest {
                    threshold_bytes: MAX_THRESHOLD_BYTES + 1,
                    ..request()
                },
                "threshold",
            ),
            (
                DeployRequest {
                    output_prefix: "incoming/processed/".into(),
                    ..request()
                },
                "prefixes",
            ),
            (
                DeployRequest {
                    input_prefix: "incoming".into(),
                    ..request()
                },
                "prefix",
            ),
            (
                DeployRequest {
                    network_mode: "vpn".into(),
                    ..request()
                },
                "network mode",
            ),
            (
                DeployRequest {
                    image_tag: "-x".into(),
                    ..request()
                },
                "image tag",
            ),
            (
                DeployRequest {
                    alarm_email: Some("ops".into()),
                    ..request()
                },
                "e-mail",
            ),
            (
                DeployRequest {
                    artifact_bucket: Some("My_Bucket".into()),
                    ..request()
                },
                "bucket",
            ),
            (
                DeployRequest {
                    lambda_zip: "/nonexistent/bootstrap.zip".into(),
                    ..request()
                },
                "make lambda",
            ),
        ];
        for (bad, expected) in cases {
            let error = format!("{:#}", check_request(&bad).unwrap_err());
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn bucket_names_follow_the_s3_rules() {
        for good in ["abc", "my-bucket.logs", "a1-b2", &"a".repeat(63)] {
            check_bucket_name(good).unwrap();
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Upper",
            "under_score",
            "-start",
            "end-",
            "two..dots",
            "dot.-hyphen",
            "192.168.5.4",
            "xn--punycode",
            "name-s3alias",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn regions_look_like_regions() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
        ] {
            check_region(good).unwrap();
        }
        for bad in ["", "us-east", "US-EAST-1", "us_east_1", "east-1"] {
            assert!(check_region(bad).is_err(), "{bad} accepted");
        }
    }
}
