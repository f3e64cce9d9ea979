//! `iot-canary run` with `[state] dir`, restarted: the firing alerts are not sent again (the
//! alert sink counts every notification), and a failed control's
//! `iot_canary_blind_since_timestamp_seconds` keeps the time it first failed. Without the
//! state dir the same restart does send the alerts again, which shows the counting can fail.

use std::path::Path;
use std::time::Duration;

use iot_canary_testkit::alert_sink::{Receiver, Recorded};

use crate::support::*;

/// dev may subscribe to its own lamp and (the hole) to `devices/other/*`; not to the third
/// topic its second control expects.
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/dev-*"},{"Effect":"Allow","Action":"iot:Subscribe","Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/devices/dev-lamp/*","arn:aws:iot:us-east-1:123456789012:topicfilter/devices/other/*"]}]}"#;

const BLIND_SINCE: &str = "iot_canary_blind_since_timestamp_seconds{canary=\"dev-third\"}";
const BREACH: &str =
    "iot_canary_breach{canary=\"dev-other\",identity=\"dev\",action=\"subscribe\"}";

fn fires(rs: &[Recorded]) -> Vec<(String, String)> {
    rs.iter()
        .filter(|r| r.body["notification"] == "fire")
        .map(|r| {
            (
                r.body["alertname"].as_str().unwrap_or("").to_string(),
                r.body["canary"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Receives until both alerts have fired once; returns everything received.
async fn until_both_fired(sink: &mut Receiver) -> Vec<Recorded> {
    let mut got = Vec::new();
    loop {
        got.push(sink.next().await);
        let f = fires(&got);
        if f.iter().any(|(a, _)| a == "IotCanaryBreach")
            && f.iter().any(|(a, _)| a == "IotCanaryControlFailed")
        {
            return got;
        }
    }
}

/// Stops the daemon (SIGTERM: the round in flight finishes, queued alerts are delivered).
async fn stop(mut p: RunProc) {
    p.signal("TERM");
    let st = tokio::time::timeout(Duration::from_secs(60), p.child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(st.success(), "{st}");
}

/// Runs until `rounds` more rounds completed (per the dev-other probe counter).
async fn rounds(p: &mut RunProc, after: f64) -> String {
    let total = "iot_canary_probes_total{canary=\"dev-other\",identity=\"dev\",action=\"subscribe\",verdict=\"allowed\"}";
    p.wait_metrics(
        "two more rounds",
        |m| value(m, total).is_some_and(|v| v >= after + 2.0),
        Duration::from_secs(90),
    )
    .await
}

fn write_config(path: &Path, base: &str, state: Option<&Path>) {
    let state = state.map_or(String::new(), |d| {
        format!("\n[state]\ndir = \"{}\"\n", d.display())
    });
    std::fs::write(path, format!("{base}{state}")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_neither_refires_standing_alerts_nor_forgets_blind_since() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path(), POLICY).await;
    let mut sink = Receiver::start(vec![]).await;
    let extra = format!(
        "{}{}{}\n[[notifier]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\n",
        canary("dev-own", "devices/dev-lamp/#", true),
        canary("dev-other", "devices/other/#", false),
        canary("dev-third", "devices/third/#", true),
        sink.url("/hook")
    );
    let base = config(&lab, "1s", &extra);
    let cfg_path = dir.path().join("canaries.toml");
    let state_dir = dir.path().join("state");
    write_config(&cfg_path, &base, Some(&state_dir));

    // First life: the breach and the failed control fire once each.
    let mut p = RunProc::spawn(&cfg_path, &[]).await;
    let first = until_both_fired(&mut sink).await;
    let m = rounds(&mut p, 0.0).await;
    let blind_since = value(&m, BLIND_SINCE).expect("blind since exported");
    assert!(blind_since > 0.0, "{m}");
    assert_eq!(value(&m, BREACH), Some(1.0));
    stop(p).await;
    let state_file = state_dir.join("iot-canary-state.json");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    assert_eq!(saved["version"], 1, "{saved}");
    let mut before = first;
    before.extend(sink.drain_now());
    assert_eq!(fires(&before).len(), 2, "{:?}", fires(&before));

    // Second life, same state dir: nothing fires again, blind-since is the first life's.
    let mut p = RunProc::spawn(&cfg_path, &[]).await;
    p.wait_log(
        |l| l.contains("saved state restored"),
        Duration::from_secs(30),
    )
    .await;
    let m = rounds(&mut p, 0.0).await;
    assert_eq!(value(&m, BLIND_SINCE), Some(blind_since), "{m}");
    assert_eq!(value(&m, BREACH), Some(1.0));
    let page = get(p.metrics, "/").await;
    assert!(page.contains("data-canary=\"dev-other\""), "{page}");
    stop(p).await;
    let after = sink.drain_now();
    assert!(
        fires(&after).is_empty(),
        "re-fired after a restart with [state] dir: {:?}",
        fires(&after)
    );
    assert!(
        after.iter().all(|r| r.body["notification"] != "resolve"),
        "nothing resolved either: {:?}",
        after.iter().map(|r| &r.body).collect::<Vec<_>>()
    );

    // Third life without the state dir: the same alerts fire again (what [state] prevents).
    write_config(&cfg_path, &base, None);
    let p = RunProc::spawn(&cfg_path, &[]).await;
    let again = until_both_fired(&mut sink).await;
    assert_eq!(fires(&again).len(), 2);
    stop(p).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_reported_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path(), &tight_dev_policy()).await;
    let state_dir = dir.path().join("state");
    std::fs::create_dir(&state_dir).unwrap();
    let state_file = state_dir.join("iot-canary-state.json");
    std::fs::write(
        &state_file,
        "{\"format\": \"iot-canary-state\", \"version\": 99}",
    )
    .unwrap();
    let cfg_path = dir.path().join("canaries.toml");
    let base = config(&lab, "1s", &canary("dev-own", "devices/dev-lamp/#", true));
    write_config(&cfg_path, &base, Some(&state_dir));
    let mut p = RunProc::spawn(&cfg_path, &[]).await;
    let warned = p
        .wait_log(
            |l| l.contains("saved state ignored"),
            Duration::from_secs(30),
        )
        .await;
    assert!(warned.contains("version 99"), "{warned}");
    let total = "iot_canary_probes_total{canary=\"dev-own\",identity=\"dev\",action=\"subscribe\",verdict=\"allowed\"}";
    p.wait_metrics(
        "a round",
        |m| value(m, total).is_some_and(|v| v >= 1.0),
        Duration::from_secs(60),
    )
    .await;
    stop(p).await;
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["canaries"]["dev-own"]["last"]["standing"], "ok");
    lab.shutdown().await;
}

/// `run -c cfg extra…` with dev's keys, which must stop at start-up with a usage error (exit 3);
/// its stderr.
fn usage_error(cfg: &Path, extra: &[&std::ffi::OsStr]) -> String {
    let out = std::process::Command::new(BIN)
        .args(["run", "-c"])
        .arg(cfg)
        .args(extra)
        .env("TEST_DEV_KEY", DEV_KEY)
        .env("TEST_DEV_SECRET", DEV_SECRET)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "{err}");
    err
}

#[test]
fn an_unusable_state_dir_or_web_config_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let cfg = dir.path().join("canaries.toml");
    let base = iot_canary_testkit::config::dev("127.0.0.1:1", "/nonexistent-ca.pem", "1s", "1s")
        + &canary("dev-own", "devices/dev-lamp/#", true);
    write_config(&cfg, &base, Some(&blocker.join("state")));
    let err = usage_error(&cfg, &[]);
    assert!(err.contains("[state] dir"), "{err}");

    // An unknown key in the web config file: exit 3, naming file, line and key.
    let web = iot_canary_testkit::write_file(
        dir.path(),
        "web.yml",
        "basic_auth_users: {}\ntls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_ca_fil: ca.pem\n",
    );
    write_config(&cfg, &base, None);
    let err = usage_error(
        &cfg,
        &[std::ffi::OsStr::new("--web.config.file"), web.as_os_str()],
    );
    let want = format!(
        "{}:5:3: `tls_server_config.client_ca_fil`: unknown field `client_ca_fil`",
        web.display()
    );
    assert!(err.contains(&want), "want {want} in {err}");
}
