//! Counters a user can scrape at `/metrics`, in Prometheus' text format. Plain atomics in
//! AppState rather than a global recorder, so two apps in one process (the tests) keep apart.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::Duration,
};

/// A transport that carries events to clients.
#[derive(Clone, Copy, Debug)]
pub enum Transport {
    Sse,
    WebSocket,
    Poll,
}

impl Transport {
    const ALL: [Transport; 3] = [Transport::Sse, Transport::WebSocket, Transport::Poll];

    fn label(self) -> &'static str {
        match self {
            Self::Sse => "sse",
            Self::WebSocket => "ws",
            Self::Poll => "poll",
        }
    }
}

#[derive(Default)]
struct PerTransport {
    open: AtomicI64,
    events: AtomicU64,
    bytes: AtomicU64,
}

/// Upper bounds of the write-latency buckets, in seconds.
const WRITE_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

#[derive(Default)]
struct Inner {
    transports: [PerTransport; 3],
    lag_catch_ups: AtomicU64,
    stalled_connections: AtomicU64,
    /// Uploads decoded to check they are GIFs, and argon2 hashes computed: the expensive work
    /// a request can ask for.
    gif_checks: AtomicU64,
    password_hashes: AtomicU64,
    database_errors: AtomicU64,
    writes: [AtomicU64; WRITE_BUCKETS.len() + 1],
    /// Messages stored by group commit, over `writes` batches: the ratio is the batch size.
    batched_messages: AtomicU64,
    write_micros_sum: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Metrics {
    fn of(&self, transport: Transport) -> &PerTransport {
        &self.inner.transports[transport as usize]
    }

    /// Counts an open stream until the returned guard is dropped.
    pub fn stream_opened(&self, transport: Transport) -> StreamGauge {
        self.of(transport).open.fetch_add(1, Relaxed);
        StreamGauge { metrics: self.clone(), transport }
    }

    /// Streams open now, all transports together.
    pub fn open_streams(&self) -> i64 {
        Transport::ALL.iter().map(|&t| self.of(t).open.load(Relaxed)).sum()
    }

    pub fn delivered(&self, transport: Transport, bytes: usize) {
        let counters = self.of(transport);
        counters.events.fetch_add(1, Relaxed);
        counters.bytes.fetch_add(bytes as u64, Relaxed);
    }

    pub fn lag_catch_up(&self) {
        self.inner.lag_catch_ups.fetch_add(1, Relaxed);
    }

    /// A connection closed because its client stopped reading (WRITE_STALL_TIMEOUT).
    pub fn gif_checked(&self) {
        self.inner.gif_checks.fetch_add(1, Relaxed);
    }

    pub fn password_hashed(&self) {
        self.inner.password_hashes.fetch_add(1, Relaxed);
    }

    pub fn stalled_connection(&self) {
        self.inner.stalled_connections.fetch_add(1, Relaxed);
    }

    pub fn database_error(&self) {
        self.inner.database_errors.fetch_add(1, Relaxed);
    }

    /// A batch of `messages` posts was stored and published in `elapsed` (group commit).
    pub fn batch_written(&self, messages: usize, elapsed: Duration) {
        self.inner.batched_messages.fetch_add(messages as u64, Relaxed);
        self.write_took(elapsed);
    }

    fn write_took(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = WRITE_BUCKETS.iter().position(|&bound| seconds <= bound).unwrap_or(WRITE_BUCKETS.len());
        self.inner.writes[bucket].fetch_add(1, Relaxed);
        self.inner.write_micros_sum.fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    /// A request refused with this error code (4xx, or 503).
    pub fn rejected(&self, code: &'static str) {
        *self.inner.rejected.lock().unwrap().entry(code).or_default() += 1;
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let inner = &self.inner;
        out.push_str(
            "# HELP gifchat_open_streams Event streams open now, by transport.\n# TYPE gifchat_open_streams gauge\n",
        );
        for t in Transport::ALL {
            let _ =
                writeln!(out, "gifchat_open_streams{{transport=\"{}\"}} {}", t.label(), self.of(t).open.load(Relaxed));
        }
        out.push_str("# HELP gifchat_events_delivered_total Events written to clients, by transport.\n# TYPE gifchat_events_delivered_total counter\n");
        for t in Transport::ALL {
            let _ = writeln!(
                out,
                "gifchat_events_delivered_total{{transport=\"{}\"}} {}",
                t.label(),
                self.of(t).events.load(Relaxed)
            );
        }
        out.push_str("# HELP gifchat_bytes_delivered_total Event bytes written to clients, by transport.\n# TYPE gifchat_bytes_delivered_total counter\n");
        for t in Transport::ALL {
            let _ = writeln!(
                out,
                "gifchat_bytes_delivered_total{{transport=\"{}\"}} {}",
                t.label(),
                self.of(t).bytes.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP gifchat_lag_catch_ups_total Times a subscriber fell behind and caught up from storage.\n\
             # TYPE gifchat_lag_catch_ups_total counter\ngifchat_lag_catch_ups_total {}",
            inner.lag_catch_ups.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP gifchat_stalled_connections_total Connections closed because the client stopped reading.\n\
             # TYPE gifchat_stalled_connections_total counter\ngifchat_stalled_connections_total {}",
            inner.stalled_connections.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP gifchat_gif_checks_total Uploads decoded to check they are GIFs.\n\
             # TYPE gifchat_gif_checks_total counter\ngifchat_gif_checks_total {}\n\
             # HELP gifchat_password_hashes_total Room passwords hashed or checked (argon2id).\n\
             # TYPE gifchat_password_hashes_total counter\ngifchat_password_hashes_total {}",
            inner.gif_checks.load(Relaxed),
            inner.password_hashes.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP gifchat_database_errors_total Requests that failed because of the database.\n\
             # TYPE gifchat_database_errors_total counter\ngifchat_database_errors_total {}",
            inner.database_errors.load(Relaxed)
        );
        out.push_str("# HELP gifchat_rejected_requests_total Requests refused, by error code.\n# TYPE gifchat_rejected_requests_total counter\n");
        for (code, count) in inner.rejected.lock().unwrap().iter() {
            let _ = writeln!(out, "gifchat_rejected_requests_total{{reason=\"{code}\"}} {count}");
        }
        out.push_str(
            "# HELP gifchat_write_seconds Time to store and publish one batch of posts (group commit).\n\
             # TYPE gifchat_write_seconds histogram\n",
        );
        let mut cumulative = 0;
        for (i, bound) in WRITE_BUCKETS.iter().enumerate() {
            cumulative += inner.writes[i].load(Relaxed);
            let _ = writeln!(out, "gifchat_write_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += inner.writes[WRITE_BUCKETS.len()].load(Relaxed);
        let _ = writeln!(out, "gifchat_write_seconds_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "gifchat_write_seconds_sum {}", inner.write_micros_sum.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "gifchat_write_seconds_count {cumulative}");
        let _ = writeln!(
            out,
            "# HELP gifchat_batched_messages_total Posts stored by group commit; divided by \
             gifchat_write_seconds_count, the mean batch size.\n\
             # TYPE gifchat_batched_messages_total counter\ngifchat_batched_messages_total {}",
            inner.batched_messages.load(Relaxed)
        );
        out
    }
}

/// One open stream; dropping it lowers the gauge.
pub struct StreamGauge {
    metrics: Metrics,
    transport: Transport,
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        self.metrics.of(self.transport).open.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        let gauge = metrics.stream_opened(Transport::Sse);
        metrics.delivered(Transport::Sse, 120);
        metrics.batch_written(2, Duration::from_millis(3));
        metrics.rejected("room_full");
        let text = metrics.render();
        assert!(text.contains("gifchat_open_streams{transport=\"sse\"} 1"));
        assert!(text.contains("gifchat_bytes_delivered_total{transport=\"sse\"} 120"));
        assert!(text.contains("gifchat_write_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("gifchat_batched_messages_total 2"));
        assert!(text.contains("gifchat_rejected_requests_total{reason=\"room_full\"} 1"));
        drop(gauge);
        assert!(metrics.render().contains("gifchat_open_streams{transport=\"sse\"} 0"));
    }
}
