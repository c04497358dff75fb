//! The original's exercises: member lists, whispers, kicks, owner hand-over, renames.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    id_of, ids, next_frame_named, next_socket_messages, spawn_app, spawn_app_with, texts, Backend, Client, EventStream,
};

crate::on_both_backends!(
    over_websocket_whispers_stay_private_and_kicks_close_the_socket,
    a_kicked_member_cannot_win_back_a_locked_room_with_its_password,
    the_member_list_arrives_on_connect_and_changes_ride_the_sequence,
    a_long_member_list_arrives_in_pages,
    nothing_a_kicked_member_posts_is_stored_after_the_kick,
    a_whisper_reaches_only_its_two_ends_live_in_history_and_on_replay,
    whispers_to_strangers_or_oneself_are_refused,
    a_kicked_member_is_cut_off_and_cannot_come_back,
    only_the_owner_can_kick_or_hand_over,
    the_longest_present_member_inherits_a_room_whose_owner_left,
    the_owner_can_hand_the_room_over,
    a_new_nickname_is_announced_in_the_users_rooms,
);

async fn next_members(events: &mut EventStream) -> Vec<Value> {
    let event = events.next_named("members").await;
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert!(data["as_of"].as_i64().is_some(), "{data}");
    data["members"].as_array().unwrap().clone()
}

async fn whisper(from: &Client, room: &str, to: &Value, text: &str) -> reqwest::Response {
    from.post_json(&format!("/api/rooms/{room}/messages"), json!({ "text": text, "to": to["id"] })).await
}

/// The list comes once, on connect; after that every change is a system message in the room's
/// sequence (with `change`), never the whole list again: a big room would pay for that
/// quadratically.
async fn the_member_list_arrives_on_connect_and_changes_ride_the_sequence(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "members" })).await;
    let room = id_of(&room);
    let mut events = alice.room_events(&room, None).await;
    let first = next_members(&mut events).await;
    let alice_me = alice.me().await;
    assert_eq!(first.len(), 1);
    assert_eq!(
        (&first[0]["id"], &first[0]["name"], &first[0]["color"]),
        (&alice_me["id"], &alice_me["name"], &alice_me["color"])
    );
    assert_eq!(first[0]["owner"], true);
    assert!(first[0]["since"].as_str().is_some());

    let bob = app.client();
    let _bob_tab_1 = bob.room_events(&room, None).await;
    let _bob_tab_2 = bob.room_events(&room, None).await;
    let bob_me = bob.me().await;
    let joined = events.next_event().await;
    assert_eq!(joined.event, "system", "a change, not a new list");
    let joined: Value = serde_json::from_str(&joined.data).unwrap();
    assert_eq!((&joined["change"], &joined["user"]), (&json!("joined"), &bob_me));

    // A list read later already holds the change: its as_of is at or past the change's id.
    let mut carol_events = app.client().room_events(&room, None).await;
    let (list, as_of) = {
        let event = carol_events.next_named("members").await;
        let data: Value = serde_json::from_str(&event.data).unwrap();
        (data["members"].as_array().unwrap().clone(), data["as_of"].as_i64().unwrap())
    };
    assert_eq!(list.len(), 3, "alice, bob (one user, two tabs, one member) and carol");
    assert_eq!((&list[1]["id"], &list[1]["owner"]), (&bob_me["id"], &json!(false)));
    assert!(as_of > joined["id"].as_i64().unwrap(), "carol's own join is in the list too");

    let handover = alice.post_json(&format!("/api/rooms/{room}/owner"), json!({ "to": bob_me["id"] })).await;
    assert_eq!(handover.status(), StatusCode::OK);
    let changes: Vec<Value> = events.next_messages(2).await; // carol joined, bob owns
    assert_eq!(changes[0]["change"], "joined");
    assert_eq!((&changes[1]["change"], &changes[1]["user"]["id"]), (&json!("owner"), &bob_me["id"]));
    let chat = alice.say_ok(&room, "no change in a chat").await;
    assert!(chat.get("change").is_none(), "{chat}");
    assert_eq!(events.next_event().await.event, "chat", "no member list in between");
}

async fn a_whisper_reaches_only_its_two_ends_live_in_history_and_on_replay(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "secrets" })).await;
    let room = id_of(&room);
    let (bob, carol) = (app.client(), app.client());
    bob.join_ok(&room).await;
    carol.join_ok(&room).await;
    let mut alice_events = alice.room_events(&room, None).await;
    let mut bob_events = bob.room_events(&room, None).await;
    let mut carol_events = carol.room_events(&room, None).await;
    let bob_me = bob.me().await;

    let response = whisper(&alice, &room, &bob_me, "psst, bob").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let secret: Value = response.json().await.unwrap();
    assert_eq!(secret["kind"], "whisper");
    assert_eq!(secret["to"], bob_me);
    let public = alice.say_ok(&room, "hello all").await;

    assert_eq!(alice_events.next_messages(2).await, vec![secret.clone(), public.clone()]);
    assert_eq!(bob_events.next_messages(2).await, vec![secret.clone(), public.clone()]);
    assert_eq!(carol_events.next_messages(1).await, vec![public.clone()], "carol skips the whisper's id");

    let carol_history = carol.messages(&room, "").await;
    assert!(!ids(&carol_history).contains(&secret["id"].as_i64().unwrap()));
    assert!(ids(&bob.messages(&room, "").await).contains(&secret["id"].as_i64().unwrap()));

    let mut carol_replay = carol.room_events(&room, Some(0)).await;
    let replayed = carol_replay.next_messages(carol_history.len()).await;
    assert_eq!(replayed, carol_history, "replay shows carol what history does");
    let after = alice.say_ok(&room, "after the replay").await;
    assert_eq!(carol_replay.next_messages(1).await, vec![after.clone()], "and then goes live, not stuck on the gap");

    let mut bob_replay = bob.room_events(&room, Some(secret["id"].as_i64().unwrap() - 1)).await;
    assert_eq!(bob_replay.next_messages(3).await, vec![secret, public, after]);
}

async fn whispers_to_strangers_or_oneself_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "nobody" })).await;
    let room = id_of(&room);
    let stranger = app.client().me().await;
    let response = whisper(&alice, &room, &stranger, "hello?").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_in_room");
    let response = whisper(&alice, &room, &alice.me().await, "me, myself").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_user");
    let response = alice.post_json(&format!("/api/rooms/{room}/messages"), json!({ "text": "x", "to": "nope" })).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(alice.messages(&room, "").await.len(), 1, "nothing stored");
}

async fn a_kicked_member_is_cut_off_and_cannot_come_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "bouncer" })).await;
    let room = id_of(&room);
    let (bob, carol) = (app.client(), app.client());
    let mut bob_events = bob.room_events(&room, None).await;
    let mut carol_events = carol.room_events(&room, None).await;
    let bob_me = bob.me().await;

    let kick = alice.post_json(&format!("/api/rooms/{room}/kicks"), json!({ "user": bob_me["id"] })).await;
    assert_eq!(kick.status(), StatusCode::NO_CONTENT);

    let kicked = bob_events.next_named("kicked").await;
    assert!(serde_json::from_str::<Value>(&kicked.data).unwrap()["message"].as_str().is_some());
    assert!(bob_events.next().await.is_none(), "the kicked user's stream ends");
    let notice = carol_events.next_messages(1).await;
    assert_eq!(notice[0]["kind"], "system");
    assert!(notice[0]["text"].as_str().unwrap().contains("removed"));
    assert_eq!((&notice[0]["change"], &notice[0]["user"]["id"]), (&json!("kicked"), &bob_me["id"]));
    // From another address: the kick bars Bob's address too (tests/api/abuse.rs).
    let members = next_members(&mut app.client_from("127.0.0.2").room_events(&room, None).await).await;
    assert!(members.iter().all(|m| m["id"] != bob_me["id"]));

    let rejoin = bob.join(&room, json!({})).await;
    assert_eq!(rejoin.status(), StatusCode::FORBIDDEN);
    assert_eq!(rejoin.json::<Value>().await.unwrap()["error"], "kicked");
    let stream = bob.open_stream(&format!("/api/rooms/{room}/events"), None).await.err().expect("refused");
    assert_eq!(stream.status(), StatusCode::FORBIDDEN);
    let post = bob.say(&room, "let me back").await;
    assert_eq!(post.status(), StatusCode::FORBIDDEN);
    assert_eq!(post.json::<Value>().await.unwrap()["error"], "kicked");
}

async fn only_the_owner_can_kick_or_hand_over(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "hierarchy" })).await;
    let room = id_of(&room);
    let bob = app.client();
    bob.join_ok(&room).await;
    let alice_id = alice.me().await["id"].clone();
    for (path, body) in [("kicks", json!({ "user": alice_id })), ("owner", json!({ "to": alice_id }))] {
        let response = bob.post_json(&format!("/api/rooms/{room}/{path}"), body).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_owner");
    }
    let stranger = app.client().me().await;
    for (path, body) in [("kicks", json!({ "user": stranger["id"] })), ("owner", json!({ "to": stranger["id"] }))] {
        let response = alice.post_json(&format!("/api/rooms/{room}/{path}"), body).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_in_room");
    }
    let response = alice.post_json(&format!("/api/rooms/{room}/kicks"), json!({ "user": alice_id })).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let room_now: Value = alice.get(&format!("/api/rooms/{room}")).await.json().await.unwrap();
    assert_eq!(room_now["owner"]["id"], alice_id);
    assert_eq!(room_now["members"], 2);
}

async fn the_longest_present_member_inherits_a_room_whose_owner_left(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.presence_grace = Duration::from_millis(400)).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "dynasty" })).await;
    let room = id_of(&room);
    let mut lobby = app.client().lobby_events().await;
    lobby.next_named("rooms").await;
    let alice_stream = alice.room_events(&room, None).await;
    let (bob, carol) = (app.client(), app.client());
    let mut bob_events = bob.room_events(&room, None).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _carol_events = carol.room_events(&room, None).await;
    let bob_me = bob.me().await;

    drop(alice_stream);

    let messages = bob_events.next_messages(3).await; // carol joined, alice left, bob owns
    assert!(texts(&messages)[1].contains("left"));
    assert_eq!(messages[1]["change"], "left");
    assert_eq!(messages[2]["user"]["id"], bob_me["id"]);
    assert!(texts(&messages)[2].contains("owner"));
    assert_eq!(messages[2]["change"], "owner");
    let members = next_members(&mut bob.room_events(&room, None).await).await;
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["id"], bob_me["id"]);
    assert_eq!(members[0]["owner"], true);
    let updated: Value = loop {
        let event: Value = serde_json::from_str(&lobby.next_named("room-updated").await.data).unwrap();
        if event["owner"]["id"] == bob_me["id"] {
            break event;
        }
    };
    assert_eq!(updated["members"], 2);
}

async fn the_owner_can_hand_the_room_over(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "handover" })).await;
    let room = id_of(&room);
    let carol = app.client();
    carol.join_ok(&room).await;
    let carol_me = carol.me().await;
    let response = alice.post_json(&format!("/api/rooms/{room}/owner"), json!({ "to": carol_me["id"] })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let room_now: Value = response.json().await.unwrap();
    assert_eq!(room_now["owner"], carol_me);
    let last = alice.messages(&room, "").await.pop().unwrap();
    assert_eq!((last["kind"].as_str(), &last["user"]), (Some("system"), &carol_me));
    assert_eq!(last["change"], "owner");
    // The former owner is an ordinary member now.
    let delete = alice.http.delete(alice.url(&format!("/api/rooms/{room}"))).send().await.unwrap();
    assert_eq!(delete.status(), StatusCode::FORBIDDEN);
}

async fn a_new_nickname_is_announced_in_the_users_rooms(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "names" })).await;
    let room = id_of(&room);
    let bob = app.client();
    bob.join_ok(&room).await;
    let mut events = alice.room_events(&room, None).await;
    next_members(&mut events).await;
    let old_name = bob.me().await["name"].as_str().unwrap().to_owned();

    let renamed = bob.http.patch(bob.url("/api/me")).json(&json!({ "name": "Bobby" })).send().await.unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);

    let notice = events.next_messages(1).await;
    assert_eq!(notice[0]["text"], format!("{old_name} is now known as Bobby."));
    assert_eq!((&notice[0]["change"], &notice[0]["user"]["name"]), (&json!("renamed"), &json!("Bobby")));
    let members = next_members(&mut alice.room_events(&room, None).await).await;
    assert_eq!(members[1]["name"], "Bobby");
    let said = bob.say_ok(&room, "it's me").await;
    assert_eq!(said["user"]["name"], "Bobby");
}

async fn a_kicked_member_cannot_win_back_a_locked_room_with_its_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "vault", "password": "secret" })).await;
    let room = id_of(&room);
    let carol = app.client();
    assert_eq!(carol.join(&room, json!({ "password": "secret" })).await.status(), StatusCode::OK);
    let carol_id = carol.me().await["id"].clone();
    let kick = alice.post_json(&format!("/api/rooms/{room}/kicks"), json!({ "user": carol_id })).await;
    assert_eq!(kick.status(), StatusCode::NO_CONTENT);

    let again = carol.join(&room, json!({ "password": "secret" })).await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "kicked");
    alice.say_ok(&room, "said after carol was removed").await;
    let history = carol.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(history.status(), StatusCode::FORBIDDEN, "no read access came back with the password");
    let poll = carol.get(&format!("/api/rooms/{room}/messages?after=0&wait=1")).await;
    assert_eq!(poll.status(), StatusCode::FORBIDDEN);
}

async fn over_websocket_whispers_stay_private_and_kicks_close_the_socket(backend: Backend) {
    use futures_util::StreamExt;
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "ws privacy" })).await;
    let room = id_of(&room);
    let (bob, carol) = (app.client(), app.client());
    let mut bob_socket = bob.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    let mut carol_socket = carol.socket(&format!("/api/rooms/{room}/ws")).await.unwrap();
    next_frame_named(&mut bob_socket, "members").await;
    let bob_me = bob.me().await;

    let secret: Value = whisper(&alice, &room, &bob_me, "ws secret").await.json().await.unwrap();
    let public = alice.say_ok(&room, "ws public").await;
    let bob_got = next_socket_messages(&mut bob_socket, 3).await; // carol's join, the whisper, the chat
    assert_eq!(bob_got[1..], [secret.clone(), public.clone()]);
    let carol_got = next_socket_messages(&mut carol_socket, 1).await;
    assert_eq!(carol_got, vec![public.clone()], "carol's socket never carries the whisper");

    let kick = alice.post_json(&format!("/api/rooms/{room}/kicks"), json!({ "user": carol.me().await["id"] })).await;
    assert_eq!(kick.status(), StatusCode::NO_CONTENT);
    next_frame_named(&mut carol_socket, "kicked").await;
    let rest = tokio::time::timeout(crate::helpers::WAIT, async {
        let mut frames = 0;
        while let Some(Ok(message)) = carol_socket.next().await {
            if message.is_close() {
                return true;
            }
            frames += 1;
            assert!(frames < 10, "the socket should close after kicked");
        }
        true
    })
    .await;
    assert_eq!(rest, Ok(true), "the kicked user's socket closes");
}

/// More than 12 members: the list comes as consecutive `members` pages with one `as_of`, all
/// but the last marked `more`, and together they are the whole list, longest-present first.
async fn a_long_member_list_arrives_in_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "crowd", "max": 100 })).await;
    let room = id_of(&room);
    for _ in 0..59 {
        app.client().join_ok(&room).await;
    }
    let carol = app.client();
    let mut events = carol.room_events(&room, None).await;
    let mut pages = Vec::new();
    loop {
        let event = events.next_event().await;
        assert_eq!(event.event, "members", "the pages come first, one after another");
        let page: Value = serde_json::from_str(&event.data).unwrap();
        let more = page["more"] == true;
        pages.push(page);
        if !more {
            break;
        }
    }
    assert_eq!(pages.len(), 6, "61 members in pages of 12");
    assert!(pages[5].get("more").is_none(), "the last page carries no `more`");
    assert!(pages.iter().all(|p| p["as_of"] == pages[0]["as_of"]));
    let members: Vec<&Value> = pages.iter().flat_map(|p| p["members"].as_array().unwrap()).collect();
    assert_eq!(pages[0]["members"].as_array().unwrap().len(), 12);
    assert_eq!(members.len(), 61, "alice, 59 others and carol");
    let ids: std::collections::HashSet<_> = members.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 61, "each member once");
    assert_eq!((&members[0]["id"], &members[0]["owner"]), (&alice.me().await["id"], &json!(true)));
    assert_eq!(members[60]["id"], carol.me().await["id"]);
}

/// A member posting as fast as they can while the owner kicks them: every post either gets a
/// 201 and sits before the kick notice in the sequence, or is refused. None is stored after it.
async fn nothing_a_kicked_member_posts_is_stored_after_the_kick(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "bouncer" })).await;
    let room = id_of(&room);
    let bob = app.client();
    bob.join_ok(&room).await;
    let bob_id = bob.me().await["id"].clone();

    let posting = async {
        let mut accepted = Vec::new();
        for n in 0..25 {
            let response = bob.say(&room, &format!("spam #{n}")).await;
            match response.status() {
                StatusCode::CREATED => accepted.push(response.json::<Value>().await.unwrap()["id"].as_i64().unwrap()),
                status => assert_eq!(status, StatusCode::FORBIDDEN),
            }
        }
        accepted
    };
    let kicking = async {
        tokio::time::sleep(Duration::from_millis(15)).await;
        let kick = alice.post_json(&format!("/api/rooms/{room}/kicks"), json!({ "user": bob_id })).await;
        assert_eq!(kick.status(), StatusCode::NO_CONTENT);
    };
    let (accepted, ()) = tokio::join!(posting, kicking);

    let history = alice.messages(&room, "?limit=200").await;
    let kick_id = history.iter().find(|m| m["change"] == "kicked").expect("the kick notice")["id"].as_i64().unwrap();
    let stored: Vec<i64> = history
        .iter()
        .filter(|m| m["kind"] == "chat" && m["user"]["id"] == bob_id)
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(stored, accepted, "stored exactly what was acknowledged");
    assert!(stored.iter().all(|id| *id < kick_id), "chats {stored:?}, kick at {kick_id}");
}
