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
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType as OmType;

use crate::alert::AlertStats;
use crate::config::{Canary, Config};
use crate::credentials::FailureReason;
use crate::store::{BUCKETS, Histogram, Snapshot, control_ok};
use crate::trigger::Trigger;
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
    /// `iot_canary_coverage_ratio` (0..1): the share of the cross-tenant matrix the canaries
    /// exercise, when `[coverage]` names the world (computed by the audit crate's coverage);
    /// absent otherwise.
    pub coverage: Option<f64>,
}

impl Default for Extras {
    fn default() -> Self {
        Extras {
            alerts: AlertStats::default(),
            reload_ok: true,
            started: SystemTime::UNIX_EPOCH,
            coverage: None,
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

/// Encodes `families` in `format`, one family at a time: each is dropped once written, so a
/// scrape holds the largest family and the output rather than every series twice. Families
/// without samples are left out (both formats want at least one sample under a descriptor).
pub fn encode(
    families: impl IntoIterator<Item = Family>,
    format: Format,
) -> Result<String, EncodeError> {
    let mut out = String::with_capacity(64 * 1024);
    let mut seen = HashSet::new();
    for f in families {
        if f.get_metric().is_empty() {
            continue;
        }
        check(&f, &mut seen)?;
        match format {
            Format::Text => {
                prometheus::TextEncoder::new().encode_utf8(std::slice::from_ref(&f), &mut out)?
            }
            Format::OpenMetrics => {
                // A registry per family (a few allocations) lets the family go right after.
                let mut registry = prometheus_client::registry::Registry::default();
                registry.register_collector(Box::new(OpenMetrics(f)));
                prometheus_client::encoding::text::encode_registry(&mut out, &registry)?;
            }
        }
    }
    if format == Format::OpenMetrics {
        prometheus_client::encoding::text::encode_eof(&mut out)?;
    }
    Ok(out)
}

fn check(f: &Family, seen: &mut HashSet<String>) -> Result<(), EncodeError> {
    if !seen.insert(f.name().to_string()) {
        return Err(EncodeError::Duplicate(f.name().into()));
    }
    match f.get_field_type() {
        MetricType::COUNTER if !f.name().ends_with("_total") => {
            Err(EncodeError::CounterName(f.name().into()))
        }
        // The text encoder panics on untyped; prometheus-client has no summary.
        MetricType::SUMMARY | MetricType::UNTYPED => Err(EncodeError::Unsupported(f.name().into())),
        _ => Ok(()),
    }
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
/// snapshot (their values), family by family as the iterator is consumed.
pub fn families<'a>(
    cfg: &'a Config,
    s: &'a Snapshot,
    x: &'a Extras,
) -> impl Iterator<Item = Family> + 'a {
    type Build = fn(&Config, &Snapshot, &Extras) -> Family;
    const FAMILIES: [Build; 18] = [
        breach,
        verdict,
        probes_total,
        inconclusive_total,
        control_ok_family,
        probe_duration,
        last_verdict,
        blind_since,
        schedule_interval,
        round_completed,
        rounds_total,
        credentials_expiry,
        credential_failures,
        reload_successful,
        coverage_ratio,
        alerts_sent,
        process_start_time,
        build_info,
    ];
    FAMILIES.into_iter().map(move |build| build(cfg, s, x))
}

fn breach(cfg: &Config, s: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_breach",
        "1 while the canary's forbidden attempt succeeds.",
        MetricType::GAUGE,
        cfg.canaries
            .iter()
            .map(|c| {
                let breach = s
                    .latest
                    .get(&c.name)
                    .is_some_and(|r| r.standing == Standing::Breach);
                gauge(canary_labels(c), f64::from(u8::from(breach)))
            })
            .collect(),
    )
}

fn verdict(cfg: &Config, s: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_verdict",
        "The canary's latest verdict (one-hot).",
        MetricType::GAUGE,
        cfg.canaries
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
    )
}

fn probes_total(cfg: &Config, s: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_probes_total",
        "Probes run, by verdict.",
        MetricType::COUNTER,
        cfg.canaries
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
    )
}

fn inconclusive_total(cfg: &Config, s: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_inconclusive_total",
        "Inconclusive probes, by reason.",
        MetricType::COUNTER,
        cfg.canaries
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
    )
}

fn control_ok_family(cfg: &Config, s: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_control_ok",
        "1 while every control of the identity succeeds.",
        MetricType::GAUGE,
        cfg.identities
            .iter()
            .filter(|i| cfg.canaries.iter().any(|c| c.identity == i.name))
            .map(|i| {
                gauge(
                    vec![label("identity", &i.name)],
                    f64::from(u8::from(control_ok(s, &i.name))),
                )
            })
            .collect(),
    )
}

fn probe_duration(_: &Config, s: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_probe_duration_seconds",
        "Probe duration.",
        MetricType::HISTOGRAM,
        ProbeAction::ALL
            .iter()
            .map(|a| {
                let h = s.durations.get(a).cloned().unwrap_or_default();
                histogram(vec![label("action", a.as_str())], &h)
            })
            .collect(),
    )
}

fn per_canary(cfg: &Config, value: impl Fn(&Canary) -> f64) -> Vec<Metric> {
    cfg.canaries
        .iter()
        .map(|c| gauge(vec![label("canary", &c.name)], value(c)))
        .collect()
}

fn last_verdict(cfg: &Config, s: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_last_verdict_timestamp_seconds",
        "When the canary's latest verdict landed.",
        MetricType::GAUGE,
        per_canary(cfg, |c| {
            s.latest
                .get(&c.name)
                .map_or(0.0, |r| r.started_at_unix_ms as f64 / 1000.0)
        }),
    )
}

fn blind_since(cfg: &Config, s: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_blind_since_timestamp_seconds",
        "When the canary's standing became blind or control-failed (0 while it sees).",
        MetricType::GAUGE,
        per_canary(cfg, |c| {
            s.blind_since.get(&c.name).map_or(0.0, |t| secs(*t))
        }),
    )
}

fn schedule_interval(cfg: &Config, _: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_schedule_interval_seconds",
        "The configured probe interval.",
        MetricType::GAUGE,
        vec![gauge(vec![], cfg.schedule.interval.as_secs_f64())],
    )
}

fn round_completed(_: &Config, s: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_round_last_completed_timestamp_seconds",
        "When the last round completed.",
        MetricType::GAUGE,
        vec![gauge(vec![], s.round_completed.map_or(0.0, secs))],
    )
}

fn rounds_total(_: &Config, s: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_rounds_total",
        "Rounds started, by what started them (the schedule, POST /-/probe, SIGUSR1).",
        MetricType::COUNTER,
        Trigger::ALL
            .iter()
            .map(|t| {
                counter(
                    vec![label("trigger", t.label())],
                    s.rounds_by_trigger[t.index()],
                )
            })
            .collect(),
    )
}

fn credentials_expiry(cfg: &Config, s: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_credentials_expiry_timestamp_seconds",
        "Expiry of the identity's current credentials (0: none yet, or keys that never expire).",
        MetricType::GAUGE,
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
    )
}

fn credential_failures(cfg: &Config, s: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_credential_failures_total",
        "Credential fetch/refresh failures, by reason.",
        MetricType::COUNTER,
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
    )
}

fn reload_successful(_: &Config, _: &Snapshot, x: &Extras) -> Family {
    family(
        "iot_canary_config_last_reload_successful",
        "1 if the running config loaded cleanly.",
        MetricType::GAUGE,
        vec![gauge(vec![], f64::from(u8::from(x.reload_ok)))],
    )
}

fn coverage_ratio(_: &Config, _: &Snapshot, x: &Extras) -> Family {
    family(
        "iot_canary_coverage_ratio",
        "Share of the cross-tenant access matrix some canary exercises (0..1; docs/generate.md).",
        MetricType::GAUGE,
        x.coverage.map(|r| gauge(vec![], r)).into_iter().collect(),
    )
}

fn alerts_sent(_: &Config, _: &Snapshot, x: &Extras) -> Family {
    family(
        "iot_canary_alerts_sent_total",
        "Alert notifications by notifier and result (success, failure = failed attempt, dropped = queue full).",
        MetricType::COUNTER,
        x.alerts
            .sent_total()
            .map(|(notifier, result, n)| {
                counter(
                    vec![label("notifier", notifier), label("result", result)],
                    n,
                )
            })
            .collect(),
    )
}

fn process_start_time(_: &Config, _: &Snapshot, x: &Extras) -> Family {
    family(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        MetricType::GAUGE,
        vec![gauge(vec![], secs(x.started))],
    )
}

fn build_info(_: &Config, _: &Snapshot, _: &Extras) -> Family {
    family(
        "iot_canary_build_info",
        "Build information.",
        MetricType::GAUGE,
        vec![gauge(
            vec![label("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        )],
    )
}

/// A family as prometheus-client sees it: a collector that writes it when encoded.
#[derive(Debug)]
struct OpenMetrics(Family);

impl Collector for OpenMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode_openmetrics(&self.0, &mut encoder)
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

/// Writes one sample of `family` under the metric's labels; an unlabelled one straight under
/// the family, where prometheus-client would otherwise write empty braces.
fn sample(
    family: &mut MetricEncoder,
    m: &Metric,
    write: impl FnOnce(&mut MetricEncoder) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    if m.get_label().is_empty() {
        write(family)
    } else {
        let labels = Labels(m.get_label());
        write(&mut family.encode_family(&labels)?)
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
                let v = m.get_counter().get_value();
                sample(&mut family, m, |e| {
                    match whole(v).and_then(|n| u64::try_from(n).ok()) {
                        Some(n) => e.encode_counter::<NoLabelSet, _, u64>(&n, None),
                        None => e.encode_counter::<NoLabelSet, _, f64>(&v, None),
                    }
                })?;
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
                let v = m.get_gauge().get_value();
                sample(&mut family, m, |e| match whole(v) {
                    Some(n) => e.encode_gauge(&n),
                    None => e.encode_gauge(&v),
                })?;
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
                sample(&mut family, m, |e| {
                    e.encode_histogram::<NoLabelSet>(
                        h.get_sample_sum(),
                        h.get_sample_count(),
                        &buckets,
                        None,
                    )
                })?;
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

    /// The new doors (issue 15) get the same series with bounded labels: one histogram per
    /// known action (25, whatever the config), the canaries' own names, the fixed reasons.
    #[test]
    fn the_doors_have_bounded_labels() {
        use crate::report::tests::sample;
        use crate::verdict::*;
        let c = cfg();
        let m = render(&c, &Snapshot::default());
        let actions: std::collections::BTreeSet<&str> = m
            .lines()
            .filter_map(|l| l.strip_prefix("iot_canary_probe_duration_seconds_count{action=\""))
            .filter_map(|l| l.split('"').next())
            .collect();
        assert_eq!(actions.len(), ProbeAction::ALL.len(), "{actions:?}");
        for a in ProbeAction::ALL {
            assert!(actions.contains(a.as_str()), "{a}");
        }
        for r in [
            Reason::NoShadow,
            Reason::InvalidRequest,
            Reason::ServerError,
        ] {
            assert!(m.contains(&format!(
                "iot_canary_inconclusive_total{{canary=\"bob-cannot-list-things\",reason=\"{r}\"}} 0"
            )));
        }
        let mut store = Snapshot::default();
        let mut r = sample(
            "bob-cannot-attach-policies-to-himself",
            Expect::Deny,
            Verdict::Allowed,
            Observation::ApiAnswer(ApiAnswer::new(
                404,
                Some("ResourceNotFoundException"),
                Some("Policy not found"),
                "us-east-1:0a1b2c3d-0000-4000-8000-000000000001",
            )),
        );
        r.identity = "bob".into();
        r.action = ProbeAction::AttachPolicy;
        store.record(
            &[r],
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(100),
        );
        let m = render(&c, &store);
        assert!(m.contains("iot_canary_breach{canary=\"bob-cannot-attach-policies-to-himself\",identity=\"bob\",action=\"attach-policy\"} 1"), "{m}");
        assert!(m.contains("iot_canary_probe_duration_seconds_count{action=\"attach-policy\"} 1"));
        // Evidence (the ARN, the message) never becomes a label.
        assert!(!m.contains("Policy not found"));
        assert!(!m.contains("0a1b2c3d-0000-4000-8000-000000000001"));
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
            coverage: Some(0.25),
        };
        let mut store = Snapshot::default();
        let m = render_with(&c, &store, &x);
        for want in [
            "iot_canary_alerts_sent_total{notifier=\"oncall\",result=\"success\"} 2",
            "iot_canary_alerts_sent_total{notifier=\"oncall\",result=\"failure\"} 0",
            "iot_canary_alerts_sent_total{notifier=\"oncall\",result=\"dropped\"} 0",
            "iot_canary_config_last_reload_successful 0",
            "iot_canary_coverage_ratio 0.25",
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

    type Sample = (String, Vec<(String, String)>, f64);

    /// Sample lines as (series, labels sorted, value), with `le` bounds compared as numbers
    /// (`1` in text, `1.0` in OpenMetrics).
    fn samples(exposition: &str) -> Vec<Sample> {
        let mut out: Vec<_> = exposition
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').unwrap();
                let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
                let mut labels: Vec<(String, String)> = labels
                    .trim_end_matches('}')
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap();
                        let v = v.trim_matches('"');
                        let v = match (k, v.parse::<f64>()) {
                            ("le", Ok(b)) => b.to_string(),
                            _ => v.to_string(),
                        };
                        (k.to_string(), v)
                    })
                    .collect();
                labels.sort();
                (name.to_string(), labels, value.parse().unwrap())
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    #[test]
    fn openmetrics_carries_the_same_series_and_values() {
        use crate::report::tests::sample;
        use crate::verdict::*;
        let c = cfg();
        let mut store = Snapshot::default();
        let mut r = sample(
            "alice-cannot-subscribe-bob-plug",
            Expect::Deny,
            Verdict::Inconclusive(Reason::Timeout),
            Observation::Delivered,
        );
        r.action = ProbeAction::Subscribe;
        r.duration_ms = 1_234;
        store.record(
            &[r],
            SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(100_250),
        );
        let x = Extras {
            started: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000),
            ..Extras::default()
        };
        let text = render_with(&c, &store, &x);
        let om = render_as(&c, &store, &x, Format::OpenMetrics);
        assert_eq!(samples(&text), samples(&om));
        assert!(om.ends_with("\n# EOF\n") && om.matches("# EOF").count() == 1);
        for line in [
            "# TYPE iot_canary_probes counter",
            "# TYPE iot_canary_build info",
            "iot_canary_round_last_completed_timestamp_seconds 100.25",
            "iot_canary_probe_duration_seconds_bucket{le=\"2.5\",action=\"subscribe\"} 1",
            "iot_canary_probe_duration_seconds_bucket{le=\"+Inf\",action=\"subscribe\"} 1",
            "iot_canary_probe_duration_seconds_sum{action=\"subscribe\"} 1.234",
        ] {
            assert!(om.lines().any(|l| l == line), "missing {line}\n{om}");
        }
        assert!(!om.contains("_created"));
        // No `[coverage]`, no coverage series (an unknown ratio is not 0).
        assert!(!text.contains("iot_canary_coverage_ratio"), "{text}");
    }

    #[test]
    fn encode_refuses_what_a_format_could_not_carry() {
        use MetricType::{COUNTER, GAUGE, UNTYPED};
        let one = |name: &str, kind| family(name, "h", kind, vec![counter(vec![], 1)]);
        for format in [Format::Text, Format::OpenMetrics] {
            assert!(matches!(
                encode([one("a_total", COUNTER), one("a_total", COUNTER)], format),
                Err(EncodeError::Duplicate(n)) if n == "a_total"
            ));
            assert!(matches!(
                encode([one("a", COUNTER)], format),
                Err(EncodeError::CounterName(n)) if n == "a"
            ));
            assert!(matches!(
                encode([one("a", UNTYPED)], format),
                Err(EncodeError::Unsupported(_))
            ));
        }
        // No samples, no descriptor.
        let empty = || family("a", "h", GAUGE, vec![]);
        assert_eq!(encode([empty()], Format::Text).unwrap(), "");
        assert_eq!(encode([empty()], Format::OpenMetrics).unwrap(), "# EOF\n");
        // OpenMetrics escapes quotes in HELP, which the text format leaves as they are.
        let quoted = || family("a", "say \"hi\"\\", GAUGE, vec![gauge(vec![], 0.5)]);
        assert_eq!(
            encode([quoted()], Format::OpenMetrics).unwrap(),
            "# HELP a say \\\"hi\\\"\\\\\n# TYPE a gauge\na 0.5\n# EOF\n"
        );
        assert!(
            encode([quoted()], Format::Text)
                .unwrap()
                .starts_with("# HELP a say \"hi\"\\\\\n")
        );
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
