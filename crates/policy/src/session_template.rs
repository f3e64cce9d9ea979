//! Credential-vending session-policy templates: the policy document a vending API sends with
//! AssumeRole for one user, rendered from a template. One language for the lab's vending API
//! (what it sends), `simulate` and the audit (what they predict and size):
//!
//! - `${username}`, `${region}`, `${account}` are substituted everywhere; `${session_name}` and
//!   `${role_arn}` too where the renderer knows them (else they stay as written);
//! - an array element containing `${thing}` (or its alias `${device}`) is repeated once per
//!   thing; a lone such string (not in an array) becomes the array of its repetitions;
//! - every other `${...}` is an IAM policy variable AWS evaluates (`${iot:ClientId}`,
//!   `${cognito-identity.amazonaws.com:sub}`), left as written;
//! - [`render`] then drops a statement left without any `Resource`/`NotResource` (a user with
//!   no things), as the vending API does.

use serde_json::Value;

/// What a template's placeholders become.
#[derive(Debug, Clone, Copy, Default)]
pub struct TemplateVars<'a> {
    pub username: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// What a `${thing}` / `${device}` element repeats over.
    pub things: &'a [String],
    /// `${session_name}`; `None` leaves it as written.
    pub session_name: Option<&'a str>,
    /// `${role_arn}`; `None` leaves it as written.
    pub role_arn: Option<&'a str>,
}

fn scalars(s: &str, v: &TemplateVars<'_>) -> String {
    let mut out = s
        .replace("${username}", v.username)
        .replace("${region}", v.region)
        .replace("${account}", v.account);
    if let Some(name) = v.session_name {
        out = out.replace("${session_name}", name);
    }
    if let Some(arn) = v.role_arn {
        out = out.replace("${role_arn}", arn);
    }
    out
}

fn per_thing(s: &str) -> bool {
    s.contains("${thing}") || s.contains("${device}")
}

/// The template with every placeholder expanded (no statement dropped).
pub fn expand(value: &Value, v: &TemplateVars<'_>) -> Value {
    match value {
        Value::String(s) => Value::String(scalars(s, v)),
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(s) if per_thing(s) => {
                        for t in v.things {
                            let one = s.replace("${thing}", t).replace("${device}", t);
                            out.push(Value::String(scalars(&one, v)));
                        }
                    }
                    _ => out.push(expand(item, v)),
                }
            }
            Value::Array(out)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, x)| {
                    let expanded = match x.as_str() {
                        Some(s) if per_thing(s) => expand(&Value::Array(vec![x.clone()]), v),
                        _ => expand(x, v),
                    };
                    (k.clone(), expanded)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn has_resource(stmt: &Value) -> bool {
    ["Resource", "NotResource"].iter().any(|k| {
        stmt.get(k)
            .is_some_and(|r| r.as_array().is_none_or(|a| !a.is_empty()))
    })
}

/// The session policy (minified JSON) the vending API sends: `template` expanded, then the
/// statements left without resources dropped.
pub fn render(template: &str, vars: &TemplateVars<'_>) -> Result<String, serde_json::Error> {
    let t: Value = serde_json::from_str(template)?;
    let mut out = expand(&t, vars);
    if let Some(Value::Array(stmts)) = out.get_mut("Statement") {
        stmts.retain(has_resource);
    }
    serde_json::to_string(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_alias_lone_strings_and_known_session_names_expand() {
        let things = vec!["a".to_string(), "b".to_string()];
        let vars = TemplateVars {
            username: "bob",
            region: "eu-west-1",
            account: "123456789012",
            things: &things,
            session_name: Some("s1"),
            role_arn: None,
        };
        let t = r#"{"Statement":[{"Effect":"Allow","Action":"iot:Publish",
            "Resource":"arn:aws:iot:${region}:${account}:topic/${device}/${session_name}/${role_arn}"}]}"#;
        let out: Value = serde_json::from_str(&render(t, &vars).unwrap()).unwrap();
        assert_eq!(
            out["Statement"][0]["Resource"],
            serde_json::json!([
                "arn:aws:iot:eu-west-1:123456789012:topic/a/s1/${role_arn}",
                "arn:aws:iot:eu-west-1:123456789012:topic/b/s1/${role_arn}"
            ])
        );
        let none = TemplateVars {
            things: &[],
            ..vars
        };
        let out: Value = serde_json::from_str(&render(t, &none).unwrap()).unwrap();
        assert_eq!(out["Statement"], serde_json::json!([]));
    }
}
