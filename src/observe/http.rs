//! `/metrics`, `/healthz`, `/readyz` over axum; handlers only read the results store.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::config::Config;
use crate::daemon::Store;

#[derive(Clone)]
struct AppState {
    config: Arc<Config>,
    store: Arc<Store>,
}

pub fn router(config: Arc<Config>, store: Arc<Store>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(AppState { config, store })
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        super::metrics::render(&s.config, &s.store.snapshot()),
    )
}

async fn ready(State(s): State<AppState>) -> impl IntoResponse {
    if s.store.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "no round completed yet\n")
    }
}

/// Binds `addr` and serves in the background; returns the bound address (port 0 allowed).
pub async fn serve(
    addr: SocketAddr,
    config: Arc<Config>,
    store: Arc<Store>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(config, store);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok(local)
}
