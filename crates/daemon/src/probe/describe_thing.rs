//! `describe-thing`: iot `DescribeThing` of the canary's (real, foreign) thing: read-only.

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let clients = ctx.api_clients().await?;
    let thing = ctx.canary.thing.clone().unwrap_or_default();
    let account = ctx.account(&clients).await;
    let resource = ctx.iot_arn(account.as_deref(), "thing", &thing);
    let send = clients.iot.describe_thing().thing_name(&thing).send();
    Ok(ctx.call("iot DescribeThing", &resource, send).await.0)
}
