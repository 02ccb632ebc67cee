//! `kill -9` during writes: a server process (this test binary, re-run as
//! [`crash_child_server`]) is killed while clients PUT, overwrite and upload in parts; a new
//! server on the same data folder must hold every acknowledged object intact, and nothing that
//! was not acknowledged but whole bytes of a write that was under way.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use local_s3::LocalS3;

use crate::support::{BUCKET, collect};

const ROOT_VAR: &str = "LOCAL_S3_CRASH_ROOT";

/// The server process the crash test kills: run by it only (with `--ignored --exact`), it
/// serves the folder `LOCAL_S3_CRASH_ROOT` names, prints `PORT <n>`, and never returns.
#[test]
#[ignore = "the crash test's child process: started by it, never alone"]
fn crash_child_server() {
    let root = std::env::var(ROOT_VAR).expect("run by the crash test, with LOCAL_S3_CRASH_ROOT");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let s3 = LocalS3::builder()
            .root(&root)
            .bucket(BUCKET)
            .start()
            .await
            .unwrap();
        println!("PORT {}", s3.addr().port());
        std::future::pending::<()>().await;
    });
}

struct Child9 {
    child: Child,
    client: Client,
}

fn spawn(root: &Path) -> Child9 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash::crash_child_server",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROOT_VAR, root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let port = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.split("PORT ").nth(1).map(str::to_owned))
        .expect("the child server prints its port")
        .parse::<u16>()
        .unwrap();
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .force_path_style(true)
        .region(Region::new(local_s3::DEFAULT_REGION))
        .credentials_provider(Credentials::new(
            local_s3::DEFAULT_ACCESS_KEY,
            local_s3::DEFAULT_SECRET_KEY,
            None,
            None,
            "crash",
        ))
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    Child9 {
        child,
        client: Client::from_conf(config),
    }
}

/// The body of write number `attempt` of `key`: recognisable, of varying size.
fn body(key: &str, attempt: usize) -> Vec<u8> {
    let size = 100 + (attempt * 7919 + key.len() * 104_729) % 300_000;
    format!("{key}#{attempt};")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(size)
        .collect()
}

const MIB: usize = 1 << 20;

fn multipart_body(key: &str, attempt: usize) -> Vec<u8> {
    let mut bytes = body(key, attempt);
    bytes.resize(5 * MIB + 1000, b'.');
    bytes
}

/// Per key: the writes sent (attempt numbers), and the last one acknowledged.
#[derive(Debug, Default, Clone)]
struct Ledger {
    sent: Vec<usize>,
    acknowledged: Option<usize>,
    multipart: bool,
}

type Ledgers = Arc<Mutex<HashMap<String, Ledger>>>;

async fn writer(client: Client, task: usize, first: usize, ledgers: Ledgers) {
    for attempt in first.. {
        // Each task overwrites a few keys over and over.
        let key = format!("incoming/t{task}/k{}", attempt % 3);
        let multipart = task == 0 && attempt % 4 == 1;
        {
            let mut ledgers = ledgers.lock().unwrap();
            let ledger = ledgers.entry(key.clone()).or_default();
            ledger.sent.push(attempt);
            ledger.multipart |= multipart;
        }
        let result = if multipart {
            upload_in_parts(&client, &key, &multipart_body(&key, attempt)).await
        } else {
            client
                .put_object()
                .bucket(BUCKET)
                .key(&key)
                .body(ByteStream::from(body(&key, attempt)))
                .send()
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        };
        match result {
            Ok(()) => {
                ledgers.lock().unwrap().get_mut(&key).unwrap().acknowledged = Some(attempt);
            }
            Err(_) => return, // the server is gone
        }
    }
}

async fn upload_in_parts(client: &Client, key: &str, bytes: &[u8]) -> Result<(), String> {
    let error = |e: &dyn std::fmt::Display| e.to_string();
    let created = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map_err(|e| error(&e))?;
    let upload_id = created.upload_id().unwrap_or_default();
    let mut parts = Vec::new();
    for (number, chunk) in (1..).zip(bytes.chunks(5 * MIB)) {
        let uploaded = client
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| error(&e))?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(uploaded.e_tag)
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map(drop)
        .map_err(|e| error(&e))
}

/// Which write's bytes `stored` are, if any whole one.
fn which_write(key: &str, ledger: &Ledger, stored: &[u8]) -> Option<usize> {
    ledger.sent.iter().copied().find(|&attempt| {
        let expected = if ledger.multipart && stored.len() > 5 * MIB {
            multipart_body(key, attempt)
        } else {
            body(key, attempt)
        };
        expected == stored
    })
}

async fn check(client: &Client, ledgers: &HashMap<String, Ledger>) -> usize {
    let mut checked = 0;
    for (key, ledger) in ledgers {
        let stored = match client.get_object().bucket(BUCKET).key(key).send().await {
            Ok(output) => Some(collect(output.body).await),
            Err(_) => None,
        };
        match (ledger.acknowledged, stored) {
            (Some(acked), Some(stored)) => {
                let found = which_write(key, ledger, &stored)
                    .unwrap_or_else(|| panic!("{key}: the stored bytes are no write's"));
                // The acknowledged write, or one sent after it (under way at the kill).
                assert!(
                    found >= acked,
                    "{key}: write {found} is older than the acknowledged {acked}"
                );
                checked += 1;
            }
            (Some(acked), None) => panic!("{key}: acknowledged write {acked} is lost"),
            (None, Some(stored)) => {
                assert!(
                    which_write(key, ledger, &stored).is_some(),
                    "{key}: unacknowledged and not whole"
                );
            }
            (None, None) => {}
        }
    }
    // Nothing listed that nobody wrote.
    let listed = client
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    for object in listed.contents() {
        assert!(ledgers.contains_key(object.key().unwrap()), "{object:?}");
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_and_nothing_else_is_visible() {
    let root = tempfile::tempdir().unwrap();
    let ledgers: Ledgers = Arc::default();
    let mut acknowledged = 0;
    for round in 0..3u64 {
        let mut server = spawn(root.path());
        if round > 0 {
            // What the last round left is intact before anything new is written.
            let snapshot = ledgers.lock().unwrap().clone();
            acknowledged = check(&server.client, &snapshot).await;
        }
        let writers: Vec<_> = (0..4)
            .map(|task| {
                let first = usize::try_from(round).unwrap() * 1_000_000;
                tokio::spawn(writer(
                    server.client.clone(),
                    task,
                    first,
                    Arc::clone(&ledgers),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(400 + 250 * round)).await;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        for writer in writers {
            writer.await.unwrap();
        }
    }
    let server = spawn(root.path());
    let snapshot = ledgers.lock().unwrap().clone();
    acknowledged = acknowledged.max(check(&server.client, &snapshot).await);
    assert!(
        acknowledged > 0,
        "no write was acknowledged before the kills"
    );
    assert!(
        snapshot
            .values()
            .any(|l| l.multipart && l.acknowledged.is_some()),
        "no multipart upload completed: {snapshot:?}"
    );
    // Staging files of the killed servers are gone.
    assert!(crate::support::files_under(&root.path().join("tmp")).is_empty());
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
