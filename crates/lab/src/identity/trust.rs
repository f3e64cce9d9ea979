//! Role trust policies and the identity-pool role paths, decided by pure functions the lab's
//! handlers and the coordinator's `simulate` share (one decide function per flow):
//!
//! - [`decide_assume_role`]: `sts:AssumeRole` — the role's trust policy AND, where IAM needs it,
//!   the caller's own policies;
//! - [`decide_web_identity`]: `sts:AssumeRoleWithWebIdentity` with a Cognito OpenID token
//!   (the basic flow's second half, and the trust check behind the enhanced flow);
//! - [`decide_classic_flow`]: whether `GetOpenIdToken` may run at all;
//! - [`decide_custom_role`]: which role `GetCredentialsForIdentity` uses (`CustomRoleArn`,
//!   role selection from the id token's `cognito:roles` / `cognito:preferred_role`).
//!
//! Trust policies are IAM resource-based policies: each statement names a `Principal`
//! (`AWS`: account, user, role or session ARNs or `*`; `Federated`; `Service`; or `"*"`) and has
//! no `Resource`. Everything after the principal match (actions, `Condition` with
//! `ForAnyValue:`/`ForAllValues:` and policy variables) is evaluated by the policy engine.
//!
//! Same-account AssumeRole (STS API reference, AssumeRole: "To allow a user to assume a role
//! in the same account, you can do either of the following: attach a policy to the user that
//! allows the user to call AssumeRole (as long as the role's trust policy trusts the
//! account); add the user as a principal directly in the role's trust policy"; IAM policy
//! evaluation logic: "IAM role trust policies and KMS key policies are exceptions ... they must
//! explicitly allow access for principals"):
//! - the trust policy must allow (an explicit deny in it wins);
//! - trusted through the account (`arn:aws:iam::ACCT:root` / `ACCT`): the caller's identity
//!   policies must allow `sts:AssumeRole` on the role ARN as well (session policies and
//!   Cognito's guest scope-down included: guests lose `sts:*` there);
//! - trusted by name (user or role ARN, or `*`): the trust policy suffices, but an explicit
//!   deny in the caller's policies still wins, and a session's session policies still bound
//!   it (IAM: a resource-based policy naming the role ARN is filtered by the session policy);
//! - trusted by the exact session ARN: the trust policy suffices (only explicit denies apply).

use std::sync::Arc;

use iot_canary_policy::{Decision, Policy, PolicySet, RequestContext, authorize_action};
use serde_json::{Map, Value};

use super::errors::AwsError;
use crate::scenario::{AmbiguousRoleResolution, Cognito};

/// The OpenID issuer (and `Federated` principal) of Cognito identity-pool tokens.
pub const COGNITO_IDENTITY: &str = "cognito-identity.amazonaws.com";
pub const ACTION_ASSUME_ROLE: &str = "sts:AssumeRole";
pub const ACTION_WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trust policy {policy}: {path}: {message}")]
pub struct TrustPolicyError {
    pub policy: String,
    /// JSON path such as `$.Statement[0].Principal`.
    pub path: String,
    pub message: String,
}

/// `Principal` as written in one statement.
#[derive(Debug, Clone, Default, PartialEq)]
struct Principals {
    /// `"Principal": "*"`: everyone, federated callers included.
    everyone: bool,
    aws: Vec<String>,
    federated: Vec<String>,
    service: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct TrustStatement {
    label: String,
    deny: bool,
    principals: Principals,
    /// The statement without `Principal`, with `Resource: *` (the role), for the engine.
    policy: Arc<Policy>,
}

/// A parsed role trust policy.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustPolicy {
    /// `RoleName trust policy`: how explanations name it.
    pub name: String,
    statements: Vec<TrustStatement>,
}

fn principal_values(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

fn valid_aws_principal(p: &str) -> bool {
    p == "*"
        || (p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()))
        || p.starts_with("arn:aws:iam::")
        || p.starts_with("arn:aws:sts::")
}

impl TrustPolicy {
    /// Parses a trust policy (IAM grammar for resource-based policies; the statement body is
    /// checked by the policy engine). `role` names the policy in errors and explanations.
    pub fn parse(role: &str, json: &str) -> Result<TrustPolicy, TrustPolicyError> {
        let name = format!("{role} trust policy");
        let fail = |path: String, message: String| TrustPolicyError {
            policy: name.clone(),
            path,
            message,
        };
        let doc: Value = serde_json::from_str(json)
            .map_err(|e| fail("$".into(), format!("not valid JSON: {e}")))?;
        let Value::Object(top) = doc else {
            return Err(fail("$".into(), "must be a JSON object".into()));
        };
        let version = top.get("Version").cloned();
        let items: Vec<Value> = match top.get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            Some(o @ Value::Object(_)) => vec![o.clone()],
            _ => return Err(fail("$.Statement".into(), "missing `Statement`".into())),
        };
        let mut statements = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("$.Statement[{i}]");
            let Value::Object(obj) = item else {
                return Err(fail(path, "a statement must be a JSON object".into()));
            };
            if obj.contains_key("NotPrincipal") {
                return Err(fail(
                    format!("{path}.NotPrincipal"),
                    "NotPrincipal is not supported by the lab in trust policies".into(),
                ));
            }
            if obj.contains_key("Resource") || obj.contains_key("NotResource") {
                // IAM's MalformedPolicyDocument wording for trust policies.
                return Err(fail(
                    format!("{path}.Resource"),
                    "Has prohibited field Resource".into(),
                ));
            }
            let principals = match obj.get("Principal") {
                None => {
                    return Err(fail(path, "Missing required field Principal".into()));
                }
                Some(Value::String(s)) if s == "*" => Principals {
                    everyone: true,
                    ..Default::default()
                },
                Some(Value::Object(m)) => {
                    let mut p = Principals::default();
                    for (k, v) in m {
                        let vals = principal_values(v).ok_or_else(|| {
                            fail(
                                format!("{path}.Principal.{k}"),
                                "must be a string or a list of strings".into(),
                            )
                        })?;
                        match k.as_str() {
                            "AWS" => {
                                if let Some(bad) = vals.iter().find(|p| !valid_aws_principal(p)) {
                                    return Err(fail(
                                        format!("{path}.Principal.AWS"),
                                        format!("Invalid principal in policy: \"AWS\":\"{bad}\""),
                                    ));
                                }
                                p.aws = vals;
                            }
                            "Federated" => p.federated = vals,
                            "Service" => p.service = vals,
                            other => {
                                return Err(fail(
                                    format!("{path}.Principal.{other}"),
                                    "unknown principal type (AWS, Federated, Service)".into(),
                                ));
                            }
                        }
                    }
                    p
                }
                Some(other) => {
                    return Err(fail(
                        format!("{path}.Principal"),
                        format!("must be \"*\" or an object, got {other}"),
                    ));
                }
            };
            let label = obj
                .get("Sid")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{i}"));
            let mut body: Map<String, Value> = obj
                .iter()
                .filter(|(k, _)| k.as_str() != "Principal")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            body.insert("Sid".into(), Value::String(label.clone()));
            body.insert("Resource".into(), Value::String("*".into()));
            let mut doc = Map::new();
            if let Some(v) = &version {
                doc.insert("Version".into(), v.clone());
            }
            doc.insert("Statement".into(), Value::Array(vec![Value::Object(body)]));
            let policy = Policy::parse(&name, &Value::Object(doc).to_string()).map_err(|e| {
                let iot_canary_policy::PolicyError::Invalid {
                    path: p, message, ..
                } = e;
                fail(p.replacen("$.Statement[0]", &path, 1), message)
            })?;
            let deny = obj.get("Effect").and_then(Value::as_str) == Some("Deny");
            statements.push(TrustStatement {
                label,
                deny,
                principals,
                policy: Arc::new(policy),
            });
        }
        Ok(TrustPolicy { name, statements })
    }

    /// The `trusted = [...]` shorthand: IAM user names and role names are trusted by ARN,
    /// `"*"` is `{"AWS": "*"}`. `users` tells user names from role names.
    pub fn from_trusted(role: &str, account: &str, trusted: &[String], users: &[&str]) -> Self {
        Self::derived(role, account, trusted, users, None)
    }

    /// The trust policy the Cognito console writes for an identity pool's role: the pool's
    /// tokens only (`aud`), and only the given `amr` (`authenticated` / `unauthenticated`).
    pub fn cognito_pool_role(role: &str, identity_pool_id: &str, amr: &str) -> Self {
        Self::derived(role, "", &[], &[], Some((identity_pool_id, &[amr])))
    }

    /// A role without `trust_policy`: the `trusted` shorthand's statement and, for an
    /// identity pool's role, the console's statement for `(pool id, amr values)` (a role
    /// serving both signed-in users and guests accepts both).
    pub fn derived(
        role: &str,
        account: &str,
        trusted: &[String],
        users: &[&str],
        pool: Option<(&str, &[&str])>,
    ) -> Self {
        let aws: Vec<Value> = trusted
            .iter()
            .map(|t| {
                if t == "*" {
                    Value::String("*".into())
                } else if users.contains(&t.as_str()) {
                    Value::String(format!("arn:aws:iam::{account}:user/{t}"))
                } else {
                    Value::String(format!("arn:aws:iam::{account}:role/{t}"))
                }
            })
            .collect();
        let mut statements = Vec::new();
        if !aws.is_empty() {
            statements.push(serde_json::json!({
                "Sid": "Trusted",
                "Effect": "Allow",
                "Principal": { "AWS": aws },
                "Action": ACTION_ASSUME_ROLE,
            }));
        }
        if let Some((pool_id, amr)) = pool {
            statements.push(serde_json::json!({
                "Sid": "CognitoPoolRole",
                "Effect": "Allow",
                "Principal": { "Federated": COGNITO_IDENTITY },
                "Action": ACTION_WEB_IDENTITY,
                "Condition": {
                    "StringEquals": { "cognito-identity.amazonaws.com:aud": pool_id },
                    "ForAnyValue:StringLike": { "cognito-identity.amazonaws.com:amr": amr },
                },
            }));
        }
        let json = serde_json::json!({ "Version": "2012-10-17", "Statement": statements });
        Self::parse(role, &json.to_string())
            // Invariant: the statements above use valid principals, one action and known
            // condition operators; an empty policy (nobody) is the safe fallback regardless.
            .unwrap_or(TrustPolicy {
                name: format!("{role} trust policy"),
                statements: Vec::new(),
            })
    }
}

/// An AWS principal asking to AssumeRole (same account as the role in the lab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCaller {
    pub account: String,
    /// `arn:aws:iam::ACCT:user/NAME` or, for role sessions, `arn:aws:iam::ACCT:role/NAME`.
    pub principal_arn: String,
    /// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION` for role sessions.
    pub session_arn: Option<String>,
}

/// The claims of a Cognito identity-pool OpenID token that trust conditions read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebIdentity {
    /// `iss` without scheme: `cognito-identity.amazonaws.com`.
    pub provider: String,
    /// `aud`: the identity pool id.
    pub aud: String,
    /// `sub`: the identity id.
    pub sub: String,
    /// `amr`: `["authenticated", PROVIDER, ...]` or `["unauthenticated"]`.
    pub amr: Vec<String>,
}

/// How strongly a trust statement names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// `arn:aws:iam::ACCT:root` or `ACCT`: the account delegates to its IAM policies.
    Account,
    /// The caller's user or role ARN, or `*`.
    Principal,
    /// The exact role-session ARN.
    Session,
}

/// A decision with the reason a reader can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustDecision {
    pub allowed: bool,
    pub explanation: String,
}

enum Caller<'a> {
    Aws(&'a AwsCaller),
    Web(&'a WebIdentity),
}

fn principal_grant(p: &Principals, caller: &Caller<'_>) -> Option<Grant> {
    if p.everyone {
        return Some(Grant::Principal);
    }
    match caller {
        Caller::Web(w) => p
            .federated
            .iter()
            .any(|f| f == &w.provider)
            .then_some(Grant::Principal),
        Caller::Aws(c) => {
            let mut best: Option<Grant> = None;
            for a in &p.aws {
                let g = if a == "*" || *a == c.principal_arn {
                    Some(Grant::Principal)
                } else if c.session_arn.as_deref() == Some(a.as_str()) {
                    Some(Grant::Session)
                } else if *a == c.account || *a == format!("arn:aws:iam::{}:root", c.account) {
                    Some(Grant::Account)
                } else {
                    None
                };
                best = match (best, g) {
                    (Some(Grant::Session), _) | (_, Some(Grant::Session)) => Some(Grant::Session),
                    (Some(Grant::Principal), _) | (_, Some(Grant::Principal)) => {
                        Some(Grant::Principal)
                    }
                    (b, g) => b.or(g),
                };
            }
            best
        }
    }
}

enum TrustOutcome {
    Denied(String),
    NoAllow,
    Allowed(Grant, String),
}

fn evaluate(
    trust: &TrustPolicy,
    caller: &Caller<'_>,
    action: &str,
    role_arn: &str,
    ctx: &RequestContext,
) -> TrustOutcome {
    let mut allow: Option<(Grant, String)> = None;
    for s in &trust.statements {
        let Some(grant) = principal_grant(&s.principals, caller) else {
            continue;
        };
        let set = PolicySet::Iam {
            policies: vec![s.policy.clone()],
        };
        let r = authorize_action(&set, action, role_arn, ctx);
        match (s.deny, r.decision) {
            (true, Decision::ExplicitDeny) => return TrustOutcome::Denied(s.label.clone()),
            (false, Decision::Allowed) => {
                let better = match &allow {
                    None => true,
                    Some((g, _)) => rank(grant) > rank(*g),
                };
                if better {
                    allow = Some((grant, s.label.clone()));
                }
            }
            _ => {}
        }
    }
    match allow {
        Some((g, l)) => TrustOutcome::Allowed(g, l),
        None => TrustOutcome::NoAllow,
    }
}

fn rank(g: Grant) -> u8 {
    match g {
        Grant::Account => 0,
        Grant::Principal => 1,
        Grant::Session => 2,
    }
}

/// sts:* is decided by IAM alone: an authenticated Cognito identity's IoT policy does not
/// apply to it (only to AWS IoT data-plane actions), so its identity side is the pool role.
pub fn iam_side(set: &PolicySet) -> PolicySet {
    match set {
        PolicySet::CognitoAuthenticated { role_policies, .. } => PolicySet::Iam {
            policies: role_policies.clone(),
        },
        other => other.clone(),
    }
}

/// The session layer of a set, if it has one (STS session policies, Cognito's guest
/// scope-down).
fn session_layer(set: &PolicySet) -> Option<&[Arc<Policy>]> {
    match set {
        PolicySet::AssumedRole {
            session_policies, ..
        } => Some(session_policies),
        PolicySet::CognitoUnauthenticated {
            session_policies, ..
        } if !session_policies.is_empty() => Some(session_policies),
        _ => None,
    }
}

/// The request context of an AssumeRole call: the caller's context plus the global keys
/// trust conditions commonly read.
pub fn assume_role_context(base: &RequestContext, caller: &AwsCaller) -> RequestContext {
    let mut ctx = base.clone();
    ctx.values.insert(
        "aws:principalarn".into(),
        vec![caller.principal_arn.clone()],
    );
    ctx.values
        .insert("aws:principalaccount".into(), vec![caller.account.clone()]);
    ctx
}

/// `sts:AssumeRole` by an AWS principal: trust policy and, where IAM needs it, the caller's
/// policies (`identity` is the caller's policy set as the lab builds it; `ctx` its request
/// context, see [`assume_role_context`]).
pub fn decide_assume_role(
    trust: &TrustPolicy,
    caller: &AwsCaller,
    identity: &PolicySet,
    role_arn: &str,
    ctx: &RequestContext,
) -> TrustDecision {
    let deny = |why: String| TrustDecision {
        allowed: false,
        explanation: why,
    };
    let grant = match evaluate(
        trust,
        &Caller::Aws(caller),
        ACTION_ASSUME_ROLE,
        role_arn,
        ctx,
    ) {
        TrustOutcome::Denied(label) => {
            return deny(format!(
                "explicit deny: statement {label} of the {} denies {}",
                trust.name, caller.principal_arn
            ));
        }
        TrustOutcome::NoAllow => {
            return deny(format!(
                "the {} does not allow {} to assume the role",
                trust.name, caller.principal_arn
            ));
        }
        TrustOutcome::Allowed(g, label) => (g, label),
    };
    let identity = iam_side(identity);
    let own = authorize_action(&identity, ACTION_ASSUME_ROLE, role_arn, ctx);
    if own.decision == Decision::ExplicitDeny {
        return deny(own.explanation);
    }
    match grant {
        (Grant::Session, label) => TrustDecision {
            allowed: true,
            explanation: format!(
                "allowed: statement {label} of the {} names the session",
                trust.name
            ),
        },
        (Grant::Principal, label) => {
            if let Some(session) = session_layer(&identity) {
                let r = authorize_action(
                    &PolicySet::Iam {
                        policies: session.to_vec(),
                    },
                    ACTION_ASSUME_ROLE,
                    role_arn,
                    ctx,
                );
                if !r.allowed() {
                    return deny(format!(
                        "the {} trusts the principal (statement {label}) but the session's \
                         session policies do not allow sts:AssumeRole: {}",
                        trust.name, r.explanation
                    ));
                }
            }
            TrustDecision {
                allowed: true,
                explanation: format!(
                    "allowed: statement {label} of the {} trusts {}",
                    trust.name, caller.principal_arn
                ),
            }
        }
        (Grant::Account, label) => {
            if own.allowed() {
                TrustDecision {
                    allowed: true,
                    explanation: format!(
                        "allowed: statement {label} of the {} trusts the account and {}",
                        trust.name, own.explanation
                    ),
                }
            } else {
                deny(format!(
                    "the {} trusts the account (statement {label}) but the caller's policies do \
                     not allow sts:AssumeRole on the role: {}",
                    trust.name, own.explanation
                ))
            }
        }
    }
}

/// The request context of `AssumeRoleWithWebIdentity` with a Cognito token.
pub fn web_identity_context(token: &WebIdentity) -> RequestContext {
    let mut ctx = RequestContext::default();
    let p = &token.provider;
    ctx.values
        .insert(format!("{p}:aud"), vec![token.aud.clone()]);
    ctx.values
        .insert(format!("{p}:sub"), vec![token.sub.clone()]);
    ctx.values.insert(format!("{p}:amr"), token.amr.clone());
    ctx
}

/// `sts:AssumeRoleWithWebIdentity`: the trust policy alone decides (the caller has no AWS
/// identity). A trust policy that pins `aud` but not `amr` lets a guest's token in.
pub fn decide_web_identity(
    trust: &TrustPolicy,
    token: &WebIdentity,
    role_arn: &str,
) -> TrustDecision {
    let ctx = web_identity_context(token);
    match evaluate(
        trust,
        &Caller::Web(token),
        ACTION_WEB_IDENTITY,
        role_arn,
        &ctx,
    ) {
        TrustOutcome::Allowed(_, label) => TrustDecision {
            allowed: true,
            explanation: format!(
                "allowed: statement {label} of the {} accepts {} tokens with aud {} and amr {:?}",
                trust.name, token.provider, token.aud, token.amr
            ),
        },
        TrustOutcome::Denied(label) => TrustDecision {
            allowed: false,
            explanation: format!("explicit deny: statement {label} of the {}", trust.name),
        },
        TrustOutcome::NoAllow => TrustDecision {
            allowed: false,
            explanation: format!(
                "the {} does not accept {} tokens with aud {} and amr {:?}",
                trust.name, token.provider, token.aud, token.amr
            ),
        },
    }
}

/// AWS's refusal of `GetOpenIdToken` when the pool does not allow the basic flow (aws/aws-cli
/// issue 7652 quotes it: `InvalidParameterException`, "Basic (classic) flow is not enabled,
/// please use enhanced flow.").
pub const CLASSIC_FLOW_DISABLED: &str =
    "Basic (classic) flow is not enabled, please use enhanced flow.";

/// `GetOpenIdToken` runs only when the pool allows the basic (classic) flow
/// (`AllowClassicFlow`, default false).
pub fn decide_classic_flow(pool: &Cognito) -> Result<(), AwsError> {
    if pool.allow_classic_flow {
        Ok(())
    } else {
        Err(AwsError::bad_request(
            "InvalidParameterException",
            CLASSIC_FLOW_DISABLED,
        ))
    }
}

/// The id token claims role selection reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRoles {
    /// `cognito:roles`
    pub roles: Vec<String>,
    /// `cognito:preferred_role`
    pub preferred: Option<String>,
}

/// Which role an authenticated identity's credentials are for (`GetCredentialsForIdentity`).
/// Returns the role ARN. Without "choose role from token" the pool's authenticated role is
/// used and `CustomRoleArn` is refused; with it, `CustomRoleArn` must be one of the token's
/// `cognito:roles`, else `cognito:preferred_role`, else the ambiguity rule (Cognito
/// developer guide, role-based access control: "Choose role from token").
pub fn decide_custom_role(
    pool: &Cognito,
    default_role_arn: &str,
    token: &TokenRoles,
    custom_role_arn: Option<&str>,
) -> Result<String, AwsError> {
    if !pool.role_from_token {
        return match custom_role_arn {
            None => Ok(default_role_arn.to_string()),
            Some(_) => Err(AwsError::bad_request(
                "InvalidParameterException",
                "CustomRoleArn is not supported by this identity pool's role mapping.",
            )),
        };
    }
    if let Some(custom) = custom_role_arn {
        return if token.roles.iter().any(|r| r == custom) {
            Ok(custom.to_string())
        } else {
            Err(AwsError::bad_request(
                "NotAuthorizedException",
                format!("Invalid CustomRoleArn: {custom} is not in the token's cognito:roles."),
            ))
        };
    }
    if let Some(p) = &token.preferred {
        return Ok(p.clone());
    }
    match token.roles.as_slice() {
        [only] => Ok(only.clone()),
        _ if pool.ambiguous_role_resolution == AmbiguousRoleResolution::Deny => {
            Err(AwsError::bad_request(
                "NotAuthorizedException",
                "Unable to resolve a role from the token, and the identity pool denies ambiguous role resolution.",
            ))
        }
        _ => Ok(default_role_arn.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/Target";
    const ACCT: &str = "123456789012";

    fn user(name: &str) -> AwsCaller {
        AwsCaller {
            account: ACCT.into(),
            principal_arn: format!("arn:aws:iam::{ACCT}:user/{name}"),
            session_arn: None,
        }
    }

    fn policy(json: &str) -> Arc<Policy> {
        Arc::new(Policy::parse("P", json).unwrap())
    }

    fn allow_assume() -> Arc<Policy> {
        policy(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#,
        )
    }

    fn trust(principal: &str) -> TrustPolicy {
        TrustPolicy::parse(
            "Target",
            &format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"}}]}}"#
            ),
        )
        .unwrap()
    }

    fn decide(t: &TrustPolicy, c: &AwsCaller, set: &PolicySet) -> bool {
        let ctx = assume_role_context(&RequestContext::default(), c);
        decide_assume_role(t, c, set, ROLE, &ctx).allowed
    }

    fn none() -> PolicySet {
        PolicySet::Iam { policies: vec![] }
    }

    fn with_assume() -> PolicySet {
        PolicySet::Iam {
            policies: vec![allow_assume()],
        }
    }

    #[test]
    fn account_trust_needs_the_callers_own_permission() {
        let t = trust(r#"{"AWS":"arn:aws:iam::123456789012:root"}"#);
        assert!(!decide(&t, &user("ops"), &none()));
        assert!(decide(&t, &user("ops"), &with_assume()));
        let t = trust(r#"{"AWS":"123456789012"}"#);
        assert!(decide(&t, &user("ops"), &with_assume()));
        // Another account's root trusts nobody here.
        let t = trust(r#"{"AWS":"arn:aws:iam::999999999999:root"}"#);
        assert!(!decide(&t, &user("ops"), &with_assume()));
    }

    #[test]
    fn naming_the_principal_suffices_but_explicit_denies_win() {
        let t = trust(r#"{"AWS":["arn:aws:iam::123456789012:user/ops"]}"#);
        assert!(decide(&t, &user("ops"), &none()));
        assert!(!decide(&t, &user("mallory"), &with_assume()));
        let deny = PolicySet::Iam {
            policies: vec![policy(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sts:*","Resource":"*"}]}"#,
            )],
        };
        assert!(!decide(&t, &user("ops"), &deny));
        assert!(decide(&trust(r#"{"AWS":"*"}"#), &user("x"), &none()));
        assert!(decide(&trust(r#""*""#), &user("x"), &none()));
    }

    #[test]
    fn role_sessions_are_bounded_by_session_policies_unless_the_session_is_named() {
        let session = AwsCaller {
            account: ACCT.into(),
            principal_arn: format!("arn:aws:iam::{ACCT}:role/App"),
            session_arn: Some(format!("arn:aws:sts::{ACCT}:assumed-role/App/s1")),
        };
        let t = trust(r#"{"AWS":"arn:aws:iam::123456789012:role/App"}"#);
        let iot_only = policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#,
        );
        let scoped = PolicySet::AssumedRole {
            role_policies: vec![allow_assume()],
            session_policies: vec![iot_only.clone()],
        };
        assert!(decide(&t, &session, &none()));
        assert!(!decide(&t, &session, &scoped));
        let named = trust(r#"{"AWS":"arn:aws:sts::123456789012:assumed-role/App/s1"}"#);
        assert!(decide(&named, &session, &scoped));
        // Cognito guests (enhanced flow) lose sts:* through the scope-down.
        let guest = PolicySet::cognito_guest(vec![allow_assume()]);
        assert!(!decide(&t, &session, &guest));
        let acct = trust(r#"{"AWS":"123456789012"}"#);
        assert!(!decide(&acct, &session, &guest));
        // Basic-flow guests have no scope-down.
        let basic = PolicySet::CognitoUnauthenticated {
            role_policies: vec![allow_assume()],
            session_policies: vec![],
        };
        assert!(decide(&acct, &session, &basic));
    }

    #[test]
    fn trust_conditions_and_denies_are_evaluated() {
        let t = TrustPolicy::parse(
            "Target",
            r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"Ops","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole",
               "Condition":{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/ops"}}},
              {"Sid":"NoMallory","Effect":"Deny","Principal":{"AWS":"*"},"Action":"sts:AssumeRole",
               "Condition":{"StringLike":{"aws:PrincipalArn":"*mallory"}}}]}"#,
        )
        .unwrap();
        assert!(decide(&t, &user("ops"), &with_assume()));
        assert!(!decide(&t, &user("carol"), &with_assume()));
        let ctx = assume_role_context(&RequestContext::default(), &user("mallory"));
        let d = decide_assume_role(&t, &user("mallory"), &with_assume(), ROLE, &ctx);
        assert!(!d.allowed);
        assert!(d.explanation.contains("NoMallory"), "{}", d.explanation);
    }

    #[test]
    fn bad_trust_policies_name_the_place() {
        let e = TrustPolicy::parse(
            "R",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "$.Statement[0]");
        assert!(e.message.contains("Principal"));
        let e = TrustPolicy::parse(
            "R",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"sts:AssumeRole"}]}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("Invalid principal"), "{e}");
        let e = TrustPolicy::parse(
            "R",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}]}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("prohibited field Resource"), "{e}");
        let e = TrustPolicy::parse(
            "R",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"Bogus":{"a":"b"}}}]}"#,
        )
        .unwrap_err();
        assert!(e.path.starts_with("$.Statement[0].Condition"), "{e}");
    }

    fn token(amr: &[&str]) -> WebIdentity {
        WebIdentity {
            provider: COGNITO_IDENTITY.into(),
            aud: "us-east-1:pool".into(),
            sub: "us-east-1:id".into(),
            amr: amr.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn web_identity_trust_pins_aud_and_amr() {
        let auth = TrustPolicy::cognito_pool_role("Auth", "us-east-1:pool", "authenticated");
        let signed_in = token(&[
            "authenticated",
            "cognito-idp.us-east-1.amazonaws.com/us-east-1_P",
        ]);
        assert!(decide_web_identity(&auth, &signed_in, ROLE).allowed);
        assert!(!decide_web_identity(&auth, &token(&["unauthenticated"]), ROLE).allowed);
        let mut other_pool = signed_in.clone();
        other_pool.aud = "us-east-1:other".into();
        assert!(!decide_web_identity(&auth, &other_pool, ROLE).allowed);
        // aud pinned, amr not: the classic escalation lets a guest in.
        let loose = TrustPolicy::parse(
            "Auth",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},
              "Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"cognito-identity.amazonaws.com:aud":"us-east-1:pool"}}}]}"#,
        )
        .unwrap();
        assert!(decide_web_identity(&loose, &token(&["unauthenticated"]), ROLE).allowed);
        // AWS principals do not reach a Federated statement, and AssumeRole is another action.
        assert!(!decide(&loose, &user("ops"), &with_assume()));
        // A role serving signed-in users and guests alike accepts both.
        let both = TrustPolicy::derived(
            "Both",
            ACCT,
            &[],
            &[],
            Some(("us-east-1:pool", &["authenticated", "unauthenticated"])),
        );
        assert!(decide_web_identity(&both, &token(&["unauthenticated"]), ROLE).allowed);
        assert!(decide_web_identity(&both, &signed_in, ROLE).allowed);
        // The AssumeRole shorthand does not accept web identities.
        let t = TrustPolicy::from_trusted("R", ACCT, &["ops".into()], &["ops"]);
        assert!(!decide_web_identity(&t, &signed_in, ROLE).allowed);
        assert!(decide(&t, &user("ops"), &none()));
    }

    fn pool(from_token: bool, deny_ambiguous: bool) -> Cognito {
        let mut c: Cognito = toml::from_str(
            r#"user_pool_id = "p"
            app_client_id = "c"
            identity_pool_id = "i"
            authenticated_role = "Auth""#,
        )
        .unwrap();
        c.role_from_token = from_token;
        if deny_ambiguous {
            c.ambiguous_role_resolution = AmbiguousRoleResolution::Deny;
        }
        c
    }

    #[test]
    fn custom_role_needs_token_mapping_and_a_role_from_the_token() {
        let def = "arn:aws:iam::123456789012:role/Auth";
        let admin = "arn:aws:iam::123456789012:role/Admin";
        let viewer = "arn:aws:iam::123456789012:role/Viewer";
        let roles = TokenRoles {
            roles: vec![viewer.into(), admin.into()],
            preferred: Some(viewer.into()),
        };
        let e = decide_custom_role(&pool(false, false), def, &roles, Some(admin)).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        assert_eq!(
            decide_custom_role(&pool(false, false), def, &roles, None).unwrap(),
            def
        );
        let p = pool(true, true);
        assert_eq!(
            decide_custom_role(&p, def, &roles, Some(admin)).unwrap(),
            admin
        );
        assert_eq!(decide_custom_role(&p, def, &roles, None).unwrap(), viewer);
        let none = TokenRoles::default();
        let e = decide_custom_role(&p, def, &none, Some(admin)).unwrap_err();
        assert_eq!(e.code, "NotAuthorizedException");
        assert_eq!(
            decide_custom_role(&p, def, &none, None).unwrap_err().code,
            "NotAuthorizedException"
        );
        assert_eq!(
            decide_custom_role(&pool(true, false), def, &none, None).unwrap(),
            def
        );
    }

    #[test]
    fn classic_flow_is_refused_with_aws_wording_unless_allowed() {
        let mut p = pool(false, false);
        let e = decide_classic_flow(&p).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        assert_eq!(
            e.message,
            "Basic (classic) flow is not enabled, please use enhanced flow."
        );
        p.allow_classic_flow = true;
        assert!(decide_classic_flow(&p).is_ok());
    }
}
