//! Shared state: cheap handles, cloned into every handler.

use std::{ops::Deref, sync::Arc};

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Config,
    realtime::{Hub, Presence},
    storage::Store,
};

/// Behind one `Arc`: axum clones the state for every request (the handler service, then each
/// `State` extractor) and drops it at the end. With the handles as fields, that was a dozen
/// reference counts bumped and dropped per clone, each a cache line shared by both cores:
/// 4 % of the server's CPU in scenario 1 over long-polling (perf, BENCHMARKS.md 2026-12-04).
/// Now a clone is one count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler shares; reached through [`AppState`].
pub struct Shared {
    /// Limits and timings; read-only after start-up.
    pub config: Arc<Config>,
    /// The database, behind the backend-neutral boundary.
    pub store: Arc<dyn Store>,
    /// In-process fan-out to open streams.
    pub hub: Hub,
    /// This process's open room streams, which keep their users' seats alive.
    pub presence: Presence,
    /// The server clock the `/demo/sse` page shows, ticking once a second.
    pub clock: tokio::sync::watch::Receiver<i64>,
    /// What one session or client address may cost: writes, new sessions, open streams,
    /// password guesses, upload bytes, and turns at the expensive work.
    pub limits: Arc<crate::limits::Limits>,
    /// Counters served at `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Group commit: the queues of posts waiting for their room's writer.
    pub writes: crate::chat::deliver::Writes,
    /// Joins in batches: the queues of seat requests waiting for their room's writer.
    pub seats: crate::rooms::seat_queue::SeatQueue,
    /// Cancelled at shutdown, so long-lived streams end and the server can exit.
    pub shutdown: CancellationToken,
}

impl FromRef<AppState> for Arc<dyn Store> {
    fn from_ref(state: &AppState) -> Self {
        state.store.clone()
    }
}
