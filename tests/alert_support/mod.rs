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
use iot_canary::alert::config::{NotifierConfig, NotifierSettings};
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
    iot_canary::alert::config::resolve_all(&doc.notifier, &lookup, Path::new("/"))
        .expect("valid notifiers")
}

pub const T0: u64 = 1_700_000_000;

pub fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + s)
}
