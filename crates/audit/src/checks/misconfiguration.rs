//! IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK (Medium). Device Defender's API spells the
//! check this way; its documentation page writes IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK,
//! which suppressions and `--check` also accept.
//! Source: https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-iot-misconfigured-policies.html
//!
//! - POLICY_CONTAINS_MQTT_WILDCARDS_IN_DENY_STATEMENT: a Deny names a `topic/` or
//!   `topicfilter/` resource with `+` or `#`, which policies treat as literal characters. The
//!   witness is a request the Deny was meant to cover (the wildcard replaced by a concrete
//!   level, `audit-probe`) that the engine allows: by the policy's own Allow, or, when the
//!   policy allows nothing, by an allow-everything policy standing for any other attached
//!   policy (the Deny does not stop it).
//! - TOPIC_FILTERS_INTENDED_TO_DENY_ALLOWED_USING_WILDCARDS: a Deny of `iot:Subscribe` on a
//!   wildcard-free topic filter pattern, while the policy allows subscribing to an MQTT
//!   wildcard filter that covers the same topics and allows receiving them. The witness is the
//!   pair (Subscribe to the wildcard filter, Receive of a topic under the denied one).
//!
//! Device Defender audits IoT policies; this audit applies the check to role policies too.

use std::sync::Arc;

use iot_canary_policy::{Effect, Policy, PolicySet};

use super::{Finding, Severity, Subject};
use crate::witness::{Caller, ProvedRequest, ancestor_filters, decide, glob, iot_arn};

pub const CHECK: &str = "IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK";
pub const WILDCARD_DENY: &str = "POLICY_CONTAINS_MQTT_WILDCARDS_IN_DENY_STATEMENT";
pub const FILTER_DENY: &str = "TOPIC_FILTERS_INTENDED_TO_DENY_ALLOWED_USING_WILDCARDS";

const PROBE: &str = "audit-probe";
const TOPIC_ACTIONS: &[&str] = &[
    "iot:Publish",
    "iot:Subscribe",
    "iot:Receive",
    "iot:RetainPublish",
];

/// `(kind, name)` of an IoT topic ARN pattern: `("topicfilter", "a/#")`.
fn topic_part(resource: &str) -> Option<(&str, &str)> {
    let res = resource.splitn(6, ':').nth(5)?;
    let (kind, name) = res.split_once('/')?;
    matches!(kind, "topic" | "topicfilter").then_some((kind, name))
}

/// A concrete topic under a pattern: wildcards of either kind become `audit-probe`.
pub(crate) fn concrete(name: &str) -> String {
    name.split('/')
        .map(|l| {
            if l == "#" || l == "+" {
                PROBE.to_owned()
            } else {
                l.replace(['*', '+', '#'], PROBE).replace('?', "x")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Stands for whatever else is attached to the principal when the policy allows nothing itself.
const ANY_OTHER_POLICY: &str = "(any other attached policy)";
const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowAll","Effect":"Allow","Action":"*","Resource":"*"}]}"#;

fn allow_all() -> Arc<Policy> {
    // Invariant: a constant document the parser accepts (checked by the test below).
    Arc::new(Policy::parse(ANY_OTHER_POLICY, ALLOW_ALL).expect("constant policy parses"))
}

fn with_allow_all(set: &PolicySet) -> PolicySet {
    let mut out = set.clone();
    match &mut out {
        PolicySet::Iam { policies: p }
        | PolicySet::CognitoUnauthenticated {
            role_policies: p, ..
        }
        | PolicySet::AssumedRole {
            role_policies: p, ..
        } => p.push(allow_all()),
        _ => {}
    }
    out
}

pub fn run(subject: &Subject<'_>) -> Vec<Finding> {
    let o = subject.options;
    let caller = Caller::device();
    let mut out = Vec::new();
    for p in &subject.policies {
        for s in p.statements() {
            if s.effect != Effect::Deny || s.not_resource {
                continue;
            }
            let actions: Vec<&str> = TOPIC_ACTIONS
                .iter()
                .copied()
                .filter(|a| s.actions.iter().any(|pat| glob(pat, a, true)) != s.not_action)
                .collect();
            for r in s.resources {
                let Some((kind, name)) = topic_part(r) else {
                    continue;
                };
                let has_mqtt_wildcard = name.contains('+') || name.contains('#');
                for action in &actions {
                    let fits = (*action == "iot:Subscribe") == (kind == "topicfilter");
                    if !fits {
                        continue;
                    }
                    if has_mqtt_wildcard {
                        let target = iot_arn(o, kind, &concrete(name));
                        let mut w = subject.decide(&caller, action, &target);
                        if !w.allowed() && w.decision != "EXPLICIT_DENY" {
                            w = decide(
                                &with_allow_all(&subject.set),
                                subject.label(),
                                &caller,
                                action,
                                &target,
                                o,
                            );
                        }
                        if w.allowed() {
                            let message = format!(
                                "Deny {} of {action} on `{name}` uses MQTT wildcards, which policies match literally: {} is not denied. Witness: {}",
                                s.label,
                                concrete(name),
                                w.summary()
                            );
                            out.push(subject.finding(
                                CHECK,
                                WILDCARD_DENY,
                                Severity::Medium,
                                "mqtt-wildcard-in-deny",
                                message,
                                vec![w],
                                Some((&p.name, s.label)),
                            ));
                        }
                    } else if *action == "iot:Subscribe"
                        && let Some(ws) = wildcard_route(subject, &caller, name)
                    {
                        let message = format!(
                            "Deny {} of iot:Subscribe on `{name}` is bypassed by a wildcard subscription. Witness: {}; then {}",
                            s.label,
                            ws[0].summary(),
                            ws[1].summary()
                        );
                        out.push(subject.finding(
                            CHECK,
                            FILTER_DENY,
                            Severity::Medium,
                            "deny-bypassed-by-wildcard-filter",
                            message,
                            ws,
                            Some((&p.name, s.label)),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// A wildcard filter that covers a topic under `denied` and may be subscribed to, with Receive
/// of that topic allowed: `[Subscribe witness, Receive witness]`.
fn wildcard_route(
    subject: &Subject<'_>,
    caller: &Caller,
    denied: &str,
) -> Option<Vec<ProvedRequest>> {
    let o = subject.options;
    let topic = concrete(denied);
    let filters = ancestor_filters(&topic);
    for f in filters {
        let sub = subject.decide(caller, "iot:Subscribe", &iot_arn(o, "topicfilter", &f));
        if !sub.allowed() {
            continue;
        }
        let recv = subject.decide(caller, "iot:Receive", &iot_arn(o, "topic", &topic));
        return recv.allowed().then(|| vec![sub, recv]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_all_parses_and_concrete_topics_have_no_wildcards() {
        assert_eq!(allow_all().statement_labels().count(), 1);
        assert_eq!(
            concrete("building/control_room/#"),
            "building/control_room/audit-probe"
        );
        assert_eq!(concrete("a/+/b"), "a/audit-probe/b");
        assert_eq!(concrete("a/x*"), "a/xaudit-probe");
    }
}
