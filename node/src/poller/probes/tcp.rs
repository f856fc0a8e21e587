//! `remote.tcp`: connect through the dial path (TLS when `ssl`), send `send_body` when given,
//! and read the first bytes the service sends (the banner).

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ProbeContext, now_unix};
use crate::poller::certs::add_cert_metrics;
use crate::poller::dial::{PollClock, TlsOptions};
use crate::poller::observation::{Metric, ProbeOutcome};
use crate::spec::TcpDetails;

/// Most banner bytes read and reported.
pub const BANNER_MAX: usize = 80;
/// How long a check that neither sends nor expects anything waits for a banner before it
/// reports an empty one: a service that speaks only when spoken to still counts as up.
pub const BANNER_WAIT_MAX: Duration = Duration::from_millis(1000);

/// Polls a TCP check once; `limit` is the poll's time limit (the banner wait of a check with a
/// `send_body` or a `banner_regex` may use all of it).
pub async fn probe(
    ctx: &ProbeContext,
    d: &TcpDetails,
    host: &str,
    limit: Duration,
) -> ProbeOutcome {
    let clock = PollClock::start();
    let tls = d.ssl.then_some(TlsOptions {
        server_name: host,
        verify: true,
        http: false,
    });
    let mut dialed = match ctx.dialer.dial(clock, host, d.port(), tls).await {
        Ok(c) => c,
        Err(e) => return ProbeOutcome::unavailable(e.to_string()),
    };
    if let Some(body) = &d.send_body
        && let Err(e) = write_all(&mut dialed.conn, body.as_bytes()).await
    {
        return ProbeOutcome::unavailable(format!("send failed: {e}"));
    }
    let wait = if d.send_body.is_some() || d.banner_regex.is_some() {
        limit
    } else {
        BANNER_WAIT_MAX
    };
    let mut buf = [0u8; BANNER_MAX];
    let read = tokio::time::timeout(wait, dialed.conn.read(&mut buf)).await;
    let (banner, tt_firstbyte) = match read {
        Ok(Ok(n)) => (&buf[..n], (n > 0).then(|| clock.ms())),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            return ProbeOutcome::unavailable("connection reset");
        }
        Ok(Err(e)) => return ProbeOutcome::unavailable(format!("read failed: {e}")),
        Err(_) => (&buf[..0], None),
    };
    let banner = String::from_utf8_lossy(banner).to_string();
    let duration = clock.ms();
    let mut m = BTreeMap::new();
    m.insert("duration".into(), Metric::ms(duration));
    m.insert("tt_connect".into(), Metric::ms(dialed.tt_connect));
    if let Some(t) = tt_firstbyte {
        m.insert("tt_firstbyte".into(), Metric::ms(t));
    }
    let mut status = format!("rt={:.3}s,bytes={}", duration / 1000.0, banner.len());
    if let Some(re) = &d.banner_regex {
        let found = Regex::new(re)
            .ok()
            .and_then(|r| r.find(&banner).map(|m| m.as_str().to_string()))
            .unwrap_or_default();
        if found.is_empty() {
            status.push_str(",banner_regex did not match");
        }
        m.insert("banner_match".into(), Metric::string(found));
    }
    m.insert("banner".into(), Metric::string(banner));
    if let Some(tls) = &dialed.tls {
        add_cert_metrics(tls, now_unix(), &mut m);
        if !tls.cert_error.is_empty() {
            status.push_str(&format!(",cert_error: {}", tls.cert_error));
        }
    }
    let _ = dialed.conn.shutdown().await;
    ProbeOutcome {
        available: true,
        status,
        metrics: m,
    }
}

async fn write_all(conn: &mut crate::poller::dial::Conn, bytes: &[u8]) -> std::io::Result<()> {
    conn.write_all(bytes).await?;
    conn.flush().await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use crate::poller::probes::run_within;
    use crate::poller::probes::testkit::{d, loopback_ctx, s};
    use crate::spec::Details;

    /// A loopback service: sends `banner` on connect (when not empty), then answers each read
    /// with "got " and what it read.
    async fn service(banner: &'static str) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    if !banner.is_empty() {
                        let _ = s.write_all(banner.as_bytes()).await;
                    }
                    let mut buf = [0u8; 256];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        let reply = format!("got {}", String::from_utf8_lossy(&buf[..n]));
                        let _ = s.write_all(reply.as_bytes()).await;
                    }
                });
            }
        });
        port
    }

    async fn poll(details: serde_json::Value) -> crate::poller::ProbeOutcome {
        let d = Details::parse("remote.tcp", details).expect("valid");
        run_within(
            &loopback_ctx(),
            &d,
            Some("localhost"),
            Duration::from_secs(5),
        )
        .await
    }

    #[tokio::test]
    async fn the_banner_is_read_matched_and_capped() {
        let long = "220 mail.test ESMTP ready; this banner goes on and on well past eighty bytes \
                    of text\r\n";
        let port = service(long).await;
        let o = poll(json!({"port": port, "banner_regex": "^220 [a-z.]+"})).await;
        assert!(o.available, "{o:?}");
        assert_eq!(s(&o, "banner"), long[..super::BANNER_MAX]);
        assert_eq!(s(&o, "banner_match"), "220 mail.test");
        assert!(d(&o, "tt_connect") <= d(&o, "tt_firstbyte"));
        assert!(d(&o, "tt_firstbyte") <= d(&o, "duration"));
        let o = poll(json!({"port": port, "banner_regex": "^SSH-"})).await;
        assert_eq!(s(&o, "banner_match"), "");
        assert!(
            o.status.contains("banner_regex did not match"),
            "{}",
            o.status
        );
    }

    #[tokio::test]
    async fn send_body_is_sent_and_the_answer_read() {
        let port = service("").await;
        let o =
            poll(json!({"port": port, "send_body": "PING\n", "banner_regex": "got PING"})).await;
        assert_eq!(s(&o, "banner"), "got PING\n");
        assert_eq!(s(&o, "banner_match"), "got PING");
    }

    #[tokio::test]
    async fn a_silent_service_is_up_with_an_empty_banner() {
        let port = service("").await;
        let o = poll(json!({"port": port})).await;
        assert!(o.available, "{o:?}");
        assert_eq!(s(&o, "banner"), "");
        assert!(!o.metrics.contains_key("tt_firstbyte"));
    }

    #[tokio::test]
    async fn tls_over_tcp_reports_the_cert_set() {
        let srv = crate::poller::probes::testkit::TestServer::start(Some(
            crate::poller::probes::testkit::self_signed(&["localhost"]),
        ))
        .await;
        let o = poll(json!({"port": srv.addr.port(), "ssl": true,
                            "send_body": "GET / HTTP/1.0\r\n\r\n"}))
        .await;
        assert!(o.available, "{o:?}");
        assert!(s(&o, "banner").starts_with("HTTP/1."), "{o:?}");
        assert_ne!(s(&o, "cert_error"), "");
        assert_eq!(s(&o, "cert_subject_alternative_names"), "localhost");
    }
}
