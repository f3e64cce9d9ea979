//! Client ids of probes that run at the same time must differ: AWS disconnects the older holder
//! of a client id (3.1.1: a bare close; 5: DISCONNECT 0x8E), and on 3.1.1 such a close looks
//! exactly like a refusal. What runs at the same time: every deny canary of a round, and then
//! each identity's controls (an identity's controls start after its deny canaries). An
//! identity's MQTT 5 probes with one client id template share one pooled connection, one probe
//! at a time; everything else — `connect` canaries, MQTT 3.1.1 probes, probes of different
//! identities or versions — holds its own connection.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::verdict::MqttVersion;

/// One canary's use of a client id.
#[derive(Debug, Clone)]
pub(super) struct ClientIdUse {
    pub canary: String,
    pub identity: String,
    pub template: String,
    pub connect: bool,
    pub control: bool,
    pub version: MqttVersion,
    pub span: Range<usize>,
}

/// Placeholders that make an expanded client id differ between identities.
const IDENTITY_SPECIFIC: [&str; 4] = [
    "${identity_id}",
    "${username}",
    "${principal}",
    "${identity}",
];

fn may_overlap(a: &ClientIdUse, b: &ClientIdUse) -> bool {
    if a.connect && b.connect {
        // Connect canaries of different identities may test the same id (another's device,
        // `+`, `#`): a connect's verdict is its CONNACK, which arrives before a later connect
        // with the same id (paced per client id) can take the id over.
        return a.identity == b.identity;
    }
    if a.connect || b.connect || a.identity != b.identity {
        return true;
    }
    if a.control != b.control {
        // An identity's controls run after its deny canaries.
        return false;
    }
    let one_lane =
        a.version == MqttVersion::V5 && b.version == MqttVersion::V5 && a.template == b.template;
    !one_lane
}

/// The collisions among the canaries' client ids, keyed by the id with `${canary}` expanded:
/// one (span, message) per colliding group, at its last member.
pub(super) fn collisions(uses: &BTreeMap<String, Vec<ClientIdUse>>) -> Vec<(Range<usize>, String)> {
    let mut out = Vec::new();
    for (key, users) in uses {
        let identity_specific = IDENTITY_SPECIFIC.iter().any(|p| key.contains(p));
        let groups: Vec<Vec<&ClientIdUse>> = if identity_specific {
            let mut by_identity: BTreeMap<&str, Vec<&ClientIdUse>> = BTreeMap::new();
            for u in users {
                by_identity.entry(u.identity.as_str()).or_default().push(u);
            }
            by_identity.into_values().collect()
        } else {
            vec![users.iter().collect()]
        };
        for group in groups {
            let clash = group
                .iter()
                .enumerate()
                .any(|(i, a)| group[i + 1..].iter().any(|b| may_overlap(a, b)));
            if !clash {
                continue;
            }
            let names: Vec<&str> = group.iter().map(|u| u.canary.as_str()).collect();
            let identities: BTreeSet<&str> = group.iter().map(|u| u.identity.as_str()).collect();
            let why = if group.iter().any(|u| u.connect) || identities.len() > 1 {
                "only connect canaries of different identities may share one"
            } else {
                "probes that run at the same time (MQTT 3.1.1 probes, probes of both MQTT versions) need distinct ids: add `${canary}` to `client_id`"
            };
            let span = group[group.len() - 1].span.clone();
            out.push((
                span,
                format!(
                    "client id `{key}` is used by canaries {}; AWS disconnects the older holder of a client id, so {why}",
                    names.join(", ")
                ),
            ));
        }
    }
    out
}
