//! Probes: one file per kind behind one narrow interface (`run`: context in, evidence out).
//! A probe attempts exactly one thing, records what it saw, and names the decisive observation;
//! what that observation proves is `verdict::classify`'s business.

mod connect;
mod publish;
mod receive;
mod retain;
mod shadow;
mod subscribe;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::mqtt::pool::{Lease, SessionKey, SessionPool};
use crate::mqtt::{
    CloseCause, ConnectFailure, CredentialProvider, Endpoint, Event, SessionOptions,
};
use iot_canary_core::config::Canary;
use iot_canary_core::evidence::{Evidence, Step, describe};
use iot_canary_core::verdict::{Observation, ProbeAction, Waiting};

/// An identity as a probe uses it: who, and how to sign.
#[derive(Clone)]
pub struct Actor {
    pub identity: String,
    pub client_id: String,
    pub credentials: Arc<dyn CredentialProvider>,
}

/// Everything one probe run needs.
pub struct ProbeCtx<'a> {
    pub canary: &'a Canary,
    pub endpoint: &'a Endpoint,
    pub pool: &'a SessionPool,
    pub actor: Actor,
    pub witness: Option<Actor>,
    pub deadline: Instant,
    /// How long to wait for a delivery the witness proved was routed.
    pub grace: Duration,
    /// Unique per probe run; marks the canary's payloads and the witness's bait.
    pub nonce: String,
    pub keep_alive: Duration,
    started: Instant,
    steps: Vec<Step>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Canary,
    Witness,
}

/// Runs the probe for `canary.action`.
pub async fn run(mut ctx: ProbeCtx<'_>) -> Evidence {
    let obs = match ctx.canary.action {
        ProbeAction::Connect => connect::run(&mut ctx).await,
        ProbeAction::Subscribe => subscribe::run(&mut ctx).await,
        ProbeAction::Publish => publish::run(&mut ctx).await,
        ProbeAction::Receive => receive::run(&mut ctx).await,
        ProbeAction::Retain => retain::run(&mut ctx).await,
        ProbeAction::ShadowGet | ProbeAction::ShadowUpdate | ProbeAction::ShadowDelete => {
            shadow::run(&mut ctx).await
        }
    };
    ctx.note(format!("decisive: {}", describe(&obs)));
    Evidence {
        mqtt_version: ctx.canary.mqtt_version,
        client_id: ctx.actor.client_id.clone(),
        observation: obs,
        steps: ctx.steps,
    }
}

impl<'a> ProbeCtx<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        canary: &'a Canary,
        endpoint: &'a Endpoint,
        pool: &'a SessionPool,
        actor: Actor,
        witness: Option<Actor>,
        deadline: Instant,
        grace: Duration,
        nonce: String,
        keep_alive: Duration,
    ) -> Self {
        ProbeCtx {
            canary,
            endpoint,
            pool,
            actor,
            witness,
            deadline,
            grace,
            nonce,
            keep_alive,
            started: Instant::now(),
            steps: Vec::new(),
        }
    }

    fn ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_millis() as u64
    }

    fn note(&mut self, what: impl Into<String>) {
        let at_ms = self.ms(Instant::now());
        self.steps.push(Step {
            at_ms,
            what: what.into(),
        });
    }

    fn payload(&self, kind: &str) -> Bytes {
        Bytes::from(format!(
            r#"{{"iot_canary":true,"kind":"{kind}","canary":{},"nonce":"{}"}}"#,
            serde_json::Value::String(self.canary.name.clone()),
            self.nonce
        ))
    }

    fn options(&self, role: Role, client_id: String) -> (SessionKey, SessionOptions) {
        let actor = match role {
            Role::Canary => &self.actor,
            // Only called for witness roles when a witness exists (checked by callers).
            Role::Witness => self.witness.as_ref().unwrap_or(&self.actor),
        };
        let version = self.canary.mqtt_version;
        (
            SessionKey {
                identity: actor.identity.clone(),
                client_id: client_id.clone(),
                version,
            },
            SessionOptions {
                endpoint: self.endpoint.clone(),
                version,
                client_id,
                credentials: actor.credentials.clone(),
                keep_alive: self.keep_alive,
            },
        )
    }

    /// A connection for the canary (`reuse`: the pooled MQTT 5 one may be used).
    async fn open(&mut self, client_id: String, reuse: bool) -> Result<Lease, Observation> {
        let (key, opts) = self.options(Role::Canary, client_id.clone());
        let t0 = Instant::now();
        self.note(format!(
            "CONNECT as `{client_id}` (MQTT {})",
            self.canary.mqtt_version
        ));
        let r =
            tokio::time::timeout_at(self.deadline.into(), self.pool.lease(key, opts, reuse)).await;
        match r {
            Err(_) => Err(Observation::TimedOut {
                waiting_for: Waiting::Connack,
            }),
            Ok(Ok(lease)) => {
                let how = if lease.fresh {
                    "CONNACK 0x00"
                } else {
                    "reusing the open connection"
                };
                self.note(how);
                Ok(lease)
            }
            Ok(Err(ConnectFailure::Refused(code))) => {
                self.note(format!("CONNACK 0x{code:02X}"));
                Err(Observation::Connack { code })
            }
            Ok(Err(ConnectFailure::Closed(cause))) => {
                let after = Instant::now().saturating_duration_since(t0).as_millis() as u64;
                self.note(format!("connect failed: {cause:?}"));
                Err(close_observation(cause, Waiting::Connack, after))
            }
        }
    }

    /// A connection for the witness; any failure is `WitnessFailed`. Not pooled: witness
    /// client ids are per canary, so a pooled witness would never serve another probe in the
    /// round and only pile up open sockets (~150 KB each: 1,500 for 10,000 canaries).
    async fn open_witness(&mut self) -> Result<Lease, Observation> {
        let Some(w) = self.witness.clone() else {
            return Err(Observation::WitnessFailed);
        };
        let (key, opts) = self.options(Role::Witness, w.client_id.clone());
        self.note(format!(
            "witness `{}` CONNECT as `{}`",
            w.identity, w.client_id
        ));
        match tokio::time::timeout_at(self.deadline.into(), self.pool.lease(key, opts, false)).await
        {
            Ok(Ok(l)) => Ok(l),
            Err(_) => Err(Observation::TimedOut {
                waiting_for: Waiting::Witness,
            }),
            Ok(Err(e)) => {
                self.note(format!("witness connect failed: {e:?}"));
                Err(Observation::WitnessFailed)
            }
        }
    }

    /// Waits for the first event `pick` accepts; a close or the deadline ends the wait.
    async fn wait_for<T>(
        &mut self,
        lease: &mut Lease,
        waiting: Waiting,
        until: Instant,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> Result<T, Observation> {
        let t0 = Instant::now();
        loop {
            let next = tokio::time::timeout_at(until.into(), lease.session().next_event()).await;
            match next {
                Err(_) => {
                    return Err(Observation::TimedOut {
                        waiting_for: waiting,
                    });
                }
                Ok((at, Event::Closed(cause))) => {
                    let after = at.saturating_duration_since(t0).as_millis() as u64;
                    self.note(format!("connection closed: {cause:?}"));
                    return Err(close_observation(cause, waiting, after));
                }
                Ok((_, ev)) => {
                    if let Some(t) = pick(&ev) {
                        return Ok(t);
                    }
                }
            }
        }
    }

    /// SUBSCRIBE one filter and wait for its SUBACK code.
    async fn subscribe(&mut self, lease: &mut Lease, filter: &str) -> Result<u8, Observation> {
        self.note(format!("SUBSCRIBE `{filter}` QoS 1"));
        if let Err(c) = lease.session().subscribe(filter, 1).await {
            return Err(close_observation(c, Waiting::Suback, 0));
        }
        let deadline = self.deadline;
        let code = self
            .wait_for(lease, Waiting::Suback, deadline, |ev| match ev {
                Event::Suback { codes } => Some(codes.first().copied().unwrap_or(0x80)),
                _ => None,
            })
            .await?;
        self.note(format!("SUBACK 0x{code:02X}"));
        Ok(code)
    }

    /// PUBLISH and, at QoS 1, wait for the PUBACK code (`None` at QoS 0).
    async fn publish(
        &mut self,
        lease: &mut Lease,
        topic: &str,
        payload: Bytes,
        qos: u8,
        retain: bool,
    ) -> Result<Option<u8>, Observation> {
        self.note(format!(
            "PUBLISH `{topic}` QoS {qos}{}",
            if retain { " retain" } else { "" }
        ));
        if let Err(c) = lease.session().publish(topic, payload, qos, retain).await {
            return Err(close_observation(c, Waiting::Puback, 0));
        }
        if qos == 0 {
            return Ok(None);
        }
        let deadline = self.deadline;
        let code = self
            .wait_for(lease, Waiting::Puback, deadline, |ev| match ev {
                Event::Puback { code } => Some(*code),
                _ => None,
            })
            .await?;
        self.note(format!("PUBACK 0x{code:02X}"));
        Ok(Some(code))
    }

    /// Waits up to `until` for a message carrying this probe's nonce on `lease`.
    async fn wait_nonce(&mut self, lease: &mut Lease, until: Instant) -> Result<bool, Observation> {
        let nonce = self.nonce.clone();
        match self
            .wait_for(lease, Waiting::Delivery, until, |ev| match ev {
                Event::Publish { payload, topic, .. } if contains(payload, &nonce) => {
                    Some(topic.clone())
                }
                _ => None,
            })
            .await
        {
            Ok(topic) => {
                self.note(format!("received the nonce on `{topic}`"));
                Ok(true)
            }
            Err(Observation::TimedOut { .. }) => Ok(false),
            Err(o) => Err(o),
        }
    }

    fn grace_deadline(&self) -> Instant {
        (Instant::now() + self.grace).min(self.deadline)
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A connection that ended, as evidence for what the probe was waiting for.
fn close_observation(cause: CloseCause, waiting: Waiting, after_ms: u64) -> Observation {
    match cause {
        CloseCause::UpgradeRejected(status) => Observation::UpgradeRejected { status },
        CloseCause::Tls => Observation::TlsFailed,
        CloseCause::Network => Observation::NetworkFailed,
        CloseCause::Dns => Observation::DnsFailed,
        CloseCause::TcpRefused => Observation::TcpRefused,
        CloseCause::Timeout => Observation::TimedOut {
            waiting_for: waiting,
        },
        CloseCause::PeerClosed => Observation::ClosedWithoutAck {
            waiting_for: waiting,
            after_ms,
        },
        CloseCause::ServerDisconnect(code) => Observation::ServerDisconnect {
            code,
            waiting_for: waiting,
        },
        CloseCause::Credentials => Observation::CredentialsUnavailable,
        CloseCause::Protocol(detail) => Observation::Unexpected { detail },
    }
}

/// Publish-style outcomes: PUBACK success codes.
fn puback_ok(code: u8) -> bool {
    matches!(code, 0x00 | 0x10)
}

/// The witness subscribes to `topic` (to observe or to prove routing); any refusal is
/// `WitnessFailed`.
async fn witness_subscribe(
    ctx: &mut ProbeCtx<'_>,
    w: &mut Lease,
    topic: &str,
) -> Result<(), Observation> {
    match ctx.subscribe(w, topic).await {
        Ok(c) if c <= 2 => Ok(()),
        Ok(_) | Err(_) => {
            ctx.note("witness subscription refused");
            Err(Observation::WitnessFailed)
        }
    }
}
