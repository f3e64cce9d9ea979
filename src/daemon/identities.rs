//! Bridges the identity module's credential sources to the daemon. Until the identity module's
//! shared refreshing cache is merged, a small cache here refreshes ahead of expiry.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Mutex;

use super::{IdentityCreds, IdentityFuture, IdentitySource};
use crate::config::Config;
use crate::identity::{self, CredentialSource, Env, IdentityKind, SessionCredentials};

/// Refresh this long before credentials expire.
const REFRESH_AHEAD: Duration = Duration::from_secs(120);

struct Cached {
    source: Box<dyn CredentialSource>,
    current: Mutex<Option<SessionCredentials>>,
}

impl IdentitySource for Cached {
    fn current(&self) -> IdentityFuture<'_> {
        Box::pin(async move {
            let mut cur = self.current.lock().await;
            let fresh = cur.as_ref().is_some_and(|c| {
                c.expiration
                    .is_none_or(|e| e > SystemTime::now() + REFRESH_AHEAD)
            });
            if !fresh {
                // The identity module's errors are written to be secret-free.
                *cur = Some(self.source.fetch().await.map_err(|e| e.to_string())?);
            }
            let c = cur.as_ref().ok_or_else(|| "no credentials".to_string())?;
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
            IdentityKind::Static(s) => Arc::new(Cached {
                source: Box::new(identity::r#static::StaticSource::new(
                    s.clone(),
                    env.clone(),
                )),
                current: Mutex::new(None),
            }),
            other => Arc::new(Unsupported(other.as_str().to_string())),
        };
        out.insert(spec.name.clone(), src);
    }
    out
}
