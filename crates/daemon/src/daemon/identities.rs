//! Bridges the identity module to the daemon: `identity::IdentitySet` builds one shared
//! `CredentialCache` (single-flight, refresh ahead of expiry, backoff) per configured identity,
//! of every kind, and each cache is the daemon's `IdentitySource` for that identity.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{IdentityCreds, IdentityFuture, IdentitySource};
use crate::identity::{
    CredentialCache, Env, IdentityContext, IdentityError, IdentitySet, RefreshPolicy,
};
use iot_canary_core::config::Config;
use iot_canary_core::credentials::CacheStatus;

impl IdentitySource for CredentialCache {
    fn current(&self) -> IdentityFuture<'_> {
        Box::pin(async move {
            // The identity module's errors are written to be secret-free.
            let c = CredentialCache::current(self)
                .await
                .map_err(|e| e.to_string())?;
            Ok(IdentityCreds {
                credentials: c.to_sdk(),
                identity_id: c.identity_id.clone(),
                username: c.username.clone(),
            })
        })
    }

    fn status(&self) -> Option<CacheStatus> {
        Some(CredentialCache::status(self))
    }

    fn invalidate(&self) {
        CredentialCache::invalidate(self);
    }
}

/// The identity set of a config: `[target] region`, `[endpoints]` overrides, and `env` for
/// `*_env` secret references. Nothing is fetched yet.
pub fn identity_set(config: &Config, env: Env) -> Result<IdentitySet, IdentityError> {
    let ctx =
        IdentityContext::new(config.target.region.clone(), config.endpoints.clone()).with_env(env);
    let specs: Vec<_> = config.identities.iter().map(|i| i.config.clone()).collect();
    // A credential fetch happens inside a probe's time budget: a slow credential service must
    // end that probe as `inconclusive(credentials)`, not outlive its deadline.
    let defaults = RefreshPolicy::default();
    // Credentials are only handed to a probe if they outlive its whole budget, so expiry
    // mid-probe shows up as `inconclusive(credentials)` up front, never as a refused connect.
    let longest = config
        .canaries
        .iter()
        .map(|c| c.timeout)
        .max()
        .unwrap_or(config.schedule.timeout);
    let policy = RefreshPolicy {
        fetch_timeout: defaults.fetch_timeout.min(config.schedule.timeout),
        min_validity: defaults.min_validity.max(longest),
        ..defaults
    };
    IdentitySet::build(&specs, &ctx, &policy)
}

/// One shared source per configured identity. Errors are configuration problems (an unknown
/// or cyclic `source`), which `config::load` already rejects; they map to exit 3.
pub fn build(
    config: &Config,
    env: Env,
) -> Result<BTreeMap<String, Arc<dyn IdentitySource>>, IdentityError> {
    let set = identity_set(config, env)?;
    Ok(set
        .iter()
        .map(|(name, cache)| {
            let src: Arc<dyn IdentitySource> = cache.clone();
            (name.to_string(), src)
        })
        .collect())
}
