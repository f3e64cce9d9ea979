//! A built binary as a child process: run to completion, or keep running with its log lines
//! collected, wait (bounded) for a line, send signals; and the lab as a subprocess (so it can
//! be killed and restarted on the same address).
//!
//! The binary's path is passed in: `env!("CARGO_BIN_EXE_iot-canary")` exists only in the root
//! package's tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;

use crate::WAIT;
use crate::net;
use crate::scenario::Scenario;

/// Output of a finished run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to completion (bounded by [`WAIT`]), stdin closed, output captured.
pub async fn run(mut cmd: tokio::process::Command) -> Run {
    let what = format!("{:?}", cmd.as_std());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {WAIT:?}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `cmd` to completion and insists that it succeeds; returns its stdout. A failure names
/// `what` and shows both streams.
pub fn output_ok(cmd: &mut std::process::Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: {cmd:?} not runnable ({e}); run scripts/test-deps.sh"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `cmd` with `input` on its stdin; its output (any exit status).
pub fn output_with_stdin(cmd: &mut std::process::Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?} not runnable ({e}); run scripts/test-deps.sh"));
    // Written from a thread: a child that answers before reading all its input must not
    // deadlock against a full pipe.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("child output");
    writer
        .join()
        .expect("stdin writer")
        .expect("write the child's stdin");
    out
}

/// A running child whose stderr lines are collected as they come.
pub struct Proc {
    pub child: tokio::process::Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Spawns `cmd` (stdin and stdout closed, stderr collected; killed on drop).
    pub fn spawn(mut cmd: tokio::process::Command) -> Proc {
        let what = format!("{:?}", cmd.as_std());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                sink.lock().expect("log lock").push(l);
            }
        });
        Proc { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("child running")
    }

    /// Sends `sig` (`TERM`, `HUP`, `USR1`, ...) with kill(1).
    pub fn signal(&self, sig: &str) {
        let st = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} failed");
    }

    /// The stderr lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits for a stderr line matching `pred` (bounded by `limit`); returns it.
    pub async fn wait_log(&mut self, pred: impl Fn(&str) -> bool, limit: Duration) -> String {
        self.wait_log_from(0, pred, limit).await.1
    }

    /// Like [`Proc::wait_log`], only lines at index >= `from`; returns (index, line).
    pub async fn wait_log_from(
        &mut self,
        from: usize,
        pred: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> (usize, String) {
        let deadline = Instant::now() + limit;
        let mut exited = None;
        loop {
            let hit = self
                .lines()
                .into_iter()
                .enumerate()
                .skip(from)
                .find(|(_, l)| pred(l));
            if let Some(hit) = hit {
                return hit;
            }
            // Searched once more after the exit was seen: lines written just before it may
            // still have been in the pipe then.
            if let Some(st) = exited {
                panic!(
                    "child exited ({st}) early; log:\n{}",
                    self.lines().join("\n")
                );
            }
            exited = self.child.try_wait().ok().flatten();
            assert!(
                Instant::now() < deadline,
                "no matching log line within {limit:?}; log:\n{}",
                self.lines().join("\n")
            );
            // Polling the collected lines (not a timing assumption: the deadline bounds it).
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for a stderr line at index >= `from` containing `needle`; returns (index, line).
    pub async fn wait_line(
        &mut self,
        from: usize,
        needle: &str,
        limit: Duration,
    ) -> (usize, String) {
        self.wait_log_from(from, |l| l.contains(needle), limit)
            .await
    }

    /// Waits for the address in a `... on http://IP:PORT/...` log line (`what` names it).
    pub async fn wait_addr(&mut self, what: &str) -> std::net::SocketAddr {
        let marker = format!("{what} on http://");
        let line = self
            .wait_log(|l| l.contains(&marker), Duration::from_secs(60))
            .await;
        let rest = line.split(marker.as_str()).nth(1).unwrap_or_default();
        net::addr_of(&format!("http://{rest}"))
    }

    /// Polls `GET path` until `pred` holds on the whole answer (bounded by `limit`; `what`
    /// names the wait in the failure); returns the answer.
    pub async fn wait_http(
        &mut self,
        addr: std::net::SocketAddr,
        path: &str,
        what: &str,
        pred: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let body = net::get(addr, path).await.raw();
            if pred(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never showed {what}; last answer:\n{body}\nlog:\n{}",
                self.lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `iot-canary lab` as a subprocess and what its ready line said.
pub struct LabProcess {
    pub child: std::process::Child,
    pub ready: serde_json::Value,
    pub dir: PathBuf,
}

impl LabProcess {
    /// Starts `BIN lab --scenario DIR/scenario.toml --listen LISTEN [--plain]` and waits
    /// (bounded) for its ready line on stdout.
    pub fn start(bin: &str, scenario: &Scenario, dir: &Path, listen: &str, plain: bool) -> Self {
        let path = scenario.write(dir);
        let mut cmd = std::process::Command::new(bin);
        cmd.args(["lab", "--scenario"])
            .arg(&path)
            .args(["--listen", listen])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if plain {
            cmd.arg("--plain");
        }
        let mut child = cmd.spawn().expect("spawn iot-canary lab");
        let ready = read_ready_line(&mut child);
        LabProcess {
            child,
            ready,
            dir: dir.to_path_buf(),
        }
    }

    fn field(&self, key: &str) -> String {
        self.ready[key].as_str().unwrap_or_default().to_string()
    }

    pub fn mqtt(&self) -> String {
        self.field("mqtt")
    }

    pub fn admin(&self) -> String {
        self.field("admin")
    }

    pub fn ca_file(&self) -> String {
        self.field("ca_file")
    }

    /// The gateway's `host:port`.
    pub fn listen_addr(&self) -> String {
        net::addr_of(&self.mqtt()).to_string()
    }

    /// SIGKILL: no graceful close of any session.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn admin_ok(&self, method: &str, path: &str, body: &str) -> String {
        let r = net::request_blocking(net::addr_of(&self.admin()), method, path, body);
        assert!(
            (200..300).contains(&r.status),
            "{method} {path}: {}\n{}",
            r.head,
            r.body
        );
        r.body
    }

    pub fn state(&self) -> serde_json::Value {
        let body = self.admin_ok("GET", "/state", "");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/state {body:?}: {e}"))
    }

    pub fn set_faults(&self, json: &str) {
        self.admin_ok("PUT", "/faults", json);
    }

    pub fn clear_faults(&self) {
        self.admin_ok("DELETE", "/faults", "");
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The first stdout line of `child` as JSON (bounded: 60 s).
pub fn read_ready_line(child: &mut std::process::Child) -> serde_json::Value {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("ready line within 60 s");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"))
}
