//! SSE sockets written by their room's publisher (`realtime::direct`): one that cannot take a
//! burst goes back to its own task and loses nothing; a big room's publisher writes only its
//! first 64.

use std::time::Duration;

use serde_json::json;

use gif_chat::domain::{Message, RoomId, UserId};

use crate::helpers::{id_of, ids, spawn_app, spawn_app_with, texts, Backend, Client, EventStream, TestApp};
use crate::streams::store_unpublished_up_to;

crate::on_both_backends!(a_room_bigger_than_the_directly_written_set_reaches_everyone);

// On one thread: the client cannot read while the test publishes (see streams.rs).
crate::on_both_backends!(
    one_thread: a_directly_written_subscriber_whose_socket_fills_loses_nothing,
    messages_published_out_of_order_while_a_full_socket_is_handed_back_all_arrive,
    a_kick_while_the_socket_is_full_comes_after_everything_published_before_it,
);

const HANDBACKS: &str = "gifchat_direct_handbacks_total";

/// An SSE subscriber that keeps up is written by the publisher; a burst larger than its socket
/// can hold (published while the client, on this one thread, cannot read) sends it back to its
/// own task, which writes the rest and catches up, and then hands it to the publisher again.
async fn a_directly_written_subscriber_whose_socket_fills_loses_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "full socket" })).await;
    let room_id = id_of(&room);
    let mut events = alice.room_events(&room_id, None).await;
    // The stream is live (and so, handed to the publisher) once a first chat arrives.
    let first = alice.say_ok(&room_id, "first").await;
    assert_eq!(events.next_messages(1).await, vec![first]);
    assert_eq!(app.metric(HANDBACKS).await, 0.0, "a subscriber that keeps up stays with the publisher");

    // About 6 MB, more than loopback buffers take from a client that does not read.
    let count = 3_000;
    let texts_all: Vec<String> = (0..count).map(|i| format!("{i:04} {}", "x".repeat(1_995))).collect();
    let mut stored = Vec::new();
    for chunk in texts_all.chunks(200) {
        stored.extend(store_unpublished_up_to(&app, &room, chunk, 2_000).await);
    }
    for message in &stored {
        app.state.hub.publish_message(message);
    }
    let received = events.next_messages(count).await;
    assert_eq!(texts(&received), texts_all);
    assert_eq!(ids(&received), stored.iter().map(|m| m.id).collect::<Vec<_>>());
    assert!(app.metric(HANDBACKS).await >= 1.0, "the full socket went back to its task");

    // And then it keeps up again: later chats arrive once, in order.
    let handbacks = app.metric(HANDBACKS).await;
    for text in ["after 1", "after 2"] {
        let sent = alice.say_ok(&room_id, text).await;
        assert_eq!(events.next_messages(1).await, vec![sent]);
    }
    assert_eq!(app.metric(HANDBACKS).await, handbacks, "no hand-back for a subscriber that keeps up");
}

/// Waits (up to 5 s) for a metric to reach `value`, and says what it was last.
async fn metric_reaches(app: &TestApp, sample: &str, value: f64) -> f64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = app.metric(sample).await;
        if now == value || tokio::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A room's publisher writes at most 64 of its SSE sockets itself (`realtime::direct`); the
/// others keep a task each. Everyone gets every message once, in order, either way, and a
/// closed stream leaves the directly written set.
async fn a_room_bigger_than_the_directly_written_set_reaches_everyone(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.max_streams_per_session = 0).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "big" })).await;
    let room = id_of(&room);
    let mut streams = Vec::new();
    for _ in 0..70 {
        streams.push(alice.room_events(&room, None).await);
    }
    const DIRECT: &str = "gifchat_direct_sockets";
    assert_eq!(metric_reaches(&app, DIRECT, 64.0).await, 64.0, "64 written by the publisher, the rest by tasks");
    let mut sent = Vec::new();
    for text in ["one", "two", "three"] {
        sent.push(alice.say_ok(&room, text).await);
    }
    for stream in &mut streams {
        assert_eq!(stream.next_messages(3).await, sent);
    }
    assert_eq!(app.metric(DIRECT).await, 64.0);
    drop(streams);
    assert_eq!(metric_reaches(&app, DIRECT, 0.0).await, 0.0, "closed streams leave the set");
}

/// A room whose `viewer` stream is live and written directly, and `count` long chats stored
/// but not yet published: publishing them in one synchronous burst fills the socket.
async fn full_socket_setup(app: &TestApp, count: usize) -> (Client, Client, String, EventStream, Vec<Message>) {
    let (alice, room) = app.room_with_owner(json!({ "title": "full socket" })).await;
    let room_id = id_of(&room);
    let bob = app.client();
    bob.join_ok(&room_id).await;
    let mut events = bob.room_events(&room_id, None).await;
    let first = alice.say_ok(&room_id, "first").await;
    assert_eq!(events.next_messages(1).await.last(), Some(&first));
    let texts_all: Vec<String> = (0..count).map(|i| format!("{i:04} {}", "x".repeat(1_995))).collect();
    let mut stored = Vec::new();
    for chunk in texts_all.chunks(200) {
        stored.extend(store_unpublished_up_to(app, &room, chunk, 2_000).await);
    }
    (alice, bob, room_id, events, stored)
}

/// The burst fills the socket, which goes back to its task; before that task runs, the last
/// two messages are published in the wrong order (two writers), the later one only. Neither is
/// on the task's fresh channel receiver, and the room's recent messages have a hole: the
/// catch-up must still go up to the highest id published, from storage.
async fn messages_published_out_of_order_while_a_full_socket_is_handed_back_all_arrive(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, _bob, room_id, mut events, stored) = full_socket_setup(&app, 3_002).await;
    let (burst, late) = stored.split_at(3_000);
    for message in burst {
        app.state.hub.publish_message(message);
    }
    app.state.hub.publish_message(&late[1]);
    let received = events.next_messages(stored.len()).await;
    assert_eq!(ids(&received), stored.iter().map(|m| m.id).collect::<Vec<_>>());
    assert!(app.metric(HANDBACKS).await >= 1.0, "the socket filled");
    // The straggler's own publish, later, is no duplicate.
    app.state.hub.publish_message(&late[0]);
    let next = alice.say_ok(&room_id, "after").await;
    assert_eq!(events.next_messages(1).await, vec![next]);
}

/// A kick that comes while the socket is full (handed back, its task not yet running) still
/// ends the stream after every message published before it, as the channel would have.
async fn a_kick_while_the_socket_is_full_comes_after_everything_published_before_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_alice, bob, room_id, mut events, stored) = full_socket_setup(&app, 3_000).await;
    let room = RoomId::parse(&room_id).unwrap();
    let bob_id = UserId::parse(bob.me().await["id"].as_str().unwrap()).unwrap();
    for message in &stored {
        app.state.hub.publish_message(message);
    }
    app.state.hub.publish_kicked(room, bob_id);
    let received = events.next_messages(stored.len()).await;
    assert_eq!(ids(&received), stored.iter().map(|m| m.id).collect::<Vec<_>>());
    assert_eq!(events.next_event().await.event, "kicked");
    assert!(events.next().await.is_none(), "the stream ends after the kick");
}
