//! Joins of one room are stored in batches, like posts (`chat::deliver`): one writer task per
//! room being joined takes every seat request queued meanwhile and decides them in one
//! transaction (one room lock, one commit), then publishes the joins in sequence order.
//!
//! Taking a seat locks the room's row until commit (capacity and bans are checked under the
//! lock), so concurrent joins of one room ran one after another anyway, each with its own
//! commit, and each held a pool connection while it waited: a storm of 2,000 joins took all
//! of PostgreSQL's sixteen connections, and most joiners (and every other request) got 503
//! once the pool's acquire timeout ran out (bench scenario 5: 635 of 2,000 connected). Now
//! the waiting happens in memory and a batch costs one connection and one commit.

use std::{
    collections::{hash_map::Entry, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::oneshot;

use crate::{
    domain::RoomId,
    realtime::Hub,
    storage::{Seat, SeatRequest, StorageError, Store, StoreResult},
};

/// Most seat requests decided in one transaction.
const MAX_BATCH: usize = 256;
/// As for posts: a batch that takes this long answers 503 (a connection that died silently).
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct SeatQueue {
    /// The queues of rooms whose writer runs: a room is here exactly while its writer does.
    queues: Arc<Mutex<HashMap<RoomId, Vec<Queued>>>>,
    store: Arc<dyn Store>,
    hub: Hub,
}

struct Queued {
    request: SeatRequest,
    reply: oneshot::Sender<StoreResult<Seat>>,
}

impl SeatQueue {
    pub fn new(store: Arc<dyn Store>, hub: Hub) -> Self {
        Self { queues: Arc::default(), store, hub }
    }

    /// Takes (or keeps) the seat with the requests queued with it, and publishes a new
    /// member's join and the room's new count before answering.
    pub async fn take_seat(&self, room: RoomId, request: SeatRequest) -> StoreResult<Seat> {
        let (reply, answer) = oneshot::channel();
        let start_writer = match self.queues.lock().unwrap().entry(room) {
            Entry::Occupied(mut queue) => {
                queue.get_mut().push(Queued { request, reply });
                false
            }
            Entry::Vacant(slot) => {
                slot.insert(vec![Queued { request, reply }]);
                true
            }
        };
        if start_writer {
            tokio::spawn(write_room(self.clone(), room));
        }
        answer.await.map_err(|_| StorageError::Other(anyhow::anyhow!("the room's seat writer stopped")))?
    }
}

async fn write_room(queue: SeatQueue, room: RoomId) {
    let _cleanup = LeaveOnPanic { queue: queue.clone(), room };
    loop {
        let batch: Vec<Queued> = {
            let mut queues = queue.queues.lock().unwrap();
            let Some(waiting) = queues.get_mut(&room) else { return };
            if waiting.is_empty() {
                queues.remove(&room);
                return;
            }
            let take = waiting.len().min(MAX_BATCH);
            waiting.drain(..take).collect()
        };
        let (requests, replies): (Vec<SeatRequest>, Vec<_>) = batch.into_iter().map(|q| (q.request, q.reply)).unzip();
        let written =
            tokio::time::timeout(WRITE_TIMEOUT, queue.store.take_seats(room, &requests)).await.unwrap_or_else(|_| {
                Err(StorageError::Unavailable(format!("the database did not answer within {WRITE_TIMEOUT:?}")))
            });
        match written {
            Ok(seats) => {
                let mut updated = None;
                for seat in &seats {
                    if let Seat::Taken { room, joined: Some(joined) } = seat {
                        queue.hub.publish_message(joined);
                        updated = Some(room);
                    }
                }
                if let Some(room) = updated {
                    queue.hub.publish_room_updated(room);
                }
                for (reply, seat) in replies.into_iter().zip(seats) {
                    let _ = reply.send(Ok(seat));
                }
            }
            Err(err) => {
                for reply in replies {
                    let _ = reply.send(Err(err.duplicate()));
                }
            }
        }
    }
}

/// A writer that panics takes its room out of the map, so later joins start a new one.
struct LeaveOnPanic {
    queue: SeatQueue,
    room: RoomId,
}

impl Drop for LeaveOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(mut queues) = self.queue.queues.lock() {
                queues.remove(&self.room);
            }
        }
    }
}
