//! The criteria Device Defender's permissive checks share, as probes the engine decides.
//!
//! Data plane ("broad access": something the audited device can do to another device):
//! - `connect-any-client-id`: `iot:Connect` as client `audit-other-device`, attached to no
//!   thing. Catches `client/*` and `client/${iot:ClientId}` without
//!   `iot:Connection.Thing.IsAttached` (Device Defender: "equivalent to the wildcard *").
//! - `publish-other-device-reserved-topics`: `iot:Publish` to `$aws/things/audit-other-device/`
//!   shadow and job topics.
//! - `subscribe-other-device-reserved-topics`: `iot:Subscribe` to filters that cover another
//!   device's shadow or job topics (`$aws/things/+/shadow/update`, `$aws/things/#`, ...).
//! - `shadow-job-api-other-device`: the shadow and job execution API actions on
//!   `thing/audit-other-device`.
//! - `other-identity-topics`: a topic or topic filter that an Allow scopes with an identity
//!   variable (`${iot:ClientId}`, `${iot:Connection.Thing.ThingName}`,
//!   `${cognito-identity.amazonaws.com:sub}`, `${credentials-iot:ThingName}`), written out for
//!   the other device, and the audited device publishing, subscribing or receiving it: another
//!   statement opens the tenant boundary the variable draws (a cross-tenant path).
//! - `guest-wildcard-subscription` (guests only): the unauthenticated role page wants guests
//!   limited to "thing-specific MQTT topics". Rule chosen: an Allow of `iot:Subscribe` on a
//!   `topicfilter/` pattern whose `*` comes before any identity variable lets a guest subscribe
//!   to the MQTT wildcard filter that `*` matches literally (`devices/*` admits `devices/#`);
//!   with `iot:Receive` of another device's topic under it, that is every device's traffic.
//!   Witness pair: Subscribe `devices/#`, Receive `devices/audit-other-device`.
//! - `iot:Receive` alone is compliant (a device only receives what it may subscribe to), so no
//!   Receive probe exists.
//!
//! Admin actions (lists from the Cognito role check pages):
//! - thing admin write ("manage or modify things"), noncompliant on even a single resource;
//! - thing admin read ("read thing administrative data"): any resource for guests, a broad set
//!   (`thing/audit-other-device`) for authenticated roles and role aliases;
//! - non-thing admin: every other AWS IoT action that is not a data-plane action.

use iot_canary_policy::actions::{IOT_ACTIONS, IOT_POLICY_ONLY_ACTIONS};

use super::{Finding, Severity, Subject};
use crate::witness::{Caller, OTHER, ProvedRequest, glob, instantiate, iot_arn, other_topic_in};

pub const DATA_PLANE_REASON: &str = "ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS";

pub const THING_ADMIN_WRITE: &[&str] = &[
    "AddThingToThingGroup",
    "AttachThingPrincipal",
    "CreateThing",
    "DeleteThing",
    "DetachThingPrincipal",
    "ListThings",
    "ListThingsInThingGroup",
    "RegisterThing",
    "RemoveThingFromThingGroup",
    "UpdateThing",
    "UpdateThingGroupsForThing",
];

pub const THING_ADMIN_READ: &[&str] = &[
    "DescribeThing",
    "ListJobExecutionsForThing",
    "ListThingGroupsForThing",
    "ListThingPrincipals",
];

pub const SHADOW_JOB_API: &[&str] = &[
    "DeleteThingShadow",
    "GetThingShadow",
    "UpdateThingShadow",
    "DescribeJobExecution",
    "GetPendingJobExecutions",
    "StartNextPendingJobExecution",
    "UpdateJobExecution",
];

/// Device actions: neither admin category.
pub const DATA_PLANE: &[&str] = &[
    "Connect",
    "Publish",
    "Subscribe",
    "Receive",
    "RetainPublish",
    "GetRetainedMessage",
    "ListRetainedMessages",
    "ListNamedShadowsForThing",
    "AssumeRoleWithCertificate",
];

/// A finding-to-be: the criterion, a message and the witnesses.
pub struct Hit {
    pub criterion: &'static str,
    pub message: String,
    pub witness: Vec<ProvedRequest>,
}

impl Hit {
    /// The Critical finding the Device Defender checks make of a hit; `who` names the
    /// principal's kind as the check's documentation does.
    pub fn critical(
        self,
        subject: &Subject<'_>,
        check: &'static str,
        reason: &'static str,
        who: &str,
    ) -> Finding {
        let message = format!(
            "{who} {} {}. Witness: {}",
            subject.principal,
            self.message,
            self.witness
                .first()
                .map(|w| w.summary())
                .unwrap_or_default()
        );
        subject.finding(
            check,
            reason,
            Severity::Critical,
            self.criterion,
            message,
            self.witness,
            None,
        )
    }
}

fn first_allowed(
    subject: &Subject<'_>,
    caller: &Caller,
    action: &str,
    resources: &[String],
) -> Option<ProvedRequest> {
    resources
        .iter()
        .map(|r| subject.decide(caller, action, r))
        .find(ProvedRequest::allowed)
}

pub fn data_plane(subject: &Subject<'_>) -> Vec<Hit> {
    let o = subject.options;
    let mut hits = Vec::new();
    let device = Caller::device();
    let connect = subject.decide(
        &Caller::unattached(OTHER),
        "iot:Connect",
        &iot_arn(o, "client", OTHER),
    );
    if connect.allowed() {
        hits.push(Hit {
            criterion: "connect-any-client-id",
            message: "allows iot:Connect with any client id (a client attached to no thing connects as another device)".into(),
            witness: vec![connect],
        });
    }
    let base = format!("$aws/things/{OTHER}");
    let topics: Vec<String> = [
        "shadow/update",
        "shadow/get",
        "shadow/delete",
        "shadow/name/audit-shadow/update",
        "jobs/get",
        "jobs/start-next",
        "jobs/audit-job/update",
    ]
    .iter()
    .map(|t| iot_arn(o, "topic", &format!("{base}/{t}")))
    .collect();
    if let Some(w) = first_allowed(subject, &device, "iot:Publish", &topics) {
        hits.push(Hit {
            criterion: "publish-other-device-reserved-topics",
            message: "allows iot:Publish to another device's reserved shadow or job topics".into(),
            witness: vec![w],
        });
    }
    let filters: Vec<String> = [
        "$aws/things/+/shadow/update".to_owned(),
        "$aws/things/#".to_owned(),
        "$aws/things/+/shadow/#".to_owned(),
        "$aws/things/+/jobs/#".to_owned(),
        format!("{base}/shadow/update/accepted"),
        format!("{base}/shadow/update"),
        format!("{base}/jobs/notify"),
    ]
    .iter()
    .map(|f| iot_arn(o, "topicfilter", f))
    .collect();
    if let Some(w) = first_allowed(subject, &device, "iot:Subscribe", &filters) {
        hits.push(Hit {
            criterion: "subscribe-other-device-reserved-topics",
            message: "allows iot:Subscribe to reserved shadow or job topics of other devices"
                .into(),
            witness: vec![w],
        });
    }
    if let Some(w) = other_identity_topics(subject) {
        hits.push(Hit {
            criterion: "other-identity-topics",
            message: format!(
                "opens another device's identity-scoped topics: {} is allowed {} on {}",
                w.caller.client_id.as_deref().unwrap_or("the device"),
                w.action,
                w.resource
            ),
            witness: vec![w],
        });
    }
    let thing = [iot_arn(o, "thing", OTHER)];
    let api: Vec<ProvedRequest> = SHADOW_JOB_API
        .iter()
        .filter_map(|a| first_allowed(subject, &device, &format!("iot:{a}"), &thing))
        .collect();
    if !api.is_empty() {
        let names: Vec<String> = api.iter().map(|w| w.action.clone()).collect();
        hits.push(Hit {
            criterion: "shadow-job-api-other-device",
            message: format!(
                "allows shadow or job execution API actions on another device: [{}]",
                names.join(", ")
            ),
            witness: api.into_iter().take(1).collect(),
        });
    }
    hits
}

const IDENTITY_VARIABLES: &[&str] = &[
    "${iot:clientid}",
    "${iot:connection.thing.thingname}",
    "${cognito-identity.amazonaws.com:sub}",
    "${credentials-iot:thingname}",
    "${credentials-iot:awsthingname}",
];

const TOPIC_ACTIONS: &[&str] = &[
    "iot:Publish",
    "iot:Subscribe",
    "iot:Receive",
    "iot:RetainPublish",
];

/// The first identity-scoped topic of the other device that the audited device reaches.
fn other_identity_topics(subject: &Subject<'_>) -> Option<ProvedRequest> {
    let o = subject.options;
    for p in &subject.policies {
        for s in p.statements() {
            if s.effect != iot_canary_policy::Effect::Allow || s.not_resource {
                continue;
            }
            for action in TOPIC_ACTIONS {
                if s.actions.iter().any(|a| glob(a, action, true)) == s.not_action {
                    continue;
                }
                for r in s.resources {
                    let lower = r.to_ascii_lowercase();
                    let scoped = IDENTITY_VARIABLES.iter().any(|v| lower.contains(v));
                    let kind_fits = if *action == "iot:Subscribe" {
                        lower.contains(":topicfilter/")
                    } else {
                        lower.contains(":topic/")
                    };
                    if !scoped || !kind_fits {
                        continue;
                    }
                    let theirs = instantiate(r, &Caller::other(), "audit-probe", o);
                    let w = subject.decide(&Caller::device(), action, &theirs);
                    if w.allowed() {
                        return Some(w);
                    }
                }
            }
        }
    }
    None
}

/// See the module docs: a guest's wildcard subscription to every device's topics.
pub fn guest_wildcard_subscription(subject: &Subject<'_>) -> Option<Hit> {
    let o = subject.options;
    let caller = Caller::device();
    for p in &subject.policies {
        for s in p.statements() {
            if s.effect != iot_canary_policy::Effect::Allow
                || s.not_resource
                || s.actions.iter().any(|a| glob(a, "iot:Subscribe", true)) == s.not_action
            {
                continue;
            }
            for r in s.resources {
                let Some((prefix, name)) = r.split_once(":topicfilter/") else {
                    continue;
                };
                let lower = name.to_ascii_lowercase();
                let star = name.find('*');
                let var = IDENTITY_VARIABLES
                    .iter()
                    .filter_map(|v| lower.find(v))
                    .min();
                let Some(star) = star else { continue };
                if var.is_some_and(|v| v < star) {
                    continue;
                }
                let levels: Vec<&str> = name.split('/').collect();
                let Some(i) = levels.iter().position(|l| *l == "*") else {
                    continue;
                };
                let mut filter: Vec<String> = levels.iter().map(|l| (*l).to_owned()).collect();
                filter[i] = if i == levels.len() - 1 {
                    "#".into()
                } else {
                    "+".into()
                };
                let filter = filter.join("/");
                let arn = instantiate(
                    &format!("{prefix}:topicfilter/{filter}"),
                    &caller,
                    "audit-probe",
                    o,
                );
                let Some((_, concrete_filter)) = arn.split_once(":topicfilter/") else {
                    continue;
                };
                if !crate::witness::valid_filter(concrete_filter) {
                    continue;
                }
                let topic = other_topic_in(concrete_filter);
                if let Some(witness) = subject.subscribe_and_receive(&caller, &arn, &topic) {
                    return Some(Hit {
                        criterion: "guest-wildcard-subscription",
                        message: format!(
                            "lets guests subscribe to `{concrete_filter}` and receive every device's messages under it (guests should reach thing-specific topics only)"
                        ),
                        witness,
                    });
                }
            }
        }
    }
    None
}

/// A plausible resource ARN for an action whose statement names `*`.
fn default_resource(subject: &Subject<'_>, action: &str) -> String {
    let o = subject.options;
    let name = action.split_once(':').map_or(action, |(_, a)| a);
    let (kind, id) = if name.contains("ThingGroup") {
        ("thinggroup", "audit-group")
    } else if name.contains("Thing") {
        ("thing", OTHER)
    } else if name.contains("Job") {
        ("job", "audit-job")
    } else if name.contains("Polic") {
        ("policy", "audit-policy")
    } else if name.contains("Certificate") {
        ("cert", "audit-cert")
    } else if name.contains("RoleAlias") {
        ("rolealias", "audit-alias")
    } else if name.contains("TopicRule") {
        ("rule", "audit_rule")
    } else {
        ("audit-resource", "audit")
    };
    iot_arn(o, kind, id)
}

/// Resources to try for an action: what the allowing statements name (instantiated), then a
/// plausible default. "On even a single resource" means any of these.
pub fn candidate_resources(subject: &Subject<'_>, action: &str) -> Vec<String> {
    let caller = Caller::device();
    let mut out = Vec::new();
    for p in &subject.policies {
        for s in p.statements() {
            if s.effect != iot_canary_policy::Effect::Allow || s.not_resource {
                continue;
            }
            let hit = s.actions.iter().any(|a| glob(a, action, true));
            if hit == s.not_action {
                continue;
            }
            for r in s.resources {
                let inst = instantiate(r, &caller, OTHER, subject.options);
                if !out.contains(&inst) {
                    out.push(inst);
                }
            }
        }
    }
    out.push(default_resource(subject, action));
    out
}

/// Allowed actions among `names` (without prefix) on any candidate resource.
pub fn allowed_anywhere(subject: &Subject<'_>, names: &[&str]) -> Vec<ProvedRequest> {
    let caller = Caller::device();
    names
        .iter()
        .filter_map(|a| {
            let action = format!("iot:{a}");
            let resources = candidate_resources(subject, &action);
            first_allowed(subject, &caller, &action, &resources)
        })
        .collect()
}

/// Allowed actions among `names` on another device's thing.
pub fn allowed_on_other_thing(subject: &Subject<'_>, names: &[&str]) -> Vec<ProvedRequest> {
    let thing = [iot_arn(subject.options, "thing", OTHER)];
    names
        .iter()
        .filter_map(|a| first_allowed(subject, &Caller::device(), &format!("iot:{a}"), &thing))
        .collect()
}

/// Every AWS IoT action outside the thing admin and data-plane categories.
pub fn non_thing_admin_actions() -> Vec<&'static str> {
    IOT_ACTIONS
        .iter()
        .chain(IOT_POLICY_ONLY_ACTIONS)
        .copied()
        .filter(|a| {
            !THING_ADMIN_WRITE.contains(a)
                && !THING_ADMIN_READ.contains(a)
                && !SHADOW_JOB_API.contains(a)
                && !DATA_PLANE.contains(a)
        })
        .collect()
}

/// An admin-category hit with Device Defender's message shape.
pub fn admin_hit(criterion: &'static str, what: &str, allowed: Vec<ProvedRequest>) -> Option<Hit> {
    if allowed.is_empty() {
        return None;
    }
    let names: Vec<String> = allowed.iter().map(|w| w.action.clone()).collect();
    Some(Hit {
        criterion,
        message: format!("allows {what}: [{}]", super::list(&names, 8)),
        witness: allowed.into_iter().take(1).collect(),
    })
}
