//! `publish`: PUBLISH an inert, marked payload. The PUBACK of a QoS 1 publish (matched by
//! packet id) is the evidence; a witness subscribed to the topic adds `delivered` to an allowed
//! one. A QoS 0 publish cannot be proven undelivered (AWS delivers QoS 0 "zero or more times"),
//! so the canary follows it with the same message at QoS 1: authorization does not depend on
//! QoS, and that copy's PUBACK is the explicit answer.

use std::time::Instant;

use super::{ProbeCtx, marks, witness_subscribe};
use crate::mqtt::Event;
use crate::mqtt::pool::Lease;
use iot_canary_core::evidence_rules::puback_ok;
use iot_canary_core::verdict::{Observation, Waiting};

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let topic = ctx.canary.topic.clone().unwrap_or_default();
    let mut witness = None;
    if ctx.witness.is_some() {
        let mut w = match ctx.open_witness().await {
            Ok(w) => w,
            Err(o) => return o,
        };
        if let Err(o) = witness_subscribe(ctx, &mut w, &topic).await {
            w.release().await;
            return o;
        }
        witness = Some(w);
    }
    let obs = attempt(ctx, &topic, witness.as_mut()).await;
    if let Some(w) = witness {
        w.release().await;
    }
    obs
}

async fn attempt(ctx: &mut ProbeCtx<'_>, topic: &str, witness: Option<&mut Lease>) -> Observation {
    let mut lease = match ctx.open(ctx.actor.client_id.clone(), true).await {
        Ok(l) => l,
        Err(o) => return o,
    };
    let from = ctx.seq + 1;
    if ctx.canary.qos == 0 {
        let payload = ctx.mark("publish").bytes();
        if let Err(o) = ctx
            .send(&mut lease, topic, payload, 0, false, Waiting::Puback)
            .await
        {
            lease.release().await;
            return o;
        }
        ctx.note("QoS 0 proves no absence: sending the same message at QoS 1 for an answer");
    }
    let obs = match ctx
        .publish_under_test(&mut lease, topic, "publish", false)
        .await
    {
        Err(o) => o,
        Ok(code) if !puback_ok(code) => Observation::Puback { code },
        Ok(code) => match witness {
            None => Observation::Puback { code },
            Some(w) => seen_by_witness(ctx, w, from)
                .await
                .unwrap_or(Observation::Puback { code }),
        },
    };
    lease.release().await;
    obs
}

/// Whether the witness received one of this probe's publishes (from sequence `from` on)
/// within the grace: `Delivered`, else `None` (the accepted PUBACK already decides).
pub(super) async fn seen_by_witness(
    ctx: &mut ProbeCtx<'_>,
    w: &mut Lease,
    from: u32,
) -> Option<Observation> {
    let until = ctx.grace_deadline();
    let nonce = ctx.nonce.clone();
    let seen = w
        .session()
        .wait_for(until, |_, ev| match ev {
            Event::Publish { payload, .. } if marks::is(payload, &nonce, "publish", from) => {
                Some(Instant::now())
            }
            _ => None,
        })
        .await;
    match seen {
        crate::mqtt::Wait::Got(_) => {
            ctx.note("the witness received the canary's publish");
            Some(Observation::Delivered)
        }
        _ => {
            ctx.note("PUBACK accepted; the witness did not see the message within the grace");
            None
        }
    }
}
