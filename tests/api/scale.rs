//! Several instances on one PostgreSQL database act as one service (LISTEN/NOTIFY fan-out).
//! PostgreSQL only: with SQLite a process is the only instance.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    id_of, next_frame_named, next_socket_messages, spawn_app, spawn_app_with, spawn_second_instance, texts, Backend,
    Client,
};

/// The same browser (cookie jar) talking to another instance, as a proxy without sticky
/// sessions would route it.
fn via(client: &Client, instance: &crate::helpers::TestApp) -> Client {
    Client { base: instance.address.clone(), ..client.clone() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_posted_on_one_instance_reaches_streams_on_another() {
    let a = spawn_app(Backend::Postgres).await;
    let b = spawn_second_instance(&a).await;
    let (alice, room) = a.room_with_owner(json!({ "title": "across" })).await;
    let room = id_of(&room);
    let bob = b.client();
    let mut bob_sse = bob.room_events(&room, None).await;
    let carol = b.client();
    let mut carol_ws = carol.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    next_frame_named(&mut carol_ws, "members").await;
    let mut lobby_b = b.client().lobby_events().await;
    lobby_b.next_named("rooms").await;

    let sent = alice.say_ok(&room, "hello from instance A").await;

    let over_sse = bob_sse.next_messages(2).await; // carol joined (on B), then the chat (from A)
    assert_eq!(over_sse[1], sent);
    assert_eq!(next_socket_messages(&mut carol_ws, 1).await, vec![sent]);
    let (_dave, other) = a.room_with_owner(json!({ "title": "made on A" })).await;
    let created: Value = serde_json::from_str(&lobby_b.next_named("room-created").await.data).unwrap();
    assert_eq!(created["id"], other["id"]);
}

/// "Is typing" is not stored, so only the relay between instances can carry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_on_one_instance_reaches_streams_on_another() {
    let a = spawn_app(Backend::Postgres).await;
    let b = spawn_second_instance(&a).await;
    let (alice, room) = a.room_with_owner(json!({ "title": "typing across" })).await;
    let room = id_of(&room);
    let bob = b.client();
    let mut bob_sse = bob.room_events(&room, None).await;
    // Live across instances once a chat from A arrives on B.
    let hi = alice.say_ok(&room, "hi").await;
    assert_eq!(bob_sse.next_messages(1).await, vec![hi]);
    let announced = alice.post_json(&format!("/api/rooms/{room}/typing"), json!({})).await;
    let status = announced.status();
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT, "{}", announced.text().await.unwrap());
    let typing: Value = serde_json::from_str(&bob_sse.next_named("typing").await.data).unwrap();
    assert_eq!(typing["user"]["id"], alice.me().await["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_works_against_another_instance() {
    let a = spawn_app(Backend::Postgres).await;
    let b = spawn_second_instance(&a).await;
    let (alice, room) = a.room_with_owner(json!({ "title": "resume across" })).await;
    let room = id_of(&room);
    let mut first_half = alice.room_events(&room, None).await;
    let one = alice.say_ok(&room, "one").await;
    assert_eq!(first_half.next_messages(1).await, vec![one.clone()]);
    drop(first_half);
    let two = alice.say_ok(&room, "two").await;

    let alice_on_b = via(&alice, &b);
    let mut second_half = alice_on_b.room_events(&room, one["id"].as_i64()).await;
    assert_eq!(second_half.next_messages(1).await, vec![two]);
    let three = alice.say_ok(&room, "three").await; // posted on A, streamed from B
    assert_eq!(second_half.next_messages(1).await, vec![three]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kicks_member_lists_and_deletion_cross_instances() {
    let a = spawn_app(Backend::Postgres).await;
    let b = spawn_second_instance(&a).await;
    let (alice, room) = a.room_with_owner(json!({ "title": "owner on A" })).await;
    let room = id_of(&room);
    let bob = b.client();
    let mut bob_events = bob.room_events(&room, None).await;
    let carol = b.client();
    let mut carol_events = carol.room_events(&room, None).await;
    let mut alice_events = alice.room_events(&room, None).await;
    let members: Value = serde_json::from_str(&alice_events.next_named("members").await.data).unwrap();
    assert_eq!(members["members"].as_array().unwrap().len(), 3, "seats are shared");

    let kick = alice.post_json(&format!("/api/rooms/{room}/kicks"), json!({ "user": bob.me().await["id"] })).await;
    assert_eq!(kick.status(), StatusCode::NO_CONTENT);
    bob_events.next_named("kicked").await;
    assert!(bob_events.until_end().await.is_empty(), "bob's stream on B ended");
    // The kick reaches Carol (on B) as a membership change in the room's sequence.
    let bob_id = bob.me().await["id"].clone();
    loop {
        let message: Value = serde_json::from_str(&carol_events.next_named("system").await.data).unwrap();
        if message["change"] == "kicked" {
            assert_eq!(message["user"]["id"], bob_id);
            break;
        }
    }

    let delete = alice.http.delete(alice.url(&format!("/api/rooms/{room}"))).send().await.unwrap();
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    carol_events.next_named("room-deleted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_the_listen_connection_is_killed() {
    let a = spawn_app(Backend::Postgres).await;
    let b = spawn_second_instance(&a).await;
    let (alice, room) = a.room_with_owner(json!({ "title": "resilient" })).await;
    let room = id_of(&room);
    let bob = b.client();
    let mut bob_events = bob.room_events(&room, None).await;
    let before = alice.say_ok(&room, "before").await;
    assert_eq!(bob_events.next_messages(1).await, vec![before]);

    // Kill every LISTEN connection on this database (both instances'), then post at once.
    let db = a.database_url.rsplit('/').next().unwrap().to_owned();
    let admin = sqlx::PgPool::connect(&a.database_url).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'",
    )
    .bind(&db)
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(!killed.is_empty(), "found the LISTEN connections");
    let during = alice.say_ok(&room, "while B was deaf").await;
    let after = alice.say_ok(&room, "after").await;

    let got = bob_events.next_messages(2).await;
    assert_eq!(texts(&got), texts(&[during, after]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_slower_than_the_grace_period_keeps_rooms_and_members() {
    let mut a = spawn_app_with(Backend::Postgres, |c| c.presence_grace = std::time::Duration::from_millis(300)).await;
    let (alice, room) = a.room_with_owner(json!({ "title": "survives deploys" })).await;
    let room = id_of(&room);
    let _stream = alice.room_events(&room, None).await;
    a.stop().await; // SIGTERM: the stream ends, but the seat keeps its lease
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await; // a slow deploy
    let b = spawn_second_instance(&a).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await; // reapers have run
    let alice = via(&alice, &b);
    let room_now: Value = alice.get(&format!("/api/rooms/{room}")).await.json().await.unwrap();
    assert_eq!(room_now["members"], 1, "{room_now}");
    alice.say_ok(&room, "still mine").await;
}
