//! `remote.ping`: ICMP echoes to the target's first checked address, over an unprivileged
//! datagram ("ping") socket, or a raw socket when the process may open one.
//!
//! The mode is detected once at start (`IcmpMode::detect`). Replies are matched by a random
//! token in the payload and the sequence number, so concurrent polls (which, on a raw socket,
//! all see every ICMP packet of the host) never take each other's replies.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::ProbeContext;
use crate::poller::observation::{Metric, ProbeOutcome};
use crate::spec::PingDetails;

/// How long one echo waits for its reply.
pub const PING_WAIT: Duration = Duration::from_secs(1);
/// Least time between two echoes of one poll.
pub const PING_INTERVAL: Duration = Duration::from_millis(100);
/// Most packets read while waiting for one reply (a raw socket sees all ICMP of the host).
pub const STRAY_PACKETS_MAX: usize = 256;
/// Payload bytes of an echo: an 8-byte token and the 8-byte sequence number.
const PAYLOAD_LEN: usize = 16;

/// How this node sends ICMP echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpMode {
    /// Unprivileged ping sockets (`net.ipv4.ping_group_range` includes the process's group).
    Datagram,
    /// Raw sockets (root or CAP_NET_RAW).
    Raw,
    /// Neither: every ping check is unavailable.
    None,
}

impl IcmpMode {
    /// Tries a datagram ICMP socket, then a raw one.
    pub fn detect() -> IcmpMode {
        let try_open = |ty| Socket::new(Domain::IPV4, ty, Some(Protocol::ICMPV4)).is_ok();
        if try_open(Type::DGRAM) {
            IcmpMode::Datagram
        } else if try_open(Type::RAW) {
            IcmpMode::Raw
        } else {
            IcmpMode::None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IcmpMode::Datagram => "datagram",
            IcmpMode::Raw => "raw",
            IcmpMode::None => "none",
        }
    }
}

/// The status of every ping check on a node that cannot send ICMP.
pub const NOT_PERMITTED: &str = "icmp not permitted on this node";

/// Polls a ping check once.
pub async fn probe(ctx: &ProbeContext, d: &PingDetails, host: &str) -> ProbeOutcome {
    let ty = match ctx.icmp {
        IcmpMode::Datagram => Type::DGRAM,
        IcmpMode::Raw => Type::RAW,
        IcmpMode::None => return ProbeOutcome::unavailable(NOT_PERMITTED),
    };
    let ip = match ctx.dialer.resolve(host).await {
        Ok(addrs) => addrs[0],
        Err(e) => return ProbeOutcome::unavailable(e.to_string()),
    };
    let sock = match open(ip, ty) {
        Ok(s) => s,
        Err(e) => return ProbeOutcome::unavailable(format!("icmp socket: {e}")),
    };
    let token: u64 = rand::random();
    let ident: u16 = rand::random();
    let mut rtts = Vec::new();
    for seq in 0..d.count {
        let started = Instant::now();
        let packet = echo_request(ip.is_ipv6(), ident, seq as u16, token);
        if let Err(e) = sock.send_to(&packet, SocketAddr::new(ip, 0)).await {
            return ProbeOutcome::unavailable(format!("icmp send: {e}"));
        }
        let wait = tokio::time::timeout(PING_WAIT, reply(&sock, ip, seq as u16, token));
        if let Ok(true) = wait.await {
            rtts.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        if seq + 1 < d.count {
            tokio::time::sleep(PING_INTERVAL.saturating_sub(started.elapsed())).await;
        }
    }
    outcome(d.count, &rtts)
}

fn open(ip: IpAddr, ty: Type) -> std::io::Result<UdpSocket> {
    let (domain, proto) = match ip {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let s = Socket::new(domain, ty, Some(proto))?;
    s.set_nonblocking(true)?;
    // Only sendto/recvfrom are used, which a UDP socket handle does on any datagram socket.
    UdpSocket::from_std(std::net::UdpSocket::from(s))
}

/// An echo request: type, code, checksum, identifier, sequence, then the payload.
fn echo_request(v6: bool, ident: u16, seq: u16, token: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + PAYLOAD_LEN);
    p.extend_from_slice(&[if v6 { 128 } else { 8 }, 0, 0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&token.to_be_bytes());
    p.extend_from_slice(&u64::from(seq).to_be_bytes());
    // ICMPv6 checksums cover a pseudo-header: the kernel fills them in.
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The internet checksum (RFC 1071).
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Waits for the reply to echo `seq` with `token` from `ip`; false after `STRAY_PACKETS_MAX`
/// other packets.
async fn reply(sock: &UdpSocket, ip: IpAddr, seq: u16, token: u64) -> bool {
    let mut buf = [0u8; 1500];
    for _ in 0..STRAY_PACKETS_MAX {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            return false;
        };
        if from.ip() == ip && is_reply(&buf[..n], ip.is_ipv6(), seq, token) {
            return true;
        }
    }
    false
}

/// Whether `packet` (with the IPv4 header a raw IPv4 socket adds, or without) is the echo
/// reply to `seq` with `token`. The identifier is not compared: ping sockets rewrite it.
pub fn is_reply(packet: &[u8], v6: bool, seq: u16, token: u64) -> bool {
    let icmp = match packet.first() {
        // An IPv4 header starts with version 4; an ICMP message with its type (0 or 129).
        Some(b) if !v6 && b >> 4 == 4 => &packet[(usize::from(b & 0x0f) * 4).min(packet.len())..],
        _ => packet,
    };
    if icmp.len() < 8 + PAYLOAD_LEN {
        return false;
    }
    let reply_type = if v6 { 129 } else { 0 };
    icmp[0] == reply_type && icmp[6..8] == seq.to_be_bytes() && icmp[8..16] == token.to_be_bytes()
}

fn outcome(count: u32, rtts: &[f64]) -> ProbeOutcome {
    let avail = 100.0 * rtts.len() as f64 / f64::from(count.max(1));
    let mut m = BTreeMap::new();
    m.insert(
        "available".into(),
        Metric::double(avail).with_unit("percent"),
    );
    m.insert("count".into(), Metric::int(i64::from(count)));
    let mut status = format!("cnt={count},avail={avail:.0}");
    if !rtts.is_empty() {
        let min = rtts.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rtts.iter().copied().fold(0.0, f64::max);
        let avg = rtts.iter().sum::<f64>() / rtts.len() as f64;
        m.insert("minimum".into(), Metric::ms(min));
        m.insert("average".into(), Metric::ms(avg));
        m.insert("maximum".into(), Metric::ms(max));
        status.push_str(&format!(",min={min:.3}ms,avg={avg:.3}ms,max={max:.3}ms"));
    }
    ProbeOutcome {
        available: true,
        status,
        metrics: m,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::poller::probes::run_within;
    use crate::poller::probes::testkit::{ScriptedResolver, d, i, loopback_policy};
    use crate::spec::Details;

    #[test]
    fn checksums_and_replies_are_recognised() {
        // RFC 1071's example words sum to 0xddf2, so the checksum is its complement.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        let req = echo_request(false, 7, 3, 42);
        assert_eq!(checksum(&req), 0, "a packet with its checksum sums to zero");
        let mut rep = req.clone();
        rep[0] = 0;
        assert!(is_reply(&rep, false, 3, 42));
        assert!(!is_reply(&rep, false, 4, 42), "another sequence");
        assert!(!is_reply(&rep, false, 3, 43), "another poll's token");
        assert!(!is_reply(&req, false, 3, 42), "our own request");
        let mut with_ip = vec![0x45u8; 1];
        with_ip.extend_from_slice(&[0; 19]);
        with_ip.extend_from_slice(&rep);
        assert!(
            is_reply(&with_ip, false, 3, 42),
            "raw IPv4 sockets add the IP header"
        );
        assert!(
            !is_reply(&rep[..10], false, 3, 42),
            "short packets are ignored"
        );
    }

    #[test]
    fn no_replies_is_an_answer_of_zero_percent() {
        let o = outcome(5, &[]);
        assert!(o.available);
        assert_eq!(o.status, "cnt=5,avail=0");
        let o = outcome(4, &[1.0, 3.0]);
        assert_eq!(
            o.status,
            "cnt=4,avail=50,min=1.000ms,avg=2.000ms,max=3.000ms"
        );
    }

    #[tokio::test]
    async fn ping_loopback_in_whichever_mode_works() {
        let mode = IcmpMode::detect();
        let resolver = ScriptedResolver::new(&[&["127.0.0.1"]]);
        let ctx = ProbeContext::with_parts(loopback_policy(), resolver, mode, None);
        let details = Details::parse("remote.ping", json!({"count": 3})).expect("valid");
        let o = run_within(&ctx, &details, Some("127.0.0.1"), Duration::from_secs(10)).await;
        if mode == IcmpMode::None {
            eprintln!("!!!! ICMP NOT PERMITTED HERE: the ping probe could not be exercised !!!!");
            assert!(!o.available);
            assert_eq!(o.status, NOT_PERMITTED);
            return;
        }
        eprintln!("ping test uses icmp mode {}", mode.as_str());
        assert!(o.available, "{o:?}");
        assert_eq!(i(&o, "count"), 3);
        assert_eq!(d(&o, "available"), 100.0, "{o:?}");
        assert!(d(&o, "minimum") <= d(&o, "average"));
        assert!(d(&o, "average") <= d(&o, "maximum"));
        let o = run_within(&ctx, &details, Some("10.1.1.1"), Duration::from_secs(10)).await;
        assert!(o.status.contains("10.1.1.1 is private"), "{}", o.status);
        let none = ProbeContext::with_parts(
            loopback_policy(),
            ScriptedResolver::new(&[&["127.0.0.1"]]),
            IcmpMode::None,
            None,
        );
        let o = run_within(&none, &details, Some("127.0.0.1"), Duration::from_secs(10)).await;
        assert_eq!((o.available, o.status.as_str()), (false, NOT_PERMITTED));
    }
}
