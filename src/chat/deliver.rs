//! Storing messages and publishing them, with group commit.
//!
//! Posts to one room queue here; one writer task per busy room takes everything queued, stores
//! it as one batch (one statement and one commit for all of them), publishes the batch in
//! sequence order, and answers each poster. A quiet room pays nothing extra (the first post
//! finds no writer, starts one, and is written alone at once); a busy room writes while the
//! next batch gathers, so throughput grows with concurrency instead of being capped by one
//! commit per message behind the room's row lock.
//!
//! The writer is its own task, so once a message is queued, a client hanging up cannot cut
//! the write from its publish, and publishing a batch in order saves every subscriber the
//! storage read that an out-of-order publish would cost it (see `realtime/feed.rs`).

use std::{
    collections::{hash_map::Entry, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use crate::{
    domain::{Message, NewMessage, RoomId},
    metrics::Metrics,
    realtime::Hub,
    storage::{Renewal, StorageError, Store, StoreResult},
};

/// Most messages written in one batch; more wait for the next one.
const MAX_BATCH: usize = 256;
/// How long a batch may take before its posters get a 503. PostgreSQL cancels a statement
/// after 15 s itself; this bound is for a connection that died without a word (the writer
/// would otherwise wait out TCP's retransmissions, minutes, with its room's posts queued).
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// Messages of a batch published before the writer lets other tasks run.
const PUBLISHES_PER_TURN: usize = 16;

/// The queues of rooms whose writer is running, and what a writer needs: where to store, where
/// to publish, how long a post keeps its author's seat. A room is in the map exactly while its
/// writer task runs, so a post that finds its room here only has to queue.
#[derive(Clone)]
pub struct Writes {
    queues: Arc<Mutex<HashMap<RoomId, Vec<Queued>>>>,
    store: Arc<dyn Store>,
    hub: Hub,
    metrics: Metrics,
    /// A post renews its author's seat to at least this far ahead.
    grace: Duration,
}

struct Queued {
    message: NewMessage,
    /// The stored message, or `None` when its author holds no seat.
    reply: oneshot::Sender<StoreResult<Option<Message>>>,
}

impl Writes {
    pub fn new(store: Arc<dyn Store>, hub: Hub, metrics: Metrics, grace: Duration) -> Self {
        Self { queues: Arc::default(), store, hub, metrics, grace }
    }

    /// How a post renews its author's seat.
    pub fn renewal(&self) -> Renewal {
        Renewal::ahead(self.grace)
    }

    /// Stores the message (with the next ones posted to its room meanwhile) if its author
    /// holds a seat in the room, which this renews; publishes it, and returns it as stored;
    /// `None` when its author holds no seat (or the room is gone).
    pub async fn append_and_publish(&self, message: NewMessage) -> StoreResult<Option<Message>> {
        let room = message.room;
        let (reply, answer) = oneshot::channel();
        let start_writer = match self.queues.lock().unwrap().entry(room) {
            Entry::Occupied(mut queue) => {
                queue.get_mut().push(Queued { message, reply });
                false
            }
            Entry::Vacant(slot) => {
                slot.insert(vec![Queued { message, reply }]);
                true
            }
        };
        if start_writer {
            tokio::spawn(write_room(self.clone(), room));
        }
        answer.await.map_err(|_| StorageError::Other(anyhow::anyhow!("the room's writer stopped")))?
    }
}

/// Writes the room's queue batch by batch until it is empty, then leaves the map.
async fn write_room(writes: Writes, room: RoomId) {
    let _cleanup = LeaveOnPanic { writes: writes.clone(), room };
    loop {
        let batch: Vec<Queued> = {
            let mut queues = writes.queues.lock().unwrap();
            let Some(queue) = queues.get_mut(&room) else { return };
            if queue.is_empty() {
                queues.remove(&room);
                return;
            }
            let take = queue.len().min(MAX_BATCH);
            queue.drain(..take).collect()
        };
        let (messages, replies): (Vec<NewMessage>, Vec<_>) = batch.into_iter().map(|q| (q.message, q.reply)).unzip();
        let started = Instant::now();
        let write = writes.store.append_posts(room, messages, writes.renewal());
        let written = tokio::time::timeout(WRITE_TIMEOUT, write).await.unwrap_or_else(|_| {
            Err(StorageError::Unavailable(format!("the database did not answer within {WRITE_TIMEOUT:?}")))
        });
        match written {
            Ok(stored) => {
                for (n, message) in stored.iter().flatten().enumerate() {
                    writes.hub.publish_message(message);
                    // A publish writes up to 64 sockets itself (`realtime::direct`): a batch of
                    // hundreds would hold this worker for tens of milliseconds without a break.
                    if n % PUBLISHES_PER_TURN == PUBLISHES_PER_TURN - 1 {
                        tokio::task::yield_now().await;
                    }
                }
                writes.metrics.batch_written(stored.iter().flatten().count(), started.elapsed());
                for (reply, message) in replies.into_iter().zip(stored) {
                    let _ = reply.send(Ok(message));
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

/// If a writer panics, its room leaves the map (dropping whoever queued, who then get an
/// error) rather than leaving every later post to queue for a writer that is gone.
struct LeaveOnPanic {
    writes: Writes,
    room: RoomId,
}

impl Drop for LeaveOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(mut queues) = self.writes.queues.lock() {
                queues.remove(&self.room);
            }
        }
    }
}
