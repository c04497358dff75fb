//! `GET /api/me` and `PATCH /api/me`.

use axum::{
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

async fn update_me(
    identity: Identity,
    ApiJson(input): ApiJson<ProfileUpdate>,
) -> Result<Response, ApiError> {
    let renamed = identity.renamed(DisplayName::parse(&input.name)?);
    let mut response = Json(renamed.user()).into_response();
    response.extensions_mut().insert(ReissueCookie(renamed));
    Ok(response)
}
