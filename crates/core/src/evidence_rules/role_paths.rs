//! Evidence rules specific to the identity-pool and STS role paths (`assume-role`,
//! `web-identity`, `custom-role`): what an STS or Cognito answer proves beyond the generic API
//! rules (W*). They read the AWS error *type* (and, where Cognito gives one type to several
//! causes, its documented message), never the HTTP status alone. Rows `RP*` of
//! docs/evidence-rules.md.
//!
//! Sources (aws-iot-authz.md §9 and the Cognito developer guide):
//! - STS refuses a role whose trust policy does not admit the caller with 403 `AccessDenied`
//!   ("User: … is not authorized to perform: sts:AssumeRole on resource: …"; for the basic
//!   flow "Not authorized to perform sts:AssumeRoleWithWebIdentity", role-trust-and-permissions)
//!   — the generic rule W2.
//! - An identity pool with the basic flow disabled answers `GetOpenIdToken` with 400
//!   `InvalidParameterException` "Basic (classic) flow is not enabled, please use enhanced
//!   flow." — the generic rule W5.
//! - Role selection from tokens: "Use the GetCredentialsForIdentity CustomRoleArn parameter if
//!   it is set and it matches a role in the cognito:roles claim. If this parameter doesn't
//!   match a role in cognito:roles, deny access" (role-based-access-control); Cognito's
//!   refusals are `NotAuthorizedException` — which the generic rules read as a credential
//!   problem (W7), so for `custom-role` this module reads the message: a sign-in failure stays
//!   `credentials`, any other refusal answering CustomRoleArn is the role's refusal.
//!   `InvalidIdentityPoolConfigurationException` is STS refusing the role Cognito tried to
//!   assume for the identity ("Your role trust policy must grant AssumeRoleWithWebIdentity
//!   permissions to cognito-identity.amazonaws.com", API reference).
//! - Web-identity token problems (`InvalidIdentityToken`, `IDPRejectedClaim`,
//!   `IDPCommunicationError`) and Cognito's unknown identity (`ResourceNotFoundException`,
//!   HTTP 400) are authentication, not authorization.

use crate::verdict::{ApiAnswer, ProbeAction, Reason, Verdict};

/// Cognito `NotAuthorizedException` messages about the caller's own sign-in (a bad or expired
/// id token, Logins not matching the identity, guests not allowed), not about the role.
const SIGN_IN_REFUSALS: [&str; 5] = [
    "invalid login token",
    "logins don't match",
    "token is expired",
    "unauthenticated access is not supported",
    "access to identity",
];

/// Error types of STS's web-identity federation and Cognito that say the token or identity
/// is bad, not that the role refused.
const TOKEN_PROBLEMS: [&str; 4] = [
    "InvalidIdentityToken",
    "IDPRejectedClaim",
    "IDPCommunicationError",
    "ResourceNotFoundException",
];

fn message(a: &ApiAnswer) -> String {
    a.message.as_deref().unwrap_or("").to_ascii_lowercase()
}

fn is_role_arn(resource: &str) -> bool {
    resource.starts_with("arn:") && resource.contains(":iam::") && resource.contains(":role/")
}

/// Cognito's refusal of the role itself: `NotAuthorizedException` (not about the sign-in) or
/// `InvalidIdentityPoolConfigurationException`, answering a request about an IAM role.
pub fn is_role_refusal(a: &ApiAnswer) -> bool {
    let t = a.error_type.as_deref().unwrap_or("");
    !(200..=299).contains(&a.status)
        && a.status < 500
        && is_role_arn(&a.resource)
        && match t {
            "NotAuthorizedException" => {
                let m = message(a);
                !SIGN_IN_REFUSALS.iter().any(|s| m.contains(s))
            }
            "InvalidIdentityPoolConfigurationException" => true,
            _ => false,
        }
}

/// The role-path readings of an answer (`None`: the generic API rules decide).
pub fn classify(action: ProbeAction, a: &ApiAnswer) -> Option<Verdict> {
    if !matches!(
        action,
        ProbeAction::AssumeRole | ProbeAction::WebIdentity | ProbeAction::CustomRole
    ) || (200..=299).contains(&a.status)
        || a.status >= 500
        // 404: the generic W4 (STS and Cognito answer errors with 400 and 403).
        || a.status == 404
        || a.status == 429
    {
        return None;
    }
    let t = a.error_type.as_deref().unwrap_or("");
    if TOKEN_PROBLEMS.contains(&t) {
        // RP3
        return Some(Verdict::Inconclusive(Reason::Credentials));
    }
    // RP2: a role refusal answering CustomRoleArn.
    (action == ProbeAction::CustomRole && is_role_refusal(a)).then_some(Verdict::Denied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence_rules::classify_api;
    use crate::verdict::Classified;

    const ROLE: &str = "arn:aws:iam::123456789012:role/Admin";

    fn err(status: u16, code: &str, message: &str) -> ApiAnswer {
        ApiAnswer::new(status, Some(code), Some(message), ROLE)
    }

    use ProbeAction::{AssumeRole, CustomRole, WebIdentity};
    use Verdict::{Allowed, Denied, Inconclusive as Inc};

    /// (rule, action, answer, verdict) through the whole API classification: the role-path
    /// table of docs/evidence-rules.md (generic rules cited where they decide).
    fn rows() -> Vec<(&'static str, ProbeAction, ApiAnswer, Verdict)> {
        vec![
            (
                "RP1",
                AssumeRole,
                err(
                    403,
                    "AccessDenied",
                    "User: arn:aws:iam::123456789012:user/u is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/Admin",
                ),
                Denied,
            ),
            (
                "RP1",
                WebIdentity,
                err(
                    403,
                    "AccessDenied",
                    "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                ),
                Denied,
            ),
            (
                "RP1",
                WebIdentity,
                err(
                    400,
                    "InvalidParameterException",
                    "Basic (classic) flow is not enabled, please use enhanced flow.",
                ),
                Denied,
            ),
            ("RP1", AssumeRole, ApiAnswer::ok(200, ROLE), Allowed),
            ("RP1", WebIdentity, ApiAnswer::ok(200, ROLE), Allowed),
            ("RP1", CustomRole, ApiAnswer::ok(200, ROLE), Allowed),
            (
                "RP2",
                CustomRole,
                err(
                    400,
                    "NotAuthorizedException",
                    "The role arn:aws:iam::123456789012:role/Admin is not in the token's cognito:roles.",
                ),
                Denied,
            ),
            (
                "RP2",
                CustomRole,
                err(
                    400,
                    "InvalidIdentityPoolConfigurationException",
                    "Invalid identity pool configuration. Check assigned IAM roles for this pool.",
                ),
                Denied,
            ),
            (
                "RP3",
                CustomRole,
                err(
                    400,
                    "NotAuthorizedException",
                    "Invalid login token. Token expired: 1700000000 >= 1600000000",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP3",
                CustomRole,
                err(
                    400,
                    "NotAuthorizedException",
                    "Logins don't match. Please include at least one valid login for this identity or identity pool.",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP3",
                WebIdentity,
                err(
                    400,
                    "NotAuthorizedException",
                    "Unauthenticated access is not supported for this identity pool.",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP3",
                WebIdentity,
                err(
                    400,
                    "NotAuthorizedException",
                    "Not a refusal of the role: the basic flow's GetOpenIdToken",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP3",
                WebIdentity,
                err(
                    400,
                    "InvalidIdentityToken",
                    "Couldn't retrieve verification key from your identity provider",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP3",
                WebIdentity,
                err(400, "IDPRejectedClaim", "Incorrect token audience"),
                Inc(Reason::Credentials),
            ),
            (
                "RP3",
                CustomRole,
                err(
                    400,
                    "ResourceNotFoundException",
                    "Identity 'us-east-1:x' not found.",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP3",
                AssumeRole,
                err(
                    403,
                    "ExpiredToken",
                    "The security token included in the request is expired",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP3",
                AssumeRole,
                err(
                    403,
                    "InvalidClientTokenId",
                    "The security token included in the request is invalid.",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP4",
                CustomRole,
                err(
                    400,
                    "InvalidParameterException",
                    "CustomRoleArn is not supported by this identity pool's role mapping.",
                ),
                Inc(Reason::InvalidRequest),
            ),
            (
                "RP4",
                AssumeRole,
                err(
                    400,
                    "ValidationError",
                    "1 validation error detected: Value 'x' at 'roleArn'",
                ),
                Inc(Reason::InvalidRequest),
            ),
            ("RP4", AssumeRole, err(403, "", ""), Inc(Reason::Protocol)),
            (
                "RP4",
                AssumeRole,
                err(400, "Throttling", "Rate exceeded"),
                Inc(Reason::Throttled),
            ),
            (
                "RP4",
                CustomRole,
                err(400, "TooManyRequestsException", "Rate exceeded"),
                Inc(Reason::Throttled),
            ),
            (
                "RP4",
                CustomRole,
                err(500, "InternalErrorException", ""),
                Inc(Reason::ServerError),
            ),
            (
                "RP4",
                CustomRole,
                err(503, "ServiceUnavailable", "x"),
                Inc(Reason::ServerError),
            ),
        ]
    }

    fn verdict(action: ProbeAction, a: &ApiAnswer) -> Verdict {
        match classify(action, a) {
            Some(v) => v,
            None => match classify_api(action, a) {
                Classified::Final(v) => v,
                other => panic!("role paths never wait on a control to decide: {other:?}"),
            },
        }
    }

    #[test]
    fn every_row_holds() {
        for (id, action, answer, want) in rows() {
            assert_eq!(verdict(action, &answer), want, "{id}: {action} {answer:?}");
        }
    }

    /// The page lists exactly the rule ids the table tests.
    #[test]
    fn docs_list_the_tested_rule_ids() {
        let page = include_str!("../../../../docs/evidence-rules.md");
        let tested: std::collections::BTreeSet<String> =
            rows().iter().map(|r| r.0.to_string()).collect();
        let listed: std::collections::BTreeSet<String> = page
            .lines()
            .filter_map(|l| l.strip_prefix("| RP"))
            .filter_map(|rest| rest.split(' ').next())
            .map(|n| format!("RP{n}"))
            .collect();
        assert_eq!(listed, tested);
    }

    /// Every role-path denial rests on an explicit refusal (the fuzz target's promise).
    #[test]
    fn denials_are_explicit_refusals() {
        for (id, _, answer, want) in rows() {
            if want == Denied {
                assert!(
                    crate::evidence_rules::is_explicit_api_refusal(&answer)
                        || is_role_refusal(&answer),
                    "{id}: {answer:?}"
                );
            }
        }
    }

    #[test]
    fn cognito_refusals_count_only_for_custom_role_and_roles() {
        let a = err(400, "NotAuthorizedException", "Access denied");
        assert_eq!(verdict(CustomRole, &a), Denied);
        assert_eq!(verdict(WebIdentity, &a), Inc(Reason::Credentials));
        assert_eq!(verdict(AssumeRole, &a), Inc(Reason::Credentials));
        let not_a_role = ApiAnswer::new(
            400,
            Some("NotAuthorizedException"),
            Some("Access denied"),
            "arn:aws:iot:us-east-1:123456789012:thing/x",
        );
        assert!(!is_role_refusal(&not_a_role));
        assert_eq!(classify(ProbeAction::ListThings, &a), None);
    }
}
