//! "Is typing": an ephemeral event for the room, or for a whisper's two ends, on every
//! transport; at most one per member every two seconds; never stored or replayed.

use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{id_of, next_frame, next_frame_named, spawn_app, Backend, Client, Socket, TestApp};

crate::on_both_backends!(
    typing_reaches_the_others_on_every_transport_and_is_never_stored,
    a_whispered_typing_reaches_only_its_two_ends,
    strangers_and_bad_input_are_refused,
);

fn typing_path(room: &str) -> String {
    format!("/api/rooms/{room}/typing")
}

/// The next frame after the member list a socket starts with.
async fn next_live_frame(socket: &mut Socket) -> Value {
    loop {
        let frame = next_frame(socket).await;
        if frame["event"] != "members" {
            return frame;
        }
    }
}

async fn user_id(client: &Client) -> String {
    client.me().await["id"].as_str().unwrap().to_owned()
}

async fn typing_reaches_the_others_on_every_transport_and_is_never_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "typing" })).await;
    let room = id_of(&room);
    let (bob, carol) = (app.client(), app.client());
    bob.join_ok(&room).await;
    carol.join_ok(&room).await;
    let bob_id = user_id(&bob).await;
    let mut alice_sse = alice.room_events(&room, None).await;
    let mut alice_ws = alice.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    let mut bob_ws = bob.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    let head = carol.messages(&room, "").await.last().unwrap()["id"].as_i64().unwrap();
    let poller = carol.clone();
    let poll_room = room.clone();
    let poll = tokio::spawn(async move {
        poller.get(&format!("/api/rooms/{poll_room}/messages?after={head}&wait=10")).await.json::<Value>().await
    });
    // Typing is not replayed: the poll must be waiting before Bob types.
    waiting_polls_reach(&app, 1.0).await;

    // Over REST: SSE, the sockets and a waiting long-poll all hear it, without an id.
    let announced = bob.post_json(&typing_path(&room), json!({})).await;
    assert_eq!(announced.status(), StatusCode::NO_CONTENT);
    let event = alice_sse.next_named("typing").await;
    assert!(event.id.is_empty(), "outside the sequence: no id");
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data["user"]["id"], bob_id.as_str());
    assert_eq!(data["to"], Value::Null);
    let frame = next_frame_named(&mut alice_ws, "typing").await;
    assert_eq!(frame["data"]["user"]["id"], bob_id.as_str());
    assert!(frame.get("id").is_none());
    let answer = poll.await.unwrap().unwrap();
    assert_eq!(answer["messages"], json!([]), "nothing new was stored");
    assert_eq!(answer["typing"][0]["user"]["id"], bob_id.as_str());

    // Within two seconds a second one is taken but goes nowhere: the next thing Alice hears
    // is Bob's chat. And Bob never hears his own.
    assert_eq!(bob.post_json(&typing_path(&room), json!({})).await.status(), StatusCode::NO_CONTENT);
    let chat = bob.say_ok(&room, "hello").await;
    let next = alice_sse.next_event().await;
    assert_eq!((next.event.as_str(), next.id), ("chat", chat["id"].to_string()));
    let bobs_next = next_live_frame(&mut bob_ws).await;
    assert_eq!(bobs_next["event"], "chat", "no typing of his own: {bobs_next}");

    // Over the socket: Alice's frame is not answered, and Bob hears it.
    alice_ws
        .send(tokio_tungstenite::tungstenite::Message::Text(json!({ "type": "typing" }).to_string().into()))
        .await
        .unwrap();
    let frame = next_live_frame(&mut bob_ws).await;
    assert_eq!(
        (frame["event"].as_str(), frame["data"]["user"]["id"].clone()),
        (Some("typing"), json!(user_id(&alice).await))
    );

    // Never stored, never replayed.
    let history = carol.messages(&room, "").await;
    assert!(history.iter().all(|m| m["kind"] != "typing"));
    let mut replay = carol.room_events(&room, Some(0)).await;
    let replayed = replay.next_messages(history.len()).await;
    assert_eq!(replayed, history);
}

async fn a_whispered_typing_reaches_only_its_two_ends(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "whisper typing" })).await;
    let room = id_of(&room);
    let (bob, carol) = (app.client(), app.client());
    bob.join_ok(&room).await;
    carol.join_ok(&room).await;
    let bob_id = user_id(&bob).await;
    let mut bob_ws = bob.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    let mut carol_ws = carol.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    let announced = alice.post_json(&typing_path(&room), json!({ "to": bob_id })).await;
    assert_eq!(announced.status(), StatusCode::NO_CONTENT);
    let frame = next_frame_named(&mut bob_ws, "typing").await;
    assert_eq!(frame["data"]["to"], bob_id.as_str());
    // Carol's next event is the chat that follows, not the whispered typing.
    let chat = alice.say_ok(&room, "for everyone").await;
    let next = next_live_frame(&mut carol_ws).await;
    assert_eq!((next["event"].as_str(), next["id"].clone()), (Some("chat"), chat["id"].clone()));
}

async fn strangers_and_bad_input_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "refusals" })).await;
    let room = id_of(&room);
    let stranger = app.client();
    stranger.ensure_session().await;
    let refused = stranger.post_json(&typing_path(&room), json!({})).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
    let to_stranger = alice.post_json(&typing_path(&room), json!({ "to": user_id(&stranger).await })).await;
    assert_eq!(to_stranger.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let to_self = alice.post_json(&typing_path(&room), json!({ "to": user_id(&alice).await })).await;
    assert_eq!(to_self.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let not_an_id = alice.post_json(&typing_path(&room), json!({ "to": "nobody" })).await;
    assert_eq!(not_an_id.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown_room = alice.post_json(&typing_path("00000000-0000-0000-0000-000000000000"), json!({})).await;
    assert_eq!(unknown_room.status(), StatusCode::NOT_FOUND);
    let no_session =
        app.client().http.post(app.client().url(&typing_path(&room))).json(&json!({})).send().await.unwrap();
    assert_eq!(no_session.status(), StatusCode::UNAUTHORIZED);
}

async fn waiting_polls_reach(app: &TestApp, count: f64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.metric("gifchat_open_streams{transport=\"poll\"}").await != count {
        assert!(tokio::time::Instant::now() < deadline, "the poll is waiting");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
