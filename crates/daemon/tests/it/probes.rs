//! End-to-end: the daemon's probes against the in-process lab, every probe kind in MQTT 5 and
//! 3.1.1, with a tight policy (all denied, controls allowed → exit 0) and with a hole
//! (breaches → exit 1, JSON names the canary and shows the evidence).

use std::sync::Arc;

use aws_credential_types::Credentials;
use iot_canary_core::exit::Exit;
use iot_canary_core::report;
use iot_canary_core::verdict::{Reason, Standing, Verdict};
use iot_canary_daemon::daemon::{self, Daemon, FixedIdentity, IdentityCreds, Shard};
use iot_canary_lab::RunningLab;
use iot_canary_testkit::HOLE;
use iot_canary_testkit::config::{Pace, dev_lamp_canaries, ops_dev};
use iot_canary_testkit::lab::{self, Options};
use iot_canary_testkit::scenario::{DEV, OPS, Scenario};
use iot_canary_testkit::verdicts::assert_all_inconclusive;

use crate::support::{
    assert_bait_delivered, assert_denial_evidence, daemon_with_keys, json_canary, parse, round,
};

/// The dev-lamp world with `dev_policy` as dev's policy, over TLS.
async fn start_lab(dev_policy: &str) -> RunningLab {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::fixture("dev-lamp").policy("Dev", dev_policy);
    lab::start(&scenario, Options::tls().dir(&dir.keep())).await
}

/// `dev`'s own lamp only (the fixture's policy).
fn tight_policy() -> String {
    Scenario::fixture("dev-lamp").policy_doc("Dev")
}

fn hole_policy() -> String {
    HOLE.to_string()
}

/// Every probe kind, deny and allow, for one MQTT version, from ops and dev's static keys.
fn daemon_for(lab: &RunningLab, version: &str) -> Daemon {
    let pace = Pace {
        timeout: "8s",
        connect_interval: "50ms",
        delivery_grace: "700ms",
    };
    let text = ops_dev(&lab.endpoints.mqtt, &lab.endpoints.ca_file, pace)
        + &dev_lamp_canaries(version, &[]);
    daemon_with_keys(parse("e2e.toml", &text), &[("ops", OPS), ("dev", DEV)])
}

fn show(reports: &[daemon::CanaryReport]) -> String {
    report::table(reports)
}

async fn tight(version: &str) {
    let lab = start_lab(&tight_policy()).await;
    let d = daemon_for(&lab, version);
    let reports = round(&d).await;
    assert_eq!(reports.len(), 16, "{}", show(&reports));
    for r in &reports {
        assert_eq!(r.standing, Standing::Ok, "{}\n{}", r.canary, show(&reports));
    }
    assert_eq!(report::exit_of(&reports), Exit::Ok);
    for r in reports
        .iter()
        .filter(|r| r.expect == iot_canary_core::verdict::Expect::Deny)
    {
        // 3.1.1 only closes the socket: every denial must rest on a later control; 5 refuses
        // explicitly, with no need for one.
        let confirmed = assert_denial_evidence(r, version == "3.1.1");
        assert!(version == "3.1.1" || !confirmed, "{}", r.canary);
    }
    lab.shutdown().await;
}

async fn hole(version: &str) {
    let lab = start_lab(&hole_policy()).await;
    let d = daemon_for(&lab, version);
    let reports = round(&d).await;
    for r in &reports {
        let want = if r.expect == iot_canary_core::verdict::Expect::Deny {
            Standing::Breach
        } else {
            Standing::Ok
        };
        assert_eq!(r.standing, want, "{}\n{}", r.canary, show(&reports));
        assert_eq!(r.verdict, Verdict::Allowed);
    }
    assert_eq!(report::exit_of(&reports), Exit::Breach);
    let json: serde_json::Value = serde_json::from_str(&report::json(
        &report::RunInfo::offline("once", std::time::SystemTime::now()),
        &reports,
    ))
    .unwrap();
    assert_eq!(json["exit_code"], 1);
    let v = version.replace('.', "");
    assert_bait_delivered(json_canary(&json, &format!("recv-other-v{v}")));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tight_policy_mqtt5_all_denied_controls_allowed() {
    tight("5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tight_policy_mqtt311_all_denied_controls_allowed() {
    tight("3.1.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hole_mqtt5_every_deny_canary_breaches() {
    hole("5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hole_mqtt311_every_deny_canary_breaches() {
    hole("3.1.1").await;
}

/// Faults never read as denials: every probe is inconclusive with the fault's reason.
async fn fault_case(version: &str, faults: iot_canary_lab::state::Faults, want: Reason) {
    let lab = start_lab(&tight_policy()).await;
    lab.state().set_faults(faults.clone());
    let d = daemon_for_timeout(&lab, version, "2s");
    let reports = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        d.round(Some("sub-*"), &|_| {}),
    )
    .await
    .expect("round finishes");
    assert!(
        reports.iter().any(|r| r.canary.starts_with("sub-other")),
        "{}",
        show(&reports)
    );
    assert_all_inconclusive(&reports, &format!("{faults:?}"));
    let deny = reports
        .iter()
        .find(|r| r.canary.starts_with("sub-other"))
        .unwrap();
    assert_eq!(
        deny.verdict,
        Verdict::Inconclusive(want),
        "{faults:?} {version}\n{}",
        show(&reports)
    );
    assert_eq!(report::exit_of(&reports), Exit::Blind);
    lab.shutdown().await;
}

fn daemon_for_timeout(lab: &RunningLab, version: &str, timeout: &str) -> Daemon {
    let d = daemon_for(lab, version);
    let mut cfg = (*d.config).clone();
    for c in &mut cfg.canaries {
        c.timeout = iot_canary_core::config::units::parse_duration(timeout).unwrap();
    }
    Daemon::new(
        Arc::new(cfg),
        d.endpoint.clone(),
        d.identities.clone(),
        Shard::ALL,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_inconclusive_never_denied() {
    use iot_canary_lab::state::Faults;
    let f = Faults::default;
    for version in ["5", "3.1.1"] {
        fault_case(
            version,
            Faults {
                refuse_upgrades: true,
                ..f()
            },
            Reason::UpgradeRejected,
        )
        .await;
        fault_case(version, Faults { stall: true, ..f() }, Reason::Timeout).await;
        fault_case(
            version,
            Faults {
                clock_skew_secs: 3600,
                ..f()
            },
            Reason::UpgradeRejected,
        )
        .await;
    }
    // MQTT 5: an explicit 0x97 is throttling; a socket dropped after CONNECT is a network
    // failure.
    fault_case(
        "5",
        Faults {
            quota_exceeded: true,
            ..f()
        },
        Reason::Throttled,
    )
    .await;
    fault_case(
        "5",
        Faults {
            drop_after_connect: true,
            ..f()
        },
        Reason::Network,
    )
    .await;
    // 3.1.1: the drop hits the control too, so the close cannot be confirmed as a denial.
    fault_case(
        "3.1.1",
        Faults {
            drop_after_connect: true,
            ..f()
        },
        Reason::Network,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_credentials_are_inconclusive_credentials() {
    let lab = start_lab(&tight_policy()).await;
    let d = daemon_for(&lab, "5");
    let mut ids = d.identities.clone();
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    ids.insert(
        "dev".into(),
        Arc::new(FixedIdentity(IdentityCreds {
            credentials: Credentials::new(
                "AKIALABDEV0000000001",
                "lab-secret-dev",
                Some("tok".into()),
                Some(past),
                "t",
            ),
            identity_id: None,
            username: None,
        })),
    );
    let d = Daemon::new(d.config.clone(), d.endpoint.clone(), ids, Shard::ALL);
    let reports = round(&d).await;
    for r in &reports {
        assert_eq!(
            r.verdict,
            Verdict::Inconclusive(Reason::Credentials),
            "{}",
            show(&reports)
        );
    }
    assert_eq!(report::exit_of(&reports), Exit::Blind);
    lab.shutdown().await;
}
