//! `infra`: generate the pipeline's template and state machine; check the account, deploy,
//! inspect and destroy the stack.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use infra::clients::Clients;
use infra::deploy::{self, DeployError, Progress};
use infra::preflight::{self, PreflightRequest};
use infra::request::{
    CapacityProvider, DEFAULT_STACK_NAME, DeployRequest, NetworkMode, StackSettings, Tag,
    check_common,
};
use infra::template::Settings;
use shared::DEFAULT_THRESHOLD_BYTES;

/// The S3 upload pipeline's AWS side. AWS credentials and region come from the environment
/// as for any AWS SDK (AWS_PROFILE, AWS_REGION, ...); AWS_ENDPOINT_URL points at another
/// endpoint (PIPELINE_S3_PATH_STYLE=true when its S3 needs path-style addressing).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write statemachine.asl.json and infra/template.json (the committed, generated files).
    Synth {
        /// The repository root to write under.
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// The routing threshold's default: objects up to this many bytes go to Lambda.
        #[arg(long, default_value_t = DEFAULT_THRESHOLD_BYTES)]
        threshold_bytes: u64,
        /// Fail instead of writing when the files differ from the generator's output.
        #[arg(long)]
        check: bool,
        /// The data contracts (`*.toml`): a Glue table each. A missing folder is none.
        #[arg(long, default_value = infra::CONTRACTS_DIR)]
        contracts_dir: PathBuf,
    },
    /// Read-only checks of the account and region before a deploy, as a table (check,
    /// result, how to fix); exits 1 on a blocker. `infra deploy` runs them first too:
    /// credentials and account; Fargate on the task's architecture in the region; the
    /// Lambda reservation against the account's concurrency; ECS's service-linked role; the
    /// deployment bucket's owner and region; the --image-uri image; the stack's state.
    Preflight(Box<PreflightArgs>),
    /// Create or update the stack through a change set: runs the preflight, uploads the
    /// Lambda zip (content-addressed) to the deployment bucket, shows the changes, follows
    /// the stack's events and prints its outputs. A setting left out keeps the stack's
    /// current value (the template's default on a create).
    Deploy(Box<DeployArgs>),
    /// Delete the stack (the upload bucket and the KMS key are kept: they hold your data).
    Destroy(StackArgs),
    /// Print the stack's outputs as NAME=VALUE lines, or one output's value.
    Outputs {
        #[command(flatten)]
        stack: StackArgs,
        /// Print only this output's value.
        name: Option<String>,
    },
}

/// Which stack, where.
#[derive(Debug, Args)]
struct StackArgs {
    /// The stack's name: lowercase letters, digits and hyphens, at most 54 characters (its
    /// Lambda function is named `<stack>-processor`, and function names stop at 64).
    #[arg(long, env = "STACK_NAME", default_value = DEFAULT_STACK_NAME)]
    stack_name: String,
    /// The region (default: the environment's).
    #[arg(long)]
    region: Option<String>,
}

/// The stack's settings. Each one left out keeps the stack's current value.
#[derive(Debug, Args)]
struct SettingsArgs {
    /// Objects up to this many bytes go to Lambda, larger ones to Fargate (default
    /// 6291456).
    #[arg(long, env = "THRESHOLD_BYTES")]
    threshold_bytes: Option<u64>,
    /// Uploads under this prefix are processed (default `incoming/`).
    #[arg(long)]
    input_prefix: Option<String>,
    /// Reports go under this prefix, disjoint from the input prefix (default `processed/`).
    #[arg(long)]
    output_prefix: Option<String>,
    /// `public`: tasks in public subnets with public IPs (default); `private`: VPC
    /// endpoints.
    #[arg(long, value_enum)]
    network_mode: Option<NetworkMode>,
    /// `FARGATE` (arm64, default) or `FARGATE_SPOT` (x86_64: Spot runs no arm64 tasks).
    #[arg(long, value_enum)]
    capacity_provider: Option<CapacityProvider>,
    /// The Lambda function's memory in MB, 128 to 10240 (default 1024).
    #[arg(long, value_name = "MB")]
    lambda_memory: Option<u32>,
    /// Reserve this much of the account's Lambda concurrency for the function; 0 removes a
    /// reservation (default: none; accounts with a low quota can reserve nothing).
    #[arg(long, value_name = "N")]
    lambda_reserved_concurrency: Option<u32>,
    /// The Fargate task's CPU units: 256, 512, 1024 (default), 2048 or 4096.
    #[arg(long, value_name = "UNITS")]
    task_cpu: Option<u32>,
    /// The Fargate task's memory in MiB, valid for its CPU (default 2048).
    #[arg(long, value_name = "MIB")]
    task_memory: Option<u32>,
    /// E-mail alarms here; '' stops e-mailing.
    #[arg(long)]
    alarm_email: Option<String>,
    /// Encrypt with this existing KMS key instead of the stack's own; '' for the stack's
    /// own.
    #[arg(long)]
    kms_key_arn: Option<String>,
    /// Days the log groups keep their events (default 365).
    #[arg(long, value_name = "DAYS")]
    log_retention_days: Option<u32>,
}

impl SettingsArgs {
    fn settings(&self) -> StackSettings {
        StackSettings {
            threshold_bytes: self.threshold_bytes,
            input_prefix: self.input_prefix.clone(),
            output_prefix: self.output_prefix.clone(),
            network_mode: self.network_mode,
            capacity_provider: self.capacity_provider,
            lambda_memory_mb: self.lambda_memory,
            lambda_reserved_concurrency: self.lambda_reserved_concurrency,
            task_cpu: self.task_cpu,
            task_memory_mib: self.task_memory,
            alarm_email: self.alarm_email.clone(),
            kms_key_arn: self.kms_key_arn.clone(),
            log_retention_days: self.log_retention_days,
        }
    }
}

#[derive(Debug, Args)]
struct PreflightArgs {
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    settings: SettingsArgs,
    /// Run this image (Amazon ECR or ECR Public) instead of the stack's repository.
    #[arg(long)]
    image_uri: Option<String>,
    /// The deployment bucket (default: <stack>-artifacts-<account>-<region>).
    #[arg(long)]
    artifact_bucket: Option<String>,
    /// Checked as `infra deploy` checks it, so that the same DEPLOY_ARGS serve both.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<Tag>,
    /// Accepted, so that the same DEPLOY_ARGS serve both; the preflight does not read it.
    #[arg(long)]
    template: Option<PathBuf>,
    /// The data contracts (`*.toml`), checked as `infra deploy` reads them.
    #[arg(long, default_value = infra::CONTRACTS_DIR)]
    contracts_dir: PathBuf,
}

#[derive(Debug, Args)]
struct DeployArgs {
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    settings: SettingsArgs,
    /// The Lambda zip (`make lambda` builds it).
    #[arg(long, default_value = "target/lambda/lambda-processor/bootstrap.zip")]
    lambda_zip: PathBuf,
    /// The Fargate image's tag in the stack's ECR repository (`make image-push` pushes it).
    #[arg(long, env = "IMAGE_TAG")]
    image_tag: String,
    /// Run this image instead of the stack's repository and tag, for this deploy: an
    /// Amazon ECR image (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG; another account's
    /// repository policy must let this account pull) or ECR Public.
    #[arg(long)]
    image_uri: Option<String>,
    /// Tag the stack and every resource KEY=VALUE (repeatable, at most 48). Given, it
    /// replaces the stack's tags; left out, they are kept.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<Tag>,
    /// The deployment bucket (default: <stack>-artifacts-<account>-<region>, created if
    /// missing; refused if another account owns it).
    #[arg(long)]
    artifact_bucket: Option<String>,
    /// Deploy this template file instead of the generated one (for trying an edit).
    #[arg(long)]
    template: Option<PathBuf>,
    /// The data contracts (`*.toml`): a Glue table each, and the processors may write their
    /// outputs. The same folder must be in the Lambda zip and the image (`make lambda`,
    /// `make image` put `contracts/` there). A missing folder is none.
    #[arg(long, default_value = infra::CONTRACTS_DIR)]
    contracts_dir: PathBuf,
}

impl DeployArgs {
    fn into_request(self) -> DeployRequest {
        DeployRequest {
            settings: self.settings.settings(),
            stack_name: self.stack.stack_name,
            region: self.stack.region,
            lambda_zip: self.lambda_zip,
            image_tag: self.image_tag,
            image_uri: self.image_uri,
            tags: self.tags,
            artifact_bucket: self.artifact_bucket,
            template_file: self.template,
            contracts_dir: self.contracts_dir,
        }
    }
}

fn synth(
    root: &std::path::Path,
    threshold_bytes: u64,
    check: bool,
    contracts_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let settings = Settings {
        threshold_bytes,
        ..Settings::with_contracts_dir(contracts_dir)?
    };
    if check {
        let stale: Vec<_> = infra::synth(&settings)
            .into_iter()
            .filter(|(path, contents)| {
                std::fs::read_to_string(root.join(path)).ok().as_deref() != Some(contents.as_str())
            })
            .map(|(path, _)| path)
            .collect();
        if !stale.is_empty() {
            anyhow::bail!(
                "out of date: {} (run `cargo run -p infra -- synth`)",
                stale.join(", ")
            );
        }
        return Ok(());
    }
    let changed = infra::write_synth(root, &settings)?;
    if changed.is_empty() {
        println!("up to date");
    }
    for path in changed {
        println!("wrote {path}");
    }
    Ok(())
}

/// Prints what a deploy or destroy is doing.
fn show(progress: Progress) {
    match progress {
        Progress::Preflight(checks) => {
            print!("preflight:\n{}", preflight::table(&checks));
        }
        Progress::CreatingBucket(bucket) => println!("creating the deployment bucket {bucket}"),
        Progress::Uploaded(url) => println!("uploaded {url}"),
        Progress::AlreadyUploaded(url) => println!("{url} is already uploaded"),
        Progress::Changes { create, changes } => {
            println!(
                "{} the stack: {} change(s)",
                if create { "creating" } else { "updating" },
                changes.len()
            );
            for line in changes {
                println!("  {line}");
            }
        }
        Progress::NoChanges => println!("no changes: the stack is up to date"),
        Progress::StackEvent {
            elapsed,
            done,
            expected,
            status,
            resource_type,
            logical_id,
            reason,
        } => println!(
            "  {:>5.0}s [{done}/{expected}] {status:<20} {resource_type:<36} {logical_id}{}",
            elapsed.as_secs_f64(),
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        ),
        Progress::Outputs(outputs) => {
            if outputs.is_empty() {
                println!("outputs: (the stack reports none)");
            }
            for (key, value) in outputs {
                println!("  {key} = {value}");
            }
        }
        Progress::NothingToDelete => println!("no such stack: nothing to delete"),
        Progress::Deleted => println!(
            "deleted. Kept on purpose (DeletionPolicy Retain): the upload bucket with its data \
             and reports, and the KMS key that encrypts them."
        ),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Synth {
            root,
            threshold_bytes,
            check,
            contracts_dir,
        } => synth(&root, threshold_bytes, check, &contracts_dir),
        Command::Preflight(args) => {
            let request = PreflightRequest {
                stack_name: args.stack.stack_name,
                settings: args.settings.settings(),
                image_uri: args.image_uri,
                artifact_bucket: args.artifact_bucket,
            };
            check_common(
                &request.stack_name,
                args.stack.region.as_deref(),
                &request.settings,
                request.image_uri.as_deref(),
                request.artifact_bucket.as_deref(),
            )?;
            let clients = Clients::new(args.stack.region.as_deref()).await?;
            let checks = preflight::preflight(&clients, &request, &args.contracts_dir).await;
            print!(
                "preflight of stack {} in {}:\n{}",
                request.stack_name,
                clients.region(),
                preflight::table(&checks)
            );
            preflight::blockers(&checks)?;
            Ok(())
        }
        Command::Deploy(args) => {
            let request = args.into_request();
            infra::request::check_request(&request)?;
            let clients = Clients::new(request.region.as_deref()).await?;
            println!(
                "deploying stack {} to {}",
                request.stack_name,
                clients.region()
            );
            deploy::deploy(&clients, &request, &mut show).await?;
            Ok(())
        }
        Command::Destroy(stack) => {
            infra::request::check_stack_name(&stack.stack_name)?;
            let clients = Clients::new(stack.region.as_deref()).await?;
            deploy::destroy(&clients, &stack.stack_name, &mut show).await?;
            Ok(())
        }
        Command::Outputs { stack, name } => {
            infra::request::check_stack_name(&stack.stack_name)?;
            let clients = Clients::new(stack.region.as_deref()).await?;
            match name {
                Some(name) => println!(
                    "{}",
                    deploy::output(&clients, &stack.stack_name, &name).await?
                ),
                None => {
                    for (key, value) in deploy::outputs(&clients, &stack.stack_name).await? {
                        println!("{key}={value}");
                    }
                }
            }
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            match error.downcast_ref::<DeployError>() {
                // The table was printed; say which checks stopped it.
                Some(DeployError::Blocked(_)) => eprintln!("infra: {error}: nothing was created"),
                _ => eprintln!("infra: {error:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
