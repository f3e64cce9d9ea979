//! `run` mode as a service: rounds on the schedule, alerts from every verdict, SIGHUP reloads
//! (validated first; applied between rounds so probes in flight are never lost), SIGTERM drains,
//! and the systemd notifications (READY, RELOADING, WATCHDOG, STOPPING).
//!
//! Signals reach this loop as [`Event`]s over a channel, so tests drive it without signals.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::live::Live;
use super::sd_notify::SdNotify;
use super::{CanaryReport, Daemon};
use iot_canary_core::config::Config;
use iot_canary_core::config::alerting::NotifierSettings;
use iot_canary_core::plan::jittered;

/// How long the round in flight may take to finish after a stop request: deny probes, then
/// the controls, each bounded by the probe timeout (plus the probe backstop).
pub fn stop_grace(probe_timeout: Duration) -> Duration {
    probe_timeout * 2 + Duration::from_secs(5)
}

/// The longest a healthy round can take: every probe is bounded by its timeout (+2 s backstop),
/// at most `concurrency` run at once, and controls run after the denials. A round older than
/// this is wedged, so the watchdog ping is withheld and systemd restarts the service.
pub fn round_budget(canaries: usize, concurrency: usize, timeout: Duration) -> Duration {
    let waves = canaries.div_ceil(concurrency.max(1)).max(1) as u32;
    (timeout + Duration::from_secs(2)) * waves * 2 + Duration::from_secs(30)
}

/// How long queued alerts may take to go out when the daemon stops.
pub const STOP_ALERT_DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// SIGHUP: re-read the config.
    Reload,
    /// SIGTERM / SIGINT: finish the round in flight (bounded), deliver alerts, exit.
    Stop,
}

/// A freshly read and validated config with its notifiers' secrets loaded.
pub struct Loaded {
    pub config: Config,
    pub notifiers: Vec<NotifierSettings>,
}

/// Reads and validates the config (again). The error is the full located message.
pub type Loader = dyn Fn() -> Result<Loaded, String> + Send + Sync;
/// Builds a daemon (identities, endpoint) for a validated config.
pub type Builder = dyn Fn(Config) -> Result<Daemon, String> + Send + Sync;

pub struct Service {
    pub live: Arc<Live>,
    /// How long the round in flight may take to finish after a stop request.
    pub grace: Duration,
    pub notify: Option<SdNotify>,
    /// `WATCHDOG=1` period (half of `WATCHDOG_USEC`).
    pub watchdog: Option<Duration>,
    pub loader: Box<Loader>,
    pub builder: Box<Builder>,
    pub on_verdict: Arc<dyn Fn(&CanaryReport) + Send + Sync>,
}

/// Ticks every `period`, or never.
async fn tick(wd: &mut Option<tokio::time::Interval>) {
    match wd {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Service {
    fn notify(&self, state: &str) {
        if let Some(n) = &self.notify {
            n.send(state);
        }
    }

    /// Fetches every identity's first credentials (bounded by the probe timeout), so READY=1
    /// means "configured and holding credentials". Failures are logged, not fatal: those
    /// identities' probes turn inconclusive and are alerted on as blind.
    async fn prefetch(d: &Daemon) {
        let limit = d.config.schedule.timeout;
        let fetches = d.identities.iter().map(|(name, src)| async move {
            match tokio::time::timeout(limit, src.current()).await {
                Ok(Ok(_)) => tracing::debug!(identity = %name, "first credentials fetched"),
                Ok(Err(e)) => tracing::warn!(identity = %name, error = %e, "first credentials failed"),
                Err(_) => tracing::warn!(identity = %name, timeout_ms = limit.as_millis() as u64, "first credentials timed out"),
            }
        });
        futures_util::future::join_all(fetches).await;
    }

    /// Runs until [`Event::Stop`] (or the sender is dropped).
    pub async fn run(self, first: Arc<Daemon>, mut events: mpsc::Receiver<Event>) {
        let mut d = first;
        let mut wd = self.watchdog.map(|p| {
            let mut i = tokio::time::interval(p);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        Self::prefetch(&d).await;
        self.notify("READY=1");
        tracing::info!(
            canaries = d.config.canaries.len(),
            identities = d.identities.len(),
            "daemon ready"
        );
        let mut pending: Option<(Arc<Daemon>, Vec<NotifierSettings>)> = None;
        let mut round_no: u64 = 0;
        'rounds: loop {
            round_no += 1;
            tracing::debug!(
                round = round_no,
                canaries = d.config.canaries.len(),
                "round started"
            );
            let round = {
                let d = d.clone();
                let alerting = self.live.alerting.clone();
                let user = self.on_verdict.clone();
                async move {
                    let cb = move |r: &CanaryReport| {
                        alerting.observe(r, SystemTime::now());
                        user(r);
                    };
                    d.round(None, &cb).await
                }
            };
            tokio::pin!(round);
            let round_started = tokio::time::Instant::now();
            let budget = round_budget(
                d.config.canaries.len(),
                d.config.schedule.concurrency,
                d.config.schedule.timeout,
            );
            let mut withheld = false;
            loop {
                tokio::select! {
                    _ = &mut round => break,
                    _ = tick(&mut wd) => {
                        if round_started.elapsed() <= budget {
                            self.notify("WATCHDOG=1");
                        } else if !withheld {
                            withheld = true;
                            tracing::error!(
                                round = round_no,
                                budget_ms = budget.as_millis() as u64,
                                "round exceeded its time budget; withholding the watchdog ping"
                            );
                        }
                    }
                    ev = events.recv() => match ev {
                        Some(Event::Reload) => {
                            // Validate now (the operator sees the result at once); apply after
                            // this round so its probes finish under the config they started with.
                            if let Some(p) = self.prepare(&d) {
                                tracing::info!("reload validated; applying after the round in flight");
                                pending = Some(p);
                            }
                        }
                        Some(Event::Stop) | None => {
                            self.notify("STOPPING=1");
                            tracing::info!(grace_ms = self.grace.as_millis() as u64, "stopping: letting the round in flight finish");
                            if tokio::time::timeout(self.grace, &mut round).await.is_err() {
                                // Drain deadline: what is still in flight ends as
                                // inconclusive(aborted) and the round records it.
                                tracing::warn!("stopping: drain deadline passed, aborting in-flight probes");
                                d.abort_in_flight();
                                if tokio::time::timeout(super::modes::ABORT_BOUND, &mut round).await.is_err() {
                                    tracing::warn!("stopping: abandoned the round in flight");
                                }
                            }
                            break 'rounds;
                        }
                    },
                }
            }
            if let Some((next, notifiers)) = pending.take() {
                d = self.apply(&d, next, &notifiers);
            }
            let pause = jittered(
                d.config.schedule.interval,
                d.config.schedule.jitter,
                rand::random(),
            );
            let sleep = tokio::time::sleep(pause);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    _ = tick(&mut wd) => self.notify("WATCHDOG=1"),
                    ev = events.recv() => match ev {
                        Some(Event::Reload) => {
                            if let Some((next, notifiers)) = self.prepare(&d) {
                                d = self.apply(&d, next, &notifiers);
                                // Probe the new config now rather than after the old pause.
                                break;
                            }
                        }
                        Some(Event::Stop) | None => {
                            self.notify("STOPPING=1");
                            tracing::info!("stopping between rounds");
                            break 'rounds;
                        }
                    },
                }
            }
        }
        if !self.live.alerting.drain(STOP_ALERT_DRAIN).await {
            tracing::warn!(
                limit_ms = STOP_ALERT_DRAIN.as_millis() as u64,
                "stopping: some alert notifications were not delivered"
            );
        }
        d.pool.close_all().await;
        tracing::info!("stopped");
    }

    /// Reads, validates and builds the new config. On failure the old config keeps running and
    /// `iot_canary_config_last_reload_successful` drops to 0.
    fn prepare(&self, current: &Daemon) -> Option<(Arc<Daemon>, Vec<NotifierSettings>)> {
        self.notify("RELOADING=1");
        let path = current.config.path.display().to_string();
        let built = (self.loader)().and_then(|loaded| {
            let mut next = (self.builder)(loaded.config)?;
            next.store = self.live.store.clone();
            // Unchanged identities keep their credential cache (no needless re-login).
            for spec in &next.config.identities {
                let same = current.config.identities.iter().any(|old| old == spec);
                if same && let Some(src) = current.identities.get(&spec.name) {
                    next.identities.insert(spec.name.clone(), src.clone());
                }
            }
            Ok((Arc::new(next), loaded.notifiers))
        });
        match built {
            Ok(p) => Some(p),
            Err(e) => {
                self.live.set_reload_ok(false);
                // Config errors name file, line and key, and never carry secret values.
                tracing::error!(config = %path, error = %e, "config reload rejected; the previous config keeps running");
                self.notify("READY=1");
                None
            }
        }
    }

    fn apply(
        &self,
        old: &Arc<Daemon>,
        next: Arc<Daemon>,
        notifiers: &[NotifierSettings],
    ) -> Arc<Daemon> {
        let cfg = next.config.clone();
        let names =
            |c: &Config| -> Vec<String> { c.canaries.iter().map(|k| k.name.clone()).collect() };
        let (before, after) = (names(&old.config), names(&cfg));
        let added: Vec<&String> = after.iter().filter(|n| !before.contains(n)).collect();
        let removed: Vec<&String> = before.iter().filter(|n| !after.contains(n)).collect();
        self.live.store.retain(
            |c| cfg.canaries.iter().any(|k| k.name == c),
            |i| cfg.identities.iter().any(|k| k.name == i),
        );
        self.live
            .set_config(Arc::new(iot_canary_core::plan::reported_view(
                &cfg, next.shard,
            )));
        if let Err(e) = self
            .live
            .alerting
            .reconfigure(&cfg, notifiers, SystemTime::now())
        {
            tracing::error!(error = %e, "reload: notifiers could not be rebuilt; the previous notifiers keep running");
        }
        self.live.set_reload_ok(true);
        if old.config.server.listen != cfg.server.listen {
            tracing::warn!(
                listen = %cfg.server.listen,
                "[server] listen changed: takes effect after a restart"
            );
        }
        tracing::info!(
            config = %cfg.path.display(),
            canaries = cfg.canaries.len(),
            added = ?added,
            removed = ?removed,
            "config reloaded"
        );
        let pool = old.pool.clone();
        tokio::spawn(async move { pool.close_all().await });
        self.notify("READY=1");
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_budget_table() {
        let s = Duration::from_secs;
        // 2 canaries, 16 at once, 10 s timeout: one wave of denials + one of controls.
        assert_eq!(round_budget(2, 16, s(10)), s(12 * 2 + 30));
        assert_eq!(round_budget(0, 16, s(10)), s(12 * 2 + 30));
        assert_eq!(round_budget(1000, 16, s(10)), s(12 * 63 * 2 + 30));
        assert_eq!(round_budget(5, 0, s(1)), s(3 * 5 * 2 + 30));
        assert_eq!(stop_grace(s(10)), s(25));
    }
}
