//! `https-retained-list`: iot-data `ListRetainedMessages` (read-only, one entry). Its IAM
//! resource is `*`: a hole here lists every retained topic of the account.

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let clients = match ctx.api_clients().await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let send = clients.data.list_retained_messages().max_results(1).send();
    ctx.call("iot-data ListRetainedMessages", "*", send).await.0
}
