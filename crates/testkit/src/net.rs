//! Loopback networking for tests: free ports, addresses from URLs and a tiny HTTP/1.0 client
//! (the servers under test are ours, a full client would only hide what they send; HTTP/1.0
//! so that no server, Prometheus's included, answers with a chunked body).

use std::io::{Read, Write};
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::WAIT;

/// A port that was free a moment ago (for a server that must come back on the same address).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// `IP:PORT` of an `http://IP:PORT[/path]` (or `ws://`, `wss://`) URL.
pub fn addr_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or(rest);
    hostport
        .parse()
        .unwrap_or_else(|e| panic!("{url}: not http://IP:PORT ({e})"))
}

/// A parsed answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The status line and headers.
    pub head: String,
    pub body: String,
}

impl Response {
    /// The whole response as received (head, blank line, body).
    pub fn raw(&self) -> String {
        format!("{}\r\n\r\n{}", self.head, self.body)
    }
}

fn request_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn parse(raw: &str) -> Response {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Response {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

const JSON: [(&str, &str); 1] = [("Content-Type", "application/json")];

/// One request with a JSON body (bounded by [`WAIT`]); the connection closes after the answer.
pub async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Response {
    request_raw(addr, method, path, &JSON, body.as_bytes()).await
}

/// One request with exactly these extra headers and body bytes (malformed requests too).
pub async fn request_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_request_raw(addr, method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {addr}{path}: {e}"))
}

/// Like [`request_raw`], with connection errors returned (a server that is still starting).
pub async fn try_request_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(&request_bytes(addr, method, path, headers, body))
            .await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&out).into_owned())
    };
    let raw = tokio::time::timeout(WAIT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {addr}{path}: no answer within {WAIT:?}"))?;
    Ok(parse(&raw))
}

/// `GET path`, connection errors returned.
pub async fn try_get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    try_request_raw(addr, "GET", path, &[], b"").await
}

/// `GET path` (any status).
pub async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, "").await
}

/// The same request from synchronous code (a test thread without a runtime).
pub fn request_blocking(addr: SocketAddr, method: &str, path: &str, body: &str) -> Response {
    let mut s = std::net::TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("{method} {addr}{path}: connect: {e}"));
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    s.write_all(&request_bytes(addr, method, path, &JSON, body.as_bytes()))
        .unwrap_or_else(|e| panic!("{method} {addr}{path}: write: {e}"));
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("{method} {addr}{path}: read: {e}"));
    parse(&String::from_utf8_lossy(&out))
}

/// A TCP endpoint that accepts connections and never says a word: a stalled TLS handshake, a
/// credential service that hangs. Every socket stays open until it is dropped.
pub struct Silent {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Silent {
    pub async fn start() -> Silent {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        Silent { addr, task }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.task.abort();
    }
}
