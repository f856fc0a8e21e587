//! Tests of the listener's limits over real loopback sockets.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

/// Starts `serve` with `limits` on a loopback port; a `/slow` route answers after 1.5 s.
async fn start(limits: Limits) -> (SocketAddr, watch::Sender<bool>) {
    let app = axum::Router::new()
        .route("/x", axum::routing::get(|| async { "ok" }))
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                "slow"
            }),
        )
        .route(
            "/peer",
            axum::routing::get(|ConnectInfo(a): ConnectInfo<SocketAddr>| async move {
                a.ip().to_string()
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = watch::channel(false);
    tokio::spawn(serve(listener, app, limits, rx));
    (addr, tx)
}

fn limits(connections_max: usize, header_ms: u64, idle_ms: u64) -> Limits {
    Limits {
        connections_max,
        header_read_timeout: Duration::from_millis(header_ms),
        idle_timeout: Duration::from_millis(idle_ms),
    }
}

/// Sends one keep-alive request for `path` and reads its answer's head and body (small
/// answers only: one read after the head is enough on loopback).
async fn request(s: &mut TcpStream, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    read_some(s).await
}

/// Reads what arrives within 10 s; "" on end of stream or reset.
async fn read_some(s: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Ok(Err(_)) => String::new(),
        Err(_) => panic!("no answer within 10 s"),
    }
}

/// Reads until the server closes the connection; the time it took, or None if it was still
/// open after `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    let mut buf = vec![0u8; 4096];
    loop {
        let left = within.checked_sub(t0.elapsed())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t0.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

/// The slowloris client of the issue: a request head sent one header every 200 ms never
/// ends; the connection is cut once the header-read timeout (1 s) passed, while it still
/// sends.
#[tokio::test]
async fn a_slowloris_client_is_cut_after_the_header_timeout() {
    let (addr, _stop) = start(limits(16, 1000, 60_000)).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let t0 = Instant::now();
    s.write_all(b"GET /x HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("write");
    let (mut rd, mut wr) = s.into_split();
    let drip = tokio::spawn(async move {
        // At most 100 headers (20 s): the test fails rather than drips for ever.
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if wr
                .write_all(format!("x-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return true;
            }
        }
        false
    });
    let mut buf = vec![0u8; 4096];
    let cut = loop {
        match tokio::time::timeout(Duration::from_secs(20), rd.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break t0.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the slow request head was not cut within 20 s"),
        }
    };
    assert!(
        cut >= Duration::from_millis(900),
        "cut before the timeout: {cut:?}"
    );
    assert!(
        !drip.is_finished() || drip.await.expect("drip"),
        "cut while still sending"
    );
}

/// Past `connections_max` open connections a new one is answered 503 with `Retry-After`
/// and closed; once one closes, a new connection is served again.
#[tokio::test]
async fn connections_beyond_the_limit_are_refused_with_503() {
    let (addr, _stop) = start(limits(3, 30_000, 60_000)).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        assert!(request(&mut s, "/x").await.starts_with("HTTP/1.1 200"));
        open.push(s);
    }
    let mut extra = TcpStream::connect(addr).await.expect("connect");
    let refused = read_some(&mut extra).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("retry-after: 1"), "{refused}");
    assert!(
        refused.contains("\"type\":\"serviceUnavailable\""),
        "{refused}"
    );
    assert!(
        closed_within(&mut extra, Duration::from_secs(10))
            .await
            .is_some()
    );
    drop(open.pop());
    // The server sees the close and frees its slot; retry until it did (bounded).
    let t0 = Instant::now();
    loop {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        if request(&mut s, "/x").await.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "slot never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A keep-alive connection with nothing to do is closed after the idle timeout; one whose
/// request takes longer than that is not cut while the request runs.
#[tokio::test]
async fn idle_connections_close_but_running_requests_do_not() {
    let (addr, _stop) = start(limits(16, 30_000, 500)).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    assert!(request(&mut s, "/x").await.starts_with("HTTP/1.1 200"));
    let idle = closed_within(&mut s, Duration::from_secs(10)).await;
    let idle = idle.expect("idle connection still open after 10 s");
    assert!(idle >= Duration::from_millis(400), "{idle:?}");

    let mut s = TcpStream::connect(addr).await.expect("connect");
    let slow = request(&mut s, "/slow").await;
    assert!(slow.starts_with("HTTP/1.1 200"), "{slow:?}");
    assert!(slow.ends_with("slow"), "{slow:?}");
}

/// Each request knows its connection's source address (the per-address auth limit uses it).
#[tokio::test]
async fn requests_carry_their_source_address() {
    let (addr, _stop) = start(Limits::default()).await;
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.bind("127.0.0.2:0".parse().expect("addr"))
        .expect("bind 127.0.0.2");
    let mut s = sock.connect(addr).await.expect("connect");
    let reply = request(&mut s, "/peer").await;
    assert!(reply.ends_with("127.0.0.2"), "{reply}");
}

/// After stop, the listener accepts nothing more.
#[tokio::test]
async fn stop_closes_the_listener() {
    let (addr, stop) = start(Limits::default()).await;
    stop.send(true).expect("send");
    let t0 = Instant::now();
    while TcpStream::connect(addr).await.is_ok() {
        assert!(t0.elapsed() < Duration::from_secs(10), "still accepting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
