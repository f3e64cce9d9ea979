//! Alertmanager v2 API: `POST {url}/api/v2/alerts` with a one-element list.
//!
//! Alertmanager resolves an alert by itself once `endsAt` passes, so a firing post carries
//! `endsAt = now + 4 × resend_interval` and the worker re-posts firing alerts every
//! `resend_interval` (Prometheus does the same); a resolve carries the real `endsAt`.

use std::time::{Duration, SystemTime};

use serde_json::json;

use super::notifier::{Notifier, rfc3339, runbook_url, summary};
use super::state::Notification;
use crate::config::alerting::NotifierKind;

pub struct Alertmanager {
    pub resend_interval: Duration,
}

impl Notifier for Alertmanager {
    fn kind(&self) -> NotifierKind {
        NotifierKind::Alertmanager
    }

    fn endpoint(&self, configured: &str) -> String {
        format!("{}/api/v2/alerts", configured.trim_end_matches('/'))
    }

    fn render(&self, n: &Notification, now: SystemTime) -> serde_json::Value {
        let a = &n.alert;
        let ends_at = a
            .ends_at
            .unwrap_or_else(|| now + self.resend_interval.saturating_mul(4));
        let mut annotations = json!({
            "summary": summary(a),
            "evidence": a.evidence.join("\n"),
            "verdict": a.verdict_text(),
            "runbook_url": runbook_url(a),
        });
        let mut alert = json!({
            "labels": {
                "alertname": a.kind.alertname(),
                "canary": a.canary,
                "identity": a.identity,
                "action": a.action.as_str(),
                "severity": a.kind.severity(),
            },
            "startsAt": rfc3339(a.starts_at),
            "endsAt": rfc3339(ends_at),
        });
        if let Some(url) = &a.dashboard_url {
            annotations["dashboard_url"] = json!(url);
            alert["generatorURL"] = json!(url);
        }
        alert["annotations"] = annotations;
        json!([alert])
    }

    fn keepalive(&self) -> Option<Duration> {
        Some(self.resend_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::state::NotificationKind;
    use crate::alert::test_support::sample;

    #[test]
    fn firing_and_resolved_bodies() {
        let am = Alertmanager {
            resend_interval: Duration::from_secs(60),
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_100);
        let fire = sample(NotificationKind::Fire);
        let v = am.render(&fire, now);
        let a = &v[0];
        assert_eq!(a["labels"]["alertname"], "IotCanaryBreach");
        assert_eq!(a["labels"]["severity"], "critical");
        assert_eq!(a["labels"]["canary"], "alice-bob-lamp");
        assert_eq!(a["labels"]["identity"], "alice");
        assert_eq!(a["labels"]["action"], "subscribe");
        assert_eq!(
            a["annotations"]["evidence"],
            "SUBACK 0x01 granted\nwitness saw nothing"
        );
        assert_eq!(
            a["annotations"]["dashboard_url"],
            "http://grafana/d/iot-canary"
        );
        assert_eq!(a["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(a["endsAt"], "2023-11-14T22:19:00.000Z", "now + 4 min");
        let mut resolve = sample(NotificationKind::Resolve);
        resolve.alert.ends_at = Some(now);
        let v = am.render(&resolve, now + Duration::from_secs(3600));
        assert_eq!(v[0]["endsAt"], "2023-11-14T22:15:00.000Z");
        assert_eq!(
            am.endpoint("http://am:9093/"),
            "http://am:9093/api/v2/alerts"
        );
    }
}
