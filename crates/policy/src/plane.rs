//! Which AWS IoT actions are data-plane actions (decided by AWS IoT Core policies as well as
//! IAM for some principals) and which are control-plane or other services' actions (IAM
//! only), and the authorization entry point for API calls that applies the difference.
//!
//! Why it matters: an authenticated Amazon Cognito identity carries two policy layers, the
//! identity pool's IAM role and the AWS IoT policies attached to the identity id. AWS
//! intersects them for the *data plane* only:
//!
//! - "Authorization with Amazon Cognito identities"
//!   (https://docs.aws.amazon.com/iot/latest/developerguide/cog-iot-policies.html): for
//!   authenticated identities permissions are specified in two places, an IAM policy on the
//!   pool's role and an AWS IoT Core policy on the identity; an action is allowed only if both
//!   allow it.
//! - "Authorization" (https://docs.aws.amazon.com/iot/latest/developerguide/iot-authorization.html):
//!   operations are split into a control-plane API (certificates, things, rules, policies...)
//!   and a data-plane API (sending and receiving data), and the policy types differ. Its
//!   control-plane table lists Amazon Cognito identities with **IAM policy** only: an AWS IoT
//!   policy attached to a Cognito identity never grants nor limits `iot:AttachPolicy`,
//!   `iot:ListThings` and the like. Field report with the same split: aws-sdk-android-samples
//!   issue 188 (AttachPrincipalPolicy worked with the role alone; GetThingShadow over HTTPS
//!   failed with ForbiddenException until an IoT policy was attached to the identity).
//! - The HTTPS data plane (`iot-data`: Publish, shadows, retained messages, DeleteConnection):
//!   the same page's data-plane table lists "HTTPS, AWS Signature Version 4" with "IAM
//!   policy" for "Amazon Cognito, IAM, or federated identity", which reads as IAM only; field
//!   reports say otherwise for authenticated identities (aws/aws-sdk-js issue 1312:
//!   `iotdata.getThingShadow` with Cognito credentials is Forbidden until an IoT policy is
//!   attached to the identity id; aws-sdk-android-samples issue 188 quoting AWS's forum
//!   answer that authenticated Cognito identities need additional permissions in IoT). The
//!   engine follows the field behaviour: data-plane actions intersect over HTTPS as over
//!   MQTT. shared/reference/aws-iot-authz.md §9 records the discrepancy; a live probe decides.
//! - Data-plane actions are the ones "AWS IoT Core policy actions" defines
//!   (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-actions.html): the MQTT
//!   actions (`iot:Connect`, `iot:DeleteConnection`, `iot:GetRetainedMessage`,
//!   `iot:ListRetainedMessages`, `iot:Publish`, `iot:Receive`, `iot:RetainPublish`,
//!   `iot:Subscribe`), the Device Shadow actions (`iot:DeleteThingShadow`,
//!   `iot:GetThingShadow`, `iot:ListNamedShadowsForThing`, `iot:UpdateThingShadow`), the job
//!   execution actions devices call and the credentials provider's
//!   `iot:AssumeRoleWithCertificate`. `iot:DeleteConnection` is listed there among the MQTT
//!   policy actions (it is also served by the `iot-data` endpoint, `DELETE
//!   /connections/{clientId}`), so it is a data-plane action.

use crate::{AuthResult, PolicySet, RequestContext, eval};

/// The plane an action belongs to, for combining a principal's policy layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plane {
    /// An AWS IoT Core policy action (MQTT, Device Shadow, retained messages, jobs data,
    /// credentials provider): IoT policies apply where the principal has any.
    Data,
    /// Any other `iot:` action (AttachPolicy, ListThings, DescribeThing, GetPolicy...):
    /// IAM only.
    Control,
    /// Another service's action (`sts:AssumeRole`, `iam:PassRole`...): IAM only.
    OtherService,
}

/// The `iot:` actions defined as AWS IoT Core policy actions (iot-policy-actions.html),
/// without the prefix.
pub const IOT_DATA_PLANE_ACTIONS: &[&str] = &[
    "AssumeRoleWithCertificate",
    "Connect",
    "DeleteConnection",
    "DeleteThingShadow",
    "DescribeJobExecution",
    "GetPendingJobExecutions",
    "GetRetainedMessage",
    "GetThingShadow",
    "ListNamedShadowsForThing",
    "ListRetainedMessages",
    "Publish",
    "Receive",
    "RetainPublish",
    "StartNextPendingJobExecution",
    "Subscribe",
    "UpdateJobExecution",
    "UpdateThingShadow",
];

/// Classifies a concrete `service:Action` name (case-insensitive, as IAM matches actions).
/// A name without a `:` is no AWS action; it is classified as another service's so that only
/// IAM layers are consulted (and none will match it).
pub fn plane_of(action: &str) -> Plane {
    let Some((service, name)) = action.split_once(':') else {
        return Plane::OtherService;
    };
    if !service.eq_ignore_ascii_case("iot") {
        return Plane::OtherService;
    }
    if IOT_DATA_PLANE_ACTIONS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(name))
    {
        Plane::Data
    } else {
        Plane::Control
    }
}

/// Decides one API call (any `service:Action` on a full resource ARN) the way AWS combines
/// the principal's layers for that action's plane: for an authenticated Cognito identity,
/// data-plane actions need the pool role *and* the identity's IoT policies, control-plane and
/// other services' actions the role alone. Every other kind of principal is decided exactly
/// as [`crate::authorize_action`] decides it (their layers do not depend on the plane).
pub fn authorize_call(
    set: &PolicySet,
    action: &str,
    resource_arn: &str,
    context: &RequestContext,
) -> AuthResult {
    match (set, plane_of(action)) {
        (PolicySet::CognitoAuthenticated { role_policies, .. }, Plane::Control)
        | (PolicySet::CognitoAuthenticated { role_policies, .. }, Plane::OtherService) => {
            eval::single_layer(
                role_policies,
                "identity-pool role policies",
                action,
                resource_arn,
                context,
            )
        }
        _ => eval::authorize_named(set, action, resource_arn, context),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{Decision, Policy};

    fn policy(name: &str, statements: &str) -> Arc<Policy> {
        Arc::new(
            Policy::parse(
                name,
                &format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#),
            )
            .unwrap(),
        )
    }

    const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

    fn cognito(role: &str, iot: Option<&str>) -> PolicySet {
        PolicySet::CognitoAuthenticated {
            role_policies: vec![policy("AuthRole", role)],
            iot_policies: iot.map(|s| vec![policy("UserIot", s)]).unwrap_or_default(),
        }
    }

    fn call(set: &PolicySet, action: &str, resource: &str) -> AuthResult {
        authorize_call(set, action, resource, &RequestContext::default())
    }

    #[test]
    fn classifies_the_iot_policy_actions_as_data_plane() {
        for a in [
            "iot:Publish",
            "iot:publish",
            "IOT:GetThingShadow",
            "iot:DeleteConnection",
            "iot:ListNamedShadowsForThing",
            "iot:GetRetainedMessage",
            "iot:ListRetainedMessages",
            "iot:UpdateJobExecution",
        ] {
            assert_eq!(plane_of(a), Plane::Data, "{a}");
        }
        for a in [
            "iot:AttachPolicy",
            "iot:DetachPolicy",
            "iot:AttachThingPrincipal",
            "iot:ListThings",
            "iot:DescribeThing",
            "iot:GetPolicy",
            "iot:ListAttachedPolicies",
            "iot:CreateKeysAndCertificate",
        ] {
            assert_eq!(plane_of(a), Plane::Control, "{a}");
        }
        for a in [
            "sts:AssumeRole",
            "iam:PassRole",
            "iotdata:Publish",
            "Publish",
        ] {
            assert_eq!(plane_of(a), Plane::OtherService, "{a}");
        }
    }

    #[test]
    fn every_data_plane_action_is_a_known_iot_action() {
        for a in IOT_DATA_PLANE_ACTIONS {
            assert!(
                crate::actions::is_iot_action(&format!("iot:{a}")),
                "iot:{a} is not in the action lists"
            );
        }
    }

    #[test]
    fn cognito_data_plane_is_role_intersect_iot_policy() {
        let role =
            r#"{"Effect":"Allow","Action":["iot:GetThingShadow","iot:Publish"],"Resource":"*"}"#;
        let iot = r#"{"Effect":"Allow","Action":"iot:GetThingShadow","Resource":"arn:aws:iot:us-east-1:123456789012:thing/mine"}"#;
        let set = cognito(role, Some(iot));
        assert!(call(&set, "iot:GetThingShadow", &format!("{ARN}:thing/mine")).allowed());
        let other = call(&set, "iot:GetThingShadow", &format!("{ARN}:thing/theirs"));
        assert_eq!(other.decision, Decision::ImplicitDeny);
        assert!(
            other.explanation.contains("IoT policies attached"),
            "{}",
            other.explanation
        );
        // The role grants Publish, the IoT policy does not: the intersection refuses.
        assert!(!call(&set, "iot:Publish", &format!("{ARN}:topic/a")).allowed());
        // No IoT policy at all: every data-plane action fails.
        let bare = cognito(role, None);
        assert!(!call(&bare, "iot:GetThingShadow", &format!("{ARN}:thing/mine")).allowed());
    }

    #[test]
    fn cognito_control_plane_and_other_services_are_role_only() {
        let role = r#"{"Sid":"AttachAtSignIn","Effect":"Allow","Action":["iot:AttachPolicy","sts:AssumeRole"],"Resource":"*"}"#;
        // The IoT policy neither grants nor denies AttachPolicy; it cannot narrow IAM here.
        let iot = r#"{"Effect":"Deny","Action":"iot:*","Resource":"*"}"#;
        for set in [cognito(role, Some(iot)), cognito(role, None)] {
            let r = call(&set, "iot:AttachPolicy", &format!("{ARN}:cert/abc"));
            assert!(r.allowed(), "{}", r.explanation);
            assert_eq!(r.deciding.unwrap().to_string(), "AuthRole/AttachAtSignIn");
            assert!(
                call(
                    &set,
                    "sts:AssumeRole",
                    "arn:aws:iam::123456789012:role/Admin"
                )
                .allowed()
            );
        }
        // ... and an IoT policy granting a control-plane action grants nothing.
        let narrow = cognito(
            r#"{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}"#,
            Some(r#"{"Effect":"Allow","Action":"iot:*","Resource":"*"}"#),
        );
        let r = call(&narrow, "iot:ListThings", "*");
        assert_eq!(r.decision, Decision::ImplicitDeny);
        assert!(
            r.explanation.contains("identity-pool role policies"),
            "{}",
            r.explanation
        );
        // A Deny in the role still wins on the control plane.
        let denied = cognito(
            r#"{"Effect":"Allow","Action":"iot:*","Resource":"*"},{"Sid":"NoAttach","Effect":"Deny","Action":"iot:AttachPolicy","Resource":"*"}"#,
            None,
        );
        assert_eq!(
            call(&denied, "iot:AttachPolicy", "*").decision,
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn other_principals_are_decided_as_authorize_action_decides() {
        let role = policy(
            "Role",
            r#"{"Effect":"Allow","Action":["iot:AttachPolicy","iot:GetThingShadow"],"Resource":"*"}"#,
        );
        let session = policy(
            "Session",
            r#"{"Effect":"Allow","Action":"iot:GetThingShadow","Resource":"*"}"#,
        );
        let sets = [
            PolicySet::Iam {
                policies: vec![role.clone()],
            },
            PolicySet::AssumedRole {
                role_policies: vec![role.clone()],
                session_policies: vec![session.clone()],
            },
            PolicySet::cognito_guest(vec![role.clone()]),
            PolicySet::CognitoUnauthenticated {
                role_policies: vec![role],
                session_policies: vec![session],
            },
        ];
        for set in &sets {
            for (action, arn) in [
                ("iot:AttachPolicy", format!("{ARN}:cert/x")),
                ("iot:GetThingShadow", format!("{ARN}:thing/t")),
                ("sts:AssumeRole", "arn:aws:iam::1:role/R".to_string()),
            ] {
                let ctx = RequestContext::default();
                assert_eq!(
                    authorize_call(set, action, &arn, &ctx),
                    crate::authorize_action(set, action, &arn, &ctx),
                    "{action} {set:?}"
                );
            }
        }
        // The session policy narrows AttachPolicy away (session ∩ role on every plane).
        assert!(!call(&sets[1], "iot:AttachPolicy", &format!("{ARN}:cert/x")).allowed());
    }
}
