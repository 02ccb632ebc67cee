//! `infra deploy` and `infra destroy`, the real binary, against a CloudFormation API on
//! loopback: moto's server (with the two EC2 deletes it lacks, `support/moto_server.py`).
//!
//! moto creates the resources but ignores many of their properties, so this proves the
//! deploy flow (bucket, uploads, change sets, no-op detection, updates, failures, deletion),
//! never the properties themselves: those are the scanners' and the template checks' job.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use local_s3::MotoServer;

use aws_sdk_cloudformation::config::{BehaviorVersion, Credentials, Region};

/// moto with the CloudFormation deletes it lacks.
fn start_moto() -> MotoServer {
    MotoServer::start_script(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_server.py"),
    )
}

fn infra(endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "eu-west-1")
        .env("PIPELINE_S3_PATH_STYLE", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("STACK_NAME")
        .env_remove("IMAGE_TAG")
        .env_remove("THRESHOLD_BYTES")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn cloudformation(endpoint: &str) -> aws_sdk_cloudformation::Client {
    let config = aws_sdk_cloudformation::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_cloudformation::Client::from_conf(config)
}

/// A file that is a zip (an empty archive), standing in for the Lambda zip: moto stores the
/// function's code but never runs it.
fn lambda_zip(dir: &Path) -> PathBuf {
    let path = dir.join("bootstrap.zip");
    let mut empty_zip = b"PK\x05\x06".to_vec();
    empty_zip.extend([0; 18]);
    std::fs::write(&path, empty_zip).unwrap();
    path
}

async fn parameter(client: &aws_sdk_cloudformation::Client, stack: &str, key: &str) -> String {
    let stacks = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    stacks.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(|p| p.parameter_value())
        .unwrap_or_default()
        .to_owned()
}

/// The stack is complete, holds the pipeline's main resources, and took the deploy's
/// parameters.
async fn check_created(client: &aws_sdk_cloudformation::Client, stack: &str) {
    let stacks = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stacks.stacks()[0].stack_status().unwrap().as_str(),
        "CREATE_COMPLETE"
    );
    let resources = client
        .list_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    let types: Vec<&str> = resources
        .stack_resource_summaries()
        .iter()
        .filter_map(|r| r.resource_type())
        .collect();
    for kind in [
        "AWS::StepFunctions::StateMachine",
        "AWS::Lambda::Function",
        "AWS::Events::Rule",
        "AWS::ECS::TaskDefinition",
        "AWS::S3::Bucket",
    ] {
        assert!(types.contains(&kind), "no {kind} in {types:?}");
    }
    assert_eq!(parameter(client, stack, "ThresholdBytes").await, "6291456");
    assert!(
        parameter(client, stack, "LambdaCodeKey")
            .await
            .starts_with("lambda/"),
        "the zip goes under a content-addressed key"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_creates_then_does_nothing_then_updates_then_destroy_removes() {
    let moto = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let zip = lambda_zip(dir.path());
    let zip = zip.to_str().unwrap();
    let base = [
        "deploy",
        "--stack-name",
        "pipeline-test",
        "--lambda-zip",
        zip,
        "--image-tag",
        "v1",
    ];
    let client = cloudformation(moto.endpoint());

    let first = infra(moto.endpoint(), &base);
    assert!(
        first.status.success(),
        "{}{}",
        stdout(&first),
        stderr(&first)
    );
    let out = stdout(&first);
    assert!(out.contains("creating pipeline-test"), "{out}");
    assert!(
        out.contains("Add     AWS::StepFunctions::StateMachine"),
        "{out}"
    );
    assert!(out.contains("CREATE_COMPLETE"), "{out}");
    check_created(&client, "pipeline-test").await;

    let again = infra(moto.endpoint(), &base);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains("no changes"), "{}", stdout(&again));
    assert!(
        stdout(&again).contains("is already uploaded"),
        "{}",
        stdout(&again)
    );

    let mut changed = base.to_vec();
    changed.extend(["--threshold-bytes", "1000"]);
    let update = infra(moto.endpoint(), &changed);
    assert!(update.status.success(), "{}", stderr(&update));
    assert!(
        stdout(&update).contains("updating pipeline-test"),
        "{}",
        stdout(&update)
    );
    assert!(
        stdout(&update).contains("UPDATE_COMPLETE"),
        "{}",
        stdout(&update)
    );
    assert_eq!(
        parameter(&client, "pipeline-test", "ThresholdBytes").await,
        "1000"
    );

    let destroy = infra(
        moto.endpoint(),
        &["destroy", "--stack-name", "pipeline-test"],
    );
    assert!(
        destroy.status.success(),
        "{}{}",
        stdout(&destroy),
        stderr(&destroy)
    );
    assert!(
        stdout(&destroy).contains("deleted pipeline-test"),
        "{}",
        stdout(&destroy)
    );
    let gone = client
        .describe_stacks()
        .stack_name("pipeline-test")
        .send()
        .await;
    assert!(gone.is_err(), "the stack is still there: {gone:?}");
    let twice = infra(
        moto.endpoint(),
        &["destroy", "--stack-name", "pipeline-test"],
    );
    assert!(twice.status.success());
    assert!(stdout(&twice).contains("nothing to delete"));
}

#[test]
fn a_template_error_is_a_clear_failure() {
    let moto = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let zip = lambda_zip(dir.path());
    let mut template: serde_json::Value = serde_json::from_str(
        &infra::template::template(&infra::template::Settings::default()).to_json(),
    )
    .unwrap();
    template["Resources"]["Broken"] = serde_json::json!({
        "Type": "AWS::SQS::Queue",
        "Properties": { "QueueName": { "Fn::GetAtt": ["NoSuchResource", "Arn"] } },
    });
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, template.to_string()).unwrap();
    let output = infra(
        moto.endpoint(),
        &[
            "deploy",
            "--stack-name",
            "broken",
            "--lambda-zip",
            zip.to_str().unwrap(),
            "--image-tag",
            "v1",
            "--template",
            broken.to_str().unwrap(),
        ],
    );
    assert!(!output.status.success(), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(
        message.starts_with("infra: executing the change set: ValidationError: Template error"),
        "{message}"
    );
    assert!(
        message.contains("undefined resource NoSuchResource"),
        "{message}"
    );
}

#[test]
fn bad_inputs_fail_before_any_aws_call() {
    // Nothing listens on this endpoint: an AWS call would fail differently.
    let closed = "http://127.0.0.1:9";
    let dir = tempfile::tempdir().unwrap();
    let zip = lambda_zip(dir.path());
    let zip = zip.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--artifact-bucket", "Not_A_Bucket"],
            "bucket name \"Not_A_Bucket\"",
        ),
        (&["--output-prefix", "incoming/reports/"], "prefixes"),
        (&["--threshold-bytes", "999999999999"], "threshold"),
        (&["--region", "mars"], "region \"mars\""),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["deploy", "--lambda-zip", zip, "--image-tag", "v1"];
        args.extend(extra);
        let output = infra(closed, &args);
        assert!(!output.status.success());
        assert!(stderr(&output).contains(expected), "{}", stderr(&output));
    }
    let output = infra(
        closed,
        &[
            "deploy",
            "--lambda-zip",
            "/no/such.zip",
            "--image-tag",
            "v1",
        ],
    );
    assert!(
        stderr(&output).contains("make lambda"),
        "{}",
        stderr(&output)
    );
}
