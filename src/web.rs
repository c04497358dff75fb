//! Cross-cutting HTTP policy: the client's address, security headers, the CSRF check, body
//! limits, and JSON 404/405 for the API.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, Method},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    Router,
};
use tower_http::{
    compression::{
        predicate::{NotForContentType, Predicate, SizeAbove},
        CompressionLayer,
    },
    set_header::SetResponseHeaderLayer,
};

use crate::{
    domain::ClientAddress,
    error::{ApiError, InternalCause, RefusedWith},
    limits::Limits,
    metrics::Metrics,
};

/// The client's address: the proxy's `X-Forwarded-For` only when configured to trust one
/// (the rightmost entry is what that proxy saw), otherwise the TCP peer. Trusting the header
/// without a proxy would let any client pick the address every limit counts.
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, trust_proxy: bool) -> ClientAddress {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok());
    match forwarded {
        Some(ip) if trust_proxy => ClientAddress::new(ip),
        _ => ClientAddress::new(peer.ip()),
    }
}

/// Whether `X-Forwarded-For` names the client (`TRUST_PROXY`): the state of
/// [`resolve_client_address`].
#[derive(Clone, Copy)]
pub struct TrustProxy(pub bool);

/// Middleware: works out the request's [`ClientAddress`] once, for the limits and the logs.
pub async fn resolve_client_address(
    State(TrustProxy(trust_proxy)): State<TrustProxy>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |ConnectInfo(peer)| *peer);
    let address = client_address(peer, request.headers(), trust_proxy);
    request.extensions_mut().insert(address);
    next.run(request).await
}

/// Middleware: logs the cause of every 500 inside the request's span, and counts refusals.
pub async fn observe_errors(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(error = ?cause, "request failed");
    }
    if let Some(RefusedWith(code)) = response.extensions().get::<RefusedWith>() {
        metrics.rejected(code);
        if *code == "unavailable" {
            metrics.database_error();
        }
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ClientAddress>()
            .copied()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("client address middleware is not installed")))
    }
}

/// Middleware: the write limits (`limits::Limits::write`) on every POST, PATCH and DELETE
/// (joins, chats, uploads, room creation), per session and per client address, so one client
/// cannot flood a room or the database. Refusals are 429 `rate_limited` with `Retry-After`.
pub async fn limit_writes(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let (Some(identity), Some(address)) =
        (request.extensions().get::<crate::identity::Identity>(), request.extensions().get::<ClientAddress>())
    else {
        return next.run(request).await;
    };
    match limits.write(identity.id, *address) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

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
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // HTTP/1.1 names the target in `Host`; HTTP/2 has no `Host`, only the `:authority`
    // pseudo-header, which hyper puts in the URI. An `Origin` with neither to compare is
    // refused rather than waved through.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|authority| authority.as_str()));
    // `Origin: null` (sandboxed frames, some redirects) is never our own page.
    host.is_none() || origin.split_once("://").map(|(_, authority)| authority) != host
}

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; \
     script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers every response gets unless a handler set its own; over HTTPS also
/// `Strict-Transport-Security`, so a browser that came once never tries plain HTTP again.
pub fn with_security_headers<S: Clone + Send + Sync + 'static>(router: axum::Router<S>, tls: bool) -> axum::Router<S> {
    let set = |name, value| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));
    let router = if tls { router.layer(set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000")) } else { router };
    router
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
}

/// Bodies smaller than this go uncompressed: gzip's own framing would eat most of the saving,
/// and the posting path (a stored message's answer is ~300 bytes) pays nothing for it.
const COMPRESS_ABOVE_BYTES: u16 = 1024;

/// gzip or brotli, as the client accepts (`Vary: Accept-Encoding` says so to caches), for
/// pages, scripts, styles and larger JSON (a page of history): the room page's 29 files, 127 KB,
/// travel as 46 KB under gzip. Never for event streams, which must reach the client event by
/// event (a compressor would hold them back to fill its window), nor for images: GIFs are
/// compressed already (the predicate skips `image/*` except SVG, which is text). Brotli runs at
/// quality 4, tower-http's default for it: quality 11 costs ~100x the CPU for a few percent.
pub fn compress<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let when = SizeAbove::new(COMPRESS_ABOVE_BYTES)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE);
    router.layer(CompressionLayer::new().compress_when(when))
}

/// Pages and static assets: a browser keeps them but asks again on every use, with the
/// `Last-Modified` the file server sent (`If-Modified-Since`); unchanged, the answer is a
/// bodiless 304. A new release is picked up at once, without versioned URLs (which would
/// need a build step to rewrite every import).
pub fn revalidate_every_use<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
}

/// API answers are one user's view at one moment: no browser or proxy stores them. Responses
/// with a policy of their own keep it (event streams, content-addressed GIFs).
pub fn never_store<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

pub async fn api_not_found() -> ApiError {
    ApiError::NotFound { code: "not_found", message: "there is no such endpoint".into() }
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
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

/// Wraps every request body so that one that stalls (no bytes for `timeout`) fails; the
/// extractors turn that failure into 408 `body_timeout` (see `error::body_failure`), and the
/// connection is closed. A slow body that keeps arriving is not cut: only silence is.
pub fn time_out_stalled_bodies<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    timeout: std::time::Duration,
) -> Router<S> {
    if timeout.is_zero() {
        return router;
    }
    router.layer(middleware::map_request(move |request: Request| async move {
        request.map(|body| axum::body::Body::new(tower_http::timeout::TimeoutBody::new(timeout, body)))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.9".parse().unwrap());
        assert_eq!(client_address(peer, &headers, false).to_string(), "10.0.0.2");
        assert_eq!(client_address(peer, &headers, true).to_string(), "203.0.113.9");
        assert_eq!(client_address(peer, &HeaderMap::new(), true).to_string(), "10.0.0.2");
    }
}
