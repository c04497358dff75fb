//! Abuse on the real binary, where the server's own memory and log can be read: GIF bombs
//! uploaded at once by a member, replies that try to forge log lines, a database URL whose
//! password must not be printed.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    common::gifs::gif_bomb,
    harness::{Backend, Browser, Server, ONE_AT_A_TIME, WAIT},
};

/// Issue 13, item 6: 20 concurrent bomb uploads by a member grew the server by 313 MB (each
/// frame was decoded into a buffer of its own, all at once). Target: well under 250 MB, and
/// `/healthz` answering within a second meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_gif_bombs_cost_bounded_memory_and_the_server_keeps_answering() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = Server::start(Backend::Sqlite, &[("UPLOAD_QUOTA_PER_HOUR", "0")]).await;
    let alice = Browser::new(&server.url());
    let room = alice.create_room(json!({ "title": "bombs" })).await;
    let bomb = gif_bomb(4); // the most the pixel budget lets through: every upload is decoded in full
    let upload = |browser: Browser, bomb: Vec<u8>| {
        let url = browser.url(&format!("/api/rooms/{room}/gifs"));
        async move {
            let part = reqwest::multipart::Part::bytes(bomb).file_name("bomb.gif").mime_str("image/gif").unwrap();
            let form = reqwest::multipart::Form::new().part("gif", part);
            browser.http.post(url).multipart(form).send().await.unwrap().status()
        }
    };
    // The bomb (16 frames) from 40 outsiders: refused before a byte is decoded.
    let big_bomb = gif_bomb(16);
    let outsider = Browser::new(&server.url());
    outsider.cookie().await; // a session, but no seat in the room
    let cpu_before = server.cpu_time();
    for _ in 0..40 {
        assert_eq!(upload(outsider.clone(), big_bomb.clone()).await, StatusCode::FORBIDDEN);
    }
    let refused_cpu = server.cpu_time() - cpu_before;
    println!("40 refused {} KB bomb uploads by outsiders: {refused_cpu:?} of server CPU", big_bomb.len() / 1000);
    assert_eq!(server.metric("gifchat_gif_checks_total").await, 0.0, "nothing refused was decoded");
    assert_eq!(upload(alice.clone(), bomb.clone()).await, StatusCode::CREATED);
    let before = server.rss_kib();
    let uploads = tokio::spawn(futures_util::future::join_all((0..20).map(|_| upload(alice.clone(), bomb.clone()))));
    let mut peak = before;
    let mut slowest = Duration::ZERO;
    let health = reqwest::Client::new();
    while !uploads.is_finished() {
        peak = peak.max(server.rss_kib());
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(WAIT, health.get(format!("{}/healthz", server.url())).send()).await;
        assert_eq!(answer.expect("/healthz in time").unwrap().status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for status in uploads.await.unwrap() {
        assert_eq!(status, StatusCode::CREATED);
    }
    let growth_mib = (peak - before) as f64 / 1024.0;
    println!("20 concurrent GIF bombs: RSS {before} KiB -> peak {peak} KiB (+{growth_mib:.1} MiB); slowest /healthz {slowest:?}");
    assert!(growth_mib < 100.0, "RSS grew by {growth_mib:.1} MiB");
    assert!(slowest < Duration::from_secs(1), "/healthz took {slowest:?}");
    assert_eq!(server.metric("gifchat_gif_checks_total").await, 21.0, "every upload was decoded");
}

/// Items 12 and 13: the demo socket logged client text raw (a newline forged a log line, ESC
/// reached the terminal), without any limit; a `?password=` in DATABASE_URL was printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_text_cannot_forge_log_lines_and_secrets_stay_out_of_the_log() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let _one = ONE_AT_A_TIME.lock().await;
    let server = Server::start(Backend::Sqlite, &[("RUST_LOG", "info")]).await;
    let url = format!("ws://127.0.0.1:{}/demo/ws/socket", server.port);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let forged = "hi\n2026-12-02T00:00:00Z FORGED WARN gif_chat: admin logged in\x1b[2J";
    socket.send(Message::Text(forged.into())).await.unwrap();
    for i in 0..30 {
        socket.send(Message::Text(format!("spam {i}").into())).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    socket.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.log(1);
    assert!(log.contains("demo socket reply"), "{log}");
    assert!(!log.lines().any(|line| line.starts_with("2026-12-02T00:00:00Z FORGED")), "a forged line:\n{log}");
    assert!(!log.contains('\x1b'), "raw ESC in the log");
    assert!(log.contains("\\n2026-12-02T00:00:00Z FORGED"), "the reply is logged escaped:\n{log}");
    let replies = log.matches("demo socket reply").count();
    assert!(replies <= 2, "{replies} replies logged in under a second");

    // A PostgreSQL URL with its password as a query parameter; the server cannot connect (port
    // 1), and says so, and prints its configuration first.
    let output = std::process::Command::new(crate::common::process::server_binary())
        .env_clear()
        .env("DATABASE_URL", "postgres://app@127.0.0.1:1/chat?sslmode=disable&password=hunter2")
        .env("RUST_LOG", "info")
        .env("PORT", "0")
        .output()
        .unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!output.status.success());
    assert!(printed.contains("password=***"), "{printed}");
    assert!(!printed.contains("hunter2"), "the password was printed:\n{printed}");
}
