//! Rounds on demand (`POST /-/probe`, SIGUSR1 as `Control::Trigger`): with the interval at an
//! hour, every round after the first comes from a trigger. The tests wait on the round-start
//! signal (`Live::round_starts`) and on round completion in the store, never on time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iot_canary_core::trigger::Trigger;
use iot_canary_daemon::daemon::Daemon;
use iot_canary_daemon::daemon::live::Live;
use iot_canary_daemon::daemon::service::{Control, Rounds, Service};
use iot_canary_lab::RunningLab;
use iot_canary_testkit::config::{dev, dev_subscribe_canary};
use iot_canary_testkit::lab::{self, Admin};
use iot_canary_testkit::scenario::{DEV, Scenario};
use iot_canary_testkit::{HOLE, net, policy};
use tokio::sync::mpsc;

use crate::support::{daemon_with_keys, parse};

const BREACH: &str =
    "iot_canary_breach{canary=\"dev-other\",identity=\"dev\",action=\"subscribe\"}";

/// A lab where dev may subscribe only to its own lamp.
async fn start_lab(dir: &std::path::Path) -> RunningLab {
    let scenario = Scenario::fixture("dev-lamp").policy("Dev", &policy("dev-subscribe-only"));
    lab::start_tls(&scenario, dir).await
}

/// dev's two subscribe canaries, the interval at an hour (every later round is a trigger's),
/// `[server] trigger` as given and a watch that never adds a round of its own in a test.
fn daemon_for(lab: &RunningLab, trigger: bool, timeout: &str) -> Arc<Daemon> {
    // AWS (and the lab) allow one CONNECT per second per client id: a round right after the
    // last one must be paced by the daemon, not refused, so the 1 s default stays.
    let text = dev(&lab.endpoints.mqtt, &lab.endpoints.ca_file, "1h", timeout)
        .replace("connect_interval = \"10ms\"", "connect_interval = \"1s\"").replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:0\"\ntrigger = {trigger}\n\n[trigger]\nevery = \"1h\"\nwatch = \"1h\""),
    ) + &dev_subscribe_canary("dev-own", "devices/dev-lamp/#", true)
        + &dev_subscribe_canary("dev-other", "devices/other/#", false);
    Arc::new(daemon_with_keys(
        parse("trigger.toml", &text),
        &[("dev", DEV)],
    ))
}

struct Running {
    d: Arc<Daemon>,
    live: Arc<Live>,
    addr: SocketAddr,
    stop: mpsc::Sender<Control>,
    runner: tokio::task::JoinHandle<iot_canary_daemon::daemon::service::Outcome>,
}

async fn start(d: Arc<Daemon>) -> Running {
    let live = Live::without_alerts(d.config.clone(), d.store.clone());
    let addr =
        iot_canary_daemon::observe::http::serve_live("127.0.0.1:0".parse().unwrap(), live.clone())
            .await
            .unwrap();
    let (stop, rx) = mpsc::channel(8);
    let mut svc = Service::new(live.clone(), &d, Rounds::Forever);
    svc.grace = Duration::from_millis(200);
    let runner = tokio::spawn(svc.run(d.clone(), rx));
    let r = Running {
        d,
        live,
        addr,
        stop,
        runner,
    };
    r.rounds_done(1).await;
    r
}

impl Running {
    /// Waits (bounded) until `n` rounds have completed.
    async fn rounds_done(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.d.store.snapshot().rounds < n {
            assert!(Instant::now() < deadline, "round {n} never completed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits on the round-start signal for the `n`th round; returns what started it.
    async fn round_started(&self, n: u64) -> Trigger {
        let mut rx = self.live.round_starts();
        let r = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|(k, _)| *k >= n))
            .await
            .unwrap_or_else(|_| panic!("round {n} never started"))
            .expect("the loop holds the sender");
        r.1
    }

    async fn post(&self) -> net::Response {
        net::request_raw(self.addr, "POST", "/-/probe", &[], b"").await
    }

    async fn metric(&self, line: &str) -> Option<f64> {
        let m = net::get(self.addr, "/metrics").await.body;
        m.lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
    }

    async fn stop(self) -> iot_canary_daemon::daemon::service::Outcome {
        let _ = self.stop.send(Control::Stop).await;
        tokio::time::timeout(Duration::from_secs(60), self.runner)
            .await
            .expect("run mode stops")
            .unwrap()
    }
}

/// A daemon whose second round, started by `POST /-/probe`, is running and stays stuck: the
/// lab stalls every upgrade and the probe timeout outlasts the test, which ends the round with
/// `abort_in_flight` or a stop.
async fn a_triggered_round_held(dir: &std::path::Path) -> (RunningLab, Running) {
    let lab = start_lab(dir).await;
    let r = start(daemon_for(&lab, true, "10m")).await;
    lab.state().set_faults(iot_canary_lab::state::Faults {
        stall: true,
        ..Default::default()
    });
    assert_eq!(r.post().await.body, "starting\n");
    assert_eq!(r.round_started(2).await, Trigger::Http);
    (lab, r)
}

fn rounds(trigger: &str) -> String {
    format!("iot_canary_rounds_total{{trigger=\"{trigger}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_then_a_trigger_flips_the_breach_metric_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path()).await;
    let r = start(daemon_for(&lab, true, "10s")).await;
    assert_eq!(r.metric(BREACH).await, Some(0.0));
    // Every label value exists from the start.
    assert_eq!(r.metric(&rounds("interval")).await, Some(1.0));
    assert_eq!(r.metric(&rounds("http")).await, Some(0.0));
    assert_eq!(r.metric(&rounds("signal")).await, Some(0.0));

    Admin::of(&lab).put_policy("Dev", HOLE).await;
    let resp = r.post().await;
    assert_eq!(
        (resp.status, resp.body.as_str()),
        (202, "starting\n"),
        "{}",
        resp.raw()
    );
    assert_eq!(r.round_started(2).await, Trigger::Http);
    r.rounds_done(2).await;
    let latest = r.d.store.snapshot().latest;
    assert_eq!(
        r.metric(BREACH).await,
        Some(1.0),
        "the interval is an hour: only the trigger ran it: {latest:#?}"
    );
    assert_eq!(r.metric(&rounds("http")).await, Some(1.0));
    let page = net::get(r.addr, "/").await.body;
    assert!(page.contains("data-trigger=\"http\""), "{page}");
    assert!(page.contains("<dt>watch</dt>"), "a watch is on: {page}");

    // SIGUSR1 reaches the loop as a control: a round marked `signal`.
    r.stop
        .send(Control::Trigger(Trigger::Signal))
        .await
        .unwrap();
    assert_eq!(r.round_started(3).await, Trigger::Signal);
    r.rounds_done(3).await;
    assert_eq!(r.metric(&rounds("signal")).await, Some(1.0));
    r.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_twenty_yields_one_running_and_at_most_one_waiting_round() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, r) = a_triggered_round_held(dir.path()).await;
    // Round 2 is running (stalled): the burst queues one round and joins the rest to it.
    let burst = futures_util::future::join_all((0..20).map(|_| r.post())).await;
    let mut answers: Vec<(u16, String)> =
        burst.iter().map(|b| (b.status, b.body.clone())).collect();
    answers.sort();
    let queued = answers.iter().filter(|a| a.1 == "queued\n").count();
    let joined = answers.iter().filter(|a| a.1 == "joined\n").count();
    assert_eq!((queued, joined), (1, 19), "{answers:?}");
    assert!(answers.iter().all(|a| a.0 == 202));

    // End the stalled round: exactly one more round (the waiting one) follows.
    lab.state().set_faults(Default::default());
    r.d.abort_in_flight();
    assert_eq!(r.round_started(3).await, Trigger::Http);
    r.rounds_done(3).await;
    let snap = r.d.store.snapshot();
    assert_eq!(
        snap.rounds_by_trigger,
        [1, 2, 0],
        "one running, one waiting"
    );
    assert_eq!(r.live.round_starts().borrow().0, 3);
    assert_eq!(r.metric(&rounds("http")).await, Some(2.0));
    r.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_it_is_refused_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path()).await;
    let r = start(daemon_for(&lab, false, "10s")).await;
    let resp = r.post().await;
    assert_eq!(resp.status, 403, "{}", resp.raw());
    assert!(
        resp.body.contains("[server] trigger = true"),
        "{}",
        resp.body
    );
    let get = net::get(r.addr, "/-/probe").await;
    assert_eq!(get.status, 405, "only POST triggers: {}", get.raw());
    assert_eq!(r.live.round_starts().borrow().0, 1);
    assert_eq!(r.metric(&rounds("http")).await, Some(0.0));
    r.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_during_shutdown_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, r) = a_triggered_round_held(dir.path()).await;
    // Stop while round 2 is stuck; triggers racing the stop may queue, but once the loop has
    // seen the stop they are refused, and nothing queued before it runs.
    r.stop.send(Control::Stop).await.unwrap();
    r.stop
        .send(Control::Trigger(Trigger::Signal))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let resp = r.post().await;
        assert!(matches!(resp.status, 202 | 503), "{}", resp.raw());
        if resp.status == 503 {
            assert_eq!(resp.body, "stopping\n");
            break;
        }
        assert!(Instant::now() < deadline, "the stop was never seen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (live, d) = (r.live.clone(), r.d.clone());
    let outcome = r.stop().await;
    assert!(outcome.interrupted, "the stalled round was cut short");
    assert_eq!(live.round_starts().borrow().0, 2, "no round after the stop");
    assert_eq!(d.store.snapshot().rounds_by_trigger, [1, 1, 0]);
    lab.shutdown().await;
}
