//! iot-canary: proves AWS IoT Core authorization stays tight.
//!
//! The decision logic (policy evaluation, verdict classification, config validation) is pure;
//! the daemon, the lab and the HTTP surfaces are thin IO around it.

pub mod alert;
pub mod config;
pub mod daemon;
pub mod exit;
pub mod identity;
/// The emulator lives in its own crate.
pub use iot_canary_lab as lab;
pub mod logging;
pub mod mqtt;
pub mod observe;
/// The policy engine lives in its own crate; this path stays for the modules that still use it.
pub mod policy {
    pub use iot_canary_policy::*;
}
pub mod probe;
pub mod report;
pub mod simulate;
pub mod sigv4;
pub mod verdict;
