//! The two field reports of the honesty issue, reproduced: through a network where one client's
//! two connections see the same message about a second apart (a per-connection latency relay
//! between the daemon and the lab: the canary identity's connections 1.5 s slower than the
//! witness's), (1) a canary whose identity really can receive a forbidden topic through a
//! wildcard was reported `denied`, hiding the breach, and (2) a working receive control was
//! reported `denied`. Both must now be `allowed`; a receive canary the policy really refuses
//! behind the same wildcard subscription must be `denied` only with its proof (markers through
//! that wildcard filter itself — dev's own lamp's telemetry — before and after the bait, then
//! the grace), in MQTT 5 and 3.1.1.

use std::time::Duration;

use iot_canary_core::verdict::{Expect, Observation, ProbeAction, Standing, Verdict};
use iot_canary_testkit::config::{Pace, dev_lamp_canaries, ops_dev};
use iot_canary_testkit::lab;
use iot_canary_testkit::net::addr_of;
use iot_canary_testkit::relay::{self, Delay};
use iot_canary_testkit::scenario::{DEV, Scenario};
use iot_canary_testkit::verdicts::denial_is_evidenced;

use crate::support::ops_dev_round;

/// dev may subscribe to every device's topics through a wildcard and receive its own lamp's
/// and (the hole) other-lamp's, but not third-lamp's.
const WILDCARD_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/dev-*"},
 {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/devices/*"},
 {"Effect":"Allow","Action":["iot:Receive","iot:Publish"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/devices/dev-lamp/*","arn:aws:iot:us-east-1:123456789012:topic/devices/other-lamp/*"]}]}"#;

/// How much later the canary identity's connections see everything.
const CANARY_LATENCY: Duration = Duration::from_millis(1500);

/// dev's receive canaries behind the wildcard `devices/+/telemetry` for MQTT `version`: the
/// hole (other-lamp, which the policy lets dev receive) and the tight one (third-lamp, which it
/// does not), both proven by markers on dev's own lamp's telemetry.
fn wildcard_receives(version: &str) -> String {
    let v = version.replace('.', "");
    [("hole", "other-lamp"), ("tight", "third-lamp")]
        .iter()
        .map(|(kind, lamp)| {
            format!(
                r#"
[[canary]]
name = "recv-wildcard-{kind}-v{v}"
identity = "dev"
action = "receive"
topic = "devices/{lamp}/telemetry"
topic_filter = "devices/+/telemetry"
witness = "ops"
marker_topic = "devices/dev-lamp/telemetry"
mqtt_version = "{version}"
"#
            )
        })
        .collect()
}

/// The canaries `canaries` writes for MQTT 5 and for 3.1.1, in one round through the latency
/// relay.
async fn round_through_latency(
    canaries: impl Fn(&str) -> String,
) -> Vec<iot_canary_daemon::daemon::CanaryReport> {
    let scenario = Scenario::fixture("dev-lamp")
        .policy("Dev", WILDCARD_POLICY)
        .thing("third-lamp", "ops");
    let lab = lab::start_plain(&scenario).await;
    // The witness (ops) is near; the canary identity (dev) is 1.5 s away from the broker.
    let dev_key = DEV.0.to_string();
    let relay = relay::latency(addr_of(&lab.endpoints.mqtt), move |line| {
        if line.contains(&dev_key) {
            Delay {
                up: Duration::ZERO,
                down: CANARY_LATENCY,
            }
        } else {
            Delay::default()
        }
    })
    .await;
    let pace = Pace {
        timeout: "30s",
        connect_interval: "1s",
        delivery_grace: "1s",
    };
    let mut text = ops_dev(&relay, "", pace);
    for v in ["5", "3.1.1"] {
        text.push_str(&canaries(v));
    }
    let reports = ops_dev_round("field.toml", &text).await;
    lab.shutdown().await;
    reports
}

fn assert_verdict(
    reports: &[iot_canary_daemon::daemon::CanaryReport],
    prefix: &str,
    want: (Verdict, Standing),
) {
    let table = iot_canary_core::report::table(reports);
    let rs: Vec<_> = reports
        .iter()
        .filter(|r| r.canary.starts_with(prefix))
        .collect();
    assert_eq!(rs.len(), 2, "{prefix}\n{table}");
    for r in rs {
        assert_eq!((r.verdict, r.standing), want, "{}\n{table}", r.canary);
        match r.verdict {
            Verdict::Allowed if r.action == ProbeAction::Receive => {
                assert_eq!(
                    r.evidence.observation,
                    Observation::Delivered,
                    "{}",
                    r.canary
                )
            }
            Verdict::Denied if r.expect == Expect::Deny => {
                assert!(denial_is_evidenced(r), "{}: {:?}", r.canary, r.evidence);
                assert!(
                    matches!(r.evidence.observation, Observation::NotDelivered { proof } if proof.grace_ms >= 1000),
                    "{}: {:?}",
                    r.canary,
                    r.evidence.observation
                );
            }
            _ => {}
        }
    }
}

/// Field report 1: the breach through the wildcard must not read as `denied`; the policy's
/// real refusal behind the same subscription is `denied` with its proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_does_not_hide_a_breach_through_a_wildcard() {
    let reports =
        round_through_latency(|v| dev_lamp_canaries(v, &["sub-own"]) + &wildcard_receives(v)).await;
    assert_verdict(
        &reports,
        "recv-wildcard-hole",
        (Verdict::Allowed, Standing::Breach),
    );
    assert_verdict(
        &reports,
        "recv-wildcard-tight",
        (Verdict::Denied, Standing::Ok),
    );
    assert_verdict(&reports, "sub-own", (Verdict::Allowed, Standing::Ok));
}

/// Field report 2: a working receive control must not read as `denied` (control failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_does_not_fail_a_working_receive_control() {
    let reports = round_through_latency(|v| dev_lamp_canaries(v, &["sub-own", "recv-own"])).await;
    assert_verdict(&reports, "recv-own", (Verdict::Allowed, Standing::Ok));
    assert_verdict(&reports, "sub-own", (Verdict::Allowed, Standing::Ok));
}
