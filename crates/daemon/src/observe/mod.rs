//! Observability: the HTTP surface (`/metrics` in the format the scraper asks for, `/healthz`,
//! `/readyz`, the status page; rendered by the core from the results store) and the standard
//! process metrics.

pub mod healthcheck;
pub mod http;
pub mod process;
pub mod web;
