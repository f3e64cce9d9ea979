use super::*;
use crate::verdict::Reason;
use std::time::Duration;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

const RUNBOOK: &str = "https://runbooks.example/iot-canary.md";

fn row<'a>(canary: &'a str, standing: Option<Standing>, ev: &'a [String]) -> StatusRow<'a> {
    let verdict = standing.map(|s| match s {
        Standing::Ok => Verdict::Denied,
        Standing::Breach => Verdict::Allowed,
        Standing::ControlFailed => Verdict::Denied,
        Standing::Blind => Verdict::Inconclusive(Reason::Timeout),
    });
    StatusRow {
        canary,
        identity: "alice",
        action: ProbeAction::Subscribe,
        expect: if standing == Some(Standing::ControlFailed) {
            Expect::Allow
        } else {
            Expect::Deny
        },
        verdict,
        standing,
        evidence: ev,
        last_verdict_at: standing.map(|_| now() - Duration::from_secs(12)),
        restored: false,
    }
}

fn page<'a>(rows: &'a [StatusRow<'a>]) -> Page<'a> {
    Page {
        header: Header {
            endpoint: "abc123-ats.iot.eu-west-1.amazonaws.com",
            region: "eu-west-1",
            version: "1.2.3",
            last_round: Some(now() - Duration::from_secs(30)),
            last_trigger: None,
            watch_until: None,
            not_ready: None,
        },
        rows,
        now: now(),
        refresh_secs: 15,
        dashboard_url: None,
        runbook_url: RUNBOOK,
    }
}

/// The text of the element following `marker` up to the next `<`.
fn pos(html: &str, s: &str) -> usize {
    html.find(&format!("data-canary=\"{s}\""))
        .unwrap_or_else(|| panic!("no row {s} in {html}"))
}

#[test]
fn order_is_worst_first_then_by_name() {
    let ev: Vec<String> = vec![];
    let rows = [
        row("a-ok", Some(Standing::Ok), &ev),
        row("b-pending", None, &ev),
        row("c-blind", Some(Standing::Blind), &ev),
        row("z-breach", Some(Standing::Breach), &ev),
        row("d-control", Some(Standing::ControlFailed), &ev),
        row("a-breach", Some(Standing::Breach), &ev),
    ];
    let names: Vec<&str> = order(&rows).iter().map(|r| r.canary).collect();
    assert_eq!(
        names,
        [
            "a-breach",
            "z-breach",
            "d-control",
            "c-blind",
            "a-ok",
            "b-pending"
        ]
    );
    let html = render(&page(&rows));
    assert!(pos(&html, "a-breach") < pos(&html, "z-breach"));
    assert!(pos(&html, "z-breach") < pos(&html, "d-control"));
    assert!(pos(&html, "d-control") < pos(&html, "c-blind"));
    assert!(pos(&html, "c-blind") < pos(&html, "a-ok"));
    assert!(pos(&html, "a-ok") < pos(&html, "b-pending"));
    assert!(
        html.contains("<li class=\"n-breach some\">2 breach</li>"),
        "{html}"
    );
    assert!(html.contains("<li class=\"n-control-failed some\">1 control failed</li>"));
    assert!(html.contains("<li class=\"n-blind some\">1 blind</li>"));
    assert!(html.contains("<li class=\"n-ok some\">1 ok</li>"));
    assert!(html.contains("<li class=\"n-pending some\">1 not yet probed</li>"));
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"15\">"));
    assert!(html.contains("<title>BREACH (2) — iot-canary</title>"));
    assert!(html.contains("12 s ago"));
    assert!(html.contains("inconclusive (timeout)"));
    assert!(!html.contains("<script"));
}

#[test]
fn header_says_what_is_watched_and_whether_it_is_ready() {
    let html = render(&page(&[]));
    for want in [
        "<dt>endpoint</dt><dd>abc123-ats.iot.eu-west-1.amazonaws.com</dd>",
        "<dt>region</dt><dd>eu-west-1</dd>",
        "<dt>version</dt><dd>1.2.3</dd>",
        "<time datetime=\"2023-11-14T22:12:50.000Z\" title=\"2023-11-14T22:12:50.000Z\">30 s ago</time>",
        "<dd class=\"ready\">ready</dd>",
        "<p class=\"calm\">",
        "<li class=\"n-breach\">0 breach</li>",
        "<title>iot-canary status</title>",
    ] {
        assert!(html.contains(want), "no `{want}` in {html}");
    }
    let mut p = page(&[]);
    p.header.last_round = None;
    p.header.not_ready = Some("no round completed yet".into());
    p.dashboard_url = Some("https://grafana.example/d/x?a=1&b=2");
    let html = render(&p);
    assert!(html.contains("<dd>none yet</dd>"), "{html}");
    assert!(html.contains("<dd class=\"not-ready\">not ready: no round completed yet</dd>"));
    assert!(html.contains("<a href=\"https://grafana.example/d/x?a=1&amp;b=2\">Grafana</a>"));
}

#[test]
fn header_marks_the_trigger_of_the_last_round_and_the_watch() {
    let html = render(&page(&[]));
    assert!(!html.contains("class=\"trigger\""), "{html}");
    assert!(!html.contains("<dt>watch</dt>"));
    let mut p = page(&[]);
    p.header.last_trigger = Some(Trigger::Http);
    p.header.watch_until = Some(now() + Duration::from_secs(600));
    let html = render(&p);
    assert!(
        html.contains("<span class=\"trigger\" data-trigger=\"http\">(http)</span>"),
        "{html}"
    );
    assert!(
        html.contains(
            "<dt>watch</dt><dd class=\"watch\">on until <time datetime=\"2023-11-14T22:23:20.000Z\""
        ),
        "{html}"
    );
}

#[test]
fn every_problem_row_links_its_runbook_section() {
    let ev: Vec<String> = vec![];
    let rows = [
        row("x-breach", Some(Standing::Breach), &ev),
        row("x-control", Some(Standing::ControlFailed), &ev),
        row("x-blind", Some(Standing::Blind), &ev),
        row("x-ok", Some(Standing::Ok), &ev),
    ];
    let html = render(&page(&rows));
    for (canary, anchor) in [
        ("x-breach", "iotcanarybreach"),
        ("x-control", "iotcanarycontrolfailed"),
        ("x-blind", "iotcanaryblind"),
    ] {
        let row = &html[pos(&html, canary)..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(
            row.contains(&format!("<a href=\"{RUNBOOK}#{anchor}\">runbook</a>")),
            "{row}"
        );
    }
    assert_eq!(html.matches(">runbook</a>").count(), 3, "ok rows need none");
}

#[test]
fn ok_rows_are_folded_to_their_decisive_line() {
    let ev = vec![
        "SUBACK 0x87 not authorized".to_string(),
        "+3 ms: SUBSCRIBE devices/bob/#".to_string(),
        "+9 ms: SUBACK".to_string(),
    ];
    let rows = [
        row("b-ok", Some(Standing::Ok), &ev),
        row("a-ok", Some(Standing::Ok), &ev),
        row("z-blind", Some(Standing::Blind), &ev),
        row("p-new", None, &[]),
    ];
    let html = render(&page(&rows));
    let ok = &html[html.find("<details id=\"ok-canaries\">").expect(&html)..];
    let ok = &ok[..ok.find("</details>").unwrap()];
    assert!(
        ok.starts_with("<details id=\"ok-canaries\"><summary>2 ok</summary>"),
        "{ok}"
    );
    assert!(!ok.contains(" open"), "folded by default");
    assert_eq!(ok.matches("SUBACK 0x87 not authorized").count(), 2);
    assert!(!ok.contains("+3 ms"), "no step trace for ok rows: {ok}");
    assert!(ok.find("a-ok").unwrap() < ok.find("b-ok").unwrap());
    // The blind row keeps its whole trace, outside the fold.
    let main = &html[..html.find("<details").unwrap()];
    assert!(main.contains("+9 ms: SUBACK") && main.contains("z-blind"));
    assert!(html.contains("<details id=\"pending-canaries\"><summary>1 not yet probed</summary>"));
}

#[test]
fn restored_verdicts_are_marked() {
    let ev: Vec<String> = vec![];
    let rows = [StatusRow {
        restored: true,
        ..row("r-breach", Some(Standing::Breach), &ev)
    }];
    let html = render(&page(&rows));
    assert!(
        html.contains("12 s ago <span class=\"restored\">(before restart)</span>"),
        "{html}"
    );
}

#[test]
fn text_is_escaped() {
    let ev = vec!["<script>alert(1)</script> & \"x\" 'y'".to_string()];
    let rows = [StatusRow {
        identity: "<b>eve</b>",
        ..row("c<1>&\"", Some(Standing::Breach), &ev)
    }];
    let mut p = page(&rows);
    p.header.endpoint = "<img src=x onerror=alert(1)>";
    let html = render(&p);
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<b>eve"));
    assert!(!html.contains("<img"));
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; 'y'"),
        "{html}"
    );
    assert!(html.contains("data-canary=\"c&lt;1&gt;&amp;&quot;\""));
}

#[test]
fn age_table() {
    let rows = [
        (None, "never"),
        (Some(0), "just now"),
        (Some(1), "1 s ago"),
        (Some(12), "12 s ago"),
        (Some(119), "119 s ago"),
        (Some(120), "2 min ago"),
        (Some(7199), "119 min ago"),
        (Some(7200), "2 h ago"),
        (Some(172_800), "2 d ago"),
    ];
    for (secs, want) in rows {
        let then = secs.map(|s| now() - Duration::from_secs(s));
        assert_eq!(age(now(), then), want);
    }
    assert_eq!(age(now(), Some(now() + Duration::from_secs(5))), "just now");
}

#[test]
fn page_of_a_daemon_reads_config_and_snapshot() {
    let base = include_str!("../../config/fixtures/valid/base.toml");
    let cfg = crate::config::parse(std::path::Path::new("/etc/c.toml"), base).unwrap();
    let mut snap = Snapshot::default();
    snap.restored.insert(
        "alice-cannot-read-bob".into(),
        crate::store::RestoredVerdict {
            verdict: Verdict::Allowed,
            standing: Standing::Breach,
            started_at_unix_ms: 1_699_999_990_000,
            evidence: vec!["delivered <x>".into()],
        },
    );
    let html = page_of(&cfg, &snap, now(), 15, "9.9.9");
    assert!(html.contains("<dd>127.0.0.1:8883</dd>"), "{html}");
    assert!(html.contains("<dd>9.9.9</dd>"));
    assert!(html.contains("not ready: no round completed yet"));
    assert!(html.contains("delivered &lt;x&gt;"));
    assert!(html.contains("10 s ago <span class=\"restored\">(before restart)</span>"));
    assert!(html.contains(&format!(
        "{}#iotcanarybreach",
        crate::config::alerting::DEFAULT_RUNBOOK_URL
    )));
    assert!(html.contains("1 not yet probed"));
}

/// A door's row shows its action and the ARN its evidence names, escaped like any evidence.
#[test]
fn door_rows_show_their_action_and_arn() {
    let ev = vec![crate::evidence::describe(
        &crate::verdict::Observation::ApiAnswer(crate::verdict::ApiAnswer::new(
            404,
            Some("ResourceNotFoundException"),
            Some("Policy not found: <iot-canary-probe-1>"),
            "us-east-1:0a1b2c3d (attaching arn:aws:iot:us-east-1:123456789012:policy/iot-canary-probe-1)",
        )),
    )];
    let mut r = row(
        "bob-cannot-attach-policies-to-himself",
        Some(Standing::Breach),
        &ev,
    );
    r.action = ProbeAction::AttachPolicy;
    let rows = [r];
    let html = render(&page(&rows));
    assert!(html.contains("attach-policy (expect deny)"), "{html}");
    assert!(html.contains("arn:aws:iot:us-east-1:123456789012:policy/iot-canary-probe-1"));
    assert!(html.contains("&lt;iot-canary-probe-1&gt;"), "{html}");
    assert!(!html.contains("<iot-canary-probe-1>"));
}
