//! Tests of `remote.dns` against a DNS server started here (UDP and TCP on one loopback port).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, TXT};
use hickory_proto::rr::{RData, Record};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use super::*;
use crate::poller::probes::run_within;
use crate::poller::probes::testkit::{ScriptedResolver, d, i, loopback_policy, s};
use crate::poller::probes::{IcmpMode, ProbeContext};
use crate::spec::Details;

/// Answers `a.test` (two A), `v6.test` (AAAA), `txt.test` (TXT), `big.test` (70 TXT, too many
/// for 512 bytes: truncated over UDP, whole over TCP); anything else is NXDOMAIN.
fn answer(query: &Message, udp: bool) -> Vec<u8> {
    let mut m = Message::response(query.metadata.id, query.metadata.op_code);
    m.metadata.recursion_desired = query.metadata.recursion_desired;
    m.add_queries(query.queries.clone());
    let q = &query.queries[0];
    let name = q.name().clone();
    let rec = |ttl, data| Record::from_rdata(name.clone(), ttl, data);
    match q.name().to_ascii().trim_end_matches('.') {
        "a.test" => {
            m.add_answer(rec(300, RData::A(A::new(192, 0, 2, 7))));
            m.add_answer(rec(60, RData::A(A::new(192, 0, 2, 1))));
        }
        "v6.test" => {
            m.add_answer(rec(
                120,
                RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            ));
        }
        "txt.test" => {
            m.add_answer(rec(30, RData::TXT(TXT::new(vec!["v=spf1 -all".into()]))));
        }
        "big.test" => {
            for n in 0..70 {
                let t = TXT::new(vec![format!("record number {n:02} with some padding")]);
                m.add_answer(rec(10, RData::TXT(t)));
            }
        }
        _ => m.metadata.response_code = ResponseCode::NXDomain,
    }
    let bytes = m.to_vec().expect("encode");
    if udp && bytes.len() > 512 {
        return m.truncate().to_vec().expect("encode");
    }
    bytes
}

async fn dns_server() -> SocketAddr {
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let addr = udp.local_addr().expect("addr");
    let tcp = TcpListener::bind(addr).await.expect("bind tcp");
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            if let Ok(q) = Message::from_vec(&buf[..n]) {
                // Stray datagrams first: one, or for `stray.test` as many as the probe reads.
                let name = q.queries[0].name().to_ascii();
                let strays = if name == "stray.test." {
                    STRAY_DATAGRAMS_MAX
                } else {
                    1
                };
                for _ in 0..strays {
                    let _ = udp.send_to(b"garbage", from).await;
                }
                let _ = udp.send_to(&answer(&q, true), from).await;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            let Ok(len) = s.read_u16().await else {
                continue;
            };
            let mut buf = vec![0u8; usize::from(len)];
            if s.read_exact(&mut buf).await.is_err() {
                continue;
            }
            if let Ok(q) = Message::from_vec(&buf) {
                let a = answer(&q, false);
                let mut framed = (a.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&a);
                let _ = s.write_all(&framed).await;
            }
        }
    });
    addr
}

fn ctx(server: SocketAddr) -> ProbeContext {
    let resolver = ScriptedResolver::new(&[&["127.0.0.1"]]);
    ProbeContext::with_parts(loopback_policy(), resolver, IcmpMode::None, Some(server))
}

async fn poll(ctx: &ProbeContext, details: Value) -> crate::poller::ProbeOutcome {
    let d = Details::parse("remote.dns", details).expect("valid");
    run_within(ctx, &d, None, Duration::from_secs(5)).await
}

#[tokio::test]
async fn a_aaaa_and_txt_answers_are_reported() {
    let server = dns_server().await;
    let ctx = ctx(server);
    let port = server.port();
    let o = poll(
        &ctx,
        json!({"query": "a.test", "port": port, "expected_values": ["192.0.2.1"]}),
    )
    .await;
    assert!(o.available, "{o:?}");
    assert_eq!(s(&o, "answer"), "192.0.2.1 192.0.2.7", "sorted");
    assert_eq!(i(&o, "answer_count"), 2);
    assert_eq!(i(&o, "ttl"), 60, "the smallest TTL");
    assert_eq!(s(&o, "rcode"), "NOERROR");
    assert!(d(&o, "rtt") > 0.0);
    assert!(!o.status.contains("missing"), "{}", o.status);
    let o = poll(
        &ctx,
        json!({"query": "v6.test", "record_type": "AAAA", "port": port}),
    )
    .await;
    assert_eq!(s(&o, "answer"), "2001:db8::1");
    let o = poll(
        &ctx,
        json!({"query": "txt.test", "record_type": "TXT", "port": port,
               "expected_values": ["v=spf1 ~all"]}),
    )
    .await;
    assert_eq!(s(&o, "answer"), "v=spf1 -all");
    assert!(o.available);
    assert!(
        o.status.contains("expected values missing: v=spf1 ~all"),
        "{}",
        o.status
    );
}

#[tokio::test]
async fn the_probe_gives_up_after_stray_datagrams_max_strays() {
    let server = dns_server().await;
    let o = poll(
        &ctx(server),
        json!({"query": "stray.test", "port": server.port()}),
    )
    .await;
    assert!(!o.available);
    assert_eq!(
        o.status,
        format!("no answer in {STRAY_DATAGRAMS_MAX} datagrams")
    );
}

#[tokio::test]
async fn nxdomain_is_an_answer() {
    let server = dns_server().await;
    let o = poll(
        &ctx(server),
        json!({"query": "nope.test", "port": server.port()}),
    )
    .await;
    assert!(o.available, "{o:?}");
    assert_eq!(s(&o, "rcode"), "NXDOMAIN");
    assert_eq!(i(&o, "answer_count"), 0);
    assert_eq!(s(&o, "answer"), "");
    assert!(!o.metrics.contains_key("ttl"));
}

#[tokio::test]
async fn a_truncated_answer_is_asked_again_over_tcp() {
    let server = dns_server().await;
    let details = json!({"query": "big.test", "record_type": "TXT", "port": server.port()});
    let o = poll(&ctx(server), details).await;
    assert_eq!(i(&o, "answer_count"), 70, "{o:?}");
    assert!(s(&o, "answer").starts_with("record number 00 with"));
    let shown = s(&o, "answer").matches("record number").count();
    assert_eq!(
        shown, ANSWERS_MAX,
        "answer shows at most ANSWERS_MAX records"
    );
}

#[tokio::test]
async fn a_named_server_passes_the_address_policy() {
    let server = dns_server().await;
    let ctx = ctx(server);
    let port = server.port();
    let o = poll(
        &ctx,
        json!({"query": "a.test", "server": "127.0.0.1", "port": port}),
    )
    .await;
    assert_eq!(i(&o, "answer_count"), 2, "{o:?}");
    let o = poll(
        &ctx,
        json!({"query": "a.test", "server": "169.254.169.253"}),
    )
    .await;
    assert_eq!(
        o.status,
        "target refused by policy: 169.254.169.253 is link-local"
    );
    let none = ProbeContext::with_parts(
        loopback_policy(),
        Arc::new(crate::poller::dial::SystemResolver),
        IcmpMode::None,
        None,
    );
    let o = poll(&none, json!({"query": "a.test"})).await;
    assert!(o.status.starts_with("no dns server"), "{}", o.status);
}

#[test]
fn rcodes_have_their_mnemonics() {
    assert_eq!(rcode_name(ResponseCode::NoError), "NOERROR");
    assert_eq!(rcode_name(ResponseCode::NXDomain), "NXDOMAIN");
    assert_eq!(rcode_name(ResponseCode::ServFail), "SERVFAIL");
    assert_eq!(rcode_name(ResponseCode::Refused), "REFUSED");
}
