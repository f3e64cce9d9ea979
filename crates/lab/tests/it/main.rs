//! The lab's integration tests, one binary: the emulator driven over its public surfaces
//! (websocket gateway, MQTT broker, admin API, STS, Cognito, the vending API, the SigV4
//! verifier) by independent clients (rumqttc, aws-sigv4, the AWS SDK, the raw packet client
//! for the realism knobs). Worlds come from
//! iot-canary-testkit's fixtures; nothing here needs the daemon or the CLI binary.

mod admin;
mod broker;
mod cognito;
mod doors;
mod doors_boto3;
mod fuzz_smoke;
mod realism;
mod role_paths;
mod role_paths_python;
mod session;
mod sigv4;
mod sts;
mod vending_demo;

use iot_canary_lab::RunningLab;
use iot_canary_testkit::lab::{self, Options};
use iot_canary_testkit::scenario::Scenario;

/// The broker tests' world (`fixtures/scenarios/alice.toml`) in-process.
pub async fn start_alice(options: Options) -> RunningLab {
    lab::start(&Scenario::fixture("alice"), options).await
}

/// (status, body) of one raw request to a lab service at `base` (`http://IP:PORT[/...]`).
pub async fn raw_http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let r = iot_canary_testkit::net::request_raw(
        iot_canary_testkit::net::addr_of(base),
        method,
        path,
        headers,
        body,
    )
    .await;
    (r.status, r.body)
}
