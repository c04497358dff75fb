//! Appending to a room's sequence: every stored message, system or posted, comes through here
//! (or through a backend's faster batch, `Dialect::append_fast`, which keeps the same rules).

use chrono::{SubsecRound, Utc};

use super::{id, lock_room, seats::touch_seat_in, time, Conn, Dialect, This};
use crate::{
    domain::{MemberChange, Message, NewMessage, RoomId, StoredGif, User},
    storage::{Renewal, StorageError, StoreResult},
};

/// Appends inside the caller's transaction, the GIF's bytes first.
pub(crate) async fn append_in(conn: &mut Conn, message: &NewMessage) -> StoreResult<Message> {
    if let Some(gif) = message.parts().2 {
        insert_gif(conn, gif).await?;
    }
    append_row(conn, message).await
}

/// Stores users' posts one statement at a time, in the caller's transaction: each only if its
/// author holds a seat (`None` in its place otherwise), which the post renews. GIF bytes go in
/// first, before the room is locked, so megabytes do not travel while others wait for the
/// lock; then the lock, so each seat check after it is exact.
pub(crate) async fn append_each(
    conn: &mut Conn,
    room: RoomId,
    batch: &[NewMessage],
    renewal: Renewal,
) -> StoreResult<Vec<Option<Message>>> {
    for gif in batch.iter().filter_map(|m| m.parts().2) {
        insert_gif(conn, gif).await?;
    }
    // Without row locks a deleted room took its seats with it: every post comes back
    // unseated, and the caller's refusal answers 404.
    if This::ROW_LOCKS && lock_room(conn, room).await?.is_none() {
        return Err(StorageError::NotFound);
    }
    let mut stored = Vec::with_capacity(batch.len());
    for message in batch {
        let seated = touch_seat_in(conn, room, message.author.id, renewal).await?;
        stored.push(if seated { Some(append_row(conn, message).await?) } else { None });
    }
    Ok(stored)
}

/// Stores a GIF's bytes (content-addressed: once however often it is posted). Storing it again
/// refreshes its time, which keeps the sweep (`Store::sweep_gifs`) away from it.
async fn insert_gif(conn: &mut Conn, gif: &StoredGif) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO gifs (id, data, width, height, frames, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at",
    )
    .bind(gif.id.as_str())
    .bind(gif.bytes.as_ref())
    .bind(This::int(gif.width.into()))
    .bind(This::int(gif.height.into()))
    .bind(This::int(gif.frames))
    .bind(time(Utc::now()))
    .execute(conn)
    .await?;
    Ok(())
}

/// The message row, numbered; its GIF's bytes must be stored already. The `UPDATE … RETURNING
/// last_seq` both takes the number and (PostgreSQL) locks the room row until commit, which is
/// what orders commits by sequence.
async fn append_row(conn: &mut Conn, message: &NewMessage) -> StoreResult<Message> {
    let (text, to, gif) = message.parts();
    let seq: i64 = sqlx::query_scalar("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
        .bind(id(message.room.0))
        .fetch_one(&mut *conn)
        .await?;
    // At the precision the column keeps, so the live event and a later read agree.
    let created_at = Utc::now().trunc_subsecs(This::TIME_DIGITS);
    sqlx::query(
        "INSERT INTO messages (room_id, seq, kind, user_id, user_name, to_user_id, to_user_name, text, gif_id, \
         gif_width, gif_height, member_change, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(id(message.room.0))
    .bind(seq)
    .bind(message.kind().as_str())
    .bind(id(message.author.id.0))
    .bind(message.author.nickname())
    .bind(to.map(|u| id(u.id.0)))
    .bind(to.and_then(User::nickname))
    .bind(&text)
    .bind(gif.map(|g| g.id.as_str()))
    .bind(gif.map(|g| This::int(g.width.into())))
    .bind(gif.map(|g| This::int(g.height.into())))
    .bind(message.change().map(MemberChange::as_str))
    .bind(time(created_at))
    .execute(&mut *conn)
    .await?;
    Ok(message.stored(seq, created_at))
}
