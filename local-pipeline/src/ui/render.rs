//! The pages as HTML: [`index`] (recent uploads and their executions) and [`execution`] (one
//! execution's path through the state machine, drawn as SVG, and its report). Every text that
//! comes from a key, a name or a report goes through [`escape`]; URLs through [`encode`].

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::execution::ExecutionStatus;

use super::model::{ExecutionPath, ExecutionRow, ReportView, StateGraph};

/// `text` safe inside HTML text and attribute values (quoted with `"` or `'`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` percent-encoded for a URL's query: every byte but `A-Z a-z 0-9 - _ . ~` as `%XX`.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A query string's value for `name` (`a=1&b=2`), percent-decoded (`+` is a space); `None`
/// when absent or not UTF-8 once decoded.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    let raw = query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?;
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        match byte {
            b'%' if tail.len() >= 2 => {
                let hex = std::str::from_utf8(&tail[..2]).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &tail[2..];
            }
            b'+' => {
                bytes.push(b' ');
                rest = tail;
            }
            _ => {
                bytes.push(byte);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

/// The pages' style and the script that reloads the page when an execution starts or ends
/// (it polls `/ui/fingerprint` and compares it with the one the page was made with).
const HEAD: &str = r#"<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: .3em .7em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 13px; }
.SUCCEEDED { color: #17692c; } .FAILED, .TIMED_OUT, .ABORTED { color: #b3261e; } .RUNNING { color: #8a5a00; }
.bar { display: inline-block; width: 8em; height: .8em; background: #eee; vertical-align: middle; }
.bar span { display: block; height: 100%; background: #6b8fd6; }
svg text { font: 11px system-ui, sans-serif; }
.state rect { fill: #fff; stroke: #bbb; } .state.visited rect { fill: #d7f0dc; stroke: #17692c; stroke-width: 2; }
.state.current rect { fill: #fff1cc; stroke: #8a5a00; stroke-width: 2; } .state.failed rect { fill: #f9d6d3; stroke: #b3261e; stroke-width: 2; }
.edge { fill: none; stroke: #ccc; } .edge.error { stroke-dasharray: 4 3; } .edge.taken { stroke: #17692c; stroke-width: 2.5; }
</style>
<script>
// Reload when an execution starts or ends.
setInterval(async () => {
  const now = await fetch("/ui/fingerprint").then(r => r.text()).catch(() => null);
  if (now !== null && now !== document.body.dataset.fingerprint) location.reload();
}, 1000);
</script>"#;

/// The start of a page titled `title` (escaped here), made when the fingerprint was this.
fn page_start(out: &mut String, title: &str, fingerprint: &str) {
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<title>{}</title>\n{HEAD}\n</head>\n\
         <body data-fingerprint=\"{}\">\n",
        escape(title),
        escape(fingerprint)
    );
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC.
fn utc(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(seconds).unwrap_or(0))
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// A duration as `850 ms` or `2.4 s`.
fn duration(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

fn status_cell(status: ExecutionStatus) -> String {
    format!("<td class=\"status {0}\">{0}</td>", status.as_str())
}

/// The list of recent uploads: one row per execution, most recent first.
pub fn index(rows: &[ExecutionRow], bucket: &str, fingerprint: &str) -> String {
    let mut out = String::new();
    page_start(&mut out, "Local pipeline: recent uploads", fingerprint);
    let _ = write!(
        out,
        "<h1>Recent uploads</h1>\n<p>Bucket <code>{}</code>: {} executions, most recent first. \
         The page reloads as executions end.</p>\n",
        escape(bucket),
        rows.len()
    );
    out.push_str(
        "<table id=\"executions\">\n<tr><th>key</th><th>size</th><th>status</th><th>route</th>\
         <th>duration</th><th>error</th><th>started (UTC)</th><th>execution</th></tr>\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "<tr class=\"execution\" data-name=\"{name}\" data-status=\"{status}\">\
             <td class=\"key\">{key}</td><td class=\"num\">{size}</td>{status_cell}\
             <td class=\"route\">{route}</td><td class=\"num duration\">{duration}</td>\
             <td class=\"error\">{error}</td><td>{started}</td>\
             <td><a href=\"/ui/execution?name={link}\">{name}</a></td></tr>",
            name = escape(&row.name),
            status = row.status.as_str(),
            key = row.key.as_deref().map(escape).unwrap_or_default(),
            size = row.size.map(|s| s.to_string()).unwrap_or_default(),
            status_cell = status_cell(row.status),
            route = row.route.as_str(),
            duration = row.duration.map(duration).unwrap_or_default(),
            error = row.error.as_deref().map(escape).unwrap_or_default(),
            started = utc(row.started),
            link = encode(&row.name),
        );
    }
    out.push_str("</table>\n</body>\n</html>\n");
    out
}

/// The size of a state's box and the room between them, in SVG units.
const NODE_WIDTH: usize = 190;
const NODE_HEIGHT: usize = 30;
const COLUMN_GAP: usize = 50;
const ROW_GAP: usize = 12;

/// The state machine as SVG: each state a box in its column, each transition a curve; the
/// states and transitions of `path` highlighted, its last state marked as where it is (or
/// where it failed).
pub fn graph(graph: &StateGraph, path: &ExecutionPath, failed: bool) -> String {
    let x = |layer: usize| 10 + layer * (NODE_WIDTH + COLUMN_GAP);
    let y = |row: usize| 10 + row * (NODE_HEIGHT + ROW_GAP);
    let width = x(graph.layers()) - COLUMN_GAP + 10;
    let height = y(graph.rows()) - ROW_GAP + 10;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"the state machine\">"
    );
    for edge in &graph.edges {
        let (from, to) = (&graph.nodes[edge.from], &graph.nodes[edge.to]);
        let (x1, y1) = (x(from.layer) + NODE_WIDTH, y(from.row) + NODE_HEIGHT / 2);
        let (x2, y2) = (x(to.layer), y(to.row) + NODE_HEIGHT / 2);
        // A transition back (a retry loop) leaves and enters from below.
        let d = if to.layer > from.layer {
            let bend = x1.midpoint(x2);
            format!("M{x1},{y1} C{bend},{y1} {bend},{y2} {x2},{y2}")
        } else {
            let (fx, tx) = (x(from.layer) + NODE_WIDTH / 2, x(to.layer) + NODE_WIDTH / 2);
            let (fy, ty) = (y(from.row) + NODE_HEIGHT, y(to.row) + NODE_HEIGHT);
            let low = fy.max(ty) + ROW_GAP;
            format!("M{fx},{fy} C{fx},{low} {tx},{low} {tx},{ty}")
        };
        let mut class = String::from("edge");
        if edge.on_error {
            class.push_str(" error");
        }
        if path.took(&from.name, &to.name) {
            class.push_str(" taken");
        }
        let _ = writeln!(
            out,
            "<path class=\"{class}\" d=\"{d}\" data-from=\"{}\" data-to=\"{}\"/>",
            escape(&from.name),
            escape(&to.name)
        );
    }
    for node in &graph.nodes {
        let mut class = String::from("state");
        if path.last() == Some(node.name.as_str()) {
            class.push_str(match (path.ended, failed) {
                (true, true) => " visited failed",
                (true, false) => " visited",
                (false, _) => " visited current",
            });
        } else if path.visited(&node.name) {
            class.push_str(" visited");
        }
        let _ = writeln!(
            out,
            "<g class=\"{class}\" data-state=\"{name}\"><title>{name} ({kind})</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{NODE_WIDTH}\" height=\"{NODE_HEIGHT}\" rx=\"5\"/>\
             <text x=\"{tx}\" y=\"{ty}\">{name}</text></g>",
            name = escape(&node.name),
            kind = escape(&node.kind),
            x = x(node.layer),
            y = y(node.row),
            tx = x(node.layer) + 8,
            ty = y(node.row) + NODE_HEIGHT / 2 + 4,
        );
    }
    out.push_str("</svg>\n");
    out
}

/// What the execution page shows besides the graph.
#[derive(Debug, Clone)]
pub struct ExecutionPage<'a> {
    /// The execution's row.
    pub row: &'a ExecutionRow,
    /// The report's key, when the execution processed an object.
    pub report_key: Option<&'a str>,
    /// The report, when there is one.
    pub report: Option<&'a ReportView>,
    /// Why the report could not be read, when it could not (other than not existing).
    pub report_problem: Option<&'a str>,
}

/// One execution: its facts, its path through the state machine, its report.
pub fn execution(
    page: &ExecutionPage<'_>,
    state_graph: &StateGraph,
    path: &ExecutionPath,
    fingerprint: &str,
) -> String {
    let row = page.row;
    let mut out = String::new();
    page_start(&mut out, &format!("Execution {}", row.name), fingerprint);
    let _ = writeln!(
        out,
        "<p><a href=\"/ui\">&larr; recent uploads</a></p>\n<h1>{}</h1>",
        escape(row.key.as_deref().unwrap_or(&row.name))
    );
    let _ = writeln!(
        out,
        "<table id=\"facts\" data-name=\"{name}\" data-status=\"{status}\">\n\
         <tr><th>execution</th><td><code>{arn}</code></td></tr>\n\
         <tr><th>status</th>{status_cell}</tr>\n\
         <tr><th>route</th><td class=\"route\">{route}</td></tr>\n\
         <tr><th>duration</th><td>{duration}</td></tr>\n\
         <tr><th>error</th><td class=\"error\">{error}</td></tr>\n\
         <tr><th>cause</th><td class=\"cause\"><code>{cause}</code></td></tr>\n</table>",
        name = escape(&row.name),
        status = row.status.as_str(),
        arn = escape(&row.arn),
        status_cell = status_cell(row.status),
        route = row.route.as_str(),
        duration = row.duration.map(duration).unwrap_or_default(),
        error = row.error.as_deref().map(escape).unwrap_or_default(),
        cause = row.cause.as_deref().map(escape).unwrap_or_default(),
    );
    out.push_str("<h2>Path through the state machine</h2>\n");
    out.push_str(&graph(
        state_graph,
        path,
        matches!(
            row.status,
            ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
        ),
    ));
    out.push_str("<h2>Report</h2>\n");
    match (page.report, page.report_key) {
        (Some(report), key) => report_section(&mut out, report, key.unwrap_or_default()),
        (None, Some(key)) => {
            let _ = writeln!(
                out,
                "<p id=\"no-report\">No report at <code>{}</code>{}.</p>",
                escape(key),
                page.report_problem
                    .map(|problem| format!(": {}", escape(problem)))
                    .unwrap_or_default()
            );
        }
        (None, None) => out.push_str("<p id=\"no-report\">This execution has no object.</p>\n"),
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The report for people: records, columns (null shares as bars), malformed records, and the
/// contract's outcome with its first rejects.
fn report_section(out: &mut String, report: &ReportView, key: &str) {
    let number = |n: Option<u64>| n.map_or_else(|| "?".into(), |n| n.to_string());
    let _ = writeln!(
        out,
        "<div id=\"report\"><p><code>{}</code>: {} {}, {} records ({} valid, \
         <span id=\"malformed-count\">{}</span> malformed), processed by {} in {} ms.</p>",
        escape(key),
        escape(report.format.as_deref().unwrap_or("?")),
        escape(report.compression.as_deref().unwrap_or("?")),
        number(report.records_total),
        number(report.records_valid),
        number(report.records_malformed),
        escape(report.processor.as_deref().unwrap_or("?")),
        number(report.duration_ms),
    );
    out.push_str(
        "<table id=\"columns\">\n<tr><th>column</th><th>type</th><th>values</th><th>nulls</th>\
         <th>min</th><th>max</th><th>distinct (est.)</th></tr>\n",
    );
    for column in &report.columns {
        let share = column.null_share() * 100.0;
        let _ = writeln!(
            out,
            "<tr class=\"column\" data-column=\"{name}\"><td>{name}</td><td class=\"type\">{kind}</td>\
             <td class=\"num\">{count}</td>\
             <td class=\"nulls\" data-share=\"{share:.1}\"><span class=\"bar\"><span style=\"width: {share:.1}%\"></span></span> {share:.1} %</td>\
             <td><code>{min}</code></td><td><code>{max}</code></td><td class=\"num\">{distinct}</td></tr>",
            name = escape(&column.name),
            kind = escape(&column.kind),
            count = column.count,
            min = column.min.as_deref().map(escape).unwrap_or_default(),
            max = column.max.as_deref().map(escape).unwrap_or_default(),
            distinct = number(column.distinct),
        );
    }
    out.push_str("</table>\n");
    if !report.malformed.is_empty() {
        out.push_str(
            "<h3>Malformed records</h3>\n<table id=\"malformed\">\n<tr><th>record</th>\
             <th>line</th><th>kind</th><th>message</th></tr>\n",
        );
        for m in &report.malformed {
            let _ = writeln!(
                out,
                "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                m.record,
                m.line,
                escape(&m.kind),
                escape(&m.message)
            );
        }
        out.push_str("</table>\n");
    }
    if let Some(contract) = &report.contract {
        let reasons: Vec<String> = contract
            .by_reason
            .iter()
            .map(|(reason, n)| format!("{} {n}", escape(reason)))
            .collect();
        let _ = writeln!(
            out,
            "<h3>Contract <code>{}</code></h3>\n<p id=\"contract\" data-written=\"{}\" \
             data-rejected=\"{}\">{} records written, {} rejected{}.</p>",
            escape(&contract.dataset),
            contract.written,
            contract.rejected,
            contract.written,
            contract.rejected,
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join(", "))
            }
        );
        out.push_str("<ul id=\"outputs\">\n");
        for key in &contract.outputs {
            let _ = writeln!(out, "<li><code>{}</code></li>", escape(key));
        }
        out.push_str("</ul>\n");
        if !contract.first_rejects.is_empty() {
            out.push_str(
                "<table id=\"rejects\">\n<tr><th>line</th><th>column</th><th>reason</th>\
                 <th>value</th></tr>\n",
            );
            for reject in &contract.first_rejects {
                let _ = writeln!(
                    out,
                    "<tr class=\"reject\"><td class=\"num\">{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    reject.line.map(|l| l.to_string()).unwrap_or_default(),
                    reject.column.as_deref().map(escape).unwrap_or_default(),
                    escape(&reject.reason),
                    reject.value.as_deref().map(escape).unwrap_or_default(),
                );
            }
            out.push_str("</table>\n");
        }
    }
    out.push_str("</div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::Route;
    use crate::ui::model::{ColumnView, ContractView, RejectView};

    const SCRIPT: &str = "incoming/<script>alert('x')</script>&\".csv";

    fn row(name: &str, key: &str) -> ExecutionRow {
        ExecutionRow {
            name: name.into(),
            arn: format!("arn:aws:states:us-east-1:000000000000:execution:m:{name}"),
            key: Some(key.into()),
            size: Some(10),
            status: ExecutionStatus::Failed,
            route: Route::Lambda,
            started: UNIX_EPOCH + Duration::from_hours(490_000),
            duration: Some(Duration::from_millis(2_400)),
            error: Some("UnsupportedFormat<b>".into()),
            cause: Some("<img src=x onerror=alert(1)>".into()),
        }
    }

    #[test]
    fn escape_and_encode_leave_no_markup_and_query_value_reads_back_what_encode_wrote() {
        assert_eq!(
            escape(SCRIPT),
            "incoming/&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;.csv"
        );
        let name = "a b&c=d/é%";
        let query = format!("x=1&name={}", encode(name));
        assert!(!encode(name).contains(['&', '=', ' ', '/']));
        assert_eq!(query_value(&query, "name").as_deref(), Some(name));
        assert_eq!(query_value("name=a+b", "name").as_deref(), Some("a b"));
        assert_eq!(query_value("x=1", "name"), None);
        assert_eq!(query_value("name=%zz", "name"), None);
        assert_eq!(query_value("name=%ff", "name"), None);
    }

    #[test]
    fn the_index_escapes_keys_errors_and_names() {
        let html = index(&[row("local-1", SCRIPT)], "up<loads>", "1-1");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<b>"));
        assert!(html.contains("incoming/&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("UnsupportedFormat&lt;b&gt;"));
        assert!(html.contains("<code>up&lt;loads&gt;</code>"));
        assert!(html.contains("data-fingerprint=\"1-1\""));
        assert!(html.contains("href=\"/ui/execution?name=local-1\""));
        assert!(html.contains("<td class=\"num duration\">2.4 s</td>"));
        assert!(html.contains("2025-11-24 16:00:00"));
        // Only the page's own script.
        assert_eq!(html.matches("<script>").count(), 1);
    }

    #[test]
    fn the_execution_page_escapes_the_report_and_the_rejects() {
        let report = ReportView {
            format: Some("csv".into()),
            columns: vec![ColumnView {
                name: "<i>name</i>".into(),
                kind: "string".into(),
                count: 1,
                nulls: 3,
                min: Some("</td><script>x</script>".into()),
                max: Some("z".into()),
                distinct: Some(1),
            }],
            contract: Some(ContractView {
                dataset: "sales".into(),
                written: 1,
                rejected: 1,
                by_reason: vec![("below_min".into(), 1)],
                outputs: vec!["rejected/<x>.rejects.jsonl".into()],
                first_rejects: vec![RejectView {
                    line: Some(2),
                    column: Some("amount".into()),
                    reason: "below_min".into(),
                    value: Some("<-5>".into()),
                }],
            }),
            ..ReportView::default()
        };
        let definition: serde_json::Value =
            serde_json::from_str(crate::pipeline::DEFINITION).unwrap();
        let state_graph = StateGraph::from_definition(&definition).unwrap();
        let row = row("local-2", SCRIPT);
        let html = execution(
            &ExecutionPage {
                row: &row,
                report_key: Some("processed/<k>.report.json"),
                report: Some(&report),
                report_problem: None,
            },
            &state_graph,
            &ExecutionPath {
                entered: vec!["PrepareJob".into(), "Route".into()],
                ended: true,
            },
            "3-3",
        );
        assert_eq!(html.matches("<script>").count(), 1, "{html}");
        assert!(!html.contains("<i>") && !html.contains("<img") && !html.contains("<-5>"));
        assert!(html.contains("&lt;i&gt;name&lt;/i&gt;"));
        assert!(html.contains("data-share=\"75.0\""));
        assert!(html.contains("<code>&lt;-5&gt;</code>"));
        assert!(html.contains("data-written=\"1\" data-rejected=\"1\""));
        assert!(html.contains("<g class=\"state visited\" data-state=\"PrepareJob\">"));
        assert!(html.contains("<g class=\"state visited failed\" data-state=\"Route\">"));
        assert!(html.contains("<g class=\"state\" data-state=\"ProcessInFargate\">"));
        assert!(html.contains("class=\"edge taken\" d="));
        assert_eq!(html.matches("edge taken").count(), 1);
    }

    #[test]
    fn a_missing_report_says_where_it_was_looked_for() {
        let definition =
            serde_json::json!({ "StartAt": "A", "States": { "A": { "Type": "Succeed" } } });
        let state_graph = StateGraph::from_definition(&definition).unwrap();
        let row = row("n", "incoming/k.csv");
        let html = execution(
            &ExecutionPage {
                row: &row,
                report_key: Some("processed/<k>.report.json"),
                report: None,
                report_problem: None,
            },
            &state_graph,
            &ExecutionPath::default(),
            "0-0",
        );
        assert!(html.contains("No report at <code>processed/&lt;k&gt;.report.json</code>."));
    }
}
