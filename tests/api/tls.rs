//! HTTPS with HTTP/2: many event streams share one connection.

use reqwest::{header, StatusCode, Version};
use serde_json::json;

use crate::helpers::{id_of, spawn_app_with, Backend, Client};

crate::on_both_backends!(
    over_tls_streams_share_one_http2_connection_and_cookies_are_secure,
    over_http2_a_foreign_origin_is_refused_and_browsers_are_told_to_stay_on_https,
);

/// A self-signed certificate for 127.0.0.1, written to a temporary folder.
fn self_signed() -> (tempfile_paths::Paths, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let paths = tempfile_paths::Paths::new();
    std::fs::write(&paths.cert, cert.cert.pem()).unwrap();
    std::fs::write(&paths.key, cert.key_pair.serialize_pem()).unwrap();
    (paths, cert.cert.pem())
}

/// A server over TLS and a client factory that trusts its certificate.
async fn tls_app(
    backend: Backend,
    configure: impl FnOnce(&mut gif_chat::Config) + Send + 'static,
) -> (crate::helpers::TestApp, impl Fn() -> Client, tempfile_paths::Paths) {
    let (paths, pem) = self_signed();
    let (cert, key) = (paths.cert.clone(), paths.key.clone());
    let app = spawn_app_with(backend, move |c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
        configure(c);
    })
    .await;
    let root = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
    let base = app.address.clone();
    let make_client = move || {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(root.clone())
            .cookie_provider(jar.clone())
            .build()
            .unwrap();
        Client::with(http, base.clone(), jar)
    };
    (app, make_client, paths)
}

/// Issue 13, item 10: HTTP/2 has no `Host` header, and the Origin check returned early without
/// one, so a foreign `Origin` got its room created; TLS responses lacked HSTS.
async fn over_http2_a_foreign_origin_is_refused_and_browsers_are_told_to_stay_on_https(backend: Backend) {
    let (app, make_client, _paths) = tls_app(backend, |_| {}).await;
    let alice = make_client();
    let me = alice.get("/api/me").await;
    assert_eq!(me.version(), Version::HTTP_2);
    assert_eq!(me.headers()["strict-transport-security"], "max-age=31536000");
    let cookie = me.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-gif_chat_session=") && cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("Path=/") && !cookie.contains("Domain"), "{cookie}");
    let forged = alice
        .http
        .post(alice.url("/api/rooms"))
        .header("origin", "https://evil.example")
        .json(&json!({ "title": "csrf" }))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.version(), Version::HTTP_2);
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(forged.json::<serde_json::Value>().await.unwrap()["error"], "cross_origin");
    let own = alice.http.post(alice.url("/api/rooms")).header("origin", &app.address).json(&json!({ "title": "ok" }));
    assert_eq!(own.send().await.unwrap().status(), StatusCode::CREATED);
}

/// Issue 13, item 8: a TLS connection that finished its handshake and then sent nothing stayed
/// open for ever, under HTTP/1.1 and h2 alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tls_connection_is_closed_after_the_header_timeout() {
    use tokio::io::AsyncReadExt;
    let (app, _make_client, _paths) =
        tls_app(Backend::Sqlite, |c| c.header_read_timeout = std::time::Duration::from_millis(500)).await;
    // Nothing at all, under either protocol; or the first bytes of HTTP/2's preface, and then
    // nothing (the server reads up to 24 bytes to tell the protocols apart).
    for (alpn, opening) in [(&b"h2"[..], &b""[..]), (&b"http/1.1"[..], &b""[..]), (&b"h2"[..], &b"PRI"[..])] {
        let mut config = rustls::ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(AnyCertificate))
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(app.address.trim_start_matches("https://")).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.expect("the handshake completes");
        tokio::io::AsyncWriteExt::write_all(&mut tls, opening).await.unwrap();
        tokio::io::AsyncWriteExt::flush(&mut tls).await.unwrap();
        let started = std::time::Instant::now();
        let mut buf = [0u8; 64];
        let ended = tokio::time::timeout(crate::helpers::WAIT, async {
            loop {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue, // h2's SETTINGS, say: not the end
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "{alpn:?}: the silent connection stayed open");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{alpn:?}: closed after {:?}",
            started.elapsed()
        );
    }
}

/// The test talks to its own server on loopback: any certificate will do.
#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
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
