//! The credential-vending API's pure core: render the session policy template over the
//! caller's reachable things, then the same AssumeRole checks STS applies.
//!
//! Template language: `iot_canary_policy::session_template` (one for the lab, `simulate` and
//! the audit; docs/lab-identity.md). `${thing}` repeats over the things the caller owns or was
//! shared; `${session_name}` and `${role_arn}` stay as written.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("vending session_policy_template is not valid JSON: {0}")]
    Json(String),
}

pub use iot_canary_policy::session_template::TemplateVars;

/// Renders the session policy (minified JSON) for one caller.
pub fn render(template: &str, vars: &TemplateVars<'_>) -> Result<String, TemplateError> {
    iot_canary_policy::session_template::render(template, vars)
        .map_err(|e| TemplateError::Json(e.to_string()))
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
    use serde_json::Value;

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
            ..TemplateVars::default()
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
