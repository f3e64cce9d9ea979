//! CloudFormation templates pass cfn-lint, their IAM roles pass parliament, and the policy-change
//! trigger's event patterns match the sample events (all from PyPI, in the venv that
//! scripts/test-deps.sh creates).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn venv_bin(name: &str) -> PathBuf {
    let p = root().join("target/test-tools/venv/bin").join(name);
    assert!(
        p.exists(),
        "{} missing: run scripts/test-deps.sh",
        p.display()
    );
    p
}

fn run(cmd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{} not runnable: {e}", cmd.display()))
}

#[test]
fn templates_pass_cfn_lint() {
    let out = run(
        &venv_bin("cfn-lint"),
        &[
            "deploy/ecs/iot-canary.yaml",
            "deploy/cloudformation/canary-principals.yaml",
            "deploy/cloudformation/policy-change-trigger.yaml",
            "deploy/cloudformation/policy-change-trigger-us-east-1.yaml",
        ],
    );
    assert!(
        out.status.success(),
        "cfn-lint findings:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn task_role_passes_parliament_and_has_no_iot_actions() {
    let out = run(&venv_bin("python"), &["deploy/ecs/lint_task_role.py"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "parliament findings: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json report");
    assert_eq!(report["actions"], serde_json::json!(["sts:AssumeRole"]));
}

/// The policy-change trigger's EventBridge patterns against sample CloudTrail events, with
/// moto's EventBridge matcher (tests/python/test_policy_change_events.py).
#[test]
fn policy_change_patterns_match_the_sample_events() {
    let out = run(
        &venv_bin("python"),
        &[
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/python/test_policy_change_events.py",
        ],
    );
    assert!(
        out.status.success(),
        "pytest:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
