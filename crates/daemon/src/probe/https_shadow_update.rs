//! `https-shadow-update`: iot-data `UpdateThingShadow` that only removes a canary-owned key
//! (`{"state":{"desired":{"iot_canary_<nonce>":null}}}`): it adds nothing to the document and
//! sends the device no delta. An update of a shadow that does not exist would create one, so
//! the probe reads first and never sends it then: the canary's own `GetThingShadow`, or — when
//! the canary may not read — the witness's. No shadow: `no_shadow` (W11); nobody could read:
//! `witness_failed`.

use aws_smithy_types::Blob;

use super::ProbeCtx;
use super::api::Clients;
use super::https_shadow_get::target;
use iot_canary_core::evidence_rules::classify_api;
use iot_canary_core::verdict::{Classified, Observation, ProbeAction, Verdict};

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let t = target(ctx).await?;
    let (clients, thing, resource) = (t.clients, t.thing, t.resource);
    let shadow = t.shadow;
    if !exists(ctx, &clients, &thing, shadow.as_deref(), &resource).await? {
        ctx.note("no such shadow: the probe never creates one, so the update was not sent");
        return Ok(Observation::ShadowAbsent);
    }
    let body = serde_json::json!({
        "state": {"desired": {format!("iot_canary_{}", ctx.token()): null}},
        "clientToken": ctx.nonce,
    });
    let send = clients
        .data
        .update_thing_shadow()
        .thing_name(&thing)
        .set_shadow_name(shadow)
        .payload(Blob::new(body.to_string()))
        .send();
    Ok(ctx
        .call(
            "iot-data UpdateThingShadow removing the canary-owned key",
            &resource,
            send,
        )
        .await
        .0)
}

/// Whether the shadow exists: the canary's own read if it is allowed, else the witness's.
async fn exists(
    ctx: &mut ProbeCtx<'_>,
    clients: &Clients,
    thing: &str,
    shadow: Option<&str>,
    resource: &str,
) -> Result<bool, Observation> {
    let send = clients
        .data
        .get_thing_shadow()
        .thing_name(thing)
        .set_shadow_name(shadow.map(String::from))
        .send();
    let (own, _) = ctx
        .call("read first: iot-data GetThingShadow", resource, send)
        .await;
    if let Some(found) = read_says(&own) {
        return Ok(found);
    }
    if !matches!(own, Observation::ApiAnswer(_)) {
        // A transport failure or timeout: the update would meet the same.
        return Err(own);
    }
    if ctx.witness.is_none() {
        ctx.note("the canary may not read the shadow and has no witness to check it exists");
        return Err(Observation::WitnessFailed {
            detail: "the canary may not read the shadow and no witness can check it exists (the probe never creates a shadow); add a `witness`".into(),
        });
    }
    let w = ctx.witness_clients().await?;
    let send = w
        .data
        .get_thing_shadow()
        .thing_name(thing)
        .set_shadow_name(shadow.map(String::from))
        .send();
    let (seen, _) = ctx
        .call("the witness reads: iot-data GetThingShadow", resource, send)
        .await;
    read_says(&seen).ok_or_else(|| Observation::WitnessFailed {
        detail: format!(
            "the witness could not read the shadow: {}",
            iot_canary_core::evidence::describe(&seen)
        ),
    })
}

/// What a read's answer says about existence: 200 exists, 404 `ResourceNotFoundException`
/// does not; anything else cannot tell.
fn read_says(obs: &Observation) -> Option<bool> {
    let Observation::ApiAnswer(a) = obs else {
        return None;
    };
    match classify_api(ProbeAction::HttpsShadowGet, a) {
        Classified::Final(Verdict::Allowed) => Some((200..=299).contains(&a.status)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iot_canary_core::verdict::ApiAnswer;

    #[test]
    fn only_a_read_answer_tells_existence() {
        let a = |s, t: Option<&str>| Observation::ApiAnswer(ApiAnswer::new(s, t, None, "arn"));
        assert_eq!(read_says(&a(200, None)), Some(true));
        assert_eq!(
            read_says(&a(404, Some("ResourceNotFoundException"))),
            Some(false)
        );
        assert_eq!(read_says(&a(403, Some("ForbiddenException"))), None);
        assert_eq!(read_says(&a(404, None)), None);
        assert_eq!(read_says(&a(500, Some("InternalFailure"))), None);
        assert_eq!(read_says(&Observation::NetworkFailed), None);
    }
}
