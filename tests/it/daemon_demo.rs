//! `demo` as a user runs it: the built binary, the repo's canaries.toml, the embedded lab.
//! `--once` must find exactly the demo world's two holes (the wildcard past a Deny, and the
//! authenticated role's attach-at-sign-in `iot:AttachPolicy` on `*`); plain `demo` must keep probing,
//! print verdicts and the metrics URL, serve /metrics, and stop cleanly on SIGTERM. A reader
//! that goes away (`demo --once | head -1`, `demo | head`) ends either quietly: no panic, the
//! round's exit code, and the private temp directory (the lab's CA) removed.

use std::process::Stdio;

use iot_canary_testkit::{WAIT, net};

use crate::support::{BIN, DEMO_ONCE_JSON, repo, run_bin};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The demo world's first hole: bob's fleet filter `devices/+/telemetry` past a Deny on
/// alice-thermostat's topic filters.
const HOLE: &str = "bob-cannot-read-alice-thermostat-via-wildcard";

/// The second hole (issue 15): the authenticated role's `iot:AttachPolicy` on `*` lets bob
/// attach any policy to his own identity; the probe names a policy that cannot exist, so the
/// 404 after authorization is the evidence.
const ATTACH_HOLE: &str = "bob-cannot-attach-policies-to-himself";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_once_finds_exactly_the_wildcard_hole() {
    let run = run_bin(&DEMO_ONCE_JSON, &repo(""), &[]).await;
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the JSON report ({e}):\n{}", run.stdout));
    assert_eq!(v["exit_code"], 1);

    let cfg = iot_canary_core::config::load(&repo("canaries.toml")).unwrap();
    let reports = v["results"].as_array().unwrap();
    let names: Vec<&str> = reports
        .iter()
        .map(|r| r["canary"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = cfg.canaries.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, want, "every canary of canaries.toml reported once");

    let mut kinds = std::collections::BTreeSet::new();
    for r in reports {
        let name = r["canary"].as_str().unwrap();
        kinds.insert(r["identity"].as_str().unwrap().to_string());
        if name == ATTACH_HOLE {
            assert_eq!(r["verdict"], "allowed", "{r:#}");
            assert_eq!(r["standing"], "breach", "{r:#}");
            assert_eq!(r["evidence"]["observation"]["kind"], "api_answer", "{r:#}");
            assert_eq!(
                r["evidence"]["observation"]["error_type"],
                "ResourceNotFoundException"
            );
            assert!(
                r["evidence"]["observation"]["resource"]
                    .as_str()
                    .unwrap()
                    .contains(":policy/iot-canary-probe-"),
                "{r:#}"
            );
        } else if name == HOLE {
            assert_eq!(r["verdict"], "allowed", "{r:#}");
            assert_eq!(r["standing"], "breach", "{r:#}");
            assert_eq!(r["evidence"]["observation"]["kind"], "delivered", "{r:#}");
            let steps = r["evidence"]["steps"].as_array().unwrap();
            assert!(
                steps.iter().any(|s| s["what"]
                    .as_str()
                    .unwrap()
                    .contains("the canary received the bait")),
                "delivery evidence: {r:#}"
            );
        } else if r["expect"] == "deny" {
            assert_eq!(r["verdict"], "denied", "{name}: {r:#}");
            assert_eq!(r["standing"], "ok", "{name}");
        } else {
            assert_eq!(r["expect"], "allow");
            assert_eq!(r["verdict"], "allowed", "control {name}: {r:#}");
        }
    }
    // The demo world per DEMO.md: every user, the guest, the vending-API identity.
    for id in ["alice", "bob", "carol", "guest", "bob-app"] {
        assert!(kinds.contains(id), "no canary for identity {id}");
    }
    assert_eq!(v["summary"]["breach"], 2);
    assert_eq!(v["summary"]["blind"], 0);
    assert_eq!(v["summary"]["control_failed"], 0);
    // `simulate` predicts the live round canary by canary, every door included: the same
    // canaries allowed and denied, so the same two holes.
    let sim = std::process::Command::new(BIN)
        .args(["simulate", "--format", "json", "-c"])
        .arg(repo("canaries.toml"))
        .arg("--lab-scenario")
        .arg(repo("crates/lab/src/demo/scenario.toml"))
        .output()
        .expect("run simulate");
    assert_eq!(
        sim.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let sim: serde_json::Value = serde_json::from_slice(&sim.stdout).expect("simulate JSON");
    let predicted: std::collections::BTreeMap<&str, &str> = sim["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["canary"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(predicted.len(), reports.len());
    for r in reports {
        let name = r["canary"].as_str().unwrap();
        assert_eq!(
            predicted.get(name).copied(),
            r["verdict"].as_str(),
            "{name}: simulate and the live round disagree"
        );
    }
    assert_eq!(sim["summary"]["breach"], 2);
    // Secrets of the demo world never reach the report or the logs.
    for secret in [
        "lab-secret-ops",
        "alice-lab-password-1",
        "bob-lab-password-1",
    ] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_once_table_prints_each_verdict_and_the_summary() {
    let run = run_bin(
        &["demo", "--once", "--listen", "127.0.0.1:0"],
        &repo(""),
        &[],
    )
    .await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let breach_line = run
        .stdout
        .lines()
        .find(|l| l.contains(HOLE))
        .unwrap_or_else(|| panic!("no line for the hole:\n{}", run.stdout));
    assert!(breach_line.starts_with("BREACH"), "{breach_line}");
    let attach_line = run
        .stdout
        .lines()
        .find(|l| l.contains(ATTACH_HOLE))
        .unwrap_or_else(|| panic!("no line for the second hole:\n{}", run.stdout));
    assert!(attach_line.starts_with("BREACH"), "{attach_line}");
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.starts_with("BREACH"))
            .count(),
        2,
        "{}",
        run.stdout
    );
    assert!(run.stdout.starts_with("STANDING"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("2 breach, 0 control failed, 0 blind -> exit 1"),
        "{}",
        run.stdout
    );
}

/// The binary with `args` from the repository root, stdin closed, stdout piped, killed when
/// dropped.
fn demo_command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .current_dir(repo(""))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_keeps_running_prints_metrics_url_and_serves_metrics() {
    let mut child = demo_command(&["demo", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let next = async |lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>| {
        tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("demo output in time")
            .unwrap()
            .expect("demo still running")
    };
    // The metrics URL comes first; then verdicts as they land, the hole among them.
    let first = next(&mut lines).await;
    let url = first
        .strip_prefix("metrics: http://")
        .unwrap_or_else(|| panic!("first line names the metrics URL: {first}"));
    let addr: std::net::SocketAddr = url.split('/').next().unwrap().parse().unwrap();
    loop {
        let l = next(&mut lines).await;
        if l.contains(HOLE) {
            assert!(l.starts_with("BREACH"), "{l}");
            break;
        }
    }
    // The round is recorded: metrics show the breach and every label set.
    let deadline = std::time::Instant::now() + WAIT;
    let breach =
        format!("iot_canary_breach{{canary=\"{HOLE}\",identity=\"bob\",action=\"receive\"}} 1");
    loop {
        let r = net::get(addr, "/metrics").await;
        let (status, body) = (r.status, r.body);
        assert_eq!(status, 200);
        if body.contains(&breach) {
            assert!(body.contains(
                "iot_canary_credential_failures_total{identity=\"alice\",reason=\"auth\"} 0"
            ));
            // Cognito credentials expire (lab: one hour); static keys read 0.
            let exp = body
                .lines()
                .find(|l| {
                    l.starts_with(
                        "iot_canary_credentials_expiry_timestamp_seconds{identity=\"alice\"}",
                    )
                })
                .unwrap();
            let t: f64 = exp.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(t > 1.0e9, "{exp}");
            assert!(
                body.contains(
                    "iot_canary_credentials_expiry_timestamp_seconds{identity=\"ops\"} 0"
                )
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no breach metric:\n{body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Still running: a second request answers too.
    assert_eq!(net::get(addr, "/healthz").await.status, 200);
    // SIGTERM (to the process this test started) stops it cleanly.
    let pid = child.id().unwrap().to_string();
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(st.success());
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("demo stops after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// `demo args` with stdout piped to a reader that takes `lines` lines and goes away (what
/// `| head -n` does), in a private TMPDIR; returns (exit code, stderr, what TMPDIR still holds).
async fn demo_into_head(args: &[&str], lines: usize) -> (Option<i32>, String, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = demo_command(args)
        .env("TMPDIR", tmp.path())
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("demo starts");
    let stderr = child.stderr.take().unwrap();
    let err = tokio::spawn(async move {
        let mut s = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut BufReader::new(stderr), &mut s).await;
        s
    });
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..lines {
        tokio::time::timeout(WAIT, out.next_line())
            .await
            .expect("demo output in time")
            .unwrap()
            .expect("a line before the reader goes away");
    }
    drop(out);
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("demo ends once its reader is gone")
        .unwrap();
    let stderr = err.await.unwrap();
    let left = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    (status.code(), stderr, left)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_goes_away_ends_demo_quietly_and_cleans_up() {
    // `demo --once | head -1`: the header line, then nobody reads. The round still runs to
    // its verdict: the hole is a breach, exit 1 (was: panic, exit 101, temp dir left behind).
    let (code, stderr, left) =
        demo_into_head(&["demo", "--once", "--listen", "127.0.0.1:0"], 1).await;
    assert_eq!(code, Some(1), "the round's exit code:\n{stderr}");
    for bad in ["panicked", "Broken pipe", "failed printing"] {
        assert!(!stderr.contains(bad), "`{bad}`:\n{stderr}");
    }
    assert!(left.is_empty(), "temp files left behind: {left:?}");

    // Live `demo | head -3`: the metrics URL, the header, one verdict; the next verdict finds
    // stdout closed and stops the service.
    let (code, stderr, left) = demo_into_head(&["demo", "--listen", "127.0.0.1:0"], 3).await;
    assert!(matches!(code, Some(0..=2)), "{code:?}:\n{stderr}");
    for bad in ["panicked", "Broken pipe", "failed printing"] {
        assert!(!stderr.contains(bad), "`{bad}`:\n{stderr}");
    }
    assert!(left.is_empty(), "temp files left behind: {left:?}");
}

/// `--log-format json`: every stderr line is one JSON object (the CLI's own messages included),
/// and the verdict events carry the level a log filter needs: the hole at ERROR, the tight
/// canaries at INFO (was: breaches at INFO, plain lines mixed into the stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_logs_pure_json_with_breaches_at_error() {
    let args: Vec<&str> = ["--log-format", "json"]
        .into_iter()
        .chain(DEMO_ONCE_JSON)
        .collect();
    let run = run_bin(&args, &repo(""), &[]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let events: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a non-JSON line in the JSON log ({e}): {l}"))
        })
        .collect();
    let verdicts: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["message"] == "verdict")
        .collect();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("a JSON report");
    let canaries = report["results"].as_array().expect("results").len();
    assert_eq!(verdicts.len(), canaries, "{}", run.stderr);
    for v in verdicts {
        // Breaches at ERROR; a failed control or a blind canary (bob's control plane until the
        // demo world grants his control) at WARN; the rest at INFO.
        let want = match v["standing"].as_str() {
            Some("breach") => "ERROR",
            Some("control_failed" | "blind") => "WARN",
            _ => "INFO",
        };
        assert_eq!(v["level"], want, "{v}");
        if v["canary"] == HOLE || v["canary"] == ATTACH_HOLE {
            assert_eq!(v["level"], "ERROR", "{v}");
        }
    }
}
