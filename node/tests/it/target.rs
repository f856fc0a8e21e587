//! A loopback HTTP target for cluster tests that poll: answers `200 ok` while healthy, `500` while
//! not, and counts the requests it answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Target {
    pub port: u16,
    /// Answer 200 when true, 500 when false.
    pub healthy: Arc<AtomicBool>,
    /// Requests answered so far.
    pub hits: Arc<AtomicU64>,
}

/// Starts a target on 127.0.0.1, healthy.
pub async fn start() -> Target {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    let healthy = Arc::new(AtomicBool::new(true));
    let hits = Arc::new(AtomicU64::new(0));
    let (h, n) = (healthy.clone(), hits.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let (h, n) = (h.clone(), n.clone());
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                if s.read(&mut buf).await.is_ok() {
                    n.fetch_add(1, Ordering::Relaxed);
                    let status = if h.load(Ordering::Relaxed) {
                        "200 OK"
                    } else {
                        "500 Internal Server Error"
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                }
            });
        }
    });
    Target {
        port,
        healthy,
        hits,
    }
}
