//! Evidence rules of the identity-pool and STS role paths (`assume-role`, `web-identity`,
//! `custom-role`): what an STS or Cognito answer proves. They read the AWS error *type* (and,
//! where AWS gives one type to several causes, its documented message), never the HTTP status
//! alone. Rows `RP*` of docs/evidence-rules.md.
//!
//! Sources (aws-iot-authz.md §9 and the Cognito developer guide):
//! - STS refuses a role whose trust policy does not admit the caller with 403 `AccessDenied`
//!   ("User: … is not authorized to perform: sts:AssumeRole on resource: …"; for the basic
//!   flow "Not authorized to perform sts:AssumeRoleWithWebIdentity", role-trust-and-permissions).
//! - An identity pool with the basic flow disabled answers `GetOpenIdToken` with 400
//!   `InvalidParameterException` "Basic (classic) flow is not enabled, please use enhanced
//!   flow." — the pool refuses the whole path.
//! - Role selection from tokens: "Use the GetCredentialsForIdentity CustomRoleArn parameter if
//!   it is set and it matches a role in the cognito:roles claim. If this parameter doesn't
//!   match a role in cognito:roles, deny access" (role-based-access-control); Cognito's
//!   refusals are `NotAuthorizedException`. `InvalidIdentityPoolConfigurationException` is
//!   STS refusing the role Cognito tried to assume for the identity (the role's trust policy);
//!   `InvalidParameterException` is a validation error (e.g. CustomRoleArn where the pool
//!   does not choose roles from tokens): inconclusive, it says nothing about the role.

use crate::verdict::{Reason, Verdict};

/// The AWS call whose answer decided a role-path probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleCall {
    /// sts:AssumeRole with the identity's credentials (`assume-role`).
    AssumeRole,
    /// cognito-identity GetId (sign-in to the identity pool; never the call under test).
    GetId,
    /// cognito-identity GetOpenIdToken (the basic flow's first half).
    GetOpenIdToken,
    /// sts:AssumeRoleWithWebIdentity with the pool's OpenID token (the basic flow's second half).
    AssumeRoleWithWebIdentity,
    /// cognito-identity GetCredentialsForIdentity with CustomRoleArn (`custom-role`).
    GetCredentialsForIdentity,
    /// sts:GetCallerIdentity with credentials Cognito issued (which role they are for).
    GetCallerIdentity,
}

impl RoleCall {
    pub const fn as_str(self) -> &'static str {
        match self {
            RoleCall::AssumeRole => "sts:AssumeRole",
            RoleCall::GetId => "cognito-identity:GetId",
            RoleCall::GetOpenIdToken => "cognito-identity:GetOpenIdToken",
            RoleCall::AssumeRoleWithWebIdentity => "sts:AssumeRoleWithWebIdentity",
            RoleCall::GetCredentialsForIdentity => "cognito-identity:GetCredentialsForIdentity",
            RoleCall::GetCallerIdentity => "sts:GetCallerIdentity",
        }
    }
}

/// What the service answered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "answer")]
pub enum RoleAnswer {
    /// Credentials for the role under test (checked against the session ARN).
    Granted,
    /// Credentials, but for another role than the one under test (Cognito ignoring
    /// CustomRoleArn and issuing the default role).
    OtherRole { role: String },
    /// A service error: HTTP status, error type (`x-amzn-ErrorType` / `__type` / `<Code>`), message.
    Error {
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },
}

/// The message AWS gives when an identity pool does not allow the basic flow.
pub const BASIC_FLOW_DISABLED: &str = "Basic (classic) flow is not enabled";

/// Error types of throttling and quotas (never a denial).
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "LimitExceededException",
    "RequestLimitExceeded",
];

/// Error types that say the caller's own credentials or tokens are bad, expired or unknown:
/// authentication, not authorization.
const AUTHENTICATION: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "InvalidIdentityToken",
    "IDPRejectedClaim",
    "IDPCommunicationError",
    "UnrecognizedClientException",
    "ResourceNotFoundException",
];

/// Cognito `NotAuthorizedException` messages about the caller's own sign-in (a bad or
/// expired id token, Logins not matching the identity), not about the role.
const SIGN_IN_REFUSALS: &[&str] = &[
    "Invalid login token",
    "Logins don't match",
    "Token is expired",
    "Unauthenticated access is not supported",
    "Access to Identity",
];

/// An answer → verdict for a role-path probe. `denied` only from the service's refusal of the
/// role (or of the whole path) answering the call under test; everything about the caller's
/// own credentials, sign-in, validation, throttling or server faults is inconclusive.
pub fn classify(call: RoleCall, answer: &RoleAnswer) -> Verdict {
    use Verdict::{Allowed, Denied, Inconclusive as Inc};
    let (status, code, message) = match answer {
        RoleAnswer::Granted => {
            return match call {
                RoleCall::AssumeRole
                | RoleCall::AssumeRoleWithWebIdentity
                | RoleCall::GetCredentialsForIdentity => Allowed,
                // Sign-in steps are never the answer to the probe's request.
                _ => Inc(Reason::Protocol),
            };
        }
        // The service answered the request with credentials for another role: it did not
        // hand out the one under test (RP9).
        RoleAnswer::OtherRole { .. } => {
            return match call {
                RoleCall::GetCredentialsForIdentity
                | RoleCall::AssumeRole
                | RoleCall::AssumeRoleWithWebIdentity => Denied,
                _ => Inc(Reason::Protocol),
            };
        }
        RoleAnswer::Error {
            status,
            code,
            message,
        } => (
            *status,
            code.as_deref().unwrap_or(""),
            message.as_deref().unwrap_or(""),
        ),
    };
    if status == 429 || THROTTLING.contains(&code) {
        return Inc(Reason::Throttled);
    }
    if status >= 500 {
        return Inc(Reason::Protocol);
    }
    if AUTHENTICATION.contains(&code) {
        return Inc(Reason::Credentials);
    }
    match (call, code) {
        // STS's refusal of the role: its trust policy (or the caller's IAM policy) does not
        // let this caller assume it (RP1, RP5).
        (RoleCall::AssumeRole | RoleCall::AssumeRoleWithWebIdentity, "AccessDenied") => Denied,
        // The pool refuses the basic flow altogether (RP4).
        (RoleCall::GetOpenIdToken, "InvalidParameterException")
            if message.contains(BASIC_FLOW_DISABLED) =>
        {
            Denied
        }
        // Sign-in refusals on the way to the call under test: the identity's own access,
        // which its control shows (RP3).
        (RoleCall::GetId | RoleCall::GetOpenIdToken, "NotAuthorizedException") => {
            Inc(Reason::Credentials)
        }
        (RoleCall::GetCredentialsForIdentity, "NotAuthorizedException")
            if SIGN_IN_REFUSALS.iter().any(|m| message.contains(m)) =>
        {
            Inc(Reason::Credentials)
        }
        // Cognito denies a CustomRoleArn the token does not carry (RP7); STS refused the role
        // Cognito tried to assume for this identity (RP8).
        (
            RoleCall::GetCredentialsForIdentity,
            "NotAuthorizedException" | "InvalidIdentityPoolConfigurationException",
        ) => Denied,
        // The issued credentials could not say who they are: no proof either way.
        (RoleCall::GetCallerIdentity, _) => Inc(Reason::Credentials),
        // Validation and everything else (RP10).
        _ => Inc(Reason::Protocol),
    }
}

/// Whether an answer is the service's explicit refusal (for the fuzz target's promise:
/// nothing is denied without one).
pub fn is_explicit_refusal(call: RoleCall, answer: &RoleAnswer) -> bool {
    classify(call, answer) == Verdict::Denied
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, code: &str, message: &str) -> RoleAnswer {
        RoleAnswer::Error {
            status,
            code: Some(code.into()),
            message: Some(message.into()),
        }
    }

    use RoleCall::*;
    use Verdict::{Allowed, Denied, Inconclusive as Inc};

    /// (rule, call, answer, verdict): the rows of docs/evidence-rules.md's role-path table.
    fn rows() -> Vec<(&'static str, RoleCall, RoleAnswer, Verdict)> {
        vec![
            (
                "RP1",
                AssumeRole,
                err(
                    403,
                    "AccessDenied",
                    "User: arn:aws:iam::1:user/u is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::1:role/Admin",
                ),
                Denied,
            ),
            ("RP2", AssumeRole, RoleAnswer::Granted, Allowed),
            (
                "RP2",
                AssumeRoleWithWebIdentity,
                RoleAnswer::Granted,
                Allowed,
            ),
            (
                "RP2",
                GetCredentialsForIdentity,
                RoleAnswer::Granted,
                Allowed,
            ),
            (
                "RP3",
                GetOpenIdToken,
                err(400, "NotAuthorizedException", "Invalid login token."),
                Inc(Reason::Credentials),
            ),
            (
                "RP3",
                GetId,
                err(
                    400,
                    "NotAuthorizedException",
                    "Unauthenticated access is not supported for this identity pool.",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP3",
                GetCredentialsForIdentity,
                err(
                    400,
                    "NotAuthorizedException",
                    "Logins don't match. Please include at least one valid login for this identity or identity pool.",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP4",
                GetOpenIdToken,
                err(
                    400,
                    "InvalidParameterException",
                    "Basic (classic) flow is not enabled, please use enhanced flow.",
                ),
                Denied,
            ),
            (
                "RP5",
                AssumeRoleWithWebIdentity,
                err(
                    403,
                    "AccessDenied",
                    "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                ),
                Denied,
            ),
            (
                "RP6",
                AssumeRole,
                err(
                    403,
                    "ExpiredToken",
                    "The security token included in the request is expired",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP6",
                AssumeRole,
                err(
                    403,
                    "InvalidClientTokenId",
                    "The security token included in the request is invalid.",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP6",
                AssumeRoleWithWebIdentity,
                err(
                    400,
                    "InvalidIdentityToken",
                    "Couldn't retrieve verification key",
                ),
                Inc(Reason::Credentials),
            ),
            (
                "RP6",
                AssumeRoleWithWebIdentity,
                err(400, "ExpiredTokenException", "Token expired"),
                Inc(Reason::Credentials),
            ),
            (
                "RP6",
                GetCallerIdentity,
                err(403, "InvalidClientTokenId", "invalid"),
                Inc(Reason::Credentials),
            ),
            (
                "RP7",
                GetCredentialsForIdentity,
                err(
                    400,
                    "NotAuthorizedException",
                    "The role arn:aws:iam::1:role/Admin is not in the token's cognito:roles.",
                ),
                Denied,
            ),
            (
                "RP8",
                GetCredentialsForIdentity,
                err(
                    400,
                    "InvalidIdentityPoolConfigurationException",
                    "Invalid identity pool configuration. Check assigned IAM roles for this pool.",
                ),
                Denied,
            ),
            (
                "RP9",
                GetCredentialsForIdentity,
                RoleAnswer::OtherRole {
                    role: "CognitoAuthRole".into(),
                },
                Denied,
            ),
            (
                "RP10",
                GetCredentialsForIdentity,
                err(
                    400,
                    "InvalidParameterException",
                    "CustomRoleArn is not supported by this identity pool's role mapping.",
                ),
                Inc(Reason::Protocol),
            ),
            (
                "RP10",
                GetOpenIdToken,
                err(
                    400,
                    "InvalidParameterException",
                    "1 validation error detected",
                ),
                Inc(Reason::Protocol),
            ),
            (
                "RP10",
                AssumeRole,
                err(
                    400,
                    "ValidationError",
                    "1 validation error detected: Value 'x' at 'roleArn'",
                ),
                Inc(Reason::Protocol),
            ),
            ("RP10", AssumeRole, err(403, "", ""), Inc(Reason::Protocol)),
            (
                "RP11",
                AssumeRole,
                err(400, "Throttling", "Rate exceeded"),
                Inc(Reason::Throttled),
            ),
            (
                "RP11",
                GetCredentialsForIdentity,
                err(400, "TooManyRequestsException", "Rate exceeded"),
                Inc(Reason::Throttled),
            ),
            (
                "RP11",
                GetOpenIdToken,
                err(429, "", ""),
                Inc(Reason::Throttled),
            ),
            (
                "RP12",
                AssumeRole,
                err(500, "InternalFailure", ""),
                Inc(Reason::Protocol),
            ),
            (
                "RP12",
                GetCredentialsForIdentity,
                err(503, "AccessDenied", ""),
                Inc(Reason::Protocol),
            ),
            ("RP13", GetId, RoleAnswer::Granted, Inc(Reason::Protocol)),
        ]
    }

    #[test]
    fn every_row_holds() {
        for (id, call, answer, want) in rows() {
            assert_eq!(classify(call, &answer), want, "{id}: {call:?} {answer:?}");
        }
    }

    /// The page lists exactly the rule ids the table tests.
    #[test]
    fn docs_list_the_tested_rule_ids() {
        let page = include_str!("../../../../docs/evidence-rules.md");
        let tested: std::collections::BTreeSet<&str> = rows().iter().map(|r| r.0).collect();
        for id in &tested {
            assert!(
                page.contains(&format!("| {id} |")),
                "docs/evidence-rules.md lacks row {id}"
            );
        }
        let listed: std::collections::BTreeSet<String> = page
            .lines()
            .filter_map(|l| l.strip_prefix("| RP"))
            .filter_map(|rest| rest.split(' ').next())
            .map(|n| format!("RP{n}"))
            .collect();
        let tested: std::collections::BTreeSet<String> =
            tested.iter().map(|s| s.to_string()).collect();
        assert_eq!(listed, tested);
    }

    #[test]
    fn a_403_without_the_refusal_type_is_never_a_denial() {
        for call in [
            AssumeRole,
            AssumeRoleWithWebIdentity,
            GetCredentialsForIdentity,
            GetOpenIdToken,
        ] {
            for code in [
                "",
                "SignatureDoesNotMatch",
                "ForbiddenException",
                "UnknownError",
            ] {
                assert_ne!(
                    classify(call, &err(403, code, "")),
                    Denied,
                    "{call:?} {code}"
                );
            }
        }
    }
}
