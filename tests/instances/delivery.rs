//! Chats cross instances: through nginx over SSE and WebSocket (uploads included), a stream
//! resumes on another instance with exactly what it missed, nothing is lost when the LISTEN
//! connections are cut, and how long the hop takes (printed, not asserted).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::time::timeout;

use crate::{
    cluster::{wait_for_open_streams, Cluster},
    common::{browser::Browser, stream::RoomStream, WAIT},
    user, ONE_CLUSTER_AT_A_TIME,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_cross_instances_through_nginx_over_sse_and_websocket() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = Cluster::start(&[]).await;
    let (one, two, three, proxy) = (cluster.url(1), cluster.url(2), cluster.url(3), cluster.proxy());

    let owner = user();
    let room = owner.at(&three).create_room(json!({ "title": "behind nginx" })).await;
    let mut owner_sse = owner.at(&three).sse(&room, None).await;
    let direct = user();
    let mut direct_ws = direct.at(&three).ws(&room, None).await;

    // Four users through nginx. Each connection is its user's first request (no cookie yet, so
    // a fresh identity), so nginx's round-robin alternates consecutive ones over 1 and 2. The
    // WebSocket handshakes carry a browser's Origin, which must match the Host nginx forwards.
    let proxied: Vec<Browser> = (0..4).map(|_| user()).collect();
    let mut through_proxy = [
        proxied[0].at(&proxy).sse(&room, None).await,
        proxied[1].at(&proxy).sse(&room, None).await,
        proxied[2].at(&proxy).ws(&room, Some(&proxy)).await,
        proxied[3].at(&proxy).ws(&room, Some(&proxy)).await,
    ];
    for stream in through_proxy.iter_mut().chain([&mut owner_sse, &mut direct_ws]) {
        stream.next_named("members").await;
    }

    // Where each stream landed, from each instance's own /metrics.
    let placed = wait_for_open_streams(&[&one, &two, &three], 3, 3).await;
    assert_eq!(placed[2], (1, 1), "nginx sends nothing to instance 3 (only the direct streams are there)");
    assert_eq!(
        (placed[0], placed[1]),
        ((1, 1), (1, 1)),
        "consecutive connections through nginx alternate between instances 1 and 2 (sse, ws)"
    );

    let from_three = owner.at(&three).say(&room, "posted on instance 3").await;
    for stream in through_proxy.iter_mut().chain([&mut owner_sse, &mut direct_ws]) {
        assert_eq!(stream.next_chat().await, from_three);
    }

    let via_proxy = proxied[0].at(&proxy).say(&room, "posted through nginx").await;
    for stream in [&mut owner_sse, &mut direct_ws].into_iter().chain(through_proxy.iter_mut()) {
        assert_eq!(stream.next_chat().await, via_proxy);
    }

    // A chat sent over a WebSocket that nginx proxies (client → server direction).
    through_proxy[2].send_chat("sent over a proxied WebSocket").await;
    let ack = through_proxy[2].next_named("ack").await;
    let over_socket = ack["message"].clone();
    assert_eq!(over_socket["text"], "sent over a proxied WebSocket");
    assert_eq!(owner_sse.next_chat().await, over_socket);
    assert_eq!(direct_ws.next_chat().await, over_socket);
    assert_eq!(through_proxy[0].next_chat().await, over_socket);

    // A GIF over nginx's default 1 MB body limit, uploaded through the proxy, is served by
    // instance 3: uploads live in the shared database, not on one instance's disk.
    let gif = noisy_gif(1100, 1000);
    assert!(gif.len() > 1024 * 1024, "{} bytes", gif.len());
    let part = reqwest::multipart::Part::bytes(gif.clone()).file_name("noise.gif").mime_str("image/gif").unwrap();
    let form = reqwest::multipart::Form::new().part("gif", part);
    let upload = proxied[1].send(proxied[1].http.post(format!("{proxy}/api/rooms/{room}/gifs")).multipart(form)).await;
    let posted = Browser::expect_json(upload, StatusCode::CREATED).await;
    assert_eq!(owner_sse.next_named("gif").await, posted);
    let served = owner.at(&three).get(posted["gif_url"].as_str().unwrap()).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.unwrap(), gif, "instance 3 serves the bytes uploaded through instance 1 or 2");

    // Metrics are per instance: scraped from each directly, never through the public proxy.
    assert_eq!(owner.at(&proxy).get("/metrics").await.status(), StatusCode::FORBIDDEN);
}

/// A one-frame GIF of pseudo-random pixels over a 256-colour palette: incompressible enough
/// to be about one byte per pixel.
fn noisy_gif(width: u16, height: u16) -> Vec<u8> {
    let palette: Vec<u8> = (0..=255u8).flat_map(|i| [i, i.wrapping_mul(7), i.wrapping_mul(13)]).collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, width, height, &palette).unwrap();
        let frame = gif::Frame { width, height, buffer: pixels.into(), ..Default::default() };
        encoder.write_frame(&frame).unwrap();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resumes_on_another_instance_with_exactly_what_it_missed() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = Cluster::start(&[]).await;
    let (one, two, three) = (cluster.url(1), cluster.url(2), cluster.url(3));

    let alice = user();
    let room = alice.at(&one).create_room(json!({ "title": "resume elsewhere" })).await;
    let mut first_half = alice.at(&one).sse(&room, None).await;
    // Bob stays throughout, so the room never empties while Alice is between streams.
    let bob = user();
    let mut bob_sse = bob.at(&three).sse(&room, None).await;
    bob_sse.next_named("members").await;

    let first = alice.at(&one).say(&room, "one").await;
    assert_eq!(first_half.next_chat().await, first);
    drop(first_half);
    let second = alice.at(&three).say(&room, "two").await;
    let third = alice.at(&one).say(&room, "three").await;

    let mut second_half = alice.at(&two).sse(&room, first["id"].as_i64()).await;
    assert_eq!(second_half.next_messages(2).await, vec![second, third], "exactly the two missed, in order");
    let live = bob.at(&three).say(&room, "four").await;
    assert_eq!(second_half.next_messages(1).await, vec![live], "then live, nothing in between");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_the_listen_connections_are_terminated() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = Cluster::start(&[]).await;
    let (one, two, three) = (cluster.url(1), cluster.url(2), cluster.url(3));

    let alice = user();
    let room = alice.at(&one).create_room(json!({ "title": "deaf for a moment" })).await;
    let _alice_sse = alice.at(&one).sse(&room, None).await;
    let bob = user();
    let mut bob_sse = bob.at(&two).sse(&room, None).await;
    let carol = user();
    let mut carol_ws = carol.at(&three).ws(&room, None).await;
    bob_sse.next_named("members").await;
    carol_ws.next_named("members").await;
    let before = alice.at(&one).say(&room, "before").await;
    assert_eq!(bob_sse.next_chat().await, before);
    assert_eq!(carol_ws.next_chat().await, before);

    let admin = sqlx::PgPool::connect(&cluster.database.url).await.unwrap();
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
         AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(terminated.len() >= 3, "every instance's LISTEN connection was found: {terminated:?}");

    let mut sent = Vec::new();
    for n in 0..20 {
        sent.push(alice.at(&one).say(&room, &format!("while deaf #{n}")).await);
    }
    // Later, when the listeners are back (or not yet: the catch-up covers it either way).
    tokio::time::sleep(Duration::from_millis(500)).await;
    sent.push(alice.at(&one).say(&room, "after").await);

    for (name, stream) in [("bob (SSE, instance 2)", &mut bob_sse), ("carol (WebSocket, instance 3)", &mut carol_ws)] {
        let got = stream.next_chats(sent.len()).await;
        assert_eq!(got, sent, "{name} got every message, once, in order");
    }
}

/// Prints how long a chat posted on instance 1 takes to reach a stream on instance 1 and one on
/// instance 2 (PostgreSQL NOTIFY in between). Asserts only that nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_cross_instance_latency() {
    const CHATS: usize = 200;
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    // A burst of 200 writes from one session is what the write rate limits exist to stop;
    // turn them off for this measurement.
    let cluster = Cluster::start(&[("RATE_LIMIT_BURST", "0")]).await;
    let (one, two) = (cluster.url(1), cluster.url(2));

    let poster = user();
    let room = poster.at(&one).create_room(json!({ "title": "latency" })).await;
    let mut same = poster.at(&one).sse(&room, None).await;
    let reader = user();
    let mut cross = reader.at(&two).sse(&room, None).await;
    same.next_named("members").await;
    cross.next_named("members").await;

    let epoch = Instant::now();
    let mut posted_at = vec![Duration::ZERO; CHATS];
    let record = move |mut stream: RoomStream| {
        tokio::spawn(async move {
            let mut arrivals = Vec::with_capacity(CHATS);
            while arrivals.len() < CHATS {
                let chat = stream.next_chat().await;
                let at = epoch.elapsed();
                let n: usize = chat["text"].as_str().unwrap().strip_prefix("latency ").unwrap().parse().unwrap();
                arrivals.push((n, at));
            }
            arrivals
        })
    };
    let (same, cross) = (record(same), record(cross));
    for (n, posted) in posted_at.iter_mut().enumerate() {
        *posted = epoch.elapsed();
        poster.at(&one).say(&room, &format!("latency {n}")).await;
    }
    let same = timeout(WAIT, same).await.expect("instance 1's stream got all chats").unwrap();
    let cross = timeout(WAIT, cross).await.expect("instance 2's stream got all chats").unwrap();

    let latencies = |arrivals: &[(usize, Duration)]| {
        let order: Vec<usize> = arrivals.iter().map(|(n, _)| *n).collect();
        assert_eq!(order, (0..CHATS).collect::<Vec<_>>(), "every chat, once, in order");
        let mut ms: Vec<f64> = arrivals.iter().map(|(n, at)| (*at - posted_at[*n]).as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        ms
    };
    let (same_ms, cross_ms) = (latencies(&same), latencies(&cross));
    // What the hop between instances adds, chat by chat (both lists are in posting order).
    let mut hop: Vec<f64> =
        same.iter().zip(&cross).map(|((_, one), (_, two))| (two.as_secs_f64() - one.as_secs_f64()) * 1e3).collect();
    hop.sort_by(f64::total_cmp);
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    let pick = |ms: &[f64], q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    println!(
        "cross-instance latency: {CHATS} chats posted one after another on instance 1 ({profile} build, RUST_LOG=warn)"
    );
    for (label, ms) in [
        ("same instance  (SSE on 1)", &same_ms),
        ("cross instance (SSE on 2)", &cross_ms),
        ("added by the hop (2 - 1) ", &hop),
    ] {
        println!(
            "  {label}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            pick(ms, 0.50),
            pick(ms, 0.99),
            ms[ms.len() - 1]
        );
    }
}
