//! Delivery counters as plain data: the daemon's /metrics renders
//! `iot_canary_alerts_sent_total{notifier, result}` from [`AlertStats`] snapshots.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Live counters of one notifier (shared between its worker and the dispatcher).
#[derive(Debug, Default)]
pub struct Counters {
    pub success: AtomicU64,
    /// Failed delivery attempts (a retry that later succeeds still counted one failure).
    pub failure: AtomicU64,
    /// Notifications dropped because the queue was full.
    pub dropped: AtomicU64,
    pub queued: AtomicUsize,
    pub queue_high_water: AtomicUsize,
}

impl Counters {
    pub fn snapshot(&self, name: &str, kind: &'static str, capacity: usize) -> NotifierStats {
        NotifierStats {
            notifier: name.to_string(),
            kind,
            success: self.success.load(Ordering::Relaxed),
            failure: self.failure.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            queue_capacity: capacity,
            queue_high_water: self.queue_high_water.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierStats {
    pub notifier: String,
    pub kind: &'static str,
    pub success: u64,
    pub failure: u64,
    pub dropped: u64,
    pub queued: usize,
    pub queue_capacity: usize,
    pub queue_high_water: usize,
}

/// One snapshot of every configured notifier (all present from start, zeros included, so
/// every label set exists before the first alert).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertStats {
    pub notifiers: Vec<NotifierStats>,
}

impl AlertStats {
    /// The `result` label values, in render order.
    pub const RESULTS: [&'static str; 3] = ["success", "failure", "dropped"];

    /// `(notifier, result, count)` triples for `iot_canary_alerts_sent_total`.
    pub fn sent_total(&self) -> impl Iterator<Item = (&str, &'static str, u64)> {
        self.notifiers.iter().flat_map(|n| {
            [
                (n.notifier.as_str(), "success", n.success),
                (n.notifier.as_str(), "failure", n.failure),
                (n.notifier.as_str(), "dropped", n.dropped),
            ]
        })
    }

    pub fn get(&self, notifier: &str) -> Option<&NotifierStats> {
        self.notifiers.iter().find(|n| n.notifier == notifier)
    }
}
