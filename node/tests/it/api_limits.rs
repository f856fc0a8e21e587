//! The listener's limits on a real node (regression tests of "HTTP server limits"): failed
//! authentications are limited per source address, a slow request head is cut after the
//! header-read timeout, connections past `--connections-max` are answered 503.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::TestCluster;

/// A client whose connections come from `ip` (any 127/8 address reaches loopback on Linux).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(ip.parse().expect("ip")))
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client")
}

/// Twenty bad tokens from 127.0.0.1 get 401; the next request from there gets 429 with
/// `Retry-After`, whatever its token; 127.0.0.2 still gets 401 for a bad token and 200 for a
/// good one.
#[tokio::test(flavor = "multi_thread")]
async fn repeated_bad_tokens_from_one_address_get_429() {
    let c = TestCluster::start(&["r1"], &[]).await;
    let token = c.tenant(0, "acme").await;
    let url = format!("http://{}/v1/entities", c.nodes[0].addr());
    let one = client_from("127.0.0.1");
    let two = client_from("127.0.0.2");
    let status = |http: &reqwest::Client, t: &str| {
        let r = http.get(&url).bearer_auth(t).send();
        async move { r.await.expect("reply") }
    };
    let burst = meridian::http::auth_limit::AUTH_FAILURES_BURST as usize;
    for i in 0..burst {
        let r = status(&one, &format!("wrong-token-{i}")).await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let limited = status(&one, "wrong-token-x").await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=10).contains(&retry), "{retry}");
    let body: serde_json::Value = limited.json().await.expect("json");
    assert_eq!(body["type"], "tooManyRequests");
    assert_eq!(
        status(&one, &token).await.status(),
        429,
        "no answer tells a good token"
    );
    assert_eq!(status(&two, "wrong-token-y").await.status(), 401);
    assert_eq!(status(&two, &token).await.status(), 200);
}

/// With `--header-read-timeout-ms 1000`, a request head sent a header at a time is cut after
/// the timeout; with `--connections-max 4`, connections past the limit get 503.
#[tokio::test(flavor = "multi_thread")]
async fn slow_heads_are_cut_and_extra_connections_refused() {
    let flags = ["--header-read-timeout-ms", "1000", "--connections-max", "4"];
    let c = TestCluster::start(&["r1"], &flags).await;
    let addr = c.nodes[0].addr();
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("write");
    let t0 = Instant::now();
    let mut buf = [0u8; 1024];
    let mut cut = false;
    // At most 100 headers, one per 200 ms: the test fails rather than drips for ever.
    for i in 0..100 {
        let header = format!("x-{i}: y\r\n");
        if s.write_all(header.as_bytes()).await.is_err() {
            cut = true;
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = true;
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    assert!(cut, "a request head dripped for 20 s was not cut");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );

    // Up to 4 connections are served (the harness's own client may hold one of them).
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..6 {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .ok();
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .unwrap_or(0);
        let head = String::from_utf8_lossy(&buf[..n]).into_owned();
        if head.starts_with("HTTP/1.1 200") {
            open.push(s);
        } else {
            assert!(
                head.is_empty() || head.starts_with("HTTP/1.1 503"),
                "{head}"
            );
            refused += 1;
        }
    }
    assert!(open.len() <= 4 && open.len() >= 3, "served {}", open.len());
    assert_eq!(open.len() + refused, 6);
}
