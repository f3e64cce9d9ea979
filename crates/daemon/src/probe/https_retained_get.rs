//! `https-retained-get`: iot-data `GetRetainedMessage` of the canary's topic (read-only). A
//! topic without a retained message answers 404 `ResourceNotFoundException` after
//! authorization (W4).

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let clients = ctx.api_clients().await?;
    let topic = ctx.canary.topic.clone().unwrap_or_default();
    let account = ctx.account(&clients).await;
    let resource = ctx.iot_arn(account.as_deref(), "topic", &topic);
    let send = clients.data.get_retained_message().topic(&topic).send();
    Ok(ctx
        .call("iot-data GetRetainedMessage", &resource, send)
        .await
        .0)
}
