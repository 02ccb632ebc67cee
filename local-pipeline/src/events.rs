//! S3's `Object Created` events as EventBridge delivers them, made from the local S3's
//! notifications, and the rule that decides which of them start an execution.
//!
//! The rule is the generated template's own `EventPattern`, with its `Ref`s resolved the way
//! CloudFormation resolves them (the bucket's name, the input prefix parameter), matched with
//! EventBridge's semantics for the operators it uses. An operator this matcher does not know is
//! an error when the rule is loaded, never a silent mismatch.

use std::time::SystemTime;

use local_s3::ObjectCreated;
use serde_json::{Map, Value, json};
use shared::encode_event_key;

/// The account id the local pipeline's ARNs and events use (the local Lambda's).
pub const ACCOUNT_ID: &str = local_lambda::LOCAL_ACCOUNT_ID;

/// The EventBridge event S3 sends for `created`, in `region`: key form-URL-encoded,
/// `reason`, `sequencer`, etag, size, version id when there is one.
pub fn object_created_event(created: &ObjectCreated, region: &str, event_id: &str) -> Value {
    let mut object = Map::new();
    object.insert("key".into(), encode_event_key(&created.key).into());
    object.insert("size".into(), created.size.into());
    object.insert("etag".into(), created.etag.clone().into());
    if let Some(version) = &created.version_id {
        object.insert("version-id".into(), version.clone().into());
    }
    object.insert("sequencer".into(), created.sequencer.clone().into());
    json!({
        "version": "0",
        "id": event_id,
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT_ID,
        "time": rfc3339_seconds(created.time),
        "region": region,
        "resources": [format!("arn:aws:s3:::{}", created.bucket)],
        "detail": {
            "version": "0",
            "bucket": { "name": created.bucket },
            "object": Value::Object(object),
            "request-id": request_id(&created.sequencer),
            "requester": ACCOUNT_ID,
            "source-ip-address": "127.0.0.1",
            "reason": created.reason.as_str(),
        }
    })
}

/// A request id like S3's (16 upper-case hex digits), derived from the event's sequencer.
fn request_id(sequencer: &str) -> String {
    let tail = sequencer
        .get(sequencer.len().saturating_sub(16)..)
        .unwrap_or(sequencer);
    format!("{tail:0>16}")
}

/// `2021-11-12T00:00:00Z`: EventBridge's `time`, to the second.
fn rfc3339_seconds(time: SystemTime) -> String {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let moment = time::OffsetDateTime::from_unix_timestamp(i64::try_from(seconds).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    moment.format(&format).unwrap_or_default()
}

/// Why a rule cannot be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the rule's event pattern {0}")]
pub struct PatternError(String);

/// An EventBridge event pattern, checked to use only what [`EventPattern::matches`] knows:
/// nested objects of arrays of exact strings or numbers, and `{"prefix": "..."}`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPattern(Value);

impl EventPattern {
    /// A pattern from its JSON; refuses operators this matcher does not implement.
    pub fn new(pattern: Value) -> Result<EventPattern, PatternError> {
        check(&pattern, "")?;
        Ok(EventPattern(pattern))
    }

    /// The generated template's rule pattern, with `{"Ref": bucket}` and
    /// `{"Ref": input prefix}` resolved as CloudFormation would.
    pub fn from_template(
        template: &Value,
        bucket: &str,
        input_prefix: &str,
    ) -> Result<EventPattern, PatternError> {
        let rule = &template["Resources"][infra::template::id::RULE]["Properties"]["EventPattern"];
        if rule.is_null() {
            return Err(PatternError("is missing from the template".into()));
        }
        let resolved = resolve_refs(rule, &|name| {
            if name == infra::template::id::BUCKET {
                Some(bucket.to_owned())
            } else if name == infra::template::param::INPUT_PREFIX {
                Some(input_prefix.to_owned())
            } else {
                None
            }
        })?;
        EventPattern::new(resolved)
    }

    /// Whether `event` matches, as EventBridge decides: every field of the pattern is in the
    /// event and one of its values matches (for an array in the event, any element).
    pub fn matches(&self, event: &Value) -> bool {
        matches_object(&self.0, event)
    }
}

fn resolve_refs(
    value: &Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, PatternError> {
    Ok(match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("Ref") => {
            let name = map["Ref"].as_str().unwrap_or_default();
            Value::String(lookup(name).ok_or_else(|| {
                PatternError(format!(
                    "refers to {name}, which the local pipeline cannot resolve"
                ))
            })?)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_refs(v, lookup)?)))
                .collect::<Result<_, PatternError>>()?,
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve_refs(v, lookup))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

fn check(pattern: &Value, at: &str) -> Result<(), PatternError> {
    let Value::Object(fields) = pattern else {
        return Err(PatternError(format!("has a non-object at {at:?}")));
    };
    for (name, value) in fields {
        let here = format!("{at}/{name}");
        match value {
            Value::Object(_) => check(value, &here)?,
            Value::Array(options) => {
                for option in options {
                    match option {
                        Value::String(_) | Value::Number(_) => {}
                        Value::Object(operator) => match operator.iter().next() {
                            Some((op, Value::String(_)))
                                if op == "prefix" && operator.len() == 1 => {}
                            _ => {
                                return Err(PatternError(format!(
                                    "uses {option} at {here}, an operator the local pipeline does not implement"
                                )));
                            }
                        },
                        other => {
                            return Err(PatternError(format!(
                                "has {other} at {here}, which the local pipeline does not implement"
                            )));
                        }
                    }
                }
            }
            other => {
                return Err(PatternError(format!(
                    "has {other} at {here}: a pattern's leaves are arrays"
                )));
            }
        }
    }
    Ok(())
}

fn matches_object(pattern: &Value, event: &Value) -> bool {
    let (Value::Object(fields), Value::Object(values)) = (pattern, event) else {
        return false;
    };
    fields.iter().all(|(name, wanted)| {
        let Some(actual) = values.get(name) else {
            return false;
        };
        match wanted {
            Value::Object(_) => matches_object(wanted, actual),
            Value::Array(options) => {
                let candidates: Vec<&Value> = match actual {
                    Value::Array(items) => items.iter().collect(),
                    single => vec![single],
                };
                candidates.iter().any(|candidate| {
                    options
                        .iter()
                        .any(|option| matches_value(option, candidate))
                })
            }
            _ => false,
        }
    })
}

fn matches_value(option: &Value, candidate: &Value) -> bool {
    match (option, candidate) {
        (Value::Object(operator), Value::String(text)) => operator
            .get("prefix")
            .and_then(Value::as_str)
            .is_some_and(|prefix| text.starts_with(prefix)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(bucket: &str, key: &str) -> Value {
        let created = ObjectCreated {
            bucket: bucket.into(),
            key: key.into(),
            size: 12,
            etag: "abc".into(),
            version_id: None,
            sequencer: "0000000000000000AB".into(),
            reason: local_s3::CreationReason::PutObject,
            time: SystemTime::UNIX_EPOCH + std::time::Duration::from_hours(454_632),
        };
        object_created_event(&created, "eu-west-1", "id-1")
    }

    fn generated_rule() -> EventPattern {
        let template = serde_json::to_value(infra::template::template(
            &infra::template::Settings::default(),
        ))
        .unwrap();
        EventPattern::from_template(&template, "uploads", "incoming/").unwrap()
    }

    #[test]
    fn the_event_has_the_shape_aws_sends() {
        let fixture: Value = serde_json::from_str(include_str!(
            "../../lambda-processor/tests/fixtures/object-created.json"
        ))
        .unwrap();
        let ours = event("uploads", "incoming/a b+c.csv");
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&ours), keys(&fixture));
        assert_eq!(keys(&ours["detail"]), keys(&fixture["detail"]));
        let mut fixture_object = keys(&fixture["detail"]["object"]);
        fixture_object.retain(|k| k != "version-id"); // local S3 does not version
        assert_eq!(keys(&ours["detail"]["object"]), fixture_object);
        assert_eq!(ours["detail"]["object"]["key"], "incoming/a+b%2Bc.csv");
        assert_eq!(ours["time"], "2021-11-12T00:00:00Z");
        assert_eq!(ours["detail"]["reason"], "PutObject");
        let job: shared::Job = serde_json::from_value(json!({
            "bucket": ours["detail"]["bucket"]["name"],
            "object": ours["detail"]["object"],
        }))
        .unwrap();
        assert_eq!(job.key().unwrap(), "incoming/a b+c.csv");
    }

    #[test]
    fn the_generated_rule_matches_inputs_of_its_bucket_only() {
        let rule = generated_rule();
        assert!(rule.matches(&event("uploads", "incoming/data.csv")));
        assert!(rule.matches(&event("uploads", "incoming/deep/path/ü.csv")));
        assert!(!rule.matches(&event("uploads", "processed/data.csv.report.json")));
        assert!(!rule.matches(&event("other", "incoming/data.csv")));
        assert!(!rule.matches(&event("uploads", "incomingx/data.csv")));
        let mut wrong_type = event("uploads", "incoming/data.csv");
        wrong_type["detail-type"] = "Object Deleted".into();
        assert!(!rule.matches(&wrong_type));
    }

    #[test]
    fn unknown_operators_are_refused_at_load() {
        for pattern in [
            json!({ "detail": { "size": [{ "numeric": [">", 0] }] } }),
            json!({ "source": [{ "anything-but": "x" }] }),
            json!({ "source": "aws.s3" }),
        ] {
            assert!(EventPattern::new(pattern).is_err());
        }
        let template = json!({ "Resources": { "ObjectCreatedRule": { "Properties": {
            "EventPattern": { "detail": { "bucket": { "name": [{ "Ref": "Elsewhere" }] } } }
        } } } });
        assert!(EventPattern::from_template(&template, "b", "incoming/").is_err());
    }
}
