//! `subscribe`: SUBSCRIBE one topic filter; the SUBACK code (5) or a socket close (3.1.1)
//! is the evidence.

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let filter = ctx.canary.topic_filter.clone().unwrap_or_default();
    let mut lease = match ctx.open(ctx.actor.client_id.clone(), true).await {
        Ok(l) => l,
        Err(o) => return o,
    };
    let obs = match ctx.subscribe(&mut lease, &filter).await {
        Ok(code) => {
            if code <= 2 {
                lease.session().unsubscribe(&filter).await;
            }
            Observation::Suback { code }
        }
        Err(o) => o,
    };
    lease.release().await;
    obs
}
