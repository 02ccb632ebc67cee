//! The pinned AWS CLI (v1, `make tools`), as the README uses it against the local endpoint:
//! `aws s3 cp` and `aws s3 ls` with awkward keys, a refused digest, a read by version id.

use std::path::Path;
use std::process::Command;

use local_s3::{LocalS3, RunningS3};

use crate::support::BUCKET;

/// Runs `aws ARGS --endpoint-url …` with the server's settings; the output, or the error
/// text.
fn aws(s3: &RunningS3, args: &[&str]) -> Result<String, String> {
    let cli = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/aws");
    assert!(
        cli.exists(),
        "{} is missing: run `make tools`",
        cli.display()
    );
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(cli)
        .args(args)
        .args(["--endpoint-url", &s3.endpoint()])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .envs(s3.env_vars())
        .output()
        .unwrap();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_copies_lists_and_reads_awkward_keys_and_versions() {
    let s3 = LocalS3::builder()
        .versioned_bucket(BUCKET)
        .start()
        .await
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("f.csv");
    std::fs::write(&file, "a,b\n1,2\n").unwrap();
    let file = file.to_str().unwrap();
    let keys = [
        "incoming/a//b.csv",
        "incoming/my file+1.csv",
        "incoming/../x.csv",
    ];
    for key in keys {
        aws(&s3, &["s3", "cp", file, &format!("s3://{BUCKET}/{key}")]).unwrap();
    }
    let listed = aws(
        &s3,
        &["s3", "ls", &format!("s3://{BUCKET}/"), "--recursive"],
    )
    .unwrap();
    let mut names: Vec<&str> = listed
        .lines()
        .filter_map(|line| {
            // `DATE TIME SIZE KEY`: the key is the rest, spaces included.
            let mut rest = line.trim_start();
            for _ in 0..3 {
                rest = rest.split_once(char::is_whitespace)?.1.trim_start();
            }
            Some(rest)
        })
        .collect();
    names.sort_unstable();
    let mut expected = keys.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected, "{listed}");
    let content = aws(
        &s3,
        &["s3", "cp", &format!("s3://{BUCKET}/{}", keys[0]), "-"],
    )
    .unwrap();
    assert_eq!(content, "a,b\n1,2\n");

    // A wrong Content-MD5 is refused and changes nothing.
    let refused = aws(
        &s3,
        &[
            "s3api",
            "put-object",
            "--bucket",
            BUCKET,
            "--key",
            keys[0],
            "--body",
            file,
            "--content-md5",
            "AAAAAAAAAAAAAAAAAAAAAA==",
        ],
    )
    .unwrap_err();
    assert!(refused.contains("BadDigest"), "{refused}");

    // An older version, read by its id.
    let head = |key: &str| -> serde_json::Value {
        let out = aws(
            &s3,
            &["s3api", "head-object", "--bucket", BUCKET, "--key", key],
        )
        .unwrap();
        serde_json::from_str(&out).unwrap()
    };
    let first = head(keys[1])["VersionId"].as_str().unwrap().to_owned();
    std::fs::write(files.path().join("f.csv"), "changed\n").unwrap();
    aws(
        &s3,
        &["s3", "cp", file, &format!("s3://{BUCKET}/{}", keys[1])],
    )
    .unwrap();
    assert_ne!(head(keys[1])["VersionId"].as_str().unwrap(), first);
    let old = files.path().join("old.csv");
    aws(
        &s3,
        &[
            "s3api",
            "get-object",
            "--bucket",
            BUCKET,
            "--key",
            keys[1],
            "--version-id",
            &first,
            old.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(old).unwrap(), "a,b\n1,2\n");
    s3.shutdown().await;
}
