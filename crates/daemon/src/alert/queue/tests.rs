use super::*;
use NotificationKind::{Fire, Repeat, Resolve};
use iot_canary_core::alert::state::{Alert, fingerprint};
use iot_canary_core::verdict::{Expect, ProbeAction, Standing, Verdict};
use std::time::SystemTime;

fn n(kind: NotificationKind, alert: AlertKind, canary: &str) -> Notification {
    Notification {
        kind,
        alert: Alert {
            kind: alert,
            canary: canary.into(),
            identity: "i".into(),
            action: ProbeAction::Publish,
            expect: Expect::Deny,
            standing: Standing::Breach,
            verdict: Verdict::Allowed,
            evidence: vec![],
            starts_at: SystemTime::UNIX_EPOCH,
            ends_at: None,
            fingerprint: fingerprint(alert, canary, "i", ProbeAction::Publish),
            dashboard_url: None,
            runbook_url: "https://runbooks.example/runbook.md#iotcanarybreach".into(),
        },
    }
}

use AlertKind::{Blind as B, Breach as X};

type N = (NotificationKind, AlertKind, &'static str);

#[test]
fn victim_table() {
    // (queue, incoming, expected victim); a notification is (kind, alert kind, canary)
    let rows: &[(&[N], N, Victim)] = &[
        (&[], (Fire, X, "a"), Victim::Incoming),
        // 1: same fingerprint repeat/resolve is superseded, even when older repeats exist
        (
            &[(Repeat, X, "b"), (Fire, X, "a"), (Repeat, X, "a")],
            (Resolve, X, "a"),
            Victim::Queued(2),
        ),
        (
            &[(Fire, X, "a"), (Resolve, X, "a")],
            (Fire, X, "a"),
            Victim::Queued(1),
        ),
        // a queued Fire of the same alert is not a reminder: rule 1 skips it
        (
            &[(Fire, X, "a"), (Fire, X, "b")],
            (Resolve, X, "a"),
            Victim::Queued(0),
        ),
        // 2: any repeat goes before news
        (
            &[(Fire, X, "a"), (Repeat, B, "b")],
            (Fire, X, "c"),
            Victim::Queued(1),
        ),
        // 3: an incoming repeat never evicts news
        (
            &[(Fire, B, "a"), (Resolve, X, "b")],
            (Repeat, X, "c"),
            Victim::Incoming,
        ),
        // 4: a breach evicts the oldest warning
        (
            &[(Fire, X, "a"), (Fire, B, "b"), (Fire, B, "c")],
            (Fire, X, "d"),
            Victim::Queued(1),
        ),
        // 5: otherwise the oldest goes
        (
            &[(Fire, X, "a"), (Fire, X, "b")],
            (Fire, X, "c"),
            Victim::Queued(0),
        ),
        (
            &[(Fire, X, "a"), (Fire, B, "b")],
            (Fire, B, "c"),
            Victim::Queued(0),
        ),
    ];
    let note = |&(kind, alert, canary): &N| n(kind, alert, canary);
    for (i, (queue, incoming, want)) in rows.iter().enumerate() {
        let q: VecDeque<_> = queue.iter().map(note).collect();
        assert_eq!(choose_victim(&q, &note(incoming)), *want, "row {i}");
    }
}

#[test]
fn push_never_exceeds_capacity_and_counts_drops() {
    let q = BoundedQueue::new(3);
    let c = Counters::default();
    for i in 0..10 {
        q.push(n(Fire, X, &format!("c{i}")), &c);
        assert!(q.len() <= 3);
    }
    assert_eq!(q.len(), 3);
    assert_eq!(c.dropped.load(Ordering::Relaxed), 7);
    assert_eq!(c.queue_high_water.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn pop_returns_in_order_and_wakes_on_push() {
    let q = std::sync::Arc::new(BoundedQueue::new(4));
    let c = std::sync::Arc::new(Counters::default());
    let (q2, c2) = (q.clone(), c.clone());
    let waiter = tokio::spawn(async move { q2.pop(&c2).await });
    q.push(n(Fire, X, "first"), &c);
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
        .await
        .expect("pop wakes")
        .unwrap();
    assert_eq!(got.alert.canary, "first");
    assert!(q.is_empty());
}
