//! Liveness markers: a topic each receive canary's identity may subscribe to and receive, so a
//! bait that does not arrive can be proven absent (docs/evidence-rules.md, R2). Subscribe
//! canaries use the same filter to single out an MQTT 3.1.1 SUBACK 0x80 (S7).

use super::{Canary, names};
use crate::verdict::{Expect, ProbeAction};

/// Where a probe's liveness marker goes: a topic the identity may receive and the filter it
/// subscribes to it by.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Marker {
    pub topic: String,
    pub filter: String,
    /// Where it came from, for the evidence: `marker_topic`, or `control <name>`.
    pub from: String,
}

/// The marker of `canaries[i]`: its own `marker_topic`, else a topic its identity's controls
/// show it may receive — a receive control's topic (through the control's filter), else a
/// topic under a subscribe control's filter — else, for a receive control, its own topic (a
/// control that cannot receive then stays inconclusive rather than failed).
pub fn resolve(canaries: &[Canary], marker_topics: &[Option<String>], i: usize) -> Option<Marker> {
    let me = &canaries[i];
    if let Some(t) = &marker_topics[i] {
        return Some(Marker {
            topic: t.clone(),
            filter: t.clone(),
            from: "marker_topic".into(),
        });
    }
    let controls = || {
        canaries
            .iter()
            .enumerate()
            .filter(move |(j, c)| *j != i && c.identity == me.identity && c.expect == Expect::Allow)
    };
    let from_receive = controls().find_map(|(_, c)| {
        let topic = c
            .topic
            .clone()
            .filter(|_| c.action == ProbeAction::Receive)?;
        (Some(&topic) != me.topic.as_ref()).then(|| Marker {
            filter: c.topic_filter.clone().unwrap_or_else(|| topic.clone()),
            topic,
            from: format!("control {}", c.name),
        })
    });
    let from_subscribe = || {
        controls().find_map(|(_, c)| {
            let filter = c
                .topic_filter
                .clone()
                .filter(|_| c.action == ProbeAction::Subscribe)?;
            let topic = names::topic_under(&filter)?;
            (Some(&topic) != me.topic.as_ref()).then(|| Marker {
                topic,
                filter,
                from: format!("control {}", c.name),
            })
        })
    };
    let own = || {
        let topic = me.topic.clone()?;
        (me.action == ProbeAction::Receive && me.expect == Expect::Allow).then(|| Marker {
            filter: me.topic_filter.clone().unwrap_or_else(|| topic.clone()),
            topic,
            from: "its own topic".into(),
        })
    };
    from_receive.or_else(from_subscribe).or_else(own)
}
