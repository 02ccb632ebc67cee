//! Peak memory and throughput of the Fargate program on large objects from a loopback S3.
//!
//! ```text
//! cargo build --release -p fargate-processor --example bench_ranged --bin fargate-processor
//! target/release/examples/bench_ranged [--sizes-mib 1024,4096] [--root target/bench-s3]
//!     [--binary target/release/fargate-processor] [--contract bench/bench_rows.toml]
//!     [--workers 1,2] [--skip-core true]
//! ```
//!
//! `--workers` lists the parsing thread counts to run the program with (`PIPELINE_THREADS`;
//! default: the CPUs this process may use); each count is a row. `--skip-core true` leaves
//! out the last two columns (reading the object back and parsing it in memory).
//!
//! Starts a local S3 (s3s-fs) on loopback with its data in `--root` (kept between runs, so
//! the objects are uploaded once), uploads a generated CSV of each size with a multipart
//! upload, then runs the release `fargate-processor` on each under `/usr/bin/time`, with the
//! environment the image gives it (the Dockerfile's `ENV`: its allocator's options), and prints
//! wall time, MB/s, the program's CPU time and peak RSS. The server runs in this process, so
//! the program's figures are its own (but on a small machine the server competes for cores).
//!
//! The rows have the columns of `bench/bench_rows.toml` (the bench's rows.csv). With
//! `--contract FILE` the program gets that contract (`PIPELINE_CONTRACTS_DIR`), the objects
//! go under its prefix, and each is converted: Parquet and rejects streamed into multipart
//! uploads. A second table then gives the records written and rejected and the outputs'
//! sizes, from the report.
//!
//! Last column: the end-to-end throughput against the core's in memory on the same bytes
//! (the object's file read into memory first, then fed to `shared::Processor` in 8 MiB
//! chunks on one thread, timed without the read): the issue's target is at least 80 %.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use local_s3::{LocalS3, RunningS3};
use shared::encode_event_key;

const BUCKET: &str = "bench";
/// The image's definition, for the environment it gives the program.
const DOCKERFILE: &str = include_str!("../../Dockerfile");
const PART: usize = 16 * 1024 * 1024;

struct Options {
    sizes_mib: Vec<u64>,
    root: String,
    binary: String,
    /// A contract file, copied into a folder of its own for `PIPELINE_CONTRACTS_DIR`.
    contract: Option<std::path::PathBuf>,
    /// The parsing thread counts to run the program with.
    workers: Vec<usize>,
    /// Leave out the core-in-memory figure.
    skip_core: bool,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        sizes_mib: vec![1024, 4096],
        root: "target/bench-s3".into(),
        binary: "target/release/fargate-processor".into(),
        contract: None,
        workers: vec![std::thread::available_parallelism().map_or(1, usize::from)],
        skip_core: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sizes-mib" => {
                options.sizes_mib = value
                    .split(',')
                    .map(|s| s.parse().map_err(|e| format!("--sizes-mib {s}: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--root" => options.root = value,
            "--binary" => options.binary = value,
            "--contract" => options.contract = Some(value.into()),
            "--workers" => {
                options.workers = value
                    .split(',')
                    .map(|s| match s.parse() {
                        Ok(0) | Err(_) => Err(format!("--workers {s}: a positive count")),
                        Ok(n) => Ok(n),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--skip-core" => {
                options.skip_core = value
                    .parse()
                    .map_err(|e| format!("--skip-core {value}: {e}"))?;
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(options)
}

/// Deterministic CSV rows with the columns of `bench/bench_rows.toml`: integer, decimal,
/// boolean, date, timestamp, city, status, a quantity (empty one time in eight) and a note.
struct Rows {
    state: u64,
    id: u64,
}

impl Rows {
    fn next_value(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn fill(&mut self, buffer: &mut String, bytes: usize) {
        const CITIES: [&str; 6] = ["Paris", "Berlin", "New York", "Zürich", "Lisbon", "Osaka"];
        const STATUSES: [&str; 4] = ["pending", "paid", "shipped", "refunded"];
        while buffer.len() < bytes {
            let r = self.next_value();
            self.id += 1;
            let city = CITIES[(r % 6) as usize];
            let status = STATUSES[((r >> 24) % 4) as usize];
            let quantity = if (r >> 28).is_multiple_of(8) {
                String::new()
            } else {
                ((r >> 32) % 50 + 1).to_string()
            };
            let _ = writeln!(
                buffer,
                "{},{}.{:02},{},20{:02}-{:02}-{:02},2024-{:02}-{:02}T{:02}:{:02}:00Z,{city},{status},{quantity},\"note {}, ok\"",
                self.id,
                r % 100_000,
                r % 100,
                r.is_multiple_of(2),
                r % 25,
                r % 12 + 1,
                r % 28 + 1,
                (r >> 8) % 12 + 1,
                (r >> 12) % 28 + 1,
                (r >> 16) % 24,
                (r >> 20) % 60,
                r % 977,
            );
        }
    }
}

/// Uploads `size` bytes of CSV under `key` with a multipart upload, unless already there.
async fn ensure_object(client: &Client, key: &str, size: u64) -> Result<(), String> {
    if let Ok(head) = client.head_object().bucket(BUCKET).key(key).send().await
        && head
            .content_length()
            .and_then(|l| u64::try_from(l).ok())
            .is_some_and(|l| l >= size)
    {
        return Ok(());
    }
    eprintln!("uploading {key} ({} MiB)", size >> 20);
    let upload = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let upload_id = upload.upload_id().unwrap_or_default().to_owned();
    let mut rows = Rows {
        state: 0x9e37_79b9_7f4a_7c15,
        id: 0,
    };
    let mut buffer = String::from("id,amount,active,day,created_at,city,status,quantity,note\n");
    let mut sent = 0u64;
    let mut parts = Vec::new();
    // Whole parts of about PART bytes (the last one too): the object ends up at least `size`.
    while sent < size {
        rows.fill(&mut buffer, PART);
        // Cut at a line end so the object holds whole rows.
        let cut = buffer.as_bytes()[..PART]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(buffer.len(), |i| i + 1);
        let body: Vec<u8> = buffer.as_bytes()[..cut].to_vec();
        buffer.drain(..cut);
        let number = i32::try_from(parts.len() + 1).unwrap_or(i32::MAX);
        sent += body.len() as u64;
        let part = client
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(body.into())
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_owned))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(())
}

/// The contract of a run, if any.
struct Setup {
    /// The folder holding the contract alone, and the contract.
    contract: Option<(std::path::PathBuf, shared::Contract)>,
}

impl Setup {
    fn new(options: &Options) -> Result<Setup, String> {
        let Some(file) = &options.contract else {
            return Ok(Setup { contract: None });
        };
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let contract = shared::Contract::parse(file, &text).map_err(|e| e.to_string())?;
        let dir = std::path::Path::new(&options.root).join("contracts");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = file.file_name().ok_or("--contract needs a file")?;
        std::fs::write(dir.join(name), text).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Setup {
            contract: Some((dir, contract)),
        })
    }

    /// The key of the object of `size_mib` MiB: under the contract's prefix, if any.
    fn key(&self, size_mib: u64) -> String {
        let prefix = self
            .contract
            .as_ref()
            .map_or("incoming/bench/", |(_, c)| c.prefix.as_str());
        format!("{prefix}rows-{size_mib}MiB.csv")
    }
}

/// What a converted object's report says of its outputs.
struct Converted {
    key: String,
    written: u64,
    rejected: u64,
    parquet_bytes: u64,
    rejects_bytes: u64,
}

/// Uploads the object of `size_mib` MiB if needed, runs the program on it and the core on
/// its bytes, and prints the row; with a contract, returns what its report says.
async fn bench_object(
    s3: &RunningS3,
    options: &Options,
    setup: &Setup,
    size_mib: u64,
) -> Result<Option<Converted>, String> {
    let client = s3.client();
    let key = setup.key(size_mib);
    ensure_object(&client, &key, size_mib << 20)
        .await
        .map_err(|error| format!("upload failed: {error}"))?;
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .map_err(|e| format!("HEAD {key}: {e:?}"))?;
    let size = head
        .content_length()
        .and_then(|l| u64::try_from(l).ok())
        .unwrap_or(0);
    let report = shared::KeyLayout::default().report_key(&key);
    let job = serde_json::json!({
        "bucket": BUCKET,
        "object": {"key": encode_event_key(&key), "size": size,
                   "etag": head.e_tag().unwrap_or_default().trim_matches('"')}
    });
    // Read back through S3: the local S3 keeps its objects in a store of its own.
    let core = if options.skip_core {
        None
    } else {
        let bytes = read_object(&client, &key).await?;
        let seconds = core_in_memory(
            bytes.as_ref(),
            &key,
            setup.contract.as_ref().map(|(_, c)| c),
        )
        .map_err(|error| format!("{key}: the core in memory: {error}"))?;
        Some(size as f64 / 1e6 / seconds)
    };
    for &workers in &options.workers {
        run_program(s3, options, setup, (&key, size, &job), workers, core).await?;
    }
    let Some(_) = &setup.contract else {
        return Ok(None);
    };
    let body = read_object(&client, &report).await?;
    let report: serde_json::Value =
        serde_json::from_slice(body.as_ref()).map_err(|e| format!("{report}: {e}"))?;
    let figure = |name: &str| report["contract"][name].as_u64().unwrap_or(0);
    Ok(Some(Converted {
        key,
        written: figure("records_written"),
        rejected: figure("records_rejected"),
        parquet_bytes: figure("parquet_bytes"),
        rejects_bytes: figure("rejects_bytes"),
    }))
}

/// The variables the Dockerfile's `ENV NAME=VALUE ...` lines set (unquoted values only).
fn image_environment() -> impl Iterator<Item = (&'static str, &'static str)> {
    DOCKERFILE
        .lines()
        .filter_map(|line| line.strip_prefix("ENV "))
        .flat_map(str::split_whitespace)
        .filter_map(|pair| pair.split_once('='))
}

/// Runs the program on the object with `workers` parsing threads and prints its row; `core`
/// is the core's figure in memory (MB/s), if measured.
async fn run_program(
    s3: &RunningS3,
    options: &Options,
    setup: &Setup,
    (key, size, job): (&str, u64, &serde_json::Value),
    workers: usize,
    core: Option<f64>,
) -> Result<(), String> {
    let client = s3.client();
    // A report from an earlier run would make this one a no-op.
    let report = shared::KeyLayout::default().report_key(key);
    let _ = client
        .delete_object()
        .bucket(BUCKET)
        .key(&report)
        .send()
        .await;
    let started = Instant::now();
    let mut command = tokio::process::Command::new("/usr/bin/time");
    if let Some((dir, _)) = &setup.contract {
        command.env("PIPELINE_CONTRACTS_DIR", dir);
    }
    let output = command
        .args(["-f", "%M %U %S", &options.binary])
        .envs(s3.env_vars())
        .envs(image_environment())
        .env("PIPELINE_S3_PATH_STYLE", "true")
        .env("PIPELINE_JOB", job.to_string())
        .env("PIPELINE_THREADS", workers.to_string())
        .env("RUST_LOG", "warn")
        .output()
        .await
        .map_err(|e| format!("/usr/bin/time: {e}"))?;
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("{key}: {}\n{stderr}", output.status));
    }
    let figures: Vec<f64> = stderr
        .lines()
        .last()
        .map(|line| {
            line.split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let (rss_kib, cpu) = match figures[..] {
        [rss, user, system] => (rss, user + system),
        _ => (0.0, 0.0),
    };
    let end_to_end = size as f64 / 1e6 / wall;
    let (core, share) = match core {
        Some(core) => (
            format!("{core:.0}"),
            format!("{:.0} %", 100.0 * end_to_end / core),
        ),
        None => ("-".to_owned(), "-".to_owned()),
    };
    println!(
        "| {key} | {} | {workers} | {wall:.2} | {end_to_end:.0} | {cpu:.2} | {:.0} | {:.1} | {core} | {share} |",
        size >> 20,
        size as f64 / 1e6 / cpu.max(0.01),
        rss_kib / 1024.0,
    );
    Ok(())
}

/// The bytes of `key`.
async fn read_object(client: &Client, key: &str) -> Result<impl AsRef<[u8]> + use<>, String> {
    Ok(client
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("GET {key}: {e:?}"))?
        .body
        .collect()
        .await
        .map_err(|e| format!("GET {key}: {e}"))?
        .into_bytes())
}

/// Seconds the core takes on the object's bytes already in memory: fed in 8 MiB chunks, as
/// the program feeds its parts; with `contract`, converting (its outputs discarded).
fn core_in_memory(
    bytes: &[u8],
    key: &str,
    contract: Option<&shared::Contract>,
) -> Result<f64, String> {
    let started = Instant::now();
    let config = shared::Config::default();
    let mut processor = match contract {
        None => shared::Processor::new(config, Some(key)),
        Some(contract) => {
            let outputs = shared::ConversionOutputs {
                parquet: Box::new(std::io::sink()),
                rejects: Box::new(std::io::sink()),
            };
            let conversion =
                shared::Conversion::new(contract, key, outputs).map_err(|e| e.to_string())?;
            shared::Processor::with_conversion(config, Some(key), conversion)
        }
    };
    for chunk in bytes.chunks(8 << 20) {
        processor.feed(chunk).map_err(|e| e.to_string())?;
    }
    processor.finish().map_err(|e| e.to_string())?;
    Ok(started.elapsed().as_secs_f64())
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
    let setup = match Setup::new(&options) {
        Ok(setup) => setup,
        Err(error) => {
            eprintln!("--contract: {error}");
            return ExitCode::from(2);
        }
    };
    let s3 = match LocalS3::builder()
        .root(&options.root)
        .bucket(BUCKET)
        .start()
        .await
    {
        Ok(s3) => s3,
        Err(error) => {
            eprintln!("cannot start the local S3: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "| object | MiB | workers | wall s | MB/s | CPU s (user+sys) | MB per CPU s | peak RSS MiB | core in memory MB/s (1 thread) | end to end / core |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut converted = Vec::new();
    for size_mib in &options.sizes_mib {
        match bench_object(&s3, &options, &setup, *size_mib).await {
            Ok(outputs) => converted.extend(outputs),
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        }
    }
    if !converted.is_empty() {
        println!();
        println!("| object | records written | records rejected | Parquet MiB | rejects MiB |");
        println!("|---|---|---|---|---|");
        for c in &converted {
            println!(
                "| {} | {} | {} | {:.1} | {:.1} |",
                c.key,
                c.written,
                c.rejected,
                c.parquet_bytes as f64 / 1_048_576.0,
                c.rejects_bytes as f64 / 1_048_576.0
            );
        }
    }
    s3.shutdown().await;
    ExitCode::SUCCESS
}
