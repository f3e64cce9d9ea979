//! The checks. Device Defender's (same names, reason codes and severities as its audit):
//! `iot_policy_permissive`, `cognito_unauth_role`, `cognito_auth_role`, `misconfiguration`,
//! `role_alias_permissive`. The project's own: `client_id_wildcard`, `session_policy_size`,
//! `unknown_action`, `resource_type_mismatch`; and the source findings (`UNRESOLVED_SOURCE_CHECK`,
//! `INVALID_POLICY_CHECK`) for what could not be read.
//!
//! Each check receives a [`Subject`]: the policies that combine for one principal (an IoT
//! policy alone; a role's policies together) and the engine's `PolicySet` for them.

pub mod client_id_wildcard;
pub mod cognito_auth_role;
pub mod cognito_unauth_role;
pub mod criteria;
pub mod iot_policy_permissive;
pub mod misconfiguration;
pub mod resource_type_mismatch;
pub mod role_alias_permissive;
pub mod role_alias_unused_services;
pub mod session_policy_size;
pub mod unknown_action;

use std::collections::BTreeMap;
use std::sync::Arc;

use iot_canary_policy::{Policy, PolicySet};
use serde::Serialize;

use crate::AuditOptions;
use crate::sources::{Location, PolicyKind, PolicySource, SourceSet};
use crate::witness::{Caller, ProvedRequest};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn from_name(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// The size of an expanded session policy, in place of a request witness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizeWitness {
    pub devices: usize,
    pub minified_chars: usize,
    pub limit: usize,
    /// The most devices whose expansion fits.
    pub max_devices: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Device Defender's check name, or this project's for the checks it adds.
    pub check: &'static str,
    /// Device Defender's `reasonForNonComplianceCode`, or this project's.
    pub reason: &'static str,
    pub severity: Severity,
    /// Which documented criterion fired (see docs/audit.md).
    pub criterion: &'static str,
    pub kind: Option<PolicyKind>,
    /// The IoT policy, role or role alias.
    pub principal: String,
    /// The policy the finding points at.
    pub policy: String,
    /// The statement (`Sid` or `#index`) it points at.
    pub statement: Option<String>,
    pub location: Location,
    pub message: String,
    /// The requests the engine decided; empty only for source findings and size findings.
    pub witness: Vec<ProvedRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<SizeWitness>,
    /// The reason from the suppressions file, when suppressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<String>,
}

/// The policies that combine for one principal.
pub struct Subject<'a> {
    pub kind: PolicyKind,
    pub principal: String,
    pub sources: Vec<&'a PolicySource>,
    pub policies: Vec<Arc<Policy>>,
    pub set: PolicySet,
    pub options: &'a AuditOptions,
}

impl Subject<'_> {
    /// How findings name the principal kind in witnesses.
    pub fn label(&self) -> &'static str {
        self.kind.label()
    }

    /// One request evaluated against the policies that combine for this principal.
    pub fn decide(&self, caller: &Caller, action: &str, resource: &str) -> ProvedRequest {
        crate::witness::decide(
            &self.set,
            self.label(),
            caller,
            action,
            resource,
            self.options,
        )
    }

    /// Subscribing to `filter_arn` and receiving a message on `topic`: both must be allowed for
    /// a subscription to leak other devices' messages.
    pub fn subscribe_and_receive(
        &self,
        caller: &Caller,
        filter_arn: &str,
        topic: &str,
    ) -> Option<Vec<ProvedRequest>> {
        let sub = self.decide(caller, "iot:Subscribe", filter_arn);
        let recv = self.decide(
            caller,
            "iot:Receive",
            &crate::witness::iot_arn(self.options, "topic", topic),
        );
        (sub.allowed() && recv.allowed()).then(|| vec![sub, recv])
    }

    /// Location of a statement, by policy name and label; the first policy when unknown.
    pub fn locate(&self, policy: Option<&str>, statement: Option<&str>) -> (String, Location) {
        let idx = policy
            .and_then(|p| self.policies.iter().position(|x| x.name == p))
            .unwrap_or(0);
        let (policy, source) = (&self.policies[idx], self.sources[idx]);
        let labels: Vec<String> = policy.statement_labels().map(str::to_owned).collect();
        let line = statement.map_or(source.location.line, |s| source.line_of(&labels, s));
        (
            policy.name.clone(),
            Location {
                file: source.location.file.clone(),
                line,
            },
        )
    }

    /// A finding about this subject located at the statement that decided the first witness
    /// (or at `at` when given).
    #[allow(clippy::too_many_arguments)]
    pub fn finding(
        &self,
        check: &'static str,
        reason: &'static str,
        severity: Severity,
        criterion: &'static str,
        message: String,
        witness: Vec<ProvedRequest>,
        at: Option<(&str, &str)>,
    ) -> Finding {
        let (p, s) = match at {
            Some((p, s)) => (Some(p.to_owned()), Some(s.to_owned())),
            None => {
                let w = witness.iter().find(|w| w.allowed()).or(witness.first());
                (
                    w.and_then(|w| w.policy.clone()),
                    w.and_then(|w| w.statement.clone()),
                )
            }
        };
        let (policy, location) = self.locate(p.as_deref(), s.as_deref());
        Finding {
            check,
            reason,
            severity,
            criterion,
            kind: Some(self.kind),
            principal: self.principal.clone(),
            policy,
            statement: s,
            location,
            message,
            witness,
            size: None,
            suppressed: None,
        }
    }
}

/// Accepts Device Defender's documented spelling of a check name as well as the API's.
pub fn canonical_check(name: &str) -> &str {
    match name {
        "IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK" => misconfiguration::CHECK,
        other => other,
    }
}

/// Every check name this audit can report.
pub const CHECKS: &[&str] = &[
    iot_policy_permissive::CHECK,
    cognito_unauth_role::CHECK,
    cognito_auth_role::CHECK,
    misconfiguration::CHECK,
    role_alias_permissive::CHECK,
    role_alias_unused_services::CHECK,
    client_id_wildcard::CHECK,
    session_policy_size::CHECK,
    unknown_action::CHECK,
    resource_type_mismatch::CHECK,
    UNRESOLVED_SOURCE_CHECK,
    INVALID_POLICY_CHECK,
];

pub const UNRESOLVED_SOURCE_CHECK: &str = "UNRESOLVED_SOURCE_CHECK";
pub const INVALID_POLICY_CHECK: &str = "INVALID_POLICY_CHECK";

/// (kind, principal, index for policies audited alone).
type GroupKey = (PolicyKind, String, usize);

/// Runs every check over the sources. Findings are sorted by file, line, check.
pub fn audit(sources: &SourceSet, options: &AuditOptions) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in &sources.findings {
        let (check, severity) = match f.reason {
            "POLICY_DOCUMENT_REJECTED" => (INVALID_POLICY_CHECK, Severity::High),
            "UNRESOLVED_INTRINSIC" => (UNRESOLVED_SOURCE_CHECK, Severity::High),
            _ => (UNRESOLVED_SOURCE_CHECK, Severity::Low),
        };
        out.push(Finding {
            check,
            reason: f.reason,
            severity,
            criterion: "source",
            kind: None,
            principal: f.subject.clone(),
            policy: f.subject.clone(),
            statement: None,
            location: f.location.clone(),
            message: f.message.clone(),
            witness: Vec::new(),
            size: None,
            suppressed: None,
        });
    }
    // (kind, principal) -> parsed policies; IoT policies and templates stand alone.
    let mut groups: BTreeMap<GroupKey, Vec<(&PolicySource, Arc<Policy>)>> = BTreeMap::new();
    for (i, s) in sources.policies.iter().enumerate() {
        match Policy::parse(&s.name, &s.document.to_string()) {
            Ok(p) => {
                let alone = matches!(s.kind, PolicyKind::IotPolicy | PolicyKind::SessionTemplate);
                let key = (s.kind, s.principal.clone(), if alone { i } else { 0 });
                groups.entry(key).or_default().push((s, Arc::new(p)));
            }
            Err(e) => {
                let iot_canary_policy::PolicyError::Invalid { path, message, .. } = &e;
                let line = statement_index(path)
                    .and_then(|i| s.statement_lines.get(i).copied())
                    .unwrap_or(s.location.line);
                out.push(Finding {
                    check: INVALID_POLICY_CHECK,
                    reason: "POLICY_DOCUMENT_REJECTED",
                    severity: Severity::High,
                    criterion: "source",
                    kind: Some(s.kind),
                    principal: s.principal.clone(),
                    policy: s.name.clone(),
                    statement: None,
                    location: Location {
                        file: s.location.file.clone(),
                        line,
                    },
                    message: format!("{}: {path}: {message}; the policy is not audited", s.name),
                    witness: Vec::new(),
                    size: None,
                    suppressed: None,
                });
            }
        }
    }
    for ((kind, principal, _), members) in groups {
        let policies: Vec<Arc<Policy>> = members.iter().map(|(_, p)| p.clone()).collect();
        let set = match kind {
            // The role on its own, as Device Defender audits it: Cognito's enhanced-flow
            // scope-down keeps `iot:*`, so it changes nothing an IoT check looks at.
            PolicyKind::CognitoUnauthRole => PolicySet::CognitoUnauthenticated {
                role_policies: policies.clone(),
                session_policies: Vec::new(),
            },
            PolicyKind::RoleAlias => PolicySet::AssumedRole {
                role_policies: policies.clone(),
                session_policies: Vec::new(),
            },
            // An authenticated identity also needs an IoT policy; Device Defender audits the
            // role on its own, and so does this audit: the role half of the intersection.
            _ => PolicySet::Iam {
                policies: policies.clone(),
            },
        };
        let subject = Subject {
            kind,
            principal,
            sources: members.iter().map(|(s, _)| *s).collect(),
            policies,
            set,
            options,
        };
        match kind {
            PolicyKind::IotPolicy => {
                out.extend(iot_policy_permissive::run(&subject));
                out.extend(misconfiguration::run(&subject));
            }
            PolicyKind::CognitoUnauthRole => out.extend(cognito_unauth_role::run(&subject)),
            PolicyKind::CognitoAuthRole => out.extend(cognito_auth_role::run(&subject)),
            PolicyKind::RoleAlias => {
                out.extend(role_alias_permissive::run(&subject));
                out.extend(role_alias_unused_services::run(&subject));
            }
            PolicyKind::SessionTemplate => out.extend(session_policy_size::run(&subject)),
            PolicyKind::IamRole => {}
        }
        if kind != PolicyKind::IotPolicy {
            out.extend(misconfiguration::run(&subject));
        }
        if kind != PolicyKind::SessionTemplate {
            out.extend(client_id_wildcard::run(&subject));
        }
        out.extend(unknown_action::run(&subject));
        out.extend(resource_type_mismatch::run(&subject));
    }
    out.sort_by(|a, b| {
        (&a.location, a.check, a.reason, &a.principal).cmp(&(
            &b.location,
            b.check,
            b.reason,
            &b.principal,
        ))
    });
    out.dedup();
    out
}

/// `$.Statement[3].Action` -> 3; `$.Statement.Action` -> 0.
fn statement_index(path: &str) -> Option<usize> {
    let rest = path.strip_prefix("$.Statement")?;
    if let Some(r) = rest.strip_prefix('[') {
        r.split(']').next()?.parse().ok()
    } else {
        Some(0)
    }
}

/// Up to `n` names, then "and N more".
pub(crate) fn list(names: &[String], n: usize) -> String {
    if names.len() <= n {
        names.join(", ")
    } else {
        format!("{}, and {} more", names[..n].join(", "), names.len() - n)
    }
}
