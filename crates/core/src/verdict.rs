//! Verdicts: the three outcomes a probe may end in, and the fixed vocabulary used in metrics,
//! reports and alerts. Classification of evidence into a verdict lives here too (pure).

/// `Display` as the label `as_str` gives: the vocabulary enums print as they appear in
/// metrics, reports and config.
macro_rules! display_as_str {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use display_as_str;

/// What the canary expects of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// A canary: the attempt must be refused.
    Deny,
    /// A control: the attempt must succeed (proves the canary can see).
    Allow,
}

impl Expect {
    pub const fn as_str(self) -> &'static str {
        match self {
            Expect::Deny => "deny",
            Expect::Allow => "allow",
        }
    }
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

display_as_str!(ProbeAction);

/// Why a probe could not see (interface: the `reason` label of
/// `iot_canary_inconclusive_total`; a fixed list so label cardinality stays bounded).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No answer within the probe timeout, or a TCP connect or TLS handshake that stalled.
    Timeout,
    /// A socket failure before the MQTT exchange could say anything that is none of the
    /// named ones below (unreachable host or network, reset during the handshake).
    Network,
    /// The endpoint's host name did not resolve (typo in `endpoint`, DNS outage).
    Dns,
    /// Nothing listens at the endpoint's address and port (TCP RST to the SYN: wrong port,
    /// a proxy or VPC endpoint down).
    TcpRefused,
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
    /// The canary's own CONNECT (with its own client id) was refused, so the action under test
    /// was never attempted.
    ConnectRefused,
    /// An MQTT 3.1.1 socket closed without an answer and no control confirmed it right after:
    /// a denial and a dropped connection look the same.
    SocketClosed,
}

impl Reason {
    pub const ALL: [Reason; 14] = [
        Reason::Timeout,
        Reason::Network,
        Reason::Dns,
        Reason::TcpRefused,
        Reason::Tls,
        Reason::UpgradeRejected,
        Reason::Credentials,
        Reason::Throttled,
        Reason::Protocol,
        Reason::ControlFailed,
        Reason::WitnessFailed,
        Reason::Aborted,
        Reason::ConnectRefused,
        Reason::SocketClosed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Network => "network",
            Reason::Dns => "dns",
            Reason::TcpRefused => "tcp_refused",
            Reason::Tls => "tls",
            Reason::UpgradeRejected => "upgrade_rejected",
            Reason::Credentials => "credentials",
            Reason::Throttled => "throttled",
            Reason::Protocol => "protocol",
            Reason::ControlFailed => "control_failed",
            Reason::WitnessFailed => "witness_failed",
            Reason::Aborted => "aborted",
            Reason::ConnectRefused => "connect_refused",
            Reason::SocketClosed => "socket_closed",
        }
    }
}

display_as_str!(Reason);

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

impl Standing {
    pub const fn as_str(self) -> &'static str {
        match self {
            Standing::Ok => "ok",
            Standing::Breach => "breach",
            Standing::ControlFailed => "control_failed",
            Standing::Blind => "blind",
        }
    }
}

pub fn standing(expect: Expect, verdict: Verdict) -> Standing {
    match (expect, verdict) {
        (_, Verdict::Inconclusive(_)) => Standing::Blind,
        (Expect::Deny, Verdict::Denied) | (Expect::Allow, Verdict::Allowed) => Standing::Ok,
        (Expect::Deny, Verdict::Allowed) => Standing::Breach,
        (Expect::Allow, Verdict::Denied) => Standing::ControlFailed,
    }
}

/// MQTT protocol version a probe speaks (interface: `mqtt_version` in canaries.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum MqttVersion {
    /// MQTT 3.1.1: denials close the socket without a reason.
    V311,
    /// MQTT 5: denials carry explicit reason codes (0x87).
    #[default]
    V5,
}

impl MqttVersion {
    pub const ALL: [MqttVersion; 2] = [MqttVersion::V5, MqttVersion::V311];

    pub const fn as_str(self) -> &'static str {
        match self {
            MqttVersion::V311 => "3.1.1",
            MqttVersion::V5 => "5",
        }
    }
}

display_as_str!(MqttVersion);

impl std::str::FromStr for MqttVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "5" | "5.0" => Ok(MqttVersion::V5),
            "3.1.1" => Ok(MqttVersion::V311),
            other => Err(format!(
                "unknown MQTT version `{other}`, expected \"5\" or \"3.1.1\""
            )),
        }
    }
}

impl serde::Serialize for MqttVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for MqttVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a probe was waiting for when the exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Waiting {
    Credentials,
    Connack,
    Suback,
    Puback,
    /// A message delivery (bait nonce, the witness's view of a publish, a shadow response).
    Delivery,
    /// The witness's own setup (its subscription or publish).
    Witness,
}

/// The decisive observation of a probe: the one fact its verdict rests on. The probe decides
/// which of its observations is decisive; `classify` decides what that fact proves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Observation {
    /// The identity had no usable credentials, so nothing was attempted.
    CredentialsUnavailable,
    /// The websocket upgrade was answered with an HTTP error status (authentication failed).
    UpgradeRejected { status: u16 },
    /// The TLS handshake or certificate verification failed.
    TlsFailed,
    /// A socket failure that says nothing about authorization (none of the named ones).
    NetworkFailed,
    /// The endpoint's host name did not resolve.
    DnsFailed,
    /// The TCP connection was refused: nothing listens at the endpoint's address and port.
    TcpRefused,
    /// Nothing decisive arrived before the probe's deadline.
    TimedOut { waiting_for: Waiting },
    /// The probe was abandoned (shutdown).
    Aborted,
    /// The server answered CONNECT (v5 reason code or 3.1.1 return code).
    Connack { code: u8 },
    /// The server sent an MQTT 5 DISCONNECT with this reason code.
    ServerDisconnect { code: u8, waiting_for: Waiting },
    /// The socket closed without any acknowledgement.
    ClosedWithoutAck { waiting_for: Waiting, after_ms: u64 },
    /// PUBACK for the canary's publish (3.1.1 PUBACKs carry no code: 0).
    Puback { code: u8 },
    /// SUBACK return code for the canary's single topic filter.
    Suback { code: u8 },
    /// The thing under test got through: bait nonce received by the canary, the witness
    /// received the canary's publish, or the shadow service answered the canary.
    Delivered,
    /// The witness proved the message was routed (it received it, or a later marker), and the
    /// canary never received it within the grace window.
    NotDelivered,
    /// The witness could not set up or observe, so the probe proves nothing.
    WitnessFailed,
    /// The client reported something that is neither an answer nor a transport failure.
    Unexpected { detail: String },
}

/// The verdict of one probe before control pairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Classified {
    Final(Verdict),
    /// An MQTT 3.1.1 socket close: a denial only if the identity's control succeeds right after
    /// on a fresh connection.
    DeniedIfControlConfirms,
}

const V5_SUCCESS: u8 = 0x00;
const V5_NO_MATCHING_SUBSCRIBERS: u8 = 0x10;
const V5_NOT_AUTHORIZED: u8 = 0x87;
const V5_BAD_USER_PASSWORD: u8 = 0x86;
const V5_BAD_AUTH_METHOD: u8 = 0x8C;
const V5_SERVER_BUSY: u8 = 0x89;
const V5_SERVER_SHUTTING_DOWN: u8 = 0x8B;
const V5_MESSAGE_RATE_TOO_HIGH: u8 = 0x96;
const V5_QUOTA_EXCEEDED: u8 = 0x97;
const V5_CONNECTION_RATE_EXCEEDED: u8 = 0x9F;
const V311_BAD_USER_PASSWORD: u8 = 4;
const V311_NOT_AUTHORIZED: u8 = 5;
const V311_SERVER_UNAVAILABLE: u8 = 3;
const V311_SUBACK_FAILURE: u8 = 0x80;

fn is_throttle(code: u8) -> bool {
    matches!(
        code,
        V5_QUOTA_EXCEEDED | V5_CONNECTION_RATE_EXCEEDED | V5_MESSAGE_RATE_TOO_HIGH | V5_SERVER_BUSY
    )
}

/// Evidence → verdict. `Denied` only from positive evidence of refusal; everything that could
/// also be a network, authentication or quota problem is inconclusive with that reason.
pub fn classify(version: MqttVersion, action: ProbeAction, obs: &Observation) -> Classified {
    use Classified::{DeniedIfControlConfirms, Final};
    use Verdict::{Allowed, Denied, Inconclusive as Inc};
    let is_connect = action == ProbeAction::Connect;
    match (version, obs) {
        (_, Observation::CredentialsUnavailable) => Final(Inc(Reason::Credentials)),
        (_, Observation::UpgradeRejected { .. }) => Final(Inc(Reason::UpgradeRejected)),
        (_, Observation::TlsFailed) => Final(Inc(Reason::Tls)),
        (_, Observation::NetworkFailed) => Final(Inc(Reason::Network)),
        (_, Observation::DnsFailed) => Final(Inc(Reason::Dns)),
        (_, Observation::TcpRefused) => Final(Inc(Reason::TcpRefused)),
        (_, Observation::TimedOut { .. }) => Final(Inc(Reason::Timeout)),
        (_, Observation::Aborted) => Final(Inc(Reason::Aborted)),
        (_, Observation::WitnessFailed) => Final(Inc(Reason::WitnessFailed)),
        (_, Observation::Unexpected { .. }) => Final(Inc(Reason::Protocol)),
        (_, Observation::Delivered) => Final(Allowed),
        (_, Observation::NotDelivered) => Final(Denied),

        (MqttVersion::V5, Observation::Connack { code }) => Final(match *code {
            V5_SUCCESS if is_connect => Allowed,
            V5_SUCCESS => Inc(Reason::Protocol),
            V5_NOT_AUTHORIZED if is_connect => Denied,
            V5_NOT_AUTHORIZED => Inc(Reason::ConnectRefused),
            c if is_throttle(c) => Inc(Reason::Throttled),
            V5_BAD_USER_PASSWORD | V5_BAD_AUTH_METHOD => Inc(Reason::Credentials),
            _ => Inc(Reason::Protocol),
        }),
        (MqttVersion::V311, Observation::Connack { code }) => Final(match *code {
            0 if is_connect => Allowed,
            0 => Inc(Reason::Protocol),
            V311_NOT_AUTHORIZED if is_connect => Denied,
            V311_NOT_AUTHORIZED => Inc(Reason::ConnectRefused),
            V311_BAD_USER_PASSWORD => Inc(Reason::Credentials),
            V311_SERVER_UNAVAILABLE => Inc(Reason::Network),
            _ => Inc(Reason::Protocol),
        }),

        (MqttVersion::V5, Observation::ServerDisconnect { code, waiting_for }) => {
            Final(match *code {
                V5_NOT_AUTHORIZED if *waiting_for == Waiting::Connack && !is_connect => {
                    Inc(Reason::ConnectRefused)
                }
                V5_NOT_AUTHORIZED if *waiting_for == Waiting::Witness => Inc(Reason::WitnessFailed),
                V5_NOT_AUTHORIZED => Denied,
                c if is_throttle(c) => Inc(Reason::Throttled),
                V5_SERVER_SHUTTING_DOWN => Inc(Reason::Network),
                _ => Inc(Reason::Protocol),
            })
        }
        // 3.1.1 has no DISCONNECT from the server; seeing one is a protocol violation.
        (MqttVersion::V311, Observation::ServerDisconnect { .. }) => Final(Inc(Reason::Protocol)),

        (MqttVersion::V311, Observation::ClosedWithoutAck { waiting_for, .. }) => match waiting_for
        {
            Waiting::Connack if is_connect => DeniedIfControlConfirms,
            Waiting::Connack | Waiting::Credentials => Final(Inc(Reason::Network)),
            Waiting::Witness => Final(Inc(Reason::WitnessFailed)),
            Waiting::Suback | Waiting::Puback | Waiting::Delivery => DeniedIfControlConfirms,
        },
        // MQTT 5 denials carry reason codes; a bare close proves nothing.
        (MqttVersion::V5, Observation::ClosedWithoutAck { .. }) => Final(Inc(Reason::Network)),

        (MqttVersion::V5, Observation::Puback { code }) => Final(match *code {
            V5_SUCCESS | V5_NO_MATCHING_SUBSCRIBERS => Allowed,
            V5_NOT_AUTHORIZED => Denied,
            c if is_throttle(c) => Inc(Reason::Throttled),
            _ => Inc(Reason::Protocol),
        }),
        (MqttVersion::V311, Observation::Puback { code }) => Final(match *code {
            0 => Allowed,
            _ => Inc(Reason::Protocol),
        }),

        (MqttVersion::V5, Observation::Suback { code }) => Final(match *code {
            0..=2 => Allowed,
            V5_NOT_AUTHORIZED => Denied,
            c if is_throttle(c) => Inc(Reason::Throttled),
            _ => Inc(Reason::Protocol),
        }),
        (MqttVersion::V311, Observation::Suback { code }) => Final(match *code {
            0..=2 => Allowed,
            // The only refusal 3.1.1 can express: explicit, so positive evidence.
            V311_SUBACK_FAILURE => Denied,
            _ => Inc(Reason::Protocol),
        }),
    }
}

/// The protocol's explicit refusals: the only server answers a `denied` may rest on (v5 0x87
/// in CONNACK, SUBACK, PUBACK or DISCONNECT; 3.1.1 CONNACK 5 or SUBACK 0x80). Everything else a
/// denial rests on is the probe's own proof of non-delivery.
pub fn is_explicit_refusal(version: MqttVersion, obs: &Observation) -> bool {
    match (version, obs) {
        (MqttVersion::V5, Observation::Connack { code })
        | (MqttVersion::V5, Observation::Suback { code })
        | (MqttVersion::V5, Observation::Puback { code })
        | (MqttVersion::V5, Observation::ServerDisconnect { code, .. }) => {
            *code == V5_NOT_AUTHORIZED
        }
        (MqttVersion::V311, Observation::Connack { code }) => *code == V311_NOT_AUTHORIZED,
        (MqttVersion::V311, Observation::Suback { code }) => *code == V311_SUBACK_FAILURE,
        _ => false,
    }
}

/// A control probe's outcome, as seen by the pairing of its identity's canaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRun {
    pub verdict: Verdict,
    /// When the control started its fresh connection (milliseconds on the round's clock).
    pub started_ms: u64,
}

/// Applies principle 2 (paired controls): a canary's denial only counts while its identity can
/// still do what it should. `ended_ms` is when the canary's exchange ended (socket close).
pub fn pair_with_controls(
    expect: Expect,
    classified: Classified,
    ended_ms: u64,
    controls: &[ControlRun],
) -> Verdict {
    if expect == Expect::Allow {
        return match classified {
            Classified::Final(v) => v,
            // A control's socket closed: either it lost access or the network dropped; only
            // its own later success could tell, so it is not trusted either way.
            Classified::DeniedIfControlConfirms => Verdict::Inconclusive(Reason::SocketClosed),
        };
    }
    let controls_ok =
        !controls.is_empty() && controls.iter().all(|c| c.verdict == Verdict::Allowed);
    match classified {
        // Positive evidence of access stands regardless of controls: a breach is a breach.
        Classified::Final(Verdict::Allowed) => Verdict::Allowed,
        Classified::Final(Verdict::Inconclusive(r)) => Verdict::Inconclusive(r),
        Classified::Final(Verdict::Denied) if controls_ok => Verdict::Denied,
        Classified::Final(Verdict::Denied) => Verdict::Inconclusive(Reason::ControlFailed),
        Classified::DeniedIfControlConfirms if !controls_ok => {
            Verdict::Inconclusive(Reason::ControlFailed)
        }
        Classified::DeniedIfControlConfirms => {
            if controls.iter().any(|c| c.started_ms >= ended_ms) {
                Verdict::Denied
            } else {
                Verdict::Inconclusive(Reason::SocketClosed)
            }
        }
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
    fn v(c: Classified) -> Verdict {
        match c {
            Classified::Final(v) => v,
            Classified::DeniedIfControlConfirms => panic!("needs control"),
        }
    }

    #[test]
    fn transport_failures_are_never_denied() {
        use Observation::*;
        let rows = [
            (CredentialsUnavailable, Reason::Credentials),
            (UpgradeRejected { status: 403 }, Reason::UpgradeRejected),
            (UpgradeRejected { status: 500 }, Reason::UpgradeRejected),
            (TlsFailed, Reason::Tls),
            (NetworkFailed, Reason::Network),
            (DnsFailed, Reason::Dns),
            (TcpRefused, Reason::TcpRefused),
            (
                TimedOut {
                    waiting_for: Waiting::Suback,
                },
                Reason::Timeout,
            ),
            (
                TimedOut {
                    waiting_for: Waiting::Delivery,
                },
                Reason::Timeout,
            ),
            (Aborted, Reason::Aborted),
            (WitnessFailed, Reason::WitnessFailed),
            (Unexpected { detail: "x".into() }, Reason::Protocol),
        ];
        for version in MqttVersion::ALL {
            for action in ProbeAction::ALL {
                for (obs, reason) in &rows {
                    assert_eq!(
                        classify(version, action, obs),
                        Classified::Final(Verdict::Inconclusive(*reason)),
                        "{version} {action} {obs:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn v5_reason_code_table() {
        use MqttVersion::V5;
        use Observation::*;
        use ProbeAction as A;
        use Verdict::{Allowed, Denied, Inconclusive as I};
        let rows: Vec<(ProbeAction, Observation, Verdict)> = vec![
            (A::Connect, Connack { code: 0 }, Allowed),
            (A::Connect, Connack { code: 0x87 }, Denied),
            (A::Connect, Connack { code: 0x97 }, I(Reason::Throttled)),
            (A::Connect, Connack { code: 0x9F }, I(Reason::Throttled)),
            (A::Connect, Connack { code: 0x89 }, I(Reason::Throttled)),
            (A::Connect, Connack { code: 0x86 }, I(Reason::Credentials)),
            (A::Connect, Connack { code: 0x8C }, I(Reason::Credentials)),
            (A::Connect, Connack { code: 0x80 }, I(Reason::Protocol)),
            (A::Connect, Connack { code: 0x85 }, I(Reason::Protocol)),
            (
                A::Publish,
                Connack { code: 0x87 },
                I(Reason::ConnectRefused),
            ),
            (A::Subscribe, Connack { code: 0 }, I(Reason::Protocol)),
            (A::Subscribe, Connack { code: 0x97 }, I(Reason::Throttled)),
            (A::Publish, Puback { code: 0 }, Allowed),
            (A::Publish, Puback { code: 0x10 }, Allowed),
            (A::Publish, Puback { code: 0x87 }, Denied),
            (A::Retain, Puback { code: 0x87 }, Denied),
            (A::ShadowUpdate, Puback { code: 0x87 }, Denied),
            (A::Publish, Puback { code: 0x97 }, I(Reason::Throttled)),
            (A::Publish, Puback { code: 0x80 }, I(Reason::Protocol)),
            (A::Publish, Puback { code: 0x90 }, I(Reason::Protocol)),
            (A::Subscribe, Suback { code: 0 }, Allowed),
            (A::Subscribe, Suback { code: 1 }, Allowed),
            (A::Subscribe, Suback { code: 0x87 }, Denied),
            (A::Receive, Suback { code: 0x87 }, Denied),
            (A::Subscribe, Suback { code: 0x97 }, I(Reason::Throttled)),
            (A::Subscribe, Suback { code: 0x80 }, I(Reason::Protocol)),
            (A::Subscribe, Suback { code: 0x8F }, I(Reason::Protocol)),
            (A::Receive, Delivered, Allowed),
            (A::Receive, NotDelivered, Denied),
            (A::Publish, Delivered, Allowed),
            (A::Publish, NotDelivered, Denied),
            (A::ShadowGet, Delivered, Allowed),
            (
                A::Publish,
                ServerDisconnect {
                    code: 0x87,
                    waiting_for: Waiting::Puback,
                },
                Denied,
            ),
            (
                A::Publish,
                ServerDisconnect {
                    code: 0x87,
                    waiting_for: Waiting::Connack,
                },
                I(Reason::ConnectRefused),
            ),
            (
                A::Connect,
                ServerDisconnect {
                    code: 0x87,
                    waiting_for: Waiting::Connack,
                },
                Denied,
            ),
            (
                A::Receive,
                ServerDisconnect {
                    code: 0x87,
                    waiting_for: Waiting::Witness,
                },
                I(Reason::WitnessFailed),
            ),
            (
                A::Publish,
                ServerDisconnect {
                    code: 0x97,
                    waiting_for: Waiting::Puback,
                },
                I(Reason::Throttled),
            ),
            (
                A::Publish,
                ServerDisconnect {
                    code: 0x8B,
                    waiting_for: Waiting::Puback,
                },
                I(Reason::Network),
            ),
            (
                A::Subscribe,
                ServerDisconnect {
                    code: 0x8E,
                    waiting_for: Waiting::Suback,
                },
                I(Reason::Protocol),
            ),
            (
                A::Subscribe,
                ClosedWithoutAck {
                    waiting_for: Waiting::Suback,
                    after_ms: 3,
                },
                I(Reason::Network),
            ),
            (
                A::Connect,
                ClosedWithoutAck {
                    waiting_for: Waiting::Connack,
                    after_ms: 3,
                },
                I(Reason::Network),
            ),
        ];
        for (action, obs, want) in rows {
            assert_eq!(v(classify(V5, action, &obs)), want, "{action} {obs:?}");
        }
    }

    #[test]
    fn v311_table() {
        use MqttVersion::V311;
        use Observation::*;
        use ProbeAction as A;
        use Verdict::{Allowed, Denied, Inconclusive as I};
        let closed = |w| ClosedWithoutAck {
            waiting_for: w,
            after_ms: 5,
        };
        let finals: Vec<(ProbeAction, Observation, Verdict)> = vec![
            (A::Connect, Connack { code: 0 }, Allowed),
            (A::Connect, Connack { code: 5 }, Denied),
            (A::Connect, Connack { code: 4 }, I(Reason::Credentials)),
            (A::Connect, Connack { code: 3 }, I(Reason::Network)),
            (A::Connect, Connack { code: 2 }, I(Reason::Protocol)),
            (A::Publish, Connack { code: 5 }, I(Reason::ConnectRefused)),
            (A::Publish, Puback { code: 0 }, Allowed),
            (A::Subscribe, Suback { code: 0 }, Allowed),
            (A::Subscribe, Suback { code: 1 }, Allowed),
            (A::Subscribe, Suback { code: 0x80 }, Denied),
            (A::Subscribe, Suback { code: 0x87 }, I(Reason::Protocol)),
            (
                A::Publish,
                ServerDisconnect {
                    code: 0x87,
                    waiting_for: Waiting::Puback,
                },
                I(Reason::Protocol),
            ),
            (A::Publish, closed(Waiting::Connack), I(Reason::Network)),
            (
                A::Receive,
                closed(Waiting::Witness),
                I(Reason::WitnessFailed),
            ),
        ];
        for (action, obs, want) in finals {
            assert_eq!(v(classify(V311, action, &obs)), want, "{action} {obs:?}");
        }
        let pending = [
            (A::Connect, closed(Waiting::Connack)),
            (A::Subscribe, closed(Waiting::Suback)),
            (A::Receive, closed(Waiting::Suback)),
            (A::Publish, closed(Waiting::Puback)),
            (A::Retain, closed(Waiting::Puback)),
            (A::ShadowGet, closed(Waiting::Puback)),
            (A::Publish, closed(Waiting::Delivery)),
        ];
        for (action, obs) in pending {
            assert_eq!(
                classify(V311, action, &obs),
                Classified::DeniedIfControlConfirms,
                "{action} {obs:?}"
            );
        }
    }

    #[test]
    fn pairing_table() {
        use Classified::{DeniedIfControlConfirms as Pending, Final};
        use Verdict::{Allowed, Denied, Inconclusive as I};
        let ok_after = ControlRun {
            verdict: Allowed,
            started_ms: 200,
        };
        let ok_before = ControlRun {
            verdict: Allowed,
            started_ms: 50,
        };
        let failed = ControlRun {
            verdict: Denied,
            started_ms: 200,
        };
        let blind = ControlRun {
            verdict: I(Reason::Timeout),
            started_ms: 200,
        };
        let cf = I(Reason::ControlFailed);
        let rows: Vec<(Expect, Classified, Vec<ControlRun>, Verdict)> = vec![
            (Expect::Deny, Final(Denied), vec![ok_after], Denied),
            (Expect::Deny, Final(Denied), vec![ok_before], Denied),
            (Expect::Deny, Final(Denied), vec![], cf),
            (Expect::Deny, Final(Denied), vec![failed], cf),
            (Expect::Deny, Final(Denied), vec![blind], cf),
            (Expect::Deny, Final(Denied), vec![ok_after, failed], cf),
            (Expect::Deny, Final(Allowed), vec![failed], Allowed),
            (Expect::Deny, Final(Allowed), vec![], Allowed),
            (
                Expect::Deny,
                Final(I(Reason::Tls)),
                vec![ok_after],
                I(Reason::Tls),
            ),
            (
                Expect::Deny,
                Final(I(Reason::Tls)),
                vec![failed],
                I(Reason::Tls),
            ),
            (Expect::Deny, Pending, vec![ok_after], Denied),
            (
                Expect::Deny,
                Pending,
                vec![ok_before],
                I(Reason::SocketClosed),
            ),
            (Expect::Deny, Pending, vec![ok_before, ok_after], Denied),
            (Expect::Deny, Pending, vec![failed], cf),
            (Expect::Deny, Pending, vec![blind], cf),
            (Expect::Deny, Pending, vec![], cf),
            (Expect::Allow, Final(Allowed), vec![], Allowed),
            (Expect::Allow, Final(Denied), vec![], Denied),
            (
                Expect::Allow,
                Final(I(Reason::Network)),
                vec![],
                I(Reason::Network),
            ),
            (
                Expect::Allow,
                Pending,
                vec![ok_after],
                I(Reason::SocketClosed),
            ),
        ];
        for (expect, c, controls, want) in rows {
            assert_eq!(
                pair_with_controls(expect, c, 100, &controls),
                want,
                "{expect:?} {c:?} {controls:?}"
            );
        }
    }

    #[test]
    fn mqtt_version_parses_only_known_spellings() {
        assert_eq!("5".parse::<MqttVersion>(), Ok(MqttVersion::V5));
        assert_eq!("3.1.1".parse::<MqttVersion>(), Ok(MqttVersion::V311));
        assert!("3".parse::<MqttVersion>().is_err());
        assert!("4".parse::<MqttVersion>().is_err());
    }
}
