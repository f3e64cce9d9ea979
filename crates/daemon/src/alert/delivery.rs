//! Delivery: one bounded queue and one worker task per notifier. `submit` never waits, so a
//! dead or slow receiver can cost alerts (counted as `dropped`, logged) but never a probe.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::backoff;
use super::http::{ClientError, HttpClient};
use super::queue::BoundedQueue;
use iot_canary_core::alert::notifier::{self, Notifier};
use iot_canary_core::alert::state::{Notification, NotificationKind};
use iot_canary_core::alert::stats::{AlertStats, Counters};
use iot_canary_core::config::alerting::NotifierSettings;

#[derive(Debug, thiserror::Error)]
#[error("[[notifier]] `{notifier}`: {source}")]
pub struct DeliveryError {
    pub notifier: String,
    #[source]
    pub source: ClientError,
}

/// Queued plus in-flight notifications, so `drain` knows when a worker is idle.
#[derive(Default)]
struct Progress {
    pending: AtomicUsize,
    idle: Notify,
}

impl Progress {
    fn done(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
        self.idle.notify_waiters();
    }
}

struct Worker {
    settings: NotifierSettings,
    kind: &'static str,
    queue: Arc<BoundedQueue>,
    counters: Arc<Counters>,
    progress: Arc<Progress>,
}

pub struct Dispatcher {
    workers: Vec<Worker>,
    tasks: Vec<JoinHandle<()>>,
}

impl Dispatcher {
    /// No notifiers: submit is a no-op and stats are empty (no runtime needed).
    pub fn empty() -> Self {
        Dispatcher {
            workers: Vec::new(),
            tasks: Vec::new(),
        }
    }

    /// Spawns one worker per notifier on the current tokio runtime.
    pub fn start(settings: &[NotifierSettings]) -> Result<Self, DeliveryError> {
        let mut workers = Vec::new();
        let mut tasks = Vec::new();
        for s in settings {
            let needs_tls = s.url.expose().starts_with("https:");
            let client =
                HttpClient::new(s.ca_file.as_deref(), s.timeout, needs_tls).map_err(|source| {
                    DeliveryError {
                        notifier: s.name.clone(),
                        source,
                    }
                })?;
            let notifier = notifier::build(s);
            let w = Worker {
                settings: s.clone(),
                kind: s.kind.as_str(),
                queue: Arc::new(BoundedQueue::new(s.queue_size)),
                counters: Arc::new(Counters::default()),
                progress: Arc::new(Progress::default()),
            };
            let task = WorkerTask {
                endpoint: iot_canary_core::secret::Secret::new(notifier.endpoint(s.url.expose())),
                notifier,
                client,
                settings: s.clone(),
                queue: w.queue.clone(),
                counters: w.counters.clone(),
                progress: w.progress.clone(),
            };
            tasks.push(tokio::spawn(task.run()));
            workers.push(w);
        }
        Ok(Dispatcher { workers, tasks })
    }

    /// Hands notifications to every notifier's queue. Never blocks.
    pub fn submit(&self, notifications: &[Notification]) {
        for w in &self.workers {
            for n in notifications {
                if n.kind == NotificationKind::Resolve && !w.settings.send_resolved {
                    continue;
                }
                w.progress.pending.fetch_add(1, Ordering::AcqRel);
                if let Some(lost) = w.queue.push(n.clone(), &w.counters) {
                    w.progress.pending.fetch_sub(1, Ordering::AcqRel);
                    tracing::warn!(
                        notifier = %w.settings.name,
                        canary = %lost.alert.canary,
                        alertname = lost.alert.kind.alertname(),
                        status = lost.status(),
                        capacity = w.queue.capacity(),
                        "alert queue full: notification dropped"
                    );
                }
            }
        }
    }

    pub fn stats(&self) -> AlertStats {
        AlertStats {
            notifiers: self
                .workers
                .iter()
                .map(|w| {
                    w.counters
                        .snapshot(&w.settings.name, w.kind, w.queue.capacity())
                })
                .collect(),
        }
    }

    /// Waits until every queue is empty and nothing is in flight, at most `limit` (for
    /// `once` mode: deliver the breach alert before exiting). True if everything drained.
    pub async fn drain(&self, limit: Duration) -> bool {
        let all_idle = async {
            for w in &self.workers {
                loop {
                    let notified = w.progress.idle.notified();
                    tokio::pin!(notified);
                    // Register before checking, so a completion in between is not missed.
                    notified.as_mut().enable();
                    if w.progress.pending.load(Ordering::Acquire) == 0 {
                        break;
                    }
                    notified.await;
                }
            }
        };
        tokio::time::timeout(limit, all_idle).await.is_ok()
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct WorkerTask {
    notifier: Box<dyn Notifier>,
    endpoint: iot_canary_core::secret::Secret,
    client: HttpClient,
    settings: NotifierSettings,
    queue: Arc<BoundedQueue>,
    counters: Arc<Counters>,
    progress: Arc<Progress>,
}

impl WorkerTask {
    async fn run(self) {
        // Firing alerts by fingerprint, re-posted on the keepalive tick (Alertmanager only).
        let mut active: BTreeMap<String, Notification> = BTreeMap::new();
        let period = self
            .notifier
            .keepalive()
            .unwrap_or(Duration::from_secs(86_400));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let keepalive = self.notifier.keepalive().is_some();
        loop {
            tokio::select! {
                n = self.queue.pop(&self.counters) => {
                    match n.kind {
                        NotificationKind::Resolve => { active.remove(&n.alert.fingerprint); }
                        _ => { active.insert(n.alert.fingerprint.clone(), n.clone()); }
                    }
                    self.deliver(&n).await;
                    self.progress.done();
                }
                _ = tick.tick(), if keepalive => {
                    for n in active.values() {
                        let refresh = Notification { kind: NotificationKind::Repeat, alert: n.alert.clone() };
                        self.deliver(&refresh).await;
                    }
                }
            }
        }
    }

    async fn deliver(&self, n: &Notification) {
        let s = &self.settings;
        let body = match serde_json::to_vec(&self.notifier.render(n, SystemTime::now())) {
            Ok(b) => b,
            Err(e) => {
                self.counters.failure.fetch_add(1, Ordering::Relaxed);
                tracing::error!(notifier = %s.name, error = %e, "cannot encode alert");
                return;
            }
        };
        for attempt in 0..=s.max_retries {
            let result = self
                .client
                .post_json(&self.endpoint, s.token.as_ref(), body.clone())
                .await;
            match result {
                Ok(_) => {
                    self.counters.success.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        notifier = %s.name,
                        canary = %n.alert.canary,
                        alertname = n.alert.kind.alertname(),
                        status = n.status(),
                        attempts = attempt + 1,
                        "alert delivered"
                    );
                    return;
                }
                Err(e) => {
                    self.counters.failure.fetch_add(1, Ordering::Relaxed);
                    if !e.is_retryable() || attempt == s.max_retries {
                        tracing::error!(
                            notifier = %s.name,
                            canary = %n.alert.canary,
                            alertname = n.alert.kind.alertname(),
                            status = n.status(),
                            error = %e,
                            attempts = attempt + 1,
                            "alert delivery failed, giving up"
                        );
                        return;
                    }
                    let wait =
                        backoff::delay(attempt, s.retry_initial, s.retry_max, rand::random());
                    tracing::warn!(
                        notifier = %s.name,
                        canary = %n.alert.canary,
                        error = %e,
                        attempt = attempt + 1,
                        retry_in_ms = wait.as_millis() as u64,
                        "alert delivery failed, will retry"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}
