//! A raw MQTT client of the lab: packets written and read one by one (rumqttc's codecs, no
//! client state machine), each received packet stamped with the instant it arrived. For tests
//! that must see the wire: packet ids and the DUP flag of redeliveries, the order of acks and
//! messages, acks that come late, SUBSCRIBEs with more filters than a client library sends,
//! v5 DISCONNECT codes. It never acks or pings on its own.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use iot_canary_lab::RunningLab;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::mqtt::{Mqtt, WAIT, v5_connack_code, v5_puback_code, v5_suback_code};
use crate::sigv4::presign_now;

/// A packet from the lab, version-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pkt {
    ConnAck(u8),
    SubAck {
        pkid: u16,
        codes: Vec<u8>,
    },
    PubAck {
        pkid: u16,
        code: u8,
    },
    UnsubAck {
        pkid: u16,
    },
    Publish {
        topic: String,
        pkid: u16,
        qos: u8,
        dup: bool,
        retain: bool,
        payload: Vec<u8>,
    },
    /// MQTT 5 server DISCONNECT reason code.
    Disconnect(u8),
    PingResp,
    /// The connection ended (no more packets follow).
    Closed,
}

/// A packet and when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub at: Instant,
    pub pkt: Pkt,
}

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

pub struct Raw {
    pub version: Mqtt,
    sink: Sink,
    events: mpsc::UnboundedReceiver<Got>,
}

fn qos4(q: u8) -> rumqttc::mqttbytes::QoS {
    use rumqttc::mqttbytes::QoS;
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn qos5(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    use rumqttc::v5::mqttbytes::QoS;
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// A packet to send.
enum Out<'a> {
    Connect(&'a str),
    Subscribe(u16, &'a [(&'a str, u8)]),
    Publish {
        pkid: u16,
        topic: &'a str,
        qos: u8,
        retain: bool,
        payload: &'a [u8],
    },
    PubAck(u16),
    PingReq,
}

fn encode(version: Mqtt, out: Out<'_>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let written = match version {
        Mqtt::V311 => {
            let p = match out {
                Out::Connect(id) => {
                    let mut c = v4::Connect::new(id);
                    // No keep-alive: the raw client never pings.
                    c.keep_alive = 0;
                    v4::Packet::Connect(c)
                }
                Out::Subscribe(pkid, filters) => v4::Packet::Subscribe(v4::Subscribe {
                    pkid,
                    filters: filters
                        .iter()
                        .map(|(f, q)| v4::SubscribeFilter::new(f.to_string(), qos4(*q)))
                        .collect(),
                }),
                Out::Publish {
                    pkid,
                    topic,
                    qos,
                    retain,
                    payload,
                } => {
                    let mut p = v4::Publish::new(topic, qos4(qos), payload.to_vec());
                    p.pkid = pkid;
                    p.retain = retain;
                    v4::Packet::Publish(p)
                }
                Out::PubAck(pkid) => v4::Packet::PubAck(v4::PubAck::new(pkid)),
                Out::PingReq => v4::Packet::PingReq,
            };
            p.write(&mut buf, usize::MAX).map_err(|e| format!("{e:?}"))
        }
        Mqtt::V5 => {
            let p = match out {
                Out::Connect(id) => v5::Packet::Connect(
                    v5::Connect {
                        keep_alive: 0,
                        client_id: id.to_string(),
                        clean_start: true,
                        properties: None,
                    },
                    None,
                    None,
                ),
                Out::Subscribe(pkid, filters) => v5::Packet::Subscribe(v5::Subscribe {
                    pkid,
                    filters: filters
                        .iter()
                        .map(|(f, q)| v5::Filter::new(f.to_string(), qos5(*q)))
                        .collect(),
                    properties: None,
                }),
                Out::Publish {
                    pkid,
                    topic,
                    qos,
                    retain,
                    payload,
                } => {
                    let mut p = v5::Publish::new(topic, qos5(qos), payload.to_vec(), None);
                    p.pkid = pkid;
                    p.retain = retain;
                    v5::Packet::Publish(p)
                }
                Out::PubAck(pkid) => v5::Packet::PubAck(v5::PubAck::new(pkid, None)),
                Out::PingReq => v5::Packet::PingReq(v5::PingReq),
            };
            p.write(&mut buf, None).map_err(|e| format!("{e:?}"))
        }
    };
    written.unwrap_or_else(|e| panic!("encode a test packet: {e}"));
    buf.to_vec()
}

/// Decodes every complete packet in `buf`.
fn decode(version: Mqtt, buf: &mut BytesMut, out: &mut Vec<Pkt>) -> Result<(), String> {
    loop {
        if buf.is_empty() {
            return Ok(());
        }
        let pkt = match version {
            Mqtt::V311 => match v4::Packet::read(buf, usize::MAX) {
                Ok(p) => from_v4(p),
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => return Ok(()),
                Err(e) => return Err(format!("{e:?}")),
            },
            Mqtt::V5 => match v5::Packet::read(buf, None) {
                Ok(p) => from_v5(p),
                Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => return Ok(()),
                Err(e) => return Err(format!("{e:?}")),
            },
        };
        out.push(pkt?);
    }
}

fn from_v4(p: v4::Packet) -> Result<Pkt, String> {
    Ok(match p {
        v4::Packet::ConnAck(c) => Pkt::ConnAck(c.code as u8),
        v4::Packet::SubAck(s) => Pkt::SubAck {
            pkid: s.pkid,
            codes: s
                .return_codes
                .iter()
                .map(|c| match c {
                    v4::SubscribeReasonCode::Success(q) => *q as u8,
                    v4::SubscribeReasonCode::Failure => 0x80,
                })
                .collect(),
        },
        v4::Packet::PubAck(a) => Pkt::PubAck {
            pkid: a.pkid,
            code: 0,
        },
        v4::Packet::UnsubAck(u) => Pkt::UnsubAck { pkid: u.pkid },
        v4::Packet::Publish(p) => Pkt::Publish {
            topic: p.topic,
            pkid: p.pkid,
            qos: p.qos as u8,
            dup: p.dup,
            retain: p.retain,
            payload: p.payload.to_vec(),
        },
        v4::Packet::PingResp => Pkt::PingResp,
        other => return Err(format!("unexpected packet from the server: {other:?}")),
    })
}

fn from_v5(p: v5::Packet) -> Result<Pkt, String> {
    Ok(match p {
        v5::Packet::ConnAck(c) => Pkt::ConnAck(v5_connack_code(c.code)),
        v5::Packet::SubAck(s) => Pkt::SubAck {
            pkid: s.pkid,
            codes: s.return_codes.iter().map(|c| v5_suback_code(*c)).collect(),
        },
        v5::Packet::PubAck(a) => Pkt::PubAck {
            pkid: a.pkid,
            code: v5_puback_code(a.reason),
        },
        v5::Packet::UnsubAck(u) => Pkt::UnsubAck { pkid: u.pkid },
        v5::Packet::Publish(p) => Pkt::Publish {
            topic: String::from_utf8_lossy(&p.topic).into_owned(),
            pkid: p.pkid,
            qos: p.qos as u8,
            dup: p.dup,
            retain: p.retain,
            payload: p.payload.to_vec(),
        },
        v5::Packet::Disconnect(d) => Pkt::Disconnect(d.reason_code as u8),
        v5::Packet::PingResp(_) => Pkt::PingResp,
        other => return Err(format!("unexpected packet from the server: {other:?}")),
    })
}

impl Raw {
    /// Opens the websocket (plain labs only) and sends CONNECT; does not wait for CONNACK.
    pub async fn connect(
        lab: &RunningLab,
        version: Mqtt,
        creds: (&str, &str),
        client_id: &str,
    ) -> Raw {
        assert!(
            lab.ca_pem.is_none(),
            "the raw client speaks to plain (ws://) labs"
        );
        let url = presign_now(&lab.endpoints.mqtt, creds);
        let mut req = url.into_client_request().expect("a websocket request");
        req.headers_mut().insert(
            "sec-websocket-protocol",
            http::HeaderValue::from_static("mqtt"),
        );
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
            .await
            .expect("websocket upgrade in time")
            .expect("websocket upgrade");
        let (sink, mut stream) = ws.split();
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buf = BytesMut::new();
            loop {
                let frame = stream.next().await;
                let at = Instant::now();
                let data: Bytes = match frame {
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                        let _ = tx.send(Got {
                            at,
                            pkt: Pkt::Closed,
                        });
                        return;
                    }
                    Some(Ok(_)) => continue,
                };
                buf.extend_from_slice(&data);
                let mut pkts = Vec::new();
                let result = decode(version, &mut buf, &mut pkts);
                for pkt in pkts {
                    if tx.send(Got { at, pkt }).is_err() {
                        return;
                    }
                }
                if let Err(e) = result {
                    panic!("undecodable bytes from the lab: {e}");
                }
            }
        });
        let mut raw = Raw {
            version,
            sink,
            events,
        };
        raw.send(Out::Connect(client_id)).await;
        raw
    }

    /// Connects and insists on CONNACK 0.
    pub async fn connected(
        lab: &RunningLab,
        version: Mqtt,
        creds: (&str, &str),
        client_id: &str,
    ) -> Raw {
        let mut raw = Raw::connect(lab, version, creds, client_id).await;
        assert_eq!(
            raw.next().await.pkt,
            Pkt::ConnAck(0),
            "CONNACK for {client_id}"
        );
        raw
    }

    async fn send(&mut self, out: Out<'_>) {
        let bytes = encode(self.version, out);
        self.sink
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send to the lab");
    }

    /// SUBSCRIBE with every filter in one packet.
    pub async fn subscribe(&mut self, pkid: u16, filters: &[(&str, u8)]) {
        self.send(Out::Subscribe(pkid, filters)).await;
    }

    pub async fn publish(&mut self, pkid: u16, topic: &str, qos: u8, payload: &[u8]) {
        self.publish_with(pkid, topic, qos, false, payload).await;
    }

    pub async fn publish_with(
        &mut self,
        pkid: u16,
        topic: &str,
        qos: u8,
        retain: bool,
        payload: &[u8],
    ) {
        self.send(Out::Publish {
            pkid,
            topic,
            qos,
            retain,
            payload,
        })
        .await;
    }

    pub async fn puback(&mut self, pkid: u16) {
        self.send(Out::PubAck(pkid)).await;
    }

    pub async fn ping(&mut self) {
        self.send(Out::PingReq).await;
    }

    /// The next packet (bounded by [`WAIT`]).
    pub async fn next(&mut self) -> Got {
        self.next_within(WAIT)
            .await
            .expect("an MQTT packet from the lab in time")
    }

    /// The next packet within `d`, or `None`.
    pub async fn next_within(&mut self, d: Duration) -> Option<Got> {
        match tokio::time::timeout(d, self.events.recv()).await {
            Ok(Some(g)) => Some(g),
            Ok(None) => Some(Got {
                at: Instant::now(),
                pkt: Pkt::Closed,
            }),
            Err(_) => None,
        }
    }

    /// Packets until (not including) the first one `stop` accepts, which is returned last.
    pub async fn until(&mut self, stop: impl Fn(&Pkt) -> bool) -> (Vec<Got>, Got) {
        let mut before = Vec::new();
        loop {
            let g = self.next().await;
            if stop(&g.pkt) {
                return (before, g);
            }
            assert_ne!(
                g.pkt,
                Pkt::Closed,
                "closed before the awaited packet: {before:?}"
            );
            before.push(g);
        }
    }

    /// Waits for the end of the connection; returns the v5 DISCONNECT code if one came and
    /// every other packet seen on the way.
    pub async fn closed(&mut self) -> (Option<u8>, Vec<Got>) {
        let mut code = None;
        let mut seen = Vec::new();
        loop {
            let g = self.next().await;
            match g.pkt {
                Pkt::Disconnect(c) => code = Some(c),
                Pkt::Closed => return (code, seen),
                _ => seen.push(g),
            }
        }
    }
}

impl Pkt {
    /// The payload of a PUBLISH, as text.
    pub fn payload_text(&self) -> Option<String> {
        match self {
            Pkt::Publish { payload, .. } => Some(String::from_utf8_lossy(payload).into_owned()),
            _ => None,
        }
    }
}
