//! Identities: how the canary obtains credentials exactly as an end user would.
//!
//! Public API (kept small on purpose):
//!
//! - [`IdentityConfig`] — serde type of one `[[identity]]` table of canaries.toml (embed as
//!   `identity: Vec<IdentityConfig>`); [`Endpoints`] for `[endpoints]`;
//!   [`validate_identities`] for cross-identity checks (unique names, `source` references);
//!   [`secret_file_warnings`] for `check` (secret files readable by group/others).
//! - [`IdentityContext`] — region, endpoint overrides and environment used by every provider.
//! - [`IdentitySet::build`] — one shared [`CredentialCache`] per identity; probes call
//!   [`CredentialCache::current`] and get [`SessionCredentials`] or an [`IdentityError`]
//!   (map it to `inconclusive(credentials)`). [`CredentialCache::status`] feeds the metrics
//!   `iot_canary_credentials_expiry_timestamp_seconds` and
//!   `iot_canary_credential_failures_total{reason}` ([`FailureReason::ALL`] lists the labels).
//! - [`CredentialSource`] — the narrow provider interface, one file per kind:
//!   `static`, `profile`, `assume-role`, `cognito`, `cognito-guest`, `credential-endpoint`.
//!
//! Secrets are referenced (`*_env`, `*_file`), resolved at fetch time, held in [`Secret`] (which
//! never prints), and never appear in errors, logs or metrics.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

pub mod assume_role;
pub mod cache;
pub mod cognito;
pub mod cognito_guest;
pub mod credential_endpoint;
pub mod profile;
pub mod refresh;
pub mod sdk;
pub mod set;
pub mod r#static;

pub use cache::CredentialCache;
// The `[[identity]]` schema, secrets and credential state are plain data in the core crate.
pub use iot_canary_core::config::identity as config;
pub use iot_canary_core::config::identity::{
    Endpoints, IdentityConfig, IdentityKind, validate_identities,
};
pub use iot_canary_core::credentials as error;
pub use iot_canary_core::credentials::{CacheStatus, FailureReason, IdentityError};
pub use iot_canary_core::secret;
pub use iot_canary_core::secret::{Env, Secret, SecretRef, secret_file_warnings};
pub use refresh::RefreshPolicy;
pub use set::IdentitySet;

/// Credentials as a probe needs them to presign a websocket URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    /// `None`: long-term keys that do not expire.
    pub expiration: Option<SystemTime>,
    /// Cognito identity id (`region:guid`) for `${identity_id}` client-id placeholders.
    pub identity_id: Option<String>,
    /// The signed-in user, for `${username}` placeholders.
    pub username: Option<String>,
    /// The client id a credential endpoint says these credentials are for.
    pub client_id: Option<String>,
}

impl SessionCredentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: Secret) -> Self {
        SessionCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key,
            session_token: None,
            expiration: None,
            identity_id: None,
            username: None,
            client_id: None,
        }
    }

    /// The SDK's credential type (for aws-sigv4 signing and SDK clients).
    pub fn to_sdk(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.expose().to_owned(),
            self.session_token.as_ref().map(|t| t.expose().to_owned()),
            self.expiration,
            "iot-canary",
        )
    }
}

impl fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("expiration", &self.expiration)
            .field("identity_id", &self.identity_id)
            .field("username", &self.username)
            .field("client_id", &self.client_id)
            .finish()
    }
}

impl fmt::Display for SessionCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "access key {}", self.access_key_id)?;
        if let Some(exp) = self.expiration {
            let secs = exp
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            write!(f, ", expires at unix {secs}")?;
        }
        if let Some(id) = &self.identity_id {
            write!(f, ", identity {id}")?;
        }
        Ok(())
    }
}

/// Where and how providers talk to AWS (or the lab).
#[derive(Debug, Clone)]
pub struct IdentityContext {
    pub region: String,
    pub endpoints: Endpoints,
    /// Environment used to resolve `*_env` secret references.
    pub env: Env,
}

impl IdentityContext {
    pub fn new(region: impl Into<String>, endpoints: Endpoints) -> Self {
        IdentityContext {
            region: region.into(),
            endpoints,
            env: Env::process(),
        }
    }

    pub fn with_env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }
}

pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<SessionCredentials, IdentityError>> + Send + 'a>>;

/// One way of obtaining credentials. Each call performs a full fetch (no caching here; the
/// [`CredentialCache`] decides when to call it).
pub trait CredentialSource: Send + Sync + fmt::Debug {
    fn fetch(&self) -> FetchFuture<'_>;
}

impl<T: CredentialSource + ?Sized> CredentialSource for Arc<T> {
    fn fetch(&self) -> FetchFuture<'_> {
        (**self).fetch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print_secrets() {
        let mut c = SessionCredentials::new("ASIAEXAMPLE", Secret::new("very-secret-key"));
        c.session_token = Some(Secret::new("very-secret-token"));
        c.identity_id = Some("us-east-1:abc".into());
        for text in [format!("{c:?}"), format!("{c}")] {
            assert!(!text.contains("very-secret"), "{text}");
            assert!(text.contains("ASIAEXAMPLE"), "{text}");
        }
        let sdk = c.to_sdk();
        assert_eq!(sdk.secret_access_key(), "very-secret-key");
        assert_eq!(sdk.session_token(), Some("very-secret-token"));
    }
}
