//! The shared harness of iot-canary's integration tests.
//!
//! Every package's `tests/it` binary (and the root's soak) builds its worlds from here, so a
//! lab scenario, a start-up sequence or a client exists once:
//! - [`scenario`]: lab worlds as fixture files (`fixtures/*.toml`) with overrides;
//! - [`lab`]: the lab in-process from a scenario, and its admin API;
//! - [`process`]: a built binary as a child (log capture, waits on log lines, signals, ready
//!   lines), including the lab as a subprocess that can be killed and restarted;
//! - [`sigv4`], [`mqtt`], [`mqtt_raw`], [`sdk`]: clients of the lab (presigned URLs, rumqttc
//!   sessions, a raw packet-level client that shows packet ids, DUP flags and arrival times,
//!   the real AWS SDK clients);
//! - [`net`], [`relay`], [`exposition`]: loopback HTTP, free ports, a switchable TCP relay,
//!   Prometheus text lookups;
//! - [`alert_sink`], [`logs`]: an HTTP(S) receiver recording alert bodies, a tracing capture;
//! - [`verdicts`]: checks every denial must pass (positive evidence of refusal);
//! - [`honesty`]: the ground-truth harness's random worlds, engine answers and tally;
//! - [`chromium`], [`tools`]: headless Chromium and the tools `scripts/test-deps.sh` installs.
//!
//! Readiness is always a signal (a ready line, a log line, an HTTP answer), bounded by
//! [`WAIT`]; nothing here sleeps for a fixed time to let something happen.

pub mod alert_sink;
pub mod chromium;
pub mod config;
pub mod exposition;
pub mod honesty;
pub mod lab;
pub mod logs;
pub mod mqtt;
pub mod mqtt_raw;
pub mod net;
pub mod process;
pub mod relay;
pub mod reports;
pub mod scenario;
pub mod sdk;
pub mod sigv4;
pub mod tools;
pub mod verdicts;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default bound of every wait (generous for a loaded 2-core machine).
pub const WAIT: Duration = Duration::from_secs(120);

/// The lab scenarios' account and region, as IoT ARNs spell them.
pub const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

/// Allows every IoT action: the witness's policy, and the "hole" tests open.
pub const HOLE: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;

/// Denies every IoT action.
pub const DENY_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:*","Resource":"*"}]}"#;

/// The workspace root (where `target/`, `deploy/` and `scripts/` are).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/testkit sits two levels below the workspace root")
        .to_path_buf()
}

/// This crate's `fixtures/` directory.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fixture file's text (`name` relative to `fixtures/`).
pub fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {} unreadable: {e}", path.display()))
}

/// A fixture with `{key}` placeholders filled in (config templates). `${key}` is the daemon's
/// own variable syntax and stays as it is.
pub fn fixture_with(name: &str, vars: &[(&str, &str)]) -> String {
    let text = fixture(name);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let key = after.split('}').next().unwrap_or("");
        let is_var = !key.is_empty()
            && after.len() > key.len()
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        if is_var && !out.ends_with('$') {
            let value = vars
                .iter()
                .find(|(k, _)| *k == key)
                .unwrap_or_else(|| panic!("fixture {name}: no value for {{{key}}}"))
                .1;
            out.push_str(value);
            rest = &after[key.len() + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A policy document from `fixtures/policies/NAME.json`.
pub fn policy(name: &str) -> String {
    fixture(&format!("policies/{name}.json"))
        .trim_end()
        .to_string()
}

/// Writes `text` to `dir/name`; returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// A unique payload per call (bait nonces).
pub fn nonce(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Each `(key, value)`: `json[key]` is that string (one failure names the key and the object).
pub fn assert_str_fields(json: &serde_json::Value, want: &[(&str, &str)]) {
    for (key, value) in want {
        assert_eq!(json[*key], *value, "`{key}` in {json:#}");
    }
}

/// The JSON report's (`once --format json`, `report::json`) entry for canary `name`.
pub fn report_canary<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["results"]
        .as_array()
        .expect("a JSON report (the shared envelope) with a results array")
        .iter()
        .find(|c| c["canary"] == name)
        .unwrap_or_else(|| panic!("{name} in the JSON report"))
}

/// `text` contains every one of `parts` (a failure names the missing part and shows `text`).
pub fn assert_contains(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
}
