//! The lab broker's AWS IoT denial table, exercised with rumqttc (MQTT 3.1.1 and 5) over real
//! websockets: connect, publish, subscribe, receive, retained, takeover, QoS 2, shadow.

use iot_canary_testkit::lab::{Options, test_limits};
use iot_canary_testkit::mqtt::{Ev, Mqtt, connect};
use iot_canary_testkit::scenario::{ALICE, OPS};

use crate::start_alice;

const BOTH: [Mqtt; 2] = [Mqtt::V311, Mqtt::V5];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_allowed_and_denied_per_version() {
    let lab = start_alice(Options::plain()).await;
    for v in BOTH {
        connect(&lab, v, ALICE, "alice-1").connected().await;
        let mut denied = connect(&lab, v, ALICE, "bob-1");
        match v {
            // 3.1.1: no CONNACK 5, the socket is closed.
            Mqtt::V311 => assert!(matches!(denied.next().await, Ev::Closed(_))),
            Mqtt::V5 => {
                denied.expect(&Ev::ConnAck(0x87)).await;
                assert!(matches!(denied.next().await, Ev::Closed(_)));
            }
        }
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_denied_qos1_per_version_and_witness_sees_nothing() {
    let lab = start_alice(Options::plain()).await;
    let mut witness = connect(&lab, Mqtt::V5, OPS, "ops-w").connected().await;
    witness.subscribed("bob/x", 1).await;
    witness.subscribed("alice/x", 1).await;
    for v in BOTH {
        let mut alice = connect(&lab, v, ALICE, "alice-1").connected().await;
        alice.publish("bob/x", 1, false, b"forbidden").await;
        match v {
            Mqtt::V311 => assert_eq!(alice.closed().await, None),
            Mqtt::V5 => {
                assert!(matches!(alice.next().await, Ev::PubAck(_, 0x87)));
                // The connection stays up: an allowed publish still goes through.
                alice.publish("alice/x", 1, false, b"ok").await;
                assert!(matches!(alice.next().await, Ev::PubAck(_, 0)));
                witness.expect_publish("alice/x", b"ok").await;
            }
        }
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_denied_qos0_per_version() {
    let lab = start_alice(Options::plain()).await;
    let mut witness = connect(&lab, Mqtt::V5, OPS, "ops-w").connected().await;
    witness.subscribed("bob/x", 0).await;
    witness.subscribed("alice/x", 0).await;
    let mut alice = connect(&lab, Mqtt::V311, ALICE, "alice-1")
        .connected()
        .await;
    alice.publish("bob/x", 0, false, b"forbidden").await;
    assert_eq!(alice.closed().await, None);

    let alice = connect(&lab, Mqtt::V5, ALICE, "alice-2").connected().await;
    alice.publish("bob/x", 0, false, b"forbidden").await;
    alice.publish("alice/x", 0, false, b"marker").await;
    // Messages from one connection are routed in order: the marker arriving first proves the
    // denied message was dropped.
    let (t, _, _) = witness.next_publish().await;
    assert_eq!(t, "alice/x");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_denied_per_version() {
    let lab = start_alice(Options::plain()).await;
    let mut a = connect(&lab, Mqtt::V311, ALICE, "alice-1")
        .connected()
        .await;
    a.subscribe("bob/#", 1).await;
    assert_eq!(
        a.closed().await,
        None,
        "3.1.1 gets no SUBACK 0x80, the socket closes"
    );

    let mut a = connect(&lab, Mqtt::V5, ALICE, "alice-2").connected().await;
    a.subscribe("bob/#", 1).await;
    a.expect(&Ev::SubAck(vec![0x87])).await;
    a.subscribed("alice/#", 1).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_denied_is_silently_dropped() {
    let lab = start_alice(Options::plain()).await;
    for v in BOTH {
        let mut a = connect(&lab, v, ALICE, "alice-r").connected().await;
        a.subscribed("shared/#", 1).await;
        let ops = connect(&lab, Mqtt::V5, OPS, "ops-p").connected().await;
        ops.publish("shared/secret", 1, false, b"s").await;
        ops.publish("shared/ok", 1, false, b"o").await;
        a.expect_publish("shared/ok", b"o").await;
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_revoked_mid_session_by_policy_replacement() {
    let lab = start_alice(Options::plain()).await;
    let mut a = connect(&lab, Mqtt::V5, ALICE, "alice-1").connected().await;
    a.subscribed("alice/#", 1).await;
    let ops = connect(&lab, Mqtt::V5, OPS, "ops-p").connected().await;
    ops.publish("alice/1", 1, false, b"before").await;
    assert_eq!(a.next_publish().await.1, b"before");
    let state = lab.state();
    let deny_receive = r#"{"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":["iot:Connect","iot:Publish","iot:Subscribe"],"Resource":"*"},
      {"Effect":"Allow","Action":"iot:Receive","Resource":"arn:aws:iot:us-east-1:123456789012:topic/alice/ok"}]}"#;
    state
        .put_policy("Alice", deny_receive, state.now())
        .unwrap();
    ops.publish("alice/1", 1, false, b"after").await;
    ops.publish("alice/ok", 1, false, b"marker").await;
    let (t, _, _) = a.next_publish().await;
    assert_eq!(t, "alice/ok");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_needs_retain_publish_and_skips_wildcards() {
    let lab = start_alice(Options::plain()).await;
    let mut a = connect(&lab, Mqtt::V5, ALICE, "alice-1").connected().await;
    a.publish("alice/other", 1, true, b"r").await;
    assert!(
        matches!(a.next().await, Ev::PubAck(_, 0x87)),
        "no iot:RetainPublish"
    );
    a.publish("alice/retained/x", 1, true, b"kept").await;
    assert!(matches!(a.next().await, Ev::PubAck(_, 0)));

    for v in BOTH {
        let mut b = connect(&lab, v, ALICE, "alice-2").connected().await;
        b.subscribed("alice/retained/#", 1).await;
        b.subscribed("alice/retained/x", 1).await;
        // Only the exact subscription gets the retained message.
        let (t, p, retain) = b.next_publish().await;
        assert_eq!(
            (t.as_str(), p.as_slice(), retain),
            ("alice/retained/x", &b"kept"[..], true)
        );
        b.publish("alice/retained/y", 0, false, b"live").await;
        let (t, _, retain) = b.next_publish().await;
        assert_eq!((t.as_str(), retain), ("alice/retained/y", false));
    }
    let mut a3 = connect(&lab, Mqtt::V311, ALICE, "alice-3")
        .connected()
        .await;
    a3.publish("alice/other", 1, true, b"r").await;
    assert_eq!(
        a3.closed().await,
        None,
        "3.1.1 retained publish without RetainPublish closes"
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_id_takeover_closes_the_older_connection() {
    let lab = start_alice(Options::plain()).await;
    for v in BOTH {
        let mut first = connect(&lab, v, ALICE, "alice-dup").connected().await;
        let _second = connect(&lab, v, ALICE, "alice-dup").connected().await;
        let code = first.closed().await;
        match v {
            Mqtt::V311 => assert_eq!(code, None),
            Mqtt::V5 => assert_eq!(code, Some(0x8E)),
        }
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_rate_limit_per_client_id() {
    let mut limits = test_limits();
    limits.connect_interval = std::time::Duration::from_secs(3600);
    let lab = start_alice(Options::plain().limits(limits)).await;
    let _first = connect(&lab, Mqtt::V5, ALICE, "alice-1").connected().await;
    let mut again = connect(&lab, Mqtt::V5, ALICE, "alice-1");
    again.expect(&Ev::ConnAck(0x97)).await;
    let mut v4 = connect(&lab, Mqtt::V311, ALICE, "alice-1");
    assert!(matches!(v4.next().await, Ev::Closed(_)));
    // Another client id is not throttled.
    connect(&lab, Mqtt::V5, ALICE, "alice-2").connected().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_rate_limit_per_connection() {
    let mut limits = test_limits();
    limits.publishes_per_second = 3;
    let lab = start_alice(Options::plain().limits(limits)).await;
    let mut a = connect(&lab, Mqtt::V5, ALICE, "alice-1").connected().await;
    for _ in 0..4 {
        a.publish("alice/x", 1, false, b"x").await;
    }
    let mut codes = Vec::new();
    for _ in 0..4 {
        match a.next().await {
            Ev::PubAck(_, c) => codes.push(c),
            other => panic!("{other:?}"),
        }
    }
    // Within one second the fourth is over quota (a slow machine may spread them out, so
    // count instead of asserting the exact position).
    assert!(
        codes.contains(&0x97) || codes.iter().all(|c| *c == 0),
        "{codes:?}"
    );
    assert!(codes.iter().filter(|c| **c == 0).count() >= 3, "{codes:?}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_is_refused() {
    let lab = start_alice(Options::plain()).await;
    let mut a = connect(&lab, Mqtt::V5, ALICE, "alice-1").connected().await;
    a.publish("alice/x", 2, false, b"x").await;
    assert_eq!(a.closed().await, Some(0x9B));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_packet_closes_only_that_connection() {
    let lab = start_alice(Options::plain()).await;
    let mut other = connect(&lab, Mqtt::V5, ALICE, "alice-o").connected().await;
    other.subscribed("alice/#", 0).await;
    let mut a = connect(&lab, Mqtt::V311, ALICE, "alice-1")
        .connected()
        .await;
    a.publish("alice/big", 0, false, &vec![0u8; 129 * 1024])
        .await;
    assert_eq!(a.closed().await, None);
    let b = connect(&lab, Mqtt::V311, ALICE, "alice-2")
        .connected()
        .await;
    b.publish("alice/small", 0, false, b"s").await;
    assert_eq!(other.next_publish().await.0, "alice/small");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_get_update_delete_round_trip() {
    let lab = start_alice(Options::plain()).await;
    for (v, id) in [(Mqtt::V311, "alice-s1"), (Mqtt::V5, "alice-s2")] {
        let mut a = connect(&lab, v, ALICE, id).connected().await;
        a.subscribed("$aws/things/alice-lamp/shadow/+/+", 1).await;
        let p = "$aws/things/alice-lamp/shadow";
        a.publish(
            &format!("{p}/update"),
            1,
            false,
            br#"{"state":{"desired":{"on":true}},"clientToken":"t1"}"#,
        )
        .await;
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let (t, body, _) = a.next_publish().await;
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            seen.push((t, json));
        }
        let topics: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            topics,
            vec![
                format!("{p}/update/accepted").as_str(),
                format!("{p}/update/delta").as_str(),
                format!("{p}/update/documents").as_str(),
            ]
        );
        let version = seen[0].1["version"].as_u64().unwrap();
        assert_eq!(seen[0].1["clientToken"], "t1");
        a.publish(&format!("{p}/get"), 1, false, b"{}").await;
        let (t, body, _) = a.next_publish().await;
        assert_eq!(t, format!("{p}/get/accepted"));
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["state"]["desired"]["on"], true);
        assert_eq!(json["state"]["delta"]["on"], true);
        assert_eq!(json["version"].as_u64().unwrap(), version);
        a.publish(&format!("{p}/delete"), 1, false, b"").await;
        let (t, _, _) = a.next_publish().await;
        assert_eq!(t, format!("{p}/delete/accepted"));
        a.publish(&format!("{p}/get"), 1, false, b"").await;
        let (t, body, _) = a.next_publish().await;
        assert_eq!(t, format!("{p}/get/rejected"));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["code"],
            404
        );
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_elses_shadow_is_denied() {
    let lab = start_alice(Options::plain()).await;
    let mut a = connect(&lab, Mqtt::V5, ALICE, "alice-1").connected().await;
    a.subscribe("$aws/things/bob-lamp/shadow/get/accepted", 1)
        .await;
    a.expect(&Ev::SubAck(vec![0x87])).await;
    a.publish("$aws/things/bob-lamp/shadow/get", 1, false, b"")
        .await;
    assert!(matches!(a.next().await, Ev::PubAck(_, 0x87)));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_gateway_with_generated_ca() {
    let lab = start_alice(Options::tls().limits(test_limits())).await;
    assert!(lab.endpoints.mqtt.starts_with("wss://127.0.0.1:"));
    let pem = std::fs::read_to_string(&lab.endpoints.ca_file).unwrap();
    assert!(pem.contains("BEGIN CERTIFICATE"));
    for v in BOTH {
        let mut a = connect(&lab, v, ALICE, "alice-t").connected().await;
        a.subscribed("alice/t", 1).await;
        a.publish("alice/t", 1, false, b"tls").await;
        assert_eq!(a.next_publish().await.1, b"tls");
    }
    lab.shutdown().await;
}
