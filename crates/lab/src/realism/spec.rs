//! The `[realism]` table of a scenario and the `/realism` admin body: one serde type, every
//! field optional, durations in humantime's grammar (`"500ms"`, `"2s"`, `"24h"`) as everywhere
//! in the project, random durations as a duration or `{ min, max, tail, tail_max }`.
//! [`RealismSpec::resolve`] validates and applies a spec on top of the current settings.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Value, json};

use super::{Profile, Realism, Spread};

/// A knob value that cannot be used: the key (as in the scenario table) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("realism.{key}: {message}")]
pub struct SpecError {
    pub key: String,
    pub message: String,
}

/// A duration written as humantime text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationText(pub Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(DurationText)
            .map_err(de::Error::custom)
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write e.g. \"500ms\", \"2s\", \"24h\"")
    })
}

/// A random duration as written: `"1s"` (always 1 s) or `{ min, max, tail, tail_max }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpreadText {
    pub min: Duration,
    pub max: Duration,
    pub tail: f64,
    pub tail_max: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpreadTable {
    #[serde(default)]
    min: Option<DurationText>,
    max: DurationText,
    #[serde(default)]
    tail: Option<f64>,
    #[serde(default)]
    tail_max: Option<DurationText>,
}

impl<'de> Deserialize<'de> for SpreadText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SpreadText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"500ms\", or a table { min, max, tail, tail_max }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SpreadText, E> {
                let d = parse_duration(s).map_err(E::custom)?;
                Ok(SpreadText {
                    min: d,
                    max: d,
                    tail: 0.0,
                    tail_max: None,
                })
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<SpreadText, M::Error> {
                let t = SpreadTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(SpreadText {
                    min: t.min.map_or(Duration::ZERO, |d| d.0),
                    max: t.max.0,
                    tail: t.tail.unwrap_or(0.0),
                    tail_max: t.tail_max.map(|d| d.0),
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Every knob of [`Realism`], each optional; absent keys keep their current value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealismSpec {
    /// `off`, `aws` or `chaos`: start from that profile (and its seed) instead of the current
    /// settings.
    pub profile: Option<String>,
    pub seed: Option<u64>,
    pub activation_delay: Option<SpreadText>,
    pub delivery_latency: Option<SpreadText>,
    pub delivery_jitter: Option<DurationText>,
    pub qos0_duplicate: Option<f64>,
    pub qos0_drop: Option<f64>,
    pub qos1_redelivery: Option<f64>,
    pub redelivery_delay: Option<SpreadText>,
    pub reorder: Option<f64>,
    pub reorder_window: Option<DurationText>,
    pub late_ack: Option<f64>,
    pub late_ack_delay: Option<SpreadText>,
    pub subscribe_throttle: Option<f64>,
    pub account_publishes_per_second: Option<u32>,
    pub account_subscriptions_per_second: Option<u32>,
    pub shadow_rejection: Option<f64>,
    pub shadow_rejection_codes: Option<Vec<u16>>,
    pub retain_reserved_refused: Option<bool>,
    pub max_retained: Option<usize>,
    pub topic_slashes: Option<usize>,
    pub topic_bytes: Option<usize>,
    pub filters_per_subscribe: Option<usize>,
    pub subscriptions_per_connection: Option<usize>,
    pub client_id_bytes: Option<usize>,
    pub connection_lifetime: Option<SpreadText>,
    pub server_disconnect: Option<f64>,
    pub server_disconnect_after: Option<SpreadText>,
    pub server_disconnect_codes: Option<Vec<u8>>,
    pub takeover: Option<f64>,
    pub takeover_after: Option<SpreadText>,
    pub randomize_unconfirmed: Option<bool>,
}

/// The `rejected` codes the Device Shadow service documents (device-shadow-error-messages.html).
pub const SHADOW_CODES: [u16; 9] = [400, 401, 403, 404, 409, 413, 415, 429, 500];

/// The server DISCONNECT reason codes AWS IoT lists (aws-iot-authz.md §2.2).
pub const DISCONNECT_CODES: [u8; 14] = [
    0x81, 0x82, 0x87, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x97, 0x98, 0x9B, 0xA1,
];

fn err(key: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        key: key.to_string(),
        message: message.into(),
    }
}

fn probability(key: &str, p: Option<f64>, into: &mut f64) -> Result<(), SpecError> {
    if let Some(p) = p {
        if !(0.0..=1.0).contains(&p) {
            return Err(err(key, format!("{p} is not a probability (0 to 1)")));
        }
        *into = p;
    }
    Ok(())
}

fn spread(key: &str, s: Option<SpreadText>, into: &mut Spread) -> Result<(), SpecError> {
    let Some(s) = s else { return Ok(()) };
    if s.min > s.max {
        return Err(err(key, "min is greater than max"));
    }
    if !(0.0..=1.0).contains(&s.tail) {
        return Err(err(
            key,
            format!("tail {} is not a probability (0 to 1)", s.tail),
        ));
    }
    let tail_max = match (s.tail > 0.0, s.tail_max) {
        (true, None) => return Err(err(key, "tail needs tail_max")),
        (_, Some(t)) if t < s.max => return Err(err(key, "tail_max is less than max")),
        (_, t) => t.unwrap_or(s.max),
    };
    *into = Spread {
        min: s.min,
        max: s.max,
        tail: s.tail,
        tail_max,
    };
    Ok(())
}

/// Takes `given` codes when every one is in `known`; `unknown` words the refusal of the first
/// that is not.
fn codes<T: Copy + PartialEq>(
    key: &str,
    given: &Option<Vec<T>>,
    known: &[T],
    unknown: impl Fn(T) -> String,
    into: &mut Vec<T>,
) -> Result<(), SpecError> {
    let Some(given) = given else { return Ok(()) };
    if let Some(&c) = given.iter().find(|c| !known.contains(c)) {
        return Err(err(key, unknown(c)));
    }
    into.clone_from(given);
    Ok(())
}

fn set<T>(v: Option<T>, into: &mut T) {
    if let Some(v) = v {
        *into = v;
    }
}

impl RealismSpec {
    /// The settings this spec gives on top of `current` (or on top of its `profile`).
    pub fn resolve(&self, current: &Realism) -> Result<Realism, SpecError> {
        let mut r = match &self.profile {
            Some(name) => Realism::of_profile(Profile::parse(name).ok_or_else(|| {
                err(
                    "profile",
                    format!("unknown profile `{name}` (off | aws | chaos)"),
                )
            })?),
            None => current.clone(),
        };
        set(self.seed, &mut r.seed);
        spread(
            "activation_delay",
            self.activation_delay,
            &mut r.activation_delay,
        )?;
        spread(
            "delivery_latency",
            self.delivery_latency,
            &mut r.delivery_latency,
        )?;
        set(self.delivery_jitter.map(|d| d.0), &mut r.delivery_jitter);
        probability("qos0_duplicate", self.qos0_duplicate, &mut r.qos0_duplicate)?;
        probability("qos0_drop", self.qos0_drop, &mut r.qos0_drop)?;
        probability(
            "qos1_redelivery",
            self.qos1_redelivery,
            &mut r.qos1_redelivery,
        )?;
        spread(
            "redelivery_delay",
            self.redelivery_delay,
            &mut r.redelivery_delay,
        )?;
        probability("reorder", self.reorder, &mut r.reorder)?;
        set(self.reorder_window.map(|d| d.0), &mut r.reorder_window);
        probability("late_ack", self.late_ack, &mut r.late_ack)?;
        spread("late_ack_delay", self.late_ack_delay, &mut r.late_ack_delay)?;
        probability(
            "subscribe_throttle",
            self.subscribe_throttle,
            &mut r.subscribe_throttle,
        )?;
        set(
            self.account_publishes_per_second,
            &mut r.account_publishes_per_second,
        );
        set(
            self.account_subscriptions_per_second,
            &mut r.account_subscriptions_per_second,
        );
        probability(
            "shadow_rejection",
            self.shadow_rejection,
            &mut r.shadow_rejection,
        )?;
        codes(
            "shadow_rejection_codes",
            &self.shadow_rejection_codes,
            &SHADOW_CODES,
            |c| format!("{c} is not a Device Shadow error code ({SHADOW_CODES:?})"),
            &mut r.shadow_rejection_codes,
        )?;
        set(self.retain_reserved_refused, &mut r.retain_reserved_refused);
        set(self.max_retained, &mut r.max_retained);
        set(self.topic_slashes, &mut r.topic_slashes);
        set(self.topic_bytes, &mut r.topic_bytes);
        set(self.filters_per_subscribe, &mut r.filters_per_subscribe);
        set(
            self.subscriptions_per_connection,
            &mut r.subscriptions_per_connection,
        );
        if let Some(n) = self.client_id_bytes {
            if n == 0 || n > usize::from(u16::MAX) {
                return Err(err("client_id_bytes", "must be 1 to 65535"));
            }
            r.client_id_bytes = n;
        }
        spread(
            "connection_lifetime",
            self.connection_lifetime,
            &mut r.connection_lifetime,
        )?;
        probability(
            "server_disconnect",
            self.server_disconnect,
            &mut r.server_disconnect,
        )?;
        spread(
            "server_disconnect_after",
            self.server_disconnect_after,
            &mut r.server_disconnect_after,
        )?;
        codes(
            "server_disconnect_codes",
            &self.server_disconnect_codes,
            &DISCONNECT_CODES,
            |c| format!("0x{c:02X} is not a DISCONNECT code AWS IoT lists"),
            &mut r.server_disconnect_codes,
        )?;
        probability("takeover", self.takeover, &mut r.takeover)?;
        spread("takeover_after", self.takeover_after, &mut r.takeover_after)?;
        set(self.randomize_unconfirmed, &mut r.randomize_unconfirmed);
        if r.shadow_rejection > 0.0 && r.shadow_rejection_codes.is_empty() {
            return Err(err(
                "shadow_rejection_codes",
                "empty while shadow_rejection > 0",
            ));
        }
        if r.server_disconnect > 0.0 && r.server_disconnect_codes.is_empty() {
            return Err(err(
                "server_disconnect_codes",
                "empty while server_disconnect > 0",
            ));
        }
        Ok(r)
    }
}

fn duration_text(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn spread_json(s: &Spread) -> Value {
    json!({
        "min": duration_text(s.min),
        "max": duration_text(s.max),
        "tail": s.tail,
        "tail_max": duration_text(s.tail_max),
    })
}

/// The effective settings as the admin API shows them: the same keys a spec takes, so a GET
/// body can be PUT back.
pub fn to_json(r: &Realism) -> Value {
    json!({
        "profile": r.profile.as_str(),
        "seed": r.seed,
        "activation_delay": spread_json(&r.activation_delay),
        "delivery_latency": spread_json(&r.delivery_latency),
        "delivery_jitter": duration_text(r.delivery_jitter),
        "qos0_duplicate": r.qos0_duplicate,
        "qos0_drop": r.qos0_drop,
        "qos1_redelivery": r.qos1_redelivery,
        "redelivery_delay": spread_json(&r.redelivery_delay),
        "reorder": r.reorder,
        "reorder_window": duration_text(r.reorder_window),
        "late_ack": r.late_ack,
        "late_ack_delay": spread_json(&r.late_ack_delay),
        "subscribe_throttle": r.subscribe_throttle,
        "account_publishes_per_second": r.account_publishes_per_second,
        "account_subscriptions_per_second": r.account_subscriptions_per_second,
        "shadow_rejection": r.shadow_rejection,
        "shadow_rejection_codes": r.shadow_rejection_codes,
        "retain_reserved_refused": r.retain_reserved_refused,
        "max_retained": r.max_retained,
        "topic_slashes": r.topic_slashes,
        "topic_bytes": r.topic_bytes,
        "filters_per_subscribe": r.filters_per_subscribe,
        "subscriptions_per_connection": r.subscriptions_per_connection,
        "client_id_bytes": r.client_id_bytes,
        "connection_lifetime": spread_json(&r.connection_lifetime),
        "server_disconnect": r.server_disconnect,
        "server_disconnect_after": spread_json(&r.server_disconnect_after),
        "server_disconnect_codes": r.server_disconnect_codes,
        "takeover": r.takeover,
        "takeover_after": spread_json(&r.takeover_after),
        "randomize_unconfirmed": r.randomize_unconfirmed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> RealismSpec {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn profile_then_overrides() {
        let r = spec("profile = \"aws\"\nqos0_drop = 0.5\nactivation_delay = \"1s\"\n")
            .resolve(&Realism::off())
            .unwrap();
        assert_eq!(r.profile, Profile::Aws);
        assert_eq!(r.seed, Profile::Aws.default_seed());
        assert_eq!(r.qos0_drop, 0.5);
        assert_eq!(r.activation_delay, Spread::fixed(Duration::from_secs(1)));
        assert_eq!(r.topic_slashes, 7, "the rest of the profile stays");
    }

    #[test]
    fn without_profile_a_spec_merges_into_the_current_settings() {
        let current = Realism::chaos();
        let r = spec("seed = 9\nlate_ack = 0\n").resolve(&current).unwrap();
        assert_eq!(r.profile, Profile::Chaos);
        assert_eq!(r.seed, 9);
        assert_eq!(r.late_ack, 0.0);
        assert_eq!(r.qos0_drop, current.qos0_drop);
    }

    #[test]
    fn spreads_take_a_duration_or_a_table() {
        let r = spec(
            "delivery_latency = { min = \"10ms\", max = \"1s\", tail = 0.1, tail_max = \"3s\" }\n",
        )
        .resolve(&Realism::off())
        .unwrap();
        assert_eq!(
            r.delivery_latency,
            Spread::range(Duration::from_millis(10), Duration::from_secs(1))
                .with_tail(0.1, Duration::from_secs(3))
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("qos0_drop = 1.5\n", "qos0_drop"),
            (
                "activation_delay = { min = \"2s\", max = \"1s\" }\n",
                "activation_delay",
            ),
            ("profile = \"nice\"\n", "profile"),
            (
                "shadow_rejection = 0.5\nshadow_rejection_codes = [418]\n",
                "shadow_rejection_codes",
            ),
            ("server_disconnect = 0.1\n", "server_disconnect_codes"),
        ] {
            let e = spec(text).resolve(&Realism::off()).unwrap_err();
            assert_eq!(e.key, key, "{text}");
        }
        assert!(toml::from_str::<RealismSpec>("delivery_jitter = \"soon\"\n").is_err());
        assert!(toml::from_str::<RealismSpec>("jitter = \"1s\"\n").is_err());
        assert!(
            toml::from_str::<RealismSpec>("late_ack_delay = { max = \"1s\", typo = 1 }\n").is_err()
        );
    }

    #[test]
    fn json_round_trips_through_a_spec() {
        for r in [Realism::off(), Realism::aws(), Realism::chaos()] {
            let text = to_json(&r).to_string();
            let back: RealismSpec = serde_json::from_str(&text).unwrap();
            assert_eq!(back.resolve(&Realism::off()).unwrap(), r);
        }
    }

    #[test]
    fn profiles_are_valid_and_off_is_off() {
        assert!(Realism::off().is_off());
        assert!(!Realism::aws().is_off());
        assert!(!Realism::chaos().is_off());
        assert!(Realism::aws().shapes_outbound());
        assert!(!Realism::off().shapes_outbound());
    }
}
