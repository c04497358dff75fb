//! The results: the numbers of a run, as JSON and (table.rs) as a table on stdout.

mod table;

use std::{collections::BTreeMap, time::Duration};

use serde_json::{json, Value};

use crate::{
    poster::Posting,
    stats::{sorted_quantile, Histogram},
    subscriber::SubResult,
    Args, Shared,
};

#[derive(Default)]
pub struct ServerStats {
    pub rss_before_kib: Option<u64>,
    pub rss_subscribed_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    /// The highest RSS sampled from the start of posting to the end of the deliveries.
    pub rss_peak_kib: Option<u64>,
    /// utime + stime from the start of posting to the end of the deliveries.
    pub cpu_seconds: Option<f64>,
}

#[derive(Default)]
struct Deliveries {
    expected: u64,
    delivered: u64,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
    misrouted: u64,
    /// Chats not sent by this run's posters.
    foreign: u64,
    /// Deliveries of posts that did not get a 201.
    unexpected: u64,
    ended_early: BTreeMap<String, u64>,
    latency_ms: Value,
}

#[derive(Default)]
struct PostStats {
    attempted: u64,
    ok: u64,
    failures: BTreeMap<String, u64>,
    seconds: f64,
    rejoins: u64,
    latency_ms: Value,
}

pub struct Report {
    config: Value,
    target_subscribers: usize,
    connected: usize,
    connect_failures: BTreeMap<String, u64>,
    setup_seconds: f64,
    connect_ms: Value,
    /// Since setup started, when every subscriber had seen every join (`Some(None)`: never).
    joins_seen: Option<Option<f64>>,
    messages: u64,
    /// A soak's duration in seconds; `None` for a run of `--messages`.
    soak_secs: Option<u64>,
    posts: PostStats,
    deliveries: Deliveries,
    pub server: Option<ServerStats>,
    pub generator_cpu_seconds: Option<f64>,
    pub timed_out: bool,
}

fn ms(us: Option<u64>) -> Value {
    us.map_or(Value::Null, |us| json!((us as f64 / 10.0).round() / 100.0))
}

fn histogram_ms(h: &Histogram, quantiles: &[(&str, f64)]) -> Value {
    let mut map = serde_json::Map::new();
    for (name, q) in quantiles {
        map.insert(name.to_string(), ms(h.quantile(*q)));
    }
    Value::Object(map)
}

impl Report {
    pub fn new(args: &Args) -> Self {
        Self {
            config: json!({
                "url": args.url,
                "transport": args.transport.name(),
                "rooms": args.rooms,
                "subscribers_per_room": args.subscribers,
                "messages": args.messages,
                "rate": args.rate,
                "posters": args.posters,
                "message_bytes": args.message_bytes,
                "source_addrs": args.source_addrs,
                "room_max": args.room_max,
                "timeout_s": args.timeout,
                "soak_secs": args.soak_secs,
                "soak_interval_ms": args.soak_secs.map(|_| args.soak_interval_ms),
            }),
            target_subscribers: args.rooms * args.subscribers,
            connected: 0,
            connect_failures: BTreeMap::new(),
            setup_seconds: 0.0,
            connect_ms: Value::Null,
            joins_seen: None,
            messages: args.messages,
            soak_secs: args.soak_secs,
            posts: PostStats::default(),
            deliveries: Deliveries::default(),
            server: None,
            generator_cpu_seconds: None,
            timed_out: false,
        }
    }

    pub fn set_connections(
        &mut self,
        target: usize,
        connect_ns: &mut [u64],
        setup: Duration,
        failures: BTreeMap<String, u64>,
    ) {
        connect_ns.sort_unstable();
        let q = |q| ms(sorted_quantile(connect_ns, q).map(|ns| ns / 1000));
        self.target_subscribers = target;
        self.connected = connect_ns.len();
        self.connect_failures = failures;
        self.setup_seconds = setup.as_secs_f64();
        self.connect_ms = json!({ "p50": q(0.5), "p99": q(0.99), "max": q(1.0) });
    }

    /// When every join had reached every subscriber already there (None: not within the wait).
    pub fn set_joins_seen(&mut self, at: Option<Duration>) {
        self.joins_seen = Some(at.map(|at| at.as_secs_f64()));
    }

    pub fn set_deliveries(&mut self, args: &Args, posting: Option<&Posting>, results: &[SubResult], shared: &Shared) {
        let d = &mut self.deliveries;
        let rooms = args.rooms;
        let mut connected_per_room = vec![0u64; rooms];
        for result in results.iter().filter(|r| r.connected) {
            connected_per_room[result.room] += 1;
            let t = &result.tracker;
            for i in t.seen.iter() {
                let g = i * rooms + result.room;
                if posting.is_some_and(|p| p.posted.contains(g)) {
                    d.delivered += 1;
                } else {
                    d.unexpected += 1;
                }
            }
            d.duplicated += t.duplicated;
            d.out_of_order += t.out_of_order;
            d.misrouted += t.misrouted;
            d.foreign += t.foreign;
            if let Some(why) = &result.ended_early {
                *d.ended_early.entry(why.clone()).or_default() += 1;
            }
        }
        if let Some(p) = posting {
            d.expected = (0..rooms).map(|r| p.posted_per_room[r] * connected_per_room[r]).sum();
            self.posts = PostStats {
                attempted: p.attempted,
                ok: p.ok,
                failures: p.failures.clone(),
                seconds: p.seconds,
                rejoins: p.rejoins,
                latency_ms: histogram_ms(&p.latency_us, &[("p50", 0.5), ("p99", 0.99), ("max", 1.0)]),
            };
        }
        d.lost = d.expected.saturating_sub(d.delivered);
        d.latency_ms = histogram_ms(&shared.latency_us, &[("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)]);
    }

    /// Everything connected, posted and arrived exactly once, in order.
    pub fn ok(&self) -> bool {
        let d = &self.deliveries;
        !self.timed_out
            && self.connected == self.target_subscribers
            && self.joins_seen.is_none_or(|seen| seen.is_some())
            && if self.soak_secs.is_some() { self.posts.ok > 0 } else { self.posts.ok == self.messages }
            && self.posts.failures.is_empty()
            && d.lost == 0
            && d.duplicated == 0
            && d.out_of_order == 0
            && d.misrouted == 0
            && d.delivered == d.expected
    }

    fn rate(&self) -> f64 {
        if self.posts.seconds > 0.0 {
            self.posts.ok as f64 / self.posts.seconds
        } else {
            0.0
        }
    }

    fn server_json(&self) -> Value {
        let Some(s) = &self.server else { return Value::Null };
        let per_connection = match (s.rss_before_kib, s.rss_subscribed_kib) {
            (Some(a), Some(b)) if self.connected > 0 => {
                json!(((b as f64 - a as f64) / self.connected as f64 * 100.0).round() / 100.0)
            }
            _ => Value::Null,
        };
        let per_delivery = match s.cpu_seconds {
            Some(cpu) if self.deliveries.delivered > 0 => {
                json!((cpu * 1e6 / self.deliveries.delivered as f64 * 100.0).round() / 100.0)
            }
            _ => Value::Null,
        };
        json!({
            "rss_kib_before": s.rss_before_kib,
            "rss_kib_subscribed": s.rss_subscribed_kib,
            "rss_kib_per_connection": per_connection,
            "rss_kib_after": s.rss_after_kib,
            "rss_kib_peak": s.rss_peak_kib,
            "cpu_seconds": s.cpu_seconds.map(|c| (c * 1000.0).round() / 1000.0),
            "cpu_us_per_delivery": per_delivery,
        })
    }

    /// A soak's figures in one place: what the soak promises is lost = duplicated = 0.
    fn soak_json(&self) -> Value {
        let Some(seconds) = self.soak_secs else { return Value::Null };
        let d = &self.deliveries;
        let server = self.server.as_ref();
        json!({
            "seconds": seconds,
            "clients": self.connected,
            "sent": self.posts.ok,
            "delivered": d.delivered,
            "lost": d.lost,
            "duplicated": d.duplicated,
            "out_of_order": d.out_of_order,
            "rss_kib_start": server.and_then(|s| s.rss_subscribed_kib),
            "rss_kib_end": server.and_then(|s| s.rss_after_kib),
            "rss_kib_peak": server.and_then(|s| s.rss_peak_kib),
        })
    }

    pub fn to_json(&self) -> Value {
        let d = &self.deliveries;
        json!({
            "ok": self.ok(),
            "timed_out": self.timed_out,
            "config": self.config,
            "subscribers": {
                "target": self.target_subscribers,
                "connected": self.connected,
                "failures": self.connect_failures,
                "setup_seconds": (self.setup_seconds * 1000.0).round() / 1000.0,
                "connect_ms": self.connect_ms,
                "joins_seen_by_all_seconds": self.joins_seen.flatten().map(|s| (s * 1000.0).round() / 1000.0),
            },
            "posts": {
                "messages": self.messages,
                "attempted": self.posts.attempted,
                "ok": self.posts.ok,
                "failed": self.posts.failures.values().sum::<u64>(),
                "failures": self.posts.failures,
                "owner_rejoins": self.posts.rejoins,
                "throttled_429": crate::http::THROTTLED.load(std::sync::atomic::Ordering::Relaxed),
                "seconds": (self.posts.seconds * 1000.0).round() / 1000.0,
                "rate_per_s": (self.rate() * 10.0).round() / 10.0,
                "latency_ms": self.posts.latency_ms,
            },
            "deliveries": {
                "expected": d.expected,
                "delivered": d.delivered,
                "lost": d.lost,
                "duplicated": d.duplicated,
                "out_of_order": d.out_of_order,
                "misrouted": d.misrouted,
                "foreign": d.foreign,
                "unexpected": d.unexpected,
                "streams_ended_early": d.ended_early,
                "latency_ms": d.latency_ms,
            },
            "soak": self.soak_json(),
            "server": self.server_json(),
            "generator_cpu_seconds": self.generator_cpu_seconds.map(|c| (c * 1000.0).round() / 1000.0),
        })
    }
}
