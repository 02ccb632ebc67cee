//! The `suggest_contract` example: the draft it prints is a contract `Contract::parse` reads,
//! and it accepts the records of the file it was drafted from.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shared::{ColumnType, Value};
use shared::{Contract, ErrorName, Format};

fn suggest_command() -> Command {
    crate::support::example_command("suggest_contract")
}

fn temp_file(name: &str, content: &[u8]) -> PathBuf {
    crate::support::temp_file("shared-suggest", name, content)
}

/// Runs the example on `path` with `args` and reads its draft, which must parse.
fn suggest(path: &Path, args: &[&str]) -> (String, Contract) {
    let output = suggest_command().arg(path).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let draft = String::from_utf8(output.stdout).unwrap();
    let contract = Contract::parse(Path::new("suggested.toml"), &draft)
        .unwrap_or_else(|e| panic!("{e}\n{draft}"));
    (draft, contract)
}

fn column_types(contract: &Contract) -> Vec<(&str, ColumnType, bool)> {
    contract
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.column_type, c.nullable))
        .collect()
}

const ORDERS: &str = "\
id,big_id,customer,amount,day,at,paid,note
1,1,Ada,10.50,2026-12-01,2026-12-01T08:00:00Z,true,
2,9000000000,Alan,3,2026-12-02,2026-12-02 09:30,false,
3,-5,Grace,0.25,2026-12-03,2026-12-03,TRUE,rush
";

#[test]
fn suggest_contract_drafts_a_contract_that_parses() {
    let path = temp_file("Orders 2026-12.v2.csv", ORDERS.as_bytes());
    let (draft, contract) = suggest(&path, &[]);
    assert_eq!(contract.dataset, "orders_2026_12_v2", "{draft}");
    assert_eq!(contract.prefix, "incoming/orders_2026_12_v2/");
    assert_eq!(contract.format.format, Some(Format::Csv));
    assert_eq!(contract.format.delimiter, Some(b','));
    assert_eq!(contract.format.header, Some(true));
    assert_eq!(
        column_types(&contract),
        [
            ("id", ColumnType::Int32, false),
            ("big_id", ColumnType::Int64, false),
            ("customer", ColumnType::String, false),
            ("amount", ColumnType::Float64, false),
            ("day", ColumnType::Date, false),
            ("at", ColumnType::Timestamp, false),
            ("paid", ColumnType::Boolean, false),
            ("note", ColumnType::String, true),
        ]
    );
    assert!(draft.contains("# seen: 3 values, 0 nulls; min -5, max 9000000000\n"));

    // The draft accepts every record it was drafted from.
    let mut lines = ORDERS.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let binding = contract.bind(Some(&header)).unwrap();
    let mut values = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        binding
            .check_fields(&contract, &fields, &mut values)
            .unwrap_or_else(|r| panic!("{line}: {r:?}"));
    }
    assert_eq!(values[6], Some(Value::Boolean(true)));
}

#[test]
fn suggest_contract_takes_the_dataset_and_prefix_given() {
    let path = temp_file("x.csv", ORDERS.as_bytes());
    let (_, contract) = suggest(
        &path,
        &["--prefix", "incoming/shop/orders/", "--dataset", "orders"],
    );
    assert_eq!(contract.dataset, "orders");
    assert_eq!(contract.prefix, "incoming/shop/orders/");

    for (args, problem) in [
        (
            &["--dataset", "Orders Data"][..],
            "--dataset: dataset `Orders Data`",
        ),
        (&["--prefix", "incoming/orders"][..], "--prefix: prefix"),
        (&["--colour", "red"][..], "unknown option"),
        (&["--dataset"][..], "`--dataset` needs a value"),
    ] {
        let output = suggest_command().arg(&path).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(problem), "{args:?}: {stderr}");
    }
}

#[test]
fn suggest_contract_quotes_names_that_are_not_identifiers() {
    let names = [
        "unit price",
        "say \"hi\"",
        r"back\slash",
        "x = 1",
        "[table]",
        "# not a comment",
        "naïve 日本",
        "'single'",
    ];
    let mut text = names
        .iter()
        .map(|n| format!("\"{}\"", n.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(";");
    // Names with control characters cannot be contract columns: left out, with a comment.
    text.push_str(";\"tab\there\";\"two\nlines\"\n");
    for row in 0..3 {
        let fields: Vec<String> = (0..names.len() + 2)
            .map(|i| (row * 10 + i).to_string())
            .collect();
        text.push_str(&fields.join(";"));
        text.push('\n');
    }
    let path = temp_file("odd-names.csv", text.as_bytes());
    let (draft, contract) = suggest(&path, &[]);
    assert_eq!(contract.dataset, "odd_names");
    assert_eq!(contract.format.delimiter, Some(b';'));
    let parsed: Vec<&str> = contract.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(parsed, names, "{draft}");
    for left_out in [
        "# column 9, named \"tab\\there\", is left out",
        "# column 10, named \"two\\nlines\", is left out",
    ] {
        assert!(draft.contains(left_out), "{draft}");
    }
    // Quoted as TOML: `'` literals where a `"` or `\\` would need escaping.
    assert!(draft.contains("name = 'say \"hi\"'\n"), "{draft}");
}

#[test]
fn suggest_contract_reads_json_lines_and_tsv() {
    let path = temp_file(
        "events.jsonl",
        b"{\"id\": 1, \"kind\": \"open\", \"at\": \"2026-12-02T10:00:00Z\", \"extra\": null}\n\
          {\"id\": 2, \"kind\": \"close\", \"at\": \"2026-12-02T11:00:00+01:00\"}\n",
    );
    let (draft, contract) = suggest(&path, &[]);
    assert_eq!(contract.dataset, "events");
    assert_eq!(contract.format.format, Some(Format::JsonLines));
    assert!(
        !draft.contains("delimiter") && !draft.contains("header ="),
        "{draft}"
    );
    let types = column_types(&contract);
    assert_eq!(
        types,
        [
            ("id", ColumnType::Int32, false),
            ("kind", ColumnType::String, false),
            ("at", ColumnType::Timestamp, false),
            ("extra", ColumnType::String, true),
        ]
    );

    let path = temp_file("scores.tsv", b"name\tscore\nAda\t1.5\nAlan\t2\n");
    let (_, contract) = suggest(&path, &[]);
    assert_eq!(contract.format.delimiter, Some(b'\t'));
    assert_eq!(contract.columns[1].column_type, ColumnType::Float64);
}

#[test]
fn suggest_contract_names_the_error_and_exits_with_its_code() {
    let path = temp_file("doc.json", b"{\n  \"a\": 1\n}\n");
    let output: Output = suggest_command().arg(&path).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(ErrorName::UnsupportedFormat.exit_code())
    );
    assert!(output.stdout.is_empty(), "no partial output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("UnsupportedFormat: "), "{stderr}");

    let output = suggest_command()
        .arg("/nonexistent/file.csv")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(ErrorName::SourceMissing.exit_code())
    );
}
