//! The cross-tenant access matrix of a world: its cells, and the classes the engine groups
//! them into.
//!
//! Universe U = M ∪ D (docs/generate.md):
//! - M: for every identity i that can connect (the witness excluded), every thing t that i
//!   neither owns nor was shared, every action a of the recipe table and every resource r of
//!   t under a's template: the cell (i, a, r), which must be denied;
//! - D: for every Deny statement s in i's policy set that denies subscribing to or receiving a
//!   topic or topic filter, every topic u under it (one made up from the pattern, and every
//!   world topic the pattern covers) and every ancestor filter f of u (`#`, `+/#`, `a/#`,
//!   `a/+/c`, ...): the cell (i, receive u through f), which must stay denied.
//!
//! Two requests are in the same class when they have the same identity and action and the
//! engine finds the same statements applying at every step (the connect step aside, for
//! actions other than `connect`: it is the prerequisite, not the target). The decision is a
//! function of those statements, so one probe per class exercises every cell of it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use iot_canary_core::verdict::ProbeAction;
use iot_canary_policy::{AppliedStatement, Effect, PolicySet};

use super::{CLIENT_ID_TEMPLATE, World, WorldIdentity};
use crate::recipes::{RECIPES, Target, Template};
use crate::simulate::{Evaluation, evaluate};
use crate::witness::{ancestor_filters, glob, instantiate_in};

/// Why a cell is in the universe.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// Another owner's thing.
    Foreign { thing: String },
    /// An ancestor filter of a Deny statement's filter.
    DenyAncestor {
        policy: String,
        statement: String,
        denied: String,
    },
}

/// One request that must stay denied.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cell {
    pub identity: String,
    pub action: ProbeAction,
    pub target: Target,
    /// For `connect`: the client id under test.
    pub connect_as: Option<String>,
    pub origin: Origin,
}

impl Cell {
    /// The resource the cell is about, as a canary names it.
    pub fn resource(&self) -> String {
        match self.action {
            ProbeAction::Connect => self.connect_as.clone().unwrap_or_default(),
            ProbeAction::Subscribe => self.target.topic_filter.clone().unwrap_or_default(),
            ProbeAction::ShadowGet | ProbeAction::ShadowUpdate | ProbeAction::ShadowDelete => {
                self.target.thing.clone().unwrap_or_default()
            }
            ProbeAction::Receive => match (&self.target.topic_filter, &self.target.topic) {
                (Some(f), Some(t)) if f != t => format!("{t} via {f}"),
                (_, t) => t.clone().unwrap_or_default(),
            },
            ProbeAction::Publish | ProbeAction::Retain => {
                self.target.topic.clone().unwrap_or_default()
            }
            // Issue 15 placeholder (coordinator replaces): the new doors' cells are not
            // generated yet; name whatever resource the target holds.
            _ => self
                .target
                .thing
                .clone()
                .or_else(|| self.target.topic.clone())
                .unwrap_or_default(),
        }
    }
}

/// The statements that decide a probe, step by step.
pub type Signature = Vec<Vec<AppliedStatement>>;

/// (identity, action, signature): probes with equal keys are decided alike.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClassKey {
    pub identity: String,
    pub action: ProbeAction,
    pub signature: Signature,
}

/// The class of an evaluated probe; `None` when it cannot exercise anything (a probe other
/// than `connect` whose own connect the engine denies).
pub fn class_of(identity: &str, action: ProbeAction, ev: &Evaluation) -> Option<ClassKey> {
    let skip = if action == ProbeAction::Connect {
        0
    } else {
        if !ev.checks.first().is_some_and(|c| c.allowed()) {
            return None;
        }
        1
    };
    Some(ClassKey {
        identity: identity.to_owned(),
        action,
        signature: ev.applied[skip..].to_vec(),
    })
}

/// The class of a config canary run by world identity `id` (`None` when the engine cannot
/// evaluate it or its own connect is denied).
pub fn canary_class(
    id: &WorldIdentity,
    c: &iot_canary_core::config::Canary,
    now: SystemTime,
) -> Option<ClassKey> {
    let who = id.sim.as_ref().ok()?;
    let ev = evaluate(
        who,
        &c.identity,
        &c.name,
        c.action,
        &Target::of(c),
        &c.client_id,
        now,
    )
    .ok()?;
    class_of(&id.name, c.action, &ev)
}

/// A cell evaluated as a probe of its identity would be: connecting with the generated
/// client-id template (or, for `connect`, as the id under test).
pub fn evaluate_cell(world: &World, cell: &Cell, now: SystemTime) -> Option<Evaluation> {
    let id = world.identity(&cell.identity)?;
    let who = id.sim.as_ref().ok()?;
    let template = match (&cell.action, &cell.connect_as) {
        (ProbeAction::Connect, Some(c)) => c.as_str(),
        _ => CLIENT_ID_TEMPLATE,
    };
    evaluate(
        who,
        &id.name,
        "cell",
        cell.action,
        &cell.target,
        template,
        now,
    )
    .ok()
}

/// The identities whose cells are in the universe: all but the witness, each with why it is
/// left out when it is.
pub fn matrix_identities<'w>(
    world: &'w World,
    witness: Option<&str>,
    now: SystemTime,
) -> (Vec<&'w WorldIdentity>, Vec<(String, String)>) {
    let mut keep = Vec::new();
    let mut out = Vec::new();
    for id in &world.identities {
        if Some(id.name.as_str()) == witness {
            out.push((
                id.name.clone(),
                "the witness (privileged by design)".to_owned(),
            ));
            continue;
        }
        match world.can_connect(id, now) {
            Ok(()) => keep.push(id),
            Err(e) => out.push((id.name.clone(), e)),
        }
    }
    (keep, out)
}

/// The matrix cells (M) of one identity.
pub fn foreign_cells(world: &World, id: &WorldIdentity) -> Vec<Cell> {
    let mut out = Vec::new();
    for thing in world.foreign(id) {
        for r in RECIPES {
            for res in world.resources.expand(r.template, thing) {
                let mut cell = Cell {
                    identity: id.name.clone(),
                    action: r.action,
                    target: Target::default(),
                    connect_as: None,
                    origin: Origin::Foreign {
                        thing: thing.name.clone(),
                    },
                };
                match r.template {
                    Template::ClientId => cell.connect_as = Some(res),
                    Template::Topic => cell.target.topic = Some(res),
                    Template::TopicFilter => cell.target.topic_filter = Some(res),
                    Template::Thing => cell.target.thing = Some(res),
                }
                out.push(cell);
            }
        }
    }
    out
}

/// The Deny-ancestor cells (D) of one identity: for each Deny of `iot:Subscribe` or
/// `iot:Receive` on a `topicfilter/` or `topic/` pattern in its policy set, a receive through
/// each ancestor filter of each topic under the pattern: one made up from the pattern, and
/// every topic of the world's things (resource templates) that the pattern covers.
pub fn deny_ancestor_cells(world: &World, id: &WorldIdentity) -> Vec<Cell> {
    let Ok(who) = &id.sim else {
        return Vec::new();
    };
    let options = crate::AuditOptions {
        account_id: world.account_id.clone(),
        region: world.region.clone(),
        ..Default::default()
    };
    let all_topics = world.all_topics();
    let mut out = Vec::new();
    for policy in policies(&who.set) {
        for s in policy.statements() {
            if s.effect != Effect::Deny || s.not_resource {
                continue;
            }
            let denies = |a: &str| s.actions.iter().any(|p| glob(p, a, true)) != s.not_action;
            if !denies("iot:Subscribe") && !denies("iot:Receive") {
                continue;
            }
            for r in s.resources {
                let arn = instantiate_in(r, &who.context, "iot-canary-probe", &options);
                let Some(name) = arn
                    .split_once(":topicfilter/")
                    .or_else(|| arn.split_once(":topic/"))
                    .map(|(_, n)| n)
                else {
                    continue;
                };
                // A topic of the pattern's own making, and every world topic the pattern
                // covers: a Receive grant scoped to real topics (`devices/*/telemetry`) lets
                // a wildcard deliver those, not a made-up one.
                let mut topics = vec![crate::checks::misconfiguration::concrete(name)];
                let pattern = instantiate_in(r, &who.context, "*", &options);
                if let Some((_, pattern)) = pattern
                    .split_once(":topicfilter/")
                    .or_else(|| pattern.split_once(":topic/"))
                {
                    topics.extend(
                        all_topics
                            .iter()
                            .filter(|t| glob(pattern, t, false))
                            .cloned(),
                    );
                }
                topics.sort();
                topics.dedup();
                for topic in topics {
                    for f in ancestor_filters(&topic) {
                        out.push(Cell {
                            identity: id.name.clone(),
                            action: ProbeAction::Receive,
                            target: Target {
                                topic: Some(topic.clone()),
                                topic_filter: Some(f),
                                ..Default::default()
                            },
                            connect_as: None,
                            origin: Origin::DenyAncestor {
                                policy: policy.name.clone(),
                                statement: s.label.to_owned(),
                                denied: name.to_owned(),
                            },
                        });
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Every policy of a set, layer by layer.
pub(crate) fn policies(set: &PolicySet) -> Vec<&iot_canary_policy::Policy> {
    let lists: Vec<&Vec<std::sync::Arc<iot_canary_policy::Policy>>> = match set {
        PolicySet::Iam { policies } => vec![policies],
        PolicySet::AssumedRole {
            role_policies,
            session_policies,
        } => vec![role_policies, session_policies],
        PolicySet::CognitoAuthenticated {
            role_policies,
            iot_policies,
        } => vec![role_policies, iot_policies],
        PolicySet::CognitoUnauthenticated {
            role_policies,
            session_policies,
        } => vec![role_policies, session_policies],
    };
    lists.into_iter().flatten().map(|p| &**p).collect()
}

/// The universe: every cell with its class (cells whose identity cannot be evaluated are
/// absent), grouped by class in cell order.
pub struct Universe {
    pub cells: Vec<(Cell, ClassKey, bool)>,
    /// Identities left out, with why.
    pub excluded: Vec<(String, String)>,
    pub witness: Option<String>,
}

impl Universe {
    /// The universe of `world` with `witness` (the world's own choice when `None`).
    pub fn build(world: &World, witness: Option<&str>, now: SystemTime) -> Universe {
        let witness = match witness {
            Some(w) => Some(w.to_owned()),
            None => world.witness(now).map(|w| w.name.clone()),
        };
        let (ids, excluded) = matrix_identities(world, witness.as_deref(), now);
        let mut cells = Vec::new();
        for id in ids {
            for cell in foreign_cells(world, id)
                .into_iter()
                .chain(deny_ancestor_cells(world, id))
            {
                let Some(ev) = evaluate_cell(world, &cell, now) else {
                    continue;
                };
                if let Some(key) = class_of(&cell.identity, cell.action, &ev) {
                    let allowed = ev.allowed();
                    cells.push((cell, key, allowed));
                }
            }
        }
        Universe {
            cells,
            excluded,
            witness,
        }
    }

    /// Cells per class.
    pub fn classes(&self) -> BTreeMap<&ClassKey, Vec<&Cell>> {
        let mut m: BTreeMap<&ClassKey, Vec<&Cell>> = BTreeMap::new();
        for (cell, key, _) in &self.cells {
            m.entry(key).or_default().push(cell);
        }
        m
    }
}
