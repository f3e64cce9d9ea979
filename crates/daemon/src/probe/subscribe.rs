//! `subscribe`: SUBSCRIBE one topic filter; its SUBACK code (matched by packet id) or a 3.1.1
//! close is the evidence. Quota codes are retried once after a backoff; an MQTT 3.1.1 SUBACK
//! 0x80 (also AWS's answer to throttling) is singled out beside the identity's marker filter
//! (docs/evidence-rules.md, S7).

use std::time::Instant;

use super::ProbeCtx;
use crate::mqtt::pool::Lease;
use iot_canary_core::evidence_rules::{MIN_BACKOFF_MS, is_granted, is_throttle};
use iot_canary_core::verdict::{MqttVersion, Observation, Waiting};

const V311_FAILURE: u8 = 0x80;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let filter = ctx.canary.topic_filter.clone().unwrap_or_default();
    let mut lease = match ctx.open(ctx.actor.client_id.clone(), true).await {
        Ok(l) => l,
        Err(o) => return o,
    };
    let obs = match filter_under_test(ctx, &mut lease, &filter).await {
        Ok(code) => {
            ctx.forget(&mut lease, &filter).await;
            Observation::Suback { code }
        }
        Err(o) => o,
    };
    lease.release().await;
    obs
}

/// SUBSCRIBEs the filter under test alone: `Ok(code)` when granted, else the decisive
/// observation of its refusal (or of what prevented an answer).
pub(super) async fn filter_under_test(
    ctx: &mut ProbeCtx<'_>,
    lease: &mut Lease,
    filter: &str,
) -> Result<u8, Observation> {
    let code = single(ctx, lease, filter).await?;
    if is_granted(code) {
        return Ok(code);
    }
    match ctx.version() {
        MqttVersion::V5 if is_throttle(code) && ctx.backoff().await => {
            match single(ctx, lease, filter).await? {
                c if is_granted(c) => Ok(c),
                c => Err(Observation::Suback { code: c }),
            }
        }
        MqttVersion::V311 if code == V311_FAILURE => single_out(ctx, lease, filter).await,
        _ => Err(Observation::Suback { code }),
    }
}

async fn single(
    ctx: &mut ProbeCtx<'_>,
    lease: &mut Lease,
    filter: &str,
) -> Result<u8, Observation> {
    let codes = ctx.subscribe(lease, &[filter], Waiting::Suback).await?;
    // `subscribe` checked there is one code per filter.
    Ok(codes[0])
}

/// MQTT 3.1.1 SUBACK 0x80 is AWS's answer to throttling and over-quota subscriptions too: it
/// counts as a refusal only when two SUBSCRIBEs at least [`MIN_BACKOFF_MS`] apart each refuse
/// the filter under test while granting the identity's marker filter placed after it (new on
/// the connection each time, so it counts against the same quotas).
async fn single_out(
    ctx: &mut ProbeCtx<'_>,
    lease: &mut Lease,
    filter: &str,
) -> Result<u8, Observation> {
    let alone = Observation::Suback { code: V311_FAILURE };
    let Some(marker) = ctx.canary.marker.clone() else {
        ctx.note("SUBACK 0x80 may be throttling; no marker filter to single it out with");
        return Err(alone);
    };
    // A receive canary's marker comes through the filter under test itself; its topic, as an
    // exact filter, is then the one to ask beside (a receive probe that goes on to prove an
    // absence after this sees that filter on its connection and proves nothing: R7).
    let beside = if marker.filter == filter {
        marker.topic.clone()
    } else {
        marker.filter.clone()
    };
    if beside == filter {
        return Err(alone);
    }
    ctx.note(format!(
        "SUBACK 0x80 may be throttling: asking again beside `{beside}` ({})",
        marker.from
    ));
    let mut attempts = 0u8;
    let mut last: Option<Instant> = None;
    let mut gap_ms = u64::MAX;
    while attempts < 2 {
        if !ctx.backoff().await {
            break;
        }
        let codes = ctx
            .subscribe(lease, &[filter, &beside], Waiting::Suback)
            .await?;
        let now = Instant::now();
        match (codes[0], codes[1]) {
            (c, _) if is_granted(c) => return Ok(c),
            (V311_FAILURE, m) if is_granted(m) => {
                attempts += 1;
                if let Some(prev) = last {
                    gap_ms = gap_ms.min(now.duration_since(prev).as_millis() as u64);
                }
                last = Some(now);
                ctx.unsubscribe(lease, &beside).await?;
            }
            (c, _) => return Err(Observation::Suback { code: c }),
        }
    }
    if attempts < 2 {
        return Err(alone);
    }
    let gap_ms = if gap_ms == u64::MAX { 0 } else { gap_ms };
    if gap_ms < MIN_BACKOFF_MS {
        ctx.note(format!("the refusals were only {gap_ms} ms apart"));
    }
    Err(Observation::SubackSingledOut {
        code: V311_FAILURE,
        attempts,
        gap_ms,
    })
}
