//! Tests of `remote.http` against loopback servers started here.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::poller::probes::run_within;
use crate::poller::probes::testkit::{
    ScriptedResolver, TestServer, ctx_with, d, i, loopback_ctx, s, self_signed,
};
use crate::spec::Details;

const LIMIT: Duration = Duration::from_secs(10);

fn http(details: Value) -> Details {
    Details::parse("remote.http", details).expect("valid details")
}

async fn poll(ctx: &ProbeContext, details: Value) -> ProbeOutcome {
    run_within(ctx, &http(details), None, LIMIT).await
}

#[tokio::test]
async fn a_get_is_measured_with_every_metric() {
    let srv = TestServer::start(None).await;
    let ctx = loopback_ctx();
    let o = poll(
        &ctx,
        json!({"url": srv.url("http", "localhost", "/"), "body_regex": "version=[0-9.]+",
               "body_matches": {"greeting": "h[a-z]+o", "absent": "zzz"}}),
    )
    .await;
    assert!(o.available, "{o:?}");
    assert_eq!(s(&o, "code"), "200");
    assert_eq!(i(&o, "bytes"), 29);
    assert_eq!(i(&o, "truncated"), 0);
    assert_eq!(i(&o, "redirects"), 0);
    assert_eq!(s(&o, "body_match"), "version=1.2.3");
    assert_eq!(s(&o, "body_match_greeting"), "hello");
    assert_eq!(s(&o, "body_match_absent"), "");
    let (r, c, f, t) = (
        d(&o, "tt_resolve"),
        d(&o, "tt_connect"),
        d(&o, "tt_firstbyte"),
        d(&o, "duration"),
    );
    assert!(0.0 <= r && r <= c && c <= f && f <= t, "{r} {c} {f} {t}");
    assert!(
        !o.metrics.contains_key("tt_tls"),
        "plain http has no tls phase"
    );
    assert!(!o.metrics.contains_key("cert_error"));
    assert!(o.status.starts_with("code=200,rt="), "{}", o.status);
    assert!(o.status.ends_with("s,bytes=29"), "{}", o.status);
    assert_eq!(o.metrics["duration"].unit.as_deref(), Some("ms"));
}

#[tokio::test]
async fn unexpected_codes_and_unmatched_regexes_stay_available_and_say_so() {
    let srv = TestServer::start(None).await;
    let ctx = loopback_ctx();
    let url = srv.url("http", "localhost", "/status/500");
    let o = poll(&ctx, json!({"url": url, "body_regex": "nothing-like-this"})).await;
    assert!(o.available, "a 500 is an answer");
    assert_eq!(s(&o, "code"), "500");
    assert_eq!(s(&o, "body_match"), "");
    assert!(o.status.contains("code 500 not expected"), "{}", o.status);
    assert!(
        o.status.contains("body_regex did not match"),
        "{}",
        o.status
    );
    let o = poll(&ctx, json!({"url": url, "expected_codes": [500]})).await;
    assert!(!o.status.contains("not expected"), "{}", o.status);
    let url = srv.url("http", "localhost", "/");
    let o = poll(&ctx, json!({"url": url, "expected_codes": [201, 204]})).await;
    assert!(o.status.contains("code 200 not expected"), "{}", o.status);
}

#[tokio::test]
async fn the_body_is_read_up_to_the_cap_and_the_rest_counted() {
    let srv = TestServer::start(None).await;
    let ctx = loopback_ctx();
    let n = BODY_MAX + 40_000;
    let o = poll(
        &ctx,
        json!({"url": srv.url("http", "localhost", &format!("/big/{n}"))}),
    )
    .await;
    assert_eq!(i(&o, "bytes"), BODY_MAX as i64);
    assert_eq!(i(&o, "truncated"), 40_000);
    let o = poll(
        &ctx,
        json!({"url": srv.url("http", "localhost", "/big/1000")}),
    )
    .await;
    assert_eq!((i(&o, "bytes"), i(&o, "truncated")), (1000, 0));
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let srv = TestServer::start(None).await;
    let ctx = loopback_ctx();
    let o = poll(
        &ctx,
        json!({"url": srv.url("http", "localhost", "/redirect/2")}),
    )
    .await;
    assert_eq!((s(&o, "code").as_str(), i(&o, "redirects")), ("200", 3));
    let url = srv.url("http", "localhost", &format!("/redirect/{REDIRECTS_MAX}"));
    let o = poll(&ctx, json!({"url": url})).await;
    assert_eq!(s(&o, "code"), "302", "the sixth redirect is not followed");
    assert_eq!(i(&o, "redirects"), REDIRECTS_MAX as i64);
    assert!(o.status.contains("more than 5 redirects"), "{}", o.status);
    let o = poll(&ctx, json!({"url": url, "follow_redirects": false})).await;
    assert_eq!((s(&o, "code").as_str(), i(&o, "redirects")), ("302", 0));
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_is_refused() {
    let srv = TestServer::start(None).await;
    let ctx = loopback_ctx();
    let url = srv.url(
        "http",
        "localhost",
        "/to?http://169.254.169.254/latest/meta-data",
    );
    let o = poll(&ctx, json!({"url": url})).await;
    assert!(!o.available);
    assert_eq!(
        o.status,
        "target refused by policy: 169.254.169.254 is link-local"
    );
    let url = srv.url("http", "localhost", "/to?http://[::ffff:10.0.0.1]:8080/");
    let o = poll(&ctx, json!({"url": url})).await;
    assert!(
        o.status.contains("IPv4-mapped form of 10.0.0.1"),
        "{}",
        o.status
    );
    assert_eq!(
        srv.connections.load(Ordering::SeqCst),
        2,
        "only the first hops"
    );
}

#[tokio::test]
async fn dns_rebinding_never_reaches_the_second_answer() {
    let srv = TestServer::start(None).await;
    // First lookup: an allowed address; every later lookup: a private one.
    let resolver = ScriptedResolver::new(&[&["127.0.0.1"], &["10.0.0.1"]]);
    let ctx = ctx_with(resolver.clone());
    let url = srv.url("http", "rebind.test", "/");
    let o = poll(&ctx, json!({"url": url})).await;
    assert_eq!(s(&o, "code"), "200");
    assert_eq!(
        resolver.lookups.load(Ordering::SeqCst),
        1,
        "resolved once per poll"
    );
    let o = poll(&ctx, json!({"url": url})).await;
    assert_eq!(
        o.status,
        "target refused by policy: 10.0.0.1 is private (RFC 1918)"
    );
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 2);
    assert_eq!(srv.connections.load(Ordering::SeqCst), 1);

    // The same within one poll: the redirect's hop resolves again and is checked again.
    let resolver = ScriptedResolver::new(&[&["127.0.0.1"], &["169.254.169.254"]]);
    let ctx = ctx_with(resolver.clone());
    let url = srv.url("http", "rebind.test", "/redirect/0");
    let o = poll(&ctx, json!({"url": url})).await;
    assert!(
        o.status.contains("169.254.169.254 is link-local"),
        "{}",
        o.status
    );
    assert_eq!(srv.connections.load(Ordering::SeqCst), 2);

    // One refused address among the answers refuses the target: nothing is dialled.
    let ctx = ctx_with(ScriptedResolver::new(&[&["127.0.0.1", "192.168.1.1"]]));
    let o = poll(&ctx, json!({"url": url})).await;
    assert!(o.status.contains("192.168.1.1 is private"), "{}", o.status);
    assert_eq!(srv.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_ip_literal_is_not_resolved_but_still_checked() {
    let srv = TestServer::start(None).await;
    let resolver = ScriptedResolver::new(&[&["10.9.9.9"]]);
    let ctx = ctx_with(resolver.clone());
    let o = poll(&ctx, json!({"url": srv.url("http", "127.0.0.1", "/")})).await;
    assert_eq!(s(&o, "code"), "200");
    let o = poll(&ctx, json!({"url": "http://100.100.100.200/latest"})).await;
    assert!(o.status.contains("shared address space"), "{}", o.status);
    let o = poll(&ctx, json!({"url": "http://[::1]:1/"})).await;
    assert_eq!(o.status, "target refused by policy: ::1 is loopback");
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn method_payload_headers_and_basic_auth_are_sent() {
    let srv = TestServer::start(None).await;
    let ctx = loopback_ctx();
    let url = srv.url("http", "localhost", "/echo");
    let o = poll(
        &ctx,
        json!({"url": url, "method": "POST", "payload": "data=1", "body_regex": ".+",
               "headers": {"x-test": "1"}}),
    )
    .await;
    assert_eq!(s(&o, "body_match"), "POST data=1");
    let url = srv.url("http", "localhost", "/auth");
    let o = poll(&ctx, json!({"url": url})).await;
    assert_eq!(s(&o, "code"), "401");
    let o = poll(
        &ctx,
        json!({"url": url, "auth_user": "user", "auth_password": "pw"}),
    )
    .await;
    assert_eq!(s(&o, "code"), "200");
}

#[tokio::test]
async fn https_reads_the_chain_and_reports_a_self_signed_one_as_cert_error() {
    let srv = TestServer::start(Some(self_signed(&["localhost"]))).await;
    let ctx = loopback_ctx();
    let url = srv.url("https", "localhost", "/");
    let o = poll(&ctx, json!({"url": url})).await;
    assert!(o.available, "{o:?}");
    assert_eq!(s(&o, "code"), "200");
    assert_ne!(
        s(&o, "cert_error"),
        "",
        "a self-signed chain does not verify"
    );
    assert!(o.status.contains("cert_error: "), "{}", o.status);
    assert_eq!(s(&o, "cert_subject_alternative_names"), "localhost");
    assert!(s(&o, "cert_subject").contains("rcgen self signed cert"));
    assert_eq!(s(&o, "tls_version"), "TLS 1.3");
    assert!(i(&o, "cert_end") > i(&o, "cert_start"));
    assert!(i(&o, "cert_end_in") > 0);
    assert!(d(&o, "tt_connect") <= d(&o, "tt_tls"));
    assert!(d(&o, "tt_tls") <= d(&o, "tt_firstbyte"));
    // Credentials are not sent over a chain that does not verify.
    let url = srv.url("https", "localhost", "/auth");
    let o = poll(
        &ctx,
        json!({"url": url, "auth_user": "user", "auth_password": "pw"}),
    )
    .await;
    assert_eq!(s(&o, "code"), "401");
    assert!(o.status.contains("credentials withheld"), "{}", o.status);
}

#[tokio::test]
async fn a_poll_past_its_timeout_is_reported_as_a_timeout() {
    let srv = TestServer::start(None).await;
    let ctx = loopback_ctx();
    let url = srv.url("http", "localhost", "/slow");
    let o = run_within(
        &ctx,
        &http(json!({"url": url})),
        None,
        Duration::from_millis(300),
    )
    .await;
    assert!(!o.available);
    assert_eq!(o.status, "timeout after 300 ms");
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    let o = poll(
        &loopback_ctx(),
        json!({"url": format!("http://localhost:{port}/")}),
    )
    .await;
    assert!(!o.available);
    assert_eq!(o.status, "connection refused");
}

/// A raw HTTP/1.1 server whose answer has no Content-Length: `n` bytes, then it closes.
async fn unsized_body(n: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut req = [0u8; 1024];
                let _ = s.read(&mut req).await;
                let head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
                let _ = s.write_all(head).await;
                let chunk = vec![b'y'; 64 * 1024];
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk.len());
                    if s.write_all(&chunk[..k]).await.is_err() {
                        return;
                    }
                    left -= k;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn without_a_content_length_the_rest_is_counted_up_to_the_drain_cap() {
    let ctx = loopback_ctx();
    let port = unsized_body(BODY_MAX + 1000).await;
    let o = poll(&ctx, json!({"url": format!("http://localhost:{port}/")})).await;
    assert_eq!(
        (i(&o, "bytes"), i(&o, "truncated")),
        (BODY_MAX as i64, 1000)
    );
    let port = unsized_body(BODY_MAX + 2 * BODY_DRAIN_MAX).await;
    let o = poll(&ctx, json!({"url": format!("http://localhost:{port}/")})).await;
    let t = i(&o, "truncated") as usize;
    assert!(
        (BODY_DRAIN_MAX..BODY_DRAIN_MAX + 1024 * 1024).contains(&t),
        "counting stops at the drain cap: {t}"
    );
}

#[tokio::test]
async fn a_long_match_is_cut_at_match_max_characters() {
    let srv = TestServer::start(None).await;
    let url = srv.url("http", "localhost", "/big/500");
    let o = poll(&loopback_ctx(), json!({"url": url, "body_regex": "x+"})).await;
    assert_eq!(s(&o, "body_match"), "x".repeat(MATCH_MAX));
}
