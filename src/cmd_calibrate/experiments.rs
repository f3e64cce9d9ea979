//! The fixed, harmless experiments, over the daemon's MQTT session (SigV4-presigned
//! websockets, both MQTT versions). Each touches only its own connections, topics under the
//! calibration prefix, a named shadow that does not exist, and requests the config's deny
//! canaries already make.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use iot_canary_core::verdict::MqttVersion;
use iot_canary_daemon::mqtt::{
    CloseCause, ConnectFailure, CredentialProvider, Endpoint, Event, Session, SessionOptions,
};

use super::compare::{Answer, QuotaRun, Trial};

/// A request a deny canary makes.
#[derive(Debug, Clone, Copy)]
pub enum Denied<'a> {
    /// CONNECT with the canary's client id.
    Connect,
    Subscribe(&'a str),
    Publish(&'a str),
}

/// Who connects, as what.
#[derive(Clone)]
pub struct Actor {
    pub client_id: String,
    pub credentials: Arc<dyn CredentialProvider>,
}

#[derive(Clone)]
pub struct Wire {
    pub endpoint: Endpoint,
    /// Bound on every wait for an answer.
    pub timeout: Duration,
}

/// Markers go out this often while a trial waits for its subscription to become active.
const MARKER_EVERY: Duration = Duration::from_millis(25);
/// Markers sent after the first delivered one (latency and jitter samples).
const MARKERS_AFTER: u32 = 5;
/// More than AWS's one CONNECT per second per client id.
const CONNECT_SPACING: Duration = Duration::from_millis(1500);
/// Shadow gets go out this often until the response subscriptions are active.
const WARM_UP_EVERY: Duration = Duration::from_millis(250);
/// At most this many subscriptions are tried on one connection (AWS's quota is 50).
const QUOTA_ATTEMPTS: usize = 60;

/// The session's events and the DISCONNECT codes among them.
struct Conn {
    session: Session,
    disconnects: BTreeSet<u8>,
}

fn close_answer(cause: &CloseCause) -> Answer {
    match cause {
        CloseCause::ServerDisconnect(c) => Answer::Disconnect(*c),
        CloseCause::PeerClosed => Answer::Closed,
        other => Answer::NotRun(format!("connection failed: {other:?}")),
    }
}

impl Wire {
    fn options(&self, v: MqttVersion, who: &Actor) -> SessionOptions {
        SessionOptions {
            endpoint: self.endpoint.clone(),
            version: v,
            client_id: who.client_id.clone(),
            credentials: who.credentials.clone(),
            keep_alive: Duration::from_secs(30),
        }
    }

    async fn connect(&self, v: MqttVersion, who: &Actor) -> Result<Conn, String> {
        match tokio::time::timeout(self.timeout, Session::connect(self.options(v, who))).await {
            Ok(Ok(session)) => Ok(Conn {
                session,
                disconnects: BTreeSet::new(),
            }),
            Ok(Err(ConnectFailure::Refused(code))) => Err(format!(
                "CONNECT as `{}` refused with 0x{code:02X}",
                who.client_id
            )),
            Ok(Err(ConnectFailure::Closed { cause, .. })) => {
                Err(format!("CONNECT as `{}` failed: {cause:?}", who.client_id))
            }
            Err(_) => Err(format!("CONNECT as `{}` timed out", who.client_id)),
        }
    }

    /// Connects `who`, runs `body` on the connection, closes it: what `body` found and every
    /// DISCONNECT code seen.
    async fn on_conn<T>(
        &self,
        v: MqttVersion,
        who: &Actor,
        body: impl AsyncFnOnce(&mut Conn) -> T,
    ) -> (Result<T, String>, BTreeSet<u8>) {
        let mut c = match self.connect(v, who).await {
            Ok(c) => c,
            Err(e) => return (Err(e), BTreeSet::new()),
        };
        let found = body(&mut c).await;
        c.session.close().await;
        (Ok(found), c.disconnects)
    }

    /// How the endpoint answers a CONNECT (`ConnAck(0)`: accepted).
    async fn connect_answer(&self, v: MqttVersion, who: &Actor) -> Answer {
        match tokio::time::timeout(self.timeout, Session::connect(self.options(v, who))).await {
            Ok(Ok(session)) => {
                session.close().await;
                Answer::ConnAck(0)
            }
            Ok(Err(ConnectFailure::Refused(code))) => Answer::ConnAck(code),
            Ok(Err(ConnectFailure::Closed { cause, .. })) => close_answer(&cause),
            Err(_) => Answer::Silence,
        }
    }

    /// The next event before `deadline` (`None`: silence).
    async fn next_by(&self, c: &mut Conn, deadline: Instant) -> Option<(Instant, Event)> {
        let ev = tokio::time::timeout_at(deadline.into(), c.session.next_event())
            .await
            .ok()?;
        if let (_, Event::Closed(CloseCause::ServerDisconnect(code))) = &ev {
            c.disconnects.insert(*code);
        }
        Some(ev)
    }

    /// Waits for the answer `pick` recognises (or the end), skipping everything else.
    async fn until(&self, c: &mut Conn, pick: fn(Event) -> Option<Answer>) -> Answer {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.next_by(c, deadline).await {
                None => return Answer::Silence,
                Some((_, Event::Closed(cause))) => return close_answer(&cause),
                Some((_, ev)) => {
                    if let Some(a) = pick(ev) {
                        return a;
                    }
                }
            }
        }
    }

    async fn suback(&self, c: &mut Conn) -> Answer {
        self.until(c, |ev| match ev {
            Event::Suback { codes, .. } => Some(Answer::SubAck(codes)),
            _ => None,
        })
        .await
    }

    async fn puback(&self, c: &mut Conn) -> Answer {
        self.until(c, |ev| match ev {
            Event::Puback { code, .. } => Some(Answer::PubAck(code)),
            _ => None,
        })
        .await
    }

    /// A deny canary's request, once (a publish at QoS 1): the endpoint's answer.
    pub async fn denied(
        &self,
        v: MqttVersion,
        who: &Actor,
        req: Denied<'_>,
    ) -> (Answer, BTreeSet<u8>) {
        if let Denied::Connect = req {
            return (self.connect_answer(v, who).await, BTreeSet::new());
        }
        let (answer, codes) = self
            .on_conn(v, who, async |c| match req {
                Denied::Connect => Answer::ConnAck(0),
                Denied::Subscribe(filter) => match c.session.subscribe(&[filter]).await {
                    Ok(_) => self.suback(c).await,
                    Err(cause) => close_answer(&cause),
                },
                Denied::Publish(topic) => {
                    let payload = Bytes::from_static(b"iot-canary calibrate: must be refused");
                    match c.session.publish(topic, payload, 1, false).await {
                        Ok(_) => self.puback(c).await,
                        Err(cause) => close_answer(&cause),
                    }
                }
            })
            .await;
        (answer.unwrap_or_else(Answer::NotRun), codes)
    }

    /// A second connection with the same client id: what the first one sees.
    pub async fn takeover(&self, v: MqttVersion, who: &Actor) -> (Answer, BTreeSet<u8>) {
        let mut first = match self.connect(v, who).await {
            Ok(c) => c,
            Err(e) => return (Answer::NotRun(e), BTreeSet::new()),
        };
        // AWS takes one CONNECT per second per client id (not adjustable); a faster second
        // CONNECT is throttled instead of taking over.
        tokio::time::sleep(CONNECT_SPACING).await;
        let second = match self.connect(v, who).await {
            Ok(c) => c,
            Err(e) => return (Answer::NotRun(e), first.disconnects),
        };
        let deadline = Instant::now() + self.timeout;
        let answer = loop {
            match self.next_by(&mut first, deadline).await {
                None => break Answer::Silence,
                Some((_, Event::Closed(cause))) => break close_answer(&cause),
                Some(_) => {}
            }
        };
        second.session.close().await;
        (answer, first.disconnects)
    }

    /// New filters one SUBSCRIBE at a time until one is refused.
    pub async fn quota(
        &self,
        v: MqttVersion,
        who: &Actor,
        prefix: &str,
    ) -> (Result<QuotaRun, String>, BTreeSet<u8>) {
        self.on_conn(v, who, async |c| {
            let mut granted = 0;
            for i in 0..QUOTA_ATTEMPTS {
                let filter = format!("{prefix}/quota/{i}");
                let answer = match c.session.subscribe(&[&filter]).await {
                    Ok(_) => self.suback(c).await,
                    Err(cause) => close_answer(&cause),
                };
                match answer {
                    Answer::SubAck(codes) if codes.iter().all(|c| *c <= 2) => granted += 1,
                    refusal => return QuotaRun { granted, refusal },
                }
            }
            QuotaRun {
                granted,
                refusal: Answer::Silence,
            }
        })
        .await
    }

    /// `n` QoS 1 publishes as fast as the connection takes them (AWS: 100 per second per
    /// connection): how many were acknowledged, and the first other answer.
    pub async fn publish_burst(
        &self,
        v: MqttVersion,
        who: &Actor,
        topic: &str,
        n: usize,
    ) -> (Result<QuotaRun, String>, BTreeSet<u8>) {
        self.on_conn(v, who, async |c| {
            let mut sent = 0;
            for i in 0..n {
                let body = Bytes::from(format!("burst {i}"));
                // A client whose in-flight window is full (acks withheld) stops taking more.
                let publish = c.session.publish(topic, body, 1, false);
                match tokio::time::timeout(self.timeout, publish).await {
                    Ok(Ok(_)) => sent += 1,
                    _ => break,
                }
            }
            let deadline = Instant::now() + self.timeout;
            let (mut granted, mut acks) = (0, 0);
            let mut refusal = Answer::Silence;
            while acks < sent {
                match self.next_by(c, deadline).await {
                    None => break,
                    Some((_, Event::Puback { code, .. })) => {
                        acks += 1;
                        if code == 0 {
                            granted += 1;
                        } else if refusal == Answer::Silence {
                            refusal = Answer::PubAck(code);
                        }
                    }
                    Some((_, Event::Closed(cause))) => {
                        if refusal == Answer::Silence {
                            refusal = close_answer(&cause);
                        }
                        break;
                    }
                    Some(_) => {}
                }
            }
            QuotaRun { granted, refusal }
        })
        .await
    }

    /// Gets of a named shadow that does not exist; each answer's code.
    pub async fn shadow(
        &self,
        v: MqttVersion,
        who: &Actor,
        thing: &str,
        shadow: &str,
        gets: usize,
    ) -> (Result<Vec<u16>, String>, BTreeSet<u8>) {
        let (r, codes) = self
            .on_conn(v, who, async |c| {
                let base = format!("$aws/things/{thing}/shadow/name/{shadow}/get");
                for f in [format!("{base}/accepted"), format!("{base}/rejected")] {
                    let answer = match c.session.subscribe(&[&f]).await {
                        Ok(_) => self.suback(c).await,
                        Err(cause) => close_answer(&cause),
                    };
                    if !matches!(&answer, Answer::SubAck(s) if s.iter().all(|c| *c <= 2)) {
                        return Err(format!("subscribing to {f}: {answer}"));
                    }
                }
                // The response subscriptions become active some time after their SUBACK (AWS
                // says so): gets sent before then are answered to nobody. Warm up until one is.
                let warm_until = Instant::now() + self.timeout;
                for warm in 0.. {
                    let token = format!("iot-canary-calibrate-warm-{warm}");
                    if Instant::now() >= warm_until {
                        return Err("no shadow answer within the timeout".into());
                    }
                    if let Err(cause) = self.get(c, &base, &token).await {
                        return Err(format!("shadow get: {}", close_answer(&cause)));
                    }
                    let by = (Instant::now() + WARM_UP_EVERY).min(warm_until);
                    if self.answer(c, None, by).await.is_some() {
                        break;
                    }
                }
                let mut codes = Vec::new();
                for i in 0..gets {
                    let token = format!("iot-canary-calibrate-{i}");
                    if self.get(c, &base, &token).await.is_err() {
                        break;
                    }
                    let by = Instant::now() + self.timeout;
                    codes.push(self.answer(c, Some(&token), by).await.unwrap_or(0));
                    if !c.session.is_alive() {
                        break;
                    }
                }
                Ok(codes)
            })
            .await;
        (r.and_then(|r| r), codes)
    }

    async fn get(&self, c: &mut Conn, topic: &str, token: &str) -> Result<(), CloseCause> {
        let body = Bytes::from(format!("{{\"clientToken\":\"{token}\"}}"));
        c.session.publish(topic, body, 1, false).await.map(drop)
    }

    /// The code of the next shadow answer (for `token`, or any): `200` accepted, else the
    /// `rejected` code; `None` when nothing came by `deadline` or the connection closed.
    async fn answer(&self, c: &mut Conn, token: Option<&str>, deadline: Instant) -> Option<u16> {
        loop {
            match self.next_by(c, deadline).await? {
                (_, Event::Publish { topic, payload, .. }) => {
                    let v: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
                    if token.is_some_and(|t| v["clientToken"] != t) {
                        continue;
                    }
                    if topic.ends_with("/accepted") {
                        return Some(200);
                    }
                    return Some(
                        v["code"]
                            .as_u64()
                            .and_then(|c| u16::try_from(c).ok())
                            .unwrap_or(0),
                    );
                }
                (_, Event::Closed(_)) => return None,
                _ => {}
            }
        }
    }

    /// One trial: a fresh subscriber, QoS 1 markers from `publisher` until one is delivered,
    /// then a few more.
    pub async fn trial(
        &self,
        v: MqttVersion,
        subscriber: &Actor,
        publisher: &mut PublisherConn,
        topic: &str,
    ) -> (Result<Trial, String>, BTreeSet<u8>) {
        let (r, codes) = self
            .on_conn(v, subscriber, async |c| {
                self.run_trial(c, publisher, topic).await
            })
            .await;
        (r.and_then(|r| r), codes)
    }

    async fn run_trial(
        &self,
        sub: &mut Conn,
        publisher: &mut PublisherConn,
        topic: &str,
    ) -> Result<Trial, String> {
        sub.session
            .subscribe(&[topic])
            .await
            .map_err(|c| format!("SUBSCRIBE failed: {c:?}"))?;
        let deadline = Instant::now() + self.timeout;
        let subacked = loop {
            match self.next_by(sub, deadline).await {
                Some((at, Event::Suback { codes, .. })) if codes.iter().all(|c| *c <= 2) => {
                    break at;
                }
                Some((_, Event::Suback { codes, .. })) => {
                    return Err(format!("the marker filter was refused: {codes:?}"));
                }
                Some((_, Event::Closed(c))) => return Err(format!("subscriber closed: {c:?}")),
                Some(_) => {}
                None => return Err("no SUBACK".into()),
            }
        };
        let mut sent: BTreeMap<u32, Instant> = BTreeMap::new();
        let mut seen: BTreeMap<u32, u32> = BTreeMap::new();
        let mut trial = Trial::default();
        let mut first: Option<u32> = None;
        let mut tick = tokio::time::interval(MARKER_EVERY);
        let stop_sending =
            |first: Option<u32>, next: u32| first.is_some_and(|f| next > f + MARKERS_AFTER);
        let mut next_seq = 0u32;
        let mut wait_until = deadline;
        loop {
            tokio::select! {
                _ = tick.tick(), if !stop_sending(first, next_seq) && Instant::now() < deadline => {
                    let at = Instant::now();
                    publisher.send(topic, next_seq).await?;
                    sent.insert(next_seq, at);
                    next_seq += 1;
                    if stop_sending(first, next_seq) {
                        // Everything sent; give the last ones the timeout to arrive.
                        wait_until = Instant::now() + self.timeout;
                    }
                }
                ev = self.next_by(sub, wait_until) => match ev {
                    None => break,
                    Some((at, Event::Publish { payload, .. })) => {
                        let Some(seq) = std::str::from_utf8(&payload).ok().and_then(|s| s.parse::<u32>().ok()) else {
                            continue;
                        };
                        let Some(sent_at) = sent.get(&seq) else { continue };
                        let n = seen.entry(seq).or_default();
                        *n += 1;
                        if *n > 1 {
                            trial.duplicates += 1;
                            continue;
                        }
                        if first.is_none() {
                            first = Some(seq);
                            trial.activation = Some(sent_at.saturating_duration_since(subacked));
                        }
                        trial.latencies.push(at.saturating_duration_since(*sent_at));
                        let f = first.unwrap_or(seq);
                        if stop_sending(first, next_seq) && (f..next_seq).all(|s| seen.contains_key(&s)) {
                            break;
                        }
                    }
                    Some((_, Event::Closed(c))) => return Err(format!("subscriber closed: {c:?}")),
                    Some(_) => {}
                }
            }
            publisher.drain();
        }
        if let Some(f) = first {
            trial.sent_after_activation = next_seq - f;
        }
        Ok(trial)
    }
}

/// The connection that publishes the markers (kept across trials).
pub struct PublisherConn {
    conn: Conn,
}

impl PublisherConn {
    pub async fn open(wire: &Wire, v: MqttVersion, who: &Actor) -> Result<PublisherConn, String> {
        Ok(PublisherConn {
            conn: wire.connect(v, who).await?,
        })
    }

    async fn send(&mut self, topic: &str, seq: u32) -> Result<(), String> {
        self.conn
            .session
            .publish(topic, Bytes::from(seq.to_string()), 1, false)
            .await
            .map(drop)
            .map_err(|c| format!("marker publisher closed: {c:?}"))
    }

    /// PUBACKs are not needed; a closed publisher is noticed at the next send.
    fn drain(&mut self) {
        self.conn.session.drain();
    }

    pub async fn close(self) -> BTreeSet<u8> {
        self.conn.session.close().await;
        self.conn.disconnects
    }
}
