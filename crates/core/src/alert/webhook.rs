//! Generic JSON webhook. The body is a stable, versioned schema (`"schema":
//! "iot-canary.alert.v1"`; fields are only ever added within v1), documented in
//! docs/notifiers.md:
//!
//! ```json
//! {
//!   "schema": "iot-canary.alert.v1",
//!   "status": "firing" | "resolved",
//!   "notification": "fire" | "repeat" | "resolve",
//!   "alertname": "IotCanaryBreach" | "IotCanaryBlind" | "IotCanaryControlFailed",
//!   "severity": "critical" | "warning",
//!   "fingerprint": "16 hex chars, stable per (alertname, canary, identity, action)",
//!   "canary": "...", "identity": "...", "action": "subscribe", "expect": "deny" | "allow",
//!   "standing": "ok" | "breach" | "control_failed" | "blind",
//!   "verdict": "denied" | "allowed" | "inconclusive", "reason": "timeout" | null,
//!   "evidence": ["..."],
//!   "summary": "...", "dashboard_url": "..." | null, "runbook_url": "...",
//!   "starts_at": "RFC 3339", "ends_at": "RFC 3339" | null, "sent_at": "RFC 3339"
//! }
//! ```

use std::time::SystemTime;

use serde_json::json;

use super::notifier::{Notifier, rfc3339, runbook_url, summary};
use super::state::{Notification, NotificationKind};
use crate::config::alerting::NotifierKind;
use crate::verdict::{Standing, Verdict};

pub const SCHEMA: &str = "iot-canary.alert.v1";

pub struct Webhook;

fn standing_str(s: Standing) -> &'static str {
    match s {
        Standing::Ok => "ok",
        Standing::Breach => "breach",
        Standing::ControlFailed => "control_failed",
        Standing::Blind => "blind",
    }
}

impl Notifier for Webhook {
    fn kind(&self) -> NotifierKind {
        NotifierKind::Webhook
    }

    fn render(&self, n: &Notification, now: SystemTime) -> serde_json::Value {
        let a = &n.alert;
        let reason = match a.verdict {
            Verdict::Inconclusive(r) => json!(r.as_str()),
            _ => serde_json::Value::Null,
        };
        json!({
            "schema": SCHEMA,
            "status": n.status(),
            "notification": match n.kind {
                NotificationKind::Fire => "fire",
                NotificationKind::Repeat => "repeat",
                NotificationKind::Resolve => "resolve",
            },
            "alertname": a.kind.alertname(),
            "severity": a.kind.severity(),
            "fingerprint": a.fingerprint,
            "canary": a.canary,
            "identity": a.identity,
            "action": a.action.as_str(),
            "expect": match a.expect {
                crate::verdict::Expect::Deny => "deny",
                crate::verdict::Expect::Allow => "allow",
            },
            "standing": standing_str(a.standing),
            "verdict": a.verdict.label(),
            "reason": reason,
            "evidence": a.evidence,
            "summary": summary(a),
            "dashboard_url": a.dashboard_url,
            "runbook_url": runbook_url(a),
            "starts_at": rfc3339(a.starts_at),
            "ends_at": a.ends_at.map(rfc3339),
            "sent_at": rfc3339(now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::test_support::sample;

    #[test]
    fn schema_fields() {
        let v = Webhook.render(&sample(NotificationKind::Fire), SystemTime::UNIX_EPOCH);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for k in [
            "schema",
            "status",
            "notification",
            "alertname",
            "severity",
            "fingerprint",
            "canary",
            "identity",
            "action",
            "expect",
            "standing",
            "verdict",
            "reason",
            "evidence",
            "summary",
            "dashboard_url",
            "runbook_url",
            "starts_at",
            "ends_at",
            "sent_at",
        ] {
            assert!(keys.contains(&k), "missing {k}");
        }
        assert_eq!(
            keys.len(),
            20,
            "schema v1 changed: update docs/notifiers.md"
        );
        assert_eq!(v["status"], "firing");
        assert_eq!(v["standing"], "breach");
        assert_eq!(v["verdict"], "allowed");
        assert_eq!(v["reason"], serde_json::Value::Null);
        assert_eq!(v["ends_at"], serde_json::Value::Null);
        let r = Webhook.render(&sample(NotificationKind::Resolve), SystemTime::UNIX_EPOCH);
        assert_eq!(r["status"], "resolved");
        assert_eq!(r["notification"], "resolve");
    }
}
