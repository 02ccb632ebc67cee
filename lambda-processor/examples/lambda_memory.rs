//! Peak memory of the Lambda function converting a small gzip that expands to hundreds of MB.
//!
//! ```text
//! cargo build --release -p lambda-processor --example lambda_memory --bin lambda-processor
//! target/release/examples/lambda_memory [--mib 300] [--binary target/release/lambda-processor]
//!     [--root target/lambda-memory-s3]
//! ```
//!
//! Starts a local S3 (s3s-fs) on loopback, uploads a gzip CSV of `--mib` MiB uncompressed
//! (a block of 200 rows repeated, so the gzip stays small; one row in twelve has an amount
//! that is no decimal, so the rejects grow with the input, within the default 10 % policy)
//! under the prefix of a contract written for it, then runs the release `lambda-processor`
//! under the local Lambda Runtime API (one invocation, the real binary and its real S3
//! client) and prints the function's peak RSS (`VmHWM` of its process, read after the
//! invocation while it stays warm), its duration, and the outputs' sizes from the report.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use local_lambda::{InvocationResult, LocalFunction};
use local_s3::LocalS3;

const BUCKET: &str = "lambda-memory";
const KEY: &str = "incoming/expand/block.csv.gz";

const CONTRACT: &str = r#"
dataset = "expand"
prefix = "incoming/expand/"

[format]
type = "csv"
header = true

[[columns]]
name = "id"
type = "int64"
nullable = false

[[columns]]
name = "amount"
type = "decimal(12, 2)"

[[columns]]
name = "city"
type = "string"

[[columns]]
name = "note"
type = "string"
"#;

struct Options {
    mib: u64,
    binary: PathBuf,
    root: PathBuf,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        mib: 300,
        binary: "target/release/lambda-processor".into(),
        root: "target/lambda-memory-s3".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--mib" => options.mib = value.parse().map_err(|e| format!("--mib: {e}"))?,
            "--binary" => options.binary = value.into(),
            "--root" => options.root = value.into(),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(options)
}

/// The CSV (`bytes` or a little more) and its gzip.
fn input(bytes: u64) -> Result<(u64, Vec<u8>), String> {
    const CITIES: [&str; 5] = ["Paris", "Berlin", "New York", "Zürich", "Osaka"];
    let mut block = String::new();
    for i in 1..=200u32 {
        let amount = if i % 12 == 0 {
            "n/a".to_owned()
        } else {
            format!("{}.{:02}", i * 37 % 5000, i % 100)
        };
        let city = CITIES[(i % 5) as usize];
        let _ = writeln!(
            block,
            "{i},{amount},{city},\"order {i} for the spring catalogue, delivered by road\""
        );
    }
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let header = "id,amount,city,note\n";
    gzip.write_all(header.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut written = header.len() as u64;
    while written < bytes {
        gzip.write_all(block.as_bytes())
            .map_err(|e| e.to_string())?;
        written += block.len() as u64;
    }
    Ok((written, gzip.finish().map_err(|e| e.to_string())?))
}

/// The peak resident set of process `pid`, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("/proc/{pid}/status has no VmHWM"))
}

async fn measure(options: &Options) -> Result<(), String> {
    let (csv_bytes, gzip) = input(options.mib << 20)?;
    let _ = std::fs::remove_dir_all(&options.root);
    let contracts = options.root.join("contracts");
    std::fs::create_dir_all(&contracts).map_err(|e| format!("{}: {e}", contracts.display()))?;
    std::fs::write(contracts.join("expand.toml"), CONTRACT).map_err(|e| e.to_string())?;
    let s3 = LocalS3::builder()
        .root(options.root.join("s3"))
        .bucket(BUCKET)
        .start()
        .await
        .map_err(|e| format!("local S3: {e}"))?;
    let job = s3
        .upload_job(BUCKET, KEY, &gzip)
        .await
        .map_err(|e| format!("upload: {e}"))?;
    let function = LocalFunction::builder(&options.binary)
        .name("lambda-processor")
        .envs(s3.env_vars())
        .env("PIPELINE_S3_PATH_STYLE", "true")
        .env("PIPELINE_CONTRACTS_DIR", &contracts)
        .timeout(Duration::from_mins(10))
        .start()
        .await
        .map_err(|e| format!("function: {e}"))?;
    let idle = function
        .pid()
        .ok_or("the function has no process")
        .and_then(|pid| peak_rss_kib(pid).map_err(|_| "no VmHWM"))?;
    let started = Instant::now();
    let invocation = function
        .invoke(&serde_json::to_value(&job).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| format!("invoke: {e}"))?;
    let duration = started.elapsed().as_secs_f64();
    let pid = function.pid().ok_or("the function has no process")?;
    let peak = peak_rss_kib(pid)?;
    if let InvocationResult::Error { .. } = &invocation.result {
        return Err(format!("the invocation failed: {:?}", invocation.result));
    }
    function.shutdown().await;
    let report_key = shared::KeyLayout::default().report_key(KEY);
    let body = s3
        .client()
        .get_object()
        .bucket(BUCKET)
        .key(&report_key)
        .send()
        .await
        .map_err(|e| format!("GET {report_key}: {e:?}"))?
        .body
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .into_bytes();
    let full: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let contract = &full["contract"];
    let mib = |name: &str| contract[name].as_f64().unwrap_or(0.0) / 1_048_576.0;
    println!(
        "| binary | gzip MiB | CSV MiB | records written | rejected | Parquet MiB | rejects MiB | duration s | RSS at init MiB | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {:.2} | {:.0} | {} | {} | {:.1} | {:.1} | {duration:.2} | {:.1} | {:.1} |",
        options.binary.display(),
        gzip.len() as f64 / 1_048_576.0,
        csv_bytes as f64 / 1_048_576.0,
        contract["records_written"],
        contract["records_rejected"],
        mib("parquet_bytes"),
        mib("rejects_bytes"),
        idle as f64 / 1024.0,
        peak as f64 / 1024.0,
    );
    s3.shutdown().await;
    let _ = std::fs::remove_dir_all(&options.root);
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    if !Path::new(&options.binary).exists() {
        eprintln!(
            "{}: no such binary (build it first)",
            options.binary.display()
        );
        return ExitCode::from(2);
    }
    match measure(&options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
