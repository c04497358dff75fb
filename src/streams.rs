//! The event-stream endpoints: who may open one, and where it starts. What flows through them
//! is the realtime layer's business.

use axum::{extract::State, http::HeaderMap, response::Response, routing::get, Router};
use serde::Deserialize;

use crate::{
    error::{ApiError, ApiQuery},
    identity::Identity,
    realtime::{sse, LobbyFeed, RoomFeed},
    rooms::{access, RoomPath},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/lobby/events", get(lobby_events)).route("/api/rooms/{id}/events", get(room_events))
}

async fn lobby_events(State(state): State<AppState>) -> Result<Response, ApiError> {
    let feed = LobbyFeed::open(&state.hub, state.store.clone()).await?;
    Ok(sse::response(sse::lobby_events(feed), state.config.keep_alive, state.shutdown.clone()))
}

#[derive(Deserialize)]
struct ResumeQuery {
    after: Option<i64>,
}

/// `Last-Event-ID` (what `EventSource` sends on reconnect) wins over `?after=`.
fn resume_point(headers: &HeaderMap, query: ResumeQuery) -> Result<Option<i64>, ApiError> {
    let invalid = || ApiError::BadRequest {
        code: "invalid_last_event_id",
        message: "Last-Event-ID and after must be whole numbers, 0 or more".into(),
    };
    let from_header = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).ok_or_else(invalid)?),
    };
    let resume = from_header.or(query.after);
    if resume.is_some_and(|n| n < 0) {
        return Err(invalid());
    }
    Ok(resume)
}

#[tracing::instrument(skip_all, fields(room.id = %room, user.id = %identity.id))]
async fn room_events(
    State(state): State<AppState>,
    identity: Identity,
    RoomPath(room): RoomPath,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ResumeQuery>,
) -> Result<Response, ApiError> {
    let resume = resume_point(&headers, query)?;
    access::ensure_can_read(&state, room, identity.id).await?;
    access::take_seat(&state, room, &identity.user(), state.config.presence_lease).await?;
    let presence = state.presence.hold(room, identity.id);
    let feed = RoomFeed::open(&state.hub, state.store.clone(), room, identity.id, resume).await?;
    tracing::debug!(resume, start = feed.last_id(), "room stream opened");
    Ok(sse::response(sse::room_events(feed, presence), state.config.keep_alive, state.shutdown.clone()))
}
