//! `kind = "static"`: keys read from environment variables or files at each fetch, so a
//! rotated file or variable is picked up on the next refresh.

use super::config::StaticConfig;
use super::secret::{Env, resolve};
use super::{CredentialSource, FetchFuture, SessionCredentials};

#[derive(Debug)]
pub struct StaticSource {
    config: StaticConfig,
    env: Env,
}

impl StaticSource {
    pub fn new(config: StaticConfig, env: Env) -> Self {
        StaticSource { config, env }
    }
}

impl CredentialSource for StaticSource {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let key = resolve(&self.config.access_key_id, &self.env)?;
            let mut creds = SessionCredentials::new(
                key.expose(),
                resolve(&self.config.secret_access_key, &self.env)?,
            );
            creds.session_token = self
                .config
                .session_token
                .as_ref()
                .map(|t| resolve(t, &self.env))
                .transpose()?;
            Ok(creds)
        })
    }
}
