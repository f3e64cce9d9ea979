//! The doors besides MQTT, offline: an HTTPS data-plane or control-plane canary becomes the
//! one API call its probe makes (`iot_canary_policy::calls`, the code the lab's doors decide
//! with), and a role-path canary asks the identity's [`RolePathOracle`] (built from a lab
//! scenario's trust policies and identity-pool settings by the root package).
//!
//! Probe-named resources (`${nonce}`) are evaluated with a fixed stand-in token of the real
//! length: a policy that covers `iot-canary-probe-*` covers every run's name alike.

use std::time::SystemTime;

use iot_canary_core::config::probe_names;
use iot_canary_core::verdict::{ProbeAction, ProbeFamily};
use iot_canary_policy::calls::{self, CallDecision, ControlPlaneOp, DataPlaneOp};

use super::{Evaluation, SimCheck, SimIdentity};
use crate::recipes::Target;

/// Decides a role path offline for one identity: whether `action` (`assume-role`,
/// `web-identity`, `custom-role`) would get the identity into `role_arn`, as the lab decides
/// it. `Err` says why it cannot be told offline.
pub trait RolePathOracle: std::fmt::Debug + Send + Sync {
    fn decide(
        &self,
        action: ProbeAction,
        role_arn: &str,
        now: SystemTime,
    ) -> Result<SimCheck, String>;
}

/// One API call a probe makes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Data(DataPlaneOp),
    Control(ControlPlaneOp),
}

/// Whether `action` is evaluated here rather than as an MQTT exchange.
pub(super) fn is_door(action: ProbeAction) -> bool {
    action.family() != ProbeFamily::Mqtt
}

/// The probe of a non-MQTT canary, evaluated. `client_id_template` is the canary's
/// `client_id` (delete-connection's probe-named client id).
pub(super) fn evaluate(
    who: &SimIdentity,
    name: &str,
    action: ProbeAction,
    target: &Target,
    client_id_template: &str,
    now: SystemTime,
) -> Result<Evaluation, String> {
    if action.family() == ProbeFamily::RolePath {
        let role = need(name, "role_arn", &target.role_arn)?;
        let oracle = who.role_paths.as_ref().ok_or_else(|| {
            format!(
                "canary `{name}`: role paths are simulated from a lab scenario only (the roles' trust policies and the identity pool's settings are not in policy sources)"
            )
        })?;
        let check = oracle.decide(action, &role, now)?;
        return Ok(Evaluation {
            client_id: String::new(),
            checks: vec![check],
            applied: vec![Vec::new()],
        });
    }
    let call = call_of(who, name, action, target, client_id_template)?;
    // Over HTTPS there is no client id and no connection: statements that need them do not
    // match (the lab's `CallFacts` say the same).
    let mut ctx = who.context.clone();
    ctx.client_id = None;
    ctx.current_time = Some(now);
    let decision = match &call {
        Call::Data(op) => calls::decide_data(&who.set, &ctx, op),
        Call::Control(op) => calls::decide_control(&who.set, &ctx, op),
    };
    let applied = iot_canary_policy::applicable_statements(
        &who.set,
        decision.action,
        &decision.resource,
        &ctx,
    );
    Ok(Evaluation {
        client_id: String::new(),
        checks: vec![check_of(decision)],
        applied: vec![applied],
    })
}

fn check_of(d: CallDecision) -> SimCheck {
    SimCheck {
        action: d.action,
        resource: d.resource,
        decision: d.result.decision.as_str(),
        deciding: d.result.deciding.map(|s| s.to_string()),
        explanation: d.result.explanation,
    }
}

fn need(name: &str, key: &str, v: &Option<String>) -> Result<String, String> {
    v.as_deref()
        .map(|s| probe_names::expand(s, probe_names::SAMPLE_NONCE))
        .ok_or_else(|| format!("canary `{name}` has no `{key}`"))
}

/// The principal an identity names itself by in control-plane calls, as the probes do: its
/// Cognito identity id, else its caller ARN.
fn own_principal(who: &SimIdentity, name: &str) -> Result<String, String> {
    who.identity_id
        .clone()
        .or_else(|| who.caller_arn.clone())
        .ok_or_else(|| {
            format!("canary `{name}`: the identity's own principal (Cognito identity id or caller ARN) is not known offline")
        })
}

/// The call the daemon's probe of `action` makes (crates/daemon/src/probe, one file per kind).
fn call_of(
    who: &SimIdentity,
    name: &str,
    action: ProbeAction,
    t: &Target,
    client_id_template: &str,
) -> Result<Call, String> {
    use ProbeAction::*;
    let thing = || need(name, "thing", &t.thing);
    let topic = || need(name, "topic", &t.topic);
    let shadow = || {
        t.shadow
            .as_deref()
            .map(|s| probe_names::expand(s, probe_names::SAMPLE_NONCE))
    };
    Ok(match action {
        HttpsPublish => Call::Data(DataPlaneOp::Publish {
            topic: topic()?,
            retain: false,
        }),
        HttpsShadowGet => Call::Data(DataPlaneOp::GetThingShadow {
            thing: thing()?,
            shadow: shadow(),
        }),
        HttpsShadowUpdate => Call::Data(DataPlaneOp::UpdateThingShadow {
            thing: thing()?,
            shadow: shadow(),
        }),
        HttpsShadowDelete => Call::Data(DataPlaneOp::DeleteThingShadow {
            thing: thing()?,
            shadow: shadow(),
        }),
        HttpsShadowList => Call::Data(DataPlaneOp::ListNamedShadowsForThing { thing: thing()? }),
        HttpsRetainedGet => Call::Data(DataPlaneOp::GetRetainedMessage { topic: topic()? }),
        HttpsRetainedList => Call::Data(DataPlaneOp::ListRetainedMessages),
        DeleteConnection => Call::Data(DataPlaneOp::DeleteConnection {
            client_id: probe_names::expand(client_id_template, probe_names::SAMPLE_NONCE),
        }),
        AttachPolicy => Call::Control(ControlPlaneOp::AttachPolicy {
            policy: need(name, "policy_name", &t.policy_name)?,
            target: own_principal(who, name)?,
        }),
        AttachThingPrincipal => Call::Control(ControlPlaneOp::AttachThingPrincipal {
            thing: thing()?,
            principal: own_principal(who, name)?,
        }),
        ListThings => Call::Control(ControlPlaneOp::ListThings),
        DescribeThing => Call::Control(ControlPlaneOp::DescribeThing { thing: thing()? }),
        GetPolicy => Call::Control(ControlPlaneOp::GetPolicy {
            policy: need(name, "policy_name", &t.policy_name)?,
        }),
        ListAttachedPolicies => Call::Control(ControlPlaneOp::ListAttachedPolicies {
            target: own_principal(who, name)?,
        }),
        other => return Err(format!("canary `{name}`: `{other}` is not an API call")),
    })
}
