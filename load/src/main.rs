//! gif-chat-load: a load generator for gif-chat's room streams (loopback only).
//!
//! Creates rooms, connects subscribers (SSE, WebSocket or long-polling, each its own session
//! and connection), posts chats whose text carries their send time, and reports what arrived:
//! expected vs delivered, lost, duplicated, out of order, delivery and post latency, and with
//! `--server-pid` the server's memory and CPU. Exits non-zero when anything was lost,
//! duplicated, reordered or misrouted, a subscriber did not connect, or a post failed.
//!
//!     gif-chat-load --url http://127.0.0.1:8005 --transport sse --rooms 100 --subscribers 10 \
//!         --messages 5000 --rate 500 --server-pid $(pgrep -n gif-chat)
//!
//! With `--soak-secs N` it is a soak instead: for N seconds every subscriber also posts to its
//! room at random intervals, and the report adds the server's RSS at the start and the end.

mod args;
mod http;
mod poster;
mod report;
mod stats;
mod subscriber;
mod sys;

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{atomic::AtomicI64, atomic::AtomicU64, atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Parser;
use hyper::{Method, StatusCode};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

pub use crate::args::{Args, Transport};

use crate::{
    args::validate,
    http::Conn,
    report::{Report, ServerStats},
    stats::Histogram,
    subscriber::{Outcome, SubResult},
};

/// State every task reads or counts into.
pub struct Shared {
    pub start: std::time::Instant,
    pub delivered: AtomicU64,
    pub latency_us: Histogram,
    pub rooms: usize,
    /// Messages per room at most (bits per subscriber).
    pub per_room: usize,
    /// Stops the subscribers.
    pub cancel: CancellationToken,
    /// Per subscriber (room-major): the highest room sequence number it has accounted for,
    /// its stream's starting point included (the member list's `as_of`).
    pub reached: Vec<AtomicI64>,
}

impl Shared {
    /// Nanoseconds since the program started: the clock message texts carry.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

/// A room and its owner's session, which posts to it.
pub struct Room {
    pub id: Arc<str>,
    pub owner_cookie: String,
    /// When the owner last joined or posted (`Shared::now_ns`), to keep their seat alive.
    pub renewed_ns: AtomicU64,
}

fn main() {
    let args = Args::parse();
    if let Err(err) = validate(&args) {
        eprintln!("error: {err:#}");
        std::process::exit(2);
    }
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(threads.max(1)).enable_all().build();
    let code = match runtime.map_err(anyhow::Error::from).and_then(|rt| rt.block_on(run(args))) {
        Ok(report) => {
            if report.ok() {
                0
            } else {
                1
            }
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            2
        }
    };
    // Open streams and their tasks are not waited for.
    std::process::exit(code);
}

async fn run(args: Args) -> anyhow::Result<Report> {
    let target = http::parse_loopback_url(&args.url)?;
    if args.source_addrs > 1 && !target.addr.is_ipv4() {
        bail!("--source-addrs needs an IPv4 --url (127.x.x.x or localhost)");
    }
    // A soak's own duration comes on top of the bound on setting up and draining.
    let deadline = Instant::now() + Duration::from_secs(args.timeout + args.soak_secs.unwrap_or(0));
    let connections = args.rooms * args.subscribers;
    match sys::raise_nofile_limit() {
        Some(limit) if (connections + args.posters + 64) as u64 > limit => eprintln!(
            "warning: {connections} subscriber connections (+ posters) exceed the open-file limit {limit}: raise `ulimit -Hn`"
        ),
        Some(_) => {}
        None => eprintln!("warning: could not read RLIMIT_NOFILE"),
    }
    let per_source = connections.div_ceil(args.source_addrs as usize);
    if per_source > 28_000 {
        eprintln!(
            "warning: {per_source} connections per source address may exhaust ephemeral ports; raise --source-addrs"
        );
    }
    let server = args.server_pid.map(|pid| pid.to_string());
    if let Some(pid) = &server {
        if sys::rss_kib(pid).is_none() {
            bail!("--server-pid {pid}: no such process (or /proc unreadable)");
        }
    }
    let room_max = args.room_max.unwrap_or((args.subscribers as u32 + 1).max(2));
    let shared = Arc::new(Shared {
        start: std::time::Instant::now(),
        delivered: AtomicU64::new(0),
        latency_us: Histogram::default(),
        rooms: args.rooms,
        per_room: args.per_room(),
        cancel: CancellationToken::new(),
        reached: (0..connections).map(|_| AtomicI64::new(i64::MIN)).collect(),
    });
    let mut report = Report::new(&args);
    let mut server_stats =
        ServerStats { rss_before_kib: server.as_deref().and_then(sys::rss_kib), ..Default::default() };

    // Setup: rooms one after another, each followed at once by its subscribers' connections
    // (bounded by --connect-concurrency) so no room waits long without a member.
    eprintln!("setting up {} rooms × {} {} subscribers…", args.rooms, args.subscribers, args.transport.name());
    let (outcome_tx, mut outcome_rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(subscriber::Ctx {
        target: target.clone(),
        transport: args.transport,
        shared: shared.clone(),
        limiter: Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency.max(1))),
        outcomes: outcome_tx,
        poll_wait: args.poll_wait,
        deadline,
    });
    let setup_started = Instant::now();
    let mut setup = Conn::open(&target, None).await.context("connecting to the server")?;
    let mut rooms: Vec<Arc<Room>> = Vec::with_capacity(args.rooms);
    let mut subscribers = Vec::with_capacity(connections);
    // Owners hold a seat only for the grace period after their last join or post: until
    // posting starts, a task renews it (the list grows as rooms are created).
    let keepalive_stop = CancellationToken::new();
    let seated = Arc::new(std::sync::Mutex::new(Vec::new()));
    tokio::spawn(poster::keep_owners_seated(target.clone(), seated.clone(), shared.clone(), keepalive_stop.clone()));
    for r in 0..args.rooms {
        let room = tokio::time::timeout_at(deadline, create_room(&mut setup, r, room_max, &shared))
            .await
            .context("timed out creating rooms")??;
        seated.lock().expect("not poisoned").push(room.clone());
        for s in 0..args.subscribers {
            let source = source_addr(args.source_addrs, r * args.subscribers + s);
            let index = r * args.subscribers + s;
            let spec = subscriber::Spec { room: r, index, room_id: room.id.clone(), source };
            subscribers.push(tokio::spawn(subscriber::run(spec, ctx.clone())));
        }
        rooms.push(room);
    }
    drop(setup);
    let rooms = Arc::new(rooms);

    let mut connected_per_room = vec![0u64; args.rooms];
    let mut connect_ns = Vec::with_capacity(connections);
    let mut clients = Vec::with_capacity(connections);
    let mut failures = std::collections::BTreeMap::<String, u64>::new();
    let mut last_progress = Instant::now();
    let mut outcomes = 0;
    while outcomes < connections {
        let next =
            tokio::time::timeout_at(deadline.min(Instant::now() + Duration::from_secs(2)), outcome_rx.recv()).await;
        match next {
            Ok(Some(Outcome::Connected { room, connect_ns: ns, client })) => {
                connected_per_room[room] += 1;
                connect_ns.push(ns);
                clients.push(client);
            }
            Ok(Some(Outcome::Failed { error, .. })) => *failures.entry(error).or_default() += 1,
            Ok(None) => break,
            Err(_) if Instant::now() >= deadline => {
                report.timed_out = true;
                break;
            }
            Err(_) => {}
        }
        outcomes = connect_ns.len() + failures.values().sum::<u64>() as usize;
        if last_progress.elapsed() >= Duration::from_secs(2) {
            eprintln!("  {}/{} connected, {} failed", connect_ns.len(), connections, outcomes - connect_ns.len());
            last_progress = Instant::now();
        }
    }
    report.set_connections(connections, &mut connect_ns, setup_started.elapsed(), failures);
    server_stats.rss_subscribed_kib = server.as_deref().and_then(sys::rss_kib);
    eprintln!(
        "{}/{} subscribers connected in {:.2} s",
        connect_ns.len(),
        connections,
        setup_started.elapsed().as_secs_f64()
    );
    if !report.timed_out && !connect_ns.is_empty() {
        let all_seen = every_join_seen(&shared, args.subscribers, Duration::from_secs(args.drain_idle), deadline).await;
        report.set_joins_seen(all_seen.then(|| setup_started.elapsed()));
        eprintln!("every join seen by every subscriber: {all_seen}, at {:.2} s", setup_started.elapsed().as_secs_f64());
    }

    if args.settle > 0 && !report.timed_out {
        eprintln!("settling for {} s…", args.settle);
        tokio::time::sleep(Duration::from_secs(args.settle)).await;
    }

    // Posting, then waiting for the last deliveries.
    let cpu_before = server.as_deref().and_then(sys::cpu_seconds);
    let self_cpu_before = sys::cpu_seconds("self");
    let rss_peak = server.clone().map(|pid| sys::track_peak_rss(pid, shared.cancel.clone()));
    let posting = if report.timed_out || connect_ns.is_empty() {
        None
    } else {
        let posting = match args.soak_secs {
            Some(secs) => {
                keepalive_stop.cancel(); // the owners stay out of a soak; their seats may lapse
                eprintln!(
                    "soaking for {secs} s: {} clients, each posting every ~{} ms…",
                    clients.len(),
                    args.soak_interval_ms
                );
                poster::soak_all(&args, &target, rooms.clone(), clients, shared.clone(), deadline).await
            }
            None => {
                eprintln!("posting {} messages…", args.messages);
                poster::post_all(&args, &target, rooms.clone(), shared.clone(), deadline).await
            }
        };
        keepalive_stop.cancel();
        let expected: u64 = (0..args.rooms).map(|r| posting.posted_per_room[r] * connected_per_room[r]).sum();
        let drained = drain(&shared, expected, Duration::from_secs(args.drain_idle), deadline).await;
        report.timed_out |= posting.timed_out || !drained && Instant::now() >= deadline;
        Some(posting)
    };
    keepalive_stop.cancel();
    let cpu_after = server.as_deref().and_then(sys::cpu_seconds);
    server_stats.rss_after_kib = server.as_deref().and_then(sys::rss_kib);
    server_stats.rss_peak_kib = rss_peak.map(|peak| peak.load(Relaxed)).max(server_stats.rss_after_kib);
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        server_stats.cpu_seconds = Some(b - a);
    }
    report.generator_cpu_seconds = sys::cpu_seconds("self").zip(self_cpu_before).map(|(a, b)| a - b);

    // Stop the subscribers and gather what each saw.
    shared.cancel.cancel();
    let mut results: Vec<SubResult> = Vec::with_capacity(subscribers.len());
    let gather_deadline = Instant::now() + Duration::from_secs(5);
    for handle in subscribers {
        if let Ok(Ok(result)) = tokio::time::timeout_at(gather_deadline, handle).await {
            results.push(result);
        }
    }
    report.set_deliveries(&args, posting.as_ref(), &results, &shared);
    if server.is_some() {
        report.server = Some(server_stats);
    }
    report.print();
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report.to_json())?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}

/// The source address of connection `i` with `--source-addrs k`: 127.0.0.(1 + i mod k), or
/// the kernel's choice when k is 1.
pub fn source_addr(k: u8, i: usize) -> Option<IpAddr> {
    (k > 1).then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % k as usize) as u8)))
}

/// A fresh session creates room `r`; it becomes the room's owner (and poster).
async fn create_room(conn: &mut Conn, r: usize, max: u32, shared: &Shared) -> anyhow::Result<Arc<Room>> {
    let cookie = conn.new_session().await?;
    let body = serde_json::json!({ "title": format!("load {r}"), "max": max }).to_string();
    let reply = conn.call_patiently(Method::POST, "/api/rooms", Some(&cookie), Some(Bytes::from(body))).await?;
    if reply.status != StatusCode::CREATED {
        bail!("creating room {r} with max {max}: {} (is MAX_ROOM_CAPACITY at least {max}?)", reply.describe());
    }
    let json = reply.json()?;
    let id = json["id"].as_str().context("the new room has no id")?;
    Ok(Arc::new(Room { id: id.into(), owner_cookie: cookie, renewed_ns: AtomicU64::new(shared.now_ns()) }))
}

/// Waits until every subscriber of each room has accounted for its room's head as of now (the
/// last join, which the last subscriber's member list counts): every join was stored and
/// announced to everyone already there. False when that did not happen within `idle`
/// without progress, or by the deadline.
async fn every_join_seen(shared: &Shared, per_room: usize, idle: Duration, deadline: Instant) -> bool {
    let reached = |i: usize| shared.reached[i].load(Relaxed);
    let heads: Vec<i64> =
        (0..shared.rooms).map(|r| (r * per_room..(r + 1) * per_room).map(reached).max().unwrap_or(i64::MIN)).collect();
    // A subscriber that never connected has reached nothing; it is reported as not connected.
    let behind = || {
        (0..shared.reached.len())
            .filter(|&i| {
                let at = reached(i);
                at != i64::MIN && at < heads[i / per_room.max(1)]
            })
            .count()
    };
    // Progress is any subscriber moving on, not only one catching up all the way: in a big
    // room every subscriber is behind for a while, and all of them move.
    let total = || (0..shared.reached.len()).map(reached).filter(|&at| at != i64::MIN).sum::<i64>();
    let mut last = total();
    let mut last_change = Instant::now();
    while behind() > 0 {
        if last_change.elapsed() >= idle || Instant::now() >= deadline {
            eprintln!("stopped waiting: {} subscribers never saw every join", behind());
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = total();
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    true
}

/// Waits until `expected` deliveries arrived, or none arrived for `idle`, or the deadline.
async fn drain(shared: &Shared, expected: u64, idle: Duration, deadline: Instant) -> bool {
    let mut last = shared.delivered.load(Relaxed);
    let mut last_change = Instant::now();
    loop {
        let now = shared.delivered.load(Relaxed);
        if now >= expected {
            return true;
        }
        if now != last {
            last = now;
            last_change = Instant::now();
        }
        if last_change.elapsed() >= idle || Instant::now() >= deadline {
            eprintln!("stopped waiting: {now} of {expected} deliveries arrived");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
