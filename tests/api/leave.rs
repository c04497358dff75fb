//! Issue 16, item 3: "Leave" left others seeing the owner for the whole grace period (~10 s),
//! with the lobby count and the hand-over as late. An explicit leave releases the seat at once.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{id_of, spawn_app_with, Backend, Client};

crate::on_both_backends!(leaving_releases_the_seat_at_once_hands_the_room_over_and_the_last_one_out_deletes_it);

async fn leave(client: &Client, room: &str) -> StatusCode {
    client.http.delete(client.url(&format!("/api/rooms/{room}/seat"))).send().await.unwrap().status()
}

async fn leaving_releases_the_seat_at_once_hands_the_room_over_and_the_last_one_out_deletes_it(backend: Backend) {
    // A grace period far longer than the test: only an explicit leave can explain a fast one.
    let app = spawn_app_with(backend, |c| c.presence_grace = Duration::from_secs(60)).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "the door" })).await;
    let room = id_of(&room);
    let bob = app.client();
    bob.join_ok(&room).await;
    let mut bob_events = bob.room_events(&room, None).await;
    let mut lobby = app.client().lobby_events().await;
    lobby.next_named("rooms").await;

    let started = Instant::now();
    assert_eq!(leave(&alice, &room).await, StatusCode::NO_CONTENT);
    let changes = bob_events.next_messages(2).await;
    let alice_id = alice.me().await["id"].clone();
    let bob_id = bob.me().await["id"].clone();
    assert_eq!((&changes[0]["change"], &changes[0]["user"]["id"]), (&json!("left"), &alice_id), "{changes:?}");
    assert_eq!((&changes[1]["change"], &changes[1]["user"]["id"]), (&json!("owner"), &bob_id), "{changes:?}");
    let updated: Value = serde_json::from_str(&lobby.next_named("room-updated").await.data).unwrap();
    assert_eq!((updated["members"].as_u64(), &updated["owner"]["id"]), (Some(1), &bob_id), "{updated}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(leave(&alice, &room).await, StatusCode::NO_CONTENT, "leaving again does nothing");

    assert_eq!(leave(&bob, &room).await, StatusCode::NO_CONTENT);
    assert_eq!(lobby.next_named("room-deleted").await.event, "room-deleted");
    assert_eq!(bob.get(&format!("/api/rooms/{room}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(leave(&bob, &room).await, StatusCode::NOT_FOUND);
    let stranger = reqwest::Client::new().delete(bob.url(&format!("/api/rooms/{room}/seat"))).send().await.unwrap();
    assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);
}
