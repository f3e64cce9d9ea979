//! The web config file (`run --web.config.file`): TLS and basic auth for every HTTP endpoint, in
//! the YAML format Prometheus exporters share (prometheus/exporter-toolkit,
//! docs/web-configuration.md), so one file and one habit serve node_exporter and iot-canary.
//!
//! Every key of that format is either honoured or refused by name with the reason, never
//! ignored: a security setting that silently does nothing is worse than an error. Refused:
//! `client_auth_type` values that accept unverified client certificates, TLS 1.0/1.1, cipher
//! suites and curves rustls does not implement, `client_allowed_sans` and `rate_limit`.
//!
//! Pure: text in, validated settings out; relative file names resolve from the file's
//! directory (as exporter-toolkit does). Reading the files it names, building the TLS config
//! and checking passwords belong to the daemon.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, Issue};

/// The validated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfig {
    pub path: PathBuf,
    /// `tls_server_config`; `None`: plain HTTP.
    pub tls: Option<TlsSettings>,
    /// `http_server_config.http2` (only with TLS, as in exporter-toolkit).
    pub http2: bool,
    /// `http_server_config.headers`, set on every response.
    pub headers: Vec<(String, String)>,
    /// `basic_auth_users`: user name → bcrypt hash. Empty: no authentication.
    pub users: BTreeMap<String, String>,
}

/// PEM text from a file or written inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Inline(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `NoClientCert`
    None,
    /// `VerifyClientCertIfGiven`: a certificate is optional, but one given must verify.
    VerifyIfGiven,
    /// `RequireAndVerifyClientCert`
    RequireAndVerify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// TLS 1.2 cipher suites rustls implements, by their Go names (TLS 1.3 suites are not
/// configurable, as in Go).
pub const CIPHER_SUITES: [&str; 6] = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// Curves by their Go names that rustls's provider implements.
pub const CURVES: [&str; 3] = ["X25519", "CurveP256", "CurveP384"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert: Pem,
    pub key: Pem,
    pub client_auth: ClientAuth,
    pub client_ca: Option<Pem>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// Names from [`CIPHER_SUITES`] in preference order; empty: the provider's defaults.
    pub cipher_suites: Vec<String>,
    /// The server's order of `cipher_suites` wins over the client's.
    pub prefer_server_cipher_suites: bool,
    /// Names from [`CURVES`] in preference order; empty: the provider's defaults.
    pub curves: Vec<String>,
}

// ---- as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<serde_norway::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// Headers the format allows, with the values allowed (empty: any), as exporter-toolkit.
const HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// Reads and validates a web config file.
pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &src)
}

/// Validates web config text; `path` names the file in errors and anchors relative files.
pub fn parse(path: &Path, src: &str) -> Result<WebConfig, ConfigError> {
    let invalid = |issues| ConfigError::Invalid {
        path: path.to_path_buf(),
        issues,
    };
    // An empty file is a valid config with nothing in it (exporter-toolkit's web_config_empty).
    let raw: Raw = if src.trim().is_empty() {
        Raw {
            tls_server_config: None,
            http_server_config: None,
            basic_auth_users: None,
            rate_limit: None,
        }
    } else {
        serde_norway::from_str(src).map_err(|e| invalid(vec![yaml_issue(src, &e)]))?
    };
    let mut v = Validator {
        src,
        base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        issues: Vec::new(),
    };
    let cfg = v.build(path, raw);
    if v.issues.is_empty() {
        Ok(cfg)
    } else {
        v.issues.sort_by_key(|i| (i.line, i.col));
        Err(invalid(v.issues))
    }
}

struct Validator<'a> {
    src: &'a str,
    base: PathBuf,
    issues: Vec<Issue>,
}

impl Validator<'_> {
    /// Reports `message` at the line where `key` (the last part of `dotted`) is written.
    /// A key not written (a missing one) is reported where its parent is.
    fn at(&mut self, dotted: &str, message: impl Into<String>) {
        let (line, col) = dotted
            .rsplit('.')
            .find_map(|k| key_position(self.src, k))
            .unwrap_or((1, 1));
        self.issues.push(Issue {
            line,
            col,
            key: dotted.to_string(),
            message: message.into(),
        });
    }

    fn file(&self, p: &str) -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }

    fn pem(&mut self, inline: Option<String>, file: Option<String>, name: &str) -> Option<Pem> {
        match (inline, file) {
            (Some(_), Some(_)) => {
                let f = format!("tls_server_config.{name}_file");
                self.at(&f, format!("set `{name}` or `{name}_file`, not both"));
                None
            }
            (Some(text), None) => Some(Pem::Inline(text)),
            (None, Some(f)) if f.trim().is_empty() => {
                self.at(
                    &format!("tls_server_config.{name}_file"),
                    "must not be empty",
                );
                None
            }
            (None, Some(f)) => Some(Pem::File(self.file(&f))),
            (None, None) => None,
        }
    }

    fn version(&mut self, key: &str, v: Option<String>, default: TlsVersion) -> TlsVersion {
        match v.as_deref() {
            None => default,
            Some("TLS12") => TlsVersion::Tls12,
            Some("TLS13") => TlsVersion::Tls13,
            Some(old @ ("TLS10" | "TLS11")) => {
                self.at(
                    &format!("tls_server_config.{key}"),
                    format!("`{old}` is refused: rustls implements TLS 1.2 and 1.3 only"),
                );
                default
            }
            Some(other) => {
                self.at(
                    &format!("tls_server_config.{key}"),
                    format!("unknown TLS version `{other}`, expected TLS12 or TLS13"),
                );
                default
            }
        }
    }

    fn tls(&mut self, t: RawTls) -> Option<TlsSettings> {
        if t.client_allowed_sans.is_some() {
            self.at(
                "tls_server_config.client_allowed_sans",
                "is not supported by iot-canary; issue client certificates from a CA that \
                 signs only the allowed clients (client_ca_file)",
            );
        }
        let cert = self.pem(t.cert, t.cert_file, "cert");
        let key = self.pem(t.key, t.key_file, "key");
        let client_ca = self.pem(t.client_ca, t.client_ca_file, "client_ca");
        let client_auth = match t.client_auth_type.as_deref() {
            None | Some("NoClientCert") => ClientAuth::None,
            Some("VerifyClientCertIfGiven") => ClientAuth::VerifyIfGiven,
            Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerify,
            Some(v @ ("RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert")) => {
                self.at(
                    "tls_server_config.client_auth_type",
                    format!(
                        "`{v}` is refused: it accepts client certificates nobody verified; use \
                         RequireAndVerifyClientCert (or VerifyClientCertIfGiven)"
                    ),
                );
                ClientAuth::None
            }
            Some(other) => {
                self.at(
                    "tls_server_config.client_auth_type",
                    format!(
                        "unknown value `{other}`, expected NoClientCert, VerifyClientCertIfGiven \
                         or RequireAndVerifyClientCert"
                    ),
                );
                ClientAuth::None
            }
        };
        match (client_auth, &client_ca) {
            (ClientAuth::None, Some(ca)) => self.at(
                match ca {
                    Pem::File(_) => "tls_server_config.client_ca_file",
                    Pem::Inline(_) => "tls_server_config.client_ca",
                },
                "a client CA is configured without a client auth policy: set client_auth_type \
                 to RequireAndVerifyClientCert or VerifyClientCertIfGiven",
            ),
            (ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify, None) => self.at(
                "tls_server_config.client_auth_type",
                "verifying client certificates needs `client_ca_file` (or `client_ca`)",
            ),
            _ => {}
        }
        let min_version = self.version("min_version", t.min_version, TlsVersion::Tls12);
        let max_version = self.version("max_version", t.max_version, TlsVersion::Tls13);
        if min_version > max_version {
            self.at(
                "tls_server_config.min_version",
                "is above max_version: no TLS version is left",
            );
        }
        let cipher_suites = t.cipher_suites.unwrap_or_default();
        for s in &cipher_suites {
            if !CIPHER_SUITES.contains(&s.as_str()) {
                self.at(
                    "tls_server_config.cipher_suites",
                    format!(
                        "`{s}` is not a TLS 1.2 suite rustls implements (no CBC, no RSA key \
                         exchange; TLS 1.3 suites are not configurable); expected one of {}",
                        CIPHER_SUITES.join(", ")
                    ),
                );
            }
        }
        if !cipher_suites.is_empty() && min_version == TlsVersion::Tls13 {
            self.at(
                "tls_server_config.cipher_suites",
                "only apply to TLS 1.2, which min_version excludes",
            );
        }
        let curves = t.curve_preferences.unwrap_or_default();
        for c in &curves {
            if !CURVES.contains(&c.as_str()) {
                self.at(
                    "tls_server_config.curve_preferences",
                    format!(
                        "`{c}` is not a curve rustls implements here; expected one of {}",
                        CURVES.join(", ")
                    ),
                );
            }
        }
        let (cert, key) = match (cert, key) {
            (Some(c), Some(k)) => (c, k),
            (c, k) => {
                if c.is_none() {
                    self.at("tls_server_config", "missing one of `cert` or `cert_file`");
                }
                if k.is_none() {
                    self.at("tls_server_config", "missing one of `key` or `key_file`");
                }
                return None;
            }
        };
        Some(TlsSettings {
            cert,
            key,
            client_auth,
            client_ca,
            min_version,
            max_version,
            cipher_suites,
            // exporter-toolkit's default
            prefer_server_cipher_suites: t.prefer_server_cipher_suites.unwrap_or(true),
            curves,
        })
    }

    fn build(&mut self, path: &Path, raw: Raw) -> WebConfig {
        if raw.rate_limit.is_some() {
            self.at(
                "rate_limit",
                "is not supported by iot-canary; rate-limit in a reverse proxy",
            );
        }
        let tls = raw.tls_server_config.and_then(|t| self.tls(t));
        let http = raw.http_server_config;
        let http2 = http.as_ref().and_then(|h| h.http2).unwrap_or(true);
        let mut headers = Vec::new();
        for (name, value) in http.and_then(|h| h.headers).unwrap_or_default() {
            let key = format!("http_server_config.headers.{name}");
            match HEADERS.iter().find(|(h, _)| *h == name) {
                None => self.at(
                    &key,
                    format!(
                        "header `{name}` cannot be configured; allowed: {}",
                        HEADERS.map(|h| h.0).join(", ")
                    ),
                ),
                Some((_, allowed)) if !allowed.is_empty() && !allowed.contains(&value.as_str()) => {
                    self.at(
                        &key,
                        format!("`{value}` is not one of {}", allowed.join(", ")),
                    )
                }
                // A value that would break the header line is refused, not sent.
                Some(_) if value.chars().any(|c| c.is_control()) => {
                    self.at(&key, "contains a control character")
                }
                Some(_) => headers.push((name, value)),
            }
        }
        let users = raw.basic_auth_users.unwrap_or_default();
        for (user, hash) in &users {
            let key = format!("basic_auth_users.{user}");
            if user.is_empty() || user.contains(':') {
                self.at(&key, "user names must be non-empty and have no `:`");
            }
            // The hash is a secret: the message never shows it.
            if let Err(why) = check_bcrypt(hash) {
                self.at(
                    &key,
                    format!("is not a bcrypt hash ({why}; value not shown)"),
                );
            }
        }
        WebConfig {
            path: path.to_path_buf(),
            tls,
            http2,
            headers,
            users,
        }
    }
}

/// The shape of a bcrypt hash (`$2y$10$` + 22 salt + 31 hash characters of bcrypt's base64),
/// so a plain-text password pasted in is refused at load instead of failing every request.
pub fn check_bcrypt(h: &str) -> Result<(), &'static str> {
    let rest = ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .find_map(|p| h.strip_prefix(p))
        .ok_or("expected a `$2a$`, `$2b$` or `$2y$` prefix")?;
    let (cost, body) = rest.split_once('$').ok_or("no cost")?;
    match cost.parse::<u32>() {
        Ok(4..=31) if cost.len() == 2 => {}
        _ => return Err("cost must be two digits, 04 to 31"),
    }
    let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '/';
    if body.len() != 53 || !body.chars().all(alphabet) {
        return Err("expected 53 characters of salt and hash");
    }
    Ok(())
}

/// 1-based line and column of the first `key:` written as a mapping key.
fn key_position(src: &str, key: &str) -> Option<(usize, usize)> {
    for (i, line) in src.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        let unquoted = body.trim_start_matches(['"', '\'']);
        if let Some(after) = unquoted.strip_prefix(key)
            && after.trim_start_matches(['"', '\'']).starts_with(':')
        {
            return Some((i + 1, indent + 1));
        }
    }
    None
}

/// A YAML or schema error with its location. serde_norway prefixes the path of the value
/// (`tls_server_config: unknown field ...`, `http_server_config.http2: invalid type ...`),
/// which becomes the dotted key; an unknown field's own name is appended.
fn yaml_issue(src: &str, e: &serde_norway::Error) -> Issue {
    let (line, col) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let full = e.to_string();
    // serde_norway appends " at line L column C"; the location is reported separately.
    let full = full.split(" at line ").next().unwrap_or(&full);
    let (path, message) = match full.split_once(": ") {
        Some((p, m)) if !p.contains(' ') && !p.is_empty() => (Some(p), m),
        _ => (None, full),
    };
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split('`').next());
    let key = match (path, unknown) {
        (Some(p), Some(f)) => format!("{p}.{f}"),
        (None, Some(f)) => f.to_string(),
        (Some(p), None) => p.to_string(),
        (None, None) => src
            .lines()
            .nth(line.saturating_sub(1))
            .and_then(|l| l.trim().split(':').next())
            .unwrap_or("")
            .trim_start_matches("- ")
            .to_string(),
    };
    Issue {
        line,
        col,
        key,
        message: redact_values(message),
    }
}

/// serde's "invalid type: string \"…\"" quotes the value, which may be a password hash or a
/// key: keep the message, drop the value.
fn redact_values(m: &str) -> String {
    match (m.find(" \""), m.rfind('"')) {
        (Some(a), Some(b)) if b > a + 1 => format!("{} (value not shown){}", &m[..a], &m[b + 1..]),
        _ => m.to_string(),
    }
}

#[cfg(test)]
mod tests;
