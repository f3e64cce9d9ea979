//! `kind = "assume-role"`: STS AssumeRole with an optional inline session policy (from a file
//! or a template in the config), signed with base credentials from the aws-config default
//! chain or from another identity's cache.

use std::sync::Arc;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};

use super::cache::CredentialCache;
use super::config::{AssumeRoleConfig, SessionPolicy, expand_session_policy};
use super::error::IdentityError;
use super::sdk::{sdk_error, sts_client, to_system_time};
use super::secret::Secret;
use super::{CredentialSource, FetchFuture, IdentityContext, SessionCredentials};

/// Another identity's cache as the SDK's credential provider.
#[derive(Debug)]
pub(crate) struct CacheProvider(pub Arc<CredentialCache>);

impl ProvideCredentials for CacheProvider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.0.current().await.map(|c| c.to_sdk()).map_err(|e| {
                CredentialsError::provider_error(format!(
                    "source identity `{}`: {e}",
                    self.0.name()
                ))
            })
        })
    }
}

/// The aws-config default chain, built on first use (building it is async).
#[derive(Debug)]
pub(crate) struct DefaultChain {
    region: String,
    chain:
        tokio::sync::OnceCell<aws_config::default_provider::credentials::DefaultCredentialsChain>,
}

impl DefaultChain {
    pub(crate) fn new(region: &str) -> Self {
        DefaultChain {
            region: region.to_owned(),
            chain: tokio::sync::OnceCell::new(),
        }
    }
}

impl ProvideCredentials for DefaultChain {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            let chain = self
                .chain
                .get_or_init(|| async {
                    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .region(aws_config::Region::new(self.region.clone()))
                        .build()
                        .await
                })
                .await;
            chain.provide_credentials().await
        })
    }
}

#[derive(Debug)]
pub struct AssumeRoleSource {
    config: AssumeRoleConfig,
    sts: aws_sdk_sts::Client,
}

impl AssumeRoleSource {
    /// `base` signs the AssumeRole call (see [`super::set::IdentitySet`] for how it is chosen).
    pub fn new(
        config: AssumeRoleConfig,
        ctx: &IdentityContext,
        base: SharedCredentialsProvider,
    ) -> Self {
        AssumeRoleSource {
            sts: sts_client(ctx, base),
            config,
        }
    }

    fn session_policy(&self) -> Result<Option<String>, IdentityError> {
        let template = match &self.config.session_policy {
            None => return Ok(None),
            Some(SessionPolicy::Inline(t)) => t.clone(),
            Some(SessionPolicy::File(path)) => std::fs::read_to_string(path).map_err(|e| {
                IdentityError::config(format!(
                    "cannot read session_policy_file `{}`: {e}",
                    path.display()
                ))
            })?,
        };
        let policy =
            expand_session_policy(&template, &self.config.session_name, &self.config.role_arn);
        let value: serde_json::Value = serde_json::from_str(&policy)
            .map_err(|e| IdentityError::config(format!("session policy is not valid JSON: {e}")))?;
        // Minified: STS counts the plaintext length against its 2,048-character limit.
        Ok(Some(value.to_string()))
    }
}

impl CredentialSource for AssumeRoleSource {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let what = "sts AssumeRole";
            let out = self
                .sts
                .assume_role()
                .role_arn(&self.config.role_arn)
                .role_session_name(&self.config.session_name)
                .set_policy(self.session_policy()?)
                .set_duration_seconds(
                    self.config
                        .duration
                        .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX)),
                )
                .set_external_id(self.config.external_id.clone())
                .send()
                .await
                .map_err(|e| sdk_error(what, &e))?;
            let c = out
                .credentials()
                .ok_or_else(|| IdentityError::malformed(format!("{what}: no Credentials")))?;
            if c.access_key_id().is_empty() || c.secret_access_key().is_empty() {
                return Err(IdentityError::malformed(format!(
                    "{what}: empty AccessKeyId or SecretAccessKey"
                )));
            }
            let mut creds =
                SessionCredentials::new(c.access_key_id(), Secret::new(c.secret_access_key()));
            creds.session_token = Some(Secret::new(c.session_token()));
            creds.expiration = Some(to_system_time(what, c.expiration())?);
            Ok(creds)
        })
    }
}
