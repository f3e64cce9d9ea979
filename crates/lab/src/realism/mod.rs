//! Realism knobs: AWS IoT Core's timing and failure semantics, reproduced on demand so tests
//! can prove a verdict survives them. Off by default (the lab then behaves exactly as without
//! this module); two seeded profiles, `aws` (documented behaviours at documented or estimated
//! magnitudes) and `chaos` (all of them, amplified and randomized), plus per-knob overrides,
//! from a scenario's `[realism]` table or the admin API (`/realism`).
//!
//! Each knob's doc comment quotes the AWS statement it reproduces; the sources are
//! `shared/reference/aws-iot-authz.md` §8 and the research notes `aws-facts.md` §B
//! (magnitudes), summarised per knob in docs/realism.md.
//!
//! Every random choice is drawn from a per-connection ChaCha8 stream seeded from
//! (`seed`, client id, how many times that client id connected before) — see [`rng`] — so a
//! scripted run repeats exactly under the same seed. The decisions are pure functions in
//! [`decide`] (time and RNG passed in); the session only schedules what they return
//! ([`outbox`]).

pub mod conn;
pub mod decide;
pub mod outbox;
pub mod rng;
pub mod spec;
mod stats;

use std::time::Duration;

use serde::Serialize;

pub use spec::{RealismSpec, SpecError};
pub use stats::{Applied, Stats};

/// A random duration: uniform in `[min, max]`, except that with probability `tail` it is
/// uniform in `[max, tail_max]` (rare long delays).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub min: Duration,
    pub max: Duration,
    pub tail: f64,
    pub tail_max: Duration,
}

impl Spread {
    pub const ZERO: Spread = Spread::fixed(Duration::ZERO);

    pub const fn fixed(d: Duration) -> Spread {
        Spread {
            min: d,
            max: d,
            tail: 0.0,
            tail_max: d,
        }
    }

    pub const fn range(min: Duration, max: Duration) -> Spread {
        Spread {
            min,
            max,
            tail: 0.0,
            tail_max: max,
        }
    }

    pub const fn with_tail(self, tail: f64, tail_max: Duration) -> Spread {
        Spread {
            tail,
            tail_max,
            ..self
        }
    }

    /// Whether every draw is zero (the knob is off).
    pub fn is_zero(&self) -> bool {
        self.max.is_zero() && (self.tail == 0.0 || self.tail_max.is_zero())
    }
}

/// Which set of defaults the knobs start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Today's lab: instant, ordered, lossless.
    Off,
    /// AWS's documented behaviours at documented or estimated magnitudes.
    Aws,
    /// All of them, amplified and randomized.
    Chaos,
}

impl Profile {
    pub fn parse(name: &str) -> Option<Profile> {
        match name {
            "off" => Some(Profile::Off),
            "aws" => Some(Profile::Aws),
            "chaos" => Some(Profile::Chaos),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Profile::Off => "off",
            Profile::Aws => "aws",
            Profile::Chaos => "chaos",
        }
    }

    /// The seed a profile runs with when none is given.
    pub const fn default_seed(self) -> u64 {
        match self {
            Profile::Off => 0,
            // "AWS" and "CHAOS" in ASCII: fixed, so two runs of a profile agree.
            Profile::Aws => 0x0041_5753,
            Profile::Chaos => 0x43_4841_4f53,
        }
    }
}

/// The effective settings. A probability of 0, a zero duration or a limit of 0 switches that
/// knob off.
#[derive(Debug, Clone, PartialEq)]
pub struct Realism {
    pub profile: Profile,
    pub seed: u64,

    /// mqtt.html, "AWS IoT differences from MQTT specifications": "When a client subscribes to
    /// a topic, there might be a delay between the time the message broker sends a SUBACK and
    /// the time the client starts receiving new matching messages." A granted subscription
    /// matches nothing until this much after its SUBACK (re-subscribing an active filter keeps
    /// it active).
    pub activation_delay: Spread,
    /// Two connections of one client see a message at different times (network path, broker
    /// fan-out; aws-iot-authz.md §8 "Per-connection timing", an inference, not an AWS
    /// sentence): each connection draws a base delivery latency once, at CONNECT.
    pub delivery_latency: Spread,
    /// Added per delivery, uniform in `[0, delivery_jitter]`; deliveries of one connection
    /// keep their order (reordering is its own knob).
    pub delivery_jitter: Duration,
    /// mqtt.html: QoS 0 "means a message is delivered zero or more times": the probability a
    /// QoS 0 delivery is sent twice.
    pub qos0_duplicate: f64,
    /// ... and the probability it is not sent at all.
    pub qos0_drop: f64,
    /// mqtt.html: "On rare occasions, the message broker might resend the same logical
    /// PUBLISH message with a different packet ID" (the DUP flag is not supported): the
    /// probability a QoS 1 delivery is sent again, with a new packet id and DUP = 0, after
    /// `redelivery_delay`.
    pub qos1_redelivery: f64,
    pub redelivery_delay: Spread,
    /// mqtt.html (differences list): the broker does not guarantee the order in which
    /// messages and ACKs are received. The probability an ack or a delivery is held back
    /// until the connection's next outbound packet has gone (or `reorder_window` passed).
    pub reorder: f64,
    pub reorder_window: Duration,
    /// Acks (PUBACK, SUBACK, UNSUBACK) that arrive after the client gave up on them: the
    /// probability an ack is delayed by `late_ack_delay` (everything else keeps flowing).
    pub late_ack: f64,
    pub late_ack_delay: Spread,
    /// AWS-authored SDK changes (aws-iot-device-sdk-embedded-C PR 1108: "AWS IoT can reject a
    /// subscription request due to throttling"; aws-c-mqtt PR 170: "broker can fail a subscribe
    /// with 0x80 return in SUBACK"): the probability one topic filter is refused as throttled
    /// — MQTT 3.1.1 SUBACK 0x80 (the connection stays), MQTT 5 SUBACK 0x97 Quota exceeded.
    pub subscribe_throttle: f64,
    /// Account-wide inbound publishes per second (AWS quota, 2019 default 20,000, adjustable;
    /// `PublishIn.Throttle`). Excess: MQTT 5 PUBACK 0x97 (QoS 0 dropped); MQTT 3.1.1 "Publish
    /// requests exceeding that limit will be discarded" (no PUBACK). 0: no limit.
    pub account_publishes_per_second: u32,
    /// Account-wide topic filters subscribed per second (2019 default 500; "This message is
    /// swallowed in the client sdk", aws-iot-device-sdk-js#116). Excess filters are throttled
    /// like `subscribe_throttle`. 0: no limit.
    pub account_subscriptions_per_second: u32,
    /// device-shadow-error-messages.html: `.../rejected` with 400, 401, 403, 404 ("Thing not
    /// found"), 409, 413, 415, 429 ("more than 10 in-flight requests on a single connection"),
    /// 500 ("Internal service failure"). The probability a shadow request is rejected with
    /// one of `shadow_rejection_codes` (drawn uniformly) instead of being served.
    pub shadow_rejection: f64,
    pub shadow_rejection_codes: Vec<u16>,
    /// mqtt.html, "MQTT retained messages": "You can't publish to a reserved topic with the
    /// RETAIN flag set." Refused as a topic error: MQTT 5 PUBACK 0x90, MQTT 3.1.1 close
    /// (the wire form is UNCONFIRMED).
    pub retain_reserved_refused: bool,
    /// Same section: at the account's retained-message maximum "AWS IoT Core returns a
    /// throttled response to messages published with RETAIN set and payloads greater than 0
    /// bytes" — MQTT 5 PUBACK 0x97, MQTT 3.1.1 discarded. 0: no limit.
    pub max_retained: usize,
    /// Message-broker quotas (aws-facts.md §B.1): at most 7 slashes in a topic or filter ...
    /// (MQTT 5: PUBACK 0x90 / SUBACK 0x8F; MQTT 3.1.1: close). 0: no limit.
    pub topic_slashes: usize,
    /// ... at most 256 bytes of UTF-8 in a topic or filter (same reaction). 0: no limit.
    pub topic_bytes: usize,
    /// "A single SUBSCRIBE request is limited a maximum of eight subscriptions": MQTT 3.1.1
    /// field reports show no SUBACK and the connection dropped (aws-iot-device-sdk-embedded-C
    /// #1903); MQTT 5 is UNCONFIRMED — SUBACK 0x97 for every filter (or, randomized,
    /// DISCONNECT 0x97). 0: no limit.
    pub filters_per_subscribe: usize,
    /// 50 subscriptions per connection: filters beyond it get MQTT 3.1.1 SUBACK 0x80 with the
    /// connection kept (aws-greengrass-lite#1176, shamblett/mqtt_client#368), MQTT 5 0x97.
    /// 0: no limit.
    pub subscriptions_per_connection: usize,
    /// Client ids are 1..=N bytes of UTF-8 (AWS: 128); longer ones get MQTT 5 CONNACK 0x85,
    /// MQTT 3.1.1 a close. Also 128 with realism off (the lab always enforced it).
    pub client_id_bytes: usize,
    /// protocols.html / limits: a SigV4 websocket connection lasts at most 24 h; "If the limit
    /// is exceeded, the WebSocket connection is automatically closed when an attempt is made to
    /// send a message by the client or server." Drawn per connection; zero: no cap beyond
    /// `Limits::max_connection`.
    pub connection_lifetime: Spread,
    /// life-cycle-events.html `SERVER_INITIATED_DISCONNECT` ("deliberately disconnects the
    /// client for operational reasons", e.g. maintenance) and `DUPLICATE_CLIENTID`: the
    /// probability a connection is ended by the server at a time drawn from
    /// `server_disconnect_after`, with an MQTT 5 DISCONNECT code drawn from
    /// `server_disconnect_codes` (3.1.1: a close).
    pub server_disconnect: f64,
    pub server_disconnect_after: Spread,
    pub server_disconnect_codes: Vec<u8>,
    /// life-cycle-events.html `DUPLICATE_CLIENTID` and mqtt.html ("the new client connection
    /// is accepted and the previously connected client is disconnected"): the
    /// probability another process connects with this connection's client id at a time
    /// drawn from `takeover_after` — the connection is ended as by `/takeover` (MQTT 5
    /// DISCONNECT 0x8E Session taken over, 3.1.1 a close) and the id is held elsewhere until
    /// the client connects again.
    pub takeover: f64,
    pub takeover_after: Spread,
    /// Where AWS's reaction is UNCONFIRMED between candidates (MQTT 5 over-quota SUBSCRIBE:
    /// SUBACK 0x97 or DISCONNECT 0x97; topic errors: PUBACK 0x90 or DISCONNECT 0x90), draw one
    /// per event instead of always taking the first.
    pub randomize_unconfirmed: bool,
}

/// AWS IoT's client-id limit (message-broker quotas): the lab enforced it before realism.
pub const AWS_CLIENT_ID_BYTES: usize = 128;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

impl Realism {
    /// Today's lab: every knob off.
    pub fn off() -> Realism {
        Realism {
            profile: Profile::Off,
            seed: Profile::Off.default_seed(),
            activation_delay: Spread::ZERO,
            delivery_latency: Spread::ZERO,
            delivery_jitter: Duration::ZERO,
            qos0_duplicate: 0.0,
            qos0_drop: 0.0,
            qos1_redelivery: 0.0,
            redelivery_delay: Spread::ZERO,
            reorder: 0.0,
            reorder_window: Duration::ZERO,
            late_ack: 0.0,
            late_ack_delay: Spread::ZERO,
            subscribe_throttle: 0.0,
            account_publishes_per_second: 0,
            account_subscriptions_per_second: 0,
            shadow_rejection: 0.0,
            shadow_rejection_codes: Vec::new(),
            retain_reserved_refused: false,
            max_retained: 0,
            topic_slashes: 0,
            topic_bytes: 0,
            filters_per_subscribe: 0,
            subscriptions_per_connection: 0,
            client_id_bytes: AWS_CLIENT_ID_BYTES,
            connection_lifetime: Spread::ZERO,
            server_disconnect: 0.0,
            server_disconnect_after: Spread::ZERO,
            server_disconnect_codes: Vec::new(),
            takeover: 0.0,
            takeover_after: Spread::ZERO,
            randomize_unconfirmed: false,
        }
    }

    /// AWS's documented behaviours; magnitudes AWS does not publish are estimates
    /// (docs/realism.md gives each one's reasoning).
    pub fn aws() -> Realism {
        Realism {
            profile: Profile::Aws,
            seed: Profile::Aws.default_seed(),
            // estimate: propagation of the same order as a SUBSCRIBE→SUBACK round trip
            // (~170 ms in a field log), with a rare tail.
            activation_delay: Spread::range(Duration::ZERO, ms(500)).with_tail(0.01, secs(2)),
            // estimate: two in-region client↔broker legs plus fan-out.
            delivery_latency: Spread::range(ms(20), ms(150)).with_tail(0.01, secs(1)),
            delivery_jitter: ms(30),
            // estimate: AWS calls these "rare"; 0.1 % exercises them in a few thousand messages.
            qos0_duplicate: 0.001,
            qos0_drop: 0.001,
            qos1_redelivery: 0.001,
            redelivery_delay: Spread::range(Duration::ZERO, ms(500)),
            // estimate: 1 % of packets overtaken, within 200 ms.
            reorder: 0.01,
            reorder_window: ms(200),
            // estimate: an ack slower than a typical 10 s client timeout is very rare.
            late_ack: 0.0005,
            late_ack_delay: Spread::range(secs(5), secs(15)),
            // estimate: throttling is real (AWS SDK changes) but rare below the quotas.
            subscribe_throttle: 0.001,
            // documented 2019 defaults (adjustable).
            account_publishes_per_second: 20_000,
            account_subscriptions_per_second: 500,
            // estimate: 429 needs > 10 in-flight requests, 500 is an internal failure.
            shadow_rejection: 0.001,
            shadow_rejection_codes: vec![429, 500],
            retain_reserved_refused: true,
            // estimate: no stored source gives the number.
            max_retained: 500_000,
            topic_slashes: 7,
            topic_bytes: 256,
            filters_per_subscribe: 8,
            subscriptions_per_connection: 50,
            client_id_bytes: AWS_CLIENT_ID_BYTES,
            connection_lifetime: Spread::fixed(secs(24 * 3600)),
            // estimate: maintenance disconnects are rare.
            server_disconnect: 0.001,
            server_disconnect_after: Spread::range(secs(60), secs(24 * 3600)),
            server_disconnect_codes: vec![0x8B, 0x98],
            // Off: only another client of the account using the same id causes it (the
            // `/takeover` admin call or this knob reproduce it on demand).
            takeover: 0.0,
            takeover_after: Spread::ZERO,
            randomize_unconfirmed: false,
        }
    }

    /// Every knob on, amplified, and the UNCONFIRMED reactions randomized.
    pub fn chaos() -> Realism {
        Realism {
            profile: Profile::Chaos,
            seed: Profile::Chaos.default_seed(),
            activation_delay: Spread::range(Duration::ZERO, secs(2)).with_tail(0.1, secs(5)),
            delivery_latency: Spread::range(Duration::ZERO, ms(1500)).with_tail(0.1, secs(3)),
            delivery_jitter: ms(500),
            qos0_duplicate: 0.05,
            qos0_drop: 0.05,
            qos1_redelivery: 0.05,
            redelivery_delay: Spread::range(Duration::ZERO, secs(2)),
            reorder: 0.1,
            reorder_window: secs(1),
            late_ack: 0.05,
            late_ack_delay: Spread::range(secs(1), secs(15)),
            subscribe_throttle: 0.05,
            account_publishes_per_second: 200,
            account_subscriptions_per_second: 50,
            shadow_rejection: 0.05,
            // 401/403 are left out: a random refusal of a request the policy allows would be
            // a denial the lab made up; tests switch them on per knob.
            shadow_rejection_codes: vec![404, 429, 500],
            retain_reserved_refused: true,
            max_retained: 100,
            topic_slashes: 7,
            topic_bytes: 256,
            filters_per_subscribe: 8,
            subscriptions_per_connection: 25,
            client_id_bytes: AWS_CLIENT_ID_BYTES,
            connection_lifetime: Spread::range(secs(20), secs(120)),
            server_disconnect: 0.05,
            server_disconnect_after: Spread::range(secs(1), secs(60)),
            server_disconnect_codes: vec![0x8B, 0x8E, 0x98],
            takeover: 0.05,
            takeover_after: Spread::range(secs(1), secs(60)),
            randomize_unconfirmed: true,
        }
    }

    pub fn of_profile(profile: Profile) -> Realism {
        match profile {
            Profile::Off => Realism::off(),
            Profile::Aws => Realism::aws(),
            Profile::Chaos => Realism::chaos(),
        }
    }

    /// Whether the lab behaves exactly as without realism (the sessions skip every step).
    pub fn is_off(&self) -> bool {
        let mut off = Realism::off();
        off.profile = self.profile;
        off.seed = self.seed;
        *self == off
    }

    /// Whether outbound packets need scheduling (some delay, drop, duplicate or hold).
    pub fn shapes_outbound(&self) -> bool {
        !self.delivery_latency.is_zero()
            || !self.delivery_jitter.is_zero()
            || self.qos0_duplicate > 0.0
            || self.qos0_drop > 0.0
            || self.qos1_redelivery > 0.0
            || self.reorder > 0.0
            || self.late_ack > 0.0
    }
}

impl Default for Realism {
    fn default() -> Self {
        Realism::off()
    }
}
