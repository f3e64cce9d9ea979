//! `iot-canary policy test` and `policy size` end to end: the real binary, real files, exit
//! codes and output.

use iot_canary_testkit::{assert_contains, write_file};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(crate::support::BIN)
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy-tests")
}

fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())
        .expect("examples/policy-tests exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    bin().args(args).output().expect("run iot-canary")
}

/// `crates/testkit/fixtures/policy-tests/NAME` (policy test files the CLI must reject).
fn policy_fixture(name: &str) -> PathBuf {
    iot_canary_testkit::fixtures_dir()
        .join("policy-tests")
        .join(name)
}

/// `iot-canary policy SUBCOMMAND FILES...`: (exit code, stdout, stderr).
fn policy(subcommand: &str, files: &[&Path]) -> (Option<i32>, String, String) {
    let out = bin()
        .args(["policy", subcommand])
        .args(files)
        .output()
        .expect("run iot-canary");
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn shipped_examples_all_agree() {
    let files = example_files();
    assert!(files.len() >= 3, "expected the seed-scenario example files");
    let mut args: Vec<&std::ffi::OsStr> = vec!["policy".as_ref(), "test".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let out = run(&args);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert_contains(
        &stdout,
        &[
            "bob subscribes to the lamp alice shares  expect=allow  got=ALLOWED  by=BobDevices/SharedLampRead",
            "got=EXPLICIT_DENY  by=RestrictedByReceive/DenyRestrictedReceive",
            // Cognito's guest scope-down: iot:* survives, sts does not.
            "guest whose role allows iot:* can connect  expect=allow  got=ALLOWED  by=GuestRoleTooBroad/Iot",
            "guest whose role allows sts:AssumeRole cannot assume roles  expect=implicit-deny  got=IMPLICIT_DENY",
            // The demo world's hole, both halves.
            "bob subscribes to the fleet filter devices/+/telemetry  expect=allow  got=ALLOWED  by=BobDevices/FleetTelemetryFilter",
            "bob receives alice-thermostat telemetry on that subscription  expect=allow  got=ALLOWED  by=BobDevices/FleetTelemetryReceive",
        ],
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with("agree, 0 disagree"), "{summary}");
}

/// The demo-hole examples prove the demo world's policies, not copies that drifted.
#[test]
fn demo_hole_example_uses_the_demo_policies() {
    let policies = |path: &Path| -> toml::Table {
        let text = std::fs::read_to_string(path).expect("readable");
        let table: toml::Table = text.parse().expect("TOML");
        table["policies"].as_table().expect("[policies]").clone()
    };
    let demo =
        policies(&Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/lab/src/demo/scenario.toml"));
    for (file, names) in [
        (
            "demo-wildcard-past-deny.toml",
            &["BobDevices", "CognitoAuthIot"][..],
        ),
        (
            "demo-attach-at-sign-in.toml",
            &["BobDevices", "CognitoAuthIot", "FleetOperator"][..],
        ),
    ] {
        let example = policies(&examples().join(file));
        for name in names {
            assert_eq!(
                example[*name], demo[*name],
                "{file}: {name} differs from the demo scenario's"
            );
        }
    }
}

#[test]
fn json_format_reports_each_case() {
    let f = examples().join("documented-traps.toml");
    let out = run(&[
        "policy".as_ref(),
        "test".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        f.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    // The shared report envelope (docs/reports.md).
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["command"], "policy test");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["summary"]["agree"], 7);
    let cases = v["results"].as_array().expect("an array of cases");
    assert_eq!(cases.len(), 7);
    let first = &cases[0];
    assert_eq!(first["decision"], "ALLOWED");
    assert_eq!(first["expect"], "allow");
    assert_eq!(first["agree"], true);
    assert_eq!(first["deciding"]["policy"], "RestrictedByFilter");
    assert_eq!(first["deciding"]["statement"], "#0");
    assert!(first["line"].as_u64().unwrap() > 1);
}

#[test]
fn disagreeing_case_exits_1_and_says_why() {
    // A case that believes a wide-open policy protects bob's plug (line 7: the case).
    let f = policy_fixture("wrong.toml");
    let (code, stdout, _) = policy("test", &[&f]);
    assert_eq!(code, Some(1), "{stdout}");
    assert_contains(
        &stdout,
        &[
            "FAIL",
            "wrong.toml:7",
            "got=ALLOWED  by=Open/Everything",
            "1 cases: 0 agree, 1 disagree",
        ],
    );
}

#[test]
fn bad_file_exits_3_naming_file_line_and_key() {
    // `acton` (line 6) is not a key of a case.
    let f = policy_fixture("typo.toml");
    let good = examples().join("documented-traps.toml");
    let (code, stdout, stderr) = policy("test", &[&good, &f]);
    assert_eq!(code, Some(3), "{stderr}");
    assert_contains(&stderr, &["typo.toml:6:", "acton"]);
    assert!(stdout.is_empty(), "no cases run when a file is bad");

    let missing = policy_fixture("missing.toml");
    assert!(!missing.exists());
    // Each bad file alone: exit 3, and what the error must name.
    let cases: [(PathBuf, &[&str]); 2] = [
        // A bad policy document inside the file: the policy key, its line and the JSON path.
        (
            policy_fixture("badjson.toml"),
            &[
                "badjson.toml:4:",
                "policies.P",
                "$.Statement[0].Condition.StringLikes",
            ],
        ),
        (missing, &["missing.toml"]),
    ];
    for (file, parts) in cases {
        let (code, _, stderr) = policy("test", &[&file]);
        assert_eq!(code, Some(3), "{stderr}");
        assert_contains(&stderr, parts);
    }
}

#[test]
fn policy_size_reports_against_2048() {
    let f = examples().join("bob-session-policy.json");
    let (code, stdout, stderr) = policy("size", &[&f]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("limit 2048: ok"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    let resources: Vec<String> = (0..60)
        .map(|i| format!("arn:aws:iot:us-east-1:123456789012:topic/devices/thing-{i:04}/*"))
        .collect();
    let json = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:Publish", "Resource": resources}],
    })
    .to_string();
    std::fs::write(&big, &json).unwrap();
    let (code, stdout, _) = policy("size", &[&big]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("{} plaintext characters", json.chars().count())),
        "{stdout}"
    );
    assert!(stdout.contains("OVER LIMIT"), "{stdout}");
}

#[test]
fn policy_size_refuses_what_is_not_a_policy_and_flags_unknown_actions() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write_file(
        dir.path(),
        "broken.json",
        "{\"Version\": \"2012-10-17\", \"Statement\": [",
    );
    let (code, stdout, stderr) = policy("size", &[&broken]);
    assert_eq!(code, Some(3), "not \"ok\": {stdout}{stderr}");
    assert!(!stdout.contains("ok"), "{stdout}");
    assert_contains(&stderr, &["broken.json: not a valid policy document"]);

    let typo = write_file(
        dir.path(),
        "typo.json",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Pub","Effect":"Allow","Action":"iot:Publsh","Resource":"*"}]}"#,
    );
    let (code, stdout, stderr) = policy("size", &[&typo]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_contains(
        &stderr,
        &[
            "typo.json: statement Pub: `iot:Publsh` is not an AWS action",
            "did you mean iot:Publish?",
        ],
    );
}
