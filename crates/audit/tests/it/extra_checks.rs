//! The checks Device Defender does not make, and the pull-request scenario: a change that opens
//! a cross-tenant path fails the audit with the witness request in the message.

use iot_canary_audit::checks::{
    client_id_wildcard, criteria, iot_policy_permissive, resource_type_mismatch,
    session_policy_size, unknown_action,
};
use iot_canary_audit::sources::{LoadOptions, PolicyKind, session_template};
use iot_canary_audit::{AuditOptions, audit};

use super::{allow, audit_doc, codes};

const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

fn iot(text: &str) -> Vec<iot_canary_audit::Finding> {
    audit_doc(PolicyKind::IotPolicy, text, &AuditOptions::default())
}

fn statements(s: &[serde_json::Value]) -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": s}).to_string()
}

fn st(effect: &str, actions: &[&str], resource: &str) -> serde_json::Value {
    serde_json::json!({"Effect": effect, "Action": actions, "Resource": resource})
}

#[test]
fn client_id_plus_subscribes_to_every_clients_topics() {
    // AWS IoT "Basic policy variables": with ${iot:ClientId} in a topic filter, a client that
    // connects as `+` subscribes to `my/+/topic`.
    let doc = statements(&[
        st("Allow", &["iot:Connect"], &format!("{ARN}:client/*")),
        serde_json::json!({"Sid": "OwnFilter", "Effect": "Allow", "Action": "iot:Subscribe",
            "Resource": format!("{ARN}:topicfilter/devices/${{iot:ClientId}}/telemetry")}),
        st("Allow", &["iot:Receive"], &format!("{ARN}:topic/devices/*")),
    ]);
    let f: Vec<_> = iot(&doc)
        .into_iter()
        .filter(|f| f.check == client_id_wildcard::CHECK)
        .collect();
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].statement.as_deref(), Some("OwnFilter"));
    let w: Vec<_> = f[0]
        .witness
        .iter()
        .map(|w| {
            (
                w.caller.client_id.as_deref(),
                w.action.as_str(),
                w.resource.as_str(),
                w.decision,
            )
        })
        .collect();
    assert_eq!(
        w,
        [
            (
                Some("+"),
                "iot:Connect",
                &*format!("{ARN}:client/+"),
                "ALLOWED"
            ),
            (
                Some("+"),
                "iot:Subscribe",
                &*format!("{ARN}:topicfilter/devices/+/telemetry"),
                "ALLOWED"
            ),
            (
                Some("+"),
                "iot:Receive",
                &*format!("{ARN}:topic/devices/audit-other-device/telemetry"),
                "ALLOWED"
            ),
        ]
    );
    assert!(f[0].message.contains("client id `+`"), "{}", f[0].message);
}

#[test]
fn client_id_trap_is_closed_by_a_scoped_receive_or_connect() {
    let scoped_receive = statements(&[
        st("Allow", &["iot:Connect"], &format!("{ARN}:client/*")),
        st(
            "Allow",
            &["iot:Subscribe"],
            &format!("{ARN}:topicfilter/devices/${{iot:ClientId}}/*"),
        ),
        st(
            "Allow",
            &["iot:Receive"],
            &format!("{ARN}:topic/devices/${{iot:ClientId}}/*"),
        ),
    ]);
    let attached_connect = statements(&[
        serde_json::json!({"Effect": "Allow", "Action": "iot:Connect",
            "Resource": format!("{ARN}:client/${{iot:Connection.Thing.ThingName}}"),
            "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}}),
        st(
            "Allow",
            &["iot:Subscribe"],
            &format!("{ARN}:topicfilter/devices/${{iot:ClientId}}/*"),
        ),
        st("Allow", &["iot:Receive"], &format!("{ARN}:topic/devices/*")),
    ]);
    for doc in [scoped_receive, attached_connect] {
        let f = iot(&doc);
        assert!(
            f.iter().all(|f| f.check != client_id_wildcard::CHECK),
            "{f:#?}"
        );
    }
}

fn template(devices: usize) -> iot_canary_audit::SourceSet {
    let text = statements(&[serde_json::json!({
        "Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
        "Resource": [format!("{ARN}:topic/devices/${{device}}/*")]})]);
    session_template::load(
        "user-session.json",
        &text,
        devices,
        36,
        &LoadOptions::default(),
    )
    .unwrap()
}

#[test]
fn session_template_over_2048_characters_for_n_devices() {
    let f = audit(&template(40), &AuditOptions::default());
    let f: Vec<_> = f
        .iter()
        .filter(|f| f.check == session_policy_size::CHECK)
        .collect();
    assert_eq!(f.len(), 1, "{f:#?}");
    let size = f[0].size.as_ref().unwrap();
    assert!(size.minified_chars > 2048, "{size:?}");
    // Each device adds one ARN of 80 characters plus quotes and a comma.
    assert!((20..=30).contains(&size.max_devices), "{size:?}");
    assert!(f[0].message.contains("at most"), "{}", f[0].message);
    let f = audit(&template(size.max_devices), &AuditOptions::default());
    assert!(
        f.iter().all(|f| f.check != session_policy_size::CHECK),
        "{f:#?}"
    );
}

#[test]
fn unknown_iot_actions_are_flagged_with_the_intended_request() {
    let doc = statements(&[
        st("Allow", &["iot:Publish"], &format!("{ARN}:topic/t/*")),
        serde_json::json!({"Sid": "Typo", "Effect": "Deny", "Action": "iot:Publsh",
            "Resource": format!("{ARN}:topic/t/secret")}),
    ]);
    let f: Vec<_> = iot(&doc)
        .into_iter()
        .filter(|f| f.check == unknown_action::CHECK)
        .collect();
    assert_eq!(
        codes(&f),
        [(
            unknown_action::CHECK,
            "UNKNOWN_IOT_ACTION",
            "unknown-action"
        )]
    );
    assert!(
        f[0].message.contains("did you mean iot:Publish?"),
        "{}",
        f[0].message
    );
    // The Deny was meant for this request, which the Allow lets through.
    let w = &f[0].witness[0];
    assert_eq!((w.action.as_str(), w.decision), ("iot:Publish", "ALLOWED"));
    assert_eq!(w.resource, format!("{ARN}:topic/t/secret"));
}

#[test]
fn unknown_service_prefixes_and_wildcards_matching_nothing_are_flagged() {
    let f = iot(&allow(
        &["iott:Publish", "iot:Publsh*", "iot:Get*Shadow"],
        "*",
    ));
    let mut reasons: Vec<_> = f
        .iter()
        .filter(|f| f.check == unknown_action::CHECK)
        .map(|f| {
            (
                f.reason,
                f.message.split('`').nth(1).unwrap_or_default().to_owned(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("UNKNOWN_IOT_ACTION", "iot:Publsh*".to_owned()),
            ("UNKNOWN_SERVICE_PREFIX", "iott:Publish".to_owned())
        ]
    );
}

#[test]
fn subscribe_on_topic_and_publish_on_topicfilter_never_match() {
    let doc = statements(&[
        serde_json::json!({"Sid": "Sub", "Effect": "Allow", "Action": "iot:Subscribe", "Resource": format!("{ARN}:topic/alerts/#")}),
        serde_json::json!({"Sid": "Pub", "Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": format!("{ARN}:topicfilter/cmd/x")}),
        serde_json::json!({"Sid": "Both", "Effect": "Allow", "Action": ["iot:Subscribe", "iot:Receive"],
            "Resource": [format!("{ARN}:topicfilter/ok/x"), format!("{ARN}:topic/ok/x")]}),
    ]);
    let f: Vec<_> = iot(&doc)
        .into_iter()
        .filter(|f| f.check == resource_type_mismatch::CHECK)
        .map(|f| {
            (
                f.reason,
                f.statement.clone().unwrap_or_default(),
                f.witness[0].decision,
            )
        })
        .collect();
    assert_eq!(
        f,
        [
            (
                "SUBSCRIBE_ON_TOPIC_RESOURCE",
                "Sub".to_owned(),
                "IMPLICIT_DENY"
            ),
            (
                "TOPIC_ACTION_ON_TOPICFILTER_RESOURCE",
                "Pub".to_owned(),
                "IMPLICIT_DENY"
            ),
            (
                "TOPIC_ACTION_ON_TOPICFILTER_RESOURCE",
                "Pub".to_owned(),
                "IMPLICIT_DENY"
            ),
        ]
    );
}

#[test]
fn a_pull_request_that_opens_a_cross_tenant_path_fails_with_the_witness() {
    // Before: each Cognito identity publishes and receives under its own tenants/<id>/ tree.
    let before = statements(&[
        serde_json::json!({"Effect": "Allow", "Action": "iot:Connect",
            "Resource": format!("{ARN}:client/${{cognito-identity.amazonaws.com:sub}}")}),
        serde_json::json!({"Sid": "Tenant", "Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
            "Resource": format!("{ARN}:topic/tenants/${{cognito-identity.amazonaws.com:sub}}/*")}),
    ]);
    assert!(iot(&before).is_empty(), "{:#?}", iot(&before));
    // After: a dashboard statement receives every tenant's alerts.
    let mut after: serde_json::Value = serde_json::from_str(&before).unwrap();
    after["Statement"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
        "Sid": "Dashboard", "Effect": "Allow", "Action": "iot:Receive",
        "Resource": format!("{ARN}:topic/tenants/*")}));
    let f = iot(&after.to_string());
    assert_eq!(
        codes(&f),
        [(
            iot_policy_permissive::CHECK,
            criteria::DATA_PLANE_REASON,
            "other-identity-topics"
        )]
    );
    let w = &f[0].witness[0];
    assert_eq!(
        (w.action.as_str(), w.decision, w.statement.as_deref()),
        ("iot:Receive", "ALLOWED", Some("Dashboard"))
    );
    assert_eq!(
        w.resource,
        format!("{ARN}:topic/tenants/us-east-1:00000000-0000-0000-0000-0000000b0d2e/audit-probe")
    );
    assert!(f[0].message.contains(&w.resource), "{}", f[0].message);
    assert_eq!(f[0].statement.as_deref(), Some("Dashboard"));
}
