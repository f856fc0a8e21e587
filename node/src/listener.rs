//! The accept loop of the shared HTTP + gRPC listener, with its limits: a connection limit, a
//! header-read timeout, an idle timeout, and the source address of each request for the
//! per-address limit on failed authentications.
//!
//! Why not `axum::serve`: it has no connection limit and no header-read timeout, so half-sent
//! requests could hold sockets and tasks for as long as their clients liked.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// Default of `connections-max`: open connections one node serves at once.
pub const CONNECTIONS_DEFAULT: usize = 4096;
/// Largest `connections-max` a node accepts.
pub const CONNECTIONS_MAX: usize = 65_536;
/// Default of `header-read-timeout-ms`.
pub const HEADER_READ_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Default of `idle-timeout-ms`.
pub const IDLE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(120);
/// Shortest and longest timeout (ms) any of the listener's timeout settings accept.
pub const TIMEOUT_MS_MIN: u64 = 100;
pub const TIMEOUT_MS_MAX: u64 = 3_600_000;

/// The body a connection over the limit is sent before it is closed.
const REFUSAL_BODY: &str = "{\"type\":\"serviceUnavailable\",\"code\":503,\
\"message\":\"too many open connections\",\"details\":null,\"request_id\":\"\"}";

/// The listener's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at once; a connection beyond them is answered 503 and closed.
    pub connections_max: usize,
    /// Time a client has to send a request's whole head (HTTP/1), counted from when the
    /// connection waits for it, including between keep-alive requests.
    pub header_read_timeout: Duration,
    /// A connection with no bytes read or written for this long, and no request being
    /// handled, is closed (HTTP/1 and HTTP/2 alike).
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections_max: CONNECTIONS_DEFAULT,
            header_read_timeout: HEADER_READ_TIMEOUT_DEFAULT,
            idle_timeout: IDLE_TIMEOUT_DEFAULT,
        }
    }
}

/// Serves `app` on `listener` until `stop` changes; then lets open connections finish their
/// requests. Each request carries `ConnectInfo<SocketAddr>` of its connection.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    assert!(
        limits.connections_max > 0,
        "connections_max must be positive"
    );
    let permits = Arc::new(Semaphore::new(limits.connections_max));
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => break,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refuse(&tcp);
            continue;
        };
        // Small request/response messages (Raft appends, API calls) must not wait for Nagle's
        // algorithm to meet the peer's delayed ACK: that costs ~40 ms per round trip.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let app = app.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            connection(tcp, addr, app, limits, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    // Wait for every connection to finish (the caller bounds how long).
    let _ = permits.acquire_many(limits.connections_max as u32).await;
}

/// Answers a connection over the limit without reading from it, so it is closed cleanly.
fn refuse(tcp: &TcpStream) {
    tracing::debug!("connection refused: connections-max reached");
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{REFUSAL_BODY}",
        REFUSAL_BODY.len()
    );
    let _ = tcp.try_write(reply.as_bytes());
}

async fn connection(
    tcp: TcpStream,
    addr: SocketAddr,
    app: axum::Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Tracked {
        inner: tcp,
        started,
        activity: activity.clone(),
    });
    let busy = activity.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(addr));
        let guard = Busy::new(busy.clone());
        let app = app.clone();
        async move {
            let resp = app.oneshot(req.map(axum::body::Body::new)).await;
            drop(guard);
            resp
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let tick = (limits.idle_timeout / 4).max(Duration::from_millis(25));
    let mut stopping = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, %addr, "connection ended");
                }
                return;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(tick) => {
                if activity.idle_for(started) >= limits.idle_timeout {
                    tracing::debug!(%addr, "idle connection closed");
                    return;
                }
            }
        }
    }
}

/// When a connection last moved a byte (ms since it opened) and how many requests it is
/// handling.
#[derive(Default)]
struct Activity {
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn touch(&self, started: Instant) {
        self.last_ms
            .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Zero while a request is being handled.
    fn idle_for(&self, started: Instant) -> Duration {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let now = started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Counts one request in flight until dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(a: Arc<Activity>) -> Self {
        a.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(a)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A socket that records when bytes last moved.
struct Tracked {
    inner: TcpStream,
    started: Instant,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch(self.started);
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch(self.started);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch(self.started);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "listener_tests.rs"]
mod tests;
