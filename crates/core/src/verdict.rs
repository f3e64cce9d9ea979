//! Verdicts: the three outcomes a probe may end in, and the fixed vocabulary used in metrics,
//! reports and alerts (verdicts, reasons, what a probe observed). What an observation proves
//! is `evidence_rules`' business.

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
    /// The connection closed where the close cannot be read as the answer to the probe's own
    /// request (an MQTT 3.1.1 socket close not confirmed by a repeat and a control, an MQTT 5
    /// DISCONNECT during a delivery wait): a denial and a dropped connection look the same.
    SocketClosed,
    /// A message was not delivered, but nothing proved the observing subscription was active
    /// and its delivery had caught up (a liveness marker never arrived), so the absence proves
    /// nothing.
    NoDeliveryProof,
    /// The topic holds a retained message the canary did not set and the identity may publish
    /// there: only a retained publish could tell, and it would overwrite that message.
    RetainedInUse,
}

impl Reason {
    pub const ALL: [Reason; 16] = [
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
        Reason::NoDeliveryProof,
        Reason::RetainedInUse,
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
            Reason::NoDeliveryProof => "no_delivery_proof",
            Reason::RetainedInUse => "retained_in_use",
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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

/// What a probe was waiting for when the exchange ended. Only [`Waiting::Suback`] and
/// [`Waiting::Puback`] (and [`Waiting::Connack`] of a `connect` probe) are waits for the answer
/// to the probe's own request under test; a refusal or close during any other wait is not an
/// answer to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Waiting {
    Credentials,
    /// The CONNACK of the canary's connection.
    Connack,
    /// The SUBACK answering the probe's own SUBSCRIBE of the filter under test.
    Suback,
    /// The PUBACK answering the probe's own PUBLISH under test.
    Puback,
    /// The ack of a request that is not the one under test: the liveness marker's
    /// subscription, the shadow service's response subscription, an UNSUBSCRIBE.
    Auxiliary,
    /// A message delivery: the bait, the witness's view of a publish, a shadow answer, a
    /// retained message.
    Delivery,
    /// A liveness marker (proof that the observing subscription is active and caught up).
    Marker,
    /// The witness's own setup (its connection, subscription or publish).
    Witness,
}

impl Waiting {
    pub const ALL: [Waiting; 8] = [
        Waiting::Credentials,
        Waiting::Connack,
        Waiting::Suback,
        Waiting::Puback,
        Waiting::Auxiliary,
        Waiting::Delivery,
        Waiting::Marker,
        Waiting::Witness,
    ];

    /// What was awaited, as a phrase for evidence sentences.
    pub const fn phrase(self) -> &'static str {
        match self {
            Waiting::Credentials => "credentials",
            Waiting::Connack => "the CONNACK",
            Waiting::Suback => "the SUBACK",
            Waiting::Puback => "the PUBACK",
            Waiting::Auxiliary => "the ack of an auxiliary request",
            Waiting::Delivery => "a delivery",
            Waiting::Marker => "a liveness marker",
            Waiting::Witness => "the witness",
        }
    }
}

/// What a receive probe proved about the subscription that did not receive the bait. A
/// missing delivery is a denial only when every part holds (see `evidence_rules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct DeliveryProof {
    /// The witness received the bait: it was routed.
    pub bait_routed: bool,
    /// The markers were delivered through the filter under test itself: their topic is one
    /// the filter matches, on a connection where no other subscription matches it. AWS delays
    /// delivery after SUBACK per subscription and does not say that filters subscribed in one
    /// packet become active together, so a marker through any other filter says nothing about
    /// the one the bait needs.
    pub through_filter_under_test: bool,
    /// The observing subscription received a liveness marker published before the bait, so it
    /// was active when the bait went out.
    pub live_before_bait: bool,
    /// The observing subscription received a marker published after the bait was
    /// acknowledged, so its delivery had caught up past the bait.
    pub caught_up_after_bait: bool,
    /// The QoS of the bait, the markers and the subscriptions (only 1 can prove an absence).
    pub qos: u8,
    /// How long the probe kept waiting for the bait after the catch-up marker arrived.
    pub grace_ms: u64,
}

/// The decisive observation of a probe: the one fact its verdict rests on. The probe decides
/// which of its observations is decisive; `evidence_rules::classify` decides what it proves.
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
    /// The socket closed without any MQTT answer, `after_ms` after the request the probe was
    /// waiting on was written (for a CONNECT: after the websocket upgrade began). `repeated`:
    /// the same request met the same close on a second, fresh connection.
    ClosedWithoutAck {
        waiting_for: Waiting,
        after_ms: u64,
        repeated: bool,
    },
    /// PUBACK for the canary's publish (3.1.1 PUBACKs carry no code: 0).
    Puback { code: u8 },
    /// SUBACK return code for the filter under test.
    Suback { code: u8 },
    /// A refusal code for the filter under test while a filter the identity may subscribe to
    /// was granted in the same SUBSCRIBE, on `attempts` packets at least `gap_ms` apart (how
    /// MQTT 3.1.1's SUBACK 0x80, which AWS also uses for throttling, is singled out).
    SubackSingledOut { code: u8, attempts: u8, gap_ms: u64 },
    /// The thing under test got through: the bait reached the canary, or the witness received
    /// the canary's publish.
    Delivered,
    /// The canary never received the bait; what was proved about its subscription.
    NotDelivered { proof: DeliveryProof },
    /// The shadow service answered the canary's request (`…/accepted`, or `…/rejected` with
    /// this code).
    ShadowAnswer { accepted: bool, code: Option<u16> },
    /// A fresh witness subscription received the canary's retained message with the retain
    /// flag.
    RetainedSeen,
    /// The retained publish was acknowledged, but a fresh witness subscription did not receive
    /// it.
    RetainedNotSeen,
    /// The topic holds a retained message the canary did not set and a plain publish there was
    /// accepted; the probe did not overwrite it.
    RetainedInUse,
    /// The witness could not set up or observe, so the probe proves nothing.
    WitnessFailed { detail: String },
    /// The client reported something that is neither an answer nor a transport failure.
    Unexpected { detail: String },
}

/// The verdict of one probe before control pairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Classified {
    Final(Verdict),
    /// An MQTT 3.1.1 socket close answering the probe's own request: a denial only if a
    /// fresh-connection control of the same identity and version succeeds after it.
    DeniedIfControlConfirms,
}

pub use crate::evidence_rules::{ControlRun, classify, is_explicit_refusal, pair_with_controls};

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

    #[test]
    fn mqtt_version_parses_only_known_spellings() {
        assert_eq!("5".parse::<MqttVersion>(), Ok(MqttVersion::V5));
        assert_eq!("3.1.1".parse::<MqttVersion>(), Ok(MqttVersion::V311));
        assert!("3".parse::<MqttVersion>().is_err());
        assert!("4".parse::<MqttVersion>().is_err());
    }
}
