//! One subscriber: its own session and connection, a join, then a stream (SSE, WebSocket or
//! long-polling) whose events it checks — which of its room's messages arrived, twice, or out
//! of order — and times. Per event it only scans for the few fields it needs.

use std::{
    net::IpAddr,
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, header, Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::{
    sync::mpsc,
    time::{timeout, timeout_at, Instant},
};
use tokio_tungstenite::{
    tungstenite::{handshake::client::generate_key, protocol::Role, protocol::WebSocketConfig, Message},
    WebSocketStream,
};

mod frames;

use frames::{each_polled, parse_text, parse_ws, SseParser};

use crate::{
    http::{Conn, Target},
    stats::Bits,
    Shared, Transport,
};

/// What every subscriber shares.
pub struct Ctx {
    pub target: Target,
    pub transport: Transport,
    pub shared: Arc<Shared>,
    pub limiter: Arc<tokio::sync::Semaphore>,
    pub outcomes: mpsc::UnboundedSender<Outcome>,
    pub poll_wait: u64,
    pub deadline: Instant,
}

pub enum Outcome {
    /// Subscribed; `client` is who, for the soak, which has every subscriber post too.
    Connected {
        room: usize,
        connect_ns: u64,
        client: crate::poster::Client,
    },
    Failed {
        error: String,
    },
}

pub struct Spec {
    pub room: usize,
    /// This subscriber's place in `Shared::reached`.
    pub index: usize,
    pub room_id: Arc<str>,
    pub source: Option<IpAddr>,
}

/// What one subscriber saw, handed back when it is stopped.
pub struct SubResult {
    pub room: usize,
    pub connected: bool,
    pub tracker: Tracker,
    /// Why the stream ended before it was told to stop, if it did.
    pub ended_early: Option<String>,
}

/// Per-subscriber delivery bookkeeping.
pub struct Tracker {
    room: u64,
    rooms: u64,
    index: usize,
    last_id: i64,
    /// Bit i: this room's i-th message (global sequence number i × rooms + room) arrived.
    pub seen: Bits,
    pub delivered: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// Load-test chats that belong to another room.
    pub misrouted: u64,
    /// Chats not sent by this run.
    pub foreign: u64,
}

impl Tracker {
    pub fn new(room: usize, rooms: usize, per_room: usize, index: usize) -> Self {
        Self {
            room: room as u64,
            rooms: rooms as u64,
            index,
            last_id: i64::MIN,
            seen: Bits::new(per_room),
            delivered: 0,
            duplicated: 0,
            out_of_order: 0,
            misrouted: 0,
            foreign: 0,
        }
    }

    /// One event: `id` is its room sequence number (None for events outside the sequence),
    /// `chat` whether it is a chat message, `data` its JSON.
    pub fn event(&mut self, shared: &Shared, id: Option<i64>, chat: bool, data: &[u8]) {
        // Some(true): a chat of ours already seen; Some(false): one seen for the first time.
        let mut repeat = None;
        if chat {
            match parse_text(data) {
                Some((sent, seq))
                    if seq % self.rooms == self.room && ((seq / self.rooms) as usize) < self.seen.capacity() =>
                {
                    let fresh = self.seen.insert((seq / self.rooms) as usize);
                    if fresh {
                        self.delivered += 1;
                        shared.delivered.fetch_add(1, Relaxed);
                        shared.latency_us.record(shared.now_ns().saturating_sub(sent) / 1000);
                    } else {
                        self.duplicated += 1;
                    }
                    repeat = Some(!fresh);
                }
                Some(_) => self.misrouted += 1,
                None => self.foreign += 1,
            }
        }
        // The member list says where the stream starts (`as_of`): joins up to there are in it.
        if id.is_none() {
            if let Some(as_of) = frames::as_of(data) {
                shared.reached[self.index].fetch_max(as_of, Relaxed);
            }
        }
        if let Some(id) = id {
            if id > self.last_id {
                self.last_id = id;
                shared.reached[self.index].fetch_max(id, Relaxed);
            } else {
                match repeat {
                    Some(true) => {} // counted as a duplicate above
                    Some(false) => self.out_of_order += 1,
                    None if id == self.last_id => self.duplicated += 1,
                    None => self.out_of_order += 1,
                }
            }
        }
    }
}

type WsStream = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

enum Stream {
    Sse(Incoming),
    Ws(Box<WsStream>),
    Poll { conn: Conn, cookie: String, path: String },
}

/// Session, join, and the stream open (for polling: the first answer received); returns the
/// stream and the session cookie.
async fn open(spec: &Spec, ctx: &Ctx, tracker: &mut Tracker) -> anyhow::Result<(Stream, String)> {
    let mut conn = Conn::open(&ctx.target, spec.source).await?;
    let cookie = conn.new_session().await?;
    conn.join(&spec.room_id, &cookie).await?;
    let room = &spec.room_id;
    let stream = match ctx.transport {
        Transport::Sse => {
            let request = conn
                .request(Method::GET, &format!("/api/rooms/{room}/events"), Some(&cookie))
                .header(header::ACCEPT, "text/event-stream")
                .body(Full::new(Bytes::new()))?;
            let response = conn.send(request).await?;
            if response.status() != StatusCode::OK {
                let status = response.status();
                let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                bail!("SSE open: {} {}", status.as_u16(), String::from_utf8_lossy(&body));
            }
            Stream::Sse(response.into_body())
        }
        Transport::Ws => {
            let request = conn
                .request(Method::GET, &format!("/api/rooms/{room}/ws"), Some(&cookie))
                .header(header::CONNECTION, "Upgrade")
                .header(header::UPGRADE, "websocket")
                .header(header::SEC_WEBSOCKET_VERSION, "13")
                .header(header::SEC_WEBSOCKET_KEY, generate_key())
                .body(Full::new(Bytes::new()))?;
            let response = conn.send(request).await?;
            if response.status() != StatusCode::SWITCHING_PROTOCOLS {
                let status = response.status();
                let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                bail!("WebSocket open: {} {}", status.as_u16(), String::from_utf8_lossy(&body));
            }
            let upgraded = hyper::upgrade::on(response).await.context("WebSocket upgrade")?;
            // Chat frames are small: tungstenite's default 128 KiB read buffer per socket is not needed.
            let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
            let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, Some(config)).await;
            Stream::Ws(Box::new(ws))
        }
        Transport::Poll => {
            // after=0: the history so far (joins), then everything new; nothing can fall between.
            let path = format!("/api/rooms/{room}/messages?after=0&wait={}", ctx.poll_wait);
            let reply = conn.call(Method::GET, &path, Some(&cookie), None).await?;
            if reply.status != StatusCode::OK {
                bail!("poll: {}", reply.describe());
            }
            each_polled(&reply.body, |id, chat, data| tracker.event(&ctx.shared, Some(id), chat, data));
            let path = format!("/api/rooms/{room}/messages?wait={}&after=", ctx.poll_wait);
            Stream::Poll { conn, cookie: cookie.clone(), path }
        }
    };
    Ok((stream, cookie))
}

/// Reads events until `cancel` fires (Ok) or the stream ends or fails (Err: why).
async fn read(stream: Stream, ctx: &Ctx, tracker: &mut Tracker) -> Result<(), String> {
    let cancel = &ctx.shared.cancel;
    let shared = &*ctx.shared;
    match stream {
        Stream::Sse(mut body) => {
            let mut parser = SseParser::default();
            loop {
                let frame = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Ok(()),
                    frame = body.frame() => frame,
                };
                match frame {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            parser.feed(&data, |id, chat, data| tracker.event(shared, id, chat, data));
                        }
                    }
                    Some(Err(err)) => return Err(format!("SSE stream failed: {err}")),
                    None => return Err("SSE stream ended by the server".into()),
                }
            }
        }
        Stream::Ws(mut ws) => loop {
            let message = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    let _ = timeout(Duration::from_secs(1), (*ws).close(None)).await;
                    return Ok(());
                }
                message = ws.next() => message,
            };
            match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some((id, chat, data)) = parse_ws(text.as_bytes()) {
                        tracker.event(shared, id, chat, data);
                    }
                }
                Some(Ok(Message::Close(frame))) => return Err(format!("WebSocket closed by the server: {frame:?}")),
                Some(Ok(_)) => {} // pings are answered by tungstenite
                Some(Err(err)) => return Err(format!("WebSocket failed: {err}")),
                None => return Err("WebSocket ended".into()),
            }
        },
        Stream::Poll { mut conn, cookie, path } => loop {
            let url = format!("{path}{}", tracker.last_id.max(0));
            let reply = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                reply = conn.call(Method::GET, &url, Some(&cookie), None) => reply,
            };
            match reply {
                Ok(reply) if reply.status == StatusCode::OK => {
                    each_polled(&reply.body, |id, chat, data| tracker.event(shared, Some(id), chat, data));
                }
                Ok(reply) => return Err(format!("poll: {}", reply.describe())),
                Err(err) => return Err(format!("poll failed: {err:#}")),
            }
        },
    }
}

pub async fn run(spec: Spec, ctx: Arc<Ctx>) -> SubResult {
    let mut tracker = Tracker::new(spec.room, ctx.shared.rooms, ctx.shared.per_room, spec.index);
    let result = |connected, ended_early, tracker| SubResult { room: spec.room, connected, tracker, ended_early };
    let permit = tokio::select! {
        _ = ctx.shared.cancel.cancelled() => None,
        permit = ctx.limiter.acquire() => permit.ok(),
    };
    let Some(permit) = permit else {
        let _ = ctx.outcomes.send(Outcome::Failed { error: "stopped before connecting".into() });
        return result(false, None, tracker);
    };
    let started = Instant::now();
    let opened = match timeout_at(ctx.deadline, open(&spec, &ctx, &mut tracker)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(err)) => Err(format!("{err:#}")),
        Err(_) => Err("timed out connecting".to_string()),
    };
    drop(permit);
    let (stream, cookie) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            let _ = ctx.outcomes.send(Outcome::Failed { error });
            return result(false, None, tracker);
        }
    };
    let connect_ns = started.elapsed().as_nanos() as u64;
    let client = crate::poster::Client { room: spec.room, cookie, source: spec.source };
    let _ = ctx.outcomes.send(Outcome::Connected { room: spec.room, connect_ns, client });
    let ended = read(stream, &ctx, &mut tracker).await.err();
    result(true, ended, tracker)
}
