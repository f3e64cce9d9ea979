//! `assume-role`: sts:AssumeRole into the canary's `role_arn` with the identity's own
//! credentials (a user who should never reach an admin role, an app role that may chain into
//! another). Session `iot-canary-<nonce>`, the STS minimum of 900 s; the credentials STS
//! returns are dropped unused and never logged — they expire on their own.

use super::ProbeCtx;
use super::role_paths::{
    RoleCall, SESSION_SECONDS, call, granted, role_arn, role_ctx, session_name, sts_signed,
};
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let role_arn = role_arn(ctx)?;
    let roles = role_ctx(ctx)?;
    let creds = match ctx.actor.credentials.credentials().await {
        Ok(c) => c,
        Err(e) => {
            ctx.note(format!("no credentials: {e}"));
            return Err(Observation::CredentialsUnavailable);
        }
    };
    let sts = sts_signed(&roles, creds);
    let session = session_name(&ctx.nonce);
    ctx.note(format!(
        "sts:AssumeRole `{role_arn}` as session `{session}` ({SESSION_SECONDS} s) with `{}`'s credentials",
        ctx.actor.identity
    ));
    let req = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name(&session)
        .duration_seconds(SESSION_SECONDS)
        .send();
    let out = call(ctx, RoleCall::AssumeRole, &role_arn, req).await?;
    let session_arn = out.assumed_role_user().map(|u| u.arn().to_owned());
    // `out` (and its credentials) is dropped here, unused.
    drop(out);
    Ok(granted(
        ctx,
        RoleCall::AssumeRole,
        &role_arn,
        session_arn.as_deref(),
    ))
}
