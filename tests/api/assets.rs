//! What travels compressed, what a browser may keep, and what an unknown address answers.

use std::io::Read;

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{id_of, make_gif, spawn_app, Backend};

crate::on_both_backends!(
    pages_and_scripts_travel_compressed_and_are_revalidated_on_every_use,
    event_streams_gifs_and_small_answers_are_left_uncompressed,
    a_page_of_history_travels_compressed_and_api_answers_are_never_stored,
    an_unknown_address_gets_a_page_or_the_apis_json,
);

fn file(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/static/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(body).read_to_end(&mut plain).unwrap(),
        "br" => brotli_decompressor::Decompressor::new(body, 4096).read_to_end(&mut plain).unwrap(),
        other => panic!("unexpected encoding {other}"),
    };
    plain
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> &str {
    response.headers().get(&name).map_or("", |v| v.to_str().unwrap())
}

async fn pages_and_scripts_travel_compressed_and_are_revalidated_on_every_use(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.client();
    let room = uuid::Uuid::new_v4();
    for (path, on_disk, encoding) in [
        ("/room.js", "room.js", "br"),
        ("/app.css", "app.css", "gzip"),
        (&*format!("/rooms/{room}"), "room.html", "br"),
    ] {
        let response =
            client.http.get(client.url(path)).header(header::ACCEPT_ENCODING, encoding).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header_of(&response, header::CONTENT_ENCODING), encoding, "{path}");
        assert!(header_of(&response, header::VARY).to_lowercase().contains("accept-encoding"), "{path}");
        assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-cache", "{path}");
        let last_modified = header_of(&response, header::LAST_MODIFIED).to_owned();
        assert!(!last_modified.is_empty(), "{path} carries a validator");
        let body = response.bytes().await.unwrap();
        let plain = decode(encoding, &body);
        assert_eq!(plain, file(on_disk), "{path} decodes to the file");
        assert!(body.len() * 2 < plain.len(), "{path}: {} bytes for {}", body.len(), plain.len());

        // Asked again with the validator: unchanged, so a 304 without a body.
        let again = client
            .http
            .get(client.url(path))
            .header(header::ACCEPT_ENCODING, encoding)
            .header(header::IF_MODIFIED_SINCE, &last_modified)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());

        // A client that accepts no encoding gets the file as it is.
        let plain_response = client.http.get(client.url(path)).send().await.unwrap();
        assert_eq!(header_of(&plain_response, header::CONTENT_ENCODING), "", "{path}");
        assert_eq!(plain_response.bytes().await.unwrap(), file(on_disk), "{path}");
    }
}

async fn event_streams_gifs_and_small_answers_are_left_uncompressed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "left alone" })).await;
    let room = id_of(&room);
    let accept_all = "gzip, br";

    // The event stream: plain text, event by event, whatever the client accepts.
    let mut stream = alice
        .http
        .get(alice.url(&format!("/api/rooms/{room}/events")))
        .header(header::ACCEPT, "text/event-stream")
        .header(header::ACCEPT_ENCODING, accept_all)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(header_of(&stream, header::CONTENT_ENCODING), "");
    let first = stream.chunk().await.unwrap().expect("the stream's first bytes");
    assert!(String::from_utf8_lossy(&first).contains("retry:"), "plain SSE: {first:?}");

    // A posted message's answer is small: not worth compressing.
    let said = alice
        .http
        .post(alice.url(&format!("/api/rooms/{room}/messages")))
        .header(header::ACCEPT_ENCODING, accept_all)
        .json(&json!({ "text": "hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(said.status(), StatusCode::CREATED);
    assert_eq!(header_of(&said, header::CONTENT_ENCODING), "");

    // A GIF is compressed already, and keeps its own long-lived cache policy.
    let gif = make_gif(200, 200, 3);
    let posted: Value = alice.upload(&room, "gif", gif.clone(), "a.gif").await.json().await.unwrap();
    let url = posted["gif_url"].as_str().unwrap();
    let served = alice.http.get(alice.url(url)).header(header::ACCEPT_ENCODING, accept_all).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(header_of(&served, header::CONTENT_ENCODING), "");
    assert!(header_of(&served, header::CACHE_CONTROL).contains("immutable"));
    assert_eq!(served.bytes().await.unwrap(), gif);
}

async fn a_page_of_history_travels_compressed_and_api_answers_are_never_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "long reads" })).await;
    let room = id_of(&room);
    for n in 0..3 {
        alice.say_ok(&room, &format!("{n} {}", "lorem ipsum ".repeat(70))).await;
    }
    let history = alice
        .http
        .get(alice.url(&format!("/api/rooms/{room}/messages")))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), StatusCode::OK);
    assert_eq!(header_of(&history, header::CONTENT_ENCODING), "gzip");
    assert_eq!(header_of(&history, header::CACHE_CONTROL), "no-store");
    let page: Value = serde_json::from_slice(&decode("gzip", &history.bytes().await.unwrap())).unwrap();
    assert!(page["messages"].as_array().unwrap().len() >= 3, "{page}");

    let me = alice.get("/api/me").await;
    assert_eq!(header_of(&me, header::CACHE_CONTROL), "no-store");
}

async fn an_unknown_address_gets_a_page_or_the_apis_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.client();
    let page = client.get("/no/such/page").await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(header_of(&page, header::CONTENT_TYPE).starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("There is no page here") && html.contains("href=\"/\""), "{html}");

    let api = client.get("/api/no/such/endpoint").await;
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    assert!(header_of(&api, header::CONTENT_TYPE).starts_with("application/json"));
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}
