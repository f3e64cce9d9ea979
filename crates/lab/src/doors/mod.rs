//! The HTTPS doors the same credentials open besides MQTT: the AWS IoT data plane (`iot-data`,
//! restJson1, SigV4 service `iotdata`) and a subset of the IoT control plane (`iot`, restJson1,
//! SigV4 service `iot`). Each door has one pure decide function (`data_plane::decide`,
//! `control_plane::decide`): [`crate::authz::PrincipalAuthz`] handed to the policy crate's
//! `calls` module, which the HTTP handlers (`iot_data_http`, `iot_http`) and the offline
//! `simulate` share, so the live lab and the offline prediction cannot drift apart.

pub mod auth;
pub mod control_plane;
pub mod data_plane;
pub mod iot_data_http;
pub mod iot_http;
pub mod rest;

use std::net::IpAddr;
use std::time::SystemTime;

use iot_canary_policy::RequestContext;

use crate::authz::PrincipalAuthz;

/// The request facts a door adds to the principal's context. Over HTTPS there is no client id,
/// no connection and no connect attributes: statements that need `${iot:ClientId}` or
/// `iot:Connection.*` see those keys missing (the engine leaves such variables unresolved and
/// the statement does not match), exactly as a call without an MQTT connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallFacts {
    /// `aws:CurrentTime` / `aws:EpochTime`, and the policy propagation clock.
    pub now: SystemTime,
    /// `aws:SourceIp` (the TCP peer); `None` offline, where conditions on it do not match.
    pub source_ip: Option<IpAddr>,
}

impl CallFacts {
    pub fn at(now: SystemTime) -> CallFacts {
        CallFacts {
            now,
            source_ip: None,
        }
    }
}

/// What a door decided for one call (the policy crate's type: `simulate` reads the same).
pub use iot_canary_policy::calls::CallDecision as DoorDecision;

/// The principal's context plus the call's facts.
fn context(authz: &PrincipalAuthz, facts: &CallFacts) -> RequestContext {
    let mut ctx = authz.context.clone();
    ctx.current_time = Some(facts.now);
    ctx.source_ip = facts.source_ip;
    ctx
}

/// One HTTPS request to a door, as its handler receives it (an axum extractor: the peer's
/// address — `aws:SourceIp` —, method, URI, headers and body).
pub(super) struct DoorRequest {
    pub source_ip: std::net::IpAddr,
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for DoorRequest {
    type Rejection = axum::response::Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let (parts, body) = req.into_parts();
        let Some(axum::extract::ConnectInfo(peer)) = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .copied()
        else {
            // The lab serves every door with the peer's address (`serve_http`).
            return Err(http::StatusCode::INTERNAL_SERVER_ERROR.into_response());
        };
        let (method, uri, headers) = (
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
        );
        let body =
            bytes::Bytes::from_request(axum::extract::Request::from_parts(parts, body), state)
                .await
                .map_err(IntoResponse::into_response)?;
        Ok(DoorRequest {
            source_ip: peer.ip(),
            method,
            uri,
            headers,
            body,
        })
    }
}

/// What an admitted request is decided with.
pub(super) struct Admitted {
    pub creds: crate::state::IssuedCredentials,
    /// The principal's policies and request context (`LabState::principal_authz`).
    pub authz: PrincipalAuthz,
    pub facts: CallFacts,
}

/// One door request's admission: SigV4 header authentication (its failures worded by the
/// door's `auth_error`), then the admin fault `quota_exceeded` — the account's API rate is
/// exhausted, what a client must report as inconclusive, never as a refusal — and the
/// principal's authorization context at this moment.
pub(super) fn admit(
    state: &crate::state::LabState,
    signing_names: &[&str],
    req: &DoorRequest,
    auth_error: fn(auth::AuthFailure) -> rest::RestError,
) -> Result<Admitted, rest::RestError> {
    let now = state.now();
    let creds = auth::authenticate(
        state,
        auth::Scope {
            services: signing_names,
            lab_region: true,
        },
        &req.method,
        &req.uri,
        &req.headers,
        &req.body,
        now,
    )
    .map_err(auth_error)?;
    if state.faults().quota_exceeded {
        return Err(rest::RestError::new(
            http::StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Rate exceeded",
        ));
    }
    let authz = state.principal_authz(&creds.principal, now);
    Ok(Admitted {
        creds,
        authz,
        facts: CallFacts {
            now,
            source_ip: Some(req.source_ip),
        },
    })
}

/// What the doors' unit tests build principals from (us-east-1, account 123456789012).
#[cfg(test)]
mod test_support {
    use std::sync::Arc;

    use iot_canary_policy::{Policy, PolicySet, RequestContext};

    use crate::authz::PrincipalAuthz;

    pub(super) fn authz(set: PolicySet) -> PrincipalAuthz {
        PrincipalAuthz {
            set,
            context: RequestContext {
                region: "us-east-1".into(),
                account_id: "123456789012".into(),
                ..Default::default()
            },
        }
    }

    pub(super) fn policy(name: &str, statements: &str) -> Arc<Policy> {
        Arc::new(
            Policy::parse(
                name,
                &format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#),
            )
            .unwrap(),
        )
    }
}
