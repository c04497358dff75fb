//! The storage rules, written once: every flow (create a room, take a seat, kick, hand over,
//! rename, expire and inherit, append and read) and every statement both databases speak.
//!
//! This module is compiled once per backend: `postgres.rs` and `sqlite.rs` each declare it with
//! `#[path]`, after defining `This` (their store) and implementing [`Dialect`] for it, which
//! says how ids and times are stored, how a room is locked, and the few operations each does its
//! own way. So the code below is concrete (no generic `sqlx` bounds), and a rule changed here
//! changes for both. Statements use `$n` placeholders, which both drivers accept.

mod append;
mod owner;
mod rows;
mod seats;

use std::future::Future;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::Database;
use uuid::Uuid;

pub(super) use append::{append_each, append_in};
use rows::{MessageRow, RoomRow, MESSAGE_COLUMNS, ROOM_COLUMNS};

use super::This;
use crate::{
    domain::{ClientAddress, GifId, Member, MemberChange, Message, NewMessage, NewRoom, Room, RoomId, User, UserId},
    storage::{
        joined_text, system, Departure, OwnerAction, Page, Renewal, RoomPage, Seat, SeatRequest, StorageError, Store,
        StoreResult, StreamView,
    },
};

/// What a backend tells the rules: its column types, its room lock, and the operations it
/// does its own way (each for speed; the rules have a plain version where one is needed).
pub(super) trait Dialect: Sync {
    type Db: Database;
    /// How a UUID is stored (PostgreSQL: `uuid`; SQLite: hyphenated text).
    type Id;
    /// How a time is stored (PostgreSQL: `timestamptz`; SQLite: milliseconds since the epoch).
    type Time;
    /// A small integer column (capacities, GIF dimensions).
    type Int;

    /// Reads the room's owner and capacity. Where rows can be locked (PostgreSQL), the room's
    /// row stays locked until commit: every seat change, owner change and sequence number in a
    /// room passes through it, on every instance.
    const LOCK_ROOM: &'static str;
    /// Whether `LOCK_ROOM` locks anything. SQLite's single writer connection already makes a
    /// write transaction exclusive, so it skips the statement where only the lock was wanted.
    const ROW_LOCKS: bool;

    /// How many decimal digits of a second a stored time keeps.
    const TIME_DIGITS: u16;

    /// A room's seat holders as one JSON array in one row, longest-present first, each
    /// `[user id, name or null, joined at in 10^-TIME_DIGITS s, is owner]`, beside the room's
    /// last sequence number; no row when there is no room. One row, not one per member: a
    /// 2,000-member room's list was 2,000 rows to decode (and, on SQLite, to hand from its
    /// worker thread one by one) for every member opening a stream.
    const MEMBERS: &'static str;

    fn id(uuid: Uuid) -> Self::Id;
    fn uuid(id: &Self::Id) -> Uuid;
    fn time(at: DateTime<Utc>) -> Self::Time;
    fn utc(at: Self::Time) -> DateTime<Utc>;
    fn int(n: u32) -> Self::Int;
    fn count(n: Self::Int) -> u32;

    /// Where writes go, and where reads may go (SQLite: a pool of readers beside the writer).
    fn writer(&self) -> &sqlx::Pool<Self::Db>;
    fn reader(&self) -> &sqlx::Pool<Self::Db>;

    /// See [`Store::is_sole_instance`].
    fn is_sole_instance(&self) -> impl Future<Output = StoreResult<bool>> + Send;
    /// See [`Store::extend_seats`]: thousands of seats in a statement or a few.
    fn extend_seats(
        &self,
        seats: &[(RoomId, UserId)],
        until: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A faster way to store `batch` than [`append_each`], if the backend has one for it.
    fn append_fast(
        &self,
        room: RoomId,
        batch: &[NewMessage],
        renewal: Renewal,
    ) -> impl Future<Output = StoreResult<Option<Vec<Option<Message>>>>> + Send;
}

type Db = <This as Dialect>::Db;
type Conn = <Db as Database>::Connection;
type Id = <This as Dialect>::Id;
type Time = <This as Dialect>::Time;
type Int = <This as Dialect>::Int;

fn id(uuid: Uuid) -> Id {
    This::id(uuid)
}

fn time(at: DateTime<Utc>) -> Time {
    This::time(at)
}

/// The room's owner and capacity, the row locked (see [`Dialect::LOCK_ROOM`]); `None` when
/// there is no room.
async fn lock_room(conn: &mut Conn, room: RoomId) -> StoreResult<Option<(UserId, u32)>> {
    let row: Option<(Id, Int)> = sqlx::query_as(This::LOCK_ROOM).bind(id(room.0)).fetch_optional(conn).await?;
    Ok(row.map(|(owner, max)| (UserId(This::uuid(&owner)), This::count(max))))
}

#[async_trait]
impl Store for This {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(self.reader()).await?;
        Ok(())
    }

    async fn is_sole_instance(&self) -> StoreResult<bool> {
        Dialect::is_sole_instance(self).await
    }

    async fn has_live_seats(&self, now: DateTime<Utc>) -> StoreResult<bool> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM seats WHERE expires_at > $1)")
            .bind(time(now))
            .fetch_one(self.reader())
            .await?)
    }

    async fn secret(&self, name: &str, candidate: &str) -> StoreResult<String> {
        // Two statements on one connection: whoever inserts first, every reader gets theirs.
        let mut conn = self.writer().acquire().await?;
        sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(candidate)
            .execute(&mut *conn)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *conn)
            .await?)
    }

    async fn create_room(&self, new: NewRoom, seat_until: DateTime<Utc>) -> StoreResult<(Room, Message)> {
        let room = RoomId::random();
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "INSERT INTO rooms (id, title, max_members, password_hash, owner_id, owner_name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id(room.0))
        .bind(new.title.as_str())
        .bind(This::int(new.max.get()))
        .bind(&new.password_hash)
        .bind(id(new.owner.id.0))
        .bind(new.owner.nickname())
        .bind(time(Utc::now()))
        .execute(&mut *tx)
        .await?;
        seats::insert_seat(&mut tx, room, &new.owner, new.owner_address, seat_until).await?;
        // The owner set the password, so they never need to type it.
        grant_in(&mut tx, room, new.owner.id).await?;
        let joined =
            append_in(&mut tx, &system(room, &new.owner, MemberChange::Joined, joined_text(&new.owner))).await?;
        let room = rows::room_in(&mut tx, room).await?;
        tx.commit().await?;
        Ok((room, joined))
    }

    async fn room(&self, id: RoomId) -> StoreResult<Room> {
        rows::room_in(&mut *self.reader().acquire().await?, id).await
    }

    async fn rooms(&self) -> StoreResult<Vec<Room>> {
        let rows: Vec<RoomRow> =
            sqlx::query_as(&format!("{ROOM_COLUMNS} ORDER BY r.created_at, r.id")).fetch_all(self.reader()).await?;
        Ok(rows.into_iter().map(Room::from).collect())
    }

    async fn rooms_page(&self, page: RoomPage) -> StoreResult<Vec<Room>> {
        let limit = i64::from(page.limit);
        let rows: Vec<RoomRow> = match page.after {
            Some((created, after)) => {
                sqlx::query_as(&format!(
                    "{ROOM_COLUMNS} WHERE (r.created_at, r.id) > ($1, $2) ORDER BY r.created_at, r.id LIMIT $3"
                ))
                .bind(time(created))
                .bind(id(after.0))
                .bind(limit)
                .fetch_all(self.reader())
                .await?
            }
            None => {
                sqlx::query_as(&format!("{ROOM_COLUMNS} ORDER BY r.created_at, r.id LIMIT $1"))
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
            }
        };
        Ok(rows.into_iter().map(Room::from).collect())
    }

    async fn password_hash(&self, room: RoomId) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT password_hash FROM rooms WHERE id = $1")
            .bind(id(room.0))
            .fetch_one(self.reader())
            .await?)
    }

    async fn delete_room(&self, room: RoomId) -> StoreResult<()> {
        let deleted = sqlx::query("DELETE FROM rooms WHERE id = $1").bind(id(room.0)).execute(self.writer()).await?;
        if deleted.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    async fn grant_access(&self, room: RoomId, user: UserId) -> StoreResult<()> {
        grant_in(&mut *self.writer().acquire().await?, room, user).await
    }

    async fn has_access(&self, room: RoomId, user: UserId) -> StoreResult<bool> {
        self.has_row("SELECT EXISTS (SELECT 1 FROM room_access WHERE room_id = $1 AND user_id = $2)", room, user).await
    }

    async fn is_kicked(&self, room: RoomId, user: UserId) -> StoreResult<bool> {
        self.has_row("SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2)", room, user).await
    }

    async fn is_banned(&self, room: RoomId, user: UserId, address: ClientAddress) -> StoreResult<bool> {
        seats::is_banned(&mut *self.reader().acquire().await?, room, user, address).await
    }

    async fn take_seats(&self, room: RoomId, joins: &[SeatRequest]) -> StoreResult<Vec<Seat>> {
        seats::take_seats(self.writer(), room, joins).await
    }

    async fn stream_view(&self, room: RoomId, user: UserId) -> StoreResult<StreamView> {
        seats::stream_view(&mut *self.reader().acquire().await?, room, user).await
    }

    async fn touch_seat(&self, room: RoomId, user: UserId, renewal: Renewal) -> StoreResult<bool> {
        seats::touch(self.reader(), self.writer(), room, user, renewal).await
    }

    async fn extend_seats(&self, seats: &[(RoomId, UserId)], until: DateTime<Utc>) -> StoreResult<()> {
        if seats.is_empty() {
            return Ok(());
        }
        Dialect::extend_seats(self, seats, until).await
    }

    async fn release_seat(&self, room: RoomId, user: UserId, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE seats SET expires_at = CASE WHEN expires_at > $3 THEN $3 ELSE expires_at END \
             WHERE room_id = $1 AND user_id = $2",
        )
        .bind(id(room.0))
        .bind(id(user.0))
        .bind(time(at))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn expire_seats(&self, now: DateTime<Utc>) -> StoreResult<Vec<Departure>> {
        seats::expire_seats(self.writer(), now).await
    }

    async fn resume_seats(&self, until: DateTime<Utc>) -> StoreResult<u64> {
        let resumed = sqlx::query("UPDATE seats SET expires_at = $1 WHERE expires_at < $1")
            .bind(time(until))
            .execute(self.writer())
            .await?;
        Ok(resumed.rows_affected())
    }

    async fn append_posts(
        &self,
        room: RoomId,
        batch: Vec<NewMessage>,
        renewal: Renewal,
    ) -> StoreResult<Vec<Option<Message>>> {
        debug_assert!(batch.iter().all(|m| m.room == room));
        if let Some(stored) = self.append_fast(room, &batch, renewal).await? {
            return Ok(stored);
        }
        // One transaction, so one commit for the whole batch.
        let mut tx = self.writer().begin().await?;
        let stored = append_each(&mut tx, room, &batch, renewal).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn messages(&self, room: RoomId, page: Page, viewer: UserId) -> StoreResult<Vec<Message>> {
        // Without `after`, read newest-first to find the last `limit`, then flip.
        let newest_first = page.after.is_none();
        let order = if newest_first { "DESC" } else { "ASC" };
        let rows: Vec<MessageRow> = sqlx::query_as(&format!(
            "{MESSAGE_COLUMNS} WHERE room_id = $1 AND seq > $2 AND seq < $3 \
             AND (to_user_id IS NULL OR to_user_id = $5 OR user_id = $5) ORDER BY seq {order} LIMIT $4"
        ))
        .bind(id(room.0))
        .bind(page.after.unwrap_or(0))
        .bind(page.before.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .bind(id(viewer.0))
        .fetch_all(self.reader())
        .await?;
        let mut messages: Vec<Message> = rows.into_iter().map(Message::from).collect();
        if newest_first {
            messages.reverse();
        }
        Ok(messages)
    }

    async fn message(&self, room: RoomId, seq: i64) -> StoreResult<Option<Message>> {
        let row: Option<MessageRow> = sqlx::query_as(&format!("{MESSAGE_COLUMNS} WHERE room_id = $1 AND seq = $2"))
            .bind(id(room.0))
            .bind(seq)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.map(Message::from))
    }

    async fn last_message_id(&self, room: RoomId) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = $1")
            .bind(id(room.0))
            .fetch_one(self.reader())
            .await?)
    }

    async fn gif(&self, room: RoomId, gif: &GifId) -> StoreResult<Option<Bytes>> {
        let data: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT data FROM gifs WHERE id = $1 AND EXISTS (SELECT 1 FROM messages WHERE gif_id = $1 AND room_id = $2)",
        )
        .bind(gif.as_str())
        .bind(id(room.0))
        .fetch_optional(self.reader())
        .await?;
        Ok(data.map(Bytes::from))
    }

    async fn sweep_gifs(&self, stored_before: DateTime<Utc>) -> StoreResult<u64> {
        // Storing a GIF again refreshes its `created_at` (`append::insert_gif`), so a file whose
        // message is on its way is never a candidate here.
        let swept = sqlx::query(
            "DELETE FROM gifs WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM messages WHERE gif_id = gifs.id)",
        )
        .bind(time(stored_before))
        .execute(self.writer())
        .await?;
        Ok(swept.rows_affected())
    }

    async fn members(&self, room: RoomId) -> StoreResult<(Vec<Member>, i64)> {
        rows::members(self.reader(), room).await
    }

    async fn kick(&self, room: RoomId, by: &User, target: UserId) -> StoreResult<OwnerAction> {
        owner::kick(self.writer(), room, by, target).await
    }

    async fn transfer_ownership(&self, room: RoomId, by: &User, target: UserId) -> StoreResult<OwnerAction> {
        owner::transfer_ownership(self.writer(), room, by, target).await
    }

    async fn rename(&self, user: &User, old_name: &str) -> StoreResult<Vec<Message>> {
        owner::rename(self.writer(), user, old_name).await
    }
}

impl This {
    /// Whether `exists` (an `EXISTS` over room `$1` and user `$2`) finds a row.
    async fn has_row(&self, exists: &'static str, room: RoomId, user: UserId) -> StoreResult<bool> {
        Ok(sqlx::query_scalar(exists).bind(id(room.0)).bind(id(user.0)).fetch_one(self.reader()).await?)
    }
}

/// Records that the user may read a locked room (they gave its password, or set it).
async fn grant_in(conn: &mut Conn, room: RoomId, user: UserId) -> StoreResult<()> {
    sqlx::query("INSERT INTO room_access (room_id, user_id, granted_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(id(room.0))
        .bind(id(user.0))
        .bind(time(Utc::now()))
        .execute(conn)
        .await?;
    Ok(())
}
