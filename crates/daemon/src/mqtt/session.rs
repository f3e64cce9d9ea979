//! One MQTT connection (3.1.1 or 5) over a presigned websocket, with its events as a channel.

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
/// QoS 1 publishes a connection may have unacknowledged (AWS allows 100).
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
    /// Could not reach the endpoint for another reason (unreachable host or network).
    Network,
    /// The established connection was closed by the peer without an MQTT answer.
    PeerClosed,
    /// MQTT 5 DISCONNECT from the server with this reason code.
    ServerDisconnect(u8),
    /// Credentials could not be obtained for signing.
    Credentials,
    /// Anything else the client reported (kept short and free of secrets).
    Protocol(String),
}

/// Something the connection saw after CONNACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Suback {
        codes: Vec<u8>,
    },
    Puback {
        code: u8,
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
    Closed(CloseCause),
}

enum Client {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

pub struct Session {
    client: Client,
    events: mpsc::UnboundedReceiver<(Instant, Event)>,
    task: JoinHandle<()>,
    pub version: MqttVersion,
    pub client_id: String,
    /// When CONNACK arrived.
    pub connected_at: Instant,
    closed: bool,
}

impl Session {
    /// Opens a connection and waits for CONNACK (no timeout here: callers bound it).
    pub async fn connect(opts: SessionOptions) -> Result<Session, ConnectFailure> {
        if opts.client_id.is_empty() || opts.client_id.starts_with(' ') {
            return Err(ConnectFailure::Closed(CloseCause::Protocol(
                "invalid client id".into(),
            )));
        }
        let cred_failed = Arc::new(Mutex::new(false));
        let modifier = presigner(&opts, cred_failed.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        let (ack_tx, ack_rx) = oneshot::channel();
        let transport = match (
            &opts.endpoint.ca_pem,
            opts.endpoint.url.starts_with("ws://"),
        ) {
            (_, true) => rumqttc::Transport::Ws,
            (Some(ca), false) => rumqttc::Transport::wss(ca.as_ref().clone(), None, None),
            (None, false) => rumqttc::Transport::wss_with_default_config(),
        };
        let url = opts.endpoint.url.clone();
        let (client, task) = match opts.version {
            MqttVersion::V5 => {
                let mut o = rumqttc::v5::MqttOptions::new(opts.client_id.clone(), url, 443);
                o.set_transport(transport);
                o.set_keep_alive(opts.keep_alive);
                o.set_clean_start(true);
                o.set_max_packet_size(Some(MAX_PACKET as u32));
                // rumqttc's v5 default is u16::MAX in flight, for which it preallocates a
                // 65,536-slot table (~14 MB per connection, 2.8 GB peak RSS in the suite
                // benchmark). A probe has at most two publishes in flight.
                o.set_outgoing_inflight_upper_limit(OUTGOING_INFLIGHT);
                o.set_request_modifier(modifier);
                let (client, el) = rumqttc::v5::AsyncClient::new(o, 64);
                let task = tokio::spawn(drive(el, tx, ack_tx, cred_failed));
                (Client::V5(client), task)
            }
            MqttVersion::V311 => {
                let mut o = rumqttc::MqttOptions::new(opts.client_id.clone(), url, 443);
                o.set_transport(transport);
                o.set_keep_alive(opts.keep_alive);
                o.set_clean_session(true);
                o.set_max_packet_size(MAX_PACKET, MAX_PACKET);
                o.set_request_modifier(modifier);
                let (client, el) = rumqttc::AsyncClient::new(o, 64);
                let task = tokio::spawn(drive(el, tx, ack_tx, cred_failed));
                (Client::V4(client), task)
            }
        };
        match ack_rx.await {
            Ok(Ok(at)) => Ok(Session {
                client,
                events: rx,
                task,
                version: opts.version,
                client_id: opts.client_id,
                connected_at: at,
                closed: false,
            }),
            Ok(Err(f)) => {
                task.abort();
                Err(f)
            }
            Err(_) => Err(ConnectFailure::Closed(CloseCause::Protocol(
                "event loop ended".into(),
            ))),
        }
    }

    pub async fn subscribe(&self, filter: &str, qos: u8) -> Result<(), CloseCause> {
        let r = match &self.client {
            Client::V4(c) => c
                .subscribe(filter, qos_v4(qos))
                .await
                .map_err(|e| e.to_string()),
            Client::V5(c) => c
                .subscribe(filter, qos_v5(qos))
                .await
                .map_err(|e| e.to_string()),
        };
        r.map_err(|_| CloseCause::PeerClosed)
    }

    pub async fn unsubscribe(&self, filter: &str) {
        // Best effort: a failed unsubscribe on a dying connection changes no verdict.
        let _ = match &self.client {
            Client::V4(c) => c.unsubscribe(filter).await.map_err(|e| e.to_string()),
            Client::V5(c) => c.unsubscribe(filter).await.map_err(|e| e.to_string()),
        };
    }

    pub async fn publish(
        &self,
        topic: &str,
        payload: Bytes,
        qos: u8,
        retain: bool,
    ) -> Result<(), CloseCause> {
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
        r.map_err(|_| CloseCause::PeerClosed)
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

/// The per-connect hook: fetch current credentials, presign a fresh URL for this instant.
fn presigner(opts: &SessionOptions, failed: Arc<Mutex<bool>>) -> Modifier {
    let base = opts.endpoint.url.clone();
    let region = opts.endpoint.region.clone();
    let creds = opts.credentials.clone();
    Box::new(move |mut req: http::Request<()>| {
        let (base, region, creds, failed) =
            (base.clone(), region.clone(), creds.clone(), failed.clone());
        Box::pin(async move {
            let signed = match creds.credentials().await {
                Ok(c) => presign_url(&base, &region, &c, SystemTime::now(), URL_VALIDITY)
                    .ok()
                    .and_then(|u| u.parse::<http::Uri>().ok()),
                Err(_) => None,
            };
            match signed {
                Some(uri) => *req.uri_mut() = uri,
                // An unsigned request is refused by the gateway; the flag turns that refusal
                // into `Credentials` instead of an upgrade rejection.
                None => {
                    if let Ok(mut f) = failed.lock() {
                        *f = true;
                    }
                }
            }
            req
        })
    })
}

fn cred_flag(f: &Mutex<bool>) -> bool {
    f.lock().map(|g| *g).unwrap_or(false)
}

type AckTx = oneshot::Sender<Result<Instant, ConnectFailure>>;
type EventTx = mpsc::UnboundedSender<(Instant, Event)>;

/// Hands one decoded server packet to the session; `false` ends the driver (a refused CONNACK,
/// a server DISCONNECT, or nobody listening any more). Shared by both protocol versions.
fn deliver(inc: Incoming, ack: &mut Option<AckTx>, tx: &EventTx) -> bool {
    let now = Instant::now();
    match inc {
        Incoming::Connack(code) => match ack.take() {
            Some(a) => {
                let _ = a.send(if code == 0 {
                    Ok(now)
                } else {
                    Err(ConnectFailure::Refused(code))
                });
                code == 0
            }
            None => true,
        },
        Incoming::Event(ev) => {
            let closing = matches!(ev, Event::Closed(_));
            tx.send((now, ev)).is_ok() && !closing
        }
        Incoming::Ignore => true,
    }
}

/// One protocol version's event loop: its packets and how its errors end a session.
trait EventLoop {
    type Error;
    /// The next packet from the server; `None` for one the client sent.
    async fn packet(&mut self) -> Result<Option<Incoming>, Self::Error>;
    /// How an error ends the session: a close cause, or `Err` with the code of a refused
    /// CONNECT.
    fn ended(e: &Self::Error) -> Result<CloseCause, u8>;
}

impl EventLoop for rumqttc::v5::EventLoop {
    type Error = rumqttc::v5::ConnectionError;

    async fn packet(&mut self) -> Result<Option<Incoming>, Self::Error> {
        Ok(match self.poll().await? {
            rumqttc::v5::Event::Incoming(p) => Some(incoming_v5(p)),
            rumqttc::v5::Event::Outgoing(_) => None,
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
            E::MqttState(StateError::Io(io)) | E::Io(io) => io_cause(io),
            E::MqttState(StateError::Deserialization(rumqttc::v5::mqttbytes::Error::Io(io))) => {
                io_cause(io)
            }
            E::Websocket(w) => ws_cause(w),
            E::Tls(_) => CloseCause::Tls,
            E::Timeout(_) => CloseCause::Timeout,
            other => CloseCause::Protocol(short(other)),
        })
    }
}

impl EventLoop for rumqttc::EventLoop {
    type Error = rumqttc::ConnectionError;

    async fn packet(&mut self) -> Result<Option<Incoming>, Self::Error> {
        Ok(match self.poll().await? {
            rumqttc::Event::Incoming(p) => Some(incoming_v4(p)),
            rumqttc::Event::Outgoing(_) => None,
        })
    }

    fn ended(e: &Self::Error) -> Result<CloseCause, u8> {
        use rumqttc::{ConnectionError as E, StateError};
        Ok(match e {
            E::ConnectionRefused(c) => return Err(codes::connack_v4(*c)),
            E::MqttState(StateError::ConnectionAborted) => CloseCause::PeerClosed,
            E::MqttState(StateError::Io(io)) | E::Io(io) => io_cause(io),
            E::MqttState(StateError::Deserialization(rumqttc::mqttbytes::Error::Io(io))) => {
                io_cause(io)
            }
            E::Websocket(w) => ws_cause(w),
            E::Tls(_) => CloseCause::Tls,
            E::NetworkTimeout | E::FlushTimeout => CloseCause::Timeout,
            other => CloseCause::Protocol(short(other)),
        })
    }
}

/// Runs an event loop until the connection ends, answering the CONNECT waiter once and
/// forwarding every later event.
async fn drive<L: EventLoop>(mut el: L, tx: EventTx, ack: AckTx, cred_failed: Arc<Mutex<bool>>) {
    let mut ack = Some(ack);
    loop {
        let e = match el.packet().await {
            Ok(Some(p)) => {
                if !deliver(p, &mut ack, &tx) {
                    return;
                }
                continue;
            }
            Ok(None) => continue,
            Err(e) => e,
        };
        // The presigner could not get credentials: that, not the error the client reports,
        // is why the connection ended.
        let cause = if cred_flag(&cred_failed) {
            CloseCause::Credentials
        } else {
            match L::ended(&e) {
                Ok(cause) => cause,
                Err(code) => {
                    if let Some(a) = ack.take() {
                        let _ = a.send(Err(ConnectFailure::Refused(code)));
                    }
                    return;
                }
            }
        };
        finish(ack.take(), &tx, cause);
        return;
    }
}

/// What one packet from the server means to a session (pure; shared with the fuzz entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// CONNACK with this reason/return code.
    Connack(u8),
    Event(Event),
    /// Nothing a probe waits for (PINGRESP, UNSUBACK, ...).
    Ignore,
}

pub fn incoming_v5(p: rumqttc::v5::mqttbytes::v5::Packet) -> Incoming {
    use rumqttc::v5::mqttbytes::v5::Packet;
    match p {
        Packet::ConnAck(c) => Incoming::Connack(codes::connack_v5(c.code)),
        Packet::SubAck(s) => Incoming::Event(Event::Suback {
            codes: s.return_codes.iter().map(codes::suback_v5).collect(),
        }),
        Packet::PubAck(p) => Incoming::Event(Event::Puback {
            code: codes::puback_v5(&p.reason),
        }),
        Packet::Publish(p) => Incoming::Event(Event::Publish {
            topic: String::from_utf8_lossy(&p.topic).into_owned(),
            payload: p.payload,
            retain: p.retain,
        }),
        Packet::Disconnect(d) => Incoming::Event(Event::Closed(CloseCause::ServerDisconnect(
            d.reason_code as u8,
        ))),
        _ => Incoming::Ignore,
    }
}

pub fn incoming_v4(p: rumqttc::Packet) -> Incoming {
    use rumqttc::Packet;
    match p {
        Packet::ConnAck(c) => Incoming::Connack(codes::connack_v4(c.code)),
        Packet::SubAck(s) => Incoming::Event(Event::Suback {
            codes: s.return_codes.iter().map(codes::suback_v4).collect(),
        }),
        Packet::PubAck(_) => Incoming::Event(Event::Puback { code: 0 }),
        Packet::Publish(p) => Incoming::Event(Event::Publish {
            topic: p.topic.clone(),
            payload: p.payload,
            retain: p.retain,
        }),
        _ => Incoming::Ignore,
    }
}

fn finish(ack: Option<AckTx>, tx: &EventTx, cause: CloseCause) {
    match ack {
        Some(a) => {
            let _ = a.send(Err(ConnectFailure::Closed(cause)));
        }
        None => {
            let _ = tx.send((Instant::now(), Event::Closed(cause)));
        }
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
        W::Io(io) => io_cause(io),
        W::ConnectionClosed | W::AlreadyClosed => CloseCause::PeerClosed,
        W::Protocol(_) => CloseCause::PeerClosed,
        other => CloseCause::Protocol(short(other)),
    }
}
