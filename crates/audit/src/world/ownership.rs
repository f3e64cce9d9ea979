//! The ownership file (docs/generate.md): who the identities are (the `[[identity]]` tables of
//! canaries.toml, plus how the policy sources reach each one), which things they own and
//! share, and the resource templates of a thing. With policy sources, it makes a [`World`].
//!
//! ```toml
//! region = "us-east-1"                 # ARNs of the probes (default us-east-1)
//! account_id = "123456789012"          # (default 123456789012)
//!
//! [target]                             # copied into generated configs ([target] of canaries.toml)
//! endpoint = "abc123-ats.iot.us-east-1.amazonaws.com"
//!
//! [[identity]]
//! name = "alice"                       # canaries.toml keys: name, kind, credentials by reference
//! kind = "cognito"
//! user_pool_id = "us-east-1_Pool"
//! app_client_id = "client"
//! identity_pool_id = "us-east-1:..."
//! username = "alice"
//! password_env = "ALICE_PASSWORD"
//! user = "alice"                       # whose things (default: username, else name)
//! iot_policies = ["AliceDevices"]      # IoT policies attached to its Cognito identity
//! role = "CognitoAuthRole"             # default: the sources' only authenticated pool role
//! cognito_identity_id = "us-east-1:…"  # optional: its identity id, if known ahead
//!
//! [[thing]]
//! name = "alice-lamp"
//! owner = "alice"
//! shared_with = ["bob"]
//!
//! [resources]                          # defaults shown
//! client_ids = ["${thing}"]
//! topics = ["devices/${thing}/telemetry", "devices/${thing}/cmd"]
//! topic_filters = ["devices/${thing}/#"]
//! ```
//!
//! Pure: the caller reads the files (`read` is called for `session_policy_template` and
//! `session_policy_file` paths, relative to the ownership file's directory).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use iot_canary_core::config::identity::{
    EndpointAuth, IdentityConfig, IdentityKind, SessionPolicy,
};
use iot_canary_policy::{Policy, PolicySet, RequestContext};
use toml::Spanned;

use super::{Mapping, Resources, Thing, World, WorldIdentity};
use crate::simulate::SimIdentity;
use crate::sources::{PolicyKind, PolicySource, SourceSet};
use crate::{AuditOptions, InputError};

/// Keys of an ownership `[[identity]]` table that are not canaries.toml keys.
pub const OWNERSHIP_KEYS: [&str; 7] = [
    "user",
    "iot_policies",
    "role",
    "policies",
    "session_policy_template",
    "cognito_identity_id",
    "witness",
];

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        iot_canary_core::config::Locator::new(self.text)
            .line_col(offset)
            .0
    }

    /// The line of `key = ...` in the table starting at `span` (up to the next table
    /// header), else the table's line.
    fn key_line(&self, span: &std::ops::Range<usize>, key: &str) -> usize {
        let start = span.start.min(self.text.len());
        let mut offset = start;
        for (i, line) in self.text[start..].split_inclusive('\n').enumerate() {
            let t = line.trim_start();
            if i > 0 && t.starts_with('[') {
                break;
            }
            if let Some(rest) = t.strip_prefix(key)
                && rest.trim_start().starts_with('=')
            {
                return self.line_of(offset);
            }
            offset += line.len();
        }
        self.line_of(start)
    }

    fn err(&self, line: usize, key: &str, message: impl std::fmt::Display) -> InputError {
        InputError::At {
            file: self.file.to_owned(),
            line,
            message: format!("`{key}`: {message}"),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    region: Option<String>,
    account_id: Option<String>,
    target: Option<toml::Table>,
    endpoints: Option<toml::Table>,
    resources: Option<Spanned<toml::Table>>,
    #[serde(default)]
    identity: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    thing: Vec<Spanned<RawThing>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThing {
    name: String,
    owner: Option<String>,
    #[serde(default)]
    shared_with: Vec<String>,
}

/// How the sources reach one identity, as written.
#[derive(Default)]
struct Binding {
    user: Option<String>,
    iot_policies: Vec<String>,
    role: Option<String>,
    policies: Vec<String>,
    session_policy_template: Option<String>,
    cognito_identity_id: Option<String>,
    witness: bool,
}

/// Reads an ownership file and binds it to the policy sources.
pub fn load(
    file: &str,
    text: &str,
    sources: SourceSet,
    base_dir: &Path,
    read: &dyn Fn(&Path) -> Result<String, String>,
    origin: String,
) -> Result<World, InputError> {
    let cx = Ctx { file, text };
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| cx.line_of(s.start));
        InputError::At {
            file: file.to_owned(),
            line,
            message: e.message().trim().to_owned(),
        }
    })?;
    let options = AuditOptions {
        region: raw.region.unwrap_or_else(|| "us-east-1".into()),
        account_id: raw
            .account_id
            .unwrap_or_else(|| AuditOptions::default().account_id),
        ..Default::default()
    };
    let resources = match raw.resources {
        None => Resources::default(),
        Some(r) => {
            let span = r.span();
            let table = r.into_inner();
            let parsed: Resources =
                toml::Value::Table(table)
                    .try_into()
                    .map_err(|e: toml::de::Error| {
                        cx.err(cx.line_of(span.start), "resources", e.message().trim())
                    })?;
            if let Some((key, message)) = parsed.problems().into_iter().next() {
                return Err(cx.err(
                    cx.key_line(&span, key),
                    &format!("resources.{key}"),
                    message,
                ));
            }
            parsed
        }
    };

    let mut things = Vec::new();
    let mut names = BTreeSet::new();
    for (i, t) in raw.thing.into_iter().enumerate() {
        let line = cx.line_of(t.span().start);
        let t = t.into_inner();
        if t.name.is_empty() || !names.insert(t.name.clone()) {
            return Err(cx.err(
                line,
                &format!("thing[{i}].name"),
                format!("`{}` is empty or names a thing twice", t.name),
            ));
        }
        things.push(Thing {
            name: t.name,
            owner: t.owner,
            shared_with: t.shared_with,
        });
    }
    things.sort_by(|a, b| a.name.cmp(&b.name));

    let mut identities = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, entry) in raw.identity.into_iter().enumerate() {
        let span = entry.span();
        let mut table = entry.into_inner();
        let at = |key: &str| cx.key_line(&span, key);
        let path = |key: &str| format!("identity[{i}].{key}");
        let binding = take_binding(&mut table, &cx, &span, i)?;
        let config: IdentityConfig =
            toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| {
                    cx.err(
                        cx.line_of(span.start),
                        &format!("identity[{i}]"),
                        e.message().trim(),
                    )
                })?;
        if !ids.insert(config.name.clone()) {
            return Err(cx.err(at("name"), &path("name"), "names an identity twice"));
        }
        let id = bind(
            &config, table, binding, &sources, &options, base_dir, read, &things,
        )
        .map_err(|(key, message)| cx.err(at(key), &path(key), message))?;
        identities.push(id);
    }
    identities.sort_by(|a, b| a.name.cmp(&b.name));

    let mut target = raw.target.unwrap_or_default();
    target.remove("region");
    Ok(World {
        region: options.region,
        account_id: options.account_id,
        identities,
        things,
        resources,
        target,
        endpoints: raw.endpoints,
        sources,
        origin,
        mapping: Mapping::ByName,
    })
}

fn strings(v: toml::Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_str().map(str::to_owned))
        .collect()
}

/// Takes the ownership keys out of an identity table (what is left is canaries.toml's).
fn take_binding(
    table: &mut toml::Table,
    cx: &Ctx<'_>,
    span: &std::ops::Range<usize>,
    i: usize,
) -> Result<Binding, InputError> {
    let mut b = Binding::default();
    for key in OWNERSHIP_KEYS {
        let Some(v) = table.remove(key) else { continue };
        let bad = |what: &str| {
            cx.err(
                cx.key_line(span, key),
                &format!("identity[{i}].{key}"),
                format!("must be {what}"),
            )
        };
        match key {
            "iot_policies" | "policies" => {
                let list = strings(v).ok_or_else(|| bad("an array of policy names"))?;
                if key == "policies" {
                    b.policies = list;
                } else {
                    b.iot_policies = list;
                }
            }
            "witness" => b.witness = v.as_bool().ok_or_else(|| bad("true or false"))?,
            _ => {
                let s = v
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad("a string"))?;
                match key {
                    "user" => b.user = Some(s),
                    "role" => b.role = Some(s),
                    "session_policy_template" => b.session_policy_template = Some(s),
                    _ => b.cognito_identity_id = Some(s),
                }
            }
        }
    }
    Ok(b)
}

/// A stand-in Cognito identity id for an identity whose real one is not known offline: stable
/// per name, and never a real id (the variant nibble is 0).
fn synthetic_identity_id(region: &str, name: &str) -> String {
    // FNV-1a: a stable spread of the name; nothing depends on its quality.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!(
        "{region}:00000000-0000-4000-0000-{:012x}",
        h & 0xffff_ffff_ffff
    )
}

type BindError = (&'static str, String);

/// Policies by name from the sources: IoT policies (`iot`), any policy (`policies`), a role's.
struct Lookup<'a> {
    sources: &'a SourceSet,
}

impl Lookup<'_> {
    fn parse(s: &PolicySource) -> Result<Arc<Policy>, String> {
        Policy::parse(&s.name, &s.document.to_string())
            .map(Arc::new)
            .map_err(|e| format!("{}: {e}", s.location.file))
    }

    fn named(
        &self,
        names: &[String],
        iot_only: bool,
        key: &'static str,
    ) -> Result<Vec<Arc<Policy>>, BindError> {
        names
            .iter()
            .map(|n| {
                let found = self
                    .sources
                    .policies
                    .iter()
                    .filter(|s| s.name == *n && (!iot_only || s.kind == PolicyKind::IotPolicy))
                    .min_by_key(|s| s.kind);
                match found {
                    Some(s) => Self::parse(s).map_err(|e| (key, e)),
                    None => Err((
                        key,
                        format!(
                            "no {}policy named `{n}` in the policy sources (known: {})",
                            if iot_only { "IoT " } else { "" },
                            self.known(|s| !iot_only || s.kind == PolicyKind::IotPolicy)
                        ),
                    )),
                }
            })
            .collect()
    }

    fn known(&self, keep: impl Fn(&PolicySource) -> bool) -> String {
        let names: BTreeSet<&str> = self
            .sources
            .policies
            .iter()
            .filter(|s| keep(s))
            .map(|s| s.name.as_str())
            .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.into_iter().collect::<Vec<_>>().join(", ")
        }
    }

    /// The role's policies (deduplicated: a role used twice is listed once per use).
    fn role(&self, role: &str) -> Result<Vec<Arc<Policy>>, BindError> {
        let mut seen = BTreeSet::new();
        let list: Vec<&PolicySource> = self
            .sources
            .policies
            .iter()
            .filter(|s| {
                s.principal == role
                    && !matches!(s.kind, PolicyKind::IotPolicy | PolicyKind::SessionTemplate)
                    && seen.insert(s.name.clone())
            })
            .collect();
        if list.is_empty() {
            return Err((
                "role",
                format!(
                    "no role `{role}` in the policy sources (known: {})",
                    self.known_roles()
                ),
            ));
        }
        list.into_iter()
            .map(|s| Self::parse(s).map_err(|e| ("role", e)))
            .collect()
    }

    fn known_roles(&self) -> String {
        let names: BTreeSet<&str> = self
            .sources
            .policies
            .iter()
            .filter(|s| !matches!(s.kind, PolicyKind::IotPolicy | PolicyKind::SessionTemplate))
            .map(|s| s.principal.as_str())
            .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.into_iter().collect::<Vec<_>>().join(", ")
        }
    }

    /// The only role of `kind` (an identity pool's role), for identities that name none.
    fn only_role(&self, kind: PolicyKind) -> Result<String, BindError> {
        let roles: BTreeSet<&str> = self
            .sources
            .policies
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.principal.as_str())
            .collect();
        match roles.len() {
            1 => Ok(roles.into_iter().next().unwrap_or_default().to_owned()),
            0 => Err((
                "role",
                format!(
                    "the policy sources have no {}; name the role with `role` (known roles: {})",
                    kind.label(),
                    self.known_roles()
                ),
            )),
            _ => Err((
                "role",
                format!(
                    "the policy sources have several {}s ({}); name one with `role`",
                    kind.label(),
                    roles.into_iter().collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn bind(
    config: &IdentityConfig,
    mut table: toml::Table,
    b: Binding,
    sources: &SourceSet,
    o: &AuditOptions,
    base_dir: &Path,
    read: &dyn Fn(&Path) -> Result<String, String>,
    things: &[Thing],
) -> Result<WorldIdentity, BindError> {
    let lookup = Lookup { sources };
    let name = config.name.clone();
    let mut context = RequestContext {
        region: o.region.clone(),
        account_id: o.account_id.clone(),
        ..Default::default()
    };
    let role = |kind: Option<PolicyKind>| -> Result<Vec<Arc<Policy>>, BindError> {
        match (&b.role, kind) {
            (Some(r), _) => lookup.role(r),
            (None, Some(k)) => lookup.role(&lookup.only_role(k)?),
            (None, None) => Ok(Vec::new()),
        }
    };
    let extra = lookup.named(&b.policies, false, "policies")?;
    let reachable = |user: &str| -> Vec<String> {
        things
            .iter()
            .filter(|t| t.owner.as_deref() == Some(user) || t.shared_with.iter().any(|s| s == user))
            .map(|t| t.name.clone())
            .collect()
    };
    let (set, user, identity_id, username, spoofable) = match &config.kind {
        IdentityKind::Static(_) | IdentityKind::Profile(_) => {
            let user = b.user.clone().unwrap_or_else(|| name.clone());
            context
                .values
                .insert("aws:username".into(), vec![user.clone()]);
            let mut policies = role(None)?;
            policies.extend(extra);
            if policies.is_empty() {
                return Err((
                    "policies",
                    "name the IAM policies of this identity with `policies` (or `role`)".into(),
                ));
            }
            let spoof = matches!(config.kind, IdentityKind::Static(_)).then(|| name.clone());
            (
                PolicySet::Iam { policies },
                Some(user),
                None,
                Some(name.clone()),
                spoof,
            )
        }
        IdentityKind::Cognito(c) => {
            let id = b
                .cognito_identity_id
                .clone()
                .unwrap_or_else(|| synthetic_identity_id(&o.region, &name));
            context.values.insert(
                "cognito-identity.amazonaws.com:sub".into(),
                vec![id.clone()],
            );
            let iot_policies = lookup.named(&b.iot_policies, true, "iot_policies")?;
            let mut role_policies = role(Some(PolicyKind::CognitoAuthRole))?;
            role_policies.extend(extra);
            let user = b.user.clone().unwrap_or_else(|| c.login.username.clone());
            (
                PolicySet::CognitoAuthenticated {
                    role_policies,
                    iot_policies,
                },
                Some(user),
                Some(id),
                Some(c.login.username.clone()),
                b.cognito_identity_id.clone(),
            )
        }
        IdentityKind::CognitoGuest(_) => {
            // Guests get a fresh identity id per sign-in: a stand-in exercises the same rules.
            let id = synthetic_identity_id(&o.region, &name);
            context.values.insert(
                "cognito-identity.amazonaws.com:sub".into(),
                vec![id.clone()],
            );
            let mut role_policies = role(Some(PolicyKind::CognitoUnauthRole))?;
            role_policies.extend(extra);
            (
                // Guest credentials of the enhanced flow (GetCredentialsForIdentity), which
                // Cognito scopes down as the lab does.
                PolicySet::cognito_guest(role_policies),
                b.user.clone(),
                Some(id),
                None,
                None,
            )
        }
        IdentityKind::AssumeRole(a) => {
            let role_name = b
                .role
                .clone()
                .unwrap_or_else(|| a.role_arn.rsplit('/').next().unwrap_or_default().to_owned());
            let mut role_policies = lookup.role(&role_name)?;
            role_policies.extend(extra);
            let session = match &a.session_policy {
                None => None,
                Some(SessionPolicy::Inline(s)) => Some(s.clone()),
                Some(SessionPolicy::File(p)) => {
                    Some(read(&base_dir.join(p)).map_err(|e| ("session_policy_file", e))?)
                }
            };
            let session_policies = match session {
                None => Vec::new(),
                Some(t) => {
                    let t = iot_canary_core::config::identity::expand_session_policy(
                        &t,
                        &a.session_name,
                        &a.role_arn,
                    );
                    vec![Arc::new(
                        Policy::parse("session", &t)
                            .map_err(|e| ("session_policy", e.to_string()))?,
                    )]
                }
            };
            (
                PolicySet::AssumedRole {
                    role_policies,
                    session_policies,
                },
                Some(b.user.clone().unwrap_or_else(|| name.clone())),
                None,
                None,
                None,
            )
        }
        IdentityKind::CredentialEndpoint(c) => {
            let username = match &c.auth {
                EndpointAuth::Cognito { login, .. } => login.username.clone(),
                EndpointAuth::Bearer(_) => name.clone(),
            };
            let user = b.user.clone().unwrap_or_else(|| username.clone());
            let Some(r) = &b.role else {
                return Err((
                    "role",
                    "name the role the endpoint vends with `role`".into(),
                ));
            };
            let mut role_policies = lookup.role(r)?;
            role_policies.extend(extra);
            let session_policies = match &b.session_policy_template {
                None => Vec::new(),
                Some(p) => {
                    let t = read(&base_dir.join(p)).map_err(|e| ("session_policy_template", e))?;
                    let text = crate::sources::session_template::render_for(
                        &t,
                        &username,
                        &reachable(&user),
                        o,
                    )
                    .map_err(|e| ("session_policy_template", format!("not JSON: {e}")))?;
                    vec![Arc::new(
                        Policy::parse("session", &text)
                            .map_err(|e| ("session_policy_template", e.to_string()))?,
                    )]
                }
            };
            (
                PolicySet::AssumedRole {
                    role_policies,
                    session_policies,
                },
                Some(user),
                None,
                Some(username.clone()),
                Some(username),
            )
        }
    };
    // The generated config writes `name` and `kind` first; the rest in key order.
    table.remove("name");
    table.remove("kind");
    let mut out = toml::Table::new();
    out.insert("name".into(), toml::Value::String(name.clone()));
    out.insert(
        "kind".into(),
        toml::Value::String(config.kind.as_str().into()),
    );
    out.extend(table);
    Ok(WorldIdentity {
        key: name.clone(),
        name,
        user,
        table: out,
        sim: Ok(SimIdentity {
            set,
            context,
            identity_id,
            username,
            caller_arn: None,
            role_paths: None,
        }),
        spoofable_id: spoofable,
        witness: b.witness,
    })
}
