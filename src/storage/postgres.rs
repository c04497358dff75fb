//! PostgreSQL: the production backend, for one instance or several sharing the database.
//! The rules (`rules/`) are compiled here against PostgreSQL's types; what only PostgreSQL does
//! is below: row locks (`FOR UPDATE`, so capacity checks and numbering hold across instances),
//! a batch of text posts in one round trip (`append_texts`), heartbeats as one statement over
//! arrays, and telling whether other instances are connected.

// Compiled once for each backend, on purpose: see rules/mod.rs.
#[allow(clippy::duplicate_mod)]
#[path = "rules/mod.rs"]
mod rules;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};
use uuid::Uuid;

use super::{Renewal, StorageError, StoreResult};
use crate::domain::{MemberChange, Message, NewMessage, RoomId, User, UserId};

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

/// The store `rules/` implements `Store` for.
type This = PostgresStore;

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

    /// The pool, for the relay between instances (`super::relay`).
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl rules::Dialect for PostgresStore {
    type Db = sqlx::Postgres;
    type Id = Uuid;
    type Time = DateTime<Utc>;
    type Int = i32;

    const LOCK_ROOM: &'static str = "SELECT owner_id, max_members FROM rooms WHERE id = $1 FOR UPDATE";
    const TIME_DIGITS: u16 = 6;
    const ROW_LOCKS: bool = true;
    const MEMBERS: &'static str = "SELECT r.last_seq, (SELECT coalesce(json_agg(json_build_array(s.user_id, s.user_name, \
         (extract(epoch FROM s.joined_at) * 1000000)::bigint, s.user_id = r.owner_id) \
         ORDER BY s.joined_at, s.user_id), '[]')::text FROM seats s WHERE s.room_id = r.id) FROM rooms r WHERE r.id = $1";

    fn id(uuid: Uuid) -> Uuid {
        uuid
    }

    fn uuid(id: &Uuid) -> Uuid {
        *id
    }

    fn time(at: DateTime<Utc>) -> DateTime<Utc> {
        at
    }

    fn utc(at: DateTime<Utc>) -> DateTime<Utc> {
        at
    }

    fn int(n: u32) -> i32 {
        i32::try_from(n).unwrap_or(i32::MAX)
    }

    fn count(n: i32) -> u32 {
        u32::try_from(n).unwrap_or_default()
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
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

    async fn extend_seats(&self, seats: &[(RoomId, UserId)], until: DateTime<Utc>) -> StoreResult<()> {
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

    async fn append_fast(
        &self,
        room: RoomId,
        batch: &[NewMessage],
        renewal: Renewal,
    ) -> StoreResult<Option<Vec<Option<Message>>>> {
        // GIFs take the statement-by-statement path, bytes before the lock.
        if batch.iter().any(|m| m.parts().2.is_some()) {
            return Ok(None);
        }
        append_texts(&self.pool, room, batch, renewal).await.map(Some)
    }
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
