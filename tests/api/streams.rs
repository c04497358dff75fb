//! Room and lobby streams: live delivery, resume, lag, ordering, deletion.

use std::time::Duration;

use gif_chat::{
    domain::{Message, MessageText, NewMessage, NewMessageBody, RoomId, User, UserId},
    storage::Renewal,
};
use serde_json::json;

use crate::helpers::{id_of, ids, next_socket_messages, spawn_app, spawn_app_with, texts, Backend, TestApp};

crate::on_both_backends!(
    two_subscribers_receive_the_same_chat,
    a_reconnect_with_last_event_id_receives_exactly_the_missed_messages,
    after_query_resumes_like_last_event_id_and_the_header_wins,
    events_published_out_of_order_arrive_in_order,
    a_resume_behind_a_hole_in_recent_messages_reads_up_to_the_head,
    a_stream_without_resume_point_starts_live,
    a_resume_point_from_the_future_gets_resync,
    a_resume_in_a_deleted_room_gets_a_resync_saying_so_and_the_stream_ends,
    deleting_a_room_ends_its_streams_and_tells_the_lobby,
    the_lobby_sees_rooms_appear_and_member_counts_change,
    a_reload_within_the_grace_period_announces_nothing,
    the_last_member_leaving_deletes_the_room_after_the_grace_period,
    sse_responses_have_streaming_headers,
    shutdown_ends_open_streams_and_the_server_exits,
    concurrent_posts_are_numbered_without_gaps_and_delivered_in_order,
    open_streams_keep_their_seats_leased_past_many_leases,
    posting_keeps_a_seat_without_a_stream,
    members_opening_streams_all_at_once_all_get_them,
);

// On one thread: the subscriber's task cannot run while the test publishes a burst, so it
// lags by the whole burst, every time (on two worker threads it could keep pace and the
// test asserted a catch-up that did not happen; CI saw that once). The lag tests subscribe
// over WebSocket: a plain-HTTP SSE socket that keeps up is written by the publisher itself
// and has no channel to lag behind; its own way of falling behind is in `direct_writes.rs`.
crate::on_both_backends!(
    one_thread: a_lagged_subscriber_loses_nothing,
    a_subscriber_lagging_past_what_memory_holds_catches_up_from_storage,
);

async fn two_subscribers_receive_the_same_chat(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "pair" })).await;
    let room = id_of(&room);
    let bob = app.client();
    let mut alice_events = alice.room_events(&room, None).await;
    let mut bob_events = bob.room_events(&room, None).await;

    let sent = alice.say_ok(&room, "hello, both").await;

    // Bob's arrival is announced to Alice first, then the chat reaches both.
    let alice_seen = alice_events.next_messages(2).await;
    assert_eq!(alice_seen[0]["kind"], "system");
    assert_eq!(alice_seen[1], sent);
    assert_eq!(bob_events.next_messages(1).await, vec![sent.clone()]);
    assert_eq!(sent["user"], alice.me().await);
}

async fn a_reconnect_with_last_event_id_receives_exactly_the_missed_messages(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "resume" })).await;
    let room = id_of(&room);
    let mut events = alice.room_events(&room, None).await;
    let first = alice.say_ok(&room, "one").await;
    assert_eq!(events.next_messages(1).await, vec![first.clone()]);
    drop(events);

    let mut missed = Vec::new();
    for text in ["two", "three", "four"] {
        missed.push(alice.say_ok(&room, text).await);
    }
    let mut resumed = alice.room_events(&room, first["id"].as_i64()).await;
    assert_eq!(resumed.next_messages(3).await, missed);
    let live = alice.say_ok(&room, "five").await;
    assert_eq!(resumed.next_messages(1).await, vec![live], "live events follow the replay with no duplicates");
}

async fn after_query_resumes_like_last_event_id_and_the_header_wins(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "after" })).await;
    let room = id_of(&room);
    for text in ["a", "b", "c"] {
        alice.say_ok(&room, text).await;
    }
    // Message 1 is the owner's "joined"; a, b, c are 2, 3, 4.
    let mut by_query = alice.open_stream(&format!("/api/rooms/{room}/events?after=2"), None).await.ok().unwrap();
    assert_eq!(texts(&by_query.next_messages(2).await), ["b", "c"]);
    let mut both = alice.open_stream(&format!("/api/rooms/{room}/events?after=1"), Some(3)).await.ok().unwrap();
    assert_eq!(texts(&both.next_messages(1).await), ["c"]);
}

/// Stores the room owner's chats straight into storage, without publishing them (the tests
/// publish them their own way).
async fn store_unpublished(app: &TestApp, room: &serde_json::Value, chats: &[String]) -> Vec<Message> {
    store_unpublished_up_to(app, room, chats, 100).await
}

pub async fn store_unpublished_up_to(
    app: &TestApp,
    room: &serde_json::Value,
    chats: &[String],
    max_chars: usize,
) -> Vec<Message> {
    let owner = User::new(UserId::parse(room["owner"]["id"].as_str().unwrap()).unwrap(), None);
    let room = RoomId::parse(&id_of(room)).unwrap();
    let batch = chats
        .iter()
        .map(|text| NewMessage {
            room,
            author: owner.clone(),
            body: NewMessageBody::Chat(MessageText::parse(text, max_chars).unwrap()),
        })
        .collect();
    let stored = app.state.store.append_posts(room, batch, Renewal::ahead(Duration::from_secs(60))).await.unwrap();
    stored.into_iter().map(|message| message.expect("the owner holds a seat")).collect()
}

async fn a_lagged_subscriber_loses_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.room_channel_capacity = 2).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "lag" })).await;
    let room_id = id_of(&room);
    let mut socket = alice.socket(&format!("/api/rooms/{room_id}/ws")).await.unwrap();

    // Store 30 messages, then publish them in one synchronous burst: with room for 2 events
    // in the channel and one thread, the subscriber's task cannot run in between and must lag.
    let texts_30: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
    let stored = store_unpublished(&app, &room, &texts_30).await;
    for message in &stored {
        app.state.hub.publish_message(message);
    }

    let received = next_socket_messages(&mut socket, 30).await;
    assert_eq!(texts(&received), (0..30).map(|i| format!("m{i}")).collect::<Vec<_>>());
    let expected: Vec<i64> = stored.iter().map(|m| m.id).collect();
    assert_eq!(ids(&received), expected);
    // From the room's recent messages, not from storage: a big room's lagging subscribers
    // must not each read the same rows again.
    assert!(app.metric(MEMORY_CATCH_UPS).await >= 1.0);
    assert_eq!(app.metric(STORAGE_CATCH_UPS).await, 0.0);
}

const MEMORY_CATCH_UPS: &str = "gifchat_catch_up_reads_total{from=\"memory\"}";
const STORAGE_CATCH_UPS: &str = "gifchat_catch_up_reads_total{from=\"storage\"}";

async fn a_subscriber_lagging_past_what_memory_holds_catches_up_from_storage(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.room_channel_capacity = 2).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "long lag" })).await;
    let room_id = id_of(&room);
    let mut socket = alice.socket(&format!("/api/rooms/{room_id}/ws")).await.unwrap();

    // More than a room keeps in memory (4,096 messages), published in one synchronous burst.
    let count = 4_300;
    let texts_all: Vec<String> = (0..count).map(|i| format!("m{i}")).collect();
    let mut stored = Vec::new();
    for chunk in texts_all.chunks(200) {
        stored.extend(store_unpublished(&app, &room, chunk).await);
    }
    for message in &stored {
        app.state.hub.publish_message(message);
    }

    let received = next_socket_messages(&mut socket, count).await;
    assert_eq!(texts(&received), texts_all);
    assert_eq!(ids(&received), stored.iter().map(|m| m.id).collect::<Vec<_>>());
    assert!(app.metric(STORAGE_CATCH_UPS).await >= 1.0, "the oldest were no longer in memory");
    assert!(app.metric(MEMORY_CATCH_UPS).await >= 1.0, "the newest were");
}

async fn events_published_out_of_order_arrive_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "order" })).await;
    let room_id = id_of(&room);
    let mut events = alice.room_events(&room_id, None).await;
    let stored = store_unpublished(&app, &room, &["first".to_owned(), "second".to_owned()]).await;
    // Two writers committed in order but the second published first.
    app.state.hub.publish_message(&stored[1]);
    app.state.hub.publish_message(&stored[0]);

    assert_eq!(texts(&events.next_messages(2).await), ["first", "second"]);
    let next = alice.say_ok(&room_id, "third").await;
    assert_eq!(events.next_messages(1).await, vec![next], "no duplicate of the late publish");
}

/// The room's recent messages have a hole (the middle message is committed, not yet
/// published) below a message published before the stream opened: a resume reads up to the
/// room's head from storage, not just the gapless run before the hole.
async fn a_resume_behind_a_hole_in_recent_messages_reads_up_to_the_head(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "hole" })).await;
    let room_id = id_of(&room);
    // Someone holds the room's channel open, so what is published is kept in memory.
    let _watcher = alice.room_events(&room_id, None).await;
    let texts_3: Vec<String> = ["one", "two", "three"].map(String::from).to_vec();
    let stored = store_unpublished(&app, &room, &texts_3).await;
    app.state.hub.publish_message(&stored[0]);
    app.state.hub.publish_message(&stored[2]);
    let mut resumed = alice.room_events(&room_id, Some(stored[0].id - 1)).await;
    assert_eq!(texts(&resumed.next_messages(3).await), texts_3);
    app.state.hub.publish_message(&stored[1]);
    let next = alice.say_ok(&room_id, "four").await;
    assert_eq!(resumed.next_messages(1).await, vec![next], "no duplicate of the late publish");
}

async fn a_stream_without_resume_point_starts_live(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "live" })).await;
    let room = id_of(&room);
    alice.say_ok(&room, "old").await;
    let mut events = alice.room_events(&room, None).await;
    alice.say_ok(&room, "new").await;
    assert_eq!(texts(&events.next_messages(1).await), ["new"]);
}

async fn a_resume_point_from_the_future_gets_resync(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "future" })).await;
    let room = id_of(&room);
    let mut events = alice.room_events(&room, Some(999)).await;
    let resync = events.next_named("resync").await;
    let data: serde_json::Value = serde_json::from_str(&resync.data).unwrap();
    assert_eq!(data, json!({ "reason": "ahead_of_room", "last_id": 1, "requested": 999 }));
    alice.say_ok(&room, "after resync").await;
    assert_eq!(texts(&events.next_messages(1).await), ["after resync"]);
}

async fn a_resume_in_a_deleted_room_gets_a_resync_saying_so_and_the_stream_ends(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "gone" })).await;
    let room = id_of(&room);
    let mut events = alice.room_events(&room, None).await;
    let last = alice.say_ok(&room, "last words").await;
    assert_eq!(events.next_messages(1).await, vec![last.clone()]);
    let deleted = alice.http.delete(alice.url(&format!("/api/rooms/{room}"))).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(events.until_end().await.contains(&"room-deleted".to_owned()));

    // The browser was away when the room went; EventSource reconnects with its last id.
    let url = alice.url(&format!("/api/rooms/{room}/events"));
    let last_id = last["id"].to_string();
    let by_header = alice.http.get(&url).header("last-event-id", &last_id).send();
    let by_query = alice.http.get(format!("{url}?after={last_id}")).send();
    for response in [by_header.await.unwrap(), by_query.await.unwrap()] {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let body = tokio::time::timeout(crate::helpers::WAIT, response.text()).await.expect("the stream ends").unwrap();
        let resync = format!("event: resync\ndata: {{\"reason\":\"room_gone\",\"room\":\"{room}\"}}\n\n");
        assert_eq!(body, format!("retry: 3600000\n\n{resync}"), "a long retry hint, the resync, and the end");
    }

    // Without a resume point the client never saw the room: a plain 404.
    let fresh = alice.open_stream(&format!("/api/rooms/{room}/events"), None).await.err().expect("refused");
    assert_eq!(fresh.status(), 404);
    assert_eq!(fresh.json::<serde_json::Value>().await.unwrap()["error"], "room_not_found");
}

async fn deleting_a_room_ends_its_streams_and_tells_the_lobby(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "doomed" })).await;
    let room = id_of(&room);
    let bob = app.client();
    let mut room_events = bob.room_events(&room, None).await;
    let mut lobby = app.client().lobby_events().await;
    lobby.next_named("rooms").await;

    let response = alice.http.delete(alice.url(&format!("/api/rooms/{room}"))).send().await.unwrap();
    assert_eq!(response.status(), 204);

    let deleted = room_events.next_named("room-deleted").await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&deleted.data).unwrap()["id"], room.as_str());
    assert!(room_events.next().await.is_none(), "the room stream ends after room-deleted");
    let lobby_deleted = lobby.next_named("room-deleted").await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&lobby_deleted.data).unwrap()["id"], room.as_str());
    assert_eq!(alice.get(&format!("/api/rooms/{room}")).await.status(), 404);
}

async fn the_lobby_sees_rooms_appear_and_member_counts_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let watcher = app.client();
    let mut lobby = watcher.lobby_events().await;
    let initial = lobby.next_named("rooms").await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&initial.data).unwrap(), json!({ "rooms": [] }));

    let (_alice, room) = app.room_with_owner(json!({ "title": "visible", "password": "secret" })).await;
    let created: serde_json::Value = serde_json::from_str(&lobby.next_named("room-created").await.data).unwrap();
    assert_eq!(created, room);
    assert_eq!(created["members"], 1);
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());

    let bob = app.client();
    assert_eq!(bob.join(&id_of(&room), json!({ "password": "secret" })).await.status(), 200);
    let updated: serde_json::Value = serde_json::from_str(&lobby.next_named("room-updated").await.data).unwrap();
    assert_eq!(updated["id"], room["id"]);
    assert_eq!(updated["members"], 2);
}

async fn a_reload_within_the_grace_period_announces_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.presence_grace = Duration::from_secs(2)).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "reload" })).await;
    let room = id_of(&room);
    let bob = app.client();
    let mut alice_events = alice.room_events(&room, None).await;
    let bob_first = bob.room_events(&room, None).await;
    let joined = alice_events.next_messages(1).await;
    assert_eq!(joined[0]["kind"], "system");
    // Bob has two tabs, closes one and reloads it: still one member, no leave, no re-join.
    let bob_second = bob.room_events(&room, None).await;
    drop(bob_first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(bob_second);
    let _bob_reloaded = bob.room_events(&room, None).await;
    tokio::time::sleep(Duration::from_millis(2500)).await; // past the grace period
    let said = alice.say_ok(&room, "still here?").await;
    assert_eq!(alice_events.next_messages(1).await, vec![said], "no join or leave was announced");
    let room_now: serde_json::Value = alice.get(&format!("/api/rooms/{room}")).await.json().await.unwrap();
    assert_eq!(room_now["members"], 2);
}

async fn the_last_member_leaving_deletes_the_room_after_the_grace_period(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.presence_grace = Duration::from_millis(500)).await;
    let mut lobby = app.client().lobby_events().await;
    let (alice, room) = app.room_with_owner(json!({ "title": "brief" })).await;
    let room = id_of(&room);
    let bob = app.client();
    let alice_stream = alice.room_events(&room, None).await;
    let mut bob_events = bob.room_events(&room, None).await;

    drop(alice_stream);
    let left = bob_events.next_messages(1).await;
    assert_eq!(left[0]["kind"], "system");
    assert_eq!(left[0]["user"]["id"], alice.me().await["id"]);
    assert!(left[0]["text"].as_str().unwrap().contains("left"));

    drop(bob_events);
    let deleted = lobby.next_named("room-deleted").await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&deleted.data).unwrap()["id"], room.as_str());
    assert_eq!(bob.get(&format!("/api/rooms/{room}")).await.status(), 404);
}

async fn sse_responses_have_streaming_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "headers" })).await;
    for path in [format!("/api/rooms/{}/events", id_of(&room)), "/api/lobby/events".to_owned()] {
        let response = alice.http.get(alice.url(&path)).header("accept-encoding", "gzip, br").send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["content-type"], "text/event-stream");
        assert_eq!(headers["cache-control"], "no-cache");
        assert_eq!(headers["x-accel-buffering"], "no");
        assert!(headers.get("content-encoding").is_none(), "event streams are never compressed");
        let mut body = response.bytes_stream();
        let first = tokio::time::timeout(crate::helpers::WAIT, futures_util::StreamExt::next(&mut body))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(first.starts_with(b"retry: "), "{first:?}");
    }
    // Over plain HTTP/1 the stream leaves hyper after its head (src/server/handoff.rs): a
    // close-delimited body, which HTTP/1 can only frame as a 1.0 response.
    let response = alice.http.get(alice.url("/api/lobby/events")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_10);
    assert_eq!(response.headers()["connection"], "close");
    assert!(response.headers().get("transfer-encoding").is_none());

    // HEAD gets the head only, and the connection goes on to serve the next request.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&host).await.unwrap();
    let requests = format!(
        "HEAD /api/lobby/events HTTP/1.1\r\nHost: {host}\r\n\r\nGET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(requests.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(crate::helpers::WAIT, socket.read_to_end(&mut answer)).await.expect("both answers").unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let (head, rest) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("text/event-stream"), "{head}");
    assert!(rest.starts_with("HTTP/1.1 200"), "no body after the HEAD answer, then /healthz: {rest:?}");

    // A request that also offers an upgrade (curl --http2 sends `Upgrade: h2c`) is streamed by
    // hyper as before: the events must come, not a head and a closed connection.
    let mut socket = tokio::net::TcpStream::connect(&host).await.unwrap();
    let request = format!(
        "GET /api/lobby/events HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade, HTTP2-Settings\r\n\
         Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0; 1024];
    while !String::from_utf8_lossy(&seen).contains("event: rooms") {
        let n =
            tokio::time::timeout(crate::helpers::WAIT, socket.read(&mut chunk)).await.expect("events in time").unwrap();
        assert!(n > 0, "the stream ended after {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&chunk[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
}

async fn shutdown_ends_open_streams_and_the_server_exits(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "closing time" })).await;
    let mut room_events = alice.room_events(&id_of(&room), None).await;
    let mut lobby = alice.lobby_events().await;
    lobby.next_named("rooms").await;

    app.stop().await;

    // Each ends (within the helper's time limit) once what was already queued is out.
    room_events.until_end().await;
    lobby.until_end().await;
}

/// Many posters at once (group commit writes them in shared batches): every 201 is stored,
/// the ids are consecutive, and a subscriber and the history see them in the same order.
async fn concurrent_posts_are_numbered_without_gaps_and_delivered_in_order(backend: Backend) {
    const POSTERS: usize = 6;
    const EACH: usize = 20; // under the default write burst of one session
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "crowd" })).await;
    let room = id_of(&room);
    let posters: Vec<_> = (0..POSTERS).map(|_| app.client()).collect();
    for poster in &posters {
        poster.join_ok(&room).await;
    }
    let mut events = alice.room_events(&room, None).await;
    let head = alice.messages(&room, "").await.last().unwrap()["id"].as_i64().unwrap();

    // A stranger posting among them shares their batches and is refused alone.
    let stranger = app.client();
    let refused = async {
        for n in 0..EACH {
            let response = stranger.say(&room, &format!("stranger #{n}")).await;
            assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);
        }
    };
    let (sent, ()) = tokio::join!(
        futures_util::future::join_all(posters.iter().enumerate().map(|(p, poster)| {
            let room = room.clone();
            async move {
                let mut sent = Vec::new();
                for n in 0..EACH {
                    sent.push(poster.say_ok(&room, &format!("poster {p} #{n}")).await);
                }
                sent
            }
        })),
        refused
    );

    let mut all: Vec<_> = sent.into_iter().flatten().collect();
    all.sort_by_key(|m| m["id"].as_i64().unwrap());
    let expected: Vec<i64> = (head + 1..=head + (POSTERS * EACH) as i64).collect();
    assert_eq!(ids(&all), expected, "consecutive ids, one per 201");
    assert_eq!(events.next_messages(all.len()).await, all, "delivered once each, in id order");
    let history = alice.messages(&room, &format!("?after={head}&limit=200")).await;
    assert_eq!(history, all, "stored exactly as acknowledged");

    let metrics = alice.get("/metrics").await.text().await.unwrap();
    let value = |name: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (stored, batches) = (value("gifchat_batched_messages_total"), value("gifchat_write_seconds_count"));
    assert_eq!(stored, (POSTERS * EACH) as f64, "every acknowledged post went through a batch");
    assert!((1.0..=stored).contains(&batches), "{batches} batches for {stored} posts");
}

/// The heartbeat renews the seats of open streams: with a lease of 0.6 s, two members stay for
/// several leases (no "left", no deletion), and a member whose stream closes does leave.
async fn open_streams_keep_their_seats_leased_past_many_leases(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.presence_lease = Duration::from_millis(600);
        c.presence_grace = Duration::from_millis(300);
        c.reap_interval = Duration::from_millis(100);
    })
    .await;
    let (alice, room) = app.room_with_owner(json!({ "title": "lease" })).await;
    let room = id_of(&room);
    let bob = app.client();
    let mut alice_events = alice.room_events(&room, None).await;
    let bob_events = bob.room_events(&room, None).await;
    assert_eq!(alice_events.next_messages(1).await[0]["change"], "joined");

    tokio::time::sleep(Duration::from_millis(2500)).await; // four leases
    let room_now: serde_json::Value = alice.get(&format!("/api/rooms/{room}")).await.json().await.unwrap();
    assert_eq!(room_now["members"], 2, "both seats renewed while their streams stayed open");
    let said = bob.say_ok(&room, "still here").await;
    assert_eq!(alice_events.next_messages(1).await, vec![said], "no one left in between");

    drop(bob_events);
    let left = alice_events.next_messages(1).await;
    assert_eq!(left[0]["change"], "left");
}

/// A member with no stream open who keeps posting keeps their seat well past the grace period
/// (each post renews a seat that has used up half of it); once they stop, they leave.
async fn posting_keeps_a_seat_without_a_stream(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.presence_grace = Duration::from_millis(600);
        c.reap_interval = Duration::from_millis(50);
    })
    .await;
    let (alice, room) = app.room_with_owner(json!({ "title": "talker" })).await;
    let room = id_of(&room);
    let mut alice_events = alice.room_events(&room, None).await;
    let bob = app.client();
    bob.join_ok(&room).await;
    assert_eq!(alice_events.next_messages(1).await[0]["change"], "joined");

    let mut said = Vec::new();
    for n in 0..10 {
        said.push(bob.say_ok(&room, &format!("still talking #{n}")).await); // 2 s: over three graces
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(alice_events.next_messages(said.len()).await, said, "no leave among the chats");
    let left = alice_events.next_messages(1).await;
    assert_eq!((&left[0]["change"], &left[0]["user"]["id"]), (&json!("left"), &bob.me().await["id"]));
}

/// Forty members who joined (a seat for the grace period) open their streams at the same
/// moment, each renewing the seat to a stream's longer lease. A renewal once held its read
/// connection while asking for a write one: on PostgreSQL's single pool, sixteen at once
/// waited on each other until the pool timed out and the streams got 503s.
async fn members_opening_streams_all_at_once_all_get_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_owner, room) = app.room_with_owner(json!({ "title": "rush", "max": 50 })).await;
    let room = id_of(&room);
    let mut members = Vec::new();
    for _ in 0..40 {
        let member = app.client();
        member.join_ok(&room).await;
        members.push(member);
    }
    let path = format!("/api/rooms/{room}/events");
    let opened = futures_util::future::join_all(members.iter().map(|member| member.open_stream(&path, None))).await;
    let refused: Vec<_> = opened.iter().filter_map(|stream| stream.as_ref().err()).map(|r| r.status()).collect();
    assert!(refused.is_empty(), "every stream opens: {refused:?}");
}
