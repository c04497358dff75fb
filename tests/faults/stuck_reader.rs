//! A subscriber that stops reading. Room feeds are pulled by the connection: while the socket
//! is full nobody polls the feed, its place in the room's channel falls behind (it is not
//! buffered for), and it later catches up from storage. So its cost stays bounded whatever
//! is posted meanwhile, and when it reads again it gets every message once, in order. Past
//! WRITE_STALL_TIMEOUT the server closes such a connection, and the client's resume from its
//! last complete event misses nothing.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    time::timeout,
};

use crate::{
    common::sse::Parser,
    harness::{Backend, Browser, Server, ONE_AT_A_TIME, WAIT},
};

/// Characters per chat: big chats fill the socket buffers with few posts.
const CHAT_CHARS: usize = 4000;
/// The stuck client's receive buffer; the kernel then cannot hide much behind it.
const RECEIVE_BUFFER: u32 = 16 * 1024;
const POSTERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_reading_costs_bounded_memory_and_then_gets_everything_once() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let max_chars = CHAT_CHARS.to_string();
    let env = [("MAX_MESSAGE_CHARS", max_chars.as_str()), ("WRITE_STALL_TIMEOUT", "0")];
    let server = Server::start(Backend::Sqlite, &env).await;
    let (room, posters) = room_with_posters(&server).await;
    let reader = Browser::new(&server.url());
    let mut stuck = RawSubscriber::open(&server, &room, &reader.cookie().await, None).await;

    // Warm up while the client reads: the allocator, SQLite's caches and the server's buffers
    // settle, so what grows later is what the stuck client costs.
    let warm_up = tokio::spawn(post_chats(posters.clone(), room.clone(), "warm-up", 300));
    stuck.read_chats(300).await;
    let mut posted = warm_up.await.unwrap();
    let sse_bytes = "gifchat_bytes_delivered_total{transport=\"sse\"}";
    let delivered_before = server.metric(sse_bytes).await;
    let lags_before = server.metric("gifchat_lag_catch_ups_total").await;
    let rss_before = server.rss_kib() * 1024;

    // The client stops reading while chats keep coming: a first batch fills its socket
    // buffers and the room channel (which keeps up to ROOM_CHANNEL_CAPACITY events until
    // every subscriber has them), a second one shows that nothing grows with what is posted.
    let batch = chats_filling(2.0 * send_buffer_max());
    let first = post_chats(posters.clone(), room.clone(), "unread", batch).await;
    let rss_first = server.rss_kib() * 1024;
    let second = post_chats(posters.clone(), room.clone(), "also unread", batch).await;
    let rss_second = server.rss_kib() * 1024;
    let delivered = server.metric(sse_bytes).await - delivered_before;
    let volume = |chats: &[Value]| chats.iter().map(|m| m.to_string().len() as u64).sum::<u64>();
    let (volume_first, volume_second) = (volume(&first), volume(&second));
    eprintln!(
        "stuck reader: {} + {volume_second} bytes posted, {delivered} written to its stream, RSS {} → {} → {} KiB",
        volume_first,
        rss_before / 1024,
        rss_first / 1024,
        rss_second / 1024
    );
    let total = (volume_first + volume_second) as f64;
    assert!(delivered < total / 2.0, "the stream stalled: only {delivered} of {total} bytes went out");
    let growth = rss_second.saturating_sub(rss_first);
    assert!(growth < volume_second / 3, "RSS grew {growth} bytes during the second batch of {volume_second} bytes");
    let growth = rss_second.saturating_sub(rss_before);
    assert!(growth < (volume_first + volume_second) / 2, "RSS grew {growth} bytes in all");

    // It reads again: everything, once, in order, caught up from storage.
    posted.extend(first);
    posted.extend(second);
    let last = posted.iter().map(id).max().unwrap();
    stuck.read_through(last).await;
    assert_exactly_once(&stuck.seen, &posted);
    let lags = server.metric("gifchat_lag_catch_ups_total").await - lags_before;
    assert!(lags > 0.0, "its feed had fallen behind the room channel instead of being buffered for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_connection_is_closed_and_its_reader_resumes_without_loss() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let max_chars = CHAT_CHARS.to_string();
    let env = [("MAX_MESSAGE_CHARS", max_chars.as_str()), ("WRITE_STALL_TIMEOUT", "1s")];
    let server = Server::start(Backend::Sqlite, &env).await;
    let (room, posters) = room_with_posters(&server).await;
    let reader = Browser::new(&server.url());
    let mut stuck = RawSubscriber::open(&server, &room, &reader.cookie().await, None).await;

    // More than the socket buffers hold, so a write must wait for a reader that never comes.
    let posted = post_chats(posters, room.clone(), "unread", chats_filling(2.0 * send_buffer_max())).await;
    timeout(WAIT, async {
        while server.metric("gifchat_stalled_connections_total").await < 1.0
            || server.metric("gifchat_open_streams{transport=\"sse\"}").await > 0.0
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the server closes the stalled stream");

    // What had reached the client before the close is still readable; the response was cut.
    let is_complete = stuck.read_to_eof().await;
    assert!(!is_complete, "the stream was cut, not finished");
    let before_close = stuck.seen.clone();
    let resume = before_close.last().map(id);
    let mut resumed = reader.sse_blocks(&room, resume).await;
    let last = posted.iter().map(id).max().unwrap();
    let mut seen = before_close;
    while seen.last().is_none_or(|m| id(m) < last) {
        let block = resumed.next(WAIT).await.expect("the resumed stream stays open");
        if block.is_message() {
            seen.push(block.json());
        }
    }
    assert_exactly_once(&seen, &posted);
}

/// The most a TCP socket's send buffer grows to here (`tcp_wmem`'s maximum): a stuck
/// reader's connection can swallow about that much before the server's writes wait.
fn send_buffer_max() -> f64 {
    let tcp_wmem = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").unwrap_or_default();
    tcp_wmem.split_whitespace().nth(2).and_then(|max| max.parse().ok()).unwrap_or(4_194_304.0)
}

/// How many chats of CHAT_CHARS make about `bytes` of event stream.
fn chats_filling(bytes: f64) -> usize {
    (bytes / (CHAT_CHARS + 300) as f64).ceil() as usize
}

fn id(message: &Value) -> i64 {
    message["id"].as_i64().expect("a message id")
}

/// An open room and some members to post in it.
async fn room_with_posters(server: &Server) -> (String, Vec<Browser>) {
    let owner = Browser::new(&server.url());
    let room = owner.create_room(json!({ "title": "stuck", "max": 20 })).await;
    let mut posters = vec![owner];
    for _ in 1..POSTERS {
        let poster = Browser::new(&server.url());
        poster.join(&room).await;
        posters.push(poster);
    }
    (room, posters)
}

/// Posts `count` chats of CHAT_CHARS characters from all posters at once; returns them as
/// stored, in id order.
async fn post_chats(posters: Vec<Browser>, room: String, label: &'static str, count: usize) -> Vec<Value> {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = posters
        .into_iter()
        .map(|poster| {
            let (next, room) = (next.clone(), room.clone());
            tokio::spawn(async move {
                let mut stored = Vec::new();
                loop {
                    let n = next.fetch_add(1, Relaxed);
                    if n >= count {
                        return stored;
                    }
                    let mut text = format!("{label} {n} ");
                    text.extend(std::iter::repeat_n('x', CHAT_CHARS - text.len()));
                    stored.push(poster.say(&room, &text).await);
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_by_key(id);
    all
}

/// Every message from the first seen on arrived once and in order, with no gap (the room has
/// no whispers), and every posted chat is among them as stored.
fn assert_exactly_once(seen: &[Value], posted: &[Value]) {
    let ids: Vec<i64> = seen.iter().map(id).collect();
    if let Some(pair) = ids.windows(2).find(|pair| pair[1] != pair[0] + 1) {
        panic!("message {} followed {} (gap, duplicate or disorder)", pair[1], pair[0]);
    }
    let by_id: HashMap<i64, &Value> = seen.iter().map(|m| (id(m), m)).collect();
    for message in posted {
        assert_eq!(by_id.get(&id(message)), Some(&message), "every posted chat arrived as stored");
    }
}

/// A room stream read straight off a TCP socket with a small receive buffer: when the test
/// does not read, nothing does.
struct RawSubscriber {
    tcp: TcpStream,
    /// The last bytes read, to tell how the stream ended.
    tail: Vec<u8>,
    parser: Parser,
    seen: Vec<Value>,
}

impl RawSubscriber {
    async fn open(server: &Server, room: &str, cookie: &str, last_event_id: Option<i64>) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(RECEIVE_BUFFER).unwrap();
        let mut tcp = socket.connect(([127, 0, 0, 1], server.port).into()).await.unwrap();
        let resume = last_event_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
        let request = format!(
            "GET /api/rooms/{room}/events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n\
             Cookie: {cookie}\r\n{resume}\r\n",
            server.port
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0];
        while !head.ends_with(b"\r\n\r\n") {
            timeout(WAIT, tcp.read_exact(&mut byte)).await.expect("response headers in time").unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
        // Event streams leave hyper after the head (src/server/handoff.rs): a close-delimited
        // body, framed by HTTP/1.0 and ended by the connection's close.
        assert!(head.starts_with("http/1.0 200"), "{head}");
        assert!(head.contains("connection: close") && !head.contains("transfer-encoding"), "{head}");
        Self { tcp, tail: Vec::new(), parser: Parser::default(), seen: Vec::new() }
    }

    /// Reads from the socket once; false at end of file.
    async fn read_some(&mut self) -> bool {
        let mut buf = vec![0; 64 * 1024];
        let n = timeout(WAIT, self.tcp.read(&mut buf)).await.expect("data in time").expect("the read works");
        self.tail.extend_from_slice(&buf[..n]);
        self.tail.drain(..self.tail.len().saturating_sub(512));
        self.parser.feed(&buf[..n]);
        while let Some(block) = self.parser.next_block() {
            if block.is_message() {
                self.seen.push(block.json());
            }
        }
        n > 0
    }

    async fn read_chats(&mut self, count: usize) {
        while self.seen.iter().filter(|m| m["kind"] == "chat").count() < count {
            assert!(self.read_some().await, "the stream ended early");
        }
    }

    async fn read_through(&mut self, id: i64) {
        while self.seen.last().is_none_or(|m| m["id"].as_i64().unwrap() < id) {
            assert!(self.read_some().await, "the stream ended early");
        }
    }

    /// Reads until the server closes; true if the server ended the stream on purpose (a
    /// deliberate end, at shutdown, says when to come back before closing).
    async fn read_to_eof(&mut self) -> bool {
        while self.read_some().await {}
        String::from_utf8_lossy(&self.tail).contains(": server shutting down")
    }
}
