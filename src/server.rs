//! The plain-HTTP accept loop. `axum::serve` would do, but it cannot bound how long a client
//! may take to send its headers (a flood of half-open connections would pin memory and file
//! descriptors), and it sniffs every connection for HTTP/2, which grows hyper's read buffer
//! to 16 KiB per idle event stream. Browsers only speak HTTP/2 over TLS (see `lib.rs`), so
//! cleartext connections are HTTP/1.1 here. Every connection's socket, plain or under TLS,
//! is wrapped in a [`write_stall::StallGuard`], so a client that stops reading is eventually
//! let go.

pub mod write_stall;

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::{extract::ConnectInfo, Router};
use hyper::{body::Incoming, server::conn::http1, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use crate::metrics::Metrics;
use write_stall::StallGuard;

/// How long in-flight requests get to finish after shutdown begins.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What bounds a client connection's use of the server.
pub struct ConnectionLimits {
    /// Longest time to receive a request's headers.
    pub header_read_timeout: Duration,
    /// Longest time a write may wait for the client to read (zero: no limit).
    pub write_stall_timeout: Duration,
    /// Where stalled connections are counted.
    pub metrics: Metrics,
}

pub async fn serve_http1(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // Connections are tracked so shutdown can ask each to finish its request and close.
    let connections = TaskTracker::new();
    let closing = CancellationToken::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning; the listener survives.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().oneshot(request)
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(
                TokioIo::new(StallGuard::new(stream, limits.write_stall_timeout, limits.metrics.clone())),
                service,
            )
            .with_upgrades();
        let closing = closing.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // Errors here are clients going away mid-request; nothing to do about them.
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = closing.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    closing.cancel();
    connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait()).await.is_err() {
        tracing::warn!("some connections were still open after {DRAIN_TIMEOUT:?}; closing them");
    }
    Ok(())
}
