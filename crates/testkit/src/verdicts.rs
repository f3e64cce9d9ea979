//! What every `denied` verdict must rest on: positive evidence of refusal. A fault (a dropped
//! socket, a timeout) read as a denial would hide a breach, so the fault tests count these.

use iot_canary_core::store::CanaryReport;
use iot_canary_core::verdict::{Observation, Verdict};

/// Whether a `denied` verdict rests on positive evidence of refusal (an explicit MQTT 5
/// refusal, a routed-but-not-delivered bait, or a 3.1.1 close confirmed by a control).
pub fn denial_is_evidenced(r: &CanaryReport) -> bool {
    match &r.evidence.observation {
        Observation::Connack { code }
        | Observation::Suback { code }
        | Observation::Puback { code } => *code == 0x87 || *code == 0x80 || *code == 0x05,
        Observation::ServerDisconnect { code, .. } => *code == 0x87,
        Observation::NotDelivered => true,
        Observation::ClosedWithoutAck { .. } => r
            .evidence
            .steps
            .iter()
            .any(|s| s.what.starts_with("denial confirmed")),
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
