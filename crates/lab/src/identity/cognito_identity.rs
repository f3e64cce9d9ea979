//! Cognito identity pool (`AWSCognitoIdentityService`, awsJson1.1): `GetId`,
//! `GetCredentialsForIdentity` (enhanced flow: role selection, `CustomRoleArn`, and the chosen
//! role's trust policy, which must accept the pool's token as it would in
//! `AssumeRoleWithWebIdentity`) and `GetOpenIdToken` (basic flow, only when the pool allows
//! it), for authenticated (Logins with an id token of the lab's user pool) and
//! unauthenticated identities. Pure: decides which principal the credentials are for; the
//! caller mints and registers them.

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use serde::Deserialize;

use super::cognito_idp::{IdTokenSubject, verify_id_token};
use super::errors::AwsError;
use super::jwt::JwtSigner;
use super::trust::{self, TokenRoles, TrustPolicy, WebIdentity};
use crate::scenario::{Cognito, Scenario};
use crate::state::cognito_identity_id;

pub const DEFAULT_CREDENTIALS_TTL: u64 = 3600;

/// Missing `Option` members are `None` (serde's derive), as the service treats them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetIdRequest {
    pub identity_pool_id: Option<String>,
    pub logins: Option<BTreeMap<String, String>>,
    pub account_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCredentialsRequest {
    pub identity_id: Option<String>,
    pub logins: Option<BTreeMap<String, String>>,
    pub custom_role_arn: Option<String>,
}

/// Whose credentials an identity id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityKind {
    Authenticated {
        identity_id: String,
        username: String,
    },
    Unauthenticated {
        identity_id: String,
    },
}

/// Unauthenticated identity ids the pool has handed out.
pub type GuestIds = HashSet<String>;

fn not_authorized(msg: impl Into<String>) -> AwsError {
    AwsError::bad_request("NotAuthorizedException", msg)
}

pub fn provider_name(region: &str, user_pool_id: &str) -> String {
    format!("cognito-idp.{region}.amazonaws.com/{user_pool_id}")
}

pub fn credentials_ttl(c: &Cognito) -> u64 {
    c.credentials_ttl.unwrap_or(DEFAULT_CREDENTIALS_TTL)
}

fn pool<'a>(scenario: &'a Scenario, pool_id: Option<&str>) -> Result<&'a Cognito, AwsError> {
    let pool_id = pool_id.ok_or_else(|| {
        AwsError::bad_request(
            "InvalidParameterException",
            "1 validation error detected: Value null at 'identityPoolId' failed to satisfy constraint: Member must not be null",
        )
    })?;
    scenario
        .cognito
        .as_ref()
        .filter(|c| c.identity_pool_id == pool_id)
        .ok_or_else(|| {
            AwsError::bad_request(
                "ResourceNotFoundException",
                format!("IdentityPool '{pool_id}' not found."),
            )
        })
}

/// Resolves a Logins map to the authenticated user (exactly the lab's user pool provider).
fn login_user(
    scenario: &Scenario,
    c: &Cognito,
    signer: &JwtSigner,
    logins: &BTreeMap<String, String>,
    now: SystemTime,
) -> Result<IdTokenSubject, AwsError> {
    let provider = provider_name(&scenario.region, &c.user_pool_id);
    if let Some(other) = logins.keys().find(|k| **k != provider) {
        return Err(not_authorized(format!(
            "Invalid login token. Token is not from a supported provider of this identity pool ({other})."
        )));
    }
    let token = logins
        .get(&provider)
        .ok_or_else(|| not_authorized("Invalid login token. Logins map is empty."))?;
    let subject = verify_id_token(scenario, signer, token, now)?;
    if !c.user.iter().any(|u| u.username == subject.username) {
        return Err(not_authorized("Invalid login token. Unknown user."));
    }
    Ok(subject)
}

/// `GetId`: the authenticated user's stable id, or a new unauthenticated id.
pub fn get_id(
    scenario: &Scenario,
    signer: &JwtSigner,
    req: &GetIdRequest,
    guests: &mut GuestIds,
    new_guest_uuid: &str,
    now: SystemTime,
) -> Result<String, AwsError> {
    let c = pool(scenario, req.identity_pool_id.as_deref())?;
    if let Some(acct) = &req.account_id
        && acct != &scenario.account_id
    {
        return Err(not_authorized(format!(
            "Account {acct} does not own identity pool {}.",
            c.identity_pool_id
        )));
    }
    match req.logins.as_ref().filter(|l| !l.is_empty()) {
        Some(logins) => {
            let user = login_user(scenario, c, signer, logins, now)?.username;
            Ok(cognito_identity_id(
                &scenario.region,
                &c.identity_pool_id,
                &user,
            ))
        }
        None => {
            if c.unauthenticated_role.is_none() {
                return Err(not_authorized(
                    "Unauthenticated access is not supported for this identity pool.",
                ));
            }
            let id = format!("{}:{new_guest_uuid}", scenario.region);
            guests.insert(id.clone());
            Ok(id)
        }
    }
}

/// An identity resolved from `IdentityId` + `Logins`, with the user's id-token claims.
struct Resolved<'a> {
    pool: &'a Cognito,
    kind: IdentityKind,
    roles: TokenRoles,
}

fn check_identity_shape(identity_id: Option<&str>) -> Result<&str, AwsError> {
    let identity_id = identity_id.ok_or_else(|| {
        AwsError::bad_request(
            "InvalidParameterException",
            "1 validation error detected: Value null at 'identityId' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let valid_shape = identity_id
        .split_once(':')
        .is_some_and(|(r, id)| !r.is_empty() && (1..=50).contains(&id.len()));
    if !valid_shape {
        return Err(AwsError::bad_request(
            "InvalidParameterException",
            format!(
                "1 validation error detected: Value '{identity_id}' at 'identityId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
            ),
        ));
    }
    Ok(identity_id)
}

fn pool_of<'a>(scenario: &'a Scenario, identity_id: &str) -> Result<&'a Cognito, AwsError> {
    scenario.cognito.as_ref().ok_or_else(|| {
        AwsError::bad_request(
            "ResourceNotFoundException",
            format!("Identity '{identity_id}' not found."),
        )
    })
}

fn resolve<'a>(
    scenario: &'a Scenario,
    signer: &JwtSigner,
    identity_id: &str,
    logins: Option<&BTreeMap<String, String>>,
    guests: &GuestIds,
    now: SystemTime,
) -> Result<Resolved<'a>, AwsError> {
    let c = pool_of(scenario, identity_id)?;
    match logins.filter(|l| !l.is_empty()) {
        Some(logins) => {
            let subject = login_user(scenario, c, signer, logins, now)?;
            if cognito_identity_id(&scenario.region, &c.identity_pool_id, &subject.username)
                != identity_id
            {
                return Err(not_authorized(
                    "Logins don't match. Please include at least one valid login for this identity or identity pool.",
                ));
            }
            Ok(Resolved {
                pool: c,
                kind: IdentityKind::Authenticated {
                    identity_id: identity_id.to_string(),
                    username: subject.username,
                },
                roles: subject.roles,
            })
        }
        None => {
            if guests.contains(identity_id) {
                if c.unauthenticated_role.is_none() {
                    return Err(not_authorized(
                        "Unauthenticated access is not supported for this identity pool.",
                    ));
                }
                return Ok(Resolved {
                    pool: c,
                    kind: IdentityKind::Unauthenticated {
                        identity_id: identity_id.to_string(),
                    },
                    roles: TokenRoles::default(),
                });
            }
            let authenticated = c.user.iter().any(|u| {
                cognito_identity_id(&scenario.region, &c.identity_pool_id, &u.username)
                    == identity_id
            });
            if authenticated {
                Err(not_authorized(format!(
                    "Access to Identity '{identity_id}' is forbidden."
                )))
            } else {
                Err(AwsError::bad_request(
                    "ResourceNotFoundException",
                    format!("Identity '{identity_id}' not found."),
                ))
            }
        }
    }
}

/// The OpenID token claims the pool puts in `GetOpenIdToken` tokens (and uses internally for
/// the enhanced flow's role assumption): `aud` = pool id, `sub` = identity id, `amr` =
/// `["authenticated", "cognito-idp.REGION.amazonaws.com/POOL", ".../POOL:CLIENT:SUB"]` or
/// `["unauthenticated"]`.
pub fn web_identity_of(scenario: &Scenario, pool: &Cognito, kind: &IdentityKind) -> WebIdentity {
    let (sub, amr) = match kind {
        IdentityKind::Authenticated {
            identity_id,
            username,
        } => {
            let provider = provider_name(&scenario.region, &pool.user_pool_id);
            let user_sub = super::cognito_idp::user_sub(&pool.user_pool_id, username);
            (
                identity_id.clone(),
                vec![
                    "authenticated".to_string(),
                    provider.clone(),
                    format!("{provider}:{}:{user_sub}", pool.app_client_id),
                ],
            )
        }
        IdentityKind::Unauthenticated { identity_id } => {
            (identity_id.clone(), vec!["unauthenticated".to_string()])
        }
    };
    WebIdentity {
        provider: trust::COGNITO_IDENTITY.to_string(),
        aud: pool.identity_pool_id.clone(),
        sub,
        amr,
    }
}

/// What `GetCredentialsForIdentity` grants: whose credentials, and for which role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsGrant {
    pub kind: IdentityKind,
    /// The role name the credentials are for.
    pub role: String,
}

fn role_name_of_arn<'a>(scenario: &'a Scenario, arn: &str) -> Option<&'a str> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, path) = rest.split_once(':')?;
    let name = path.strip_prefix("role/")?.rsplit('/').next()?;
    (account == scenario.account_id)
        .then(|| scenario.role.iter().find(|r| r.name == name))
        .flatten()
        .map(|r| r.name.as_str())
}

/// "Invalid identity pool configuration. Check assigned IAM roles for this pool." — what
/// Cognito answers when the role's trust policy refuses the pool's token.
pub fn invalid_pool_configuration() -> AwsError {
    AwsError::bad_request(
        "InvalidIdentityPoolConfigurationException",
        "Invalid identity pool configuration. Check assigned IAM roles for this pool.",
    )
}

/// `GetCredentialsForIdentity`: which principal and role the credentials belong to. `trust`
/// looks up a role's trust policy (the scenario's, see `LoadedScenario::trust`).
pub fn credentials_for_identity<'t>(
    scenario: &Scenario,
    signer: &JwtSigner,
    req: &GetCredentialsRequest,
    guests: &GuestIds,
    trust: impl Fn(&str) -> Option<&'t TrustPolicy>,
    now: SystemTime,
) -> Result<CredentialsGrant, AwsError> {
    let identity_id = check_identity_shape(req.identity_id.as_deref())?;
    let r = resolve(
        scenario,
        signer,
        identity_id,
        req.logins.as_ref(),
        guests,
        now,
    )?;
    let arn = |name: &str| format!("arn:aws:iam::{}:role/{name}", scenario.account_id);
    let role = match &r.kind {
        IdentityKind::Authenticated { .. } => {
            let chosen = trust::decide_custom_role(
                r.pool,
                &arn(&r.pool.authenticated_role),
                &r.roles,
                req.custom_role_arn.as_deref(),
            )?;
            role_name_of_arn(scenario, &chosen)
                .ok_or_else(invalid_pool_configuration)?
                .to_string()
        }
        IdentityKind::Unauthenticated { .. } => {
            if req.custom_role_arn.is_some() {
                return Err(AwsError::bad_request(
                    "InvalidParameterException",
                    "CustomRoleArn is not supported for unauthenticated identities.",
                ));
            }
            r.pool.unauthenticated_role.clone().unwrap_or_default()
        }
    };
    // The enhanced flow assumes the role with the pool's own token: its trust policy decides.
    let token = web_identity_of(scenario, r.pool, &r.kind);
    let allowed =
        trust(&role).is_some_and(|t| trust::decide_web_identity(t, &token, &arn(&role)).allowed);
    if !allowed {
        return Err(invalid_pool_configuration());
    }
    Ok(CredentialsGrant { kind: r.kind, role })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetOpenIdTokenRequest {
    pub identity_id: Option<String>,
    #[serde(default)]
    pub logins: Option<BTreeMap<String, String>>,
}

/// Lifetime of `GetOpenIdToken` tokens ("The OpenID token is valid for 10 minutes").
pub const OPEN_ID_TOKEN_TTL: u64 = 600;

/// `GetOpenIdToken` (basic flow): refused unless the pool allows the classic flow; else the
/// identity's OpenID token claims (the caller signs them).
pub fn open_id_token(
    scenario: &Scenario,
    signer: &JwtSigner,
    req: &GetOpenIdTokenRequest,
    guests: &GuestIds,
    now: SystemTime,
) -> Result<(String, WebIdentity), AwsError> {
    let identity_id = check_identity_shape(req.identity_id.as_deref())?;
    let pool = pool_of(scenario, identity_id)?;
    trust::decide_classic_flow(pool)?;
    let r = resolve(
        scenario,
        signer,
        identity_id,
        req.logins.as_ref(),
        guests,
        now,
    )?;
    Ok((
        identity_id.to_string(),
        web_identity_of(scenario, r.pool, &r.kind),
    ))
}

/// The OpenID token JWT's claims.
pub fn open_id_claims(
    token: &WebIdentity,
    now: SystemTime,
) -> serde_json::Map<String, serde_json::Value> {
    let iat = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut m = serde_json::Map::new();
    m.insert("iss".into(), format!("https://{}", token.provider).into());
    m.insert("aud".into(), token.aud.clone().into());
    m.insert("sub".into(), token.sub.clone().into());
    m.insert("amr".into(), serde_json::json!(token.amr));
    m.insert("iat".into(), iat.into());
    m.insert("exp".into(), (iat + OPEN_ID_TOKEN_TTL).into());
    m
}

/// Reads a verified OpenID token's claims back (STS `AssumeRoleWithWebIdentity`).
pub fn web_identity_from_claims(
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Option<WebIdentity> {
    let s = |k: &str| claims.get(k).and_then(serde_json::Value::as_str);
    let provider = s("iss")?.strip_prefix("https://")?.to_string();
    Some(WebIdentity {
        provider,
        aud: s("aud")?.to_string(),
        sub: s("sub")?.to_string(),
        amr: claims
            .get("amr")?
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::cognito_idp::{InitiateAuthRequest, RefreshTokens, initiate_auth};
    use std::sync::OnceLock;
    use std::time::{Duration, UNIX_EPOCH};

    fn signer() -> &'static JwtSigner {
        static S: OnceLock<JwtSigner> = OnceLock::new();
        S.get_or_init(|| JwtSigner::generate().unwrap())
    }

    fn scenario(guests: bool) -> Scenario {
        let unauth = if guests {
            "unauthenticated_role = \"Guest\""
        } else {
            ""
        };
        toml::from_str(&format!(
            r#"
            region = "us-east-1"
            account_id = "123456789012"
            [[role]]
            name = "Auth"
            [[role]]
            name = "Guest"
            [cognito]
            user_pool_id = "us-east-1_Lab"
            app_client_id = "labclient"
            identity_pool_id = "us-east-1:pool"
            authenticated_role = "Auth"
            {unauth}
            [[cognito.user]]
            username = "alice"
            password = "alice-pw"
            [[cognito.user]]
            username = "bob"
            password = "bob-pw"
            "#
        ))
        .unwrap()
    }

    fn cfi(
        s: &Scenario,
        signer: &JwtSigner,
        req: &GetCredentialsRequest,
        guests: &GuestIds,
        now: SystemTime,
    ) -> Result<IdentityKind, AwsError> {
        let auth = TrustPolicy::cognito_pool_role("Auth", "us-east-1:pool", "authenticated");
        let guest = TrustPolicy::cognito_pool_role("Guest", "us-east-1:pool", "unauthenticated");
        credentials_for_identity(
            s,
            signer,
            req,
            guests,
            |r| match r {
                "Auth" => Some(&auth),
                "Guest" => Some(&guest),
                _ => None,
            },
            now,
        )
        .map(|g| g.kind)
    }

    const T: u64 = 1_800_000_000;
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(T)
    }

    fn id_token(user: &str, pw: &str) -> String {
        let r = InitiateAuthRequest {
            auth_flow: Some("USER_PASSWORD_AUTH".into()),
            client_id: Some("labclient".into()),
            auth_parameters: [("USERNAME", user), ("PASSWORD", pw)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let out = initiate_auth(
            crate::identity::cognito_idp::PoolCall {
                scenario: &scenario(true),
                signer: signer(),
                refresh: &mut RefreshTokens::new(),
                srp: &mut crate::identity::cognito_idp::SrpChallenges::default(),
                new_refresh_token: "rt".into(),
                jti: "j",
                now: now(),
            },
            &r,
        )
        .unwrap();
        out["AuthenticationResult"]["IdToken"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn logins(tok: &str) -> Option<BTreeMap<String, String>> {
        Some(
            [(
                "cognito-idp.us-east-1.amazonaws.com/us-east-1_Lab".to_string(),
                tok.to_string(),
            )]
            .into(),
        )
    }

    #[test]
    fn authenticated_ids_are_stable_and_credentials_need_matching_logins() {
        let s = scenario(true);
        let mut guests = GuestIds::new();
        let req = |tok: &str| GetIdRequest {
            identity_pool_id: Some("us-east-1:pool".into()),
            logins: logins(tok),
            account_id: None,
        };
        let alice = id_token("alice", "alice-pw");
        let id1 = get_id(&s, signer(), &req(&alice), &mut guests, "g1", now()).unwrap();
        let id2 = get_id(
            &s,
            signer(),
            &req(&id_token("alice", "alice-pw")),
            &mut guests,
            "g2",
            now(),
        )
        .unwrap();
        assert_eq!(id1, id2);
        assert_eq!(
            id1,
            cognito_identity_id("us-east-1", "us-east-1:pool", "alice")
        );
        assert!(guests.is_empty());
        let creds = |id: &str, l| GetCredentialsRequest {
            identity_id: Some(id.into()),
            logins: l,
            custom_role_arn: None,
        };
        assert_eq!(
            cfi(&s, signer(), &creds(&id1, logins(&alice)), &guests, now()).unwrap(),
            IdentityKind::Authenticated {
                identity_id: id1.clone(),
                username: "alice".into()
            }
        );
        // bob's token for alice's identity.
        let bob = id_token("bob", "bob-pw");
        let e = cfi(&s, signer(), &creds(&id1, logins(&bob)), &guests, now()).unwrap_err();
        assert_eq!(e.code, "NotAuthorizedException");
        // alice's identity without logins.
        let e = cfi(&s, signer(), &creds(&id1, None), &guests, now()).unwrap_err();
        assert_eq!(e.code, "NotAuthorizedException");
        // Expired token.
        let later = now() + Duration::from_secs(3600);
        let e = cfi(&s, signer(), &creds(&id1, logins(&alice)), &guests, later).unwrap_err();
        assert_eq!(e.code, "NotAuthorizedException");
        assert!(e.message.contains("expired"));
        // Garbage token, foreign provider, malformed id, unknown id.
        assert_eq!(
            cfi(&s, signer(), &creds(&id1, logins("x.y.z")), &guests, now())
                .unwrap_err()
                .code,
            "NotAuthorizedException"
        );
        let foreign = Some([("accounts.google.com".to_string(), alice.clone())].into());
        assert_eq!(
            cfi(&s, signer(), &creds(&id1, foreign), &guests, now())
                .unwrap_err()
                .code,
            "NotAuthorizedException"
        );
        assert_eq!(
            cfi(&s, signer(), &creds("nocolon", None), &guests, now())
                .unwrap_err()
                .code,
            "InvalidParameterException"
        );
        assert_eq!(
            cfi(&s, signer(), &creds("us-east-1:0000", None), &guests, now())
                .unwrap_err()
                .code,
            "ResourceNotFoundException"
        );
    }

    #[test]
    fn guests_get_fresh_ids_when_the_pool_allows_them() {
        let mut guests = GuestIds::new();
        let req = GetIdRequest {
            identity_pool_id: Some("us-east-1:pool".into()),
            logins: None,
            account_id: None,
        };
        let g = get_id(&scenario(true), signer(), &req, &mut guests, "g-1", now()).unwrap();
        assert_eq!(g, "us-east-1:g-1");
        let creds = GetCredentialsRequest {
            identity_id: Some(g.clone()),
            logins: None,
            custom_role_arn: None,
        };
        assert_eq!(
            cfi(&scenario(true), signer(), &creds, &guests, now()).unwrap(),
            IdentityKind::Unauthenticated { identity_id: g }
        );
        let e = get_id(&scenario(false), signer(), &req, &mut guests, "g-2", now()).unwrap_err();
        assert_eq!(e.code, "NotAuthorizedException");
        let unknown_pool = GetIdRequest {
            identity_pool_id: Some("us-east-1:nope".into()),
            logins: None,
            account_id: None,
        };
        let e = get_id(
            &scenario(true),
            signer(),
            &unknown_pool,
            &mut guests,
            "g-3",
            now(),
        )
        .unwrap_err();
        assert_eq!(e.code, "ResourceNotFoundException");
    }
}
