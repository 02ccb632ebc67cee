//! RFC 4180 edge cases and malformed inputs, each with its documented outcome. The outcomes
//! are the ones `docs/report.md` documents; none panics.

use shared::{Config, ErrorKind, ErrorName, MalformedKind, ValueType};

use crate::support::{analyze, gzip, lenient, zstd};

/// A named input, its key, the configuration to process it with, and what it must give.
type Case<'a> = (&'a str, Vec<u8>, Option<&'a str>, &'a Config, Expect);

/// What an input must give.
enum Expect {
    /// A report with these record counts (total, valid, malformed), this many columns, and
    /// these malformed kinds listed in order.
    Report {
        records: (u64, u64, u64),
        columns: usize,
        malformed: &'static [MalformedKind],
    },
    /// A named error whose message contains the text.
    Error(ErrorName, &'static str),
}

fn report(records: (u64, u64, u64), columns: usize, malformed: &'static [MalformedKind]) -> Expect {
    Expect::Report {
        records,
        columns,
        malformed,
    }
}

fn check(name: &str, input: &[u8], key: Option<&str>, config: &Config, expect: &Expect) {
    let result = analyze(input, config, key);
    match (expect, result) {
        (
            Expect::Report {
                records,
                columns,
                malformed,
            },
            Ok(analysis),
        ) => {
            let r = analysis.records;
            assert_eq!((r.total, r.valid, r.malformed), *records, "{name}: records");
            assert_eq!(analysis.columns.len(), *columns, "{name}: columns");
            let kinds: Vec<_> = analysis.malformed.iter().map(|m| m.kind).collect();
            assert_eq!(kinds, *malformed, "{name}: malformed kinds");
        }
        (Expect::Error(expected, text), Err(error)) => {
            assert_eq!(error.name(), *expected, "{name}: {error}");
            assert!(error.to_string().contains(text), "{name}: {error}");
        }
        (Expect::Report { .. }, Err(error)) => panic!("{name}: expected a report, got {error}"),
        (Expect::Error(..), Ok(analysis)) => {
            panic!("{name}: expected an error, got {:?}", analysis.records)
        }
    }
}

/// 8,000 clean rows, more than the default sniffing window, then the row `tail`.
fn after_sniff_window(tail: &[u8]) -> Vec<u8> {
    let mut input = b"id,text\n".to_vec();
    for i in 0..8_000 {
        input.extend_from_slice(format!("{i},row\n").as_bytes());
    }
    assert!(input.len() > Config::default().sniff_bytes);
    input.extend_from_slice(tail);
    input
}

#[test]
fn edge_cases_give_their_documented_outcomes() {
    use MalformedKind::*;
    let d = Config::default();
    let wide_header: String = (0..10_000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let wide_row: String = (0..10_000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let wide = format!("{wide_header}\n{wide_row}\n");
    let wider_header: String = (0..12_000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let wider_row: String = (0..12_000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let wider = format!("{wider_header}\n{wider_row}\n");
    let big_field = format!("id,blob\n1,\"{}\"\n2,x\n", "y".repeat(1 << 20));
    let csv_gz = gzip(b"a,b\n1,2\n3,4\n");
    let mut garbage_zstd = vec![0x28, 0xb5, 0x2f, 0xfd];
    garbage_zstd.extend((0..500u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8));
    let mut two_frames = zstd(b"a\tb\n1\t2\n");
    two_frames.extend(zstd(b"3\t4\n"));
    // As `pzstd` writes: each frame behind a skippable frame that holds its size.
    let mut behind_skippable_frames = Vec::new();
    for frame in [zstd(b"a,b\n1,2\n"), zstd(b"3,4\n")] {
        behind_skippable_frames.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]);
        behind_skippable_frames
            .extend_from_slice(&u32::try_from(frame.len()).unwrap().to_le_bytes());
        behind_skippable_frames.extend(frame);
    }
    let relaxed = lenient();
    let tight = Config {
        max_record_bytes: 64,
        ..lenient()
    };
    let count_limit = Config {
        malformed_limits: shared::MalformedLimits {
            max_count: Some(2),
            max_share: None,
        },
        ..d.clone()
    };

    let cases: Vec<Case<'_>> = vec![
        (
            "unterminated quote swallows the rest of the input",
            b"a,b\n1,2\n3,4\n5,\"open\n6,7\n".to_vec(),
            None,
            &d,
            report((3, 2, 1), 2, &[UnterminatedQuote]),
        ),
        (
            "quote inside an unquoted field is a character",
            b"a,b\n1,5\" screen\n3,4\n5,6\n".to_vec(),
            None,
            &d,
            report((3, 3, 0), 2, &[]),
        ),
        (
            "text after a closing quote",
            b"a,b\n1,\"x\"y\n3,4\n5,6\n".to_vec(),
            None,
            &d,
            report((3, 2, 1), 2, &[TextAfterClosingQuote]),
        ),
        (
            "CR-only line endings",
            b"a,b\r1,2\r3,4\r".to_vec(),
            None,
            &d,
            report((2, 2, 0), 2, &[]),
        ),
        (
            "mixed line endings",
            b"a,b\r\n1,2\n3,4\r5,6".to_vec(),
            None,
            &d,
            report((3, 3, 0), 2, &[]),
        ),
        (
            "ragged rows, short and long",
            b"a,b,c\n1,2,3\n1,2\n1,2,3,4\n4,5,6\n7,8,9\n".to_vec(),
            None,
            &d,
            report((5, 3, 2), 3, &[RaggedRow, RaggedRow]),
        ),
        (
            "UTF-8 byte-order mark",
            b"\xef\xbb\xbfa,b\n1,2\n".to_vec(),
            None,
            &d,
            report((1, 1, 0), 2, &[]),
        ),
        (
            "NUL bytes in the first bytes: binary",
            b"a,b\n1,\x002\n".to_vec(),
            None,
            &d,
            Expect::Error(ErrorName::UnsupportedFormat, "NUL byte at byte 6"),
        ),
        (
            "NUL byte past the sniffing window",
            after_sniff_window(b"1,x\x00y\n"),
            None,
            &d,
            report((8_001, 8_000, 1), 2, &[NulByte]),
        ),
        (
            "invalid UTF-8 in the first bytes",
            b"a,b\n1,caf\xe9\n".to_vec(),
            None,
            &d,
            Expect::Error(
                ErrorName::InvalidInput,
                "not UTF-8 text: invalid byte sequence at byte 9",
            ),
        ),
        (
            "invalid UTF-8 past the sniffing window",
            after_sniff_window(b"1,caf\xe9\n"),
            None,
            &d,
            report((8_001, 8_000, 1), 2, &[InvalidUtf8]),
        ),
        (
            "empty file",
            Vec::new(),
            None,
            &d,
            Expect::Error(ErrorName::InvalidInput, "empty"),
        ),
        (
            "only line breaks and spaces",
            b"\r\n  \n".to_vec(),
            None,
            &d,
            Expect::Error(ErrorName::InvalidInput, "empty"),
        ),
        (
            "header only",
            b"name,age\n".to_vec(),
            None,
            &d,
            report((0, 0, 0), 2, &[]),
        ),
        (
            "a 1 MiB field",
            big_field.into_bytes(),
            None,
            &d,
            report((2, 2, 0), 2, &[]),
        ),
        (
            "10,000 columns",
            wide.into_bytes(),
            None,
            &d,
            report((1, 1, 0), 10_000, &[]),
        ),
        (
            "12,000 columns: the first 10,000 profiled",
            wider.into_bytes(),
            None,
            &d,
            report((1, 1, 0), 10_000, &[]),
        ),
        (
            "truncated gzip",
            csv_gz[..csv_gz.len() - 5].to_vec(),
            None,
            &d,
            Expect::Error(ErrorName::InvalidInput, "truncated gzip"),
        ),
        (
            "zstd magic then garbage",
            garbage_zstd,
            None,
            &d,
            Expect::Error(ErrorName::InvalidInput, "corrupt zstd"),
        ),
        (
            "two zstd frames of TSV",
            two_frames,
            None,
            &d,
            report((2, 2, 0), 2, &[]),
        ),
        (
            "zstd frames behind skippable frames (pzstd)",
            behind_skippable_frames,
            None,
            &d,
            report((2, 2, 0), 2, &[]),
        ),
        (
            "a JSON document, not JSON Lines",
            b"{\n  \"a\": 1,\n  \"b\": [1, 2]\n}\n".to_vec(),
            Some("doc.json"),
            &d,
            Expect::Error(ErrorName::UnsupportedFormat, "JSON document"),
        ),
        (
            "prose, no delimiter",
            b"Dear reader\nthis is a letter\n".to_vec(),
            Some("letter.txt"),
            &d,
            Expect::Error(ErrorName::UnsupportedFormat, "no consistent delimiter"),
        ),
        (
            "blank lines between rows are skipped",
            b"a,b\n\n1,2\n\r\n\n3,4\n\n".to_vec(),
            None,
            &d,
            report((2, 2, 0), 2, &[]),
        ),
        (
            "JSON Lines with one invalid line",
            b"{\"a\":1}\n{\"a\":\n{\"a\":3}\n{\"a\":4}\n".to_vec(),
            None,
            &d,
            report((4, 3, 1), 1, &[InvalidJson]),
        ),
        (
            "record longer than the limit",
            format!("a,b\n1,{}\n2,3\n", "z".repeat(100)).into_bytes(),
            None,
            &tight,
            report((2, 1, 1), 2, &[RecordTooLarge]),
        ),
        (
            // Issue 11: a file of one huge line reported 0 records and 1 malformed (the line
            // taken for a header). A record too large to read is still a record.
            "a first row longer than the limit is a record, not a header",
            format!("{},b\n1,2\n", "z".repeat(100)).into_bytes(),
            Some("x.csv"),
            &tight,
            report((2, 1, 1), 2, &[RecordTooLarge]),
        ),
        (
            "one line longer than the limit and nothing else",
            format!("{},b", "z".repeat(100)).into_bytes(),
            Some("x.csv"),
            &tight,
            report((1, 0, 1), 0, &[RecordTooLarge]),
        ),
        (
            "JSON line longer than the limit",
            format!(
                "{{\"a\":1}}\n{{\"a\":\"{}\"}}\n{{\"a\":2}}",
                "z".repeat(100)
            )
            .into_bytes(),
            None,
            &tight,
            report((3, 2, 1), 1, &[RecordTooLarge]),
        ),
        (
            "more malformed records than the count limit",
            b"a,b\n1\n2\n3\n4,5\n".to_vec(),
            Some("x.csv"),
            &count_limit,
            Expect::Error(
                ErrorName::TooManyMalformedRecords,
                "3 malformed records, more than the limit of 2",
            ),
        ),
        (
            "more than half the records malformed",
            b"a,b\n1\n2\n3,4\n".to_vec(),
            None,
            &d,
            Expect::Error(
                ErrorName::TooManyMalformedRecords,
                "2 of 3 records are malformed",
            ),
        ),
        (
            "every n_ JSON value on a line is malformed, the input is not",
            b"[1,]\n{\"a\":1}\n".to_vec(),
            Some("x.jsonl"),
            &relaxed,
            report((2, 1, 1), 1, &[InvalidJson]),
        ),
    ];
    assert!(cases.len() >= 20);
    for (name, input, key, config, expect) in &cases {
        check(name, input, *key, config, expect);
        // Parallel parsing gives the same outcome (issue 13).
        crate::parallel::assert_agrees_with_sizes(name, input, *key, config, &[5, 64, 4_096]);
    }
}

#[test]
fn quoted_and_unquoted_empty_fields_are_both_null() {
    let analysis = analyze(b"a,b\n1,\"\"\n2,\n3,x\n", &Config::default(), None).unwrap();
    let b = &analysis.columns[1];
    assert_eq!((b.count, b.nulls), (1, 2));
}

#[test]
fn byte_order_mark_is_not_part_of_the_first_name_and_offsets_count_it() {
    let analysis = analyze(b"\xef\xbb\xbfa,b\n1\n2,3\n4,5\n", &Config::default(), None).unwrap();
    assert!(analysis.bom);
    assert_eq!(analysis.columns[0].name, "a");
    let first = &analysis.malformed[0];
    assert_eq!((first.record, first.line, first.byte_offset), (1, 2, 7));
}

#[test]
fn json_lines_columns_nested_values_and_repeated_keys() {
    let input = b"{\"id\":1,\"tags\":[\"a\"],\"id\":2}\n{\"id\":3,\"when\":\"2024-01-01\"}\n5\n";
    let analysis = analyze(input, &lenient(), Some("events.jsonl")).unwrap();
    let names: Vec<_> = analysis.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "tags", "when", "$"]);
    let id = &analysis.columns[0];
    // The last of a repeated key counts, once.
    assert_eq!((id.count, id.nulls), (2, 1));
    assert_eq!(
        (id.min.clone(), id.max.clone()),
        (serde_json::json!(2), serde_json::json!(3))
    );
    assert_eq!(analysis.columns[1].value_type, Some(ValueType::String));
    assert_eq!(analysis.columns[1].min, serde_json::json!("[\"a\"]"));
    assert_eq!(analysis.columns[2].value_type, Some(ValueType::Date));
    assert_eq!(analysis.columns[3].value_type, Some(ValueType::Integer));
}

#[test]
fn json_lines_objects_hold_their_own_keys_only() {
    // A wide object, one cut short, a narrower one (an escaped key) and one more: each line's
    // keys are its own, whatever the lines before held.
    let input = concat!(
        "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10}\n",
        "{\"a\":1,\"b\":\n",
        "{\"\\u0061\":\"x\"}\n",
        "{\"k\":true}\n",
    );
    let analysis = analyze(input.as_bytes(), &lenient(), Some("events.jsonl")).unwrap();
    assert_eq!((analysis.records.valid, analysis.records.malformed), (3, 1));
    let counts: Vec<_> = analysis
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.count, c.nulls))
        .collect();
    let mut expected = vec![("a", 2, 1)];
    expected.extend(["b", "c", "d", "e", "f", "g", "h", "i", "j", "k"].map(|k| (k, 1, 2)));
    assert_eq!(counts, expected);
    assert_eq!(analysis.columns[0].value_type, Some(ValueType::String));
}

#[test]
fn the_first_row_is_a_header_when_it_does_not_fit_the_types_below() {
    // (input, column names, records); DuckDB 2.0.0's `sniff_csv` reads each the same way.
    let cases: [(&[u8], &[&str], u64); 6] = [
        // DuckDB: header (a, a_1, b).
        (b"a,a,b\r\n1,2,3\r\n4,5,6\r\n", &["a", "a_2", "b"], 2),
        // DuckDB: header (a, column1, c).
        (b"a,,\"c\"\n1,2,3\n", &["a", "column_2", "c"], 1),
        // DuckDB: header: `id` is no integer.
        (b"id,2024\n1,5\n2,6\n", &["id", "2024"], 2),
        // DuckDB: no header: integers over integers.
        (b"2023,2024\n10,20\n", &["column_1", "column_2"], 2),
        // DuckDB: header: every column below is text.
        (b"Paris,France\nLondon,UK\n", &["Paris", "France"], 1),
        // DuckDB: no header. A one-row file of values is a record (it was taken for a header).
        (b"1,2\n", &["column_1", "column_2"], 1),
    ];
    for (input, names, records) in cases {
        let analysis = analyze(input, &Config::default(), Some("x.csv")).unwrap();
        let found: Vec<&str> = analysis.columns.iter().map(|c| c.name.as_str()).collect();
        let text = String::from_utf8_lossy(input);
        assert_eq!(found, names, "{text:?}");
        assert_eq!(analysis.records.total, records, "{text:?}");
    }
}

#[test]
fn too_wide_inputs_report_the_columns_left_out() {
    let names: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
    let input = format!("{}\n{}\n", names.join(","), vec!["1"; 30].join(","));
    let config = Config {
        max_columns: 20,
        ..Config::default()
    };
    let analysis = analyze(input.as_bytes(), &config, None).unwrap();
    assert_eq!(
        (analysis.columns.len(), analysis.columns_not_profiled),
        (20, 10)
    );
}

#[test]
fn corrupt_input_errors_name_their_kind() {
    let mut bad_crc = gzip(b"a,b\n1,2\n");
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 1;
    let error = analyze(&bad_crc, &Config::default(), None).unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::CorruptCompression { .. }));
    assert_eq!(error.name(), ErrorName::InvalidInput);
}

#[test]
fn json_lines_columns_come_in_order_of_first_appearance() {
    let input =
        b"{\"id\": 1, \"kind\": \"a\", \"id\": 2}\n{\"extra\": true, \"id\": 3, \"at\": 4}\n[5]\n";
    let analysis = analyze(input, &lenient(), Some("e.jsonl")).unwrap();
    let names: Vec<&str> = analysis.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "kind", "extra", "at", "$"]);
    // A repeated key counts once, with its last value.
    assert_eq!(analysis.columns[0].max, serde_json::json!(3));
    assert_eq!(analysis.columns[0].count, 2);
}
