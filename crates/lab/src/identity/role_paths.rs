//! The role paths a principal's credentials may open, each decided in one call the way the
//! identity plane's handlers decide it (`mod.rs`'s STS handler, `cognito_identity`), from the
//! same pieces (`trust`, `cognito_identity::web_identity_of`, `cognito_idp::group_claims`).
//! `simulate` asks this for its role-path canaries; the live paths are tested against it
//! (tests/it/policy_simulate.rs compares `demo --once` with `simulate` canary by canary).

use std::time::SystemTime;

use super::cognito_identity::{self, IdentityKind};
use super::cognito_idp;
use super::sts::Caller;
use super::trust::{self, TokenRoles};
use crate::state::{LabState, Principal};

/// A role path (the `assume-role`, `web-identity` and `custom-role` probes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolePath {
    /// `sts:AssumeRole` with the principal's own credentials.
    AssumeRole,
    /// The basic (classic) flow: `GetOpenIdToken`, then `sts:AssumeRoleWithWebIdentity`.
    WebIdentity,
    /// `GetCredentialsForIdentity` with `CustomRoleArn`.
    CustomRole,
}

/// What the path came to: whether credentials for the role would be issued, AWS's error type
/// when not, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePathDecision {
    pub allowed: bool,
    /// The error type AWS answers with (`AccessDenied`, `InvalidParameterException`, ...).
    pub error: Option<String>,
    pub explanation: String,
}

impl RolePathDecision {
    fn refused(error: &str, explanation: impl Into<String>) -> Self {
        RolePathDecision {
            allowed: false,
            error: Some(error.to_string()),
            explanation: explanation.into(),
        }
    }
}

/// Who `principal` is as STS sees the caller.
pub fn caller_of(lab: &LabState, principal: &Principal) -> Caller {
    let cognito = lab.scenario().cognito.as_ref();
    match principal {
        Principal::IamUser { name } => Caller::IamUser { name: name.clone() },
        Principal::AssumedRole {
            role, session_name, ..
        } => Caller::AssumedRole {
            role: role.clone(),
            session_name: session_name.clone(),
        },
        Principal::CognitoAuthenticated { identity_id, .. } => Caller::Cognito {
            role: cognito
                .map(|c| c.authenticated_role.clone())
                .unwrap_or_default(),
            identity_id: identity_id.clone(),
        },
        Principal::CognitoUnauthenticated { identity_id } => Caller::Cognito {
            role: cognito
                .and_then(|c| c.unauthenticated_role.clone())
                .unwrap_or_default(),
            identity_id: identity_id.clone(),
        },
    }
}

/// Decides `path` for `principal` into `role_arn` at `now`. `Err` when the path does not
/// apply to the principal (a basic flow without a Cognito identity, a custom role for a guest).
pub fn decide(
    lab: &LabState,
    principal: &Principal,
    path: RolePath,
    role_arn: &str,
    now: SystemTime,
) -> Result<RolePathDecision, String> {
    let scenario = lab.scenario();
    let role = role_arn
        .strip_prefix(&format!("arn:aws:iam::{}:role/", lab.account_id()))
        .filter(|name| scenario.role.iter().any(|r| r.name == *name));
    let trust_of = |name: &str| lab.loaded().trust.get(name).cloned();
    match path {
        RolePath::AssumeRole => {
            let caller = caller_of(lab, principal).aws_caller(lab.account_id());
            let Some(role) = role else {
                return Ok(RolePathDecision::refused(
                    "AccessDenied",
                    format!("no role {role_arn} in this account"),
                ));
            };
            let authz = lab.principal_authz(principal, now);
            let ctx = trust::assume_role_context(&authz.context, &caller);
            let Some(t) = trust_of(role) else {
                return Ok(RolePathDecision::refused(
                    "AccessDenied",
                    format!("role {role} has no trust policy"),
                ));
            };
            let d = trust::decide_assume_role(&t, &caller, &authz.set, role_arn, &ctx);
            Ok(RolePathDecision {
                allowed: d.allowed,
                error: (!d.allowed).then(|| "AccessDenied".to_string()),
                explanation: d.explanation,
            })
        }
        RolePath::WebIdentity | RolePath::CustomRole => {
            let pool = scenario
                .cognito
                .as_ref()
                .ok_or("the scenario has no identity pool")?;
            let kind = match principal {
                Principal::CognitoAuthenticated {
                    identity_id,
                    username,
                } => IdentityKind::Authenticated {
                    identity_id: identity_id.clone(),
                    username: username.clone(),
                },
                Principal::CognitoUnauthenticated { identity_id }
                    if path == RolePath::WebIdentity =>
                {
                    IdentityKind::Unauthenticated {
                        identity_id: identity_id.clone(),
                    }
                }
                _ => {
                    return Err(format!(
                        "{path:?} needs a {} Cognito identity",
                        if path == RolePath::CustomRole {
                            "signed-in"
                        } else {
                            ""
                        }
                    ));
                }
            };
            let mut target = role_arn.to_string();
            if path == RolePath::WebIdentity {
                if let Err(e) = trust::decide_classic_flow(pool) {
                    return Ok(RolePathDecision::refused(e.code, e.message));
                }
            } else {
                let IdentityKind::Authenticated { username, .. } = &kind else {
                    return Err("a custom role needs a signed-in identity".into());
                };
                let (_, roles, preferred) = cognito_idp::group_claims(scenario, pool, username);
                let default = format!(
                    "arn:aws:iam::{}:role/{}",
                    lab.account_id(),
                    pool.authenticated_role
                );
                match trust::decide_custom_role(
                    pool,
                    &default,
                    &TokenRoles { roles, preferred },
                    Some(role_arn),
                ) {
                    Ok(chosen) => target = chosen,
                    Err(e) => return Ok(RolePathDecision::refused(e.code, e.message)),
                }
            }
            let token = cognito_identity::web_identity_of(scenario, pool, &kind);
            let trusted = role
                .and_then(trust_of)
                .map(|t| trust::decide_web_identity(&t, &token, &target));
            Ok(match (path, trusted) {
                (_, Some(d)) if d.allowed => RolePathDecision {
                    allowed: true,
                    error: None,
                    explanation: d.explanation,
                },
                // GetCredentialsForIdentity: the chosen role must accept the pool's token.
                (RolePath::CustomRole, d) => {
                    let e = cognito_identity::invalid_pool_configuration();
                    RolePathDecision::refused(
                        e.code,
                        d.map_or(e.message.clone(), |d| d.explanation),
                    )
                }
                (_, Some(d)) => RolePathDecision::refused("AccessDenied", d.explanation),
                (_, None) => RolePathDecision::refused(
                    "AccessDenied",
                    format!("no role {role_arn} with a trust policy in this account"),
                ),
            })
        }
    }
}
