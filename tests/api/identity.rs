//! Anonymous identity through the signed session cookie.

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use gif_chat::domain::hue_of_color;

use crate::helpers::{spawn_app, Backend};

crate::on_both_backends!(
    behind_a_tls_proxy_cookies_can_be_marked_secure,
    the_first_request_gets_a_signed_http_only_cookie_and_keeps_its_identity,
    a_nickname_can_be_set_and_is_validated,
    a_forged_or_tampered_cookie_gets_a_fresh_identity,
    people_who_arrive_one_after_another_get_far_apart_colours,
);

async fn people_who_arrive_one_after_another_get_far_apart_colours(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut hues = Vec::new();
    for _ in 0..8 {
        let me = app.client().me().await;
        hues.push(hue_of_color(me["color"].as_str().unwrap()).expect("a #rrggbb colour"));
    }
    // Hashed colours landed anywhere: three of a room's first users in similar purples. Eight
    // random hues all 24° apart happen about once in 300 tries; the golden angle gives 32°.
    for (i, a) in hues.iter().enumerate() {
        for b in &hues[i + 1..] {
            let apart = (a - b).abs().min(360.0 - (a - b).abs());
            assert!(apart > 24.0, "hues too close: {hues:?}");
        }
    }
}

async fn the_first_request_gets_a_signed_http_only_cookie_and_keeps_its_identity(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.client();
    let response = client.get("/api/me").await;
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("gif_chat_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["name"], me["color"], "the colour is the default name");
    let color = me["color"].as_str().unwrap();
    assert!(color.len() == 7 && color.starts_with('#'));

    let again = client.get("/api/me").await;
    assert!(again.headers().get(header::SET_COOKIE).is_none(), "a known session is not re-issued");
    assert_eq!(again.json::<Value>().await.unwrap(), me);
    assert_ne!(app.client().me().await["id"], me["id"], "another browser is another user");
}

async fn a_nickname_can_be_set_and_is_validated(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.client();
    let before = client.me().await;
    let renamed = client.http.patch(client.url("/api/me")).json(&json!({ "name": "  Zoë  " })).send().await.unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    let after: Value = renamed.json().await.unwrap();
    assert_eq!(after["name"], "Zoë");
    assert_eq!((&after["id"], &after["color"]), (&before["id"], &before["color"]));
    assert_eq!(client.me().await, after, "the new name sticks");
    for bad in [json!({ "name": "" }), json!({ "name": "   " }), json!({ "name": "x".repeat(33) }), json!({})] {
        let response = client.http.patch(client.url("/api/me")).json(&bad).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_name");
    }
    assert_eq!(client.me().await, after);
}

async fn a_forged_or_tampered_cookie_gets_a_fresh_identity(backend: Backend) {
    let app = spawn_app(backend).await;
    let victim = app.client();
    let victim_me = victim.me().await;
    let plain = reqwest::Client::new();
    let url = victim.url("/api/me");
    let genuine = plain.get(&url).send().await.unwrap().headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    let genuine_value = genuine.split(';').next().unwrap().trim_start_matches("gif_chat_session=").to_owned();
    // The cookie crate's signed value: a 44-character base64 HMAC-SHA256 digest, then the payload.
    let (tag, payload) = genuine_value.split_at(44);

    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let forged_payload = b64.encode(format!(r#"{{"id":"{}"}}"#, victim_me["id"].as_str().unwrap()));
    for forged in [
        format!("{tag}{forged_payload}"),
        format!("{}{payload}", "A".repeat(tag.len())),
        "garbage".to_owned(),
        forged_payload.clone(),
    ] {
        let response =
            plain.get(&url).header(header::COOKIE, format!("gif_chat_session={forged}")).send().await.unwrap();
        assert!(response.headers().get(header::SET_COOKIE).is_some(), "a fresh cookie replaces the bad one");
        let me: Value = response.json().await.unwrap();
        assert_ne!(me["id"], victim_me["id"], "never someone else's identity");
    }
}

async fn behind_a_tls_proxy_cookies_can_be_marked_secure(backend: Backend) {
    let plain = spawn_app(backend).await;
    let cookie = plain.client().get("/api/me").await.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(!cookie.contains("Secure"), "plain HTTP by default: a Secure cookie would never come back");
    let proxied = crate::helpers::spawn_app_with(backend, |c| c.secure_cookies = true).await;
    let cookie = proxied.client().get("/api/me").await.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
}
