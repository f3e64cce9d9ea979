//! The lab's identity plane: STS (awsQuery), Cognito user pool and identity pool
//! (awsJson1.1) and the credential-vending API, on one HTTP router.
//!
//! Dispatch: a request with `x-amz-target` is Cognito (`AWSCognitoIdentityProviderService.*`
//! or `AWSCognitoIdentityService.*`); anything else on `/` is STS (`Action=` in the form body
//! or query). `/vend` is the vending API. Every credential issued here is registered with
//! [`LabState`] so the gateway authenticates it as the right principal.

pub mod cognito_identity;
pub mod cognito_idp;
pub mod errors;
pub mod jwt;
pub mod role_paths;
pub mod srp;
pub mod sts;
pub mod trust;
pub mod vending;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine;
use http::{HeaderMap, Method, StatusCode, Uri, header};
use rand::Rng;
use serde_json::json;

use crate::sigv4::verify_header::HeaderSigError;
use crate::state::{IssuedCredentials, LabState, Principal};
use cognito_identity::{
    GetCredentialsRequest, GetIdRequest, GetOpenIdTokenRequest, GuestIds, IdentityKind,
};
use cognito_idp::{RefreshTokens, SrpChallenges};
use errors::AwsError;
use iot_canary_policy::Policy;
use jwt::JwtSigner;
use sts::{AssumeRoleInput, Caller, MintedCredentials, Params};

/// Pool-side memory the scenario does not hold: refresh tokens and guest identity ids.
#[derive(Default)]
struct Sessions {
    refresh: RefreshTokens,
    guests: GuestIds,
    srp: SrpChallenges,
}

struct Plane {
    lab: Arc<LabState>,
    /// `None` only if key generation failed; Cognito then answers `InternalErrorException`.
    signer: Option<JwtSigner>,
    sessions: Mutex<Sessions>,
}

impl Plane {
    fn sessions(&self) -> MutexGuard<'_, Sessions> {
        // The maps hold plain values; a panic elsewhere cannot leave them half-updated.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn signer(&self) -> Result<&JwtSigner, AwsError> {
        self.signer.as_ref().ok_or_else(|| {
            AwsError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalErrorException",
                "token signing key unavailable",
            )
        })
    }
}

/// STS, Cognito IdP, Cognito Identity on `/`, the vending API on `/vend`.
pub fn router(lab: Arc<LabState>) -> Router {
    let signer = match JwtSigner::generate() {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "identity plane: cannot generate the user pool signing key");
            None
        }
    };
    let plane = Arc::new(Plane {
        lab,
        signer,
        sessions: Mutex::new(Sessions::default()),
    });
    Router::new()
        .route("/", any(aws_api))
        .route("/vend", any(vend))
        .with_state(plane)
}

fn request_id() -> String {
    hyphenated(&rand::rng().random())
}

/// 16 bytes written as AWS writes request ids and UUIDs: 8-4-4-4-12 lower-case hex digits.
pub(crate) fn hyphenated(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A new opaque refresh token (64 URL-safe characters).
fn refresh_token() -> String {
    random_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        64,
    )
}

fn random_from(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// Fresh temporary credentials shaped like AWS's (`ASIA...`, 40-char secret, opaque token
/// that contains `+`, `/` and `=` so clients' URL encoding is exercised).
fn mint(expiration: SystemTime) -> MintedCredentials {
    let token_bytes: [u8; 96] = {
        let mut b = [0u8; 96];
        rand::rng().fill(&mut b[..]);
        b
    };
    MintedCredentials {
        access_key_id: format!(
            "ASIA{}",
            random_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        ),
        secret_access_key: random_from(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
            40,
        ),
        session_token: format!(
            "IQoJb3JpZ2luX2Vj{}",
            base64::engine::general_purpose::STANDARD.encode(token_bytes)
        ),
        expiration,
    }
}

fn register(lab: &LabState, c: &MintedCredentials, principal: Principal) {
    lab.register_credentials(IssuedCredentials {
        access_key_id: c.access_key_id.clone(),
        secret_access_key: c.secret_access_key.clone(),
        session_token: Some(c.session_token.clone()),
        expiration: Some(c.expiration),
        principal,
    });
}

/// Mints and registers the credentials of an assumed-role session STS granted.
fn issue_session(lab: &LabState, grant: &sts::SessionGrant) -> Result<MintedCredentials, AwsError> {
    let session_policy = parse_session_policy(grant.session_policy.as_deref())?;
    let creds = mint(grant.expiration);
    register(
        lab,
        &creds,
        Principal::AssumedRole {
            role: grant.role.clone(),
            session_name: grant.session_name.clone(),
            session_policy,
        },
    );
    Ok(creds)
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn aws_api(
    State(p): State<Arc<Plane>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rid = request_id();
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let target = target.to_string();
        let result = cognito(&p, &target, &body);
        return match result {
            Ok(v) => (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/x-amz-json-1.1"),
                    (
                        header::HeaderName::from_static("x-amzn-requestid"),
                        rid.as_str(),
                    ),
                ],
                v.to_string(),
            )
                .into_response(),
            Err(e) => {
                tracing::debug!(target = %target, code = e.code, "cognito error");
                (
                    e.status,
                    [
                        (
                            header::CONTENT_TYPE,
                            "application/x-amz-json-1.1".to_string(),
                        ),
                        (
                            header::HeaderName::from_static("x-amzn-requestid"),
                            rid.clone(),
                        ),
                        (
                            header::HeaderName::from_static("x-amzn-errortype"),
                            format!("{}:", e.code),
                        ),
                    ],
                    e.to_json(),
                )
                    .into_response()
            }
        };
    }
    match sts_request(&p, &method, &uri, &headers, &body, &rid) {
        Ok(xml) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], xml).into_response(),
        Err(e) => {
            tracing::debug!(code = e.code, "sts error");
            (
                e.status,
                [(header::CONTENT_TYPE, "text/xml")],
                e.to_query_xml(&rid),
            )
                .into_response()
        }
    }
}

// --- STS -------------------------------------------------------------------------------------

fn sts_request(
    p: &Plane,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    rid: &str,
) -> Result<String, AwsError> {
    let mut params = Params::parse(uri.query().unwrap_or("").as_bytes());
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.extend(Params::parse(body));
    }
    let action = params
        .get("Action")
        .ok_or_else(|| AwsError::bad_request("MissingAction", "Missing Action"))?
        .to_string();
    if action == "AssumeRoleWithWebIdentity" {
        // Unsigned: the web identity token is the credential.
        return web_identity(p, &params, rid);
    }
    if !matches!(action.as_str(), "AssumeRole" | "GetCallerIdentity") {
        return Err(AwsError::bad_request(
            "InvalidAction",
            format!(
                "Could not find operation {action} for version {}",
                params.get("Version").unwrap_or("NO_VERSION_SPECIFIED")
            ),
        ));
    }
    let now = p.lab.now();
    let caller_creds = authenticate(p, method, uri, headers, body, now)?;
    let caller = caller_of(p, &caller_creds.principal);
    let lab = &p.lab;
    let account = lab.account_id().to_string();
    match action.as_str() {
        "GetCallerIdentity" => Ok(sts::caller_identity_xml(&account, &caller, rid)),
        _ => {
            let input = AssumeRoleInput::parse(&params)?;
            let authz = lab.principal_authz(&caller_creds.principal, now);
            let aws_caller = caller.aws_caller(&account);
            let ctx = trust::assume_role_context(&authz.context, &aws_caller);
            let trusted = |role: &crate::scenario::Role| {
                let Some(t) = lab.loaded().trust.get(&role.name) else {
                    return false;
                };
                let d =
                    trust::decide_assume_role(t, &aws_caller, &authz.set, &input.role_arn, &ctx);
                tracing::debug!(role = %role.name, allowed = d.allowed, why = %d.explanation, "sts: AssumeRole trust");
                d.allowed
            };
            let grant = sts::assume_role(
                lab.scenario(),
                &caller,
                &input,
                trusted,
                |name| lab.policy_json(name),
                check_policy,
                now,
            )?;
            let creds = issue_session(lab, &grant)?;
            tracing::info!(role = %grant.role, session = %grant.session_name, caller = %caller.arn(&account), "sts: AssumeRole");
            Ok(sts::assume_role_xml(&account, &grant, &creds, rid))
        }
    }
}

/// STS `AssumeRoleWithWebIdentity` with an OpenID token of the lab's identity pool.
fn web_identity(p: &Plane, params: &Params, rid: &str) -> Result<String, AwsError> {
    let lab = &p.lab;
    let now = lab.now();
    let token = params.get("WebIdentityToken").ok_or_else(|| {
        AwsError::validation(
            "1 validation error detected: Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let input = AssumeRoleInput::parse(params)?;
    let invalid = || {
        AwsError::bad_request(
            "InvalidIdentityToken",
            "Couldn't verify the web identity token: it is not a token of a trusted identity provider.",
        )
    };
    let claims = p.signer()?.verify(token, now).map_err(|e| match e {
        jwt::JwtError::Expired => AwsError::bad_request("ExpiredTokenException", "Token expired"),
        _ => invalid(),
    })?;
    let identity = cognito_identity::web_identity_from_claims(&claims)
        .filter(|w| w.provider == trust::COGNITO_IDENTITY)
        .ok_or_else(invalid)?;
    let trusted = |role: &crate::scenario::Role| {
        let arn = format!("arn:aws:iam::{}:role/{}", lab.account_id(), role.name);
        lab.loaded().trust.get(&role.name).is_some_and(|t| {
            let d = trust::decide_web_identity(t, &identity, &arn);
            tracing::debug!(role = %role.name, allowed = d.allowed, why = %d.explanation, "sts: web identity trust");
            d.allowed
        })
    };
    let grant = sts::assume_role_with_web_identity(
        lab.scenario(),
        &input,
        trusted,
        |name| lab.policy_json(name),
        check_policy,
        now,
    )?;
    let creds = issue_session(lab, &grant)?;
    tracing::info!(role = %grant.role, session = %grant.session_name, amr = ?identity.amr, "sts: AssumeRoleWithWebIdentity");
    Ok(sts::assume_role_with_web_identity_xml(
        lab.account_id(),
        &grant,
        &creds,
        &identity,
        rid,
    ))
}

fn check_policy(json: &str) -> Result<(), String> {
    Policy::parse("session", json)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn parse_session_policy(json: Option<&str>) -> Result<Option<Arc<Policy>>, AwsError> {
    json.map(|j| {
        Policy::parse("session", j)
            .map(Arc::new)
            .map_err(|e| AwsError::bad_request("MalformedPolicyDocument", e.to_string()))
    })
    .transpose()
}

fn caller_of(p: &Plane, principal: &Principal) -> Caller {
    role_paths::caller_of(&p.lab, principal)
}

/// SigV4 header authentication with the lab's credential registry (the doors' own check),
/// answering as STS does.
fn authenticate(
    p: &Plane,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<IssuedCredentials, AwsError> {
    use crate::doors::auth::{self, AuthFailure};
    let scope = auth::Scope {
        services: &["sts"],
        lab_region: false,
    };
    auth::authenticate(&p.lab, scope, method, uri, headers, body, now).map_err(|e| match e {
        AuthFailure::Missing => AwsError::forbidden(
            "MissingAuthenticationToken",
            HeaderSigError::Missing.to_string(),
        ),
        AuthFailure::Incomplete(m) => AwsError::bad_request("IncompleteSignature", m),
        AuthFailure::UnknownKey => AwsError::forbidden("InvalidClientTokenId", e.to_string()),
        AuthFailure::Expired => AwsError::bad_request("ExpiredToken", e.to_string()),
        AuthFailure::WrongScope(_) | AuthFailure::Mismatch | AuthFailure::Skewed(_) => {
            AwsError::forbidden("SignatureDoesNotMatch", e.to_string())
        }
    })
}

// --- Cognito ---------------------------------------------------------------------------------

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    serde_json::from_slice(body).map_err(|e| {
        AwsError::bad_request(
            "SerializationException",
            format!("cannot parse request body: {e}"),
        )
    })
}

fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    hyphenated(&b)
}

fn cognito(p: &Plane, target: &str, body: &[u8]) -> Result<serde_json::Value, AwsError> {
    let lab = &p.lab;
    let now = lab.now();
    let unknown = || {
        AwsError::bad_request(
            "UnknownOperationException",
            format!("Unknown operation {target}"),
        )
    };
    let (service, op) = target.split_once('.').ok_or_else(unknown)?;
    match (service, op) {
        ("AWSCognitoIdentityProviderService", "InitiateAuth" | "RespondToAuthChallenge") => {
            let signer = p.signer()?;
            let mut s = p.sessions();
            let s = &mut *s;
            let jti = uuid_v4();
            let call = cognito_idp::PoolCall {
                scenario: lab.scenario(),
                signer,
                refresh: &mut s.refresh,
                srp: &mut s.srp,
                new_refresh_token: refresh_token(),
                jti: &jti,
                now,
            };
            if op == "InitiateAuth" {
                cognito_idp::initiate_auth(call, &parse_json(body)?)
            } else {
                cognito_idp::respond_to_auth_challenge(call, &parse_json(body)?)
            }
        }
        ("AWSCognitoIdentityService", "GetOpenIdToken") => {
            let req: GetOpenIdTokenRequest = parse_json(body)?;
            let signer = p.signer()?;
            let (identity_id, token) = {
                let s = p.sessions();
                cognito_identity::open_id_token(lab.scenario(), signer, &req, &s.guests, now)?
            };
            let jwt = signer
                .sign(&cognito_identity::open_id_claims(&token, now))
                .map_err(|e| {
                    AwsError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalErrorException",
                        e.to_string(),
                    )
                })?;
            tracing::info!(identity_id = %identity_id, amr = ?token.amr, "cognito: GetOpenIdToken");
            Ok(json!({ "IdentityId": identity_id, "Token": jwt }))
        }
        ("AWSCognitoIdentityService", "GetId") => {
            let req: GetIdRequest = parse_json(body)?;
            let signer = p.signer()?;
            let mut s = p.sessions();
            let id = cognito_identity::get_id(
                lab.scenario(),
                signer,
                &req,
                &mut s.guests,
                &uuid_v4(),
                now,
            )?;
            Ok(json!({ "IdentityId": id }))
        }
        ("AWSCognitoIdentityService", "GetCredentialsForIdentity") => {
            let req: GetCredentialsRequest = parse_json(body)?;
            let signer = p.signer()?;
            let grant = {
                let s = p.sessions();
                let trust = &lab.loaded().trust;
                cognito_identity::credentials_for_identity(
                    lab.scenario(),
                    signer,
                    &req,
                    &s.guests,
                    |role| trust.get(role).map(|t| &**t),
                    now,
                )?
            };
            let pool_auth_role = lab
                .scenario()
                .cognito
                .as_ref()
                .map(|c| c.authenticated_role.clone())
                .unwrap_or_default();
            let ttl = lab
                .scenario()
                .cognito
                .as_ref()
                .map(cognito_identity::credentials_ttl)
                .unwrap_or(3600);
            let creds = mint(now + Duration::from_secs(ttl));
            let (identity_id, principal) = match grant.kind {
                // A token-selected role (CustomRoleArn, cognito:preferred_role): a session of
                // that role. The lab does not intersect the identity's IoT policy here
                // (docs/lab-identity.md, "Role selection from tokens").
                IdentityKind::Authenticated { identity_id, .. } if grant.role != pool_auth_role => {
                    (
                        identity_id,
                        Principal::AssumedRole {
                            role: grant.role.clone(),
                            session_name: "CognitoIdentityCredentials".into(),
                            session_policy: None,
                        },
                    )
                }
                IdentityKind::Authenticated {
                    identity_id,
                    username,
                } => (
                    identity_id.clone(),
                    Principal::CognitoAuthenticated {
                        identity_id,
                        username,
                    },
                ),
                IdentityKind::Unauthenticated { identity_id } => (
                    identity_id.clone(),
                    Principal::CognitoUnauthenticated { identity_id },
                ),
            };
            register(lab, &creds, principal);
            tracing::info!(identity_id = %identity_id, role = %grant.role, "cognito: GetCredentialsForIdentity");
            Ok(json!({
                "IdentityId": identity_id,
                "Credentials": {
                    "AccessKeyId": creds.access_key_id,
                    "SecretKey": creds.secret_access_key,
                    "SessionToken": creds.session_token,
                    "Expiration": epoch_secs(creds.expiration),
                }
            }))
        }
        _ => Err(unknown()),
    }
}

// --- Vending API -----------------------------------------------------------------------------

fn vend_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "code": code, "message": message.into() }).to_string(),
    )
        .into_response()
}

async fn vend(State(p): State<Arc<Plane>>, method: Method, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::POST {
        return vend_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "use GET or POST",
        );
    }
    let lab = &p.lab;
    let now = lab.now();
    let Some(v) = lab.scenario().vending.clone() else {
        return vend_error(
            StatusCode::NOT_FOUND,
            "NotConfigured",
            "the scenario has no [vending] section",
        );
    };
    // `Bearer <id token>`, or the bare token (what aws-config's container provider sends).
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.strip_prefix("Bearer ").unwrap_or(h).trim().to_string());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return vend_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "an Authorization header with a Cognito id token is required",
        );
    };
    let signer = match p.signer() {
        Ok(s) => s,
        Err(e) => return vend_error(e.status, e.code, e.message),
    };
    let subject = match cognito_idp::verify_id_token(lab.scenario(), signer, &token, now) {
        Ok(s) => s,
        Err(e) => return vend_error(StatusCode::UNAUTHORIZED, "Unauthorized", e.message),
    };
    let things = lab.things_accessible_by(&subject.username);
    let policy = match vending::render(
        &v.session_policy_template,
        &vending::TemplateVars {
            username: &subject.username,
            region: lab.region(),
            account: lab.account_id(),
            things: &things,
            ..Default::default()
        },
    ) {
        Ok(p) => p,
        Err(e) => {
            return vend_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "TemplateError",
                e.to_string(),
            );
        }
    };
    let Some(role) = lab.scenario().role.iter().find(|r| r.name == v.role) else {
        return vend_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "NotConfigured",
            format!("vending role {} is not a [[role]]", v.role),
        );
    };
    let role_arn = format!("arn:aws:iam::{}:role/{}", lab.account_id(), role.name);
    let session = vending::session_name(&subject.username);
    // The vending service is the role's own backend: its AssumeRole call goes through the
    // same parameter and session-policy checks as any STS caller's.
    let params = Params(vec![
        ("RoleArn".into(), role_arn),
        ("RoleSessionName".into(), session),
        ("Policy".into(), policy.clone()),
    ]);
    let ttl = v.credentials_ttl.unwrap_or(sts::DEFAULT_DURATION);
    let grant = AssumeRoleInput::parse(&params).and_then(|input| {
        sts::session_grant(
            lab.scenario(),
            role,
            &input,
            &|name: &str| lab.policy_json(name),
            &check_policy,
            now + Duration::from_secs(ttl),
        )
    });
    let grant = match grant {
        Ok(g) => g,
        Err(e) => {
            let status = if e.status.is_client_error() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                e.status
            };
            return vend_error(
                status,
                e.code,
                format!(
                    "session policy for {} thing(s) is {} characters; STS refused it: {}",
                    things.len(),
                    policy.chars().count(),
                    e.message
                ),
            );
        }
    };
    let creds = match issue_session(lab, &grant) {
        Ok(c) => c,
        Err(e) => return vend_error(StatusCode::INTERNAL_SERVER_ERROR, e.code, e.message),
    };
    tracing::info!(user = %subject.username, things = things.len(), "vending: issued credentials");
    let expiration = aws_smithy_types::DateTime::from(creds.expiration)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "SessionToken": creds.session_token,
            // `Token` too, so aws-config's container-credentials provider reads it as-is.
            "Token": creds.session_token,
            "Expiration": expiration,
            "Username": subject.username,
            "ClientId": subject.username,
            "Things": things,
            "PackedPolicySize": grant.packed_policy_percent,
        })
        .to_string(),
    )
        .into_response()
}
