//! Observability: Prometheus metrics rendered from the results store, and the HTTP surface
//! (`/metrics`, `/healthz`, `/readyz`).

pub mod http;
pub mod metrics;
