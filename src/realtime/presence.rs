//! Which users have a room stream open in this process. A user's seat (in storage) is a lease:
//! while they have a stream open here, the heartbeat in `background.rs` renews it; when their
//! last stream here closes, the seat is set to expire after the grace period, so a reload or a
//! brief network drop announces nothing. Presence is per user, not per tab.
//!
//! That shortening is a write, so it is made only when this process leased the seat beyond
//! the grace period (an open stream's lease, a heartbeat): a long-poll renews its seat by the
//! grace period alone, and its end would shorten nothing. Without this check every poll
//! cost a write transaction.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::{
    domain::{RoomId, UserId},
    storage::Store,
};

#[derive(Clone)]
pub struct Presence {
    inner: Arc<PresenceInner>,
}

/// A user's open streams in one room, and the longest lease this process gave their seat
/// while they were open.
struct Held {
    streams: usize,
    leased_until: DateTime<Utc>,
}

#[derive(Default)]
struct Counts {
    /// Open streams per (room, user): what keeps a seat alive.
    by_room: HashMap<(RoomId, UserId), Held>,
    /// Open streams per user, all rooms together: what the per-session limit bounds.
    by_user: HashMap<UserId, usize>,
}

struct PresenceInner {
    streams: Mutex<Counts>,
    store: Arc<dyn Store>,
    grace: Duration,
    shutdown: CancellationToken,
}

impl Presence {
    /// After `shutdown`, closing streams leave seats on their lease instead of the short
    /// grace period: the clients will reconnect (here after a restart, or to another
    /// instance), and a deploy slower than the grace period must not empty every room.
    pub fn new(store: Arc<dyn Store>, grace: Duration, shutdown: CancellationToken) -> Self {
        Self { inner: Arc::new(PresenceInner { streams: Mutex::default(), store, grace, shutdown }) }
    }

    /// Records one more open stream, unless the user already has `limit` open here (0: no
    /// limit); dropping the guard records its end.
    pub fn hold(&self, room: RoomId, user: UserId, limit: usize) -> Option<PresenceGuard> {
        let mut counts = self.inner.streams.lock().unwrap();
        let total = counts.by_user.entry(user).or_default();
        if limit > 0 && *total >= limit {
            return None;
        }
        *total += 1;
        counts
            .by_room
            .entry((room, user))
            .or_insert(Held { streams: 0, leased_until: DateTime::<Utc>::MIN_UTC })
            .streams += 1;
        Some(PresenceGuard { presence: self.clone(), room, user })
    }

    /// Records that the seats of `held` (with a stream open here) now last until `until`: the
    /// release of the last stream then shortens them again.
    pub fn leased(&self, held: &[(RoomId, UserId)], until: DateTime<Utc>) {
        let mut counts = self.inner.streams.lock().unwrap();
        for key in held {
            if let Some(entry) = counts.by_room.get_mut(key) {
                entry.leased_until = entry.leased_until.max(until);
            }
        }
    }

    /// Every (room, user) with at least one open stream here.
    pub fn held(&self) -> Vec<(RoomId, UserId)> {
        self.inner.streams.lock().unwrap().by_room.keys().copied().collect()
    }

    /// Open streams in this process.
    pub fn open_streams(&self) -> usize {
        self.inner.streams.lock().unwrap().by_user.values().sum()
    }

    fn release(&self, room: RoomId, user: UserId) {
        let mut counts = self.inner.streams.lock().unwrap();
        if let Some(total) = counts.by_user.get_mut(&user) {
            *total -= 1;
            if *total == 0 {
                counts.by_user.remove(&user);
            }
        }
        let Some(entry) = counts.by_room.get_mut(&(room, user)) else {
            return;
        };
        entry.streams -= 1;
        if entry.streams > 0 {
            return;
        }
        let leased_until = entry.leased_until;
        counts.by_room.remove(&(room, user));
        drop(counts);
        let expires = Utc::now() + self.inner.grace;
        if self.inner.shutdown.is_cancelled() || leased_until <= expires {
            return;
        }
        let store = self.inner.store.clone();
        // Drop cannot await; the write is small and its failure only means the seat lives
        // until its lease runs out instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = store.release_seat(room, user, expires).await {
                    tracing::warn!(room.id = %room, error = %err, "could not shorten a seat; its lease will expire");
                }
            });
        }
    }
}

/// One open stream. Dropping it (the client went away, the stream ended) releases it.
pub struct PresenceGuard {
    presence: Presence,
    room: RoomId,
    user: UserId,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        self.presence.release(self.room, self.user);
    }
}
