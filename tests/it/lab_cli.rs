//! `iot-canary lab` as a user starts it: one ready line naming every endpoint, exit 0 on
//! SIGTERM, a scenario error that names file, line and key, and its CA in a private directory
//! (removed on exit) or exactly at `--ca-out`.

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
        "iot_data",
        "iot",
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

/// Starts `iot-canary lab` with `extra` args and TMPDIR=`tmp`; returns the child and its ready
/// line.
fn start_lab(
    scenario: &std::path::Path,
    tmp: &std::path::Path,
    extra: &[&std::ffi::OsStr],
) -> (std::process::Child, serde_json::Value) {
    let mut child = std::process::Command::new(BIN)
        .args(["lab", "--scenario"])
        .arg(scenario)
        .args(extra)
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = read_ready_line(&mut child);
    (child, ready)
}

fn stop(child: &mut std::process::Child, signal: &str) {
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// The CA is no longer written to a predictable /tmp path (`iot-canary-lab-ca-<port>.pem`,
/// following a planted symlink and never removed): by default it lives in a private directory
/// (0700, random name) that the lab removes on SIGTERM and SIGINT; `--ca-out PATH` keeps it at
/// PATH, replacing a symlink planted there instead of writing through it.
#[test]
fn the_ca_is_private_and_removed_or_exactly_where_asked() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, Scenario::fixture("alice").text()).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();

    for signal in ["-TERM", "-INT"] {
        let (mut child, ready) = start_lab(&scenario, &tmp, &[]);
        let ca = std::path::PathBuf::from(ready["ca_file"].as_str().unwrap());
        let private = ca.parent().unwrap();
        assert_eq!(private.parent(), Some(tmp.as_path()), "{}", ca.display());
        let mode = std::fs::metadata(private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", private.display());
        let port = ready["mqtt"].as_str().unwrap().rsplit(':').next().unwrap();
        assert!(
            !ca.to_string_lossy()
                .contains(port.trim_end_matches("/mqtt")),
            "{}",
            ca.display()
        );
        assert!(
            std::fs::read_to_string(&ca)
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        stop(&mut child, signal);
        assert!(
            !private.exists(),
            "{signal}: {} left behind",
            private.display()
        );
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    }

    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let out = dir.path().join("lab-ca.pem");
    std::os::unix::fs::symlink(&victim, &out).unwrap();
    let (mut child, ready) = start_lab(&scenario, &tmp, &["--ca-out".as_ref(), out.as_os_str()]);
    assert_eq!(ready["ca_file"].as_str(), out.to_str());
    assert!(!std::fs::symlink_metadata(&out).unwrap().is_symlink());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    stop(&mut child, "-TERM");
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("BEGIN CERTIFICATE"),
        "kept"
    );
}
