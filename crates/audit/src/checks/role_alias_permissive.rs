//! IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK (Critical).
//! Source: https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-iot-role-alias-permissive.html
//! Reason codes and the rules chosen where the page depends on usage data this audit lacks:
//! - ALLOWS_BROAD_ACCESS_TO_USED_SERVICES: "administrative permissions to any services used in
//!   the past year". Usage is not known offline, so every service counts as used: an Allow of
//!   `*` or `service:*` on resource `*` fires.
//! - ALLOWS_ACCESS_TO_SECURITY_AUDITING_SERVICES: any allowed action of iam, cloudtrail,
//!   guardduty, inspector (and inspector2), trustedadvisor.
//! - the thing admin read/write, non-thing admin and data-plane reasons, with the criteria of
//!   the authenticated Cognito role check.

use iot_canary_policy::Effect;

use super::cognito_auth_role::admin_hits;
use super::criteria::{DATA_PLANE_REASON, candidate_resources, data_plane};
use super::{Finding, Severity, Subject};
use crate::witness::{Caller, ProvedRequest};

pub const CHECK: &str = "IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK";
pub const USED_SERVICES_REASON: &str = "ALLOWS_BROAD_ACCESS_TO_USED_SERVICES";
pub const AUDITING_REASON: &str = "ALLOWS_ACCESS_TO_SECURITY_AUDITING_SERVICES";

/// Security auditing services and actions to probe them with.
const AUDITING: &[(&str, &[&str])] = &[
    (
        "iam",
        &[
            "GetRole",
            "PassRole",
            "CreateUser",
            "ListRoles",
            "AttachRolePolicy",
        ],
    ),
    (
        "cloudtrail",
        &["StopLogging", "DeleteTrail", "LookupEvents"],
    ),
    (
        "guardduty",
        &["DeleteDetector", "ListFindings", "UpdateDetector"],
    ),
    ("inspector", &["ListFindings", "DeleteAssessmentRun"]),
    ("inspector2", &["ListFindings", "Disable"]),
    (
        "trustedadvisor",
        &["DescribeChecks", "DescribeRecommendation"],
    ),
];

/// The action on the resources its allowing statements name (wildcards filled in), then on a
/// generic ARN of the service: the first the engine allows, else the last decision.
fn prove(subject: &Subject<'_>, action: &str) -> ProvedRequest {
    let (svc, _) = action.split_once(':').unwrap_or((action, ""));
    let o = subject.options;
    let mut resources = candidate_resources(subject, action);
    resources.push(format!(
        "arn:{}:{svc}:{}:{}:audit-resource",
        o.partition, o.region, o.account_id
    ));
    let mut last = None;
    for r in &resources {
        let w = subject.decide(&Caller::device(), action, r);
        if w.allowed() {
            return w;
        }
        last = Some(w);
    }
    // `resources` is never empty (the generic ARN is always pushed).
    last.expect("at least one resource")
}

pub fn run(subject: &Subject<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut emit = |reason: &'static str,
                    criterion: &'static str,
                    what: String,
                    witness: Vec<ProvedRequest>| {
        let message = format!(
            "Role alias {} {what}. Witness: {}",
            subject.principal,
            witness.first().map(|w| w.summary()).unwrap_or_default()
        );
        out.push(subject.finding(
            CHECK,
            reason,
            Severity::Critical,
            criterion,
            message,
            witness,
            None,
        ));
    };
    for (svc, actions) in AUDITING {
        if let Some(w) = actions
            .iter()
            .map(|a| prove(subject, &format!("{svc}:{a}")))
            .find(ProvedRequest::allowed)
        {
            emit(
                AUDITING_REASON,
                "security-auditing-services",
                format!("allows access to the security auditing service {svc}"),
                vec![w],
            );
        }
    }
    // Full access to a service: an Allow whose action is `*` or `svc:*` on resource `*`.
    let mut services = Vec::new();
    for p in &subject.policies {
        for s in p.statements() {
            if s.effect != Effect::Allow
                || s.not_action
                || s.not_resource
                || !s.resources.iter().any(|r| r == "*")
            {
                continue;
            }
            for a in s.actions {
                let svc = if a == "*" {
                    "iot".to_owned()
                } else if let Some(svc) = a.strip_suffix(":*") {
                    svc.to_ascii_lowercase()
                } else {
                    continue;
                };
                if !services.contains(&svc) {
                    services.push(svc);
                }
            }
        }
    }
    for svc in services {
        // Any action name of the service shows full access; the engine decides it.
        let w = prove(subject, &format!("{svc}:AnyAction"));
        if w.allowed() {
            emit(
                USED_SERVICES_REASON,
                "broad-service-access",
                format!(
                    "allows every action of {svc} on every resource (usage is unknown offline: every service counts as used)"
                ),
                vec![w],
            );
        }
    }
    for (reason, h) in admin_hits(subject) {
        emit(reason, h.criterion, h.message, h.witness);
    }
    for h in data_plane(subject) {
        emit(DATA_PLANE_REASON, h.criterion, h.message, h.witness);
    }
    out
}
