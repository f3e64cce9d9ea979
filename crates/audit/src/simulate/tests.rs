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
