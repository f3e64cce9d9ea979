//! Bridges the identity module to the daemon: one shared `CredentialCache` (single-flight,
//! refresh ahead of expiry, backoff) per identity. Kinds not built into this binary yet report a
//! credentials failure, which makes their probes `inconclusive(credentials)`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{IdentityCreds, IdentityFuture, IdentitySource};
use crate::config::Config;
use crate::identity::{self, CredentialCache, Env, IdentityKind, RefreshPolicy};

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
}

struct Unsupported(String);

impl IdentitySource for Unsupported {
    fn current(&self) -> IdentityFuture<'_> {
        let kind = self.0.clone();
        Box::pin(async move {
            Err(format!(
                "identity kind `{kind}` is not available in this build"
            ))
        })
    }
}

/// One shared source per configured identity.
pub fn build(config: &Config, env: Env) -> BTreeMap<String, Arc<dyn IdentitySource>> {
    let mut out: BTreeMap<String, Arc<dyn IdentitySource>> = BTreeMap::new();
    for spec in &config.identities {
        let src: Arc<dyn IdentitySource> = match &spec.config.kind {
            IdentityKind::Static(s) => Arc::new(CredentialCache::new(
                spec.name.clone(),
                Arc::new(identity::r#static::StaticSource::new(
                    s.clone(),
                    env.clone(),
                )),
                RefreshPolicy::default(),
            )),
            other => Arc::new(Unsupported(other.as_str().to_string())),
        };
        out.insert(spec.name.clone(), src);
    }
    out
}
