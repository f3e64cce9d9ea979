//! The Prometheus exposition, a pure function of the config, a results snapshot and a few
//! process-level inputs ([`Extras`]). Every known label set is present from the start (zeros
//! until a probe lands), and label values come only from the config and fixed enums.
//!
//! [`families`] builds the metric families afresh on every call (no global registry, so a
//! reload's removed canaries simply stop being rendered) in the data model of the `prometheus`
//! crate; [`encode`] writes them either as text format 0.0.4 with that crate's `TextEncoder`,
//! or as OpenMetrics 1.0.0 with the Prometheus project's `prometheus-client`. Neither crate
//! writes both formats: `prometheus` has no OpenMetrics encoder, and `prometheus-client` writes
//! only OpenMetrics, whose counter and info descriptors (`# TYPE iot_canary_probes counter`
//! over `iot_canary_probes_total` samples) are not valid text 0.0.4. Keeping one model means
//! the daemon's process families travel through the same two encoders.

use std::borrow::Cow;
use std::collections::HashSet;
use std::time::SystemTime;

use prometheus::proto::{self, LabelPair, Metric, MetricType};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabel, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType as OmType;

use crate::alert::AlertStats;
use crate::config::{Canary, Config};
use crate::credentials::FailureReason;
use crate::store::{BUCKETS, Histogram, Snapshot, control_ok};
use crate::verdict::{ProbeAction, Reason, Standing, Verdict};

/// The exposition's data model: the daemon appends its own families (process metrics) to
/// those of [`families`] before [`encode`].
pub use prometheus::proto::MetricFamily as Family;

/// Process-level inputs that are not in the results store.
#[derive(Debug, Clone)]
pub struct Extras {
    pub alerts: AlertStats,
    /// `iot_canary_config_last_reload_successful`.
    pub reload_ok: bool,
    /// `process_start_time_seconds`: the only source of that series (the daemon's process
    /// metrics leave it out), so it exists on every platform the alert rules run against.
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

/// The two expositions a scraper can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (the `prometheus` crate's `TextEncoder`).
    Text,
    /// OpenMetrics 1.0.0 text, ending in `# EOF` (`prometheus-client`).
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("metric family `{0}` is exposed twice")]
    Duplicate(String),
    #[error(
        "counter `{0}` does not end in `_total`, so its samples would be named differently in OpenMetrics"
    )]
    CounterName(String),
    #[error("metric family `{0}` is a summary or untyped, which this exposition does not carry")]
    Unsupported(String),
    #[error("text format: {0}")]
    Text(#[from] prometheus::Error),
    #[error("OpenMetrics text could not be written")]
    OpenMetrics(#[from] std::fmt::Error),
}

/// The text exposition without process-level inputs (no notifiers, reload ok, start time 0).
pub fn render(cfg: &Config, s: &Snapshot) -> String {
    render_with(cfg, s, &Extras::default())
}

/// The text exposition of [`families`].
pub fn render_with(cfg: &Config, s: &Snapshot, x: &Extras) -> String {
    render_as(cfg, s, x, Format::Text)
}

/// [`families`] encoded in `format`.
pub fn render_as(cfg: &Config, s: &Snapshot, x: &Extras, format: Format) -> String {
    // Invariant: `families` names every family once, ends every counter in `_total` and uses
    // only gauges, counters and histograms, so `encode`'s checks pass; and writing to a String
    // cannot fail (tested for both formats below).
    encode(families(cfg, s, x), format).expect("the core's own families always encode")
}

/// Encodes `families` in `format`. Families without samples are left out (both formats want
/// at least one sample under a descriptor).
pub fn encode(mut families: Vec<Family>, format: Format) -> Result<String, EncodeError> {
    families.retain(|f| !f.get_metric().is_empty());
    check(&families)?;
    let mut out = String::with_capacity(size_hint(&families));
    match format {
        Format::Text => prometheus::TextEncoder::new().encode_utf8(&families, &mut out)?,
        Format::OpenMetrics => {
            let mut registry = prometheus_client::registry::Registry::default();
            registry.register_collector(Box::new(OpenMetrics(families)));
            prometheus_client::encoding::text::encode(&mut out, &registry)?;
        }
    }
    Ok(out)
}

fn check(families: &[Family]) -> Result<(), EncodeError> {
    let mut seen = HashSet::with_capacity(families.len());
    for f in families {
        if !seen.insert(f.name()) {
            return Err(EncodeError::Duplicate(f.name().into()));
        }
        match f.get_field_type() {
            MetricType::COUNTER if !f.name().ends_with("_total") => {
                return Err(EncodeError::CounterName(f.name().into()));
            }
            // The text encoder panics on untyped; prometheus-client has no summary.
            MetricType::SUMMARY | MetricType::UNTYPED => {
                return Err(EncodeError::Unsupported(f.name().into()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Bytes to reserve: ~120 per sample line, so a large scrape does not regrow its buffer.
fn size_hint(families: &[Family]) -> usize {
    let lines: usize = families
        .iter()
        .map(|f| match f.get_field_type() {
            MetricType::HISTOGRAM => f.get_metric().len() * (BUCKETS.len() + 3),
            _ => f.get_metric().len(),
        })
        .sum();
    1024 + families.len() * 160 + lines * 120
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.into());
    l.set_value(value.into());
    l
}

fn canary_labels(c: &Canary) -> Vec<LabelPair> {
    vec![
        label("canary", &c.name),
        label("identity", &c.identity),
        label("action", c.action.as_str()),
    ]
}

fn gauge(labels: Vec<LabelPair>, v: f64) -> Metric {
    let mut g = proto::Gauge::default();
    g.set_value(v);
    let mut m = Metric::from_label(labels);
    m.set_gauge(g);
    m
}

fn counter(labels: Vec<LabelPair>, n: u64) -> Metric {
    let mut c = proto::Counter::default();
    c.set_value(n as f64);
    let mut m = Metric::from_label(labels);
    m.set_counter(c);
    m
}

fn histogram(labels: Vec<LabelPair>, h: &Histogram) -> Metric {
    let mut p = proto::Histogram::default();
    p.set_sample_count(h.count);
    p.set_sample_sum(h.sum);
    p.set_bucket(
        BUCKETS
            .iter()
            .zip(h.counts)
            .map(|(le, n)| {
                let mut b = proto::Bucket::default();
                b.set_upper_bound(*le);
                b.set_cumulative_count(n);
                b
            })
            .collect(),
    );
    let mut m = Metric::from_label(labels);
    m.set_histogram(p);
    m
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> Family {
    let mut f = Family::default();
    f.set_name(name.into());
    f.set_help(help.into());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

/// Every series of the exposition, built from the config (which label sets exist) and the
/// snapshot (their values).
pub fn families(cfg: &Config, s: &Snapshot, x: &Extras) -> Vec<Family> {
    use MetricType::{COUNTER, GAUGE, HISTOGRAM};
    let canaries = &cfg.canaries;
    let by_canary = |f: &dyn Fn(&Canary) -> f64| -> Vec<Metric> {
        canaries
            .iter()
            .map(|c| gauge(vec![label("canary", &c.name)], f(c)))
            .collect()
    };
    let mut out = Vec::with_capacity(20);
    out.push(family(
        "iot_canary_breach",
        "1 while the canary's forbidden attempt succeeds.",
        GAUGE,
        canaries
            .iter()
            .map(|c| {
                let breach = s
                    .latest
                    .get(&c.name)
                    .is_some_and(|r| r.standing == Standing::Breach);
                gauge(canary_labels(c), f64::from(u8::from(breach)))
            })
            .collect(),
    ));
    out.push(family(
        "iot_canary_verdict",
        "The canary's latest verdict (one-hot).",
        GAUGE,
        canaries
            .iter()
            .flat_map(|c| {
                let cur = s.latest.get(&c.name).map(|r| r.verdict.label());
                Verdict::LABELS.map(|v| {
                    let mut l = canary_labels(c);
                    l.push(label("verdict", v));
                    gauge(l, f64::from(u8::from(cur == Some(v))))
                })
            })
            .collect(),
    ));
    out.push(family(
        "iot_canary_probes_total",
        "Probes run, by verdict.",
        COUNTER,
        canaries
            .iter()
            .flat_map(|c| {
                Verdict::LABELS.map(|v| {
                    let n = s
                        .probes_total
                        .get(&(c.name.clone(), v))
                        .copied()
                        .unwrap_or(0);
                    let mut l = canary_labels(c);
                    l.push(label("verdict", v));
                    counter(l, n)
                })
            })
            .collect(),
    ));
    out.push(family(
        "iot_canary_inconclusive_total",
        "Inconclusive probes, by reason.",
        COUNTER,
        canaries
            .iter()
            .flat_map(|c| {
                Reason::ALL.map(|r| {
                    let n = s
                        .inconclusive_total
                        .get(&(c.name.clone(), r))
                        .copied()
                        .unwrap_or(0);
                    counter(
                        vec![label("canary", &c.name), label("reason", r.as_str())],
                        n,
                    )
                })
            })
            .collect(),
    ));
    out.push(family(
        "iot_canary_control_ok",
        "1 while every control of the identity succeeds.",
        GAUGE,
        cfg.identities
            .iter()
            .filter(|i| canaries.iter().any(|c| c.identity == i.name))
            .map(|i| {
                gauge(
                    vec![label("identity", &i.name)],
                    f64::from(u8::from(control_ok(s, &i.name))),
                )
            })
            .collect(),
    ));
    out.push(family(
        "iot_canary_probe_duration_seconds",
        "Probe duration.",
        HISTOGRAM,
        ProbeAction::ALL
            .iter()
            .map(|a| {
                let h = s.durations.get(a).cloned().unwrap_or_default();
                histogram(vec![label("action", a.as_str())], &h)
            })
            .collect(),
    ));
    out.push(family(
        "iot_canary_last_verdict_timestamp_seconds",
        "When the canary's latest verdict landed.",
        GAUGE,
        by_canary(&|c| {
            s.latest
                .get(&c.name)
                .map_or(0.0, |r| r.started_at_unix_ms as f64 / 1000.0)
        }),
    ));
    out.push(family(
        "iot_canary_blind_since_timestamp_seconds",
        "When the canary's standing became blind or control-failed (0 while it sees).",
        GAUGE,
        by_canary(&|c| s.blind_since.get(&c.name).map_or(0.0, |t| secs(*t))),
    ));
    out.push(family(
        "iot_canary_schedule_interval_seconds",
        "The configured probe interval.",
        GAUGE,
        vec![gauge(vec![], cfg.schedule.interval.as_secs_f64())],
    ));
    out.push(family(
        "iot_canary_round_last_completed_timestamp_seconds",
        "When the last round completed.",
        GAUGE,
        vec![gauge(vec![], s.round_completed.map_or(0.0, secs))],
    ));
    out.push(family(
        "iot_canary_credentials_expiry_timestamp_seconds",
        "Expiry of the identity's current credentials (0: none yet, or keys that never expire).",
        GAUGE,
        cfg.identities
            .iter()
            .map(|i| {
                // 0: no credentials yet, or long-term keys that never expire.
                let t = s
                    .credentials
                    .get(&i.name)
                    .and_then(|c| c.expiry_timestamp_seconds())
                    .unwrap_or(0.0);
                gauge(vec![label("identity", &i.name)], t)
            })
            .collect(),
    ));
    out.push(family(
        "iot_canary_credential_failures_total",
        "Credential fetch/refresh failures, by reason.",
        COUNTER,
        cfg.identities
            .iter()
            .flat_map(|i| {
                FailureReason::ALL.map(|r| {
                    let n = s
                        .credentials
                        .get(&i.name)
                        .and_then(|c| c.failures.get(&r).copied())
                        .unwrap_or(0);
                    counter(
                        vec![label("identity", &i.name), label("reason", r.as_str())],
                        n,
                    )
                })
            })
            .collect(),
    ));
    out.push(family(
        "iot_canary_config_last_reload_successful",
        "1 if the running config loaded cleanly.",
        GAUGE,
        vec![gauge(vec![], f64::from(u8::from(x.reload_ok)))],
    ));
    out.push(family(
        "iot_canary_alerts_sent_total",
        "Alert notifications by notifier and result (success, failure = failed attempt, dropped = queue full).",
        COUNTER,
        x.alerts
            .sent_total()
            .map(|(notifier, result, n)| {
                counter(
                    vec![label("notifier", notifier), label("result", result)],
                    n,
                )
            })
            .collect(),
    ));
    out.push(family(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        GAUGE,
        vec![gauge(vec![], secs(x.started))],
    ));
    out.push(family(
        "iot_canary_build_info",
        "Build information.",
        GAUGE,
        vec![gauge(
            vec![label("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        )],
    ));
    out
}

/// The families as prometheus-client sees them: a collector that encodes each on scrape.
#[derive(Debug)]
struct OpenMetrics(Vec<Family>);

impl Collector for OpenMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.0 {
            encode_openmetrics(f, &mut encoder)?;
        }
        Ok(())
    }
}

struct Labels<'a>(&'a [LabelPair]);

impl EncodeLabelSet for Labels<'_> {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelSetEncoder,
    ) -> Result<(), std::fmt::Error> {
        for l in self.0 {
            EncodeLabel::encode(&(l.name(), l.value()), encoder.encode_label())?;
        }
        Ok(())
    }
}

/// Whole values as integers (`0`, not `0.0`), as in the text format; others as floats.
fn whole(v: f64) -> Option<i64> {
    const EXACT: f64 = (1u64 << 53) as f64;
    (v.fract() == 0.0 && v.abs() <= EXACT).then_some(v as i64)
}

/// OpenMetrics escapes `"` in HELP too; prometheus-client writes HELP as given.
fn escape_help(help: &str) -> Cow<'_, str> {
    if help.contains(['\\', '\n', '"']) {
        Cow::Owned(
            help.replace('\\', "\\\\")
                .replace('\n', "\\n")
                .replace('"', "\\\""),
        )
    } else {
        Cow::Borrowed(help)
    }
}

fn encode_openmetrics(f: &Family, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let help = escape_help(f.help());
    let metrics = f.get_metric();
    match f.get_field_type() {
        MetricType::COUNTER => {
            // OpenMetrics names a counter family without `_total` and suffixes every sample
            // with it, so the series keep the names they have in the text format.
            let name = f.name().strip_suffix("_total").unwrap_or(f.name());
            let mut family = encoder.encode_descriptor(name, &help, None, OmType::Counter)?;
            for m in metrics {
                let labels = Labels(m.get_label());
                let mut sample = family.encode_family(&labels)?;
                let v = m.get_counter().get_value();
                match whole(v).and_then(|n| u64::try_from(n).ok()) {
                    Some(n) => sample.encode_counter::<NoLabelSet, _, u64>(&n, None)?,
                    None => sample.encode_counter::<NoLabelSet, _, f64>(&v, None)?,
                }
            }
        }
        // A `*_info` gauge that is 1 throughout is what OpenMetrics calls an info metric; its
        // samples keep the `_info` name.
        MetricType::GAUGE
            if f.name().ends_with("_info")
                && metrics.iter().all(|m| m.get_gauge().get_value() == 1.0) =>
        {
            let name = f.name().strip_suffix("_info").unwrap_or(f.name());
            let mut family = encoder.encode_descriptor(name, &help, None, OmType::Info)?;
            for m in metrics {
                family.encode_info(&Labels(m.get_label()))?;
            }
        }
        MetricType::GAUGE => {
            let mut family = encoder.encode_descriptor(f.name(), &help, None, OmType::Gauge)?;
            for m in metrics {
                let labels = Labels(m.get_label());
                let mut sample = family.encode_family(&labels)?;
                let v = m.get_gauge().get_value();
                match whole(v) {
                    Some(n) => sample.encode_gauge(&n)?,
                    None => sample.encode_gauge(&v)?,
                }
            }
        }
        MetricType::HISTOGRAM => {
            let mut family = encoder.encode_descriptor(f.name(), &help, None, OmType::Histogram)?;
            for m in metrics {
                let h = m.get_histogram();
                // The model's buckets are cumulative; prometheus-client sums per-bucket counts
                // and wants the +Inf bucket spelled out.
                let mut buckets = Vec::with_capacity(h.get_bucket().len() + 1);
                let mut below = 0;
                for b in h.get_bucket() {
                    buckets.push((b.upper_bound(), b.cumulative_count().saturating_sub(below)));
                    below = b.cumulative_count();
                }
                if buckets.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
                    buckets.push((f64::INFINITY, h.get_sample_count().saturating_sub(below)));
                }
                let labels = Labels(m.get_label());
                let mut sample = family.encode_family(&labels)?;
                sample.encode_histogram::<NoLabelSet>(
                    h.get_sample_sum(),
                    h.get_sample_count(),
                    &buckets,
                    None,
                )?;
            }
        }
        // `check` turned these away before encoding.
        MetricType::SUMMARY | MetricType::UNTYPED => return Err(std::fmt::Error),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn cfg() -> Config {
        let src =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../canaries.toml"))
                .unwrap();
        crate::config::parse(std::path::Path::new("canaries.toml"), &src).unwrap()
    }

    #[test]
    fn every_label_set_exists_before_any_probe() {
        let c = cfg();
        let m = render(&c, &Store::default().snapshot());
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
        let store = Store::default();
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
        let m = render(&c, &store.snapshot());
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
        let store = Store::default();
        let m = render_with(&c, &store.snapshot(), &x);
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
        let m = render_with(&c, &store.snapshot(), &x);
        assert!(m.contains(&format!("{line} 5\n")), "{m}");
        let mut ok = blind(12_000);
        ok.verdict = Verdict::Denied;
        ok.standing = Standing::Ok;
        store.record(&[ok], SystemTime::now());
        assert!(render_with(&c, &store.snapshot(), &x).contains(&format!("{line} 0\n")));
    }

    #[test]
    fn readiness_needs_a_round_and_fresh_credentials() {
        use crate::report::tests::sample;
        use crate::store::not_ready;
        use crate::verdict::*;
        let c = cfg();
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10_000);
        let store = Store::default();
        assert_eq!(
            not_ready(&c, &store.snapshot(), now).as_deref(),
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
        assert_eq!(not_ready(&c, &store.snapshot(), now), None);

        r.verdict = Verdict::Inconclusive(Reason::Credentials);
        store.record(&[r.clone()], now);
        assert_eq!(
            not_ready(&c, &store.snapshot(), now).as_deref(),
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
            not_ready(&c, &store.snapshot(), now).as_deref(),
            Some("credentials of identity `alice` have expired")
        );
        store.record_credentials(status(now + std::time::Duration::from_secs(900)));
        assert_eq!(not_ready(&c, &store.snapshot(), now), None);

        // A reload that drops the canary and the identity forgets them.
        store.retain(|k| k != name, |i| i != "alice");
        let s = store.snapshot();
        assert!(!s.latest.contains_key(name));
        assert!(!s.probes_total.keys().any(|(k, _)| k == name));
        assert!(!s.credentials.contains_key("alice"));
    }
}
