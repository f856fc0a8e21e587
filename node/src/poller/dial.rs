//! The one dial path of every probe: resolve the host once, check every address with the
//! address policy, connect to exactly a checked address, then (optionally) TLS, each phase timed
//! from the start of the poll.
//!
//! Architecture invariant: every TCP connection to a tenant-given target is made by `Dialer`,
//! and the datagram probes (DNS to a named server, ping) send only to an address
//! `Dialer::resolve` returned, so neither a redirect, an IP literal nor a DNS answer that
//! changes between two lookups (rebinding) can reach an address the policy refuses. No proxy from the environment is
//! consulted and no resolver cache is kept between polls.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::policy::{AddressPolicy, Refused};
use super::tls::{TlsSetup, version_name};

/// Most resolved addresses tried, in order, before a dial gives up.
pub const DIAL_ADDRS_MAX: usize = 4;
/// Most addresses one lookup may return; the rest are ignored (and not checked or dialled).
pub const RESOLVED_ADDRS_MAX: usize = 32;

/// Resolves a host name to addresses. Injectable so tests can answer what they like; the
/// node uses `SystemResolver`. An implementation must not cache between calls.
pub trait Resolve: Send + Sync + 'static {
    /// The addresses of `host` (a name, never an IP literal), or why there are none.
    fn lookup<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<Vec<IpAddr>, String>>;
}

/// The system resolver (getaddrinfo through tokio), asked afresh on every poll.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn lookup<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<Vec<IpAddr>, String>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, 0))
                .await
                .map_err(|e| e.to_string())?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// The start of one poll; every phase is reported as milliseconds since it.
#[derive(Debug, Clone, Copy)]
pub struct PollClock(Instant);

impl PollClock {
    pub fn start() -> PollClock {
        PollClock(Instant::now())
    }

    /// Milliseconds since the poll started.
    pub fn ms(&self) -> f64 {
        self.0.elapsed().as_secs_f64() * 1000.0
    }
}

/// Why a dial did not produce a connection; its text is the observation's status.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("resolve failed: {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("resolve failed: {0}: no address")]
    NoAddress(String),
    #[error("{0}")]
    Refused(Refused),
    #[error("connection refused")]
    ConnectionRefused,
    #[error("connection reset")]
    ConnectionReset,
    #[error("connect failed: {0}")]
    Connect(io::Error),
    #[error("tls handshake failed: {0}")]
    Tls(String),
}

impl DialError {
    fn from_io(e: io::Error) -> DialError {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => DialError::ConnectionRefused,
            io::ErrorKind::ConnectionReset => DialError::ConnectionReset,
            _ => DialError::Connect(e),
        }
    }
}

/// How to speak TLS after connecting.
#[derive(Debug, Clone, Copy)]
pub struct TlsOptions<'a> {
    /// The name sent as SNI and checked against the certificate.
    pub server_name: &'a str,
    /// Verify the chain against the root store (the result lands in `cert_error`).
    pub verify: bool,
    /// Offer HTTP/1.1 by ALPN.
    pub http: bool,
}

/// What the TLS handshake showed.
#[derive(Debug, Clone)]
pub struct TlsFacts {
    /// E.g. "TLS 1.3".
    pub version: String,
    /// The chain as the server sent it, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Why the chain does not verify; empty when it does or when verification was not asked.
    pub cert_error: String,
}

/// A connected stream, plain or TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A connection made by the dial path, with the phase times (ms since poll start).
pub struct Dialed {
    pub conn: Conn,
    /// The exact address connected to (one the policy accepted).
    pub peer: SocketAddr,
    pub tt_resolve: f64,
    pub tt_connect: f64,
    pub tt_tls: Option<f64>,
    pub tls: Option<TlsFacts>,
}

/// The dial path: policy, resolver and TLS settings, built once per node.
#[derive(Clone)]
pub struct Dialer {
    policy: AddressPolicy,
    resolver: Arc<dyn Resolve>,
    tls: Arc<TlsSetup>,
}

impl Dialer {
    pub fn new(policy: AddressPolicy, resolver: Arc<dyn Resolve>) -> Dialer {
        Dialer {
            policy,
            resolver,
            tls: Arc::new(TlsSetup::new()),
        }
    }

    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Resolves `host` once (an IP literal, bracketed or not, is not resolved) and checks every
    /// address; one refused address refuses the whole target.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, DialError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self
                .resolver
                .lookup(bare)
                .await
                .map_err(|reason| DialError::Resolve {
                    host: bare.to_string(),
                    reason,
                })?,
        };
        let addrs: Vec<IpAddr> = addrs.into_iter().take(RESOLVED_ADDRS_MAX).collect();
        if addrs.is_empty() {
            return Err(DialError::NoAddress(bare.to_string()));
        }
        for a in &addrs {
            self.policy.check(*a).map_err(DialError::Refused)?;
        }
        Ok(addrs)
    }

    /// Connects to the first of `addrs` (all checked by `resolve`) that answers, trying at most
    /// `DIAL_ADDRS_MAX` of them.
    pub async fn connect(
        &self,
        addrs: &[IpAddr],
        port: u16,
    ) -> Result<(TcpStream, SocketAddr), DialError> {
        let mut last = DialError::NoAddress(String::new());
        for ip in addrs.iter().take(DIAL_ADDRS_MAX) {
            // The policy is asked again here, at the one place that connects, so a caller
            // cannot hand in an address that skipped `resolve`.
            self.policy.check(*ip).map_err(DialError::Refused)?;
            let addr = SocketAddr::new(*ip, port);
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    // Probes send small requests and wait for answers: no Nagle delay.
                    let _ = s.set_nodelay(true);
                    return Ok((s, addr));
                }
                Err(e) => last = DialError::from_io(e),
            }
        }
        Err(last)
    }

    /// The whole dial: resolve, check, connect, and TLS when `tls` is given.
    pub async fn dial(
        &self,
        clock: PollClock,
        host: &str,
        port: u16,
        tls: Option<TlsOptions<'_>>,
    ) -> Result<Dialed, DialError> {
        let addrs = self.resolve(host).await?;
        let tt_resolve = clock.ms();
        let (tcp, peer) = self.connect(&addrs, port).await?;
        let tt_connect = clock.ms();
        let Some(opts) = tls else {
            return Ok(Dialed {
                conn: Conn::Plain(tcp),
                peer,
                tt_resolve,
                tt_connect,
                tt_tls: None,
                tls: None,
            });
        };
        let (stream, facts) = self.handshake(tcp, opts).await?;
        Ok(Dialed {
            conn: Conn::Tls(Box::new(stream)),
            peer,
            tt_resolve,
            tt_connect,
            tt_tls: Some(clock.ms()),
            tls: Some(facts),
        })
    }

    /// TLS over a connected stream: SNI carries the name, any chain is accepted for the
    /// handshake, then the chain is verified apart so a bad chain is a metric.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        opts: TlsOptions<'_>,
    ) -> Result<(TlsStream<TcpStream>, TlsFacts), DialError> {
        let bare = opts
            .server_name
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(bare.to_string())
            .map_err(|_| DialError::Tls(format!("{bare:?} is not a valid server name")))?;
        let stream = self
            .tls
            .connector(opts.http)
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| DialError::Tls(e.to_string()))?;
        let (_, conn) = stream.get_ref();
        let chain: Vec<CertificateDer<'static>> = conn
            .peer_certificates()
            .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
            .unwrap_or_default();
        let version = version_name(conn.protocol_version());
        let cert_error = if opts.verify {
            self.tls.verify_chain(&chain, &name)
        } else {
            String::new()
        };
        Ok((
            stream,
            TlsFacts {
                version,
                chain,
                cert_error,
            },
        ))
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;
    use crate::poller::probes::testkit::{ScriptedResolver, loopback_policy};

    fn dialer(answers: &[&[&str]]) -> Dialer {
        Dialer::new(loopback_policy(), ScriptedResolver::new(answers))
    }

    #[tokio::test]
    async fn at_most_dial_addrs_max_addresses_are_tried() {
        // Loopback addresses 127.0.0.11.. have nothing listening but the last.
        let addrs: Vec<String> = (0..=DIAL_ADDRS_MAX)
            .map(|i| format!("127.0.0.{}", 11 + i))
            .collect();
        let last = addrs[DIAL_ADDRS_MAX].clone();
        let l = TcpListener::bind((last.as_str(), 0)).await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        let names: Vec<&str> = addrs.iter().map(String::as_str).collect();
        let d = dialer(&[&names]);
        let ips = d.resolve("many.test").await.expect("allowed");
        let err = d
            .connect(&ips, port)
            .await
            .expect_err("the listening one is not tried");
        assert!(matches!(err, DialError::ConnectionRefused), "{err}");
        let (_, peer) = d
            .connect(&ips[1..], port)
            .await
            .expect("now within the limit");
        assert_eq!(peer.ip().to_string(), last);
    }

    #[tokio::test]
    async fn at_most_resolved_addrs_max_answers_are_checked_and_kept() {
        let mut answers: Vec<String> = (0..RESOLVED_ADDRS_MAX)
            .map(|i| format!("127.0.1.{i}"))
            .collect();
        answers.push("10.0.0.1".into());
        let names: Vec<&str> = answers.iter().map(String::as_str).collect();
        let ips = dialer(&[&names])
            .resolve("big.test")
            .await
            .expect("the private one is past the cap");
        assert_eq!(ips.len(), RESOLVED_ADDRS_MAX);
        let names: Vec<&str> = answers[1..].iter().map(String::as_str).collect();
        let err = dialer(&[&names])
            .resolve("big.test")
            .await
            .expect_err("now within");
        assert_eq!(
            err.to_string(),
            "target refused by policy: 10.0.0.1 is private (RFC 1918)"
        );
    }

    #[tokio::test]
    async fn connect_checks_the_policy_itself_and_resolve_failures_say_so() {
        let d = dialer(&[&[]]);
        let err = d
            .connect(&["169.254.169.254".parse().expect("ip")], 80)
            .await;
        assert!(matches!(err, Err(DialError::Refused(_))));
        let err = d.resolve("empty.test").await.expect_err("no address");
        assert_eq!(err.to_string(), "resolve failed: empty.test: no address");
        let err = d.resolve("[fe80::1]").await.expect_err("literal, refused");
        assert_eq!(
            err.to_string(),
            "target refused by policy: fe80::1 is link-local"
        );
    }
}
