//! The plain-HTTP accept loop. `axum::serve` would do, but it cannot bound how long a client
//! may take to send its headers (a flood of half-open connections would pin memory and file
//! descriptors), and it sniffs every connection for HTTP/2, which grows hyper's read buffer
//! to 16 KiB per idle event stream. Browsers only speak HTTP/2 over TLS (see `lib.rs`), so
//! cleartext connections are HTTP/1.1 here. Every connection's socket, plain or under TLS,
//! is wrapped in a [`write_stall::StallGuard`], so a client that stops reading is eventually
//! let go. Event streams are taken out of hyper once their head is written
//! ([`handoff`]), so an idle subscriber does not keep hyper's connection buffers.

pub mod first_bytes;
pub mod handoff;
pub mod write_stall;

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::{extract::ConnectInfo, Router};
use hyper::{body::Incoming, server::conn::http1, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use crate::metrics::Metrics;
use handoff::{Handoff, KeepOpen};
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
        let handoff = Handoff::default();
        let service = {
            let handoff = handoff.clone();
            hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                // Not for HEAD (its response has no body, so there is nothing to hand off), and
                // not when the request asks for an upgrade (`Upgrade: h2c` from curl --http2):
                // hyper then hands the socket to that upgrade when the response ends, even
                // though the answer is not a 101, and the stream would be lost.
                let can_hand_off =
                    request.method() == hyper::Method::GET && !request.headers().contains_key(hyper::header::UPGRADE);
                if can_hand_off {
                    request.extensions_mut().insert(handoff.clone());
                }
                router.clone().oneshot(request)
            })
        };
        let socket = StallGuard::new(stream, limits.write_stall_timeout, limits.metrics.clone());
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(KeepOpen::new(socket, handoff.clone())), service)
            .with_upgrades();
        let closing = closing.clone();
        connections.spawn(async move {
            // Boxed so that the task, which outlives hyper's part when a stream is handed
            // off, is not sized for hyper's connection state.
            let mut connection = Box::new(connection);
            // Errors here are clients going away mid-request; nothing to do about them.
            let served = tokio::select! {
                served = connection.as_mut() => served,
                _ = closing.cancelled() => {
                    std::pin::Pin::new(connection.as_mut()).graceful_shutdown();
                    connection.as_mut().await
                }
            };
            let Some(run) = handoff.take() else { return };
            let Some(parts) = connection.into_parts() else { return };
            // Only the socket goes on; what else hyper hands back is freed here.
            let socket = { parts }.io.into_inner().into_inner();
            if served.is_ok() {
                run(socket).await;
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
