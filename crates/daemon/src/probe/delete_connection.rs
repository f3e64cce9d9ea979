//! `delete-connection`: iot-data `DeleteConnection` of a probe-named client id (it holds
//! `${nonce}`, so nothing is connected as it: `check` refuses any other). Authorized, it
//! answers 404 `ResourceNotFoundException` — no connection to drop (W4); a hole here lets the
//! identity disconnect any device whose client id the policy pattern covers.

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let clients = ctx.api_clients().await?;
    // The daemon expanded `${nonce}` and the other placeholders into the actor's client id.
    let client_id = ctx.actor.client_id.clone();
    let account = ctx.account(&clients).await;
    let resource = ctx.iot_arn(account.as_deref(), "client", &client_id);
    let send = clients
        .data
        .delete_connection()
        .client_id(&client_id)
        // Even if something were connected: keep its session and suppress its will.
        .clean_session(false)
        .prevent_will_message(true)
        .send();
    let (obs, done) = ctx.call("iot-data DeleteConnection", &resource, send).await;
    if done.is_some() {
        // Only possible if something connected as a nonce-named id meanwhile.
        ctx.note(format!(
            "a connection as `{client_id}` existed and was dropped (nothing of the canary's own)"
        ));
    }
    Ok(obs)
}
