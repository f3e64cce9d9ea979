//! End-to-end: the daemon's probes against the in-process lab, every probe kind in MQTT 5 and
//! 3.1.1, with a tight policy (all denied, controls allowed → exit 0) and with a hole
//! (breaches → exit 1, JSON names the canary and shows the evidence).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use aws_credential_types::Credentials;
use iot_canary::config;
use iot_canary::daemon::{self, Daemon, FixedIdentity, IdentityCreds, IdentitySource, Shard};
use iot_canary::exit::Exit;
use iot_canary::lab::{self, LabConfig, RunningLab};
use iot_canary::report;
use iot_canary::verdict::{Observation, Reason, Standing, Verdict};

const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

fn tight_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
 {{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}:client/dev-*"}},
 {{"Effect":"Allow","Action":["iot:Publish","iot:Receive","iot:RetainPublish"],"Resource":["{ARN}:topic/devices/dev-lamp/*","{ARN}:topic/$aws/things/dev-lamp/shadow/*"]}},
 {{"Effect":"Allow","Action":"iot:Subscribe","Resource":["{ARN}:topicfilter/devices/dev-lamp/*","{ARN}:topicfilter/$aws/things/dev-lamp/shadow/*"]}}]}}"#
    )
}

fn hole_policy() -> String {
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#
        .to_string()
}

fn scenario(dev_policy: &str) -> String {
    format!(
        r#"region = "us-east-1"
account_id = "123456789012"

[policies]
Witness = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:*","Resource":"*"}}]}}'''
Dev = '''{dev_policy}'''

[[iam_user]]
name = "ops"
access_key_id = "AKIALABOPS0000000001"
secret_access_key = "lab-secret-ops"
policies = ["Witness"]

[[iam_user]]
name = "dev"
access_key_id = "AKIALABDEV0000000001"
secret_access_key = "lab-secret-dev"
policies = ["Dev"]

[[thing]]
name = "dev-lamp"
owner = "dev"

[[thing]]
name = "other-lamp"
owner = "ops"
"#
    )
}

/// Every probe kind, deny and allow, for one MQTT version.
fn canaries(version: &str) -> String {
    let v = version.replace('.', "");
    let mut out = String::new();
    let mut add = |name: &str, action: &str, expect: &str, extra: &str| {
        out.push_str(&format!(
            "\n[[canary]]\nname = \"{name}-v{v}\"\nidentity = \"dev\"\naction = \"{action}\"\nexpect = \"{expect}\"\nmqtt_version = \"{version}\"\n{extra}\n"
        ));
    };
    add(
        "connect-other",
        "connect",
        "deny",
        "client_id = \"other-lamp-v${canary}\"",
    );
    add(
        "connect-own",
        "connect",
        "allow",
        "client_id = \"dev-own-${canary}\"",
    );
    add(
        "sub-other",
        "subscribe",
        "deny",
        "topic_filter = \"devices/other-lamp/#\"",
    );
    add(
        "sub-own",
        "subscribe",
        "allow",
        "topic_filter = \"devices/dev-lamp/#\"",
    );
    add(
        "pub-other",
        "publish",
        "deny",
        "topic = \"devices/other-lamp/cmd\"\nwitness = \"ops\"",
    );
    add(
        "pub-own",
        "publish",
        "allow",
        "topic = \"devices/dev-lamp/cmd\"\nwitness = \"ops\"",
    );
    add(
        "pub0-other",
        "publish",
        "deny",
        "topic = \"devices/other-lamp/cmd\"\nwitness = \"ops\"\nqos = 0",
    );
    add(
        "recv-other",
        "receive",
        "deny",
        "topic = \"devices/other-lamp/telemetry\"\nwitness = \"ops\"",
    );
    add(
        "recv-own",
        "receive",
        "allow",
        "topic = \"devices/dev-lamp/telemetry\"\nwitness = \"ops\"",
    );
    add(
        "retain-other",
        "retain",
        "deny",
        "topic = \"devices/other-lamp/state\"",
    );
    add(
        "retain-own",
        "retain",
        "allow",
        "topic = \"devices/dev-lamp/state\"",
    );
    add(
        "shget-other",
        "shadow-get",
        "deny",
        "thing = \"other-lamp\"",
    );
    add("shget-own", "shadow-get", "allow", "thing = \"dev-lamp\"");
    add(
        "shupd-other",
        "shadow-update",
        "deny",
        "thing = \"other-lamp\"",
    );
    add(
        "shupd-own",
        "shadow-update",
        "allow",
        "thing = \"dev-lamp\"",
    );
    add(
        "shdel-other",
        "shadow-delete",
        "deny",
        "thing = \"other-lamp\"",
    );
    out
}

async fn start_lab(dev_policy: &str) -> RunningLab {
    let dir = tempfile::tempdir().unwrap();
    let loaded =
        lab::scenario::parse(&scenario(dev_policy), "test-scenario", dir.path()).expect("scenario");
    let mut cfg = LabConfig::new(loaded);
    cfg.ca_file = Some(dir.keep().join("lab-ca.pem"));
    lab::start(cfg).await.expect("lab starts")
}

fn daemon_for(lab: &RunningLab, version: &str) -> Daemon {
    let text = format!(
        r#"[target]
region = "us-east-1"
endpoint = "{mqtt}"
ca_file = "{ca}"
client_id = "${{identity}}-${{canary}}"

[schedule]
interval = "60s"
timeout = "8s"
concurrency = 8
connect_interval = "50ms"
delivery_grace = "700ms"

[[identity]]
name = "ops"
kind = "static"
access_key_id_env = "UNUSED_KEY"
secret_access_key_env = "UNUSED_SECRET"

[[identity]]
name = "dev"
kind = "static"
access_key_id_env = "UNUSED_KEY"
secret_access_key_env = "UNUSED_SECRET"
{canaries}"#,
        mqtt = lab.endpoints.mqtt,
        ca = lab.endpoints.ca_file,
        canaries = canaries(version)
    );
    let cfg = config::parse(Path::new("e2e.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let endpoint = daemon::endpoint(&cfg).expect("CA readable");
    let fixed = |akid: &str, secret: &str| -> Arc<dyn IdentitySource> {
        Arc::new(FixedIdentity(IdentityCreds {
            credentials: Credentials::new(akid, secret, None, None, "test"),
            identity_id: None,
            username: None,
        }))
    };
    let mut ids = BTreeMap::new();
    ids.insert(
        "ops".to_string(),
        fixed("AKIALABOPS0000000001", "lab-secret-ops"),
    );
    ids.insert(
        "dev".to_string(),
        fixed("AKIALABDEV0000000001", "lab-secret-dev"),
    );
    Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL)
}

async fn round(d: &Daemon) -> Vec<daemon::CanaryReport> {
    tokio::time::timeout(std::time::Duration::from_secs(120), d.round(None, &|_| {}))
        .await
        .expect("round finishes")
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
        .filter(|r| r.expect == iot_canary::verdict::Expect::Deny)
    {
        let confirmed = r
            .evidence
            .steps
            .iter()
            .any(|s| s.what.starts_with("denial confirmed"));
        let obs = &r.evidence.observation;
        if version == "3.1.1" {
            // 3.1.1 only closes the socket: every denial must rest on a later control.
            assert!(confirmed, "{}: {obs:?}", r.canary);
        } else {
            assert!(!confirmed, "{}", r.canary);
            let explicit = matches!(
                obs,
                Observation::Connack { code: 0x87 }
                    | Observation::Suback { code: 0x87 }
                    | Observation::Puback { code: 0x87 }
                    | Observation::ServerDisconnect { code: 0x87, .. }
                    | Observation::NotDelivered
            );
            assert!(explicit, "{}: {obs:?}", r.canary);
        }
    }
    lab.shutdown().await;
}

async fn hole(version: &str) {
    let lab = start_lab(&hole_policy()).await;
    let d = daemon_for(&lab, version);
    let reports = round(&d).await;
    for r in &reports {
        let want = if r.expect == iot_canary::verdict::Expect::Deny {
            Standing::Breach
        } else {
            Standing::Ok
        };
        assert_eq!(r.standing, want, "{}\n{}", r.canary, show(&reports));
        assert_eq!(r.verdict, Verdict::Allowed);
    }
    assert_eq!(report::exit_of(&reports), Exit::Breach);
    let json: serde_json::Value = serde_json::from_str(&report::json(&reports)).unwrap();
    assert_eq!(json["exit_code"], 1);
    let recv = json["canaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["canary"].as_str().unwrap().starts_with("recv-other"))
        .unwrap();
    assert_eq!(recv["standing"], "breach");
    assert_eq!(recv["evidence"]["observation"]["kind"], "delivered");
    assert!(
        recv["evidence"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["what"].as_str().unwrap().contains("received the nonce"))
    );
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
async fn fault_case(version: &str, faults: iot_canary::lab::state::Faults, want: Reason) {
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
    for r in &reports {
        assert!(
            matches!(r.verdict, Verdict::Inconclusive(_)),
            "{faults:?}: {} must be inconclusive\n{}",
            r.canary,
            show(&reports)
        );
    }
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
        c.timeout = iot_canary::config::units::parse_duration(timeout).unwrap();
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
    use iot_canary::lab::state::Faults;
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
