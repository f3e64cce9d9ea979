//! API calls the same credentials can make besides MQTT: the AWS IoT data plane over HTTPS
//! (`iot-data`) and a subset of the IoT control plane (`iot`) — which IAM action each operation
//! is authorized as, on which resource, and one decide function per plane. Pure, so the lab's
//! HTTPS doors (crates/lab/src/doors) and the offline `simulate` decide every call by the same
//! code and cannot drift apart.
//!
//! ## Data plane
//!
//! Actions and resources (AWS IoT Core action resources,
//! https://docs.aws.amazon.com/iot/latest/developerguide/iot-action-resources.html, and the
//! Service Authorization Reference for AWS IoT):
//!
//! | Operation | Action | Resource |
//! |---|---|---|
//! | Publish | `iot:Publish` (+ `iot:RetainPublish` with `retain=true`) | `topic/TOPIC` |
//! | Get/Update/DeleteThingShadow | `iot:GetThingShadow`... | `thing/THING`, named: `thing/THING/SHADOW` |
//! | ListNamedShadowsForThing | `iot:ListNamedShadowsForThing` | `thing/THING` (the IAM reference; the IoT action-resources table says `*`) |
//! | GetRetainedMessage | `iot:GetRetainedMessage` | `topic/TOPIC` |
//! | ListRetainedMessages | `iot:ListRetainedMessages` | `*` (no resource type) |
//! | DeleteConnection | `iot:DeleteConnection` | `client/CLIENT_ID` |
//!
//! Every one is an AWS IoT Core policy action, so for an authenticated Cognito identity the
//! identity's IoT policies intersect the pool role (`iot_canary_policy::plane`).
//!
//! ## Control plane
//!
//! Resources follow the Service Authorization Reference for AWS IoT
//! (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiot.html):
//!
//! | Operation | Action | Resource |
//! |---|---|---|
//! | AttachPolicy, DetachPolicy | `iot:AttachPolicy`, `iot:DetachPolicy` | the target: a `cert/ID` or `thinggroup/NAME` ARN as sent; a Cognito identity id as sent (no resource type covers it: AWS's refusal names the bare id, aws-amplify/aws-sdk-android issue 640) |
//! | AttachThingPrincipal | `iot:AttachThingPrincipal` | the principal (cert ARN, or the identity id as sent); condition key `iot:thingArn` |
//! | ListThings | `iot:ListThings` | `*` (no resource type) |
//! | DescribeThing | `iot:DescribeThing` | `thing/NAME` |
//! | GetPolicy | `iot:GetPolicy` | `policy/NAME` |
//! | ListAttachedPolicies | `iot:ListAttachedPolicies` | `*` (no resource type) |
//!
//! AWS evaluates these from the request context before the operation runs, so a call on a
//! resource that does not exist is refused (AccessDenied) or passes authorization and then
//! fails with ResourceNotFound; the handler keeps that order. Every action here is a
//! control-plane action: IAM policies only, even for authenticated Cognito identities.

use crate::plane::{Plane, plane_of};
use crate::{AuthResult, Decision, PolicySet, RequestContext, authorize_call};

/// What was decided for one call: the IAM action and resource AWS evaluates (the deciding one
/// when a call needs two actions) and the engine's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CallDecision {
    pub action: &'static str,
    /// The resource exactly as AWS names it in the request context: a full ARN, `*` for
    /// actions without a resource type, or the raw target (a Cognito identity id).
    pub resource: String,
    pub result: AuthResult,
}

impl CallDecision {
    pub fn allowed(&self) -> bool {
        self.result.allowed()
    }
}

/// One iot-data operation with the names it targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPlaneOp {
    Publish {
        topic: String,
        retain: bool,
    },
    GetThingShadow {
        thing: String,
        shadow: Option<String>,
    },
    UpdateThingShadow {
        thing: String,
        shadow: Option<String>,
    },
    DeleteThingShadow {
        thing: String,
        shadow: Option<String>,
    },
    ListNamedShadowsForThing {
        thing: String,
    },
    GetRetainedMessage {
        topic: String,
    },
    ListRetainedMessages,
    DeleteConnection {
        client_id: String,
    },
}

impl DataPlaneOp {
    /// The operation's name in the API (and in the SDKs' errors).
    pub fn name(&self) -> &'static str {
        match self {
            DataPlaneOp::Publish { .. } => "Publish",
            DataPlaneOp::GetThingShadow { .. } => "GetThingShadow",
            DataPlaneOp::UpdateThingShadow { .. } => "UpdateThingShadow",
            DataPlaneOp::DeleteThingShadow { .. } => "DeleteThingShadow",
            DataPlaneOp::ListNamedShadowsForThing { .. } => "ListNamedShadowsForThing",
            DataPlaneOp::GetRetainedMessage { .. } => "GetRetainedMessage",
            DataPlaneOp::ListRetainedMessages => "ListRetainedMessages",
            DataPlaneOp::DeleteConnection { .. } => "DeleteConnection",
        }
    }

    /// The IAM action the operation is authorized as (`iot:Publish` for any publish; a
    /// retained one needs `iot:RetainPublish` too).
    pub fn action(&self) -> &'static str {
        match self {
            DataPlaneOp::Publish { .. } => "iot:Publish",
            DataPlaneOp::GetThingShadow { .. } => "iot:GetThingShadow",
            DataPlaneOp::UpdateThingShadow { .. } => "iot:UpdateThingShadow",
            DataPlaneOp::DeleteThingShadow { .. } => "iot:DeleteThingShadow",
            DataPlaneOp::ListNamedShadowsForThing { .. } => "iot:ListNamedShadowsForThing",
            DataPlaneOp::GetRetainedMessage { .. } => "iot:GetRetainedMessage",
            DataPlaneOp::ListRetainedMessages => "iot:ListRetainedMessages",
            DataPlaneOp::DeleteConnection { .. } => "iot:DeleteConnection",
        }
    }

    /// The resource the action is evaluated on, in the caller's region and account.
    pub fn resource(&self, region: &str, account: &str) -> String {
        let thing_arn = |thing: &str, shadow: &Option<String>| match shadow {
            None => iot_arn(region, account, "thing", thing),
            Some(s) => iot_arn(region, account, "thing", &format!("{thing}/{s}")),
        };
        match self {
            DataPlaneOp::Publish { topic, .. } | DataPlaneOp::GetRetainedMessage { topic } => {
                iot_arn(region, account, "topic", topic)
            }
            DataPlaneOp::GetThingShadow { thing, shadow }
            | DataPlaneOp::UpdateThingShadow { thing, shadow }
            | DataPlaneOp::DeleteThingShadow { thing, shadow } => thing_arn(thing, shadow),
            DataPlaneOp::ListNamedShadowsForThing { thing } => {
                iot_arn(region, account, "thing", thing)
            }
            DataPlaneOp::ListRetainedMessages => "*".to_string(),
            DataPlaneOp::DeleteConnection { client_id } => {
                iot_arn(region, account, "client", client_id)
            }
        }
    }
}

/// One control-plane operation with the names it targets (as the caller sent them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlPlaneOp {
    AttachPolicy { policy: String, target: String },
    DetachPolicy { policy: String, target: String },
    AttachThingPrincipal { thing: String, principal: String },
    ListThings,
    DescribeThing { thing: String },
    GetPolicy { policy: String },
    ListAttachedPolicies { target: String },
}

impl ControlPlaneOp {
    pub fn name(&self) -> &'static str {
        match self {
            ControlPlaneOp::AttachPolicy { .. } => "AttachPolicy",
            ControlPlaneOp::DetachPolicy { .. } => "DetachPolicy",
            ControlPlaneOp::AttachThingPrincipal { .. } => "AttachThingPrincipal",
            ControlPlaneOp::ListThings => "ListThings",
            ControlPlaneOp::DescribeThing { .. } => "DescribeThing",
            ControlPlaneOp::GetPolicy { .. } => "GetPolicy",
            ControlPlaneOp::ListAttachedPolicies { .. } => "ListAttachedPolicies",
        }
    }

    pub fn action(&self) -> &'static str {
        match self {
            ControlPlaneOp::AttachPolicy { .. } => "iot:AttachPolicy",
            ControlPlaneOp::DetachPolicy { .. } => "iot:DetachPolicy",
            ControlPlaneOp::AttachThingPrincipal { .. } => "iot:AttachThingPrincipal",
            ControlPlaneOp::ListThings => "iot:ListThings",
            ControlPlaneOp::DescribeThing { .. } => "iot:DescribeThing",
            ControlPlaneOp::GetPolicy { .. } => "iot:GetPolicy",
            ControlPlaneOp::ListAttachedPolicies { .. } => "iot:ListAttachedPolicies",
        }
    }

    /// The resource the action is evaluated on.
    pub fn resource(&self, region: &str, account: &str) -> String {
        match self {
            // A target or principal is named as sent: a cert or thing-group ARN is its own
            // resource; an identity id has no ARN form, and AWS evaluates (and reports) it as is.
            ControlPlaneOp::AttachPolicy { target, .. }
            | ControlPlaneOp::DetachPolicy { target, .. } => target.clone(),
            ControlPlaneOp::AttachThingPrincipal { principal, .. } => principal.clone(),
            ControlPlaneOp::ListThings | ControlPlaneOp::ListAttachedPolicies { .. } => {
                "*".to_string()
            }
            ControlPlaneOp::DescribeThing { thing } => iot_arn(region, account, "thing", thing),
            ControlPlaneOp::GetPolicy { policy } => iot_arn(region, account, "policy", policy),
        }
    }
}

/// Decides one iot-data call: `ctx` is the caller's context (region, account, principal
/// variables, time, source address) with no client id — over HTTPS there is none.
pub fn decide_data(set: &PolicySet, ctx: &RequestContext, op: &DataPlaneOp) -> CallDecision {
    // Invariant: every iot-data action is an AWS IoT Core policy action (unit-tested below).
    debug_assert_eq!(plane_of(op.action()), Plane::Data);
    let resource = op.resource(&ctx.region, &ctx.account_id);
    match op {
        DataPlaneOp::Publish { retain: true, .. } => both(
            evaluate(set, ctx, "iot:Publish", resource.clone()),
            evaluate(set, ctx, "iot:RetainPublish", resource),
        ),
        _ => evaluate(set, ctx, op.action(), resource),
    }
}

/// Decides one control-plane call (IAM only, whatever the principal: `plane`).
pub fn decide_control(set: &PolicySet, ctx: &RequestContext, op: &ControlPlaneOp) -> CallDecision {
    // Invariant: none of these is an AWS IoT Core policy action (unit-tested below).
    debug_assert_eq!(plane_of(op.action()), Plane::Control);
    let resource = op.resource(&ctx.region, &ctx.account_id);
    if let ControlPlaneOp::AttachThingPrincipal { thing, .. } = op {
        let mut ctx = ctx.clone();
        ctx.values.insert(
            "iot:thingarn".into(),
            vec![iot_arn(&ctx.region, &ctx.account_id, "thing", thing)],
        );
        return evaluate(set, &ctx, op.action(), resource);
    }
    evaluate(set, ctx, op.action(), resource)
}

/// One action on one resource, through the engine's plane-aware entry point.
fn evaluate(
    set: &PolicySet,
    ctx: &RequestContext,
    action: &'static str,
    resource: String,
) -> CallDecision {
    let result = authorize_call(set, action, &resource, ctx);
    CallDecision {
        action,
        resource,
        result,
    }
}

/// Two actions that must both be allowed (a retained publish: `iot:Publish` and
/// `iot:RetainPublish`): an explicit deny of either outranks an implicit deny of the other,
/// and the refusal names the action that refused.
fn both(first: CallDecision, second: CallDecision) -> CallDecision {
    match (first.result.decision, second.result.decision) {
        (Decision::ExplicitDeny, _) => first,
        (_, Decision::ExplicitDeny) => second,
        (Decision::ImplicitDeny, _) => first,
        _ => second,
    }
}

/// `arn:aws:iot:REGION:ACCOUNT:KIND/NAME`.
fn iot_arn(region: &str, account: &str, kind: &str, name: &str) -> String {
    format!("arn:aws:iot:{region}:{account}:{kind}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StatementRef;

    fn d(action: &'static str, decision: Decision) -> CallDecision {
        CallDecision {
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
