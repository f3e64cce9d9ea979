//! The status page as a browser renders it: served from an in-test axum server on loopback,
//! screenshotted and DOM-dumped by headless Debian `chromium`. Asserts the breach row comes
//! first in the rendered DOM and is visibly painted (its background colour, above the blind
//! row's) in the screenshot.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use iot_canary::observe::status_page::{StatusRow, render};
use iot_canary::verdict::{Expect, ProbeAction, Reason, Standing, Verdict};

const WAIT: Duration = Duration::from_secs(120);

fn chromium() -> PathBuf {
    let p = PathBuf::from("/usr/bin/chromium");
    assert!(
        p.exists(),
        "chromium missing: run scripts/test-deps.sh (Debian package chromium)"
    );
    p
}

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

/// Runs headless chromium with the flags that keep it off the network and out of $HOME.
async fn run_chromium(profile: &Path, extra: &[String], url: &str) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url)
    .kill_on_drop(true);
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .expect("chromium did not finish in time")
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// First row (y) containing at least `min` pixels of `rgb`, and the total count.
fn find_colour(png_path: &Path, rgb: [u8; 3], min: usize) -> (Option<usize>, usize, u32, u32) {
    let file = std::io::BufReader::new(std::fs::File::open(png_path).unwrap());
    let mut dec = png::Decoder::new(file);
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(
        channels >= 3,
        "unexpected colour type {:?}",
        info.color_type
    );
    let (mut first, mut total) = (None, 0);
    for (y, line) in buf
        .chunks(info.line_size)
        .take(info.height as usize)
        .enumerate()
    {
        let n = line
            .chunks(channels)
            .filter(|px| px[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 3))
            .count();
        total += n;
        if n >= min && first.is_none() {
            first = Some(y);
        }
    }
    (first, total, info.width, info.height)
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
