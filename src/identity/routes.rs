//! `GET /api/me` and `PATCH /api/me`.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::Deserialize;

use super::{is_stranger, Identity, ReissueCookie};
use crate::{
    domain::{ClientAddress, DisplayName},
    error::{ApiError, ApiJson},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/me", get(get_me).patch(update_me))
}

/// Who you are; a request without a session gets a new one here (and only here and in
/// `PATCH`), at most `NEW_SESSION_BURST` at once per client address.
async fn get_me(
    State(state): State<AppState>,
    identity: Identity,
    address: ClientAddress,
    extensions: axum::http::Extensions,
) -> Result<Response, ApiError> {
    let mut response = Json(identity.user()).into_response();
    if is_stranger(&extensions) {
        state.limits.new_session(address)?;
        response.extensions_mut().insert(ReissueCookie(identity));
    }
    Ok(response)
}

#[derive(Deserialize)]
struct ProfileUpdate {
    #[serde(default)]
    name: String,
}

/// A new nickname: re-issues the cookie, and tells every room the user sits in.
async fn update_me(
    State(state): State<AppState>,
    identity: Identity,
    address: ClientAddress,
    extensions: axum::http::Extensions,
    ApiJson(input): ApiJson<ProfileUpdate>,
) -> Result<Response, ApiError> {
    let renamed = identity.renamed(DisplayName::parse(&input.name)?);
    if is_stranger(&extensions) {
        state.limits.new_session(address)?;
    }
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
