//! Long-polling: the "before WebSocket" transport. One request waits until the room has
//! something after the client's id (or the wait runs out) and returns it as a message list.

use std::{sync::Arc, time::Duration};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::time::{timeout, timeout_at, Instant};

use super::{FeedItem, Frame, RoomFeed};
use crate::storage::StoreResult;

/// Most messages one poll returns; the client asks again with the last id.
const MAX_PER_POLL: usize = 200;

/// Waits up to `wait` for the first message, then takes whatever else is ready at once.
pub async fn wait_for_messages(feed: &mut RoomFeed, wait: Duration) -> StoreResult<Vec<Arc<Frame>>> {
    let deadline = Instant::now() + wait;
    let mut messages = Vec::new();
    while messages.len() < MAX_PER_POLL {
        let next = if messages.is_empty() {
            timeout_at(deadline, feed.next()).await
        } else {
            timeout(Duration::ZERO, feed.next()).await
        };
        match next {
            Err(_elapsed) => break,
            Ok(item) => match item? {
                Some(FeedItem::Message(frame)) => messages.push(frame),
                Some(FeedItem::Members(_) | FeedItem::Resync(_)) => {}
                Some(FeedItem::Deleted(_) | FeedItem::Kicked(_)) | None => break,
            },
        }
    }
    Ok(messages)
}

/// `{"messages": [...]}` from frames whose JSON is already serialised.
pub fn message_list(frames: &[Arc<Frame>]) -> Bytes {
    let mut body = BytesMut::with_capacity(16 + frames.iter().map(|f| f.data.len() + 1).sum::<usize>());
    body.put_slice(b"{\"messages\":[");
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&frame.data);
    }
    body.put_slice(b"]}");
    body.freeze()
}
