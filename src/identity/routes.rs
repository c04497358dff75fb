//! `GET /api/me` and `PATCH /api/me`.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use axum::{
    extract::State,
    response::{IntoResponse, Response},
    routing::get,
    Extension, Json, Router,
};
use serde::Deserialize;

use super::{is_stranger, Identity, ReissueCookie};
use crate::{
    domain::{spaced_user_id, ClientAddress, DisplayName},
    error::{ApiError, ApiJson},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/me", get(get_me).patch(update_me)).layer(Extension(Arrivals::default()))
}

/// How many identities this server has handed out: the next one's step around the colour
/// wheel (`domain::spaced_user_id`), so people who arrive one after another get far-apart
/// colours.
#[derive(Clone, Default)]
struct Arrivals(Arc<AtomicU64>);

impl Arrivals {
    /// A new identity (in place of the one made up for a request without a cookie); only
    /// here, behind the new-session limit, is the id worth the search for a spaced colour.
    fn issue(&self, name: Option<String>) -> Identity {
        Identity { id: spaced_user_id(self.0.fetch_add(1, Ordering::Relaxed)), name }
    }
}

/// Who you are; a request without a session gets a new one here (and only here and in
/// `PATCH`), at most `NEW_SESSION_BURST` at once per client address.
async fn get_me(
    State(state): State<AppState>,
    Extension(arrivals): Extension<Arrivals>,
    identity: Identity,
    address: ClientAddress,
    extensions: axum::http::Extensions,
) -> Result<Response, ApiError> {
    if is_stranger(&extensions) {
        state.limits.new_session(address)?;
        let identity = arrivals.issue(None);
        let mut response = Json(identity.user()).into_response();
        response.extensions_mut().insert(ReissueCookie(identity));
        return Ok(response);
    }
    Ok(Json(identity.user()).into_response())
}

#[derive(Deserialize)]
struct ProfileUpdate {
    #[serde(default)]
    name: String,
}

/// A new nickname: re-issues the cookie, and tells every room the user sits in.
async fn update_me(
    State(state): State<AppState>,
    Extension(arrivals): Extension<Arrivals>,
    identity: Identity,
    address: ClientAddress,
    extensions: axum::http::Extensions,
    ApiJson(input): ApiJson<ProfileUpdate>,
) -> Result<Response, ApiError> {
    let name = DisplayName::parse(&input.name)?;
    let identity = if is_stranger(&extensions) {
        state.limits.new_session(address)?;
        arrivals.issue(None)
    } else {
        identity
    };
    let renamed = identity.renamed(name);
    let (before, after) = (identity.user(), renamed.user());
    if before.name != after.name {
        for message in state.store.rename(&after, &before.name).await? {
            state.hub.publish_message(&message);
            if let Ok(room) = state.store.room(message.room).await {
                state.hub.publish_room_updated(&room);
            }
        }
    }
    let mut response = Json(after).into_response();
    response.extensions_mut().insert(ReissueCookie(renamed));
    Ok(response)
}
