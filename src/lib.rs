//! iot-canary: proves AWS IoT Core authorization stays tight.
//!
//! The root package is the CLI (`src/main.rs`), the `demo` wiring and `simulate`; the work is
//! done by the workspace's crates (iot-canary-policy, -core, -lab, -daemon), which the CLI and
//! the tests import directly.

pub mod simulate;

// Old paths still used by the cargo-fuzz targets (fuzz/), until they import the crates.
pub use iot_canary_core::config;
pub use iot_canary_daemon::mqtt;
pub use iot_canary_lab as lab;
pub use iot_canary_policy as policy;
