//! A small typed model of a CloudFormation template: its sections, resources, parameters and
//! outputs, intrinsic functions, and IAM policy documents.
//!
//! Resource properties are JSON values built with `serde_json::json!`; what the checks need to
//! reason about (IAM statements, names, conditions) is typed. Maps are sorted, so the same
//! model always gives the same JSON.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

/// A whole template.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    /// Always `2010-09-09`.
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: &'static str,
    /// What the stack is.
    pub description: String,
    /// Template-level metadata (parameter groups for the console).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, Value>,
    /// Parameters, by logical name.
    pub parameters: BTreeMap<String, Parameter>,
    /// Conditions, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, Value>,
    /// Resources, by logical id.
    pub resources: BTreeMap<String, Resource>,
    /// Outputs, by name.
    pub outputs: BTreeMap<String, Output>,
}

impl Template {
    /// An empty template.
    pub fn new(description: impl Into<String>) -> Template {
        Template {
            format_version: "2010-09-09",
            description: description.into(),
            metadata: BTreeMap::new(),
            parameters: BTreeMap::new(),
            conditions: BTreeMap::new(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// Adds a parameter; panics on a duplicate name (a generator bug).
    pub fn parameter(&mut self, name: &str, parameter: Parameter) {
        assert!(
            self.parameters.insert(name.to_owned(), parameter).is_none(),
            "parameter {name} twice"
        );
    }

    /// Adds a condition.
    pub fn condition(&mut self, name: &str, condition: Value) {
        assert!(
            self.conditions.insert(name.to_owned(), condition).is_none(),
            "condition {name} twice"
        );
    }

    /// Adds a resource.
    pub fn resource(&mut self, logical_id: &str, resource: Resource) {
        assert!(
            self.resources
                .insert(logical_id.to_owned(), resource)
                .is_none(),
            "resource {logical_id} twice"
        );
    }

    /// Adds an output.
    pub fn output(&mut self, name: &str, description: &str, value: Value) {
        let output = Output {
            description: description.to_owned(),
            value,
        };
        assert!(
            self.outputs.insert(name.to_owned(), output).is_none(),
            "output {name} twice"
        );
    }

    /// The template as committed: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a template serialises");
        text.push('\n');
        text
    }
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    /// `String`, `Number`, `CommaDelimitedList`, ...
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// What it sets.
    pub description: String,
    /// Its value when none is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// The only values accepted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<String>,
    /// A regular expression the value must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
    /// The smallest number accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_value: Option<u64>,
    /// The largest number accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_value: Option<u64>,
    /// What the console says when the value is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint_description: Option<String>,
}

impl Parameter {
    /// A string parameter with a default.
    pub fn string(description: &str, default: &str) -> Parameter {
        Parameter {
            kind: "String",
            description: description.to_owned(),
            default: Some(Value::from(default)),
            allowed_values: Vec::new(),
            allowed_pattern: None,
            min_value: None,
            max_value: None,
            constraint_description: None,
        }
    }

    /// A string parameter the stack cannot guess: it must be given.
    pub fn required(description: &str, pattern: &str, rule: &str) -> Parameter {
        Parameter {
            default: None,
            ..Parameter::string(description, "")
        }
        .pattern(pattern, rule)
    }

    /// A number parameter with a default and bounds.
    pub fn number(description: &str, default: u64, min: u64, max: u64) -> Parameter {
        Parameter {
            kind: "Number",
            default: Some(Value::from(default)),
            min_value: Some(min),
            max_value: Some(max),
            ..Parameter::string(description, "")
        }
    }

    /// Only these values.
    #[must_use]
    pub fn allowed(mut self, values: &[&str]) -> Parameter {
        self.allowed_values = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    /// Values matching `pattern`, explained by `description` when refused.
    #[must_use]
    pub fn pattern(mut self, pattern: &str, description: &str) -> Parameter {
        self.allowed_pattern = Some(pattern.to_owned());
        self.constraint_description = Some(description.to_owned());
        self
    }
}

/// A resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    /// Its type, such as `AWS::S3::Bucket`.
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// The condition it is created under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<&'static str>,
    /// Resources it must follow.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<&'static str>,
    /// `Retain` for data that must outlive the stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<&'static str>,
    /// `Retain` with the deletion policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_replace_policy: Option<&'static str>,
    /// Scanner suppressions, each with its reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Its properties.
    pub properties: Value,
}

impl Resource {
    /// A resource of `kind` with `properties`.
    pub fn new(kind: &'static str, properties: Value) -> Resource {
        Resource {
            kind,
            condition: None,
            depends_on: Vec::new(),
            deletion_policy: None,
            update_replace_policy: None,
            metadata: None,
            properties,
        }
    }

    /// Created only when `condition` holds.
    #[must_use]
    pub fn when(mut self, condition: &'static str) -> Resource {
        self.condition = Some(condition);
        self
    }

    /// Created after `logical_id`.
    #[must_use]
    pub fn after(mut self, logical_id: &'static str) -> Resource {
        self.depends_on.push(logical_id);
        self
    }

    /// Kept when the stack is deleted or the resource replaced.
    #[must_use]
    pub fn retained(mut self) -> Resource {
        self.deletion_policy = Some("Retain");
        self.update_replace_policy = Some("Retain");
        self
    }

    /// Suppresses scanner checks, each `(tool, id, reason)`: tool is `checkov` or `cfn-lint`.
    #[must_use]
    pub fn suppress(mut self, suppressions: &[Suppression]) -> Resource {
        let mut checkov = Vec::new();
        let mut cfn_lint = Vec::new();
        for s in suppressions {
            match s.tool {
                Scanner::Checkov => checkov.push(json!({ "id": s.id, "comment": s.reason })),
                Scanner::CfnLint => cfn_lint.push(Value::from(s.id)),
            }
        }
        let mut metadata = serde_json::Map::new();
        if !checkov.is_empty() {
            metadata.insert("checkov".into(), json!({ "skip": checkov }));
        }
        if !cfn_lint.is_empty() {
            metadata.insert(
                "cfn-lint".into(),
                json!({ "config": { "ignore_checks": cfn_lint } }),
            );
        }
        self.metadata = Some(Value::Object(metadata));
        self
    }
}

/// Which scanner a [`Suppression`] silences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanner {
    /// checkov.
    Checkov,
    /// cfn-lint.
    CfnLint,
}

/// One silenced scanner check and why it does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppression {
    /// The scanner.
    pub tool: Scanner,
    /// The check's id (`CKV_AWS_18`, `W3005`).
    pub id: &'static str,
    /// Why it does not apply here.
    pub reason: &'static str,
}

/// A checkov suppression.
pub const fn checkov(id: &'static str, reason: &'static str) -> Suppression {
    Suppression {
        tool: Scanner::Checkov,
        id,
        reason,
    }
}

/// An output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    /// What it is.
    pub description: String,
    /// Its value.
    pub value: Value,
}

/// `{"Ref": name}`: a parameter's value or a resource's primary id.
pub fn reference(name: &str) -> Value {
    json!({ "Ref": name })
}

/// `{"Fn::GetAtt": [resource, attribute]}`.
pub fn get_att(resource: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [resource, attribute] })
}

/// `{"Fn::Sub": text}`.
pub fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

/// `{"Fn::If": [condition, then, else]}`.
pub fn if_(condition: &str, then: Value, otherwise: Value) -> Value {
    let mut map = serde_json::Map::new();
    map.insert(
        "Fn::If".into(),
        Value::Array(vec![condition.into(), then, otherwise]),
    );
    Value::Object(map)
}

/// `{"Ref": "AWS::NoValue"}`: leaves a property out.
pub fn no_value() -> Value {
    reference("AWS::NoValue")
}

/// An IAM policy document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// Always `2012-10-17`.
    pub version: &'static str,
    /// The statements.
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    /// A document of `statements`.
    pub fn new(statements: Vec<Statement>) -> PolicyDocument {
        PolicyDocument {
            version: "2012-10-17",
            statements,
        }
    }

    /// As a property value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a policy serialises")
    }
}

/// One statement of a [`PolicyDocument`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// What it is for.
    pub sid: &'static str,
    /// `Allow` or `Deny`.
    pub effect: Effect,
    /// Who, in resource policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Value>,
    /// The actions.
    #[serde(rename = "Action")]
    pub actions: Vec<&'static str>,
    /// The resources (ARNs or intrinsic functions that give ARNs); none in trust policies.
    #[serde(rename = "Resource", skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Value>,
    /// Conditions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
}

/// A statement's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Forbids, whatever else grants.
    Deny,
}

impl Statement {
    /// Allows `actions` on `resources`.
    pub fn allow(sid: &'static str, actions: &[&'static str], resources: Vec<Value>) -> Statement {
        Statement {
            sid,
            effect: Effect::Allow,
            principal: None,
            actions: actions.to_vec(),
            resources,
            condition: None,
        }
    }

    /// Denies `actions` on `resources`.
    pub fn deny(sid: &'static str, actions: &[&'static str], resources: Vec<Value>) -> Statement {
        Statement {
            effect: Effect::Deny,
            ..Statement::allow(sid, actions, resources)
        }
    }

    /// For `principal` (resource policies).
    #[must_use]
    pub fn for_principal(mut self, principal: Value) -> Statement {
        self.principal = Some(principal);
        self
    }

    /// Only when `condition` holds.
    #[must_use]
    pub fn when(mut self, condition: Value) -> Statement {
        self.condition = Some(condition);
        self
    }
}
