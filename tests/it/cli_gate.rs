//! The gate fails closed: zero canaries selected (an `--only` that matches nothing, a config
//! without `[[canary]]`) and an unwritable `--output` are usage errors (exit 3) before any
//! probe runs; SIGINT during `once` writes a partial report marked incomplete (exit 1 if a
//! breach was already seen, else 2); two `once` runs at the same moment do not take over or
//! throttle each other's connections (the default client id carries `${run}`).

use std::path::Path;

use iot_canary_lab::RunningLab;
use iot_canary_testkit::config::{lab_target, static_identity};
use iot_canary_testkit::lab;
use iot_canary_testkit::net::Silent;
use iot_canary_testkit::process::Proc;
use iot_canary_testkit::{WAIT, assert_contains, fixture_with, report_canary, write_file};

use crate::support::{BIN, SECRETS, leaky_world, run_bin};

/// `[target]` for the lab with the default client id (no `client_id` key), then `timeout`,
/// the static identities and `who`'s four canaries of configs/cli-canaries.toml.
fn config(lab: &RunningLab, timeout: &str, who: &[&str]) -> String {
    let mut t = lab_target(lab, "UNSET").replace("client_id = \"UNSET\"\n", "")
        + &format!("\n[schedule]\ntimeout = \"{timeout}\"\ndelivery_grace = \"500ms\"\n");
    for (name, key) in [("ops", "OPS"), ("dev", "DEV"), ("leaky", "LEAKY")] {
        t.push_str(&static_identity(name, key));
    }
    for w in who {
        t.push_str(&fixture_with("configs/cli-canaries.toml", &[("who", w)]));
    }
    t
}

/// [`config`] written to `dir/name`; its path.
fn config_file(dir: &Path, name: &str, lab: &RunningLab, timeout: &str, who: &[&str]) -> String {
    let path = write_file(dir, name, &config(lab, timeout, who));
    path.to_str().unwrap().to_string()
}

fn no_verdicts(stderr: &str) {
    assert!(
        !stderr.contains("\"message\":\"verdict\""),
        "a probe ran:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_selected_or_an_unwritable_output_is_exit_3_before_any_probe() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab::start_tls(&leaky_world(), dir.path()).await;
    let full = config_file(dir.path(), "full.toml", &lab, "5s", &["dev"]);
    let full = full.as_str();
    let none = config_file(dir.path(), "none.toml", &lab, "5s", &[]);
    let none = none.as_str();
    let json = ["--log-format", "json"];
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["once", "-c", full, "--only", "nomatch-*"],
            &["no canary selected by --only 'nomatch-*'", "of 4 in"],
        ),
        (&["once", "-c", none], &["none.toml: no [[canary]]"]),
        (&["check", "-c", none], &["none.toml: no [[canary]]"]),
        (&["run", "-c", none], &["none.toml: no [[canary]]"]),
        (
            &[
                "once",
                "-c",
                full,
                "--output",
                "/nonexistent-dir/report.json",
            ],
            &["--output /nonexistent-dir/report.json: cannot write there"],
        ),
    ];
    for (args, says) in cases {
        let all: Vec<&str> = json.iter().chain(args).copied().collect();
        let run = run_bin(&all, dir.path(), &SECRETS).await;
        assert_eq!(run.code, 3, "{args:?}:\n{}\n{}", run.stdout, run.stderr);
        assert_contains(&run.stderr, says);
        no_verdicts(&run.stderr);
        for line in run.stderr.lines() {
            assert!(
                serde_json::from_str::<serde_json::Value>(line).is_ok(),
                "{args:?}: a plain line in the JSON log stream: {line}"
            );
        }
    }
    lab.shutdown().await;
}

/// `once` as a child with its JSON log on stderr, the report written to `report`.
fn spawn_once(dir: &Path, cfg: &Path, report: &Path, extra: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["--log-format", "json", "once", "-c"])
        .arg(cfg)
        .args(["--format", "json", "--output"])
        .arg(report)
        .args(extra)
        .current_dir(dir)
        .env("RUST_LOG", "info");
    for (k, v) in SECRETS.iter().chain(env) {
        cmd.env(k, v);
    }
    Proc::spawn(cmd)
}

async fn interrupted(mut p: Proc, report: &Path) -> (i32, serde_json::Value) {
    p.signal("INT");
    let status = tokio::time::timeout(WAIT, p.child.wait())
        .await
        .expect("once ends after SIGINT")
        .unwrap();
    let text = std::fs::read_to_string(report)
        .unwrap_or_else(|e| panic!("no report ({e}); log:\n{}", p.lines().join("\n")));
    let v = serde_json::from_str(&text).unwrap();
    (status.code().unwrap_or(-1), v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_writes_an_incomplete_report_exit_1_after_a_breach_else_2() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab::start_tls(&leaky_world(), dir.path()).await;
    // `stuck` gets its credentials from a service that never answers: its probe hangs until
    // the signal.
    let stuck = Silent::start().await;
    let text = config(&lab, "60s", &["leaky"])
        + &format!(
            "\n[[identity]]\nname = \"stuck\"\nkind = \"credential-endpoint\"\nurl = \"http://{}/vend\"\nbearer_token_env = \"STUCK_TOKEN\"\n\n[[canary]]\nname = \"stuck-own\"\nidentity = \"stuck\"\naction = \"subscribe\"\ntopic_filter = \"devices/dev-lamp/#\"\nexpect = \"allow\"\n",
            stuck.addr
        );
    let cfg = write_file(dir.path(), "canaries.toml", &text);
    let token = [("STUCK_TOKEN", "t")];

    // A breach first, then SIGINT: exit 1, the breach stands, `stuck` is aborted.
    let report = dir.path().join("breach.json");
    let mut p = spawn_once(dir.path(), &cfg, &report, &[], &token);
    p.wait_line(0, "\"standing\":\"breach\"", WAIT).await;
    let (code, v) = interrupted(p, &report).await;
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["incomplete"], true, "{v:#}");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(report_canary(&v, "leaky-other-sub")["standing"], "breach");
    let s = report_canary(&v, "stuck-own");
    assert_eq!(
        (&s["verdict"], &s["reason"]),
        (&"inconclusive".into(), &"aborted".into()),
        "{s:#}"
    );

    // Nothing seen yet: exit 2, never 0.
    let report = dir.path().join("blind.json");
    let mut p = spawn_once(dir.path(), &cfg, &report, &["--only", "stuck-*"], &token);
    p.wait_line(0, "daemon ready", WAIT).await;
    let (code, v) = interrupted(p, &report).await;
    assert_eq!(code, 2, "{v:#}");
    assert_eq!(v["incomplete"], true);
    assert_eq!(v["exit_code"], 2);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gates_at_once_do_not_take_over_each_others_connections() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab::start_tls(&leaky_world(), dir.path()).await;
    let cfg = config_file(dir.path(), "canaries.toml", &lab, "8s", &["dev"]);
    let args = ["once", "-c", cfg.as_str(), "--format", "json"];
    let (a, b) = tokio::join!(
        run_bin(&args, dir.path(), &SECRETS),
        run_bin(&args, dir.path(), &SECRETS)
    );
    for run in [&a, &b] {
        assert_eq!(
            run.code, 0,
            "same client ids: throttled (0x97) or taken over\n{}\n{}",
            run.stdout, run.stderr
        );
    }
    lab.shutdown().await;
}
