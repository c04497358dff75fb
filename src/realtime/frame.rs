//! A frame is one event serialised once, at publish time, and shared by reference with every
//! subscriber: fan-out costs a refcount per subscriber, not a `serde_json` call.

use std::sync::OnceLock;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use serde::Serialize;

use crate::domain::{Member, Message, Room, RoomId, User, UserId};

/// Members per `members` event; a longer list takes several (see `Frame::member_pages`).
/// About 1.5 KB of JSON, the size of a long chat: a WebSocket's write buffer keeps the
/// capacity of the largest frame it ever sent (tungstenite has no way to shrink it), so a
/// bigger page would be paid for by every socket for as long as it stays open (pages of 50
/// cost 4 KiB per idle socket).
pub const MEMBERS_PAGE: usize = 12;

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

    /// `user` is typing, in the room or (`to`) in a whisper. Outside the sequence: not stored,
    /// not replayed.
    pub fn typing(user: &User, to: Option<UserId>) -> Self {
        Self::new("typing", None, &serde_json::json!({ "user": user, "to": to }))
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

    /// The member list as `members` events of at most `MEMBERS_PAGE` members each, all with the
    /// same `as_of` (the room's last sequence number when it was read), every page but the
    /// last marked `"more": true`. Pages keep each frame small: WebSocket libraries copy a frame
    /// into a write buffer that keeps its largest size, and a 2,000-member list is ~300 KB.
    pub fn member_pages(members: &[Member], as_of: i64) -> Vec<Self> {
        let mut pages: Vec<&[Member]> = members.chunks(MEMBERS_PAGE).collect();
        if pages.is_empty() {
            pages.push(&[]);
        }
        let last = pages.len() - 1;
        pages
            .into_iter()
            .enumerate()
            .map(|(n, page)| {
                let data = if n == last {
                    serde_json::json!({ "members": page, "as_of": as_of })
                } else {
                    serde_json::json!({ "members": page, "as_of": as_of, "more": true })
                };
                Self::new("members", None, &data)
            })
            .collect()
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
    fn a_long_member_list_comes_in_pages_marked_more_but_the_last() {
        let member = |n: usize| Member {
            user: crate::domain::User::new(crate::domain::UserId(uuid::Uuid::from_u128(n as u128)), None),
            owner: n == 0,
            since: chrono::Utc::now(),
        };
        let members: Vec<Member> = (0..MEMBERS_PAGE * 2 + 1).map(member).collect();
        let pages: Vec<serde_json::Value> =
            Frame::member_pages(&members, 7).iter().map(|frame| serde_json::from_slice(&frame.data).unwrap()).collect();
        assert_eq!(pages.len(), 3);
        let sizes: Vec<usize> = pages.iter().map(|p| p["members"].as_array().unwrap().len()).collect();
        assert_eq!(sizes, [MEMBERS_PAGE, MEMBERS_PAGE, 1]);
        assert!(pages.iter().all(|p| p["as_of"] == 7));
        assert_eq!(
            (pages[0]["more"].as_bool(), pages[1]["more"].as_bool(), pages[2].get("more")),
            (Some(true), Some(true), None)
        );
        let empty = Frame::member_pages(&[], 3);
        assert_eq!(empty.len(), 1);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&empty[0].data).unwrap()["members"],
            serde_json::json!([])
        );
    }

    #[test]
    fn ws_text_carries_the_same_event_id_and_data() {
        let frame = Frame::new("chat", Some(7), &serde_json::json!({"text": "hi"}));
        assert_eq!(frame.ws().as_str(), r#"{"event":"chat","id":7,"data":{"text":"hi"}}"#);
        let lobby = Frame::new("rooms", None, &serde_json::json!({"rooms": []}));
        assert_eq!(lobby.ws().as_str(), r#"{"event":"rooms","data":{"rooms":[]}}"#);
    }
}
