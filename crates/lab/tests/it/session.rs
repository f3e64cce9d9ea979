//! Session timing with a raw websocket client (rumqttc always pings): keep-alive expiry and the
//! connection cap.

use std::time::Duration;

use iot_canary_testkit::lab::{Options, test_limits};
use iot_canary_testkit::mqtt::WAIT;
use iot_canary_testkit::scenario::OPS;
use iot_canary_testkit::sigv4::presign_now;

use crate::start_alice;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// MQTT 5 CONNECT, clean start, no properties.
fn v5_connect(client_id: &str, keep_alive: u16) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5, 0x02];
    body.extend_from_slice(&keep_alive.to_be_bytes());
    body.push(0); // properties
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut out = vec![0x10, body.len() as u8];
    out.extend(body);
    out
}

async fn raw_session(lab: &iot_canary_lab::RunningLab, keep_alive: u16) -> Vec<Vec<u8>> {
    let url = presign_now(&lab.endpoints.mqtt, OPS);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "mqtt".parse().unwrap());
    let tcp = tokio::net::TcpStream::connect(lab.mqtt_addr).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "mqtt");
    ws.send(Message::Binary(v5_connect("ops-raw", keep_alive).into()))
        .await
        .unwrap();
    let mut frames = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("session never ended")
        {
            Some(Ok(Message::Binary(b))) => frames.push(b.to_vec()),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return frames,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_is_dropped_after_one_and_a_half_keep_alives() {
    let lab = start_alice(Options::plain()).await;
    let started = std::time::Instant::now();
    let frames = raw_session(&lab, 1).await;
    assert_eq!(frames[0][0], 0x20, "CONNACK first");
    assert_eq!(frames[0][3], 0x00);
    assert_eq!(
        frames.last().unwrap(),
        &vec![0xE0, 2, 0x8D, 0],
        "DISCONNECT Keep Alive timeout"
    );
    assert!(started.elapsed() >= Duration::from_millis(1400));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_ends_the_session() {
    let mut limits = test_limits();
    limits.max_connection = Duration::from_millis(300);
    let lab = start_alice(Options::plain().limits(limits)).await;
    let frames = raw_session(&lab, 0).await;
    assert_eq!(frames[0][0], 0x20);
    assert_eq!(frames.last().unwrap(), &vec![0xE0, 2, 0x98, 0]);
    lab.shutdown().await;
}
