//! `shadow-get` / `shadow-update` / `shadow-delete` over the reserved MQTT topics. The request
//! PUBLISH's PUBACK (5, matched by packet id) or socket close (3.1.1) is the evidence; on
//! MQTT 5 the shadow service's answer carrying the probe's `clientToken` is parsed: accepted or
//! rejected 404 passed authorization, 401/403 is the shadow service's denial, 429/500 prove
//! nothing (docs/evidence-rules.md, H1–H4). Updates only delete a canary-owned key (`null`),
//! and deletes default to the named shadow `iot-canary`, so a hole harms no device.

use bytes::Bytes;

use super::{ProbeCtx, marks};
use crate::mqtt::{Event, Wait};
use iot_canary_core::evidence_rules::{is_granted, is_throttle, puback_ok};
use iot_canary_core::verdict::{MqttVersion, Observation, ProbeAction, Waiting};

pub const DELETE_DEFAULT_SHADOW: &str = "iot-canary";

pub fn shadow_topic(thing: &str, shadow: Option<&str>, op: &str) -> String {
    match shadow {
        Some(name) => format!("$aws/things/{thing}/shadow/name/{name}/{op}"),
        None => format!("$aws/things/{thing}/shadow/{op}"),
    }
}

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let (op, default_shadow) = match ctx.canary.action {
        ProbeAction::ShadowGet => ("get", None),
        ProbeAction::ShadowUpdate => ("update", None),
        _ => ("delete", Some(DELETE_DEFAULT_SHADOW)),
    };
    let thing = ctx.canary.thing.clone().unwrap_or_default();
    let shadow = ctx
        .canary
        .shadow
        .clone()
        .or(default_shadow.map(String::from));
    let request = shadow_topic(&thing, shadow.as_deref(), op);
    let responses = format!("{request}/+");
    let mut lease = match ctx.open(ctx.actor.client_id.clone(), true).await {
        Ok(l) => l,
        Err(o) => return o,
    };
    // 3.1.1 would close the socket on a refused response subscription, which would hide the
    // request's own answer; only MQTT 5 listens for the shadow service's reply. That
    // subscription is auxiliary: its refusal (or a DISCONNECT while waiting for it) is not
    // the answer to the request.
    let mut listening = false;
    if ctx.version() == MqttVersion::V5 {
        match ctx
            .subscribe(&mut lease, &[&responses], Waiting::Auxiliary)
            .await
        {
            Ok(codes) if is_granted(codes[0]) => listening = true,
            Ok(codes) => ctx.note(format!(
                "response subscription refused (SUBACK 0x{:02X}); judging by the PUBACK",
                codes[0]
            )),
            Err(o) => {
                lease.release().await;
                return o;
            }
        }
    }
    let obs = request_once(ctx, &mut lease, &request, op, listening).await;
    let obs = match obs {
        // The shadow service's own throttling: one more try after the backoff.
        Observation::ShadowAnswer {
            accepted: false,
            code: Some(429),
        } if ctx.backoff().await => request_once(ctx, &mut lease, &request, op, listening).await,
        Observation::Puback { code } if is_throttle(code) && ctx.backoff().await => {
            request_once(ctx, &mut lease, &request, op, listening).await
        }
        other => other,
    };
    if listening {
        ctx.forget(&mut lease, &responses).await;
    }
    lease.release().await;
    obs
}

async fn request_once(
    ctx: &mut ProbeCtx<'_>,
    lease: &mut crate::mqtt::pool::Lease,
    request: &str,
    op: &str,
    listening: bool,
) -> Observation {
    ctx.seq += 1;
    let token = format!("{}-{}", ctx.nonce, ctx.seq);
    let body = match op {
        "update" => format!(
            r#"{{"state":{{"reported":{{"iot_canary_probe":null}}}},"clientToken":"{token}"}}"#
        ),
        _ => format!(r#"{{"clientToken":"{token}"}}"#),
    };
    let code = match ctx
        .publish(lease, request, Bytes::from(body), false, Waiting::Puback)
        .await
    {
        Err(o) => return o,
        Ok(code) => code,
    };
    if !(puback_ok(code) && listening) {
        return Observation::Puback { code };
    }
    let until = ctx.grace_deadline();
    let accepted = format!("{request}/accepted");
    let rejected = format!("{request}/rejected");
    let answer = lease
        .session()
        .wait_for(until, |_, ev| match ev {
            Event::Publish { topic, payload, .. }
                if marks::client_token(payload).as_deref() == Some(token.as_str()) =>
            {
                if *topic == accepted {
                    Some((true, None))
                } else if *topic == rejected {
                    Some((false, marks::rejected_code(payload)))
                } else {
                    None
                }
            }
            _ => None,
        })
        .await;
    match answer {
        Wait::Got((accepted, code)) => {
            let obs = Observation::ShadowAnswer { accepted, code };
            ctx.note(format!(
                "the shadow service answered: {}",
                iot_canary_core::evidence::describe(&obs)
            ));
            obs
        }
        // The PUBACK already accepted the request.
        Wait::TimedOut | Wait::Closed { .. } => {
            ctx.note("no answer from the shadow service within the grace; judging by the PUBACK");
            Observation::Puback { code }
        }
    }
}
