//! Who may do what in a room. A *grant* says a user gave a locked room's password (owners have
//! one from the start); a *seat* says they are a member now and counts against `max`.
//!
//! - reading history or streaming a locked room needs a grant;
//! - a member's stream takes a seat (an open room needs nothing else), `POST …/join` takes one
//!   too; a viewer's stream (no session) takes none;
//! - posting needs a seat, and keeps it alive;
//! - a kicked user may not come back, nor may anyone new from the address they were kicked
//!   from (a fresh cookie costs nothing; an address does).

use chrono::Utc;

use crate::{
    domain::{ClientAddress, Invalid, Room, RoomId, User, UserId},
    error::ApiError,
    state::AppState,
    storage::{Renewal, Seat, SeatRequest, StreamView},
};

/// Fails with 403 unless the user may read the room (it is open, or they have a grant), and
/// with 404 when there is no such room. A refused reader who is barred hears so (`kicked`).
pub async fn ensure_can_read(
    state: &AppState,
    room: RoomId,
    user: UserId,
    address: ClientAddress,
) -> Result<(), ApiError> {
    let locked = state.store.password_hash(room).await?.is_some();
    if locked && !state.store.has_access(room, user).await? {
        ensure_not_barred(state, room, user, address).await?;
        return Err(ApiError::not_a_member());
    }
    Ok(())
}

/// Fails with 403 `kicked` when the user was kicked from the room, or when someone was kicked
/// from their address and they are neither seated nor the owner.
pub async fn ensure_not_barred(
    state: &AppState,
    room: RoomId,
    user: UserId,
    address: ClientAddress,
) -> Result<(), ApiError> {
    if state.store.is_banned(room, user, address).await? {
        return Err(ApiError::kicked());
    }
    Ok(())
}

/// Fails with 409 `room_full` when the room has no seat left for a user who holds none (a
/// member coming back keeps theirs).
pub async fn ensure_room_for(state: &AppState, room: RoomId, user: UserId) -> Result<(), ApiError> {
    let details = state.store.room(room).await?;
    if details.members >= details.max && state.store.stream_view(room, user).await?.seat_expires.is_none() {
        return Err(room_full());
    }
    Ok(())
}

fn room_full() -> ApiError {
    ApiError::Conflict { code: "room_full", message: "the room is full".into() }
}

/// Takes (or keeps) a seat valid until `now + hold`; a new member's join is stored and
/// announced. Joins of a busy room go in batches (`SeatQueue`), which also publishes them.
pub async fn take_seat(
    state: &AppState,
    room: RoomId,
    user: &User,
    address: ClientAddress,
    hold: std::time::Duration,
) -> Result<Room, ApiError> {
    let request = SeatRequest { user: user.clone(), address, until: Utc::now() + hold };
    match state.seats.take_seat(room, request).await? {
        Seat::Full => Err(room_full()),
        Seat::Banned => Err(ApiError::kicked()),
        Seat::Taken { room, .. } => Ok(room),
    }
}

/// [`ensure_can_read`] for a member opening a stream, from what [`StreamView`] read.
pub async fn ensure_can_stream(
    state: &AppState,
    view: &StreamView,
    room: RoomId,
    user: UserId,
    address: ClientAddress,
) -> Result<(), ApiError> {
    if view.locked && !view.granted {
        ensure_not_barred(state, room, user, address).await?;
        return Err(ApiError::not_a_member());
    }
    Ok(())
}

/// A stream's seat, from what [`StreamView`] read: kept when it is fresh enough (an open
/// stream's heartbeat keeps it so), renewed, or taken as [`take_seat`] does. A client
/// long-polling in a loop opens a stream per poll, so a fresh seat costs nothing here beyond
/// that one read. Whether a seat was taken (and a join announced).
pub async fn seat_for_stream(
    state: &AppState,
    view: &StreamView,
    room: RoomId,
    user: &User,
    address: ClientAddress,
    hold: std::time::Duration,
) -> Result<bool, ApiError> {
    let renewal = Renewal::ahead(hold);
    match view.seat_expires {
        Some(expires) if expires >= renewal.renew_before => return Ok(false),
        Some(_) if state.store.touch_seat(room, user.id, renewal).await? => return Ok(false),
        _ => {}
    }
    take_seat(state, room, user, address, hold).await.map(|_| true)
}

/// Fails with 403 unless the user holds a seat (404 if the room is gone), and keeps the seat
/// for at least half a grace period more: posting is activity, like an open stream. (Renewing
/// only a seat past half its grace spares a write per post; an open stream leases it longer.)
pub async fn ensure_seated(state: &AppState, room: RoomId, user: UserId) -> Result<(), ApiError> {
    if state.store.touch_seat(room, user, state.writes.renewal()).await? {
        return Ok(());
    }
    Err(refusal(state, room, user).await)
}

/// Why a user without a seat may not post: the room is gone (404), they were kicked, or
/// they never joined (403).
pub async fn refusal(state: &AppState, room: RoomId, user: UserId) -> ApiError {
    if let Err(err) = state.store.last_message_id(room).await {
        return err.into(); // NotFound → 404
    }
    match state.store.is_kicked(room, user).await {
        Ok(true) => ApiError::kicked(),
        Ok(false) => ApiError::not_a_member(),
        Err(err) => err.into(),
    }
}

/// The user as a member of the room, or 422 `not_in_room`.
pub async fn seated_member(state: &AppState, room: RoomId, user: UserId) -> Result<User, ApiError> {
    let (members, _) = state.store.members(room).await?;
    members
        .into_iter()
        .find(|member| member.user.id == user)
        .map(|member| member.user)
        .ok_or_else(|| Invalid::new("not_in_room", "that user is not in this room").into())
}

/// Removes every expired seat (on any instance's behalf), and publishes what follows: the
/// "left" messages, owner hand-overs, member counts and room deletions. The reaper runs it
/// every `REAP_INTERVAL`; an explicit leave runs it at once.
pub async fn expire_seats(state: &AppState) -> Result<(), crate::storage::StorageError> {
    for departure in state.store.expire_seats(Utc::now()).await? {
        for message in &departure.messages {
            state.hub.publish_message(message);
        }
        match departure.room {
            Some(room) => state.hub.publish_room_updated(&room),
            None => {
                tracing::info!(room.id = %departure.room_id, "deleted empty room");
                state.hub.publish_room_deleted(departure.room_id);
            }
        }
    }
    Ok(())
}
