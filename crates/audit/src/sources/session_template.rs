//! STS session-policy templates: a policy document with placeholders, sent with AssumeRole for
//! a user who owns N devices. STS refuses a session policy over 2,048 plaintext characters, so
//! a template that grows with the device count breaks AssumeRole at some N.
//!
//! Expansion rules: the lab's vending template language (`iot_canary_policy::session_template`,
//! shared), sized at its worst case:
//! - an array element containing `${device}` or `${thing}` is repeated once per device, with
//!   device names `device-…` padded to `device_name_len` characters (36 by default, the length
//!   of a UUID, a common thing-name scheme);
//! - `${session_name}` becomes 64 characters (STS's maximum RoleSessionName), `${role_arn}` a
//!   role ARN with a 64-character role name (IAM's maximum), `${username}` 128 characters
//!   (Cognito's maximum username), `${region}` and `${account}` the audit's region and account;
//! - every other `${...}` is an IAM policy variable that AWS evaluates, and stays as written.
//!
//! The size is measured on the minified expansion: the smallest text that could be sent.

use iot_canary_policy::session_template::{self, TemplateVars};
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

/// The session policy a credential-vending API would send for `username` with these things:
/// the lab's own renderer (a statement left without any resource, zero things, is dropped).
pub fn render_for(
    template: &str,
    username: &str,
    things: &[String],
    options: &crate::AuditOptions,
) -> Result<String, serde_json::Error> {
    session_template::render(
        template,
        &TemplateVars {
            username,
            region: &options.region,
            account: &options.account_id,
            things,
            session_name: None,
            role_arn: None,
        },
    )
}

impl Expansion {
    /// The minified expansion for `devices` devices.
    pub fn expand(
        &self,
        devices: usize,
        options: &crate::AuditOptions,
    ) -> Result<String, serde_json::Error> {
        let v: Value = serde_json::from_str(&self.template)?;
        let names: Vec<String> = (1..=devices)
            .map(|i| device_name(i, self.device_name_len))
            .collect();
        let username = "u".repeat(128);
        let session_name = "s".repeat(64);
        let role_arn = format!(
            "arn:aws:iam::{}:role/{}",
            options.account_id,
            "r".repeat(64)
        );
        let vars = TemplateVars {
            username: &username,
            region: &options.region,
            account: &options.account_id,
            things: &names,
            session_name: Some(&session_name),
            role_arn: Some(&role_arn),
        };
        serde_json::to_string(&session_template::expand(&v, &vars))
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
