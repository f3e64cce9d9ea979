//! The results store as plain data: each canary's latest report plus the counters metrics are
//! rendered from, updated by pure methods that take the time as an argument. Locking (and,
//! later, persistence) belong to the daemon.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::credentials::CacheStatus;
use crate::evidence::Evidence;
use crate::verdict::{Expect, ProbeAction, Reason, Standing, Verdict};

/// One canary's result in one round (the unit of every report format).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CanaryReport {
    pub canary: String,
    pub identity: String,
    pub action: ProbeAction,
    pub expect: Expect,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub standing: Standing,
    /// What was tested: topic, topic filter, thing or client id.
    pub subject: String,
    pub witness: Option<String>,
    pub started_at_unix_ms: u64,
    pub duration_ms: u64,
    pub evidence: Evidence,
}

impl CanaryReport {
    /// `c`'s report: names, action and witness come from the canary, the standing from its
    /// `expect` and the verdict, so no caller can pair a verdict with the wrong standing.
    pub fn new(
        c: &crate::config::Canary,
        verdict: Verdict,
        evidence: Evidence,
        started_at_unix_ms: u64,
        duration_ms: u64,
    ) -> Self {
        CanaryReport {
            canary: c.name.clone(),
            identity: c.identity.clone(),
            action: c.action,
            expect: c.expect,
            verdict,
            standing: crate::verdict::standing(c.expect, verdict),
            subject: c.subject(),
            witness: c.witness.clone(),
            started_at_unix_ms,
            duration_ms,
            evidence,
        }
    }
}

/// Upper bounds (seconds) of `iot_canary_probe_duration_seconds`.
pub const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Debug, Clone, Default)]
pub struct Histogram {
    pub counts: [u64; BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub latest: BTreeMap<String, CanaryReport>,
    pub probes_total: BTreeMap<(String, &'static str), u64>,
    pub inconclusive_total: BTreeMap<(String, Reason), u64>,
    pub durations: BTreeMap<ProbeAction, Histogram>,
    pub round_completed: Option<SystemTime>,
    pub rounds: u64,
    /// Each identity's credential cache as last seen (expiry, failures per reason); absent for
    /// identities whose credentials do not come from a cache (tests' fixed credentials).
    pub credentials: BTreeMap<String, CacheStatus>,
    /// When each canary's standing became Blind or ControlFailed (absent while it sees).
    pub blind_since: BTreeMap<String, SystemTime>,
}

impl Snapshot {
    /// Records one round's reports, completed at `completed`.
    pub fn record(&mut self, reports: &[CanaryReport], completed: SystemTime) {
        for r in reports {
            *self
                .probes_total
                .entry((r.canary.clone(), r.verdict.label()))
                .or_default() += 1;
            if let Verdict::Inconclusive(reason) = r.verdict {
                *self
                    .inconclusive_total
                    .entry((r.canary.clone(), reason))
                    .or_default() += 1;
            }
            self.durations
                .entry(r.action)
                .or_default()
                .observe(r.duration_ms as f64 / 1000.0);
            let blind = matches!(r.standing, Standing::Blind | Standing::ControlFailed);
            if !blind {
                self.blind_since.remove(&r.canary);
            } else if !self.blind_since.contains_key(&r.canary) {
                // The probe's start is when it was last unable to see, not the round's end.
                let at =
                    SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(r.started_at_unix_ms);
                self.blind_since.insert(r.canary.clone(), at);
            }
            self.latest.insert(r.canary.clone(), r.clone());
        }
        self.round_completed = Some(completed);
        self.rounds += 1;
    }

    /// Replaces an identity's credential status (the cache's counters are cumulative).
    pub fn record_credentials(&mut self, status: CacheStatus) {
        self.credentials.insert(status.identity.clone(), status);
    }

    /// After a reload: forgets canaries and identities the new config no longer has, so their
    /// series and status rows disappear instead of freezing at their last value.
    pub fn retain(
        &mut self,
        keep_canary: impl Fn(&str) -> bool,
        keep_identity: impl Fn(&str) -> bool,
    ) {
        self.latest.retain(|c, _| keep_canary(c));
        self.probes_total.retain(|(c, _), _| keep_canary(c));
        self.inconclusive_total.retain(|(c, _), _| keep_canary(c));
        self.blind_since.retain(|c, _| keep_canary(c));
        self.credentials.retain(|i, _| keep_identity(i));
    }

    /// Whether a round has completed.
    pub fn ready(&self) -> bool {
        self.rounds > 0
    }
}

/// Why the daemon is not ready (`/readyz`), or `None` when it is: a round has completed, and
/// every identity probed by this replica got credentials in its latest round that have not
/// expired by `now`. Pure over the snapshot so it is tested without a clock.
pub fn not_ready(cfg: &crate::config::Config, s: &Snapshot, now: SystemTime) -> Option<String> {
    if s.rounds == 0 {
        return Some("no round completed yet".into());
    }
    let probed = |c: &str| cfg.canaries.iter().any(|k| k.name == c);
    if let Some(r) = s
        .latest
        .values()
        .find(|r| probed(&r.canary) && r.verdict == Verdict::Inconclusive(Reason::Credentials))
    {
        return Some(format!("identity `{}` has no credentials", r.identity));
    }
    // Witnesses too: their expiry is recorded when they fetch.
    for i in &cfg.identities {
        let expiry = s.credentials.get(&i.name).and_then(|c| c.expiration);
        if expiry.is_some_and(|e| e <= now) {
            return Some(format!("credentials of identity `{}` have expired", i.name));
        }
    }
    None
}

/// Control standing per identity from the latest reports (`iot_canary_control_ok`).
pub fn control_ok(s: &Snapshot, identity: &str) -> bool {
    let mut any = false;
    for r in s
        .latest
        .values()
        .filter(|r| r.identity == identity && r.expect == Expect::Allow)
    {
        any = true;
        if r.standing != Standing::Ok {
            return false;
        }
    }
    any
}
