//! A smaller cross-check against a second, independent S3 implementation: moto's server.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use shared::ErrorName;
use shared::job::encode_event_key;
use shared::{Job, JobObject};
use storage::{ReadPlan, ReportStatus, S3Store, StopSignal, run_job};

use crate::settings;

/// moto's server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    std::env::var_os("PIPELINE_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python"),
        PathBuf::from,
    )
}

fn start_moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(python())
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start moto with {}: {e}; run scripts/setup-tools (or set PIPELINE_PYTHON)",
                python().display()
            )
        });
    let mut moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = moto.child.try_wait() {
            panic!(
                "moto exited at start ({status}): is moto[server] installed? run scripts/setup-tools"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto did not start in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .build();
    Client::from_conf(config)
}

#[tokio::test]
async fn jobs_run_the_same_against_moto() {
    let moto = start_moto();
    let client = client(&moto.endpoint);
    client.create_bucket().bucket("cross").send().await.unwrap();
    let store = S3Store::new(client.clone());
    let body = crate::sample_csv();
    let key = "incoming/moto check/é+1.csv";
    let put = client
        .put_object()
        .bucket("cross")
        .key(key)
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    let job = Job {
        bucket: "cross".into(),
        object: JobObject {
            key: encode_event_key(key),
            size: body.len() as u64,
            etag: put.e_tag().map(|e| e.trim_matches('"').to_owned()),
            version_id: None,
            sequencer: Some("01".into()),
        },
    };
    let ranged = ReadPlan::Ranged {
        part_size: 1000,
        concurrency: 3,
    };
    let outcome = run_job(&store, &job, &settings(ranged), &StopSignal::never())
        .await
        .unwrap();
    assert_eq!(outcome.status, ReportStatus::Written);
    assert_eq!(outcome.records.unwrap().valid, 300);
    let again = run_job(
        &store,
        &job,
        &settings(ReadPlan::Whole),
        &StopSignal::never(),
    )
    .await
    .unwrap();
    assert_eq!(again.status, ReportStatus::AlreadyDone);

    // moto answers the same preconditions: a changed object is SourceChanged.
    client
        .put_object()
        .bucket("cross")
        .key(key)
        .body(b"a\n1\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let error = run_job(
        &store,
        &job,
        &settings(ReadPlan::Whole),
        &StopSignal::never(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.name(), ErrorName::SourceChanged, "{error}");
    // And a vanished one SourceMissing.
    client
        .delete_object()
        .bucket("cross")
        .key(key)
        .send()
        .await
        .unwrap();
    let error = run_job(&store, &job, &settings(ranged), &StopSignal::never())
        .await
        .unwrap_err();
    assert_eq!(error.name(), ErrorName::SourceMissing, "{error}");
}
