//! Rooms: creation, listing, joining (password, capacity), deletion, history pages.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{id_of, ids, spawn_app, spawn_app_with, texts, Backend};

crate::on_both_backends!(
    a_created_room_is_listed_with_its_owner_and_no_password,
    a_locked_room_refuses_the_wrong_password_and_admits_the_right_one,
    a_locked_room_hides_its_history_and_stream_from_non_members,
    a_full_room_says_so,
    capacity_counts_users_not_tabs,
    only_the_owner_can_delete_a_room,
    posting_requires_a_seat,
    history_pages_by_after_before_and_limit,
    capacity_has_a_configurable_upper_bound,
    concurrent_joins_never_exceed_capacity,
    the_member_list_can_be_read_without_a_stream,
);

async fn a_created_room_is_listed_with_its_owner_and_no_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "  Cats  ", "password": "p&#+%" })).await;
    let me = alice.me().await;
    assert_eq!(room["title"], "Cats");
    assert_eq!(room["max"], 10);
    assert_eq!(room["locked"], true);
    assert_eq!(room["members"], 1);
    assert_eq!(room["owner"], me);
    let listed: Value = app.client().get("/api/rooms").await.json().await.unwrap();
    assert_eq!(listed["rooms"], json!([room]));
    let fetched: Value = app.client().get(&format!("/api/rooms/{}", id_of(&room))).await.json().await.unwrap();
    assert_eq!(fetched, room);
    assert!(!listed.to_string().contains("p&#+%"), "the password is never echoed");
}

async fn a_locked_room_refuses_the_wrong_password_and_admits_the_right_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_alice, room) = app.room_with_owner(json!({ "title": "vault", "password": "p&#+% ü" })).await;
    let room = id_of(&room);
    let bob = app.client();
    for wrong in [json!({}), json!({ "password": "nope" }), json!({ "password": "" })] {
        let response = bob.join(&room, wrong).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "wrong_password");
    }
    let response = bob.join(&room, json!({ "password": "p&#+% ü" })).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["members"], 2);
    bob.say_ok(&room, "I'm in").await;
}

async fn a_locked_room_hides_its_history_and_stream_from_non_members(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "private", "password": "pw" })).await;
    let room = id_of(&room);
    alice.say_ok(&room, "secret plans").await;
    let eve = app.client();
    let history = eve.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(history.status(), StatusCode::FORBIDDEN);
    assert_eq!(history.json::<Value>().await.unwrap()["error"], "not_a_member");
    let stream = eve.open_stream(&format!("/api/rooms/{room}/events"), Some(0)).await.err().expect("refused");
    assert_eq!(stream.status(), StatusCode::FORBIDDEN);
    assert_eq!(eve.say(&room, "hi").await.status(), StatusCode::FORBIDDEN);
    // The owner reads freely; the room still has one member.
    assert_eq!(texts(&alice.messages(&room, "").await)[1], "secret plans");
    let room_now: Value = eve.get(&format!("/api/rooms/{room}")).await.json().await.unwrap();
    assert_eq!(room_now["members"], 1);
}

async fn a_full_room_says_so(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_alice, room) = app.room_with_owner(json!({ "title": "duo", "max": 2 })).await;
    let room = id_of(&room);
    app.client().join_ok(&room).await;
    let carol = app.client();
    let response = carol.join(&room, json!({})).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "room_full");
    let stream = carol.open_stream(&format!("/api/rooms/{room}/events"), None).await.err().expect("refused");
    assert_eq!(stream.status(), StatusCode::CONFLICT);
    assert_eq!(carol.say(&room, "let me in").await.status(), StatusCode::FORBIDDEN);

    // A full locked room says it is full before it asks for a password (it used to answer
    // `wrong_password`, so the lobby asked for one, then refused); a member coming back keeps
    // their seat, password or not.
    let (owner, locked) = app.room_with_owner(json!({ "title": "locked duo", "max": 2, "password": "pw" })).await;
    let locked = id_of(&locked);
    let bob = app.client();
    assert_eq!(bob.join(&locked, json!({ "password": "pw" })).await.status(), StatusCode::OK);
    let refused = carol.join(&locked, json!({})).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "room_full");
    assert_eq!(carol.join(&locked, json!({ "password": "pw" })).await.status(), StatusCode::CONFLICT);
    assert_eq!(bob.join(&locked, json!({})).await.status(), StatusCode::OK);
    assert_eq!(owner.join(&locked, json!({})).await.status(), StatusCode::OK);
}

async fn capacity_counts_users_not_tabs(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "tabs", "max": 2 })).await;
    let room = id_of(&room);
    let _tabs: Vec<_> = futures_util::future::join_all((0..4).map(|_| alice.room_events(&room, None))).await;
    let bob = app.client();
    bob.join_ok(&room).await;
    let room_now: Value = bob.get(&format!("/api/rooms/{room}")).await.json().await.unwrap();
    assert_eq!(room_now["members"], 2);
}

async fn only_the_owner_can_delete_a_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "mine" })).await;
    let room = id_of(&room);
    let bob = app.client();
    bob.join_ok(&room).await;
    let response = bob.http.delete(bob.url(&format!("/api/rooms/{room}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_owner");
    assert_eq!(bob.get(&format!("/api/rooms/{room}")).await.status(), StatusCode::OK);
    let response = alice.http.delete(alice.url(&format!("/api/rooms/{room}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let again = alice.http.delete(alice.url(&format!("/api/rooms/{room}"))).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

async fn posting_requires_a_seat(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_alice, room) = app.room_with_owner(json!({ "title": "members only" })).await;
    let room = id_of(&room);
    let bob = app.client();
    let response = bob.say(&room, "drive-by").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_a_member");
    bob.join_ok(&room).await;
    bob.say_ok(&room, "now a member").await;
    assert_eq!(texts(&bob.messages(&room, "").await).last().unwrap(), "now a member");
}

async fn history_pages_by_after_before_and_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "history" })).await;
    let room = id_of(&room);
    for i in 0..60 {
        alice.say_ok(&room, &format!("m{i}")).await;
    }
    // 61 messages: the "joined" (id 1) and m0..m59 (ids 2..61).
    let newest = alice.messages(&room, "").await;
    assert_eq!(ids(&newest), (12..=61).collect::<Vec<_>>(), "default: the newest 50, oldest first");
    let older = alice.messages(&room, "?before=12&limit=5").await;
    assert_eq!(ids(&older), (7..=11).collect::<Vec<_>>());
    let after = alice.messages(&room, "?after=58").await;
    assert_eq!(ids(&after), vec![59, 60, 61]);
    let window = alice.messages(&room, "?after=10&before=14&limit=200").await;
    assert_eq!(ids(&window), vec![11, 12, 13]);
    for bad in ["?limit=0", "?limit=201", "?limit=x", "?after=-1", "?before=0", "?after=abc"] {
        let response = alice.get(&format!("/api/rooms/{room}/messages{bad}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_query", "{bad}");
    }
}

async fn capacity_has_a_configurable_upper_bound(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.max_room_capacity = 500).await;
    let client = app.client();
    assert_eq!(client.create_room(json!({ "title": "big", "max": 500 })).await.status(), StatusCode::CREATED);
    let response = client.create_room(json!({ "title": "bigger", "max": 501 })).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_max");
}

async fn concurrent_joins_never_exceed_capacity(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, room) = app.room_with_owner(json!({ "title": "race", "max": 10 })).await;
    let room = id_of(&room);
    let clients: Vec<_> = (0..50).map(|_| app.client()).collect();
    let statuses = futures_util::future::join_all(clients.iter().map(|c| c.join(&room, json!({})))).await;
    let admitted = statuses.iter().filter(|r| r.status() == StatusCode::OK).count();
    let refused = statuses.iter().filter(|r| r.status() == StatusCode::CONFLICT).count();
    assert_eq!((admitted, refused), (9, 41), "the owner holds the tenth seat");
    let room_now: Value = owner.get(&format!("/api/rooms/{room}")).await.json().await.unwrap();
    assert_eq!(room_now["members"], 10);
}

async fn the_member_list_can_be_read_without_a_stream(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "who" })).await;
    let room = id_of(&room);
    let bob = app.client();
    bob.join_ok(&room).await;
    let path = format!("/api/rooms/{room}/members");
    let list: Value = app.client().get(&path).await.json().await.unwrap();
    let names: Vec<_> = list["members"].as_array().unwrap().iter().map(|m| m["id"].clone()).collect();
    assert_eq!(names, [alice.me().await["id"].clone(), bob.me().await["id"].clone()], "present longest first");
    assert_eq!(list["members"][0]["owner"], true);
    // as_of is the room's last id: every change up to it is in the list.
    let last = alice.messages(&room, "").await.last().unwrap()["id"].clone();
    assert_eq!(list["as_of"], last);

    // A locked room's list is for those who may read it.
    let (_carol, locked) = app.room_with_owner(json!({ "title": "hidden", "password": "pw" })).await;
    let refused = app.client().get(&format!("/api/rooms/{}/members", id_of(&locked))).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "not_a_member");
    let missing = app.client().get(&format!("/api/rooms/{}/members", uuid::Uuid::new_v4())).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
