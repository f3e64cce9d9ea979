//! `iot-canary healthcheck --url URL`: the container image has no shell or curl, so the binary
//! checks its own `/healthz`. HTTP/1.0, over TLS for `https://` URLs (verified against
//! `--ca-file` or the system roots), with basic auth when a user is given; healthy means
//! status 200.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HealthError {
    #[error("`{0}` is not an http:// or https://HOST:PORT/PATH URL")]
    BadUrl(String),
    /// A flag's file cannot be used (exit 3, like any usage error).
    #[error("{0}")]
    BadOption(String),
    #[error("cannot reach {0}: {1}")]
    Unreachable(String, String),
    #[error("{0} answered `{1}`")]
    Unhealthy(String, String),
}

impl HealthError {
    /// Usage errors (a bad URL or flag) are distinct from an unhealthy answer.
    pub fn is_usage(&self) -> bool {
        matches!(self, HealthError::BadUrl(_) | HealthError::BadOption(_))
    }
}

/// How to reach a listener behind the web config file.
#[derive(Debug, Clone)]
pub struct Options {
    /// Per connect, read and write.
    pub timeout: Duration,
    /// PEM CA certificates to verify an https:// listener with (default: the system roots).
    pub ca_file: Option<PathBuf>,
    /// The name the certificate must carry (default: the URL's host).
    pub tls_server_name: Option<String>,
    /// Basic-auth user; the password comes from `password_file` (never a flag: flags show in
    /// `ps`).
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
}

impl Options {
    pub fn with_timeout(timeout: Duration) -> Self {
        Options {
            timeout,
            ca_file: None,
            tls_server_name: None,
            user: None,
            password_file: None,
        }
    }
}

/// A parsed health URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    /// `host:port`
    pub authority: String,
    pub path: String,
}

/// The parts of an `http://` or `https://` URL (ports default to 80 and 443).
pub fn parse_url(url: &str) -> Result<Target, HealthError> {
    let bad = || HealthError::BadUrl(url.to_string());
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(bad()),
    };
    let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(bad)?;
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    Ok(Target {
        tls,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        authority: format!("{host}:{port}"),
        path,
    })
}

/// The status code of an HTTP response head (`HTTP/1.1 200 OK` -> 200).
pub fn status_of(head: &str) -> Option<u16> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// The `Authorization` header value for the options' user, if any.
fn authorization(o: &Options) -> Result<Option<String>, HealthError> {
    let Some(user) = &o.user else {
        if o.password_file.is_some() {
            return Err(HealthError::BadOption(
                "--password-file needs --user".into(),
            ));
        }
        return Ok(None);
    };
    let password = match &o.password_file {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                HealthError::BadOption(format!("cannot read --password-file {}: {e}", p.display()))
            })?;
            // One trailing newline is the file's, not the password's.
            let t = text.strip_suffix('\n').unwrap_or(&text);
            t.strip_suffix('\r').unwrap_or(t).to_string()
        }
        None => String::new(),
    };
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    Ok(Some(format!("Basic {token}")))
}

fn tls_client(o: &Options, host: &str) -> Result<rustls::ClientConnection, HealthError> {
    let mut roots = rustls::RootCertStore::empty();
    match &o.ca_file {
        Some(p) => {
            let pem = std::fs::read(p).map_err(|e| {
                HealthError::BadOption(format!("cannot read --ca-file {}: {e}", p.display()))
            })?;
            for c in rustls_pemfile::certs(&mut &pem[..]) {
                let c = c.map_err(|e| {
                    HealthError::BadOption(format!("--ca-file {}: {e}", p.display()))
                })?;
                roots.add(c).map_err(|e| {
                    HealthError::BadOption(format!("--ca-file {}: {e}", p.display()))
                })?;
            }
            if roots.is_empty() {
                return Err(HealthError::BadOption(format!(
                    "--ca-file {} holds no PEM certificate",
                    p.display()
                )));
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                // A broken system root is skipped, as every TLS client does.
                let _ = roots.add(c);
            }
        }
    }
    let config =
        crate::tls::client_config(roots).map_err(|e| HealthError::BadOption(e.to_string()))?;
    let name = o.tls_server_name.as_deref().unwrap_or(host).to_string();
    let server_name = rustls::pki_types::ServerName::try_from(name.clone())
        .map_err(|_| HealthError::BadOption(format!("`{name}` is not a TLS server name")))?;
    rustls::ClientConnection::new(Arc::new(config), server_name)
        .map_err(|e| HealthError::BadOption(e.to_string()))
}

/// GETs `url`; Ok on status 200.
pub fn check(url: &str, o: &Options) -> Result<(), HealthError> {
    let t = parse_url(url)?;
    let auth = authorization(o)?;
    let tls = if t.tls {
        Some(tls_client(o, &t.host)?)
    } else {
        None
    };
    let unreachable =
        |e: std::io::Error| HealthError::Unreachable(t.authority.clone(), e.to_string());
    let addr = t
        .authority
        .to_socket_addrs()
        .map_err(unreachable)?
        .next()
        .ok_or_else(|| HealthError::Unreachable(t.authority.clone(), "no address".into()))?;
    let s = TcpStream::connect_timeout(&addr, o.timeout).map_err(unreachable)?;
    s.set_read_timeout(Some(o.timeout)).map_err(unreachable)?;
    s.set_write_timeout(Some(o.timeout)).map_err(unreachable)?;
    let mut stream: Box<dyn ReadWrite> = match tls {
        Some(conn) => Box::new(rustls::StreamOwned::new(conn, s)),
        None => Box::new(s),
    };
    let auth_line = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {} HTTP/1.0\r\nHost: {}\r\n{auth_line}Connection: close\r\n\r\n",
        t.path, t.authority
    )
    .map_err(unreachable)?;
    let mut head = Vec::new();
    // The status line is all we need; a health body is tiny, cap the read anyway. A TLS peer
    // that closes without close_notify after answering still answered.
    let read = stream.take(4096).read_to_end(&mut head);
    if let Err(e) = read
        && head.is_empty()
    {
        return Err(unreachable(e));
    }
    let head = String::from_utf8_lossy(&head);
    match status_of(&head) {
        Some(200) => Ok(()),
        _ => Err(HealthError::Unhealthy(
            url.to_string(),
            head.lines().next().unwrap_or("").to_string(),
        )),
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_table() {
        let t = parse_url("http://127.0.0.1:9464/healthz").unwrap();
        assert_eq!(
            (t.tls, t.authority.as_str(), t.path.as_str()),
            (false, "127.0.0.1:9464", "/healthz")
        );
        let t = parse_url("http://localhost").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("localhost:80", "/")
        );
        let t = parse_url("https://canary.example/healthz").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.authority.as_str()),
            (true, "canary.example", "canary.example:443")
        );
        for bad in ["ftp://x/healthz", "127.0.0.1:9464", "", "http:///x"] {
            assert!(parse_url(bad).unwrap_err().is_usage(), "{bad}");
        }
    }

    #[test]
    fn status_table() {
        assert_eq!(status_of("HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_of("HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(status_of("garbage"), None);
        assert_eq!(status_of(""), None);
    }

    #[test]
    fn against_a_listener() {
        use std::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let serve = |status: &'static str| {
            let (mut c, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 512];
            while !req.ends_with(b"\r\n\r\n") {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "request cut short");
                req.extend_from_slice(&buf[..n]);
            }
            c.write_all(status.as_bytes()).unwrap();
        };
        let url = format!("http://{addr}/healthz");
        let t = std::thread::spawn({
            let url = url.clone();
            move || {
                let o = Options::with_timeout(Duration::from_secs(10));
                (check(&url, &o), check(&url, &o))
            }
        });
        serve("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        serve("HTTP/1.1 500 Internal Server Error\r\n\r\n");
        let (a, b) = t.join().unwrap();
        assert_eq!(a, Ok(()));
        assert!(matches!(b, Err(HealthError::Unhealthy(..))), "{b:?}");
        drop(l);
        assert!(matches!(
            check(&url, &Options::with_timeout(Duration::from_secs(5))),
            Err(HealthError::Unreachable(..))
        ));
    }
}
