//! `https-publish`: iot-data `Publish` of an inert, marked payload (never retained) to the
//! canary's topic, witness-confirmed like `publish`: the witness subscribes to the topic over
//! MQTT first, and only its receipt of this run's message proves a hole (`Delivered`, R1). A
//! 200 the witness never saw stays `witness_failed` (W1): the broker took the message, but
//! nothing shows it went anywhere. Refusals are read by W2/W3.

use aws_smithy_types::Blob;

use super::publish::seen_by_witness;
use super::{ProbeCtx, witness_subscribe};
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let topic = ctx.canary.topic.clone().unwrap_or_default();
    let clients = ctx.api_clients().await?;
    let mut w = ctx.open_witness().await?;
    if let Err(o) = witness_subscribe(ctx, &mut w, &topic).await {
        w.release().await;
        return Err(o);
    }
    let account = ctx.account(&clients).await;
    let resource = ctx.iot_arn(account.as_deref(), "topic", &topic);
    let from = ctx.seq + 1;
    let payload = ctx.mark("publish").bytes();
    let send = clients
        .data
        .publish()
        .topic(&topic)
        .qos(i32::from(ctx.canary.qos))
        .retain(false)
        .payload(Blob::new(payload.to_vec()))
        .send();
    let (obs, done) = ctx.call("iot-data Publish", &resource, send).await;
    let obs = match done {
        Some(_) => seen_by_witness(ctx, &mut w, from).await.unwrap_or(obs),
        None => obs,
    };
    w.release().await;
    Ok(obs)
}
