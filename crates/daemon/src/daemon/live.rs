//! What the HTTP surface reads while the daemon runs: the current config (swapped on reload),
//! the results store, alert delivery counters and process facts. Rendering stays pure in the
//! core; this only gathers the inputs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use super::alerting::Alerting;
use super::store::Store;
use crate::observe::process::ProcessMetrics;
use iot_canary_core::config::Config;
use iot_canary_core::render::metrics::{self, EncodeError, Extras, Format};
use iot_canary_core::render::status_page;
use iot_canary_core::store;
use iot_canary_core::trigger::{Accepted, Trigger, Watch};

pub struct Live {
    config: RwLock<Arc<Config>>,
    pub store: Arc<Store>,
    pub alerting: Arc<Alerting>,
    reload_ok: AtomicBool,
    /// `iot_canary_coverage_ratio`, computed by the caller over the config's `[coverage]`
    /// world (the daemon never reads policy sources itself).
    coverage: RwLock<Option<f64>>,
    pub started: SystemTime,
    process: ProcessMetrics,
    /// The trigger's watch window and waiting round; shared by the HTTP handler and the
    /// service loop, which owns the rounds.
    watch: Mutex<Watch>,
    /// Wakes the loop's pause when a trigger wants a round now.
    wake: tokio::sync::Notify,
    /// The round-start signal: how many rounds have started and what started the latest.
    round_starts: tokio::sync::watch::Sender<(u64, Trigger)>,
}

impl Live {
    pub fn new(config: Arc<Config>, store: Arc<Store>, alerting: Arc<Alerting>) -> Self {
        let t = &config.trigger;
        let watch = Mutex::new(Watch::new(t.every, t.watch));
        Live {
            watch,
            wake: tokio::sync::Notify::new(),
            round_starts: tokio::sync::watch::Sender::new((0, Trigger::Interval)),
            config: RwLock::new(config),
            store,
            alerting,
            reload_ok: AtomicBool::new(true),
            coverage: RwLock::new(None),
            started: SystemTime::now(),
            process: ProcessMetrics::default(),
        }
    }

    /// Live state without notifiers (tests, `demo`).
    pub fn without_alerts(config: Arc<Config>, store: Arc<Store>) -> Arc<Self> {
        Arc::new(Live::new(config, store, Arc::new(Alerting::disabled())))
    }

    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_config(&self, c: Arc<Config>) {
        self.with_watch(|w| w.set(c.trigger.every, c.trigger.watch));
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = c;
    }

    fn with_watch<R>(&self, f: impl FnOnce(&mut Watch) -> R) -> R {
        // The watch holds plain values; a panic elsewhere cannot leave it half-updated.
        f(&mut self.watch.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A trigger (`POST /-/probe`, SIGUSR1): starts or extends the watch and wakes the loop.
    pub fn trigger(&self, t: Trigger) -> Accepted {
        let now = Instant::now();
        let accepted = self.with_watch(|w| w.trigger(t, now));
        if accepted != Accepted::Stopping {
            self.publish_watch(now);
            self.wake.notify_one();
        }
        tracing::info!(trigger = %t, round = accepted.label(), "trigger received");
        accepted
    }

    /// The pause before the next round and what that round will be marked with.
    pub fn next_round(&self, interval_left: Duration) -> (Duration, Trigger) {
        let now = Instant::now();
        self.with_watch(|w| w.next(now, interval_left))
    }

    /// Resolves when a trigger arrived (at once if one arrived since the last call).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// A round starts that was planned as `planned`: counts it by what started it and sends
    /// the round-start signal.
    pub fn begin_round(&self, planned: Trigger) -> Trigger {
        let t = self.with_watch(|w| w.begin(planned));
        self.store.update(|s| s.round_started(t));
        self.round_starts.send_modify(|(n, last)| {
            *n += 1;
            *last = t;
        });
        t
    }

    pub fn end_round(&self) {
        self.with_watch(Watch::end);
        self.publish_watch(Instant::now());
    }

    /// A stop arrived: triggers from now on start nothing.
    pub fn stop_triggers(&self) {
        self.with_watch(Watch::stop);
    }

    /// The round-start signal (tests wait on it instead of on time).
    pub fn round_starts(&self) -> tokio::sync::watch::Receiver<(u64, Trigger)> {
        self.round_starts.subscribe()
    }

    /// The watch's end as wall time, for the status page.
    fn publish_watch(&self, now: Instant) {
        let until = self
            .with_watch(|w| w.until(now))
            .map(|u| SystemTime::now() + u.saturating_duration_since(now));
        self.store.update(|s| s.watch_until = until);
    }

    pub fn set_reload_ok(&self, ok: bool) {
        self.reload_ok.store(ok, Ordering::Relaxed);
    }

    pub fn reload_ok(&self) -> bool {
        self.reload_ok.load(Ordering::Relaxed)
    }

    /// Sets (or clears) the coverage ratio the metrics export.
    pub fn set_coverage(&self, ratio: Option<f64>) {
        *self.coverage.write().unwrap_or_else(|p| p.into_inner()) = ratio;
    }

    pub fn coverage(&self) -> Option<f64> {
        *self.coverage.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The exposition in `format`: the core's families, then this process's.
    pub fn metrics(&self, format: Format) -> Result<String, EncodeError> {
        let extras = Extras {
            alerts: self.alerting.stats(),
            reload_ok: self.reload_ok(),
            started: self.started,
            coverage: self.coverage(),
        };
        let (cfg, snapshot) = (self.config(), self.store.snapshot());
        let families = metrics::families(&cfg, &snapshot, &extras).chain(self.process.families());
        metrics::encode(families, format)
    }

    pub fn not_ready(&self, now: SystemTime) -> Option<String> {
        store::not_ready(&self.config(), &self.store.snapshot(), now)
    }

    /// The status page: every configured canary with its latest result, breaches first.
    pub fn status_page(&self, now: SystemTime, refresh_secs: u32) -> String {
        status_page::page_of(
            &self.config(),
            &self.store.snapshot(),
            now,
            refresh_secs,
            env!("CARGO_PKG_VERSION"),
        )
    }
}
