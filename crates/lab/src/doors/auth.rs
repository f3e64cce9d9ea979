//! SigV4 `Authorization`-header authentication for the HTTPS doors, against the lab's
//! credential registry. Protocol-neutral: it says *what* failed; each door renders the
//! failure as its endpoint does (iot-data: 403 ForbiddenException for all of them; the
//! control plane: the API-front-end types the SDKs report, e.g. `InvalidSignatureException`,
//! `UnrecognizedClientException`, `ExpiredTokenException`).

use std::time::SystemTime;

use http::{HeaderMap, Method, Uri, header};

use crate::sigv4::verify::constant_time_eq;
use crate::sigv4::verify_header::{self, HeaderSigError, SignedRequest};
use crate::state::{IssuedCredentials, LabState, Principal};

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("Missing Authentication Token")]
    Missing,
    /// Not a parseable SigV4 header, or a required part (date, signed host) missing.
    #[error("{0}")]
    Incomplete(String),
    /// The credential scope names another service or region.
    #[error("{0}")]
    WrongScope(String),
    /// The signature does not match, or a signed header differs from what was signed.
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method."
    )]
    Mismatch,
    /// `X-Amz-Date` outside the 15-minute window.
    #[error("Signature expired: {0} is now earlier or later than the 15 minute window")]
    Skewed(String),
    /// Unknown access key, or a session token that is missing or not the one issued.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// Temporary credentials past their expiration.
    #[error("The security token included in the request is expired")]
    Expired,
}

/// Which credential scopes a door accepts.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// Signing names; the first is the one error messages name.
    pub services: &'a [&'a str],
    /// Whether the scope's region must be the lab's (STS answers any region's signature:
    /// its global endpoint and the regional ones are one service to the lab).
    pub lab_region: bool,
}

/// Authenticates a header-signed request whose credential scope `scope` accepts; returns
/// the credentials (and so the principal).
pub fn authenticate(
    lab: &LabState,
    scope: Scope<'_>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<IssuedCredentials, AuthFailure> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthFailure::Missing)?
        .to_str()
        .map_err(|_| AuthFailure::Incomplete("Authorization header is not ASCII".into()))?;
    let parsed = verify_header::parse_authorization(value).map_err(|e| match e {
        HeaderSigError::Incomplete(m) => AuthFailure::Incomplete(m),
        other => AuthFailure::Incomplete(other.to_string()),
    })?;
    if !scope.services.contains(&parsed.service.as_str()) {
        return Err(AuthFailure::WrongScope(format!(
            "Credential should be scoped to correct service: '{}'.",
            scope.services.first().copied().unwrap_or_default()
        )));
    }
    if scope.lab_region && parsed.region != lab.region() {
        return Err(AuthFailure::WrongScope(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            parsed.region
        )));
    }
    let creds = lab
        .lookup_access_key(&parsed.access_key_id)
        .ok_or(AuthFailure::UnknownKey)?;
    let req = SignedRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body,
    };
    verify_header::verify(&parsed, &req, &creds.secret_access_key, now).map_err(|e| match e {
        HeaderSigError::Missing => AuthFailure::Missing,
        HeaderSigError::Incomplete(m) => AuthFailure::Incomplete(m),
        HeaderSigError::Mismatch => AuthFailure::Mismatch,
        HeaderSigError::Skewed(d) => AuthFailure::Skewed(d),
    })?;
    let sent_token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    match (&creds.session_token, sent_token) {
        (None, None) => {}
        (Some(t), Some(s)) if constant_time_eq(t, s) => {}
        _ => return Err(AuthFailure::UnknownKey),
    }
    if creds.expiration.is_some_and(|exp| now >= exp) {
        return Err(AuthFailure::Expired);
    }
    Ok(creds)
}

/// The caller's ARN as AWS names it in an AccessDenied message.
pub fn caller_arn(lab: &LabState, principal: &Principal) -> String {
    crate::identity::role_paths::caller_of(lab, principal).arn(lab.account_id())
}
