//! The HTTPS doors the same credentials open besides MQTT: the AWS IoT data plane (`iot-data`,
//! restJson1, SigV4 service `iotdata`) and a subset of the IoT control plane (`iot`, restJson1,
//! SigV4 service `iot`). Each door has one pure decide function (`data_plane::decide`,
//! `control_plane::decide`) built on [`crate::authz::PrincipalAuthz`] and the policy engine's
//! [`iot_canary_policy::authorize_call`]; the HTTP handlers (`iot_data_http`, `iot_http`) and
//! the root package's `simulate` call the same functions, so the live lab and the offline
//! prediction cannot drift apart.

pub mod auth;
pub mod control_plane;
pub mod data_plane;
pub mod iot_data_http;
pub mod iot_http;
pub mod rest;

use std::net::IpAddr;
use std::time::SystemTime;

use iot_canary_policy::{AuthResult, Decision, RequestContext};

use crate::authz::PrincipalAuthz;

/// The request facts a door adds to the principal's context. Over HTTPS there is no client id,
/// no connection and no connect attributes: statements that need `${iot:ClientId}` or
/// `iot:Connection.*` see those keys missing (the engine leaves such variables unresolved and
/// the statement does not match), exactly as a call without an MQTT connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallFacts {
    /// `aws:CurrentTime` / `aws:EpochTime`, and the policy propagation clock.
    pub now: SystemTime,
    /// `aws:SourceIp` (the TCP peer); `None` offline, where conditions on it do not match.
    pub source_ip: Option<IpAddr>,
}

impl CallFacts {
    pub fn at(now: SystemTime) -> CallFacts {
        CallFacts {
            now,
            source_ip: None,
        }
    }
}

/// What a door decided for one call: the IAM action and resource AWS evaluates (the deciding
/// one when a call needs two actions) and the engine's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct DoorDecision {
    pub action: &'static str,
    /// The resource exactly as AWS names it in the request context: a full ARN, `*` for
    /// actions without a resource type, or the raw target (a Cognito identity id).
    pub resource: String,
    pub result: AuthResult,
}

impl DoorDecision {
    pub fn allowed(&self) -> bool {
        self.result.allowed()
    }
}

/// The principal's context plus the call's facts.
fn context(authz: &PrincipalAuthz, facts: &CallFacts) -> RequestContext {
    let mut ctx = authz.context.clone();
    ctx.current_time = Some(facts.now);
    ctx.source_ip = facts.source_ip;
    ctx
}

/// One action on one resource, through the engine's plane-aware entry point.
fn evaluate(
    authz: &PrincipalAuthz,
    ctx: &RequestContext,
    action: &'static str,
    resource: String,
) -> DoorDecision {
    let result = iot_canary_policy::authorize_call(&authz.set, action, &resource, ctx);
    DoorDecision {
        action,
        resource,
        result,
    }
}

/// Two actions that must both be allowed (a retained publish: `iot:Publish` and
/// `iot:RetainPublish`): an explicit deny of either outranks an implicit deny of the other,
/// and the refusal names the action that refused.
fn both(first: DoorDecision, second: DoorDecision) -> DoorDecision {
    match (first.result.decision, second.result.decision) {
        (Decision::ExplicitDeny, _) => first,
        (_, Decision::ExplicitDeny) => second,
        (Decision::ImplicitDeny, _) => first,
        _ => second,
    }
}

/// `arn:aws:iot:REGION:ACCOUNT:KIND/NAME` in the principal's region and account.
fn iot_arn(authz: &PrincipalAuthz, kind: &str, name: &str) -> String {
    format!(
        "arn:aws:iot:{}:{}:{kind}/{name}",
        authz.context.region, authz.context.account_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use iot_canary_policy::StatementRef;

    fn d(action: &'static str, decision: Decision) -> DoorDecision {
        DoorDecision {
            action,
            resource: "r".into(),
            result: AuthResult {
                decision,
                deciding: (decision != Decision::ImplicitDeny).then(|| StatementRef {
                    policy: "p".into(),
                    statement: "s".into(),
                }),
                explanation: String::new(),
            },
        }
    }

    #[test]
    fn both_names_the_refusing_action_and_prefers_explicit_denies() {
        use Decision::*;
        let cases = [
            (Allowed, Allowed, "b"),
            (ImplicitDeny, Allowed, "a"),
            (Allowed, ImplicitDeny, "b"),
            (ImplicitDeny, ExplicitDeny, "b"),
            (ExplicitDeny, ImplicitDeny, "a"),
        ];
        for (x, y, which) in cases {
            let r = both(d("a", x), d("b", y));
            assert_eq!(r.action, which, "{x:?} {y:?}");
        }
    }
}
