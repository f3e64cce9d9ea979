//! `iot-canary simulate`: the offline pre-deploy gate. Every canary of a canaries.toml is
//! evaluated against policy documents with the same engine the lab enforces with, and judged
//! like a live round: a deny canary the policies allow is a breach, a control they deny (or a
//! canary that cannot be simulated) makes the gate blind.
//!
//! `simulate` is pure (identities and time come in); `identities_from_scenario` adapts a lab
//! scenario to it through the lab's own `LabState::principal_authz` (the function its broker
//! authorizes every packet with), so `simulate` and the lab evaluate the same policy set and
//! request context by construction.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use iot_canary_core::config::{Canary, Config};
use iot_canary_core::plan::{ClientIdVars, ProbeSlot, expand_client_id};

/// The `${run}` value offline evaluation uses: a fixed stand-in of the real length (policies
/// that allow `<principal>-*` allow any run id alike).
pub const OFFLINE_RUN: &str = "000000";
use iot_canary_core::verdict::{Expect, ProbeAction};
use iot_canary_daemon::identity::config::{EndpointAuth, IdentityKind, SessionPolicy};
use iot_canary_lab::identity::vending;
use iot_canary_lab::scenario::LoadedScenario;
use iot_canary_lab::state::{LabState, Principal, cognito_identity_id};
use iot_canary_policy::{AuthResult, IotAction, Policy, PolicySet, Request, RequestContext};

/// A canary's identity as the policies see it.
#[derive(Debug, Clone)]
pub struct SimIdentity {
    pub set: PolicySet,
    /// Region, account and the principal's variables (`aws:username`, the Cognito `sub`).
    pub context: RequestContext,
    pub identity_id: Option<String>,
    pub username: Option<String>,
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
#[derive(Debug, Clone, Serialize)]
pub struct SimCheck {
    pub action: &'static str,
    pub resource: String,
    pub decision: &'static str,
    pub deciding: Option<String>,
    pub explanation: String,
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
}

fn check(
    set: &PolicySet,
    ctx: &RequestContext,
    action: IotAction,
    resource: &str,
) -> (bool, SimCheck) {
    let r: AuthResult = iot_canary_policy::authorize(
        set,
        &Request {
            action,
            resource,
            context: ctx,
        },
    );
    (r.allowed(), sim_check(action.name(), resource, r))
}

fn sim_check(action: &'static str, resource: &str, r: AuthResult) -> SimCheck {
    SimCheck {
        action,
        resource: resource.to_owned(),
        decision: r.decision.as_str(),
        deciding: r.deciding.map(|d| d.to_string()),
        explanation: r.explanation,
    }
}

/// The authorizations a probe needs, in the order the probe exercises them: every probe
/// connects first; `receive` needs the subscription and the per-delivery Receive; `retain`
/// needs Publish and RetainPublish; shadow probes publish to the reserved request topic.
fn needed(canary: &Canary, client_id: &str) -> Result<Vec<(IotAction, String)>, String> {
    let need = |field: &str, v: &Option<String>| {
        v.clone()
            .ok_or_else(|| format!("canary `{}` has no `{field}`", canary.name))
    };
    let mut out = vec![(IotAction::Connect, client_id.to_owned())];
    match canary.action {
        ProbeAction::Connect => {}
        ProbeAction::Publish => out.push((IotAction::Publish, need("topic", &canary.topic)?)),
        ProbeAction::Retain => {
            let topic = need("topic", &canary.topic)?;
            out.push((IotAction::Publish, topic.clone()));
            out.push((IotAction::RetainPublish, topic));
        }
        ProbeAction::Subscribe => {
            out.push((
                IotAction::Subscribe,
                need("topic_filter", &canary.topic_filter)?,
            ));
        }
        ProbeAction::Receive => {
            let topic = canary
                .topic
                .clone()
                .or_else(|| canary.topic_filter.clone())
                .ok_or_else(|| format!("canary `{}` has no `topic`", canary.name))?;
            let filter = canary.topic_filter.clone().unwrap_or_else(|| topic.clone());
            out.push((IotAction::Subscribe, filter));
            out.push((IotAction::Receive, topic));
        }
        ProbeAction::ShadowGet | ProbeAction::ShadowUpdate | ProbeAction::ShadowDelete => {
            let thing = need("thing", &canary.thing)?;
            let (op, default) = match canary.action {
                ProbeAction::ShadowGet => ("get", None),
                ProbeAction::ShadowUpdate => ("update", None),
                _ => ("delete", Some(DELETE_DEFAULT_SHADOW)),
            };
            let shadow = canary.shadow.as_deref().or(default);
            out.push((IotAction::Publish, shadow_topic(&thing, shadow, op)));
        }
    }
    Ok(out)
}

/// The shadow probe's defaults and reserved topics (as `probe::shadow`, which keeps them
/// private): `shadow-delete` targets the named shadow `iot-canary` unless told otherwise.
const DELETE_DEFAULT_SHADOW: &str = "iot-canary";

fn shadow_topic(thing: &str, shadow: Option<&str>, op: &str) -> String {
    match shadow {
        Some(name) => format!("$aws/things/{thing}/shadow/name/{name}/{op}"),
        None => format!("$aws/things/{thing}/shadow/{op}"),
    }
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

/// Evaluates every canary. `now` feeds `aws:CurrentTime`; no source IP is known offline, so
/// `aws:SourceIp` conditions see the key as absent.
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
            let client_id = match expand_client_id(
                &canary.client_id,
                &ClientIdVars {
                    identity: &canary.identity,
                    identity_id: who.identity_id.as_deref(),
                    username: who.username.as_deref(),
                },
                &ProbeSlot {
                    canary: &canary.name,
                    // Offline there are no replicas: evaluate as replica 0.
                    shard: iot_canary_core::plan::Shard::ALL,
                    run: OFFLINE_RUN,
                },
            ) {
                Ok(id) => id,
                Err(e) => return inconclusive(e),
            };
            let steps = match needed(canary, &client_id) {
                Ok(s) => s,
                Err(e) => return inconclusive(e),
            };
            let mut ctx = who.context.clone();
            ctx.client_id = Some(client_id);
            ctx.current_time = Some(now);
            let mut all = true;
            let mut checks = Vec::with_capacity(steps.len());
            for (action, resource) in &steps {
                if action == &IotAction::Connect {
                    // A clean-start connect carries no connect attributes.
                    ctx.values
                        .insert("iot:connectattributes".into(), Vec::new());
                } else {
                    ctx.values.remove("iot:connectattributes");
                }
                let (ok, c) = check(&who.set, &ctx, *action, resource);
                all &= ok;
                checks.push(c);
            }
            let outcome = if all {
                SimOutcome::Allowed
            } else {
                SimOutcome::Denied
            };
            SimResult {
                outcome,
                standing: judge(canary.expect, outcome),
                checks,
                ..base
            }
        })
        .collect()
}

/// Marks, per canary, whether the new policies allow what the baseline did not.
pub fn compare_with_baseline(results: &mut [SimResult], baseline: &[SimResult]) {
    for (r, b) in results.iter_mut().zip(baseline) {
        debug_assert_eq!(r.canary, b.canary);
        r.new_access = Some(r.outcome == SimOutcome::Allowed && b.outcome != SimOutcome::Allowed);
    }
}

/// Builds each config identity's policy set from a lab scenario, the way the lab would
/// authorize that identity's credentials. `read` reads `session_policy_file`s (IO stays with
/// the caller). `credential-endpoint` identities that sign in as a Cognito user are simulated
/// as the scenario's `[vending]` would vend for that user; profiles, bearer-token endpoints and
/// static identities without an `[[iam_user]]` of the same name cannot be simulated.
pub fn identities_from_scenario(
    config: &Config,
    loaded: &LoadedScenario,
    now: SystemTime,
    read: &dyn Fn(&Path) -> Result<String, String>,
) -> SimIdentities {
    let sc = &loaded.scenario;
    let lab = LabState::new(loaded.clone());
    let mut out = SimIdentities::new();
    for spec in &config.identities {
        let name = spec.name.clone();
        let built: Result<(Principal, Option<String>, Option<String>), String> = match &spec
            .config
            .kind
        {
            IdentityKind::Static(_) => {
                if sc.iam_user.iter().any(|u| u.name == name) {
                    Ok((
                        Principal::IamUser { name: name.clone() },
                        None,
                        Some(name.clone()),
                    ))
                } else {
                    Err(format!(
                        "static identity `{name}`: the scenario has no [[iam_user]] named `{name}` (simulate maps static identities by name)"
                    ))
                }
            }
            IdentityKind::Cognito(c) => match &sc.cognito {
                Some(pool) => {
                    let username = c.login.username.clone();
                    let id = cognito_identity_id(&sc.region, &pool.identity_pool_id, &username);
                    Ok((
                        Principal::CognitoAuthenticated {
                            identity_id: id.clone(),
                            username: username.clone(),
                        },
                        Some(id),
                        Some(username),
                    ))
                }
                None => Err(format!(
                    "cognito identity `{name}`: the scenario has no [cognito]"
                )),
            },
            IdentityKind::CognitoGuest(_) => match &sc.cognito {
                Some(pool) => {
                    // Guests get a fresh id per sign-in; any fixed id exercises the same rules.
                    let id = cognito_identity_id(
                        &sc.region,
                        &pool.identity_pool_id,
                        "\u{0}simulated-guest",
                    );
                    Ok((
                        Principal::CognitoUnauthenticated {
                            identity_id: id.clone(),
                        },
                        Some(id),
                        None,
                    ))
                }
                None => Err(format!(
                    "cognito-guest identity `{name}`: the scenario has no [cognito]"
                )),
            },
            IdentityKind::AssumeRole(a) => {
                let role = a.role_arn.rsplit('/').next().unwrap_or_default().to_owned();
                if !sc.role.iter().any(|r| r.name == role) {
                    Err(format!(
                        "assume-role identity `{name}`: the scenario has no [[role]] `{role}`"
                    ))
                } else {
                    let text = match &a.session_policy {
                        None => Ok(None),
                        Some(SessionPolicy::Inline(s)) => Ok(Some(s.clone())),
                        Some(SessionPolicy::File(p)) => read(p).map(Some),
                    };
                    text.and_then(|t| {
                        let session_policy = match t {
                            Some(t) => {
                                let t = t
                                    .replace("${session_name}", &a.session_name)
                                    .replace("${role_arn}", &a.role_arn);
                                Some(Arc::new(
                                    Policy::parse("session", &t)
                                        .map_err(|e| format!("identity `{name}`: {e}"))?,
                                ))
                            }
                            None => None,
                        };
                        Ok((
                            Principal::AssumedRole {
                                role,
                                session_name: a.session_name.clone(),
                                session_policy,
                            },
                            None,
                            None,
                        ))
                    })
                }
            }
            // The lab's vending API: its role scoped down by the template rendered over the
            // things the signed-in user owns or was shared (a bearer token names no user).
            IdentityKind::CredentialEndpoint(c) => match (&sc.vending, &c.auth) {
                (Some(v), EndpointAuth::Cognito { login, .. }) => {
                    let username = login.username.clone();
                    let things = lab.things_accessible_by(&username);
                    vending::render(
                        &v.session_policy_template,
                        &vending::TemplateVars {
                            username: &username,
                            region: &sc.region,
                            account: &sc.account_id,
                            things: &things,
                        },
                    )
                    .map_err(|e| format!("identity `{name}`: {e}"))
                    .and_then(|text| {
                        Policy::parse("session", &text)
                            .map_err(|e| format!("identity `{name}`: {e}"))
                    })
                    .map(|policy| {
                        (
                            Principal::AssumedRole {
                                role: v.role.clone(),
                                session_name: vending::session_name(&username),
                                session_policy: Some(Arc::new(policy)),
                            },
                            None,
                            Some(username),
                        )
                    })
                }
                (None, _) => Err(format!(
                    "credential-endpoint identity `{name}`: the scenario has no [vending]"
                )),
                (Some(_), EndpointAuth::Bearer(_)) => Err(format!(
                    "credential-endpoint identity `{name}`: a bearer token names no user to simulate"
                )),
            },
            other => Err(format!(
                "identity `{name}`: kind `{}` needs a live credential source and is not simulated offline",
                other.as_str()
            )),
        };
        let entry = built.map(|(principal, identity_id, username)| {
            let authz = lab.principal_authz(&principal, now);
            SimIdentity {
                set: authz.set,
                context: authz.context,
                identity_id,
                username,
            }
        });
        out.insert(name, entry);
    }
    out
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
        if r.standing != SimStanding::Ok {
            for c in &r.checks {
                let by = c.deciding.as_deref().unwrap_or("-");
                let _ = writeln!(
                    out,
                    "        {} {}: {} by {}",
                    c.action, c.resource, c.decision, by
                );
            }
        }
    }
    let count = |s: SimStanding| results.iter().filter(|r| r.standing == s).count();
    let _ = writeln!(
        out,
        "{} canaries: {} ok, {} breach, {} blind",
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

/// The gate's exit, decided exactly as `once` decides it.
pub fn gate_exit(results: &[SimResult]) -> iot_canary_core::exit::Exit {
    iot_canary_core::plan::exit_for(results.iter().map(|r| r.standing.standing()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iot_canary_core::exit::Exit;
    use iot_canary_core::verdict::MqttVersion;
    use std::time::{Duration, UNIX_EPOCH};

    fn canary(name: &str, action: ProbeAction, expect: Expect) -> Canary {
        Canary {
            name: name.into(),
            identity: "alice".into(),
            action,
            expect,
            topic: Some("devices/lamp/telemetry".into()),
            topic_filter: Some("devices/lamp/#".into()),
            thing: Some("lamp".into()),
            shadow: None,
            client_id: "${identity}-${canary}".into(),
            witness: None,
            qos: 1,
            mqtt_version: MqttVersion::V5,
            timeout: Duration::from_secs(5),
        }
    }

    fn identities(policy: &str) -> SimIdentities {
        let p = Arc::new(Policy::parse("P", policy).unwrap());
        let mut ids = SimIdentities::new();
        ids.insert(
            "alice".into(),
            Ok(SimIdentity {
                set: PolicySet::Iam { policies: vec![p] },
                context: RequestContext {
                    region: "us-east-1".into(),
                    account_id: "123456789012".into(),
                    ..Default::default()
                },
                identity_id: None,
                username: Some("alice".into()),
            }),
        );
        ids
    }

    const NOW: SystemTime = UNIX_EPOCH;

    #[test]
    fn receive_needs_connect_subscribe_and_receive() {
        // Subscribe allowed, Receive not: the bait never arrives, so the canary is denied.
        let ids = identities(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:Subscribe"],"Resource":"*"}]}"#,
        );
        let r = &simulate(
            &[canary("c", ProbeAction::Receive, Expect::Deny)],
            &ids,
            NOW,
        )[0];
        let steps: Vec<(&str, &str)> = r
            .checks
            .iter()
            .map(|c| (c.action, c.resource.as_str()))
            .collect();
        assert_eq!(
            steps,
            [
                ("iot:Connect", "alice-c"),
                ("iot:Subscribe", "devices/lamp/#"),
                ("iot:Receive", "devices/lamp/telemetry")
            ]
        );
        assert_eq!(r.outcome, SimOutcome::Denied);
        assert_eq!(r.standing, SimStanding::Ok);
    }

    #[test]
    fn standings_and_exit_follow_the_gate() {
        let open = identities(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#,
        );
        let closed = identities(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#,
        );
        let deny = canary("d", ProbeAction::Publish, Expect::Deny);
        let control = canary("k", ProbeAction::Publish, Expect::Allow);
        let r = simulate(&[deny.clone(), control.clone()], &open, NOW);
        assert_eq!(r[0].standing, SimStanding::Breach);
        assert_eq!(r[1].standing, SimStanding::Ok);
        assert_eq!(gate_exit(&r), Exit::Breach);
        let r = simulate(&[deny, control], &closed, NOW);
        assert_eq!(r[0].standing, SimStanding::Ok);
        assert_eq!(
            r[1].standing,
            SimStanding::Blind,
            "a denied control makes the gate blind"
        );
        assert_eq!(gate_exit(&r), Exit::Blind);
    }

    #[test]
    fn retain_and_shadow_map_to_their_actions() {
        let ids = identities(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:Publish"],"Resource":"*"}]}"#,
        );
        let r = simulate(
            &[
                canary("r", ProbeAction::Retain, Expect::Deny),
                canary("s", ProbeAction::ShadowDelete, Expect::Deny),
            ],
            &ids,
            NOW,
        );
        assert_eq!(r[0].outcome, SimOutcome::Denied, "no iot:RetainPublish");
        assert_eq!(r[0].checks[2].action, "iot:RetainPublish");
        assert_eq!(
            r[1].checks[1].resource,
            "$aws/things/lamp/shadow/name/iot-canary/delete"
        );
        assert_eq!(r[1].standing, SimStanding::Breach);
    }

    #[test]
    fn unsimulatable_identity_is_blind_with_a_reason() {
        let mut ids = SimIdentities::new();
        ids.insert(
            "alice".into(),
            Err("kind `profile` is not simulated offline".into()),
        );
        let r = &simulate(
            &[canary("c", ProbeAction::Connect, Expect::Deny)],
            &ids,
            NOW,
        )[0];
        assert_eq!(r.outcome, SimOutcome::Inconclusive);
        assert_eq!(r.standing, SimStanding::Blind);
        assert!(r.reason.as_deref().unwrap().contains("profile"));
    }
}
