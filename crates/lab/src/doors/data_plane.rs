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

use iot_canary_policy::plane::{Plane, plane_of};

use super::{CallFacts, DoorDecision, both, context, evaluate, iot_arn};
use crate::authz::PrincipalAuthz;

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

    /// The resource the action is evaluated on, in the principal's region and account.
    pub fn resource(&self, authz: &PrincipalAuthz) -> String {
        let thing_arn = |thing: &str, shadow: &Option<String>| match shadow {
            None => iot_arn(authz, "thing", thing),
            Some(s) => iot_arn(authz, "thing", &format!("{thing}/{s}")),
        };
        match self {
            DataPlaneOp::Publish { topic, .. } | DataPlaneOp::GetRetainedMessage { topic } => {
                iot_arn(authz, "topic", topic)
            }
            DataPlaneOp::GetThingShadow { thing, shadow }
            | DataPlaneOp::UpdateThingShadow { thing, shadow }
            | DataPlaneOp::DeleteThingShadow { thing, shadow } => thing_arn(thing, shadow),
            DataPlaneOp::ListNamedShadowsForThing { thing } => iot_arn(authz, "thing", thing),
            DataPlaneOp::ListRetainedMessages => "*".to_string(),
            DataPlaneOp::DeleteConnection { client_id } => iot_arn(authz, "client", client_id),
        }
    }
}

/// Decides one iot-data call for a principal: pure, the same for the lab's handler and for
/// `simulate` (`LabState::principal_authz` supplies `authz`).
pub fn decide(authz: &PrincipalAuthz, op: &DataPlaneOp, facts: &CallFacts) -> DoorDecision {
    // Invariant: every iot-data action is an AWS IoT Core policy action (unit-tested below).
    debug_assert_eq!(plane_of(op.action()), Plane::Data);
    let ctx = context(authz, facts);
    let resource = op.resource(authz);
    match op {
        DataPlaneOp::Publish { retain: true, .. } => both(
            evaluate(authz, &ctx, "iot:Publish", resource.clone()),
            evaluate(authz, &ctx, "iot:RetainPublish", resource),
        ),
        _ => evaluate(authz, &ctx, op.action(), resource),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use iot_canary_policy::{Decision, Policy, PolicySet, RequestContext};

    use super::*;

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
        let a = authz(PolicySet::Iam { policies: vec![] });
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
            assert_eq!(op.resource(&a), arn, "{op:?}");
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
