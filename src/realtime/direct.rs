//! Room events written by the publisher: a plain-HTTP/1 SSE subscriber that is keeping up does
//! not wake up for each event. The task that publishes an event (a room's writer, after its
//! commit) writes the event's shared bytes to every such socket itself, with one non-blocking
//! write each. Only a socket that cannot take a whole event at once goes back to its own task
//! (one wake-up), which sends the rest and catches up from the room's recent messages, then
//! hands the socket back to the publisher. Before this, every subscriber's task woke for every
//! event (issue 17: cross-thread wake-ups were a quarter of the server's CPU in fan-out).
//!
//! Each socket is in one of two modes. *Task* mode is the ordinary path: the subscriber's
//! [`RoomFeed`] yields the items (member pages, replay, live events) and the task writes them.
//! When the feed has nothing waiting, the task arms its [`Sink`] at the feed's position and adds
//! it to the room's directly written set, under the room's publish lock (see
//! `RoomChannel::add_direct`), so no event can fall between the two. In *direct* mode the
//! publisher offers each event to the sink: the next message in sequence is written (or passed
//! over, if it is somebody else's whisper); anything else (a gap, a socket that would block, a
//! kick, a deletion, a catch-up) turns the sink back to task mode and wakes its task, which
//! leaves the set, resubscribes its feed under the same lock, and goes on from the sink's last
//! id. The task of a socket in direct mode waits only for that wake-up, the client's hang-up,
//! the keep-alive timer and shutdown.

use std::{
    io,
    pin::pin,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use tokio::{
    net::TcpStream,
    sync::Notify,
    time::{interval_at, Instant},
};
use tokio_util::sync::CancellationToken;

use super::{
    feed::EVERYTHING_STORED,
    hub::{reaches, NotDirect},
    FeedItem, RoomEvent, RoomFeed,
};
use crate::{
    domain::UserId,
    metrics::{Metrics, Transport},
    server::handoff::BURST_BYTES,
};

/// How long a socket of a room whose directly written set is full stays with its task before
/// it asks again.
const FULL_BACK_OFF: Duration = Duration::from_secs(10);

/// A subscriber's socket as the publisher sees it.
pub struct Sink {
    socket: TcpStream,
    viewer: UserId,
    state: Mutex<SinkState>,
    /// Told when the sink goes back to task mode.
    wake: Notify,
}

#[derive(Default)]
struct SinkState {
    /// In the directly written set and keeping up: the publisher writes.
    is_direct: bool,
    /// The last id accounted for while direct.
    last: i64,
    /// What the socket did not take of the write that ended direct mode; the task sends it
    /// first.
    leftover: Option<Bytes>,
    /// A kick, deletion or catch-up that came while leaving direct mode: the task's to handle,
    /// with the highest message id published before it (what the viewer is still owed).
    parked: Option<(RoomEvent, i64)>,
}

/// What the task takes back when it leaves direct mode.
struct Handback {
    last: i64,
    leftover: Option<Bytes>,
    parked: Option<(RoomEvent, i64)>,
}

impl Sink {
    fn new(socket: TcpStream, viewer: UserId) -> Self {
        Self { socket, viewer, state: Mutex::default(), wake: Notify::new() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Direct mode from `last` on. Called under the room's publish lock.
    fn arm(&self, last: i64) {
        *self.state() = SinkState { is_direct: true, last, leftover: None, parked: None };
    }

    /// Called by the publisher, under the room's publish lock, for every event of the room;
    /// `newest` is the highest message id published so far.
    pub fn offer(&self, event: &RoomEvent, newest: i64, metrics: &Metrics) {
        let mut state = self.state();
        match event {
            RoomEvent::Message { frame, audience } => {
                let id = frame.id.unwrap_or_default();
                if !state.is_direct || id <= state.last {
                    return;
                }
                if id > state.last + 1 {
                    // Published out of order (two writers) or lost on the way: the task
                    // reads the gap.
                    self.hand_back(&mut state);
                    return;
                }
                state.last = id;
                if reaches(*audience, self.viewer) {
                    metrics.delivered(Transport::Sse, frame.sse.len());
                    self.write_now(&mut state, &frame.sse);
                }
            }
            // Outside the sequence: written if it is for this viewer, with no effect on `last`.
            RoomEvent::Typing { frame, from, audience } => {
                if state.is_direct && *from != self.viewer && reaches(*audience, self.viewer) {
                    metrics.delivered(Transport::Sse, frame.sse.len());
                    self.write_now(&mut state, &frame.sse);
                }
            }
            RoomEvent::Kicked { user, .. } if *user != self.viewer => {}
            control => {
                // A kick or deletion outranks a catch-up; the first of those is what ends the stream.
                if state.parked.as_ref().is_none_or(|(parked, _)| matches!(parked, RoomEvent::CatchUp)) {
                    state.parked = Some((control.clone(), newest));
                }
                self.hand_back(&mut state);
            }
        }
    }

    /// A keep-alive comment, written here while direct (the publisher's writes and this one
    /// are serialised by the sink's lock, so bytes never interleave).
    fn keep_alive(&self) {
        let mut state = self.state();
        if state.is_direct {
            self.write_now(&mut state, &Bytes::from_static(super::sse::KEEP_ALIVE));
        }
    }

    /// One non-blocking write; what the socket does not take goes back to the task.
    fn write_now(&self, state: &mut SinkState, bytes: &Bytes) {
        // An error other than "would block" is left for the task's write to meet again.
        let written = self.socket.try_write(bytes).unwrap_or(0);
        if written < bytes.len() {
            state.leftover = Some(bytes.slice(written..));
            self.hand_back(state);
        }
    }

    fn hand_back(&self, state: &mut SinkState) {
        if state.is_direct {
            state.is_direct = false;
            self.wake.notify_one();
        }
    }

    /// Out of direct mode for good (the caller has left the set).
    fn take_back(&self) -> Handback {
        let mut state = self.state();
        state.is_direct = false;
        Handback { last: state.last, leftover: state.leftover.take(), parked: state.parked.take() }
    }
}

/// What the stream needs besides its feed and socket.
pub struct Settings {
    pub keep_alive: Duration,
    pub shutdown: CancellationToken,
    pub metrics: Metrics,
    /// How long a write may make no progress (`None`: no limit), as `server::write_stall`.
    pub write_stall: Option<Duration>,
}

/// Serves one room's SSE stream on a socket taken out of hyper (`server::handoff`), the head
/// already written. `hold` (presence, stream slot) lives as long as the stream.
pub async fn serve(socket: TcpStream, mut feed: RoomFeed, hold: impl Send, settings: Settings) {
    let _hold = hold;
    let _open = settings.metrics.stream_opened(Transport::Sse);
    let sink = Arc::new(Sink::new(socket, feed.viewer()));
    let channel = feed.channel().clone();
    // Whatever way the stream ends, the publisher must stop writing to it.
    let _leave = on_drop(|| {
        if channel.remove_direct(&sink, |_| {}) {
            settings.metrics.direct_sockets(-1);
        }
    });
    let writer = Writer { socket: &sink.socket, stall: settings.write_stall, metrics: &settings.metrics };
    let mut keep_alive = interval_at(Instant::now() + settings.keep_alive, settings.keep_alive);
    let mut shutdown = pin!(settings.shutdown.child_token().cancelled_owned());
    if writer.write(&super::sse::retry_hint("")).await.is_err() {
        return;
    }
    // While the room's directly written set is full, when to ask again: asking takes the
    // room's publish lock, and in a big room that would be every socket after every event.
    let mut next_ask = Instant::now();
    loop {
        // Task mode, until the feed has nothing waiting.
        loop {
            if next_ask <= Instant::now() {
                let joined = channel.add_direct(&sink, || {
                    let settled = feed.is_settled();
                    if settled {
                        sink.arm(feed.last_id());
                    }
                    settled
                });
                match joined {
                    Ok(()) => {
                        settings.metrics.direct_sockets(1);
                        break;
                    }
                    Err(NotDirect::Full) => next_ask = Instant::now() + FULL_BACK_OFF,
                    Err(NotDirect::Unsettled) => {}
                }
            }
            tokio::select! {
                biased;
                _ = shutdown.as_mut() => return writer.say_goodbye().await,
                _ = sink.socket.readable() => {
                    if client_is_gone(&sink.socket) {
                        return;
                    }
                }
                item = feed.next() => {
                    let item = match item {
                        Ok(Some(item)) => item,
                        Ok(None) => return,
                        Err(err) => {
                            tracing::warn!(error = %err, last_id = feed.last_id(), "room stream ended by a storage error");
                            return;
                        }
                    };
                    let (burst, ends) = burst_of(item, &mut feed, &settings.metrics);
                    if writer.write(&burst).await.is_err() || ends {
                        return;
                    }
                }
                _ = keep_alive.tick() => {
                    if writer.write(super::sse::KEEP_ALIVE).await.is_err() {
                        return;
                    }
                }
            }
        }
        // Direct mode: the publisher writes; this task only watches.
        loop {
            tokio::select! {
                biased;
                _ = shutdown.as_mut() => {
                    if channel.remove_direct(&sink, |_| {}) {
                        settings.metrics.direct_sockets(-1);
                    }
                    if let Some(leftover) = sink.take_back().leftover {
                        let _ = writer.write(&leftover).await;
                    }
                    return writer.say_goodbye().await;
                }
                _ = sink.socket.readable() => {
                    if client_is_gone(&sink.socket) {
                        return;
                    }
                }
                _ = sink.wake.notified() => break,
                _ = keep_alive.tick() => sink.keep_alive(),
            }
        }
        // Back to task mode: what the publisher could not write, then the feed from there.
        settings.metrics.direct_handback();
        let mut newest = 0;
        let was_direct = channel.remove_direct(&sink, |published| {
            feed.resubscribe();
            newest = published;
        });
        if was_direct {
            settings.metrics.direct_sockets(-1);
        }
        let handback = sink.take_back();
        if let Some(leftover) = handback.leftover {
            if writer.write(&leftover).await.is_err() {
                return;
            }
        }
        match handback.parked {
            Some((RoomEvent::Kicked { frame, .. } | RoomEvent::Deleted(frame), owed)) => {
                // What was published before it first (the "was removed" message, say), as the
                // channel would have delivered it; then the frame, and the end.
                feed.resume_after(handback.last, owed);
                let mut bytes = BytesMut::new();
                match feed.drain_catch_up().await {
                    Ok(items) => {
                        for item in items {
                            let (more, _) = sse_bytes(item);
                            settings.metrics.delivered(Transport::Sse, more.len());
                            bytes.extend_from_slice(&more);
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "could not read what a closing stream was owed"),
                }
                settings.metrics.delivered(Transport::Sse, frame.sse.len());
                bytes.extend_from_slice(&frame.sse);
                let _ = writer.write(&bytes).await;
                return;
            }
            // Events from other processes may be missing: whatever storage has.
            Some((_, _)) => feed.resume_after(handback.last, EVERYTHING_STORED),
            // Up to what was published here before the fresh receiver took over.
            None => feed.resume_after(handback.last, newest),
        }
    }
}

/// `item` and whatever else the feed has ready, up to [`BURST_BYTES`], as one write; and
/// whether the stream ends after it (a kick or a deletion).
fn burst_of(item: FeedItem, feed: &mut RoomFeed, metrics: &Metrics) -> (Bytes, bool) {
    let (first, mut ends) = sse_bytes(item);
    metrics.delivered(Transport::Sse, first.len());
    let mut joined: Option<BytesMut> = None;
    while !ends && joined.as_ref().map_or(first.len(), BytesMut::len) < BURST_BYTES {
        let Some(item) = feed.next_ready() else { break };
        let (more, last) = sse_bytes(item);
        metrics.delivered(Transport::Sse, more.len());
        ends = last;
        joined.get_or_insert_with(|| BytesMut::from(&first[..])).extend_from_slice(&more);
    }
    (joined.map_or(first, BytesMut::freeze), ends)
}

fn sse_bytes(item: FeedItem) -> (Bytes, bool) {
    match item {
        FeedItem::Message(frame) | FeedItem::Members(frame) | FeedItem::Resync(frame) | FeedItem::Typing(frame) => {
            (frame.sse.clone(), false)
        }
        FeedItem::Deleted(frame) | FeedItem::Kicked(frame) => (frame.sse.clone(), true),
    }
}

/// An event-stream client sends nothing after its request: EOF, an error or any byte at all
/// ends the stream (as in `server::handoff::pump`). False when the readiness was stale.
fn client_is_gone(socket: &TcpStream) -> bool {
    let mut scratch = [0u8; 16];
    !matches!(socket.try_read(&mut scratch), Err(err) if err.kind() == io::ErrorKind::WouldBlock)
}

/// The task's own writes, bounded by the write-stall limit.
struct Writer<'a> {
    socket: &'a TcpStream,
    stall: Option<Duration>,
    metrics: &'a Metrics,
}

impl Writer<'_> {
    async fn write(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.socket.try_write(bytes) {
                Ok(written) => bytes = &bytes[written..],
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => match self.stall {
                    None => self.socket.writable().await?,
                    Some(limit) => {
                        if tokio::time::timeout(limit, self.socket.writable()).await.is_err() {
                            self.metrics.stalled_connection();
                            tracing::debug!(?limit, "closing a connection whose client stopped reading");
                            return Err(io::ErrorKind::TimedOut.into());
                        }
                    }
                },
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// At shutdown: the reconnect hint, so the client knows the close is deliberate; events
    /// still to come are not sent (it resumes from its last id).
    async fn say_goodbye(&self) {
        let _ = self.write(&super::sse::retry_hint(": server shutting down; reconnect with Last-Event-ID\n")).await;
    }
}

/// Runs `f` when dropped.
fn on_drop(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
