//! What the pages show, computed from executions, their histories, the state machine's
//! definition and reports: plain data, no HTML (that is [`super::render`]).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::demo::{Route, execution_key};
use crate::execution::{ExecutionRecord, ExecutionStatus};

/// One execution in the list of recent uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRow {
    /// The execution's name (unique per state machine: the page's link to it).
    pub name: String,
    /// The execution's ARN.
    pub arn: String,
    /// The uploaded object's key (decoded), when the input is an S3 event.
    pub key: Option<String>,
    /// The object's size in bytes, when the input says it.
    pub size: Option<u64>,
    /// Where it is.
    pub status: ExecutionStatus,
    /// The route it took, from its history.
    pub route: Route,
    /// When it started.
    pub started: SystemTime,
    /// How long it ran (`None` while it runs).
    pub duration: Option<Duration>,
    /// The error name, once it failed (or was stopped with one).
    pub error: Option<String>,
    /// The error's cause.
    pub cause: Option<String>,
}

impl ExecutionRow {
    /// The row of one execution.
    pub fn of(record: &ExecutionRecord) -> ExecutionRow {
        ExecutionRow {
            name: record.name.clone(),
            arn: record.execution_arn.clone(),
            key: execution_key(record),
            size: record.input["detail"]["object"]["size"].as_u64(),
            status: record.status,
            route: Route::of(record),
            started: record.start_date,
            duration: record
                .stop_date
                .map(|stop| stop.duration_since(record.start_date).unwrap_or_default()),
            error: record.error.clone(),
            cause: record.cause.clone(),
        }
    }
}

/// The rows of the most recent `limit` executions, most recent first (as `ListExecutions`
/// orders them).
pub fn recent_rows(records: &[ExecutionRecord], limit: usize) -> Vec<ExecutionRow> {
    records
        .iter()
        .rev()
        .take(limit)
        .map(ExecutionRow::of)
        .collect()
}

/// A value that changes whenever an execution starts or ends, from every execution's status:
/// the pages reload when it does.
pub fn fingerprint(statuses: impl IntoIterator<Item = ExecutionStatus>) -> String {
    let (mut all, mut ended) = (0, 0);
    for status in statuses {
        all += 1;
        ended += usize::from(status != ExecutionStatus::Running);
    }
    format!("{all}-{ended}")
}

/// Why a definition cannot be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// No `States` object, or no `StartAt` naming one of them.
    #[error("the definition has no States object or no StartAt naming one")]
    NoStates,
    /// A transition names a state the definition lacks.
    #[error("state {from:?} goes to {to:?}, which is not a state")]
    UnknownState {
        /// The state with the transition.
        from: String,
        /// The missing target.
        to: String,
    },
}

/// A state, placed: column `layer` (its distance from `StartAt`), row `row` in that column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphNode {
    /// The state's name.
    pub name: String,
    /// Its `Type` (`Task`, `Choice`, `Fail`...).
    pub kind: String,
    /// Its column: the fewest transitions from `StartAt`.
    pub layer: usize,
    /// Its row within the column, in the order the states were reached.
    pub row: usize,
}

/// A transition between two states (indexes into [`StateGraph::nodes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GraphEdge {
    /// From this state.
    pub from: usize,
    /// To this one.
    pub to: usize,
    /// Whether it is taken on an error (a `Catch`).
    pub on_error: bool,
}

/// The state machine as a graph laid out in columns: breadth first from `StartAt`, so that
/// each column is one transition further; states reached from none come last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateGraph {
    /// The states, in breadth-first order.
    pub nodes: Vec<GraphNode>,
    /// The transitions (`Next`, `Default`, each choice's `Next`, each catcher's `Next`), once
    /// per pair and kind.
    pub edges: Vec<GraphEdge>,
}

impl StateGraph {
    /// The graph of a definition (Amazon States Language, top level only).
    pub fn from_definition(definition: &Value) -> Result<StateGraph, GraphError> {
        let states = definition["States"]
            .as_object()
            .ok_or(GraphError::NoStates)?;
        let start = definition["StartAt"].as_str().ok_or(GraphError::NoStates)?;
        if !states.contains_key(start) {
            return Err(GraphError::NoStates);
        }
        let mut order: Vec<&str> = Vec::new();
        let mut layer: HashMap<&str, usize> = HashMap::new();
        let mut queue = VecDeque::from([(start, 0)]);
        layer.insert(start, 0);
        while let Some((name, depth)) = queue.pop_front() {
            order.push(name);
            for (to, _) in transitions(&states[name]) {
                if !states.contains_key(to) {
                    return Err(GraphError::UnknownState {
                        from: name.to_owned(),
                        to: to.to_owned(),
                    });
                }
                if !layer.contains_key(to) {
                    layer.insert(to, depth + 1);
                    queue.push_back((to, depth + 1));
                }
            }
        }
        let unreachable_layer = layer.values().max().map_or(0, |deepest| deepest + 1);
        for name in states.keys() {
            if !layer.contains_key(name.as_str()) {
                layer.insert(name, unreachable_layer);
                order.push(name);
            }
        }
        let mut rows: HashMap<usize, usize> = HashMap::new();
        let nodes: Vec<GraphNode> = order
            .iter()
            .map(|&name| {
                let column = layer[name];
                let row = rows.entry(column).or_default();
                *row += 1;
                GraphNode {
                    name: name.to_owned(),
                    kind: states[name]["Type"].as_str().unwrap_or("").to_owned(),
                    layer: column,
                    row: *row - 1,
                }
            })
            .collect();
        let index: HashMap<&str, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let mut edges = BTreeSet::new();
        for (from, &name) in order.iter().enumerate() {
            for (to, on_error) in transitions(&states[name]) {
                edges.insert(GraphEdge {
                    from,
                    to: index[to],
                    on_error,
                });
            }
        }
        Ok(StateGraph {
            nodes,
            edges: edges.into_iter().collect(),
        })
    }

    /// The index of the state named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|node| node.name == name)
    }

    /// The number of columns.
    pub fn layers(&self) -> usize {
        self.nodes.iter().map(|n| n.layer + 1).max().unwrap_or(0)
    }

    /// The most rows any column has.
    pub fn rows(&self) -> usize {
        self.nodes.iter().map(|n| n.row + 1).max().unwrap_or(0)
    }
}

/// A state's transitions: the target's name, and whether it is a catcher's.
fn transitions(state: &Value) -> Vec<(&str, bool)> {
    let choices = state["Choices"].as_array().into_iter().flatten();
    let catchers = state["Catch"].as_array().into_iter().flatten();
    [(&state["Next"], false), (&state["Default"], false)]
        .into_iter()
        .chain(choices.map(|choice| (&choice["Next"], false)))
        .chain(catchers.map(|catcher| (&catcher["Next"], true)))
        .filter_map(|(target, on_error)| Some((target.as_str()?, on_error)))
        .collect()
}

/// The way one execution went through the graph, from its history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecutionPath {
    /// The states entered, in order (a state entered twice, e.g. a retried task, twice).
    pub entered: Vec<String>,
    /// Whether the execution ended (then the last state entered is where it ended; else it
    /// is the state it is in).
    pub ended: bool,
}

impl ExecutionPath {
    /// The path of one execution.
    pub fn of(record: &ExecutionRecord) -> ExecutionPath {
        ExecutionPath {
            entered: record
                .history
                .iter()
                .filter(|event| event.kind.ends_with("StateEntered"))
                .filter_map(|event| event.details.as_ref()?.1["name"].as_str())
                .map(str::to_owned)
                .collect(),
            ended: record.status != ExecutionStatus::Running,
        }
    }

    /// Whether it entered `state`.
    pub fn visited(&self, state: &str) -> bool {
        self.entered.iter().any(|s| s == state)
    }

    /// Whether it went straight from `from` to `to`.
    pub fn took(&self, from: &str, to: &str) -> bool {
        self.entered.windows(2).any(|w| w[0] == from && w[1] == to)
    }

    /// The last state entered.
    pub fn last(&self) -> Option<&str> {
        self.entered.last().map(String::as_str)
    }
}

/// A report (docs/report.md) as the page shows it. Fields missing from the JSON show as
/// missing, never as zero.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportView {
    /// `input.format` (`csv`, `json_lines`).
    pub format: Option<String>,
    /// `input.compression`.
    pub compression: Option<String>,
    /// `records.total`, `.valid`, `.malformed`.
    pub records_total: Option<u64>,
    /// `records.valid`.
    pub records_valid: Option<u64>,
    /// `records.malformed`.
    pub records_malformed: Option<u64>,
    /// The columns, in the report's order.
    pub columns: Vec<ColumnView>,
    /// The first malformed records listed.
    pub malformed: Vec<MalformedView>,
    /// `processing.processor` and `.duration_ms`.
    pub processor: Option<String>,
    /// `processing.duration_ms`.
    pub duration_ms: Option<u64>,
    /// The `contract` section, when a contract owns the key.
    pub contract: Option<ContractView>,
}

/// One column of a report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ColumnView {
    /// Its name.
    pub name: String,
    /// Its type (`integer`, `string`...; `null` when it holds no value).
    pub kind: String,
    /// Values that are not null.
    pub count: u64,
    /// Nulls.
    pub nulls: u64,
    /// `min` as text (strings as they are, other values as JSON); `None` when null.
    pub min: Option<String>,
    /// `max` likewise.
    pub max: Option<String>,
    /// The distinct estimate.
    pub distinct: Option<u64>,
}

impl ColumnView {
    /// The share of nulls among the column's values and nulls, 0 to 1 (0 with neither).
    pub fn null_share(&self) -> f64 {
        let all = self.count + self.nulls;
        if all == 0 {
            0.0
        } else {
            self.nulls as f64 / all as f64
        }
    }
}

/// One listed malformed record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MalformedView {
    /// The record's number (from 1).
    pub record: u64,
    /// Its line.
    pub line: u64,
    /// Its kind (`ragged_row`...).
    pub kind: String,
    /// The message.
    pub message: String,
}

/// A report's `contract` section, with the first rejected records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContractView {
    /// The dataset.
    pub dataset: String,
    /// Records written to Parquet.
    pub written: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Rejected records by reason, in the report's order.
    pub by_reason: Vec<(String, u64)>,
    /// The outputs' keys.
    pub outputs: Vec<String>,
    /// The first lines of the rejects file, as [`RejectView`]s (filled by the caller, which
    /// reads the file: [`ContractView::rejects_key`]).
    pub first_rejects: Vec<RejectView>,
}

impl ContractView {
    /// The rejects file's key, when there is one.
    pub fn rejects_key(&self) -> Option<&str> {
        self.outputs
            .iter()
            .map(String::as_str)
            .find(|key| key.ends_with(".rejects.jsonl"))
    }
}

/// One rejected record (a line of the rejects file, docs/contracts.md).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RejectView {
    /// The record's line.
    pub line: Option<u64>,
    /// The column at fault, if one.
    pub column: Option<String>,
    /// The reason.
    pub reason: String,
    /// The offending value, as text.
    pub value: Option<String>,
}

/// A JSON value as the page shows it: a string as it is, `null` as nothing, anything else as
/// JSON.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl ReportView {
    /// The view of a report document.
    pub fn of(report: &Value) -> ReportView {
        let columns = report["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| ColumnView {
                name: c["name"].as_str().unwrap_or_default().to_owned(),
                kind: c["type"].as_str().unwrap_or("null").to_owned(),
                count: c["count"].as_u64().unwrap_or(0),
                nulls: c["nulls"].as_u64().unwrap_or(0),
                min: text(&c["min"]),
                max: text(&c["max"]),
                distinct: c["distinct_estimate"].as_u64(),
            })
            .collect();
        let malformed = report["malformed"]["listed"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| MalformedView {
                record: m["record"].as_u64().unwrap_or(0),
                line: m["line"].as_u64().unwrap_or(0),
                kind: m["kind"].as_str().unwrap_or_default().to_owned(),
                message: m["message"].as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        let contract = report.get("contract").map(|c| ContractView {
            dataset: c["dataset"].as_str().unwrap_or_default().to_owned(),
            written: c["records_written"].as_u64().unwrap_or(0),
            rejected: c["records_rejected"].as_u64().unwrap_or(0),
            by_reason: c["rejected_by_reason"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(reason, n)| (reason.clone(), n.as_u64().unwrap_or(0)))
                .collect(),
            outputs: c["outputs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o["key"].as_str().map(str::to_owned))
                .collect(),
            first_rejects: Vec::new(),
        });
        ReportView {
            format: report["input"]["format"].as_str().map(str::to_owned),
            compression: report["input"]["compression"].as_str().map(str::to_owned),
            records_total: report["records"]["total"].as_u64(),
            records_valid: report["records"]["valid"].as_u64(),
            records_malformed: report["records"]["malformed"].as_u64(),
            columns,
            malformed,
            processor: report["processing"]["processor"]
                .as_str()
                .map(str::to_owned),
            duration_ms: report["processing"]["duration_ms"].as_u64(),
            contract,
        }
    }
}

/// The first `limit` rejected records of a rejects file's beginning (JSON Lines; a line cut
/// off at the end of `text`, or one that is not JSON, is left out).
pub fn first_rejects(head: &str, limit: usize) -> Vec<RejectView> {
    head.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .take(limit)
        .map(|reject| RejectView {
            line: reject["line"].as_u64(),
            column: reject["column"].as_str().map(str::to_owned),
            reason: reject["reason"].as_str().unwrap_or_default().to_owned(),
            value: text(&reject["value"]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::HistoryEvent;
    use serde_json::json;

    fn entered(id: u64, kind: &str, name: &str) -> HistoryEvent {
        HistoryEvent {
            id,
            previous_event_id: id - 1,
            timestamp: SystemTime::UNIX_EPOCH,
            kind: kind.to_owned(),
            details: Some(("stateEnteredEventDetails".into(), json!({ "name": name }))),
        }
    }

    fn record(status: ExecutionStatus, visits: &[(&str, &str)]) -> ExecutionRecord {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        ExecutionRecord {
            execution_arn: "arn:aws:states:us-east-1:000000000000:execution:m:local-00000001"
                .into(),
            state_machine_arn: "arn:aws:states:us-east-1:000000000000:stateMachine:m".into(),
            name: "local-00000001".into(),
            status,
            start_date: start,
            stop_date: (status != ExecutionStatus::Running)
                .then(|| start + Duration::from_millis(1_500)),
            input: json!({ "detail": { "object": { "key": "incoming/a%3Cb%3E.csv", "size": 12 } } }),
            output: None,
            error: (status == ExecutionStatus::Failed).then(|| "UnsupportedFormat".into()),
            cause: None,
            history: visits
                .iter()
                .enumerate()
                .map(|(i, (kind, name))| entered(i as u64 + 2, kind, name))
                .collect(),
            position: None,
            redrive_count: 0,
        }
    }

    #[test]
    fn a_row_has_the_decoded_key_route_duration_and_error() {
        let failed = record(
            ExecutionStatus::Failed,
            &[
                ("PassStateEntered", "PrepareJob"),
                ("ChoiceStateEntered", "Route"),
                ("TaskStateEntered", "ProcessInLambda"),
                ("FailStateEntered", "Failed: UnsupportedFormat"),
            ],
        );
        let row = ExecutionRow::of(&failed);
        assert_eq!(row.key.as_deref(), Some("incoming/a<b>.csv"));
        assert_eq!(row.size, Some(12));
        assert_eq!(row.route, Route::Lambda);
        assert_eq!(row.duration, Some(Duration::from_millis(1_500)));
        assert_eq!(row.error.as_deref(), Some("UnsupportedFormat"));

        let running = ExecutionRow::of(&record(ExecutionStatus::Running, &[]));
        assert_eq!((running.duration, running.route), (None, Route::None));
    }

    #[test]
    fn recent_rows_come_most_recent_first_and_the_fingerprint_moves_as_executions_end() {
        let mut records = vec![record(ExecutionStatus::Succeeded, &[])];
        records.push(record(ExecutionStatus::Running, &[]));
        records[1].name = "second".into();
        let rows = recent_rows(&records, 1);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "second");
        let statuses =
            |records: &[ExecutionRecord]| records.iter().map(|r| r.status).collect::<Vec<_>>();
        let before = fingerprint(statuses(&records));
        assert_eq!(before, "2-1");
        records[1].status = ExecutionStatus::Succeeded;
        assert_ne!(fingerprint(statuses(&records)), before);
    }

    #[test]
    fn the_generated_definition_is_laid_out_breadth_first_with_every_state_once() {
        let definition: Value = serde_json::from_str(crate::pipeline::DEFINITION).unwrap();
        let graph = StateGraph::from_definition(&definition).unwrap();
        let states = definition["States"].as_object().unwrap();
        assert_eq!(graph.nodes.len(), states.len());
        let names: BTreeSet<&str> = graph.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names.len(), states.len());
        assert_eq!(graph.nodes[0].name, "PrepareJob");
        let at = |name: &str| &graph.nodes[graph.index_of(name).unwrap()];
        assert_eq!(at("PrepareJob").layer, 0);
        assert_eq!(at("Route").layer, 1);
        assert_eq!(at("ProcessInLambda").layer, 2);
        assert_eq!(at("ProcessInFargate").layer, 2);
        assert_eq!(at("Processed").layer, 3);
        // No two states share a place.
        let places: BTreeSet<(usize, usize)> =
            graph.nodes.iter().map(|n| (n.layer, n.row)).collect();
        assert_eq!(places.len(), graph.nodes.len());
        // Every catcher of the Lambda task is an error edge to the task recording the failure,
        // which goes on to its Fail state.
        let lambda = graph.index_of("ProcessInLambda").unwrap();
        let record = graph.index_of("Record failure: UnsupportedFormat").unwrap();
        let failed = graph.index_of("Failed: UnsupportedFormat").unwrap();
        assert!(graph.edges.contains(&GraphEdge {
            from: lambda,
            to: record,
            on_error: true
        }));
        assert!(graph.edges.contains(&GraphEdge {
            from: record,
            to: failed,
            on_error: false
        }));
        assert!(graph.edges.contains(&GraphEdge {
            from: lambda,
            to: graph.index_of("Processed").unwrap(),
            on_error: false
        }));
    }

    #[test]
    fn a_definition_that_names_a_missing_state_or_has_no_start_is_refused() {
        let missing = json!({ "StartAt": "A", "States": { "A": { "Type": "Pass", "Next": "B" } } });
        assert_eq!(
            StateGraph::from_definition(&missing),
            Err(GraphError::UnknownState {
                from: "A".into(),
                to: "B".into()
            })
        );
        let no_start = json!({ "StartAt": "Z", "States": { "A": { "Type": "Succeed" } } });
        assert_eq!(
            StateGraph::from_definition(&no_start),
            Err(GraphError::NoStates)
        );
        assert_eq!(
            StateGraph::from_definition(&json!([])),
            Err(GraphError::NoStates)
        );
    }

    #[test]
    fn unreachable_states_get_a_column_of_their_own() {
        let definition = json!({ "StartAt": "A", "States": {
            "A": { "Type": "Succeed" }, "Orphan": { "Type": "Fail" } } });
        let graph = StateGraph::from_definition(&definition).unwrap();
        assert_eq!(graph.nodes[1].name, "Orphan");
        assert_eq!((graph.nodes[1].layer, graph.layers()), (1, 2));
    }

    #[test]
    fn the_path_lists_entered_states_and_the_transitions_taken() {
        let path = ExecutionPath::of(&record(
            ExecutionStatus::Succeeded,
            &[
                ("PassStateEntered", "PrepareJob"),
                ("ChoiceStateEntered", "Route"),
                ("TaskStateEntered", "ProcessInLambda"),
                ("SucceedStateEntered", "Processed"),
            ],
        ));
        assert!(path.ended);
        assert!(path.visited("Route") && !path.visited("ProcessInFargate"));
        assert!(path.took("Route", "ProcessInLambda"));
        assert!(!path.took("PrepareJob", "ProcessInLambda"));
        assert_eq!(path.last(), Some("Processed"));
    }

    #[test]
    fn a_report_view_reads_columns_null_shares_malformed_and_the_contract() {
        let report = json!({
            "input": { "format": "csv", "compression": "none" },
            "records": { "total": 4, "valid": 3, "malformed": 1 },
            "columns": [
                { "name": "age", "type": "integer", "count": 1, "nulls": 3, "min": 36,
                  "max": 40, "distinct_estimate": 1 },
                { "name": "city", "type": "string", "count": 3, "nulls": 0, "min": "A<b",
                  "max": "Z", "distinct_estimate": 3 },
                { "name": "empty", "type": "null", "count": 0, "nulls": 0, "min": null,
                  "max": null, "distinct_estimate": 0 }
            ],
            "malformed": { "count": 1, "listed": [
                { "record": 3, "line": 4, "byte_offset": 70, "kind": "ragged_row",
                  "message": "expected 3 fields, found 2" } ] },
            "processing": { "processor": "lambda", "duration_ms": 3 },
            "contract": { "dataset": "sales", "records_written": 30, "records_rejected": 3,
                "rejected_by_reason": { "below_min": 2, "type": 1 },
                "outputs": [ { "key": "curated/sales/a.parquet" },
                             { "key": "rejected/sales/a.csv.rejects.jsonl" } ] }
        });
        let view = ReportView::of(&report);
        assert_eq!(view.records_total, Some(4));
        assert_eq!(view.columns.len(), 3);
        assert!((view.columns[0].null_share() - 0.75).abs() < 1e-9);
        assert_eq!(view.columns[0].min.as_deref(), Some("36"));
        assert_eq!(view.columns[1].min.as_deref(), Some("A<b"));
        assert!(view.columns[2].null_share().abs() < 1e-9);
        assert_eq!(view.columns[2].max, None);
        assert_eq!(view.malformed[0].kind, "ragged_row");
        let contract = view.contract.unwrap();
        assert_eq!((contract.written, contract.rejected), (30, 3));
        assert_eq!(contract.by_reason[0], ("below_min".to_owned(), 2));
        assert_eq!(
            contract.rejects_key(),
            Some("rejected/sales/a.csv.rejects.jsonl")
        );
        assert_eq!(ReportView::of(&json!({})).records_total, None);
    }

    #[test]
    fn first_rejects_skips_a_cut_last_line() {
        let text = concat!(
            r#"{"record":10,"line":11,"column":"amount","reason":"below_min","value":"-5"}"#,
            "\n",
            r#"{"record":15,"line":16,"reason":"field_count","value":null}"#,
            "\n",
            r#"{"record":22,"line":23,"col"#
        );
        let rejects = first_rejects(text, 5);
        assert_eq!(rejects.len(), 2);
        assert_eq!(rejects[0].column.as_deref(), Some("amount"));
        assert_eq!(rejects[0].value.as_deref(), Some("-5"));
        assert_eq!(
            (rejects[1].line, rejects[1].value.as_ref()),
            (Some(16), None)
        );
        assert_eq!(first_rejects(text, 1).len(), 1);
    }
}
