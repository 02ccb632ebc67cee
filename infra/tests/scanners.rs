//! The real validators and scanners on the generated files: statelint and asl-validator on
//! the state machine, cfn-lint and checkov on the template. Each also gets a broken copy, to
//! prove it is really checking.
//!
//! The tools live under `.tools/` (`make tools`, or `scripts/setup-tools all`); a missing tool
//! fails the test with that hint, never skips it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use infra::template::Settings;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tool(relative: &str) -> PathBuf {
    let tools = std::env::var_os("TOOLS_DIR").map_or_else(|| root().join(".tools"), PathBuf::from);
    let path = tools.join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `make tools` (scripts/setup-tools all)",
        path.display()
    );
    path
}

fn run(program: &Path, args: &[&str], file: &Path) -> Output {
    Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Writes `contents` to a fresh file named `name` in a temporary directory.
fn scratch(name: &str, contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

fn definition() -> String {
    infra::synth(&Settings::default()).remove(0).1
}

/// The template with the repository's contracts and one with a partition column of every
/// type, so that the scanners see tables with and without partition projection.
fn template() -> String {
    infra::synth(&crate::catalog::partitioned_settings())
        .remove(1)
        .1
}

/// The definition with a transition to a state that does not exist.
fn broken_definition() -> String {
    let mut machine: Value = serde_json::from_str(&definition()).unwrap();
    machine["States"]["Route"]["Default"] = "NoSuchState".into();
    machine.to_string()
}

#[test]
fn statelint_accepts_the_definition() {
    let statelint = tool("venv/bin/statelint");
    let (_dir, good) = scratch("statemachine.asl.json", &definition());
    let output = run(&statelint, &[], &good);
    assert!(output.status.success(), "statelint: {}", text(&output));
    let (_dir, bad) = scratch("broken.asl.json", &broken_definition());
    let output = run(&statelint, &[], &bad);
    assert!(!output.status.success(), "statelint missed a dangling Next");
}

#[test]
fn asl_validator_accepts_the_definition() {
    let validator = tool("npm/node_modules/.bin/asl-validator");
    let (_dir, good) = scratch("statemachine.asl.json", &definition());
    let output = run(&validator, &["--json-path"], &good);
    assert!(output.status.success(), "asl-validator: {}", text(&output));
    let (_dir, bad) = scratch("broken.asl.json", &broken_definition());
    let output = run(&validator, &["--json-path"], &bad);
    assert!(
        !output.status.success(),
        "asl-validator missed a dangling Next"
    );
}

#[test]
fn cfn_lint_reports_nothing_and_checks_the_state_machine() {
    let cfn_lint = tool("venv/bin/cfn-lint");
    let (_dir, good) = scratch("template.json", &template());
    let output = run(&cfn_lint, &[], &good);
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "cfn-lint: {}",
        text(&output)
    );
    // The Definition object form is what cfn-lint validates (E3601).
    let mut broken: Value = serde_json::from_str(&template()).unwrap();
    broken["Resources"]["StateMachine"]["Properties"]["Definition"]["States"]["Route"]["Type"] =
        "Switch".into();
    let (_dir, bad) = scratch("broken.json", &broken.to_string());
    let output = run(&cfn_lint, &[], &bad);
    assert!(
        text(&output).contains("E3601"),
        "cfn-lint: {}",
        text(&output)
    );
}

fn checkov(file: &Path) -> Value {
    let checkov = tool("checkov-venv/bin/checkov");
    let output = run(
        &checkov,
        &[
            "--framework",
            "cloudformation",
            "--skip-download",
            "--output",
            "json",
            "--file",
        ],
        file,
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("checkov printed no JSON ({e}): {}", text(&output)))
}

fn check_ids(report: &Value, kind: &str) -> Vec<String> {
    let mut ids: Vec<String> = report["results"][kind]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn checkov_fails_nothing_and_every_suppression_has_a_reason_and_a_purpose() {
    let (_dir, good) = scratch("template.json", &template());
    let report = checkov(&good);
    assert_eq!(
        report["summary"]["failed"], 0,
        "{:#}",
        report["results"]["failed_checks"]
    );
    assert!(report["summary"]["passed"].as_u64().unwrap() > 50);
    let skipped = check_ids(&report, "skipped_checks");
    for check in report["results"]["skipped_checks"].as_array().unwrap() {
        let reason = check["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or("");
        assert!(
            reason.len() > 20,
            "{} is suppressed without a reason",
            check["check_id"]
        );
    }
    // Without the suppressions, exactly the suppressed checks fail: none is stale.
    let mut bare: Value = serde_json::from_str(&template()).unwrap();
    for resource in bare["Resources"].as_object_mut().unwrap().values_mut() {
        resource.as_object_mut().unwrap().remove("Metadata");
    }
    let (_dir, bare_path) = scratch("bare.json", &bare.to_string());
    let bare_report = checkov(&bare_path);
    assert_eq!(check_ids(&bare_report, "failed_checks"), skipped);
}

/// The resource types whose schema (as cfn-lint carries AWS's resource provider schemas,
/// us-east-1) has a `Tags` property, among `types`.
fn taggable_per_cfn_lint(types: &[&str]) -> Vec<String> {
    let script = r#"
import json, os, sys
import cfnlint
schemas = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas")
providers = json.load(open(os.path.join(schemas, "providers", "us-east-1.json")))
for kind in sys.argv[1:]:
    schema = json.load(open(os.path.join(schemas, "resources", providers[kind] + ".json")))
    if "Tags" in schema.get("properties", {}):
        print(kind)
"#;
    let output = Command::new(tool("venv/bin/python"))
        .arg("-c")
        .arg(script)
        .args(types)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_resource_that_takes_tags_carries_the_project_and_stack_tags() {
    let template: Value = serde_json::from_str(&template()).unwrap();
    let resources = template["Resources"].as_object().unwrap();
    let mut types: Vec<&str> = resources
        .values()
        .filter_map(|r| r["Type"].as_str())
        .filter(|t| t.starts_with("AWS::"))
        .collect();
    types.sort_unstable();
    types.dedup();
    let taggable = taggable_per_cfn_lint(&types);
    assert!(
        taggable.len() >= 15,
        "cfn-lint's schemas name only {taggable:?}"
    );
    let expected = serde_json::json!([
        { "Key": infra::template::PROJECT_TAG.0, "Value": infra::template::PROJECT_TAG.1 },
        { "Key": infra::template::STACK_TAG_KEY, "Value": { "Ref": "AWS::StackName" } },
    ]);
    for (name, resource) in resources {
        let kind = resource["Type"].as_str().unwrap();
        if taggable.iter().any(|t| t == kind) {
            assert_eq!(resource["Properties"]["Tags"], expected, "{name} ({kind})");
        } else {
            assert!(
                resource["Properties"].get("Tags").is_none(),
                "{name}: {kind} takes no Tags"
            );
        }
    }
    let mut listed: Vec<&str> = infra::template::TAGGED_TYPES.to_vec();
    listed.sort_unstable();
    assert_eq!(listed, taggable, "TAGGED_TYPES against the schemas");
}
