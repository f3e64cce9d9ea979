//! Admin API (loopback HTTP, JSON) for tests and demos: change policies and attachments at
//! run time, set the propagation delay, inject faults, switch realism knobs, take over or
//! disconnect a client id, change thing shares. Reference in docs/lab.md and docs/realism.md.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;

use crate::broker::Broker;
use crate::realism;
use crate::state::{Faults, LabState, StateError, Target, ThingInfo, cognito_identity_id};

#[derive(Clone)]
struct Admin {
    state: Arc<LabState>,
    broker: Arc<Broker>,
}

pub fn router(state: Arc<LabState>, broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/state", get(show))
        .route(
            "/policies/{name}",
            put(put_policy).delete(delete_policy).get(get_policy),
        )
        .route("/attach", post(attach))
        .route("/detach", post(detach))
        .route("/propagation-delay", put(set_delay))
        .route(
            "/faults",
            put(set_faults).delete(clear_faults).get(get_faults),
        )
        .route(
            "/realism",
            put(set_realism).delete(clear_realism).get(get_realism),
        )
        .route("/takeover", post(take_over))
        .route("/disconnect", post(disconnect))
        .route("/disconnect-all", post(disconnect_all))
        .route("/things/{name}", put(put_thing))
        .route("/identity-id/{username}", get(identity_id))
        .with_state(Admin { state, broker })
}

fn err(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

fn state_err(e: StateError) -> Response {
    let status = match e {
        StateError::InvalidPolicy { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::NOT_FOUND,
    };
    err(status, e)
}

async fn show(State(a): State<Admin>) -> Response {
    let names: Vec<String> = a.state.loaded().policies.keys().cloned().collect();
    Json(json!({
        "scenario_policies": names,
        "propagation_delay_secs": a.state.propagation_delay().as_secs_f64(),
        "faults": faults_json(&a.state.faults()),
        "realism": { "profile": a.state.realism().profile.as_str(), "seed": a.state.realism().seed },
        "connections": a.broker.connection_count(),
        "connects_total": a.broker.connects_total(),
        "sockets_open": a.broker.sockets_open(),
    }))
    .into_response()
}

async fn get_policy(State(a): State<Admin>, Path(name): Path<String>) -> Response {
    match a.state.policy_json(&name) {
        Some(json) => ([("content-type", "application/json")], json).into_response(),
        None => err(StatusCode::NOT_FOUND, format!("unknown policy `{name}`")),
    }
}

/// Body: the policy document itself.
async fn put_policy(State(a): State<Admin>, Path(name): Path<String>, body: String) -> Response {
    match a.state.put_policy(&name, &body, a.state.now()) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

async fn delete_policy(State(a): State<Admin>, Path(name): Path<String>) -> Response {
    match a.state.delete_policy(&name, a.state.now()) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum TargetSpec {
    IamUser(String),
    Role(String),
    /// A Cognito identity id (`REGION:uuid`).
    Identity(String),
    /// A scenario Cognito username; resolved to its identity id.
    CognitoUser(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachBody {
    policy: String,
    target: TargetSpec,
}

fn resolve(state: &LabState, t: TargetSpec) -> Result<Target, Box<Response>> {
    Ok(match t {
        TargetSpec::IamUser(n) => Target::IamUser(n),
        TargetSpec::Role(n) => Target::Role(n),
        TargetSpec::Identity(id) => Target::Identity(id),
        TargetSpec::CognitoUser(u) => {
            let Some(c) = &state.scenario().cognito else {
                return Err(Box::new(err(
                    StatusCode::NOT_FOUND,
                    "the scenario has no [cognito]",
                )));
            };
            Target::Identity(cognito_identity_id(state.region(), &c.identity_pool_id, &u))
        }
    })
}

async fn attach(State(a): State<Admin>, Json(b): Json<AttachBody>) -> Response {
    set_attached(&a, b, true)
}

async fn detach(State(a): State<Admin>, Json(b): Json<AttachBody>) -> Response {
    set_attached(&a, b, false)
}

fn set_attached(a: &Admin, b: AttachBody, attached: bool) -> Response {
    let target = match resolve(&a.state, b.target) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match a
        .state
        .set_attached(&b.policy, target, attached, a.state.now())
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DelayBody {
    seconds: f64,
}

async fn set_delay(State(a): State<Admin>, Json(b): Json<DelayBody>) -> Response {
    if !(b.seconds.is_finite() && b.seconds >= 0.0 && b.seconds <= 86_400.0) {
        return err(StatusCode::BAD_REQUEST, "seconds must be within 0..=86400");
    }
    a.state
        .set_propagation_delay(Duration::from_secs_f64(b.seconds));
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsBody {
    refuse_upgrades: Option<bool>,
    stall: Option<bool>,
    drop_after_connect: Option<bool>,
    quota_exceeded: Option<bool>,
    clock_skew_secs: Option<i64>,
}

fn faults_json(f: &Faults) -> serde_json::Value {
    json!({
        "refuse_upgrades": f.refuse_upgrades,
        "stall": f.stall,
        "drop_after_connect": f.drop_after_connect,
        "quota_exceeded": f.quota_exceeded,
        "clock_skew_secs": f.clock_skew_secs,
    })
}

async fn get_faults(State(a): State<Admin>) -> Response {
    Json(faults_json(&a.state.faults())).into_response()
}

/// Merges the given fields into the current faults.
async fn set_faults(State(a): State<Admin>, Json(b): Json<FaultsBody>) -> Response {
    let mut f = a.state.faults();
    if let Some(v) = b.refuse_upgrades {
        f.refuse_upgrades = v;
    }
    if let Some(v) = b.stall {
        f.stall = v;
    }
    if let Some(v) = b.drop_after_connect {
        f.drop_after_connect = v;
    }
    if let Some(v) = b.quota_exceeded {
        f.quota_exceeded = v;
    }
    if let Some(v) = b.clock_skew_secs {
        f.clock_skew_secs = v;
    }
    a.state.set_faults(f.clone());
    Json(faults_json(&f)).into_response()
}

async fn clear_faults(State(a): State<Admin>) -> Response {
    a.state.set_faults(Faults::default());
    StatusCode::NO_CONTENT.into_response()
}

/// The effective settings (the same keys a PUT takes) and how often each knob fired.
fn realism_json(a: &Admin) -> serde_json::Value {
    let mut v = realism::spec::to_json(&a.state.realism());
    v["applied"] = a.broker.realism_stats.to_json();
    v
}

async fn get_realism(State(a): State<Admin>) -> Response {
    Json(realism_json(&a)).into_response()
}

/// Body: the `[realism]` keys as JSON, merged into the current settings (`profile` starts
/// from that profile instead). A new seed applies to connections made after it.
async fn set_realism(State(a): State<Admin>, body: String) -> Response {
    let spec: realism::RealismSpec = match serde_json::from_str(&body) {
        Ok(s) => s,
        Err(e) => return err(StatusCode::BAD_REQUEST, format!("realism: {e}")),
    };
    match spec.resolve(&a.state.realism()) {
        Ok(r) => {
            a.state.set_realism(r);
            Json(realism_json(&a)).into_response()
        }
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

async fn clear_realism(State(a): State<Admin>) -> Response {
    a.state.set_realism(realism::Realism::off());
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientBody {
    client_id: String,
    /// MQTT 5 DISCONNECT reason code (`/disconnect` only; default 0x98).
    #[serde(default)]
    reason: Option<u8>,
}

/// Another process connects with `client_id`: its holder is disconnected (3.1.1 close,
/// MQTT 5 DISCONNECT 0x8E Session taken over).
async fn take_over(State(a): State<Admin>, Json(b): Json<ClientBody>) -> Response {
    if b.reason.is_some() {
        return err(
            StatusCode::BAD_REQUEST,
            "a takeover always sends 0x8E; no `reason`",
        );
    }
    if a.broker.take_over(&b.client_id) {
        Json(json!({ "taken_over": b.client_id })).into_response()
    } else {
        err(
            StatusCode::NOT_FOUND,
            format!("no connection holds client id `{}`", b.client_id),
        )
    }
}

/// The server ends `client_id`'s connection (3.1.1 close; MQTT 5 DISCONNECT `reason`).
async fn disconnect(State(a): State<Admin>, Json(b): Json<ClientBody>) -> Response {
    let code = b
        .reason
        .unwrap_or(crate::broker::decide::ADMINISTRATIVE_ACTION);
    if !realism::spec::DISCONNECT_CODES.contains(&code) {
        return err(
            StatusCode::BAD_REQUEST,
            format!("0x{code:02X} is not a DISCONNECT code AWS IoT lists"),
        );
    }
    if a.broker.disconnect(&b.client_id, code) {
        a.broker
            .realism_stats
            .count(realism::Applied::ServerDisconnect);
        Json(json!({ "disconnected": b.client_id, "reason": code })).into_response()
    } else {
        err(
            StatusCode::NOT_FOUND,
            format!("no connection holds client id `{}`", b.client_id),
        )
    }
}

async fn disconnect_all(State(a): State<Admin>) -> Response {
    Json(json!({ "disconnected": a.broker.kick_all() })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThingBody {
    owner: Option<String>,
    #[serde(default)]
    shared_with: Vec<String>,
}

async fn put_thing(
    State(a): State<Admin>,
    Path(name): Path<String>,
    Json(b): Json<ThingBody>,
) -> Response {
    match a.state.set_thing(
        &name,
        ThingInfo {
            owner: b.owner,
            shared_with: b.shared_with,
        },
    ) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

async fn identity_id(State(a): State<Admin>, Path(username): Path<String>) -> Response {
    match &a.state.scenario().cognito {
        Some(c) => Json(json!({
            "identity_id": cognito_identity_id(a.state.region(), &c.identity_pool_id, &username)
        }))
        .into_response(),
        None => err(StatusCode::NOT_FOUND, "the scenario has no [cognito]"),
    }
}
