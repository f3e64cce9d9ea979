//! Helpers shared by the lab integration tests: client-side presigning with aws-sigv4 (as the
//! rust-stack notes show; the daemon's production presigner lives in src/sigv4/presign.rs).
#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSigning {
    /// AWS IoT style: token appended after signing.
    Excluded,
    /// Standard SigV4: token inside the canonical query (AWS IoT rejects this).
    Included,
}

/// A presigned `wss://HOST/mqtt` URL for service `iotdevicegateway`, region us-east-1.
pub fn presign(
    base: &str,
    akid: &str,
    secret: &str,
    token: Option<&str>,
    at: SystemTime,
    expires: Option<u64>,
    token_signing: TokenSigning,
) -> String {
    presign_region(
        base,
        "us-east-1",
        akid,
        secret,
        token,
        at,
        expires,
        token_signing,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn presign_region(
    base: &str,
    region: &str,
    akid: &str,
    secret: &str,
    token: Option<&str>,
    at: SystemTime,
    expires: Option<u64>,
    token_signing: TokenSigning,
) -> String {
    let creds = Credentials::new(akid, secret, token.map(str::to_string), None, "test");
    let identity = creds.into();
    let mut s = SigningSettings::default();
    s.signature_location = SignatureLocation::QueryParams;
    s.expires_in = expires.map(Duration::from_secs);
    s.session_token_mode = match token_signing {
        TokenSigning::Excluded => SessionTokenMode::Exclude,
        TokenSigning::Included => SessionTokenMode::Include,
    };
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("iotdevicegateway")
        .time(at)
        .settings(s)
        .build()
        .unwrap()
        .into();
    let req =
        SignableRequest::new("GET", base, std::iter::empty(), SignableBody::Bytes(&[])).unwrap();
    let (instructions, _sig) = sign(req, &params).unwrap().into_parts();
    let mut http_req = http::Request::builder().uri(base).body(()).unwrap();
    instructions.apply_to_request_http1x(&mut http_req);
    http_req.uri().to_string()
}

/// Presigns like the AWS CRT (`omit_session_token`, no `X-Amz-Expires`), built from the
/// verifier's public helpers (which the official vectors check).
pub fn presign_without_expires(host: &str, akid: &str, secret: &str, at: SystemTime) -> String {
    use iot_canary::lab::sigv4::verify as v;
    let amz_date = v::format_amz_date(at);
    let scope = format!("{}/us-east-1/iotdevicegateway/aws4_request", &amz_date[..8]);
    let params = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", &format!("{akid}/{scope}")),
        ("X-Amz-Date", &amz_date),
        ("X-Amz-SignedHeaders", "host"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let cq = v::canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let creq = v::canonical_request(
        "GET",
        "/mqtt",
        &cq,
        &format!("host:{host}\n"),
        "host",
        v::EMPTY_PAYLOAD_SHA256,
    );
    let sts = v::string_to_sign(&amz_date, &scope, &creq);
    let sig = hex::encode(v::hmac_sha256(
        &v::signing_key(secret, &amz_date[..8], "us-east-1", "iotdevicegateway"),
        sts.as_bytes(),
    ));
    format!("wss://{host}/mqtt?{cq}&X-Amz-Signature={sig}")
}

// ---------------------------------------------------------------------------------------------
// A lab + rumqttc harness: one event stream for MQTT 3.1.1 and 5.
// ---------------------------------------------------------------------------------------------

use iot_canary::lab::{self, LabConfig, Limits, RunningLab};

/// Test scenario: `ops` may do everything; `alice` owns `alice/*` topics, `alice-*` client
/// ids, the shadow of thing `alice-lamp`, may subscribe to `shared/*` but not receive
/// `shared/secret`, and may retain only under `alice/retained/*`.
pub const SCENARIO: &str = r#"
region = "us-east-1"
account_id = "123456789012"

[policies]
Witness = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}'
Alice = '''{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/alice-*"},
 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/alice/*","arn:aws:iot:us-east-1:123456789012:topic/$aws/things/alice-lamp/shadow/*"]},
 {"Effect":"Allow","Action":"iot:Subscribe","Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/alice/*","arn:aws:iot:us-east-1:123456789012:topicfilter/shared/*","arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/things/alice-lamp/shadow/*"]},
 {"Effect":"Allow","Action":"iot:Receive","Resource":"arn:aws:iot:us-east-1:123456789012:topic/shared/*"},
 {"Effect":"Deny","Action":"iot:Receive","Resource":"arn:aws:iot:us-east-1:123456789012:topic/shared/secret"},
 {"Effect":"Allow","Action":"iot:RetainPublish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/alice/retained/*"}
]}'''
Nothing = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:*","Resource":"*"}]}'

[[iam_user]]
name = "ops"
access_key_id = "AKIALABOPS0000000001"
secret_access_key = "lab-secret-ops"
policies = ["Witness"]

[[iam_user]]
name = "alice"
access_key_id = "AKIALABALICE00000001"
secret_access_key = "lab-secret-alice"
policies = ["Alice"]

[[thing]]
name = "alice-lamp"
owner = "alice"
"#;

pub const OPS: (&str, &str) = ("AKIALABOPS0000000001", "lab-secret-ops");
pub const ALICE: (&str, &str) = ("AKIALABALICE00000001", "lab-secret-alice");

pub fn test_limits() -> Limits {
    Limits {
        connect_interval: Duration::ZERO,
        ..Limits::default()
    }
}

pub async fn start_lab(plain: bool, limits: Limits) -> RunningLab {
    start_lab_with(SCENARIO, plain, limits).await
}

pub async fn start_lab_with(scenario: &str, plain: bool, limits: Limits) -> RunningLab {
    let loaded = lab::scenario::parse(scenario, "test.toml", std::path::Path::new(".")).unwrap();
    let mut config = LabConfig::new(loaded);
    config.plain = plain;
    config.limits = limits;
    if !plain {
        let dir = std::env::temp_dir().join(format!("lab-test-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        config.ca_file = Some(dir.join("ca.pem"));
    }
    lab::start(config).await.unwrap()
}

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

pub const WAIT: Duration = Duration::from_secs(20);

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
    let url = presign(
        &lab.endpoints.mqtt,
        creds.0,
        creds.1,
        None,
        SystemTime::now(),
        Some(300),
        TokenSigning::Excluded,
    );
    connect_url(lab, version, &url, client_id)
}

pub fn connect_url(lab: &RunningLab, version: Mqtt, url: &str, client_id: &str) -> Client {
    let transport = match &lab.ca_pem {
        Some(ca) => rumqttc::Transport::wss(ca.clone().into_bytes(), None, None),
        None => rumqttc::Transport::Ws,
    };
    let port = lab.mqtt_addr.port();
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    match version {
        Mqtt::V311 => {
            let mut o = rumqttc::MqttOptions::new(client_id, url, port);
            o.set_transport(transport);
            o.set_max_packet_size(200 * 1024, 200 * 1024);
            o.set_keep_alive(Duration::from_secs(30));
            let (client, mut el) = rumqttc::AsyncClient::new(o, 100);
            tokio::spawn(async move {
                loop {
                    let ev = match el.poll().await {
                        Ok(rumqttc::Event::Incoming(p)) => match p {
                            rumqttc::Packet::ConnAck(c) => Ev::ConnAck(c.code as u8),
                            rumqttc::Packet::PubAck(a) => Ev::PubAck(a.pkid, 0),
                            rumqttc::Packet::SubAck(s) => Ev::SubAck(
                                s.return_codes
                                    .iter()
                                    .map(|c| match c {
                                        rumqttc::SubscribeReasonCode::Success(q) => *q as u8,
                                        rumqttc::SubscribeReasonCode::Failure => 0x80,
                                    })
                                    .collect(),
                            ),
                            rumqttc::Packet::Publish(p) => Ev::Publish {
                                topic: p.topic,
                                payload: p.payload.to_vec(),
                                retain: p.retain,
                            },
                            _ => continue,
                        },
                        Ok(_) => continue,
                        Err(e) => {
                            let _ = tx.send(Ev::Closed(e.to_string()));
                            break;
                        }
                    };
                    if tx.send(ev).is_err() {
                        break;
                    }
                }
            });
            Client {
                handle: Handle::V311(client),
                events,
            }
        }
        Mqtt::V5 => {
            use rumqttc::v5::mqttbytes::v5::Packet;
            let mut o = rumqttc::v5::MqttOptions::new(client_id, url, port);
            o.set_transport(transport);
            o.set_max_packet_size(Some(200 * 1024));
            o.set_keep_alive(Duration::from_secs(30));
            let (client, mut el) = rumqttc::v5::AsyncClient::new(o, 100);
            tokio::spawn(async move {
                loop {
                    let ev = match el.poll().await {
                        Ok(rumqttc::v5::Event::Incoming(p)) => match p {
                            Packet::ConnAck(c) => Ev::ConnAck(v5_connack_code(c.code)),
                            Packet::PubAck(a) => Ev::PubAck(a.pkid, v5_puback_code(a.reason)),
                            Packet::SubAck(s) => Ev::SubAck(
                                s.return_codes.iter().map(|c| v5_suback_code(*c)).collect(),
                            ),
                            Packet::Publish(p) => Ev::Publish {
                                topic: String::from_utf8_lossy(&p.topic).into_owned(),
                                payload: p.payload.to_vec(),
                                retain: p.retain,
                            },
                            Packet::Disconnect(d) => Ev::ServerDisconnect(d.reason_code as u8),
                            _ => continue,
                        },
                        Ok(_) => continue,
                        Err(rumqttc::v5::ConnectionError::ConnectionRefused(code)) => {
                            let _ = tx.send(Ev::ConnAck(v5_connack_code(code)));
                            let _ = tx.send(Ev::Closed("refused".into()));
                            break;
                        }
                        Err(rumqttc::v5::ConnectionError::MqttState(
                            rumqttc::v5::StateError::ServerDisconnect { reason_code, .. },
                        )) => {
                            let _ = tx.send(Ev::ServerDisconnect(reason_code as u8));
                            let _ = tx.send(Ev::Closed("server disconnect".into()));
                            break;
                        }
                        Err(e) => {
                            let _ = tx.send(Ev::Closed(e.to_string()));
                            break;
                        }
                    };
                    if tx.send(ev).is_err() {
                        break;
                    }
                }
            });
            Client {
                handle: Handle::V5(client),
                events,
            }
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

    pub async fn connected(mut self) -> Client {
        self.expect(&Ev::ConnAck(0)).await;
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

fn v5_suback_code(c: rumqttc::v5::mqttbytes::v5::SubscribeReasonCode) -> u8 {
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

fn v5_connack_code(c: rumqttc::v5::mqttbytes::v5::ConnectReturnCode) -> u8 {
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

fn v5_puback_code(c: rumqttc::v5::mqttbytes::v5::PubAckReason) -> u8 {
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
