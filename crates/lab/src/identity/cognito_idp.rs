//! Cognito user pool (`AWSCognitoIdentityProviderService`, awsJson1.1): `InitiateAuth` with
//! `USER_PASSWORD_AUTH`, `USER_SRP_AUTH` (+ `RespondToAuthChallenge` `PASSWORD_VERIFIER`) and
//! `REFRESH_TOKEN_AUTH`, as the app client allows them (`explicit_auth_flows`, `SECRET_HASH`
//! for clients with a secret), issuing RS256 id/access tokens with Cognito's claims (groups:
//! `cognito:groups`, `cognito:roles`, `cognito:preferred_role`). Pure apart from the random
//! refresh token the caller supplies and the SRP challenge's own randomness.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use serde::Deserialize;
use serde_json::{Value, json};

use super::errors::AwsError;
use super::jwt::{JwtError, JwtSigner, TokenClaims};
use crate::scenario::{Cognito, Scenario};

pub const DEFAULT_TOKEN_TTL: u64 = 3600;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitiateAuthRequest {
    pub auth_flow: Option<String>,
    pub client_id: Option<String>,
    #[serde(default)]
    pub auth_parameters: BTreeMap<String, String>,
}

fn invalid(msg: impl Into<String>) -> AwsError {
    AwsError::bad_request("InvalidParameterException", msg)
}

fn not_authorized(msg: impl Into<String>) -> AwsError {
    AwsError::bad_request("NotAuthorizedException", msg)
}

pub fn issuer(region: &str, user_pool_id: &str) -> String {
    format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}")
}

/// The user's `sub`: stable per pool and username, shaped like Cognito's UUIDs.
pub fn user_sub(user_pool_id: &str, username: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("sub\u{0}{user_pool_id}\u{0}{username}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    super::hyphenated(&b)
}

pub fn token_ttl(c: &Cognito) -> u64 {
    c.token_ttl
        .or(c.credentials_ttl)
        .unwrap_or(DEFAULT_TOKEN_TTL)
}

/// Refresh tokens the pool has issued: token -> username.
pub type RefreshTokens = HashMap<String, String>;

/// `PASSWORD_VERIFIER` challenges in progress: `SECRET_BLOCK` -> (state, expiry).
#[derive(Debug, Default)]
pub struct SrpChallenges {
    pending: HashMap<String, (super::srp::Pending, SystemTime)>,
}

/// How long a `PASSWORD_VERIFIER` challenge stays answerable (Cognito sessions: 3 minutes).
pub const SRP_CHALLENGE_TTL: std::time::Duration = std::time::Duration::from_secs(180);
/// Bound on challenges held at once (expired ones are dropped first).
const SRP_MAX_PENDING: usize = 10_000;

/// The `InitiateAuth` flows the lab's user pool implements, as app clients allow them
/// (`ExplicitAuthFlows`: `ALLOW_USER_PASSWORD_AUTH`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFlow {
    UserPassword,
    UserSrp,
    RefreshToken,
}

impl AuthFlow {
    /// `USER_PASSWORD_AUTH` / `ALLOW_USER_PASSWORD_AUTH`, ...
    pub fn from_setting(s: &str) -> Option<AuthFlow> {
        match s.strip_prefix("ALLOW_").unwrap_or(s) {
            "USER_PASSWORD_AUTH" => Some(AuthFlow::UserPassword),
            "USER_SRP_AUTH" => Some(AuthFlow::UserSrp),
            "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => Some(AuthFlow::RefreshToken),
            _ => None,
        }
    }

    fn allowed_by(self, pool: &Cognito) -> bool {
        match &pool.explicit_auth_flows {
            None => true,
            Some(list) => list.iter().any(|f| AuthFlow::from_setting(f) == Some(self)),
        }
    }
}

/// `SECRET_HASH` = Base64(HMAC-SHA256(client secret, username || client id)) (Cognito
/// developer guide, "Computing secret hash values").
pub fn secret_hash(client_secret: &str, username: &str, client_id: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(client_secret.as_bytes())
        // Invariant: HMAC accepts keys of any length.
        .expect("hmac key");
    mac.update(username.as_bytes());
    mac.update(client_id.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An app client with a secret needs `SECRET_HASH` on every flow ("Unable to verify secret
/// hash for client X", NotAuthorizedException, as Cognito answers).
fn check_secret_hash(
    pool: &Cognito,
    client_id: &str,
    username: &str,
    sent: Option<&str>,
) -> Result<(), AwsError> {
    let Some(secret) = &pool.app_client_secret else {
        return Ok(());
    };
    let expected = secret_hash(secret, username, client_id);
    match sent {
        Some(s) if crate::sigv4::verify::constant_time_eq(&expected, s) => Ok(()),
        _ => Err(not_authorized(format!(
            "Unable to verify secret hash for client {client_id}"
        ))),
    }
}

fn app_client<'a>(
    scenario: &'a Scenario,
    client_id: Option<&str>,
) -> Result<(&'a Cognito, String), AwsError> {
    let client_id = client_id
        .ok_or_else(|| invalid("1 validation error detected: Value null at 'clientId' failed to satisfy constraint: Member must not be null"))?;
    let pool = scenario
        .cognito
        .as_ref()
        .filter(|c| c.app_client_id == client_id)
        .ok_or_else(|| {
            AwsError::bad_request(
                "ResourceNotFoundException",
                format!("User pool client {client_id} does not exist."),
            )
        })?;
    Ok((pool, client_id.to_string()))
}

/// What one user-pool call works with: the pool's stores and the call's fresh values.
pub struct PoolCall<'a> {
    pub scenario: &'a Scenario,
    pub signer: &'a JwtSigner,
    /// The pool's refresh-token store.
    pub refresh: &'a mut RefreshTokens,
    /// The pool's SRP challenges in progress.
    pub srp: &'a mut SrpChallenges,
    /// A fresh random opaque token, issued by the flows that sign in.
    pub new_refresh_token: String,
    /// The tokens' `jti`.
    pub jti: &'a str,
    pub now: SystemTime,
}

/// `InitiateAuth`.
pub fn initiate_auth(call: PoolCall<'_>, req: &InitiateAuthRequest) -> Result<Value, AwsError> {
    let PoolCall {
        scenario,
        signer,
        refresh,
        srp,
        new_refresh_token,
        jti,
        now,
    } = call;
    let (pool, client_id) = app_client(scenario, req.client_id.as_deref())?;
    let flow_name = req
        .auth_flow
        .as_deref()
        .ok_or_else(|| invalid("1 validation error detected: Value null at 'authFlow' failed to satisfy constraint: Member must not be null"))?;
    let flow = AuthFlow::from_setting(flow_name)
        .filter(|f| f.allowed_by(pool))
        // Cognito's wording for a flow the app client does not allow.
        .ok_or_else(|| invalid(format!("{flow_name} flow not enabled for this client")))?;
    let param = |k: &str| {
        req.auth_parameters
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| invalid(format!("Missing required parameter {k}")))
    };
    let secret = req.auth_parameters.get("SECRET_HASH").map(String::as_str);
    let (username, refresh_out) = match flow {
        AuthFlow::UserPassword => {
            let username = param("USERNAME")?;
            let password = param("PASSWORD")?;
            check_secret_hash(pool, &client_id, username, secret)?;
            // Same answer for unknown users and wrong passwords (Cognito's default
            // "prevent user existence errors"); compare without early exit.
            let ok = pool
                .user
                .iter()
                .find(|u| u.username == username)
                .map(|u| crate::sigv4::verify::constant_time_eq(&u.password, password))
                .unwrap_or(false);
            if !ok {
                return Err(not_authorized("Incorrect username or password."));
            }
            refresh.insert(new_refresh_token.clone(), username.to_string());
            (username.to_string(), Some(new_refresh_token))
        }
        AuthFlow::UserSrp => {
            let username = param("USERNAME")?;
            let srp_a = param("SRP_A")?;
            check_secret_hash(pool, &client_id, username, secret)?;
            return srp_challenge(pool, username, srp_a, srp, now);
        }
        AuthFlow::RefreshToken => {
            let token = param("REFRESH_TOKEN")?;
            let user = refresh
                .get(token)
                .cloned()
                .ok_or_else(|| not_authorized("Invalid Refresh Token"))?;
            if pool.app_client_secret.is_some() {
                let who = req
                    .auth_parameters
                    .get("USERNAME")
                    .map_or(user.as_str(), String::as_str);
                check_secret_hash(pool, &client_id, who, secret)?;
            }
            (user, None)
        }
    };
    sign_in(
        scenario,
        signer,
        pool,
        &client_id,
        &username,
        refresh_out,
        jti,
        now,
    )
}

fn srp_challenge(
    pool: &Cognito,
    username: &str,
    srp_a: &str,
    srp: &mut SrpChallenges,
    now: SystemTime,
) -> Result<Value, AwsError> {
    use base64::Engine;
    use rand::Rng;
    let mut rng = rand::rng();
    let b: [u8; 32] = rng.random();
    let salt: [u8; 16] = rng.random();
    let mut block = [0u8; 96];
    rng.fill(&mut block[..]);
    let password = pool
        .user
        .iter()
        .find(|u| u.username == username)
        .map(|u| u.password.as_str());
    let pending = super::srp::start(&pool.user_pool_id, username, password, srp_a, &b, &salt)
        .map_err(|e| invalid(e.to_string()))?;
    let secret_block = base64::engine::general_purpose::STANDARD.encode(block);
    srp.pending.retain(|_, (_, exp)| *exp > now);
    if srp.pending.len() >= SRP_MAX_PENDING {
        return Err(AwsError::bad_request(
            "TooManyRequestsException",
            "Too many sign-ins in progress.",
        ));
    }
    let out = json!({
        "ChallengeName": "PASSWORD_VERIFIER",
        "ChallengeParameters": {
            "SALT": pending.salt_hex(),
            "SECRET_BLOCK": secret_block,
            "SRP_B": pending.srp_b_hex(),
            "USERNAME": username,
            "USER_ID_FOR_SRP": username,
        }
    });
    srp.pending
        .insert(secret_block, (pending, now + SRP_CHALLENGE_TTL));
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RespondToAuthChallengeRequest {
    pub challenge_name: Option<String>,
    pub client_id: Option<String>,
    #[serde(default)]
    pub challenge_responses: BTreeMap<String, String>,
    #[serde(default)]
    pub session: Option<String>,
}

/// `RespondToAuthChallenge` with `PASSWORD_VERIFIER` (the second half of `USER_SRP_AUTH`).
pub fn respond_to_auth_challenge(
    call: PoolCall<'_>,
    req: &RespondToAuthChallengeRequest,
) -> Result<Value, AwsError> {
    let (pool, client_id) = app_client(call.scenario, req.client_id.as_deref())?;
    match req.challenge_name.as_deref() {
        Some("PASSWORD_VERIFIER") => {}
        None => {
            return Err(invalid(
                "1 validation error detected: Value null at 'challengeName' failed to satisfy constraint: Member must not be null",
            ));
        }
        Some(other) => {
            return Err(invalid(format!(
                "Unsupported challenge name {other} (the lab implements PASSWORD_VERIFIER)"
            )));
        }
    }
    let param = |k: &str| {
        req.challenge_responses
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| invalid(format!("Missing required parameter {k}")))
    };
    let username = param("USERNAME")?;
    let block = param("PASSWORD_CLAIM_SECRET_BLOCK")?;
    let signature = param("PASSWORD_CLAIM_SIGNATURE")?;
    let timestamp = param("TIMESTAMP")?;
    check_secret_hash(
        pool,
        &client_id,
        username,
        req.challenge_responses
            .get("SECRET_HASH")
            .map(String::as_str),
    )?;
    if !super::srp::timestamp_is_well_formed(timestamp) {
        return Err(invalid(format!("Invalid TIMESTAMP: {timestamp}")));
    }
    // One answer per challenge, right or wrong (as Cognito: a new sign-in needs a new SRP_A).
    let pending = match call.srp.pending.remove(block) {
        Some((p, exp)) if exp > call.now => p,
        _ => {
            return Err(not_authorized(
                "Invalid session for the user, session is expired.",
            ));
        }
    };
    if pending.user_id != username
        || !pending.verify(&pool.user_pool_id, block, timestamp, signature)
    {
        return Err(not_authorized("Incorrect username or password."));
    }
    call.refresh
        .insert(call.new_refresh_token.clone(), username.to_string());
    sign_in(
        call.scenario,
        call.signer,
        pool,
        &client_id,
        username,
        Some(call.new_refresh_token),
        call.jti,
        call.now,
    )
}

/// The user's groups (by precedence, then name), their role ARNs and the preferred role
/// (the lowest precedence with a role; none when two groups tie there, as Cognito).
pub fn group_claims(
    scenario: &Scenario,
    pool: &Cognito,
    username: &str,
) -> (Vec<String>, Vec<String>, Option<String>) {
    let mut groups: Vec<&crate::scenario::CognitoGroup> = pool
        .group
        .iter()
        .filter(|g| g.users.iter().any(|u| u == username))
        .collect();
    groups.sort_by(|a, b| {
        (a.precedence.unwrap_or(u32::MAX), &a.name)
            .cmp(&(b.precedence.unwrap_or(u32::MAX), &b.name))
    });
    let arn = |r: &str| format!("arn:aws:iam::{}:role/{r}", scenario.account_id);
    let names = groups.iter().map(|g| g.name.clone()).collect();
    let mut roles: Vec<String> = Vec::new();
    for g in &groups {
        if let Some(r) = &g.role {
            let a = arn(r);
            if !roles.contains(&a) {
                roles.push(a);
            }
        }
    }
    let with_role: Vec<_> = groups.iter().filter(|g| g.role.is_some()).collect();
    let preferred = match with_role.as_slice() {
        [] => None,
        [first, rest @ ..] => {
            let p = first.precedence.unwrap_or(u32::MAX);
            let tie = rest
                .iter()
                .any(|g| g.precedence.unwrap_or(u32::MAX) == p && g.role != first.role);
            (!tie).then(|| first.role.as_deref().map(arn)).flatten()
        }
    };
    (names, roles, preferred)
}

#[allow(clippy::too_many_arguments)]
fn sign_in(
    scenario: &Scenario,
    signer: &JwtSigner,
    pool: &Cognito,
    client_id: &str,
    username: &str,
    refresh_out: Option<String>,
    jti: &str,
    now: SystemTime,
) -> Result<Value, AwsError> {
    let ttl = token_ttl(pool);
    let iss = issuer(&scenario.region, &pool.user_pool_id);
    let sub = user_sub(&pool.user_pool_id, username);
    let claims = |token_use| TokenClaims {
        issuer: &iss,
        client_id,
        sub: &sub,
        username,
        token_use,
        issued_at: now,
        ttl_secs: ttl,
        jti,
    };
    let (groups, roles, preferred) = group_claims(scenario, pool, username);
    let sign = |use_: &'static str| {
        let mut m = claims(use_).to_map();
        if !groups.is_empty() {
            m.insert("cognito:groups".into(), json!(groups));
            if use_ == "id" {
                if !roles.is_empty() {
                    m.insert("cognito:roles".into(), json!(roles));
                }
                if let Some(p) = &preferred {
                    m.insert("cognito:preferred_role".into(), json!(p));
                }
            }
        }
        signer.sign(&m).map_err(internal)
    };
    let mut result = json!({
        "AccessToken": sign("access")?,
        "ExpiresIn": ttl,
        "IdToken": sign("id")?,
        "TokenType": "Bearer",
    });
    if let Some(r) = refresh_out {
        result["RefreshToken"] = Value::String(r);
    }
    Ok(json!({ "AuthenticationResult": result, "ChallengeParameters": {} }))
}

fn internal(e: JwtError) -> AwsError {
    AwsError::new(
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "InternalErrorException",
        e.to_string(),
    )
}

/// A verified id token of this pool: the username it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenSubject {
    pub username: String,
    pub sub: String,
    /// `cognito:roles` and `cognito:preferred_role` (user-pool groups with roles).
    pub roles: super::trust::TokenRoles,
}

/// Verifies an id token issued by the scenario's user pool (signature, expiry, issuer,
/// audience = app client, `token_use = id`). Messages follow Cognito's "Invalid login token".
pub fn verify_id_token(
    scenario: &Scenario,
    signer: &JwtSigner,
    token: &str,
    now: SystemTime,
) -> Result<IdTokenSubject, AwsError> {
    let pool = scenario
        .cognito
        .as_ref()
        .ok_or_else(|| not_authorized("Invalid login token. No user pool configured."))?;
    let claims = signer.verify(token, now).map_err(|e| match e {
        JwtError::Expired => not_authorized("Invalid login token. Token expired."),
        other => not_authorized(format!("Invalid login token. {other}.")),
    })?;
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    if s("iss") != Some(issuer(&scenario.region, &pool.user_pool_id).as_str()) {
        return Err(not_authorized(
            "Invalid login token. Issuer doesn't match providerName",
        ));
    }
    if s("aud") != Some(pool.app_client_id.as_str()) || s("token_use") != Some("id") {
        return Err(not_authorized(
            "Invalid login token. Not an id token of this pool's app client.",
        ));
    }
    let roles = super::trust::TokenRoles {
        roles: claims
            .get("cognito:roles")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        preferred: s("cognito:preferred_role").map(str::to_string),
    };
    match (s("cognito:username"), s("sub")) {
        (Some(u), Some(sub)) => Ok(IdTokenSubject {
            username: u.to_string(),
            sub: sub.to_string(),
            roles,
        }),
        _ => Err(not_authorized("Invalid login token. Missing claims.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;
    use std::time::{Duration, UNIX_EPOCH};

    fn signer() -> &'static JwtSigner {
        static S: OnceLock<JwtSigner> = OnceLock::new();
        S.get_or_init(|| JwtSigner::generate().unwrap())
    }

    fn scenario() -> Scenario {
        toml::from_str(
            r#"
            region = "us-east-1"
            account_id = "123456789012"
            [[role]]
            name = "Auth"
            [cognito]
            user_pool_id = "us-east-1_Lab"
            app_client_id = "labclient"
            identity_pool_id = "us-east-1:pool"
            authenticated_role = "Auth"
            [[cognito.user]]
            username = "alice"
            password = "alice-pw"
            "#,
        )
        .unwrap()
    }

    fn req(flow: &str, params: &[(&str, &str)]) -> InitiateAuthRequest {
        InitiateAuthRequest {
            auth_flow: Some(flow.into()),
            client_id: Some("labclient".into()),
            auth_parameters: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    const T: u64 = 1_800_000_000;

    fn auth(r: &InitiateAuthRequest, store: &mut RefreshTokens) -> Result<Value, AwsError> {
        initiate_auth(
            PoolCall {
                scenario: &scenario(),
                signer: signer(),
                refresh: store,
                srp: &mut SrpChallenges::default(),
                new_refresh_token: "rt-1".into(),
                jti: "j",
                now: UNIX_EPOCH + Duration::from_secs(T),
            },
            r,
        )
    }

    #[test]
    fn password_flow_issues_verifiable_tokens_and_a_refresh_token() {
        let mut store = RefreshTokens::new();
        let out = auth(
            &req(
                "USER_PASSWORD_AUTH",
                &[("USERNAME", "alice"), ("PASSWORD", "alice-pw")],
            ),
            &mut store,
        )
        .unwrap();
        let r = &out["AuthenticationResult"];
        assert_eq!(r["ExpiresIn"], 3600);
        assert_eq!(r["RefreshToken"], "rt-1");
        let id = r["IdToken"].as_str().unwrap();
        let subj = verify_id_token(
            &scenario(),
            signer(),
            id,
            UNIX_EPOCH + Duration::from_secs(T + 5),
        )
        .unwrap();
        assert_eq!(subj.username, "alice");
        assert_eq!(subj.sub, user_sub("us-east-1_Lab", "alice"));
        // The access token is not an id token.
        let access = r["AccessToken"].as_str().unwrap();
        assert_eq!(
            verify_id_token(
                &scenario(),
                signer(),
                access,
                UNIX_EPOCH + Duration::from_secs(T)
            )
            .unwrap_err()
            .code,
            "NotAuthorizedException"
        );
        // Expired id token.
        let e = verify_id_token(
            &scenario(),
            signer(),
            id,
            UNIX_EPOCH + Duration::from_secs(T + 3600),
        )
        .unwrap_err();
        assert!(e.message.contains("expired"), "{}", e.message);
        // Refresh flow.
        let out = auth(
            &req("REFRESH_TOKEN_AUTH", &[("REFRESH_TOKEN", "rt-1")]),
            &mut store,
        )
        .unwrap();
        assert!(out["AuthenticationResult"]["IdToken"].is_string());
        assert!(out["AuthenticationResult"].get("RefreshToken").is_none());
    }

    #[test]
    fn failures_use_cognito_codes() {
        let mut store = RefreshTokens::new();
        let code =
            |r: InitiateAuthRequest, store: &mut RefreshTokens| auth(&r, store).unwrap_err().code;
        assert_eq!(
            code(
                req(
                    "USER_PASSWORD_AUTH",
                    &[("USERNAME", "alice"), ("PASSWORD", "x")]
                ),
                &mut store
            ),
            "NotAuthorizedException"
        );
        assert_eq!(
            code(
                req(
                    "USER_PASSWORD_AUTH",
                    &[("USERNAME", "zed"), ("PASSWORD", "x")]
                ),
                &mut store
            ),
            "NotAuthorizedException"
        );
        assert_eq!(
            code(
                req("USER_PASSWORD_AUTH", &[("USERNAME", "alice")]),
                &mut store
            ),
            "InvalidParameterException"
        );
        assert_eq!(
            code(req("USER_SRP_AUTH", &[("USERNAME", "alice")]), &mut store),
            "InvalidParameterException"
        );
        assert_eq!(
            code(req("CUSTOM_AUTH", &[]), &mut store),
            "InvalidParameterException"
        );
        assert_eq!(
            code(
                req("REFRESH_TOKEN_AUTH", &[("REFRESH_TOKEN", "nope")]),
                &mut store
            ),
            "NotAuthorizedException"
        );
        let mut r = req("USER_PASSWORD_AUTH", &[]);
        r.client_id = Some("other".into());
        assert_eq!(code(r, &mut store), "ResourceNotFoundException");
        assert!(store.is_empty());
    }
}
