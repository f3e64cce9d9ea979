//! boto3 (PyPI, `scripts/test-deps.sh`) as an independent client of the HTTPS doors: it replays
//! the call sequence of `doors` (every iot-data and iot operation, allowed and refused, for an
//! IAM user, a role session, a Cognito identity and a guest) against a fresh lab, and must get
//! exactly the answers the Rust SDK gets against another fresh lab of the same world.

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
    // Fails at once, with the install command, when the venv is missing.
    tools::python();
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
    let boto3_answers: Vec<String> = tools::python_json(
        &script,
        &[],
        Some(spec),
        std::time::Duration::from_secs(120),
    )
    .await;
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
