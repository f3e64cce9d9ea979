//! `check` performs every offline check (unset variables, unreadable or missing files, session
//! policies with actions AWS does not have, client ids a gate and a daemon would share, client
//! ids the Connect policy refuses with `--lab-scenario`), reads `--config-env`, and
//! `--credentials` verifies every identity with sts:GetCallerIdentity against the lab's STS
//! (static keys are no longer "ok" without a call). Every `init` template passes `check`.

use std::path::Path;

use iot_canary_lab::RunningLab;
use iot_canary_testkit::config::{lab_target, own_lamp_controls, static_identity};
use iot_canary_testkit::lab;
use iot_canary_testkit::scenario::Scenario;
use iot_canary_testkit::{assert_contains, policy, write_file};

use crate::support::{Run, canary, run_bin};

const ENV: [(&str, &str); 4] = [
    ("OPS_KEY", "AKIALABOPS0000000001"),
    ("OPS_SECRET", "lab-secret-ops"),
    ("DEV_KEY", "AKIALABDEV0000000001"),
    ("DEV_SECRET", "lab-secret-dev"),
];

fn scenario() -> Scenario {
    Scenario::fixture("dev-lamp").policy("Dev", &policy("dev-pubsub"))
}

/// dev's control and one deny canary; `client_id` for `[target]`.
fn config(lab: &RunningLab, client_id: &str, extra: &str) -> String {
    lab_target(lab, client_id)
        + &static_identity("ops", "OPS")
        + &static_identity("dev", "DEV")
        + &canary("dev-own", "devices/dev-lamp/#", true)
        + &canary("dev-other", "devices/other-lamp/#", false)
        + extra
}

async fn check(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    let env: Vec<(&str, &str)> = ENV.iter().chain(env).copied().collect();
    run_bin(&all, dir, &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_checks_catch_what_would_only_fail_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab::start_tls(&scenario(), dir.path()).await;
    let broken = config(&lab, "dev-${run}-${canary}", "")
        .replace(
            "secret_access_key_env = \"OPS_SECRET\"",
            "secret_access_key_file = \"missing-secret\"",
        )
        .replace(
            "access_key_id_env = \"DEV_KEY\"",
            "access_key_id_env = \"UNSET_KEY\"",
        )
        + r#"
[[identity]]
name = "role"
kind = "assume-role"
role_arn = "arn:aws:iam::123456789012:role/DevRole"
session_name = "dev-1"
source = "ops"
session_policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publsh","Resource":"*"}]}'
"# + &own_lamp_controls(&["role"]);
    let cfg = write_file(dir.path(), "broken.toml", &broken);
    let run = check(dir.path(), &["-c", cfg.to_str().unwrap()], &[]).await;
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert_contains(
        &run.stderr,
        &[
            "identity `ops` (line",
            "`secret_access_key_file`: cannot read secret file",
            "missing-secret",
            "identity `dev` (line",
            "`access_key_id_env`: environment variable `UNSET_KEY` is not set",
            "session policy, statement #0: `iot:Publsh` is not an AWS action",
            "(did you mean iot:Publish?)",
        ],
    );
    assert!(!run.stdout.contains(": ok ("), "{}", run.stdout);

    // The same config through --config-env: the errors name the variable.
    let run = check(
        dir.path(),
        &["--config-env", "IOT_CANARY_CONFIG"],
        &[("IOT_CANARY_CONFIG", broken.as_str())],
    )
    .await;
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert_contains(&run.stderr, &["UNSET_KEY", "iot:Publsh"]);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_id_warnings_shared_ids_and_connect_policies() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab::start_tls(&scenario(), dir.path()).await;
    let sc = scenario().write(dir.path());
    // No ${run}; and a control whose client id dev's policy (client/dev-*) refuses.
    let text = config(
        &lab,
        "dev-${canary}",
        r#"
[[canary]]
name = "dev-own-as-stranger"
identity = "dev"
action = "subscribe"
client_id = "stranger-${run}"
topic_filter = "devices/dev-lamp/#"
expect = "allow"
"#,
    );
    let cfg = write_file(dir.path(), "canaries.toml", &text);
    let cfg = cfg.to_str().unwrap();
    let run = check(dir.path(), &["-c", cfg], &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_contains(
        &run.stdout,
        &[
            "warning: client ids of 2 canaries (first: dev-own) have no `${run}`",
            "a CI gate (`once`) and a daemon (`run`)",
            "note: client ids against Connect policies: cannot tell without the policies",
        ],
    );
    let run = check(
        dir.path(),
        &["-c", cfg, "--lab-scenario", sc.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_contains(
        &run.stdout,
        &[
            "warning: canary `dev-own-as-stranger`: identity `dev` may not connect as `stranger-000000`",
            "inconclusive(connect_refused)",
            "client ids against Connect policies: 3 canaries checked",
        ],
    );
    assert!(!run.stdout.contains("canary `dev-own`:"), "{}", run.stdout);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_credentials_asks_sts_who_every_identity_is() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab::start_tls(&scenario(), dir.path()).await;
    let text = config(&lab, "dev-${run}-${canary}", "")
        + &static_identity("forged", "FORGED")
        + "\n[[canary]]\nname = \"forged-own\"\nidentity = \"forged\"\naction = \"subscribe\"\ntopic_filter = \"devices/dev-lamp/#\"\nexpect = \"allow\"\n";
    let cfg = write_file(dir.path(), "canaries.toml", &text);
    // Static keys that were never valid: until now `check --credentials` called them ok.
    let forged = [
        ("FORGED_KEY", "AKIALABDEV0000000001"),
        ("FORGED_SECRET", "not-the-secret"),
    ];
    let run = check(
        dir.path(),
        &["-c", cfg.to_str().unwrap(), "--credentials"],
        &forged,
    )
    .await;
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert_contains(
        &run.stdout,
        &[
            "identity dev (static): ok, access key AKIA…0001",
            "STS says arn:aws:iam::123456789012:user/dev",
            "identity forged (static): FAILED",
            "sts:GetCallerIdentity",
        ],
    );
    assert!(!run.stdout.contains("not-the-secret") && !run.stdout.contains("lab-secret-dev"));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_init_template_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("IOT_CANARY_WITNESS_ACCESS_KEY_ID", "AKIAEXAMPLE00000001"),
        ("IOT_CANARY_WITNESS_SECRET_ACCESS_KEY", "x"),
        ("IOT_CANARY_USER_ACCESS_KEY_ID", "AKIAEXAMPLE00000002"),
        ("IOT_CANARY_USER_SECRET_ACCESS_KEY", "x"),
        ("IOT_CANARY_USER_PASSWORD", "x"),
        ("IOT_CANARY_USER_TOKEN", "x"),
    ];
    for kind in iot_canary_core::config::IDENTITY_KINDS {
        let file = format!("{kind}.toml");
        let run = run_bin(&["init", "--kind", kind, "-o", &file], dir.path(), &[]).await;
        assert_eq!(run.code, 0, "init --kind {kind}: {}", run.stderr);
        let text = std::fs::read_to_string(dir.path().join(&file)).unwrap();
        assert!(text.contains(&format!("kind = \"{kind}\"")), "{text}");
        let run = run_bin(&["check", "-c", &file], dir.path(), &env).await;
        assert_eq!(run.code, 0, "{kind}:\n{}\n{}", run.stdout, run.stderr);
        assert!(
            !run.stdout.contains("have no `${run}`"),
            "{kind}: the template keeps gate and daemon apart:\n{}",
            run.stdout
        );
        // An existing file is never overwritten without --force.
        let again = run_bin(&["init", "--kind", kind, "-o", &file], dir.path(), &[]).await;
        assert_eq!(again.code, 3, "{}", again.stderr);
    }
}
