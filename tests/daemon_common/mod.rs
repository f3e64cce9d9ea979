//! Helpers for the daemon's end-to-end tests: the built binary, the lab in-process, its admin
//! API, a switchable relay in front of the lab's identity services, and small HTTP GETs.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use iot_canary::lab::{self, LabConfig, RunningLab};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Every wait in these tests is bounded by this (generous for a loaded 2-core machine).
/// The lab scenarios' Cognito identity pool id.
pub const POOL: &str = "us-east-1:0a1b2c3d-0000-4000-8000-00000000c0de";

/// ARN prefix of the lab account's IoT resources.
pub const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

/// Allows every IoT action: the witness's policy, and the "hole" the tests open.
pub const HOLE: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;

/// Scenario head shared by the daemon tests: region, account, `[policies]` with the `ops`
/// witness's `Witness` (= `HOLE`) plus `policies` (TOML lines), and the `ops` IAM user.
pub fn scenario_head(policies: &str) -> String {
    format!(
        "region = \"us-east-1\"\naccount_id = \"123456789012\"\n\n[policies]\nWitness = '''{HOLE}'''\n{policies}\n\n{}",
        iam_user("ops", "AKIALABOPS0000000001", "lab-secret-ops", "Witness")
    )
}

/// One `[[iam_user]]` table with a single policy.
pub fn iam_user(name: &str, key: &str, secret: &str, policy: &str) -> String {
    format!(
        "[[iam_user]]\nname = \"{name}\"\naccess_key_id = \"{key}\"\nsecret_access_key = \"{secret}\"\npolicies = [\"{policy}\"]\n\n"
    )
}

pub const WAIT: Duration = Duration::from_secs(120);

pub const BIN: &str = env!("CARGO_BIN_EXE_iot-canary");
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Starts the lab in-process (TLS, CA written into `dir`).
pub async fn start_lab(scenario_text: &str, dir: &Path) -> RunningLab {
    let loaded = lab::scenario::parse(scenario_text, "test-scenario", dir)
        .unwrap_or_else(|e| panic!("test scenario invalid: {e}"));
    let mut cfg = LabConfig::new(loaded);
    cfg.ca_file = Some(dir.join("lab-ca.pem"));
    lab::start(cfg).await.expect("lab starts")
}

pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .expect("lab URL is http://IP:PORT[/path]")
}

/// Minimal HTTP/1.0 request on loopback; returns (status, body).
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    s.write_all(
        format!(
            "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut out))
        .await
        .expect("answer in time")
        .unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Replaces a policy document through the lab's admin API.
pub async fn put_policy(lab: &RunningLab, name: &str, doc: &str) {
    let (status, body) = http(
        addr_of(&lab.endpoints.admin),
        "PUT",
        &format!("/policies/{name}"),
        doc,
    )
    .await;
    assert_eq!(status, 204, "PUT /policies/{name}: {body}");
}

/// Output of a finished binary run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the built binary to completion (bounded by [`WAIT`]), in `cwd`, with extra env vars.
pub async fn run_bin(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("binary starts");
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("`iot-canary {}` did not finish in time", args.join(" ")))
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A TCP relay in front of a lab service that can be switched off: `Down` closes every
/// connection (pooled keep-alive ones too), `Unavailable` answers HTTP 503, `Stall` accepts
/// and never answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    Up,
    Down,
    Unavailable,
    Stall,
}

/// Starts a relay to `upstream`; returns its base URL (`http://IP:PORT`) and the switch.
pub async fn start_relay(upstream: SocketAddr) -> (String, watch::Sender<Relay>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = watch::channel(Relay::Up);
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let mut rx = rx.clone();
            tokio::spawn(async move {
                let mode = *rx.borrow_and_update();
                match mode {
                    Relay::Down => {}
                    Relay::Stall => {
                        let _ = rx.wait_for(|m| *m != Relay::Stall).await;
                    }
                    Relay::Unavailable => {
                        let mut buf = [0u8; 8192];
                        let _ = inbound.read(&mut buf).await;
                        let _ = inbound
                            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                    }
                    Relay::Up => {
                        let Ok(mut out) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut out) => {}
                            _ = rx.wait_for(|m| *m != Relay::Up) => {}
                        }
                    }
                }
            });
        }
    });
    (url, tx)
}
