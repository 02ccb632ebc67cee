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

/// moto's default account, the one the tests' credentials act as.
const ACCOUNT: &str = "123456789012";

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

/// `infra` with `args`, which must succeed.
fn infra_ok(endpoint: &str, args: &[&str]) -> Output {
    let output = infra(endpoint, args);
    assert!(
        output.status.success(),
        "{args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
    output
}

async fn stack_tags(client: &aws_sdk_cloudformation::Client, stack: &str) -> Vec<(String, String)> {
    let stacks = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    let mut tags: Vec<(String, String)> = stacks.stacks()[0]
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    tags.sort();
    tags
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

async fn sdk_config(endpoint: &str, credentials: Credentials) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("eu-west-1"))
        .credentials_provider(credentials)
        .load()
        .await
}

/// What a new account does once (`aws iam create-service-linked-role --aws-service-name
/// ecs.amazonaws.com`), so that the preflight finds ECS's role.
async fn create_ecs_service_linked_role(endpoint: &str) {
    let config = sdk_config(
        endpoint,
        Credentials::new("test", "test", None, None, "test"),
    )
    .await;
    aws_sdk_iam::Client::new(&config)
        .create_service_linked_role()
        .aws_service_name("ecs.amazonaws.com")
        .send()
        .await
        .unwrap();
}

/// An S3 client acting as another account (moto: credentials from sts:AssumeRole into a
/// role of that account belong to it).
async fn s3_of_another_account(endpoint: &str, account: &str) -> aws_sdk_s3::Client {
    let config = sdk_config(
        endpoint,
        Credentials::new("test", "test", None, None, "test"),
    )
    .await;
    let assumed = aws_sdk_sts::Client::new(&config)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/squatter"))
        .role_session_name("squatter")
        .send()
        .await
        .unwrap();
    let c = assumed.credentials().unwrap();
    let other = sdk_config(
        endpoint,
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "assumed",
        ),
    )
    .await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&other)
            .force_path_style(true)
            .build(),
    )
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

/// The stack's Glue table `sales` and its Athena workgroup, as moto's Glue and Athena APIs
/// give them back (boto3 from moto's venv: the infra crate has no Glue or Athena client).
fn catalog_in_moto(endpoint: &str, database: &str, workgroup: &str) -> serde_json::Value {
    let script = r#"
import json, sys
import boto3
endpoint, database, workgroup = sys.argv[1:]
session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="eu-west-1")
glue = session.client("glue", endpoint_url=endpoint)
athena = session.client("athena", endpoint_url=endpoint)
table = glue.get_table(DatabaseName=database, Name="sales")["Table"]
group = athena.get_work_group(WorkGroup=workgroup)["WorkGroup"]
print(json.dumps({
    "tables": sorted(t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]),
    "columns": table["StorageDescriptor"]["Columns"],
    "location": table["StorageDescriptor"]["Location"],
    "results": group["Configuration"]["ResultConfiguration"],
    "enforced": group["Configuration"]["EnforceWorkGroupConfiguration"],
}, default=str))
"#;
    let output = Command::new(MotoServer::python())
        .args(["-c", script, endpoint, database, workgroup])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The Glue databases and Athena workgroups moto holds.
fn catalogs_in_moto(endpoint: &str) -> serde_json::Value {
    let script = r#"
import json, sys
import boto3
session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="eu-west-1")
glue = session.client("glue", endpoint_url=sys.argv[1])
athena = session.client("athena", endpoint_url=sys.argv[1])
print(json.dumps({
    "databases": sorted(d["Name"] for d in glue.get_databases()["DatabaseList"]),
    "workgroups": sorted(w["Name"] for w in athena.list_work_groups()["WorkGroups"]),
}))
"#;
    let output = Command::new(MotoServer::python())
        .args(["-c", script, endpoint])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The stack's Glue database and Athena workgroup are gone.
fn check_catalog_removed(endpoint: &str, stack: &str) {
    let left = catalogs_in_moto(endpoint);
    let names = |what: &str| left[what].as_array().unwrap().clone();
    assert!(
        !names("databases").contains(&serde_json::json!(stack.replace('-', "_"))),
        "{left}"
    );
    assert!(
        !names("workgroups").contains(&serde_json::json!(stack)),
        "{left}"
    );
}

/// The physical id of the stack's resource `logical_id`.
async fn physical_id(
    client: &aws_sdk_cloudformation::Client,
    stack: &str,
    logical_id: &str,
) -> String {
    let resources = client
        .list_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    resources
        .stack_resource_summaries()
        .iter()
        .find(|r| r.logical_resource_id() == Some(logical_id))
        .and_then(|r| r.physical_resource_id())
        .unwrap_or_else(|| panic!("no resource {logical_id}"))
        .to_owned()
}

/// The Glue database, the contract's table and the workgroup exist (moto creates them
/// through `support/moto_server.py`'s models), named after the stack. (moto's stacks report
/// no outputs, so the names are read from the resources.)
async fn check_catalog(client: &aws_sdk_cloudformation::Client, endpoint: &str, stack: &str) {
    let database = physical_id(client, stack, "GlueDatabase").await;
    let workgroup = physical_id(client, stack, "AthenaWorkGroup").await;
    assert_eq!(database, stack.replace('-', "_"));
    assert_eq!(workgroup, stack);
    assert_eq!(physical_id(client, stack, "SalesTable").await, "sales");
    let catalog = catalog_in_moto(endpoint, &database, &workgroup);
    assert_eq!(catalog["tables"], serde_json::json!(["sales"]));
    assert_eq!(
        catalog["columns"][2],
        serde_json::json!({ "Name": "amount", "Type": "decimal(12,2)" })
    );
    let bucket = physical_id(client, stack, "UploadBucket").await;
    assert_eq!(
        catalog["location"],
        serde_json::json!(format!("s3://{bucket}/curated/sales/"))
    );
    assert_eq!(
        catalog["results"]["OutputLocation"],
        serde_json::json!(format!("s3://{bucket}/athena-results/"))
    );
    assert_eq!(
        catalog["results"]["EncryptionConfiguration"]["EncryptionOption"],
        "SSE_KMS"
    );
    assert_eq!(catalog["enforced"], serde_json::json!(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_creates_then_does_nothing_then_updates_then_destroy_removes() {
    let moto = start_moto();
    let dir = tempfile::tempdir().unwrap();
    let zip = lambda_zip(dir.path());
    let zip = zip.to_str().unwrap();
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts");
    let base = [
        "deploy",
        "--stack-name",
        "pipeline-test",
        "--lambda-zip",
        zip,
        "--image-tag",
        "v1",
        "--contracts-dir",
        contracts.to_str().unwrap(),
    ];
    let client = cloudformation(moto.endpoint());
    create_ecs_service_linked_role(moto.endpoint()).await;

    let first = infra(moto.endpoint(), &base);
    assert!(
        first.status.success(),
        "{}{}",
        stdout(&first),
        stderr(&first)
    );
    let out = stdout(&first);
    assert!(
        out.contains("deploying stack pipeline-test to eu-west-1"),
        "{out}"
    );
    assert!(out.contains("preflight:"), "{out}");
    assert!(!out.contains("BLOCKER"), "{out}");
    assert!(out.contains("creating the deployment bucket"), "{out}");
    assert!(out.contains("creating the stack"), "{out}");
    assert!(
        out.contains("Add     AWS::StepFunctions::StateMachine"),
        "{out}"
    );
    assert!(out.contains("CREATE_COMPLETE"), "{out}");
    assert!(out.contains("Add     AWS::Glue::Table"), "{out}");
    check_created(&client, "pipeline-test").await;
    check_catalog(&client, moto.endpoint(), "pipeline-test").await;

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
        stdout(&update).contains("updating the stack"),
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
    check_catalog(&client, moto.endpoint(), "pipeline-test").await;

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
        stdout(&destroy).contains("deleted. Kept on purpose"),
        "{}",
        stdout(&destroy)
    );
    let gone = client
        .describe_stacks()
        .stack_name("pipeline-test")
        .send()
        .await;
    assert!(gone.is_err(), "the stack is still there: {gone:?}");
    check_catalog_removed(moto.endpoint(), "pipeline-test");
    let twice = infra(
        moto.endpoint(),
        &["destroy", "--stack-name", "pipeline-test"],
    );
    assert!(twice.status.success());
    assert!(stdout(&twice).contains("nothing to delete"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_error_is_a_clear_failure() {
    let moto = start_moto();
    create_ecs_service_linked_role(moto.endpoint()).await;
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
    let long_stack = "a".repeat(55);
    let bad_contracts = dir.path().join("contracts");
    std::fs::create_dir(&bad_contracts).unwrap();
    std::fs::write(
        bad_contracts.join("orders.toml"),
        "dataset = \"orders\"\nprefix = \"incoming/orders/\"\n\n[[columns]]\nname = \"id\"\ntype = \"int128\"\n",
    )
    .unwrap();
    let bad_contract = format!(
        "{}:6: column `id`",
        bad_contracts.join("orders.toml").display()
    );
    let cases: [(&[&str], &str); 14] = [
        (
            &["--artifact-bucket", "Not_A_Bucket"],
            "bucket name \"Not_A_Bucket\"",
        ),
        (
            &[
                "--input-prefix",
                "incoming/",
                "--output-prefix",
                "incoming/reports/",
            ],
            "prefixes",
        ),
        (&["--threshold-bytes", "999999999999"], "threshold"),
        (&["--region", "mars"], "region \"mars\""),
        // Lambda function names stop at 64 characters; the function is <stack>-processor.
        (
            &["--stack-name", &long_stack],
            "the Lambda function name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-processor\" would have 65 characters, and its limit is 64 (so the stack name has at most 54)",
        ),
        (
            &["--task-cpu", "1024", "--task-memory", "1000"],
            "Fargate takes 2048 to 8192 MiB in steps of 1024",
        ),
        (&["--task-cpu", "3000"], "Fargate takes 256, 512"),
        (&["--lambda-memory", "64"], "Lambda takes 128 to 10240 MB"),
        (
            &["--image-uri", "docker.io/library/processor:1"],
            "only Amazon ECR images are supported",
        ),
        (&["--tag", "aws:owner=me"], "the aws: prefix is reserved"),
        (&["--tag", "Project=x"], "the template sets this tag"),
        (&["--capacity-provider", "SPOT"], "invalid value 'SPOT'"),
        (
            &[
                "--input-prefix",
                "curated/",
                "--output-prefix",
                "processed/",
            ],
            "overlaps curated/",
        ),
        (
            &["--contracts-dir", bad_contracts.to_str().unwrap()],
            &bad_contract,
        ),
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

/// `infra preflight` against moto: a blocker is a non-zero exit and a table row saying how
/// to fix it; once fixed, the same checks pass. (The decisions themselves are unit-tested
/// in `infra::preflight`; here, the calls they rest on.)
#[tokio::test(flavor = "multi_thread")]
async fn preflight_reports_blockers_with_their_fix_and_passes_once_they_are_fixed() {
    let moto = start_moto();
    let blocked = infra(moto.endpoint(), &["preflight", "--stack-name", "pre"]);
    let out = stdout(&blocked);
    assert!(!blocked.status.success(), "{out}");
    assert!(
        out.contains("ECS service-linked role  BLOCKER")
            && out.contains(
                "fix: aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com"
            ),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "credentials              ok       account {ACCOUNT}"
        )),
        "{out}"
    );
    assert!(out.contains("no stack pre: it will be created"), "{out}");
    assert!(
        out.contains(&format!(
            "pre-artifacts-{ACCOUNT}-eu-west-1 will be created"
        )),
        "{out}"
    );
    assert!(
        stderr(&blocked).contains("preflight: 1 blocker(s): ECS service-linked role"),
        "{}",
        stderr(&blocked)
    );

    create_ecs_service_linked_role(moto.endpoint()).await;
    let passed = infra(moto.endpoint(), &["preflight", "--stack-name", "pre"]);
    assert!(passed.status.success(), "{}", stdout(&passed));
    assert!(!stdout(&passed).contains("BLOCKER"), "{}", stdout(&passed));

    assert!(
        stdout(&passed).contains("data contracts           ok       0 contract(s)"),
        "{}",
        stdout(&passed)
    );

    // A contract outside the input prefix is a blocker also without --input-prefix: the
    // stack's (here the template's default, incoming/) is the one it is checked against.
    let contracts = tempfile::tempdir().unwrap();
    std::fs::write(
        contracts.path().join("orders.toml"),
        "dataset = \"orders\"\nprefix = \"uploads/orders/\"\n\n[[columns]]\nname = \"id\"\ntype = \"int64\"\n",
    )
    .unwrap();
    let dir = contracts.path().to_str().unwrap();
    let outside = infra(
        moto.endpoint(),
        &["preflight", "--stack-name", "pre", "--contracts-dir", dir],
    );
    assert!(!outside.status.success());
    let out = stdout(&outside);
    assert!(
        out.contains("data contracts           BLOCKER") && out.contains("orders.toml"),
        "{out}"
    );
    assert!(out.contains("input prefix incoming/"), "{out}");
    let inside = infra(
        moto.endpoint(),
        &[
            "preflight",
            "--stack-name",
            "pre",
            "--contracts-dir",
            dir,
            "--input-prefix",
            "uploads/",
        ],
    );
    assert!(inside.status.success(), "{}", stdout(&inside));

    // An --image-uri in this account's ECR that is not there cannot be pulled.
    let image = format!("{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/elsewhere:v9");
    let missing = infra(
        moto.endpoint(),
        &["preflight", "--stack-name", "pre", "--image-uri", &image],
    );
    assert!(!missing.status.success());
    assert!(
        stdout(&missing).contains(&format!(
            "image                    BLOCKER  {image} cannot be pulled"
        )),
        "{}",
        stdout(&missing)
    );
}

/// Every setting is a flag; a later deploy without it keeps the stack's value
/// (CloudFormation's UsePreviousValue), never the template's default.
#[tokio::test(flavor = "multi_thread")]
async fn settings_survive_a_redeploy_that_leaves_them_out() {
    let moto = start_moto();
    create_ecs_service_linked_role(moto.endpoint()).await;
    let dir = tempfile::tempdir().unwrap();
    let zip = lambda_zip(dir.path());
    let zip = zip.to_str().unwrap();
    let client = cloudformation(moto.endpoint());
    let base = ["deploy", "--stack-name", "keep", "--lambda-zip", zip];
    let mut first = base.to_vec();
    first.extend([
        "--image-tag",
        "v1",
        "--lambda-memory",
        "2048",
        "--lambda-reserved-concurrency",
        "5",
        "--task-cpu",
        "2048",
        "--task-memory",
        "4096",
        "--network-mode",
        "private",
        "--capacity-provider",
        "FARGATE_SPOT",
        "--alarm-email",
        "ops@example.com",
        "--log-retention-days",
        "30",
        "--tag",
        "team=data",
        "--tag",
        "cost-center=42",
    ]);
    infra_ok(moto.endpoint(), &first);
    let kept = [
        ("LambdaMemory", "2048"),
        ("LambdaReservedConcurrency", "5"),
        ("TaskCpu", "2048"),
        ("TaskMemory", "4096"),
        ("NetworkMode", "private"),
        ("CapacityProvider", "FARGATE_SPOT"),
        ("AlarmEmail", "ops@example.com"),
        ("LogRetentionDays", "30"),
    ];
    for (key, value) in kept {
        assert_eq!(
            parameter(&client, "keep", key).await,
            value,
            "{key} at create"
        );
    }

    let mut second = base.to_vec();
    second.extend(["--threshold-bytes", "1000", "--image-tag", "v2"]);
    infra_ok(moto.endpoint(), &second);
    assert_eq!(parameter(&client, "keep", "ThresholdBytes").await, "1000");
    assert_eq!(parameter(&client, "keep", "ImageTag").await, "v2");
    for (key, value) in kept {
        assert_eq!(
            parameter(&client, "keep", key).await,
            value,
            "{key} after an update without it"
        );
    }
    let tags = stack_tags(&client, "keep").await;
    assert_eq!(
        tags,
        [
            ("cost-center".into(), "42".into()),
            ("team".into(), "data".into())
        ],
        "the stack's tags (kept by an update without --tag)"
    );

    // 0 removes the reservation; '' stops the e-mails.
    let mut third = base.to_vec();
    third.extend([
        "--image-tag",
        "v2",
        "--lambda-reserved-concurrency",
        "0",
        "--alarm-email",
        "",
    ]);
    infra_ok(moto.endpoint(), &third);
    assert_eq!(
        parameter(&client, "keep", "LambdaReservedConcurrency").await,
        ""
    );
    assert_eq!(parameter(&client, "keep", "AlarmEmail").await, "");
    assert_eq!(parameter(&client, "keep", "TaskMemory").await, "4096");
}

/// The deployment bucket's name is predictable: an account that creates it first must get
/// nothing (AWS: every call names our account as ExpectedBucketOwner, and S3 answers 403 on
/// a mismatch, "Verifying bucket ownership with bucket owner condition"; moto ignores that
/// condition, so what this shows is the second check, the bucket not being among ours).
#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_bucket_owned_by_another_account_is_refused_before_anything_is_written() {
    let moto = start_moto();
    create_ecs_service_linked_role(moto.endpoint()).await;
    let squatter = s3_of_another_account(moto.endpoint(), "111111111111").await;
    let bucket = format!("squat-artifacts-{ACCOUNT}-eu-west-1");
    squatter
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint("eu-west-1".into())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let zip = lambda_zip(dir.path());
    let output = infra(
        moto.endpoint(),
        &[
            "deploy",
            "--stack-name",
            "squat",
            "--lambda-zip",
            zip.to_str().unwrap(),
            "--image-tag",
            "v1",
        ],
    );
    assert!(!output.status.success(), "{}", stdout(&output));
    let out = stdout(&output);
    assert!(
        out.contains(&format!(
            "deployment bucket        BLOCKER  {bucket} belongs to another account"
        )),
        "{out}"
    );
    assert!(
        stderr(&output).contains("blocker(s): deployment bucket"),
        "{}",
        stderr(&output)
    );
    let objects = squatter
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        objects.key_count(),
        Some(0),
        "the squatter received {:?}",
        objects.contents()
    );
    let stack = cloudformation(moto.endpoint())
        .describe_stacks()
        .stack_name("squat")
        .send()
        .await;
    assert!(stack.is_err(), "a stack was created: {stack:?}");
}
