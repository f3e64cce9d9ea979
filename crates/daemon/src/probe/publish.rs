//! `publish`: PUBLISH an inert, marked payload. With a witness subscribed to the topic, the
//! witness's view is direct proof (even at QoS 0); without one the PUBACK code is.

use super::{ProbeCtx, puback_ok, witness_subscribe};
use iot_canary_core::verdict::Observation;

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
    if let Some(mut w) = witness {
        w.session().unsubscribe(&topic).await;
        w.release().await;
    }
    obs
}

async fn attempt(
    ctx: &mut ProbeCtx<'_>,
    topic: &str,
    witness: Option<&mut super::Lease>,
) -> Observation {
    let mut lease = match ctx.open(ctx.actor.client_id.clone(), true).await {
        Ok(l) => l,
        Err(o) => return o,
    };
    let payload = ctx.payload("publish");
    let qos = ctx.canary.qos;
    let obs = match ctx.publish(&mut lease, topic, payload, qos, false).await {
        Err(o) => o,
        Ok(Some(code)) if !puback_ok(code) => Observation::Puback { code },
        Ok(ack) => match witness {
            None => Observation::Puback {
                code: ack.unwrap_or(0),
            },
            Some(w) => {
                let until = ctx.grace_deadline();
                match ctx.wait_nonce(w, until).await {
                    Ok(true) => {
                        ctx.note("the witness received the canary's publish");
                        Observation::Delivered
                    }
                    Ok(false) => not_seen(ctx, &mut lease, w, topic, ack).await,
                    Err(_) => Observation::WitnessFailed,
                }
            }
        },
    };
    lease.release().await;
    obs
}

/// The witness did not see the canary's message: prove the topic routes (the witness's own
/// later marker arrives) before calling it not delivered; a 3.1.1 close is the other answer.
async fn not_seen(
    ctx: &mut ProbeCtx<'_>,
    canary: &mut super::Lease,
    w: &mut super::Lease,
    topic: &str,
    ack: Option<u8>,
) -> Observation {
    if let Some(o) = canary_closed_or(ctx, canary).await {
        return o;
    }
    if let Some(code) = ack {
        // Acknowledged but not routed: the broker accepted it, which is access.
        ctx.note("PUBACK accepted but the witness did not see the message");
        return Observation::Puback { code };
    }
    let marker_nonce = format!("{}-marker", ctx.nonce);
    let payload = bytes::Bytes::from(format!(
        r#"{{"iot_canary":true,"kind":"marker","nonce":"{marker_nonce}"}}"#
    ));
    ctx.note("witness publishes a marker to prove the topic routes");
    match ctx.publish(w, topic, payload, 1, false).await {
        Ok(Some(c)) if puback_ok(c) => {}
        _ => return Observation::WitnessFailed,
    }
    let saved = std::mem::replace(&mut ctx.nonce, marker_nonce);
    let until = ctx.grace_deadline();
    let seen_marker = ctx.wait_nonce(w, until).await;
    ctx.nonce = saved;
    match seen_marker {
        Ok(true) => Observation::NotDelivered,
        _ => Observation::WitnessFailed,
    }
}

/// If the canary's connection has closed (5: DISCONNECT, 3.1.1: socket close), that is the
/// observation.
async fn canary_closed_or(
    ctx: &mut ProbeCtx<'_>,
    canary: &mut super::Lease,
) -> Option<Observation> {
    let now = std::time::Instant::now();
    match ctx
        .wait_for(
            canary,
            iot_canary_core::verdict::Waiting::Puback,
            now,
            |_| None::<()>,
        )
        .await
    {
        Err(Observation::TimedOut { .. }) => None,
        Err(o) => Some(o),
        Ok(()) => None,
    }
}
