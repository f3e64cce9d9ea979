//! All identities of a config, built in dependency order (an assume-role identity may be
//! signed by another identity's credentials), each behind its own shared cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;

use super::assume_role::{AssumeRoleSource, CacheProvider, DefaultChain};
use super::cache::CredentialCache;
use super::cognito::CognitoSource;
use super::cognito_guest::CognitoGuestSource;
use super::config::{BaseCredentials, IdentityConfig, IdentityKind, validate_identities};
use super::credential_endpoint::CredentialEndpointSource;
use super::error::IdentityError;
use super::profile::ProfileSource;
use super::refresh::RefreshPolicy;
use super::r#static::StaticSource;
use super::{CredentialSource, IdentityContext};

/// One cache per identity name.
#[derive(Debug, Default)]
pub struct IdentitySet {
    caches: BTreeMap<String, Arc<CredentialCache>>,
}

impl IdentitySet {
    /// Builds every identity's source and cache. Nothing is fetched yet. Errors are `config`
    /// (duplicate names, unknown or cyclic `source`).
    pub fn build(
        identities: &[IdentityConfig],
        ctx: &IdentityContext,
        policy: &RefreshPolicy,
    ) -> Result<IdentitySet, IdentityError> {
        let order = validate_identities(identities).map_err(IdentityError::config)?;
        let by_name: BTreeMap<&str, &IdentityConfig> =
            identities.iter().map(|i| (i.name.as_str(), i)).collect();
        let mut caches: BTreeMap<String, Arc<CredentialCache>> = BTreeMap::new();
        for name in order {
            let Some(id) = by_name.get(name.as_str()) else {
                continue;
            };
            let source = source_for(id, ctx, &caches)?;
            caches.insert(
                name.clone(),
                Arc::new(CredentialCache::new(name, source, policy.clone())),
            );
        }
        Ok(IdentitySet { caches })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<CredentialCache>> {
        self.caches.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<CredentialCache>)> {
        self.caches.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// The provider for one identity; `built` holds the caches of identities earlier in the
/// dependency order.
pub fn source_for(
    id: &IdentityConfig,
    ctx: &IdentityContext,
    built: &BTreeMap<String, Arc<CredentialCache>>,
) -> Result<Arc<dyn CredentialSource>, IdentityError> {
    Ok(match &id.kind {
        IdentityKind::Static(c) => Arc::new(StaticSource::new(c.clone(), ctx.env.clone())),
        IdentityKind::Profile(c) => Arc::new(ProfileSource::new(c.clone(), ctx)),
        IdentityKind::AssumeRole(c) => {
            let base = match &c.source {
                BaseCredentials::DefaultChain => {
                    SharedCredentialsProvider::new(DefaultChain::new(&ctx.region))
                }
                BaseCredentials::Identity(name) => {
                    let cache = built.get(name).ok_or_else(|| {
                        IdentityError::config(format!(
                            "identity `{}`: source identity `{name}` is not defined",
                            id.name
                        ))
                    })?;
                    SharedCredentialsProvider::new(CacheProvider(cache.clone()))
                }
            };
            Arc::new(AssumeRoleSource::new(c.clone(), ctx, base))
        }
        IdentityKind::Cognito(c) => Arc::new(CognitoSource::new(c.clone(), ctx)),
        IdentityKind::CognitoGuest(c) => Arc::new(CognitoGuestSource::new(c.clone(), ctx)),
        IdentityKind::CredentialEndpoint(c) => {
            Arc::new(CredentialEndpointSource::new(c.clone(), ctx))
        }
    })
}
