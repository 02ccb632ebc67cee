//! A typed model of the Amazon States Language: the subset the pipeline's state machine uses.
//!
//! The generator builds a [`StateMachine`] and serialises it; the local runner reads the same
//! JSON back into it. Deserialising refuses any field the model does not know
//! (`deny_unknown_fields`), so a definition that uses a feature outside this subset fails when
//! it is loaded, never by behaving differently later.
//!
//! Field names are ASL's own (PascalCase); optional fields are left out when unset. States keep
//! the order they were added in, so the JSON reads top to bottom like the workflow.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A whole state machine definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StateMachine {
    /// What the state machine does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The first state.
    pub start_at: String,
    /// The longest an execution may run before it fails with `States.Timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// The states, in the order they were added.
    pub states: States,
}

/// The named states of a [`StateMachine`], in order. Names are unique.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct States(Vec<(String, State)>);

impl States {
    /// No states yet.
    pub fn new() -> States {
        States(Vec::new())
    }

    /// Adds a state; panics when the name is taken (a bug in the generator).
    pub fn add(&mut self, name: impl Into<String>, state: State) {
        let name = name.into();
        assert!(self.get(&name).is_none(), "state {name:?} defined twice");
        self.0.push((name, state));
    }

    /// The state called `name`.
    pub fn get(&self, name: &str) -> Option<&State> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    /// The states with their names, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &State)> {
        self.0.iter().map(|(n, s)| (n.as_str(), s))
    }

    /// How many states there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for States {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, state) in &self.0 {
            map.serialize_entry(name, state)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for States {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<States, D::Error> {
        struct StatesVisitor;
        impl<'de> Visitor<'de> for StatesVisitor {
            type Value = States;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of named states")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<States, A::Error> {
                let mut states = Vec::new();
                while let Some((name, state)) = map.next_entry::<String, State>()? {
                    if states.iter().any(|(n, _): &(String, State)| *n == name) {
                        return Err(serde::de::Error::custom(format!(
                            "state {name:?} is defined twice"
                        )));
                    }
                    states.push((name, state));
                }
                Ok(States(states))
            }
        }
        deserializer.deserialize_map(StatesVisitor)
    }
}

/// One state, by its `Type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub enum State {
    /// Passes its input on, optionally reshaped.
    Pass(Pass),
    /// Calls a service integration.
    Task(Task),
    /// Picks the next state by rules on the input.
    Choice(Choice),
    /// Waits a while.
    Wait(Wait),
    /// Ends the execution successfully.
    Succeed(Succeed),
    /// Ends the execution with an error.
    Fail(Fail),
}

impl State {
    /// The states this one can go to next (transitions, choices, catchers), in order.
    pub fn successors(&self) -> Vec<&str> {
        match self {
            State::Pass(pass) => pass.next.iter().map(String::as_str).collect(),
            State::Task(task) => task
                .next
                .iter()
                .chain(task.catch.iter().map(|c| &c.next))
                .map(String::as_str)
                .collect(),
            State::Choice(choice) => choice
                .choices
                .iter()
                .filter_map(|rule| rule.next.as_ref())
                .chain(choice.default.as_ref())
                .map(String::as_str)
                .collect(),
            State::Wait(wait) => vec![wait.next.as_str()],
            State::Succeed(_) | State::Fail(_) => Vec::new(),
        }
    }
}

/// A `Pass` state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Pass {
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The payload template: keys ending in `.$` take a path or an intrinsic function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Where the result goes in the input (`$` when absent: it replaces the input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_path: Option<String>,
    /// The next state, unless `end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Whether the execution ends here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
}

/// A `Task` state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Task {
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The integration's ARN, such as `arn:aws:states:::lambda:invoke`.
    pub resource: String,
    /// The request, as a payload template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Reshapes the integration's result before `result_path` places it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_selector: Option<Value>,
    /// Where the result goes in the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_path: Option<String>,
    /// The longest the task may run before it fails with `States.Timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Retry rules, tried in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Retrier>,
    /// Catch rules, tried in order once retries are exhausted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catch: Vec<Catcher>,
    /// The next state, unless `end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Whether the execution ends here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
}

/// A retry rule of a [`Task`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Retrier {
    /// The error names it applies to.
    pub error_equals: Vec<String>,
    /// Seconds before the first retry.
    pub interval_seconds: u64,
    /// Retries at most (not counting the first attempt).
    pub max_attempts: u32,
    /// The factor the interval grows by per retry.
    pub backoff_rate: f64,
    /// The longest interval, whatever the backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay_seconds: Option<u64>,
    /// `FULL` for a random interval up to the computed one, `NONE` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_strategy: Option<JitterStrategy>,
}

/// How a [`Retrier`] spreads its intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum JitterStrategy {
    /// A random interval between zero and the computed one.
    Full,
    /// Exactly the computed interval.
    None,
}

/// A catch rule of a [`Task`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Catcher {
    /// The error names it applies to.
    pub error_equals: Vec<String>,
    /// Where the error (`{"Error": …, "Cause": …}`) goes in the state's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_path: Option<String>,
    /// The state to go to.
    pub next: String,
}

/// A `Choice` state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Choice {
    /// What it decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The rules, tried in order; the first that matches wins.
    pub choices: Vec<ChoiceRule>,
    /// Where to go when no rule matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A rule of a [`Choice`]: one comparison of `variable`, or `and` / `not` of nested rules.
/// `next` is set on top-level rules only.
///
/// Exactly one comparison (or combinator) is set; the constructors keep it so, and
/// [`ChoiceRule::condition`] checks it for rules read from JSON.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ChoiceRule {
    /// The path of the value compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// True when the path exists (or does not, with `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_present: Option<bool>,
    /// True when the value is a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_numeric: Option<bool>,
    /// True when the value is a number equal to this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_equals: Option<serde_json::Number>,
    /// True when the value is a number at most this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_less_than_equals: Option<serde_json::Number>,
    /// True when the value is a number at most the number at this path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_less_than_equals_path: Option<String>,
    /// True when the value is a number less than this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_less_than: Option<serde_json::Number>,
    /// True when the value is a string matching this pattern (`*` is any run of characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_matches: Option<String>,
    /// True when every nested rule is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<Vec<ChoiceRule>>,
    /// True when the nested rule is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<ChoiceRule>>,
    /// The state to go to when the rule matches (top-level rules only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// What a [`ChoiceRule`] tests, as one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition<'a> {
    /// `IsPresent`.
    IsPresent(&'a str, bool),
    /// `IsNumeric`.
    IsNumeric(&'a str, bool),
    /// `NumericEquals`.
    NumericEquals(&'a str, &'a serde_json::Number),
    /// `NumericLessThanEquals`.
    NumericLessThanEquals(&'a str, &'a serde_json::Number),
    /// `NumericLessThanEqualsPath`.
    NumericLessThanEqualsPath(&'a str, &'a str),
    /// `NumericLessThan`.
    NumericLessThan(&'a str, &'a serde_json::Number),
    /// `StringMatches`.
    StringMatches(&'a str, &'a str),
    /// `And`.
    And(&'a [ChoiceRule]),
    /// `Not`.
    Not(&'a ChoiceRule),
}

impl ChoiceRule {
    /// A rule on `variable` with no comparison yet.
    fn on(variable: &str) -> ChoiceRule {
        ChoiceRule {
            variable: Some(variable.to_owned()),
            ..ChoiceRule::default()
        }
    }

    /// `variable` exists.
    pub fn is_present(variable: &str) -> ChoiceRule {
        ChoiceRule {
            is_present: Some(true),
            ..ChoiceRule::on(variable)
        }
    }

    /// `variable` is a number.
    pub fn is_numeric(variable: &str) -> ChoiceRule {
        ChoiceRule {
            is_numeric: Some(true),
            ..ChoiceRule::on(variable)
        }
    }

    /// `variable` is a number equal to `value`.
    pub fn numeric_equals(variable: &str, value: impl Into<serde_json::Number>) -> ChoiceRule {
        ChoiceRule {
            numeric_equals: Some(value.into()),
            ..ChoiceRule::on(variable)
        }
    }

    /// `variable` is a number at most `value`.
    pub fn numeric_less_than_equals(
        variable: &str,
        value: impl Into<serde_json::Number>,
    ) -> ChoiceRule {
        ChoiceRule {
            numeric_less_than_equals: Some(value.into()),
            ..ChoiceRule::on(variable)
        }
    }

    /// `variable` is a number at most the number at `path`.
    pub fn numeric_less_than_equals_path(variable: &str, path: &str) -> ChoiceRule {
        ChoiceRule {
            numeric_less_than_equals_path: Some(path.to_owned()),
            ..ChoiceRule::on(variable)
        }
    }

    /// `variable` is a number less than `value`.
    pub fn numeric_less_than(variable: &str, value: impl Into<serde_json::Number>) -> ChoiceRule {
        ChoiceRule {
            numeric_less_than: Some(value.into()),
            ..ChoiceRule::on(variable)
        }
    }

    /// `variable` is a string matching `pattern`.
    pub fn string_matches(variable: &str, pattern: &str) -> ChoiceRule {
        ChoiceRule {
            string_matches: Some(pattern.to_owned()),
            ..ChoiceRule::on(variable)
        }
    }

    /// Every one of `rules` holds.
    pub fn and(rules: Vec<ChoiceRule>) -> ChoiceRule {
        ChoiceRule {
            and: Some(rules),
            ..ChoiceRule::default()
        }
    }

    /// `rule` does not hold.
    pub fn negate(rule: ChoiceRule) -> ChoiceRule {
        ChoiceRule {
            not: Some(Box::new(rule)),
            ..ChoiceRule::default()
        }
    }

    /// This rule, leading to `state` when it holds.
    #[must_use]
    pub fn then(self, state: &str) -> ChoiceRule {
        ChoiceRule {
            next: Some(state.to_owned()),
            ..self
        }
    }

    /// The one test this rule makes, or why it is not a valid rule of this subset.
    pub fn condition(&self) -> Result<Condition<'_>, String> {
        let variable = self.variable.as_deref();
        let mut found = Vec::new();
        if let Some(v) = self.is_present {
            found.push(variable.map(|p| Condition::IsPresent(p, v)));
        }
        if let Some(v) = self.is_numeric {
            found.push(variable.map(|p| Condition::IsNumeric(p, v)));
        }
        if let Some(v) = &self.numeric_equals {
            found.push(variable.map(|p| Condition::NumericEquals(p, v)));
        }
        if let Some(v) = &self.numeric_less_than_equals {
            found.push(variable.map(|p| Condition::NumericLessThanEquals(p, v)));
        }
        if let Some(v) = &self.numeric_less_than_equals_path {
            found.push(variable.map(|p| Condition::NumericLessThanEqualsPath(p, v)));
        }
        if let Some(v) = &self.numeric_less_than {
            found.push(variable.map(|p| Condition::NumericLessThan(p, v)));
        }
        if let Some(v) = &self.string_matches {
            found.push(variable.map(|p| Condition::StringMatches(p, v)));
        }
        if let Some(rules) = &self.and {
            found.push(variable.is_none().then_some(Condition::And(rules)));
        }
        if let Some(rule) = &self.not {
            found.push(variable.is_none().then_some(Condition::Not(rule)));
        }
        match found.as_slice() {
            [Some(condition)] => Ok(*condition),
            [None] => {
                Err("a comparison needs a Variable, and And/Not must not have one".to_owned())
            }
            [] => Err("the rule has no comparison this runner supports".to_owned()),
            _ => Err("the rule has more than one comparison".to_owned()),
        }
    }
}

/// A `Wait` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Wait {
    /// What it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// How long.
    pub seconds: u64,
    /// The next state.
    pub next: String,
}

/// A `Succeed` state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Succeed {
    /// Why the execution ends here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A `Fail` state: the execution fails with `error`, and `cause` (or the string at
/// `cause_path`) as the explanation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Fail {
    /// What it means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The execution's error name.
    pub error: String,
    /// A fixed explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The path of the explanation in the state's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_path: Option<String>,
}

impl StateMachine {
    /// Checks what serde cannot: the start state and every transition name an existing
    /// state, every state can be reached, each `Pass`/`Task` has exactly one of `Next` and
    /// `End`, and every choice rule is one supported comparison.
    pub fn validate(&self) -> Result<(), String> {
        let exists = |name: &str, from: &str| {
            if self.states.get(name).is_some() {
                Ok(())
            } else {
                Err(format!("{from} goes to {name:?}, which is not a state"))
            }
        };
        exists(&self.start_at, "StartAt")?;
        for (name, state) in self.states.iter() {
            for next in state.successors() {
                exists(next, &format!("state {name:?}"))?;
            }
            let (next, end) = match state {
                State::Pass(pass) => (pass.next.is_some(), pass.end),
                State::Task(task) => (task.next.is_some(), task.end),
                _ => (false, true),
            };
            if next == end {
                return Err(format!(
                    "state {name:?} must have exactly one of Next and End"
                ));
            }
            if let State::Choice(choice) = state {
                for rule in &choice.choices {
                    if rule.next.is_none() {
                        return Err(format!("a rule of choice {name:?} has no Next"));
                    }
                    check_rule(rule).map_err(|e| format!("choice {name:?}: {e}"))?;
                }
            }
        }
        let mut reached = vec![self.start_at.as_str()];
        let mut index = 0;
        while let Some(&name) = reached.get(index) {
            index += 1;
            if let Some(state) = self.states.get(name) {
                for next in state.successors() {
                    if !reached.contains(&next) {
                        reached.push(next);
                    }
                }
            }
        }
        if let Some((name, _)) = self.states.iter().find(|(n, _)| !reached.contains(n)) {
            return Err(format!("state {name:?} cannot be reached"));
        }
        Ok(())
    }
}

fn check_rule(rule: &ChoiceRule) -> Result<(), String> {
    match rule.condition()? {
        Condition::And(rules) => rules.iter().try_for_each(|r| {
            if r.next.is_some() {
                return Err("a nested rule must not have Next".to_owned());
            }
            check_rule(r)
        }),
        Condition::Not(inner) => {
            if inner.next.is_some() {
                return Err("a nested rule must not have Next".to_owned());
            }
            check_rule(inner)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused_at_load() {
        let json = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"InputPath":"$.x"}}}"#;
        let error = serde_json::from_str::<StateMachine>(json).unwrap_err();
        assert!(error.to_string().contains("InputPath"), "{error}");
        let json = r#"{"StartAt":"A","States":{"A":{"Type":"Map","End":true}}}"#;
        assert!(serde_json::from_str::<StateMachine>(json).is_err());
    }

    #[test]
    fn states_keep_their_order_and_round_trip() {
        let mut states = States::new();
        states.add(
            "Z",
            State::Pass(Pass {
                next: Some("A".into()),
                ..Pass::default()
            }),
        );
        states.add("A", State::Succeed(Succeed::default()));
        let machine = StateMachine {
            comment: None,
            start_at: "Z".into(),
            timeout_seconds: Some(60),
            states,
        };
        machine.validate().unwrap();
        let json = serde_json::to_string(&machine).unwrap();
        assert_eq!(
            json,
            r#"{"StartAt":"Z","TimeoutSeconds":60,"States":{"Z":{"Type":"Pass","Next":"A"},"A":{"Type":"Succeed"}}}"#
        );
        assert_eq!(
            serde_json::from_str::<StateMachine>(&json).unwrap(),
            machine
        );
    }

    #[test]
    fn validation_finds_dangling_and_unreachable_states() {
        let load = |json: &str| {
            serde_json::from_str::<StateMachine>(json)
                .unwrap()
                .validate()
        };
        let dangling = load(r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}"#);
        assert!(dangling.unwrap_err().contains("not a state"));
        let unreachable =
            load(r#"{"StartAt":"A","States":{"A":{"Type":"Succeed"},"B":{"Type":"Succeed"}}}"#);
        assert!(unreachable.unwrap_err().contains("cannot be reached"));
        let both = load(r#"{"StartAt":"A","States":{"A":{"Type":"Pass"}}}"#);
        assert!(both.unwrap_err().contains("exactly one of Next and End"));
        let two = load(
            r#"{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.a","IsPresent":true,"IsNumeric":true,"Next":"B"}]},"B":{"Type":"Succeed"}}}"#,
        );
        assert!(two.unwrap_err().contains("more than one comparison"));
        let duplicate = serde_json::from_str::<StateMachine>(
            r#"{"StartAt":"A","States":{"A":{"Type":"Succeed"},"A":{"Type":"Succeed"}}}"#,
        );
        assert!(duplicate.unwrap_err().to_string().contains("twice"));
    }
}
