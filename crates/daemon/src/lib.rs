//! The iot-canary daemon: the IO around `iot_canary_core`.
//!
//! - [`identity`]: credential providers, one file per kind, behind a shared refreshing cache.
//! - [`sigv4`]: presigned websocket URLs; [`mqtt`]: one MQTT 3.1.1/5 session per connection,
//!   connection reuse and connect pacing.
//! - [`probe`]: one file per probe kind behind one `run()`.
//! - [`daemon`]: rounds, the one service loop (`run`, `once`, `demo` and the tests use it),
//!   systemd notifications.
//! - [`observe`]: the HTTP surface (`/metrics`, `/healthz`, `/readyz`, the status page).
//! - [`alert`]: notification queues and delivery with backoff.

pub mod alert;
pub mod daemon;
pub mod identity;
pub mod logging;
pub mod mqtt;
pub mod observe;
pub mod probe;
pub mod sigv4;
mod tls;
