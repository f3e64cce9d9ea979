//! `simulate` over hand-built identities: what each probe needs and how it is judged.

use super::*;
use iot_canary_core::exit::Exit;
use iot_canary_core::verdict::MqttVersion;
use iot_canary_core::verdict::ProbeAction;
use iot_canary_policy::Policy;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

fn canary(name: &str, action: ProbeAction, expect: Expect) -> Canary {
    Canary {
        name: name.into(),
        identity: "alice".into(),
        action,
        expect,
        topic: Some("devices/lamp/telemetry".into()),
        topic_filter: Some("devices/lamp/#".into()),
        thing: Some("lamp".into()),
        shadow: None,
        client_id: "${identity}-${canary}".into(),
        witness: None,
        qos: 1,
        mqtt_version: MqttVersion::V5,
        timeout: Duration::from_secs(5),
        marker: None,
        policy_name: None,
        role_arn: None,
    }
}

fn identities(policy: &str) -> SimIdentities {
    let p = Arc::new(Policy::parse("P", policy).unwrap());
    let mut ids = SimIdentities::new();
    ids.insert(
        "alice".into(),
        Ok(SimIdentity {
            set: PolicySet::Iam { policies: vec![p] },
            context: RequestContext {
                region: "us-east-1".into(),
                account_id: "123456789012".into(),
                ..Default::default()
            },
            identity_id: None,
            username: Some("alice".into()),
            caller_arn: None,
            role_paths: None,
        }),
    );
    ids
}

const NOW: SystemTime = UNIX_EPOCH;

#[test]
fn receive_needs_connect_subscribe_and_receive() {
    // Subscribe allowed, Receive not: the bait never arrives, so the canary is denied.
    let ids = identities(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:Subscribe"],"Resource":"*"}]}"#,
    );
    let r = &simulate(
        &[canary("c", ProbeAction::Receive, Expect::Deny)],
        &ids,
        NOW,
    )[0];
    let steps: Vec<(&str, &str)> = r
        .checks
        .iter()
        .map(|c| (c.action, c.resource.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("iot:Connect", "alice-c"),
            ("iot:Subscribe", "devices/lamp/#"),
            ("iot:Receive", "devices/lamp/telemetry")
        ]
    );
    assert_eq!(r.outcome, SimOutcome::Denied);
    assert_eq!(r.standing, SimStanding::Ok);
}

#[test]
fn standings_and_exit_follow_the_gate() {
    let open = identities(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#,
    );
    let closed = identities(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#,
    );
    let deny = canary("d", ProbeAction::Publish, Expect::Deny);
    let control = canary("k", ProbeAction::Publish, Expect::Allow);
    let r = simulate(&[deny.clone(), control.clone()], &open, NOW);
    assert_eq!(r[0].standing, SimStanding::Breach);
    assert_eq!(r[1].standing, SimStanding::Ok);
    assert_eq!(gate_exit(&r), Exit::Breach);
    let r = simulate(&[deny, control], &closed, NOW);
    assert_eq!(r[0].standing, SimStanding::Ok);
    assert_eq!(
        r[1].standing,
        SimStanding::Blind,
        "a denied control makes the gate blind"
    );
    assert_eq!(gate_exit(&r), Exit::Blind);
}

#[test]
fn retain_and_shadow_map_to_their_actions() {
    let ids = identities(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:Publish"],"Resource":"*"}]}"#,
    );
    let r = simulate(
        &[
            canary("r", ProbeAction::Retain, Expect::Deny),
            canary("s", ProbeAction::ShadowDelete, Expect::Deny),
        ],
        &ids,
        NOW,
    );
    assert_eq!(r[0].outcome, SimOutcome::Denied, "no iot:RetainPublish");
    assert_eq!(r[0].checks[2].action, "iot:RetainPublish");
    assert_eq!(
        r[1].checks[1].resource,
        "$aws/things/lamp/shadow/name/iot-canary/delete"
    );
    assert_eq!(r[1].standing, SimStanding::Breach);
}

#[test]
fn unsimulatable_identity_is_blind_with_a_reason() {
    let mut ids = SimIdentities::new();
    ids.insert(
        "alice".into(),
        Err("kind `profile` is not simulated offline".into()),
    );
    let r = &simulate(
        &[canary("c", ProbeAction::Connect, Expect::Deny)],
        &ids,
        NOW,
    )[0];
    assert_eq!(r.outcome, SimOutcome::Inconclusive);
    assert_eq!(r.standing, SimStanding::Blind);
    assert!(r.reason.as_deref().unwrap().contains("profile"));
}

/// A Cognito identity: role `role`, IoT policy `iot`.
fn cognito(role: &str, iot: &str) -> SimIdentities {
    let parse = |n: &str, t: &str| Arc::new(Policy::parse(n, t).unwrap());
    let mut ids = SimIdentities::new();
    ids.insert(
        "alice".into(),
        Ok(SimIdentity {
            set: PolicySet::CognitoAuthenticated {
                role_policies: vec![parse("Role", role)],
                iot_policies: vec![parse("Iot", iot)],
            },
            context: RequestContext {
                region: "us-east-1".into(),
                account_id: "123456789012".into(),
                ..Default::default()
            },
            identity_id: Some("us-east-1:0a1b2c3d-0000-4000-8000-000000000001".into()),
            username: Some("alice".into()),
            caller_arn: None,
            role_paths: None,
        }),
    );
    ids
}

#[test]
fn https_calls_need_role_and_iot_policy_control_plane_calls_the_role_alone() {
    // The classic attach-at-sign-in role: broad IoT plus AttachPolicy on `*`; the IoT policy
    // scopes the data plane to the identity's own lamp.
    let ids = cognito(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:GetThingShadow","iot:Publish"],"Resource":"*"},{"Effect":"Allow","Action":"iot:AttachPolicy","Resource":"*"}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:GetThingShadow","iot:Publish"],"Resource":["arn:aws:iot:us-east-1:123456789012:thing/lamp","arn:aws:iot:us-east-1:123456789012:topic/devices/lamp/*"]}]}"#,
    );
    let mut own = canary("own-shadow", ProbeAction::HttpsShadowGet, Expect::Allow);
    own.thing = Some("lamp".into());
    let mut other = canary("other-shadow", ProbeAction::HttpsShadowGet, Expect::Deny);
    other.thing = Some("plug".into());
    let mut attach = canary("attach", ProbeAction::AttachPolicy, Expect::Deny);
    attach.policy_name = Some("iot-canary-probe-${nonce}".into());
    let mut publish = canary("https-pub", ProbeAction::HttpsPublish, Expect::Allow);
    publish.topic = Some("devices/lamp/cmd".into());
    let rs = simulate(&[own, other, attach, publish], &ids, UNIX_EPOCH);
    let by = |n: &str| rs.iter().find(|r| r.canary == n).unwrap();
    assert_eq!(by("own-shadow").outcome, SimOutcome::Allowed);
    assert_eq!(
        by("own-shadow").checks[0].resource,
        "arn:aws:iot:us-east-1:123456789012:thing/lamp"
    );
    assert_eq!(by("other-shadow").outcome, SimOutcome::Denied);
    assert_eq!(by("other-shadow").standing, SimStanding::Ok);
    // The IoT policy has no AttachPolicy, and it does not matter: the control plane is IAM.
    let a = by("attach");
    assert_eq!(
        (a.outcome, a.standing),
        (SimOutcome::Allowed, SimStanding::Breach)
    );
    assert_eq!(a.checks[0].action, "iot:AttachPolicy");
    assert_eq!(
        a.checks[0].resource,
        "us-east-1:0a1b2c3d-0000-4000-8000-000000000001"
    );
    assert_eq!(by("https-pub").outcome, SimOutcome::Allowed);
    // No connection over HTTPS: the probe needs no iot:Connect.
    assert_eq!(by("https-pub").checks.len(), 1);
}

#[test]
fn a_client_id_scoped_grant_does_not_open_the_https_door() {
    let ids = identities(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/clients/${iot:ClientId}/*"}]}"#,
    );
    let mut mqtt = canary("mqtt", ProbeAction::Publish, Expect::Allow);
    mqtt.topic = Some("clients/alice-mqtt/out".into());
    mqtt.client_id = "alice-mqtt".into();
    let mut https = canary("https", ProbeAction::HttpsPublish, Expect::Allow);
    https.topic = Some("clients/alice-mqtt/out".into());
    let rs = simulate(&[mqtt, https], &ids, UNIX_EPOCH);
    assert_eq!(rs[0].outcome, SimOutcome::Allowed);
    assert_eq!(rs[1].outcome, SimOutcome::Denied, "{:?}", rs[1].checks);
}

#[test]
fn role_paths_without_an_oracle_and_unknown_principals_are_inconclusive() {
    let ids = identities(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    );
    let mut role = canary("role", ProbeAction::AssumeRole, Expect::Deny);
    role.role_arn = Some("arn:aws:iam::123456789012:role/Admin".into());
    // An IAM identity whose caller ARN is not known cannot name its own principal.
    let mut attach = canary("attach", ProbeAction::AttachPolicy, Expect::Deny);
    attach.policy_name = Some("iot-canary-probe-${nonce}".into());
    let rs = simulate(&[role, attach], &ids, UNIX_EPOCH);
    for r in &rs {
        assert_eq!(r.outcome, SimOutcome::Inconclusive, "{}", r.canary);
        assert_eq!(r.standing, SimStanding::Blind);
    }
    assert!(rs[0].reason.as_deref().unwrap().contains("lab scenario"));
    assert!(rs[1].reason.as_deref().unwrap().contains("own principal"));
}
