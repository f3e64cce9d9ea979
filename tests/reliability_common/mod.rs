//! Shared pieces of the reliability tests: the lab as an `iot-canary lab` subprocess (so it
//! can be killed and restarted), its admin API over plain HTTP, a daemon over the lab's
//! static users, and the verdict checks every fault must pass.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use iot_canary::config::{self, Config};
use iot_canary::daemon::{self, CanaryReport, Daemon, IdentitySource, Shard, identities};
use iot_canary::identity::Env;
use iot_canary::verdict::{Observation, Verdict};

pub const BIN: &str = env!("CARGO_BIN_EXE_iot-canary");
const ARN: &str = "arn:aws:iot:us-east-1:123456789012";
pub const OPS_KEY: &str = "AKIALABOPS0000000001";
pub const OPS_SECRET: &str = "lab-secret-ops-Zq8v";
pub const DEV_KEY: &str = "AKIALABDEV0000000001";
pub const DEV_SECRET: &str = "lab-secret-dev-Wm3k";

pub fn scenario() -> String {
    format!(
        r#"region = "us-east-1"
account_id = "123456789012"

[policies]
Witness = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:*","Resource":"*"}}]}}'''
Dev = '''{{"Version":"2012-10-17","Statement":[
 {{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}:client/dev-*"}},
 {{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["{ARN}:topic/devices/dev-lamp/*","{ARN}:topic/$aws/things/dev-lamp/shadow/*"]}},
 {{"Effect":"Allow","Action":"iot:Subscribe","Resource":["{ARN}:topicfilter/devices/dev-lamp/*","{ARN}:topicfilter/$aws/things/dev-lamp/shadow/*"]}}]}}'''

[[iam_user]]
name = "ops"
access_key_id = "{OPS_KEY}"
secret_access_key = "{OPS_SECRET}"
policies = ["Witness"]

[[iam_user]]
name = "dev"
access_key_id = "{DEV_KEY}"
secret_access_key = "{DEV_SECRET}"
policies = ["Dev"]

[[thing]]
name = "dev-lamp"
owner = "dev"

[[thing]]
name = "other-lamp"
owner = "ops"
"#
    )
}

/// A lab subprocess and what its ready line said.
pub struct Lab {
    pub child: Child,
    pub ready: serde_json::Value,
    pub dir: PathBuf,
}

impl Lab {
    /// Starts `iot-canary lab` and waits (bounded) for its ready line.
    pub fn start(dir: &Path, listen: &str, plain: bool) -> Lab {
        Lab::start_with(dir, listen, plain, &scenario())
    }

    pub fn start_with(dir: &Path, listen: &str, plain: bool, scenario_text: &str) -> Lab {
        let scenario_path = dir.join("scenario.toml");
        std::fs::write(&scenario_path, scenario_text).expect("write scenario");
        let mut cmd = Command::new(BIN);
        cmd.args(["lab", "--scenario"])
            .arg(&scenario_path)
            .args(["--listen", listen])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if plain {
            cmd.arg("--plain");
        }
        let mut child = cmd.spawn().expect("spawn iot-canary lab");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("lab ready line within 60 s");
        let ready: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
        Lab {
            child,
            ready,
            dir: dir.to_path_buf(),
        }
    }

    pub fn mqtt(&self) -> String {
        self.ready["mqtt"].as_str().unwrap_or_default().to_string()
    }

    pub fn admin(&self) -> String {
        self.ready["admin"].as_str().unwrap_or_default().to_string()
    }

    pub fn ca_file(&self) -> String {
        self.ready["ca_file"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The gateway's `host:port`.
    pub fn listen_addr(&self) -> String {
        let m = self.mqtt();
        let rest = m.split("://").nth(1).unwrap_or_default();
        rest.split('/').next().unwrap_or_default().to_string()
    }

    /// SIGKILL: no graceful close of any session.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn state(&self) -> serde_json::Value {
        let body = http(&self.admin(), "GET", "/state", "");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/state {body:?}: {e}"))
    }

    pub fn set_faults(&self, json: &str) {
        http(&self.admin(), "PUT", "/faults", json);
    }

    pub fn clear_faults(&self) {
        http(&self.admin(), "DELETE", "/faults", "");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 request (the admin API is loopback JSON); returns the body.
pub fn http(base: &str, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect admin API");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read response");
    let (head, rest) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    assert!(
        head.starts_with("HTTP/1.1 2"),
        "{method} {path}: {head}\n{rest}"
    );
    rest.to_string()
}

/// A port that was free a moment ago (for a lab that must come back on the same address).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Canaries for `dev` (deny + controls, every probe kind) in one MQTT version.
pub fn canaries(version: &str) -> String {
    let v = version.replace('.', "");
    let mut out = String::new();
    let mut add = |name: &str, action: &str, expect: &str, extra: &str| {
        out.push_str(&format!(
            "\n[[canary]]\nname = \"{name}-v{v}\"\nidentity = \"dev\"\naction = \"{action}\"\nexpect = \"{expect}\"\nmqtt_version = \"{version}\"\n{extra}\n"
        ));
    };
    add(
        "connect-other",
        "connect",
        "deny",
        "client_id = \"other-lamp-v${canary}\"",
    );
    add(
        "sub-own",
        "subscribe",
        "allow",
        "topic_filter = \"devices/dev-lamp/#\"",
    );
    add(
        "sub-other",
        "subscribe",
        "deny",
        "topic_filter = \"devices/other-lamp/#\"",
    );
    add(
        "pub-other",
        "publish",
        "deny",
        "topic = \"devices/other-lamp/cmd\"\nwitness = \"ops\"",
    );
    add(
        "recv-other",
        "receive",
        "deny",
        "topic = \"devices/other-lamp/telemetry\"\nwitness = \"ops\"",
    );
    add(
        "shget-other",
        "shadow-get",
        "deny",
        "thing = \"other-lamp\"",
    );
    add(
        "retain-other",
        "retain",
        "deny",
        "topic = \"devices/other-lamp/state\"",
    );
    out
}

/// A config for the lab at `endpoint`; `extra_identities` are appended to ops and dev.
pub fn config_text(endpoint: &str, ca_file: &str, timeout: &str, canaries: &str) -> String {
    let ca = if ca_file.is_empty() {
        String::new()
    } else {
        format!("ca_file = \"{ca_file}\"\n")
    };
    format!(
        r#"[target]
region = "us-east-1"
endpoint = "{endpoint}"
{ca}client_id = "${{identity}}-${{canary}}"

[schedule]
interval = "60s"
timeout = "{timeout}"
concurrency = 8
connect_interval = "20ms"
delivery_grace = "500ms"

[server]
listen = "127.0.0.1:0"

[[identity]]
name = "ops"
kind = "static"
access_key_id_env = "OPS_KEY"
secret_access_key_env = "OPS_SECRET"

[[identity]]
name = "dev"
kind = "static"
access_key_id_env = "DEV_KEY"
secret_access_key_env = "DEV_SECRET"
{canaries}"#
    )
}

pub fn parse(text: &str) -> Config {
    config::parse(Path::new("reliability.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

/// The lab users' secrets, handed over through an env overlay (never the process env).
pub fn lab_env(ops_secret: &str) -> Env {
    Env::isolated([
        ("OPS_KEY".to_string(), OPS_KEY.to_string()),
        ("OPS_SECRET".to_string(), ops_secret.to_string()),
        ("DEV_KEY".to_string(), DEV_KEY.to_string()),
        ("DEV_SECRET".to_string(), DEV_SECRET.to_string()),
    ])
}

/// A daemon over `cfg` with static identities from `env`.
pub fn daemon(cfg: Config, env: Env) -> Daemon {
    let endpoint = daemon::endpoint(&cfg).expect("CA readable");
    let ids = identities::build(&cfg, env).expect("identities build");
    Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL)
}

pub fn daemon_with(cfg: Config, ids: BTreeMap<String, Arc<dyn IdentitySource>>) -> Daemon {
    let endpoint = daemon::endpoint(&cfg).expect("CA readable");
    Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL)
}

pub async fn round(d: &Daemon) -> Vec<CanaryReport> {
    tokio::time::timeout(Duration::from_secs(180), d.round(None, &|_| {}))
        .await
        .expect("round finishes within 180 s")
}

pub fn table(reports: &[CanaryReport]) -> String {
    iot_canary::report::table(reports)
}

/// Whether a `denied` verdict rests on positive evidence of refusal (an explicit MQTT 5
/// refusal, a routed-but-not-delivered bait, or a 3.1.1 close confirmed by a control).
pub fn denial_is_evidenced(r: &CanaryReport) -> bool {
    match &r.evidence.observation {
        Observation::Connack { code }
        | Observation::Suback { code }
        | Observation::Puback { code } => *code == 0x87 || *code == 0x80 || *code == 0x05,
        Observation::ServerDisconnect { code, .. } => *code == 0x87,
        Observation::NotDelivered => true,
        Observation::ClosedWithoutAck { .. } => r
            .evidence
            .steps
            .iter()
            .any(|s| s.what.starts_with("denial confirmed")),
        _ => false,
    }
}

/// Counts `denied` verdicts without evidence (false denials) — must be zero.
pub fn false_denied(reports: &[CanaryReport]) -> usize {
    reports
        .iter()
        .filter(|r| r.verdict == Verdict::Denied && !denial_is_evidenced(r))
        .count()
}
