//! Failure causes an operator can act on, through the built binary: `once` against a port where
//! nothing listens says `tcp_refused`, against a name that does not resolve `dns`, against an
//! endpoint that accepts TCP and never answers the TLS handshake `timeout` (rumqttc's 5 s
//! connection timeout, not `network`). On a terminal a slow round shows progress on stderr, and
//! colour appears only on a terminal and never with NO_COLOR.

use std::path::Path;

use iot_canary_testkit::config::static_identity;
use iot_canary_testkit::net::{Silent, free_port};
use iot_canary_testkit::{assert_contains, report_canary, write_file};

use crate::support::{BIN, Run, run_bin};

const KEYS: [(&str, &str); 2] = [("DEV_KEY", "AKIAEXAMPLE000000001"), ("DEV_SECRET", "x")];

/// One control canary per name in `names` (no deny canary: nothing needs pairing), against
/// `endpoint` with the probe timeout `timeout`.
fn config(endpoint: &str, timeout: &str, names: &[&str]) -> String {
    let mut t = format!(
        "[target]\nregion = \"us-east-1\"\nendpoint = \"{endpoint}\"\n\n[schedule]\ntimeout = \"{timeout}\"\nconnect_interval = \"10ms\"\n"
    ) + &static_identity("dev", "DEV");
    for n in names {
        t.push_str(&format!(
            "\n[[canary]]\nname = \"{n}\"\nidentity = \"dev\"\naction = \"subscribe\"\ntopic_filter = \"devices/dev-lamp/#\"\nexpect = \"allow\"\n"
        ));
    }
    t
}

async fn once_json(dir: &Path, name: &str, text: &str) -> Run {
    let cfg = write_file(dir, name, text);
    run_bin(
        &[
            "--log-format",
            "json",
            "once",
            "-c",
            cfg.to_str().unwrap(),
            "--format",
            "json",
        ],
        dir,
        &KEYS,
    )
    .await
}

/// The canary's inconclusive reason, from the report; the JSON log on stderr must be pure JSON
/// and carry the blind verdict at WARN.
fn reason(run: &Run, canary: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr));
    let logged: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("non-JSON log line ({e}): {l}")))
        .collect();
    let event = logged
        .iter()
        .find(|e| e["message"] == "verdict" && e["canary"] == canary)
        .unwrap_or_else(|| panic!("no verdict event for {canary}:\n{}", run.stderr));
    assert_eq!(
        event["level"], "WARN",
        "a blind canary logs at WARN: {event}"
    );
    let c = report_canary(&v, canary);
    assert_eq!(c["verdict"], "inconclusive", "{c:#}");
    c["reason"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_unresolvable_and_stalled_endpoints_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let stalled = Silent::start().await;
    let refused = format!("127.0.0.1:{}", free_port());
    let stall = stalled.addr.to_string();
    // 8 s: longer than rumqttc's 5 s connection timeout, which is what fires on the stall.
    let texts = [
        config(&refused, "8s", &["c"]),
        config("iot-canary.invalid:443", "8s", &["c"]),
        config(&stall, "8s", &["c"]),
    ];
    let (r, d, s) = tokio::join!(
        once_json(dir.path(), "refused.toml", &texts[0]),
        once_json(dir.path(), "dns.toml", &texts[1]),
        once_json(dir.path(), "stall.toml", &texts[2]),
    );
    for run in [&r, &d, &s] {
        assert_eq!(
            run.code, 2,
            "blind, not ok:\n{}\n{}",
            run.stdout, run.stderr
        );
    }
    assert_eq!(reason(&r, "c"), "tcp_refused");
    assert_eq!(reason(&d, "c"), "dns");
    assert_eq!(reason(&s, "c"), "timeout");
}

/// Runs `BIN args` on a pseudo-terminal (util-linux `script`), so stdout and stderr are a TTY;
/// returns (exit code, everything the terminal showed).
fn on_terminal(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let quoted: Vec<String> = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qefc", &quoted.join(" "), "/dev/null"])
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null());
    for (k, v) in KEYS.iter().chain(env) {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("util-linux `script` runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_round_shows_progress_on_a_terminal_and_colour_obeys_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let stalled = Silent::start().await;
    let names = ["a", "b", "c", "d"];
    let slow = write_file(
        dir.path(),
        "slow.toml",
        &config(&stalled.addr.to_string(), "8s", &names),
    );
    let (code, shown) = tokio::task::spawn_blocking({
        let (slow, cwd) = (slow.clone(), dir.path().to_path_buf());
        move || {
            on_terminal(
                &["once", "-c", slow.to_str().unwrap()],
                &cwd,
                &[("NO_COLOR", "1")],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 2, "{shown}");
    assert_contains(
        &shown,
        &["round in progress: 0/4 verdicts after", "probe timeout 8s"],
    );
    assert!(
        !shown.contains('\x1b'),
        "NO_COLOR=1 means no colour:\n{shown}"
    );

    // Colour on a terminal without NO_COLOR (the table's standing and the pretty logs) ...
    let refused = write_file(
        dir.path(),
        "refused.toml",
        &config(&format!("127.0.0.1:{}", free_port()), "8s", &["a"]),
    );
    let (code, shown) = tokio::task::spawn_blocking({
        let (refused, cwd) = (refused.clone(), dir.path().to_path_buf());
        move || on_terminal(&["once", "-c", refused.to_str().unwrap()], &cwd, &[])
    })
    .await
    .unwrap();
    assert_eq!(code, 2, "{shown}");
    assert!(
        shown.contains("\x1b[33mblind"),
        "coloured standing:\n{shown}"
    );
    assert!(
        !shown.contains("round in progress"),
        "a fast round is quiet:\n{shown}"
    );
    // ... and never into a pipe, even with --log-format pretty.
    let piped = run_bin(
        &[
            "--log-format",
            "pretty",
            "once",
            "-c",
            refused.to_str().unwrap(),
        ],
        dir.path(),
        &KEYS,
    )
    .await;
    assert_eq!(piped.code, 2, "{}\n{}", piped.stdout, piped.stderr);
    assert!(
        !piped.stdout.contains('\x1b') && !piped.stderr.contains('\x1b'),
        "colour codes in a pipe:\n{}\n{}",
        piped.stdout,
        piped.stderr
    );
    assert!(
        piped.stdout.contains("inconclusive(tcp_refused)"),
        "{}",
        piped.stdout
    );
}
