//! Connection reuse and connect pacing. MQTT 5 connections are kept per (identity, client id)
//! and reused by the next probe, because a 5 denial (0x87) leaves the connection up and every
//! connect costs money on AWS. 3.1.1 denials close the socket, so 3.1.1 probes always connect
//! fresh (which is also what the control confirmation needs).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{ConnectFailure, Session, SessionOptions};
use crate::verdict::MqttVersion;

/// How long to wait before the next CONNECT with a client id (pure).
pub fn pacing_wait(last_connect: Option<Instant>, now: Instant, gap: Duration) -> Duration {
    match last_connect {
        Some(last) => (last + gap).saturating_duration_since(now),
        None => Duration::ZERO,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub identity: String,
    pub client_id: String,
    pub version: MqttVersion,
}

pub struct SessionPool {
    slots: std::sync::Mutex<HashMap<SessionKey, Arc<Mutex<Option<Session>>>>>,
    last_connect: Mutex<HashMap<String, Instant>>,
    gap: Duration,
    connects: std::sync::atomic::AtomicU64,
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
    pub fn new(connect_gap: Duration) -> Self {
        SessionPool {
            slots: Default::default(),
            last_connect: Default::default(),
            gap: connect_gap,
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
        self.pace(&key.client_id).await;
        self.connects
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let s = Session::connect(opts).await;
        // The CONNECT reached the server at some point before this answer (or failure):
        // measuring the gap from here keeps the server's view of it at least `gap` too.
        self.last_connect
            .lock()
            .await
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
        let wait = {
            let mut last = self.last_connect.lock().await;
            let now = Instant::now();
            let wait = pacing_wait(last.get(client_id).copied(), now, self.gap);
            last.insert(client_id.to_string(), now + wait);
            wait
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Closes every pooled connection (shutdown).
    pub async fn close_all(&self) {
        let slots: Vec<_> = {
            let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            s.drain().map(|(_, v)| v).collect()
        };
        for slot in slots {
            if let Some(s) = slot.lock().await.take() {
                s.close().await;
            }
        }
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
}
