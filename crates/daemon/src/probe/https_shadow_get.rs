//! `https-shadow-get`: iot-data `GetThingShadow` of the canary's thing (and named shadow) —
//! read-only, on the real foreign resource. 200 and 404 `ResourceNotFoundException` (no such
//! shadow) both passed authorization (W1, W4).

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let clients = ctx.api_clients().await?;
    let thing = ctx.canary.thing.clone().unwrap_or_default();
    let shadow = ctx.canary.shadow.clone();
    let account = ctx.account(&clients).await;
    let resource = shadow_arn(ctx, account.as_deref(), &thing, shadow.as_deref());
    let send = clients
        .data
        .get_thing_shadow()
        .thing_name(&thing)
        .set_shadow_name(shadow)
        .send();
    Ok(ctx.call("iot-data GetThingShadow", &resource, send).await.0)
}

/// The resource a shadow call is authorized on: `thing/T`, a named shadow `thing/T/S`.
pub(super) fn shadow_arn(
    ctx: &ProbeCtx<'_>,
    account: Option<&str>,
    thing: &str,
    shadow: Option<&str>,
) -> String {
    match shadow {
        Some(s) => ctx.iot_arn(account, "thing", &format!("{thing}/{s}")),
        None => ctx.iot_arn(account, "thing", thing),
    }
}
