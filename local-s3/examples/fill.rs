//! Fills a data folder with many small objects quickly (through the store, in large
//! transactions, not over HTTP), then measures how long the server takes to start on it, and
//! on an empty folder:
//!
//! ```text
//! cargo run --release -p local-s3 --example fill -- [--root DIR] [--count N] [--bucket NAME]
//! ```
//!
//! Defaults: a temporary folder (removed at the end), 100,000 objects, bucket `uploads`. A
//! folder given with `--root` is kept, so `local-pipeline serve --data-dir DIR` can be timed
//! on it too.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use local_s3::{LocalS3, ObjectStore, Versioning};

const BATCH: usize = 10_000;

#[tokio::main]
async fn main() -> ExitCode {
    let mut root: Option<PathBuf> = None;
    let mut count = 100_000usize;
    let mut bucket = "uploads".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("{flag} needs a value");
            return ExitCode::from(2);
        };
        match flag.as_str() {
            "--root" => root = Some(value.into()),
            "--bucket" => bucket = value,
            "--count" => match value.parse() {
                Ok(n) => count = n,
                Err(error) => {
                    eprintln!("--count {value}: {error}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("usage: fill [--root DIR] [--count N] [--bucket NAME]");
                return ExitCode::from(2);
            }
        }
    }
    let temporary = root.is_none();
    let root = root.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("local-s3-fill-{}", std::process::id()))
    });
    let empty = std::env::temp_dir().join(format!("local-s3-empty-{}", std::process::id()));
    match run(&root, &empty, &bucket, count).await {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&empty);
            if temporary {
                let _ = std::fs::remove_dir_all(&root);
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    root: &std::path::Path,
    empty: &std::path::Path,
    bucket: &str,
    count: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    {
        let store = ObjectStore::open(root)?;
        store.create_bucket(bucket, Versioning::Disabled)?;
        let mut done = 0;
        while done < count {
            let n = BATCH.min(count - done);
            let bodies: Vec<(String, Vec<u8>)> = (done..done + n)
                .map(|i| {
                    (
                        format!("incoming/{:03}/file-{i:07}.csv", i % 1000),
                        format!("id,value\n{i},{}\n", i * 7).into_bytes(),
                    )
                })
                .collect();
            store.seed(
                bucket,
                bodies.iter().map(|(k, b)| (k.clone(), b.as_slice())),
            )?;
            done += n;
        }
    }
    println!(
        "filled {} with {count} objects in {:.1?}",
        root.display(),
        started.elapsed()
    );

    for (label, folder) in [("empty folder", empty), ("filled folder", root)] {
        let started = Instant::now();
        let s3 = LocalS3::builder()
            .root(folder)
            .bucket(bucket)
            .start()
            .await?;
        let elapsed = started.elapsed();
        let listed = s3
            .client()
            .list_objects_v2()
            .bucket(bucket)
            .max_keys(1)
            .send()
            .await?;
        println!(
            "start on the {label}: {elapsed:.1?} (first key {:?})",
            listed.contents().first().and_then(|o| o.key())
        );
        s3.shutdown().await;
    }
    Ok(())
}
