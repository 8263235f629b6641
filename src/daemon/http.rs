//! The daemon's HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, `/status`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::Shared;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route(
            "/v1/usage",
            axum::routing::post(super::ingest::post_usage).layer(
                axum::extract::DefaultBodyLimit::max(super::ingest::BODY_LIMIT),
            ),
        )
        .with_state(shared)
}

async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

async fn readyz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    if s.ready.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: first evaluation pass not done\n",
        )
    }
}

async fn status(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    axum::Json(s.status())
}
