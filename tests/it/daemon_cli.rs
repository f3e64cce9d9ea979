//! The built binary against the in-process lab: `once` report formats (JUnit XML, JSON) and
//! exit codes, `check` errors and `check --credentials`, `--only`, `--shard I/N`, and
//! `--settle` riding out a policy change that the lab propagates with a delay.

use iot_canary_testkit::process::output_ok;
use iot_canary_testkit::{fixture_with, report_canary, write_file};
use std::collections::BTreeSet;
use std::path::PathBuf;

use iot_canary_lab::RunningLab;
use iot_canary_testkit::config::{lab_target, own_lamp_controls, static_identity};
use iot_canary_testkit::lab::{self, Admin};
use iot_canary_testkit::scenario::Scenario;
use iot_canary_testkit::{HOLE, tools};

use crate::support::{Run, SECRETS, canary, leaky_world, run_bin};

/// The dev-lamp world with dev on its own lamp's topics, plus `leaky` (every IoT action) and
/// a role `DevRole` (dev's policy) that ops may assume.
fn scenario() -> Scenario {
    leaky_world().role("DevRole", &["Dev"], &["ops"])
}

fn config_text(lab: &RunningLab) -> String {
    let mut t = lab_target(lab, "dev-${identity}-${shard}-${canary}")
        + r#"
[schedule]
timeout = "8s"
connect_interval = "1s"
delivery_grace = "500ms"
"#;
    for (name, key) in [("ops", "OPS"), ("dev", "DEV"), ("leaky", "LEAKY")] {
        t.push_str(&static_identity(name, key));
    }
    for who in ["dev", "leaky"] {
        t.push_str(&fixture_with("configs/cli-canaries.toml", &[("who", who)]));
    }
    t
}

struct Setup {
    lab: RunningLab,
    dir: tempfile::TempDir,
    config: PathBuf,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab::start_tls(&scenario(), dir.path()).await;
    let config = write_file(dir.path(), "canaries.toml", &config_text(&lab));
    Setup { lab, dir, config }
}

async fn iot_canary(s: &Setup, args: &[&str]) -> Run {
    let c = s.config.to_str().unwrap();
    let mut all = vec![args[0], "-c", c];
    all.extend_from_slice(&args[1..]);
    run_bin(&all, s.dir.path(), &SECRETS).await
}

fn json_names(run: &Run) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr));
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["canary"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_junit_is_valid_xml_with_a_failure_per_breach() {
    let s = setup().await;
    let out = s.dir.path().join("canary.xml");
    let run = iot_canary(
        &s,
        &[
            "once",
            "--format",
            "junit",
            "--output",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    // Parsed by a real XML parser: testcase name -> has a <failure>.
    let script = r#"
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = {c.get("name"): c.find("failure") is not None for c in root.iter("testcase")}
print(json.dumps({"root": root.tag, "cases": cases}))
"#;
    let mut py = std::process::Command::new(tools::python());
    py.args(["-c", script, out.to_str().unwrap()]);
    let parsed = output_ok(&mut py, "parsing the JUnit XML (not valid XML?)");
    let v: serde_json::Value = serde_json::from_str(&parsed).unwrap();
    assert!(v["root"] == "testsuites" || v["root"] == "testsuite", "{v}");
    let cases = v["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 8, "{v}");
    let failing: BTreeSet<&str> = cases
        .iter()
        .filter(|(_, f)| f.as_bool().unwrap())
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        failing,
        BTreeSet::from(["leaky-other-sub", "leaky-other-recv", "leaky-other-pub"]),
        "{v}"
    );
    s.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_json_names_breaches_with_evidence_and_exits_1() {
    let s = setup().await;
    let run = iot_canary(&s, &["once", "--format", "json"]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["exit_code"], 1);
    let recv = report_canary(&v, "leaky-other-recv");
    assert_eq!(recv["standing"], "breach");
    assert_eq!(recv["evidence"]["observation"]["kind"], "delivered");
    let tight = report_canary(&v, "dev-other-sub");
    assert_eq!(tight["verdict"], "denied");
    assert_eq!(tight["evidence"]["observation"]["code"], 0x87);
    // One structured event per verdict on stderr, never a secret.
    let events: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["message"] == "verdict")
        .collect();
    assert_eq!(events.len(), 8, "{}", run.stderr);
    let e = events
        .iter()
        .find(|e| e["canary"] == "leaky-other-recv")
        .unwrap();
    for (k, want) in [
        ("identity", "leaky"),
        ("action", "receive"),
        ("expect", "deny"),
        ("verdict", "allowed"),
        ("standing", "breach"),
    ] {
        assert_eq!(e[k], want, "{e}");
    }
    assert!(e["evidence"].as_str().unwrap().contains("delivered"), "{e}");
    for (_, secret) in SECRETS.iter().filter(|(k, _)| k.ends_with("SECRET")) {
        assert!(!run.stderr.contains(secret) && !run.stdout.contains(secret));
    }
    s.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_bad_config_exits_3_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_file(
        dir.path(),
        "bad.toml",
        "[target]\nregion = \"us-east-1\"\nendpoint = \"x.example\"\n\n[schedule]\ninterval = \"soon\"\n",
    );
    let run = run_bin(&["check", "-c", bad.to_str().unwrap()], dir.path(), &[]).await;
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let msg = &run.stderr;
    assert!(msg.contains("bad.toml:6:"), "file:line in: {msg}");
    assert!(msg.contains("interval"), "key in: {msg}");

    let unknown = write_file(
        dir.path(),
        "unknown.toml",
        "[target]\nregion = \"us-east-1\"\nendpoint = \"x.example\"\nmqtt_versoin = \"5\"\n",
    );
    let run = run_bin(&["check", "-c", unknown.to_str().unwrap()], dir.path(), &[]).await;
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("unknown.toml:4:"), "{}", run.stderr);
    assert!(run.stderr.contains("mqtt_versoin"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_credentials_fetches_each_identity_and_reports_without_secrets() {
    let s = setup().await;
    let mut text = std::fs::read_to_string(&s.config).unwrap();
    text.push_str(
        r#"
[[identity]]
name = "role"
kind = "assume-role"
role_arn = "arn:aws:iam::123456789012:role/DevRole"
session_name = "canary-role"
source = "ops"

[[identity]]
name = "broken"
kind = "static"
access_key_id_env = "NO_SUCH_VARIABLE_FOR_IOT_CANARY"
secret_access_key_env = "DEV_SECRET"
"#,
    );
    text.push_str(&own_lamp_controls(&["role", "broken"]));
    std::fs::write(&s.config, &text).unwrap();
    // An unset variable is caught offline, before any credential is fetched: exit 3, named.
    let run = iot_canary(&s, &["check", "--credentials"]).await;
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("identity `broken`")
            && run
                .stderr
                .contains("NO_SUCH_VARIABLE_FOR_IOT_CANARY` is not set"),
        "{}",
        run.stderr
    );

    // With the variable named right: every identity is fetched and verified, exit 0.
    let fixed = text.replace("NO_SUCH_VARIABLE_FOR_IOT_CANARY", "DEV_KEY");
    std::fs::write(&s.config, fixed).unwrap();
    let run = iot_canary(&s, &["check", "--credentials"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let line = |who: &str| -> String {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("identity {who} ")))
            .unwrap_or_else(|| panic!("no line for {who}:\n{}", run.stdout))
            .to_string()
    };
    assert!(line("ops").contains("(static): ok"), "{}", line("ops"));
    assert!(line("ops").contains("never expires"), "{}", line("ops"));
    assert!(
        line("role").contains("(assume-role): ok"),
        "{}",
        line("role")
    );
    assert!(line("role").contains("expires 20"), "{}", line("role"));
    assert!(
        line("broken").contains("(static): ok"),
        "{}",
        line("broken")
    );
    for (_, secret) in SECRETS.iter().filter(|(k, _)| k.ends_with("SECRET")) {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    }
    assert!(
        !run.stdout.contains("AKIALABOPS0000000001"),
        "{}",
        run.stdout
    );
    s.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_and_shards_select_canaries() {
    let s = setup().await;
    // --only: the matching canaries plus their identity's control.
    let run = iot_canary(&s, &["once", "--format", "json", "--only", "dev-other-s*"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(json_names(&run), ["dev-own", "dev-other-sub"]);

    // Two shards: together every canary exactly once.
    let (a, b) = tokio::join!(
        iot_canary(&s, &["once", "--format", "json", "--shard", "0/2"]),
        iot_canary(&s, &["once", "--format", "json", "--shard", "1/2"]),
    );
    let (a, b) = (json_names(&a), json_names(&b));
    assert!(!a.is_empty() && !b.is_empty(), "{a:?} {b:?}");
    let sa: BTreeSet<_> = a.iter().cloned().collect();
    let sb: BTreeSet<_> = b.iter().cloned().collect();
    assert!(sa.is_disjoint(&sb), "overlap: {a:?} {b:?}");
    let all: BTreeSet<String> = sa.union(&sb).cloned().collect();
    let want: BTreeSet<String> = [
        "dev-own",
        "dev-other-sub",
        "dev-other-recv",
        "dev-other-pub",
        "leaky-own",
        "leaky-other-sub",
        "leaky-other-recv",
        "leaky-other-pub",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(all, want);
    let bad = iot_canary(&s, &["once", "--shard", "2/2"]).await;
    assert_eq!(bad.code, 3, "{}", bad.stderr);

    // Sharded replicas sharing control client ids would take over each other's connections:
    // a template without ${shard} is a usage error under --shard.
    let text = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("-${shard}", "");
    let unsharded = s.dir.path().join("unsharded.toml");
    std::fs::write(&unsharded, text).unwrap();
    let u = unsharded.to_str().unwrap();
    let clash = run_bin(&["once", "-c", u, "--shard", "0/2"], s.dir.path(), &SECRETS).await;
    assert_eq!(clash.code, 3, "{}\n{}", clash.stdout, clash.stderr);
    assert!(clash.stderr.contains("${shard}"), "{}", clash.stderr);
    let single = run_bin(
        &["once", "-c", u, "--format", "json"],
        s.dir.path(),
        &SECRETS,
    )
    .await;
    // Exit 1: the `leaky` identity's hole; what matters is that it is not a usage error.
    assert_eq!(
        single.code, 1,
        "unsharded runs need no ${{shard}}: {}",
        single.stderr
    );
    s.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settle_rides_out_a_delayed_policy_change() {
    let s = setup().await;
    let admin = Admin::of(&s.lab);
    let (status, body) = admin
        .request("PUT", "/propagation-delay", r#"{"seconds": 6}"#)
        .await;
    assert_eq!(status, 204, "{body}");
    admin.put_policy("Dev", HOLE).await;
    // The change lands 6 s from now; `--settle 48s` pauses 8 s between rounds, so the first
    // round still sees the old policy and later ones the hole. Rounds 2 and 3 (8 s, 16 s)
    // agree before `--settle-min 20s`, so a fourth round runs before the gate may stop.
    let run = iot_canary(
        &s,
        &[
            "once",
            "--format",
            "json",
            "--only",
            "dev-other-sub",
            "--settle",
            "48s",
            "--settle-min",
            "20s",
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let verdicts: Vec<String> = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["message"] == "verdict" && e["canary"] == "dev-other-sub")
        .map(|e| e["verdict"].as_str().unwrap().to_string())
        .collect();
    assert!(
        verdicts.len() >= 4,
        "agreement before --settle-min: {verdicts:?}"
    );
    assert_eq!(
        verdicts[0], "denied",
        "first round saw the old policy: {verdicts:?}"
    );
    let n = verdicts.len();
    assert_eq!(&verdicts[n - 2..], ["allowed", "allowed"], "{verdicts:?}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let r = report_canary(&v, "dev-other-sub");
    assert_eq!(r["standing"], "breach");
    s.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_warns_about_secret_files_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = write_file(dir.path(), "dev-secret", "not-printed-secret\n");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = write_file(
        dir.path(),
        "canaries.toml",
        &(r#"[target]
region = "us-east-1"
endpoint = "x.example"

[[identity]]
name = "dev"
kind = "static"
access_key_id_env = "DEV_KEY"
secret_access_key_file = "dev-secret"
"#
        .to_string()
            + &canary("dev-own", "devices/dev-lamp/#", true)),
    );
    let args = ["check", "-c", cfg.to_str().unwrap()];
    let key = [("DEV_KEY", "AKIAEXAMPLE000000001")];
    let check = || run_bin(&args, dir.path(), &key);
    let run = check().await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let warning = run
        .stdout
        .lines()
        .find(|l| l.starts_with("warning:"))
        .unwrap_or_else(|| panic!("no warning:\n{}", run.stdout));
    assert!(warning.contains("secret_access_key_file"), "{warning}");
    assert!(!run.stdout.contains("not-printed-secret"));
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = check().await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("warning:"), "{}", run.stdout);
}
