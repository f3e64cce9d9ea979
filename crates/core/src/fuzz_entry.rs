//! Entry point for the `evidence_rules` fuzz target (`fuzz/`), behind the `fuzzing` feature.
//! Arbitrary bytes become observations, probe kinds, MQTT versions and control runs; the
//! properties are the product's promise: nothing reads as `denied` unless it rests on the
//! protocol's explicit refusal or on the probe's own proof of non-delivery, and control
//! pairing never turns anything else into a denial.

use crate::verdict::{
    Classified, ControlRun, Expect, MqttVersion, Observation, ProbeAction, Reason, Verdict,
    Waiting, classify, is_explicit_refusal, pair_with_controls,
};

const WAITING: [Waiting; 6] = [
    Waiting::Credentials,
    Waiting::Connack,
    Waiting::Suback,
    Waiting::Puback,
    Waiting::Delivery,
    Waiting::Witness,
];

/// Decodes one observation from three bytes: a kind, a code and what was awaited.
fn observation(kind: u8, code: u8, wait: u8) -> Observation {
    let waiting_for = WAITING[usize::from(wait) % WAITING.len()];
    match kind % 17 {
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
            after_ms: u64::from(code) * 10,
        },
        9 => Observation::Puback { code },
        10 => Observation::Suback { code },
        11 => Observation::Delivered,
        12 => Observation::NotDelivered,
        13 => Observation::WitnessFailed,
        14 => Observation::DnsFailed,
        15 => Observation::TcpRefused,
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
/// control runs (verdict byte, start byte) paired with each observation.
pub fn evidence_rules(data: &[u8]) {
    let Some((version, head, rest)) = split_version(data) else {
        return;
    };
    let action = ProbeAction::ALL[usize::from(head >> 1) % ProbeAction::ALL.len()];
    let (obs_bytes, control_bytes) = rest.split_at(rest.len().min(48) / 3 * 3);
    let controls: Vec<ControlRun> = control_bytes
        .chunks_exact(2)
        .map(|c| ControlRun {
            verdict: verdict(c[0]),
            started_ms: u64::from(c[1]) * 10,
        })
        .collect();
    for chunk in obs_bytes.chunks_exact(3) {
        let obs = observation(chunk[0], chunk[1], chunk[2]);
        let classified = classify(version, action, &obs);
        let rests_on_evidence =
            is_explicit_refusal(version, &obs) || obs == Observation::NotDelivered;
        assert!(
            classified != Classified::Final(Verdict::Denied) || rests_on_evidence,
            "{version} {action}: {obs:?} classified as denied without evidence"
        );
        let ended_ms = u64::from(chunk[1]) * 10;
        for expect in [Expect::Deny, Expect::Allow] {
            let paired = pair_with_controls(expect, classified, ended_ms, &controls);
            if paired != Verdict::Denied {
                continue;
            }
            let controls_ok =
                !controls.is_empty() && controls.iter().all(|c| c.verdict == Verdict::Allowed);
            let confirmed = match classified {
                Classified::Final(Verdict::Denied) => expect == Expect::Allow || controls_ok,
                Classified::DeniedIfControlConfirms => {
                    expect == Expect::Deny
                        && controls_ok
                        && controls.iter().any(|c| c.started_ms >= ended_ms)
                }
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
            for kind in 0..15u8 {
                for code in [0u8, 1, 2, 4, 5, 0x10, 0x80, 0x87, 0x8E, 0x97, 0x9F, 0xFF] {
                    for wait in 0..6u8 {
                        evidence_rules(&[head, kind, code, wait, 1, 50, 1, 0]);
                        evidence_rules(&[head, kind, code, wait]);
                        evidence_rules(&[head, kind, code, wait, 0, 3]);
                    }
                }
            }
        }
        for v in seeded_noise(5000, 64) {
            evidence_rules(&v);
        }
    }
}
