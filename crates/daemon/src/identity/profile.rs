//! `kind = "profile"`: a named profile of the shared config files, or (no `profile`) the
//! aws-config default chain (environment, profile, web identity, ECS, IMDS). The provider is
//! built on first use; aws-config caches nothing here, our cache decides when to re-fetch.
//!
//! Note: assume-role profiles inside the shared config call the real STS endpoint; the
//! `[endpoints] sts` override applies to `kind = "assume-role"` only.

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_types::error::display::DisplayErrorContext;

use super::config::ProfileConfig;
use super::error::{FailureReason, IdentityError};
use super::secret::Secret;
use super::{CredentialSource, FetchFuture, IdentityContext, SessionCredentials};

// aws-config re-exports the profile-file types only under deprecated aliases (the originals
// live in aws-runtime, which is not a direct dependency).
#[allow(deprecated)]
use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};

#[derive(Debug)]
pub struct ProfileSource {
    config: ProfileConfig,
    region: String,
    provider: tokio::sync::OnceCell<SharedCredentialsProvider>,
}

impl ProfileSource {
    pub fn new(config: ProfileConfig, ctx: &IdentityContext) -> Self {
        ProfileSource {
            config,
            region: ctx.region.clone(),
            provider: tokio::sync::OnceCell::new(),
        }
    }

    #[allow(deprecated)]
    fn profile_files(&self) -> Option<ProfileFiles> {
        if self.config.config_file.is_none() && self.config.credentials_file.is_none() {
            return None;
        }
        let mut b = ProfileFiles::builder();
        match &self.config.config_file {
            Some(p) => b = b.with_file(ProfileFileKind::Config, p),
            None => b = b.include_default_config_file(true),
        }
        match &self.config.credentials_file {
            Some(p) => b = b.with_file(ProfileFileKind::Credentials, p),
            None => b = b.include_default_credentials_file(true),
        }
        Some(b.build())
    }

    async fn build(&self) -> Result<SharedCredentialsProvider, IdentityError> {
        let region = aws_config::Region::new(self.region.clone());
        let files = self.profile_files();
        match &self.config.profile {
            Some(name) => {
                let pc = aws_config::provider_config::ProviderConfig::default()
                    .with_region(Some(region));
                let mut b = aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .profile_name(name)
                    .configure(&pc);
                if let Some(files) = files {
                    b = b.profile_files(files);
                }
                Ok(SharedCredentialsProvider::new(b.build()))
            }
            None => {
                let mut loader =
                    aws_config::defaults(aws_config::BehaviorVersion::latest()).region(region);
                if let Some(files) = files {
                    loader = loader.profile_files(files);
                }
                loader.load().await.credentials_provider().ok_or_else(|| {
                    IdentityError::config("the default credential chain has no provider")
                })
            }
        }
    }
}

fn classify(e: &CredentialsError) -> FailureReason {
    match e {
        CredentialsError::CredentialsNotLoaded(_) | CredentialsError::InvalidConfiguration(_) => {
            FailureReason::Config
        }
        CredentialsError::ProviderTimedOut(_) => FailureReason::Timeout,
        CredentialsError::ProviderError(_) => FailureReason::Auth,
        _ => FailureReason::Network,
    }
}

impl CredentialSource for ProfileSource {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let provider = self.provider.get_or_try_init(|| self.build()).await?;
            let c = provider.provide_credentials().await.map_err(|e| {
                let what = match &self.config.profile {
                    Some(p) => format!("profile `{p}`"),
                    None => "default credential chain".to_owned(),
                };
                IdentityError::new(classify(&e), format!("{what}: {}", DisplayErrorContext(&e)))
            })?;
            let mut creds =
                SessionCredentials::new(c.access_key_id(), Secret::new(c.secret_access_key()));
            creds.session_token = c.session_token().map(Secret::new);
            creds.expiration = c.expiry();
            Ok(creds)
        })
    }
}
