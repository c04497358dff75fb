//! "Ann is typing…": an ephemeral event for the room, or for a whisper's two ends. Not stored
//! and not replayed; a member's announcements go out at most once per
//! [`crate::limits::TYPING_EVERY`] (the clients show one for a few seconds). REST and the
//! room socket share this.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;

use super::post::parse_recipient;
use crate::{
    domain::RoomId,
    error::{ApiError, ApiJson},
    identity::{Identity, Session},
    rooms::{access, RoomPath},
    state::AppState,
};

#[derive(Deserialize)]
pub struct Typing {
    /// A user id: typing a whisper to them; only the two ends hear of it.
    #[serde(default)]
    to: Option<String>,
}

/// `POST /api/rooms/{id}/typing`: 204, whether it went out now or the last one still holds.
#[tracing::instrument(skip_all, fields(room.id = %room, user.id = %identity.id))]
pub async fn announce(
    State(state): State<AppState>,
    Session(identity): Session,
    RoomPath(room): RoomPath,
    ApiJson(typing): ApiJson<Typing>,
) -> Result<StatusCode, ApiError> {
    announce_typing(&state, &identity, room, typing.to.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tells the room (or `to`, with the sender) that `identity` is typing, if they hold a seat
/// and their last announcement here is not still fresh.
pub async fn announce_typing(
    state: &AppState,
    identity: &Identity,
    room: RoomId,
    to: Option<&str>,
) -> Result<(), ApiError> {
    let to = to.map(|raw| parse_recipient(raw, identity.id)).transpose()?;
    // Checked before the gate, so a stranger's refusal does not depend on timing.
    access::ensure_seated(state, room, identity.id).await?;
    if let Some(to) = to {
        // As for whispers: a stranger learns nothing about who is in the room.
        access::seated_member(state, room, to).await?;
    }
    if state.limits.typing(room, identity.id) {
        state.hub.publish_typing(room, &identity.user(), to);
    }
    Ok(())
}
