//! The daemon's HTTP endpoints: `/` (the status page), `/metrics`, `/healthz`, `/readyz`,
//! `/status`, `POST /v1/usage`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::Shared;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(page))
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

/// Ready once the first pass is done and it fingerprinted every registered prompt under at
/// least one tokenizer; otherwise 503 saying why (prompt ids only, never text).
async fn readyz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    if !s.ready.is_ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: first evaluation pass not done\n".to_string(),
        );
    }
    let st = s.status();
    if st.unfingerprinted.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: no fingerprint for {} of {} prompts ({}); see /status last_evaluation_errors\n",
                st.unfingerprinted.len(),
                s.generation.borrow().analyzer.prompts.len(),
                st.unfingerprinted.join(", ")
            ),
        )
    }
}

/// The status document: prompt ids, fingerprints, groups and targets, so it follows the same
/// token rule as `/v1/usage` when a token is configured.
async fn status(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = s.generation.borrow().ingest.token.clone();
    if !super::auth::authorized(&headers, token.as_deref()) {
        return super::auth::unauthorized();
    }
    axum::Json(s.status()).into_response()
}

/// The status page: the `/status` document as HTML, under the same token rule, with headers
/// that let a browser load nothing else, run nothing, frame nothing and keep nothing.
async fn page(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = s.generation.borrow().ingest.token.clone();
    if !super::auth::authorized(&headers, token.as_deref()) {
        return super::auth::unauthorized();
    }
    let body = super::status_page::render(&s.status(), crate::clock::Clock::system().unix());
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, super::status_page::CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}
