//! `attach-thing-principal`: iot `AttachThingPrincipal` of the identity's own principal to a
//! probe-named thing (it holds `${nonce}`; `check` refuses any other), which cannot exist:
//! authorized, AWS answers 404 `ResourceNotFoundException` (W4). A hole here lets the
//! identity bind itself to devices whose names the pattern covers (`iot:Connection.Thing.*`
//! policies then treat it as that device). Anything attached is detached at once, by the
//! canary or else its optional `witness`.

use super::ProbeCtx;
use iot_canary_core::config::probe_names;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let clients = ctx.api_clients().await?;
    let principal = ctx.own_principal(&clients).await?;
    let template = ctx
        .canary
        .thing
        .clone()
        .unwrap_or_else(|| probe_names::DEFAULT_THING.to_string());
    let thing = probe_names::expand(&template, &ctx.token());
    let account = ctx.account(&clients).await;
    let thing_arn = ctx.iot_arn(account.as_deref(), "thing", &thing);
    let resource = format!("{principal} (to {thing_arn})");
    let send = clients
        .iot
        .attach_thing_principal()
        .thing_name(&thing)
        .principal(&principal)
        .send();
    let (obs, attached) = ctx.call("iot AttachThingPrincipal", &resource, send).await;
    if attached.is_some() {
        // A thing of a nonce name existed: undo what the probe did.
        let undo = clients
            .iot
            .detach_thing_principal()
            .thing_name(&thing)
            .principal(&principal)
            .send();
        let (undone, ok) = ctx
            .call("iot DetachThingPrincipal (undo)", &resource, undo)
            .await;
        let witness_undid = ok.is_none()
            && ctx.witness.is_some()
            && match ctx.witness_clients().await {
                Ok(w) => {
                    let undo = w
                        .iot
                        .detach_thing_principal()
                        .thing_name(&thing)
                        .principal(&principal)
                        .send();
                    ctx.call(
                        "the witness: iot DetachThingPrincipal (undo)",
                        &resource,
                        undo,
                    )
                    .await
                    .1
                    .is_some()
                }
                Err(_) => false,
            };
        if ok.is_none() && !witness_undid {
            tracing::error!(
                canary = %ctx.canary.name,
                thing = %thing,
                "attach-thing-principal: the principal stayed attached; detach it by hand"
            );
            ctx.note(format!(
                "DetachThingPrincipal failed ({}); detach it by hand",
                iot_canary_core::evidence::describe(&undone)
            ));
        }
    }
    Ok(obs)
}
