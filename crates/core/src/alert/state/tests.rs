use super::*;
use crate::verdict::Reason;
use AlertKind::{Blind as B, Breach as X, ControlFailed as C};
use NotificationKind::{Fire, Repeat, Resolve};

const T0: u64 = 1_700_000_000;

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + s)
}

fn verdict_for(s: Standing) -> (Expect, Verdict) {
    match s {
        Standing::Ok => (Expect::Deny, Verdict::Denied),
        Standing::Breach => (Expect::Deny, Verdict::Allowed),
        Standing::Blind => (Expect::Deny, Verdict::Inconclusive(Reason::Timeout)),
        Standing::ControlFailed => (Expect::Allow, Verdict::Denied),
    }
}

/// A result with the typical verdict for its standing.
fn result<'a>(
    canary: &'a str,
    identity: &'a str,
    action: ProbeAction,
    standing: Standing,
    evidence: &'a [String],
) -> CanaryResult<'a> {
    let (expect, verdict) = verdict_for(standing);
    CanaryResult {
        canary,
        identity,
        action,
        expect,
        verdict,
        standing,
        evidence,
    }
}

fn obs_at(state: &mut AlertState, s: Standing, t: u64) -> Vec<(NotificationKind, AlertKind)> {
    let ev = vec![format!("{s:?} at {t}")];
    let o = result("alice-bob-lamp", "alice", ProbeAction::Subscribe, s, &ev);
    state
        .observe(&o, at(t))
        .into_iter()
        .map(|n| (n.kind, n.alert.kind))
        .collect()
}

fn cfg(rounds: u32, repeat_s: u64) -> AlertingConfig {
    AlertingConfig {
        blind_after_rounds: rounds,
        repeat_interval: Duration::from_secs(repeat_s),
        dashboard_url: Some("http://grafana/d/iot-canary".into()),
        ..AlertingConfig::default()
    }
}

use Standing::{Blind, Breach, ControlFailed, Ok};

type Step = (Standing, u64, &'static [(NotificationKind, AlertKind)]);

/// Each row: a name, blind_after_rounds, and the steps (standing, time offset s, expected out)
/// with repeat_interval = 1000 s.
#[test]
fn transition_table() {
    let table: &[(&str, u32, &[Step])] = &[
        (
            "ok stays quiet",
            2,
            &[(Ok, 0, &[]), (Ok, 60, &[]), (Ok, 5000, &[])],
        ),
        ("breach fires at once", 2, &[(Breach, 0, &[(Fire, X)])]),
        (
            "breach dedup then repeat then resolve",
            2,
            &[
                (Breach, 0, &[(Fire, X)]),
                (Breach, 60, &[]),
                (Breach, 999, &[]),
                (Breach, 1000, &[(Repeat, X)]),
                (Breach, 1060, &[]),
                (Breach, 2000, &[(Repeat, X)]),
                (Ok, 2060, &[(Resolve, X)]),
                (Ok, 5000, &[]),
            ],
        ),
        (
            "blind waits for two rounds",
            2,
            &[
                (Blind, 0, &[]),
                (Blind, 60, &[(Fire, B)]),
                (Blind, 120, &[]),
                (Ok, 180, &[(Resolve, B)]),
            ],
        ),
        (
            "one blind round is forgiven",
            2,
            &[
                (Blind, 0, &[]),
                (Ok, 60, &[]),
                (Blind, 120, &[]),
                (Ok, 180, &[]),
            ],
        ),
        (
            "threshold one fires on first blind round",
            1,
            &[(Blind, 0, &[(Fire, B)])],
        ),
        (
            "threshold zero behaves like one",
            0,
            &[(Blind, 0, &[(Fire, B)])],
        ),
        (
            "threshold three",
            3,
            &[
                (Blind, 0, &[]),
                (Blind, 60, &[]),
                (Blind, 120, &[(Fire, B)]),
            ],
        ),
        (
            "control failed is a warning after two rounds",
            2,
            &[
                (ControlFailed, 0, &[]),
                (ControlFailed, 60, &[(Fire, C)]),
                (Ok, 120, &[(Resolve, C)]),
            ],
        ),
        (
            "blind to control-failed swaps the warning at once",
            2,
            &[
                (Blind, 0, &[]),
                (Blind, 60, &[(Fire, B)]),
                (ControlFailed, 120, &[(Resolve, B), (Fire, C)]),
            ],
        ),
        (
            "blind streak continues across kinds",
            2,
            &[(Blind, 0, &[]), (ControlFailed, 60, &[(Fire, C)])],
        ),
        (
            "breach then blind keeps the breach and adds a warning",
            2,
            &[
                (Breach, 0, &[(Fire, X)]),
                (Blind, 60, &[]),
                (Blind, 120, &[(Fire, B)]),
                (Blind, 1000, &[(Repeat, X)]),
                (Blind, 1120, &[(Repeat, B)]),
                (Ok, 1200, &[(Resolve, X), (Resolve, B)]),
            ],
        ),
        (
            "blind then breach resolves the warning",
            2,
            &[
                (Blind, 0, &[]),
                (Blind, 60, &[(Fire, B)]),
                (Breach, 120, &[(Resolve, B), (Fire, X)]),
            ],
        ),
        (
            "refire after resolve is a new fire",
            2,
            &[
                (Breach, 0, &[(Fire, X)]),
                (Ok, 60, &[(Resolve, X)]),
                (Breach, 120, &[(Fire, X)]),
            ],
        ),
        (
            "clock stepping back is not a repeat",
            2,
            &[
                (Breach, 1000, &[(Fire, X)]),
                (Breach, 0, &[]),
                (Breach, 1999, &[]),
                (Breach, 2000, &[(Repeat, X)]),
            ],
        ),
    ];
    for (name, rounds, steps) in table {
        let mut st = AlertState::new(&cfg(*rounds, 1000));
        for (i, (standing, t, want)) in steps.iter().enumerate() {
            let got = obs_at(&mut st, *standing, *t);
            assert_eq!(&got, want, "{name}: step {i} ({standing:?} at +{t}s)");
        }
    }
}

#[test]
fn alert_content_fire_and_resolve() {
    let mut st = AlertState::new(&cfg(2, 1000));
    let ev = vec!["SUBACK 0x00 granted QoS 1".to_string()];
    let o = result("c1", "alice", ProbeAction::Subscribe, Standing::Breach, &ev);
    let fired = st.observe(&o, at(0));
    let a = &fired[0].alert;
    assert_eq!(fired[0].status(), "firing");
    assert_eq!(a.kind.alertname(), "IotCanaryBreach");
    assert_eq!(a.kind.severity(), "critical");
    assert_eq!(a.evidence, ev);
    assert_eq!(a.starts_at, at(0));
    assert_eq!(a.ends_at, None);
    assert_eq!(a.fingerprint.len(), 16);
    assert_eq!(
        a.dashboard_url.as_deref(),
        Some("http://grafana/d/iot-canary")
    );
    assert_eq!(st.firing().count(), 1);

    let ok_ev = vec!["SUBACK 0x87 not authorized".to_string()];
    let o = CanaryResult {
        verdict: Verdict::Denied,
        standing: Standing::Ok,
        evidence: &ok_ev,
        ..o
    };
    let resolved = st.observe(&o, at(90));
    let r = &resolved[0];
    assert_eq!(r.status(), "resolved");
    assert_eq!(
        r.alert.fingerprint, a.fingerprint,
        "resolve must match the fired alert"
    );
    assert_eq!(r.alert.starts_at, at(0));
    assert_eq!(r.alert.ends_at, Some(at(90)));
    assert_eq!(r.alert.evidence, ok_ev);
    assert_eq!(st.firing().count(), 0);
}

#[test]
fn blind_evidence_never_overwrites_breach_evidence() {
    let mut st = AlertState::new(&cfg(5, 100));
    let breach_ev = vec!["PUBACK 0x00".to_string()];
    let blind_ev = vec!["timeout".to_string()];
    let mk = |standing, evidence| result("c", "i", ProbeAction::Publish, standing, evidence);
    st.observe(&mk(Standing::Breach, &breach_ev), at(0));
    let rep = st.observe(&mk(Standing::Blind, &blind_ev), at(100));
    assert_eq!(rep.len(), 1);
    assert_eq!(rep[0].kind, NotificationKind::Repeat);
    assert_eq!(rep[0].alert.evidence, breach_ev);
    assert_eq!(rep[0].alert.verdict, Verdict::Allowed);
}

#[test]
fn fingerprints_are_stable_and_distinct() {
    let f = fingerprint(AlertKind::Breach, "c", "alice", ProbeAction::Publish);
    assert_eq!(
        f,
        fingerprint(AlertKind::Breach, "c", "alice", ProbeAction::Publish)
    );
    assert_ne!(
        f,
        fingerprint(AlertKind::Blind, "c", "alice", ProbeAction::Publish)
    );
    assert_ne!(
        fingerprint(AlertKind::Breach, "ab", "c", ProbeAction::Publish),
        fingerprint(AlertKind::Breach, "a", "bc", ProbeAction::Publish)
    );
}

#[test]
fn due_repeats_and_retain() {
    let mut st = AlertState::new(&cfg(2, 1000));
    obs_at(&mut st, Breach, 0);
    assert!(st.due_repeats(at(999)).is_empty());
    let r = st.due_repeats(at(1000));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind, NotificationKind::Repeat);
    assert!(
        st.due_repeats(at(1500)).is_empty(),
        "repeat resets the timer"
    );
    assert!(
        st.retain_canaries(|c| c == "alice-bob-lamp", at(1600))
            .is_empty()
    );
    let gone = st.retain_canaries(|_| false, at(1700));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].kind, NotificationKind::Resolve);
    assert_eq!(gone[0].alert.ends_at, Some(at(1700)));
    assert_eq!(st.firing().count(), 0);
}

#[test]
fn reconfigure_keeps_firing_alerts_and_updates_the_link() {
    let mut st = AlertState::new(&AlertingConfig::default());
    let ev: Vec<String> = vec!["SUBACK 0x01".into()];
    let obs = result("c", "alice", ProbeAction::Subscribe, Standing::Breach, &ev);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    assert_eq!(st.observe(&obs, t0).len(), 1);
    st.reconfigure(&AlertingConfig {
        dashboard_url: Some("https://g.example/d/x".into()),
        ..AlertingConfig::default()
    });
    // Still firing: no re-fire on the next breach round, and the new link is carried.
    assert!(st.observe(&obs, t0 + Duration::from_secs(1)).is_empty());
    let firing: Vec<&Alert> = st.firing().collect();
    assert_eq!(firing.len(), 1);
    assert_eq!(
        firing[0].dashboard_url.as_deref(),
        Some("https://g.example/d/x")
    );
}
