//! The original's demos, re-done: `/demo/ws` (the server pushes a line every 3 s and logs the
//! page's replies with the client's address) and `/demo/sse` (the server clock every second,
//! from one shared ticker rather than a timer per connection, which the original leaked).

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use axum::{
    body::Body,
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        ConnectInfo, State,
    },
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use tokio::sync::watch;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/demo/ws/socket", get(ws_demo)).route("/demo/sse/clock", get(sse_clock))
}

/// The page's address as logged: the proxy's `X-Forwarded-For` only when configured to trust
/// one (the rightmost entry is what that proxy saw), otherwise the TCP peer. Trusting the
/// header without a proxy would let any client write any address into our logs.
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, trust_proxy: bool) -> String {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match forwarded {
        Some(address) if trust_proxy => address.to_owned(),
        _ => peer.ip().to_string(),
    }
}

async fn ws_demo(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let address = client_address(peer, &headers, state.config.trust_proxy);
    let period = state.config.demo_ws_interval;
    upgrade.on_upgrade(move |socket| ws_demo_session(socket, address, period, state))
}

async fn ws_demo_session(mut socket: WebSocket, address: String, period: Duration, state: AppState) {
    tracing::info!(client = %address, "demo socket connected");
    let mut ticks = tokio::time::interval(period);
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
                    let reply: String = text.chars().take(200).collect();
                    tracing::info!(client = %address, %reply, "demo socket reply");
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
async fn sse_clock(State(state): State<AppState>) -> Response {
    let mut clock = state.clock.clone();
    // Start from the next tick, not the (up to a second old) one the shared receiver holds.
    clock.borrow_and_update();
    let shutdown = state.shutdown.clone();
    let ticks = stream::unfold(clock, |mut clock| async move {
        clock.changed().await.ok()?;
        let now = *clock.borrow_and_update();
        Some((Ok::<_, Infallible>(Bytes::from(format!("data: {now}\n\n"))), clock))
    })
    .take_until(shutdown.cancelled_owned());
    let head = stream::once(async { Ok(Bytes::from_static(b"retry: 3000\n\n")) });
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(head.chain(ticks)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.9".parse().unwrap());
        assert_eq!(client_address(peer, &headers, false), "10.0.0.2");
        assert_eq!(client_address(peer, &headers, true), "203.0.113.9");
        assert_eq!(client_address(peer, &HeaderMap::new(), true), "10.0.0.2");
    }
}
