//! TLS and basic auth for the HTTP surface, from the web config file (`--web.config.file`, the
//! exporter-toolkit format; schema in `iot_canary_core::config::web`).
//!
//! As exporter-toolkit does, the file is re-read for every request (users, headers) and every
//! TLS connection (certificate, key, client CA, versions), so rotated certificates and changed
//! passwords apply without a restart; whether the listener speaks TLS at all is decided at
//! start. A file that turns invalid while running fails closed: requests get 500 and
//! handshakes fail, and the error is logged.
//!
//! Passwords: bcrypt (the `bcrypt` crate, which compares in constant time); an unknown user is
//! checked against a configured user's hash so the answer takes as long as for a known user
//! (no user enumeration by timing). Results are cached by a digest of (user, hash, password),
//! so a scraper's every-15-s request does not cost a bcrypt run; bcrypt runs one at a time on
//! the blocking pool.

use std::collections::HashMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use iot_canary_core::config::ConfigError;
use iot_canary_core::config::web::{self, ClientAuth, Pem, TlsSettings, TlsVersion, WebConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// Why the web config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{file}: `tls_server_config.{key}`: {message}")]
    Tls {
        file: PathBuf,
        key: &'static str,
        message: String,
    },
}

/// Bounded so a password-guessing client cannot grow memory (exporter-toolkit keeps 100).
const CACHE_SIZE: usize = 100;

/// The web config file behind the listener.
pub struct WebSource {
    path: PathBuf,
    tls: bool,
    http2: bool,
    cache: Mutex<HashMap<[u8; 32], bool>>,
    /// One bcrypt at a time: each is deliberately expensive.
    bcrypt: tokio::sync::Mutex<()>,
}

impl WebSource {
    /// Reads and checks the whole file once (YAML, the files it names, a TLS config that
    /// builds), so a mistake stops the daemon at start with file, line and key.
    pub fn open(path: &Path) -> Result<Self, WebError> {
        let cfg = web::load(path)?;
        if let Some(t) = &cfg.tls {
            server_config(&cfg.path, t, cfg.http2)?;
        }
        Ok(WebSource {
            path: path.to_path_buf(),
            tls: cfg.tls.is_some(),
            http2: cfg.http2,
            cache: Mutex::new(HashMap::new()),
            bcrypt: tokio::sync::Mutex::new(()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the listener speaks TLS (decided at start).
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The file as it is now.
    pub fn current(&self) -> Result<WebConfig, ConfigError> {
        web::load(&self.path)
    }

    /// The TLS config for a new connection, from the file as it is now. HTTP/2 is offered only
    /// if it was on at start (it cannot change on the fly, as in exporter-toolkit).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, WebError> {
        let cfg = self.current()?;
        let t = cfg.tls.as_ref().ok_or_else(|| WebError::Tls {
            file: self.path.clone(),
            key: "cert_file",
            message: "TLS was configured at start and is gone from the file".into(),
        })?;
        server_config(&self.path, t, self.http2 && cfg.http2).map(Arc::new)
    }

    /// Whether `user`/`password` are one of `users`.
    async fn verify(
        &self,
        users: &std::collections::BTreeMap<String, String>,
        user: &str,
        password: &str,
    ) -> bool {
        let known = users.get(user);
        // Unknown users cost one bcrypt run too: against a configured hash, so the time taken
        // says nothing about whether the user exists.
        let Some(hash) = known.or_else(|| users.values().next()) else {
            return false;
        };
        let mut h = Sha256::new();
        for part in [user, hash.as_str(), password] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        let key: [u8; 32] = h.finalize().into();
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied();
        let matches = match cached {
            Some(m) => m,
            None => {
                let _one = self.bcrypt.lock().await;
                let (password, hash) = (password.to_string(), hash.clone());
                let m = tokio::task::spawn_blocking(move || {
                    bcrypt::verify(password, &hash).unwrap_or(false)
                })
                .await
                .unwrap_or(false);
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= CACHE_SIZE {
                    cache.clear();
                }
                cache.insert(key, m);
                m
            }
        };
        matches && known.is_some()
    }
}

/// The user and password of a `Basic` Authorization header.
fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    let v = value.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            WWW_AUTHENTICATE,
            "Basic realm=\"iot-canary\", charset=\"UTF-8\"",
        )],
        "Unauthorized\n",
    )
        .into_response()
}

/// The middleware every route sits behind: basic auth and the configured headers. Without a
/// web config it passes everything through.
pub async fn guard(
    State(web): State<Option<Arc<WebSource>>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(web) = web else {
        return next.run(req).await;
    };
    let cfg = match web.current() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "web config unreadable; refusing requests until it is fixed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n").into_response();
        }
    };
    let mut resp = if cfg.users.is_empty() {
        next.run(req).await
    } else {
        let creds = req.headers().get(AUTHORIZATION).and_then(basic_credentials);
        match creds {
            Some((user, password)) if web.verify(&cfg.users, &user, &password).await => {
                next.run(req).await
            }
            _ => unauthorized(),
        }
    };
    for (name, value) in &cfg.headers {
        // Names and values were checked when the file was parsed.
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            resp.headers_mut().insert(n, v);
        }
    }
    resp
}

fn tls_err(file: &Path, key: &'static str, message: impl Into<String>) -> WebError {
    WebError::Tls {
        file: file.to_path_buf(),
        key,
        message: message.into(),
    }
}

/// PEM bytes from a file or inline text.
fn pem_bytes(file: &Path, pem: &Pem, key: &'static str) -> Result<Vec<u8>, WebError> {
    match pem {
        Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
        Pem::File(p) => std::fs::read(p)
            .map_err(|e| tls_err(file, key, format!("cannot read {}: {e}", p.display()))),
    }
}

fn certs(
    file: &Path,
    pem: &Pem,
    key: &'static str,
) -> Result<Vec<CertificateDer<'static>>, WebError> {
    let bytes = pem_bytes(file, pem, key)?;
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut BufReader::new(&bytes[..]))
            .collect::<Result<_, _>>()
            .map_err(|e| tls_err(file, key, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(tls_err(file, key, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// Go's name of a TLS 1.2 suite as rustls spells it (`TLS_ECDHE_...`).
fn suite_name(s: &rustls::SupportedCipherSuite) -> String {
    format!("{:?}", s.suite())
}

/// The rustls server config for the settings: versions, suites and curves restricted and
/// ordered as written, the client-certificate policy, ALPN.
fn server_config(
    file: &Path,
    t: &TlsSettings,
    http2: bool,
) -> Result<rustls::ServerConfig, WebError> {
    use rustls::crypto::aws_lc_rs::{self as provider, kx_group};
    let mut p = provider::default_provider();
    if !t.cipher_suites.is_empty() {
        let all = provider::ALL_CIPHER_SUITES;
        let mut suites: Vec<rustls::SupportedCipherSuite> = all
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .copied()
            .collect();
        for name in &t.cipher_suites {
            let s = all.iter().find(|s| suite_name(s) == *name).ok_or_else(|| {
                tls_err(file, "cipher_suites", format!("`{name}` is not available"))
            })?;
            suites.push(*s);
        }
        p.cipher_suites = suites;
    }
    if !t.curves.is_empty() {
        p.kx_groups = t
            .curves
            .iter()
            .map(|c| match c.as_str() {
                "X25519" => Ok(kx_group::X25519),
                "CurveP256" => Ok(kx_group::SECP256R1),
                "CurveP384" => Ok(kx_group::SECP384R1),
                other => Err(tls_err(
                    file,
                    "curve_preferences",
                    format!("`{other}` is not available"),
                )),
            })
            .collect::<Result<_, _>>()?;
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (t.min_version..=t.max_version).contains(v))
    .map(|(_, v)| v)
    .collect();
    let p = Arc::new(p);
    let builder = rustls::ServerConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| tls_err(file, "min_version", e.to_string()))?;
    let builder = match (t.client_auth, &t.client_ca) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (auth, Some(ca)) => {
            let key = match ca {
                Pem::File(_) => "client_ca_file",
                Pem::Inline(_) => "client_ca",
            };
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(file, ca, key)? {
                roots
                    .add(c)
                    .map_err(|e| tls_err(file, key, format!("not a CA certificate: {e}")))?;
            }
            let mut v =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), p);
            if auth == ClientAuth::VerifyIfGiven {
                v = v.allow_unauthenticated();
            }
            let v = v
                .build()
                .map_err(|e| tls_err(file, "client_auth_type", e.to_string()))?;
            builder.with_client_cert_verifier(v)
        }
        // The schema refuses a verifying policy without a CA.
        (_, None) => {
            return Err(tls_err(
                file,
                "client_ca_file",
                "verifying client certificates needs a CA",
            ));
        }
    };
    let cert_key = match t.cert {
        Pem::File(_) => "cert_file",
        Pem::Inline(_) => "cert",
    };
    let key_key = match t.key {
        Pem::File(_) => "key_file",
        Pem::Inline(_) => "key",
    };
    let chain = certs(file, &t.cert, cert_key)?;
    let key_pem = pem_bytes(file, &t.key, key_key)?;
    // The key is a secret: errors say what is wrong with it, never its bytes.
    let key: PrivateKeyDer<'static> =
        rustls_pemfile::private_key(&mut BufReader::new(&key_pem[..]))
            .map_err(|e| tls_err(file, key_key, format!("not a PEM private key: {e}")))?
            .ok_or_else(|| tls_err(file, key_key, "holds no PEM private key"))?;
    let mut cfg = builder
        .with_single_cert(chain, key)
        .map_err(|e| tls_err(file, key_key, format!("does not fit the certificate: {e}")))?;
    cfg.ignore_client_order = t.prefer_server_cipher_suites;
    cfg.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(cfg)
}
