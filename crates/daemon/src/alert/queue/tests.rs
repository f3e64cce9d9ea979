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
        },
    }
}

use AlertKind::{Blind as B, Breach as X};

#[test]
fn victim_table() {
    // (queue, incoming, expected victim)
    let rows: Vec<(Vec<Notification>, Notification, Victim)> = vec![
        (vec![], n(Fire, X, "a"), Victim::Incoming),
        // 1: same fingerprint repeat/resolve is superseded, even when older repeats exist
        (
            vec![n(Repeat, X, "b"), n(Fire, X, "a"), n(Repeat, X, "a")],
            n(Resolve, X, "a"),
            Victim::Queued(2),
        ),
        (
            vec![n(Fire, X, "a"), n(Resolve, X, "a")],
            n(Fire, X, "a"),
            Victim::Queued(1),
        ),
        // a queued Fire of the same alert is not a reminder: rule 1 skips it
        (
            vec![n(Fire, X, "a"), n(Fire, X, "b")],
            n(Resolve, X, "a"),
            Victim::Queued(0),
        ),
        // 2: any repeat goes before news
        (
            vec![n(Fire, X, "a"), n(Repeat, B, "b")],
            n(Fire, X, "c"),
            Victim::Queued(1),
        ),
        // 3: an incoming repeat never evicts news
        (
            vec![n(Fire, B, "a"), n(Resolve, X, "b")],
            n(Repeat, X, "c"),
            Victim::Incoming,
        ),
        // 4: a breach evicts the oldest warning
        (
            vec![n(Fire, X, "a"), n(Fire, B, "b"), n(Fire, B, "c")],
            n(Fire, X, "d"),
            Victim::Queued(1),
        ),
        // 5: otherwise the oldest goes
        (
            vec![n(Fire, X, "a"), n(Fire, X, "b")],
            n(Fire, X, "c"),
            Victim::Queued(0),
        ),
        (
            vec![n(Fire, X, "a"), n(Fire, B, "b")],
            n(Fire, B, "c"),
            Victim::Queued(0),
        ),
    ];
    for (i, (queue, incoming, want)) in rows.into_iter().enumerate() {
        let q: VecDeque<_> = queue.into();
        assert_eq!(choose_victim(&q, &incoming), want, "row {i}");
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
