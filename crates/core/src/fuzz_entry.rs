//! Entry point for the `evidence_rules` fuzz target (`fuzz/`), behind the `fuzzing` feature.
//! Arbitrary bytes become observations, probe kinds, MQTT versions and control runs; the
//! properties are the product's promise: nothing reads as `denied` unless it rests on the
//! protocol's explicit refusal or on the probe's own proof of non-delivery, a 3.1.1 close
//! waits for a control only when it repeated inside the window, and control pairing never
//! turns anything else into a denial (a close only by a fresh control of the same version).

use crate::evidence_rules::{
    CLOSE_WINDOW_MS, ControlRun, classify, is_delivery_proof, is_explicit_refusal,
    pair_with_controls,
};
use crate::verdict::{
    ApiAnswer, Classified, DeliveryProof, Expect, MqttVersion, Observation, ProbeAction,
    ProbeFamily, Reason, Verdict, Waiting,
};

const WAITING: [Waiting; 9] = Waiting::ALL;

const API_STATUS: [u16; 12] = [200, 202, 400, 401, 403, 404, 405, 409, 429, 500, 503, 418];
const API_TYPES: [&str; 14] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedException",
    "ForbiddenException",
    "ResourceNotFoundException",
    "InvalidParameterException",
    "InvalidRequestException",
    "ThrottlingException",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "ServiceUnavailableException",
    "ConflictException",
    "NotAuthorizedException",
    "com.amazonaws#AccessDeniedException:http://x",
];
const API_MESSAGES: [&str; 5] = [
    "Basic (classic) flow is not enabled, please use enhanced flow.",
    "The security token included in the request is expired",
    "The request signature we calculated does not match the signature you provided.",
    "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: iot:AttachPolicy",
    "Forbidden",
];

/// Decodes one observation from three bytes: a kind, a code and what was awaited (whose bits
/// double as the flags of a delivery proof).
fn observation(kind: u8, code: u8, wait: u8) -> Observation {
    let waiting_for = WAITING[usize::from(wait) % WAITING.len()];
    match kind % 24 {
        0 => Observation::CredentialsUnavailable,
        1 => Observation::UpgradeRejected {
            status: 400 + u16::from(code),
        },
        2 => Observation::TlsFailed,
        3 => Observation::NetworkFailed,
        4 => Observation::TimedOut { waiting_for },
        5 => Observation::Aborted,
        6 => Observation::Connack { code },
        7 => Observation::ServerDisconnect { code, waiting_for },
        8 => Observation::ClosedWithoutAck {
            waiting_for,
            after_ms: u64::from(code) * 20,
            repeated: wait & 0x80 != 0,
        },
        9 => Observation::Puback { code },
        10 => Observation::Suback { code },
        11 => Observation::Delivered,
        12 => Observation::NotDelivered {
            proof: DeliveryProof {
                bait_routed: wait & 1 != 0,
                through_filter_under_test: wait & 0x10 != 0,
                live_before_bait: wait & 2 != 0,
                caught_up_after_bait: wait & 4 != 0,
                qos: (wait >> 3) & 1,
                grace_ms: u64::from(code) * 5,
            },
        },
        13 => Observation::WitnessFailed {
            detail: format!("0x{code:02X}"),
        },
        14 => Observation::SubackSingledOut {
            code,
            attempts: wait % 4,
            gap_ms: u64::from(wait) * 10,
        },
        15 => Observation::ShadowAnswer {
            accepted: wait & 1 != 0,
            code: (wait & 2 != 0).then(|| 400 + u16::from(code) % 120),
        },
        16 => Observation::RetainedSeen,
        17 => Observation::RetainedNotSeen,
        18 => Observation::RetainedInUse,
        19 => Observation::DnsFailed,
        20 => Observation::TcpRefused,
        21 => Observation::ApiAnswer(ApiAnswer::new(
            API_STATUS[usize::from(code) % API_STATUS.len()],
            API_TYPES
                .get(usize::from(wait) % (API_TYPES.len() + 1))
                .copied(),
            API_MESSAGES
                .get(usize::from(wait >> 4) % (API_MESSAGES.len() + 1))
                .copied(),
            "arn:aws:iot:us-east-1:123456789012:thing/t",
        )),
        22 => Observation::ShadowAbsent,
        _ => Observation::Unexpected {
            detail: format!("0x{code:02X}"),
        },
    }
}

fn verdict(b: u8) -> Verdict {
    match b % 4 {
        0 => Verdict::Denied,
        1 => Verdict::Allowed,
        2 => Verdict::Inconclusive(Reason::ALL[usize::from(b / 4) % Reason::ALL.len()]),
        _ => Verdict::Inconclusive(Reason::Timeout),
    }
}

/// The fuzz inputs' shared convention: bit 0 of the first byte picks MQTT 5 (1) or 3.1.1 (0);
/// the whole first byte and the rest go on to the target. `None` for empty input.
pub fn split_version(data: &[u8]) -> Option<(MqttVersion, u8, &[u8])> {
    let (&head, rest) = data.split_first()?;
    let version = if head & 1 == 1 {
        MqttVersion::V5
    } else {
        MqttVersion::V311
    };
    Some((version, head, rest))
}

/// Byte 0: MQTT version (bit 0) and probe kind; then 3 bytes per observation; the rest are
/// control runs (verdict byte, start byte, version/fresh byte) paired with each observation.
pub fn evidence_rules(data: &[u8]) {
    let Some((version, head, rest)) = split_version(data) else {
        return;
    };
    let action = ProbeAction::ALL[usize::from(head >> 1) % ProbeAction::ALL.len()];
    let (obs_bytes, control_bytes) = rest.split_at(rest.len().min(48) / 3 * 3);
    let controls: Vec<ControlRun> = control_bytes
        .chunks_exact(3)
        .map(|c| ControlRun {
            verdict: verdict(c[0]),
            started_ms: u64::from(c[1]) * 10,
            version: if c[2] & 1 == 1 {
                MqttVersion::V5
            } else {
                MqttVersion::V311
            },
            fresh: c[2] & 2 != 0,
            family: ProbeFamily::ALL[usize::from(c[2] >> 2) % ProbeFamily::ALL.len()],
        })
        .collect();
    let family = action.family();
    for chunk in obs_bytes.chunks_exact(3) {
        let obs = observation(chunk[0], chunk[1], chunk[2]);
        let classified = classify(version, action, &obs);
        let proof = matches!(&obs, Observation::NotDelivered { proof } if is_delivery_proof(proof));
        assert!(
            classified != Classified::Final(Verdict::Denied)
                || is_explicit_refusal(version, &obs)
                || proof,
            "{version} {action}: {obs:?} classified as denied without refusal or proof"
        );
        let repeated_close = matches!(
            &obs,
            Observation::ClosedWithoutAck { repeated: true, after_ms, .. } if *after_ms <= CLOSE_WINDOW_MS
        );
        assert!(
            classified != Classified::DeniedIfControlConfirms
                || (version == MqttVersion::V311 && repeated_close),
            "{version} {action}: {obs:?} awaits a control without a repeated close in the window"
        );
        let forbidden = matches!(
            &obs,
            Observation::ApiAnswer(a) if a.status == 403 && a.error_type.as_deref() == Some("ForbiddenException")
        );
        assert!(
            classified != Classified::DeniedIfSignedControlConfirms || forbidden,
            "{action}: {obs:?} awaits a signed control without a ForbiddenException"
        );
        let ended_ms = u64::from(chunk[1]) * 10;
        for expect in [Expect::Deny, Expect::Allow] {
            let paired =
                pair_with_controls(expect, family, version, classified, ended_ms, &controls);
            if paired != Verdict::Denied {
                continue;
            }
            // Only controls through the canary's own door count.
            let own: Vec<&ControlRun> = controls.iter().filter(|c| c.family == family).collect();
            let controls_ok = !own.is_empty() && own.iter().all(|c| c.verdict == Verdict::Allowed);
            let confirmed = match classified {
                Classified::Final(Verdict::Denied) => expect == Expect::Allow || controls_ok,
                Classified::DeniedIfControlConfirms => {
                    expect == Expect::Deny
                        && controls_ok
                        && own
                            .iter()
                            .any(|c| c.version == version && c.fresh && c.started_ms >= ended_ms)
                }
                Classified::DeniedIfSignedControlConfirms => expect == Expect::Deny && controls_ok,
                Classified::Final(_) => false,
            };
            assert!(
                confirmed,
                "{version} {action} {expect:?}: {classified:?} paired into a denial with {controls:?}"
            );
        }
    }
}

/// `inputs` byte strings shorter than `max_len` from a fixed xorshift seed: the same noise on
/// every run, so the fuzz targets' properties are checked in plain `cargo test` too.
pub fn seeded_noise(inputs: usize, max_len: u64) -> impl Iterator<Item = Vec<u8>> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..inputs).map(move |_| {
        let mut v = Vec::new();
        for _ in 0..(x % max_len) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push((x & 0xFF) as u8);
        }
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_noise_keeps_the_properties() {
        // Every kind × code × wait once, under both versions and every probe kind.
        for head in 0..=(ProbeAction::ALL.len() as u8 * 2) {
            for kind in 0..24u8 {
                for code in [
                    0u8, 1, 2, 4, 5, 0x10, 0x28, 0x80, 0x87, 0x8E, 0x97, 0x9F, 0xFF,
                ] {
                    for wait in (0..16u8).chain([0x80, 0x81, 0x82, 0x83, 0x8F]) {
                        evidence_rules(&[head, kind, code, wait, 1, 50, 2, 1, 0, 3]);
                        evidence_rules(&[head, kind, code, wait]);
                        evidence_rules(&[head, kind, code, wait, 0, 3, 0]);
                        evidence_rules(&[head, kind, code, wait, 1, 0, 4, 1, 0, 8]);
                        evidence_rules(&[head, kind, code, wait, 1, 255, 2]);
                    }
                }
            }
        }
        for v in seeded_noise(5000, 64) {
            evidence_rules(&v);
        }
    }
}
