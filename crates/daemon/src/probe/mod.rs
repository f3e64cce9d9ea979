//! Probes: one file per kind behind one narrow interface (`run`: context in, evidence out).
//! A probe attempts exactly one thing, records what it saw, and names the decisive observation;
//! what that observation proves is `evidence_rules::classify`'s business
//! (docs/evidence-rules.md says what each probe gathers and why).

pub mod api;
mod assume_role;
mod attach_policy;
mod attach_thing_principal;
mod connect;
mod custom_role;
mod delete_connection;
mod describe_thing;
mod get_policy;
mod https_publish;
mod https_retained_get;
mod https_retained_list;
mod https_shadow_delete;
mod https_shadow_get;
mod https_shadow_list;
mod https_shadow_update;
mod list_attached_policies;
mod list_things;
mod marks;
mod publish;
mod receive;
mod retain;
mod role_paths;
mod shadow;
mod subscribe;
mod web_identity;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::mqtt::pool::{Lease, SessionKey, SessionPool};
use crate::mqtt::{
    CloseCause, ConnectFailure, CredentialProvider, Endpoint, Event, RequestId, SessionOptions,
    Wait,
};
use iot_canary_core::config::Canary;
use iot_canary_core::evidence::{Evidence, Step, describe};
use iot_canary_core::evidence_rules::{
    V311_SUBACK_FAILURE, after_repeat, close_needs_repeat, is_throttle,
};
use iot_canary_core::verdict::{MqttVersion, Observation, ProbeAction, Waiting};

pub use marks::Mark;
pub use role_paths::RoleCtx;

/// How long a probe waits before repeating a request AWS answered with a throttling code
/// (AWS's quotas are per second).
const THROTTLE_BACKOFF: Duration = Duration::from_secs(1);

/// How long a wait for a marker or the bait lasts before another one is published: a fresh
/// subscription may not be active yet (AWS's delay after SUBACK), and whichever copy arrives
/// first proves liveness — no blanket sleep.
pub(super) const MARKER_RETRY: Duration = Duration::from_millis(250);

/// An identity as a probe uses it: who, and how to sign.
#[derive(Clone)]
pub struct Actor {
    pub identity: String,
    pub client_id: String,
    pub credentials: Arc<dyn CredentialProvider>,
    /// The Cognito identity id, when the identity has one: the principal IoT policies attach
    /// to (the control-plane probes' "own principal").
    pub identity_id: Option<String>,
}

/// Everything one probe run needs.
pub struct ProbeCtx<'a> {
    pub canary: &'a Canary,
    pub endpoint: &'a Endpoint,
    pub pool: &'a SessionPool,
    pub actor: Actor,
    pub witness: Option<Actor>,
    pub deadline: Instant,
    /// How long to keep waiting for a delivery after the proof that it would have arrived.
    pub grace: Duration,
    /// Unique per probe run; marks the canary's payloads and the witness's bait and markers.
    pub nonce: String,
    pub keep_alive: Duration,
    /// The AWS API doors (HTTPS data plane, control plane); `None` where only MQTT is probed.
    pub api: Option<&'a api::ApiSetup>,
    started: Instant,
    steps: Vec<Step>,
    /// Whether the canary's last connection was opened by this probe (vs reused).
    fresh: bool,
    /// Sequence numbers of this probe's marked payloads.
    seq: u32,
    /// What the role-path probes need beyond signing (`None` outside the daemon's rounds).
    pub roles: Option<RoleCtx<'a>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Canary,
    Witness,
}

/// What a probe run produced: its evidence, and whether its decisive connection was fresh
/// (a control's freshness is what may confirm a 3.1.1 close).
pub struct Outcome {
    pub evidence: Evidence,
    pub fresh_connection: bool,
}

/// Runs the probe for `canary.action`. An MQTT 3.1.1 close answering the probe's own request
/// is tried once more on a fresh connection: only a repeated close can count
/// (`evidence_rules::close_needs_repeat`).
pub async fn run(mut ctx: ProbeCtx<'_>) -> Outcome {
    let version = ctx.canary.mqtt_version;
    let action = ctx.canary.action;
    let mut obs = run_kind(&mut ctx).await;
    if close_needs_repeat(version, action, &obs) {
        ctx.note(format!(
            "{}; repeating on a fresh connection to tell a refusal from a dropped or taken-over connection",
            describe(&obs)
        ));
        ctx.nonce = format!("{}-2", ctx.nonce);
        let second = run_kind(&mut ctx).await;
        obs = after_repeat(version, action, &obs, second);
    }
    ctx.note(format!("decisive: {}", describe(&obs)));
    Outcome {
        evidence: Evidence {
            mqtt_version: ctx.canary.mqtt_version,
            client_id: ctx.actor.client_id.clone(),
            observation: obs,
            steps: ctx.steps,
        },
        fresh_connection: ctx.fresh,
    }
}

async fn run_kind(ctx: &mut ProbeCtx<'_>) -> Observation {
    match ctx.canary.action {
        ProbeAction::Connect => connect::run(ctx).await,
        ProbeAction::Subscribe => subscribe::run(ctx).await,
        ProbeAction::Publish => publish::run(ctx).await,
        ProbeAction::Receive => receive::run(ctx).await,
        ProbeAction::Retain => retain::run(ctx).await,
        ProbeAction::ShadowGet | ProbeAction::ShadowUpdate | ProbeAction::ShadowDelete => {
            shadow::run(ctx).await
        }
        api => api_door(api, ctx).await.unwrap_or_else(|stopped| stopped),
    }
}

/// The HTTPS, control-plane and role-path probes: each stops early with `Err(observation)`
/// (no credentials, no witness, a failed preparatory call), so either side is the answer.
async fn api_door(action: ProbeAction, ctx: &mut ProbeCtx<'_>) -> Result<Observation, Observation> {
    match action {
        ProbeAction::HttpsPublish => https_publish::run(ctx).await,
        ProbeAction::HttpsShadowGet => https_shadow_get::run(ctx).await,
        ProbeAction::HttpsShadowUpdate => https_shadow_update::run(ctx).await,
        ProbeAction::HttpsShadowDelete => https_shadow_delete::run(ctx).await,
        ProbeAction::HttpsShadowList => https_shadow_list::run(ctx).await,
        ProbeAction::HttpsRetainedGet => https_retained_get::run(ctx).await,
        ProbeAction::HttpsRetainedList => https_retained_list::run(ctx).await,
        ProbeAction::DeleteConnection => delete_connection::run(ctx).await,
        ProbeAction::AttachPolicy => attach_policy::run(ctx).await,
        ProbeAction::AttachThingPrincipal => attach_thing_principal::run(ctx).await,
        ProbeAction::ListThings => list_things::run(ctx).await,
        ProbeAction::DescribeThing => describe_thing::run(ctx).await,
        ProbeAction::GetPolicy => get_policy::run(ctx).await,
        ProbeAction::ListAttachedPolicies => list_attached_policies::run(ctx).await,
        ProbeAction::AssumeRole => assume_role::run(ctx).await,
        ProbeAction::WebIdentity => web_identity::run(ctx).await,
        ProbeAction::CustomRole => custom_role::run(ctx).await,
        mqtt => Err(Observation::Unexpected {
            detail: format!(
                "`{}` is no HTTPS, control-plane or role-path action",
                mqtt.as_str()
            ),
        }),
    }
}

/// An ack matched to its request.
struct Ack {
    /// SUBACK codes, or the one PUBACK code; empty for UNSUBACK.
    codes: Vec<u8>,
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
            api: None,
            started: Instant::now(),
            steps: Vec::new(),
            fresh: false,
            seq: 0,
            roles: None,
        }
    }

    /// Gives the role-path probes the identity's API context (see [`RoleCtx`]).
    pub fn with_roles(mut self, roles: Option<RoleCtx<'a>>) -> Self {
        self.roles = roles;
        self
    }

    /// The AWS API doors this probe may call.
    pub fn with_api(mut self, api: &'a api::ApiSetup) -> Self {
        self.api = Some(api);
        self
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

    fn version(&self) -> MqttVersion {
        self.canary.mqtt_version
    }

    /// A marked payload of this probe (`kind`: bait, marker, publish, retain, ...).
    fn mark(&mut self, kind: &'static str) -> Mark {
        self.seq += 1;
        Mark {
            kind,
            canary: self.canary.name.clone(),
            nonce: self.nonce.clone(),
            seq: self.seq,
        }
    }

    fn options(&self, role: Role, client_id: String) -> (SessionKey, SessionOptions) {
        let actor = match role {
            Role::Canary => &self.actor,
            // Only called for witness roles when a witness exists (checked by callers).
            Role::Witness => self.witness.as_ref().unwrap_or(&self.actor),
        };
        let version = self.version();
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
                self.fresh = lease.fresh;
                let how = if lease.fresh {
                    "CONNACK 0x00"
                } else {
                    "reusing the open connection"
                };
                self.note(how);
                Ok(lease)
            }
            Ok(Err(ConnectFailure::Refused(code))) => {
                self.fresh = true;
                self.note(format!("CONNACK 0x{code:02X}"));
                Err(Observation::Connack { code })
            }
            Ok(Err(ConnectFailure::Closed { cause, after_ms })) => {
                self.fresh = true;
                let after = after_ms.unwrap_or_else(|| t0.elapsed().as_millis() as u64);
                self.note(format!("connect failed: {cause}"));
                Err(close_observation(cause, Waiting::Connack, after))
            }
        }
    }

    /// A connection for the witness; any failure is `WitnessFailed`, saying which. Not pooled:
    /// witness client ids are per canary, so a pooled witness would never serve another probe
    /// in the round and only pile up open sockets (~150 KB each: 1,500 for 10,000 canaries).
    async fn open_witness(&mut self) -> Result<Lease, Observation> {
        let Some(w) = self.witness.clone() else {
            return Err(witness_failed("no witness identity"));
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
            Ok(Err(ConnectFailure::Refused(code))) => {
                Err(self.witness_failed(format!("witness CONNECT refused (CONNACK 0x{code:02X})")))
            }
            Ok(Err(ConnectFailure::Closed { cause, .. })) => {
                Err(self.witness_failed(format!("witness connection failed: {cause}")))
            }
        }
    }

    fn witness_failed(&mut self, detail: String) -> Observation {
        self.note(detail.clone());
        witness_failed(&detail)
    }

    /// Waits for the ack of `request` (matched by packet id). `waiting` says whose request it
    /// is. A close is measured from when the request was written; the deadline discards the
    /// connection (a late ack must never reach another probe).
    async fn ack(
        &mut self,
        lease: &mut Lease,
        request: RequestId,
        waiting: Waiting,
    ) -> Result<Ack, Observation> {
        let t0 = Instant::now();
        let mut written = None;
        let got = lease
            .session()
            .wait_for(self.deadline, |at, ev| match ev {
                Event::Sent { request: r } if *r == request => {
                    written = Some(at);
                    None
                }
                Event::Suback {
                    request: Some(r),
                    codes,
                } if *r == request => Some(codes.clone()),
                Event::Puback {
                    request: Some(r),
                    code,
                } if *r == request => Some(vec![*code]),
                Event::Unsuback { request: Some(r) } if *r == request => Some(Vec::new()),
                _ => None,
            })
            .await;
        match got {
            Wait::Got(codes) => Ok(Ack { codes }),
            Wait::TimedOut => {
                lease.discard();
                self.note(format!(
                    "timed out waiting for {}; connection discarded",
                    waiting.phrase()
                ));
                Err(Observation::TimedOut {
                    waiting_for: waiting,
                })
            }
            Wait::Closed { at, cause } => {
                let from = written.unwrap_or(t0);
                let after = at.saturating_duration_since(from).as_millis() as u64;
                self.note(format!(
                    "connection closed {after} ms after the request was written: {cause}"
                ));
                Err(close_observation(cause, waiting, after))
            }
        }
    }

    /// SUBSCRIBE `filters` in one packet and wait for their codes (one per filter).
    async fn subscribe(
        &mut self,
        lease: &mut Lease,
        filters: &[&str],
        waiting: Waiting,
    ) -> Result<Vec<u8>, Observation> {
        let list = filters
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(" + ");
        self.note(format!("SUBSCRIBE {list} QoS 1"));
        let request = match lease.session().subscribe(filters).await {
            Ok(r) => r,
            Err(c) => return Err(self.not_sent(c, waiting)),
        };
        let ack = self.ack(lease, request, waiting).await?;
        let shown = ack
            .codes
            .iter()
            .map(|c| format!("0x{c:02X}"))
            .collect::<Vec<_>>()
            .join(", ");
        if ack.codes.len() != filters.len() {
            self.note(format!("SUBACK [{shown}] for {} filters", filters.len()));
            return Err(Observation::Unexpected {
                detail: if ack.codes.is_empty() {
                    "SUBACK without return codes".into()
                } else {
                    format!(
                        "SUBACK with {} codes for {} filters",
                        ack.codes.len(),
                        filters.len()
                    )
                },
            });
        }
        self.note(format!("SUBACK [{shown}]"));
        Ok(ack.codes)
    }

    /// UNSUBSCRIBE `filter` and wait for its UNSUBACK (the next SUBSCRIBE of it is then a new
    /// subscription).
    async fn unsubscribe(&mut self, lease: &mut Lease, filter: &str) -> Result<(), Observation> {
        let request = match lease.session().unsubscribe(filter).await {
            Ok(r) => r,
            Err(c) => return Err(self.not_sent(c, Waiting::Auxiliary)),
        };
        self.ack(lease, request, Waiting::Auxiliary)
            .await
            .map(|_| ())
    }

    /// Best-effort UNSUBSCRIBE after a probe (the next probe on a pooled connection ignores
    /// whatever the old subscription still delivers: it carries another nonce).
    async fn forget(&mut self, lease: &mut Lease, filter: &str) {
        let _ = lease.session().unsubscribe(filter).await;
    }

    /// PUBLISH; returns the request (wait for its PUBACK with [`Self::ack`] at QoS 1).
    async fn send(
        &mut self,
        lease: &mut Lease,
        topic: &str,
        payload: Bytes,
        qos: u8,
        retain: bool,
        waiting: Waiting,
    ) -> Result<RequestId, Observation> {
        self.note(format!(
            "PUBLISH `{topic}` QoS {qos}{}",
            if retain { " retain" } else { "" }
        ));
        match lease.session().publish(topic, payload, qos, retain).await {
            Ok(r) => Ok(r),
            Err(c) => Err(self.not_sent(c, waiting)),
        }
    }

    /// QoS 1 PUBLISH and its PUBACK code.
    async fn publish(
        &mut self,
        lease: &mut Lease,
        topic: &str,
        payload: Bytes,
        retain: bool,
        waiting: Waiting,
    ) -> Result<u8, Observation> {
        let request = self.send(lease, topic, payload, 1, retain, waiting).await?;
        let ack = self.ack(lease, request, waiting).await?;
        let code = ack.codes.first().copied().unwrap_or(0);
        self.note(format!("PUBACK 0x{code:02X}"));
        Ok(code)
    }

    /// The probe's own QoS 1 PUBLISH under test: a throttling code is answered by one more
    /// attempt after [`THROTTLE_BACKOFF`] (with a fresh payload), whose code counts.
    async fn publish_under_test(
        &mut self,
        lease: &mut Lease,
        topic: &str,
        kind: &'static str,
        retain: bool,
    ) -> Result<u8, Observation> {
        let payload = self.mark(kind).bytes();
        let code = self
            .publish(lease, topic, payload, retain, Waiting::Puback)
            .await?;
        if self.version() == MqttVersion::V5 && is_throttle(code) && self.backoff().await {
            let payload = self.mark(kind).bytes();
            return self
                .publish(lease, topic, payload, retain, Waiting::Puback)
                .await;
        }
        Ok(code)
    }

    /// Sleeps [`THROTTLE_BACKOFF`] if that leaves time before the deadline; `false` if not.
    async fn backoff(&mut self) -> bool {
        if Instant::now() + THROTTLE_BACKOFF + Duration::from_millis(200) > self.deadline {
            return false;
        }
        self.note(format!(
            "throttling code: trying again after {} ms",
            THROTTLE_BACKOFF.as_millis()
        ));
        tokio::time::sleep(THROTTLE_BACKOFF).await;
        true
    }

    /// A request the client could not send: the client's own refusal, or the connection's end.
    fn not_sent(&mut self, cause: CloseCause, waiting: Waiting) -> Observation {
        self.note(format!("request not sent: {cause}"));
        close_observation(cause, waiting, 0)
    }

    fn grace_deadline(&self) -> Instant {
        (Instant::now() + self.grace).min(self.deadline)
    }
}

fn witness_failed(detail: &str) -> Observation {
    Observation::WitnessFailed {
        detail: detail.to_string(),
    }
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
            repeated: false,
        },
        CloseCause::ServerDisconnect(code) => Observation::ServerDisconnect {
            code,
            waiting_for: waiting,
        },
        CloseCause::Credentials => Observation::CredentialsUnavailable,
        CloseCause::Protocol(detail) => Observation::Unexpected { detail },
    }
}

/// Whether a witness's refusal may be throttling (3.1.1 SUBACK 0x80 is also AWS's answer to a
/// throttled subscription; MQTT 5 says so with its own codes).
fn witness_throttled(version: MqttVersion, code: u8) -> bool {
    is_throttle(code) || (version == MqttVersion::V311 && code == V311_SUBACK_FAILURE)
}

/// The witness subscribes to `topic` (to observe, or to prove routing); a refusal that may be
/// throttling is tried once more after [`THROTTLE_BACKOFF`] (the witness is the operator's own
/// identity: its refusal says nothing about the canary, and waiting costs only time); any
/// other refusal, or the second, is `WitnessFailed`, saying which.
async fn witness_subscribe(
    ctx: &mut ProbeCtx<'_>,
    w: &mut Lease,
    topic: &str,
) -> Result<(), Observation> {
    let mut outcome = ctx.subscribe(w, &[topic], Waiting::Witness).await;
    if let Ok(codes) = &outcome
        && codes.iter().any(|c| witness_throttled(ctx.version(), *c))
        && ctx.backoff().await
    {
        outcome = ctx.subscribe(w, &[topic], Waiting::Witness).await;
    }
    match outcome {
        Ok(codes) if codes.iter().all(|c| *c <= 2) => Ok(()),
        Ok(codes) => Err(ctx.witness_failed(format!(
            "witness subscription refused (SUBACK 0x{:02X})",
            codes.first().copied().unwrap_or(0x80)
        ))),
        Err(Observation::TimedOut { .. }) => {
            Err(ctx.witness_failed("witness subscription timed out".into()))
        }
        Err(o) => Err(ctx.witness_failed(format!("witness subscription failed: {}", describe(&o)))),
    }
}

/// The witness publishes at QoS 1 (bait, markers, cleanup); anything but an accepting PUBACK
/// (after one more try where it was throttled) is `WitnessFailed`, saying which.
async fn witness_publish(
    ctx: &mut ProbeCtx<'_>,
    w: &mut Lease,
    topic: &str,
    payload: Bytes,
    retain: bool,
) -> Result<(), Observation> {
    let mut outcome = ctx
        .publish(w, topic, payload.clone(), retain, Waiting::Witness)
        .await;
    // As for its subscriptions: a throttled witness publish is tried once more.
    if let Ok(code) = outcome
        && is_throttle(code)
        && ctx.backoff().await
    {
        outcome = ctx
            .publish(w, topic, payload, retain, Waiting::Witness)
            .await;
    }
    match outcome {
        Ok(code) if iot_canary_core::evidence_rules::puback_ok(code) => Ok(()),
        Ok(code) => {
            Err(ctx.witness_failed(format!("witness publish refused (PUBACK 0x{code:02X})")))
        }
        Err(Observation::TimedOut { .. }) => {
            Err(ctx.witness_failed("witness publish timed out".into()))
        }
        Err(o) => Err(ctx.witness_failed(format!("witness publish failed: {}", describe(&o)))),
    }
}
