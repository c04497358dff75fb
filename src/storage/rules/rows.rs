//! Rows as both databases return them, and their conversion into domain types.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{id, Conn, Db, Dialect, Id, Int, This, Time};
use crate::{
    domain::{GifId, Member, MemberChange, Message, MessageKind, Room, RoomId, User, UserId},
    storage::{StorageError, StoreResult},
};

pub(super) const ROOM_COLUMNS: &str = "SELECT r.id, r.title, r.max_members, r.password_hash IS NOT NULL AS locked, \
     r.owner_id, r.owner_name, r.created_at, \
     (SELECT count(*) FROM seats s WHERE s.room_id = r.id) AS members FROM rooms r";

pub(super) const MESSAGE_COLUMNS: &str = "SELECT room_id, seq, kind, user_id, user_name, to_user_id, to_user_name, \
     text, gif_id, gif_width, gif_height, created_at, member_change FROM messages";

#[derive(sqlx::FromRow)]
pub(super) struct RoomRow {
    id: Id,
    title: String,
    max_members: Int,
    locked: bool,
    owner_id: Id,
    owner_name: Option<String>,
    created_at: Time,
    members: i64,
}

impl From<RoomRow> for Room {
    fn from(row: RoomRow) -> Self {
        Room {
            id: RoomId(This::uuid(&row.id)),
            title: row.title,
            max: This::count(row.max_members),
            locked: row.locked,
            members: row.members as u32,
            owner: User::new(UserId(This::uuid(&row.owner_id)), row.owner_name.as_deref()),
            created_at: This::utc(row.created_at),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    room_id: Id,
    seq: i64,
    kind: String,
    user_id: Id,
    user_name: Option<String>,
    to_user_id: Option<Id>,
    to_user_name: Option<String>,
    text: Option<String>,
    gif_id: Option<String>,
    gif_width: Option<Int>,
    gif_height: Option<Int>,
    created_at: Time,
    member_change: Option<String>,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        let room = RoomId(This::uuid(&row.room_id));
        Message {
            id: row.seq,
            room,
            kind: MessageKind::parse(&row.kind).unwrap_or(MessageKind::System),
            user: User::new(UserId(This::uuid(&row.user_id)), row.user_name.as_deref()),
            to: row.to_user_id.map(|to| User::new(UserId(This::uuid(&to)), row.to_user_name.as_deref())),
            text: row.text,
            gif_url: row.gif_id.as_deref().and_then(GifId::parse).map(|gif| gif.url(room)),
            gif_width: row.gif_width.map(|w| This::count(w) as u16),
            gif_height: row.gif_height.map(|h| This::count(h) as u16),
            created_at: This::utc(row.created_at),
            change: row.member_change.as_deref().and_then(MemberChange::parse),
        }
    }
}

pub(super) async fn room_in(conn: &mut Conn, room: RoomId) -> StoreResult<Room> {
    let row: RoomRow =
        sqlx::query_as(&format!("{ROOM_COLUMNS} WHERE r.id = $1")).bind(id(room.0)).fetch_one(conn).await?;
    Ok(row.into())
}

/// The seat holders, longest-present first, with the room's last sequence number, read in one
/// statement (and one row, see [`Dialect::MEMBERS`]) so both come from the same snapshot;
/// `NotFound` when there is no room.
pub(super) async fn members(pool: &sqlx::Pool<Db>, room: RoomId) -> StoreResult<(Vec<Member>, i64)> {
    let row: Option<(i64, Option<String>)> =
        sqlx::query_as(This::MEMBERS).bind(id(room.0)).fetch_optional(pool).await?;
    let Some((as_of, listed)) = row else { return Err(StorageError::NotFound) };
    let listed: Vec<(Uuid, Option<String>, i64, bool)> = match listed {
        Some(json) => serde_json::from_str(&json).map_err(|err| StorageError::Other(err.into()))?,
        None => Vec::new(), // SQLite's json_group_array over no rows is `[]`, but be lenient
    };
    let members = listed
        .into_iter()
        .map(|(user, name, since, owner)| Member {
            user: User::new(UserId(user), name.as_deref()),
            owner,
            since: since_epoch(since),
        })
        .collect();
    Ok((members, as_of))
}

/// A time as `MEMBERS` writes it: in units of 10^-TIME_DIGITS s since the epoch.
fn since_epoch(units: i64) -> DateTime<Utc> {
    let at = if This::TIME_DIGITS == 3 {
        DateTime::from_timestamp_millis(units)
    } else {
        DateTime::from_timestamp_micros(units)
    };
    at.unwrap_or_default()
}
