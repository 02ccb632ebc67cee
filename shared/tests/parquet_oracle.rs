//! DuckDB and pyarrow as independent readers of our Parquet.
//!
//! Generated rows covering every contract type (booleans; int32 and int64 with their
//! extremes; finite doubles of any bit pattern, subnormals and -0.0 among them; decimals of
//! precision 9, 18, 25 and 38 up to ±(10^p − 1); dates from 0001-01-01 to 9999-12-31;
//! timestamps to the microsecond over the same years; strings with Unicode, quotes, commas,
//! line breaks, and empty strings beside nulls) are written by [`ParquetWriter`] in several
//! row groups, then read back by DuckDB (`select * from 'file.parquet'`) and by pyarrow, from
//! the venv `scripts/setup-tools` creates (`scripts/requirements.txt` pins both).
//!
//! DuckDB must give back every value exactly (compared as DuckDB's text, doubles as their
//! IEEE 754 bits) and report the types the contract promises (BOOLEAN, INTEGER, BIGINT,
//! DOUBLE, DECIMAL(p,s), DATE, TIMESTAMP WITH TIME ZONE, VARCHAR); pyarrow must read the same
//! schema (names, arrow types, nullability), row count, row groups and null counts.
//!
//! The test fails, never skips, when Python, DuckDB or pyarrow is missing: set
//! `PIPELINE_PYTHON` or run `scripts/setup-tools`.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value as Json, json};
use shared::{ColumnSpec, ColumnType, Constraints, Value};
use shared::{ParquetOptions, ParquetWriter};

/// Rows written.
const ROWS: usize = 5_000;

/// The oracle script's exit status when it cannot import duckdb or pyarrow.
const MISSING_MODULE: i32 = 3;

/// Days from 0001-01-01 and to 9999-12-31 (since 1970-01-01).
const FIRST_DAY: i64 = -719_162;
const LAST_DAY: i64 = 2_932_896;
const MICROS_PER_DAY: i64 = 86_400_000_000;

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

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo).expect("a non-empty range") + 1;
        lo + i64::try_from(self.below(span)).expect("a range within i64")
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).expect("a small index")]
    }
}

/// One generated column: its contract, what DuckDB and pyarrow must call its type, and
/// how to draw a value.
struct Column {
    spec: ColumnSpec,
    duckdb: &'static str,
    arrow: &'static str,
    null_percent: u64,
    /// Values every file must hold (extremes), before the random ones.
    edges: Vec<Cell>,
    generate: fn(&mut Rng) -> Cell,
}

/// An owned value (strings are borrowed only when the row is pushed).
#[derive(Debug, Clone)]
enum Cell {
    Boolean(bool),
    Int32(i32),
    Int64(i64),
    Float64(f64),
    Decimal(i128),
    Date(i32),
    Timestamp(i64),
    String(String),
}

impl Cell {
    fn value(&self) -> Value<'_> {
        match self {
            Cell::Boolean(b) => Value::Boolean(*b),
            Cell::Int32(v) => Value::Int32(*v),
            Cell::Int64(v) => Value::Int64(*v),
            Cell::Float64(v) => Value::Float64(*v),
            Cell::Decimal(v) => Value::Decimal(*v),
            Cell::Date(v) => Value::Date(*v),
            Cell::Timestamp(v) => Value::Timestamp(*v),
            Cell::String(s) => Value::String(s),
        }
    }

    /// What DuckDB must print for this value in a column of `column_type`.
    fn expected(&self, column_type: ColumnType) -> Json {
        match (self, column_type) {
            (Cell::Boolean(b), _) => json!(b.to_string()),
            (Cell::Int32(v), _) => json!(v.to_string()),
            (Cell::Int64(v), _) => json!(v.to_string()),
            (Cell::Float64(v), _) => json!({ "f64_bits": v.to_bits() }),
            (Cell::Decimal(v), ColumnType::Decimal { scale, .. }) => json!(decimal_text(*v, scale)),
            (Cell::Date(days), _) => json!(date_text(i64::from(*days))),
            (Cell::Timestamp(micros), _) => json!(timestamp_text(*micros)),
            (Cell::String(s), _) => json!(s),
            (Cell::Decimal(_), other) => panic!("a decimal in a {other} column"),
        }
    }
}

/// `unscaled` with `scale` digits after the point: `-0.05`, `0.00`, `123`.
fn decimal_text(unscaled: i128, scale: u8) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let scale = usize::from(scale);
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (integer, fraction) = digits.split_at(digits.len() - scale);
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        format!("{sign}{integer}")
    } else {
        format!("{sign}{integer}.{fraction}")
    }
}

/// The civil date of a day number (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn date_text(days: i64) -> String {
    let (year, month, day) = civil(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// DuckDB's TIMESTAMP WITH TIME ZONE as text in UTC: the fraction without trailing zeros.
fn timestamp_text(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let of_day = micros.rem_euclid(MICROS_PER_DAY);
    let seconds = of_day / 1_000_000;
    let fraction = of_day % 1_000_000;
    let mut text = format!(
        "{} {:02}:{:02}:{:02}",
        date_text(days),
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if fraction != 0 {
        let digits = format!(".{fraction:06}");
        text.push_str(digits.trim_end_matches('0'));
    }
    text + "+00"
}

fn spec(name: &str, column_type: &str, nullable: bool) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        column_type: column_type.parse().expect("a column type"),
        nullable,
        constraints: Constraints::default(),
    }
}

fn max_unscaled(precision: u32) -> i128 {
    10_i128.pow(precision) - 1
}

/// A random unscaled decimal of up to `precision` digits (any digit count, either sign).
fn random_decimal(rng: &mut Rng, precision: u32) -> Cell {
    let digits = u32::try_from(rng.below(u64::from(precision)) + 1).expect("few digits");
    let magnitude = ((u128::from(rng.next()) << 64) | u128::from(rng.next())) % 10_u128.pow(digits);
    let magnitude = i128::try_from(magnitude).expect("at most 38 digits");
    Cell::Decimal(if rng.percent(50) {
        -magnitude
    } else {
        magnitude
    })
}

fn random_string(rng: &mut Rng) -> Cell {
    const PIECES: [&str; 14] = [
        "a",
        "Zürich",
        "日本語",
        "🦀",
        "\"quoted\"",
        "comma,",
        "line\nbreak",
        "tab\t",
        "\\",
        "'",
        " ",
        "NULL",
        "null",
        "0",
    ];
    let count = rng.below(5);
    Cell::String((0..count).map(|_| *rng.pick(&PIECES)).collect())
}

fn schema() -> Vec<Column> {
    vec![
        Column {
            spec: spec("flag", "boolean", true),
            duckdb: "BOOLEAN",
            arrow: "bool",
            null_percent: 10,
            edges: vec![Cell::Boolean(true), Cell::Boolean(false)],
            generate: |rng| Cell::Boolean(rng.percent(50)),
        },
        Column {
            spec: spec("small", "int32", false),
            duckdb: "INTEGER",
            arrow: "int32",
            null_percent: 0,
            edges: vec![Cell::Int32(i32::MIN), Cell::Int32(i32::MAX), Cell::Int32(0)],
            generate: |rng| {
                Cell::Int32(i32::try_from(rng.between(-1_000_000, 1_000_000)).expect("small"))
            },
        },
        Column {
            spec: spec("big", "int64", true),
            duckdb: "BIGINT",
            arrow: "int64",
            null_percent: 20,
            edges: vec![
                Cell::Int64(i64::MIN),
                Cell::Int64(i64::MAX),
                Cell::Int64(-1),
            ],
            #[allow(clippy::cast_possible_wrap)]
            generate: |rng| Cell::Int64((rng.next() >> rng.below(64)) as i64),
        },
        Column {
            spec: spec("ratio", "float64", true),
            duckdb: "DOUBLE",
            arrow: "double",
            null_percent: 10,
            edges: [
                0.0,
                -0.0,
                f64::MIN_POSITIVE,
                5e-324,
                f64::MAX,
                -f64::MAX,
                0.1,
                1e20,
            ]
            .into_iter()
            .map(Cell::Float64)
            .collect(),
            generate: |rng| loop {
                let value = f64::from_bits(rng.next());
                if value.is_finite() {
                    return Cell::Float64(value);
                }
            },
        },
        Column {
            spec: spec("price", "decimal(9, 2)", true),
            duckdb: "DECIMAL(9,2)",
            arrow: "decimal128(9, 2)",
            null_percent: 10,
            edges: vec![
                Cell::Decimal(max_unscaled(9)),
                Cell::Decimal(-max_unscaled(9)),
                Cell::Decimal(-5),
                Cell::Decimal(0),
            ],
            generate: |rng| random_decimal(rng, 9),
        },
        Column {
            spec: spec("amount", "decimal(18, 4)", false),
            duckdb: "DECIMAL(18,4)",
            arrow: "decimal128(18, 4)",
            null_percent: 0,
            edges: vec![
                Cell::Decimal(max_unscaled(18)),
                Cell::Decimal(-max_unscaled(18)),
            ],
            generate: |rng| random_decimal(rng, 18),
        },
        Column {
            spec: spec("count25", "decimal(25, 0)", true),
            duckdb: "DECIMAL(25,0)",
            arrow: "decimal128(25, 0)",
            null_percent: 10,
            edges: vec![
                Cell::Decimal(max_unscaled(25)),
                Cell::Decimal(-max_unscaled(25)),
            ],
            generate: |rng| random_decimal(rng, 25),
        },
        Column {
            spec: spec("wide", "decimal(38, 10)", true),
            duckdb: "DECIMAL(38,10)",
            arrow: "decimal128(38, 10)",
            null_percent: 10,
            edges: vec![
                Cell::Decimal(max_unscaled(38)),
                Cell::Decimal(-max_unscaled(38)),
                Cell::Decimal(1),
            ],
            generate: |rng| random_decimal(rng, 38),
        },
        Column {
            spec: spec("day", "date", true),
            duckdb: "DATE",
            arrow: "date32[day]",
            null_percent: 10,
            edges: vec![
                Cell::Date(i32::try_from(FIRST_DAY).expect("a day")),
                Cell::Date(i32::try_from(LAST_DAY).expect("a day")),
                Cell::Date(0),
                Cell::Date(-1),
            ],
            generate: |rng| {
                Cell::Date(i32::try_from(rng.between(FIRST_DAY, LAST_DAY)).expect("a day"))
            },
        },
        Column {
            spec: spec("at", "timestamp", true),
            duckdb: "TIMESTAMP WITH TIME ZONE",
            arrow: "timestamp[us, tz=UTC]",
            null_percent: 10,
            edges: vec![
                Cell::Timestamp(FIRST_DAY * MICROS_PER_DAY),
                Cell::Timestamp((LAST_DAY + 1) * MICROS_PER_DAY - 1),
                Cell::Timestamp(0),
                Cell::Timestamp(-1),
                Cell::Timestamp(1_500_000),
            ],
            generate: |rng| {
                let micros = rng.between(
                    FIRST_DAY * MICROS_PER_DAY,
                    (LAST_DAY + 1) * MICROS_PER_DAY - 1,
                );
                // Whole seconds often, as real data has them.
                Cell::Timestamp(if rng.percent(30) {
                    micros - micros.rem_euclid(1_000_000)
                } else {
                    micros
                })
            },
        },
        Column {
            spec: spec("name", "string", true),
            duckdb: "VARCHAR",
            arrow: "string",
            null_percent: 15,
            edges: vec![
                Cell::String(String::new()),
                Cell::String("🦀 日本語".into()),
            ],
            generate: random_string,
        },
        Column {
            spec: spec("region", "string", false),
            duckdb: "VARCHAR",
            arrow: "string",
            null_percent: 0,
            edges: vec![Cell::String(String::new())],
            generate: |rng| {
                Cell::String((*rng.pick(&["eu-west-1", "us-east-1", "ap-south-1"])).into())
            },
        },
    ]
}

/// Every row: the edges first (one per row, the other columns random), then random rows.
fn rows(columns: &[Column], rng: &mut Rng) -> Vec<Vec<Option<Cell>>> {
    (0..ROWS)
        .map(|row| {
            columns
                .iter()
                .map(|column| {
                    if let Some(edge) = column.edges.get(row) {
                        return Some(edge.clone());
                    }
                    if column.spec.nullable && rng.percent(column.null_percent) {
                        return None;
                    }
                    Some((column.generate)(rng))
                })
                .collect()
        })
        .collect()
}

mod input;

/// Runs DuckDB and pyarrow on the file; panics with what to do when it cannot.
fn read_with_oracles(path: &Path) -> Json {
    let request = json!({ "path": path.to_str().expect("a UTF-8 temporary path") });
    run_oracle("parquet_read.py", &request)
}

/// Runs `tests/oracle/<script>` with `request` on its stdin and returns the JSON it prints;
/// panics with what to do when Python, DuckDB or pyarrow is missing.
fn run_oracle(script: &str, request: &Json) -> Json {
    let python = crate::support::python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracle")
        .join(script);
    let hint = "run `scripts/setup-tools` (creates .tools/venv with the pinned duckdb and \
                pyarrow) or set PIPELINE_PYTHON to a Python that has both";
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "the Parquet oracle cannot start {}: {e}; {hint}",
                python.display()
            )
        });
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(request.to_string().as_bytes())
        .expect("send the request to the Parquet oracle");
    let output = child
        .wait_with_output()
        .expect("wait for the Parquet oracle");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() != Some(MISSING_MODULE),
        "{}; {hint}",
        stderr.trim()
    );
    assert!(
        output.status.success(),
        "the Parquet oracle ({} {}) failed ({}): {}",
        python.display(),
        script.display(),
        output.status,
        stderr.trim()
    );
    serde_json::from_slice(&output.stdout).expect("the Parquet oracle prints JSON")
}

#[test]
fn duckdb_and_pyarrow_read_back_every_value_and_type() {
    let columns = schema();
    let specs: Vec<ColumnSpec> = columns.iter().map(|c| c.spec.clone()).collect();
    let rows = rows(&columns, &mut Rng(0x5EED_0F9A_290E_7001));

    let dir = crate::support::TempDir::new("shared-parquet-oracle");
    let path = dir.0.join("generated.parquet");
    let options = ParquetOptions {
        max_row_group_rows: 1_024,
        ..ParquetOptions::default()
    };
    let file = std::fs::File::create(&path).expect("create the Parquet file");
    let mut writer = ParquetWriter::new(&specs, file, options).expect("a writer");
    for row in &rows {
        let values: Vec<Option<Value<'_>>> =
            row.iter().map(|c| c.as_ref().map(Cell::value)).collect();
        writer.push(&values).expect("push a row");
    }
    let (_, summary) = writer.finish().expect("finish the file");
    assert_eq!(summary.rows, ROWS as u64);
    assert_eq!(summary.row_groups, ROWS.div_ceil(1_024) as u64);
    assert_eq!(
        summary.bytes,
        std::fs::metadata(&path).expect("the file").len()
    );

    let answer = read_with_oracles(&path);
    let versions = format!(
        "duckdb {}, pyarrow {}",
        answer["duckdb"].as_str().unwrap_or("?"),
        answer["pyarrow"].as_str().unwrap_or("?")
    );

    // DuckDB: the types, then every value.
    let types: Vec<Json> = columns
        .iter()
        .map(|c| json!([c.spec.name, c.duckdb]))
        .collect();
    assert_eq!(
        answer["duckdb_types"],
        Json::Array(types),
        "{versions}: DuckDB's types"
    );
    let theirs = answer["duckdb_rows"].as_array().expect("DuckDB's rows");
    assert_eq!(theirs.len(), ROWS, "{versions}: DuckDB's row count");
    let mut mismatches = Vec::new();
    for (index, (ours, theirs)) in rows.iter().zip(theirs).enumerate() {
        let theirs = theirs.as_array().expect("a row");
        assert_eq!(
            theirs.len(),
            columns.len(),
            "{versions}: row {index}'s width"
        );
        for (column, (cell, their)) in columns.iter().zip(ours.iter().zip(theirs)) {
            let expected = cell
                .as_ref()
                .map_or(Json::Null, |c| c.expected(column.spec.column_type));
            if &expected != their {
                mismatches.push(format!(
                    "row {index} column {} ({}): wrote {cell:?}, expected {expected}, DuckDB {their}",
                    column.spec.name, column.spec.column_type
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{versions}: {} mismatches, first ones:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );

    // pyarrow: the schema, row count, row groups and nulls.
    let schema: Vec<Json> = columns
        .iter()
        .map(|c| json!([c.spec.name, c.arrow, c.spec.nullable]))
        .collect();
    assert_eq!(
        answer["pyarrow_schema"],
        Json::Array(schema),
        "{versions}: pyarrow's schema"
    );
    assert_eq!(answer["pyarrow_rows"], json!(ROWS), "{versions}");
    assert_eq!(
        answer["pyarrow_row_groups"],
        json!(summary.row_groups),
        "{versions}"
    );
    let nulls: Vec<usize> = (0..columns.len())
        .map(|i| rows.iter().filter(|row| row[i].is_none()).count())
        .collect();
    assert_eq!(
        answer["pyarrow_nulls"],
        json!(nulls),
        "{versions}: null counts"
    );
    // Each chunk's statistics (min, max, null count), as pyarrow reads them, against the
    // values it reads back.
    assert_eq!(
        answer["pyarrow_statistics_mismatches"],
        json!([]),
        "{versions}: statistics"
    );
}

#[test]
fn the_expected_texts_follow_duckdb() {
    assert_eq!(decimal_text(-5, 2), "-0.05");
    assert_eq!(decimal_text(0, 2), "0.00");
    assert_eq!(decimal_text(123, 0), "123");
    assert_eq!(decimal_text(1, 38), format!("0.{}1", "0".repeat(37)));
    assert_eq!(date_text(FIRST_DAY), "0001-01-01");
    assert_eq!(date_text(LAST_DAY), "9999-12-31");
    assert_eq!(timestamp_text(-1), "1969-12-31 23:59:59.999999+00");
    assert_eq!(timestamp_text(1_500_000), "1970-01-01 00:00:01.5+00");
}
