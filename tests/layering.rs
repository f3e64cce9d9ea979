//! The crate layering is a checked fact: scripts/check_layering.py walks `cargo metadata`'s
//! resolved graph (normal dependencies, transitively) for the workspace and fuzz/, and its
//! self-test proves that a forbidden edge (tokio under core, the lab under the daemon, ...) is
//! reported.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new("python3")
        .arg("scripts/check_layering.py")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python3 runs scripts/check_layering.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_workspace_keeps_its_layering() {
    let (ok, text) = run(&[]);
    assert!(ok, "{text}");
    assert!(text.contains("layering: ok"), "{text}");
}

#[test]
fn a_forbidden_edge_is_caught() {
    let (ok, text) = run(&["--self-test"]);
    assert!(ok, "{text}");
    for edge in [
        "iot-canary-core -> tokio: caught",
        "iot-canary-daemon -> iot-canary-lab: caught",
        "iot-canary-lab -> iot-canary-core: caught",
    ] {
        assert!(text.contains(edge), "{edge} not reported:\n{text}");
    }
}
