//! Seeded noise as what a server sends back, through rumqttc's decoder, the session's packet
//! mapping ([`incoming_v5`] / [`incoming_v4`]) and `verdict::classify` for every probe kind.
//! Properties: never panic, and no server answer reads as `denied` unless it carries the
//! protocol's explicit refusal (v5 0x87; 3.1.1 CONNACK 5 or SUBACK 0x80). The coverage-guided
//! fuzzing of the same rules runs over core's evidence rules (`fuzz/`, `evidence_rules`), so the
//! fuzz build never compiles this crate's AWS SDK dependencies.

use bytes::BytesMut;

use super::session::io_cause;
use super::{CloseCause, Event, Incoming, incoming_v4, incoming_v5};
use iot_canary_core::verdict::{
    Classified, MqttVersion, Observation, ProbeAction, Verdict, Waiting, classify,
    is_explicit_refusal,
};

const ACTIONS: [ProbeAction; 8] = [
    ProbeAction::Connect,
    ProbeAction::Subscribe,
    ProbeAction::Publish,
    ProbeAction::Receive,
    ProbeAction::Retain,
    ProbeAction::ShadowGet,
    ProbeAction::ShadowUpdate,
    ProbeAction::ShadowDelete,
];

/// First byte: bit 0 picks MQTT 5 (1) or 3.1.1 (0); the rest is the server's byte stream.
fn server_bytes(data: &[u8]) {
    let Some((version, _, rest)) = iot_canary_core::fuzz_entry::split_version(data) else {
        return;
    };
    let mut buf = BytesMut::from(rest);
    for _ in 0..64 {
        let incoming = match version {
            MqttVersion::V5 => {
                match rumqttc::v5::mqttbytes::v5::Packet::read(&mut buf, Some(128 * 1024)) {
                    Ok(p) => incoming_v5(p),
                    Err(_) => return,
                }
            }
            MqttVersion::V311 => match rumqttc::mqttbytes::v4::Packet::read(&mut buf, 128 * 1024) {
                Ok(p) => incoming_v4(p),
                Err(_) => return,
            },
        };
        for obs in observations(&incoming) {
            for action in ACTIONS {
                check(version, action, &obs);
            }
        }
    }
}

/// The observations a probe could record from this packet.
fn observations(i: &Incoming) -> Vec<Observation> {
    match i {
        Incoming::Connack(code) => vec![Observation::Connack { code: *code }],
        Incoming::Event(Event::Suback { codes }) => vec![Observation::Suback {
            code: codes.first().copied().unwrap_or(0x80),
        }],
        Incoming::Event(Event::Puback { code }) => vec![Observation::Puback { code: *code }],
        Incoming::Event(Event::Closed(CloseCause::ServerDisconnect(code))) => [
            Waiting::Connack,
            Waiting::Suback,
            Waiting::Puback,
            Waiting::Delivery,
            Waiting::Witness,
        ]
        .into_iter()
        .map(|w| Observation::ServerDisconnect {
            code: *code,
            waiting_for: w,
        })
        .collect(),
        _ => vec![],
    }
}

fn check(version: MqttVersion, action: ProbeAction, obs: &Observation) {
    let denied = classify(version, action, obs) == Classified::Final(Verdict::Denied);
    assert!(
        !denied || is_explicit_refusal(version, obs),
        "{version:?} {action:?}: {obs:?} read as denied without an explicit refusal"
    );
}

#[test]
fn explicit_refusals_and_noise() {
    // v5 SUBACK 0x87, v5 CONNACK 0x87, v5 DISCONNECT 0x87, 3.1.1 SUBACK 0x80, truncated.
    for bytes in [
        &[1u8, 0x90, 0x04, 0x00, 0x01, 0x00, 0x87][..],
        &[1, 0x20, 0x03, 0x00, 0x87, 0x00],
        &[1, 0xE0, 0x02, 0x87, 0x00],
        &[0, 0x90, 0x03, 0x00, 0x01, 0x80],
        &[0, 0x90],
        &[],
    ] {
        server_bytes(bytes);
    }
    // Seeded noise: never panics.
    for v in iot_canary_core::fuzz_entry::seeded_noise(2000, 40) {
        server_bytes(&v);
    }
}

/// Socket errors as the OS and the runtime produce them, to the cause an operator acts on.
#[tokio::test]
async fn socket_errors_keep_dns_refused_tls_and_stalls_apart() {
    use std::io::{Error, ErrorKind};
    // `.invalid` never resolves (RFC 6761), with or without a reachable DNS server.
    let Err(dns) = tokio::net::lookup_host("iot-canary.invalid:443").await else {
        panic!("a .invalid name must not resolve");
    };
    assert_eq!(io_cause(&dns), CloseCause::Dns, "{dns}");
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect_err("nothing listens");
    assert_eq!(io_cause(&refused), CloseCause::TcpRefused, "{refused}");
    let tls = Error::new(
        ErrorKind::InvalidData,
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
    );
    assert_eq!(io_cause(&tls), CloseCause::Tls);
    assert_eq!(
        io_cause(&Error::from(ErrorKind::TimedOut)),
        CloseCause::Timeout
    );
    assert_eq!(
        io_cause(&Error::new(
            ErrorKind::InvalidInput,
            "could not resolve to any address"
        )),
        CloseCause::Dns
    );
    for kind in [ErrorKind::ConnectionReset, ErrorKind::UnexpectedEof] {
        assert_eq!(io_cause(&Error::from(kind)), CloseCause::PeerClosed);
    }
    assert_eq!(
        io_cause(&Error::from(ErrorKind::HostUnreachable)),
        CloseCause::Network
    );
}
