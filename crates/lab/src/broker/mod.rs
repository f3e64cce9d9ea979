//! MQTT broker with AWS IoT semantics: the shared registry (client ids, subscriptions,
//! retained messages, shadows) and routing. Per-packet decisions live in `decide`, framing in
//! `codec`, the per-connection socket loop in `session`.

pub mod codec;
pub mod decide;
pub mod session;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::shadow::{self, Shadows};

/// AWS IoT message-broker limits (aws-iot-authz.md §6); tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Minimum interval between CONNECTs with one client id (AWS: 1/s).
    pub connect_interval: Duration,
    /// Publishes per second per connection (AWS: 100).
    pub publishes_per_second: u32,
    /// Largest packet accepted (AWS: 128 KB).
    pub max_packet: usize,
    /// SigV4 websocket connections last at most this long (AWS: up to 24 h).
    pub max_connection: Duration,
    /// Time allowed between the upgrade and CONNECT.
    pub connect_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_interval: Duration::from_secs(1),
            publishes_per_second: 100,
            max_packet: 128 * 1024,
            max_connection: Duration::from_secs(24 * 3600),
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// Why the broker ends a connection from outside the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// Another connection took the client id (v5 DISCONNECT 0x8E).
    TakenOver,
    /// Admin "disconnect all" (v5 DISCONNECT 0x98).
    Admin,
}

/// Keeps [`Broker::sockets_open`] counted while a connection lives.
#[derive(Debug)]
pub struct SocketGuard(std::sync::Arc<Broker>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.sockets_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Messages to a session task.
#[derive(Debug, Clone)]
pub enum ToSession {
    Deliver {
        topic: String,
        payload: Bytes,
        qos: u8,
        /// Set only for retained messages sent on subscribe.
        retain: bool,
    },
    Kick(Kick),
}

#[derive(Debug)]
struct Conn {
    client_id: String,
    tx: mpsc::Sender<ToSession>,
    subs: Vec<(String, u8)>,
}

#[derive(Debug, Clone)]
struct Retained {
    payload: Bytes,
    qos: u8,
}

#[derive(Debug, Default)]
struct Inner {
    conns: HashMap<u64, Conn>,
    by_client: HashMap<String, u64>,
    retained: BTreeMap<String, Retained>,
    last_connect: HashMap<String, Instant>,
    shadows: Shadows,
}

/// Per-delivery queue depth; a slower client loses messages beyond it (QoS 1 in flight is
/// capped at 100 per client on AWS).
const QUEUE: usize = 1024;

/// How long a publisher waits on one subscriber's full queue.
pub const SEND_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Broker {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    pub limits: Limits,
    /// CONNECT packets received since start (benchmarks count the connects a client made).
    connects_total: AtomicU64,
    /// TCP connections the gateway holds open right now (leak checks).
    sockets_open: AtomicU64,
}

impl Broker {
    pub fn new(limits: Limits) -> Broker {
        Broker {
            inner: Mutex::new(Inner::default()),
            next_id: AtomicU64::new(1),
            limits,
            connects_total: AtomicU64::new(0),
            sockets_open: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent; a panic elsewhere must not take
        // the whole broker down.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn new_channel() -> (mpsc::Sender<ToSession>, mpsc::Receiver<ToSession>) {
        mpsc::channel(QUEUE)
    }

    /// Records a CONNECT attempt for `client_id`; false if the previous one was too recent.
    pub fn connect_attempt(&self, client_id: &str, now: Instant) -> bool {
        self.connects_total.fetch_add(1, Ordering::Relaxed);
        let mut g = self.lock();
        let ok = g
            .last_connect
            .get(client_id)
            .is_none_or(|t| now.duration_since(*t) >= self.limits.connect_interval);
        g.last_connect.insert(client_id.to_string(), now);
        ok
    }

    /// Registers an accepted connection; the previous holder of the client id is kicked.
    pub fn register(&self, client_id: &str, tx: mpsc::Sender<ToSession>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut g = self.lock();
        if let Some(old) = g.by_client.insert(client_id.to_string(), id)
            && let Some(c) = g.conns.remove(&old)
        {
            let _ = c.tx.try_send(ToSession::Kick(Kick::TakenOver));
        }
        g.conns.insert(
            id,
            Conn {
                client_id: client_id.to_string(),
                tx,
                subs: Vec::new(),
            },
        );
        id
    }

    pub fn unregister(&self, id: u64) {
        let mut g = self.lock();
        if let Some(c) = g.conns.remove(&id)
            && g.by_client.get(&c.client_id) == Some(&id)
        {
            g.by_client.remove(&c.client_id);
        }
    }

    pub fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    /// CONNECT packets with a valid client id received since start.
    pub fn connects_total(&self) -> u64 {
        self.connects_total.load(Ordering::Relaxed)
    }

    /// TCP connections currently open at the gateway (any stage: TLS, upgrade, MQTT).
    pub fn sockets_open(&self) -> u64 {
        self.sockets_open.load(Ordering::Relaxed)
    }

    /// Counts an open socket until the returned guard drops.
    pub fn socket_guard(self: &std::sync::Arc<Self>) -> SocketGuard {
        self.sockets_open.fetch_add(1, Ordering::Relaxed);
        SocketGuard(self.clone())
    }

    pub fn subscribe(&self, id: u64, filters: &[(String, u8)]) {
        let mut g = self.lock();
        if let Some(c) = g.conns.get_mut(&id) {
            for (f, q) in filters {
                c.subs.retain(|(existing, _)| existing != f);
                c.subs.push((f.clone(), *q));
            }
        }
    }

    pub fn unsubscribe(&self, id: u64, filters: &[String]) {
        if let Some(c) = self.lock().conns.get_mut(&id) {
            c.subs.retain(|(f, _)| !filters.contains(f));
        }
    }

    /// Retained message for a concrete topic (AWS does not send retained messages to
    /// wildcard subscriptions).
    pub fn retained_for(&self, filter: &str) -> Option<(Bytes, u8)> {
        if decide::is_wildcard(filter) {
            return None;
        }
        self.lock()
            .retained
            .get(filter)
            .map(|r| (r.payload.clone(), r.qos))
    }

    /// Stores (non-empty payload) or clears (empty payload) a retained message.
    pub fn retain(&self, topic: &str, payload: Bytes, qos: u8) {
        let mut g = self.lock();
        if payload.is_empty() {
            g.retained.remove(topic);
        } else {
            g.retained
                .insert(topic.to_string(), Retained { payload, qos });
        }
    }

    /// Offers a message to every matching subscription (each session checks iot:Receive).
    /// A full queue applies backpressure to the publisher for up to [`SEND_WAIT`], then the
    /// message is dropped for that subscriber (two sessions publishing to each other with
    /// full queues cannot deadlock).
    pub async fn route(&self, topic: &str, payload: Bytes, qos: u8) {
        let targets: Vec<(mpsc::Sender<ToSession>, ToSession)> = {
            let g = self.lock();
            g.conns
                .values()
                .filter_map(|c| {
                    let best = c
                        .subs
                        .iter()
                        .filter(|(f, _)| decide::topic_matches(topic, f))
                        .map(|(_, q)| *q)
                        .max()?;
                    Some((
                        c.tx.clone(),
                        ToSession::Deliver {
                            topic: topic.to_string(),
                            payload: payload.clone(),
                            qos: best.min(qos),
                            retain: false,
                        },
                    ))
                })
                .collect()
        };
        for (tx, msg) in targets {
            if let Err(mpsc::error::TrySendError::Full(msg)) = tx.try_send(msg)
                && tokio::time::timeout(SEND_WAIT, tx.send(msg)).await.is_err()
            {
                tracing::debug!("subscriber queue full; message dropped");
            }
        }
    }

    /// Runs the shadow service for a published request topic and routes its responses.
    pub async fn shadow_request(
        &self,
        topic: &shadow::ShadowTopic,
        payload: &[u8],
        epoch_secs: u64,
    ) {
        let responses = self.lock().shadows.handle(topic, payload, epoch_secs);
        for r in responses {
            self.route(&r.topic, Bytes::from(r.payload.to_string()), 1)
                .await;
        }
    }

    /// Kicks every connection (admin fault "disconnect all").
    pub fn kick_all(&self) -> usize {
        let g = self.lock();
        for c in g.conns.values() {
            let _ = c.tx.try_send(ToSession::Kick(Kick::Admin));
        }
        g.conns.len()
    }
}
