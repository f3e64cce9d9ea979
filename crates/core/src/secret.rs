//! Secrets by reference: an environment variable name or a file path, resolved at fetch time
//! (so rotated files and env overlays are picked up) into a [`Secret`] that never prints.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::credentials::IdentityError;

/// A secret value. `Debug`/`Display` print `<redacted>`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text. Call sites pass it straight to a signer or a request body, never to a
    /// formatter.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret lives (config keys `<name>_env` / `<name>_file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// The name of an environment variable (looked up through [`Env`]).
    Env(String),
    /// A file whose content (trailing newline trimmed) is the secret.
    File(PathBuf),
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "environment variable `{name}`"),
            SecretRef::File(path) => write!(f, "file `{}`", path.display()),
        }
    }
}

/// Environment lookup: explicit overrides first, then the process environment.
///
/// Overrides let `demo` and tests hand passwords to identities without mutating the process
/// environment (which is `unsafe` in edition 2024 and racy across test threads).
#[derive(Debug, Clone, Default)]
pub struct Env {
    overrides: Arc<BTreeMap<String, Secret>>,
    process: bool,
}

impl Env {
    /// The process environment only.
    pub fn process() -> Self {
        Env {
            overrides: Arc::default(),
            process: true,
        }
    }

    /// Only the given variables; the process environment is not consulted.
    pub fn isolated(
        vars: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    ) -> Self {
        Self::layered(vars, false)
    }

    /// The process environment with these variables layered on top.
    pub fn with_overrides(
        vars: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    ) -> Self {
        Self::layered(vars, true)
    }

    fn layered(
        vars: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
        process: bool,
    ) -> Self {
        Env {
            overrides: Arc::new(
                vars.into_iter()
                    .map(|(k, v)| (k.into(), Secret::new(v)))
                    .collect(),
            ),
            process,
        }
    }

    pub fn get(&self, name: &str) -> Option<Secret> {
        if let Some(v) = self.overrides.get(name) {
            return Some(v.clone());
        }
        if self.process {
            return std::env::var(name).ok().map(Secret::new);
        }
        None
    }
}

/// Whether `name` can be an environment variable name as the config means it: ASCII letters,
/// digits and `_`, not starting with a digit (POSIX portable names). Anything else in a
/// `*_env` key is most likely the secret itself pasted in the wrong place, so callers refuse it
/// without repeating it.
pub fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The error for a `*_env` value that is no variable name (never echoes it).
pub fn not_an_env_var_name(key: &str) -> String {
    format!(
        "`{key}` must name an environment variable (letters, digits and `_`, not starting with a digit); the value is not shown in case it is the secret itself"
    )
}

/// True when a Unix mode lets group or others read or write the file (pure).
pub fn mode_is_loose(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// Reads a secret. A file readable by group/others is used but warned about (once per read;
/// reads happen once per credential refresh). Errors are `config` and name the reference,
/// never the value.
pub fn resolve(secret: &SecretRef, env: &Env) -> Result<Secret, IdentityError> {
    match secret {
        SecretRef::Env(name) => match env.get(name) {
            Some(v) if !v.expose().is_empty() => Ok(v),
            Some(_) => Err(IdentityError::config(format!(
                "environment variable `{name}` is empty"
            ))),
            None => Err(IdentityError::config(format!(
                "environment variable `{name}` is not set"
            ))),
        },
        SecretRef::File(path) => {
            warn_if_loose(path);
            let text = std::fs::read_to_string(path).map_err(|e| {
                IdentityError::config(format!("cannot read secret file `{}`: {e}", path.display()))
            })?;
            let value = text.trim_end_matches(['\n', '\r']);
            if value.is_empty() {
                return Err(IdentityError::config(format!(
                    "secret file `{}` is empty",
                    path.display()
                )));
            }
            Ok(Secret::new(value))
        }
    }
}

/// Returns a warning text when a secret file is group/other accessible (None otherwise or when
/// the file cannot be inspected; reading it will report that).
pub fn loose_permissions_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode_is_loose(mode) {
            return Some(format!(
                "secret file `{}` is accessible by group/others (mode {:o}); run `chmod 600` on it",
                path.display(),
                mode & 0o777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    None
}

/// Warnings about an identity's secret files (group/other accessible), each naming the
/// identity and key; for `check`, which reports them without fetching.
pub fn secret_file_warnings(identity: &crate::config::identity::IdentityConfig) -> Vec<String> {
    identity
        .secret_refs()
        .into_iter()
        .filter_map(|(key, r)| match r {
            SecretRef::File(p) => loose_permissions_warning(p)
                .map(|w| format!("identity `{}`, `{key}_file`: {w}", identity.name)),
            SecretRef::Env(_) => None,
        })
        .collect()
}

fn warn_if_loose(path: &Path) {
    if let Some(w) = loose_permissions_warning(path) {
        tracing::warn!("{w}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifier_secrets_never_format_their_value() {
        let s = Secret::new("https://hooks.slack.com/services/T0/B0/abc");
        assert!(!format!("{s:?} {s}").contains("hooks.slack.com"));
        assert_eq!(s.expose(), "https://hooks.slack.com/services/T0/B0/abc");
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn env_var_names() {
        for ok in ["A", "_X", "IOT_CANARY_DEMO_ALICE_PASSWORD", "a1"] {
            assert!(is_env_var_name(ok), "{ok}");
        }
        for bad in ["", "1A", "hunter2 S3cr3t!pass", "A-B", "A=B", "ÄB", "A B"] {
            assert!(!is_env_var_name(bad), "{bad}");
        }
        assert!(!not_an_env_var_name("password_env").contains("hunter2"));
    }

    #[test]
    fn loose_modes() {
        assert!(!mode_is_loose(0o100600));
        assert!(!mode_is_loose(0o400));
        assert!(mode_is_loose(0o640));
        assert!(mode_is_loose(0o604));
        assert!(mode_is_loose(0o666));
    }

    #[test]
    fn env_overrides_and_isolation() {
        let env = Env::isolated([("A", "1"), ("EMPTY", "")]);
        assert_eq!(
            env.get("A").map(|s| s.expose().to_owned()),
            Some("1".into())
        );
        assert!(
            env.get("PATH").is_none(),
            "isolated env must not read the process env"
        );
        let err = resolve(&SecretRef::Env("EMPTY".into()), &env).unwrap_err();
        assert!(err.message.contains("`EMPTY` is empty"), "{err}");
        let err = resolve(&SecretRef::Env("MISSING".into()), &env).unwrap_err();
        assert!(err.message.contains("`MISSING` is not set"), "{err}");
        assert!(Env::with_overrides([("X", "y")]).get("PATH").is_some());
    }

    #[test]
    fn file_secret_trims_newline_and_warns_on_loose_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let w = loose_permissions_warning(&path).unwrap();
            assert!(w.contains("chmod 600") && !w.contains("s3cret"), "{w}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert!(loose_permissions_warning(&path).is_none());
        }
        let v = resolve(&SecretRef::File(path.clone()), &Env::default()).unwrap();
        assert_eq!(v.expose(), "s3cret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let id: crate::config::identity::IdentityConfig = toml::from_str(&format!(
                "name = \"alice\"\nkind = \"cognito\"\nuser_pool_id = \"p\"\napp_client_id = \"c\"\nidentity_pool_id = \"i\"\nusername = \"alice\"\npassword_file = {:?}\n",
                path.display().to_string()
            ))
            .unwrap();
            assert!(secret_file_warnings(&id).is_empty());
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            let w = secret_file_warnings(&id);
            assert_eq!(w.len(), 1, "{w:?}");
            assert!(w[0].contains("identity `alice`, `password_file`"), "{w:?}");
        }
        let missing = dir.path().join("nope");
        let err = resolve(&SecretRef::File(missing), &Env::default()).unwrap_err();
        assert!(err.message.contains("cannot read secret file"), "{err}");
    }
}
