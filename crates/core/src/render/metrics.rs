//! Prometheus text exposition, a pure function of the config and a store snapshot. Every
//! known label set is present from the start (zeros until a probe lands), and label values
//! come only from the config and fixed enums.

use std::fmt::Write;
use std::time::SystemTime;

use crate::alert::AlertStats;
use crate::config::Config;
use crate::credentials::FailureReason;
use crate::store::{BUCKETS, Snapshot, control_ok};
use crate::verdict::{ProbeAction, Reason, Standing, Verdict};

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn head(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Process-level inputs that are not in the results store.
#[derive(Debug, Clone)]
pub struct Extras {
    pub alerts: AlertStats,
    /// `iot_canary_config_last_reload_successful`.
    pub reload_ok: bool,
    /// `process_start_time_seconds`.
    pub started: SystemTime,
}

impl Default for Extras {
    fn default() -> Self {
        Extras {
            alerts: AlertStats::default(),
            reload_ok: true,
            started: SystemTime::UNIX_EPOCH,
        }
    }
}

/// The exposition without process-level inputs (no notifiers, reload ok, start time 0).
pub fn render(cfg: &Config, s: &Snapshot) -> String {
    render_with(cfg, s, &Extras::default())
}

pub fn render_with(cfg: &Config, s: &Snapshot, x: &Extras) -> String {
    // ~20 series per canary at ~100 bytes each: one allocation up front.
    let mut o = String::with_capacity(4096 + cfg.canaries.len() * 2400);
    head(
        &mut o,
        "iot_canary_breach",
        "gauge",
        "1 while the canary's forbidden attempt succeeds.",
    );
    for c in &cfg.canaries {
        let breach = s
            .latest
            .get(&c.name)
            .is_some_and(|r| r.standing == Standing::Breach);
        let _ = writeln!(
            o,
            "iot_canary_breach{{canary=\"{}\",identity=\"{}\",action=\"{}\"}} {}",
            esc(&c.name),
            esc(&c.identity),
            c.action,
            u8::from(breach)
        );
    }
    head(
        &mut o,
        "iot_canary_verdict",
        "gauge",
        "The canary's latest verdict (one-hot).",
    );
    for c in &cfg.canaries {
        let cur = s.latest.get(&c.name).map(|r| r.verdict.label());
        for v in Verdict::LABELS {
            let _ = writeln!(
                o,
                "iot_canary_verdict{{canary=\"{}\",identity=\"{}\",action=\"{}\",verdict=\"{v}\"}} {}",
                esc(&c.name),
                esc(&c.identity),
                c.action,
                u8::from(cur == Some(v))
            );
        }
    }
    head(
        &mut o,
        "iot_canary_probes_total",
        "counter",
        "Probes run, by verdict.",
    );
    for c in &cfg.canaries {
        for v in Verdict::LABELS {
            let n = s
                .probes_total
                .get(&(c.name.clone(), v))
                .copied()
                .unwrap_or(0);
            let _ = writeln!(
                o,
                "iot_canary_probes_total{{canary=\"{}\",identity=\"{}\",action=\"{}\",verdict=\"{v}\"}} {n}",
                esc(&c.name),
                esc(&c.identity),
                c.action
            );
        }
    }
    head(
        &mut o,
        "iot_canary_inconclusive_total",
        "counter",
        "Inconclusive probes, by reason.",
    );
    for c in &cfg.canaries {
        for r in Reason::ALL {
            let n = s
                .inconclusive_total
                .get(&(c.name.clone(), r))
                .copied()
                .unwrap_or(0);
            let _ = writeln!(
                o,
                "iot_canary_inconclusive_total{{canary=\"{}\",reason=\"{r}\"}} {n}",
                esc(&c.name)
            );
        }
    }
    head(
        &mut o,
        "iot_canary_control_ok",
        "gauge",
        "1 while every control of the identity succeeds.",
    );
    for i in &cfg.identities {
        if cfg.canaries.iter().any(|c| c.identity == i.name) {
            let _ = writeln!(
                o,
                "iot_canary_control_ok{{identity=\"{}\"}} {}",
                esc(&i.name),
                u8::from(control_ok(s, &i.name))
            );
        }
    }
    head(
        &mut o,
        "iot_canary_probe_duration_seconds",
        "histogram",
        "Probe duration.",
    );
    for a in ProbeAction::ALL {
        let h = s.durations.get(&a).cloned().unwrap_or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                o,
                "iot_canary_probe_duration_seconds_bucket{{action=\"{a}\",le=\"{b}\"}} {}",
                h.counts[i]
            );
        }
        let _ = writeln!(
            o,
            "iot_canary_probe_duration_seconds_bucket{{action=\"{a}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            o,
            "iot_canary_probe_duration_seconds_sum{{action=\"{a}\"}} {}",
            h.sum
        );
        let _ = writeln!(
            o,
            "iot_canary_probe_duration_seconds_count{{action=\"{a}\"}} {}",
            h.count
        );
    }
    head(
        &mut o,
        "iot_canary_last_verdict_timestamp_seconds",
        "gauge",
        "When the canary's latest verdict landed.",
    );
    for c in &cfg.canaries {
        let t = s
            .latest
            .get(&c.name)
            .map_or(0.0, |r| r.started_at_unix_ms as f64 / 1000.0);
        let _ = writeln!(
            o,
            "iot_canary_last_verdict_timestamp_seconds{{canary=\"{}\"}} {t}",
            esc(&c.name)
        );
    }
    head(
        &mut o,
        "iot_canary_blind_since_timestamp_seconds",
        "gauge",
        "When the canary's standing became blind or control-failed (0 while it sees).",
    );
    for c in &cfg.canaries {
        let t = s.blind_since.get(&c.name).map_or(0.0, |t| secs(*t));
        let _ = writeln!(
            o,
            "iot_canary_blind_since_timestamp_seconds{{canary=\"{}\"}} {t}",
            esc(&c.name)
        );
    }
    head(
        &mut o,
        "iot_canary_schedule_interval_seconds",
        "gauge",
        "The configured probe interval.",
    );
    let _ = writeln!(
        o,
        "iot_canary_schedule_interval_seconds {}",
        cfg.schedule.interval.as_secs_f64()
    );
    head(
        &mut o,
        "iot_canary_round_last_completed_timestamp_seconds",
        "gauge",
        "When the last round completed.",
    );
    let _ = writeln!(
        o,
        "iot_canary_round_last_completed_timestamp_seconds {}",
        s.round_completed.map_or(0.0, secs)
    );
    head(
        &mut o,
        "iot_canary_credentials_expiry_timestamp_seconds",
        "gauge",
        "Expiry of the identity's current credentials (0: none yet, or keys that never expire).",
    );
    for i in &cfg.identities {
        // 0: no credentials yet, or long-term keys that never expire.
        let t = s
            .credentials
            .get(&i.name)
            .and_then(|c| c.expiry_timestamp_seconds())
            .unwrap_or(0.0);
        let _ = writeln!(
            o,
            "iot_canary_credentials_expiry_timestamp_seconds{{identity=\"{}\"}} {t}",
            esc(&i.name)
        );
    }
    head(
        &mut o,
        "iot_canary_credential_failures_total",
        "counter",
        "Credential fetch/refresh failures, by reason.",
    );
    for i in &cfg.identities {
        for r in FailureReason::ALL {
            let n = s
                .credentials
                .get(&i.name)
                .and_then(|c| c.failures.get(&r).copied())
                .unwrap_or(0);
            let _ = writeln!(
                o,
                "iot_canary_credential_failures_total{{identity=\"{}\",reason=\"{r}\"}} {n}",
                esc(&i.name)
            );
        }
    }
    head(
        &mut o,
        "iot_canary_config_last_reload_successful",
        "gauge",
        "1 if the running config loaded cleanly.",
    );
    let _ = writeln!(
        o,
        "iot_canary_config_last_reload_successful {}",
        u8::from(x.reload_ok)
    );
    head(
        &mut o,
        "iot_canary_alerts_sent_total",
        "counter",
        "Alert notifications by notifier and result (success, failure = failed attempt, dropped = queue full).",
    );
    for (notifier, result, n) in x.alerts.sent_total() {
        let _ = writeln!(
            o,
            "iot_canary_alerts_sent_total{{notifier=\"{}\",result=\"{result}\"}} {n}",
            esc(notifier)
        );
    }
    head(
        &mut o,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    let _ = writeln!(o, "process_start_time_seconds {}", secs(x.started));
    head(
        &mut o,
        "iot_canary_build_info",
        "gauge",
        "Build information.",
    );
    let _ = writeln!(
        o,
        "iot_canary_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Snapshot;

    fn cfg() -> Config {
        let src =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../canaries.toml"))
                .unwrap();
        crate::config::parse(std::path::Path::new("canaries.toml"), &src).unwrap()
    }

    #[test]
    fn every_label_set_exists_before_any_probe() {
        let c = cfg();
        let m = render(&c, &Snapshot::default());
        for canary in &c.canaries {
            assert!(m.contains(&format!(
                "iot_canary_breach{{canary=\"{}\",identity=\"{}\",action=\"{}\"}} 0",
                canary.name, canary.identity, canary.action
            )));
            assert!(m.contains(&format!(
                "iot_canary_inconclusive_total{{canary=\"{}\",reason=\"control_failed\"}} 0",
                canary.name
            )));
        }
        assert!(m.contains("iot_canary_control_ok{identity=\"alice\"} 0"));
        for i in &c.identities {
            assert!(m.contains(&format!(
                "iot_canary_credentials_expiry_timestamp_seconds{{identity=\"{}\"}} 0",
                i.name
            )));
            for r in FailureReason::ALL {
                assert!(m.contains(&format!(
                    "iot_canary_credential_failures_total{{identity=\"{}\",reason=\"{r}\"}} 0",
                    i.name
                )));
            }
        }
        assert!(m.contains("iot_canary_probe_duration_seconds_count{action=\"shadow-delete\"} 0"));
        assert!(m.contains("iot_canary_build_info{version="));
    }

    #[test]
    fn breach_and_verdicts_follow_the_store() {
        use crate::report::tests::sample;
        use crate::verdict::*;
        let c = cfg();
        let mut store = Snapshot::default();
        let mut r = sample(
            "guest-cannot-read-alice-telemetry",
            Expect::Deny,
            Verdict::Allowed,
            Observation::Delivered,
        );
        r.identity = "guest".into();
        let mut t = sample(
            "alice-cannot-subscribe-bob-plug",
            Expect::Deny,
            Verdict::Inconclusive(Reason::Throttled),
            Observation::Suback { code: 0x97 },
        );
        t.action = ProbeAction::Subscribe;
        store.record(
            &[r, t],
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(100),
        );
        let m = render(&c, &store);
        assert!(m.contains("iot_canary_breach{canary=\"guest-cannot-read-alice-telemetry\",identity=\"guest\",action=\"receive\"} 1"), "{m}");
        assert!(m.contains("iot_canary_verdict{canary=\"guest-cannot-read-alice-telemetry\",identity=\"guest\",action=\"receive\",verdict=\"allowed\"} 1"));
        assert!(m.contains("iot_canary_inconclusive_total{canary=\"alice-cannot-subscribe-bob-plug\",reason=\"throttled\"} 1"));
        assert!(m.contains("iot_canary_probes_total{canary=\"alice-cannot-subscribe-bob-plug\",identity=\"alice\",action=\"subscribe\",verdict=\"inconclusive\"} 1"));
        assert!(m.contains("iot_canary_round_last_completed_timestamp_seconds 100"));
    }

    #[test]
    fn extras_blind_since_and_process_series() {
        use crate::alert::NotifierStats;
        use crate::report::tests::sample;
        use crate::verdict::*;
        let c = cfg();
        let x = Extras {
            alerts: AlertStats {
                notifiers: vec![NotifierStats {
                    notifier: "oncall".into(),
                    kind: "alertmanager",
                    success: 2,
                    failure: 0,
                    dropped: 0,
                    queued: 0,
                    queue_capacity: 8,
                    queue_high_water: 1,
                }],
            },
            reload_ok: false,
            started: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000),
        };
        let mut store = Snapshot::default();
        let m = render_with(&c, &store, &x);
        for want in [
            "iot_canary_alerts_sent_total{notifier=\"oncall\",result=\"success\"} 2",
            "iot_canary_alerts_sent_total{notifier=\"oncall\",result=\"failure\"} 0",
            "iot_canary_alerts_sent_total{notifier=\"oncall\",result=\"dropped\"} 0",
            "iot_canary_config_last_reload_successful 0",
            "process_start_time_seconds 1000",
            "iot_canary_schedule_interval_seconds 30",
        ] {
            assert!(m.contains(want), "missing {want}");
        }
        for canary in &c.canaries {
            assert!(m.contains(&format!(
                "iot_canary_blind_since_timestamp_seconds{{canary=\"{}\"}} 0\n",
                canary.name
            )));
        }

        // Blind since the first blind probe's start; kept through further blind rounds;
        // back to 0 once the canary sees again.
        let blind = |at_ms: u64| {
            let mut r = sample(
                "alice-cannot-subscribe-bob-plug",
                Expect::Deny,
                Verdict::Inconclusive(Reason::Timeout),
                Observation::Delivered,
            );
            r.started_at_unix_ms = at_ms;
            r
        };
        let line =
            "iot_canary_blind_since_timestamp_seconds{canary=\"alice-cannot-subscribe-bob-plug\"}";
        store.record(&[blind(5_000)], SystemTime::now());
        store.record(&[blind(9_000)], SystemTime::now());
        let m = render_with(&c, &store, &x);
        assert!(m.contains(&format!("{line} 5\n")), "{m}");
        let mut ok = blind(12_000);
        ok.verdict = Verdict::Denied;
        ok.standing = Standing::Ok;
        store.record(&[ok], SystemTime::now());
        assert!(render_with(&c, &store, &x).contains(&format!("{line} 0\n")));
    }

    #[test]
    fn readiness_needs_a_round_and_fresh_credentials() {
        use crate::report::tests::sample;
        use crate::store::not_ready;
        use crate::verdict::*;
        let c = cfg();
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10_000);
        let mut store = Snapshot::default();
        assert_eq!(
            not_ready(&c, &store, now).as_deref(),
            Some("no round completed yet")
        );
        let name = "alice-cannot-subscribe-bob-plug";
        let mut r = sample(
            name,
            Expect::Deny,
            Verdict::Denied,
            Observation::Suback { code: 0x87 },
        );
        store.record(&[r.clone()], now);
        assert_eq!(not_ready(&c, &store, now), None);

        r.verdict = Verdict::Inconclusive(Reason::Credentials);
        store.record(&[r.clone()], now);
        assert_eq!(
            not_ready(&c, &store, now).as_deref(),
            Some("identity `alice` has no credentials")
        );
        r.verdict = Verdict::Denied;
        store.record(&[r], now);
        let status = |exp: SystemTime| crate::credentials::CacheStatus {
            identity: "alice".into(),
            expiration: Some(exp),
            usable: true,
            fetches: 1,
            consecutive_failures: 0,
            failures: Default::default(),
            last_error: None,
            retry_not_before: None,
        };
        store.record_credentials(status(now - std::time::Duration::from_secs(1)));
        assert_eq!(
            not_ready(&c, &store, now).as_deref(),
            Some("credentials of identity `alice` have expired")
        );
        store.record_credentials(status(now + std::time::Duration::from_secs(900)));
        assert_eq!(not_ready(&c, &store, now), None);

        // A reload that drops the canary and the identity forgets them.
        store.retain(|k| k != name, |i| i != "alice");
        let s = store.clone();
        assert!(!s.latest.contains_key(name));
        assert!(!s.probes_total.keys().any(|(k, _)| k == name));
        assert!(!s.credentials.contains_key("alice"));
    }
}
