//! Alerting, the pure half: a state machine decides *what* to say (fire, repeat, resolve) from
//! each canary's standing, and small notifiers decide *how* it looks on the wire (one file each
//! behind [`notifier::Notifier`]). Queueing, HTTP and retries live in the daemon.

pub mod alertmanager;
pub mod notifier;
pub mod slack;
pub mod state;
pub mod stats;
pub mod webhook;

pub use state::{Alert, AlertKind, AlertState, CanaryResult, Notification, NotificationKind};
pub use stats::{AlertStats, NotifierStats};

#[cfg(test)]
mod test_support;
