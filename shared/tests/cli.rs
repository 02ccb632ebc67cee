//! The `profile` example: the command a newcomer tries first.

use std::path::PathBuf;
use std::process::Command;

use shared::ErrorName;

/// The example binary `cargo test` builds next to this test binary.
fn profile_command() -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let examples = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile_dir| profile_dir.join("examples"))
        .expect("target/<profile>/deps/<test binary>");
    let binary: PathBuf = examples.join(format!("profile{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        // `cargo test --test integration` builds no example: build it with the same cargo.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile_dir = examples.parent().expect("target/<profile>");
        let release = profile_dir.ends_with("release");
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "shared", "--example", "profile"]);
        if let Some(target_dir) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target_dir);
        }
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(
            status.success() && binary.exists(),
            "cannot build {}",
            binary.display()
        );
    }
    Command::new(binary)
}

fn temp_file(name: &str, content: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shared-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
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
