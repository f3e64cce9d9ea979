//! `iot-canary run` as a service, driven through the built binary against the in-process lab:
//! the sd_notify protocol (READY=1, WATCHDOG=1, STOPPING=1 on a Unix datagram socket set as
//! NOTIFY_SOCKET), SIGTERM draining the round in flight, and SIGHUP reloads (valid applied,
//! invalid rejected with the old config still probing).

use std::time::{Duration, Instant};

use iot_canary_testkit::lab::Admin;

use crate::support::*;
use tokio::net::UnixDatagram;

async fn recv(sock: &UnixDatagram, limit: Duration) -> String {
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(limit, sock.recv(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no sd_notify datagram within {limit:?}"))
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sd_notify_ready_then_watchdog_and_sigterm_drains_the_round_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path(), &tight_dev_policy()).await;
    let cfg_path = dir.path().join("canaries.toml");
    let extra = format!(
        "{}{}",
        canary("dev-own", "devices/dev-lamp/#", true),
        canary("dev-other", "devices/other/#", false)
    );
    std::fs::write(&cfg_path, config(&lab, "2s", &extra)).unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();

    let mut p = RunProc::spawn(
        &cfg_path,
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            // 1 s watchdog: pings every 0.5 s.
            ("WATCHDOG_USEC", "1000000"),
        ],
    )
    .await;
    assert_eq!(recv(&sock, Duration::from_secs(60)).await, "READY=1");
    let mut seen = Vec::new();
    loop {
        let m = recv(&sock, Duration::from_secs(10)).await;
        if m == "WATCHDOG=1" {
            break;
        }
        seen.push(m);
    }
    assert!(
        seen.is_empty(),
        "unexpected notifications before the first WATCHDOG=1: {seen:?}"
    );
    p.wait_metrics(
        "a first round",
        |m| value(m, "iot_canary_round_last_completed_timestamp_seconds").is_some_and(|v| v > 0.0),
        Duration::from_secs(60),
    )
    .await;

    // Make the next round slow: new connections stall until the probe timeout (2 s), and the
    // pooled MQTT 5 connections are dropped so the probes must reconnect.
    let admin = Admin::of(&lab);
    admin.set_faults(r#"{"stall":true}"#).await;
    admin.disconnect_all().await;
    let mark = p.lines().len();
    let (started_at, _) = p
        .wait_line(mark, "round started", Duration::from_secs(30))
        .await;
    let t0 = Instant::now();
    p.signal("TERM");

    // STOPPING=1 follows (watchdog pings may come first).
    loop {
        let m = recv(&sock, Duration::from_secs(10)).await;
        if m == "STOPPING=1" {
            break;
        }
        assert_eq!(m, "WATCHDOG=1");
    }
    let (stop_at, _) = p
        .wait_line(
            started_at,
            "letting the round in flight finish",
            Duration::from_secs(10),
        )
        .await;
    let status = tokio::time::timeout(Duration::from_secs(30), p.child.wait())
        .await
        .expect("exits within the stop timeout")
        .unwrap();
    let took = t0.elapsed();
    assert!(status.success(), "exit {status}");
    let lines = p.lines();
    // The in-flight round finished: the daemon said a round was in flight when the stop came
    // (`stop_at`), the round's verdicts all landed, then "stopped". Counted from the round's
    // start: on a loaded machine a verdict may land before the stop line is written.
    assert!(stop_at > started_at);
    let verdicts_after: Vec<&String> = lines[started_at..]
        .iter()
        .filter(|l| l.contains("\"message\":\"verdict\""))
        .collect();
    assert_eq!(verdicts_after.len(), 2, "log:\n{}", lines.join("\n"));
    assert!(
        verdicts_after.iter().all(|l| l.contains("inconclusive")),
        "{verdicts_after:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("abandoned the round") || l.contains("drain deadline passed"))
    );
    assert!(
        lines.last().unwrap().contains("\"message\":\"stopped\""),
        "{:?}",
        lines.last()
    );
    eprintln!(
        "SIGTERM to exit with a stalled round in flight: {} ms",
        took.as_millis()
    );
    // Secrets never reach the log.
    assert!(!lines.iter().any(|l| l.contains(DEV_SECRET)));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_a_valid_config_and_rejects_an_invalid_one() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path(), &tight_dev_policy()).await;
    let cfg_path = dir.path().join("canaries.toml");
    let own = canary("dev-own", "devices/dev-lamp/#", true);
    let first = format!("{own}{}", canary("dev-other", "devices/other/#", false));
    std::fs::write(&cfg_path, config(&lab, "1s", &first)).unwrap();
    let mut p = RunProc::spawn(&cfg_path, &[]).await;
    let other = "iot_canary_breach{canary=\"dev-other\",identity=\"dev\",action=\"subscribe\"}";
    p.wait_metrics(
        "dev-other probed",
        |m| value(m, "iot_canary_probes_total{canary=\"dev-other\",identity=\"dev\",action=\"subscribe\",verdict=\"denied\"}").is_some_and(|v| v >= 1.0),
        Duration::from_secs(60),
    )
    .await;

    // The container HEALTHCHECK command against the running daemon.
    let hc = std::process::Command::new(BIN)
        .args([
            "healthcheck",
            "--url",
            &format!("http://{}/healthz", p.metrics),
        ])
        .status()
        .unwrap();
    assert_eq!(hc.code(), Some(0));

    // Valid change: dev-other removed, dev-new added.
    let second = format!("{own}{}", canary("dev-new", "devices/new/#", false));
    std::fs::write(&cfg_path, config(&lab, "1s", &second)).unwrap();
    p.signal("HUP");
    let new_denied = "iot_canary_probes_total{canary=\"dev-new\",identity=\"dev\",action=\"subscribe\",verdict=\"denied\"}";
    let m = p
        .wait_metrics(
            "dev-new probed after the reload",
            |m| value(m, new_denied).is_some_and(|v| v >= 1.0),
            Duration::from_secs(60),
        )
        .await;
    assert!(
        !m.contains("canary=\"dev-other\""),
        "removed canary's series remain:\n{m}"
    );
    assert!(value(&m, other).is_none());
    assert_eq!(
        value(&m, "iot_canary_config_last_reload_successful"),
        Some(1.0)
    );
    p.wait_log(
        |l| l.contains("config reloaded") && l.contains("dev-new"),
        Duration::from_secs(5),
    )
    .await;
    let page = get(p.metrics, "/").await;
    assert!(
        page.contains("data-canary=\"dev-new\"") && !page.contains("data-canary=\"dev-other\"")
    );

    // Invalid change: an unknown key on a known line. Rejected, located, old config keeps going.
    let bad = config(&lab, "1s", &second)
        .replace("jitter = \"0%\"", "jitter = \"0%\"\nintervall = \"5s\"");
    let bad_line = bad
        .lines()
        .position(|l| l.starts_with("intervall"))
        .unwrap()
        + 1;
    std::fs::write(&cfg_path, &bad).unwrap();
    let before = value(&get(p.metrics, "/metrics").await, new_denied).unwrap();
    p.signal("HUP");
    let rejected = p
        .wait_log(
            |l| l.contains("config reload rejected"),
            Duration::from_secs(30),
        )
        .await;
    let want = format!("{}:{bad_line}:1: `schedule.intervall`", cfg_path.display());
    assert!(rejected.contains(&want), "want {want} in {rejected}");
    p.wait_metrics(
        "reload flag 0 and the old config still probing",
        |m| {
            value(m, "iot_canary_config_last_reload_successful") == Some(0.0)
                && value(m, new_denied).is_some_and(|v| v >= before + 2.0)
        },
        Duration::from_secs(60),
    )
    .await;

    // Fixing the file and reloading again clears the flag.
    std::fs::write(&cfg_path, config(&lab, "1s", &second)).unwrap();
    p.signal("HUP");
    p.wait_metrics(
        "reload flag back to 1",
        |m| value(m, "iot_canary_config_last_reload_successful") == Some(1.0),
        Duration::from_secs(30),
    )
    .await;
    assert!(!p.lines().iter().any(|l| l.contains(DEV_SECRET)));
    p.signal("TERM");
    let st = tokio::time::timeout(Duration::from_secs(30), p.child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(st.success());
    lab.shutdown().await;
}
