//! The one narrow interface every notifier implements: turn a notification into a JSON body
//! for its endpoint. Rendering is pure; HTTP, retries and queueing live in `delivery`.

use std::time::{Duration, SystemTime};

use super::state::{Alert, Notification};
use crate::config::alerting::{NotifierKind, NotifierSettings};

pub trait Notifier: Send + Sync {
    fn kind(&self) -> NotifierKind;

    /// The URL to POST to, from the configured one (Alertmanager appends its API path).
    fn endpoint(&self, configured: &str) -> String {
        configured.to_string()
    }

    /// The request body. `now` is passed in so rendering stays deterministic under test.
    fn render(&self, n: &Notification, now: SystemTime) -> serde_json::Value;

    /// If set, firing alerts are re-posted this often regardless of the repeat interval
    /// (Alertmanager expires alerts that are not refreshed).
    fn keepalive(&self) -> Option<Duration> {
        None
    }
}

pub fn build(settings: &NotifierSettings) -> Box<dyn Notifier> {
    match settings.kind {
        NotifierKind::Alertmanager => Box::new(super::alertmanager::Alertmanager {
            resend_interval: settings.resend_interval.unwrap_or(Duration::from_secs(60)),
        }),
        NotifierKind::Slack => Box::new(super::slack::Slack),
        NotifierKind::Webhook => Box::new(super::webhook::Webhook),
    }
}

/// One-line human summary shared by all notifiers.
pub fn summary(a: &Alert) -> String {
    use super::state::AlertKind;
    match a.kind {
        AlertKind::Breach => format!(
            "BREACH: identity {} can {} ({})",
            a.identity, a.action, a.canary
        ),
        AlertKind::Blind => format!(
            "Blind canary: {} cannot see ({})",
            a.canary,
            a.verdict_text()
        ),
        AlertKind::ControlFailed => format!(
            "Control failed: identity {} lost {} access ({})",
            a.identity, a.action, a.canary
        ),
    }
}

pub fn runbook_url(a: &Alert) -> String {
    a.runbook_url.clone()
}

impl Alert {
    /// `denied`, `allowed` or `inconclusive (timeout)`.
    pub fn verdict_text(&self) -> String {
        match self.verdict {
            crate::verdict::Verdict::Inconclusive(r) => format!("inconclusive ({r})"),
            v => v.label().to_string(),
        }
    }
}

/// RFC 3339 UTC with millisecond precision (what Alertmanager and most receivers parse).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's civil_from_days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_table() {
        let rows = [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.005Z"),
            (1_700_000_000, 123, "2023-11-14T22:13:20.123Z"),
            (4_102_444_799, 999, "2099-12-31T23:59:59.999Z"),
        ];
        for (s, ms, want) in rows {
            let t = SystemTime::UNIX_EPOCH + Duration::from_millis(s * 1000 + ms);
            assert_eq!(rfc3339(t), want);
        }
    }
}
