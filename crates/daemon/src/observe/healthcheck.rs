//! `iot-canary healthcheck --url URL`: the container image has no shell or curl, so the binary
//! checks its own `/healthz`. Plain HTTP/1.0 over loopback; healthy means status 200.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HealthError {
    #[error("`{0}` is not an http://HOST:PORT/PATH URL")]
    BadUrl(String),
    #[error("cannot reach {0}: {1}")]
    Unreachable(String, String),
    #[error("{0} answered `{1}`")]
    Unhealthy(String, String),
}

impl HealthError {
    /// Usage errors (a bad URL) are distinct from an unhealthy answer.
    pub fn is_usage(&self) -> bool {
        matches!(self, HealthError::BadUrl(_))
    }
}

/// `(host:port, path)` of an `http://` URL (port defaults to 80).
pub fn parse_url(url: &str) -> Result<(String, String), HealthError> {
    let bad = || HealthError::BadUrl(url.to_string());
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("http") {
        return Err(bad());
    }
    let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(bad)?;
    let port = uri.port_u16().unwrap_or(80);
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    Ok((format!("{host}:{port}"), path))
}

/// The status code of an HTTP response head (`HTTP/1.1 200 OK` -> 200).
pub fn status_of(head: &str) -> Option<u16> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// GETs `url` with `timeout` per connect/read/write; Ok on status 200.
pub fn check(url: &str, timeout: Duration) -> Result<(), HealthError> {
    let (authority, path) = parse_url(url)?;
    let unreachable =
        |e: std::io::Error| HealthError::Unreachable(authority.clone(), e.to_string());
    let addr = authority
        .to_socket_addrs()
        .map_err(unreachable)?
        .next()
        .ok_or_else(|| HealthError::Unreachable(authority.clone(), "no address".into()))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(unreachable)?;
    s.set_read_timeout(Some(timeout)).map_err(unreachable)?;
    s.set_write_timeout(Some(timeout)).map_err(unreachable)?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(unreachable)?;
    let mut head = Vec::new();
    // The status line is all we need; a health body is tiny, cap the read anyway.
    s.take(4096).read_to_end(&mut head).map_err(unreachable)?;
    let head = String::from_utf8_lossy(&head);
    match status_of(&head) {
        Some(200) => Ok(()),
        _ => Err(HealthError::Unhealthy(
            url.to_string(),
            head.lines().next().unwrap_or("").to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_table() {
        assert_eq!(
            parse_url("http://127.0.0.1:9464/healthz").unwrap(),
            ("127.0.0.1:9464".into(), "/healthz".into())
        );
        assert_eq!(
            parse_url("http://localhost").unwrap(),
            ("localhost:80".into(), "/".into())
        );
        for bad in ["https://x/healthz", "127.0.0.1:9464", "", "http:///x"] {
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
                (
                    check(&url, Duration::from_secs(10)),
                    check(&url, Duration::from_secs(10)),
                )
            }
        });
        serve("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        serve("HTTP/1.1 500 Internal Server Error\r\n\r\n");
        let (a, b) = t.join().unwrap();
        assert_eq!(a, Ok(()));
        assert!(matches!(b, Err(HealthError::Unhealthy(..))), "{b:?}");
        drop(l);
        assert!(matches!(
            check(&url, Duration::from_secs(5)),
            Err(HealthError::Unreachable(..))
        ));
    }
}
