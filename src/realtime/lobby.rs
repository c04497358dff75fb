//! A subscriber's view of the lobby: the room list first, then changes. Lobby events carry no
//! sequence, so a subscriber that lags simply gets a fresh list.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use super::{Frame, Hub};
use crate::storage::{Store, StoreResult};

pub struct LobbyFeed {
    store: Arc<dyn Store>,
    live: broadcast::Receiver<Arc<Frame>>,
    pending: Option<Arc<Frame>>,
}

impl LobbyFeed {
    /// Subscribes before listing, so a room created in between is seen (at worst twice:
    /// in the list and as `room-created`, which clients treat as an upsert).
    pub async fn open(hub: &Hub, store: Arc<dyn Store>) -> StoreResult<Self> {
        let live = hub.subscribe_lobby();
        let rooms = store.rooms().await?;
        Ok(Self { store, live, pending: Some(Arc::new(Frame::rooms(&rooms))) })
    }

    pub async fn next(&mut self) -> StoreResult<Option<Arc<Frame>>> {
        if let Some(frame) = self.pending.take() {
            return Ok(Some(frame));
        }
        match self.live.recv().await {
            Ok(frame) => Ok(Some(frame)),
            Err(RecvError::Lagged(_)) => Ok(Some(Arc::new(Frame::rooms(&self.store.rooms().await?)))),
            Err(RecvError::Closed) => Ok(None),
        }
    }
}
