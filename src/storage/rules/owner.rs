//! What changes a room's membership from above: the owner's kick and hand-over, inheritance
//! (`set_owner`, also used when an owner's seat expires) and a member's rename.

use chrono::Utc;

use super::{append_in, id, lock_room, rows::room_in, time, Conn, Dialect, Id, This};
use crate::{
    domain::{MemberChange, Message, RoomId, User, UserId},
    storage::{kicked_text, owner_text, renamed_text, system, OwnerAction, StorageError, StoreResult},
};

type Pool = sqlx::Pool<super::Db>;

/// See `Store::kick`.
pub(super) async fn kick(pool: &Pool, room: RoomId, by: &User, target: UserId) -> StoreResult<OwnerAction> {
    let mut tx = pool.begin().await?;
    let kicked = match seated_target(&mut tx, room, by, target).await? {
        Ok(kicked) => kicked,
        Err(refusal) => return Ok(refusal),
    };
    let now = Utc::now();
    // The address first: it is read from the seat, which goes next.
    sqlx::query(
        "INSERT INTO room_address_bans (room_id, address, banned_at) SELECT room_id, address, $3 FROM seats \
         WHERE room_id = $1 AND user_id = $2 AND address IS NOT NULL ON CONFLICT DO NOTHING",
    )
    .bind(id(room.0))
    .bind(id(target.0))
    .bind(time(now))
    .execute(&mut *tx)
    .await?;
    for statement in [
        "DELETE FROM seats WHERE room_id = $1 AND user_id = $2",
        "DELETE FROM room_access WHERE room_id = $1 AND user_id = $2",
    ] {
        sqlx::query(statement).bind(id(room.0)).bind(id(target.0)).execute(&mut *tx).await?;
    }
    sqlx::query("INSERT INTO room_bans (room_id, user_id, banned_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(id(room.0))
        .bind(id(target.0))
        .bind(time(now))
        .execute(&mut *tx)
        .await?;
    let message = append_in(&mut tx, &system(room, &kicked, MemberChange::Kicked, kicked_text(&kicked, by))).await?;
    let room = room_in(&mut tx, room).await?;
    tx.commit().await?;
    Ok(OwnerAction::Done { room, message })
}

/// See `Store::transfer_ownership`.
pub(super) async fn transfer_ownership(
    pool: &Pool,
    room: RoomId,
    by: &User,
    target: UserId,
) -> StoreResult<OwnerAction> {
    let mut tx = pool.begin().await?;
    let heir = match seated_target(&mut tx, room, by, target).await? {
        Ok(heir) => heir,
        Err(refusal) => return Ok(refusal),
    };
    let message = set_owner(&mut tx, room, &heir).await?;
    let room = room_in(&mut tx, room).await?;
    tx.commit().await?;
    Ok(OwnerAction::Done { room, message })
}

/// The seated `target` (with the name their seat holds) for `by` to act on, or why not: `by`
/// does not own the room, or `target` holds no seat. Locks the room.
async fn seated_target(
    conn: &mut Conn,
    room: RoomId,
    by: &User,
    target: UserId,
) -> StoreResult<Result<User, OwnerAction>> {
    let Some((owner, _)) = lock_room(conn, room).await? else { return Err(StorageError::NotFound) };
    if owner != by.id {
        return Ok(Err(OwnerAction::NotOwner));
    }
    let name: Option<Option<String>> =
        sqlx::query_scalar("SELECT user_name FROM seats WHERE room_id = $1 AND user_id = $2")
            .bind(id(room.0))
            .bind(id(target.0))
            .fetch_optional(conn)
            .await?;
    Ok(name.map(|name| User::new(target, name.as_deref())).ok_or(OwnerAction::NotSeated))
}

/// Makes `owner` the room's owner and stores the message saying so.
pub(super) async fn set_owner(conn: &mut Conn, room: RoomId, owner: &User) -> StoreResult<Message> {
    sqlx::query("UPDATE rooms SET owner_id = $2, owner_name = $3 WHERE id = $1")
        .bind(id(room.0))
        .bind(id(owner.id.0))
        .bind(owner.nickname())
        .execute(&mut *conn)
        .await?;
    append_in(conn, &system(room, owner, MemberChange::Owner, owner_text(owner))).await
}

/// See `Store::rename`.
pub(super) async fn rename(pool: &Pool, user: &User, old_name: &str) -> StoreResult<Vec<Message>> {
    let mut tx = pool.begin().await?;
    // Rooms in a fixed order, so two renames can never lock them in opposite orders.
    let rooms: Vec<Id> = sqlx::query_scalar("SELECT room_id FROM seats WHERE user_id = $1 ORDER BY room_id")
        .bind(id(user.id.0))
        .fetch_all(&mut *tx)
        .await?;
    let mut messages = Vec::with_capacity(rooms.len());
    for room in rooms.iter().map(|room| RoomId(This::uuid(room))) {
        if This::ROW_LOCKS {
            lock_room(&mut tx, room).await?;
        }
        for statement in [
            "UPDATE seats SET user_name = $3 WHERE room_id = $1 AND user_id = $2",
            "UPDATE rooms SET owner_name = $3 WHERE id = $1 AND owner_id = $2",
        ] {
            sqlx::query(statement).bind(id(room.0)).bind(id(user.id.0)).bind(user.nickname()).execute(&mut *tx).await?;
        }
        messages
            .push(append_in(&mut tx, &system(room, user, MemberChange::Renamed, renamed_text(old_name, user))).await?);
    }
    tx.commit().await?;
    Ok(messages)
}
