//! GIF uploads: the round trip, the headers, delivery over SSE.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{id_of, make_gif, spawn_app, Backend};

crate::on_both_backends!(a_gif_round_trip_returns_identical_bytes, identical_uploads_share_one_stored_file);

async fn a_gif_round_trip_returns_identical_bytes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "gifs" })).await;
    let room = id_of(&room);
    let bob = app.client();
    bob.join_ok(&room).await;
    let mut bob_events = bob.room_events(&room, None).await;
    let gif = make_gif(120, 80, 5);

    let response = alice.upload(&room, "gif", gif.clone(), "../../etc/passwd#?.gif").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["kind"], "gif");
    assert_eq!((message["gif_width"].as_u64(), message["gif_height"].as_u64()), (Some(120), Some(80)));
    let url = message["gif_url"].as_str().unwrap();
    let under_room = format!("/api/rooms/{room}/gifs/");
    assert!(url.starts_with(&under_room) && url.ends_with(".gif") && !url.contains("passwd"), "{url}");
    assert_eq!(bob_events.next_messages(1).await, vec![message.clone()]);

    let served = bob.get(url).await;
    assert_eq!(served.status(), StatusCode::OK);
    let headers = served.headers().clone();
    assert_eq!(headers["content-type"], "image/gif");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "private, max-age=31536000, immutable");
    assert_eq!(served.bytes().await.unwrap().to_vec(), gif, "identical bytes");

    let anonymous = reqwest::Client::new().get(bob.url(url)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::OK, "an open room's GIFs are anyone's to see");
    assert!(anonymous.headers().get("set-cookie").is_none(), "only /api/me hands out identities");
    let etag = headers["etag"].to_str().unwrap();
    let cached = bob.http.get(bob.url(url)).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
}

async fn identical_uploads_share_one_stored_file(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "dedup" })).await;
    let room = id_of(&room);
    let gif = make_gif(10, 10, 1);
    let first: Value = alice.upload(&room, "gif", gif.clone(), "a.gif").await.json().await.unwrap();
    let second: Value = alice.upload(&room, "gif", gif, "b.gif").await.json().await.unwrap();
    assert_eq!(first["gif_url"], second["gif_url"]);
    assert_ne!(first["id"], second["id"], "two messages all the same");
}
