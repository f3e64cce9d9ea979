//! What the broker does with each packet, as plain functions over data: the authorization
//! decision comes in as a bool (computed by `iot_canary_policy::authorize`), time comes in as a
//! value. The socket loop only executes the returned [`Action`]s.
//!
//! Behaviour per aws-iot-authz.md §2.1: MQTT 3.1.1 closes the socket on any unauthorized
//! CONNECT/PUBLISH/SUBSCRIBE (never CONNACK 5 or SUBACK 0x80); MQTT 5 answers 0x87. The
//! realism knobs' quota refusals come in as facts too (`FilterFacts::quota`,
//! `PublishFacts::before_auth`): 3.1.1 throttled subscriptions get SUBACK 0x80 (aws-facts.md
//! §B.2), MQTT 5 0x97.

use std::time::{Duration, Instant};

use super::codec::{Outbound, Version};
pub use crate::realism::decide::FilterQuota;

pub const SUCCESS: u8 = 0x00;
pub const NOT_AUTHORIZED: u8 = 0x87;
pub const QUOTA_EXCEEDED: u8 = 0x97;
pub const SESSION_TAKEN_OVER: u8 = 0x8E;
pub const KEEP_ALIVE_TIMEOUT: u8 = 0x8D;
pub const ADMINISTRATIVE_ACTION: u8 = 0x98;
pub const QOS_NOT_SUPPORTED: u8 = 0x9B;
pub const TOPIC_NAME_INVALID: u8 = 0x90;
pub const TOPIC_FILTER_INVALID: u8 = 0x8F;
pub const PROTOCOL_ERROR: u8 = 0x82;
pub const CLIENT_ID_INVALID: u8 = 0x85;
pub const MALFORMED_PACKET: u8 = 0x81;

/// What the socket loop must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send(Outbound),
    /// Close the connection (after sending what precedes).
    Close,
}

/// Close, preceded by a v5 DISCONNECT with `code` (3.1.1 has no server DISCONNECT).
pub fn disconnect(version: Version, code: u8) -> Vec<Action> {
    match version {
        Version::V5 => vec![Action::Send(Outbound::Disconnect { code }), Action::Close],
        Version::V311 => vec![Action::Close],
    }
}

pub use iot_canary_policy::actions::topic_matches;

pub fn is_wildcard(filter: &str) -> bool {
    filter.contains('+') || filter.contains('#')
}

/// A PUBLISH topic: non-empty, no wildcards, no NUL.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0'])
}

/// A topic filter: non-empty; `#` only as the whole last level; `+` only as a whole level.
pub fn valid_filter(filter: &str) -> bool {
    // NUL is the broker's own refusal (MQTT 3.1.1 §1.5.3); the syntax is the policy crate's.
    !filter.contains('\0') && iot_canary_policy::actions::valid_topic_filter(filter)
}

/// Sliding one-second window counter (100 publishes/s per connection).
#[derive(Debug, Clone, Default)]
pub struct RateWindow {
    events: std::collections::VecDeque<Instant>,
}

impl RateWindow {
    /// Records an event at `now`; false if `limit` events already happened in the last second.
    pub fn admit(&mut self, now: Instant, limit: u32) -> bool {
        while let Some(&front) = self.events.front() {
            if now.duration_since(front) >= Duration::from_secs(1) {
                self.events.pop_front();
            } else {
                break;
            }
        }
        if self.events.len() as u32 >= limit {
            return false;
        }
        self.events.push_back(now);
        true
    }
}

/// Inputs of the CONNECT decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectFacts {
    pub version: Version,
    pub client_id_valid: bool,
    /// false when this client id connected less than the minimum interval ago.
    pub rate_ok: bool,
    pub quota_fault: bool,
    pub authorized: bool,
    pub max_packet: u32,
}

/// Result of a CONNECT: accepted (register the session, then the actions) or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectDecision {
    pub accept: bool,
    pub actions: Vec<Action>,
}

pub fn on_connect(f: ConnectFacts) -> ConnectDecision {
    let refuse = |code: u8| ConnectDecision {
        accept: false,
        actions: match f.version {
            Version::V5 => vec![
                Action::Send(Outbound::ConnAck {
                    code,
                    max_packet: f.max_packet,
                }),
                Action::Close,
            ],
            // AWS IoT never sends CONNACK 5 to 3.1.1 clients: it hangs up.
            Version::V311 => vec![Action::Close],
        },
    };
    if !f.client_id_valid {
        return refuse(CLIENT_ID_INVALID);
    }
    if f.quota_fault || !f.rate_ok {
        return refuse(QUOTA_EXCEEDED);
    }
    if !f.authorized {
        return refuse(NOT_AUTHORIZED);
    }
    ConnectDecision {
        accept: true,
        actions: vec![Action::Send(Outbound::ConnAck {
            code: SUCCESS,
            max_packet: f.max_packet,
        })],
    }
}

/// Inputs of the PUBLISH decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishFacts {
    pub version: Version,
    pub qos: u8,
    pub pkid: u16,
    pub retain: bool,
    pub topic_valid: bool,
    pub rate_ok: bool,
    pub quota_fault: bool,
    /// iot:Publish on topic/T
    pub publish_allowed: bool,
    /// iot:RetainPublish on topic/T (only consulted when `retain`)
    pub retain_allowed: bool,
    /// Realism: refused before authorization (topic limits, retained `$` topic, account rate).
    pub before_auth: Option<PublishQuota>,
    /// Realism: a retained publish over the account's retained maximum (after authorization).
    pub retained_over_quota: bool,
}

/// A PUBLISH refused for a reason other than authorization (realism knobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishQuota {
    /// A topic-name error (over AWS's slash or byte limit, or RETAIN on a reserved topic):
    /// MQTT 5 PUBACK 0x90, or DISCONNECT 0x90 with `disconnect`; MQTT 3.1.1 closes.
    TopicError { disconnect: bool },
    /// Throttled: MQTT 5 PUBACK 0x97; MQTT 3.1.1 "will be discarded" (no PUBACK).
    Throttled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishDecision {
    /// Route the message (and store it if retained).
    pub deliver: bool,
    pub actions: Vec<Action>,
}

pub fn on_publish(f: PublishFacts) -> PublishDecision {
    let v5 = f.version == Version::V5;
    let drop_with = |actions: Vec<Action>| PublishDecision {
        deliver: false,
        actions,
    };
    if f.qos == 2 {
        // AWS IoT: no PUBACK for QoS 2 on 3.1.1; DISCONNECT 0x9B on MQTT 5.
        return drop_with(if v5 {
            disconnect(f.version, QOS_NOT_SUPPORTED)
        } else {
            vec![]
        });
    }
    if !f.topic_valid {
        return drop_with(disconnect(f.version, TOPIC_NAME_INVALID));
    }
    // A refusal: v5 answers the QoS 1 PUBACK with `code` (a QoS 0 message is silently dropped,
    // UNCONFIRMED whether AWS disconnects instead); 3.1.1 closes the connection.
    let refuse = |code: u8| {
        drop_with(match (f.version, f.qos) {
            (Version::V5, 1) => vec![Action::Send(Outbound::PubAck { pkid: f.pkid, code })],
            (Version::V5, _) => vec![],
            (Version::V311, _) => vec![Action::Close],
        })
    };
    // Throttled on 3.1.1: discarded without an answer; on 5 a PUBACK 0x97 (QoS 1).
    let throttled = || {
        drop_with(match (f.version, f.qos) {
            (Version::V5, 1) => vec![Action::Send(Outbound::PubAck {
                pkid: f.pkid,
                code: QUOTA_EXCEEDED,
            })],
            _ => vec![],
        })
    };
    match f.before_auth {
        Some(PublishQuota::TopicError { disconnect: true }) if v5 => {
            return drop_with(disconnect(f.version, TOPIC_NAME_INVALID));
        }
        Some(PublishQuota::TopicError { .. }) => return refuse(TOPIC_NAME_INVALID),
        Some(PublishQuota::Throttled) => return throttled(),
        None => {}
    }
    if f.quota_fault || !f.rate_ok {
        return refuse(QUOTA_EXCEEDED);
    }
    if !f.publish_allowed || (f.retain && !f.retain_allowed) {
        return refuse(NOT_AUTHORIZED);
    }
    if f.retain && f.retained_over_quota {
        return throttled();
    }
    PublishDecision {
        deliver: true,
        actions: if f.qos == 1 {
            vec![Action::Send(Outbound::PubAck {
                pkid: f.pkid,
                code: SUCCESS,
            })]
        } else {
            vec![]
        },
    }
}

/// Per-filter facts of a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterFacts {
    pub filter: String,
    pub qos: u8,
    pub valid: bool,
    /// iot:Subscribe on topicfilter/F
    pub allowed: bool,
    /// Realism: refused for a quota (checked before authorization).
    pub quota: Option<FilterQuota>,
}

/// How a whole SUBSCRIBE with more filters than AWS takes is answered (realism).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooManyFilters {
    /// MQTT 5: SUBACK 0x97 for every filter (the lab's estimate); 3.1.1 always closes.
    SubAck,
    /// MQTT 5: DISCONNECT 0x97 (the other UNCONFIRMED candidate).
    Disconnect,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeDecision {
    /// (filter, granted qos) to add.
    pub granted: Vec<(String, u8)>,
    pub actions: Vec<Action>,
}

/// SUBACK return code 0x80 (MQTT 3.1.1 "Failure"; MQTT 5 "Unspecified error").
pub const FAILURE: u8 = 0x80;

pub fn on_subscribe(
    version: Version,
    pkid: u16,
    filters: &[FilterFacts],
    quota_fault: bool,
    too_many: Option<TooManyFilters>,
) -> SubscribeDecision {
    let none = |actions| SubscribeDecision {
        granted: vec![],
        actions,
    };
    if filters.is_empty() {
        return none(disconnect(version, PROTOCOL_ERROR));
    }
    if filters.iter().any(|f| f.qos == 2) {
        // AWS IoT: no SUBACK for a QoS 2 request on 3.1.1; DISCONNECT 0x9B on MQTT 5.
        return none(match version {
            Version::V5 => disconnect(version, QOS_NOT_SUPPORTED),
            Version::V311 => vec![],
        });
    }
    match (too_many, version) {
        // 3.1.1 field reports: no SUBACK, the connection dropped.
        (Some(_), Version::V311) => return none(vec![Action::Close]),
        (Some(TooManyFilters::Disconnect), Version::V5) => {
            return none(disconnect(version, QUOTA_EXCEEDED));
        }
        (Some(TooManyFilters::SubAck), Version::V5) => {
            return none(vec![Action::Send(Outbound::SubAck {
                pkid,
                codes: vec![QUOTA_EXCEEDED; filters.len()],
            })]);
        }
        (None, _) => {}
    }
    // 3.1.1 answers throttling and the subscription quota with SUBACK 0x80 per filter and
    // keeps the connection; anything else refused closes it (no SUBACK 0x80).
    let closes_v311 = |f: &FilterFacts| match f.quota {
        Some(FilterQuota::Throttled | FilterQuota::TooManySubscriptions) => false,
        Some(FilterQuota::TopicLimit) => true,
        None => !f.valid || !f.allowed,
    };
    if version == Version::V311 && (quota_fault || filters.iter().any(closes_v311)) {
        return none(vec![Action::Close]);
    }
    let mut granted = Vec::new();
    let codes = filters
        .iter()
        .map(|f| match (f.quota, version) {
            _ if !f.valid => TOPIC_FILTER_INVALID,
            (Some(FilterQuota::TopicLimit), _) => TOPIC_FILTER_INVALID,
            (Some(_), Version::V311) => FAILURE,
            (Some(_), Version::V5) => QUOTA_EXCEEDED,
            (None, _) if quota_fault => QUOTA_EXCEEDED,
            (None, _) if !f.allowed => NOT_AUTHORIZED,
            (None, _) => {
                granted.push((f.filter.clone(), f.qos));
                f.qos
            }
        })
        .collect();
    SubscribeDecision {
        granted,
        actions: vec![Action::Send(Outbound::SubAck { pkid, codes })],
    }
}

/// Keep-alive: the server may drop a client silent for 1.5 × keep-alive (0 = no limit).
pub fn keep_alive_window(keep_alive_secs: u16) -> Option<Duration> {
    (keep_alive_secs > 0).then(|| Duration::from_millis(u64::from(keep_alive_secs) * 1500))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Version::{V5, V311};

    /// The one action of answering SUBSCRIBE packet 3 with `codes`.
    fn suback3(codes: Vec<u8>) -> Vec<Action> {
        vec![Action::Send(Outbound::SubAck { pkid: 3, codes })]
    }

    #[test]
    fn hash_does_not_match_the_parent_level() {
        assert!(topic_matches("a/b", "a/#"));
        assert!(topic_matches("a/b/c", "a/#"));
        assert!(!topic_matches("a", "a/#"));
        assert!(topic_matches("a", "#"));
        assert!(topic_matches("a/b/c", "a/+/c"));
        assert!(!topic_matches("a/b", "a/+/c"));
        assert!(!topic_matches("a/b/c", "a/+"));
        assert!(!topic_matches("$aws/things/x/shadow/get", "#"));
        assert!(!topic_matches(
            "$aws/things/x/shadow/get",
            "+/things/x/shadow/get"
        ));
        assert!(topic_matches(
            "$aws/things/x/shadow/get/accepted",
            "$aws/things/x/shadow/get/+"
        ));
        assert!(topic_matches("a//b", "a/+/b"));
    }

    #[test]
    fn filter_and_topic_validity() {
        for ok in ["a", "a/+/b", "#", "a/#", "+", "+/+"] {
            assert!(valid_filter(ok), "{ok}");
        }
        for bad in ["", "a/#/b", "a#", "a/b+", "#/a"] {
            assert!(!valid_filter(bad), "{bad}");
        }
        assert!(valid_topic("a/b"));
        assert!(!valid_topic("a/+"));
        assert!(!valid_topic(""));
    }

    fn connect(version: Version) -> ConnectFacts {
        ConnectFacts {
            version,
            client_id_valid: true,
            rate_ok: true,
            quota_fault: false,
            authorized: true,
            max_packet: 131_072,
        }
    }

    #[test]
    fn connect_denied_v311_hangs_up_v5_says_0x87() {
        let d = on_connect(ConnectFacts {
            authorized: false,
            ..connect(V311)
        });
        assert_eq!(
            d,
            ConnectDecision {
                accept: false,
                actions: vec![Action::Close]
            }
        );
        let d = on_connect(ConnectFacts {
            authorized: false,
            ..connect(V5)
        });
        assert!(!d.accept);
        assert_eq!(
            d.actions[0],
            Action::Send(Outbound::ConnAck {
                code: 0x87,
                max_packet: 131_072
            })
        );
        assert_eq!(d.actions[1], Action::Close);
        assert!(on_connect(connect(V5)).accept);
    }

    #[test]
    fn connect_throttle_and_quota_fault_give_0x97() {
        for f in [
            ConnectFacts {
                rate_ok: false,
                ..connect(V5)
            },
            ConnectFacts {
                quota_fault: true,
                ..connect(V5)
            },
        ] {
            let d = on_connect(f);
            assert!(!d.accept);
            assert_eq!(
                d.actions[0],
                Action::Send(Outbound::ConnAck {
                    code: 0x97,
                    max_packet: 131_072
                })
            );
        }
        assert_eq!(
            on_connect(ConnectFacts {
                rate_ok: false,
                ..connect(V311)
            })
            .actions,
            vec![Action::Close]
        );
    }

    fn publish(version: Version, qos: u8) -> PublishFacts {
        PublishFacts {
            version,
            qos,
            pkid: 5,
            retain: false,
            topic_valid: true,
            rate_ok: true,
            quota_fault: false,
            publish_allowed: true,
            retain_allowed: false,
            before_auth: None,
            retained_over_quota: false,
        }
    }

    #[test]
    fn publish_denied_per_version() {
        let deny = |v, q| {
            on_publish(PublishFacts {
                publish_allowed: false,
                ..publish(v, q)
            })
        };
        assert_eq!(
            deny(V311, 0),
            PublishDecision {
                deliver: false,
                actions: vec![Action::Close]
            }
        );
        assert_eq!(deny(V311, 1).actions, vec![Action::Close]);
        assert_eq!(
            deny(V5, 1).actions,
            vec![Action::Send(Outbound::PubAck {
                pkid: 5,
                code: 0x87
            })]
        );
        assert_eq!(
            deny(V5, 0),
            PublishDecision {
                deliver: false,
                actions: vec![]
            }
        );
        let ok = on_publish(publish(V5, 1));
        assert!(ok.deliver);
        assert_eq!(
            ok.actions,
            vec![Action::Send(Outbound::PubAck { pkid: 5, code: 0 })]
        );
        assert_eq!(
            on_publish(publish(V311, 0)),
            PublishDecision {
                deliver: true,
                actions: vec![]
            }
        );
    }

    #[test]
    fn retained_publish_needs_retain_publish_too() {
        let f = PublishFacts {
            retain: true,
            ..publish(V5, 1)
        };
        assert_eq!(
            on_publish(f).actions,
            vec![Action::Send(Outbound::PubAck {
                pkid: 5,
                code: 0x87
            })]
        );
        assert!(
            on_publish(PublishFacts {
                retain_allowed: true,
                ..f
            })
            .deliver
        );
    }

    #[test]
    fn qos2_and_rate_limit() {
        assert_eq!(on_publish(publish(V311, 2)).actions, vec![]);
        assert!(!on_publish(publish(V311, 2)).deliver);
        assert_eq!(
            on_publish(publish(V5, 2)).actions,
            vec![
                Action::Send(Outbound::Disconnect { code: 0x9B }),
                Action::Close
            ]
        );
        assert_eq!(
            on_publish(PublishFacts {
                rate_ok: false,
                ..publish(V5, 1)
            })
            .actions,
            vec![Action::Send(Outbound::PubAck {
                pkid: 5,
                code: 0x97
            })]
        );
        assert_eq!(
            on_publish(PublishFacts {
                rate_ok: false,
                ..publish(V311, 1)
            })
            .actions,
            vec![Action::Close]
        );
    }

    fn filt(f: &str, allowed: bool) -> FilterFacts {
        FilterFacts {
            filter: f.into(),
            qos: 1,
            valid: valid_filter(f),
            allowed,
            quota: None,
        }
    }

    #[test]
    fn subscribe_denied_per_version() {
        let fs = [filt("a/b", true), filt("c/d", false)];
        let d = on_subscribe(V311, 3, &fs, false, None);
        assert_eq!(d.actions, vec![Action::Close]);
        assert!(d.granted.is_empty());
        let d = on_subscribe(V5, 3, &fs, false, None);
        assert_eq!(d.actions, suback3(vec![1, 0x87]));
        assert_eq!(d.granted, vec![("a/b".to_string(), 1)]);
        let d = on_subscribe(V5, 3, &[filt("a/#/b", true)], false, None);
        assert_eq!(d.actions, suback3(vec![0x8F]));
        let d = on_subscribe(V5, 3, &[filt("a", true)], true, None);
        assert_eq!(d.actions, suback3(vec![0x97]));
        let q2 = FilterFacts {
            qos: 2,
            ..filt("a", true)
        };
        assert_eq!(
            on_subscribe(V311, 3, std::slice::from_ref(&q2), false, None).actions,
            vec![]
        );
        assert_eq!(
            on_subscribe(V5, 3, &[q2], false, None).actions,
            vec![
                Action::Send(Outbound::Disconnect { code: 0x9B }),
                Action::Close
            ]
        );
    }

    #[test]
    fn throttled_and_over_quota_filters_per_version() {
        let throttled = FilterFacts {
            quota: Some(FilterQuota::Throttled),
            ..filt("a/b", true)
        };
        let over = FilterFacts {
            quota: Some(FilterQuota::TooManySubscriptions),
            ..filt("a/c", true)
        };
        let fs = [filt("a/ok", true), throttled.clone(), over];
        // 3.1.1: SUBACK 0x80 for the throttled and over-quota filters, the connection stays.
        let d = on_subscribe(V311, 3, &fs, false, None);
        assert_eq!(d.actions, suback3(vec![1, 0x80, 0x80]));
        assert_eq!(d.granted, vec![("a/ok".to_string(), 1)]);
        let d = on_subscribe(V5, 3, &fs, false, None);
        assert_eq!(d.actions, suback3(vec![1, 0x97, 0x97]));
        // Throttling is decided before authorization: a throttled forbidden filter is 0x80.
        let forbidden_throttled = FilterFacts {
            allowed: false,
            ..throttled
        };
        let d = on_subscribe(V311, 3, &[forbidden_throttled], false, None);
        assert_eq!(d.actions, suback3(vec![0x80]));
        // Over the topic limits: a filter error (3.1.1 closes).
        let long = FilterFacts {
            quota: Some(FilterQuota::TopicLimit),
            ..filt("a", true)
        };
        assert_eq!(
            on_subscribe(V311, 3, std::slice::from_ref(&long), false, None).actions,
            vec![Action::Close]
        );
        assert_eq!(
            on_subscribe(V5, 3, &[long], false, None).actions,
            suback3(vec![0x8F])
        );
    }

    #[test]
    fn too_many_filters_per_version() {
        let fs: Vec<FilterFacts> = (0..9).map(|i| filt(&format!("a/{i}"), true)).collect();
        let d = on_subscribe(V311, 3, &fs, false, Some(TooManyFilters::SubAck));
        assert_eq!(
            d.actions,
            vec![Action::Close],
            "no SUBACK, the connection drops"
        );
        let d = on_subscribe(V5, 3, &fs, false, Some(TooManyFilters::SubAck));
        assert_eq!(d.actions, suback3(vec![0x97; 9]));
        assert!(d.granted.is_empty());
        let d = on_subscribe(V5, 3, &fs, false, Some(TooManyFilters::Disconnect));
        assert_eq!(
            d.actions,
            vec![
                Action::Send(Outbound::Disconnect { code: 0x97 }),
                Action::Close
            ]
        );
    }

    #[test]
    fn publish_quota_refusals_per_version() {
        let with = |v, q, before_auth| {
            on_publish(PublishFacts {
                before_auth,
                ..publish(v, q)
            })
        };
        let topic = Some(PublishQuota::TopicError { disconnect: false });
        assert_eq!(
            with(V5, 1, topic).actions,
            vec![Action::Send(Outbound::PubAck {
                pkid: 5,
                code: 0x90
            })]
        );
        assert_eq!(with(V311, 1, topic).actions, vec![Action::Close]);
        assert_eq!(
            with(V5, 0, Some(PublishQuota::TopicError { disconnect: true })).actions,
            vec![
                Action::Send(Outbound::Disconnect { code: 0x90 }),
                Action::Close
            ]
        );
        let throttled = Some(PublishQuota::Throttled);
        let d = with(V311, 1, throttled);
        assert_eq!(
            (d.deliver, d.actions),
            (false, vec![]),
            "discarded, no PUBACK"
        );
        assert_eq!(
            with(V5, 1, throttled).actions,
            vec![Action::Send(Outbound::PubAck {
                pkid: 5,
                code: 0x97
            })]
        );
        let retained = on_publish(PublishFacts {
            retain: true,
            retain_allowed: true,
            retained_over_quota: true,
            ..publish(V5, 1)
        });
        assert!(!retained.deliver);
        assert_eq!(
            retained.actions,
            vec![Action::Send(Outbound::PubAck {
                pkid: 5,
                code: 0x97
            })]
        );
    }

    #[test]
    fn rate_window_admits_limit_per_second() {
        let mut w = RateWindow::default();
        let t = Instant::now();
        for _ in 0..100 {
            assert!(w.admit(t, 100));
        }
        assert!(!w.admit(t + Duration::from_millis(999), 100));
        assert!(w.admit(t + Duration::from_secs(1), 100));
    }

    #[test]
    fn keep_alive_is_one_and_a_half_times() {
        assert_eq!(keep_alive_window(0), None);
        assert_eq!(keep_alive_window(10), Some(Duration::from_secs(15)));
    }
}
