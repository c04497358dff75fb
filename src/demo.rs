//! The original's demos, re-done: `/demo/ws` (the server pushes a line every 3 s and logs the
//! page's replies with the client's address) and `/demo/sse` (the server clock every second,
//! from one shared ticker rather than a timer per connection, which the original leaked).

use std::{convert::Infallible, time::Duration};

use axum::{
    body::Body,
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        State,
    },
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use tokio::sync::watch;

use crate::{domain::ClientAddress, error::ApiError, limits::StreamSlot, state::AppState};

/// The demo logs a page's replies; one a second per socket is plenty for a demo, and keeps a
/// script from filling the log.
const REPLY_LOG_INTERVAL: Duration = Duration::from_secs(1);

pub fn router() -> Router<AppState> {
    Router::new().route("/demo/ws/socket", get(ws_demo)).route("/demo/sse/clock", get(sse_clock))
}

async fn ws_demo(
    State(state): State<AppState>,
    address: ClientAddress,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let slot = state.limits.stream(address)?;
    let period = state.config.demo_ws_interval;
    Ok(upgrade.on_upgrade(move |socket| ws_demo_session(socket, address, period, state, slot)))
}

async fn ws_demo_session(
    mut socket: WebSocket,
    address: ClientAddress,
    period: Duration,
    state: AppState,
    _slot: StreamSlot,
) {
    tracing::info!(client = %address, "demo socket connected");
    let mut ticks = tokio::time::interval(period);
    let mut last_logged: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            _ = ticks.tick() => {
                if socket.send(Message::Text("Hello from the server. Reply, and I will log it.".into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if last_logged.is_some_and(|at| at.elapsed() < REPLY_LOG_INTERVAL) {
                        continue;
                    }
                    last_logged = Some(tokio::time::Instant::now());
                    // Debug-formatted: quoted, with newlines and control bytes escaped, so a
                    // reply cannot forge a log line or send escape sequences to a terminal.
                    let reply: String = text.chars().take(200).collect();
                    tracing::info!(client = %address, ?reply, "demo socket reply");
                }
                Some(Ok(Message::Close(_))) => {
                    crate::realtime::ws::finish_close(&mut socket).await;
                    break;
                }
                None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    tracing::info!(client = %address, "demo socket closed");
}

/// One clock for every `/demo/sse` page: a watch channel updated by one task.
pub fn spawn_clock(shutdown: tokio_util::sync::CancellationToken) -> watch::Receiver<i64> {
    let (tx, rx) = watch::channel(chrono::Utc::now().timestamp_millis());
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {
                    if tx.send(chrono::Utc::now().timestamp_millis()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Unnamed events with the server's epoch milliseconds, as the original's auction clock.
async fn sse_clock(State(state): State<AppState>, address: ClientAddress) -> Result<Response, ApiError> {
    let slot = state.limits.stream(address)?;
    let mut clock = state.clock.clone();
    // Start from the next tick, not the (up to a second old) one the shared receiver holds.
    clock.borrow_and_update();
    let shutdown = state.shutdown.clone();
    let ticks = stream::unfold((clock, slot), |(mut clock, slot)| async move {
        clock.changed().await.ok()?;
        let now = *clock.borrow_and_update();
        Some((Ok::<_, Infallible>(Bytes::from(format!("data: {now}\n\n"))), (clock, slot)))
    })
    .take_until(shutdown.cancelled_owned());
    let head = stream::once(async { Ok(Bytes::from_static(b"retry: 3000\n\n")) });
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(head.chain(ticks)),
    )
        .into_response())
}
