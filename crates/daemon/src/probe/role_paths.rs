//! What the three role-path probes (`assume-role`, `web-identity`, `custom-role`) share: the
//! SDK clients (real AWS SDK crates with the `[endpoints]` overrides), the identity pool sign-in
//! an app performs, the session name, and turning an SDK result into the probe's decisive
//! observation. Credentials a role path hands out are never logged, kept or put in evidence.

use std::future::Future;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::ProbeCtx;
use crate::identity::cognito::{login_provider_name, user_pool_login};
use crate::identity::config::{CognitoLogin, EndpointAuth, IdentityKind};
use crate::identity::sdk::{cognito_identity_client, cognito_idp_client};
use crate::identity::{IdentityConfig, IdentityContext, Secret};
use iot_canary_core::verdict::{ApiAnswer, Observation, Waiting};

/// What a probe waits for while an AWS API call is in flight (the answer to its request).
const ANSWER: Waiting = Waiting::Response;

/// The AWS calls of the role paths (for the evidence trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RoleCall {
    AssumeRole,
    GetId,
    GetOpenIdToken,
    AssumeRoleWithWebIdentity,
    GetCredentialsForIdentity,
    GetCallerIdentity,
}

impl RoleCall {
    pub(super) const fn as_str(self) -> &'static str {
        match self {
            RoleCall::AssumeRole => "sts:AssumeRole",
            RoleCall::GetId => "cognito-identity:GetId",
            RoleCall::GetOpenIdToken => "cognito-identity:GetOpenIdToken",
            RoleCall::AssumeRoleWithWebIdentity => "sts:AssumeRoleWithWebIdentity",
            RoleCall::GetCredentialsForIdentity => "cognito-identity:GetCredentialsForIdentity",
            RoleCall::GetCallerIdentity => "sts:GetCallerIdentity",
        }
    }

    /// Whether the call's answer can decide the probe: the sign-in steps (GetId) and the
    /// identity check of issued credentials (GetCallerIdentity) never can — their failures
    /// are the identity's own credentials failing.
    fn decides(self) -> bool {
        !matches!(self, RoleCall::GetId | RoleCall::GetCallerIdentity)
    }
}

/// What the role-path probes need beyond the canary's signing credentials: where the AWS APIs
/// are (region, `[endpoints]`, the environment for `*_env` secrets), the identity's own
/// configuration (its identity pool and sign-in) and the Cognito identity id its credentials
/// belong to (kept by the credential cache, as an app keeps it on the device).
#[derive(Clone)]
pub struct RoleCtx<'a> {
    pub apis: &'a IdentityContext,
    pub identity: &'a IdentityConfig,
    pub identity_id: Option<String>,
}

/// The STS minimum (AssumeRole and AssumeRoleWithWebIdentity refuse less): the credentials a
/// role path hands out are dropped unused and expire on their own within 15 minutes.
pub(super) const SESSION_SECONDS: i32 = 900;

/// `iot-canary-<nonce>`: the probe's sessions are recognizable in CloudTrail (AssumeRole
/// events carry the session name) and unique per run. STS allows 2-64 characters of
/// `[\w+=,.@-]`; the nonce is 37 of them.
pub(super) fn session_name(nonce: &str) -> String {
    let mut s = format!("iot-canary-{nonce}");
    s.truncate(64);
    s
}

/// A role's name: the last path segment of `arn:aws:iam::ACCOUNT:role/PATH/NAME`.
pub(super) fn role_name(role_arn: &str) -> &str {
    role_arn.rsplit('/').next().unwrap_or(role_arn)
}

/// The role of an assumed-role session ARN (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`).
pub(super) fn session_role(session_arn: &str) -> Option<&str> {
    let rest = session_arn.split_once(":assumed-role/")?.1;
    rest.split('/').next()
}

/// The canary's `role_arn` (config validation guarantees it for role-path actions).
pub(super) fn role_arn(ctx: &ProbeCtx<'_>) -> Result<String, Observation> {
    ctx.canary
        .role_arn
        .clone()
        .ok_or_else(|| Observation::Unexpected {
            detail: format!("action `{}` without `role_arn`", ctx.canary.action),
        })
}

pub(super) fn role_ctx<'a>(ctx: &ProbeCtx<'a>) -> Result<RoleCtx<'a>, Observation> {
    ctx.roles.clone().ok_or_else(|| Observation::Unexpected {
        detail: "role-path probe without an identity context".into(),
    })
}

/// One SDK call of a role path, bounded by the probe's deadline. `Ok` is the service's
/// success; `Err` is the decisive observation (the service's refusal or error, or a
/// transport failure), already noted in the evidence.
pub(super) async fn call<T, E, F>(
    ctx: &mut ProbeCtx<'_>,
    what: RoleCall,
    role_arn: &str,
    fut: F,
) -> Result<T, Observation>
where
    F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match tokio::time::timeout_at(ctx.deadline.into(), fut).await {
        Err(_) => {
            ctx.note(format!("{}: no answer before the deadline", what.as_str()));
            Err(Observation::TimedOut {
                waiting_for: ANSWER,
            })
        }
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(sdk_failure(ctx, what, role_arn, &e)),
    }
}

/// An SDK error as evidence, read as every API probe reads one (`api::sdk_observation`: a
/// service answer keeps its HTTP status, error type and message — AWS's messages name ARNs
/// and actions, never secrets —, transport failures become the transport observations); a
/// refusal of a preparatory call (`what` does not decide) is no answer about the role.
fn sdk_failure<E>(
    ctx: &mut ProbeCtx<'_>,
    what: RoleCall,
    role_arn: &str,
    err: &SdkError<E, HttpResponse>,
) -> Observation
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let obs = super::api::sdk_observation(err, role_arn);
    ctx.note(format!(
        "{}: {}",
        what.as_str(),
        iot_canary_core::evidence::describe(&obs)
    ));
    match obs {
        Observation::ApiAnswer(_) if !what.decides() => Observation::CredentialsUnavailable,
        other => other,
    }
}

/// A role path's success, checked: the session the service handed out must be for the role
/// under test (`granted` names the role the answer says it is for).
pub(super) fn granted(
    ctx: &mut ProbeCtx<'_>,
    call: RoleCall,
    role_arn: &str,
    session_arn: Option<&str>,
) -> Observation {
    let want = role_name(role_arn);
    match session_arn.and_then(session_role) {
        Some(got) if got == want => {
            ctx.note(format!(
                "{}: credentials issued for `{role_arn}` (session `{}`); dropped unused, they expire on their own",
                call.as_str(),
                session_arn.unwrap_or_default()
            ));
            Observation::ApiAnswer(ApiAnswer::ok(200, role_arn))
        }
        Some(got) => {
            ctx.note(format!(
                "{}: credentials issued for role `{got}`, not `{want}`; dropped unused",
                call.as_str()
            ));
            // Not the role under test, and no refusal either: Cognito issued another role
            // (e.g. the default one, CustomRoleArn not honoured). Neither allowed nor denied.
            Observation::Unexpected {
                detail: format!(
                    "{} issued credentials for role `{got}`, not for `{want}`",
                    call.as_str()
                ),
            }
        }
        None => {
            ctx.note(format!(
                "{}: success without a session ARN naming the role",
                call.as_str()
            ));
            Observation::Unexpected {
                detail: format!("{}: the answer names no assumed role", call.as_str()),
            }
        }
    }
}

/// How an identity reaches its identity pool, as an app does.
pub(super) enum PoolIdentity<'a> {
    /// An unauthenticated identity: no `Logins`.
    Guest { pool: &'a str },
    /// A signed-in user: the user pool's id token under the pool's provider name.
    SignedIn {
        pool: &'a str,
        login: &'a CognitoLogin,
        provider: Option<&'a str>,
    },
}

impl<'a> PoolIdentity<'a> {
    /// `None` for identity kinds without a Cognito identity (`check` refuses those canaries).
    pub(super) fn of(identity: &'a IdentityConfig) -> Option<Self> {
        match &identity.kind {
            IdentityKind::CognitoGuest(c) => Some(PoolIdentity::Guest {
                pool: &c.identity_pool_id,
            }),
            IdentityKind::Cognito(c) => Some(PoolIdentity::SignedIn {
                pool: &c.identity_pool_id,
                login: &c.login,
                provider: c.login_provider.as_deref(),
            }),
            IdentityKind::CredentialEndpoint(c) => match (&c.auth, &c.identity_pool_id) {
                (EndpointAuth::Cognito { login, .. }, Some(pool)) => Some(PoolIdentity::SignedIn {
                    pool,
                    login,
                    provider: c.login_provider.as_deref(),
                }),
                _ => None,
            },
            _ => None,
        }
    }

    pub(super) fn pool(&self) -> &'a str {
        match self {
            PoolIdentity::Guest { pool } | PoolIdentity::SignedIn { pool, .. } => pool,
        }
    }
}

/// An identity pool session as the basic flow and role selection need it: the identity id
/// and, for a signed-in user, the `Logins` entry (provider name, fresh id token).
pub(super) struct PoolSession {
    pub client: aws_sdk_cognitoidentity::Client,
    pub identity_id: String,
    pub logins: Option<(String, Secret)>,
}

/// Signs in as the app does: for a user, a user-pool sign-in (a fresh id token: the cached
/// credentials carry none); the identity id the credential cache already holds, else `GetId`.
/// A guest never calls `GetId` without a known id if it can avoid it: each such call mints a
/// new guest identity in the pool.
pub(super) async fn pool_session(
    ctx: &mut ProbeCtx<'_>,
    roles: &RoleCtx<'_>,
    who: &PoolIdentity<'_>,
) -> Result<PoolSession, Observation> {
    let client = cognito_identity_client(roles.apis);
    let logins = match who {
        PoolIdentity::Guest { .. } => None,
        PoolIdentity::SignedIn {
            login, provider, ..
        } => {
            ctx.note(format!(
                "cognito-idp InitiateAuth as `{}` (user pool `{}`)",
                login.username, login.user_pool_id
            ));
            let idp = cognito_idp_client(roles.apis);
            let signed_in = tokio::time::timeout_at(
                ctx.deadline.into(),
                user_pool_login(&idp, login, &roles.apis.env),
            )
            .await;
            let tokens = match signed_in {
                Err(_) => {
                    ctx.note("user-pool sign-in: no answer before the deadline");
                    return Err(Observation::TimedOut {
                        waiting_for: Waiting::Credentials,
                    });
                }
                Ok(Err(e)) => {
                    // IdentityError messages are written secret-free.
                    ctx.note(format!("user-pool sign-in failed: {e}"));
                    return Err(Observation::CredentialsUnavailable);
                }
                Ok(Ok(t)) => t,
            };
            let provider = provider
                .map(str::to_owned)
                .unwrap_or_else(|| login_provider_name(&roles.apis.region, &login.user_pool_id));
            Some((provider, tokens.id_token))
        }
    };
    let identity_id = match (&roles.identity_id, who) {
        (Some(id), _) => id.clone(),
        (None, _) => {
            ctx.note(format!("cognito-identity GetId (pool `{}`)", who.pool()));
            let mut req = client.get_id().identity_pool_id(who.pool());
            if let Some((p, t)) = &logins {
                req = req.logins(p, t.expose());
            }
            let out = call(ctx, RoleCall::GetId, "", req.send()).await?;
            match out.identity_id().filter(|s| !s.is_empty()) {
                Some(id) => id.to_owned(),
                None => {
                    return Err(Observation::Unexpected {
                        detail: "cognito-identity GetId: no IdentityId".into(),
                    });
                }
            }
        }
    };
    Ok(PoolSession {
        client,
        identity_id,
        logins,
    })
}

/// An STS client signing with the identity's own credentials (`assume-role`).
pub(super) fn sts_signed(
    roles: &RoleCtx<'_>,
    creds: aws_credential_types::Credentials,
) -> aws_sdk_sts::Client {
    crate::identity::sdk::sts_client(roles.apis, SharedCredentialsProvider::new(creds))
}

/// An STS client without credentials: AssumeRoleWithWebIdentity is unsigned (the token is
/// the proof), as apps of the basic flow call it.
pub(super) fn sts_unsigned(roles: &RoleCtx<'_>) -> aws_sdk_sts::Client {
    crate::identity::sdk::sts_client_unsigned(roles.apis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_fit_sts() {
        let s = session_name("iotc-0123456789abcdef0123456789abcdef");
        assert!(s.starts_with("iot-canary-iotc-"));
        assert!((2..=64).contains(&s.len()));
        assert!(
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
        );
        assert!(session_name(&"x".repeat(100)).len() <= 64);
    }

    #[test]
    fn role_names_from_role_and_session_arns() {
        assert_eq!(role_name("arn:aws:iam::123456789012:role/Admin"), "Admin");
        assert_eq!(
            role_name("arn:aws:iam::123456789012:role/ops/Admin"),
            "Admin"
        );
        assert_eq!(
            session_role("arn:aws:sts::123456789012:assumed-role/Admin/iot-canary-x"),
            Some("Admin")
        );
        assert_eq!(session_role("arn:aws:iam::123456789012:user/ops"), None);
    }
}
