//! `iot-canary calibrate`: fixed, harmless experiments against the configured endpoint (a real
//! AWS IoT Core account, or the lab), printed beside what the lab's `aws` realism profile
//! does, plus the `[realism]` table they measure (docs/realism.md#calibrate).
//!
//! Thin wiring: the config and identities as `once` loads them, the daemon's MQTT session for
//! the wire, [`compare`] for the pure comparison.

mod compare;
mod experiments;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use iot_canary_core::config::{self, Canary, Config};
use iot_canary_core::exit::Exit;
use iot_canary_core::plan::{ClientIdVars, ProbeSlot, Shard, expand_client_id};
use iot_canary_core::verdict::{Expect, MqttVersion, ProbeAction};
use iot_canary_daemon::daemon::{self, identities};
use iot_canary_daemon::identity::{CredentialCache, Env, IdentitySet};
use iot_canary_daemon::mqtt::{CredentialError, CredentialFuture, CredentialProvider, Endpoint};
use iot_canary_lab::realism::Realism;

use compare::{Answer, Row, VersionRun};
use experiments::{Actor, Denied, PublisherConn, Wire};

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// The config: its endpoint, identities and deny canaries.
    #[arg(short, long, default_value = "canaries.toml")]
    config: PathBuf,
    /// Identity for the allowed experiments (markers, quota, shadow); default: the first
    /// witness the canaries name.
    #[arg(long)]
    witness: Option<String>,
    /// Topic prefix of the experiments' own topics (the witness must be allowed on it).
    #[arg(long, default_value = "iot-canary/calibrate")]
    topic_prefix: String,
    /// Thing whose named shadow `iot-canary-calibrate` (which must not exist) is read; default:
    /// the first thing of a shadow canary, else `iot-canary-thing-a`.
    #[arg(long)]
    thing: Option<String>,
    /// SUBACK-to-delivery trials per MQTT version (one fresh connection each).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=200))]
    trials: u32,
    /// Shadow gets per MQTT version.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    shadow_gets: u32,
    /// Bound on every wait for an answer.
    #[arg(long, value_parser = config::units::parse_duration, default_value = "10s")]
    timeout: Duration,
    /// How far a measured delay may be from the profile's and still count as the same.
    #[arg(long, value_parser = config::units::parse_duration, default_value = "150ms")]
    tolerance: Duration,
    /// Also write the measured `[realism]` table to this file.
    #[arg(long)]
    realism_out: Option<PathBuf>,
}

/// What the experiments use from the config.
struct Plan {
    witness: String,
    thing: String,
    denied_connect: Option<Canary>,
    denied_subscribe: Option<Canary>,
    denied_publish: Option<Canary>,
}

fn first_deny(config: &Config, action: ProbeAction) -> Option<Canary> {
    config
        .canaries
        .iter()
        .find(|c| c.expect == Expect::Deny && c.action == action)
        .cloned()
}

fn plan(config: &Config, a: &CalibrateArgs) -> Result<Plan, String> {
    let witness = match &a.witness {
        Some(w) => w.clone(),
        None => config
            .canaries
            .iter()
            .find_map(|c| c.witness.clone())
            .ok_or("no canary names a witness; pass --witness IDENTITY")?,
    };
    if !config.identities.iter().any(|i| i.name == witness) {
        return Err(format!(
            "--witness: no identity named `{witness}` in the config"
        ));
    }
    let thing = a.thing.clone().unwrap_or_else(|| {
        config
            .canaries
            .iter()
            .find_map(|c| c.thing.clone())
            .unwrap_or_else(|| "iot-canary-thing-a".to_string())
    });
    Ok(Plan {
        witness,
        thing,
        denied_connect: first_deny(config, ProbeAction::Connect),
        denied_subscribe: first_deny(config, ProbeAction::Subscribe),
        denied_publish: first_deny(config, ProbeAction::Publish),
    })
}

/// An identity's shared credentials, refreshed by its cache, as the MQTT layer signs with.
struct CacheCredentials(Arc<CredentialCache>);

impl CredentialProvider for CacheCredentials {
    fn credentials(&self) -> CredentialFuture {
        let cache = self.0.clone();
        Box::pin(async move {
            cache
                .current()
                .await
                .map(|c| c.to_sdk())
                .map_err(|e| CredentialError(e.to_string()))
        })
    }
}

/// The actor of `identity` with a client id from `template` (`${canary}` = `label`).
async fn actor(
    set: &IdentitySet,
    identity: &str,
    template: &str,
    label: &str,
) -> Result<Actor, String> {
    let cache = set
        .get(identity)
        .ok_or_else(|| format!("no identity `{identity}`"))?
        .clone();
    let creds = cache
        .current()
        .await
        .map_err(|e| format!("credentials for `{identity}`: {e}"))?;
    let who = ClientIdVars {
        identity,
        identity_id: creds.identity_id.as_deref(),
        username: creds.username.as_deref(),
    };
    let slot = ProbeSlot {
        canary: label,
        shard: Shard::ALL,
        run: daemon::run_id(),
    };
    let client_id = expand_client_id(template, &who, &slot)?;
    Ok(Actor {
        client_id,
        credentials: Arc::new(CacheCredentials(cache)),
    })
}

fn tag(v: MqttVersion) -> &'static str {
    match v {
        MqttVersion::V5 => "v5",
        MqttVersion::V311 => "v311",
    }
}

/// Every experiment on one MQTT version.
async fn run_version(
    v: MqttVersion,
    wire: &Wire,
    set: &IdentitySet,
    config: &Config,
    p: &Plan,
    a: &CalibrateArgs,
    nonce: &str,
) -> VersionRun {
    // The witness's experiments each need a client id of their own.
    let base = &config.target.client_id;
    let base = &if base.contains("${canary}") {
        base.clone()
    } else {
        format!("{base}-${{canary}}")
    };
    let mut disconnects = BTreeSet::new();
    let witness =
        async |label: String| actor(set, &p.witness, base, &format!("calibrate-{label}")).await;
    let mut deny = async |c: &Option<Canary>, what: &str, action: ProbeAction| -> Answer {
        let Some(c) = c else {
            return Answer::NotRun(format!("no deny {what} canary in the config"));
        };
        let who = match actor(set, &c.identity, &c.client_id, &c.name).await {
            Ok(w) => w,
            Err(e) => return Answer::NotRun(e),
        };
        let req = match action {
            ProbeAction::Connect => Denied::Connect,
            ProbeAction::Publish => Denied::Publish(c.topic.as_deref().unwrap_or_default()),
            _ => Denied::Subscribe(c.topic_filter.as_deref().unwrap_or_default()),
        };
        let (answer, codes) = wire.denied(v, &who, req).await;
        disconnects.extend(codes);
        answer
    };
    let denied_connect = deny(&p.denied_connect, "connect", ProbeAction::Connect).await;
    let denied_subscribe = deny(&p.denied_subscribe, "subscribe", ProbeAction::Subscribe).await;
    let denied_publish = deny(&p.denied_publish, "publish", ProbeAction::Publish).await;
    let prefix = format!("{}/{nonce}/{}", a.topic_prefix, tag(v));
    let takeover = match witness(format!("takeover-{}", tag(v))).await {
        Ok(w) => {
            let (answer, codes) = wire.takeover(v, &w).await;
            disconnects.extend(codes);
            answer
        }
        Err(e) => Answer::NotRun(e),
    };
    let quota = match witness(format!("quota-{}", tag(v))).await {
        Ok(w) => {
            let (q, codes) = wire.quota(v, &w, &prefix).await;
            disconnects.extend(codes);
            q
        }
        Err(e) => Err(e),
    };
    let burst = match witness(format!("burst-{}", tag(v))).await {
        Ok(w) => {
            let topic = format!("{prefix}/burst");
            let (q, codes) = wire.publish_burst(v, &w, &topic, compare::BURST).await;
            disconnects.extend(codes);
            q
        }
        Err(e) => Err(e),
    };
    let shadow = match witness(format!("shadow-{}", tag(v))).await {
        Ok(w) => {
            let gets = a.shadow_gets as usize;
            let (codes, seen) = wire
                .shadow(v, &w, &p.thing, "iot-canary-calibrate", gets)
                .await;
            disconnects.extend(seen);
            codes
        }
        Err(e) => Err(e),
    };
    let mut trials = Vec::new();
    match witness(format!("marker-{}", tag(v))).await {
        Ok(w) => match PublisherConn::open(wire, v, &w).await {
            Ok(mut publisher) => {
                for i in 0..a.trials {
                    let sub = match witness(format!("sub-{}-{i}", tag(v))).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!("trial {i} not run: {e}");
                            continue;
                        }
                    };
                    let topic = format!("{prefix}/marker/{i}");
                    let (t, codes) = wire.trial(v, &sub, &mut publisher, &topic).await;
                    disconnects.extend(codes);
                    match t {
                        Ok(t) => trials.push(t),
                        Err(e) => tracing::warn!("MQTT {} trial {i}: {e}", v.as_str()),
                    }
                }
                disconnects.extend(publisher.close().await);
            }
            Err(e) => tracing::warn!("marker publisher: {e}"),
        },
        Err(e) => tracing::warn!("marker publisher: {e}"),
    }
    VersionRun {
        version: v,
        denied_connect,
        denied_subscribe,
        denied_publish,
        takeover,
        quota,
        burst,
        shadow,
        trials,
        disconnects,
    }
}

fn print_rows(rows: &[Row]) -> String {
    let head = Row {
        experiment: "experiment".into(),
        mqtt: "MQTT".into(),
        endpoint: "endpoint".into(),
        lab: "lab `aws` profile".into(),
        same: None,
    };
    let width = |f: fn(&Row) -> &str| {
        std::iter::once(&head)
            .chain(rows)
            .map(|r| f(r).chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w1, w2, w3, w4) = (
        width(|r| &r.experiment),
        width(|r| &r.mqtt),
        width(|r| &r.endpoint),
        width(|r| &r.lab),
    );
    let mut out = String::new();
    for (i, r) in std::iter::once(&head).chain(rows).enumerate() {
        let same = match (i, r.same) {
            (0, _) => "",
            (_, Some(true)) => "same",
            (_, Some(false)) => "DIFFERENT",
            (_, None) => "-",
        };
        let line = format!(
            "{:w1$}  {:w2$}  {:w3$}  {:w4$}  {same}",
            r.experiment, r.mqtt, r.endpoint, r.lab
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A start-up failure: said on stderr, exit 3.
fn usage(e: impl std::fmt::Display) -> Exit {
    crate::out::error(format!("calibrate: {e}"));
    Exit::Usage
}

/// Everything the experiments need from the config, or why it cannot be had.
fn prepare(a: &CalibrateArgs) -> Result<(Config, Plan, Endpoint, IdentitySet), Exit> {
    let config = config::load(&a.config).map_err(usage)?;
    let p = plan(&config, a).map_err(usage)?;
    let endpoint = daemon::endpoint(&config).map_err(usage)?;
    let set = identities::identity_set(&config, Env::process()).map_err(usage)?;
    Ok((config, p, endpoint, set))
}

pub fn calibrate(a: CalibrateArgs) -> Exit {
    let (config, p, endpoint, set) = match prepare(&a) {
        Ok(x) => x,
        Err(exit) => return exit,
    };
    // Opened before the run, so a path that cannot be written fails before any experiment.
    let realism_out = match &a.realism_out {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some((path, f)),
            Err(e) => return usage(format!("{}: {e}", path.display())),
        },
        None => None,
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return usage(format!("cannot start the runtime: {e}")),
    };
    let wire = Wire {
        endpoint,
        timeout: a.timeout,
    };
    // Fresh topics per run, so a retained or queued message of an earlier run cannot count.
    let nonce = format!("{:08x}", rand::random::<u32>());
    let runs: Vec<VersionRun> = rt.block_on(async {
        let mut runs = Vec::new();
        for v in [MqttVersion::V311, MqttVersion::V5] {
            runs.push(run_version(v, &wire, &set, &config, &p, &a, &nonce).await);
        }
        runs
    });
    let profile = Realism::aws();
    let c = compare::compare(&runs, &profile, a.tolerance);
    let text = format!(
        "iot-canary calibrate: {} ({}), witness `{}`, {} trials per MQTT version, delays compared within ±{} ms\n\n{}\n{}",
        config.target.url(),
        config.target.region,
        p.witness,
        a.trials,
        a.tolerance.as_millis(),
        print_rows(&c.rows),
        c.realism_toml
    );
    // A closed stdout (`| head`) ends the output quietly; the file and the exit code stand.
    let _ = crate::out::print(&text);
    if let Some((path, mut file)) = realism_out
        && let Err(e) = file.write_all(c.realism_toml.as_bytes())
    {
        return usage(format!("{}: {e}", path.display()));
    }
    if c.not_run > 0 {
        crate::out::error(format!(
            "calibrate: {} experiment(s) could not run (see the table)",
            c.not_run
        ));
        return Exit::Blind;
    }
    Exit::Ok
}
