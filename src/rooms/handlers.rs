//! Room handlers: validate, call storage, publish, respond.

use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;

use super::{access, password, RoomPath};
use crate::{
    domain::{Capacity, ClientAddress, Invalid, NewRoom, Room, RoomId, RoomPassword, RoomTitle, UserId},
    error::{ApiError, ApiJson, ApiQuery, OptionalJson},
    identity::{Identity, Session},
    state::AppState,
    storage::{OwnerAction, RoomPage},
};

const DEFAULT_ROOM_PAGE: u32 = 100;
const MAX_ROOM_PAGE: u32 = 200;

#[derive(serde::Serialize)]
pub struct RoomList {
    rooms: Vec<Room>,
    /// The `after` of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// A page cursor: the last room's creation time (µs since the epoch) and id, which is where
/// the next page starts even if that room has gone meanwhile.
fn cursor(room: &Room) -> String {
    format!("{}_{}", room.created_at.timestamp_micros(), room.id)
}

fn parse_cursor(raw: &str) -> Option<(chrono::DateTime<chrono::Utc>, RoomId)> {
    let (micros, id) = raw.split_once('_')?;
    Some((chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?, RoomId::parse(id)?))
}

#[derive(Deserialize)]
pub struct RoomListQuery {
    after: Option<String>,
    limit: Option<u32>,
}

/// A page of rooms, oldest first: however many rooms there are, one answer stays small.
pub async fn list_rooms(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<RoomListQuery>,
) -> Result<Json<RoomList>, ApiError> {
    let invalid = |message: &str| ApiError::BadRequest { code: "invalid_query", message: message.into() };
    let limit = query.limit.unwrap_or(DEFAULT_ROOM_PAGE);
    if !(1..=MAX_ROOM_PAGE).contains(&limit) {
        return Err(invalid("limit must be from 1 to 200"));
    }
    let after = match query.after.as_deref() {
        None => None,
        Some(raw) => Some(parse_cursor(raw).ok_or_else(|| invalid("after must be the `next` of an earlier page"))?),
    };
    // One more than asked, to know whether a next page exists.
    let mut rooms = state.store.rooms_page(RoomPage { after, limit: limit + 1 }).await?;
    let next = (rooms.len() > limit as usize).then(|| {
        rooms.truncate(limit as usize);
        cursor(&rooms[rooms.len() - 1])
    });
    Ok(Json(RoomList { rooms, next }))
}

#[derive(Deserialize)]
pub struct CreateRoom {
    #[serde(default)]
    title: String,
    /// Any JSON value, so `2.5` or `"ten"` get a clear `invalid_max` rather than a parse error.
    #[serde(default)]
    max: Option<serde_json::Value>,
    #[serde(default)]
    password: Option<String>,
}

#[tracing::instrument(skip_all, fields(user.id = %identity.id))]
pub async fn create_room(
    State(state): State<AppState>,
    Session(identity): Session,
    address: ClientAddress,
    ApiJson(input): ApiJson<CreateRoom>,
) -> Result<(StatusCode, Json<Room>), ApiError> {
    let title = RoomTitle::parse(&input.title)?;
    let max = match input.max {
        None | Some(serde_json::Value::Null) => Capacity::parse(None, state.config.max_room_capacity)?,
        Some(serde_json::Value::Number(n)) if n.is_i64() => {
            Capacity::parse(n.as_i64(), state.config.max_room_capacity)?
        }
        Some(_) => Capacity::parse(Some(-1), state.config.max_room_capacity)?,
    };
    let password_hash = match RoomPassword::parse(input.password.as_deref())? {
        Some(password) => Some(password::hash(password, state.limits.hashing().await?).await?),
        None => None,
    };
    let new = NewRoom { title, max, password_hash, owner: identity.user(), owner_address: address };
    let (room, joined) = state.store.create_room(new, chrono::Utc::now() + state.config.presence_grace).await?;
    tracing::info!(room.id = %room.id, "room created");
    state.hub.publish_room_created(&room);
    state.hub.publish_message(&joined);
    Ok((StatusCode::CREATED, Json(room)))
}

pub async fn get_room(State(state): State<AppState>, RoomPath(id): RoomPath) -> Result<Json<Room>, ApiError> {
    Ok(Json(state.store.room(id).await?))
}

/// The member list as the streams' `members` event has it, in one answer.
#[derive(serde::Serialize)]
pub struct MemberList {
    members: Vec<crate::domain::Member>,
    /// The room's last message id when the list was read: apply the `change` of every
    /// system message after it.
    as_of: i64,
}

/// `GET /api/rooms/{id}/members`: who holds a seat, for clients without a stream (a long-poller
/// has no `members` event), readable by whoever may read the room's history.
pub async fn list_members(
    State(state): State<AppState>,
    identity: Identity,
    address: ClientAddress,
    RoomPath(id): RoomPath,
) -> Result<Json<MemberList>, ApiError> {
    access::ensure_can_read(&state, id, identity.id, address).await?;
    access::ensure_not_barred(&state, id, identity.id, address).await?;
    let (members, as_of) = state.store.members(id).await?;
    Ok(Json(MemberList { members, as_of }))
}

#[tracing::instrument(skip_all, fields(room.id = %id, user.id = %identity.id))]
pub async fn delete_room(
    State(state): State<AppState>,
    Session(identity): Session,
    RoomPath(id): RoomPath,
) -> Result<StatusCode, ApiError> {
    let room = state.store.room(id).await?;
    if room.owner.id != identity.id {
        return Err(ApiError::not_owner());
    }
    state.store.delete_room(id).await?;
    tracing::info!("room deleted by its owner");
    state.hub.publish_room_deleted(id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
pub struct JoinRoom {
    #[serde(default)]
    password: Option<String>,
}

/// The body is optional (an open room needs none): empty means `{}`.
/// A password is checked only if the address has not guessed wrong too often (before any
/// hashing), and then with a turn at the hasher; only a wrong one counts against the address.
#[tracing::instrument(skip_all, fields(room.id = %id, user.id = %identity.id))]
pub async fn join_room(
    State(state): State<AppState>,
    Session(identity): Session,
    address: ClientAddress,
    RoomPath(id): RoomPath,
    OptionalJson(input): OptionalJson<JoinRoom>,
) -> Result<Json<Room>, ApiError> {
    // Before the password: a kicked user (or anyone new from their address) must not win
    // back read access by typing it again.
    access::ensure_not_barred(&state, id, identity.id, address).await?;
    if let Some(hash) = state.store.password_hash(id).await? {
        if !state.store.has_access(id, identity.id).await? {
            // A full room says so before it asks for a password it could not honour (the
            // lobby shows the count anyway); `take_seat` checks again under the room's lock.
            access::ensure_room_for(&state, id, identity.id).await?;
            let is_right = match RoomPassword::parse(input.password.as_deref())? {
                Some(given) => {
                    state.limits.password_guess(id, address)?;
                    let is_right = password::matches(given, hash, state.limits.hashing().await?).await?;
                    if is_right {
                        state.limits.password_was_right(id, address);
                    }
                    is_right
                }
                None => false,
            };
            if !is_right {
                return Err(ApiError::Forbidden {
                    code: "wrong_password",
                    message: "the password is not right".into(),
                });
            }
            state.store.grant_access(id, identity.id).await?;
        }
    }
    let room = access::take_seat(&state, id, &identity.user(), address, state.config.presence_grace).await?;
    Ok(Json(room))
}

/// `DELETE /api/rooms/{id}/seat`: the user leaves now, not after the grace period a closed
/// tab or a lost connection gets. Their "left" is announced, the room passes on if they owned
/// it, and goes if they were the last. Leaving a room one holds no seat in does nothing.
#[tracing::instrument(skip_all, fields(room.id = %id, user.id = %identity.id))]
pub async fn leave_room(
    State(state): State<AppState>,
    Session(identity): Session,
    RoomPath(id): RoomPath,
) -> Result<StatusCode, ApiError> {
    state.store.last_message_id(id).await?; // 404 for a room that is not there
                                            // Expired a moment ago, then reaped like any lapsed seat: one path for every way of leaving.
    let gone = chrono::Utc::now() - chrono::Duration::milliseconds(1);
    state.store.release_seat(id, identity.id, gone).await?;
    access::expire_seats(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct KickRequest {
    #[serde(default)]
    user: String,
}

/// The owner removes a member, who may not come back while the room exists.
#[tracing::instrument(skip_all, fields(room.id = %id, user.id = %identity.id))]
pub async fn kick_member(
    State(state): State<AppState>,
    Session(identity): Session,
    RoomPath(id): RoomPath,
    ApiJson(input): ApiJson<KickRequest>,
) -> Result<StatusCode, ApiError> {
    let target = other_member(&state, id, &input.user, &identity, "you cannot kick yourself").await?;
    let (room, message) = owner_action(state.store.kick(id, &identity.user(), target).await?)?;
    tracing::info!(kicked = %target, "member kicked");
    state.hub.publish_message(&message);
    state.hub.publish_kicked(id, target);
    state.hub.publish_room_updated(&room);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct OwnerRequest {
    #[serde(default)]
    to: String,
}

/// The owner hands the room to another member.
#[tracing::instrument(skip_all, fields(room.id = %id, user.id = %identity.id))]
pub async fn transfer_ownership(
    State(state): State<AppState>,
    Session(identity): Session,
    RoomPath(id): RoomPath,
    ApiJson(input): ApiJson<OwnerRequest>,
) -> Result<Json<Room>, ApiError> {
    let target = other_member(&state, id, &input.to, &identity, "you already own this room").await?;
    let (room, message) = owner_action(state.store.transfer_ownership(id, &identity.user(), target).await?)?;
    state.hub.publish_message(&message);
    state.hub.publish_room_updated(&room);
    Ok(Json(room))
}

/// The target of an owner's action on someone else. Anyone but the owner is refused as a
/// non-owner (403) whoever they name; the owner naming themselves or garbage gets 422.
async fn other_member(
    state: &AppState,
    room: RoomId,
    raw: &str,
    identity: &Identity,
    if_self: &str,
) -> Result<UserId, ApiError> {
    // A stale check (storage checks again, under the room's lock), so that whatever a
    // non-owner names, they hear first that they are not the owner.
    if state.store.room(room).await?.owner.id != identity.id {
        return Err(ApiError::not_owner());
    }
    let user = UserId::parse(raw).ok_or_else(|| Invalid::new("invalid_user", "expected a user id"))?;
    if user == identity.id {
        return Err(Invalid::new("invalid_user", if_self).into());
    }
    Ok(user)
}

fn owner_action(outcome: OwnerAction) -> Result<(Room, crate::domain::Message), ApiError> {
    match outcome {
        OwnerAction::Done { room, message } => Ok((room, message)),
        OwnerAction::NotOwner => Err(ApiError::not_owner()),
        OwnerAction::NotSeated => Err(Invalid::new("not_in_room", "that user is not in this room").into()),
    }
}
