//! `GET /api/me` and `PATCH /api/me`.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::Deserialize;

use super::{Identity, ReissueCookie};
use crate::{
    domain::{DisplayName, User},
    error::{ApiError, ApiJson},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/me", get(get_me).patch(update_me))
}

async fn get_me(identity: Identity) -> Json<User> {
    Json(identity.user())
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
    ApiJson(input): ApiJson<ProfileUpdate>,
) -> Result<Response, ApiError> {
    let renamed = identity.renamed(DisplayName::parse(&input.name)?);
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
