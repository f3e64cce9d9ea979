//! Bridges verdicts to the alert module: every report's standing goes through the pure
//! [`AlertState`], and what it answers goes to the notifiers' queues. Never blocks a probe.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use crate::alert::delivery::{DeliveryError, Dispatcher};
use iot_canary_core::alert::{AlertState, AlertStats, CanaryResult};
use iot_canary_core::config::alerting::NotifierSettings;
use iot_canary_core::config::{Config, NotifierEntry};

use super::CanaryReport;
use iot_canary_core::evidence::evidence_lines;

/// How long a replaced dispatcher (after a reload changed `[[notifier]]`) may finish its queue.
const RETIRED_DRAIN: Duration = Duration::from_secs(10);

pub struct Alerting {
    state: Mutex<AlertState>,
    dispatcher: RwLock<Arc<Dispatcher>>,
    /// The tables the dispatcher was built from, to rebuild it only when they change.
    built_from: Mutex<Vec<NotifierEntry>>,
}

impl Alerting {
    /// No notifiers: verdicts still go through the state machine (cheap) and nothing is sent.
    pub fn disabled() -> Self {
        Alerting {
            state: Mutex::new(AlertState::new(&Default::default())),
            // No notifier, so nothing can fail and nothing is spawned.
            dispatcher: RwLock::new(Arc::new(Dispatcher::empty())),
            built_from: Mutex::new(Vec::new()),
        }
    }

    /// Starts one delivery worker per notifier (needs a tokio runtime).
    pub fn start(cfg: &Config, notifiers: &[NotifierSettings]) -> Result<Self, DeliveryError> {
        Ok(Alerting {
            state: Mutex::new(AlertState::new(&cfg.alerting)),
            dispatcher: RwLock::new(Arc::new(Dispatcher::start(notifiers)?)),
            built_from: Mutex::new(cfg.notifiers.clone()),
        })
    }

    fn dispatcher(&self) -> Arc<Dispatcher> {
        self.dispatcher
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Feeds one verdict; queues whatever the state machine says to send.
    pub fn observe(&self, r: &CanaryReport, now: SystemTime) {
        let evidence = evidence_lines(&r.evidence);
        let out = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.observe(&CanaryResult::of(r, &evidence), now)
        };
        self.submit(&out);
    }

    /// Works on the alert state machine in place (saving and restoring it across restarts).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut AlertState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Queues notifications for every notifier (and logs each).
    pub fn submit(&self, out: &[iot_canary_core::alert::Notification]) {
        for n in out {
            tracing::info!(
                canary = %n.alert.canary,
                identity = %n.alert.identity,
                alertname = n.alert.kind.alertname(),
                severity = n.alert.kind.severity(),
                status = n.status(),
                kind = ?n.kind,
                "alert notification"
            );
        }
        if !out.is_empty() {
            self.dispatcher().submit(out);
        }
    }

    pub fn stats(&self) -> AlertStats {
        self.dispatcher().stats()
    }

    /// Waits (at most `limit`) until every queued notification was delivered or given up.
    pub async fn drain(&self, limit: Duration) -> bool {
        self.dispatcher().drain(limit).await
    }

    /// After a reload: new `[alerting]` settings, resolves for removed canaries, and a new
    /// dispatcher only if the `[[notifier]]` tables changed (the old one finishes its queue in
    /// the background; its counters start again from zero, which Prometheus reads as a reset).
    pub fn reconfigure(
        &self,
        cfg: &Config,
        notifiers: &[NotifierSettings],
        now: SystemTime,
    ) -> Result<(), DeliveryError> {
        let changed = {
            let built = self.built_from.lock().unwrap_or_else(|p| p.into_inner());
            *built != cfg.notifiers
        };
        if changed {
            let fresh = Arc::new(Dispatcher::start(notifiers)?);
            let old = std::mem::replace(
                &mut *self.dispatcher.write().unwrap_or_else(|p| p.into_inner()),
                fresh,
            );
            *self.built_from.lock().unwrap_or_else(|p| p.into_inner()) = cfg.notifiers.clone();
            tokio::spawn(async move {
                old.drain(RETIRED_DRAIN).await;
            });
        }
        let resolves = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.reconfigure(&cfg.alerting);
            st.retain_canaries(|c| cfg.canaries.iter().any(|k| k.name == c), now)
        };
        self.submit(&resolves);
        Ok(())
    }
}
