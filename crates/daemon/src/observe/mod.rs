//! Observability: Prometheus metrics rendered from the results store, the HTTP surface
//! (`/metrics`, `/healthz`, `/readyz`) and the status page.

pub mod healthcheck;
pub mod http;
