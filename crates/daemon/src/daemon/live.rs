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
use iot_canary_core::render::metrics::{self, EncodeError, Extras, Format};
use iot_canary_core::render::status_page;
use iot_canary_core::store;

pub struct Live {
    config: RwLock<Arc<Config>>,
    pub store: Arc<Store>,
    pub alerting: Arc<Alerting>,
    reload_ok: AtomicBool,
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

    /// The exposition in `format`: the core's families, then this process's.
    pub fn metrics(&self, format: Format) -> Result<String, EncodeError> {
        let extras = Extras {
            alerts: self.alerting.stats(),
            reload_ok: self.reload_ok(),
            started: self.started,
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
