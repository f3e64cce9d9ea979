//! `kind = "cognito"`: what a signed-in app user does. User pool `InitiateAuth`
//! (`auth_flow`: USER_SRP_AUTH + `PASSWORD_VERIFIER` by default, or USER_PASSWORD_AUTH) → id token → identity pool `GetId` → `GetCredentialsForIdentity`
//! (the enhanced flow). All three calls are unsigned. The identity id is stable per user, so it
//! is remembered across refreshes (like an app does) and re-resolved only after a failure.

use std::sync::Mutex;

use aws_sdk_cognitoidentityprovider::types::{
    AuthFlowType, AuthenticationResultType, ChallengeNameType,
};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::config::{CognitoAuthFlow, CognitoConfig, CognitoLogin};
use super::error::{FailureReason, IdentityError};
use super::sdk::{cognito_identity_client, cognito_idp_client, sdk_error, to_system_time};
use super::secret::{Env, Secret, resolve};
use super::{CredentialSource, FetchFuture, IdentityContext, SessionCredentials};

/// Tokens of a successful user-pool sign-in.
pub(crate) struct Tokens {
    pub id_token: Secret,
    pub access_token: Secret,
}

/// SECRET_HASH for app clients with a secret: Base64(HMAC-SHA256(secret, username + client id)).
pub fn secret_hash(username: &str, app_client_id: &str, app_client_secret: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(app_client_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(username.as_bytes());
    mac.update(app_client_id.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The `Logins` map key for a user pool (overridable with `login_provider`).
pub fn login_provider_name(region: &str, user_pool_id: &str) -> String {
    format!("cognito-idp.{region}.amazonaws.com/{user_pool_id}")
}

/// Signs in with the login's `auth_flow`. A challenge other than SRP's `PASSWORD_VERIFIER`
/// (new password required, MFA) is an `auth` failure: a canary user must be able to sign in
/// non-interactively.
pub(crate) async fn user_pool_login(
    idp: &aws_sdk_cognitoidentityprovider::Client,
    login: &CognitoLogin,
    env: &Env,
) -> Result<Tokens, IdentityError> {
    let password = resolve(&login.password, env)?;
    let client_secret = login
        .app_client_secret
        .as_ref()
        .map(|s| resolve(s, env))
        .transpose()?;
    let result = match login.auth_flow {
        CognitoAuthFlow::UserPassword => {
            let mut req = idp
                .initiate_auth()
                .auth_flow(AuthFlowType::UserPasswordAuth)
                .client_id(&login.app_client_id)
                .auth_parameters("USERNAME", &login.username)
                .auth_parameters("PASSWORD", password.expose());
            if let Some(secret) = &client_secret {
                req = req.auth_parameters(
                    "SECRET_HASH",
                    secret_hash(&login.username, &login.app_client_id, secret.expose()),
                );
            }
            let out = req
                .send()
                .await
                .map_err(|e| sdk_error("cognito-idp InitiateAuth", &e))?;
            no_challenge(login, "InitiateAuth", out.challenge_name())?;
            out.authentication_result().cloned()
        }
        CognitoAuthFlow::UserSrp => {
            srp_login(idp, login, password.expose(), client_secret.as_ref()).await?
        }
    };
    let result = result
        .ok_or_else(|| IdentityError::malformed("cognito-idp sign-in: no AuthenticationResult"))?;
    let token = |t: Option<&str>, what: &str| {
        t.filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or_else(|| IdentityError::malformed(format!("cognito-idp sign-in: no {what}")))
    };
    Ok(Tokens {
        id_token: token(result.id_token(), "IdToken")?,
        access_token: token(result.access_token(), "AccessToken")?,
    })
}

fn no_challenge(
    login: &CognitoLogin,
    call: &str,
    challenge: Option<&ChallengeNameType>,
) -> Result<(), IdentityError> {
    match challenge {
        None => Ok(()),
        Some(c) => Err(IdentityError::new(
            FailureReason::Auth,
            format!(
                "cognito-idp {call}: user `{}` must answer challenge {} (canary users need a non-interactive sign-in)",
                login.username,
                c.as_str()
            ),
        )),
    }
}

/// USER_SRP_AUTH: InitiateAuth with `SRP_A`, then RespondToAuthChallenge `PASSWORD_VERIFIER`
/// with the password claim (the `aws-cognito-srp` crate does the client math).
async fn srp_login(
    idp: &aws_sdk_cognitoidentityprovider::Client,
    login: &CognitoLogin,
    password: &str,
    client_secret: Option<&Secret>,
) -> Result<Option<AuthenticationResultType>, IdentityError> {
    use aws_cognito_srp::{SrpClient, User};
    let srp = SrpClient::new(
        User::new(&login.user_pool_id, &login.username, password),
        &login.app_client_id,
        client_secret.map(Secret::expose),
    );
    let params = srp.get_auth_parameters();
    let mut req = idp
        .initiate_auth()
        .auth_flow(AuthFlowType::UserSrpAuth)
        .client_id(&login.app_client_id)
        .auth_parameters("USERNAME", &params.username)
        .auth_parameters("SRP_A", &params.a);
    if let Some(h) = srp.get_secret_hash() {
        req = req.auth_parameters("SECRET_HASH", h);
    }
    let out = req
        .send()
        .await
        .map_err(|e| sdk_error("cognito-idp InitiateAuth (USER_SRP_AUTH)", &e))?;
    if out.challenge_name() != Some(&ChallengeNameType::PasswordVerifier) {
        no_challenge(login, "InitiateAuth (USER_SRP_AUTH)", out.challenge_name())?;
        return Err(IdentityError::malformed(
            "cognito-idp InitiateAuth (USER_SRP_AUTH): no PASSWORD_VERIFIER challenge",
        ));
    }
    let cp = out.challenge_parameters().ok_or_else(|| {
        IdentityError::malformed("cognito-idp InitiateAuth (USER_SRP_AUTH): no ChallengeParameters")
    })?;
    let get = |k: &str| {
        cp.get(k).map(String::as_str).ok_or_else(|| {
            IdentityError::malformed(format!(
                "cognito-idp InitiateAuth (USER_SRP_AUTH): no {k} in ChallengeParameters"
            ))
        })
    };
    let user_id = get("USER_ID_FOR_SRP")?;
    let v = srp
        .verify(get("SECRET_BLOCK")?, user_id, get("SALT")?, get("SRP_B")?)
        .map_err(|e| {
            IdentityError::malformed(format!(
                "cognito-idp PASSWORD_VERIFIER: cannot compute the password claim: {e}"
            ))
        })?;
    // The challenge answers as the user id Cognito named (an alias sign-in answers as the
    // internal username), so SECRET_HASH is computed for that name.
    let mut resp = idp
        .respond_to_auth_challenge()
        .challenge_name(ChallengeNameType::PasswordVerifier)
        .client_id(&login.app_client_id)
        .challenge_responses("USERNAME", user_id)
        .challenge_responses("PASSWORD_CLAIM_SECRET_BLOCK", v.password_claim_secret_block)
        .challenge_responses("PASSWORD_CLAIM_SIGNATURE", v.password_claim_signature)
        .challenge_responses("TIMESTAMP", v.timestamp);
    if let Some(secret) = client_secret {
        resp = resp.challenge_responses(
            "SECRET_HASH",
            secret_hash(user_id, &login.app_client_id, secret.expose()),
        );
    }
    if let Some(session) = out.session() {
        resp = resp.session(session);
    }
    let out = resp
        .send()
        .await
        .map_err(|e| sdk_error("cognito-idp RespondToAuthChallenge (PASSWORD_VERIFIER)", &e))?;
    no_challenge(login, "RespondToAuthChallenge", out.challenge_name())?;
    Ok(out.authentication_result().cloned())
}

/// GetId (if needed) + GetCredentialsForIdentity; `logins` empty for guests.
pub(crate) async fn identity_pool_credentials(
    client: &aws_sdk_cognitoidentity::Client,
    identity_pool_id: &str,
    known_identity_id: Option<String>,
    logins: Option<(&str, &Secret)>,
) -> Result<SessionCredentials, IdentityError> {
    let identity_id = match known_identity_id {
        Some(id) => id,
        None => {
            let mut req = client.get_id().identity_pool_id(identity_pool_id);
            if let Some((provider, token)) = logins {
                req = req.logins(provider, token.expose());
            }
            let out = req
                .send()
                .await
                .map_err(|e| sdk_error("cognito-identity GetId", &e))?;
            out.identity_id()
                .filter(|id| !id.is_empty())
                .ok_or_else(|| IdentityError::malformed("cognito-identity GetId: no IdentityId"))?
                .to_owned()
        }
    };
    let mut req = client
        .get_credentials_for_identity()
        .identity_id(&identity_id);
    if let Some((provider, token)) = logins {
        req = req.logins(provider, token.expose());
    }
    let out = req
        .send()
        .await
        .map_err(|e| sdk_error("cognito-identity GetCredentialsForIdentity", &e))?;
    let what = "cognito-identity GetCredentialsForIdentity";
    let c = out
        .credentials()
        .ok_or_else(|| IdentityError::malformed(format!("{what}: no Credentials")))?;
    let field = |v: Option<&str>, name: &str| {
        v.filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| IdentityError::malformed(format!("{what}: no {name}")))
    };
    let mut creds = SessionCredentials::new(
        field(c.access_key_id(), "AccessKeyId")?,
        Secret::new(field(c.secret_key(), "SecretKey")?),
    );
    creds.session_token = Some(Secret::new(field(c.session_token(), "SessionToken")?));
    creds.expiration = Some(to_system_time(
        what,
        c.expiration()
            .ok_or_else(|| IdentityError::malformed(format!("{what}: no Expiration")))?,
    )?);
    creds.identity_id = Some(out.identity_id().unwrap_or(&identity_id).to_owned());
    Ok(creds)
}

#[derive(Debug)]
pub struct CognitoSource {
    config: CognitoConfig,
    provider: String,
    env: Env,
    idp: aws_sdk_cognitoidentityprovider::Client,
    identity: aws_sdk_cognitoidentity::Client,
    identity_id: Mutex<Option<String>>,
}

impl CognitoSource {
    pub fn new(config: CognitoConfig, ctx: &IdentityContext) -> Self {
        let provider = config
            .login_provider
            .clone()
            .unwrap_or_else(|| login_provider_name(&ctx.region, &config.login.user_pool_id));
        CognitoSource {
            provider,
            env: ctx.env.clone(),
            idp: cognito_idp_client(ctx),
            identity: cognito_identity_client(ctx),
            identity_id: Mutex::new(None),
            config,
        }
    }

    fn remembered(&self) -> Option<String> {
        self.identity_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn remember(&self, id: Option<String>) {
        *self.identity_id.lock().unwrap_or_else(|p| p.into_inner()) = id;
    }
}

impl CredentialSource for CognitoSource {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let tokens = user_pool_login(&self.idp, &self.config.login, &self.env).await?;
            let result = identity_pool_credentials(
                &self.identity,
                &self.config.identity_pool_id,
                self.remembered(),
                Some((&self.provider, &tokens.id_token)),
            )
            .await;
            match result {
                Ok(mut creds) => {
                    self.remember(creds.identity_id.clone());
                    creds.username = Some(self.config.login.username.clone());
                    Ok(creds)
                }
                Err(e) => {
                    // The identity may have been deleted or the pool changed: resolve again.
                    self.remember(None);
                    Err(e)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hash_matches_reference() {
        // Reference: python3 -c "import hmac,hashlib,base64;
        //   print(base64.b64encode(hmac.new(b'clientsecret', b'aliceclientid', hashlib.sha256).digest()).decode())"
        assert_eq!(
            secret_hash("alice", "clientid", "clientsecret"),
            "bt8RywMG4a4iSq4YLgogo6m0hzXxC7wv+8uT9BFXOqs="
        );
    }

    #[test]
    fn provider_name() {
        assert_eq!(
            login_provider_name("us-east-1", "us-east-1_Abc"),
            "cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc"
        );
    }
}
