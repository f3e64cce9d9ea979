//! IAM / AWS IoT policy language and evaluator. Pure: no IO, no clock reads (the request
//! context carries the time), so the lab, `simulate` and `policy test` share one engine.
//!
//! CONTRACT (other modules code against these names; extend, don't rename):
//! - `Policy::parse(name, json) -> Result<Policy, PolicyError>`
//! - `IotAction` + `IotAction::resource_arn(region, account, name)`
//! - `RequestContext` (client id, source ip, time, other condition keys)
//! - `PolicySet` (how a principal's policies combine)
//! - `authorize(&PolicySet, &Request) -> AuthResult`
//! - `authorize_action(&PolicySet, action, resource_arn, &RequestContext)` for any action name,
//!   every layer of the set applied
//! - `authorize_call(&PolicySet, action, resource_arn, &RequestContext)`: an API call, layers
//!   combined per the action's plane (`plane`: Cognito IoT policies apply to data-plane
//!   actions only); what the lab's HTTPS doors and `simulate` use
//! - `calls`: the HTTPS data-plane and control-plane operations, their action and resource, and
//!   `decide_data`/`decide_control` (the lab's doors and `simulate` decide calls through them)
//! - `Policy::statements()`: read-only view of the statements as written (static analysis)
//! - `actions`: the AWS IoT action names the service authorization reference lists
//! - `cognito`: the session policies Cognito adds to enhanced-flow guest credentials

pub mod actions;
pub mod calls;
pub mod cognito;
mod conditions;
mod document;
mod eval;
mod matching;
pub mod plane;
pub mod session_template;
pub mod size;
pub mod testfile;
mod variables;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

/// A parsed policy document with the name it is known by (policy name, or a label such as
/// `session` for an inline session policy).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    /// `Version` as written; `None` when absent (then `${...}` is literal text, as in IAM).
    version: Option<String>,
    statements: Vec<document::Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `path` is a JSON path such as `$.Statement[1].Condition.StringLike`.
    #[error("policy {policy}: {path}: {message}")]
    Invalid {
        policy: String,
        path: String,
        message: String,
    },
}

impl Policy {
    /// Parses a policy document as AWS accepts it; unknown elements and operators, and
    /// malformed values, are errors with a JSON path (never a silent deny).
    pub fn parse(name: &str, json: &str) -> Result<Policy, PolicyError> {
        document::parse(name, json)
    }

    /// `Version` as written in the document.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The statement labels in document order: `Sid`, or `#index` without one.
    pub fn statement_labels(&self) -> impl Iterator<Item = &str> {
        self.statements.iter().map(|s| s.label.as_str())
    }

    /// The statements as written, in document order (for static analysis such as `audit`).
    pub fn statements(&self) -> impl Iterator<Item = StatementView<'_>> {
        self.statements.iter().map(|s| StatementView {
            label: &s.label,
            effect: match s.effect {
                document::Effect::Allow => Effect::Allow,
                document::Effect::Deny => Effect::Deny,
            },
            not_action: s.not_action,
            actions: &s.raw.actions,
            not_resource: s.not_resource,
            resources: &s.raw.resources,
            conditions: &s.raw.conditions,
        })
    }

    /// Whether `${...}` policy variables are substituted (`Version` 2012-10-17).
    pub fn has_variables(&self) -> bool {
        self.version.as_deref() == Some("2012-10-17")
    }

    /// Plaintext size as STS counts it for the 2,048-character session policy limit.
    pub fn plaintext_len(json: &str) -> usize {
        size::plaintext_len(json)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement as written: `Action`/`NotAction` and `Resource`/`NotResource` strings and the
/// conditions as `(operator, key, values)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatementView<'a> {
    /// `Sid`, or `#index` without one (the label `StatementRef` uses).
    pub label: &'a str,
    pub effect: Effect,
    pub not_action: bool,
    pub actions: &'a [String],
    pub not_resource: bool,
    pub resources: &'a [String],
    pub conditions: &'a [(String, String, Vec<String>)],
}

/// The AWS IoT data-plane actions the canary and the lab care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IotAction {
    Connect,
    Publish,
    Subscribe,
    Receive,
    RetainPublish,
    GetThingShadow,
    UpdateThingShadow,
    DeleteThingShadow,
}

impl IotAction {
    pub const ALL: [IotAction; 8] = [
        IotAction::Connect,
        IotAction::Publish,
        IotAction::Subscribe,
        IotAction::Receive,
        IotAction::RetainPublish,
        IotAction::GetThingShadow,
        IotAction::UpdateThingShadow,
        IotAction::DeleteThingShadow,
    ];

    /// Parses `iot:Publish` (case-insensitive; the `iot:` prefix is required).
    pub fn from_name(name: &str) -> Option<IotAction> {
        IotAction::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// `iot:Connect`, `iot:Publish`, ...
    pub const fn name(self) -> &'static str {
        match self {
            IotAction::Connect => "iot:Connect",
            IotAction::Publish => "iot:Publish",
            IotAction::Subscribe => "iot:Subscribe",
            IotAction::Receive => "iot:Receive",
            IotAction::RetainPublish => "iot:RetainPublish",
            IotAction::GetThingShadow => "iot:GetThingShadow",
            IotAction::UpdateThingShadow => "iot:UpdateThingShadow",
            IotAction::DeleteThingShadow => "iot:DeleteThingShadow",
        }
    }

    /// `arn:aws:iot:REGION:ACCOUNT:client/ID` for Connect, `topic/T` for Publish, Receive and
    /// RetainPublish, `topicfilter/F` for Subscribe, `thing/NAME` for the shadow actions.
    pub fn resource_arn(self, region: &str, account: &str, name: &str) -> String {
        let kind = match self {
            IotAction::Connect => "client",
            IotAction::Publish | IotAction::Receive | IotAction::RetainPublish => "topic",
            IotAction::Subscribe => "topicfilter",
            IotAction::GetThingShadow
            | IotAction::UpdateThingShadow
            | IotAction::DeleteThingShadow => "thing",
        };
        let mut arn =
            String::with_capacity(14 + region.len() + account.len() + kind.len() + name.len());
        for part in ["arn:aws:iot:", region, ":", account, ":", kind, "/", name] {
            arn.push_str(part);
        }
        arn
    }
}

/// Everything a condition or a policy variable may read. No defaults are invented: a key that
/// is absent stays absent (variables referring to it stay literal, `Null` sees it missing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestContext {
    pub region: String,
    pub account_id: String,
    /// `iot:ClientId`
    pub client_id: Option<String>,
    /// `aws:SourceIp`
    pub source_ip: Option<IpAddr>,
    /// `aws:CurrentTime` / `aws:EpochTime`
    pub current_time: Option<SystemTime>,
    /// Every other key, lower-cased name -> values: `aws:username`, `aws:userid`,
    /// `cognito-identity.amazonaws.com:sub`, `iot:connection.thing.thingname`,
    /// `iot:connection.thing.isattached`, `iot:connection.thing.attributes[k]`,
    /// `iot:connectattributes`, ...
    pub values: BTreeMap<String, Vec<String>>,
}

/// One request to authorize: `resource` is the plain name (client id, topic, topic filter,
/// thing name) or a full ARN (starts with `arn:`).
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    pub action: IotAction,
    pub resource: &'a str,
    pub context: &'a RequestContext,
}

/// How a principal's policies combine (AWS documentation: IAM policy evaluation logic, AWS IoT
/// "Authorization with Amazon Cognito identities", STS session policies).
#[derive(Debug, Clone, PartialEq)]
pub enum PolicySet {
    /// IAM user or role used directly: union of identity policies.
    Iam { policies: Vec<Arc<Policy>> },
    /// AssumeRole session: role policies ∩ session policies.
    AssumedRole {
        role_policies: Vec<Arc<Policy>>,
        session_policies: Vec<Arc<Policy>>,
    },
    /// Cognito authenticated identity: identity-pool role policies ∩ IoT policies attached to
    /// the identity id (no IoT policy attached ⇒ deny).
    CognitoAuthenticated {
        role_policies: Vec<Arc<Policy>>,
        iot_policies: Vec<Arc<Policy>>,
    },
    /// Cognito unauthenticated identity (guest): the unauthenticated role's policies ∩ the
    /// union of the session policies Cognito passes. [`PolicySet::cognito_guest`] builds the
    /// enhanced flow's (Cognito's scope-down, [`cognito`]); empty `session_policies` is a guest
    /// without scope-down (the basic flow with no caller-supplied policy).
    CognitoUnauthenticated {
        role_policies: Vec<Arc<Policy>>,
        session_policies: Vec<Arc<Policy>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

/// Which statement decided: policy name plus Sid, or `#index` when the statement has no Sid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatementRef {
    pub policy: String,
    pub statement: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthResult {
    pub decision: Decision,
    /// The deciding statement (the explicit deny, or an allow that granted); `None` for an
    /// implicit deny, whose `explanation` names the layer that had no allow.
    pub deciding: Option<StatementRef>,
    pub explanation: String,
}

impl AuthResult {
    pub fn allowed(&self) -> bool {
        self.decision == Decision::Allowed
    }
}

impl Decision {
    /// `ALLOWED`, `EXPLICIT_DENY`, `IMPLICIT_DENY`, as AWS IoT's `AuthResult.authDecision`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "ALLOWED",
            Decision::ExplicitDeny => "EXPLICIT_DENY",
            Decision::ImplicitDeny => "IMPLICIT_DENY",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for StatementRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.policy, self.statement)
    }
}

/// Decides one request. Pure and allocation-light: it runs on every lab publish and delivery.
pub fn authorize(set: &PolicySet, request: &Request<'_>) -> AuthResult {
    eval::authorize(set, request)
}

/// Decides a request for any `service:Action` name (e.g. `iot:CreateThing`, `iam:PassRole`)
/// on a full resource ARN, with the same combination rules as `authorize`.
pub fn authorize_action(
    set: &PolicySet,
    action: &str,
    resource_arn: &str,
    context: &RequestContext,
) -> AuthResult {
    eval::authorize_named(set, action, resource_arn, context)
}

pub use plane::{Plane, authorize_call, plane_of};

/// A statement that applies to a request: its layer (`identity policies`, `session policy`,
/// ...), which statement, and its effect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppliedStatement {
    pub layer: &'static str,
    pub statement: StatementRef,
    pub effect: Effect,
}

/// Every statement that applies to a request, in every layer (what `authorize_action` weighs;
/// it stops at the first allow, this does not). Requests with equal lists are decided alike by
/// the same statements: `generate` and coverage group requests by it.
pub fn applicable_statements(
    set: &PolicySet,
    action: &str,
    resource_arn: &str,
    context: &RequestContext,
) -> Vec<AppliedStatement> {
    eval::applicable(set, action, resource_arn, context)
}

/// A retained publish: needs both `iot:Publish` and `iot:RetainPublish` on `topic`.
pub fn authorize_retained_publish(
    set: &PolicySet,
    topic: &str,
    context: &RequestContext,
) -> AuthResult {
    eval::authorize_retained_publish(set, topic, context)
}

#[cfg(test)]
mod tests;

/// A request context holding only these condition-key values (keys as stored: lower case).
#[cfg(test)]
pub(crate) fn context_with(pairs: &[(&str, &[&str])]) -> RequestContext {
    RequestContext {
        values: pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect(),
        ..Default::default()
    }
}
