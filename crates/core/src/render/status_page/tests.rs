use super::*;
use crate::verdict::Reason;
use std::time::Duration;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

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
    }
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
    let html = render(&rows, now(), 15);
    let pos = |s: &str| html.find(&format!("data-canary=\"{s}\"")).unwrap();
    assert!(pos("a-breach") < pos("z-breach"));
    assert!(pos("z-breach") < pos("d-control"));
    assert!(pos("d-control") < pos("c-blind"));
    assert!(pos("c-blind") < pos("a-ok"));
    assert!(pos("a-ok") < pos("b-pending"));
    assert!(html.contains("<span class=\"n-breach\">2 breach</span>"));
    assert!(html.contains("1 control failed") && html.contains("1 blind") && html.contains("1 ok"));
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"15\">"));
    assert!(html.contains("<title>BREACH (2) — iot-canary</title>"));
    assert!(html.contains("12 s ago"));
    assert!(html.contains("inconclusive (timeout)"));
    assert!(!html.contains("<script"));
}

#[test]
fn text_is_escaped() {
    let ev = vec!["<script>alert(1)</script> & \"x\" 'y'".to_string()];
    let rows = [StatusRow {
        identity: "<b>eve</b>",
        ..row("c<1>&\"", Some(Standing::Breach), &ev)
    }];
    let html = render(&rows, now(), 30);
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<b>eve"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &#39;y&#39;"));
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
fn empty_page_renders() {
    let html = render(&[], now(), 10);
    assert!(html.contains("0 breach") && html.contains("<title>iot-canary status</title>"));
}
