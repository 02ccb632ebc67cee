//! The container image's root filesystem, run as the image would run: its entrypoint, as its
//! user, in a chroot with nothing else in it, against S3 on loopback.
//!
//! `scripts/image-test` (`make image-test`) builds the image, exports its root filesystem and
//! runs this test with `PIPELINE_IMAGE_ROOTFS` (the exported folder), `PIPELINE_IMAGE_USER`
//! and `PIPELINE_IMAGE_ENTRYPOINT` (from the image's config) set. Without them the test
//! passes without doing anything, saying so: a plain `cargo test` has no image to run.
//! Running it needs root (chroot) and the binary built for this machine's architecture.

use std::path::PathBuf;
use std::process::Output;

use local_s3::{LocalS3, RunningS3};
use serde_json::Value;
use shared::ErrorName;

const BUCKET: &str = "uploads";

/// The exported image: its root folder, its user (`UID:GID`) and its entrypoint.
struct Image {
    rootfs: PathBuf,
    user: String,
    entrypoint: Vec<String>,
}

fn image() -> Option<Image> {
    let rootfs = std::env::var_os("PIPELINE_IMAGE_ROOTFS")?;
    let user = std::env::var("PIPELINE_IMAGE_USER").expect("PIPELINE_IMAGE_USER (UID:GID)");
    let entrypoint: Vec<String> = serde_json::from_str(
        &std::env::var("PIPELINE_IMAGE_ENTRYPOINT")
            .expect("PIPELINE_IMAGE_ENTRYPOINT (a JSON array)"),
    )
    .expect("PIPELINE_IMAGE_ENTRYPOINT is a JSON array of strings");
    assert!(!entrypoint.is_empty(), "the image has no entrypoint");
    Some(Image {
        rootfs: rootfs.into(),
        user,
        entrypoint,
    })
}

impl Image {
    /// Runs the entrypoint (with `args`) in the image's root, as its user, with only the
    /// environment a task definition would give it.
    async fn run(&self, env: &[(&str, String)], args: &[&str]) -> Output {
        tokio::process::Command::new(chroot())
            .arg(format!("--userspec={}", self.user))
            .arg(&self.rootfs)
            .args(&self.entrypoint)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .output()
            .await
            .expect("chroot runs")
    }
}

/// `chroot` found on this process's `PATH` (the child's environment is cleared).
fn chroot() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("chroot"))
        .find(|path| path.is_file())
        .expect("chroot (coreutils) on PATH")
}

/// The environment of the task: S3 on loopback, path-style, and the job.
fn task_env(s3: &RunningS3, job: &Value) -> Vec<(&'static str, String)> {
    let mut env = s3.env_vars();
    env.push(("PIPELINE_S3_PATH_STYLE", "true".to_owned()));
    env.push(("PIPELINE_JOB", job.to_string()));
    env.push(("PIPELINE_PART_SIZE_BYTES", "4096".to_owned()));
    env
}

/// The last JSON log line the program printed.
/// The last log line that is not the Embedded Metric Format line the processor prints per
/// object (issue 14), parsed.
fn last_log(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rfind(|line| !line.contains("\"_aws\""))
        .unwrap_or_else(|| {
            panic!(
                "no log line (exit {:?}); stderr: {}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            )
        });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"))
}

#[tokio::test]
async fn the_image_entrypoint_processes_a_job_as_its_user_with_nothing_else_in_the_root() {
    let Some(image) = image() else {
        eprintln!(
            "skipped: PIPELINE_IMAGE_ROOTFS is not set (`make image-test` builds the image and \
             runs this test against its root filesystem)"
        );
        return;
    };
    let s3 = LocalS3::builder().bucket(BUCKET).start().await.unwrap();
    let mut csv = b"id,city,amount\n".to_vec();
    for i in 0..2000 {
        csv.extend_from_slice(format!("{i},\"Zürich, CH\",{}.5\n", i * 3).as_bytes());
    }

    // The state machine's job: the report is written, and the log is JSON on stdout.
    let job = s3
        .upload_job(BUCKET, "incoming/image test/data.csv", &csv)
        .await
        .unwrap();
    let job = serde_json::to_value(job).unwrap();
    let output = image.run(&task_env(&s3, &job), &[]).await;
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(last_log(&output)["fields"]["message"], "done");
    // The image's binary prints its one metrics line too, as CloudWatch's EMF specification
    // has it (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
    let stdout = String::from_utf8_lossy(&output.stdout);
    let metrics: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains("\"_aws\""))
        .collect();
    assert_eq!(metrics.len(), 1, "{stdout}");
    shared::parse_emf(metrics[0]).unwrap_or_else(|e| panic!("{e}: {}", metrics[0]));
    let report = s3
        .client()
        .get_object()
        .bucket(BUCKET)
        .key("processed/image test/data.csv.report.json")
        .send()
        .await
        .expect("the report was written");
    let report: Value =
        serde_json::from_slice(&report.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(report["records"]["valid"], 2000);
    assert_eq!(report["processing"]["processor"], "fargate");

    // A failure still maps to its exit code (the state machine's Catch depends on it).
    let mut missing = job.clone();
    missing["object"]["key"] = "incoming/not-there.csv".into();
    let output = image.run(&task_env(&s3, &missing), &[]).await;
    assert_eq!(
        output.status.code(),
        Some(ErrorName::SourceMissing.exit_code())
    );
    assert_eq!(last_log(&output)["fields"]["error"], "SourceMissing");

    // --help needs nothing from the environment.
    let output = image.run(&[], &["--help"]).await;
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("PIPELINE_JOB"));
    s3.shutdown().await;
}
