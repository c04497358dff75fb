//! Embedded SQLite: the zero-setup default. One process owns the file, so a single-connection
//! writer pool serialises every write (no `SQLITE_BUSY`, no row locks needed), while a small
//! reader pool serves history and lookups concurrently thanks to WAL mode. The rules
//! (`rules/`) are compiled here against SQLite's column types (text ids, millisecond times).

// Compiled once for each backend, on purpose: see rules/mod.rs.
#[allow(clippy::duplicate_mod)]
#[path = "rules/mod.rs"]
mod rules;

use std::{path::Path, str::FromStr, time::Duration};

use chrono::{DateTime, TimeZone, Utc};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqlitePool,
};
use uuid::Uuid;

use super::{Renewal, StoreResult};
use crate::domain::{Message, NewMessage, RoomId, UserId};

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
        // sqlx names an in-memory database `file:sqlx-in-memory-…`: no file, nothing to lock.
        let name = file.to_string_lossy();
        let in_memory = name.is_empty() || name.contains(":memory:") || name.starts_with("file:sqlx-in-memory-");
        let instance_lock = if in_memory { None } else { Some(claim_single_instance(&file)?) };
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        Ok(Self { writer, reader, _instance_lock: instance_lock })
    }
}

/// The store `rules/` implements `Store` for.
type This = SqliteStore;

impl rules::Dialect for SqliteStore {
    type Db = sqlx::Sqlite;
    type Id = String;
    type Time = i64;
    type Int = i64;

    // The single writer connection already makes the caller's transaction exclusive.
    const LOCK_ROOM: &'static str = "SELECT owner_id, max_members FROM rooms WHERE id = $1";
    const TIME_DIGITS: u16 = 3;
    const ROW_LOCKS: bool = false;
    const MEMBERS: &'static str = "SELECT r.last_seq, (SELECT json_group_array(json_array(s.user_id, s.user_name, \
         s.joined_at, json(CASE WHEN s.user_id = r.owner_id THEN 'true' ELSE 'false' END)) \
         ORDER BY s.joined_at, s.user_id) FROM seats s WHERE s.room_id = r.id) FROM rooms r WHERE r.id = $1";

    fn id(uuid: Uuid) -> String {
        uuid.to_string()
    }

    fn uuid(id: &String) -> Uuid {
        // Ids are only ever written by this program, from real UUIDs.
        Uuid::parse_str(id).unwrap_or_default()
    }

    /// Milliseconds since the epoch, which compare correctly as numbers (sqlx's text
    /// timestamps vary in width and would not).
    fn time(at: DateTime<Utc>) -> i64 {
        at.timestamp_millis()
    }

    fn utc(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
    }

    fn int(n: u32) -> i64 {
        i64::from(n)
    }

    fn count(n: i64) -> u32 {
        u32::try_from(n).unwrap_or_default()
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    async fn is_sole_instance(&self) -> StoreResult<bool> {
        Ok(true) // the file lock (`claim_single_instance`) saw to it
    }

    async fn extend_seats(&self, seats: &[(RoomId, UserId)], until: DateTime<Utc>) -> StoreResult<()> {
        // One statement per chunk (the pairs travel as one JSON parameter), each its own
        // commit: a heartbeat for thousands of streams holds the single writer for a few
        // milliseconds at a time, not for thousands of statements while posts wait.
        for chunk in seats.chunks(1000) {
            let pairs: Vec<[String; 2]> = chunk.iter().map(|(r, u)| [r.to_string(), u.to_string()]).collect();
            sqlx::query(
                "UPDATE seats SET expires_at = MAX(expires_at, $1) WHERE (room_id, user_id) IN \
                 (SELECT value ->> 0, value ->> 1 FROM json_each($2))",
            )
            .bind(until.timestamp_millis())
            .bind(serde_json::to_string(&pairs).map_err(anyhow::Error::from)?)
            .execute(&self.writer)
            .await?;
        }
        Ok(())
    }

    async fn append_fast(
        &self,
        _room: RoomId,
        _batch: &[NewMessage],
        _renewal: Renewal,
    ) -> StoreResult<Option<Vec<Option<Message>>>> {
        Ok(None) // statement by statement is already in-process
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_in_memory_database_leaves_no_lock_file_behind() {
        let lock_files = || {
            std::fs::read_dir(".")
                .unwrap()
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| name.starts_with("file:sqlx-in-memory-"))
                .count()
        };
        let before = lock_files();
        let _store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        assert_eq!(lock_files(), before, "an in-memory database has no file to lock");
    }
}
