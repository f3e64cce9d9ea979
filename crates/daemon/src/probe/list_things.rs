//! `list-things`: iot `ListThings` (read-only, one thing). Its IAM resource is `*`: a hole here
//! enumerates the account's devices.

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let clients = match ctx.api_clients().await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let send = clients.iot.list_things().max_results(1).send();
    ctx.call("iot ListThings", "*", send).await.0
}
