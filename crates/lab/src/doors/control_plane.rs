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

use iot_canary_policy::calls;
pub use iot_canary_policy::calls::ControlPlaneOp;

use super::{CallFacts, DoorDecision, context};
use crate::authz::PrincipalAuthz;

/// Decides one control-plane call for a principal: the policy crate's `calls::decide_control`
/// on the principal's context plus the call's facts, so `simulate` decides it by the same code.
pub fn decide(authz: &PrincipalAuthz, op: &ControlPlaneOp, facts: &CallFacts) -> DoorDecision {
    calls::decide_control(&authz.set, &context(authz, facts), op)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use iot_canary_policy::{Decision, PolicySet};

    use super::super::test_support::{authz, policy};
    use super::*;
    use iot_canary_policy::plane::{Plane, plane_of};

    const ID: &str = "us-east-1:0a1b2c3d-0000-4000-8000-000000000001";

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
            assert_eq!(op.resource("us-east-1", "123456789012"), r, "{op:?}");
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
