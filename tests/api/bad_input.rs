//! Every kind of bad input gets a clear 4xx in our JSON envelope and changes nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{id_of, make_gif, spawn_app, spawn_app_with, Backend, Client};

crate::on_both_backends!(
    bad_json_bodies_are_refused_with_clear_errors,
    bad_room_fields_are_refused,
    unknown_and_garbage_room_ids_are_404,
    empty_whitespace_and_huge_messages_are_refused,
    uploads_that_are_not_gifs_are_refused,
    broken_and_oversized_gifs_are_refused,
    forms_without_the_gif_field_are_refused,
    unknown_api_paths_and_methods_get_json_errors,
    cross_site_writes_are_refused,
    a_flooding_session_is_rate_limited_without_hurting_others,
    half_open_connections_are_closed_after_the_header_timeout,
);

/// Asserts status and error code, and that the body is our envelope.
async fn assert_error(response: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status, "expected {code}");
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

async fn message_count(client: &Client, room: &str) -> usize {
    client.messages(room, "?limit=200").await.len()
}

async fn bad_json_bodies_are_refused_with_clear_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "json" })).await;
    let room = id_of(&room);
    let path = alice.url(&format!("/api/rooms/{room}/messages"));
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = alice.http.post(&path).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send()
    };
    assert_error(send("{\"text\": ", Some("application/json")).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_json")
        .await;
    assert_error(
        send("{\"text\": \"hi\"}", None).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        send("text=hi", Some("application/x-www-form-urlencoded")).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        send("{\"text\": 5}", Some("application/json")).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    assert_error(
        send("\"hello\"", Some("application/json")).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    assert_error(send("{}", Some("application/json")).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_text")
        .await;
    // serde would fill the struct from an array, field by field; the contract says object.
    let array = send(r#"["hello"]"#, Some("application/json")).await.unwrap();
    assert_error(array, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let escape = send(r#"{"text": "\u001b[31mred"}"#, Some("application/json")).await.unwrap();
    assert_error(escape, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    let join = alice
        .http
        .post(alice.url(&format!("/api/rooms/{room}/join")))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_error(join, StatusCode::BAD_REQUEST, "invalid_json").await;
    let join = alice.http.post(alice.url(&format!("/api/rooms/{room}/join"))).body("password=x").send().await.unwrap();
    assert_error(join, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    assert_eq!(message_count(&alice, &room).await, 1, "only the owner's joined message");
}

async fn bad_room_fields_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.client();
    let cases = [
        (json!({}), "invalid_title"),
        (json!({ "title": "   " }), "invalid_title"),
        (json!({ "title": "t".repeat(101) }), "invalid_title"),
        (json!({ "title": "ok", "max": 1 }), "invalid_max"),
        (json!({ "title": "ok", "max": 0 }), "invalid_max"),
        (json!({ "title": "ok", "max": -5 }), "invalid_max"),
        (json!({ "title": "ok", "max": 2.5 }), "invalid_max"),
        (json!({ "title": "ok", "max": "10" }), "invalid_max"),
        (json!({ "title": "ok", "max": 1_000_000_000_000i64 }), "invalid_max"),
        (json!({ "title": "ok", "password": "p".repeat(129) }), "invalid_password"),
        (json!({ "title": "a\u{18}b" }), "invalid_title"),
        (json!(["cats", 10, "pw"]), "invalid_body"),
    ];
    for (body, code) in cases {
        assert_error(client.create_room(body).await, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let listed: Value = client.get("/api/rooms").await.json().await.unwrap();
    assert_eq!(listed["rooms"], json!([]), "nothing was created");
}

async fn unknown_and_garbage_room_ids_are_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.client();
    let unknown = uuid::Uuid::new_v4().to_string();
    for id in [unknown.as_str(), "garbage", "1", "%00", "..%2F..%2Fetc", "'; DROP TABLE rooms; --"] {
        let id = id.replace(' ', "%20");
        for response in [
            client.get(&format!("/api/rooms/{id}")).await,
            client.get(&format!("/api/rooms/{id}/messages")).await,
            client.get(&format!("/api/rooms/{id}/events")).await,
            client.say(&id, "hello?").await,
            client.join(&id, json!({})).await,
            client.upload(&id, "gif", make_gif(2, 2, 1), "a.gif").await,
            client.http.delete(client.url(&format!("/api/rooms/{id}"))).send().await.unwrap(),
        ] {
            assert_error(response, StatusCode::NOT_FOUND, "room_not_found").await;
        }
    }
}

async fn empty_whitespace_and_huge_messages_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "sizes" })).await;
    let room = id_of(&room);
    for text in ["", "   ", "\n\t "] {
        assert_error(alice.say(&room, text).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    }
    assert_error(alice.say(&room, &"x".repeat(1001)).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    // A 10 MiB message, sent the way curl sends large bodies (`Expect: 100-continue`): the
    // server answers 413 before the body is sent at all.
    let (status, body) = expect_continue_post(
        &app.address,
        &format!("/api/rooms/{room}/messages"),
        "application/json",
        10 * 1024 * 1024,
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "payload_too_large");
    // Exactly at the limit, counted in characters, not bytes.
    alice.say_ok(&room, &"é".repeat(1000)).await;
    assert_eq!(message_count(&alice, &room).await, 2);
}

async fn uploads_that_are_not_gifs_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "uploads" })).await;
    let room = id_of(&room);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    assert_error(alice.upload(&room, "gif", png, "cat.gif").await, StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_a_gif")
        .await;
    assert_error(
        alice.upload(&room, "gif", b"just text".to_vec(), "notes.gif").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "not_a_gif",
    )
    .await;
    assert_error(
        alice.upload(&room, "gif", b"<svg onload=alert(1)>".to_vec(), "x.gif").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "not_a_gif",
    )
    .await;
    let not_multipart = alice
        .http
        .post(alice.url(&format!("/api/rooms/{room}/gifs")))
        .header("content-type", "image/gif")
        .body(make_gif(2, 2, 1))
        .send()
        .await
        .unwrap();
    assert_error(not_multipart, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    assert_eq!(message_count(&alice, &room).await, 1);
}

async fn broken_and_oversized_gifs_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "broken" })).await;
    let room = id_of(&room);
    let gif = make_gif(64, 64, 3);
    assert_error(
        alice.upload(&room, "gif", gif[..gif.len() / 2].to_vec(), "cut.gif").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_gif",
    )
    .await;
    assert_error(
        alice.upload(&room, "gif", gif[..6].to_vec(), "header.gif").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_gif",
    )
    .await;
    let huge_canvas = make_gif(4097, 1, 1);
    assert_error(
        alice.upload(&room, "gif", huge_canvas, "wide.gif").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_gif",
    )
    .await;
    let mut oversized = make_gif(2, 2, 1);
    oversized.resize(5 * 1024 * 1024 + 1, 0);
    assert_error(
        alice.upload(&room, "gif", oversized, "big.gif").await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let path = format!("/api/rooms/{room}/gifs");
    let (status, body) =
        expect_continue_post(&app.address, &path, "multipart/form-data; boundary=x", 20 * 1024 * 1024).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(message_count(&alice, &room).await, 1);
}

async fn forms_without_the_gif_field_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "fields" })).await;
    let room = id_of(&room);
    assert_error(
        alice.upload(&room, "image", make_gif(2, 2, 1), "a.gif").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing_file",
    )
    .await;
    let empty_form = reqwest::multipart::Form::new().text("note", "no file here");
    let response =
        alice.http.post(alice.url(&format!("/api/rooms/{room}/gifs"))).multipart(empty_form).send().await.unwrap();
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "missing_file").await;
    assert_eq!(message_count(&alice, &room).await, 1);
}

async fn unknown_api_paths_and_methods_get_json_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.client();
    assert_error(client.get("/api/nope").await, StatusCode::NOT_FOUND, "not_found").await;
    let put = client.http.put(client.url("/api/rooms")).send().await.unwrap();
    assert_error(put, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let (_, room) = app.room_with_owner(json!({ "title": "no gifs here" })).await;
    let room = id_of(&room);
    for file in ["not-a-hash.gif".to_owned(), format!("{}.gif", "0".repeat(64))] {
        let response = client.get(&format!("/api/rooms/{room}/gifs/{file}")).await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let response = client.get(&format!("/api/rooms/garbage/gifs/{}.gif", "0".repeat(64))).await;
    assert_error(response, StatusCode::NOT_FOUND, "room_not_found").await;
}

async fn cross_site_writes_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.client();
    client.ensure_session().await;
    let forged = client
        .http
        .post(client.url("/api/rooms"))
        .header("origin", "https://evil.example")
        .json(&json!({ "title": "csrf" }))
        .send()
        .await
        .unwrap();
    assert_error(forged, StatusCode::FORBIDDEN, "cross_origin").await;
    let fetch_meta = client
        .http
        .post(client.url("/api/rooms"))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({ "title": "csrf" }))
        .send()
        .await
        .unwrap();
    assert_error(fetch_meta, StatusCode::FORBIDDEN, "cross_origin").await;
    let same_origin = client
        .http
        .post(client.url("/api/rooms"))
        .header("origin", &client.base)
        .json(&json!({ "title": "fine" }))
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), StatusCode::CREATED);
    let listed: Value = client.get("/api/rooms").await.json().await.unwrap();
    assert_eq!(listed["rooms"].as_array().unwrap().len(), 1);
}

/// POSTs a body of `length` bytes with `Expect: 100-continue`, sending the body only if
/// the server says to continue. Returns the final status and body.
async fn expect_continue_post(address: &str, path: &str, content_type: &str, length: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(crate::helpers::WAIT, stream.read_to_end(&mut response)).await.expect("an answer").unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    assert!(!text.starts_with("HTTP/1.1 100"), "the server asked for the oversized body: {text}");
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

async fn a_flooding_session_is_rate_limited_without_hurting_others(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.rate_limit_burst = 4;
        c.rate_limit_per_second = 0.2;
    })
    .await;
    let (alice, room) = app.room_with_owner(json!({ "title": "flood" })).await; // one write
    let room = id_of(&room);
    for i in 0..3 {
        alice.say_ok(&room, &format!("ok {i}")).await;
    }
    let refused = alice.say(&room, "one too many").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry_after), "{retry_after}");
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let bob = app.client();
    bob.join_ok(&room).await;
    bob.say_ok(&room, "others still get through").await;
    assert_eq!(message_count(&alice, &room).await, 6, "joined, 3 chats, bob joined, bob's chat");
    assert!(alice.get("/api/me").await.status().is_success(), "reads are not limited");
}

async fn half_open_connections_are_closed_after_the_header_timeout(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(backend, |c| c.header_read_timeout = std::time::Duration::from_millis(500)).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "slowloris" })).await;
    let room = id_of(&room);
    let mut stream = alice.room_events(&room, None).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut stalled = Vec::new();
    for _ in 0..100 {
        let mut socket = tokio::net::TcpStream::connect(&host).await.unwrap();
        socket.write_all(b"GET /api/rooms HTTP/1.1\r\nHost: x\r\n").await.unwrap(); // never finished
        stalled.push(socket);
    }
    // The server still answers others meanwhile.
    assert_eq!(alice.get("/api/rooms").await.status(), StatusCode::OK);
    for mut socket in stalled {
        let mut buf = Vec::new();
        let closed = tokio::time::timeout(crate::helpers::WAIT, socket.read_to_end(&mut buf)).await;
        assert!(closed.is_ok(), "a half-open connection was left open");
    }
    // An event stream idle longer than the header timeout is not a half-open connection.
    // (Idle keep-alive connections are closed by the same timeout, so post on a new one.)
    let fresh =
        reqwest::Client::builder().cookie_provider(alice.jar.clone()).pool_max_idle_per_host(0).build().unwrap();
    let alice = crate::helpers::Client::with(fresh, alice.base.clone(), alice.jar.clone());
    let sent = alice.say_ok(&room, "still streaming").await;
    assert_eq!(stream.next_messages(1).await, vec![sent]);
}

/// Issue 13, item 9: a POST announcing 60,000 bytes that sent 10 and then nothing stayed open
/// past 45 s (uploads too). Now a stalled body gets 408 and its connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_body_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(Backend::Sqlite, |c| c.body_read_timeout = std::time::Duration::from_millis(500)).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "slow bodies" })).await;
    let room = id_of(&room);
    use reqwest::cookie::CookieStore;
    let cookie = alice.jar.cookies(&alice.base.parse().unwrap()).unwrap();
    let host = app.address.trim_start_matches("http://").to_owned();
    for (path, content_type) in [
        ("/api/rooms".to_owned(), "application/json"),
        (format!("/api/rooms/{room}/gifs"), "multipart/form-data; boundary=X"),
    ] {
        let mut socket = tokio::net::TcpStream::connect(&host).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\nContent-Type: {content_type}\r\nContent-Length: 60000\r\n\r\n",
            cookie.to_str().unwrap()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(if path == "/api/rooms" { b"{\"title\":" } else { b"--X\r\nConte" }).await.unwrap();
        let started = std::time::Instant::now();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(crate::helpers::WAIT, socket.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "{path}: the stalled request was left open");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("\"error\":\"body_timeout\""), "{path}: {answer}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{path}: {:?}", started.elapsed());
    }
}

/// Issue 13, items 14 and 15: invisible and direction-changing characters in names and titles
/// (impersonation, scrambled text); an oversized join body answered 413 in plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_characters_are_refused_in_names_and_titles_and_a_huge_join_body_gets_json() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = app.client();
    for name in ["B\u{200B}ob", "\u{202E}nimda", "Bo\u{2066}b\u{2069}", "\u{FEFF}Ann"] {
        let response = client.http.patch(client.url("/api/me")).json(&json!({ "name": name })).send().await.unwrap();
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
    }
    let emoji = client.http.patch(client.url("/api/me")).json(&json!({ "name": "👩\u{200D}👩\u{200D}👧 Fam" }));
    assert_eq!(emoji.send().await.unwrap().status(), StatusCode::OK, "an emoji sequence is fine");
    assert_error(
        client.create_room(json!({ "title": "\u{202E}txt.exe" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_title",
    )
    .await;
    let room: Value = client.create_room(json!({ "title": "bidi" })).await.json().await.unwrap();
    let room = id_of(&room);
    // In chat text they are kept (the page isolates each message's text).
    assert_eq!(client.say_ok(&room, "abc \u{202E}def").await["text"], "abc \u{202E}def");

    let huge = client
        .http
        .post(client.url(&format!("/api/rooms/{room}/join")))
        .header("content-type", "application/json")
        .body(format!("{{\"password\": \"{}\"}}", "x".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_error(huge, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}
