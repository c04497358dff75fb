//! A room stream as a browser reads it, whichever transport carries it (SSE or WebSocket):
//! named events with JSON data, and the last event id it delivered (what a browser resumes
//! from).

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::{
    sse::{End, SseStream},
    WAIT,
};

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct RoomStream {
    transport: Transport,
    pub last_id: Option<i64>,
}

enum Transport {
    Sse(SseStream),
    Ws(Box<Socket>),
}

#[derive(Debug)]
pub struct Event {
    pub name: String,
    pub id: Option<i64>,
    pub data: Value,
}

impl RoomStream {
    pub fn sse(stream: SseStream) -> Self {
        Self { transport: Transport::Sse(stream), last_id: None }
    }

    pub fn ws(socket: Socket) -> Self {
        Self { transport: Transport::Ws(Box::new(socket)), last_id: None }
    }

    /// The next event. Panics after [`WAIT`], or if the stream failed or ended.
    pub async fn next(&mut self) -> Event {
        match timeout(WAIT, self.try_next()).await.expect("an event within WAIT") {
            Ok(Some(event)) => event,
            Ok(None) => panic!("the stream ended early"),
            Err(err) => panic!("{err}"),
        }
    }

    /// The next event; `Ok(None)` when the server ended the stream, `Err` when it broke off.
    pub async fn try_next(&mut self) -> Result<Option<Event>, String> {
        let event = match &mut self.transport {
            Transport::Sse(stream) => loop {
                match stream.next(WAIT).await {
                    Err(End::Clean) => return Ok(None),
                    Err(End::Broken(err)) => return Err(format!("SSE stream failed: {err}")),
                    Ok(block) if block.data.is_empty() => continue, // the `retry:` hint, comments
                    Ok(block) => break Event { data: block.json(), name: block.event, id: block.id },
                }
            },
            Transport::Ws(socket) => loop {
                match socket.next().await {
                    None | Some(Ok(WsMessage::Close(_))) => return Ok(None),
                    Some(Ok(WsMessage::Text(text))) => {
                        let frame: Value = serde_json::from_str(text.as_str()).expect("a JSON frame");
                        let name = frame["event"].as_str().unwrap_or_default().to_owned();
                        break Event { name, id: frame["id"].as_i64(), data: frame["data"].clone() };
                    }
                    Some(Ok(_)) => continue, // pings (answered by tungstenite) and pongs
                    Some(Err(err)) => return Err(format!("WebSocket failed: {err}")),
                }
            },
        };
        if event.id.is_some() {
            self.last_id = event.id;
        }
        Ok(Some(event))
    }

    /// The data of the next event with this name, skipping others.
    pub async fn next_named(&mut self, name: &str) -> Value {
        loop {
            let event = self.next().await;
            if event.name == name {
                return event.data;
            }
        }
    }

    /// The next stored messages (chat, gif, system, whisper), skipping member lists and acks.
    pub async fn next_messages(&mut self, count: usize) -> Vec<Value> {
        let mut messages = Vec::with_capacity(count);
        while messages.len() < count {
            let event = self.next().await;
            if matches!(event.name.as_str(), "chat" | "gif" | "system" | "whisper") {
                assert_eq!(event.id, event.data["id"].as_i64(), "the event id is the message id");
                messages.push(event.data);
            }
        }
        messages
    }

    /// The next chat, skipping system messages (joins) and everything else.
    pub async fn next_chat(&mut self) -> Value {
        self.next_named("chat").await
    }

    /// Skips chats older than `message` (its id is lower); the next one must be `message`.
    pub async fn next_chat_with_id(&mut self, message: &Value) -> Value {
        loop {
            let chat = self.next_chat().await;
            if chat["id"].as_i64() >= message["id"].as_i64() {
                return chat;
            }
        }
    }

    pub async fn next_chats(&mut self, count: usize) -> Vec<Value> {
        let mut chats = Vec::with_capacity(count);
        while chats.len() < count {
            chats.push(self.next_chat().await);
        }
        chats
    }

    /// Sends a chat over a WebSocket.
    pub async fn send_chat(&mut self, text: &str) {
        let Transport::Ws(socket) = &mut self.transport else { panic!("only a WebSocket can send") };
        let frame = json!({ "type": "chat", "text": text }).to_string();
        socket.send(WsMessage::Text(frame.into())).await.expect("the frame is sent");
    }
}
