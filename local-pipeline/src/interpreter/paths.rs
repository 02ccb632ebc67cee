//! JSONPath reference paths: `$`, `$.a.b`, `$.a[0].b`, `$['a b'][2]`.
//!
//! Only the "reference path" subset of the States Language: a path names at most one value.
//! Anything fancier (`..`, `*`, filters, slices, unions, negative indices, the context object
//! `$$`) is refused when the path is parsed, so the definition fails to load instead of
//! selecting something else at run time.

use std::fmt;

use serde_json::{Map, Value};

/// One step of a [`ReferencePath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object member, `.name` or `['name']`.
    Field(String),
    /// An array element, `[3]`.
    Index(usize),
}

/// A parsed reference path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencePath {
    text: String,
    segments: Vec<Segment>,
}

/// Why a value could not be placed at a path (`States.ResultPathMatchFailure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementError(pub String);

impl ReferencePath {
    /// Parses `text`; the error says what is not supported.
    pub fn parse(text: &str) -> Result<ReferencePath, String> {
        let unsupported = |what: &str| Err(format!("JSONPath {text:?}: {what} is not supported"));
        if text.starts_with("$$") {
            return unsupported("the context object ($$)");
        }
        let Some(mut rest) = text.strip_prefix('$') else {
            return Err(format!("JSONPath {text:?} does not start with $"));
        };
        let mut segments = Vec::new();
        while let Some(first) = rest.chars().next() {
            match first {
                '.' => {
                    rest = &rest[1..];
                    if rest.starts_with('.') {
                        return unsupported("recursive descent (..)");
                    }
                    let end = rest.find(['.', '[']).unwrap_or(rest.len());
                    let name = &rest[..end];
                    if name.is_empty() {
                        return Err(format!("JSONPath {text:?} has an empty member name"));
                    }
                    if name == "*" {
                        return unsupported("the wildcard *");
                    }
                    if let Some(bad) = name.chars().find(|c| {
                        matches!(
                            c,
                            '*' | '?' | '@' | '(' | ')' | ']' | '\'' | '"' | ',' | '$'
                        ) || c.is_whitespace()
                    }) {
                        return unsupported(&format!("the character {bad:?} in a member name"));
                    }
                    segments.push(Segment::Field(name.to_owned()));
                    rest = &rest[end..];
                }
                '[' => {
                    let (segment, after) = parse_bracket(&rest[1..])
                        .map_err(|what| format!("JSONPath {text:?}: {what} is not supported"))?;
                    segments.push(segment);
                    rest = after;
                }
                other => {
                    return Err(format!(
                        "JSONPath {text:?}: unexpected {other:?} after {:?}",
                        &text[..text.len() - rest.len()]
                    ));
                }
            }
        }
        Ok(ReferencePath {
            text: text.to_owned(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The steps after `$`.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The value this path names in `root`, if there is one.
    pub fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.segments
            .iter()
            .try_fold(root, |value, segment| match (segment, value) {
                (Segment::Field(name), Value::Object(map)) => map.get(name),
                (Segment::Index(index), Value::Array(items)) => items.get(*index),
                _ => None,
            })
    }

    /// `root` with `value` placed at this path, as `ResultPath` does: `$` replaces the whole
    /// input; otherwise missing objects on the way are created, and an existing member is
    /// replaced. A step through something that is not an object fails.
    pub fn place(&self, root: Value, value: Value) -> Result<Value, PlacementError> {
        let Some((last, parents)) = self.segments.split_last() else {
            return Ok(value);
        };
        let mut root = root;
        let mut target = &mut root;
        for segment in parents {
            let Segment::Field(name) = segment else {
                return Err(self.not_placeable());
            };
            let Value::Object(map) = target else {
                return Err(self.not_placeable());
            };
            target = map
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        match (last, target) {
            (Segment::Field(name), Value::Object(map)) => {
                map.insert(name.clone(), value);
                Ok(root)
            }
            _ => Err(self.not_placeable()),
        }
    }

    fn not_placeable(&self) -> PlacementError {
        PlacementError(format!(
            "Unable to apply ResultPath {:?} to the state's input: a step of the path is not an object",
            self.text
        ))
    }

    /// Whether every step is an object member (what `ResultPath` can write to).
    pub fn is_members_only(&self) -> bool {
        self.segments
            .iter()
            .all(|segment| matches!(segment, Segment::Field(_)))
    }
}

impl fmt::Display for ReferencePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses what follows `[`: `'name']`, `"name"]` or `digits]`; returns the segment and the rest.
fn parse_bracket(rest: &str) -> Result<(Segment, &str), String> {
    if let Some(quote) = rest.chars().next().filter(|c| matches!(c, '\'' | '"')) {
        let body = &rest[1..];
        let end = body
            .find(quote)
            .ok_or_else(|| "an unterminated quoted member name".to_owned())?;
        let name = &body[..end];
        if name.contains('\\') {
            return Err("an escape in a quoted member name".to_owned());
        }
        let after = body[end + 1..]
            .strip_prefix(']')
            .ok_or_else(|| "more than one name in brackets".to_owned())?;
        return Ok((Segment::Field(name.to_owned()), after));
    }
    let end = rest
        .find(']')
        .ok_or_else(|| "an unterminated bracket".to_owned())?;
    let inside = &rest[..end];
    if !inside.is_empty() && inside.bytes().all(|b| b.is_ascii_digit()) {
        let index = inside
            .parse::<usize>()
            .map_err(|_| format!("the index {inside}"))?;
        return Ok((Segment::Index(index), &rest[end + 1..]));
    }
    let what = if inside.starts_with('?') {
        "a filter expression".to_owned()
    } else if inside == "*" {
        "the wildcard [*]".to_owned()
    } else if inside.contains(':') {
        "an array slice".to_owned()
    } else if inside.contains(',') {
        "a union".to_owned()
    } else if inside.starts_with('-') {
        "a negative index".to_owned()
    } else {
        format!("the bracket expression [{inside}]")
    };
    Err(what)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(text: &str) -> ReferencePath {
        ReferencePath::parse(text).unwrap()
    }

    #[test]
    fn parses_members_indices_and_brackets() {
        assert_eq!(path("$").segments(), &[]);
        assert_eq!(
            path("$.a[0].b-c['d e'][12]").segments(),
            &[
                Segment::Field("a".into()),
                Segment::Index(0),
                Segment::Field("b-c".into()),
                Segment::Field("d e".into()),
                Segment::Index(12),
            ]
        );
        assert_eq!(path("$[\"x\"]").segments(), &[Segment::Field("x".into())]);
        assert_eq!(path("$.a.b").to_string(), "$.a.b");
    }

    #[test]
    fn refuses_what_is_not_a_reference_path() {
        for (text, what) in [
            ("$..a", "recursive descent"),
            ("$.a[*]", "wildcard"),
            ("$.*", "wildcard"),
            ("$.a[?(@.b > 1)]", "filter"),
            ("$.a[0:2]", "slice"),
            ("$.a[0,1]", "union"),
            ("$.a[-1]", "negative index"),
            ("$$.Execution.Id", "context object"),
            ("a.b", "does not start with $"),
            ("$.", "empty member name"),
            ("$.a[0", "unterminated"),
            ("$x", "unexpected"),
            ("$.a b", "character"),
        ] {
            let error = ReferencePath::parse(text).unwrap_err();
            assert!(error.contains(what), "{text}: {error}");
        }
    }

    #[test]
    fn gets_values_or_nothing() {
        let doc = json!({"a": {"b": [10, {"c": "x"}]}, "d e": true});
        assert_eq!(path("$").get(&doc), Some(&doc));
        assert_eq!(path("$.a.b[0]").get(&doc), Some(&json!(10)));
        assert_eq!(path("$.a.b[1].c").get(&doc), Some(&json!("x")));
        assert_eq!(path("$['d e']").get(&doc), Some(&json!(true)));
        assert_eq!(path("$.a.b[2]").get(&doc), None);
        assert_eq!(path("$.a.missing").get(&doc), None);
        assert_eq!(path("$.a.b.c").get(&doc), None);
        assert_eq!(path("$.a[0]").get(&doc), None);
    }

    #[test]
    fn places_values_creating_objects_on_the_way() {
        let input = json!({"a": {"keep": 1}, "z": 2});
        assert_eq!(path("$").place(input.clone(), json!(5)).unwrap(), json!(5));
        assert_eq!(
            path("$.a.b").place(input.clone(), json!(5)).unwrap(),
            json!({"a": {"keep": 1, "b": 5}, "z": 2})
        );
        assert_eq!(
            path("$.n.m").place(input.clone(), json!([1])).unwrap(),
            json!({"a": {"keep": 1}, "z": 2, "n": {"m": [1]}})
        );
        assert_eq!(
            path("$.z").place(input.clone(), json!(null)).unwrap(),
            json!({"a": {"keep": 1}, "z": null})
        );
        assert!(path("$.z.y").place(input.clone(), json!(1)).is_err());
        assert!(path("$.a").place(json!("text"), json!(1)).is_err());
        assert!(path("$.a[0]").place(input, json!(1)).is_err());
    }
}
