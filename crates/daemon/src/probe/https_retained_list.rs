//! `https-retained-list`: iot-data `ListRetainedMessages` (read-only, one entry). Its IAM
//! resource is `*`: a hole here lists every retained topic of the account.

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let clients = ctx.api_clients().await?;
    let send = clients.data.list_retained_messages().max_results(1).send();
    Ok(ctx.call("iot-data ListRetainedMessages", "*", send).await.0)
}
