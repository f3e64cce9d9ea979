//! The status page as a browser renders it: served from an in-test axum server on loopback,
//! screenshotted and DOM-dumped by headless Debian `chromium`. Asserts the breach row comes
//! first in the rendered DOM and is visibly painted (its background colour, above the blind
//! row's) in the screenshot.

mod chromium_support;

use std::time::{Duration, SystemTime};

use chromium_support::{find_colour, run_chromium};

use iot_canary::render::status_page::{StatusRow, render};
use iot_canary::verdict::{Expect, ProbeAction, Reason, Standing, Verdict};

fn page() -> String {
    let now = SystemTime::now();
    let ok_ev = vec!["SUBACK 0x87 not authorized".to_string()];
    let breach_ev = vec![
        "SUBACK 0x01 granted QoS 1".to_string(),
        "bait nonce received <by the canary> & logged".to_string(),
    ];
    let blind_ev = vec!["no CONNACK within 10 s".to_string()];
    // Input order deliberately puts the breach last: the page must reorder.
    let rows = [
        StatusRow {
            canary: "alice-cannot-subscribe-to-carols-plug",
            identity: "alice",
            action: ProbeAction::Subscribe,
            expect: Expect::Deny,
            verdict: Some(Verdict::Denied),
            standing: Some(Standing::Ok),
            evidence: &ok_ev,
            last_verdict_at: Some(now - Duration::from_secs(3)),
        },
        StatusRow {
            canary: "dave-cannot-read-bobs-shadow",
            identity: "dave",
            action: ProbeAction::ShadowGet,
            expect: Expect::Deny,
            verdict: Some(Verdict::Inconclusive(Reason::Timeout)),
            standing: Some(Standing::Blind),
            evidence: &blind_ev,
            last_verdict_at: Some(now - Duration::from_secs(40)),
        },
        StatusRow {
            canary: "alice-cannot-subscribe-to-bobs-lamp",
            identity: "alice",
            action: ProbeAction::Subscribe,
            expect: Expect::Deny,
            verdict: Some(Verdict::Allowed),
            standing: Some(Standing::Breach),
            evidence: &breach_ev,
            last_verdict_at: Some(now - Duration::from_secs(12)),
        },
    ];
    render(&rows, now, 30)
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
    assert_eq!(tbody.matches("<tr").count(), 3);
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
    // tr.breach background #ffebee, tr.blind background #fffde7 (see CSS in status_page.rs).
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
