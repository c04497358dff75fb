//! A subscriber's view of one room: replay from storage, then live events from the hub, as a
//! single sequence with no loss, no duplicates and no reordering, filtered to what this
//! viewer may see (whispers reach only their two ends).
//!
//! The rule is simple because sequence numbers have no gaps: the feed remembers the last id it
//! accounted for and only ever moves to `last + 1`. Anything at or below `last` is a duplicate
//! (the replay already covered it) and is skipped. A live event above `last + 1` means events
//! are missing here: two writers committed in order but published out of order, or the
//! channel lagged. Storage has every committed message, so the feed reads the gap from there
//! (up to the live event, which it then delivers). Ids the viewer may not see (someone else's
//! whisper) are simply passed over: the bounded read cannot loop on them.

use std::{collections::VecDeque, sync::Arc};

use tokio::sync::broadcast::{self, error::RecvError};

use super::{
    hub::{reaches, RoomChannel},
    Frame, Hub, RoomEvent, Subscription,
};
use crate::{
    domain::{RoomId, UserId},
    metrics::Metrics,
    storage::{Page, Store, StoreResult},
};

/// For [`RoomFeed::resume_after`]: read up to whatever storage has (events from other
/// processes may never have been published here).
pub(super) const EVERYTHING_STORED: i64 = i64::MAX - 1;

/// Messages read from storage per round trip while catching up.
const CATCH_UP_PAGE: u32 = 200;

pub enum FeedItem {
    Message(Arc<Frame>),
    /// (A page of) the member list as of an id, sent first. Later changes are system messages
    /// in the sequence (their `change` field), so a catch-up from storage brings them too.
    Members(Arc<Frame>),
    /// The resume point cannot be honoured (it is ahead of the room); the client should reload.
    Resync(Arc<Frame>),
    /// Somebody else is typing (outside the sequence: never replayed).
    Typing(Arc<Frame>),
    /// The viewer was kicked out; the stream should send this frame and end.
    Kicked(Arc<Frame>),
    /// The room was deleted; the stream should send this frame and end.
    Deleted(Arc<Frame>),
}

/// A read from storage still to do: everything after `last`, up to `until` (exclusive) when
/// a live event is waiting behind it, or to the end after a lag.
struct CatchUp {
    until: Option<i64>,
    waiting: Option<(Arc<Frame>, Option<[UserId; 2]>)>,
}

pub struct RoomFeed {
    room: RoomId,
    viewer: UserId,
    store: Arc<dyn Store>,
    live: broadcast::Receiver<RoomEvent>,
    /// The room's channel: its recent messages, where a catch-up looks before it reads
    /// storage, and its directly written sockets.
    channel: Arc<RoomChannel>,
    last: i64,
    /// Items ready to yield, in order.
    ready: VecDeque<FeedItem>,
    catch_up: Option<CatchUp>,
    metrics: Metrics,
}

impl RoomFeed {
    /// Reads the position after `live` was subscribed (`Hub::subscribe_room`), so nothing
    /// published in between is lost; `head` is that position when the caller has read it
    /// already (after subscribing). With `resume` the feed replays every message after it;
    /// without, it starts live. `with_members`: yield the member list first (long-polling has
    /// no use for it).
    // The steps of opening a stream, each its own argument; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub async fn open(
        hub: &Hub,
        subscription: Subscription,
        store: Arc<dyn Store>,
        room: RoomId,
        viewer: UserId,
        resume: Option<i64>,
        with_members: bool,
        head: Option<i64>,
    ) -> StoreResult<Self> {
        let head = match head {
            Some(head) => head,
            None => store.last_message_id(room).await?,
        };
        let metrics = hub.metrics().clone();
        let ready = VecDeque::new();
        let Subscription { live, channel } = subscription;
        let mut feed = Self { room, viewer, store, live, channel, last: head, ready, catch_up: None, metrics };
        match resume {
            Some(after) if after > head => {
                feed.ready.push_back(FeedItem::Resync(Arc::new(Frame::resync_ahead(head, after))));
            }
            // Nothing was missed: start live, without a read that would find nothing (a
            // long-poll that is keeping up asks this every time).
            Some(after) if after == head => {}
            // Up to the head, not just to the end of the gapless run in `recent`: a message
            // published before the subscription (so not on `live`) may sit behind a hole
            // there (ids are published out of order at times).
            Some(after) => {
                feed.last = after;
                feed.catch_up = Some(CatchUp { until: Some(head + 1), waiting: None });
            }
            None => {}
        }
        if with_members {
            let (members, as_of) = feed.store.members(room).await?;
            let pages = Frame::member_pages(&members, as_of);
            feed.ready.extend(pages.into_iter().map(|page| FeedItem::Members(Arc::new(page))));
        }
        Ok(feed)
    }

    /// The last id accounted for (or the starting point).
    pub fn last_id(&self) -> i64 {
        self.last
    }

    pub fn viewer(&self) -> UserId {
        self.viewer
    }

    pub(super) fn channel(&self) -> &Arc<RoomChannel> {
        &self.channel
    }

    /// The next item if one is ready without waiting (no read, no channel).
    pub fn next_ready(&mut self) -> Option<FeedItem> {
        let item = self.ready.pop_front()?;
        if let FeedItem::Message(frame) = &item {
            self.last = self.last.max(frame.id.unwrap_or_default());
        }
        Some(item)
    }

    /// Everything published so far has been yielded or passed over: nothing is queued, no
    /// read is due and the channel holds nothing. Only meaningful under the room's publish
    /// lock (see `RoomChannel::add_direct`).
    pub(super) fn is_settled(&self) -> bool {
        self.ready.is_empty() && self.catch_up.is_none() && self.live.is_empty()
    }

    /// Drops what the channel holds for this feed and receives only what comes from now on:
    /// for when someone else (the publisher, `direct.rs`) delivered the events meanwhile.
    /// Run under the room's publish lock, then [`Self::resume_after`].
    pub(super) fn resubscribe(&mut self) {
        self.live = self.live.resubscribe();
    }

    /// Goes on after `last`, which someone else delivered: whatever came after it up to
    /// `upto` (the highest id published before the fresh receiver took over, or
    /// [`EVERYTHING_STORED`]) is read from the room's recent messages, then storage. A bound is
    /// needed: ids are published out of order at times, so the end of a gapless run in
    /// `recent` is not the end of what the old receiver would have brought.
    pub(super) fn resume_after(&mut self, last: i64, upto: i64) {
        self.last = last;
        if upto > last {
            self.catch_up = Some(CatchUp { until: Some(upto.saturating_add(1)), waiting: None });
        }
    }

    /// Everything the pending catch-up brings, without waiting on the live channel: what a
    /// stream that is about to end (a kick, a deletion) still owes its viewer.
    pub(super) async fn drain_catch_up(&mut self) -> StoreResult<Vec<FeedItem>> {
        let mut items = Vec::new();
        loop {
            // Taken before each read: taking them moves `last`, where the next read starts.
            items.extend(std::iter::from_fn(|| self.next_ready()));
            if self.catch_up.is_none() {
                return Ok(items);
            }
            self.read_gap().await?;
        }
    }

    /// The next item, or `None` when the hub has gone away. A storage error ends the feed: the
    /// client reconnects with its last id and loses nothing.
    pub async fn next(&mut self) -> StoreResult<Option<FeedItem>> {
        loop {
            if let Some(item) = self.next_ready() {
                return Ok(Some(item));
            }
            if self.catch_up.is_some() {
                self.read_gap().await?;
                continue;
            }
            match self.live.recv().await {
                Ok(RoomEvent::Message { frame, audience }) => {
                    let id = frame.id.unwrap_or_default();
                    if id <= self.last {
                        continue;
                    }
                    if id > self.last + 1 {
                        self.catch_up = Some(CatchUp { until: Some(id), waiting: Some((frame, audience)) });
                        continue;
                    }
                    self.accept(frame, audience);
                }
                Ok(RoomEvent::Typing { frame, from, audience }) => {
                    if from != self.viewer && reaches(audience, self.viewer) {
                        return Ok(Some(FeedItem::Typing(frame)));
                    }
                }
                Ok(RoomEvent::Kicked { user, frame }) if user == self.viewer => {
                    return Ok(Some(FeedItem::Kicked(frame)))
                }
                Ok(RoomEvent::Kicked { .. }) => {}
                Ok(RoomEvent::Deleted(frame)) => return Ok(Some(FeedItem::Deleted(frame))),
                Ok(RoomEvent::CatchUp) => self.catch_up = Some(CatchUp { until: None, waiting: None }),
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(room.id = %self.room, skipped, "subscriber lagged; catching up from storage");
                    self.metrics.lag_catch_up();
                    self.catch_up = Some(CatchUp { until: None, waiting: None });
                }
                Err(RecvError::Closed) => return Ok(None),
            }
        }
    }

    /// Takes the live message `frame` (id `last + 1`) into account, queueing it if visible.
    fn accept(&mut self, frame: Arc<Frame>, audience: Option<[UserId; 2]>) {
        self.last = frame.id.unwrap_or(self.last);
        if reaches(audience, self.viewer) {
            self.ready.push_back(FeedItem::Message(frame));
        }
    }

    async fn read_gap(&mut self) -> StoreResult<()> {
        let Some(until) = self.catch_up.as_ref().map(|catch_up| catch_up.until) else { return Ok(()) };
        let held = self.channel.recent.lock().unwrap().after(self.last, until, CATCH_UP_PAGE as usize);
        if !held.is_empty() {
            self.metrics.catch_up_read(true);
            let more_held = held.len() == CATCH_UP_PAGE as usize;
            for (frame, audience) in held {
                self.accept(frame, audience);
            }
            match until {
                Some(until) if self.last + 1 >= until => {
                    if let Some(CatchUp { waiting: Some((frame, audience)), .. }) = self.catch_up.take() {
                        self.accept(frame, audience);
                    }
                    return Ok(());
                }
                _ if more_held => return Ok(()),
                // After a lag: the run went up to the newest message published here; the
                // channel brings what comes next, and a gap in it is caught as usual.
                None => {
                    self.catch_up = None;
                    return Ok(());
                }
                // The run ended before the waiting message: the rest is in storage.
                Some(_) => {}
            }
        }
        let Some(catch_up) = self.catch_up.as_mut() else { return Ok(()) };
        let page = Page { after: Some(self.last), before: catch_up.until, limit: CATCH_UP_PAGE };
        self.metrics.catch_up_read(false);
        let messages = self.store.messages(self.room, page, self.viewer).await?;
        let complete = messages.len() < CATCH_UP_PAGE as usize;
        self.ready.extend(messages.iter().map(|m| FeedItem::Message(Arc::new(Frame::message(m)))));
        if complete {
            // Everything before the waiting event that this viewer may see is now queued; ids
            // in between that are not queued are not theirs to see, and are passed over.
            if let Some(CatchUp { waiting: Some((frame, audience)), .. }) = self.catch_up.take() {
                self.accept(frame, audience);
            }
        }
        Ok(())
    }
}
