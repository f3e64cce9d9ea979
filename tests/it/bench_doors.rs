//! The suite benchmark's generator (bench/suite/gen.py) at a tiny size: both of its configs —
//! the MQTT share and the doors share (`--doors`) — pass `iot-canary check` against its own
//! lab scenario, and the doors share's per-family controls are what make it pass (without one
//! user's HTTPS control, `check` refuses it by name). Offline: no lab is started.

use std::collections::BTreeMap;
use std::path::Path;

use iot_canary_testkit::{assert_contains, write_file};

use crate::support::{repo, run_bin};

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// The generated `*.in.toml` with its endpoint placeholders filled with loopback URLs (check
/// is offline: nothing listens there) and the lab CA path with an existing file.
fn fill(dir: &Path, name: &str) -> String {
    let ca = write_file(dir, "ca.pem", "");
    std::fs::read_to_string(dir.join(format!("{name}.in.toml")))
        .unwrap()
        .replace("@MQTT@", "wss://127.0.0.1:9/mqtt")
        .replace("@CA@", s(&ca))
        .replace("@STS@", "http://127.0.0.1:9")
        .replace("@IOT_DATA@", "http://127.0.0.1:9")
        .replace("@IOT@", "http://127.0.0.1:9")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_generator_doors_share_passes_check_and_needs_its_controls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let status = std::process::Command::new("python3")
        .arg(repo("bench/suite/gen.py"))
        .args([s(d), "--users", "3", "--deny", "6", "--doors", "8"])
        .status()
        .expect("python3 runs bench/suite/gen.py");
    assert!(status.success());
    let keys: BTreeMap<String, (String, String)> =
        serde_json::from_str(&std::fs::read_to_string(d.join("keys.json")).unwrap()).unwrap();
    let env: Vec<(String, String)> = keys
        .iter()
        .flat_map(|(name, (akid, secret))| {
            let up = name.to_uppercase();
            [
                (format!("SUITE_{up}_AKID"), akid.clone()),
                (format!("SUITE_{up}_SECRET"), secret.clone()),
            ]
        })
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let scenario = d.join("scenario.toml");

    let mqtt = write_file(d, "canaries.toml", &fill(d, "canaries"));
    let doors_text = fill(d, "doors");
    let doors = write_file(d, "doors.toml", &doors_text);
    for (cfg, summary) in [
        (&mqtt, "canaries.toml: ok (4 identities, 9 canaries"),
        // 3 users × (2 controls + 8 deny canaries).
        (&doors, "doors.toml: ok (4 identities, 30 canaries"),
    ] {
        let run = run_bin(
            &["check", "-c", s(cfg), "--lab-scenario", s(&scenario)],
            d,
            &env,
        )
        .await;
        assert_eq!(run.code, 0, "{}: {}{}", s(cfg), run.stdout, run.stderr);
        assert_contains(&run.stdout, &[summary]);
    }
    // Every doors action the share promises is in it.
    for action in [
        "https-shadow-get",
        "https-retained-get",
        "delete-connection",
        "https-publish",
        "describe-thing",
        "get-policy",
        "attach-policy",
        "list-things",
    ] {
        assert_contains(&doors_text, &[&format!("action = \"{action}\"")]);
    }

    // Without u001's HTTPS control its HTTPS deny canaries prove nothing: check refuses.
    let control = "[[canary]]\nname = \"u001-ctl-https-shadow-get-own\"\nidentity = \"u001\"\n\
                   action = \"https-shadow-get\"\nthing = \"u001-dev\"\nexpect = \"allow\"\n";
    assert!(doors_text.contains(control), "{doors_text}");
    let broken = write_file(d, "broken.toml", &doors_text.replace(control, ""));
    let run = run_bin(&["check", "-c", s(&broken)], d, &env).await;
    assert_ne!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_contains(
        &run.stderr,
        &["identity `u001` has https deny canaries but no https control"],
    );
}
