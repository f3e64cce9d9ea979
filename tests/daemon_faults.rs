//! Faults never read as denials. Identity-plane outages (STS down, Cognito answering 503, the
//! vending API down or hanging), credentials too short-lived for a probe, and the lab's
//! gateway/broker faults for non-static identities: every affected probe is `inconclusive`
//! with the right reason and the round's exit code is 2; unaffected identities stay ok.
//!
//! The identity services sit behind switchable TCP relays (one each for STS, Cognito and the
//! vending API), so one lab serves every phase; each phase builds a fresh daemon (fresh
//! credential caches, fresh connections).

mod daemon_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use daemon_common::*;
use iot_canary::config;
use iot_canary::daemon::{self, CanaryReport, Daemon, Shard, identities};
use iot_canary::exit::Exit;
use iot_canary::identity::Env;
use iot_canary::lab::RunningLab;
use iot_canary::lab::state::Faults;
use iot_canary::report;
use iot_canary::verdict::{Reason, Standing, Verdict};
use tokio::sync::watch;

fn scenario(ttl: Option<u64>) -> String {
    let tight = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}:client/dev-*"}},{{"Effect":"Allow","Action":"iot:Subscribe","Resource":"{ARN}:topicfilter/devices/dev-lamp/*"}}]}}"#
    );
    let ttl = ttl.map_or(String::new(), |t| format!("credentials_ttl = {t}\n"));
    format!(
        r#"region = "us-east-1"
account_id = "123456789012"

[policies]
Witness = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:*","Resource":"*"}}]}}'''
Tight = '''{tight}'''

[[iam_user]]
name = "ops"
access_key_id = "AKIALABOPS0000000001"
secret_access_key = "lab-secret-ops"
policies = ["Witness"]

[[role]]
name = "Dev"
policies = ["Tight"]
trusted = ["ops"]

[cognito]
user_pool_id = "us-east-1_LabPool01"
app_client_id = "labappclient00000000000001"
identity_pool_id = "{POOL}"
authenticated_role = "Dev"
unauthenticated_role = "Dev"
{ttl}
[[cognito.user]]
username = "cog"
password = "pw-cog"
iot_policies = ["Tight"]

[[cognito.user]]
username = "ven"
password = "pw-ven"

[vending]
role = "Dev"
session_policy_template = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:*","Resource":"*"}}]}}'''
{ttl}"#
    )
}

struct Fixture {
    lab: RunningLab,
    dir: tempfile::TempDir,
    sts: (String, watch::Sender<Relay>),
    cognito: (String, watch::Sender<Relay>),
    vending: (String, watch::Sender<Relay>),
}

async fn fixture(ttl: Option<u64>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(&scenario(ttl), dir.path()).await;
    let upstream = addr_of(&lab.endpoints.sts);
    Fixture {
        sts: start_relay(upstream).await,
        cognito: start_relay(upstream).await,
        vending: start_relay(upstream).await,
        lab,
        dir,
    }
}

const IDS: [&str; 4] = ["role", "cog", "guest", "vend"];

impl Fixture {
    /// A fresh daemon (fresh credential caches and connections) over the relays. `phase`
    /// goes into the client ids: each daemon paces its own connects, and the lab allows one
    /// CONNECT per second per client id across all of them.
    fn daemon(&self, phase: &str, timeout: &str) -> Daemon {
        let mut text = format!(
            r#"[target]
region = "us-east-1"
endpoint = "{mqtt}"
ca_file = "{ca}"
client_id = "dev-{phase}-${{identity}}-${{canary}}"

[endpoints]
sts = "{sts}"
cognito_identity = "{cog}"
cognito_idp = "{cog}"

[schedule]
timeout = "{timeout}"
connect_interval = "1s"
delivery_grace = "500ms"

[[identity]]
name = "ops"
kind = "static"
access_key_id_env = "OPS_KEY"
secret_access_key_env = "OPS_SECRET"

[[identity]]
name = "role"
kind = "assume-role"
role_arn = "arn:aws:iam::123456789012:role/Dev"
session_name = "canary-role"
source = "ops"

[[identity]]
name = "cog"
kind = "cognito"
user_pool_id = "us-east-1_LabPool01"
app_client_id = "labappclient00000000000001"
identity_pool_id = "{POOL}"
username = "cog"
password_env = "COG_PASSWORD"

[[identity]]
name = "guest"
kind = "cognito-guest"
identity_pool_id = "{POOL}"

[[identity]]
name = "vend"
kind = "credential-endpoint"
url = "{vending}/vend"
user_pool_id = "us-east-1_LabPool01"
app_client_id = "labappclient00000000000001"
username = "ven"
password_env = "VEN_PASSWORD"

[[canary]]
name = "ops-control"
identity = "ops"
action = "subscribe"
topic_filter = "devices/ops/#"
expect = "allow"
"#,
            mqtt = self.lab.endpoints.mqtt,
            ca = self.lab.endpoints.ca_file,
            sts = self.sts.0,
            cog = self.cognito.0,
            vending = self.vending.0,
        );
        for id in IDS {
            for (v, ver) in [("5", "5"), ("311", "3.1.1")] {
                text.push_str(&format!(
                    r#"
[[canary]]
name = "{id}-sub-own-v{v}"
identity = "{id}"
action = "subscribe"
topic_filter = "devices/dev-lamp/#"
expect = "allow"
mqtt_version = "{ver}"

[[canary]]
name = "{id}-sub-other-v{v}"
identity = "{id}"
action = "subscribe"
topic_filter = "devices/other-lamp/#"
mqtt_version = "{ver}"
"#
                ));
            }
        }
        let cfg = config::parse(&self.dir.path().join("faults.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}"));
        let endpoint = daemon::endpoint(&cfg).unwrap();
        let env = Env::isolated([
            ("OPS_KEY", "AKIALABOPS0000000001"),
            ("OPS_SECRET", "lab-secret-ops"),
            ("COG_PASSWORD", "pw-cog"),
            ("VEN_PASSWORD", "pw-ven"),
        ]);
        let ids = identities::build(&cfg, env).unwrap();
        Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL)
    }
}

async fn round(d: &Daemon) -> Vec<CanaryReport> {
    let r = tokio::time::timeout(WAIT, d.round(None, &|_| {}))
        .await
        .expect("round finishes");
    d.pool.close_all().await;
    r
}

/// `affected` identities: every canary inconclusive with `reason`; all others ok; exit 2.
fn assert_blind(what: &str, rs: &[CanaryReport], affected: &[&str], reason: Reason) {
    let table = report::table(rs);
    for r in rs {
        if affected.contains(&r.identity.as_str()) {
            assert_eq!(
                r.verdict,
                Verdict::Inconclusive(reason),
                "{what}: {}\n{table}",
                r.canary
            );
        } else {
            assert_eq!(r.standing, Standing::Ok, "{what}: {}\n{table}", r.canary);
        }
    }
    assert_eq!(report::exit_of(rs), Exit::Blind, "{what}\n{table}");
}

/// `iot_canary_credential_failures_total{identity, reason}` as the metrics page shows it.
fn failures(d: &Daemon, identity: &str, reason: &str) -> u64 {
    let m = iot_canary::render::metrics::render(&d.config, &d.store.snapshot());
    let key = format!(
        "iot_canary_credential_failures_total{{identity=\"{identity}\",reason=\"{reason}\"}} "
    );
    m.lines()
        .find_map(|l| l.strip_prefix(&key))
        .unwrap_or_else(|| panic!("{key} missing"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_service_outages_are_inconclusive_credentials() {
    let f = fixture(None).await;

    // Healthy baseline: everything ok, exit 0.
    let d = f.daemon("p1", "4s");
    let rs = round(&d).await;
    assert_eq!(report::exit_of(&rs), Exit::Ok, "{}", report::table(&rs));

    // STS down (connections refused/closed): assume-role cannot get credentials.
    f.sts.1.send(Relay::Down).unwrap();
    let d = f.daemon("p2", "4s");
    let rs = round(&d).await;
    assert_blind("STS down", &rs, &["role"], Reason::Credentials);
    assert!(failures(&d, "role", "network") >= 1);
    f.sts.1.send(Relay::Up).unwrap();

    // Cognito answering 503: the user-pool login, the identity pool and the vending login.
    f.cognito.1.send(Relay::Unavailable).unwrap();
    let d = f.daemon("p3", "4s");
    let rs = round(&d).await;
    assert_blind(
        "Cognito 503",
        &rs,
        &["cog", "guest", "vend"],
        Reason::Credentials,
    );
    assert!(failures(&d, "cog", "service") >= 1);
    assert!(failures(&d, "guest", "service") >= 1);
    f.cognito.1.send(Relay::Up).unwrap();

    // The vending API down.
    f.vending.1.send(Relay::Down).unwrap();
    let d = f.daemon("p4", "4s");
    let rs = round(&d).await;
    assert_blind("vending down", &rs, &["vend"], Reason::Credentials);
    assert!(failures(&d, "vend", "network") >= 1);

    // The vending API hanging: the fetch is bounded by the probe timeout (4 s), so the round
    // ends in time and the probes say credentials (timeout), not a network or MQTT timeout.
    f.vending.1.send(Relay::Stall).unwrap();
    let d = f.daemon("p5", "4s");
    let t = Instant::now();
    let rs = round(&d).await;
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "round took {:?}",
        t.elapsed()
    );
    assert_blind("vending slow", &rs, &["vend"], Reason::Credentials);
    assert!(failures(&d, "vend", "timeout") >= 1);
    f.vending.1.send(Relay::Up).unwrap();

    // Recovery: back to exit 0.
    let d = f.daemon("p6", "4s");
    let rs = round(&d).await;
    assert_eq!(report::exit_of(&rs), Exit::Ok, "{}", report::table(&rs));
    f.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_that_would_expire_mid_round_are_inconclusive_credentials() {
    // The lab issues Cognito and vending credentials valid for 10 s; a probe may need up to
    // its 12 s timeout, so the daemon refuses to start probes with them.
    let f = fixture(Some(10)).await;
    let d = f.daemon("p7", "12s");
    let rs = round(&d).await;
    assert_blind(
        "short TTL",
        &rs,
        &["cog", "guest", "vend"],
        Reason::Credentials,
    );
    assert!(failures(&d, "cog", "malformed") >= 1);
    assert!(failures(&d, "vend", "malformed") >= 1);
    f.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_faults_for_non_static_identities_are_inconclusive() {
    let f = fixture(None).await;
    let d = f.daemon("p8", "3s");
    // Fetch every identity's credentials while healthy (they stay cached across phases).
    let rs = round(&d).await;
    assert_eq!(report::exit_of(&rs), Exit::Ok, "{}", report::table(&rs));
    let only_ids = |rs: Vec<CanaryReport>| -> Vec<CanaryReport> {
        rs.into_iter()
            .filter(|r| IDS.contains(&r.identity.as_str()))
            .collect()
    };
    let cases: [(&str, Faults, Option<&str>, Reason); 5] = [
        (
            "403 upgrades",
            Faults {
                refuse_upgrades: true,
                ..Faults::default()
            },
            None,
            Reason::UpgradeRejected,
        ),
        (
            "stall",
            Faults {
                stall: true,
                ..Faults::default()
            },
            None,
            Reason::Timeout,
        ),
        (
            // The gateway's clock is 2 h ahead: the cached credentials (1 h) have expired as
            // far as it is concerned, and so has every signature.
            "expired at the gateway",
            Faults {
                clock_skew_secs: 7200,
                ..Faults::default()
            },
            None,
            Reason::UpgradeRejected,
        ),
        (
            "0x97 quota",
            Faults {
                quota_exceeded: true,
                ..Faults::default()
            },
            Some("-v5"),
            Reason::Throttled,
        ),
        (
            "socket dropped after CONNECT",
            Faults {
                drop_after_connect: true,
                ..Faults::default()
            },
            None,
            Reason::Network,
        ),
    ];
    let fetches = |d: &Daemon| -> Vec<u64> {
        IDS.iter()
            .map(|i| d.identities[*i].status().expect("cache-backed").fetches)
            .collect()
    };
    for (what, faults, suffix, reason) in cases {
        f.lab.state().set_faults(faults);
        let before = fetches(&d);
        let rs = only_ids(round(&d).await);
        f.lab.state().set_faults(Faults::default());
        if what == "403 upgrades" {
            // Refused credentials are dropped: the next round signs in afresh (the fault is
            // gone now, so it succeeds) instead of reusing them until they expire.
            assert_eq!(
                fetches(&d),
                before,
                "{what}: nothing refetched during the round"
            );
            let healthy = only_ids(round(&d).await);
            assert_eq!(
                report::exit_of(&healthy),
                Exit::Ok,
                "{}",
                report::table(&healthy)
            );
            let after = fetches(&d);
            for ((id, b), a) in IDS.iter().zip(&before).zip(&after) {
                assert_eq!(*a, b + 1, "{what}: {id} not refetched after the 403");
            }
        }
        let rs: Vec<CanaryReport> = rs
            .into_iter()
            .filter(|r| suffix.is_none_or(|s| r.canary.ends_with(s)))
            .collect();
        assert_eq!(rs.len(), if suffix.is_some() { 8 } else { 16 }, "{what}");
        for r in &rs {
            assert!(
                matches!(r.verdict, Verdict::Inconclusive(_)),
                "{what}: {} must be inconclusive\n{}",
                r.canary,
                report::table(&rs)
            );
        }
        // The deny canaries name the fault itself (a control failure alone would hide it).
        for r in rs.iter().filter(|r| r.canary.contains("-other-")) {
            let want = if what.starts_with("socket dropped") && r.canary.ends_with("-v311") {
                // 3.1.1: the drop also hits the control, so the close stays unconfirmed.
                [Reason::Network, Reason::ControlFailed, Reason::SocketClosed]
            } else {
                [reason; 3]
            };
            assert!(
                matches!(r.verdict, Verdict::Inconclusive(x) if want.contains(&x)),
                "{what}: {} is {:?}, want {want:?}\n{}",
                r.canary,
                r.verdict,
                report::table(&rs)
            );
        }
        assert_eq!(report::exit_of(&rs), Exit::Blind, "{what}");
    }
    f.lab.shutdown().await;
}
