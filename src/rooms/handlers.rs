//! Room handlers: validate, call storage, publish, respond.

use axum::{extract::State, http::StatusCode, Json};
use bytes::Bytes;
use serde::Deserialize;

use super::{access, password, RoomPath};
use crate::{
    domain::{Capacity, Invalid, NewRoom, Room, RoomPassword, RoomTitle, UserId},
    error::{ApiError, ApiJson},
    identity::Identity,
    state::AppState,
    storage::OwnerAction,
};

#[derive(serde::Serialize)]
pub struct RoomList {
    rooms: Vec<Room>,
}

pub async fn list_rooms(State(state): State<AppState>) -> Result<Json<RoomList>, ApiError> {
    Ok(Json(RoomList { rooms: state.store.rooms().await? }))
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
    identity: Identity,
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
        Some(password) => Some(password::hash(password).await?),
        None => None,
    };
    let new = NewRoom { title, max, password_hash, owner: identity.user() };
    let (room, joined) = state.store.create_room(new, chrono::Utc::now() + state.config.presence_grace).await?;
    tracing::info!(room.id = %room.id, "room created");
    state.hub.publish_room_created(&room);
    state.hub.publish_message(&joined);
    Ok((StatusCode::CREATED, Json(room)))
}

pub async fn get_room(State(state): State<AppState>, RoomPath(id): RoomPath) -> Result<Json<Room>, ApiError> {
    Ok(Json(state.store.room(id).await?))
}

#[tracing::instrument(skip_all, fields(room.id = %id, user.id = %identity.id))]
pub async fn delete_room(
    State(state): State<AppState>,
    identity: Identity,
    RoomPath(id): RoomPath,
) -> Result<StatusCode, ApiError> {
    let room = state.store.room(id).await?;
    if room.owner.id != identity.id {
        return Err(ApiError::Forbidden { code: "not_owner", message: "only the room's owner can delete it".into() });
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

/// The body is optional (an open room needs none), so it is parsed by hand: empty means `{}`.
#[tracing::instrument(skip_all, fields(room.id = %id, user.id = %identity.id))]
pub async fn join_room(
    State(state): State<AppState>,
    identity: Identity,
    RoomPath(id): RoomPath,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Json<Room>, ApiError> {
    let input: JoinRoom = if body.iter().all(u8::is_ascii_whitespace) {
        JoinRoom::default()
    } else {
        let is_json = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType {
                code: "unsupported_media_type",
                message: "send the body as JSON with Content-Type: application/json".into(),
            });
        }
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|err| ApiError::BadRequest {
            code: "invalid_json",
            message: format!("the body is not valid JSON: {err}"),
        })?;
        crate::error::object_body(value)?
    };
    // Before the password: a kicked user must not win back read access by typing it again.
    if state.store.is_banned(id, identity.id).await? {
        return Err(ApiError::kicked());
    }
    if let Some(hash) = state.store.password_hash(id).await? {
        if !state.store.has_access(id, identity.id).await? {
            let given = RoomPassword::parse(input.password.as_deref())?;
            let is_right = match given {
                Some(given) => password::matches(given, hash).await?,
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
    let room = access::take_seat(&state, id, &identity.user(), state.config.presence_grace).await?;
    Ok(Json(room))
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
    identity: Identity,
    RoomPath(id): RoomPath,
    ApiJson(input): ApiJson<KickRequest>,
) -> Result<StatusCode, ApiError> {
    let target = other_member(&input.user, &identity, "you cannot kick yourself")?;
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
    identity: Identity,
    RoomPath(id): RoomPath,
    ApiJson(input): ApiJson<OwnerRequest>,
) -> Result<Json<Room>, ApiError> {
    let target = other_member(&input.to, &identity, "you already own this room")?;
    let (room, message) = owner_action(state.store.transfer_ownership(id, &identity.user(), target).await?)?;
    state.hub.publish_message(&message);
    state.hub.publish_room_updated(&room);
    Ok(Json(room))
}

fn other_member(raw: &str, identity: &Identity, if_self: &str) -> Result<UserId, ApiError> {
    let user = UserId::parse(raw).ok_or_else(|| Invalid::new("invalid_user", "expected a user id"))?;
    if user == identity.id {
        return Err(Invalid::new("invalid_user", if_self).into());
    }
    Ok(user)
}

fn owner_action(outcome: OwnerAction) -> Result<(Room, crate::domain::Message), ApiError> {
    match outcome {
        OwnerAction::Done { room, message } => Ok((room, message)),
        OwnerAction::NotOwner => {
            Err(ApiError::Forbidden { code: "not_owner", message: "only the room's owner can do that".into() })
        }
        OwnerAction::NotSeated => Err(Invalid::new("not_in_room", "that user is not in this room").into()),
    }
}
