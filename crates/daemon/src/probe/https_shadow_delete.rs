//! `https-shadow-delete`: iot-data `DeleteThingShadow` of a canary-owned, probe-named named
//! shadow (`iot-canary-${nonce}` by default; `check` refuses a name without `${nonce}`), so a
//! hole deletes nothing: authorized, the call answers 404 `ResourceNotFoundException` (W4).
//! The classic shadow is never named.

use super::ProbeCtx;
use super::https_shadow_get::shadow_arn;
use iot_canary_core::config::probe_names;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let clients = ctx.api_clients().await?;
    let thing = ctx.canary.thing.clone().unwrap_or_default();
    let template = ctx
        .canary
        .shadow
        .clone()
        .unwrap_or_else(|| probe_names::DEFAULT_SHADOW.to_string());
    let shadow = probe_names::expand(&template, &ctx.token());
    let account = ctx.account(&clients).await;
    let resource = shadow_arn(ctx, account.as_deref(), &thing, Some(&shadow));
    let send = clients
        .data
        .delete_thing_shadow()
        .thing_name(&thing)
        .shadow_name(&shadow)
        .send();
    Ok(ctx
        .call("iot-data DeleteThingShadow", &resource, send)
        .await
        .0)
}
