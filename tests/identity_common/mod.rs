//! Helpers for the identity-plane integration tests: start the lab in-process, build the real
//! AWS SDK clients against it, and drive MQTT 5 over SigV4-presigned websockets (rumqttc,
//! URL signed with aws-sigv4 as rust-stack.md section 3 shows).
#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use iot_canary::lab::{LabConfig, RunningLab, scenario};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, SubscribeReasonCode};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, MqttOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Every wait in these tests is bounded by this (generous for a loaded 2-core machine).
pub const WAIT: Duration = Duration::from_secs(30);
/// How long a delivery that must NOT happen is given to show up (the witness's own copy
/// arriving first proves the broker already routed it).
pub const NEGATIVE_WAIT: Duration = Duration::from_secs(2);

pub async fn start_lab(scenario_text: &str) -> RunningLab {
    let loaded = scenario::parse(scenario_text, "<test>", std::path::Path::new("."))
        .unwrap_or_else(|e| panic!("test scenario invalid: {e}"));
    let mut config = LabConfig::new(loaded);
    config.plain = true;
    iot_canary::lab::start(config).await.expect("lab starts")
}

#[derive(Debug, Clone)]
pub struct Creds {
    pub akid: String,
    pub secret: String,
    pub token: Option<String>,
}

impl From<&aws_credential_types::Credentials> for Creds {
    fn from(c: &aws_credential_types::Credentials) -> Self {
        Creds {
            akid: c.access_key_id().to_string(),
            secret: c.secret_access_key().to_string(),
            token: c.session_token().map(str::to_string),
        }
    }
}

pub fn static_creds(akid: &str, secret: &str) -> Creds {
    Creds {
        akid: akid.into(),
        secret: secret.into(),
        token: None,
    }
}

fn sdk_creds(c: &Creds) -> Credentials {
    Credentials::new(&c.akid, &c.secret, c.token.clone(), None, "test")
}

pub fn sts(lab: &RunningLab, c: &Creds) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .endpoint_url(&lab.endpoints.sts)
            .credentials_provider(sdk_creds(c))
            .build(),
    )
}

pub fn cognito_idp(lab: &RunningLab) -> aws_sdk_cognitoidentityprovider::Client {
    use aws_sdk_cognitoidentityprovider::config;
    aws_sdk_cognitoidentityprovider::Client::from_conf(
        config::Config::builder()
            .behavior_version(config::BehaviorVersion::latest())
            .region(config::Region::new("us-east-1"))
            .endpoint_url(&lab.endpoints.cognito_idp)
            .build(),
    )
}

pub fn cognito_identity(lab: &RunningLab) -> aws_sdk_cognitoidentity::Client {
    use aws_sdk_cognitoidentity::config;
    aws_sdk_cognitoidentity::Client::from_conf(
        config::Config::builder()
            .behavior_version(config::BehaviorVersion::latest())
            .region(config::Region::new("us-east-1"))
            .endpoint_url(&lab.endpoints.cognito_identity)
            .build(),
    )
}

/// InitiateAuth(USER_PASSWORD_AUTH) → id token.
pub async fn id_token(lab: &RunningLab, client_id: &str, user: &str, password: &str) -> String {
    let out = cognito_idp(lab)
        .initiate_auth()
        .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::UserPasswordAuth)
        .client_id(client_id)
        .auth_parameters("USERNAME", user)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .expect("InitiateAuth");
    out.authentication_result()
        .and_then(|r| r.id_token())
        .expect("id token")
        .to_string()
}

/// GetId + GetCredentialsForIdentity; `login` = (provider name, id token) or None for a guest.
pub async fn identity_credentials(
    lab: &RunningLab,
    pool: &str,
    login: Option<(&str, &str)>,
) -> (String, Creds, SystemTime) {
    let ci = cognito_identity(lab);
    let mut get_id = ci.get_id().identity_pool_id(pool);
    if let Some((p, t)) = login {
        get_id = get_id.logins(p, t);
    }
    let id = get_id
        .send()
        .await
        .expect("GetId")
        .identity_id()
        .unwrap()
        .to_string();
    let mut gc = ci.get_credentials_for_identity().identity_id(&id);
    if let Some((p, t)) = login {
        gc = gc.logins(p, t);
    }
    let out = gc.send().await.expect("GetCredentialsForIdentity");
    let c = out.credentials().expect("credentials");
    let exp = c.expiration().expect("expiration");
    let exp = SystemTime::UNIX_EPOCH + Duration::from_secs(exp.secs() as u64);
    (
        id,
        Creds {
            akid: c.access_key_id().unwrap().into(),
            secret: c.secret_key().unwrap().into(),
            token: c.session_token().map(str::to_string),
        },
        exp,
    )
}

/// Presigned `ws://.../mqtt` URL, token appended after signing (AWS IoT style).
pub fn presign(base: &str, c: &Creds, at: SystemTime) -> String {
    let creds = sdk_creds(c);
    let identity = creds.into();
    let mut s = SigningSettings::default();
    s.signature_location = SignatureLocation::QueryParams;
    s.expires_in = Some(Duration::from_secs(300));
    s.session_token_mode = SessionTokenMode::Exclude;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
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

/// One MQTT 5 connection whose events are forwarded to a channel by a polling task.
pub struct Mqtt {
    pub client: AsyncClient,
    events: mpsc::UnboundedReceiver<Result<Packet, String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mqtt {
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

pub async fn connect(
    lab: &RunningLab,
    c: &Creds,
    client_id: &str,
) -> (ConnectOutcome, Option<Mqtt>) {
    let url = presign(&lab.endpoints.mqtt, c, SystemTime::now());
    let mut o = MqttOptions::new(client_id, url, 0);
    o.set_transport(rumqttc::Transport::Ws);
    o.set_keep_alive(Duration::from_secs(60));
    o.set_connection_timeout(20);
    let (client, mut eventloop) = AsyncClient::new(o, 16);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(p)) => {
                    if tx.send(Ok(p)).is_err() {
                        return;
                    }
                }
                Ok(Event::Outgoing(_)) => {}
                Err(e) => {
                    let msg = match &e {
                        ConnectionError::ConnectionRefused(code) => format!("refused:{code:?}"),
                        other => format!("error:{other}"),
                    };
                    let _ = tx.send(Err(msg));
                    return;
                }
            }
        }
    });
    let first = tokio::time::timeout(WAIT, rx.recv())
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
            Some(Mqtt {
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
pub async fn connect_ok(lab: &RunningLab, c: &Creds, client_id: &str) -> Mqtt {
    match connect(lab, c, client_id).await {
        (ConnectOutcome::Accepted, Some(m)) => m,
        (other, _) => panic!("connect as {client_id} expected to be accepted, got {other:?}"),
    }
}

impl Mqtt {
    async fn next(&mut self) -> Result<Packet, String> {
        match tokio::time::timeout(WAIT, self.events.recv()).await {
            Ok(Some(r)) => r,
            Ok(None) => Err("event loop ended".into()),
            Err(_) => Err("timed out".into()),
        }
    }

    /// SUBSCRIBE one filter at QoS 1 → `true` if granted, `false` on SUBACK 0x87.
    pub async fn subscribe(&mut self, filter: &str) -> bool {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
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

    /// PUBLISH at QoS 1 → `true` on PUBACK success, `false` on PUBACK 0x87.
    pub async fn publish(&mut self, topic: &str, payload: &str) -> bool {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
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

/// A unique payload per call (bait nonces).
pub fn nonce(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Minimal HTTP/1.1 client for raw (malformed) requests: returns (status, body).
pub async fn raw_http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let hostport = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut s = tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(&hostport))
        .await
        .expect("connect in time")
        .expect("tcp connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {hostport}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
