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

use std::path::Path;

use iot_canary_core::exit::Exit;
use iot_canary_core::report;
use iot_canary_core::verdict::{Expect, Standing, Verdict};
use iot_canary_daemon::daemon::{CanaryReport, Daemon, identities};
use iot_canary_daemon::identity::Env;
use iot_canary_testkit::config::{identities, lab_target, lamp_canaries, static_identity};
use iot_canary_testkit::lab::{self, Admin};
use iot_canary_testkit::scenario::{DEMO_POOL as POOL, Scenario};
use iot_canary_testkit::{HOLE, WAIT};

use crate::support::{
    assert_bait_delivered, assert_denial_evidence, daemon_with, json_canary, parse,
};

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
    let mut out = identities(&["ops"]);
    for v in ["t", "h"] {
        let up = v.to_uppercase();
        out.push_str(&static_identity(
            &format!("static-{v}"),
            &format!("DEV_{up}"),
        ));
        out.push_str(&format!(
            r#"
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
    out.push_str(&identities(&["guest", "vend"]));
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

/// Every probe kind for one identity and MQTT version (the dev-lamp canaries, named
/// `IDENTITY-NAME-vVERSION`).
fn canaries(identity: &str, version: &str) -> String {
    lamp_canaries(identity, &format!("{identity}-"), version, &[])
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

fn daemon(lab: &iot_canary_lab::RunningLab, dir: &Path) -> Daemon {
    let mut text = lab_target(lab, "dev-${identity}-${canary}")
        + r#"
[schedule]
interval = "60s"
timeout = "10s"
concurrency = 24
# the lab enforces AWS's 1 CONNECT/s per client id; the daemon paces to match
connect_interval = "1s"
delivery_grace = "700ms"
"#;
    text.push_str(&identities_toml(dir).replace("VEND_URL", &lab.endpoints.vending));
    for id in IDENTITIES {
        for version in ["5", "3.1.1"] {
            text.push_str(&canaries(id, version));
        }
    }
    let cfg = parse("matrix.toml", &text);
    let ids = identities::build(&cfg, env()).expect("identities build");
    daemon_with(cfg, ids)
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
            assert_denial_evidence(r, r.canary.ends_with("-v311"));
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
    let json: serde_json::Value = serde_json::from_str(&report::json(
        &report::RunInfo::offline("once", std::time::SystemTime::now()),
        rs,
    ))
    .unwrap();
    assert_eq!(json["exit_code"], 1);
    for v in ["5", "311"] {
        assert_bait_delivered(json_canary(&json, &format!("{identity}-recv-other-v{v}")));
        let publ = json_canary(&json, &format!("{identity}-pub0-other-v{v}"));
        assert_eq!(
            publ["evidence"]["observation"]["kind"], "delivered",
            "{publ:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_probe_kind_by_mqtt_version_by_identity_kind() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab::start_tls(&Scenario::fixture("matrix"), dir.path()).await;
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
    let metrics = iot_canary_core::render::metrics::render(&d.config, &d.store.snapshot());
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
        for reason in iot_canary_daemon::identity::FailureReason::ALL {
            let line = format!(
                "iot_canary_credential_failures_total{{identity=\"{id}\",reason=\"{reason}\"}} 0"
            );
            assert!(metrics.contains(&line), "{line}");
        }
    }

    // Round 2: open the hole for the guest role and the vending role through the admin API.
    Admin::of(&lab).put_policy("Guest", HOLE).await;
    Admin::of(&lab).put_policy("Vend", HOLE).await;
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
