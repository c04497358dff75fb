//! Seats: taking one (capacity and bans checked under the room lock), renewing it, and what
//! happens when seats expire (a "left" message each, the room handed on or deleted).

use chrono::{DateTime, Utc};

use super::{append_in, id, lock_room, owner::set_owner, rows::room_in, time, Conn, Dialect, Id, This, Time};
use crate::{
    domain::{ClientAddress, MemberChange, Message, RoomId, User, UserId},
    storage::{
        joined_text, left_text, system, Departure, Renewal, Seat, SeatRequest, StorageError, StoreResult, StreamView,
    },
};

/// See `Store::is_banned`. Binds room, user, address.
const IS_BANNED: &str = "SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2) \
     OR (EXISTS (SELECT 1 FROM room_address_bans WHERE room_id = $1 AND address = $3) \
         AND NOT EXISTS (SELECT 1 FROM seats WHERE room_id = $1 AND user_id = $2) \
         AND NOT EXISTS (SELECT 1 FROM rooms WHERE id = $1 AND owner_id = $2))";

pub(super) async fn is_banned(
    conn: &mut Conn,
    room: RoomId,
    user: UserId,
    address: ClientAddress,
) -> StoreResult<bool> {
    Ok(sqlx::query_scalar(IS_BANNED)
        .bind(id(room.0))
        .bind(id(user.0))
        .bind(address.to_string())
        .fetch_one(conn)
        .await?)
}

/// See `Store::stream_view`.
pub(super) async fn stream_view(conn: &mut Conn, room: RoomId, user: UserId) -> StoreResult<StreamView> {
    let row: Option<(bool, bool, Option<Time>, i64)> = sqlx::query_as(
        "SELECT r.password_hash IS NOT NULL, \
         EXISTS (SELECT 1 FROM room_access a WHERE a.room_id = r.id AND a.user_id = $2), \
         (SELECT s.expires_at FROM seats s WHERE s.room_id = r.id AND s.user_id = $2), \
         r.last_seq FROM rooms r WHERE r.id = $1",
    )
    .bind(id(room.0))
    .bind(id(user.0))
    .fetch_optional(conn)
    .await?;
    let (locked, granted, seat, head) = row.ok_or(StorageError::NotFound)?;
    Ok(StreamView { locked, granted, seat_expires: seat.map(This::utc), head })
}

/// When the user's seat expires, or `None` when they hold none.
pub(super) async fn expiry(conn: &mut Conn, room: RoomId, user: UserId) -> StoreResult<Option<DateTime<Utc>>> {
    let expires: Option<Time> = sqlx::query_scalar("SELECT expires_at FROM seats WHERE room_id = $1 AND user_id = $2")
        .bind(id(room.0))
        .bind(id(user.0))
        .fetch_optional(conn)
        .await?;
    Ok(expires.map(This::utc))
}

/// See `Store::touch_seat`.
pub(super) async fn touch(
    reader: &sqlx::Pool<super::Db>,
    writer: &sqlx::Pool<super::Db>,
    room: RoomId,
    user: UserId,
    renewal: Renewal,
) -> StoreResult<bool> {
    // A read first, so a fresh seat (the usual case) costs no write and, on SQLite, does not
    // queue for the single writer. Its own statement, so the reader goes back to the pool
    // before a writer is asked for: in a `match` scrutinee it would be held through the arms,
    // and on PostgreSQL (one pool) sixteen renewals at once each held one connection while
    // waiting for another, until the pool timed out.
    let expires = expiry(&mut *reader.acquire().await?, room, user).await?;
    match expires {
        None => Ok(false),
        Some(expires) if expires >= renewal.renew_before => Ok(true),
        Some(_) => renew(&mut *writer.acquire().await?, room, user, renewal).await,
    }
}

/// Whether the user holds a seat, renewing it per `renewal`: a write only for a seat close to
/// expiring.
pub(super) async fn touch_seat_in(conn: &mut Conn, room: RoomId, user: UserId, renewal: Renewal) -> StoreResult<bool> {
    match expiry(conn, room, user).await? {
        None => Ok(false),
        Some(expires) if expires >= renewal.renew_before => Ok(true),
        Some(_) => renew(conn, room, user, renewal).await,
    }
}

/// Extends the user's seat to at least `renewal.until`; whether they hold one.
pub(super) async fn renew(conn: &mut Conn, room: RoomId, user: UserId, renewal: Renewal) -> StoreResult<bool> {
    let renewed = sqlx::query(
        "UPDATE seats SET expires_at = CASE WHEN expires_at < $3 THEN $3 ELSE expires_at END \
         WHERE room_id = $1 AND user_id = $2",
    )
    .bind(id(room.0))
    .bind(id(user.0))
    .bind(time(renewal.until))
    .execute(conn)
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// See `Store::take_seats`: one transaction, one room lock and one commit for the batch.
pub(super) async fn take_seats(
    pool: &sqlx::Pool<super::Db>,
    room: RoomId,
    joins: &[SeatRequest],
) -> StoreResult<Vec<Seat>> {
    let mut tx = pool.begin().await?;
    let Some((_, max)) = lock_room(&mut tx, room).await? else { return Err(StorageError::NotFound) };
    let mut outcomes = Vec::with_capacity(joins.len());
    let mut seated = None;
    for join in joins {
        outcomes.push(seat_in(&mut tx, room, max, join, &mut seated).await?);
    }
    let room = room_in(&mut tx, room).await?;
    tx.commit().await?;
    Ok(outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Taken(joined) => Seat::Taken { room: room.clone(), joined },
            Outcome::Full => Seat::Full,
            Outcome::Banned => Seat::Banned,
        })
        .collect())
}

// Lives only until the batch commits, like `Seat` itself.
#[allow(clippy::large_enum_variant)]
enum Outcome {
    Taken(Option<Message>),
    Full,
    Banned,
}

/// One request of a batch, under the room's lock. `seated` is the room's seat count once
/// read, kept up to date through the batch instead of counted again for every join.
async fn seat_in(
    conn: &mut Conn,
    room: RoomId,
    max: u32,
    join: &SeatRequest,
    seated: &mut Option<i64>,
) -> StoreResult<Outcome> {
    let user = &join.user;
    if is_banned(conn, room, user.id, join.address).await? {
        return Ok(Outcome::Banned);
    }
    let kept = sqlx::query(
        "UPDATE seats SET expires_at = CASE WHEN expires_at < $3 THEN $3 ELSE expires_at END, \
         user_name = $4, address = $5 WHERE room_id = $1 AND user_id = $2",
    )
    .bind(id(room.0))
    .bind(id(user.id.0))
    .bind(time(join.until))
    .bind(user.nickname())
    .bind(join.address.to_string())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if kept {
        return Ok(Outcome::Taken(None));
    }
    let count = match *seated {
        Some(count) => count,
        None => seat_count(conn, room).await?,
    };
    if count >= i64::from(max) {
        *seated = Some(count);
        return Ok(Outcome::Full);
    }
    insert_seat(conn, room, user, join.address, join.until).await?;
    *seated = Some(count + 1);
    Ok(Outcome::Taken(Some(append_in(conn, &system(room, user, MemberChange::Joined, joined_text(user))).await?)))
}

pub(super) async fn insert_seat(
    conn: &mut Conn,
    room: RoomId,
    user: &User,
    address: ClientAddress,
    until: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO seats (room_id, user_id, user_name, joined_at, expires_at, address) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id(room.0))
    .bind(id(user.id.0))
    .bind(user.nickname())
    .bind(time(Utc::now()))
    .bind(time(until))
    .bind(address.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

async fn seat_count(conn: &mut Conn, room: RoomId) -> StoreResult<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM seats WHERE room_id = $1").bind(id(room.0)).fetch_one(conn).await?)
}

/// See `Store::expire_seats`. One short transaction per room, holding that room's lock, so a
/// concurrent seat request either lands before the count (and keeps the room) or finds it gone.
pub(super) async fn expire_seats(pool: &sqlx::Pool<super::Db>, now: DateTime<Utc>) -> StoreResult<Vec<Departure>> {
    let rooms: Vec<Id> = sqlx::query_scalar("SELECT DISTINCT room_id FROM seats WHERE expires_at < $1")
        .bind(time(now))
        .fetch_all(pool)
        .await?;
    let mut departures = Vec::with_capacity(rooms.len());
    for room in rooms {
        let mut tx = pool.begin().await?;
        if let Some(departure) = expire_in(&mut tx, RoomId(This::uuid(&room)), now).await? {
            tx.commit().await?;
            departures.push(departure);
        }
    }
    Ok(departures)
}

/// Removes the room's seats that expired before `now`; `None` if there were none (another
/// instance reaped them first) or the room is gone.
async fn expire_in(conn: &mut Conn, room: RoomId, now: DateTime<Utc>) -> StoreResult<Option<Departure>> {
    let Some((owner, _)) = lock_room(conn, room).await? else { return Ok(None) };
    let gone: Vec<(Id, Option<String>)> =
        sqlx::query_as("DELETE FROM seats WHERE room_id = $1 AND expires_at < $2 RETURNING user_id, user_name")
            .bind(id(room.0))
            .bind(time(now))
            .fetch_all(&mut *conn)
            .await?;
    if gone.is_empty() {
        return Ok(None);
    }
    if seat_count(conn, room).await? == 0 {
        sqlx::query("DELETE FROM rooms WHERE id = $1").bind(id(room.0)).execute(&mut *conn).await?;
        return Ok(Some(Departure { room_id: room, messages: Vec::new(), room: None }));
    }
    let mut messages = Vec::with_capacity(gone.len() + 1);
    let mut owner_left = false;
    for (user, name) in gone {
        let user = User::new(UserId(This::uuid(&user)), name.as_deref());
        owner_left |= user.id == owner;
        messages.push(append_in(conn, &system(room, &user, MemberChange::Left, left_text(&user))).await?);
    }
    if owner_left {
        // The member present longest inherits the room.
        let (heir, name): (Id, Option<String>) = sqlx::query_as(
            "SELECT user_id, user_name FROM seats WHERE room_id = $1 ORDER BY joined_at, user_id LIMIT 1",
        )
        .bind(id(room.0))
        .fetch_one(&mut *conn)
        .await?;
        messages.push(set_owner(conn, room, &User::new(UserId(This::uuid(&heir)), name.as_deref())).await?);
    }
    Ok(Some(Departure { room_id: room, messages, room: Some(room_in(conn, room).await?) }))
}
