//! boto3 (PyPI, `scripts/test-deps.sh`) as an independent client of the HTTPS doors: it replays
//! the call sequence of `doors` (every iot-data and iot operation, allowed and refused, for an
//! IAM user, a role session, a Cognito identity and a guest) against a fresh lab, and must get
//! exactly the answers the Rust SDK gets against another fresh lab of the same world.

use std::io::Write;
use std::process::Stdio;

use iot_canary_testkit::lab::start_plain;
use iot_canary_testkit::tools;
use serde_json::json;

use crate::doors::{Identities, assert_expected, replay_rust, sign_in, steps, world};

fn identities_json(ids: &Identities) -> serde_json::Value {
    ids.creds
        .iter()
        .map(|(who, c)| {
            (
                who.to_string(),
                json!({"akid": c.akid, "secret": c.secret, "token": c.token}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_gets_the_same_answers_as_the_rust_sdk_for_every_door_operation() {
    let py = tools::python();
    // The Rust SDK's answers, in a lab of their own.
    let rust_lab = start_plain(&world()).await;
    let rust_ids = sign_in(&rust_lab).await;
    let rust_steps = steps(&rust_ids.bob_id, &rust_ids.guest_id);
    let rust_answers = replay_rust(&rust_lab, &rust_ids, &rust_steps).await;
    rust_lab.shutdown().await;

    // boto3's, in a fresh lab of the same world (the sequence changes state).
    let lab = start_plain(&world()).await;
    let ids = sign_in(&lab).await;
    let steps = steps(&ids.bob_id, &ids.guest_id);
    let spec = json!({
        "endpoints": {"iot_data": lab.endpoints.iot_data, "iot": lab.endpoints.iot},
        "identities": identities_json(&ids),
        "steps": steps,
    })
    .to_string();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/doors_boto3.py");
    let mut cmd = std::process::Command::new(py);
    cmd.arg(script)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The lab runs on this runtime's workers; the script blocks only a blocking-pool thread.
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn()?;
            child
                .stdin
                .take()
                .expect("piped stdin")
                .write_all(spec.as_bytes())?;
            child.wait_with_output()
        }),
    )
    .await
    .expect("boto3 script finishes within 120 s")
    .expect("join")
    .expect("run the boto3 script");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "boto3 script failed: {stderr}");
    let boto3_answers: Vec<String> =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    lab.shutdown().await;

    assert_eq!(boto3_answers.len(), steps.len());
    let disagreements: Vec<String> = steps
        .iter()
        .zip(rust_answers.iter().zip(&boto3_answers))
        .enumerate()
        .filter(|(_, (_, (r, b)))| r != b)
        .map(|(i, (st, (r, b)))| {
            format!(
                "step {i}: {} {:?}: Rust SDK {r}, boto3 {b}",
                st.who, st.call
            )
        })
        .collect();
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // And both are what AWS answers.
    assert_expected("boto3", &steps, &boto3_answers);
}
