//! `https-shadow-get`: iot-data `GetThingShadow` of the canary's thing (and named shadow) —
//! read-only, on the real foreign resource. 200 and 404 `ResourceNotFoundException` (no such
//! shadow) both passed authorization (W1, W4).

use super::ProbeCtx;
use super::api::Clients;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let t = target(ctx).await?;
    let send = t
        .clients
        .data
        .get_thing_shadow()
        .thing_name(&t.thing)
        .set_shadow_name(t.shadow)
        .send();
    Ok(ctx
        .call("iot-data GetThingShadow", &t.resource, send)
        .await
        .0)
}

/// The canary's shadow as the HTTPS shadow calls name it.
pub(super) struct ShadowTarget {
    pub clients: Clients,
    pub thing: String,
    /// A named shadow; `None` is the classic one.
    pub shadow: Option<String>,
    /// The ARN the call is authorized on.
    pub resource: String,
}

/// The canary identity's clients and the canary's (real, foreign) shadow.
pub(super) async fn target(ctx: &mut ProbeCtx<'_>) -> Result<ShadowTarget, Observation> {
    let clients = ctx.api_clients().await?;
    let thing = ctx.canary.thing.clone().unwrap_or_default();
    let shadow = ctx.canary.shadow.clone();
    let account = ctx.account(&clients).await;
    let resource = shadow_arn(ctx, account.as_deref(), &thing, shadow.as_deref());
    Ok(ShadowTarget {
        clients,
        thing,
        shadow,
        resource,
    })
}

/// The resource a shadow call is authorized on: `thing/T`, a named shadow `thing/T/S`.
pub(super) fn shadow_arn(
    ctx: &ProbeCtx<'_>,
    account: Option<&str>,
    thing: &str,
    shadow: Option<&str>,
) -> String {
    match shadow {
        Some(s) => ctx.iot_arn(account, "thing", &format!("{thing}/{s}")),
        None => ctx.iot_arn(account, "thing", thing),
    }
}
