//! POLICY_UNKNOWN_ACTION_CHECK (Medium; reasons UNKNOWN_IOT_ACTION, UNKNOWN_SERVICE_PREFIX):
//! an action no AWS service has (`iot:Publsh`, `iott:Publish`) never matches, so an Allow
//! grants nothing and a Deny denies nothing. Action names: the policy crate's `actions` module
//! (Service Authorization Reference). Not a Device Defender check.
//!
//! The witness is the intended request (the closest known action on the statement's first
//! resource), decided by the engine: for a mistyped Deny it is typically ALLOWED.

use iot_canary_policy::actions::{
    IOT_ACTIONS, IOT_POLICY_ONLY_ACTIONS, iot_actions_matching, is_iot_action, is_known_service,
};

use super::{Finding, Severity, Subject};
use crate::witness::{Caller, OTHER, instantiate};

pub const CHECK: &str = "POLICY_UNKNOWN_ACTION_CHECK";

fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (
        a.to_ascii_lowercase().chars().collect(),
        b.to_ascii_lowercase().chars().collect(),
    );
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest known IoT action, if it is close (a typo, not another word).
pub fn suggest(action: &str) -> Option<String> {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    IOT_ACTIONS
        .iter()
        .chain(IOT_POLICY_ONLY_ACTIONS)
        .map(|a| (distance(name, a), *a))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, a)| format!("iot:{a}"))
}

pub fn run(subject: &Subject<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in &subject.policies {
        for s in p.statements() {
            for a in s.actions {
                if a == "*" {
                    continue;
                }
                let Some((prefix, _)) = a.split_once(':') else {
                    continue;
                };
                let wildcard = a.contains('*') || a.contains('?');
                let reason = if !is_known_service(prefix) {
                    "UNKNOWN_SERVICE_PREFIX"
                } else if prefix.eq_ignore_ascii_case("iot")
                    && (if wildcard {
                        iot_actions_matching(a).is_empty()
                    } else {
                        !is_iot_action(a)
                    })
                {
                    "UNKNOWN_IOT_ACTION"
                } else {
                    continue;
                };
                let intended = if prefix.eq_ignore_ascii_case("iot") || distance(prefix, "iot") <= 1
                {
                    suggest(a)
                } else {
                    None
                };
                let mut witness = Vec::new();
                let mut hint = String::new();
                if let Some(intended) = &intended {
                    hint = format!(" (did you mean {intended}?)");
                    if let Some(r) = s.resources.first() {
                        let resource = instantiate(r, &Caller::device(), OTHER, subject.options);
                        let w = subject.decide(&Caller::device(), intended, &resource);
                        hint.push_str(&format!(" Witness: {}", w.summary()));
                        witness.push(w);
                    }
                }
                let effect = if s.effect == iot_canary_policy::Effect::Deny {
                    "denies"
                } else {
                    "grants"
                };
                let message = format!(
                    "Statement {} of {} names `{a}`, which is not an AWS action: the statement {effect} nothing through it{hint}",
                    s.label, p.name
                );
                out.push(subject.finding(
                    CHECK,
                    reason,
                    Severity::Medium,
                    "unknown-action",
                    message,
                    witness,
                    Some((&p.name, s.label)),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_suggestions_and_words_do_not() {
        assert_eq!(suggest("iot:Publsh").as_deref(), Some("iot:Publish"));
        assert_eq!(suggest("iot:Subscibe").as_deref(), Some("iot:Subscribe"));
        assert_eq!(suggest("iot:Everything"), None);
    }
}
