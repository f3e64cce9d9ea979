//! Audit findings as probes: each finding's witness request, rewritten from the audit's probe
//! identities (`audit-device`, `audit-other-device`, their Cognito ids) into a world
//! identity's own and foreign names, for every identity the finding's policy applies to.
//!
//! The probe is the witness's decisive request as an MQTT probe: a Subscribe+Receive pair is a
//! `receive` through the filter; Subscribe alone `subscribe`; RetainPublish `retain`; Publish
//! to a reserved shadow topic `shadow-*`, else `publish`; Connect `connect`. A witness whose
//! caller connects with a client id other than its own (the `+` client-id trap) becomes the
//! `connect` as that id: the rest of the route was proven offline and needs that connect.
//! Other actions (the HTTPS data plane, the control plane) have no probe yet and are listed.

use std::collections::BTreeSet;

use iot_canary_core::verdict::ProbeAction;

use super::{Candidate, Source};
use crate::Finding;
use crate::recipes::{Target, Template};
use crate::witness::{DEVICE, DEVICE_COGNITO_SUB, OTHER, OTHER_COGNITO_SUB, ProvedRequest};
use crate::world::matrix::{Cell, Origin};
use crate::world::{World, WorldIdentity};

/// Names of the policies in an identity's set.
fn policy_names(id: &WorldIdentity) -> BTreeSet<String> {
    match &id.sim {
        Ok(who) => crate::world::matrix::policies(&who.set)
            .into_iter()
            .map(|p| p.name.clone())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// `(kind, name)` of an IoT ARN: `("topic", "a/b")`.
fn split_arn(arn: &str) -> Option<(&str, &str)> {
    arn.splitn(6, ':').nth(5)?.split_once('/')
}

/// The audit's stand-in names rewritten for `id`.
struct Rename<'a> {
    own_thing: Option<&'a str>,
    foreign_thing: &'a str,
    foreign_client: String,
    own_sub: Option<String>,
    other_sub: Option<String>,
}

impl Rename<'_> {
    fn apply(&self, s: &str) -> Option<String> {
        let mut out = s.to_owned();
        if out.contains(OTHER_COGNITO_SUB) {
            out = out.replace(OTHER_COGNITO_SUB, self.other_sub.as_deref()?);
        }
        if out.contains(DEVICE_COGNITO_SUB) {
            out = out.replace(DEVICE_COGNITO_SUB, self.own_sub.as_deref()?);
        }
        out = out.replace(OTHER, self.foreign_thing);
        if out.contains(DEVICE) {
            out = out.replace(DEVICE, self.own_thing?);
        }
        Some(out)
    }
}

/// `$aws/things/T/shadow/[name/N/]OP` -> (T, N, action).
fn shadow_op(topic: &str) -> Option<(String, Option<String>, ProbeAction)> {
    let rest = topic.strip_prefix("$aws/things/")?;
    let (thing, rest) = rest.split_once("/shadow/")?;
    let (name, op) = match rest.strip_prefix("name/") {
        Some(r) => {
            let (n, op) = r.split_once('/')?;
            (Some(n.to_owned()), op)
        }
        None => (None, rest),
    };
    let action = match op {
        "get" => ProbeAction::ShadowGet,
        "update" => ProbeAction::ShadowUpdate,
        "delete" => ProbeAction::ShadowDelete,
        _ => return None,
    };
    Some((thing.to_owned(), name, action))
}

/// The probe cell for one finding's witness, for `id`; `Err` names what has no probe yet.
fn cell_for(
    witness: &[ProvedRequest],
    id: &WorldIdentity,
    r: &Rename<'_>,
) -> Result<Option<Cell>, String> {
    let find = |action: &str| {
        witness
            .iter()
            .find(|w| w.action == action)
            .and_then(|w| split_arn(&w.resource).map(|(_, n)| n.to_owned()))
    };
    let mut cell = Cell {
        identity: id.name.clone(),
        action: ProbeAction::Connect,
        target: Target::default(),
        connect_as: None,
        origin: Origin::Foreign {
            thing: r.foreign_thing.to_owned(),
        },
    };
    let caller = witness.first().and_then(|w| w.caller.client_id.clone());
    let own_caller = matches!(caller.as_deref(), Some(DEVICE) | None);
    let connect = find("iot:Connect");
    if !own_caller || (connect.is_some() && witness.len() == 1) {
        let as_ = match (connect, caller) {
            (Some(c), _) | (None, Some(c)) => c,
            (None, None) => return Ok(None),
        };
        let as_ = if as_ == OTHER {
            r.foreign_client.clone()
        } else {
            match r.apply(&as_) {
                Some(a) => a,
                None => return Ok(None),
            }
        };
        cell.connect_as = Some(as_);
        return Ok(Some(cell));
    }
    let apply = |v: Option<String>| v.and_then(|s| r.apply(&s));
    if let Some(topic) = find("iot:Receive") {
        let Some(topic) = r.apply(&topic) else {
            return Ok(None);
        };
        cell.action = ProbeAction::Receive;
        cell.target.topic_filter = apply(find("iot:Subscribe")).or(Some(topic.clone()));
        cell.target.topic = Some(topic);
    } else if let Some(filter) = find("iot:Subscribe") {
        cell.action = ProbeAction::Subscribe;
        cell.target.topic_filter = r.apply(&filter);
    } else if let Some(topic) = find("iot:RetainPublish") {
        cell.action = ProbeAction::Retain;
        cell.target.topic = r.apply(&topic);
    } else if let Some(topic) = find("iot:Publish") {
        let Some(topic) = r.apply(&topic) else {
            return Ok(None);
        };
        match shadow_op(&topic) {
            Some((thing, shadow, action)) => {
                cell.action = action;
                cell.target.thing = Some(thing);
                cell.target.shadow = shadow;
            }
            None => {
                cell.action = ProbeAction::Publish;
                cell.target.topic = Some(topic);
            }
        }
    } else {
        let actions: BTreeSet<&str> = witness.iter().map(|w| w.action.as_str()).collect();
        return Err(actions.into_iter().collect::<Vec<_>>().join(" + "));
    }
    let complete = match cell.action {
        ProbeAction::Subscribe => cell.target.topic_filter.is_some(),
        ProbeAction::Publish | ProbeAction::Retain => cell.target.topic.is_some(),
        _ => true,
    };
    Ok(complete.then_some(cell))
}

/// Probe candidates for every finding with a witness, for every identity of the matrix whose
/// policy set holds the finding's policy; and what had no probe.
pub(super) fn candidates(
    world: &World,
    matrix: &BTreeSet<&str>,
    suppressions: &[crate::suppress::Suppression],
) -> (Vec<Candidate>, Vec<String>) {
    let options = crate::AuditOptions {
        account_id: world.account_id.clone(),
        region: world.region.clone(),
        ..Default::default()
    };
    let mut findings: Vec<Finding> = crate::audit(&world.sources, &options);
    crate::suppress::apply(&mut findings, suppressions);
    let mut out = Vec::new();
    let mut not_expressible = BTreeSet::new();
    let other_sub = |id: &WorldIdentity| {
        world
            .identities
            .iter()
            .filter(|o| o.name != id.name && matrix.contains(o.name.as_str()))
            .find_map(|o| o.spoofable_id.clone().filter(|s| s.contains(':')))
    };
    for f in findings
        .iter()
        .filter(|f| !f.witness.is_empty() && f.suppressed.is_none())
    {
        for id in world
            .identities
            .iter()
            .filter(|i| matrix.contains(i.name.as_str()))
            .filter(|i| policy_names(i).contains(&f.policy))
        {
            let foreign = world.foreign(id);
            let Some(thing) = foreign.first() else {
                continue;
            };
            let mine = world.reach(id);
            let rename = Rename {
                own_thing: mine.iter().next().copied(),
                foreign_thing: &thing.name,
                foreign_client: world
                    .resources
                    .expand(Template::ClientId, thing)
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| thing.name.clone()),
                own_sub: id.sim.as_ref().ok().and_then(|s| s.identity_id.clone()),
                other_sub: other_sub(id),
            };
            match cell_for(&f.witness, id, &rename) {
                Ok(Some(cell)) => out.push(Candidate {
                    cell,
                    source: Source::Finding,
                    why: format!(
                        "{}: {} {} ({}) in {}: {}",
                        Source::Finding.as_str(),
                        f.check,
                        f.reason,
                        f.criterion,
                        f.policy,
                        f.witness
                            .iter()
                            .map(ProvedRequest::summary)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                }),
                Ok(None) => {}
                Err(actions) => {
                    not_expressible.insert(format!(
                        "{} {} in {} ({actions})",
                        f.check, f.reason, f.policy
                    ));
                }
            }
        }
    }
    (out, not_expressible.into_iter().collect())
}
