//! The end-to-end matrix: every probe kind (deny and allow where one exists) × MQTT 5 and
//! 3.1.1 × every identity kind (static, profile via a credentials file, assume-role, cognito,
//! cognito-guest, credential-endpoint), through the daemon's real identity wiring
//! (`daemon::identities::build` → `identity::IdentitySet`), against one in-process lab.
//!
//! Speed: one lab for the whole file, and tight and hole identities side by side in the same
//! round — `<kind>-t` identities carry the `Tight` policy, `<kind>-h` ones the `Hole` — so one
//! concurrent round covers both outcomes. The identity pool has one unauthenticated role and
//! the lab one vending role, so `guest` and `vend` run tight first and then, after their
//! policies are replaced through the admin API, with the hole (two more concurrent rounds).
//! Nothing is skipped; the one shortcut is that the profile identities load the same IAM
//! users' keys as the static ones (the kind under test is how the keys are obtained, not
//! whose they are).

mod daemon_common;

use std::path::Path;

use daemon_common::*;
use iot_canary::config;
use iot_canary::daemon::{self, CanaryReport, Daemon, Shard, identities};
use iot_canary::exit::Exit;
use iot_canary::identity::Env;
use iot_canary::report;
use iot_canary::verdict::{Expect, Observation, Standing, Verdict};

fn tight_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
 {{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}:client/dev-*"}},
 {{"Effect":"Allow","Action":["iot:Publish","iot:Receive","iot:RetainPublish"],"Resource":["{ARN}:topic/devices/dev-lamp/*","{ARN}:topic/$aws/things/dev-lamp/shadow/*"]}},
 {{"Effect":"Allow","Action":"iot:Subscribe","Resource":["{ARN}:topicfilter/devices/dev-lamp/*","{ARN}:topicfilter/$aws/things/dev-lamp/shadow/*"]}}]}}"#
    )
}

fn scenario() -> String {
    let tight = tight_policy();
    format!(
        r#"region = "us-east-1"
account_id = "123456789012"

[policies]
Witness = '''{HOLE}'''
Broad = '''{HOLE}'''
Tight = '''{tight}'''
Hole = '''{HOLE}'''
Guest = '''{tight}'''
Vend = '''{tight}'''

[[iam_user]]
name = "ops"
access_key_id = "AKIALABOPS0000000001"
secret_access_key = "lab-secret-ops"
policies = ["Witness"]

[[iam_user]]
name = "dev-t"
access_key_id = "AKIALABDEVT000000001"
secret_access_key = "lab-secret-dev-t"
policies = ["Tight"]

[[iam_user]]
name = "dev-h"
access_key_id = "AKIALABDEVH000000001"
secret_access_key = "lab-secret-dev-h"
policies = ["Hole"]

[[role]]
name = "RoleT"
policies = ["Tight"]
trusted = ["ops"]

[[role]]
name = "RoleH"
policies = ["Hole"]
trusted = ["ops"]

[[role]]
name = "CogAuth"
policies = ["Broad"]

[[role]]
name = "CogGuest"
policies = ["Guest"]

[[role]]
name = "Vending"
policies = ["Vend"]

[cognito]
user_pool_id = "us-east-1_LabPool01"
app_client_id = "labappclient00000000000001"
identity_pool_id = "{POOL}"
authenticated_role = "CogAuth"
unauthenticated_role = "CogGuest"

[[cognito.user]]
username = "cog-t"
password = "pw-cog-t"
iot_policies = ["Tight"]

[[cognito.user]]
username = "cog-h"
password = "pw-cog-h"
iot_policies = ["Hole"]

[[cognito.user]]
username = "ven"
password = "pw-ven"

[[thing]]
name = "dev-lamp"
owner = "dev-t"

[[thing]]
name = "other-lamp"
owner = "ops"

[vending]
role = "Vending"
session_policy_template = '''{HOLE}'''
"#
    )
}

/// The identities: the witness, then `<kind>-t` / `<kind>-h` pairs and the two single ones.
fn identities_toml(dir: &Path) -> String {
    let creds = dir.join("aws-credentials");
    std::fs::write(
        &creds,
        "[t]\naws_access_key_id = AKIALABDEVT000000001\naws_secret_access_key = lab-secret-dev-t\n\
         [h]\naws_access_key_id = AKIALABDEVH000000001\naws_secret_access_key = lab-secret-dev-h\n",
    )
    .unwrap();
    let aws_config = dir.join("aws-config");
    std::fs::write(
        &aws_config,
        "[profile t]\nregion = us-east-1\n[profile h]\nregion = us-east-1\n",
    )
    .unwrap();
    let mut out = String::from(
        r#"
[[identity]]
name = "ops"
kind = "static"
access_key_id_env = "OPS_KEY"
secret_access_key_env = "OPS_SECRET"
"#,
    );
    for v in ["t", "h"] {
        let up = v.to_uppercase();
        out.push_str(&format!(
            r#"
[[identity]]
name = "static-{v}"
kind = "static"
access_key_id_env = "DEV_{up}_KEY"
secret_access_key_env = "DEV_{up}_SECRET"

[[identity]]
name = "profile-{v}"
kind = "profile"
profile = "{v}"
credentials_file = "{creds}"
config_file = "{cfg}"

[[identity]]
name = "role-{v}"
kind = "assume-role"
role_arn = "arn:aws:iam::123456789012:role/Role{up}"
session_name = "canary-role-{v}"
source = "ops"

[[identity]]
name = "cog-{v}"
kind = "cognito"
user_pool_id = "us-east-1_LabPool01"
app_client_id = "labappclient00000000000001"
identity_pool_id = "{POOL}"
username = "cog-{v}"
password_env = "COG_{up}_PASSWORD"
"#,
            creds = creds.display(),
            cfg = aws_config.display(),
        ));
    }
    out.push_str(&format!(
        r#"
[[identity]]
name = "guest"
kind = "cognito-guest"
identity_pool_id = "{POOL}"

[[identity]]
name = "vend"
kind = "credential-endpoint"
url = "VENDING_URL"
user_pool_id = "us-east-1_LabPool01"
app_client_id = "labappclient00000000000001"
username = "ven"
password_env = "VEN_PASSWORD"
"#
    ));
    out
}

pub const IDENTITIES: [&str; 10] = [
    "static-t",
    "static-h",
    "profile-t",
    "profile-h",
    "role-t",
    "role-h",
    "cog-t",
    "cog-h",
    "guest",
    "vend",
];

/// Every probe kind for one identity and MQTT version: (name, action, expect, keys).
fn canaries(identity: &str, version: &str) -> String {
    let v = version.replace('.', "");
    let cases: [(&str, &str, &str, &str); 16] = [
        (
            "connect-other",
            "connect",
            "deny",
            "client_id = \"other-lamp-${canary}\"",
        ),
        (
            "connect-own",
            "connect",
            "allow",
            "client_id = \"dev-own-${identity}-${canary}\"",
        ),
        (
            "sub-other",
            "subscribe",
            "deny",
            "topic_filter = \"devices/other-lamp/#\"",
        ),
        (
            "sub-own",
            "subscribe",
            "allow",
            "topic_filter = \"devices/dev-lamp/#\"",
        ),
        (
            "pub-other",
            "publish",
            "deny",
            "topic = \"devices/other-lamp/cmd\"\nwitness = \"ops\"",
        ),
        (
            "pub-own",
            "publish",
            "allow",
            "topic = \"devices/dev-lamp/cmd\"\nwitness = \"ops\"",
        ),
        (
            "pub0-other",
            "publish",
            "deny",
            "topic = \"devices/other-lamp/cmd\"\nwitness = \"ops\"\nqos = 0",
        ),
        (
            "recv-other",
            "receive",
            "deny",
            "topic = \"devices/other-lamp/telemetry\"\nwitness = \"ops\"",
        ),
        (
            "recv-own",
            "receive",
            "allow",
            "topic = \"devices/dev-lamp/telemetry\"\nwitness = \"ops\"",
        ),
        (
            "retain-other",
            "retain",
            "deny",
            "topic = \"devices/other-lamp/state\"",
        ),
        (
            "retain-own",
            "retain",
            "allow",
            "topic = \"devices/dev-lamp/state\"",
        ),
        (
            "shget-other",
            "shadow-get",
            "deny",
            "thing = \"other-lamp\"",
        ),
        ("shget-own", "shadow-get", "allow", "thing = \"dev-lamp\""),
        (
            "shupd-other",
            "shadow-update",
            "deny",
            "thing = \"other-lamp\"",
        ),
        (
            "shupd-own",
            "shadow-update",
            "allow",
            "thing = \"dev-lamp\"",
        ),
        (
            "shdel-other",
            "shadow-delete",
            "deny",
            "thing = \"other-lamp\"",
        ),
    ];
    let mut out = String::new();
    for (name, action, expect, extra) in cases {
        out.push_str(&format!(
            "\n[[canary]]\nname = \"{identity}-{name}-v{v}\"\nidentity = \"{identity}\"\naction = \"{action}\"\nexpect = \"{expect}\"\nmqtt_version = \"{version}\"\n{extra}\n"
        ));
    }
    out
}

fn env() -> Env {
    Env::isolated([
        ("OPS_KEY", "AKIALABOPS0000000001"),
        ("OPS_SECRET", "lab-secret-ops"),
        ("DEV_T_KEY", "AKIALABDEVT000000001"),
        ("DEV_T_SECRET", "lab-secret-dev-t"),
        ("DEV_H_KEY", "AKIALABDEVH000000001"),
        ("DEV_H_SECRET", "lab-secret-dev-h"),
        ("COG_T_PASSWORD", "pw-cog-t"),
        ("COG_H_PASSWORD", "pw-cog-h"),
        ("VEN_PASSWORD", "pw-ven"),
    ])
}

fn daemon(lab: &iot_canary::lab::RunningLab, dir: &Path) -> Daemon {
    let mut text = format!(
        r#"[target]
region = "us-east-1"
endpoint = "{mqtt}"
ca_file = "{ca}"
client_id = "dev-${{identity}}-${{canary}}"

[endpoints]
sts = "{sts}"
cognito_identity = "{ci}"
cognito_idp = "{cidp}"

[schedule]
interval = "60s"
timeout = "10s"
concurrency = 24
# the lab enforces AWS's 1 CONNECT/s per client id; the daemon paces to match
connect_interval = "1s"
delivery_grace = "700ms"
"#,
        mqtt = lab.endpoints.mqtt,
        ca = lab.endpoints.ca_file,
        sts = lab.endpoints.sts,
        ci = lab.endpoints.cognito_identity,
        cidp = lab.endpoints.cognito_idp,
    );
    text.push_str(&identities_toml(dir).replace("VENDING_URL", &lab.endpoints.vending));
    for id in IDENTITIES {
        for version in ["5", "3.1.1"] {
            text.push_str(&canaries(id, version));
        }
    }
    let cfg = config::parse(Path::new("matrix.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let endpoint = daemon::endpoint(&cfg).expect("CA readable");
    let ids = identities::build(&cfg, env()).expect("identities build");
    Daemon::new(std::sync::Arc::new(cfg), endpoint, ids, Shard::ALL)
}

async fn round(d: &Daemon, only: Option<&str>) -> Vec<CanaryReport> {
    tokio::time::timeout(WAIT, d.round(only, &|_| {}))
        .await
        .expect("round finishes")
}

fn of(reports: &[CanaryReport], identity: &str) -> Vec<CanaryReport> {
    reports
        .iter()
        .filter(|r| r.identity == identity)
        .cloned()
        .collect()
}

/// Tight: 32 verdicts, all ok; 3.1.1 denials rest on a later control, v5 ones on explicit
/// codes; exit 0.
fn assert_tight(identity: &str, rs: &[CanaryReport]) {
    let table = report::table(rs);
    assert_eq!(rs.len(), 32, "{identity}\n{table}");
    for r in rs {
        assert_eq!(r.standing, Standing::Ok, "{}\n{table}", r.canary);
        if r.expect == Expect::Deny {
            assert_eq!(r.verdict, Verdict::Denied, "{}\n{table}", r.canary);
            let confirmed = r
                .evidence
                .steps
                .iter()
                .any(|s| s.what.starts_with("denial confirmed"));
            let obs = &r.evidence.observation;
            if r.canary.ends_with("-v311") {
                assert!(confirmed, "{}: {obs:?}", r.canary);
            } else {
                assert!(
                    matches!(
                        obs,
                        Observation::Connack { code: 0x87 }
                            | Observation::Suback { code: 0x87 }
                            | Observation::Puback { code: 0x87 }
                            | Observation::ServerDisconnect { code: 0x87, .. }
                            | Observation::NotDelivered
                    ),
                    "{}: {obs:?}",
                    r.canary
                );
            }
        }
    }
    assert_eq!(report::exit_of(rs), Exit::Ok, "{identity}\n{table}");
}

/// Hole: every deny canary a breach with evidence, every control ok; exit 1; the JSON report
/// names the receive canary and shows the delivered nonce.
fn assert_hole(identity: &str, rs: &[CanaryReport]) {
    let table = report::table(rs);
    assert_eq!(rs.len(), 32, "{identity}\n{table}");
    for r in rs {
        let want = if r.expect == Expect::Deny {
            Standing::Breach
        } else {
            Standing::Ok
        };
        assert_eq!(r.standing, want, "{}\n{table}", r.canary);
        assert_eq!(r.verdict, Verdict::Allowed, "{}\n{table}", r.canary);
    }
    assert_eq!(report::exit_of(rs), Exit::Breach);
    let json: serde_json::Value = serde_json::from_str(&report::json(rs)).unwrap();
    assert_eq!(json["exit_code"], 1);
    for v in ["5", "311"] {
        let name = format!("{identity}-recv-other-v{v}");
        let recv = json["canaries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["canary"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} in the JSON report"));
        assert_eq!(recv["standing"], "breach");
        assert_eq!(recv["evidence"]["observation"]["kind"], "delivered");
        assert!(
            recv["evidence"]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["what"].as_str().unwrap().contains("received the nonce")),
            "{recv:#}"
        );
        let name = format!("{identity}-pub0-other-v{v}");
        let publ = json["canaries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["canary"] == name.as_str())
            .unwrap();
        assert_eq!(
            publ["evidence"]["observation"]["kind"], "delivered",
            "{publ:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_probe_kind_by_mqtt_version_by_identity_kind() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(&scenario(), dir.path()).await;
    let d = daemon(&lab, dir.path());
    let started = std::time::Instant::now();

    // Round 1: every identity; `-t`, guest and vend are tight, `-h` have the hole.
    let reports = round(&d, None).await;
    assert_eq!(reports.len(), 320, "{}", report::table(&reports));
    for id in ["static-t", "profile-t", "role-t", "cog-t", "guest", "vend"] {
        assert_tight(id, &of(&reports, id));
    }
    for id in ["static-h", "profile-h", "role-h", "cog-h"] {
        assert_hole(id, &of(&reports, id));
    }
    assert_eq!(report::exit_of(&reports), Exit::Breach);

    // Credential metrics come from each identity's cache: expiring kinds show their expiry,
    // static keys 0, and no failures anywhere.
    let metrics = iot_canary::render::metrics::render(&d.config, &d.store.snapshot());
    let expiry = |id: &str| -> f64 {
        let key = format!("iot_canary_credentials_expiry_timestamp_seconds{{identity=\"{id}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .unwrap_or_else(|| panic!("{key}"))
            .parse()
            .unwrap()
    };
    for id in ["role-t", "cog-t", "guest", "vend"] {
        assert!(expiry(id) > 1.0e9, "{id}: {}", expiry(id));
    }
    assert_eq!(expiry("static-t"), 0.0);
    assert_eq!(expiry("profile-t"), 0.0);
    for id in IDENTITIES {
        for reason in iot_canary::identity::FailureReason::ALL {
            let line = format!(
                "iot_canary_credential_failures_total{{identity=\"{id}\",reason=\"{reason}\"}} 0"
            );
            assert!(metrics.contains(&line), "{line}");
        }
    }

    // Round 2: open the hole for the guest role and the vending role through the admin API.
    put_policy(&lab, "Guest", HOLE).await;
    put_policy(&lab, "Vend", HOLE).await;
    let (guest, vend) = tokio::join!(round(&d, Some("guest-*")), round(&d, Some("vend-*")));
    assert_hole("guest", &guest);
    assert_hole("vend", &vend);
    eprintln!(
        "matrix: {} verdicts in {:.1}s",
        reports.len() + guest.len() + vend.len(),
        started.elapsed().as_secs_f64()
    );
    d.pool.close_all().await;
    lab.shutdown().await;
}
