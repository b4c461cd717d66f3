//! `GET /metrics` on the metrics listener (`EGX_METRICS_LISTEN`): the
//! Prometheus text exposition of [`crate::metrics::Metrics`] and the audit
//! counters. Not routed on the public listener at all.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

/// The content type Prometheus scrapers expect for the text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn serve(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, TEXT_FORMAT), (header::CACHE_CONTROL, "no-store")], state.metrics.render(&state.db).await)
}
