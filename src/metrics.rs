//! Counters a user can scrape at `/metrics`, in Prometheus' text format, kept and encoded by
//! `prometheus-client` (the Prometheus project's own Rust client). One registry per app in
//! AppState rather than a global one, so two apps in one process (the tests) keep apart.

use std::{sync::Arc, time::Duration};

use prometheus_client::{
    encoding::{prometheus_text, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
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

/// Upper bounds of the write-latency buckets, in seconds.
const WRITE_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByTransport {
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BySource {
    from: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByReason {
    reason: &'static str,
}

/// Each metric's handle, taken from the registry once: counting is then one atomic add, as
/// it was before the registry (the per-transport ones sit on the delivery path).
struct Inner {
    registry: Registry,
    open: [Gauge; 3],
    events: [Counter; 3],
    bytes: [Counter; 3],
    lag_catch_ups: Counter,
    /// Directly written SSE sockets that went back to their own task (`realtime::direct`).
    handbacks: Counter,
    direct_sockets: Gauge,
    /// Catch-up reads answered from the room's recent messages in memory, and from storage.
    catch_up_reads: [Counter; 2],
    stalled_connections: Counter,
    /// Uploads decoded to check they are GIFs, and argon2 hashes computed: the expensive work
    /// a request can ask for.
    gif_checks: Counter,
    password_hashes: Counter,
    database_errors: Counter,
    write_seconds: Histogram,
    /// Messages stored by group commit, over the batches in `write_seconds`: the batch size.
    batched_messages: Counter,
    rejected: Family<ByReason, Counter>,
}

impl Default for Inner {
    fn default() -> Self {
        let mut registry = Registry::default();
        let per_transport = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<ByTransport, Counter>::default();
            registry.register(name, help, family.clone());
            Transport::ALL.map(|t| family.get_or_create_owned(&ByTransport { transport: t.label() }))
        };
        let open = Family::<ByTransport, Gauge>::default();
        registry.register("gifchat_open_streams", "Event streams open now, by transport", open.clone());
        let open = Transport::ALL.map(|t| open.get_or_create_owned(&ByTransport { transport: t.label() }));
        let events =
            per_transport(&mut registry, "gifchat_events_delivered", "Events written to clients, by transport");
        let bytes =
            per_transport(&mut registry, "gifchat_bytes_delivered", "Event bytes written to clients, by transport");
        let direct_sockets = Gauge::default();
        registry.register(
            "gifchat_direct_sockets",
            "SSE sockets written by their room's publisher now (the others are written by a task each)",
            direct_sockets.clone(),
        );
        let mut counter = |name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let lag_catch_ups = counter(
            "gifchat_lag_catch_ups",
            "Times a subscriber fell behind its room's channel and caught up (see gifchat_catch_up_reads)",
        );
        let handbacks = counter(
            "gifchat_direct_handbacks",
            "Times an SSE socket written by its room's publisher went back to its own task (it could not take an event at once, or a gap, a kick or a catch-up came)",
        );
        let stalled_connections =
            counter("gifchat_stalled_connections", "Connections closed because the client stopped reading");
        let gif_checks = counter("gifchat_gif_checks", "Uploads decoded to check they are GIFs");
        let password_hashes = counter("gifchat_password_hashes", "Room passwords hashed or checked (argon2id)");
        let database_errors = counter("gifchat_database_errors", "Requests that failed because of the database");
        let batched_messages = counter(
            "gifchat_batched_messages",
            "Posts stored by group commit; divided by gifchat_write_seconds_count, the mean batch size",
        );
        let write_seconds = Histogram::new(WRITE_BUCKETS);
        registry.register(
            "gifchat_write_seconds",
            "Time to store and publish one batch of posts (group commit)",
            write_seconds.clone(),
        );
        let reads = Family::<BySource, Counter>::default();
        registry.register(
            "gifchat_catch_up_reads",
            "Reads of messages a subscriber missed (a lag, a gap, a resume), by where they were found",
            reads.clone(),
        );
        let catch_up_reads = ["memory", "storage"].map(|from| reads.get_or_create_owned(&BySource { from }));
        let rejected = Family::<ByReason, Counter>::default();
        registry.register("gifchat_rejected_requests", "Requests refused, by error code", rejected.clone());
        Self {
            registry,
            open,
            events,
            bytes,
            lag_catch_ups,
            handbacks,
            direct_sockets,
            catch_up_reads,
            stalled_connections,
            gif_checks,
            password_hashes,
            database_errors,
            write_seconds,
            batched_messages,
            rejected,
        }
    }
}

#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Metrics {
    /// Counts an open stream until the returned guard is dropped.
    pub fn stream_opened(&self, transport: Transport) -> StreamGauge {
        self.inner.open[transport as usize].inc();
        StreamGauge { metrics: self.clone(), transport }
    }

    /// Streams open now, all transports together.
    pub fn open_streams(&self) -> i64 {
        self.inner.open.iter().map(Gauge::get).sum()
    }

    pub fn delivered(&self, transport: Transport, bytes: usize) {
        self.inner.events[transport as usize].inc();
        self.inner.bytes[transport as usize].inc_by(bytes as u64);
    }

    pub fn lag_catch_up(&self) {
        self.inner.lag_catch_ups.inc();
    }

    /// One more (1) or one fewer (-1) socket written by its room's publisher.
    pub fn direct_sockets(&self, change: i64) {
        self.inner.direct_sockets.inc_by(change);
    }

    pub fn direct_handback(&self) {
        self.inner.handbacks.inc();
    }

    /// One catch-up read, from the room's recent messages (`from_memory`) or from storage.
    pub fn catch_up_read(&self, from_memory: bool) {
        self.inner.catch_up_reads[usize::from(!from_memory)].inc();
    }

    pub fn gif_checked(&self) {
        self.inner.gif_checks.inc();
    }

    pub fn password_hashed(&self) {
        self.inner.password_hashes.inc();
    }

    /// A connection closed because its client stopped reading (WRITE_STALL_TIMEOUT).
    pub fn stalled_connection(&self) {
        self.inner.stalled_connections.inc();
    }

    pub fn database_error(&self) {
        self.inner.database_errors.inc();
    }

    /// A batch of `messages` posts was stored and published in `elapsed` (group commit).
    pub fn batch_written(&self, messages: usize, elapsed: Duration) {
        self.inner.batched_messages.inc_by(messages as u64);
        self.inner.write_seconds.observe(elapsed.as_secs_f64());
    }

    /// A request refused with this error code (4xx, or 503).
    pub fn rejected(&self, code: &'static str) {
        self.inner.rejected.get_or_create(&ByReason { reason: code }).inc();
    }

    /// Everything, in Prometheus' text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        prometheus_text::encode(&mut out, &self.inner.registry).expect("writing to a String cannot fail");
        out
    }
}

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// One open stream; dropping it lowers the gauge.
pub struct StreamGauge {
    metrics: Metrics,
    transport: Transport,
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        self.metrics.inner.open[self.transport as usize].dec();
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
