//! IOT_POLICY_RESOURCE_TYPE_MISMATCH_CHECK (Medium): an action named in a statement whose
//! resources are all of the wrong type for it, so the statement never applies to it.
//! `iot:Subscribe` is authorized on `topicfilter/` ARNs, `iot:Publish`, `iot:Receive` and
//! `iot:RetainPublish` on `topic/` ARNs (AWS IoT "Publish/Subscribe policy examples"); an
//! Allow with the other type is a silent no-op, a Deny with it protects nothing.
//! Reasons: SUBSCRIBE_ON_TOPIC_RESOURCE, TOPIC_ACTION_ON_TOPICFILTER_RESOURCE. A statement that
//! pairs both types (Subscribe + Receive on `topicfilter/x` and `topic/x`) is fine. Not a
//! Device Defender check.

use super::{Finding, Severity, Subject};
use crate::witness::{Caller, OTHER, instantiate};

pub const CHECK: &str = "IOT_POLICY_RESOURCE_TYPE_MISMATCH_CHECK";

fn kind(resource: &str) -> Option<&str> {
    if resource == "*" {
        return Some("*");
    }
    let res = resource.splitn(6, ':').nth(5)?;
    Some(res.split_once('/').map_or(res, |(k, _)| k))
}

pub fn run(subject: &Subject<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in &subject.policies {
        for s in p.statements() {
            if s.not_action || s.not_resource {
                continue;
            }
            for a in s.actions {
                let (wanted, wrong, reason) = match a.to_ascii_lowercase().as_str() {
                    "iot:subscribe" => ("topicfilter", "topic", "SUBSCRIBE_ON_TOPIC_RESOURCE"),
                    "iot:publish" | "iot:receive" | "iot:retainpublish" => (
                        "topic",
                        "topicfilter",
                        "TOPIC_ACTION_ON_TOPICFILTER_RESOURCE",
                    ),
                    _ => continue,
                };
                let kinds: Vec<Option<&str>> = s.resources.iter().map(|r| kind(r)).collect();
                let covered = kinds.iter().any(|k| match k {
                    Some(k) => *k == wanted || k.contains('*') || k.contains('?'),
                    None => true,
                });
                if covered {
                    continue;
                }
                let Some(bad) = s.resources.iter().find(|r| kind(r) == Some(wrong)) else {
                    continue;
                };
                let intended = instantiate(
                    &bad.replacen(&format!(":{wrong}/"), &format!(":{wanted}/"), 1),
                    &Caller::device(),
                    OTHER,
                    subject.options,
                );
                let w = subject.decide(&Caller::device(), a, &intended);
                let message = format!(
                    "Statement {} of {} applies {a} to `{bad}`, a {wrong}/ resource that {a} is never authorized on: the statement never matches it. Witness (the request it was written for): {}",
                    s.label,
                    p.name,
                    w.summary()
                );
                out.push(subject.finding(
                    CHECK,
                    reason,
                    Severity::Medium,
                    "wrong-resource-type",
                    message,
                    vec![w],
                    Some((&p.name, s.label)),
                ));
            }
        }
    }
    out
}
