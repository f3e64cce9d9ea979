//! Pure renderers over a results snapshot: the Prometheus exposition and the status page.

pub mod metrics;
pub mod status_page;
