//! `iot-canary simulate` over a lab scenario: the pure gate lives in `iot_canary_audit::simulate`
//! (re-exported here); this module adapts a lab scenario to it through the lab's own
//! `LabState::principal_authz` (the function its broker authorizes every packet with), so
//! `simulate` and the lab evaluate the same policy set and request context by construction.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use iot_canary_core::config::IdentitySpec;
use iot_canary_core::verdict::ProbeAction;
use iot_canary_daemon::identity::config::{EndpointAuth, IdentityKind, SessionPolicy};
use iot_canary_lab::identity::role_paths::{self, RolePath};
use iot_canary_lab::identity::vending;
use iot_canary_lab::scenario::LoadedScenario;
use iot_canary_lab::state::{LabState, Principal, cognito_identity_id};
use iot_canary_policy::{Decision, Policy};

pub use iot_canary_audit::simulate::*;

/// Builds each config identity's policy set from a lab scenario, the way the lab would
/// authorize that identity's credentials. `read` reads `session_policy_file`s (IO stays with
/// the caller). `credential-endpoint` identities that sign in as a Cognito user are simulated
/// as the scenario's `[vending]` would vend for that user; profiles, bearer-token endpoints and
/// static identities without an `[[iam_user]]` of the same name cannot be simulated.
pub fn identities_from_scenario(
    identities: &[IdentitySpec],
    loaded: &LoadedScenario,
    now: SystemTime,
    read: &dyn Fn(&Path) -> Result<String, String>,
) -> SimIdentities {
    let sc = &loaded.scenario;
    let lab = Arc::new(LabState::new(loaded.clone()));
    let mut out = SimIdentities::new();
    for spec in identities {
        let name = spec.name.clone();
        let built: Result<(Principal, Option<String>, Option<String>), String> = match &spec
            .config
            .kind
        {
            IdentityKind::Static(_) => {
                if sc.iam_user.iter().any(|u| u.name == name) {
                    Ok((
                        Principal::IamUser { name: name.clone() },
                        None,
                        Some(name.clone()),
                    ))
                } else {
                    Err(format!(
                        "static identity `{name}`: the scenario has no [[iam_user]] named `{name}` (simulate maps static identities by name)"
                    ))
                }
            }
            IdentityKind::Cognito(c) => match &sc.cognito {
                Some(pool) => {
                    let username = c.login.username.clone();
                    let id = cognito_identity_id(&sc.region, &pool.identity_pool_id, &username);
                    Ok((
                        Principal::CognitoAuthenticated {
                            identity_id: id.clone(),
                            username: username.clone(),
                        },
                        Some(id),
                        Some(username),
                    ))
                }
                None => Err(format!(
                    "cognito identity `{name}`: the scenario has no [cognito]"
                )),
            },
            IdentityKind::CognitoGuest(_) => match &sc.cognito {
                Some(pool) => {
                    // Guests get a fresh id per sign-in; any fixed id exercises the same rules.
                    let id = cognito_identity_id(
                        &sc.region,
                        &pool.identity_pool_id,
                        "\u{0}simulated-guest",
                    );
                    Ok((
                        Principal::CognitoUnauthenticated {
                            identity_id: id.clone(),
                        },
                        Some(id),
                        None,
                    ))
                }
                None => Err(format!(
                    "cognito-guest identity `{name}`: the scenario has no [cognito]"
                )),
            },
            IdentityKind::AssumeRole(a) => {
                let role = a.role_arn.rsplit('/').next().unwrap_or_default().to_owned();
                if !sc.role.iter().any(|r| r.name == role) {
                    Err(format!(
                        "assume-role identity `{name}`: the scenario has no [[role]] `{role}`"
                    ))
                } else {
                    let text = match &a.session_policy {
                        None => Ok(None),
                        Some(SessionPolicy::Inline(s)) => Ok(Some(s.clone())),
                        Some(SessionPolicy::File(p)) => read(p).map(Some),
                    };
                    text.and_then(|t| {
                        let session_policy = match t {
                            Some(t) => {
                                let t = t
                                    .replace("${session_name}", &a.session_name)
                                    .replace("${role_arn}", &a.role_arn);
                                Some(Arc::new(
                                    Policy::parse("session", &t)
                                        .map_err(|e| format!("identity `{name}`: {e}"))?,
                                ))
                            }
                            None => None,
                        };
                        Ok((
                            Principal::AssumedRole {
                                role,
                                session_name: a.session_name.clone(),
                                session_policy,
                            },
                            None,
                            None,
                        ))
                    })
                }
            }
            // The lab's vending API: its role scoped down by the template rendered over the
            // things the signed-in user owns or was shared (a bearer token names no user).
            IdentityKind::CredentialEndpoint(c) => match (&sc.vending, &c.auth) {
                (Some(v), EndpointAuth::Cognito { login, .. }) => {
                    let username = login.username.clone();
                    let things = lab.things_accessible_by(&username);
                    vending::render(
                        &v.session_policy_template,
                        &vending::TemplateVars {
                            username: &username,
                            region: &sc.region,
                            account: &sc.account_id,
                            things: &things,
                            ..Default::default()
                        },
                    )
                    .map_err(|e| format!("identity `{name}`: {e}"))
                    .and_then(|text| {
                        Policy::parse("session", &text)
                            .map_err(|e| format!("identity `{name}`: {e}"))
                    })
                    .map(|policy| {
                        (
                            Principal::AssumedRole {
                                role: v.role.clone(),
                                session_name: vending::session_name(&username),
                                session_policy: Some(Arc::new(policy)),
                            },
                            None,
                            Some(username),
                        )
                    })
                }
                (None, _) => Err(format!(
                    "credential-endpoint identity `{name}`: the scenario has no [vending]"
                )),
                (Some(_), EndpointAuth::Bearer(_)) => Err(format!(
                    "credential-endpoint identity `{name}`: a bearer token names no user to simulate"
                )),
            },
            other => Err(format!(
                "identity `{name}`: kind `{}` needs a live credential source and is not simulated offline",
                other.as_str()
            )),
        };
        // Role paths of a credential-endpoint identity that names an identity pool go
        // through its user's Cognito identity (its sign-in), not the vended session.
        let cognito_user = match (&spec.config.kind, &sc.cognito) {
            (IdentityKind::CredentialEndpoint(c), Some(pool)) if c.identity_pool_id.is_some() => {
                match &c.auth {
                    EndpointAuth::Cognito { login, .. } => Some(Principal::CognitoAuthenticated {
                        identity_id: cognito_identity_id(
                            &sc.region,
                            &pool.identity_pool_id,
                            &login.username,
                        ),
                        username: login.username.clone(),
                    }),
                    EndpointAuth::Bearer(_) => None,
                }
            }
            _ => None,
        };
        let entry = built.map(|(principal, identity_id, username)| {
            let authz = lab.principal_authz(&principal, now);
            SimIdentity {
                set: authz.set,
                context: authz.context,
                identity_id,
                username,
                caller_arn: Some(iot_canary_lab::doors::auth::caller_arn(&lab, &principal)),
                role_paths: Some(Arc::new(LabRolePaths {
                    lab: lab.clone(),
                    cognito: cognito_user.unwrap_or_else(|| principal.clone()),
                    principal,
                })),
            }
        });
        out.insert(name, entry);
    }
    out
}

/// A principal's role paths decided by the lab's own `identity::role_paths::decide` (the
/// scenario's trust policies, identity pool settings and groups).
struct LabRolePaths {
    lab: Arc<LabState>,
    /// Whose credentials `assume-role` signs with.
    principal: Principal,
    /// Whose Cognito identity the pool flows (`web-identity`, `custom-role`) sign in as.
    cognito: Principal,
}

impl std::fmt::Debug for LabRolePaths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabRolePaths")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl RolePathOracle for LabRolePaths {
    fn decide(
        &self,
        action: ProbeAction,
        role_arn: &str,
        now: SystemTime,
    ) -> Result<SimCheck, String> {
        let (path, api) = match action {
            ProbeAction::AssumeRole => (RolePath::AssumeRole, "sts:AssumeRole"),
            ProbeAction::WebIdentity => (RolePath::WebIdentity, "sts:AssumeRoleWithWebIdentity"),
            ProbeAction::CustomRole => (
                RolePath::CustomRole,
                "cognito-identity:GetCredentialsForIdentity",
            ),
            other => return Err(format!("`{other}` is not a role path")),
        };
        let who = match path {
            RolePath::AssumeRole => &self.principal,
            RolePath::WebIdentity | RolePath::CustomRole => &self.cognito,
        };
        let d = role_paths::decide(&self.lab, who, path, role_arn, now)?;
        let decision = if d.allowed {
            Decision::Allowed
        } else if d.explanation.starts_with("explicit deny") {
            Decision::ExplicitDeny
        } else {
            Decision::ImplicitDeny
        };
        Ok(SimCheck {
            action: api,
            resource: role_arn.to_string(),
            decision: decision.as_str(),
            deciding: None,
            explanation: match d.error {
                Some(e) => format!("{e}: {}", d.explanation),
                None => d.explanation,
            },
        })
    }
}
