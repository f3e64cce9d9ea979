//! Headless Debian `chromium` for tests: run it off the network and out of $HOME, dump a
//! page's DOM, take screenshots, and find painted colours in them.

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

/// Runs headless chromium with the flags that keep it off the network and out of $HOME.
pub async fn run_chromium(profile: &Path, extra: &[String], url: &str) -> std::process::Output {
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
