//! Parsing IAM / AWS IoT policy JSON into compiled statements, with a JSON path in every
//! error.
//!
//! Grammar: IAM "IAM JSON policy element reference"
//! (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html) and
//! "Grammar of the IAM JSON policy language"
//! (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html);
//! AWS IoT policies use the same grammar
//! (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policies.html).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::conditions::{Condition, parse_condition};
use super::matching::{ArnPattern, Pattern, Syntax};
use super::{Policy, PolicyError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    /// `Sid`, or `#index` (0-based, as in the JSON path) when there is none.
    pub(crate) label: String,
    pub(crate) effect: Effect,
    /// `NotAction` when true.
    pub(crate) not_action: bool,
    pub(crate) actions: Vec<Pattern>,
    /// `NotResource` when true.
    pub(crate) not_resource: bool,
    pub(crate) resources: Vec<ArnPattern>,
    pub(crate) conditions: Vec<Condition>,
    /// The elements as written, for static analysis (`Policy::statements`).
    pub(crate) raw: RawStatement,
}

/// A statement's elements as written in the document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RawStatement {
    pub(crate) actions: Vec<String>,
    pub(crate) resources: Vec<String>,
    /// `(operator, key, values)` in document order.
    pub(crate) conditions: Vec<(String, String, Vec<String>)>,
}

pub(crate) fn parse(name: &str, json: &str) -> Result<Policy, PolicyError> {
    let fail = |path: &str, message: String| PolicyError::Invalid {
        policy: name.to_owned(),
        path: path.to_owned(),
        message,
    };
    let doc: Value = serde_json::from_str(json).map_err(|e| {
        fail(
            "$",
            format!(
                "not valid JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    let Value::Object(top) = doc else {
        return Err(fail("$", "a policy document must be a JSON object".into()));
    };
    let mut version = None;
    let mut statement = None;
    for (key, value) in &top {
        match key.as_str() {
            "Version" => match value.as_str() {
                Some(v @ ("2012-10-17" | "2008-10-17")) => version = Some(v.to_owned()),
                _ => {
                    return Err(fail(
                        "$.Version",
                        format!("must be \"2012-10-17\" or \"2008-10-17\", got {value}"),
                    ));
                }
            },
            "Id" => {
                if !value.is_string() {
                    return Err(fail("$.Id", "must be a string".into()));
                }
            }
            "Statement" => statement = Some(value),
            other => return Err(fail(&format!("$.{other}"), "unknown policy element".into())),
        }
    }
    // IAM "Version": without 2012-10-17, `${...}` is not a variable but literal text.
    let variables = version.as_deref() == Some("2012-10-17");
    let Some(statement) = statement else {
        return Err(fail("$", "missing `Statement`".into()));
    };
    let mut statements = Vec::new();
    let mut sids = BTreeSet::new();
    match statement {
        Value::Object(obj) => {
            statements.push(parse_statement(obj, "$.Statement", 0, variables, &fail)?);
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("$.Statement[{i}]");
                let Value::Object(obj) = item else {
                    return Err(fail(&path, "a statement must be a JSON object".into()));
                };
                statements.push(parse_statement(obj, &path, i, variables, &fail)?);
            }
        }
        _ => {
            return Err(fail(
                "$.Statement",
                "must be a statement object or an array of them".into(),
            ));
        }
    }
    for (i, s) in statements.iter().enumerate() {
        if !s.label.starts_with('#') && !sids.insert(s.label.clone()) {
            return Err(fail(
                &format!("$.Statement[{i}].Sid"),
                format!("duplicate Sid `{}`", s.label),
            ));
        }
    }
    Ok(Policy {
        name: name.to_owned(),
        version,
        statements,
    })
}

fn parse_statement(
    obj: &Map<String, Value>,
    path: &str,
    index: usize,
    variables: bool,
    fail: &impl Fn(&str, String) -> PolicyError,
) -> Result<Statement, PolicyError> {
    let mut sid = None;
    let mut effect = None;
    let mut action: Option<(bool, Vec<String>)> = None;
    let mut resource: Option<(bool, Vec<String>)> = None;
    let mut conditions = Vec::new();
    let mut raw_conditions = Vec::new();
    for (key, value) in obj {
        let kpath = format!("{path}.{key}");
        match key.as_str() {
            "Sid" => match value.as_str() {
                Some(s) => sid = Some(s.to_owned()),
                None => return Err(fail(&kpath, "must be a string".into())),
            },
            "Effect" => match value.as_str() {
                Some("Allow") => effect = Some(Effect::Allow),
                Some("Deny") => effect = Some(Effect::Deny),
                _ => {
                    return Err(fail(
                        &kpath,
                        format!("must be \"Allow\" or \"Deny\", got {value}"),
                    ));
                }
            },
            "Action" | "NotAction" => {
                action = Some(ACTION.read(key, value, &kpath, &action, fail)?)
            }
            "Resource" | "NotResource" => {
                resource = Some(RESOURCE.read(key, value, &kpath, &resource, fail)?)
            }
            "Condition" => {
                (conditions, raw_conditions) = parse_conditions(value, &kpath, variables, fail)?;
            }
            "Principal" | "NotPrincipal" => {
                return Err(fail(
                    &kpath,
                    "identity, session and IoT policies cannot name a principal".into(),
                ));
            }
            _ => return Err(fail(&kpath, "unknown statement element".into())),
        }
    }
    let Some(effect) = effect else {
        return Err(fail(path, "missing `Effect`".into()));
    };
    let Some((not_action, actions)) = action else {
        return Err(fail(path, "missing `Action` or `NotAction`".into()));
    };
    let Some((not_resource, resources)) = resource else {
        return Err(fail(path, "missing `Resource` or `NotResource`".into()));
    };
    let action_syntax = Syntax {
        wildcards: true,
        variables: false,
        case_insensitive: true,
    };
    let resource_syntax = Syntax {
        wildcards: true,
        variables,
        case_insensitive: false,
    };
    let raw = RawStatement {
        actions: actions.clone(),
        resources: resources.clone(),
        conditions: raw_conditions,
    };
    Ok(Statement {
        label: sid.unwrap_or_else(|| format!("#{index}")),
        effect,
        not_action,
        actions: actions
            .iter()
            .map(|a| Pattern::compile(a, action_syntax))
            .collect(),
        not_resource,
        resources: resources
            .iter()
            .map(|r| ArnPattern::compile(r, resource_syntax))
            .collect(),
        conditions,
        raw,
    })
}

/// A statement element that lists strings and has a negated form.
struct ListElement {
    name: &'static str,
    not_name: &'static str,
    /// What each string is called in errors, and what it must look like.
    item: &'static str,
    shape: &'static str,
    valid: fn(&str) -> bool,
}

const ACTION: ListElement = ListElement {
    name: "Action",
    not_name: "NotAction",
    item: "action",
    shape: "`service:action` or `*`",
    valid: |a| a == "*" || a.contains(':'),
};

const RESOURCE: ListElement = ListElement {
    name: "Resource",
    not_name: "NotResource",
    item: "resource",
    shape: "an ARN (`arn:...`) or `*`",
    valid: |r| r == "*" || r.starts_with("arn:"),
};

impl ListElement {
    /// `(negated, list)` of the element written as `key`; `seen` is what the statement
    /// already had of this element or its negation.
    fn read(
        &self,
        key: &str,
        value: &Value,
        kpath: &str,
        seen: &Option<(bool, Vec<String>)>,
        fail: &impl Fn(&str, String) -> PolicyError,
    ) -> Result<(bool, Vec<String>), PolicyError> {
        if seen.is_some() {
            return Err(fail(
                kpath,
                format!(
                    "a statement has either {} or {}, not both",
                    self.name, self.not_name
                ),
            ));
        }
        let list = string_list(value, kpath, fail)?;
        if let Some((i, bad)) = list.iter().enumerate().find(|(_, s)| !(self.valid)(s)) {
            return Err(fail(
                &format!("{kpath}[{i}]"),
                format!("{} `{bad}` must be {}", self.item, self.shape),
            ));
        }
        Ok((key == self.not_name, list))
    }
}

fn string_list(
    value: &Value,
    path: &str,
    fail: &impl Fn(&str, String) -> PolicyError,
) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => Err(fail(path, "must not be empty".into())),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| fail(&format!("{path}[{i}]"), "must be a string".into()))
            })
            .collect(),
        _ => Err(fail(path, "must be a string or an array of strings".into())),
    }
}

type RawCondition = (String, String, Vec<String>);

fn parse_conditions(
    value: &Value,
    path: &str,
    variables: bool,
    fail: &impl Fn(&str, String) -> PolicyError,
) -> Result<(Vec<Condition>, Vec<RawCondition>), PolicyError> {
    let Value::Object(ops) = value else {
        return Err(fail(
            path,
            "must be an object of condition operators".into(),
        ));
    };
    let mut out = Vec::new();
    let mut raw_out = Vec::new();
    for (op, block) in ops {
        let Value::Object(keys) = block else {
            return Err(fail(
                &format!("{path}.{op}"),
                "must be an object of condition keys".into(),
            ));
        };
        for (key, vals) in keys {
            let kpath = format!("{path}.{op}.{key}");
            let raw = condition_values(vals, &kpath, fail)?;
            let cond = parse_condition(op, key, &raw, variables)
                .map_err(|e| fail(&format!("{path}{}", e.path), e.message))?;
            out.push(cond);
            raw_out.push((op.clone(), key.clone(), raw));
        }
    }
    Ok((out, raw_out))
}

/// Condition values may be strings, numbers or booleans, alone or in an array. The array may
/// be empty: the AWS IoT guide's own ConnectAttributes example writes
/// `"ForAllValues:StringEquals": {"iot:ConnectAttributes": []}` (no attribute allowed), and
/// the operators give an empty value set its natural meaning (`conditions.rs`).
fn condition_values(
    value: &Value,
    path: &str,
    fail: &impl Fn(&str, String) -> PolicyError,
) -> Result<Vec<String>, PolicyError> {
    let scalar = |v: &Value, p: &str| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(fail(
            p,
            "condition values must be strings, numbers or booleans".into(),
        )),
    };
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| scalar(v, &format!("{path}[{i}]")))
            .collect(),
        v => Ok(vec![scalar(v, path)?]),
    }
}
