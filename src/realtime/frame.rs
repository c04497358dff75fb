//! A frame is one event serialised once, at publish time, and shared by reference with every
//! subscriber: fan-out costs a refcount per subscriber, not a `serde_json` call.

use std::sync::OnceLock;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use serde::Serialize;

use crate::domain::{Member, Message, Room, RoomId};

#[derive(Debug)]
pub struct Frame {
    /// SSE `event:` name (`chat`, `gif`, `system`, `room-created`, …).
    pub event: &'static str,
    /// The room sequence number for messages; `None` for events outside the sequence.
    pub id: Option<i64>,
    /// The JSON payload.
    pub data: Bytes,
    /// The whole SSE block: `event:`, `id:`, `data:` lines and the blank line.
    pub sse: Bytes,
    /// The WebSocket text, built by the first WebSocket subscriber and shared after that.
    ws: OnceLock<Utf8Bytes>,
}

impl Frame {
    pub fn new(event: &'static str, id: Option<i64>, data: &impl Serialize) -> Self {
        let data = serde_json::to_vec(data).expect("event payloads serialise");
        let mut sse = Vec::with_capacity(data.len() + 48);
        sse.extend_from_slice(b"event: ");
        sse.extend_from_slice(event.as_bytes());
        if let Some(id) = id {
            sse.extend_from_slice(format!("\nid: {id}").as_bytes());
        }
        // serde_json never writes a raw newline, so the payload is always one `data:` line.
        sse.extend_from_slice(b"\ndata: ");
        sse.extend_from_slice(&data);
        sse.extend_from_slice(b"\n\n");
        Self { event, id, data: data.into(), sse: sse.into(), ws: OnceLock::new() }
    }

    /// The WebSocket frame text: `{"event": …, "id": …, "data": …}`, the same event name, id
    /// and JSON as the SSE block.
    pub fn ws(&self) -> Utf8Bytes {
        self.ws
            .get_or_init(|| {
                let mut text = Vec::with_capacity(self.data.len() + 48);
                text.extend_from_slice(b"{\"event\":\"");
                text.extend_from_slice(self.event.as_bytes());
                text.push(b'"');
                if let Some(id) = self.id {
                    text.extend_from_slice(format!(",\"id\":{id}").as_bytes());
                }
                text.extend_from_slice(b",\"data\":");
                text.extend_from_slice(&self.data);
                text.push(b'}');
                Utf8Bytes::try_from(text).expect("JSON is UTF-8")
            })
            .clone()
    }

    pub fn message(message: &Message) -> Self {
        Self::new(message.kind.as_str(), Some(message.id), message)
    }

    pub fn room_deleted(id: RoomId) -> Self {
        Self::new("room-deleted", None, &serde_json::json!({ "id": id }))
    }

    pub fn room_created(room: &Room) -> Self {
        Self::new("room-created", None, room)
    }

    pub fn room_updated(room: &Room) -> Self {
        Self::new("room-updated", None, room)
    }

    /// The member list; `as_of` is the room's last sequence number when it was read, so a
    /// client (and the feed) can tell a newer list from an older one.
    pub fn members(members: &[Member], as_of: i64) -> Self {
        Self::new("members", None, &serde_json::json!({ "members": members, "as_of": as_of }))
    }

    /// The resume point is ahead of the room's newest message (`last_id`): the client should
    /// reload the history.
    pub fn resync_ahead(last_id: i64, requested: i64) -> Self {
        let data = serde_json::json!({ "reason": "ahead_of_room", "last_id": last_id, "requested": requested });
        Self::new("resync", None, &data)
    }

    /// The room a client wants to resume in no longer exists.
    pub fn resync_room_gone(room: RoomId) -> Self {
        Self::new("resync", None, &serde_json::json!({ "reason": "room_gone", "room": room }))
    }

    pub fn kicked(room: RoomId) -> Self {
        let message = "the owner removed you from this room";
        Self::new("kicked", None, &serde_json::json!({ "room": room, "message": message }))
    }

    pub fn rooms(rooms: &[Room]) -> Self {
        Self::new("rooms", None, &serde_json::json!({ "rooms": rooms }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_block_has_event_id_and_one_data_line() {
        let frame = Frame::new("chat", Some(7), &serde_json::json!({"text": "a\nb"}));
        assert_eq!(&frame.sse[..], b"event: chat\nid: 7\ndata: {\"text\":\"a\\nb\"}\n\n");
    }

    #[test]
    fn ws_text_carries_the_same_event_id_and_data() {
        let frame = Frame::new("chat", Some(7), &serde_json::json!({"text": "hi"}));
        assert_eq!(frame.ws().as_str(), r#"{"event":"chat","id":7,"data":{"text":"hi"}}"#);
        let lobby = Frame::new("rooms", None, &serde_json::json!({"rooms": []}));
        assert_eq!(lobby.ws().as_str(), r#"{"event":"rooms","data":{"rooms":[]}}"#);
    }
}
