//! The alert state machine (pure: no clock, no IO). Fed one [`CanaryResult`] per verdict, it
//! answers with the notifications to send.
//!
//! Rules (why in brackets):
//! - `Breach` fires a critical alert at once [a hole is never worth waiting for].
//! - `Blind` / `ControlFailed` fire a warning after `blind_after_rounds` consecutive rounds
//!   that do not see [one flaky round is not worth a page]. Switching between the two resolves
//!   the old warning and fires the new one at once (the streak already counts).
//! - `Ok` resolves everything for the canary. A breach is resolved only by `Ok`: a canary that
//!   turned blind after a breach has not shown that the hole closed, so the breach keeps firing.
//! - No repeat while nothing changed; a still-firing alert is re-sent every `repeat_interval`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::config::alerting::AlertingConfig;
use crate::verdict::{Expect, ProbeAction, Standing, Verdict};

/// One canary's result after a round (the daemon has already applied control pairing).
#[derive(Debug, Clone)]
pub struct CanaryResult<'a> {
    pub canary: &'a str,
    pub identity: &'a str,
    pub action: ProbeAction,
    pub expect: Expect,
    pub verdict: Verdict,
    pub standing: Standing,
    pub evidence: &'a [String],
}

impl<'a> CanaryResult<'a> {
    /// A round's report of one canary, with its evidence as lines (`evidence_lines`).
    pub fn of(r: &'a crate::store::CanaryReport, evidence: &'a [String]) -> Self {
        CanaryResult {
            canary: &r.canary,
            identity: &r.identity,
            action: r.action,
            expect: r.expect,
            verdict: r.verdict,
            standing: r.standing,
            evidence,
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Breach,
    Blind,
    ControlFailed,
}

impl AlertKind {
    /// Same names as deploy/prometheus/iot-canary-rules.yml so runbooks and silences match.
    pub const fn alertname(self) -> &'static str {
        match self {
            AlertKind::Breach => "IotCanaryBreach",
            AlertKind::Blind => "IotCanaryBlind",
            AlertKind::ControlFailed => "IotCanaryControlFailed",
        }
    }

    pub const fn severity(self) -> &'static str {
        match self {
            AlertKind::Breach => "critical",
            AlertKind::Blind | AlertKind::ControlFailed => "warning",
        }
    }

    pub const fn runbook_anchor(self) -> &'static str {
        match self {
            AlertKind::Breach => "iotcanarybreach",
            AlertKind::Blind => "iotcanaryblind",
            AlertKind::ControlFailed => "iotcanarycontrolfailed",
        }
    }

    pub fn for_standing(s: Standing) -> Option<AlertKind> {
        match s {
            Standing::Ok => None,
            Standing::Breach => Some(AlertKind::Breach),
            Standing::Blind => Some(AlertKind::Blind),
            Standing::ControlFailed => Some(AlertKind::ControlFailed),
        }
    }
}

/// Everything a notifier needs to render one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub kind: AlertKind,
    pub canary: String,
    pub identity: String,
    pub action: ProbeAction,
    pub expect: Expect,
    /// The latest standing and verdict of the canary (on a resolve: the ones that cleared it).
    pub standing: Standing,
    pub verdict: Verdict,
    pub evidence: Vec<String>,
    pub starts_at: SystemTime,
    /// Set only on resolve.
    pub ends_at: Option<SystemTime>,
    /// Stable across restarts: hash of alertname, canary, identity, action.
    pub fingerprint: String,
    pub dashboard_url: Option<String>,
    /// The runbook section for this alert kind (`[alerting] runbook_url` + anchor).
    pub runbook_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    Fire,
    Repeat,
    Resolve,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub kind: NotificationKind,
    pub alert: Alert,
}

impl Notification {
    pub fn status(&self) -> &'static str {
        match self.kind {
            NotificationKind::Fire | NotificationKind::Repeat => "firing",
            NotificationKind::Resolve => "resolved",
        }
    }
}

pub fn fingerprint(kind: AlertKind, canary: &str, identity: &str, action: ProbeAction) -> String {
    let mut h = Sha256::new();
    for part in [kind.alertname(), canary, identity, action.as_str()] {
        h.update(part.as_bytes());
        // Separator byte that cannot occur in TOML names, so ("ab","c") != ("a","bc").
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..8])
}

/// A canary's alert track as kept across a restart.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedTrack {
    /// Consecutive rounds that did not see (the blind warning's streak).
    pub not_seeing_rounds: u32,
    pub firing: Vec<SavedFiring>,
}

/// One firing alert as kept across a restart.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedFiring {
    pub kind: AlertKind,
    pub identity: String,
    pub action: ProbeAction,
    pub expect: Expect,
    pub standing: Standing,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub evidence: Vec<String>,
    pub starts_at_unix_ms: u64,
    pub last_sent_unix_ms: u64,
}

#[derive(Debug)]
struct Firing {
    alert: Alert,
    last_sent: SystemTime,
}

#[derive(Debug, Default)]
struct Track {
    /// Consecutive Blind/ControlFailed rounds.
    not_seeing: u32,
    firing: BTreeMap<AlertKind, Firing>,
}

impl Track {
    /// The firing alerts whose last send is `every` old, marked as sent at `now`.
    fn due_repeats(
        &mut self,
        now: SystemTime,
        every: Duration,
    ) -> impl Iterator<Item = Notification> + '_ {
        self.firing
            .values_mut()
            .filter(move |f| is_due(f.last_sent, now, every))
            .map(move |f| {
                f.last_sent = now;
                Notification {
                    kind: NotificationKind::Repeat,
                    alert: f.alert.clone(),
                }
            })
    }
}

#[derive(Debug)]
pub struct AlertState {
    blind_after_rounds: u32,
    repeat_interval: Duration,
    dashboard_url: Option<String>,
    runbook_url: String,
    canaries: BTreeMap<String, Track>,
}

impl AlertState {
    pub fn new(cfg: &AlertingConfig) -> Self {
        AlertState {
            // 0 would mean "fire before seeing anything"; treat it as "first round".
            blind_after_rounds: cfg.blind_after_rounds.max(1),
            repeat_interval: cfg.repeat_interval,
            dashboard_url: cfg.dashboard_url.clone(),
            runbook_url: cfg.runbook_url.clone(),
            canaries: BTreeMap::new(),
        }
    }

    /// After a config reload: new thresholds and dashboard link, keeping what is firing (a
    /// reload must neither re-page nor silently forget an open breach).
    pub fn reconfigure(&mut self, cfg: &AlertingConfig) {
        self.blind_after_rounds = cfg.blind_after_rounds.max(1);
        self.repeat_interval = cfg.repeat_interval;
        self.dashboard_url = cfg.dashboard_url.clone();
        self.runbook_url = cfg.runbook_url.clone();
        for t in self.canaries.values_mut() {
            for f in t.firing.values_mut() {
                f.alert.dashboard_url = cfg.dashboard_url.clone();
                f.alert.runbook_url = runbook_section(&cfg.runbook_url, f.alert.kind);
            }
        }
    }

    /// Feeds one verdict; returns what to send, in order (resolves before fires).
    pub fn observe(&mut self, obs: &CanaryResult<'_>, now: SystemTime) -> Vec<Notification> {
        let repeat_interval = self.repeat_interval;
        let threshold = self.blind_after_rounds;
        let dashboard_url = self.dashboard_url.clone();
        let runbook_base = self.runbook_url.clone();
        let track = self.canaries.entry(obs.canary.to_string()).or_default();
        let wanted = AlertKind::for_standing(obs.standing);
        let mut out = Vec::new();

        track.not_seeing = match obs.standing {
            Standing::Ok | Standing::Breach => 0,
            Standing::Blind | Standing::ControlFailed => track.not_seeing.saturating_add(1),
        };

        // Resolve what this observation disproves.
        let to_resolve: Vec<AlertKind> = track
            .firing
            .keys()
            .copied()
            .filter(|k| match obs.standing {
                Standing::Ok => true,
                // Seeing again ends any warning.
                Standing::Breach => *k != AlertKind::Breach,
                // The warning kind changed; the breach stays (not disproved).
                Standing::Blind | Standing::ControlFailed => {
                    *k != AlertKind::Breach && Some(*k) != wanted
                }
            })
            .collect();
        for k in to_resolve {
            if let Some(f) = track.firing.remove(&k) {
                let mut alert = f.alert;
                refresh(&mut alert, obs);
                alert.ends_at = Some(now);
                out.push(Notification {
                    kind: NotificationKind::Resolve,
                    alert,
                });
            }
        }

        if let Some(kind) = wanted {
            let due = kind == AlertKind::Breach || track.not_seeing >= threshold;
            if due && !track.firing.contains_key(&kind) {
                let alert = Alert {
                    kind,
                    canary: obs.canary.to_string(),
                    identity: obs.identity.to_string(),
                    action: obs.action,
                    expect: obs.expect,
                    standing: obs.standing,
                    verdict: obs.verdict,
                    evidence: obs.evidence.to_vec(),
                    starts_at: now,
                    ends_at: None,
                    fingerprint: fingerprint(kind, obs.canary, obs.identity, obs.action),
                    dashboard_url,
                    runbook_url: runbook_section(&runbook_base, kind),
                };
                out.push(Notification {
                    kind: NotificationKind::Fire,
                    alert: alert.clone(),
                });
                track.firing.insert(
                    kind,
                    Firing {
                        alert,
                        last_sent: now,
                    },
                );
            } else if let Some(f) = track.firing.get_mut(&kind) {
                // Keep the evidence fresh for the next repeat, without sending now (dedup).
                refresh(&mut f.alert, obs);
            }
        }

        out.extend(track.due_repeats(now, repeat_interval));
        out
    }

    /// Repeats for every firing alert whose last send is `repeat_interval` old, for callers
    /// that want repeats even when rounds stall.
    pub fn due_repeats(&mut self, now: SystemTime) -> Vec<Notification> {
        let repeat_interval = self.repeat_interval;
        self.canaries
            .values_mut()
            .flat_map(|track| track.due_repeats(now, repeat_interval))
            .collect()
    }

    /// After a config reload: resolves the alerts of canaries that no longer exist, so they
    /// do not fire forever in Alertmanager or Slack.
    pub fn retain_canaries(
        &mut self,
        keep: impl Fn(&str) -> bool,
        now: SystemTime,
    ) -> Vec<Notification> {
        let gone: Vec<String> = self.canaries.keys().filter(|c| !keep(c)).cloned().collect();
        let mut out = Vec::new();
        for c in gone {
            if let Some(track) = self.canaries.remove(&c) {
                for (_, f) in track.firing {
                    let mut alert = f.alert;
                    alert.ends_at = Some(now);
                    out.push(Notification {
                        kind: NotificationKind::Resolve,
                        alert,
                    });
                }
            }
        }
        out
    }

    /// Every canary's track as kept across a restart ([`crate::state_file`]).
    pub fn saved(&self) -> BTreeMap<String, SavedTrack> {
        self.canaries
            .iter()
            .map(|(canary, t)| {
                let firing = t
                    .firing
                    .values()
                    .map(|f| SavedFiring {
                        kind: f.alert.kind,
                        identity: f.alert.identity.clone(),
                        action: f.alert.action,
                        expect: f.alert.expect,
                        standing: f.alert.standing,
                        verdict: f.alert.verdict,
                        evidence: f.alert.evidence.clone(),
                        starts_at_unix_ms: crate::store::to_unix_ms(f.alert.starts_at),
                        last_sent_unix_ms: crate::store::to_unix_ms(f.last_sent),
                    })
                    .collect();
                let saved = SavedTrack {
                    not_seeing_rounds: t.not_seeing,
                    firing,
                };
                (canary.clone(), saved)
            })
            .collect()
    }

    /// Puts back a canary's track from before a restart: its firing alerts stay firing (no new
    /// Fire for them; repeats keep their schedule) and the blind streak keeps counting. Links
    /// come from the current config.
    pub fn restore(&mut self, canary: &str, saved: &SavedTrack) {
        let mut track = Track {
            not_seeing: saved.not_seeing_rounds,
            firing: BTreeMap::new(),
        };
        for f in &saved.firing {
            let alert = Alert {
                kind: f.kind,
                canary: canary.to_string(),
                identity: f.identity.clone(),
                action: f.action,
                expect: f.expect,
                standing: f.standing,
                verdict: f.verdict,
                evidence: f.evidence.clone(),
                starts_at: crate::store::unix_ms(f.starts_at_unix_ms),
                ends_at: None,
                fingerprint: fingerprint(f.kind, canary, &f.identity, f.action),
                dashboard_url: self.dashboard_url.clone(),
                runbook_url: runbook_section(&self.runbook_url, f.kind),
            };
            let last_sent = crate::store::unix_ms(f.last_sent_unix_ms);
            track.firing.insert(f.kind, Firing { alert, last_sent });
        }
        self.canaries.insert(canary.to_string(), track);
    }

    /// Currently firing alerts (for the status page and tests).
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.canaries
            .values()
            .flat_map(|t| t.firing.values().map(|f| &f.alert))
    }
}

/// Only an observation of the alert's own kind (or a resolving one) may change its evidence:
/// blind evidence must not overwrite the proof of a breach.
fn refresh(alert: &mut Alert, obs: &CanaryResult<'_>) {
    let same_kind = AlertKind::for_standing(obs.standing) == Some(alert.kind);
    if same_kind || obs.standing == Standing::Ok || alert.kind != AlertKind::Breach {
        alert.standing = obs.standing;
        alert.verdict = obs.verdict;
        alert.evidence = obs.evidence.to_vec();
    }
}

/// The runbook section of an alert kind under the configured runbook URL.
pub fn runbook_section(base: &str, kind: AlertKind) -> String {
    format!("{base}#{}", kind.runbook_anchor())
}

fn is_due(last: SystemTime, now: SystemTime, every: Duration) -> bool {
    // A clock stepping backwards yields Err: not due (better late than a burst).
    now.duration_since(last).is_ok_and(|d| d >= every)
}

#[cfg(test)]
mod tests;
