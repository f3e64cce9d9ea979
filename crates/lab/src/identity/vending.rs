//! The credential-vending API's pure core: render the session policy template over the
//! caller's reachable things, then the same AssumeRole checks STS applies.
//!
//! Template language (JSON text, see docs/lab-identity.md): `${username}`, `${region}` and
//! `${account}` are substituted everywhere; an array element string containing `${thing}` is
//! repeated once per thing the caller owns or was shared (zero things: the element goes, and
//! a statement left without any `Resource` goes too). IAM policy variables (`${iot:ClientId}`,
//! `${cognito-identity.amazonaws.com:sub}`) are namespaced with `:` and left alone.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("vending session_policy_template is not valid JSON: {0}")]
    Json(String),
}

pub struct TemplateVars<'a> {
    pub username: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub things: &'a [String],
}

fn subst(s: &str, v: &TemplateVars<'_>) -> String {
    s.replace("${username}", v.username)
        .replace("${region}", v.region)
        .replace("${account}", v.account)
}

fn expand(value: &Value, v: &TemplateVars<'_>) -> Value {
    match value {
        Value::String(s) => Value::String(subst(s, v)),
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::String(s) if s.contains("${thing}") => {
                        for t in v.things {
                            out.push(Value::String(subst(&s.replace("${thing}", t), v)));
                        }
                    }
                    other => out.push(expand(other, v)),
                }
            }
            Value::Array(out)
        }
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), expand(x, v))).collect())
        }
        other => other.clone(),
    }
}

fn has_resource(stmt: &Value) -> bool {
    ["Resource", "NotResource"]
        .iter()
        .any(|k| match stmt.get(k) {
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
            None => false,
        })
}

/// Renders the session policy (minified JSON) for one caller.
pub fn render(template: &str, vars: &TemplateVars<'_>) -> Result<String, TemplateError> {
    let t: Value =
        serde_json::from_str(template).map_err(|e| TemplateError::Json(e.to_string()))?;
    let mut out = expand(&t, vars);
    if let Some(Value::Array(stmts)) = out.get_mut("Statement") {
        stmts.retain(has_resource);
    }
    Ok(out.to_string())
}

/// The role session name for a user: STS allows `[\w+=,.@-]{2,64}`.
pub fn session_name(username: &str) -> String {
    let mut s: String = username
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    while s.len() < 2 {
        s.push('-');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iot:Connect","Resource":["arn:aws:iot:${region}:${account}:client/${username}","arn:aws:iot:${region}:${account}:client/${username}-*"]},
        {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["arn:aws:iot:${region}:${account}:topic/devices/${thing}/*"]},
        {"Effect":"Allow","Action":"iot:Subscribe","Resource":["arn:aws:iot:${region}:${account}:topicfilter/devices/${thing}/*","arn:aws:iot:${region}:${account}:topicfilter/$aws/things/${thing}/shadow/*"]},
        {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:${region}:${account}:client/${iot:ClientId}"}
    ]}"#;

    fn vars<'a>(things: &'a [String]) -> TemplateVars<'a> {
        TemplateVars {
            username: "bob",
            region: "us-east-1",
            account: "123456789012",
            things,
        }
    }

    #[test]
    fn expands_things_and_keeps_policy_variables() {
        let things = vec!["alice-lamp".to_string(), "bob-plug".to_string()];
        let out: Value = serde_json::from_str(&render(T, &vars(&things)).unwrap()).unwrap();
        let s = &out["Statement"];
        assert_eq!(
            s[0]["Resource"][1],
            "arn:aws:iot:us-east-1:123456789012:client/bob-*"
        );
        assert_eq!(
            s[1]["Resource"],
            serde_json::json!([
                "arn:aws:iot:us-east-1:123456789012:topic/devices/alice-lamp/*",
                "arn:aws:iot:us-east-1:123456789012:topic/devices/bob-plug/*"
            ])
        );
        assert_eq!(s[2]["Resource"].as_array().unwrap().len(), 4);
        assert_eq!(
            s[3]["Resource"],
            "arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"
        );
    }

    #[test]
    fn no_things_drops_thing_statements() {
        let out: Value = serde_json::from_str(&render(T, &vars(&[])).unwrap()).unwrap();
        let s = out["Statement"].as_array().unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0]["Action"], "iot:Connect");
    }

    #[test]
    fn many_things_grow_past_the_sts_limit() {
        let things: Vec<String> = (0..40).map(|i| format!("device-number-{i}")).collect();
        let p = render(T, &vars(&things)).unwrap();
        assert!(p.len() > crate::identity::sts::MAX_POLICY_PLAINTEXT);
    }

    #[test]
    fn bad_template_and_odd_usernames() {
        assert!(render("{", &vars(&[])).is_err());
        assert_eq!(session_name("a"), "a-");
        assert_eq!(session_name("alice smith/x"), "alice-smith-x");
        assert_eq!(session_name(&"x".repeat(80)).len(), 64);
    }
}
