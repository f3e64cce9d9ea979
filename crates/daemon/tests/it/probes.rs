//! End-to-end: the daemon's probes against the in-process lab, every probe kind in MQTT 5 and
//! 3.1.1, with a tight policy (all denied, controls allowed → exit 0) and with a hole
//! (breaches → exit 1, JSON names the canary and shows the evidence).

use std::sync::Arc;

use aws_credential_types::Credentials;
use iot_canary_core::exit::Exit;
use iot_canary_core::report;
use iot_canary_core::verdict::{Reason, Standing, Verdict};
use iot_canary_daemon::daemon::{self, Daemon, FixedIdentity, IdentityCreds, Shard};
use iot_canary_lab::RunningLab;
use iot_canary_testkit::HOLE;
use iot_canary_testkit::config::{Pace, dev_lamp_canaries, ops_dev};
use iot_canary_testkit::lab::{self, Options};
use iot_canary_testkit::scenario::{DEV, OPS, Scenario};
use iot_canary_testkit::verdicts::assert_all_inconclusive;

use crate::support::{
    assert_bait_delivered, assert_denial_evidence, daemon_with_keys, json_canary, ops_dev_round,
    parse, round,
};

/// The dev-lamp world with `dev_policy` as dev's policy, over TLS.
async fn start_lab(dev_policy: &str) -> RunningLab {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::fixture("dev-lamp").policy("Dev", dev_policy);
    lab::start(&scenario, Options::tls().dir(&dir.keep())).await
}

/// `dev`'s own lamp only (the fixture's policy).
fn tight_policy() -> String {
    Scenario::fixture("dev-lamp").policy_doc("Dev")
}

fn hole_policy() -> String {
    HOLE.to_string()
}

/// The end-to-end pace: the lab enforces AWS's 1 CONNECT/s per client id, and a 3.1.1 close is
/// tried twice.
const PACE: Pace<'static> = Pace {
    timeout: "8s",
    connect_interval: "1s",
    delivery_grace: "700ms",
};

/// Every probe kind, deny and allow, for one MQTT version, from ops and dev's static keys.
fn daemon_for(lab: &RunningLab, version: &str) -> Daemon {
    let text = ops_dev(&lab.endpoints.mqtt, &lab.endpoints.ca_file, PACE)
        + &dev_lamp_canaries(version, &[]);
    daemon_with_keys(parse("e2e.toml", &text), &[("ops", OPS), ("dev", DEV)])
}

fn show(reports: &[daemon::CanaryReport]) -> String {
    report::table(reports)
}

async fn tight(version: &str) {
    let lab = start_lab(&tight_policy()).await;
    let d = daemon_for(&lab, version);
    let reports = round(&d).await;
    assert_eq!(reports.len(), 16, "{}", show(&reports));
    for r in &reports {
        assert_eq!(r.standing, Standing::Ok, "{}\n{}", r.canary, show(&reports));
    }
    assert_eq!(report::exit_of(&reports), Exit::Ok);
    for r in reports
        .iter()
        .filter(|r| r.expect == iot_canary_core::verdict::Expect::Deny)
    {
        // 3.1.1 only closes the socket: every denial must rest on a later control; 5 refuses
        // explicitly, with no need for one.
        let confirmed = assert_denial_evidence(r, version == "3.1.1");
        assert!(version == "3.1.1" || !confirmed, "{}", r.canary);
    }
    lab.shutdown().await;
}

async fn hole(version: &str) {
    let lab = start_lab(&hole_policy()).await;
    let d = daemon_for(&lab, version);
    let reports = round(&d).await;
    for r in &reports {
        let want = if r.expect == iot_canary_core::verdict::Expect::Deny {
            Standing::Breach
        } else {
            Standing::Ok
        };
        assert_eq!(r.standing, want, "{}\n{}", r.canary, show(&reports));
        assert_eq!(r.verdict, Verdict::Allowed);
    }
    assert_eq!(report::exit_of(&reports), Exit::Breach);
    let json: serde_json::Value = serde_json::from_str(&report::json(
        &report::RunInfo::offline("once", std::time::SystemTime::now()),
        &reports,
    ))
    .unwrap();
    assert_eq!(json["exit_code"], 1);
    let v = version.replace('.', "");
    assert_bait_delivered(json_canary(&json, &format!("recv-other-v{v}")));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tight_policy_mqtt5_all_denied_controls_allowed() {
    tight("5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tight_policy_mqtt311_all_denied_controls_allowed() {
    tight("3.1.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hole_mqtt5_every_deny_canary_breaches() {
    hole("5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hole_mqtt311_every_deny_canary_breaches() {
    hole("3.1.1").await;
}

/// Faults never read as denials: every probe is inconclusive with the fault's reason.
async fn fault_case(version: &str, faults: iot_canary_lab::state::Faults, want: Reason) {
    let lab = start_lab(&tight_policy()).await;
    lab.state().set_faults(faults.clone());
    let d = daemon_for_timeout(&lab, version, "2s");
    let reports = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        d.round(Some("sub-*"), &|_| {}),
    )
    .await
    .expect("round finishes");
    assert!(
        reports.iter().any(|r| r.canary.starts_with("sub-other")),
        "{}",
        show(&reports)
    );
    assert_all_inconclusive(&reports, &format!("{faults:?}"));
    let deny = reports
        .iter()
        .find(|r| r.canary.starts_with("sub-other"))
        .unwrap();
    assert_eq!(
        deny.verdict,
        Verdict::Inconclusive(want),
        "{faults:?} {version}\n{}",
        show(&reports)
    );
    assert_eq!(report::exit_of(&reports), Exit::Blind);
    lab.shutdown().await;
}

fn daemon_for_timeout(lab: &RunningLab, version: &str, timeout: &str) -> Daemon {
    let d = daemon_for(lab, version);
    let mut cfg = (*d.config).clone();
    for c in &mut cfg.canaries {
        c.timeout = iot_canary_core::config::units::parse_duration(timeout).unwrap();
    }
    Daemon::new(
        Arc::new(cfg),
        d.endpoint.clone(),
        d.identities.clone(),
        Shard::ALL,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_inconclusive_never_denied() {
    use iot_canary_lab::state::Faults;
    let f = Faults::default;
    for version in ["5", "3.1.1"] {
        fault_case(
            version,
            Faults {
                refuse_upgrades: true,
                ..f()
            },
            Reason::UpgradeRejected,
        )
        .await;
        fault_case(version, Faults { stall: true, ..f() }, Reason::Timeout).await;
        fault_case(
            version,
            Faults {
                clock_skew_secs: 3600,
                ..f()
            },
            Reason::UpgradeRejected,
        )
        .await;
    }
    // MQTT 5: an explicit 0x97 is throttling; a socket dropped after CONNECT is a network
    // failure.
    fault_case(
        "5",
        Faults {
            quota_exceeded: true,
            ..f()
        },
        Reason::Throttled,
    )
    .await;
    fault_case(
        "5",
        Faults {
            drop_after_connect: true,
            ..f()
        },
        Reason::Network,
    )
    .await;
    // 3.1.1: the drop hits the control too, so the close cannot be confirmed as a denial.
    fault_case(
        "3.1.1",
        Faults {
            drop_after_connect: true,
            ..f()
        },
        Reason::Network,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_credentials_are_inconclusive_credentials() {
    let lab = start_lab(&tight_policy()).await;
    let d = daemon_for(&lab, "5");
    let mut ids = d.identities.clone();
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    ids.insert(
        "dev".into(),
        Arc::new(FixedIdentity(IdentityCreds {
            credentials: Credentials::new(
                "AKIALABDEV0000000001",
                "lab-secret-dev",
                Some("tok".into()),
                Some(past),
                "t",
            ),
            identity_id: None,
            username: None,
        })),
    );
    let d = Daemon::new(d.config.clone(), d.endpoint.clone(), ids, Shard::ALL);
    let reports = round(&d).await;
    for r in &reports {
        assert_eq!(
            r.verdict,
            Verdict::Inconclusive(Reason::Credentials),
            "{}",
            show(&reports)
        );
    }
    assert_eq!(report::exit_of(&reports), Exit::Blind);
    lab.shutdown().await;
}

/// A retain control on a topic that already holds a device's retained message: the probe
/// publishes without the retain flag, reports `retained_in_use`, and the device's message is
/// still there afterwards (A3: a retain probe never destroys a retained message it did not
/// set), in MQTT 5 and 3.1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_never_overwrites_a_foreign_retained_message() {
    use iot_canary_testkit::mqtt::{self as client, Ev, Mqtt};
    let lab = lab::start_plain(&Scenario::fixture("dev-lamp")).await;
    let device = b"{\"on\":true}";
    let topics = [
        "devices/dev-lamp/state-dev-v5",
        "devices/dev-lamp/state-dev-v311",
    ];
    let mut seed = client::connect(&lab, Mqtt::V5, OPS, "ops-device")
        .connected()
        .await;
    for topic in topics {
        seed.publish(topic, 1, true, device).await;
        while !matches!(seed.next().await, Ev::PubAck(_, 0)) {}
    }
    let text = ops_dev(&lab.endpoints.mqtt, "", PACE)
        + &dev_lamp_canaries("5", &["retain-own"])
        + &dev_lamp_canaries("3.1.1", &["retain-own"]);
    let reports = ops_dev_round("retain.toml", &text).await;
    assert_eq!(reports.len(), 2, "{}", show(&reports));
    for r in &reports {
        assert_eq!(
            r.verdict,
            Verdict::Inconclusive(Reason::RetainedInUse),
            "{}",
            show(&reports)
        );
        assert!(
            r.evidence
                .steps
                .iter()
                .any(|s| s.what.contains("will not be overwritten")),
            "{}: {:?}",
            r.canary,
            r.evidence.steps
        );
    }
    for (i, topic) in topics.into_iter().enumerate() {
        let mut look = client::connect(&lab, Mqtt::V5, OPS, &format!("ops-look-{i}"))
            .connected()
            .await;
        look.subscribed(topic, 1).await;
        let (t, payload, retain) = look.next_publish().await;
        assert_eq!(
            (t.as_str(), payload.as_slice(), retain),
            (topic, &device[..], true)
        );
    }
    lab.shutdown().await;
}

/// The documented `${iot:ClientId}` trap (aws-iot-authz.md): a policy that scopes Subscribe to
/// `devices/${iot:ClientId}/*` lets a client that connects as `+` subscribe to every device's
/// topics. The config accepts `+` as a client id (AWS does), and the canary trying it sees the
/// breach; the same identity's own-device control stays allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plus_client_id_finds_the_client_id_variable_trap() {
    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/*"},
 {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/devices/${iot:ClientId}/*"}]}"#;
    let lab = lab::start_plain(&Scenario::fixture("dev-lamp").policy("Dev", POLICY)).await;
    let text = ops_dev(&lab.endpoints.mqtt, "", PACE)
        + r#"
[[canary]]
name = "plus-reads-every-device"
identity = "dev"
action = "subscribe"
client_id = "+"
topic_filter = "devices/+/telemetry"

[[canary]]
name = "own-device"
identity = "dev"
action = "subscribe"
client_id = "dev-lamp"
topic_filter = "devices/dev-lamp/telemetry"
expect = "allow"
"#;
    let reports = ops_dev_round("plus.toml", &text).await;
    let by = |name: &str| reports.iter().find(|r| r.canary == name).unwrap();
    let plus = by("plus-reads-every-device");
    assert_eq!(
        (plus.verdict, plus.standing),
        (Verdict::Allowed, Standing::Breach),
        "{}",
        show(&reports)
    );
    assert_eq!(plus.evidence.client_id, "+");
    assert_eq!(by("own-device").verdict, Verdict::Allowed);
    lab.shutdown().await;
}

/// Rule R7 end to end: a receive canary's marker may only prove the filter under test. Here two
/// canaries share a client id, so the second finds its pooled connection once subscribed to
/// `devices/dev-lamp/#`, which also matches its marker topic; it must connect afresh (and say
/// so) before its markers can count, and its denial must still rest on a complete delivery
/// proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_another_filter_could_carry_forces_a_fresh_connection() {
    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/dev-*"},
 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/devices/dev-lamp/*"},
 {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/devices/dev-lamp/*"},
 {"Sid":"NoSecret","Effect":"Deny","Action":"iot:Receive","Resource":"arn:aws:iot:us-east-1:123456789012:topic/devices/dev-lamp/secret"}]}"#;
    let lab = lab::start_plain(&Scenario::fixture("dev-lamp").policy("Dev", POLICY)).await;
    // One probe at a time, in file order, so the first canary's subscription is on the pooled
    // connection before the second leases it.
    let text = ops_dev(&lab.endpoints.mqtt, "", PACE).replace("concurrency = 8", "concurrency = 1")
        + r#"
[[canary]]
name = "cannot-read-secret-under-hash"
identity = "dev"
action = "receive"
client_id = "dev-shared"
witness = "ops"
topic = "devices/dev-lamp/secret"
topic_filter = "devices/dev-lamp/#"
marker_topic = "devices/dev-lamp/status"

[[canary]]
name = "cannot-read-secret"
identity = "dev"
action = "receive"
client_id = "dev-shared"
witness = "ops"
topic = "devices/dev-lamp/secret"
topic_filter = "devices/dev-lamp/+"
marker_topic = "devices/dev-lamp/status"

[[canary]]
name = "reads-own-telemetry"
identity = "dev"
action = "receive"
expect = "allow"
witness = "ops"
topic = "devices/dev-lamp/telemetry"
"#;
    let reports = ops_dev_round("r7.toml", &text).await;
    let by = |name: &str| reports.iter().find(|r| r.canary == name).unwrap();
    assert_eq!(
        by("reads-own-telemetry").verdict,
        Verdict::Allowed,
        "{}",
        show(&reports)
    );
    // Whichever of the two leased the shared connection second found the other's filter there.
    let mut afresh = 0;
    for name in ["cannot-read-secret-under-hash", "cannot-read-secret"] {
        let canary = by(name);
        assert_eq!(
            (canary.verdict, canary.standing),
            (Verdict::Denied, Standing::Ok),
            "{}",
            show(&reports)
        );
        let steps = serde_json::to_string(&canary.evidence.steps).unwrap();
        if steps.contains("which also matches the marker topic: connecting afresh") {
            afresh += 1;
        }
        match &canary.evidence.observation {
            iot_canary_core::verdict::Observation::NotDelivered { proof } => {
                assert!(proof.through_filter_under_test, "{name}: {proof:?}");
                assert!(
                    proof.caught_up_after_bait && proof.bait_routed,
                    "{name}: {proof:?}"
                );
            }
            other => panic!("{name} denied without a delivery proof: {other:?}"),
        }
    }
    assert_eq!(
        afresh,
        1,
        "exactly the second canary must connect afresh\n{}",
        show(&reports)
    );
    lab.shutdown().await;
}

/// A marker the identity may not receive never arrives, so the subscription is never shown
/// live; the bait the witness then sends beside the markers still answers: a receive the
/// policy allows (here through a wildcard past a Deny on the marker's topic) is `allowed`,
/// not hidden as inconclusive, and a receive it refuses stays unproven (no denial without
/// liveness).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreceivable_marker_does_not_hide_an_allowed_receive() {
    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/dev-*"},
 {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/devices/*"},
 {"Effect":"Allow","Action":"iot:Receive","Resource":"arn:aws:iot:us-east-1:123456789012:topic/devices/other-lamp/telemetry"}]}"#;
    let lab = lab::start_plain(&Scenario::fixture("dev-lamp").policy("Dev", POLICY)).await;
    let text = ops_dev(&lab.endpoints.mqtt, "", PACE)
        + r#"
[[canary]]
name = "dev-connects"
identity = "dev"
action = "connect"
client_id = "dev-${canary}"
expect = "allow"

[[canary]]
name = "reads-other-telemetry-through-hash"
identity = "dev"
action = "receive"
witness = "ops"
topic = "devices/other-lamp/telemetry"
topic_filter = "devices/#"
marker_topic = "devices/iot-canary/marker"

[[canary]]
name = "cannot-read-other-cmd-through-hash"
identity = "dev"
action = "receive"
witness = "ops"
topic = "devices/other-lamp/cmd"
topic_filter = "devices/#"
marker_topic = "devices/iot-canary/marker"
"#;
    let reports = ops_dev_round("early-bait.toml", &text).await;
    let by = |name: &str| reports.iter().find(|r| r.canary == name).unwrap();
    let hole = by("reads-other-telemetry-through-hash");
    assert_eq!(hole.verdict, Verdict::Allowed, "{}", show(&reports));
    let steps = serde_json::to_string(&hole.evidence.steps).unwrap();
    assert!(
        steps.contains("the witness also publishes the bait"),
        "{}",
        show(&reports)
    );
    let refused = by("cannot-read-other-cmd-through-hash");
    assert_eq!(
        refused.verdict,
        Verdict::Inconclusive(Reason::NoDeliveryProof),
        "{}",
        show(&reports)
    );
    lab.shutdown().await;
}
