//! Shared fixtures for the alert unit tests.

use std::time::{Duration, SystemTime};

use super::state::{Alert, AlertKind, Notification, NotificationKind, fingerprint};
use crate::verdict::{Expect, ProbeAction, Standing, Verdict};

pub fn sample(kind: NotificationKind) -> Notification {
    let starts_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    Notification {
        kind,
        alert: Alert {
            kind: AlertKind::Breach,
            canary: "alice-bob-lamp".into(),
            identity: "alice".into(),
            action: ProbeAction::Subscribe,
            expect: Expect::Deny,
            standing: Standing::Breach,
            verdict: Verdict::Allowed,
            evidence: vec!["SUBACK 0x01 granted".into(), "witness saw nothing".into()],
            starts_at,
            ends_at: (kind == NotificationKind::Resolve)
                .then(|| starts_at + Duration::from_secs(60)),
            fingerprint: fingerprint(
                AlertKind::Breach,
                "alice-bob-lamp",
                "alice",
                ProbeAction::Subscribe,
            ),
            dashboard_url: Some("http://grafana/d/iot-canary".into()),
            runbook_url:
                "https://github.com/iot-canary/iot-canary/blob/main/docs/runbook.md#iotcanarybreach"
                    .into(),
        },
    }
}
