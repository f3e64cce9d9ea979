//! The Prometheus alerting rules are checked and unit-tested with the real `promtool`
//! (Debian package `prometheus`, installed by scripts/test-deps.sh).

use std::path::Path;
use std::process::Command;

fn promtool(args: &[&str]) -> std::process::Output {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    match Command::new("promtool")
        .args(args)
        .current_dir(&dir)
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!("promtool not runnable ({e}); run scripts/test-deps.sh"),
    }
}

#[test]
fn rules_file_is_valid() {
    let out = promtool(&["check", "rules", "iot-canary-rules.yml"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "promtool check rules failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("SUCCESS: 9 rules found"),
        "unexpected promtool output: {text}"
    );
}

#[test]
fn rules_unit_tests_pass() {
    let out = promtool(&["test", "rules", "iot-canary-rules.test.yml"]);
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
