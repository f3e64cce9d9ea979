//! The realism knobs, each observed on the wire by the raw client (`testkit::mqtt_raw`) over
//! MQTT 3.1.1 and 5: the lab really does what AWS documents. Timing is only ever asserted as a
//! lower bound (a delay the lab must have waited at least); order is proven by the lab's own
//! sequencing (a PUBACK means the message was routed, a PINGRESP that its PINGREQ was read
//! after everything before it), never by "nothing arrived within N ms" alone.

use std::time::{Duration, Instant};

use iot_canary_lab::RunningLab;
use iot_canary_lab::realism::conn::ConnRealism;
use iot_canary_testkit::lab::{self, Admin, Options};
use iot_canary_testkit::mqtt::Mqtt;
use iot_canary_testkit::mqtt_raw::{Got, Pkt, Raw};
use iot_canary_testkit::scenario::{ALICE, OPS, Scenario};

const BOTH: [Mqtt; 2] = [Mqtt::V311, Mqtt::V5];

/// The broker tests' world with these `[realism]` knobs, over plain websockets.
async fn lab_with(knobs: &str) -> RunningLab {
    lab::start(&Scenario::fixture("alice").realism(knobs), Options::plain()).await
}

fn tag(v: Mqtt) -> &'static str {
    match v {
        Mqtt::V311 => "v311",
        Mqtt::V5 => "v5",
    }
}

/// Publishes at QoS 1 and waits for that PUBACK (other packets are returned).
async fn publish_acked(c: &mut Raw, pkid: u16, topic: &str, payload: &[u8]) -> (Got, Vec<Got>) {
    c.publish(pkid, topic, 1, payload).await;
    let (before, ack) = c
        .until(|p| matches!(p, Pkt::PubAck { pkid: id, .. } if *id == pkid))
        .await;
    (ack, before)
}

/// Sends PINGREQ and returns everything up to and including the PINGRESP: the lab reads
/// packets in order, so whatever it answered before the PINGREQ has been sent by then.
async fn ping_barrier(c: &mut Raw) -> Vec<Pkt> {
    c.ping().await;
    let (before, pong) = c.until(|p| *p == Pkt::PingResp).await;
    let mut out: Vec<Pkt> = before.into_iter().map(|g| g.pkt).collect();
    out.push(pong.pkt);
    out
}

async fn applied(lab: &RunningLab, knob: &str) -> u64 {
    Admin::of(lab).realism_state().await["applied"][knob]
        .as_u64()
        .unwrap_or_else(|| panic!("applied.{knob}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_delay_hides_messages_published_right_after_suback() {
    const DELAY: Duration = Duration::from_millis(1500);
    let lab = lab_with("activation_delay = \"1500ms\"").await;
    let mut publisher = Raw::connected(&lab, Mqtt::V5, OPS, "ops-pub").await;
    let mut pkid = 0u16;
    for v in BOTH {
        let mut sub = Raw::connected(&lab, v, OPS, &format!("ops-sub-{}", tag(v))).await;
        // A stall longer than the delay between SUBACK and the early publish's PUBACK would
        // leave nothing to prove; try again on a fresh filter then.
        let (subscribed, topic) = 'attempt: {
            for attempt in 0..5 {
                let topic = format!("act/{}/{attempt}", tag(v));
                let subscribed = Instant::now();
                sub.subscribe(attempt + 1, &[(&topic, 1)]).await;
                assert_eq!(
                    sub.next().await.pkt,
                    Pkt::SubAck {
                        pkid: attempt + 1,
                        codes: vec![1]
                    }
                );
                pkid += 1;
                let (ack, _) = publish_acked(&mut publisher, pkid, &topic, b"early").await;
                // Routed (PUBACK back) before the subscription can have become active.
                if ack.at < subscribed + DELAY {
                    break 'attempt (subscribed, topic);
                }
            }
            panic!("the machine never routed a publish within 1.5 s of a SUBACK");
        };
        // Publish until one is delivered: the first to arrive is a later one, never "early".
        let got = loop {
            pkid += 1;
            let body = format!("late-{pkid}");
            publish_acked(&mut publisher, pkid, &topic, body.as_bytes()).await;
            if let Some(g) = sub.next_within(Duration::from_millis(100)).await {
                break g;
            }
        };
        let text = got.pkt.payload_text().expect("a PUBLISH");
        assert!(text.starts_with("late-"), "{v:?}: first delivery {text}");
        assert!(
            got.at >= subscribed + DELAY,
            "{v:?}: delivered {:?} after SUBSCRIBE",
            got.at - subscribed
        );
    }
    assert!(applied(&lab, "inactive_subscription").await >= 2);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_of_one_client_see_a_message_at_their_own_latency() {
    let lab = lab_with("seed = 11\ndelivery_latency = { min = \"0ms\", max = \"2s\" }").await;
    let settings = lab.state().realism();
    // The latency each connection draws at CONNECT (the lab's own plan): pick a fast and a
    // slow client id of the same identity.
    let latency = |id: &str| {
        ConnRealism::new(&settings, id, 0, Instant::now())
            .shaping
            .base_latency
    };
    let mut publisher = Raw::connected(&lab, Mqtt::V5, OPS, "ops-pub").await;
    for (i, v) in BOTH.into_iter().enumerate() {
        let ids: Vec<String> = (0..200)
            .map(|n| format!("ops-lat-{}-{n}", tag(v)))
            .collect();
        let fast_id = ids
            .iter()
            .find(|id| latency(id) < Duration::from_millis(300))
            .unwrap();
        let slow_id = ids
            .iter()
            .find(|id| latency(id) > Duration::from_millis(1500))
            .unwrap();
        let (lf, ls) = (latency(fast_id), latency(slow_id));
        let topic = format!("lat/{}", tag(v));
        let mut a = Raw::connected(&lab, v, OPS, fast_id).await;
        let mut b = Raw::connected(&lab, v, OPS, slow_id).await;
        for c in [&mut a, &mut b] {
            c.subscribe(1, &[(&topic, 1)]).await;
            assert_eq!(
                c.next().await.pkt,
                Pkt::SubAck {
                    pkid: 1,
                    codes: vec![1]
                }
            );
        }
        let sent = Instant::now();
        publish_acked(&mut publisher, i as u16 + 1, &topic, b"m").await;
        let (ga, gb) = (a.next().await, b.next().await);
        assert_eq!(ga.pkt.payload_text().as_deref(), Some("m"));
        assert_eq!(gb.pkt.payload_text().as_deref(), Some("m"));
        assert!(
            ga.at >= sent + lf,
            "{v:?}: fast connection before its latency"
        );
        assert!(
            gb.at >= sent + ls,
            "{v:?}: slow connection before its latency {ls:?}"
        );
        // Not the seed's luck: the two draws of this pair are far apart.
        assert!(ls > lf + Duration::from_millis(500), "{lf:?} vs {ls:?}");
    }
    assert!(applied(&lab, "delayed").await >= 2);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos0_deliveries_drop_and_duplicate() {
    let lab = lab_with("qos0_drop = 1.0").await;
    let admin = Admin::of(&lab);
    let mut publisher = Raw::connected(&lab, Mqtt::V5, OPS, "ops-pub").await;
    let mut pkid = 0;
    for v in BOTH {
        admin
            .realism(r#"{"qos0_drop":1.0,"qos0_duplicate":0.0}"#)
            .await;
        let topic = format!("q0/{}", tag(v));
        let mut sub = Raw::connected(&lab, v, OPS, &format!("ops-q0-{}", tag(v))).await;
        sub.subscribe(1, &[(&topic, 1)]).await;
        sub.next().await;
        // Dropped at QoS 0; the QoS 1 marker routed after it arrives first.
        publisher.publish(0, &topic, 0, b"dropped").await;
        pkid += 1;
        publish_acked(&mut publisher, pkid, &topic, b"marker").await;
        assert_eq!(
            sub.next().await.pkt.payload_text().as_deref(),
            Some("marker"),
            "{v:?}"
        );

        admin
            .realism(r#"{"qos0_drop":0.0,"qos0_duplicate":1.0}"#)
            .await;
        publisher.publish(0, &topic, 0, b"twice").await;
        pkid += 1;
        publish_acked(&mut publisher, pkid, &topic, b"marker-2").await;
        let texts: Vec<String> = [sub.next().await, sub.next().await, sub.next().await]
            .iter()
            .map(|g| g.pkt.payload_text().unwrap())
            .collect();
        assert_eq!(texts, ["twice", "twice", "marker-2"], "{v:?}");
    }
    assert_eq!(applied(&lab, "qos0_dropped").await, 2);
    assert_eq!(applied(&lab, "qos0_duplicated").await, 2);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_redelivery_has_a_new_packet_id_and_no_dup_flag() {
    let lab = lab_with("qos1_redelivery = 1.0\nredelivery_delay = \"100ms\"").await;
    let mut publisher = Raw::connected(&lab, Mqtt::V5, OPS, "ops-pub").await;
    for (i, v) in BOTH.into_iter().enumerate() {
        let topic = format!("q1/{}", tag(v));
        let mut sub = Raw::connected(&lab, v, OPS, &format!("ops-q1-{}", tag(v))).await;
        sub.subscribe(1, &[(&topic, 1)]).await;
        sub.next().await;
        publish_acked(&mut publisher, i as u16 + 1, &topic, b"once").await;
        let (first, second) = (sub.next().await.pkt, sub.next().await.pkt);
        match (&first, &second) {
            (
                Pkt::Publish {
                    pkid: p1,
                    dup: d1,
                    qos: 1,
                    payload: b1,
                    ..
                },
                Pkt::Publish {
                    pkid: p2,
                    dup: d2,
                    qos: 1,
                    payload: b2,
                    ..
                },
            ) => {
                assert_ne!(p1, p2, "{v:?}: the redelivery has a new packet id");
                assert!(!d1 && !d2, "{v:?}: DUP is never set");
                assert_eq!((b1.as_slice(), b2.as_slice()), (&b"once"[..], &b"once"[..]));
            }
            other => panic!("{v:?}: two deliveries expected, got {other:?}"),
        }
    }
    assert_eq!(applied(&lab, "qos1_redelivered").await, 2);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordering_lets_later_answers_overtake_acks_and_messages() {
    // Every ack and delivery is held until the connection's next other packet has gone.
    let lab = lab_with("reorder = 1.0\nreorder_window = \"60s\"").await;
    for v in BOTH {
        let topic = format!("ro/{}", tag(v));
        let mut c = Raw::connected(&lab, v, OPS, &format!("ops-ro-{}", tag(v))).await;
        c.subscribe(1, &[(&topic, 1)]).await;
        // The PINGREQ was sent after the SUBSCRIBE; its answer comes first.
        c.ping().await;
        assert_eq!(c.next().await.pkt, Pkt::PingResp, "{v:?}");
        assert_eq!(
            c.next().await.pkt,
            Pkt::SubAck {
                pkid: 1,
                codes: vec![1]
            },
            "{v:?}"
        );
        // A publish to its own filter: its PUBACK and the message are both overtaken by the
        // answer to any later request (pinged until both were released).
        c.publish(7, &topic, 1, b"self").await;
        let mut released = Vec::new();
        for _ in 0..20 {
            c.ping().await;
            assert_eq!(
                c.next().await.pkt,
                Pkt::PingResp,
                "{v:?}: after {released:?}"
            );
            while let Some(g) = c.next_within(Duration::from_millis(50)).await {
                assert_ne!(g.pkt, Pkt::PingResp, "{v:?}: a PINGRESP is never held");
                released.push(g.pkt);
            }
            if released.len() == 2 {
                break;
            }
        }
        assert!(
            released.contains(&Pkt::PubAck { pkid: 7, code: 0 }),
            "{v:?}: {released:?}"
        );
        assert_eq!(
            released
                .iter()
                .filter_map(Pkt::payload_text)
                .collect::<Vec<_>>(),
            ["self"],
            "{v:?}"
        );
    }
    assert!(applied(&lab, "reordered").await >= 6);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_acks_arrive_after_the_configured_delay_with_their_packet_id() {
    const LATE: Duration = Duration::from_millis(1500);
    let lab = lab_with("late_ack = 1.0\nlate_ack_delay = \"1500ms\"").await;
    for v in BOTH {
        let topic = format!("alice/late-{}", tag(v));
        let mut c = Raw::connected(&lab, v, ALICE, &format!("alice-late-{}", tag(v))).await;
        let t = Instant::now();
        c.subscribe(1, &[(&topic, 1)]).await;
        let g = c.next().await;
        assert_eq!(
            g.pkt,
            Pkt::SubAck {
                pkid: 1,
                codes: vec![1]
            },
            "{v:?}"
        );
        assert!(g.at >= t + LATE, "{v:?}: SUBACK after {:?}", g.at - t);
        let t = Instant::now();
        let (ack, before) = publish_acked(&mut c, 2, &topic, b"m").await;
        assert_eq!(ack.pkt, Pkt::PubAck { pkid: 2, code: 0 });
        assert!(ack.at >= t + LATE, "{v:?}: PUBACK after {:?}", ack.at - t);
        // The message itself was not held back with its ack (it came before, or comes now).
        let mut delivered: Vec<_> = before.iter().filter_map(|g| g.pkt.payload_text()).collect();
        if delivered.is_empty() {
            delivered.extend(c.next().await.pkt.payload_text());
        }
        assert_eq!(delivered, ["m"], "{v:?}");
        if v == Mqtt::V5 {
            // A refusal comes late too: PUBACK 0x87 for the packet id of the forbidden publish.
            let t = Instant::now();
            let (ack, _) = publish_acked(&mut c, 3, "bob/x", b"no").await;
            assert_eq!(
                ack.pkt,
                Pkt::PubAck {
                    pkid: 3,
                    code: 0x87
                }
            );
            assert!(ack.at >= t + LATE);
        }
    }
    assert!(applied(&lab, "late_ack").await >= 5);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_subscriptions_get_suback_0x80_on_311_and_0x97_on_5() {
    let lab = lab_with("subscribe_throttle = 1.0").await;
    for v in BOTH {
        let mut c = Raw::connected(&lab, v, OPS, &format!("ops-thr-{}", tag(v))).await;
        c.subscribe(1, &[("thr/a", 1), ("thr/b", 0)]).await;
        let want = match v {
            Mqtt::V311 => vec![0x80, 0x80],
            Mqtt::V5 => vec![0x97, 0x97],
        };
        assert_eq!(
            c.next().await.pkt,
            Pkt::SubAck {
                pkid: 1,
                codes: want
            },
            "{v:?}"
        );
        // The connection stays, and the same filters are granted once the throttle lifts.
        assert_eq!(ping_barrier(&mut c).await, vec![Pkt::PingResp]);
        Admin::of(&lab).realism(r#"{"subscribe_throttle":0}"#).await;
        c.subscribe(2, &[("thr/a", 1)]).await;
        assert_eq!(
            c.next().await.pkt,
            Pkt::SubAck {
                pkid: 2,
                codes: vec![1]
            }
        );
        Admin::of(&lab)
            .realism(r#"{"subscribe_throttle":1.0}"#)
            .await;
    }
    assert_eq!(applied(&lab, "subscribe_throttled").await, 4);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_wide_publish_and_subscription_rates() {
    for v in BOTH {
        // A lab per version: the account windows are the lab's.
        let lab =
            lab_with("account_subscriptions_per_second = 2\naccount_publishes_per_second = 1")
                .await;
        let mut c = Raw::connected(&lab, v, OPS, "ops-acct").await;
        c.subscribe(1, &[("acct/a", 1), ("acct/b", 1), ("acct/c", 1)])
            .await;
        let third = if v == Mqtt::V5 { 0x97 } else { 0x80 };
        assert_eq!(
            c.next().await.pkt,
            Pkt::SubAck {
                pkid: 1,
                codes: vec![1, 1, third]
            },
            "{v:?}"
        );
        let (ack, _) = publish_acked(&mut c, 10, "other/x", b"1").await;
        assert_eq!(ack.pkt, Pkt::PubAck { pkid: 10, code: 0 });
        c.publish(11, "other/x", 1, b"2").await;
        let seen = ping_barrier(&mut c).await;
        match v {
            // "Publish requests exceeding that limit will be discarded": no PUBACK at all.
            Mqtt::V311 => assert_eq!(seen, vec![Pkt::PingResp]),
            Mqtt::V5 => assert_eq!(
                seen,
                vec![
                    Pkt::PubAck {
                        pkid: 11,
                        code: 0x97
                    },
                    Pkt::PingResp
                ]
            ),
        }
        assert_eq!(applied(&lab, "publish_throttled").await, 1);
        lab.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_requests_are_rejected_with_each_configured_code() {
    let lab =
        lab_with("shadow_rejection = 1.0\nshadow_rejection_codes = [401, 403, 404, 429, 500]")
            .await;
    for v in BOTH {
        let mut c = Raw::connected(&lab, v, OPS, &format!("ops-sh-{}", tag(v))).await;
        c.subscribe(1, &[("$aws/things/lamp/shadow/get/rejected", 1)])
            .await;
        c.next().await;
        let mut codes = std::collections::BTreeSet::new();
        for i in 0..200u16 {
            let token = format!("tok-{i}");
            let body = serde_json::json!({ "clientToken": token }).to_string();
            c.publish(i + 2, "$aws/things/lamp/shadow/get", 1, body.as_bytes())
                .await;
            let (_, rejected) = c.until(|p| matches!(p, Pkt::Publish { .. })).await;
            let json: serde_json::Value =
                serde_json::from_str(&rejected.pkt.payload_text().unwrap()).unwrap();
            assert_eq!(json["clientToken"], token.as_str(), "{v:?}: {json}");
            let code = json["code"].as_u64().unwrap();
            let message = json["message"].as_str().unwrap();
            let want = match code {
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "Thing not found",
                429 => "Too Many Requests",
                500 => "Internal service failure",
                other => panic!("{v:?}: code {other} is not configured"),
            };
            assert_eq!(message, want);
            codes.insert(code);
            if codes.len() == 5 {
                break;
            }
        }
        assert_eq!(
            codes.len(),
            5,
            "{v:?}: every configured code seen: {codes:?}"
        );
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_publishes_to_reserved_topics_are_refused_and_the_limit_throttles() {
    let lab = lab_with("retain_reserved_refused = true\nmax_retained = 1").await;
    // MQTT 5: PUBACK 0x90 for a reserved topic; 0x97 over the retained maximum.
    let mut c = Raw::connected(&lab, Mqtt::V5, OPS, "ops-ret-v5").await;
    c.publish_with(1, "$aws/custom/state", 1, true, b"r").await;
    assert_eq!(
        c.next().await.pkt,
        Pkt::PubAck {
            pkid: 1,
            code: 0x90
        }
    );
    c.publish_with(2, "ret/a", 1, true, b"first").await;
    assert_eq!(c.next().await.pkt, Pkt::PubAck { pkid: 2, code: 0 });
    c.publish_with(3, "ret/b", 1, true, b"second").await;
    assert_eq!(
        c.next().await.pkt,
        Pkt::PubAck {
            pkid: 3,
            code: 0x97
        }
    );
    // Replacing the one retained message takes no new slot.
    c.publish_with(4, "ret/a", 1, true, b"replaced").await;
    assert_eq!(c.next().await.pkt, Pkt::PubAck { pkid: 4, code: 0 });
    // MQTT 3.1.1: a close for the reserved topic; over the maximum, discarded without PUBACK.
    let mut c = Raw::connected(&lab, Mqtt::V311, OPS, "ops-ret-v311").await;
    c.publish_with(1, "ret/c", 1, true, b"third").await;
    assert_eq!(ping_barrier(&mut c).await, vec![Pkt::PingResp]);
    c.publish_with(2, "$aws/custom/state", 1, true, b"r").await;
    assert_eq!(c.closed().await, (None, vec![]));
    // Only the one allowed retained message is kept.
    let mut s = Raw::connected(&lab, Mqtt::V5, OPS, "ops-ret-sub").await;
    s.subscribe(1, &[("ret/a", 1)]).await;
    assert_eq!(
        s.next().await.pkt,
        Pkt::SubAck {
            pkid: 1,
            codes: vec![1]
        }
    );
    match s.next().await.pkt {
        Pkt::Publish {
            retain: true,
            payload,
            ..
        } => assert_eq!(payload, b"replaced"),
        other => panic!("the retained message: {other:?}"),
    }
    assert_eq!(applied(&lab, "retain_refused").await, 4);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_over_aws_slash_and_byte_limits_are_refused() {
    let lab = lab_with("topic_slashes = 7\ntopic_bytes = 256").await;
    let eight_slashes = "a/b/c/d/e/f/g/h/i";
    let long = format!("t/{}", "x".repeat(255));
    let mut c = Raw::connected(&lab, Mqtt::V5, OPS, "ops-lim-v5").await;
    let (ok, _) = publish_acked(&mut c, 1, "a/b/c/d/e/f/g/h", b"7").await;
    assert_eq!(ok.pkt, Pkt::PubAck { pkid: 1, code: 0 });
    let (refused, _) = publish_acked(&mut c, 2, eight_slashes, b"8").await;
    assert_eq!(
        refused.pkt,
        Pkt::PubAck {
            pkid: 2,
            code: 0x90
        }
    );
    let (refused, _) = publish_acked(&mut c, 3, &long, b"257").await;
    assert_eq!(
        refused.pkt,
        Pkt::PubAck {
            pkid: 3,
            code: 0x90
        }
    );
    c.subscribe(4, &[("a/+/c", 1), (eight_slashes, 1)]).await;
    assert_eq!(
        c.next().await.pkt,
        Pkt::SubAck {
            pkid: 4,
            codes: vec![1, 0x8F]
        }
    );
    // Basic Ingest's prefix does not count.
    let ingest = format!("$aws/rules/r/{}", "a/".repeat(8).trim_end_matches('/'));
    let (ok, _) = publish_acked(&mut c, 5, &ingest, b"i").await;
    assert_eq!(ok.pkt, Pkt::PubAck { pkid: 5, code: 0 });
    // MQTT 3.1.1 closes on either.
    let mut c = Raw::connected(&lab, Mqtt::V311, OPS, "ops-lim-v311").await;
    c.publish(1, eight_slashes, 1, b"8").await;
    assert_eq!(c.closed().await, (None, vec![]));
    let mut c = Raw::connected(&lab, Mqtt::V311, OPS, "ops-lim-v311b").await;
    c.subscribe(1, &[(&long, 1)]).await;
    assert_eq!(c.closed().await, (None, vec![]));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_eight_filters_in_one_subscribe_are_refused_as_aws_does() {
    let lab = lab_with("filters_per_subscribe = 8").await;
    let names: Vec<String> = (0..9).map(|i| format!("f/{i}")).collect();
    let nine: Vec<(&str, u8)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    // Eight are fine.
    let mut c = Raw::connected(&lab, Mqtt::V5, OPS, "ops-nine-v5").await;
    c.subscribe(1, &nine[..8]).await;
    assert_eq!(
        c.next().await.pkt,
        Pkt::SubAck {
            pkid: 1,
            codes: vec![1; 8]
        }
    );
    // MQTT 5 (UNCONFIRMED on AWS): SUBACK 0x97 for each filter, the connection stays.
    c.subscribe(2, &nine).await;
    assert_eq!(
        c.next().await.pkt,
        Pkt::SubAck {
            pkid: 2,
            codes: vec![0x97; 9]
        }
    );
    // MQTT 3.1.1 (field reports): no SUBACK, the connection is dropped.
    let mut c = Raw::connected(&lab, Mqtt::V311, OPS, "ops-nine-v311").await;
    c.subscribe(1, &nine).await;
    assert_eq!(c.closed().await, (None, vec![]));
    // Randomized, MQTT 5 also gets the other candidate: DISCONNECT 0x97.
    Admin::of(&lab)
        .realism(r#"{"randomize_unconfirmed":true}"#)
        .await;
    let mut reactions = std::collections::BTreeSet::new();
    for i in 0..30 {
        let mut c = Raw::connected(&lab, Mqtt::V5, OPS, &format!("ops-nine-r{i}")).await;
        c.subscribe(1, &nine).await;
        match c.next().await.pkt {
            Pkt::SubAck { codes, .. } => {
                assert_eq!(codes, vec![0x97; 9]);
                reactions.insert("suback");
            }
            Pkt::Disconnect(0x97) => {
                assert_eq!(c.next().await.pkt, Pkt::Closed);
                reactions.insert("disconnect");
            }
            other => panic!("{other:?}"),
        }
        if reactions.len() == 2 {
            break;
        }
    }
    assert_eq!(reactions.len(), 2, "{reactions:?}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_subscriptions_per_connection_then_0x80_on_311_and_0x97_on_5() {
    let lab = lab_with("subscriptions_per_connection = 50").await;
    let names: Vec<String> = (0..51).map(|i| format!("s/{i}")).collect();
    for v in BOTH {
        let mut c = Raw::connected(&lab, v, OPS, &format!("ops-50-{}", tag(v))).await;
        for (i, chunk) in names[..50].chunks(8).enumerate() {
            let filters: Vec<(&str, u8)> = chunk.iter().map(|n| (n.as_str(), 0)).collect();
            c.subscribe(i as u16 + 1, &filters).await;
            match c.next().await.pkt {
                Pkt::SubAck { codes, .. } => assert!(codes.iter().all(|c| *c == 0), "{v:?}"),
                other => panic!("{v:?}: {other:?}"),
            }
        }
        // A 51st filter is over the quota; re-subscribing one held takes no new slot.
        c.subscribe(20, &[("s/0", 1), (&names[50], 1)]).await;
        let over = if v == Mqtt::V5 { 0x97 } else { 0x80 };
        assert_eq!(
            c.next().await.pkt,
            Pkt::SubAck {
                pkid: 20,
                codes: vec![1, over]
            },
            "{v:?}"
        );
        assert_eq!(
            ping_barrier(&mut c).await,
            vec![Pkt::PingResp],
            "{v:?}: still connected"
        );
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_over_the_limit_are_refused_per_version() {
    let lab = lab_with("client_id_bytes = 128").await;
    let long = "c".repeat(129);
    Raw::connected(&lab, Mqtt::V5, OPS, &"c".repeat(128)).await;
    let mut c = Raw::connect(&lab, Mqtt::V5, OPS, &long).await;
    assert_eq!(c.next().await.pkt, Pkt::ConnAck(0x85));
    assert_eq!(c.next().await.pkt, Pkt::Closed);
    let mut c = Raw::connect(&lab, Mqtt::V311, OPS, &long).await;
    assert_eq!(c.next().await.pkt, Pkt::Closed, "3.1.1: no CONNACK");
    // The knob moves the limit.
    Admin::of(&lab).realism(r#"{"client_id_bytes":20}"#).await;
    let mut c = Raw::connect(&lab, Mqtt::V5, OPS, &"d".repeat(21)).await;
    assert_eq!(c.next().await.pkt, Pkt::ConnAck(0x85));
    Raw::connected(&lab, Mqtt::V311, OPS, &"d".repeat(20)).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_takes_the_client_id_over() {
    let lab = lab_with("").await;
    let admin = Admin::of(&lab);
    for v in BOTH {
        let id = format!("ops-taken-{}", tag(v));
        let mut c = Raw::connected(&lab, v, OPS, &id).await;
        assert_eq!(admin.take_over(&id).await, 200);
        let (code, seen) = c.closed().await;
        assert!(seen.is_empty(), "{seen:?}");
        match v {
            Mqtt::V311 => assert_eq!(code, None, "3.1.1: a close"),
            Mqtt::V5 => assert_eq!(code, Some(0x8E), "5: Session taken over"),
        }
        assert_eq!(admin.take_over(&id).await, 404, "nobody holds it any more");
        // The canary can take it back.
        Raw::connected(&lab, v, OPS, &id).await;
    }
    assert_eq!(applied(&lab, "taken_over").await, 2);
    // The `takeover` knob: drawn per connection, at a time from `takeover_after`.
    admin
        .realism(r#"{"takeover":1.0,"takeover_after":"400ms"}"#)
        .await;
    for v in BOTH {
        let id = format!("ops-drawn-{}", tag(v));
        let connected = Instant::now();
        let mut c = Raw::connected(&lab, v, OPS, &id).await;
        let (code, seen) = c.closed().await;
        assert!(connected.elapsed() >= Duration::from_millis(400));
        assert!(seen.is_empty(), "{seen:?}");
        assert_eq!(code, (v == Mqtt::V5).then_some(0x8E), "{v:?}");
        assert_eq!(admin.take_over(&id).await, 404, "held elsewhere now");
    }
    assert_eq!(applied(&lab, "taken_over").await, 4);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_initiated_disconnects_on_demand_and_drawn_per_connection() {
    let lab = lab_with("").await;
    let admin = Admin::of(&lab);
    for v in BOTH {
        let id = format!("ops-kick-{}", tag(v));
        let mut c = Raw::connected(&lab, v, OPS, &id).await;
        assert_eq!(admin.disconnect(&id, 0x87).await, 200);
        let want = (v == Mqtt::V5).then_some(0x87);
        assert_eq!(c.closed().await, (want, vec![]), "{v:?}");
    }
    assert_eq!(admin.disconnect("nobody", 0x98).await, 404);
    assert_eq!(admin.disconnect("nobody", 0x42).await, 400);
    admin
        .realism(r#"{"server_disconnect":1.0,"server_disconnect_after":"400ms","server_disconnect_codes":[139]}"#)
        .await;
    for v in BOTH {
        let connected = Instant::now();
        let mut c = Raw::connected(&lab, v, OPS, &format!("ops-maint-{}", tag(v))).await;
        let (code, _) = c.closed().await;
        assert!(connected.elapsed() >= Duration::from_millis(400));
        assert_eq!(
            code,
            (v == Mqtt::V5).then_some(0x8B),
            "{v:?}: Server shutting down"
        );
    }
    assert_eq!(applied(&lab, "server_disconnect").await, 4);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_lifetime_closes_at_the_next_send_after_the_cap() {
    const LIFETIME: Duration = Duration::from_millis(800);
    let lab = lab_with("connection_lifetime = \"800ms\"").await;
    for v in BOTH {
        let connected = Instant::now();
        let mut c = Raw::connected(&lab, v, OPS, &format!("ops-ttl-{}", tag(v))).await;
        // Idle past the cap, the connection stays: AWS closes it only when someone sends.
        let idle = c.next_within(LIFETIME + Duration::from_millis(400)).await;
        assert_eq!(idle, None, "{v:?}");
        assert!(connected.elapsed() >= LIFETIME);
        c.ping().await;
        assert_eq!(
            c.next().await.pkt,
            Pkt::Closed,
            "{v:?}: no PINGRESP past the cap"
        );
    }
    assert_eq!(applied(&lab, "lifetime_closed").await, 2);
    lab.shutdown().await;
}

/// One scripted run: a subscriber and a publisher under many random knobs; what the
/// subscriber got (sorted: holds may change the order, not the content) and the knob counts.
async fn scripted_run(knobs: &str) -> (Vec<Pkt>, Vec<String>, serde_json::Value) {
    let lab = lab_with(knobs).await;
    let mut sub = Raw::connected(&lab, Mqtt::V5, OPS, "det-sub").await;
    let filters: Vec<String> = (0..8).map(|i| format!("det/{i}")).collect();
    let list: Vec<(&str, u8)> = filters.iter().map(|f| (f.as_str(), 1)).collect();
    sub.subscribe(1, &list).await;
    let suback = sub.until(|p| matches!(p, Pkt::SubAck { .. })).await.1.pkt;
    // The end marker's own filter, retried until granted (the retries are seeded too).
    let mut granted = false;
    for pkid in 2..50 {
        sub.subscribe(pkid, &[("det/end", 1)]).await;
        let ack = sub.until(|p| matches!(p, Pkt::SubAck { .. })).await.1.pkt;
        if ack
            == (Pkt::SubAck {
                pkid,
                codes: vec![1],
            })
        {
            granted = true;
            break;
        }
    }
    assert!(granted);
    let mut publisher = Raw::connected(&lab, Mqtt::V311, OPS, "det-pub").await;
    for i in 0..40u16 {
        let topic = &filters[usize::from(i) % 8];
        publisher
            .publish(i + 1, topic, (i % 2) as u8, format!("m{i}").as_bytes())
            .await;
    }
    publisher.publish(100, "det/end", 1, b"end").await;
    let (before, _) = sub
        .until(|p| p.payload_text().as_deref() == Some("end"))
        .await;
    let mut texts: Vec<String> = before.iter().filter_map(|g| g.pkt.payload_text()).collect();
    texts.sort();
    let applied = Admin::of(&lab).realism_state().await["applied"].clone();
    lab.shutdown().await;
    (vec![suback], texts, applied)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_replay_exactly_under_the_same_seed() {
    // The chaos profile with its time-driven knobs pinned, so only the seed decides.
    let knobs = |seed: u64| {
        format!(
            "profile = \"chaos\"\nseed = {seed}\nactivation_delay = \"0s\"\ndelivery_latency = \"0s\"\n\
             delivery_jitter = \"0s\"\nlate_ack = 0\nredelivery_delay = \"0s\"\nreorder_window = \"300ms\"\n\
             connection_lifetime = \"0s\"\nserver_disconnect = 0\ntakeover = 0\naccount_publishes_per_second = 0\n\
             account_subscriptions_per_second = 0\nqos0_drop = 0.3\nqos0_duplicate = 0.3\n\
             qos1_redelivery = 0.3\nsubscribe_throttle = 0.3"
        )
    };
    let a = scripted_run(&knobs(42)).await;
    let b = scripted_run(&knobs(42)).await;
    assert_eq!(a, b, "same seed, same behaviour");
    let c = scripted_run(&knobs(43)).await;
    assert_ne!(a, c, "another seed, other choices");
    // Something random actually happened.
    for knob in [
        "qos0_dropped",
        "qos0_duplicated",
        "qos1_redelivered",
        "subscribe_throttled",
    ] {
        assert!(a.2[knob].as_u64().unwrap() > 0, "{knob}: {}", a.2);
    }
    // The profiles as the admin API shows them: aws at AWS's documented limits.
    let lab = lab_with("profile = \"aws\"").await;
    let r = Admin::of(&lab).realism_state().await;
    assert_eq!(r["profile"], "aws");
    for (key, want) in [
        ("topic_slashes", 7),
        ("topic_bytes", 256),
        ("filters_per_subscribe", 8),
        ("subscriptions_per_connection", 50),
        ("client_id_bytes", 128),
    ] {
        assert_eq!(r[key], want, "{key}");
    }
    assert_eq!(r["connection_lifetime"]["max"], "1day");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_merges_validates_and_clears_realism() {
    let lab = lab_with("").await;
    let admin = Admin::of(&lab);
    assert_eq!(admin.realism_state().await["profile"], "off");
    let r = admin.realism(r#"{"profile":"aws","qos0_drop":0.5}"#).await;
    assert_eq!(
        (r["profile"].as_str(), r["qos0_drop"].as_f64()),
        (Some("aws"), Some(0.5))
    );
    // Merged: the next PUT keeps the profile and the earlier override.
    let r = admin
        .realism(r#"{"seed":5,"delivery_jitter":"40ms"}"#)
        .await;
    assert_eq!(
        (r["seed"].as_u64(), r["qos0_drop"].as_f64()),
        (Some(5), Some(0.5))
    );
    assert_eq!(r["delivery_jitter"], "40ms");
    // Bad values are 400s naming the key; nothing changes.
    for (body, key) in [
        (r#"{"qos0_drop":2}"#, "qos0_drop"),
        (
            r#"{"delivery_latency":{"min":"2s","max":"1s"}}"#,
            "delivery_latency",
        ),
        (r#"{"jitter":"1s"}"#, "jitter"),
        (r#"{"late_ack_delay":"soon"}"#, "not a duration"),
    ] {
        let (status, text) = admin.request("PUT", "/realism", body).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(key), "{body}: {text}");
    }
    assert_eq!(admin.realism_state().await["seed"], 5);
    assert_eq!(admin.state().await["realism"]["profile"], "aws");
    admin.realism_off().await;
    assert_eq!(admin.realism_state().await["profile"], "off");
    lab.shutdown().await;
}
