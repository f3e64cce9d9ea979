//! MQTT framing for the broker. Inbound packets are decoded with rumqttc's public codecs and
//! mapped to one version-neutral [`Inbound`]; outbound packets are encoded here by hand (a few
//! bytes each), which sidesteps rumqttc 0.25's v5 DISCONNECT encoder bugs (rust-stack.md §4).

use bytes::{Buf, BufMut, BytesMut};

use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// MQTT 3.1.1 (protocol level 4)
    V311,
    /// MQTT 5
    V5,
}

/// A PUBLISH in either direction, either version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    /// 0 at QoS 0.
    pub pkid: u16,
    pub payload: bytes::Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Connect {
        client_id: String,
        keep_alive: u16,
        clean_session: bool,
        has_will: bool,
        /// MQTT 5 Maximum Packet Size the client accepts.
        max_packet_size: Option<u32>,
    },
    Publish {
        publish: Publish,
        /// MQTT 5 topic alias (AWS supports them; the lab does not, see docs/lab.md).
        topic_alias: Option<u16>,
    },
    PubAck,
    Subscribe {
        pkid: u16,
        filters: Vec<(String, u8)>,
    },
    Unsubscribe {
        pkid: u16,
        filters: Vec<String>,
    },
    PingReq,
    Disconnect,
    /// A packet the lab does not take from clients (PUBREC/PUBREL/PUBCOMP/AUTH/server-only
    /// packets): a protocol error.
    Unexpected(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("packet larger than the {0}-byte limit")]
    TooLarge(usize),
    #[error("malformed packet: {0}")]
    Malformed(String),
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocol(u8),
}

/// Reads the fixed header: (packet type nibble, header length, remaining length). `None` when
/// more bytes are needed.
fn fixed_header(buf: &[u8]) -> Result<Option<(u8, usize, usize)>, CodecError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        len |= ((b & 0x7f) as usize) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((first >> 4, 2 + i, len)));
        }
    }
    Err(CodecError::Malformed(
        "remaining length longer than 4 bytes".into(),
    ))
}

/// The protocol level of a buffered first packet, which must be CONNECT. `None`: need more.
pub fn sniff_version(buf: &[u8]) -> Result<Option<Version>, CodecError> {
    let Some((kind, hdr, _)) = fixed_header(buf)? else {
        return Ok(None);
    };
    if kind != 1 {
        return Err(CodecError::Malformed("first packet is not CONNECT".into()));
    }
    // Protocol name "MQTT" (2-byte length + 4 bytes) then the level byte.
    let Some(&level) = buf.get(hdr + 6) else {
        return Ok(None);
    };
    match level {
        4 => Ok(Some(Version::V311)),
        5 => Ok(Some(Version::V5)),
        other => Err(CodecError::UnsupportedProtocol(other)),
    }
}

fn qos_u8<Q: std::fmt::Debug>(q: Q) -> u8 {
    // Both codecs' QoS enums print as AtMostOnce / AtLeastOnce / ExactlyOnce.
    match format!("{q:?}").as_str() {
        "AtMostOnce" => 0,
        "AtLeastOnce" => 1,
        _ => 2,
    }
}

/// Decodes one packet from `buf` (consuming it) or returns `Ok(None)` if incomplete.
pub fn decode(
    version: Version,
    buf: &mut BytesMut,
    max_size: usize,
) -> Result<Option<Inbound>, CodecError> {
    let Some((kind, hdr, len)) = fixed_header(buf)? else {
        return Ok(None);
    };
    if hdr + len > max_size {
        return Err(CodecError::TooLarge(max_size));
    }
    if buf.len() < hdr + len {
        return Ok(None);
    }
    // DISCONNECT is taken here for both versions: rumqttc's v5 decoder rejects the valid
    // short forms `E0 00` and `E0 01 rc` (rust-stack.md §4).
    if kind == 14 {
        buf.advance(hdr + len);
        return Ok(Some(Inbound::Disconnect));
    }
    let malformed = |e: &dyn std::fmt::Display| CodecError::Malformed(e.to_string());
    let packet = match version {
        Version::V311 => match v4::Packet::read(buf, max_size) {
            Ok(p) => from_v4(p),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => return Ok(None),
            Err(e) => return Err(malformed(&e)),
        },
        Version::V5 => match v5::Packet::read(buf, Some(max_size as u32)) {
            Ok(p) => from_v5(p),
            Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => return Ok(None),
            Err(e) => return Err(malformed(&e)),
        },
    };
    Ok(Some(packet))
}

/// SUBSCRIBE carries the same fields in both versions, in types of their own.
macro_rules! subscribe {
    ($s:expr) => {
        Inbound::Subscribe {
            pkid: $s.pkid,
            filters: $s
                .filters
                .into_iter()
                .map(|f| (f.path, qos_u8(f.qos)))
                .collect(),
        }
    };
}

fn from_v4(p: v4::Packet) -> Inbound {
    match p {
        v4::Packet::Connect(c) => Inbound::Connect {
            client_id: c.client_id,
            keep_alive: c.keep_alive,
            clean_session: c.clean_session,
            has_will: c.last_will.is_some(),
            max_packet_size: None,
        },
        v4::Packet::Publish(p) => Inbound::Publish {
            publish: Publish {
                topic: p.topic,
                qos: qos_u8(p.qos),
                retain: p.retain,
                pkid: p.pkid,
                payload: p.payload,
            },
            topic_alias: None,
        },
        v4::Packet::PubAck(_) => Inbound::PubAck,
        v4::Packet::Subscribe(s) => subscribe!(s),
        v4::Packet::Unsubscribe(u) => Inbound::Unsubscribe {
            pkid: u.pkid,
            filters: u.topics,
        },
        v4::Packet::PingReq => Inbound::PingReq,
        v4::Packet::Disconnect => Inbound::Disconnect,
        v4::Packet::PubRec(_) => Inbound::Unexpected("PUBREC"),
        v4::Packet::PubRel(_) => Inbound::Unexpected("PUBREL"),
        v4::Packet::PubComp(_) => Inbound::Unexpected("PUBCOMP"),
        _ => Inbound::Unexpected("server-to-client packet"),
    }
}

fn from_v5(p: v5::Packet) -> Inbound {
    match p {
        v5::Packet::Connect(c, will, _login) => Inbound::Connect {
            client_id: c.client_id,
            keep_alive: c.keep_alive,
            clean_session: c.clean_start,
            has_will: will.is_some(),
            max_packet_size: c.properties.and_then(|p| p.max_packet_size),
        },
        v5::Packet::Publish(p) => Inbound::Publish {
            publish: Publish {
                topic: String::from_utf8_lossy(&p.topic).into_owned(),
                qos: qos_u8(p.qos),
                retain: p.retain,
                pkid: p.pkid,
                payload: p.payload,
            },
            topic_alias: p.properties.and_then(|p| p.topic_alias),
        },
        v5::Packet::PubAck(_) => Inbound::PubAck,
        v5::Packet::Subscribe(s) => subscribe!(s),
        v5::Packet::Unsubscribe(u) => Inbound::Unsubscribe {
            pkid: u.pkid,
            filters: u.filters,
        },
        v5::Packet::PingReq(_) => Inbound::PingReq,
        v5::Packet::Disconnect(_) => Inbound::Disconnect,
        v5::Packet::Auth(_) => Inbound::Unexpected("AUTH"),
        v5::Packet::PubRec(_) => Inbound::Unexpected("PUBREC"),
        v5::Packet::PubRel(_) => Inbound::Unexpected("PUBREL"),
        v5::Packet::PubComp(_) => Inbound::Unexpected("PUBCOMP"),
        _ => Inbound::Unexpected("server-to-client packet"),
    }
}

/// Packets the broker sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// `code`: v5 reason code; for 3.1.1 only 0 is ever sent (AWS closes instead of refusing).
    ConnAck {
        code: u8,
        max_packet: u32,
    },
    PubAck {
        pkid: u16,
        code: u8,
    },
    SubAck {
        pkid: u16,
        codes: Vec<u8>,
    },
    UnsubAck {
        pkid: u16,
        count: usize,
    },
    Publish(Publish),
    PingResp,
    /// v5 only (3.1.1 has no server DISCONNECT).
    Disconnect {
        code: u8,
    },
}

fn put_varint(out: &mut BytesMut, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.put_u8(b);
        if n == 0 {
            break;
        }
    }
}

fn put_str(out: &mut BytesMut, s: &str) {
    out.put_u16(s.len() as u16);
    out.put_slice(s.as_bytes());
}

fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::with_capacity(body.len() + 5);
    out.put_u8(first);
    put_varint(&mut out, body.len());
    out.put_slice(body);
    out.to_vec()
}

/// Encodes a packet for `version`.
pub fn encode(version: Version, packet: &Outbound) -> Vec<u8> {
    let v5 = version == Version::V5;
    let mut b = BytesMut::new();
    match packet {
        Outbound::ConnAck { code, max_packet } => {
            b.put_u8(0); // session present: the lab keeps no persistent sessions
            b.put_u8(*code);
            if v5 {
                // Properties AWS IoT advertises: Maximum QoS 1, Retain Available 1, Maximum
                // Packet Size, Wildcard Subscription Available 1, Subscription Identifier
                // Available 0, Shared Subscription Available 1 (aws-iot-authz.md §2.2).
                let mut p = BytesMut::new();
                if *code == 0 {
                    p.put_u8(0x24);
                    p.put_u8(1);
                    p.put_u8(0x25);
                    p.put_u8(1);
                    p.put_u8(0x27);
                    p.put_u32(*max_packet);
                    p.put_u8(0x28);
                    p.put_u8(1);
                    p.put_u8(0x29);
                    p.put_u8(0);
                    p.put_u8(0x2A);
                    p.put_u8(1);
                }
                put_varint(&mut b, p.len());
                b.put_slice(&p);
            }
            frame(0x20, &b)
        }
        Outbound::PubAck { pkid, code } => {
            b.put_u16(*pkid);
            if v5 && *code != 0 {
                b.put_u8(*code);
                b.put_u8(0);
            }
            frame(0x40, &b)
        }
        Outbound::SubAck { pkid, codes } => {
            b.put_u16(*pkid);
            if v5 {
                b.put_u8(0);
            }
            b.put_slice(codes);
            frame(0x90, &b)
        }
        Outbound::UnsubAck { pkid, count } => {
            b.put_u16(*pkid);
            if v5 {
                b.put_u8(0);
                b.put_slice(&vec![0u8; *count]);
            }
            frame(0xB0, &b)
        }
        Outbound::Publish(Publish {
            topic,
            qos,
            retain,
            pkid,
            payload,
        }) => {
            put_str(&mut b, topic);
            if *qos > 0 {
                b.put_u16(*pkid);
            }
            if v5 {
                b.put_u8(0);
            }
            b.put_slice(payload);
            frame(0x30 | (qos << 1) | u8::from(*retain), &b)
        }
        Outbound::PingResp => frame(0xD0, &[]),
        Outbound::Disconnect { code } => frame(0xE0, &[*code, 0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_connect(client_id: &str) -> Vec<u8> {
        let mut body = BytesMut::new();
        put_str(&mut body, "MQTT");
        body.put_u8(4);
        body.put_u8(0x02);
        body.put_u16(30);
        put_str(&mut body, client_id);
        frame(0x10, &body)
    }

    #[test]
    fn sniffs_version_and_decodes_connect_in_pieces() {
        let bytes = v4_connect("dev-1");
        assert_eq!(sniff_version(&bytes[..5]).unwrap(), None);
        assert_eq!(sniff_version(&bytes).unwrap(), Some(Version::V311));
        let mut buf = BytesMut::from(&bytes[..bytes.len() - 1]);
        assert_eq!(decode(Version::V311, &mut buf, 1024).unwrap(), None);
        buf.extend_from_slice(&bytes[bytes.len() - 1..]);
        let p = decode(Version::V311, &mut buf, 1024).unwrap().unwrap();
        assert!(
            matches!(p, Inbound::Connect { ref client_id, keep_alive: 30, clean_session: true, has_will: false, .. } if client_id == "dev-1")
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_non_connect_first_and_unknown_levels() {
        assert!(sniff_version(&[0x30, 0x00]).is_err());
        let mut bytes = v4_connect("x");
        bytes[8] = 3;
        assert_eq!(
            sniff_version(&bytes),
            Err(CodecError::UnsupportedProtocol(3))
        );
    }

    #[test]
    fn too_large_is_detected_from_the_header_alone() {
        let mut buf = BytesMut::from(&[0x30u8, 0xff, 0xff, 0x7f][..]);
        assert_eq!(
            decode(Version::V311, &mut buf, 128 * 1024),
            Err(CodecError::TooLarge(128 * 1024))
        );
        let mut buf = BytesMut::from(&[0x30u8, 0xff, 0xff, 0xff, 0xff, 0x01][..]);
        assert!(matches!(
            decode(Version::V5, &mut buf, 1024),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn short_v5_disconnects_are_accepted() {
        for bytes in [&[0xE0u8, 0x00][..], &[0xE0, 0x01, 0x00][..]] {
            let mut buf = BytesMut::from(bytes);
            assert_eq!(
                decode(Version::V5, &mut buf, 1024).unwrap(),
                Some(Inbound::Disconnect)
            );
        }
    }

    #[test]
    fn encodes_the_documented_bytes() {
        let v4 = Version::V311;
        let v5 = Version::V5;
        assert_eq!(
            encode(
                v4,
                &Outbound::ConnAck {
                    code: 0,
                    max_packet: 1
                }
            ),
            vec![0x20, 2, 0, 0]
        );
        assert_eq!(
            encode(
                v5,
                &Outbound::ConnAck {
                    code: 0x87,
                    max_packet: 1
                }
            ),
            vec![0x20, 3, 0, 0x87, 0]
        );
        assert_eq!(
            encode(v4, &Outbound::PubAck { pkid: 7, code: 0 }),
            vec![0x40, 2, 0, 7]
        );
        assert_eq!(
            encode(
                v5,
                &Outbound::PubAck {
                    pkid: 7,
                    code: 0x87
                }
            ),
            vec![0x40, 4, 0, 7, 0x87, 0]
        );
        assert_eq!(
            encode(
                v5,
                &Outbound::SubAck {
                    pkid: 1,
                    codes: vec![1, 0x87]
                }
            ),
            vec![0x90, 5, 0, 1, 0, 1, 0x87]
        );
        assert_eq!(
            encode(v5, &Outbound::Disconnect { code: 0x8E }),
            vec![0xE0, 2, 0x8E, 0]
        );
        assert_eq!(encode(v4, &Outbound::PingResp), vec![0xD0, 0]);
    }

    #[test]
    fn encoded_publish_round_trips_through_rumqttc() {
        for v in [Version::V311, Version::V5] {
            let publish = Publish {
                topic: "a/b".into(),
                qos: 1,
                retain: true,
                pkid: 9,
                payload: bytes::Bytes::from_static(b"hi"),
            };
            let mut buf = BytesMut::from(&encode(v, &Outbound::Publish(publish.clone()))[..]);
            let got = decode(v, &mut buf, 1024).unwrap().unwrap();
            assert_eq!(
                got,
                Inbound::Publish {
                    publish,
                    topic_alias: None
                }
            );
        }
    }
}
