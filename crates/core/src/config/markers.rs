//! Liveness markers: a topic each receive canary's identity may receive, so a bait that does
//! not arrive can be proven absent (docs/evidence-rules.md, R2, R7). Subscribe canaries use
//! the same kind of topic, by its own filter, to single out an MQTT 3.1.1 SUBACK 0x80 (S7).
//!
//! A receive canary's marker must come *through the filter under test*: AWS delays delivery
//! after SUBACK per subscription ("there might be a delay between the time the message broker
//! sends a SUBACK and the time the client starts receiving new matching messages") and does
//! not say that filters subscribed in one packet become active together, so a marker through
//! any other filter proves only that filter live.

use super::{Canary, names};
use crate::verdict::{Expect, ProbeAction};

/// Where a probe's liveness marker goes: a topic the identity may receive and the filter it
/// arrives through (for a receive canary: the filter under test).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Marker {
    pub topic: String,
    pub filter: String,
    /// Where it came from, for the evidence: `marker_topic`, `control <name>`, or
    /// `its own topic`.
    pub from: String,
}

/// Whether a message on `topic` reaches a subscription to `filter` (MQTT matching, `$` topics
/// never through a leading wildcard).
pub fn matched_by(topic: &str, filter: &str) -> bool {
    iot_canary_policy::actions::topic_matches(topic, filter)
}

/// The filter a receive canary subscribes to: its `topic_filter`, else its topic.
pub fn receive_filter(c: &Canary) -> Option<&str> {
    c.topic_filter.as_deref().or(c.topic.as_deref())
}

/// The marker of `canaries[i]`: its own `marker_topic`, else a topic its identity's controls
/// show it may receive. A receive canary takes only a topic its filter under test matches
/// (other than its own topic): a receive control's topic, else a topic under a subscribe
/// control's filter, else — for a receive control — its own topic (a control that cannot
/// receive then stays inconclusive rather than failed). An exact filter matches only its own
/// topic, so a receive *deny* canary with one has no marker: a refused SUBSCRIBE can still deny
/// it, a granted one stays `no_delivery_proof`. A subscribe canary takes a receive control's
/// topic through the control's filter, else a topic under a subscribe control's filter.
pub fn resolve(canaries: &[Canary], marker_topics: &[Option<String>], i: usize) -> Option<Marker> {
    let me = &canaries[i];
    let under_test = match me.action {
        ProbeAction::Receive => Some(receive_filter(me)?.to_string()),
        _ => None,
    };
    if let Some(t) = &marker_topics[i] {
        return Some(Marker {
            topic: t.clone(),
            filter: under_test.unwrap_or_else(|| t.clone()),
            from: "marker_topic".into(),
        });
    }
    // For a receive canary: the marker comes through its own filter, so a candidate counts
    // only if that filter matches it.
    let usable = |topic: &str| {
        Some(topic) != me.topic.as_deref()
            && under_test.as_deref().is_none_or(|f| matched_by(topic, f))
    };
    let marker = |topic: String, control_filter: String, from: String| Marker {
        filter: under_test.clone().unwrap_or(control_filter),
        topic,
        from,
    };
    let controls = || {
        canaries
            .iter()
            .enumerate()
            .filter(move |(j, c)| *j != i && c.identity == me.identity && c.expect == Expect::Allow)
    };
    let from_receive = || {
        controls().find_map(|(_, c)| {
            let topic = c
                .topic
                .clone()
                .filter(|_| c.action == ProbeAction::Receive)?;
            usable(&topic).then(|| {
                let filter = c.topic_filter.clone().unwrap_or_else(|| topic.clone());
                marker(topic, filter, format!("control {}", c.name))
            })
        })
    };
    let from_subscribe = || {
        controls().find_map(|(_, c)| {
            let filter = c
                .topic_filter
                .clone()
                .filter(|_| c.action == ProbeAction::Subscribe)?;
            let topic = names::topic_under(&filter)?;
            usable(&topic).then(|| marker(topic, filter, format!("control {}", c.name)))
        })
    };
    let own = || {
        let topic = me.topic.clone()?;
        let filter = under_test.clone()?;
        (me.expect == Expect::Allow).then(|| Marker {
            topic,
            filter,
            from: "its own topic".into(),
        })
    };
    from_receive().or_else(from_subscribe).or_else(own)
}
