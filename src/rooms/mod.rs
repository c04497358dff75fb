//! Rooms: create, list, read, delete, join. `access` holds the membership rules that chat,
//! uploads and streams share, so no transport decides them on its own.

pub mod access;
mod handlers;
mod password;
// Public by its own path: `state` names `rooms::seat_queue::SeatQueue` directly, because a
// re-export here would make `state` depend on this file, which imports `state` (a cycle).
pub mod seat_queue;

use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
    routing::{delete, get, post},
    Router,
};

use crate::{domain::RoomId, error::ApiError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms", get(handlers::list_rooms).post(handlers::create_room))
        .route("/api/rooms/{id}", get(handlers::get_room).delete(handlers::delete_room))
        .route("/api/rooms/{id}/join", post(handlers::join_room))
        .route("/api/rooms/{id}/members", get(handlers::list_members))
        .route("/api/rooms/{id}/seat", delete(handlers::leave_room))
        .route("/api/rooms/{id}/kicks", post(handlers::kick_member))
        .route("/api/rooms/{id}/owner", post(handlers::transfer_ownership))
}

/// The `{id}` of a room route. Anything that is not a UUID is a room that does not exist.
pub struct RoomPath(pub RoomId);

impl<S: Send + Sync> FromRequestParts<S> for RoomPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) =
            Path::<String>::from_request_parts(parts, state).await.map_err(|_| ApiError::room_not_found())?;
        RoomId::parse(&raw).map(Self).ok_or_else(ApiError::room_not_found)
    }
}
