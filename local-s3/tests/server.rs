//! The server's life: credentials, ports, data folders, shutdown.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::Credentials;
use local_s3::{LocalS3, Operation};

use crate::support::{BUCKET, code_and_status, get, put};

fn temp_root(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("local-s3-test-{name}-{}", std::process::id()))
}

#[tokio::test]
async fn a_given_root_keeps_the_data_across_restarts() {
    let root = temp_root("restart");
    let _ = std::fs::remove_dir_all(&root);
    let s3 = LocalS3::builder()
        .root(&root)
        .bucket(BUCKET)
        .start()
        .await
        .unwrap();
    put(&s3.client(), "kept", b"data").await;
    s3.shutdown().await;
    assert!(root.join(local_s3::FORMAT_FILE).is_file());
    assert!(!root.join(BUCKET).exists(), "keys are not paths");

    // Same folder, same bucket asked again: no error, the object is there.
    let s3 = LocalS3::builder()
        .root(&root)
        .bucket(BUCKET)
        .start()
        .await
        .unwrap();
    assert_eq!(get(&s3.client(), "kept").await, b"data");
    s3.shutdown().await;
    std::fs::remove_dir_all(&root).unwrap();
}

#[tokio::test]
async fn a_temporary_root_is_removed_at_shutdown_and_the_port_closed() {
    let s3 = LocalS3::builder().bucket(BUCKET).start().await.unwrap();
    let root = s3.root().to_owned();
    let addr = s3.addr();
    assert!(s3.endpoint().starts_with("http://127.0.0.1:"));
    assert!(root.starts_with(std::env::temp_dir().canonicalize().unwrap()));
    put(&s3.client(), "k", b"x").await;
    s3.shutdown().await;
    assert!(!root.exists());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_fixed_port_and_custom_settings_are_honoured() {
    // Find a free port, then ask for it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s3 = LocalS3::builder()
        .port(port)
        .credentials("AKIDLOCAL", "s3cr3t")
        .region("eu-west-3")
        .bucket("one")
        .bucket("two")
        .start()
        .await
        .unwrap();
    assert_eq!(s3.addr().port(), port);
    assert_eq!(s3.credentials(), ("AKIDLOCAL", "s3cr3t"));
    let client = s3.client();
    let location = client
        .get_bucket_location()
        .bucket("two")
        .send()
        .await
        .unwrap();
    assert_eq!(
        location
            .location_constraint
            .map(|c| c.as_str().to_owned())
            .as_deref(),
        Some("eu-west-3")
    );
    let env = s3.env_vars();
    assert!(env.contains(&("AWS_ENDPOINT_URL", s3.endpoint())));
    assert!(env.contains(&("AWS_ACCESS_KEY_ID", "AKIDLOCAL".to_owned())));

    // The port is taken now.
    let taken = LocalS3::builder().port(port).start().await.unwrap_err();
    assert!(matches!(taken, local_s3::Error::Bind { .. }), "{taken}");
    s3.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_are_refused_before_reaching_the_store() {
    let s3 = LocalS3::builder().bucket(BUCKET).start().await.unwrap();
    let intruder = Client::from_conf(
        s3.client_config()
            .credentials_provider(Credentials::new("local", "wrong", None, None, "test"))
            .build(),
    );
    let error = intruder
        .head_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&error).1, 403);
    let unknown = Client::from_conf(
        s3.client_config()
            .credentials_provider(Credentials::new("nobody", "x", None, None, "test"))
            .build(),
    );
    assert!(unknown.list_buckets().send().await.is_err());
    assert_eq!(s3.requests_seen(Operation::Any), 0);
    s3.shutdown().await;
}

#[tokio::test]
async fn invalid_bucket_names_fail_the_start() {
    let error = LocalS3::builder()
        .bucket("Not_A_Bucket")
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(error, local_s3::Error::InvalidBucketName(_)),
        "{error}"
    );
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let s3 = LocalS3::builder().start().await.unwrap();
    let addr = s3.addr();
    let root = s3.root().to_owned();
    drop(s3);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert!(!root.exists());
}
