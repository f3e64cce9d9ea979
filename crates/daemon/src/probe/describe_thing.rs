//! `describe-thing`: iot `DescribeThing` of the canary's (real, foreign) thing: read-only.

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let clients = match ctx.api_clients().await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let thing = ctx.canary.thing.clone().unwrap_or_default();
    let account = ctx.account(&clients).await;
    let resource = ctx.iot_arn(account.as_deref(), "thing", &thing);
    let send = clients.iot.describe_thing().thing_name(&thing).send();
    ctx.call("iot DescribeThing", &resource, send).await.0
}
