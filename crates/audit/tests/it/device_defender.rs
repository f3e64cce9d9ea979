//! One test per documented criterion of Device Defender's policy checks: the pages' bad
//! examples are flagged with their reason codes, the good ones pass. Fixture provenance:
//! tests/fixtures/device-defender/README.md.

use iot_canary_audit::checks::{
    canonical_check, cognito_auth_role, cognito_unauth_role, criteria, iot_policy_permissive,
    misconfiguration, role_alias_permissive,
};
use iot_canary_audit::sources::PolicyKind;
use iot_canary_audit::{AuditOptions, Finding};

use super::{allow, assert_single, assert_single_saying, audit_doc, codes, doc_options, fixture};

const ARN: &str = "arn:aws:iot:region:account-id";

fn iot(text: &str) -> Vec<Finding> {
    audit_doc(PolicyKind::IotPolicy, text, &doc_options())
}

fn criteria_of(findings: &[Finding], check: &str) -> Vec<&'static str> {
    findings
        .iter()
        .filter(|f| f.check == check)
        .map(|f| f.criterion)
        .collect()
}

fn load_error(text: &str) -> String {
    iot_canary_audit::sources::load("good.json", text, None, &Default::default())
        .unwrap_err()
        .to_string()
}

/// The page's compliant examples with only their JSON punctuation fixed.
fn fixed(verbatim: &str) -> String {
    verbatim
        .replace("/shadow/*\"\n        \"arn", "/shadow/*\",\n        \"arn")
        .replace("],\n    }", "]\n    }")
}

// --- audit-chk-iot-policy-permissive.html (IOT_POLICY_OVERLY_PERMISSIVE_CHECK) -------------

#[test]
fn iot_policy_connect_client_star_is_noncompliant() {
    // "The wildcard * allows any device to connect to AWS IoT."
    let f = iot(&allow(&["iot:Connect"], &format!("{ARN}:client/*")));
    assert_single(
        &f,
        (
            iot_policy_permissive::CHECK,
            criteria::DATA_PLANE_REASON,
            "connect-any-client-id",
        ),
        "",
    );
    let w = &f[0].witness[0];
    assert_eq!((w.action.as_str(), w.decision), ("iot:Connect", "ALLOWED"));
    assert_eq!(w.resource, format!("{ARN}:client/audit-other-device"));
    assert_eq!(w.statement.as_deref(), Some("#0"));
    assert!(
        f[0].message.contains("audit-other-device"),
        "{}",
        f[0].message
    );
}

#[test]
fn iot_policy_connect_client_id_variable_without_is_attached_is_noncompliant() {
    // "Unless iot:Connection.Thing.IsAttached is set to true ... equivalent to the wildcard *"
    let f = iot(&allow(
        &["iot:Connect"],
        &format!("{ARN}:client/${{iot:ClientId}}"),
    ));
    assert_eq!(
        criteria_of(&f, iot_policy_permissive::CHECK),
        ["connect-any-client-id"]
    );
}

#[test]
fn iot_policy_connect_thing_name_with_is_attached_is_compliant() {
    let f = iot(&fixture(
        "device-defender/iot-policy-permissive.connect.good.json",
    ));
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn iot_policy_publish_to_every_shadow_update_is_noncompliant() {
    // "This allows the device to update the shadow of any device (* = all devices)."
    let f = iot(&allow(
        &["iot:Publish"],
        &format!("{ARN}:topic/$aws/things/*/shadow/update"),
    ));
    assert_eq!(
        criteria_of(&f, iot_policy_permissive::CHECK),
        ["publish-other-device-reserved-topics"]
    );
    assert_eq!(
        f[0].witness[0].resource,
        format!("{ARN}:topic/$aws/things/audit-other-device/shadow/update")
    );
}

#[test]
fn iot_policy_publish_to_all_thing_topics_is_noncompliant() {
    // "This allows the device to read, update, or delete the shadow of any device."
    let f = iot(&allow(
        &["iot:Publish"],
        &format!("{ARN}:topic/$aws/things/*"),
    ));
    assert_eq!(
        criteria_of(&f, iot_policy_permissive::CHECK),
        ["publish-other-device-reserved-topics"]
    );
}

#[test]
fn iot_policy_publish_own_shadow_is_compliant() {
    let verbatim = fixture("device-defender/iot-policy-permissive.publish.good.verbatim.json");
    // The page's example has a trailing comma: bad input, with its line.
    let e = load_error(&verbatim);
    assert!(e.starts_with("good.json:10: not valid JSON"), "{e}");
    let f = iot(&fixed(&verbatim));
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn iot_policy_subscribe_to_all_thing_topics_is_noncompliant() {
    for filter in [
        "$aws/things/*",
        "$aws/things/#",
        "$aws/things/+/shadow/update",
    ] {
        // "$aws/things/*": reserved topics of all devices; "#": the same with the MQTT
        // wildcard (literal in a policy, so it grants exactly the filter `$aws/things/#`);
        // "+/shadow/update": shadow updates of any device.
        let f = iot(&allow(
            &["iot:Subscribe"],
            &format!("{ARN}:topicfilter/{filter}"),
        ));
        assert_eq!(
            criteria_of(&f, iot_policy_permissive::CHECK),
            ["subscribe-other-device-reserved-topics"],
            "{filter}"
        );
        assert!(f[0].witness[0].allowed());
    }
}

#[test]
fn iot_policy_subscribe_own_shadow_and_jobs_is_compliant() {
    let verbatim = fixture("device-defender/iot-policy-permissive.subscribe.good.verbatim.json");
    // Two resources without a comma between them.
    let e = load_error(&verbatim);
    assert!(e.starts_with("good.json:9: not valid JSON"), "{e}");
    let f = iot(&fixed(&verbatim));
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn iot_policy_receive_alone_is_compliant() {
    // "This is compliant because the device can only receive messages from topics on which it
    // has permission to subscribe."
    let f = iot(&allow(
        &["iot:Receive"],
        &format!("{ARN}:topic/$aws/things/*"),
    ));
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn iot_policy_shadow_and_job_api_on_any_thing_is_noncompliant() {
    let actions = [
        "iot:DeleteThingShadow",
        "iot:GetThingShadow",
        "iot:UpdateThingShadow",
        "iot:DescribeJobExecution",
        "iot:GetPendingJobExecutions",
        "iot:StartNextPendingJobExecution",
        "iot:UpdateJobExecution",
    ];
    for a in actions {
        let f = iot(&allow(&[a], &format!("{ARN}:thing/*")));
        assert_eq!(
            criteria_of(&f, iot_policy_permissive::CHECK),
            ["shadow-job-api-other-device"],
            "{a}"
        );
        assert_eq!(f[0].witness[0].action, a);
    }
}

#[test]
fn iot_policy_shadow_and_job_api_on_two_things_is_compliant() {
    let f = iot(&fixture(
        "device-defender/iot-policy-permissive.shadow-job.good.json",
    ));
    assert!(f.is_empty(), "{f:#?}");
}

// --- audit-chk-unauth-cognito-role-permissive.html ---------------------------------------

fn unauth(text: &str) -> Vec<Finding> {
    audit_doc(PolicyKind::CognitoUnauthRole, text, &doc_options())
}

#[test]
fn unauth_role_manage_things_on_a_single_resource_is_noncompliant() {
    // "Any role that grants permission to perform these actions on even a single resource is
    // considered noncompliant."
    for a in criteria::THING_ADMIN_WRITE {
        let f = unauth(&allow(
            &[&format!("iot:{a}")],
            &format!("{ARN}:thing/MyThing"),
        ));
        assert_single(
            &f,
            (
                cognito_unauth_role::CHECK,
                cognito_unauth_role::ADMIN_REASON,
                "thing-admin-write",
            ),
            a,
        );
        assert_eq!(f[0].witness[0].action, format!("iot:{a}"));
        assert_eq!(f[0].witness[0].principal, "Cognito unauthenticated role");
    }
}

#[test]
fn unauth_role_read_thing_admin_data_on_one_thing_is_noncompliant() {
    // "This allows the device to perform the specified actions even though it is granted for
    // one thing only."
    let f = unauth(&fixture(
        "device-defender/cognito-role.thing-admin-read.unauth-bad.json",
    ));
    assert_single_saying(
        &f,
        (
            cognito_unauth_role::CHECK,
            cognito_unauth_role::ADMIN_REASON,
            "thing-admin-read",
        ),
        "iot:DescribeThing",
    );
}

#[test]
fn unauth_role_manage_non_things_is_noncompliant() {
    // "should not be given permission to perform AWS IoT API actions other than those
    // discussed in these sections"
    for a in [
        "iot:AttachPolicy",
        "iot:CreatePolicy",
        "iot:CreateTopicRule",
    ] {
        let f = unauth(&allow(&[a], "*"));
        assert_eq!(
            criteria_of(&f, cognito_unauth_role::CHECK),
            ["non-thing-admin"],
            "{a}"
        );
    }
}

#[test]
fn unauth_role_mqtt_and_shadow_criteria_are_the_data_plane_criteria() {
    let f = unauth(&allow(&["iot:Connect"], &format!("{ARN}:client/*")));
    assert_single(
        &f,
        (
            cognito_unauth_role::CHECK,
            criteria::DATA_PLANE_REASON,
            "connect-any-client-id",
        ),
        "",
    );
    let f = unauth(&allow(&["iot:GetThingShadow"], &format!("{ARN}:thing/*")));
    assert_eq!(
        criteria_of(&f, cognito_unauth_role::CHECK),
        ["shadow-job-api-other-device"]
    );
    let f = unauth(&allow(
        &["iot:Receive"],
        &format!("{ARN}:topic/$aws/things/*"),
    ));
    assert!(f.is_empty(), "Receive alone is compliant: {f:#?}");
}

#[test]
fn unauth_role_limited_to_thing_specific_topics() {
    // "devices that connect using an unauthenticated Amazon Cognito identity pool role should
    // have only limited permission to publish and subscribe to thing-specific MQTT topics"
    let feed = |filter: &str, topic: &str| {
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": format!("{ARN}:topicfilter/{filter}")},
            {"Effect": "Allow", "Action": "iot:Receive", "Resource": format!("{ARN}:topic/{topic}")}]})
        .to_string()
    };
    let f = unauth(&feed("devices/*", "devices/*"));
    assert_single(
        &f,
        (
            cognito_unauth_role::CHECK,
            criteria::DATA_PLANE_REASON,
            "guest-wildcard-subscription",
        ),
        "",
    );
    let w: Vec<_> = f[0].witness.iter().map(|w| w.resource.as_str()).collect();
    assert_eq!(
        w,
        [
            format!("{ARN}:topicfilter/devices/#").as_str(),
            format!("{ARN}:topic/devices/audit-other-device").as_str()
        ]
    );
    // Scoped to the guest's own identity: thing-specific.
    let own = "devices/${cognito-identity.amazonaws.com:sub}/*";
    assert!(unauth(&feed(own, own)).is_empty());
}

#[test]
fn unauth_role_with_the_pages_compliant_statements_passes() {
    let f = unauth(&fixture(
        "device-defender/iot-policy-permissive.connect.good.json",
    ));
    assert!(f.is_empty(), "{f:#?}");
    let f = unauth(&fixture(
        "device-defender/iot-policy-permissive.shadow-job.good.json",
    ));
    assert!(f.is_empty(), "{f:#?}");
}

// --- audit-chk-auth-cognito-role-permissive.html -----------------------------------------

fn auth(text: &str) -> Vec<Finding> {
    audit_doc(PolicyKind::CognitoAuthRole, text, &doc_options())
}

#[test]
fn auth_role_manage_things_on_a_single_resource_is_noncompliant() {
    for a in criteria::THING_ADMIN_WRITE {
        let f = auth(&allow(
            &[&format!("iot:{a}")],
            &format!("{ARN}:thing/MyThing"),
        ));
        assert_single(
            &f,
            (
                cognito_auth_role::CHECK,
                cognito_auth_role::WRITE_REASON,
                "thing-admin-write",
            ),
            a,
        );
    }
}

#[test]
fn auth_role_manage_non_things_is_noncompliant() {
    let f = auth(&allow(&["iot:*"], "*"));
    let reasons: Vec<_> = f.iter().map(|f| f.reason).collect();
    assert!(
        reasons.contains(&cognito_auth_role::NON_THING_REASON),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&cognito_auth_role::WRITE_REASON),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&cognito_auth_role::READ_REASON),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&criteria::DATA_PLANE_REASON),
        "{reasons:?}"
    );
}

#[test]
fn auth_role_read_thing_admin_data_on_any_thing_is_noncompliant() {
    // "arn:aws:iot:region:account-id:thing/* ... on any thing."
    let f = auth(&allow(
        &[
            "iot:DescribeThing",
            "iot:ListJobExecutionsForThing",
            "iot:ListThingGroupsForThing",
            "iot:ListThingPrincipals",
        ],
        &format!("{ARN}:thing/*"),
    ));
    assert_single(
        &f,
        (
            cognito_auth_role::CHECK,
            cognito_auth_role::READ_REASON,
            "thing-admin-read-broad",
        ),
        "",
    );
    assert_eq!(
        f[0].witness[0].resource,
        format!("{ARN}:thing/audit-other-device")
    );
}

#[test]
fn auth_role_read_thing_admin_data_on_one_thing_or_a_prefix_is_compliant() {
    // One thing (the page's "/thing/MyThing"), and "preceded by a specific string" prefixes,
    // as the page writes them and with the ARN's slash fixed.
    for text in [
        fixture("device-defender/cognito-role.thing-admin-read.unauth-bad.json"),
        fixture("device-defender/cognito-role.thing-admin-read.auth-good-prefix.json"),
        fixture("device-defender/cognito-role.thing-admin-read.auth-good-prefix.json")
            .replace(":/thing/", ":thing/"),
    ] {
        let f = auth(&text);
        assert!(f.is_empty(), "{f:#?}");
    }
}

#[test]
fn auth_role_mqtt_and_shadow_criteria_are_the_data_plane_criteria() {
    let f = auth(&allow(
        &["iot:Subscribe"],
        &format!("{ARN}:topicfilter/$aws/things/#"),
    ));
    assert_single(
        &f,
        (
            cognito_auth_role::CHECK,
            criteria::DATA_PLANE_REASON,
            "subscribe-other-device-reserved-topics",
        ),
        "",
    );
    let f = auth(&fixture(
        "device-defender/iot-policy-permissive.shadow-job.good.json",
    ));
    assert!(f.is_empty(), "{f:#?}");
    // "Receive ... compliant because the device can receive messages only from topics on which
    // it has permission to subscribe."
    let f = auth(&allow(
        &["iot:Receive"],
        &format!("{ARN}:topic/$aws/things/*"),
    ));
    assert!(f.is_empty(), "{f:#?}");
}

// --- audit-chk-iot-misconfigured-policies.html ------------------------------------------

fn misconfig(text: &str) -> Vec<Finding> {
    audit_doc(PolicyKind::IotPolicy, text, &AuditOptions::default())
}

#[test]
fn misconfigured_mqtt_wildcard_in_deny_is_flagged_with_a_topic_that_gets_through() {
    // "devices can subscribe to building/control_room/data1"
    let f = misconfig(&fixture(
        "device-defender/misconfigured.wildcard-in-deny.bad.json",
    ));
    let m: Vec<_> = f
        .iter()
        .filter(|f| f.check == misconfiguration::CHECK)
        .collect();
    assert_eq!(m.len(), 1, "{f:#?}");
    assert_eq!(m[0].reason, misconfiguration::WILDCARD_DENY);
    assert_eq!(m[0].statement.as_deref(), Some("#1"), "points at the Deny");
    let w = &m[0].witness[0];
    assert_eq!(
        (
            w.action.as_str(),
            w.resource.as_str(),
            w.decision,
            w.statement.as_deref()
        ),
        (
            "iot:Subscribe",
            "arn:aws:iot:us-east-1:123456789012:topicfilter/building/control_room/audit-probe",
            "ALLOWED",
            Some("#0")
        )
    );
    assert_eq!(m[0].location.line, 9, "the Deny statement's line");
}

#[test]
fn misconfigured_plus_wildcard_in_deny_is_flagged() {
    // "inspects for MQTT wildcard characters (+ or #) in deny statements"
    let doc = r#"{"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/sensors/*"},
      {"Sid":"NoCommands","Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/sensors/+/commands"}]}"#;
    let f = misconfig(doc);
    let m: Vec<_> = f
        .iter()
        .filter(|f| f.check == misconfiguration::CHECK)
        .collect();
    assert_eq!(m.len(), 1, "{f:#?}");
    assert_eq!(
        m[0].witness[0].resource,
        "arn:aws:iot:us-east-1:123456789012:topic/sensors/audit-probe/commands"
    );
}

#[test]
fn misconfigured_wildcard_deny_alone_is_proven_against_any_other_policy() {
    let doc = r#"{"Version":"2012-10-17","Statement":[
      {"Effect":"Deny","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/secret/#"}]}"#;
    let f = misconfig(doc);
    assert_eq!(codes(&f)[0].1, misconfiguration::WILDCARD_DENY);
    let w = &f[0].witness[0];
    assert!(w.allowed());
    assert_eq!(w.policy.as_deref(), Some("(any other attached policy)"));
}

#[test]
fn misconfigured_topic_filter_deny_bypassed_by_wildcard_subscription_is_flagged() {
    // "devices can send requests to subscribe to building/# and receive messages from all
    // topics related to building, including building/control_room/data1"
    let f = misconfig(&fixture(
        "device-defender/misconfigured.filter-deny-bypassed.bad.json",
    ));
    let m: Vec<_> = f
        .iter()
        .filter(|f| f.check == misconfiguration::CHECK)
        .collect();
    assert_eq!(m.len(), 1, "{f:#?}");
    assert_eq!(m[0].reason, misconfiguration::FILTER_DENY);
    let w: Vec<_> = m[0]
        .witness
        .iter()
        .map(|w| (w.action.as_str(), w.resource.as_str(), w.decision))
        .collect();
    assert_eq!(
        w,
        [
            (
                "iot:Subscribe",
                "arn:aws:iot:us-east-1:123456789012:topicfilter/building/#",
                "ALLOWED"
            ),
            (
                "iot:Receive",
                "arn:aws:iot:us-east-1:123456789012:topic/building/control_room/audit-probe",
                "ALLOWED"
            )
        ]
    );
}

#[test]
fn misconfigured_pages_properly_configured_policy_passes() {
    let f = misconfig(&fixture("device-defender/misconfigured.good.json"));
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn misconfiguration_check_accepts_the_documented_spelling() {
    assert_eq!(
        canonical_check("IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK"),
        misconfiguration::CHECK
    );
    assert_eq!(
        misconfiguration::CHECK,
        "IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK"
    );
}

// --- audit-chk-iot-role-alias-permissive.html -------------------------------------------

fn alias(text: &str) -> Vec<Finding> {
    audit_doc(PolicyKind::RoleAlias, text, &AuditOptions::default())
}

#[test]
fn role_alias_admin_access_to_a_service_is_noncompliant() {
    // "administrative permissions to any services used in the past year ... (for example,
    // "iot:*", "dynamodb:*", "iam:*")"
    let f = alias(&allow(&["dynamodb:*"], "*"));
    assert_single(
        &f,
        (
            role_alias_permissive::CHECK,
            role_alias_permissive::USED_SERVICES_REASON,
            "broad-service-access",
        ),
        "",
    );
    assert_eq!(f[0].witness[0].action, "dynamodb:AnyAction");
}

#[test]
fn role_alias_access_to_security_auditing_services_is_noncompliant() {
    // "access to security auditing services such as "iam", "cloudtrail", "guardduty",
    // "inspector", or "trustedadvisor""
    for a in [
        "iam:GetRole",
        "cloudtrail:StopLogging",
        "guardduty:ListFindings",
        "inspector:ListFindings",
        "trustedadvisor:DescribeChecks",
    ] {
        let f = alias(&allow(&[a], "*"));
        assert_single(
            &f,
            (
                role_alias_permissive::CHECK,
                role_alias_permissive::AUDITING_REASON,
                "security-auditing-services",
            ),
            a,
        );
    }
    // On one resource too: access is access.
    let f = alias(&allow(
        &["iam:GetRole"],
        "arn:aws:iam::123456789012:role/ops",
    ));
    assert_eq!(codes(&f)[0].1, role_alias_permissive::AUDITING_REASON);
    assert_eq!(
        f[0].witness[0].resource,
        "arn:aws:iam::123456789012:role/ops"
    );
}

#[test]
fn role_alias_thing_admin_and_data_plane_criteria() {
    // "broad access to thing metadata actions, access to restricted AWS IoT actions, or broad
    // access to AWS IoT data plane actions"
    let cases = [
        (
            allow(
                &["iot:DescribeThing"],
                "arn:aws:iot:us-east-1:123456789012:thing/*",
            ),
            cognito_auth_role::READ_REASON,
        ),
        (
            allow(
                &["iot:CreateThing"],
                "arn:aws:iot:us-east-1:123456789012:thing/one",
            ),
            cognito_auth_role::WRITE_REASON,
        ),
        (
            allow(&["iot:CreateTopicRule"], "*"),
            cognito_auth_role::NON_THING_REASON,
        ),
        (
            allow(
                &["iot:Publish"],
                "arn:aws:iot:us-east-1:123456789012:topic/$aws/things/*",
            ),
            criteria::DATA_PLANE_REASON,
        ),
    ];
    for (doc, reason) in cases {
        let f = alias(&doc);
        assert_eq!(
            f.iter().map(|f| (f.check, f.reason)).collect::<Vec<_>>(),
            [(role_alias_permissive::CHECK, reason)],
            "{doc}"
        );
    }
}

#[test]
fn role_alias_scoped_to_the_thing_is_compliant() {
    // The credentials provider's context variable scopes the role to the calling thing.
    let f = alias(&allow(
        &["s3:PutObject"],
        "arn:aws:s3:::camera-uploads/${credentials-iot:ThingName}/*",
    ));
    assert!(f.is_empty(), "{f:#?}");
}

// --- audit-chk-role-alias-unused-svcs.html (with declared usage) ---------------------------

#[test]
fn role_alias_access_to_services_outside_declared_usage_is_flagged() {
    // "the audit reports if you have an IAM role linked to the role alias that has only used
    // AWS IoT in the past year but the policy attached to the role also grants permission to
    // "iam:getRole" and "dynamodb:PutItem""
    use iot_canary_audit::checks::role_alias_unused_services as unused;
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Publish", "dynamodb:PutItem"], "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/readings"},
        {"Effect": "Allow", "Action": "iam:getRole", "Resource": "arn:aws:iam::123456789012:role/r"}]})
    .to_string();
    let options = AuditOptions {
        role_alias_used_services: Some(vec!["iot".into()]),
        ..Default::default()
    };
    let f: Vec<_> = audit_doc(PolicyKind::RoleAlias, &doc, &options)
        .into_iter()
        .filter(|f| f.check == unused::CHECK)
        .collect();
    let got: Vec<_> = f
        .iter()
        .map(|f| {
            (
                f.reason,
                f.witness[0].action.as_str(),
                f.witness[0].decision,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (unused::REASON, "dynamodb:PutItem", "ALLOWED"),
            (unused::REASON, "iam:getRole", "ALLOWED")
        ]
    );
    // Without declared usage the check cannot run (usage is not in any source).
    let f = audit_doc(PolicyKind::RoleAlias, &doc, &AuditOptions::default());
    assert!(f.iter().all(|f| f.check != unused::CHECK));
}
