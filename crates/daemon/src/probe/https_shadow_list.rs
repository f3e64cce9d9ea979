//! `https-shadow-list`: iot-data `ListNamedShadowsForThing` of the canary's thing (read-only,
//! one page of one name).

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let clients = ctx.api_clients().await?;
    let thing = ctx.canary.thing.clone().unwrap_or_default();
    let account = ctx.account(&clients).await;
    let resource = ctx.iot_arn(account.as_deref(), "thing", &thing);
    let send = clients
        .data
        .list_named_shadows_for_thing()
        .thing_name(&thing)
        .page_size(1)
        .send();
    Ok(ctx
        .call("iot-data ListNamedShadowsForThing", &resource, send)
        .await
        .0)
}
