//! POLICY_UNKNOWN_ACTION_CHECK (Medium; reasons UNKNOWN_IOT_ACTION, UNKNOWN_SERVICE_PREFIX):
//! an action no AWS service has (`iot:Publsh`, `iott:Publish`) never matches, so an Allow
//! grants nothing and a Deny denies nothing. Action names: the policy crate's `actions` module
//! (Service Authorization Reference). Not a Device Defender check.
//!
//! The witness is the intended request (the closest known action on the statement's first
//! resource), decided by the engine: for a mistyped Deny it is typically ALLOWED.

pub use iot_canary_policy::actions::suggest;
use iot_canary_policy::actions::{UnknownAction, distance, unknown_action};

use super::{Finding, Severity, Subject};
use crate::witness::{Caller, OTHER, instantiate};

pub const CHECK: &str = "POLICY_UNKNOWN_ACTION_CHECK";

pub fn run(subject: &Subject<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in &subject.policies {
        for s in p.statements() {
            for a in s.actions {
                let Some((prefix, _)) = a.split_once(':') else {
                    continue;
                };
                let reason = match unknown_action(a) {
                    Some(UnknownAction::UnknownService) => "UNKNOWN_SERVICE_PREFIX",
                    Some(UnknownAction::UnknownIotAction) => "UNKNOWN_IOT_ACTION",
                    None => continue,
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
