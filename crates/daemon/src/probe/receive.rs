//! `receive`: can the identity receive messages on the topic? `iot:Receive` is silent (a
//! refused delivery is simply not delivered), so a denial needs a proof of absence
//! (docs/evidence-rules.md, R2):
//!
//! 1. the canary subscribes to its filter alone — a refusal there is the answer (S2, K1);
//! 2. granted: it unsubscribes and subscribes again to the filter *and* its liveness marker
//!    filter in one packet, filter under test first, so the marker's subscription is as new
//!    as the one under test;
//! 3. the witness (QoS 1 subscription to the topic) publishes markers until the canary
//!    receives one: the subscription is active;
//! 4. the witness publishes the QoS 1 bait until it sees it itself: the bait was routed;
//! 5. the witness publishes a marker after the bait's PUBACK until the canary receives it:
//!    the canary's delivery has caught up past the bait;
//! 6. the canary waits `delivery_grace` more (AWS does not order messages).
//!
//! The canary receiving the bait at any point is the breach (or the control's success).
//! Every step is one round trip when the broker is quick, so this costs no blanket sleep.

use std::time::Instant;

use super::{MARKER_RETRY, ProbeCtx, marks, subscribe, witness_publish, witness_subscribe};
use crate::mqtt::pool::Lease;
use crate::mqtt::{Event, Wait};
use iot_canary_core::config::Marker;
use iot_canary_core::evidence_rules::is_granted;
use iot_canary_core::verdict::{DeliveryProof, Observation, Waiting};

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
    let obs = match subscribe::filter_under_test(ctx, &mut lease, &filter).await {
        Err(o) => o,
        Ok(_) => {
            let obs = prove(ctx, &mut lease, &topic, &filter).await;
            ctx.forget(&mut lease, &filter).await;
            if let Some(m) = &ctx.canary.marker
                && m.filter != filter
            {
                let m = m.filter.clone();
                ctx.forget(&mut lease, &m).await;
            }
            obs
        }
    };
    lease.release().await;
    obs
}

/// What has been proven so far.
#[derive(Default)]
struct Proof {
    live: bool,
    routed: bool,
    caught_up: bool,
}

impl Proof {
    fn absent(&self, grace_ms: u64) -> Observation {
        Observation::NotDelivered {
            proof: DeliveryProof {
                bait_routed: self.routed,
                live_before_bait: self.live,
                caught_up_after_bait: self.caught_up,
                qos: 1,
                grace_ms,
            },
        }
    }
}

/// Steps 2–6 on a granted subscription.
async fn prove(
    ctx: &mut ProbeCtx<'_>,
    canary: &mut Lease,
    topic: &str,
    filter: &str,
) -> Observation {
    let proof = Proof::default();
    let Some(marker) = ctx.canary.marker.clone() else {
        ctx.note("no liveness marker configured (set `marker_topic`)");
        return proof.absent(0);
    };
    if let Err(o) = resubscribe_with_marker(ctx, canary, filter, &marker).await {
        return match o {
            Resub::Decisive(o) => o,
            Resub::NoMarker => proof.absent(0),
        };
    }
    let mut w = match ctx.open_witness().await {
        Ok(w) => w,
        Err(o) => return o,
    };
    let obs = match witness_subscribe(ctx, &mut w, topic).await {
        Err(o) => o,
        Ok(()) => bait(ctx, canary, &mut w, topic, &marker, proof).await,
    };
    w.release().await;
    obs
}

enum Resub {
    /// An answer for the filter under test (or what kept it from coming).
    Decisive(Observation),
    /// The marker filter was refused: nothing can prove an absence.
    NoMarker,
}

/// Step 2: the filter under test and the marker filter, new, in one SUBSCRIBE.
async fn resubscribe_with_marker(
    ctx: &mut ProbeCtx<'_>,
    canary: &mut Lease,
    filter: &str,
    marker: &Marker,
) -> Result<(), Resub> {
    ctx.unsubscribe(canary, filter)
        .await
        .map_err(Resub::Decisive)?;
    let both = marker.filter != filter;
    let filters: Vec<&str> = if both {
        vec![filter, &marker.filter]
    } else {
        vec![filter]
    };
    ctx.note(format!(
        "liveness marker: `{}` through `{}` ({})",
        marker.topic, marker.filter, marker.from
    ));
    let codes = ctx
        .subscribe(canary, &filters, Waiting::Auxiliary)
        .await
        .map_err(Resub::Decisive)?;
    if !is_granted(codes[0]) {
        return Err(Resub::Decisive(Observation::Suback { code: codes[0] }));
    }
    if both && !is_granted(codes[1]) {
        ctx.note(format!(
            "marker subscription refused (SUBACK 0x{:02X}): nothing can prove the bait absent",
            codes[1]
        ));
        return Err(Resub::NoMarker);
    }
    Ok(())
}

/// What the canary's connection delivered of this run.
enum Seen {
    Bait,
    Marker,
}

/// The next bait or marker (from sequence `from`) of this run on the canary's connection.
async fn canary_sees(
    ctx: &ProbeCtx<'_>,
    canary: &mut Lease,
    until: Instant,
    from: u32,
) -> Wait<Seen> {
    let nonce = ctx.nonce.clone();
    canary
        .session()
        .wait_for(until, |_, ev| match ev {
            Event::Publish { payload, .. } => match marks::read(payload) {
                Some((k, _, n, _)) if n == nonce && k == "bait" => Some(Seen::Bait),
                Some((k, _, n, s)) if n == nonce && k == "marker" && s >= from => {
                    Some(Seen::Marker)
                }
                _ => None,
            },
            _ => None,
        })
        .await
}

/// Steps 3–6.
async fn bait(
    ctx: &mut ProbeCtx<'_>,
    canary: &mut Lease,
    w: &mut Lease,
    topic: &str,
    marker: &Marker,
    mut proof: Proof,
) -> Observation {
    // Step 3: markers until the canary receives one.
    match markers_until_seen(ctx, canary, w, marker).await {
        Ok(true) => {
            ctx.note("the canary received the liveness marker: its subscription is active");
            proof.live = true;
        }
        Ok(false) => {
            ctx.note("no liveness marker reached the canary before the deadline");
            return proof.absent(0);
        }
        Err(Step::Delivered) => return delivered(ctx),
        Err(Step::Failed(o)) => return o,
    }
    // Step 4: the bait until the witness sees it (the canary seeing it is the answer).
    loop {
        let payload = ctx.mark("bait").bytes();
        ctx.note("witness publishes the bait");
        if let Err(o) = witness_publish(ctx, w, topic, payload, false).await {
            return o;
        }
        let until = (Instant::now() + MARKER_RETRY).min(ctx.deadline);
        let nonce = ctx.nonce.clone();
        let witness_saw = w.session().wait_for(until, |_, ev| match ev {
            Event::Publish { payload, .. } if marks::is(payload, &nonce, "bait", 0) => Some(()),
            _ => None,
        });
        let from = u32::MAX;
        let canary_saw = canary_sees(ctx, canary, until, from);
        tokio::select! {
            biased;
            c = canary_saw => match c {
                Wait::Got(_) => return delivered(ctx),
                Wait::Closed { cause, .. } => return closed(ctx, cause),
                Wait::TimedOut => {}
            },
            s = witness_saw => match s {
                Wait::Got(()) => {
                    ctx.note("the witness saw the bait: it was routed");
                    proof.routed = true;
                    break;
                }
                Wait::Closed { cause, .. } => {
                    return ctx.witness_failed(format!("witness connection closed: {cause}"));
                }
                Wait::TimedOut => {}
            },
        }
        if Instant::now() >= ctx.deadline {
            ctx.note("the witness never saw its own bait");
            return proof.absent(0);
        }
    }
    // Step 5: a marker published after the bait's PUBACK, until the canary receives it.
    match markers_until_seen(ctx, canary, w, marker).await {
        Ok(true) => {
            ctx.note("the canary received a marker published after the bait: it has caught up");
            proof.caught_up = true;
        }
        Ok(false) => {
            ctx.note("no marker published after the bait reached the canary before the deadline");
            return proof.absent(0);
        }
        Err(Step::Delivered) => return delivered(ctx),
        Err(Step::Failed(o)) => return o,
    }
    // Step 6: the grace.
    let t0 = Instant::now();
    let until = ctx.grace_deadline();
    match canary_sees(ctx, canary, until, u32::MAX).await {
        Wait::Got(_) => delivered(ctx),
        Wait::Closed { cause, .. } => closed(ctx, cause),
        Wait::TimedOut => {
            let grace_ms = t0.elapsed().as_millis() as u64;
            ctx.note(format!(
                "the canary did not receive the bait in {grace_ms} ms more"
            ));
            proof.absent(grace_ms)
        }
    }
}

enum Step {
    Delivered,
    Failed(Observation),
}

/// Publishes markers (from the witness, every [`MARKER_RETRY`]) until the canary receives one of
/// them: `Ok(false)` at the deadline.
async fn markers_until_seen(
    ctx: &mut ProbeCtx<'_>,
    canary: &mut Lease,
    w: &mut Lease,
    marker: &Marker,
) -> Result<bool, Step> {
    let from = ctx.seq + 1;
    while Instant::now() < ctx.deadline {
        let payload = ctx.mark("marker").bytes();
        witness_publish(ctx, w, &marker.topic, payload, false)
            .await
            .map_err(Step::Failed)?;
        let until = (Instant::now() + MARKER_RETRY).min(ctx.deadline);
        match canary_sees(ctx, canary, until, from).await {
            Wait::Got(Seen::Marker) => return Ok(true),
            Wait::Got(Seen::Bait) => return Err(Step::Delivered),
            Wait::Closed { cause, .. } => return Err(Step::Failed(closed(ctx, cause))),
            Wait::TimedOut => {}
        }
    }
    Ok(false)
}

fn delivered(ctx: &mut ProbeCtx<'_>) -> Observation {
    ctx.note("the canary received the bait");
    Observation::Delivered
}

/// The canary's connection ended during a delivery wait: not the answer to its request.
fn closed(ctx: &mut ProbeCtx<'_>, cause: crate::mqtt::CloseCause) -> Observation {
    ctx.note(format!("the canary's connection closed: {cause}"));
    super::close_observation(cause, Waiting::Delivery, 0)
}
