//! Cross-cutting HTTP policy: security headers, the CSRF check, JSON 404/405 for the API, and
//! the static front-end.

use axum::{
    extract::Request,
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;

/// Browsers send `Origin` (and `Sec-Fetch-Site`) on cross-site writes; a cookie-authenticated
/// write that comes from another site is refused, whatever its content type (multipart and
/// form posts need no CORS preflight, so SameSite=Lax alone is not enough for older
/// browsers). Clients that send neither header (curl, scripts) are not browsers and carry
/// no ambient cookies of a victim.
pub async fn reject_cross_site_writes(request: Request, next: Next) -> Response {
    let is_write = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if is_write && is_cross_site(&request) {
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
pub fn with_security_headers<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
) -> axum::Router<S> {
    let set =
        |name, value| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));
    router
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
}

pub async fn api_not_found() -> ApiError {
    ApiError::NotFound {
        code: "not_found",
        message: "there is no such endpoint".into(),
    }
}

pub async fn method_not_allowed() -> Response {
    let body = serde_json::json!({ "error": "method_not_allowed", "message": "this endpoint does not accept that method" });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}
