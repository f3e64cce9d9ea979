//! The status page at `/`: one server-rendered HTML page (inline CSS, no script) listing
//! every canary, worst first, so the person paged by a breach sees it without scrolling.
//! Pure: rows and `now` in, HTML out; the HTTP handler lives with the metrics server.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::verdict::{Expect, ProbeAction, Standing, Verdict};

/// One canary as the page shows it. `verdict`/`standing` are `None` before the first round.
#[derive(Debug, Clone)]
pub struct StatusRow<'a> {
    pub canary: &'a str,
    pub identity: &'a str,
    pub action: ProbeAction,
    pub expect: Expect,
    pub verdict: Option<Verdict>,
    pub standing: Option<Standing>,
    pub evidence: &'a [String],
    pub last_verdict_at: Option<SystemTime>,
}

/// Sort key: breaches, control failures, blind, ok, not yet probed.
fn rank(s: Option<Standing>) -> u8 {
    match s {
        Some(Standing::Breach) => 0,
        Some(Standing::ControlFailed) => 1,
        Some(Standing::Blind) => 2,
        Some(Standing::Ok) => 3,
        None => 4,
    }
}

/// CSS class and label; the class doubles as a stable hook for tests and user styling.
fn standing_label(s: Option<Standing>) -> (&'static str, &'static str) {
    match s {
        Some(Standing::Breach) => ("breach", "BREACH"),
        Some(Standing::ControlFailed) => ("control-failed", "control failed"),
        Some(Standing::Blind) => ("blind", "blind"),
        Some(Standing::Ok) => ("ok", "ok"),
        None => ("pending", "not yet probed"),
    }
}

/// Rows in display order (stable: ties keep canary-name order).
pub fn order<'r, 'a>(rows: &'r [StatusRow<'a>]) -> Vec<&'r StatusRow<'a>> {
    let mut v: Vec<&StatusRow> = rows.iter().collect();
    v.sort_by(|a, b| {
        rank(a.standing)
            .cmp(&rank(b.standing))
            .then_with(|| a.canary.cmp(b.canary))
    });
    v
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// "12 s ago", "5 min ago", "3 h ago", "2 d ago"; "never" without a time. A timestamp in the
/// future (clock step) reads "just now" rather than a negative age.
pub fn age(now: SystemTime, then: Option<SystemTime>) -> String {
    let Some(then) = then else {
        return "never".into();
    };
    let s = now.duration_since(then).map(|d| d.as_secs()).unwrap_or(0);
    match s {
        0 => "just now".into(),
        1..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn verdict_text(v: Option<Verdict>) -> String {
    match v {
        None => "—".into(),
        Some(Verdict::Inconclusive(r)) => format!("inconclusive ({r})"),
        Some(v) => v.label().into(),
    }
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em;margin:0 0 .3em}\
.summary span{display:inline-block;margin-right:1em;padding:.2em .6em;border-radius:4px;background:#eee}\
.summary .n-breach{background:#c62828;color:#fff}\
table{border-collapse:collapse;width:100%;margin-top:1em}\
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #ddd;vertical-align:top}\
tr.breach{background:#ffebee}tr.breach td.standing{color:#b71c1c;font-weight:bold}\
tr.control-failed{background:#fff3e0}tr.blind{background:#fffde7}\
tr.ok td.standing{color:#2e7d32}ul{margin:0;padding-left:1.1em}\
code{font-size:.95em}";

/// Renders the whole page. `refresh_secs` goes into a meta refresh (the page stays current
/// on a wall screen without any script).
pub fn render(rows: &[StatusRow<'_>], now: SystemTime, refresh_secs: u32) -> String {
    render_with_link(rows, now, refresh_secs, None)
}

/// [`render`] with a link to the Grafana dashboard (`[alerting] dashboard_url`) under the title.
pub fn render_with_link(
    rows: &[StatusRow<'_>],
    now: SystemTime,
    refresh_secs: u32,
    dashboard_url: Option<&str>,
) -> String {
    let ordered = order(rows);
    let count = |r: u8| ordered.iter().filter(|x| rank(x.standing) == r).count();
    let (breach, control, blind, ok, pending) = (count(0), count(1), count(2), count(3), count(4));
    let title = if breach > 0 {
        format!("BREACH ({breach}) — iot-canary")
    } else {
        "iot-canary status".to_string()
    };
    let mut h = String::with_capacity(2048 + rows.len() * 512);
    // write! to a String cannot fail; the Results are ignored on purpose.
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"{refresh_secs}\">\
<meta name=\"viewport\" content=\"width=device-width\">\
<title>{}</title><style>{CSS}</style></head><body>\n\
<h1>iot-canary</h1>\n{}<p class=\"summary\">\
<span class=\"n-breach\">{breach} breach</span>\
<span class=\"n-control-failed\">{control} control failed</span>\
<span class=\"n-blind\">{blind} blind</span>\
<span class=\"n-ok\">{ok} ok</span>\
<span class=\"n-pending\">{pending} not yet probed</span></p>\n\
<table id=\"canaries\"><thead><tr><th>Standing</th><th>Canary</th><th>Identity</th>\
<th>Action</th><th>Expect</th><th>Verdict</th><th>Evidence</th><th>Last verdict</th></tr>\
</thead><tbody>\n",
        escape(&title),
        dashboard_url.map_or(String::new(), |u| format!(
            "<p><a href=\"{}\">Dashboard</a></p>\n",
            escape(u)
        ))
    );
    for r in ordered {
        let (class, label) = standing_label(r.standing);
        let expect = match r.expect {
            Expect::Deny => "deny",
            Expect::Allow => "allow",
        };
        let _ = write!(
            h,
            "<tr class=\"{class}\" data-canary=\"{}\"><td class=\"standing\">{label}</td>\
<td>{}</td><td>{}</td><td>{}</td><td>{expect}</td><td>{}</td><td><ul>",
            escape(r.canary),
            escape(r.canary),
            escape(r.identity),
            r.action,
            escape(&verdict_text(r.verdict)),
        );
        for line in r.evidence {
            let _ = write!(h, "<li><code>{}</code></li>", escape(line));
        }
        let _ = writeln!(
            h,
            "</ul></td><td>{}</td></tr>",
            escape(&age(now, r.last_verdict_at))
        );
    }
    h.push_str("</tbody></table>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests;
