//! Issue 16, item 1: a server outage longer than the seat lease deleted every active room and
//! its history at start-up (nobody could renew a seat while the server was down, so the first
//! reaper pass found them all expired). A restart is not everybody leaving.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{id_of, spawn_app_with, Backend};

crate::on_both_backends!(an_outage_longer_than_the_lease_keeps_rooms_for_their_members_to_come_back);

async fn an_outage_longer_than_the_lease_keeps_rooms_for_their_members_to_come_back(backend: Backend) {
    let short = |c: &mut gif_chat::Config| {
        c.presence_lease = Duration::from_secs(1);
        c.presence_grace = Duration::from_millis(800);
        // The default: no COOKIE_SECRET. The secret the server keeps in its database is what
        // lets Bob come back as himself, not as a stranger.
        c.cookie_secret = None;
    };
    let mut app = spawn_app_with(backend, short).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "survives restarts" })).await;
    let room = id_of(&room);
    let bob = app.client();
    bob.join_ok(&room).await;
    let mut bob_stream = bob.room_events(&room, None).await;
    let said = bob.say_ok(&room, "before the outage").await;
    drop(bob_stream.next_messages(1).await);

    // Down for well over the lease and the grace.
    app.restart_after(Duration::from_secs(3), short).await;
    let (alice, bob) = (alice.at(&app.address), bob.at(&app.address));
    let after_start: Value = bob.get(&format!("/api/rooms/{room}")).await.json().await.unwrap();
    assert_eq!(after_start["members"], 2, "nobody was counted as leaving: {after_start}");
    // Bob comes back and resumes where he was; Alice never does.
    let mut resumed = bob.room_events(&room, Some(said["id"].as_i64().unwrap())).await;
    let next = resumed.next_messages(2).await;
    assert_eq!((&next[0]["change"], &next[0]["user"]["id"]), (&json!("left"), &alice.me().await["id"]), "{next:?}");
    assert_eq!(next[1]["change"], "owner", "Bob inherits the room: {next:?}");
    let history = bob.messages(&room, "?limit=200").await;
    assert!(history.iter().any(|m| m["text"] == "before the outage"), "the history is kept");
    assert_eq!(bob.get(&format!("/api/rooms/{room}")).await.status(), StatusCode::OK);
}
