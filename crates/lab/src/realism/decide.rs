//! What each knob does to one event, as plain functions: the settings, the time and the
//! connection's random stream come in, a plan comes out (packets with send times, a refusal,
//! a delay). The session executes plans; nothing here sleeps, reads a clock or does IO.

use std::time::{Duration, Instant};

use super::outbox::Planned;
use super::rng::ConnRng;
use super::{Applied, Realism, Spread};
use crate::broker::codec::Outbound;

/// A draw from `s`.
pub fn draw(s: &Spread, rng: &mut ConnRng) -> Duration {
    if s.is_zero() {
        return Duration::ZERO;
    }
    let (lo, hi) = if s.tail > 0.0 && rng.chance(s.tail) {
        (s.max, s.tail_max)
    } else {
        (s.min, s.max)
    };
    let nanos = rng.nanos(lo.as_nanos(), hi.as_nanos());
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// What a connection draws once, when it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionPlan {
    /// Added to every delivery on this connection.
    pub base_latency: Duration,
    /// After this long the connection closes at its next send (either direction).
    pub lifetime: Option<Duration>,
    /// The server ends the connection this long after CONNACK with this DISCONNECT code.
    pub disconnect: Option<(Duration, u8)>,
    /// Another process takes the client id over this long after CONNACK.
    pub takeover: Option<Duration>,
}

pub fn plan_connection(r: &Realism, rng: &mut ConnRng) -> ConnectionPlan {
    let base_latency = draw(&r.delivery_latency, rng);
    let lifetime = (!r.connection_lifetime.is_zero()).then(|| draw(&r.connection_lifetime, rng));
    let disconnect = (rng.chance(r.server_disconnect) && !r.server_disconnect_codes.is_empty())
        .then(|| {
            let after = draw(&r.server_disconnect_after, rng);
            let code = r.server_disconnect_codes[rng.below(r.server_disconnect_codes.len())];
            (after, code)
        });
    // Drawn last so the draws above stay what they were before this knob existed.
    let takeover = rng.chance(r.takeover).then(|| draw(&r.takeover_after, rng));
    ConnectionPlan {
        base_latency,
        lifetime,
        disconnect,
        takeover,
    }
}

/// How long a new subscription waits after its SUBACK before it matches anything.
pub fn activation_delay(r: &Realism, rng: &mut ConnRng) -> Duration {
    draw(&r.activation_delay, rng)
}

/// What outbound shaping remembers per connection.
#[derive(Debug, Clone, Default)]
pub struct Shaping {
    pub base_latency: Duration,
    /// Deliveries of one connection keep their order under latency and jitter.
    last_delivery_due: Option<Instant>,
}

impl Shaping {
    pub fn new(base_latency: Duration) -> Shaping {
        Shaping {
            base_latency,
            last_delivery_due: None,
        }
    }
}

/// When and how often `packet` goes out, and which knobs that used (for [`super::Stats`]).
pub fn shape_outbound(
    r: &Realism,
    rng: &mut ConnRng,
    shaping: &mut Shaping,
    now: Instant,
    packet: Outbound,
    applied: &mut Vec<Applied>,
) -> Vec<Planned> {
    let hold = |rng: &mut ConnRng, due: Instant, applied: &mut Vec<Applied>| {
        rng.chance(r.reorder).then(|| {
            applied.push(Applied::Reordered);
            due + r.reorder_window
        })
    };
    match packet {
        Outbound::Publish(p) => {
            if p.qos == 0 && rng.chance(r.qos0_drop) {
                applied.push(Applied::Qos0Dropped);
                return vec![];
            }
            let jitter = draw(&Spread::range(Duration::ZERO, r.delivery_jitter), rng);
            let mut due = now + shaping.base_latency + jitter;
            if let Some(last) = shaping.last_delivery_due {
                due = due.max(last);
            }
            shaping.last_delivery_due = Some(due);
            if due > now {
                applied.push(Applied::Delayed);
            }
            let hold_until = hold(rng, due, applied);
            let mut out = vec![Planned {
                due,
                hold_until,
                fresh_pkid: false,
                packet: Outbound::Publish(p.clone()),
            }];
            if p.qos == 0 && rng.chance(r.qos0_duplicate) {
                applied.push(Applied::Qos0Duplicated);
                out.push(Planned {
                    due,
                    hold_until: None,
                    fresh_pkid: false,
                    packet: Outbound::Publish(p),
                });
            } else if p.qos == 1 && rng.chance(r.qos1_redelivery) {
                applied.push(Applied::Qos1Redelivered);
                out.push(Planned {
                    due: due + draw(&r.redelivery_delay, rng),
                    hold_until: None,
                    fresh_pkid: true,
                    packet: Outbound::Publish(p),
                });
            }
            out
        }
        ack @ (Outbound::PubAck { .. } | Outbound::SubAck { .. } | Outbound::UnsubAck { .. }) => {
            let due = if rng.chance(r.late_ack) {
                applied.push(Applied::LateAck);
                now + draw(&r.late_ack_delay, rng)
            } else {
                now
            };
            let hold_until = hold(rng, due, applied);
            vec![Planned {
                due,
                hold_until,
                fresh_pkid: false,
                packet: ack,
            }]
        }
        other => vec![Planned::now(now, other)],
    }
}

/// The part of a topic AWS's size limits count: Basic Ingest's `$aws/rules/<rule>/` prefix is
/// excluded (message-broker quotas).
fn counted(topic: &str) -> &str {
    topic
        .strip_prefix("$aws/rules/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(topic, |(_, t)| t)
}

/// Whether a topic or topic filter breaks AWS's 7-slash or 256-byte limit.
pub fn over_topic_limits(r: &Realism, topic: &str) -> bool {
    let t = counted(topic);
    (r.topic_slashes > 0 && t.matches('/').count() > r.topic_slashes)
        || (r.topic_bytes > 0 && t.len() > r.topic_bytes)
}

/// Why one filter of a SUBSCRIBE is refused for a quota (authorization aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterQuota {
    /// Over the slash or byte limit: a topic-filter error.
    TopicLimit,
    /// Over the subscriptions-per-connection quota.
    TooManySubscriptions,
    /// Throttled (random throttling or the account-wide rate).
    Throttled,
}

/// One filter as the quota checks see it.
#[derive(Debug, Clone, Copy)]
pub struct FilterQuotaFacts<'a> {
    pub filter: &'a str,
    /// Not already subscribed on this connection (a re-subscribe takes no new slot).
    pub new: bool,
}

/// The quota refusal of each filter, in order. `held` is how many subscriptions the
/// connection has; `account_admits` asks the account-wide rate for one more filter.
pub fn subscribe_quotas(
    r: &Realism,
    rng: &mut ConnRng,
    filters: &[FilterQuotaFacts<'_>],
    held: usize,
    account_admits: &mut dyn FnMut() -> bool,
    applied: &mut Vec<Applied>,
) -> Vec<Option<FilterQuota>> {
    let mut slots = held;
    filters
        .iter()
        .map(|f| {
            let q = if over_topic_limits(r, f.filter) {
                Some(FilterQuota::TopicLimit)
            } else if f.new
                && r.subscriptions_per_connection > 0
                && slots >= r.subscriptions_per_connection
            {
                Some(FilterQuota::TooManySubscriptions)
            } else if rng.chance(r.subscribe_throttle) || !account_admits() {
                Some(FilterQuota::Throttled)
            } else {
                None
            };
            match q {
                Some(FilterQuota::TopicLimit | FilterQuota::TooManySubscriptions) => {
                    applied.push(Applied::LimitRefused)
                }
                Some(FilterQuota::Throttled) => applied.push(Applied::SubscribeThrottled),
                None if f.new => slots += 1,
                None => {}
            }
            q
        })
        .collect()
}

/// Whether a SUBSCRIBE carries more filters than AWS takes in one packet.
pub fn too_many_filters(r: &Realism, count: usize) -> bool {
    r.filters_per_subscribe > 0 && count > r.filters_per_subscribe
}

/// Where AWS's reaction is UNCONFIRMED between `candidates` reactions: the first (the lab's
/// estimate), or a random one when the settings say so.
pub fn unconfirmed(r: &Realism, rng: &mut ConnRng, candidates: usize) -> usize {
    if r.randomize_unconfirmed {
        rng.below(candidates)
    } else {
        0
    }
}

/// Why a PUBLISH is refused for a reason other than authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishQuota {
    /// Over the slash or byte limit, or a retained publish to a reserved `$` topic: a
    /// topic-name error. `disconnect`: the MQTT 5 answer is DISCONNECT 0x90, not PUBACK 0x90.
    TopicError { disconnect: bool },
    /// Account-wide publish rate exceeded, or the account's retained-message maximum reached.
    Throttled,
}

/// The refusal a PUBLISH gets before authorization: topic limits and reserved retained topics.
pub fn publish_topic_error(r: &Realism, topic: &str, retain: bool) -> bool {
    over_topic_limits(r, topic) || (r.retain_reserved_refused && retain && topic.starts_with('$'))
}

/// Whether a retained publish with a payload is over the account's retained maximum
/// (replacing or clearing an existing retained message takes no new slot).
pub fn retained_over_quota(
    r: &Realism,
    payload_empty: bool,
    retained: usize,
    topic_has_one: bool,
) -> bool {
    r.max_retained > 0 && !payload_empty && !topic_has_one && retained >= r.max_retained
}

/// A shadow request answered `rejected` with this code instead of being served.
pub fn shadow_rejection(r: &Realism, rng: &mut ConnRng) -> Option<u16> {
    (!r.shadow_rejection_codes.is_empty() && rng.chance(r.shadow_rejection))
        .then(|| r.shadow_rejection_codes[rng.below(r.shadow_rejection_codes.len())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::codec::Publish;

    fn rng() -> ConnRng {
        ConnRng::new(7, "c", 0)
    }

    fn publish(qos: u8) -> Outbound {
        Outbound::Publish(Publish {
            topic: "a/b".into(),
            qos,
            retain: false,
            pkid: if qos > 0 { 1 } else { 0 },
            payload: bytes::Bytes::from_static(b"x"),
        })
    }

    /// `p` shaped on a connection with a fresh draw sequence and nothing held yet.
    fn shape_fresh(
        r: &Realism,
        now: Instant,
        p: Outbound,
        applied: &mut Vec<Applied>,
    ) -> Vec<Planned> {
        shape_outbound(r, &mut rng(), &mut Shaping::default(), now, p, applied)
    }

    #[test]
    fn draws_stay_in_range_and_tails_go_beyond() {
        let s = Spread::range(Duration::from_millis(10), Duration::from_millis(20));
        let mut r = rng();
        for _ in 0..200 {
            let d = draw(&s, &mut r);
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(20));
        }
        let always_tail = s.with_tail(1.0, Duration::from_secs(5));
        let d = draw(&always_tail, &mut r);
        assert!(d >= Duration::from_millis(20) && d <= Duration::from_secs(5));
        assert_eq!(draw(&Spread::ZERO, &mut r), Duration::ZERO);
    }

    #[test]
    fn off_shapes_nothing() {
        let now = Instant::now();
        let mut applied = vec![];
        for p in [
            publish(0),
            publish(1),
            Outbound::PubAck { pkid: 1, code: 0 },
        ] {
            let out = shape_fresh(&Realism::off(), now, p.clone(), &mut applied);
            assert_eq!(out, vec![Planned::now(now, p)]);
        }
        assert!(applied.is_empty());
    }

    #[test]
    fn qos0_drop_and_duplicate_qos1_redelivery_with_a_fresh_packet_id() {
        let now = Instant::now();
        let mut applied = vec![];
        let mut r = Realism::off();
        r.qos0_drop = 1.0;
        let out = shape_fresh(&r, now, publish(0), &mut applied);
        assert!(out.is_empty());
        r.qos0_drop = 0.0;
        r.qos0_duplicate = 1.0;
        let out = shape_fresh(&r, now, publish(0), &mut applied);
        assert_eq!(out.len(), 2);
        r.qos1_redelivery = 1.0;
        r.redelivery_delay = Spread::fixed(Duration::from_millis(300));
        let out = shape_fresh(&r, now, publish(1), &mut applied);
        assert_eq!(out.len(), 2);
        assert!(!out[0].fresh_pkid && out[1].fresh_pkid);
        assert_eq!(out[1].due, now + Duration::from_millis(300));
        assert_eq!(
            applied,
            vec![
                Applied::Qos0Dropped,
                Applied::Qos0Duplicated,
                Applied::Qos1Redelivered
            ]
        );
    }

    #[test]
    fn latency_delays_deliveries_in_order_and_late_acks_overtake_nothing_else() {
        let now = Instant::now();
        let mut applied = vec![];
        let mut r = Realism::off();
        r.delivery_jitter = Duration::from_millis(500);
        let mut shaping = Shaping::new(Duration::from_secs(1));
        let mut g = rng();
        let mut last = now;
        for _ in 0..20 {
            let out = shape_outbound(&r, &mut g, &mut shaping, now, publish(1), &mut applied);
            assert!(out[0].due >= now + Duration::from_secs(1));
            assert!(out[0].due >= last, "deliveries keep their order");
            last = out[0].due;
        }
        r.late_ack = 1.0;
        r.late_ack_delay = Spread::fixed(Duration::from_secs(12));
        let ack = Outbound::SubAck {
            pkid: 4,
            codes: vec![1],
        };
        let out = shape_outbound(&r, &mut g, &mut shaping, now, ack, &mut applied);
        assert_eq!(out[0].due, now + Duration::from_secs(12));
        assert!(applied.contains(&Applied::LateAck));
    }

    #[test]
    fn reorder_holds_within_the_window() {
        let now = Instant::now();
        let mut r = Realism::off();
        r.reorder = 1.0;
        r.reorder_window = Duration::from_millis(200);
        let out = shape_fresh(&r, now, Outbound::PubAck { pkid: 1, code: 0 }, &mut vec![]);
        assert_eq!(out[0].hold_until, Some(now + Duration::from_millis(200)));
    }

    #[test]
    fn topic_limits_exclude_basic_ingest() {
        let r = Realism::aws();
        assert!(!over_topic_limits(&r, "a/b/c/d/e/f/g/h"));
        assert!(over_topic_limits(&r, "a/b/c/d/e/f/g/h/i"));
        assert!(!over_topic_limits(&r, "$aws/rules/my_rule/a/b/c/d/e/f/g/h"));
        assert!(over_topic_limits(&r, &"x".repeat(257)));
        assert!(!over_topic_limits(&Realism::off(), &"x/".repeat(300)));
    }

    #[test]
    fn subscribe_quotas_per_filter() {
        let mut r = Realism::off();
        r.subscriptions_per_connection = 2;
        r.topic_slashes = 7;
        let fs = [
            FilterQuotaFacts {
                filter: "a",
                new: true,
            },
            FilterQuotaFacts {
                filter: "held",
                new: false,
            },
            FilterQuotaFacts {
                filter: "b",
                new: true,
            },
            FilterQuotaFacts {
                filter: "a/b/c/d/e/f/g/h/i",
                new: true,
            },
        ];
        let mut admits = || true;
        let q = subscribe_quotas(&r, &mut rng(), &fs, 1, &mut admits, &mut vec![]);
        assert_eq!(
            q,
            vec![
                None,
                None,
                Some(FilterQuota::TooManySubscriptions),
                Some(FilterQuota::TopicLimit)
            ]
        );
        let mut refuse = || false;
        let q = subscribe_quotas(&r, &mut rng(), &fs[..1], 0, &mut refuse, &mut vec![]);
        assert_eq!(q, vec![Some(FilterQuota::Throttled)]);
        assert!(too_many_filters(&Realism::aws(), 9));
        assert!(!too_many_filters(&Realism::aws(), 8));
        assert!(!too_many_filters(&Realism::off(), 100));
    }

    #[test]
    fn retained_rules() {
        let r = Realism::aws();
        assert!(publish_topic_error(&r, "$aws/things/x/shadow/update", true));
        assert!(!publish_topic_error(
            &r,
            "$aws/things/x/shadow/update",
            false
        ));
        assert!(!publish_topic_error(&Realism::off(), "$aws/x", true));
        let mut small = Realism::off();
        small.max_retained = 2;
        assert!(retained_over_quota(&small, false, 2, false));
        assert!(
            !retained_over_quota(&small, false, 2, true),
            "replacing takes no slot"
        );
        assert!(
            !retained_over_quota(&small, true, 2, false),
            "clearing is always allowed"
        );
        assert!(!retained_over_quota(&small, false, 1, false));
    }

    #[test]
    fn shadow_rejections_draw_from_the_codes() {
        let mut r = Realism::off();
        assert_eq!(shadow_rejection(&r, &mut rng()), None);
        r.shadow_rejection = 1.0;
        r.shadow_rejection_codes = vec![401, 403];
        let mut g = rng();
        let codes: Vec<u16> = (0..50)
            .filter_map(|_| shadow_rejection(&r, &mut g))
            .collect();
        assert_eq!(codes.len(), 50);
        assert!(codes.contains(&401) && codes.contains(&403));
    }

    #[test]
    fn connection_plans_follow_the_seed() {
        let r = Realism::chaos();
        let a = plan_connection(&r, &mut ConnRng::new(1, "x", 0));
        assert_eq!(a, plan_connection(&r, &mut ConnRng::new(1, "x", 0)));
        assert!(a.lifetime.is_some());
        let off = plan_connection(&Realism::off(), &mut rng());
        assert_eq!(
            off,
            ConnectionPlan {
                base_latency: Duration::ZERO,
                lifetime: None,
                disconnect: None,
                takeover: None,
            }
        );
    }
}
