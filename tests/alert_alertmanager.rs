//! The Alertmanager notifier against a real Alertmanager (Debian `prometheus-alertmanager`)
//! started by the test on a loopback port: a breach is posted, read back through
//! `GET /api/v2/alerts`, then resolved.

mod alert_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alert_support::{WAIT, settings};
use iot_canary::alert::delivery::Dispatcher;
use iot_canary::alert_core::{AlertState, CanaryResult};
use iot_canary::config::alerting::AlertingConfig;
use iot_canary::verdict::{Expect, ProbeAction, Standing, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = "/usr/bin/prometheus-alertmanager";

struct Am {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Am {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Plain HTTP/1.0 GET (no chunked encoding to decode); returns (status, body).
async fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

async fn start_alertmanager() -> Am {
    assert!(
        std::path::Path::new(BIN).exists(),
        "{BIN} missing: run scripts/test-deps.sh (Debian package prometheus-alertmanager)"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: blackhole\n  group_wait: 0s\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    // Alertmanager cannot report the port it bound, so pick a free one and hand it over.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--config.file={}", cfg.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertmanager");
    let am = Am {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok((200, _)) = get(port, "/-/ready").await {
            return am;
        }
        assert!(
            Instant::now() < deadline,
            "alertmanager not ready on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Our alert as Alertmanager lists it (None while absent).
async fn find(port: u16, canary: &str) -> Option<serde_json::Value> {
    let (status, body) = get(port, "/api/v2/alerts").await.ok()?;
    assert_eq!(status, 200, "{body}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).expect("alerts JSON");
    list.into_iter().find(|a| a["labels"]["canary"] == canary)
}

/// Polls the API until `cond` holds: Alertmanager ingests asynchronously.
async fn wait_for(
    port: u16,
    canary: &str,
    cond: impl Fn(&Option<serde_json::Value>) -> bool,
) -> Option<serde_json::Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let a = find(port, canary).await;
        if cond(&a) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "alertmanager state not reached: {a:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn breach_reaches_alertmanager_and_resolves() {
    let am = start_alertmanager().await;
    let cfg = format!(
        "[[notifier]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"http://127.0.0.1:{}\"\n",
        am.port
    );
    let d = Dispatcher::start(&settings(&cfg, &[])).unwrap();
    let mut st = AlertState::new(&AlertingConfig {
        dashboard_url: Some("http://grafana.example/d/iot-canary".into()),
        ..AlertingConfig::default()
    });
    let canary = "alice-cannot-publish-to-bobs-lamp";
    let ev = vec![
        "PUBACK 0x00 success".to_string(),
        "witness received the canary's publish".to_string(),
    ];
    let mut obs = CanaryResult {
        canary,
        identity: "alice",
        action: ProbeAction::Publish,
        expect: Expect::Deny,
        verdict: Verdict::Allowed,
        standing: Standing::Breach,
        evidence: &ev,
    };
    // Alertmanager drops alerts whose endsAt is already past, so use the real clock here.
    let now = std::time::SystemTime::now();
    d.submit(&st.observe(&obs, now));
    assert!(d.drain(WAIT).await);

    let a = wait_for(am.port, canary, |a| a.is_some()).await.unwrap();
    assert_eq!(a["labels"]["alertname"], "IotCanaryBreach");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["labels"]["identity"], "alice");
    assert_eq!(a["labels"]["action"], "publish");
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(
        a["annotations"]["evidence"],
        "PUBACK 0x00 success\nwitness received the canary's publish"
    );
    assert_eq!(
        a["annotations"]["dashboard_url"],
        "http://grafana.example/d/iot-canary"
    );
    assert_eq!(a["generatorURL"], "http://grafana.example/d/iot-canary");

    let ok_ev = vec!["PUBACK 0x87 not authorized".to_string()];
    obs.verdict = Verdict::Denied;
    obs.standing = Standing::Ok;
    obs.evidence = &ok_ev;
    let resolve = st.observe(&obs, std::time::SystemTime::now());
    assert_eq!(resolve.len(), 1);
    d.submit(&resolve);
    assert!(d.drain(WAIT).await);
    // The v2 API lists only unresolved alerts: ours must disappear.
    wait_for(am.port, canary, |a| a.is_none()).await;

    let h = d.stats().get("am").cloned().unwrap();
    assert!(h.success >= 2, "{h:?}");
    assert_eq!(h.failure, 0);
}
