//! The contract stage end to end through the processor: which records are written, which are
//! rejected and why, when the whole object fails, and that none of it depends on chunking.

use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use shared::{
    Config, Contract, ContractOutcome, Conversion, ConversionOutputs, ErrorName, Processor,
    SharedBuffer,
};

const ORDERS: &str = r#"
dataset = "orders"
prefix = "incoming/orders/"

[rejects]
max_share = 0.7

[[columns]]
name = "id"
type = "int64"
nullable = false
min = 1

[[columns]]
name = "amount"
type = "decimal(8, 2)"

[[columns]]
name = "currency"
type = "string"
allowed = ["EUR", "USD"]

[[columns]]
name = "day"
type = "date"
"#;

fn orders() -> Contract {
    Contract::parse(Path::new("contracts/orders.toml"), ORDERS).unwrap()
}

/// What a conversion produced: the outcome, the Parquet bytes and the rejects.
#[derive(Debug, PartialEq)]
struct Converted {
    outcome: ContractOutcome,
    parquet: Vec<u8>,
    rejects: String,
}

/// Runs `input` through a processor with `contract`'s stage, fed in pieces of `chunk` bytes.
fn convert(
    contract: &Contract,
    key: &str,
    input: &[u8],
    chunk: usize,
) -> Result<Converted, ErrorName> {
    let (parquet, rejects) = (SharedBuffer::new(), SharedBuffer::new());
    let outputs = ConversionOutputs {
        parquet: Box::new(parquet.clone()),
        rejects: Box::new(rejects.clone()),
    };
    let conversion = Conversion::new(contract, key, outputs).map_err(|e| e.name())?;
    let mut processor = Processor::with_conversion(Config::default(), Some(key), conversion);
    for piece in input.chunks(chunk.max(1)) {
        processor.feed(piece).map_err(|e| e.name())?;
    }
    let analysis = processor.finish().map_err(|e| e.name())?;
    Ok(Converted {
        outcome: analysis.contract.expect("a conversion outcome"),
        parquet: parquet.take(),
        rejects: String::from_utf8(rejects.take()).unwrap(),
    })
}

/// The Parquet file's rows, each value rendered as the parquet crate's reader shows it.
fn rows(parquet: Vec<u8>) -> Vec<Vec<String>> {
    let reader = SerializedFileReader::new(bytes::Bytes::from(parquet)).unwrap();
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            row.unwrap()
                .get_column_iter()
                .map(|(_, field)| match field {
                    Field::Null => "null".to_owned(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

const INPUT: &str = "id,amount,currency,day\n\
    1,10.50,EUR,2026-12-01\n\
    2,,USD,\n\
    0,1.00,EUR,2026-12-02\n\
    3,1.234,EUR,2026-12-02\n\
    4,2.00,GBP,2026-12-02\n\
    5,3.00,USD,2026-12-03,extra\n\
    x,1,EUR,2026-12-04\n\
    6,4.00,USD,2026-12-05\n";

#[test]
fn good_records_are_written_and_bad_ones_rejected_with_their_reason_and_place() {
    let converted = convert(
        &orders(),
        "incoming/orders/a.csv",
        INPUT.as_bytes(),
        usize::MAX,
    )
    .unwrap();
    let outcome = &converted.outcome;
    assert_eq!(outcome.dataset, "orders");
    assert_eq!((outcome.records_written, outcome.records_rejected), (3, 5));
    let by_reason: Vec<(&str, u64)> = outcome
        .rejected_by_reason
        .iter()
        .map(|(reason, count)| (reason.as_str(), *count))
        .collect();
    assert_eq!(
        by_reason,
        [
            ("below_min", 1),
            ("field_count", 1),
            ("not_allowed", 1),
            ("range", 1),
            ("type", 1)
        ]
    );
    assert_eq!(outcome.parquet_bytes, converted.parquet.len() as u64);
    assert_eq!(outcome.rejects_bytes, converted.rejects.len() as u64);

    assert_eq!(
        rows(converted.parquet),
        [
            ["1", "10.50", "\"EUR\"", "2026-12-01"],
            ["2", "null", "\"USD\"", "null"],
            ["6", "4.00", "\"USD\"", "2026-12-05"],
        ]
    );
    let rejects: Vec<serde_json::Value> = converted
        .rejects
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let summary: Vec<(u64, u64, &str, &str)> = rejects
        .iter()
        .map(|r| {
            (
                r["record"].as_u64().unwrap(),
                r["line"].as_u64().unwrap(),
                r["column"].as_str().unwrap_or("-"),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (3, 4, "id", "below_min"),
            (4, 5, "amount", "range"),
            (5, 6, "currency", "not_allowed"),
            (6, 7, "-", "field_count"),
            (7, 8, "id", "type"),
        ]
    );
    assert_eq!(rejects[0]["raw"], "0,1.00,EUR,2026-12-02");
    assert_eq!(rejects[0]["value"], "0");
    let third_line_offset = INPUT.find("0,1.00").unwrap() as u64;
    assert_eq!(rejects[0]["byte_offset"], third_line_offset);
}

#[test]
fn the_outputs_do_not_depend_on_chunking() {
    let whole = convert(
        &orders(),
        "incoming/orders/a.csv",
        INPUT.as_bytes(),
        usize::MAX,
    );
    for chunk in [1, 2, 7, 64] {
        let chunked = convert(&orders(), "incoming/orders/a.csv", INPUT.as_bytes(), chunk);
        assert_eq!(chunked, whole, "chunks of {chunk}");
    }
}

#[test]
fn a_header_the_contract_cannot_bind_fails_the_object() {
    let input = b"id,amount,day\n1,2.00,2026-12-01\n";
    assert_eq!(
        convert(&orders(), "incoming/orders/a.csv", input, usize::MAX),
        Err(ErrorName::ContractViolation)
    );
    // Reordered and extra columns are fine by default: matched by name.
    let input = b"day,currency,note,id,amount\n2026-12-01,EUR,x,1,2.00\n";
    let converted = convert(&orders(), "incoming/orders/a.csv", input, usize::MAX).unwrap();
    assert_eq!(
        rows(converted.parquet),
        [["1", "2.00", "\"EUR\"", "2026-12-01"]]
    );
}

#[test]
fn the_rejection_policy_fails_the_object_by_count_and_by_share() {
    // 5 of 8 rejected: more than a share of 0.5.
    let mut strict = orders();
    strict.rejects.max_share = Some(0.5);
    assert_eq!(
        convert(&strict, "incoming/orders/a.csv", INPUT.as_bytes(), 5),
        Err(ErrorName::ContractViolation)
    );
    let mut counted = orders();
    counted.rejects.max_count = Some(4);
    assert_eq!(
        convert(&counted, "incoming/orders/a.csv", INPUT.as_bytes(), 5),
        Err(ErrorName::ContractViolation)
    );
    counted.rejects.max_count = Some(5);
    assert!(convert(&counted, "incoming/orders/a.csv", INPUT.as_bytes(), 5).is_ok());
}

#[test]
fn json_lines_records_are_checked_by_key() {
    let mut contract = orders();
    contract.format.format = Some(shared::Format::JsonLines);
    let input = concat!(
        "{\"id\": 1, \"amount\": \"10.5\", \"currency\": \"EUR\", \"day\": \"2026-12-01\"}\n",
        "{\"day\": null, \"currency\": \"USD\", \"amount\": 3, \"id\": 2, \"other\": [1]}\n",
        // Escaped strings are read decoded.
        "{\"id\": 4, \"amount\": 1, \"currency\": \"E\\u0055R\", \"day\": \"2026-12-0\\u0032\"}\n",
        "{\"id\": \"7\", \"amount\": {\"x\": 1}}\n",
        "[1, 2]\n",
        "{\"id\": 3\n",
    );
    let converted = convert(
        &contract,
        "incoming/orders/a.jsonl",
        input.as_bytes(),
        usize::MAX,
    )
    .unwrap();
    assert_eq!(
        rows(converted.parquet),
        [
            ["1", "10.50", "\"EUR\"", "2026-12-01"],
            ["2", "3.00", "\"USD\"", "null"],
            ["4", "1.00", "\"EUR\"", "2026-12-02"],
        ]
    );
    let reasons: Vec<String> = converted
        .rejects
        .lines()
        .map(|line| {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            format!("{}:{}", r["line"], r["reason"].as_str().unwrap())
        })
        .collect();
    assert_eq!(reasons, ["4:type", "5:type", "6:malformed"]);
}

#[test]
fn a_key_without_the_contracts_partition_folders_fails() {
    let text = ORDERS.replace(
        "[rejects]",
        "[[partitions]]\nname = \"region\"\n\n[rejects]",
    );
    let contract = Contract::parse(Path::new("contracts/orders.toml"), &text).unwrap();
    assert_eq!(
        convert(
            &contract,
            "incoming/orders/a.csv",
            INPUT.as_bytes(),
            usize::MAX
        )
        .map(|_| ()),
        Err(ErrorName::ContractViolation)
    );
    assert!(
        convert(
            &contract,
            "incoming/orders/region=eu/a.csv",
            INPUT.as_bytes(),
            9
        )
        .is_ok()
    );
}

/// Every type, nullable and not, with constraints: for the test below.
const EVERY_TYPE: &str = r#"
dataset = "every_type"
prefix = "incoming/every_type/"

[rejects]
max_share = 1.0

[header]
missing_columns = "null"

[[columns]]
name = "flag"
type = "boolean"
[[columns]]
name = "small"
type = "int32"
[[columns]]
name = "big"
type = "int64"
nullable = false
[[columns]]
name = "ratio"
type = "float64"
[[columns]]
name = "price"
type = "decimal(7, 2)"
[[columns]]
name = "wide"
type = "decimal(38, 10)"
[[columns]]
name = "day"
type = "date"
[[columns]]
name = "at"
type = "timestamp"
[[columns]]
name = "code"
type = "string"
nullable = false
allowed = ["a", "b", ""]
[[columns]]
name = "level"
type = "int64"
min = 0
max = 100
[[columns]]
name = "label"
type = "string"
max_length = 6
[[columns]]
name = "absent"
type = "date"
"#;

/// A pass-through stage: put before the contract stage, the profile reads every field on its
/// own and the contract stage parses them again (the path before values were read once).
#[derive(Debug)]
struct PassThrough;

impl shared::Stage for PassThrough {
    fn start(&mut self, _columns: shared::StageColumns<'_>) -> Result<(), shared::Error> {
        Ok(())
    }
    fn record(&mut self, _record: &shared::StageRecord<'_>) -> Result<(), shared::Error> {
        Ok(())
    }
    fn finish(
        self: Box<Self>,
        _records: shared::RecordCounts,
    ) -> Result<serde_json::Value, shared::Error> {
        Ok(serde_json::Value::Null)
    }
}

/// A CSV of every type whose first rows keep each column's inferred type (values the
/// profile and the contract read alike, awkward ones included: signs, leading zeros,
/// exponents, zones) and whose last rows bring anything (so the profile's columns end as
/// strings and later values are parsed by the contract alone); some rows are ragged or
/// malformed, some fields quoted.
fn every_type_csv(header: bool) -> String {
    const KEEPING: [[&str; 6]; 10] = [
        ["true", "FALSE", "tRuE", "", "false", "True"],
        ["007", "+5", "-0", "2147483647", "2147483648", "-2147483648"],
        [
            "1",
            "+1",
            "-0",
            "9223372036854775807",
            "99999999999999999999",
            "",
        ],
        ["1e5", "-1e-3", "3", "1.", ".5", "-0.0"],
        ["1.5", "-0.00", "+1", "007.5", "12345.67", "123456.7"],
        [
            "1.0123456789",
            "-0",
            "12345678901234567890123456789.1",
            ".5",
            "1.00000000001",
            "9",
        ],
        [
            "2024-02-29",
            "0001-01-01",
            "9999-12-31",
            "1970-01-01",
            "",
            "2024-12-31",
        ],
        [
            "2026-12-02T10:00:00Z",
            "2026-12-02T10:00:00+01:00",
            "2026-12-02 10:00",
            "2026-12-02",
            "2026-12-02T10:00:00.123456-0530",
            "1969-12-31T23:59:60Z",
        ],
        ["a", "b", "\"\"", "", "c", "\"a\""],
        ["0", "100", "101", "-1", "+50", "007"],
    ];
    const ANYTHING: [&str; 16] = [
        "x",
        " 1",
        "1 ",
        "NaN",
        "inf",
        "1e309",
        "2023-02-29",
        "2024-1-1",
        "yes",
        "\"1,5\"",
        "0x10",
        "2026-12-02T24:00:00Z",
        "Ünïcödé",
        "",
        "\"\"",
        "-",
    ];
    let mut text = String::new();
    if header {
        text.push_str("flag,small,big,ratio,price,wide,day,at,code,level,label,extra\n");
    }
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % n as u64).unwrap()
    };
    for row in 0..600 {
        let mut fields: Vec<String> = Vec::new();
        for keeping in KEEPING {
            let anything = row >= 400 && next(16) == 0;
            // Mostly the first value, which meets the contract.
            fields.push(if anything {
                ANYTHING[next(ANYTHING.len())].to_owned()
            } else if next(8) == 0 {
                keeping[next(keeping.len())].to_owned()
            } else {
                keeping[0].to_owned()
            });
        }
        fields.push(["Ada", "Ünïcödé", "", "a much longer label"][next(16) % 5 % 4].to_owned());
        fields.push(next(100).to_string());
        match next(50) {
            0 => drop(fields.pop()),
            1 => fields.push("more".into()),
            2 => fields[0] = "\"open".into(),
            _ => {}
        }
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    text
}

#[test]
fn reading_each_value_once_for_the_profile_and_the_contract_changes_nothing() {
    for header in [true, false] {
        let mut contract = Contract::parse(Path::new("every_type.toml"), EVERY_TYPE).unwrap();
        contract.format.header = Some(header);
        if !header {
            // By position: one column per field.
            contract.columns.pop();
            let mut extra = contract.columns[9].clone();
            extra.name = "extra".into();
            contract.columns.push(extra);
        }
        let input = every_type_csv(header);
        let key = "incoming/every_type/x.csv";
        let run = |pass_through_first: bool| {
            let (parquet, rejects) = (SharedBuffer::new(), SharedBuffer::new());
            let outputs = ConversionOutputs {
                parquet: Box::new(parquet.clone()),
                rejects: Box::new(rejects.clone()),
            };
            let conversion = Conversion::new(&contract, key, outputs).unwrap();
            let processor = if pass_through_first {
                let config = Config {
                    header: Some(header),
                    ..Config::default()
                };
                Processor::new(config, Some(key))
                    .with_stage("pass", Box::new(PassThrough))
                    .with_stage("contract", Box::new(conversion))
            } else {
                Processor::with_conversion(Config::default(), Some(key), conversion)
            };
            let analysis = processor.read_to_end(input.as_bytes(), 4096).unwrap();
            (
                analysis.columns,
                analysis.records,
                analysis.contract,
                parquet.take(),
                rejects.take(),
            )
        };
        let once = run(false);
        let twice = run(true);
        let outcome = once.2.as_ref().unwrap();
        assert!(outcome.records_written > 100, "{outcome:?}");
        assert!(outcome.records_rejected > 100, "{outcome:?}");
        assert!(
            once.0
                .iter()
                .any(|c| c.value_type != Some(shared::ValueType::String)),
            "some columns keep their inferred type"
        );
        assert_eq!(once.0, twice.0, "the profile, header {header}");
        assert_eq!(once.1, twice.1);
        assert_eq!(once.2, twice.2);
        assert!(once.3 == twice.3, "the Parquet bytes, header {header}");
        assert_eq!(
            String::from_utf8(once.4).unwrap(),
            String::from_utf8(twice.4).unwrap()
        );
    }
}
