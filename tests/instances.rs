//! Several real `gif-chat` processes on one PostgreSQL database, two of them behind Debian's
//! nginx, deployed as `docs/deploy.md` describes: chats cross instances through the proxy over
//! SSE and WebSocket, a stream resumes on another instance, presence survives `kill -9` of an
//! instance, seats stay exact under concurrent joins on every instance, nothing is lost when
//! the LISTEN connections are cut, and (printed, not asserted) how long a chat takes to reach
//! another instance: `cargo test --test instances reports_cross_instance_latency -- --nocapture`.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (`TEST_DATABASE_URL` overrides) and `/usr/sbin/nginx`;
//! `.ci/run` installs both. Every test makes its own database and cluster, one at a time.
//! When a test fails, the instances' and nginx's logs are printed and kept.

mod common;

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    pin::Pin,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use eventsource_stream::Eventsource;
use futures_util::{SinkExt, Stream, StreamExt};
use reqwest::{
    cookie::{CookieStore, Jar},
    StatusCode,
};
use serde_json::{json, Value};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message as WsMessage};

use common::{
    database::TestDatabase,
    process::{die_with_parent, free_port, install_crypto, print_tail, wait_until_up, SERVER},
};

/// Longest any single wait may take (a response, a stream event, a start-up): a stuck test
/// fails instead of hanging.
const WAIT: Duration = Duration::from_secs(15);
/// Longest wait for a killed instance's member to be reaped: PRESENCE_LEASE (3 s) plus slack
/// for a loaded machine. It bounds the wait; nothing asserts how long it took.
const PRESENCE_WAIT: Duration = Duration::from_secs(20);
/// Shared by every instance: each must accept the cookies the others issued.
const COOKIE_SECRET: &str = "multi-instance-tests-cookie-secret-0123456789";
const NGINX: &str = "/usr/sbin/nginx";
/// Set-up or tear-down slower than this is reported (stderr), to explain a slow run.
const SLOW: Duration = Duration::from_secs(2);

/// The proxy configuration (the `http {}` part) that `docs/deploy.md` shows: the test fills in
/// its own ports for `listen 80` and the two upstream addresses, nothing else.
const PROXY_CONF: &str = r#"map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      '';
}

upstream gif_chat {
    server 127.0.0.1:8001;
    server 127.0.0.1:8002;
    keepalive 32;
    keepalive_timeout 5s;
}

server {
    listen 80;
    client_max_body_size 6m;

    location = /metrics {
        deny all;
    }

    location / {
        proxy_pass http://gif_chat;
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_buffering off;
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
    }
}
"#;

/// Clusters are several processes each; two at once on a two-core machine would only make
/// every test slower and its waits longer. (A test that panics releases it all the same.)
static ONE_CLUSTER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_cross_instances_through_nginx_over_sse_and_websocket() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = Cluster::start(&[]).await;
    let (one, two, three, proxy) = (cluster.url(1), cluster.url(2), cluster.url(3), cluster.proxy());

    let owner = Browser::new();
    let room = owner.create_room(&three, json!({ "title": "behind nginx" })).await;
    let mut owner_sse = owner.sse(&three, &room, None).await;
    let direct = Browser::new();
    let mut direct_ws = direct.ws(&three, &room, None).await;

    // Four users through nginx. Each connection is its user's first request (no cookie yet, so
    // a fresh identity), so nginx's round-robin alternates consecutive ones over 1 and 2. The
    // WebSocket handshakes carry a browser's Origin, which must match the Host nginx forwards.
    let proxied: Vec<Browser> = (0..4).map(|_| Browser::new()).collect();
    let mut through_proxy = [
        proxied[0].sse(&proxy, &room, None).await,
        proxied[1].sse(&proxy, &room, None).await,
        proxied[2].ws(&proxy, &room, Some(&proxy)).await,
        proxied[3].ws(&proxy, &room, Some(&proxy)).await,
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

    let from_three = owner.say(&three, &room, "posted on instance 3").await;
    for stream in through_proxy.iter_mut().chain([&mut owner_sse, &mut direct_ws]) {
        assert_eq!(stream.next_chat().await, from_three);
    }

    let via_proxy = proxied[0].say(&proxy, &room, "posted through nginx").await;
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
    let served = owner.get(&format!("{three}{}", posted["gif_url"].as_str().unwrap())).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.unwrap(), gif, "instance 3 serves the bytes uploaded through instance 1 or 2");

    // Metrics are per instance: scraped from each directly, never through the public proxy.
    assert_eq!(owner.get(&format!("{proxy}/metrics")).await.status(), StatusCode::FORBIDDEN);
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

    let alice = Browser::new();
    let room = alice.create_room(&one, json!({ "title": "resume elsewhere" })).await;
    let mut first_half = alice.sse(&one, &room, None).await;
    // Bob stays throughout, so the room never empties while Alice is between streams.
    let bob = Browser::new();
    let mut bob_sse = bob.sse(&three, &room, None).await;
    bob_sse.next_named("members").await;

    let first = alice.say(&one, &room, "one").await;
    assert_eq!(first_half.next_chat().await, first);
    drop(first_half);
    let second = alice.say(&three, &room, "two").await;
    let third = alice.say(&one, &room, "three").await;

    let mut second_half = alice.sse(&two, &room, first["id"].as_i64()).await;
    assert_eq!(second_half.next_messages(2).await, vec![second, third], "exactly the two missed, in order");
    let live = bob.say(&three, &room, "four").await;
    assert_eq!(second_half.next_messages(1).await, vec![live], "then live, nothing in between");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_a_killed_instance_leaves_within_the_lease() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(&[]).await;
    let (one, two, three, proxy) = (cluster.url(1), cluster.url(2), cluster.url(3), cluster.proxy());

    let owner = Browser::new();
    let room = owner.create_room(&two, json!({ "title": "survivors" })).await;
    let mut owner_sse = owner.sse(&two, &room, None).await;
    let carol = Browser::new();
    let mut carol_ws = carol.ws(&three, &room, None).await;
    let victor = Browser::new();
    let victor_id = victor.rename(&one, "Victor").await;
    // Victor's only stream, on instance 1.
    let _victor_sse = victor.sse(&one, &room, None).await;
    // Two users through nginx: consecutive connections, so one stream on 1 and one on 2.
    let proxied = [Browser::new(), Browser::new()];
    let mut proxied_sse = [proxied[0].sse(&proxy, &room, None).await, proxied[1].sse(&proxy, &room, None).await];
    wait_for_members(&mut owner_sse, |ids| ids.len() == 5 && ids.contains(&victor_id)).await;
    assert_eq!(owner.room(&two, &room).await["members"], 5);
    let ready = owner.say(&two, &room, "all here").await;
    for stream in &mut proxied_sse {
        assert_eq!(stream.next_chat().await, ready);
    }

    cluster.kill9(1);

    // The survivors serve on: directly, and through nginx (which passes what it would have
    // sent to the dead instance 1 on to instance 2).
    let on_two = owner.say(&two, &room, "instance 2 still serves").await;
    let on_three = carol.say(&three, &room, "instance 3 still serves").await;
    let mut through_proxy = Vec::new();
    for n in 0..4 {
        through_proxy.push(owner.say(&proxy, &room, &format!("through nginx #{n}")).await);
    }

    // The proxied stream that instance 1 served broke off; the other one reads on. The broken
    // one reconnects through nginx, as EventSource would, from the last id it got.
    let last_post = through_proxy.last().unwrap().clone();
    let mut broken = Vec::new();
    for (n, stream) in proxied_sse.iter_mut().enumerate() {
        let carried_on = timeout(WAIT, async {
            loop {
                match stream.try_next().await {
                    Ok(Some(event)) if event.data["id"] == last_post["id"] => return true,
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => return false,
                }
            }
        })
        .await
        .expect("a proxied stream either breaks off or carries on");
        if !carried_on {
            broken.push((n, stream.last_id));
        }
    }
    assert_eq!(broken.len(), 1, "exactly one proxied stream was on instance 1: {broken:?}");
    let (n, resume_from) = broken[0];
    assert_eq!(resume_from, ready["id"].as_i64(), "it broke off right after what it had");
    let mut resumed = proxied[n].sse(&proxy, &room, resume_from).await;

    let left = timeout(PRESENCE_WAIT, async {
        loop {
            let event = owner_sse.next().await;
            if event.name == "system" && event.data["change"] == "left" {
                assert_eq!(event.data["text"], "Victor left the room.");
                return event.data;
            }
        }
    })
    .await
    .expect("the killed instance's member left within PRESENCE_LEASE plus slack");
    assert_eq!(left["kind"], "system");
    assert_eq!(left["user"]["id"], victor_id.as_str());
    for survivor in [&two, &three] {
        assert_eq!(owner.room(survivor, &room).await["members"], 4, "the seat is gone on {survivor}");
    }
    let after = carol.say(&three, &room, "after the leave").await;
    assert_eq!(owner_sse.next_chat_with_id(&after).await, after);

    // Carol (instance 3) and the resumed stream got everything, in the room's order.
    let mut expected = vec![on_two, on_three];
    expected.extend(through_proxy);
    expected.push(left);
    expected.push(after.clone());
    expected.sort_by_key(|message| message["id"].as_i64());
    let carol_saw = timeout(PRESENCE_WAIT, async {
        let mut seen = Vec::new();
        while seen.len() < expected.len() {
            let message = carol_ws.next_messages(1).await.remove(0);
            if message["id"].as_i64() > ready["id"].as_i64() {
                seen.push(message);
            }
        }
        seen
    })
    .await
    .expect("carol's stream got everything");
    assert_eq!(carol_saw, expected);
    let history = owner.history(&two, &room, resume_from.unwrap()).await;
    assert_eq!(history, expected, "history has nothing the streams did not show");
    assert_eq!(resumed.next_messages(expected.len()).await, expected, "the resumed stream missed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_joins_on_every_instance_never_overfill_a_room() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    // Seats taken by `POST …/join` last PRESENCE_GRACE; at 1 s one could lapse while the 30
    // joins are still being decided and free a place, making "exactly 4" a matter of timing.
    // A long grace keeps every seat for the whole test, so only the capacity check decides.
    let cluster = Cluster::start(&[("PRESENCE_GRACE", "60s")]).await;
    let urls = [cluster.url(1), cluster.url(2), cluster.url(3)];

    let owner = Browser::new();
    let room = owner.create_room(&urls[0], json!({ "title": "five seats", "max": 5 })).await;
    let mut users = Vec::new();
    for n in 0..30 {
        let user = Browser::new();
        user.me(&urls[n % 3]).await; // the identity cookie first, so only the joins race
        users.push((user, urls[n % 3].clone()));
    }
    let start = Arc::new(tokio::sync::Barrier::new(users.len()));
    let joins: Vec<_> = users
        .into_iter()
        .map(|(user, base)| {
            let (start, room) = (start.clone(), room.clone());
            tokio::spawn(async move {
                start.wait().await;
                let response = user.post(&format!("{base}/api/rooms/{room}/join"), json!({})).await;
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                (base, status, body)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for join in joins {
        outcomes.push(timeout(WAIT, join).await.expect("every join answered").unwrap());
    }

    let admitted: Vec<_> = outcomes.iter().filter(|(_, status, _)| *status == StatusCode::OK).collect();
    let refused = outcomes
        .iter()
        .filter(|(_, status, body)| *status == StatusCode::CONFLICT && body["error"] == "room_full")
        .count();
    let other: Vec<_> =
        outcomes.iter().filter(|(_, status, _)| *status != StatusCode::OK && *status != StatusCode::CONFLICT).collect();
    assert!(other.is_empty(), "only 200 or 409 room_full: {other:?}");
    assert_eq!(admitted.len(), 4, "the owner holds the fifth seat: {admitted:?}");
    assert_eq!(refused, 26);
    for base in &urls {
        assert_eq!(owner.room(base, &room).await["members"], 5, "{base} counts five members");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_the_listen_connections_are_terminated() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = Cluster::start(&[]).await;
    let (one, two, three) = (cluster.url(1), cluster.url(2), cluster.url(3));

    let alice = Browser::new();
    let room = alice.create_room(&one, json!({ "title": "deaf for a moment" })).await;
    let _alice_sse = alice.sse(&one, &room, None).await;
    let bob = Browser::new();
    let mut bob_sse = bob.sse(&two, &room, None).await;
    let carol = Browser::new();
    let mut carol_ws = carol.ws(&three, &room, None).await;
    bob_sse.next_named("members").await;
    carol_ws.next_named("members").await;
    let before = alice.say(&one, &room, "before").await;
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
        sent.push(alice.say(&one, &room, &format!("while deaf #{n}")).await);
    }
    // Later, when the listeners are back (or not yet: the catch-up covers it either way).
    tokio::time::sleep(Duration::from_millis(500)).await;
    sent.push(alice.say(&one, &room, "after").await);

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

    let poster = Browser::new();
    let room = poster.create_room(&one, json!({ "title": "latency" })).await;
    let mut same = poster.sse(&one, &room, None).await;
    let reader = Browser::new();
    let mut cross = reader.sse(&two, &room, None).await;
    same.next_named("members").await;
    cross.next_named("members").await;

    let epoch = Instant::now();
    let mut posted_at = vec![Duration::ZERO; CHATS];
    let record = move |mut stream: Sub| {
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
        poster.say(&one, &room, &format!("latency {n}")).await;
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

/// The proxy configuration the tests run is the one the deployment guide shows.
#[test]
fn the_deploy_guide_shows_the_tested_nginx_configuration() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deploy.md")).unwrap();
    assert!(guide.contains(PROXY_CONF), "docs/deploy.md must contain PROXY_CONF (tests/instances.rs) verbatim");
}

// ---------------------------------------------------------------------------------------------
// The cluster: a database, three instances, nginx in front of the first two
// ---------------------------------------------------------------------------------------------

struct Instance {
    url: String,
    port: u16,
    child: Child,
    log: PathBuf,
}

/// Owns every process it started and kills them all when dropped, panic or not. They are also
/// asked to die with the test process (PR_SET_PDEATHSIG) should it be killed outright.
struct Cluster {
    dir: PathBuf,
    instances: Vec<Instance>,
    nginx: Option<Child>,
    nginx_port: u16,
    database: TestDatabase,
}

impl Cluster {
    /// A fresh database, instances 1–3 with the test settings (`overrides` replace or add
    /// variables), and nginx round-robin over instances 1 and 2.
    async fn start(overrides: &[(&str, &str)]) -> Self {
        assert!(Path::new(NGINX).exists(), "install nginx (.ci/run does)");
        let began = Instant::now();
        let database = TestDatabase::postgres().await;
        let created = began.elapsed();
        let dir = std::env::temp_dir().join(format!("gifchat-instances-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = Cluster { dir, instances: Vec::new(), nginx: None, nginx_port: 0, database };
        for n in 1..=3 {
            cluster.start_instance(n, overrides).await;
        }
        cluster.start_nginx().await;
        if began.elapsed() > SLOW {
            eprintln!("note: the cluster took {:?} to start ({created:?} to create its database)", began.elapsed());
        }
        cluster
    }

    /// Instance `n` (1-based), e.g. `http://127.0.0.1:40123`.
    fn url(&self, n: usize) -> String {
        self.instances[n - 1].url.clone()
    }

    fn proxy(&self) -> String {
        format!("http://127.0.0.1:{}", self.nginx_port)
    }

    async fn start_instance(&mut self, n: usize, overrides: &[(&str, &str)]) {
        let log = self.dir.join(format!("instance-{n}.log"));
        for attempt in 1..=3 {
            let port = free_port();
            let out = File::create(&log).unwrap();
            let mut command = Command::new(SERVER);
            command
                .env_clear()
                // Not the repository: a developer's .env there must not leak into the test.
                .current_dir(&self.dir)
                .env("HOST", "127.0.0.1")
                .env("PORT", port.to_string())
                .env("DATABASE_URL", &self.database.url)
                .env("COOKIE_SECRET", COOKIE_SECRET)
                .env("STATIC_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
                .env("PRESENCE_LEASE", "3s")
                .env("PRESENCE_GRACE", "1s")
                .env("REAP_INTERVAL", "200ms")
                .env("TRUST_PROXY", "true")
                .env("RUST_LOG", "warn")
                // Every simulated user comes from the same loopback address.
                .env("NEW_SESSION_BURST", "0")
                .env("MAX_STREAMS_PER_ADDRESS", "0")
                .envs(overrides.iter().copied())
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out);
            die_with_parent(&mut command, libc::SIGKILL);
            let child = command.spawn().expect("the gif-chat binary starts");
            let url = format!("http://127.0.0.1:{port}");
            self.instances.push(Instance { url: url.clone(), port, child, log: log.clone() });
            let child = &mut self.instances.last_mut().unwrap().child;
            match wait_until_up(&format!("{url}/healthz"), child).await {
                Ok(()) => return,
                Err(exit) => {
                    self.instances.pop();
                    let output = std::fs::read_to_string(&log).unwrap_or_default();
                    // Someone took the port between our probe and the server's bind: retry.
                    if attempt < 3 && output.contains("in use") {
                        continue;
                    }
                    panic!("instance {n} {exit}:\n{output}");
                }
            }
        }
    }

    async fn start_nginx(&mut self) {
        let (error_log, output) = (self.dir.join("error.log"), self.dir.join("nginx.out"));
        let conf = self.dir.join("nginx.conf");
        for attempt in 1..=3 {
            let port = free_port();
            std::fs::write(&conf, nginx_conf(&self.dir, port, self.instances[0].port, self.instances[1].port)).unwrap();
            let out = File::create(&output).unwrap();
            let mut command = Command::new(NGINX);
            command
                .arg("-p")
                .arg(&self.dir)
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(&error_log)
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                // Its own process group, so its workers can be killed with the master.
                .process_group(0);
            // SIGTERM: the master then stops its workers too.
            die_with_parent(&mut command, libc::SIGTERM);
            self.nginx = Some(command.spawn().expect("nginx starts"));
            self.nginx_port = port;
            match wait_until_up(&format!("{}/healthz", self.proxy()), self.nginx.as_mut().unwrap()).await {
                Ok(()) => return,
                Err(exit) => {
                    self.nginx = None;
                    let log = std::fs::read_to_string(&error_log).unwrap_or_default()
                        + &std::fs::read_to_string(&output).unwrap_or_default();
                    if attempt < 3 && log.contains("in use") {
                        continue;
                    }
                    panic!("nginx {exit}:\n{log}");
                }
            }
        }
    }

    /// `kill -9` instance `n`: no goodbye, no seat released, its streams cut.
    fn kill9(&mut self, n: usize) {
        let child = &mut self.instances[n - 1].child;
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "SIGKILL instance {n}");
        child.wait().unwrap();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut nginx) = self.nginx.take() {
            if let Ok(group) = libc::pid_t::try_from(nginx.id()) {
                unsafe { libc::kill(-group, libc::SIGKILL) };
            }
            let _ = nginx.wait();
        }
        for instance in &mut self.instances {
            let _ = instance.child.kill(); // SIGKILL
            let _ = instance.child.wait();
        }
        if std::thread::panicking() {
            for instance in &self.instances {
                print_tail(&format!("instance {} log", instance.url), &instance.log);
            }
            print_tail("nginx error log", &self.dir.join("error.log"));
            eprintln!("logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The whole nginx.conf: the test's own paths around [`PROXY_CONF`] with our ports.
fn nginx_conf(dir: &Path, listen: u16, first: u16, second: u16) -> String {
    let http = PROXY_CONF
        .replace("listen 80;", &format!("listen 127.0.0.1:{listen};"))
        .replace("server 127.0.0.1:8001;", &format!("server 127.0.0.1:{first};"))
        .replace("server 127.0.0.1:8002;", &format!("server 127.0.0.1:{second};"));
    let dir = dir.display();
    let indented: String = http.lines().map(|line| format!("    {line}\n")).collect();
    format!(
        "# Generated by tests/instances.rs.\n\
         worker_processes 1;\n\
         pid {dir}/nginx.pid;\n\
         error_log {dir}/error.log warn;\n\
         events {{\n    worker_connections 1024;\n}}\n\
         http {{\n\
         \x20   access_log {dir}/access.log;\n\
         \x20   client_body_temp_path {dir}/client_body;\n\
         \x20   proxy_temp_path {dir}/proxy;\n\
         \x20   fastcgi_temp_path {dir}/fastcgi;\n\
         \x20   uwsgi_temp_path {dir}/uwsgi;\n\
         \x20   scgi_temp_path {dir}/scgi;\n\
         \n{indented}}}\n"
    )
}

/// Open streams of each transport on an instance, from its /metrics.
async fn open_streams(base: &str) -> (u64, u64) {
    let text = Browser::new().get(&format!("{base}/metrics")).await.text().await.unwrap();
    let gauge = |transport: &str| {
        let prefix = format!("gifchat_open_streams{{transport=\"{transport}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("{base}/metrics has no {prefix}"))
    };
    (gauge("sse"), gauge("ws"))
}

/// Each instance's (SSE, WebSocket) open streams, once the totals reach the ones expected.
async fn wait_for_open_streams(bases: &[&String], sse: u64, ws: u64) -> Vec<(u64, u64)> {
    timeout(WAIT, async {
        loop {
            let mut counts = Vec::new();
            for base in bases {
                counts.push(open_streams(base).await);
            }
            if counts.iter().map(|c| c.0).sum::<u64>() == sse && counts.iter().map(|c| c.1).sum::<u64>() == ws {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("every stream counted by the instances' /metrics")
}

fn member_ids(members: &Value) -> Vec<String> {
    members["members"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

/// Keeps a member list as a client does (the `members` list on connect, then the `change` of
/// each later system message) until it satisfies `done`.
async fn wait_for_members(stream: &mut Sub, done: impl Fn(&[String]) -> bool) {
    let (mut ids, mut as_of) = (Vec::new(), i64::MIN);
    loop {
        let event = stream.next().await;
        match event.name.as_str() {
            "members" => (ids, as_of) = (member_ids(&event.data), event.data["as_of"].as_i64().unwrap()),
            "system" if event.data["id"].as_i64().unwrap() > as_of => {
                let user = event.data["user"]["id"].as_str().unwrap().to_owned();
                match event.data["change"].as_str() {
                    Some("joined") => ids.push(user),
                    Some("left" | "kicked") => ids.retain(|id| *id != user),
                    _ => {}
                }
            }
            _ => continue,
        }
        if done(&ids) {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A browser (a cookie jar, so an identity, valid on every instance) and its streams
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Browser {
    http: reqwest::Client,
    jar: Arc<Jar>,
}

impl Browser {
    /// A browser that already holds its session, as the front-end does (it asks `/api/me`
    /// first): sealed here with the instances' shared secret, so that every connection through
    /// nginx is one of the test's own and the round-robin placement stays predictable.
    fn new() -> Self {
        install_crypto();
        let jar = Arc::new(Jar::default());
        let identity = gif_chat::identity::Identity { id: gif_chat::domain::UserId::random(), name: None };
        let sealed = gif_chat::identity::SessionKey::new(COOKIE_SECRET.as_bytes()).seal(&identity);
        let site: reqwest::Url = "http://127.0.0.1".parse().unwrap();
        jar.add_cookie_str(&format!("{}={sealed}; Path=/", gif_chat::identity::COOKIE_NAME), &site);
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        Self { http, jar }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        timeout(WAIT, request.send()).await.expect("a response in time").expect("the request went through")
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.send(self.http.get(url)).await
    }

    async fn post(&self, url: &str, body: Value) -> reqwest::Response {
        self.send(self.http.post(url).json(&body)).await
    }

    async fn expect_json(response: reqwest::Response, status: StatusCode) -> Value {
        let (got, url) = (response.status(), response.url().clone());
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{url}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn me(&self, base: &str) -> Value {
        Self::expect_json(self.get(&format!("{base}/api/me")).await, StatusCode::OK).await
    }

    /// Sets the display name; returns the user id.
    async fn rename(&self, base: &str, name: &str) -> String {
        let response = self.send(self.http.patch(format!("{base}/api/me")).json(&json!({ "name": name }))).await;
        let me = Self::expect_json(response, StatusCode::OK).await;
        assert_eq!(me["name"], name);
        me["id"].as_str().unwrap().to_owned()
    }

    async fn create_room(&self, base: &str, body: Value) -> String {
        let room = Self::expect_json(self.post(&format!("{base}/api/rooms"), body).await, StatusCode::CREATED).await;
        room["id"].as_str().unwrap().to_owned()
    }

    async fn room(&self, base: &str, room: &str) -> Value {
        Self::expect_json(self.get(&format!("{base}/api/rooms/{room}")).await, StatusCode::OK).await
    }

    /// The room's stored messages after `after`, oldest first.
    async fn history(&self, base: &str, room: &str, after: i64) -> Vec<Value> {
        let url = format!("{base}/api/rooms/{room}/messages?after={after}&limit=200");
        let page = Self::expect_json(self.get(&url).await, StatusCode::OK).await;
        page["messages"].as_array().unwrap().clone()
    }

    /// Posts a chat (asserting 201); returns the stored message.
    async fn say(&self, base: &str, room: &str, text: &str) -> Value {
        let response = self.post(&format!("{base}/api/rooms/{room}/messages"), json!({ "text": text })).await;
        Self::expect_json(response, StatusCode::CREATED).await
    }

    async fn sse(&self, base: &str, room: &str, last_event_id: Option<i64>) -> Sub {
        let mut request =
            self.http.get(format!("{base}/api/rooms/{room}/events")).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = self.send(request).await;
        if response.status() != StatusCode::OK {
            panic!("SSE refused: {} {}", response.status(), response.text().await.unwrap_or_default());
        }
        Sub::new(Transport::Sse(Box::pin(response.bytes_stream().eventsource())))
    }

    /// A room WebSocket with this browser's cookie (keeping the one a first handshake sets),
    /// and an `Origin` header as a browser would send.
    async fn ws(&self, base: &str, room: &str, origin: Option<&str>) -> Sub {
        let site: reqwest::Url = base.parse().unwrap();
        let url = format!("{}/api/rooms/{room}/ws", base.replacen("http://", "ws://", 1));
        let mut request = url.as_str().into_client_request().unwrap();
        if let Some(cookie) = self.jar.cookies(&site) {
            request.headers_mut().insert("cookie", cookie);
        }
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().unwrap());
        }
        let (socket, response) = match timeout(WAIT, tokio_tungstenite::connect_async(request)).await {
            Err(_) => panic!("no WebSocket handshake answer from {url} in time"),
            Ok(Err(tungstenite::Error::Http(response))) => panic!(
                "WebSocket refused by {url}: {} {}",
                response.status(),
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
            ),
            Ok(Err(err)) => panic!("WebSocket to {url} failed: {err}"),
            Ok(Ok(connected)) => connected,
        };
        for cookie in response.headers().get_all("set-cookie") {
            if let Ok(cookie) = cookie.to_str() {
                self.jar.add_cookie_str(cookie, &site);
            }
        }
        Sub::new(Transport::Ws(Box::new(socket)))
    }
}

type SseEvents = Pin<
    Box<
        dyn Stream<Item = Result<eventsource_stream::Event, eventsource_stream::EventStreamError<reqwest::Error>>>
            + Send,
    >,
>;
type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A room stream, whichever transport carries it, and the last event id it delivered (what
/// a browser would resume from).
struct Sub {
    transport: Transport,
    last_id: Option<i64>,
}

enum Transport {
    Sse(SseEvents),
    Ws(Box<Socket>),
}

#[derive(Debug)]
struct Event {
    name: String,
    id: Option<i64>,
    data: Value,
}

impl Sub {
    fn new(transport: Transport) -> Self {
        Self { transport, last_id: None }
    }

    /// The next event. Panics after [`WAIT`], or if the stream failed or ended.
    async fn next(&mut self) -> Event {
        match timeout(WAIT, self.try_next()).await.expect("an event within WAIT") {
            Ok(Some(event)) => event,
            Ok(None) => panic!("the stream ended early"),
            Err(err) => panic!("{err}"),
        }
    }

    /// The next event; `Ok(None)` when the server ended the stream, `Err` when it broke off.
    async fn try_next(&mut self) -> Result<Option<Event>, String> {
        let event = match &mut self.transport {
            Transport::Sse(events) => loop {
                match events.next().await {
                    None => return Ok(None),
                    Some(Ok(event)) if event.data.is_empty() => continue, // the `retry:` hint
                    Some(Ok(event)) => {
                        let data = serde_json::from_str(&event.data).expect("JSON event data");
                        break Event { name: event.event, id: event.id.parse().ok(), data };
                    }
                    Some(Err(err)) => return Err(format!("SSE stream failed: {err}")),
                }
            },
            Transport::Ws(socket) => loop {
                match socket.next().await {
                    None | Some(Ok(WsMessage::Close(_))) => return Ok(None),
                    Some(Ok(WsMessage::Text(text))) => {
                        let frame: Value = serde_json::from_str(text.as_str()).expect("a JSON frame");
                        let name = frame["event"].as_str().unwrap_or_default().to_owned();
                        break Event { name, id: frame["id"].as_i64(), data: frame["data"].clone() };
                    }
                    Some(Ok(_)) => continue, // pings (answered by tungstenite) and pongs
                    Some(Err(err)) => return Err(format!("WebSocket failed: {err}")),
                }
            },
        };
        if event.id.is_some() {
            self.last_id = event.id;
        }
        Ok(Some(event))
    }

    /// The data of the next event with this name, skipping others.
    async fn next_named(&mut self, name: &str) -> Value {
        loop {
            let event = self.next().await;
            if event.name == name {
                return event.data;
            }
        }
    }

    /// The next stored messages (chat, gif, system, whisper), skipping member lists and acks.
    async fn next_messages(&mut self, count: usize) -> Vec<Value> {
        let mut messages = Vec::with_capacity(count);
        while messages.len() < count {
            let event = self.next().await;
            if matches!(event.name.as_str(), "chat" | "gif" | "system" | "whisper") {
                assert_eq!(event.id, event.data["id"].as_i64(), "the event id is the message id");
                messages.push(event.data);
            }
        }
        messages
    }

    /// The next chat, skipping system messages (joins) and everything else.
    async fn next_chat(&mut self) -> Value {
        self.next_named("chat").await
    }

    /// Skips chats older than `message` (its id is lower); the next one must be `message`.
    async fn next_chat_with_id(&mut self, message: &Value) -> Value {
        loop {
            let chat = self.next_chat().await;
            if chat["id"].as_i64() >= message["id"].as_i64() {
                return chat;
            }
        }
    }

    async fn next_chats(&mut self, count: usize) -> Vec<Value> {
        let mut chats = Vec::with_capacity(count);
        while chats.len() < count {
            chats.push(self.next_chat().await);
        }
        chats
    }

    /// Sends a chat over a WebSocket.
    async fn send_chat(&mut self, text: &str) {
        let Transport::Ws(socket) = &mut self.transport else { panic!("only a WebSocket can send") };
        let frame = json!({ "type": "chat", "text": text }).to_string();
        socket.send(WsMessage::Text(frame.into())).await.expect("the frame is sent");
    }
}
