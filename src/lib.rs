//! iot-canary: proves AWS IoT Core authorization stays tight.
//!
//! The root package is the CLI (`src/main.rs`), the `demo` wiring and `simulate`; the work is
//! done by the workspace's crates, re-exported here under the paths the tests and tools use.

pub use iot_canary_core::{
    alert as alert_core, config, credentials, evidence, exit, plan, render, report, secret, store,
    units, verdict,
};
pub use iot_canary_daemon::{alert, daemon, identity, logging, mqtt, observe, probe, sigv4};
pub use iot_canary_lab as lab;
pub use iot_canary_policy as policy;
pub mod simulate;
