//! Posting: `--posters` tasks, one connection each, take the next sequence number g and post
//! `"<send nanos>|<g>|<padding>"` to room g mod R as its owner, paced to `--rate` if set.

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
    attempted: AtomicU64,
    ok_per_room: Vec<AtomicU64>,
    posted: AtomicBits,
    latency_us: Histogram,
    failures: Mutex<BTreeMap<String, u64>>,
    rejoins: AtomicU64,
    timed_out: AtomicBool,
}

impl Ctx {
    fn fail(&self, why: String) {
        *self.failures.lock().expect("not poisoned").entry(why).or_default() += 1;
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
    let ctx = Arc::new(Ctx {
        target: target.clone(),
        ok_per_room: (0..rooms.len()).map(|_| AtomicU64::new(0)).collect(),
        rooms,
        shared,
        total: args.messages,
        rate: args.rate,
        padding: "x".repeat(args.message_bytes),
        start: Instant::now(),
        deadline,
        next: AtomicU64::new(0),
        attempted: AtomicU64::new(0),
        posted: AtomicBits::new(args.messages as usize),
        latency_us: Histogram::default(),
        failures: Mutex::default(),
        rejoins: AtomicU64::new(0),
        timed_out: AtomicBool::new(false),
    });
    let posters: Vec<_> = (0..args.posters)
        .map(|i| tokio::spawn(poster(ctx.clone(), crate::source_addr(args.source_addrs, i))))
        .collect();
    for handle in posters {
        let _ = handle.await;
    }
    let seconds = ctx.start.elapsed().as_secs_f64();
    let ctx = Arc::into_inner(ctx).expect("every poster has finished");
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
        if Instant::now() >= ctx.deadline {
            ctx.timed_out.store(true, Relaxed);
            return;
        }
        ctx.attempted.fetch_add(1, Relaxed);
        let r = (g % ctx.rooms.len() as u64) as usize;
        let room = &ctx.rooms[r];
        let path = format!("/api/rooms/{}/messages", room.id);
        let mut rejoined = false;
        let mut throttled = 0;
        loop {
            if conn.is_none() {
                match timeout_at(ctx.deadline, Conn::open(&ctx.target, source)).await {
                    Ok(Ok(c)) => conn = Some(c),
                    Ok(Err(err)) => {
                        ctx.fail(format!("connect: {err:#}"));
                        break;
                    }
                    Err(_) => {
                        ctx.timed_out.store(true, Relaxed);
                        return;
                    }
                }
            }
            let c = conn.as_mut().expect("connected above");
            let body = format!("{{\"text\":\"{}|{g}|{}\"}}", ctx.shared.now_ns(), ctx.padding);
            let started = Instant::now();
            let reply = match timeout_at(
                ctx.deadline,
                c.call(Method::POST, &path, Some(&room.owner_cookie), Some(Bytes::from(body))),
            )
            .await
            {
                Ok(reply) => reply,
                Err(_) => {
                    ctx.fail("timed out".into());
                    ctx.timed_out.store(true, Relaxed);
                    return;
                }
            };
            match reply {
                Ok(reply) if reply.status == StatusCode::CREATED => {
                    ctx.latency_us.record(started.elapsed().as_micros() as u64);
                    ctx.ok_per_room[r].fetch_add(1, Relaxed);
                    ctx.posted.insert(g as usize);
                    room.renewed_ns.store(ctx.shared.now_ns(), Relaxed);
                }
                // The write limit: wait as told and send it again (the server stored nothing).
                Ok(reply) if reply.status == StatusCode::TOO_MANY_REQUESTS && throttled < MAX_THROTTLED_RETRIES => {
                    throttled += 1;
                    THROTTLED.fetch_add(1, Relaxed);
                    tokio::time::sleep_until((Instant::now() + retry_after(&reply)).min(ctx.deadline)).await;
                    continue;
                }
                // The owner's seat lapsed (no post for the grace period): take it again, once.
                Ok(reply)
                    if reply.status == StatusCode::FORBIDDEN
                        && !rejoined
                        && error_code(&reply).ends_with("not_a_member") =>
                {
                    rejoined = true;
                    ctx.rejoins.fetch_add(1, Relaxed);
                    match c.join(&room.id, &room.owner_cookie).await {
                        Ok(()) => continue,
                        Err(err) => ctx.fail(format!("rejoin: {err:#}")),
                    }
                }
                Ok(reply) => ctx.fail(format!("post: {}", error_code(&reply))),
                // Not retried: the server may have stored it.
                Err(err) => {
                    conn = None;
                    ctx.fail(format!("post: {err:#}"));
                }
            }
            break;
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
