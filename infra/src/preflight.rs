//! `infra preflight`, and the first step of `infra deploy`: read-only checks against the
//! account and region that catch, before anything is created, what would make the deploy
//! roll back or the pipeline fail later.
//!
//! Gathering the facts ([`gather`]) is the only part that calls AWS; each decision is a pure
//! function of those facts ([`evaluate`]), unit-tested below.

use std::fmt::Write as _;
use std::path::Path;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;

use crate::clients::{Clients, describe};
use crate::deploy::{DeployError, StackState, effective, stack_state};
use crate::request::{
    CapacityProvider, ImageSource, PROCESSOR_SUFFIX, StackSettings, default_artifact_bucket,
    parse_image_uri,
};
use crate::template::{self, param};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fine.
    Pass,
    /// Worth knowing; the deploy goes on.
    Warn,
    /// The deploy would fail: it does not start.
    Blocker,
}

impl Verdict {
    /// `ok`, `warning` or `BLOCKER`.
    pub const fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "ok",
            Verdict::Warn => "warning",
            Verdict::Blocker => "BLOCKER",
        }
    }
}

/// One preflight check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// How it came out.
    pub verdict: Verdict,
    /// What was found.
    pub result: String,
    /// How to put it right, when it is not fine.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, result: impl Into<String>) -> Check {
        Check {
            name,
            verdict: Verdict::Pass,
            result: result.into(),
            fix: None,
        }
    }

    fn warn(name: &'static str, result: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            verdict: Verdict::Warn,
            result: result.into(),
            fix: Some(fix.into()),
        }
    }

    fn blocker(name: &'static str, result: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            verdict: Verdict::Blocker,
            result: result.into(),
            fix: Some(fix.into()),
        }
    }
}

/// What a preflight is asked to check: the stack and the settings the deploy would give it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreflightRequest {
    /// The stack's name.
    pub stack_name: String,
    /// The settings the deploy would change.
    pub settings: StackSettings,
    /// `--image-uri`, when given.
    pub image_uri: Option<String>,
    /// `--artifact-bucket`, when given.
    pub artifact_bucket: Option<String>,
}

/// Lambda's concurrency in the account and region (`GetAccountSettings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountConcurrency {
    /// The account's concurrency quota.
    pub limit: u32,
    /// What no function has reserved.
    pub unreserved: u32,
}

/// What the deployment bucket turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketProbe {
    /// No bucket of that name: the deploy creates it.
    Missing,
    /// Ours, in this region or another.
    Ours {
        /// Its region.
        region: String,
    },
    /// Another account's (S3 refused it with our account as the expected owner, or it is
    /// not among our buckets).
    NotOurs {
        /// What showed it.
        evidence: String,
    },
    /// The probe itself failed.
    Unknown(String),
}

/// What the image `--image-uri` names turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageProbe {
    /// No `--image-uri`: the stack's repository, pushed by `make deploy`.
    StacksRepository,
    /// ECR Public: pullable by anyone, not checked.
    Public,
    /// Found in its repository.
    Found,
    /// The repository or the tag is not there.
    Missing(String),
    /// It could not be looked up (another account's registry, no permission).
    Unknown(String),
}

/// Everything the checks decide on; [`gather`] reads it from AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The region.
    pub region: String,
    /// The account, or why it could not be had.
    pub account: Result<String, String>,
    /// The stack's state (`None`: no such stack), or why it could not be read.
    pub stack: Result<Option<StackState>, String>,
    /// Lambda's account concurrency, or why it could not be read.
    pub concurrency: Result<AccountConcurrency, String>,
    /// The processor function's current reservation, when it exists and has one.
    pub current_reservation: Option<u32>,
    /// Whether ECS's service-linked role exists, or why that is unknown.
    pub ecs_service_linked_role: Result<bool, String>,
    /// The deployment bucket's name and what it is.
    pub bucket: Option<(String, BucketProbe)>,
    /// The image's lookup.
    pub image: ImageProbe,
}

/// The name of ECS's service-linked role.
pub const ECS_SERVICE_LINKED_ROLE: &str = "AWSServiceRoleForECS";

/// The path of ECS's service-linked role.
pub const ECS_SERVICE_LINKED_ROLE_PATH: &str = "/aws-service-role/ecs.amazonaws.com/";

/// Regions whose Fargate runs no 64-bit ARM tasks, per AWS's "Working with 64-bit ARM
/// workloads on Amazon ECS" (a list that may have shrunk since: a warning, not a blocker).
pub const FARGATE_ARM64_UNSUPPORTED_REGIONS: [&str; 6] = [
    "af-south-1",
    "cn-north-1",
    "cn-northwest-1",
    "me-south-1",
    "us-gov-east-1",
    "us-gov-west-1",
];

/// Reads the facts from AWS: read-only calls, none of which fails the preflight by itself
/// (a call that fails becomes the check's finding).
pub async fn gather(clients: &Clients, request: &PreflightRequest) -> Facts {
    let account = match clients.sts.get_caller_identity().send().await {
        Ok(identity) => identity
            .account()
            .map(str::to_owned)
            .ok_or_else(|| "sts:GetCallerIdentity named no account".to_owned()),
        Err(e) => Err(describe(&e)),
    };
    let stack = stack_state(clients, &request.stack_name)
        .await
        .map_err(|e| e.to_string());
    let concurrency = match clients.lambda.get_account_settings().send().await {
        Ok(settings) => settings
            .account_limit()
            .map(|limit| AccountConcurrency {
                limit: u32::try_from(limit.concurrent_executions()).unwrap_or(0),
                unreserved: limit
                    .unreserved_concurrent_executions()
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0),
            })
            .ok_or_else(|| "lambda:GetAccountSettings gave no account limit".to_owned()),
        Err(e) => Err(describe(&e)),
    };
    let current_reservation = clients
        .lambda
        .get_function_concurrency()
        .function_name(format!("{}{PROCESSOR_SUFFIX}", request.stack_name))
        .send()
        .await
        .ok()
        .and_then(|out| out.reserved_concurrent_executions())
        .and_then(|n| u32::try_from(n).ok());
    // Looked up by its path: a service-linked role's is /aws-service-role/<service>/ (AWS:
    // "Using service-linked roles for Amazon ECS").
    let ecs_service_linked_role = match clients
        .iam
        .list_roles()
        .path_prefix(ECS_SERVICE_LINKED_ROLE_PATH)
        .send()
        .await
    {
        Ok(out) => Ok(!out.roles().is_empty()),
        Err(e) => Err(describe(&e)),
    };
    let bucket_name = match (&request.artifact_bucket, &account) {
        (Some(bucket), _) => Some(bucket.clone()),
        (None, Ok(account)) => Some(default_artifact_bucket(
            &request.stack_name,
            account,
            &clients.region,
        )),
        (None, Err(_)) => None,
    };
    let bucket = match (bucket_name, &account) {
        (Some(bucket), Ok(account)) => {
            let probe = probe_bucket(clients, &bucket, account).await;
            Some((bucket, probe))
        }
        _ => None,
    };
    let image = match &request.image_uri {
        None => ImageProbe::StacksRepository,
        Some(uri) => probe_image(clients, uri).await,
    };
    Facts {
        region: clients.region.clone(),
        account,
        stack,
        concurrency,
        current_reservation,
        ecs_service_linked_role,
        bucket,
        image,
    }
}

/// Whose the deployment bucket is. S3 refuses a request whose `ExpectedBucketOwner` is not
/// the bucket's owner with 403 (AWS: "Verifying bucket ownership with bucket owner
/// condition"); a bucket that answers is also looked for among our own buckets, which
/// S3 implementations that ignore the condition still get right.
pub(crate) async fn probe_bucket(clients: &Clients, bucket: &str, account: &str) -> BucketProbe {
    let head = clients
        .s3
        .head_bucket()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .send()
        .await;
    let region = match head {
        Ok(out) => out.bucket_region().map(str::to_owned),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            return match status {
                Some(404) => BucketProbe::Missing,
                Some(403) => BucketProbe::NotOurs {
                    evidence: format!(
                        "S3 answers 403 to a request that expects account {account} to own it"
                    ),
                },
                _ => BucketProbe::Unknown(describe(&e)),
            };
        }
    };
    match clients.s3.list_buckets().prefix(bucket).send().await {
        Ok(list) if !list.buckets().iter().any(|b| b.name() == Some(bucket)) => {
            return BucketProbe::NotOurs {
                evidence: format!("it answers, but is not among account {account}'s buckets"),
            };
        }
        // No s3:ListAllMyBuckets: the expected-owner condition above is what S3 enforces.
        Ok(_) | Err(_) => {}
    }
    BucketProbe::Ours {
        region: region.unwrap_or_else(|| clients.region.clone()),
    }
}

async fn probe_image(clients: &Clients, uri: &str) -> ImageProbe {
    let source = match parse_image_uri(uri) {
        Ok(source) => source,
        Err(e) => return ImageProbe::Missing(e.to_string()),
    };
    let ImageSource::Ecr {
        account,
        region,
        repository,
        reference,
    } = source
    else {
        return ImageProbe::Public;
    };
    if region != clients.region {
        return ImageProbe::Unknown(format!(
            "the image is in {region}, the stack in {}: not looked up",
            clients.region
        ));
    }
    let id = if reference.starts_with("sha256:") {
        aws_sdk_ecr::types::ImageIdentifier::builder()
            .image_digest(&reference)
            .build()
    } else {
        aws_sdk_ecr::types::ImageIdentifier::builder()
            .image_tag(&reference)
            .build()
    };
    match clients
        .ecr
        .describe_images()
        .registry_id(&account)
        .repository_name(&repository)
        .image_ids(id)
        .send()
        .await
    {
        Ok(out) if !out.image_details().is_empty() => ImageProbe::Found,
        Ok(_) => ImageProbe::Missing(format!("{repository} has no image {reference}")),
        Err(e) => match e.code() {
            Some("ImageNotFoundException" | "RepositoryNotFoundException") => {
                ImageProbe::Missing(describe(&e))
            }
            _ => ImageProbe::Unknown(describe(&e)),
        },
    }
}

/// Decides every check from the facts.
pub fn evaluate(request: &PreflightRequest, facts: &Facts) -> Vec<Check> {
    let stack = facts.stack.as_ref().ok().and_then(Option::as_ref);
    let reservation = effective(&request.settings, stack, param::LAMBDA_CONCURRENCY)
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|&n| n > 0);
    let capacity = effective(&request.settings, stack, param::CAPACITY_PROVIDER)
        .and_then(|v| CapacityProvider::from_parameter(&v))
        .unwrap_or(CapacityProvider::Fargate);
    let mut checks = vec![
        check_credentials(&facts.account),
        check_stack(&request.stack_name, &facts.stack),
        check_fargate(&facts.region, capacity),
        check_concurrency(reservation, facts.current_reservation, &facts.concurrency),
        check_ecs_role(&facts.ecs_service_linked_role),
    ];
    if let Some((bucket, probe)) = &facts.bucket {
        checks.push(check_bucket(bucket, probe, &facts.region));
    }
    checks.push(check_image(request.image_uri.as_deref(), &facts.image));
    checks
}

fn check_credentials(account: &Result<String, String>) -> Check {
    const NAME: &str = "credentials";
    match account {
        Ok(account) => Check::pass(NAME, format!("account {account}")),
        Err(e) => Check::blocker(
            NAME,
            format!("no usable credentials: {e}"),
            "set AWS_PROFILE (aws sso login) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        ),
    }
}

fn check_stack(stack: &str, state: &Result<Option<StackState>, String>) -> Check {
    const NAME: &str = "stack state";
    let state = match state {
        Ok(None) => return Check::pass(NAME, format!("no stack {stack}: it will be created")),
        Ok(Some(state)) => state,
        Err(e) => {
            return Check::blocker(
                NAME,
                format!("could not read stack {stack}: {e}"),
                "allow cloudformation:DescribeStacks",
            );
        }
    };
    let status = state.status.as_str();
    match status {
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" => Check::blocker(
            NAME,
            format!(
                "{stack} is {status}: its first deploy failed, and such a stack can only be deleted"
            ),
            format!("make destroy STACK_NAME={stack} (or infra destroy), then deploy again"),
        ),
        "DELETE_FAILED" => Check::blocker(
            NAME,
            format!("{stack} is DELETE_FAILED"),
            format!(
                "see its events, remove what blocked the delete, and run make destroy STACK_NAME={stack} again"
            ),
        ),
        "UPDATE_ROLLBACK_FAILED" => Check::blocker(
            NAME,
            format!("{stack} is UPDATE_ROLLBACK_FAILED"),
            format!("aws cloudformation continue-update-rollback --stack-name {stack}"),
        ),
        s if s.ends_with("_IN_PROGRESS") && s != "REVIEW_IN_PROGRESS" => Check::blocker(
            NAME,
            format!("{stack} is busy ({s})"),
            "wait until it is done, then deploy again",
        ),
        s => Check::pass(NAME, format!("{stack} is {s}: it will be updated")),
    }
}

fn check_fargate(region: &str, capacity: CapacityProvider) -> Check {
    const NAME: &str = "Fargate architecture";
    let arch = capacity.cpu_architecture();
    if arch == "ARM64" && FARGATE_ARM64_UNSUPPORTED_REGIONS.contains(&region) {
        Check::warn(
            NAME,
            format!("AWS lists {region} among the regions whose Fargate runs no ARM64 tasks"),
            "--capacity-provider FARGATE_SPOT runs the x86_64 image, or deploy to another region",
        )
    } else {
        Check::pass(
            NAME,
            format!("{} tasks run {arch} in {region}", capacity.as_str()),
        )
    }
}

/// Lambda keeps at least 100 units of the account's concurrency unreserved (AWS:
/// "Configuring reserved concurrency for a function"); an account whose whole quota is
/// below 100 (new accounts may have 10) can reserve nothing at all.
pub fn minimum_unreserved(limit: u32) -> u32 {
    limit.min(100)
}

fn check_concurrency(
    requested: Option<u32>,
    current: Option<u32>,
    account: &Result<AccountConcurrency, String>,
) -> Check {
    const NAME: &str = "Lambda concurrency";
    let account = match account {
        Ok(account) => *account,
        Err(e) => {
            return match requested {
                None => Check::pass(NAME, "no reservation asked for"),
                Some(n) => Check::warn(
                    NAME,
                    format!(
                        "could not read the account's concurrency ({e}) to check a reservation of {n}"
                    ),
                    "allow lambda:GetAccountSettings, or check the quota in the Service Quotas console",
                ),
            };
        }
    };
    let Some(requested) = requested else {
        return Check::pass(
            NAME,
            format!(
                "no reservation; the account's quota is {} ({} unreserved)",
                account.limit, account.unreserved
            ),
        );
    };
    // The function's own reservation is already out of the unreserved pool.
    let available = account.unreserved + current.unwrap_or(0);
    let minimum = minimum_unreserved(account.limit);
    if available.saturating_sub(requested) >= minimum && requested <= available {
        Check::pass(
            NAME,
            format!(
                "reserving {requested} leaves {} unreserved (at least {minimum} must be)",
                available - requested
            ),
        )
    } else {
        let most = available.saturating_sub(minimum);
        Check::blocker(
            NAME,
            format!(
                "reserving {requested} of {available} unreserved would leave less than the \
                 {minimum} Lambda keeps unreserved (account quota {})",
                account.limit
            ),
            if most == 0 {
                "reserve nothing (--lambda-reserved-concurrency 0), or ask for a higher \
                 concurrency quota (Service Quotas: Lambda, Concurrent executions)"
                    .to_owned()
            } else {
                format!("--lambda-reserved-concurrency {most} or less, or 0 for none")
            },
        )
    }
}

fn check_ecs_role(exists: &Result<bool, String>) -> Check {
    const NAME: &str = "ECS service-linked role";
    let fix = "aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com";
    match exists {
        Ok(true) => Check::pass(NAME, format!("{ECS_SERVICE_LINKED_ROLE} exists")),
        // ECS creates it with the first cluster, but a new account's first cluster created
        // through CloudFormation can fail with "Unable to assume the service linked role".
        Ok(false) => Check::blocker(
            NAME,
            format!("{ECS_SERVICE_LINKED_ROLE} does not exist yet: creating the cluster may fail"),
            fix,
        ),
        Err(e) => Check::warn(NAME, format!("could not look it up: {e}"), fix),
    }
}

fn check_bucket(bucket: &str, probe: &BucketProbe, region: &str) -> Check {
    const NAME: &str = "deployment bucket";
    let elsewhere = "pass --artifact-bucket with a bucket of yours in this region";
    match probe {
        BucketProbe::Missing => Check::pass(NAME, format!("{bucket} will be created")),
        BucketProbe::Ours { region: r } if r == region => {
            Check::pass(NAME, format!("{bucket} is yours, in {region}"))
        }
        BucketProbe::Ours { region: r } => Check::blocker(
            NAME,
            format!("{bucket} is in {r}: the Lambda code must be in the stack's region, {region}"),
            elsewhere,
        ),
        BucketProbe::NotOurs { evidence } => Check::blocker(
            NAME,
            format!("{bucket} belongs to another account ({evidence}): nothing is uploaded to it"),
            elsewhere,
        ),
        BucketProbe::Unknown(e) => Check::blocker(
            NAME,
            format!("could not check {bucket}: {e}"),
            "allow s3:ListBucket on it, or pass --artifact-bucket",
        ),
    }
}

fn check_image(uri: Option<&str>, probe: &ImageProbe) -> Check {
    const NAME: &str = "image";
    let uri = uri.unwrap_or_default();
    match probe {
        ImageProbe::StacksRepository => Check::pass(
            NAME,
            "the stack's repository (make deploy pushes the image)",
        ),
        ImageProbe::Public => Check::pass(NAME, format!("{uri} is on ECR Public")),
        ImageProbe::Found => Check::pass(NAME, format!("{uri} exists")),
        ImageProbe::Missing(e) => Check::blocker(
            NAME,
            format!("{uri} cannot be pulled: {e}"),
            "push it first, or correct --image-uri",
        ),
        ImageProbe::Unknown(e) => Check::warn(
            NAME,
            format!("{uri} could not be checked: {e}"),
            "make sure it exists and that its repository policy lets this account pull",
        ),
    }
}

/// The data contracts of `dir`, checked as `infra deploy` checks them: against the input
/// prefix the stack will have (the one asked for, else the stack's current one, else the
/// template's default, `incoming/`), so that a contract outside it is a blocker whether
/// `--input-prefix` was given or not.
pub fn check_contracts(dir: &Path, request: &PreflightRequest, facts: &Facts) -> Check {
    const NAME: &str = "data contracts";
    let stack = facts.stack.as_ref().ok().and_then(Option::as_ref);
    let input_prefix = effective(&request.settings, stack, param::INPUT_PREFIX).unwrap_or_default();
    match template::load_contracts(dir, &input_prefix) {
        Ok(contracts) => Check::pass(
            NAME,
            format!(
                "{} contract(s) in {}, under the input prefix {input_prefix}",
                contracts.iter().count(),
                dir.display()
            ),
        ),
        Err(e) => Check::blocker(
            NAME,
            e.to_string(),
            format!(
                "correct the contract (docs/contracts.md); its prefix must lie under the input prefix {input_prefix} (--input-prefix)"
            ),
        ),
    }
}

/// Runs the preflight: the facts, then the checks, the data contracts of `contracts_dir`
/// last.
pub async fn preflight(
    clients: &Clients,
    request: &PreflightRequest,
    contracts_dir: &Path,
) -> Vec<Check> {
    let facts = gather(clients, request).await;
    let mut checks = evaluate(request, &facts);
    checks.push(check_contracts(contracts_dir, request, &facts));
    checks
}

/// The blockers among `checks`, as an error; `Ok` when there are none.
pub fn blockers(checks: &[Check]) -> Result<(), DeployError> {
    let blockers: Vec<Check> = checks
        .iter()
        .filter(|c| c.verdict == Verdict::Blocker)
        .cloned()
        .collect();
    if blockers.is_empty() {
        Ok(())
    } else {
        Err(DeployError::Blocked(blockers))
    }
}

/// The checks as a table: check, result, how to fix.
pub fn table(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for check in checks {
        let _ = writeln!(
            out,
            "  {:<width$}  {:<7}  {}",
            check.name,
            check.verdict.label(),
            check.result
        );
        if let Some(fix) = &check.fix {
            let _ = writeln!(out, "  {:<width$}  {:<7}  fix: {fix}", "", "");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn facts() -> Facts {
        Facts {
            region: "eu-west-1".into(),
            account: Ok("123456789012".into()),
            stack: Ok(None),
            concurrency: Ok(AccountConcurrency {
                limit: 1000,
                unreserved: 1000,
            }),
            current_reservation: None,
            ecs_service_linked_role: Ok(true),
            bucket: Some(("b".into(), BucketProbe::Missing)),
            image: ImageProbe::StacksRepository,
        }
    }

    fn request() -> PreflightRequest {
        PreflightRequest {
            stack_name: "pipeline".into(),
            ..PreflightRequest::default()
        }
    }

    fn verdict_of(checks: &[Check], name: &str) -> Verdict {
        checks.iter().find(|c| c.name == name).unwrap().verdict
    }

    fn stack(status: &str, parameters: &[(&str, &str)]) -> StackState {
        StackState {
            status: status.into(),
            parameters: parameters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn a_fresh_account_with_the_defaults_passes() {
        let checks = evaluate(&request(), &facts());
        assert!(blockers(&checks).is_ok(), "{}", table(&checks));
        assert!(checks.iter().all(|c| c.verdict == Verdict::Pass));
    }

    #[test]
    fn a_low_quota_account_can_reserve_nothing() {
        // New accounts may have a quota of 10: AWS refuses any reservation ("decreases
        // account's UnreservedConcurrentExecution below its minimum value of [10]").
        let low = Facts {
            concurrency: Ok(AccountConcurrency {
                limit: 10,
                unreserved: 10,
            }),
            ..facts()
        };
        let none = evaluate(&request(), &low);
        assert_eq!(verdict_of(&none, "Lambda concurrency"), Verdict::Pass);
        let mut asks = request();
        asks.settings.lambda_reserved_concurrency = Some(1);
        let checks = evaluate(&asks, &low);
        assert_eq!(verdict_of(&checks, "Lambda concurrency"), Verdict::Blocker);
        let check = checks
            .iter()
            .find(|c| c.name == "Lambda concurrency")
            .unwrap();
        assert!(check.fix.as_deref().unwrap().contains("reserve nothing"));
    }

    #[test]
    fn a_reservation_must_leave_a_hundred_unreserved() {
        let account = Facts {
            concurrency: Ok(AccountConcurrency {
                limit: 1000,
                unreserved: 150,
            }),
            ..facts()
        };
        let mut asks = request();
        asks.settings.lambda_reserved_concurrency = Some(50);
        assert_eq!(
            verdict_of(&evaluate(&asks, &account), "Lambda concurrency"),
            Verdict::Pass
        );
        asks.settings.lambda_reserved_concurrency = Some(51);
        let checks = evaluate(&asks, &account);
        assert_eq!(verdict_of(&checks, "Lambda concurrency"), Verdict::Blocker);
        assert!(
            table(&checks).contains("--lambda-reserved-concurrency 50 or less"),
            "{}",
            table(&checks)
        );
        // The function's own reservation goes back into the pool it is taken from again.
        let updating = Facts {
            current_reservation: Some(20),
            ..account.clone()
        };
        asks.settings.lambda_reserved_concurrency = Some(70);
        assert_eq!(
            verdict_of(&evaluate(&asks, &updating), "Lambda concurrency"),
            Verdict::Pass
        );
    }

    #[test]
    fn a_reservation_kept_from_the_stack_is_checked_too() {
        let account = Facts {
            concurrency: Ok(AccountConcurrency {
                limit: 10,
                unreserved: 10,
            }),
            stack: Ok(Some(stack(
                "UPDATE_COMPLETE",
                &[(param::LAMBDA_CONCURRENCY, "5")],
            ))),
            ..facts()
        };
        assert_eq!(
            verdict_of(&evaluate(&request(), &account), "Lambda concurrency"),
            Verdict::Blocker
        );
        // Asking for 0 removes it.
        let mut none = request();
        none.settings.lambda_reserved_concurrency = Some(0);
        assert_eq!(
            verdict_of(&evaluate(&none, &account), "Lambda concurrency"),
            Verdict::Pass
        );
    }

    #[test]
    fn stack_states_that_need_a_hand_first_are_blockers_that_say_what_to_do() {
        for (status, verdict, fix) in [
            ("CREATE_COMPLETE", Verdict::Pass, ""),
            ("UPDATE_ROLLBACK_COMPLETE", Verdict::Pass, ""),
            ("ROLLBACK_COMPLETE", Verdict::Blocker, "make destroy"),
            ("UPDATE_IN_PROGRESS", Verdict::Blocker, "wait"),
            (
                "UPDATE_ROLLBACK_FAILED",
                Verdict::Blocker,
                "continue-update-rollback",
            ),
            ("DELETE_FAILED", Verdict::Blocker, "make destroy"),
        ] {
            let f = Facts {
                stack: Ok(Some(stack(status, &[]))),
                ..facts()
            };
            let checks = evaluate(&request(), &f);
            let check = checks.iter().find(|c| c.name == "stack state").unwrap();
            assert_eq!(check.verdict, verdict, "{status}");
            assert!(check.fix.as_deref().unwrap_or("").contains(fix), "{status}");
        }
    }

    #[test]
    fn spot_runs_x86_and_arm64_is_warned_about_where_aws_lists_it_missing() {
        let cape_town = Facts {
            region: "af-south-1".into(),
            ..facts()
        };
        assert_eq!(
            verdict_of(&evaluate(&request(), &cape_town), "Fargate architecture"),
            Verdict::Warn
        );
        let mut spot = request();
        spot.settings.capacity_provider = Some(CapacityProvider::FargateSpot);
        let checks = evaluate(&spot, &cape_town);
        assert_eq!(verdict_of(&checks, "Fargate architecture"), Verdict::Pass);
        assert!(table(&checks).contains("FARGATE_SPOT tasks run X86_64"));
    }

    #[test]
    fn a_bucket_of_another_account_or_region_is_refused() {
        for (probe, verdict) in [
            (BucketProbe::Missing, Verdict::Pass),
            (
                BucketProbe::Ours {
                    region: "eu-west-1".into(),
                },
                Verdict::Pass,
            ),
            (
                BucketProbe::Ours {
                    region: "us-east-1".into(),
                },
                Verdict::Blocker,
            ),
            (
                BucketProbe::NotOurs {
                    evidence: "403".into(),
                },
                Verdict::Blocker,
            ),
            (BucketProbe::Unknown("timeout".into()), Verdict::Blocker),
        ] {
            let f = Facts {
                bucket: Some(("b".into(), probe.clone())),
                ..facts()
            };
            assert_eq!(
                verdict_of(&evaluate(&request(), &f), "deployment bucket"),
                verdict,
                "{probe:?}"
            );
        }
    }

    #[test]
    fn missing_role_credentials_and_images_are_blockers() {
        let f = Facts {
            account: Err("ExpiredToken".into()),
            ecs_service_linked_role: Ok(false),
            image: ImageProbe::Missing("no such tag".into()),
            ..facts()
        };
        let checks = evaluate(&request(), &f);
        for name in ["credentials", "ECS service-linked role", "image"] {
            assert_eq!(verdict_of(&checks, name), Verdict::Blocker, "{name}");
        }
        let Err(DeployError::Blocked(found)) = blockers(&checks) else {
            panic!("no blockers")
        };
        assert_eq!(found.len(), 3);
        let unknown = Facts {
            ecs_service_linked_role: Err("AccessDenied".into()),
            image: ImageProbe::Unknown("other account".into()),
            ..facts()
        };
        let checks = evaluate(&request(), &unknown);
        assert_eq!(
            verdict_of(&checks, "ECS service-linked role"),
            Verdict::Warn
        );
        assert_eq!(verdict_of(&checks, "image"), Verdict::Warn);
    }

    /// A folder holding one contract that owns `prefix`.
    fn contracts(prefix: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let contract = format!(
            "dataset = \"orders\"\nprefix = \"{prefix}\"\n\n[[columns]]\nname = \"id\"\ntype = \"int64\"\n"
        );
        std::fs::write(dir.path().join("orders.toml"), contract).unwrap();
        dir
    }

    #[test]
    fn contracts_are_checked_against_the_input_prefix_the_stack_will_have() {
        let under_default = contracts("incoming/orders/");
        let elsewhere = contracts("uploads/orders/");
        // No --input-prefix and no stack: the template's default, incoming/ (before, the
        // contracts were checked against no prefix at all, and any passed).
        let check = check_contracts(elsewhere.path(), &request(), &facts());
        assert_eq!(check.verdict, Verdict::Blocker, "{check:?}");
        assert!(check.result.contains("orders.toml"), "{check:?}");
        assert!(check.fix.unwrap().contains("incoming/"));
        let check = check_contracts(under_default.path(), &request(), &facts());
        assert_eq!(check.verdict, Verdict::Pass, "{check:?}");
        assert!(check.result.contains("1 contract(s)"), "{check:?}");

        // A stack deployed with uploads/: its prefix, when none is asked for.
        let deployed = Facts {
            stack: Ok(Some(stack(
                "UPDATE_COMPLETE",
                &[(param::INPUT_PREFIX, "uploads/")],
            ))),
            ..facts()
        };
        let check = check_contracts(elsewhere.path(), &request(), &deployed);
        assert_eq!(check.verdict, Verdict::Pass, "{check:?}");
        let check = check_contracts(under_default.path(), &request(), &deployed);
        assert_eq!(check.verdict, Verdict::Blocker, "{check:?}");

        // --input-prefix wins over the stack's.
        let asked = PreflightRequest {
            settings: StackSettings {
                input_prefix: Some("incoming/".into()),
                ..StackSettings::default()
            },
            ..request()
        };
        let check = check_contracts(under_default.path(), &asked, &deployed);
        assert_eq!(check.verdict, Verdict::Pass, "{check:?}");

        // No folder: no contracts, nothing to check.
        let none = check_contracts(Path::new("/no/such/folder"), &request(), &facts());
        assert_eq!(none.verdict, Verdict::Pass, "{none:?}");
    }
}
