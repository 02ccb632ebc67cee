//! What `infra deploy` and `infra preflight` are asked for, and every check on it that needs
//! no AWS call: names and their services' limits, the stack's settings, tags, the image URI.
//!
//! A setting left out ([`None`] in [`StackSettings`]) keeps the stack's current value on an
//! update (CloudFormation's `UsePreviousValue`), and takes the template's default on a create:
//! a later deploy never resets what an earlier one chose.

use std::path::PathBuf;

use shared::{CURATED_PREFIX, FAILURE_PREFIX, KeyLayout, REJECTED_PREFIX};

use crate::catalog::ATHENA_RESULTS_PREFIX;

use crate::template::{MAX_THRESHOLD_BYTES, PROJECT_TAG, STACK_TAG_KEY, param};

/// The stack's name when none is given.
pub const DEFAULT_STACK_NAME: &str = "s3-upload-pipeline";

/// A request that cannot be sent: what is wrong and, where it helps, how to put it right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {problem}")]
pub struct InvalidInput {
    /// The input at fault (`stack name "X"`, `--task-memory`, ...).
    pub what: String,
    /// What is wrong with it.
    pub problem: String,
}

fn invalid(what: impl Into<String>, problem: impl Into<String>) -> InvalidInput {
    InvalidInput {
        what: what.into(),
        problem: problem.into(),
    }
}

/// How the Fargate tasks reach AWS's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NetworkMode {
    /// Public subnets; each task gets a public IP.
    Public,
    /// Private subnets; S3, ECR and CloudWatch Logs through VPC endpoints.
    Private,
}

impl NetworkMode {
    /// The `NetworkMode` parameter's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Public => "public",
            NetworkMode::Private => "private",
        }
    }
}

/// Which Fargate capacity runs the large objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CapacityProvider {
    /// On-demand Fargate, arm64.
    #[value(name = "FARGATE", alias = "fargate")]
    Fargate,
    /// Fargate Spot: cheaper, may be interrupted (the task is then retried). Spot runs only
    /// x86_64 tasks, so the task definition then runs the image's amd64 variant.
    #[value(name = "FARGATE_SPOT", alias = "fargate-spot")]
    FargateSpot,
}

impl CapacityProvider {
    /// The `CapacityProvider` parameter's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            CapacityProvider::Fargate => "FARGATE",
            CapacityProvider::FargateSpot => "FARGATE_SPOT",
        }
    }

    /// The task's CPU architecture, as ECS names it: Fargate Spot runs only `X86_64`.
    pub const fn cpu_architecture(self) -> &'static str {
        match self {
            CapacityProvider::Fargate => "ARM64",
            CapacityProvider::FargateSpot => "X86_64",
        }
    }

    /// The provider a parameter value names.
    pub fn from_parameter(value: &str) -> Option<CapacityProvider> {
        match value {
            "FARGATE" => Some(CapacityProvider::Fargate),
            "FARGATE_SPOT" => Some(CapacityProvider::FargateSpot),
            _ => None,
        }
    }
}

/// The stack's settings a deploy may change. Each `None` keeps the stack's current value
/// (the template's default on a create).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackSettings {
    /// Objects up to this many bytes go to Lambda.
    pub threshold_bytes: Option<u64>,
    /// Uploads under this prefix are processed.
    pub input_prefix: Option<String>,
    /// Reports go under this prefix.
    pub output_prefix: Option<String>,
    /// How tasks reach AWS.
    pub network_mode: Option<NetworkMode>,
    /// On-demand or Spot.
    pub capacity_provider: Option<CapacityProvider>,
    /// The Lambda function's memory in MB.
    pub lambda_memory_mb: Option<u32>,
    /// The Lambda function's reserved concurrency; `Some(0)` removes a reservation.
    pub lambda_reserved_concurrency: Option<u32>,
    /// The Fargate task's CPU units.
    pub task_cpu: Option<u32>,
    /// The Fargate task's memory in MiB.
    pub task_memory_mib: Option<u32>,
    /// Where alarms are e-mailed; `Some("")` stops e-mailing.
    pub alarm_email: Option<String>,
    /// An existing KMS key instead of the stack's own; `Some("")` for the stack's own.
    pub kms_key_arn: Option<String>,
    /// Days the log groups keep their events.
    pub log_retention_days: Option<u32>,
}

impl StackSettings {
    /// The template parameters these settings give, `(name, value)`; the ones left out keep
    /// their current value.
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let mut values = Vec::new();
        let mut set = |name, value: Option<String>| {
            if let Some(value) = value {
                values.push((name, value));
            }
        };
        set(
            param::THRESHOLD_BYTES,
            self.threshold_bytes.map(|v| v.to_string()),
        );
        set(param::INPUT_PREFIX, self.input_prefix.clone());
        set(param::OUTPUT_PREFIX, self.output_prefix.clone());
        set(
            param::NETWORK_MODE,
            self.network_mode.map(|m| m.as_str().to_owned()),
        );
        set(
            param::CAPACITY_PROVIDER,
            self.capacity_provider.map(|p| p.as_str().to_owned()),
        );
        set(
            param::LAMBDA_MEMORY,
            self.lambda_memory_mb.map(|v| v.to_string()),
        );
        set(
            param::LAMBDA_CONCURRENCY,
            self.lambda_reserved_concurrency
                .map(|v| if v == 0 { String::new() } else { v.to_string() }),
        );
        set(param::TASK_CPU, self.task_cpu.map(|v| v.to_string()));
        set(
            param::TASK_MEMORY,
            self.task_memory_mib.map(|v| v.to_string()),
        );
        set(param::ALARM_EMAIL, self.alarm_email.clone());
        set(param::KMS_KEY_ARN, self.kms_key_arn.clone());
        set(
            param::LOG_RETENTION_DAYS,
            self.log_retention_days.map(|v| v.to_string()),
        );
        values
    }
}

/// A tag `infra deploy --tag KEY=VALUE` puts on the stack (CloudFormation propagates stack
/// tags to every resource that takes tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value (may be empty).
    pub value: String,
}

impl std::str::FromStr for Tag {
    type Err = String;

    fn from_str(text: &str) -> Result<Tag, String> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
        let tag = Tag {
            key: key.to_owned(),
            value: value.to_owned(),
        };
        check_tag(&tag).map_err(|e| e.to_string())?;
        Ok(tag)
    }
}

/// The most tags a resource takes (each service's limit; CloudFormation's stack limit too).
pub const MAX_TAGS: usize = 50;

/// Checks a tag against AWS's tagging rules: keys of 1 to 128 characters, values of up to
/// 256, no `aws:` prefix (reserved by AWS), and not one of the keys the template sets.
pub fn check_tag(tag: &Tag) -> Result<(), InvalidInput> {
    let what = format!("tag {:?}", tag.key);
    let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
    if !(1..=128).contains(&tag.key.chars().count()) {
        return Err(invalid(what, "a tag key has 1 to 128 characters"));
    }
    if tag.value.chars().count() > 256 {
        return Err(invalid(what, "a tag value has at most 256 characters"));
    }
    if !tag.key.chars().chain(tag.value.chars()).all(allowed) {
        return Err(invalid(
            what,
            "tags hold letters, digits, spaces and _ . : / = + - @ only",
        ));
    }
    if tag.key.to_ascii_lowercase().starts_with("aws:") {
        return Err(invalid(
            what,
            "the aws: prefix is reserved for AWS's own tags",
        ));
    }
    if tag.key == PROJECT_TAG.0 || tag.key == STACK_TAG_KEY {
        return Err(invalid(
            what,
            "the template sets this tag on every resource itself",
        ));
    }
    Ok(())
}

/// What to deploy, as the user asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRequest {
    /// The stack's name.
    pub stack_name: String,
    /// The region, when not taken from the environment.
    pub region: Option<String>,
    /// The Lambda zip to upload.
    pub lambda_zip: PathBuf,
    /// The Fargate image's tag in the stack's repository.
    pub image_tag: String,
    /// A full image URI to run instead of the stack's repository and tag (for this deploy;
    /// a later deploy without it runs the stack's repository again).
    pub image_uri: Option<String>,
    /// The settings to change.
    pub settings: StackSettings,
    /// Stack tags, propagated to the resources.
    pub tags: Vec<Tag>,
    /// The deployment bucket; `<stack>-artifacts-<account>-<region>` when absent.
    pub artifact_bucket: Option<String>,
    /// A template file to deploy instead of the generated one.
    pub template_file: Option<PathBuf>,
    /// The data contracts' folder (a missing one is none).
    pub contracts_dir: PathBuf,
}

/// A name the stack gives a resource, and the limit its service sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedName {
    /// What it names.
    pub what: &'static str,
    /// The name.
    pub name: String,
    /// The longest the service accepts.
    pub limit: usize,
}

/// The suffix of the Lambda function's and the task family's names.
pub const PROCESSOR_SUFFIX: &str = "-processor";

/// Every name the template derives from the stack's name, with its service's limit.
/// Names CloudFormation generates itself (roles, the upload bucket, the cluster, the queue)
/// are truncated by CloudFormation to fit, so they are not here.
pub fn derived_names(stack: &str) -> Vec<DerivedName> {
    let name = |what, name: String, limit| DerivedName { what, name, limit };
    vec![
        name("stack name (CloudFormation)", stack.to_owned(), 128),
        name(
            "Lambda function name",
            format!("{stack}{PROCESSOR_SUFFIX}"),
            64,
        ),
        name(
            "ECS task definition family",
            format!("{stack}{PROCESSOR_SUFFIX}"),
            255,
        ),
        name(
            "ECR repository name",
            format!("{stack}/fargate-processor"),
            256,
        ),
        name("KMS alias", format!("alias/{stack}"), 256),
        name(
            "CloudWatch Logs log group name",
            format!("/aws/lambda/{stack}-restrict-default-sg"),
            512,
        ),
        name(
            "CloudWatch Logs log group name",
            format!("/aws/vendedlogs/states/{stack}"),
            512,
        ),
    ]
}

/// The deployment bucket's default name.
pub fn default_artifact_bucket(stack: &str, account: &str, region: &str) -> String {
    format!("{stack}-artifacts-{account}-{region}")
}

/// Checks a stack name: what CloudFormation accepts, lowercase (the ECR repository is named
/// after it), and short enough for every name derived from it.
pub fn check_stack_name(name: &str) -> Result<(), InvalidInput> {
    let what = || format!("stack name {name:?}");
    let valid = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        return Err(invalid(
            what(),
            "use lowercase letters, digits and hyphens, starting with a letter (the image \
             repository is named after the stack)",
        ));
    }
    for derived in derived_names(name) {
        if derived.name.len() > derived.limit {
            return Err(invalid(
                what(),
                format!(
                    "too long: the {} {:?} would have {} characters, and its limit is {} \
                     (so the stack name has at most {})",
                    derived.what,
                    derived.name,
                    derived.name.len(),
                    derived.limit,
                    name.len() - (derived.name.len() - derived.limit)
                ),
            ));
        }
    }
    Ok(())
}

/// Checks a region name such as `eu-west-1` or `us-gov-west-1`.
pub fn check_region(region: &str) -> Result<(), InvalidInput> {
    let parts: Vec<&str> = region.split('-').collect();
    let valid = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok();
    if valid {
        Ok(())
    } else {
        Err(invalid(
            format!("region {region:?}"),
            "not a region name such as eu-west-1",
        ))
    }
}

/// Checks a bucket name against the S3 naming rules for general purpose buckets.
pub fn check_bucket_name(name: &str) -> Result<(), InvalidInput> {
    let problem = if !(3..=63).contains(&name.len()) {
        Some(format!(
            "has {} characters; S3's limit is 3 to 63",
            name.len()
        ))
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        Some("may only hold lowercase letters, digits, dots and hyphens".into())
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some("must begin and end with a letter or a digit".into())
    } else if name.contains("..") || name.contains(".-") || name.contains("-.") {
        Some("must not hold two dots in a row or a dot next to a hyphen".into())
    } else if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        Some("must not look like an IP address".into())
    } else if ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| name.starts_with(p))
        || ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|s| name.ends_with(s))
    {
        Some("uses a prefix or suffix S3 reserves".into())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(invalid(format!("bucket name {name:?}"), problem)),
        None => Ok(()),
    }
}

/// The memory sizes (MiB) Fargate accepts for each CPU size (ECS: "Task CPU and memory").
pub fn fargate_memory_range(cpu: u32) -> Option<(u32, u32, u32)> {
    // (smallest, largest, step)
    match cpu {
        256 => Some((512, 2048, 512)),
        512 => Some((1024, 4096, 1024)),
        1024 => Some((2048, 8192, 1024)),
        2048 => Some((4096, 16384, 1024)),
        4096 => Some((8192, 30720, 1024)),
        _ => None,
    }
}

/// Where an image URI points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// A private ECR repository: the task execution role is granted pull on it.
    Ecr {
        /// The registry's account.
        account: String,
        /// The registry's region.
        region: String,
        /// The repository's name (may hold `/`).
        repository: String,
        /// The tag or `sha256:` digest.
        reference: String,
    },
    /// ECR Public: anyone may pull, no permission needed.
    EcrPublic,
}

/// What `--image-uri` may name: a private ECR repository
/// (`<account>.dkr.ecr.<region>.amazonaws.com/<name>:<tag>` or `@sha256:<digest>`) or ECR
/// Public (`public.ecr.aws/...`). Other registries need repository credentials in the task
/// definition, which the stack does not hold.
pub fn parse_image_uri(uri: &str) -> Result<ImageSource, InvalidInput> {
    let what = || format!("image URI {uri:?}");
    let Some((registry, path)) = uri.split_once('/') else {
        return Err(invalid(what(), "not REGISTRY/REPOSITORY:TAG"));
    };
    if registry == "public.ecr.aws" {
        return if path.contains('/') {
            Ok(ImageSource::EcrPublic)
        } else {
            Err(invalid(what(), "not public.ecr.aws/ALIAS/REPOSITORY:TAG"))
        };
    }
    let parts: Vec<&str> = registry.split('.').collect();
    let is_ecr = parts.len() >= 6
        && parts[0].len() == 12
        && parts[0].chars().all(|c| c.is_ascii_digit())
        && parts[1] == "dkr"
        && parts[2] == "ecr"
        && parts[4] == "amazonaws";
    if !is_ecr {
        return Err(invalid(
            what(),
            "only Amazon ECR images are supported (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG \
             or public.ecr.aws/...): other registries need credentials the stack does not hold",
        ));
    }
    let (repository, reference) = match path.split_once('@') {
        Some((repository, digest)) => (repository, digest),
        None => path
            .rsplit_once(':')
            .ok_or_else(|| invalid(what(), "no :TAG or @sha256:DIGEST"))?,
    };
    if repository.is_empty() || reference.is_empty() {
        return Err(invalid(what(), "not REGISTRY/REPOSITORY:TAG"));
    }
    Ok(ImageSource::Ecr {
        account: parts[0].to_owned(),
        region: parts[3].to_owned(),
        repository: repository.to_owned(),
        reference: reference.to_owned(),
    })
}

/// Checks what a setting may be, before any AWS call.
pub fn check_settings(settings: &StackSettings) -> Result<(), InvalidInput> {
    if let Some(threshold) = settings.threshold_bytes
        && threshold > MAX_THRESHOLD_BYTES
    {
        return Err(invalid(
            format!("threshold {threshold} bytes"),
            format!("above the largest the Lambda route takes ({MAX_THRESHOLD_BYTES})"),
        ));
    }
    for prefix in [&settings.input_prefix, &settings.output_prefix]
        .into_iter()
        .flatten()
    {
        if !prefix.ends_with('/') || prefix.starts_with('/') {
            return Err(invalid(
                format!("prefix {prefix:?}"),
                "must end with / and not start with it",
            ));
        }
    }
    if let Some(memory) = settings.lambda_memory_mb
        && !(128..=10_240).contains(&memory)
    {
        return Err(invalid(
            format!("Lambda memory {memory} MB"),
            "Lambda takes 128 to 10240 MB",
        ));
    }
    if let Some(cpu) = settings.task_cpu
        && fargate_memory_range(cpu).is_none()
    {
        return Err(invalid(
            format!("task CPU {cpu}"),
            "Fargate takes 256, 512, 1024, 2048 or 4096 CPU units",
        ));
    }
    if let Some(email) = &settings.alarm_email
        && !email.is_empty()
        && !email
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
    {
        return Err(invalid(format!("alarm e-mail {email:?}"), "not an address"));
    }
    if let Some(arn) = &settings.kms_key_arn
        && !arn.is_empty()
        && !(arn.starts_with("arn:aws") && arn.contains(":kms:") && arn.contains(":key/"))
    {
        return Err(invalid(
            format!("KMS key {arn:?}"),
            "not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)",
        ));
    }
    if let Some(days) = settings.log_retention_days
        && !crate::template::LOG_RETENTION_DAYS.contains(&days)
    {
        return Err(invalid(
            format!("log retention {days} days"),
            format!(
                "CloudWatch Logs takes one of {:?}",
                crate::template::LOG_RETENTION_DAYS
            ),
        ));
    }
    Ok(())
}

/// Checks the CPU and memory a task will have (the settings given, or the stack's).
pub fn check_task_size(cpu: u32, memory_mib: u32) -> Result<(), InvalidInput> {
    let Some((smallest, largest, step)) = fargate_memory_range(cpu) else {
        return Err(invalid(
            format!("task CPU {cpu}"),
            "Fargate takes 256, 512, 1024, 2048 or 4096 CPU units",
        ));
    };
    if memory_mib < smallest || memory_mib > largest || !memory_mib.is_multiple_of(step) {
        return Err(invalid(
            format!("task memory {memory_mib} MiB with {cpu} CPU units"),
            format!("Fargate takes {smallest} to {largest} MiB in steps of {step} for that CPU"),
        ));
    }
    Ok(())
}

/// Checks the prefixes the stack will have: disjoint, so reports never start executions.
pub fn check_prefixes(input: &str, output: &str) -> Result<(), InvalidInput> {
    KeyLayout::new(input, output).map_err(|e| invalid("prefixes", e.to_string()))?;
    // The contracts' outputs and Athena's results have fixed prefixes: an upload there
    // would start the pipeline on its own outputs, and reports there would sit in a table.
    for (which, prefix) in [("input", input), ("output", output)] {
        for reserved in [
            CURATED_PREFIX,
            REJECTED_PREFIX,
            FAILURE_PREFIX,
            ATHENA_RESULTS_PREFIX,
        ] {
            if prefix.starts_with(reserved) || reserved.starts_with(prefix) {
                return Err(invalid(
                    format!("the {which} prefix {prefix:?}"),
                    format!("overlaps {reserved}, where the pipeline writes other outputs"),
                ));
            }
        }
    }
    Ok(())
}

/// Checks a request before any AWS call: names and their limits, settings, tags, the image
/// URI, the Lambda zip.
pub fn check_request(request: &DeployRequest) -> Result<(), InvalidInput> {
    check_common(
        &request.stack_name,
        request.region.as_deref(),
        &request.settings,
        request.image_uri.as_deref(),
        request.artifact_bucket.as_deref(),
    )?;
    if request.tags.len() > MAX_TAGS - 2 {
        return Err(invalid(
            "--tag",
            format!(
                "at most {} tags (AWS's limit is {MAX_TAGS} a resource, and the template sets 2)",
                MAX_TAGS - 2
            ),
        ));
    }
    for tag in &request.tags {
        check_tag(tag)?;
    }
    let tag = &request.image_tag;
    let tag_ok = (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !tag_ok {
        return Err(invalid(
            format!("image tag {tag:?}"),
            "not a valid tag (1 to 128 letters, digits, _ . -)",
        ));
    }
    let zip = request.lambda_zip.display();
    let bytes = std::fs::read(&request.lambda_zip).map_err(|e| {
        invalid(
            format!("the Lambda zip {zip}"),
            format!("{e} (build it with `make lambda`)"),
        )
    })?;
    if !bytes.starts_with(b"PK") {
        return Err(invalid(format!("the Lambda zip {zip}"), "not a zip file"));
    }
    // Checked again against the prefix the stack will have (see `deploy`).
    crate::template::load_contracts(
        &request.contracts_dir,
        request.settings.input_prefix.as_deref().unwrap_or(""),
    )
    .map_err(|e| invalid("a data contract", e.to_string()))?;
    Ok(())
}

/// The checks deploy and preflight share.
pub fn check_common(
    stack_name: &str,
    region: Option<&str>,
    settings: &StackSettings,
    image_uri: Option<&str>,
    artifact_bucket: Option<&str>,
) -> Result<(), InvalidInput> {
    check_stack_name(stack_name)?;
    if let Some(region) = region {
        check_region(region)?;
    }
    check_settings(settings)?;
    if let (Some(input), Some(output)) = (&settings.input_prefix, &settings.output_prefix) {
        check_prefixes(input, output)?;
    }
    if let (Some(cpu), Some(memory)) = (settings.task_cpu, settings.task_memory_mib) {
        check_task_size(cpu, memory)?;
    }
    if let Some(uri) = image_uri {
        parse_image_uri(uri)?;
    }
    if let Some(bucket) = artifact_bucket {
        check_bucket_name(bucket)?;
    }
    Ok(())
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
            stack_name: DEFAULT_STACK_NAME.into(),
            region: Some("eu-west-1".into()),
            lambda_zip: zip,
            image_tag: "abc123".into(),
            image_uri: None,
            settings: StackSettings::default(),
            tags: Vec::new(),
            artifact_bucket: None,
            template_file: None,
            contracts_dir: PathBuf::from("no-such-contracts-dir"),
        }
    }

    #[test]
    fn a_good_request_passes_and_leaves_every_setting_to_the_stack() {
        let request = request();
        check_request(&request).unwrap();
        assert!(request.settings.parameters().is_empty());
    }

    fn assert_refused(cases: Vec<(DeployRequest, &str)>) {
        for (bad, expected) in cases {
            let error = check_request(&bad).unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn bad_inputs_are_refused_with_what_is_wrong() {
        assert_refused(vec![
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
                    image_tag: "-x".into(),
                    ..request()
                },
                "image tag",
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
                    tags: (0..49)
                        .map(|i| Tag {
                            key: format!("k{i}"),
                            value: String::new(),
                        })
                        .collect(),
                    ..request()
                },
                "at most 48 tags",
            ),
            (
                DeployRequest {
                    lambda_zip: "/nonexistent/bootstrap.zip".into(),
                    ..request()
                },
                "make lambda",
            ),
        ]);
    }

    #[test]
    fn bad_settings_are_refused_with_what_is_wrong() {
        let with = |s: StackSettings| DeployRequest {
            settings: s,
            ..request()
        };
        let none = StackSettings::default;
        assert_refused(vec![
            (
                with(StackSettings {
                    threshold_bytes: Some(MAX_THRESHOLD_BYTES + 1),
                    ..none()
                }),
                "threshold",
            ),
            (
                with(StackSettings {
                    input_prefix: Some("incoming/".into()),
                    output_prefix: Some("incoming/processed/".into()),
                    ..none()
                }),
                "prefixes",
            ),
            (
                with(StackSettings {
                    input_prefix: Some("incoming".into()),
                    ..none()
                }),
                "prefix",
            ),
            (
                with(StackSettings {
                    task_cpu: Some(512),
                    task_memory_mib: Some(8192),
                    ..none()
                }),
                "1024 to 4096 MiB",
            ),
            (
                with(StackSettings {
                    log_retention_days: Some(2),
                    ..none()
                }),
                "log retention",
            ),
            (
                with(StackSettings {
                    kms_key_arn: Some("my-key".into()),
                    ..none()
                }),
                "KMS key",
            ),
            (
                with(StackSettings {
                    alarm_email: Some("ops".into()),
                    ..none()
                }),
                "e-mail",
            ),
        ]);
    }

    #[test]
    fn the_stack_name_is_as_long_as_the_names_derived_from_it_allow() {
        // Lambda function names stop at 64 characters ("<stack>-processor").
        check_stack_name(&"a".repeat(54)).unwrap();
        let error = check_stack_name(&"a".repeat(55)).unwrap_err().to_string();
        assert!(error.contains("Lambda function name"), "{error}");
        assert!(error.contains("its limit is 64"), "{error}");
        assert!(error.contains("at most 54"), "{error}");
        for name in derived_names(&"a".repeat(54)) {
            assert!(name.name.len() <= name.limit, "{name:?}");
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

    #[test]
    fn image_uris_name_an_ecr_repository_or_ecr_public() {
        assert_eq!(
            parse_image_uri("111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/processor:v2")
                .unwrap(),
            ImageSource::Ecr {
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                repository: "team/processor".into(),
                reference: "v2".into(),
            }
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            parse_image_uri(&format!(
                "111122223333.dkr.ecr.us-east-1.amazonaws.com/processor@{digest}"
            ))
            .unwrap(),
            ImageSource::Ecr {
                account: "111122223333".into(),
                region: "us-east-1".into(),
                repository: "processor".into(),
                reference: digest,
            }
        );
        assert_eq!(
            parse_image_uri("public.ecr.aws/team/processor:1").unwrap(),
            ImageSource::EcrPublic
        );
        for bad in [
            "docker.io/library/processor:1",
            "ghcr.io/team/processor:1",
            "111122223333.dkr.ecr.eu-west-1.amazonaws.com/processor",
            "processor:1",
        ] {
            assert!(parse_image_uri(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn tags_follow_awss_rules() {
        assert_eq!(
            "team=data platform".parse::<Tag>().unwrap(),
            Tag {
                key: "team".into(),
                value: "data platform".into(),
            }
        );
        "empty=".parse::<Tag>().unwrap();
        for (bad, why) in [
            ("novalue", "KEY=VALUE"),
            ("=x", "1 to 128"),
            ("aws:owner=me", "reserved"),
            ("AWS:owner=me", "reserved"),
            ("Stack=x", "sets this tag"),
            ("k=a;b", "letters, digits"),
        ] {
            let error = bad.parse::<Tag>().unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
        let long = format!("{}=v", "k".repeat(129));
        assert!(long.parse::<Tag>().is_err());
    }

    #[test]
    fn fargate_sizes_follow_the_cpu() {
        check_task_size(256, 512).unwrap();
        check_task_size(4096, 30720).unwrap();
        check_task_size(2048, 5120).unwrap();
        assert!(check_task_size(256, 4096).is_err());
        assert!(check_task_size(1024, 2500).is_err());
        assert!(check_task_size(300, 1024).is_err());
    }

    #[test]
    fn zero_reserved_concurrency_clears_the_reservation() {
        let settings = StackSettings {
            lambda_reserved_concurrency: Some(0),
            capacity_provider: Some(CapacityProvider::FargateSpot),
            ..StackSettings::default()
        };
        let parameters = settings.parameters();
        assert!(parameters.contains(&(param::LAMBDA_CONCURRENCY, String::new())));
        assert!(parameters.contains(&(param::CAPACITY_PROVIDER, "FARGATE_SPOT".into())));
    }
}
