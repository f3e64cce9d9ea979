//! The daemon's library-level integration tests, one binary: rounds, the probe matrix, faults,
//! identity providers against the lab's STS/Cognito/vending, the service loop with its HTTP
//! surface (and behind a web config file: TLS, basic auth, client certificates), alert delivery
//! (HTTP, HTTPS), metrics under load, the honesty field reports (verdicts through
//! per-connection latency) and one round per realism knob. They drive the daemon's API
//! against the in-process lab (iot-canary-testkit); tests of the built binary live in the
//! root package's `it`.

mod alert_delivery;
mod alert_https;
mod doors;
mod faults;
mod field_reports;
mod honesty;
mod matrix;
mod metrics_load;
mod probes;
mod providers;
mod realism_knobs;
mod role_paths;
mod run;
mod srp_sign_in;
mod support;
mod trigger;
mod web_auth;
