//! Slack incoming webhook: `text` (fallback for notifications) plus Block Kit `blocks`.
//! The webhook URL is the credential; it only ever lives in a [`super::secret::Secret`].

use std::time::SystemTime;

use serde_json::json;

use super::notifier::{Notifier, rfc3339, runbook_url, summary};
use super::state::{AlertKind, Notification};
use crate::config::alerting::NotifierKind;

pub struct Slack;

/// Slack mrkdwn treats `&`, `<`, `>` as control characters (links, mentions): canary names
/// and evidence are data, so escape them.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Notifier for Slack {
    fn kind(&self) -> NotifierKind {
        NotifierKind::Slack
    }

    fn render(&self, n: &Notification, _now: SystemTime) -> serde_json::Value {
        let a = &n.alert;
        let icon = match (n.status(), a.kind) {
            ("resolved", _) => ":white_check_mark:",
            (_, AlertKind::Breach) => ":rotating_light:",
            _ => ":warning:",
        };
        let status = n.status().to_uppercase();
        let text = format!("{icon} [{status}] {}", escape(&summary(a)));
        let evidence = if a.evidence.is_empty() {
            "(none)".to_string()
        } else {
            escape(&a.evidence.join("\n"))
        };
        let mut links = format!("<{}|runbook>", runbook_url(a));
        if let Some(url) = &a.dashboard_url {
            links = format!("<{}|dashboard> · {links}", escape(url));
        }
        json!({
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{text}*")}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": format!("*Canary*\n{}", escape(&a.canary))},
                    {"type": "mrkdwn", "text": format!("*Identity*\n{}", escape(&a.identity))},
                    {"type": "mrkdwn", "text": format!("*Action*\n{}", a.action)},
                    {"type": "mrkdwn", "text": format!("*Verdict*\n{}", a.verdict_text())},
                ]},
                {"type": "section", "text": {"type": "mrkdwn", "text": format!("*Evidence*\n```{evidence}```")}},
                {"type": "context", "elements": [
                    {"type": "mrkdwn", "text": format!("{} · {} · since {}", a.kind.severity(), links, rfc3339(a.starts_at))},
                ]},
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::state::NotificationKind;
    use crate::alert::test_support::sample;

    #[test]
    fn body_has_text_blocks_and_escapes() {
        let mut n = sample(NotificationKind::Fire);
        n.alert.evidence = vec!["<script> & <!channel>".into()];
        let v = Slack.render(&n, SystemTime::UNIX_EPOCH);
        let text = v["text"].as_str().unwrap();
        assert!(
            text.contains("[FIRING]") && text.contains("alice-bob-lamp"),
            "{text}"
        );
        let all = v.to_string();
        assert!(
            all.contains("&lt;script&gt; &amp; &lt;!channel&gt;"),
            "{all}"
        );
        assert!(!all.contains("<!channel>"));
        assert!(all.contains("<http://grafana/d/iot-canary|dashboard>"));
        assert_eq!(v["blocks"].as_array().unwrap().len(), 4);
        let r = Slack.render(&sample(NotificationKind::Resolve), SystemTime::UNIX_EPOCH);
        assert!(r["text"].as_str().unwrap().contains("[RESOLVED]"));
    }
}
