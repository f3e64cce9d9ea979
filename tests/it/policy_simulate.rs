//! `iot-canary simulate` end to end: the repo's canaries.toml against the demo lab scenario
//! (which has one deliberate hole: bob's wildcard filter past a Deny), a fixed copy of it, and
//! `--baseline`; and the pull-request gate over policy sources (`--ownership --policies
//! --baseline`).

use iot_canary_testkit::assert_contains;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn demo_scenario() -> PathBuf {
    root().join("crates/lab/src/demo/scenario.toml")
}

fn simulate(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(crate::support::BIN)
        .arg("simulate")
        .arg("-c")
        .arg(root().join("canaries.toml"))
        .args(args)
        .output()
        .expect("run iot-canary simulate")
}

/// The demo hole: a Deny on alice-thermostat's topic filters only, past which bob's fleet
/// filter `devices/+/telemetry` receives her telemetry.
const HOLE: &str = r#"{"Sid":"NotAliceThermostat","Effect":"Deny","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/devices/alice-thermostat/*"}"#;
const FIXED: &str = r#"{"Sid":"NotAliceThermostat","Effect":"Deny","Action":["iot:Subscribe","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/devices/alice-thermostat/*","arn:aws:iot:us-east-1:123456789012:topic/devices/alice-thermostat/*"]}"#;
const BREACH: &str = "bob-cannot-read-alice-thermostat-via-wildcard";
/// The second demo hole: the authenticated role's attach-at-sign-in `iot:AttachPolicy` on `*`.
const ATTACH: &str = r#"  {"Sid":"AttachAtSignIn","Effect":"Allow","Action":"iot:AttachPolicy","Resource":"*"},
"#;
const ATTACH_BREACH: &str = "bob-cannot-attach-policies-to-himself";

/// The demo scenario with the Deny extended to iot:Receive on the thermostat's topics and the
/// authenticated role's AttachAtSignIn statement gone.
fn fixed_scenario(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(demo_scenario()).expect("demo scenario");
    assert!(text.contains(HOLE), "the demo hole moved");
    assert!(text.contains(ATTACH), "the attach-at-sign-in hole moved");
    let path = dir.join("fixed.toml");
    std::fs::write(&path, text.replace(HOLE, FIXED).replace(ATTACH, ""))
        .expect("write fixed scenario");
    path
}

fn out(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn finds_the_demo_hole_as_a_breach() {
    let s = demo_scenario();
    let o = simulate(&["--lab-scenario".as_ref(), s.as_os_str()]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert_contains(
        &text,
        &[
            &format!("BREACH  {BREACH}  (receive by bob)  expect=deny  allowed"),
            "iot:Subscribe devices/+/telemetry: ALLOWED by BobDevices/FleetTelemetryFilter",
            "iot:Receive devices/alice-thermostat/telemetry: ALLOWED by BobDevices/FleetTelemetryReceive",
            &format!("BREACH  {ATTACH_BREACH}  (attach-policy by bob)  expect=deny  allowed"),
            "iot:AttachPolicy us-east-1:",
            "ALLOWED by CognitoAuthIot/AttachAtSignIn",
        ],
    );
    // Controls allowed, other canaries denied: nothing else is flagged.
    assert_contains(
        &text,
        &[
            "ok      bob-can-subscribe-shared-lamp",
            "ok      alice-cannot-connect-as-bob-device",
            "ok      bob-cannot-read-alice-thermostat-telemetry",
            "ok      guest-cannot-read-alice-telemetry",
            "ok      guest-can-read-status-feed",
        ],
    );
    assert!(
        text.lines()
            .last()
            .unwrap_or_default()
            .contains("2 breach, 0 blind"),
        "{text}"
    );
}

#[test]
fn fixed_policies_pass_and_baseline_reports_new_access() {
    let dir = tempfile::tempdir().unwrap();
    let fixed = fixed_scenario(dir.path());
    let o = simulate(&["--lab-scenario".as_ref(), fixed.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));

    // Deploying the demo (holey) policies over the fixed ones: the new access is named.
    let demo = demo_scenario();
    let o = simulate(&[
        "--lab-scenario".as_ref(),
        demo.as_os_str(),
        "--baseline".as_ref(),
        fixed.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(
        (&v["schema_version"], &v["command"]),
        (&1.into(), &"simulate".into())
    );
    assert_eq!(v["summary"]["new_access"], 2);
    let new: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["new_access"] == true)
        .map(|r| r["canary"].as_str().unwrap())
        .collect();
    assert_eq!(new, [BREACH, ATTACH_BREACH]);
}

#[test]
fn bad_scenario_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "region = \"us-east-1\"\nacount_id = \"1\"\n").unwrap();
    let o = simulate(&["--lab-scenario".as_ref(), bad.as_os_str()]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("acount_id"),
        "{}",
        out(&o)
    );
}

/// The CI gate of a pull request (docs/generate.md#ci): policy sources bound by an ownership
/// file, the deployed sources as the baseline. A change that opens a cross-tenant path (the
/// guests' status feed widened to `devices/*`) fails with the witness request on stderr.
#[test]
fn policies_gate_fails_a_pull_request_that_opens_a_cross_tenant_path() {
    let world = root().join("crates/audit/tests/fixtures/world");
    let gate = |new: &str, format: &str| {
        Command::new(crate::support::BIN)
            .arg("simulate")
            .arg("--ownership")
            .arg(world.join("ownership.toml"))
            .arg("--policies")
            .args([world.join(new), world.join("witness.json")])
            .arg("--baseline")
            .args([world.join("fleet-before.yaml"), world.join("witness.json")])
            .args(["--format", format])
            .output()
            .expect("run iot-canary simulate")
    };
    let o = gate("fleet-before.yaml", "table");
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("0 breach, 0 blind, 0 new access"),
        "{}",
        out(&o)
    );

    let o = gate("fleet-after.yaml", "json");
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert_contains(
        &String::from_utf8_lossy(&o.stderr),
        &[
            "NEW ACCESS vs baseline: guest-cannot-receive-devices-alice-lamp-via-devices-all: identity `guest`: iot:Subscribe devices/#: ALLOWED by guest-iot/StatusFeed (baseline: IMPLICIT_DENY",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["command"], "simulate");
    assert_eq!(v["exit_code"], 1);
    let new: Vec<&serde_json::Value> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["new_access"] == true)
        .collect();
    assert_eq!(v["summary"]["new_access"], new.len());
    assert!(
        !new.is_empty() && new.iter().all(|r| r["identity"] == "guest"),
        "{new:#?}"
    );
    // The witness request: who, as which client id, what, on which filter and topic.
    let receive = new
        .iter()
        .find(|r| r["action"] == "receive")
        .expect("the receive through devices/#");
    let steps: Vec<(&str, &str, &str)> = receive["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap(),
                c["resource"].as_str().unwrap(),
                c["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(steps[0].0, "iot:Connect");
    assert_eq!(
        steps[1..],
        [
            ("iot:Subscribe", "devices/#", "ALLOWED"),
            ("iot:Receive", "devices/alice-lamp", "ALLOWED")
        ]
    );
}
