//! The state file `run` keeps in `[state] dir`: what must survive a restart so that a restart
//! neither re-fires standing alerts nor forgets how long a canary has been blind. Pure: text in,
//! data out (and back); the daemon does the atomic write and the read.
//!
//! Format (JSON, versioned; a reader refuses a version it does not know rather than guess):
//!
//! ```json
//! { "format": "iot-canary-state", "version": 1, "saved_at_unix_ms": 1700000000000,
//!   "canaries": { "NAME": {
//!       "identity": "alice", "action": "subscribe", "expect": "deny",
//!       "last": { "verdict": "allowed", "standing": "breach", "started_at_unix_ms": 0,
//!                 "evidence": ["SUBACK 0x01", "..."] },
//!       "blind_since_unix_ms": null,
//!       "alerts": { "not_seeing_rounds": 0, "firing": [ { "kind": "breach", ... } ] } } } }
//! ```
//!
//! Each canary is read on its own: one record a newer or older build cannot read is reported
//! and skipped, the others are kept.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::alert::AlertState;
use crate::alert::state::{Notification, SavedTrack};
use crate::config::Config;
use crate::evidence::evidence_lines;
use crate::store::{RestoredVerdict, Snapshot, to_unix_ms, unix_ms};
use crate::verdict::{Expect, ProbeAction};

/// The `format` marker: refuses to read some other JSON file as state.
pub const FORMAT: &str = "iot-canary-state";
/// The version this build writes and reads.
pub const VERSION: u64 = 1;

/// One canary as kept across a restart.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedCanary {
    /// What the canary was when saved: a canary renamed onto another's probe is not the same.
    pub identity: String,
    pub action: ProbeAction,
    pub expect: Expect,
    pub last: Option<RestoredVerdict>,
    pub blind_since_unix_ms: Option<u64>,
    #[serde(default)]
    pub alerts: SavedTrack,
}

#[derive(serde::Serialize)]
struct Envelope<'a> {
    format: &'static str,
    version: u64,
    saved_at_unix_ms: u64,
    canaries: &'a BTreeMap<String, SavedCanary>,
}

/// What was read: the canaries it holds, and those it could not (name, why).
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub saved_at: SystemTime,
    pub canaries: BTreeMap<String, SavedCanary>,
    pub skipped: Vec<(String, String)>,
}

/// Why a state file is ignored as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateFileError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not an iot-canary state file (no `\"format\": \"{FORMAT}\"`)")]
    NotAStateFile,
    #[error("state file version {found} is not the version this build reads ({VERSION})")]
    UnknownVersion { found: String },
}

/// The state to save: every canary of `cfg` with its latest verdict (or the one restored and not
/// yet replaced), its blind-since time and its alert track.
pub fn encode(cfg: &Config, snap: &Snapshot, alerts: &AlertState, now: SystemTime) -> String {
    let mut tracks = alerts.saved();
    let canaries: BTreeMap<String, SavedCanary> = cfg
        .canaries
        .iter()
        .map(|c| {
            let last = match snap.latest.get(&c.name) {
                Some(r) => Some(RestoredVerdict {
                    verdict: r.verdict,
                    standing: r.standing,
                    started_at_unix_ms: r.started_at_unix_ms,
                    evidence: evidence_lines(&r.evidence),
                }),
                None => snap.restored.get(&c.name).cloned(),
            };
            let saved = SavedCanary {
                identity: c.identity.clone(),
                action: c.action,
                expect: c.expect,
                last,
                blind_since_unix_ms: snap.blind_since.get(&c.name).map(|t| to_unix_ms(*t)),
                alerts: tracks.remove(&c.name).unwrap_or_default(),
            };
            (c.name.clone(), saved)
        })
        .collect();
    let env = Envelope {
        format: FORMAT,
        version: VERSION,
        saved_at_unix_ms: to_unix_ms(now),
        canaries: &canaries,
    };
    // Plain data of strings, numbers and string-keyed maps: serialising cannot fail.
    serde_json::to_string_pretty(&env).unwrap_or_default() + "\n"
}

/// Reads a state file's text.
pub fn decode(text: &str) -> Result<Saved, StateFileError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| StateFileError::NotJson(e.to_string()))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(StateFileError::NotAStateFile);
    }
    match v.get("version") {
        Some(n) if n.as_u64() == Some(VERSION) => {}
        other => {
            return Err(StateFileError::UnknownVersion {
                found: other.map_or("(none)".to_string(), |n| n.to_string()),
            });
        }
    }
    let saved_at = unix_ms(v["saved_at_unix_ms"].as_u64().unwrap_or(0));
    let mut out = Saved {
        saved_at,
        canaries: BTreeMap::new(),
        skipped: Vec::new(),
    };
    if let Some(map) = v.get("canaries").and_then(|c| c.as_object()) {
        for (name, record) in map {
            match serde_json::from_value::<SavedCanary>(record.clone()) {
                Ok(c) => {
                    out.canaries.insert(name.clone(), c);
                }
                Err(e) => out.skipped.push((name.clone(), e.to_string())),
            }
        }
    }
    Ok(out)
}

/// What restoring did.
#[derive(Debug, Default)]
pub struct Restored {
    /// Canaries kept.
    pub kept: Vec<String>,
    /// Canaries in the file that the config no longer has (or that now probe something else).
    pub dropped: Vec<String>,
    /// Resolves for the alerts the dropped canaries had firing, to send like a reload does.
    pub resolves: Vec<Notification>,
}

/// Puts saved state back into a fresh snapshot and alert state. Canaries the config no longer
/// has, or whose identity, action or expectation changed, are dropped; their firing alerts are
/// resolved (as a reload resolves a removed canary's alerts) rather than left firing forever.
pub fn restore(
    saved: &Saved,
    cfg: &Config,
    snap: &mut Snapshot,
    alerts: &mut AlertState,
    now: SystemTime,
) -> Restored {
    let same = |name: &str, c: &SavedCanary| {
        cfg.canaries.iter().any(|k| {
            k.name == name
                && k.identity == c.identity
                && k.action == c.action
                && k.expect == c.expect
        })
    };
    let mut out = Restored::default();
    for (name, c) in &saved.canaries {
        alerts.restore(name, &c.alerts);
        if !same(name, c) {
            out.dropped.push(name.clone());
            continue;
        }
        if let Some(last) = &c.last {
            snap.restored.insert(name.clone(), last.clone());
        }
        if let Some(ms) = c.blind_since_unix_ms {
            snap.blind_since.insert(name.clone(), unix_ms(ms));
        }
        out.kept.push(name.clone());
    }
    let kept = out.kept.clone();
    out.resolves = alerts.retain_canaries(|c| kept.iter().any(|k| k == c), now);
    out
}

#[cfg(test)]
mod tests;
