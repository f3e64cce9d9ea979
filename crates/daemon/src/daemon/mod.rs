//! The canary daemon: runs rounds of probes, pairs denials with controls, and keeps the
//! results store that reports and metrics read. `service` is the one loop around rounds.

pub mod alerting;
pub mod identities;
pub mod live;
pub mod sd_notify;
pub mod service;
pub mod store;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use tokio::sync::{Semaphore, watch};

use crate::identity::{Env, IdentityContext};
use crate::mqtt::pool::SessionPool;
use crate::mqtt::{CredentialError, CredentialFuture, CredentialProvider, Endpoint};
use crate::probe::{self, Actor, ProbeCtx, RoleCtx};
use iot_canary_core::config::{Canary, Config, probe_names};
use iot_canary_core::credentials::CacheStatus;
use iot_canary_core::evidence::{Evidence, Step};
pub use iot_canary_core::plan::Shard;
use iot_canary_core::plan::{self as plan, ClientIdVars, ProbeSlot, expand_client_id};
pub use iot_canary_core::store::CanaryReport;
use iot_canary_core::verdict::{
    Classified, ControlRun, Expect, Observation, Verdict, classify, pair_with_controls,
};
pub use store::Store;

/// MQTT keep-alive of probe connections.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// Credentials of one identity plus what client-id placeholders need.
#[derive(Clone)]
pub struct IdentityCreds {
    pub credentials: Credentials,
    pub identity_id: Option<String>,
    pub username: Option<String>,
}

pub type IdentityFuture<'a> =
    Pin<Box<dyn Future<Output = Result<IdentityCreds, String>> + Send + 'a>>;

/// An identity's shared (refreshing) credentials. Errors are secret-free descriptions and make
/// the identity's probes `inconclusive(credentials)`.
pub trait IdentitySource: Send + Sync + 'static {
    fn current(&self) -> IdentityFuture<'_>;

    /// The credential cache's state for metrics (`None`: not cache-backed, e.g. fixed test
    /// credentials).
    fn status(&self) -> Option<CacheStatus> {
        None
    }

    /// The gateway refused these credentials (HTTP 403 at the upgrade): drop them so the next
    /// probe fetches fresh ones instead of failing the same way until they expire.
    fn invalidate(&self) {}
}

/// Fixed credentials (tests, `static` keys resolved up front).
pub struct FixedIdentity(pub IdentityCreds);

impl IdentitySource for FixedIdentity {
    fn current(&self) -> IdentityFuture<'_> {
        let c = self.0.clone();
        Box::pin(async move { Ok(c) })
    }
}

struct SigningCreds(Arc<dyn IdentitySource>);

impl CredentialProvider for SigningCreds {
    fn credentials(&self) -> CredentialFuture {
        let src = self.0.clone();
        Box::pin(async move {
            src.current()
                .await
                .map(|c| c.credentials)
                .map_err(CredentialError)
        })
    }
}

pub struct Daemon {
    pub config: Arc<Config>,
    pub endpoint: Endpoint,
    pub pool: Arc<SessionPool>,
    pub identities: BTreeMap<String, Arc<dyn IdentitySource>>,
    pub store: Arc<Store>,
    pub shard: Shard,
    /// The AWS API doors (HTTPS data plane, control plane): endpoints and one HTTPS client.
    pub api: Arc<probe::api::ApiSetup>,
    permits: Arc<Semaphore>,
    /// Flipped to `true` at the shutdown drain deadline: in-flight and queued probes end as
    /// `inconclusive(aborted)` and are still recorded.
    abort: watch::Sender<bool>,
    /// One lane per pooled connection: probes that will share an MQTT 5 connection queue
    /// here *before* taking a concurrency permit, so permits go to probes that can run now
    /// instead of idling behind another probe's lease (head-of-line blocking).
    lanes: std::sync::Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Region, `[endpoints]` and the environment for `*_env` secrets: what the role-path
    /// probes need to call STS and Cognito as the identity (its sign-in included).
    apis: IdentityContext,
}

impl Daemon {
    pub fn new(
        config: Arc<Config>,
        endpoint: Endpoint,
        identities: BTreeMap<String, Arc<dyn IdentitySource>>,
        shard: Shard,
    ) -> Self {
        let apis = IdentityContext::new(config.target.region.clone(), config.endpoints.clone());
        Daemon {
            pool: Arc::new(SessionPool::new(
                config.schedule.connect_interval,
                config.schedule.connect_rate,
            )),
            permits: Arc::new(Semaphore::new(config.schedule.concurrency)),
            lanes: Default::default(),
            store: Arc::new(Store::default()),
            api: Arc::new(probe::api::ApiSetup::new(
                &config,
                endpoint.ca_pem.as_deref().map(Vec::as_slice),
            )),
            config,
            endpoint,
            identities,
            shard,
            abort: watch::Sender::new(false),
            apis,
        }
    }

    /// The environment `*_env` secret references resolve in (the role-path probes' user-pool
    /// sign-in); the process environment unless set. Use the one the identities were built with.
    pub fn with_env(mut self, env: Env) -> Self {
        self.apis = self.apis.with_env(env);
        self
    }

    /// Abandons every in-flight and queued probe: each ends as `inconclusive(aborted)`, and
    /// the round still completes and records them.
    pub fn abort_in_flight(&self) {
        self.abort.send_replace(true);
    }

    /// Copies every cache-backed identity's credential status into the store (metrics).
    pub fn sync_credentials(&self) {
        for src in self.identities.values() {
            if let Some(st) = src.status() {
                self.store.record_credentials(st);
            }
        }
    }

    /// One round over the selected canaries; results go to the store and are returned in
    /// config order. `on_verdict` sees each report as it lands.
    pub async fn round(
        &self,
        only: Option<&str>,
        on_verdict: &(dyn Fn(&CanaryReport) + Sync),
    ) -> Vec<CanaryReport> {
        let selected = plan::select(&self.config.canaries, self.shard, only);
        let round_start = Instant::now();
        let mut by_identity: BTreeMap<&str, Vec<&Canary>> = BTreeMap::new();
        for c in &selected {
            by_identity.entry(c.identity.as_str()).or_default().push(c);
        }
        let groups = by_identity.into_iter().map(|(identity, canaries)| {
            self.identity_round(identity, canaries, round_start, on_verdict)
        });
        // Controls owned by another replica ran only to pair this replica's denials; that
        // replica reports them, so shards never overlap in reports.
        let mut reports: Vec<CanaryReport> = futures_util::future::join_all(groups)
            .await
            .into_iter()
            .flatten()
            .filter(|r| self.shard.owns(&r.canary))
            .collect();
        let order: BTreeMap<&str, usize> = self
            .config
            .canaries
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        reports.sort_by_key(|r| order.get(r.canary.as_str()).copied().unwrap_or(usize::MAX));
        self.sync_credentials();
        self.store.record(&reports, SystemTime::now());
        reports
    }

    /// Deny canaries first, then the controls, then pairing: a control of the same MQTT
    /// version that succeeds on a fresh connection after a (repeated) 3.1.1 socket close is
    /// what turns that close into a denial.
    async fn identity_round(
        &self,
        identity: &str,
        canaries: Vec<&Canary>,
        round_start: Instant,
        on_verdict: &(dyn Fn(&CanaryReport) + Sync),
    ) -> Vec<CanaryReport> {
        let (controls, denies): (Vec<&Canary>, Vec<&Canary>) =
            canaries.into_iter().partition(|c| c.is_control());
        let deny_runs =
            futures_util::future::join_all(denies.iter().map(|c| self.probe(c, round_start))).await;
        let control_runs =
            futures_util::future::join_all(controls.iter().map(|c| self.probe(c, round_start)))
                .await;
        let refused = deny_runs.iter().chain(&control_runs).any(|r| {
            matches!(
                r.classified,
                Classified::Final(Verdict::Inconclusive(
                    iot_canary_core::verdict::Reason::UpgradeRejected
                ))
            )
        });
        if refused && let Some(src) = self.identities.get(identity) {
            tracing::info!(
                identity,
                "upgrade refused: credentials dropped, refetched next time"
            );
            src.invalidate();
        }
        let control_summary: Vec<ControlRun> = controls
            .iter()
            .zip(&control_runs)
            .map(|(c, r)| ControlRun {
                verdict: pair_with_controls(
                    Expect::Allow,
                    c.family(),
                    c.mqtt_version,
                    r.classified,
                    r.ended_ms,
                    &[],
                ),
                started_ms: r.started_ms,
                version: c.mqtt_version,
                fresh: r.fresh,
                family: c.family(),
            })
            .collect();
        tracing::debug!(
            identity,
            controls = control_summary.len(),
            "identity round done"
        );
        let mut out = Vec::new();
        for (c, r) in denies
            .iter()
            .zip(deny_runs)
            .chain(controls.iter().zip(control_runs))
        {
            let verdict = pair_with_controls(
                c.expect,
                c.family(),
                c.mqtt_version,
                r.classified,
                r.ended_ms,
                &control_summary,
            );
            let mut evidence = r.evidence;
            if let (Classified::DeniedIfControlConfirms, Verdict::Denied) = (r.classified, verdict)
            {
                evidence.steps.push(Step {
                    at_ms: r.duration_ms,
                    what: format!(
                        "denial confirmed: a control of the identity succeeded afterwards on a fresh MQTT {} connection",
                        c.mqtt_version
                    ),
                });
            }
            if verdict == Verdict::Inconclusive(iot_canary_core::verdict::Reason::ControlFailed) {
                evidence.steps.push(Step {
                    at_ms: r.duration_ms,
                    what: "downgraded: the identity's control did not succeed in this round".into(),
                });
            }
            let report =
                CanaryReport::new(c, verdict, evidence, r.started_at_unix_ms, r.duration_ms);
            log_verdict(&report);
            on_verdict(&report);
            out.push(report);
        }
        out
    }

    async fn probe(&self, c: &Canary, round_start: Instant) -> ProbeRun {
        let mut abort = self.abort.subscribe();
        let queued = Instant::now();
        let queued_at_unix_ms = unix_ms(SystemTime::now());
        let run = self.probe_inner(c, round_start);
        tokio::select! {
            r = run => r,
            // `wait_for` only errs if the sender is gone, and `self` owns it.
            _ = abort.wait_for(|a| *a) => {
                let ended = Instant::now();
                let evidence = Evidence {
                    mqtt_version: c.mqtt_version,
                    client_id: String::new(),
                    observation: Observation::Aborted,
                    steps: vec![Step {
                        at_ms: ended.saturating_duration_since(queued).as_millis() as u64,
                        what: "abandoned at the shutdown drain deadline".into(),
                    }],
                };
                ProbeRun {
                    classified: classify(c.mqtt_version, c.action, &evidence.observation),
                    fresh: false,
                    started_ms: queued.saturating_duration_since(round_start).as_millis() as u64,
                    ended_ms: ended.saturating_duration_since(round_start).as_millis() as u64,
                    duration_ms: ended.saturating_duration_since(queued).as_millis() as u64,
                    started_at_unix_ms: queued_at_unix_ms,
                    evidence,
                }
            }
        }
    }

    async fn probe_inner(&self, c: &Canary, round_start: Instant) -> ProbeRun {
        let lane = lane_key(c).map(|key| {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            lanes.entry(key).or_default().clone()
        });
        let _lane = match lane {
            Some(l) => Some(l.lock_owned().await),
            None => None,
        };
        // The semaphore is never closed, so acquire only fails if it were; treat as abort.
        let _permit = self.permits.acquire().await.ok();
        let started = Instant::now();
        let started_at_unix_ms = unix_ms(SystemTime::now());
        let deadline = started + c.timeout;
        let run_nonce = nonce();
        let (evidence, fresh) = match self.actors(c, &run_nonce).await {
            Err(obs) => (
                Evidence {
                    mqtt_version: c.mqtt_version,
                    client_id: String::new(),
                    observation: obs.0,
                    steps: vec![Step {
                        at_ms: 0,
                        what: obs.1,
                    }],
                },
                false,
            ),
            Ok((actor, witness)) => {
                let roles = self
                    .config
                    .identities
                    .iter()
                    .find(|i| i.config.name == c.identity)
                    .map(|i| RoleCtx {
                        apis: &self.apis,
                        identity: &i.config,
                        identity_id: actor.identity_id.clone(),
                    });
                let ctx = ProbeCtx::new(
                    c,
                    &self.endpoint,
                    &self.pool,
                    actor,
                    witness,
                    deadline,
                    self.config.schedule.delivery_grace,
                    run_nonce,
                    KEEP_ALIVE,
                )
                .with_api(&self.api)
                .with_roles(roles);
                let client_id = ctx.actor.client_id.clone();
                // Probes bound every wait by `deadline`; this is the backstop.
                match tokio::time::timeout_at(
                    (deadline + Duration::from_secs(2)).into(),
                    probe::run(ctx),
                )
                .await
                {
                    Ok(o) => (o.evidence, o.fresh_connection),
                    Err(_) => (
                        Evidence {
                            mqtt_version: c.mqtt_version,
                            client_id,
                            observation: Observation::TimedOut {
                                waiting_for: iot_canary_core::verdict::Waiting::Delivery,
                            },
                            steps: vec![],
                        },
                        false,
                    ),
                }
            }
        };
        let ended = Instant::now();
        let classified = classify(c.mqtt_version, c.action, &evidence.observation);
        ProbeRun {
            classified,
            fresh,
            started_ms: started.saturating_duration_since(round_start).as_millis() as u64,
            ended_ms: ended.saturating_duration_since(round_start).as_millis() as u64,
            duration_ms: ended.saturating_duration_since(started).as_millis() as u64,
            started_at_unix_ms,
            evidence,
        }
    }

    async fn actor(
        &self,
        identity: &str,
        template: &str,
        canary: &str,
        run_nonce: &str,
    ) -> Result<Actor, (Observation, String)> {
        let Some(src) = self.identities.get(identity) else {
            return Err((
                Observation::CredentialsUnavailable,
                format!("identity `{identity}` is not available"),
            ));
        };
        let fetched = src.current().await;
        if let Some(st) = src.status() {
            self.store.record_credentials(st);
        }
        let creds = match fetched {
            Ok(c) => c,
            Err(e) => {
                return Err((
                    Observation::CredentialsUnavailable,
                    format!("credentials for `{identity}`: {e}"),
                ));
            }
        };
        if let Some(exp) = creds.credentials.expiry()
            && exp <= SystemTime::now()
        {
            return Err((
                Observation::CredentialsUnavailable,
                format!("credentials for `{identity}` have expired"),
            ));
        }
        let who = ClientIdVars {
            identity,
            identity_id: creds.identity_id.as_deref(),
            username: creds.username.as_deref(),
        };
        let slot = ProbeSlot {
            canary,
            shard: self.shard,
            run: run_id(),
        };
        // `${nonce}` (a `delete-connection` canary's probe-named client id) first: it is the
        // run's, not a client-id placeholder.
        let template = probe_names::expand(template, &probe_names::token(run_nonce));
        let client_id = expand_client_id(&template, &who, &slot)
            .map_err(|e| (Observation::Unexpected { detail: e.clone() }, e))?;
        Ok(Actor {
            identity: identity.to_string(),
            client_id,
            credentials: Arc::new(SigningCreds(src.clone())),
            identity_id: creds.identity_id.clone(),
        })
    }

    async fn actors(
        &self,
        c: &Canary,
        run_nonce: &str,
    ) -> Result<(Actor, Option<Actor>), (Observation, String)> {
        let actor = self
            .actor(&c.identity, &c.client_id, &c.name, run_nonce)
            .await?;
        let witness = match &c.witness {
            None => None,
            Some(w) => {
                let template = plan::witness_template(&self.config.target.client_id);
                match self.actor(w, &template, &c.name, run_nonce).await {
                    Ok(a) => Some(a),
                    Err((_, why)) => {
                        return Err((
                            Observation::WitnessFailed {
                                detail: why.clone(),
                            },
                            why,
                        ));
                    }
                }
            }
        };
        Ok((actor, witness))
    }
}

/// The broker endpoint a config points at (reads `ca_file`).
pub fn endpoint(config: &Config) -> Result<Endpoint, std::io::Error> {
    let ca_pem = match &config.target.ca_file {
        Some(p) => Some(Arc::new(std::fs::read(p).map_err(|e| {
            std::io::Error::new(e.kind(), format!("{}: {e}", p.display()))
        })?)),
        None => None,
    };
    Ok(Endpoint {
        url: config.target.url(),
        region: config.target.region.clone(),
        ca_pem,
    })
}

struct ProbeRun {
    classified: Classified,
    /// Whether the probe's decisive connection was opened by it (vs reused from the pool).
    fresh: bool,
    started_ms: u64,
    ended_ms: u64,
    duration_ms: u64,
    started_at_unix_ms: u64,
    evidence: Evidence,
}

/// The pooled connection a probe will lease, if any: MQTT 5 probes other than `connect` reuse
/// the connection of (identity, client id template). Pure.
pub fn lane_key(c: &Canary) -> Option<String> {
    // Only MQTT probes lease connections; the API doors run free of the lanes.
    let pooled = c.action.is_mqtt()
        && c.mqtt_version == iot_canary_core::verdict::MqttVersion::V5
        && c.action != iot_canary_core::verdict::ProbeAction::Connect;
    pooled.then(|| format!("{}\u{0}{}", c.identity, c.client_id))
}

/// One structured event per verdict (never secrets: names from the config, fixed enums and the
/// evidence summary, which describes codes and deliveries, not payloads or credentials). A
/// breach logs at ERROR, a blind canary or a failed control at WARN, the rest at INFO, so a
/// log filter on level sees what needs a person.
fn log_verdict(r: &CanaryReport) {
    let reason = match r.verdict {
        Verdict::Inconclusive(reason) => reason.to_string(),
        _ => String::new(),
    };
    let evidence = iot_canary_core::evidence::describe(&r.evidence.observation);
    macro_rules! verdict_event {
        ($level:expr) => {
            tracing::event!(
                $level,
                canary = %r.canary,
                identity = %r.identity,
                action = %r.action,
                expect = r.expect.as_str(),
                verdict = r.verdict.label(),
                reason = %reason,
                standing = r.standing.as_str(),
                evidence = %evidence,
                duration_ms = r.duration_ms,
                "verdict"
            )
        };
    }
    match r.standing {
        iot_canary_core::verdict::Standing::Breach => verdict_event!(tracing::Level::ERROR),
        iot_canary_core::verdict::Standing::ControlFailed
        | iot_canary_core::verdict::Standing::Blind => verdict_event!(tracing::Level::WARN),
        iot_canary_core::verdict::Standing::Ok => verdict_event!(tracing::Level::INFO),
    }
}

/// This process's `${run}` client-id value: drawn once, so every round and every reloaded
/// config of one process use the same ids, and another process (a CI gate beside the daemon)
/// different ones.
pub fn run_id() -> &'static str {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RUN.get_or_init(|| plan::run_id(rand::random()))
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn nonce() -> String {
    use rand::Rng;
    let n: u128 = rand::rng().random();
    format!("iotc-{n:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use iot_canary_core::verdict::{Expect, MqttVersion, ProbeAction};

    fn canary(action: ProbeAction, version: MqttVersion, client_id: &str) -> Canary {
        Canary {
            name: "c".into(),
            identity: "alice".into(),
            action,
            expect: Expect::Deny,
            topic: None,
            topic_filter: None,
            thing: None,
            shadow: None,
            client_id: client_id.into(),
            witness: None,
            qos: 1,
            mqtt_version: version,
            timeout: Duration::from_secs(1),
            marker: None,
            policy_name: None,
            role_arn: None,
        }
    }

    #[test]
    fn pooled_probes_share_a_lane_connects_and_311_do_not() {
        let sub = canary(ProbeAction::Subscribe, MqttVersion::V5, "${principal}-x");
        let publ = canary(ProbeAction::Publish, MqttVersion::V5, "${principal}-x");
        assert_eq!(lane_key(&sub), lane_key(&publ));
        assert!(lane_key(&sub).is_some());
        let other_id = canary(ProbeAction::Subscribe, MqttVersion::V5, "${principal}-y");
        assert_ne!(lane_key(&sub), lane_key(&other_id));
        assert_eq!(
            lane_key(&canary(ProbeAction::Connect, MqttVersion::V5, "x")),
            None
        );
        assert_eq!(
            lane_key(&canary(ProbeAction::Subscribe, MqttVersion::V311, "x")),
            None
        );
        // The API doors lease no connection, so they never queue behind MQTT probes.
        for a in ProbeAction::ALL.iter().filter(|a| !a.is_mqtt()) {
            assert_eq!(
                lane_key(&canary(*a, MqttVersion::V5, "${principal}-x")),
                None,
                "{a}"
            );
        }
    }
}
