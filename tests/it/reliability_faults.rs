//! Fault matrix: every way the daemon can be blinded must read `inconclusive` with the right
//! reason — never `denied`. The lab runs as an `iot-canary lab` subprocess (killed and
//! restarted in one case); faults come from its admin API, from dead or stalled identity
//! services, a host that does not resolve, a CA that does not verify, skewed clocks, expiring
//! credentials and a witness that cannot connect. Each test prints the faults it tried and
//! the false denials it saw (always 0, or it fails).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use iot_canary_core::verdict::{Expect, Reason, Verdict};
use iot_canary_daemon::daemon::{CanaryReport, IdentityCreds, IdentitySource};
use iot_canary_daemon::identity::{IdentityContext, IdentitySet, RefreshPolicy};
use iot_canary_testkit::config::identities;
use iot_canary_testkit::verdicts::assert_all_inconclusive;

use crate::support::reliability::*;

/// Every report inconclusive; the deny canaries' reasons all in `want`.
fn all_inconclusive(what: &str, reports: &[CanaryReport], want: &[Reason]) {
    assert!(!reports.is_empty(), "{what}: no reports");
    assert_eq!(false_denied(reports), 0, "{what}\n{}", table(reports));
    for r in reports {
        let Verdict::Inconclusive(reason) = r.verdict else {
            panic!(
                "{what}: {} is {:?}\n{}",
                r.canary,
                r.verdict,
                table(reports)
            );
        };
        // A witnessed probe connects its witness first, so the same fault may surface as
        // the witness's failure.
        let witness_first = r.witness.is_some() && reason == Reason::WitnessFailed;
        if r.expect == Expect::Deny && !witness_first {
            assert!(
                want.contains(&reason),
                "{what}: {} is inconclusive({reason:?}), want one of {want:?}\n{}",
                r.canary,
                table(reports)
            );
        }
    }
}

/// A round of a daemon over the lab users' keys that must be blind with a reason in `want`;
/// returns how many verdicts it judged.
async fn blind_round(what: &str, cfg: iot_canary_core::config::Config, want: &[Reason]) -> usize {
    let reports = round(&daemon(cfg, lab_env(OPS_SECRET))).await;
    all_inconclusive(what, &reports, want);
    reports.len()
}

fn summary(test: &str, faults: usize, reports: usize) {
    println!("{test}: faults tried: {faults}, probes judged: {reports}, false denied: 0");
}

/// Each admin-API fault, in MQTT 5 and 3.1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_admin_faults_are_inconclusive() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path(), "127.0.0.1:0", false);
    let cases: [(&str, &str, &[Reason], &[Reason]); 5] = [
        (
            "refuse_upgrades",
            r#"{"refuse_upgrades":true}"#,
            &[Reason::UpgradeRejected],
            &[Reason::UpgradeRejected],
        ),
        (
            "stall",
            r#"{"stall":true}"#,
            &[Reason::Timeout],
            &[Reason::Timeout],
        ),
        (
            "drop_after_connect",
            r#"{"drop_after_connect":true}"#,
            &[Reason::Network],
            &[Reason::Network, Reason::SocketClosed, Reason::ControlFailed],
        ),
        (
            "quota_exceeded",
            r#"{"quota_exceeded":true}"#,
            &[Reason::Throttled],
            &[
                Reason::Network,
                Reason::SocketClosed,
                Reason::ControlFailed,
                Reason::Throttled,
            ],
        ),
        (
            "clock_skew_secs",
            r#"{"clock_skew_secs":3600}"#,
            &[Reason::UpgradeRejected],
            &[Reason::UpgradeRejected],
        ),
    ];
    let mut tried = 0;
    let mut judged = 0;
    for (name, json, want5, want311) in cases {
        for (version, want) in [("5", want5), ("3.1.1", want311)] {
            lab.set_faults(json);
            let cfg = lab_config(&lab, "2s", version);
            let d = daemon(cfg, lab_env(OPS_SECRET));
            let reports = round(&d).await;
            d.pool.close_all().await;
            all_inconclusive(&format!("{name} (MQTT {version})"), &reports, want);
            tried += 1;
            judged += reports.len();
            lab.clear_faults();
        }
    }
    // With the faults cleared the same canaries judge normally (the faults were the cause).
    // The quota case's CONNECTs count against the lab's 1 CONNECT/s per client id; wait out
    // that window (a quota period, not a readiness wait).
    std::thread::sleep(Duration::from_millis(1100));
    let cfg = lab_config(&lab, "5s", "5");
    let d = daemon(cfg, lab_env(OPS_SECRET));
    let reports = round(&d).await;
    d.pool.close_all().await;
    for r in &reports {
        assert!(
            matches!(r.verdict, Verdict::Denied | Verdict::Allowed),
            "{}",
            table(&reports)
        );
    }
    summary("lab admin faults", tried, judged);
}

/// The lab is SIGKILLed between rounds (pooled connections die with it) and in the middle of
/// a round, then restarted on the same address: the rounds without a lab are inconclusive,
/// the round after the restart judges normally again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    // Plain websockets: a restarted lab generates a new CA, which a daemon that read the old
    // one would (rightly) refuse as a TLS failure; that case is covered by the wrong-CA test.
    let mut lab = start_lab(dir.path(), &addr, true);
    let mut text = canaries("5");
    text.push_str(&canaries("3.1.1"));
    let cfg = parse(&config_text(&lab.mqtt(), "", "3s", &text));
    let d = Arc::new(daemon(cfg, lab_env(OPS_SECRET)));
    let first = round(&d).await;
    assert!(
        first
            .iter()
            .all(|r| r.standing == iot_canary_core::verdict::Standing::Ok),
        "{}",
        table(&first)
    );
    lab.kill();
    let down = round(&d).await;
    all_inconclusive(
        "lab killed",
        &down,
        &[
            // Nothing listens any more (new connections), or a socket that was open died.
            Reason::TcpRefused,
            Reason::Network,
            Reason::SocketClosed,
            Reason::ControlFailed,
            Reason::WitnessFailed,
        ],
    );
    let mut lab = start_lab(dir.path(), &addr, true);
    let back = round(&d).await;
    assert!(
        back.iter()
            .all(|r| r.standing == iot_canary_core::verdict::Standing::Ok),
        "after restart\n{}",
        table(&back)
    );

    // Mid-round: kill the lab as soon as the first verdict lands.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let tx = std::sync::Mutex::new(Some(tx));
    let d2 = d.clone();
    let task = tokio::spawn(async move {
        tokio::time::timeout(
            Duration::from_secs(180),
            d2.round(None, &move |_| {
                if let Some(t) = tx.lock().unwrap().take() {
                    let _ = t.send(());
                }
            }),
        )
        .await
        .expect("round finishes")
    });
    tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(120)))
        .await
        .unwrap()
        .expect("a first verdict");
    lab.kill();
    let mid = task.await.unwrap();
    assert_eq!(false_denied(&mid), 0, "mid-round kill\n{}", table(&mid));
    for r in &mid {
        assert!(
            !matches!(r.verdict, Verdict::Allowed) || r.expect == Expect::Allow,
            "a kill cannot make a deny canary allowed\n{}",
            table(&mid)
        );
    }
    let cut = mid
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Inconclusive(_)))
        .count();
    println!("mid-round kill: {cut}/{} probes inconclusive", mid.len());
    summary("lab kill/restart", 2, down.len() + mid.len());
}

/// Dead (connection refused) and stalled (accepts, never answers) STS / Cognito / vending
/// endpoints: every identity that needs them is inconclusive(credentials).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_services_down_or_slow() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path(), "127.0.0.1:0", false);
    let dead = format!("http://127.0.0.1:{}", free_port());
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = format!("http://{}", stalled.local_addr().unwrap());
    // Hold every accepted connection open without a byte of answer.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = stalled.accept().await {
            held.push(s);
        }
    });
    let mut tried = 0;
    let mut judged = 0;
    for (what, url) in [("down", &dead), ("slow", &slow)] {
        let idents = identities(&["ops"])
            + r#"
[[identity]]
name = "role"
kind = "assume-role"
role_arn = "arn:aws:iam::123456789012:role/DeviceAccess"
session_name = "canary-role"
source = "ops"
"# + &identities(&["alice", "guest", "vended"])
            .replace("VEND_URL", &format!("{url}/vend"));
        let mut canaries_text = String::new();
        for who in ["role", "alice", "guest", "vended"] {
            canaries_text.push_str(&format!(
                "\n[[canary]]\nname = \"{who}-own\"\nidentity = \"{who}\"\naction = \"subscribe\"\ntopic_filter = \"devices/dev-lamp/#\"\nexpect = \"allow\"\n\n[[canary]]\nname = \"{who}-other\"\nidentity = \"{who}\"\naction = \"subscribe\"\ntopic_filter = \"devices/other-lamp/#\"\n\n[[canary]]\nname = \"{who}-recv\"\nidentity = \"{who}\"\naction = \"receive\"\ntopic = \"devices/other-lamp/t\"\nwitness = \"ops\"\n"
            ));
        }
        let text = format!(
            "[target]\nregion = \"us-east-1\"\nendpoint = \"{}\"\nca_file = \"{}\"\n\n[endpoints]\nsts = \"{url}\"\ncognito_identity = \"{url}\"\ncognito_idp = \"{url}\"\n\n[schedule]\ntimeout = \"3s\"\n{idents}{canaries_text}",
            lab.mqtt(),
            lab.ca_file()
        );
        let cfg = parse(&text);
        let env = iot_canary_daemon::identity::Env::isolated([
            ("OPS_KEY", OPS_KEY),
            ("OPS_SECRET", OPS_SECRET),
            ("ALICE_PASSWORD", "alice-lab-password-1"),
            ("VEND_TOKEN", "vend-bearer-token-1"),
        ]);
        // The config's [endpoints] put STS and both Cognito services at `url`.
        let ctx =
            IdentityContext::new(cfg.target.region.clone(), cfg.endpoints.clone()).with_env(env);
        let policy = RefreshPolicy {
            fetch_timeout: Duration::from_secs(4),
            ..RefreshPolicy::default()
        };
        let specs: Vec<_> = cfg.identities.iter().map(|i| i.config.clone()).collect();
        let set = IdentitySet::build(&specs, &ctx, &policy).expect("identities build");
        let ids: BTreeMap<String, Arc<dyn IdentitySource>> = set
            .iter()
            .map(|(n, c)| (n.to_string(), c.clone() as Arc<dyn IdentitySource>))
            .collect();
        let d = daemon_with(cfg, ids);
        let reports = round(&d).await;
        d.pool.close_all().await;
        all_inconclusive(
            &format!("identity services {what}"),
            &reports,
            &[Reason::Credentials],
        );
        tried += 3; // STS, Cognito (user pool + identity pool), vending
        judged += reports.len();
    }
    summary("identity services down/slow", tried, judged);
}

/// Valid credentials for the first `valid_fetches` fetches, expired ones after.
struct ExpiresAfter {
    valid_fetches: usize,
    fetches: std::sync::atomic::AtomicUsize,
}

impl IdentitySource for ExpiresAfter {
    fn current(&self) -> iot_canary_daemon::daemon::IdentityFuture<'_> {
        let n = self
            .fetches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let expiry = if n < self.valid_fetches {
            SystemTime::now() + Duration::from_secs(600)
        } else {
            SystemTime::now() - Duration::from_secs(1)
        };
        Box::pin(async move {
            Ok(IdentityCreds {
                credentials: Credentials::new(DEV_KEY, DEV_SECRET, None, Some(expiry), "test"),
                identity_id: None,
                username: None,
            })
        })
    }
}

/// Network-level and credential faults on an otherwise healthy lab.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_tls_clock_credential_and_witness_faults() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path(), "127.0.0.1:0", false);
    let port = lab.listen_addr().rsplit(':').next().unwrap().to_string();
    let mut tried = 0;
    let mut judged = 0;

    // DNS: a host that cannot resolve.
    let unresolvable = format!("wss://nonexistent.invalid:{port}/mqtt");
    let cfg = parse(&config_text(
        &unresolvable,
        &lab.ca_file(),
        "3s",
        &canaries("5"),
    ));
    judged += blind_round("DNS failure", cfg, &[Reason::Dns]).await;
    tried += 1;

    // TLS: trust roots that did not sign the lab's certificate (another lab's CA).
    let other_dir = tempfile::tempdir().unwrap();
    let other = start_lab(other_dir.path(), "127.0.0.1:0", false);
    let cfg = parse(&config_text(
        &lab.mqtt(),
        &other.ca_file(),
        "3s",
        &canaries("3.1.1"),
    ));
    judged += blind_round("wrong CA", cfg, &[Reason::Tls]).await;
    tried += 1;
    drop(other);

    // Clock skew on the daemon's side: credentials whose signatures the lab rejects as
    // outside the time window look the same as a skewed local clock — simulated here by the
    // lab's clock (the daemon signs with the real time).
    lab.set_faults(r#"{"clock_skew_secs":-1200}"#);
    let cfg = lab_config(&lab, "3s", "5");
    judged += blind_round("clock skew (-20 min)", cfg, &[Reason::UpgradeRejected]).await;
    lab.clear_faults();
    tried += 1;

    // Credentials that expire in the middle of the round: the first fetches are valid, later
    // ones (the controls, which run after the denials) are expired. The 3.1.1 socket closes
    // then cannot be confirmed, so nothing may read as denied.
    let cfg = lab_config(&lab, "3s", "3.1.1");
    let d = daemon_with(
        cfg,
        ops_and_dev(Arc::new(ExpiresAfter {
            valid_fetches: 3,
            fetches: Default::default(),
        }) as Arc<dyn IdentitySource>),
    );
    let reports = round(&d).await;
    assert_eq!(false_denied(&reports), 0, "{}", table(&reports));
    let expired = reports
        .iter()
        .filter(|r| r.verdict == Verdict::Inconclusive(Reason::Credentials))
        .count();
    assert!(
        expired > 0,
        "some probes must meet expired credentials\n{}",
        table(&reports)
    );
    assert_all_inconclusive(&reports, "once the control met expired credentials");
    tried += 1;
    judged += reports.len();

    // Expired before the round: everything inconclusive(credentials).
    let cfg = lab_config(&lab, "3s", "5");
    let expired = fixed(
        DEV_KEY,
        DEV_SECRET,
        Some(SystemTime::now() - Duration::from_secs(5)),
    );
    let reports = round(&daemon_with(cfg, ops_and_dev(expired))).await;
    all_inconclusive("expired credentials", &reports, &[Reason::Credentials]);
    tried += 1;
    judged += reports.len();

    // A witness that cannot connect (wrong secret: the upgrade is refused): the witnessed
    // canaries are inconclusive(witness_failed); the others judge normally.
    for version in ["5", "3.1.1"] {
        let cfg = lab_config(&lab, "3s", version);
        let d = daemon(cfg, lab_env("not-the-ops-secret"));
        let reports = round(&d).await;
        d.pool.close_all().await;
        assert_eq!(false_denied(&reports), 0, "{}", table(&reports));
        for r in &reports {
            if r.witness.is_some() {
                // The 3.1.1 receive canary is refused at SUBSCRIBE before any bait is
                // needed; what matters is that no witnessed verdict claims what the witness
                // could not see.
                assert!(
                    matches!(
                        r.verdict,
                        Verdict::Inconclusive(Reason::WitnessFailed) | Verdict::Denied
                    ),
                    "{} with a dead witness: {:?}\n{}",
                    r.canary,
                    r.verdict,
                    table(&reports)
                );
            }
        }
        assert!(
            reports
                .iter()
                .any(|r| r.verdict == Verdict::Inconclusive(Reason::WitnessFailed)),
            "{}",
            table(&reports)
        );
        tried += 1;
        judged += reports.len();
    }
    summary("network/TLS/clock/credentials/witness", tried, judged);
}
