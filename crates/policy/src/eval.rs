//! Evaluation of one request against a principal's policy set.
//!
//! Rules: IAM "Policy evaluation logic"
//! (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html)
//! and AWS IoT `AuthResult` (https://docs.aws.amazon.com/iot/latest/apireference/API_AuthResult.html):
//! an explicit deny anywhere wins, else an allow (in every layer that must agree), else an
//! implicit deny. Layers:
//! - session policies: "the intersection of the role's identity-based policy and the session
//!   policies" (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session);
//! - Cognito authenticated: "An action is allowed only if both policies allow the requested
//!   action" (https://docs.aws.amazon.com/iot/latest/developerguide/cog-iot-policies.html);
//!   no IoT policy attached means authorization fails.

use std::borrow::Cow;
use std::sync::Arc;

use super::document::{Effect, Statement};
use super::{
    AppliedStatement, AuthResult, Decision, IotAction, Policy, PolicySet, Request, RequestContext,
    StatementRef,
};

/// What one layer (a list of policies combined by union) says about a request.
struct Layer<'p> {
    deny: Option<(&'p Policy, &'p Statement)>,
    allow: Option<(&'p Policy, &'p Statement)>,
}

fn statement_applies(s: &Statement, action: &str, arn: &str, ctx: &RequestContext) -> bool {
    let action_hit = s.actions.iter().any(|p| p.matches(action, ctx));
    if action_hit == s.not_action {
        return false;
    }
    let resource_hit = s
        .resources
        .iter()
        .any(|p| p.is_any() || p.matches(arn, ctx));
    if resource_hit == s.not_resource {
        return false;
    }
    s.conditions.iter().all(|c| c.matches(ctx))
}

fn evaluate_layer<'p>(
    policies: &'p [Arc<Policy>],
    action: &str,
    arn: &str,
    ctx: &RequestContext,
) -> Layer<'p> {
    let mut allow = None;
    for policy in policies {
        for s in &policy.statements {
            // An allow already found only needs denies from here on.
            if allow.is_some() && s.effect == Effect::Allow {
                continue;
            }
            if statement_applies(s, action, arn, ctx) {
                match s.effect {
                    Effect::Deny => {
                        return Layer {
                            deny: Some((&**policy, s)),
                            allow,
                        };
                    }
                    Effect::Allow => allow = Some((&**policy, s)),
                }
            }
        }
    }
    Layer { deny: None, allow }
}

fn sref(hit: (&Policy, &Statement)) -> StatementRef {
    StatementRef {
        policy: hit.0.name.clone(),
        statement: hit.1.label.clone(),
    }
}

/// Joins pieces into one exactly-sized string: explanations are built on every decision, and
/// `format!` costs noticeably more than this on the lab's hot path.
fn join(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

fn explicit_deny(hit: (&Policy, &Statement), layer: &str, action: &str, arn: &str) -> AuthResult {
    AuthResult {
        decision: Decision::ExplicitDeny,
        explanation: join(&[
            "explicit deny: statement ",
            &hit.1.label,
            " of ",
            &hit.0.name,
            " (",
            layer,
            ") denies ",
            action,
            " on ",
            arn,
        ]),
        deciding: Some(sref(hit)),
    }
}

fn implicit_deny(layer: &str, action: &str, arn: &str) -> AuthResult {
    AuthResult {
        decision: Decision::ImplicitDeny,
        deciding: None,
        explanation: join(&[
            "implicit deny: no statement in the ",
            layer,
            " allows ",
            action,
            " on ",
            arn,
        ]),
    }
}

fn single(
    policies: &[Arc<Policy>],
    layer: &str,
    action: &str,
    arn: &str,
    ctx: &RequestContext,
) -> AuthResult {
    let l = evaluate_layer(policies, action, arn, ctx);
    if let Some(hit) = l.deny {
        return explicit_deny(hit, layer, action, arn);
    }
    match l.allow {
        Some(hit) => AuthResult {
            decision: Decision::Allowed,
            explanation: join(&[
                "allowed: statement ",
                &hit.1.label,
                " of ",
                &hit.0.name,
                " (",
                layer,
                ") allows ",
                action,
                " on ",
                arn,
            ]),
            deciding: Some(sref(hit)),
        },
        None => implicit_deny(layer, action, arn),
    }
}

/// One layer alone (a plane where the principal's other layers do not apply: `plane`).
pub(crate) fn single_layer(
    policies: &[Arc<Policy>],
    layer: &str,
    action: &str,
    arn: &str,
    ctx: &RequestContext,
) -> AuthResult {
    single(policies, layer, action, arn, ctx)
}

/// Both layers must allow; a deny in either wins. The deciding statement of an allow is the
/// one from the narrowing layer (`inner`), the explanation names both.
fn intersect(
    (outer, outer_name): (&[Arc<Policy>], &str),
    (inner, inner_name): (&[Arc<Policy>], &str),
    action: &str,
    arn: &str,
    ctx: &RequestContext,
) -> AuthResult {
    let a = evaluate_layer(outer, action, arn, ctx);
    if let Some(hit) = a.deny {
        return explicit_deny(hit, outer_name, action, arn);
    }
    let b = evaluate_layer(inner, action, arn, ctx);
    if let Some(hit) = b.deny {
        return explicit_deny(hit, inner_name, action, arn);
    }
    match (a.allow, b.allow) {
        (Some(ha), Some(hb)) => AuthResult {
            decision: Decision::Allowed,
            explanation: join(&[
                "allowed: statement ",
                &hb.1.label,
                " of ",
                &hb.0.name,
                " (",
                inner_name,
                ") and statement ",
                &ha.1.label,
                " of ",
                &ha.0.name,
                " (",
                outer_name,
                ") both allow ",
                action,
                " on ",
                arn,
            ]),
            deciding: Some(sref(hb)),
        },
        (None, _) => implicit_deny(outer_name, action, arn),
        (Some(_), None) => implicit_deny(inner_name, action, arn),
    }
}

/// The layers of a policy set, each named as decisions name it.
fn layers(set: &PolicySet) -> Vec<(&'static str, &[Arc<Policy>])> {
    match set {
        PolicySet::Iam { policies } => vec![("identity policies", policies)],
        PolicySet::AssumedRole {
            role_policies,
            session_policies,
        } => vec![
            ("role policies", role_policies),
            ("session policy", session_policies),
        ],
        PolicySet::CognitoAuthenticated {
            role_policies,
            iot_policies,
        } => vec![
            ("identity-pool role policies", role_policies),
            ("IoT policies attached to the identity", iot_policies),
        ],
        PolicySet::CognitoUnauthenticated {
            role_policies,
            session_policies,
        } => vec![
            ("unauthenticated role policies", role_policies),
            ("Cognito guest session policies", session_policies),
        ],
    }
}

/// Every statement of every layer that applies to the request (action, resource and
/// conditions all match), in layer and document order. The decision is a function of this
/// list, so two requests with equal lists are decided alike.
pub(crate) fn applicable(
    set: &PolicySet,
    action: &str,
    arn: &str,
    ctx: &RequestContext,
) -> Vec<AppliedStatement> {
    let mut out = Vec::new();
    for (layer, policies) in layers(set) {
        for policy in policies {
            for s in &policy.statements {
                if statement_applies(s, action, arn, ctx) {
                    out.push(AppliedStatement {
                        layer,
                        statement: StatementRef {
                            policy: policy.name.clone(),
                            statement: s.label.clone(),
                        },
                        effect: match s.effect {
                            Effect::Allow => super::Effect::Allow,
                            Effect::Deny => super::Effect::Deny,
                        },
                    });
                }
            }
        }
    }
    out
}

pub(crate) fn authorize(set: &PolicySet, request: &Request<'_>) -> AuthResult {
    let ctx = request.context;
    let action = request.action;
    let arn: Cow<'_, str> = if request.resource.starts_with("arn:") {
        Cow::Borrowed(request.resource)
    } else {
        Cow::Owned(action.resource_arn(&ctx.region, &ctx.account_id, request.resource))
    };
    authorize_named(set, action.name(), &arn, ctx)
}

/// Decides a request for any `service:Action` name on a full resource ARN (control-plane IoT
/// actions, other services' actions in role policies).
pub(crate) fn authorize_named(
    set: &PolicySet,
    action: &str,
    arn: &str,
    ctx: &RequestContext,
) -> AuthResult {
    match set {
        PolicySet::Iam { policies } => single(policies, "identity policies", action, arn, ctx),
        PolicySet::AssumedRole {
            role_policies,
            session_policies,
        } => {
            // AssumeRole without a session policy: the role's permissions, unchanged.
            if session_policies.is_empty() {
                single(role_policies, "role policies", action, arn, ctx)
            } else {
                intersect(
                    (role_policies, "role policies"),
                    (session_policies, "session policy"),
                    action,
                    arn,
                    ctx,
                )
            }
        }
        PolicySet::CognitoAuthenticated {
            role_policies,
            iot_policies,
        } => {
            if iot_policies.is_empty() {
                let l = evaluate_layer(role_policies, action, arn, ctx);
                if let Some(hit) = l.deny {
                    return explicit_deny(hit, "identity-pool role policies", action, arn);
                }
                return AuthResult {
                    decision: Decision::ImplicitDeny,
                    deciding: None,
                    explanation: format!(
                        "implicit deny: no AWS IoT policy is attached to the Cognito identity, so {action} on {arn} fails authorization"
                    ),
                };
            }
            intersect(
                (role_policies, "identity-pool role policies"),
                (iot_policies, "IoT policies attached to the identity"),
                action,
                arn,
                ctx,
            )
        }
        PolicySet::CognitoUnauthenticated {
            role_policies,
            session_policies,
        } => {
            if session_policies.is_empty() {
                return single(
                    role_policies,
                    "unauthenticated role policies",
                    action,
                    arn,
                    ctx,
                );
            }
            // The scope-down is the outer layer so an allow names the role's statement (the
            // one a reader can change); a deny in either still wins.
            intersect(
                (session_policies, "Cognito guest session policies"),
                (role_policies, "unauthenticated role policies"),
                action,
                arn,
                ctx,
            )
        }
    }
}

/// A retained publish needs both `iot:Publish` and `iot:RetainPublish` on the topic
/// (https://docs.aws.amazon.com/iot/latest/developerguide/iot-action-resources.html). An
/// explicit deny of either outranks an implicit deny of the other.
pub(crate) fn authorize_retained_publish(
    set: &PolicySet,
    topic: &str,
    ctx: &RequestContext,
) -> AuthResult {
    let publish = authorize(
        set,
        &Request {
            action: IotAction::Publish,
            resource: topic,
            context: ctx,
        },
    );
    let retain = authorize(
        set,
        &Request {
            action: IotAction::RetainPublish,
            resource: topic,
            context: ctx,
        },
    );
    match (publish.decision, retain.decision) {
        (Decision::ExplicitDeny, _) => publish,
        (_, Decision::ExplicitDeny) => retain,
        (Decision::ImplicitDeny, _) => publish,
        (_, Decision::ImplicitDeny) => retain,
        (Decision::Allowed, Decision::Allowed) => AuthResult {
            decision: Decision::Allowed,
            explanation: format!("{}; {}", publish.explanation, retain.explanation),
            deciding: retain.deciding,
        },
    }
}
