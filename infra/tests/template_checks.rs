//! The project's own assertions on the template, for what the scanners do not check.

use infra::statemachine::{self, Placeholder};
use infra::template::{self, Settings, id, param};
use serde_json::{Value, json};
use shared::KeyLayout;

/// The template with the repository's data contracts, as committed.
fn template() -> Value {
    serde_json::to_value(template::template(&crate::catalog::repository_settings())).unwrap()
}

fn resources_of<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, r)| (name.as_str(), r))
        .collect()
}

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

#[test]
fn ecs_containers_are_hardened() {
    let template = template();
    let definitions = resources_of(&template, "AWS::ECS::TaskDefinition");
    assert!(!definitions.is_empty());
    for (name, definition) in definitions {
        let properties = &definition["Properties"];
        assert_eq!(properties["RequiresCompatibilities"], json!(["FARGATE"]));
        assert_eq!(properties["NetworkMode"], json!("awsvpc"));
        // Fargate Spot runs only X86_64 tasks (AWS: "Amazon ECS on AWS Fargate capacity
        // providers"); on-demand Fargate runs arm64.
        for (provider, architecture) in [("FARGATE", "ARM64"), ("FARGATE_SPOT", "X86_64")] {
            let parameters = json!({ param::CAPACITY_PROVIDER: provider });
            assert_eq!(
                resolve(
                    &template,
                    &properties["RuntimePlatform"]["CpuArchitecture"],
                    &parameters
                ),
                json!(architecture),
                "{name} with {provider}"
            );
        }
        for container in properties["ContainerDefinitions"].as_array().unwrap() {
            let what = format!("{name}/{}", container["Name"]);
            assert_eq!(container["ReadonlyRootFilesystem"], json!(true), "{what}");
            let user = container["User"].as_str().expect("a user is set");
            let uid = user.split(':').next().unwrap();
            assert!(
                uid != "0" && uid != "root" && !uid.is_empty(),
                "{what} runs as root"
            );
            assert_ne!(container["Privileged"], json!(true), "{what} is privileged");
            assert_eq!(
                container["LogConfiguration"]["LogDriver"],
                json!("awslogs"),
                "{what}"
            );
            assert!(container.get("Secrets").is_none(), "{what} takes secrets");
            for variable in container["Environment"].as_array().unwrap() {
                let name = variable["Name"].as_str().unwrap().to_ascii_uppercase();
                for word in ["SECRET", "PASSWORD", "TOKEN", "ACCESS_KEY", "CREDENTIAL"] {
                    assert!(!name.contains(word), "{what}: {name} looks like a secret");
                }
            }
            // The read-only root has one writable place, a task volume.
            let mounts = container["MountPoints"].as_array().unwrap();
            assert_eq!(mounts.len(), 1);
            assert_eq!(mounts[0]["ContainerPath"], json!(template::SCRATCH_PATH));
        }
        assert_eq!(
            properties["ContainerDefinitions"][0]["Name"],
            json!(statemachine::CONTAINER_NAME),
            "the state machine's container override names this container"
        );
    }
}

#[test]
fn the_task_security_group_allows_only_https_and_dns_out() {
    let template = template();
    let group = &template["Resources"][id::TASK_SECURITY_GROUP]["Properties"];
    assert!(group.get("SecurityGroupIngress").is_none(), "no ingress");
    let mut egress: Vec<(String, i64, i64)> = group["SecurityGroupEgress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| {
            (
                rule["IpProtocol"].as_str().unwrap().to_owned(),
                rule["FromPort"].as_i64().unwrap(),
                rule["ToPort"].as_i64().unwrap(),
            )
        })
        .collect();
    egress.sort();
    assert_eq!(egress, [("tcp".into(), 443, 443), ("udp".into(), 53, 53)]);
    // Nothing else adds rules to it.
    for kind in [
        "AWS::EC2::SecurityGroupEgress",
        "AWS::EC2::SecurityGroupIngress",
    ] {
        for (name, rule) in resources_of(&template, kind) {
            assert_ne!(
                rule["Properties"]["GroupId"],
                json!({ "Ref": id::TASK_SECURITY_GROUP }),
                "{name} adds a rule"
            );
        }
    }
}

#[test]
fn the_default_prefixes_are_disjoint_and_the_rule_matches_only_the_input_prefix() {
    let template = template();
    let input = template["Parameters"][param::INPUT_PREFIX]["Default"]
        .as_str()
        .unwrap();
    let output = template["Parameters"][param::OUTPUT_PREFIX]["Default"]
        .as_str()
        .unwrap();
    KeyLayout::new(input, output).expect("the default prefixes are disjoint");
    let pattern = &template["Resources"][id::RULE]["Properties"]["EventPattern"];
    assert_eq!(pattern["source"], json!(["aws.s3"]));
    assert_eq!(pattern["detail-type"], json!(["Object Created"]));
    assert_eq!(
        pattern["detail"]["bucket"]["name"],
        json!([{ "Ref": id::BUCKET }])
    );
    assert_eq!(
        pattern["detail"]["object"]["key"],
        json!([{ "prefix": { "Ref": param::INPUT_PREFIX } }])
    );
}

#[test]
fn every_rule_target_has_a_dead_letter_queue_and_a_retry_policy() {
    let template = template();
    let rules = resources_of(&template, "AWS::Events::Rule");
    assert!(!rules.is_empty());
    for (name, rule) in rules {
        for target in rule["Properties"]["Targets"].as_array().unwrap() {
            assert!(
                target["DeadLetterConfig"]["Arn"].is_object(),
                "{name}: no DLQ"
            );
            let retry = &target["RetryPolicy"];
            assert!(
                retry["MaximumRetryAttempts"].as_u64().unwrap() > 0,
                "{name}"
            );
            assert!(
                retry["MaximumEventAgeInSeconds"].as_u64().unwrap() > 0,
                "{name}"
            );
        }
    }
}

fn statements(document: &Value) -> Vec<&Value> {
    as_list(&document["Statement"])
}

fn actions(statement: &Value) -> Vec<&str> {
    as_list(&statement["Action"])
        .into_iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

#[test]
fn the_dead_letter_queue_lets_eventbridge_write_through_its_key() {
    let template = template();
    let queue = &template["Resources"][id::DLQ]["Properties"];
    let key = &queue["KmsMasterKeyId"];
    assert_eq!(
        key,
        &json!({ "Fn::If": ["CreateKey", { "Fn::GetAtt": [id::KEY, "Arn"] }, { "Ref": param::KMS_KEY_ARN }] })
    );
    let key_policy = &template["Resources"][id::KEY]["Properties"]["KeyPolicy"];
    let for_events = statements(key_policy)
        .into_iter()
        .find(|s| s["Principal"]["Service"] == "events.amazonaws.com" && s["Effect"] == "Allow")
        .expect("the key policy names EventBridge");
    let granted = actions(for_events);
    assert!(granted.contains(&"kms:GenerateDataKey") && granted.contains(&"kms:Decrypt"));

    let (_, queue_policy) = resources_of(&template, "AWS::SQS::QueuePolicy")
        .into_iter()
        .find(|(_, p)| p["Properties"]["Queues"] == json!([{ "Ref": id::DLQ }]))
        .expect("the DLQ has a queue policy");
    let send = statements(&queue_policy["Properties"]["PolicyDocument"])
        .into_iter()
        .find(|s| s["Effect"] == "Allow" && s["Principal"]["Service"] == "events.amazonaws.com")
        .expect("the queue policy names EventBridge");
    assert_eq!(actions(send), ["sqs:SendMessage"]);
    assert_eq!(
        send["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!({ "Fn::GetAtt": [id::RULE, "Arn"] }),
        "only the rule may send"
    );
}

/// Every policy document in the template, with where it is.
fn policy_documents(template: &Value) -> Vec<(String, &Value, bool)> {
    let mut found = Vec::new();
    for (name, resource) in template["Resources"].as_object().unwrap() {
        let properties = &resource["Properties"];
        if let Some(policies) = properties.get("Policies").and_then(Value::as_array) {
            for policy in policies {
                found.push((name.clone(), &policy["PolicyDocument"], true));
            }
        }
        if let Some(document) = properties.get("PolicyDocument") {
            found.push((name.clone(), document, false));
        }
        if let Some(document) = properties.get("KeyPolicy") {
            found.push((name.clone(), document, false));
        }
    }
    found
}

#[test]
fn no_iam_statement_allows_every_action_and_star_resources_are_where_aws_requires_them() {
    let template = template();
    // Actions AWS only authorises on "*" (no resource-level permissions).
    let star_only = [
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "ecr:GetAuthorizationToken",
        "ec2:DescribeSecurityGroups",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    ];
    let documents = policy_documents(&template);
    assert!(documents.len() >= 8);
    for (name, document, identity_policy) in documents {
        for statement in statements(document) {
            if statement["Effect"] != "Allow" {
                continue;
            }
            for action in actions(statement) {
                assert!(
                    action != "*" && !action.ends_with(":*"),
                    "{name} allows {action}"
                );
            }
            let any_resource = as_list(&statement["Resource"]).contains(&&json!("*"));
            if identity_policy && any_resource {
                for action in actions(statement) {
                    assert!(
                        star_only.contains(&action),
                        "{name}: {action} on \"*\" but it has resource-level permissions"
                    );
                }
            }
        }
    }
}

#[test]
fn processors_read_only_the_input_prefix_and_write_only_the_output_prefix() {
    let template = template();
    for role in ["FunctionRole", "TaskRole"] {
        let document = &template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"];
        // The data contracts' outputs: see the catalog tests.
        for statement in statements(document)
            .into_iter()
            .filter(|s| s["Sid"] != "WriteContractOutputs")
        {
            for action in actions(statement) {
                if action == "s3:PutObject" {
                    assert_eq!(
                        statement["Resource"],
                        json!([{ "Fn::Sub": "${UploadBucket.Arn}/${OutputPrefix}*" }]),
                        "{role} writes outside the output prefix"
                    );
                }
                assert!(
                    !action.starts_with("s3:Delete"),
                    "{role} may delete: {action}"
                );
            }
        }
    }
}

#[test]
fn the_state_machine_resource_carries_the_generated_definition_and_every_substitution() {
    let template = template();
    let machine = &template["Resources"][id::STATE_MACHINE]["Properties"];
    assert_eq!(
        machine["Definition"],
        statemachine::to_value(&statemachine::definition(
            &Settings::default().state_machine
        ))
    );
    let substitutions = machine["DefinitionSubstitutions"].as_object().unwrap();
    let mut names: Vec<&str> = substitutions.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = Placeholder::ALL.iter().map(|p| p.name()).collect();
    expected.sort_unstable();
    assert_eq!(names, expected);
    assert_eq!(machine["StateMachineType"], json!("STANDARD"));
    assert_eq!(machine["TracingConfiguration"]["Enabled"], json!(true));
    assert!(machine["LoggingConfiguration"]["Destinations"].is_array());
}

/// Every name a `Ref` or `Fn::GetAtt` under `value` refers to.
fn walk<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get("Ref") {
                found.push(name);
            }
            if let Some(Value::Array(args)) = map.get("Fn::GetAtt") {
                found.push(args[0].as_str().unwrap());
            }
            map.values().for_each(|v| walk(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
        _ => {}
    }
}

#[test]
fn every_reference_names_a_parameter_resource_or_pseudo_parameter() {
    let template = template();
    let known = |name: &str| {
        name.starts_with("AWS::")
            || template["Parameters"].get(name).is_some()
            || template["Resources"].get(name).is_some()
    };
    let mut found = Vec::new();
    walk(&template["Resources"], &mut found);
    walk(&template["Outputs"], &mut found);
    for name in found {
        assert!(known(name), "reference to unknown {name}");
    }
}

/// Evaluates the intrinsic functions the template's choices are made of (`Ref` of a
/// parameter, `Fn::If`, `Fn::Equals`, `Fn::Not`) for the given parameter values (others at
/// their defaults); anything else is left as it is.
fn resolve(template: &Value, value: &Value, parameters: &Value) -> Value {
    let parameter = |name: &str| {
        parameters
            .get(name)
            .or_else(|| template["Parameters"][name].get("Default"))
            .cloned()
    };
    let condition =
        |name: &str| resolve(template, &template["Conditions"][name], parameters) == json!(true);
    let Value::Object(map) = value else {
        return value.clone();
    };
    if let Some(Value::String(name)) = map.get("Ref")
        && let Some(value) = parameter(name)
    {
        return value;
    }
    if let Some(Value::Array(args)) = map.get("Fn::If") {
        let branch = if condition(args[0].as_str().unwrap()) {
            &args[1]
        } else {
            &args[2]
        };
        return resolve(template, branch, parameters);
    }
    if let Some(Value::Array(args)) = map.get("Fn::Equals") {
        return json!(
            resolve(template, &args[0], parameters) == resolve(template, &args[1], parameters)
        );
    }
    if let Some(Value::Array(args)) = map.get("Fn::Not") {
        return json!(resolve(template, &args[0], parameters) != json!(true));
    }
    value.clone()
}

fn key_policy_statement<'a>(template: &'a Value, sid: &str) -> &'a Value {
    let policy = &template["Resources"][id::KEY]["Properties"]["KeyPolicy"];
    statements(policy)
        .into_iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no key policy statement {sid}"))
}

fn role_statement<'a>(template: &'a Value, role: &str, sid: &str) -> &'a Value {
    let document = &template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"];
    statements(document)
        .into_iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("{role} has no statement {sid}"))
}

#[test]
fn cloudwatch_logs_uses_the_key_through_its_regional_principal() {
    // AWS, "Encrypt log data in CloudWatch Logs using AWS KMS": the principal is
    // logs.<region>.amazonaws.com, "in the same AWS Region where the CMK is stored"; with the
    // global name every encrypted log group fails to create and the stack rolls back.
    let template = template();
    let statement = key_policy_statement(&template, "CloudWatchLogsEncryptsTheStacksLogGroups");
    assert_eq!(
        statement["Principal"]["Service"],
        json!({ "Fn::Sub": "logs.${AWS::Region}.amazonaws.com" })
    );
    assert_eq!(
        statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"],
        json!({ "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*" })
    );
}

#[test]
fn eventbridge_uses_the_dead_letter_queues_key_as_aws_documents_it() {
    // AWS, "Event bus targets in Amazon EventBridge": kms:Decrypt and kms:GenerateDataKey for
    // events.amazonaws.com, with no condition; no condition key is documented for this path
    // (aws:SourceAccount/aws:SourceArn are documented for event-bus keys only). The queue
    // policy's aws:SourceArn pins the rule.
    let template = template();
    let statement = key_policy_statement(&template, "EventBridgeWritesToTheDeadLetterQueue");
    assert_eq!(statement["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(actions(statement), ["kms:Decrypt", "kms:GenerateDataKey"]);
    assert!(
        statement.get("Condition").is_none(),
        "undocumented condition: {}",
        statement["Condition"]
    );
}

#[test]
fn no_function_reserves_concurrency_unless_asked() {
    // Accounts with a low concurrency quota refuse any reservation ("decreases account's
    // UnreservedConcurrentExecution below its minimum value of [10]"; AWS: "Configuring
    // reserved concurrency for a function": 100 are kept unreserved).
    let template = template();
    for (name, function) in resources_of(&template, "AWS::Lambda::Function") {
        let reserved = &function["Properties"]["ReservedConcurrentExecutions"];
        if name == id::FUNCTION {
            for (asked, expected) in [("", json!({ "Ref": "AWS::NoValue" })), ("25", json!("25"))] {
                let parameters = json!({ param::LAMBDA_CONCURRENCY: asked });
                assert_eq!(
                    resolve(&template, reserved, &parameters),
                    expected,
                    "asked {asked:?}"
                );
            }
            assert_eq!(
                template["Parameters"][param::LAMBDA_CONCURRENCY]["Default"],
                json!(""),
                "no reservation by default"
            );
        } else {
            assert!(reserved.is_null(), "{name} reserves concurrency");
        }
    }
}

#[test]
fn the_state_machine_may_run_every_revision_of_the_task_family() {
    // Each deploy makes a new revision; an execution that started before it (or is in its
    // retry loop) runs the revision it was given.
    let template = template();
    let statement = role_statement(&template, "StateMachineRole", "RunTheTask");
    assert_eq!(
        statement["Resource"],
        json!([{ "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/${AWS::StackName}-processor:*" }])
    );
    assert_eq!(
        template["Resources"][id::TASK_DEFINITION]["Properties"]["Family"],
        json!({ "Fn::Sub": "${AWS::StackName}-processor" })
    );
}

#[test]
fn the_state_machines_data_is_encrypted_with_the_stacks_key() {
    // AWS, "Data at rest encryption in Step Functions": a customer managed key; the execution
    // role needs kms:Decrypt and kms:GenerateDataKey in the state machine's encryption
    // context, kms:GenerateDataKey for its log deliveries, and the key policy lets
    // delivery.logs.amazonaws.com decrypt.
    let template = template();
    let machine = &template["Resources"][id::STATE_MACHINE]["Properties"];
    let key = json!({ "Fn::If": ["CreateKey", { "Fn::GetAtt": [id::KEY, "Arn"] }, { "Ref": param::KMS_KEY_ARN }] });
    assert_eq!(
        machine["EncryptionConfiguration"],
        json!({ "Type": "CUSTOMER_MANAGED_KMS_KEY", "KmsKeyId": key, "KmsDataKeyReusePeriodSeconds": 300 })
    );
    let arn = json!({ "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}" });
    assert_eq!(
        machine["StateMachineName"],
        json!({ "Fn::Sub": "${AWS::StackName}" }),
        "the name the role's condition names"
    );
    let data = role_statement(&template, "StateMachineRole", "EncryptItsExecutionData");
    assert_eq!(actions(data), ["kms:Decrypt", "kms:GenerateDataKey"]);
    assert_eq!(data["Resource"], json!([key]));
    assert_eq!(
        data["Condition"]["StringEquals"]["kms:EncryptionContext:aws:states:stateMachineArn"],
        arn
    );
    let logs = role_statement(&template, "StateMachineRole", "EncryptItsLogDeliveries");
    assert_eq!(actions(logs), ["kms:GenerateDataKey"]);
    let delivery = key_policy_statement(&template, "LogDeliveryReadsTheStateMachinesData");
    assert_eq!(
        delivery["Principal"]["Service"],
        "delivery.logs.amazonaws.com"
    );
    assert_eq!(actions(delivery), ["kms:Decrypt"]);
}

#[test]
fn the_tasks_may_pull_the_image_uri_repository() {
    let template = template();
    let pull = role_statement(&template, "TaskExecutionRole", "PullTheImage");
    for (arn, expected) in [
        (
            "",
            json!([{ "Fn::GetAtt": ["ImageRepository", "Arn"] }, { "Ref": "AWS::NoValue" }]),
        ),
        (
            "arn:aws:ecr:eu-west-1:111122223333:repository/team/processor",
            json!([{ "Fn::GetAtt": ["ImageRepository", "Arn"] }, "arn:aws:ecr:eu-west-1:111122223333:repository/team/processor"]),
        ),
    ] {
        let parameters = json!({ param::IMAGE_REPOSITORY_ARN: arn });
        let resources: Vec<Value> = pull["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| resolve(&template, r, &parameters))
            .collect();
        assert_eq!(Value::Array(resources), expected, "{arn:?}");
    }
}

/// Issue 14: the dashboard's body is JSON once `Fn::Sub` fills it in, names only the
/// processors' metrics (from `shared::Metric`) in the stack's namespace and AWS's own, and
/// has every widget the operators asked for; a dataset's rejected share is drawn per contract.
/// Dashboard body: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html>.
#[test]
fn the_dashboard_draws_every_widget_from_the_metrics_the_processors_emit() {
    let template = template();
    let dashboard = &template["Resources"][infra::monitoring::DASHBOARD];
    assert_eq!(dashboard["Type"], "AWS::CloudWatch::Dashboard");
    let body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("the body is Fn::Sub text");
    // What Fn::Sub fills in: pseudo parameters and resources of the stack.
    let mut filled = body.to_owned();
    for (variable, value) in [
        ("${AWS::Region}", "eu-west-1"),
        ("${AWS::StackName}", "stack"),
        ("${StateMachine}", "arn:state-machine"),
        ("${ProcessorFunction}", "function"),
        ("${Cluster}", "cluster"),
        ("${RuleDeadLetterQueue.QueueName}", "dlq"),
    ] {
        assert!(filled.contains(variable), "{variable}");
        filled = filled.replace(variable, value);
    }
    assert!(
        !filled.contains("${"),
        "an unknown variable is left: {filled}"
    );
    let body: Value = serde_json::from_str(&filled).unwrap();
    let widgets = body["widgets"].as_array().unwrap();
    let titles: Vec<&str> = widgets
        .iter()
        .map(|w| w["properties"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Executions",
            "Failures by error name",
            "Bytes per hour",
            "Records per hour",
            "Lambda duration (ms)",
            "Lambda errors and throttles",
            "Fargate tasks running",
            "Dead-letter queue depth",
            "Rejected records (% of records) per dataset",
        ]
    );
    let ours = format!("{}/stack", shared::NAMESPACE_PREFIX);
    let mut error_names = Vec::new();
    for widget in widgets {
        assert!(widget["x"].as_u64().unwrap() + widget["width"].as_u64().unwrap() <= 24);
        for line in widget["properties"]["metrics"].as_array().unwrap() {
            let Some(namespace) = line[0].as_str() else {
                assert!(line[0]["expression"].is_string(), "{line}");
                continue;
            };
            let name = line[1].as_str().unwrap();
            if namespace == ours {
                assert!(
                    shared::Metric::ALL.iter().any(|m| m.name() == name),
                    "{name}"
                );
                if line[2] == "ErrorName" {
                    error_names.push(line[3].as_str().unwrap().to_owned());
                }
            } else {
                assert!(
                    namespace.starts_with("AWS/") || namespace == "ECS/ContainerInsights",
                    "{namespace}"
                );
            }
        }
    }
    let all: Vec<String> = shared::ErrorName::ALL
        .iter()
        .map(|n| n.as_str().to_owned())
        .collect();
    assert_eq!(
        error_names, all,
        "failures by every error name of the table"
    );
    // Container Insights counts a cluster's tasks as `TaskCount` by `ClusterName`;
    // `RunningTaskCount` is by `ServiceName` and `ClusterName`, and the state machine's tasks
    // belong to no service
    // (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-ECS.html>).
    assert_eq!(
        widgets[6]["properties"]["metrics"],
        json!([[
            "ECS/ContainerInsights",
            "TaskCount",
            "ClusterName",
            "cluster"
        ]])
    );
    let share = widgets.last().unwrap()["properties"]["metrics"].to_string();
    for contract in crate::catalog::repository_settings().contracts.iter() {
        assert!(
            share.contains(&format!("\"label\":\"{}\"", contract.dataset)),
            "{share}"
        );
    }
}

/// Issue 14: both processors are given the namespace the dashboard and the alarms read.
#[test]
fn the_processors_emit_in_the_namespace_the_dashboard_reads() {
    let template = template();
    let namespace = json!({ "Fn::Sub": template::metrics_namespace() });
    let function = &template["Resources"][id::FUNCTION]["Properties"]["Environment"]["Variables"];
    assert_eq!(function[shared::env::METRICS_NAMESPACE], namespace);
    let container =
        &template["Resources"][id::TASK_DEFINITION]["Properties"]["ContainerDefinitions"][0];
    assert!(
        container["Environment"]
            .as_array()
            .unwrap()
            .contains(&json!({ "Name": shared::env::METRICS_NAMESPACE, "Value": namespace }))
    );
}

/// Issue 14: each dataset's rejected share alarms past the stack parameter, and Lambda
/// throttling alarms once it lasts; both to the alarm topic. Metric math in an alarm:
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create-alarm-on-metric-math-expression.html>;
/// M out of N: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarm-evaluation>.
#[test]
fn rejected_shares_and_lasting_throttles_alarm_to_the_topic() {
    let template = template();
    let contracts = crate::catalog::repository_settings().contracts;
    assert!(!contracts.is_empty());
    for contract in contracts.iter() {
        let id = infra::monitoring::rejected_share_alarm(&contract.dataset);
        let alarm = &template["Resources"][&id]["Properties"];
        assert_eq!(
            alarm["Threshold"],
            json!({ "Ref": param::REJECTED_SHARE_PERCENT }),
            "{id}"
        );
        assert_eq!(alarm["AlarmActions"], json!([{ "Ref": "AlarmTopic" }]));
        assert_eq!(alarm["ComparisonOperator"], "GreaterThanThreshold");
        let queries = alarm["Metrics"].as_array().unwrap();
        let returned: Vec<&Value> = queries.iter().filter(|q| q["ReturnData"] == true).collect();
        assert_eq!(
            returned.len(),
            1,
            "one expression gives the alarm its value"
        );
        assert_eq!(returned[0]["Expression"], "100 * rejected / records");
        for (query, metric) in [("rejected", "RejectedRecords"), ("records", "Records")] {
            let stat = queries.iter().find(|q| q["Id"] == query).unwrap();
            let metric_json = &stat["MetricStat"]["Metric"];
            assert_eq!(metric_json["MetricName"], metric);
            assert_eq!(
                metric_json["Dimensions"],
                json!([{ "Name": "Dataset", "Value": contract.dataset }])
            );
            assert_eq!(
                metric_json["Namespace"],
                json!({ "Fn::Sub": template::metrics_namespace() })
            );
        }
    }
    let parameter = &template["Parameters"][param::REJECTED_SHARE_PERCENT];
    assert_eq!(parameter["Type"], "Number");
    let throttles = &template["Resources"][infra::monitoring::THROTTLE_ALARM]["Properties"];
    assert_eq!(throttles["MetricName"], "Throttles");
    assert_eq!(throttles["Namespace"], "AWS/Lambda");
    assert_eq!(throttles["Period"], 60);
    assert_eq!(
        throttles["EvaluationPeriods"],
        throttles["DatapointsToAlarm"]
    );
    assert!(
        throttles["EvaluationPeriods"].as_u64().unwrap() >= 5,
        "throttling that lasts"
    );
    assert_eq!(throttles["AlarmActions"], json!([{ "Ref": "AlarmTopic" }]));
}

/// Issue 14's "Who may operate it": the stack outputs a managed policy that starts, watches
/// and stops executions of this state machine and reads reports, failure records and the
/// contracts' outputs, and nothing else: no write, no delete, no upload's bytes.
#[test]
fn the_operator_policy_runs_this_state_machine_and_reads_only_what_the_pipeline_wrote() {
    let template = template();
    let policy = &template["Resources"][infra::operator::OPERATOR_POLICY];
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    assert_eq!(
        template["Outputs"][infra::operator::OPERATOR_POLICY_OUTPUT]["Value"],
        json!({ "Ref": infra::operator::OPERATOR_POLICY })
    );
    let document = &policy["Properties"]["PolicyDocument"];
    let mut granted: Vec<&str> = statements(document)
        .into_iter()
        .inspect(|s| assert_eq!(s["Effect"], "Allow"))
        .flat_map(actions)
        .collect();
    granted.sort_unstable();
    granted.dedup();
    assert_eq!(
        granted,
        [
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:ListBucket",
            "s3:ListBucketVersions",
            "states:DescribeExecution",
            "states:DescribeStateMachine",
            "states:GetExecutionHistory",
            "states:ListExecutions",
            "states:StartExecution",
            "states:StopExecution",
        ]
    );
    let statement = |sid: &str| {
        statements(document)
            .into_iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"))
    };
    // Starting is allowed on this state machine only; its executions are named after it
    // (the state machine is named after the stack).
    assert_eq!(
        template["Resources"][id::STATE_MACHINE]["Properties"]["StateMachineName"],
        json!({ "Fn::Sub": "${AWS::StackName}" })
    );
    assert_eq!(
        statement("StartAndDescribeTheStateMachine")["Resource"],
        json!([{ "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}" }])
    );
    assert_eq!(
        statement("WatchAndStopItsExecutions")["Resource"],
        json!([{ "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${AWS::StackName}:*" }])
    );
    // Reads: the reports (output prefix), the failure records and each contract's outputs;
    // never the input prefix (the uploads' bytes).
    let readable: Vec<String> =
        as_list(&statement("ReadReportsFailureRecordsAndOutputs")["Resource"])
            .into_iter()
            .map(|r| r["Fn::Sub"].as_str().unwrap().to_owned())
            .collect();
    assert!(readable.contains(&"${UploadBucket.Arn}/${OutputPrefix}*".to_owned()));
    assert!(readable.contains(&format!(
        "${{UploadBucket.Arn}}/{}*",
        shared::FAILURE_PREFIX
    )));
    let contracts = crate::catalog::repository_settings().contracts;
    assert!(contracts.iter().next().is_some());
    for contract in contracts.iter() {
        for prefix in [shared::CURATED_PREFIX, shared::REJECTED_PREFIX] {
            let objects = format!("${{UploadBucket.Arn}}/{prefix}{}/*", contract.dataset);
            assert!(readable.contains(&objects), "{objects} is not readable");
        }
    }
    assert!(
        readable.iter().all(|r| !r.contains("InputPrefix")),
        "{readable:?}"
    );
    // Listing is limited to the pipeline's prefixes.
    let listing = statement("ListThePipelinesPrefixes");
    assert_eq!(
        listing["Resource"],
        json!([{ "Fn::GetAtt": [id::BUCKET, "Arn"] }])
    );
    assert!(listing["Condition"]["StringLike"]["s3:prefix"].is_array());
    // The key: through S3 only, or under this state machine's encryption context.
    assert_eq!(
        statement("DecryptWhatItReadsThroughS3")["Condition"]["StringEquals"]["kms:ViaService"],
        json!({ "Fn::Sub": "s3.${AWS::Region}.amazonaws.com" })
    );
    assert!(
        statement("UseTheKeyForTheStateMachinesExecutions")["Condition"]["StringEquals"]
            ["kms:EncryptionContext:aws:states:stateMachineArn"]
            .is_object()
    );
}
