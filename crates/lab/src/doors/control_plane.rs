//! The IoT control-plane subset the canary probes (`iot`, restJson1): the IAM action and
//! resource of each operation, and the one decide function the HTTP handler and `simulate`
//! share.
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

use iot_canary_policy::plane::{Plane, plane_of};

use super::{CallFacts, DoorDecision, context, evaluate, iot_arn};
use crate::authz::PrincipalAuthz;

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
    pub fn resource(&self, authz: &PrincipalAuthz) -> String {
        match self {
            // A target or principal is named as sent: a cert or thing-group ARN is its own
            // resource; an identity id has no ARN form, and AWS evaluates (and reports) it as is.
            ControlPlaneOp::AttachPolicy { target, .. }
            | ControlPlaneOp::DetachPolicy { target, .. } => target.clone(),
            ControlPlaneOp::AttachThingPrincipal { principal, .. } => principal.clone(),
            ControlPlaneOp::ListThings | ControlPlaneOp::ListAttachedPolicies { .. } => {
                "*".to_string()
            }
            ControlPlaneOp::DescribeThing { thing } => iot_arn(authz, "thing", thing),
            ControlPlaneOp::GetPolicy { policy } => iot_arn(authz, "policy", policy),
        }
    }
}

/// Decides one control-plane call for a principal: pure, the same for the lab's handler and
/// for `simulate`.
pub fn decide(authz: &PrincipalAuthz, op: &ControlPlaneOp, facts: &CallFacts) -> DoorDecision {
    // Invariant: none of these is an AWS IoT Core policy action (unit-tested below).
    debug_assert_eq!(plane_of(op.action()), Plane::Control);
    let mut ctx = context(authz, facts);
    if let ControlPlaneOp::AttachThingPrincipal { thing, .. } = op {
        ctx.values
            .insert("iot:thingarn".into(), vec![iot_arn(authz, "thing", thing)]);
    }
    evaluate(authz, &ctx, op.action(), op.resource(authz))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use iot_canary_policy::{Decision, Policy, PolicySet, RequestContext};

    use super::*;

    const ID: &str = "us-east-1:0a1b2c3d-0000-4000-8000-000000000001";

    fn authz(set: PolicySet) -> PrincipalAuthz {
        PrincipalAuthz {
            set,
            context: RequestContext {
                region: "us-east-1".into(),
                account_id: "123456789012".into(),
                ..Default::default()
            },
        }
    }

    fn policy(name: &str, statements: &str) -> Arc<Policy> {
        Arc::new(
            Policy::parse(
                name,
                &format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#),
            )
            .unwrap(),
        )
    }

    fn ops() -> Vec<ControlPlaneOp> {
        vec![
            ControlPlaneOp::AttachPolicy {
                policy: "P".into(),
                target: ID.into(),
            },
            ControlPlaneOp::DetachPolicy {
                policy: "P".into(),
                target: "arn:aws:iot:us-east-1:123456789012:cert/abc".into(),
            },
            ControlPlaneOp::AttachThingPrincipal {
                thing: "lamp".into(),
                principal: ID.into(),
            },
            ControlPlaneOp::ListThings,
            ControlPlaneOp::DescribeThing {
                thing: "lamp".into(),
            },
            ControlPlaneOp::GetPolicy { policy: "P".into() },
            ControlPlaneOp::ListAttachedPolicies { target: ID.into() },
        ]
    }

    #[test]
    fn resources_follow_the_service_authorization_reference() {
        let a = authz(PolicySet::Iam { policies: vec![] });
        let expected = [
            ID,
            "arn:aws:iot:us-east-1:123456789012:cert/abc",
            ID,
            "*",
            "arn:aws:iot:us-east-1:123456789012:thing/lamp",
            "arn:aws:iot:us-east-1:123456789012:policy/P",
            "*",
        ];
        for (op, r) in ops().iter().zip(expected) {
            assert_eq!(plane_of(op.action()), Plane::Control, "{op:?}");
            assert_eq!(op.resource(&a), r, "{op:?}");
        }
    }

    #[test]
    fn cognito_identities_are_decided_by_the_role_alone() {
        // The attach-at-sign-in role: AttachPolicy on `*`. No IoT policy on the identity
        // allows (or could forbid) it.
        let role = policy(
            "AuthRole",
            r#"{"Sid":"AttachAtSignIn","Effect":"Allow","Action":"iot:AttachPolicy","Resource":"*"}"#,
        );
        let iot = policy(
            "UserIot",
            r#"{"Effect":"Allow","Action":"iot:*","Resource":"*"}"#,
        );
        let a = authz(PolicySet::CognitoAuthenticated {
            role_policies: vec![role],
            iot_policies: vec![iot],
        });
        let facts = CallFacts::at(SystemTime::now());
        let r = decide(&a, &ops()[0], &facts);
        assert!(r.allowed(), "{}", r.result.explanation);
        assert_eq!(
            r.result.deciding.unwrap().to_string(),
            "AuthRole/AttachAtSignIn"
        );
        // The IoT policy's iot:* does not reach the control plane.
        for op in &ops()[1..] {
            let r = decide(&a, op, &facts);
            assert_eq!(r.result.decision, Decision::ImplicitDeny, "{op:?}");
        }
    }

    #[test]
    fn arn_scoped_grants_do_not_cover_an_identity_id_target() {
        let a = authz(PolicySet::Iam {
            policies: vec![policy(
                "CertsOnly",
                r#"{"Effect":"Allow","Action":"iot:AttachPolicy","Resource":"arn:aws:iot:us-east-1:123456789012:cert/*"}"#,
            )],
        });
        let facts = CallFacts::at(SystemTime::now());
        assert!(!decide(&a, &ops()[0], &facts).allowed());
        let cert = ControlPlaneOp::AttachPolicy {
            policy: "P".into(),
            target: "arn:aws:iot:us-east-1:123456789012:cert/abc".into(),
        };
        assert!(decide(&a, &cert, &facts).allowed());
    }

    #[test]
    fn attach_thing_principal_sees_the_thing_arn_condition() {
        let a = authz(PolicySet::Iam {
            policies: vec![policy(
                "OnlyLamp",
                r#"{"Effect":"Allow","Action":"iot:AttachThingPrincipal","Resource":"*","Condition":{"ArnEquals":{"iot:thingArn":"arn:aws:iot:us-east-1:123456789012:thing/lamp"}}}"#,
            )],
        });
        let facts = CallFacts::at(SystemTime::now());
        assert!(decide(&a, &ops()[2], &facts).allowed());
        let other = ControlPlaneOp::AttachThingPrincipal {
            thing: "plug".into(),
            principal: ID.into(),
        };
        assert!(!decide(&a, &other, &facts).allowed());
    }
}
