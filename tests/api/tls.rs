//! HTTPS with HTTP/2: many event streams share one connection.

use reqwest::{header, StatusCode, Version};
use serde_json::json;

use crate::helpers::{id_of, spawn_app_with, Backend, Client};

crate::on_both_backends!(over_tls_streams_share_one_http2_connection_and_cookies_are_secure);

/// A self-signed certificate for 127.0.0.1, written to a temporary folder.
fn self_signed() -> (tempfile_paths::Paths, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let paths = tempfile_paths::Paths::new();
    std::fs::write(&paths.cert, cert.cert.pem()).unwrap();
    std::fs::write(&paths.key, cert.key_pair.serialize_pem()).unwrap();
    (paths, cert.cert.pem())
}

mod tempfile_paths {
    pub struct Paths {
        pub cert: std::path::PathBuf,
        pub key: std::path::PathBuf,
    }

    impl Paths {
        pub fn new() -> Self {
            let base = std::env::temp_dir().join(format!("gifchat-tls-{}", uuid::Uuid::new_v4().simple()));
            Self { cert: base.with_extension("crt"), key: base.with_extension("key") }
        }
    }

    impl Drop for Paths {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.cert);
            let _ = std::fs::remove_file(&self.key);
        }
    }
}

async fn over_tls_streams_share_one_http2_connection_and_cookies_are_secure(backend: Backend) {
    let (paths, pem) = self_signed();
    let (cert, key) = (paths.cert.clone(), paths.key.clone());
    let app = spawn_app_with(backend, move |c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
    })
    .await;
    assert!(app.address.starts_with("https://"));
    let root = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
    let make_client = || {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(root.clone())
            .cookie_provider(jar.clone())
            .build()
            .unwrap();
        Client::with(http, app.address.clone(), jar)
    };
    let alice = make_client();
    let first = alice.get("/api/me").await;
    assert_eq!(first.version(), Version::HTTP_2, "ALPN picked HTTP/2");
    let cookie = first.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");

    let room = alice.create_room(json!({ "title": "multiplexed" })).await;
    assert_eq!(room.status(), StatusCode::CREATED);
    let room = id_of(&room.json().await.unwrap());
    // Ten streams at once: over HTTP/1.1 a browser would stall at six.
    let mut streams = Vec::new();
    for _ in 0..10 {
        streams.push(alice.room_events(&room, None).await);
    }
    let sent = alice.say_ok(&room, "to every stream").await;
    for stream in &mut streams {
        assert_eq!(stream.next_messages(1).await, vec![sent.clone()]);
    }
}
