//! Faults never read as denials. Identity-plane outages (STS down, Cognito answering 503, the
//! vending API down or hanging), credentials too short-lived for a probe, and the lab's
//! gateway/broker faults for non-static identities: every affected probe is `inconclusive`
//! with the right reason and the round's exit code is 2; unaffected identities stay ok.
//!
//! The identity services sit behind switchable TCP relays (one each for STS, Cognito and the
//! vending API), so one lab serves every phase; each phase builds a fresh daemon (fresh
//! credential caches, fresh connections).

use std::sync::Arc;
use std::time::{Duration, Instant};

use iot_canary_core::config;
use iot_canary_core::exit::Exit;
use iot_canary_core::report;
use iot_canary_core::verdict::{Reason, Standing, Verdict};
use iot_canary_daemon::daemon::{self, CanaryReport, Daemon, Shard, identities};
use iot_canary_daemon::identity::Env;
use iot_canary_lab::RunningLab;
use iot_canary_lab::state::Faults;
use iot_canary_testkit::WAIT;
use iot_canary_testkit::config::{IdentityPlane, identities, lamp_canaries, target};
use iot_canary_testkit::lab;
use iot_canary_testkit::net::addr_of;
use iot_canary_testkit::relay::{self, Relay};
use iot_canary_testkit::scenario::{DEMO_POOL as POOL, Scenario};
use tokio::sync::watch;

/// One role reached by assume-role, Cognito (user and guest) and the vending API; `ttl` sets
/// how long Cognito and vending credentials live.
fn scenario(ttl: Option<u64>) -> Scenario {
    let s = Scenario::fixture("identity-planes");
    match ttl {
        Some(t) => s.set("cognito", "credentials_ttl", t as i64).set(
            "vending",
            "credentials_ttl",
            t as i64,
        ),
        None => s,
    }
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
    let lab = lab::start_tls(&scenario(ttl), dir.path()).await;
    let upstream = addr_of(&lab.endpoints.sts);
    Fixture {
        sts: relay::start(upstream).await,
        cognito: relay::start(upstream).await,
        vending: relay::start(upstream).await,
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
        let plane = IdentityPlane {
            sts: &self.sts.0,
            cognito_identity: &self.cognito.0,
            cognito_idp: &self.cognito.0,
        };
        let client_id = format!("dev-{phase}-${{identity}}-${{canary}}");
        let mut text = target(
            &self.lab.endpoints.mqtt,
            &self.lab.endpoints.ca_file,
            &client_id,
            plane,
        );
        text.push_str(&format!(
            r#"
[schedule]
timeout = "{timeout}"
connect_interval = "1s"
delivery_grace = "500ms"

{ops}
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

{guest_vend}

[[canary]]
name = "ops-control"
identity = "ops"
action = "subscribe"
topic_filter = "devices/ops/#"
expect = "allow"
"#,
            ops = identities(&["ops"]),
            guest_vend = identities(&["guest", "vend"])
                .replace("VEND_URL", &format!("{}/vend", self.vending.0)),
        ));
        // Each identity subscribes to its own lamp (control) and to another's (deny).
        for id in IDS {
            for version in ["5", "3.1.1"] {
                let prefix = format!("{id}-");
                text.push_str(&lamp_canaries(
                    id,
                    &prefix,
                    version,
                    &["sub-own", "sub-other"],
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

impl Fixture {
    /// A fresh daemon's round with every service up: all ok, exit 0. Returns the daemon.
    async fn healthy_round(&self, phase: &str, timeout: &str) -> Daemon {
        let d = self.daemon(phase, timeout);
        let rs = round(&d).await;
        assert_eq!(report::exit_of(&rs), Exit::Ok, "{}", report::table(&rs));
        d
    }

    /// One outage phase with a fresh daemon (4 s timeout): the round is blind (credentials)
    /// for the `affected` identities only, and each `(identity, reason)` in `counted` shows
    /// on the credential-failure counter.
    async fn blind_phase(
        &self,
        phase: &str,
        what: &str,
        affected: &[&str],
        counted: &[(&str, &str)],
    ) {
        let d = self.daemon(phase, "4s");
        let rs = round(&d).await;
        assert_blind(what, &rs, affected, Reason::Credentials);
        for (identity, reason) in counted {
            assert!(
                failures(&d, identity, reason) >= 1,
                "{what}: no {reason} failure counted for {identity}"
            );
        }
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
    let m = iot_canary_core::render::metrics::render(&d.config, &d.store.snapshot());
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
    f.healthy_round("p1", "4s").await;

    // STS down (connections refused/closed): assume-role cannot get credentials.
    f.sts.1.send(Relay::Down).unwrap();
    f.blind_phase("p2", "STS down", &["role"], &[("role", "network")])
        .await;
    f.sts.1.send(Relay::Up).unwrap();

    // Cognito answering 503: the user-pool login, the identity pool and the vending login.
    f.cognito.1.send(Relay::Unavailable).unwrap();
    let affected = ["cog", "guest", "vend"];
    let counted = [("cog", "service"), ("guest", "service")];
    f.blind_phase("p3", "Cognito 503", &affected, &counted)
        .await;
    f.cognito.1.send(Relay::Up).unwrap();

    // The vending API down.
    f.vending.1.send(Relay::Down).unwrap();
    f.blind_phase("p4", "vending down", &["vend"], &[("vend", "network")])
        .await;

    // The vending API hanging: the fetch is bounded by the probe timeout (4 s), so the round
    // ends in time and the probes say credentials (timeout), not a network or MQTT timeout.
    f.vending.1.send(Relay::Stall).unwrap();
    let t = Instant::now();
    f.blind_phase("p5", "vending slow", &["vend"], &[("vend", "timeout")])
        .await;
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "round took {:?}",
        t.elapsed()
    );
    f.vending.1.send(Relay::Up).unwrap();

    // Recovery: back to exit 0.
    f.healthy_round("p6", "4s").await;
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
    // Fetch every identity's credentials while healthy (they stay cached across phases).
    let d = f.healthy_round("p8", "3s").await;
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
