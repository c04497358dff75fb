//! SIGTERM while posters post and subscribers stream: the server exits in bounded time and
//! with success, every stream ends cleanly (SSE with a last `retry:` hint, WebSocket with
//! close code 1001), every acknowledged chat is stored, and after a restart on the same
//! database each subscriber resumes from its last id and ends up with every message exactly
//! once, in order, without a gap. Posts refused during the shutdown were never acknowledged
//! and may or may not be stored, but never twice.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicUsize, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::{
    common::sse::{End, SseStream},
    harness::{Backend, Browser, Server, Socket, ONE_AT_A_TIME, WAIT},
};

const POSTERS: usize = 4;
const SSE_SUBSCRIBERS: usize = 4;
/// Chats acknowledged before the signal, so that it lands in the middle of the conversation.
const BEFORE_SIGNAL: usize = 40;
/// How long the process may take to exit once signalled (it gives requests 10 s to finish).
const EXIT_BOUND: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_nothing_acknowledged_on_sqlite() {
    sigterm_under_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_nothing_acknowledged_on_postgres() {
    sigterm_under_load(Backend::Postgres).await;
}

async fn sigterm_under_load(backend: Backend) {
    let _turn = ONE_AT_A_TIME.lock().await;
    // Arrange: a room with SSE subscribers, one WebSocket subscriber and posters, each its
    // own user; every subscriber has seen a first chat, so each has a resume point.
    let mut server = Server::start(backend, &[]).await;
    let base = server.url();
    let owner = Browser::new(&base);
    let room = owner.create_room(json!({ "title": "sigterm", "max": 20 })).await;
    let mut subscribers = Vec::new();
    for i in 0..SSE_SUBSCRIBERS {
        let browser = Browser::new(&base);
        let stream = browser.sse_blocks(&room, None).await;
        subscribers.push(Subscriber::new(format!("sse {i}"), browser, Transport::Sse(stream)));
    }
    let browser = Browser::new(&base);
    let socket = browser.socket(&room, None, None).await;
    subscribers.push(Subscriber::new("ws".into(), browser, Transport::Ws(Box::new(socket))));
    let posters: Vec<Browser> = (0..POSTERS).map(|_| Browser::new(&base)).collect();
    for poster in &posters {
        poster.join(&room).await;
    }
    let first = owner.say(&room, "before the signal").await;
    for subscriber in &mut subscribers {
        subscriber.read_through(id(&first)).await;
    }

    // Act: everyone busy, then SIGTERM.
    let acked = Arc::new(AtomicUsize::new(0));
    let posting: Vec<_> = posters
        .iter()
        .enumerate()
        .map(|(i, poster)| tokio::spawn(post_until_refused(poster.clone(), room.clone(), i, acked.clone())))
        .collect();
    let reading: Vec<_> = subscribers.into_iter().map(|s| tokio::spawn(s.read_to_end())).collect();
    timeout(WAIT, async {
        while acked.load(Relaxed) < BEFORE_SIGNAL {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the posters are acknowledged");
    server.sigterm();
    let status = server.wait_exit(EXIT_BOUND).await;

    // Assert: a clean exit, streams ended as promised, posting refused only by the shutdown.
    assert!(status.success(), "the server exits with success after SIGTERM: {status}");
    let mut subscribers = Vec::new();
    for task in reading {
        let (subscriber, ending) = timeout(WAIT, task).await.expect("every stream ends").unwrap();
        let expected = match subscriber.transport {
            Transport::Sse(_) => Ending::Sse(End::Clean, Some(HintAtEnd)),
            Transport::Ws(_) => Ending::Ws(Some(1001)),
        };
        assert_eq!(ending, expected, "{}", subscriber.label);
        subscribers.push(subscriber);
    }
    let mut accepted = vec![first];
    let mut refused = Vec::new();
    for task in posting {
        let posted = timeout(WAIT, task).await.expect("every poster stops").unwrap();
        accepted.extend(posted.acked);
        refused.extend(posted.refused);
    }
    for why in &refused {
        assert!(why.contains("connection") || why.contains("503"), "refused by the shutdown only: {refused:?}");
    }
    assert!(accepted.len() > BEFORE_SIGNAL);

    // Restart on the same database and port; every subscriber resumes after its last id.
    server.restart().await;
    owner.join(&room).await;
    let last = owner.say(&room, "after the restart").await;
    accepted.push(last.clone());
    for subscriber in &mut subscribers {
        subscriber.reconnect(&room).await;
        subscriber.read_through(id(&last)).await;
        subscriber.assert_exactly_once(&accepted);
    }
    let history = owner.history(&room).await;
    let stored: HashMap<i64, &Value> = history.iter().map(|m| (id(m), m)).collect();
    for message in &accepted {
        assert_eq!(stored.get(&id(message)), Some(&message), "every acknowledged chat is stored");
    }
    let mut texts = HashSet::new();
    for chat in history.iter().filter(|m| m["kind"] == "chat") {
        assert!(texts.insert(chat["text"].as_str().unwrap()), "stored twice: {chat}");
    }
}

fn id(message: &Value) -> i64 {
    message["id"].as_i64().expect("a message id")
}

/// What one poster got: the messages acknowledged (201), then why it stopped.
struct Posted {
    acked: Vec<Value>,
    refused: Vec<String>,
}

/// Posts numbered chats until one is not acknowledged; never retries (a retry could store a
/// chat twice, which is the client's business, not what is tested here).
async fn post_until_refused(browser: Browser, room: String, poster: usize, acked: Arc<AtomicUsize>) -> Posted {
    let mut posted = Posted { acked: Vec::new(), refused: Vec::new() };
    let path = format!("/api/rooms/{room}/messages");
    for n in 0.. {
        let text = format!("poster {poster} chat {n}");
        let why = match browser.post(&path, json!({ "text": text })).await {
            Ok(response) if response.status() == StatusCode::CREATED => match response.json().await {
                Ok(message) => {
                    posted.acked.push(message);
                    acked.fetch_add(1, Relaxed);
                    continue;
                }
                Err(err) => format!("connection lost reading the answer: {err}"),
            },
            Ok(response) => format!("{} {}", response.status(), response.text().await.unwrap_or_default()),
            Err(err) => format!("connection error: {err:?}"),
        };
        posted.refused.push(format!("{text}: {why}"));
        break;
    }
    posted
}

enum Transport {
    Sse(SseStream),
    Ws(Box<Socket>),
}

/// The SSE stream's last block was a `retry:` hint.
#[derive(Debug, PartialEq, Eq)]
struct HintAtEnd;

/// How a subscriber's stream ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Sse(End, Option<HintAtEnd>),
    /// The close frame's code, if there was one.
    Ws(Option<u16>),
}

struct Subscriber {
    label: String,
    browser: Browser,
    transport: Transport,
    /// Every stored message received, over every connection, in arrival order.
    seen: Vec<Value>,
    last_was_retry_hint: bool,
}

impl Subscriber {
    fn new(label: String, browser: Browser, transport: Transport) -> Self {
        Self { label, browser, transport, seen: Vec::new(), last_was_retry_hint: false }
    }

    /// Receives one event (keeping it if it is a message), or says how the stream ended.
    async fn step(&mut self) -> Result<(), Ending> {
        match &mut self.transport {
            Transport::Sse(stream) => {
                let block = match stream.next(WAIT).await {
                    Ok(block) => block,
                    Err(end) => return Err(Ending::Sse(end, self.last_was_retry_hint.then_some(HintAtEnd))),
                };
                self.last_was_retry_hint = block.retry.is_some();
                if block.is_message() {
                    let message = block.json();
                    assert_eq!(block.id, message["id"].as_i64(), "the SSE id is the message id");
                    self.seen.push(message);
                }
                Ok(())
            }
            Transport::Ws(socket) => loop {
                let frame = timeout(WAIT, socket.next()).await.expect("a frame in time");
                match frame {
                    Some(Ok(WsMessage::Text(text))) => {
                        let frame: Value = serde_json::from_str(&text).unwrap();
                        if matches!(frame["event"].as_str(), Some("chat" | "gif" | "system" | "whisper")) {
                            assert_eq!(frame["id"], frame["data"]["id"], "the frame id is the message id");
                            self.seen.push(frame["data"].clone());
                        }
                        return Ok(());
                    }
                    Some(Ok(WsMessage::Close(close))) => return Err(Ending::Ws(close.map(|c| c.code.into()))),
                    Some(Ok(_)) => continue, // pings, answered by tungstenite
                    Some(Err(_)) | None => return Err(Ending::Ws(None)),
                }
            },
        }
    }

    /// Reads until the message `id` (or a later one) has arrived.
    async fn read_through(&mut self, id: i64) {
        while self.seen.last().is_none_or(|m| m["id"].as_i64().unwrap() < id) {
            if let Err(ending) = self.step().await {
                panic!("{}: the stream ended before message {id}: {ending:?}", self.label);
            }
        }
    }

    async fn read_to_end(mut self) -> (Self, Ending) {
        loop {
            if let Err(ending) = self.step().await {
                return (self, ending);
            }
        }
    }

    /// Opens a new stream after the last message seen, as EventSource (Last-Event-ID) or the
    /// page's WebSocket client (`?after=`) would.
    async fn reconnect(&mut self, room: &str) {
        let last = self.seen.last().map(id);
        self.transport = match self.transport {
            Transport::Sse(_) => Transport::Sse(self.browser.sse_blocks(room, last).await),
            Transport::Ws(_) => Transport::Ws(Box::new(self.browser.socket(room, last, None).await)),
        };
    }

    /// Every message from the first seen on arrived once, in order, with no gap (the room has
    /// no whispers, so every id is this subscriber's to see), and each acknowledged one
    /// arrived as acknowledged.
    fn assert_exactly_once(&self, accepted: &[Value]) {
        let ids: Vec<i64> = self.seen.iter().map(id).collect();
        if let Some(pair) = ids.windows(2).find(|pair| pair[1] != pair[0] + 1) {
            panic!("{}: message {} followed {} (gap, duplicate or disorder) in {ids:?}", self.label, pair[1], pair[0]);
        }
        let by_id: HashMap<i64, &Value> = self.seen.iter().map(|m| (id(m), m)).collect();
        for message in accepted {
            assert_eq!(by_id.get(&id(message)), Some(&message), "{}: an acknowledged chat arrived as sent", self.label);
        }
    }
}
