//! Long-polling: the "before WebSocket" transport. One request waits until the room has
//! something after the client's id (or the wait runs out) and returns it as a message list.

use std::{sync::Arc, time::Duration};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::time::{timeout, timeout_at, Instant};

use super::{FeedItem, Frame, RoomFeed};
use crate::storage::StoreResult;

/// Most messages one poll returns; the client asks again with the last id.
const MAX_PER_POLL: usize = 200;

/// What one poll answers: messages in order, and who started typing meanwhile.
#[derive(Default)]
pub struct Answer {
    pub messages: Vec<Arc<Frame>>,
    pub typing: Vec<Arc<Frame>>,
}

/// Waits up to `wait` for the first message or "is typing", then takes whatever else is ready
/// at once.
pub async fn wait_for_messages(feed: &mut RoomFeed, wait: Duration) -> StoreResult<Answer> {
    let deadline = Instant::now() + wait;
    let mut answer = Answer::default();
    while answer.messages.len() < MAX_PER_POLL {
        let next = if answer.messages.is_empty() && answer.typing.is_empty() {
            timeout_at(deadline, feed.next()).await
        } else {
            timeout(Duration::ZERO, feed.next()).await
        };
        match next {
            Err(_elapsed) => break,
            Ok(item) => match item? {
                Some(FeedItem::Message(frame)) => answer.messages.push(frame),
                Some(FeedItem::Typing(frame)) => answer.typing.push(frame),
                Some(FeedItem::Members(_) | FeedItem::Resync(_)) => {}
                Some(FeedItem::Deleted(_) | FeedItem::Kicked(_)) | None => break,
            },
        }
    }
    Ok(answer)
}

/// `{"messages": [...]}`, with `"typing": [...]` when someone is, from frames whose JSON is
/// already serialised.
pub fn message_list(answer: &Answer) -> Bytes {
    let size = |frames: &[Arc<Frame>]| frames.iter().map(|f| f.data.len() + 1).sum::<usize>();
    let mut body = BytesMut::with_capacity(28 + size(&answer.messages) + size(&answer.typing));
    body.put_slice(b"{\"messages\":");
    put_array(&mut body, &answer.messages);
    if !answer.typing.is_empty() {
        body.put_slice(b",\"typing\":");
        put_array(&mut body, &answer.typing);
    }
    body.put_u8(b'}');
    body.freeze()
}

fn put_array(body: &mut BytesMut, frames: &[Arc<Frame>]) {
    body.put_u8(b'[');
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&frame.data);
    }
    body.put_u8(b']');
}
