//! WebSocket and long-polling carry the same events as SSE, with the same guarantees.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    id_of, next_frame, next_frame_named, next_socket_messages, spawn_app, spawn_app_with, texts, Backend,
};

crate::on_both_backends!(
    a_chat_reaches_sse_websocket_and_polling_alike,
    a_chat_sent_over_websocket_is_acknowledged_and_delivered_everywhere,
    a_websocket_resumes_after_a_disconnect_with_nothing_lost,
    a_websocket_resume_in_a_deleted_room_gets_a_resync_then_a_normal_close,
    long_polls_answer_at_once_wait_for_news_or_time_out,
    one_user_on_three_transports_is_one_member,
    bad_websocket_input_gets_error_frames_and_the_socket_stays_open,
    websocket_handshakes_apply_the_same_access_rules,
    the_lobby_socket_lists_rooms_then_changes,
    chats_over_a_websocket_share_the_write_limit,
    a_session_can_hold_only_so_many_streams,
);

async fn a_chat_reaches_sse_websocket_and_polling_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "transports" })).await;
    let room = id_of(&room);
    let (bob, carol) = (app.client(), app.client());
    let mut sse = alice.room_events(&room, None).await;
    let mut socket = bob.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    next_frame_named(&mut socket, "members").await;
    carol.join_ok(&room).await;
    let head = alice.messages(&room, "").await.last().unwrap()["id"].as_i64().unwrap();

    let poll_path = format!("/api/rooms/{room}/messages?after={head}&wait=10");
    let poll = carol.get(&poll_path);
    let sent = alice.say_ok(&room, "one event, three transports").await;

    let polled: Value = poll.await.json().await.unwrap();
    assert_eq!(polled["messages"], json!([sent.clone()]));
    let over_socket = next_socket_messages(&mut socket, 2).await; // carol joined, the chat
    assert_eq!(over_socket[1], sent);
    let over_sse = sse.next_messages(3).await; // bob joined, carol joined, the chat
    assert_eq!(over_sse[2], sent);
}

async fn a_chat_sent_over_websocket_is_acknowledged_and_delivered_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "ws chat" })).await;
    let room = id_of(&room);
    let bob = app.client();
    let mut socket = bob.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    next_frame_named(&mut socket, "members").await;
    let mut sse = alice.room_events(&room, None).await;
    let head = alice.messages(&room, "").await.last().unwrap()["id"].as_i64().unwrap();

    let frame = json!({ "type": "chat", "text": "sent over a socket", "ref": "r1" });
    socket.send(Message::Text(frame.to_string().into())).await.unwrap();

    let ack = next_frame_named(&mut socket, "ack").await;
    assert_eq!(ack["data"]["ref"], "r1");
    let stored = ack["data"]["message"].clone();
    assert_eq!(stored["text"], "sent over a socket");
    assert_eq!(stored["user"], bob.me().await);
    assert_eq!(ack["data"]["id"], stored["id"]);
    assert_eq!(next_socket_messages(&mut socket, 1).await, vec![stored.clone()], "the sender's socket gets it too");
    assert_eq!(sse.next_messages(1).await, vec![stored.clone()]);
    let polled: Value =
        alice.get(&format!("/api/rooms/{room}/messages?after={head}&wait=5")).await.json().await.unwrap();
    assert_eq!(polled["messages"], json!([stored]));
}

async fn a_websocket_resumes_after_a_disconnect_with_nothing_lost(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "ws resume" })).await;
    let room = id_of(&room);
    let mut socket = alice.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    let first = alice.say_ok(&room, "one").await;
    assert_eq!(next_socket_messages(&mut socket, 1).await, vec![first.clone()]);
    socket.close(None).await.unwrap();
    drop(socket);

    let mut missed = Vec::new();
    for text in ["two", "three"] {
        missed.push(alice.say_ok(&room, text).await);
    }
    let mut resumed = alice.socket(&format!("/api/rooms/{room}/ws?after={}", first["id"])).await.unwrap();
    assert_eq!(next_socket_messages(&mut resumed, 2).await, missed);
    let live = alice.say_ok(&room, "four").await;
    assert_eq!(next_socket_messages(&mut resumed, 1).await, vec![live]);
}

async fn a_websocket_resume_in_a_deleted_room_gets_a_resync_then_a_normal_close(backend: Backend) {
    use tokio_tungstenite::tungstenite::{protocol::frame::coding::CloseCode, Error};
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "gone" })).await;
    let room = id_of(&room);
    let deleted = alice.http.delete(alice.url(&format!("/api/rooms/{room}"))).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let mut socket = alice.socket(&format!("/api/rooms/{room}/ws?after=1")).await.unwrap();
    let frame = next_frame(&mut socket).await;
    assert_eq!(frame, json!({ "event": "resync", "data": { "reason": "room_gone", "room": room } }));
    match tokio::time::timeout(crate::helpers::WAIT, socket.next()).await.expect("a close in time") {
        Some(Ok(Message::Close(Some(close)))) => assert_eq!(close.code, CloseCode::Normal),
        other => panic!("expected a close frame, got {other:?}"),
    }

    let refused = alice.socket(&format!("/api/rooms/{room}/ws")).await;
    assert!(matches!(refused, Err(Error::Http(response)) if response.status() == 404), "no resume point: 404");
}

async fn long_polls_answer_at_once_wait_for_news_or_time_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "polling" })).await;
    let room = id_of(&room);
    let a = alice.say_ok(&room, "a").await;
    alice.say_ok(&room, "b").await;

    let started = Instant::now();
    let ready: Value =
        alice.get(&format!("/api/rooms/{room}/messages?after={}&wait=20", a["id"])).await.json().await.unwrap();
    assert_eq!(texts(ready["messages"].as_array().unwrap()), ["b"]);
    assert!(started.elapsed() < Duration::from_secs(5), "news already there: no waiting");

    let head = ready["messages"][0]["id"].as_i64().unwrap();
    let started = Instant::now();
    let empty: Value =
        alice.get(&format!("/api/rooms/{room}/messages?after={head}&wait=1")).await.json().await.unwrap();
    assert_eq!(empty["messages"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(900), "nothing new: it waited");

    for bad in ["?after=1&wait=61", "?after=1&wait=-1", "?before=3&wait=5", "?after=-4&wait=1", "?limit=0&wait=1"] {
        let response = alice.get(&format!("/api/rooms/{room}/messages{bad}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

async fn one_user_on_three_transports_is_one_member(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "one of me" })).await;
    let room = id_of(&room);
    let bob = app.client();
    let _sse = bob.room_events(&room, None).await;
    let _socket = bob.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    let poll_path = format!("/api/rooms/{room}/messages?wait=2");
    let poll = bob.get(&poll_path);
    let (_, room_now) = tokio::join!(poll, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        alice.get(&format!("/api/rooms/{room}")).await.json::<Value>().await.unwrap()
    });
    assert_eq!(room_now["members"], 2);
    let joins = alice.messages(&room, "").await.iter().filter(|m| m["kind"] == "system").count();
    assert_eq!(joins, 2, "one join message each for alice and bob");
}

async fn bad_websocket_input_gets_error_frames_and_the_socket_stays_open(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "ws errors" })).await;
    let room = id_of(&room);
    let mut socket = alice.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    next_frame_named(&mut socket, "members").await;
    let oversized = json!({ "type": "chat", "text": "x".repeat(20_000) }).to_string();
    let cases: Vec<(Message, &str)> = vec![
        (Message::Text("{not json".into()), "invalid_json"),
        (Message::Text(json!({ "type": "shout", "text": "hi" }).to_string().into()), "unknown_type"),
        (Message::Text(oversized.into()), "payload_too_large"),
        (Message::Binary(vec![1, 2, 3].into()), "unsupported_frame"),
        (Message::Text(json!({ "type": "chat", "text": "   " }).to_string().into()), "invalid_text"),
        (Message::Text(json!({ "type": "chat", "text": "hi", "to": "nobody" }).to_string().into()), "invalid_user"),
    ];
    for (frame, code) in cases {
        socket.send(frame).await.unwrap();
        let reply = next_frame_named(&mut socket, "error").await;
        assert_eq!(reply["data"]["error"], code, "{reply}");
        assert!(reply["data"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Longer than the server's 512-byte read buffer (about 2 KB of UTF-8): read whole all the same.
    let long = format!("still here {}", "é".repeat(980));
    socket.send(Message::Text(json!({ "type": "chat", "text": long }).to_string().into())).await.unwrap();
    assert_eq!(next_frame_named(&mut socket, "ack").await["data"]["message"]["text"], long.as_str());
    assert_eq!(alice.messages(&room, "").await.len(), 2, "only the good chat was stored");
}

async fn websocket_handshakes_apply_the_same_access_rules(backend: Backend) {
    use tokio_tungstenite::tungstenite::Error;
    let app = spawn_app(backend).await;
    let (_alice, room) = app.room_with_owner(json!({ "title": "locked ws", "password": "pw", "max": 2 })).await;
    let room = id_of(&room);
    let status = |result: Result<_, Error>| match result {
        Err(Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => 101,
    };
    let eve = app.client();
    assert_eq!(status(eve.socket(&format!("/api/rooms/{room}/ws")).await), 403);
    assert_eq!(status(eve.socket(&format!("/api/rooms/{}/ws", uuid::Uuid::new_v4())).await), 404);
    assert_eq!(status(eve.socket("/api/rooms/garbage/ws").await), 404);
    assert_eq!(eve.join(&room, json!({ "password": "pw" })).await.status(), StatusCode::OK);
    assert_eq!(status(eve.socket(&format!("/api/rooms/{room}/ws")).await), 101);
    let forged = eve.socket_with(&format!("/api/rooms/{room}/ws"), &[("origin", "https://evil.example")]).await;
    assert_eq!(status(forged), 403, "cross-site WebSocket handshakes are refused");
    let mallory = app.client();
    assert_eq!(mallory.join(&room, json!({ "password": "pw" })).await.status(), StatusCode::CONFLICT, "room full");
}

async fn the_lobby_socket_lists_rooms_then_changes(backend: Backend) {
    let app = spawn_app(backend).await;
    let watcher = app.client();
    let mut socket = watcher.socket("/api/lobby/ws").await.unwrap();
    let first = next_frame(&mut socket).await;
    assert_eq!(first, json!({ "event": "rooms", "data": { "rooms": [] } }));
    let (_alice, room) = app.room_with_owner(json!({ "title": "announced" })).await;
    let created = next_frame_named(&mut socket, "room-created").await;
    assert_eq!(created["data"], room);
    assert!(created.get("id").is_none(), "lobby events are outside any sequence");
}

async fn chats_over_a_websocket_share_the_write_limit(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.rate_limit_burst = 3;
        c.rate_limit_per_second = 0.1;
    })
    .await;
    let (alice, room) = app.room_with_owner(json!({ "title": "ws flood" })).await; // one write
    let room = id_of(&room);
    let mut socket = alice.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    let mut replies = Vec::new();
    for i in 0..3 {
        let frame = json!({ "type": "chat", "text": format!("flood {i}") });
        socket.send(Message::Text(frame.to_string().into())).await.unwrap();
        loop {
            let reply = next_frame(&mut socket).await;
            if matches!(reply["event"].as_str(), Some("ack" | "error")) {
                replies.push(reply);
                break;
            }
        }
    }
    let events: Vec<_> = replies.iter().map(|r| r["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events, ["ack", "ack", "error"]);
    assert_eq!(replies[2]["data"]["error"], "rate_limited");
}

async fn a_session_can_hold_only_so_many_streams(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.max_streams_per_session = 3).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "tab hoarder" })).await;
    let room = id_of(&room);
    let first = alice.room_events(&room, None).await;
    let _second = alice.room_events(&room, None).await;
    let _third = alice.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    let refused = alice.open_stream(&format!("/api/rooms/{room}/events"), None).await.err().expect("refused");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "too_many_streams");
    let poll = alice.get(&format!("/api/rooms/{room}/messages?after=0&wait=1")).await;
    assert_eq!(poll.status(), StatusCode::TOO_MANY_REQUESTS, "long polls count too");
    assert!(app.client().room_events(&room, None).await.next_event().await.event == "members", "others are unaffected");

    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match alice.open_stream(&format!("/api/rooms/{room}/events"), None).await {
            Ok(_) => break,
            Err(response) => assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS),
        }
        assert!(Instant::now() < deadline, "a closed stream frees its place");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
