//! Event streams leave hyper once their head is written.
//!
//! For as long as a response streams, hyper keeps two 8 KiB buffers per HTTP/1 connection: the
//! one it encodes heads into, and the read buffer it keeps reserved while it watches the idle
//! request side for the client's EOF. That was 16 of the ~19 KiB an idle SSE subscriber cost
//! (heaptrack, BENCHMARKS.md), and neither has a knob below 8 KiB.
//!
//! So an event stream over plain HTTP/1 is answered in two parts. The handler puts its event
//! bytes in the connection's [`Handoff`] and returns only a head, for a close-delimited body
//! (`HTTP/1.0` framing: the body ends when the connection does, so no chunk framing is
//! needed). hyper writes and flushes that head, sees the response end and closes the
//! connection, except that [`KeepOpen`] turns that close into a no-op. The connection's task
//! then takes the socket back (`into_parts`), drops hyper's state and runs what the handler
//! left: for a room's stream, `realtime::direct` (the room's publisher writes to the socket);
//! for other streams, [`pump`]: one write per event, straight to the socket, or one for several
//! when several are already waiting.
//!
//! Everything else about the request (routing, sessions, access checks, tracing, metrics) is
//! the same code path as any other request. The handoff is offered only to plain HTTP/1 GETs
//! that do not ask for an upgrade (see `serve_http1`). Over TLS it is not offered: there the
//! connection is usually HTTP/2, where every stream of a browser shares one connection. One
//! visible difference: the request's trace span and logged latency end with the head.

use std::{
    future::{poll_fn, Future},
    io,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
};

use axum::{
    body::Body,
    http::{header, HeaderValue, Version},
    response::Response,
};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};

use super::write_stall::StallGuard;

/// The most bytes one write takes when events are waiting: a subscriber that fell behind (a
/// storm of joins in a big room, a slow core) catches up in a few writes instead of one per
/// event, and the copy stays small next to the socket's own buffer.
pub const BURST_BYTES: usize = 64 * 1024;

/// What a handed-off response still has to send.
pub type EventBytes = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// A plain connection's socket, as the accept loop wraps it.
pub type Socket = StallGuard<TcpStream>;

/// What runs on the socket once hyper is done with it.
pub type Takeover = Box<dyn FnOnce(Socket) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// One per plain HTTP/1 connection, in every request's extensions: where a handler leaves
/// what it wants done with the socket outside hyper.
#[derive(Clone, Default)]
pub struct Handoff(Arc<Mutex<Option<Takeover>>>);

impl Handoff {
    /// Takes the stream's bytes, which [`pump`] writes, and returns the head hyper is to
    /// write (see [`Self::take_over`]).
    pub fn hand_over(&self, events: EventBytes) -> Response {
        self.take_over(Box::new(move |socket| Box::pin(pump(socket, events))))
    }

    /// Takes what is to run on the socket and returns the head hyper is to write: a
    /// close-delimited response whose own body is empty. The caller adds its content headers.
    pub fn take_over(&self, run: Takeover) -> Response {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(run);
        let mut response = Response::new(Body::from_stream(futures_util::stream::empty::<Result<Bytes, io::Error>>()));
        // hyper frames a body of unknown length by the connection's end only in HTTP/1.0;
        // in 1.1 it would chunk it and then send the last chunk when this empty body ends.
        *response.version_mut() = Version::HTTP_10;
        // Said for the client's (and any proxy's) sake: this body ends with the connection.
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }

    fn is_pending(&self) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    pub fn take(&self) -> Option<Takeover> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// The connection's socket as hyper sees it: hyper shuts the socket down when it is done with
/// a response that ends the connection; with a handoff pending that is not the end, so the
/// shutdown is skipped (hyper flushes its buffer before asking, so the head is out).
pub struct KeepOpen<S> {
    inner: S,
    handoff: Handoff,
}

impl<S> KeepOpen<S> {
    pub fn new(inner: S, handoff: Handoff) -> Self {
        Self { inner, handoff }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for KeepOpen<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for KeepOpen<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
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

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.handoff.is_pending() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Writes a handed-off stream to the socket until the stream ends or the client goes away.
///
/// The read side is watched the way hyper watched it, but with a 16-byte buffer on this
/// future instead of 8 KiB on the heap: an event-stream client sends nothing after its
/// request, so EOF, an error or any byte at all ends the stream.
pub async fn pump<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, mut events: EventBytes) {
    let mut scratch = [0u8; 16];
    loop {
        let next = poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut scratch);
            if Pin::new(&mut io).poll_read(cx, &mut buf).is_ready() {
                return Poll::Ready(None);
            }
            events.poll_next_unpin(cx).map(|first| Some(first.map(|first| with_waiting(first, &mut events, cx))))
        })
        .await;
        match next {
            Some(Some(burst)) => {
                if io.write_all(&burst.bytes).await.is_err() {
                    return;
                }
                if burst.ended {
                    break;
                }
            }
            // The stream ended (shutdown, kick, room deleted): close our side cleanly.
            Some(None) => break,
            None => return,
        }
    }
    let _ = io.shutdown().await;
}

/// What one write sends, and whether the stream ended behind it.
struct Burst {
    bytes: Bytes,
    ended: bool,
}

/// `first`, and behind it whatever the stream yields without waiting, up to [`BURST_BYTES`].
/// The usual case, one event, is passed on as it is, without a copy.
fn with_waiting(first: Bytes, events: &mut EventBytes, cx: &mut Context<'_>) -> Burst {
    let mut joined: Option<BytesMut> = None;
    let mut ended = false;
    while joined.as_ref().map_or(first.len(), BytesMut::len) < BURST_BYTES {
        match events.poll_next_unpin(cx) {
            Poll::Ready(Some(more)) => {
                let buf = joined.get_or_insert_with(|| {
                    let mut buf = BytesMut::with_capacity(BURST_BYTES.min(4 * (first.len() + more.len())));
                    buf.extend_from_slice(&first);
                    buf
                });
                buf.extend_from_slice(&more);
            }
            Poll::Ready(None) => {
                ended = true;
                break;
            }
            // Pending has registered the waker: the next round of `pump` polls again anyway.
            Poll::Pending => break,
        }
    }
    Burst { bytes: joined.map_or(first, BytesMut::freeze), ended }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn the_pump_writes_every_event_then_closes() {
        let (near, mut far) = tokio::io::duplex(64);
        let events =
            futures_util::stream::iter([Bytes::from_static(b"data: 1\n\n"), Bytes::from_static(b"data: 2\n\n")]);
        pump(near, Box::pin(events)).await;
        let mut got = Vec::new();
        far.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"data: 1\n\ndata: 2\n\n");
    }

    /// A socket that counts the writes made to it.
    struct CountWrites {
        inner: tokio::io::DuplexStream,
        writes: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl AsyncRead for CountWrites {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for CountWrites {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    #[tokio::test]
    async fn events_already_waiting_go_out_in_one_write_and_a_pending_stream_stops_the_burst() {
        let (near, mut far) = tokio::io::duplex(1024);
        let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let near = CountWrites { inner: near, writes: writes.clone() };
        // Three events ready at once, then a pause (the stream is pending), then one more.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        for n in 1..=3 {
            tx.send(Bytes::from(format!("data: {n}\n\n"))).unwrap();
        }
        let events = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
        let pump = tokio::spawn(pump(near, Box::pin(events)));
        let mut first = vec![0u8; 27];
        far.read_exact(&mut first).await.unwrap();
        assert_eq!(first, b"data: 1\n\ndata: 2\n\ndata: 3\n\n");
        assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 1, "the three waiting events in one write");
        tx.send(Bytes::from_static(b"data: 4\n\n")).unwrap();
        drop(tx);
        let mut rest = Vec::new();
        far.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"data: 4\n\n");
        assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 2, "the later event in a write of its own");
        pump.await.unwrap();
    }

    #[test]
    fn a_burst_stops_at_its_byte_budget() {
        let big = Bytes::from(vec![b'x'; BURST_BYTES / 2 + 1]);
        let mut events: EventBytes = Box::pin(futures_util::stream::iter([big.clone(), big.clone(), big.clone()]));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let first = match events.poll_next_unpin(&mut cx) {
            Poll::Ready(Some(first)) => first,
            _ => unreachable!("the stream is ready"),
        };
        let burst = with_waiting(first, &mut events, &mut cx);
        assert_eq!(burst.bytes.len(), 2 * big.len(), "two events, then the budget is spent");
        assert!(!burst.ended);
        assert!(matches!(events.poll_next_unpin(&mut cx), Poll::Ready(Some(_))), "the third is still there");
    }

    #[tokio::test]
    async fn the_pump_stops_when_the_client_hangs_up() {
        let (near, far) = tokio::io::duplex(64);
        // A stream that never yields: only the client's EOF can end the pump.
        let events = futures_util::stream::pending::<Bytes>();
        drop(far);
        tokio::time::timeout(Duration::from_secs(5), pump(near, Box::pin(events)))
            .await
            .expect("the pump noticed the hang-up");
    }

    #[tokio::test]
    async fn shutdown_is_skipped_only_while_a_handoff_is_pending() {
        let (near, mut far) = tokio::io::duplex(64);
        let handoff = Handoff::default();
        let mut io = KeepOpen::new(near, handoff.clone());
        let _head = handoff.hand_over(Box::pin(futures_util::stream::empty()));
        io.shutdown().await.unwrap();
        io.write_all(b"still open").await.unwrap();
        assert!(handoff.take().is_some());
        io.shutdown().await.unwrap();
        let mut got = Vec::new();
        far.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"still open");
    }
}
