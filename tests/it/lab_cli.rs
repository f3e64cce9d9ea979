//! `iot-canary lab` as a user starts it: one ready line naming every endpoint, exit 0 on
//! SIGTERM, and a scenario error that names file, line and key.

use iot_canary_testkit::process::read_ready_line;
use iot_canary_testkit::scenario::Scenario;

use crate::support::BIN;

#[test]
fn cli_prints_one_ready_line_and_exits_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let text = Scenario::fixture("alice").text();
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, &text).unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["lab", "--scenario"])
        .arg(&scenario)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = read_ready_line(&mut child);
    for key in [
        "mqtt",
        "ca_file",
        "sts",
        "cognito_identity",
        "cognito_idp",
        "vending",
        "admin",
    ] {
        assert!(ready[key].is_string(), "missing {key}: {ready}");
    }
    assert!(
        ready["mqtt"]
            .as_str()
            .unwrap()
            .starts_with("wss://127.0.0.1:")
    );
    assert!(std::path::Path::new(ready["ca_file"].as_str().unwrap()).exists());
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));

    // A bad scenario exits 3 and names file, line and key.
    std::fs::write(&scenario, format!("{text}\nbogus = 1\n")).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["lab", "--scenario"])
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("s.toml:") && err.contains("bogus"), "{err}");
}
