//! `iot-canary simulate`: the offline pre-deploy gate. Every canary of a canaries.toml is
//! evaluated against policy documents with the same engine the lab enforces with, and judged
//! like a live round: a deny canary the policies allow is a breach, a control they deny (or a
//! canary that cannot be simulated) makes the gate blind.
//!
//! Pure: identities (policy sets and request contexts) and time come in. The root package
//! builds them from a lab scenario through the lab's own `LabState::principal_authz`, or from
//! an ownership file and policy sources (`world::ownership`). `generate` and coverage evaluate
//! their probes through [`evaluate`] too, so the three cannot disagree on what a probe needs.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use iot_canary_core::config::Canary;
use iot_canary_core::plan::{ClientIdVars, ProbeSlot, Shard, expand_client_id};
use iot_canary_core::verdict::Expect;
use iot_canary_policy::{AppliedStatement, AuthResult, PolicySet, RequestContext};

use crate::recipes::{Step, Target, recipe};

mod doors;
pub use doors::RolePathOracle;

/// The `${run}` value offline evaluation uses: a fixed stand-in of the real length (policies
/// that allow `<principal>-*` allow any run id alike).
pub const OFFLINE_RUN: &str = "000000";

/// A canary's identity as the policies see it.
#[derive(Debug, Clone)]
pub struct SimIdentity {
    pub set: PolicySet,
    /// Region, account and the principal's variables (`aws:username`, the Cognito `sub`).
    pub context: RequestContext,
    pub identity_id: Option<String>,
    pub username: Option<String>,
    /// The identity's caller ARN (`sts:GetCallerIdentity`), which control-plane probes of a
    /// non-Cognito identity name themselves by; `None` where it is not known offline.
    pub caller_arn: Option<String>,
    /// How the identity's role paths are decided (a lab scenario's trust policies and identity
    /// pool); `None`: role-path canaries cannot be simulated.
    pub role_paths: Option<std::sync::Arc<dyn RolePathOracle>>,
}

/// Identity name -> how it is evaluated, or why it cannot be simulated offline.
pub type SimIdentities = BTreeMap<String, Result<SimIdentity, String>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SimOutcome {
    Allowed,
    Denied,
    Inconclusive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SimStanding {
    Ok,
    Breach,
    Blind,
}

/// One authorization the probe needs (all must be allowed for the probe to succeed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimCheck {
    pub action: &'static str,
    pub resource: String,
    pub decision: &'static str,
    pub deciding: Option<String>,
    pub explanation: String,
}

impl SimCheck {
    pub fn allowed(&self) -> bool {
        self.decision == iot_canary_policy::Decision::Allowed.as_str()
    }

    /// `iot:Subscribe devices/x/#: ALLOWED by P/Sid`.
    pub fn summary(&self) -> String {
        format!(
            "{} {}: {} by {}",
            self.action,
            self.resource,
            self.decision,
            self.deciding.as_deref().unwrap_or("-")
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SimResult {
    pub canary: String,
    pub identity: String,
    pub action: &'static str,
    pub expect: &'static str,
    pub outcome: SimOutcome,
    pub standing: SimStanding,
    pub checks: Vec<SimCheck>,
    /// Why the canary could not be simulated (outcome `inconclusive`).
    pub reason: Option<String>,
    /// With a baseline: the new policies allow what the baseline denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_access: Option<bool>,
    /// With new access: the request that opened, as the new policies decide it and as the
    /// baseline did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<String>,
}

/// A probe evaluated step by step.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The client id the probe connects with.
    pub client_id: String,
    pub checks: Vec<SimCheck>,
    /// The statements that apply at each step (same order as `checks`).
    pub applied: Vec<Vec<AppliedStatement>>,
}

impl Evaluation {
    pub fn allowed(&self) -> bool {
        self.checks.iter().all(SimCheck::allowed)
    }
}

fn sim_check(step: &Step, r: AuthResult) -> SimCheck {
    SimCheck {
        action: step.action,
        resource: step.resource.clone(),
        decision: r.decision.as_str(),
        deciding: r.deciding.map(|d| d.to_string()),
        explanation: r.explanation,
    }
}

/// A probe of `identity` (named `name`, connecting with the client-id template
/// `client_id_template`, or as exactly `connect_as` for a connect probe's id under test)
/// evaluated at `now`. No source IP is known offline, so `aws:SourceIp` conditions see the key
/// as absent.
pub fn evaluate(
    who: &SimIdentity,
    identity: &str,
    name: &str,
    action: iot_canary_core::verdict::ProbeAction,
    target: &Target,
    client_id_template: &str,
    now: SystemTime,
) -> Result<Evaluation, String> {
    if doors::is_door(action) {
        return doors::evaluate(who, name, action, target, client_id_template, now);
    }
    let client_id = expand_client_id(
        client_id_template,
        &ClientIdVars {
            identity,
            identity_id: who.identity_id.as_deref(),
            username: who.username.as_deref(),
        },
        &ProbeSlot {
            canary: name,
            // Offline there are no replicas: evaluate as replica 0.
            shard: Shard::ALL,
            run: OFFLINE_RUN,
        },
    )?;
    let steps = recipe(action).steps(name, target, &client_id)?;
    let mut ctx = who.context.clone();
    ctx.client_id = Some(client_id.clone());
    ctx.current_time = Some(now);
    let mut checks = Vec::with_capacity(steps.len());
    let mut applied = Vec::with_capacity(steps.len());
    for step in &steps {
        if step.action == "iot:Connect" {
            // A clean-start connect carries no connect attributes.
            ctx.values
                .insert("iot:connectattributes".into(), Vec::new());
        } else {
            ctx.values.remove("iot:connectattributes");
        }
        let arn = step.arn(&ctx.region, &ctx.account_id);
        let r = iot_canary_policy::authorize_action(&who.set, step.action, &arn, &ctx);
        checks.push(sim_check(step, r));
        applied.push(iot_canary_policy::applicable_statements(
            &who.set,
            step.action,
            &arn,
            &ctx,
        ));
    }
    Ok(Evaluation {
        client_id,
        checks,
        applied,
    })
}

fn judge(expect: Expect, outcome: SimOutcome) -> SimStanding {
    match (expect, outcome) {
        (_, SimOutcome::Inconclusive) => SimStanding::Blind,
        (Expect::Deny, SimOutcome::Allowed) => SimStanding::Breach,
        (Expect::Deny, SimOutcome::Denied) => SimStanding::Ok,
        (Expect::Allow, SimOutcome::Allowed) => SimStanding::Ok,
        (Expect::Allow, SimOutcome::Denied) => SimStanding::Blind,
    }
}

fn expect_str(e: Expect) -> &'static str {
    match e {
        Expect::Deny => "deny",
        Expect::Allow => "allow",
    }
}

/// Evaluates every canary. `now` feeds `aws:CurrentTime`.
pub fn simulate(
    canaries: &[Canary],
    identities: &SimIdentities,
    now: SystemTime,
) -> Vec<SimResult> {
    canaries
        .iter()
        .map(|canary| {
            let base = SimResult {
                canary: canary.name.clone(),
                identity: canary.identity.clone(),
                action: canary.action.as_str(),
                expect: expect_str(canary.expect),
                outcome: SimOutcome::Inconclusive,
                standing: SimStanding::Blind,
                checks: Vec::new(),
                reason: None,
                new_access: None,
                witness: None,
            };
            let inconclusive = |reason: String| SimResult {
                reason: Some(reason),
                ..base.clone()
            };
            let who = match identities.get(&canary.identity) {
                Some(Ok(who)) => who,
                Some(Err(why)) => return inconclusive(why.clone()),
                None => {
                    return inconclusive(format!("identity `{}` is not defined", canary.identity));
                }
            };
            match evaluate(
                who,
                &canary.identity,
                &canary.name,
                canary.action,
                &Target::of(canary),
                &canary.client_id,
                now,
            ) {
                Err(e) => inconclusive(e),
                Ok(ev) => {
                    let outcome = if ev.allowed() {
                        SimOutcome::Allowed
                    } else {
                        SimOutcome::Denied
                    };
                    SimResult {
                        outcome,
                        standing: judge(canary.expect, outcome),
                        checks: ev.checks,
                        ..base
                    }
                }
            }
        })
        .collect()
}

/// Marks, per canary, whether the new policies allow what the baseline did not, and words the
/// witness: the first step the baseline refused, as both decide it.
pub fn compare_with_baseline(results: &mut [SimResult], baseline: &[SimResult]) {
    for (r, b) in results.iter_mut().zip(baseline) {
        debug_assert_eq!(r.canary, b.canary);
        let new = r.outcome == SimOutcome::Allowed && b.outcome != SimOutcome::Allowed;
        r.new_access = Some(new);
        if new {
            r.witness = Some(new_access_witness(r, b));
        }
    }
}

/// `identity `alice`: iot:Subscribe devices/bob-plug/#: ALLOWED by P/S (baseline:
/// IMPLICIT_DENY by -)`; the client id is named when the connect itself opened.
fn new_access_witness(r: &SimResult, b: &SimResult) -> String {
    let opened = r
        .checks
        .iter()
        .zip(&b.checks)
        .find(|(_, old)| !old.allowed())
        .or_else(|| r.checks.iter().zip(&b.checks).next_back());
    match opened {
        Some((new, old)) => format!(
            "identity `{}`: {} (baseline: {} by {})",
            r.identity,
            new.summary(),
            old.decision,
            old.deciding.as_deref().unwrap_or("-")
        ),
        None => format!(
            "identity `{}`: the baseline could not evaluate this canary ({})",
            r.identity,
            b.reason.as_deref().unwrap_or("no steps")
        ),
    }
}

/// One line per canary and a summary.
pub fn render_table(results: &[SimResult]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for r in results {
        let standing = match r.standing {
            SimStanding::Ok => "ok",
            SimStanding::Breach => "BREACH",
            SimStanding::Blind => "BLIND",
        };
        let outcome = match r.outcome {
            SimOutcome::Allowed => "allowed",
            SimOutcome::Denied => "denied",
            SimOutcome::Inconclusive => "inconclusive",
        };
        let new = if r.new_access == Some(true) {
            "  NEW ACCESS vs baseline"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{standing:<6}  {}  ({} by {})  expect={}  {outcome}{new}",
            r.canary, r.action, r.identity, r.expect
        );
        if let Some(reason) = &r.reason {
            let _ = writeln!(out, "        {reason}");
        }
        if let Some(w) = &r.witness {
            let _ = writeln!(out, "        new access: {w}");
        }
        if r.standing != SimStanding::Ok {
            for c in &r.checks {
                let _ = writeln!(out, "        {}", c.summary());
            }
        }
    }
    let count = |s: SimStanding| results.iter().filter(|r| r.standing == s).count();
    let new = results
        .iter()
        .filter(|r| r.new_access == Some(true))
        .count();
    let new = if results.iter().any(|r| r.new_access.is_some()) {
        format!(", {new} new access vs baseline")
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{} canaries: {} ok, {} breach, {} blind{new}",
        results.len(),
        count(SimStanding::Ok),
        count(SimStanding::Breach),
        count(SimStanding::Blind)
    );
    out
}

impl SimStanding {
    /// The live standing this offline one stands for (an offline blind is a live blind).
    pub fn standing(self) -> iot_canary_core::verdict::Standing {
        use iot_canary_core::verdict::Standing;
        match self {
            SimStanding::Ok => Standing::Ok,
            SimStanding::Breach => Standing::Breach,
            SimStanding::Blind => Standing::Blind,
        }
    }
}

/// The gate's exit, decided exactly as `once` decides it (new access on a deny canary is a
/// breach already).
pub fn gate_exit(results: &[SimResult]) -> iot_canary_core::exit::Exit {
    iot_canary_core::plan::exit_for(results.iter().map(|r| r.standing.standing()))
}

#[cfg(test)]
mod tests;
