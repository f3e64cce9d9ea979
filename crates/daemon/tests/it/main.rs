//! The daemon's library-level integration tests, one binary: rounds, the probe matrix, faults,
//! identity providers against the lab's STS/Cognito/vending, the service loop with its HTTP
//! surface, alert delivery (HTTP, HTTPS) and metrics under load. They drive the daemon's API
//! against the in-process lab (iot-canary-testkit); tests of the built binary live in the
//! root package's `it`.

mod alert_delivery;
mod alert_https;
mod faults;
mod honesty;
mod matrix;
mod metrics_load;
mod probes;
mod providers;
mod run;
mod support;
