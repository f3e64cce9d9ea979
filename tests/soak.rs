//! Bounded soak: `run` mode (in-process, 3 s interval) against an `iot-canary lab`
//! subprocess for IOT_CANARY_SOAK_SECS (default 150 s), with Cognito credentials that expire
//! every 10 s (so the cache rotates them all the time) and the lab SIGKILLed and restarted on
//! the same address every 40 s. Asserts: no missed rounds (no gap between round completions
//! beyond interval + probe timeout + slack), recovery after every restart, zero false denials
//! in any round, the lab's connection and socket counts back to zero after shutdown, the
//! daemon's open fds and live tokio tasks back to their baseline, and RSS flat.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iot_canary_core::config::Config;
use iot_canary_core::verdict::Standing;
use iot_canary_daemon::daemon::live::Live;
use iot_canary_daemon::daemon::service::{Control, Rounds, Service};
use iot_canary_daemon::daemon::{self as daemon_mod, Daemon, Shard};
use iot_canary_daemon::daemon::{CanaryReport, IdentitySource};
use iot_canary_daemon::identity::{Env, IdentityContext, IdentitySet, RefreshPolicy};
use iot_canary_testkit::net::free_port;
use iot_canary_testkit::process::LabProcess;
use iot_canary_testkit::scenario::{OPS, Scenario};
use iot_canary_testkit::verdicts::false_denied;

const TTL_SECS: u64 = 10;
const RESTART_EVERY: Duration = Duration::from_secs(40);

fn soak_secs() -> u64 {
    std::env::var("IOT_CANARY_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

/// The demo world with Cognito credentials that live `TTL_SECS`.
fn scenario() -> Scenario {
    Scenario::demo().set("cognito", "credentials_ttl", TTL_SECS as i64)
}

fn start_lab(dir: &std::path::Path, addr: &str) -> LabProcess {
    LabProcess::start(
        env!("CARGO_BIN_EXE_iot-canary"),
        &scenario(),
        dir,
        addr,
        true,
    )
}

fn parse(text: &str) -> Config {
    iot_canary_core::config::parse(std::path::Path::new("soak.toml"), text)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn config(mqtt: &str, sts: &str) -> String {
    iot_canary_testkit::fixture_with("configs/soak.toml", &[("endpoint", mqtt), ("sts", sts)])
}

/// A TCP relay from a fixed local port to whatever `upstream` (`http://host:port`) names.
async fn relay(upstream: Arc<Mutex<String>>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = l.accept().await {
            let target = upstream
                .lock()
                .unwrap()
                .trim_start_matches("http://")
                .to_string();
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    url
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_rotation_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut lab = start_lab(dir.path(), &addr);
    // The identity plane takes a fresh port at every lab start; a relay on a fixed port
    // follows it, so the daemon's endpoint stays put across restarts.
    let upstream = Arc::new(Mutex::new(lab.ready["sts"].as_str().unwrap().to_string()));
    let sts = relay(upstream.clone()).await;
    let cfg = parse(&config(&lab.mqtt(), &sts));
    let env = Env::isolated([
        ("OPS_KEY", OPS.0),
        ("OPS_SECRET", OPS.1),
        ("ALICE_PASSWORD", "alice-lab-password-1"),
    ]);
    // The config's [endpoints] put STS and both Cognito services behind the relay.
    let ctx = IdentityContext::new(cfg.target.region.clone(), cfg.endpoints.clone()).with_env(env);
    let policy = RefreshPolicy {
        fetch_timeout: Duration::from_secs(3),
        // Lab credentials live 10 s: refresh in their last 4 s, hand out none with < 2 s left.
        max_lead: Duration::from_secs(4),
        min_validity: Duration::from_secs(2),
        ..RefreshPolicy::default()
    };
    let specs: Vec<_> = cfg.identities.iter().map(|i| i.config.clone()).collect();
    let set = IdentitySet::build(&specs, &ctx, &policy).unwrap();
    let ids: BTreeMap<String, Arc<dyn IdentitySource>> = set
        .iter()
        .map(|(n, c)| (n.to_string(), c.clone() as Arc<dyn IdentitySource>))
        .collect();
    let endpoint = daemon_mod::endpoint(&cfg).expect("endpoint");
    let d = Arc::new(Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL));

    let handle = tokio::runtime::Handle::current();
    // Baselines are taken once warmed up (round 5): by then the SDK's idle HTTP connections,
    // the relay and the pooled MQTT connection exist; anything growing past them leaks.
    let mut tasks_before = 0;
    let mut fds_before = 0;

    let reports: Arc<Mutex<Vec<CanaryReport>>> = Default::default();
    let sink = reports.clone();
    // The production loop (`run`'s): idle close and memory trim between rounds included.
    let (stop_tx, stop_rx) = tokio::sync::mpsc::channel(1);
    let mut svc = Service::new(
        Live::without_alerts(d.config.clone(), d.store.clone()),
        &d,
        Rounds::Forever,
    );
    svc.grace = Duration::from_secs(10);
    svc.on_verdict = Arc::new(move |r: &CanaryReport| sink.lock().unwrap().push(r.clone()));
    let runner = tokio::spawn(svc.run(d.clone(), stop_rx));

    let soak = Duration::from_secs(soak_secs());
    let started = Instant::now();
    // (rounds so far, when the daemon completed the last of them): the daemon's own clock, so
    // time this loop spends restarting the lab is not counted as a scheduling gap.
    let mut completions: Vec<(u64, std::time::SystemTime)> = Vec::new();
    let mut last_rounds = 0;
    let mut expiries = BTreeSet::new();
    let mut rss_samples = Vec::new();
    let mut restarts: Vec<(Instant, u64)> = Vec::new();
    let mut next_restart = started + RESTART_EVERY.min(soak / 3);
    let mut warm_rss = None;
    while started.elapsed() < soak {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let snap = d.store.snapshot();
        if snap.rounds != last_rounds {
            last_rounds = snap.rounds;
            if let Some(at) = snap.round_completed {
                completions.push((snap.rounds, at));
            }
            rss_samples.push(rss_mib());
            if snap.rounds == 5 {
                warm_rss = Some(rss_mib());
                tasks_before = handle.metrics().num_alive_tasks();
                fds_before = fds();
            }
        }
        if let Some(e) = snap.credentials.get("alice").and_then(|c| c.expiration) {
            expiries.insert(e);
        }
        if Instant::now() >= next_restart && started.elapsed() + soak / 3 < soak {
            lab.kill();
            // Down for a couple of rounds, then back on the same addresses.
            tokio::time::sleep(Duration::from_secs(3)).await;
            lab = start_lab(dir.path(), &addr);
            *upstream.lock().unwrap() = lab.ready["sts"].as_str().unwrap().to_string();
            restarts.push((Instant::now(), d.store.snapshot().rounds));
            next_restart = Instant::now() + RESTART_EVERY.min(soak / 3);
        }
    }
    let _ = stop_tx.send(Control::Stop).await;
    tokio::time::timeout(Duration::from_secs(60), runner)
        .await
        .expect("run stops")
        .unwrap();

    let all = reports.lock().unwrap().clone();
    if let Some(last) = all.last() {
        println!(
            "soak: last report {} {:?} {:?}",
            last.canary,
            last.verdict,
            last.evidence.steps.first()
        );
    }
    let rounds = d.store.snapshot().rounds;
    println!(
        "soak: {:.0} s, {rounds} rounds, {} reports, {} lab restarts, {} credential rotations seen, RSS {:.1}→{:.1} MiB",
        started.elapsed().as_secs_f64(),
        all.len(),
        restarts.len(),
        expiries.len(),
        warm_rss.unwrap_or(0.0),
        rss_samples.last().copied().unwrap_or(0.0)
    );
    // No missed rounds: a round can take up to the probe timeout (+ the backstop) when the
    // lab is down; beyond that the scheduler missed one.
    let limit = Duration::from_secs(3) + Duration::from_secs(3) + Duration::from_secs(6);
    for w in completions.windows(2) {
        // Polling can miss a round while the lab restarts: k rounds may span k limits.
        let (k, gap) = (
            w[1].0 - w[0].0,
            w[1].1.duration_since(w[0].1).unwrap_or_default(),
        );
        assert!(
            gap <= limit * u32::try_from(k).unwrap_or(u32::MAX),
            "gap of {gap:?} over {k} round(s)"
        );
    }
    assert!(
        rounds >= soak.as_secs() / 8,
        "only {rounds} rounds in {soak:?}"
    );
    assert_eq!(false_denied(&all), 0, "false denials during the soak");
    assert!(!restarts.is_empty(), "the soak must restart the lab");
    assert!(
        expiries.len() as u64 >= soak.as_secs() / TTL_SECS / 3,
        "credentials rotated only {} times",
        expiries.len()
    );
    // Recovery: the last rounds (well after the last restart) are all ok again.
    let per_round = 6;
    let tail: Vec<_> = all.iter().rev().take(per_round * 2).collect();
    for r in &tail {
        assert_eq!(
            r.standing,
            Standing::Ok,
            "{} after recovery: {:?}",
            r.canary,
            r.verdict
        );
    }
    // Nothing left open at the lab (bounded wait for the lab to notice closed sockets).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = lab.state();
        if st["connections"] == 0 && st["sockets_open"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "leaked connections: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing left running in the daemon.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (tasks, fds_now) = (handle.metrics().num_alive_tasks(), fds());
        if tasks <= tasks_before + 2 && fds_now <= fds_before + 4 {
            println!("soak: tasks {tasks_before}→{tasks}, fds {fds_before}→{fds_now}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "leaked: tasks {tasks_before}→{tasks}, fds {fds_before}→{fds_now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // RSS flat: the end of the soak within 1.5× (+ 8 MiB) of the warmed-up value.
    let (warm, end) = (warm_rss.unwrap_or(0.0), rss_mib());
    assert!(
        end <= warm * 1.5 + 8.0,
        "RSS grew from {warm:.1} to {end:.1} MiB"
    );
}
