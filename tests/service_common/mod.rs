//! Helpers for tests that run the built `iot-canary` binary in `run` mode against the
//! in-process lab: a scenario with a witness and a developer user, config text, the child
//! process with its stderr collected, and tiny loopback HTTP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iot_canary::lab::{self, LabConfig, RunningLab};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

pub const ARN: &str = "arn:aws:iot:us-east-1:123456789012";
pub const DEV_KEY: &str = "AKIALABDEV0000000001";
pub const DEV_SECRET: &str = "lab-secret-dev";

pub fn tight_dev_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}:client/dev-*"}},{{"Effect":"Allow","Action":"iot:Subscribe","Resource":"{ARN}:topicfilter/devices/dev-lamp/*"}}]}}"#
    )
}

pub fn hole_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:*","Resource":"{ARN}:*"}}]}}"#
    )
}

/// Lab world: `dev` (static keys) may connect as `dev-*` and subscribe to its own lamp only.
pub fn scenario(dev_policy: &str) -> String {
    format!(
        r#"region = "us-east-1"
account_id = "123456789012"

[policies]
Dev = '''{dev_policy}'''

[[iam_user]]
name = "dev"
access_key_id = "{DEV_KEY}"
secret_access_key = "{DEV_SECRET}"
policies = ["Dev"]
"#
    )
}

pub async fn start_lab(dir: &Path, dev_policy: &str) -> RunningLab {
    let loaded = lab::scenario::parse(&scenario(dev_policy), "daemon-test", dir).unwrap();
    let mut lc = LabConfig::new(loaded);
    lc.ca_file = Some(dir.join("ca.pem"));
    lab::start(lc).await.unwrap()
}

/// A subscribe canary of identity `dev` (`allow` makes it the control).
pub fn canary(name: &str, filter: &str, allow: bool) -> String {
    let expect = if allow { "\nexpect = \"allow\"" } else { "" };
    format!(
        "\n[[canary]]\nname = \"{name}\"\nidentity = \"dev\"\naction = \"subscribe\"\ntopic_filter = \"{filter}\"{expect}\n"
    )
}

/// A full config for the lab; `extra` is appended (canaries, notifiers, ...).
pub fn config(lab: &RunningLab, timeout: &str, extra: &str) -> String {
    format!(
        r#"[target]
region = "us-east-1"
endpoint = "{}"
ca_file = "{}"
client_id = "${{identity}}-${{canary}}"

[schedule]
interval = "{timeout}"
jitter = "0%"
timeout = "{timeout}"
connect_interval = "10ms"

[server]
listen = "127.0.0.1:0"

[[identity]]
name = "dev"
kind = "static"
access_key_id_env = "TEST_DEV_KEY"
secret_access_key_env = "TEST_DEV_SECRET"
{extra}"#,
        lab.endpoints.mqtt, lab.endpoints.ca_file
    )
}

/// The `iot-canary run` child with its stderr lines collected.
pub struct Proc {
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
    pub metrics: SocketAddr,
}

impl Proc {
    /// Spawns `iot-canary run -c CONFIG` with the dev keys in its environment and waits
    /// (bounded) for the metrics address line.
    pub async fn spawn(config: &Path, env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_iot-canary"));
        cmd.args(["--log-format", "json", "run", "-c"])
            .arg(config)
            .env("TEST_DEV_KEY", DEV_KEY)
            .env("TEST_DEV_SECRET", DEV_SECRET)
            .env(
                "RUST_LOG",
                "info,iot_canary_daemon::daemon::service=debug,iot_canary_lab=warn",
            )
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn iot-canary");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                sink.lock().unwrap().push(l);
            }
        });
        let mut p = Proc {
            child,
            log,
            metrics: "0.0.0.0:0".parse().unwrap(),
        };
        let line = p
            .wait_log(
                |l| l.contains("metrics on http://"),
                Duration::from_secs(60),
            )
            .await;
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap();
        p.metrics = addr.parse().unwrap();
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("child running")
    }

    pub fn signal(&self, sig: &str) {
        let st = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} failed");
    }

    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits for a stderr line matching `pred` (bounded); returns it.
    pub async fn wait_log(&mut self, pred: impl Fn(&str) -> bool, limit: Duration) -> String {
        self.wait_log_from(0, pred, limit).await.1
    }

    /// Like `wait_log`, only lines at index >= `from`; returns (index, line).
    pub async fn wait_log_from(
        &mut self,
        from: usize,
        pred: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> (usize, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(hit) = self
                .lines()
                .into_iter()
                .enumerate()
                .skip(from)
                .find(|(_, l)| pred(l))
            {
                return hit;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "iot-canary exited ({st}) early; log:\n{}",
                    self.lines().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "no matching log line within {limit:?}; log:\n{}",
                self.lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Polls /metrics until `pred` holds (bounded); returns the matching exposition.
    pub async fn wait_metrics(
        &mut self,
        what: &str,
        pred: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let m = get(self.metrics, "/metrics").await;
            if pred(&m) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "metrics never showed {what}; last scrape:\n{m}\nlog:\n{}",
                self.lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Minimal HTTP/1.0 request (loopback only): the whole response, head and body.
pub async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

pub async fn get(addr: SocketAddr, path: &str) -> String {
    request(addr, "GET", path, "").await
}

/// Value of the first exposition line starting with `series` (exact labels), if present.
pub fn value(m: &str, series: &str) -> Option<f64> {
    m.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

pub fn admin_addr(lab: &RunningLab) -> SocketAddr {
    lab.endpoints
        .admin
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}

/// Replaces the lab's `Dev` policy through the admin API.
pub async fn set_dev_policy(lab: &RunningLab, doc: &str) {
    let r = request(admin_addr(lab), "PUT", "/policies/Dev", doc).await;
    assert!(r.contains(" 204 "), "{r}");
}
