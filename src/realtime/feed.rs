//! A subscriber's view of one room: replay from storage, then live events from the hub, as a
//! single sequence with no loss, no duplicates and no reordering.
//!
//! The rule is simple because sequence numbers have no gaps: the feed remembers the last id it
//! yielded and only ever yields `last + 1`. Anything at or below `last` is a duplicate (the
//! replay already covered it) and is skipped. Anything above `last + 1` means an event is
//! missing here: two writers committed in order but published out of order, or the channel
//! lagged. Either way storage has every committed message, so the feed reads the gap from there.

use std::{collections::VecDeque, sync::Arc};

use tokio::sync::broadcast::{self, error::RecvError};

use super::{Frame, Hub, RoomEvent};
use crate::{
    domain::RoomId,
    storage::{Page, Store, StoreResult},
};

/// Messages read from storage per round trip while catching up.
const CATCH_UP_PAGE: u32 = 200;

pub enum FeedItem {
    Message(Arc<Frame>),
    /// The room was deleted; the stream should send this frame and end.
    Deleted(Arc<Frame>),
    /// The resume point cannot be honoured (it is ahead of the room); the client should reload.
    Resync(Arc<Frame>),
}

pub struct RoomFeed {
    room: RoomId,
    store: Arc<dyn Store>,
    live: broadcast::Receiver<RoomEvent>,
    last: i64,
    /// Messages read from storage and not yet yielded.
    backlog: VecDeque<Arc<Frame>>,
    /// Storage may hold messages after `last` that the backlog does not have yet.
    behind: bool,
    resync: Option<Arc<Frame>>,
}

impl RoomFeed {
    /// Subscribes first and reads the position second, so nothing published in between is lost.
    /// With `resume` the feed replays every message after it; without, it starts live.
    pub async fn open(
        hub: &Hub,
        store: Arc<dyn Store>,
        room: RoomId,
        resume: Option<i64>,
    ) -> StoreResult<Self> {
        let live = hub.subscribe_room(room);
        let head = store.last_message_id(room).await?;
        let (last, resync) = match resume {
            Some(after) if after > head => {
                let frame = Frame::new(
                    "resync",
                    None,
                    &serde_json::json!({ "last_id": head, "requested": after }),
                );
                (head, Some(Arc::new(frame)))
            }
            Some(after) => (after, None),
            None => (head, None),
        };
        Ok(Self {
            room,
            store,
            live,
            last,
            backlog: VecDeque::new(),
            behind: last < head,
            resync,
        })
    }

    /// The last id yielded (or the starting point).
    pub fn last_id(&self) -> i64 {
        self.last
    }

    /// The next item, or `None` when the hub has gone away. A storage error ends the feed: the
    /// client reconnects with its last id and loses nothing.
    pub async fn next(&mut self) -> StoreResult<Option<FeedItem>> {
        if let Some(frame) = self.resync.take() {
            return Ok(Some(FeedItem::Resync(frame)));
        }
        loop {
            if let Some(frame) = self.backlog.pop_front() {
                self.last = frame.id.unwrap_or(self.last);
                return Ok(Some(FeedItem::Message(frame)));
            }
            if self.behind {
                self.catch_up().await?;
                continue;
            }
            match self.live.recv().await {
                Ok(RoomEvent::Message(frame)) => {
                    let id = frame.id.unwrap_or_default();
                    if id <= self.last {
                        continue;
                    }
                    if id == self.last + 1 {
                        self.last = id;
                        return Ok(Some(FeedItem::Message(frame)));
                    }
                    // A gap: `id` is committed, so everything before it is too.
                    self.behind = true;
                }
                Ok(RoomEvent::Deleted(frame)) => return Ok(Some(FeedItem::Deleted(frame))),
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(room.id = %self.room, skipped, "subscriber lagged; catching up from storage");
                    self.behind = true;
                }
                Err(RecvError::Closed) => return Ok(None),
            }
        }
    }

    async fn catch_up(&mut self) -> StoreResult<()> {
        let page = Page {
            after: Some(self.last),
            before: None,
            limit: CATCH_UP_PAGE,
        };
        let messages = self.store.messages(self.room, page).await?;
        self.behind = messages.len() == CATCH_UP_PAGE as usize;
        self.backlog
            .extend(messages.iter().map(|m| Arc::new(Frame::message(m))));
        Ok(())
    }
}
