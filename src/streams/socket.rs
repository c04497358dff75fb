//! The WebSocket transport's two sockets: the same events as SSE (same name, id and JSON, as
//! `{"event", "id", "data"}` text frames), plus what only a two-way channel can do: clients
//! send chats over it and get an acknowledgement or an error frame with REST's error codes.
//! The server pings idle connections and drops ones that stop answering. The plumbing (frames,
//! pings, closing) is `realtime::ws`'s.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use serde_json::json;
use tokio::time::{interval_at, Instant};

use crate::{
    chat::{post::post_text, typing::announce_typing},
    domain::{ClientAddress, RoomId},
    error::ApiError,
    identity::Identity,
    metrics::Transport,
    realtime::{
        ws::{close, error_reply, finish_close, ping_or_close, reply, ClientFrame, Liveness, MAX_CLIENT_TEXT},
        FeedItem, Frame, LobbyFeed, RoomFeed,
    },
    state::AppState,
};

/// Sends the `resync` frame that says the room is gone, and closes (code 1000).
pub async fn send_room_gone(mut socket: WebSocket, frame: Frame, state: AppState) {
    let text = frame.ws();
    state.metrics.delivered(Transport::WebSocket, text.len());
    if socket.send(Message::Text(text)).await.is_ok() {
        close(&mut socket, 1000, "the room is gone").await;
    }
}

/// Serves one room socket until either side ends it. `poster` is the member who may chat over
/// it (`None` for a viewer without a session); `_hold` (the presence guard and the address's
/// stream slot) lives as long as the socket.
pub async fn serve_room(
    mut socket: WebSocket,
    state: AppState,
    poster: Option<Identity>,
    address: ClientAddress,
    room: RoomId,
    mut feed: RoomFeed,
    _hold: impl Send,
) {
    let period = state.config.keep_alive;
    let mut pings = interval_at(Instant::now() + period, period);
    let mut liveness = Liveness::new(period);
    let _open = state.metrics.stream_opened(Transport::WebSocket);
    // The rare awaits below (closing, pinging, posting) are boxed: inline, each would add its
    // state to this future, which every open socket's task holds for its whole life.
    // Registered once, and on a token of its own (see `Pump` in sse.rs).
    let mut shutdown = std::pin::pin!(state.shutdown.child_token().cancelled_owned());
    loop {
        tokio::select! {
            _ = &mut shutdown => return Box::pin(close(&mut socket, 1001, "server shutting down")).await,
            item = feed.next() => {
                let (frame, is_last) = match item {
                    Ok(Some(FeedItem::Message(f) | FeedItem::Members(f) | FeedItem::Resync(f) | FeedItem::Typing(f))) => (f, false),
                    Ok(Some(FeedItem::Deleted(f) | FeedItem::Kicked(f))) => (f, true),
                    Ok(None) => return,
                    Err(err) => {
                        tracing::warn!(error = %err, last_id = feed.last_id(), "room socket ended by a storage error");
                        return Box::pin(close(&mut socket, 1011, "storage unavailable; reconnect with after=<last id>")).await;
                    }
                };
                let text = frame.ws();
                state.metrics.delivered(Transport::WebSocket, text.len());
                if socket.send(Message::Text(text)).await.is_err() {
                    return;
                }
                if is_last {
                    return Box::pin(close(&mut socket, 1000, "")).await;
                }
            }
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { return };
                liveness.heard();
                let answer = match message {
                    Message::Text(text) => Box::pin(handle_client_text(&state, poster.as_ref(), address, room, &text)).await,
                    Message::Binary(_) => Some(error_reply("unsupported_frame", "send JSON text frames, not binary", None)),
                    Message::Close(_) => return Box::pin(finish_close(&mut socket)).await,
                    Message::Ping(_) | Message::Pong(_) => None,
                };
                if let Some(answer) = answer {
                    if socket.send(answer).await.is_err() {
                        return;
                    }
                }
            }
            _ = pings.tick() => {
                if !Box::pin(ping_or_close(&mut socket, &liveness)).await {
                    return;
                }
            }
        }
    }
}

/// The answer to one client frame: an `ack` or `error` frame, or nothing (a `typing` that
/// went through).
async fn handle_client_text(
    state: &AppState,
    poster: Option<&Identity>,
    address: ClientAddress,
    room: RoomId,
    text: &str,
) -> Option<Message> {
    if text.len() > MAX_CLIENT_TEXT {
        return Some(error_reply("payload_too_large", &format!("frames are limited to {MAX_CLIENT_TEXT} bytes"), None));
    }
    let frame: ClientFrame = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(err) => {
            return Some(error_reply("invalid_json", &format!("the frame is not the JSON expected: {err}"), None))
        }
    };
    let kind = frame.kind.as_str();
    if !matches!(kind, "chat" | "typing") {
        let message = format!("unknown frame type `{kind}`; expected `chat` or `typing`");
        return Some(error_reply("unknown_type", &message, frame.reference));
    }
    let Some(identity) = poster else { return Some(api_error_reply(ApiError::NoSession, frame.reference)) };
    // The handshake was a GET, which the HTTP write limit lets through: frames that write take
    // from the same buckets as REST's POSTs.
    if let Err(refused) = state.limits.write(identity.id, address) {
        state.metrics.rejected(refused.code());
        return Some(api_error_reply(refused, frame.reference));
    }
    if kind == "typing" {
        // Nothing to acknowledge: the others hear of it, or the last one still holds.
        return announce_typing(state, identity, room, frame.to.as_deref())
            .await
            .err()
            .map(|err| api_error_reply(err, frame.reference));
    }
    Some(match post_text(state, identity, room, &frame.text, frame.to.as_deref()).await {
        Ok(message) => reply("ack", json!({ "ref": frame.reference, "id": message.id, "message": message })),
        Err(err) => api_error_reply(err, frame.reference),
    })
}

/// REST's error code and sentence; internal causes are logged, never sent.
fn api_error_reply(err: ApiError, reference: Option<serde_json::Value>) -> Message {
    let code = err.code();
    if let ApiError::Internal(cause) = &err {
        tracing::error!(error = ?cause, "websocket chat failed");
    }
    error_reply(code, &err.to_string(), reference)
}

/// Serves one lobby socket: the room list, then changes. `_hold` (the address's stream slot)
/// lives as long as the socket.
pub async fn serve_lobby(mut socket: WebSocket, state: AppState, mut feed: LobbyFeed, _hold: impl Send) {
    let keep_alive = state.config.keep_alive;
    let mut shutdown = std::pin::pin!(state.shutdown.child_token().cancelled_owned());
    let _open = state.metrics.stream_opened(Transport::WebSocket);
    let mut pings = interval_at(Instant::now() + keep_alive, keep_alive);
    let mut liveness = Liveness::new(keep_alive);
    loop {
        tokio::select! {
            _ = &mut shutdown => return close(&mut socket, 1001, "server shutting down").await,
            frame = feed.next() => {
                let frame: Arc<Frame> = match frame {
                    Ok(Some(frame)) => frame,
                    Ok(None) => return,
                    Err(err) => {
                        tracing::warn!(error = %err, "lobby socket ended by a storage error");
                        return close(&mut socket, 1011, "storage unavailable").await;
                    }
                };
                let text = frame.ws();
                state.metrics.delivered(Transport::WebSocket, text.len());
                if socket.send(Message::Text(text)).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { return };
                liveness.heard();
                if matches!(message, Message::Close(_)) {
                    return finish_close(&mut socket).await;
                }
                if matches!(message, Message::Text(_) | Message::Binary(_)) {
                    let answer = error_reply("unknown_type", "the lobby socket only sends; create rooms with POST /api/rooms", None);
                    if socket.send(answer).await.is_err() {
                        return;
                    }
                }
            }
            _ = pings.tick() => {
                if !ping_or_close(&mut socket, &liveness).await {
                    return;
                }
            }
        }
    }
}
