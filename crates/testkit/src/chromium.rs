//! Headless Debian `chromium` for tests: run it off the network and out of $HOME, dump a
//! page's DOM, take screenshots, find painted colours in them, and drive it over the DevTools
//! protocol ([`DevTools`]: phone emulation, script evaluation).

use std::path::{Path, PathBuf};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

pub fn chromium() -> PathBuf {
    let p = PathBuf::from("/usr/bin/chromium");
    assert!(
        p.exists(),
        "chromium missing: run scripts/test-deps.sh (Debian package chromium)"
    );
    p
}

/// Headless, and off the network: no background fetches, updates or sync.
const OFFLINE: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Runs headless chromium with the flags that keep it off the network and out of $HOME.
pub async fn run_chromium(profile: &Path, extra: &[String], url: &str) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(chromium());
    cmd.args(OFFLINE)
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
pub fn find_colour(png_path: &Path, rgb: [u8; 3], min: usize) -> (Option<usize>, usize, u32, u32) {
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

/// The `<tr ...>...</tr>` rows of the page's table body, as the browser rendered them.
pub async fn dom_rows(profile: &Path, url: &str) -> (String, Vec<String>) {
    let out = run_chromium(profile, &["--dump-dom".into()], url).await;
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let tbody = dom
        .split_once("<tbody>")
        .map(|(_, rest)| rest.split_once("</tbody>").map_or(rest, |(b, _)| b))
        .unwrap_or("");
    let rows = tbody
        .split("<tr")
        .skip(1)
        .map(|r| r.split_once("</tr>").map_or(r, |(row, _)| row).to_string())
        .collect();
    (dom, rows)
}

/// The DevTools `/json/list` body. Its HTTP server answers HTTP/1.1 only and keeps the
/// connection open, so the body is read by its Content-Length.
async fn json_list(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return String::new();
    };
    let req = format!("GET /json/list HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                return body.to_string();
            }
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return String::new(),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

/// Headless Chromium driven over the DevTools protocol: phone emulation, script evaluation and
/// screenshots of what the page looks like at that size.
pub struct DevTools {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
    _child: tokio::process::Child,
}

impl DevTools {
    /// Starts Chromium (off the network, out of $HOME) on `about:blank` and attaches to its page.
    pub async fn launch(profile: &Path) -> DevTools {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(chromium());
        cmd.args(OFFLINE);
        cmd.args([
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
        let mut child = cmd.spawn().expect("chromium starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
        let browser_ws = tokio::time::timeout(WAIT, async {
            while let Ok(Some(l)) = lines.next_line().await {
                if let Some(url) = l.strip_prefix("DevTools listening on ") {
                    return url.trim().to_string();
                }
            }
            panic!("chromium exited before announcing DevTools");
        })
        .await
        .expect("chromium announces DevTools in time");
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let addr = crate::net::addr_of(&browser_ws);
        let page_ws = tokio::time::timeout(WAIT, async {
            loop {
                let body = json_list(addr).await;
                let targets: serde_json::Value =
                    serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                if let Some(url) = targets.as_array().and_then(|ts| {
                    ts.iter()
                        .find(|t| t["type"] == "page")
                        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                }) {
                    return url.to_string();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("a page target");
        let (ws, _) = tokio_tungstenite::connect_async(page_ws.as_str())
            .await
            .expect("DevTools websocket");
        DevTools {
            ws,
            next_id: 0,
            _child: child,
        }
    }

    /// One DevTools command; its `result` (events in between are skipped). Panics on an error
    /// answer.
    pub async fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        self.next_id += 1;
        let id = self.next_id;
        let msg = serde_json::json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .expect("send to DevTools");
        tokio::time::timeout(WAIT, async {
            while let Some(m) = self.ws.next().await {
                let Ok(Message::Text(t)) = m else { continue };
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                if v["id"] == id {
                    assert!(v.get("error").is_none(), "{method}: {v}");
                    return v["result"].clone();
                }
            }
            panic!("DevTools closed during {method}");
        })
        .await
        .unwrap_or_else(|_| panic!("{method} unanswered"))
    }

    /// Emulates a phone of `width`×`height` CSS pixels (mobile: the page's viewport meta
    /// applies, as on a real phone).
    pub async fn phone(&mut self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": true}),
        )
        .await;
    }

    /// Loads `url` and waits until the document is complete.
    pub async fn open(&mut self, url: &str) {
        self.call("Page.navigate", serde_json::json!({"url": url}))
            .await;
        let deadline = std::time::Instant::now() + WAIT;
        while self.eval("document.readyState").await != "complete" {
            assert!(std::time::Instant::now() < deadline, "{url} never loaded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The value of a JavaScript expression (JSON-serialisable results only).
    pub async fn eval(&mut self, expr: &str) -> serde_json::Value {
        let r = self
            .call(
                "Runtime.evaluate",
                serde_json::json!({"expression": expr, "returnByValue": true}),
            )
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// A PNG of the viewport, written to `path`.
    pub async fn screenshot(&mut self, path: &Path) {
        use base64::Engine;
        let r = self
            .call(
                "Page.captureScreenshot",
                serde_json::json!({"format": "png"}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        std::fs::write(path, png).expect("write screenshot");
    }
}
