//! Format detection: what the decompressed text is, judged on its first bytes.
//!
//! The content decides; the key's extension only breaks ties and allows single-column CSV.
//! JSON Lines is recognised when the first lines are JSON values. Delimited text is
//! recognised by the delimiter (`,`, tab, `;`, `|`) that splits its rows into the same number
//! of fields most consistently. Its first row is a header when every field of it is a
//! distinct, non-empty string that is not a number, boolean, date or timestamp.

use crate::config::{Config, Format};
use crate::delimited::{Record, RecordSink, Tokenizer};
use crate::error::{Error, ErrorKind};
use crate::infer::{Value, infer_text};
use crate::json_lines::is_json_value;

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
                None => sniff_header(&rows(sample, complete, delimiter)),
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

/// Rows of the sample as tokenized with `delimiter`: complete rows, or the one partial row
/// when the sample holds no complete one.
fn rows(sample: &[u8], complete: bool, delimiter: u8) -> Vec<Vec<String>> {
    struct Collect(Vec<Vec<String>>);
    impl RecordSink for Collect {
        fn record(&mut self, record: &Record<'_>) -> Result<(), Error> {
            if self.0.len() < SNIFF_ROWS {
                self.0.push(record.fields().map(str::to_owned).collect());
            }
            Ok(())
        }
    }
    let mut collect = Collect(Vec::new());
    let mut tokenizer = Tokenizer::new(delimiter, sample.len().max(1) * 2, 0);
    // Collect never fails.
    let _ = tokenizer.feed(sample, &mut collect);
    if complete {
        let _ = tokenizer.finish(&mut collect);
    } else if collect.0.is_empty() {
        // One row longer than the sample: its last field may be cut anywhere.
        let _ = tokenizer.finish(&mut collect);
        if let Some(row) = collect.0.first_mut() {
            row.pop();
        }
    }
    collect.0
}

/// The delimiter that splits the rows most consistently into two or more fields.
fn sniff_delimiter(sample: &[u8], complete: bool, hinted: Option<u8>) -> Option<u8> {
    let mut best: Option<((u32, bool, usize, usize), u8)> = None;
    for (order, &delimiter) in DELIMITERS.iter().enumerate() {
        let widths: Vec<usize> = rows(sample, complete, delimiter)
            .iter()
            .map(Vec::len)
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

fn sniff_header(rows: &[Vec<String>]) -> bool {
    let Some(first) = rows.first() else {
        return false;
    };
    let mut seen = std::collections::HashSet::new();
    first
        .iter()
        .all(|name| !name.is_empty() && seen.insert(name) && infer_text(name) == Value::String)
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
}
