//! How often each knob actually fired since the lab started: `GET /realism` shows it, so an
//! end-to-end test can check a knob was exercised, not just switched on.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

/// One effect a knob can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A publish matched a subscription still inside its activation delay (not delivered).
    InactiveSubscription,
    /// A delivery was delayed by the connection's latency and jitter.
    Delayed,
    Qos0Duplicated,
    Qos0Dropped,
    Qos1Redelivered,
    Reordered,
    LateAck,
    SubscribeThrottled,
    PublishThrottled,
    ShadowRejected,
    RetainRefused,
    LimitRefused,
    LifetimeClosed,
    ServerDisconnect,
    TakenOver,
}

impl Applied {
    const ALL: [Applied; 15] = [
        Applied::InactiveSubscription,
        Applied::Delayed,
        Applied::Qos0Duplicated,
        Applied::Qos0Dropped,
        Applied::Qos1Redelivered,
        Applied::Reordered,
        Applied::LateAck,
        Applied::SubscribeThrottled,
        Applied::PublishThrottled,
        Applied::ShadowRejected,
        Applied::RetainRefused,
        Applied::LimitRefused,
        Applied::LifetimeClosed,
        Applied::ServerDisconnect,
        Applied::TakenOver,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Applied::InactiveSubscription => "inactive_subscription",
            Applied::Delayed => "delayed",
            Applied::Qos0Duplicated => "qos0_duplicated",
            Applied::Qos0Dropped => "qos0_dropped",
            Applied::Qos1Redelivered => "qos1_redelivered",
            Applied::Reordered => "reordered",
            Applied::LateAck => "late_ack",
            Applied::SubscribeThrottled => "subscribe_throttled",
            Applied::PublishThrottled => "publish_throttled",
            Applied::ShadowRejected => "shadow_rejected",
            Applied::RetainRefused => "retain_refused",
            Applied::LimitRefused => "limit_refused",
            Applied::LifetimeClosed => "lifetime_closed",
            Applied::ServerDisconnect => "server_disconnect",
            Applied::TakenOver => "taken_over",
        }
    }
}

/// Counters, one per [`Applied`].
#[derive(Debug, Default)]
pub struct Stats([AtomicU64; Applied::ALL.len()]);

impl Stats {
    pub fn count(&self, what: Applied) {
        self.0[what as usize].fetch_add(1, Ordering::Relaxed);
        tracing::debug!(realism = what.name(), "realism knob applied");
    }

    pub fn get(&self, what: Applied) -> u64 {
        self.0[what as usize].load(Ordering::Relaxed)
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for a in Applied::ALL {
            m.insert(a.name().into(), self.get(a).into());
        }
        Value::Object(m)
    }
}
