//! `generate` then a live round, on the demo world and on the benchmark world
//! (bench/suite/gen.py at fixture size): the live round finds every hole `simulate` finds and
//! nothing `simulate` says is tight, and the generated config covers the whole cross-tenant
//! matrix (and `run` exports it as `iot_canary_coverage_ratio` from a `[coverage]` table). The
//! hand-written demo config's coverage is measured too (README and docs/generate.md state it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use iot_canary_testkit::lab::{self, Options};
use iot_canary_testkit::scenario::Scenario;
use iot_canary_testkit::{assert_contains, write_file};
use serde_json::Value;

use iot_canary_testkit::exposition::value;

use crate::support::{RunProc, repo, run_bin};

fn demo_scenario() -> PathBuf {
    repo("crates/lab/src/demo/scenario.toml")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// Runs the binary in the repository root; panics with its output unless it exits `code`.
async fn expect(code: i32, args: &[&str], env: &[(&str, &str)]) -> String {
    let run = run_bin(args, &repo(""), env).await;
    assert_eq!(
        run.code, code,
        "{args:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run.stdout
}

/// `simulate --format json` of `config` over a lab scenario; panics unless it exits `code`.
async fn simulate_json(code: i32, config: &str, scenario: &Path) -> String {
    let args = [
        "simulate",
        "-c",
        config,
        "--lab-scenario",
        s(scenario),
        "--format",
        "json",
    ];
    expect(code, &args, &[]).await
}

/// `check --coverage` of `config` over a lab scenario (and resource templates).
async fn coverage_of(
    config: &str,
    scenario: &Path,
    resources: Option<&Path>,
    env: &[(&str, &str)],
) -> String {
    let mut args = vec![
        "check",
        "-c",
        config,
        "--coverage",
        "--lab-scenario",
        s(scenario),
    ];
    if let Some(r) = resources {
        args.extend(["--resources", s(r)]);
    }
    expect(0, &args, env).await
}

/// Stand-in values for every `*_env` variable `config` names: `check` (without
/// `--credentials`) only proves they are set.
fn stand_in_env(config: &str) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = config
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once('=')?;
            key.trim().ends_with("_env").then(|| {
                (
                    value.trim().trim_matches('"').to_string(),
                    "stand-in".into(),
                )
            })
        })
        .collect();
    vars.sort();
    vars.dedup();
    vars
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A simulated breach as its identity and requests after the connect: (action, resource).
fn hole(r: &Value) -> (String, Vec<(String, String)>) {
    let steps = r["checks"].as_array().unwrap()[1..]
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c["resource"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (r["identity"].as_str().unwrap().to_string(), steps)
}

/// What the live round and `simulate` agree on: (holes, tight deny canaries, controls).
/// (holes, tight, controls, receives that no marker can prove either way).
fn assert_live_agrees_with_simulate(sim: &str, live: &str) -> (usize, usize, usize, usize) {
    let sim: Value = serde_json::from_str(sim).expect("simulate JSON");
    let live: Value = serde_json::from_str(live).expect("once JSON report");
    assert_eq!(sim["command"], "simulate");
    let offline: BTreeMap<&str, &Value> = sim["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["canary"].as_str().unwrap(), r))
        .collect();
    let reports = live["results"].as_array().unwrap();
    assert_eq!(reports.len(), offline.len(), "every canary ran live");
    let (mut holes, mut tight, mut controls, mut unprovable) = (0, 0, 0, 0);
    for r in reports {
        let name = r["canary"].as_str().unwrap();
        let o = offline[name]["outcome"].as_str().unwrap();
        let verdict = r["verdict"].as_str().unwrap();
        assert_ne!(o, "inconclusive", "{name}: simulate could not evaluate it");
        match (r["expect"].as_str().unwrap(), o) {
            ("allow", _) => {
                assert_eq!(
                    (o, verdict),
                    ("allowed", "allowed"),
                    "control {name}: {r:#}"
                );
                controls += 1;
            }
            (_, "allowed") => {
                assert_eq!(verdict, "allowed", "{name}: simulate's hole, live: {r:#}");
                assert_eq!(r["standing"], "breach", "{name}");
                holes += 1;
            }
            // A granted subscription of a topic the identity may not receive, with no topic
            // under its filter that it may receive: nothing can prove the bait would have
            // arrived (evidence rule R7), so the honest answer is `no_delivery_proof`, never a
            // breach and never a claimed denial.
            _ if r["action"] == "receive"
                && verdict == "inconclusive"
                && r["reason"] == "no_delivery_proof" =>
            {
                unprovable += 1;
            }
            _ => {
                assert_eq!(
                    verdict, "denied",
                    "{name}: simulate says tight, live: {r:#}"
                );
                tight += 1;
            }
        }
    }
    (holes, tight, controls, unprovable)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_world_generate_then_once_agrees_with_simulate_and_covers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("generated.toml");
    let scenario = demo_scenario();
    let args = ["generate", "--lab-scenario", s(&scenario), "-o", s(&out)];
    expect(0, &args, &[]).await;
    let text = std::fs::read_to_string(&out).unwrap();
    // Deterministic: the same input writes the same bytes.
    let again = dir.path().join("again.toml");
    expect(
        0,
        &["generate", "--lab-scenario", s(&scenario), "-o", s(&again)],
        &[],
    )
    .await;
    assert_eq!(text, std::fs::read_to_string(&again).unwrap());
    // The demo world has more retain classes than topics: one gets a topic made up under its
    // own, so no two retain canaries share one (`check` below refuses that).
    assert_contains(
        &text,
        &[
            "a topic of its own under",
            "topic = \"devices/alice-lamp/telemetry/iot-canary-guest\"",
            "# Marker: `",
        ],
    );

    let env = stand_in_env(&text);
    let env = env_refs(&env);
    let check = expect(0, &["check", "-c", s(&out)], &env).await;
    assert_contains(&check, &["generated.toml: ok (8 identities"]);
    let coverage = coverage_of(s(&out), &scenario, None, &env).await;
    assert!(coverage.contains("cells (100.0%)"), "{coverage}");

    // The hand-written demo config watches part of the same matrix.
    let demo_env = stand_in_env(&std::fs::read_to_string(repo("canaries.toml")).unwrap());
    let demo_cov = coverage_of("canaries.toml", &scenario, None, &env_refs(&demo_env)).await;
    let line = demo_cov
        .lines()
        .find(|l| l.starts_with("coverage: "))
        .unwrap();
    assert!(!line.contains("cells (100.0%)"), "{demo_cov}");
    assert_contains(&demo_cov, &["largest uncovered groups:"]);
    eprintln!("hand-written demo config: {line}");

    let sim = simulate_json(1, s(&out), &scenario).await;
    let live = expect(
        1,
        &[
            "demo",
            "--once",
            "-c",
            s(&out),
            "--format",
            "json",
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    )
    .await;
    let (holes, tight, controls, _unprovable) = assert_live_agrees_with_simulate(&sim, &live);
    assert!(tight > holes && controls > 0);

    // Every hole `simulate` finds with the hand-written config (the demo's deliberate one:
    // bob's `devices/+/telemetry` past his Deny) is among the generated config's live breaches,
    // as the same requests.
    let hand = simulate_json(1, "canaries.toml", &scenario).await;
    let live: Value = serde_json::from_str(&live).unwrap();
    let sim: Value = serde_json::from_str(&sim).unwrap();
    let live_breaches: Vec<&str> = live["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["standing"] == "breach")
        .map(|r| r["canary"].as_str().unwrap())
        .collect();
    let generated_holes: Vec<(String, Vec<(String, String)>)> = sim["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| live_breaches.contains(&r["canary"].as_str().unwrap()))
        .map(hole)
        .collect();
    let hand: Value = serde_json::from_str(&hand).unwrap();
    // `generate` writes MQTT canaries only (the HTTPS, control-plane and role-path doors are
    // not generated yet), so the hand-written config's other hole (attach-at-sign-in) has no
    // generated counterpart; the demo test checks it live against `simulate`.
    let hand_holes: Vec<_> = hand["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["standing"] == "breach")
        .filter(|r| {
            r["action"]
                .as_str()
                .and_then(|a| a.parse::<iot_canary_core::verdict::ProbeAction>().ok())
                .is_some_and(|a| a.is_mqtt())
        })
        .map(hole)
        .collect();
    assert!(!hand_holes.is_empty());
    for h in &hand_holes {
        assert!(
            generated_holes.contains(h),
            "simulate's hole {h:?} is not among the live breaches {generated_holes:?}"
        );
    }
    // Besides it, only the audit's finding on the guests' public `status/#` feed (a Device
    // Defender UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK finding) is flagged.
    for (identity, steps) in &generated_holes {
        assert!(
            hand_holes.iter().any(|h| &h.0 == identity && &h.1 == steps)
                || (identity == "guest" && steps[0].1 == "status/#"),
            "{identity}: {steps:?}"
        );
    }
    assert_eq!(holes, generated_holes.len());
    eprintln!(
        "demo world: {} canaries, {holes} holes live = simulate, {tight} tight, {controls} controls",
        holes + tight + controls
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_world_generate_then_once_agrees_with_simulate_and_covers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let status = std::process::Command::new("python3")
        .arg(repo("bench/suite/gen.py"))
        .args([s(d), "--users", "4", "--deny", "8"])
        .status()
        .expect("python3 runs bench/suite/gen.py");
    assert!(status.success());
    let scenario = d.join("scenario.toml");
    let text = std::fs::read_to_string(&scenario).unwrap();
    let lab = lab::start(&Scenario::from_text("bench", &text), Options::tls().dir(d)).await;
    let ready = write_file(d, "ready.json", &lab.ready_line());
    let resources = repo("bench/suite/resources.toml");
    let out = d.join("generated.toml");
    expect(
        0,
        &[
            "generate",
            "--lab-scenario",
            s(&scenario),
            "--resources",
            s(&resources),
            "--lab-endpoints",
            s(&ready),
            "--env-prefix",
            "SUITE",
            "-o",
            s(&out),
        ],
        &[],
    )
    .await;
    // The users' keys as the generated config references them.
    let keys: BTreeMap<String, (String, String)> =
        serde_json::from_str(&std::fs::read_to_string(d.join("keys.json")).unwrap()).unwrap();
    let mut env = Vec::new();
    for (name, (akid, secret)) in &keys {
        let up = name.to_uppercase();
        env.push((format!("SUITE_{up}_ACCESS_KEY_ID"), akid.clone()));
        env.push((format!("SUITE_{up}_SECRET_ACCESS_KEY"), secret.clone()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let coverage = coverage_of(s(&out), &scenario, Some(&resources), &env).await;
    assert!(coverage.contains("cells (100.0%)"), "{coverage}");

    let sim = simulate_json(0, s(&out), &scenario).await;
    let run = run_bin(
        &["once", "-c", s(&out), "--format", "json"],
        &repo(""),
        &env,
    )
    .await;
    let (holes, tight, controls, unprovable) = assert_live_agrees_with_simulate(&sim, &run.stdout);
    // Blind (exit 2) exactly when some receive could not be proven either way.
    assert_eq!(
        run.code,
        if unprovable > 0 { 2 } else { 0 },
        "{}",
        run.stderr
    );
    assert_eq!(holes, 0, "the benchmark world is tight");
    // Four users: each probed, each with its controls; the `shared/<owner>/news` receive (a
    // granted subscription, a refused delivery) is among the denials.
    assert!(tight >= 4 && controls >= 4, "{tight} {controls}");
    let generated = std::fs::read_to_string(&out).unwrap();
    assert!(generated.contains("topic = \"shared/u0"), "{generated}");
    eprintln!(
        "bench world (4 users): {} canaries, {holes} holes, {tight} tight, {controls} controls, {unprovable} receives no marker can prove",
        holes + tight + controls + unprovable
    );

    // The daemon exports the coverage of its `[coverage]` world.
    let served = d.join("served.toml");
    std::fs::write(
        &served,
        format!(
            "{generated}\n[server]\nlisten = \"127.0.0.1:0\"\n\n[coverage]\nlab_scenario = {:?}\nresources = {:?}\n",
            s(&scenario),
            s(&resources)
        ),
    )
    .unwrap();
    let mut daemon = RunProc::spawn(&served, &env).await;
    daemon
        .wait_metrics(
            "iot_canary_coverage_ratio 1",
            |m| value(m, "iot_canary_coverage_ratio") == Some(1.0),
            std::time::Duration::from_secs(60),
        )
        .await;
    daemon.signal("TERM");
    lab.shutdown().await;
}
