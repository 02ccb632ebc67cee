//! The local pipeline's web page, at `/ui` on its endpoint (`make serve`): recent uploads and
//! their executions, one execution's path through the state machine drawn from the generated
//! definition and its history, and its report rendered for people. It reloads itself as
//! executions start and end.
//!
//! [`model`] turns executions, the definition and reports into what the pages show,
//! [`render`] writes that as HTML (escaping every key, name and value); [`UiPages`], the
//! endpoint's [`PageService`], only routes and reads:
//!
//! - `GET /ui`: the most recent executions ([`RECENT`]);
//! - `GET /ui/execution?name=<execution name>`: one execution and its report;
//! - `GET /ui/fingerprint`: a text that changes when an execution starts or ends (the pages
//!   poll it).

pub mod model;
pub mod render;

use std::sync::OnceLock;

use bytes::Bytes;
use http::StatusCode;
use local_s3::{Page, PageService};
use serde_json::Value;

use crate::execution::{ExecutionStatus, Executions};
use model::{ExecutionPath, ExecutionRow, ReportView, StateGraph};

/// The path the pages are served under.
pub const PATH: &str = "/ui";

/// How many executions the list shows, most recent first.
pub const RECENT: usize = 100;

/// How many rejected records the execution page shows.
pub const FIRST_REJECTS: usize = 5;

/// How much of a rejects file is read for them (bytes).
const REJECTS_READ: u64 = 64 * 1024;

const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// What the pages read: the executions, the state machine, the bucket and where reports are.
pub struct UiState {
    /// Every execution.
    pub executions: Executions,
    /// The state machine's definition as a graph, or why it cannot be drawn.
    pub graph: Result<StateGraph, model::GraphError>,
    /// The upload bucket.
    pub bucket: String,
    /// Where inputs and reports are.
    pub layout: shared::KeyLayout,
    /// A client of the endpoint's S3, to read reports and rejects.
    pub s3: aws_sdk_s3::Client,
}

/// The pages, served by the endpoint from its start; they answer 503 until the pipeline has
/// set their [`UiState`] (the state machine and the S3 client exist only once S3 is up).
#[derive(Default)]
pub struct UiPages(OnceLock<UiState>);

impl UiPages {
    /// Sets what the pages read (once; later calls are ignored).
    pub fn set(&self, state: UiState) {
        let _ = self.0.set(state);
    }
}

fn page(status: StatusCode, content_type: &'static str, body: String) -> Page {
    Page {
        status,
        content_type,
        body: Bytes::from(body),
    }
}

#[async_trait::async_trait]
impl PageService for UiPages {
    fn path(&self) -> &str {
        PATH
    }

    async fn get(&self, path: &str, query: &str) -> Page {
        let Some(state) = self.0.get() else {
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                "the pipeline is starting\n".into(),
            );
        };
        match path.strip_prefix(PATH).unwrap_or(path) {
            "" | "/" => page(StatusCode::OK, HTML, state.index()),
            "/fingerprint" => page(StatusCode::OK, TEXT, state.fingerprint()),
            "/execution" => match render::query_value(query, "name") {
                Some(name) => state.execution(&name).await,
                None => page(
                    StatusCode::BAD_REQUEST,
                    TEXT,
                    "name the execution: /ui/execution?name=<name>\n".into(),
                ),
            },
            _ => page(StatusCode::NOT_FOUND, TEXT, "no such page\n".into()),
        }
    }
}

impl UiState {
    fn fingerprint(&self) -> String {
        model::fingerprint(
            self.executions
                .all()
                .iter()
                .map(|execution| execution.read(|record| record.status)),
        )
    }

    fn index(&self) -> String {
        let all = self.executions.all();
        let rows: Vec<ExecutionRow> = all
            .iter()
            .rev()
            .take(RECENT)
            .map(|execution| execution.read(ExecutionRow::of))
            .collect();
        render::index(&rows, &self.bucket, &self.fingerprint())
    }

    async fn execution(&self, name: &str) -> Page {
        let found = self
            .executions
            .all()
            .into_iter()
            .find(|execution| execution.read(|record| record.name == name));
        let Some(execution) = found else {
            return page(
                StatusCode::NOT_FOUND,
                TEXT,
                format!("no execution named {name:?}\n"),
            );
        };
        let graph = match &self.graph {
            Ok(graph) => graph,
            Err(error) => {
                return page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    TEXT,
                    format!("the state machine cannot be drawn: {error}\n"),
                );
            }
        };
        let (row, path) =
            execution.read(|record| (ExecutionRow::of(record), ExecutionPath::of(record)));
        let report_key = row
            .key
            .as_deref()
            .filter(|key| self.layout.is_input(key) && !key.ends_with('/'))
            .map(|key| self.layout.report_key(key));
        let (report, problem) = match (&report_key, row.status) {
            (Some(key), ExecutionStatus::Succeeded) => match self.report(key).await {
                Ok(report) => (Some(report), None),
                Err(problem) => (None, Some(problem)),
            },
            (Some(_), ExecutionStatus::Running) => {
                (None, Some("not yet: the execution runs".into()))
            }
            (Some(_), status) => (
                None,
                Some(format!("the execution ended {}", status.as_str())),
            ),
            (None, _) => (None, None),
        };
        let html = render::execution(
            &render::ExecutionPage {
                row: &row,
                report_key: report_key.as_deref(),
                report: report.as_ref(),
                report_problem: problem.as_deref(),
            },
            graph,
            &path,
            &self.fingerprint(),
        );
        page(StatusCode::OK, HTML, html)
    }

    /// The report at `key`, with the first rejected records when it has any; or why not.
    async fn report(&self, key: &str) -> Result<ReportView, String> {
        let body = self.read(key, None).await?;
        let document: Value =
            serde_json::from_slice(&body).map_err(|e| format!("it is not JSON ({e})"))?;
        let mut report = ReportView::of(&document);
        if let Some(contract) = &mut report.contract
            && let Some(rejects) = contract.rejects_key().map(str::to_owned)
        {
            // The first rejects only: a cut last line is left out.
            let head = self.read(&rejects, Some(REJECTS_READ)).await?;
            contract.first_rejects =
                model::first_rejects(&String::from_utf8_lossy(&head), FIRST_REJECTS);
        }
        Ok(report)
    }

    /// The object at `key` (its first `limit` bytes when given).
    async fn read(&self, key: &str, limit: Option<u64>) -> Result<Vec<u8>, String> {
        let mut request = self.s3.get_object().bucket(&self.bucket).key(key);
        if let Some(limit) = limit {
            request = request.range(format!("bytes=0-{}", limit - 1));
        }
        let object = request.send().await.map_err(|e| {
            format!(
                "cannot read {key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        })?;
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| format!("cannot read {key}: {e}"))?;
        Ok(body.to_vec())
    }
}
