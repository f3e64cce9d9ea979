//! Lookups in Prometheus text exposition (what /metrics serves).

/// Value of the first line of `series` (exact name and labels), if present.
pub fn value(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
