//! Embedded SQLite: the zero-setup default. One process owns the file, so a single-connection
//! writer pool serialises every write (no `SQLITE_BUSY`, no row locks needed), while a small
//! reader pool serves history and lookups concurrently thanks to WAL mode.

use std::{path::Path, str::FromStr, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqliteConnection, SqlitePool,
};

use super::{
    joined_text, kicked_text, left_text, owner_text, renamed_text, system, Departure, OwnerAction, Page, Renewal,
    RoomPage, Seat, StorageError, Store, StoreResult,
};
use crate::domain::{
    ClientAddress, GifId, Member, MemberChange, Message, MessageKind, NewMessage, NewRoom, Room, RoomId, User, UserId,
};

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Held for the process's lifetime: see [`claim_single_instance`].
    _instance_lock: Option<std::fs::File>,
}

/// SQLite means one instance: a second process on the same file would share the database
/// but not the events (there is no LISTEN/NOTIFY), so its users would miss each other's
/// messages. An exclusive `flock` on `<db>.lock` turns that mistake into a clear error.
fn claim_single_instance(database: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let path = database.with_extension("db.lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        anyhow::bail!(
            "another gif-chat process is already using {}: with SQLite the server runs as a single \
             instance; to run several instances, give them all the same PostgreSQL DATABASE_URL",
            database.display()
        );
    }
    Ok(file)
}

impl SqliteStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across process crashes in WAL mode; only a power cut can
            // lose the last transactions, which is the usual trade for an embedded default.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let file = Path::new(options.get_filename()).to_path_buf();
        if let Some(parent) = file.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)?;
            }
        }
        let in_memory = file.as_os_str().is_empty() || file.to_string_lossy().contains(":memory:");
        let instance_lock = if in_memory { None } else { Some(claim_single_instance(&file)?) };
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        Ok(Self { writer, reader, _instance_lock: instance_lock })
    }
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn parse_uuid(raw: &str) -> uuid::Uuid {
    // Ids are only ever written by this module, from real UUIDs.
    uuid::Uuid::parse_str(raw).unwrap_or_default()
}

const ROOM_COLUMNS: &str = "SELECT r.id, r.title, r.max_members, r.password_hash IS NOT NULL AS locked, \
     r.owner_id, r.owner_name, r.created_at, \
     (SELECT count(*) FROM seats s WHERE s.room_id = r.id) AS members FROM rooms r";

/// Binds room, user, address (`?1`–`?3`); see `Store::is_banned`.
const IS_BANNED: &str = "SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = ?1 AND user_id = ?2) \
     OR (EXISTS (SELECT 1 FROM room_address_bans WHERE room_id = ?1 AND address = ?3) \
         AND NOT EXISTS (SELECT 1 FROM seats WHERE room_id = ?1 AND user_id = ?2) \
         AND NOT EXISTS (SELECT 1 FROM rooms WHERE id = ?1 AND owner_id = ?2))";

const MESSAGE_COLUMNS: &str = "SELECT room_id, seq, kind, user_id, user_name, to_user_id, to_user_name, text, \
     gif_id, gif_width, gif_height, created_at, member_change FROM messages";

#[derive(sqlx::FromRow)]
struct RoomRow {
    id: String,
    title: String,
    max_members: i64,
    locked: bool,
    owner_id: String,
    owner_name: Option<String>,
    created_at: i64,
    members: i64,
}

impl From<RoomRow> for Room {
    fn from(row: RoomRow) -> Self {
        Room {
            id: RoomId(parse_uuid(&row.id)),
            title: row.title,
            max: row.max_members as u32,
            locked: row.locked,
            members: row.members as u32,
            owner: User::new(UserId(parse_uuid(&row.owner_id)), row.owner_name.as_deref()),
            created_at: from_millis(row.created_at),
        }
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    room_id: String,
    seq: i64,
    kind: String,
    user_id: String,
    user_name: Option<String>,
    to_user_id: Option<String>,
    to_user_name: Option<String>,
    text: Option<String>,
    gif_id: Option<String>,
    gif_width: Option<i64>,
    gif_height: Option<i64>,
    created_at: i64,
    member_change: Option<String>,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        Message {
            id: row.seq,
            room: RoomId(parse_uuid(&row.room_id)),
            kind: MessageKind::parse(&row.kind).unwrap_or(MessageKind::System),
            user: User::new(UserId(parse_uuid(&row.user_id)), row.user_name.as_deref()),
            to: row.to_user_id.map(|id| User::new(UserId(parse_uuid(&id)), row.to_user_name.as_deref())),
            text: row.text,
            gif_url: row.gif_id.as_deref().and_then(GifId::parse).map(|id| id.url(RoomId(parse_uuid(&row.room_id)))),
            gif_width: row.gif_width.map(|w| w as u16),
            gif_height: row.gif_height.map(|h| h as u16),
            created_at: from_millis(row.created_at),
            change: row.member_change.as_deref().and_then(MemberChange::parse),
        }
    }
}

async fn room_in(conn: &mut SqliteConnection, id: RoomId) -> StoreResult<Room> {
    let row: RoomRow =
        sqlx::query_as(&format!("{ROOM_COLUMNS} WHERE r.id = ?")).bind(id.to_string()).fetch_one(conn).await?;
    Ok(row.into())
}

async fn append_in(conn: &mut SqliteConnection, message: &NewMessage) -> StoreResult<Message> {
    let (text, to, gif) = message.parts();
    let now = Utc::now();
    if let Some(gif) = gif {
        sqlx::query(
            "INSERT INTO gifs (id, data, width, height, frames, created_at) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(gif.id.as_str())
        .bind(gif.bytes.as_ref())
        .bind(i64::from(gif.width))
        .bind(i64::from(gif.height))
        .bind(i64::from(gif.frames))
        .bind(millis(now))
        .execute(&mut *conn)
        .await?;
    }
    let seq: i64 = sqlx::query_scalar("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq")
        .bind(message.room.to_string())
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO messages (room_id, seq, kind, user_id, user_name, to_user_id, to_user_name, text, gif_id, \
         gif_width, gif_height, created_at, member_change) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(message.room.to_string())
    .bind(seq)
    .bind(message.kind().as_str())
    .bind(message.author.id.to_string())
    .bind(message.author.nickname())
    .bind(to.map(|u| u.id.to_string()))
    .bind(to.and_then(User::nickname))
    .bind(&text)
    .bind(gif.map(|g| g.id.as_str()))
    .bind(gif.map(|g| i64::from(g.width)))
    .bind(gif.map(|g| i64::from(g.height)))
    .bind(millis(now))
    .bind(message.change().map(MemberChange::as_str))
    .execute(&mut *conn)
    .await?;
    // Millisecond precision, as a later read from the table would give.
    Ok(message.stored(seq, from_millis(millis(now))))
}

/// Whether the user holds a seat, renewing it per `renewal` (a write only for a seat close
/// to expiring).
async fn touch_seat_in(conn: &mut SqliteConnection, room: RoomId, user: UserId, renewal: Renewal) -> StoreResult<bool> {
    let expires: Option<i64> = sqlx::query_scalar("SELECT expires_at FROM seats WHERE room_id = ? AND user_id = ?")
        .bind(room.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(expires) = expires else { return Ok(false) };
    if expires < millis(renewal.renew_before) {
        sqlx::query("UPDATE seats SET expires_at = MAX(expires_at, ?) WHERE room_id = ? AND user_id = ?")
            .bind(millis(renewal.until))
            .bind(room.to_string())
            .bind(user.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}

/// The room's owner; `NotFound` when there is no room. (The single writer connection already
/// makes the caller's transaction exclusive, so there is nothing to lock.)
async fn owner_of(conn: &mut SqliteConnection, room: RoomId) -> StoreResult<UserId> {
    let owner: String =
        sqlx::query_scalar("SELECT owner_id FROM rooms WHERE id = ?").bind(room.to_string()).fetch_one(conn).await?;
    Ok(UserId(parse_uuid(&owner)))
}

/// The seat holder's name column (`Some(None)`: seated, no nickname), or `None` when unseated.
async fn seated_name(conn: &mut SqliteConnection, room: RoomId, user: UserId) -> StoreResult<Option<Option<String>>> {
    Ok(sqlx::query_scalar("SELECT user_name FROM seats WHERE room_id = ? AND user_id = ?")
        .bind(room.to_string())
        .bind(user.to_string())
        .fetch_optional(conn)
        .await?)
}

async fn set_owner(conn: &mut SqliteConnection, room: RoomId, owner: &User) -> StoreResult<Message> {
    sqlx::query("UPDATE rooms SET owner_id = ?, owner_name = ? WHERE id = ?")
        .bind(owner.id.to_string())
        .bind(owner.nickname())
        .bind(room.to_string())
        .execute(&mut *conn)
        .await?;
    append_in(conn, &system(room, owner, MemberChange::Owner, owner_text(owner))).await
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn is_sole_instance(&self) -> StoreResult<bool> {
        Ok(true) // the file lock (`claim_single_instance`) saw to it
    }

    async fn has_live_seats(&self, now: DateTime<Utc>) -> StoreResult<bool> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM seats WHERE expires_at > ?)")
            .bind(millis(now))
            .fetch_one(&self.reader)
            .await?)
    }

    async fn secret(&self, name: &str, candidate: &str) -> StoreResult<String> {
        sqlx::query("INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(candidate)
            .execute(&self.writer)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&self.writer)
            .await?)
    }

    async fn create_room(&self, new: NewRoom, seat_until: DateTime<Utc>) -> StoreResult<(Room, Message)> {
        let id = RoomId::random();
        let now = millis(Utc::now());
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO rooms (id, title, max_members, password_hash, owner_id, owner_name, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(new.title.as_str())
        .bind(i64::from(new.max.get()))
        .bind(&new.password_hash)
        .bind(new.owner.id.to_string())
        .bind(new.owner.nickname())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO seats (room_id, user_id, user_name, joined_at, expires_at, address) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(new.owner.id.to_string())
        .bind(new.owner.nickname())
        .bind(now)
        .bind(millis(seat_until))
        .bind(new.owner_address.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO room_access (room_id, user_id, granted_at) VALUES (?, ?, ?)")
            .bind(id.to_string())
            .bind(new.owner.id.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let joined = append_in(&mut tx, &system(id, &new.owner, MemberChange::Joined, joined_text(&new.owner))).await?;
        let room = room_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok((room, joined))
    }

    async fn room(&self, id: RoomId) -> StoreResult<Room> {
        room_in(&mut *self.reader.acquire().await?, id).await
    }

    async fn rooms(&self) -> StoreResult<Vec<Room>> {
        let rows: Vec<RoomRow> =
            sqlx::query_as(&format!("{ROOM_COLUMNS} ORDER BY r.created_at, r.id")).fetch_all(&self.reader).await?;
        Ok(rows.into_iter().map(Room::from).collect())
    }

    async fn rooms_page(&self, page: RoomPage) -> StoreResult<Vec<Room>> {
        let (created, id) = page.after.map_or((i64::MIN, String::new()), |(at, id)| (millis(at), id.to_string()));
        let rows: Vec<RoomRow> = sqlx::query_as(&format!(
            "{ROOM_COLUMNS} WHERE (r.created_at, r.id) > (?, ?) ORDER BY r.created_at, r.id LIMIT ?"
        ))
        .bind(created)
        .bind(id)
        .bind(i64::from(page.limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(Room::from).collect())
    }

    async fn password_hash(&self, id: RoomId) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT password_hash FROM rooms WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&self.reader)
            .await?)
    }

    async fn delete_room(&self, id: RoomId) -> StoreResult<()> {
        let deleted = sqlx::query("DELETE FROM rooms WHERE id = ?").bind(id.to_string()).execute(&self.writer).await?;
        if deleted.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    async fn grant_access(&self, room: RoomId, user: UserId) -> StoreResult<()> {
        sqlx::query("INSERT INTO room_access (room_id, user_id, granted_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
            .bind(room.to_string())
            .bind(user.to_string())
            .bind(millis(Utc::now()))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn has_access(&self, room: RoomId, user: UserId) -> StoreResult<bool> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM room_access WHERE room_id = ? AND user_id = ?)")
            .bind(room.to_string())
            .bind(user.to_string())
            .fetch_one(&self.reader)
            .await?)
    }

    async fn is_kicked(&self, room: RoomId, user: UserId) -> StoreResult<bool> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = ? AND user_id = ?)")
            .bind(room.to_string())
            .bind(user.to_string())
            .fetch_one(&self.reader)
            .await?)
    }

    async fn is_banned(&self, room: RoomId, user: UserId, address: ClientAddress) -> StoreResult<bool> {
        Ok(sqlx::query_scalar(IS_BANNED)
            .bind(room.to_string())
            .bind(user.to_string())
            .bind(address.to_string())
            .fetch_one(&self.reader)
            .await?)
    }

    async fn take_seat(
        &self,
        room: RoomId,
        user: &User,
        address: ClientAddress,
        until: DateTime<Utc>,
    ) -> StoreResult<Seat> {
        // The single writer connection makes this transaction exclusive: no lock needed.
        let mut tx = self.writer.begin().await?;
        let max: i64 = sqlx::query_scalar("SELECT max_members FROM rooms WHERE id = ?")
            .bind(room.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let banned: bool = sqlx::query_scalar(IS_BANNED)
            .bind(room.to_string())
            .bind(user.id.to_string())
            .bind(address.to_string())
            .fetch_one(&mut *tx)
            .await?;
        if banned {
            return Ok(Seat::Banned);
        }
        let kept = sqlx::query(
            "UPDATE seats SET expires_at = MAX(expires_at, ?), user_name = ?, address = ? \
             WHERE room_id = ? AND user_id = ?",
        )
        .bind(millis(until))
        .bind(user.nickname())
        .bind(address.to_string())
        .bind(room.to_string())
        .bind(user.id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let joined = if kept {
            None
        } else {
            let taken: i64 = sqlx::query_scalar("SELECT count(*) FROM seats WHERE room_id = ?")
                .bind(room.to_string())
                .fetch_one(&mut *tx)
                .await?;
            if taken >= max {
                return Ok(Seat::Full);
            }
            sqlx::query(
                "INSERT INTO seats (room_id, user_id, user_name, joined_at, expires_at, address) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(room.to_string())
            .bind(user.id.to_string())
            .bind(user.nickname())
            .bind(millis(Utc::now()))
            .bind(millis(until))
            .bind(address.to_string())
            .execute(&mut *tx)
            .await?;
            Some(append_in(&mut tx, &system(room, user, MemberChange::Joined, joined_text(user))).await?)
        };
        let room = room_in(&mut tx, room).await?;
        tx.commit().await?;
        Ok(Seat::Taken { room, joined })
    }

    async fn touch_seat(&self, room: RoomId, user: UserId, renewal: Renewal) -> StoreResult<bool> {
        // A read first, so a fresh seat does not queue for the single writer.
        let expires: Option<i64> = sqlx::query_scalar("SELECT expires_at FROM seats WHERE room_id = ? AND user_id = ?")
            .bind(room.to_string())
            .bind(user.to_string())
            .fetch_optional(&self.reader)
            .await?;
        match expires {
            None => Ok(false),
            Some(expires) if expires >= millis(renewal.renew_before) => Ok(true),
            Some(_) => touch_seat_in(&mut *self.writer.acquire().await?, room, user, renewal).await,
        }
    }

    async fn extend_seats(&self, seats: &[(RoomId, UserId)], until: DateTime<Utc>) -> StoreResult<()> {
        // One statement per chunk (the pairs travel as one JSON parameter), each its own
        // commit: a heartbeat for thousands of streams holds the single writer for a few
        // milliseconds at a time, not for thousands of statements while posts wait.
        for chunk in seats.chunks(1000) {
            let pairs: Vec<[String; 2]> = chunk.iter().map(|(r, u)| [r.to_string(), u.to_string()]).collect();
            sqlx::query(
                "UPDATE seats SET expires_at = MAX(expires_at, ?1) WHERE (room_id, user_id) IN \
                 (SELECT value ->> 0, value ->> 1 FROM json_each(?2))",
            )
            .bind(millis(until))
            .bind(serde_json::to_string(&pairs).map_err(anyhow::Error::from)?)
            .execute(&self.writer)
            .await?;
        }
        Ok(())
    }

    async fn release_seat(&self, room: RoomId, user: UserId, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE seats SET expires_at = MIN(expires_at, ?) WHERE room_id = ? AND user_id = ?")
            .bind(millis(at))
            .bind(room.to_string())
            .bind(user.to_string())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn expire_seats(&self, now: DateTime<Utc>) -> StoreResult<Vec<Departure>> {
        let mut tx = self.writer.begin().await?;
        let gone: Vec<(String, String, Option<String>)> =
            sqlx::query_as("DELETE FROM seats WHERE expires_at < ? RETURNING room_id, user_id, user_name")
                .bind(millis(now))
                .fetch_all(&mut *tx)
                .await?;
        let mut by_room: Vec<(RoomId, Vec<User>)> = Vec::new();
        for (room_id, user_id, name) in gone {
            let room = RoomId(parse_uuid(&room_id));
            let user = User::new(UserId(parse_uuid(&user_id)), name.as_deref());
            match by_room.iter_mut().find(|(r, _)| *r == room) {
                Some((_, users)) => users.push(user),
                None => by_room.push((room, vec![user])),
            }
        }
        let mut departures = Vec::with_capacity(by_room.len());
        for (room, users) in by_room {
            let remaining: i64 = sqlx::query_scalar("SELECT count(*) FROM seats WHERE room_id = ?")
                .bind(room.to_string())
                .fetch_one(&mut *tx)
                .await?;
            if remaining == 0 {
                sqlx::query("DELETE FROM rooms WHERE id = ?").bind(room.to_string()).execute(&mut *tx).await?;
                departures.push(Departure { room_id: room, messages: Vec::new(), room: None });
            } else {
                let mut messages = Vec::with_capacity(users.len() + 1);
                let owner = owner_of(&mut tx, room).await?;
                let owner_left = users.iter().any(|user| user.id == owner);
                for user in users {
                    messages
                        .push(append_in(&mut tx, &system(room, &user, MemberChange::Left, left_text(&user))).await?);
                }
                if owner_left {
                    // The member present longest inherits the room.
                    let (heir, name): (String, Option<String>) = sqlx::query_as(
                        "SELECT user_id, user_name FROM seats WHERE room_id = ? ORDER BY joined_at, user_id LIMIT 1",
                    )
                    .bind(room.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                    let heir = User::new(UserId(parse_uuid(&heir)), name.as_deref());
                    messages.push(set_owner(&mut tx, room, &heir).await?);
                }
                departures.push(Departure { room_id: room, messages, room: Some(room_in(&mut tx, room).await?) });
            }
        }
        tx.commit().await?;
        Ok(departures)
    }

    async fn resume_seats(&self, until: DateTime<Utc>) -> StoreResult<u64> {
        let resumed = sqlx::query("UPDATE seats SET expires_at = ?1 WHERE expires_at < ?1")
            .bind(millis(until))
            .execute(&self.writer)
            .await?;
        Ok(resumed.rows_affected())
    }

    async fn append_message(&self, message: NewMessage) -> StoreResult<Message> {
        let mut tx = self.writer.begin().await?;
        let stored = append_in(&mut tx, &message).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn append_posts(
        &self,
        room: RoomId,
        batch: Vec<NewMessage>,
        renewal: Renewal,
    ) -> StoreResult<Vec<Option<Message>>> {
        debug_assert!(batch.iter().all(|m| m.room == room));
        // One transaction, so one commit for the whole batch.
        // A deleted room took its seats with it: every post comes back unseated, and the
        // caller's refusal answers 404.
        let mut tx = self.writer.begin().await?;
        let mut stored = Vec::with_capacity(batch.len());
        for message in &batch {
            let seated = touch_seat_in(&mut tx, room, message.author.id, renewal).await?;
            stored.push(if seated { Some(append_in(&mut tx, message).await?) } else { None });
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn messages(&self, room: RoomId, page: Page, viewer: UserId) -> StoreResult<Vec<Message>> {
        let newest_first = page.after.is_none();
        let order = if newest_first { "DESC" } else { "ASC" };
        let rows: Vec<MessageRow> = sqlx::query_as(&format!(
            "{MESSAGE_COLUMNS} WHERE room_id = ?1 AND seq > ?2 AND seq < ?3 \
             AND (to_user_id IS NULL OR to_user_id = ?5 OR user_id = ?5) ORDER BY seq {order} LIMIT ?4"
        ))
        .bind(room.to_string())
        .bind(page.after.unwrap_or(0))
        .bind(page.before.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .bind(viewer.to_string())
        .fetch_all(&self.reader)
        .await?;
        let mut messages: Vec<Message> = rows.into_iter().map(Message::from).collect();
        if newest_first {
            messages.reverse();
        }
        Ok(messages)
    }

    async fn message(&self, room: RoomId, id: i64) -> StoreResult<Option<Message>> {
        let row: Option<MessageRow> = sqlx::query_as(&format!("{MESSAGE_COLUMNS} WHERE room_id = ? AND seq = ?"))
            .bind(room.to_string())
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(Message::from))
    }

    async fn last_message_id(&self, room: RoomId) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = ?")
            .bind(room.to_string())
            .fetch_one(&self.reader)
            .await?)
    }

    async fn gif(&self, room: RoomId, id: &GifId) -> StoreResult<Option<Bytes>> {
        let data: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT data FROM gifs WHERE id = ?1 \
             AND EXISTS (SELECT 1 FROM messages WHERE gif_id = ?1 AND room_id = ?2)",
        )
        .bind(id.as_str())
        .bind(room.to_string())
        .fetch_optional(&self.reader)
        .await?;
        Ok(data.map(Bytes::from))
    }

    async fn sweep_gifs(&self, stored_before: DateTime<Utc>) -> StoreResult<u64> {
        // One writer: no upload can be between storing a GIF and the message that carries it.
        let swept = sqlx::query(
            "DELETE FROM gifs WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM messages WHERE gif_id = gifs.id)",
        )
        .bind(millis(stored_before))
        .execute(&self.writer)
        .await?;
        Ok(swept.rows_affected())
    }

    async fn members(&self, room: RoomId) -> StoreResult<(Vec<Member>, i64)> {
        let rows: Vec<(String, Option<String>, i64, bool, i64)> = sqlx::query_as(
            "SELECT s.user_id, s.user_name, s.joined_at, s.user_id = r.owner_id, r.last_seq \
             FROM rooms r JOIN seats s ON s.room_id = r.id WHERE r.id = ? ORDER BY s.joined_at, s.user_id",
        )
        .bind(room.to_string())
        .fetch_all(&self.reader)
        .await?;
        let Some(as_of) = rows.first().map(|row| row.4) else {
            return Ok((Vec::new(), self.last_message_id(room).await?));
        };
        let members = rows
            .into_iter()
            .map(|(id, name, since, owner, _)| Member {
                user: User::new(UserId(parse_uuid(&id)), name.as_deref()),
                owner,
                since: from_millis(since),
            })
            .collect();
        Ok((members, as_of))
    }

    async fn kick(&self, room: RoomId, by: &User, target: UserId) -> StoreResult<OwnerAction> {
        let mut tx = self.writer.begin().await?;
        if owner_of(&mut tx, room).await? != by.id {
            return Ok(OwnerAction::NotOwner);
        }
        let Some(name) = seated_name(&mut tx, room, target).await? else { return Ok(OwnerAction::NotSeated) };
        let kicked = User::new(target, name.as_deref());
        for statement in [
            "INSERT INTO room_address_bans (room_id, address, banned_at) \
             SELECT room_id, address, ?3 FROM seats WHERE room_id = ?1 AND user_id = ?2 AND address IS NOT NULL \
             ON CONFLICT DO NOTHING",
            "DELETE FROM seats WHERE room_id = ?1 AND user_id = ?2",
            "DELETE FROM room_access WHERE room_id = ?1 AND user_id = ?2",
            "INSERT INTO room_bans (room_id, user_id, banned_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        ] {
            let query = sqlx::query(statement).bind(room.to_string()).bind(target.to_string());
            let query = if statement.contains("?3") { query.bind(millis(Utc::now())) } else { query };
            query.execute(&mut *tx).await?;
        }
        let message =
            append_in(&mut tx, &system(room, &kicked, MemberChange::Kicked, kicked_text(&kicked, by))).await?;
        let room = room_in(&mut tx, room).await?;
        tx.commit().await?;
        Ok(OwnerAction::Done { room, message })
    }

    async fn transfer_ownership(&self, room: RoomId, by: &User, target: UserId) -> StoreResult<OwnerAction> {
        let mut tx = self.writer.begin().await?;
        if owner_of(&mut tx, room).await? != by.id {
            return Ok(OwnerAction::NotOwner);
        }
        let Some(name) = seated_name(&mut tx, room, target).await? else { return Ok(OwnerAction::NotSeated) };
        let message = set_owner(&mut tx, room, &User::new(target, name.as_deref())).await?;
        let room = room_in(&mut tx, room).await?;
        tx.commit().await?;
        Ok(OwnerAction::Done { room, message })
    }

    async fn rename(&self, user: &User, old_name: &str) -> StoreResult<Vec<Message>> {
        let mut tx = self.writer.begin().await?;
        let rooms: Vec<String> = sqlx::query_scalar("SELECT room_id FROM seats WHERE user_id = ? ORDER BY room_id")
            .bind(user.id.to_string())
            .fetch_all(&mut *tx)
            .await?;
        let mut messages = Vec::with_capacity(rooms.len());
        for room in rooms.iter().map(|id| RoomId(parse_uuid(id))) {
            sqlx::query("UPDATE seats SET user_name = ?3 WHERE room_id = ?1 AND user_id = ?2")
                .bind(room.to_string())
                .bind(user.id.to_string())
                .bind(user.nickname())
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE rooms SET owner_name = ?3 WHERE id = ?1 AND owner_id = ?2")
                .bind(room.to_string())
                .bind(user.id.to_string())
                .bind(user.nickname())
                .execute(&mut *tx)
                .await?;
            messages.push(
                append_in(&mut tx, &system(room, user, MemberChange::Renamed, renamed_text(old_name, user))).await?,
            );
        }
        tx.commit().await?;
        Ok(messages)
    }
}
