//! The evidence rules: what each observation proves under AWS IoT Core's real timing and
//! failure semantics (aws-iot-authz.md §8), and how a canary's denial is paired with its
//! identity's controls. `denied` only ever rests on an explicit refusal answering the probe's
//! own request, or on a proof; everything that could also be throttling, a dropped connection,
//! a late delivery or a takeover is `inconclusive` with the reason that names it.
//!
//! Every rule is a row of `tests::RULES` and of the table in docs/evidence-rules.md (a test
//! keeps the two in step).

use crate::verdict::{
    ApiAnswer, Classified, DeliveryProof, Expect, MqttVersion, Observation, ProbeAction,
    ProbeFamily, Reason, Verdict, Waiting,
};

/// An MQTT 3.1.1 close counts as the answer to the probe's request only if it came at most
/// this long after the request was written. AWS closes a refused connection right after the
/// request (one round trip); a close much later is a dropped connection, a takeover or a
/// lifetime cap.
pub const CLOSE_WINDOW_MS: u64 = 3_000;

/// The least grace a probe must wait for the bait after its catch-up marker arrived: AWS does
/// not order messages on a connection, so the bait may still trail the marker (the `aws`
/// profile estimates reordering within 0–200 ms).
pub const MIN_GRACE_MS: u64 = 200;

/// The least gap between the two SUBSCRIBEs that single out an MQTT 3.1.1 SUBACK 0x80: AWS's
/// subscribe quotas are per second, so two refusals a second apart while a granted filter in
/// the same packets passed are not one throttling burst.
pub const MIN_BACKOFF_MS: u64 = 1_000;

const V5_SUCCESS: u8 = 0x00;
const V5_NO_MATCHING_SUBSCRIBERS: u8 = 0x10;
const V5_NOT_AUTHORIZED: u8 = 0x87;
const V5_BAD_USER_PASSWORD: u8 = 0x86;
const V5_BAD_AUTH_METHOD: u8 = 0x8C;
const V5_SERVER_BUSY: u8 = 0x89;
const V5_SERVER_SHUTTING_DOWN: u8 = 0x8B;
const V5_SESSION_TAKEN_OVER: u8 = 0x8E;
const V5_MESSAGE_RATE_TOO_HIGH: u8 = 0x96;
const V5_QUOTA_EXCEEDED: u8 = 0x97;
const V5_CONNECTION_RATE_EXCEEDED: u8 = 0x9F;
const V311_BAD_USER_PASSWORD: u8 = 4;
const V311_NOT_AUTHORIZED: u8 = 5;
const V311_SERVER_UNAVAILABLE: u8 = 3;
/// 3.1.1 SUBACK "failure": AWS's answer to a refused *and* to a throttled subscription.
pub const V311_SUBACK_FAILURE: u8 = 0x80;

/// The MQTT 5 reason codes AWS uses for quotas and throttling (never a denial).
pub fn is_throttle(code: u8) -> bool {
    matches!(
        code,
        V5_QUOTA_EXCEEDED | V5_CONNECTION_RATE_EXCEEDED | V5_MESSAGE_RATE_TOO_HIGH | V5_SERVER_BUSY
    )
}

/// A granted subscription (QoS 0, 1 or 2).
pub fn is_granted(code: u8) -> bool {
    code <= 2
}

/// A PUBACK that accepted the publish.
pub fn puback_ok(code: u8) -> bool {
    matches!(code, V5_SUCCESS | V5_NO_MATCHING_SUBSCRIBERS)
}

/// Whether the probe was waiting for the answer to its own request under test.
fn own_request(action: ProbeAction, waiting_for: Waiting) -> bool {
    match waiting_for {
        Waiting::Suback | Waiting::Puback => true,
        Waiting::Connack => action == ProbeAction::Connect,
        _ => false,
    }
}

/// Whether every part of a delivery proof holds (QoS 1 bait and markers, the bait routed, the
/// markers delivered through the filter under test, which was live before the bait and caught
/// up after it, then a grace).
pub fn is_delivery_proof(p: &DeliveryProof) -> bool {
    p.bait_routed
        && p.through_filter_under_test
        && p.live_before_bait
        && p.caught_up_after_bait
        && p.qos == 1
        && p.grace_ms >= MIN_GRACE_MS
}

/// Evidence → verdict. `Denied` only from an explicit refusal answering the probe's own
/// request or from a proof; everything that could also be a network, authentication, quota or
/// timing effect is inconclusive with that reason.
pub fn classify(version: MqttVersion, action: ProbeAction, obs: &Observation) -> Classified {
    use Classified::{DeniedIfControlConfirms, Final};
    use Verdict::{Allowed, Denied, Inconclusive as Inc};
    let is_connect = action == ProbeAction::Connect;
    let is_retain = action == ProbeAction::Retain;
    match (version, obs) {
        (_, Observation::CredentialsUnavailable) => Final(Inc(Reason::Credentials)),
        (_, Observation::UpgradeRejected { .. }) => Final(Inc(Reason::UpgradeRejected)),
        (_, Observation::TlsFailed) => Final(Inc(Reason::Tls)),
        (_, Observation::NetworkFailed) => Final(Inc(Reason::Network)),
        (_, Observation::DnsFailed) => Final(Inc(Reason::Dns)),
        (_, Observation::TcpRefused) => Final(Inc(Reason::TcpRefused)),
        (_, Observation::TimedOut { .. }) => Final(Inc(Reason::Timeout)),
        (_, Observation::Aborted) => Final(Inc(Reason::Aborted)),
        (_, Observation::WitnessFailed { .. }) => Final(Inc(Reason::WitnessFailed)),
        (_, Observation::Unexpected { .. }) => Final(Inc(Reason::Protocol)),
        // STS's and Cognito's own meanings first (role_paths), then the generic API rules.
        (_, Observation::ApiAnswer(a)) => match role_paths::classify(action, a) {
            Some(v) => Final(v),
            None => classify_api(action, a),
        },
        (_, Observation::ShadowAbsent) => Final(Inc(Reason::NoShadow)),
        (_, Observation::Delivered) => Final(Allowed),
        (_, Observation::RetainedSeen) => Final(Allowed),
        (_, Observation::RetainedNotSeen) => Final(Inc(Reason::WitnessFailed)),
        (_, Observation::RetainedInUse) => Final(Inc(Reason::RetainedInUse)),
        // The canary's liveness comes first: without it there is no proof whatever the
        // witness saw (and a probe that never proved it never baits). Liveness is only ever
        // shown for the filter the markers came through, so it must be the filter under test.
        (_, Observation::NotDelivered { proof }) => Final(if is_delivery_proof(proof) {
            Denied
        } else if !(proof.through_filter_under_test
            && proof.live_before_bait
            && proof.caught_up_after_bait)
            || proof.qos != 1
        {
            Inc(Reason::NoDeliveryProof)
        } else if !proof.bait_routed {
            Inc(Reason::WitnessFailed)
        } else {
            Inc(Reason::NoDeliveryProof)
        }),
        (_, Observation::ShadowAnswer { accepted, code }) => Final(match (accepted, code) {
            (true, _) | (false, Some(404)) => Allowed,
            (false, Some(401 | 403)) => Denied,
            (false, Some(429)) => Inc(Reason::Throttled),
            _ => Inc(Reason::Protocol),
        }),

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

        (MqttVersion::V5, Observation::Puback { code }) => Final(match *code {
            // A retained publish is allowed only once a witness has seen it retained.
            c if puback_ok(c) && is_retain => Inc(Reason::WitnessFailed),
            c if puback_ok(c) => Allowed,
            V5_NOT_AUTHORIZED => Denied,
            c if is_throttle(c) => Inc(Reason::Throttled),
            _ => Inc(Reason::Protocol),
        }),
        // 3.1.1 PUBACKs carry no code: the broker accepted the publish.
        (MqttVersion::V311, Observation::Puback { .. }) => Final(if is_retain {
            Inc(Reason::WitnessFailed)
        } else {
            Allowed
        }),

        (MqttVersion::V5, Observation::Suback { code })
        | (MqttVersion::V5, Observation::SubackSingledOut { code, .. }) => Final(match *code {
            // A granted subscription says nothing about iot:Receive; a receive probe goes on
            // to the bait, so a bare grant as its last word is a probe fault.
            c if is_granted(c) && action == ProbeAction::Receive => Inc(Reason::Protocol),
            c if is_granted(c) => Allowed,
            V5_NOT_AUTHORIZED => Denied,
            c if is_throttle(c) => Inc(Reason::Throttled),
            _ => Inc(Reason::Protocol),
        }),
        (MqttVersion::V311, Observation::Suback { code }) => Final(match *code {
            c if is_granted(c) && action == ProbeAction::Receive => Inc(Reason::Protocol),
            c if is_granted(c) => Allowed,
            // AWS answers throttled and over-quota subscriptions with 0x80 on 3.1.1; alone it
            // is never a denial.
            V311_SUBACK_FAILURE => Inc(Reason::Throttled),
            _ => Inc(Reason::Protocol),
        }),
        (
            MqttVersion::V311,
            Observation::SubackSingledOut {
                code,
                attempts,
                gap_ms,
            },
        ) => Final(
            if *code == V311_SUBACK_FAILURE && *attempts >= 2 && *gap_ms >= MIN_BACKOFF_MS {
                Denied
            } else if *code == V311_SUBACK_FAILURE {
                Inc(Reason::Throttled)
            } else {
                Inc(Reason::Protocol)
            },
        ),

        (MqttVersion::V5, Observation::ServerDisconnect { code, waiting_for }) => {
            Final(match *code {
                V5_NOT_AUTHORIZED if *waiting_for == Waiting::Connack && !is_connect => {
                    Inc(Reason::ConnectRefused)
                }
                V5_NOT_AUTHORIZED if *waiting_for == Waiting::Witness => Inc(Reason::WitnessFailed),
                V5_NOT_AUTHORIZED if own_request(action, *waiting_for) => Denied,
                // Not the answer to the probe's request: an auxiliary subscription refused, a
                // revocation during a delivery wait.
                V5_NOT_AUTHORIZED | V5_SESSION_TAKEN_OVER => Inc(Reason::SocketClosed),
                c if is_throttle(c) => Inc(Reason::Throttled),
                V5_SERVER_SHUTTING_DOWN => Inc(Reason::Network),
                _ => Inc(Reason::Protocol),
            })
        }
        // 3.1.1 has no DISCONNECT from the server; seeing one is a protocol violation.
        (MqttVersion::V311, Observation::ServerDisconnect { .. }) => Final(Inc(Reason::Protocol)),

        (
            MqttVersion::V311,
            Observation::ClosedWithoutAck {
                waiting_for,
                after_ms,
                repeated,
            },
        ) => match waiting_for {
            w if own_request(action, *w) => {
                if *repeated && *after_ms <= CLOSE_WINDOW_MS {
                    DeniedIfControlConfirms
                } else {
                    Final(Inc(Reason::SocketClosed))
                }
            }
            Waiting::Connack | Waiting::Credentials => Final(Inc(Reason::Network)),
            Waiting::Witness => Final(Inc(Reason::WitnessFailed)),
            _ => Final(Inc(Reason::SocketClosed)),
        },
        // MQTT 5 denials carry reason codes; a bare close proves nothing.
        (MqttVersion::V5, Observation::ClosedWithoutAck { .. }) => Final(Inc(Reason::Network)),
    }
}

/// AWS error types that are an explicit authorization refusal of the request itself (IAM's
/// and STS's `AccessDenied`, the REST APIs' `AccessDeniedException`, iot-data's
/// `UnauthorizedException`).
const REFUSAL_TYPES: [&str; 3] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedException",
];

/// Error types that say the request's signature or credentials were bad, not that the
/// principal lacks a permission.
const CREDENTIAL_TYPES: [&str; 10] = [
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "IncompleteSignatureException",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "MissingAuthenticationTokenException",
    "NotAuthorizedException",
];

/// Throttling and quota error types (never a denial).
const THROTTLE_TYPES: [&str; 6] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "ServiceQuotaExceededException",
];

/// The identity pool's refusal of the basic (classic) flow (cognito-identity answers
/// `GetOpenIdToken`/`GetCredentialsForIdentity` with an `InvalidParameterException` saying
/// so): the pool's configuration refused the door.
pub const BASIC_FLOW_DISABLED: &str = "basic (classic) flow is not enabled";

/// Words in a `ForbiddenException`'s message that say the signature or token was bad (AWS
/// IoT's front end uses one error type for both).
const CREDENTIAL_WORDS: [&str; 4] = ["signature", "security token", "expired", "credential"];

fn lower_message(a: &ApiAnswer) -> String {
    a.message.as_deref().unwrap_or("").to_ascii_lowercase()
}

/// Whether a `ForbiddenException`'s message names a signature or token problem.
fn forbidden_for_credentials(a: &ApiAnswer) -> bool {
    let m = lower_message(a);
    CREDENTIAL_WORDS.iter().any(|w| m.contains(w))
}

/// An AWS API answer → verdict (rules W1–W9 of docs/evidence-rules.md). The error *type*
/// decides, not the bare status: AWS answers a refusal, a bad signature and a missing
/// resource with overlapping statuses.
pub fn classify_api(action: ProbeAction, a: &ApiAnswer) -> Classified {
    use Classified::{DeniedIfSignedControlConfirms, Final};
    use Verdict::{Allowed, Denied, Inconclusive as Inc};
    let t = a.error_type.as_deref().unwrap_or("");
    match (a.status, t) {
        // W1: the call was authorized and done. An HTTPS publish counts only once the
        // witness saw it (the decisive observation is then `Delivered`).
        (200..=299, _) if action == ProbeAction::HttpsPublish => Final(Inc(Reason::WitnessFailed)),
        (200..=299, _) => Final(Allowed),
        // W7: a bad signature or token, whatever the status.
        (_, t) if CREDENTIAL_TYPES.contains(&t) => Final(Inc(Reason::Credentials)),
        (403, "ForbiddenException") if forbidden_for_credentials(a) => {
            Final(Inc(Reason::Credentials))
        }
        // W2: an explicit refusal.
        (_, t) if REFUSAL_TYPES.contains(&t) => Final(Denied),
        (401, "") => Final(Denied),
        // W3: ForbiddenException: a refusal or a signature problem; a same-family control
        // signed with the same credentials tells them apart.
        (403, "ForbiddenException") => DeniedIfSignedControlConfirms,
        // W4: the resource does not exist: the call passed authorization.
        (404, "ResourceNotFoundException") => Final(Allowed),
        // W5: the identity pool refused the basic flow.
        (400, "InvalidParameterException") if lower_message(a).contains(BASIC_FLOW_DISABLED) => {
            Final(Denied)
        }
        // W6: throttling.
        (429, _) => Final(Inc(Reason::Throttled)),
        (_, t) if THROTTLE_TYPES.contains(&t) => Final(Inc(Reason::Throttled)),
        // W8: server errors.
        (500..=599, _) => Final(Inc(Reason::ServerError)),
        // W9: validation and conflict errors: no authorization decision to read.
        (400 | 405 | 409 | 413 | 415 | 422, t) if !t.is_empty() => {
            Final(Inc(Reason::InvalidRequest))
        }
        // W10: anything else (a bare 403/404 without a type: a proxy, a wrong endpoint).
        _ => Final(Inc(Reason::Protocol)),
    }
}

/// Whether a 3.1.1 close must be tried once more on a fresh connection before it can count:
/// a close answering the probe's own request, inside the window, not yet repeated. A second
/// identical close rules out a one-off drop, takeover or lifetime cap.
pub fn close_needs_repeat(version: MqttVersion, action: ProbeAction, obs: &Observation) -> bool {
    matches!(
        (version, obs),
        (
            MqttVersion::V311,
            Observation::ClosedWithoutAck {
                waiting_for,
                after_ms,
                repeated: false,
            },
        ) if own_request(action, *waiting_for) && *after_ms <= CLOSE_WINDOW_MS
    )
}

/// The observation of a probe whose first attempt ended in a close that needed a repeat
/// ([`close_needs_repeat`]): the same close again makes it `repeated`; anything else the
/// second attempt saw (an ack, a delivery, a timeout) is what counts.
pub fn after_repeat(
    version: MqttVersion,
    action: ProbeAction,
    first: &Observation,
    second: Observation,
) -> Observation {
    let first_ms = match first {
        Observation::ClosedWithoutAck { after_ms, .. } => *after_ms,
        _ => return second,
    };
    if !close_needs_repeat(version, action, &second) {
        return second;
    }
    match second {
        Observation::ClosedWithoutAck {
            waiting_for,
            after_ms,
            ..
        } => Observation::ClosedWithoutAck {
            waiting_for,
            after_ms: after_ms.max(first_ms),
            repeated: true,
        },
        other => other,
    }
}

/// Whether an observation carries the protocol's explicit refusal of the probe's own request
/// (MQTT 5 0x87 in its answer, 3.1.1 CONNACK 5, a 3.1.1 SUBACK 0x80 singled out twice beside a
/// granted filter, the shadow service's 401/403). A restatement of the rules for the fuzz
/// target and tests: `classify` may only say `denied` where this, a delivery proof or a
/// control-confirmed repeated close holds.
pub fn is_explicit_refusal(version: MqttVersion, obs: &Observation) -> bool {
    match (version, obs) {
        (MqttVersion::V5, Observation::Connack { code })
        | (MqttVersion::V5, Observation::Suback { code })
        | (MqttVersion::V5, Observation::SubackSingledOut { code, .. })
        | (MqttVersion::V5, Observation::Puback { code })
        | (MqttVersion::V5, Observation::ServerDisconnect { code, .. }) => {
            *code == V5_NOT_AUTHORIZED
        }
        (MqttVersion::V311, Observation::Connack { code }) => *code == V311_NOT_AUTHORIZED,
        (
            MqttVersion::V311,
            Observation::SubackSingledOut {
                code,
                attempts,
                gap_ms,
            },
        ) => *code == V311_SUBACK_FAILURE && *attempts >= 2 && *gap_ms >= MIN_BACKOFF_MS,
        (
            _,
            Observation::ShadowAnswer {
                accepted: false,
                code: Some(401 | 403),
            },
        ) => true,
        (_, Observation::ApiAnswer(a)) => {
            is_explicit_api_refusal(a) || role_paths::is_role_refusal(a)
        }
        _ => false,
    }
}

/// Whether an AWS API answer is an explicit refusal by itself (W2, W5): `AccessDenied`,
/// `AccessDeniedException`, `UnauthorizedException`, a bare 401, or the pool's refusal of the
/// basic flow. A `ForbiddenException` is not: it needs a control (W3).
pub fn is_explicit_api_refusal(a: &ApiAnswer) -> bool {
    let t = a.error_type.as_deref().unwrap_or("");
    !(200..=299).contains(&a.status)
        && !CREDENTIAL_TYPES.contains(&t)
        && (REFUSAL_TYPES.contains(&t)
            || (a.status == 401 && t.is_empty())
            || (a.status == 400
                && t == "InvalidParameterException"
                && lower_message(a).contains(BASIC_FLOW_DISABLED)))
}

/// A control probe's outcome, as seen by the pairing of its identity's canaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRun {
    pub verdict: Verdict,
    /// When the control started its connection (milliseconds on the round's clock).
    pub started_ms: u64,
    pub version: MqttVersion,
    /// Whether the control opened a fresh connection (vs reusing a pooled one).
    pub fresh: bool,
    /// The control's door: only controls of the canary's own family pair with it.
    pub family: ProbeFamily,
}

/// Applies paired controls: a canary's denial only counts while its identity can still do
/// what it should through the same door (`family`: controls of other families are ignored),
/// an MQTT 3.1.1 close only when a fresh-connection control of the same identity and version
/// succeeded after it, and an API's `ForbiddenException` only when a same-family control
/// signed with the same credentials succeeded. `ended_ms` is when the canary's exchange ended.
pub fn pair_with_controls(
    expect: Expect,
    family: ProbeFamily,
    version: MqttVersion,
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
            // A control's ForbiddenException: lost access or bad credentials; nothing else
            // signed with them can tell, so the control is not trusted (its family's deny
            // canaries then go `control_failed`).
            Classified::DeniedIfSignedControlConfirms => Verdict::Inconclusive(Reason::Credentials),
        };
    }
    let same_family: Vec<&ControlRun> = controls.iter().filter(|c| c.family == family).collect();
    let controls_ok =
        !same_family.is_empty() && same_family.iter().all(|c| c.verdict == Verdict::Allowed);
    match classified {
        Classified::DeniedIfSignedControlConfirms if controls_ok => Verdict::Denied,
        Classified::DeniedIfSignedControlConfirms => Verdict::Inconclusive(Reason::ControlFailed),
        // Positive evidence of access stands regardless of controls: a breach is a breach.
        Classified::Final(Verdict::Allowed) => Verdict::Allowed,
        Classified::Final(Verdict::Inconclusive(r)) => Verdict::Inconclusive(r),
        Classified::Final(Verdict::Denied) if controls_ok => Verdict::Denied,
        Classified::Final(Verdict::Denied) => Verdict::Inconclusive(Reason::ControlFailed),
        Classified::DeniedIfControlConfirms if !controls_ok => {
            Verdict::Inconclusive(Reason::ControlFailed)
        }
        Classified::DeniedIfControlConfirms => {
            let confirmed = same_family
                .iter()
                .any(|c| c.version == version && c.fresh && c.started_ms >= ended_ms);
            if confirmed {
                Verdict::Denied
            } else {
                Verdict::Inconclusive(Reason::SocketClosed)
            }
        }
    }
}

pub mod role_paths;

#[cfg(test)]
mod tests;
