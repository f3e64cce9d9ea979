//! What every `denied` verdict must rest on: positive evidence of refusal. A fault (a dropped
//! socket, a timeout) read as a denial would hide a breach, so the fault tests count these.

use iot_canary_core::store::CanaryReport;
use iot_canary_core::verdict::{MqttVersion, Observation, Verdict, Waiting};

/// Whether a `denied` verdict rests on positive evidence of refusal (an explicit refusal
/// answering the probe's own request, a proven absence of the bait, or a 3.1.1 close that
/// repeated and was confirmed by a control) — restated from docs/evidence-rules.md, not
/// computed with the rules under test.
pub fn denial_is_evidenced(r: &CanaryReport) -> bool {
    let v311 = r.evidence.mqtt_version == MqttVersion::V311;
    match &r.evidence.observation {
        Observation::Connack { code } => *code == if v311 { 5 } else { 0x87 },
        Observation::Suback { code } | Observation::Puback { code } => !v311 && *code == 0x87,
        Observation::SubackSingledOut {
            code,
            attempts,
            gap_ms,
        } => {
            (!v311 && *code == 0x87) || (v311 && *code == 0x80 && *attempts >= 2 && *gap_ms >= 1000)
        }
        Observation::ServerDisconnect { code, waiting_for } => {
            *code == 0x87
                && matches!(
                    waiting_for,
                    Waiting::Suback | Waiting::Puback | Waiting::Connack
                )
        }
        Observation::NotDelivered { proof } => {
            proof.bait_routed
                && proof.through_filter_under_test
                && proof.live_before_bait
                && proof.caught_up_after_bait
                && proof.qos == 1
                && proof.grace_ms >= 200
        }
        Observation::ShadowAnswer {
            accepted: false,
            code: Some(401 | 403),
        } => true,
        Observation::ClosedWithoutAck { repeated, .. } => {
            *repeated
                && r.evidence
                    .steps
                    .iter()
                    .any(|s| s.what.starts_with("denial confirmed"))
        }
        _ => false,
    }
}

/// Counts `denied` verdicts without evidence (false denials) — must be zero.
pub fn false_denied(reports: &[CanaryReport]) -> usize {
    reports
        .iter()
        .filter(|r| r.verdict == Verdict::Denied && !denial_is_evidenced(r))
        .count()
}

/// Every report is `inconclusive` (a fault must never read as a verdict); `context` names the
/// case in a failure, with the reports' table.
pub fn assert_all_inconclusive(reports: &[CanaryReport], context: &str) {
    for r in reports {
        assert!(
            matches!(r.verdict, Verdict::Inconclusive(_)),
            "{context}: {} is {:?}\n{}",
            r.canary,
            r.verdict,
            iot_canary_core::report::table(reports)
        );
    }
}
