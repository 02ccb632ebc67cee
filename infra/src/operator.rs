//! The managed policy for the people and programs that operate the pipeline (the stack's
//! `OperatorPolicyArn` output): run and watch executions of this state machine, and read what
//! the pipeline wrote, nothing else. `status` and `reprocess` need no more; a team attaches
//! it instead of broad console rights.
//!
//! - Step Functions: start executions of this state machine, describe and stop its
//!   executions and read their history, list them and describe the state machine.
//! - S3: list the bucket's keys and versions under the input, output and failure-record
//!   prefixes and the contracts' outputs; read reports, failure records and the contracts'
//!   outputs. Never the uploads' bytes, never a write.
//! - KMS: decrypt what it reads through S3 with the stack's key, and use the key for this
//!   state machine's executions (their input is encrypted when they start) only.

use serde_json::{Value, json};
use shared::{CURATED_PREFIX, Contracts, FAILURE_PREFIX, REJECTED_PREFIX};

use crate::cfn::{PolicyDocument, Resource, Statement, Template, get_att, reference, sub};
use crate::template::{id, key_arn, param, state_machine_arn};

/// The managed policy's logical id.
pub const OPERATOR_POLICY: &str = "OperatorPolicy";

/// The output naming the policy's ARN.
pub const OPERATOR_POLICY_OUTPUT: &str = "OperatorPolicyArn";

/// The executions of the stack's state machine (`Fn::Sub` value).
fn executions_arn() -> Value {
    sub(
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${AWS::StackName}:*",
    )
}

/// The policy's statements.
pub fn statements(contracts: &Contracts) -> Vec<Statement> {
    let objects = |prefix: &str| sub(&format!("${{{}.Arn}}/{prefix}*", id::BUCKET));
    let parameter_prefix = |name: &str| format!("${{{name}}}");
    let mut readable = vec![
        objects(&parameter_prefix(param::OUTPUT_PREFIX)),
        objects(FAILURE_PREFIX),
    ];
    let mut listable = vec![
        json!({ "Fn::Sub": format!("${{{}}}*", param::INPUT_PREFIX) }),
        json!({ "Fn::Sub": format!("${{{}}}*", param::OUTPUT_PREFIX) }),
        json!(format!("{FAILURE_PREFIX}*")),
    ];
    for contract in contracts.iter() {
        for prefix in [CURATED_PREFIX, REJECTED_PREFIX] {
            readable.push(objects(&format!("{prefix}{}/", contract.dataset)));
            listable.push(json!(format!("{prefix}{}/*", contract.dataset)));
        }
    }
    vec![
        Statement::allow(
            "StartAndDescribeTheStateMachine",
            &[
                "states:StartExecution",
                "states:ListExecutions",
                "states:DescribeStateMachine",
            ],
            vec![state_machine_arn()],
        ),
        Statement::allow(
            "WatchAndStopItsExecutions",
            &[
                "states:DescribeExecution",
                "states:GetExecutionHistory",
                "states:StopExecution",
            ],
            vec![executions_arn()],
        ),
        Statement::allow(
            "ReadReportsFailureRecordsAndOutputs",
            &["s3:GetObject", "s3:GetObjectVersion"],
            readable,
        ),
        // ListObjectsV2 and ListObjectVersions (the versions `reprocess` pins) under the
        // pipeline's prefixes only.
        Statement::allow(
            "ListThePipelinesPrefixes",
            &["s3:ListBucket", "s3:ListBucketVersions"],
            vec![get_att(id::BUCKET, "Arn")],
        )
        .when(json!({ "StringLike": { "s3:prefix": listable } })),
        // Objects under the stack's key are read through S3 (AWS: "Protecting data with
        // server-side encryption with AWS KMS keys": a GET of an SSE-KMS object needs
        // kms:Decrypt), and this state machine's execution input, output and history are
        // encrypted under its encryption context (AWS: "Data at rest encryption in Step
        // Functions", https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html:
        // StartExecution needs kms:GenerateDataKey, describing an execution kms:Decrypt), as
        // the state machine role's own statement scopes it.
        Statement::allow(
            "DecryptWhatItReadsThroughS3",
            &["kms:Decrypt"],
            vec![key_arn()],
        )
        .when(
            json!({ "StringEquals": { "kms:ViaService": sub("s3.${AWS::Region}.amazonaws.com") } }),
        ),
        Statement::allow(
            "UseTheKeyForTheStateMachinesExecutions",
            &["kms:Decrypt", "kms:GenerateDataKey"],
            vec![key_arn()],
        )
        .when(json!({ "StringEquals": {
            "kms:EncryptionContext:aws:states:stateMachineArn": state_machine_arn(),
        }})),
    ]
}

/// Adds the managed policy.
pub fn resources(t: &mut Template, contracts: &Contracts) {
    t.resource(
        OPERATOR_POLICY,
        Resource::new(
            "AWS::IAM::ManagedPolicy",
            json!({
                "Description": "Operate the S3 upload pipeline: start, watch and stop its executions; read its reports, failure records and outputs.",
                "PolicyDocument": PolicyDocument::new(statements(contracts)).to_value(),
            }),
        ),
    );
    t.output(
        OPERATOR_POLICY_OUTPUT,
        "Attach this managed policy to the people and programs that operate the pipeline.",
        reference(OPERATOR_POLICY),
    );
}
