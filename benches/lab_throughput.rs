//! Lab throughput over TLS on loopback (a benchmark, not a test): MQTT 5 connections per second
//! (presigned URL → TLS → SigV4 check → CONNECT authorized → CONNACK → DISCONNECT) and
//! publishes per second (QoS 1 publisher → broker with per-publish iot:Publish and
//! per-delivery iot:Receive checks → QoS 0 subscriber).
//!
//! Run: `cargo bench --bench lab_throughput` (prints one line per measurement).

use std::time::{Duration, Instant};

use iot_canary_testkit::lab::{self, Options, test_limits};
use iot_canary_testkit::mqtt::{Ev, Handle, Mqtt, connect};
use iot_canary_testkit::scenario::{ALICE, OPS, Scenario};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut limits = test_limits();
        limits.publishes_per_second = u32::MAX;
        let lab = lab::start(&Scenario::fixture("alice"), Options::tls().limits(limits)).await;

        // Warm-up.
        for i in 0..10 {
            let c = connect(&lab, Mqtt::V5, ALICE, &format!("alice-w{i}")).connected().await;
            drop(c);
        }
        for concurrency in [1usize, 8] {
            let total = 200usize;
            let start = Instant::now();
            let mut tasks = Vec::new();
            for w in 0..concurrency {
                let mqtt = lab.endpoints.mqtt.clone();
                let per = total / concurrency;
                let lab_ref = &lab;
                let _ = mqtt;
                tasks.push(async move {
                    for i in 0..per {
                        let c = connect(lab_ref, Mqtt::V5, ALICE, &format!("alice-{w}-{i}")).connected().await;
                        if let Handle::V5(h) = &c.handle {
                            let _ = h.disconnect().await;
                        }
                    }
                });
            }
            futures_util::future::join_all(tasks).await;
            let secs = start.elapsed().as_secs_f64();
            println!(
                "lab_throughput/connections_per_sec concurrency={concurrency}: {:.1} conn/s ({total} in {secs:.2}s)",
                total as f64 / secs
            );
        }

        let mut sub = connect(&lab, Mqtt::V5, ALICE, "alice-sub").connected().await;
        sub.subscribed("alice/bench", 0).await;
        let publisher = connect(&lab, Mqtt::V5, OPS, "ops-pub").connected().await;
        let n = 20_000usize;
        let payload = vec![b'x'; 64];
        let start = Instant::now();
        let send = async {
            for _ in 0..n {
                publisher.publish("alice/bench", 1, false, &payload).await;
            }
        };
        let recv = async {
            let mut got = 0;
            let mut last = Instant::now();
            while got < n {
                match tokio::time::timeout(Duration::from_secs(10), sub.events.recv()).await {
                    Ok(Some(Ev::Publish { .. })) => {
                        got += 1;
                        last = Instant::now();
                    }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            (got, last)
        };
        let ((), (got, last)) = tokio::join!(send, recv);
        let secs = last.duration_since(start).as_secs_f64();
        println!(
            "lab_throughput/publishes_per_sec qos1->qos0 64B: {:.0} msg/s delivered ({got}/{n} in {secs:.2}s)",
            got as f64 / secs
        );
        lab.shutdown().await;
    });
}
