//! The Python AWS IoT Device SDK (awsiotsdk/awscrt, an independent SigV4 + MQTT
//! implementation) against the lab over TLS: stock `websockets_with_default_aws_signing`
//! builders for MQTT 3.1.1 and 5, static credentials, the lab's CA.

use iot_canary_testkit::lab::{self, Options, test_limits};
use iot_canary_testkit::scenario::{ALICE, OPS, Scenario};
use iot_canary_testkit::tools;

use crate::support::repo;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_awsiotsdk_sees_the_documented_outcomes() {
    let py = tools::python();
    let lab = lab::start(
        &Scenario::fixture("alice"),
        Options::tls().limits(test_limits()),
    )
    .await;
    let script = repo("tests/python/lab_awsiotsdk.py");
    let mut cmd = std::process::Command::new(py);
    cmd.arg(script).args([
        "127.0.0.1",
        &lab.mqtt_addr.port().to_string(),
        &lab.endpoints.ca_file,
        ALICE.0,
        ALICE.1,
        OPS.0,
        OPS.1,
    ]);
    let child = tokio::task::spawn_blocking(move || cmd.output());
    let out = tokio::time::timeout(std::time::Duration::from_secs(240), child)
        .await
        .expect("python SDK script timed out")
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "script failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("bad script output ({e}): {stdout}\n{stderr}"));

    let v3 = &r["v311"];
    assert_eq!(v3["connect_allowed"], true);
    let denied = v3["connect_denied"].as_str().unwrap();
    assert_ne!(denied, "connected");
    assert!(
        denied.contains("HANGUP") || denied.contains("hang"),
        "3.1.1 connect denial should be a hang-up: {denied}"
    );
    assert_eq!(v3["publish_denied_hangup"], true);
    assert_eq!(v3["subscribe_denied_hangup"], true);
    assert_eq!(v3["subscribe_allowed_qos"], 1);
    assert_eq!(v3["received"], serde_json::json!(["shared/ok"]));

    let v5 = &r["v5"];
    assert_eq!(v5["connect_denied_code"], 0x87);
    assert_eq!(v5["connect_allowed"], true);
    assert_eq!(v5["publish_denied_code"], 0x87);
    assert_eq!(v5["subscribe_denied_codes"], serde_json::json!([0x87]));
    assert_eq!(v5["subscribe_allowed_codes"], serde_json::json!([1]));
    assert_eq!(v5["received"], serde_json::json!(["shared/ok"]));
    lab.shutdown().await;
}
