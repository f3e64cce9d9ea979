//! The status page at `/`: one server-rendered HTML page (inline CSS, no script) for the person
//! paged by an alert. A header says what is watched and whether the daemon is ready; coloured
//! counts say how bad it is; breaches, failed controls and blind canaries come first with their
//! evidence and a runbook link; ok and not-yet-probed canaries are folded away. Phone width
//! works: below 40em the table turns into stacked cards and long names wrap.
//!
//! Pure: config, snapshot and `now` in, HTML out (maud, which escapes every interpolated value
//! unless told otherwise); the HTTP handler lives with the metrics server.

use std::time::SystemTime;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::alert::AlertKind;
use crate::alert::notifier::rfc3339;
use crate::config::Config;
use crate::evidence::evidence_lines;
use crate::store::{self, Snapshot};
use crate::trigger::Trigger;
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
    /// Evidence lines, the decisive observation first (`evidence_lines`).
    pub evidence: &'a [String],
    pub last_verdict_at: Option<SystemTime>,
    /// The verdict was restored from the state directory: seen by the previous process, not
    /// yet confirmed by this one.
    pub restored: bool,
}

/// What the header says about the daemon.
#[derive(Debug, Clone, Default)]
pub struct Header<'a> {
    pub endpoint: &'a str,
    pub region: &'a str,
    pub version: &'a str,
    pub last_round: Option<SystemTime>,
    /// What started the latest round (the schedule, `POST /-/probe`, SIGUSR1).
    pub last_trigger: Option<Trigger>,
    /// While a trigger's watch is on: when it ends.
    pub watch_until: Option<SystemTime>,
    /// `None` when `/readyz` answers 200, else its reason.
    pub not_ready: Option<String>,
}

/// Everything one rendering needs.
#[derive(Debug, Clone)]
pub struct Page<'a> {
    pub header: Header<'a>,
    pub rows: &'a [StatusRow<'a>],
    pub now: SystemTime,
    /// Meta refresh, so the page stays current on a wall screen without any script.
    pub refresh_secs: u32,
    pub dashboard_url: Option<&'a str>,
    /// docs/runbook.md as served (`[alerting] runbook_url`); each alert kind links its section.
    pub runbook_url: &'a str,
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

/// The runbook section for a standing's alert (`docs/runbook.md#iotcanarybreach`, ...).
pub fn runbook_link(base: &str, s: Standing) -> Option<String> {
    AlertKind::for_standing(s).map(|k| format!("{base}#{}", k.runbook_anchor()))
}

// Colours are part of the interface the Chromium test checks: breach row #ffebee, blind row
// #fffde7, breach counter #c62828.
const CSS: &str = "*{box-sizing:border-box}\
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;padding:.8em;color:#222;max-width:90em}\
h1{font-size:1.3em;margin:0}\
header{border-bottom:1px solid #ddd;padding-bottom:.5em}\
.facts{display:flex;flex-wrap:wrap;gap:.15em 1.2em;margin:.4em 0 0;padding:0}\
.facts div{display:flex;gap:.35em;min-width:0}\
.facts dt{color:#666}.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere;min-width:0}\
.ready{color:#2e7d32}.not-ready{color:#b26a00}\
.counts{display:flex;flex-wrap:wrap;gap:.4em;list-style:none;margin:.7em 0;padding:0}\
.counts li{padding:.2em .6em;border-radius:4px;background:#eee;color:#555}\
.counts .n-breach.some{background:#c62828;color:#fff}\
.counts .n-control-failed.some{background:#ef6c00;color:#fff}\
.counts .n-blind.some{background:#fbc02d;color:#222}\
.counts .n-ok.some{background:#2e7d32;color:#fff}\
table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #ddd;vertical-align:top;overflow-wrap:anywhere}\
tr.breach{background:#ffebee}tr.breach td.standing{color:#b71c1c;font-weight:bold}\
tr.control-failed{background:#fff3e0}tr.blind{background:#fffde7}\
tr.ok td.standing{color:#2e7d32}\
ul.evidence{margin:0;padding-left:1.1em}\
code{font-size:.92em;overflow-wrap:anywhere}\
.restored{color:#666;font-style:italic}\
details{margin-top:1em}summary{cursor:pointer;font-weight:600;padding:.3em 0}\
p.calm{color:#2e7d32;font-weight:600}\
a{color:#0b57d0}\
@media (max-width:40em){\
table,thead,tbody,tr,td{display:block;width:100%}\
thead{display:none}\
tr{border:1px solid #ddd;border-radius:6px;margin:.6em 0;padding:.3em}\
td{border:0;padding:.1em .3em}\
td[data-label]::before{content:attr(data-label) \": \";color:#666}}";

/// Renders the whole page.
pub fn render(page: &Page<'_>) -> String {
    let ordered = order(page.rows);
    let count = |r: u8| ordered.iter().filter(|x| rank(x.standing) == r).count();
    let counts = [
        ("n-breach", count(0), "breach"),
        ("n-control-failed", count(1), "control failed"),
        ("n-blind", count(2), "blind"),
        ("n-ok", count(3), "ok"),
        ("n-pending", count(4), "not yet probed"),
    ];
    let title = match counts[0].1 {
        0 => "iot-canary status".to_string(),
        n => format!("BREACH ({n}) — iot-canary"),
    };
    let problems: Vec<&&StatusRow> = ordered.iter().filter(|r| rank(r.standing) < 3).collect();
    let ok: Vec<&&StatusRow> = ordered.iter().filter(|r| rank(r.standing) == 3).collect();
    let pending: Vec<&&StatusRow> = ordered.iter().filter(|r| rank(r.standing) == 4).collect();
    let h = &page.header;
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content=(page.refresh_secs);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { "iot-canary" }
                    dl.facts {
                        div { dt { "endpoint" } dd { (h.endpoint) } }
                        div { dt { "region" } dd { (h.region) } }
                        div { dt { "version" } dd { (h.version) } }
                        div {
                            dt { "last round" }
                            dd {
                                @match h.last_round {
                                    Some(t) => time datetime=(rfc3339(t)) title=(rfc3339(t)) { (age(page.now, Some(t))) },
                                    None => "none yet",
                                }
                                @if let Some(t) = h.last_trigger {
                                    " " span.trigger data-trigger=(t.label()) { "(" (t.label()) ")" }
                                }
                            }
                        }
                        @if let Some(u) = h.watch_until {
                            div {
                                dt { "watch" }
                                dd.watch { "on until " time datetime=(rfc3339(u)) title=(rfc3339(u)) { (rfc3339(u)) } }
                            }
                        }
                        div {
                            dt { "readiness" }
                            @match &h.not_ready {
                                None => dd.ready { "ready" },
                                Some(why) => dd.not-ready { "not ready: " (why) },
                            }
                        }
                        @if let Some(u) = page.dashboard_url {
                            div { dt { "dashboard" } dd { a href=(u) { "Grafana" } } }
                        }
                    }
                }
                ul.counts {
                    @for (class, n, label) in counts {
                        li class=(if n > 0 { format!("{class} some") } else { class.to_string() }) {
                            (n) " " (label)
                        }
                    }
                }
                @if problems.is_empty() {
                    p.calm { "No breach, no failed control, no blind canary." }
                } @else {
                    table #canaries {
                        thead { tr {
                            th { "Standing" } th { "Canary" } th { "Identity" } th { "Action" }
                            th { "Verdict" } th { "Evidence" } th { "Last verdict" } th { "Runbook" }
                        } }
                        tbody {
                            @for r in &problems { (problem_row(page, r)) }
                        }
                    }
                }
                (folded("ok-canaries", "ok", page.now, &ok))
                (folded("pending-canaries", "not yet probed", page.now, &pending))
            }
        }
    };
    markup.into_string()
}

fn problem_row(page: &Page<'_>, r: &StatusRow<'_>) -> Markup {
    let (class, label) = standing_label(r.standing);
    let runbook = r.standing.and_then(|s| runbook_link(page.runbook_url, s));
    let evidence = html! { ul.evidence { @for line in r.evidence { li { code { (line) } } } } };
    html! {
        tr class=(class) data-canary=(r.canary) {
            (row_cells(label, r, evidence))
            td data-label="last verdict" { (last_verdict(page.now, r)) }
            td data-label="runbook" {
                @if let Some(u) = runbook { a href=(u) { "runbook" } }
            }
        }
    }
}

/// The cells every row has, up to and including the evidence.
fn row_cells(label: &str, r: &StatusRow<'_>, evidence: Markup) -> Markup {
    html! {
        td.standing data-label="standing" { (label) }
        td data-label="canary" { (r.canary) }
        td data-label="identity" { (r.identity) }
        td data-label="action" { (r.action) " (expect " (r.expect.as_str()) ")" }
        td data-label="verdict" { (verdict_text(r.verdict)) }
        td data-label="evidence" { (evidence) }
    }
}

fn last_verdict(now: SystemTime, r: &StatusRow<'_>) -> Markup {
    html! {
        (age(now, r.last_verdict_at))
        @if r.restored { " " span.restored { "(before restart)" } }
    }
}

/// A folded table of rows that need no action: the decisive observation only, no step trace.
fn folded(id: &str, what: &str, now: SystemTime, rows: &[&&StatusRow<'_>]) -> Markup {
    html! {
        @if !rows.is_empty() {
            details #(id) {
                summary { (rows.len()) " " (what) }
                table {
                    tbody {
                        @for r in rows {
                            @let (class, label) = standing_label(r.standing);
                            @let first = html! { @if let Some(first) = r.evidence.first() { code { (first) } } };
                            tr class=(class) data-canary=(r.canary) {
                                (row_cells(label, r, first))
                                td data-label="last verdict" { (last_verdict(now, r)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The page for a running daemon: every configured canary with its latest result (or the one
/// restored from before a restart), the header from the config and the snapshot.
pub fn page_of(
    cfg: &Config,
    snap: &Snapshot,
    now: SystemTime,
    refresh_secs: u32,
    version: &str,
) -> String {
    let evidence: Vec<Vec<String>> = cfg
        .canaries
        .iter()
        .map(|c| match snap.latest.get(&c.name) {
            Some(r) => evidence_lines(&r.evidence),
            None => snap
                .restored
                .get(&c.name)
                .map(|r| r.evidence.clone())
                .unwrap_or_default(),
        })
        .collect();
    let rows: Vec<StatusRow<'_>> = cfg
        .canaries
        .iter()
        .zip(&evidence)
        .map(|(c, ev)| {
            let mut row = StatusRow {
                canary: &c.name,
                identity: &c.identity,
                action: c.action,
                expect: c.expect,
                verdict: None,
                standing: None,
                evidence: ev,
                last_verdict_at: None,
                restored: false,
            };
            if let Some(r) = snap.latest.get(&c.name) {
                row.verdict = Some(r.verdict);
                row.standing = Some(r.standing);
                row.last_verdict_at = Some(store::unix_ms(r.started_at_unix_ms));
            } else if let Some(r) = snap.restored.get(&c.name) {
                row.verdict = Some(r.verdict);
                row.standing = Some(r.standing);
                row.last_verdict_at = Some(store::unix_ms(r.started_at_unix_ms));
                row.restored = true;
            }
            row
        })
        .collect();
    render(&Page {
        header: Header {
            endpoint: &cfg.target.endpoint,
            region: &cfg.target.region,
            version,
            last_round: snap.round_completed,
            last_trigger: snap.last_trigger,
            watch_until: snap.watch_until.filter(|u| now < *u),
            not_ready: store::not_ready(cfg, snap, now),
        },
        rows: &rows,
        now,
        refresh_secs,
        dashboard_url: cfg.alerting.dashboard_url.as_deref(),
        runbook_url: &cfg.alerting.runbook_url,
    })
}

#[cfg(test)]
mod tests;
