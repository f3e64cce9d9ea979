//! MQTT clients of the lab over presigned websockets (rumqttc): [`connect`] gives one
//! normalised event stream for MQTT 3.1.1 and 5 (the broker tests), [`connect_v5`] an MQTT 5
//! session with yes/no answers (the identity-plane tests).

use std::time::{Duration, SystemTime};

use iot_canary_lab::RunningLab;
use rumqttc::v5::mqttbytes::QoS as V5QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, SubscribeReasonCode};
use tokio::sync::mpsc;

use crate::sigv4::{Creds, presign_creds, presign_now};

/// Bound of one MQTT wait (a CONNACK, an ack, a delivery that must come).
pub const WAIT: Duration = Duration::from_secs(20);
/// The v5 session's bound (its connect includes the websocket upgrade).
const SESSION_WAIT: Duration = Duration::from_secs(30);
/// How long a delivery that must NOT happen is given to show up (the witness's own copy
/// arriving first proves the broker already routed it).
pub const NEGATIVE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mqtt {
    V311,
    V5,
}

/// Normalised client-side events.
#[derive(Debug, Clone, PartialEq)]
pub enum Ev {
    ConnAck(u8),
    PubAck(u16, u8),
    SubAck(Vec<u8>),
    Publish {
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    },
    /// v5 server DISCONNECT reason code.
    ServerDisconnect(u8),
    /// The event loop ended with this error text.
    Closed(String),
}

pub enum Handle {
    V311(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

pub struct Client {
    pub handle: Handle,
    pub events: tokio::sync::mpsc::UnboundedReceiver<Ev>,
}

fn v4_qos(q: u8) -> rumqttc::QoS {
    match q {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn v5_qos(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    match q {
        0 => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        1 => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        _ => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

/// Connects (without waiting for CONNACK); events arrive on `events`. The event loop stops at
/// its first error (no reconnect), which is reported as `Ev::Closed`.
pub fn connect(lab: &RunningLab, version: Mqtt, creds: (&str, &str), client_id: &str) -> Client {
    let url = presign_now(&lab.endpoints.mqtt, creds);
    connect_url(lab, version, &url, client_id)
}

pub fn connect_url(lab: &RunningLab, version: Mqtt, url: &str, client_id: &str) -> Client {
    let transport = match &lab.ca_pem {
        Some(ca) => rumqttc::Transport::wss(ca.clone().into_bytes(), None, None),
        None => rumqttc::Transport::Ws,
    };
    let port = lab.mqtt_addr.port();
    let (tx, events) = mpsc::unbounded_channel();
    let handle = match version {
        Mqtt::V311 => {
            let mut o = rumqttc::MqttOptions::new(client_id, url, port);
            o.set_transport(transport);
            o.set_max_packet_size(200 * 1024, 200 * 1024);
            o.set_keep_alive(Duration::from_secs(30));
            let (client, el) = rumqttc::AsyncClient::new(o, 100);
            forward(el, tx);
            Handle::V311(client)
        }
        Mqtt::V5 => {
            let mut o = rumqttc::v5::MqttOptions::new(client_id, url, port);
            o.set_transport(transport);
            o.set_max_packet_size(Some(200 * 1024));
            o.set_keep_alive(Duration::from_secs(30));
            let (client, el) = rumqttc::v5::AsyncClient::new(o, 100);
            forward(el, tx);
            Handle::V5(client)
        }
    };
    Client { handle, events }
}

/// A rumqttc event loop seen as normalised events.
trait Events: Send + 'static {
    /// The events the next poll yields (none for packets the tests ignore); the stream ends
    /// with an [`Ev::Closed`].
    fn next_events(&mut self) -> impl std::future::Future<Output = Vec<Ev>> + Send;
}

/// Polls `source` on a task and forwards its events until it closes or nobody listens.
fn forward(mut source: impl Events, tx: mpsc::UnboundedSender<Ev>) {
    tokio::spawn(async move {
        loop {
            for ev in source.next_events().await {
                let closed = matches!(ev, Ev::Closed(_));
                if tx.send(ev).is_err() || closed {
                    return;
                }
            }
        }
    });
}

impl Events for rumqttc::EventLoop {
    async fn next_events(&mut self) -> Vec<Ev> {
        use rumqttc::{Packet as P, SubscribeReasonCode as C};
        let p = match self.poll().await {
            Ok(rumqttc::Event::Incoming(p)) => p,
            Ok(_) => return vec![],
            Err(e) => return vec![Ev::Closed(e.to_string())],
        };
        match p {
            P::ConnAck(c) => vec![Ev::ConnAck(c.code as u8)],
            P::PubAck(a) => vec![Ev::PubAck(a.pkid, 0)],
            P::SubAck(s) => {
                let codes = s.return_codes.iter().map(|c| match c {
                    C::Success(q) => *q as u8,
                    C::Failure => 0x80,
                });
                vec![Ev::SubAck(codes.collect())]
            }
            P::Publish(p) => vec![Ev::Publish {
                topic: p.topic,
                payload: p.payload.to_vec(),
                retain: p.retain,
            }],
            _ => vec![],
        }
    }
}

impl Events for rumqttc::v5::EventLoop {
    async fn next_events(&mut self) -> Vec<Ev> {
        use rumqttc::v5::{ConnectionError, StateError};
        let p = match self.poll().await {
            Ok(rumqttc::v5::Event::Incoming(p)) => p,
            Ok(_) => return vec![],
            Err(ConnectionError::ConnectionRefused(code)) => {
                return vec![
                    Ev::ConnAck(v5_connack_code(code)),
                    Ev::Closed("refused".into()),
                ];
            }
            Err(ConnectionError::MqttState(StateError::ServerDisconnect {
                reason_code, ..
            })) => {
                return vec![
                    Ev::ServerDisconnect(reason_code as u8),
                    Ev::Closed("server disconnect".into()),
                ];
            }
            Err(e) => return vec![Ev::Closed(e.to_string())],
        };
        match p {
            Packet::ConnAck(c) => vec![Ev::ConnAck(v5_connack_code(c.code))],
            Packet::PubAck(a) => vec![Ev::PubAck(a.pkid, v5_puback_code(a.reason))],
            Packet::SubAck(s) => vec![Ev::SubAck(
                s.return_codes.iter().map(|c| v5_suback_code(*c)).collect(),
            )],
            Packet::Publish(p) => vec![Ev::Publish {
                topic: String::from_utf8_lossy(&p.topic).into_owned(),
                payload: p.payload.to_vec(),
                retain: p.retain,
            }],
            Packet::Disconnect(d) => vec![Ev::ServerDisconnect(d.reason_code as u8)],
            _ => vec![],
        }
    }
}

impl Client {
    pub async fn next(&mut self) -> Ev {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("timed out waiting for an MQTT event")
            .expect("event stream ended")
    }

    /// Next event that is not a PUBLISH of a topic in `skip`.
    pub async fn expect(&mut self, want: &Ev) {
        let got = self.next().await;
        assert_eq!(&got, want);
    }

    pub async fn connected(self) -> Client {
        self.connack(0).await
    }

    /// The first event is a CONNACK with `code` (0x87 not authorized, 0x97 quota, ...).
    pub async fn connack(mut self, code: u8) -> Client {
        self.expect(&Ev::ConnAck(code)).await;
        self
    }

    /// Waits for the connection to end; returns the v5 DISCONNECT code if one came first.
    pub async fn closed(&mut self) -> Option<u8> {
        let mut code = None;
        loop {
            match self.next().await {
                Ev::ServerDisconnect(c) => code = Some(c),
                Ev::Closed(_) => return code,
                other => panic!("expected the connection to close, got {other:?}"),
            }
        }
    }

    pub async fn publish(&self, topic: &str, qos: u8, retain: bool, payload: &[u8]) {
        match &self.handle {
            Handle::V311(c) => c
                .publish(topic, v4_qos(qos), retain, payload.to_vec())
                .await
                .unwrap(),
            Handle::V5(c) => c
                .publish(topic, v5_qos(qos), retain, payload.to_vec())
                .await
                .unwrap(),
        }
    }

    pub async fn subscribe(&self, filter: &str, qos: u8) {
        match &self.handle {
            Handle::V311(c) => c.subscribe(filter, v4_qos(qos)).await.unwrap(),
            Handle::V5(c) => c.subscribe(filter, v5_qos(qos)).await.unwrap(),
        }
    }

    /// SUBSCRIBE and expect it granted at `qos` (the next event must be that SUBACK).
    pub async fn subscribed(&mut self, filter: &str, qos: u8) {
        self.subscribe(filter, qos).await;
        self.expect(&Ev::SubAck(vec![qos])).await;
    }

    /// The next PUBLISH (acks skipped) is `payload` on `topic`.
    pub async fn expect_publish(&mut self, topic: &str, payload: &[u8]) {
        let (t, p, _) = self.next_publish().await;
        assert_eq!((t.as_str(), p.as_slice()), (topic, payload));
    }

    /// Waits for a PUBLISH (skipping acks); panics on close.
    pub async fn next_publish(&mut self) -> (String, Vec<u8>, bool) {
        loop {
            match self.next().await {
                Ev::Publish {
                    topic,
                    payload,
                    retain,
                } => return (topic, payload, retain),
                Ev::PubAck(..) | Ev::SubAck(_) => continue,
                other => panic!("expected a PUBLISH, got {other:?}"),
            }
        }
    }
}

pub(crate) fn v5_suback_code(c: rumqttc::v5::mqttbytes::v5::SubscribeReasonCode) -> u8 {
    use rumqttc::v5::mqttbytes::v5::SubscribeReasonCode as C;
    match c {
        C::Success(q) => q as u8,
        C::Failure | C::Unspecified => 0x80,
        C::ImplementationSpecific => 0x83,
        C::NotAuthorized => 0x87,
        C::TopicFilterInvalid => 0x8F,
        C::PkidInUse => 0x91,
        C::QuotaExceeded => 0x97,
        C::SharedSubscriptionsNotSupported => 0x9E,
        C::SubscriptionIdNotSupported => 0xA1,
        C::WildcardSubscriptionsNotSupported => 0xA2,
    }
}

pub(crate) fn v5_connack_code(c: rumqttc::v5::mqttbytes::v5::ConnectReturnCode) -> u8 {
    use rumqttc::v5::mqttbytes::v5::ConnectReturnCode as C;
    match c {
        C::Success => 0,
        C::ClientIdentifierNotValid => 0x85,
        C::BadUserNamePassword => 0x86,
        C::NotAuthorized => 0x87,
        C::QuotaExceeded => 0x97,
        C::QoSNotSupported => 0x9B,
        C::TopicNameInvalid => 0x90,
        C::UnspecifiedError => 0x80,
        other => panic!("unexpected CONNACK code {other:?}"),
    }
}

pub(crate) fn v5_puback_code(c: rumqttc::v5::mqttbytes::v5::PubAckReason) -> u8 {
    use rumqttc::v5::mqttbytes::v5::PubAckReason as C;
    match c {
        C::Success => 0,
        C::NoMatchingSubscribers => 0x10,
        C::UnspecifiedError => 0x80,
        C::ImplementationSpecificError => 0x83,
        C::NotAuthorized => 0x87,
        C::TopicNameInvalid => 0x90,
        C::PacketIdentifierInUse => 0x91,
        C::QuotaExceeded => 0x97,
        C::PayloadFormatInvalid => 0x99,
    }
}

/// One MQTT 5 connection whose events are forwarded to a channel by a polling task.
pub struct Session {
    pub client: rumqttc::v5::AsyncClient,
    events: mpsc::UnboundedReceiver<Result<Packet, String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a connection attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ConnectOutcome {
    Accepted,
    /// CONNACK with this reason (e.g. NotAuthorized).
    Refused(String),
    /// The websocket upgrade or the transport failed (e.g. `HTTP error: 403`).
    Transport(String),
}

pub async fn connect_v5(
    lab: &RunningLab,
    c: &Creds,
    client_id: &str,
) -> (ConnectOutcome, Option<Session>) {
    let url = presign_creds(&lab.endpoints.mqtt, c, SystemTime::now());
    let mut o = rumqttc::v5::MqttOptions::new(client_id, url, 0);
    o.set_transport(rumqttc::Transport::Ws);
    o.set_keep_alive(Duration::from_secs(60));
    o.set_connection_timeout(20);
    let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(o, 16);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::v5::Event::Incoming(p)) => {
                    if tx.send(Ok(p)).is_err() {
                        return;
                    }
                }
                Ok(rumqttc::v5::Event::Outgoing(_)) => {}
                Err(e) => {
                    let msg = match &e {
                        rumqttc::v5::ConnectionError::ConnectionRefused(code) => {
                            format!("refused:{code:?}")
                        }
                        other => format!("error:{other}"),
                    };
                    let _ = tx.send(Err(msg));
                    return;
                }
            }
        }
    });
    let first = tokio::time::timeout(SESSION_WAIT, rx.recv())
        .await
        .expect("connect outcome within the wait bound");
    let outcome = match first {
        Some(Ok(Packet::ConnAck(_))) => ConnectOutcome::Accepted,
        Some(Ok(other)) => ConnectOutcome::Transport(format!("unexpected first packet {other:?}")),
        Some(Err(m)) if m.starts_with("refused:") => {
            ConnectOutcome::Refused(m["refused:".len()..].to_string())
        }
        Some(Err(m)) => ConnectOutcome::Transport(m),
        None => ConnectOutcome::Transport("event loop ended".into()),
    };
    if outcome == ConnectOutcome::Accepted {
        (
            outcome,
            Some(Session {
                client,
                events: rx,
                task,
            }),
        )
    } else {
        task.abort();
        (outcome, None)
    }
}

/// Connects and insists on acceptance.
pub async fn connect_ok(lab: &RunningLab, c: &Creds, client_id: &str) -> Session {
    match connect_v5(lab, c, client_id).await {
        (ConnectOutcome::Accepted, Some(m)) => m,
        (other, _) => panic!("connect as {client_id} expected to be accepted, got {other:?}"),
    }
}

impl Session {
    async fn next(&mut self) -> Result<Packet, String> {
        match tokio::time::timeout(SESSION_WAIT, self.events.recv()).await {
            Ok(Some(r)) => r,
            Ok(None) => Err("event loop ended".into()),
            Err(_) => Err("timed out".into()),
        }
    }

    /// SUBSCRIBE one filter at QoS 1 → `true` if granted, `false` on SUBACK 0x87.
    pub async fn subscribe(&mut self, filter: &str) -> bool {
        self.client
            .subscribe(filter, V5QoS::AtLeastOnce)
            .await
            .expect("queue SUBSCRIBE");
        loop {
            match self.next().await {
                Ok(Packet::SubAck(s)) => {
                    return match s.return_codes.first() {
                        Some(SubscribeReasonCode::Success(_)) => true,
                        Some(SubscribeReasonCode::NotAuthorized) => false,
                        other => panic!("unexpected SUBACK code {other:?} for {filter}"),
                    };
                }
                Ok(_) => {}
                Err(e) => panic!("no SUBACK for {filter}: {e}"),
            }
        }
    }

    /// Each of `granted` is granted and each of `refused` refused (SUBACK 0x87), in order.
    pub async fn assert_subscriptions(&mut self, granted: &[&str], refused: &[&str]) {
        for filter in granted {
            assert!(self.subscribe(filter).await, "{filter} must be granted");
        }
        for filter in refused {
            assert!(!self.subscribe(filter).await, "{filter} must be refused");
        }
    }

    /// PUBLISH at QoS 1 → `true` on PUBACK success, `false` on PUBACK 0x87.
    pub async fn publish(&mut self, topic: &str, payload: &str) -> bool {
        self.client
            .publish(
                topic,
                V5QoS::AtLeastOnce,
                false,
                payload.as_bytes().to_vec(),
            )
            .await
            .expect("queue PUBLISH");
        loop {
            match self.next().await {
                Ok(Packet::PubAck(a)) => {
                    return match a.reason {
                        PubAckReason::Success | PubAckReason::NoMatchingSubscribers => true,
                        PubAckReason::NotAuthorized => false,
                        other => panic!("unexpected PUBACK reason {other:?} for {topic}"),
                    };
                }
                Ok(_) => {}
                Err(e) => panic!("no PUBACK for {topic}: {e}"),
            }
        }
    }

    /// Waits up to `within` for a PUBLISH with `payload` on `topic`.
    pub async fn received(&mut self, topic: &str, payload: &str, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(Ok(Packet::Publish(p))))
                    if p.topic == topic.as_bytes() && p.payload == payload.as_bytes() =>
                {
                    return true;
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => panic!("connection failed while waiting for {topic}: {e}"),
                Ok(None) | Err(_) => return false,
            }
        }
    }
}
