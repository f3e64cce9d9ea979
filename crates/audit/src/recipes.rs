//! The one table of what each probe action is: its family (for controls), the resource
//! template of the cross-tenant matrix it is generated from, how it uses a witness, and the
//! authorizations a probe of it needs (what `simulate`, `generate` and coverage evaluate).
//!
//! A new action (the HTTPS data plane, the control plane, role paths) is one more row in
//! [`RECIPES`] and one more arm in [`Recipe::steps`]; `generate`, coverage and `simulate` pick it
//! up from here.

use iot_canary_core::config::Canary;
use iot_canary_core::verdict::ProbeAction;

/// Actions whose controls are shared: one control per identity and family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Connect,
    Publish,
    Subscribe,
    Receive,
    Shadow,
}

impl Family {
    pub const fn as_str(self) -> &'static str {
        match self {
            Family::Connect => "connect",
            Family::Publish => "publish",
            Family::Subscribe => "subscribe",
            Family::Receive => "receive",
            Family::Shadow => "shadow",
        }
    }
}

/// Which of a thing's resources an action is generated over (the ownership file's
/// `[resources]` lists, or the thing itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Template {
    /// `[resources] client_ids`: the client ids a thing's device connects with.
    ClientId,
    /// `[resources] topics`: topic names a thing's device publishes or receives on.
    Topic,
    /// `[resources] topic_filters`: filters an owner subscribes to.
    TopicFilter,
    /// The thing's name (shadows).
    Thing,
}

/// What the witness does for a probe of this action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitnessUse {
    None,
    /// Subscribes and reports whether the canary's publish got through.
    Observes,
    /// Publishes a unique nonce the canary must never receive (required).
    Baits,
    /// Subscribes afresh and must see the canary's message retained (required: a PUBACK
    /// alone does not show the message was retained, docs/evidence-rules.md A1).
    SeesRetained,
}

impl WitnessUse {
    /// Whether a probe cannot be judged without the witness.
    pub const fn required(self) -> bool {
        matches!(self, WitnessUse::Baits | WitnessUse::SeesRetained)
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Recipe {
    pub action: ProbeAction,
    pub family: Family,
    pub template: Template,
    pub witness: WitnessUse,
    /// Order of the matrix tier in `generate` (lower first): what leaks data or changes
    /// devices before what only reads metadata.
    pub rank: u8,
}

/// Every probe action the engine can express, with its template and witness use.
pub const RECIPES: &[Recipe] = &[
    Recipe {
        action: ProbeAction::Receive,
        family: Family::Receive,
        template: Template::Topic,
        witness: WitnessUse::Baits,
        rank: 0,
    },
    Recipe {
        action: ProbeAction::Publish,
        family: Family::Publish,
        template: Template::Topic,
        witness: WitnessUse::Observes,
        rank: 1,
    },
    Recipe {
        action: ProbeAction::Subscribe,
        family: Family::Subscribe,
        template: Template::TopicFilter,
        witness: WitnessUse::None,
        rank: 2,
    },
    Recipe {
        action: ProbeAction::ShadowUpdate,
        family: Family::Shadow,
        template: Template::Thing,
        witness: WitnessUse::None,
        rank: 3,
    },
    Recipe {
        action: ProbeAction::ShadowDelete,
        family: Family::Shadow,
        template: Template::Thing,
        witness: WitnessUse::None,
        rank: 4,
    },
    Recipe {
        action: ProbeAction::ShadowGet,
        family: Family::Shadow,
        template: Template::Thing,
        witness: WitnessUse::None,
        rank: 5,
    },
    Recipe {
        action: ProbeAction::Retain,
        family: Family::Publish,
        template: Template::Topic,
        witness: WitnessUse::SeesRetained,
        rank: 6,
    },
    Recipe {
        action: ProbeAction::Connect,
        family: Family::Connect,
        template: Template::ClientId,
        witness: WitnessUse::None,
        rank: 7,
    },
];

/// Issue 15 placeholder (the coordinator replaces it): a row for each HTTPS, control-plane
/// and role-path action until `simulate`/`generate` model them. Not in [`RECIPES`], so nothing
/// is generated for them; their `steps` say "not simulated yet".
const fn not_simulated(action: ProbeAction) -> Recipe {
    Recipe {
        action,
        family: Family::Connect,
        template: Template::ClientId,
        witness: WitnessUse::None,
        rank: u8::MAX,
    }
}

const NOT_SIMULATED: [Recipe; 17] = [
    not_simulated(ProbeAction::HttpsPublish),
    not_simulated(ProbeAction::HttpsShadowGet),
    not_simulated(ProbeAction::HttpsShadowUpdate),
    not_simulated(ProbeAction::HttpsShadowDelete),
    not_simulated(ProbeAction::HttpsShadowList),
    not_simulated(ProbeAction::HttpsRetainedGet),
    not_simulated(ProbeAction::HttpsRetainedList),
    not_simulated(ProbeAction::DeleteConnection),
    not_simulated(ProbeAction::AttachPolicy),
    not_simulated(ProbeAction::AttachThingPrincipal),
    not_simulated(ProbeAction::ListThings),
    not_simulated(ProbeAction::DescribeThing),
    not_simulated(ProbeAction::GetPolicy),
    not_simulated(ProbeAction::ListAttachedPolicies),
    not_simulated(ProbeAction::AssumeRole),
    not_simulated(ProbeAction::WebIdentity),
    not_simulated(ProbeAction::CustomRole),
];

/// The row of `action` (every `ProbeAction` has one: checked by a test).
pub fn recipe(action: ProbeAction) -> &'static Recipe {
    RECIPES
        .iter()
        .chain(NOT_SIMULATED.iter())
        .find(|r| r.action == action)
        // Invariant: RECIPES and NOT_SIMULATED list every ProbeAction (test
        // `every_action_has_a_recipe_once`).
        .expect("every probe action has a recipe")
}

/// One authorization a probe needs: an action on a resource of a kind (`client`, `topic`,
/// `topicfilter`, `thing`), named without its ARN prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Step {
    pub action: &'static str,
    pub kind: &'static str,
    pub resource: String,
}

impl Step {
    fn new(action: &'static str, kind: &'static str, resource: impl Into<String>) -> Step {
        Step {
            action,
            kind,
            resource: resource.into(),
        }
    }

    /// `arn:aws:iot:REGION:ACCOUNT:KIND/NAME`, as the engine and the lab build them.
    pub fn arn(&self, region: &str, account: &str) -> String {
        format!(
            "arn:aws:iot:{region}:{account}:{}/{}",
            self.kind, self.resource
        )
    }
}

/// The fields of a probe that its steps depend on (a canary's, or a cell's before it is one).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub topic: Option<String>,
    pub topic_filter: Option<String>,
    pub thing: Option<String>,
    pub shadow: Option<String>,
}

impl Target {
    pub fn of(canary: &Canary) -> Target {
        Target {
            topic: canary.topic.clone(),
            topic_filter: canary.topic_filter.clone(),
            thing: canary.thing.clone(),
            shadow: canary.shadow.clone(),
        }
    }
}

/// The shadow probe's default named shadow for `shadow-delete` (as `probe::shadow`): a hole
/// never deletes a device's classic shadow.
pub const DELETE_DEFAULT_SHADOW: &str = "iot-canary";

/// The reserved MQTT topic of a shadow operation.
pub fn shadow_topic(thing: &str, shadow: Option<&str>, op: &str) -> String {
    match shadow {
        Some(name) => format!("$aws/things/{thing}/shadow/name/{name}/{op}"),
        None => format!("$aws/things/{thing}/shadow/{op}"),
    }
}

impl Recipe {
    /// The authorizations a probe needs, in the order it exercises them: every probe connects
    /// first (as `client_id`); `receive` needs the subscription and the per-delivery Receive;
    /// `retain` needs Publish and RetainPublish; shadow probes publish to the reserved request
    /// topic. `name` names the probe in errors.
    pub fn steps(&self, name: &str, t: &Target, client_id: &str) -> Result<Vec<Step>, String> {
        let need = |field: &str, v: &Option<String>| {
            v.clone()
                .ok_or_else(|| format!("canary `{name}` has no `{field}`"))
        };
        let mut out = vec![Step::new("iot:Connect", "client", client_id)];
        match self.action {
            ProbeAction::Connect => {}
            ProbeAction::Publish => {
                out.push(Step::new("iot:Publish", "topic", need("topic", &t.topic)?));
            }
            ProbeAction::Retain => {
                let topic = need("topic", &t.topic)?;
                out.push(Step::new("iot:Publish", "topic", topic.clone()));
                out.push(Step::new("iot:RetainPublish", "topic", topic));
            }
            ProbeAction::Subscribe => out.push(Step::new(
                "iot:Subscribe",
                "topicfilter",
                need("topic_filter", &t.topic_filter)?,
            )),
            ProbeAction::Receive => {
                let topic = t
                    .topic
                    .clone()
                    .or_else(|| t.topic_filter.clone())
                    .ok_or_else(|| format!("canary `{name}` has no `topic`"))?;
                let filter = t.topic_filter.clone().unwrap_or_else(|| topic.clone());
                out.push(Step::new("iot:Subscribe", "topicfilter", filter));
                out.push(Step::new("iot:Receive", "topic", topic));
            }
            ProbeAction::ShadowGet | ProbeAction::ShadowUpdate | ProbeAction::ShadowDelete => {
                let thing = need("thing", &t.thing)?;
                let (op, default) = match self.action {
                    ProbeAction::ShadowGet => ("get", None),
                    ProbeAction::ShadowUpdate => ("update", None),
                    _ => ("delete", Some(DELETE_DEFAULT_SHADOW)),
                };
                let shadow = t.shadow.as_deref().or(default);
                out.push(Step::new(
                    "iot:Publish",
                    "topic",
                    shadow_topic(&thing, shadow, op),
                ));
            }
            // Issue 15 placeholder (coordinator replaces): the HTTPS, control-plane and
            // role-path doors are not simulated yet.
            a => {
                return Err(format!(
                    "canary `{name}`: action `{a}` is not simulated yet"
                ));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_recipe_once() {
        for a in ProbeAction::ALL {
            let rows = RECIPES.iter().chain(NOT_SIMULATED.iter());
            assert_eq!(rows.filter(|r| r.action == a).count(), 1, "{a}");
            assert_eq!(recipe(a).action, a);
        }
        let mut ranks: Vec<u8> = RECIPES.iter().map(|r| r.rank).collect();
        ranks.dedup();
        assert_eq!(ranks.len(), RECIPES.len(), "ranks are distinct");
    }

    #[test]
    fn receive_defaults_its_filter_to_the_topic_and_delete_to_the_named_shadow() {
        let t = Target {
            topic: Some("d/x/t".into()),
            ..Default::default()
        };
        let s = recipe(ProbeAction::Receive).steps("c", &t, "me").unwrap();
        assert_eq!(
            s.iter()
                .map(|s| (s.action, s.resource.as_str()))
                .collect::<Vec<_>>(),
            [
                ("iot:Connect", "me"),
                ("iot:Subscribe", "d/x/t"),
                ("iot:Receive", "d/x/t")
            ]
        );
        let t = Target {
            thing: Some("x".into()),
            ..Default::default()
        };
        let s = recipe(ProbeAction::ShadowDelete)
            .steps("c", &t, "me")
            .unwrap();
        assert_eq!(s[1].resource, "$aws/things/x/shadow/name/iot-canary/delete");
        assert_eq!(
            s[1].arn("us-east-1", "1"),
            "arn:aws:iot:us-east-1:1:topic/$aws/things/x/shadow/name/iot-canary/delete"
        );
        assert!(
            recipe(ProbeAction::Subscribe)
                .steps("c", &Target::default(), "me")
                .unwrap_err()
                .contains("topic_filter")
        );
    }
}
