//! Endpoints about the service itself: liveness, readiness, and its OpenAPI document.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::IntoResponse,
    routing::get,
    Json, Router,
};
use serde_json::json;

use crate::{error::ApiError, state::AppState};

/// The document is compiled in, so the served contract always matches the running binary.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

/// `with_metrics`: whether `/metrics` is on the public port too (it is not when the operator
/// gave it a listener of its own, `METRICS_ADDR`).
pub fn router(with_metrics: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz))
        .route("/api/limits", get(limits))
        .route("/openapi.yaml", get(|| async { ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML) }));
    if with_metrics {
        router.merge(metrics_router())
    } else {
        router.route("/metrics", get(crate::web::api_not_found))
    }
}

/// What a client should know before it sends: the longest text and the largest GIF this
/// server takes (both set by the operator), so a composer can count down to the limit instead
/// of learning it from a 422.
async fn limits(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "message_chars": state.config.max_message_chars, "upload_bytes": state.config.max_upload_bytes }))
}

/// `/metrics` alone, for its own listener.
pub fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Prometheus text format.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], state.metrics.render())
}

async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    state.store.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness check failed");
        ApiError::Unavailable
    })?;
    Ok((StatusCode::OK, Json(json!({ "status": "ready" }))))
}
