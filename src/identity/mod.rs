//! Anonymous identity, as in the original: the first request gets a session cookie, and the
//! cookie *is* the identity. It carries the user id and nickname, signed with HMAC-SHA256, so
//! no request needs a database lookup to know who is asking, and a forged or tampered cookie
//! simply fails verification: that request gets a fresh identity, never someone else's.

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
    state::AppState,
};

pub const COOKIE_NAME: &str = "gif_chat_session";

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

/// Put in a response's extensions by a handler that changed the identity (a new nickname), so
/// the middleware re-issues the cookie.
#[derive(Clone)]
pub struct ReissueCookie(pub Identity);

/// Middleware: resolves the cookie into an [`Identity`] for the handlers, and sets the cookie
/// when the identity is new or changed.
pub async fn identify(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .and_then(|(_, value)| state.session_key.open(value));
    let is_fresh = presented.is_none();
    let identity = presented.unwrap_or_else(Identity::fresh);
    request.extensions_mut().insert(identity.clone());

    let mut response = next.run(request).await;
    let reissue = response.extensions_mut().remove::<ReissueCookie>().map(|r| r.0);
    // A response a shared cache may keep (GIFs) must not carry someone's new identity.
    let is_public = response
        .headers()
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("public"));
    let fresh = (is_fresh && !is_public).then_some(identity);
    if let Some(identity) = reissue.or(fresh) {
        let secure = if state.config.is_tls() || state.config.secure_cookies { "; Secure" } else { "" };
        let cookie = format!(
            "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000{secure}",
            state.session_key.seal(&identity)
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
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
