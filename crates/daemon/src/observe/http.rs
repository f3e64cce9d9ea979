//! `/metrics`, `/healthz`, `/readyz` and the status page at `/` over axum; handlers only read
//! the daemon's live state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use iot_canary_core::render::metrics::Format;

use crate::daemon::live::Live;

/// Status page refresh (meta refresh, no script).
const PAGE_REFRESH_SECS: u32 = 15;

pub fn router(live: Arc<Live>) -> Router {
    Router::new()
        .route("/", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(live)
}

async fn metrics(State(l): State<Arc<Live>>, headers: HeaderMap) -> Response {
    // Several Accept fields mean the same as one joined by commas (RFC 9110 §5.3).
    let accept: Vec<&str> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let format = negotiate(&accept.join(","));
    match l.metrics(format) {
        Ok(body) => (
            [(CONTENT_TYPE, format.content_type()), (VARY, "Accept")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering /metrics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()
        }
    }
}

/// What a media range in Accept can name: the text format, then OpenMetrics.
struct Offer {
    kind: &'static str,
    subtype: &'static str,
    version: &'static str,
}

const OFFERS: [Offer; 2] = [
    Offer {
        kind: "text",
        subtype: "plain",
        version: "0.0.4",
    },
    Offer {
        kind: "application",
        subtype: "openmetrics-text",
        version: "1.0.0",
    },
];

impl Offer {
    /// How specifically a media range names this offer (higher is more specific), or `None`
    /// if it does not: `*/*` < `type/*` < `type/subtype` < `type/subtype;version=V`.
    fn specificity(&self, kind: &str, subtype: &str, version: Option<&str>) -> Option<u8> {
        if kind == "*" && subtype == "*" {
            return Some(1);
        }
        if !kind.eq_ignore_ascii_case(self.kind) {
            return None;
        }
        if subtype == "*" {
            return Some(2);
        }
        if !subtype.eq_ignore_ascii_case(self.subtype) {
            return None;
        }
        match version {
            None => Some(3),
            Some(v) if v == self.version => Some(4),
            Some(_) => None,
        }
    }
}

/// The exposition to answer an `Accept` header with (RFC 9110 §12.5.1): each offer takes the
/// q-value of the most specific range naming it; the higher q wins, then the more specific
/// range, then the text format, which is also the answer when nothing acceptable is offered
/// (a scraper is better served by text than by a 406).
fn negotiate(accept: &str) -> Format {
    // (q, specificity) per offer; specificity 0: no range named it.
    let mut best = [(0.0_f32, 0_u8); OFFERS.len()];
    for range in accept.split(',') {
        let mut params = range.split(';').map(str::trim);
        let Some((kind, subtype)) = params.next().and_then(|m| m.split_once('/')) else {
            continue;
        };
        let (kind, subtype) = (kind.trim(), subtype.trim());
        let (mut q, mut version, mut valid) = (1.0_f32, None, true);
        for p in params {
            let Some((key, value)) = p.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "q" => match value.parse::<f32>() {
                    Ok(v) if (0.0..=1.0).contains(&v) => q = v,
                    _ => valid = false,
                },
                "version" => version = Some(value),
                // Others (charset, escaping, encoding, ...) do not change what we can send.
                _ => {}
            }
        }
        if !valid {
            continue;
        }
        for (offer, best) in OFFERS.iter().zip(best.iter_mut()) {
            if let Some(s) = offer.specificity(kind, subtype, version)
                && (s > best.1 || (s == best.1 && q > best.0))
            {
                *best = (q, s);
            }
        }
    }
    let [text, open] = best;
    if open.0 > 0.0 && (open.0 > text.0 || (open.0 == text.0 && open.1 > text.1)) {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

async fn status(State(l): State<Arc<Live>>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        l.status_page(SystemTime::now(), PAGE_REFRESH_SECS),
    )
}

async fn ready(State(l): State<Arc<Live>>) -> impl IntoResponse {
    match l.not_ready(SystemTime::now()) {
        None => (StatusCode::OK, "ready\n".to_string()),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

/// Binds `addr` and serves the live state in the background; returns the bound address.
pub async fn serve_live(addr: SocketAddr, live: Arc<Live>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(live);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::daemon::alerting::Alerting;
    use crate::daemon::store::Store;
    use iot_canary_core::config;

    /// What Prometheus servers send (2.42 as in Debian 12; 3.x adds `escaping` and, by default,
    /// prefers OpenMetrics 1.0.0 too).
    const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

    #[test]
    fn accept_header_negotiation() {
        use Format::{OpenMetrics as Om, Text};
        for (accept, want) in [
            (PROMETHEUS_2, Om),
            (PROMETHEUS_3, Om),
            // Prometheus told to scrape text only (scrape_protocols: [PrometheusText0.0.4]).
            ("text/plain;version=0.0.4;q=0.5,*/*;q=0.1", Text),
            ("", Text),
            ("*/*", Text),
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                Text,
            ),
            ("application/openmetrics-text", Om),
            ("Application/OpenMetrics-Text; Version=\"1.0.0\"", Om),
            ("application/*", Om),
            ("text/*", Text),
            // Only a version we do not write: text is acceptable through nothing, but it is
            // still the fallback.
            ("application/openmetrics-text;version=0.0.1", Text),
            // q decides, then specificity; q=0 excludes.
            ("text/plain;q=0.2, application/openmetrics-text;q=0.3", Om),
            ("text/plain;q=0.9, application/openmetrics-text;q=0.3", Text),
            ("application/openmetrics-text;version=1.0.0, */*", Om),
            ("application/openmetrics-text;q=0, */*", Text),
            ("*/*, application/openmetrics-text;q=0", Text),
            ("application/openmetrics-text;q=0", Text),
            // Malformed q: the range is ignored.
            (
                "application/openmetrics-text;q=high, text/plain;q=0.1",
                Text,
            ),
            ("application/openmetrics-text;q=2", Text),
            ("nonsense, ,;;, application/openmetrics-text", Om),
        ] {
            assert_eq!(negotiate(accept), want, "{accept:?}");
        }
    }

    async fn scrape(addr: SocketAddr, accept: Option<&str>) -> (String, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let accept = accept
            .map(|a| format!("Accept: {a}\r\n"))
            .unwrap_or_default();
        s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: x\r\n{accept}\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.0 200"), "{head}");
        let content_type = head
            .lines()
            .find_map(|l| l.strip_prefix("content-type: "))
            .unwrap()
            .to_string();
        (content_type, body.to_string())
    }

    /// `# TYPE` lines as family name → type.
    fn types(exposition: &str) -> BTreeMap<String, String> {
        exposition
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| {
                let (name, kind) = l.split_once(' ').unwrap();
                (name.to_string(), kind.to_string())
            })
            .collect()
    }

    /// Every metric of the interface (docs/architecture.md, README "Metrics"): the series name
    /// as queried in Prometheus, its type in the text format, and its family name and type in
    /// OpenMetrics. Renaming or retyping any of them must fail here.
    type Pin = (&'static str, &'static str, &'static str, &'static str);
    const INTERFACE: [Pin; 23] = [
        ("iot_canary_breach", "gauge", "iot_canary_breach", "gauge"),
        ("iot_canary_verdict", "gauge", "iot_canary_verdict", "gauge"),
        (
            "iot_canary_probes_total",
            "counter",
            "iot_canary_probes",
            "counter",
        ),
        (
            "iot_canary_inconclusive_total",
            "counter",
            "iot_canary_inconclusive",
            "counter",
        ),
        (
            "iot_canary_control_ok",
            "gauge",
            "iot_canary_control_ok",
            "gauge",
        ),
        (
            "iot_canary_probe_duration_seconds",
            "histogram",
            "iot_canary_probe_duration_seconds",
            "histogram",
        ),
        (
            "iot_canary_last_verdict_timestamp_seconds",
            "gauge",
            "iot_canary_last_verdict_timestamp_seconds",
            "gauge",
        ),
        (
            "iot_canary_blind_since_timestamp_seconds",
            "gauge",
            "iot_canary_blind_since_timestamp_seconds",
            "gauge",
        ),
        (
            "iot_canary_schedule_interval_seconds",
            "gauge",
            "iot_canary_schedule_interval_seconds",
            "gauge",
        ),
        (
            "iot_canary_round_last_completed_timestamp_seconds",
            "gauge",
            "iot_canary_round_last_completed_timestamp_seconds",
            "gauge",
        ),
        (
            "iot_canary_credentials_expiry_timestamp_seconds",
            "gauge",
            "iot_canary_credentials_expiry_timestamp_seconds",
            "gauge",
        ),
        (
            "iot_canary_credential_failures_total",
            "counter",
            "iot_canary_credential_failures",
            "counter",
        ),
        (
            "iot_canary_config_last_reload_successful",
            "gauge",
            "iot_canary_config_last_reload_successful",
            "gauge",
        ),
        (
            "iot_canary_coverage_ratio",
            "gauge",
            "iot_canary_coverage_ratio",
            "gauge",
        ),
        (
            "iot_canary_alerts_sent_total",
            "counter",
            "iot_canary_alerts_sent",
            "counter",
        ),
        ("iot_canary_build_info", "gauge", "iot_canary_build", "info"),
        (
            "process_start_time_seconds",
            "gauge",
            "process_start_time_seconds",
            "gauge",
        ),
        (
            "process_cpu_seconds_total",
            "counter",
            "process_cpu_seconds",
            "counter",
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "process_resident_memory_bytes",
            "gauge",
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "process_virtual_memory_bytes",
            "gauge",
        ),
        ("process_open_fds", "gauge", "process_open_fds", "gauge"),
        ("process_max_fds", "gauge", "process_max_fds", "gauge"),
        ("process_threads", "gauge", "process_threads", "gauge"),
    ];

    /// Process metrics other than the start time exist only where /proc does.
    fn expected(pick: impl Fn(&Pin) -> (&'static str, &'static str)) -> BTreeMap<String, String> {
        INTERFACE
            .iter()
            .filter(|m| {
                cfg!(target_os = "linux")
                    || !m.0.starts_with("process_")
                    || m.0 == "process_start_time_seconds"
            })
            .map(|m| {
                let (name, kind) = pick(m);
                (name.to_string(), kind.to_string())
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_interface_metric_in_both_formats_by_negotiation() {
        let src =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../canaries.toml"))
                .unwrap();
        // A notifier, so that the alerts-sent series exist.
        let src = format!(
            "{src}\n[[notifier]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n"
        );
        let cfg = config::parse(std::path::Path::new("canaries.toml"), &src).unwrap();
        let notifiers = config::resolve_notifiers(&cfg, &|_| None).unwrap();
        let alerting = Arc::new(Alerting::start(&cfg, &notifiers).unwrap());
        let live = Arc::new(Live::new(
            Arc::new(cfg),
            Arc::new(Store::default()),
            alerting,
        ));
        // What `run` sets from the config's `[coverage]` world.
        live.set_coverage(Some(0.5));
        let addr = serve_live("127.0.0.1:0".parse().unwrap(), live)
            .await
            .unwrap();

        let (ct, text) = scrape(addr, None).await;
        assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
        assert_eq!(types(&text), expected(|m| (m.0, m.1)), "{text}");
        assert!(!text.contains("# EOF"));

        for accept in [PROMETHEUS_2, PROMETHEUS_3] {
            let (ct, om) = scrape(addr, Some(accept)).await;
            assert_eq!(
                ct,
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            );
            assert_eq!(types(&om), expected(|m| (m.2, m.3)), "{om}");
            assert!(om.ends_with("\n# EOF\n"), "{om}");
        }
        let (_, om) = scrape(addr, Some(PROMETHEUS_2)).await;

        // Both carry the same series names (histograms as their _bucket series).
        for (series, text_type, ..) in INTERFACE {
            if !expected(|m| (m.0, m.1)).contains_key(series) {
                continue;
            }
            let sample = if text_type == "histogram" {
                format!("{series}_bucket{{")
            } else {
                series.to_string()
            };
            for body in [&text, &om] {
                assert!(
                    body.lines().any(|l| l.starts_with(&sample)
                        && l[sample.len()..].starts_with([' ', '{'])
                        || sample.ends_with('{') && l.starts_with(&sample)),
                    "no `{sample}` sample in\n{body}"
                );
            }
        }
    }
}
