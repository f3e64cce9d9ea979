use super::*;
use crate::alert::{CanaryResult, NotificationKind};
use crate::report::tests::sample;
use crate::store::CanaryReport;
use crate::verdict::{Observation, Reason, Standing, Verdict, Waiting};
use std::time::Duration;

const EXTRA: &str = r#"
[[canary]]
name = "alice-cannot-read-carol"
identity = "alice"
action = "receive"
topic = "devices/carol-plug/telemetry"
witness = "ops"
"#;

fn cfg(extra: &str) -> Config {
    let base = include_str!("../config/fixtures/valid/base.toml");
    crate::config::parse(
        std::path::Path::new("/etc/canaries.toml"),
        &format!("{base}{extra}"),
    )
    .unwrap()
}

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600 + secs)
}

fn breach() -> CanaryReport {
    sample(
        "alice-cannot-read-bob",
        Expect::Deny,
        Verdict::Allowed,
        Observation::Delivered,
    )
}

fn blind() -> CanaryReport {
    let mut r = sample(
        "alice-cannot-read-carol",
        Expect::Deny,
        Verdict::Inconclusive(Reason::Timeout),
        Observation::TimedOut {
            waiting_for: Waiting::Delivery,
        },
    );
    r.started_at_unix_ms += 5_000;
    r
}

/// One round of `reports` at `now` through the store and the alert state machine, as the
/// daemon feeds them; returns the notifications.
fn round(
    snap: &mut Snapshot,
    alerts: &mut AlertState,
    reports: &[CanaryReport],
    now: SystemTime,
) -> Vec<Notification> {
    snap.record(reports, now);
    let mut out = Vec::new();
    for r in reports {
        let ev = evidence_lines(&r.evidence);
        out.extend(alerts.observe(&CanaryResult::of(r, &ev), now));
    }
    out
}

fn fires(ns: &[Notification]) -> Vec<(String, crate::alert::AlertKind)> {
    ns.iter()
        .filter(|n| n.kind == NotificationKind::Fire)
        .map(|n| (n.alert.canary.clone(), n.alert.kind))
        .collect()
}

#[test]
fn a_restart_keeps_firing_alerts_blind_since_and_last_verdicts() {
    let c = cfg(EXTRA);
    let (mut snap, mut alerts) = (Snapshot::default(), AlertState::new(&c.alerting));
    let first = round(&mut snap, &mut alerts, &[breach(), blind()], t(0));
    assert_eq!(
        fires(&first).len(),
        1,
        "breach at once, blind after 2 rounds"
    );
    let second = round(&mut snap, &mut alerts, &[breach(), blind()], t(60));
    assert_eq!(fires(&second).len(), 1, "now the blind warning: {second:?}");
    let blind_since = snap.blind_since["alice-cannot-read-carol"];

    let text = encode(&c, &snap, &alerts, t(61));
    let saved = decode(&text).unwrap();
    assert!(saved.skipped.is_empty());
    assert_eq!(saved.saved_at, t(61));

    // The restarted process: fresh store and alert state, the same config.
    let (mut snap2, mut alerts2) = (Snapshot::default(), AlertState::new(&c.alerting));
    let r = restore(&saved, &c, &mut snap2, &mut alerts2, t(120));
    assert!(r.dropped.is_empty() && r.resolves.is_empty(), "{r:?}");
    assert_eq!(snap2.blind_since["alice-cannot-read-carol"], blind_since);
    assert_eq!(
        snap2.restored["alice-cannot-read-bob"].standing,
        Standing::Breach
    );
    assert!(!snap2.ready(), "restored verdicts do not make a round");
    let firing: Vec<_> = alerts2
        .firing()
        .map(|a| (a.canary.clone(), a.kind))
        .collect();
    assert_eq!(firing.len(), 2, "{firing:?}");
    assert!(
        alerts2
            .firing()
            .all(|a| a.runbook_url.starts_with(&c.alerting.runbook_url))
    );

    // The same standings after the restart send nothing new.
    let third = round(&mut snap2, &mut alerts2, &[breach(), blind()], t(180));
    assert!(
        fires(&third).is_empty(),
        "re-fired after restart: {third:?}"
    );
    assert_eq!(snap2.blind_since["alice-cannot-read-carol"], blind_since);
    assert!(
        snap2.restored.is_empty(),
        "fresh verdicts replace restored ones"
    );

    // A fixed hole resolves the alert that fired before the restart.
    let mut ok = breach();
    ok.verdict = Verdict::Denied;
    ok.standing = Standing::Ok;
    let fourth = round(&mut snap2, &mut alerts2, &[ok], t(240));
    assert_eq!(fourth.len(), 1);
    assert_eq!(fourth[0].kind, NotificationKind::Resolve);
    assert_eq!(
        fourth[0].alert.starts_at,
        t(0),
        "the original start is kept"
    );
}

#[test]
fn the_blind_streak_keeps_counting_across_a_restart() {
    let c = cfg(EXTRA);
    let (mut snap, mut alerts) = (Snapshot::default(), AlertState::new(&c.alerting));
    assert!(fires(&round(&mut snap, &mut alerts, &[blind()], t(0))).is_empty());
    let saved = decode(&encode(&c, &snap, &alerts, t(1))).unwrap();
    let (mut snap2, mut alerts2) = (Snapshot::default(), AlertState::new(&c.alerting));
    restore(&saved, &c, &mut snap2, &mut alerts2, t(2));
    let after = round(&mut snap2, &mut alerts2, &[blind()], t(60));
    assert_eq!(
        fires(&after),
        vec![(
            "alice-cannot-read-carol".to_string(),
            crate::alert::AlertKind::Blind
        )],
        "second blind round in a row, counting the one before the restart"
    );
}

#[test]
fn canaries_removed_or_changed_while_down_are_dropped_and_their_alerts_resolved() {
    let c = cfg(EXTRA);
    let (mut snap, mut alerts) = (Snapshot::default(), AlertState::new(&c.alerting));
    round(&mut snap, &mut alerts, &[breach(), blind()], t(0));
    round(&mut snap, &mut alerts, &[breach(), blind()], t(60));
    let saved = decode(&encode(&c, &snap, &alerts, t(61))).unwrap();

    // carol's canary is gone from the config; bob's now runs as another identity.
    let changed = cfg("").canaries.len();
    let mut c2 = cfg("");
    assert_eq!(c2.canaries.len(), changed);
    for k in &mut c2.canaries {
        if k.name == "alice-cannot-read-bob" {
            k.identity = "ops".into();
        }
    }
    let (mut snap2, mut alerts2) = (Snapshot::default(), AlertState::new(&c2.alerting));
    let r = restore(&saved, &c2, &mut snap2, &mut alerts2, t(120));
    let mut dropped = r.dropped.clone();
    dropped.sort();
    assert_eq!(
        dropped,
        ["alice-cannot-read-bob", "alice-cannot-read-carol"]
    );
    assert!(snap2.restored.is_empty() && snap2.blind_since.is_empty());
    assert_eq!(alerts2.firing().count(), 0);
    let mut resolved: Vec<_> = r
        .resolves
        .iter()
        .map(|n| (n.kind, n.alert.canary.as_str(), n.alert.ends_at))
        .collect();
    resolved.sort_by_key(|x| x.1);
    assert_eq!(
        resolved,
        [
            (
                NotificationKind::Resolve,
                "alice-cannot-read-bob",
                Some(t(120))
            ),
            (
                NotificationKind::Resolve,
                "alice-cannot-read-carol",
                Some(t(120))
            )
        ]
    );
}

#[test]
fn unreadable_files_are_refused_whole_and_unreadable_records_one_by_one() {
    assert!(matches!(decode("{"), Err(StateFileError::NotJson(_))));
    assert!(matches!(decode("[]"), Err(StateFileError::NotAStateFile)));
    assert_eq!(
        decode(r#"{"format":"prometheus","version":1}"#),
        Err(StateFileError::NotAStateFile)
    );
    assert_eq!(
        decode(r#"{"format":"iot-canary-state","version":2,"canaries":{}}"#),
        Err(StateFileError::UnknownVersion { found: "2".into() })
    );
    assert_eq!(
        decode(r#"{"format":"iot-canary-state","canaries":{}}"#),
        Err(StateFileError::UnknownVersion {
            found: "(none)".into()
        })
    );
    let e = decode(r#"{"format":"iot-canary-state","version":"1"}"#).unwrap_err();
    assert!(e.to_string().contains("\"1\""), "{e}");

    let c = cfg(EXTRA);
    let (mut snap, mut alerts) = (Snapshot::default(), AlertState::new(&c.alerting));
    round(&mut snap, &mut alerts, &[breach(), blind()], t(0));
    let mut v: serde_json::Value = serde_json::from_str(&encode(&c, &snap, &alerts, t(1))).unwrap();
    v["canaries"]["alice-cannot-read-carol"]["action"] = "teleport".into();
    let saved = decode(&v.to_string()).unwrap();
    assert_eq!(saved.skipped.len(), 1);
    assert_eq!(saved.skipped[0].0, "alice-cannot-read-carol");
    assert!(
        saved.skipped[0].1.contains("teleport"),
        "{:?}",
        saved.skipped
    );
    assert!(saved.canaries.contains_key("alice-cannot-read-bob"));
}

#[test]
fn the_written_format_is_pinned() {
    let c = cfg(EXTRA);
    let (mut snap, mut alerts) = (Snapshot::default(), AlertState::new(&c.alerting));
    round(&mut snap, &mut alerts, &[breach()], t(0));
    let v: serde_json::Value = serde_json::from_str(&encode(&c, &snap, &alerts, t(1))).unwrap();
    assert_eq!(v["format"], FORMAT);
    assert_eq!(v["version"], 1);
    assert_eq!(v["saved_at_unix_ms"], 1_767_225_601_000_u64);
    let bob = &v["canaries"]["alice-cannot-read-bob"];
    assert_eq!(bob["identity"], "alice");
    assert_eq!(bob["action"], "receive");
    assert_eq!(bob["expect"], "deny");
    assert_eq!(bob["last"]["verdict"], "allowed");
    assert_eq!(bob["last"]["standing"], "breach");
    assert_eq!(bob["blind_since_unix_ms"], serde_json::Value::Null);
    let f = &bob["alerts"]["firing"][0];
    assert_eq!(f["kind"], "breach");
    assert_eq!(f["starts_at_unix_ms"], 1_767_225_600_000_u64);
    assert_eq!(f["last_sent_unix_ms"], 1_767_225_600_000_u64);
    // Every configured canary has a record, probed or not.
    assert!(v["canaries"]["alice-own-lamp"]["last"].is_null());
}
