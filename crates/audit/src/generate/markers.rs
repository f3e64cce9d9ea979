//! Liveness markers of generated receive canaries (docs/evidence-rules.md, R2/R4): a topic the
//! witness publishes until the canary's subscription proves live and caught up. Only a marker
//! that arrives *through the filter under test* proves that filter live, so the marker is
//! first sought among the topics the canary's own filter matches; where the identity may
//! receive none of them, any topic it may receive stands in and the canary can end
//! `no_delivery_proof` rather than denied. Made-up topics under a filter come before world
//! topics, so markers disturb devices' own topics only where nothing else serves.

use std::collections::BTreeSet;
use std::time::SystemTime;

use iot_canary_core::config::names::topic_under;
use iot_canary_core::verdict::ProbeAction;
use iot_canary_policy::actions::topic_matches;

use super::Probe;
use crate::recipes::{Target, Template};
use crate::simulate::evaluate;
use crate::world::{CLIENT_ID_TEMPLATE, World, WorldIdentity};

/// A receive canary's `marker_topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub topic: String,
    pub proves: Proves,
}

/// What a marker can prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proves {
    /// It arrives through the filter under test: that filter is live and caught up.
    FilterUnderTest,
    /// The identity may receive it, but not through the filter under test.
    OtherSubscription,
    /// The engine lets the identity receive no topic of the world: where the marker would go.
    Nothing,
}

/// The filter a receive canary subscribes to: its `topic_filter`, else its topic.
pub fn filter_of(p: &Probe) -> Option<&str> {
    p.target
        .topic_filter
        .as_deref()
        .or(p.target.topic.as_deref())
}

/// Whether the engine lets `id` subscribe to `topic` alone and receive it (the marker's own
/// subscription comes before the packet under test), and lets the witness publish it.
fn usable(
    world: &World,
    id: &WorldIdentity,
    witness: &WorldIdentity,
    topic: &str,
    now: SystemTime,
) -> bool {
    let Ok(who) = &id.sim else { return false };
    let target = Target {
        topic: Some(topic.to_owned()),
        topic_filter: Some(topic.to_owned()),
        ..Default::default()
    };
    evaluate(
        who,
        &id.name,
        "marker",
        ProbeAction::Receive,
        &target,
        CLIENT_ID_TEMPLATE,
        now,
    )
    .is_ok_and(|ev| ev.allowed())
        && world.witness_can(witness, topic, now)
}

/// The marker of receive canary `p` run by `id`, observed by `witness`.
pub fn choose(
    world: &World,
    id: &WorldIdentity,
    witness: &WorldIdentity,
    p: &Probe,
    now: SystemTime,
) -> Marker {
    let own = p.target.topic.as_deref();
    let filter = filter_of(p).unwrap_or_default();
    let world_topics = world.all_topics();
    let mut seen = BTreeSet::new();
    let mut fresh = |t: &String| Some(t.as_str()) != own && seen.insert(t.clone());

    // Through the filter under test: one made up under it, then world topics it matches.
    let through: Vec<String> = topic_under(filter)
        .into_iter()
        .chain(world_topics.iter().cloned())
        .filter(|t| topic_matches(t, filter))
        .filter(&mut fresh)
        .collect();
    if let Some(t) = through.iter().find(|t| usable(world, id, witness, t, now)) {
        return Marker {
            topic: t.clone(),
            proves: Proves::FilterUnderTest,
        };
    }

    // Any topic it may receive: made up under its own things' filters, its own things'
    // topics, then every world topic.
    let mine = world.reach(id);
    let own_things: Vec<_> = world
        .things
        .iter()
        .filter(|t| mine.contains(t.name.as_str()))
        .collect();
    let stand_ins = own_things
        .iter()
        .flat_map(|t| world.resources.expand(Template::TopicFilter, t))
        .filter_map(|f| topic_under(&f))
        .chain(
            own_things
                .iter()
                .flat_map(|t| world.resources.expand(Template::Topic, t)),
        )
        .chain(world_topics.iter().cloned())
        .filter(&mut fresh)
        .find(|t| usable(world, id, witness, t, now));
    match stand_ins {
        Some(topic) => Marker {
            topic,
            proves: Proves::OtherSubscription,
        },
        // `check` wants a marker; one the identity cannot receive keeps the canary honest: a
        // refused subscription under test is still a denial, a granted one ends
        // `no_delivery_proof`.
        None => Marker {
            topic: through
                .into_iter()
                .next()
                .unwrap_or_else(|| "iot-canary/marker".to_owned()),
            proves: Proves::Nothing,
        },
    }
}
