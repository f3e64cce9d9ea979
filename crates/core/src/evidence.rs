//! What a probe saw (the decisive observation and the trail that led to it), and how it is
//! told to people: one sentence per observation, and lines for alerts and the status page.

use crate::verdict::{ApiAnswer, DeliveryProof, MqttVersion, Observation};

/// One line of the evidence trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// Milliseconds since the probe started.
    pub at_ms: u64,
    pub what: String,
}

/// What a probe saw: the decisive observation plus the trail that led to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    pub mqtt_version: MqttVersion,
    pub client_id: String,
    pub observation: Observation,
    pub steps: Vec<Step>,
}

/// A human sentence for an observation (reports): what was observed, never a Debug dump.
pub fn describe(obs: &Observation) -> String {
    match obs {
        Observation::CredentialsUnavailable => "no credentials for the identity".into(),
        Observation::UpgradeRejected { status } => {
            format!("websocket upgrade refused with HTTP {status}")
        }
        Observation::TlsFailed => "TLS handshake failed".into(),
        Observation::NetworkFailed => "network failure before any MQTT answer".into(),
        Observation::DnsFailed => "the endpoint's host name did not resolve".into(),
        Observation::TcpRefused => {
            "TCP connection refused: nothing listens at the endpoint's address and port".into()
        }
        Observation::TimedOut { waiting_for } => {
            format!("timed out waiting for {}", waiting_for.phrase())
        }
        Observation::Aborted => "abandoned".into(),
        Observation::Connack { code } => format!("CONNACK 0x{code:02X}"),
        Observation::ServerDisconnect { code, waiting_for } => {
            format!(
                "server DISCONNECT 0x{code:02X} while waiting for {}",
                waiting_for.phrase()
            )
        }
        Observation::ClosedWithoutAck {
            waiting_for,
            after_ms,
            repeated,
        } => {
            let again = if *repeated {
                ", twice on fresh connections"
            } else {
                ""
            };
            format!(
                "socket closed {after_ms} ms after the request without {}{again}",
                waiting_for.phrase()
            )
        }
        Observation::Puback { code } => format!("PUBACK 0x{code:02X}"),
        Observation::Suback { code } => format!("SUBACK 0x{code:02X}"),
        Observation::SubackSingledOut {
            code,
            attempts,
            gap_ms,
        } => format!(
            "SUBACK 0x{code:02X} on {attempts} SUBSCRIBEs {gap_ms} ms apart while a filter the identity may subscribe to was granted in the same packets"
        ),
        Observation::Delivered => "delivered (the canary's traffic got through)".into(),
        Observation::NotDelivered { proof } => describe_absence(proof),
        Observation::ShadowAnswer { accepted: true, .. } => {
            "the shadow service accepted the request".into()
        }
        Observation::ShadowAnswer {
            accepted: false,
            code: Some(c @ (401 | 403)),
        } => format!("the shadow service rejected the request with {c} (denied by the shadow service)"),
        Observation::ShadowAnswer {
            accepted: false,
            code: Some(404),
        } => "the shadow service answered 404 (no such shadow: the request passed authorization)".into(),
        Observation::ShadowAnswer {
            accepted: false,
            code: Some(c),
        } => format!("the shadow service rejected the request with {c}"),
        Observation::ShadowAnswer {
            accepted: false,
            code: None,
        } => "the shadow service rejected the request without a code".into(),
        Observation::RetainedSeen => {
            "a fresh witness subscription received the canary's message as retained".into()
        }
        Observation::RetainedNotSeen => {
            "the retained publish was acknowledged, but a fresh witness subscription did not receive it".into()
        }
        Observation::RetainedInUse => {
            "the topic holds a retained message the canary did not set and the identity may publish there; not overwritten".into()
        }
        Observation::ApiAnswer(a) => describe_api(a),
        Observation::ShadowAbsent => {
            "the thing has no such shadow; the probe never creates one, so it did not try the update".into()
        }
        Observation::WitnessFailed { detail } => format!("the witness could not observe: {detail}"),
        Observation::Unexpected { detail } => format!("unexpected: {detail}"),
    }
}

/// An AWS API's answer: status, error type and message fragment, and the ARN tested.
fn describe_api(a: &ApiAnswer) -> String {
    let mut out = match &a.error_type {
        None if (200..=299).contains(&a.status) => {
            format!("HTTP {} (the call succeeded)", a.status)
        }
        None => format!("HTTP {} without an AWS error type", a.status),
        Some(t) => format!("HTTP {} {t}", a.status),
    };
    if let Some(m) = &a.message {
        out.push_str(&format!(": \"{m}\""));
    }
    if !a.resource.is_empty() {
        out.push_str(&format!(" (resource tested: {})", a.resource));
    }
    out
}

/// Why a bait that did not arrive does (or does not) prove anything.
fn describe_absence(p: &DeliveryProof) -> String {
    if p.through_filter_under_test
        && p.live_before_bait
        && p.caught_up_after_bait
        && p.qos == 1
        && !p.bait_routed
    {
        return "not delivered, but the witness never saw the bait routed".into();
    }
    let mut missing = Vec::new();
    if !p.through_filter_under_test {
        missing.push(
            "no liveness marker could arrive through the filter under test (a marker through another filter does not show this one active)",
        );
    } else if !p.live_before_bait {
        missing.push("no liveness marker arrived (the subscription was never shown active)");
    }
    if !p.caught_up_after_bait {
        missing.push("no marker published after the bait arrived");
    }
    if p.qos != 1 {
        missing.push("QoS 0 proves no absence");
    }
    if missing.is_empty() {
        format!(
            "not delivered: the subscription was live before the bait, caught up after it, and waited {} ms more",
            p.grace_ms
        )
    } else {
        format!("not delivered, but unproven: {}", missing.join("; "))
    }
}

/// Evidence as lines for alerts and the status page: the observation, then each step.
pub fn evidence_lines(e: &Evidence) -> Vec<String> {
    let mut out = Vec::with_capacity(e.steps.len() + 1);
    out.push(describe(&e.observation));
    out.extend(
        e.steps
            .iter()
            .map(|s| format!("+{} ms: {}", s.at_ms, s.what)),
    );
    out
}
