//! The `iot-data` HTTP service (restJson1, SigV4 header auth, signing name `iotdata`, the
//! name aws-sdk-iotdataplane and botocore sign with; `iotdevicegateway`, the name the Device
//! Shadow REST API page gives (https://docs.aws.amazon.com/iot/latest/developerguide/thing-shadow-rest-api.html),
//! is accepted too). Operations and routes: the AWS IoT API Reference, "AWS IoT data plane"
//! (API_iotdata_Publish, _GetThingShadow, _UpdateThingShadow, _DeleteThingShadow,
//! _ListNamedShadowsForThing, _GetRetainedMessage, _ListRetainedMessages, _DeleteConnection). Order per call: authenticate, parse and validate,
//! authorize ([`super::data_plane::decide`]), then run the operation against the broker the
//! MQTT gateway uses, so an HTTPS publish reaches MQTT subscribers and both doors share one
//! shadow store and one retained-message store.
//!
//! Errors: authentication and authorization failures are 403 `ForbiddenException` (what
//! AWS IoT's data endpoint answers, also for bad signatures and expired tokens: a client must
//! read the error type together with a control call); validation 400
//! `InvalidRequestException`; missing shadow / retained message / connection 404
//! `ResourceNotFoundException`; shadow version conflict 409 `ConflictException`; payload
//! over 128 KiB 413 `RequestEntityTooLargeException`; wrong verb 405
//! `MethodNotAllowedException`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use http::{Method, StatusCode, Uri};
use serde_json::{Value, json};

use super::auth::AuthFailure;
use super::data_plane::{self, DataPlaneOp};
use super::rest::{self, RestError};
use super::{Admitted, DoorRequest};
use crate::broker::{Broker, decide as broker_decide};
use crate::shadow::{self, ShadowTopic};
use crate::state::LabState;

/// The signing names the data endpoint accepts.
pub const SIGNING_NAMES: &[&str] = &["iotdata", "iotdevicegateway"];

/// AWS IoT's message payload limit (128 KB), for HTTPS publishes as for MQTT.
pub const MAX_PAYLOAD: usize = 128 * 1024;

struct Door {
    state: Arc<LabState>,
    broker: Arc<Broker>,
}

/// The service's router; serve it with `into_make_service_with_connect_info::<SocketAddr>()`
/// (the peer address is `aws:SourceIp`).
pub fn router(state: Arc<LabState>, broker: Arc<Broker>) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(Arc::new(Door { state, broker }))
}

async fn handle(State(door): State<Arc<Door>>, req: DoorRequest) -> Response {
    let rid = rest::request_id();
    serve(&door, &req, &rid).await.unwrap_or_else(|e| {
        tracing::debug!(code = e.code, path = %req.uri.path(), "iot-data error");
        e.into_response_with(&rid)
    })
}

fn forbidden(message: impl Into<String>) -> RestError {
    RestError::new(StatusCode::FORBIDDEN, "ForbiddenException", message)
}

/// Every authentication failure is a 403 ForbiddenException on the data endpoint.
fn auth_error(f: AuthFailure) -> RestError {
    forbidden(f.to_string())
}

fn method_not_allowed() -> RestError {
    RestError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowedException",
        "The specified combination of HTTP verb and URI is not supported.",
    )
}

/// `[a-zA-Z0-9:_-]+`, 1..=128 (API_iotdata_GetThingShadow).
fn valid_thing_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// `[$a-zA-Z0-9:_-]+`, 1..=64.
fn valid_shadow_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'$' | b':' | b'_' | b'-'))
}

fn decoded(raw: &str, what: &str) -> Result<String, RestError> {
    rest::decode_segment(raw).ok_or_else(|| RestError::invalid(format!("{what} is not UTF-8")))
}

fn thing_param(raw: &str) -> Result<String, RestError> {
    let thing = decoded(raw, "thingName")?;
    if !valid_thing_name(&thing) {
        return Err(RestError::invalid(format!(
            "Invalid thing name: it must match [a-zA-Z0-9:_-]+ and be 1 to 128 characters, got '{thing}'"
        )));
    }
    Ok(thing)
}

fn shadow_param(pairs: &[(String, String)]) -> Result<Option<String>, RestError> {
    match rest::query_get(pairs, "name") {
        None => Ok(None),
        Some(s) if valid_shadow_name(s) => Ok(Some(s.to_string())),
        Some(s) => Err(RestError::invalid(format!(
            "Invalid shadow name: it must match [$a-zA-Z0-9:_-]+ and be 1 to 64 characters, got '{s}'"
        ))),
    }
}

/// A topic label (everything after the prefix, `%2F` or literal `/` alike).
fn topic_param(raw: &str) -> Result<String, RestError> {
    let topic = decoded(raw, "topic")?;
    if !broker_decide::valid_topic(&topic) || topic.len() > 256 {
        return Err(RestError::invalid(format!(
            "Invalid topic: a topic name is 1 to 256 bytes without wildcards, got '{topic}'"
        )));
    }
    Ok(topic)
}

/// The operation a request names, with the parts the operation needs beyond the op.
struct Parsed {
    op: DataPlaneOp,
    qos: u8,
}

fn parse(method: &Method, uri: &Uri) -> Result<Parsed, RestError> {
    let path = uri.path();
    let pairs = rest::query_pairs(uri.query().unwrap_or(""));
    let plain = |op| Ok(Parsed { op, qos: 0 });
    if let Some(raw) = path.strip_prefix("/topics/") {
        if method != Method::POST {
            return Err(method_not_allowed());
        }
        let qos = match rest::query_get(&pairs, "qos") {
            None | Some("0") => 0,
            Some("1") => 1,
            Some(q) => {
                return Err(RestError::invalid(format!(
                    "Invalid qos: {q} (AWS IoT supports 0 and 1)"
                )));
            }
        };
        return Ok(Parsed {
            op: DataPlaneOp::Publish {
                topic: topic_param(raw)?,
                retain: rest::query_bool(&pairs, "retain", false)?,
            },
            qos,
        });
    }
    if let Some(rest_of) = path.strip_prefix("/things/")
        && let Some(raw_thing) = rest_of.strip_suffix("/shadow")
        && !raw_thing.contains('/')
    {
        let thing = thing_param(raw_thing)?;
        let shadow = shadow_param(&pairs)?;
        return match *method {
            Method::GET => plain(DataPlaneOp::GetThingShadow { thing, shadow }),
            Method::POST => plain(DataPlaneOp::UpdateThingShadow { thing, shadow }),
            Method::DELETE => plain(DataPlaneOp::DeleteThingShadow { thing, shadow }),
            _ => Err(method_not_allowed()),
        };
    }
    if let Some(raw) = path.strip_prefix("/api/things/shadow/ListNamedShadowsForThing/") {
        if method != Method::GET {
            return Err(method_not_allowed());
        }
        return plain(DataPlaneOp::ListNamedShadowsForThing {
            thing: thing_param(raw)?,
        });
    }
    if path == "/retainedMessage" || path == "/retainedMessage/" {
        if method != Method::GET {
            return Err(method_not_allowed());
        }
        return plain(DataPlaneOp::ListRetainedMessages);
    }
    if let Some(raw) = path.strip_prefix("/retainedMessage/") {
        if method != Method::GET {
            return Err(method_not_allowed());
        }
        return plain(DataPlaneOp::GetRetainedMessage {
            topic: topic_param(raw)?,
        });
    }
    if let Some(raw) = path.strip_prefix("/connections/") {
        if method != Method::DELETE {
            return Err(method_not_allowed());
        }
        let client_id = decoded(raw, "clientId")?;
        if client_id.is_empty() || client_id.starts_with('$') || client_id.len() > 128 {
            return Err(RestError::invalid(format!(
                "Invalid client id: 1 to 128 bytes, not starting with '$', got '{client_id}'"
            )));
        }
        // Accepted as the API defines them; the lab keeps no persistent sessions or wills.
        rest::query_bool(&pairs, "cleanSession", false)?;
        rest::query_bool(&pairs, "preventWillMessage", false)?;
        return plain(DataPlaneOp::DeleteConnection { client_id });
    }
    Err(RestError::new(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!("No iot-data operation at {method} {path}"),
    ))
}

async fn serve(door: &Door, req: &DoorRequest, rid: &str) -> Result<Response, RestError> {
    let state = &door.state;
    let Admitted { authz, facts, .. } = super::admit(state, SIGNING_NAMES, req, auth_error)?;
    let Parsed { op, qos } = parse(&req.method, &req.uri)?;
    let decision = data_plane::decide(&authz, &op, &facts);
    if !decision.allowed() {
        tracing::debug!(
            op = op.name(),
            action = decision.action,
            resource = %decision.resource,
            explanation = %decision.result.explanation,
            "iot-data: refused"
        );
        return Err(forbidden("Forbidden"));
    }
    run(door, op, qos, &req.body, facts.now, rid).await
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn epoch_millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs an authorized operation.
async fn run(
    door: &Door,
    op: DataPlaneOp,
    qos: u8,
    body: &[u8],
    now: SystemTime,
    rid: &str,
) -> Result<Response, RestError> {
    let broker = &door.broker;
    match op {
        DataPlaneOp::Publish { topic, retain } => {
            if body.len() > MAX_PAYLOAD {
                return Err(RestError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLargeException",
                    "The payload exceeds the maximum size allowed",
                ));
            }
            let payload = Bytes::copy_from_slice(body);
            if retain {
                broker.retain(&topic, payload.clone(), qos);
            }
            broker
                .route(&topic, payload.clone(), qos, std::time::Instant::now())
                .await;
            // A publish to a shadow request topic is a shadow request, whichever door.
            if let Some(st) = shadow::parse_topic(&topic) {
                broker
                    .shadow_request(&st, &payload, epoch_secs(now), None)
                    .await;
            }
            Ok(rest::ok_json(
                rid,
                &json!({"message": "OK", "traceId": rid}),
            ))
        }
        DataPlaneOp::GetThingShadow { thing, shadow } => {
            shadow_call(broker, thing, shadow, shadow::Op::Get, &[], now, rid).await
        }
        DataPlaneOp::UpdateThingShadow { thing, shadow } => {
            shadow_call(broker, thing, shadow, shadow::Op::Update, body, now, rid).await
        }
        DataPlaneOp::DeleteThingShadow { thing, shadow } => {
            shadow_call(broker, thing, shadow, shadow::Op::Delete, &[], now, rid).await
        }
        DataPlaneOp::ListNamedShadowsForThing { thing } => Ok(rest::ok_json(
            rid,
            &json!({
                "results": broker.named_shadows(&thing),
                "timestamp": epoch_secs(now),
            }),
        )),
        DataPlaneOp::GetRetainedMessage { topic } => {
            let m = broker.retained_message(&topic).ok_or_else(|| {
                RestError::not_found(format!("No retained message exists for topic: {topic}"))
            })?;
            Ok(rest::ok_json(
                rid,
                &json!({
                    "topic": m.topic,
                    "payload": base64::engine::general_purpose::STANDARD.encode(&m.payload),
                    "qos": m.qos,
                    "lastModifiedTime": epoch_millis(m.modified),
                }),
            ))
        }
        DataPlaneOp::ListRetainedMessages => {
            let topics: Vec<Value> = broker
                .retained_messages()
                .into_iter()
                .map(|m| {
                    json!({
                        "topic": m.topic,
                        "payloadSize": m.payload.len(),
                        "qos": m.qos,
                        "lastModifiedTime": epoch_millis(m.modified),
                    })
                })
                .collect();
            Ok(rest::ok_json(rid, &json!({ "retainedTopics": topics })))
        }
        DataPlaneOp::DeleteConnection { client_id } => {
            // UNCONFIRMED which MQTT 5 reason code AWS sends on DeleteConnection; the lab uses
            // 0x98 Administrative action, as for its other server-side disconnects.
            if !broker.disconnect(&client_id, broker_decide::ADMINISTRATIVE_ACTION) {
                return Err(RestError::not_found(format!(
                    "No connection found for client id: {client_id}"
                )));
            }
            tracing::info!(client_id = %client_id, "iot-data: DeleteConnection");
            Ok(rest::ok(rid, "application/json", Vec::new()))
        }
    }
}

/// One shadow operation through the shared shadow service; the service's `rejected` codes
/// become the API's error types.
async fn shadow_call(
    broker: &Broker,
    thing: String,
    shadow: Option<String>,
    op: shadow::Op,
    payload: &[u8],
    now: SystemTime,
    rid: &str,
) -> Result<Response, RestError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(RestError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            "The payload exceeds the maximum size allowed",
        ));
    }
    let st = ShadowTopic { thing, shadow, op };
    let responses = broker.shadow_http(&st, payload, epoch_secs(now)).await;
    let first = responses.into_iter().next().ok_or_else(|| {
        RestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailureException",
            "the shadow service gave no answer",
        )
    })?;
    if first.topic.ends_with("/accepted") {
        return Ok(rest::ok(
            rid,
            "application/json",
            first.payload.to_string().into_bytes(),
        ));
    }
    let code = first
        .payload
        .get("code")
        .and_then(Value::as_u64)
        .unwrap_or(500);
    let message = first
        .payload
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("Internal service failure")
        .to_string();
    let (status, kind) = match code {
        400 => (StatusCode::BAD_REQUEST, "InvalidRequestException"),
        401 => (StatusCode::UNAUTHORIZED, "UnauthorizedException"),
        403 => (StatusCode::FORBIDDEN, "ForbiddenException"),
        404 => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
        409 => (StatusCode::CONFLICT, "ConflictException"),
        413 => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
        ),
        415 => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedDocumentEncodingException",
        ),
        429 => (StatusCode::TOO_MANY_REQUESTS, "ThrottlingException"),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailureException",
        ),
    };
    Err(RestError::new(status, kind, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, uri: &str) -> Result<DataPlaneOp, RestError> {
        parse(&method, &uri.parse().unwrap()).map(|p| p.op)
    }

    #[test]
    fn routes_every_operation_as_the_sdk_encodes_it() {
        assert_eq!(
            op(Method::POST, "/topics/devices%2Fa%2Fcmd?qos=1&retain=true").unwrap(),
            DataPlaneOp::Publish {
                topic: "devices/a/cmd".into(),
                retain: true
            }
        );
        assert_eq!(
            op(Method::GET, "/things/lamp/shadow?name=cfg").unwrap(),
            DataPlaneOp::GetThingShadow {
                thing: "lamp".into(),
                shadow: Some("cfg".into())
            }
        );
        assert_eq!(
            op(Method::POST, "/things/lamp/shadow").unwrap(),
            DataPlaneOp::UpdateThingShadow {
                thing: "lamp".into(),
                shadow: None
            }
        );
        assert_eq!(
            op(Method::DELETE, "/things/lamp/shadow").unwrap(),
            DataPlaneOp::DeleteThingShadow {
                thing: "lamp".into(),
                shadow: None
            }
        );
        assert_eq!(
            op(
                Method::GET,
                "/api/things/shadow/ListNamedShadowsForThing/lamp?pageSize=5"
            )
            .unwrap(),
            DataPlaneOp::ListNamedShadowsForThing {
                thing: "lamp".into()
            }
        );
        assert_eq!(
            op(Method::GET, "/retainedMessage?maxResults=10").unwrap(),
            DataPlaneOp::ListRetainedMessages
        );
        assert_eq!(
            op(Method::GET, "/retainedMessage/status%2Fnow").unwrap(),
            DataPlaneOp::GetRetainedMessage {
                topic: "status/now".into()
            }
        );
        assert_eq!(
            op(Method::DELETE, "/connections/dev-1?cleanSession=true").unwrap(),
            DataPlaneOp::DeleteConnection {
                client_id: "dev-1".into()
            }
        );
    }

    #[test]
    fn refuses_bad_input_with_the_api_types() {
        let code = |m, u| op(m, u).unwrap_err().code;
        assert_eq!(code(Method::GET, "/topics/a"), "MethodNotAllowedException");
        assert_eq!(
            code(Method::POST, "/topics/a%2F%23"),
            "InvalidRequestException"
        );
        assert_eq!(
            code(Method::POST, "/topics/a?qos=2"),
            "InvalidRequestException"
        );
        assert_eq!(
            code(Method::GET, "/things/bad%20name/shadow"),
            "InvalidRequestException"
        );
        assert_eq!(
            code(Method::GET, "/things/lamp/shadow?name=no%2Fslash"),
            "InvalidRequestException"
        );
        assert_eq!(
            code(Method::DELETE, "/connections/%24aws"),
            "InvalidRequestException"
        );
        assert_eq!(code(Method::GET, "/nothing"), "UnknownOperationException");
    }
}
