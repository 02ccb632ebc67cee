//! DuckDB as an independent oracle.
//!
//! Generated data sets (a few thousand rows each; integers, floats, booleans, dates,
//! timestamps, strings, nulls; RFC 4180 quoting with delimiters, doubled quotes and line
//! breaks inside fields; JSON escapes and missing keys) are written to files, profiled by the
//! core exactly as the pipeline would (`Config::default()`, the file name as its only hint),
//! and by DuckDB (PyPI `duckdb`, from the venv `scripts/setup-tools` creates) reading the same
//! files. Record counts, null counts and min/max must agree exactly.
//!
//! DuckDB is told the layout (delimiter, header, `"` as quote and escape, an empty field, or
//! `""`, as NULL) and each column's type from the generator's schema, and does no sniffing: it parses
//! every value itself, so its min/max do not depend on the core's type inference. The core's
//! inferred type is checked against the same schema.
//!
//! Floats compare exactly, not within a tolerance: both sides turn decimal text into the
//! nearest `f64` (Rust's `str::parse`; DuckDB's own CSV and JSON readers), and the oracle
//! hands back the IEEE 754 bit pattern, not decimal text, so no third parser can round
//! differently. The values include 25-digit mantissas, integers past `i64` and subnormals. A
//! mismatch is a real disagreement about a value.
//!
//! The test fails, never skips, when Python or DuckDB is missing: set `PIPELINE_PYTHON` or run
//! `scripts/setup-tools`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value as Json, json};
use shared::{ColumnSummary, Config, Format, ValueType, process_reader};

/// Rows per data set.
const ROWS: usize = 3_000;

/// The oracle script's exit status when it cannot import duckdb.
const MISSING_DUCKDB: i32 = 3;

/// SplitMix64: tiny, deterministic, the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    /// Uniform in `lo..=hi` (a small range).
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).expect("a non-empty range");
        lo + i64::try_from(self.below(span)).expect("a small range")
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).expect("a small index")]
    }
}

/// What a generated column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    /// Floats, possibly mixed with integers (the column is still a float column).
    Float,
    Boolean,
    Date,
    /// `YYYY-MM-DD HH:MM:SS`, with a space or a `T`, no zone.
    Timestamp,
    String,
    /// JSON arrays and objects (JSON Lines only): counted, no min/max compared.
    Nested,
    /// Never a value.
    Null,
}

impl Kind {
    /// The DuckDB type DuckDB reads the column as.
    fn duckdb(self) -> &'static str {
        match self {
            Kind::Integer => "BIGINT",
            Kind::Float => "DOUBLE",
            Kind::Boolean => "BOOLEAN",
            Kind::Date => "DATE",
            Kind::Timestamp => "TIMESTAMP",
            Kind::String | Kind::Null => "VARCHAR",
            Kind::Nested => "JSON",
        }
    }

    /// The type the core must infer.
    fn expected(self) -> Option<ValueType> {
        match self {
            Kind::Integer => Some(ValueType::Integer),
            Kind::Float => Some(ValueType::Float),
            Kind::Boolean => Some(ValueType::Boolean),
            Kind::Date => Some(ValueType::Date),
            Kind::Timestamp => Some(ValueType::Timestamp),
            Kind::String | Kind::Nested => Some(ValueType::String),
            Kind::Null => None,
        }
    }
}

/// One non-null generated value, as delimited text (unquoted) and as a JSON token.
struct Cell {
    csv: String,
    json: String,
}

impl Cell {
    /// A number, written the same way in both formats.
    fn number(text: String) -> Cell {
        Cell {
            json: text.clone(),
            csv: text,
        }
    }

    /// Text that JSON carries as a string.
    fn text(text: String, rng: &mut Rng) -> Cell {
        Cell {
            json: json_string(&text, rng),
            csv: text,
        }
    }
}

/// A column of the generator's schema.
struct Column {
    name: &'static str,
    kind: Kind,
    null_percent: u64,
    json_only: bool,
    generate: fn(&mut Rng) -> Cell,
}

fn schema() -> Vec<Column> {
    let column = |name, kind, null_percent, generate| Column {
        name,
        kind,
        null_percent,
        json_only: false,
        generate,
    };
    vec![
        column("id", Kind::Integer, 0, |_| {
            unreachable!("ids are row numbers")
        }),
        column("qty", Kind::Integer, 10, qty),
        column("big", Kind::Integer, 5, big),
        column("amount", Kind::Float, 10, amount),
        column("score", Kind::Float, 10, score),
        column("precise", Kind::Float, 5, precise),
        column("wide", Kind::Float, 5, wide),
        column("tiny", Kind::Float, 5, tiny),
        column("flag", Kind::Boolean, 20, flag),
        column("day", Kind::Date, 15, |rng| {
            Cell::text(date(rng.between(-25_567, 47_482)), rng)
        }),
        column("at", Kind::Timestamp, 15, timestamp),
        column("name", Kind::String, 10, name),
        column("note", Kind::Null, 100, |_| unreachable!("always null")),
        Column {
            json_only: true,
            ..column("tags", Kind::Nested, 20, nested)
        },
    ]
}

/// Small integers; in delimited text sometimes with an explicit `+` or leading zeros.
fn qty(rng: &mut Rng) -> Cell {
    let v = rng.between(-1_000, 1_000);
    let mut cell = Cell::number(v.to_string());
    match rng.below(20) {
        0 if v > 0 => cell.csv = format!("+{v}"),
        1 => cell.csv = format!("{v:05}"),
        _ => {}
    }
    cell
}

/// Any 64-bit integer, the extremes included.
fn big(rng: &mut Rng) -> Cell {
    let v = match rng.below(100) {
        0 => i64::MIN,
        1 => i64::MAX,
        2..=10 => rng.between(-9, 9),
        _ => i64::from_ne_bytes(rng.next().to_ne_bytes()),
    };
    Cell::number(v.to_string())
}

/// Money-like decimals; in delimited text also `.5`, `-.25`, `5.` and `+1.5`.
fn amount(rng: &mut Rng) -> Cell {
    let cents = rng.between(-10_000_000, 10_000_000);
    let sign = if cents < 0 { "-" } else { "" };
    let (units, fraction) = (cents.abs() / 100, cents.abs() % 100);
    let mut cell = if rng.percent(10) {
        Cell::number(format!("{sign}{units}{fraction:02}e-2"))
    } else {
        Cell::number(format!("{sign}{units}.{fraction:02}"))
    };
    match rng.below(20) {
        0 if units == 0 => cell.csv = format!("{sign}.{fraction:02}"),
        1 if fraction == 0 => cell.csv = format!("{sign}{units}."),
        2 if cents > 0 => cell.csv = format!("+{units}.{fraction:02}"),
        3 => cell.csv = format!("{sign}{units}.{fraction:02}E0"),
        _ => {}
    }
    cell
}

/// Mostly integers with some halves: the core widens the column to float.
fn score(rng: &mut Rng) -> Cell {
    let v = rng.between(0, 100);
    Cell::number(if rng.percent(70) {
        v.to_string()
    } else {
        format!("{v}.5")
    })
}

/// Up to 25 significant digits, an exponent or none, or an integer of up to 25 digits (past
/// `i64` or not): rounding to the nearest `f64` matters.
fn precise(rng: &mut Rng) -> Cell {
    let digits = rng.between(1, 25);
    let mut mantissa = rng.between(1, 9).to_string();
    for _ in 1..digits {
        mantissa.push(char::from(b'0' + u8::try_from(rng.below(10)).unwrap()));
    }
    let sign = if rng.percent(50) { "-" } else { "" };
    if rng.percent(20) {
        return Cell::number(format!("{sign}{mantissa}"));
    }
    let point = usize::try_from(rng.between(1, digits)).unwrap();
    let (int, frac) = mantissa.split_at(point);
    let frac = if frac.is_empty() { "0" } else { frac };
    Cell::number(if rng.percent(50) {
        format!("{sign}{int}.{frac}e{}", rng.between(-30, 30))
    } else {
        format!("{sign}{int}.{frac}")
    })
}

/// Any finite `f64` (uniform bit patterns, so magnitudes from subnormal to near `f64::MAX`),
/// as Rust prints it shortest.
fn wide(rng: &mut Rng) -> Cell {
    let v = loop {
        let v = f64::from_bits(rng.next());
        if v.is_finite() {
            break v;
        }
    };
    Cell::number(shortest(v))
}

/// Positive subnormals and the smallest normals (below `2^-1021`), the extremes included: the
/// minimum is a subnormal, so both sides must parse those to the same bits.
fn tiny(rng: &mut Rng) -> Cell {
    let v = match rng.below(100) {
        0 => 5e-324,
        1 => f64::MIN_POSITIVE,
        _ => f64::from_bits(1 + rng.below(1 << 53)),
    };
    Cell::number(shortest(v))
}

/// The shortest text that reads back as `v`: plain for ordinary magnitudes (possibly an
/// integer, `12`; the column still holds floats), scientific otherwise.
fn shortest(v: f64) -> String {
    if (1e-5..1e15).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

fn flag(rng: &mut Rng) -> Cell {
    let v = rng.percent(50);
    let csv = *rng.pick(if v {
        &["true", "TRUE", "True"]
    } else {
        &["false", "FALSE", "False"]
    });
    Cell {
        csv: csv.to_owned(),
        json: v.to_string(),
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn timestamp(rng: &mut Rng) -> Cell {
    let day = date(rng.between(0, 25_000));
    let second = rng.between(0, 86_399);
    let separator = if rng.percent(50) { ' ' } else { 'T' };
    let (h, m, s) = (second / 3_600, second / 60 % 60, second % 60);
    Cell::text(format!("{day}{separator}{h:02}:{m:02}:{s:02}"), rng)
}

/// One to three words, some with the delimiters, quotes, line breaks, backslashes, non-ASCII.
fn name(rng: &mut Rng) -> Cell {
    const WORDS: &[&str] = &[
        "alpha",
        "Beta",
        "gamma",
        "δέλτα",
        "日本語",
        "🦀 crab",
        "O'Brien",
        "a/b",
        "back\\slash",
        "say \"hi\"",
        "\"quoted\"",
        "x, y",
        "semi;colon",
        "pipe|d",
        "tab\there",
        "two\nlines",
        "Zürich",
        "zeta",
        "~tilde",
        "123abc",
        "Ωmega",
    ];
    let words: Vec<&str> = (0..rng.between(1, 3)).map(|_| *rng.pick(WORDS)).collect();
    Cell::text(words.join(" "), rng)
}

fn nested(rng: &mut Rng) -> Cell {
    let json = match rng.below(3) {
        0 => format!("[{},{}]", rng.between(0, 9), rng.between(0, 9)),
        1 => format!("{{\"k\":\"v{}\",\"n\":null}}", rng.between(0, 99)),
        _ => "[]".to_owned(),
    };
    Cell {
        csv: String::new(),
        json,
    }
}

/// A JSON string literal, escaping `/` and non-ASCII characters (surrogate pairs included)
/// some of the time.
fn json_string(text: &str, rng: &mut Rng) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '/' if rng.percent(50) => out.push_str("\\/"),
            c if u32::from(c) < 0x20 => write!(out, "\\u{:04x}", u32::from(c)).unwrap(),
            c if !c.is_ascii() && rng.percent(30) => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    write!(out, "\\u{unit:04X}").unwrap();
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Generated rows: `None` is a null.
type Rows = Vec<Vec<Option<Cell>>>;

fn generate(columns: &[&Column], rng: &mut Rng) -> Rows {
    (1..=ROWS)
        .map(|id| {
            columns
                .iter()
                .map(|column| {
                    if column.name == "id" {
                        Some(Cell::number(id.to_string()))
                    } else if rng.percent(column.null_percent) {
                        None
                    } else {
                        Some((column.generate)(rng))
                    }
                })
                .collect()
        })
        .collect()
}

/// How a delimited file is written.
struct Delimited {
    delimiter: u8,
    header: bool,
    /// `"\n"` or `"\r\n"`.
    newline: &'static str,
    final_newline: bool,
    /// Starts with a UTF-8 byte-order mark.
    bom: bool,
}

/// RFC 4180: fields holding the delimiter, a quote or a line break are quoted, quotes
/// doubled; other fields are quoted now and then anyway. Nulls are empty fields, sometimes
/// `""`.
fn write_delimited(columns: &[&Column], rows: &Rows, how: &Delimited, rng: &mut Rng) -> Vec<u8> {
    let delimiter = char::from(how.delimiter);
    let newline = how.newline;
    let mut out = String::new();
    if how.bom {
        out.push('\u{feff}');
    }
    if how.header {
        let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
        out.push_str(&names.join(&delimiter.to_string()));
        out.push_str(newline);
    }
    for (index, row) in rows.iter().enumerate() {
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                out.push(delimiter);
            }
            match cell {
                None if rng.percent(15) => out.push_str("\"\""),
                None => {}
                Some(cell) => {
                    let text = &cell.csv;
                    if text.contains([delimiter, '"', '\n', '\r']) || rng.percent(3) {
                        out.push('"');
                        out.push_str(&text.replace('"', "\"\""));
                        out.push('"');
                    } else {
                        out.push_str(text);
                    }
                }
            }
        }
        if how.final_newline || index + 1 < rows.len() {
            out.push_str(newline);
        }
    }
    out.into_bytes()
}

/// One object per line; a null is `null` or a missing key; keys sometimes shuffled; spacing
/// varies.
fn write_json_lines(columns: &[&Column], rows: &Rows, rng: &mut Rng) -> Vec<u8> {
    let mut out = String::new();
    for row in rows {
        let mut entries: Vec<(&str, &str)> = Vec::new();
        for (column, cell) in columns.iter().zip(row) {
            match cell {
                Some(cell) => entries.push((column.name, &cell.json)),
                None if rng.percent(60) => entries.push((column.name, "null")),
                None => {}
            }
        }
        if rng.percent(30) {
            for i in (1..entries.len()).rev() {
                let j = usize::try_from(rng.below(i as u64 + 1)).unwrap();
                entries.swap(i, j);
            }
        }
        let (colon, comma) = if rng.percent(20) {
            (": ", ", ")
        } else {
            (":", ",")
        };
        out.push('{');
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                out.push_str(comma);
            }
            write!(out, "\"{key}\"{colon}{value}").unwrap();
        }
        out.push_str("}\n");
    }
    out.into_bytes()
}

/// A generated file and what both sides must be told about it.
struct DataSet {
    file: &'static str,
    bytes: Vec<u8>,
    format: Format,
    /// Delimiter and header of delimited text.
    delimited: Option<(u8, bool)>,
    gzip: bool,
    /// Starts with a UTF-8 byte-order mark.
    bom: bool,
    /// Column names (as the core names them) and kinds, in file order.
    columns: Vec<(String, Kind)>,
}

fn data_sets() -> Vec<DataSet> {
    let schema = schema();
    let all: Vec<&Column> = schema.iter().collect();
    let tabular: Vec<&Column> = schema.iter().filter(|c| !c.json_only).collect();
    let named = |columns: &[&Column]| -> Vec<(String, Kind)> {
        columns
            .iter()
            .map(|c| (c.name.to_owned(), c.kind))
            .collect()
    };
    let positional = |columns: &[&Column]| -> Vec<(String, Kind)> {
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("column_{}", i + 1), c.kind))
            .collect()
    };
    let delimited = |file, seed, how: Delimited| {
        let mut rng = Rng(seed);
        let rows = generate(&tabular, &mut rng);
        DataSet {
            file,
            bytes: write_delimited(&tabular, &rows, &how, &mut rng),
            format: Format::Csv,
            delimited: Some((how.delimiter, how.header)),
            gzip: false,
            bom: how.bom,
            columns: if how.header {
                named(&tabular)
            } else {
                positional(&tabular)
            },
        }
    };
    let json_lines = |file, seed, gzip: bool| {
        let mut rng = Rng(seed);
        let rows = generate(&all, &mut rng);
        let text = write_json_lines(&all, &rows, &mut rng);
        DataSet {
            file,
            bytes: if gzip {
                crate::support::gzip(&text)
            } else {
                text
            },
            format: Format::JsonLines,
            delimited: None,
            gzip,
            bom: false,
            columns: named(&all),
        }
    };
    vec![
        delimited(
            "people.csv",
            1,
            Delimited {
                delimiter: b',',
                header: true,
                newline: "\n",
                final_newline: true,
                bom: false,
            },
        ),
        delimited(
            "people.tsv",
            2,
            Delimited {
                delimiter: b'\t',
                header: true,
                newline: "\r\n",
                final_newline: true,
                bom: true,
            },
        ),
        delimited(
            "headerless.csv",
            3,
            Delimited {
                delimiter: b';',
                header: false,
                newline: "\n",
                final_newline: false,
                bom: false,
            },
        ),
        json_lines("events.jsonl", 4, false),
        json_lines("events.jsonl.gz", 5, true),
    ]
}

/// Runs the DuckDB side on every data set; panics with what to do when it cannot.
fn duckdb_profiles(request: &Json) -> Json {
    let python = crate::support::python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/duckdb_profile.py");
    let hint = "run `scripts/setup-tools` (creates .tools/venv with the pinned duckdb) \
                or set PIPELINE_PYTHON to a Python that has duckdb";
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "the DuckDB oracle cannot start {}: {e}; {hint}",
                python.display()
            )
        });
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(request.to_string().as_bytes())
        .expect("send the request to the DuckDB oracle");
    let output = child
        .wait_with_output()
        .expect("wait for the DuckDB oracle");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() != Some(MISSING_DUCKDB),
        "{}; {hint}",
        stderr.trim()
    );
    assert!(
        output.status.success(),
        "the DuckDB oracle ({} {}) failed ({}): {}",
        python.display(),
        script.display(),
        output.status,
        stderr.trim()
    );
    serde_json::from_slice(&output.stdout).expect("the DuckDB oracle prints JSON")
}

/// Our extreme and DuckDB's, compared in the column's kind; a description when they differ.
fn compare_extreme(kind: Kind, ours: &Json, duckdb: &Json) -> Option<String> {
    let same = match kind {
        Kind::Integer => ours.as_i64().is_some() && ours.as_i64() == duckdb.as_i64(),
        Kind::Float => {
            let theirs = duckdb["f64_bits"].as_u64().map(f64::from_bits);
            // `==`, so 0.0 and -0.0 are the same extreme.
            ours.as_f64().is_some() && ours.as_f64() == theirs
        }
        Kind::Boolean => ours.as_bool().is_some() && ours.as_bool() == duckdb.as_bool(),
        // The core keeps a timestamp's text; DuckDB prints it with a space.
        Kind::Timestamp => {
            ours.as_str().map(|s| s.replacen('T', " ", 1)).as_deref() == duckdb.as_str()
                && duckdb.is_string()
        }
        Kind::Date | Kind::String => ours.is_string() && ours.as_str() == duckdb.as_str(),
        Kind::Nested => true,
        Kind::Null => ours.is_null() && duckdb.is_null(),
    };
    (!same).then(|| match (kind, ours.as_f64()) {
        (Kind::Float, Some(v)) => {
            format!("core {ours} (f64_bits {}), DuckDB {duckdb}", v.to_bits())
        }
        _ => format!("core {ours}, DuckDB {duckdb}"),
    })
}

fn compare_column(
    set: &DataSet,
    name: &str,
    kind: Kind,
    ours: Option<&ColumnSummary>,
    rows: u64,
    duckdb: &Json,
    mismatches: &mut Vec<String>,
) {
    let mut fail = |what: &str, detail: String| {
        mismatches.push(format!(
            "{} column {name} ({kind:?}) {what}: {detail}",
            set.file
        ));
    };
    let Some(ours) = ours else {
        fail("missing", "the core has no such column".into());
        return;
    };
    if ours.value_type != kind.expected() {
        fail(
            "type",
            format!(
                "core {:?}, generated {:?}",
                ours.value_type,
                kind.expected()
            ),
        );
    }
    let non_null = duckdb["non_null"].as_u64().expect("a count");
    if (ours.count, ours.nulls) != (non_null, rows - non_null) {
        fail(
            "count/nulls",
            format!(
                "core {}/{}, DuckDB {non_null}/{}",
                ours.count,
                ours.nulls,
                rows - non_null
            ),
        );
    }
    for (which, our, their) in [
        ("min", &ours.min, &duckdb["min"]),
        ("max", &ours.max, &duckdb["max"]),
    ] {
        if let Some(detail) = compare_extreme(kind, our, their) {
            fail(which, detail);
        }
    }
}

#[test]
fn record_counts_null_counts_and_min_max_agree_with_duckdb() {
    let dir = crate::support::TempDir::new("shared-oracle");
    let sets = data_sets();
    let mut request = Vec::new();
    for set in &sets {
        let path = dir.0.join(set.file);
        std::fs::write(&path, &set.bytes).expect("write a data set");
        let (delimiter, header) = set.delimited.unwrap_or((b',', true));
        request.push(json!({
            "path": path.to_str().expect("a UTF-8 temporary path"),
            "reader": if set.format == Format::Csv { "csv" } else { "json" },
            "delimiter": char::from(delimiter).to_string(),
            "header": header,
            "compression": if set.gzip { "gzip" } else { "none" },
            "columns": set.columns.iter().map(|(n, k)| json!([n, k.duckdb()])).collect::<Vec<_>>(),
        }));
    }
    let answer = duckdb_profiles(&Json::Array(request));
    let version = answer["duckdb"].as_str().unwrap_or("?").to_owned();

    let mut mismatches = Vec::new();
    for (set, duckdb) in sets.iter().zip(
        answer["datasets"]
            .as_array()
            .expect("one answer per data set"),
    ) {
        let path = dir.0.join(set.file);
        let file = std::fs::File::open(&path).expect("open a data set");
        let analysis = process_reader(file, Config::default(), path.to_str(), 64 * 1024)
            .unwrap_or_else(|e| panic!("{}: the core failed: {e}", set.file));

        // The comparison means something only if the core read the file as it was written.
        let layout = &analysis.layout;
        let expected_layout = match set.delimited {
            Some((d, h)) => (Format::Csv, Some(d), Some(h)),
            None => (Format::JsonLines, None, None),
        };
        assert_eq!(
            (layout.format, layout.delimiter, layout.header, analysis.bom),
            (
                expected_layout.0,
                expected_layout.1,
                expected_layout.2,
                set.bom
            ),
            "{}: layout as detected by the core",
            set.file
        );

        let rows = duckdb["rows"].as_u64().expect("a row count");
        let records = analysis.records;
        if (records.total, records.valid, records.malformed) != (rows, rows, 0)
            || rows != ROWS as u64
        {
            mismatches.push(format!(
                "{}: records: core total {} valid {} malformed {}, DuckDB {rows} rows, generated {ROWS}",
                set.file, records.total, records.valid, records.malformed
            ));
        }
        if analysis.columns.len() != set.columns.len() {
            let names: Vec<&str> = analysis.columns.iter().map(|c| c.name.as_str()).collect();
            mismatches.push(format!("{}: core columns {names:?}", set.file));
        }
        for (index, (name, kind)) in set.columns.iter().enumerate() {
            // Delimited columns are positional; JSON Lines columns come in order of first
            // appearance, so look them up by name.
            let ours = match set.format {
                Format::Csv => analysis.columns.get(index).filter(|c| &c.name == name),
                Format::JsonLines => analysis.columns.iter().find(|c| &c.name == name),
            };
            compare_column(
                set,
                name,
                *kind,
                ours,
                rows,
                &duckdb["columns"][name],
                &mut mismatches,
            );
        }
    }
    assert!(
        mismatches.is_empty(),
        "the core disagrees with DuckDB {version}:\n  {}",
        mismatches.join("\n  ")
    );
}
