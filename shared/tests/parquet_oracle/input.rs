//! The input-side oracle: DuckDB reads the CSV we convert, with the contract's types, and
//! must get exactly the rows and values it reads from our Parquet; pyarrow reads our Parquet
//! as a second implementation; our rejects must be exactly the violating records we planted,
//! with their reason, column, value, record number, line and byte offset.
//!
//! The CSV is generated (seeded, deterministic) from the Parquet oracle's columns (every
//! contract type, nulls beside empty strings, int64 and decimal extremes, dates 0001-01-01 and
//! 9999-12-31, timestamps to the microsecond) plus an `id` and a constrained `qty`, each value
//! spelled in one of the ways the contract and DuckDB both accept (`+7`, `007`, `.25`, `1e3`
//! floats, `TRUE`, timestamps with `T` or a space, zones `Z`, `+05:30`, `-0700`, `+01`, no
//! seconds, 7 to 9 fraction digits, a date alone), fields quoted when they must be and
//! sometimes when they need not. Between the valid rows sit violating rows of every reason.
//!
//! Where DuckDB and the contract legitimately differ, the test pins it (see `PINNED` and
//! docs/contracts.md, "Compared with DuckDB"): DuckDB's reader is more lenient in places
//! (`yes` and `1` as booleans, ` 42` and `1e3` as integers, `inf` and `NaN`, `2026-2-3`,
//! `24:00`, a named zone, decimals rounded to the scale), stricter in two (a lowercase `t`
//! between date and time, a leap second `:60`), and reads a quoted `""` as NULL by default.

use std::fmt::Write as _;

use serde_json::{Value as Json, json};
use shared::{ColumnType, SharedBuffer};
use shared::{Contract, ContractOutcome, Conversion, ConversionOutputs, Processor};

use super::{Cell, Column, MICROS_PER_DAY, Rng, civil, decimal_text, run_oracle, schema};

/// Valid records generated; violating ones come in between.
const VALID: usize = 3_000;
/// A violating record after every this many valid ones.
const VIOLATION_EVERY: usize = 5;

/// The contract: an `id`, the Parquet oracle's columns with a few constraints, and `qty`.
/// Built from the columns so that the names and types cannot drift apart.
fn contract_text(columns: &[Column]) -> String {
    let mut text = String::from(
        "dataset = \"oracle\"\nprefix = \"incoming/oracle/\"\n\n[format]\ntype = \"csv\"\n\
         delimiter = \",\"\nheader = true\n\n[rejects]\nmax_share = 1.0\n\n\
         [[columns]]\nname = \"id\"\ntype = \"int64\"\nnullable = false\n",
    );
    for column in columns {
        let spec = &column.spec;
        write!(
            text,
            "\n[[columns]]\nname = \"{}\"\ntype = \"{}\"\nnullable = {}\n",
            spec.name, spec.column_type, spec.nullable
        )
        .unwrap();
        match spec.name.as_str() {
            "name" => text.push_str("max_length = 40\n"),
            // "" is a value of a string column: a quoted empty field, allowed here.
            "region" => {
                text.push_str("allowed = [\"eu-west-1\", \"us-east-1\", \"ap-south-1\", \"\"]\n");
            }
            "qty" => text.push_str("min = 1\nmax = 100\n"),
            _ => {}
        }
    }
    text
}

/// The Parquet oracle's columns and `qty` (int32, 1 to 100).
fn columns() -> Vec<Column> {
    let mut columns = schema();
    columns.push(Column {
        spec: super::spec("qty", "int32", true),
        duckdb: "INTEGER",
        arrow: "int32",
        null_percent: 10,
        edges: vec![Cell::Int32(1), Cell::Int32(100)],
        generate: |rng| Cell::Int32(i32::try_from(rng.between(1, 100)).expect("small")),
    });
    columns
}

/// One field of the CSV: its unescaped text, and whether it is written quoted.
#[derive(Debug, Clone)]
struct Field {
    text: String,
    quoted: bool,
}

impl Field {
    fn plain(text: impl Into<String>) -> Field {
        Field {
            text: text.into(),
            quoted: false,
        }
    }

    /// As written in the file.
    fn written(&self) -> String {
        let needs = self.text.contains([',', '"', '\n', '\r']);
        if self.quoted || needs {
            format!("\"{}\"", self.text.replace('"', "\"\""))
        } else {
            self.text.clone()
        }
    }

    /// As the rejects' `raw` renders it: quoted only when it must be, and `""` for a quoted
    /// empty field.
    fn raw(&self) -> String {
        if self.text.contains([',', '"', '\n', '\r']) || (self.quoted && self.text.is_empty()) {
            format!("\"{}\"", self.text.replace('"', "\"\""))
        } else {
            self.text.clone()
        }
    }
}

/// A value of the cell spelled in one of the ways both DuckDB and the contract accept.
fn spell(cell: &Cell, column_type: ColumnType, rng: &mut Rng) -> String {
    match (cell, column_type) {
        (Cell::Boolean(b), _) => {
            let text = b.to_string();
            match rng.below(3) {
                0 => text.to_uppercase(),
                1 => text[..1].to_uppercase() + &text[1..],
                _ => text,
            }
        }
        (Cell::Int32(v), _) => spell_integer(i64::from(*v), rng),
        (Cell::Int64(v), _) => spell_integer(*v, rng),
        (Cell::Float64(v), _) => {
            if v.abs() > 1e-5 && v.abs() < 1e15 && rng.percent(50) {
                format!("{v}")
            } else if rng.percent(50) {
                format!("{v:e}")
            } else {
                format!("{v:E}")
            }
        }
        (Cell::Decimal(v), ColumnType::Decimal { scale, .. }) => {
            let mut text = decimal_text(*v, scale);
            // Fewer fraction digits than the scale: `7.50` as `7.5`, `7.00` as `7`.
            if scale > 0 && rng.percent(30) {
                text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
            }
            // `0.25` as `.25`, `-0.25` as `-.25`.
            if rng.percent(30) && text.contains('.') {
                if let Some(rest) = text.strip_prefix("0.") {
                    text = format!(".{rest}");
                } else if let Some(rest) = text.strip_prefix("-0.") {
                    text = format!("-.{rest}");
                }
            }
            if *v > 0 && rng.percent(10) {
                text.insert(0, '+');
            }
            text
        }
        (Cell::Date(days), _) => super::date_text(i64::from(*days)),
        (Cell::Timestamp(micros), _) => spell_timestamp(*micros, rng),
        (Cell::String(s), _) => s.clone(),
        (Cell::Decimal(_), other) => panic!("a decimal in a {other} column"),
    }
}

fn spell_integer(v: i64, rng: &mut Rng) -> String {
    match rng.below(10) {
        0 if v >= 0 => format!("+{v}"),
        1 if (0..1_000_000).contains(&v) => format!("00{v}"),
        _ => v.to_string(),
    }
}

/// A timestamp as local time in a zone (or UTC without one), in one of the spellings both
/// accept. Near the ends of years 0001 and 9999 the zone is UTC, so the local year stays in
/// range.
fn spell_timestamp(micros: i64, rng: &mut Rng) -> String {
    const ZONES: [(i64, &str); 8] = [
        (0, ""),
        (0, "Z"),
        (0, "+00:00"),
        (330, "+05:30"),
        (-420, "-0700"),
        (60, "+01"),
        (-570, "-09:30"),
        (840, "+1400"),
    ];
    let (year, _, _) = civil(micros.div_euclid(MICROS_PER_DAY));
    let (offset, zone) = if year <= 1 || year >= 9999 {
        *rng.pick(&ZONES[..3])
    } else {
        *rng.pick(&ZONES)
    };
    let local = micros + offset * 60_000_000;
    let days = local.div_euclid(MICROS_PER_DAY);
    let of_day = local.rem_euclid(MICROS_PER_DAY);
    let (seconds, fraction) = (of_day / 1_000_000, of_day % 1_000_000);
    let separator = if rng.percent(50) { 'T' } else { ' ' };
    let date = super::date_text(days);
    if of_day == 0 && zone.is_empty() && rng.percent(50) {
        return date;
    }
    let mut text = format!(
        "{date}{separator}{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60
    );
    if seconds % 60 != 0 || fraction != 0 || rng.percent(70) {
        write!(text, ":{:02}", seconds % 60).unwrap();
        if fraction != 0 {
            let digits = format!("{fraction:06}");
            match rng.below(3) {
                // Trailing zeros dropped.
                0 => write!(text, ".{}", digits.trim_end_matches('0')).unwrap(),
                // Digits below a microsecond, which both drop.
                1 => write!(text, ".{digits}{}", rng.below(1000)).unwrap(),
                _ => write!(text, ".{digits}").unwrap(),
            }
        }
    }
    text + zone
}

/// A record planted in the file and what the conversion must do with it.
#[derive(Debug, Clone)]
struct Planted {
    id: i64,
    fields: Vec<Field>,
    /// The values a valid record must have in the Parquet file (`None`: rejected).
    cells: Option<Vec<Option<Cell>>>,
    /// A rejected record's column (`None` for `field_count`, `malformed`), reason, value.
    reject: Option<(Option<&'static str>, &'static str, Option<String>)>,
    /// Whether DuckDB's typed read of the input reads the record.
    duckdb_reads: bool,
    /// The record's text is written as is, not from `fields` (malformed records).
    verbatim: Option<String>,
}

/// A violation: the column and the text put in it (quoted or not), the reason, and whether
/// DuckDB (typed, default options) reads the record anyway. Pinned: where DuckDB reads a
/// record the contract rejects, the contract is the stricter on purpose (docs/contracts.md,
/// "Compared with DuckDB").
const VIOLATIONS: &[(&str, &str, bool, &str, bool)] = &[
    ("flag", "yes", false, "type", true),
    ("flag", "1", false, "type", true),
    ("flag", " true", false, "type", false),
    ("small", "2147483648", false, "range", false),
    ("small", " 42", false, "type", true),
    ("small", "1e3", false, "type", true),
    ("small", "1.0", false, "type", true),
    ("small", "", false, "null", true),
    ("small", "", true, "null", true),
    ("big", "9223372036854775808", false, "range", false),
    ("big", "abc", false, "type", false),
    ("ratio", "inf", false, "type", true),
    ("ratio", "NaN", false, "type", true),
    ("ratio", "1e400", false, "type", true),
    ("ratio", "1_000", false, "type", true),
    ("price", "1.234", false, "range", true),
    ("price", "10000000.00", false, "range", false),
    ("price", "1e2", false, "type", true),
    ("amount", "", false, "null", true),
    // A quoted "" in a non-string column is null too, as DuckDB reads it by default.
    ("amount", "", true, "null", true),
    ("day", "2023-02-29", false, "type", false),
    ("day", "2026-2-3", false, "type", true),
    ("day", "2026-12-02 10:00", false, "type", true),
    ("at", "2026-12-02 24:00:00", false, "type", true),
    ("at", "2026-12-02 10:00:00 UTC", false, "type", true),
    ("at", "2026-13-01 00:00:00", false, "type", false),
    (
        "name",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnö",
        false,
        "too_long",
        true,
    ),
    ("region", "EU", false, "not_allowed", true),
    ("region", "", false, "null", true),
    ("qty", "0", false, "below_min", true),
    ("qty", "101", false, "above_max", true),
];

/// Valid in the contract, not read by DuckDB: a lowercase `t` between date and time (RFC
/// 3339 allows it), a leap second (`:60` lands on the next minute's first second).
const DUCKDB_REJECTS: &[(&str, i64)] = &[
    ("2026-12-02t10:00:00Z", 1_796_205_600_000_000),
    ("2016-12-31T23:59:60Z", 1_483_228_800_000_000),
];

/// The generated records, in file order.
fn plant(columns: &[Column], rng: &mut Rng) -> Vec<Planted> {
    let valid_rows = super::rows(columns, rng);
    let mut planted = Vec::new();
    let mut next_id = 1_i64;
    let mut id = || {
        let id = next_id;
        next_id += 1;
        id
    };
    let field_of = |cell: &Option<Cell>, column: &Column, rng: &mut Rng| match cell {
        None => Field::plain(""),
        Some(Cell::String(s)) if s.is_empty() => Field {
            text: String::new(),
            quoted: true,
        },
        Some(cell) => Field {
            text: spell(cell, column.spec.column_type, rng),
            quoted: rng.percent(5),
        },
    };
    let at_column = columns
        .iter()
        .position(|c| c.spec.name == "at")
        .expect("an `at` column");
    let mut violations = 0;
    let mut pinned = 0;
    for (index, row) in valid_rows.iter().take(VALID).enumerate() {
        let record_id = id();
        let mut fields = vec![Field::plain(spell_integer(record_id, rng))];
        fields.extend(
            row.iter()
                .zip(columns)
                .map(|(cell, column)| field_of(cell, column, rng)),
        );
        let mut cells = row.clone();
        let mut duckdb_reads = true;
        // A few valid records carry a timestamp DuckDB does not read.
        if index % 700 == 350 {
            let (text, micros) = DUCKDB_REJECTS[pinned % DUCKDB_REJECTS.len()];
            pinned += 1;
            fields[at_column + 1] = Field::plain(text);
            cells[at_column] = Some(Cell::Timestamp(micros));
            duckdb_reads = false;
        }
        planted.push(Planted {
            id: record_id,
            fields: fields.clone(),
            cells: Some(cells),
            reject: None,
            duckdb_reads,
            verbatim: None,
        });
        if index % VIOLATION_EVERY != VIOLATION_EVERY - 1 {
            continue;
        }
        // A violating record: this valid record's fields, one of them made bad.
        let bad_id = id();
        fields[0] = Field::plain(bad_id.to_string());
        let kind = violations % (VIOLATIONS.len() + 3);
        violations += 1;
        let record = match VIOLATIONS.get(kind) {
            Some(&(column, text, quoted, reason, duckdb_reads)) => {
                let at = 1 + columns
                    .iter()
                    .position(|c| c.spec.name == column)
                    .expect("a known column");
                fields[at] = Field {
                    text: text.into(),
                    quoted,
                };
                Planted {
                    id: bad_id,
                    fields,
                    cells: None,
                    reject: Some((Some(column), reason, Some(text.to_owned()))),
                    duckdb_reads,
                    verbatim: None,
                }
            }
            None if kind == VIOLATIONS.len() => {
                fields.push(Field::plain("extra"));
                Planted {
                    id: bad_id,
                    fields,
                    cells: None,
                    reject: Some((None, "field_count", None)),
                    duckdb_reads: false,
                    verbatim: None,
                }
            }
            None if kind == VIOLATIONS.len() + 1 => {
                fields.pop();
                Planted {
                    id: bad_id,
                    fields,
                    cells: None,
                    reject: Some((None, "field_count", None)),
                    duckdb_reads: false,
                    verbatim: None,
                }
            }
            None => {
                // Text after a closing quote: malformed.
                let text = format!(
                    "{},\"ab\"c{}",
                    bad_id,
                    ",".repeat(columns.len().saturating_sub(1))
                );
                Planted {
                    id: bad_id,
                    fields,
                    cells: None,
                    reject: Some((None, "malformed", None)),
                    duckdb_reads: false,
                    verbatim: Some(text),
                }
            }
        };
        planted.push(record);
    }
    planted
}

/// Converts `input` under `contract`, fed in pieces of `chunk` bytes.
fn convert(contract: &Contract, input: &[u8], chunk: usize) -> (ContractOutcome, Vec<u8>, String) {
    let (parquet, rejects) = (SharedBuffer::new(), SharedBuffer::new());
    let outputs = ConversionOutputs {
        parquet: Box::new(parquet.clone()),
        rejects: Box::new(rejects.clone()),
    };
    let key = "incoming/oracle/generated.csv";
    let conversion = Conversion::new(contract, key, outputs).expect("a conversion");
    let mut processor =
        Processor::with_conversion(crate::support::lenient(), Some(key), conversion);
    for piece in input.chunks(chunk) {
        processor.feed(piece).expect("feed");
    }
    let analysis = processor.finish().expect("the conversion succeeds");
    (
        analysis.contract.expect("a contract outcome"),
        parquet.take(),
        String::from_utf8(rejects.take()).expect("UTF-8 rejects"),
    )
}

#[test]
fn duckdb_reads_the_valid_input_as_it_reads_our_parquet_and_the_rejects_are_the_planted_ones() {
    let columns = columns();
    let contract = Contract::parse(
        std::path::Path::new("contracts/oracle.toml"),
        &contract_text(&columns),
    )
    .expect("the oracle's contract");
    let planted = plant(&columns, &mut Rng(0x1A9D_7C0F_FEE0_2026));

    // The file, and where each record starts.
    let header: Vec<String> = std::iter::once("id".to_owned())
        .chain(columns.iter().map(|c| c.spec.name.clone()))
        .collect();
    let mut csv = header.join(",") + "\n";
    // DuckDB's copy leaves out the malformed records: with `ignore_errors` DuckDB 2.0 stops
    // at the first field with text after its closing quote and silently reads no later row;
    // without `strict_mode` it reads `"ab"c` as `ab`. The contract rejects the record and
    // reads on (docs/contracts.md, "Compared with DuckDB").
    let mut duckdb_csv = csv.clone();
    let mut starts = Vec::with_capacity(planted.len());
    let mut line = 2_u64;
    for record in &planted {
        starts.push((csv.len() as u64, line));
        let text = record.verbatim.clone().unwrap_or_else(|| {
            record
                .fields
                .iter()
                .map(Field::written)
                .collect::<Vec<_>>()
                .join(",")
        });
        line += 1 + text.matches('\n').count() as u64;
        csv.push_str(&text);
        csv.push('\n');
        if record.verbatim.is_none() {
            duckdb_csv.push_str(&text);
            duckdb_csv.push('\n');
        }
    }

    let (outcome, parquet, rejects) = convert(&contract, csv.as_bytes(), usize::MAX);
    for chunk in [4_093, 65_536] {
        let again = convert(&contract, csv.as_bytes(), chunk);
        assert!(
            again == (outcome.clone(), parquet.clone(), rejects.clone()),
            "chunks of {chunk} give other outputs"
        );
    }

    // The rejects: exactly the planted violations, in order, with their place and reason.
    let expected: Vec<Json> = planted
        .iter()
        .zip(&starts)
        .enumerate()
        .filter_map(|(index, (record, &(byte_offset, line)))| {
            let (column, reason, value) = record.reject.clone()?;
            let mut reject = json!({
                "record": index + 1,
                "line": line,
                "byte_offset": byte_offset,
                "column": column,
                "reason": reason,
            });
            if let Some(value) = value.filter(|_| reason != "null") {
                reject["value"] = json!(value);
            }
            if record.verbatim.is_none() {
                let raw: Vec<String> = record.fields.iter().map(Field::raw).collect();
                reject["raw"] = json!(raw.join(","));
            }
            Some(reject)
        })
        .collect();
    let ours: Vec<Json> = rejects
        .lines()
        .zip(&expected)
        .map(|(line, expected)| {
            let mut reject: Json = serde_json::from_str(line).expect("a JSON line");
            let object = reject.as_object_mut().expect("an object");
            // Compared only where the expectation has them.
            for key in ["value", "raw"] {
                if expected.get(key).is_none() {
                    object.remove(key);
                }
            }
            reject
        })
        .collect();
    for (ours, expected) in ours.iter().zip(&expected) {
        assert_eq!(ours, expected, "a reject");
    }
    assert_eq!(
        rejects.lines().count(),
        expected.len(),
        "the number of rejects"
    );
    let valid: Vec<&Planted> = planted.iter().filter(|p| p.cells.is_some()).collect();
    assert_eq!(outcome.records_written, valid.len() as u64);
    assert_eq!(outcome.records_rejected, expected.len() as u64);

    // DuckDB on the input and on our Parquet; pyarrow on our Parquet.
    let dir = crate::support::TempDir::new("shared-input-oracle");
    let csv_path = dir.0.join("generated.csv");
    let parquet_path = dir.0.join("generated.parquet");
    std::fs::write(&csv_path, &duckdb_csv).expect("write the CSV");
    std::fs::write(&parquet_path, &parquet).expect("write the Parquet file");
    let duckdb_columns: Vec<Json> = std::iter::once(json!(["id", "BIGINT"]))
        .chain(columns.iter().map(|c| {
            let kind = if c.duckdb == "TIMESTAMP WITH TIME ZONE" {
                "TIMESTAMPTZ"
            } else {
                c.duckdb
            };
            json!([c.spec.name, kind])
        }))
        .collect();
    let strings: Vec<&str> = columns
        .iter()
        .filter(|c| c.spec.column_type == ColumnType::String)
        .map(|c| c.spec.name.as_str())
        .collect();
    let compared: Vec<i64> = valid
        .iter()
        .filter(|p| p.duckdb_reads)
        .map(|p| p.id)
        .collect();
    let request = json!({
        "csv": csv_path.to_str().expect("a UTF-8 path"),
        "parquet": parquet_path.to_str().expect("a UTF-8 path"),
        "columns": duckdb_columns,
        "strings": strings,
        "valid_ids": compared,
    });
    let answer = run_oracle("csv_input_read.py", &request);
    let versions = format!(
        "duckdb {}, pyarrow {}",
        answer["duckdb"].as_str().unwrap_or("?"),
        answer["pyarrow"].as_str().unwrap_or("?")
    );

    // Which records DuckDB's typed read could read: the pinned differences.
    let read_ids: std::collections::BTreeSet<i64> = answer["typed_ids"]
        .as_array()
        .expect("typed ids")
        .iter()
        .map(|id| id.as_i64().expect("an id"))
        .collect();
    let mut unexpected = Vec::new();
    for (record, &(_, line)) in planted.iter().zip(&starts) {
        if record.verbatim.is_none() && read_ids.contains(&record.id) != record.duckdb_reads {
            unexpected.push(format!(
                "line {line} (id {}, {:?}): DuckDB reads it: {}, expected {}",
                record.id, record.reject, !record.duckdb_reads, record.duckdb_reads
            ));
        }
    }
    assert!(
        unexpected.is_empty(),
        "{versions}: DuckDB's typed read of the input differs from the pinned expectation:\n{}",
        unexpected.join("\n")
    );

    // The valid records DuckDB reads: exactly what it reads from our Parquet.
    assert_eq!(
        (
            &answer["input_except_parquet"],
            &answer["parquet_except_input"]
        ),
        (&json!(0), &json!(valid.len() - compared.len())),
        "{versions}: EXCEPT ALL both ways (the Parquet file also holds the records DuckDB \
         does not read from the input)"
    );
    let theirs = answer["input_rows"].as_array().expect("input rows");
    assert_eq!(theirs.len(), compared.len(), "{versions}: input rows");
    let parquet_rows = answer["parquet_rows"].as_array().expect("Parquet rows");
    assert_eq!(parquet_rows.len(), valid.len(), "{versions}: Parquet rows");
    let by_id = |rows: &[Json]| -> std::collections::BTreeMap<String, Json> {
        rows.iter()
            .map(|row| (row[0].as_str().unwrap_or("?").to_owned(), row.clone()))
            .collect()
    };
    let parquet_by_id = by_id(parquet_rows);
    let mut mismatches = Vec::new();
    for row in theirs {
        let id = row[0].as_str().unwrap_or("?");
        if parquet_by_id.get(id) != Some(row) {
            mismatches.push(format!(
                "id {id}: input {row}, Parquet {:?}",
                parquet_by_id.get(id)
            ));
        }
    }
    // And every valid record's values are the generated ones (DuckDB's text of them).
    let header_types: Vec<ColumnType> = std::iter::once(ColumnType::Int64)
        .chain(columns.iter().map(|c| c.spec.column_type))
        .collect();
    for record in &valid {
        let cells = record.cells.as_ref().expect("a valid record");
        let expected: Vec<Json> = std::iter::once(json!(record.id.to_string()))
            .chain(
                cells
                    .iter()
                    .zip(&header_types[1..])
                    .map(|(cell, &kind)| cell.as_ref().map_or(Json::Null, |c| c.expected(kind))),
            )
            .collect();
        let expected = Json::Array(expected);
        if parquet_by_id.get(&record.id.to_string()) != Some(&expected) {
            mismatches.push(format!(
                "id {}: generated {expected}, Parquet {:?}",
                record.id,
                parquet_by_id.get(&record.id.to_string())
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{versions}: {} mismatches, first ones:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(10)].join("\n")
    );

    // pyarrow's values of our Parquet, rendered as DuckDB's text: the same rows.
    assert_eq!(
        answer["pyarrow_rows"].as_array().map(Vec::len),
        Some(valid.len()),
        "{versions}: pyarrow's rows"
    );
    for (arrow, duck) in answer["pyarrow_rows"]
        .as_array()
        .expect("pyarrow rows")
        .iter()
        .zip(parquet_rows)
    {
        assert_eq!(
            arrow, duck,
            "{versions}: pyarrow and DuckDB read our Parquet"
        );
    }
}
