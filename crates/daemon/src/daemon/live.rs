//! What the HTTP surface reads while the daemon runs: the current config (swapped on reload),
//! the results store, alert delivery counters and process facts. Rendering stays pure in the
//! core; this only gathers the inputs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use super::alerting::Alerting;
use super::store::Store;
use crate::observe::process::ProcessMetrics;
use iot_canary_core::config::Config;
use iot_canary_core::evidence::evidence_lines;
use iot_canary_core::render::metrics::{self, EncodeError, Extras, Format};
use iot_canary_core::render::status_page::{self, StatusRow};
use iot_canary_core::store;

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
}

impl Live {
    pub fn new(config: Arc<Config>, store: Arc<Store>, alerting: Arc<Alerting>) -> Self {
        Live {
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
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = c;
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
        let cfg = self.config();
        let snap = self.store.snapshot();
        let evidence: Vec<Vec<String>> = cfg
            .canaries
            .iter()
            .map(|c| {
                snap.latest
                    .get(&c.name)
                    .map(|r| evidence_lines(&r.evidence))
                    .unwrap_or_default()
            })
            .collect();
        let rows: Vec<StatusRow<'_>> = cfg
            .canaries
            .iter()
            .zip(&evidence)
            .map(|(c, ev)| {
                let r = snap.latest.get(&c.name);
                StatusRow {
                    canary: &c.name,
                    identity: &c.identity,
                    action: c.action,
                    expect: c.expect,
                    verdict: r.map(|r| r.verdict),
                    standing: r.map(|r| r.standing),
                    evidence: ev,
                    last_verdict_at: r.map(|r| {
                        SystemTime::UNIX_EPOCH
                            + std::time::Duration::from_millis(r.started_at_unix_ms)
                    }),
                }
            })
            .collect();
        status_page::render_with_link(
            &rows,
            now,
            refresh_secs,
            cfg.alerting.dashboard_url.as_deref(),
        )
    }
}
