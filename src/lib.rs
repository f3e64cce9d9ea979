//! iot-canary: proves AWS IoT Core authorization stays tight.
//!
//! The root package is the CLI (`src/main.rs`), the `demo` wiring and `simulate`; the work is
//! done by the workspace's crates (iot-canary-policy, -core, -lab, -daemon, -audit), which the
//! CLI, the tests, the benches and fuzz/ import directly.

pub mod simulate;
