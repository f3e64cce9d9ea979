//! Admin API: policy replacement/attachment with propagation delay, and every injected
//! fault. Driven over HTTP like a test or demo would. (The `iot-canary lab` CLI's ready line
//! is tested with the binary, in the root package's `it`.)

use std::time::{Duration, SystemTime};

use iot_canary_testkit::DENY_ALL;
use iot_canary_testkit::lab::{Admin, Options};
use iot_canary_testkit::mqtt::{self, Ev, Mqtt, connect, connect_url};
use iot_canary_testkit::scenario::{ALICE, OPS};
use iot_canary_testkit::sigv4::{TokenSigning, presign, presign_now};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::start_alice;

/// The attach/detach target of the tests: IAM user alice.
const ALICE_USER: &str = r#"{"iam_user":"alice"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_replace_attach_detach_and_propagation_delay() {
    let lab = start_alice(Options::plain()).await;
    let admin = Admin::of(&lab);
    // Replace Alice with a deny-all: new connections are refused.
    admin.put_policy("Alice", DENY_ALL).await;
    connect(&lab, Mqtt::V5, ALICE, "alice-1")
        .connack(0x87)
        .await;
    // Invalid JSON is a 400 naming the problem, and changes nothing.
    let (st, body) = admin.request("PUT", "/policies/Alice", "{not json").await;
    assert_eq!(st, 400, "{body}");
    // Detach from the user; attach Witness instead.
    assert_eq!(admin.detach("Alice", ALICE_USER).await, 204);
    assert_eq!(admin.attach("Witness", ALICE_USER).await, 204);
    connect(&lab, Mqtt::V5, ALICE, "bob-1").connected().await;
    assert_eq!(admin.attach("Ghost", ALICE_USER).await, 404);

    // With a one-hour delay, a detach is not visible yet: the old attachment keeps working.
    let (st, _) = admin
        .request("PUT", "/propagation-delay", r#"{"seconds":3600}"#)
        .await;
    assert_eq!(st, 204);
    assert_eq!(admin.detach("Witness", ALICE_USER).await, 204);
    connect(&lab, Mqtt::V5, ALICE, "bob-2").connected().await;
    // Skewing the lab clock past the delay makes it effective (clock skew also moves SigV4
    // checks, so sign for the skewed time).
    let (st, _) = admin
        .request("PUT", "/faults", r#"{"clock_skew_secs":3700}"#)
        .await;
    assert_eq!(st, 200);
    let url = presign(
        &lab.endpoints.mqtt,
        ALICE.0,
        ALICE.1,
        None,
        SystemTime::now() + Duration::from_secs(3700),
        Some(300),
        TokenSigning::Excluded,
    );
    connect_url(&lab, Mqtt::V5, &url, "bob-3")
        .connack(0x87)
        .await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_refuse_upgrades_and_clock_skew_give_403() {
    let lab = start_alice(Options::plain()).await;
    let admin = Admin::of(&lab);
    admin.set_faults(r#"{"refuse_upgrades":true}"#).await;
    let mut c = connect(&lab, Mqtt::V5, OPS, "ops-1");
    match c.next().await {
        Ev::Closed(e) => assert!(e.contains("403"), "{e}"),
        other => panic!("{other:?}"),
    }
    admin.clear_faults().await;
    connect(&lab, Mqtt::V5, OPS, "ops-1").connected().await;
    // A skewed lab clock makes a fresh signature look 10 minutes old.
    admin.set_faults(r#"{"clock_skew_secs":600}"#).await;
    let mut c = connect(&lab, Mqtt::V311, OPS, "ops-2");
    match c.next().await {
        Ev::Closed(e) => assert!(e.contains("403"), "{e}"),
        other => panic!("{other:?}"),
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_refusals_carry_aws_error_headers() {
    let lab = start_alice(Options::plain()).await;
    let addr = lab.mqtt_addr;
    let raw = |query: String| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET /mqtt?{query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(mqtt::WAIT, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let good = presign_now(&lab.endpoints.mqtt, OPS);
    let query = good.split_once('?').unwrap().1.to_string();
    let ok = raw(query.clone()).await;
    assert!(ok.starts_with("HTTP/1.1 101"), "{ok}");
    assert!(
        ok.to_ascii_lowercase()
            .contains("sec-websocket-protocol: mqtt"),
        "{ok}"
    );
    let wrong = raw(query.replace(OPS.0, ALICE.0)).await;
    assert!(wrong.starts_with("HTTP/1.1 403"), "{wrong}");
    assert!(
        wrong
            .to_ascii_lowercase()
            .contains("x-amzn-errortype: forbiddenexception:"),
        "{wrong}"
    );
    let malformed = raw("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=nonsense".into()).await;
    assert!(malformed.starts_with("HTTP/1.1 400"), "{malformed}");
    assert!(
        malformed
            .to_ascii_lowercase()
            .contains("x-amzn-errortype: invalidrequestexception:"),
        "{malformed}"
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_stall_never_answers_the_upgrade() {
    let lab = start_alice(Options::plain()).await;
    Admin::of(&lab).set_faults(r#"{"stall":true}"#).await;
    let mut s = tokio::net::TcpStream::connect(lab.mqtt_addr).await.unwrap();
    s.write_all(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    // A bounded negative check: nothing arrives within two seconds.
    let r = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
    assert!(r.is_err(), "stalled gateway answered: {r:?}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_drop_after_connect_and_quota() {
    let lab = start_alice(Options::plain()).await;
    let admin = Admin::of(&lab);
    admin.set_faults(r#"{"drop_after_connect":true}"#).await;
    for v in [Mqtt::V311, Mqtt::V5] {
        let mut c = connect(&lab, v, OPS, "ops-d");
        assert!(matches!(c.next().await, Ev::Closed(_)), "no CONNACK at all");
    }
    admin
        .set_faults(r#"{"drop_after_connect":false,"quota_exceeded":true}"#)
        .await;
    connect(&lab, Mqtt::V5, OPS, "ops-q").connack(0x97).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_disconnect_all() {
    let lab = start_alice(Options::plain()).await;
    let mut a = connect(&lab, Mqtt::V5, OPS, "ops-1").connected().await;
    let mut b = connect(&lab, Mqtt::V311, OPS, "ops-2").connected().await;
    let (st, body) = Admin::of(&lab).request("POST", "/disconnect-all", "").await;
    assert_eq!(st, 200);
    assert!(body.contains("\"disconnected\":2"), "{body}");
    assert_eq!(a.closed().await, Some(0x98));
    assert_eq!(b.closed().await, None);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thing_share_changes() {
    let lab = start_alice(Options::plain()).await;
    let (st, _) = Admin::of(&lab)
        .request(
            "PUT",
            "/things/alice-lamp",
            r#"{"owner":"alice","shared_with":["ops"]}"#,
        )
        .await;
    assert_eq!(st, 204);
    assert_eq!(lab.state().things_accessible_by("ops"), vec!["alice-lamp"]);
    let (st, _) = Admin::of(&lab)
        .request("PUT", "/things/ghost", r#"{"owner":"alice"}"#)
        .await;
    assert_eq!(st, 404);
    lab.shutdown().await;
}
