//! Intrinsic functions: `States.StringToJson`, `States.JsonToString`, `States.MathAdd` and
//! `States.Format`, with arguments that are string literals (`'…'`, backslash escapes),
//! numbers, `true`/`false`/`null`, reference paths, or nested calls.
//!
//! Calls are parsed and checked (known name, right number of arguments, a literal template
//! for `States.Format` with as many `{}` as values) when the definition loads; evaluating
//! one can still fail on the values it meets, which is a `States.Runtime` error.

use serde_json::{Number, Value};

use super::paths::ReferencePath;

/// The intrinsic functions this interpreter implements.
pub const SUPPORTED_INTRINSICS: [&str; 4] = [
    "States.StringToJson",
    "States.JsonToString",
    "States.MathAdd",
    "States.Format",
];

/// A parsed intrinsic call.
#[derive(Debug, Clone, PartialEq)]
pub enum Intrinsic {
    /// `States.StringToJson(text)`.
    StringToJson(Box<Argument>),
    /// `States.JsonToString(value)`.
    JsonToString(Box<Argument>),
    /// `States.MathAdd(a, b)`.
    MathAdd(Box<Argument>, Box<Argument>),
    /// `States.Format('template', values…)`: the template split at its `{}`.
    Format(Vec<String>, Vec<Argument>),
}

/// An argument of an intrinsic call.
#[derive(Debug, Clone, PartialEq)]
pub enum Argument {
    /// A literal: string, number, boolean or null.
    Literal(Value),
    /// The value at a path of the input.
    Path(ReferencePath),
    /// A nested call.
    Call(Intrinsic),
}

/// A string literal as written: each character, and whether it was escaped.
type Quoted = Vec<(char, bool)>;

enum RawArgument {
    Text(Quoted),
    Other(Argument),
}

impl Intrinsic {
    /// Parses a whole call such as `States.Format('{}', $.a)`.
    pub fn parse(text: &str) -> Result<Intrinsic, String> {
        let mut parser = Parser { text, at: 0 };
        let call = parser.call()?;
        parser.skip_spaces();
        if parser.at != text.len() {
            return Err(format!(
                "{text:?}: unexpected text after the call: {:?}",
                &text[parser.at..]
            ));
        }
        Ok(call)
    }

    /// Evaluates the call on `input`; the error is the cause of a `States.Runtime` failure.
    pub fn evaluate(&self, input: &Value) -> Result<Value, String> {
        match self {
            Intrinsic::StringToJson(argument) => match argument.evaluate(input)? {
                Value::String(text) => serde_json::from_str(&text).map_err(|e| {
                    format!("States.StringToJson: the argument {text:?} is not JSON: {e}")
                }),
                other => Err(format!(
                    "States.StringToJson: the argument must be a string, not {other}"
                )),
            },
            Intrinsic::JsonToString(argument) => {
                let value = argument.evaluate(input)?;
                Ok(Value::String(value.to_string()))
            }
            Intrinsic::MathAdd(a, b) => {
                let (a, b) = (a.evaluate(input)?, b.evaluate(input)?);
                let integer = |v: &Value| {
                    v.as_i64().ok_or_else(|| {
                        format!("States.MathAdd: the argument {v} is not an integer")
                    })
                };
                let sum = integer(&a)?
                    .checked_add(integer(&b)?)
                    .ok_or_else(|| format!("States.MathAdd: {a} + {b} overflows"))?;
                Ok(Value::Number(Number::from(sum)))
            }
            Intrinsic::Format(pieces, arguments) => {
                let mut out = String::new();
                for (index, piece) in pieces.iter().enumerate() {
                    out.push_str(piece);
                    if let Some(argument) = arguments.get(index) {
                        match argument.evaluate(input)? {
                            Value::String(text) => out.push_str(&text),
                            value @ (Value::Number(_) | Value::Bool(_) | Value::Null) => {
                                out.push_str(&value.to_string());
                            }
                            other => {
                                return Err(format!(
                                    "States.Format: the argument {other} is not a string, number, boolean or null"
                                ));
                            }
                        }
                    }
                }
                Ok(Value::String(out))
            }
        }
    }
}

impl Argument {
    fn evaluate(&self, input: &Value) -> Result<Value, String> {
        match self {
            Argument::Literal(value) => Ok(value.clone()),
            Argument::Path(path) => path.get(input).cloned().ok_or_else(|| {
                format!(
                    "The JsonPath argument {:?} of an intrinsic function could not be found in the input",
                    path.as_str()
                )
            }),
            Argument::Call(call) => call.evaluate(input),
        }
    }
}

struct Parser<'t> {
    text: &'t str,
    at: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn skip_spaces(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn error(&self, what: &str) -> String {
        format!("{:?}: {what} at {:?}", self.text, self.rest())
    }

    fn call(&mut self) -> Result<Intrinsic, String> {
        let open = self
            .rest()
            .find('(')
            .ok_or_else(|| self.error("expected an intrinsic call"))?;
        let name = self.rest()[..open].trim().to_owned();
        if !SUPPORTED_INTRINSICS.contains(&name.as_str()) {
            return Err(format!(
                "the intrinsic function {name} is not supported (only {})",
                SUPPORTED_INTRINSICS.join(", ")
            ));
        }
        self.at += open + 1;
        let mut raw = Vec::new();
        self.skip_spaces();
        if self.rest().starts_with(')') {
            self.at += 1;
        } else {
            loop {
                self.skip_spaces();
                raw.push(self.argument()?);
                self.skip_spaces();
                match self.rest().chars().next() {
                    Some(',') => self.at += 1,
                    Some(')') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(self.error("expected , or )")),
                }
            }
        }
        build(&name, raw)
    }

    fn argument(&mut self) -> Result<RawArgument, String> {
        let text = self.text;
        let rest = &text[self.at..];
        if rest.starts_with('\'') {
            return self.quoted().map(RawArgument::Text);
        }
        if rest.starts_with("States.") {
            return self.call().map(|c| RawArgument::Other(Argument::Call(c)));
        }
        let end = if rest.starts_with('$') {
            path_end(rest)
        } else {
            rest.find([',', ')']).unwrap_or(rest.len())
        };
        let token = rest[..end].trim_end();
        self.at += end;
        if token.starts_with('$') {
            return ReferencePath::parse(token).map(|p| RawArgument::Other(Argument::Path(p)));
        }
        let literal = match token {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => match serde_json::from_str::<Number>(token) {
                Ok(number) => Value::Number(number),
                Err(_) => {
                    return Err(format!(
                        "{:?}: the argument {token:?} is not a string, number, boolean, null, path or call",
                        self.text
                    ));
                }
            },
        };
        Ok(RawArgument::Other(Argument::Literal(literal)))
    }

    /// A `'…'` literal; `\` escapes the next character (`\'`, `\\`, `\{`, `\}`).
    fn quoted(&mut self) -> Result<Quoted, String> {
        let mut chars = self.rest().char_indices().skip(1);
        let mut out = Vec::new();
        while let Some((index, c)) = chars.next() {
            match c {
                '\'' => {
                    self.at += index + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('\'' | '\\' | '{' | '}'))) => out.push((escaped, true)),
                    Some((_, other)) => {
                        return Err(format!(
                            "{:?}: the escape \\{other} is not supported (only \\' \\\\ \\{{ \\}})",
                            self.text
                        ));
                    }
                    None => break,
                },
                other => out.push((other, false)),
            }
        }
        Err(self.error("unterminated string literal"))
    }
}

/// Where a path argument ends: the first `,` or `)` outside brackets and quotes.
fn path_end(text: &str) -> usize {
    let mut depth = 0usize;
    let mut quote = None;
    for (index, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, ',' | ')') if depth == 0 => return index,
            _ => {}
        }
    }
    text.len()
}

fn build(name: &str, raw: Vec<RawArgument>) -> Result<Intrinsic, String> {
    let count = raw.len();
    let arity = |expected: &str| Err(format!("{name} takes {expected}, not {count} argument(s)"));
    let plain = |argument: RawArgument| match argument {
        RawArgument::Text(quoted) => Argument::Literal(Value::String(unquote(&quoted))),
        RawArgument::Other(argument) => argument,
    };
    match name {
        "States.StringToJson" | "States.JsonToString" => {
            let Ok([argument]) = <[RawArgument; 1]>::try_from(raw) else {
                return arity("one argument");
            };
            let argument = Box::new(plain(argument));
            Ok(if name == "States.StringToJson" {
                Intrinsic::StringToJson(argument)
            } else {
                Intrinsic::JsonToString(argument)
            })
        }
        "States.MathAdd" => {
            let Ok([a, b]) = <[RawArgument; 2]>::try_from(raw) else {
                return arity("two arguments");
            };
            Ok(Intrinsic::MathAdd(Box::new(plain(a)), Box::new(plain(b))))
        }
        "States.Format" => {
            let mut raw = raw.into_iter();
            let Some(RawArgument::Text(template)) = raw.next() else {
                return Err(format!("{name} takes a string literal template first"));
            };
            let pieces = split_template(&template)?;
            let arguments: Vec<Argument> = raw.map(plain).collect();
            if pieces.len() != arguments.len() + 1 {
                return Err(format!(
                    "{name}: the template has {} placeholder(s) {{}} but {} value(s) follow",
                    pieces.len() - 1,
                    arguments.len()
                ));
            }
            Ok(Intrinsic::Format(pieces, arguments))
        }
        _ => Err(format!("the intrinsic function {name} is not supported")),
    }
}

fn unquote(quoted: &Quoted) -> String {
    quoted.iter().map(|(c, _)| c).collect()
}

/// Splits a `States.Format` template at its unescaped `{}`.
fn split_template(template: &Quoted) -> Result<Vec<String>, String> {
    let mut pieces = vec![String::new()];
    let mut chars = template.iter().peekable();
    while let Some(&(c, escaped)) = chars.next() {
        match (c, escaped) {
            ('{', false) => {
                if chars.next_if(|&&(c, e)| c == '}' && !e).is_none() {
                    return Err(
                        "States.Format: an unescaped { must be followed by } (write \\{ for a brace)"
                            .to_owned(),
                    );
                }
                pieces.push(String::new());
            }
            ('}', false) => {
                return Err("States.Format: an unescaped } (write \\} for a brace)".to_owned());
            }
            (c, _) => pieces.last_mut().expect("never empty").push(c),
        }
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eval(text: &str, input: &Value) -> Result<Value, String> {
        Intrinsic::parse(text).unwrap().evaluate(input)
    }

    #[test]
    fn string_to_json_and_back() {
        let input = json!({"text": "{\"a\":[1,2]}", "doc": {"b": "x", "a": 1}});
        assert_eq!(
            eval("States.StringToJson('6291456')", &input),
            Ok(json!(6_291_456))
        );
        assert_eq!(
            eval("States.StringToJson($.text)", &input),
            Ok(json!({"a": [1, 2]}))
        );
        assert_eq!(
            eval("States.JsonToString($.doc)", &input),
            Ok(json!(r#"{"a":1,"b":"x"}"#))
        );
        assert_eq!(
            eval("States.StringToJson(States.JsonToString($.doc))", &input),
            Ok(input["doc"].clone())
        );
        assert!(
            eval("States.StringToJson('{oops')", &input)
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            eval("States.StringToJson($.doc)", &input)
                .unwrap_err()
                .contains("string")
        );
        assert!(
            eval("States.StringToJson($.missing)", &input)
                .unwrap_err()
                .contains("could not be found")
        );
    }

    #[test]
    fn math_add_adds_integers() {
        let input = json!({"count": 1, "half": 0.5});
        assert_eq!(eval("States.MathAdd($.count, 1)", &input), Ok(json!(2)));
        assert_eq!(eval("States.MathAdd( -5 ,$.count )", &input), Ok(json!(-4)));
        assert!(
            eval("States.MathAdd($.half, 1)", &input)
                .unwrap_err()
                .contains("integer")
        );
        assert!(
            eval("States.MathAdd('1', 1)", &input)
                .unwrap_err()
                .contains("integer")
        );
    }

    #[test]
    fn format_fills_placeholders_and_keeps_escapes() {
        let input = json!({"name": "it's", "n": 3, "list": [1], "b": true});
        assert_eq!(
            eval(
                r"States.Format('Hello {}, {} \{x\} \'q\' \\', $.name, $.n)",
                &input
            ),
            Ok(json!(r"Hello it's, 3 {x} 'q' \"))
        );
        assert_eq!(
            eval(
                "States.Format('{}/{}', $.b, States.MathAdd($.n, 1))",
                &input
            ),
            Ok(json!("true/4"))
        );
        assert_eq!(eval("States.Format('a, (b)')", &input), Ok(json!("a, (b)")));
        assert!(
            eval("States.Format('{}', $.list)", &input)
                .unwrap_err()
                .contains("not a string")
        );
    }

    #[test]
    fn paths_with_commas_in_brackets_are_one_argument() {
        let input = json!({"a,b": "x"});
        assert_eq!(
            eval("States.Format('{}', $['a,b'])", &input),
            Ok(json!("x"))
        );
    }

    #[test]
    fn refuses_unknown_functions_and_wrong_arities() {
        for (text, what) in [
            ("States.UUID()", "not supported"),
            ("States.ArrayGetItem($.a, 0)", "not supported"),
            ("States.MathAdd(1)", "two arguments"),
            ("States.JsonToString($.a, $.b)", "one argument"),
            ("States.StringToJson()", "one argument"),
            ("States.Format($.template, 1)", "string literal template"),
            ("States.Format('{} {}', 1)", "2 placeholder"),
            ("States.Format('{ }', 1)", "must be followed by }"),
            ("States.Format('}')", "unescaped }"),
            ("States.Format('\\n')", "escape"),
            ("States.Format('open", "unterminated"),
            ("States.MathAdd($..a, 1)", "recursive descent"),
            ("States.MathAdd(1, two)", "not a string, number"),
            ("States.MathAdd(1, 2) extra", "unexpected text"),
        ] {
            let error = Intrinsic::parse(text).unwrap_err();
            assert!(error.contains(what), "{text}: {error}");
        }
    }
}
