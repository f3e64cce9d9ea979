//! `list-attached-policies`: iot `ListAttachedPolicies` (read-only, one entry) of the
//! identity's own principal — its Cognito identity id. An identity without one (IAM users,
//! role sessions) has no IoT principal of its own, and an IAM ARN is no valid target (AWS
//! would answer a validation error), so it asks about a probe-named certificate ARN that
//! cannot exist: authorized, 404 `ResourceNotFoundException` (W4). Its IAM resource is `*`;
//! a hole here shows which policies any principal (certificate, identity) carries.

use super::ProbeCtx;
use iot_canary_core::verdict::Observation;

pub(super) async fn run(ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    let clients = ctx.api_clients().await?;
    let target = match ctx.actor.identity_id.clone() {
        Some(id) => id,
        None => {
            let account = ctx.account(&clients).await;
            ctx.iot_arn(account.as_deref(), "cert", &probe_cert_id(&ctx.nonce))
        }
    };
    let resource = format!("* (listing {target})");
    let send = clients
        .iot
        .list_attached_policies()
        .target(&target)
        .page_size(1)
        .send();
    Ok(ctx
        .call("iot ListAttachedPolicies", &resource, send)
        .await
        .0)
}

/// A certificate id (64 hex digits) no certificate has: the run's nonce, hex only, padded.
fn probe_cert_id(nonce: &str) -> String {
    let hex: String = nonce
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let padded = format!("{hex:0>64}");
    // ASCII only, so byte offsets are char offsets.
    padded[padded.len() - 64..].to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe_cert_ids_are_64_hex() {
        let id = super::probe_cert_id("iotc-0123456789abcdef0123456789abcdef");
        assert_eq!(id.len(), 64);
        assert!(id.ends_with("0123456789abcdef0123456789abcdef"));
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
