//! Anonymous identity, as in the original: a session cookie *is* the identity. It carries the
//! user id and nickname, signed with HMAC-SHA256, so no request needs a database lookup to
//! know who is asking, and a forged or tampered cookie simply fails verification: that request
//! is a stranger's, never someone else's.
//!
//! Identities are free, so they are handed out in one place only, `GET`/`PATCH /api/me`, and
//! at a bounded rate per client address (`limits`). Every other request without a valid
//! cookie is anonymous: it may read what anyone may read, but it carries no [`Session`], and
//! only a session may take a seat, post, or count as present. A request from another site
//! (`Sec-Fetch-Site` other than `same-origin`: a link or form elsewhere that the browser sends
//! our Lax cookie with) carries no session either, so it cannot join its victim to a room.

mod cookie;
mod routes;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderValue},
    middleware::Next,
    response::Response,
};

pub use cookie::SessionKey;
pub use routes::router;

use crate::{
    domain::{DisplayName, User, UserId},
    error::ApiError,
};

pub const COOKIE_NAME: &str = "gif_chat_session";
/// The name over HTTPS: browsers accept a `__Host-` cookie only if it is `Secure`, has
/// `Path=/` and no `Domain`, so a sibling subdomain or a plain-HTTP page cannot plant one.
pub const SECURE_COOKIE_NAME: &str = "__Host-gif_chat_session";

/// Who is making this request. Handlers take it as an extractor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub id: UserId,
    pub name: Option<String>,
}

impl Identity {
    fn fresh() -> Self {
        Self { id: UserId::random(), name: None }
    }

    pub fn user(&self) -> User {
        User::new(self.id, self.name.as_deref())
    }

    pub fn renamed(&self, name: DisplayName) -> Self {
        Self { id: self.id, name: Some(name.as_str().to_owned()) }
    }
}

/// Put in a response's extensions by a handler that issued or changed the identity (a new
/// session, a new nickname), so the middleware sets the cookie.
#[derive(Clone)]
pub struct ReissueCookie(pub Identity);

/// A request by a user who already holds a session and comes from our own pages (or from no
/// browser at all): what taking a seat, posting and being present need. Handlers that need
/// one take it as an extractor (401 `no_session` without); streams take `Option<Session>` and
/// serve a request without one as an unseen viewer.
#[derive(Clone, Debug)]
pub struct Session(pub Identity);

/// In the extensions of a request that presented no valid cookie: its [`Identity`] is new.
#[derive(Clone, Copy)]
struct Stranger;

/// Whether this request's identity was made up for it (no valid cookie came with it).
pub fn is_stranger(extensions: &axum::http::Extensions) -> bool {
    extensions.get::<Stranger>().is_some()
}

/// How this server's session cookies are made: the key that signs them and their name.
/// The state of [`identify`].
#[derive(Clone)]
pub struct Sessions {
    pub key: SessionKey,
    /// [`SECURE_COOKIE_NAME`] over HTTPS (or behind a TLS proxy, `SECURE_COOKIES`), else
    /// [`COOKIE_NAME`].
    pub cookie: &'static str,
}

impl Sessions {
    pub fn new(key: SessionKey, secure: bool) -> Self {
        Self { key, cookie: if secure { SECURE_COOKIE_NAME } else { COOKIE_NAME } }
    }
}

/// Middleware: resolves the cookie into an [`Identity`] (and a [`Session`]) for the handlers,
/// and sets the cookie when a handler says so.
pub async fn identify(State(sessions): State<Sessions>, mut request: Request, next: Next) -> Response {
    let name = sessions.cookie;
    let headers = request.headers().get_all(header::COOKIE).iter().filter_map(|value| value.to_str().ok());
    let presented = SessionKey::presented(headers, name).and_then(|cookie| sessions.key.open(cookie.value()));
    match presented {
        Some(identity) => {
            if !is_from_another_site(request.headers()) {
                request.extensions_mut().insert(Session(identity.clone()));
            }
            request.extensions_mut().insert(identity);
        }
        None => {
            request.extensions_mut().insert(Identity::fresh());
            request.extensions_mut().insert(Stranger);
        }
    }

    let mut response = next.run(request).await;
    if let Some(ReissueCookie(identity)) = response.extensions_mut().remove::<ReissueCookie>() {
        let cookie = sessions.key.set_cookie(name, &identity, name == SECURE_COOKIE_NAME);
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Whether a browser says this request comes from a page of another site (or from the
/// address bar): such a request may read, but not act as its user (see `identity`).
pub fn is_from_another_site(headers: &axum::http::HeaderMap) -> bool {
    headers.get("sec-fetch-site").is_some_and(|site| site.as_bytes() != b"same-origin")
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("identity middleware is not installed")))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Session>().cloned().ok_or(ApiError::NoSession)
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Session {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Session>().cloned())
    }
}
