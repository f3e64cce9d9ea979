//! `connect`: CONNECT with a client id (someone else's for a canary, one's own for a control).

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let id = ctx.actor.client_id.clone();
    // Always a fresh connection: the connect itself is what is tested.
    match ctx.open(id, false).await {
        Ok(lease) => {
            lease.release().await;
            Observation::Connack { code: 0 }
        }
        Err(obs) => obs,
    }
}
