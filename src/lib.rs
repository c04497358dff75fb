//! gif-chat: rooms, chats and GIFs over REST, pushed live over Server-Sent Events, WebSocket
//! and long-polling.
//!
//! Layout, each layer using only the ones before it (tests/architecture.rs checks that no
//! file is part of an import cycle):
//! - `domain`: ids, users, rooms, messages, client addresses and the validated input types;
//! - `storage`: the [`storage::Store`] boundary: its rules written once, compiled for PostgreSQL
//!   and for SQLite; the relay that carries events between instances;
//! - `realtime`: the hub (fan-out), feeds (replay + live, gap-free), presence, SSE framing,
//!   WebSocket plumbing, the bus between instances; `limits`: what one client may cost;
//! - `state`: the handles every handler gets; `error`: the one error type; `web`: cross-cutting
//!   HTTP policy (client address, CSRF, write limits, body limits and timeouts);
//! - one folder per feature with its `router()`: `identity`, `rooms`, `chat`, `uploads`, plus
//!   `streams` (the event endpoints of every transport), `meta` (health, metrics, OpenAPI),
//!   `demo`, and `jobs` (heartbeat, reaper, GIF sweep);
//! - `server`: the accept loops and what they bound (header and write-stall timeouts, the
//!   hand-off of event streams out of hyper).
//!
//! [`Application::build`] is what `main` and the integration tests both call.

pub mod chat;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod identity;
mod jobs;
pub mod limits;
mod meta;
pub mod metrics;
pub mod realtime;
pub mod rooms;
mod server;
pub mod state;
pub mod storage;
pub mod streams;
pub mod telemetry;
pub mod uploads;
mod web;

#[cfg(test)]
mod fuzz_tests;

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use axum::{
    middleware,
    routing::{any, get},
    Router,
};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tower_http::services::{ServeDir, ServeFile};

pub use config::Config;
pub use meta::OPENAPI_YAML;

use crate::{
    identity::SessionKey,
    realtime::{Hub, Presence},
    state::AppState,
};

/// The name of the cookie-signing secret the server keeps in its database without COOKIE_SECRET.
const COOKIE_SECRET_NAME: &str = "cookie_secret";

/// Largest JSON body; a chat of 1,000 four-byte characters is 4 KB.
const JSON_BODY_LIMIT: usize = 64 * 1024;

pub struct Application {
    state: AppState,
    router: Router,
    tasks: JoinSet<()>,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    /// `/metrics` on a listener of its own (`METRICS_ADDR`), bound at build time.
    metrics_listener: Option<TcpListener>,
}

impl Application {
    /// Connects to the database (applying migrations), and wires the app together.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let storage::Connected { store, relay } = storage::connect(&config.database_url)
            .await
            .with_context(|| format!("opening {}", config::redact_url(&config.database_url)))?;
        let session_key = match &config.cookie_secret {
            Some(secret) if secret.len() >= 32 => SessionKey::new(secret.as_bytes()),
            Some(_) => anyhow::bail!("COOKIE_SECRET must be at least 32 bytes long"),
            None => {
                // Kept in the database, so sessions survive a restart (a restart must not
                // turn every member into a stranger) and instances on one database agree.
                let candidate = hex::encode(SessionKey::random_secret());
                let stored = store.secret(COOKIE_SECRET_NAME, &candidate).await?;
                tracing::info!("COOKIE_SECRET is not set: signing sessions with the secret kept in the database");
                SessionKey::new(stored.as_bytes())
            }
        };
        let shutdown = CancellationToken::new();
        let metrics = metrics::Metrics::default();
        // Read the certificate now, so a bad path fails at start-up, not at the first client.
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .with_context(|| format!("loading the TLS certificate {}", cert.display()))?,
            ),
            _ => None,
        };
        let hub = Hub::new(config.room_channel_capacity, metrics.clone());
        let state = AppState::new(state::Shared {
            clock: demo::spawn_clock(shutdown.clone()),
            writes: chat::deliver::Writes::new(store.clone(), hub.clone(), metrics.clone(), config.presence_grace),
            seats: rooms::seat_queue::SeatQueue::new(store.clone(), hub.clone()),
            hub,
            limits: Arc::new(limits::Limits::new(&config, metrics.clone())),
            metrics,
            presence: Presence::new(store.clone(), config.presence_grace, shutdown.clone()),
            config: Arc::new(config),
            store,
            shutdown,
        });
        resume_seats_after_outage(&state).await?;
        let mut tasks = JoinSet::new();
        jobs::spawn(&state, &mut tasks);
        match relay {
            Some(relay) => {
                let ctx = realtime::bus::Context {
                    hub: state.hub.clone(),
                    store: state.store.clone(),
                    shutdown: state.shutdown.clone(),
                };
                realtime::bus::start(relay, ctx, &mut tasks).await?
            }
            None => tracing::info!("SQLite: this process is the only instance (use PostgreSQL to run several)"),
        }
        let metrics_listener = match state.config.metrics_addr {
            Some(address) => {
                Some(TcpListener::bind(address).await.with_context(|| format!("binding METRICS_ADDR {address}"))?)
            }
            None => None,
        };
        let sessions = identity::Sessions::new(session_key, state.config.is_tls() || state.config.secure_cookies);
        Ok(Self { router: router(state.clone(), sessions), state, tasks, tls, metrics_listener })
    }

    /// Where `/metrics` is served when it has a listener of its own.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then ends every open stream, waits for in-flight
    /// requests and stops the background tasks.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let token = self.state.shutdown.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: closing streams and finishing requests");
            token.cancel();
        };
        if let Some(listener) = self.metrics_listener.take() {
            let metrics = meta::metrics_router().with_state(self.state.clone());
            let stop = self.state.shutdown.clone();
            tracing::info!(address = ?listener.local_addr().ok(), "serving /metrics on its own listener");
            self.tasks.spawn(async move {
                let served = axum::serve(listener, metrics).with_graceful_shutdown(stop.cancelled_owned()).await;
                if let Err(err) = served {
                    tracing::warn!(error = %err, "the metrics listener failed");
                }
            });
        }
        let config = &self.state.config;
        let limits = server::ConnectionLimits {
            header_read_timeout: config.header_read_timeout,
            write_stall_timeout: config.write_stall_timeout,
            metrics: self.state.metrics.clone(),
        };
        match self.tls.take() {
            None => server::serve_http1(listener, self.router, limits, signal).await?,
            Some(tls) => {
                let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
                let handle = axum_server::Handle::new();
                let stopper = handle.clone();
                tokio::spawn(async move {
                    signal.await;
                    stopper.graceful_shutdown(Some(server::DRAIN_TIMEOUT));
                });
                let stall =
                    server::write_stall::StallAcceptor { limit: limits.write_stall_timeout, metrics: limits.metrics };
                let acceptor = server::first_bytes::FirstBytesWithin {
                    inner: axum_server::tls_rustls::RustlsAcceptor::new(tls).acceptor(stall),
                    limit: limits.header_read_timeout,
                };
                let mut server = axum_server::from_tcp(listener.into_std()?)?.acceptor(acceptor);
                server
                    .http_builder()
                    .http1()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout);
                server
                    .http_builder()
                    .http2()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .keep_alive_interval(config.keep_alive)
                    .keep_alive_timeout(limits.header_read_timeout);
                server.handle(handle).serve(service).await?;
            }
        }
        self.state.shutdown.cancel();
        // Upgraded WebSocket sessions run outside the connection tracking; give them a moment
        // to send their 1001 close frames before the process exits.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while self.state.metrics.open_streams() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        while self.tasks.join_next().await.is_some() {}
        Ok(())
    }
}

/// A restart is not everybody leaving. While no instance ran, nobody could renew a seat, so
/// after an outage longer than the lease every seat has lapsed, and the first reaper pass
/// would delete every room with its history. So the first instance to come back gives every
/// seat a lease and a grace period from now for its client to reconnect; seats nobody comes
/// back for expire after that as usual. With other instances running (a rolling deploy, a
/// crashed instance beside live ones) nothing is extended: they have been renewing their
/// seats and reaping the dead instance's.
async fn resume_seats_after_outage(state: &AppState) -> anyhow::Result<()> {
    // Alone, or beside others that renew nothing (they all came back at once, or the
    // connections of a crashed host linger in PostgreSQL's view): the seats are orphans.
    let now = chrono::Utc::now();
    if !state.store.is_sole_instance().await? && state.store.has_live_seats(now).await? {
        return Ok(());
    }
    let until = now + state.config.presence_lease + state.config.presence_grace;
    let resumed = state.store.resume_seats(until).await?;
    if resumed > 0 {
        tracing::info!(seats = resumed, %until, "kept the seats of the last run for their clients to come back");
    }
    Ok(())
}

fn router(state: AppState, sessions: identity::Sessions) -> Router {
    let static_dir = &state.config.static_dir;
    let json_api = Router::new()
        .merge(identity::router())
        .merge(rooms::router())
        .merge(chat::router())
        .merge(streams::router())
        .merge(meta::router(state.config.metrics_addr.is_none()))
        .merge(demo::router());
    let api = web::limit_body(json_api, JSON_BODY_LIMIT)
        .merge(uploads::router(state.config.max_upload_bytes))
        .route("/api/{*rest}", any(web::api_not_found))
        .method_not_allowed_fallback(web::method_not_allowed);
    // An unknown address that is not the API's gets a small page with a way back (404).
    let files = ServeDir::new(static_dir).not_found_service(ServeFile::new(static_dir.join("404.html")));
    let pages = Router::new()
        .route_service("/rooms/{id}", ServeFile::new(static_dir.join("room.html")))
        .route_service("/demo/ws", ServeFile::new(static_dir.join("demo/ws.html")))
        .route_service("/demo/sse", ServeFile::new(static_dir.join("demo/sse.html")))
        .route_service("/compare", ServeFile::new(static_dir.join("compare.html")))
        .fallback_service(files);
    let app = web::never_store(api).merge(web::revalidate_every_use(pages));
    let app = web::time_out_stalled_bodies(app, state.config.body_read_timeout)
        .layer(middleware::from_fn_with_state(state.limits.clone(), web::limit_writes))
        .layer(middleware::from_fn_with_state(sessions, identity::identify))
        .layer(middleware::from_fn_with_state(web::TrustProxy(state.config.trust_proxy), web::resolve_client_address))
        .layer(middleware::from_fn(web::reject_cross_site_writes))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), web::observe_errors));
    let app = app.route("/favicon.ico", get(|| async { axum::response::Redirect::permanent("/favicon.svg") }));
    let app = web::compress(web::with_security_headers(app, state.config.is_tls()));
    app.layer(telemetry::trace_layer()).with_state(state)
}
