//! The status page as a browser renders it: served from an in-test axum server on loopback and
//! looked at by headless Debian `chromium`. On a desktop window the breach row comes first in
//! the rendered DOM and is visibly painted (its background colour, above the blind row's) in a
//! screenshot. On a 375 px phone (DevTools device emulation) nothing overflows horizontally,
//! long names and evidence included, and the breach row is still first and painted on the first
//! screen.

use std::time::{Duration, SystemTime};

use iot_canary_testkit::chromium::{DevTools, find_colour, run_chromium};

use iot_canary_core::render::status_page::{Header, Page, StatusRow, render};
use iot_canary_core::verdict::{Expect, ProbeAction, Reason, Standing, Verdict};

fn page() -> String {
    let now = SystemTime::now();
    let ok_ev = vec![
        "SUBACK 0x87 not authorized".to_string(),
        "+3 ms: SUBSCRIBE devices/carol-plug/#".to_string(),
    ];
    // No spaces to break at: the page must still fit a phone.
    let long_topic = format!(
        "devices/{}/telemetry/#",
        "kitchen-plug-0123456789".repeat(4)
    );
    let breach_ev = vec![
        "SUBACK 0x01 granted QoS 1".to_string(),
        "bait nonce received <by the canary> & logged".to_string(),
        format!("+12 ms: SUBSCRIBE {long_topic}"),
    ];
    let blind_ev = vec!["no CONNACK within 10 s".to_string()];
    let long_name = format!("alice-cannot-subscribe-to-{}", "bobs-lamp-".repeat(6));
    // Input order deliberately puts the breach last: the page must reorder.
    let mut rows = vec![];
    for i in 0..12 {
        rows.push((
            format!("alice-cannot-subscribe-to-plug-{i:02}"),
            Standing::Ok,
        ));
    }
    rows.push(("dave-cannot-read-bobs-shadow".into(), Standing::Blind));
    rows.push((long_name, Standing::Breach));
    let rows: Vec<StatusRow<'_>> = rows
        .iter()
        .map(|(name, standing)| StatusRow {
            canary: name,
            identity: "alice",
            action: ProbeAction::Subscribe,
            expect: Expect::Deny,
            verdict: Some(match standing {
                Standing::Ok => Verdict::Denied,
                Standing::Blind => Verdict::Inconclusive(Reason::Timeout),
                _ => Verdict::Allowed,
            }),
            standing: Some(*standing),
            evidence: match standing {
                Standing::Ok => &ok_ev,
                Standing::Blind => &blind_ev,
                _ => &breach_ev,
            },
            last_verdict_at: Some(now - Duration::from_secs(12)),
            restored: false,
        })
        .collect();
    render(&Page {
        header: Header {
            endpoint: "a1b2c3d4e5f6g7-ats.iot.eu-central-1.amazonaws.com",
            region: "eu-central-1",
            version: env!("CARGO_PKG_VERSION"),
            last_round: Some(now - Duration::from_secs(20)),
            last_trigger: Some(iot_canary_core::trigger::Trigger::Http),
            watch_until: Some(now + Duration::from_secs(600)),
            not_ready: None,
        },
        rows: &rows,
        now,
        refresh_secs: 30,
        dashboard_url: Some("https://grafana.example/d/iot-canary"),
        runbook_url: "https://github.com/iot-canary/iot-canary/blob/main/docs/runbook.md",
    })
}

async fn serve(html: String) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let html = html.clone();
            async move { axum::response::Html(html) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

#[tokio::test]
async fn breach_row_is_first_in_dom_and_painted_in_screenshot() {
    let (url, server) = serve(page()).await;
    let dir = tempfile::tempdir().unwrap();

    let out = run_chromium(
        &dir.path().join("profile-dom"),
        &["--dump-dom".into()],
        &url,
    )
    .await;
    let dom = String::from_utf8_lossy(&out.stdout);
    let tbody = dom.split_once("<tbody>").expect("table body in DOM").1;
    let first_row = tbody
        .split_once("<tr")
        .expect("a row")
        .1
        .split_once("</tr>")
        .unwrap()
        .0;
    assert!(
        first_row.contains("class=\"breach\"")
            && first_row.contains("alice-cannot-subscribe-to-bobs-lamp"),
        "first row is not the breach: {first_row}"
    );
    assert!(
        first_row.contains("&lt;by the canary&gt; &amp; logged"),
        "evidence escaped: {first_row}"
    );
    let problems = tbody.split_once("</tbody>").unwrap().0;
    assert_eq!(problems.matches("<tr").count(), 2, "breach and blind");
    assert!(dom.contains("<details id=\"ok-canaries\"><summary>12 ok</summary>"));
    assert!(dom.contains("1 breach"));

    let shot = dir.path().join("status.png");
    run_chromium(
        &dir.path().join("profile-shot"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,800".into(),
        ],
        &url,
    )
    .await;
    let len = std::fs::metadata(&shot).expect("screenshot written").len();
    assert!(len > 10_000, "screenshot suspiciously small: {len} bytes");
    // tr.breach background #ffebee, tr.blind background #fffde7 (see the status page's CSS).
    let (breach_y, breach_px, w, h) = find_colour(&shot, [0xff, 0xeb, 0xee], 300);
    let (blind_y, _, _, _) = find_colour(&shot, [0xff, 0xfd, 0xe7], 300);
    let (_, badge_px, _, _) = find_colour(&shot, [0xc6, 0x28, 0x28], 1);
    assert_eq!((w, h), (1200, 800));
    let breach_y = breach_y.expect("no breach-row colour in the screenshot");
    let blind_y = blind_y.expect("no blind-row colour in the screenshot");
    assert!(
        breach_px > 5_000,
        "breach row barely painted: {breach_px} px"
    );
    assert!(
        badge_px > 100,
        "red breach counter badge missing: {badge_px} px"
    );
    assert!(
        breach_y < blind_y,
        "breach row (y={breach_y}) not above blind row (y={blind_y})"
    );
    server.abort();
}

#[tokio::test]
async fn fits_a_375_px_phone_with_the_breach_first_and_painted() {
    let (url, server) = serve(page()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut b = DevTools::launch(&dir.path().join("profile-phone")).await;
    b.phone(375, 812).await;
    b.open(&url).await;

    let widths = b
        .eval("[document.documentElement.clientWidth, document.documentElement.scrollWidth, document.body.scrollWidth]")
        .await;
    let w: Vec<u64> = widths
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(w[0], 375, "viewport is not phone width: {widths}");
    assert!(
        w[1] <= 375 && w[2] <= 375,
        "horizontal overflow at 375 px: scrollWidth {widths}"
    );
    // Nothing sticks out to the right either (an element can overflow without widening the
    // document when its parent clips it).
    let widest = b
        .eval("Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right))")
        .await;
    assert!(
        widest.as_f64().unwrap() <= 375.5,
        "an element ends at x={widest}"
    );

    let first = b
        .eval("(() => { const r = document.querySelector('#canaries tbody tr'); const box = r.getBoundingClientRect(); return [r.className, r.dataset.canary, getComputedStyle(r).backgroundColor, box.top, box.height]; })()")
        .await;
    assert_eq!(first[0], "breach", "{first}");
    assert!(
        first[1]
            .as_str()
            .unwrap()
            .starts_with("alice-cannot-subscribe-to-bobs-lamp")
    );
    assert_eq!(first[2], "rgb(255, 235, 238)", "{first}");
    let (top, height) = (first[3].as_f64().unwrap(), first[4].as_f64().unwrap());
    assert!(
        top < 812.0 && height > 0.0,
        "breach row not on the first screen: {first}"
    );

    let shot = dir.path().join("phone.png");
    b.screenshot(&shot).await;
    let (breach_y, breach_px, w, _) = find_colour(&shot, [0xff, 0xeb, 0xee], 100);
    let (blind_y, _, _, _) = find_colour(&shot, [0xff, 0xfd, 0xe7], 100);
    assert_eq!(w, 375);
    assert!(
        breach_px > 3_000,
        "breach row barely painted on the phone: {breach_px} px"
    );
    if let (Some(b), Some(bl)) = (breach_y, blind_y) {
        assert!(b < bl, "breach (y={b}) below blind (y={bl})");
    }
    assert!(breach_y.is_some());
    server.abort();
}
