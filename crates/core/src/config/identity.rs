//! One `[[identity]]` table of canaries.toml (interface: the keys below), plus `[endpoints]`.
//!
//! Deserialization goes through private `Raw*` structs (one per `kind`, each with
//! `deny_unknown_fields`) and is then checked into the public types: secrets only by reference
//! (`*_env` / `*_file`), exactly one reference per secret, well-formed durations, ARNs and URLs.
//! Every error message names the offending key; the caller adds file and line.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::secret::SecretRef;

/// AWS API endpoint overrides (`[endpoints]` in canaries.toml; the lab prints these URLs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    pub sts: Option<String>,
    pub cognito_identity: Option<String>,
    pub cognito_idp: Option<String>,
    /// The AWS IoT data plane's HTTPS API (iot-data: Publish, shadows, retained messages,
    /// DeleteConnection); default: `https://` + `[target] endpoint`'s host.
    pub iot_data: Option<String>,
    /// The AWS IoT control plane (iot: AttachPolicy, ListThings, ...); default: the regional
    /// `https://iot.<region>.amazonaws.com`.
    pub iot: Option<String>,
}

/// One identity: a name the canaries refer to, and how its credentials are obtained.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawIdentity")]
pub struct IdentityConfig {
    pub name: String,
    pub kind: IdentityKind,
}

// Built once per config load and never moved in hot paths: boxing the credential endpoint's
// larger table would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum IdentityKind {
    Static(StaticConfig),
    Profile(ProfileConfig),
    AssumeRole(AssumeRoleConfig),
    Cognito(CognitoConfig),
    CognitoGuest(CognitoGuestConfig),
    CredentialEndpoint(CredentialEndpointConfig),
}

impl IdentityConfig {
    /// Every secret reference of this identity with its config key stem (e.g. `password`),
    /// for `check` to report on without fetching.
    pub fn secret_refs(&self) -> Vec<(&'static str, &SecretRef)> {
        fn login(l: &CognitoLogin) -> Vec<(&'static str, &SecretRef)> {
            let mut v = vec![("password", &l.password)];
            if let Some(s) = &l.app_client_secret {
                v.push(("app_client_secret", s));
            }
            v
        }
        match &self.kind {
            IdentityKind::Static(c) => {
                let mut v = vec![
                    ("access_key_id", &c.access_key_id),
                    ("secret_access_key", &c.secret_access_key),
                ];
                if let Some(t) = &c.session_token {
                    v.push(("session_token", t));
                }
                v
            }
            IdentityKind::Cognito(c) => login(&c.login),
            IdentityKind::CredentialEndpoint(c) => match &c.auth {
                EndpointAuth::Cognito { login: l, .. } => login(l),
                EndpointAuth::Bearer(b) => vec![("bearer_token", b)],
            },
            IdentityKind::Profile(_)
            | IdentityKind::AssumeRole(_)
            | IdentityKind::CognitoGuest(_) => Vec::new(),
        }
    }
}

impl IdentityConfig {
    /// Makes every relative file path of this identity (`*_file`, `credentials_file`,
    /// `config_file`, `session_policy_file`) relative to `base` — the config file's directory,
    /// as for `[target] ca_file` — so a config means the same from any working directory.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        fn fix(p: &mut PathBuf, base: &std::path::Path) {
            if p.is_relative() && !base.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        }
        fn secret(r: &mut SecretRef, base: &std::path::Path) {
            if let SecretRef::File(p) = r {
                fix(p, base);
            }
        }
        fn login(l: &mut CognitoLogin, base: &std::path::Path) {
            secret(&mut l.password, base);
            if let Some(s) = &mut l.app_client_secret {
                secret(s, base);
            }
        }
        match &mut self.kind {
            IdentityKind::Static(c) => {
                secret(&mut c.access_key_id, base);
                secret(&mut c.secret_access_key, base);
                if let Some(t) = &mut c.session_token {
                    secret(t, base);
                }
            }
            IdentityKind::Profile(c) => {
                for p in [&mut c.config_file, &mut c.credentials_file]
                    .into_iter()
                    .flatten()
                {
                    fix(p, base);
                }
            }
            IdentityKind::AssumeRole(c) => {
                if let Some(SessionPolicy::File(p)) = &mut c.session_policy {
                    fix(p, base);
                }
            }
            IdentityKind::Cognito(c) => login(&mut c.login, base),
            IdentityKind::CognitoGuest(_) => {}
            IdentityKind::CredentialEndpoint(c) => match &mut c.auth {
                EndpointAuth::Cognito { login: l, .. } => login(l, base),
                EndpointAuth::Bearer(b) => secret(b, base),
            },
        }
    }
}

impl IdentityKind {
    /// The `kind` value as written in canaries.toml.
    pub fn as_str(&self) -> &'static str {
        match self {
            IdentityKind::Static(_) => "static",
            IdentityKind::Profile(_) => "profile",
            IdentityKind::AssumeRole(_) => "assume-role",
            IdentityKind::Cognito(_) => "cognito",
            IdentityKind::CognitoGuest(_) => "cognito-guest",
            IdentityKind::CredentialEndpoint(_) => "credential-endpoint",
        }
    }
}

/// `kind = "static"`: long-term or pre-issued keys.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticConfig {
    pub access_key_id: SecretRef,
    pub secret_access_key: SecretRef,
    pub session_token: Option<SecretRef>,
}

/// `kind = "profile"`: a named profile from the shared config files, or (no `profile`) the
/// aws-config default chain (env, profile, web identity, ECS, IMDS).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileConfig {
    pub profile: Option<String>,
    /// Overrides `~/.aws/config` (and `AWS_CONFIG_FILE`).
    pub config_file: Option<PathBuf>,
    /// Overrides `~/.aws/credentials` (and `AWS_SHARED_CREDENTIALS_FILE`).
    pub credentials_file: Option<PathBuf>,
}

/// Placeholders a session policy may use (expanded before the AssumeRole call).
pub const SESSION_POLICY_PLACEHOLDERS: &[&str] = &["${session_name}", "${role_arn}"];

/// The value `source` takes to mean "the aws-config default chain".
pub const DEFAULT_CHAIN_SOURCE: &str = "default";

#[derive(Debug, Clone, PartialEq)]
pub enum SessionPolicy {
    /// Inline JSON template (`session_policy`).
    Inline(String),
    /// Template read at each fetch (`session_policy_file`).
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseCredentials {
    /// `source` absent or `"default"`.
    DefaultChain,
    /// `source = "<identity name>"`: that identity's (cached) credentials sign the call.
    Identity(String),
}

/// `kind = "assume-role"`: STS AssumeRole, optionally scoped down by a session policy.
#[derive(Debug, Clone, PartialEq)]
pub struct AssumeRoleConfig {
    pub role_arn: String,
    pub session_name: String,
    pub session_policy: Option<SessionPolicy>,
    pub duration: Option<Duration>,
    pub external_id: Option<String>,
    pub source: BaseCredentials,
}

/// How a canary signs in to a user pool (`auth_flow`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CognitoAuthFlow {
    /// `USER_SRP_AUTH` + `PASSWORD_VERIFIER` (the default): what AWS's app libraries do by
    /// default, the flow Cognito's console enables on new app clients (with refresh), and the
    /// only one many production clients allow; the password never leaves the daemon.
    #[default]
    UserSrp,
    /// `USER_PASSWORD_AUTH`: the password is sent to Cognito (over TLS); only for app clients
    /// that allow it.
    UserPassword,
}

impl CognitoAuthFlow {
    pub fn as_str(self) -> &'static str {
        match self {
            CognitoAuthFlow::UserSrp => "user_srp",
            CognitoAuthFlow::UserPassword => "user_password",
        }
    }
}

/// A user-pool sign-in (`auth_flow`: USER_SRP_AUTH by default, or USER_PASSWORD_AUTH).
#[derive(Debug, Clone, PartialEq)]
pub struct CognitoLogin {
    pub user_pool_id: String,
    pub app_client_id: String,
    pub username: String,
    pub password: SecretRef,
    /// For app clients with a secret: used to compute SECRET_HASH.
    pub app_client_secret: Option<SecretRef>,
    pub auth_flow: CognitoAuthFlow,
}

/// `kind = "cognito"`: user pool sign-in, then identity pool GetId + GetCredentialsForIdentity.
#[derive(Debug, Clone, PartialEq)]
pub struct CognitoConfig {
    pub login: CognitoLogin,
    pub identity_pool_id: String,
    /// Key of the `Logins` map; default `cognito-idp.<region>.amazonaws.com/<user_pool_id>`.
    pub login_provider: Option<String>,
}

/// `kind = "cognito-guest"`: an unauthenticated identity of an identity pool.
#[derive(Debug, Clone, PartialEq)]
pub struct CognitoGuestConfig {
    pub identity_pool_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
}

/// Which token of a Cognito sign-in is sent to the credential endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CognitoToken {
    Id,
    Access,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EndpointAuth {
    /// Sign in to a user pool and send a token from the result.
    Cognito {
        login: CognitoLogin,
        token: CognitoToken,
    },
    /// A bearer token from the environment or a file.
    Bearer(SecretRef),
}

/// JSON field names (dotted paths for nested objects) in the credential endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseFields {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: String,
    /// The client id the credentials are meant for (optional; no default).
    pub client_id: Option<String>,
}

impl Default for ResponseFields {
    fn default() -> Self {
        ResponseFields {
            access_key_id: "AccessKeyId".into(),
            secret_access_key: "SecretAccessKey".into(),
            session_token: "SessionToken".into(),
            expiration: "Expiration".into(),
            client_id: None,
        }
    }
}

/// `kind = "credential-endpoint"`: a credential-vending HTTP API.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialEndpointConfig {
    pub url: String,
    pub method: HttpMethod,
    pub auth: EndpointAuth,
    /// Header carrying the token (default `Authorization`).
    pub auth_header: String,
    /// Prefix before the token (default `Bearer`; empty: the raw token).
    pub auth_scheme: String,
    pub fields: ResponseFields,
    /// The identity pool the user pool's tokens open (only for the role-path probes
    /// `web-identity` and `custom-role`; the credentials themselves come from the endpoint).
    pub identity_pool_id: Option<String>,
    /// Key of the `Logins` map for that pool; default `cognito-idp.<region>.amazonaws.com/<user_pool_id>`.
    pub login_provider: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Raw (wire) shapes. Inline secret keys are accepted by the parser only to be rejected with a
// helpful message (deny_unknown_fields would otherwise say "unknown field").

// Deserialized once per `[[identity]]` table, then converted (see `IdentityKind`).
#[allow(clippy::large_enum_variant)]
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum RawIdentity {
    Static(RawStatic),
    Profile(RawProfile),
    AssumeRole(RawAssumeRole),
    Cognito(RawCognito),
    CognitoGuest(RawCognitoGuest),
    CredentialEndpoint(RawCredentialEndpoint),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatic {
    name: String,
    access_key_id_env: Option<String>,
    access_key_id_file: Option<PathBuf>,
    secret_access_key_env: Option<String>,
    secret_access_key_file: Option<PathBuf>,
    session_token_env: Option<String>,
    session_token_file: Option<PathBuf>,
    access_key_id: Option<IgnoredAny>,
    secret_access_key: Option<IgnoredAny>,
    session_token: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    profile: Option<String>,
    config_file: Option<PathBuf>,
    credentials_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssumeRole {
    name: String,
    role_arn: String,
    session_name: String,
    session_policy: Option<String>,
    session_policy_file: Option<PathBuf>,
    duration: Option<String>,
    external_id: Option<String>,
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCognito {
    name: String,
    user_pool_id: String,
    app_client_id: String,
    identity_pool_id: String,
    username: String,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    app_client_secret_env: Option<String>,
    app_client_secret_file: Option<PathBuf>,
    auth_flow: Option<CognitoAuthFlow>,
    login_provider: Option<String>,
    password: Option<IgnoredAny>,
    app_client_secret: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCognitoGuest {
    name: String,
    identity_pool_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredentialEndpoint {
    name: String,
    url: String,
    method: Option<HttpMethod>,
    user_pool_id: Option<String>,
    app_client_id: Option<String>,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    app_client_secret_env: Option<String>,
    app_client_secret_file: Option<PathBuf>,
    auth_flow: Option<CognitoAuthFlow>,
    token: Option<CognitoToken>,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<PathBuf>,
    auth_header: Option<String>,
    auth_scheme: Option<String>,
    access_key_id_field: Option<String>,
    secret_access_key_field: Option<String>,
    session_token_field: Option<String>,
    expiration_field: Option<String>,
    client_id_field: Option<String>,
    identity_pool_id: Option<String>,
    login_provider: Option<String>,
    password: Option<IgnoredAny>,
    app_client_secret: Option<IgnoredAny>,
    bearer_token: Option<IgnoredAny>,
}

// ---------------------------------------------------------------------------------------------
// Checks (pure).

fn inline_secret(present: bool, key: &str) -> Result<(), String> {
    if present {
        Err(format!(
            "`{key}`: inline secrets are not allowed; use `{key}_env` (environment variable name) or `{key}_file` (path)"
        ))
    } else {
        Ok(())
    }
}

fn secret_ref(
    key: &str,
    env: Option<String>,
    file: Option<PathBuf>,
) -> Result<Option<SecretRef>, String> {
    match (env, file) {
        (Some(_), Some(_)) => Err(format!("set only one of `{key}_env` and `{key}_file`")),
        (Some(e), None) if e.trim().is_empty() => Err(format!("`{key}_env` is empty")),
        (Some(e), None) if !crate::secret::is_env_var_name(&e) => {
            Err(crate::secret::not_an_env_var_name(&format!("{key}_env")))
        }
        (Some(e), None) => Ok(Some(SecretRef::Env(e))),
        (None, Some(f)) if f.as_os_str().is_empty() => Err(format!("`{key}_file` is empty")),
        (None, Some(f)) => Ok(Some(SecretRef::File(f))),
        (None, None) => Ok(None),
    }
}

fn required_secret(
    key: &str,
    env: Option<String>,
    file: Option<PathBuf>,
) -> Result<SecretRef, String> {
    secret_ref(key, env, file)?.ok_or_else(|| format!("missing `{key}_env` or `{key}_file`"))
}

fn non_empty(key: &str, value: String) -> Result<String, String> {
    if value.trim().is_empty() {
        Err(format!("`{key}` is empty"))
    } else {
        Ok(value)
    }
}

/// AssumeRole DurationSeconds bounds (AWS: 15 minutes to 12 hours; the role may cap lower).
const MIN_ROLE_DURATION: Duration = Duration::from_secs(900);
const MAX_ROLE_DURATION: Duration = Duration::from_secs(43_200);

impl TryFrom<RawIdentity> for IdentityConfig {
    type Error = String;

    fn try_from(raw: RawIdentity) -> Result<Self, String> {
        let (name, kind) = match raw {
            RawIdentity::Static(r) => {
                inline_secret(r.access_key_id.is_some(), "access_key_id")?;
                inline_secret(r.secret_access_key.is_some(), "secret_access_key")?;
                inline_secret(r.session_token.is_some(), "session_token")?;
                let kind = IdentityKind::Static(StaticConfig {
                    access_key_id: required_secret(
                        "access_key_id",
                        r.access_key_id_env,
                        r.access_key_id_file,
                    )?,
                    secret_access_key: required_secret(
                        "secret_access_key",
                        r.secret_access_key_env,
                        r.secret_access_key_file,
                    )?,
                    session_token: secret_ref(
                        "session_token",
                        r.session_token_env,
                        r.session_token_file,
                    )?,
                });
                (r.name, kind)
            }
            RawIdentity::Profile(r) => {
                let profile = r.profile.map(|p| non_empty("profile", p)).transpose()?;
                (
                    r.name,
                    IdentityKind::Profile(ProfileConfig {
                        profile,
                        config_file: r.config_file,
                        credentials_file: r.credentials_file,
                    }),
                )
            }
            RawIdentity::AssumeRole(mut r) => {
                let name = std::mem::take(&mut r.name);
                (name, IdentityKind::AssumeRole(assume_role(r)?))
            }
            RawIdentity::Cognito(r) => {
                inline_secret(r.password.is_some(), "password")?;
                inline_secret(r.app_client_secret.is_some(), "app_client_secret")?;
                let login = CognitoLogin {
                    user_pool_id: non_empty("user_pool_id", r.user_pool_id)?,
                    app_client_id: non_empty("app_client_id", r.app_client_id)?,
                    username: non_empty("username", r.username)?,
                    password: required_secret("password", r.password_env, r.password_file)?,
                    app_client_secret: secret_ref(
                        "app_client_secret",
                        r.app_client_secret_env,
                        r.app_client_secret_file,
                    )?,
                    auth_flow: r.auth_flow.unwrap_or_default(),
                };
                let login_provider = r
                    .login_provider
                    .map(|p| non_empty("login_provider", p))
                    .transpose()?;
                (
                    r.name,
                    IdentityKind::Cognito(CognitoConfig {
                        login,
                        identity_pool_id: non_empty("identity_pool_id", r.identity_pool_id)?,
                        login_provider,
                    }),
                )
            }
            RawIdentity::CognitoGuest(r) => (
                r.name,
                IdentityKind::CognitoGuest(CognitoGuestConfig {
                    identity_pool_id: non_empty("identity_pool_id", r.identity_pool_id)?,
                }),
            ),
            RawIdentity::CredentialEndpoint(mut r) => {
                let name = std::mem::take(&mut r.name);
                (name, IdentityKind::CredentialEndpoint(endpoint(r)?))
            }
        };
        let name = non_empty("name", name)?;
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "`name`: `{name}` may only contain letters, digits, `-`, `_` and `.`"
            ));
        }
        Ok(IdentityConfig { name, kind })
    }
}

fn assume_role(r: RawAssumeRole) -> Result<AssumeRoleConfig, String> {
    let role_arn = non_empty("role_arn", r.role_arn)?;
    if !(role_arn.starts_with("arn:") && role_arn.contains(":role/")) {
        return Err(format!(
            "`role_arn`: `{role_arn}` is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
        ));
    }
    let session_name = non_empty("session_name", r.session_name)?;
    // AWS: 2-64 characters of [\w+=,.@-].
    if session_name.len() < 2
        || session_name.len() > 64
        || !session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(format!(
            "`session_name`: `{session_name}` must be 2-64 characters of letters, digits and _+=,.@-"
        ));
    }
    let session_policy = match (r.session_policy, r.session_policy_file) {
        (Some(_), Some(_)) => {
            return Err("set only one of `session_policy` and `session_policy_file`".into());
        }
        (Some(p), None) => {
            let expanded = expand_session_policy(&p, &session_name, &role_arn);
            serde_json::from_str::<serde_json::Value>(&expanded)
                .map_err(|e| format!("`session_policy` is not valid JSON: {e}"))?;
            Some(SessionPolicy::Inline(p))
        }
        (None, Some(f)) => Some(SessionPolicy::File(f)),
        (None, None) => None,
    };
    let duration = r
        .duration
        .map(|d| {
            let v = crate::units::parse_duration(&d).map_err(|e| format!("`duration`: {e}"))?;
            if !(MIN_ROLE_DURATION..=MAX_ROLE_DURATION).contains(&v) {
                return Err(format!(
                    "`duration`: `{d}` is outside what STS accepts (15m to 12h)"
                ));
            }
            Ok(v)
        })
        .transpose()?;
    let source = match r.source {
        None => BaseCredentials::DefaultChain,
        Some(s) if s == DEFAULT_CHAIN_SOURCE => BaseCredentials::DefaultChain,
        Some(s) => BaseCredentials::Identity(non_empty("source", s)?),
    };
    Ok(AssumeRoleConfig {
        role_arn,
        session_name,
        session_policy,
        duration,
        external_id: r
            .external_id
            .map(|e| non_empty("external_id", e))
            .transpose()?,
        source,
    })
}

/// Expands the session-policy placeholders (pure; values are config strings, not secrets).
/// Values are JSON-escaped so a template stays valid JSON.
pub fn expand_session_policy(template: &str, session_name: &str, role_arn: &str) -> String {
    let esc = |s: &str| {
        let quoted = serde_json::Value::String(s.to_owned()).to_string();
        quoted[1..quoted.len() - 1].to_owned()
    };
    template
        .replace("${session_name}", &esc(session_name))
        .replace("${role_arn}", &esc(role_arn))
}

fn endpoint(r: RawCredentialEndpoint) -> Result<CredentialEndpointConfig, String> {
    inline_secret(r.password.is_some(), "password")?;
    inline_secret(r.app_client_secret.is_some(), "app_client_secret")?;
    inline_secret(r.bearer_token.is_some(), "bearer_token")?;
    crate::units::http_url(&r.url).map_err(|e| format!("`url` {e}"))?;
    let bearer = secret_ref("bearer_token", r.bearer_token_env, r.bearer_token_file)?;
    let password = secret_ref("password", r.password_env, r.password_file)?;
    let client_secret = secret_ref(
        "app_client_secret",
        r.app_client_secret_env,
        r.app_client_secret_file,
    )?;
    let any_login = r.user_pool_id.is_some()
        || r.app_client_id.is_some()
        || r.username.is_some()
        || password.is_some()
        || client_secret.is_some()
        || r.auth_flow.is_some()
        || r.token.is_some();
    let auth = match (bearer, any_login) {
        (Some(_), true) => {
            return Err(
                "use either a Cognito login (`user_pool_id`, `app_client_id`, `username`, `password_env`/`password_file`) or `bearer_token_env`/`bearer_token_file`, not both"
                    .into(),
            );
        }
        (Some(b), false) => EndpointAuth::Bearer(b),
        (None, false) => {
            return Err(
                "missing credentials for the endpoint: set `bearer_token_env`/`bearer_token_file`, or a Cognito login (`user_pool_id`, `app_client_id`, `username`, `password_env`/`password_file`)"
                    .into(),
            );
        }
        (None, true) => {
            let need = |key: &str, v: Option<String>| {
                v.ok_or_else(|| format!("missing `{key}` (needed for the Cognito login)"))
                    .and_then(|v| non_empty(key, v))
            };
            EndpointAuth::Cognito {
                login: CognitoLogin {
                    user_pool_id: need("user_pool_id", r.user_pool_id)?,
                    app_client_id: need("app_client_id", r.app_client_id)?,
                    username: need("username", r.username)?,
                    password: password.ok_or_else(|| {
                        "missing `password_env` or `password_file` (needed for the Cognito login)"
                            .to_owned()
                    })?,
                    app_client_secret: client_secret,
                    auth_flow: r.auth_flow.unwrap_or_default(),
                },
                token: r.token.unwrap_or(CognitoToken::Id),
            }
        }
    };
    let field = |key: &str, v: Option<String>, default: &str| -> Result<String, String> {
        non_empty(key, v.unwrap_or_else(|| default.to_owned()))
    };
    let defaults = ResponseFields::default();
    let pool_key = |key: &str, v: Option<String>| -> Result<Option<String>, String> {
        match (v, &auth) {
            (None, _) => Ok(None),
            (Some(_), EndpointAuth::Bearer(_)) => Err(format!(
                "`{key}` needs a Cognito login (the role-path probes sign in to the user pool and present its id token to the identity pool)"
            )),
            (Some(v), EndpointAuth::Cognito { .. }) => non_empty(key, v).map(Some),
        }
    };
    let identity_pool_id = pool_key("identity_pool_id", r.identity_pool_id)?;
    let login_provider = pool_key("login_provider", r.login_provider)?;
    Ok(CredentialEndpointConfig {
        identity_pool_id,
        login_provider,
        url: r.url,
        method: r.method.unwrap_or(HttpMethod::Post),
        auth,
        auth_header: field("auth_header", r.auth_header, "Authorization")?,
        auth_scheme: r.auth_scheme.unwrap_or_else(|| "Bearer".into()),
        fields: ResponseFields {
            access_key_id: field(
                "access_key_id_field",
                r.access_key_id_field,
                &defaults.access_key_id,
            )?,
            secret_access_key: field(
                "secret_access_key_field",
                r.secret_access_key_field,
                &defaults.secret_access_key,
            )?,
            session_token: field(
                "session_token_field",
                r.session_token_field,
                &defaults.session_token,
            )?,
            expiration: field("expiration_field", r.expiration_field, &defaults.expiration)?,
            client_id: r
                .client_id_field
                .map(|f| non_empty("client_id_field", f))
                .transpose()?,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Cross-identity checks (pure).

/// Checks a whole `[[identity]]` list: unique names, `source` references that exist and do not
/// form a cycle. Returns the names in an order where every source precedes its users.
pub fn validate_identities(identities: &[IdentityConfig]) -> Result<Vec<String>, String> {
    use std::collections::BTreeMap;
    let mut by_name: BTreeMap<&str, &IdentityConfig> = BTreeMap::new();
    for id in identities {
        if id.name == DEFAULT_CHAIN_SOURCE {
            return Err(format!(
                "identity name `{DEFAULT_CHAIN_SOURCE}` is reserved (assume-role `source = \"default\"` means the default credential chain)"
            ));
        }
        if by_name.insert(&id.name, id).is_some() {
            return Err(format!("identity `{}` is defined twice", id.name));
        }
    }
    let source_of = |id: &IdentityConfig| -> Option<String> {
        match &id.kind {
            IdentityKind::AssumeRole(AssumeRoleConfig {
                source: BaseCredentials::Identity(s),
                ..
            }) => Some(s.clone()),
            _ => None,
        }
    };
    let mut order: Vec<String> = Vec::new();
    for id in identities {
        // Walk the source chain; each identity has at most one source, so a chain longer
        // than the list is a cycle.
        let mut chain: Vec<String> = vec![id.name.clone()];
        let mut cur = id;
        while let Some(src) = source_of(cur) {
            let Some(next) = by_name.get(src.as_str()) else {
                return Err(format!(
                    "identity `{}`: `source` names identity `{src}`, which is not defined",
                    cur.name
                ));
            };
            if chain.contains(&src) {
                chain.push(src);
                return Err(format!(
                    "identity `{}`: `source` chain is a cycle: {}",
                    id.name,
                    chain.join(" -> ")
                ));
            }
            chain.push(src);
            cur = next;
        }
        for name in chain.into_iter().rev() {
            if !order.contains(&name) {
                order.push(name);
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An identity of `fixtures/valid/identities.toml`, as the config loader builds it.
    fn identity(name: &str) -> IdentityConfig {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/config/fixtures/valid/identities.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let config = crate::config::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        let spec = config.identities.into_iter().find(|i| i.name == name);
        spec.unwrap_or_else(|| panic!("no identity `{name}`"))
            .config
    }

    fn assume_role(name: &str) -> AssumeRoleConfig {
        match identity(name).kind {
            IdentityKind::AssumeRole(a) => a,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn static_kind() {
        let id = identity("ops");
        assert_eq!(id.name, "ops");
        assert_eq!(
            id.kind,
            IdentityKind::Static(StaticConfig {
                access_key_id: SecretRef::Env("OPS_KEY".into()),
                secret_access_key: SecretRef::File("/run/secrets/ops".into()),
                session_token: None,
            })
        );
    }

    #[test]
    fn profile_kind() {
        assert_eq!(
            identity("p").kind,
            IdentityKind::Profile(ProfileConfig {
                profile: None,
                config_file: None,
                credentials_file: None
            })
        );
        let IdentityKind::Profile(p) = identity("p-canary").kind else {
            panic!()
        };
        assert_eq!(p.profile.as_deref(), Some("canary"));
    }

    #[test]
    fn assume_role_kind() {
        let a = assume_role("dev");
        assert_eq!(a.duration, Some(Duration::from_secs(900)));
        assert_eq!(a.source, BaseCredentials::Identity("ops".into()));
        assert!(matches!(a.session_policy, Some(SessionPolicy::Inline(_))));
        assert_eq!(
            assume_role("dev-default").source,
            BaseCredentials::DefaultChain
        );
        assert_eq!(
            assume_role("dev-default-named").source,
            BaseCredentials::DefaultChain
        );
    }

    #[test]
    fn cognito_kinds() {
        let IdentityKind::Cognito(c) = identity("alice").kind else {
            panic!()
        };
        assert_eq!(c.login.password, SecretRef::Env("ALICE_PASSWORD".into()));
        assert!(c.login.app_client_secret.is_some());
        // SRP unless asked otherwise (the default of AWS's app libraries).
        assert_eq!(c.login.auth_flow, CognitoAuthFlow::UserSrp);
        assert_eq!(c.login_provider, None);
        assert_eq!(identity("guest").kind.as_str(), "cognito-guest");
    }

    #[test]
    fn credential_endpoint_kind() {
        let IdentityKind::CredentialEndpoint(c) = identity("bob-vended").kind else {
            panic!()
        };
        assert_eq!(c.method, HttpMethod::Post);
        assert_eq!(c.auth_header, "Authorization");
        assert_eq!(c.auth_scheme, "Bearer");
        assert_eq!(c.fields.access_key_id, "AccessKeyId");
        assert_eq!(c.fields.expiration, "Credentials.Expiration");
        assert_eq!(c.fields.client_id.as_deref(), Some("ClientId"));
        assert!(matches!(
            c.auth,
            EndpointAuth::Cognito {
                token: CognitoToken::Id,
                login: CognitoLogin {
                    auth_flow: CognitoAuthFlow::UserPassword,
                    ..
                },
            }
        ));
        let IdentityKind::CredentialEndpoint(c) = identity("b").kind else {
            panic!()
        };
        assert_eq!(c.method, HttpMethod::Get);
        assert_eq!(
            c.auth,
            EndpointAuth::Bearer(SecretRef::Env("VEND_TOKEN".into()))
        );
    }

    #[test]
    fn assume_role_durations_use_the_one_grammar_within_sts_bounds() {
        assert_eq!(
            assume_role("dev-90m").duration,
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            assume_role("dev-900s").duration,
            Some(Duration::from_secs(900))
        );
    }

    #[test]
    fn session_policy_expansion_escapes() {
        let out = expand_session_policy(r#"{"a":"${session_name}"}"#, "x\"y", "arn");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["a"], "x\"y");
    }

    #[test]
    fn cross_identity_validation() {
        let ids = [identity("dev"), identity("ops")];
        assert_eq!(validate_identities(&ids).unwrap(), vec!["ops", "dev"]);

        let sourced_from = |name: &str, source: &str| {
            let mut id = identity("dev-default");
            id.name = name.into();
            if let IdentityKind::AssumeRole(a) = &mut id.kind {
                a.source = BaseCredentials::Identity(source.into());
            }
            id
        };
        let cyc = [sourced_from("a", "b"), sourced_from("b", "a")];
        let e = validate_identities(&cyc).unwrap_err();
        assert!(e.contains("cycle: a -> b -> a"), "{e}");

        let missing = &ids[..1];
        let e = validate_identities(missing).unwrap_err();
        assert!(e.contains("`ops`, which is not defined"), "{e}");

        let dup = [ids[1].clone(), ids[1].clone()];
        assert!(
            validate_identities(&dup)
                .unwrap_err()
                .contains("defined twice")
        );
    }
}
