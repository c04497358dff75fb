//! The event endpoints: who may open a room stream and where it starts, for every transport
//! (SSE, WebSocket, long-polling). What flows through them is the realtime layer's business;
//! the rules here are the same whatever carries the events.

use std::time::Duration;

use axum::{
    body::Body,
    extract::{ws::WebSocketUpgrade, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
    routing::get,
    Extension, Router,
};
use serde::Deserialize;

mod socket;

use crate::{
    domain::{ClientAddress, RoomId},
    error::{ApiError, ApiQuery},
    identity::{Identity, Session},
    limits::StreamSlot,
    metrics::Transport,
    realtime::{poll, sse, Frame, LobbyFeed, PresenceGuard, RoomFeed},
    rooms::{access, RoomPath},
    server::handoff::Handoff,
    state::AppState,
};

/// Longest long-poll wait a client may ask for.
pub const MAX_POLL_WAIT: u64 = 60;
/// Hard cap on a WebSocket message; frames over `ws::MAX_CLIENT_TEXT` get an error frame.
const WS_MAX_MESSAGE: usize = 1024 * 1024;
/// tungstenite's default read buffer is 128 KiB per socket, allocated at the upgrade and kept.
/// Clients send little (a chat is under 2 KB) and rarely; a longer frame grows the buffer to
/// its length, so this only sets what an idle socket holds.
const WS_READ_BUFFER: usize = 512;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/lobby/events", get(lobby_events))
        .route("/api/lobby/ws", get(lobby_socket))
        .route("/api/rooms/{id}/events", get(room_events))
        .route("/api/rooms/{id}/ws", get(room_socket))
}

#[derive(Deserialize)]
struct ResumeQuery {
    after: Option<i64>,
}

/// `Last-Event-ID` (what `EventSource` sends on reconnect) wins over `?after=`.
fn resume_point(headers: &HeaderMap, query: ResumeQuery) -> Result<Option<i64>, ApiError> {
    let invalid = || ApiError::BadRequest {
        code: "invalid_last_event_id",
        message: "Last-Event-ID and after must be whole numbers, 0 or more".into(),
    };
    let from_header = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).ok_or_else(invalid)?),
    };
    let resume = from_header.or(query.after);
    if resume.is_some_and(|n| n < 0) {
        return Err(invalid());
    }
    Ok(resume)
}

/// A client resuming in a room that no longer exists (it was deleted while the client was
/// away) gets a `resync` event saying so instead of a 404, which a plain `EventSource` only
/// sees as a failure to reconnect, over and over. A client with no resume point never saw the
/// room, and gets the 404.
fn is_room_gone(err: &ApiError) -> bool {
    err.is_room_not_found()
}

/// Who is opening a room stream.
struct Opener<'a> {
    /// Present for a member, who takes (or keeps) a seat and counts as present. Without it
    /// (no session, or a request from another site) the stream is a viewer's: it shows what
    /// the room shows anyone who may read it, and nobody sees the viewer.
    session: Option<&'a Session>,
    address: ClientAddress,
}

/// What an open stream holds until it ends: its address's stream slot, and a member's presence.
pub struct StreamHold {
    _slot: StreamSlot,
    _presence: Option<PresenceGuard>,
}

/// Checks access, takes (or keeps) the seat, marks the user present and opens the feed: the
/// same steps for every transport, so presence and capacity cannot differ between them.
async fn open_room(
    state: &AppState,
    opener: Opener<'_>,
    room: RoomId,
    resume: Option<i64>,
    hold: Duration,
    with_members: bool,
) -> Result<(RoomFeed, StreamHold), ApiError> {
    // First, as it costs nothing: an address holding its share of streams is refused before
    // any database work.
    let slot = state.limits.stream(opener.address)?;
    let Some(Session(member)) = opener.session else {
        // Nobody, as far as the room is concerned: no grant, no whispers. (A cookie that came
        // from another site's page must not let that page read its visitor's whispers.)
        let reader = crate::domain::UserId::random();
        access::ensure_can_read(state, room, reader, opener.address).await?;
        access::ensure_not_barred(state, room, reader, opener.address).await?;
        let live = state.hub.subscribe_room(room);
        let feed =
            RoomFeed::open(&state.hub, live, state.store.clone(), room, reader, resume, with_members, None).await?;
        return Ok((feed, StreamHold { _slot: slot, _presence: None }));
    };
    // Subscribed before anything is read: a kick that commits after the seat check is then
    // published to this feed (which ends the stream), and the head read below misses nothing.
    let live = state.hub.subscribe_room(room);
    let view = match state.store.stream_view(room, member.id).await {
        Ok(view) => view,
        Err(err) => {
            drop(live);
            state.hub.forget_if_idle(room);
            return Err(err.into());
        }
    };
    access::ensure_can_stream(state, &view, room, member.id, opener.address).await?;
    // Counted before the seat, so a refused stream never announces a join.
    let limit = state.config.max_streams_per_session;
    let presence = state.presence.hold(room, member.id, limit).ok_or_else(|| ApiError::TooManyRequests {
        code: "too_many_streams",
        message: format!("this session already has {limit} open streams; close some first"),
    })?;
    let joined = access::seat_for_stream(state, &view, room, &member.user(), opener.address, hold).await?;
    state.presence.leased(&[(room, member.id)], chrono::Utc::now() + hold);
    // A new seat's join came after `view.head`; the feed starts after it, as it always has.
    let head = (!joined).then_some(view.head);
    let store = state.store.clone();
    let feed = RoomFeed::open(&state.hub, live, store, room, member.id, resume, with_members, head).await?;
    Ok((feed, StreamHold { _slot: slot, _presence: Some(presence) }))
}

/// `handoff` is there on plain HTTP/1 connections: the stream is then written outside hyper.
async fn lobby_events(
    State(state): State<AppState>,
    address: ClientAddress,
    handoff: Option<Extension<Handoff>>,
) -> Result<Response, ApiError> {
    let slot = state.limits.stream(address)?;
    let feed = LobbyFeed::open(&state.hub, state.store.clone()).await?;
    let events = sse::lobby_events(feed, slot);
    let handoff = handoff.map(|Extension(handoff)| handoff);
    Ok(sse::response(events, state.config.keep_alive, state.shutdown.clone(), &state.metrics, handoff))
}

// One extractor per piece of the request, as axum handlers go.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip_all, fields(room.id = %room, user.id = %identity.id))]
async fn room_events(
    State(state): State<AppState>,
    identity: Identity,
    session: Option<Session>,
    address: ClientAddress,
    RoomPath(room): RoomPath,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ResumeQuery>,
    handoff: Option<Extension<Handoff>>,
) -> Result<Response, ApiError> {
    let resume = resume_point(&headers, query)?;
    let opener = Opener { session: session.as_ref(), address };
    let (feed, hold) = match open_room(&state, opener, room, resume, state.config.presence_lease, true).await {
        Err(err) if resume.is_some() && is_room_gone(&err) => {
            return Ok(sse::room_gone(&Frame::resync_room_gone(room), &state.metrics))
        }
        opened => opened?,
    };
    tracing::debug!(resume, start = feed.last_id(), "room stream opened");
    let handoff = handoff.map(|Extension(handoff)| handoff);
    Ok(sse::room_response(feed, hold, state.config.keep_alive, state.shutdown.clone(), &state.metrics, handoff))
}

/// Same checks as the SSE stream, answered with a plain HTTP error before any upgrade.
#[tracing::instrument(skip_all, fields(room.id = %room, user.id = %identity.id))]
async fn room_socket(
    State(state): State<AppState>,
    identity: Identity,
    session: Option<Session>,
    address: ClientAddress,
    RoomPath(room): RoomPath,
    ApiQuery(query): ApiQuery<ResumeQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let resume = resume_point(&HeaderMap::new(), query)?;
    let opener = Opener { session: session.as_ref(), address };
    let (feed, hold) = match open_room(&state, opener, room, resume, state.config.presence_lease, true).await {
        Err(err) if resume.is_some() && is_room_gone(&err) => {
            let frame = Frame::resync_room_gone(room);
            return Ok(upgrade.on_upgrade(move |socket| socket::send_room_gone(socket, frame, state)));
        }
        opened => opened?,
    };
    Ok(upgrade.max_message_size(WS_MAX_MESSAGE).read_buffer_size(WS_READ_BUFFER).on_upgrade(move |socket| {
        let poster = session.map(|Session(member)| member);
        socket::serve_room(socket, state, poster, address, room, feed, hold)
    }))
}

async fn lobby_socket(
    State(state): State<AppState>,
    address: ClientAddress,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let slot = state.limits.stream(address)?;
    let feed = LobbyFeed::open(&state.hub, state.store.clone()).await?;
    Ok(upgrade
        .max_message_size(WS_MAX_MESSAGE)
        .read_buffer_size(WS_READ_BUFFER)
        .on_upgrade(move |socket| socket::serve_lobby(socket, state, feed, slot)))
}

/// `GET /api/rooms/{id}/messages?after=N&wait=S`: answers at once when there is something
/// after N, else waits up to S seconds. The poller counts as present while it waits, and its
/// seat outlives the request by the usual grace period, so a client polling in a loop stays a
/// member like a streaming one.
#[tracing::instrument(skip_all, fields(room.id = %room, user.id = %identity.id))]
pub async fn long_poll(
    state: &AppState,
    identity: &Identity,
    session: Option<&Session>,
    address: ClientAddress,
    room: RoomId,
    after: Option<i64>,
    wait: u64,
) -> Result<Response, ApiError> {
    let opener = Opener { session, address };
    let (mut feed, _hold) = open_room(state, opener, room, after, state.config.presence_grace, false).await?;
    let _open = state.metrics.stream_opened(Transport::Poll);
    let wait = Duration::from_secs(wait);
    let answer = tokio::select! {
        answer = poll::wait_for_messages(&mut feed, wait) => answer?,
        // At shutdown, answer now (empty) rather than hold the server up.
        _ = state.shutdown.cancelled() => poll::Answer::default(),
    };
    for frame in answer.messages.iter().chain(&answer.typing) {
        state.metrics.delivered(Transport::Poll, frame.data.len());
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], Body::from(poll::message_list(&answer))).into_response())
}
