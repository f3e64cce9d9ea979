//! Bounded per-notifier queue. `push` never waits (the prober must not block on a slow
//! receiver); when full, [`choose_victim`] decides what to lose, least valuable first.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use tokio::sync::Notify;

use iot_canary_core::alert::state::{AlertKind, Notification, NotificationKind};
use iot_canary_core::alert::stats::Counters;

/// What to drop when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Victim {
    Queued(usize),
    Incoming,
}

/// Pure drop policy, first match wins:
/// 1. the oldest queued repeat/resolve of the incoming alert's fingerprint (superseded by it);
/// 2. the oldest queued repeat of any alert (a reminder of something already announced);
/// 3. the incoming notification if it is itself a repeat (a reminder never evicts news);
/// 4. the oldest queued warning if the incoming one is critical (a breach outranks blindness);
/// 5. the oldest queued notification (the newest state of the world is worth more).
pub fn choose_victim(queue: &VecDeque<Notification>, incoming: &Notification) -> Victim {
    let reminder =
        |n: &Notification| matches!(n.kind, NotificationKind::Repeat | NotificationKind::Resolve);
    if let Some(i) = queue
        .iter()
        .position(|q| q.alert.fingerprint == incoming.alert.fingerprint && reminder(q))
    {
        return Victim::Queued(i);
    }
    if let Some(i) = queue
        .iter()
        .position(|q| q.kind == NotificationKind::Repeat)
    {
        return Victim::Queued(i);
    }
    if incoming.kind == NotificationKind::Repeat {
        return Victim::Incoming;
    }
    if incoming.alert.kind == AlertKind::Breach
        && let Some(i) = queue.iter().position(|q| q.alert.kind != AlertKind::Breach)
    {
        return Victim::Queued(i);
    }
    if queue.is_empty() {
        Victim::Incoming
    } else {
        Victim::Queued(0)
    }
}

#[derive(Debug)]
pub struct BoundedQueue {
    capacity: usize,
    items: Mutex<VecDeque<Notification>>,
    ready: Notify,
}

impl BoundedQueue {
    pub fn new(capacity: usize) -> Self {
        BoundedQueue {
            capacity: capacity.max(1),
            items: Mutex::new(VecDeque::with_capacity(capacity.max(1))),
            ready: Notify::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Enqueues without waiting; returns the notification dropped to make room, if any.
    pub fn push(&self, n: Notification, counters: &Counters) -> Option<Notification> {
        let dropped = {
            let mut q = lock(&self.items);
            let dropped = if q.len() >= self.capacity {
                match choose_victim(&q, &n) {
                    Victim::Incoming => Some(n),
                    Victim::Queued(i) => {
                        let old = q.remove(i);
                        q.push_back(n);
                        old
                    }
                }
            } else {
                q.push_back(n);
                None
            };
            counters.queued.store(q.len(), Ordering::Relaxed);
            counters
                .queue_high_water
                .fetch_max(q.len(), Ordering::Relaxed);
            dropped
        };
        if dropped.is_some() {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.ready.notify_one();
        dropped
    }

    /// Waits for the next notification.
    pub async fn pop(&self, counters: &Counters) -> Notification {
        loop {
            {
                let mut q = lock(&self.items);
                if let Some(n) = q.pop_front() {
                    counters.queued.store(q.len(), Ordering::Relaxed);
                    return n;
                }
            }
            // notify_one stores a permit if nobody waits, so a push between the check above
            // and this await is not lost.
            self.ready.notified().await;
        }
    }

    pub fn len(&self) -> usize {
        lock(&self.items).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A poisoned lock only means another thread panicked mid-push; the deque itself is still
/// a valid deque, so keep delivering rather than cascade the panic into the prober.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
