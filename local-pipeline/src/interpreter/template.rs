//! Payload templates (`Parameters`, `ResultSelector`): JSON whose keys ending in `.$` take
//! the value at a path, or an intrinsic function's result, under the key without `.$`.
//! Nested objects and arrays are templates too. A `$$.…` path names a field of the context
//! object (`$$.Execution.Id`, `$$.State.EnteredTime`, …), which only a Task's `Parameters`
//! are given here ([`PayloadTemplate::evaluate_in`]); elsewhere it is a run-time error.

use serde_json::{Map, Value};

use super::intrinsics::Intrinsic;
use super::paths::ReferencePath;

/// A compiled payload template.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadTemplate {
    /// A value copied as it is.
    Literal(Value),
    /// An object whose members are templates, in order.
    Object(Vec<(String, PayloadTemplate)>),
    /// An array whose items are templates.
    Array(Vec<PayloadTemplate>),
    /// The value at a path of the input.
    Path(ReferencePath),
    /// The value at a path of the context object (`$$` then the path).
    Context(ReferencePath),
    /// An intrinsic call's result.
    Intrinsic(Intrinsic),
}

impl PayloadTemplate {
    /// Compiles `template`, which must be an object (as the States Language requires).
    pub fn compile(template: &Value) -> Result<PayloadTemplate, String> {
        if !template.is_object() {
            return Err("a payload template must be a JSON object".to_owned());
        }
        compile_value(template)
    }

    /// Whether a field reads the context object (`$$`).
    pub fn reads_context(&self) -> bool {
        match self {
            PayloadTemplate::Context(_) => true,
            PayloadTemplate::Object(members) => members.iter().any(|(_, t)| t.reads_context()),
            PayloadTemplate::Array(items) => items.iter().any(PayloadTemplate::reads_context),
            PayloadTemplate::Literal(_)
            | PayloadTemplate::Path(_)
            | PayloadTemplate::Intrinsic(_) => false,
        }
    }

    /// The payload for `input`; the error is the cause of a `States.Runtime` failure.
    pub fn evaluate(&self, input: &Value) -> Result<Value, String> {
        self.evaluate_in(input, None)
    }

    /// The payload for `input`, `$$` paths read from `context` (the context object).
    pub fn evaluate_in(&self, input: &Value, context: Option<&Value>) -> Result<Value, String> {
        match self {
            PayloadTemplate::Literal(value) => Ok(value.clone()),
            PayloadTemplate::Object(members) => {
                let mut out = Map::new();
                for (key, template) in members {
                    let value = template.evaluate_in(input, context).map_err(|cause| {
                        if matches!(
                            template,
                            PayloadTemplate::Path(_) | PayloadTemplate::Context(_)
                        ) {
                            format!("{cause} (field {key:?}.$)")
                        } else {
                            cause
                        }
                    })?;
                    out.insert(key.clone(), value);
                }
                Ok(Value::Object(out))
            }
            PayloadTemplate::Array(items) => items
                .iter()
                .map(|item| item.evaluate_in(input, context))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            PayloadTemplate::Path(path) => path.get(input).cloned().ok_or_else(|| {
                format!(
                    "The JSONPath {:?} could not be found in the input {}",
                    path.as_str(),
                    input
                )
            }),
            PayloadTemplate::Context(path) => context
                .and_then(|context| path.get(context))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "The JSONPath \"${}\" could not be found in the context object",
                        path.as_str()
                    )
                }),
            PayloadTemplate::Intrinsic(call) => call.evaluate(input),
        }
    }
}

fn compile_value(value: &Value) -> Result<PayloadTemplate, String> {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(String, PayloadTemplate)> = Vec::new();
            for (key, value) in map {
                let (name, template) = if let Some(name) = key.strip_suffix(".$") {
                    let Value::String(expression) = value else {
                        return Err(format!(
                            "the field {key:?} must be a string: a path or an intrinsic function"
                        ));
                    };
                    let template = if expression.starts_with("States.") {
                        PayloadTemplate::Intrinsic(
                            Intrinsic::parse(expression)
                                .map_err(|e| format!("field {key:?}: {e}"))?,
                        )
                    } else if let Some(path) = expression.strip_prefix("$$") {
                        PayloadTemplate::Context(
                            ReferencePath::parse(&format!("${path}"))
                                .map_err(|e| format!("field {key:?} (context object): {e}"))?,
                        )
                    } else if expression.starts_with('$') {
                        PayloadTemplate::Path(
                            ReferencePath::parse(expression)
                                .map_err(|e| format!("field {key:?}: {e}"))?,
                        )
                    } else {
                        return Err(format!(
                            "the field {key:?} must be a path or an intrinsic function, not {expression:?}"
                        ));
                    };
                    (name.to_owned(), template)
                } else {
                    (key.clone(), compile_value(value)?)
                };
                if members.iter().any(|(n, _)| *n == name) {
                    return Err(format!(
                        "the field {name:?} is given twice (with and without .$)"
                    ));
                }
                members.push((name, template));
            }
            Ok(PayloadTemplate::Object(members))
        }
        Value::Array(items) => items
            .iter()
            .map(compile_value)
            .collect::<Result<Vec<_>, _>>()
            .map(PayloadTemplate::Array),
        other => Ok(PayloadTemplate::Literal(other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fills_paths_and_intrinsics_at_every_depth() {
        let template = PayloadTemplate::compile(&json!({
            "fixed": {"n": 1},
            "job": {"bucket.$": "$.b", "list": [{"x.$": "$.list[1]"}, "plain", 2]},
            "text.$": "States.JsonToString($.list)",
            "all.$": "$",
        }))
        .unwrap();
        let input = json!({"b": "bk", "list": [1, {"y": 2}]});
        assert_eq!(
            template.evaluate(&input).unwrap(),
            json!({
                "fixed": {"n": 1},
                "job": {"bucket": "bk", "list": [{"x": {"y": 2}}, "plain", 2]},
                "text": "[1,{\"y\":2}]",
                "all": input,
            })
        );
    }

    #[test]
    fn a_missing_path_is_an_error() {
        let template = PayloadTemplate::compile(&json!({"a": {"b.$": "$.nope"}})).unwrap();
        let error = template.evaluate(&json!({"x": 1})).unwrap_err();
        assert!(
            error.contains("$.nope") && error.contains("\"b\".$"),
            "{error}"
        );
    }

    #[test]
    fn context_paths_read_the_context_object() {
        let template = PayloadTemplate::compile(&json!({
            "id.$": "$$.Execution.Id",
            "at": {"entered.$": "$$.State.EnteredTime"},
            "key.$": "$.k",
        }))
        .unwrap();
        let context = json!({"Execution": {"Id": "arn:x"}, "State": {"EnteredTime": "t"}});
        assert_eq!(
            template
                .evaluate_in(&json!({"k": "v"}), Some(&context))
                .unwrap(),
            json!({"id": "arn:x", "at": {"entered": "t"}, "key": "v"})
        );
        let error = template.evaluate(&json!({"k": "v"})).unwrap_err();
        assert!(error.contains("context object"), "{error}");
    }

    #[test]
    fn refuses_bad_templates() {
        for (template, what) in [
            (json!("text"), "must be a JSON object"),
            (json!({"a.$": 1}), "must be a string"),
            (json!({"a.$": "plain"}), "must be a path or an intrinsic"),
            (json!({"a.$": "$.x[?(@.y)]"}), "filter"),
            (json!({"a.$": "$$.Execution[*]"}), "context object"),
            (json!({"a.$": "States.UUID()"}), "not supported"),
            (json!({"a": 1, "a.$": "$.x"}), "given twice"),
        ] {
            let error = PayloadTemplate::compile(&template).unwrap_err();
            assert!(error.contains(what), "{template}: {error}");
        }
    }
}
