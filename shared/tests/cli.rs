//! The `profile` example, the command a newcomer tries first, and `convert`, its counterpart
//! under a data contract.

use std::path::PathBuf;
use std::process::Command;

use shared::ErrorName;

fn profile_command() -> Command {
    crate::support::example_command("profile")
}

fn temp_file(name: &str, content: &[u8]) -> PathBuf {
    crate::support::temp_file("shared-cli", name, content)
}

#[test]
fn profile_prints_the_report_of_a_file() {
    let path = temp_file("people.csv", b"name,age\nAda,36\nAlan,41\n");
    let output = profile_command().arg(&path).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["records"]["valid"], 2);
    assert_eq!(report["columns"][1]["max"], 41);
    assert_eq!(report["processing"]["processor"], "cli");
    assert!(output.stdout.ends_with(b"}\n"));
}

#[test]
fn profile_names_the_error_and_exits_with_its_code() {
    let path = temp_file("doc.json", b"{\n  \"a\": 1\n}\n");
    let output = profile_command().arg(&path).output().unwrap();
    let name = ErrorName::UnsupportedFormat;
    assert_eq!(output.status.code(), Some(name.exit_code()));
    assert!(output.stdout.is_empty(), "no partial output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("UnsupportedFormat: "), "{stderr}");

    let output = profile_command()
        .arg("/nonexistent/file.csv")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(ErrorName::SourceMissing.exit_code())
    );
}

const CONTRACT: &str = r#"
dataset = "people"
prefix = "incoming/people/"

[rejects]
max_share = 0.5

[[columns]]
name = "name"
type = "string"
nullable = false

[[columns]]
name = "age"
type = "int32"
min = 0
"#;

#[test]
fn convert_writes_parquet_and_rejects_and_leaves_nothing_on_failure() {
    let contract = temp_file("people.toml", CONTRACT.as_bytes());
    let input = temp_file("staff.csv", b"name,age\nAda,36\nAlan,-1\nGrace,85\n");
    let out = input.with_file_name("converted");
    let _ = std::fs::remove_dir_all(&out);
    let output = crate::support::example_command("convert")
        .arg("--contract")
        .arg(&contract)
        .arg(&input)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["source"]["key"], "incoming/people/staff.csv");
    assert_eq!(report["contract"]["records_written"], 2);
    assert_eq!(report["contract"]["rejected_by_reason"]["below_min"], 1);
    let parquet = std::fs::read(out.join("staff.csv.parquet")).unwrap();
    assert!(parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"));
    assert_eq!(report["contract"]["outputs"][0]["size"], parquet.len());
    let rejects = std::fs::read_to_string(out.join("staff.csv.rejects.jsonl")).unwrap();
    assert!(rejects.contains("\"raw\":\"Alan,-1\""), "{rejects}");

    // Two of three rejected: past the share of 0.5. The exit code names the error, and the
    // previous outputs are neither replaced nor joined by partial files.
    let bad = temp_file("staff.csv", b"name,age\nAda,x\nAlan,-1\nGrace,85\n");
    let output = crate::support::example_command("convert")
        .args([
            "--contract".as_ref(),
            contract.as_os_str(),
            bad.as_os_str(),
            out.as_os_str(),
        ])
        .output()
        .unwrap();
    let name = ErrorName::ContractViolation;
    assert_eq!(output.status.code(), Some(name.exit_code()));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("ContractViolation: "));
    let mut left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["staff.csv.parquet", "staff.csv.rejects.jsonl"]);
    assert_eq!(
        std::fs::read(out.join("staff.csv.parquet")).unwrap(),
        parquet
    );
}
