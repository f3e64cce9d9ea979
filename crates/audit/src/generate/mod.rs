//! `iot-canary generate`: canaries derived from a world (identities, things, sharing, policy
//! sources). docs/generate.md states the recipe, the priority order and the minimality rule.
//!
//! Candidates, each evaluated by the engine as the probe would run:
//! 1. one probe per audit finding's witness request, for each identity the finding's policy
//!    applies to (`findings`);
//! 2. wildcard-bypass probes: a receive through every ancestor filter of every Deny statement's
//!    filter (the universe's D cells);
//! 3. client-id spoofing: connect as `+`, `#` and as every other identity's client id;
//! 4. the cross-tenant matrix: every action of the recipe table on every resource of every
//!    thing the identity neither owns nor was shared (the universe's M cells).
//!
//! Minimal: candidates of one class (same identity, action and applying statements) collapse
//! into the first in the order above. Then the budget (`--max`) takes probes by priority:
//! predicted holes, findings, bypasses, spoofs, the matrix (within each, identities in turn),
//! each with its identity's controls (one per family it probes, and the connect control).

mod findings;
mod markers;
mod render;

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use iot_canary_core::verdict::ProbeAction;

use crate::recipes::{Family, RECIPES, Target, WitnessUse, recipe};
use crate::simulate::{Evaluation, SimCheck, evaluate};
use crate::world::matrix::{Cell, ClassKey, Origin, Universe, class_of, evaluate_cell};
use crate::world::{CLIENT_ID_TEMPLATE, World, WorldIdentity};

pub use markers::{Marker, Proves};
pub use render::render;

/// Where a probe comes from; also its tier in the priority order (holes aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Finding,
    Bypass,
    Spoof,
    Matrix,
}

impl Source {
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Finding => "audit finding",
            Source::Bypass => "wildcard bypass",
            Source::Spoof => "client-id spoofing",
            Source::Matrix => "cross-tenant matrix",
        }
    }
}

/// One probe to write.
#[derive(Debug, Clone)]
pub struct Probe {
    /// World identity name.
    pub identity: String,
    pub action: ProbeAction,
    pub target: Target,
    /// For `connect`: the client id under test.
    pub connect_as: Option<String>,
    pub expect_allow: bool,
    /// The witness that baits (receive) or observes (publish), when one can.
    pub witness: Option<String>,
    pub source: Source,
    /// Why it exists (the first reason is its own; later ones are candidates it stands for).
    pub why: Vec<String>,
    /// Universe cells its class holds.
    pub cells: usize,
    /// The engine's steps.
    pub checks: Vec<SimCheck>,
    pub allowed: bool,
    /// For `receive`: its liveness marker.
    pub marker: Option<Marker>,
    /// For `retain`: the other candidates of its class, in order (a retain canary needs a
    /// topic no other retain canary probes).
    alternatives: Vec<Candidate>,
}

impl Probe {
    pub fn family(&self) -> Family {
        recipe(self.action).family
    }

    pub fn needs_witness(&self) -> bool {
        recipe(self.action).witness != WitnessUse::None
    }

    /// The resource as a canary names it (for names and comments).
    pub fn resource(&self) -> String {
        Cell {
            identity: self.identity.clone(),
            action: self.action,
            target: self.target.clone(),
            connect_as: self.connect_as.clone(),
            origin: Origin::Foreign {
                thing: String::new(),
            },
        }
        .resource()
    }
}

pub struct Options {
    /// Budget of canaries (controls included).
    pub max: Option<usize>,
    /// The witness identity (default: the world's choice).
    pub witness: Option<String>,
    /// The audit's suppressions: a suppressed finding gets no probe.
    pub suppressions: Vec<crate::suppress::Suppression>,
    pub now: SystemTime,
}

/// What `generate` decided, before rendering.
pub struct Plan {
    /// Controls then probes, per identity in name order.
    pub canaries: Vec<Probe>,
    pub witness: Option<String>,
    /// Identities left out of the matrix, and why.
    pub excluded: Vec<(String, String)>,
    /// Probes the budget left out (by source).
    pub over_budget: BTreeMap<&'static str, usize>,
    /// Deny probes before the budget, and universe cells.
    pub classes: usize,
    pub cells: usize,
    /// Findings with no MQTT probe yet (HTTPS data plane, control plane).
    pub not_expressible: Vec<String>,
    /// Families of an identity without a control (nothing of its own that family allows).
    pub missing_controls: Vec<(String, Family)>,
}

/// A candidate before deduplication.
#[derive(Debug, Clone)]
struct Candidate {
    cell: Cell,
    source: Source,
    why: String,
}

fn probe_of(world: &World, c: &Candidate, now: SystemTime) -> Option<(ClassKey, Probe)> {
    let ev: Evaluation = evaluate_cell(world, &c.cell, now)?;
    let key = class_of(&c.cell.identity, c.cell.action, &ev)?;
    let allowed = ev.allowed();
    Some((
        key,
        Probe {
            identity: c.cell.identity.clone(),
            action: c.cell.action,
            target: c.cell.target.clone(),
            connect_as: c.cell.connect_as.clone(),
            expect_allow: false,
            witness: None,
            source: c.source,
            why: vec![c.why.clone()],
            cells: 0,
            checks: ev.checks,
            allowed,
            marker: None,
            alternatives: Vec::new(),
        },
    ))
}

fn matrix_why(world: &World, cell: &Cell) -> String {
    match &cell.origin {
        Origin::Foreign { thing } => {
            let owner = world
                .things
                .iter()
                .find(|t| &t.name == thing)
                .and_then(|t| t.owner.clone())
                .unwrap_or_else(|| "nobody".into());
            format!(
                "{}: `{thing}` is {owner}'s and not shared with {}; {} `{}` must be denied",
                Source::Matrix.as_str(),
                cell.identity,
                cell.action,
                cell.resource()
            )
        }
        Origin::DenyAncestor {
            policy,
            statement,
            denied,
        } => format!(
            "{}: {policy}/{statement} denies `{denied}`; subscribing to the wildcard `{}` must not deliver `{}`",
            Source::Bypass.as_str(),
            cell.target.topic_filter.as_deref().unwrap_or(""),
            cell.target.topic.as_deref().unwrap_or("")
        ),
    }
}

/// Connect as `+`, `#` and as each other identity's client id (other users only).
fn spoof_cells(world: &World, id: &WorldIdentity, matrix: &BTreeSet<&str>) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut push = |as_: String, why: String| {
        out.push(Candidate {
            cell: Cell {
                identity: id.name.clone(),
                action: ProbeAction::Connect,
                target: Target::default(),
                connect_as: Some(as_),
                origin: Origin::Foreign {
                    thing: String::new(),
                },
            },
            source: Source::Spoof,
            why,
        });
    };
    for w in ["+", "#"] {
        push(
            w.to_owned(),
            format!(
                "{}: a client id that is an MQTT wildcard turns `${{iot:ClientId}}` in a topic filter into a subscription to every client",
                Source::Spoof.as_str()
            ),
        );
    }
    for other in &world.identities {
        let Some(victim) = &other.spoofable_id else {
            continue;
        };
        if other.name == id.name
            || (other.user.is_some() && other.user == id.user)
            || !matrix.contains(other.name.as_str())
        {
            continue;
        }
        push(
            format!("{victim}-iot-canary"),
            format!(
                "{}: `{victim}-iot-canary` is how {}'s own canaries connect",
                Source::Spoof.as_str(),
                other.name
            ),
        );
    }
    out
}

/// The witness for a probe of `action` on `topic`: `Ok(None)` when the action needs none or
/// the witness cannot serve an optional role, `Err(())` when it needs one that cannot.
fn witness_for(
    world: &World,
    witness: Option<&WorldIdentity>,
    action: ProbeAction,
    topic: Option<&str>,
    now: SystemTime,
) -> Result<Option<String>, ()> {
    let role = recipe(action).witness;
    if role == WitnessUse::None {
        return Ok(None);
    }
    match (witness, topic) {
        (Some(w), Some(t)) if world.witness_can(w, t, now) => Ok(Some(w.name.clone())),
        _ if role.required() => Err(()),
        _ => Ok(None),
    }
}

/// The first own resource of `family` the engine lets `id` use: its control.
fn control(
    world: &World,
    id: &WorldIdentity,
    family: Family,
    witness: Option<&WorldIdentity>,
    now: SystemTime,
) -> Option<Probe> {
    let who = id.sim.as_ref().ok()?;
    let mine = world.reach(id);
    let own: Vec<&crate::world::Thing> = world
        .things
        .iter()
        .filter(|t| mine.contains(t.name.as_str()))
        .collect();
    for r in RECIPES.iter().filter(|r| r.family == family) {
        let mut targets: Vec<(Target, Option<String>)> = Vec::new();
        if r.action == ProbeAction::Connect {
            targets.push((Target::default(), Some(CLIENT_ID_TEMPLATE.to_owned())));
        } else {
            for t in &own {
                for res in world.resources.expand(r.template, t) {
                    let mut target = Target::default();
                    match r.template {
                        crate::recipes::Template::Topic => target.topic = Some(res),
                        crate::recipes::Template::TopicFilter => target.topic_filter = Some(res),
                        crate::recipes::Template::Thing => target.thing = Some(res),
                        crate::recipes::Template::ClientId => continue,
                    }
                    targets.push((target, None));
                }
            }
        }
        for (target, connect_as) in targets {
            let Ok(witness) = witness_for(world, witness, r.action, target.topic.as_deref(), now)
            else {
                continue;
            };
            let template = connect_as.as_deref().unwrap_or(CLIENT_ID_TEMPLATE);
            let Ok(ev) = evaluate(who, &id.name, "control", r.action, &target, template, now)
            else {
                continue;
            };
            if ev.allowed() {
                let why = if r.action == ProbeAction::Connect {
                    format!(
                        "control: {} connects with its own client id; if it cannot, its denials prove nothing",
                        id.name
                    )
                } else {
                    format!(
                        "control of the {} family: {} may {} `{}` (its own); if it cannot, its denials prove nothing",
                        family.as_str(),
                        id.name,
                        r.action,
                        target
                            .topic_filter
                            .clone()
                            .or(target.topic.clone())
                            .or(target.thing.clone())
                            .unwrap_or_default()
                    )
                };
                return Some(Probe {
                    identity: id.name.clone(),
                    action: r.action,
                    target,
                    connect_as,
                    expect_allow: true,
                    witness,
                    source: Source::Matrix,
                    why: vec![why],
                    cells: 0,
                    checks: ev.checks,
                    allowed: true,
                    marker: None,
                    alternatives: Vec::new(),
                });
            }
        }
    }
    None
}

/// Gives every retain canary a topic no earlier one probes: each would otherwise find the
/// other's retained message and, never overwriting what it did not set, stay inconclusive.
/// A probe whose topic is taken takes the first free topic among its class's candidates, else
/// one made up under its own (`<topic>/iot-canary-<identity>`) — either only where the engine
/// decides it by the same statements, so the class stays covered; where neither serves, it
/// keeps its topic and `check` names the clash.
fn own_retain_topics(
    world: &World,
    witness: Option<&WorldIdentity>,
    canaries: &mut [Probe],
    now: SystemTime,
) {
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for p in canaries
        .iter_mut()
        .filter(|p| p.action == ProbeAction::Retain)
    {
        let Some(topic) = p.target.topic.clone() else {
            continue;
        };
        if taken.insert(topic.clone()) {
            continue;
        }
        let cell_on = |t: &str| Cell {
            identity: p.identity.clone(),
            action: ProbeAction::Retain,
            target: Target {
                topic: Some(t.to_owned()),
                ..Default::default()
            },
            connect_as: None,
            origin: Origin::Foreign {
                thing: String::new(),
            },
        };
        let class = |c: &Cell| {
            let ev = evaluate_cell(world, c, now)?;
            class_of(&c.identity, c.action, &ev).map(|k| (k, ev))
        };
        let Some((key, _)) = class(&cell_on(&topic)) else {
            continue;
        };
        let made_up = format!(
            "{topic}/iot-canary-{}",
            p.identity.replace(['/', '+', '#'], "-")
        );
        // The probe's own reason, now about the made-up topic: it replaces the first.
        let own_why = p.why.first().cloned().unwrap_or_default();
        let made_up = Candidate {
            cell: cell_on(&made_up),
            source: p.source,
            why: format!(
                "{own_why}; probed on `{made_up}`, a topic of its own under `{topic}` that the same statements decide (another retain canary probes `{topic}`)"
            ),
        };
        let free = p
            .alternatives
            .iter()
            .map(|c| (c, false))
            .chain(std::iter::once((&made_up, true)))
            .find_map(|(c, is_made_up)| {
                let t = c.cell.target.topic.as_deref()?;
                if taken.contains(t) || iot_canary_core::config::names::topic_problem(t).is_some() {
                    return None;
                }
                let w = witness_for(world, witness, ProbeAction::Retain, Some(t), now).ok()??;
                let (k, ev) = class(&c.cell)?;
                (k == key).then(|| (c.why.clone(), is_made_up, w, c.cell.target.clone(), ev))
            });
        if let Some((why, is_made_up, w, target, ev)) = free {
            taken.insert(target.topic.clone().unwrap_or_default());
            match p.why.first_mut() {
                Some(first) if is_made_up => *first = why,
                _ => {
                    p.why.retain(|x| x != &why);
                    p.why.insert(0, why);
                }
            }
            p.witness = Some(w);
            p.target = target;
            p.checks = ev.checks;
        }
    }
}

/// Plans the canaries of `world`.
pub fn plan(world: &World, o: &Options) -> Plan {
    let now = o.now;
    let universe = Universe::build(world, o.witness.as_deref(), now);
    let witness = universe.witness.clone();
    let matrix: BTreeSet<&str> = world
        .identities
        .iter()
        .filter(|i| !universe.excluded.iter().any(|(n, _)| n == &i.name))
        .map(|i| i.name.as_str())
        .collect();
    let witness_id = witness.as_deref().and_then(|w| world.identity(w));

    // Candidates in source order.
    let (finding_candidates, not_expressible) =
        findings::candidates(world, &matrix, &o.suppressions);
    let mut candidates: Vec<Candidate> = finding_candidates;
    let mut universe_cells: Vec<&Cell> = universe.cells.iter().map(|(c, ..)| c).collect();
    // Bypasses (D) before the matrix (M), each in cell order.
    universe_cells.sort_by_key(|c| !matches!(c.origin, Origin::DenyAncestor { .. }));
    let (bypass, foreign): (Vec<&Cell>, Vec<&Cell>) = universe_cells
        .into_iter()
        .partition(|c| matches!(c.origin, Origin::DenyAncestor { .. }));
    for c in bypass {
        candidates.push(Candidate {
            cell: c.clone(),
            source: Source::Bypass,
            why: matrix_why(world, c),
        });
    }
    for id in world
        .identities
        .iter()
        .filter(|i| matrix.contains(i.name.as_str()))
    {
        candidates.extend(spoof_cells(world, id, &matrix));
    }
    for c in foreign {
        candidates.push(Candidate {
            cell: c.clone(),
            source: Source::Matrix,
            why: matrix_why(world, c),
        });
    }

    // One probe per class: the first candidate; the others are listed in its reasons.
    let class_cells: BTreeMap<&ClassKey, usize> = universe
        .classes()
        .into_iter()
        .map(|(k, v)| (k, v.len()))
        .collect();
    let mut by_class: BTreeMap<ClassKey, usize> = BTreeMap::new();
    let mut probes: Vec<Probe> = Vec::new();
    for c in &candidates {
        // A receive needs a witness that can bait its topic; a publish is observed if it can.
        let Ok(w) = witness_for(
            world,
            witness_id,
            c.cell.action,
            c.cell.target.topic.as_deref(),
            now,
        ) else {
            continue;
        };
        let Some((key, mut p)) = probe_of(world, c, now) else {
            continue;
        };
        p.witness = w;
        match by_class.get(&key) {
            Some(&i) => {
                let first = &mut probes[i];
                if first.why.len() < 4 && !first.why.contains(&c.why) {
                    first.why.push(c.why.clone());
                }
                if first.action == ProbeAction::Retain {
                    first.alternatives.push(Candidate {
                        cell: c.cell.clone(),
                        source: c.source,
                        why: c.why.clone(),
                    });
                }
            }
            None => {
                p.cells = class_cells.get(&key).copied().unwrap_or(0);
                by_class.insert(key, probes.len());
                probes.push(p);
            }
        }
    }

    // Priority: holes first, then by source; identities in turn within a tier.
    let tier = |p: &Probe| if p.allowed { 0 } else { 1 + p.source as usize };
    let mut turn: BTreeMap<(usize, String), usize> = BTreeMap::new();
    let mut ranked: Vec<(usize, usize, String, u8, usize)> = Vec::new();
    for (i, p) in probes.iter().enumerate() {
        let t = tier(p);
        let n = turn.entry((t, p.identity.clone())).or_insert(0);
        ranked.push((t, *n, p.identity.clone(), recipe(p.action).rank, i));
        *n += 1;
    }
    ranked.sort();

    // Controls per identity and family, computed once.
    let mut controls: BTreeMap<(String, Family), Option<Probe>> = BTreeMap::new();
    let mut control_of = |id: &str, family: Family| -> Option<Probe> {
        controls
            .entry((id.to_owned(), family))
            .or_insert_with(|| {
                world
                    .identity(id)
                    .and_then(|w| control(world, w, family, witness_id, now))
            })
            .clone()
    };

    let budget = o.max.unwrap_or(usize::MAX);
    let mut chosen: Vec<usize> = Vec::new();
    let mut chosen_controls: BTreeMap<(String, Family), Probe> = BTreeMap::new();
    let mut missing: BTreeSet<(String, Family)> = BTreeSet::new();
    let mut over_budget: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut used = 0usize;
    for (.., i) in ranked {
        let p = &probes[i];
        let mut needed = Vec::new();
        for family in [Family::Connect, p.family()] {
            let key = (p.identity.clone(), family);
            if chosen_controls.contains_key(&key) || needed.iter().any(|(k, _)| k == &key) {
                continue;
            }
            match control_of(&p.identity, family) {
                Some(c) => needed.push((key, c)),
                None => {
                    missing.insert(key);
                }
            }
        }
        if !chosen_controls.contains_key(&(p.identity.clone(), Family::Connect))
            && !needed.iter().any(|(k, _)| k.1 == Family::Connect)
        {
            // Without a connect control no denial of this identity counts.
            continue;
        }
        let cost = 1 + needed.len();
        if used + cost > budget {
            let label = if p.allowed {
                "predicted hole"
            } else {
                p.source.as_str()
            };
            *over_budget.entry(label).or_insert(0) += 1;
            continue;
        }
        used += cost;
        chosen_controls.extend(needed);
        chosen.push(i);
    }
    let mut canaries: Vec<Probe> = Vec::new();
    let identities: BTreeSet<&str> = chosen
        .iter()
        .map(|&i| probes[i].identity.as_str())
        .collect();
    for id in identities {
        canaries.extend(
            chosen_controls
                .iter()
                .filter(|((n, _), _)| n == id)
                .map(|(_, c)| c.clone()),
        );
        canaries.extend(
            chosen
                .iter()
                .filter(|&&i| probes[i].identity == id)
                .map(|&i| probes[i].clone()),
        );
    }
    own_retain_topics(world, witness_id, &mut canaries, now);
    if let Some(w) = witness_id {
        for p in canaries
            .iter_mut()
            .filter(|p| p.action == ProbeAction::Receive)
        {
            if let Some(id) = world.identity(&p.identity) {
                p.marker = Some(markers::choose(world, id, w, p, now));
            }
        }
    }
    let needs_witness = canaries.iter().any(Probe::needs_witness);
    Plan {
        canaries,
        witness: if needs_witness { witness } else { None },
        excluded: universe.excluded.clone(),
        over_budget,
        classes: probes.len(),
        cells: universe.cells.len(),
        not_expressible,
        missing_controls: missing
            .into_iter()
            .filter(|k| !chosen_controls.contains_key(k))
            .filter(|(n, _)| chosen.iter().any(|&i| &probes[i].identity == n))
            .collect(),
    }
}
