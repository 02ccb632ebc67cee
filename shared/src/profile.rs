//! Column profiles: type, nulls, min and max, distinct estimate, updated one value at a time.

use std::collections::HashMap;

use crate::distinct::{DistinctSketch, hash_value, hash_words, short_words};
use crate::infer::{Value, ValueType, common_temporal, infer_bytes, short_number};

/// Strings are compared and kept as min/max on their first this many bytes (cut at a
/// character boundary), so a column's memory does not grow with its values' length.
pub const STRING_EXTREME_BYTES: usize = 256;

/// The profile of one column, as the report shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ColumnSummary {
    /// The column's name: the header field, the JSON key, or `column_N` (1-based).
    pub name: String,
    /// The inferred type; `null` when the column holds no value at all.
    #[serde(rename = "type")]
    pub value_type: Option<ValueType>,
    /// Values that are not null.
    pub count: u64,
    /// Nulls: empty CSV fields; JSON `null` or a missing key.
    pub nulls: u64,
    /// The smallest value, in the column's type (strings compare bytewise).
    pub min: serde_json::Value,
    /// The largest value, in the column's type.
    pub max: serde_json::Value,
    /// Approximate number of distinct non-null values (by text; see the report docs).
    pub distinct_estimate: u64,
}

/// A string kept as a minimum or maximum, with its first eight bytes as a big-endian word:
/// when two words differ, so do the strings, in the same order, and no byte comparison is
/// needed. When they are equal and both strings fit in the word, the shorter one is smaller
/// (it is a prefix of the other, padded with zeros). Only longer ties compare bytes.
///
/// A string of up to eight bytes is its word and its length: keeping it as a new extreme
/// copies nothing (a worker of parallel parsing that starts mid-file on increasing ids
/// meets a new maximum at every value). Longer ones keep their bytes too. The bytes are
/// taken as text (UTF-8, see [`utf8`]) only when the summary is made.
#[derive(Debug, Clone)]
struct TextExtreme {
    prefix: u64,
    len: usize,
    /// The bytes, when `len` is over 8 (otherwise stale: the word holds them).
    long: Vec<u8>,
}

/// Bytewise order of `text` (whose prefix word is `prefix`) against `extreme`.
#[inline]
fn compare_text(text: &[u8], prefix: u64, extreme: &TextExtreme) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match prefix.cmp(&extreme.prefix) {
        Ordering::Equal => match (text.len() <= 8, extreme.len <= 8) {
            (true, true) => text.len().cmp(&extreme.len),
            // The same first eight bytes (zero-padded): the shorter string is a proper
            // prefix of the longer one.
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => text.cmp(&extreme.long),
        },
        order => order,
    }
}

impl TextExtreme {
    fn new(text: &[u8], prefix: u64) -> TextExtreme {
        let mut extreme = TextExtreme {
            prefix,
            len: 0,
            long: Vec::new(),
        };
        extreme.set(text, prefix);
        extreme
    }

    /// Keeps `text` instead, reusing the allocation of the bytes. Out of line: inlined in
    /// the loop over values, its spills cost one thread more than the call (callgrind).
    #[inline(never)]
    fn set(&mut self, text: &[u8], prefix: u64) {
        self.prefix = prefix;
        self.len = text.len();
        if text.len() > 8 {
            self.long.clear();
            self.long.extend_from_slice(text);
        }
    }

    /// The kept bytes, spelled out in `word` when they fit in the prefix word.
    fn bytes<'a>(&'a self, word: &'a mut [u8; 8]) -> &'a [u8] {
        if self.len > 8 {
            return &self.long;
        }
        *word = self.prefix.to_be_bytes();
        &word[..self.len]
    }

    /// Whether this extreme, from the part after `kept`'s, replaces it: `order` is what
    /// it must compare as (less for a minimum, greater for a maximum).
    fn replaces(&self, kept: &TextExtreme, order: std::cmp::Ordering) -> bool {
        let mut word = [0; 8];
        compare_text(self.bytes(&mut word), self.prefix, kept) == order
    }

    /// The kept text.
    fn text(&self) -> String {
        let mut word = [0; 8];
        utf8(self.bytes(&mut word)).to_owned()
    }
}

/// A value's bytes as text. Values are cut from UTF-8 text at ASCII delimiters, or are
/// whole texts: always UTF-8; checked only when a temporal extreme is kept or a text
/// extreme is reported, never per value.
fn utf8(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// The first eight bytes of `bytes`, zero-padded, as a big-endian word.
#[inline]
fn prefix_word(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    match (
        bytes.first_chunk::<8>(),
        bytes.first_chunk::<4>(),
        bytes.last_chunk::<4>(),
    ) {
        (Some(first), _, _) => u64::from_be_bytes(*first),
        // 4 to 7 bytes: two overlapping reads, the second shifted into place.
        (None, Some(first), Some(last)) => {
            let tail = u64::from(u32::from_be_bytes(*last)) << (8 * (8 - len));
            u64::from(u32::from_be_bytes(*first)) << 32 | (tail & 0xffff_ffff)
        }
        _ => bytes
            .iter()
            .enumerate()
            .fold(0, |word, (i, &b)| word | u64::from(b) << (56 - 8 * i)),
    }
}

/// Running extremes of a temporal kind: the sort key and the original text.
#[derive(Debug, Clone, Default)]
struct TemporalExtremes {
    min: Option<(i64, String)>,
    max: Option<(i64, String)>,
}

impl TemporalExtremes {
    /// Two comparisons inline; a new extreme (rare past the first values) out of line.
    /// (Forced: under the contract stage's loop, the compiler made it a call, whose entry and
    /// exit cost as much as the comparisons.)
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn update(&mut self, key: i64, text: &[u8]) {
        if self.min.as_ref().is_none_or(|(k, _)| key < *k) {
            set_extreme(&mut self.min, key, text);
        }
        if self.max.as_ref().is_none_or(|(k, _)| key > *k) {
            set_extreme(&mut self.max, key, text);
        }
    }
}

/// Replaces an extreme, reusing its text's allocation.
#[inline(never)]
fn set_extreme(extreme: &mut Option<(i64, String)>, key: i64, text: &[u8]) {
    let text = utf8(text);
    match extreme {
        Some((k, kept)) => {
            *k = key;
            text.clone_into(kept);
        }
        None => *extreme = Some((key, text.to_owned())),
    }
}

/// Slots of [`RecentValues`]: a power of two. 64 (1.5 KiB a column): in 16 slots, direct
/// mapped, the values of a column of a few dozen (the bench rows' quantities, 50) or even
/// of 16 (their cities) keep evicting each other. The profile of the first 20 MB of the
/// bench rows took 596.6 M instructions with 16 slots, 570.1 M with 64, 565.8 M with 128
/// (callgrind).
const RECENT_SLOTS: usize = 64;
/// Misses between two checks of the hit rate of [`RecentValues`].
const RECENT_WINDOW: u32 = 256;

/// The short values a column met lately, in a small direct-mapped table indexed by their
/// hash: a value found there was observed already, and observing it again changes nothing
/// but the count (its type, extremes and distinct register are already in), so it is only
/// counted. Columns of few distinct values (flags, states, categories) skip inference,
/// extremes and the sketch for most of their values; a column whose values rarely repeat
/// drops the table after a window of lookups with few hits. Only an optimisation: the
/// profile is the same with it or without it.
#[derive(Debug, Clone)]
struct RecentValues {
    /// Each slot: a value's length and its [`short_words`], which together are its bytes;
    /// an empty slot has a length no value has.
    slots: [(usize, u64, u64); RECENT_SLOTS],
    /// Hits and misses since the last check. Hits count in 64 bits, which a column cannot
    /// overflow, so a hit is one increment (a saturating 32-bit one cost three instructions
    /// more: the profile example took 527.4 M -> 523.9 M instructions on the first 20 MB of the
    /// bench rows, callgrind).
    hits: u64,
    misses: u32,
}

impl RecentValues {
    fn new() -> RecentValues {
        RecentValues {
            slots: [(usize::MAX, 0, 0); RECENT_SLOTS],
            hits: 0,
            misses: 0,
        }
    }

    /// Whether the value (`len` bytes, words `a` and `b`, hash `hash`) is in the table;
    /// when it is not, it takes its slot.
    #[inline]
    fn seen(&mut self, hash: u64, len: usize, a: u64, b: u64) -> bool {
        // Bits below the sketch's register index.
        #[allow(clippy::cast_possible_truncation)]
        let slot = &mut self.slots[(hash >> 40) as usize % RECENT_SLOTS];
        if *slot == (len, a, b) {
            self.hits += 1;
            return true;
        }
        *slot = (len, a, b);
        self.misses += 1;
        false
    }

    /// After a miss: whether the table earns its cost. Every `RECENT_WINDOW` misses, it does
    /// when at least a quarter of the lookups since the last check hit; the next window
    /// counts from zero.
    #[inline]
    fn keep(&mut self) -> bool {
        if self.misses < RECENT_WINDOW {
            return true;
        }
        let keep = self.hits >= u64::from(self.misses / 3);
        (self.hits, self.misses) = (0, 0);
        keep
    }
}

/// The state of a column's [`RecentValues`].
#[derive(Debug, Clone)]
enum Recent {
    /// Before the first text value: no table yet.
    Unused,
    Table(Box<RecentValues>),
    /// The values did not repeat enough: no table any more.
    Dropped,
}

/// The running profile of one column.
#[derive(Debug, Clone)]
pub(crate) struct ColumnProfile {
    name: String,
    value_type: Option<ValueType>,
    count: u64,
    seen_false: bool,
    seen_true: bool,
    integer_range: Option<(i64, i64)>,
    float_range: Option<(f64, f64)>,
    /// Dates, keyed by days since the epoch.
    dates: TemporalExtremes,
    /// Timestamps, keyed by microseconds since the epoch.
    timestamps: TemporalExtremes,
    /// Bytewise extremes of every value's text, for when the column ends up a string.
    text_min: Option<TextExtreme>,
    text_max: Option<TextExtreme>,
    /// The prefix words of `text_min` and `text_max`, or `(u64::MAX, 0)` while either is
    /// unset: a value whose word lies strictly between them lies between the extremes.
    text_bounds: (u64, u64),
    distinct: DistinctSketch,
    /// Text values met lately (CSV), to skip repeats.
    recent: Recent,
}

impl ColumnProfile {
    pub(crate) fn new(name: String) -> ColumnProfile {
        ColumnProfile {
            name,
            value_type: None,
            count: 0,
            seen_false: false,
            seen_true: false,
            integer_range: None,
            float_range: None,
            dates: TemporalExtremes::default(),
            timestamps: TemporalExtremes::default(),
            text_min: None,
            text_max: None,
            text_bounds: (u64::MAX, 0),
            distinct: DistinctSketch::new(),
            recent: Recent::Unused,
        }
    }

    /// Observes a non-empty text field, inferring its type: [`ColumnProfile::observe_field`]
    /// on its bytes.
    #[inline]
    pub(crate) fn observe_text(&mut self, text: &str) {
        self.observe_field(text.as_bytes());
    }

    /// Observes the bytes of a non-empty text field (CSV: cut from a UTF-8 row at
    /// delimiters, so UTF-8 too; the caller needs no character-boundary checks to cut it),
    /// inferring its type.
    ///
    /// The value is hashed once, for the sketch and for the table of recent values
    /// ([`RecentValues`]): a repeat found there is only counted.
    ///
    /// Forced inline: with a second caller (the contract stage) the compiler made it a call,
    /// and the profile of the bench rows took 5 % more instructions (callgrind, 615 M ->
    /// 647 M on 20 MB).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn observe_field(&mut self, bytes: &[u8]) {
        let hash = match short_words(bytes) {
            Some((a, b)) => {
                let hash = hash_words(a, b, bytes.len());
                if self.seen_recently(hash, bytes.len(), a, b) {
                    self.count += 1;
                    return;
                }
                hash
            }
            None => hash_value(bytes),
        };
        let value = match self.value_type {
            // Nothing widens a string: skip inference.
            Some(ValueType::String) => Value::String,
            // A settled type's common shape first, as inference reads it (see
            // `infer_settled`).
            Some(settled) => infer_settled(settled, bytes),
            None => infer_bytes(bytes),
        };
        self.observe_hashed(bytes, value, hash);
    }

    /// Whether this short value is in the column's table of recent values (see
    /// [`RecentValues`]); false, putting it there, when it is not.
    // Forced, as `observe`: a call here cost 7 % of the bench profile's instructions.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn seen_recently(&mut self, hash: u64, len: usize, a: u64, b: u64) -> bool {
        match &mut self.recent {
            Recent::Table(table) => {
                if table.seen(hash, len, a, b) {
                    return true;
                }
                if !table.keep() {
                    self.recent = Recent::Dropped;
                }
                false
            }
            Recent::Dropped => false,
            Recent::Unused => {
                self.start_recent(hash, len, a, b);
                false
            }
        }
    }

    /// The column's first text value: its table of recent values, holding it.
    #[cold]
    #[inline(never)]
    fn start_recent(&mut self, hash: u64, len: usize, a: u64, b: u64) {
        let mut table = Box::new(RecentValues::new());
        table.seen(hash, len, a, b);
        self.recent = Recent::Table(table);
    }

    /// [`ColumnProfile::observe_field`] that also returns what inference made of `bytes`, for
    /// a caller that needs the value too (the contract stage types each field from it instead
    /// of parsing it again); `None` when the column is a string already and inference was
    /// skipped.
    #[inline]
    pub(crate) fn observe_field_inferred(&mut self, bytes: &[u8]) -> Option<Value> {
        self.observe_field_inferring(bytes, infer_bytes)
    }

    /// [`ColumnProfile::observe_field_inferred`] with `infer` for [`infer_bytes`]: a caller that
    /// reads the field in its own way too does both in one pass over its bytes (a decimal
    /// column of the contract stage). `infer` must answer as [`infer_bytes`] does.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn observe_field_inferring(
        &mut self,
        bytes: &[u8],
        mut infer: impl FnMut(&[u8]) -> Value,
    ) -> Option<Value> {
        let string = self.value_type == Some(ValueType::String);
        let hash = match short_words(bytes) {
            Some((a, b)) => {
                let hash = hash_words(a, b, bytes.len());
                if self.seen_recently(hash, bytes.len(), a, b) {
                    self.count += 1;
                    // A repeat changes nothing but the count; the caller still needs its value.
                    return (!string).then(|| infer(bytes));
                }
                hash
            }
            None => hash_value(bytes),
        };
        if string {
            self.observe_hashed(bytes, Value::String, hash);
            return None;
        }
        let value = infer(bytes);
        self.observe_hashed(bytes, value, hash);
        Some(value)
    }

    /// Observes a non-null value whose type is already known.
    ///
    /// Inlined into [`ColumnProfile::observe_field`], so the match on the value merges with
    /// the inference that made it: one dispatch per value, not two. (Forced: left to itself,
    /// the compiler keeps it, and the text extremes, calls, whose spills cost more than
    /// their work.)
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn observe(&mut self, text: &str, value: Value) {
        self.observe_hashed(text.as_bytes(), value, hash_value(text.as_bytes()));
    }

    /// [`ColumnProfile::observe`] with the value's hash ([`hash_value`]) already known.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn observe_hashed(&mut self, text: &[u8], value: Value, hash: u64) {
        self.count += 1;
        let value_type = value.value_type();
        // Most values have the column's type: no join, no store.
        if self.value_type != Some(value_type) {
            self.value_type = Some(match self.value_type {
                None => value_type,
                Some(current) => current.join(value_type),
            });
        }
        match value {
            Value::Boolean(false) => self.seen_false = true,
            Value::Boolean(true) => self.seen_true = true,
            Value::Integer(v) => {
                self.integer_range = Some(match self.integer_range {
                    None => (v, v),
                    Some((lo, hi)) => (lo.min(v), hi.max(v)),
                });
            }
            Value::Float(v) => {
                // Total order, so -0.0 < 0.0 whatever order they come in.
                self.float_range = Some(match self.float_range {
                    None => (v, v),
                    Some((lo, hi)) => (
                        if v.total_cmp(&lo).is_lt() { v } else { lo },
                        if v.total_cmp(&hi).is_gt() { v } else { hi },
                    ),
                });
            }
            Value::Date(days) => self.dates.update(days, text),
            Value::Timestamp(micros) => self.timestamps.update(micros, text),
            Value::String => {}
        }
        self.update_text_extremes(text);
        self.distinct.insert_hash(hash);
    }

    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn update_text_extremes(&mut self, text: &[u8]) {
        // The word of the first eight bytes: the same for the text cut below.
        let prefix = prefix_word(text);
        // Most values lie strictly between the extremes' words, and then between the
        // extremes (see `TextExtreme`): two comparisons, where each extreme's own was more.
        // (The words kept apart, in `text_bounds`, not read through the two options: the
        // profile example took 533.5 M -> 527.4 M instructions on the first 20 MB of the bench
        // rows, callgrind.)
        let (low, high) = self.text_bounds;
        if low < prefix && prefix < high {
            return;
        }
        self.update_text_extremes_slowly(text, prefix);
    }

    /// [`ColumnProfile::update_text_extremes`] of a value that may be a new extreme.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn update_text_extremes_slowly(&mut self, text: &[u8], prefix: u64) {
        let text = truncate_bytes_at_char_boundary(text, STRING_EXTREME_BYTES);
        match &mut self.text_min {
            Some(min) if compare_text(text, prefix, min).is_ge() => {}
            Some(min) => min.set(text, prefix),
            None => self.text_min = Some(TextExtreme::new(text, prefix)),
        }
        match &mut self.text_max {
            Some(max) if compare_text(text, prefix, max).is_le() => {}
            Some(max) => max.set(text, prefix),
            None => self.text_max = Some(TextExtreme::new(text, prefix)),
        }
        self.text_bounds = self.text_bound_words();
    }

    /// The value `text_bounds` has for the current text extremes.
    fn text_bound_words(&self) -> (u64, u64) {
        match (&self.text_min, &self.text_max) {
            (Some(min), Some(max)) => (min.prefix, max.prefix),
            _ => (u64::MAX, 0),
        }
    }

    /// The summary of this column after `records` valid records.
    pub(crate) fn summary(&self, records: u64) -> ColumnSummary {
        use serde_json::Value as Json;
        let (min, max) = match self.value_type {
            None => (Json::Null, Json::Null),
            Some(ValueType::Boolean) => (Json::Bool(!self.seen_false), Json::Bool(self.seen_true)),
            Some(ValueType::Integer) => self
                .integer_range
                .map_or((Json::Null, Json::Null), |(lo, hi)| (lo.into(), hi.into())),
            Some(ValueType::Float) => {
                let ints = self.integer_range.map(|(lo, hi)| (lo as f64, hi as f64));
                let range = match (ints, self.float_range) {
                    // Integers are never -0.0: plain min/max keep the total order here.
                    (Some((a, b)), Some((c, d))) => {
                        Some((if a < c { a } else { c }, if b > d { b } else { d }))
                    }
                    (one, other) => one.or(other),
                };
                range.map_or((Json::Null, Json::Null), |(lo, hi)| (lo.into(), hi.into()))
            }
            Some(ValueType::Date) => (
                temporal_json(self.dates.min.as_ref()),
                temporal_json(self.dates.max.as_ref()),
            ),
            Some(ValueType::Timestamp) => {
                // Dates count as midnight UTC among the timestamps.
                const DAY: i64 = 86_400_000_000;
                let mut merged = self.timestamps.clone();
                for (days, text) in [&self.dates.min, &self.dates.max].into_iter().flatten() {
                    merged.update(days * DAY, text.as_bytes());
                }
                (
                    temporal_json(merged.min.as_ref()),
                    temporal_json(merged.max.as_ref()),
                )
            }
            Some(ValueType::String) => (
                self.text_min
                    .as_ref()
                    .map_or(Json::Null, |e| Json::String(e.text())),
                self.text_max
                    .as_ref()
                    .map_or(Json::Null, |e| Json::String(e.text())),
            ),
        };
        ColumnSummary {
            name: self.name.clone(),
            value_type: self.value_type,
            count: self.count,
            nulls: records.saturating_sub(self.count),
            min,
            max,
            distinct_estimate: self.distinct.estimate(),
        }
    }
}

fn temporal_json(extreme: Option<&(i64, String)>) -> serde_json::Value {
    extreme.map_or(serde_json::Value::Null, |(_, text)| {
        serde_json::Value::String(text.clone())
    })
}

/// [`infer_bytes`] of a value of a column whose values so far are of type `settled`: the
/// common shape of that type ([`short_number`], [`common_temporal`]) is read first, inline,
/// and only another text goes through inference, which would read the shape to the same
/// value. Through `infer_bytes`, its call and its dispatch on the first byte, the profile
/// example took 561.9 M instructions on the first 20 MB of the bench rows, 540.8 M this way
/// (callgrind).
#[allow(clippy::inline_always)]
#[inline(always)]
fn infer_settled(settled: ValueType, bytes: &[u8]) -> Value {
    let common = match settled {
        ValueType::Integer | ValueType::Float => short_number(bytes),
        ValueType::Date | ValueType::Timestamp => common_temporal(bytes),
        ValueType::Boolean | ValueType::String => None,
    };
    match common {
        Some(value) => value,
        None => infer_bytes(bytes),
    }
}

/// The longest prefix of a text's bytes of at most `max` bytes that ends on a character
/// boundary: a byte that does not continue a character (`10xxxxxx`).
#[inline]
fn truncate_bytes_at_char_boundary(text: &[u8], max: usize) -> &[u8] {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while end > 0 && text[end] & 0xc0 == 0x80 {
        end -= 1;
    }
    &text[..end]
}

/// The columns of an input: profiled up to a limit, the rest only counted.
#[derive(Debug)]
pub(crate) struct Columns {
    profiles: Vec<ColumnProfile>,
    /// Column index by name, for inputs whose records name their fields (JSON Lines).
    by_name: HashMap<String, usize>,
    limit: usize,
    /// Columns beyond `limit`: exact for CSV, a distinct estimate for JSON Lines.
    not_profiled: DistinctSketch,
    not_profiled_exact: u64,
    /// For each named column, the column looked up right after it last time (JSON Lines).
    successors: Vec<Option<usize>>,
    /// The column looked up last (an index into `successors`, maybe past its end).
    previous: usize,
    /// Where each column first appeared: (record, position in it). Summaries come in this
    /// order, whatever order the columns were created in.
    first_seen: Vec<(u64, usize)>,
}

impl Columns {
    pub(crate) fn new(max_columns: usize) -> Columns {
        Columns {
            profiles: Vec::new(),
            by_name: HashMap::new(),
            limit: max_columns,
            not_profiled: DistinctSketch::new(),
            not_profiled_exact: 0,
            successors: Vec::new(),
            previous: 0,
            first_seen: Vec::new(),
        }
    }

    /// Sets fixed, positional columns (CSV): those past the limit are counted, not profiled.
    pub(crate) fn set_positional(&mut self, names: Vec<String>) {
        let total = names.len();
        self.profiles = names
            .into_iter()
            .take(self.limit)
            .map(ColumnProfile::new)
            .collect();
        self.first_seen = (0..self.profiles.len()).map(|i| (0, i)).collect();
        self.not_profiled_exact = (total - self.profiles.len()) as u64;
    }

    /// The profiles in column order.
    pub(crate) fn profiles_mut(&mut self) -> &mut [ColumnProfile] {
        &mut self.profiles
    }

    /// The column named `name`, created on first sight; `None` past the limit.
    ///
    /// Records mostly name their fields in the same order: the column that followed the
    /// previous one last time is tried first, by name, before the hash map. (Names are
    /// unique, so a match is the map's answer.)
    #[inline]
    pub(crate) fn named(&mut self, name: &str) -> Option<usize> {
        let guess = self.successors.get(self.previous).copied().flatten();
        if let Some(index) = guess.filter(|&index| self.profiles[index].name == name) {
            self.previous = index;
            return Some(index);
        }
        let found = self.named_by_map(name);
        if let (Some(index), Some(slot)) = (found, self.successors.get_mut(self.previous)) {
            *slot = Some(index);
        }
        if let Some(index) = found {
            self.previous = index;
        }
        found
    }

    fn named_by_map(&mut self, name: &str) -> Option<usize> {
        if let Some(&index) = self.by_name.get(name) {
            return Some(index);
        }
        if self.profiles.len() >= self.limit {
            self.not_profiled.insert(name.as_bytes());
            return None;
        }
        let index = self.profiles.len();
        self.profiles.push(ColumnProfile::new(name.to_owned()));
        self.successors.push(None);
        self.first_seen.push((u64::MAX, 0));
        self.by_name.insert(name.to_owned(), index);
        Some(index)
    }

    /// How many columns are profiled.
    pub(crate) fn len(&self) -> usize {
        self.profiles.len()
    }

    /// Records where column `index` first appeared: in `record`, at `position`.
    pub(crate) fn set_first_seen(&mut self, index: usize, record: u64, position: usize) {
        if let Some(slot) = self.first_seen.get_mut(index) {
            *slot = (record, position);
        }
    }

    pub(crate) fn get_mut(&mut self, index: usize) -> &mut ColumnProfile {
        &mut self.profiles[index]
    }

    pub(crate) fn not_profiled(&self) -> u64 {
        self.not_profiled_exact + self.not_profiled.estimate()
    }

    pub(crate) fn summaries(&self, records: u64) -> Vec<ColumnSummary> {
        let mut order: Vec<usize> = (0..self.profiles.len()).collect();
        order.sort_by_key(|&i| self.first_seen.get(i).copied().unwrap_or((u64::MAX, i)));
        order
            .into_iter()
            .map(|i| self.profiles[i].summary(records))
            .collect()
    }
}

/// Merging the profiles of consecutive parts of one input (parallel parsing): the merged
/// profile is the one a single pass over both parts would have built.
impl ColumnProfile {
    /// Adds the values of `later`, the same column's profile over the part right after this
    /// one. Ties keep this part's extreme, as a single pass keeps the first it saw.
    pub(crate) fn merge(&mut self, later: &ColumnProfile) {
        self.count += later.count;
        self.value_type = match (self.value_type, later.value_type) {
            (Some(a), Some(b)) => Some(a.join(b)),
            (a, b) => a.or(b),
        };
        self.seen_false |= later.seen_false;
        self.seen_true |= later.seen_true;
        self.integer_range = match (self.integer_range, later.integer_range) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (one, other) => one.or(other),
        };
        self.float_range = match (self.float_range, later.float_range) {
            (Some((a, b)), Some((c, d))) => Some((
                if c.total_cmp(&a).is_lt() { c } else { a },
                if d.total_cmp(&b).is_gt() { d } else { b },
            )),
            (one, other) => one.or(other),
        };
        for (mine, theirs) in [
            (&mut self.dates, &later.dates),
            (&mut self.timestamps, &later.timestamps),
        ] {
            if let Some((key, text)) = &theirs.min
                && mine.min.as_ref().is_none_or(|(k, _)| key < k)
            {
                mine.min = Some((*key, text.clone()));
            }
            if let Some((key, text)) = &theirs.max
                && mine.max.as_ref().is_none_or(|(k, _)| key > k)
            {
                mine.max = Some((*key, text.clone()));
            }
        }
        if let Some(theirs) = &later.text_min
            && self
                .text_min
                .as_ref()
                .is_none_or(|min| theirs.replaces(min, std::cmp::Ordering::Less))
        {
            self.text_min = Some(theirs.clone());
        }
        if let Some(theirs) = &later.text_max
            && self
                .text_max
                .as_ref()
                .is_none_or(|max| theirs.replaces(max, std::cmp::Ordering::Greater))
        {
            self.text_max = Some(theirs.clone());
        }
        self.text_bounds = self.text_bound_words();
        self.distinct.merge(&later.distinct);
    }
}

/// Merging the columns of consecutive parts of one input (parallel parsing).
impl Columns {
    /// The number of fields of positional columns (CSV), profiled or not; 0 before they are
    /// set.
    pub(crate) fn positional_width(&self) -> usize {
        self.profiles.len() + usize::try_from(self.not_profiled_exact).unwrap_or(usize::MAX)
    }

    /// Adds `later`'s positional columns (CSV, the same width), column by column; the names
    /// stay this part's.
    pub(crate) fn merge_positional(&mut self, later: &Columns) {
        for (mine, theirs) in self.profiles.iter_mut().zip(&later.profiles) {
            mine.merge(theirs);
        }
    }

    /// Adds `later`'s named columns (JSON Lines), where `record_shift` records come before
    /// `later`'s part. Returns false, changing nothing, when the column limit makes the
    /// merge inexact (`later` met more columns than it profiled, or the merged columns
    /// would pass the limit): the caller then parses the parts in one pass.
    #[must_use]
    pub(crate) fn merge_named(&mut self, later: &Columns, record_shift: u64) -> bool {
        if !later.not_profiled.is_empty() || later.not_profiled_exact > 0 {
            return false;
        }
        let new = later
            .profiles
            .iter()
            .filter(|profile| !self.by_name.contains_key(&profile.name))
            .count();
        if self.profiles.len() + new > self.limit {
            return false;
        }
        for (index, theirs) in later.profiles.iter().enumerate() {
            if let Some(&mine) = self.by_name.get(&theirs.name) {
                self.profiles[mine].merge(theirs);
                continue;
            }
            let (record, position) = later
                .first_seen
                .get(index)
                .copied()
                .unwrap_or((u64::MAX, 0));
            self.by_name
                .insert(theirs.name.clone(), self.profiles.len());
            self.profiles.push(theirs.clone());
            self.successors.push(None);
            self.first_seen
                .push((record.saturating_add(record_shift), position));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::infer_text;

    fn profile(values: &[&str]) -> ColumnSummary {
        let mut column = ColumnProfile::new("c".into());
        let mut records = 0;
        for value in values {
            records += 1;
            if !value.is_empty() {
                column.observe_text(value);
            }
        }
        column.summary(records)
    }

    /// The profile of `values` observed one by one without the table of recent values.
    fn profile_without_recent_values(values: &[String]) -> ColumnSummary {
        let mut column = ColumnProfile::new("c".into());
        for value in values {
            if !value.is_empty() {
                let inferred = if column.value_type == Some(ValueType::String) {
                    Value::String
                } else {
                    infer_text(value)
                };
                column.observe(value, inferred);
            }
        }
        column.summary(values.len() as u64)
    }

    #[test]
    fn a_settled_type_infers_as_inference_does() {
        use ValueType::{Boolean, Date, Float, Integer, String, Timestamp};
        const PIECES: [&str; 16] = [
            "0",
            "7",
            "9",
            "-",
            "+",
            ".",
            "e",
            "1970",
            "-02-29",
            "-13-01",
            "-12-31",
            "T23:59:60Z",
            "T24:00:00Z",
            " ",
            "true",
            "\u{e9}",
        ];
        let same = |a: Value, b: Value| match (a, b) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (a, b) => a == b,
        };
        let mut texts = vec![
            "-9223372036854775808".to_owned(),
            "99999999".to_owned(),
            "123456789".to_owned(),
            "-0.0".to_owned(),
            "1e5".to_owned(),
            "2023-02-29".to_owned(),
            "2024-02-29".to_owned(),
            "2024-02-29T12:00:00Z".to_owned(),
            "2024-02-29 12:00".to_owned(),
        ];
        let mut state = 0x510e_527f_ade6_82d1u64;
        for _ in 0..50_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let count = (state % 5) as usize + 1;
            texts.push(
                (0..count)
                    .map(|i| PIECES[((state >> (8 + 4 * i)) % 16) as usize])
                    .collect(),
            );
            // Dates and timestamps of the common shapes, some out of range.
            let mut temporal = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                state % 10_000,
                (state >> 14) % 14,
                (state >> 18) % 33,
                (state >> 24) % 26,
                (state >> 30) % 62,
                (state >> 36) % 62
            );
            if state >> 42 & 1 == 1 {
                temporal.truncate(10);
            }
            texts.push(temporal);
        }
        for text in &texts {
            let inferred = infer_bytes(text.as_bytes());
            for settled in [Boolean, Integer, Float, Date, Timestamp, String] {
                let found = infer_settled(settled, text.as_bytes());
                assert!(same(found, inferred), "{text:?} as {settled:?}: {found:?}");
            }
        }
    }

    fn profile_owned(values: &[String]) -> ColumnSummary {
        let borrowed: Vec<&str> = values.iter().map(String::as_str).collect();
        profile(&borrowed)
    }

    /// Values that repeat, of every type, some longer than the table keeps, some equal but
    /// for case or sign, some sharing their words' reads (`abab…`).
    const POOL: [&str; 24] = [
        "true",
        "TRUE",
        "false",
        "1",
        "01",
        "-0",
        "0",
        "2.5",
        "-0.0",
        "0.0",
        "2024-02-29",
        "2024-02-29T10:00:00Z",
        "2024-02-29 10:00",
        "a",
        "b",
        "ab",
        "ba",
        "abab",
        "ababab",
        "abababababababab",
        "abababababababa",
        "a longer value than sixteen bytes",
        "a longer value than sixteen bytez",
        "é",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        #[test]
        fn the_table_of_recent_values_changes_no_profile(
            picks in proptest::collection::vec(0..POOL.len() + 2, 0..300)
        ) {
            let values: Vec<String> = picks
                .iter()
                .map(|&i| POOL.get(i).map_or_else(String::new, |v| (*v).to_owned()))
                .collect();
            proptest::prop_assert_eq!(profile_owned(&values), profile_without_recent_values(&values));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        /// Text extremes are the bytewise smallest and largest values (cut to
        /// [`STRING_EXTREME_BYTES`]), in one pass and merged from two parts cut anywhere
        /// (the merged profile then observing the rest): values around the eight bytes of the
        /// prefix word, zero bytes, shared prefixes.
        #[test]
        fn text_extremes_are_the_bytewise_ones_in_one_pass_and_merged(
            values in proptest::collection::vec("[ab\u{0}é]{1,11}|x{250,260}", 1..40),
            cut in 0usize..40,
            rest in 0usize..40,
        ) {
            let cut = cut.min(values.len());
            let rest = rest.clamp(cut, values.len());
            let observe = |column: &mut ColumnProfile, values: &[String]| {
                for value in values {
                    column.observe(value, Value::String);
                }
            };
            let mut whole = ColumnProfile::new("c".into());
            observe(&mut whole, &values);
            let mut merged = ColumnProfile::new("c".into());
            observe(&mut merged, &values[..cut]);
            let mut later = ColumnProfile::new("c".into());
            observe(&mut later, &values[cut..rest]);
            merged.merge(&later);
            observe(&mut merged, &values[rest..]);
            let cut_text = |v: &String| {
                String::from_utf8(truncate_bytes_at_char_boundary(v.as_bytes(), STRING_EXTREME_BYTES).to_vec()).unwrap()
            };
            let min = values.iter().map(cut_text).min().unwrap();
            let max = values.iter().map(cut_text).max().unwrap();
            let records = values.len() as u64;
            for summary in [whole.summary(records), merged.summary(records)] {
                proptest::prop_assert_eq!(&summary.min, &serde_json::json!(min));
                proptest::prop_assert_eq!(&summary.max, &serde_json::json!(max));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5_000))]
        /// Cutting bytes at a boundary is cutting the text at `is_char_boundary`.
        #[test]
        fn byte_truncation_cuts_where_the_text_would(text in "[aé€😀]{0,12}", max in 0usize..40) {
            let mut end = max.min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            proptest::prop_assert_eq!(
                truncate_bytes_at_char_boundary(text.as_bytes(), max),
                &text.as_bytes()[..end]
            );
        }
    }

    #[test]
    fn the_table_is_dropped_when_values_do_not_repeat_and_the_profile_stays_the_same() {
        // Distinct values first (the table goes), then repeats; then the other way round.
        let distinct: Vec<String> = (0..5_000).map(|i| format!("v{i}")).collect();
        let repeats: Vec<String> = (0..5_000).map(|i| format!("r{}", i % 3)).collect();
        for values in [
            [distinct.clone(), repeats.clone()].concat(),
            [repeats, distinct].concat(),
        ] {
            assert_eq!(
                profile_owned(&values),
                profile_without_recent_values(&values)
            );
        }
        let mut column = ColumnProfile::new("c".into());
        for value in (0..5_000).map(|i| format!("v{i}")) {
            column.observe_text(&value);
        }
        assert!(matches!(column.recent, Recent::Dropped));
        let mut column = ColumnProfile::new("c".into());
        for value in (0..5_000).map(|i| ["x", "y"][i % 2]) {
            column.observe_text(value);
        }
        assert!(matches!(column.recent, Recent::Table(_)));
    }

    #[test]
    fn integers_widen_to_floats_and_keep_their_range() {
        let s = profile(&["5", "", "-3", "2.5", "10"]);
        assert_eq!(s.value_type, Some(ValueType::Float));
        assert_eq!((s.count, s.nulls), (4, 1));
        assert_eq!(s.min, serde_json::json!(-3.0));
        assert_eq!(s.max, serde_json::json!(10.0));
        assert_eq!(s.distinct_estimate, 4);
    }

    #[test]
    fn prefix_words_are_the_first_eight_bytes_zero_padded() {
        for text in [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "abcdef",
            "abcdefg",
            "abcdefgh",
            "abcdefghij",
        ] {
            let mut padded = [0u8; 8];
            let n = text.len().min(8);
            padded[..n].copy_from_slice(&text.as_bytes()[..n]);
            assert_eq!(
                prefix_word(text.as_bytes()),
                u64::from_be_bytes(padded),
                "{text:?}"
            );
        }
    }

    #[test]
    fn signed_zeros_order_the_same_whatever_comes_first() {
        for values in [["-0.0", "0.0"], ["0.0", "-0.0"]] {
            let s = profile(&values);
            assert_eq!((s.min.as_f64(), s.max.as_f64()), (Some(-0.0), Some(0.0)));
            assert!(s.min.as_f64().unwrap().is_sign_negative());
        }
    }

    #[test]
    fn string_extremes_agree_with_bytewise_order_around_the_prefix_word() {
        let values = [
            "abcdefgh",
            "abcdefghi",
            "abcdefg",
            "abcdefgh\u{0}",
            "b",
            "",
            "a\u{0}",
            "a",
        ];
        let non_empty: Vec<&str> = values.iter().copied().filter(|v| !v.is_empty()).collect();
        let s = profile(&[&["x"][..], &non_empty[..]].concat());
        let mut sorted = non_empty.clone();
        sorted.push("x");
        sorted.sort_unstable();
        assert_eq!(s.min, serde_json::json!(sorted[0]));
        assert_eq!(s.max, serde_json::json!(sorted[sorted.len() - 1]));
        let s = profile(&non_empty);
        let mut sorted = non_empty.clone();
        sorted.sort_unstable();
        assert_eq!(s.min, serde_json::json!(sorted[0]));
        assert_eq!(s.max, serde_json::json!(sorted[sorted.len() - 1]));
    }

    #[test]
    fn mixed_types_become_strings_with_bytewise_extremes() {
        let s = profile(&["10", "9", "apple"]);
        assert_eq!(s.value_type, Some(ValueType::String));
        assert_eq!(s.min, serde_json::json!("10"));
        assert_eq!(s.max, serde_json::json!("apple"));
    }

    #[test]
    fn dates_widen_to_timestamps() {
        let s = profile(&[
            "2024-01-02",
            "2024-01-01T12:00:00Z",
            "2023-12-31T23:00:00-02:00",
        ]);
        assert_eq!(s.value_type, Some(ValueType::Timestamp));
        assert_eq!(s.min, serde_json::json!("2023-12-31T23:00:00-02:00"));
        assert_eq!(s.max, serde_json::json!("2024-01-02"));
    }

    #[test]
    fn booleans_and_all_null_columns() {
        let s = profile(&["true", "TRUE"]);
        assert_eq!(s.value_type, Some(ValueType::Boolean));
        assert_eq!(
            (s.min.clone(), s.max.clone()),
            (serde_json::json!(true), serde_json::json!(true))
        );
        let s = profile(&["", ""]);
        assert_eq!(s.value_type, None);
        assert_eq!((s.count, s.nulls, s.distinct_estimate), (0, 2, 0));
        assert_eq!(s.min, serde_json::Value::Null);
    }

    #[test]
    fn long_strings_are_compared_on_a_bounded_prefix() {
        let long = "é".repeat(400);
        let s = profile(&[&long, "a"]);
        let max = s.max.as_str().unwrap();
        assert!(max.len() <= STRING_EXTREME_BYTES && max.starts_with('é'));
    }
}
