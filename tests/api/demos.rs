//! The original's demos: the pushing WebSocket and the SSE clock.

use std::time::Duration;

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{spawn_app_with, Backend};

crate::on_both_backends!(the_demo_socket_pushes_and_takes_replies, the_demo_clock_ticks_every_second);

async fn the_demo_socket_pushes_and_takes_replies(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.demo_ws_interval = Duration::from_millis(200)).await;
    let client = app.client();
    let mut socket = client.socket("/demo/ws/socket").await.unwrap();
    for _ in 0..2 {
        let pushed = crate::helpers::next_raw_text(&mut socket).await;
        assert!(pushed.contains("Hello from the server"), "{pushed}");
        socket.send(Message::Text("hello back".into())).await.unwrap();
    }
    let page = client.get("/demo/ws").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/demo/ws/socket"));
}

async fn the_demo_clock_ticks_every_second(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let client = app.client();
    let mut clock = client.open_stream("/demo/sse/clock", None).await.ok().unwrap();
    let first: i64 = clock.next_event().await.data.parse().unwrap();
    let second: i64 = clock.next_event().await.data.parse().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    assert!((now - second).abs() < 5_000, "the server's clock, in epoch milliseconds");
    assert!((800..=1_500).contains(&(second - first)), "one tick a second: {first} then {second}");
    let page = client.get("/demo/sse").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/demo/sse/clock"));
}
