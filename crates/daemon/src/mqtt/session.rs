//! One MQTT connection (3.1.1 or 5) over a presigned websocket, with its events as a channel.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{CredentialProvider, Endpoint, codes};
use crate::sigv4::presign::presign_url;
use iot_canary_core::verdict::MqttVersion;

/// AWS IoT allows 128 KiB packets; rumqttc defaults to 10 KiB.
const MAX_PACKET: usize = 128 * 1024;
/// QoS 1 publishes a connection may have unacknowledged (AWS allows 100); also the range of
/// packet ids rumqttc cycles through.
const OUTGOING_INFLIGHT: u16 = 10;
/// Presigned URLs only need to live until the upgrade completes.
const URL_VALIDITY: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct SessionOptions {
    pub endpoint: Endpoint,
    pub version: MqttVersion,
    pub client_id: String,
    pub credentials: Arc<dyn CredentialProvider>,
    pub keep_alive: Duration,
}

/// Why a connection ended (or never started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseCause {
    /// The websocket upgrade got an HTTP error status.
    UpgradeRejected(u16),
    Tls,
    /// The endpoint's host name did not resolve.
    Dns,
    /// TCP connection refused: nothing listens at the endpoint's address and port.
    TcpRefused,
    /// The TCP connect or the TLS/websocket handshake did not finish in time (a stalled
    /// endpoint), or the socket stopped taking writes.
    Timeout,
    /// Could not reach the endpoint for another reason (unreachable host or network), or the
    /// transport failed before the websocket upgrade completed (a reset during the handshake).
    Network,
    /// The established connection was closed by the peer without an MQTT answer (only after
    /// the upgrade, when the CONNECT or a request had been written).
    PeerClosed,
    /// MQTT 5 DISCONNECT from the server with this reason code.
    ServerDisconnect(u8),
    /// Credentials could not be obtained for signing.
    Credentials,
    /// The client itself refused or failed (an invalid topic, lost request tracking, a
    /// malformed packet): never the peer's answer. Kept short and free of secrets.
    Protocol(String),
}

impl std::fmt::Display for CloseCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseCause::UpgradeRejected(status) => {
                write!(f, "websocket upgrade refused with HTTP {status}")
            }
            CloseCause::Tls => f.write_str("TLS failure"),
            CloseCause::Network => f.write_str("network failure"),
            CloseCause::Dns => f.write_str("the endpoint's host name did not resolve"),
            CloseCause::TcpRefused => f.write_str("TCP connection refused"),
            CloseCause::Timeout => f.write_str("the transport stalled"),
            CloseCause::PeerClosed => f.write_str("closed by the server without an answer"),
            CloseCause::ServerDisconnect(code) => write!(f, "server DISCONNECT 0x{code:02X}"),
            CloseCause::Credentials => f.write_str("no credentials to sign with"),
            CloseCause::Protocol(detail) => write!(f, "client error: {detail}"),
        }
    }
}

/// A request sent on one session (SUBSCRIBE, UNSUBSCRIBE or PUBLISH), numbered in send order;
/// its ack names it.
pub type RequestId = u64;

/// How a [`Session::wait_for`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait<T> {
    Got(T),
    Closed { at: Instant, cause: CloseCause },
    TimedOut,
}

/// Something the connection saw after CONNACK. Acks are matched to their request by packet id
/// (`request` is `None` for an ack of no request of this session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The request was written to the network (rumqttc's `Outgoing` event for its packet).
    Sent {
        request: RequestId,
    },
    Suback {
        request: Option<RequestId>,
        codes: Vec<u8>,
    },
    Puback {
        request: Option<RequestId>,
        code: u8,
    },
    Unsuback {
        request: Option<RequestId>,
    },
    Publish {
        topic: String,
        payload: Bytes,
        retain: bool,
    },
    Closed(CloseCause),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// CONNACK with a non-zero code (3.1.1 return code or MQTT 5 reason code).
    Refused(u8),
    /// The connection ended before CONNACK; `after_ms`: since the websocket upgrade began (the
    /// CONNECT follows it at once), when it had.
    Closed {
        cause: CloseCause,
        after_ms: Option<u64>,
    },
}

enum Client {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

/// What kind of packet a request went out as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Subscribe,
    Unsubscribe,
    Publish,
}

/// Matches acks to requests: requests queue in send order; rumqttc reports each one's packet
/// id (`Outgoing::Subscribe(pkid)`, ...) in the same order as it writes it; acks carry the
/// packet id back.
#[derive(Default)]
struct Tracker {
    queue: VecDeque<(Kind, RequestId)>,
    by_pkid: HashMap<(Kind, u16), RequestId>,
}

type Shared<T> = Arc<Mutex<T>>;

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section leaves the tracker consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Session {
    client: Client,
    events: mpsc::UnboundedReceiver<(Instant, Event)>,
    task: JoinHandle<()>,
    tracker: Shared<Tracker>,
    next_request: RequestId,
    /// Events a wait did not take, kept for later waits: AWS orders neither acks nor messages,
    /// so a PUBACK may trail the delivery it caused.
    inbox: VecDeque<(Instant, Event)>,
    pub version: MqttVersion,
    pub client_id: String,
    /// When CONNACK arrived.
    pub connected_at: Instant,
    closed: bool,
    /// Every filter a SUBSCRIBE on this connection carried, never removed: AWS does not say an
    /// UNSUBSCRIBE stops deliveries at once, so a message may still arrive through any of them
    /// (a receive probe needs to know its marker could only come through its own filter).
    subscribed: BTreeSet<String>,
}

impl Session {
    /// Opens a connection and waits for CONNACK (no timeout here: callers bound it).
    pub async fn connect(opts: SessionOptions) -> Result<Session, ConnectFailure> {
        if opts.client_id.is_empty() || opts.client_id.starts_with(' ') {
            return Err(ConnectFailure::Closed {
                cause: CloseCause::Protocol("invalid client id".into()),
                after_ms: None,
            });
        }
        let signing = Arc::new(Mutex::new(Signing::default()));
        let modifier = presigner(&opts, signing.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        let (ack_tx, ack_rx) = oneshot::channel();
        let tracker: Shared<Tracker> = Default::default();
        let transport = match (
            &opts.endpoint.ca_pem,
            opts.endpoint.url.starts_with("ws://"),
        ) {
            (_, true) => rumqttc::Transport::Ws,
            (Some(ca), false) => rumqttc::Transport::wss(ca.as_ref().clone(), None, None),
            (None, false) => rumqttc::Transport::wss_with_default_config(),
        };
        let url = opts.endpoint.url.clone();
        let driver = Driver {
            tx,
            ack: Some(ack_tx),
            signing: signing.clone(),
            tracker: tracker.clone(),
        };
        let (client, task) = match opts.version {
            MqttVersion::V5 => {
                let mut o = rumqttc::v5::MqttOptions::new(opts.client_id.clone(), url, 443);
                o.set_transport(transport);
                o.set_keep_alive(opts.keep_alive);
                o.set_clean_start(true);
                o.set_max_packet_size(Some(MAX_PACKET as u32));
                // rumqttc's v5 default is u16::MAX in flight, for which it preallocates a
                // 65,536-slot table (~14 MB per connection, 2.8 GB peak RSS in the suite
                // benchmark). A probe has at most a few publishes in flight.
                o.set_outgoing_inflight_upper_limit(OUTGOING_INFLIGHT);
                o.set_request_modifier(modifier);
                let (client, el) = rumqttc::v5::AsyncClient::new(o, 64);
                (Client::V5(client), tokio::spawn(driver.run(el)))
            }
            MqttVersion::V311 => {
                let mut o = rumqttc::MqttOptions::new(opts.client_id.clone(), url, 443);
                o.set_transport(transport);
                o.set_keep_alive(opts.keep_alive);
                o.set_clean_session(true);
                o.set_max_packet_size(MAX_PACKET, MAX_PACKET);
                o.set_inflight(OUTGOING_INFLIGHT);
                o.set_request_modifier(modifier);
                let (client, el) = rumqttc::AsyncClient::new(o, 64);
                (Client::V4(client), tokio::spawn(driver.run(el)))
            }
        };
        match ack_rx.await {
            Ok(Ok(at)) => Ok(Session {
                client,
                events: rx,
                task,
                tracker,
                next_request: 1,
                inbox: VecDeque::new(),
                version: opts.version,
                client_id: opts.client_id,
                connected_at: at,
                closed: false,
                subscribed: BTreeSet::new(),
            }),
            Ok(Err(f)) => {
                task.abort();
                Err(f)
            }
            Err(_) => Err(ConnectFailure::Closed {
                cause: CloseCause::Protocol("event loop ended".into()),
                after_ms: None,
            }),
        }
    }

    /// Queues the tracking entry of the next request (before it is handed to the client, so
    /// the driver always finds it when rumqttc reports the packet).
    fn track(&mut self, kind: Kind) -> RequestId {
        let id = self.next_request;
        self.next_request += 1;
        locked(&self.tracker).queue.push_back((kind, id));
        id
    }

    /// The request never reached the event loop: forget its tracking entry, and say why. A
    /// client that refuses a request on a live connection is a client-side error; a gone event
    /// loop has sent its cause as the last event.
    async fn not_sent(&mut self, id: RequestId, refused: String) -> CloseCause {
        {
            let mut t = locked(&self.tracker);
            if t.queue.back().is_some_and(|(_, r)| *r == id) {
                t.queue.pop_back();
            }
        }
        if self.task.is_finished() {
            loop {
                if let (_, Event::Closed(cause)) = self.next_event().await {
                    return cause;
                }
            }
        }
        CloseCause::Protocol(refused)
    }

    /// SUBSCRIBE to `filters` (QoS 1 each) in one packet.
    pub async fn subscribe(&mut self, filters: &[&str]) -> Result<RequestId, CloseCause> {
        if let Some(bad) = filters.iter().find(|f| !rumqttc::valid_filter(f)) {
            return Err(CloseCause::Protocol(format!(
                "the MQTT client refuses the filter `{bad}`"
            )));
        }
        self.subscribed
            .extend(filters.iter().map(|f| (*f).to_string()));
        let id = self.track(Kind::Subscribe);
        let r = match &self.client {
            Client::V4(c) => c
                .subscribe_many(
                    filters
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.to_string(), qos_v4(1))),
                )
                .await
                .map_err(|e| e.to_string()),
            Client::V5(c) => c
                .subscribe_many(
                    filters
                        .iter()
                        .map(|f| rumqttc::v5::mqttbytes::v5::Filter::new(*f, qos_v5(1))),
                )
                .await
                .map_err(|e| e.to_string()),
        };
        match r {
            Ok(()) => Ok(id),
            Err(e) => Err(self.not_sent(id, short(&e)).await),
        }
    }

    /// The filters this connection ever sent in a SUBSCRIBE (whether granted, refused or
    /// unsubscribed since).
    pub fn ever_subscribed(&self) -> impl Iterator<Item = &str> {
        self.subscribed.iter().map(String::as_str)
    }

    /// UNSUBSCRIBE one filter.
    pub async fn unsubscribe(&mut self, filter: &str) -> Result<RequestId, CloseCause> {
        let id = self.track(Kind::Unsubscribe);
        let r = match &self.client {
            Client::V4(c) => c.unsubscribe(filter).await.map_err(|e| e.to_string()),
            Client::V5(c) => c.unsubscribe(filter).await.map_err(|e| e.to_string()),
        };
        match r {
            Ok(()) => Ok(id),
            Err(e) => Err(self.not_sent(id, short(&e)).await),
        }
    }

    pub async fn publish(
        &mut self,
        topic: &str,
        payload: Bytes,
        qos: u8,
        retain: bool,
    ) -> Result<RequestId, CloseCause> {
        if !rumqttc::valid_topic(topic) {
            return Err(CloseCause::Protocol(format!(
                "the MQTT client refuses the topic `{topic}`"
            )));
        }
        let id = self.track(Kind::Publish);
        let r = match &self.client {
            Client::V4(c) => c
                .publish(topic, qos_v4(qos), retain, payload)
                .await
                .map_err(|e| e.to_string()),
            Client::V5(c) => c
                .publish(topic, qos_v5(qos), retain, payload)
                .await
                .map_err(|e| e.to_string()),
        };
        match r {
            Ok(()) => Ok(id),
            Err(e) => Err(self.not_sent(id, short(&e)).await),
        }
    }

    /// Waits until `until` for the first event `pick` takes (events set aside by earlier waits
    /// first); events it does not take are set aside for later waits. A close ends every wait
    /// (and every later one).
    pub async fn wait_for<T>(
        &mut self,
        until: Instant,
        mut pick: impl FnMut(Instant, &Event) -> Option<T>,
    ) -> Wait<T> {
        for i in 0..self.inbox.len() {
            let (at, ev) = &self.inbox[i];
            if matches!(ev, Event::Closed(_)) {
                continue;
            }
            if let Some(t) = pick(*at, ev) {
                self.inbox.remove(i);
                return Wait::Got(t);
            }
        }
        if let Some((at, Event::Closed(cause))) = self
            .inbox
            .iter()
            .find(|(_, ev)| matches!(ev, Event::Closed(_)))
        {
            return Wait::Closed {
                at: *at,
                cause: cause.clone(),
            };
        }
        loop {
            let (at, ev) = match tokio::time::timeout_at(until.into(), self.events.recv()).await {
                Err(_) => return Wait::TimedOut,
                Ok(Some(e)) => e,
                Ok(None) => (Instant::now(), Event::Closed(CloseCause::PeerClosed)),
            };
            if let Event::Closed(cause) = &ev {
                self.closed = true;
                let cause = cause.clone();
                self.inbox.push_back((at, ev));
                return Wait::Closed { at, cause };
            }
            if let Some(t) = pick(at, &ev) {
                return Wait::Got(t);
            }
            self.inbox.push_back((at, ev));
        }
    }

    /// The next event; `Closed` once the connection is gone (repeated on further calls).
    pub async fn next_event(&mut self) -> (Instant, Event) {
        match self.events.recv().await {
            Some((at, ev)) => {
                if matches!(ev, Event::Closed(_)) {
                    self.closed = true;
                }
                (at, ev)
            }
            None => {
                self.closed = true;
                (Instant::now(), Event::Closed(CloseCause::PeerClosed))
            }
        }
    }

    /// Whether the connection can carry another probe.
    pub fn is_alive(&self) -> bool {
        !self.closed && !self.task.is_finished()
    }

    /// Drops everything queued so far (stale messages from earlier probes on a reused session).
    pub fn drain(&mut self) {
        if self
            .inbox
            .drain(..)
            .any(|(_, ev)| matches!(ev, Event::Closed(_)))
        {
            self.closed = true;
        }
        while let Ok((_, ev)) = self.events.try_recv() {
            if matches!(ev, Event::Closed(_)) {
                self.closed = true;
            }
        }
    }

    /// Sends DISCONNECT and stops the event loop.
    pub async fn close(mut self) {
        let _ = match &self.client {
            Client::V4(c) => c.disconnect().await.map_err(|e| e.to_string()),
            Client::V5(c) => c.disconnect().await.map_err(|e| e.to_string()),
        };
        // Give the DISCONNECT a moment to flush; the loop ends once the socket closes, and a
        // loop stuck on a dead socket is aborted by Drop.
        let _ = tokio::time::timeout(Duration::from_millis(500), &mut self.task).await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn qos_v4(q: u8) -> rumqttc::QoS {
    if q == 0 {
        rumqttc::QoS::AtMostOnce
    } else {
        rumqttc::QoS::AtLeastOnce
    }
}

fn qos_v5(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    if q == 0 {
        rumqttc::v5::mqttbytes::QoS::AtMostOnce
    } else {
        rumqttc::v5::mqttbytes::QoS::AtLeastOnce
    }
}

type Modifier = Box<
    dyn Fn(http::Request<()>) -> std::pin::Pin<Box<dyn Future<Output = http::Request<()>> + Send>>
        + Send
        + Sync,
>;

/// What the presigner saw: whether credentials were missing, and when the upgrade began.
#[derive(Default)]
struct Signing {
    credentials_failed: bool,
    upgrade_began: Option<Instant>,
}

/// The per-connect hook: fetch current credentials, presign a fresh URL for this instant.
fn presigner(opts: &SessionOptions, signing: Shared<Signing>) -> Modifier {
    let base = opts.endpoint.url.clone();
    let region = opts.endpoint.region.clone();
    let creds = opts.credentials.clone();
    Box::new(move |mut req: http::Request<()>| {
        let (base, region, creds, signing) =
            (base.clone(), region.clone(), creds.clone(), signing.clone());
        Box::pin(async move {
            let signed = match creds.credentials().await {
                Ok(c) => presign_url(&base, &region, &c, SystemTime::now(), URL_VALIDITY)
                    .ok()
                    .and_then(|u| u.parse::<http::Uri>().ok()),
                Err(_) => None,
            };
            let mut s = locked(&signing);
            match signed {
                Some(uri) => *req.uri_mut() = uri,
                // An unsigned request is refused by the gateway; the flag turns that refusal
                // into `Credentials` instead of an upgrade rejection.
                None => s.credentials_failed = true,
            }
            s.upgrade_began = Some(Instant::now());
            req
        })
    })
}

type AckTx = oneshot::Sender<Result<Instant, ConnectFailure>>;
type EventTx = mpsc::UnboundedSender<(Instant, Event)>;

/// The task that runs one connection's event loop: answers the CONNECT waiter once, resolves
/// packet ids to requests, and forwards every later event.
struct Driver {
    tx: EventTx,
    ack: Option<AckTx>,
    signing: Shared<Signing>,
    tracker: Shared<Tracker>,
}

impl Driver {
    async fn run<L: EventLoop>(mut self, mut el: L) {
        loop {
            let e = match el.poll_one().await {
                Ok(Polled::In(p)) => {
                    if !self.incoming(p) {
                        return;
                    }
                    continue;
                }
                Ok(Polled::Out(o)) => {
                    if let Err(lost) = self.outgoing(o) {
                        self.finish(CloseCause::Protocol(lost));
                        return;
                    }
                    continue;
                }
                Err(e) => e,
            };
            // The presigner could not get credentials: that, not the error the client reports,
            // is why the connection ended.
            let cause = if locked(&self.signing).credentials_failed {
                CloseCause::Credentials
            } else {
                match L::ended(&e) {
                    Ok(cause) => cause,
                    Err(code) => {
                        if let Some(a) = self.ack.take() {
                            let _ = a.send(Err(ConnectFailure::Refused(code)));
                        }
                        return;
                    }
                }
            };
            self.finish(cause);
            return;
        }
    }

    /// A request's packet was written: its packet id now names it. `Err` when the packet is not
    /// the next queued request's kind (tracking lost: acks could no longer be matched).
    fn outgoing(&mut self, o: Outgoing) -> Result<(), String> {
        let (kind, pkid) = match o {
            Outgoing::Subscribe(p) => (Kind::Subscribe, p),
            Outgoing::Unsubscribe(p) => (Kind::Unsubscribe, p),
            Outgoing::Publish(p) => (Kind::Publish, p),
            Outgoing::Other => return Ok(()),
        };
        let request = {
            let mut t = locked(&self.tracker);
            match t.queue.pop_front() {
                Some((k, id)) if k == kind => {
                    // QoS 0 publishes carry no packet id and get no ack.
                    if pkid != 0 {
                        t.by_pkid.insert((kind, pkid), id);
                    }
                    id
                }
                other => {
                    return Err(format!(
                        "request tracking lost: {kind:?} packet written, {other:?} queued"
                    ));
                }
            }
        };
        let _ = self.tx.send((Instant::now(), Event::Sent { request }));
        Ok(())
    }

    fn resolve(&self, kind: Kind, pkid: u16) -> Option<RequestId> {
        locked(&self.tracker).by_pkid.remove(&(kind, pkid))
    }

    /// Hands one decoded server packet to the session; `false` ends the driver (a refused
    /// CONNACK, a server DISCONNECT, or nobody listening any more).
    fn incoming(&mut self, inc: Incoming) -> bool {
        let now = Instant::now();
        let ev = match inc {
            Incoming::Connack(code) => {
                return match self.ack.take() {
                    Some(a) => {
                        let _ = a.send(if code == 0 {
                            Ok(now)
                        } else {
                            Err(ConnectFailure::Refused(code))
                        });
                        code == 0
                    }
                    None => true,
                };
            }
            Incoming::Suback { pkid, codes } => Event::Suback {
                request: self.resolve(Kind::Subscribe, pkid),
                codes,
            },
            Incoming::Unsuback { pkid } => Event::Unsuback {
                request: self.resolve(Kind::Unsubscribe, pkid),
            },
            Incoming::Puback { pkid, code } => Event::Puback {
                request: self.resolve(Kind::Publish, pkid),
                code,
            },
            Incoming::Publish {
                topic,
                payload,
                retain,
            } => Event::Publish {
                topic,
                payload,
                retain,
            },
            Incoming::Disconnect(code) => Event::Closed(CloseCause::ServerDisconnect(code)),
            Incoming::Ignore => return true,
        };
        let closing = matches!(ev, Event::Closed(_));
        self.tx.send((now, ev)).is_ok() && !closing
    }

    fn finish(&mut self, cause: CloseCause) {
        match self.ack.take() {
            Some(a) => {
                let after_ms = locked(&self.signing)
                    .upgrade_began
                    .map(|t| t.elapsed().as_millis() as u64);
                let _ = a.send(Err(ConnectFailure::Closed { cause, after_ms }));
            }
            None => {
                let _ = self.tx.send((Instant::now(), Event::Closed(cause)));
            }
        }
    }
}

/// A packet the client wrote, as far as request tracking cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    Subscribe(u16),
    Unsubscribe(u16),
    Publish(u16),
    Other,
}

/// One step of an event loop: a packet from the server or one the client wrote.
pub enum Polled {
    In(Incoming),
    Out(Outgoing),
}

/// One protocol version's event loop: its packets and how its errors end a session.
trait EventLoop {
    type Error;
    async fn poll_one(&mut self) -> Result<Polled, Self::Error>;
    /// How an error ends the session: a close cause, or `Err` with the code of a refused
    /// CONNECT. Errors before the upgrade completed (`ConnectionError::Io`, `Websocket`) are
    /// the transport's; a peer close counts only on an established websocket.
    fn ended(e: &Self::Error) -> Result<CloseCause, u8>;
}

impl EventLoop for rumqttc::v5::EventLoop {
    type Error = rumqttc::v5::ConnectionError;

    async fn poll_one(&mut self) -> Result<Polled, Self::Error> {
        Ok(match self.poll().await? {
            rumqttc::v5::Event::Incoming(p) => Polled::In(incoming_v5(p)),
            rumqttc::v5::Event::Outgoing(o) => Polled::Out(outgoing(o)),
        })
    }

    fn ended(e: &Self::Error) -> Result<CloseCause, u8> {
        use rumqttc::v5::{ConnectionError as E, StateError};
        Ok(match e {
            E::ConnectionRefused(c) => return Err(codes::connack_v5(*c)),
            E::MqttState(StateError::ServerDisconnect { reason_code, .. }) => {
                CloseCause::ServerDisconnect(*reason_code as u8)
            }
            E::MqttState(StateError::ConnFail { reason }) => {
                return Err(codes::connack_v5(*reason));
            }
            E::MqttState(StateError::ConnectionAborted) => CloseCause::PeerClosed,
            E::MqttState(StateError::Io(io)) => io_cause(io),
            E::MqttState(StateError::Deserialization(rumqttc::v5::mqttbytes::Error::Io(io))) => {
                io_cause(io)
            }
            E::MqttState(StateError::AwaitPingResp) => CloseCause::Network,
            // Before the upgrade completed: the transport, never the broker's answer.
            E::Io(io) => pre_upgrade(io_cause(io)),
            E::Websocket(w) => ws_cause(w),
            E::Tls(_) => CloseCause::Tls,
            E::Timeout(_) => CloseCause::Timeout,
            other => CloseCause::Protocol(short(other)),
        })
    }
}

impl EventLoop for rumqttc::EventLoop {
    type Error = rumqttc::ConnectionError;

    async fn poll_one(&mut self) -> Result<Polled, Self::Error> {
        Ok(match self.poll().await? {
            rumqttc::Event::Incoming(p) => Polled::In(incoming_v4(p)),
            rumqttc::Event::Outgoing(o) => Polled::Out(outgoing(o)),
        })
    }

    fn ended(e: &Self::Error) -> Result<CloseCause, u8> {
        use rumqttc::{ConnectionError as E, StateError};
        Ok(match e {
            E::ConnectionRefused(c) => return Err(codes::connack_v4(*c)),
            E::MqttState(StateError::ConnectionAborted) => CloseCause::PeerClosed,
            E::MqttState(StateError::Io(io)) => io_cause(io),
            E::MqttState(StateError::Deserialization(rumqttc::mqttbytes::Error::Io(io))) => {
                io_cause(io)
            }
            E::MqttState(StateError::AwaitPingResp) => CloseCause::Network,
            E::Io(io) => pre_upgrade(io_cause(io)),
            E::Websocket(w) => ws_cause(w),
            E::Tls(_) => CloseCause::Tls,
            E::NetworkTimeout | E::FlushTimeout => CloseCause::Timeout,
            other => CloseCause::Protocol(short(other)),
        })
    }
}

/// rumqttc's `Outgoing` events (one enum for both versions) as request tracking sees them.
fn outgoing(o: rumqttc::Outgoing) -> Outgoing {
    match o {
        rumqttc::Outgoing::Subscribe(p) => Outgoing::Subscribe(p),
        rumqttc::Outgoing::Unsubscribe(p) => Outgoing::Unsubscribe(p),
        rumqttc::Outgoing::Publish(p) => Outgoing::Publish(p),
        _ => Outgoing::Other,
    }
}

/// A socket error rumqttc reports as `ConnectionError::Io` comes from reaching the endpoint
/// (before any MQTT packet was written): a reset there is the network, not the broker.
fn pre_upgrade(cause: CloseCause) -> CloseCause {
    match cause {
        CloseCause::PeerClosed => CloseCause::Network,
        other => other,
    }
}

/// What one packet from the server means to a session (pure; shared with the fuzz entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// CONNACK with this reason/return code.
    Connack(u8),
    Suback {
        pkid: u16,
        codes: Vec<u8>,
    },
    Unsuback {
        pkid: u16,
    },
    Puback {
        pkid: u16,
        code: u8,
    },
    Publish {
        topic: String,
        payload: Bytes,
        retain: bool,
    },
    /// MQTT 5 DISCONNECT with this reason code.
    Disconnect(u8),
    /// Nothing a probe waits for (PINGRESP, ...).
    Ignore,
}

pub fn incoming_v5(p: rumqttc::v5::mqttbytes::v5::Packet) -> Incoming {
    use rumqttc::v5::mqttbytes::v5::Packet;
    match p {
        Packet::ConnAck(c) => Incoming::Connack(codes::connack_v5(c.code)),
        Packet::SubAck(s) => Incoming::Suback {
            pkid: s.pkid,
            codes: s.return_codes.iter().map(codes::suback_v5).collect(),
        },
        Packet::UnsubAck(u) => Incoming::Unsuback { pkid: u.pkid },
        Packet::PubAck(p) => Incoming::Puback {
            pkid: p.pkid,
            code: codes::puback_v5(&p.reason),
        },
        Packet::Publish(p) => Incoming::Publish {
            topic: String::from_utf8_lossy(&p.topic).into_owned(),
            payload: p.payload,
            retain: p.retain,
        },
        Packet::Disconnect(d) => Incoming::Disconnect(d.reason_code as u8),
        _ => Incoming::Ignore,
    }
}

pub fn incoming_v4(p: rumqttc::Packet) -> Incoming {
    use rumqttc::Packet;
    match p {
        Packet::ConnAck(c) => Incoming::Connack(codes::connack_v4(c.code)),
        Packet::SubAck(s) => Incoming::Suback {
            pkid: s.pkid,
            codes: s.return_codes.iter().map(codes::suback_v4).collect(),
        },
        Packet::UnsubAck(u) => Incoming::Unsuback { pkid: u.pkid },
        // 3.1.1 PUBACKs carry no code.
        Packet::PubAck(p) => Incoming::Puback {
            pkid: p.pkid,
            code: 0,
        },
        Packet::Publish(p) => Incoming::Publish {
            topic: p.topic.clone(),
            payload: p.payload,
            retain: p.retain,
        },
        _ => Incoming::Ignore,
    }
}

fn short(e: &dyn std::fmt::Display) -> String {
    // Client errors name packets and codes, not credentials; still cap the length.
    e.to_string().chars().take(120).collect()
}

/// What a socket error says about the endpoint (pure): the causes an operator acts on
/// differently — a name that does not resolve, a port nobody listens on, a TLS failure, a
/// stall — kept apart from a connection the peer closed.
pub fn io_cause(e: &std::io::Error) -> CloseCause {
    use std::io::ErrorKind as K;
    if is_tls(e) {
        return CloseCause::Tls;
    }
    if is_dns(e) {
        return CloseCause::Dns;
    }
    match e.kind() {
        K::ConnectionRefused => CloseCause::TcpRefused,
        K::TimedOut => CloseCause::Timeout,
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
            CloseCause::PeerClosed
        }
        _ => CloseCause::Network,
    }
}

/// A failed name lookup. std reports getaddrinfo failures as an uncategorized error (no
/// `ErrorKind` to match on stable Rust) whose text starts with this phrase; rumqttc reports a
/// name that resolved to no address as `InvalidInput` with the second one.
fn is_dns(e: &std::io::Error) -> bool {
    let text = e.to_string();
    text.starts_with("failed to lookup address information")
        || (e.kind() == std::io::ErrorKind::InvalidInput
            && text.contains("could not resolve to any address"))
}

fn is_tls(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

fn ws_cause(e: &tokio_tungstenite::tungstenite::Error) -> CloseCause {
    use tokio_tungstenite::tungstenite::Error as W;
    match e {
        W::Http(resp) => CloseCause::UpgradeRejected(resp.status().as_u16()),
        W::Tls(_) => CloseCause::Tls,
        W::Io(io) => pre_upgrade(io_cause(io)),
        // rumqttc reports websocket errors only for the handshake: the upgrade never
        // completed, so no MQTT packet reached the broker.
        W::ConnectionClosed | W::AlreadyClosed | W::Protocol(_) => CloseCause::Network,
        other => CloseCause::Protocol(short(other)),
    }
}
