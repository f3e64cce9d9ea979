//! `iot-canary audit` as CI runs it: exit codes, the JSON envelope, SARIF to a file,
//! suppressions, CloudFormation parameters and session templates.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    format!("crates/audit/tests/fixtures/{name}")
}

fn audit(args: &[&str]) -> Output {
    Command::new(crate::support::BIN)
        .arg("audit")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("iot-canary runs")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("audit-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn clean_policy_exits_0_and_findings_exit_1_with_the_witness() {
    let ok = audit(&[&fixture("device-defender/misconfigured.good.json")]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let bad = audit(&["--format", "json", &fixture("cloudformation/fleet.yaml")]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(
        (
            v["schema_version"].as_u64(),
            v["tool"].as_str(),
            v["command"].as_str()
        ),
        (Some(1), Some("iot-canary"), Some("audit"))
    );
    let f = &v["results"][1];
    assert_eq!(f["check"], "IOT_POLICY_OVERLY_PERMISSIVE_CHECK");
    assert_eq!(f["location"]["file"], fixture("cloudformation/fleet.yaml"));
    assert_eq!(f["witness"][0]["decision"], "ALLOWED");
}

#[test]
fn bad_input_exits_3_naming_file_line_and_key() {
    let out = audit(&[&fixture(
        "device-defender/iot-policy-permissive.subscribe.good.verbatim.json",
    )]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("verbatim.json:9: not valid JSON"), "{err}");
    let out = audit(&[
        "--parameter",
        "Nope=1",
        &fixture("cloudformation/fleet.yaml"),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no parameter Nope"));
    let s = tmp("bad-suppressions.toml");
    std::fs::write(&s, "[[suppress]]\ncheck = \"IOT_POLICY_OVERLY_PERMISSIVE_CHECK\"\npolicy = \"p\"\nreason = \"r\"\nwhy = \"x\"\n").unwrap();
    let out = audit(&[
        "--suppressions",
        s.to_str().unwrap(),
        &fixture("cloudformation/fleet.yaml"),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad-suppressions.toml:5") && err.contains("why"),
        "{err}"
    );
}

#[test]
fn suppressed_findings_stay_in_sarif_but_not_in_the_exit_code() {
    let s = tmp("suppressions.toml");
    std::fs::write(
        &s,
        "[[suppress]]\ncheck = \"IOT_POLICY_OVERLY_PERMISSIVE_CHECK\"\npolicy = \"fleet-device\"\nreason = \"lab devices\"\n\n[[suppress]]\ncheck = \"UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK\"\npolicy = \"GuestRole\"\nstatement = \"Things\"\nreason = \"read-only, prefix-scoped\"\n",
    )
    .unwrap();
    let sarif = tmp("audit.sarif");
    let out = audit(&[
        "--format",
        "sarif",
        "--output",
        sarif.to_str().unwrap(),
        "--suppressions",
        s.to_str().unwrap(),
        &fixture("cloudformation/fleet.yaml"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| r["suppressions"][0]["kind"] == "external")
    );
}

#[test]
fn fail_on_and_nothing_to_audit() {
    let policy = tmp("unknown-action.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publsh","Resource":"arn:aws:iot:us-east-1:123456789012:topic/a"}]}"#,
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    assert_eq!(
        audit(&[p]).status.code(),
        Some(1),
        "medium finding fails at --fail-on low"
    );
    assert_eq!(audit(&["--fail-on", "high", p]).status.code(), Some(0));
    let empty = tmp("empty.yaml");
    std::fs::write(&empty, "Resources:\n  Bucket: {Type: AWS::S3::Bucket}\n").unwrap();
    assert_eq!(audit(&[empty.to_str().unwrap()]).status.code(), Some(2));
}

#[test]
fn session_template_over_the_limit_for_n_devices() {
    let t = tmp("session.json");
    std::fs::write(
        &t,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":["arn:aws:iot:us-east-1:123456789012:topic/d/${device}/*"]}]}"#,
    )
    .unwrap();
    let small = format!("{}:3", t.display());
    assert_eq!(
        audit(&["--session-template", &small]).status.code(),
        Some(0)
    );
    let out = audit(&[
        "--session-template",
        t.to_str().unwrap(),
        "--devices",
        "100",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SESSION_POLICY_SIZE_CHECK"));
}

#[test]
fn lab_scenario_guest_feed_and_vending_template() {
    let out = audit(&[
        "--format",
        "json",
        "--devices",
        "30",
        "--lab-scenario",
        "crates/lab/src/demo/scenario.toml",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = v["results"].as_array().unwrap();
    let guest = findings
        .iter()
        .find(|f| f["check"] == "UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK")
        .expect("the guest role's public status/* feed: not thing-specific");
    assert_eq!(guest["statement"], "PublicStatusFeed");
    // The statement's own line in the demo scenario (the file grows with the demo world).
    let demo =
        std::fs::read_to_string(crate::support::repo("crates/lab/src/demo/scenario.toml")).unwrap();
    let line = demo
        .lines()
        .position(|l| l.contains(r#"{"Sid":"PublicStatusFeed","#))
        .expect("the demo's PublicStatusFeed statement")
        + 1;
    assert_eq!(guest["location"]["line"], line);
    assert!(
        guest["witness"][0]["resource"]
            .as_str()
            .unwrap()
            .ends_with(":topicfilter/status/#")
    );
    let size = findings
        .iter()
        .find(|f| f["check"] == "SESSION_POLICY_SIZE_CHECK")
        .expect("30 things overflow the vending template");
    // The template's line, found rather than pinned: the demo world grows (issue 15 added roles).
    let text =
        std::fs::read_to_string(crate::support::repo("crates/lab/src/demo/scenario.toml")).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("session_policy_template"))
        .expect("the vending template")
        + 1;
    assert_eq!(size["location"]["line"], line);
    assert_eq!(size["size"]["devices"], 30);
}
