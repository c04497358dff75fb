//! WebSocket plumbing shared by the room and lobby sockets (`crate::streams::socket`) and the
//! demo: the frames a client may send, replies that are not part of a room's sequence,
//! liveness by ping, and closing cleanly.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::Frame;

/// Largest client frame handled; larger ones (up to the socket's hard limit) get an error frame.
pub const MAX_CLIENT_TEXT: usize = 16 * 1024;

/// What a client may send: `{"type": "chat", "text": …, "to"?: user id, "ref"?: anything}`.
#[derive(Deserialize)]
pub struct ClientFrame {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub to: Option<String>,
    /// Echoed in the reply, so a client can match replies to what it sent.
    #[serde(default, rename = "ref")]
    pub reference: Option<serde_json::Value>,
}

/// A reply that is not part of the room's sequence: `ack` or `error`.
pub fn reply(event: &'static str, data: serde_json::Value) -> Message {
    Message::Text(Frame::new(event, None, &data).ws())
}

pub fn error_reply(code: &str, message: &str, reference: Option<serde_json::Value>) -> Message {
    reply("error", json!({ "error": code, "message": message, "ref": reference }))
}

/// Tracks whether the peer still answers: any frame from it counts as a sign of life.
pub struct Liveness {
    period: Duration,
    last_heard: Instant,
}

impl Liveness {
    /// A peer heard from now, expected to answer pings sent every `period`.
    pub fn new(period: Duration) -> Self {
        Self { period, last_heard: Instant::now() }
    }

    pub fn heard(&mut self) {
        self.last_heard = Instant::now();
    }

    fn is_dead(&self) -> bool {
        self.last_heard.elapsed() > self.period * 2 + Duration::from_secs(1)
    }
}

/// The peer sent Close: tungstenite has queued our reply, and reading on until the peer hangs
/// up is what sends it (otherwise the browser reports 1006 instead of a clean 1000).
pub async fn finish_close(socket: &mut WebSocket) {
    let _ =
        tokio::time::timeout(Duration::from_secs(1), async { while let Some(Ok(_)) = socket.recv().await {} }).await;
}

/// Pings a live peer (true), or closes the socket of one that stopped answering (false).
pub async fn ping_or_close(socket: &mut WebSocket, liveness: &Liveness) -> bool {
    if liveness.is_dead() {
        close(socket, 1011, "no answer to pings").await;
        return false;
    }
    socket.send(Message::Ping(Default::default())).await.is_ok()
}

pub async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))).await;
}
