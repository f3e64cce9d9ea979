//! CloudFormation templates pass cfn-lint, their IAM roles pass parliament, and the policy-change
//! trigger's event patterns match the sample events (all from PyPI, in the venv that
//! scripts/test-deps.sh creates).

use std::process::Command;

use iot_canary_testkit::process::output_ok;
use iot_canary_testkit::tools::venv_bin;

/// A program of the test venv, run in the repository root; it must succeed. Its stdout.
fn run(program: &str, args: &[&str], what: &str) -> String {
    let mut cmd = Command::new(venv_bin(program));
    cmd.args(args).current_dir(crate::support::repo(""));
    output_ok(&mut cmd, what)
}

#[test]
fn templates_pass_cfn_lint() {
    run(
        "cfn-lint",
        &[
            "deploy/ecs/iot-canary.yaml",
            "deploy/cloudformation/canary-principals.yaml",
            "deploy/cloudformation/policy-change-trigger.yaml",
            "deploy/cloudformation/policy-change-trigger-us-east-1.yaml",
        ],
        "cfn-lint (findings below)",
    );
}

#[test]
fn task_role_passes_parliament_and_has_no_iot_actions() {
    let stdout = run(
        "python",
        &["deploy/ecs/lint_task_role.py"],
        "parliament (findings below)",
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json report");
    assert_eq!(report["actions"], serde_json::json!(["sts:AssumeRole"]));
}

/// The policy-change trigger's EventBridge patterns against sample CloudTrail events, with
/// moto's EventBridge matcher (tests/python/test_policy_change_events.py).
#[test]
fn policy_change_patterns_match_the_sample_events() {
    run(
        "python",
        &[
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/python/test_policy_change_events.py",
        ],
        "pytest",
    );
}
