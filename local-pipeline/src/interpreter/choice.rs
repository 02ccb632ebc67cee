//! Choice rules, compiled from [`infra::asl::ChoiceRule::condition`].
//!
//! A comparison on a path that is not in the input is a `States.Runtime` error (only
//! `IsPresent` tests for it); a value of the wrong type makes a comparison false.

use std::cmp::Ordering;

use infra::asl::{ChoiceRule, Condition};
use serde_json::{Number, Value};

use super::paths::ReferencePath;

/// A compiled choice rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `IsPresent`.
    IsPresent(ReferencePath, bool),
    /// `IsNumeric`.
    IsNumeric(ReferencePath, bool),
    /// `NumericEquals`, `NumericLessThanEquals`, `NumericLessThan` against a constant: true
    /// when the comparison's ordering is one of `accepted`.
    Numeric(ReferencePath, Number, &'static [Ordering]),
    /// `NumericLessThanEqualsPath`.
    NumericLessThanEqualsPath(ReferencePath, ReferencePath),
    /// `StringMatches`.
    StringMatches(ReferencePath, Pattern),
    /// `And`.
    And(Vec<Rule>),
    /// `Not`.
    Not(Box<Rule>),
}

const EQUAL: &[Ordering] = &[Ordering::Equal];
const AT_MOST: &[Ordering] = &[Ordering::Less, Ordering::Equal];
const LESS: &[Ordering] = &[Ordering::Less];

impl Rule {
    /// Compiles `rule` (its `Next` is the caller's business).
    pub fn compile(rule: &ChoiceRule) -> Result<Rule, String> {
        let path = |text: &str| ReferencePath::parse(text);
        Ok(match rule.condition()? {
            Condition::IsPresent(variable, value) => Rule::IsPresent(path(variable)?, value),
            Condition::IsNumeric(variable, value) => Rule::IsNumeric(path(variable)?, value),
            Condition::NumericEquals(variable, n) => {
                Rule::Numeric(path(variable)?, n.clone(), EQUAL)
            }
            Condition::NumericLessThanEquals(variable, n) => {
                Rule::Numeric(path(variable)?, n.clone(), AT_MOST)
            }
            Condition::NumericLessThan(variable, n) => {
                Rule::Numeric(path(variable)?, n.clone(), LESS)
            }
            Condition::NumericLessThanEqualsPath(variable, other) => {
                Rule::NumericLessThanEqualsPath(path(variable)?, path(other)?)
            }
            Condition::StringMatches(variable, pattern) => {
                Rule::StringMatches(path(variable)?, Pattern::parse(pattern)?)
            }
            Condition::And(rules) => {
                Rule::And(rules.iter().map(Rule::compile).collect::<Result<_, _>>()?)
            }
            Condition::Not(inner) => Rule::Not(Box::new(Rule::compile(inner)?)),
        })
    }

    /// Whether the rule holds for `input`; the error is the cause of a `States.Runtime`
    /// failure. `And` stops at the first rule that does not hold.
    pub fn holds(&self, input: &Value) -> Result<bool, String> {
        let value = |path: &ReferencePath| {
            path.get(input).ok_or_else(|| {
                format!(
                    "Invalid path {:?}: The choice state's condition path references an invalid value.",
                    path.as_str()
                )
            })
        };
        Ok(match self {
            Rule::IsPresent(path, expected) => path.get(input).is_some() == *expected,
            Rule::IsNumeric(path, expected) => value(path)?.is_number() == *expected,
            Rule::Numeric(path, constant, accepted) => value(path)?
                .as_number()
                .and_then(|n| compare(n, constant))
                .is_some_and(|ordering| accepted.contains(&ordering)),
            Rule::NumericLessThanEqualsPath(path, other) => {
                let (a, b) = (value(path)?, value(other)?);
                match (a.as_number(), b.as_number()) {
                    (Some(a), Some(b)) => compare(a, b).is_some_and(Ordering::is_le),
                    _ => false,
                }
            }
            Rule::StringMatches(path, pattern) => value(path)?
                .as_str()
                .is_some_and(|text| pattern.matches(text)),
            Rule::And(rules) => {
                for rule in rules {
                    if !rule.holds(input)? {
                        return Ok(false);
                    }
                }
                true
            }
            Rule::Not(rule) => !rule.holds(input)?,
        })
    }
}

/// Compares two JSON numbers exactly when both are integers, as floats otherwise.
fn compare(a: &Number, b: &Number) -> Option<Ordering> {
    let integer = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (integer(a), integer(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// A `StringMatches` pattern: `*` matches any run of characters, `\*` a literal `*`, `\\` a
/// literal `\`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<Option<char>>);

impl Pattern {
    /// Parses `pattern`; any other backslash escape is refused.
    pub fn parse(pattern: &str) -> Result<Pattern, String> {
        let mut out = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '*' => out.push(None),
                '\\' => match chars.next() {
                    Some(escaped @ ('*' | '\\')) => out.push(Some(escaped)),
                    other => {
                        return Err(format!(
                            "StringMatches {pattern:?}: the escape \\{} is not supported (only \\* and \\\\)",
                            other.map(String::from).unwrap_or_default()
                        ));
                    }
                },
                c => out.push(Some(c)),
            }
        }
        Ok(Pattern(out))
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let pattern = &self.0;
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match pattern.get(p) {
                Some(None) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(Some(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((star_p, star_t)) => {
                        p = star_p + 1;
                        t = star_t + 1;
                        star = Some((star_p, star_t + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(json: Value) -> Rule {
        Rule::compile(&serde_json::from_value(json).unwrap()).unwrap()
    }

    #[test]
    fn patterns_match_wildcards_and_escapes() {
        let matches = |pattern: &str, text: &str| Pattern::parse(pattern).unwrap().matches(text);
        assert!(matches("*/", "a/b/"));
        assert!(matches("*/", "/"));
        assert!(!matches("*/", "a/b"));
        assert!(matches("log-*.txt", "log-2024-01.txt"));
        assert!(!matches("log-*.txt", "log-2024-01.txt.gz"));
        assert!(matches("a*b*c", "aXbYbZc"));
        assert!(matches("*", ""));
        assert!(!matches("", "x"));
        assert!(matches(r"a\*", "a*"));
        assert!(!matches(r"a\*", "ab"));
        assert!(matches(r"a\\*", r"a\anything"));
        assert!(Pattern::parse(r"a\b").unwrap_err().contains("escape"));
        assert!(Pattern::parse("a\\").unwrap_err().contains("escape"));
    }

    #[test]
    fn numeric_comparisons() {
        let input = json!({"n": 5, "f": 5.0, "s": "5", "limit": 5, "big": 6.5});
        let holds = |r: Value| rule(r).holds(&input).unwrap();
        assert!(holds(json!({"Variable": "$.n", "NumericEquals": 5})));
        assert!(holds(json!({"Variable": "$.f", "NumericEquals": 5})));
        assert!(!holds(json!({"Variable": "$.s", "NumericEquals": 5})));
        assert!(holds(
            json!({"Variable": "$.n", "NumericLessThanEquals": 5})
        ));
        assert!(!holds(json!({"Variable": "$.n", "NumericLessThan": 5})));
        assert!(holds(json!({"Variable": "$.n", "NumericLessThan": 5.5})));
        assert!(holds(
            json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.limit"})
        ));
        assert!(!holds(
            json!({"Variable": "$.big", "NumericLessThanEqualsPath": "$.limit"})
        ));
        assert!(!holds(
            json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.s"})
        ));
        assert!(holds(json!({"Variable": "$.n", "IsNumeric": true})));
        assert!(holds(json!({"Variable": "$.s", "IsNumeric": false})));
    }

    #[test]
    fn presence_and_missing_paths() {
        let input = json!({"a": {"b": null}});
        let holds = |r: Value| rule(r).holds(&input);
        assert_eq!(
            holds(json!({"Variable": "$.a.b", "IsPresent": true})),
            Ok(true)
        );
        assert_eq!(
            holds(json!({"Variable": "$.a.c", "IsPresent": true})),
            Ok(false)
        );
        assert_eq!(
            holds(json!({"Variable": "$.a.c", "IsPresent": false})),
            Ok(true)
        );
        for missing in [
            json!({"Variable": "$.a.c", "IsNumeric": true}),
            json!({"Variable": "$.a.c", "NumericEquals": 1}),
            json!({"Variable": "$.a.c", "StringMatches": "*"}),
            json!({"Variable": "$.a.b", "NumericLessThanEqualsPath": "$.nope"}),
        ] {
            let error = holds(missing.clone()).unwrap_err();
            assert!(error.contains("Invalid path"), "{missing}: {error}");
        }
    }

    #[test]
    fn and_stops_early_and_not_negates() {
        let input = json!({"n": "text"});
        let guarded = rule(json!({"And": [
            {"Variable": "$.n", "IsNumeric": true},
            {"Variable": "$.missing", "NumericEquals": 1}
        ]}));
        assert_eq!(guarded.holds(&input), Ok(false));
        let negated = rule(json!({"Not": {"Variable": "$.n", "StringMatches": "t*t"}}));
        assert_eq!(negated.holds(&input), Ok(false));
        let both = rule(json!({"And": [
            {"Variable": "$.n", "IsPresent": true},
            {"Not": {"Variable": "$.n", "IsNumeric": true}}
        ]}));
        assert_eq!(both.holds(&input), Ok(true));
    }
}
