//! JSON Lines: one JSON value per line, profiled by top-level key.
//!
//! Lines end at `\n` (a `\r` before it is whitespace); blank lines are skipped. Each line must
//! be exactly one JSON value (RFC 8259), else the record is malformed. An object's top-level
//! keys are the columns; when a key repeats inside one object the last value counts, as in
//! most JSON parsers. A nested object or array is profiled as a string holding its JSON text.
//! A line holding a value other than an object is profiled as the column `$`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::conversion::recycle;
use crate::error::Error;
use crate::infer::{Value, infer_json_number, infer_json_string};
use crate::malformed::{MalformedKind, MalformedLog, Position};
use crate::profile::Columns;
use crate::stage::{StageColumns, StageFields, StageList, StageRecord};

/// The column that holds lines whose value is not an object.
pub const VALUE_COLUMN: &str = "$";

/// Splits JSON Lines into records and profiles them.
#[derive(Debug)]
pub(crate) struct JsonLinesProfiler {
    /// The start of a line that continues in the next chunk.
    pending: Vec<u8>,
    /// The pending line passed the size limit: its bytes are dropped.
    pending_oversized: bool,
    pending_offset: u64,
    /// Offset of the next chunk's first byte.
    offset: u64,
    /// Line number of the next line to complete, from 1.
    line: u64,
    max_record_bytes: usize,
    pub(crate) columns: Columns,
    pub(crate) malformed: MalformedLog,
    /// For each column, the last record that gave it a value (so a repeated key counts once).
    last_record: Vec<u64>,
    pub(crate) total: u64,
    pub(crate) valid: u64,
    /// The processing stages, which see every record.
    pub(crate) stages: StageList,
    /// The entries of the last object line, emptied: each line's are read into the same
    /// allocation (a fresh one a line made allocating and growing it most of the worker
    /// threads' time in the allocator).
    entries: Vec<(Cow<'static, str>, &'static RawValue)>,
}

impl JsonLinesProfiler {
    pub(crate) fn new(
        columns: Columns,
        malformed: MalformedLog,
        max_record_bytes: usize,
        start_offset: u64,
    ) -> JsonLinesProfiler {
        JsonLinesProfiler {
            pending: Vec::new(),
            pending_oversized: false,
            pending_offset: start_offset,
            offset: start_offset,
            line: 1,
            max_record_bytes,
            columns,
            malformed,
            last_record: Vec::new(),
            total: 0,
            valid: 0,
            stages: StageList::default(),
            entries: Vec::new(),
        }
    }

    /// Adds the processing stages.
    pub(crate) fn with_stages(mut self, stages: StageList) -> JsonLinesProfiler {
        self.stages = stages;
        self
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let mut rest = chunk;
        let mut base = self.offset;
        while let Some(newline) = memchr::memchr(b'\n', rest) {
            if self.pending.is_empty() && !self.pending_oversized {
                let line = &rest[..newline];
                self.line_done(line, line.len() > self.max_record_bytes, base)?;
            } else {
                self.buffer(&rest[..newline]);
                let line = std::mem::take(&mut self.pending);
                let oversized = std::mem::take(&mut self.pending_oversized);
                let result = self.line_done(&line, oversized, self.pending_offset);
                // Keep the allocation for the next line that spans chunks.
                self.pending = line;
                self.pending.clear();
                result?;
            }
            base += newline as u64 + 1;
            rest = &rest[newline + 1..];
        }
        if !rest.is_empty() {
            if self.pending.is_empty() && !self.pending_oversized {
                self.pending_offset = base;
            }
            self.buffer(rest);
        }
        self.offset += chunk.len() as u64;
        Ok(())
    }

    /// The number of the next line to complete, from 1.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// Skips whole lines parsed elsewhere (parallel parsing merges their profile): the
    /// next chunk starts at `offset`, `lines` lines on. Only at a line start (the last byte
    /// fed was a `\n`).
    pub(crate) fn skip_lines(&mut self, offset: u64, lines: u64) {
        debug_assert!(self.pending.is_empty() && !self.pending_oversized);
        self.offset = offset;
        self.line += lines;
    }

    pub(crate) fn finish(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() && !self.pending_oversized {
            return Ok(());
        }
        let line = std::mem::take(&mut self.pending);
        let oversized = std::mem::take(&mut self.pending_oversized);
        self.line_done(&line, oversized, self.pending_offset)
    }

    fn buffer(&mut self, bytes: &[u8]) {
        if self.pending_oversized {
            return;
        }
        if self.pending.len() + bytes.len() > self.max_record_bytes {
            self.pending_oversized = true;
            self.pending = Vec::new();
        } else {
            self.pending.extend_from_slice(bytes);
        }
    }

    /// Handles one complete line (without its `\n`).
    fn line_done(&mut self, line: &[u8], oversized: bool, start: u64) -> Result<(), Error> {
        let number = self.line;
        self.line += 1;
        if !oversized && line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            return Ok(());
        }
        self.total += 1;
        let at = Position {
            record: self.total,
            line: number,
            byte_offset: start,
        };
        if oversized {
            let seen = StageRecord {
                position: at.into(),
                contract: None,
                problem: Some(MalformedKind::RecordTooLarge),
                fields: StageFields::JsonLines {
                    line: "",
                    members: None,
                },
            };
            self.stages.record(StageColumns::JsonLines, &seen)?;
            return self.malformed.push(at, MalformedKind::RecordTooLarge, || {
                format!(
                    "the line is longer than the maximum of {} bytes",
                    self.max_record_bytes
                )
            });
        }
        let (text, parsed) = parse_line(line, recycle(std::mem::take(&mut self.entries)));
        if !self.stages.is_empty() {
            let seen = StageRecord {
                position: at.into(),
                contract: None,
                problem: match (&parsed, text) {
                    (Ok(_), _) => None,
                    (Err(_), Some(_)) => Some(MalformedKind::InvalidJson),
                    (Err(_), None) => Some(MalformedKind::InvalidUtf8),
                },
                fields: StageFields::JsonLines {
                    line: text.unwrap_or(""),
                    members: match &parsed {
                        Ok(Line::Object(members)) => Some(members.as_slice()),
                        Ok(Line::Other(_)) | Err(_) => None,
                    },
                },
            };
            self.stages.record(StageColumns::JsonLines, &seen)?;
        }
        match parsed {
            Ok(record) => {
                self.valid += 1;
                self.profile(&record);
                if let Line::Object(entries) = record {
                    self.entries = recycle(entries);
                }
                Ok(())
            }
            Err(error) => {
                let kind = if text.is_none() {
                    MalformedKind::InvalidUtf8
                } else {
                    MalformedKind::InvalidJson
                };
                self.malformed.push(at, kind, || match kind {
                    MalformedKind::InvalidUtf8 => {
                        format!("the line is not valid UTF-8: {error}")
                    }
                    _ => format!("the line is not one JSON value: {error}"),
                })
            }
        }
    }

    fn profile(&mut self, record: &Line<'_>) {
        let stamp = self.total;
        match record {
            Line::Object(entries) => {
                // Last value wins for a repeated key: walk backwards, skip columns seen.
                for (key, raw) in entries.iter().rev() {
                    let known = self.columns.len();
                    let Some(index) = self.columns.named(key) else {
                        continue;
                    };
                    if self.columns.len() > known {
                        // A new column: it is listed where its key first appears.
                        let first = entries.iter().position(|(k, _)| k == key).unwrap_or(0);
                        self.columns.set_first_seen(index, stamp, first);
                    }
                    if index >= self.last_record.len() {
                        self.last_record.resize(index + 1, 0);
                    }
                    if self.last_record[index] == stamp {
                        continue;
                    }
                    self.last_record[index] = stamp;
                    observe(&mut self.columns, index, raw);
                }
            }
            &Line::Other(raw) => {
                let known = self.columns.len();
                if let Some(index) = self.columns.named(VALUE_COLUMN) {
                    if self.columns.len() > known {
                        self.columns.set_first_seen(index, stamp, 0);
                    }
                    observe(&mut self.columns, index, raw);
                }
            }
        }
    }
}

/// Profiles one JSON value into column `index`; `null` is not observed (it counts as null).
fn observe(columns: &mut Columns, index: usize, raw: &RawValue) {
    let text = raw.get();
    let column = columns.get_mut(index);
    match text.as_bytes().first() {
        Some(b'n') | None => {}
        Some(b't') => column.observe(text, Value::Boolean(true)),
        Some(b'f') => column.observe(text, Value::Boolean(false)),
        Some(b'"') => {
            // The raw text was validated as a JSON string: decoding it cannot fail.
            if let Ok(content) = json_string(text) {
                column.observe(&content, infer_json_string(&content));
            }
        }
        Some(b'{' | b'[') => column.observe(text, Value::String),
        Some(_) => column.observe(text, infer_json_number(text)),
    }
}

/// One parsed line.
enum Line<'a> {
    Object(Vec<(Cow<'a, str>, &'a RawValue)>),
    Other(&'a RawValue),
}

/// `line` as text when it is valid UTF-8, and parsed, an object's entries read into
/// `entries` (emptied first).
fn parse_line<'a>(
    line: &'a [u8],
    entries: Vec<(Cow<'a, str>, &'a RawValue)>,
) -> (Option<&'a str>, Result<Line<'a>, serde_json::Error>) {
    let first = line
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    // Valid UTF-8 (nearly every line) is checked at once, and serde_json need not check
    // each string again; other lines go through `from_slice`, which names the error.
    let text = simdutf8::basic::from_utf8(line).ok();
    let parsed = match (first, text) {
        (Some(b'{'), Some(text)) => {
            let reader = serde_json::Deserializer::from_str(text);
            ObjectEntries(entries).read_all(reader).map(Line::Object)
        }
        (Some(b'{'), None) => {
            let reader = serde_json::Deserializer::from_slice(line);
            ObjectEntries(entries).read_all(reader).map(Line::Object)
        }
        (_, Some(text)) => serde_json::from_str(text).map(Line::Other),
        (_, None) => serde_json::from_slice(line).map(Line::Other),
    };
    (text, parsed)
}

/// A JSON object's entries, keys borrowed when they hold no escape, read into the vector
/// it holds.
struct ObjectEntries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> ObjectEntries<'de> {
    /// The entries of the one object `reader` holds, as `serde_json::from_str` reads it (the
    /// same errors).
    fn read_all<R: serde_json::de::Read<'de>>(
        self,
        mut reader: serde_json::Deserializer<R>,
    ) -> Result<Vec<(Cow<'de, str>, &'de RawValue)>, serde_json::Error> {
        let entries = self.deserialize(&mut reader)?;
        reader.end()?;
        Ok(entries)
    }
}

impl<'de> DeserializeSeed<'de> for ObjectEntries<'de> {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectEntries<'de> {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = self.0;
        entries.clear();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            entries.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(entries)
    }
}

/// The content of `raw`, one JSON string with its quotes as serde_json read it (a
/// [`RawValue`]'s text): borrowed when it holds no escape.
///
/// A string without a backslash is the text between its quotes: serde_json refused control
/// characters and stray quotes when it read it, so nothing is left to decode. (Decoding every
/// string again cost 5 % of the JSON Lines profile's time: the parse, and the deserializer
/// made for it.)
pub(crate) fn json_string(raw: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    if let Some(content) = raw
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        && memchr::memchr(b'\\', content.as_bytes()).is_none()
    {
        return Ok(Cow::Borrowed(content));
    }
    serde_json::from_str::<Text<'_>>(raw).map(|Text(content)| content)
}

/// A JSON string, borrowed when it holds no escape.
struct Text<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Whether `line` is exactly one JSON value: the format sniffer's test.
pub(crate) fn is_json_value(line: &[u8]) -> bool {
    serde_json::from_slice::<de::IgnoredAny>(line).is_ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// What serde_json writes for any string reads back as that string, borrowed
        /// exactly when the JSON text holds no escape (the fast path's case).
        #[test]
        fn json_strings_read_back_borrowed_unless_escaped(text in "(?s).{0,40}") {
            let raw = serde_json::to_string(&text).unwrap();
            let content = json_string(&raw).unwrap();
            prop_assert_eq!(&*content, text.as_str());
            prop_assert_eq!(matches!(content, Cow::Borrowed(_)), !raw.contains('\\'));
        }
    }

    #[test]
    fn escapes_are_decoded_and_plain_strings_borrowed() {
        assert_eq!(json_string(r#""a\"b\\c\u00e9\n""#).unwrap(), "a\"b\\cé\n");
        assert!(matches!(
            json_string(r#""ümlaut, \"""#).unwrap(),
            Cow::Owned(_)
        ));
        assert!(matches!(
            json_string(r#""plain, é""#).unwrap(),
            Cow::Borrowed("plain, é")
        ));
        assert!(matches!(json_string(r#""""#).unwrap(), Cow::Borrowed("")));
    }
}
