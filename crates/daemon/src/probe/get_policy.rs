//! `get-policy`: iot `GetPolicy` of the canary's policy: read-only (a hole shows another
//! tenant's or an admin's policy document). `${nonce}` in the name makes it a policy that
//! cannot exist, answered 404 after authorization (W4).

use super::ProbeCtx;
use iot_canary_core::config::probe_names;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let clients = ctx.api_clients().await?;
    let policy = probe_names::expand(
        ctx.canary.policy_name.as_deref().unwrap_or_default(),
        &ctx.token(),
    );
    let account = ctx.account(&clients).await;
    let resource = ctx.iot_arn(account.as_deref(), "policy", &policy);
    let send = clients.iot.get_policy().policy_name(&policy).send();
    Ok(ctx.call("iot GetPolicy", &resource, send).await.0)
}
