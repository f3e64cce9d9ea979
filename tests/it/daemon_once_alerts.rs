//! `iot-canary once` (the post-deploy gate) with a webhook notifier: the breach alert is
//! delivered, through a retry after a 500, before the process exits with code 1; the log shows
//! the delivery and never the secret URL or token.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;
use iot_canary_testkit::alert_sink::{Answer, Receiver};
use iot_canary_testkit::assert_contains;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_delivers_the_breach_alert_before_exiting() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path(), &hole_policy()).await;
    let mut hook = Receiver::start(vec![Answer::Status(500)]).await;
    let extra = format!(
        "{}{}\n[alerting]\ndashboard_url = \"https://grafana.example.com/d/iot-canary\"\n\n[[notifier]]\nname = \"hook\"\nkind = \"webhook\"\nurl_env = \"TEST_HOOK_URL\"\ntoken_env = \"TEST_HOOK_TOKEN\"\nretry_initial = \"100ms\"\nretry_max = \"200ms\"\n",
        canary("dev-own", "devices/dev-lamp/#", true),
        canary("dev-other", "devices/other/#", false)
    );
    let cfg_path = dir.path().join("canaries.toml");
    std::fs::write(&cfg_path, config(&lab, "2s", &extra)).unwrap();
    let url = hook.url("/hooks/secret-path-abc123");
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(BIN)
            .args(["--log-format", "json", "once", "--format", "json", "-c"])
            .arg(&cfg_path)
            .env("TEST_DEV_KEY", DEV_KEY)
            .env("TEST_DEV_SECRET", DEV_SECRET)
            .env("TEST_HOOK_URL", &url)
            .env("TEST_HOOK_TOKEN", "tok-very-secret-42")
            .env("RUST_LOG", "info,iot_canary_lab=warn")
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("once finishes")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "breach exit code; log:\n{stderr}"
    );

    // Both attempts reached the receiver before the process exited.
    let got = hook.drain_now();
    assert_eq!(got.len(), 2, "500 then the retry: {got:?}");
    for r in &got {
        assert_eq!(r.path, "/hooks/secret-path-abc123");
        assert_eq!(
            r.authorization.as_deref(),
            Some("Bearer tok-very-secret-42")
        );
        let b = r.body.to_string();
        assert!(
            b.contains("dev-other") && b.contains("IotCanaryBreach") && b.contains("firing"),
            "{b}"
        );
        assert!(
            b.contains("https://grafana.example.com/d/iot-canary"),
            "{b}"
        );
    }
    assert_contains(&stderr, &["\"message\":\"alert delivered\"", "will retry"]);
    for secret in ["secret-path-abc123", "tok-very-secret-42", DEV_SECRET] {
        assert!(
            !stderr.contains(secret),
            "secret {secret} in the log:\n{stderr}"
        );
    }
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("dev-other"), "{report}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifier_errors_at_start_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path(), &tight_dev_policy()).await;
    let extra = format!(
        "{}{}\n[[notifier]]\nname = \"hook\"\nkind = \"webhook\"\nurl_env = \"TEST_UNSET_HOOK_URL_91\"\n",
        canary("dev-own", "devices/dev-lamp/#", true),
        canary("dev-other", "devices/other/#", false)
    );
    let text = config(&lab, "1s", &extra);
    let line = text.lines().position(|l| l == "[[notifier]]").unwrap() + 1;
    let cfg_path = dir.path().join("canaries.toml");
    std::fs::write(&cfg_path, &text).unwrap();
    for cmd in ["run", "once", "check"] {
        let out = std::process::Command::new(BIN)
            .args([cmd, "-c"])
            .arg(&cfg_path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{cmd}: {err}");
        assert!(
            err.contains(&format!(
                "{}:{line}:1: `notifier[0].url_env`",
                cfg_path.display()
            )),
            "{cmd}: {err}"
        );
        assert!(
            err.contains("TEST_UNSET_HOOK_URL_91 is not set"),
            "{cmd}: {err}"
        );
    }

    // The same config through --config-env names the variable instead of a file.
    let out = std::process::Command::new(BIN)
        .args(["run", "--config-env", "TEST_CANARY_TOML"])
        .env("TEST_CANARY_TOML", text.replace("jitter", "jitterr"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let jl = text.lines().position(|l| l.starts_with("jitter")).unwrap() + 1;
    assert!(
        err.contains(&format!("$TEST_CANARY_TOML:{jl}:1: `schedule.jitterr`")),
        "{err}"
    );
    lab.shutdown().await;
}

#[test]
fn healthcheck_exit_codes() {
    let bin = BIN;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let st = std::process::Command::new(bin)
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/healthz"),
            "--timeout",
            "2s",
        ])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(1), "nothing listening is unhealthy");
    let st = std::process::Command::new(bin)
        .args(["healthcheck", "--url", "ftp://x/healthz"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(3), "bad URL is a usage error");
}
