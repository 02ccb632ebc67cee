//! The pipeline's CloudFormation template.
//!
//! One stack holds everything: the bucket and its event rule, the state machine, the Lambda
//! function, the ECR repository, the ECS cluster and task definition, the network, the IAM
//! roles, a KMS key, log groups and alarms, and the query side ([`crate::catalog`]: a Glue
//! database, a table per data contract, an Athena workgroup). Deploy-time choices are
//! parameters with safe defaults; the synth-time ones (the threshold's default, prefixes'
//! defaults, timeouts, the data contracts) come from [`Settings`].

use std::path::Path;

use serde_json::{Value, json};
use shared::{
    CURATED_PREFIX, DEFAULT_INPUT_PREFIX, DEFAULT_OUTPUT_PREFIX, DEFAULT_THRESHOLD_BYTES,
    FAILURE_PREFIX, NAMESPACE_PREFIX, REJECTED_PREFIX, env,
};
use shared::{ContractError, Contracts};

use crate::catalog;
use crate::cfn::{
    Parameter, PolicyDocument, Resource, Statement, Template, checkov, get_att, if_, no_value,
    reference, sub,
};
use crate::statemachine::{self, CONTAINER_NAME, Placeholder};

/// The largest threshold a deployment accepts: the Lambda function reads an object whole,
/// so past this a container is the better place.
pub const MAX_THRESHOLD_BYTES: u64 = 256 * 1024 * 1024;

/// The retention periods CloudWatch Logs accepts, in days.
pub const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The user id the Fargate container runs as (the image's `USER`).
pub const CONTAINER_USER: &str = "65532:65532";

/// Where the read-only container may write (a task-local volume).
pub const SCRATCH_PATH: &str = "/tmp";

/// Where the Lambda function finds the data contracts: `make lambda` puts `contracts/` in the
/// zip, which Lambda unpacks to `/var/task`.
pub const LAMBDA_CONTRACTS_DIR: &str = "/var/task/contracts";

/// Where the Fargate container finds the data contracts (the Dockerfile's `COPY contracts
/// /contracts`).
pub const CONTAINER_CONTRACTS_DIR: &str = "/contracts";

/// What the template is generated from.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The threshold parameter's default.
    pub threshold_bytes: u64,
    /// The input prefix parameter's default.
    pub input_prefix: String,
    /// The output prefix parameter's default.
    pub output_prefix: String,
    /// The state machine's timeouts and retries.
    pub state_machine: statemachine::Settings,
    /// The data contracts: a Glue table each, and the processors may write their outputs.
    pub contracts: Contracts,
}

impl Default for Settings {
    /// The defaults, with no data contracts.
    fn default() -> Settings {
        Settings {
            threshold_bytes: DEFAULT_THRESHOLD_BYTES,
            input_prefix: DEFAULT_INPUT_PREFIX.to_owned(),
            output_prefix: DEFAULT_OUTPUT_PREFIX.to_owned(),
            state_machine: statemachine::Settings::default(),
            contracts: Contracts::none(),
        }
    }
}

impl Settings {
    /// The defaults, with the data contracts of `dir` (`contracts/` at the repository root;
    /// a missing folder is none), checked against the default input prefix and for the
    /// catalog. The error names the contract file and line.
    pub fn with_contracts_dir(dir: &Path) -> Result<Settings, ContractError> {
        let settings = Settings::default();
        let contracts = load_contracts(dir, &settings.input_prefix)?;
        Ok(Settings {
            contracts,
            ..settings
        })
    }
}

/// Reads the data contracts of `dir` and checks them together, under `input_prefix` (`""`:
/// any prefix), and for the catalog ([`catalog::check`]).
pub fn load_contracts(dir: &Path, input_prefix: &str) -> Result<Contracts, ContractError> {
    let contracts = Contracts::load_dir(dir, input_prefix)?;
    catalog::check(&contracts)?;
    Ok(contracts)
}

/// Parameter names, for `infra deploy` and the tests.
pub mod param {
    /// Objects up to this many bytes go to Lambda.
    pub const THRESHOLD_BYTES: &str = "ThresholdBytes";
    /// Uploads under this prefix are processed.
    pub const INPUT_PREFIX: &str = "InputPrefix";
    /// Reports go under this prefix.
    pub const OUTPUT_PREFIX: &str = "OutputPrefix";
    /// The deployment bucket holding the Lambda zip.
    pub const LAMBDA_CODE_BUCKET: &str = "LambdaCodeBucket";
    /// The zip's key there.
    pub const LAMBDA_CODE_KEY: &str = "LambdaCodeKey";
    /// The image tag in the stack's repository.
    pub const IMAGE_TAG: &str = "ImageTag";
    /// A full image URI that overrides the repository and tag.
    pub const IMAGE_URI: &str = "ImageUri";
    /// The ARN of ImageUri's ECR repository (the task execution role may pull from it).
    pub const IMAGE_REPOSITORY_ARN: &str = "ImageRepositoryArn";
    /// `public` or `private`.
    pub const NETWORK_MODE: &str = "NetworkMode";
    /// `FARGATE` or `FARGATE_SPOT`.
    pub const CAPACITY_PROVIDER: &str = "CapacityProvider";
    /// Days logs are kept.
    pub const LOG_RETENTION_DAYS: &str = "LogRetentionDays";
    /// Where alarms are e-mailed (optional).
    pub const ALARM_EMAIL: &str = "AlarmEmail";
    /// An existing KMS key to use instead of the stack's own.
    pub const KMS_KEY_ARN: &str = "KmsKeyArn";
    /// Fargate task CPU units.
    pub const TASK_CPU: &str = "TaskCpu";
    /// Fargate task memory (MiB).
    pub const TASK_MEMORY: &str = "TaskMemory";
    /// Lambda memory (MB).
    pub const LAMBDA_MEMORY: &str = "LambdaMemory";
    /// Lambda reserved concurrency.
    pub const LAMBDA_CONCURRENCY: &str = "LambdaReservedConcurrency";
    /// The rejected-record share (%) of a dataset above which its alarm fires.
    pub const REJECTED_SHARE_PERCENT: &str = "RejectedShareAlarmPercent";
}

/// Output names.
pub mod output {
    /// The upload bucket.
    pub const BUCKET: &str = "BucketName";
    /// The state machine's ARN.
    pub const STATE_MACHINE_ARN: &str = "StateMachineArn";
    /// The rule's dead-letter queue.
    pub const DLQ_URL: &str = "DeadLetterQueueUrl";
    /// Where `make image-push` pushes.
    pub const IMAGE_REPOSITORY_URI: &str = "ImageRepositoryUri";
    /// The state machine's log group.
    pub const STATE_MACHINE_LOG_GROUP: &str = "StateMachineLogGroup";
    /// The Lambda function's log group.
    pub const FUNCTION_LOG_GROUP: &str = "FunctionLogGroup";
    /// The Fargate task's log group.
    pub const TASK_LOG_GROUP: &str = "TaskLogGroup";
    /// The input prefix.
    pub const INPUT_PREFIX: &str = "InputPrefix";
    /// The output prefix.
    pub const OUTPUT_PREFIX: &str = "OutputPrefix";
    /// The Glue database holding a table per data contract.
    pub const GLUE_DATABASE: &str = "GlueDatabaseName";
    /// The Athena workgroup to query them in.
    pub const ATHENA_WORKGROUP: &str = "AthenaWorkGroupName";
}

/// Logical ids the checks look at.
pub mod id {
    /// The upload bucket.
    pub const BUCKET: &str = "UploadBucket";
    /// The S3 → state machine rule.
    pub const RULE: &str = "ObjectCreatedRule";
    /// The rule's dead-letter queue.
    pub const DLQ: &str = "RuleDeadLetterQueue";
    /// The state machine.
    pub const STATE_MACHINE: &str = "StateMachine";
    /// The Lambda function.
    pub const FUNCTION: &str = "ProcessorFunction";
    /// The task definition.
    pub const TASK_DEFINITION: &str = "ProcessorTaskDefinition";
    /// The task's security group.
    pub const TASK_SECURITY_GROUP: &str = "TaskSecurityGroup";
    /// The stack's own KMS key.
    pub const KEY: &str = "PipelineKey";
}

const IS_PUBLIC: &str = "IsPublicNetwork";
const IS_PRIVATE: &str = "IsPrivateNetwork";
const CREATE_KEY: &str = "CreateKey";
const HAS_ALARM_EMAIL: &str = "HasAlarmEmail";
const HAS_IMAGE_URI: &str = "HasImageUri";
const HAS_IMAGE_REPOSITORY: &str = "HasImageRepositoryArn";
const HAS_RESERVED_CONCURRENCY: &str = "HasReservedConcurrency";
const IS_SPOT: &str = "IsFargateSpot";

const VPC_CIDR: &str = "10.42.0.0/16";

/// The task definition's family (`Fn::Sub` text).
const TASK_FAMILY: &str = "${AWS::StackName}-processor";

/// The namespace of the processors' metrics (`Fn::Sub` text): [`NAMESPACE_PREFIX`] and the
/// stack's name, so that two stacks in one account keep their metrics apart.
pub fn metrics_namespace() -> String {
    format!("{NAMESPACE_PREFIX}/${{AWS::StackName}}")
}

/// The state machine's name (`Fn::Sub` text).
const STATE_MACHINE_NAME: &str = "${AWS::StackName}";

/// The state machine's ARN, known before it exists.
pub(crate) fn state_machine_arn() -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{STATE_MACHINE_NAME}"
    ))
}

/// The KMS key every encrypted resource uses: the stack's own or the one passed in.
pub(crate) fn key_arn() -> Value {
    if_(
        CREATE_KEY,
        get_att(id::KEY, "Arn"),
        reference(param::KMS_KEY_ARN),
    )
}

/// The template.
pub fn template(settings: &Settings) -> Template {
    let mut t = Template::new(
        "S3 upload pipeline: uploads under the input prefix start a Step Functions execution \
         that profiles the object in a Lambda function (small objects) or a Fargate task \
         (large ones) and writes a report under the output prefix. Generated by the infra \
         crate; do not edit.",
    );
    parameters(&mut t, settings);
    deployment_parameters(&mut t);
    sizing_parameters(&mut t);
    conditions(&mut t);
    key(&mut t);
    bucket(&mut t);
    catalog::resources(&mut t, &settings.contracts, &key_arn());
    rule(&mut t);
    logs(&mut t);
    function(&mut t, settings);
    container(&mut t, &settings.contracts);
    network(&mut t);
    state_machine(&mut t, settings);
    alarms(&mut t);
    crate::monitoring::resources(&mut t, &settings.contracts);
    crate::operator::resources(&mut t, &settings.contracts);
    outputs(&mut t);
    tag_resources(&mut t);
    t
}

/// The tag every taggable resource carries with the project's name.
pub const PROJECT_TAG: (&str, &str) = ("Project", "s3-upload-pipeline");

/// The tag every taggable resource carries with the stack's name.
pub const STACK_TAG_KEY: &str = "Stack";

/// The resource types of the template that take a `Tags` list (the infra tests check this
/// against the resource schemas cfn-lint carries). `infra deploy --tag` adds stack tags,
/// which CloudFormation propagates to the same resources.
pub const TAGGED_TYPES: [&str; 21] = [
    "AWS::Athena::WorkGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::EC2::InternetGateway",
    "AWS::EC2::RouteTable",
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::Subnet",
    "AWS::EC2::VPC",
    "AWS::EC2::VPCEndpoint",
    "AWS::ECR::Repository",
    "AWS::ECS::Cluster",
    "AWS::ECS::TaskDefinition",
    "AWS::Events::Rule",
    "AWS::IAM::Role",
    "AWS::KMS::Key",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::StepFunctions::StateMachine",
];

/// Gives every resource of a [`TAGGED_TYPES`] type the project and stack tags, for cost
/// allocation and attribute-based access control.
fn tag_resources(t: &mut Template) {
    let tags = json!([
        { "Key": PROJECT_TAG.0, "Value": PROJECT_TAG.1 },
        { "Key": STACK_TAG_KEY, "Value": reference("AWS::StackName") },
    ]);
    for resource in t.resources.values_mut() {
        if TAGGED_TYPES.contains(&resource.kind) {
            let properties = resource
                .properties
                .as_object_mut()
                .expect("resource properties are an object");
            assert!(
                properties.insert("Tags".into(), tags.clone()).is_none(),
                "a resource sets its own Tags"
            );
        }
    }
}

fn parameters(t: &mut Template, s: &Settings) {
    t.parameter(
        param::THRESHOLD_BYTES,
        Parameter::number(
            "Objects up to this many bytes go to the Lambda function, larger ones to Fargate.",
            s.threshold_bytes,
            0,
            MAX_THRESHOLD_BYTES,
        ),
    );
    let prefix = "^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*/$";
    let prefix_rule = "letters, digits and !_.*'()-/, ending in /";
    t.parameter(
        param::INPUT_PREFIX,
        Parameter::string("Uploads under this prefix are processed.", &s.input_prefix)
            .pattern(prefix, prefix_rule),
    );
    t.parameter(
        param::OUTPUT_PREFIX,
        Parameter::string(
            "Reports go under this prefix; it must not overlap the input prefix.",
            &s.output_prefix,
        )
        .pattern(prefix, prefix_rule),
    );
    t.parameter(
        param::LAMBDA_CODE_BUCKET,
        Parameter::required(
            "The bucket holding the Lambda zip (infra deploy uploads it).",
            "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            "an S3 bucket name",
        ),
    );
    t.parameter(
        param::LAMBDA_CODE_KEY,
        Parameter::required(
            "The Lambda zip's key in LambdaCodeBucket.",
            "^.+\\.zip$",
            "a key ending in .zip",
        ),
    );
    t.parameter(
        param::IMAGE_TAG,
        Parameter::string(
            "The Fargate image's tag in the stack's ECR repository (make image-push pushes it).",
            "latest",
        )
        .pattern("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", "a Docker tag"),
    );
    t.parameter(
        param::IMAGE_URI,
        Parameter::string(
            "A full image URI to run instead of the stack's repository and ImageTag (optional; \
             Amazon ECR only: infra deploy refuses others).",
            "",
        ),
    );
    t.parameter(
        param::IMAGE_REPOSITORY_ARN,
        Parameter::string(
            "The ECR repository of ImageUri, which the tasks may pull from (infra deploy \
             derives it from ImageUri; empty for ECR Public or no ImageUri).",
            "",
        )
        .pattern(
            "^$|^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$",
            "an ECR repository ARN, or empty",
        ),
    );
}

fn deployment_parameters(t: &mut Template) {
    t.parameter(
        param::NETWORK_MODE,
        Parameter::string(
            "public: tasks get a public IP in public subnets; private: private subnets reach \
             S3, ECR and CloudWatch Logs through VPC endpoints.",
            "public",
        )
        .allowed(&["public", "private"]),
    );
    t.parameter(
        param::CAPACITY_PROVIDER,
        Parameter::string(
            "FARGATE (arm64), or FARGATE_SPOT (cheaper, x86_64 since Spot runs no arm64 \
             tasks; an interrupted task is retried).",
            "FARGATE",
        )
        .allowed(&["FARGATE", "FARGATE_SPOT"]),
    );
    t.parameter(
        param::LOG_RETENTION_DAYS,
        Parameter {
            allowed_values: LOG_RETENTION_DAYS.map(|d| d.to_string()).to_vec(),
            default: Some(Value::from("365")),
            min_value: None,
            max_value: None,
            ..Parameter::number("Days the log groups keep their events.", 0, 0, 0)
        },
    );
    t.parameter(
        param::ALARM_EMAIL,
        Parameter::string("Alarms are e-mailed here (optional).", "")
            .pattern("^$|^[^@\\s]+@[^@\\s]+$", "an e-mail address, or empty"),
    );
    t.parameter(
        param::KMS_KEY_ARN,
        Parameter::string(
            "An existing KMS key to encrypt with instead of the stack's own (optional; its \
             policy must allow what the stack's own key policy allows: the account's IAM \
             policies, logs.<region>.amazonaws.com, events.amazonaws.com, \
             delivery.logs.amazonaws.com and cloudwatch.amazonaws.com).",
            "",
        )
        .pattern(
            "^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$",
            "a KMS key ARN, or empty",
        ),
    );
}

fn sizing_parameters(t: &mut Template) {
    t.parameter(
        param::TASK_CPU,
        Parameter::string("Fargate task CPU units.", "1024")
            .allowed(&["256", "512", "1024", "2048", "4096"]),
    );
    t.parameter(
        param::TASK_MEMORY,
        Parameter::number(
            "Fargate task memory in MiB (valid for the chosen CPU).",
            2048,
            512,
            30720,
        ),
    );
    t.parameter(
        param::LAMBDA_MEMORY,
        Parameter::number("Lambda memory in MB (CPU grows with it).", 1024, 128, 10240),
    );
    t.parameter(
        param::LAMBDA_CONCURRENCY,
        Parameter::string(
            "Lambda reserved concurrency: the most objects processed at once by Lambda, \
             taken from the account's pool (optional; empty reserves nothing, which accounts \
             with a low concurrency quota require).",
            "",
        )
        .pattern("^$|^[1-9][0-9]{0,4}$", "a whole number from 1, or empty"),
    );
}

fn conditions(t: &mut Template) {
    t.condition(
        IS_PUBLIC,
        json!({ "Fn::Equals": [reference(param::NETWORK_MODE), "public"] }),
    );
    t.condition(
        IS_PRIVATE,
        json!({ "Fn::Equals": [reference(param::NETWORK_MODE), "private"] }),
    );
    t.condition(
        CREATE_KEY,
        json!({ "Fn::Equals": [reference(param::KMS_KEY_ARN), ""] }),
    );
    t.condition(
        HAS_ALARM_EMAIL,
        json!({ "Fn::Not": [{ "Fn::Equals": [reference(param::ALARM_EMAIL), ""] }] }),
    );
    t.condition(
        HAS_RESERVED_CONCURRENCY,
        json!({ "Fn::Not": [{ "Fn::Equals": [reference(param::LAMBDA_CONCURRENCY), ""] }] }),
    );
    t.condition(
        IS_SPOT,
        json!({ "Fn::Equals": [reference(param::CAPACITY_PROVIDER), "FARGATE_SPOT"] }),
    );
    t.condition(
        HAS_IMAGE_REPOSITORY,
        json!({ "Fn::Not": [{ "Fn::Equals": [reference(param::IMAGE_REPOSITORY_ARN), ""] }] }),
    );
    t.condition(
        HAS_IMAGE_URI,
        json!({ "Fn::Not": [{ "Fn::Equals": [reference(param::IMAGE_URI), ""] }] }),
    );
}

fn service_principal(service: &str) -> Value {
    json!({ "Service": service })
}

fn key(t: &mut Template) {
    let account_root = json!({ "AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root") });
    let policy = PolicyDocument::new(vec![
        Statement::allow(
            "AccountAdministersTheKey",
            &[
                "kms:Create*",
                "kms:Describe*",
                "kms:Enable*",
                "kms:List*",
                "kms:Put*",
                "kms:Update*",
                "kms:Revoke*",
                "kms:Disable*",
                "kms:Get*",
                "kms:Delete*",
                "kms:TagResource",
                "kms:UntagResource",
                "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion",
                "kms:RotateKeyOnDemand",
            ],
            // In a key policy, "*" is this key.
            vec![json!("*")],
        )
        .for_principal(account_root.clone()),
        Statement::allow(
            "AccountIamPoliciesUseTheKey",
            &[
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:CreateGrant",
            ],
            vec![json!("*")],
        )
        .for_principal(account_root),
        Statement::allow(
            "CloudWatchLogsEncryptsTheStacksLogGroups",
            &[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            vec![json!("*")],
        )
        // CloudWatch Logs signs as its regional principal (AWS: "Encrypt log data in
        // CloudWatch Logs using AWS KMS"); the global name is refused for log groups.
        .for_principal(json!({ "Service": sub("logs.${AWS::Region}.amazonaws.com") }))
        .when(json!({
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn":
                    sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*")
            }
        })),
        // AWS documents this statement without conditions ("Event bus targets in Amazon
        // EventBridge": a target encrypted with a customer managed key); no condition key is
        // documented as supported on that path. The queue policy's aws:SourceArn pins the
        // rule that may send.
        Statement::allow(
            "EventBridgeWritesToTheDeadLetterQueue",
            &["kms:Decrypt", "kms:GenerateDataKey"],
            vec![json!("*")],
        )
        .for_principal(service_principal("events.amazonaws.com")),
        // The state machine's data is encrypted with this key; its execution logs are
        // delivered by the vended-logs service, which must decrypt (AWS: "Data at rest
        // encryption in Step Functions").
        Statement::allow(
            "LogDeliveryReadsTheStateMachinesData",
            &["kms:Decrypt"],
            vec![json!("*")],
        )
        .for_principal(service_principal("delivery.logs.amazonaws.com")),
        Statement::allow(
            "CloudWatchAlarmsPublishToTheTopic",
            &["kms:Decrypt", "kms:GenerateDataKey*"],
            vec![json!("*")],
        )
        .for_principal(service_principal("cloudwatch.amazonaws.com"))
        .when(json!({ "StringEquals": { "aws:SourceAccount": reference("AWS::AccountId") } })),
    ]);
    t.resource(
        id::KEY,
        Resource::new(
            "AWS::KMS::Key",
            json!({
                "Description": sub("S3 upload pipeline (${AWS::StackName}): bucket, queue, topic, logs, images"),
                "EnableKeyRotation": true,
                "PendingWindowInDays": 30,
                "KeyPolicy": policy.to_value(),
            }),
        )
        .when(CREATE_KEY)
        .retained(),
    );
    t.resource(
        "PipelineKeyAlias",
        Resource::new(
            "AWS::KMS::Alias",
            json!({
                "AliasName": sub("alias/${AWS::StackName}"),
                "TargetKeyId": reference(id::KEY),
            }),
        )
        .when(CREATE_KEY),
    );
}

fn bucket(t: &mut Template) {
    t.resource(
        id::BUCKET,
        Resource::new(
            "AWS::S3::Bucket",
            json!({
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key_arn(),
                        },
                        "BucketKeyEnabled": true,
                    }]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": true,
                    "BlockPublicPolicy": true,
                    "IgnorePublicAcls": true,
                    "RestrictPublicBuckets": true,
                },
                "OwnershipControls": { "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] },
                "NotificationConfiguration": { "EventBridgeConfiguration": { "EventBridgeEnabled": true } },
                "VersioningConfiguration": { "Status": "Enabled" },
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "AbortIncompleteMultipartUploads",
                            "Status": "Enabled",
                            "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 7 },
                        },
                        {
                            "Id": "ExpireOldVersions",
                            "Status": "Enabled",
                            "NoncurrentVersionExpiration": { "NoncurrentDays": 30 },
                        },
                        {
                            "Id": "ExpireAthenaResults",
                            "Status": "Enabled",
                            "Prefix": catalog::ATHENA_RESULTS_PREFIX,
                            "ExpirationInDays": catalog::ATHENA_RESULTS_DAYS,
                        },
                    ]
                },
            }),
        )
        .retained()
        .suppress(&[checkov(
            "CKV_AWS_18",
            "Server access logs would need a second bucket per stack; object-level audit \
             belongs in an organisation's CloudTrail data events.",
        )]),
    );
    let bucket_arn = get_att(id::BUCKET, "Arn");
    let objects = sub(&format!("${{{}.Arn}}/*", id::BUCKET));
    t.resource(
        "UploadBucketPolicy",
        Resource::new(
            "AWS::S3::BucketPolicy",
            json!({
                "Bucket": reference(id::BUCKET),
                "PolicyDocument": PolicyDocument::new(vec![
                    Statement::deny("DenyRequestsWithoutTls", &["s3:*"], vec![bucket_arn, objects])
                        .for_principal(json!("*"))
                        .when(json!({ "Bool": { "aws:SecureTransport": "false" } })),
                ]).to_value(),
            }),
        ),
    );
}

/// The rule's event pattern: S3 `Object Created` events of this bucket under the input prefix.
pub fn event_pattern() -> Value {
    json!({
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": { "name": [reference(id::BUCKET)] },
            "object": { "key": [{ "prefix": reference(param::INPUT_PREFIX) }] },
        },
    })
}

fn rule(t: &mut Template) {
    t.resource(
        id::DLQ,
        Resource::new(
            "AWS::SQS::Queue",
            json!({
                "MessageRetentionPeriod": 1_209_600,
                "KmsMasterKeyId": key_arn(),
                "KmsDataKeyReusePeriodSeconds": 3600,
            }),
        ),
    );
    t.resource(
        "RuleDeadLetterQueuePolicy",
        Resource::new(
            "AWS::SQS::QueuePolicy",
            json!({
                "Queues": [reference(id::DLQ)],
                "PolicyDocument": PolicyDocument::new(vec![
                    Statement::allow(
                        "EventBridgeSendsUndeliveredEvents",
                        &["sqs:SendMessage"],
                        vec![get_att(id::DLQ, "Arn")],
                    )
                    .for_principal(service_principal("events.amazonaws.com"))
                    .when(json!({ "ArnEquals": { "aws:SourceArn": get_att(id::RULE, "Arn") } })),
                    Statement::deny(
                        "DenyRequestsWithoutTls",
                        &["sqs:*"],
                        vec![get_att(id::DLQ, "Arn")],
                    )
                    .for_principal(json!("*"))
                    .when(json!({ "Bool": { "aws:SecureTransport": "false" } })),
                ]).to_value(),
            }),
        ),
    );
    t.resource(
        "RuleRole",
        role(
            "events.amazonaws.com",
            "EventBridge starts executions of the state machine.",
            vec![Statement::allow(
                "StartExecutions",
                &["states:StartExecution"],
                vec![reference(id::STATE_MACHINE)],
            )],
        ),
    );
    t.resource(
        id::RULE,
        Resource::new(
            "AWS::Events::Rule",
            json!({
                "Description": "S3 Object Created under the input prefix starts the state machine.",
                "State": "ENABLED",
                "EventPattern": event_pattern(),
                "Targets": [{
                    "Id": "StateMachine",
                    "Arn": reference(id::STATE_MACHINE),
                    "RoleArn": get_att("RuleRole", "Arn"),
                    "RetryPolicy": { "MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86_400 },
                    "DeadLetterConfig": { "Arn": get_att(id::DLQ, "Arn") },
                }],
            }),
        ),
    );
}

fn log_group(t: &mut Template, logical_id: &str, name: &str) {
    t.resource(
        logical_id,
        Resource::new(
            "AWS::Logs::LogGroup",
            json!({
                "LogGroupName": sub(name),
                "RetentionInDays": reference(param::LOG_RETENTION_DAYS),
                "KmsKeyId": key_arn(),
            }),
        ),
    );
}

fn logs(t: &mut Template) {
    log_group(
        t,
        "StateMachineLogGroup",
        "/aws/vendedlogs/states/${AWS::StackName}",
    );
    log_group(
        t,
        "FunctionLogGroup",
        "/aws/lambda/${AWS::StackName}-processor",
    );
    log_group(t, "TaskLogGroup", "/ecs/${AWS::StackName}-processor");
}

/// A role for one service principal with one inline policy.
fn role(service: &str, description: &str, statements: Vec<Statement>) -> Resource {
    Resource::new(
        "AWS::IAM::Role",
        json!({
            "Description": description,
            "AssumeRolePolicyDocument": PolicyDocument::new(vec![
                Statement::allow("AssumeRole", &["sts:AssumeRole"], Vec::new())
                    .for_principal(service_principal(service)),
            ]).to_value(),
            "Policies": [{
                "PolicyName": "least-privilege",
                "PolicyDocument": PolicyDocument::new(statements).to_value(),
            }],
        }),
    )
}

/// What both processors may do with the bucket and the key: read the input prefix, read and
/// write the output prefix (the report is also read back to skip done work), and for each
/// data contract write (single or multipart), abort and delete its curated and rejected
/// outputs, under `curated/<dataset>/` and `rejected/<dataset>/` only.
fn processor_statements(contracts: &Contracts) -> Vec<Statement> {
    let input = sub(&format!(
        "${{{}.Arn}}/${{{}}}*",
        id::BUCKET,
        param::INPUT_PREFIX
    ));
    let output = sub(&format!(
        "${{{}.Arn}}/${{{}}}*",
        id::BUCKET,
        param::OUTPUT_PREFIX
    ));
    let mut statements = vec![
        Statement::allow(
            "ReadInputs",
            &["s3:GetObject", "s3:GetObjectVersion"],
            vec![input],
        ),
        Statement::allow(
            "ReadAndWriteReports",
            &["s3:GetObject", "s3:PutObject"],
            vec![output],
        ),
        Statement::allow(
            "TellMissingFromForbidden",
            &["s3:ListBucket"],
            vec![get_att(id::BUCKET, "Arn")],
        ),
        Statement::allow(
            "UseTheBucketKey",
            &["kms:Decrypt", "kms:GenerateDataKey"],
            vec![key_arn()],
        ),
    ];
    let outputs: Vec<Value> = contracts
        .iter()
        .flat_map(|c| {
            [CURATED_PREFIX, REJECTED_PREFIX]
                .map(|prefix| sub(&format!("${{{}.Arn}}/{prefix}{}/*", id::BUCKET, c.dataset)))
        })
        .collect();
    if !outputs.is_empty() {
        // s3:PutObject also authorises CreateMultipartUpload, UploadPart and
        // CompleteMultipartUpload (storage never lists parts: it keeps their etags, so no
        // s3:ListMultipartUploadParts); a failed object's uploads are aborted, and a rejects
        // object a new version no longer has is deleted (a delete marker: the bucket is
        // versioned, and no version is ever deleted).
        statements.push(Statement::allow(
            "WriteContractOutputs",
            &["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
            outputs,
        ));
        // A new version with no rejects deletes the previous version's rejects object only
        // when there is one (a DELETE of a missing key would leave a delete marker): a HEAD,
        // which s3:GetObject authorises.
        statements.push(Statement::allow(
            "CheckPreviousRejects",
            &["s3:GetObject"],
            contracts
                .iter()
                .map(|c| {
                    sub(&format!(
                        "${{{}.Arn}}/{REJECTED_PREFIX}{}/*",
                        id::BUCKET,
                        c.dataset
                    ))
                })
                .collect(),
        ));
    }
    statements
}

fn function(t: &mut Template, s: &Settings) {
    let mut statements = processor_statements(&s.contracts);
    statements.push(Statement::allow(
        "WriteItsLogs",
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        vec![get_att("FunctionLogGroup", "Arn")],
    ));
    statements.push(Statement::allow(
        "SendTraces",
        &["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        // X-Ray has no resource-level permissions: AWS requires "*".
        vec![json!("*")],
    ));
    t.resource(
        "FunctionRole",
        role(
            "lambda.amazonaws.com",
            "The Lambda processor reads inputs and writes reports.",
            statements,
        ),
    );
    t.resource(
        id::FUNCTION,
        Resource::new(
            "AWS::Lambda::Function",
            json!({
                "Description": "S3 upload pipeline: profiles objects up to the threshold.",
                "FunctionName": sub("${AWS::StackName}-processor"),
                "Runtime": "provided.al2023",
                "Architectures": ["arm64"],
                "Handler": "bootstrap",
                "Code": {
                    "S3Bucket": reference(param::LAMBDA_CODE_BUCKET),
                    "S3Key": reference(param::LAMBDA_CODE_KEY),
                },
                "MemorySize": reference(param::LAMBDA_MEMORY),
                "Timeout": s.state_machine.lambda_timeout_seconds,
                "ReservedConcurrentExecutions": if_(
                    HAS_RESERVED_CONCURRENCY,
                    reference(param::LAMBDA_CONCURRENCY),
                    no_value(),
                ),
                "Role": get_att("FunctionRole", "Arn"),
                "KmsKeyArn": key_arn(),
                "Environment": { "Variables": {
                    env::INPUT_PREFIX: reference(param::INPUT_PREFIX),
                    env::OUTPUT_PREFIX: reference(param::OUTPUT_PREFIX),
                    env::CONTRACTS_DIR: LAMBDA_CONTRACTS_DIR,
                    env::METRICS_NAMESPACE: sub(&metrics_namespace()),
                }},
                "LoggingConfig": {
                    "LogGroup": reference("FunctionLogGroup"),
                    "LogFormat": "JSON",
                    "ApplicationLogLevel": "INFO",
                    "SystemLogLevel": "WARN",
                },
                "TracingConfig": { "Mode": "Active" },
            }),
        )
        .suppress(&[
            checkov(
                "CKV_AWS_116",
                "Step Functions invokes the function synchronously and handles its failures \
                 (Retry, Catch); a dead-letter queue only serves asynchronous invocations.",
            ),
            checkov(
                "CKV_AWS_117",
                "The function only calls S3 over TLS with its role; a VPC would add NAT or \
                 endpoints and cold-start time for no isolation gain.",
            ),
        ]),
    );
}

fn repository(t: &mut Template) {
    t.resource(
        "ImageRepository",
        Resource::new(
            "AWS::ECR::Repository",
            json!({
                // ECR names are lowercase; infra deploy only accepts lowercase stack names.
                "RepositoryName": sub("${AWS::StackName}/fargate-processor"),
                "ImageScanningConfiguration": { "ScanOnPush": true },
                "ImageTagMutability": "IMMUTABLE",
                "EncryptionConfiguration": { "EncryptionType": "KMS", "KmsKey": key_arn() },
                "EmptyOnDelete": true,
                "LifecyclePolicy": { "LifecyclePolicyText": serde_json::to_string(&json!({
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": "Untagged images go after 7 days",
                            "selection": { "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7 },
                            "action": { "type": "expire" },
                        },
                        {
                            "rulePriority": 2,
                            "description": "Keep the 60 newest images (20 builds: each pushes an arm64 image, an amd64 image and their index)",
                            "selection": { "tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 60 },
                            "action": { "type": "expire" },
                        },
                    ]
                })).expect("a lifecycle policy serialises") },
            }),
        ),
    );
}

fn container(t: &mut Template, contracts: &Contracts) {
    repository(t);
    task_roles(t, contracts);
    t.resource(
        "Cluster",
        Resource::new(
            "AWS::ECS::Cluster",
            json!({
                "ClusterSettings": [{ "Name": "containerInsights", "Value": "enabled" }],
                "CapacityProviders": ["FARGATE", "FARGATE_SPOT"],
                "DefaultCapacityProviderStrategy": [{ "CapacityProvider": "FARGATE", "Weight": 1 }],
            }),
        ),
    );
    task_definition(t);
}

/// The role ECS pulls the image and ships logs with, and the role the program runs as.
fn task_roles(t: &mut Template, contracts: &Contracts) {
    t.resource(
        "TaskExecutionRole",
        role(
            "ecs-tasks.amazonaws.com",
            "ECS pulls the image and ships the container's logs.",
            vec![
                Statement::allow(
                    "GetRegistryToken",
                    &["ecr:GetAuthorizationToken"],
                    // GetAuthorizationToken has no resource-level permissions: AWS requires "*".
                    vec![json!("*")],
                ),
                Statement::allow(
                    "PullTheImage",
                    &[
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                    ],
                    // The stack's repository, and ImageUri's when it names another (AWS:
                    // "Amazon ECS task execution IAM role"; another account's repository
                    // must also allow this role in its repository policy).
                    vec![
                        get_att("ImageRepository", "Arn"),
                        if_(
                            HAS_IMAGE_REPOSITORY,
                            reference(param::IMAGE_REPOSITORY_ARN),
                            no_value(),
                        ),
                    ],
                ),
                Statement::allow("DecryptTheImage", &["kms:Decrypt"], vec![key_arn()]),
                Statement::allow(
                    "WriteTheContainersLogs",
                    &["logs:CreateLogStream", "logs:PutLogEvents"],
                    vec![get_att("TaskLogGroup", "Arn")],
                ),
            ],
        ),
    );
    t.resource(
        "TaskRole",
        role(
            "ecs-tasks.amazonaws.com",
            "The Fargate processor reads inputs and writes reports.",
            processor_statements(contracts),
        ),
    );
}

/// The task definition: arm64 (x86_64 on Fargate Spot), read-only root, non-root user.
fn task_definition(t: &mut Template) {
    let image = if_(
        HAS_IMAGE_URI,
        reference(param::IMAGE_URI),
        sub(&format!(
            "${{ImageRepository.RepositoryUri}}:${{{}}}",
            param::IMAGE_TAG
        )),
    );
    t.resource(
        id::TASK_DEFINITION,
        Resource::new(
            "AWS::ECS::TaskDefinition",
            json!({
                "Family": sub(TASK_FAMILY),
                "RequiresCompatibilities": ["FARGATE"],
                "NetworkMode": "awsvpc",
                "Cpu": reference(param::TASK_CPU),
                "Memory": reference(param::TASK_MEMORY),
                // Fargate Spot runs only X86_64 Linux tasks (AWS: "Fargate capacity
                // providers"); the image is a multi-architecture index serving both.
                "RuntimePlatform": {
                    "CpuArchitecture": if_(IS_SPOT, json!("X86_64"), json!("ARM64")),
                    "OperatingSystemFamily": "LINUX",
                },
                "ExecutionRoleArn": get_att("TaskExecutionRole", "Arn"),
                "TaskRoleArn": get_att("TaskRole", "Arn"),
                "Volumes": [{ "Name": "scratch" }],
                "ContainerDefinitions": [{
                    "Name": CONTAINER_NAME,
                    "Image": image,
                    "Essential": true,
                    "ReadonlyRootFilesystem": true,
                    "Privileged": false,
                    "User": CONTAINER_USER,
                    "StopTimeout": 30,
                    "MountPoints": [{ "SourceVolume": "scratch", "ContainerPath": SCRATCH_PATH, "ReadOnly": false }],
                    "Environment": [
                        { "Name": env::INPUT_PREFIX, "Value": reference(param::INPUT_PREFIX) },
                        { "Name": env::OUTPUT_PREFIX, "Value": reference(param::OUTPUT_PREFIX) },
                        { "Name": env::CONTRACTS_DIR, "Value": CONTAINER_CONTRACTS_DIR },
                        { "Name": env::METRICS_NAMESPACE, "Value": sub(&metrics_namespace()) },
                        { "Name": "RUST_LOG", "Value": "info" },
                    ],
                    "LogConfiguration": {
                        "LogDriver": "awslogs",
                        "Options": {
                            "awslogs-group": reference("TaskLogGroup"),
                            "awslogs-region": reference("AWS::Region"),
                            "awslogs-stream-prefix": CONTAINER_NAME,
                        }
                    },
                }],
            }),
        ),
    );
}

fn network(t: &mut Template) {
    t.resource(
        "Vpc",
        Resource::new(
            "AWS::EC2::VPC",
            json!({ "CidrBlock": VPC_CIDR, "EnableDnsHostnames": true, "EnableDnsSupport": true }),
        ),
    );
    for (index, (name, cidr)) in [("SubnetA", "10.42.0.0/20"), ("SubnetB", "10.42.16.0/20")]
        .into_iter()
        .enumerate()
    {
        t.resource(
            name,
            Resource::new(
                "AWS::EC2::Subnet",
                json!({
                    "VpcId": reference("Vpc"),
                    "CidrBlock": cidr,
                    "AvailabilityZone": { "Fn::Select": [index, { "Fn::GetAZs": "" }] },
                    "MapPublicIpOnLaunch": false,
                }),
            ),
        );
        t.resource(
            &format!("{name}RouteTableAssociation"),
            Resource::new(
                "AWS::EC2::SubnetRouteTableAssociation",
                json!({ "SubnetId": reference(name), "RouteTableId": reference("RouteTable") }),
            ),
        );
    }
    t.resource(
        "RouteTable",
        Resource::new("AWS::EC2::RouteTable", json!({ "VpcId": reference("Vpc") })),
    );
    t.resource(
        "InternetGateway",
        Resource::new("AWS::EC2::InternetGateway", json!({})).when(IS_PUBLIC),
    );
    t.resource(
        "InternetGatewayAttachment",
        Resource::new(
            "AWS::EC2::VPCGatewayAttachment",
            json!({ "VpcId": reference("Vpc"), "InternetGatewayId": reference("InternetGateway") }),
        )
        .when(IS_PUBLIC),
    );
    t.resource(
        "DefaultRoute",
        Resource::new(
            "AWS::EC2::Route",
            json!({
                "RouteTableId": reference("RouteTable"),
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": reference("InternetGateway"),
            }),
        )
        .when(IS_PUBLIC)
        .after("InternetGatewayAttachment"),
    );
    t.resource(
        id::TASK_SECURITY_GROUP,
        Resource::new(
            "AWS::EC2::SecurityGroup",
            json!({
                "GroupDescription": "Fargate processor: HTTPS and DNS out, nothing in",
                "VpcId": reference("Vpc"),
                "SecurityGroupEgress": [
                    { "Description": "HTTPS to S3, ECR and CloudWatch Logs", "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0" },
                    { "Description": "DNS to the VPC resolver", "IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "CidrIp": VPC_CIDR },
                ],
            }),
        ),
    );
    vpc_endpoints(t);
    restrict_default_security_group(t);
}

/// Private mode: S3 through a gateway endpoint, ECR and logs through interface endpoints.
fn vpc_endpoints(t: &mut Template) {
    t.resource(
        "S3Endpoint",
        Resource::new(
            "AWS::EC2::VPCEndpoint",
            json!({
                "VpcId": reference("Vpc"),
                "ServiceName": sub("com.amazonaws.${AWS::Region}.s3"),
                "VpcEndpointType": "Gateway",
                "RouteTableIds": [reference("RouteTable")],
            }),
        )
        .when(IS_PRIVATE),
    );
    t.resource(
        "EndpointSecurityGroup",
        Resource::new(
            "AWS::EC2::SecurityGroup",
            json!({
                "GroupDescription": "Interface endpoints: HTTPS in from the tasks",
                "VpcId": reference("Vpc"),
                "SecurityGroupIngress": [{
                    "Description": "HTTPS from the Fargate tasks",
                    "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                    "SourceSecurityGroupId": reference(id::TASK_SECURITY_GROUP),
                }],
                "SecurityGroupEgress": [{
                    "Description": "No traffic out (a rule to nowhere replaces the default allow-all)",
                    "IpProtocol": "icmp", "FromPort": 252, "ToPort": 86, "CidrIp": "255.255.255.255/32",
                }],
            }),
        )
        .when(IS_PRIVATE),
    );
    for (name, service) in [
        ("EcrApiEndpoint", "ecr.api"),
        ("EcrDockerEndpoint", "ecr.dkr"),
        ("LogsEndpoint", "logs"),
    ] {
        t.resource(
            name,
            Resource::new(
                "AWS::EC2::VPCEndpoint",
                json!({
                    "VpcId": reference("Vpc"),
                    "ServiceName": sub(&format!("com.amazonaws.${{AWS::Region}}.{service}")),
                    "VpcEndpointType": "Interface",
                    "PrivateDnsEnabled": true,
                    "SubnetIds": [reference("SubnetA"), reference("SubnetB")],
                    "SecurityGroupIds": [reference("EndpointSecurityGroup")],
                }),
            )
            .when(IS_PRIVATE),
        );
    }
}

/// CloudFormation cannot edit a VPC's default security group, which allows all traffic
/// between its members and all traffic out; a small custom resource revokes its rules.
fn restrict_default_security_group(t: &mut Template) {
    let group_arn = sub(
        "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/${Vpc.DefaultSecurityGroup}",
    );
    log_group(
        t,
        "RestrictDefaultSecurityGroupLogGroup",
        "/aws/lambda/${AWS::StackName}-restrict-default-sg",
    );
    t.resource(
        "RestrictDefaultSecurityGroupRole",
        role(
            "lambda.amazonaws.com",
            "Revokes the rules of the VPC's default security group.",
            vec![
                Statement::allow(
                    "RevokeDefaultRules",
                    &[
                        "ec2:RevokeSecurityGroupIngress",
                        "ec2:RevokeSecurityGroupEgress",
                    ],
                    vec![group_arn],
                ),
                Statement::allow(
                    "ReadSecurityGroups",
                    &["ec2:DescribeSecurityGroups"],
                    // Describe calls have no resource-level permissions: AWS requires "*".
                    vec![json!("*")],
                ),
                Statement::allow(
                    "WriteItsLogs",
                    &["logs:CreateLogStream", "logs:PutLogEvents"],
                    vec![get_att("RestrictDefaultSecurityGroupLogGroup", "Arn")],
                ),
            ],
        ),
    );
    t.resource(
        "RestrictDefaultSecurityGroupFunction",
        Resource::new(
            "AWS::Lambda::Function",
            json!({
                "Description": "Custom resource: revokes every rule of the VPC's default security group.",
                "Runtime": "python3.13",
                "Architectures": ["arm64"],
                "Handler": "index.handler",
                "Timeout": 60,
                "MemorySize": 128,
                "Role": get_att("RestrictDefaultSecurityGroupRole", "Arn"),
                "KmsKeyArn": key_arn(),
                "LoggingConfig": { "LogGroup": reference("RestrictDefaultSecurityGroupLogGroup"), "LogFormat": "JSON" },
                "TracingConfig": { "Mode": "PassThrough" },
                "Code": { "ZipFile": RESTRICT_DEFAULT_SG_SOURCE },
            }),
        )
        .suppress(&[
            checkov("CKV_AWS_115", "A reservation is taken from the account's concurrency pool, and accounts with a low quota (new ones often have 10) refuse any; CloudFormation invokes this function once per deploy."),
            checkov("CKV_AWS_116", "A CloudFormation custom resource is invoked synchronously by CloudFormation; there is nothing to dead-letter."),
            checkov("CKV_AWS_117", "It only calls the EC2 API once per deployment; a VPC adds nothing."),
        ]),
    );
    t.resource(
        "RestrictDefaultSecurityGroup",
        Resource::new(
            "Custom::RestrictDefaultSecurityGroup",
            json!({
                "ServiceToken": get_att("RestrictDefaultSecurityGroupFunction", "Arn"),
                "GroupId": get_att("Vpc", "DefaultSecurityGroup"),
            }),
        ),
    );
}

const RESTRICT_DEFAULT_SG_SOURCE: &str = r#"import boto3
import cfnresponse

def handler(event, context):
    try:
        if event["RequestType"] in ("Create", "Update"):
            ec2 = boto3.client("ec2")
            group_id = event["ResourceProperties"]["GroupId"]
            group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
            if group["IpPermissions"]:
                ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=group["IpPermissions"])
            if group["IpPermissionsEgress"]:
                ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=group["IpPermissionsEgress"])
        cfnresponse.send(event, context, cfnresponse.SUCCESS, {})
    except Exception as error:
        cfnresponse.send(event, context, cfnresponse.FAILED, {}, reason=str(error))
"#;

/// The `DefinitionSubstitutions` the template gives the state machine.
pub fn definition_substitutions() -> Value {
    let mut map = serde_json::Map::new();
    for placeholder in Placeholder::ALL {
        let value = match placeholder {
            Placeholder::ThresholdBytes => reference(param::THRESHOLD_BYTES),
            Placeholder::ProcessorFunctionArn => get_att(id::FUNCTION, "Arn"),
            Placeholder::ClusterArn => get_att("Cluster", "Arn"),
            Placeholder::TaskDefinitionArn => reference(id::TASK_DEFINITION),
            Placeholder::CapacityProvider => reference(param::CAPACITY_PROVIDER),
            Placeholder::SubnetA => reference("SubnetA"),
            Placeholder::SubnetB => reference("SubnetB"),
            Placeholder::SecurityGroupId => reference(id::TASK_SECURITY_GROUP),
            Placeholder::AssignPublicIp => if_(IS_PUBLIC, json!("ENABLED"), json!("DISABLED")),
        };
        map.insert(placeholder.name().to_owned(), value);
    }
    Value::Object(map)
}

fn state_machine(t: &mut Template, s: &Settings) {
    let task_arns =
        sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${Cluster}/*");
    t.resource(
        "StateMachineRole",
        role(
            "states.amazonaws.com",
            "The state machine invokes the processors.",
            vec![
                Statement::allow(
                    "InvokeTheFunction",
                    &["lambda:InvokeFunction"],
                    vec![
                        get_att(id::FUNCTION, "Arn"),
                        sub(&format!("${{{}.Arn}}:*", id::FUNCTION)),
                    ],
                ),
                Statement::allow(
                    "RunTheTask",
                    &["ecs:RunTask"],
                    // Every revision of the family: a deploy makes a new one while
                    // executions that started before it may still run (or retry) the old.
                    vec![sub(&format!(
                        "arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:task-definition/{TASK_FAMILY}:*"
                    ))],
                ),
                Statement::allow(
                    "FollowAndStopItsTasks",
                    &["ecs:DescribeTasks", "ecs:StopTask"],
                    vec![task_arns],
                ),
                Statement::allow(
                    "PassTheTaskRoles",
                    &["iam:PassRole"],
                    vec![get_att("TaskExecutionRole", "Arn"), get_att("TaskRole", "Arn")],
                )
                .when(json!({ "StringEquals": { "iam:PassedToService": "ecs-tasks.amazonaws.com" } })),
                Statement::allow(
                    "ManagedRuleForRunTaskSync",
                    &["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                    vec![sub(
                        "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForECSTaskRule",
                    )],
                ),
                // The failure path's S3 PutObject (statemachine::record_failure_task): under
                // the failure records' prefix only, with the bucket's key, through S3 only.
                Statement::allow(
                    "WriteFailureRecords",
                    &["s3:PutObject"],
                    vec![sub(&format!("${{{}.Arn}}/{FAILURE_PREFIX}*", id::BUCKET))],
                ),
                Statement::allow(
                    "EncryptFailureRecords",
                    &["kms:GenerateDataKey"],
                    vec![key_arn()],
                )
                .when(json!({ "StringEquals": {
                    "kms:ViaService": sub("s3.${AWS::Region}.amazonaws.com"),
                }})),
                Statement::allow(
                    "DeliverExecutionLogs",
                    &[
                        "logs:CreateLogDelivery",
                        "logs:GetLogDelivery",
                        "logs:UpdateLogDelivery",
                        "logs:DeleteLogDelivery",
                        "logs:ListLogDeliveries",
                        "logs:PutResourcePolicy",
                        "logs:DescribeResourcePolicies",
                        "logs:DescribeLogGroups",
                    ],
                    // Log delivery actions have no resource-level permissions: AWS requires "*".
                    vec![json!("*")],
                ),
                // Its executions' data is encrypted with the key (AWS: "Data at rest
                // encryption in Step Functions": the execution role needs kms:Decrypt and
                // kms:GenerateDataKey, scoped by the state machine's encryption context).
                Statement::allow(
                    "EncryptItsExecutionData",
                    &["kms:Decrypt", "kms:GenerateDataKey"],
                    vec![key_arn()],
                )
                .when(json!({ "StringEquals": {
                    "kms:EncryptionContext:aws:states:stateMachineArn": state_machine_arn(),
                }})),
                // ... and so are its log deliveries (same page: GenerateDataKey with the logs
                // SourceArn context; a wildcard ARN, hence StringLike).
                Statement::allow(
                    "EncryptItsLogDeliveries",
                    &["kms:GenerateDataKey"],
                    vec![key_arn()],
                )
                .when(json!({ "StringLike": {
                    "kms:EncryptionContext:SourceArn":
                        sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"),
                }})),
                Statement::allow(
                    "SendTraces",
                    &[
                        "xray:PutTraceSegments",
                        "xray:PutTelemetryRecords",
                        "xray:GetSamplingRules",
                        "xray:GetSamplingTargets",
                    ],
                    // X-Ray has no resource-level permissions: AWS requires "*".
                    vec![json!("*")],
                ),
            ],
        ),
    );
    t.resource(
        id::STATE_MACHINE,
        Resource::new(
            "AWS::StepFunctions::StateMachine",
            json!({
                // Named after the stack, so that its role's key condition can name its ARN.
                "StateMachineName": sub(STATE_MACHINE_NAME),
                "StateMachineType": "STANDARD",
                // Execution input, output and history hold bucket names, keys and error
                // causes: under the stack's key, not an AWS-owned one.
                "EncryptionConfiguration": {
                    "Type": "CUSTOMER_MANAGED_KMS_KEY",
                    "KmsKeyId": key_arn(),
                    "KmsDataKeyReusePeriodSeconds": 300,
                },
                "RoleArn": get_att("StateMachineRole", "Arn"),
                "Definition": statemachine::to_value(&statemachine::definition(&s.state_machine)),
                "DefinitionSubstitutions": definition_substitutions(),
                "LoggingConfiguration": {
                    "Level": "ERROR",
                    "IncludeExecutionData": false,
                    "Destinations": [{ "CloudWatchLogsLogGroup": { "LogGroupArn": get_att("StateMachineLogGroup", "Arn") } }],
                },
                "TracingConfiguration": { "Enabled": true },
            }),
        ),
    );
}

fn alarms(t: &mut Template) {
    t.resource(
        "AlarmTopic",
        Resource::new(
            "AWS::SNS::Topic",
            json!({ "KmsMasterKeyId": key_arn(), "DisplayName": sub("${AWS::StackName} alarms") }),
        ),
    );
    t.resource(
        "AlarmEmailSubscription",
        Resource::new(
            "AWS::SNS::Subscription",
            json!({
                "TopicArn": reference("AlarmTopic"),
                "Protocol": "email",
                "Endpoint": reference(param::ALARM_EMAIL),
            }),
        )
        .when(HAS_ALARM_EMAIL),
    );
    t.resource(
        "ExecutionsFailedAlarm",
        Resource::new(
            "AWS::CloudWatch::Alarm",
            json!({
                "AlarmDescription": "An execution failed: a file could not be processed (see the execution's error name).",
                "Namespace": "AWS/States",
                "MetricName": "ExecutionsFailed",
                "Dimensions": [{ "Name": "StateMachineArn", "Value": reference(id::STATE_MACHINE) }],
                "Statistic": "Sum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [reference("AlarmTopic")],
            }),
        ),
    );
    t.resource(
        "DeadLetterQueueAlarm",
        Resource::new(
            "AWS::CloudWatch::Alarm",
            json!({
                "AlarmDescription": "Events EventBridge could not deliver to the state machine are waiting in the dead-letter queue.",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{ "Name": "QueueName", "Value": get_att(id::DLQ, "QueueName") }],
                "Statistic": "Maximum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [reference("AlarmTopic")],
            }),
        ),
    );
}

fn outputs(t: &mut Template) {
    t.output(
        output::BUCKET,
        "Upload files here, under the input prefix.",
        reference(id::BUCKET),
    );
    t.output(
        output::STATE_MACHINE_ARN,
        "The state machine that routes each upload.",
        reference(id::STATE_MACHINE),
    );
    t.output(
        output::DLQ_URL,
        "Events the rule could not deliver.",
        reference(id::DLQ),
    );
    t.output(
        output::IMAGE_REPOSITORY_URI,
        "Where make image-push pushes the Fargate image.",
        get_att("ImageRepository", "RepositoryUri"),
    );
    t.output(
        output::STATE_MACHINE_LOG_GROUP,
        "The state machine's log group.",
        reference("StateMachineLogGroup"),
    );
    t.output(
        output::FUNCTION_LOG_GROUP,
        "The Lambda processor's log group.",
        reference("FunctionLogGroup"),
    );
    t.output(
        output::TASK_LOG_GROUP,
        "The Fargate processor's log group.",
        reference("TaskLogGroup"),
    );
    t.output(
        output::INPUT_PREFIX,
        "Uploads under this prefix are processed.",
        reference(param::INPUT_PREFIX),
    );
    t.output(
        output::OUTPUT_PREFIX,
        "Reports appear under this prefix.",
        reference(param::OUTPUT_PREFIX),
    );
    t.output(
        output::GLUE_DATABASE,
        "The Glue database: a table per data contract, over its curated Parquet.",
        reference(catalog::DATABASE),
    );
    t.output(
        output::ATHENA_WORKGROUP,
        "Query the tables in this Athena workgroup (results encrypted, under athena-results/).",
        reference(catalog::WORKGROUP),
    );
}

/// A parameter's default in the generated template, as text (`None`: no such parameter, or
/// none given).
pub fn parameter_default(name: &str) -> Option<String> {
    let template = template(&Settings::default());
    match template.parameters.get(name)?.default.as_ref()? {
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}
