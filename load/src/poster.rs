//! Posting. Normally `--posters` tasks, one connection each, take the next sequence number g
//! and post `"<send nanos>|<g>|<padding>"` to room g mod R as its owner, paced to `--rate` if
//! set. In a soak (`--soak-secs`) every subscriber posts instead, as itself, at random
//! intervals, taking the next g of its own room; it stops at the end of the soak or at its
//! share of messages, whichever comes first.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use rand::Rng;
use tokio::time::{sleep_until, timeout_at, Instant};
use tokio_util::sync::CancellationToken;

use crate::{
    http::{retry_after, Conn, Reply, Target, MAX_THROTTLED_RETRIES, THROTTLED},
    stats::{AtomicBits, Histogram},
    Args, Room, Shared,
};

/// What the posting phase did.
pub struct Posting {
    pub posted_per_room: Vec<u64>,
    /// Which sequence numbers were stored (answered 201).
    pub posted: AtomicBits,
    pub attempted: u64,
    pub ok: u64,
    pub failures: BTreeMap<String, u64>,
    pub seconds: f64,
    pub latency_us: Histogram,
    pub rejoins: u64,
    pub timed_out: bool,
}

/// A subscriber's session, which posts to its own room during a soak.
#[derive(Clone)]
pub struct Client {
    pub room: usize,
    pub cookie: String,
    pub source: Option<IpAddr>,
}

struct Ctx {
    target: Target,
    rooms: Arc<Vec<Arc<Room>>>,
    shared: Arc<Shared>,
    total: u64,
    rate: f64,
    padding: String,
    start: Instant,
    deadline: Instant,
    next: AtomicU64,
    /// Soak: the next message number k of each room (its g is k × rooms + room).
    next_in_room: Vec<AtomicU64>,
    attempted: AtomicU64,
    ok_per_room: Vec<AtomicU64>,
    posted: AtomicBits,
    latency_us: Histogram,
    failures: Mutex<BTreeMap<String, u64>>,
    rejoins: AtomicU64,
    timed_out: AtomicBool,
}

impl Ctx {
    fn new(args: &Args, target: &Target, rooms: Arc<Vec<Arc<Room>>>, shared: Arc<Shared>, deadline: Instant) -> Self {
        let capacity = shared.per_room * rooms.len();
        Self {
            target: target.clone(),
            ok_per_room: (0..rooms.len()).map(|_| AtomicU64::new(0)).collect(),
            next_in_room: (0..rooms.len()).map(|_| AtomicU64::new(0)).collect(),
            rooms,
            shared,
            total: args.messages,
            rate: args.rate,
            padding: "x".repeat(args.message_bytes),
            start: Instant::now(),
            deadline,
            next: AtomicU64::new(0),
            attempted: AtomicU64::new(0),
            posted: AtomicBits::new(capacity),
            latency_us: Histogram::default(),
            failures: Mutex::default(),
            rejoins: AtomicU64::new(0),
            timed_out: AtomicBool::new(false),
        }
    }

    fn fail(&self, why: String) {
        *self.failures.lock().expect("not poisoned").entry(why).or_default() += 1;
    }

    /// What the posters did, once they have all finished.
    fn finish(self: Arc<Self>) -> Posting {
        let seconds = self.start.elapsed().as_secs_f64();
        let ctx = Arc::into_inner(self).expect("every poster has finished");
        let posted_per_room: Vec<u64> = ctx.ok_per_room.iter().map(|n| n.load(Relaxed)).collect();
        Posting {
            ok: posted_per_room.iter().sum(),
            posted_per_room,
            posted: ctx.posted,
            attempted: ctx.attempted.into_inner(),
            failures: ctx.failures.into_inner().expect("not poisoned"),
            seconds,
            latency_us: ctx.latency_us,
            rejoins: ctx.rejoins.into_inner(),
            timed_out: ctx.timed_out.into_inner(),
        }
    }
}

/// `STATUS error_code` of an error reply, for grouping failures.
fn error_code(reply: &Reply) -> String {
    let code = reply.json().ok().and_then(|j| j["error"].as_str().map(str::to_string)).unwrap_or_default();
    format!("{} {code}", reply.status.as_u16())
}

pub async fn post_all(
    args: &Args,
    target: &Target,
    rooms: Arc<Vec<Arc<Room>>>,
    shared: Arc<Shared>,
    deadline: Instant,
) -> Posting {
    let ctx = Arc::new(Ctx::new(args, target, rooms, shared, deadline));
    let posters: Vec<_> = (0..args.posters)
        .map(|i| tokio::spawn(poster(ctx.clone(), crate::source_addr(args.source_addrs, i))))
        .collect();
    for handle in posters {
        let _ = handle.await;
    }
    ctx.finish()
}

async fn poster(ctx: Arc<Ctx>, source: Option<IpAddr>) {
    let mut conn: Option<Conn> = None;
    loop {
        let g = ctx.next.fetch_add(1, Relaxed);
        if g >= ctx.total {
            return;
        }
        if ctx.rate > 0.0 {
            let at = ctx.start + Duration::from_secs_f64(g as f64 / ctx.rate);
            if at >= ctx.deadline {
                ctx.timed_out.store(true, Relaxed);
                return;
            }
            sleep_until(at).await;
        }
        let r = (g % ctx.rooms.len() as u64) as usize;
        let room = &ctx.rooms[r];
        match post_one(&ctx, &mut conn, source, r, &room.owner_cookie, g).await {
            Posted::Stored => room.renewed_ns.store(ctx.shared.now_ns(), Relaxed),
            Posted::Failed => {}
            Posted::OutOfTime => return,
        }
    }
}

/// Every client posts to its own room at random intervals (uniform, averaging `interval`)
/// until `soak` has passed, each at most `per_client` times.
pub async fn soak_all(
    args: &Args,
    target: &Target,
    rooms: Arc<Vec<Arc<Room>>>,
    clients: Vec<Client>,
    shared: Arc<Shared>,
    deadline: Instant,
) -> Posting {
    let ctx = Arc::new(Ctx::new(args, target, rooms, shared, deadline));
    let end = Instant::now() + Duration::from_secs(args.soak_secs.unwrap_or(0));
    let (interval, per_client) = (Duration::from_millis(args.soak_interval_ms), args.soak_posts_per_client());
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(soak_client(ctx.clone(), client, end.min(deadline), interval, per_client)))
        .collect();
    for handle in tasks {
        let _ = handle.await;
    }
    ctx.finish()
}

async fn soak_client(ctx: Arc<Ctx>, client: Client, end: Instant, interval: Duration, per_client: u64) {
    let mut conn: Option<Conn> = None;
    for _ in 0..per_client {
        let pause = interval.mul_f64(rand::thread_rng().gen_range(0.0..2.0));
        if Instant::now() + pause >= end {
            return;
        }
        tokio::time::sleep(pause).await;
        let k = ctx.next_in_room[client.room].fetch_add(1, Relaxed);
        if k >= ctx.shared.per_room as u64 {
            return;
        }
        let g = k * ctx.rooms.len() as u64 + client.room as u64;
        if let Posted::OutOfTime = post_one(&ctx, &mut conn, client.source, client.room, &client.cookie, g).await {
            return;
        }
    }
}

enum Posted {
    Stored,
    Failed,
    /// The run's deadline passed: stop posting.
    OutOfTime,
}

/// Posts message `g` to room `r` as `cookie` (on `conn`, opened if need be), waiting out 429s
/// and taking a lapsed seat again once; counts the outcome.
async fn post_one(
    ctx: &Ctx,
    conn: &mut Option<Conn>,
    source: Option<IpAddr>,
    r: usize,
    cookie: &str,
    g: u64,
) -> Posted {
    if Instant::now() >= ctx.deadline {
        ctx.timed_out.store(true, Relaxed);
        return Posted::OutOfTime;
    }
    ctx.attempted.fetch_add(1, Relaxed);
    let room = &ctx.rooms[r];
    let path = format!("/api/rooms/{}/messages", room.id);
    let mut rejoined = false;
    let mut throttled = 0;
    loop {
        if conn.is_none() {
            match timeout_at(ctx.deadline, Conn::open(&ctx.target, source)).await {
                Ok(Ok(c)) => *conn = Some(c),
                Ok(Err(err)) => {
                    ctx.fail(format!("connect: {err:#}"));
                    return Posted::Failed;
                }
                Err(_) => {
                    ctx.timed_out.store(true, Relaxed);
                    return Posted::OutOfTime;
                }
            }
        }
        let c = conn.as_mut().expect("connected above");
        let body = format!("{{\"text\":\"{}|{g}|{}\"}}", ctx.shared.now_ns(), ctx.padding);
        let started = Instant::now();
        let call = c.call(Method::POST, &path, Some(cookie), Some(Bytes::from(body)));
        let Ok(reply) = timeout_at(ctx.deadline, call).await else {
            ctx.fail("timed out".into());
            ctx.timed_out.store(true, Relaxed);
            return Posted::OutOfTime;
        };
        match reply {
            Ok(reply) if reply.status == StatusCode::CREATED => {
                ctx.latency_us.record(started.elapsed().as_micros() as u64);
                ctx.ok_per_room[r].fetch_add(1, Relaxed);
                ctx.posted.insert(g as usize);
                return Posted::Stored;
            }
            // The write limit: wait as told and send it again (the server stored nothing).
            Ok(reply) if reply.status == StatusCode::TOO_MANY_REQUESTS && throttled < MAX_THROTTLED_RETRIES => {
                throttled += 1;
                THROTTLED.fetch_add(1, Relaxed);
                tokio::time::sleep_until((Instant::now() + retry_after(&reply)).min(ctx.deadline)).await;
            }
            // The seat lapsed (no post or stream for the grace period): take it again, once.
            Ok(reply)
                if reply.status == StatusCode::FORBIDDEN
                    && !rejoined
                    && error_code(&reply).ends_with("not_a_member") =>
            {
                rejoined = true;
                ctx.rejoins.fetch_add(1, Relaxed);
                if let Err(err) = c.join(&room.id, cookie).await {
                    ctx.fail(format!("rejoin: {err:#}"));
                    return Posted::Failed;
                }
            }
            Ok(reply) => {
                ctx.fail(format!("post: {}", error_code(&reply)));
                return Posted::Failed;
            }
            // Not retried: the server may have stored it.
            Err(err) => {
                *conn = None;
                ctx.fail(format!("post: {err:#}"));
                return Posted::Failed;
            }
        }
    }
}

/// Renews the seat of every owner that has not joined or posted for 3 s, until `stop`.
pub async fn keep_owners_seated(
    target: Target,
    rooms: Arc<Mutex<Vec<Arc<Room>>>>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    const STALE_NS: u64 = 3_000_000_000;
    let mut conn: Option<Conn> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let list = rooms.lock().expect("not poisoned").clone();
        for room in list {
            if stop.is_cancelled() {
                return;
            }
            if shared.now_ns().saturating_sub(room.renewed_ns.load(Relaxed)) < STALE_NS {
                continue;
            }
            if conn.is_none() {
                conn = Conn::open(&target, None).await.ok();
            }
            let Some(c) = conn.as_mut() else { break };
            match c.join(&room.id, &room.owner_cookie).await {
                Ok(()) => room.renewed_ns.store(shared.now_ns(), Relaxed),
                Err(_) => conn = None,
            }
        }
    }
}
