//! The one service loop: `run`, `once`, `demo` and the tests all drive rounds through it.
//! Rounds on the schedule (or once, or until settled), alerts from every verdict, SIGHUP
//! reloads (validated at once, applied between rounds so probes in flight are never lost), a
//! stop that lets the round in flight finish for a grace period and then records what is still
//! running as `inconclusive(aborted)`, idle connections closed and freed memory handed back
//! during long pauses, and the systemd notifications (READY, RELOADING, WATCHDOG, STOPPING).
//!
//! Signals reach this loop as [`Control`]s over a channel, so tests drive it without signals.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use super::live::Live;
use super::sd_notify::SdNotify;
use super::{CanaryReport, Daemon};
use iot_canary_core::config::Config;
use iot_canary_core::config::alerting::NotifierSettings;
use iot_canary_core::plan::{close_between_rounds, jittered, settled};

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

/// Longest pause between `--settle` rounds (AWS propagates policy changes within minutes).
pub const SETTLE_PAUSE: Duration = Duration::from_secs(10);

/// The pause between `--settle` rounds: a sixth of the settle budget (room for several rounds
/// after a change lands), between 1 s and [`SETTLE_PAUSE`].
pub fn settle_pause(settle: Duration) -> Duration {
    (settle / 6).clamp(Duration::from_secs(1), SETTLE_PAUSE)
}

/// How long an aborted round may take to record its aborted probes.
pub const ABORT_BOUND: Duration = Duration::from_secs(5);

/// How long queued alerts may take to go out when a long-running daemon stops.
pub const STOP_ALERT_DRAIN: Duration = Duration::from_secs(5);

/// How long a one-shot gate waits for its alerts before exiting: they must leave before the
/// process does, but never hold the pipeline.
pub const ONCE_ALERT_DRAIN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// SIGHUP: re-read the config.
    Reload,
    /// SIGTERM / SIGINT: finish the round in flight (bounded), deliver alerts, exit.
    Stop,
}

/// Which rounds the loop runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rounds {
    /// `run` and live `demo`: every `[schedule] interval` (jittered) until stopped.
    Forever,
    /// `once`: one round over the canaries matching `only`, or with `settle` rounds until two
    /// consecutive rounds agree or the time is up.
    Once {
        only: Option<String>,
        settle: Option<Duration>,
    },
}

/// A freshly read and validated config with its notifiers' secrets loaded.
pub struct Loaded {
    pub config: Config,
    pub notifiers: Vec<NotifierSettings>,
    /// `iot_canary_coverage_ratio` for this config (its `[coverage]` world), if it names one.
    pub coverage: Option<f64>,
}

/// A validated reload waiting to be applied: the daemon, its notifiers, its coverage.
type Prepared = (Arc<Daemon>, Vec<NotifierSettings>, Option<f64>);

/// Reads and validates the config (again). The error is the full located message.
pub type Loader = dyn Fn() -> Result<Loaded, String> + Send + Sync;
/// Builds a daemon (identities, endpoint) for a validated config.
pub type Builder = dyn Fn(Config) -> Result<Daemon, String> + Send + Sync;

/// How a reload is done; without it SIGHUP is logged and ignored.
pub struct Reload {
    pub loader: Box<Loader>,
    pub builder: Box<Builder>,
}

pub struct Service {
    pub live: Arc<Live>,
    pub rounds: Rounds,
    /// How long the round in flight may take to finish after a stop request.
    pub grace: Duration,
    /// How long queued alerts may take to go out at the end.
    pub alert_drain: Duration,
    pub notify: Option<SdNotify>,
    /// `WATCHDOG=1` period (half of `WATCHDOG_USEC`).
    pub watchdog: Option<Duration>,
    pub reload: Option<Reload>,
    /// Sees each verdict as it lands (after the alert state machine has).
    pub on_verdict: Arc<dyn Fn(&CanaryReport) + Send + Sync>,
}

/// What the loop ended with.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The last round's reports (for `once`, the report of the gate).
    pub reports: Vec<CanaryReport>,
    /// A stop request cut the last round short: what had not finished within the grace period
    /// is `inconclusive(aborted)`, and a gate must say its report is incomplete.
    pub interrupted: bool,
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

/// How one round ended.
struct RoundEnd {
    reports: Vec<CanaryReport>,
    /// A stop arrived while it ran.
    stop: bool,
}

impl Service {
    /// A loop over `rounds` with the defaults every caller starts from: the drain grace of
    /// `d`'s probe timeout, no systemd, no reload, no verdict callback.
    pub fn new(live: Arc<Live>, d: &Daemon, rounds: Rounds) -> Self {
        let alert_drain = match rounds {
            Rounds::Forever => STOP_ALERT_DRAIN,
            Rounds::Once { .. } => ONCE_ALERT_DRAIN,
        };
        Service {
            live,
            rounds,
            grace: stop_grace(d.config.schedule.timeout),
            alert_drain,
            notify: None,
            watchdog: None,
            reload: None,
            on_verdict: Arc::new(|_| {}),
        }
    }

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

    /// Runs until the rounds are done, [`Control::Stop`] arrives, or the sender is dropped.
    pub async fn run(self, first: Arc<Daemon>, mut events: mpsc::Receiver<Control>) -> Outcome {
        let mut d = first;
        let mut wd = self.watchdog.map(|p| {
            let mut i = tokio::time::interval(p);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        let (only, settle) = match &self.rounds {
            Rounds::Forever => {
                Self::prefetch(&d).await;
                (None, None)
            }
            Rounds::Once { only, settle } => (only.clone(), *settle),
        };
        self.notify("READY=1");
        tracing::info!(
            canaries = d.config.canaries.len(),
            identities = d.identities.len(),
            "daemon ready"
        );
        let started = Instant::now();
        let mut pending: Option<Prepared> = None;
        let mut outcome = Outcome::default();
        let mut round_no: u64 = 0;
        loop {
            round_no += 1;
            let end = self
                .round(
                    &d,
                    round_no,
                    only.as_deref(),
                    &mut events,
                    &mut wd,
                    &mut pending,
                )
                .await;
            let previous = std::mem::replace(&mut outcome.reports, end.reports);
            if end.stop {
                outcome.interrupted = true;
                break;
            }
            if let Some((next, notifiers, coverage)) = pending.take() {
                d = self.apply(&d, next, &notifiers, coverage);
            }
            let pause = match self.rounds {
                Rounds::Forever => jittered(
                    d.config.schedule.interval,
                    d.config.schedule.jitter,
                    rand::random(),
                ),
                Rounds::Once { .. } => {
                    let Some(limit) = settle else { break };
                    let key = |rs: &[CanaryReport]| {
                        rs.iter()
                            .map(|r| (r.canary.clone(), r.verdict))
                            .collect::<Vec<_>>()
                    };
                    let remaining = limit.saturating_sub(started.elapsed());
                    if (round_no > 1 && settled(&key(&previous), &key(&outcome.reports)))
                        || remaining.is_zero()
                    {
                        break;
                    }
                    settle_pause(limit).min(remaining)
                }
            };
            if self.pause(&mut d, pause, &mut events, &mut wd).await {
                // A gate stopped between `--settle` rounds never saw its verdicts settle.
                outcome.interrupted = matches!(self.rounds, Rounds::Once { .. });
                break;
            }
        }
        if !self.live.alerting.drain(self.alert_drain).await {
            tracing::warn!(
                limit_ms = self.alert_drain.as_millis() as u64,
                "stopping: some alert notifications were not delivered"
            );
        }
        d.pool.close_all().await;
        tracing::info!("stopped");
        outcome
    }

    /// One round, with the watchdog fed and events handled while it runs: a reload is
    /// validated now and applied after the round; a stop lets it finish within the grace
    /// period, then aborts what is still in flight (recorded as `inconclusive(aborted)`).
    async fn round(
        &self,
        d: &Arc<Daemon>,
        round_no: u64,
        only: Option<&str>,
        events: &mut mpsc::Receiver<Control>,
        wd: &mut Option<tokio::time::Interval>,
        pending: &mut Option<Prepared>,
    ) -> RoundEnd {
        tracing::debug!(
            round = round_no,
            canaries = d.config.canaries.len(),
            "round started"
        );
        let round = {
            let d = d.clone();
            let alerting = self.live.alerting.clone();
            let user = self.on_verdict.clone();
            let only = only.map(str::to_owned);
            async move {
                let cb = move |r: &CanaryReport| {
                    alerting.observe(r, SystemTime::now());
                    user(r);
                };
                d.round(only.as_deref(), &cb).await
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
                reports = &mut round => return RoundEnd { reports, stop: false },
                _ = tick(wd) => {
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
                    Some(Control::Reload) => {
                        // Validate now (the operator sees the result at once); apply after
                        // this round so its probes finish under the config they started with.
                        if let Some(p) = self.prepare(d) {
                            tracing::info!("reload validated; applying after the round in flight");
                            *pending = Some(p);
                        }
                    }
                    Some(Control::Stop) | None => {
                        self.notify("STOPPING=1");
                        tracing::info!(grace_ms = self.grace.as_millis() as u64, "stopping: letting the round in flight finish");
                        let reports = match tokio::time::timeout(self.grace, &mut round).await {
                            Ok(r) => r,
                            Err(_) => {
                                // Drain deadline: what is still in flight ends as
                                // inconclusive(aborted) and the round records it.
                                tracing::warn!("stopping: drain deadline passed, aborting in-flight probes");
                                d.abort_in_flight();
                                match tokio::time::timeout(ABORT_BOUND, &mut round).await {
                                    Ok(r) => r,
                                    Err(_) => {
                                        tracing::warn!("stopping: abandoned the round in flight");
                                        Vec::new()
                                    }
                                }
                            }
                        };
                        return RoundEnd { reports, stop: true };
                    }
                },
            }
        }
    }

    /// The pause before the next round. Idle pooled connections are closed and freed memory is
    /// returned when the pause outlasts the keep-alive. Returns `true` when a stop arrived.
    async fn pause(
        &self,
        d: &mut Arc<Daemon>,
        pause: Duration,
        events: &mut mpsc::Receiver<Control>,
        wd: &mut Option<tokio::time::Interval>,
    ) -> bool {
        if close_between_rounds(pause, super::KEEP_ALIVE) {
            d.pool.close_all().await;
            release_free_memory();
        }
        let sleep = tokio::time::sleep(pause);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return false,
                _ = tick(wd) => self.notify("WATCHDOG=1"),
                ev = events.recv() => match ev {
                    Some(Control::Reload) => {
                        if let Some((next, notifiers, coverage)) = self.prepare(d) {
                            *d = self.apply(d, next, &notifiers, coverage);
                            // Probe the new config now rather than after the old pause.
                            return false;
                        }
                    }
                    Some(Control::Stop) | None => {
                        self.notify("STOPPING=1");
                        tracing::info!("stopping between rounds");
                        return true;
                    }
                },
            }
        }
    }

    /// Reads, validates and builds the new config. On failure the old config keeps running and
    /// `iot_canary_config_last_reload_successful` drops to 0.
    fn prepare(&self, current: &Daemon) -> Option<Prepared> {
        let Some(reload) = &self.reload else {
            tracing::warn!("reload requested, but this mode has no config file to re-read");
            return None;
        };
        self.notify("RELOADING=1");
        let path = current.config.path.display().to_string();
        let built = (reload.loader)().and_then(|loaded| {
            let mut next = (reload.builder)(loaded.config)?;
            next.store = self.live.store.clone();
            // Unchanged identities keep their credential cache (no needless re-login).
            for spec in &next.config.identities {
                let same = current.config.identities.iter().any(|old| old == spec);
                if same && let Some(src) = current.identities.get(&spec.name) {
                    next.identities.insert(spec.name.clone(), src.clone());
                }
            }
            Ok((Arc::new(next), loaded.notifiers, loaded.coverage))
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
        coverage: Option<f64>,
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
        self.live.set_coverage(coverage);
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

/// Hands freed heap pages back to the OS after the pooled connections closed: each one held
/// ~150 KB of websocket/TLS buffers, and glibc keeps freed arena memory mapped otherwise, so
/// RSS between rounds would stay at the round's peak.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only releases free memory; it takes no pointers and is
        // safe to call from any thread at any time.
        unsafe {
            malloc_trim(0);
        }
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

    #[test]
    fn settle_pause_is_a_sixth_of_the_budget_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(settle_pause(s(300)), s(10));
        assert_eq!(settle_pause(s(36)), s(6));
        assert_eq!(settle_pause(s(2)), s(1));
    }
}
