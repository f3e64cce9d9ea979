//! `/metrics`, `/healthz`, `/readyz` and the status page at `/` over axum; handlers only read
//! the daemon's live state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

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

async fn metrics(State(l): State<Arc<Live>>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        l.metrics(),
    )
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
