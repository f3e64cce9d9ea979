//! Daemon-side helpers shared by the modules (testkit cannot hold them: it does not depend on
//! the daemon): daemons over fixed keys, bounded rounds.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use iot_canary_core::config::{self, Config};
use iot_canary_daemon::daemon::{
    self, CanaryReport, Daemon, FixedIdentity, IdentityCreds, IdentitySource, Shard,
};
use iot_canary_testkit::scenario::{DEV, OPS};

/// A config from test text (the file name only labels errors).
pub fn parse(name: &str, text: &str) -> Config {
    config::parse(Path::new(name), text).unwrap_or_else(|e| panic!("{e}"))
}

/// An identity that always hands out these static keys.
pub fn fixed(keys: (&str, &str)) -> Arc<dyn IdentitySource> {
    Arc::new(FixedIdentity(IdentityCreds {
        credentials: Credentials::new(keys.0, keys.1, None, None, "test"),
        identity_id: None,
        username: None,
    }))
}

/// A daemon over `cfg` whose identities are `(name, keys)` pairs of static keys.
pub fn daemon_with_keys(cfg: Config, keys: &[(&str, (&str, &str))]) -> Daemon {
    let ids: BTreeMap<String, Arc<dyn IdentitySource>> = keys
        .iter()
        .map(|(name, k)| (name.to_string(), fixed(*k)))
        .collect();
    daemon_with(cfg, ids)
}

/// A daemon over `cfg` with the given identity sources.
pub fn daemon_with(cfg: Config, ids: BTreeMap<String, Arc<dyn IdentitySource>>) -> Daemon {
    let endpoint = daemon::endpoint(&cfg).expect("CA readable");
    Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL)
}

/// One round of every canary (or those `only` selects), bounded.
pub async fn round_of(d: &Daemon, only: Option<&str>) -> Vec<CanaryReport> {
    tokio::time::timeout(Duration::from_secs(180), d.round(only, &|_| {}))
        .await
        .expect("round finishes within 180 s")
}

pub async fn round(d: &Daemon) -> Vec<CanaryReport> {
    round_of(d, None).await
}

/// One round of the canaries in `text` (a config of identities `ops` and `dev`, static keys
/// [`OPS`] and [`DEV`]), its pooled connections closed after; `file` labels config errors.
pub async fn ops_dev_round(file: &str, text: &str) -> Vec<CanaryReport> {
    let d = daemon_with_keys(parse(file, text), &[("ops", OPS), ("dev", DEV)]);
    let reports = round(&d).await;
    d.pool.close_all().await;
    reports
}

pub use iot_canary_testkit::report_canary as json_canary;

/// A receive canary that breached: the bait was delivered, and the evidence says so.
pub fn assert_bait_delivered(recv: &serde_json::Value) {
    assert_eq!(recv["standing"], "breach", "{recv:#}");
    assert_eq!(
        recv["evidence"]["observation"]["kind"], "delivered",
        "{recv:#}"
    );
    let steps = recv["evidence"]["steps"].as_array().expect("steps");
    assert!(
        steps.iter().any(|s| s["what"]
            .as_str()
            .unwrap_or("")
            .contains("the canary received the bait")),
        "{recv:#}"
    );
}

/// A `denied` verdict rests on the right evidence: over 3.1.1 (which only closes the socket) a
/// repeated close and a later control's confirmation, over 5 an explicit refusal code or a
/// proven absence of the bait. Returns whether a confirmation step is present.
pub fn assert_denial_evidence(r: &CanaryReport, v311: bool) -> bool {
    use iot_canary_core::verdict::Observation;
    let confirmed = r
        .evidence
        .steps
        .iter()
        .any(|s| s.what.starts_with("denial confirmed"));
    let obs = &r.evidence.observation;
    assert!(
        iot_canary_testkit::verdicts::denial_is_evidenced(r),
        "{}: {obs:?}",
        r.canary
    );
    if v311 {
        assert!(
            confirmed && matches!(obs, Observation::ClosedWithoutAck { repeated: true, .. }),
            "{}: {obs:?}",
            r.canary
        );
    }
    confirmed
}
