//! `remote.dns`: one query to one server, with no resolver and no cache in between, so the
//! answer, its TTLs and the response code are what the server said (NXDOMAIN is an answer).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::ProbeContext;
use crate::poller::dial::PollClock;
use crate::poller::observation::{Metric, ProbeOutcome};
use crate::spec::DnsDetails;

/// Largest UDP answer accepted (and advertised by EDNS), bytes.
pub const UDP_MESSAGE_MAX: u16 = 4096;
/// Most datagrams that are not the answer (wrong id, garbage) read before giving up.
pub const STRAY_DATAGRAMS_MAX: usize = 16;
/// Most answers reported in `answer`; `answer_count` still counts them all.
pub const ANSWERS_MAX: usize = 64;

/// Polls a DNS check once.
pub async fn probe(ctx: &ProbeContext, d: &DnsDetails) -> ProbeOutcome {
    let clock = PollClock::start();
    let server = match server(ctx, d).await {
        Ok(s) => s,
        Err(status) => return ProbeOutcome::unavailable(status),
    };
    let (query, rtype) = match query(d) {
        Ok(q) => q,
        Err(status) => return ProbeOutcome::unavailable(status),
    };
    let answer = match exchange(server, &query).await {
        Ok(a) => a,
        Err(status) => return ProbeOutcome::unavailable(status),
    };
    let rtt = clock.ms();
    outcome(d, &answer, rtype, rtt)
}

/// The server: the check's (resolved and checked by the address policy, as any target) or the
/// node's own resolver, which is the operator's and not checked.
async fn server(ctx: &ProbeContext, d: &DnsDetails) -> Result<SocketAddr, String> {
    match &d.server {
        Some(name) => {
            let addrs = ctx.dialer.resolve(name).await.map_err(|e| e.to_string())?;
            Ok(SocketAddr::new(addrs[0], d.port))
        }
        None => ctx
            .dns_server
            .map(|s| SocketAddr::new(s.ip(), d.port))
            .ok_or_else(|| "no dns server: the check names none and the node has none".into()),
    }
}

fn query(d: &DnsDetails) -> Result<(Message, RecordType), String> {
    // Fully qualified: the query is asked as given, with no search domains.
    let fqdn = format!("{}.", d.query().trim_end_matches('.'));
    let name = Name::from_ascii(fqdn).map_err(|e| format!("bad query name: {e}"))?;
    let rtype = RecordType::from_str(&d.record_type)
        .map_err(|_| format!("bad record type {:?}", d.record_type))?;
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name, rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_MESSAGE_MAX);
    m.set_edns(edns);
    Ok((m, rtype))
}

/// Sends `query` over UDP; a truncated answer is asked again over TCP.
async fn exchange(server: SocketAddr, query: &Message) -> Result<Message, String> {
    let bytes = query
        .to_vec()
        .map_err(|e| format!("encoding the query: {e}"))?;
    let local: IpAddr = match server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let sock = UdpSocket::bind((local, 0))
        .await
        .map_err(|e| format!("udp: {e}"))?;
    sock.connect(server)
        .await
        .map_err(|e| format!("udp: {e}"))?;
    sock.send(&bytes)
        .await
        .map_err(|e| format!("udp send: {e}"))?;
    let mut buf = vec![0u8; usize::from(UDP_MESSAGE_MAX)];
    for _ in 0..STRAY_DATAGRAMS_MAX {
        let n = match sock.recv(&mut buf).await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err("connection refused".into());
            }
            Err(e) => return Err(format!("udp receive: {e}")),
        };
        let Some(answer) = answer_to(query, &buf[..n]) else {
            continue;
        };
        if answer.metadata.truncation {
            return exchange_tcp(server, &bytes, query).await;
        }
        return Ok(answer);
    }
    Err(format!("no answer in {STRAY_DATAGRAMS_MAX} datagrams"))
}

/// The answer to `query` in `bytes`, if it is one.
fn answer_to(query: &Message, bytes: &[u8]) -> Option<Message> {
    let m = Message::from_vec(bytes).ok()?;
    let ours = m.metadata.id == query.metadata.id
        && m.metadata.message_type == MessageType::Response
        && m.queries.len() == query.queries.len()
        && m.queries.iter().zip(&query.queries).all(|(a, q)| {
            a.query_type() == q.query_type()
                && a.name()
                    .to_ascii()
                    .eq_ignore_ascii_case(&q.name().to_ascii())
        });
    ours.then_some(m)
}

async fn exchange_tcp(
    server: SocketAddr,
    bytes: &[u8],
    query: &Message,
) -> Result<Message, String> {
    let mut s = TcpStream::connect(server)
        .await
        .map_err(|e| format!("tcp: {e}"))?;
    let len = u16::try_from(bytes.len()).map_err(|_| "query too long".to_string())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    s.write_all(&framed)
        .await
        .map_err(|e| format!("tcp send: {e}"))?;
    let len = s
        .read_u16()
        .await
        .map_err(|e| format!("tcp receive: {e}"))?;
    // A u16 length bounds the answer at 64 KiB.
    let mut buf = vec![0u8; usize::from(len)];
    s.read_exact(&mut buf)
        .await
        .map_err(|e| format!("tcp receive: {e}"))?;
    answer_to(query, &buf).ok_or_else(|| "tcp: not an answer to the query".into())
}

/// The mnemonic of a response code, e.g. NXDOMAIN.
pub fn rcode_name(code: ResponseCode) -> String {
    let n = u16::from(code);
    let name = match n {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADVERS",
        _ => return format!("RCODE{n}"),
    };
    name.to_string()
}

fn outcome(d: &DnsDetails, answer: &Message, rtype: RecordType, rtt: f64) -> ProbeOutcome {
    let records: Vec<_> = answer
        .answers
        .iter()
        .filter(|r| r.record_type() == rtype)
        .collect();
    let mut values: Vec<String> = records.iter().map(|r| r.data.to_string()).collect();
    values.sort();
    let rcode = rcode_name(answer.metadata.response_code);
    let mut m = BTreeMap::new();
    m.insert("rtt".into(), Metric::ms(rtt));
    m.insert("rcode".into(), Metric::string(&rcode));
    m.insert("answer_count".into(), Metric::int(values.len() as i64));
    let shown: Vec<&str> = values
        .iter()
        .take(ANSWERS_MAX)
        .map(String::as_str)
        .collect();
    m.insert("answer".into(), Metric::string(shown.join(" ")));
    if let Some(ttl) = records.iter().map(|r| r.ttl).min() {
        m.insert("ttl".into(), Metric::int(i64::from(ttl)).with_unit("s"));
    }
    let mut status = format!(
        "rcode={rcode},rtt={:.3}s,answers={}",
        rtt / 1000.0,
        values.len()
    );
    let missing: Vec<&str> = d
        .expected_values
        .iter()
        .filter(|e| !values.iter().any(|v| same_value(v, e)))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        status.push_str(&format!(",expected values missing: {}", missing.join(" ")));
    }
    ProbeOutcome {
        available: true,
        status,
        metrics: m,
    }
}

/// Whether an answer equals an expected value, ignoring case and a trailing dot.
fn same_value(answer: &str, expected: &str) -> bool {
    answer
        .trim_end_matches('.')
        .eq_ignore_ascii_case(expected.trim_end_matches('.'))
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
