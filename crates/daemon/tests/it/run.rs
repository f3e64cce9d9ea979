//! `run` mode: a policy change through the lab's admin API flips the breach metric within one
//! interval, and /readyz turns ready after the first round.

use std::sync::Arc;
use std::time::{Duration, Instant};

use iot_canary_daemon::daemon::live::Live;
use iot_canary_daemon::daemon::service::{Control, Rounds, Service};
use iot_canary_daemon::daemon::{self, Daemon};
use iot_canary_lab::RunningLab;
use iot_canary_testkit::config::{dev, dev_subscribe_canary};
use iot_canary_testkit::lab::{self, Admin};
use iot_canary_testkit::scenario::{DEV, Scenario};
use iot_canary_testkit::{HOLE, net, policy};

use crate::support::{daemon_with_keys, parse};

/// The dev-lamp world with dev limited to subscribing to its own lamp, over TLS in `dir`.
async fn start_lab(dir: &std::path::Path) -> RunningLab {
    let scenario = Scenario::fixture("dev-lamp").policy("Dev", &policy("dev-subscribe-only"));
    lab::start_tls(&scenario, dir).await
}

/// A daemon with dev's two subscribe canaries: its own lamp (control) and another's.
fn daemon_for(lab: &RunningLab, interval: &str, timeout: &str) -> Arc<Daemon> {
    let text = dev(
        &lab.endpoints.mqtt,
        &lab.endpoints.ca_file,
        interval,
        timeout,
    ) + &dev_subscribe_canary("dev-own", "devices/dev-lamp/#", true)
        + &dev_subscribe_canary("dev-other", "devices/other/#", false);
    Arc::new(daemon_with_keys(parse("run.toml", &text), &[("dev", DEV)]))
}

/// Status line and body of a GET.
async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    net::get(addr, path).await.raw()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_policy_change_flips_breach_metric_within_one_interval() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path()).await;
    let d = daemon_for(&lab, "1s", "1s");
    let live = Live::without_alerts(d.config.clone(), d.store.clone());
    let addr =
        iot_canary_daemon::observe::http::serve_live("127.0.0.1:0".parse().unwrap(), live.clone())
            .await
            .unwrap();
    let breach_line =
        "iot_canary_breach{canary=\"dev-other\",identity=\"dev\",action=\"subscribe\"}";
    let m = get(addr, "/metrics").await;
    assert!(
        m.contains(&format!("{breach_line} 0")),
        "initialised before any probe:\n{m}"
    );

    let (stop_tx, stop_rx) = tokio::sync::mpsc::channel(1);
    let mut svc = Service::new(live, &d, Rounds::Forever);
    svc.grace = Duration::from_secs(5);
    let runner = tokio::spawn(svc.run(d.clone(), stop_rx));

    // Wait (bounded) for the first round: ready, tight, breach 0.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get(addr, "/readyz").await.contains("200") {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        get(addr, "/metrics")
            .await
            .contains(&format!("{breach_line} 0"))
    );

    // Open the hole through the admin API.
    Admin::of(&lab).put_policy("Dev", HOLE).await;
    let changed = Instant::now();

    // Within one interval (1s) plus one round's duration (timeout 1s) plus slack for a loaded
    // machine, the breach metric must read 1.
    loop {
        if get(addr, "/metrics")
            .await
            .contains(&format!("{breach_line} 1"))
        {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(20),
            "breach metric never flipped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let flipped_after = changed.elapsed();
    eprintln!(
        "breach metric flipped {} ms after the admin change",
        flipped_after.as_millis()
    );
    let _ = stop_tx.send(Control::Stop).await;
    tokio::time::timeout(Duration::from_secs(20), runner)
        .await
        .expect("run mode shuts down")
        .unwrap();
    lab.shutdown().await;
}

/// Shutdown with probes stuck in flight (the lab stalls every upgrade): at the drain deadline
/// they are abandoned as `inconclusive(aborted)`, and that round is recorded, not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_abandoned_at_the_drain_deadline_are_recorded_as_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path()).await;
    lab.state().set_faults(iot_canary_lab::state::Faults {
        stall: true,
        ..Default::default()
    });
    let d = daemon_for(&lab, "60s", "60s");
    let (stop_tx, stop_rx) = tokio::sync::mpsc::channel(1);
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut svc = Service::new(
        Live::without_alerts(d.config.clone(), d.store.clone()),
        &d,
        Rounds::Forever,
    );
    svc.grace = Duration::from_millis(500);
    svc.on_verdict = Arc::new(move |r: &daemon::CanaryReport| {
        let _ = seen_tx.send(r.clone());
    });
    let runner = tokio::spawn(svc.run(d.clone(), stop_rx));
    // Wait until the deny probe is stuck on the stalled upgrade (its control is queued behind
    // it: controls run after the denials they confirm).
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.pool.connects() < 1 {
        assert!(Instant::now() < deadline, "probes never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = Instant::now();
    let _ = stop_tx.send(Control::Stop).await;
    tokio::time::timeout(Duration::from_secs(20), runner)
        .await
        .expect("run mode stops after the drain deadline")
        .unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "took {:?}",
        stopped.elapsed()
    );
    let mut seen = Vec::new();
    while let Ok(r) = seen_rx.try_recv() {
        seen.push(r);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    let snap = d.store.snapshot();
    for name in ["dev-own", "dev-other"] {
        let r = &snap.latest[name];
        assert_eq!(
            r.verdict,
            iot_canary_core::verdict::Verdict::Inconclusive(
                iot_canary_core::verdict::Reason::Aborted
            ),
            "{name}: {r:?}"
        );
        assert!(
            r.evidence
                .steps
                .iter()
                .any(|s| s.what.contains("drain deadline")),
            "{r:?}"
        );
    }
    assert_eq!(snap.rounds, 1);
    lab.shutdown().await;
}
