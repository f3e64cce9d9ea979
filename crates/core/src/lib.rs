//! iot-canary's pure core: everything that decides, and nothing that waits on a socket.
//!
//! - [`config`]: the whole canaries.toml schema and its validation (targets, schedule,
//!   identities, canaries, alerting and notifiers), with [`units`] for every duration.
//! - [`verdict`]: the verdict vocabulary (verdicts, reasons, observations).
//! - [`evidence`]: what a probe saw, and how it is told to people.
//! - [`evidence_rules`]: what each observation proves under AWS IoT's timing and failure
//!   semantics (docs/evidence-rules.md).
//! - [`plan`]: which canaries a round runs, client ids, shards, jitter, the gate's exit code.
//! - [`store`]: the results store as plain data with pure update functions; [`state_file`]:
//!   what of it (and of the alert state) survives a restart, as versioned JSON.
//! - [`render`] and [`report`]: `/metrics` text, the status page, table / JSON / JUnit reports.
//! - [`alert`]: the alert state machine and the notifiers' payloads.
//!
//! No async runtime, no HTTP, MQTT or AWS crates: the daemon crate does the IO around it.

pub mod alert;
pub mod config;
pub mod credentials;
pub mod evidence;
pub mod evidence_rules;
pub mod exit;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_entry;
pub mod plan;
pub mod render;
pub mod report;
pub mod secret;
pub mod state_file;
pub mod store;
pub mod trigger;
pub mod units;
pub mod verdict;
