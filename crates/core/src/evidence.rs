//! What a probe saw (the decisive observation and the trail that led to it), and how it is
//! told to people: one sentence per observation, and lines for alerts and the status page.

use crate::verdict::{MqttVersion, Observation};

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

/// A human sentence for an observation (reports).
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
        Observation::TimedOut { waiting_for } => format!("timed out waiting for {waiting_for:?}"),
        Observation::Aborted => "abandoned".into(),
        Observation::Connack { code } => format!("CONNACK 0x{code:02X}"),
        Observation::ServerDisconnect { code, .. } => format!("server DISCONNECT 0x{code:02X}"),
        Observation::ClosedWithoutAck {
            waiting_for,
            after_ms,
        } => {
            format!("socket closed {after_ms} ms after the request without {waiting_for:?}")
        }
        Observation::Puback { code } => format!("PUBACK 0x{code:02X}"),
        Observation::Suback { code } => format!("SUBACK 0x{code:02X}"),
        Observation::Delivered => "delivered (the canary's traffic got through)".into(),
        Observation::NotDelivered => {
            "not delivered although the witness proved it was routed".into()
        }
        Observation::WitnessFailed => "the witness could not observe".into(),
        Observation::Unexpected { detail } => format!("unexpected: {detail}"),
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
