//! STS session-policy templates: a policy document with placeholders, sent with AssumeRole for
//! a user who owns N devices. STS refuses a session policy over 2,048 plaintext characters, so
//! a template that grows with the device count breaks AssumeRole at some N.
//!
//! Expansion rules (the canary's `session_policy` placeholders and the lab's vending ones):
//! - an array element containing `${device}` or `${thing}` is repeated once per device, with
//!   device names `device-…` padded to `device_name_len` characters (36 by default, the length
//!   of a UUID, a common thing-name scheme);
//! - `${session_name}` becomes 64 characters (STS's maximum RoleSessionName), `${role_arn}` a
//!   role ARN with a 64-character role name (IAM's maximum), `${username}` 128 characters
//!   (Cognito's maximum username), `${region}` and `${account}` the audit's region and account;
//! - every other `${...}` is an IAM policy variable that AWS evaluates, and stays as written.
//!
//! The size is measured on the minified expansion: the smallest text that could be sent.

use serde_json::Value;

use super::{LoadOptions, PolicyKind, PolicySource, SourceSet};
use crate::InputError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    pub template: String,
    pub devices: usize,
    pub device_name_len: usize,
}

pub const DEFAULT_DEVICE_NAME_LEN: usize = 36;

fn device_name(i: usize, len: usize) -> String {
    let base = format!("device-{i}");
    if base.len() >= len {
        base
    } else {
        format!("device-{}{i}", "0".repeat(len - base.len()))
    }
}

struct Ctx<'a> {
    /// The things `${device}` / `${thing}` elements repeat over.
    names: Vec<String>,
    username: String,
    session_name: String,
    role_arn: String,
    account: &'a str,
    region: &'a str,
}

fn scalars(s: &str, c: &Ctx<'_>) -> String {
    s.replace("${session_name}", &c.session_name)
        .replace("${role_arn}", &c.role_arn)
        .replace("${username}", &c.username)
        .replace("${region}", c.region)
        .replace("${account}", c.account)
}

fn expand_value(v: &Value, c: &Ctx<'_>) -> Value {
    match v {
        Value::String(s) => Value::String(scalars(s, c)),
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(s) if s.contains("${device}") || s.contains("${thing}") => {
                        for name in &c.names {
                            out.push(Value::String(scalars(
                                &s.replace("${device}", name).replace("${thing}", name),
                                c,
                            )));
                        }
                    }
                    _ => out.push(expand_value(item, c)),
                }
            }
            Value::Array(out)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, val)| {
                    // A lone per-device string (not in an array) becomes an array.
                    let expanded = match val.as_str() {
                        Some(s) if s.contains("${device}") || s.contains("${thing}") => {
                            expand_value(&Value::Array(vec![val.clone()]), c)
                        }
                        _ => expand_value(val, c),
                    };
                    (k.clone(), expanded)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The session policy a credential-vending API would send for `username` with these things
/// (the lab's vending template language): a statement left without any resource (zero
/// things) is dropped, as the vending API drops it.
pub fn render_for(
    template: &str,
    username: &str,
    things: &[String],
    options: &crate::AuditOptions,
) -> Result<String, serde_json::Error> {
    let v: Value = serde_json::from_str(template)?;
    let c = Ctx {
        names: things.to_vec(),
        username: username.to_owned(),
        session_name: "${session_name}".into(),
        role_arn: "${role_arn}".into(),
        account: &options.account_id,
        region: &options.region,
    };
    let mut out = expand_value(&v, &c);
    if let Some(Value::Array(stmts)) = out.get_mut("Statement") {
        stmts.retain(|st| {
            ["Resource", "NotResource"].iter().any(|k| {
                st.get(k)
                    .is_some_and(|r| r.as_array().is_none_or(|a| !a.is_empty()))
            })
        });
    }
    serde_json::to_string(&out)
}

impl Expansion {
    /// The minified expansion for `devices` devices.
    pub fn expand(
        &self,
        devices: usize,
        options: &crate::AuditOptions,
    ) -> Result<String, serde_json::Error> {
        let v: Value = serde_json::from_str(&self.template)?;
        let c = Ctx {
            names: (1..=devices)
                .map(|i| device_name(i, self.device_name_len))
                .collect(),
            username: "u".repeat(128),
            session_name: "s".repeat(64),
            role_arn: format!(
                "arn:aws:iam::{}:role/{}",
                options.account_id,
                "r".repeat(64)
            ),
            account: &options.account_id,
            region: &options.region,
        };
        serde_json::to_string(&expand_value(&v, &c))
    }
}

/// A template file; `devices` is N.
pub fn load(
    file: &str,
    text: &str,
    devices: usize,
    device_name_len: usize,
    options: &LoadOptions,
) -> Result<SourceSet, InputError> {
    let root = super::node::parse(text).map_err(|e| InputError::At {
        file: file.into(),
        line: e.line,
        message: format!("not valid JSON: {}", e.message),
    })?;
    let expansion = Expansion {
        template: root.to_json().to_string(),
        devices,
        device_name_len,
    };
    let one = expansion
        .expand(1, &options.audit)
        .map_err(|e| InputError::File {
            file: file.into(),
            message: format!("template does not expand to JSON: {e}"),
        })?;
    let document: Value = serde_json::from_str(&one).map_err(|e| InputError::File {
        file: file.into(),
        message: format!("template does not expand to JSON: {e}"),
    })?;
    Ok(SourceSet {
        policies: vec![PolicySource::whole_file(
            file,
            &root,
            PolicyKind::SessionTemplate,
            document,
            Some(expansion),
        )],
        findings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first statement's resources of `template` expanded for `devices` devices whose
    /// names are `device_name_len` long.
    fn first_resources(template: &str, devices: usize, device_name_len: usize) -> Vec<Value> {
        let e = Expansion {
            template: template.into(),
            devices,
            device_name_len,
        };
        let v: Value =
            serde_json::from_str(&e.expand(devices, &crate::AuditOptions::default()).unwrap())
                .unwrap();
        v["Statement"][0]["Resource"].as_array().unwrap().clone()
    }

    #[test]
    fn lab_vending_placeholders_expand() {
        let r = first_resources(
            r#"{"Statement":[{"Resource":["arn:aws:iot:${region}:${account}:client/${username}","arn:aws:iot:${region}:${account}:topic/devices/${thing}/*"]}]}"#,
            2,
            8,
        );
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[0].as_str().unwrap().len(),
            "arn:aws:iot:us-east-1:123456789012:client/".len() + 128
        );
        assert_eq!(
            r[2],
            "arn:aws:iot:us-east-1:123456789012:topic/devices/device-2/*"
        );
    }

    #[test]
    fn render_for_a_user_repeats_over_its_things_and_drops_empty_statements() {
        let t = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Id","Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:${region}:${account}:client/${username}"},{"Sid":"T","Effect":"Allow","Action":"iot:Publish","Resource":["arn:aws:iot:${region}:${account}:topic/d/${thing}/*"]}]}"#;
        let o = crate::AuditOptions::default();
        let v: Value =
            serde_json::from_str(&render_for(t, "bob", &["a".into(), "b".into()], &o).unwrap())
                .unwrap();
        assert_eq!(
            v["Statement"][0]["Resource"],
            "arn:aws:iot:us-east-1:123456789012:client/bob"
        );
        assert_eq!(v["Statement"][1]["Resource"].as_array().unwrap().len(), 2);
        let none: Value = serde_json::from_str(&render_for(t, "carol", &[], &o).unwrap()).unwrap();
        assert_eq!(none["Statement"].as_array().unwrap().len(), 1, "{none}");
    }

    #[test]
    fn device_resources_repeat_and_placeholders_expand() {
        let r = first_resources(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":["arn:aws:iot:*:*:topic/d/${device}/${iot:ClientId}","arn:aws:iot:*:*:topic/s/${session_name}"]}]}"#,
            3,
            10,
        );
        assert_eq!(r.len(), 4);
        assert_eq!(r[0], "arn:aws:iot:*:*:topic/d/device-001/${iot:ClientId}");
        assert_eq!(r[2], "arn:aws:iot:*:*:topic/d/device-003/${iot:ClientId}");
        assert_eq!(
            r[3].as_str().unwrap().len(),
            "arn:aws:iot:*:*:topic/s/".len() + 64
        );
    }
}
