//! PostgreSQL: the production backend. Capacity checks and sequence numbers rely on row locks
//! on `rooms` (`FOR UPDATE`, or the `UPDATE … last_seq` bump), so they hold across instances.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    PgConnection, PgPool,
};
use uuid::Uuid;

use super::{
    joined_text, kicked_text, left_text, owner_text, renamed_text, system, Departure, OwnerAction, Page, Renewal,
    RoomPage, Seat, StorageError, Store, StoreResult,
};
use crate::domain::{
    ClientAddress, GifId, Member, MemberChange, Message, MessageKind, NewMessage, NewRoom, Room, RoomId, StoredGif,
    User, UserId,
};

/// What this program's connections call themselves (then `/` and the process's own id).
const APPLICATION_NAME: &str = "gif-chat";

/// A pooled connection idle for longer than this is pinged before use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

pub struct PostgresStore {
    pool: PgPool,
    /// Every connection of this process says so in `application_name`, so a starting instance
    /// can tell whether others are running (`is_sole_instance`).
    application_name: String,
}

/// Binds room, user, address (`$1`–`$3`); see `Store::is_banned`.
const IS_BANNED: &str = "SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2) \
     OR (EXISTS (SELECT 1 FROM room_address_bans WHERE room_id = $1 AND address = $3) \
         AND NOT EXISTS (SELECT 1 FROM seats WHERE room_id = $1 AND user_id = $2) \
         AND NOT EXISTS (SELECT 1 FROM rooms WHERE id = $1 AND owner_id = $2))";

impl PostgresStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        // A statement that runs this long is cancelled by the server (and so not committed)
        // rather than holding a room's writer, and every post queued behind it, indefinitely.
        let options: PgConnectOptions = url.parse()?;
        let application_name = format!("{APPLICATION_NAME}/{}", Uuid::new_v4().simple());
        let options = options.options([("statement_timeout", "15s")]).application_name(&application_name);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // Fail fast when the database is away, so requests get a 503 instead of hanging.
            .acquire_timeout(Duration::from_secs(3))
            // sqlx pings every connection it hands out by default: a round trip (and a wakeup
            // of a PostgreSQL backend) per query. Only a connection that sat idle can have died
            // unnoticed (a used one is checked on release), so only those are pinged.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool, application_name })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

const ROOM_COLUMNS: &str = "SELECT r.id, r.title, r.max_members, r.password_hash IS NOT NULL AS locked, \
     r.owner_id, r.owner_name, r.created_at, \
     (SELECT count(*) FROM seats s WHERE s.room_id = r.id) AS members FROM rooms r";

const MESSAGE_COLUMNS: &str = "SELECT room_id, seq, kind, user_id, user_name, to_user_id, to_user_name, text, \
     gif_id, gif_width, gif_height, created_at, member_change FROM messages";

#[derive(sqlx::FromRow)]
struct RoomRow {
    id: Uuid,
    title: String,
    max_members: i32,
    locked: bool,
    owner_id: Uuid,
    owner_name: Option<String>,
    created_at: DateTime<Utc>,
    members: i64,
}

impl From<RoomRow> for Room {
    fn from(row: RoomRow) -> Self {
        Room {
            id: RoomId(row.id),
            title: row.title,
            max: row.max_members as u32,
            locked: row.locked,
            members: row.members as u32,
            owner: User::new(UserId(row.owner_id), row.owner_name.as_deref()),
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    room_id: Uuid,
    seq: i64,
    kind: String,
    user_id: Uuid,
    user_name: Option<String>,
    to_user_id: Option<Uuid>,
    to_user_name: Option<String>,
    text: Option<String>,
    gif_id: Option<String>,
    gif_width: Option<i32>,
    gif_height: Option<i32>,
    created_at: DateTime<Utc>,
    member_change: Option<String>,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        Message {
            id: row.seq,
            room: RoomId(row.room_id),
            kind: MessageKind::parse(&row.kind).unwrap_or(MessageKind::System),
            user: User::new(UserId(row.user_id), row.user_name.as_deref()),
            to: row.to_user_id.map(|id| User::new(UserId(id), row.to_user_name.as_deref())),
            text: row.text,
            gif_url: row.gif_id.as_deref().and_then(GifId::parse).map(|id| id.url(RoomId(row.room_id))),
            gif_width: row.gif_width.map(|w| w as u16),
            gif_height: row.gif_height.map(|h| h as u16),
            created_at: row.created_at,
            change: row.member_change.as_deref().and_then(MemberChange::parse),
        }
    }
}

async fn room_in(conn: &mut PgConnection, id: RoomId) -> StoreResult<Room> {
    let row: RoomRow = sqlx::query_as(&format!("{ROOM_COLUMNS} WHERE r.id = $1")).bind(id.0).fetch_one(conn).await?;
    Ok(row.into())
}

/// Appends inside the caller's transaction. The `UPDATE … RETURNING last_seq` both takes the
/// number and locks the room row until commit, which is what orders commits by sequence.
async fn append_in(conn: &mut PgConnection, message: &NewMessage) -> StoreResult<Message> {
    if let Some(gif) = message.parts().2 {
        // Before the sequence bump, so the room row is not locked while megabytes travel.
        insert_gif(conn, gif).await?;
    }
    append_row(conn, message).await
}

/// Stores a GIF's bytes (content-addressed: once however often it is posted).
async fn insert_gif(conn: &mut PgConnection, gif: &StoredGif) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO gifs (id, data, width, height, frames) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET created_at = now()",
    )
    .bind(gif.id.as_str())
    .bind(gif.bytes.as_ref())
    .bind(i32::from(gif.width))
    .bind(i32::from(gif.height))
    .bind(gif.frames as i32)
    .execute(conn)
    .await?;
    Ok(())
}

/// The message row, numbered; its GIF's bytes must be stored already.
async fn append_row(conn: &mut PgConnection, message: &NewMessage) -> StoreResult<Message> {
    let (text, to, gif) = message.parts();
    let seq: i64 = sqlx::query_scalar("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
        .bind(message.room.0)
        .fetch_one(&mut *conn)
        .await?;
    let created_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO messages (room_id, seq, kind, user_id, user_name, to_user_id, to_user_name, text, gif_id, \
         gif_width, gif_height, member_change) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         RETURNING created_at",
    )
    .bind(message.room.0)
    .bind(seq)
    .bind(message.kind().as_str())
    .bind(message.author.id.0)
    .bind(message.author.nickname())
    .bind(to.map(|u| u.id.0))
    .bind(to.and_then(User::nickname))
    .bind(&text)
    .bind(gif.map(|g| g.id.as_str()))
    .bind(gif.map(|g| i32::from(g.width)))
    .bind(gif.map(|g| i32::from(g.height)))
    .bind(message.change().map(MemberChange::as_str))
    .fetch_one(&mut *conn)
    .await?;
    Ok(message.stored(seq, created_at))
}

/// Whether the user holds a seat, renewing it per `renewal`: one round trip, and a write only
/// for a seat close to expiring.
async fn touch_seat_in(conn: &mut PgConnection, room: RoomId, user: UserId, renewal: Renewal) -> StoreResult<bool> {
    Ok(sqlx::query_scalar(
        "WITH renewed AS (UPDATE seats SET expires_at = $3 \
             WHERE room_id = $1 AND user_id = $2 AND expires_at < $4 RETURNING 1) \
         SELECT EXISTS (SELECT 1 FROM seats WHERE room_id = $1 AND user_id = $2)",
    )
    .bind(room.0)
    .bind(user.0)
    .bind(renewal.until)
    .bind(renewal.renew_before)
    .fetch_one(conn)
    .await?)
}

/// Stores text posts (no GIFs) with the `append_posts` function: one round trip and one commit
/// however many there are. Posts whose author holds no seat are left out (`seated`); the others
/// renew their authors' seats. The room's row lock is taken first and held until commit, so
/// seat checks are exact and numbers stay gap-free and in commit order across instances.
async fn append_texts(
    pool: &PgPool,
    room: RoomId,
    batch: &[NewMessage],
    renewal: Renewal,
) -> StoreResult<Vec<Option<Message>>> {
    let mut columns = TextColumns::default();
    for message in batch {
        let (text, to, _) = message.parts();
        columns.user_id.push(message.author.id.0);
        columns.user_name.push(message.author.nickname().map(str::to_owned));
        columns.kind.push(message.kind().as_str());
        columns.to_id.push(to.map(|u| u.id.0));
        columns.to_name.push(to.and_then(User::nickname).map(str::to_owned));
        columns.text.push(text);
        columns.change.push(message.change().map(MemberChange::as_str));
    }
    // One round trip; see migrations/postgres/0004 for why it is a function.
    let row: (Option<i64>, DateTime<Utc>, Option<Vec<bool>>) = sqlx::query_as(
        "SELECT o_last_seq, o_created_at, o_seated FROM append_posts($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(room.0)
    .bind(&columns.user_id)
    .bind(&columns.user_name)
    .bind(&columns.kind)
    .bind(&columns.to_id)
    .bind(&columns.to_name)
    .bind(&columns.text)
    .bind(&columns.change)
    .bind(renewal.until)
    .bind(renewal.renew_before)
    .fetch_one(pool)
    .await?;
    let (Some(last_seq), created_at, Some(seated)) = row else {
        return Err(StorageError::NotFound); // no room row to lock
    };
    // `created_at` is now(), the transaction's time, as the inserted rows have it.
    let accepted = seated.iter().filter(|s| **s).count() as i64;
    let mut next = last_seq - accepted + 1;
    Ok(batch
        .iter()
        .zip(seated)
        .map(|(message, seated)| {
            seated.then(|| {
                next += 1;
                message.stored(next - 1, created_at)
            })
        })
        .collect())
}

/// `append_texts`' parameters, one array per column.
#[derive(Default)]
struct TextColumns<'a> {
    user_id: Vec<Uuid>,
    user_name: Vec<Option<String>>,
    kind: Vec<&'a str>,
    to_id: Vec<Option<Uuid>>,
    to_name: Vec<Option<String>>,
    text: Vec<Option<String>>,
    change: Vec<Option<&'a str>>,
}

/// Locks the room row and returns its owner; `NotFound` when there is no room.
async fn lock_room(conn: &mut PgConnection, room: RoomId) -> StoreResult<Uuid> {
    Ok(sqlx::query_scalar("SELECT owner_id FROM rooms WHERE id = $1 FOR UPDATE").bind(room.0).fetch_one(conn).await?)
}

/// The seat holder's name column (`Some(None)`: seated, no nickname), or `None` when unseated.
async fn seated_name(conn: &mut PgConnection, room: RoomId, user: UserId) -> StoreResult<Option<Option<String>>> {
    Ok(sqlx::query_scalar("SELECT user_name FROM seats WHERE room_id = $1 AND user_id = $2")
        .bind(room.0)
        .bind(user.0)
        .fetch_optional(conn)
        .await?)
}

async fn set_owner(conn: &mut PgConnection, room: RoomId, owner: &User) -> StoreResult<Message> {
    sqlx::query("UPDATE rooms SET owner_id = $2, owner_name = $3 WHERE id = $1")
        .bind(room.0)
        .bind(owner.id.0)
        .bind(owner.nickname())
        .execute(&mut *conn)
        .await?;
    append_in(conn, &system(room, owner, MemberChange::Owner, owner_text(owner))).await
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_room(&self, new: NewRoom, seat_until: DateTime<Utc>) -> StoreResult<(Room, Message)> {
        let id = RoomId::random();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO rooms (id, title, max_members, password_hash, owner_id, owner_name) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.0)
        .bind(new.title.as_str())
        .bind(new.max.get() as i32)
        .bind(&new.password_hash)
        .bind(new.owner.id.0)
        .bind(new.owner.nickname())
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO seats (room_id, user_id, user_name, expires_at, address) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.0)
            .bind(new.owner.id.0)
            .bind(new.owner.nickname())
            .bind(seat_until)
            .bind(new.owner_address.to_string())
            .execute(&mut *tx)
            .await?;
        // The owner set the password, so they never need to type it.
        sqlx::query("INSERT INTO room_access (room_id, user_id) VALUES ($1, $2)")
            .bind(id.0)
            .bind(new.owner.id.0)
            .execute(&mut *tx)
            .await?;
        let joined = append_in(&mut tx, &system(id, &new.owner, MemberChange::Joined, joined_text(&new.owner))).await?;
        let room = room_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok((room, joined))
    }

    async fn room(&self, id: RoomId) -> StoreResult<Room> {
        room_in(&mut *self.pool.acquire().await?, id).await
    }

    async fn rooms(&self) -> StoreResult<Vec<Room>> {
        let rows: Vec<RoomRow> =
            sqlx::query_as(&format!("{ROOM_COLUMNS} ORDER BY r.created_at, r.id")).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(Room::from).collect())
    }

    async fn rooms_page(&self, page: RoomPage) -> StoreResult<Vec<Room>> {
        let rows: Vec<RoomRow> = match page.after {
            Some((created, id)) => {
                sqlx::query_as(&format!(
                    "{ROOM_COLUMNS} WHERE (r.created_at, r.id) > ($1, $2) ORDER BY r.created_at, r.id LIMIT $3"
                ))
                .bind(created)
                .bind(id.0)
                .bind(i64::from(page.limit))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(&format!("{ROOM_COLUMNS} ORDER BY r.created_at, r.id LIMIT $1"))
                    .bind(i64::from(page.limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows.into_iter().map(Room::from).collect())
    }

    async fn has_live_seats(&self, now: DateTime<Utc>) -> StoreResult<bool> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM seats WHERE expires_at > $1)")
            .bind(now)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn secret(&self, name: &str, candidate: &str) -> StoreResult<String> {
        Ok(sqlx::query_scalar(
            "WITH stored AS (INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING \
             RETURNING value) SELECT value FROM stored UNION ALL SELECT value FROM server_secrets WHERE name = $1",
        )
        .bind(name)
        .bind(candidate)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn is_sole_instance(&self) -> StoreResult<bool> {
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name LIKE $1 AND application_name <> $2",
        )
        .bind(format!("{APPLICATION_NAME}/%"))
        .bind(&self.application_name)
        .fetch_one(&self.pool)
        .await?;
        Ok(others == 0)
    }

    async fn password_hash(&self, id: RoomId) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT password_hash FROM rooms WHERE id = $1").bind(id.0).fetch_one(&self.pool).await?)
    }

    async fn delete_room(&self, id: RoomId) -> StoreResult<()> {
        let deleted = sqlx::query("DELETE FROM rooms WHERE id = $1").bind(id.0).execute(&self.pool).await?;
        if deleted.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    async fn grant_access(&self, room: RoomId, user: UserId) -> StoreResult<()> {
        sqlx::query("INSERT INTO room_access (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(room.0)
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn has_access(&self, room: RoomId, user: UserId) -> StoreResult<bool> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM room_access WHERE room_id = $1 AND user_id = $2)")
            .bind(room.0)
            .bind(user.0)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn is_kicked(&self, room: RoomId, user: UserId) -> StoreResult<bool> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2)")
            .bind(room.0)
            .bind(user.0)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn is_banned(&self, room: RoomId, user: UserId, address: ClientAddress) -> StoreResult<bool> {
        Ok(sqlx::query_scalar(IS_BANNED)
            .bind(room.0)
            .bind(user.0)
            .bind(address.to_string())
            .fetch_one(&self.pool)
            .await?)
    }

    async fn take_seat(
        &self,
        room: RoomId,
        user: &User,
        address: ClientAddress,
        until: DateTime<Utc>,
    ) -> StoreResult<Seat> {
        let mut tx = self.pool.begin().await?;
        // The room lock serialises every seat change in this room, on every instance.
        let max: i32 = sqlx::query_scalar("SELECT max_members FROM rooms WHERE id = $1 FOR UPDATE")
            .bind(room.0)
            .fetch_one(&mut *tx)
            .await?;
        let banned: bool = sqlx::query_scalar(IS_BANNED)
            .bind(room.0)
            .bind(user.id.0)
            .bind(address.to_string())
            .fetch_one(&mut *tx)
            .await?;
        if banned {
            return Ok(Seat::Banned);
        }
        let kept = sqlx::query(
            "UPDATE seats SET expires_at = GREATEST(expires_at, $3), user_name = $4, address = $5 \
             WHERE room_id = $1 AND user_id = $2",
        )
        .bind(room.0)
        .bind(user.id.0)
        .bind(until)
        .bind(user.nickname())
        .bind(address.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let joined = if kept {
            None
        } else {
            let taken: i64 = sqlx::query_scalar("SELECT count(*) FROM seats WHERE room_id = $1")
                .bind(room.0)
                .fetch_one(&mut *tx)
                .await?;
            if taken >= i64::from(max) {
                return Ok(Seat::Full);
            }
            sqlx::query(
                "INSERT INTO seats (room_id, user_id, user_name, expires_at, address) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(room.0)
            .bind(user.id.0)
            .bind(user.nickname())
            .bind(until)
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
        let mut conn = self.pool.acquire().await?;
        touch_seat_in(&mut conn, room, user, renewal).await
    }

    async fn extend_seats(&self, seats: &[(RoomId, UserId)], until: DateTime<Utc>) -> StoreResult<()> {
        if seats.is_empty() {
            return Ok(());
        }
        let rooms: Vec<Uuid> = seats.iter().map(|(r, _)| r.0).collect();
        let users: Vec<Uuid> = seats.iter().map(|(_, u)| u.0).collect();
        sqlx::query(
            "UPDATE seats SET expires_at = GREATEST(seats.expires_at, $3) \
             FROM unnest($1::uuid[], $2::uuid[]) AS held(room_id, user_id) \
             WHERE seats.room_id = held.room_id AND seats.user_id = held.user_id",
        )
        .bind(&rooms)
        .bind(&users)
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn release_seat(&self, room: RoomId, user: UserId, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE seats SET expires_at = LEAST(expires_at, $3) WHERE room_id = $1 AND user_id = $2")
            .bind(room.0)
            .bind(user.0)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn expire_seats(&self, now: DateTime<Utc>) -> StoreResult<Vec<Departure>> {
        let rooms: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT room_id FROM seats WHERE expires_at < $1")
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        let mut departures = Vec::with_capacity(rooms.len());
        // One short transaction per room, holding that room's lock, so a concurrent seat
        // request either lands before the count (and keeps the room) or finds it gone.
        for room_id in rooms {
            let mut tx = self.pool.begin().await?;
            let owner: Option<Uuid> = sqlx::query_scalar("SELECT owner_id FROM rooms WHERE id = $1 FOR UPDATE")
                .bind(room_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(owner) = owner else { continue };
            let gone: Vec<(Uuid, Option<String>)> =
                sqlx::query_as("DELETE FROM seats WHERE room_id = $1 AND expires_at < $2 RETURNING user_id, user_name")
                    .bind(room_id)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
            if gone.is_empty() {
                continue; // another instance reaped them first
            }
            let room = RoomId(room_id);
            let remaining: i64 = sqlx::query_scalar("SELECT count(*) FROM seats WHERE room_id = $1")
                .bind(room_id)
                .fetch_one(&mut *tx)
                .await?;
            let departure = if remaining == 0 {
                sqlx::query("DELETE FROM rooms WHERE id = $1").bind(room_id).execute(&mut *tx).await?;
                Departure { room_id: room, messages: Vec::new(), room: None }
            } else {
                let mut messages = Vec::with_capacity(gone.len() + 1);
                let owner_left = gone.iter().any(|(user_id, _)| *user_id == owner);
                for (user_id, name) in gone {
                    let user = User::new(UserId(user_id), name.as_deref());
                    messages
                        .push(append_in(&mut tx, &system(room, &user, MemberChange::Left, left_text(&user))).await?);
                }
                if owner_left {
                    // The member present longest inherits the room.
                    let (heir, name): (Uuid, Option<String>) = sqlx::query_as(
                        "SELECT user_id, user_name FROM seats WHERE room_id = $1 ORDER BY joined_at, user_id LIMIT 1",
                    )
                    .bind(room_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    messages.push(set_owner(&mut tx, room, &User::new(UserId(heir), name.as_deref())).await?);
                }
                Departure { room_id: room, messages, room: Some(room_in(&mut tx, room).await?) }
            };
            tx.commit().await?;
            departures.push(departure);
        }
        Ok(departures)
    }

    async fn resume_seats(&self, until: DateTime<Utc>) -> StoreResult<u64> {
        let resumed = sqlx::query("UPDATE seats SET expires_at = $1 WHERE expires_at < $1")
            .bind(until)
            .execute(&self.pool)
            .await?;
        Ok(resumed.rows_affected())
    }

    async fn append_message(&self, message: NewMessage) -> StoreResult<Message> {
        let mut tx = self.pool.begin().await?;
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
        if batch.iter().all(|m| m.parts().2.is_none()) {
            return append_texts(&self.pool, room, &batch, renewal).await;
        }
        // With GIFs: a rarer path, statement by statement. Their bytes go in first, before the
        // room is locked, so megabytes do not travel while others wait for the lock; then the
        // lock, so each seat check (a statement of its own, after it) is exact.
        let mut tx = self.pool.begin().await?;
        for gif in batch.iter().filter_map(|m| m.parts().2) {
            insert_gif(&mut tx, gif).await?;
        }
        lock_room(&mut tx, room).await?;
        let mut stored = Vec::with_capacity(batch.len());
        for message in &batch {
            let seated = touch_seat_in(&mut tx, room, message.author.id, renewal).await?;
            stored.push(if seated { Some(append_row(&mut tx, message).await?) } else { None });
        }
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
        .bind(room.0)
        .bind(page.after.unwrap_or(0))
        .bind(page.before.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .bind(viewer.0)
        .fetch_all(&self.pool)
        .await?;
        let mut messages: Vec<Message> = rows.into_iter().map(Message::from).collect();
        if newest_first {
            messages.reverse();
        }
        Ok(messages)
    }

    async fn message(&self, room: RoomId, id: i64) -> StoreResult<Option<Message>> {
        let row: Option<MessageRow> = sqlx::query_as(&format!("{MESSAGE_COLUMNS} WHERE room_id = $1 AND seq = $2"))
            .bind(room.0)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Message::from))
    }

    async fn last_message_id(&self, room: RoomId) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = $1").bind(room.0).fetch_one(&self.pool).await?)
    }

    async fn gif(&self, room: RoomId, id: &GifId) -> StoreResult<Option<Bytes>> {
        let data: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT data FROM gifs WHERE id = $1 AND EXISTS (SELECT 1 FROM messages WHERE gif_id = $1 AND room_id = $2)",
        )
        .bind(id.as_str())
        .bind(room.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(data.map(Bytes::from))
    }

    async fn sweep_gifs(&self, stored_before: DateTime<Utc>) -> StoreResult<u64> {
        // An upload of a file stored before (`insert_gif`) refreshes its `created_at`, and so
        // is never a candidate here while its message is on the way.
        let swept = sqlx::query(
            "DELETE FROM gifs WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM messages WHERE gif_id = gifs.id)",
        )
        .bind(stored_before)
        .execute(&self.pool)
        .await?;
        Ok(swept.rows_affected())
    }

    async fn members(&self, room: RoomId) -> StoreResult<(Vec<Member>, i64)> {
        // One statement, so the list and `as_of` come from the same snapshot.
        let rows: Vec<(Uuid, Option<String>, DateTime<Utc>, bool, i64)> = sqlx::query_as(
            "SELECT s.user_id, s.user_name, s.joined_at, s.user_id = r.owner_id, r.last_seq \
             FROM rooms r JOIN seats s ON s.room_id = r.id WHERE r.id = $1 ORDER BY s.joined_at, s.user_id",
        )
        .bind(room.0)
        .fetch_all(&self.pool)
        .await?;
        let Some(as_of) = rows.first().map(|row| row.4) else {
            return Ok((Vec::new(), self.last_message_id(room).await?));
        };
        let members = rows
            .into_iter()
            .map(|(id, name, since, owner, _)| Member { user: User::new(UserId(id), name.as_deref()), owner, since })
            .collect();
        Ok((members, as_of))
    }

    async fn kick(&self, room: RoomId, by: &User, target: UserId) -> StoreResult<OwnerAction> {
        let mut tx = self.pool.begin().await?;
        if lock_room(&mut tx, room).await? != by.id.0 {
            return Ok(OwnerAction::NotOwner);
        }
        let Some(name) = seated_name(&mut tx, room, target).await? else { return Ok(OwnerAction::NotSeated) };
        let kicked = User::new(target, name.as_deref());
        for statement in [
            "INSERT INTO room_address_bans (room_id, address) SELECT room_id, address FROM seats \
             WHERE room_id = $1 AND user_id = $2 AND address IS NOT NULL ON CONFLICT DO NOTHING",
            "DELETE FROM seats WHERE room_id = $1 AND user_id = $2",
            "DELETE FROM room_access WHERE room_id = $1 AND user_id = $2",
            "INSERT INTO room_bans (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        ] {
            sqlx::query(statement).bind(room.0).bind(target.0).execute(&mut *tx).await?;
        }
        let message =
            append_in(&mut tx, &system(room, &kicked, MemberChange::Kicked, kicked_text(&kicked, by))).await?;
        let room = room_in(&mut tx, room).await?;
        tx.commit().await?;
        Ok(OwnerAction::Done { room, message })
    }

    async fn transfer_ownership(&self, room: RoomId, by: &User, target: UserId) -> StoreResult<OwnerAction> {
        let mut tx = self.pool.begin().await?;
        if lock_room(&mut tx, room).await? != by.id.0 {
            return Ok(OwnerAction::NotOwner);
        }
        let Some(name) = seated_name(&mut tx, room, target).await? else { return Ok(OwnerAction::NotSeated) };
        let message = set_owner(&mut tx, room, &User::new(target, name.as_deref())).await?;
        let room = room_in(&mut tx, room).await?;
        tx.commit().await?;
        Ok(OwnerAction::Done { room, message })
    }

    async fn rename(&self, user: &User, old_name: &str) -> StoreResult<Vec<Message>> {
        let mut tx = self.pool.begin().await?;
        // Rooms in a fixed order, so two renames can never lock them in opposite orders.
        let rooms: Vec<Uuid> = sqlx::query_scalar("SELECT room_id FROM seats WHERE user_id = $1 ORDER BY room_id")
            .bind(user.id.0)
            .fetch_all(&mut *tx)
            .await?;
        let mut messages = Vec::with_capacity(rooms.len());
        for room in rooms.into_iter().map(RoomId) {
            lock_room(&mut tx, room).await?;
            sqlx::query("UPDATE seats SET user_name = $3 WHERE room_id = $1 AND user_id = $2")
                .bind(room.0)
                .bind(user.id.0)
                .bind(user.nickname())
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE rooms SET owner_name = $3 WHERE id = $1 AND owner_id = $2")
                .bind(room.0)
                .bind(user.id.0)
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
