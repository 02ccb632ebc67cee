//! The web page at `/ui` on the pipeline's endpoint: over plain HTTP (the list, an execution's
//! page, the fingerprint the pages poll), and in a real browser: Debian's headless Chromium
//! loads the pages after three uploads (a success, a contract object with rejects, a failure
//! whose key holds `<script>`), the DOM is checked for each execution and report, and a
//! screenshot of each page is kept in `target/ui-test/` (or `PIPELINE_UI_ARTIFACTS`).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use local_pipeline::execution::{ExecutionRecord, ExecutionStatus};
use local_pipeline::pipeline::RunningPipeline;

use super::pipeline::{ended, options, upload};

/// The three uploads: a CSV that succeeds (with one malformed record), sales orders under `contracts/sales.toml` (3 of 33
/// records rejected), and binary data (`UnsupportedFormat`) under a key holding markup.
const PEOPLE: &str = "incoming/people.csv";
const ORDERS: &str = "incoming/sales/region=eu/day=2026-12-02/orders.csv";
const HOSTILE: &str = "incoming/<script>alert('key')</script>.bin";

async fn start_with_uploads() -> (RunningPipeline, Vec<ExecutionRecord>) {
    let mut options = options();
    options.contracts_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts"));
    let pipeline = RunningPipeline::start(options).await.unwrap();
    // The people sample and one ragged row: a malformed record to list.
    let mut people = include_bytes!("../samples/people.csv").to_vec();
    people.extend_from_slice(b"10,Ragged Row,1950-01-01\n");
    upload(&pipeline, PEOPLE, people).await;
    upload(
        &pipeline,
        ORDERS,
        include_bytes!("../samples/sales/orders.csv").to_vec(),
    )
    .await;
    upload(&pipeline, HOSTILE, b"\x00\x01binary\x00data".to_vec()).await;
    let records = ended(&pipeline, 3).await;
    (pipeline, records)
}

fn name_of<'a>(records: &'a [ExecutionRecord], key: &str) -> &'a str {
    &records
        .iter()
        .find(|r| local_pipeline::demo::execution_key(r).as_deref() == Some(key))
        .unwrap_or_else(|| panic!("no execution for {key}"))
        .name
}

/// `GET path` on the endpoint: the status line's code, the content type, the body.
async fn get(endpoint: &str, path: &str) -> (u16, String, String) {
    let address = endpoint.trim_start_matches("http://").to_owned();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let content_type = head
            .lines()
            .find_map(|line| line.strip_prefix("content-type: "))
            .unwrap_or_default()
            .to_owned();
        (status, content_type, dechunk(body))
    })
    .await
    .unwrap()
}

/// A body sent in chunks (`Transfer-Encoding: chunked`), joined; any other as it is.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_owned();
        };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    if out.is_empty() { body.to_owned() } else { out }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ui_lists_each_execution_draws_its_path_and_renders_its_report() {
    let (pipeline, records) = start_with_uploads().await;
    let endpoint = pipeline.endpoint();

    let (status, content_type, index) = get(&endpoint, "/ui").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert_eq!(
        index.matches("<tr class=\"execution\"").count(),
        3,
        "{index}"
    );
    // The key is text, never markup: the page's one script is its own.
    assert_eq!(index.matches("<script>").count(), 1, "{index}");
    assert!(index.contains("incoming/&lt;script&gt;alert(&#39;key&#39;)&lt;/script&gt;.bin"));
    assert!(index.contains("<td class=\"error\">UnsupportedFormat</td>"));

    let orders = name_of(&records, ORDERS);
    let (status, _, page) = get(&endpoint, &format!("/ui/execution?name={orders}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("<g class=\"state visited\" data-state=\"ProcessInLambda\">"));
    assert!(
        page.contains("data-written=\"30\" data-rejected=\"3\""),
        "{page}"
    );
    assert_eq!(page.matches("<tr class=\"reject\">").count(), 3);

    // A new execution moves the fingerprint the pages poll; an unknown name is a 404.
    let (_, _, before) = get(&endpoint, "/ui/fingerprint").await;
    assert_eq!(before, "3-3");
    upload(&pipeline, "incoming/again.csv", b"a,b\n1,2\n".to_vec()).await;
    ended(&pipeline, 4).await;
    let (_, _, after) = get(&endpoint, "/ui/fingerprint").await;
    assert_eq!(after, "4-4");
    let (status, _, _) = get(&endpoint, "/ui/execution?name=nope").await;
    assert_eq!(status, 404);
    let (status, _, _) = get(&endpoint, "/ui/elsewhere").await;
    assert_eq!(status, 404);
    pipeline.shutdown().await;
}

/// Where the screenshots go.
fn artifacts() -> PathBuf {
    std::env::var_os("PIPELINE_UI_ARTIFACTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-test"),
        PathBuf::from,
    )
}

/// Runs headless Chromium on `url` with `flags` (`--dump-dom`: the DOM once the page's
/// scripts ran; `--screenshot=FILE`); its standard output.
fn chromium(url: &str, flags: &[&str], profile: &Path) -> String {
    let output = Command::new("timeout")
        .arg("60")
        .arg(std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into()))
        .args([
            "--headless",
            // As root (CI, containers), Chromium refuses to start without it.
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(flags)
        .arg(url)
        .output()
        .expect("chromium runs (scripts/setup-tools chromium installs it)");
    assert!(
        output.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Debian's chromium: `make ui-test` installs it and runs this"]
async fn in_chromium_the_ui_shows_each_execution_its_path_and_its_report() {
    let (pipeline, records) = start_with_uploads().await;
    let endpoint = pipeline.endpoint();
    let out = artifacts();
    std::fs::create_dir_all(&out).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let browse = |path: String, flags: Vec<String>| {
        let url = format!("{endpoint}{path}");
        let profile = profile.path().to_owned();
        async move {
            tokio::task::spawn_blocking(move || {
                let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
                chromium(&url, &flags, &profile)
            })
            .await
            .unwrap()
        }
    };
    let dump = |path: String| browse(path, vec!["--dump-dom".into()]);

    // The list: one row per upload, its status, route and error; the key as text.
    let index = dump("/ui".into()).await;
    for record in &records {
        let row = format!(
            "<tr class=\"execution\" data-name=\"{}\" data-status=\"{}\">",
            record.name,
            record.status.as_str()
        );
        assert!(index.contains(&row), "{row} not in {index}");
    }
    assert_eq!(index.matches("<script").count(), 1, "{index}");
    assert!(
        index.contains("&lt;script&gt;alert('key')&lt;/script&gt;.bin"),
        "{index}"
    );
    assert!(index.contains("<td class=\"route\">lambda</td>"));
    assert!(index.contains("<td class=\"error\">UnsupportedFormat</td>"));

    // The success: its path and its report's columns with types and null shares.
    let people = dump(format!("/ui/execution?name={}", name_of(&records, PEOPLE))).await;
    for state in ["PrepareJob", "Route", "ProcessInLambda", "Processed"] {
        assert!(
            people.contains(&format!(
                "<g class=\"state visited\" data-state=\"{state}\">"
            )),
            "{state} not visited in {people}"
        );
    }
    assert!(people.contains("<g class=\"state\" data-state=\"ProcessInFargate\">"));
    assert!(
        people.contains("<tr class=\"column\" data-column=\"born\">"),
        "{people}"
    );
    assert!(people.contains("<td class=\"type\">date</td>"));
    assert!(people.contains("class=\"nulls\" data-share="));
    assert!(
        people.contains("<span id=\"malformed-count\">1</span>"),
        "{people}"
    );
    assert!(people.contains("<table id=\"malformed\">"));

    // The contract object: records written and rejected, the first rejects.
    let orders = dump(format!("/ui/execution?name={}", name_of(&records, ORDERS))).await;
    assert!(
        orders.contains("data-written=\"30\" data-rejected=\"3\""),
        "{orders}"
    );
    assert_eq!(
        orders.matches("<tr class=\"reject\">").count(),
        3,
        "{orders}"
    );
    assert!(orders.contains("below_min") || orders.contains("type"));

    // The failure: its Fail state marked, no report, the hostile key as text.
    let hostile_name = name_of(&records, HOSTILE);
    let failed = dump(format!("/ui/execution?name={hostile_name}")).await;
    assert!(
        failed.contains(
            "<g class=\"state visited failed\" data-state=\"Failed: UnsupportedFormat\">"
        ),
        "{failed}"
    );
    assert!(failed.contains("<p id=\"no-report\">"));
    assert_eq!(failed.matches("<script").count(), 1, "{failed}");

    // Screenshots: the list and the contract object's page.
    for (path, file) in [
        ("/ui".to_owned(), "ui.png"),
        (
            format!("/ui/execution?name={}", name_of(&records, ORDERS)),
            "ui-execution.png",
        ),
    ] {
        let shot = out.join(file);
        let _ = std::fs::remove_file(&shot);
        browse(path, vec![format!("--screenshot={}", shot.display())]).await;
        let png = std::fs::read(&shot).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{} is no PNG", shot.display());
    }
    assert!(
        records
            .iter()
            .filter(|r| r.status == ExecutionStatus::Succeeded)
            .count()
            == 2
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    pipeline.shutdown().await;
}
