//! One honesty world through the production path: the lab (with the world's `[realism]`
//! profile, seeded by the world's seed) in-process, the daemon's config parsed and its
//! identities built as `run` and `once` build them, one real `Daemon::round`, and the tally
//! against the engine (iot_canary_testkit::honesty). Shared by the CI test (`super`) and the
//! benchmark binary (`benches/honesty.rs`), so both run exactly this.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use iot_canary_core::config;
use iot_canary_core::store::CanaryReport;
use iot_canary_daemon::daemon::{self, Daemon, Shard, identities};
use iot_canary_daemon::identity::Env;
use iot_canary_testkit::honesty::{Tally, World, WorldSize};
use iot_canary_testkit::lab::{self, Options};
use iot_canary_testkit::scenario::Scenario;

/// Whether the config schema has `marker_topic` (the evidence rules' liveness markers).
const MARKERS: bool = false;

/// How a run is shaped.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The lab's realism profile (`aws`, `chaos`).
    pub profile: &'static str,
    pub size: WorldSize,
    /// `[schedule] concurrency` of the daemon.
    pub concurrency: usize,
}

/// Generates the world of `seed`, runs one round of its canaries and returns the world (with
/// the engine's answers) and the round's reports.
pub async fn run_world(seed: u64, s: &Settings) -> (World, Vec<CanaryReport>) {
    let mut world = World::generate(seed, s.profile, s.size);
    let scenario = Scenario::from_text(&format!("honesty-{seed}"), &world.scenario_text());
    let lab = lab::start(&scenario, Options::plain()).await;
    world.register(&lab.state());
    world.decide_truth(&lab.state());
    let text = format!(
        r#"[target]
region = "us-east-1"
endpoint = "{endpoint}"
client_id = "w-${{canary}}"

[schedule]
concurrency = {concurrency}
{canaries}"#,
        endpoint = lab.endpoints.mqtt,
        concurrency = s.concurrency,
        canaries = world.canaries_toml(MARKERS),
    );
    let cfg = config::parse(Path::new(&format!("honesty-{seed}.toml")), &text)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
    let ids = identities::build(&cfg, Env::isolated(world.env()))
        .unwrap_or_else(|e| panic!("seed {seed}: identities: {e}"));
    let endpoint = daemon::endpoint(&cfg).expect("plain endpoint needs no CA");
    let d = Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL);
    // The round bounds itself (per-probe timeouts); this only turns a hang into a failure.
    let reports = tokio::time::timeout(Duration::from_secs(600), d.round(None, &|_| {}))
        .await
        .unwrap_or_else(|_| panic!("seed {seed}: the round did not finish in 600 s"));
    drop(d);
    lab.shutdown().await;
    (world, reports)
}

/// Runs the worlds of `seeds`, `parallel` at a time (each with its own lab and daemon), and
/// tallies them; `progress` sees the tally after each batch.
pub async fn run_worlds(
    seeds: &[u64],
    s: &Settings,
    parallel: usize,
    progress: &dyn Fn(&Tally),
) -> Tally {
    let mut tally = Tally::default();
    for chunk in seeds.chunks(parallel.max(1)) {
        let mut set = tokio::task::JoinSet::new();
        for &seed in chunk {
            let s = *s;
            set.spawn(async move { run_world(seed, &s).await });
        }
        while let Some(done) = set.join_next().await {
            let (world, reports) =
                done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            tally.record(&world, &reports);
        }
        progress(&tally);
    }
    tally
}
