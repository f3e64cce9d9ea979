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
    /// iot-data `Publish` over HTTPS (witness-confirmed).
    HttpsPublish,
    /// iot-data `GetThingShadow`.
    HttpsShadowGet,
    /// iot-data `UpdateThingShadow` of a canary-owned key of an existing shadow.
    HttpsShadowUpdate,
    /// iot-data `DeleteThingShadow` of a canary-owned named shadow.
    HttpsShadowDelete,
    /// iot-data `ListNamedShadowsForThing`.
    HttpsShadowList,
    /// iot-data `GetRetainedMessage`.
    HttpsRetainedGet,
    /// iot-data `ListRetainedMessages`.
    HttpsRetainedList,
    /// iot-data `DeleteConnection` of a probe-named client id that is not connected.
    DeleteConnection,
    /// iot `AttachPolicy` of a nonexistent probe-named policy to the identity's own principal.
    AttachPolicy,
    /// iot `AttachThingPrincipal` of a nonexistent probe-named thing.
    AttachThingPrincipal,
    /// iot `ListThings`.
    ListThings,
    /// iot `DescribeThing`.
    DescribeThing,
    /// iot `GetPolicy`.
    GetPolicy,
    /// iot `ListAttachedPolicies` of the identity's own principal.
    ListAttachedPolicies,
    /// sts `AssumeRole` into a named role with the identity's credentials.
    AssumeRole,
    /// The identity pool's basic flow: `GetOpenIdToken` + sts `AssumeRoleWithWebIdentity`.
    WebIdentity,
    /// cognito-identity `GetCredentialsForIdentity` with a `CustomRoleArn`.
    CustomRole,
}

impl ProbeAction {
    pub const ALL: [ProbeAction; 25] = [
        ProbeAction::Connect,
        ProbeAction::Publish,
        ProbeAction::Subscribe,
        ProbeAction::Receive,
        ProbeAction::Retain,
        ProbeAction::ShadowGet,
        ProbeAction::ShadowUpdate,
        ProbeAction::ShadowDelete,
        ProbeAction::HttpsPublish,
        ProbeAction::HttpsShadowGet,
        ProbeAction::HttpsShadowUpdate,
        ProbeAction::HttpsShadowDelete,
        ProbeAction::HttpsShadowList,
        ProbeAction::HttpsRetainedGet,
        ProbeAction::HttpsRetainedList,
        ProbeAction::DeleteConnection,
        ProbeAction::AttachPolicy,
        ProbeAction::AttachThingPrincipal,
        ProbeAction::ListThings,
        ProbeAction::DescribeThing,
        ProbeAction::GetPolicy,
        ProbeAction::ListAttachedPolicies,
        ProbeAction::AssumeRole,
        ProbeAction::WebIdentity,
        ProbeAction::CustomRole,
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
            ProbeAction::HttpsPublish => "https-publish",
            ProbeAction::HttpsShadowGet => "https-shadow-get",
            ProbeAction::HttpsShadowUpdate => "https-shadow-update",
            ProbeAction::HttpsShadowDelete => "https-shadow-delete",
            ProbeAction::HttpsShadowList => "https-shadow-list",
            ProbeAction::HttpsRetainedGet => "https-retained-get",
            ProbeAction::HttpsRetainedList => "https-retained-list",
            ProbeAction::DeleteConnection => "delete-connection",
            ProbeAction::AttachPolicy => "attach-policy",
            ProbeAction::AttachThingPrincipal => "attach-thing-principal",
            ProbeAction::ListThings => "list-things",
            ProbeAction::DescribeThing => "describe-thing",
            ProbeAction::GetPolicy => "get-policy",
            ProbeAction::ListAttachedPolicies => "list-attached-policies",
            ProbeAction::AssumeRole => "assume-role",
            ProbeAction::WebIdentity => "web-identity",
            ProbeAction::CustomRole => "custom-role",
        }
    }

    /// The door the probe goes through: a deny canary's denials count only beside a control
    /// of the same family and identity (the same credentials through the same front end).
    pub const fn family(self) -> ProbeFamily {
        use ProbeAction::*;
        match self {
            Connect | Publish | Subscribe | Receive | Retain | ShadowGet | ShadowUpdate
            | ShadowDelete => ProbeFamily::Mqtt,
            HttpsPublish | HttpsShadowGet | HttpsShadowUpdate | HttpsShadowDelete
            | HttpsShadowList | HttpsRetainedGet | HttpsRetainedList | DeleteConnection => {
                ProbeFamily::Https
            }
            AttachPolicy | AttachThingPrincipal | ListThings | DescribeThing | GetPolicy
            | ListAttachedPolicies => ProbeFamily::ControlPlane,
            AssumeRole | WebIdentity | CustomRole => ProbeFamily::RolePath,
        }
    }

    /// Whether the probe speaks MQTT (connects with a client id, has an MQTT version).
    pub const fn is_mqtt(self) -> bool {
        matches!(self.family(), ProbeFamily::Mqtt)
    }
}

/// Families of probe kinds (interface: control pairing, `check`, the `family` of reports).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeFamily {
    /// MQTT over a SigV4 websocket.
    Mqtt,
    /// The AWS IoT data plane's HTTPS API (iot-data).
    Https,
    /// The AWS IoT control plane (iot).
    ControlPlane,
    /// The identity pool's and STS's role paths.
    RolePath,
}

impl ProbeFamily {
    pub const ALL: [ProbeFamily; 4] = [
        ProbeFamily::Mqtt,
        ProbeFamily::Https,
        ProbeFamily::ControlPlane,
        ProbeFamily::RolePath,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ProbeFamily::Mqtt => "mqtt",
            ProbeFamily::Https => "https",
            ProbeFamily::ControlPlane => "control-plane",
            ProbeFamily::RolePath => "role-path",
        }
    }
}

display_as_str!(ProbeFamily);

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
    /// The thing has no shadow (or no such named shadow) and the probe never creates one, so
    /// an update could not be tried harmlessly.
    NoShadow,
    /// An AWS API refused the request as malformed or conflicting (a validation error):
    /// the request never reached an authorization decision the probe can read.
    InvalidRequest,
    /// An AWS API answered with a server error (HTTP 5xx).
    ServerError,
}

impl Reason {
    pub const ALL: [Reason; 19] = [
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
        Reason::NoShadow,
        Reason::InvalidRequest,
        Reason::ServerError,
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
            Reason::NoShadow => "no_shadow",
            Reason::InvalidRequest => "invalid_request",
            Reason::ServerError => "server_error",
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
    /// An AWS API's HTTP answer to the probe's own call (HTTPS data plane, control plane,
    /// role paths).
    Response,
}

impl Waiting {
    pub const ALL: [Waiting; 9] = [
        Waiting::Credentials,
        Waiting::Connack,
        Waiting::Suback,
        Waiting::Puback,
        Waiting::Auxiliary,
        Waiting::Delivery,
        Waiting::Marker,
        Waiting::Witness,
        Waiting::Response,
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
            Waiting::Response => "the API's answer",
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
    /// An AWS API (iot-data, iot, sts, cognito-identity) answered the probe's own request:
    /// the HTTP status, the AWS error type (`x-amzn-ErrorType`, the JSON `__type` or the XML
    /// `Code`; `None` on success), a short fragment of the error message (secrets redacted,
    /// see [`ApiAnswer::new`]) and the exact resource ARN the request tested.
    ApiAnswer(ApiAnswer),
    /// The thing has no shadow of that name; the probe never creates one, so it did not try
    /// the update.
    ShadowAbsent,
    /// The client reported something that is neither an answer nor a transport failure.
    Unexpected { detail: String },
}

/// What an AWS API answered (see [`Observation::ApiAnswer`]). Built through [`ApiAnswer::new`]
/// so the message is always bounded and redacted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ApiAnswer {
    pub status: u16,
    /// The bare AWS error type (`ForbiddenException`, `AccessDenied`), no namespace.
    pub error_type: Option<String>,
    /// At most [`ApiAnswer::MESSAGE_MAX`] characters of the error message.
    pub message: Option<String>,
    /// The ARN the request was about (what a hole would expose).
    pub resource: String,
}

impl ApiAnswer {
    /// How much of an error message evidence keeps: enough for AWS's "User: ARN is not
    /// authorized to perform: iot:X on resource: ARN", not a whole body.
    pub const MESSAGE_MAX: usize = 240;

    /// Normalizes the error type (AWS SDKs and protocols spell it `ns#Type`, `Type:uri` or
    /// `Type`) and bounds the message, redacting anything shaped like an access key id or a
    /// session token (some STS and signature messages echo request parts).
    pub fn new(
        status: u16,
        error_type: Option<&str>,
        message: Option<&str>,
        resource: impl Into<String>,
    ) -> ApiAnswer {
        let error_type = error_type
            .map(|t| {
                let t = t.rsplit('#').next().unwrap_or(t);
                t.split(':').next().unwrap_or(t).trim().to_string()
            })
            .filter(|t| !t.is_empty());
        let message = message.map(redact_message).filter(|m| !m.is_empty());
        ApiAnswer {
            status,
            error_type,
            message,
            resource: resource.into(),
        }
    }

    /// A successful (2xx) answer.
    pub fn ok(status: u16, resource: impl Into<String>) -> ApiAnswer {
        ApiAnswer::new(status, None, None, resource)
    }
}

/// Bounds a message and blanks words that look like credentials: access key ids
/// (`AKIA…`/`ASIA…`, 20 characters) and any word over 64 characters (tokens, signatures).
fn redact_message(m: &str) -> String {
    let words: Vec<String> = m
        .split_whitespace()
        .map(|w| {
            let core = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            let key_id = core.len() == 20
                && (core.starts_with("AKIA") || core.starts_with("ASIA"))
                && core
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            if key_id || core.len() > 64 && !core.starts_with("arn") {
                "[redacted]".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    let joined = words.join(" ");
    match joined.char_indices().nth(ApiAnswer::MESSAGE_MAX) {
        Some((i, _)) => format!("{}…", &joined[..i]),
        None => joined,
    }
}

/// The verdict of one probe before control pairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Classified {
    Final(Verdict),
    /// An MQTT 3.1.1 socket close answering the probe's own request: a denial only if a
    /// fresh-connection control of the same identity and version succeeds after it.
    DeniedIfControlConfirms,
    /// An AWS API's 403 `ForbiddenException`, which the IoT front end also returns for a bad
    /// signature or an expired token: a denial only if a control of the same family and
    /// identity (so signed with the same credentials) succeeded in the round.
    DeniedIfSignedControlConfirms,
}

pub use crate::evidence_rules::{ControlRun, classify, is_explicit_refusal, pair_with_controls};

impl std::str::FromStr for ProbeAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ProbeAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown action `{s}`"))
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

    #[test]
    fn action_labels_are_unique_kebab_case_and_match_serde() {
        let mut seen = std::collections::BTreeSet::new();
        for a in ProbeAction::ALL {
            let s = a.as_str();
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{s}");
            assert!(seen.insert(s), "{s} twice");
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(s.parse::<ProbeAction>(), Ok(a));
        }
    }

    #[test]
    fn families_follow_the_interface() {
        use ProbeAction as A;
        use ProbeFamily as F;
        let count = |f| ProbeAction::ALL.iter().filter(|a| a.family() == f).count();
        assert_eq!(count(F::Mqtt), 8);
        assert_eq!(count(F::Https), 8);
        assert_eq!(count(F::ControlPlane), 6);
        assert_eq!(count(F::RolePath), 3);
        for a in ProbeAction::ALL {
            assert_eq!(
                a.as_str().starts_with("https-"),
                a.family() == F::Https && a != A::DeleteConnection
            );
        }
        assert_eq!(A::DeleteConnection.family(), F::Https);
        assert_eq!(A::AttachPolicy.family(), F::ControlPlane);
        assert_eq!(A::WebIdentity.family(), F::RolePath);
    }

    #[test]
    fn api_answers_are_bounded_and_redacted() {
        let a = ApiAnswer::new(
            403,
            Some("com.amazonaws.iot#AccessDeniedException:http://internal"),
            Some(
                "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized (key AKIAIOSFODNN7EXAMPLE)",
            ),
            "arn:aws:iot:us-east-1:123456789012:policy/p",
        );
        assert_eq!(a.error_type.as_deref(), Some("AccessDeniedException"));
        let m = a.message.unwrap();
        assert!(!m.contains("AKIAIOSFODNN7EXAMPLE"), "{m}");
        assert!(
            m.contains("[redacted]") && m.contains("assumed-role/r/s"),
            "{m}"
        );
        let long = "x ".repeat(400) + &"T".repeat(300);
        let b = ApiAnswer::new(500, Some(""), Some(&long), "arn");
        assert_eq!(b.error_type, None);
        let m = b.message.unwrap();
        assert!(
            m.chars().count() <= ApiAnswer::MESSAGE_MAX + 1,
            "{}",
            m.len()
        );
        assert!(!m.contains("TTTT"));
    }

    #[test]
    fn mqtt_version_parses_only_known_spellings() {
        assert_eq!("5".parse::<MqttVersion>(), Ok(MqttVersion::V5));
        assert_eq!("3.1.1".parse::<MqttVersion>(), Ok(MqttVersion::V311));
        assert!("3".parse::<MqttVersion>().is_err());
        assert!("4".parse::<MqttVersion>().is_err());
    }
}
