//! A TLS connection that completes its handshake and then sends nothing must not stay open:
//! over HTTPS, hyper's own header timeout only starts once it knows the protocol, which it
//! learns by reading up to the 24 bytes of HTTP/2's preface, with no time limit; so a silent
//! connection (or one that sends `PRI` and stops) would hold its socket and its TLS state for
//! ever. [`FirstBytesWithin`] wraps the TLS acceptor and gives every new connection `limit` to
//! send its first [`OPENING`] bytes: more than any HTTP/2 client sends at once (the preface
//! and its SETTINGS frame), and about the shortest HTTP/1.1 request. After that, HTTP/1's
//! header timeout covers each request, and HTTP/2's pings a peer that went away.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What a connection must send within the limit: HTTP/2's 24-byte preface and a frame header.
pub const OPENING: usize = 24 + 9;

/// An acceptor whose connections fail their reads if their first [`OPENING`] bytes have not
/// arrived within `limit`.
#[derive(Clone)]
pub struct FirstBytesWithin<A> {
    pub inner: A,
    pub limit: Duration,
}

impl<I, S, A> axum_server::accept::Accept<I, S> for FirstBytesWithin<A>
where
    A: axum_server::accept::Accept<I, S>,
    A::Future: Send + 'static,
{
    type Stream = FirstBytes<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepted = self.inner.accept(stream, service);
        let limit = self.limit;
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            let deadline = Some(Box::pin(tokio::time::sleep(limit)));
            Ok((FirstBytes { inner: stream, deadline, read: 0 }, service))
        })
    }
}

/// A stream that times out its reads until the peer has sent its opening.
pub struct FirstBytes<S> {
    inner: S,
    /// Until [`OPENING`] bytes have been read; then gone.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    read: usize,
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstBytes<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.deadline.is_none() {
            return read;
        }
        if let Poll::Ready(Ok(())) = read {
            self.read += buf.filled().len() - before;
            if self.read >= OPENING {
                self.deadline = None;
            }
            return read;
        }
        let Some(deadline) = self.deadline.as_mut() else { return read };
        if read.is_pending() && deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no request after the TLS handshake")));
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstBytes<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
