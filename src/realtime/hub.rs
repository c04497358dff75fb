//! In-process fan-out: one bounded broadcast channel per room with subscribers, and one for
//! the lobby. Publishing never waits for a subscriber; one that falls behind gets `Lagged`
//! and its feed catches up from storage (see `feed.rs`), so nobody slows anybody else down.
//! A room's SSE sockets that are keeping up are written by the publisher itself
//! (`direct.rs`), without waking their tasks.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, Mutex, OnceLock,
    },
};

use tokio::sync::{broadcast, mpsc};

use super::{bus::Notice, direct::Sink, recent::Recent, Frame};
use crate::domain::{Message, Room, RoomId, User, UserId};
use crate::metrics::Metrics;

#[derive(Clone, Debug)]
pub enum RoomEvent {
    /// A stored message, in the room's sequence. `audience` limits a whisper to its two ends.
    Message { frame: Arc<Frame>, audience: Option<[UserId; 2]> },
    /// `from` is typing; a whisper's (`audience`) reaches only its two ends. Not in the sequence.
    Typing { frame: Arc<Frame>, from: UserId, audience: Option<[UserId; 2]> },
    /// The owner kicked `user`; their streams send this frame and end.
    Kicked { user: UserId, frame: Arc<Frame> },
    /// The room is gone; streams send this frame and end.
    Deleted(Arc<Frame>),
    /// Events may have been missed (the cross-process channel dropped): every feed re-reads
    /// storage from its last id, and its member list.
    CatchUp,
}

/// Whether an event for `audience` (a whisper's two ends, or `None`: everyone) reaches `viewer`.
pub(super) fn reaches(audience: Option<[UserId; 2]>, viewer: UserId) -> bool {
    audience.is_none_or(|ends| ends.contains(&viewer))
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

/// What a subscriber of a room gets: the live channel, and the room's channel itself (its
/// recent messages for when it falls behind, its set of directly written sockets).
pub struct Subscription {
    pub live: broadcast::Receiver<RoomEvent>,
    pub channel: Arc<RoomChannel>,
}

/// A room with subscribers in this process.
pub struct RoomChannel {
    sender: broadcast::Sender<RoomEvent>,
    pub(super) recent: Mutex<Recent>,
    /// The sockets the publisher writes to itself. Its lock is the room's publish lock: held
    /// while an event is published (kept in `recent`, offered to these sockets, sent on the
    /// channel) and while a socket joins or leaves the set, so each event reaches a socket
    /// exactly once, either from the publisher or through the socket's channel receiver.
    direct: Mutex<Vec<Arc<Sink>>>,
    /// The highest message id published here, written under the publish lock: what a socket
    /// that leaves the directly written set must have caught up to (ids are published out of
    /// order at times, so the end of a gapless run in `recent` is not that point).
    newest: AtomicI64,
}

/// The most sockets of one room the publisher writes itself. Its writes run one after another
/// on one core, and a loopback send costs the kernel several microseconds (it runs the
/// receiving side too): in a room of 2,000 that serialised ~2,000 sends per post on one core
/// while the other idled, and posts and joins fell behind (BENCHMARKS.md, 2026-12-06). Past
/// this many, sockets keep a task each, which spreads the sends over the cores.
const DIRECT_SOCKETS: usize = 64;

/// Why a sink was not added to the directly written set.
pub(super) enum NotDirect {
    /// Its feed still has something to yield.
    Unsettled,
    /// The room has [`DIRECT_SOCKETS`] already.
    Full,
}

impl RoomChannel {
    fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
            recent: Mutex::default(),
            direct: Mutex::default(),
            newest: AtomicI64::new(0),
        }
    }

    /// Adds `sink` to the sockets the publisher writes, if the set has room and `settle` (run
    /// under the publish lock, so no event can slip in between) says the sink's feed has taken
    /// every event published so far and has armed the sink at its position.
    pub(super) fn add_direct(&self, sink: &Arc<Sink>, settle: impl FnOnce() -> bool) -> Result<(), NotDirect> {
        let mut direct = self.direct.lock().unwrap();
        if direct.len() >= DIRECT_SOCKETS {
            return Err(NotDirect::Full);
        }
        if !settle() {
            return Err(NotDirect::Unsettled);
        }
        direct.push(sink.clone());
        Ok(())
    }

    /// Whether the directly written set has reached [`DIRECT_SOCKETS`].
    pub(super) fn is_direct_full(&self) -> bool {
        self.direct.lock().unwrap().len() >= DIRECT_SOCKETS
    }

    /// Takes `sink` out of the directly written set (if it is there) and runs `then` under the
    /// same lock, with the highest message id published so far: the feed's fresh receiver gets
    /// exactly the events after this point. Whether it was there.
    pub(super) fn remove_direct(&self, sink: &Arc<Sink>, then: impl FnOnce(i64)) -> bool {
        let mut direct = self.direct.lock().unwrap();
        let at = direct.iter().position(|held| Arc::ptr_eq(held, sink));
        if let Some(at) = at {
            direct.swap_remove(at);
        }
        then(self.newest.load(Ordering::Relaxed));
        at.is_some()
    }

    /// Publishes one event here; false when the channel has no receivers left.
    fn publish(&self, event: RoomEvent, metrics: &Metrics) -> bool {
        let direct = self.direct.lock().unwrap();
        if let RoomEvent::Message { frame, audience } = &event {
            if let Some(id) = frame.id {
                self.recent.lock().unwrap().push(id, (frame.clone(), *audience));
                self.newest.fetch_max(id, Ordering::Relaxed);
            }
        }
        let newest = self.newest.load(Ordering::Relaxed);
        for sink in direct.iter() {
            sink.offer(&event, newest, metrics);
        }
        self.sender.send(event).is_ok()
    }
}

struct HubInner {
    // std mutexes, never held across an await. The map's is held for a lookup; a room's
    // publish lock (`RoomChannel::direct`) for one event's fan-out; taken together, the map's
    // first.
    rooms: Mutex<HashMap<RoomId, Arc<RoomChannel>>>,
    lobby: broadcast::Sender<Arc<Frame>>,
    room_capacity: usize,
    metrics: Metrics,
    /// Where events go to reach other processes (PostgreSQL NOTIFY), when there are any.
    bus: OnceLock<mpsc::UnboundedSender<Notice>>,
}

impl Hub {
    pub fn new(room_capacity: usize, metrics: Metrics) -> Self {
        let (lobby, _) = broadcast::channel(256);
        let room_capacity = room_capacity.max(1);
        let inner = HubInner { rooms: Mutex::default(), lobby, room_capacity, metrics, bus: OnceLock::new() };
        Self { inner: Arc::new(inner) }
    }

    /// From now on, every event published here is also handed to `bus` for other processes.
    pub fn attach_bus(&self, bus: mpsc::UnboundedSender<Notice>) {
        let _ = self.inner.bus.set(bus);
    }

    /// Hands an event to other processes. Built lazily: a single instance (SQLite) has no
    /// bus, and should not clone every message on the posting path for nobody.
    fn forward(&self, notice: impl FnOnce() -> Notice) {
        if let Some(bus) = self.inner.bus.get() {
            let _ = bus.send(notice());
        }
    }

    /// The service's counters, shared by everything that delivers events.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn subscribe_room(&self, room: RoomId) -> Subscription {
        let mut rooms = self.inner.rooms.lock().unwrap();
        let channel = rooms.entry(room).or_insert_with(|| Arc::new(RoomChannel::new(self.inner.room_capacity)));
        Subscription { live: channel.sender.subscribe(), channel: channel.clone() }
    }

    /// Drops the room's channel if nobody is subscribed: after a subscription made before
    /// learning that the room does not exist, which would otherwise keep a channel per made-up
    /// room id (a send to it is what drops an idle channel, and none will come).
    pub fn forget_if_idle(&self, room: RoomId) {
        let mut rooms = self.inner.rooms.lock().unwrap();
        if rooms.get(&room).is_some_and(|channel| channel.sender.receiver_count() == 0) {
            rooms.remove(&room);
        }
    }

    pub fn subscribe_lobby(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.inner.lobby.subscribe()
    }

    // Each `publish_*` delivers here and forwards to other processes; the `local_*` twins
    // deliver here only, for events that came from another process.

    /// Sends a stored message to the room's subscribers, if it has any.
    pub fn publish_message(&self, message: &Message) {
        self.local_message(message);
        self.forward(|| Notice::message(message));
    }

    pub fn local_message(&self, message: &Message) {
        let event = RoomEvent::Message { frame: Arc::new(Frame::message(message)), audience: message.audience() };
        self.send_to_room(message.room, event);
    }

    /// Tells the room (or a whisper's two ends) that `user` is typing.
    pub fn publish_typing(&self, room: RoomId, user: &User, to: Option<UserId>) {
        self.local_typing(room, user, to);
        self.forward(|| Notice::Typing { room, user: user.clone(), to });
    }

    pub fn local_typing(&self, room: RoomId, user: &User, to: Option<UserId>) {
        let frame = Arc::new(Frame::typing(user, to));
        let audience = to.map(|to| [user.id, to]);
        self.send_to_room(room, RoomEvent::Typing { frame, from: user.id, audience });
    }

    pub fn publish_kicked(&self, room: RoomId, user: UserId) {
        self.local_kicked(room, user);
        self.forward(|| Notice::Kicked { room, user });
    }

    pub fn local_kicked(&self, room: RoomId, user: UserId) {
        self.send_to_room(room, RoomEvent::Kicked { user, frame: Arc::new(Frame::kicked(room)) });
    }

    pub fn publish_room_created(&self, room: &Room) {
        self.local_lobby(Frame::room_created(room));
        self.forward(|| Notice::RoomCreated { room: room.id });
    }

    pub fn publish_room_updated(&self, room: &Room) {
        self.local_lobby(Frame::room_updated(room));
        self.forward(|| Notice::RoomUpdated { room: room.id });
    }

    /// A lobby event (or a fresh `rooms` list) for this process's lobby subscribers.
    pub fn local_lobby(&self, frame: Frame) {
        let _ = self.inner.lobby.send(Arc::new(frame));
    }

    /// Tells the room's streams (which then end) and the lobby that the room is gone.
    pub fn publish_room_deleted(&self, room: RoomId) {
        self.local_room_deleted(room);
        self.forward(|| Notice::RoomDeleted { room });
    }

    pub fn local_room_deleted(&self, room: RoomId) {
        let frame = Arc::new(Frame::room_deleted(room));
        if let Some(channel) = self.inner.rooms.lock().unwrap().remove(&room) {
            channel.publish(RoomEvent::Deleted(frame.clone()), &self.inner.metrics);
        }
        let _ = self.inner.lobby.send(frame);
    }

    /// Every room feed here re-reads storage: called when events from other processes may
    /// have been lost.
    pub fn catch_up_all(&self) {
        for channel in self.inner.rooms.lock().unwrap().values() {
            channel.publish(RoomEvent::CatchUp, &self.inner.metrics);
        }
    }

    fn send_to_room(&self, room: RoomId, event: RoomEvent) {
        // The map's lock only for the lookup: writing to a big room's sockets takes a while,
        // and other rooms publish meanwhile.
        let Some(channel) = self.inner.rooms.lock().unwrap().get(&room).cloned() else { return };
        if !channel.publish(event, &self.inner.metrics) {
            // No receivers left: drop the channel rather than keep one per idle room forever
            // (unless a subscriber came in the meantime).
            let mut rooms = self.inner.rooms.lock().unwrap();
            if rooms.get(&room).is_some_and(|held| Arc::ptr_eq(held, &channel) && held.sender.receiver_count() == 0) {
                rooms.remove(&room);
            }
        }
    }
}
