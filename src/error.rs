//! The one error type of the HTTP layer. Every failure a client can see is an [`ApiError`],
//! written as `{"error": "<machine code>", "message": "<human sentence>"}`.
//!
//! | status | codes |
//! |--------|-------|
//! | 400 | `invalid_json`, `invalid_query`, `invalid_last_event_id`, `invalid_multipart` |
//! | 401 | `no_session` (the request carries no session cookie: `GET /api/me` first) |
//! | 403 | `not_a_member`, `wrong_password`, `not_owner`, `kicked`, `cross_origin` |
//! | 404 | `room_not_found`, `not_found` |
//! | 405 | `method_not_allowed` |
//! | 408 | `body_timeout` (the request body stalled) |
//! | 409 | `room_full` |
//! | 413 | `payload_too_large` |
//! | 415 | `unsupported_media_type`, `not_a_gif` |
//! | 422 | `invalid_body`, `invalid_title`, `invalid_max`, `invalid_password`, `invalid_name`, `invalid_text`, `invalid_gif`, `missing_file`, `not_in_room`, `invalid_user` |
//! | 429 | `rate_limited`, `too_many_sessions`, `too_many_attempts`, `upload_quota` (with `Retry-After`); `too_many_streams`, `too_many_connections` |
//! | 503 | `unavailable` (the database), `busy` (hashing or GIF checks all taken), both with `Retry-After` |
//! | 500 | `internal` (the cause is logged, never shown) |

use std::sync::Arc;

use axum::{
    extract::{rejection::JsonRejection, FromRequest, Request},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

use crate::{domain::Invalid, storage::StorageError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("this request carries no session: get one first with GET /api/me (it sets a cookie)")]
    NoSession,
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("this endpoint does not accept that method")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{0}")]
    TooLarge(String),
    #[error("{message}")]
    UnsupportedMediaType { code: &'static str, message: String },
    #[error("{}", .0.message)]
    Invalid(Invalid),
    #[error("{message}")]
    TooManyRequests { code: &'static str, message: String },
    /// A 429 that says when to come back.
    #[error("{message}; try again in {} s", retry_after_seconds(*.retry_after))]
    Throttled { code: &'static str, message: &'static str, retry_after: std::time::Duration },
    #[error("the request body stalled: no bytes arrived for too long")]
    BodyTimeout,
    #[error("the database is unavailable")]
    Unavailable,
    #[error("the server is busy with other uploads or passwords; try again shortly")]
    Busy,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn room_not_found() -> Self {
        Self::NotFound { code: "room_not_found", message: "there is no such room".into() }
    }

    /// Whether this says the room does not exist (as `room_not_found` builds it).
    pub fn is_room_not_found(&self) -> bool {
        matches!(self, Self::NotFound { code: "room_not_found", .. })
    }

    pub fn kicked() -> Self {
        Self::Forbidden { code: "kicked", message: "the owner removed you from this room".into() }
    }

    /// A 429 with `Retry-After`: `message` is completed with when to try again.
    pub fn throttled(code: &'static str, message: &'static str, retry_after: std::time::Duration) -> Self {
        Self::Throttled { code, message, retry_after }
    }

    pub fn not_owner() -> Self {
        Self::Forbidden { code: "not_owner", message: "only the room's owner can do that".into() }
    }

    pub fn not_a_member() -> Self {
        Self::Forbidden { code: "not_a_member", message: "join the room first (POST /api/rooms/{id}/join)".into() }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::NoSession => StatusCode::UNAUTHORIZED,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } | Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::UnsupportedMediaType { code, .. }
            | Self::TooManyRequests { code, .. }
            | Self::Throttled { code, .. } => code,
            Self::NoSession => "no_session",
            Self::BodyTimeout => "body_timeout",
            Self::Busy => "busy",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooLarge(_) => "payload_too_large",
            Self::Invalid(invalid) => invalid.code,
            Self::Unavailable => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

/// Whole seconds, rounded up, at least 1: what `Retry-After` carries.
fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: &'a str,
    message: String,
}

/// The cause of a 500, handed to `web::observe_errors` so it is logged once, in the request
/// span, while the client only sees "internal error".
#[derive(Clone)]
pub struct InternalCause(pub Arc<anyhow::Error>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope { error: self.code(), message: self.to_string() };
        let mut response = (self.status_code(), Json(body)).into_response();
        response.extensions_mut().insert(RefusedWith(self.code()));
        match self {
            Self::Unavailable | Self::Busy => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            Self::Throttled { retry_after, .. } => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds(retry_after)));
            }
            Self::BodyTimeout => {
                // The rest of the body may still come, or never: either way this connection is done.
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Self::Internal(cause) => {
                response.extensions_mut().insert(InternalCause(Arc::new(cause)));
            }
            _ => {}
        }
        response
    }
}

/// The machine code of a refused request, for the metrics.
#[derive(Clone, Copy)]
pub struct RefusedWith(pub &'static str);

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::Invalid(invalid)
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            // Handlers look rooms up before anything else, so a missing row is a missing room.
            StorageError::NotFound => Self::room_not_found(),
            StorageError::Unavailable(_) => Self::Unavailable,
            StorageError::Other(cause) => Self::Internal(cause),
        }
    }
}

/// `Json<T>` whose rejections use our envelope instead of axum's plain text.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<serde_json::Value>::from_request(request, state).await.map_err(json_rejection)?;
        object_body(value).map(Self)
    }
}

/// Like [`ApiJson`], for a body that may be left out: an empty body is `T::default()`, any
/// other must be JSON (with its content type) and is checked as `ApiJson` checks it.
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declares_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let ApiBytes(body) = ApiBytes::from_request(request, state).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if !declares_json {
            return Err(json_rejection_missing_content_type());
        }
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|err| ApiError::BadRequest {
            code: "invalid_json",
            message: format!("the body is not valid JSON: {err}"),
        })?;
        object_body(value).map(Self)
    }
}

fn json_rejection_missing_content_type() -> ApiError {
    ApiError::UnsupportedMediaType {
        code: "unsupported_media_type",
        message: "send the body as JSON with Content-Type: application/json".into(),
    }
}

/// Our bodies are JSON objects. serde would also fill a struct from an array, field by field
/// (`["cats", 10]` as a room), which no client means and the contract does not allow.
pub fn object_body<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::Invalid(Invalid::new("invalid_body", "the body must be a JSON object")));
    }
    serde_json::from_value(value).map_err(|err| ApiError::Invalid(Invalid::new("invalid_body", err.to_string())))
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => json_rejection_missing_content_type(),
        JsonRejection::JsonSyntaxError(err) => ApiError::BadRequest {
            code: "invalid_json",
            message: format!("the body is not valid JSON: {}", err.body_text()),
        },
        JsonRejection::JsonDataError(err) => ApiError::Invalid(Invalid::new("invalid_body", err.body_text())),
        JsonRejection::BytesRejection(rejection) => body_failure(&rejection)
            .unwrap_or_else(|| ApiError::BadRequest { code: "invalid_json", message: rejection.body_text() }),
        other => ApiError::BadRequest { code: "invalid_json", message: other.body_text() },
    }
}

/// What a failed body read means for the client, if it was the body's fault: too large (413)
/// or stalled (408, see `web::time_out_stalled_bodies`). `None` for anything else.
pub fn body_failure(error: &(dyn std::error::Error + 'static)) -> Option<ApiError> {
    let mut cause = Some(error);
    while let Some(err) = cause {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return Some(ApiError::BodyTimeout);
        }
        if err.is::<http_body_util::LengthLimitError>() {
            return Some(ApiError::TooLarge("the request body is too large".into()));
        }
        cause = err.source();
    }
    None
}

/// A raw body (`Bytes`) with our envelope on failure.
pub struct ApiBytes(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        bytes::Bytes::from_request(request, state).await.map(Self).map_err(|rejection| {
            body_failure(&rejection)
                .unwrap_or_else(|| ApiError::BadRequest { code: "invalid_body", message: rejection.body_text() })
        })
    }
}

/// `Query<T>` with our envelope (400 `invalid_query`).
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|rejection| ApiError::BadRequest { code: "invalid_query", message: rejection.body_text() })
    }
}
