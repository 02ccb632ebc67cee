//! `infra`: generate the pipeline's template and state machine; deploy, inspect and destroy
//! the stack.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use infra::deploy::{self, Clients, DeployRequest};
use infra::template::Settings;
use shared::job::{DEFAULT_INPUT_PREFIX, DEFAULT_OUTPUT_PREFIX, DEFAULT_THRESHOLD_BYTES};

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
    },
    /// Create or update the stack through a change set: uploads the Lambda zip
    /// (content-addressed) to the deployment bucket, shows the changes, follows the stack's
    /// events and prints its outputs.
    Deploy(Box<DeployArgs>),
    /// Delete the stack (the upload bucket and the KMS key are kept: they hold your data).
    Destroy {
        /// The stack's name.
        #[arg(long, env = "STACK_NAME", default_value = "s3-upload-pipeline")]
        stack_name: String,
        /// The region (default: the environment's).
        #[arg(long)]
        region: Option<String>,
    },
    /// Print the stack's outputs as NAME=VALUE lines, or one output's value.
    Outputs {
        /// The stack's name.
        #[arg(long, env = "STACK_NAME", default_value = "s3-upload-pipeline")]
        stack_name: String,
        /// The region (default: the environment's).
        #[arg(long)]
        region: Option<String>,
        /// Print only this output's value.
        name: Option<String>,
    },
}

#[derive(Debug, Args)]
struct DeployArgs {
    /// The stack's name: lowercase letters, digits and hyphens.
    #[arg(long, env = "STACK_NAME", default_value = "s3-upload-pipeline")]
    stack_name: String,
    /// The region (default: the environment's).
    #[arg(long)]
    region: Option<String>,
    /// The Lambda zip (`make lambda` builds it).
    #[arg(long, default_value = "target/lambda/lambda-processor/bootstrap.zip")]
    lambda_zip: PathBuf,
    /// The Fargate image's tag in the stack's ECR repository (`make image-push` pushes it).
    #[arg(long, env = "IMAGE_TAG")]
    image_tag: String,
    /// Run this image URI instead of the stack's repository and tag.
    #[arg(long)]
    image_uri: Option<String>,
    /// Objects up to this many bytes go to Lambda, larger ones to Fargate.
    #[arg(long, env = "THRESHOLD_BYTES", default_value_t = DEFAULT_THRESHOLD_BYTES)]
    threshold_bytes: u64,
    /// Uploads under this prefix are processed.
    #[arg(long, default_value = DEFAULT_INPUT_PREFIX)]
    input_prefix: String,
    /// Reports go under this prefix (disjoint from the input prefix).
    #[arg(long, default_value = DEFAULT_OUTPUT_PREFIX)]
    output_prefix: String,
    /// `public` (public subnets, public IPs) or `private` (VPC endpoints).
    #[arg(long, default_value = "public")]
    network_mode: String,
    /// `FARGATE` or `FARGATE_SPOT`.
    #[arg(long, default_value = "FARGATE")]
    capacity_provider: String,
    /// E-mail alarms here.
    #[arg(long)]
    alarm_email: Option<String>,
    /// Encrypt with this existing KMS key instead of the stack's own.
    #[arg(long)]
    kms_key_arn: Option<String>,
    /// The deployment bucket (default: <stack>-artifacts-<account>-<region>, created if missing).
    #[arg(long)]
    artifact_bucket: Option<String>,
    /// Deploy this template file instead of the generated one (for trying an edit).
    #[arg(long)]
    template: Option<PathBuf>,
}

impl DeployArgs {
    fn into_request(self) -> DeployRequest {
        DeployRequest {
            stack_name: self.stack_name,
            region: self.region,
            lambda_zip: self.lambda_zip,
            image_tag: self.image_tag,
            image_uri: self.image_uri,
            threshold_bytes: self.threshold_bytes,
            input_prefix: self.input_prefix,
            output_prefix: self.output_prefix,
            network_mode: self.network_mode,
            capacity_provider: self.capacity_provider,
            alarm_email: self.alarm_email,
            kms_key_arn: self.kms_key_arn,
            artifact_bucket: self.artifact_bucket,
            template_file: self.template,
        }
    }
}

fn synth(root: &std::path::Path, threshold_bytes: u64, check: bool) -> anyhow::Result<()> {
    let settings = Settings {
        threshold_bytes,
        ..Settings::default()
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

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Synth {
            root,
            threshold_bytes,
            check,
        } => synth(&root, threshold_bytes, check),
        Command::Deploy(args) => {
            let request = args.into_request();
            deploy::check_request(&request)?;
            let clients = Clients::new(request.region.as_deref()).await?;
            deploy::deploy(&clients, &request).await.map(|_| ())
        }
        Command::Destroy { stack_name, region } => {
            deploy::check_stack_name(&stack_name)?;
            let clients = Clients::new(region.as_deref()).await?;
            deploy::destroy(&clients, &stack_name).await.map(|_| ())
        }
        Command::Outputs {
            stack_name,
            region,
            name,
        } => {
            deploy::check_stack_name(&stack_name)?;
            let clients = Clients::new(region.as_deref()).await?;
            let outputs = deploy::outputs(&clients, &stack_name).await?;
            match name {
                Some(name) => {
                    let Some((_, value)) = outputs.iter().find(|(key, _)| *key == name) else {
                        anyhow::bail!("stack {stack_name} has no output {name}");
                    };
                    println!("{value}");
                }
                None => {
                    for (key, value) in outputs {
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
            eprintln!("infra: {error:#}");
            ExitCode::FAILURE
        }
    }
}
