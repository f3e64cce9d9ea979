//! The AWS IoT data plane over HTTPS (`iot-data`): which IAM action each operation needs, on
//! which resource, and the one decide function the HTTP handler and `simulate` share.
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

use iot_canary_policy::calls;
pub use iot_canary_policy::calls::DataPlaneOp;

use super::{CallFacts, DoorDecision, context};
use crate::authz::PrincipalAuthz;

/// Decides one iot-data call for a principal: the policy crate's `calls::decide_data` on the
/// principal's context plus the call's facts, so `simulate` decides it by the same code.
pub fn decide(authz: &PrincipalAuthz, op: &DataPlaneOp, facts: &CallFacts) -> DoorDecision {
    calls::decide_data(&authz.set, &context(authz, facts), op)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use iot_canary_policy::{Decision, PolicySet};

    use super::super::test_support::{authz, policy};
    use super::*;
    use iot_canary_policy::plane::{Plane, plane_of};

    fn all_ops() -> Vec<DataPlaneOp> {
        vec![
            DataPlaneOp::Publish {
                topic: "devices/a/cmd".into(),
                retain: false,
            },
            DataPlaneOp::Publish {
                topic: "devices/a/cmd".into(),
                retain: true,
            },
            DataPlaneOp::GetThingShadow {
                thing: "a".into(),
                shadow: None,
            },
            DataPlaneOp::UpdateThingShadow {
                thing: "a".into(),
                shadow: Some("cfg".into()),
            },
            DataPlaneOp::DeleteThingShadow {
                thing: "a".into(),
                shadow: None,
            },
            DataPlaneOp::ListNamedShadowsForThing { thing: "a".into() },
            DataPlaneOp::GetRetainedMessage {
                topic: "devices/a/state".into(),
            },
            DataPlaneOp::ListRetainedMessages,
            DataPlaneOp::DeleteConnection {
                client_id: "a-1".into(),
            },
        ]
    }

    #[test]
    fn every_operation_is_a_data_plane_action_with_the_documented_resource() {
        let expected = [
            "arn:aws:iot:us-east-1:123456789012:topic/devices/a/cmd",
            "arn:aws:iot:us-east-1:123456789012:topic/devices/a/cmd",
            "arn:aws:iot:us-east-1:123456789012:thing/a",
            "arn:aws:iot:us-east-1:123456789012:thing/a/cfg",
            "arn:aws:iot:us-east-1:123456789012:thing/a",
            "arn:aws:iot:us-east-1:123456789012:thing/a",
            "arn:aws:iot:us-east-1:123456789012:topic/devices/a/state",
            "*",
            "arn:aws:iot:us-east-1:123456789012:client/a-1",
        ];
        for (op, arn) in all_ops().iter().zip(expected) {
            assert_eq!(plane_of(op.action()), Plane::Data, "{op:?}");
            assert_eq!(op.resource("us-east-1", "123456789012"), arn, "{op:?}");
        }
    }

    #[test]
    fn cognito_identity_needs_role_and_iot_policy() {
        let role = policy(
            "Role",
            r#"{"Effect":"Allow","Action":"iot:*","Resource":"*"}"#,
        );
        let mine = policy(
            "Mine",
            r#"{"Effect":"Allow","Action":["iot:GetThingShadow","iot:Publish"],"Resource":["arn:aws:iot:us-east-1:123456789012:thing/a","arn:aws:iot:us-east-1:123456789012:topic/devices/a/*"]}"#,
        );
        let a = authz(PolicySet::CognitoAuthenticated {
            role_policies: vec![role.clone()],
            iot_policies: vec![mine],
        });
        let facts = CallFacts::at(SystemTime::now());
        let get = |thing: &str| DataPlaneOp::GetThingShadow {
            thing: thing.into(),
            shadow: None,
        };
        assert!(decide(&a, &get("a"), &facts).allowed());
        let other = decide(&a, &get("b"), &facts);
        assert_eq!(other.result.decision, Decision::ImplicitDeny);
        // Retained publish: Publish is allowed, RetainPublish is not; the refusal names it.
        let retained = decide(
            &a,
            &DataPlaneOp::Publish {
                topic: "devices/a/cmd".into(),
                retain: true,
            },
            &facts,
        );
        assert!(!retained.allowed());
        assert_eq!(retained.action, "iot:RetainPublish");
        // Without an IoT policy nothing on the data plane passes.
        let bare = authz(PolicySet::CognitoAuthenticated {
            role_policies: vec![role],
            iot_policies: vec![],
        });
        for op in all_ops() {
            assert!(!decide(&bare, &op, &facts).allowed(), "{op:?}");
        }
    }

    #[test]
    fn client_id_scoped_statements_do_not_match_without_a_connection() {
        // A statement scoped with ${iot:ClientId} needs a client id; HTTPS calls have none.
        let p = policy(
            "ByClient",
            r#"{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/clients/${iot:ClientId}/*"}"#,
        );
        let a = authz(PolicySet::Iam { policies: vec![p] });
        let op = DataPlaneOp::Publish {
            topic: "clients/x/out".into(),
            retain: false,
        };
        assert!(!decide(&a, &op, &CallFacts::at(SystemTime::now())).allowed());
    }
}
