//! `retain`: a retained PUBLISH (needs `iot:RetainPublish` as well as `iot:Publish`). If it
//! is accepted the probe clears the retained message again (empty retained payload).

use bytes::Bytes;

use super::{ProbeCtx, puback_ok};
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let topic = ctx.canary.topic.clone().unwrap_or_default();
    let mut lease = match ctx.open(ctx.actor.client_id.clone(), true).await {
        Ok(l) => l,
        Err(o) => return o,
    };
    let payload = ctx.payload("retain");
    // Always QoS 1: the PUBACK is the evidence and the cleanup must be confirmed.
    let obs = match ctx.publish(&mut lease, &topic, payload, 1, true).await {
        Err(o) => o,
        Ok(code) => {
            let code = code.unwrap_or(0);
            if puback_ok(code) {
                ctx.note("retained publish accepted; clearing it");
                let _ = ctx.publish(&mut lease, &topic, Bytes::new(), 1, true).await;
            }
            Observation::Puback { code }
        }
    };
    lease.release().await;
    obs
}
