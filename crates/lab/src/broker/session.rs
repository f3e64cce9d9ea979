//! One MQTT connection over a websocket: read frames, decode packets, ask `decide` what to do,
//! do it. Authorization is evaluated per packet (and per delivery for iot:Receive) with the
//! principal's policy set at the lab's current time, so admin changes apply mid-session.
//! Realism knobs decide in `crate::realism::decide`; this loop only schedules what they plan
//! (an outbox of timed packets, a timer per drawn disconnect), and with realism off it sends
//! every packet at once, as it always did.

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
use crate::realism::conn::ConnRealism;
use crate::realism::outbox::{Outbox, Planned};
use crate::realism::{self, Applied, Realism};
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
    /// How many connections this client id had before this one (seeds realism).
    nth_connect: u64,
    tx: mpsc::Sender<ToSession>,
    rate: decide::RateWindow,
    next_pkid: u16,
    keep_alive: Option<Duration>,
    /// Realism state, created at CONNECT (or when realism is switched on later).
    realism: Option<ConnRealism>,
    /// Packets realism scheduled for later.
    outbox: Outbox,
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
        nth_connect: 0,
        realism: None,
        outbox: Outbox::default(),
    };
    // Far enough to never fire: a timer slot for the optional realism deadlines.
    let never = tokio::time::Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
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
        let outbox_due = s.outbox.next_due().map(tokio::time::Instant::from_std);
        let disconnect_at = s
            .realism
            .as_ref()
            .and_then(|r| r.disconnect_at)
            .map(|(t, code)| (tokio::time::Instant::from_std(t), code));
        let takeover_at = s
            .realism
            .as_ref()
            .and_then(|r| r.takeover_at)
            .map(tokio::time::Instant::from_std);
        let actions: Vec<Action> = tokio::select! {
            msg = ws.next() => match msg {
                // The client sends past the lifetime cap: AWS closes the connection then.
                Some(Ok(Message::Binary(_))) if s.expired(Instant::now()) => s.lifetime_closed(),
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
            // Realism: scheduled packets are due (sent below).
            _ = sleep_until(outbox_due.unwrap_or(never)), if outbox_due.is_some() => vec![],
            _ = sleep_until(disconnect_at.map_or(never, |(t, _)| t)), if disconnect_at.is_some() => {
                s.ctx.broker.realism_stats.count(Applied::ServerDisconnect);
                let code = disconnect_at.map_or(decide::ADMINISTRATIVE_ACTION, |(_, c)| c);
                decide::disconnect(s.version.unwrap_or(Version::V311), code)
            }
            // Realism: another process connects with this client id; the broker kicks this
            // session through its channel exactly as for a real second CONNECT.
            _ = sleep_until(takeover_at.unwrap_or(never)), if takeover_at.is_some() => {
                if let Some(r) = s.realism.as_mut() {
                    r.takeover_at = None;
                }
                if let Some(id) = &s.client_id {
                    s.ctx.broker.take_over(id);
                }
                vec![]
            }
            _ = shutdown.changed() => decide::disconnect(s.version.unwrap_or(Version::V311), 0x8B),
        };
        let mut close = false;
        let shaping = s.realism.is_some() && s.ctx.state.realism().shapes_outbound();
        for a in actions {
            match a {
                Action::Send(p) if shaping => s.plan_outbound(p),
                Action::Send(p) => {
                    if !send(&mut ws, &mut s, p).await {
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
        // Whatever realism scheduled for now goes out (also right before a close).
        if !s.outbox.is_empty() {
            for planned in s.outbox.take_due(Instant::now()) {
                let packet = s.finish_planned(planned);
                if !send(&mut ws, &mut s, packet).await {
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

/// Writes one packet (unless the connection is past its lifetime cap, which closes it);
/// false when the connection must end.
async fn send<S>(ws: &mut WebSocketStream<S>, s: &mut Session, p: Outbound) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if s.expired(Instant::now()) {
        s.lifetime_closed();
        return false;
    }
    let bytes = codec::encode(s.version(), &p);
    ws.feed(Message::Binary(bytes.into())).await.is_ok()
}

impl Session {
    fn version(&self) -> Version {
        self.version.unwrap_or(Version::V311)
    }

    /// Realism's per-connection state, created on first use while realism is on.
    fn conn_realism(&mut self, r: &Realism) -> Option<&mut ConnRealism> {
        if r.is_off() && self.realism.is_none() {
            return None;
        }
        if self.realism.is_none() {
            let id = self.client_id.clone().unwrap_or_default();
            self.realism = Some(ConnRealism::new(r, &id, self.nth_connect, Instant::now()));
        }
        self.realism.as_mut()
    }

    fn expired(&self, now: Instant) -> bool {
        self.realism.as_ref().is_some_and(|r| r.expired(now))
    }

    /// Past the lifetime cap: a bare close (the websocket TTL ends the transport; no MQTT 5
    /// reason code is documented for it).
    fn lifetime_closed(&mut self) -> Vec<Action> {
        self.ctx.broker.realism_stats.count(Applied::LifetimeClosed);
        vec![Action::Close]
    }

    fn fresh_pkid(&mut self) -> u16 {
        self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
        self.next_pkid
    }

    /// Hands an outbound packet to realism's shaping and queues what it plans.
    fn plan_outbound(&mut self, p: Outbound) {
        let r = self.ctx.state.realism();
        let now = Instant::now();
        let mut applied = Vec::new();
        let planned = match self.conn_realism(&r) {
            Some(c) => realism::decide::shape_outbound(
                &r,
                &mut c.rng,
                &mut c.shaping,
                now,
                p,
                &mut applied,
            ),
            None => vec![Planned::now(now, p)],
        };
        for a in applied {
            self.ctx.broker.realism_stats.count(a);
        }
        for p in planned {
            self.outbox.push(p);
        }
    }

    /// The packet a planned send puts on the wire (a redelivery gets a new packet id).
    fn finish_planned(&mut self, planned: Planned) -> Outbound {
        match planned.packet {
            Outbound::Publish(mut p) if planned.fresh_pkid => {
                p.pkid = self.fresh_pkid();
                Outbound::Publish(p)
            }
            other => other,
        }
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
        let realism = self.ctx.state.realism();
        let client_id_valid = !client_id.is_empty() && client_id.len() <= realism.client_id_bytes;
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
            let (id, nth) = self.ctx.broker.register(&client_id, self.tx.clone());
            self.conn_id = Some(id);
            self.nth_connect = nth;
            self.keep_alive = decide::keep_alive_window(keep_alive);
            // Draw the connection's realism plan now, so it follows the seed and the CONNECT.
            let _ = self.conn_realism(&realism);
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
        let r = self.ctx.state.realism();
        let now = Instant::now();
        let before_auth = if topic_valid {
            self.publish_quota(&r, &topic, retain, now)
        } else {
            None
        };
        let checks_auth = topic_valid && before_auth.is_none();
        let publish_allowed = checks_auth && self.allowed(IotAction::Publish, &topic, &[]);
        let retain_allowed =
            retain && checks_auth && self.allowed(IotAction::RetainPublish, &topic, &[]);
        let retained_over_quota = retain && !r.is_off() && {
            let (count, has_one) = self.ctx.broker.retained_count(&topic);
            realism::decide::retained_over_quota(&r, payload.is_empty(), count, has_one)
        };
        if retained_over_quota && publish_allowed && retain_allowed {
            self.ctx.broker.realism_stats.count(Applied::RetainRefused);
        }
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
            before_auth,
            retained_over_quota,
        });
        if d.deliver {
            if retain {
                self.ctx.broker.retain(&topic, payload.clone(), qos);
            }
            self.ctx
                .broker
                .route(&topic, payload.clone(), qos, now)
                .await;
            if let Some(st) = shadow::parse_topic(&topic) {
                let epoch = self
                    .ctx
                    .state
                    .now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let reject = self
                    .conn_realism(&r)
                    .and_then(|c| realism::decide::shadow_rejection(&r, &mut c.rng));
                if reject.is_some() {
                    self.ctx.broker.realism_stats.count(Applied::ShadowRejected);
                }
                self.ctx
                    .broker
                    .shadow_request(&st, &payload, epoch, reject)
                    .await;
            }
        }
        d.actions
    }

    /// Realism's refusal of a PUBLISH before authorization: AWS's topic limits and reserved
    /// retained topics (a topic error), or the account-wide publish rate (throttled).
    fn publish_quota(
        &mut self,
        r: &Realism,
        topic: &str,
        retain: bool,
        now: Instant,
    ) -> Option<decide::PublishQuota> {
        if r.is_off() {
            return None;
        }
        if realism::decide::publish_topic_error(r, topic, retain) {
            let over = realism::decide::over_topic_limits(r, topic);
            self.ctx.broker.realism_stats.count(if over {
                Applied::LimitRefused
            } else {
                Applied::RetainRefused
            });
            let disconnect = self
                .conn_realism(r)
                .is_some_and(|c| realism::decide::unconfirmed(r, &mut c.rng, 2) == 1);
            return Some(decide::PublishQuota::TopicError { disconnect });
        }
        if !self
            .ctx
            .broker
            .admit_account_publish(now, r.account_publishes_per_second)
        {
            self.ctx
                .broker
                .realism_stats
                .count(Applied::PublishThrottled);
            return Some(decide::PublishQuota::Throttled);
        }
        None
    }

    fn on_subscribe(&mut self, id: u64, pkid: u16, filters: Vec<(String, u8)>) -> Vec<Action> {
        let r = self.ctx.state.realism();
        let now = Instant::now();
        let (too_many, quotas) = self.subscribe_quotas(&r, id, &filters, now);
        let facts: Vec<decide::FilterFacts> = filters
            .into_iter()
            .zip(quotas)
            .map(|((filter, qos), quota)| {
                let valid = decide::valid_filter(&filter);
                let allowed = valid
                    && quota.is_none()
                    && too_many.is_none()
                    && self.allowed(IotAction::Subscribe, &filter, &[]);
                decide::FilterFacts {
                    filter,
                    qos,
                    valid,
                    allowed,
                    quota,
                }
            })
            .collect();
        let d = decide::on_subscribe(
            self.version(),
            pkid,
            &facts,
            self.ctx.state.faults().quota_exceeded,
            too_many,
        );
        // Each new subscription starts matching after its activation delay (realism).
        let mut granted = Vec::with_capacity(d.granted.len());
        for (filter, qos) in &d.granted {
            let delay = self.conn_realism(&r).map_or(Duration::ZERO, |c| {
                realism::decide::activation_delay(&r, &mut c.rng)
            });
            granted.push((filter.clone(), *qos, now + delay));
        }
        self.ctx.broker.subscribe(id, &granted);
        let mut actions = d.actions;
        // Retained messages follow the SUBACK, each still subject to iot:Receive.
        for (filter, qos) in &d.granted {
            if let Some((payload, rq)) = self.ctx.broker.retained_for(filter) {
                actions.extend(self.deliver(filter.clone(), payload, (*qos).min(rq), true));
            }
        }
        actions
    }

    /// Realism's quota answers to a SUBSCRIBE: the whole packet over the filters-per-SUBSCRIBE
    /// limit, or per filter (topic limits, subscriptions per connection, throttling).
    fn subscribe_quotas(
        &mut self,
        r: &Realism,
        id: u64,
        filters: &[(String, u8)],
        now: Instant,
    ) -> (
        Option<decide::TooManyFilters>,
        Vec<Option<decide::FilterQuota>>,
    ) {
        let none = vec![None; filters.len()];
        if r.is_off() {
            return (None, none);
        }
        let broker = self.ctx.broker.clone();
        let Some(c) = self.conn_realism(r) else {
            return (None, none);
        };
        if realism::decide::too_many_filters(r, filters.len()) {
            broker.realism_stats.count(Applied::LimitRefused);
            let reaction = match realism::decide::unconfirmed(r, &mut c.rng, 2) {
                0 => decide::TooManyFilters::SubAck,
                _ => decide::TooManyFilters::Disconnect,
            };
            return (Some(reaction), none);
        }
        let names: Vec<&str> = filters.iter().map(|(f, _)| f.as_str()).collect();
        let (held, existing) = broker.held_subscriptions(id, &names);
        let facts: Vec<realism::decide::FilterQuotaFacts<'_>> = names
            .iter()
            .zip(existing)
            .map(|(f, e)| realism::decide::FilterQuotaFacts { filter: f, new: !e })
            .collect();
        let mut admits =
            || broker.admit_account_subscription(now, r.account_subscriptions_per_second);
        let mut applied = Vec::new();
        let quotas = realism::decide::subscribe_quotas(
            r,
            &mut c.rng,
            &facts,
            held,
            &mut admits,
            &mut applied,
        );
        for a in applied {
            broker.realism_stats.count(a);
        }
        (None, quotas)
    }

    fn deliver(&mut self, topic: String, payload: Bytes, qos: u8, retain: bool) -> Vec<Action> {
        // iot:Receive is checked at every delivery; a denial drops the message silently.
        if !self.allowed(IotAction::Receive, &topic, &[]) {
            return vec![];
        }
        let pkid = if qos > 0 { self.fresh_pkid() } else { 0 };
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
            ToSession::Kick(Kick::Server(code)) => decide::disconnect(self.version(), code),
        }
    }
}
