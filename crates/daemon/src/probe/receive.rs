//! `receive`: can the identity receive messages on the topic? `iot:Receive` is silent (a
//! refused delivery is simply not delivered), so a denial needs a proof of absence
//! (docs/evidence-rules.md, R2, R7):
//!
//! 1. the canary subscribes to its filter alone — a refusal there is the answer (S2, K1);
//! 2. granted: the liveness marker is a topic that filter matches, on a connection where no
//!    other filter that matches it was ever subscribed, so every marker that arrives came
//!    *through the filter under test* (AWS delays delivery after SUBACK per subscription and
//!    does not say filters of one packet become active together: a marker through another
//!    filter proves only that one live);
//! 3. the witness (QoS 1 subscription to the topic) publishes markers until the canary
//!    receives one: the filter under test is active (after 2 s without one it publishes the
//!    bait beside them: a marker topic the identity may not receive would otherwise hide a
//!    receive the policy allows);
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
use iot_canary_core::config::markers::matched_by;
use iot_canary_core::verdict::{DeliveryProof, Observation, Waiting};

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let topic = ctx.canary.topic.clone().unwrap_or_default();
    let filter = ctx
        .canary
        .topic_filter
        .clone()
        .unwrap_or_else(|| topic.clone());
    let marker = ctx.canary.marker.clone();
    let mut lease = match ctx.open(ctx.actor.client_id.clone(), true).await {
        Ok(l) => l,
        Err(o) => return o,
    };
    if let Some(m) = &marker
        && let Some(other) = other_route(&mut lease, &filter, &m.topic)
    {
        ctx.note(format!(
            "this pooled connection once subscribed to `{other}`, which also matches the marker topic: connecting afresh so a marker can only come through `{filter}`"
        ));
        lease.discard();
        lease.release().await;
        lease = match ctx.open(ctx.actor.client_id.clone(), true).await {
            Ok(l) => l,
            Err(o) => return o,
        };
    }
    let obs = match subscribe::filter_under_test(ctx, &mut lease, &filter).await {
        Err(o) => o,
        Ok(_) => {
            let obs = prove(ctx, &mut lease, &topic, &filter, marker).await;
            ctx.forget(&mut lease, &filter).await;
            obs
        }
    };
    lease.release().await;
    obs
}

/// A filter other than `filter` ever subscribed on this connection that also matches the
/// marker topic: a marker could arrive through it instead of the filter under test.
fn other_route(lease: &mut Lease, filter: &str, marker_topic: &str) -> Option<String> {
    lease
        .session()
        .ever_subscribed()
        .find(|f| *f != filter && matched_by(marker_topic, f))
        .map(str::to_string)
}

/// What has been proven so far.
#[derive(Default)]
struct Proof {
    through: bool,
    live: bool,
    routed: bool,
    caught_up: bool,
}

impl Proof {
    fn absent(&self, grace_ms: u64) -> Observation {
        Observation::NotDelivered {
            proof: DeliveryProof {
                bait_routed: self.routed,
                through_filter_under_test: self.through,
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
    marker: Option<Marker>,
) -> Observation {
    let mut proof = Proof::default();
    let usable = match &marker {
        None => {
            ctx.note(format!(
                "no liveness marker can come through `{filter}` (an exact filter matches only the bait's topic; else set `marker_topic` to a topic it matches): a missing bait will prove nothing"
            ));
            None
        }
        Some(m) if !matched_by(&m.topic, filter) => {
            ctx.note(format!(
                "the marker topic `{}` is not matched by `{filter}`: a marker through another filter proves nothing about this one",
                m.topic
            ));
            None
        }
        // The 3.1.1 SUBACK 0x80 single-out may have subscribed the marker topic beside it.
        Some(m) => match other_route(canary, filter, &m.topic) {
            Some(other) => {
                ctx.note(format!(
                    "`{other}` on this connection also matches the marker topic: a marker could come through it instead of `{filter}`"
                ));
                None
            }
            None => {
                ctx.note(format!(
                    "liveness marker: `{}` through the filter under test `{filter}` ({})",
                    m.topic, m.from
                ));
                Some(m.clone())
            }
        },
    };
    proof.through = usable.is_some();
    let mut w = match ctx.open_witness().await {
        Ok(w) => w,
        Err(o) => return o,
    };
    let obs = match witness_subscribe(ctx, &mut w, topic).await {
        Err(o) => o,
        Ok(()) => match &usable {
            Some(marker) => bait(ctx, canary, &mut w, topic, marker, proof).await,
            None => bait_unproven(ctx, canary, &mut w, topic, proof).await,
        },
    };
    w.release().await;
    obs
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
    match markers_until_seen(ctx, canary, w, marker, Some(topic)).await {
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
    // Step 4: the bait until the witness sees it (the canary seeing it is the answer). Only
    // this step's baits count as routed: an early bait of step 3 may still be on its way.
    let first_bait = ctx.seq + 1;
    loop {
        let payload = ctx.mark("bait").bytes();
        ctx.note("witness publishes the bait");
        if let Err(o) = witness_publish(ctx, w, topic, payload, false).await {
            return o;
        }
        let until = (Instant::now() + MARKER_RETRY).min(ctx.deadline);
        let nonce = ctx.nonce.clone();
        let witness_saw = w.session().wait_for(until, |_, ev| match ev {
            Event::Publish { payload, .. } if marks::is(payload, &nonce, "bait", first_bait) => {
                Some(())
            }
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
    match markers_until_seen(ctx, canary, w, marker, None).await {
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

/// Without a marker through the filter under test nothing can prove the bait absent, but a
/// delivered bait is still the answer (a breach, or a control's success): the witness
/// publishes it every [`BAIT_RETRY`] (the subscription may not be active yet) until the
/// canary receives one or the deadline passes.
async fn bait_unproven(
    ctx: &mut ProbeCtx<'_>,
    canary: &mut Lease,
    w: &mut Lease,
    topic: &str,
    proof: Proof,
) -> Observation {
    while Instant::now() < ctx.deadline {
        ctx.note("witness publishes the bait");
        let payload = ctx.mark("bait").bytes();
        if let Err(o) = witness_publish(ctx, w, topic, payload, false).await {
            return o;
        }
        let until = (Instant::now() + BAIT_RETRY).min(ctx.deadline);
        match canary_sees(ctx, canary, until, u32::MAX).await {
            Wait::Got(_) => return delivered(ctx),
            Wait::Closed { cause, .. } => return closed(ctx, cause),
            Wait::TimedOut => {}
        }
    }
    ctx.note("the canary did not receive the bait before the deadline (unproven)");
    proof.absent(0)
}

/// How often the bait is republished when no marker can show the subscription active.
const BAIT_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// How long the liveness wait goes without a marker before the bait is sent beside them:
/// longer than AWS's usual delay after SUBACK (docs/realism.md), so a quick broker costs no
/// extra message.
const EARLY_BAIT_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

enum Step {
    Delivered,
    Failed(Observation),
}

/// Publishes markers (from the witness, every [`MARKER_RETRY`]) until the canary receives one of
/// them: `Ok(false)` at the deadline. With `early_bait` (the liveness wait, step 3), once no
/// marker has arrived for [`EARLY_BAIT_AFTER`] the witness also publishes the bait there every
/// [`BAIT_RETRY`]: a marker the identity may not receive never arrives, and without the bait
/// a receive the policy allows (a breach, or a control) would stay unseen. A delivered bait is
/// the answer whenever it comes; a bait sent before liveness was shown never counts towards a
/// denial (step 4 sends its own).
async fn markers_until_seen(
    ctx: &mut ProbeCtx<'_>,
    canary: &mut Lease,
    w: &mut Lease,
    marker: &Marker,
    early_bait: Option<&str>,
) -> Result<bool, Step> {
    let from = ctx.seq + 1;
    let started = Instant::now();
    let mut last_bait: Option<Instant> = None;
    while Instant::now() < ctx.deadline {
        if let Some(topic) = early_bait
            && started.elapsed() >= EARLY_BAIT_AFTER
            && last_bait.is_none_or(|t| t.elapsed() >= BAIT_RETRY)
        {
            if last_bait.is_none() {
                ctx.note(format!(
                    "no marker yet after {} ms: the witness also publishes the bait (a delivery answers on its own; it proves no absence)",
                    EARLY_BAIT_AFTER.as_millis()
                ));
            }
            let payload = ctx.mark("bait").bytes();
            witness_publish(ctx, w, topic, payload, false)
                .await
                .map_err(Step::Failed)?;
            last_bait = Some(Instant::now());
        }
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
