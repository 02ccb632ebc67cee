//! Serves a local S3 until Ctrl-C, for trying it with any client:
//!
//! ```text
//! cargo run -p local-s3 --example serve -- [--root DIR] [--port N] [--bucket NAME]... [--versioned-bucket NAME]...
//! eval "$(...)"   # the first lines printed are `export` lines for the AWS CLI and SDKs
//! aws s3 ls s3://NAME/
//! ```

use std::process::ExitCode;

use local_s3::LocalS3;

#[tokio::main]
async fn main() -> ExitCode {
    let mut builder = LocalS3::builder();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("{flag} needs a value");
            return ExitCode::from(2);
        };
        builder = match flag.as_str() {
            "--root" => builder.root(value),
            "--bucket" => builder.bucket(value),
            "--versioned-bucket" => builder.versioned_bucket(value),
            "--port" => match value.parse() {
                Ok(port) => builder.port(port),
                Err(error) => {
                    eprintln!("--port {value}: {error}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!(
                    "usage: serve [--root DIR] [--port N] [--bucket NAME]... [--versioned-bucket NAME]..."
                );
                return ExitCode::from(2);
            }
        };
    }
    let s3 = match builder.start().await {
        Ok(s3) => s3,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    for (name, value) in s3.env_vars() {
        println!("export {name}={value}");
    }
    eprintln!(
        "serving {} from {} until Ctrl-C",
        s3.endpoint(),
        s3.root().display()
    );
    let mut created = s3.subscribe();
    tokio::spawn(async move {
        while let Ok(event) = created.recv().await {
            let version = event
                .version_id
                .map(|v| format!(", version {v}"))
                .unwrap_or_default();
            eprintln!(
                "{} s3://{}/{} ({} bytes, etag {}{version}, sequencer {})",
                event.reason, event.bucket, event.key, event.size, event.etag, event.sequencer
            );
        }
    });
    let _ = tokio::signal::ctrl_c().await;
    s3.shutdown().await;
    ExitCode::SUCCESS
}
