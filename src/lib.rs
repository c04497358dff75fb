//! gif-chat: rooms, chats and GIFs over REST, pushed live over Server-Sent Events.
//!
//! Layout:
//! - `domain`: ids, users, rooms, messages and the validated input types;
//! - `storage`: the [`storage::Store`] boundary with PostgreSQL and SQLite behind it;
//! - `realtime`: the hub (fan-out), feeds (replay + live, gap-free), presence, SSE;
//! - one folder per feature with its `router()`: `identity`, `rooms`, `chat`, `uploads`, plus
//!   `streams` (the event-stream endpoints) and `meta` (health, OpenAPI);
//! - `web`: cross-cutting HTTP policy; `error`: the one error type.
//!
//! [`Application::build`] is what `main` and the integration tests both call.

pub mod chat;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod identity;
mod meta;
pub mod metrics;
pub mod rate_limit;
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

/// Largest JSON body; a chat of 1,000 four-byte characters is 4 KB.
const JSON_BODY_LIMIT: usize = 64 * 1024;

pub struct Application {
    state: AppState,
    router: Router,
    tasks: JoinSet<()>,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
}

impl Application {
    /// Connects to the database (applying migrations), and wires the app together.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let storage::Connected { store, postgres } = storage::connect(&config.database_url)
            .await
            .with_context(|| format!("opening {}", config::redact_url(&config.database_url)))?;
        let session_key = match &config.cookie_secret {
            Some(secret) if secret.len() >= 32 => SessionKey::new(secret.as_bytes()),
            Some(_) => anyhow::bail!("COOKIE_SECRET must be at least 32 bytes long"),
            None => {
                tracing::warn!(
                    "COOKIE_SECRET is not set: using a random one, so sessions end when the server restarts \
                     (and instances sharing a database must all be given the same secret)"
                );
                SessionKey::random()
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
        let state = AppState {
            clock: demo::spawn_clock(shutdown.clone()),
            hub: Hub::new(config.room_channel_capacity, metrics.clone()),
            metrics,
            rate_limits: rate_limits(&config),
            presence: Presence::new(store.clone(), config.presence_grace, shutdown.clone()),
            config: Arc::new(config),
            store,
            session_key,
            writes: Default::default(),
            shutdown,
        };
        let mut tasks = JoinSet::new();
        realtime::spawn_background_tasks(&state, &mut tasks);
        match postgres {
            Some(pool) => realtime::bus::start(pool, &state, &mut tasks).await?,
            None => tracing::info!("SQLite: this process is the only instance (use PostgreSQL to run several)"),
        }
        Ok(Self { router: router(state.clone()), state, tasks, tls })
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
                let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls).acceptor(stall);
                axum_server::from_tcp(listener.into_std()?)?.acceptor(acceptor).handle(handle).serve(service).await?;
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

fn rate_limits(config: &Config) -> rate_limit::RateLimits {
    if config.rate_limit_burst == 0 || config.rate_limit_per_second <= 0.0 {
        return rate_limit::RateLimits::new(None, None);
    }
    let session =
        rate_limit::Rate { burst: f64::from(config.rate_limit_burst), per_second: config.rate_limit_per_second };
    let factor = config.rate_limit_address_factor.max(1.0);
    let address = rate_limit::Rate { burst: session.burst * factor, per_second: session.per_second * factor };
    rate_limit::RateLimits::new(Some(session), Some(address))
}

fn router(state: AppState) -> Router {
    let static_dir = &state.config.static_dir;
    let json_api = Router::new()
        .merge(identity::router())
        .merge(rooms::router())
        .merge(chat::router())
        .merge(streams::router())
        .merge(meta::router())
        .merge(demo::router());
    let api = web::limit_body(json_api, JSON_BODY_LIMIT)
        .merge(uploads::router(state.config.max_upload_bytes))
        .route("/api/{*rest}", any(web::api_not_found))
        .method_not_allowed_fallback(web::method_not_allowed);
    let pages = Router::new()
        .route_service("/rooms/{id}", ServeFile::new(static_dir.join("room.html")))
        .route_service("/demo/ws", ServeFile::new(static_dir.join("demo/ws.html")))
        .route_service("/demo/sse", ServeFile::new(static_dir.join("demo/sse.html")))
        .route_service("/compare", ServeFile::new(static_dir.join("compare.html")))
        .fallback_service(ServeDir::new(static_dir));
    let app = api
        .merge(pages)
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit::limit_writes))
        .layer(middleware::from_fn_with_state(state.clone(), identity::identify))
        .layer(middleware::from_fn(web::reject_cross_site_writes))
        .layer(middleware::from_fn_with_state(state.clone(), error::observe_errors));
    web::with_security_headers(app)
        .layer(telemetry::trace_layer())
        .route("/favicon.ico", get(|| async { axum::response::Redirect::permanent("/favicon.svg") }))
        .with_state(state)
}
