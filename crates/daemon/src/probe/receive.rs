//! `receive`: the canary subscribes; the witness publishes a unique nonce to the topic and
//! confirms it was routed (it receives it too). The canary receiving the nonce is the breach;
//! not receiving it within the grace window is the denial (`iot:Receive` is silent).

use super::{ProbeCtx, puback_ok, witness_subscribe};
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let topic = ctx.canary.topic.clone().unwrap_or_default();
    let filter = ctx
        .canary
        .topic_filter
        .clone()
        .unwrap_or_else(|| topic.clone());
    let mut lease = match ctx.open(ctx.actor.client_id.clone(), true).await {
        Ok(l) => l,
        Err(o) => return o,
    };
    let obs = match ctx.subscribe(&mut lease, &filter).await {
        Err(o) => o,
        // Refused subscription: the canary cannot receive; the SUBACK is the evidence.
        Ok(code) if code > 2 => Observation::Suback { code },
        Ok(_) => {
            let obs = bait(ctx, &mut lease, &topic).await;
            lease.session().unsubscribe(&filter).await;
            obs
        }
    };
    lease.release().await;
    obs
}

async fn bait(ctx: &mut ProbeCtx<'_>, canary: &mut super::Lease, topic: &str) -> Observation {
    let mut w = match ctx.open_witness().await {
        Ok(w) => w,
        Err(o) => return o,
    };
    let obs = async {
        witness_subscribe(ctx, &mut w, topic).await?;
        ctx.note("witness publishes the bait nonce");
        let payload = ctx.payload("bait");
        match ctx.publish(&mut w, topic, payload, 1, false).await {
            Ok(Some(c)) if puback_ok(c) => {}
            _ => return Err(Observation::WitnessFailed),
        }
        let until = ctx.deadline;
        match ctx.wait_nonce(&mut w, until).await {
            Ok(true) => ctx.note("witness confirmed the bait was routed"),
            _ => return Err(Observation::WitnessFailed),
        }
        let until = ctx.grace_deadline();
        match ctx.wait_nonce(canary, until).await? {
            true => {
                ctx.note("the canary received the bait");
                Ok(Observation::Delivered)
            }
            false => {
                ctx.note("the canary did not receive the bait");
                Ok(Observation::NotDelivered)
            }
        }
    }
    .await
    .unwrap_or_else(|o| o);
    w.session().unsubscribe(topic).await;
    w.release().await;
    obs
}
