//! Honest verdicts under each of the lab's realism knobs (docs/realism.md), end to end: the
//! daemon's real probes, every kind, MQTT 5 and 3.1.1 in one round, against the dev-lamp
//! world with one knob (or a profile) switched on. The world's truth is known: its policy is
//! the fixture's tight one (dev may use its own lamp only; `probes::tight_*` proves every
//! canary's expectation with realism off), so a deny canary's truth is `denied` and a
//! control's is `allowed`.
//!
//! Every row asserts three things: (1) honesty — no verdict contradicts the truth (no false
//! `denied`, no false `allowed`) and every `denied` rests on evidence
//! (`testkit::verdicts::denial_is_evidenced`); (2) the knob really fired (the lab's `applied`
//! counters on `GET /realism`); (3) where the evidence rules are built to see through the knob
//! (latency, activation delay, QoS 0 losses, redelivery, reordering, AWS's limits), every
//! verdict is decided and equals the truth — inconclusive is honest but would be blindness
//! there; where the knob really takes the answer away (throttling, late acks, takeovers,
//! server disconnects), the expected inconclusive reasons appear.
//!
//! Rows run as separate tests (one lab each) so the harness spreads them over the cores.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use iot_canary_core::report;
use iot_canary_core::verdict::{Expect, MqttVersion, Observation, ProbeAction, Reason, Verdict};
use iot_canary_daemon::daemon::CanaryReport;
use iot_canary_lab::RunningLab;
use iot_canary_testkit::config::{Pace, dev_lamp_canaries, ops_dev};
use iot_canary_testkit::lab::{self, Admin};
use iot_canary_testkit::mqtt::{self as client, Ev, Mqtt};
use iot_canary_testkit::scenario::{OPS, Scenario};
use iot_canary_testkit::verdicts::denial_is_evidenced;

use crate::support::ops_dev_round;

/// A QoS 0 control beside the fixture's QoS 0 deny canary: QoS 0 losses must not fail it.
const PUB0_OWN: &str = r#"
[[canary]]
name = "pub0-own-v{v}"
identity = "dev"
action = "publish"
expect = "allow"
mqtt_version = "{version}"
topic = "devices/dev-lamp/cmd"
witness = "ops"
qos = 0
"#;

/// What a row demands beyond honesty.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Demand {
    /// Every verdict decided and equal to the truth.
    AllDecided,
    /// Honest; and at least one verdict is inconclusive with one of these reasons.
    SomeInconclusive(&'static [Reason]),
    /// Honest only (randomized profiles: which probe meets which fault varies).
    Honest,
}

/// The truth of a canary in the tight dev-lamp world.
fn truth(r: &CanaryReport) -> Verdict {
    match r.expect {
        Expect::Deny => Verdict::Denied,
        Expect::Allow => Verdict::Allowed,
    }
}

/// The dev-lamp world with `knobs` as its `[realism]` table, over plain websockets.
async fn lab_with(knobs: &str) -> RunningLab {
    lab::start_plain(&Scenario::fixture("dev-lamp").realism(knobs)).await
}

/// One round of every canary kind, MQTT 5 and 3.1.1, against `lab`.
async fn round_against(lab: &RunningLab, timeout: &str) -> Vec<CanaryReport> {
    let pace = Pace {
        timeout,
        connect_interval: "1s",
        delivery_grace: "700ms",
    };
    let mut text = ops_dev(&lab.endpoints.mqtt, "", pace);
    for (version, v) in [("5", "5"), ("3.1.1", "311")] {
        text.push_str(&dev_lamp_canaries(version, &[]));
        text.push_str(&PUB0_OWN.replace("{version}", version).replace("{v}", v));
    }
    ops_dev_round("realism.toml", &text).await
}

/// Asserts honesty and `demand` over `reports`; `context` names the row.
fn assert_honest(reports: &[CanaryReport], demand: Demand, context: &str) {
    let table = report::table(reports);
    assert_eq!(reports.len(), 34, "{context}: every canary ran\n{table}");
    let versions: BTreeSet<MqttVersion> = reports.iter().map(|r| r.evidence.mqtt_version).collect();
    assert_eq!(versions.len(), 2, "{context}: both MQTT versions\n{table}");
    for r in reports {
        match r.verdict {
            Verdict::Inconclusive(_) => {}
            v => assert_eq!(
                v,
                truth(r),
                "{context}: {} contradicts the policy ({:?})\n{table}",
                r.canary,
                r.evidence.observation
            ),
        }
        if r.verdict == Verdict::Denied {
            assert!(
                denial_is_evidenced(r),
                "{context}: {} denied without evidence: {:?}\n{table}",
                r.canary,
                r.evidence
            );
        }
    }
    match demand {
        Demand::AllDecided => {
            for r in reports {
                assert_eq!(
                    r.verdict,
                    truth(r),
                    "{context}: {} is blind under this knob\n{table}",
                    r.canary
                );
            }
        }
        Demand::SomeInconclusive(reasons) => assert!(
            reports
                .iter()
                .any(|r| matches!(r.verdict, Verdict::Inconclusive(x) if reasons.contains(&x))),
            "{context}: expected some of {reasons:?}\n{table}"
        ),
        Demand::Honest => {}
    }
}

/// How often the lab applied `knob` (`applied` on `GET /realism`).
async fn applied(lab: &RunningLab, knob: &str) -> u64 {
    Admin::of(lab).realism_state().await["applied"][knob]
        .as_u64()
        .unwrap_or_else(|| panic!("applied.{knob}"))
}

/// One row: the knob on, one round, honesty, the knob fired (each of `fired` > 0).
async fn row(knobs: &str, fired: &[&str], demand: Demand) -> Vec<CanaryReport> {
    let lab = lab_with(knobs).await;
    let reports = round_against(&lab, "10s").await;
    assert_honest(&reports, demand, knobs);
    for knob in fired {
        assert!(
            applied(&lab, knob).await > 0,
            "{knobs}: `{knob}` never fired\n{}",
            report::table(&reports)
        );
    }
    lab.shutdown().await;
    reports
}

/// Per-connection delivery latency and jitter (the field reports' network): receive verdicts
/// still decided, each denial with its markers and grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_latency_and_jitter() {
    let reports = row(
        "seed = 3\ndelivery_latency = { min = \"200ms\", max = \"1500ms\" }\ndelivery_jitter = \"300ms\"",
        &["delayed"],
        Demand::AllDecided,
    )
    .await;
    // The receive controls see the bait through the delay; the deny canaries are refused at
    // their SUBACK (the absence proof through latency is field_reports' subject).
    for r in reports.iter().filter(|r| r.action == ProbeAction::Receive) {
        let want = match r.expect {
            Expect::Allow => Observation::Delivered,
            Expect::Deny => r.evidence.observation.clone(),
        };
        assert_eq!(r.evidence.observation, want, "{}", r.canary);
    }
}

/// Subscriptions that match nothing until up to 2 s after their SUBACK: the markers wait for
/// liveness instead of a blanket sleep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_activation_delay() {
    row(
        "seed = 5\nactivation_delay = { min = \"300ms\", max = \"2s\" }",
        &["inactive_subscription"],
        Demand::AllDecided,
    )
    .await;
}

/// QoS 0 deliveries duplicated, and dropped: the QoS 0 publishes are judged by their QoS 1
/// copy, bait and markers are QoS 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos0_duplicates_and_drops() {
    row(
        "qos0_duplicate = 1.0",
        &["qos0_duplicated"],
        Demand::AllDecided,
    )
    .await;
    row("qos0_drop = 1.0", &["qos0_dropped"], Demand::AllDecided).await;
}

/// Every QoS 1 delivery sent again with a new packet id and no DUP flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_redelivery_with_new_packet_ids() {
    row(
        "qos1_redelivery = 1.0\nredelivery_delay = { min = \"0ms\", max = \"300ms\" }",
        &["qos1_redelivered"],
        Demand::AllDecided,
    )
    .await;
}

/// Acks and messages held back behind later packets (up to the grace): acks are matched by
/// packet id, the catch-up marker is followed by the grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_acks_and_messages() {
    row(
        "seed = 9\nreorder = 0.5\nreorder_window = \"500ms\"",
        &["reordered"],
        Demand::AllDecided,
    )
    .await;
}

/// Acks delivered after the client's timeout: the probe is inconclusive (timeout), its
/// connection is discarded, and the late ack is never credited to the next probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_after_the_client_timeout() {
    row(
        "seed = 13\nlate_ack = 0.3\nlate_ack_delay = \"12s\"",
        &["late_ack"],
        Demand::SomeInconclusive(&[Reason::Timeout]),
    )
    .await;
}

/// Every subscription throttled: MQTT 3.1.1 SUBACK 0x80 (the code AWS uses for throttling),
/// MQTT 5 SUBACK 0x97 — never a denial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_subscriptions_suback_0x80_and_0x97() {
    let reports = row(
        "subscribe_throttle = 1.0",
        &["subscribe_throttled"],
        Demand::SomeInconclusive(&[Reason::Throttled]),
    )
    .await;
    for v in [MqttVersion::V5, MqttVersion::V311] {
        let sub = reports
            .iter()
            .find(|r| r.canary.starts_with("sub-other") && r.evidence.mqtt_version == v)
            .expect("sub-other");
        assert_eq!(
            sub.verdict,
            Verdict::Inconclusive(Reason::Throttled),
            "{}",
            report::table(&reports)
        );
        // A throttled witness subscription is tried once more after a backoff before the
        // witness gives up (both attempts throttled here).
        let retried = reports.iter().any(|r| {
            r.evidence.mqtt_version == v
                && matches!(r.evidence.observation, Observation::WitnessFailed { .. })
                && r.evidence
                    .steps
                    .iter()
                    .filter(|s| s.what.starts_with("SUBACK"))
                    .count()
                    >= 2
                && r.evidence
                    .steps
                    .iter()
                    .any(|s| s.what.starts_with("throttling code: trying again"))
        });
        assert!(
            retried,
            "{v:?}: no witness retried\n{}",
            report::table(&reports)
        );
    }
}

/// Account-wide publish and subscribe rates far below the round's needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_wide_throttling() {
    row(
        "account_publishes_per_second = 2\naccount_subscriptions_per_second = 2",
        &["publish_throttled", "subscribe_throttled"],
        Demand::SomeInconclusive(&[Reason::Throttled, Reason::WitnessFailed, Reason::Timeout]),
    )
    .await;
}

/// Shadow requests rejected with 404 (the request passed authorization), 429 and 500
/// (inconclusive); and with 401/403, which the verdict names as the shadow service's denial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_rejections() {
    let reports = row(
        "seed = 17\nshadow_rejection = 1.0\nshadow_rejection_codes = [404, 429, 500]",
        &["shadow_rejected"],
        Demand::Honest,
    )
    .await;
    let answered: Vec<_> = reports
        .iter()
        .filter(|r| matches!(r.evidence.observation, Observation::ShadowAnswer { .. }))
        .collect();
    assert!(!answered.is_empty(), "{}", report::table(&reports));
    for r in answered {
        let Observation::ShadowAnswer { code, .. } = r.evidence.observation else {
            unreachable!()
        };
        let want = match code {
            Some(404) => Verdict::Allowed,
            Some(429) => Verdict::Inconclusive(Reason::Throttled),
            _ => Verdict::Inconclusive(Reason::Protocol),
        };
        assert_eq!(r.verdict, want, "{}: {code:?}", r.canary);
    }

    // 403 for requests the policy allows: the lab makes the shadow service refuse, and the
    // verdict says exactly that (the own-shadow controls are denied by the shadow service).
    let lab = lab_with("shadow_rejection = 1.0\nshadow_rejection_codes = [403]").await;
    let reports = round_against(&lab, "10s").await;
    let table = report::table(&reports);
    let refused: Vec<_> = reports
        .iter()
        .filter(|r| {
            r.evidence.observation
                == Observation::ShadowAnswer {
                    accepted: false,
                    code: Some(403),
                }
        })
        .collect();
    assert!(!refused.is_empty(), "{table}");
    for r in refused {
        assert_eq!(r.verdict, Verdict::Denied, "{}\n{table}", r.canary);
        let text = iot_canary_core::evidence::describe(&r.evidence.observation);
        assert!(text.contains("shadow service"), "{}: {text}", r.canary);
    }
    // The deny canaries on other-lamp never reach the shadow service: refused by the broker.
    for r in reports
        .iter()
        .filter(|r| r.expect == Expect::Deny && r.canary.starts_with("sh"))
    {
        assert_ne!(r.verdict, Verdict::Allowed, "{}\n{table}", r.canary);
    }
    lab.shutdown().await;
}

/// The account's retained-message maximum already reached (one retained message elsewhere):
/// retained publishes are throttled, never read as allowed or denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_message_limit() {
    let lab = lab_with("max_retained = 1\nretain_reserved_refused = true").await;
    let mut seed = client::connect(&lab, Mqtt::V5, OPS, "ops-seed")
        .connected()
        .await;
    seed.publish("devices/other-lamp/seed", 1, true, b"a device's state")
        .await;
    loop {
        if let Ev::PubAck(_, code) = seed.next().await {
            assert_eq!(code, 0);
            break;
        }
    }
    let reports = round_against(&lab, "10s").await;
    let table = report::table(&reports);
    assert_honest(&reports, Demand::Honest, "max_retained");
    assert!(applied(&lab, "retain_refused").await > 0, "{table}");
    for r in reports
        .iter()
        .filter(|r| r.action == ProbeAction::Retain && r.expect == Expect::Allow)
    {
        assert!(
            matches!(r.verdict, Verdict::Inconclusive(_)),
            "{}: a throttled retained publish is no proof\n{table}",
            r.canary
        );
    }
    lab.shutdown().await;
}

/// AWS's topic and client-id limits (7 slashes, 256 bytes, 8 filters per SUBSCRIBE, 128-byte
/// client ids): the canaries (checked by `check`) stay within them, nothing is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_limits_are_respected() {
    let lab = lab_with(
        "topic_slashes = 7\ntopic_bytes = 256\nfilters_per_subscribe = 8\nsubscriptions_per_connection = 50\nclient_id_bytes = 128",
    )
    .await;
    let reports = round_against(&lab, "10s").await;
    assert_honest(&reports, Demand::AllDecided, "limits");
    assert_eq!(applied(&lab, "limit_refused").await, 0);
    lab.shutdown().await;

    // One subscription per connection: a receive probe's liveness marker comes through the
    // filter under test itself (R2, R7), so no probe needs a second filter and none is
    // refused as over quota; every verdict stays honest.
    let knobs = "subscriptions_per_connection = 1";
    let lab = lab_with(knobs).await;
    let reports = round_against(&lab, "10s").await;
    assert_honest(&reports, Demand::Honest, knobs);
    assert_eq!(
        applied(&lab, "limit_refused").await,
        0,
        "{}",
        report::table(&reports)
    );
    lab.shutdown().await;
}

/// Another process takes the canary identity's client ids over again and again during the
/// round (3.1.1: a bare close, 5: DISCONNECT 0x8E).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_id_takeover() {
    let lab = lab_with("").await;
    let admin = Admin::of(&lab);
    let ids: Vec<String> = [
        "recv", "sub", "pub", "retain", "shget", "shupd", "shdel", "pub0",
    ]
    .iter()
    .flat_map(|k| {
        ["own", "other"]
            .iter()
            .flat_map(move |w| ["5", "311"].map(|v| format!("dev-{k}-{w}-v{v}")))
    })
    .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let taker = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut taken = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for id in &ids {
                    if admin.take_over(id).await == 200 {
                        taken += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            taken
        })
    };
    let reports = round_against(&lab, "10s").await;
    stop.store(true, Ordering::Relaxed);
    let taken = taker.await.unwrap();
    assert!(taken > 0, "{}", report::table(&reports));
    assert_honest(&reports, Demand::Honest, "takeover");
    assert!(applied(&lab, "taken_over").await > 0);
    lab.shutdown().await;
}

/// Server-initiated disconnects (maintenance 0x8B, takeover 0x8E, 0x98) at random times, and a
/// connection lifetime cap of a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_disconnects_and_lifetime_cap() {
    row(
        "seed = 21\nserver_disconnect = 0.5\nserver_disconnect_after = { min = \"0ms\", max = \"2s\" }\nserver_disconnect_codes = [0x8B, 0x8E, 0x98]",
        &["server_disconnect"],
        Demand::Honest,
    )
    .await;
    row(
        "seed = 23\nconnection_lifetime = { min = \"500ms\", max = \"3s\" }",
        &["lifetime_closed"],
        Demand::Honest,
    )
    .await;
}

/// The two profiles: `aws` (documented behaviours at their magnitudes) keeps every verdict
/// decided here; `chaos` (everything amplified and randomized) stays honest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_aws_and_chaos() {
    let lab = lab_with("profile = \"aws\"").await;
    let reports = round_against(&lab, "10s").await;
    assert_honest(&reports, Demand::AllDecided, "aws");
    lab.shutdown().await;
    for seed in [1, 2] {
        let lab = lab_with(&format!("profile = \"chaos\"\nseed = {seed}")).await;
        let reports = round_against(&lab, "10s").await;
        assert_honest(&reports, Demand::Honest, &format!("chaos seed {seed}"));
        lab.shutdown().await;
    }
}
