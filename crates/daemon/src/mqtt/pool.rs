//! Connection reuse and connect pacing. MQTT 5 connections are kept per (identity, client id)
//! and reused by the next probe, because a 5 denial (0x87) leaves the connection up and every
//! connect costs money on AWS. 3.1.1 denials close the socket, so 3.1.1 probes always connect
//! fresh (which is also what the control confirmation needs).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{ConnectFailure, Session, SessionOptions};
use iot_canary_core::verdict::MqttVersion;

/// How long to wait before the next CONNECT with a client id (pure).
pub fn pacing_wait(last_connect: Option<Instant>, now: Instant, gap: Duration) -> Duration {
    match last_connect {
        Some(last) => (last + gap).saturating_duration_since(now),
        None => Duration::ZERO,
    }
}

/// The account-wide spacing for `rate` CONNECTs per second (pure).
pub fn account_gap(rate: u32) -> Duration {
    Duration::from_secs(1) / rate.max(1)
}

/// Reserves the instant of the next CONNECT (pure): no earlier than `now`, `id_gap` after
/// the client id's last CONNECT (AWS: 1/s per client id) and not before the account-wide
/// slot `account_next` (AWS: 500/s per account by default). Returns the instant to connect
/// at and the next free account slot. Reservations are made under a lock and slept outside
/// it, so a client id waiting for its own gap never delays other client ids.
pub fn reserve_connect(
    last_for_id: Option<Instant>,
    account_next: Option<Instant>,
    now: Instant,
    id_gap: Duration,
    account_gap: Duration,
) -> (Instant, Instant) {
    let mut at = now + pacing_wait(last_for_id, now, id_gap);
    if let Some(slot) = account_next {
        at = at.max(slot);
    }
    (at, at + account_gap)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub identity: String,
    pub client_id: String,
    pub version: MqttVersion,
}

pub struct SessionPool {
    slots: std::sync::Mutex<HashMap<SessionKey, Arc<Mutex<Option<Session>>>>>,
    /// One CONNECT in flight per client id: canaries of different identities may test the same
    /// id (`+`, another's device), and the gap must hold at the server, where the previous
    /// CONNECT may have arrived late (a slow handshake) — so the next one is paced from the
    /// previous one's answer, not from its start.
    turns: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
    pacing: std::sync::Mutex<Pacing>,
    gap: Duration,
    account_gap: Duration,
    connects: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Pacing {
    last_connect: HashMap<String, Instant>,
    account_next: Option<Instant>,
}

/// Exclusive use of one connection for the duration of a probe.
pub struct Lease {
    guard: OwnedMutexGuard<Option<Session>>,
    keep: bool,
    /// Whether this lease opened the connection (vs reusing one).
    pub fresh: bool,
}

impl Lease {
    pub fn session(&mut self) -> &mut Session {
        // Invariant: a Lease is only built with Some(session) in the slot.
        self.guard.as_mut().expect("lease always holds a session")
    }

    /// Returns the connection to the pool if it can carry another probe, else closes it.
    pub async fn release(mut self) {
        let alive = self.guard.as_ref().is_some_and(Session::is_alive);
        if !(self.keep && alive)
            && let Some(s) = self.guard.take()
        {
            s.close().await;
        }
    }
}

impl SessionPool {
    /// `connect_gap`: per client id; `connect_rate`: CONNECTs per second account-wide.
    pub fn new(connect_gap: Duration, connect_rate: u32) -> Self {
        SessionPool {
            slots: Default::default(),
            turns: Default::default(),
            pacing: Default::default(),
            gap: connect_gap,
            account_gap: account_gap(connect_rate),
            connects: Default::default(),
        }
    }

    /// Total CONNECTs attempted through this pool.
    pub fn connects(&self) -> u64 {
        self.connects.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A connection for `key`: the pooled MQTT 5 one if alive (and `reuse`), else a fresh one.
    pub async fn lease(
        &self,
        key: SessionKey,
        opts: SessionOptions,
        reuse: bool,
    ) -> Result<Lease, ConnectFailure> {
        let keep = reuse && key.version == MqttVersion::V5;
        let slot = if keep {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(key.clone()).or_default().clone()
        } else {
            Arc::new(Mutex::new(None))
        };
        let mut guard = slot.lock_owned().await;
        if let Some(s) = guard.as_mut() {
            if s.is_alive() {
                s.drain();
                if s.is_alive() {
                    return Ok(Lease {
                        guard,
                        keep,
                        fresh: false,
                    });
                }
            }
            *guard = None;
        }
        let turn = self
            .turns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.client_id.clone())
            .or_default()
            .clone();
        let _turn = turn.lock().await;
        self.pace(&key.client_id).await;
        self.connects
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let s = Session::connect(opts).await;
        // The CONNECT reached the server at some point before this answer (or failure):
        // measuring the gap from here keeps the server's view of it at least `gap` too.
        self.pacing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_connect
            .insert(key.client_id.clone(), Instant::now());
        *guard = Some(s?);
        Ok(Lease {
            guard,
            keep,
            fresh: true,
        })
    }

    /// Waits until `client_id` may connect again. The slot is reserved before sleeping and the
    /// lock released, so pacing one client id never delays another's connect.
    async fn pace(&self, client_id: &str) {
        let at = {
            let mut p = self.pacing.lock().unwrap_or_else(|e| e.into_inner());
            let (at, next) = reserve_connect(
                p.last_connect.get(client_id).copied(),
                p.account_next,
                Instant::now(),
                self.gap,
                self.account_gap,
            );
            p.account_next = Some(next);
            p.last_connect.insert(client_id.to_string(), at);
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }

    /// Closes every pooled connection (shutdown).
    pub async fn close_all(&self) {
        let slots: Vec<_> = {
            let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            s.drain().map(|(_, v)| v).collect()
        };
        // Concurrently: each close waits (bounded) for its DISCONNECT to flush.
        futures_util::future::join_all(slots.into_iter().map(|slot| async move {
            if let Some(s) = slot.lock().await.take() {
                s.close().await;
            }
        }))
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing() {
        let t = Instant::now();
        let gap = Duration::from_secs(1);
        assert_eq!(pacing_wait(None, t, gap), Duration::ZERO);
        assert_eq!(pacing_wait(Some(t), t, gap), gap);
        assert_eq!(
            pacing_wait(Some(t), t + Duration::from_millis(300), gap),
            Duration::from_millis(700)
        );
        assert_eq!(
            pacing_wait(Some(t), t + Duration::from_secs(5), gap),
            Duration::ZERO
        );
    }

    #[test]
    fn account_rate_spacing() {
        assert_eq!(account_gap(500), Duration::from_millis(2));
        assert_eq!(account_gap(1), Duration::from_secs(1));
        assert_eq!(account_gap(0), Duration::from_secs(1));
    }

    #[test]
    fn reservations_respect_both_limits() {
        let t = Instant::now();
        let id_gap = Duration::from_secs(1);
        let acc = Duration::from_millis(2);
        // First connect: now, and the account slot moves on by one gap.
        assert_eq!(reserve_connect(None, None, t, id_gap, acc), (t, t + acc));
        // The account slot is in the future: wait for it.
        let slot = t + Duration::from_millis(5);
        assert_eq!(
            reserve_connect(None, Some(slot), t, id_gap, acc),
            (slot, slot + acc)
        );
        // The client id's gap dominates a free account slot.
        let (at, next) = reserve_connect(Some(t), Some(t), t, id_gap, acc);
        assert_eq!(at, t + id_gap);
        assert_eq!(next, t + id_gap + acc);
        // A past account slot never moves the connect before now.
        let later = t + Duration::from_secs(10);
        assert_eq!(
            reserve_connect(Some(t), Some(t), later, id_gap, acc).0,
            later
        );
    }

    #[test]
    fn a_burst_of_distinct_ids_is_spread_at_the_account_rate() {
        let t = Instant::now();
        let acc = account_gap(500);
        let mut next = None;
        let mut ats = Vec::new();
        for _ in 0..1000 {
            let (at, n) = reserve_connect(None, next, t, Duration::from_secs(1), acc);
            next = Some(n);
            ats.push(at);
        }
        // 1,000 connects at 500/s take 2 s; no window of one second holds more than 500.
        assert_eq!(*ats.last().unwrap() - t, Duration::from_millis(1998));
        for (i, a) in ats.iter().enumerate() {
            let in_window = ats[i..]
                .iter()
                .take_while(|b| **b < *a + Duration::from_secs(1))
                .count();
            assert!(in_window <= 500, "{in_window} connects within 1 s of #{i}");
        }
    }
}
