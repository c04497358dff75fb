//! The storage boundary. Handlers and the realtime layer speak to a [`Store`] in domain terms;
//! `sqlx`, SQL and transactions stay below it. The rules (every flow and statement) are written
//! once, in `rules/`, and compiled for each backend (PostgreSQL, SQLite), which adds only its
//! column types and what it does its own way; both pass the same integration suite.

mod postgres;
mod relay;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::domain::{
    ClientAddress, GifId, Member, MemberChange, Message, NewMessage, NewRoom, Room, RoomId, User, UserId,
};

pub use postgres::PostgresStore;
pub use relay::{Listener, Relay};
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found")]
    NotFound,
    /// The database cannot be reached right now; the request may be retried.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StorageError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(err.to_string())
            }
            // SQLSTATE classes 08 (connection exception), 53 (insufficient resources) and 57
            // (operator intervention: shutdown, pg_terminate_backend) mean "try again later",
            // not a bug; SQLite's BUSY/LOCKED likewise.
            sqlx::Error::Database(ref db)
                if db.code().is_some_and(|code| {
                    ["08", "53", "57"].iter().any(|class| code.starts_with(class)) || code == "5" || code == "6"
                }) =>
            {
                Self::Unavailable(err.to_string())
            }
            other => Self::Other(other.into()),
        }
    }
}

impl StorageError {
    /// The same error again, for each caller that shared a failed batch (`sqlx` errors are
    /// not `Clone`).
    pub fn duplicate(&self) -> Self {
        match self {
            Self::NotFound => Self::NotFound,
            Self::Unavailable(reason) => Self::Unavailable(reason.clone()),
            Self::Other(err) => Self::Other(anyhow::anyhow!("{err:#}")),
        }
    }
}

pub type StoreResult<T> = Result<T, StorageError>;

/// Which messages to read: a window by sequence number, oldest first.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// A page of the room list, oldest first: rooms after `after` (a room's creation time and id,
/// which order the list, so a cursor stays valid after its room is gone), at most `limit`.
#[derive(Clone, Copy, Debug)]
pub struct RoomPage {
    pub after: Option<(DateTime<Utc>, RoomId)>,
    pub limit: u32,
}

/// How activity (a post) renews its author's seat: to `until`, if it expires before
/// `renew_before`. A seat that is fresh enough (an open stream keeps it leased) then costs a
/// read, not a write and a commit per post.
#[derive(Clone, Copy, Debug)]
pub struct Renewal {
    pub until: DateTime<Utc>,
    pub renew_before: DateTime<Utc>,
}

impl Renewal {
    /// To `now + hold`, for a seat that expires before half of that.
    pub fn ahead(hold: std::time::Duration) -> Self {
        let now = Utc::now();
        Self { until: now + hold, renew_before: now + hold / 2 }
    }
}

/// What opening a member's room stream needs to know, in one read: whether the room is locked
/// and the user may read it anyway, when their seat expires, and the room's last sequence
/// number. A long-poll opens a stream per poll, so this is on its hot path.
#[derive(Clone, Copy, Debug)]
pub struct StreamView {
    pub locked: bool,
    pub granted: bool,
    pub seat_expires: Option<DateTime<Utc>>,
    pub head: i64,
}

/// One user asking for a seat (`Store::take_seats`).
#[derive(Clone, Debug)]
pub struct SeatRequest {
    pub user: User,
    /// Remembered with the seat: a kick bars it.
    pub address: ClientAddress,
    /// The seat lasts at least until then.
    pub until: DateTime<Utc>,
}

/// The outcome of asking for a seat in a room.
// Returned once per join and never stored, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Seat {
    /// The user holds a seat. `joined` is the stored "joined" message when the seat is new,
    /// `None` when the user already had one (another tab, a reload within the grace period).
    Taken { room: Room, joined: Option<Message> },
    /// Every seat is taken by someone else.
    Full,
    /// The owner kicked this user out; they may not come back while the room exists.
    Banned,
}

/// The outcome of something only the room's owner may do to another member.
// Returned once per request and never stored, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum OwnerAction {
    Done {
        room: Room,
        message: Message,
    },
    /// The one asking is not (or no longer) the owner.
    NotOwner,
    /// The other user holds no seat in the room.
    NotSeated,
}

/// What happened to a room when some of its seats expired.
#[derive(Debug)]
pub struct Departure {
    pub room_id: RoomId,
    /// The stored system messages: one "left" per user whose seat expired, and an owner
    /// change when the owner was among them (none if the room went).
    pub messages: Vec<Message>,
    /// The room afterwards, or `None` when its last seat went and it was deleted.
    pub room: Option<Room>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;

    /// Whether no other process is connected to this database: at start-up, whether this one is
    /// the first of its deployment to come back (SQLite: always, there is only ever one).
    async fn is_sole_instance(&self) -> StoreResult<bool>;
    /// Whether any seat is still valid at `now`: someone has been renewing seats.
    async fn has_live_seats(&self, now: DateTime<Utc>) -> StoreResult<bool>;
    /// The secret named `name`, stored as `candidate` if there is none yet (the first
    /// process to ask wins; every later one gets the same).
    async fn secret(&self, name: &str, candidate: &str) -> StoreResult<String>;

    /// Creates the room and gives its owner the first seat, valid until `seat_until`.
    async fn create_room(&self, room: NewRoom, seat_until: DateTime<Utc>) -> StoreResult<(Room, Message)>;
    async fn room(&self, id: RoomId) -> StoreResult<Room>;
    /// Every room, oldest first.
    async fn rooms(&self) -> StoreResult<Vec<Room>>;
    /// A page of rooms, oldest first.
    async fn rooms_page(&self, page: RoomPage) -> StoreResult<Vec<Room>>;
    /// The room's password hash, `None` for an open room; `NotFound` when there is no room.
    async fn password_hash(&self, id: RoomId) -> StoreResult<Option<String>>;
    /// Deletes the room with its messages, seats and grants. `NotFound` if it was not there.
    async fn delete_room(&self, id: RoomId) -> StoreResult<()>;

    /// Records that the user gave a locked room's password, so they may read and stream it.
    async fn grant_access(&self, room: RoomId, user: UserId) -> StoreResult<()>;
    async fn has_access(&self, room: RoomId, user: UserId) -> StoreResult<bool>;
    /// Whether the owner kicked the user out of the room.
    async fn is_kicked(&self, room: RoomId, user: UserId) -> StoreResult<bool>;
    /// Whether the user may not enter the room: they were kicked, or someone was kicked from
    /// `address` and the user neither holds a seat nor owns the room.
    async fn is_banned(&self, room: RoomId, user: UserId, address: ClientAddress) -> StoreResult<bool>;

    /// Gives each user a seat unless the room is full or bars them (see `is_banned`),
    /// atomically with respect to every other seat request (on every instance), and stores a
    /// "joined" message for a new seat. An existing seat is kept and extended to at least
    /// `until`. The seat remembers `address`, which a kick then bars. The requests are
    /// decided in order, in one transaction (joins of a busy room come in batches, like
    /// posts); one outcome per request.
    async fn take_seats(&self, room: RoomId, joins: &[SeatRequest]) -> StoreResult<Vec<Seat>>;
    /// See [`StreamView`]; `NotFound` when there is no room.
    async fn stream_view(&self, room: RoomId, user: UserId) -> StoreResult<StreamView>;
    /// Says whether the user holds a seat, and renews it (they are active).
    async fn touch_seat(&self, room: RoomId, user: UserId, renewal: Renewal) -> StoreResult<bool>;
    /// Extends existing seats to at least `until` (stream heartbeats, posts). Missing seats are
    /// not recreated.
    async fn extend_seats(&self, seats: &[(RoomId, UserId)], until: DateTime<Utc>) -> StoreResult<()>;
    /// Brings an existing seat's expiry forward to `at` (never later): its user's last local
    /// stream has closed, or they left. So a late release cannot revive a seat that was let go.
    async fn release_seat(&self, room: RoomId, user: UserId, at: DateTime<Utc>) -> StoreResult<()>;
    /// Removes seats that expired before `now`, storing a "left" message for each, hands
    /// ownership to the longest-present member when the owner's seat went, and deletes rooms
    /// left with no seat at all.
    async fn expire_seats(&self, now: DateTime<Utc>) -> StoreResult<Vec<Departure>>;
    /// Extends every seat that expires before `until` (or has expired) to `until`: after an
    /// outage nobody could renew their seat, and the clients need time to come back.
    /// Returns how many seats were extended.
    async fn resume_seats(&self, until: DateTime<Utc>) -> StoreResult<u64>;

    /// Stores users' posts to `room` (group commit: see `chat/deliver.rs`), in order, with the
    /// room's next sequence numbers, in one transaction. A post is stored only if its author
    /// holds a seat, which the post renews; `None` in its place when they hold none. Checking
    /// the seat here, rather than in a query of its own, saves a round trip per post.
    async fn append_posts(
        &self,
        room: RoomId,
        batch: Vec<NewMessage>,
        renewal: Renewal,
    ) -> StoreResult<Vec<Option<Message>>>;
    /// A window of the room's messages that `viewer` may read (whispers only between their
    /// two ends), oldest first.
    async fn messages(&self, room: RoomId, page: Page, viewer: UserId) -> StoreResult<Vec<Message>>;
    /// One message by id, whoever may read it (for relaying between processes).
    async fn message(&self, room: RoomId, id: i64) -> StoreResult<Option<Message>>;
    /// The highest sequence number taken in the room (0 before the first message).
    async fn last_message_id(&self, room: RoomId) -> StoreResult<i64>;

    /// A GIF's bytes, if a message of `room` carries it.
    async fn gif(&self, room: RoomId, id: &GifId) -> StoreResult<Option<Bytes>>;
    /// Deletes the bytes of GIFs stored before `stored_before` that no message carries any
    /// more (their rooms were deleted). Returns how many went.
    async fn sweep_gifs(&self, stored_before: DateTime<Utc>) -> StoreResult<u64>;

    /// The seat holders, longest-present first, and the room's last sequence number at the
    /// time of reading, so a subscriber can tell a newer list from an older one.
    async fn members(&self, room: RoomId) -> StoreResult<(Vec<Member>, i64)>;
    /// Removes `target`'s seat and bars them, and the address their seat was taken from, from
    /// the room, if `by` owns it.
    async fn kick(&self, room: RoomId, by: &User, target: UserId) -> StoreResult<OwnerAction>;
    /// Makes `target` the owner, if `by` owns the room and `target` holds a seat.
    async fn transfer_ownership(&self, room: RoomId, by: &User, target: UserId) -> StoreResult<OwnerAction>;
    /// Records the user's new name in every room where they hold a seat (and own), storing a
    /// system message in each. Returns those messages.
    async fn rename(&self, user: &User, old_name: &str) -> StoreResult<Vec<Message>>;
}

/// An open database: the store, and for PostgreSQL the relay that carries events between the
/// instances sharing it.
pub struct Connected {
    pub store: Arc<dyn Store>,
    pub relay: Option<Relay>,
}

/// Opens the backend that the URL's scheme names, and applies its migrations.
pub async fn connect(database_url: &str) -> anyhow::Result<Connected> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        let store = PostgresStore::connect(database_url).await?;
        let relay = Relay::new(store.pool().clone());
        Ok(Connected { store: Arc::new(store), relay: Some(relay) })
    } else if database_url.starts_with("sqlite:") {
        Ok(Connected { store: Arc::new(SqliteStore::connect(database_url).await?), relay: None })
    } else {
        anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:")
    }
}

/// The text of the system message for a user arriving or leaving.
pub(crate) fn joined_text(user: &User) -> String {
    format!("{} joined the room.", user.name)
}

pub(crate) fn left_text(user: &User) -> String {
    format!("{} left the room.", user.name)
}

pub(crate) fn owner_text(user: &User) -> String {
    format!("{} is now the owner.", user.name)
}

pub(crate) fn kicked_text(user: &User, by: &User) -> String {
    format!("{} was removed by {}.", user.name, by.name)
}

pub(crate) fn renamed_text(old_name: &str, user: &User) -> String {
    format!("{old_name} is now known as {}.", user.name)
}

/// A system message recording `change` to `user`'s membership.
pub(crate) fn system(room: RoomId, user: &User, change: MemberChange, text: String) -> NewMessage {
    NewMessage { room, author: user.clone(), body: crate::domain::NewMessageBody::System { text, change } }
}
