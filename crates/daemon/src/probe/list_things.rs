//! `list-things`: iot `ListThings` (read-only, one thing). Its IAM resource is `*`: a hole here
//! enumerates the account's devices.

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let clients = ctx.api_clients().await?;
    let send = clients.iot.list_things().max_results(1).send();
    Ok(ctx.call("iot ListThings", "*", send).await.0)
}
