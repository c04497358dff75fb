//! Cross-cutting HTTP policy: security headers, the CSRF check, JSON 404/405 for the API, and
//! the static front-end.

use axum::{
    extract::{DefaultBodyLimit, Request},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    Router,
};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;

/// Browsers send `Origin` (and `Sec-Fetch-Site`) on cross-site writes; a cookie-authenticated
/// write that comes from another site is refused, whatever its content type (multipart and
/// form posts need no CORS preflight, so SameSite=Lax alone is not enough for older
/// browsers). Clients that send neither header (curl, scripts) are not browsers and carry
/// no ambient cookies of a victim.
///
/// WebSocket handshakes are GETs, but a room socket accepts chats and the browser attaches
/// the cookie to cross-site handshakes too (cross-site WebSocket hijacking), so they get the
/// same check.
pub async fn reject_cross_site_writes(request: Request, next: Next) -> Response {
    let is_write = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let is_upgrade = request.headers().contains_key(header::UPGRADE);
    if (is_write || is_upgrade) && is_cross_site(&request) {
        return ApiError::Forbidden {
            code: "cross_origin",
            message: "cross-site requests may not change anything".into(),
        }
        .into_response();
    }
    next.run(request).await
}

fn is_cross_site(request: &Request) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "cross-site" || site == "same-site";
    }
    let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    // `Origin: null` (sandboxed frames, some redirects) is never our own page.
    origin.split_once("://").map(|(_, authority)| authority) != Some(host)
}

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; \
     script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers every response gets unless a handler set its own.
pub fn with_security_headers<S: Clone + Send + Sync + 'static>(router: axum::Router<S>) -> axum::Router<S> {
    let set = |name, value| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));
    router
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
}

pub async fn api_not_found() -> ApiError {
    ApiError::NotFound { code: "not_found", message: "there is no such endpoint".into() }
}

pub async fn method_not_allowed() -> Response {
    let body =
        serde_json::json!({ "error": "method_not_allowed", "message": "this endpoint does not accept that method" });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// Caps request bodies of every route in `router` at `max` bytes. A body that declares a
/// larger `Content-Length` is refused before a byte of it is read, so a client that sent
/// `Expect: 100-continue` (curl does for large bodies) gets the 413 instead of uploading
/// megabytes only to have the connection cut; bodies without a length stop at `max`.
pub fn limit_body<S: Clone + Send + Sync + 'static>(router: Router<S>, max: usize) -> Router<S> {
    router.layer(DefaultBodyLimit::max(max)).layer(middleware::from_fn(
        move |request: Request, next: Next| async move {
            let declared = request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|length| length > max as u64) {
                return ApiError::TooLarge(format!("the request body is larger than {max} bytes")).into_response();
            }
            next.run(request).await
        },
    ))
}
