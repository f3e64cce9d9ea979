//! `kind = "cognito-guest"`: an unauthenticated identity of an identity pool (`GetId` and
//! `GetCredentialsForIdentity` without `Logins`). The identity id is kept across refreshes,
//! as an app keeps it on the device.

use std::sync::Mutex;

use super::cognito::identity_pool_credentials;
use super::config::CognitoGuestConfig;
use super::sdk::cognito_identity_client;
use super::{CredentialSource, FetchFuture, IdentityContext};

#[derive(Debug)]
pub struct CognitoGuestSource {
    config: CognitoGuestConfig,
    client: aws_sdk_cognitoidentity::Client,
    identity_id: Mutex<Option<String>>,
}

impl CognitoGuestSource {
    pub fn new(config: CognitoGuestConfig, ctx: &IdentityContext) -> Self {
        CognitoGuestSource {
            config,
            client: cognito_identity_client(ctx),
            identity_id: Mutex::new(None),
        }
    }
}

impl CredentialSource for CognitoGuestSource {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let known = self
                .identity_id
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let result =
                identity_pool_credentials(&self.client, &self.config.identity_pool_id, known, None)
                    .await;
            // Forget the id after a failure: it may have been removed from the pool.
            *self.identity_id.lock().unwrap_or_else(|p| p.into_inner()) =
                result.as_ref().ok().and_then(|c| c.identity_id.clone());
            result
        })
    }
}
