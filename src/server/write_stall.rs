//! A bound on how long a client may refuse our bytes. A subscriber that stops reading costs
//! little while it is connected (its feed is not polled, so it lags and later catches up from
//! storage), but it still pins a socket, its kernel buffers and a seat. Once its socket has
//! accepted nothing for the configured time, the next write fails with `TimedOut`: hyper (or
//! the WebSocket) then drops the connection, and the client resumes from its last id.
//!
//! Only writes are timed, and only while they make no progress at all: an idle stream (nothing
//! to send) or a slow but moving reader is never cut.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

use crate::metrics::Metrics;

/// A connection whose writes fail once they have been stuck for `limit`.
pub struct StallGuard<S> {
    inner: S,
    /// `None`: no limit.
    limit: Option<Duration>,
    /// Armed at the first write that could not proceed; reset by the next one that does.
    deadline: Option<Pin<Box<Sleep>>>,
    is_stalled: bool,
    /// The limit was hit: every later write fails too, without counting again.
    has_tripped: bool,
    metrics: Metrics,
}

impl<S> StallGuard<S> {
    /// `limit` of zero turns the bound off.
    pub fn new(inner: S, limit: Duration, metrics: Metrics) -> Self {
        let limit = (!limit.is_zero()).then_some(limit);
        Self { inner, limit, deadline: None, is_stalled: false, has_tripped: false, metrics }
    }

    /// The socket and the limit, for whoever writes to it from now on (`realtime::direct`).
    pub fn into_parts(self) -> (S, Option<Duration>) {
        (self.inner, self.limit)
    }

    fn timed_out() -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, "the client accepted no data for the write-stall timeout")
    }

    /// Passes a write's outcome through, unless it has been pending for too long.
    fn watch(&mut self, cx: &mut Context<'_>, outcome: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        let Some(limit) = self.limit else { return outcome };
        if !outcome.is_pending() {
            self.is_stalled = false;
            return outcome;
        }
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if !self.is_stalled {
            self.is_stalled = true;
            deadline.as_mut().reset(Instant::now() + limit);
        }
        // Polling the timer registers this task to be woken when it fires.
        if deadline.as_mut().poll(cx).is_ready() {
            self.has_tripped = true;
            self.metrics.stalled_connection();
            tracing::debug!(?limit, "closing a connection whose client stopped reading");
            return Poll::Ready(Err(Self::timed_out()));
        }
        Poll::Pending
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.has_tripped {
            return Poll::Ready(Err(Self::timed_out()));
        }
        let outcome = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, outcome)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.has_tripped {
            return Poll::Ready(Err(Self::timed_out()));
        }
        let outcome = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Wraps each TLS connection's socket (under rustls) the way `serve_http1` wraps plain ones.
#[derive(Clone)]
pub struct StallAcceptor {
    pub limit: Duration,
    pub metrics: Metrics,
}

impl<S> axum_server::accept::Accept<tokio::net::TcpStream, S> for StallAcceptor {
    type Stream = StallGuard<tokio::net::TcpStream>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        let _ = stream.set_nodelay(true);
        std::future::ready(Ok((StallGuard::new(stream, self.limit, self.metrics.clone()), service)))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_write_stuck_past_the_limit_fails_and_is_counted() {
        let (near, mut far) = tokio::io::duplex(64);
        let metrics = Metrics::default();
        let mut guarded = StallGuard::new(near, Duration::from_secs(5), metrics.clone());
        guarded.write_all(&[1; 64]).await.unwrap();
        // The far end reads nothing: the next write waits, then fails after the limit.
        let err = guarded.write_all(&[2; 64]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(metrics.render().contains("gifchat_stalled_connections_total 1"));
        assert_eq!(guarded.write(&[3]).await.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(metrics.render().contains("gifchat_stalled_connections_total 1"), "counted once");
        let mut got = [0; 64];
        far.read_exact(&mut got).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_reading_is_never_cut() {
        let (near, mut far) = tokio::io::duplex(16);
        let mut guarded = StallGuard::new(near, Duration::from_secs(5), Metrics::default());
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = [0; 16];
            while got.len() < 160 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                let n = far.read(&mut chunk).await.unwrap();
                got.extend_from_slice(&chunk[..n]);
            }
            got
        });
        // Ten stalls of 4 s each: 40 s in all, but never 5 s without progress.
        guarded.write_all(&[7; 160]).await.unwrap();
        assert_eq!(reader.await.unwrap(), vec![7; 160]);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_turns_the_limit_off() {
        let (near, _far) = tokio::io::duplex(8);
        let mut guarded = StallGuard::new(near, Duration::ZERO, Metrics::default());
        guarded.write_all(&[0; 8]).await.unwrap();
        let stuck = tokio::time::timeout(Duration::from_secs(3600), guarded.write_all(&[0; 8])).await;
        assert!(stuck.is_err(), "still waiting after an hour");
    }
}
