//! `local-pipeline smoke`: checks a running pipeline from the outside, with the AWS SDKs
//! only — the local one (`--endpoint`) or a deployed stack (after `make deploy`).
//!
//! It uploads one small and one large sample under the input prefix, finds the two executions
//! they started, waits for them, and checks that each took its route (from the execution
//! history) and wrote its report.

use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use aws_sdk_s3::config::Region;
use clap::Args;
use shared::KeyLayout;

/// What `smoke` checks, and where.
#[derive(Debug, Clone, Args)]
pub struct SmokeArgs {
    /// The endpoint of a local pipeline (S3 and Step Functions); AWS itself when absent.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The upload bucket (the stack's `BucketName` output).
    #[arg(long, default_value = "uploads")]
    pub bucket: String,
    /// The state machine (the stack's `StateMachineArn` output; default: the endpoint's only
    /// one).
    #[arg(long)]
    pub state_machine_arn: Option<String>,
    /// The region (default: the environment's, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// The input prefix.
    #[arg(long, default_value = shared::DEFAULT_INPUT_PREFIX)]
    pub input_prefix: String,
    /// The output prefix.
    #[arg(long, default_value = shared::DEFAULT_OUTPUT_PREFIX)]
    pub output_prefix: String,
    /// The routing threshold the pipeline uses.
    #[arg(long, default_value_t = shared::DEFAULT_THRESHOLD_BYTES)]
    pub threshold_bytes: u64,
    /// How long to wait for the executions, in seconds.
    #[arg(long, default_value_t = 900)]
    pub wait_seconds: u64,
}

/// One checked upload.
#[derive(Debug, Clone)]
struct Check {
    key: String,
    size: usize,
    route: &'static str,
    state: &'static str,
    execution_arn: Option<String>,
    status: String,
    took_route: bool,
    report: String,
    report_written: bool,
}

/// Runs the smoke test; `true` when every check passed.
pub async fn run(args: &SmokeArgs) -> anyhow::Result<bool> {
    let (s3, sfn) = clients(args).await;
    let layout = KeyLayout::new(&args.input_prefix, &args.output_prefix)
        .map_err(|e| anyhow::anyhow!("prefixes: {e}"))?;
    let machine = state_machine(&sfn, args).await?;
    let mut checks = upload(&s3, args, &layout).await?;
    wait(&sfn, &machine, args, &mut checks).await?;
    verify(&s3, &sfn, args, &mut checks).await?;
    Ok(summary(&machine, args, &checks))
}

/// S3 and Step Functions clients for the endpoint (path-style for a local one) or AWS.
async fn clients(args: &SmokeArgs) -> (aws_sdk_s3::Client, aws_sdk_sfn::Client) {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = &args.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let region = args
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    let config = loader.region(Region::new(region)).load().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(args.endpoint.is_some())
            .build(),
    );
    (s3, aws_sdk_sfn::Client::new(&config))
}

/// The state machine asked for, or the endpoint's only one.
async fn state_machine(sfn: &aws_sdk_sfn::Client, args: &SmokeArgs) -> anyhow::Result<String> {
    if let Some(arn) = &args.state_machine_arn {
        return Ok(arn.clone());
    }
    let machines = sfn
        .list_state_machines()
        .send()
        .await
        .context("listing state machines")?;
    let [only] = machines.state_machines() else {
        anyhow::bail!(
            "{} state machines: pass --state-machine-arn",
            machines.state_machines().len()
        );
    };
    Ok(only.state_machine_arn().to_owned())
}

/// Uploads the small and the large sample under a fresh folder of the input prefix.
async fn upload(
    s3: &aws_sdk_s3::Client,
    args: &SmokeArgs,
    layout: &KeyLayout,
) -> anyhow::Result<Vec<Check>> {
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let small = include_bytes!("../samples/people.csv").to_vec();
    let large = crate::demo::generated_csv(args.threshold_bytes + 1024 * 1024);
    let mut checks = Vec::new();
    for (name, body, route, state) in [
        (
            "small.csv",
            small,
            "lambda",
            infra::statemachine::state::LAMBDA,
        ),
        (
            "large.csv",
            large,
            "fargate",
            infra::statemachine::state::FARGATE,
        ),
    ] {
        let key = format!("{}smoke/{stamp}/{name}", args.input_prefix);
        let size = body.len();
        s3.put_object()
            .bucket(&args.bucket)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .with_context(|| format!("uploading s3://{}/{key}", args.bucket))?;
        println!("uploaded s3://{}/{key} ({size} bytes)", args.bucket);
        checks.push(Check {
            report: layout.report_key(&key),
            key,
            size,
            route,
            state,
            execution_arn: None,
            status: "not started".into(),
            took_route: false,
            report_written: false,
        });
    }
    Ok(checks)
}

/// Finds the uploads' executions and waits until they end (or time runs out).
async fn wait(
    sfn: &aws_sdk_sfn::Client,
    machine: &str,
    args: &SmokeArgs,
    checks: &mut [Check],
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let listed = sfn
            .list_executions()
            .state_machine_arn(machine)
            .send()
            .await
            .context("listing executions")?;
        for execution in listed.executions() {
            let described = sfn
                .describe_execution()
                .execution_arn(execution.execution_arn())
                .send()
                .await
                .context("describing an execution")?;
            let input: serde_json::Value =
                serde_json::from_str(described.input().unwrap_or("null")).unwrap_or_default();
            let key = input["detail"]["object"]["key"]
                .as_str()
                .and_then(|k| shared::decode_event_key(k).ok());
            if let Some(check) = checks.iter_mut().find(|c| Some(&c.key) == key.as_ref()) {
                check.execution_arn = Some(described.execution_arn().to_owned());
                check.status = described
                    .error()
                    .map_or_else(|| described.status().as_str().to_owned(), str::to_owned);
            }
        }
        let running = checks
            .iter()
            .filter(|c| c.execution_arn.is_none() || c.status == "RUNNING")
            .count();
        if running == 0 {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(args.wait_seconds) {
            println!(
                "{running} execution(s) did not end within {}s",
                args.wait_seconds
            );
            return Ok(());
        }
        let pause = if args.endpoint.is_some() { 1 } else { 5 };
        tokio::time::sleep(Duration::from_secs(pause)).await;
    }
}

/// Checks each execution's route (from its history) and its report.
async fn verify(
    s3: &aws_sdk_s3::Client,
    sfn: &aws_sdk_sfn::Client,
    args: &SmokeArgs,
    checks: &mut [Check],
) -> anyhow::Result<()> {
    for check in checks {
        if let Some(arn) = &check.execution_arn {
            let history = sfn
                .get_execution_history()
                .execution_arn(arn)
                .max_results(1000)
                .send()
                .await
                .context("reading an execution's history")?;
            check.took_route = history.events().iter().any(|event| {
                event
                    .state_entered_event_details()
                    .is_some_and(|d| d.name() == check.state)
            });
        }
        check.report_written = s3
            .head_object()
            .bucket(&args.bucket)
            .key(&check.report)
            .send()
            .await
            .is_ok();
    }
    Ok(())
}

/// Prints what was seen; whether every check passed.
fn summary(machine: &str, args: &SmokeArgs, checks: &[Check]) -> bool {
    println!();
    println!("state machine  {machine}");
    println!("bucket         {}", args.bucket);
    let mut passed = true;
    for check in checks {
        let ok = check.status == "SUCCEEDED" && check.took_route && check.report_written;
        passed &= ok;
        println!(
            "{} {:<8} {:>9} bytes  {:<10} route {:<8}{}  report {}{}",
            if ok { "ok  " } else { "FAIL" },
            check.key.rsplit('/').next().unwrap_or_default(),
            check.size,
            check.status,
            check.route,
            if check.took_route {
                ""
            } else {
                " (not taken!)"
            },
            check.report,
            if check.report_written {
                ""
            } else {
                " (missing!)"
            },
        );
        if let Some(arn) = &check.execution_arn {
            println!("     execution {arn}");
        }
    }
    passed
}
