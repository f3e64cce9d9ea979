//! The systemd unit: `systemd-analyze verify` accepts it and `systemd-analyze security` rates
//! its exposure at 2.0 or better ("OK").

use std::path::{Path, PathBuf};
use std::process::Command;

fn unit_with_built_binary(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/iot-canary.service");
    let text = std::fs::read_to_string(&src).expect("read unit");
    assert!(
        text.contains("ExecStart=/usr/bin/iot-canary run"),
        "unit must start the daemon in run mode"
    );
    // verify checks that ExecStart exists; point it at the binary cargo built for this test.
    let text = text.replace("/usr/bin/iot-canary", crate::support::BIN);
    let dst = dir.join("iot-canary.service");
    std::fs::write(&dst, text).expect("write unit copy");
    dst
}

fn systemd_analyze(args: &[&str]) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze not runnable ({e}); install Debian package systemd")
        })
}

#[test]
fn unit_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_with_built_binary(dir.path());
    let out = systemd_analyze(&["verify", unit.to_str().expect("utf-8 path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify complained:\n{stderr}"
    );
}

#[test]
fn unit_is_type_notify_with_watchdog_and_reload() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/iot-canary.service"),
    )
    .expect("read unit");
    for needle in [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "DynamicUser=yes",
        "LoadCredential=",
    ] {
        assert!(text.contains(needle), "unit lacks {needle}");
    }
}

#[test]
fn unit_exposure_is_ok_or_better() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_with_built_binary(dir.path());
    let out = systemd_analyze(&[
        "security",
        "--offline=yes",
        "--no-pager",
        unit.to_str().expect("utf-8 path"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line in:\n{text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("cannot parse exposure from {line:?}"));
    assert!(score <= 2.0, "exposure {score} > 2.0: {line}");
    assert!(
        line.contains("OK") || line.contains("SAFE"),
        "rating not OK/SAFE: {line}"
    );
}
