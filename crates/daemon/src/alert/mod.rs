//! Alert delivery: a bounded queue per notifier and delivery with backoff that never blocks
//! the prober. What to say and how it looks is decided in `iot_canary_core::alert`.
//!
//! Wiring (done by the daemon): build an `AlertState` from `[alerting]`, a
//! [`delivery::Dispatcher`] from the `[[notifier]]` tables; after every verdict call
//! `AlertState::observe` and hand the notifications to [`delivery::Dispatcher::submit`].
//! `Dispatcher::stats()` feeds `iot_canary_alerts_sent_total{notifier, result}`.

pub mod backoff;
pub mod delivery;
pub mod http;
pub mod queue;
