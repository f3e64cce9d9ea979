//! The IoT control-plane subset (`iot`, restJson1, SigV4 header auth, signing name `iot`):
//! AttachPolicy, DetachPolicy, AttachThingPrincipal, ListThings, DescribeThing, GetPolicy,
//! ListAttachedPolicies. Order per call: authenticate, parse and validate, authorize
//! ([`super::control_plane::decide`]), then look the resources up — so a call on a resource
//! that does not exist is refused with 403 `AccessDeniedException` if IAM refuses it and
//! answered 404 `ResourceNotFoundException` only after it passed authorization.
//!
//! An allowed AttachPolicy really attaches (through `LabState::set_attached`, propagation
//! delay included): the broker and the HTTPS data plane enforce the new policy afterwards.
//! AttachThingPrincipal is recorded here only (the broker's `iot:Connection.Thing.*`
//! variables do not read it).
//!
//! Authentication failures use the types AWS's API front end gives (and the SDKs report):
//! 403 `MissingAuthenticationTokenException`, 400 `IncompleteSignatureException`, 403
//! `InvalidSignatureException` (mismatch, skew, wrong scope), 403
//! `UnrecognizedClientException` (unknown key or token), 403 `ExpiredTokenException`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth::{self, AuthFailure};
use super::control_plane::{self, ControlPlaneOp};
use super::rest::{self, RestError};
use super::{Admitted, DoorRequest};
use crate::state::{LabState, Target};

/// The signing name aws-sdk-iot and botocore use.
pub const SIGNING_NAMES: &[&str] = &["iot"];

struct Door {
    state: Arc<LabState>,
    /// AttachThingPrincipal's record: thing -> principals.
    thing_principals: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

/// The service's router; serve it with `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn router(state: Arc<LabState>) -> Router {
    Router::new().fallback(handle).with_state(Arc::new(Door {
        state,
        thing_principals: Mutex::new(BTreeMap::new()),
    }))
}

async fn handle(State(door): State<Arc<Door>>, req: DoorRequest) -> Response {
    let rid = rest::request_id();
    serve(&door, &req, &rid).unwrap_or_else(|e| {
        tracing::debug!(code = e.code, path = %req.uri.path(), "iot control plane error");
        e.into_response_with(&rid)
    })
}

fn auth_error(f: AuthFailure) -> RestError {
    let (status, code) = match &f {
        AuthFailure::Missing => (StatusCode::FORBIDDEN, "MissingAuthenticationTokenException"),
        AuthFailure::Incomplete(_) => (StatusCode::BAD_REQUEST, "IncompleteSignatureException"),
        AuthFailure::WrongScope(_) | AuthFailure::Mismatch | AuthFailure::Skewed(_) => {
            (StatusCode::FORBIDDEN, "InvalidSignatureException")
        }
        AuthFailure::UnknownKey => (StatusCode::FORBIDDEN, "UnrecognizedClientException"),
        AuthFailure::Expired => (StatusCode::FORBIDDEN, "ExpiredTokenException"),
    };
    RestError::new(status, code, f.to_string())
}

fn method_not_allowed(method: &Method, path: &str) -> RestError {
    RestError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowedException",
        format!("{method} is not supported on {path}"),
    )
}

/// `[\w+=,.@-]+`, 1..=128 (API_AttachPolicy).
fn valid_policy_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'=' | b',' | b'.' | b'@' | b'-')
        })
}

/// `[a-zA-Z0-9:_-]+`, 1..=128 (API_DescribeThing).
fn valid_thing_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

fn segment(raw: &str, what: &str) -> Result<String, RestError> {
    if raw.is_empty() || raw.contains('/') {
        return Err(RestError::invalid(format!("{what} is required")));
    }
    rest::decode_segment(raw).ok_or_else(|| RestError::invalid(format!("{what} is not UTF-8")))
}

fn policy_param(raw: &str) -> Result<String, RestError> {
    let p = segment(raw, "policyName")?;
    if !valid_policy_name(&p) {
        return Err(RestError::invalid(format!(
            "Invalid policy name: it must match [\\w+=,.@-]+ and be 1 to 128 characters, got '{p}'"
        )));
    }
    Ok(p)
}

fn thing_param(raw: &str) -> Result<String, RestError> {
    let t = segment(raw, "thingName")?;
    if !valid_thing_name(&t) {
        return Err(RestError::invalid(format!(
            "Invalid thing name: it must match [a-zA-Z0-9:_-]+ and be 1 to 128 characters, got '{t}'"
        )));
    }
    Ok(t)
}

/// `{"target": "..."}` from an AttachPolicy / DetachPolicy body.
fn target_body(body: &[u8]) -> Result<String, RestError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| RestError::invalid(format!("cannot parse the request body: {e}")))?;
    match v.get("target").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => Ok(t.to_string()),
        _ => Err(RestError::invalid(
            "1 validation error detected: Value null at 'target' failed to satisfy constraint: Member must not be null",
        )),
    }
}

fn parse(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ControlPlaneOp, RestError> {
    let path = uri.path();
    if let Some(raw) = path.strip_prefix("/target-policies/") {
        let policy = policy_param(raw)?;
        return match *method {
            Method::PUT => Ok(ControlPlaneOp::AttachPolicy {
                policy,
                target: target_body(body)?,
            }),
            Method::POST => Ok(ControlPlaneOp::DetachPolicy {
                policy,
                target: target_body(body)?,
            }),
            _ => Err(method_not_allowed(method, path)),
        };
    }
    if path == "/things" || path == "/things/" {
        return match *method {
            Method::GET => Ok(ControlPlaneOp::ListThings),
            _ => Err(method_not_allowed(method, path)),
        };
    }
    if let Some(rest_of) = path.strip_prefix("/things/") {
        if let Some(raw) = rest_of.strip_suffix("/principals") {
            if *method != Method::PUT {
                return Err(method_not_allowed(method, path));
            }
            let principal = headers
                .get("x-amzn-principal")
                .and_then(|v| v.to_str().ok())
                .filter(|p| !p.is_empty())
                .ok_or_else(|| RestError::invalid("the x-amzn-principal header is required"))?;
            return Ok(ControlPlaneOp::AttachThingPrincipal {
                thing: thing_param(raw)?,
                principal: principal.to_string(),
            });
        }
        return match *method {
            Method::GET => Ok(ControlPlaneOp::DescribeThing {
                thing: thing_param(rest_of)?,
            }),
            _ => Err(method_not_allowed(method, path)),
        };
    }
    if let Some(raw) = path.strip_prefix("/policies/") {
        return match *method {
            Method::GET => Ok(ControlPlaneOp::GetPolicy {
                policy: policy_param(raw)?,
            }),
            _ => Err(method_not_allowed(method, path)),
        };
    }
    if let Some(raw) = path.strip_prefix("/attached-policies/") {
        return match *method {
            Method::POST => Ok(ControlPlaneOp::ListAttachedPolicies {
                target: segment(raw, "target")?,
            }),
            _ => Err(method_not_allowed(method, path)),
        };
    }
    Err(RestError::new(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!("No IoT control-plane operation at {method} {path} in the lab"),
    ))
}

/// A policy target as the lab knows targets: a Cognito identity id (`REGION:UUID`) is one;
/// certificate and thing-group ARNs are well formed but the lab has none (404 after
/// authorization); anything else is not a target at all.
fn identity_target(target: &str) -> Result<Target, RestError> {
    let is_identity = target.split_once(':').is_some_and(|(region, id)| {
        !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && id.len() == 36
            && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    });
    if is_identity {
        return Ok(Target::Identity(target.to_string()));
    }
    if target.starts_with("arn:") && (target.contains(":cert/") || target.contains(":thinggroup/"))
    {
        return Err(RestError::not_found(format!(
            "The target {target} does not exist"
        )));
    }
    Err(RestError::invalid(format!(
        "Invalid target: expected a certificate ARN, a thing group ARN or an Amazon Cognito identity id, got '{target}'"
    )))
}

fn serve(door: &Door, req: &DoorRequest, rid: &str) -> Result<Response, RestError> {
    let state = &door.state;
    let Admitted {
        creds,
        authz,
        facts,
    } = super::admit(state, SIGNING_NAMES, req, auth_error)?;
    let op = parse(&req.method, &req.uri, &req.headers, &req.body)?;
    let decision = control_plane::decide(&authz, &op, &facts);
    if !decision.allowed() {
        tracing::debug!(
            op = op.name(),
            resource = %decision.resource,
            explanation = %decision.result.explanation,
            "iot: refused"
        );
        return Err(RestError::new(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: {} on resource: {}",
                auth::caller_arn(state, &creds.principal),
                decision.action,
                decision.resource
            ),
        ));
    }
    run(door, op, facts.now, rid)
}

fn policy_arn(state: &LabState, name: &str) -> String {
    format!(
        "arn:aws:iot:{}:{}:policy/{name}",
        state.region(),
        state.account_id()
    )
}

fn thing_arn(state: &LabState, name: &str) -> String {
    format!(
        "arn:aws:iot:{}:{}:thing/{name}",
        state.region(),
        state.account_id()
    )
}

fn policy_missing(name: &str) -> RestError {
    RestError::not_found(format!("Policy not found: {name}"))
}

fn thing_missing(name: &str) -> RestError {
    RestError::not_found(format!("Thing {name} cannot be found."))
}

/// Runs an authorized operation.
fn run(
    door: &Door,
    op: ControlPlaneOp,
    now: std::time::SystemTime,
    rid: &str,
) -> Result<Response, RestError> {
    let state = &door.state;
    match op {
        ControlPlaneOp::AttachPolicy { policy, target } => {
            set_attached(state, &policy, &target, true, now)?;
            tracing::info!(policy = %policy, target = %target, "iot: AttachPolicy");
            Ok(rest::ok(rid, "application/json", Vec::new()))
        }
        ControlPlaneOp::DetachPolicy { policy, target } => {
            set_attached(state, &policy, &target, false, now)?;
            tracing::info!(policy = %policy, target = %target, "iot: DetachPolicy");
            Ok(rest::ok(rid, "application/json", Vec::new()))
        }
        ControlPlaneOp::AttachThingPrincipal { thing, principal } => {
            if state.thing(&thing).is_none() {
                return Err(thing_missing(&thing));
            }
            // Only identity ids (and no certificates) exist in the lab.
            identity_target(&principal)?;
            door.thing_principals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(thing)
                .or_default()
                .insert(principal);
            Ok(rest::ok(rid, "application/json", Vec::new()))
        }
        ControlPlaneOp::ListThings => {
            let things: Vec<Value> = state
                .things()
                .keys()
                .map(|name| {
                    json!({
                        "thingName": name,
                        "thingArn": thing_arn(state, name),
                        "attributes": {},
                        "version": 1,
                    })
                })
                .collect();
            Ok(rest::ok_json(rid, &json!({ "things": things })))
        }
        ControlPlaneOp::DescribeThing { thing } => {
            if state.thing(&thing).is_none() {
                return Err(thing_missing(&thing));
            }
            Ok(rest::ok_json(
                rid,
                &json!({
                    "defaultClientId": thing,
                    "thingName": thing,
                    "thingId": thing_id(&thing),
                    "thingArn": thing_arn(state, &thing),
                    "attributes": {},
                    "version": 1,
                }),
            ))
        }
        ControlPlaneOp::GetPolicy { policy } => {
            let document = state
                .policy_json(&policy)
                .ok_or_else(|| policy_missing(&policy))?;
            Ok(rest::ok_json(
                rid,
                &json!({
                    "policyName": policy,
                    "policyArn": policy_arn(state, &policy),
                    "policyDocument": document,
                    "defaultVersionId": "1",
                }),
            ))
        }
        ControlPlaneOp::ListAttachedPolicies { target } => {
            let t = identity_target(&target)?;
            let policies: Vec<Value> = state
                .attached(&t, now)
                .into_iter()
                .map(|name| json!({ "policyName": name, "policyArn": policy_arn(state, &name) }))
                .collect();
            Ok(rest::ok_json(rid, &json!({ "policies": policies })))
        }
    }
}

/// Attaches or detaches after authorization: a policy that does not exist is a 404 (the
/// check AWS makes once the call passed IAM), then the target is resolved.
fn set_attached(
    state: &LabState,
    policy: &str,
    target: &str,
    attach: bool,
    now: std::time::SystemTime,
) -> Result<(), RestError> {
    if state.policy_json(policy).is_none() {
        return Err(policy_missing(policy));
    }
    let t = identity_target(target)?;
    state
        .set_attached(policy, t, attach, now)
        .map_err(|e| match e {
            crate::state::StateError::UnknownPolicy(p) => policy_missing(&p),
            other => RestError::invalid(other.to_string()),
        })
}

/// A stable thing id (AWS's are UUIDs; the lab derives one from the name).
fn thing_id(name: &str) -> String {
    let d = Sha256::digest(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    crate::identity::hyphenated(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<ControlPlaneOp, RestError> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        parse(&method, &uri.parse().unwrap(), &h, body.as_bytes())
    }

    const ID: &str = "us-east-1:0a1b2c3d-0000-4000-8000-000000000001";

    #[test]
    fn routes_every_operation_as_the_sdk_encodes_it() {
        let body = format!(r#"{{"target":"{ID}"}}"#);
        assert_eq!(
            op(Method::PUT, "/target-policies/Admin", &[], &body).unwrap(),
            ControlPlaneOp::AttachPolicy {
                policy: "Admin".into(),
                target: ID.into()
            }
        );
        assert_eq!(
            op(Method::POST, "/target-policies/Admin", &[], &body).unwrap(),
            ControlPlaneOp::DetachPolicy {
                policy: "Admin".into(),
                target: ID.into()
            }
        );
        assert_eq!(
            op(
                Method::PUT,
                "/things/lamp/principals",
                &[("x-amzn-principal", ID)],
                ""
            )
            .unwrap(),
            ControlPlaneOp::AttachThingPrincipal {
                thing: "lamp".into(),
                principal: ID.into()
            }
        );
        assert_eq!(
            op(Method::GET, "/things?maxResults=5", &[], "").unwrap(),
            ControlPlaneOp::ListThings
        );
        assert_eq!(
            op(Method::GET, "/things/lamp", &[], "").unwrap(),
            ControlPlaneOp::DescribeThing {
                thing: "lamp".into()
            }
        );
        assert_eq!(
            op(Method::GET, "/policies/Admin", &[], "").unwrap(),
            ControlPlaneOp::GetPolicy {
                policy: "Admin".into()
            }
        );
        assert_eq!(
            op(
                Method::POST,
                "/attached-policies/us-east-1%3A0a1b2c3d-0000-4000-8000-000000000001?recursive=false",
                &[],
                ""
            )
            .unwrap(),
            ControlPlaneOp::ListAttachedPolicies { target: ID.into() }
        );
    }

    #[test]
    fn refuses_bad_input_with_the_api_types() {
        let code = |m, u: &str, h: &[(&str, &str)], b: &str| op(m, u, h, b).unwrap_err().code;
        assert_eq!(
            code(Method::PUT, "/target-policies/Admin", &[], "{}"),
            "InvalidRequestException"
        );
        assert_eq!(
            code(
                Method::PUT,
                "/target-policies/bad%20name",
                &[],
                r#"{"target":"x"}"#
            ),
            "InvalidRequestException"
        );
        assert_eq!(
            code(Method::PUT, "/things/lamp/principals", &[], ""),
            "InvalidRequestException"
        );
        assert_eq!(
            code(Method::DELETE, "/things/lamp", &[], ""),
            "MethodNotAllowedException"
        );
        assert_eq!(
            code(Method::GET, "/jobs", &[], ""),
            "UnknownOperationException"
        );
    }

    #[test]
    fn targets_are_identity_ids_or_missing_certificates() {
        assert_eq!(identity_target(ID).unwrap(), Target::Identity(ID.into()));
        assert_eq!(
            identity_target("arn:aws:iot:us-east-1:123456789012:cert/abc")
                .unwrap_err()
                .code,
            "ResourceNotFoundException"
        );
        assert_eq!(
            identity_target("alice").unwrap_err().code,
            "InvalidRequestException"
        );
    }
}
