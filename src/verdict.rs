//! Verdicts: the three outcomes a probe may end in, and the fixed vocabulary used in metrics,
//! reports and alerts. Classification of evidence into a verdict lives here too (pure).

use std::fmt;

/// What the canary expects of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// A canary: the attempt must be refused.
    Deny,
    /// A control: the attempt must succeed (proves the canary can see).
    Allow,
}

/// Probe kinds (interface: `action` in canaries.toml and the `action` metric label).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeAction {
    Connect,
    Publish,
    Subscribe,
    Receive,
    Retain,
    ShadowGet,
    ShadowUpdate,
    ShadowDelete,
}

impl ProbeAction {
    pub const ALL: [ProbeAction; 8] = [
        ProbeAction::Connect,
        ProbeAction::Publish,
        ProbeAction::Subscribe,
        ProbeAction::Receive,
        ProbeAction::Retain,
        ProbeAction::ShadowGet,
        ProbeAction::ShadowUpdate,
        ProbeAction::ShadowDelete,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ProbeAction::Connect => "connect",
            ProbeAction::Publish => "publish",
            ProbeAction::Subscribe => "subscribe",
            ProbeAction::Receive => "receive",
            ProbeAction::Retain => "retain",
            ProbeAction::ShadowGet => "shadow-get",
            ProbeAction::ShadowUpdate => "shadow-update",
            ProbeAction::ShadowDelete => "shadow-delete",
        }
    }
}

impl fmt::Display for ProbeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a probe could not see (interface: the `reason` label of
/// `iot_canary_inconclusive_total`; a fixed list so label cardinality stays bounded).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No answer within the probe timeout.
    Timeout,
    /// TCP/DNS/socket failure before the MQTT exchange could say anything.
    Network,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// The websocket upgrade was refused (HTTP 4xx/5xx): authentication, not authorization.
    UpgradeRejected,
    /// The identity has no valid credentials (fetch/refresh failed or expired).
    Credentials,
    /// Quota or rate limit (MQTT 5 0x97, throttling).
    Throttled,
    /// The server said something the probe cannot interpret as allow or deny.
    Protocol,
    /// The identity's control probe did not succeed, so its denials prove nothing.
    ControlFailed,
    /// The witness identity could not observe or publish, so the probe proves nothing.
    WitnessFailed,
    /// The probe was abandoned (shutdown or round deadline).
    Aborted,
}

impl Reason {
    pub const ALL: [Reason; 10] = [
        Reason::Timeout,
        Reason::Network,
        Reason::Tls,
        Reason::UpgradeRejected,
        Reason::Credentials,
        Reason::Throttled,
        Reason::Protocol,
        Reason::ControlFailed,
        Reason::WitnessFailed,
        Reason::Aborted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Network => "network",
            Reason::Tls => "tls",
            Reason::UpgradeRejected => "upgrade_rejected",
            Reason::Credentials => "credentials",
            Reason::Throttled => "throttled",
            Reason::Protocol => "protocol",
            Reason::ControlFailed => "control_failed",
            Reason::WitnessFailed => "witness_failed",
            Reason::Aborted => "aborted",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one probe. `Denied` is only ever produced from positive evidence of refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "reason")]
pub enum Verdict {
    Denied,
    Allowed,
    Inconclusive(Reason),
}

impl Verdict {
    /// The `verdict` label value.
    pub const fn label(self) -> &'static str {
        match self {
            Verdict::Denied => "denied",
            Verdict::Allowed => "allowed",
            Verdict::Inconclusive(_) => "inconclusive",
        }
    }

    pub const LABELS: [&'static str; 3] = ["denied", "allowed", "inconclusive"];
}

/// How a verdict reads against what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Deny canary denied, or control allowed.
    Ok,
    /// Deny canary allowed: someone can reach what they must not.
    Breach,
    /// Control refused: users lost access they should have.
    ControlFailed,
    /// Inconclusive: the canary could not see.
    Blind,
}

pub fn standing(expect: Expect, verdict: Verdict) -> Standing {
    match (expect, verdict) {
        (_, Verdict::Inconclusive(_)) => Standing::Blind,
        (Expect::Deny, Verdict::Denied) | (Expect::Allow, Verdict::Allowed) => Standing::Ok,
        (Expect::Deny, Verdict::Allowed) => Standing::Breach,
        (Expect::Allow, Verdict::Denied) => Standing::ControlFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standing_table() {
        use Expect::*;
        let rows = [
            (Deny, Verdict::Denied, Standing::Ok),
            (Deny, Verdict::Allowed, Standing::Breach),
            (
                Deny,
                Verdict::Inconclusive(Reason::Timeout),
                Standing::Blind,
            ),
            (Allow, Verdict::Allowed, Standing::Ok),
            (Allow, Verdict::Denied, Standing::ControlFailed),
            (
                Allow,
                Verdict::Inconclusive(Reason::Network),
                Standing::Blind,
            ),
        ];
        for (e, v, s) in rows {
            assert_eq!(standing(e, v), s, "{e:?} {v:?}");
        }
    }

    #[test]
    fn reason_labels_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Reason::ALL {
            assert!(
                r.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
            assert!(seen.insert(r.as_str()));
        }
    }
}
