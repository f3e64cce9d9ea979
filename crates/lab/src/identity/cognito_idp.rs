//! Cognito user pool (`AWSCognitoIdentityProviderService`, awsJson1.1): `InitiateAuth` with
//! `USER_PASSWORD_AUTH` and `REFRESH_TOKEN_AUTH`, issuing RS256 id/access tokens with
//! Cognito's standard claims. Pure apart from the random refresh token the caller supplies.

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

/// `InitiateAuth`. `new_refresh_token` is a fresh random opaque token (used only by
/// `USER_PASSWORD_AUTH`); `refresh` is the pool's token store.
pub fn initiate_auth(
    scenario: &Scenario,
    signer: &JwtSigner,
    req: &InitiateAuthRequest,
    refresh: &mut RefreshTokens,
    new_refresh_token: String,
    jti: &str,
    now: SystemTime,
) -> Result<Value, AwsError> {
    let client_id = req
        .client_id
        .as_deref()
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
    let flow = req
        .auth_flow
        .as_deref()
        .ok_or_else(|| invalid("1 validation error detected: Value null at 'authFlow' failed to satisfy constraint: Member must not be null"))?;
    let param = |k: &str| {
        req.auth_parameters
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| invalid(format!("Missing required parameter {k}")))
    };
    let (username, refresh_out) = match flow {
        "USER_PASSWORD_AUTH" => {
            let username = param("USERNAME")?;
            let password = param("PASSWORD")?;
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
        "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
            let token = param("REFRESH_TOKEN")?;
            let user = refresh
                .get(token)
                .cloned()
                .ok_or_else(|| not_authorized("Invalid Refresh Token"))?;
            (user, None)
        }
        other => {
            return Err(invalid(format!("{other} flow not enabled for this client")));
        }
    };
    let ttl = token_ttl(pool);
    let iss = issuer(&scenario.region, &pool.user_pool_id);
    let sub = user_sub(&pool.user_pool_id, &username);
    let claims = |token_use| TokenClaims {
        issuer: &iss,
        client_id,
        sub: &sub,
        username: &username,
        token_use,
        issued_at: now,
        ttl_secs: ttl,
        jti,
    };
    let sign = |use_| signer.sign(&claims(use_).to_map()).map_err(internal);
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
    match (s("cognito:username"), s("sub")) {
        (Some(u), Some(sub)) => Ok(IdTokenSubject {
            username: u.to_string(),
            sub: sub.to_string(),
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
            &scenario(),
            signer(),
            r,
            store,
            "rt-1".into(),
            "j",
            UNIX_EPOCH + Duration::from_secs(T),
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
            code(req("USER_SRP_AUTH", &[]), &mut store),
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
