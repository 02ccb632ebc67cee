//! Format detection: what the decompressed text is, judged on its first bytes.
//!
//! The content decides; the key's extension only breaks ties and allows single-column CSV.
//! JSON Lines is recognised when the first lines are JSON values. Delimited text is
//! recognised by the delimiter (`,`, tab, `;`, `|`) that splits its rows into the same number
//! of fields most consistently. Its first row is a header when it does not fit the types of
//! the columns below it, as DuckDB's sniffer decides (see `sniff_header`).

use crate::config::{Config, Format};
use crate::delimited::{Record, RecordSink, Tokenizer};
use crate::error::{Error, ErrorKind};
use crate::infer::{Value, ValueType, infer_text};
use crate::json_lines::is_json_value;
use crate::malformed::MalformedKind;

/// The delimiters tried, in order of preference when they tie.
pub const DELIMITERS: [u8; 4] = [b',', b'\t', b';', b'|'];

/// Rows looked at to sniff a header and a delimiter, at most.
const SNIFF_ROWS: usize = 200;
/// JSON lines looked at to recognise JSON Lines, at most.
const SNIFF_LINES: usize = 20;

/// What an object key's extension suggests (after a `.gz` or `.zst` suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FormatHint {
    /// The format the extension names.
    pub format: Option<Format>,
    /// The delimiter the extension names (`.csv`, `.tsv`, `.psv`).
    pub delimiter: Option<u8>,
}

impl FormatHint {
    /// The hint of `key`'s extension: `.csv`, `.tsv`/`.tab`, `.psv`, `.jsonl`/`.ndjson`/`.json`,
    /// possibly followed by `.gz`/`.gzip`/`.zst`/`.zstd`.
    pub fn from_key(key: &str) -> FormatHint {
        let name = key.rsplit('/').next().unwrap_or(key).to_ascii_lowercase();
        let mut name = name.as_str();
        for suffix in [".gz", ".gzip", ".zst", ".zstd"] {
            if let Some(stripped) = name.strip_suffix(suffix) {
                name = stripped;
                break;
            }
        }
        let extension = name.rsplit_once('.').map_or("", |(_, ext)| ext);
        let (format, delimiter) = match extension {
            "csv" => (Some(Format::Csv), Some(b',')),
            "tsv" | "tab" => (Some(Format::Csv), Some(b'\t')),
            "psv" => (Some(Format::Csv), Some(b'|')),
            "jsonl" | "ndjson" | "json" => (Some(Format::JsonLines), None),
            _ => (None, None),
        };
        FormatHint { format, delimiter }
    }
}

/// How the text is laid out: the format and, for delimited text, delimiter and header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The format.
    pub format: Format,
    /// The delimiter (delimited text only).
    pub delimiter: Option<u8>,
    /// Whether the first row is a header (delimited text only).
    pub header: Option<bool>,
}

/// The byte-order mark UTF-8 text may start with: not data, and not sniffed.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// Whether `kept` bytes from the text's start are enough to decide its layout: a full
/// sample ([`Config::sniff_bytes`]) after a byte-order mark, if there is one.
pub(crate) fn enough_to_sniff(kept: usize, config: &Config) -> bool {
    kept >= config.sniff_bytes.max(1) + BOM.len()
}

/// A layout decided on the text's first bytes ([`sniff_layout`]).
#[derive(Debug)]
pub(crate) struct Sniffed<'a> {
    pub(crate) layout: Layout,
    /// Whether the text starts with a byte-order mark.
    pub(crate) bom: bool,
    /// The bytes after the byte-order mark: the first the parser is fed.
    pub(crate) body: &'a [u8],
    /// The offset of `body`'s first byte in the text.
    pub(crate) base: u64,
}

/// Decides the layout of a text from `kept`, its first bytes ([`enough_to_sniff`], or every
/// byte when `at_end`): the byte-order mark skipped, then [`detect`] on a sample of
/// [`Config::sniff_bytes`]. One thread and several decide it here alike.
pub(crate) fn sniff_layout<'a>(
    kept: &'a [u8],
    at_end: bool,
    hint: FormatHint,
    config: &Config,
) -> Result<Sniffed<'a>, Error> {
    let bom = kept.starts_with(BOM);
    let body = if bom { &kept[BOM.len()..] } else { kept };
    let sample = &body[..body.len().min(config.sniff_bytes.max(1))];
    let base = if bom { BOM.len() as u64 } else { 0 };
    let layout = detect(
        sample,
        at_end && sample.len() == body.len(),
        base,
        hint,
        config,
    )?;
    Ok(Sniffed {
        layout,
        bom,
        body,
        base,
    })
}

/// Decides the layout from `sample`, the first bytes of the text after any byte-order mark.
/// `complete` says the sample is the whole input; `base` is the sample's offset in the
/// decompressed input, for error positions.
pub(crate) fn detect(
    sample: &[u8],
    complete: bool,
    base: u64,
    hint: FormatHint,
    config: &Config,
) -> Result<Layout, Error> {
    if config.format.is_none() {
        check_text(sample, complete, base)?;
    }
    if complete && sample.iter().all(u8::is_ascii_whitespace) {
        return Err(ErrorKind::Empty.into());
    }
    let format = match config.format {
        Some(format) => format,
        None => detect_format(sample, complete, hint)?,
    };
    match format {
        Format::JsonLines => Ok(Layout {
            format,
            delimiter: None,
            header: None,
        }),
        Format::Csv => {
            let delimiter = match config.delimiter {
                Some(delimiter) => delimiter,
                None => match sniff_delimiter(sample, complete, hint.delimiter) {
                    Some(delimiter) => delimiter,
                    // One column is plausible only when something says it is delimited text.
                    None if config.format == Some(Format::Csv)
                        || hint.format == Some(Format::Csv) =>
                    {
                        hint.delimiter.unwrap_or(b',')
                    }
                    None => return Err(ErrorKind::NoDelimiter.into()),
                },
            };
            let header = match config.header {
                Some(header) => header,
                None => sniff_header(&rows(sample, complete, delimiter, config.max_record_bytes)),
            };
            Ok(Layout {
                format,
                delimiter: Some(delimiter),
                header: Some(header),
            })
        }
    }
}

/// Binary data and non-UTF-8 text cannot have their format guessed.
fn check_text(sample: &[u8], complete: bool, base: u64) -> Result<(), Error> {
    if let Some(nul) = memchr::memchr(0, sample) {
        return Err(ErrorKind::Binary {
            offset: base + nul as u64,
        }
        .into());
    }
    match std::str::from_utf8(sample) {
        Ok(_) => Ok(()),
        // A character cut by the end of the sample is fine when more input follows.
        Err(e) if e.error_len().is_none() && !complete => Ok(()),
        Err(e) => Err(ErrorKind::NotUtf8 {
            offset: base + e.valid_up_to() as u64,
        }
        .into()),
    }
}

fn detect_format(sample: &[u8], complete: bool, hint: FormatHint) -> Result<Format, Error> {
    let first = sample.iter().find(|b| !b.is_ascii_whitespace());
    let looks_json = matches!(first, Some(b'{' | b'['));
    if looks_json || hint.format == Some(Format::JsonLines) {
        let mut lines = complete_lines(sample, complete)
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .take(SNIFF_LINES)
            .peekable();
        if lines.peek().is_none() && looks_json {
            // One line longer than the sample: JSON Lines with one long record is the only
            // reading that works line by line.
            return Ok(Format::JsonLines);
        }
        if lines.any(is_json_value) {
            return Ok(Format::JsonLines);
        }
        if looks_json {
            return Err(ErrorKind::JsonDocument.into());
        }
    }
    Ok(Format::Csv)
}

/// The lines of `sample` that end inside it (all of them when it is the whole input).
fn complete_lines(sample: &[u8], complete: bool) -> impl Iterator<Item = &[u8]> {
    let usable = if complete {
        sample
    } else {
        memchr::memrchr(b'\n', sample).map_or(&sample[..0], |end| &sample[..end])
    };
    usable
        .split(|&b| b == b'\n')
        .filter(move |line| !line.is_empty() || complete)
}

/// A row of the sniffing sample.
#[derive(Debug)]
struct Row {
    fields: Vec<String>,
    /// The row's first problem, if it broke a rule.
    problem: Option<MalformedKind>,
}

/// Rows of the sample as tokenized with `delimiter`, keeping rows of at most
/// `max_record_bytes` (the tokenizer's measure): complete rows, or the one partial row when
/// the sample holds no complete one.
fn rows(sample: &[u8], complete: bool, delimiter: u8, max_record_bytes: usize) -> Vec<Row> {
    struct Collect(Vec<Row>);
    impl RecordSink for Collect {
        fn record(&mut self, record: &Record<'_>) -> Result<(), Error> {
            if self.0.len() < SNIFF_ROWS {
                self.0.push(Row {
                    fields: record.fields().map(str::to_owned).collect(),
                    problem: record.problem,
                });
            }
            Ok(())
        }
    }
    let mut collect = Collect(Vec::new());
    let mut tokenizer = Tokenizer::new(delimiter, max_record_bytes, 0);
    // Collect never fails.
    let _ = tokenizer.feed(sample, &mut collect);
    if complete {
        let _ = tokenizer.finish(&mut collect);
    } else if collect.0.is_empty() {
        // One row longer than the sample: its last field may be cut anywhere, even inside
        // quotes.
        let _ = tokenizer.finish(&mut collect);
        if let Some(row) = collect.0.first_mut() {
            row.fields.pop();
            if row.problem == Some(MalformedKind::UnterminatedQuote) {
                row.problem = None;
            }
        }
    }
    collect.0
}

/// The delimiter that splits the rows most consistently into two or more fields.
fn sniff_delimiter(sample: &[u8], complete: bool, hinted: Option<u8>) -> Option<u8> {
    let mut best: Option<((u32, bool, usize, usize), u8)> = None;
    for (order, &delimiter) in DELIMITERS.iter().enumerate() {
        // No row of the sample is too long here: the widths are what is being compared.
        let widths: Vec<usize> = rows(sample, complete, delimiter, usize::MAX)
            .iter()
            .map(|row| row.fields.len())
            .collect();
        let Some((mode, frequency)) = mode(&widths) else {
            continue;
        };
        if mode < 2 {
            continue;
        }
        // Consistency in tenths, so a hint or a wider split wins over a tiny difference.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let consistency = (frequency as f64 / widths.len() as f64 * 10.0).floor() as u32;
        let score = (
            consistency,
            hinted == Some(delimiter),
            mode,
            DELIMITERS.len() - order,
        );
        if best.is_none_or(|(best_score, _)| score > best_score) {
            best = Some((score, delimiter));
        }
    }
    best.map(|(_, delimiter)| delimiter)
}

/// The most frequent value and its frequency; the larger value wins a tie.
fn mode(values: &[usize]) -> Option<(usize, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for &value in values {
        *counts.entry(value).or_insert(0usize) += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(value, count)| (count, value))
}

/// Whether the first row is a header, decided as DuckDB's sniffer does: by comparing the
/// first row's fields with the types of the columns below it.
///
/// Each column's type is inferred (by the profile's inference) from the rows below the first
/// that have as many fields as it and are not malformed (longer than the record limit, a
/// quote left open…); empty fields are nulls and tell nothing. Then the first row is a
/// header when
/// - some field of it does not fit its column's type (a name over integers, dates,
///   booleans…; an integer fits a float column and a date a timestamp column, an empty field
///   fits any), or
/// - no column below has a type other than text (DuckDB's rule: over text columns the first
///   row is taken for names, whatever it holds), or
/// - all its fields are empty.
///
/// With nothing below to compare with (a single row, or only empty fields below), the first
/// row is compared with itself: a header when all its fields are text that is not a value.
/// Repeated names do not count against a header (they become `name_2`…).
fn sniff_header(rows: &[Row]) -> bool {
    let Some((first, below)) = rows.split_first() else {
        return false;
    };
    // A row too long to read is a record (a malformed one), never a header.
    if first.problem == Some(MalformedKind::RecordTooLarge) {
        return false;
    }
    if first.fields.iter().all(String::is_empty) {
        // Empty fields only: names to make up (DuckDB's rule). A row with no field left (its
        // only field cut by the end of the sample) or unreadable (not UTF-8) tells nothing.
        return first.problem.is_none() && !first.fields.is_empty();
    }
    let width = first.fields.len();
    let mut types: Vec<Option<ValueType>> = vec![None; width];
    for row in below {
        if row.problem.is_some() || row.fields.len() != width {
            continue;
        }
        for (column, field) in types.iter_mut().zip(&row.fields) {
            if field.is_empty() || *column == Some(ValueType::String) {
                continue;
            }
            let found = infer_text(field).value_type();
            *column = Some(column.map_or(found, |known| known.join(found)));
        }
    }
    if types.iter().all(Option::is_none) {
        return first
            .fields
            .iter()
            .all(|field| !field.is_empty() && infer_text(field) == Value::String);
    }
    let mut any_typed = false;
    for (column, field) in types.iter().zip(&first.fields) {
        let Some(column) = *column else { continue };
        if column == ValueType::String {
            continue;
        }
        any_typed = true;
        if !field.is_empty() && infer_text(field).value_type().join(column) != column {
            return true;
        }
    }
    !any_typed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(text: &str) -> Result<Layout, Error> {
        detect(
            text.as_bytes(),
            true,
            0,
            FormatHint::default(),
            &Config::default(),
        )
    }

    #[test]
    fn hints_from_keys() {
        assert_eq!(
            FormatHint::from_key("incoming/a.CSV.gz").delimiter,
            Some(b',')
        );
        assert_eq!(FormatHint::from_key("x/y.tsv").delimiter, Some(b'\t'));
        assert_eq!(
            FormatHint::from_key("d.ndjson.zst").format,
            Some(Format::JsonLines)
        );
        assert_eq!(FormatHint::from_key("dir.csv/file"), FormatHint::default());
    }

    #[test]
    fn delimiters_and_headers() {
        let l = layout("a;b;c\n1;2;3\n4;5;6\n").unwrap();
        assert_eq!((l.delimiter, l.header), (Some(b';'), Some(true)));
        let l = layout("1\t2\n3\t4\n").unwrap();
        assert_eq!((l.delimiter, l.header), (Some(b'\t'), Some(false)));
        // A comma inside quotes does not count.
        let l = layout("name|note\nx|\"a,b,c\"\ny|\"d,e\"\n").unwrap();
        assert_eq!(l.delimiter, Some(b'|'));
    }

    #[test]
    fn json_lines_and_json_documents() {
        assert_eq!(
            layout("{\"a\":1}\n{\"a\":2}\n").unwrap().format,
            Format::JsonLines
        );
        let err = layout("{\n  \"a\": 1\n}\n").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::JsonDocument));
    }

    #[test]
    fn text_that_is_not_data() {
        assert!(matches!(layout("").unwrap_err().kind(), ErrorKind::Empty));
        assert!(matches!(
            layout(" \n\r\n").unwrap_err().kind(),
            ErrorKind::Empty
        ));
        assert!(matches!(
            layout("just some words\nand more\n").unwrap_err().kind(),
            ErrorKind::NoDelimiter
        ));
        let err = detect(
            b"ab\0cd",
            true,
            3,
            FormatHint::default(),
            &Config::default(),
        )
        .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Binary { offset: 5 }));
        let err = detect(
            b"a,b\n\xe9,1\n",
            true,
            0,
            FormatHint::default(),
            &Config::default(),
        )
        .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::NotUtf8 { offset: 4 }));
    }

    #[test]
    fn a_single_column_needs_a_csv_hint() {
        let hint = FormatHint::from_key("emails.csv");
        let l = detect(b"email\na@b.c\n", true, 0, hint, &Config::default()).unwrap();
        assert_eq!((l.delimiter, l.header), (Some(b','), Some(true)));
    }

    /// Whether `text` (a `.csv` upload) is read with a header.
    fn header(text: &str) -> bool {
        header_with(text, &Config::default())
    }

    fn header_with(text: &str, config: &Config) -> bool {
        let hint = FormatHint::from_key("upload.csv");
        let layout = detect(text.as_bytes(), true, 0, hint, config).unwrap();
        layout.header.unwrap()
    }

    /// The column names the whole processor gives `text` (a `.csv` upload).
    fn names(text: &str) -> Vec<String> {
        let mut processor = crate::Processor::new(Config::default(), Some("upload.csv"));
        processor.feed(text.as_bytes()).unwrap();
        let analysis = processor.finish().unwrap();
        analysis.columns.into_iter().map(|c| c.name).collect()
    }

    // Each case says what DuckDB 2.0.0 decides (`sniff_csv(...)`'s `HasHeader`).

    #[test]
    fn a_repeated_name_over_values_is_a_header() {
        // DuckDB: header, columns a, a_1, b (its suffixes count from 1; ours from 2).
        assert!(header("a,a,b\n1,2,3\n4,5,6\n"));
        assert_eq!(names("a,a,b\n1,2,3\n4,5,6\n"), ["a", "a_2", "b"]);
        // DuckDB: header, a, a_1, a_2, b.
        assert_eq!(names("a,a,a,b\n1,2,3,4\n"), ["a", "a_2", "a_3", "b"]);
        // DuckDB: header (CRLF line ends change nothing).
        assert_eq!(names("a,a,b\r\n1,2,3\r\n4,5,6\r\n"), ["a", "a_2", "b"]);
    }

    #[test]
    fn a_name_over_typed_values_is_a_header() {
        // DuckDB: header.
        assert!(header("name,age\nbob,42\nann,37\n"));
        // DuckDB: header: `id` is no integer, even though `2024` is one.
        assert!(header("id,2024\n1,5\n2,6\n"));
        // DuckDB: header: a single column too.
        assert!(header("n\n1\n2\n"));
        // DuckDB: header: a name over dates.
        assert!(header("day,event\n2024-01-01,launch\n2024-02-03,party\n"));
        // DuckDB: header: a name over timestamps.
        assert!(header(
            "when,n\n2024-01-01 10:00:00,1\n2024-01-02 11:00:00,2\n"
        ));
        // DuckDB: header: `flag` is no boolean.
        assert!(header("flag,n\ntrue,1\nfalse,2\n"));
        // DuckDB: header: integers are no booleans.
        assert!(header("0,1\ntrue,false\nfalse,true\n"));
        // DuckDB: header: 1.5 is no integer.
        assert!(header("1.5,2\n1,2\n3,4\n"));
        // DuckDB: header: a timestamp is no date.
        assert!(header(
            "2024-01-01 10:00:00,x\n2024-01-01,y\n2024-01-02,z\n"
        ));
    }

    #[test]
    fn a_first_row_that_fits_the_types_below_is_data() {
        // DuckDB: no header.
        assert!(!header("1,2\n3,4\n5,6\n"));
        // DuckDB: no header: `2023,2024` are integers like the rows below.
        assert!(!header("2023,2024\n10,20\n30,40\n"));
        // DuckDB: no header: integers fit a float column.
        assert!(!header("2023,2024\n1.5,2.5\n3.5,4.5\n"));
        // DuckDB: no header: a date fits a timestamp column.
        assert!(!header(
            "2024-01-01,1\n2024-01-01 10:00:00,2\n2024-01-02 11:00:00,3\n"
        ));
        // DuckDB: no header: dates over dates; text over text.
        assert!(!header("2024-01-01,x\n2024-01-02,y\n2024-01-03,z\n"));
        // DuckDB: no header: text over text, an integer over integers.
        assert!(!header("x,1\ny,2\nz,3\n"));
        // DuckDB: no header: `region` sits over text, the years over integers. (A header,
        // but nothing in the types tells it.)
        assert!(!header("region,2023,2024\neu,10,20\nus,30,40\n"));
        // DuckDB: no header: quotes do not make a name.
        assert!(!header("\"1\",\"2\"\n3,4\n"));
    }

    #[test]
    fn repeated_values_are_no_header_signal() {
        // DuckDB: no header: a repeated value is data.
        assert!(!header("0,0,1\n1,2,3\n4,5,6\n"));
        // DuckDB: no header: repeated text over text, an integer over integers.
        assert!(!header("x,x,1\ny,z,2\nu,v,3\n"));
    }

    #[test]
    fn over_text_columns_the_first_row_is_a_header() {
        // DuckDB: header whenever every column below is text, whatever the first row holds.
        assert!(header("city,country\nParis,France\nLondon,UK\n"));
        assert!(header("Paris,France\nLondon,UK\nRome,Italy\n"));
        assert!(header("1,2\nx,y\nz,w\n"));
        // DuckDB: header.
        assert!(header("x,x\ny,z\nu,v\n"));
        // DuckDB: header.
        assert!(header("city,country\r\nParis,France\r\n"));
    }

    #[test]
    fn empty_fields_in_the_first_row() {
        // DuckDB: header, columns a, column1, c (0-based); ours `column_N` from 1.
        assert!(header("a,,c\n1,2,3\n4,5,6\n"));
        assert_eq!(names("a,,c\n1,2,3\n4,5,6\n"), ["a", "column_2", "c"]);
        // DuckDB: no header: an empty field fits any column; 1 fits the integers.
        assert!(!header("1,\n1,2\n3,4\n"));
        // DuckDB: header: a first row of empty fields only.
        assert!(header(",\n1,2\n3,4\n"));
        assert_eq!(names(",\n1,2\n3,4\n"), ["column_1", "column_2"]);
    }

    #[test]
    fn columns_empty_below_tell_nothing() {
        // DuckDB: header (named `1`, `1_1`): its column with no value below takes no value at
        // all. Ours: the empty column tells nothing; 1 fits the integers below: data.
        assert!(!header("1,1\n2,\n3,\n"));
        assert!(!header("1,x\n2,\n3,\n"));
        // DuckDB: header; ours too: the only column with values below is text.
        assert!(header("x,1\ny,\nz,\n"));
        // DuckDB: header (both columns empty below). Ours: nothing below to compare with, so
        // the first row is judged alone, as a single row is.
        assert!(!header("1,2\n,\n,\n"));
        assert!(header("a,b\n,\n,\n"));
    }

    #[test]
    fn a_single_row_is_a_header_when_all_its_fields_are_names() {
        // DuckDB: header.
        assert!(header("name,age\n"));
        assert!(header("\"a\",\"b\"\r\n"));
        // DuckDB: header, columns a, a_1.
        assert!(header("a,a\n"));
        assert_eq!(names("a,a\n"), ["a", "a_2"]);
        // DuckDB: no header.
        assert!(!header("1,2\n"));
        assert!(!header("a,1\n"));
        assert!(!header("a,true\n"));
        assert!(!header("a,\n"));
        // DuckDB: header (every field empty).
        assert!(header(",\n"));
    }

    #[test]
    fn quoted_names() {
        // DuckDB: header, columns `a,1` and `b`.
        assert!(header("\"a,1\",\"b\"\n1,2\n3,4\n"));
        assert_eq!(names("\"a,1\",\"b\"\n1,2\n3,4\n"), ["a,1", "b"]);
    }

    #[test]
    fn rows_the_profile_cannot_read_are_left_out_of_the_comparison() {
        let tight = Config {
            max_record_bytes: 64,
            ..Config::default()
        };
        // The long row would make both columns text (hence a header); it is malformed, and
        // the rows that count are integers under integers.
        let text = format!("1,2\n{},x\n3,4\n", "z".repeat(100));
        assert!(!header_with(&text, &tight));
        // A first row longer than the limit is a record, never a header.
        let text = format!("{},b\n1,2\n", "z".repeat(100));
        assert!(!header_with(&text, &tight));
        // Rows of another width than the first are left out: here only the last one counts.
        assert!(header("a,b\n1\n2\n3,4\n"));
    }

    #[test]
    fn tiny_inputs_are_read_whole() {
        // The sniffing tokenizer once cut rows under its overhead of 4 bytes per field, so
        // `a,b,c` had no delimiter and `1,2` was an empty header.
        let l = layout("a,b,c\n").unwrap();
        assert_eq!((l.delimiter, l.header), (Some(b','), Some(true)));
        let l = layout("1,2\n").unwrap();
        assert_eq!((l.delimiter, l.header), (Some(b','), Some(false)));
    }

    #[test]
    fn every_column_counts_not_only_the_profiled_ones() {
        let narrow = Config {
            max_columns: 2,
            ..Config::default()
        };
        assert!(header_with("1,2,name\n3,4,5\n", &narrow));
    }
}
