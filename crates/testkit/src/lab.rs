//! The lab in-process, started from a [`Scenario`], and a client of its admin API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use iot_canary_lab::{LabConfig, Limits, RunningLab};

use crate::scenario::Scenario;
use crate::{WAIT, net};

/// Limits for tests: no pause between connects (the broker's default throttles bursts).
pub fn test_limits() -> Limits {
    Limits {
        connect_interval: Duration::ZERO,
        ..Limits::default()
    }
}

/// How to start a lab.
#[derive(Debug, Clone)]
pub struct Options {
    /// `ws://` and no CA; otherwise TLS.
    pub plain: bool,
    pub limits: Limits,
    /// Where relative scenario paths resolve and the CA (`lab-ca.pem`) is written; `None`:
    /// the current directory, and the CA in the lab's own private temporary directory
    /// (removed with the lab).
    pub dir: Option<PathBuf>,
}

impl Options {
    /// Plain websockets, [`test_limits`].
    pub fn plain() -> Options {
        Options {
            plain: true,
            limits: test_limits(),
            dir: None,
        }
    }

    /// TLS, default limits.
    pub fn tls() -> Options {
        Options {
            plain: false,
            limits: Limits::default(),
            dir: None,
        }
    }

    pub fn limits(mut self, limits: Limits) -> Options {
        self.limits = limits;
        self
    }

    pub fn dir(mut self, dir: &Path) -> Options {
        self.dir = Some(dir.to_path_buf());
        self
    }
}

/// Starts `scenario` in-process.
pub async fn start(scenario: &Scenario, options: Options) -> RunningLab {
    let dir = options.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut config = LabConfig::new(scenario.load(&dir));
    config.plain = options.plain;
    config.limits = options.limits;
    if !options.plain {
        config.ca_file = options.dir.map(|d| d.join("lab-ca.pem"));
    }
    tokio::time::timeout(WAIT, iot_canary_lab::start(config))
        .await
        .expect("lab starts in time")
        .expect("lab starts")
}

/// Starts `scenario` over plain websockets with [`test_limits`].
pub async fn start_plain(scenario: &Scenario) -> RunningLab {
    start(scenario, Options::plain()).await
}

/// Starts `scenario` over TLS with default limits, the CA in `dir`.
pub async fn start_tls(scenario: &Scenario, dir: &Path) -> RunningLab {
    start(scenario, Options::tls().dir(dir)).await
}

/// The admin API of a lab (in-process or a subprocess), over loopback HTTP.
#[derive(Debug, Clone, Copy)]
pub struct Admin {
    pub addr: SocketAddr,
}

impl Admin {
    pub fn of(lab: &RunningLab) -> Admin {
        Admin::at(&lab.endpoints.admin)
    }

    /// From the admin base URL (`http://IP:PORT`).
    pub fn at(base: &str) -> Admin {
        Admin {
            addr: net::addr_of(base),
        }
    }

    /// Any request; returns (status, body).
    pub async fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let r = net::request(self.addr, method, path, body).await;
        (r.status, r.body)
    }

    /// A request that must succeed (2xx); returns the body.
    pub async fn ok(&self, method: &str, path: &str, body: &str) -> String {
        let (status, text) = self.request(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {text}"
        );
        text
    }

    /// Replaces (or adds) a policy document.
    pub async fn put_policy(&self, name: &str, doc: &str) {
        let (status, body) = self.request("PUT", &format!("/policies/{name}"), doc).await;
        assert_eq!(status, 204, "PUT /policies/{name}: {body}");
    }

    /// Attaches `policy` to a target (`{"iam_user":"alice"}`, ...).
    pub async fn attach(&self, policy: &str, target: &str) -> u16 {
        let body = format!(r#"{{"policy":"{policy}","target":{target}}}"#);
        self.request("POST", "/attach", &body).await.0
    }

    pub async fn detach(&self, policy: &str, target: &str) -> u16 {
        let body = format!(r#"{{"policy":"{policy}","target":{target}}}"#);
        self.request("POST", "/detach", &body).await.0
    }

    /// Injects faults (the `/faults` JSON).
    pub async fn set_faults(&self, json: &str) {
        self.ok("PUT", "/faults", json).await;
    }

    pub async fn clear_faults(&self) {
        self.ok("DELETE", "/faults", "").await;
    }

    pub async fn disconnect_all(&self) {
        self.ok("POST", "/disconnect-all", "").await;
    }

    /// Merges realism knobs (the `[realism]` keys as JSON, docs/realism.md) into the running
    /// lab's settings; returns the effective settings.
    pub async fn realism(&self, json: &str) -> serde_json::Value {
        let body = self.ok("PUT", "/realism", json).await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/realism {body:?}: {e}"))
    }

    /// `GET /realism`: the effective settings and `applied`, how often each knob fired.
    pub async fn realism_state(&self) -> serde_json::Value {
        let body = self.ok("GET", "/realism", "").await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/realism {body:?}: {e}"))
    }

    /// Switches every realism knob off.
    pub async fn realism_off(&self) {
        self.ok("DELETE", "/realism", "").await;
    }

    /// Another process takes `client_id` over; returns the status (404: nobody held it).
    pub async fn take_over(&self, client_id: &str) -> u16 {
        let body = serde_json::json!({ "client_id": client_id }).to_string();
        self.request("POST", "/takeover", &body).await.0
    }

    /// The server disconnects `client_id` with MQTT 5 reason `reason`; returns the status.
    pub async fn disconnect(&self, client_id: &str, reason: u8) -> u16 {
        let body = serde_json::json!({ "client_id": client_id, "reason": reason }).to_string();
        self.request("POST", "/disconnect", &body).await.0
    }

    /// `GET /state` as JSON.
    pub async fn state(&self) -> serde_json::Value {
        let body = self.ok("GET", "/state", "").await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/state {body:?}: {e}"))
    }
}
