//! `iot-canary run` with `[server] trigger = true` behind a web config's basic auth: `POST
//! /-/probe` needs the credentials and starts a round marked `http`, SIGUSR1 one marked
//! `signal` (the interval is an hour, so no other round comes), and a SIGUSR1 racing the
//! SIGTERM neither kills the process nor keeps it from exiting 0. The tests wait on the
//! "round started" log line, never on time.

use std::time::Duration;

use iot_canary_testkit::scenario::Scenario;
use iot_canary_testkit::{lab, net, policy, write_file};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(60);

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A "round started" line marked with `trigger`.
fn started_by(trigger: &'static str) -> impl Fn(&str) -> bool {
    move |l: &str| {
        serde_json::from_str::<serde_json::Value>(l)
            .is_ok_and(|v| v["message"] == "round started" && v["trigger"] == trigger)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_behind_basic_auth_and_sigusr1_start_rounds_and_a_stop_outlasts_them() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::fixture("dev-lamp").policy("Dev", &policy("dev-subscribe-only"));
    let lab = lab::start_tls(&scenario, dir.path()).await;
    let text =
        iot_canary_testkit::config::dev(&lab.endpoints.mqtt, &lab.endpoints.ca_file, "1h", "10s")
            .replace("connect_interval = \"10ms\"", "connect_interval = \"1s\"")
            .replace(
                "listen = \"127.0.0.1:0\"",
                "listen = \"127.0.0.1:0\"\ntrigger = true",
            )
            + &canary("dev-own", "devices/dev-lamp/#", true)
            + &canary("dev-other", "devices/other/#", false);
    let cfg = write_file(dir.path(), "canaries.toml", &text);
    let hash = bcrypt::hash("trigger-s3cret", 4).unwrap();
    let web = write_file(
        dir.path(),
        "web.yml",
        &format!("basic_auth_users:\n  deploy: '{hash}'\n"),
    );
    let mut p = RunProc::spawn_with(&cfg, &["--web.config.file", web.to_str().unwrap()], &[]).await;
    p.wait_log(started_by("interval"), WAIT).await;

    // The body the EventBridge API destination sends (docs/policy-change-trigger.md).
    let event = br#"{"trigger":"eventbridge","eventSource":"iot.amazonaws.com","eventName":"AttachPolicy","eventID":"e-1","region":"us-east-1"}"#;
    let post = |auth: Option<String>| {
        let addr = p.metrics;
        async move {
            let mut h: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
            if let Some(a) = auth.as_deref() {
                h.push(("Authorization", a));
            }
            net::request_raw(addr, "POST", "/-/probe", &h, event).await
        }
    };
    for auth in [
        None,
        Some(basic("deploy", "guessed")),
        Some(basic("other", "trigger-s3cret")),
    ] {
        let r = post(auth).await;
        assert_eq!(r.status, 401, "{}", r.raw());
    }
    assert!(
        !p.lines().iter().any(|l| started_by("http")(l)),
        "an unauthenticated trigger started a round"
    );
    let r = post(Some(basic("deploy", "trigger-s3cret"))).await;
    assert_eq!(r.status, 202, "{}", r.raw());
    p.wait_log(started_by("http"), WAIT).await;
    let logged = p
        .wait_log(|l| l.contains("trigger names a change"), WAIT)
        .await;
    assert!(
        logged.contains("eventName=\\\"AttachPolicy\\\""),
        "{logged}"
    );

    p.signal("USR1");
    p.wait_log(started_by("signal"), WAIT).await;
    let auth = basic("deploy", "trigger-s3cret");
    let m = net::request_raw(
        p.metrics,
        "GET",
        "/metrics",
        &[("Authorization", &auth)],
        b"",
    )
    .await;
    for t in ["http", "signal"] {
        let line = format!("iot_canary_rounds_total{{trigger=\"{t}\"}}");
        assert_eq!(value(&m.body, &line), Some(1.0), "{}", m.body);
    }

    // SIGUSR1 right behind SIGTERM: harmless (the handler stays installed until exit).
    let pid = p.pid().to_string();
    p.signal("TERM");
    let _ = std::process::Command::new("kill")
        .args(["-USR1", &pid])
        .status();
    let st = tokio::time::timeout(WAIT, p.proc.child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(st.success(), "{st}\n{}", p.lines().join("\n"));
    lab.shutdown().await;
}
