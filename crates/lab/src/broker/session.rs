//! One MQTT connection over a websocket: read frames, decode packets, ask `decide` what to do,
//! do it. Authorization is evaluated per packet (and per delivery for iot:Receive) with the
//! principal's policy set at the lab's current time, so admin changes apply mid-session.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::sleep_until;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::codec::{self, Inbound, Outbound, Publish, Version};
use super::decide::{self, Action};
use super::{Broker, Kick, ToSession};
use crate::shadow;
use crate::state::{LabState, Principal};
use iot_canary_policy::{self as policy, IotAction, Request};

/// Everything a session needs from the gateway.
pub struct SessionCtx {
    pub state: Arc<LabState>,
    pub broker: Arc<Broker>,
    pub principal: Principal,
    pub source_ip: IpAddr,
    pub shutdown: watch::Receiver<bool>,
}

struct Session {
    ctx: SessionCtx,
    version: Option<Version>,
    client_id: Option<String>,
    conn_id: Option<u64>,
    tx: mpsc::Sender<ToSession>,
    rate: decide::RateWindow,
    next_pkid: u16,
    keep_alive: Option<Duration>,
}

/// Authorization of one action for a principal at `now` (pure apart from the state read).
#[allow(clippy::too_many_arguments)] // each argument is one independent request fact
pub fn authorize(
    state: &LabState,
    principal: &Principal,
    source_ip: IpAddr,
    client_id: &str,
    action: IotAction,
    resource: &str,
    connect_attributes: &[&str],
    now: SystemTime,
) -> bool {
    let crate::authz::PrincipalAuthz { set, mut context } = state.principal_authz(principal, now);
    context.client_id = Some(client_id.to_string());
    context.source_ip = Some(source_ip);
    context.current_time = Some(now);
    if action == IotAction::Connect {
        context.values.insert(
            "iot:connectattributes".into(),
            connect_attributes.iter().map(|s| s.to_string()).collect(),
        );
    }
    let result = policy::authorize(
        &set,
        &Request {
            action,
            resource,
            context: &context,
        },
    );
    if !result.allowed() {
        tracing::debug!(action = action.name(), resource, explanation = %result.explanation, "denied");
    }
    result.allowed()
}

/// Runs a session to completion. Malformed input ends this connection only.
pub async fn run<S>(mut ws: WebSocketStream<S>, ctx: SessionCtx)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (tx, mut rx) = Broker::new_channel();
    let connect_deadline = Instant::now() + ctx.broker.limits.connect_timeout;
    let cap = tokio::time::Instant::now() + ctx.broker.limits.max_connection;
    let mut s = Session {
        ctx,
        version: None,
        client_id: None,
        conn_id: None,
        tx,
        rate: decide::RateWindow::default(),
        next_pkid: 0,
        keep_alive: None,
    };
    let mut shutdown = s.ctx.shutdown.clone();
    let mut buf = BytesMut::new();
    let mut last_seen = tokio::time::Instant::now();
    loop {
        let deadline = match (s.conn_id, s.keep_alive) {
            (None, _) => tokio::time::Instant::from_std(connect_deadline),
            (Some(_), Some(ka)) => last_seen + ka,
            // No keep-alive: only the connection cap applies.
            (Some(_), None) => cap,
        };
        let actions: Vec<Action> = tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Binary(data))) => {
                    last_seen = tokio::time::Instant::now();
                    buf.extend_from_slice(&data);
                    s.drain(&mut buf).await
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                // MQTT over websockets is binary only; anything else ends the connection.
                Some(Ok(Message::Text(_))) => decide::disconnect(s.version.unwrap_or(Version::V311), decide::PROTOCOL_ERROR),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => vec![Action::Close],
            },
            Some(m) = rx.recv(), if s.conn_id.is_some() => {
                // Batch what is already queued so one flush covers many deliveries.
                let mut actions = s.on_broker_message(m);
                while !actions.contains(&Action::Close) && actions.len() < 256 {
                    match rx.try_recv() {
                        Ok(m) => actions.extend(s.on_broker_message(m)),
                        Err(_) => break,
                    }
                }
                actions
            }
            _ = sleep_until(deadline) => {
                if s.conn_id.is_some() && deadline != cap {
                    decide::disconnect(s.version.unwrap_or(Version::V311), decide::KEEP_ALIVE_TIMEOUT)
                } else if s.conn_id.is_some() {
                    // UNCONFIRMED which reason code AWS sends at the 24 h cap.
                    decide::disconnect(s.version.unwrap_or(Version::V311), decide::ADMINISTRATIVE_ACTION)
                } else {
                    vec![Action::Close]
                }
            }
            _ = sleep_until(cap) => decide::disconnect(s.version.unwrap_or(Version::V311), decide::ADMINISTRATIVE_ACTION),
            _ = shutdown.changed() => decide::disconnect(s.version.unwrap_or(Version::V311), 0x8B),
        };
        let mut close = false;
        for a in actions {
            match a {
                Action::Send(p) => {
                    let v = s.version.unwrap_or(Version::V311);
                    let bytes = codec::encode(v, &p);
                    if ws.feed(Message::Binary(bytes.into())).await.is_err() {
                        close = true;
                        break;
                    }
                }
                Action::Close => {
                    close = true;
                    break;
                }
            }
        }
        if ws.flush().await.is_err() {
            close = true;
        }
        if close {
            break;
        }
    }
    if let Some(id) = s.conn_id {
        s.ctx.broker.unregister(id);
    }
    // Hang up without a websocket close handshake; a transport-level shutdown (TLS
    // close_notify + FIN) is what the AWS CRT reports as AWS_ERROR_MQTT_UNEXPECTED_HANGUP.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        use tokio::io::AsyncWriteExt;
        ws.get_mut().shutdown().await
    })
    .await;
}

impl Session {
    fn version(&self) -> Version {
        self.version.unwrap_or(Version::V311)
    }

    fn allowed(&self, action: IotAction, resource: &str, attrs: &[&str]) -> bool {
        authorize(
            &self.ctx.state,
            &self.ctx.principal,
            self.ctx.source_ip,
            self.client_id.as_deref().unwrap_or(""),
            action,
            resource,
            attrs,
            self.ctx.state.now(),
        )
    }

    /// Decodes every complete packet in `buf` and collects the actions; stops at the first
    /// close.
    async fn drain(&mut self, buf: &mut BytesMut) -> Vec<Action> {
        let mut out = Vec::new();
        loop {
            if self.version.is_none() {
                match codec::sniff_version(buf) {
                    Ok(Some(v)) => self.version = Some(v),
                    Ok(None) => return out,
                    Err(e) => {
                        tracing::debug!(error = %e, "bad first packet");
                        out.push(Action::Close);
                        return out;
                    }
                }
            }
            let max = self.ctx.broker.limits.max_packet;
            match codec::decode(self.version(), buf, max) {
                Ok(Some(p)) => {
                    let actions = self.on_packet(p).await;
                    let closing = actions.contains(&Action::Close);
                    out.extend(actions);
                    if closing {
                        return out;
                    }
                }
                Ok(None) => return out,
                Err(e) => {
                    tracing::debug!(error = %e, "malformed packet; closing this connection");
                    let code = match e {
                        codec::CodecError::TooLarge(_) => 0x95,
                        _ => decide::MALFORMED_PACKET,
                    };
                    out.extend(decide::disconnect(self.version(), code));
                    return out;
                }
            }
        }
    }

    async fn on_packet(&mut self, p: Inbound) -> Vec<Action> {
        let v = self.version();
        match (p, self.conn_id) {
            (
                Inbound::Connect {
                    client_id,
                    keep_alive,
                    clean_session,
                    has_will,
                    ..
                },
                None,
            ) => self.on_connect(client_id, keep_alive, clean_session, has_will),
            (Inbound::Connect { .. }, Some(_)) | (_, None) => {
                decide::disconnect(v, decide::PROTOCOL_ERROR)
            }
            (
                Inbound::Publish {
                    publish,
                    topic_alias,
                },
                Some(_),
            ) => {
                if topic_alias.is_some() {
                    // Topic aliases are not emulated (docs/lab.md).
                    return decide::disconnect(v, 0x94);
                }
                self.on_publish(publish).await
            }
            (Inbound::Subscribe { pkid, filters }, Some(id)) => {
                self.on_subscribe(id, pkid, filters)
            }
            (Inbound::Unsubscribe { pkid, filters }, Some(id)) => {
                self.ctx.broker.unsubscribe(id, &filters);
                vec![Action::Send(Outbound::UnsubAck {
                    pkid,
                    count: filters.len(),
                })]
            }
            (Inbound::PubAck, Some(_)) => vec![],
            (Inbound::PingReq, Some(_)) => vec![Action::Send(Outbound::PingResp)],
            (Inbound::Disconnect, Some(_)) => vec![Action::Close],
            (Inbound::Unexpected(what), Some(_)) => {
                tracing::debug!(packet = what, "unexpected packet");
                decide::disconnect(v, decide::PROTOCOL_ERROR)
            }
        }
    }

    fn on_connect(
        &mut self,
        client_id: String,
        keep_alive: u16,
        clean: bool,
        has_will: bool,
    ) -> Vec<Action> {
        let faults = self.ctx.state.faults();
        if faults.drop_after_connect {
            return vec![Action::Close];
        }
        // AWS IoT client ids: 1..=128 bytes (an empty id is not assigned one).
        let client_id_valid = !client_id.is_empty() && client_id.len() <= 128;
        let rate_ok =
            client_id_valid && self.ctx.broker.connect_attempt(&client_id, Instant::now());
        self.client_id = Some(client_id.clone());
        let mut attrs = Vec::new();
        if !clean {
            attrs.push("PersistentConnect");
        }
        if has_will {
            attrs.push("LastWill");
        }
        let authorized = client_id_valid && self.allowed(IotAction::Connect, &client_id, &attrs);
        let d = decide::on_connect(decide::ConnectFacts {
            version: self.version(),
            client_id_valid,
            rate_ok,
            quota_fault: faults.quota_exceeded,
            authorized,
            max_packet: self.ctx.broker.limits.max_packet as u32,
        });
        if d.accept {
            self.conn_id = Some(self.ctx.broker.register(&client_id, self.tx.clone()));
            self.keep_alive = decide::keep_alive_window(keep_alive);
        }
        d.actions
    }

    async fn on_publish(&mut self, publish: Publish) -> Vec<Action> {
        let Publish {
            topic,
            qos,
            retain,
            pkid,
            payload,
        } = publish;
        let topic_valid = decide::valid_topic(&topic);
        let publish_allowed = topic_valid && self.allowed(IotAction::Publish, &topic, &[]);
        let retain_allowed =
            retain && topic_valid && self.allowed(IotAction::RetainPublish, &topic, &[]);
        let d = decide::on_publish(decide::PublishFacts {
            version: self.version(),
            qos,
            pkid,
            retain,
            topic_valid,
            rate_ok: self
                .rate
                .admit(Instant::now(), self.ctx.broker.limits.publishes_per_second),
            quota_fault: self.ctx.state.faults().quota_exceeded,
            publish_allowed,
            retain_allowed,
        });
        if d.deliver {
            if retain {
                self.ctx.broker.retain(&topic, payload.clone(), qos);
            }
            self.ctx.broker.route(&topic, payload.clone(), qos).await;
            if let Some(st) = shadow::parse_topic(&topic) {
                let epoch = self
                    .ctx
                    .state
                    .now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                self.ctx.broker.shadow_request(&st, &payload, epoch).await;
            }
        }
        d.actions
    }

    fn on_subscribe(&mut self, id: u64, pkid: u16, filters: Vec<(String, u8)>) -> Vec<Action> {
        let facts: Vec<decide::FilterFacts> = filters
            .into_iter()
            .map(|(filter, qos)| {
                let valid = decide::valid_filter(&filter);
                let allowed = valid && self.allowed(IotAction::Subscribe, &filter, &[]);
                decide::FilterFacts {
                    filter,
                    qos,
                    valid,
                    allowed,
                }
            })
            .collect();
        let d = decide::on_subscribe(
            self.version(),
            pkid,
            &facts,
            self.ctx.state.faults().quota_exceeded,
        );
        self.ctx.broker.subscribe(id, &d.granted);
        let mut actions = d.actions;
        // Retained messages follow the SUBACK, each still subject to iot:Receive.
        for (filter, qos) in &d.granted {
            if let Some((payload, rq)) = self.ctx.broker.retained_for(filter) {
                actions.extend(self.deliver(filter.clone(), payload, (*qos).min(rq), true));
            }
        }
        actions
    }

    fn deliver(&mut self, topic: String, payload: Bytes, qos: u8, retain: bool) -> Vec<Action> {
        // iot:Receive is checked at every delivery; a denial drops the message silently.
        if !self.allowed(IotAction::Receive, &topic, &[]) {
            return vec![];
        }
        let pkid = if qos > 0 {
            self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
            self.next_pkid
        } else {
            0
        };
        vec![Action::Send(Outbound::Publish(Publish {
            topic,
            qos,
            retain,
            pkid,
            payload,
        }))]
    }

    fn on_broker_message(&mut self, m: ToSession) -> Vec<Action> {
        match m {
            ToSession::Deliver {
                topic,
                payload,
                qos,
                retain,
            } => self.deliver(topic, payload, qos, retain),
            ToSession::Kick(Kick::TakenOver) => {
                // The broker already removed this connection from the registry.
                self.conn_id = None;
                decide::disconnect(self.version(), decide::SESSION_TAKEN_OVER)
            }
            ToSession::Kick(Kick::Admin) => {
                decide::disconnect(self.version(), decide::ADMINISTRATIVE_ACTION)
            }
        }
    }
}
