//! The tenancy `generate`, coverage and `simulate --policies` reason about: identities (how
//! they get credentials, and the policy set the engine evaluates them with), their things and
//! sharing, and the resource templates that say which topics, filters and client ids belong to
//! a thing. Built from an ownership file plus policy sources ([`ownership`]) or, in the root
//! package, from a lab scenario.
//!
//! The cross-tenant matrix over a world is in [`matrix`].

pub mod matrix;
pub mod ownership;

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde::Deserialize;

use crate::recipes::{Target, Template};
use crate::simulate::{SimIdentity, evaluate};
use crate::sources::SourceSet;

/// The client-id template generated configs use (`[target] client_id`): what the usual
/// policies allow (`<principal>-*`), distinct per canary and per replica.
pub const CLIENT_ID_TEMPLATE: &str = "${principal}-iot-canary-${shard}-${canary}";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thing {
    pub name: String,
    /// The `user` that owns it (an identity's `user`, or someone with no identity here).
    pub owner: Option<String>,
    pub shared_with: Vec<String>,
}

/// Resource templates: which resources of a thing each action is generated over
/// (`${thing}` is the thing's name, `${owner}` its owner).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default = "default_client_ids")]
    pub client_ids: Vec<String>,
    #[serde(default = "default_topics")]
    pub topics: Vec<String>,
    #[serde(default = "default_topic_filters")]
    pub topic_filters: Vec<String>,
}

fn default_client_ids() -> Vec<String> {
    vec!["${thing}".into()]
}

fn default_topics() -> Vec<String> {
    vec![
        "devices/${thing}/telemetry".into(),
        "devices/${thing}/cmd".into(),
    ]
}

fn default_topic_filters() -> Vec<String> {
    vec!["devices/${thing}/#".into()]
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            client_ids: default_client_ids(),
            topics: default_topics(),
            topic_filters: default_topic_filters(),
        }
    }
}

impl Resources {
    /// What is wrong with the templates (`(key, message)`), empty when they are usable.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let lists: [(&'static str, &Vec<String>); 3] = [
            ("client_ids", &self.client_ids),
            ("topics", &self.topics),
            ("topic_filters", &self.topic_filters),
        ];
        for (key, list) in lists {
            for t in list {
                let stripped = t.replace("${thing}", "x").replace("${owner}", "x");
                if !t.contains("${thing}") && !t.contains("${owner}") {
                    out.push((
                        key,
                        format!("`{t}` names no `${{thing}}` or `${{owner}}`: every thing would share it"),
                    ));
                } else if stripped.contains("${") {
                    out.push((
                        key,
                        format!("`{t}`: only `${{thing}}` and `${{owner}}` may be used"),
                    ));
                } else if key == "topic_filters" && !crate::witness::valid_filter(&stripped) {
                    out.push((key, format!("`{t}` is not a valid MQTT topic filter")));
                } else if key != "topic_filters" && stripped.contains(['#', '+']) {
                    out.push((key, format!("`{t}` must not contain MQTT wildcards")));
                }
            }
        }
        out
    }

    /// The concrete resources of `thing` for `template`.
    pub fn expand(&self, template: Template, thing: &Thing) -> Vec<String> {
        let list = match template {
            Template::ClientId => &self.client_ids,
            Template::Topic => &self.topics,
            Template::TopicFilter => &self.topic_filters,
            Template::Thing => return vec![thing.name.clone()],
        };
        let owner = thing.owner.as_deref().unwrap_or("nobody");
        list.iter()
            .map(|t| {
                t.replace("${thing}", &thing.name)
                    .replace("${owner}", owner)
            })
            .collect()
    }
}

/// One identity of the world.
#[derive(Debug, Clone)]
pub struct WorldIdentity {
    /// The `[[identity]]` name generated configs use.
    pub name: String,
    /// What a config identity must be to stand for this one (coverage maps config identities
    /// onto world identities by it): the name for ownership files; `iam:NAME`,
    /// `cognito:USERNAME`, `guest`, `vending:USERNAME` for lab scenarios.
    pub key: String,
    /// Whose things it reaches: `[[thing]] owner` and `shared_with` name users.
    pub user: Option<String>,
    /// The `[[identity]]` table as generated configs write it (`name`, `kind`, credential
    /// references; never a secret).
    pub table: toml::Table,
    /// How the engine evaluates it, or why it cannot.
    pub sim: Result<SimIdentity, String>,
    /// What `${principal}` is for this identity when another identity could spoof it (a
    /// Cognito identity id known ahead, a username, an IAM user name); `None` when it changes
    /// per sign-in or is unknown offline.
    pub spoofable_id: Option<String>,
    /// Named the witness in the ownership file.
    pub witness: bool,
}

/// Everything `generate` and coverage need.
#[derive(Debug, Clone)]
pub struct World {
    pub region: String,
    pub account_id: String,
    /// Sorted by name.
    pub identities: Vec<WorldIdentity>,
    /// Sorted by name.
    pub things: Vec<Thing>,
    pub resources: Resources,
    /// `[target]` keys generated configs start from (`region` is added).
    pub target: toml::Table,
    /// `[endpoints]` of generated configs, if any.
    pub endpoints: Option<toml::Table>,
    /// The policy sources (for the audit findings `generate` turns into probes).
    pub sources: SourceSet,
    /// The inputs, for the generated file's header.
    pub origin: String,
    /// How a config's identities map onto this world's.
    pub mapping: Mapping,
}

/// How a canaries.toml identity is matched to a world identity (coverage, `simulate
/// --policies`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// By name (ownership files: generated configs keep their names).
    ByName,
    /// By the principal it signs in as (lab scenarios): see [`lab_key`].
    LabPrincipal,
}

/// The lab principal a config identity signs in as: `iam:NAME` for static keys (the lab maps
/// them to the `[[iam_user]]` of the same name), `cognito:USERNAME`, `guest`,
/// `vending:USERNAME` for the vending API with a Cognito sign-in, `role:NAME` for AssumeRole.
pub fn lab_key(spec: &iot_canary_core::config::IdentitySpec) -> Option<String> {
    use iot_canary_core::config::identity::{EndpointAuth, IdentityKind};
    Some(match &spec.config.kind {
        IdentityKind::Static(_) => format!("iam:{}", spec.name),
        IdentityKind::Cognito(c) => format!("cognito:{}", c.login.username),
        IdentityKind::CognitoGuest(_) => "guest".to_owned(),
        IdentityKind::CredentialEndpoint(c) => match &c.auth {
            EndpointAuth::Cognito { login, .. } => format!("vending:{}", login.username),
            EndpointAuth::Bearer(_) => return None,
        },
        IdentityKind::AssumeRole(a) => {
            format!("role:{}", a.role_arn.rsplit('/').next().unwrap_or_default())
        }
        IdentityKind::Profile(_) => return None,
    })
}

impl World {
    pub fn identity(&self, name: &str) -> Option<&WorldIdentity> {
        self.identities.iter().find(|i| i.name == name)
    }

    /// The world identity a config identity stands for.
    pub fn identity_for(
        &self,
        spec: &iot_canary_core::config::IdentitySpec,
    ) -> Option<&WorldIdentity> {
        let key = match self.mapping {
            Mapping::ByName => Some(spec.name.clone()),
            Mapping::LabPrincipal => lab_key(spec),
        }?;
        self.identities.iter().find(|i| i.key == key)
    }

    /// Things the identity owns or was shared (none for identities without a user).
    pub fn reach(&self, id: &WorldIdentity) -> BTreeSet<&str> {
        let Some(user) = &id.user else {
            return BTreeSet::new();
        };
        self.things
            .iter()
            .filter(|t| t.owner.as_ref() == Some(user) || t.shared_with.contains(user))
            .map(|t| t.name.as_str())
            .collect()
    }

    /// Things the identity must not reach.
    pub fn foreign(&self, id: &WorldIdentity) -> Vec<&Thing> {
        let mine = self.reach(id);
        self.things
            .iter()
            .filter(|t| !mine.contains(t.name.as_str()))
            .collect()
    }

    /// Every topic of every thing (what the witness must publish to and observe).
    pub fn all_topics(&self) -> BTreeSet<String> {
        self.things
            .iter()
            .flat_map(|t| self.resources.expand(Template::Topic, t))
            .collect()
    }

    /// Whether the identity can connect with its own client id at all: an identity that
    /// cannot reaches nothing over MQTT and is left out of the matrix.
    pub fn can_connect(&self, id: &WorldIdentity, now: SystemTime) -> Result<(), String> {
        let who = id.sim.as_ref().map_err(Clone::clone)?;
        let ev = evaluate(
            who,
            &id.name,
            "control",
            iot_canary_core::verdict::ProbeAction::Connect,
            &Target::default(),
            CLIENT_ID_TEMPLATE,
            now,
        )?;
        if ev.allowed() {
            Ok(())
        } else {
            Err(format!(
                "cannot connect with its own client id `{}`: {}",
                ev.client_id, ev.checks[0].explanation
            ))
        }
    }

    /// The privileged identity that publishes bait and observes publishes: the one named
    /// `witness = true`, else the first (by name) that owns nothing and that the engine lets
    /// connect, publish to, subscribe to and receive every topic of every thing.
    pub fn witness(&self, now: SystemTime) -> Option<&WorldIdentity> {
        if let Some(w) = self.identities.iter().find(|i| i.witness) {
            return Some(w);
        }
        let topics = self.all_topics();
        self.identities.iter().find(|id| {
            id.user.is_none() || self.reach(id).is_empty()
        } && self.can_connect(id, now).is_ok()
            && !topics.is_empty()
            && topics.iter().all(|t| self.witness_can(id, t, now)))
    }

    /// Whether `id` may publish to `topic` and receive it through a subscription to itself.
    pub fn witness_can(&self, id: &WorldIdentity, topic: &str, now: SystemTime) -> bool {
        let Ok(who) = &id.sim else { return false };
        let target = Target {
            topic: Some(topic.to_owned()),
            ..Default::default()
        };
        [
            iot_canary_core::verdict::ProbeAction::Publish,
            iot_canary_core::verdict::ProbeAction::Receive,
        ]
        .into_iter()
        .all(|a| {
            evaluate(
                who,
                &id.name,
                "witness",
                a,
                &target,
                CLIENT_ID_TEMPLATE,
                now,
            )
            .is_ok_and(|e| e.allowed())
        })
    }
}
