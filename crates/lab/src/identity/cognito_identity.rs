//! Cognito identity pool (`AWSCognitoIdentityService`, awsJson1.1), enhanced flow: `GetId`
//! and `GetCredentialsForIdentity` for authenticated (Logins with an id token of the lab's
//! user pool) and unauthenticated identities. Pure: decides which principal the credentials
//! are for; the caller mints and registers them.

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use serde::Deserialize;

use super::cognito_idp::verify_id_token;
use super::errors::AwsError;
use super::jwt::JwtSigner;
use crate::scenario::{Cognito, Scenario};
use crate::state::cognito_identity_id;

pub const DEFAULT_CREDENTIALS_TTL: u64 = 3600;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetIdRequest {
    pub identity_pool_id: Option<String>,
    #[serde(default)]
    pub logins: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub account_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCredentialsRequest {
    pub identity_id: Option<String>,
    #[serde(default)]
    pub logins: Option<BTreeMap<String, String>>,
    #[serde(default)]
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
) -> Result<String, AwsError> {
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
    Ok(subject.username)
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
            let user = login_user(scenario, c, signer, logins, now)?;
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

/// `GetCredentialsForIdentity`: which principal the credentials belong to.
pub fn credentials_for_identity(
    scenario: &Scenario,
    signer: &JwtSigner,
    req: &GetCredentialsRequest,
    guests: &GuestIds,
    now: SystemTime,
) -> Result<IdentityKind, AwsError> {
    let identity_id = req.identity_id.as_deref().ok_or_else(|| {
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
    if req.custom_role_arn.is_some() {
        return Err(AwsError::bad_request(
            "InvalidParameterException",
            "CustomRoleArn is not supported by this identity pool's role mapping.",
        ));
    }
    let c = scenario.cognito.as_ref().ok_or_else(|| {
        AwsError::bad_request(
            "ResourceNotFoundException",
            format!("Identity '{identity_id}' not found."),
        )
    })?;
    match req.logins.as_ref().filter(|l| !l.is_empty()) {
        Some(logins) => {
            let user = login_user(scenario, c, signer, logins, now)?;
            if cognito_identity_id(&scenario.region, &c.identity_pool_id, &user) != identity_id {
                return Err(not_authorized(
                    "Logins don't match. Please include at least one valid login for this identity or identity pool.",
                ));
            }
            Ok(IdentityKind::Authenticated {
                identity_id: identity_id.to_string(),
                username: user,
            })
        }
        None => {
            if guests.contains(identity_id) {
                if c.unauthenticated_role.is_none() {
                    return Err(not_authorized(
                        "Unauthenticated access is not supported for this identity pool.",
                    ));
                }
                return Ok(IdentityKind::Unauthenticated {
                    identity_id: identity_id.to_string(),
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
            &scenario(true),
            signer(),
            &r,
            &mut RefreshTokens::new(),
            "rt".into(),
            "j",
            now(),
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
            credentials_for_identity(&s, signer(), &creds(&id1, logins(&alice)), &guests, now())
                .unwrap(),
            IdentityKind::Authenticated {
                identity_id: id1.clone(),
                username: "alice".into()
            }
        );
        // bob's token for alice's identity.
        let bob = id_token("bob", "bob-pw");
        let e = credentials_for_identity(&s, signer(), &creds(&id1, logins(&bob)), &guests, now())
            .unwrap_err();
        assert_eq!(e.code, "NotAuthorizedException");
        // alice's identity without logins.
        let e =
            credentials_for_identity(&s, signer(), &creds(&id1, None), &guests, now()).unwrap_err();
        assert_eq!(e.code, "NotAuthorizedException");
        // Expired token.
        let later = now() + Duration::from_secs(3600);
        let e =
            credentials_for_identity(&s, signer(), &creds(&id1, logins(&alice)), &guests, later)
                .unwrap_err();
        assert_eq!(e.code, "NotAuthorizedException");
        assert!(e.message.contains("expired"));
        // Garbage token, foreign provider, malformed id, unknown id.
        assert_eq!(
            credentials_for_identity(&s, signer(), &creds(&id1, logins("x.y.z")), &guests, now())
                .unwrap_err()
                .code,
            "NotAuthorizedException"
        );
        let foreign = Some([("accounts.google.com".to_string(), alice.clone())].into());
        assert_eq!(
            credentials_for_identity(&s, signer(), &creds(&id1, foreign), &guests, now())
                .unwrap_err()
                .code,
            "NotAuthorizedException"
        );
        assert_eq!(
            credentials_for_identity(&s, signer(), &creds("nocolon", None), &guests, now())
                .unwrap_err()
                .code,
            "InvalidParameterException"
        );
        assert_eq!(
            credentials_for_identity(&s, signer(), &creds("us-east-1:0000", None), &guests, now())
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
            credentials_for_identity(&scenario(true), signer(), &creds, &guests, now()).unwrap(),
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
