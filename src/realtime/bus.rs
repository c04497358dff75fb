//! Fan-out between processes: PostgreSQL LISTEN/NOTIFY. Every event published on this
//! process's hub is also NOTIFYed (by one task, batching), and a listener feeds other
//! processes' events into the local hub, so several instances behind a proxy act as one.
//!
//! NOTIFY payloads stay far below PostgreSQL's 8,000-byte limit: a message travels whole only
//! when small, otherwise as its id (receivers read it from storage); member lists and rooms
//! always travel as ids. Notifications are lost while the LISTEN connection is down, so after
//! reconnecting the listener tells every local feed to catch up from storage.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::{sync::mpsc, task::JoinSet};
use uuid::Uuid;

use super::{Frame, Hub};
use crate::{
    domain::{Message, RoomId, User, UserId},
    storage::{Listener, Relay, StorageError, Store},
};

/// Messages up to this size travel inside the notification.
const INLINE_LIMIT: usize = 6_000;

/// What one process tells the others.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum Notice {
    Message {
        room: RoomId,
        id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<Box<Message>>,
    },
    Kicked {
        room: RoomId,
        user: UserId,
    },
    Typing {
        room: RoomId,
        user: User,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<UserId>,
    },
    RoomCreated {
        room: RoomId,
    },
    RoomUpdated {
        room: RoomId,
    },
    RoomDeleted {
        room: RoomId,
    },
}

impl Notice {
    pub fn message(message: &Message) -> Self {
        // Text is at most a few KB; only very long configured limits fall back to the id.
        let small = message.text.as_ref().is_none_or(|t| t.len() < INLINE_LIMIT);
        Self::Message { room: message.room, id: message.id, message: small.then(|| Box::new(message.clone())) }
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The sending process, which ignores its own notifications.
    from: Uuid,
    #[serde(flatten)]
    notice: Notice,
}

/// What the bus works with: the hub it relays into (and out of), storage to fetch what a
/// notice names, and the server's shutdown.
#[derive(Clone)]
pub struct Context {
    pub hub: Hub,
    pub store: std::sync::Arc<dyn Store>,
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// Starts the notifier and the listener. Fails only if the first LISTEN cannot be set up.
pub async fn start(relay: Relay, ctx: Context, tasks: &mut JoinSet<()>) -> anyhow::Result<()> {
    let instance = Uuid::new_v4();
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = relay.listen().await?;
    ctx.hub.attach_bus(tx);
    tracing::info!(%instance, "listening for other instances' events");
    tasks.spawn(notify_loop(relay.clone(), instance, rx, ctx.shutdown.clone()));
    tasks.spawn(listen_loop(relay, listener, instance, ctx.clone()));
    Ok(())
}

/// Sends queued notices in batches: one round trip for however many piled up meanwhile.
async fn notify_loop(
    relay: Relay,
    instance: Uuid,
    mut rx: mpsc::UnboundedReceiver<Notice>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut batch = Vec::new();
    loop {
        let received = tokio::select! {
            // Requests finish before shutdown is signalled, so what they published is queued.
            _ = shutdown.cancelled() => {
                while let Ok(notice) = rx.try_recv() {
                    batch.push(notice);
                }
                batch.len()
            }
            received = rx.recv_many(&mut batch, 256) => received,
        };
        if received == 0 {
            return;
        }
        let payloads: Vec<String> = batch
            .drain(..)
            .filter_map(|notice| serde_json::to_string(&Envelope { from: instance, notice }).ok())
            .collect();
        for attempt in 0..3 {
            match relay.send(&payloads).await {
                Ok(_) => break,
                Err(err) if attempt < 2 => {
                    tracing::warn!(error = %err, "NOTIFY failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                // Other instances' feeds recover these from storage at their next event.
                Err(err) => tracing::error!(error = %err, dropped = payloads.len(), "NOTIFY failed; giving up"),
            }
        }
        if shutdown.is_cancelled() {
            return;
        }
    }
}

async fn listen_loop(relay: Relay, mut listener: Listener, instance: Uuid, ctx: Context) {
    let mut shutdown = std::pin::pin!(ctx.shutdown.clone().cancelled_owned());
    // Every notification comes back to its sender too. `from` is serialised first, so our own
    // are recognised by their first bytes, without parsing every message we posted.
    let own = format!("{{\"from\":\"{instance}\"");
    loop {
        let received = tokio::select! {
            _ = &mut shutdown => return,
            received = listener.next() => received,
        };
        match received {
            Some(payload) if payload.starts_with(&own) => {}
            Some(payload) => match serde_json::from_str::<Envelope>(&payload) {
                Ok(envelope) if envelope.from == instance => {}
                Ok(envelope) => {
                    if let Err(err) = apply(&ctx, envelope.notice).await {
                        tracing::warn!(error = %err, "could not apply another instance's event");
                    }
                }
                Err(err) => tracing::warn!(error = %err, "ignoring an unreadable notification"),
            },
            // The connection dropped (restart, pg_terminate_backend): LISTEN again on a fresh
            // connection first, then catch up, so nothing falls between the two.
            None => {
                tracing::warn!("lost the LISTEN connection; reconnecting");
                let Some(fresh) = reconnect(&relay, &ctx).await else { return };
                listener = fresh;
                ctx.hub.catch_up_all();
                match ctx.store.rooms().await {
                    Ok(rooms) => ctx.hub.local_lobby(Frame::rooms(&rooms)),
                    Err(err) => tracing::warn!(error = %err, "could not refresh the lobby"),
                }
                tracing::info!("LISTEN restored; local streams caught up from storage");
            }
        }
    }
}

/// A new LISTEN connection, or `None` at shutdown.
async fn reconnect(relay: &Relay, ctx: &Context) -> Option<Listener> {
    let mut delay = Duration::from_millis(100);
    loop {
        match relay.listen().await {
            Ok(listener) => return Some(listener),
            Err(err) => tracing::warn!(error = %err, ?delay, "LISTEN reconnect failed"),
        }
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Delivers another process's event to this process's subscribers.
async fn apply(ctx: &Context, notice: Notice) -> Result<(), StorageError> {
    let (hub, store): (&Hub, &dyn Store) = (&ctx.hub, ctx.store.as_ref());
    match notice {
        Notice::Message { message: Some(message), .. } => hub.local_message(&message),
        Notice::Message { room, id, message: None } => {
            if let Some(message) = store.message(room, id).await? {
                hub.local_message(&message);
            }
        }
        Notice::Kicked { room, user } => hub.local_kicked(room, user),
        Notice::Typing { room, user, to } => hub.local_typing(room, &user, to),
        Notice::RoomCreated { room } => match store.room(room).await {
            Ok(room) => hub.local_lobby(Frame::room_created(&room)),
            Err(StorageError::NotFound) => {}
            Err(err) => return Err(err),
        },
        Notice::RoomUpdated { room } => match store.room(room).await {
            Ok(room) => hub.local_lobby(Frame::room_updated(&room)),
            Err(StorageError::NotFound) => {}
            Err(err) => return Err(err),
        },
        Notice::RoomDeleted { room } => hub.local_room_deleted(room),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_starts_with_its_sender_so_our_own_are_skipped_unparsed() {
        let instance = Uuid::new_v4();
        let envelope = Envelope { from: instance, notice: Notice::RoomDeleted { room: RoomId::random() } };
        let payload = serde_json::to_string(&envelope).unwrap();
        assert!(payload.starts_with(&format!("{{\"from\":\"{instance}\"")), "{payload}");
    }

    #[test]
    fn a_typing_notice_survives_the_trip() {
        let user = User::new(UserId::random(), Some("Ann"));
        let to = Some(UserId::random());
        let envelope = Envelope {
            from: Uuid::new_v4(),
            notice: Notice::Typing { room: RoomId::random(), user: user.clone(), to },
        };
        let payload = serde_json::to_string(&envelope).unwrap();
        let back: Envelope = serde_json::from_str(&payload).unwrap_or_else(|err| panic!("{err}: {payload}"));
        assert!(matches!(back.notice, Notice::Typing { user: got, to: got_to, .. } if got == user && got_to == to));
    }
}
