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
    error::ApiError,
    rooms::access,
    state::AppState,
    storage::{StorageError, StoreResult},
};

/// Most messages written in one batch; more wait for the next one.
const MAX_BATCH: usize = 256;
/// How long a batch may take before its posters get a 503. PostgreSQL cancels a statement
/// after 15 s itself; this bound is for a connection that died without a word (the writer
/// would otherwise wait out TCP's retransmissions, minutes, with its room's posts queued).
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

/// The queues of rooms whose writer is running. A room is in the map exactly while its writer
/// task runs, so a post that finds its room here only has to queue.
#[derive(Clone, Default)]
pub struct Writes {
    queues: Arc<Mutex<HashMap<RoomId, Vec<Queued>>>>,
}

struct Queued {
    message: NewMessage,
    /// The stored message, or `None` when its author holds no seat.
    reply: oneshot::Sender<StoreResult<Option<Message>>>,
}

/// Stores the message (with the next ones posted to its room meanwhile) if its author holds a
/// seat in the room, which this renews; publishes it, and returns it as stored. Without a
/// seat: 403 (or 404 when the room is gone).
pub async fn append_and_publish(state: &AppState, message: NewMessage) -> Result<Message, ApiError> {
    let (room, author) = (message.room, message.author.id);
    let (reply, answer) = oneshot::channel();
    let start_writer = match state.writes.queues.lock().unwrap().entry(room) {
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
        tokio::spawn(write_room(state.clone(), room));
    }
    let stored = answer.await.map_err(|_| ApiError::Internal(anyhow::anyhow!("the room's writer stopped")))??;
    match stored {
        Some(message) => Ok(message),
        None => Err(access::refusal(state, room, author).await),
    }
}

/// Writes the room's queue batch by batch until it is empty, then leaves the map.
async fn write_room(state: AppState, room: RoomId) {
    let _cleanup = LeaveOnPanic { writes: state.writes.clone(), room };
    loop {
        let batch: Vec<Queued> = {
            let mut queues = state.writes.queues.lock().unwrap();
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
        let write = state.store.append_posts(room, messages, access::renewal(&state));
        let written = tokio::time::timeout(WRITE_TIMEOUT, write).await.unwrap_or_else(|_| {
            Err(StorageError::Unavailable(format!("the database did not answer within {WRITE_TIMEOUT:?}")))
        });
        match written {
            Ok(stored) => {
                for message in stored.iter().flatten() {
                    state.hub.publish_message(message);
                }
                state.metrics.batch_written(stored.iter().flatten().count(), started.elapsed());
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
