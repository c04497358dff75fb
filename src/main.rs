//! Reads the configuration, starts logging, builds the app and serves it until Ctrl-C or
//! SIGTERM. Everything else lives in the library, where the tests can reach it.

use clap::Parser;
use gif_chat::{Application, Config};

/// mimalloc instead of glibc's malloc: every request allocates and frees a few dozen small
/// blocks (hyper's, axum's boxed route futures, the JSON), and glibc's free lists, with their
/// consolidation and locks, were 17 % of the server's CPU in scenario 1 over long-polling.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // A missing .env is fine; a broken one is worth knowing about.
    if let Err(err) = dotenvy::dotenv() {
        if !err.not_found() {
            eprintln!("ignoring .env: {err}");
        }
    }
    gif_chat::telemetry::init();
    let config = Config::parse();
    tracing::info!(?config, "starting");
    let address = std::net::SocketAddr::new(config.host, config.port);
    let app = Application::build(config).await?;
    let listener = tokio::net::TcpListener::bind(address).await?;
    let scheme = if app.state().config.is_tls() { "https" } else { "http" };
    tracing::info!("listening on {scheme}://{}", listener.local_addr()?);
    app.serve(listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
