//! `custom-role`: role selection from tokens — `GetCredentialsForIdentity` with
//! `CustomRoleArn = role_arn` for a signed-in user (the enhanced flow's way of picking one of
//! the roles in the id token's `cognito:roles`). A pool that maps roles from tokens issues
//! credentials only for a role the token carries; a user who can pick a privileged role is
//! the classic escalation.
//!
//! The answer does not name the role, so the probe asks `sts:GetCallerIdentity` with the
//! issued credentials (answered for any valid keys, needs no permission, changes nothing):
//! Cognito may issue the default role instead of honouring `CustomRoleArn`, and that is not
//! the role under test. The credentials are used for nothing else, never logged, and expire
//! on their own.

use aws_credential_types::provider::SharedCredentialsProvider;

use super::ProbeCtx;
use super::role_paths::{PoolIdentity, RoleCall, call, granted, pool_session, role_arn, role_ctx};
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let role_arn = role_arn(ctx)?;
    let roles = role_ctx(ctx)?;
    let who = match PoolIdentity::of(roles.identity) {
        Some(w @ PoolIdentity::SignedIn { .. }) => w,
        _ => {
            return Err(Observation::Unexpected {
                detail: format!(
                    "identity `{}` is no signed-in Cognito user (role selection needs an id token)",
                    ctx.actor.identity
                ),
            });
        }
    };
    let session = pool_session(ctx, &roles, &who).await?;
    ctx.note(format!(
        "cognito-identity GetCredentialsForIdentity for `{}` with CustomRoleArn `{role_arn}`",
        session.identity_id
    ));
    let mut req = session
        .client
        .get_credentials_for_identity()
        .identity_id(&session.identity_id)
        .custom_role_arn(&role_arn);
    if let Some((provider, token)) = &session.logins {
        req = req.logins(provider, token.expose());
    }
    let out = call(
        ctx,
        RoleCall::GetCredentialsForIdentity,
        &role_arn,
        req.send(),
    )
    .await?;
    let issued = out.credentials().and_then(|c| {
        Some(aws_credential_types::Credentials::new(
            c.access_key_id()?,
            c.secret_key()?,
            c.session_token().map(str::to_owned),
            None,
            "iot-canary-custom-role",
        ))
    });
    drop(out);
    let Some(issued) = issued else {
        return Err(Observation::Unexpected {
            detail: "cognito-identity GetCredentialsForIdentity: no Credentials".into(),
        });
    };
    ctx.note("sts:GetCallerIdentity with the issued credentials (which role did Cognito issue?)");
    let sts = crate::identity::sdk::sts_client(roles.apis, SharedCredentialsProvider::new(issued));
    let who_am_i = call(
        ctx,
        RoleCall::GetCallerIdentity,
        &role_arn,
        sts.get_caller_identity().send(),
    )
    .await?;
    let session_arn = who_am_i.arn().map(str::to_owned);
    Ok(granted(
        ctx,
        RoleCall::GetCredentialsForIdentity,
        &role_arn,
        session_arn.as_deref(),
    ))
}
