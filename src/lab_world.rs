//! A lab scenario as a `World` for `generate`, coverage and `simulate`: every principal the
//! lab can sign in becomes an identity (IAM users as `static`, Cognito users as `cognito`, the
//! identity pool's guests as `guest`, each Cognito user through the vending API as
//! `<user>-app`), evaluated through `simulate::identities_from_scenario` (the lab's own
//! `principal_authz`). Credentials are referenced by environment variable only:
//! `<PREFIX>_<NAME>_ACCESS_KEY_ID` / `_SECRET_ACCESS_KEY` and `<PREFIX>_<USER>_PASSWORD`
//! (`IOT_CANARY_DEMO` by default, what `demo` hands its identities).

use std::path::Path;
use std::time::SystemTime;

use iot_canary_audit::sources::SourceSet;
use iot_canary_audit::world::{Mapping, Resources, Thing, World, WorldIdentity, lab_key};
use iot_canary_core::config::IdentitySpec;
use iot_canary_core::config::identity::IdentityConfig;
use iot_canary_lab::scenario::LoadedScenario;
use iot_canary_lab::state::cognito_identity_id;

/// Where the lab listens (its ready line, `iot-canary lab` prints it); defaults are the
/// addresses `demo` replaces.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LabEndpoints {
    pub mqtt: String,
    #[serde(default)]
    pub ca_file: Option<String>,
    pub sts: String,
    pub cognito_identity: String,
    pub cognito_idp: String,
    pub vending: String,
}

impl Default for LabEndpoints {
    fn default() -> Self {
        LabEndpoints {
            mqtt: "127.0.0.1:8443".into(),
            ca_file: None,
            sts: "http://127.0.0.1:4100".into(),
            cognito_identity: "http://127.0.0.1:4100".into(),
            cognito_idp: "http://127.0.0.1:4100".into(),
            vending: "http://127.0.0.1:4100/vend".into(),
        }
    }
}

/// `alice-app` -> `ALICE_APP`.
fn var(name: &str) -> String {
    name.to_uppercase().replace(['-', '.', '@'], "_")
}

fn table(pairs: &[(&str, &str)]) -> toml::Table {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), toml::Value::String((*v).to_owned())))
        .collect()
}

/// The lab's principals as identity tables: (table, user whose things it reaches, spoofable
/// client-id prefix).
fn tables(
    loaded: &LoadedScenario,
    prefix: &str,
    ep: &LabEndpoints,
) -> Vec<(toml::Table, Option<String>, Option<String>)> {
    let s = &loaded.scenario;
    let mut out = Vec::new();
    let cognito_users: Vec<&str> = s
        .cognito
        .iter()
        .flat_map(|c| c.user.iter().map(|u| u.username.as_str()))
        .collect();
    for u in &s.iam_user {
        // A Cognito user of the same name keeps the plain name.
        let name = if cognito_users.contains(&u.name.as_str()) {
            format!("{}-iam", u.name)
        } else {
            u.name.clone()
        };
        let up = var(&u.name);
        out.push((
            table(&[
                ("name", &name),
                ("kind", "static"),
                ("access_key_id_env", &format!("{prefix}_{up}_ACCESS_KEY_ID")),
                (
                    "secret_access_key_env",
                    &format!("{prefix}_{up}_SECRET_ACCESS_KEY"),
                ),
            ]),
            Some(u.name.clone()),
            Some(u.name.clone()),
        ));
    }
    if let Some(c) = &s.cognito {
        for u in &c.user {
            let password = format!("{prefix}_{}_PASSWORD", var(&u.username));
            out.push((
                table(&[
                    ("name", &u.username),
                    ("kind", "cognito"),
                    ("user_pool_id", &c.user_pool_id),
                    ("app_client_id", &c.app_client_id),
                    ("identity_pool_id", &c.identity_pool_id),
                    ("username", &u.username),
                    ("password_env", &password),
                ]),
                Some(u.username.clone()),
                Some(cognito_identity_id(
                    &s.region,
                    &c.identity_pool_id,
                    &u.username,
                )),
            ));
            if s.vending.is_some() {
                out.push((
                    table(&[
                        ("name", &format!("{}-app", u.username)),
                        ("kind", "credential-endpoint"),
                        ("url", &ep.vending),
                        ("user_pool_id", &c.user_pool_id),
                        ("app_client_id", &c.app_client_id),
                        ("username", &u.username),
                        ("password_env", &password),
                    ]),
                    Some(u.username.clone()),
                    Some(u.username.clone()),
                ));
            }
        }
        if c.unauthenticated_role.is_some() {
            out.push((
                table(&[
                    ("name", "guest"),
                    ("kind", "cognito-guest"),
                    ("identity_pool_id", &c.identity_pool_id),
                ]),
                None,
                None,
            ));
        }
    }
    out
}

/// Builds the world of a lab scenario. `sources` are the scenario's policies as audit sources
/// (for the findings `generate` probes).
#[allow(clippy::too_many_arguments)]
pub fn world(
    loaded: &LoadedScenario,
    sources: SourceSet,
    resources: Resources,
    prefix: &str,
    ep: &LabEndpoints,
    origin: String,
    now: SystemTime,
    read: &dyn Fn(&Path) -> Result<String, String>,
) -> Result<World, String> {
    let s = &loaded.scenario;
    let mut specs = Vec::new();
    let mut extra = Vec::new();
    for (t, user, spoof) in tables(loaded, prefix, ep) {
        let config: IdentityConfig = toml::Value::Table(t.clone())
            .try_into()
            .map_err(|e: toml::de::Error| format!("lab identity {t:?}: {}", e.message()))?;
        specs.push(IdentitySpec {
            name: config.name.clone(),
            kind: config.kind.as_str().to_owned(),
            params: t.clone(),
            config,
            line: 0,
        });
        extra.push((t, user, spoof));
    }
    let mut sims = iot_canary::simulate::identities_from_scenario(&specs, loaded, now, read);
    let mut identities: Vec<WorldIdentity> = specs
        .iter()
        .zip(extra)
        .map(|(spec, (table, user, spoofable_id))| WorldIdentity {
            name: spec.name.clone(),
            key: lab_key(spec).unwrap_or_else(|| spec.name.clone()),
            user,
            table,
            sim: sims
                .remove(&spec.name)
                .unwrap_or_else(|| Err("not simulated".into())),
            spoofable_id,
            witness: false,
        })
        .collect();
    identities.sort_by(|a, b| a.name.cmp(&b.name));
    let mut things: Vec<Thing> = s
        .thing
        .iter()
        .map(|t| Thing {
            name: t.name.clone(),
            owner: t.owner.clone(),
            shared_with: t.shared_with.clone(),
        })
        .collect();
    things.sort_by(|a, b| a.name.cmp(&b.name));
    let mut target = toml::Table::new();
    target.insert("endpoint".into(), toml::Value::String(ep.mqtt.clone()));
    if let Some(ca) = &ep.ca_file {
        target.insert("ca_file".into(), toml::Value::String(ca.clone()));
    }
    target.insert("mqtt_version".into(), toml::Value::String("5".into()));
    let endpoints = table(&[
        ("sts", &ep.sts),
        ("cognito_identity", &ep.cognito_identity),
        ("cognito_idp", &ep.cognito_idp),
    ]);
    Ok(World {
        region: s.region.clone(),
        account_id: s.account_id.clone(),
        identities,
        things,
        resources,
        target,
        endpoints: Some(endpoints),
        sources,
        origin,
        mapping: Mapping::LabPrincipal,
    })
}
