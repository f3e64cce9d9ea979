//! `shadow-get` / `shadow-update` / `shadow-delete` over the reserved MQTT topics. The request
//! PUBLISH's PUBACK (5) or socket close (3.1.1) is the evidence; a shadow service answer on
//! `.../accepted|rejected` is direct proof of access. Updates only delete a canary-owned key
//! (`null`), and deletes default to the named shadow `iot-canary`, so a hole harms no device.

use bytes::Bytes;

use super::{ProbeCtx, puback_ok};
use iot_canary_core::verdict::{MqttVersion, Observation, ProbeAction};

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
    // request's own answer; only MQTT 5 listens for the shadow service's reply.
    let mut listening = false;
    if ctx.canary.mqtt_version == MqttVersion::V5 {
        match ctx.subscribe(&mut lease, &responses).await {
            Ok(c) if c <= 2 => listening = true,
            Ok(_) => ctx.note("response subscription refused; judging by PUBACK"),
            Err(o) => {
                lease.release().await;
                return o;
            }
        }
    }
    let token = ctx.nonce.clone();
    let body = match op {
        "update" => format!(
            r#"{{"state":{{"reported":{{"iot_canary_probe":null}}}},"clientToken":"{token}"}}"#
        ),
        _ => format!(r#"{{"clientToken":"{token}"}}"#),
    };
    let obs = match ctx
        .publish(&mut lease, &request, Bytes::from(body), 1, false)
        .await
    {
        Err(o) => o,
        Ok(code) => {
            let code = code.unwrap_or(0);
            if puback_ok(code) && listening {
                let until = ctx.grace_deadline();
                match ctx.wait_nonce(&mut lease, until).await {
                    Ok(true) => {
                        ctx.note("the shadow service answered the request");
                        Observation::Delivered
                    }
                    _ => Observation::Puback { code },
                }
            } else {
                Observation::Puback { code }
            }
        }
    };
    if listening {
        lease.session().unsubscribe(&responses).await;
    }
    lease.release().await;
    obs
}
