//! How Amazon Cognito scopes down enhanced-flow guest credentials: the two session policies it
//! passes to `AssumeRoleWithWebIdentity` for unauthenticated identities, kept as data files
//! (`data/cognito/`, sources and versions in its README) so the lab, `simulate` and
//! `policy test` apply the same documents.
//!
//! Model (aws-facts.md §A.3; an inference from AWS's behaviour, no AWS sentence states it):
//! guest = unauthenticated role ∩ (inline scope-down ∪ managed session policy). The inline
//! list contains `iot:*`, so guests keep the AWS IoT access their role grants; services in
//! neither list (`sts:*`, `iam:*`, `ssm:*`, ...) are gone whatever the role says. The basic
//! (classic) flow and authenticated identities get no scope-down.

use std::sync::{Arc, OnceLock};

use crate::{Policy, PolicySet};

/// The inline session policy: the services "unauthenticated enhanced flow users can access"
/// (Cognito developer guide, IAM roles → access policies).
pub const INLINE_SCOPE_DOWN_JSON: &str =
    include_str!("../data/cognito/unauthenticated-inline-scope-down.json");
/// The name the inline scope-down goes by in explanations and deciding statements.
pub const INLINE_SCOPE_DOWN_NAME: &str = "CognitoGuestInlineScopeDown";

/// `AmazonCognitoUnAuthedIdentitiesSessionPolicy`, the version below.
pub const MANAGED_SESSION_POLICY_JSON: &str =
    include_str!("../data/cognito/AmazonCognitoUnAuthedIdentitiesSessionPolicy.v4.json");
pub const MANAGED_SESSION_POLICY_NAME: &str = "AmazonCognitoUnAuthedIdentitiesSessionPolicy";
pub const MANAGED_SESSION_POLICY_ARN: &str =
    "arn:aws:iam::aws:policy/AmazonCognitoUnAuthedIdentitiesSessionPolicy";
/// The default version on AWS when the file was taken (2026-05-01).
pub const MANAGED_SESSION_POLICY_VERSION: &str = "v4";

/// Both session policies, parsed once.
pub fn guest_session_policies() -> Vec<Arc<Policy>> {
    static PARSED: OnceLock<Vec<Arc<Policy>>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            [
                (INLINE_SCOPE_DOWN_NAME, INLINE_SCOPE_DOWN_JSON),
                (MANAGED_SESSION_POLICY_NAME, MANAGED_SESSION_POLICY_JSON),
            ]
            .into_iter()
            .map(|(name, json)| {
                // Invariant: constant documents, parsed by the unit test below on every build.
                Arc::new(Policy::parse(name, json).expect("embedded Cognito session policy parses"))
            })
            .collect()
        })
        .clone()
}

impl PolicySet {
    /// An enhanced-flow guest: the unauthenticated role's policies, scoped down by
    /// [`guest_session_policies`].
    pub fn cognito_guest(role_policies: Vec<Arc<Policy>>) -> PolicySet {
        PolicySet::CognitoUnauthenticated {
            role_policies,
            session_policies: guest_session_policies(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decision, RequestContext, authorize_action};

    fn role(actions: &str) -> Arc<Policy> {
        Arc::new(
            Policy::parse(
                "GuestRole",
                &format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Role","Effect":"Allow","Action":{actions},"Resource":"*"}}]}}"#
                ),
            )
            .unwrap(),
        )
    }

    fn decide(set: &PolicySet, action: &str, arn: &str) -> crate::AuthResult {
        authorize_action(set, action, arn, &RequestContext::default())
    }

    #[test]
    fn both_documents_parse_and_name_their_version() {
        let p = guest_session_policies();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, INLINE_SCOPE_DOWN_NAME);
        assert_eq!(p[1].name, MANAGED_SESSION_POLICY_NAME);
        // v4 = v3 + geo:ListMaps (the only change AWS made).
        assert!(MANAGED_SESSION_POLICY_JSON.contains("\"geo:ListMaps\""));
        assert!(!MANAGED_SESSION_POLICY_JSON.contains("iot:"));
        assert!(INLINE_SCOPE_DOWN_JSON.contains("\"iot:*\""));
    }

    #[test]
    fn guests_keep_the_iot_access_the_role_grants() {
        let set = PolicySet::cognito_guest(vec![role(r#""iot:*""#)]);
        for (action, arn) in [
            ("iot:Connect", "arn:aws:iot:us-east-1:123456789012:client/g"),
            (
                "iot:Subscribe",
                "arn:aws:iot:us-east-1:123456789012:topicfilter/a/#",
            ),
            (
                "iot:AttachPolicy",
                "arn:aws:iot:us-east-1:123456789012:cert/x",
            ),
        ] {
            let r = decide(&set, action, arn);
            assert!(r.allowed(), "{action}: {}", r.explanation);
            // The deciding statement is the role's, the one a reader can change.
            assert_eq!(r.deciding.unwrap().to_string(), "GuestRole/Role");
        }
    }

    #[test]
    fn guests_lose_services_outside_both_lists() {
        let set = PolicySet::cognito_guest(vec![role(r#"["sts:AssumeRole","iam:*","ssm:*"]"#)]);
        for action in ["sts:AssumeRole", "iam:PassRole", "ssm:GetParameter"] {
            let r = decide(&set, action, "arn:aws:iam::123456789012:role/Admin");
            assert_eq!(r.decision, Decision::ImplicitDeny, "{action}");
            assert!(
                r.explanation.contains("Cognito guest session policies"),
                "{}",
                r.explanation
            );
        }
    }

    #[test]
    fn the_two_session_policies_are_a_union() {
        // rum is in the managed policy only, s3 in the inline list only: both survive, which
        // is what an intersection of the two could not give.
        let set = PolicySet::cognito_guest(vec![role(r#"["rum:PutRumEvents","s3:GetObject"]"#)]);
        assert!(
            decide(
                &set,
                "rum:PutRumEvents",
                "arn:aws:rum:us-east-1:123456789012:appmonitor/m"
            )
            .allowed()
        );
        assert!(decide(&set, "s3:GetObject", "arn:aws:s3:::bucket/key").allowed());
        // ... and the role still bounds them: s3:PutObject is in the inline list, not the role.
        assert!(!decide(&set, "s3:PutObject", "arn:aws:s3:::bucket/key").allowed());
    }

    #[test]
    fn without_session_policies_the_role_alone_decides() {
        let basic = PolicySet::CognitoUnauthenticated {
            role_policies: vec![role(r#""sts:AssumeRole""#)],
            session_policies: Vec::new(),
        };
        assert!(
            decide(
                &basic,
                "sts:AssumeRole",
                "arn:aws:iam::123456789012:role/Admin"
            )
            .allowed()
        );
    }
}
