//! The Prometheus alerting rules are checked and unit-tested with the real `promtool`
//! (Debian package `prometheus`, installed by scripts/test-deps.sh).

use iot_canary_testkit::process::output_ok;
use iot_canary_testkit::tools;

/// `promtool ARGS` in deploy/prometheus, which must succeed; its stdout.
fn promtool(args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(tools::system_bin("promtool"));
    cmd.args(args)
        .current_dir(crate::support::repo("deploy/prometheus"));
    output_ok(&mut cmd, &format!("promtool {}", args.join(" ")))
}

#[test]
fn rules_file_is_valid() {
    let text = promtool(&["check", "rules", "iot-canary-rules.yml"]);
    assert!(
        text.contains("SUCCESS: 9 rules found"),
        "unexpected promtool output: {text}"
    );
}

#[test]
fn rules_unit_tests_pass() {
    promtool(&["test", "rules", "iot-canary-rules.test.yml"]);
}
