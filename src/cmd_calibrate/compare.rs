//! What calibrate saw beside what the lab's `aws` profile does, and the `[realism]` table the
//! observations measure. Pure: observations in, rows and TOML out.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use iot_canary_core::verdict::MqttVersion;
use iot_canary_lab::realism::{Realism, Spread};

/// How the endpoint answered one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// CONNACK with this code (0: accepted).
    ConnAck(u8),
    /// SUBACK with these codes.
    SubAck(Vec<u8>),
    /// PUBACK with this code (3.1.1: always 0).
    PubAck(u8),
    /// MQTT 5 DISCONNECT with this reason code.
    Disconnect(u8),
    /// The connection closed without an MQTT answer.
    Closed,
    /// Nothing within the timeout, the connection still open.
    Silence,
    /// The experiment could not run (why; never the endpoint's answer).
    NotRun(String),
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::ConnAck(0) => f.write_str("CONNACK 0x00 (accepted)"),
            Answer::ConnAck(c) => write!(f, "CONNACK 0x{c:02X}"),
            Answer::SubAck(codes) => {
                f.write_str("SUBACK")?;
                for c in codes {
                    write!(f, " 0x{c:02X}")?;
                }
                Ok(())
            }
            Answer::PubAck(c) => write!(f, "PUBACK 0x{c:02X}"),
            Answer::Disconnect(c) => write!(f, "DISCONNECT 0x{c:02X}"),
            Answer::Closed => f.write_str("connection closed"),
            Answer::Silence => f.write_str("no answer"),
            Answer::NotRun(why) => write!(f, "not run: {why}"),
        }
    }
}

/// Subscribing one new filter at a time until the endpoint refuses one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRun {
    /// Filters granted before the first refusal.
    pub granted: usize,
    /// The first refusal (`Silence` if none within the attempts).
    pub refusal: Answer,
}

/// One SUBSCRIBE → first delivery trial on a fresh connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trial {
    /// From SUBACK to the sending of the first marker that was delivered (markers sent
    /// earlier were not delivered). `None`: nothing arrived within the timeout.
    pub activation: Option<Duration>,
    /// Sending → delivery of each delivered marker.
    pub latencies: Vec<Duration>,
    /// Markers sent from the first delivered one on (each should arrive once).
    pub sent_after_activation: u32,
    /// Markers delivered more than once.
    pub duplicates: u32,
}

/// Everything seen on one MQTT version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRun {
    pub version: MqttVersion,
    pub denied_connect: Answer,
    pub denied_subscribe: Answer,
    pub denied_publish: Answer,
    pub takeover: Answer,
    pub quota: Result<QuotaRun, String>,
    /// [`BURST`] QoS 1 publishes at once on one connection.
    pub burst: Result<QuotaRun, String>,
    /// `rejected` codes of the shadow gets (`200` for an `accepted` answer, `0` for none), or
    /// why they could not be made.
    pub shadow: Result<Vec<u16>, String>,
    pub trials: Vec<Trial>,
    /// Every MQTT 5 DISCONNECT reason code the endpoint sent on this version.
    pub disconnects: BTreeSet<u8>,
}

/// Publishes in the burst experiment: more than AWS's 100 per second per connection.
pub const BURST: usize = 250;

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub experiment: String,
    pub mqtt: String,
    pub endpoint: String,
    pub lab: String,
    /// Whether the endpoint did what the lab's profile does (`None`: nothing to compare).
    pub same: Option<bool>,
}

/// What the lab's realism does for each experiment.
pub struct LabModel<'a> {
    pub realism: &'a Realism,
}

impl LabModel<'_> {
    /// Authorization refusals: MQTT 5 answers with 0x87, MQTT 3.1.1 closes (always, not a knob).
    fn denied(&self, v: MqttVersion, v5: Answer) -> Answer {
        match v {
            MqttVersion::V5 => v5,
            MqttVersion::V311 => Answer::Closed,
        }
    }

    pub fn denied_connect(&self, v: MqttVersion) -> Answer {
        self.denied(v, Answer::ConnAck(0x87))
    }

    pub fn denied_subscribe(&self, v: MqttVersion) -> Answer {
        self.denied(v, Answer::SubAck(vec![0x87]))
    }

    pub fn denied_publish(&self, v: MqttVersion) -> Answer {
        self.denied(v, Answer::PubAck(0x87))
    }

    pub fn takeover(&self, v: MqttVersion) -> Answer {
        self.denied(v, Answer::Disconnect(0x8E))
    }

    /// Over the lab's 100 publishes per second per connection (`Limits`, not a realism knob):
    /// MQTT 5 PUBACK 0x97, 3.1.1 a close.
    pub fn burst(&self, v: MqttVersion) -> QuotaRun {
        QuotaRun {
            granted: 100,
            refusal: self.denied(v, Answer::PubAck(0x97)),
        }
    }

    /// Over the subscriptions-per-connection quota: 3.1.1 SUBACK 0x80, 5 SUBACK 0x97.
    pub fn quota(&self, v: MqttVersion) -> Option<QuotaRun> {
        let n = self.realism.subscriptions_per_connection;
        (n > 0).then(|| QuotaRun {
            granted: n,
            refusal: Answer::SubAck(vec![match v {
                MqttVersion::V5 => 0x97,
                MqttVersion::V311 => 0x80,
            }]),
        })
    }
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn spread_text(s: &Spread) -> String {
    let base = format!("{}–{}", ms(s.min), ms(s.max));
    if s.tail > 0.0 {
        format!("{base}, {}% to {}", s.tail * 100.0, ms(s.tail_max))
    } else {
        base
    }
}

/// A measured random duration: the samples' range, widened by the expected gap between
/// uniform samples ((max − min) / (n − 1)) at both ends so a few samples do not understate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    pub min: Duration,
    pub max: Duration,
    pub n: usize,
}

pub fn measure(samples: &[Duration]) -> Option<Measured> {
    let lo = *samples.iter().min()?;
    let hi = *samples.iter().max()?;
    let n = samples.len();
    let gap = if n > 1 {
        (hi - lo) / u32::try_from(n - 1).unwrap_or(u32::MAX)
    } else {
        Duration::ZERO
    };
    Some(Measured {
        min: lo.saturating_sub(gap),
        max: hi + gap,
        n,
    })
}

/// Whether a measured range agrees with the profile's: both ends within `tolerance` (the
/// profile's rare tail may stretch the measured maximum up to `tail_max`).
pub fn agrees(m: &Measured, s: &Spread, tolerance: Duration) -> bool {
    let near = |a: Duration, b: Duration| a.abs_diff(b) <= tolerance;
    near(m.min, s.min) && (near(m.max, s.max) || (s.tail > 0.0 && m.max <= s.tail_max + tolerance))
}

/// Per-connection delivery latency: each connection's fastest delivery (its base latency),
/// and the jitter on top of it: the median over connections of the range of their
/// deliveries, scaled by (k + 1) / (k − 1) (the expected range of k uniform samples is
/// (k − 1) / (k + 1) of the interval). The median keeps the rare reordered (held) delivery
/// from counting as jitter.
fn latency_parts(trials: &[&Trial]) -> (Vec<Duration>, Option<Duration>) {
    let mut bases = Vec::new();
    let mut ranges = Vec::new();
    for t in trials {
        if let (Some(lo), Some(hi)) = (t.latencies.iter().min(), t.latencies.iter().max()) {
            bases.push(*lo);
            let k = u32::try_from(t.latencies.len()).unwrap_or(u32::MAX);
            if k > 1 {
                ranges.push((*hi - *lo) * (k + 1) / (k - 1));
            }
        }
    }
    ranges.sort();
    (bases, ranges.get(ranges.len() / 2).copied())
}

/// The full comparison and the measured `[realism]` table.
pub struct Comparison {
    pub rows: Vec<Row>,
    pub realism_toml: String,
    /// Experiments that could not run.
    pub not_run: usize,
}

pub fn compare(runs: &[VersionRun], profile: &Realism, tolerance: Duration) -> Comparison {
    let lab = LabModel { realism: profile };
    let mut rows = Vec::new();
    let mut not_run = 0;
    let mut answer_row =
        |rows: &mut Vec<Row>, what: &str, v: MqttVersion, seen: &Answer, want: Answer| {
            if matches!(seen, Answer::NotRun(_)) {
                not_run += 1;
            }
            rows.push(Row {
                experiment: what.to_string(),
                mqtt: v.as_str().to_string(),
                endpoint: seen.to_string(),
                same: (!matches!(seen, Answer::NotRun(_))).then(|| *seen == want),
                lab: want.to_string(),
            });
        };
    for r in runs {
        let v = r.version;
        answer_row(
            &mut rows,
            "denied connect",
            v,
            &r.denied_connect,
            lab.denied_connect(v),
        );
        answer_row(
            &mut rows,
            "denied subscribe",
            v,
            &r.denied_subscribe,
            lab.denied_subscribe(v),
        );
        answer_row(
            &mut rows,
            "denied publish (QoS 1)",
            v,
            &r.denied_publish,
            lab.denied_publish(v),
        );
        answer_row(
            &mut rows,
            "client-id takeover",
            v,
            &r.takeover,
            lab.takeover(v),
        );
    }
    for r in runs {
        let want = lab.quota(r.version);
        let want_text = want.as_ref().map_or("no limit".to_string(), |q| {
            format!("{} granted, then {}", q.granted, q.refusal)
        });
        let (seen, same) = match &r.quota {
            Ok(q) => (
                format!("{} granted, then {}", q.granted, q.refusal),
                Some(want.as_ref() == Some(q)),
            ),
            Err(why) => {
                not_run += 1;
                (format!("not run: {why}"), None)
            }
        };
        rows.push(Row {
            experiment: "subscriptions per connection".into(),
            mqtt: r.version.as_str().into(),
            endpoint: seen,
            lab: want_text,
            same,
        });
    }
    for r in runs {
        let want = lab.burst(r.version);
        let (seen, same) = match &r.burst {
            Ok(q) => (
                format!("{} acknowledged, then {}", q.granted, q.refusal),
                // The count moves with how fast the client sends; the answer is the point.
                Some(q.refusal == want.refusal),
            ),
            Err(why) => {
                not_run += 1;
                (format!("not run: {why}"), None)
            }
        };
        rows.push(Row {
            experiment: format!("{BURST} publishes at once"),
            mqtt: r.version.as_str().into(),
            endpoint: seen,
            lab: format!("{} acknowledged, then {}", want.granted, want.refusal),
            same,
        });
    }
    // Shadow: a get of a named shadow that does not exist.
    let shadow: Vec<u16> = runs
        .iter()
        .filter_map(|r| r.shadow.as_ref().ok())
        .flatten()
        .copied()
        .collect();
    let shadow_failed: Vec<String> = runs
        .iter()
        .filter_map(|r| r.shadow.as_ref().err())
        .map(|e| format!("not run: {e}"))
        .collect();
    let not_found = shadow.iter().filter(|c| **c == 404).count();
    let mut other: Vec<String> = shadow
        .iter()
        .filter(|c| **c != 404)
        .map(|c| match c {
            0 => "no answer".to_string(),
            200 => "accepted".to_string(),
            c => format!("rejected {c}"),
        })
        .collect();
    other.sort();
    other.dedup();
    let rate = profile.shadow_rejection * 100.0;
    rows.push(Row {
        experiment: "shadow get, no such shadow".into(),
        mqtt: "both".into(),
        endpoint: if !shadow_failed.is_empty() {
            not_run += 1;
            shadow_failed.join("; ")
        } else if shadow.is_empty() {
            not_run += 1;
            "not run: no gets answered".into()
        } else if other.is_empty() {
            format!("rejected 404 ×{not_found}")
        } else {
            format!(
                "rejected 404 ×{not_found}; {} ×{}",
                other.join(", "),
                shadow.len() - not_found
            )
        },
        lab: format!(
            "rejected 404; {:?} at {rate}%",
            profile.shadow_rejection_codes
        ),
        same: (shadow_failed.is_empty() && !shadow.is_empty()).then(|| {
            shadow
                .iter()
                .all(|c| *c == 404 || profile.shadow_rejection_codes.contains(c))
        }),
    });
    // Timing.
    let trials: Vec<&Trial> = runs.iter().flat_map(|r| r.trials.iter()).collect();
    let activations: Vec<Duration> = trials.iter().filter_map(|t| t.activation).collect();
    let timed_out = trials.iter().filter(|t| t.activation.is_none()).count();
    let activation = measure(&activations);
    if activation.is_none() {
        // No trial delivered anything: the timing rows measured nothing.
        not_run += 1;
    }
    let (bases, jitter) = latency_parts(&trials);
    let latency = measure(&bases);
    let mut timing_row = |what: &str, m: Option<Measured>, s: &Spread, extra: String| {
        rows.push(Row {
            experiment: what.into(),
            mqtt: "both".into(),
            endpoint: m.map_or("not measured".into(), |m| {
                format!("{}–{} (n={}){extra}", ms(m.min), ms(m.max), m.n)
            }),
            lab: spread_text(s),
            same: m.map(|m| agrees(&m, s, tolerance)),
        });
    };
    let timeouts = if timed_out > 0 {
        format!(", {timed_out} never delivered")
    } else {
        String::new()
    };
    timing_row(
        "SUBACK → first delivery",
        activation,
        &profile.activation_delay,
        timeouts,
    );
    timing_row(
        "delivery latency (per connection)",
        latency,
        &profile.delivery_latency,
        String::new(),
    );
    rows.push(Row {
        experiment: "delivery jitter".into(),
        mqtt: "both".into(),
        endpoint: jitter.map_or("not measured".into(), ms),
        lab: ms(profile.delivery_jitter),
        same: jitter.map(|j| j <= profile.delivery_jitter + tolerance),
    });
    let sent: u32 = trials.iter().map(|t| t.sent_after_activation).sum();
    let dups: u32 = trials.iter().map(|t| t.duplicates).sum();
    rows.push(Row {
        experiment: "QoS 1 redelivered".into(),
        mqtt: "both".into(),
        endpoint: format!("{dups} of {sent}"),
        lab: format!("{}%", profile.qos1_redelivery * 100.0),
        same: None,
    });
    let codes: BTreeSet<u8> = runs
        .iter()
        .flat_map(|r| r.disconnects.iter().copied())
        .collect();
    rows.push(Row {
        experiment: "DISCONNECT codes seen".into(),
        mqtt: "5".into(),
        endpoint: if codes.is_empty() {
            "none".into()
        } else {
            codes
                .iter()
                .map(|c| format!("0x{c:02X}"))
                .collect::<Vec<_>>()
                .join(" ")
        },
        lab: "0x8E (takeover)".into(),
        same: None,
    });
    let realism_toml = realism_table(runs, activation, latency, jitter, (dups, sent));
    Comparison {
        rows,
        realism_toml,
        not_run,
    }
}

fn realism_table(
    runs: &[VersionRun],
    activation: Option<Measured>,
    latency: Option<Measured>,
    jitter: Option<Duration>,
    (dups, sent): (u32, u32),
) -> String {
    let mut t = String::from(
        "# Measured by `iot-canary calibrate`; keys not measured keep the aws profile's values.\n\
         [realism]\nprofile = \"aws\"\n",
    );
    let spread = |m: Measured| format!("{{ min = \"{}\", max = \"{}\" }}", ms(m.min), ms(m.max));
    if let Some(m) = activation {
        t.push_str(&format!("activation_delay = {}\n", spread(m)));
    }
    if let Some(m) = latency {
        t.push_str(&format!("delivery_latency = {}\n", spread(m)));
    }
    if let Some(j) = jitter {
        t.push_str(&format!("delivery_jitter = \"{}\"\n", ms(j)));
    }
    // The quota only when both versions agree on where it is.
    let quotas: BTreeSet<usize> = runs
        .iter()
        .filter_map(|r| r.quota.as_ref().ok())
        .filter(|q| matches!(q.refusal, Answer::SubAck(_)))
        .map(|q| q.granted)
        .collect();
    if let [n] = quotas.iter().copied().collect::<Vec<_>>()[..] {
        t.push_str(&format!("subscriptions_per_connection = {n}\n"));
    }
    if dups > 0 && sent > 0 {
        t.push_str(&format!(
            "qos1_redelivery = {}\n",
            f64::from(dups) / f64::from(sent)
        ));
    } else {
        t.push_str(&format!(
            "# qos1_redelivery: no redelivery in {sent} QoS 1 deliveries (too few to measure a rare one)\n"
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn aws_like(v: MqttVersion) -> VersionRun {
        let lab = LabModel {
            realism: &Realism::aws(),
        };
        VersionRun {
            version: v,
            denied_connect: lab.denied_connect(v),
            denied_subscribe: lab.denied_subscribe(v),
            denied_publish: lab.denied_publish(v),
            takeover: lab.takeover(v),
            quota: Ok(lab.quota(v).unwrap()),
            burst: Ok(lab.burst(v)),
            shadow: Ok(vec![404; 5]),
            trials: (0..10)
                .map(|i| Trial {
                    activation: Some(d(i * 50)),
                    latencies: vec![d(20 + i * 13), d(30 + i * 13)],
                    sent_after_activation: 2,
                    duplicates: 0,
                })
                .collect(),
            disconnects: if v == MqttVersion::V5 {
                [0x8E].into()
            } else {
                BTreeSet::new()
            },
        }
    }

    #[test]
    fn the_profile_itself_is_reported_as_the_same() {
        let runs = [aws_like(MqttVersion::V311), aws_like(MqttVersion::V5)];
        let c = compare(&runs, &Realism::aws(), d(100));
        for r in &c.rows {
            assert_ne!(r.same, Some(false), "{r:?}");
        }
        assert_eq!(c.not_run, 0);
        // The table is valid `[realism]` TOML and measures what was seen.
        let scenario: toml::Value = toml::from_str(&c.realism_toml).unwrap();
        let spec: iot_canary_lab::realism::RealismSpec =
            scenario["realism"].clone().try_into().unwrap();
        let r = spec.resolve(&Realism::off()).unwrap();
        assert_eq!(r.subscriptions_per_connection, 50);
        assert_eq!(r.activation_delay.min, Duration::ZERO);
        // 20 samples 0–450 ms: 450 + the expected gap between samples, 450/19 ms.
        assert_eq!(r.activation_delay.max, d(473));
        // Ranges of 10 ms over 2 deliveries each: 10 × 3 / 1.
        assert_eq!(r.delivery_jitter, d(30));
    }

    #[test]
    fn differences_are_flagged() {
        let mut v311 = aws_like(MqttVersion::V311);
        // An endpoint that keeps 3.1.1 connections open on a denied subscribe.
        v311.denied_subscribe = Answer::SubAck(vec![0x80]);
        v311.trials
            .iter_mut()
            .for_each(|t| t.activation = Some(d(3000)));
        v311.shadow = Ok(vec![404, 403]);
        let c = compare(&[v311], &Realism::aws(), d(100));
        let same = |what: &str| c.rows.iter().find(|r| r.experiment == what).unwrap().same;
        assert_eq!(same("denied subscribe"), Some(false));
        assert_eq!(same("denied publish (QoS 1)"), Some(true));
        assert_eq!(same("SUBACK → first delivery"), Some(false));
        assert_eq!(same("shadow get, no such shadow"), Some(false));
    }

    #[test]
    fn experiments_that_could_not_run_are_counted_not_compared() {
        let mut v5 = aws_like(MqttVersion::V5);
        v5.denied_publish = Answer::NotRun("no deny publish canary".into());
        v5.quota = Err("the witness could not connect".into());
        let c = compare(&[v5], &Realism::aws(), d(100));
        assert_eq!(c.not_run, 2);
        assert!(
            c.rows
                .iter()
                .any(|r| r.same.is_none() && r.endpoint.starts_with("not run"))
        );
    }

    #[test]
    fn measured_ranges_widen_by_the_sample_gap() {
        let m = measure(&[d(100), d(200), d(300)]).unwrap();
        assert_eq!((m.min, m.max, m.n), (d(0), d(400), 3));
        assert_eq!(measure(&[]), None);
        let s = Spread::range(d(0), d(500)).with_tail(0.01, d(2000));
        assert!(agrees(
            &Measured {
                min: d(40),
                max: d(1800),
                n: 9
            },
            &s,
            d(100)
        ));
        assert!(!agrees(
            &Measured {
                min: d(400),
                max: d(500),
                n: 9
            },
            &s,
            d(100)
        ));
    }
}
