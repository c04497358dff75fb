//! Abuse resistance, tried as an attacker would: identities are free (any request without a
//! cookie is a stranger), so every limit must hold per client address too. "Another address"
//! is real here: clients bind loopback source addresses (127.0.0.2, 127.0.0.3, …), and the
//! server counts the TCP peer, trusting no header.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::{
    common::gifs::gif_bomb,
    helpers::{id_of, make_gif, next_frame_named, spawn_app_with, Backend, Client, TestApp, WAIT},
};

crate::on_both_backends!(
    requests_without_a_session_take_no_seat_store_nothing_and_watch_as_unseen_viewers,
    new_sessions_are_limited_per_address,
    event_streams_are_capped_per_address_and_counted,
    a_cross_site_navigation_watches_but_takes_no_seat,
    a_kick_also_bars_the_kicked_address_from_the_room,
    uploads_are_checked_for_room_and_seat_before_any_decoding,
    wrong_passwords_are_limited_per_room_and_address,
    a_locked_rooms_gifs_are_served_only_to_its_readers_and_deleted_with_it,
    uploads_are_limited_by_a_quota_per_address,
    a_non_owner_is_refused_as_one_whoever_they_name,
    the_room_list_comes_in_pages,
);

/// A cookie-less HTTP client whose connections come from `source`.
fn stranger_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(source.parse::<std::net::IpAddr>().unwrap()).build().unwrap()
}

/// A WebSocket handshake from `source`, with an optional cookie; the handshake's HTTP status.
async fn socket_status(app: &TestApp, source: &str, path: &str, cookie: Option<&str>) -> u16 {
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Error};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let host = app.address.trim_start_matches("http://");
    let stream = socket.connect(host.parse().unwrap()).await.unwrap();
    let mut request = format!("ws://{host}{path}").into_client_request().unwrap();
    if let Some(cookie) = cookie {
        request.headers_mut().insert("cookie", cookie.parse().unwrap());
    }
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("handshake failed: {other}"),
    }
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON error body");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

async fn room_json(client: &Client, room: &str) -> Value {
    client.get(&format!("/api/rooms/{room}")).await.json().await.unwrap()
}

/// Item 1: 40 cookie-less GETs (long-poll, SSE, WebSocket) used to fill an open `max: 5` room
/// and store a join and a leave each. Now they take nothing: a real user still gets in, the
/// room holds no stranger, and what the strangers see is the room's events, as viewers.
async fn requests_without_a_session_take_no_seat_store_nothing_and_watch_as_unseen_viewers(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "open door", "max": 5 })).await;
    let room = id_of(&room);
    let before = alice.messages(&room, "?limit=200").await.len();
    let strangers = stranger_from("127.0.0.2");
    let url = |path: &str| format!("{}{path}", app.address);
    let mut viewers = Vec::new();
    for _ in 0..10 {
        let poll = strangers.get(url(&format!("/api/rooms/{room}/messages?after=0&wait=0"))).send();
        assert_eq!(poll.await.unwrap().status(), StatusCode::OK, "a stranger may read an open room");
        let sse = strangers.get(url(&format!("/api/rooms/{room}/events"))).send().await.unwrap();
        assert_eq!(sse.status(), StatusCode::OK);
        viewers.push(sse);
        assert_eq!(socket_status(&app, "127.0.0.2", &format!("/api/rooms/{room}/ws"), None).await, 101);
    }
    for path in ["join", "messages"] {
        let write = strangers.post(url(&format!("/api/rooms/{room}/{path}"))).json(&json!({ "text": "hi" }));
        assert_eq!(error_code(write.send().await.unwrap()).await, (StatusCode::UNAUTHORIZED, "no_session".into()));
    }
    let bob = app.client();
    bob.join_ok(&room).await;
    assert_eq!(room_json(&alice, &room).await["members"], 2, "only Alice and Bob hold seats");
    let stored = alice.messages(&room, "?limit=200").await;
    assert_eq!(stored.len(), before + 1, "only Bob's join was stored: {stored:?}");

    // A viewer sees the room live (here over SSE), whispers excepted.
    let mut viewer = viewers.pop().unwrap().bytes_stream();
    let sent = alice.say_ok(&room, "hello, whoever is watching").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = String::new();
    while !seen.contains(sent["text"].as_str().unwrap()) {
        let chunk = tokio::time::timeout_at(deadline, viewer.next()).await.expect("the viewer sees the chat");
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
    }
}

/// Item 2: 120 cookie-less `GET /api/me` from one address used to mint 120 identities.
async fn new_sessions_are_limited_per_address(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.new_session_burst = 5;
        c.new_sessions_per_second = 0.1;
    })
    .await;
    let me = app.client().url("/api/me");
    let from_a = stranger_from("127.0.0.2");
    for _ in 0..5 {
        let response = from_a.get(&me).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get(header::SET_COOKIE).is_some(), "a new session");
    }
    let refused = from_a.get(&me).send().await.unwrap();
    let retry_after: u64 = refused.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    assert!(refused.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(error_code(refused).await, (StatusCode::TOO_MANY_REQUESTS, "too_many_sessions".into()));
    // Nor does a rename mint one.
    let rename = from_a.patch(&me).json(&json!({ "name": "Mallory" })).send().await.unwrap();
    assert_eq!(error_code(rename).await, (StatusCode::TOO_MANY_REQUESTS, "too_many_sessions".into()));
    // Another address is unaffected, and so is anyone who already has a session.
    assert_eq!(stranger_from("127.0.0.3").get(&me).send().await.unwrap().status(), StatusCode::OK);
    let known = app.client_from("127.0.0.4");
    known.ensure_session().await;
    for _ in 0..20 {
        assert_eq!(known.get("/api/me").await.status(), StatusCode::OK);
    }
}

/// Item 3: 600 cookie-less lobby streams from one address were all accepted.
async fn event_streams_are_capped_per_address_and_counted(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.max_streams_per_address = 3).await;
    let (_, room) = app.room_with_owner(json!({ "title": "crowded" })).await;
    let room = id_of(&room);
    let from_a = stranger_from("127.0.0.2");
    let lobby = app.client().url("/api/lobby/events");
    let mut open = Vec::new();
    open.push(from_a.get(&lobby).send().await.unwrap());
    open.push(from_a.get(app.client().url(&format!("/api/rooms/{room}/events"))).send().await.unwrap());
    open.push(from_a.get(app.client().url("/demo/sse/clock")).send().await.unwrap());
    assert!(open.iter().all(|r| r.status() == StatusCode::OK));
    let refused = from_a.get(&lobby).send().await.unwrap();
    assert_eq!(error_code(refused).await, (StatusCode::TOO_MANY_REQUESTS, "too_many_connections".into()));
    let poll = from_a.get(app.client().url(&format!("/api/rooms/{room}/messages?after=0&wait=1"))).send();
    assert_eq!(error_code(poll.await.unwrap()).await, (StatusCode::TOO_MANY_REQUESTS, "too_many_connections".into()));
    assert_eq!(socket_status(&app, "127.0.0.2", "/api/lobby/ws", None).await, 429);
    assert_eq!(socket_status(&app, "127.0.0.2", "/demo/ws/socket", None).await, 429);
    // Another address is unaffected; a closed stream gives its slot back.
    assert_eq!(stranger_from("127.0.0.3").get(&lobby).send().await.unwrap().status(), StatusCode::OK);
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let again = from_a.get(&lobby).send().await.unwrap();
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the slot came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app.metric("gifchat_rejected_requests_total{reason=\"too_many_connections\"}").await >= 4.0);
}

/// Item 4: a top-level GET from another site carries the Lax cookie; it used to join the
/// victim to the attacker's room, announced by name.
async fn a_cross_site_navigation_watches_but_takes_no_seat(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (mallory, room) = app.room_with_owner(json!({ "title": "come in" })).await;
    let room = id_of(&room);
    let victim = app.client();
    victim.ensure_session().await;
    let navigation = victim
        .http
        .get(victim.url(&format!("/api/rooms/{room}/events")))
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(navigation.status(), StatusCode::OK, "watching is harmless");
    let poll = victim
        .http
        .get(victim.url(&format!("/api/rooms/{room}/messages?after=0&wait=0")))
        .header("sec-fetch-site", "same-site")
        .send()
        .await
        .unwrap();
    assert_eq!(poll.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(room_json(&mallory, &room).await["members"], 1, "the victim was not seated");
    let mallory_me = mallory.me().await;
    let joins: Vec<Value> = mallory.messages(&room, "").await.into_iter().filter(|m| m["change"] == "joined").collect();
    assert!(joins.iter().all(|m| m["user"] == mallory_me), "nobody else was announced: {joins:?}");
    // The viewer is nobody to the room: the victim's grant for a locked room does not come along.
    let (_, locked) = app.room_with_owner(json!({ "title": "locked", "password": "pw" })).await;
    let locked = id_of(&locked);
    assert_eq!(victim.join(&locked, json!({ "password": "pw" })).await.status(), StatusCode::OK);
    let framed = victim
        .http
        .get(victim.url(&format!("/api/rooms/{locked}/events")))
        .header("sec-fetch-site", "same-site")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(framed).await, (StatusCode::FORBIDDEN, "not_a_member".into()));
    // From our own page it joins, as ever.
    let own = victim
        .http
        .get(victim.url(&format!("/api/rooms/{room}/events")))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(room_json(&mallory, &room).await["members"], 2);
    drop((navigation, own));
}

/// Item 5: a fresh cookie (and the password) used to undo a kick.
async fn a_kick_also_bars_the_kicked_address_from_the_room(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "bouncer", "password": "sesame" })).await;
    let room = id_of(&room);
    let (bob, bobs_flatmate) = (app.client_from("127.0.0.2"), app.client_from("127.0.0.2"));
    assert_eq!(bob.join(&room, json!({ "password": "sesame" })).await.status(), StatusCode::OK);
    assert_eq!(bobs_flatmate.join(&room, json!({ "password": "sesame" })).await.status(), StatusCode::OK);
    let bob_id = bob.me().await["id"].clone();
    let kick = alice.post_json(&format!("/api/rooms/{room}/kicks"), json!({ "user": bob_id })).await;
    assert_eq!(kick.status(), StatusCode::NO_CONTENT);

    // Bob again, with a new identity from the same address: barred everywhere.
    let bob_again = app.client_from("127.0.0.2");
    let join = bob_again.join(&room, json!({ "password": "sesame" })).await;
    assert_eq!(error_code(join).await, (StatusCode::FORBIDDEN, "kicked".into()));
    let sse = bob_again.open_stream(&format!("/api/rooms/{room}/events"), None).await.err().unwrap();
    assert_eq!(error_code(sse).await, (StatusCode::FORBIDDEN, "kicked".into()));
    let poll = bob_again.get(&format!("/api/rooms/{room}/messages?after=0&wait=0")).await;
    assert_eq!(poll.status(), StatusCode::FORBIDDEN);
    use reqwest::cookie::CookieStore;
    let cookie = bob_again.jar.cookies(&bob_again.base.parse().unwrap()).unwrap();
    let ws = socket_status(&app, "127.0.0.2", &format!("/api/rooms/{room}/ws"), cookie.to_str().ok()).await;
    assert_eq!(ws, 403);
    let history = bob_again.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(error_code(history).await, (StatusCode::FORBIDDEN, "kicked".into()), "no reading along either");
    // Who was already seated there stays; the owner is never barred; other addresses join.
    assert_eq!(bobs_flatmate.say(&room, "still here").await.status(), StatusCode::CREATED);
    let carol = app.client_from("127.0.0.3");
    assert_eq!(carol.join(&room, json!({ "password": "sesame" })).await.status(), StatusCode::OK);
    assert_eq!(alice.say(&room, "welcome, Carol").await.status(), StatusCode::CREATED);
}

/// Item 6: bombs were decoded in full before the room or the seat was checked, and 20 at
/// once by a member grew the server by 313 MB. Now a refused upload costs next to nothing,
/// and accepted ones are decoded a few at a time in a small buffer.
async fn uploads_are_checked_for_room_and_seat_before_any_decoding(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.upload_quota_per_hour = 0).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "bombs away" })).await;
    let room = id_of(&room);
    let bomb = gif_bomb(4); // within the pixel budget: it is accepted, after a full decode
    let checks = "gifchat_gif_checks_total";
    let outsider = app.client();
    for _ in 0..10 {
        let refused = outsider.upload(&room, "gif", bomb.clone(), "bomb.gif").await;
        assert_eq!(error_code(refused).await, (StatusCode::FORBIDDEN, "not_a_member".into()));
        let nowhere = outsider.upload(&uuid::Uuid::new_v4().to_string(), "gif", bomb.clone(), "bomb.gif").await;
        assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(app.metric(checks).await, 0.0, "nothing refused was decoded");
    assert_eq!(alice.upload(&room, "gif", bomb.clone(), "bomb.gif").await.status(), StatusCode::CREATED);
    assert_eq!(app.metric(checks).await, 1.0);

    // 20 at once by a member: tests/faults/abuse.rs measures the server's memory meanwhile.
    // Over the pixel budget: refused, after decoding no more than the budget.
    let too_big = alice.upload(&room, "gif", gif_bomb(5), "bomb.gif").await;
    assert_eq!(error_code(too_big).await, (StatusCode::UNPROCESSABLE_ENTITY, "invalid_gif".into()));
}

/// Item 7: guesses were limited only by the general write limit, each costing ~19 MiB and
/// ~50 ms of argon2.
async fn wrong_passwords_are_limited_per_room_and_address(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.password_failures_per_minute = 3).await;
    let (_, room) = app.room_with_owner(json!({ "title": "vault", "password": "right one" })).await;
    let room = id_of(&room);
    let (_, other_room) = app.room_with_owner(json!({ "title": "other vault", "password": "other" })).await;
    let other_room = id_of(&other_room);
    let guesser = app.client_from("127.0.0.2");
    for guess in ["a", "b", "c"] {
        let wrong = guesser.join(&room, json!({ "password": guess })).await;
        assert_eq!(error_code(wrong).await, (StatusCode::FORBIDDEN, "wrong_password".into()));
    }
    for password in ["d", "right one"] {
        let refused = guesser.join(&room, json!({ "password": password })).await;
        assert!(refused.headers().get(header::RETRY_AFTER).is_some());
        assert_eq!(error_code(refused).await, (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts".into()));
    }
    // A fresh identity from the same address is the same guesser; and refused guesses cost
    // no hashing (two hashes so far: the two rooms' passwords; then the three wrong ones).
    let again = app.client_from("127.0.0.2").join(&room, json!({ "password": "e" })).await;
    assert_eq!(error_code(again).await, (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts".into()));
    assert_eq!(app.metric("gifchat_password_hashes_total").await, 5.0);
    // Guesses sent all at once are counted as they arrive, not when their hashes finish.
    let crowd: Vec<Client> = (0..8).map(|_| app.client_from("127.0.0.4")).collect();
    let guesses = crowd.iter().enumerate().map(|(n, c)| c.join(&room, json!({ "password": format!("x{n}") })));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(guesses).await.iter().map(|r| r.status()).collect();
    let hashed = statuses.iter().filter(|s| **s == StatusCode::FORBIDDEN).count();
    assert_eq!(hashed, 3, "{statuses:?}");
    assert_eq!(app.metric("gifchat_password_hashes_total").await, 8.0);
    // The room is not locked for others, nor other rooms for the guesser.
    let friend = app.client_from("127.0.0.3");
    assert_eq!(friend.join(&room, json!({ "password": "right one" })).await.status(), StatusCode::OK);
    assert_eq!(guesser.join(&other_room, json!({ "password": "other" })).await.status(), StatusCode::OK);
}

/// Item 11: GIFs were forever and public: served to anyone with the URL, after their room
/// was gone too.
async fn a_locked_rooms_gifs_are_served_only_to_its_readers_and_deleted_with_it(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.gif_sweep_interval = Duration::from_millis(200)).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "private", "password": "pw" })).await;
    let room = id_of(&room);
    let gif = make_gif(16, 16, 2);
    let posted: Value = alice.upload(&room, "gif", gif.clone(), "a.gif").await.json().await.unwrap();
    let url = posted["gif_url"].as_str().unwrap().to_owned();
    assert_eq!(alice.get(&url).await.bytes().await.unwrap().to_vec(), gif);
    let stranger = reqwest::Client::new().get(alice.url(&url)).send().await.unwrap();
    assert_eq!(error_code(stranger).await, (StatusCode::FORBIDDEN, "not_a_member".into()));
    // The same file through another room that never carried it: nothing to learn.
    let (bob, open_room) = app.room_with_owner(json!({ "title": "open" })).await;
    let elsewhere = url.replace(&room, &id_of(&open_room));
    assert_eq!(error_code(bob.get(&elsewhere).await).await, (StatusCode::NOT_FOUND, "not_found".into()));

    assert_eq!(alice.http.delete(alice.url(&format!("/api/rooms/{room}"))).send().await.unwrap().status(), 204);
    assert_eq!(alice.get(&url).await.status(), StatusCode::NOT_FOUND);
    let deadline = tokio::time::Instant::now() + WAIT;
    while stored_gifs(&app).await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the GIF's bytes were deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// GIF rows in the database.
async fn stored_gifs(app: &TestApp) -> i64 {
    use sqlx::Connection;
    if app.database_url.starts_with("postgres") {
        let mut db = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM gifs").fetch_one(&mut db).await.unwrap()
    } else {
        let mut db = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM gifs").fetch_one(&mut db).await.unwrap()
    }
}

/// Item 11: each client address has an upload quota.
async fn uploads_are_limited_by_a_quota_per_address(backend: Backend) {
    let gif = make_gif(64, 64, 3);
    let quota = (gif.len() * 3) as u64;
    let app = spawn_app_with(backend, move |c| c.upload_quota_per_hour = quota).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "quota" })).await;
    let room = id_of(&room);
    let bob = app.client_from("127.0.0.2");
    bob.join_ok(&room).await;
    for _ in 0..3 {
        assert_eq!(bob.upload(&room, "gif", gif.clone(), "a.gif").await.status(), StatusCode::CREATED);
    }
    let refused = bob.upload(&room, "gif", gif.clone(), "a.gif").await;
    let retry_after: u64 = refused.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 60, "the quota refills over the hour: {retry_after}");
    assert_eq!(error_code(refused).await, (StatusCode::TOO_MANY_REQUESTS, "upload_quota".into()));
    assert_eq!(alice.upload(&room, "gif", gif, "a.gif").await.status(), StatusCode::CREATED, "another address");
}

/// Item 16: a non-owner handing a room to themselves was told "you already own this room".
async fn a_non_owner_is_refused_as_one_whoever_they_name(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "mine" })).await;
    let room = id_of(&room);
    let bob = app.client();
    bob.join_ok(&room).await;
    let bob_id = bob.me().await["id"].clone();
    let garbage = [("owner", json!({ "to": "nobody" })), ("kicks", json!({ "user": "nobody" }))];
    for (path, body) in
        [("owner", json!({ "to": bob_id })), ("kicks", json!({ "user": bob_id }))].into_iter().chain(garbage)
    {
        let response = bob.post_json(&format!("/api/rooms/{room}/{path}"), body.clone()).await;
        assert_eq!(error_code(response).await, (StatusCode::FORBIDDEN, "not_owner".into()), "{path}");
    }
    let alice_id = alice.me().await["id"].clone();
    let own = alice.post_json(&format!("/api/rooms/{room}/owner"), json!({ "to": alice_id })).await;
    assert_eq!(error_code(own).await, (StatusCode::UNPROCESSABLE_ENTITY, "invalid_user".into()));
}

/// Item 17: the room list stays bounded however many rooms there are.
async fn the_room_list_comes_in_pages(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let owner = app.client();
    let mut created = Vec::new();
    for i in 0..5 {
        let room: Value = owner.create_room(json!({ "title": format!("room {i}") })).await.json().await.unwrap();
        created.push(id_of(&room));
    }
    let mut listed = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page: Value = owner.get(&format!("/api/rooms{query}")).await.json().await.unwrap();
        let rooms = page["rooms"].as_array().unwrap();
        assert!(rooms.len() <= 2);
        listed.extend(rooms.iter().map(id_of));
        match page["next"].as_str() {
            Some(next) => query = format!("?limit=2&after={next}"),
            None => break,
        }
    }
    // Oldest first; rooms made in the same instant (SQLite keeps milliseconds) in id order.
    let everything: Value = owner.get("/api/rooms").await.json().await.unwrap();
    let in_order: Vec<String> = everything["rooms"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(listed, in_order, "the pages are the whole list, each room once");
    let (mut sorted, mut made) = (listed.clone(), created.clone());
    sorted.sort();
    made.sort();
    assert_eq!(sorted, made);
    assert!(everything.get("next").is_none());
    // A cursor outlives its room: delete the room a page ended on, and the next page is still
    // the rest of the list.
    let first: Value = owner.get("/api/rooms?limit=2").await.json().await.unwrap();
    let next = first["next"].as_str().unwrap().to_owned();
    let ended_on = id_of(&first["rooms"][1]);
    assert_eq!(owner.http.delete(owner.url(&format!("/api/rooms/{ended_on}"))).send().await.unwrap().status(), 204);
    let rest: Value = owner.get(&format!("/api/rooms?after={next}")).await.json().await.unwrap();
    assert_eq!(rest["rooms"].as_array().unwrap().iter().map(id_of).collect::<Vec<_>>(), in_order[2..].to_vec());
    for bad in ["?limit=0", "?limit=201", "?after=nope", &format!("?after={}", uuid::Uuid::new_v4())] {
        assert_eq!(error_code(owner.get(&format!("/api/rooms{bad}")).await).await.1, "invalid_query", "{bad}");
    }
}

/// A viewer's WebSocket sees the room but cannot chat over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_socket_cannot_chat() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "watch only" })).await;
    let room = id_of(&room);
    let url = alice.url(&format!("/api/rooms/{room}/ws")).replace("http://", "ws://");
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    next_frame_named(&mut socket, "members").await;
    use futures_util::SinkExt;
    let chat = json!({ "type": "chat", "text": "let me in", "ref": 1 }).to_string();
    socket.send(tokio_tungstenite::tungstenite::Message::Text(chat.into())).await.unwrap();
    let error = next_frame_named(&mut socket, "error").await;
    assert_eq!(error["data"]["error"], "no_session", "{error}");
    assert!(alice.messages(&room, "").await.iter().all(|m| m["text"] != "let me in"));
}
