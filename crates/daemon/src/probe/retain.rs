//! `retain`: a retained PUBLISH (needs `iot:RetainPublish` as well as `iot:Publish`). It is
//! `allowed` only when a fresh witness subscription receives the canary's message retained,
//! and the probe never destroys a retained message it did not set (docs/evidence-rules.md,
//! A1–A3):
//!
//! 1. the witness subscribes to the topic (a fresh subscription gets what is retained there)
//!    and publishes markers to it until one arrives (the subscription may not be active yet);
//!    what arrives retained before the marker plus the grace is what the topic holds;
//! 2. a retained message the canary did not set: the canary publishes *without* the retain
//!    flag — a refusal proves the retained publish refused too (it needs `iot:Publish`), an
//!    accepted one leaves the verdict `retained_in_use`; nothing is overwritten;
//! 3. otherwise the canary publishes its retained message; the witness subscribes afresh and
//!    must receive it with the retain flag; then the witness clears it (an empty retained
//!    publish) — only after seeing the canary's own message retained.

use std::time::Instant;

use bytes::Bytes;

use super::{MARKER_RETRY, ProbeCtx, marks, witness_publish, witness_subscribe};
use crate::mqtt::pool::Lease;
use crate::mqtt::{Event, Wait};
use iot_canary_core::evidence_rules::puback_ok;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let topic = ctx.canary.topic.clone().unwrap_or_default();
    let mut w = match ctx.open_witness().await {
        Ok(w) => w,
        Err(o) => return o,
    };
    let obs = async {
        witness_subscribe(ctx, &mut w, &topic).await?;
        let held = retained_now(ctx, &mut w, &topic).await?;
        let mut lease = ctx.open(ctx.actor.client_id.clone(), true).await?;
        let obs = match held {
            Held::Foreign => without_overwriting(ctx, &mut lease, &topic).await,
            Held::Nothing | Held::Own => retained(ctx, &mut lease, &mut w, &topic).await,
        };
        lease.release().await;
        Ok::<_, Observation>(obs)
    }
    .await
    .unwrap_or_else(|o| o);
    w.release().await;
    obs
}

/// What the topic holds retained, as a fresh witness subscription shows it.
enum Held {
    Nothing,
    /// A message this canary left (an earlier run's, not cleared): it may be overwritten.
    Own,
    Foreign,
}

/// Step 1 (and the check of step 3): the retained messages a fresh subscription of the
/// witness received, up to its marker plus the grace. `with_nonce` collects whether this run's
/// own message was among them.
async fn retained_seen(
    ctx: &mut ProbeCtx<'_>,
    w: &mut Lease,
    topic: &str,
) -> Result<Vec<Bytes>, Observation> {
    // Under AWS's activation delay a fresh subscription may miss the first markers: publish
    // one every `MARKER_RETRY` until the witness receives one (any of them).
    let from = ctx.seq + 1;
    let nonce = ctx.nonce.clone();
    let mut retained = Vec::new();
    let mut collect = |ev: &Event| -> bool {
        match ev {
            Event::Publish {
                payload,
                retain: true,
                ..
            } if !payload.is_empty() => {
                retained.push(payload.clone());
                false
            }
            Event::Publish { payload, .. } => marks::is(payload, &nonce, "retain-check", from),
            _ => false,
        }
    };
    let deadline = ctx.deadline;
    let seen_marker = loop {
        let mark = ctx.mark("retain-check");
        witness_publish(ctx, w, topic, mark.bytes(), false).await?;
        let until = (Instant::now() + MARKER_RETRY).min(deadline);
        match w
            .session()
            .wait_for(until, |_, ev| collect(ev).then_some(()))
            .await
        {
            Wait::TimedOut if Instant::now() < deadline => continue,
            other => break other,
        }
    };
    match seen_marker {
        Wait::Got(()) => {}
        Wait::TimedOut => {
            return Err(ctx.witness_failed(
                "the witness never saw its own marker on the topic, so what it holds retained is unknown".into(),
            ));
        }
        Wait::Closed { cause, .. } => {
            return Err(ctx.witness_failed(format!("witness connection closed: {cause}")));
        }
    }
    // AWS does not order a retained delivery and live messages: keep collecting for the grace.
    let until = ctx.grace_deadline();
    let _ = w
        .session()
        .wait_for(until, |_, ev| collect(ev).then_some(()))
        .await;
    Ok(retained)
}

async fn retained_now(
    ctx: &mut ProbeCtx<'_>,
    w: &mut Lease,
    topic: &str,
) -> Result<Held, Observation> {
    let seen = retained_seen(ctx, w, topic).await?;
    let name = ctx.canary.name.clone();
    Ok(if seen.is_empty() {
        ctx.note("the topic holds no retained message");
        Held::Nothing
    } else if seen.iter().all(|p| marks::is_own_retained(p, &name)) {
        ctx.note("the topic holds a retained message this canary left; it may be replaced");
        Held::Own
    } else {
        ctx.note(
            "the topic holds a retained message the canary did not set: it will not be overwritten",
        );
        Held::Foreign
    })
}

/// Step 2: a plain publish; a refusal of it is a refusal of the retained one.
async fn without_overwriting(
    ctx: &mut ProbeCtx<'_>,
    lease: &mut Lease,
    topic: &str,
) -> Observation {
    ctx.note("publishing without the retain flag (a retained publish needs iot:Publish too)");
    match ctx.publish_under_test(lease, topic, "publish", false).await {
        Err(o) => o,
        Ok(code) if puback_ok(code) => Observation::RetainedInUse,
        Ok(code) => Observation::Puback { code },
    }
}

/// Step 3: the retained publish, the witness's fresh look, and the cleanup.
async fn retained(
    ctx: &mut ProbeCtx<'_>,
    lease: &mut Lease,
    w: &mut Lease,
    topic: &str,
) -> Observation {
    let nonce = ctx.nonce.clone();
    let code = match ctx.publish_under_test(lease, topic, "retain", true).await {
        Err(o) => return o,
        Ok(code) => code,
    };
    if !puback_ok(code) {
        return Observation::Puback { code };
    }
    ctx.note("retained publish accepted; the witness subscribes afresh to see it retained");
    let fresh = async {
        ctx.unsubscribe(w, topic).await?;
        witness_subscribe(ctx, w, topic).await?;
        retained_seen(ctx, w, topic).await
    }
    .await;
    let seen = match fresh {
        Ok(seen) => seen,
        Err(o) => {
            ctx.note("the retained message was not checked, so it was not cleared");
            return o;
        }
    };
    let ours = seen
        .iter()
        .any(|p| marks::read(p).is_some_and(|(k, _, n, _)| k == "retain" && n == nonce));
    if !ours {
        ctx.note("the retained message was not seen, so it was not cleared (the next run clears it if it is there)");
        return Observation::RetainedNotSeen;
    }
    ctx.note("the witness received the canary's message retained; clearing it");
    let t0 = Instant::now();
    match witness_publish(ctx, w, topic, Bytes::new(), true).await {
        Ok(()) => ctx.note(format!(
            "cleared (empty retained publish acknowledged in {} ms)",
            t0.elapsed().as_millis()
        )),
        Err(_) => ctx.note("clearing failed; the next run clears it"),
    }
    Observation::RetainedSeen
}
