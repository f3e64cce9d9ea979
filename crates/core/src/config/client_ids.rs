//! Client ids as AWS sees them, checked offline: every template expanded with what the config
//! alone says its placeholders become, against AWS IoT's 128-byte limit (a longer id is
//! refused at CONNECT, which the probe could only report as inconclusive).
//!
//! What is known offline: `${identity}`, `${canary}` and `${username}` (the configured user)
//! exactly; `${identity_id}` by its length (a Cognito identity id is `<region>:<GUID>`);
//! `${run}` by its length; `${shard}` as one digit (the replica count is a flag, not config).

use super::identity::{EndpointAuth, IdentityConfig, IdentityKind};
use super::{Canary, Target};
use crate::plan::{ClientIdVars, ProbeSlot, RUN_ID_LEN, Shard, expand_client_id, witness_template};

/// AWS IoT Core's client id limit, in bytes of UTF-8.
pub const MAX_CLIENT_ID_BYTES: usize = 128;

/// A Cognito identity id: `<region>:` and a 36-character GUID.
fn identity_id_len(identity_pool_id: &str) -> usize {
    let region = identity_pool_id.split(':').next().unwrap_or("");
    region.len() + 1 + 36
}

/// The placeholder values of one identity as far as the config says; stand-ins (`x`…) of the
/// right length where only the length is known.
struct Offline {
    identity_id: Option<String>,
    username: Option<String>,
}

fn offline(id: &IdentityConfig) -> Offline {
    let stand_in = |n: usize| "x".repeat(n);
    match &id.kind {
        IdentityKind::Cognito(c) => Offline {
            identity_id: Some(stand_in(identity_id_len(&c.identity_pool_id))),
            username: Some(c.login.username.clone()),
        },
        IdentityKind::CognitoGuest(c) => Offline {
            identity_id: Some(stand_in(identity_id_len(&c.identity_pool_id))),
            username: None,
        },
        IdentityKind::CredentialEndpoint(c) => Offline {
            identity_id: None,
            username: match &c.auth {
                EndpointAuth::Cognito { login, .. } => Some(login.username.clone()),
                EndpointAuth::Bearer(_) => None,
            },
        },
        IdentityKind::Static(_) | IdentityKind::Profile(_) | IdentityKind::AssumeRole(_) => {
            Offline {
                identity_id: None,
                username: None,
            }
        }
    }
}

/// A client id as the config predicts it (stand-ins for values known only by length), or the
/// expansion error (a placeholder this identity has no value for).
pub fn predict(template: &str, identity: &IdentityConfig, canary: &str) -> Result<String, String> {
    let o = offline(identity);
    let run = "r".repeat(RUN_ID_LEN);
    expand_client_id(
        template,
        &ClientIdVars {
            identity: &identity.name,
            identity_id: o.identity_id.as_deref(),
            username: o.username.as_deref(),
        },
        &ProbeSlot {
            canary,
            shard: Shard::ALL,
            run: &run,
        },
    )
}

/// One client id over the limit: whose, which, how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLong {
    pub canary: String,
    /// `client_id`, or `witness` for the witness's id derived from `[target] client_id`.
    pub key: &'static str,
    pub bytes: usize,
}

/// Every canary's (and its witness's) predicted client id over [`MAX_CLIENT_ID_BYTES`].
pub fn too_long(
    target: &Target,
    identities: &[IdentityConfig],
    canaries: &[Canary],
) -> Vec<TooLong> {
    let find = |name: &str| identities.iter().find(|i| i.name == name);
    let witness = witness_template(&target.client_id);
    let mut out = Vec::new();
    for c in canaries {
        let mut uses = vec![("client_id", c.client_id.as_str(), c.identity.as_str())];
        if let Some(w) = &c.witness {
            uses.push(("witness", witness.as_str(), w.as_str()));
        }
        for (key, template, who) in uses {
            let Some(id) = find(who) else { continue };
            if let Ok(cid) = predict(template, id, &c.name)
                && cid.len() > MAX_CLIENT_ID_BYTES
            {
                out.push(TooLong {
                    canary: c.name.clone(),
                    key,
                    bytes: cid.len(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(toml_text: &str) -> IdentityConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn predictions_use_exact_values_and_lengths() {
        let alice = identity(
            "name = \"alice\"\nkind = \"cognito\"\nuser_pool_id = \"p\"\napp_client_id = \"c\"\nidentity_pool_id = \"us-east-1:0a1b\"\nusername = \"alice\"\npassword_env = \"P\"\n",
        );
        let id = predict("${principal}-${run}-${canary}", &alice, "c1").unwrap();
        assert_eq!(id.len(), "us-east-1:".len() + 36 + 1 + RUN_ID_LEN + 1 + 2);
        assert_eq!(predict("${username}", &alice, "c").unwrap(), "alice");
        let ops = identity(
            "name = \"ops\"\nkind = \"static\"\naccess_key_id_env = \"A\"\nsecret_access_key_env = \"B\"\n",
        );
        assert_eq!(
            predict("${principal}-${canary}", &ops, "c").unwrap(),
            "ops-c"
        );
        assert_eq!(predict("+", &ops, "c").unwrap(), "+");
        assert!(predict("${identity_id}", &ops, "c").is_err());
    }
}
