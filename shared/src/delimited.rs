//! Delimited text (CSV, TSV, `;` and `|` separated): a push tokenizer and the profiler of
//! its rows.
//!
//! The tokenizer follows RFC 4180: a field that contains the delimiter, a quote or a line
//! break is quoted, and quotes inside it are doubled. A quote inside a field that does not
//! start with one is kept as a character, as Python's `csv`, Excel and the csv-spectrum
//! corpus read it; characters after a closing quote make the row malformed. It is
//! sans-IO: [`Tokenizer::feed`] takes chunks of any size, [`Tokenizer::finish`] ends the
//! input, and every complete row goes to a [`RecordSink`]. Rows end at `\n`, `\r\n` or a lone
//! `\r`; blank lines are skipped. Rows that break the rules are still delivered, with the
//! [`MalformedKind`] of their first problem, so the caller can count them and go on.

use crate::error::Error;
use crate::malformed::{MalformedKind, MalformedLog, Position};
use crate::profile::Columns;
use crate::stage::{StageColumns, StageFields, StageList, StageRecord};
use wide::u8x16;

/// One row, as the tokenizer delivers it.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The unescaped fields, each followed by one separator byte (the last one may not be);
    /// empty when the row is not UTF-8.
    text: &'a str,
    /// End offset of each field in `text`; the next field starts one byte later.
    ends: &'a [u32],
    /// Indexes of the fields that were quoted in the input, ascending; empty for a row
    /// without quoted fields (most rows), so knowing it costs them nothing.
    quoted: &'a [u32],
    /// Line on which the row starts, from 1.
    pub line: u64,
    /// Byte offset of the row's start in the input given to the tokenizer.
    pub byte_offset: u64,
    /// The row's first problem, if it broke a rule.
    pub problem: Option<MalformedKind>,
}

impl<'a> Record<'a> {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the row has no field (never true for a delivered row).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `index`, unescaped; empty for a row that is not UTF-8.
    #[inline]
    pub fn field(&self, index: usize) -> &'a str {
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize + 1
        };
        self.text
            .get(start..self.ends[index] as usize)
            .unwrap_or("")
    }

    /// Whether field `index` was quoted in the input (`"…"`): a quoted empty field `""` is
    /// an empty string where an unquoted one is no value.
    #[inline]
    pub fn is_quoted(&self, index: usize) -> bool {
        !self.quoted.is_empty()
            && u32::try_from(index).is_ok_and(|index| self.quoted.binary_search(&index).is_ok())
    }

    /// The unescaped fields, each followed by one separator byte, and the end offset of each
    /// field in them (the next starts one byte later), for a caller that cuts the fields
    /// itself.
    #[inline]
    pub(crate) fn text_and_ends(&self) -> (&'a str, &'a [u32]) {
        (self.text, self.ends)
    }

    /// The fields in order.
    pub fn fields(&self) -> impl Iterator<Item = &'a str> + '_ {
        let text = self.text;
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let field = text.get(start..end as usize).unwrap_or("");
            start = end as usize + 1;
            field
        })
    }
}

/// Receives the rows of a [`Tokenizer`].
pub trait RecordSink {
    /// Takes one row; an error stops the tokenizer and is returned by `feed` or `finish`.
    fn record(&mut self, record: &Record<'_>) -> Result<(), Error>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between rows: line breaks here are blank lines.
    RecordStart,
    /// At the start of a field.
    FieldStart,
    /// Inside a field that does not start with a quote.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: closing or the first of a doubled pair.
    QuoteInQuoted,
}

const PLAIN: u8 = 0;
const DELIMITER: u8 = 1;
const QUOTE: u8 = 2;
const LF: u8 = 3;
const CR: u8 = 4;
const NUL: u8 = 5;

/// A streaming RFC 4180 tokenizer.
///
/// Most rows hold no quote and end inside the chunk that starts them: those are delivered
/// straight from the chunk, their fields found with SIMD searches, nothing copied. Every
/// other row goes through the byte-at-a-time state machine, which copies its unescaped
/// fields into a buffer of its own.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    delimiter: u8,
    /// Byte classes outside quotes.
    unquoted: [u8; 256],
    /// Byte classes inside quotes (the delimiter is plain there).
    quoted: [u8; 256],
    state: State,
    buf: Vec<u8>,
    ends: Vec<u32>,
    /// The fast path's field ends: the first `row_fields` slots are the row's, the others
    /// spare (every slot is written before it is read). Kept apart from `ends`, and at full
    /// length, so that [`find_field_ends`] writes them by index into a slice (no capacity
    /// check, no length stored back).
    row_ends: Vec<u32>,
    row_fields: usize,
    /// Indexes of the current row's quoted fields (see [`Record::is_quoted`]).
    quoted_fields: Vec<u32>,
    /// The unescaped text of the row on the fast path for rows with quoted fields.
    unescaped_row: String,
    /// Offset of the next chunk's first byte.
    offset: u64,
    /// The current line, from 1.
    line: u64,
    /// The last byte was a CR, so an LF right after it ends no new line.
    prev_cr: bool,
    record_offset: u64,
    record_line: u64,
    problem: Option<MalformedKind>,
    oversized: bool,
    max_record_bytes: usize,
}

impl Tokenizer {
    /// A tokenizer for `delimiter`, keeping rows of at most `max_record_bytes` (a longer one
    /// is delivered as [`MalformedKind::RecordTooLarge`] without its fields), counting byte
    /// offsets from `start_offset`.
    pub fn new(delimiter: u8, max_record_bytes: usize, start_offset: u64) -> Tokenizer {
        let mut unquoted = [PLAIN; 256];
        let mut quoted = [PLAIN; 256];
        for table in [&mut unquoted, &mut quoted] {
            table[usize::from(b'\n')] = LF;
            table[usize::from(b'\r')] = CR;
            table[0] = NUL;
        }
        // Outside quotes, a quote matters only at the start of a field.
        unquoted[usize::from(delimiter)] = DELIMITER;
        quoted[usize::from(b'"')] = QUOTE;
        Tokenizer {
            delimiter,
            unquoted,
            quoted,
            state: State::RecordStart,
            buf: Vec::new(),
            ends: Vec::new(),
            row_ends: Vec::new(),
            row_fields: 0,
            quoted_fields: Vec::new(),
            unescaped_row: String::new(),
            offset: start_offset,
            line: 1,
            prev_cr: false,
            record_offset: start_offset,
            record_line: 1,
            problem: None,
            oversized: false,
            max_record_bytes: max_record_bytes.min(u32::MAX as usize),
        }
    }

    /// Tokenizes `chunk`, delivering every row it completes.
    // One state machine reads best in one place.
    #[allow(clippy::too_many_lines)]
    pub fn feed<S: RecordSink>(&mut self, chunk: &[u8], sink: &mut S) -> Result<(), Error> {
        let n = chunk.len();
        let mut i = 0;
        let mut scan = ChunkScan::default();
        while i < n {
            match self.state {
                State::RecordStart => match chunk[i] {
                    b'\n' => {
                        if !self.prev_cr {
                            self.line += 1;
                        }
                        self.prev_cr = false;
                        i += 1;
                    }
                    b'\r' => {
                        self.line += 1;
                        self.prev_cr = true;
                        i += 1;
                    }
                    _ => {
                        self.prev_cr = false;
                        if let Some(used) = self.plain_row(chunk, i, &mut scan, sink)? {
                            i += used;
                        } else {
                            self.record_offset = self.offset + i as u64;
                            self.record_line = self.line;
                            self.quoted_fields.clear();
                            self.state = State::FieldStart;
                        }
                    }
                },
                State::FieldStart => match self.unquoted[usize::from(chunk[i])] {
                    _ if chunk[i] == b'"' => {
                        // `end_field` keeps `ends` below u32::MAX entries.
                        #[allow(clippy::cast_possible_truncation)]
                        self.quoted_fields.push(self.ends.len() as u32);
                        self.state = State::Quoted;
                        i += 1;
                    }
                    DELIMITER => {
                        self.end_field();
                        i += 1;
                    }
                    LF | CR => {
                        self.end_row(chunk[i], sink)?;
                        i += 1;
                    }
                    _ => self.state = State::Unquoted,
                },
                State::Unquoted => {
                    let start = i;
                    while i < n && self.unquoted[usize::from(chunk[i])] == PLAIN {
                        i += 1;
                    }
                    self.append(&chunk[start..i]);
                    if i == n {
                        break;
                    }
                    let byte = chunk[i];
                    i += 1;
                    match self.unquoted[usize::from(byte)] {
                        DELIMITER => {
                            self.end_field();
                            self.state = State::FieldStart;
                        }
                        LF | CR => self.end_row(byte, sink)?,
                        _ => {
                            self.problem.get_or_insert(MalformedKind::NulByte);
                            self.append(&[byte]);
                        }
                    }
                }
                State::Quoted => {
                    let start = i;
                    while i < n && self.quoted[usize::from(chunk[i])] == PLAIN {
                        i += 1;
                    }
                    if i > start {
                        self.prev_cr = false;
                        self.append(&chunk[start..i]);
                    }
                    if i == n {
                        break;
                    }
                    let byte = chunk[i];
                    i += 1;
                    match self.quoted[usize::from(byte)] {
                        QUOTE => self.state = State::QuoteInQuoted,
                        LF => {
                            if !self.prev_cr {
                                self.line += 1;
                            }
                            self.prev_cr = false;
                            self.append(&[byte]);
                        }
                        CR => {
                            self.line += 1;
                            self.prev_cr = true;
                            self.append(&[byte]);
                        }
                        _ => {
                            self.problem.get_or_insert(MalformedKind::NulByte);
                            self.prev_cr = false;
                            self.append(&[byte]);
                        }
                    }
                }
                State::QuoteInQuoted => {
                    let byte = chunk[i];
                    match self.unquoted[usize::from(byte)] {
                        _ if byte == b'"' => {
                            self.append(b"\"");
                            self.state = State::Quoted;
                            i += 1;
                        }
                        DELIMITER => {
                            self.end_field();
                            self.state = State::FieldStart;
                            i += 1;
                        }
                        LF | CR => {
                            self.end_row(byte, sink)?;
                            i += 1;
                        }
                        _ => {
                            self.problem
                                .get_or_insert(MalformedKind::TextAfterClosingQuote);
                            self.state = State::Unquoted;
                        }
                    }
                }
            }
        }
        self.offset += n as u64;
        Ok(())
    }

    /// Whether the tokenizer is between rows, in the state of a new one: the next byte
    /// that is not a line break starts a row (parallel parsing checks a guessed row start
    /// with it).
    pub(crate) fn at_record_start(&self) -> bool {
        self.state == State::RecordStart
    }

    /// The current line, from 1.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// Moves the line count on by `lines`: a tokenizer started inside the input (at a row
    /// start, lines counted from 1 there) then numbers lines as one started at the
    /// beginning.
    pub(crate) fn shift_lines(&mut self, lines: u64) {
        self.line += lines;
        self.record_line += lines;
    }

    /// Ends the input: delivers the last row if it has no line break after it.
    pub fn finish<S: RecordSink>(&mut self, sink: &mut S) -> Result<(), Error> {
        match self.state {
            State::RecordStart => Ok(()),
            State::Quoted => {
                self.problem = Some(MalformedKind::UnterminatedQuote);
                self.end_field();
                self.deliver(sink)
            }
            State::FieldStart | State::Unquoted | State::QuoteInQuoted => {
                self.end_field();
                self.deliver(sink)
            }
        }
    }

    /// The fast path: delivers the row starting at `chunk[start]` when it ends inside the
    /// chunk with `\n`, holds no CR or NUL, only simple quoted fields (see
    /// [`Tokenizer::unquote_row`]), and is UTF-8; returns the bytes it used.
    #[inline]
    fn plain_row<'c, S: RecordSink>(
        &mut self,
        chunk: &'c [u8],
        start: usize,
        scan: &mut ChunkScan<'c>,
        sink: &mut S,
    ) -> Result<Option<usize>, Error> {
        if scan.special.is_none_or(|special| special < start) {
            let rest = &chunk[start..];
            scan.special =
                Some(start + memchr::memchr3(b'"', b'\r', 0, rest).unwrap_or(rest.len()));
        }
        if start >= scan.text_start + scan.text.len() {
            if scan.exhausted {
                return Ok(None);
            }
            // Validate the rest of the chunk at once; rows start on character boundaries.
            let rest = &chunk[start..];
            scan.text_start = start;
            scan.text = match simdutf8::compat::from_utf8(rest) {
                Ok(text) => text,
                Err(error) => {
                    // Rows past the first invalid byte take the slow path, which names them.
                    scan.exhausted = true;
                    std::str::from_utf8(&rest[..error.valid_up_to()]).unwrap_or("")
                }
            };
        }
        let Some(end) = self.scan_fields(chunk, start) else {
            return Ok(None);
        };
        let valid = end <= scan.text_start + scan.text.len();
        let length = end - start;
        if !valid || length + 4 * self.row_fields > self.max_record_bytes {
            return Ok(None);
        }
        let raw = &scan.text[start - scan.text_start..end - scan.text_start];
        // `special` is at or after `start`: the row is clean when it lies past the row's end,
        // and otherwise it is the row's first quote, CR or NUL.
        let special = scan.special.unwrap_or(end + 1);
        let (text, quoted): (&str, &[u32]) = if end < special {
            (raw, &[])
        } else if self.unquote_row(raw, special - start) {
            (&self.unescaped_row, &self.quoted_fields)
        } else {
            return Ok(None);
        };
        // The state machine's measure of a row: its fields' bytes, a separator and an end
        // (four bytes) each. Past the maximum, it makes the row RecordTooLarge.
        if text.len() + 1 + 4 * self.row_fields > self.max_record_bytes {
            return Ok(None);
        }
        let record = Record {
            text,
            ends: &self.row_ends[..self.row_fields],
            quoted,
            line: self.line,
            byte_offset: self.offset + start as u64,
            problem: None,
        };
        self.line += 1;
        let result = sink.record(&record);
        result.map(|()| Some(length + 1))
    }

    /// The fast path for a row (`raw`, without its `\n`) that holds quotes, the first of its
    /// quotes, CRs and NULs at `first_special` (the chunk's scan found it): when each quoted
    /// field is simple (`"…"` with no CR, NUL or line break inside, its quotes doubled, right
    /// before a delimiter or the row's end) and the row holds no CR or NUL elsewhere, puts its
    /// unescaped text in `self.unescaped_row` and returns true; otherwise the row is left to the
    /// state machine. Quotes that do not start a field are characters, as there.
    ///
    /// `self.row_ends` comes in as [`Tokenizer::scan_fields`] found it, blind to quotes: the
    /// delimiters inside quoted fields are dropped, and the others move left by the quotes
    /// taken out before them. (The unescaped row is the raw one without those quotes.)
    fn unquote_row(&mut self, raw: &str, first_special: usize) -> bool {
        let bytes = raw.as_bytes();
        // The next quote, CR or NUL at or after `from`.
        let special = |from: usize| {
            bytes
                .get(from..)
                .filter(|rest| !rest.is_empty())
                .and_then(|rest| memchr::memchr3(b'"', b'\r', 0, rest))
                .map(|offset| from + offset)
        };
        self.unescaped_row.clear();
        self.quoted_fields.clear();
        // A slice, not the field: its length stays in a register through the writes.
        let ends = &mut self.row_ends[..self.row_fields];
        let mut copied_to = 0;
        let (mut read, mut write) = (0, 0);
        let mut removed = 0;
        let mut at;
        let mut next = Some(first_special);
        while let Some(open) = next {
            if bytes.get(open) != Some(&b'"') {
                return false;
            }
            at = open + 1;
            if open > 0 && bytes[open - 1] != self.delimiter {
                // A quote inside an unquoted field is a character.
                next = special(at);
                continue;
            }
            // Quotes and delimiters are ASCII: every cut is on a character boundary.
            let Some(before) = raw.get(copied_to..open) else {
                return false;
            };
            self.unescaped_row.push_str(before);
            copied_to = open + 1;
            // The closing quote: the first that is not doubled; each pair stands for one.
            let mut pairs = 0;
            let close = loop {
                let Some(offset) = memchr::memchr3(b'"', b'\r', 0, &bytes[at..]) else {
                    // The field goes on past the line break.
                    return false;
                };
                let quote = at + offset;
                if bytes[quote] != b'"' {
                    // A CR or NUL.
                    return false;
                }
                if bytes.get(quote + 1) != Some(&b'"') {
                    break quote;
                }
                let Some(kept) = raw.get(copied_to..=quote) else {
                    return false;
                };
                self.unescaped_row.push_str(kept);
                copied_to = quote + 2;
                at = quote + 2;
                pairs += 1;
            };
            if bytes
                .get(close + 1)
                .is_some_and(|&byte| byte != self.delimiter)
            {
                // Text after the closing quote.
                return false;
            }
            let Some(inside) = raw.get(copied_to..close) else {
                return false;
            };
            self.unescaped_row.push_str(inside);
            copied_to = close + 1;
            // Offsets are below `max_record_bytes`, itself at most u32::MAX.
            #[allow(clippy::cast_possible_truncation)]
            let (open, close) = (open as u32, close as u32);
            while read < ends.len() && ends[read] < open {
                ends[write] = ends[read] - removed;
                (read, write) = (read + 1, write + 1);
            }
            // The fields before this one are the `write` ends kept so far.
            #[allow(clippy::cast_possible_truncation)]
            self.quoted_fields.push(write as u32);
            while read < ends.len() && ends[read] < close {
                read += 1;
            }
            // The two enclosing quotes, and one of each pair.
            removed += 2 + pairs;
            next = special(close as usize + 1);
        }
        let Some(rest) = raw.get(copied_to..) else {
            return false;
        };
        self.unescaped_row.push_str(rest);
        while read < ends.len() {
            ends[write] = ends[read] - removed;
            (read, write) = (read + 1, write + 1);
        }
        self.row_fields = write;
        true
    }

    /// Finds the delimiters of the row starting at `chunk[start]` ([`find_field_ends`]),
    /// writing each field's end (relative to `start`) into `self.row_ends` and their number
    /// into `self.row_fields`; returns the index of the row's `\n`, or `None` when the chunk
    /// ends first or the row is too long.
    #[inline]
    fn scan_fields(&mut self, chunk: &[u8], start: usize) -> Option<usize> {
        let limit = chunk.len().min(start + self.max_record_bytes + 1);
        let row = &chunk[start..limit];
        loop {
            match find_field_ends(row, self.delimiter, &mut self.row_ends) {
                FieldEnds::Row { newline, fields } => {
                    self.row_fields = fields;
                    return Some(start + newline);
                }
                FieldEnds::Unended => return None,
                FieldEnds::OutOfSlots => self.grow_row_ends(),
            }
        }
    }

    /// Doubles the slots of `row_ends` (64 at first).
    #[cold]
    #[inline(never)]
    fn grow_row_ends(&mut self) {
        let slots = (self.row_ends.len() * 2).max(64);
        self.row_ends.resize(slots, 0);
    }

    #[inline]
    fn append(&mut self, bytes: &[u8]) {
        if self.oversized {
            return;
        }
        if self.buf.len() + bytes.len() + 4 * self.ends.len() > self.max_record_bytes {
            self.oversized = true;
            self.buf = Vec::new();
            self.ends = Vec::new();
            return;
        }
        self.buf.extend_from_slice(bytes);
    }

    #[inline]
    fn end_field(&mut self) {
        if self.oversized {
            return;
        }
        if self.buf.len() + 1 + 4 * (self.ends.len() + 1) > self.max_record_bytes {
            self.oversized = true;
            self.buf = Vec::new();
            self.ends = Vec::new();
            return;
        }
        // The size check above keeps every offset below u32::MAX.
        #[allow(clippy::cast_possible_truncation)]
        self.ends.push(self.buf.len() as u32);
        self.buf.push(self.delimiter);
    }

    /// Ends a field and the row at the line break `byte` (LF or CR).
    fn end_row<S: RecordSink>(&mut self, byte: u8, sink: &mut S) -> Result<(), Error> {
        self.end_field();
        self.line += 1;
        self.prev_cr = byte == b'\r';
        self.state = State::RecordStart;
        self.deliver(sink)
    }

    fn deliver<S: RecordSink>(&mut self, sink: &mut S) -> Result<(), Error> {
        let mut problem = self.problem.take();
        if self.oversized && problem != Some(MalformedKind::UnterminatedQuote) {
            problem = Some(MalformedKind::RecordTooLarge);
        }
        let text = match simdutf8::basic::from_utf8(&self.buf) {
            Ok(text) => text,
            Err(_) => {
                problem.get_or_insert(MalformedKind::InvalidUtf8);
                ""
            }
        };
        let (ends, quoted): (&[u32], &[u32]) = if text.len() == self.buf.len() {
            (&self.ends, &self.quoted_fields)
        } else {
            (&[], &[])
        };
        let record = Record {
            text,
            ends,
            quoted: if ends.is_empty() { &[] } else { quoted },
            line: self.record_line,
            byte_offset: self.record_offset,
            problem,
        };
        let result = sink.record(&record);
        self.buf.clear();
        self.ends.clear();
        self.quoted_fields.clear();
        self.oversized = false;
        result
    }
}

/// What the fast path knows about the chunk being tokenized, computed once per chunk (or
/// once per quoted row) instead of once per row.
#[derive(Debug, Default)]
struct ChunkScan<'c> {
    /// Index of the next quote, CR or NUL at or after the last position looked from.
    special: Option<usize>,
    /// `text` is `chunk[text_start..]` up to the first invalid UTF-8 byte.
    text_start: usize,
    text: &'c str,
    /// Past an invalid (or cut) character, the rest of the chunk takes the slow path.
    exhausted: bool,
}

/// What [`find_field_ends`] found.
enum FieldEnds {
    /// The row ends at the line break at `newline`; the first `fields` slots hold its
    /// fields' ends.
    Row { newline: usize, fields: usize },
    /// No line break.
    Unended,
    /// More fields than slots.
    OutOfSlots,
}

/// Finds the delimiters of the row at the start of `row`, sixteen bytes at a time, writing
/// each field's end into `slots`.
///
/// Each block of 16 bytes is compared with the delimiter and with `\n` at once (SIMD through
/// the `wide` crate: SSE2 on x86-64, NEON on arm64, both part of the base instruction set;
/// AWS's Graviton guide on NEON, where the Lambda and the Fargate task run:
/// <https://github.com/aws/aws-graviton-getting-started/blob/main/SIMD_and_vectorization.md>;
/// `make test-arm64` runs this module's tests built for arm64), giving a bit per byte
/// for each: a block without a line break gives a field's end at each delimiter; the row's
/// last block, at each delimiter before its first line break, and at that break. (Eight bytes
/// at a time in a `u64` with bit tricks took 112 M of the 524 M instructions that the profile
/// example spent on the first 20 MB of the bench rows; this loop takes 62 M, callgrind. Also
/// looking for quotes here, instead of `memchr3` over the chunk, saved 1 % of the time and
/// cost 12 M instructions more.)
#[inline]
fn find_field_ends(row: &[u8], delimiter: u8, slots: &mut [u32]) -> FieldEnds {
    let delimiters = u8x16::splat(delimiter);
    let newlines = u8x16::splat(b'\n');
    let mut blocks = row.chunks_exact(16);
    let mut at = 0;
    let mut fields = 0;
    for block in &mut blocks {
        let block = u8x16::new(block.try_into().unwrap_or([0; 16]));
        let is_newline = block.simd_eq(newlines);
        // Delimiters and line breaks in one mask; whether there is a line break is a test of
        // its own (on NEON, `any` is one instruction where a mask takes four).
        let marks = (block.simd_eq(delimiters) | is_newline).to_bitmask();
        if is_newline.any() {
            // The row's last block: its marks up to its first line break, that one included.
            let newline = is_newline.to_bitmask();
            let first = newline & newline.wrapping_neg();
            let Some(fields) = write_marks(slots, fields, at, marks & ((first << 1) - 1)) else {
                return FieldEnds::OutOfSlots;
            };
            let newline = at + first.trailing_zeros() as usize;
            return FieldEnds::Row { newline, fields };
        }
        let Some(written) = write_marks(slots, fields, at, marks) else {
            return FieldEnds::OutOfSlots;
        };
        fields = written;
        at += 16;
    }
    #[allow(clippy::cast_possible_truncation)]
    for (index, &byte) in blocks.remainder().iter().enumerate() {
        if byte == b'\n' || byte == delimiter {
            let Some(slot) = slots.get_mut(fields) else {
                return FieldEnds::OutOfSlots;
            };
            *slot = (at + index) as u32;
            fields += 1;
            if byte == b'\n' {
                return FieldEnds::Row {
                    newline: at + index,
                    fields,
                };
            }
        }
    }
    FieldEnds::Unended
}

/// Writes the offset of each byte marked in `marks` (a bit per byte), the block's first byte
/// at `at`, into `slots` from `fields` on; returns the slots used, or `None` when they run
/// out.
#[allow(clippy::inline_always)]
#[inline(always)]
fn write_marks(slots: &mut [u32], mut fields: usize, at: usize, mut marks: u32) -> Option<usize> {
    while marks != 0 {
        // Offsets stay below the row's maximum size, itself at most u32::MAX.
        #[allow(clippy::cast_possible_truncation)]
        let end = (at + marks.trailing_zeros() as usize) as u32;
        *slots.get_mut(fields)? = end;
        fields += 1;
        marks &= marks - 1;
    }
    Some(fields)
}

/// Turns rows into column profiles: the header, the field count, the malformed rows.
#[derive(Debug)]
pub(crate) struct RowProfiler {
    /// The next row is the header.
    expect_header: bool,
    /// Fields every row must have: from the header or the first row.
    width: Option<usize>,
    pub(crate) columns: Columns,
    pub(crate) malformed: MalformedLog,
    /// Rows after the header, malformed included.
    pub(crate) total: u64,
    pub(crate) valid: u64,
    /// The processing stages, which see every record after the header.
    pub(crate) stages: StageList,
}

impl RowProfiler {
    pub(crate) fn new(header: bool, columns: Columns, malformed: MalformedLog) -> RowProfiler {
        RowProfiler {
            expect_header: header,
            width: None,
            columns,
            malformed,
            total: 0,
            valid: 0,
            stages: StageList::default(),
        }
    }

    /// Whether the next row is still to be read as the header.
    pub(crate) fn header_pending(&self) -> bool {
        self.expect_header
    }

    /// Adds the processing stages.
    pub(crate) fn with_stages(mut self, stages: StageList) -> RowProfiler {
        self.stages = stages;
        self
    }

    fn set_columns(&mut self, names: Vec<String>) {
        self.width = Some(names.len());
        self.columns.set_positional(names);
    }
}

impl RecordSink for RowProfiler {
    fn record(&mut self, record: &Record<'_>) -> Result<(), Error> {
        if self.expect_header {
            self.expect_header = false;
            match record.problem {
                None => {
                    let names = header_names(record);
                    self.stages.start(StageColumns::Header(&names))?;
                    self.set_columns(names);
                    return Ok(());
                }
                // A row too large to read cannot be told a header: it is a record (a
                // malformed one), counted below like any other.
                Some(MalformedKind::RecordTooLarge) => {}
                // A broken header is reported as record 0; the first good row sets the width.
                Some(kind) => {
                    self.stages.start(StageColumns::BrokenHeader {
                        line: record.line,
                        problem: kind,
                    })?;
                    let at = Position {
                        record: 0,
                        line: record.line,
                        byte_offset: record.byte_offset,
                    };
                    return self
                        .malformed
                        .push(at, kind, || format!("header row: {}", describe(kind)));
                }
            }
        }
        self.total += 1;
        let at = Position {
            record: self.total,
            line: record.line,
            byte_offset: record.byte_offset,
        };
        // The first good row sets the width when there is no header.
        let width = match (record.problem, self.width) {
            (Some(_), width) => width,
            (None, Some(width)) => Some(width),
            (None, None) => {
                self.set_columns((1..=record.len()).map(|i| format!("column_{i}")).collect());
                Some(record.len())
            }
        };
        // A good row of the width is profiled by the contract stage when there is one.
        let mut profiled = false;
        if !self.stages.is_empty() {
            let seen = StageRecord {
                position: at.into(),
                contract: None,
                problem: record.problem,
                fields: StageFields::Delimited(record),
            };
            if record.problem.is_none() && width == Some(record.len()) {
                profiled = self.stages.record_profiled(
                    StageColumns::Positional,
                    &seen,
                    record,
                    self.columns.profiles_mut(),
                )?;
            } else {
                self.stages.record(StageColumns::Positional, &seen)?;
            }
        }
        if let Some(kind) = record.problem {
            return self.malformed.push(at, kind, || describe(kind).to_owned());
        }
        let width = width.unwrap_or_default();
        if record.len() != width {
            return self.malformed.push(at, MalformedKind::RaggedRow, || {
                format!("expected {width} fields, found {}", record.len())
            });
        }
        self.valid += 1;
        if profiled {
            return Ok(());
        }
        // The fields as bytes: cutting the text at the delimiters (ASCII) needs no
        // character-boundary checks.
        let text = record.text.as_bytes();
        let mut start = 0;
        for (&end, column) in record.ends.iter().zip(self.columns.profiles_mut()) {
            let end = end as usize;
            if let Some(field) = text.get(start..end)
                && !field.is_empty()
            {
                column.observe_field(field);
            }
            start = end + 1;
        }
        Ok(())
    }
}

/// Column names from a header row: empty names become `column_N`, repeated ones get `_2`,
/// `_3`… so every name is unique.
fn header_names(record: &Record<'_>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::with_capacity(record.len());
    for (index, field) in record.fields().enumerate() {
        let base = if field.is_empty() {
            format!("column_{}", index + 1)
        } else {
            field.to_owned()
        };
        let mut name = base.clone();
        let mut suffix = 2;
        while !seen.insert(name.clone()) {
            name = format!("{base}_{suffix}");
            suffix += 1;
        }
        names.push(name);
    }
    names
}

/// The sentence the report gives for a row's problem.
pub(crate) fn describe(kind: MalformedKind) -> &'static str {
    match kind {
        MalformedKind::RaggedRow => "the row has another number of fields than the header",
        MalformedKind::UnterminatedQuote => {
            "a quoted field is not closed before the end of the input"
        }
        MalformedKind::TextAfterClosingQuote => {
            "characters after a closing quote, before the next delimiter"
        }
        MalformedKind::InvalidUtf8 => "the row is not valid UTF-8",
        MalformedKind::NulByte => "the row holds a NUL byte",
        MalformedKind::RecordTooLarge => "the record is longer than the configured maximum",
        MalformedKind::InvalidJson => "the line is not one JSON value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as owned fields with its problem, position and quoted fields.
    type Row = (Vec<String>, Option<MalformedKind>, u64, u64, Vec<usize>);

    /// Collects rows.
    #[derive(Default)]
    struct Rows(Vec<Row>);

    impl RecordSink for Rows {
        fn record(&mut self, r: &Record<'_>) -> Result<(), Error> {
            self.0.push((
                r.fields().map(str::to_owned).collect(),
                r.problem,
                r.line,
                r.byte_offset,
                (0..r.len()).filter(|&i| r.is_quoted(i)).collect(),
            ));
            Ok(())
        }
    }

    fn rows_in_chunks(input: &[u8], chunk: usize) -> Rows {
        let mut tokenizer = Tokenizer::new(b',', 1 << 20, 0);
        let mut rows = Rows::default();
        for piece in input.chunks(chunk.max(1)) {
            tokenizer.feed(piece, &mut rows).unwrap();
        }
        tokenizer.finish(&mut rows).unwrap();
        rows
    }

    fn rows(input: &[u8]) -> Vec<Row> {
        let whole = rows_in_chunks(input, usize::MAX).0;
        for chunk in 1..=4 {
            assert_eq!(rows_in_chunks(input, chunk).0, whole, "chunk size {chunk}");
        }
        whole
    }

    fn fields(input: &str) -> Vec<Vec<String>> {
        rows(input.as_bytes()).into_iter().map(|r| r.0).collect()
    }

    /// What [`find_field_ends`] must find, one byte at a time: `Some((newline, ends))`, or
    /// `None` when the row has no line break.
    fn field_ends_bytewise(row: &[u8], delimiter: u8) -> Option<(usize, Vec<u32>)> {
        let newline = row.iter().position(|&byte| byte == b'\n')?;
        let ends = (0..=newline)
            .filter(|&i| row[i] == delimiter || i == newline)
            .map(|i| u32::try_from(i).unwrap())
            .collect();
        Some((newline, ends))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5_000))]
        /// The blocks of 16 bytes find the fields a byte-by-byte loop finds: rows around and
        /// across the blocks' edges, delimiters and line breaks next to each other, as many
        /// slots as fields or fewer.
        #[test]
        fn field_ends_are_found_as_byte_by_byte(
            row in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b',', b'\t', b'\n', b'"', 0xc3, 0xa9]),
                0..70,
            ),
            tab in proptest::bool::ANY,
            slots in 0usize..40,
        ) {
            let delimiter = if tab { b'\t' } else { b',' };
            let mut found = vec![0; slots];
            let expected = field_ends_bytewise(&row, delimiter);
            match (find_field_ends(&row, delimiter, &mut found), expected) {
                (FieldEnds::Row { newline, fields }, Some((expected_newline, ends))) => {
                    proptest::prop_assert_eq!(newline, expected_newline);
                    proptest::prop_assert_eq!(&found[..fields], &ends[..]);
                }
                (FieldEnds::Unended, None) => {}
                (FieldEnds::OutOfSlots, expected) => {
                    // Out of slots only when the fields up to the break, or the delimiters
                    // of a row without one, are more than the slots.
                    let needed = expected.map_or_else(
                        || memchr::memchr_iter(delimiter, &row).count(),
                        |(_, ends)| ends.len(),
                    );
                    proptest::prop_assert!(needed > slots, "{needed} fields, {slots} slots");
                }
                (_, expected) => proptest::prop_assert!(false, "expected {expected:?}"),
            }
        }
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(
            fields("5\" screen,a\"\"b\n"),
            [vec!["5\" screen", "a\"\"b"]]
        );
        assert_eq!(
            fields("a,\"b,c\",\"d\"\"e\"\n\"x\ny\",,\"\"\n"),
            [vec!["a", "b,c", "d\"e"], vec!["x\ny", "", ""]]
        );
    }

    #[test]
    fn quoted_fields_are_marked_on_every_path() {
        let quoted = |input: &str| -> Vec<Vec<usize>> {
            rows(input.as_bytes()).into_iter().map(|r| r.4).collect()
        };
        assert_eq!(
            quoted("a,,\"\"\n\"\",b,\"c,d\"\nx\"y,\"z\"\"\"\n\"l\nm\",\"\"\n"),
            [vec![2], vec![0, 2], vec![1], vec![0, 1]]
        );
        // A row without quotes marks none; the last row without a line break too.
        assert_eq!(quoted("a,b\n\"\",\"\""), [vec![], vec![0, 1]]);
    }

    #[test]
    fn line_endings_lf_crlf_and_lone_cr_and_blank_lines() {
        let r = rows(b"a\r\nb\rc\n\n\r\nd");
        let summary: Vec<_> = r.iter().map(|r| (r.0[0].as_str(), r.2, r.3)).collect();
        assert_eq!(
            summary,
            [("a", 1, 0), ("b", 2, 3), ("c", 3, 5), ("d", 6, 10)]
        );
    }

    #[test]
    fn trailing_delimiter_gives_an_empty_last_field() {
        assert_eq!(fields("a,b,\n"), [vec!["a", "b", ""]]);
        assert_eq!(fields("a,b,"), [vec!["a", "b", ""]]);
    }

    #[test]
    fn problems_are_named() {
        let kinds: Vec<_> = rows(b"a\"b,c\n\"a\"b,c\nx\0y\n\xff,z\n\"open,end")
            .into_iter()
            .map(|r| r.1)
            .collect();
        assert_eq!(
            kinds,
            [
                None,
                Some(MalformedKind::TextAfterClosingQuote),
                Some(MalformedKind::NulByte),
                Some(MalformedKind::InvalidUtf8),
                Some(MalformedKind::UnterminatedQuote),
            ]
        );
    }

    #[test]
    fn the_quoted_row_fast_path_agrees_with_the_state_machine() {
        // Whole inputs take the fast paths, one-byte chunks the state machine only.
        const PIECES: [&str; 12] = [
            "a", "\"", ",", "\n", "\r", "\0", " ", "é", "\"x,y\"", "\"\"", "7", "\",\"",
        ];
        let mut state = 0x853c_49e6_748f_ea9bu64;
        for _ in 0..20_000 {
            let mut input = String::new();
            for _ in 0..24 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Mostly plain pieces, so that many rows are well-formed.
                let pick = (state >> 40) as usize % (PIECES.len() + 6);
                input.push_str(
                    PIECES
                        .get(pick)
                        .copied()
                        .unwrap_or(["a", ",", "\n"][pick % 3]),
                );
            }
            let whole = rows_in_chunks(input.as_bytes(), usize::MAX).0;
            assert_eq!(rows_in_chunks(input.as_bytes(), 1).0, whole, "{input:?}");
        }
        assert_eq!(
            fields("1,\"a, b\",\"\",x\"y,\"c\"\n\"d\"\n"),
            [vec!["1", "a, b", "", "x\"y", "c"], vec!["d"]]
        );
        assert_eq!(
            fields("\"say \"\"hi\"\", ok\",\"\"\"\"\"\",2\n"),
            [vec!["say \"hi\", ok", "\"\"", "2"]]
        );
    }

    #[test]
    fn rows_of_many_fields_read_alike_on_every_path() {
        // The fast path starts with slots for 64 fields and doubles them when a row has more.
        let mut input = String::new();
        for width in [3, 63, 64, 65, 200, 1000, 2] {
            let row: Vec<String> = (0..width).map(|i| format!("f{i}")).collect();
            input.push_str(&row.join(","));
            input.push('\n');
        }
        let found = fields(&input);
        assert_eq!(
            found.iter().map(Vec::len).collect::<Vec<_>>(),
            [3, 63, 64, 65, 200, 1000, 2]
        );
        assert_eq!(found[5][999], "f999");
    }

    #[test]
    fn quoted_line_breaks_count_lines() {
        let r = rows(b"\"a\r\nb\",1\nc,2\n");
        assert_eq!((r[1].2, r[1].3), (3, 9));
    }

    #[test]
    fn the_size_limit_is_the_same_on_every_path() {
        // A row of `content` field bytes in `n` fields takes `content + 5 * n` bytes.
        for input in [
            &b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"[..],
            b"\"a\"\"b\",xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
        ] {
            for max in 40..60 {
                let kinds = |chunk: usize| {
                    let mut tokenizer = Tokenizer::new(b',', max, 0);
                    let mut rows = Rows::default();
                    for piece in input.chunks(chunk) {
                        tokenizer.feed(piece, &mut rows).unwrap();
                    }
                    tokenizer.finish(&mut rows).unwrap();
                    rows.0.into_iter().map(|r| (r.0, r.1)).collect::<Vec<_>>()
                };
                assert_eq!(kinds(usize::MAX), kinds(1), "max {max}");
            }
        }
    }

    #[test]
    fn oversized_rows_are_malformed_and_skipped_whole() {
        let mut input = b"a,b\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100));
        input.extend_from_slice(b",y\nc,d\n");
        let mut tokenizer = Tokenizer::new(b',', 50, 0);
        let mut rows = Rows::default();
        tokenizer.feed(&input, &mut rows).unwrap();
        tokenizer.finish(&mut rows).unwrap();
        let kinds: Vec<_> = rows.0.iter().map(|r| r.1).collect();
        assert_eq!(kinds, [None, Some(MalformedKind::RecordTooLarge), None]);
        assert_eq!(rows.0[2].0, ["c", "d"]);
    }
}
