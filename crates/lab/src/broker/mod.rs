//! MQTT broker with AWS IoT semantics: the shared registry (client ids, subscriptions,
//! retained messages, shadows) and routing. Per-packet decisions live in `decide`, framing in
//! `codec`, the per-connection socket loop in `session`.

pub mod codec;
pub mod decide;
pub mod session;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::realism::{Applied, Stats};
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
    /// Admin disconnect of one client id with this v5 DISCONNECT reason code.
    Server(u8),
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
    subs: Vec<Sub>,
}

#[derive(Debug)]
struct Sub {
    filter: String,
    qos: u8,
    /// Matches publishes routed at or after this (realism: activation delay after SUBACK).
    active_from: Instant,
}

/// A subscription the session asks for: filter, granted QoS, and when it starts matching.
pub type NewSubscription = (String, u8, Instant);

#[derive(Debug, Clone)]
struct Retained {
    payload: Bytes,
    qos: u8,
    /// When it was stored (GetRetainedMessage / ListRetainedMessages report it).
    modified: SystemTime,
}

/// A retained message as the HTTPS data plane reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedMessage {
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
    pub modified: SystemTime,
}

#[derive(Debug, Default)]
struct Inner {
    conns: HashMap<u64, Conn>,
    by_client: HashMap<String, u64>,
    retained: BTreeMap<String, Retained>,
    last_connect: HashMap<String, Instant>,
    /// Accepted connections per client id so far (a connection's realism seed uses it).
    connects_by_client: HashMap<String, u64>,
    shadows: Shadows,
    /// Realism: account-wide publish and subscription rates.
    account_publishes: decide::RateWindow,
    account_subscriptions: decide::RateWindow,
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
    /// How often each realism knob fired.
    pub realism_stats: Stats,
}

impl Broker {
    pub fn new(limits: Limits) -> Broker {
        Broker {
            inner: Mutex::new(Inner::default()),
            next_id: AtomicU64::new(1),
            limits,
            connects_total: AtomicU64::new(0),
            sockets_open: AtomicU64::new(0),
            realism_stats: Stats::default(),
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
    /// Returns the connection's id and how many connections this client id had before.
    pub fn register(&self, client_id: &str, tx: mpsc::Sender<ToSession>) -> (u64, u64) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut g = self.lock();
        let nth = {
            let n = g
                .connects_by_client
                .entry(client_id.to_string())
                .or_default();
            *n += 1;
            *n - 1
        };
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
        (id, nth)
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

    /// Adds (or replaces) subscriptions. A filter already subscribed keeps matching: its
    /// QoS changes, its activation time does not.
    pub fn subscribe(&self, id: u64, filters: &[NewSubscription]) {
        let mut g = self.lock();
        if let Some(c) = g.conns.get_mut(&id) {
            for (filter, qos, active_from) in filters {
                match c.subs.iter_mut().find(|s| &s.filter == filter) {
                    Some(s) => s.qos = *qos,
                    None => c.subs.push(Sub {
                        filter: filter.clone(),
                        qos: *qos,
                        active_from: *active_from,
                    }),
                }
            }
        }
    }

    pub fn unsubscribe(&self, id: u64, filters: &[String]) {
        if let Some(c) = self.lock().conns.get_mut(&id) {
            c.subs.retain(|s| !filters.contains(&s.filter));
        }
    }

    /// How many subscriptions connection `id` holds, and which of `filters` it holds already.
    pub fn held_subscriptions(&self, id: u64, filters: &[&str]) -> (usize, Vec<bool>) {
        let g = self.lock();
        match g.conns.get(&id) {
            Some(c) => (
                c.subs.len(),
                filters
                    .iter()
                    .map(|f| c.subs.iter().any(|s| s.filter == *f))
                    .collect(),
            ),
            None => (0, vec![false; filters.len()]),
        }
    }

    /// Realism: one more account-wide publish at `now` within `per_second` (0: no limit)?
    pub fn admit_account_publish(&self, now: Instant, per_second: u32) -> bool {
        per_second == 0 || self.lock().account_publishes.admit(now, per_second)
    }

    /// Realism: one more account-wide topic-filter subscription at `now`?
    pub fn admit_account_subscription(&self, now: Instant, per_second: u32) -> bool {
        per_second == 0 || self.lock().account_subscriptions.admit(now, per_second)
    }

    /// Retained messages stored, and whether `topic` has one.
    pub fn retained_count(&self, topic: &str) -> (usize, bool) {
        let g = self.lock();
        (g.retained.len(), g.retained.contains_key(topic))
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
            g.retained.insert(
                topic.to_string(),
                Retained {
                    payload,
                    qos,
                    modified: SystemTime::now(),
                },
            );
        }
    }

    /// The retained message of one concrete topic, with its metadata (GetRetainedMessage).
    pub fn retained_message(&self, topic: &str) -> Option<RetainedMessage> {
        self.lock().retained.get(topic).map(|r| RetainedMessage {
            topic: topic.to_string(),
            payload: r.payload.clone(),
            qos: r.qos,
            modified: r.modified,
        })
    }

    /// Every retained message, ordered by topic (ListRetainedMessages).
    pub fn retained_messages(&self) -> Vec<RetainedMessage> {
        self.lock()
            .retained
            .iter()
            .map(|(topic, r)| RetainedMessage {
                topic: topic.clone(),
                payload: r.payload.clone(),
                qos: r.qos,
                modified: r.modified,
            })
            .collect()
    }

    /// Whether a connection holds `client_id` right now.
    pub fn is_connected(&self, client_id: &str) -> bool {
        self.lock().by_client.contains_key(client_id)
    }

    /// Offers a message to every matching subscription (each session checks iot:Receive).
    /// A full queue applies backpressure to the publisher for up to [`SEND_WAIT`], then the
    /// message is dropped for that subscriber (two sessions publishing to each other with
    /// full queues cannot deadlock).
    ///
    /// A subscription inside its activation delay (realism) does not match: the message is
    /// not delivered on it, now or later.
    pub async fn route(&self, topic: &str, payload: Bytes, qos: u8, now: Instant) {
        let targets: Vec<(mpsc::Sender<ToSession>, ToSession)> = {
            let g = self.lock();
            g.conns
                .values()
                .filter_map(|c| {
                    let matching = c
                        .subs
                        .iter()
                        .filter(|s| decide::topic_matches(topic, &s.filter));
                    let mut inactive = false;
                    let best = matching
                        .filter(|s| {
                            let active = s.active_from <= now;
                            inactive |= !active;
                            active
                        })
                        .map(|s| s.qos)
                        .max();
                    if inactive && best.is_none() {
                        self.realism_stats.count(Applied::InactiveSubscription);
                    }
                    let best = best?;
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

    /// Runs the shadow service for a published request topic and routes its responses;
    /// `reject` (realism) answers `rejected` with that code instead of serving the request.
    pub async fn shadow_request(
        &self,
        topic: &shadow::ShadowTopic,
        payload: &[u8],
        epoch_secs: u64,
        reject: Option<u16>,
    ) {
        let responses = match reject {
            Some(code) => vec![shadow::reject(topic, payload, code, epoch_secs)],
            None => self.lock().shadows.handle(topic, payload, epoch_secs),
        };
        for r in responses {
            self.route(
                &r.topic,
                Bytes::from(r.payload.to_string()),
                1,
                Instant::now(),
            )
            .await;
        }
    }

    /// Serves one shadow request that arrived over HTTPS (the iot-data shadow operations):
    /// the same service as the MQTT topics, so both doors see one store. The responses are
    /// returned for the HTTP answer; those AWS also publishes to MQTT subscribers (an
    /// accepted update or delete, the delta and documents topics) are routed as well.
    pub async fn shadow_http(
        &self,
        topic: &shadow::ShadowTopic,
        payload: &[u8],
        epoch_secs: u64,
    ) -> Vec<shadow::Response> {
        let responses = self.lock().shadows.handle(topic, payload, epoch_secs);
        for r in &responses {
            let published = topic.op != shadow::Op::Get && !r.topic.ends_with("/rejected");
            if published {
                self.route(
                    &r.topic,
                    Bytes::from(r.payload.to_string()),
                    1,
                    Instant::now(),
                )
                .await;
            }
        }
        responses
    }

    /// The named shadows `thing` has (ListNamedShadowsForThing), sorted.
    pub fn named_shadows(&self, thing: &str) -> Vec<String> {
        self.lock().shadows.named(thing)
    }

    /// Kicks every connection (admin fault "disconnect all").
    pub fn kick_all(&self) -> usize {
        let g = self.lock();
        for c in g.conns.values() {
            let _ = c.tx.try_send(ToSession::Kick(Kick::Admin));
        }
        g.conns.len()
    }

    /// Ends the connection holding `client_id` as if another process had connected with it
    /// (3.1.1: close; 5: DISCONNECT 0x8E). False if nobody holds it.
    pub fn take_over(&self, client_id: &str) -> bool {
        let mut g = self.lock();
        let Some(id) = g.by_client.remove(client_id) else {
            return false;
        };
        if let Some(c) = g.conns.remove(&id) {
            let _ = c.tx.try_send(ToSession::Kick(Kick::TakenOver));
        }
        self.realism_stats.count(Applied::TakenOver);
        true
    }

    /// Ends the connection holding `client_id` with a server DISCONNECT `code` (3.1.1: close).
    pub fn disconnect(&self, client_id: &str, code: u8) -> bool {
        let g = self.lock();
        let Some(c) = g.by_client.get(client_id).and_then(|id| g.conns.get(id)) else {
            return false;
        };
        let _ = c.tx.try_send(ToSession::Kick(Kick::Server(code)));
        true
    }
}
