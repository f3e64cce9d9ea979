//! `web-identity`: the identity pool's basic (classic) flow — `GetId` (with the user pool's id
//! token for a signed-in user, none for a guest), `GetOpenIdToken`, then the unsigned
//! sts:AssumeRoleWithWebIdentity into the canary's `role_arn`. This is how a guest reaches the
//! authenticated role (or any other role) whose trust policy does not pin
//! `cognito-identity.amazonaws.com:amr`, when the pool allows the basic flow. The OpenID
//! token and the credentials STS returns are never logged and dropped unused.

use super::ProbeCtx;
use super::role_paths::{
    PoolIdentity, RoleCall, SESSION_SECONDS, call, granted, pool_session, role_arn, role_ctx,
    session_name, sts_unsigned,
};
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let role_arn = role_arn(ctx)?;
    let roles = role_ctx(ctx)?;
    let Some(who) = PoolIdentity::of(roles.identity) else {
        return Err(Observation::Unexpected {
            detail: format!(
                "identity `{}` has no Cognito identity for the basic flow",
                ctx.actor.identity
            ),
        });
    };
    let session = pool_session(ctx, &roles, &who).await?;
    ctx.note(format!(
        "cognito-identity GetOpenIdToken for `{}`{}",
        session.identity_id,
        if session.logins.is_some() {
            " with the user's id token"
        } else {
            " (guest, no Logins)"
        }
    ));
    let mut req = session
        .client
        .get_open_id_token()
        .identity_id(&session.identity_id);
    if let Some((provider, token)) = &session.logins {
        req = req.logins(provider, token.expose());
    }
    let out = call(ctx, RoleCall::GetOpenIdToken, &role_arn, req.send()).await?;
    let Some(token) = out.token().filter(|t| !t.is_empty()).map(str::to_owned) else {
        return Err(Observation::Unexpected {
            detail: "cognito-identity GetOpenIdToken: no Token".into(),
        });
    };
    drop(out);
    let name = session_name(&ctx.nonce);
    ctx.note(format!(
        "sts:AssumeRoleWithWebIdentity `{role_arn}` as session `{name}` ({SESSION_SECONDS} s) with the pool's OpenID token"
    ));
    let req = sts_unsigned(&roles)
        .assume_role_with_web_identity()
        .role_arn(&role_arn)
        .role_session_name(&name)
        .web_identity_token(token)
        .duration_seconds(SESSION_SECONDS)
        .send();
    let out = call(ctx, RoleCall::AssumeRoleWithWebIdentity, &role_arn, req).await?;
    let session_arn = out.assumed_role_user().map(|u| u.arn().to_owned());
    drop(out);
    Ok(granted(
        ctx,
        RoleCall::AssumeRoleWithWebIdentity,
        &role_arn,
        session_arn.as_deref(),
    ))
}
