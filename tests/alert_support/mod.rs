//! Shared helpers for the alert integration tests: an in-test HTTP receiver on 127.0.0.1:0
//! that records every request and answers from a script, and config helpers.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use iot_canary::config::alerting::{NotifierConfig, NotifierSettings};
use tokio::sync::mpsc;

pub const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub body: serde_json::Value,
}

/// What the receiver answers, request by request; once the script is empty it answers 200.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Never answer (a hung receiver).
    Stall,
}

#[derive(Clone)]
struct Shared {
    script: Arc<Mutex<VecDeque<Answer>>>,
    tx: mpsc::UnboundedSender<Recorded>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub rx: mpsc::UnboundedReceiver<Recorded>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(State(s): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let rec = Recorded {
        path: uri.path().to_string(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    };
    let answer = s.script.lock().unwrap().pop_front();
    let _ = s.tx.send(rec);
    match answer {
        None => StatusCode::OK,
        Some(Answer::Status(c)) => StatusCode::from_u16(c).unwrap(),
        Some(Answer::Stall) => std::future::pending().await,
    }
}

impl Receiver {
    pub async fn start(script: Vec<Answer>) -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Shared {
            script: Arc::new(Mutex::new(script.into())),
            tx,
        };
        let app = axum::Router::new()
            .fallback(axum::routing::post(record))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, rx, task }
    }

    /// The same receiver behind TLS (axum serves any [`axum::serve::Listener`]).
    pub async fn start_tls(script: Vec<Answer>, acceptor: tokio_rustls::TlsAcceptor) -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Shared {
            script: Arc::new(Mutex::new(script.into())),
            tx,
        };
        let app = axum::Router::new()
            .fallback(axum::routing::post(record))
            .with_state(shared);
        let inner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(TlsListener { inner, acceptor }, app)
                .await
                .unwrap();
        });
        Receiver { addr, rx, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next request, failing the test if none arrives in time.
    pub async fn next(&mut self) -> Recorded {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("receiver got no request in time")
            .expect("receiver channel open")
    }

    /// Everything received so far, without waiting.
    pub fn drain_now(&mut self) -> Vec<Recorded> {
        let mut v = Vec::new();
        while let Ok(r) = self.rx.try_recv() {
            v.push(r);
        }
        v
    }
}

pub fn settings(toml_src: &str, env: &[(&str, &str)]) -> Vec<NotifierSettings> {
    #[derive(serde::Deserialize)]
    struct Doc {
        notifier: Vec<NotifierConfig>,
    }
    let doc: Doc = toml::from_str(toml_src).expect("notifier toml");
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    iot_canary::config::alerting::resolve_all(&doc.notifier, &lookup, Path::new("/"))
        .expect("valid notifiers")
}

pub const T0: u64 = 1_700_000_000;

pub fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + s)
}

struct TlsListener {
    inner: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.inner.accept().await else {
                continue;
            };
            // A client that rejects our certificate fails the handshake: keep serving others.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A private CA and a server certificate for 127.0.0.1 signed by it: (CA PEM, acceptor).
pub fn private_ca_acceptor() -> (String, tokio_rustls::TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    (
        ca_cert.pem(),
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg)),
    )
}

/// Collects every log line emitted on this thread (tests run on a current-thread runtime, so
/// the notifier workers log here too).
#[derive(Clone, Default)]
pub struct LogCapture(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let me = self.clone();
        let sub = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || me.clone())
            .finish();
        tracing::subscriber::set_default(sub)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }
}
