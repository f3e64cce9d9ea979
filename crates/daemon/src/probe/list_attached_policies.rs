//! `list-attached-policies`: iot `ListAttachedPolicies` of the identity's own principal
//! (read-only, one entry). Its IAM resource is `*`; a hole here shows which policies any
//! principal (certificate, identity) carries.

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Observation {
    let clients = match ctx.api_clients().await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let target = match ctx.own_principal(&clients).await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let resource = format!("* (listing {target})");
    let send = clients
        .iot
        .list_attached_policies()
        .target(&target)
        .page_size(1)
        .send();
    ctx.call("iot ListAttachedPolicies", &resource, send)
        .await
        .0
}
