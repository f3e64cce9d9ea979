//! Alerting: a pure state machine decides *what* to say (fire, repeat, resolve) from each
//! canary's standing; small notifiers decide *how* it looks on the wire (one file each behind
//! [`notifier::Notifier`]); delivery queues and retries it without ever blocking the prober.
//!
//! Wiring (done by the daemon): build an [`AlertState`] from [`config::AlertingConfig`], a
//! [`delivery::Dispatcher`] from the `[[notifier]]` tables; after every verdict call
//! [`AlertState::observe`] and hand the notifications to [`delivery::Dispatcher::submit`].
//! `Dispatcher::stats()` feeds `iot_canary_alerts_sent_total{notifier, result}`.

pub mod alertmanager;
pub mod backoff;
pub mod config;
pub mod delivery;
pub mod http;
pub mod notifier;
pub mod queue;
pub mod secret;
pub mod slack;
pub mod state;
pub mod stats;
pub mod webhook;

pub use state::{Alert, AlertKind, AlertState, Notification, NotificationKind, Observation};
pub use stats::{AlertStats, NotifierStats};

#[cfg(test)]
mod test_support;
