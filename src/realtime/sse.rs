//! The Server-Sent Events transport: formats what the feeds yield, adds the `retry:` hint and
//! keep-alive comments, and ends the stream at shutdown with a last `retry:` hint. The SSE
//! bytes of each event were built once at publish time (`Frame::sse`), so this layer only
//! copies references.

use std::{convert::Infallible, pin::Pin, time::Duration};

use axum::{
    body::Body,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use rand::Rng;
use tokio::time::{interval_at, Instant, Interval};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::{direct, FeedItem, Frame, LobbyFeed, RoomFeed};
use crate::{
    metrics::{Metrics, Transport},
    server::handoff::Handoff,
};

pub(super) const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

type ByteStream = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// A room's event stream. On plain HTTP/1 (`handoff`) the socket leaves hyper and is written
/// by the room's publisher while it keeps up (`direct.rs`), or, in a big room, by a task of its
/// own (`server::handoff::pump`); otherwise (HTTP/2, TLS) the events are the response body. `hold` (the presence guard, the address's stream slot) lives as long
/// as the stream, so the user counts as present exactly while it is open.
pub fn room_response(
    feed: RoomFeed,
    hold: impl Send + 'static,
    keep_alive: Duration,
    shutdown: CancellationToken,
    metrics: &Metrics,
    handoff: Option<Handoff>,
) -> Response {
    // A big room's publisher already writes as many sockets as it should (`hub.rs`,
    // `DIRECT_SOCKETS`): later ones get a task of their own, as over HTTP/2.
    let handoff = match handoff {
        Some(handoff) if !feed.channel().is_direct_full() => handoff,
        other => return response(room_events(feed, hold), keep_alive, shutdown, metrics, other),
    };
    let metrics = metrics.clone();
    event_stream(handoff.take_over(Box::new(move |socket| {
        let (socket, write_stall) = socket.into_parts();
        let settings = direct::Settings { keep_alive, shutdown, metrics, write_stall };
        Box::pin(direct::serve(socket, feed, hold, settings))
    })))
}

/// The room's events as SSE blocks, for a response body.
fn room_events(feed: RoomFeed, hold: impl Send + 'static) -> ByteStream {
    Box::pin(stream::unfold(Some((feed, hold)), |state| async move {
        let (mut feed, hold) = state?;
        match feed.next().await {
            Ok(Some(
                FeedItem::Message(frame) | FeedItem::Members(frame) | FeedItem::Resync(frame) | FeedItem::Typing(frame),
            )) => Some((frame.sse.clone(), Some((feed, hold)))),
            Ok(Some(FeedItem::Deleted(frame) | FeedItem::Kicked(frame))) => Some((frame.sse.clone(), None)),
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(error = %err, last_id = feed.last_id(), "room stream ended by a storage error");
                None
            }
        }
    }))
}

/// The lobby's events; `hold` (the address's stream slot) lives as long as the stream.
pub fn lobby_events(feed: LobbyFeed, hold: impl Send + 'static) -> ByteStream {
    Box::pin(stream::unfold((feed, hold), |(mut feed, hold)| async move {
        match feed.next().await {
            Ok(Some(frame)) => Some((frame.sse.clone(), (feed, hold))),
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(error = %err, "lobby stream ended by a storage error");
                None
            }
        }
    }))
}

struct Pump {
    events: ByteStream,
    keep_alive: Interval,
    /// Created once: a fresh `cancelled()` per event would register with (and leave) the
    /// token's waiter list twice per delivery. And on a child token of the server's: polling
    /// it (once per delivery) takes the token's locks, which would otherwise be the same two
    /// locks for every stream, bounced between cores (perf, 2,000 subscribers: 2.3 % of the
    /// server's CPU in `is_cancelled` alone).
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    /// Set once the shutdown hint is out: the next poll ends the body.
    is_done: bool,
}

/// A reconnect delay, randomised per connection so that a crowd of clients (all of a
/// server's, after a restart) spreads over a few seconds instead of reconnecting at once.
pub(super) fn retry_hint(why: &str) -> Bytes {
    let retry_ms: u32 = rand::thread_rng().gen_range(1500..4500);
    Bytes::from(format!("{why}retry: {retry_ms}\n\n"))
}

/// How long a client told that its room is gone should wait before trying again: an
/// `EventSource` that does not know `resync` reconnects by itself, and should not hammer.
const GONE_RETRY_MS: u32 = 3_600_000;

/// The answer to a resume in a room that no longer exists: a long `retry:` hint, the
/// `resync` frame that says so, and the end. A plain `EventSource` cannot see a 404 (it only
/// fails), but it sees this event.
pub fn room_gone(frame: &Frame, metrics: &Metrics) -> Response {
    metrics.delivered(Transport::Sse, frame.sse.len());
    let head = Bytes::from(format!("retry: {GONE_RETRY_MS}\n\n"));
    let body = stream::iter([head, frame.sse.clone()]).map(Ok::<_, Infallible>);
    event_stream(Body::from_stream(body))
}

/// Wraps an event stream into a `text/event-stream` response. With a `handoff` (plain HTTP/1)
/// the bytes are written outside hyper once the head is out (`server::handoff`).
pub fn response(
    events: ByteStream,
    keep_alive: Duration,
    shutdown: CancellationToken,
    metrics: &Metrics,
    handoff: Option<Handoff>,
) -> Response {
    let gauge = metrics.stream_opened(Transport::Sse);
    let metrics = metrics.clone();
    let events = Box::pin(events.inspect(move |bytes| {
        let _open = &gauge; // lives as long as the stream
        metrics.delivered(Transport::Sse, bytes.len());
    }));
    let head = retry_hint("");
    let keep_alive = interval_at(Instant::now() + keep_alive, keep_alive);
    let pump =
        Pump { events, keep_alive, shutdown: Box::pin(shutdown.child_token().cancelled_owned()), is_done: false };
    let body = stream::once(async move { head }).chain(stream::unfold(pump, |mut pump| async move {
        if pump.is_done {
            return None;
        }
        tokio::select! {
            biased;
            // Said again at the end so the client knows the close is deliberate and when to
            // come back; events still queued are not sent: it resumes from its last id.
            _ = pump.shutdown.as_mut() => {
                pump.is_done = true;
                Some((retry_hint(": server shutting down; reconnect with Last-Event-ID\n"), pump))
            }
            item = pump.events.next() => item.map(|bytes| (bytes, pump)),
            _ = pump.keep_alive.tick() => Some((Bytes::from_static(KEEP_ALIVE), pump)),
        }
    }));
    match handoff {
        Some(handoff) => event_stream(handoff.hand_over(Box::pin(body))),
        None => event_stream(Body::from_stream(body.map(Ok::<_, Infallible>))),
    }
}

const EVENT_STREAM_HEADERS: [(header::HeaderName, HeaderValue); 3] = [
    (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
    (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    // nginx and similar proxies buffer responses unless told not to.
    (header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
];

/// The event-stream headers on a body, or on a handed-off response's head.
fn event_stream(body: impl IntoResponse) -> Response {
    (EVENT_STREAM_HEADERS, body).into_response()
}
