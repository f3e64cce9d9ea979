//! `attach-policy`: iot `AttachPolicy` of a policy to the identity's **own** principal (its
//! Cognito identity id, else its caller ARN). By default the policy is probe-named
//! (`iot-canary-probe-${nonce}`) and cannot exist: authorized, AWS answers 404
//! `ResourceNotFoundException` (W4) and nothing changes. A hole here is the classic Cognito
//! self-escalation (an app role with `iot:AttachPolicy` on `*` lets the user attach *any*
//! policy to herself). With a real `policy_name` the probe is mutating if allowed: the policy
//! is detached again at once — by the canary, else by its `witness` (which `check` requires
//! for a real policy) — docs/doors.md.

use super::ProbeCtx;
use iot_canary_core::config::probe_names;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let clients = ctx.api_clients().await?;
    let target = ctx.own_principal(&clients).await?;
    let template = ctx
        .canary
        .policy_name
        .clone()
        .unwrap_or_else(|| probe_names::DEFAULT_POLICY.to_string());
    let policy = probe_names::expand(&template, &ctx.token());
    let account = ctx.account(&clients).await;
    let policy_arn = ctx.iot_arn(account.as_deref(), "policy", &policy);
    // AWS evaluates iot:AttachPolicy on the target as sent (an identity id has no ARN form).
    let resource = format!("{target} (attaching {policy_arn})");
    let send = clients
        .iot
        .attach_policy()
        .policy_name(&policy)
        .target(&target)
        .send();
    let (obs, attached) = ctx.call("iot AttachPolicy", &resource, send).await;
    if attached.is_some() {
        ctx.note(format!(
            "policy `{policy}` attached to the identity's own principal: detaching it at once"
        ));
        let undo = clients
            .iot
            .detach_policy()
            .policy_name(&policy)
            .target(&target)
            .send();
        let (undone, ok) = ctx.call("iot DetachPolicy (undo)", &resource, undo).await;
        if ok.is_none() && !witness_detaches(ctx, &policy, &target, &resource).await {
            tracing::error!(
                canary = %ctx.canary.name,
                policy = %policy,
                target = %target,
                "attach-policy: the policy stayed attached (DetachPolicy failed); detach it by hand"
            );
            ctx.note(format!(
                "DetachPolicy failed ({}): `{policy}` is still attached to `{target}`; detach it by hand",
                iot_canary_core::evidence::describe(&undone)
            ));
        }
    }
    Ok(obs)
}

/// The witness takes the policy off when the canary's own DetachPolicy failed (an
/// attach-at-sign-in role grants AttachPolicy, rarely DetachPolicy); `false` if there is no
/// witness or it could not either.
async fn witness_detaches(
    ctx: &mut ProbeCtx<'_>,
    policy: &str,
    target: &str,
    resource: &str,
) -> bool {
    if ctx.witness.is_none() {
        return false;
    }
    let Ok(w) = ctx.witness_clients().await else {
        return false;
    };
    let undo = w
        .iot
        .detach_policy()
        .policy_name(policy)
        .target(target)
        .send();
    ctx.call("the witness: iot DetachPolicy (undo)", resource, undo)
        .await
        .1
        .is_some()
}
