//! Liveness markers of generated receive canaries (docs/evidence-rules.md, R2/R4): a topic the
//! witness publishes until the canary's subscription proves live and caught up. Only a marker
//! that arrives *through the filter under test* proves that filter live, so the marker is
//! first sought among the topics the canary's own filter matches; where the identity may
//! receive none of them, any topic it may receive stands in and the canary can end
//! `no_delivery_proof` rather than denied.

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
    /// Delivered through the canary's own filter (so it proves that filter live).
    pub through_filter: bool,
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

/// The marker of receive canary `p` run by `id`, observed by `witness`; `None` when the
/// identity may receive no topic of the world at all.
pub fn choose(
    world: &World,
    id: &WorldIdentity,
    witness: &WorldIdentity,
    p: &Probe,
    now: SystemTime,
) -> Option<Marker> {
    let own = p.target.topic.as_deref();
    let filter = filter_of(p)?;
    let world_topics = world.all_topics();
    let mut seen = BTreeSet::new();
    let mut fresh = |t: &String| Some(t.as_str()) != own && seen.insert(t.clone());

    // Through the filter under test: world topics it matches, then one made up under it.
    let through: Vec<String> = world_topics
        .iter()
        .filter(|t| topic_matches(t, filter))
        .cloned()
        .chain(topic_under(filter).filter(|t| topic_matches(t, filter)))
        .filter(&mut fresh)
        .collect();
    if let Some(t) = through
        .into_iter()
        .find(|t| usable(world, id, witness, t, now))
    {
        return Some(Marker {
            topic: t,
            through_filter: true,
        });
    }

    // Any topic it may receive: its own things' topics and topics under its own filters,
    // then every world topic.
    let mine = world.reach(id);
    let own_things = world.things.iter().filter(|t| mine.contains(t.name.as_str()));
    let mut stand_ins: Vec<String> = Vec::new();
    for thing in own_things {
        stand_ins.extend(world.resources.expand(Template::Topic, thing));
        stand_ins.extend(
            world
                .resources
                .expand(Template::TopicFilter, thing)
                .iter()
                .filter_map(|f| topic_under(f)),
        );
    }
    stand_ins.extend(world_topics.iter().cloned());
    stand_ins
        .into_iter()
        .filter(&mut fresh)
        .find(|t| usable(world, id, witness, t, now))
        .map(|topic| Marker {
            topic,
            through_filter: false,
        })
}
